#!/bin/bash
# deps.sh: install the Debian packages needed to build, test and demo jobd.
# Idempotent: when everything is present it only asks dpkg and exits.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

PACKAGES=(
	build-essential autoconf automake libtool pkg-config
	libevent-dev libhiredis-dev libjansson-dev libcurl4-openssl-dev
	libcmocka-dev libmsgpack-dev libcrypt-dev libssl-dev
	libsystemd-dev systemd
	redis-server tzdata libinih-dev mandoc
	python3 python3-flask python3-pytest python3-redis python3-rq python3-msgpack gunicorn
	clang libclang-rt-14-dev valgrind curl
	prometheus
	chromium chromium-driver python3-selenium
	debhelper dh-python python3-setuptools devscripts lintian fakeroot libsystemd-dev mandoc
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PACKAGES[@]} packages present"
	exit 0
fi

echo "deps: installing: ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	else
		echo "deps: not root and no sudo; install these packages: ${missing[*]}" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends -o Dpkg::Options::=--force-confold "${missing[@]}"
echo "deps: done"
