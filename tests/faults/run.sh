#!/bin/sh
# run.sh [PYTEST-ARGS...]: the fault-injection suite (automake TESTS entry):
# pytest over tests/faults against the real jobd in $JOBD_BUILDDIR and a
# real redis-server with AOF.  Exit 0 pass, 1 fail, 77 only when
# redis-server or pytest is absent.
# Scale: FAULTS_JOBS (3000), FAULTS_SECONDS (60), FAULTS_REDIS_DOWN (6),
# FAULTS_REDIS_DOWN_CHAOS (2), FAULTS_DRAIN (150), FAULTS_SEED; see
# docs/reliability.md.

PY_MODULES="pytest redis msgpack"
. "$(dirname "$0")/../pytest-env.sh"
run_suite faults tests/faults "$@"
