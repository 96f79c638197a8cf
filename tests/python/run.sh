#!/bin/sh
# Install the Python package from ./python into a fresh venv under BUILD_DIR, offline,
# bundling BUILD_DIR's libremsess.so.0, and run tests/python against that installation.
# Usage: tests/python/run.sh BUILD_DIR [pytest args...]
set -eu
if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD_DIR [pytest args...]" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
shift
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=/usr/bin/python3          # Debian's: python3-pytest and python3-pytest-asyncio come from apt
venv="$build/python-venv"

if [ ! -e "$build/libremsess.so.0" ]; then
	echo "$0: $build/libremsess.so.0 not found: build the C library first" >&2
	exit 2
fi
rm -rf "$venv"
"$py" -m venv --system-site-packages "$venv"
# --no-index --no-build-isolation: nothing is downloaded; the in-tree backend needs nothing.
PYTHONDONTWRITEBYTECODE=1 REMSESS_BUILD_DIR="$build" "$venv/bin/pip" install --quiet --no-index --no-build-isolation \
	--disable-pip-version-check "$root/python"

# Run from outside the source tree, without REMSESS_LIBRARY, so what is tested is the
# installed package and the library bundled in it.
cd "$build"
unset REMSESS_LIBRARY PYTHONPATH
export REMSESS_BUILD_DIR="$build" REMSESS_EXPECT_INSTALLED="$venv" PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -p no:cacheprovider -q --rootdir "$here" "$here" "$@"
