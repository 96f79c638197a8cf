#!/bin/sh
# Install the Debian 12 packages remsess needs to build and test, if missing.
# Usage: scripts/deps.sh [--ci]   (--ci adds the tools CI uses: valgrind, and
# clang-14 with its sanitizer and libFuzzer runtimes for scripts/fuzz.sh)
set -eu

pkgs="gcc make cmake pkg-config libc6-dev libcurl4-openssl-dev libxml2-dev libssl-dev
libssh2-1-dev libjansson-dev libcmocka-dev python3 python3-yaml openssl
openssh-server openssh-client libkrb5-dev gss-ntlmssp krb5-kdc krb5-admin-server krb5-user
python3-gssapi python3-venv python3-pytest python3-pytest-asyncio faketime"
if [ "${1:-}" = "--ci" ]; then
	pkgs="$pkgs valgrind clang-14 libclang-rt-14-dev"
fi

# Real PowerShell 7.6 for the PowerShell remoting tests (the SSH
# `powershell` subsystem): the .NET global tool, user-wide, when the .NET
# SDK is there (version 7.7.0 of the tool does not install on .NET 10).
# Without it those tests say they are skipped (in CI they fail).
install_pwsh() {
	if [ -n "${RMS_PWSH:-}" ] && [ -x "$RMS_PWSH" ]; then return 0; fi
	if [ -x "$HOME/.dotnet/tools/pwsh" ] || command -v pwsh >/dev/null 2>&1; then return 0; fi
	if ! command -v dotnet >/dev/null 2>&1; then
		echo "remsess: no .NET SDK, so no PowerShell 7.6: the PowerShell remoting tests will be skipped" >&2
		return 0
	fi
	echo "remsess: installing PowerShell 7.6.10 (dotnet tool install --global PowerShell)"
	dotnet tool install --global PowerShell --version 7.6.10 >/dev/null
}
install_pwsh

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
