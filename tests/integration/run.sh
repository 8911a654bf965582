#!/bin/sh
# run.sh [PYTEST-ARGS...]: the integration tests (automake TESTS entry):
# pytest over tests/integration against the real jobd in $JOBD_BUILDDIR and
# a real redis-server.  Exit 77 (skip) only when redis-server or pytest is
# genuinely absent.  The other Python suites have their own run.sh
# (tests/python, tests/app, tests/faults).

PY_MODULES="pytest msgpack"
. "$(dirname "$0")/../pytest-env.sh"
run_suite integration tests/integration "$@"
