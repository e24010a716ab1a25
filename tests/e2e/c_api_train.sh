#!/usr/bin/env bash
# Builds tests/e2e/c_api_train.c (C11) against the generated training build of the digits MLP
# (compiled as C++, malloc / operator new wrapped to count allocations) and runs it; see the C
# file for what is checked.
# usage: c_api_train.sh KERASC WORK_DIR
set -euo pipefail
kerasc=$1 work=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rm -rf "$work" && mkdir -p "$work"
"$kerasc" compile "$root/tests/fixtures/training/fit/digits_mlp_initial.keras" -o "$work/out" \
  --name model > "$work/compile.log"
cc -std=c11 -O2 -Wall -Wextra -Werror -I"$work/out" -c "$here/c_api_train.c" -o "$work/c_api_train.o"
c++ -std=c++17 -O2 -Wall -Wextra -Werror -I"$work/out/runtime" -I"$work/out" \
  "$work/out/model.cpp" "$work/c_api_train.o" -Wl,--wrap=malloc,--wrap=_Znwm -lm -o "$work/c_api_train"
# In the work directory: the program writes c_api_train.kck there.
(cd "$work" && "$work/c_api_train")
