#!/bin/sh
# Install the Debian 12 packages remsess needs to build and test, if missing.
# Usage: scripts/deps.sh [--ci]   (--ci adds the tools CI uses: valgrind, and
# clang-14 with its sanitizer and libFuzzer runtimes for scripts/fuzz.sh)
set -eu

pkgs="gcc make cmake pkg-config libc6-dev libcurl4-openssl-dev libxml2-dev libssl-dev
libssh2-1-dev libjansson-dev libcmocka-dev python3 python3-yaml openssl
openssh-server openssh-client"
if [ "${1:-}" = "--ci" ]; then
	pkgs="$pkgs valgrind clang-14 libclang-rt-14-dev"
fi

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "remsess: installing Debian packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "remsess: these packages are missing and I am not root:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
