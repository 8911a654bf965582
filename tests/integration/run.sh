#!/bin/sh
# run.sh: the integration tests (automake TESTS entry).  Runs pytest over
# tests/integration, tests/python and tests/app (those that exist) against
# the real jobd in $JOBD_BUILDDIR and a real redis-server.
# Exit 77 (skip) only when redis-server or pytest is genuinely absent.

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
if ! "$PYTHON3" -c 'import pytest' 2>/dev/null; then
	echo "run.sh: SKIP: no pytest for $PYTHON3"
	exit 77
fi
if [ ! -x "$JOBD_BUILDDIR/jobd" ]; then
	echo "run.sh: FAIL: $JOBD_BUILDDIR/jobd is not built"
	exit 1
fi

cd "$JOBD_SRCDIR" || exit 1
dirs=
for d in tests/integration tests/python tests/app; do
	[ -d "$d" ] && dirs="$dirs $d"
done

# Python must not write bytecode into the source tree (make distcheck has
# it read-only).
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
# shellcheck disable=SC2086
"$PYTHON3" -m pytest -q -p no:cacheprovider -rfE $dirs "$@"
rc=$?
# pytest: 0 passed, 1 failures, 2 interrupted, 3 internal error, 4 usage,
# 5 no tests collected.  Everything but 0 fails the suite (never 77).
if [ "$rc" -eq 77 ]; then rc=1; fi
exit $rc
