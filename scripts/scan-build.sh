#!/bin/bash
# scan-build.sh: the clang static analyzer (scan-build, package clang-tools)
# over a fresh build of everything, test programs included, in
# _build-scan/.  Exits non-zero when it reports anything; the HTML report
# is left in _build-scan/report/.  Not run by CI (a full extra build);
# run it before landing C changes.
#
#   scripts/scan-build.sh [CONFIGURE-ARGS...]
set -euo pipefail

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=$SRCDIR/_build-scan
SB=$(command -v scan-build || command -v scan-build-14 || true)
if [ -z "$SB" ]; then
	echo "scan-build.sh: no scan-build (apt-get install clang-tools)" >&2
	exit 2
fi

cd "$SRCDIR"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	./autogen.sh
fi
rm -rf "$BUILDDIR"
mkdir -p "$BUILDDIR"
cd "$BUILDDIR"
"$SB" "$SRCDIR/configure" -q "$@"
# --status-bugs: exit 1 when there is a finding; TESTS= builds the test
# programs without running them.  all first, then check: one make with
# both goals builds the same objects twice at once.
"$SB" --status-bugs -o "$BUILDDIR/report" \
	sh -c 'make -j"$(nproc)" all && make -j"$(nproc)" check TESTS='
