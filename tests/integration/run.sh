#!/bin/sh
# run.sh: the integration tests (automake TESTS entry).  Runs pytest over
# tests/integration, tests/python and tests/app (those that exist) against
# the real jobd in $JOBD_BUILDDIR and a real redis-server.
# Exit 77 (skip) only when redis-server or pytest is genuinely absent.

PY_MODULES="pytest msgpack"
. "$(dirname "$0")/../pytest-env.sh"

# pytest: 0 passed, 1 failures, 2 interrupted, 3 internal error, 4 usage,
# 5 no tests collected.  Everything but 0 fails the suite (never 77).
run_pytest() {
	"$PYTHON3" -m pytest -q -p no:cacheprovider -rfE "$@"
	rc=$?
	[ "$rc" -eq 77 ] && rc=1
	return $rc
}

# A sanitizer build: jobd and jobctl carry their runtime, but Python loading
# the instrumented libjobclient.so through ctypes needs the ASan runtime
# preloaded (and no leak report for the interpreter itself).
asan_runtime() {
	cc=$(sed -n 's/^CC = //p' "$JOBD_BUILDDIR/Makefile" | head -n1)
	cc=${cc%% *}
	for lib in libasan.so libclang_rt.asan-x86_64.so; do
		p=$(${cc:-cc} -print-file-name=$lib 2>/dev/null)
		case "$p" in /*) [ -e "$p" ] && { echo "$p"; return 0; } ;; esac
	done
	return 1
}

sanitized=no
grep -q -- '-fsanitize=address' "$JOBD_BUILDDIR/Makefile" 2>/dev/null && sanitized=yes

if [ "$sanitized" = no ]; then
	dirs=
	for d in tests/integration tests/python tests/app; do
		[ -d "$d" ] && dirs="$dirs $d"
	done
	# shellcheck disable=SC2086
	run_pytest $dirs "$@"
	exit $?
fi

status=0
run_pytest tests/integration "$@" || status=$?
pydirs=
for d in tests/python tests/app; do
	[ -d "$d" ] && [ -n "$(find "$d" -name 'test_*.py' 2>/dev/null | head -n1)" ] && pydirs="$pydirs $d"
done
if [ -n "$pydirs" ]; then
	if rt=$(asan_runtime); then
		echo "run.sh: $pydirs with $rt preloaded"
		# shellcheck disable=SC2086
		LD_PRELOAD="$rt${LD_PRELOAD:+:$LD_PRELOAD}" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
			run_pytest $pydirs "$@" || status=$?
	else
		echo "run.sh: FAIL: no ASan runtime found to preload for $pydirs"
		status=1
	fi
fi
exit $status
