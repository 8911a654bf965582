#!/bin/bash
# build.sh: install dependencies, generate the build system and build jobd
# out of tree.
#
#   scripts/build.sh [--asan] [--builddir DIR] [--no-deps] [CONFIGURE-ARGS...]
#
# Default build directory: _build/ in the repository (_build-asan/ with
# --asan, which also passes --enable-asan --enable-ubsan).  Other arguments
# go to configure unchanged (e.g. --enable-werror).  configure is re-run
# only when its arguments changed or the build directory is new.
set -euo pipefail

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=
ASAN=no
DEPS=yes
CONF_ARGS=()

while [ $# -gt 0 ]; do
	case "$1" in
	--asan) ASAN=yes ;;
	--builddir) BUILDDIR=$2; shift ;;
	--builddir=*) BUILDDIR=${1#--builddir=} ;;
	--no-deps) DEPS=no ;;
	-h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) CONF_ARGS+=("$1") ;;
	esac
	shift
done

if [ "$ASAN" = yes ]; then
	CONF_ARGS=(--enable-asan --enable-ubsan "${CONF_ARGS[@]}")
	: "${BUILDDIR:=$SRCDIR/_build-asan}"
fi
: "${BUILDDIR:=$SRCDIR/_build}"
case "$BUILDDIR" in /*) ;; *) BUILDDIR=$PWD/$BUILDDIR ;; esac

if [ "$DEPS" = yes ]; then
	bash "$SRCDIR/scripts/deps.sh"
fi

# autogen once per checkout, or again when configure.ac/Makefile.am are newer.
cd "$SRCDIR"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	echo "build: ./autogen.sh"
	./autogen.sh
fi
if [ -f "$SRCDIR/config.status" ]; then
	echo "build: $SRCDIR is configured in tree; run 'make distclean' there first" >&2
	exit 1
fi

mkdir -p "$BUILDDIR"
cd "$BUILDDIR"
STAMP=.build-sh-configure-args
WANT="${CONF_ARGS[*]:-}"
if [ ! -f Makefile ] || [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
	echo "build: configure $WANT (in $BUILDDIR)"
	"$SRCDIR/configure" -q "${CONF_ARGS[@]}"
	printf '%s' "$WANT" > "$STAMP"
fi

echo "build: make -j$(nproc) (in $BUILDDIR)"
make -j"$(nproc)"
echo "build: ok: $BUILDDIR/jobd"
