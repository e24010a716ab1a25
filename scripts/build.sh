#!/usr/bin/env bash
# Configures and builds kerasc into build/ (BUILD_DIR overrides). Installs missing dependencies.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
"$root/scripts/install-deps.sh"
generator=()
if command -v ninja > /dev/null; then generator=(-G Ninja); fi
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release > /dev/null
fi
cmake --build "$build" -j "${JOBS:-2}"
