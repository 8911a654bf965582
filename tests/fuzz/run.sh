#!/bin/sh
# run.sh [SECONDS]: build the libFuzzer harnesses (clang, ASan + UBSan) for
# the frame codec and the request validator straight from the sources, and
# run each for SECONDS (default $FUZZ_SECONDS, else 20) on a copy of its seed
# corpus in a temporary directory.  Nothing is written into the source tree.
#
#   tests/fuzz/run.sh              # the bounded run of "make check"
#   FUZZ_SECONDS=600 tests/fuzz/run.sh
#   tests/fuzz/run.sh 300
#   FUZZ_ONLY=request tests/fuzz/run.sh     # one harness only
#
# Exit 0: no crash.  1: a crash, leak, UB or invariant failure (the
# reproducer is printed and kept, with the work directory, for replay).
# 77 (skip): only when clang or its libFuzzer runtime is absent.
# Environment: JOBD_SRCDIR (else found from this script), FUZZ_CC (clang),
# FUZZ_SECONDS, FUZZ_ONLY (frame|request), FUZZ_KEEP=1 keeps the work dir.

: "${JOBD_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
SRC=$JOBD_SRCDIR
CC=${FUZZ_CC:-clang}
SECS=${1:-${FUZZ_SECONDS:-20}}

case "$SECS" in
''|*[!0-9]*) echo "run.sh: SECONDS must be a whole number, not '$SECS'" >&2; exit 1 ;;
esac
if [ ! -f "$SRC/common/frame.c" ] || [ ! -f "$SRC/tests/fuzz/fuzz_frame.c" ]; then
	echo "run.sh: FAIL: no jobd sources in '$SRC' (set JOBD_SRCDIR)" >&2
	exit 1
fi
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "run.sh: SKIP: no $CC (a clang with libFuzzer is needed)"
	exit 77
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jobd-fuzz.XXXXXX") || exit 1
keep=${FUZZ_KEEP:-0}
cleanup() {
	if [ "$keep" = 1 ]; then
		echo "run.sh: work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# Is the fuzzer runtime there?  (Debian: libclang-rt-NN-dev.)
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' \
	>"$WORK/probe.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$WORK/probe.c" \
    -o "$WORK/probe" >"$WORK/probe.log" 2>&1; then
	echo "run.sh: SKIP: $CC cannot link -fsanitize=fuzzer (libFuzzer runtime absent):"
	sed 's/^/  /' "$WORK/probe.log" | head -n 5
	exit 77
fi

# autoconf.h stand-in: the normal build includes it first in every file.
printf '#define _GNU_SOURCE 1\n#define PACKAGE_VERSION "fuzz"\n' >"$WORK/autoconf.h"

deps_cflags=$(pkg-config --cflags jansson inih 2>/dev/null) || deps_cflags=
deps_libs=$(pkg-config --libs jansson inih 2>/dev/null) || deps_libs="-ljansson -linih"

CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-fno-omit-frame-pointer -Wall -include $WORK/autoconf.h
	-I$SRC/common -I$SRC/daemon $deps_cflags"

build() {
	name=$1; shift
	# shellcheck disable=SC2086
	if ! "$CC" $CFLAGS -o "$WORK/$name" "$@" $deps_libs -lm \
	    >"$WORK/$name.build.log" 2>&1; then
		echo "run.sh: FAIL: cannot build $name:"
		cat "$WORK/$name.build.log"
		exit 1
	fi
}

# The options of one harness: max_len, and a dictionary if there is one.
fuzz_one() {
	name=$1 maxlen=$2
	corpus="$WORK/corpus-$name"
	art="$WORK/artifacts-$name"
	mkdir -p "$corpus" "$art"
	cp "$SRC/tests/fuzz/corpus/$name"/* "$corpus/" 2>/dev/null
	dict=
	[ -f "$SRC/tests/fuzz/$name.dict" ] && dict="-dict=$SRC/tests/fuzz/$name.dict"
	echo "run.sh: fuzz_$name for ${SECS}s ($(ls "$corpus" | wc -l) seeds)"
	# libFuzzer's default exit code on a finding is 77, which automake
	# would read as "skipped": use 1 for findings and timeouts.
	# shellcheck disable=SC2086
	"$WORK/fuzz_$name" -max_total_time="$SECS" -max_len="$maxlen" \
	    -timeout=5 -rss_limit_mb=2048 -error_exitcode=1 \
	    -timeout_exitcode=1 -print_final_stats=1 $dict \
	    -artifact_prefix="$art/" "$corpus" >"$WORK/$name.log" 2>&1
	rc=$?
	grep -E '^stat::number_of_executed_units|^Done|cov:.*DONE' "$WORK/$name.log" |
	    tail -n 2 | sed "s/^/  $name: /"
	found=$(ls "$art" 2>/dev/null)
	if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
		keep=1
		echo "run.sh: FAIL: fuzz_$name exited $rc"
		grep -v '^#[0-9]' "$WORK/$name.log" | tail -n 60
		for f in "$art"/*; do
			[ -f "$f" ] || continue
			echo "run.sh: reproducer $f ($(wc -c <"$f") bytes):"
			od -A d -c "$f" | head -n 20
			echo "run.sh: replay: $WORK/fuzz_$name $f"
		done
		return 1
	fi
	return 0
}

build fuzz_frame "$SRC/tests/fuzz/fuzz_frame.c" "$SRC/common/frame.c"
build fuzz_request "$SRC/tests/fuzz/fuzz_request.c" "$SRC/daemon/request.c" \
	"$SRC/daemon/config.c" "$SRC/daemon/log.c" "$SRC/common/proto.c"

status=0
case "${FUZZ_ONLY:-}" in
''|frame) fuzz_one frame 20000 || status=1 ;;
esac
case "${FUZZ_ONLY:-}" in
''|request) fuzz_one request 16384 || status=1 ;;
esac
[ "$status" -eq 0 ] && echo "run.sh: no findings"
exit $status
