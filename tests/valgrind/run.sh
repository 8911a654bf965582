#!/bin/sh
# run.sh: jobd's long-running paths under valgrind (make check-valgrind):
# run.py, started by tests/pyfixtures.py, after checking what it needs.
#
#   VALGRIND_JOBS=N (default 300): jobs per kind.

: "${JOBD_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${JOBD_BUILDDIR:=$JOBD_SRCDIR/_build}"
: "${REDIS_SERVER:=$(command -v redis-server || echo /usr/bin/redis-server)}"
: "${PYTHON3:=/usr/bin/python3}"
[ -n "$PYTHON3" ] || PYTHON3=/usr/bin/python3
export JOBD_SRCDIR JOBD_BUILDDIR REDIS_SERVER PYTHON3

command -v valgrind >/dev/null || { echo "SKIP: no valgrind"; exit 77; }
[ -x "$REDIS_SERVER" ] || { echo "SKIP: no redis-server"; exit 77; }
"$PYTHON3" -c 'import pytest' 2>/dev/null ||
	{ echo "SKIP: no pytest for $PYTHON3 (tests/pyfixtures.py)"; exit 77; }
JOBD=$JOBD_BUILDDIR/jobd
[ -x "$JOBD" ] || { echo "FAIL: $JOBD is not built"; exit 1; }
if ldd "$JOBD" | grep -q libasan; then
	echo "SKIP: $JOBD is built with ASan; valgrind needs a plain build"
	exit 77
fi
PYTHONDONTWRITEBYTECODE=1 exec "$PYTHON3" "$JOBD_SRCDIR/tests/valgrind/run.py"
