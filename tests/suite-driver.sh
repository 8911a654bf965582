#!/bin/sh
# suite-driver.sh DRIVER... [DRIVER-OPTIONS] -- TEST: automake's test
# driver for the suites (tests/*/run.sh).  Runs DRIVER (build-aux/
# test-driver) unchanged, then shows the suite's counts, the last
# "suite: NAME: COUNTS" line of its log, under automake's PASS/FAIL line,
# and puts them in the .trs: ":global-test-result:" reads "PASS (NAME:
# COUNTS)" and the log is copied into test-suite.log, so that both name
# what ran and how many tests passed.

log= trs= prev=
for a in "$@"; do
	case "$prev" in
	--log-file) log=$a ;;
	--trs-file) trs=$a ;;
	esac
	[ "$a" = -- ] && break
	prev=$a
done
"$@"
rc=$?
[ -n "$log" ] && [ -f "$log" ] || exit $rc
counts=$(sed -n 's/^suite: //p' "$log" | tail -n1)
[ -n "$counts" ] || exit $rc
echo "      $counts"
if [ -n "$trs" ] && [ -f "$trs" ]; then
	sed -e "s|^\(:global-test-result: [A-Z]*\).*|\1 ($counts)|" \
	    -e 's/^:copy-in-global-log: .*/:copy-in-global-log: yes/' \
	    "$trs" >"$trs.tmp" && mv -f "$trs.tmp" "$trs"
fi
exit $rc
