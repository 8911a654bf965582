#!/bin/sh
# run.sh [SECONDS]: run the fuzz harnesses for the frame codec and the
# request validator that the build made (tests/fuzz/fuzz_* in
# $JOBD_BUILDDIR, built by "make check", see Makefile.am).
#
# libFuzzer build (configure found that CC links -fsanitize=fuzzer, e.g.
# CC=clang): each harness fuzzes for SECONDS (default $FUZZ_SECONDS, else
# 20) on a copy of its seed corpus in a temporary directory.  Otherwise
# (gcc): each harness replays its seed corpus once; SECONDS does not apply.
# Nothing is written into the source tree.
#
#   tests/fuzz/run.sh              # the bounded run of "make check"
#   FUZZ_SECONDS=600 tests/fuzz/run.sh
#   tests/fuzz/run.sh 300
#   FUZZ_ONLY=request tests/fuzz/run.sh     # one harness only
#
# Exit 0: no finding.  1: a crash, leak, UB or invariant failure (the
# reproducer is printed and kept, with the work directory, for replay).
# Environment: JOBD_SRCDIR, JOBD_BUILDDIR (else found from this script),
# FUZZ_SECONDS, FUZZ_ONLY (frame|request), FUZZ_KEEP=1 keeps the work dir.

: "${JOBD_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${JOBD_BUILDDIR:=$JOBD_SRCDIR/_build}"
SRC=$JOBD_SRCDIR
BIN=$JOBD_BUILDDIR/tests/fuzz
SECS=${1:-${FUZZ_SECONDS:-20}}

case "$SECS" in
''|*[!0-9]*) echo "run.sh: SECONDS must be a whole number, not '$SECS'" >&2; exit 1 ;;
esac
if [ ! -d "$SRC/tests/fuzz/corpus" ]; then
	echo "run.sh: FAIL: no jobd sources in '$SRC' (set JOBD_SRCDIR)" >&2
	exit 1
fi
# Run by hand: build what make check would have built.
if [ ! -x "$BIN/fuzz_frame" ] || [ ! -x "$BIN/fuzz_request" ]; then
	if ! make -s -C "$JOBD_BUILDDIR" tests/fuzz/fuzz_frame tests/fuzz/fuzz_request; then
		echo "run.sh: FAIL: cannot build the harnesses in $JOBD_BUILDDIR"
		exit 1
	fi
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

if "$BIN/fuzz_frame" -help=1 2>&1 | grep -q 'replay-only'; then
	mode=replay
	echo "run.sh: built without libFuzzer: replaying the seed corpora (configure CC=clang to fuzz; SECONDS does not apply)"
else
	mode=fuzz
fi

# fuzz_one NAME MAXLEN: run one harness; its counts go to $WORK/counts.
fuzz_one() {
	name=$1 maxlen=$2
	corpus="$WORK/corpus-$name"
	art="$WORK/artifacts-$name"
	mkdir -p "$corpus" "$art"
	cp "$SRC/tests/fuzz/corpus/$name"/* "$corpus/" 2>/dev/null
	seeds=$(ls "$corpus" | wc -l)
	if [ "$mode" = replay ]; then
		"$BIN/fuzz_$name" "$corpus" >"$WORK/$name.log" 2>&1
		rc=$?
		cat "$WORK/$name.log"
		echo "$name: $seeds seeds replayed" >>"$WORK/counts"
		if [ "$rc" -ne 0 ]; then
			echo "run.sh: FAIL: fuzz_$name exited $rc replaying its corpus"
			return 1
		fi
		return 0
	fi
	dict=
	[ -f "$SRC/tests/fuzz/$name.dict" ] && dict="-dict=$SRC/tests/fuzz/$name.dict"
	echo "run.sh: fuzz_$name for ${SECS}s ($seeds seeds)"
	# libFuzzer's default exit code on a finding is 77, which automake
	# would read as "skipped": use 1 for findings and timeouts.
	# shellcheck disable=SC2086
	"$BIN/fuzz_$name" -max_total_time="$SECS" -max_len="$maxlen" \
	    -timeout=5 -rss_limit_mb=2048 -error_exitcode=1 \
	    -timeout_exitcode=1 -print_final_stats=1 $dict \
	    -artifact_prefix="$art/" "$corpus" >"$WORK/$name.log" 2>&1
	rc=$?
	grep -E '^stat::number_of_executed_units|^Done|cov:.*DONE' "$WORK/$name.log" |
	    tail -n 2 | sed "s/^/  $name: /"
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$name.log" | tail -n1)
	echo "$name: ${runs:-?} runs in ${SECS}s" >>"$WORK/counts"
	found=$(ls "$art" 2>/dev/null)
	if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
		keep=1
		echo "run.sh: FAIL: fuzz_$name exited $rc"
		grep -v '^#[0-9]' "$WORK/$name.log" | tail -n 60
		for f in "$art"/*; do
			[ -f "$f" ] || continue
			echo "run.sh: reproducer $f ($(wc -c <"$f") bytes):"
			od -A d -c "$f" | head -n 20
			echo "run.sh: replay: $BIN/fuzz_$name $f"
		done
		return 1
	fi
	return 0
}

status=0
case "${FUZZ_ONLY:-}" in
''|frame) fuzz_one frame 20000 || status=1 ;;
esac
case "${FUZZ_ONLY:-}" in
''|request) fuzz_one request 16384 || status=1 ;;
esac
[ "$status" -eq 0 ] && echo "run.sh: no findings"
# The line the make check driver shows (tests/suite-driver.sh).
counts=$(paste -sd, "$WORK/counts" 2>/dev/null | sed 's/,/, /g')
[ "$status" -eq 0 ] || counts="$counts, FAILED"
echo "suite: fuzz ($mode): $counts"
exit $status
