#!/bin/sh
# run.sh [PYTEST-ARGS...]: the story app's tests (automake TESTS entry):
# pytest over tests/app, the app with and without a real jobd and
# redis-server.  In a sanitizer build the ASan runtime is preloaded into
# Python (the app loads libjobclient through the binding).

PY_MODULES="pytest"
PRELOAD_ASAN=yes
. "$(dirname "$0")/../pytest-env.sh"
run_suite app tests/app "$@"
