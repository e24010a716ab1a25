#!/usr/bin/env bash
# Builds tests/e2e/c_api.c (C11) against a generated model and runs it.
# usage: c_api.sh KERASC MODEL_FILE WORK_DIR [kerasc compile flags...]
set -euo pipefail
kerasc=$1 model=$2 work=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
"$kerasc" compile "$model" -o "$work/out" --name model "$@"
cc -std=c11 -O2 -Wall -Wextra -Werror -I"$work/out" -c "$here/c_api.c" -o "$work/c_api.o"
c++ -std=c++17 -O2 -Wall -Wextra -Werror -I"$work/out/runtime" -I"$work/out" \
  "$work/out/model.cpp" "$work/c_api.o" -Wl,--wrap=malloc,--wrap=_Znwm -lm -o "$work/c_api"
# From the output directory, where an external weights file is found by default.
(cd "$work/out" && "$work/c_api")
