#!/bin/sh
# check-version.sh: one version everywhere (make check).  configure.ac's
# AC_INIT version (PACKAGE_VERSION in the build's autoconf.h) is the one
# jobclient_version.h carries (configure writes it; test_client checks the
# header and jc_version() against it); the Python binding states it by hand
# in jobclient/__init__.py and setup.py, and the Debian packages in
# debian/changelog's first line, which must follow.

: "${JOBD_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${JOBD_BUILDDIR:=$JOBD_SRCDIR/_build}"
status=0

want=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$JOBD_BUILDDIR/autoconf.h")
if [ -z "$want" ]; then
	echo "check-version: FAIL: no PACKAGE_VERSION in $JOBD_BUILDDIR/autoconf.h"
	exit 1
fi
hdr=$(sed -n 's/^#define JC_VERSION_STRING "\(.*\)"$/\1/p' \
	"$JOBD_BUILDDIR/libclient/jobclient_version.h")
init=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' \
	"$JOBD_SRCDIR/bindings/python/jobclient/__init__.py")
setup=$(sed -n 's/^ *version="\(.*\)",$/\1/p' "$JOBD_SRCDIR/bindings/python/setup.py")
deb=$(sed -n '1s/^jobd (\([^)-]*\).*/\1/p' "$JOBD_SRCDIR/debian/changelog")
for pair in "jobclient_version.h:$hdr" "bindings/python/jobclient/__init__.py:$init" \
    "bindings/python/setup.py:$setup" "debian/changelog:$deb"; do
	if [ "${pair#*:}" != "$want" ]; then
		echo "check-version: FAIL: ${pair%%:*} says '${pair#*:}', configure.ac '$want'"
		status=1
	fi
done
[ "$status" -eq 0 ] && echo "check-version: ok ($want)"
exit $status
