#!/bin/sh
# check-tree.sh: what the source tree must not carry (make check).
#  - A committed file that .gitignore calls generated: the autoheader
#    output config.h.in was once committed and went stale (the header is
#    autoconf.h; a config.h made from it would shadow daemon/config.h).
#  - A reference to a contract outside the repository (a SPEC file,
#    ../shared): code and docs cite docs/protocol.md and the other docs/.
# Skips (77) outside a git checkout (a release tarball).

: "${JOBD_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$JOBD_SRCDIR" || exit 1
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	echo "check-tree: SKIP: not a git checkout"
	exit 77
fi
status=0

generated=$(git ls-files -ci --exclude-standard)
if [ -n "$generated" ]; then
	echo "check-tree: FAIL: generated files are committed (see .gitignore):"
	echo "$generated"
	status=1
fi
for f in config.h.in config.h; do
	if git ls-files --error-unmatch "$f" >/dev/null 2>&1; then
		echo "check-tree: FAIL: $f is committed (the header is autoconf.h)"
		status=1
	fi
done

spec='SPEC(\.md| *§)|\.\./shared|/work/shared|shared/seeds'
refs=$(git grep -nE "$spec" -- . ':!bench/peers' ':!tests/build/check-tree.sh' 2>/dev/null)
if [ -n "$refs" ]; then
	echo "check-tree: FAIL: references to a contract outside the repository"
	echo "(cite docs/protocol.md, docs/jobd.md, ... instead):"
	echo "$refs"
	status=1
fi

[ "$status" -eq 0 ] && echo "check-tree: ok"
exit $status
