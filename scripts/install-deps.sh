#!/usr/bin/env bash
# Installs kerasc's build and test dependencies from Debian's packages (Debian 12, as root, or
# with sudo). Does nothing when they are all present, so it is cheap to call before every build.
set -euo pipefail
packages=(
  build-essential cmake ninja-build python3 clang-15
  llvm-15-dev llvm-15-tools libmlir-15-dev mlir-15-tools
  libfmt-dev catch2 libhdf5-dev libzip-dev nlohmann-json3-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "kerasc: installing ${missing[*]}"
sudo=""
if [[ $(id -u) != 0 ]]; then sudo=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
