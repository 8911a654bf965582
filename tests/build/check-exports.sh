#!/bin/sh
# check-exports.sh: libjobclient.so exports exactly the symbols listed in
# libclient/jobclient.sym, and jobclient.h declares exactly those functions
# (make check).  An accidental export (a helper that lost its static or its
# hidden visibility) or a missing one fails.

: "${JOBD_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${JOBD_BUILDDIR:=$JOBD_SRCDIR/_build}"
so=$JOBD_BUILDDIR/libclient/.libs/libjobclient.so
sym=$JOBD_SRCDIR/libclient/jobclient.sym
hdr=$JOBD_SRCDIR/libclient/jobclient.h
if ! command -v nm >/dev/null 2>&1; then
	echo "check-exports: SKIP: no nm"
	exit 77
fi
if [ ! -f "$so" ]; then
	echo "check-exports: FAIL: $so is not built"
	exit 1
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0

grep -v '^#' "$sym" | grep . | sort > "$tmp/listed"
# Every defined dynamic symbol, data and weak ones too.
nm -D --defined-only "$so" | awk '{ print $3 }' | sed 's/@.*//' | sort -u \
	> "$tmp/exported"
# Function declarations: "type jc_name(" at the start of a line.
grep -E '^[a-z].*[ *]jc_[a-z0-9_]+\(' "$hdr" |
	sed -E 's/.*[ *](jc_[a-z0-9_]+)\(.*/\1/' | sort -u > "$tmp/declared"

if ! cmp -s "$tmp/listed" "$tmp/exported"; then
	echo "check-exports: FAIL: $so exports (+) other symbols than jobclient.sym lists (-):"
	diff "$tmp/listed" "$tmp/exported" | grep '^[<>]' | sed 's/^</-/; s/^>/+/'
	status=1
fi
if ! cmp -s "$tmp/listed" "$tmp/declared"; then
	echo "check-exports: FAIL: jobclient.h declares (+) other functions than jobclient.sym lists (-):"
	diff "$tmp/listed" "$tmp/declared" | grep '^[<>]' | sed 's/^</-/; s/^>/+/'
	status=1
fi
[ "$status" -eq 0 ] && echo "check-exports: ok ($(wc -l < "$tmp/listed") symbols)"
exit $status
