#!/bin/sh
# The whole test suite: install what is missing, build, run every test.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
sh scripts/build.sh
cd "${RMS_BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)"
