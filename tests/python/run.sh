#!/bin/sh
# run.sh [PYTEST-ARGS...]: the Python binding's tests (automake TESTS
# entry): pytest over tests/python, the binding loading the built
# libjobclient, against a real jobd and redis-server.  In a sanitizer
# build the ASan runtime is preloaded into Python.

PY_MODULES="pytest"
PRELOAD_ASAN=yes
. "$(dirname "$0")/../pytest-env.sh"
run_suite "python binding" tests/python "$@"
