#!/bin/bash
# install-packages.sh: the production path.  Builds the Debian packages
# (scripts/package.sh), installs them with apt, checks the installed
# configuration and starts jobd under systemd.
#
#   scripts/install-packages.sh [--no-build] [--outdir DIR] [--dev]
#
# --no-build installs what DIR (default _packages/) holds; --dev adds
# libjobclient-dev (headers, for C programs).  Run as root (or with sudo
# available).  Then: edit /etc/jobd/jobd.conf, `systemctl reload jobd`;
# docs/operations.md.
set -euo pipefail

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
OUTDIR=$SRCDIR/_packages
BUILD=yes
PKGS=(jobd libjobclient1 python3-jobclient)
while [ $# -gt 0 ]; do
	case "$1" in
	--no-build) BUILD=no ;;
	--outdir) OUTDIR=$2; shift ;;
	--outdir=*) OUTDIR=${1#--outdir=} ;;
	--dev) PKGS+=(libjobclient-dev) ;;
	-h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "install-packages: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case "$OUTDIR" in /*) ;; *) OUTDIR=$PWD/$OUTDIR ;; esac

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "install-packages: run as root" >&2; exit 1; }
	SUDO=(sudo)
fi

[ "$BUILD" = no ] || bash "$SRCDIR/scripts/package.sh" --outdir "$OUTDIR"

version=$(sed -n '1s/^jobd (\([^)]*\)).*/\1/p' "$SRCDIR/debian/changelog")
debs=()
for p in "${PKGS[@]}"; do
	f=$(ls "$OUTDIR/${p}_${version}_"*.deb 2>/dev/null | head -n1)
	[ -n "$f" ] || { echo "install-packages: no ${p}_${version} .deb in $OUTDIR" >&2; exit 1; }
	debs+=("$f")
done

echo "install-packages: apt-get install ${debs[*]##*/}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends -o Dpkg::Options::=--force-confold "${debs[@]}"

# Its first line says whether the configuration is good (all of it
# through sed: head would close the pipe under jobd, pipefail then fails).
"${SUDO[@]}" jobd --check -c /etc/jobd/jobd.conf | sed -n 1p
if [ -d /run/systemd/system ]; then
	"${SUDO[@]}" systemctl enable --now jobd
	"${SUDO[@]}" systemctl --no-pager status jobd | head -n 5 || true
	echo "install-packages: jobd runs; jobctl stats shows its queues"
else
	echo "install-packages: systemd is not running here: start jobd by hand," \
		"as user jobd: install -d -o jobd /run/jobd;" \
		"runuser -u jobd -- jobd -f -c /etc/jobd/jobd.conf"
fi
cat <<MSG
install-packages: next:
  sudoedit /etc/jobd/jobd.conf          # job types, workers, Redis
  sudo jobd --check -c /etc/jobd/jobd.conf && sudo systemctl reload jobd
  sudo adduser USER jobd                # lets USER's programs submit jobs
  docs/operations.md                    # upgrade, back up, monitor, tune
MSG
