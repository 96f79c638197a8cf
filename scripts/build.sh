#!/bin/sh
# Configure and build remsess into build/ (or $RMS_BUILD_DIR).
# Extra arguments go to cmake's configure step.
set -eu
cd "$(dirname "$0")/.."
dir=${RMS_BUILD_DIR:-build}
werror=OFF
[ -n "${CI:-}" ] && werror=ON
cmake -S . -B "$dir" -DRMS_WERROR=$werror "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
