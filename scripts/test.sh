#!/usr/bin/env bash
# Sets up, builds and runs every test (lit, unit, end-to-end against Keras fixtures, CLI errors).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
cd "$build"
ctest -j "${JOBS:-2}" --output-on-failure
