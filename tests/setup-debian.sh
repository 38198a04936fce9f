#!/bin/sh
# Installs what heapprof needs to build and test on Debian 12, then generates ./configure.
# Run as root (or with sudo). Idempotent.
set -eu
PKGS="build-essential autoconf automake libtool pkg-config binutils
      libjemalloc-dev libjemalloc2 libunwind-dev zlib1g-dev
      golang-go google-perftools valgrind python3 perl libxml2-utils
      clang libpython3.11-testsuite
      libdw-dev elfutils debuginfod curl chromium fonts-dejavu-core man-db
      heaptrack time"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup: installing$missing"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi
cd "$(dirname "$0")/.."
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi
