# pytest-env.sh: what the pytest-based automake tests (tests/*/run.sh) share.
# Source it after setting PY_MODULES (the Python modules the suite needs):
# it sets the defaults that `make check` passes in TESTS_ENVIRONMENT, skips
# (77) only when redis-server or a module is genuinely absent, fails when
# jobd is not built, and enters the source tree.

: "${JOBD_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${JOBD_BUILDDIR:=$JOBD_SRCDIR/_build}"
: "${PYTHON3:=/usr/bin/python3}"
: "${REDIS_SERVER:=$(command -v redis-server || echo /usr/bin/redis-server)}"
[ -n "$PYTHON3" ] || PYTHON3=/usr/bin/python3
[ -n "$REDIS_SERVER" ] || REDIS_SERVER=/usr/bin/redis-server
export JOBD_SRCDIR JOBD_BUILDDIR PYTHON3 REDIS_SERVER

if [ ! -x "$REDIS_SERVER" ]; then
	echo "$0: SKIP: no redis-server ($REDIS_SERVER)"
	exit 77
fi
for m in ${PY_MODULES:-pytest}; do
	if ! "$PYTHON3" -c "import $m" 2>/dev/null; then
		echo "$0: SKIP: no $m for $PYTHON3"
		exit 77
	fi
done
if [ ! -x "$JOBD_BUILDDIR/jobd" ]; then
	echo "$0: FAIL: $JOBD_BUILDDIR/jobd is not built"
	exit 1
fi
cd "$JOBD_SRCDIR" || exit 1

# Python must not write bytecode into the source tree (make distcheck has
# it read-only).
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
