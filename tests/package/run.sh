#!/bin/bash
# run.sh: the Debian packages, built and used (automake TESTS entry).
#
# Builds them with scripts/package.sh (one dpkg-buildpackage, no tests
# inside, lintian errors fail), unpacks every .deb into a scratch root
# (dpkg -x: the files as installed, without the maintainer scripts) and
# runs what is in it: the packaged `jobd --check` on the packaged
# /etc/jobd/jobd.conf, a bad value refused, then the packaged jobd with -o
# overrides pointing its socket and state into a temp dir, a job submitted
# and waited for by the packaged jobctl and by the packaged Python binding,
# both on the packaged libjobclient.so.1.
#
# With JOBD_TEST_PACKAGE_INSTALL=1, as root, also the real thing: apt-get
# install of the .debs (the user jobd, the conffile, the units, the dirs),
# `jobd --check` and a job as user jobd with the installed configuration,
# then apt-get purge.  systemd is not PID 1 in CI containers, so
# `systemctl start jobd` is not tested here (docs/operations.md).
#
# Minutes, so it runs only with JOBD_TEST_PACKAGE=1 or CI=true (where
# JOBD_TEST_PACKAGE_INSTALL defaults to 1 as root: the CI machine is
# thrown away), and under CI once: not in a sanitizer build's make check.
set -uo pipefail

: "${JOBD_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${JOBD_BUILDDIR:=$JOBD_SRCDIR/_build}"
: "${PYTHON3:=python3}"

if [ "${JOBD_TEST_PACKAGE:-}" != 1 ]; then
	if [ "${CI:-}" != true ]; then
		echo "package: SKIP: builds the Debian packages (minutes); set JOBD_TEST_PACKAGE=1 to run it (CI=true does)"
		exit 77
	fi
	if grep -q '^SAN_CFLAGS = .*-fsanitize' "$JOBD_BUILDDIR/Makefile" 2>/dev/null; then
		echo "package: SKIP: the packages do not depend on this build; CI builds them once, in the normal build's make check"
		exit 77
	fi
	[ "$(id -u)" -eq 0 ] && : "${JOBD_TEST_PACKAGE_INSTALL:=1}"
fi
for tool in dpkg-buildpackage dh lintian fakeroot; do
	if ! command -v "$tool" >/dev/null; then
		echo "package: FAIL: $tool is missing (scripts/deps.sh installs it)"
		exit 1
	fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/jobd-pkgtest.XXXXXX")
JOBD_PID=
INSTALLED=no
cleanup() {
	[ -z "$JOBD_PID" ] || { kill -TERM "$JOBD_PID" 2>/dev/null; wait "$JOBD_PID" 2>/dev/null; }
	[ "$INSTALLED" = no ] || purge_packages
	rm -rf "$T"
}
trap cleanup EXIT
fails=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
wait_for() { # wait_for SECONDS CMD...
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
}

# --- build ---------------------------------------------------------------
if ! bash "$JOBD_SRCDIR/scripts/package.sh" --no-deps --outdir "$T/debs"; then
	echo "package: FAIL: scripts/package.sh"
	exit 1
fi
DEBS=()
for d in "$T"/debs/*.deb; do
	case "$d" in *-dbgsym_*) continue ;; esac
	DEBS+=("$d")
done
for p in jobd libjobclient1 libjobclient-dev python3-jobclient; do
	ls "$T"/debs/"${p}"_*.deb >/dev/null 2>&1 && ok "built $p" || fail "no $p .deb"
done

# --- what the packages declare ---------------------------------------------
JOBD_DEB=$(ls "$T"/debs/jobd_*.deb)
dpkg-deb --ctrl-tarfile "$JOBD_DEB" | tar -xOf - ./conffiles > "$T/conffiles" 2>/dev/null
grep -qx /etc/jobd/jobd.conf "$T/conffiles" && ok "/etc/jobd/jobd.conf is a conffile" ||
	fail "/etc/jobd/jobd.conf is not a conffile: $(cat "$T/conffiles")"
dpkg-deb --ctrl-tarfile "$JOBD_DEB" | tar -xOf - ./postinst > "$T/postinst"
grep -q "deb-systemd-helper enable 'jobd.service'" "$T/postinst" && ok "jobd.service enabled by postinst" ||
	fail "postinst does not enable jobd.service"
grep -q "systemd-sysusers.*jobd.conf" "$T/postinst" && ok "postinst creates the system user" ||
	fail "postinst does not run systemd-sysusers"
dpkg-deb -f "$(ls "$T"/debs/python3-jobclient_*.deb)" Depends | grep -q libjobclient1 &&
	ok "python3-jobclient depends on libjobclient1" || fail "python3-jobclient lacks Depends: libjobclient1"

# --- a scratch root: the files as installed ------------------------------
R=$T/root
for d in "${DEBS[@]}"; do dpkg-deb -x "$d" "$R"; done
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
LIBDIR=$R/usr/lib/$MA
for f in usr/sbin/jobd usr/bin/jobctl etc/jobd/jobd.conf lib/systemd/system/jobd.service \
    lib/systemd/system/jobd.socket usr/lib/sysusers.d/jobd.conf etc/logrotate.d/jobd \
    usr/share/man/man8/jobd.8.gz usr/share/man/man5/jobd.conf.5.gz \
    usr/share/man/man1/jobctl.1.gz usr/share/man/man3/libjobclient.3.gz \
    usr/include/jobclient.h usr/lib/$MA/libjobclient.so.1 usr/lib/$MA/libjobclient.so \
    usr/lib/$MA/pkgconfig/libjobclient.pc usr/lib/python3/dist-packages/jobclient/__init__.py; do
	[ -e "$R/$f" ] || fail "/$f is in no package"
done
grep -q '^u jobd ' "$R/usr/lib/sysusers.d/jobd.conf" && ok "sysusers: user jobd" || fail "sysusers file lacks user jobd"

export LD_LIBRARY_PATH=$LIBDIR
unset JOBD_BUILDDIR JOBCLIENT_LIB JOBD_SOCKET
if "$R/usr/sbin/jobd" --check -c "$R/etc/jobd/jobd.conf" > "$T/check.out" 2>&1 &&
    grep -q '^jobd.socket = /run/jobd/jobd.sock ' "$T/check.out" &&
    grep -q '^jobd.socket_group = jobd ' "$T/check.out" &&
    grep -q '^jobd.socket_mode = 0660 ' "$T/check.out"; then
	ok "packaged jobd --check on the packaged jobd.conf"
else
	fail "jobd --check on the packaged jobd.conf:"; cat "$T/check.out"
fi
# The attack: a hostile value in the packaged file is refused, named.
sed 's/^socket_mode = .*/socket_mode = 99999/' "$R/etc/jobd/jobd.conf" > "$T/bad.conf"
if "$R/usr/sbin/jobd" --check -c "$T/bad.conf" > "$T/bad.out" 2>&1; then
	fail "jobd --check accepted socket_mode = 99999"
elif grep -q "socket_mode" "$T/bad.out"; then
	ok "a bad socket_mode is refused: $(head -n1 "$T/bad.out")"
else
	fail "the refusal does not name socket_mode: $(cat "$T/bad.out")"
fi
LDD=$(ldd "$R/usr/bin/jobctl" | grep libjobclient)
case "$LDD" in *"$LIBDIR/"*) ok "jobctl uses the packaged libjobclient" ;;
	*) fail "jobctl resolves libjobclient elsewhere: $LDD" ;; esac

# --- a job through the packaged binaries ----------------------------------
OPTS=(-o jobd.socket="$T/jobd.sock" -o jobd.socket_group= -o jobd.workers=1
	-o jobd.pidfile="$T/jobd.pid")
# The packaged default: jobd's own redis-server, its data in state_dir.
mkdir -p "$T/state"
OPTS+=(-o jobd.state_dir="$T/state")
"$R/usr/sbin/jobd" -f -c "$R/etc/jobd/jobd.conf" "${OPTS[@]}" 2> "$T/jobd.log" &
JOBD_PID=$!
JOBCTL=("$R/usr/bin/jobctl" -s "$T/jobd.sock")
if ! wait_for 20 "${JOBCTL[@]}" ping; then
	fail "the packaged jobd did not answer; its log:"; tail -n 30 "$T/jobd.log"
	exit 1
fi
# submit --wait prints the result and exits 0 once the job finished.
if OUT=$("${JOBCTL[@]}" submit jobd.echo '{"from": "jobctl"}' --wait 2>&1) &&
    case "$OUT" in *'"from": "jobctl"'*) true ;; *) false ;; esac; then
	ok "packaged jobctl: a job finished"
else
	fail "packaged jobctl submit --wait: $OUT"
fi

PY_OUT=$(PYTHONPATH=$R/usr/lib/python3/dist-packages "$PYTHON3" - "$T/jobd.sock" "$R" <<'PY' 2>&1
import sys
import jobclient
sock, root = sys.argv[1], sys.argv[2]
assert jobclient.__file__.startswith(root), jobclient.__file__
c = jobclient.Client(sock)
job = c.submit("jobd.echo", {"from": "python"})
res = c.wait(job, timeout=20.0)
assert res["status"] == "finished", res
maps = [l.split()[-1] for l in open("/proc/self/maps") if "libjobclient" in l]
assert maps and all(m.startswith(root) for m in maps), maps
print("finished", maps[0])
PY
)
case "$PY_OUT" in finished*) ok "packaged python3-jobclient: a job finished (${PY_OUT#finished })" ;;
	*) fail "packaged python binding: $PY_OUT" ;; esac
kill -TERM "$JOBD_PID"; wait "$JOBD_PID" 2>/dev/null; JOBD_PID=
unset LD_LIBRARY_PATH

# --- the real install (root, throwaway machine) ---------------------------
PKGS=(jobd libjobclient1 libjobclient-dev python3-jobclient)
purge_packages() {
	apt-get purge -y -q "${PKGS[@]}" > "$T/purge.log" 2>&1 || { cat "$T/purge.log"; return 1; }
	INSTALLED=no
	rm -rf /var/lib/jobd /run/jobd
}
if [ "${JOBD_TEST_PACKAGE_INSTALL:-}" = 1 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		fail "JOBD_TEST_PACKAGE_INSTALL=1 needs root"
	elif dpkg-query -W -f='${db:Status-Status}' jobd 2>/dev/null | grep -q installed; then
		fail "a jobd package is installed already; not touching it"
	else
		INSTALLED=yes
		# The README's production path, as it is written.
		if bash "$JOBD_SRCDIR/scripts/install-packages.sh" --no-build \
		    --outdir "$T/debs" --dev > "$T/install.log" 2>&1; then
			ok "scripts/install-packages.sh (apt-get install of the packages)"
		else
			fail "apt-get install:"; tail -n 30 "$T/install.log"
		fi
		getent passwd jobd >/dev/null && ok "user jobd exists" || fail "no user jobd"
		getent group jobd >/dev/null && ok "group jobd exists" || fail "no group jobd"
		[ -f /etc/jobd/jobd.conf ] && ok "/etc/jobd/jobd.conf installed" || fail "no /etc/jobd/jobd.conf"
		[ "$(stat -c %U /var/lib/jobd 2>/dev/null)" = jobd ] && ok "/var/lib/jobd belongs to jobd" ||
			fail "/var/lib/jobd: $(ls -ld /var/lib/jobd 2>&1)"
		if runuser -u jobd -- jobd --check -c /etc/jobd/jobd.conf > "$T/check2.out" 2>&1; then
			ok "jobd --check as user jobd"
		else
			fail "jobd --check as user jobd:"; cat "$T/check2.out"
		fi
		# What systemd would do (RuntimeDirectory=jobd), then the
		# installed daemon, as jobd, with the installed configuration.
		install -d -o jobd -g jobd -m 0755 /run/jobd
		runuser -u jobd -- jobd -f -c /etc/jobd/jobd.conf -o jobd.workers=1 \
			2> "$T/jobd2.log" &
		JOBD_PID=$!
		if wait_for 20 jobctl ping; then
			if OUT=$(jobctl submit jobd.echo '{"from": "installed"}' --wait 2>&1) &&
			    case "$OUT" in *'"from": "installed"'*) true ;; *) false ;; esac; then
				ok "installed jobd: a job finished"
			else
				fail "installed jobctl submit --wait: $OUT"
			fi
			[ "$(stat -c '%G %a' /run/jobd/jobd.sock)" = "jobd 660" ] &&
				ok "socket group jobd, mode 0660" || fail "socket: $(ls -l /run/jobd/jobd.sock)"
		else
			fail "the installed jobd did not answer; its log:"; tail -n 30 "$T/jobd2.log"
		fi
		kill -TERM "$JOBD_PID"; wait "$JOBD_PID" 2>/dev/null; JOBD_PID=
		if purge_packages && [ ! -e /etc/jobd/jobd.conf ] && [ ! -e /usr/sbin/jobd ]; then
			ok "apt-get purge"
		else
			fail "apt-get purge left files: $(ls /etc/jobd /usr/sbin/jobd 2>&1)"
		fi
	fi
else
	echo "package: the apt-get install part skipped (JOBD_TEST_PACKAGE_INSTALL=1, as root)"
fi

[ "$fails" -eq 0 ] && echo "package: PASS" || echo "package: FAIL ($fails)"
[ "$fails" -eq 0 ]
