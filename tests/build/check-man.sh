#!/bin/sh
# check-man.sh: the manuals (make check).  Each page is mandoc -Tlint clean
# at the style level: any error, warning or style message fails, but for
# "referenced manual not found" (and mandoc.db notes), which say what this
# machine has installed, not what the page is.  And the pages follow the
# code: every settings row of daemon/config.c and config_limit.c is in the
# generated jobd.conf.5 under its section; every option of `jobd --help`
# in jobd.8; every verb and option of `jobctl --help` in jobctl.1; every
# symbol of libclient/jobclient.sym in libjobclient.3's synopsis.

: "${JOBD_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${JOBD_BUILDDIR:=$JOBD_SRCDIR/_build}"
if ! command -v mandoc >/dev/null 2>&1; then
	echo "check-man: SKIP: no mandoc (scripts/deps.sh installs it)"
	exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0
fail() {
	echo "check-man: FAIL: $*"
	status=1
}

conf5=$JOBD_BUILDDIR/man/jobd.conf.5
jobd8=$JOBD_BUILDDIR/man/jobd.8
jobctl1=$JOBD_BUILDDIR/man/jobctl.1
lib3=$JOBD_BUILDDIR/man/libjobclient.3
for page in "$conf5" "$jobd8" "$jobctl1" "$lib3"; do
	if [ ! -f "$page" ]; then
		fail "$page is missing (not built?)"
		continue
	fi
	mandoc -Tlint -Wstyle "$page" > "$tmp/lint" 2>&1
	grep -v -e 'STYLE: referenced manual not found' -e 'mandoc\.db' \
		"$tmp/lint" > "$tmp/msgs"
	if [ -s "$tmp/msgs" ]; then
		fail "mandoc -Tlint -Wstyle $page:"
		sed 's/^/  /' "$tmp/msgs"
	fi
done

# --- jobd.conf.5: "SECTION KEY" of the source rows and of the page --------
# A row opens with { "name", SCOPE_X (the scope may be on the next line).
tr '\n\t' '  ' < "$JOBD_SRCDIR/daemon/config.c" |
	grep -oE '\{ "[a-z0-9_]+", +SCOPE_[A-Z]+' |
	sed -E 's/\{ "([a-z0-9_]+)", +SCOPE_([A-Z]+)/\2 \1/' |
	sed -e 's/^JOBD /jobd /' -e 's/^ACCESS /access /' -e 's/^HTTP /http /' \
	    -e 's/^WEBHOOKS /webhooks /' -e 's/^TYPE /types /' \
	    -e 's/^CRON /cron:NAME /' > "$tmp/rows"
tr '\n\t' '  ' < "$JOBD_SRCDIR/daemon/config_limit.c" |
	grep -oE '\{ "[a-z0-9_]+", +set_[a-z_]+,' |
	sed -E 's/\{ "([a-z0-9_]+)".*/limit:NAME \1/' >> "$tmp/rows"
sort -u "$tmp/rows" -o "$tmp/rows"
if [ "$(wc -l < "$tmp/rows")" -lt 60 ]; then
	fail "found only $(wc -l < "$tmp/rows") settings rows in daemon/config*.c"
fi
if [ -f "$conf5" ]; then
	# .Ss \&[SECTION]\& (the first of "[types] , [type:NAME]"), then
	# .It Cm "\&KEY" for each setting.
	awk '/^\.Ss \\&\[/ { s = $2; sub(/^\\&\[/, "", s); sub(/\].*/, "", s) }
	    /^\.Sh / { s = "" }
	    /^\.It Cm "\\&/ && s != "" { k = $3; gsub(/"|\\&/, "", k);
	        print s, k }' "$conf5" | sort -u > "$tmp/page"
	comm -23 "$tmp/rows" "$tmp/page" > "$tmp/d"
	[ -s "$tmp/d" ] && fail "settings rows missing from $conf5: $(tr '\n' ',' < "$tmp/d")"
	comm -13 "$tmp/rows" "$tmp/page" > "$tmp/d"
	[ -s "$tmp/d" ] && fail "$conf5 lists settings that are not rows: $(tr '\n' ',' < "$tmp/d")"
fi

# --- jobd.8: every option of jobd --help ----------------------------------
# has_fl PAGE OPT: the page shows OPT (-x or --name) as "Fl x" / "Fl -name".
has_fl() {
	grep -qE "(^|[ .])Fl ${2#-}( |\$)" "$1"
}
if "$JOBD_BUILDDIR/jobd" --help > "$tmp/help"; then
	grep -oE '(^| |\[)--?[a-zA-Z][a-z-]*' "$tmp/help" |
		sed -E 's/^[ [|]*//' | sort -u > "$tmp/opts"
	[ "$(wc -l < "$tmp/opts")" -ge 10 ] ||
		fail "jobd --help shows only $(wc -l < "$tmp/opts") options"
	while read -r o; do
		has_fl "$jobd8" "$o" || fail "jobd.8 lacks the option $o of jobd --help"
	done < "$tmp/opts"
else
	fail "$JOBD_BUILDDIR/jobd --help failed"
fi

# --- jobctl.1: every verb and option of jobctl --help ---------------------
if "$JOBD_BUILDDIR/jobctl/jobctl" --help > "$tmp/help"; then
	sed -n '/^verbs:/,/^options:/p' "$tmp/help" |
		awk '/^  [a-z]/ { print $1 }' | sort -u > "$tmp/verbs"
	[ "$(wc -l < "$tmp/verbs")" -ge 10 ] ||
		fail "jobctl --help shows only $(wc -l < "$tmp/verbs") verbs"
	while read -r v; do
		grep -qE "^\.It (.* )?Cm $v( |\$)" "$jobctl1" ||
			fail "jobctl.1 has no '.It ... Cm $v' for the verb $v"
	done < "$tmp/verbs"
	grep -oE '(^| |\[)--?[a-zA-Z][a-z-]*' "$tmp/help" |
		sed -E 's/^[ [|]*//' | sort -u > "$tmp/opts"
	while read -r o; do
		has_fl "$jobctl1" "$o" ||
			fail "jobctl.1 lacks the option $o of jobctl --help"
	done < "$tmp/opts"
else
	fail "$JOBD_BUILDDIR/jobctl/jobctl --help failed"
fi

# --- libjobclient.3: every exported function ------------------------------
grep -v '^#' "$JOBD_SRCDIR/libclient/jobclient.sym" | grep . |
while read -r f; do
	grep -qE "^\.Fn $f( |\$)" "$lib3" || echo "$f"
done > "$tmp/d"
[ -s "$tmp/d" ] && fail "libjobclient.3 has no .Fn for: $(tr '\n' ' ' < "$tmp/d")"

[ "$status" -eq 0 ] && echo "check-man: ok (4 pages, $(wc -l < "$tmp/rows") settings)"
exit $status
