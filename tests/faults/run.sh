#!/bin/sh
# run.sh: the fault-injection suite (automake TESTS entry): pytest over
# tests/faults against the real jobd in $JOBD_BUILDDIR and a real
# redis-server with AOF.  Exit 0 pass, 1 fail, 77 only when redis-server or
# pytest is absent.
# Scale: FAULTS_JOBS (3000), FAULTS_SECONDS (60), FAULTS_REDIS_DOWN (6),
# FAULTS_REDIS_DOWN_CHAOS (2), FAULTS_DRAIN (150), FAULTS_SEED; see
# docs/reliability.md.

: "${JOBD_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${JOBD_BUILDDIR:=$JOBD_SRCDIR/_build}"
: "${PYTHON3:=/usr/bin/python3}"
: "${REDIS_SERVER:=$(command -v redis-server || echo /usr/bin/redis-server)}"
[ -n "$PYTHON3" ] || PYTHON3=/usr/bin/python3
[ -n "$REDIS_SERVER" ] || REDIS_SERVER=/usr/bin/redis-server
export JOBD_SRCDIR JOBD_BUILDDIR PYTHON3 REDIS_SERVER

if [ ! -x "$REDIS_SERVER" ]; then
	echo "run.sh: SKIP: no redis-server ($REDIS_SERVER)"
	exit 77
fi
if ! "$PYTHON3" -c 'import pytest, redis' 2>/dev/null; then
	echo "run.sh: SKIP: no pytest or redis-py for $PYTHON3"
	exit 77
fi
if [ ! -x "$JOBD_BUILDDIR/jobd" ]; then
	echo "run.sh: FAIL: $JOBD_BUILDDIR/jobd is not built"
	exit 1
fi
cd "$JOBD_SRCDIR" || exit 1
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
"$PYTHON3" -m pytest -q -p no:cacheprovider -rfE tests/faults "$@"
rc=$?
[ "$rc" -eq 0 ] || rc=1
exit $rc
