#!/bin/bash
# package.sh: build the Debian packages (jobd, libjobclient1,
# libjobclient-dev, python3-jobclient) from this checkout and check them
# with lintian.
#
#   scripts/package.sh [--outdir DIR] [--no-deps] [--check]
#
# The build runs in a copy of the working tree (tracked files and new ones
# not ignored, as they are now: uncommitted changes are packaged), so the
# checkout stays clean; the .debs, .changes and .buildinfo land in DIR
# (default _packages/ in the checkout).  --check runs the unit tests in the
# build (default: DEB_BUILD_OPTIONS=nocheck, the build alone, as CI wants).
# lintian runs on the .changes: an error fails, warnings are listed.
# debian/*.lintian-overrides say why each override is there.
set -euo pipefail

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
OUTDIR=$SRCDIR/_packages
DEPS=yes
CHECK=no
while [ $# -gt 0 ]; do
	case "$1" in
	--outdir) OUTDIR=$2; shift ;;
	--outdir=*) OUTDIR=${1#--outdir=} ;;
	--no-deps) DEPS=no ;;
	--check) CHECK=yes ;;
	-h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "package: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case "$OUTDIR" in /*) ;; *) OUTDIR=$PWD/$OUTDIR ;; esac

[ "$DEPS" = no ] || bash "$SRCDIR/scripts/deps.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jobd-package.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
version=$(sed -n '1s/^jobd (\([^)]*\)).*/\1/p' "$SRCDIR/debian/changelog")
[ -n "$version" ] || { echo "package: no version in debian/changelog" >&2; exit 1; }
TREE=$WORK/jobd-$version

# The working tree as git sees it, without what .gitignore calls generated
# (a configured tree, _build/, .state/ would otherwise come along).
mkdir -p "$TREE"
if git -C "$SRCDIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$SRCDIR" && git ls-files -z -co --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] || [ -L "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -) | tar -xf - -C "$TREE"
else
	# A release tarball: it carries only the sources.
	cp -a "$SRCDIR/." "$TREE"
fi

echo "package: dpkg-buildpackage in $TREE"
# Run from make check (tests/package), an outer make's flags and jobd's
# test variables must not reach the build.
unset MAKEFLAGS MFLAGS MAKELEVEL JOBD_BUILDDIR JOBD_SRCDIR
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-} parallel=$(nproc)"
[ "$CHECK" = yes ] || DEB_BUILD_OPTIONS="$DEB_BUILD_OPTIONS nocheck"
(cd "$TREE" && dpkg-buildpackage -us -uc -b) > "$WORK/build.log" 2>&1 || {
	tail -n 80 "$WORK/build.log" >&2
	echo "package: dpkg-buildpackage failed (the log's end above)" >&2
	exit 1
}

mkdir -p "$OUTDIR"
changes=$(ls "$WORK"/jobd_"$version"_*.changes)
rm -f "$OUTDIR"/*_"$version"_*.deb
cp "$WORK"/*_"$version"_*.deb "$WORK"/*_"$version"_*.buildinfo "$changes" "$OUTDIR/"
cp "$WORK/build.log" "$OUTDIR/jobd_${version}_build.log"
echo "package: built in $OUTDIR:"
(cd "$OUTDIR" && ls -1 ./*"_${version}_"*.deb | sed 's/^/  /')

# lintian: errors fail the build, warnings are shown (and should be fixed
# or overridden with a reason in debian/*.lintian-overrides).
echo "package: lintian"
set +e
lintian --fail-on error --info --display-info "$OUTDIR/$(basename "$changes")" \
	> "$WORK/lintian.txt" 2>&1
rc=$?
set -e
cat "$WORK/lintian.txt"
cp "$WORK/lintian.txt" "$OUTDIR/lintian.txt"
if [ "$rc" -ne 0 ]; then
	echo "package: FAIL: lintian found errors (above)" >&2
	exit 1
fi
echo "package: ok ($(grep -c '^W: ' "$WORK/lintian.txt" || true) lintian warnings)"
