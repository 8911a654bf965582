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

# asan_runtime: the ASan runtime the build's compiler links, for
# LD_PRELOAD (a Python that loads the instrumented libjobclient.so through
# ctypes needs it loaded first).
asan_runtime() {
	cc=$(sed -n 's/^CC = //p' "$JOBD_BUILDDIR/Makefile" | head -n1)
	cc=${cc%% *}
	for lib in libasan.so libclang_rt.asan-x86_64.so; do
		p=$(${cc:-cc} -print-file-name=$lib 2>/dev/null)
		case "$p" in /*) [ -e "$p" ] && { echo "$p"; return 0; } ;; esac
	done
	return 1
}

# run_suite NAME DIR [PYTEST-ARGS...]: pytest over DIR, then a line
# "suite: NAME: <pytest's counts>" (the make check driver shows it next to
# PASS/FAIL).  PRELOAD_ASAN=yes: the suite loads libjobclient into Python,
# so a sanitizer build preloads the ASan runtime (without leak reports for
# the interpreter itself).  Exit 0 pass, 1 anything else (never 77: a
# suite that has its tools but fails to run is a failure); 77 when DIR
# holds no tests (a tarball without them).
run_suite() {
	suite=$1 dir=$2
	shift 2
	if [ -z "$(find "$dir" -name 'test_*.py' 2>/dev/null | head -n1)" ]; then
		echo "$0: SKIP: no tests in $dir"
		exit 77
	fi
	if [ "${PRELOAD_ASAN:-no}" = yes ] &&
	    grep -q -- '-fsanitize=address' "$JOBD_BUILDDIR/Makefile" 2>/dev/null; then
		if ! rt=$(asan_runtime); then
			echo "$0: FAIL: no ASan runtime found to preload for $dir"
			exit 1
		fi
		echo "$0: $dir with $rt preloaded"
		LD_PRELOAD="$rt${LD_PRELOAD:+:$LD_PRELOAD}"
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
		export LD_PRELOAD ASAN_OPTIONS
	fi
	out=$(mktemp "${TMPDIR:-/tmp}/jobd-suite.XXXXXX") || exit 1
	# pytest's output goes to the log as it comes and to $out for the
	# counts; its status comes back through $out.rc (no pipefail in sh).
	{ "$PYTHON3" -m pytest -q -p no:cacheprovider -rfE "$dir" "$@" 2>&1
	  echo $? >"$out.rc"; } | tee "$out"
	rc=$(cat "$out.rc" 2>/dev/null)
	counts=$(grep -E '^=* *[0-9]+ (passed|failed|errors?|skipped|deselected|xfailed|xpassed)|^=* *no tests ran' "$out" |
	    tail -n1 | sed 's/^=* *//; s/ *=*$//')
	rm -f "$out" "$out.rc"
	echo "suite: $suite: ${counts:-no pytest summary (status ${rc:-?})}"
	# pytest: 0 passed, 1 failures, 2 interrupted, 3 internal error,
	# 4 usage, 5 no tests collected.  Everything but 0 fails the suite.
	[ "${rc:-1}" = 0 ] && exit 0
	exit 1
}
