#!/usr/bin/env bash
# predict reads CSV input (one sample per row) and writes CSV output; compared with Keras.
# usage: csv.sh KERASC NPY_COMPARE FIXTURE_DIR WORK_DIR
set -euo pipefail
kerasc=$1 compare=$2 fixture=$3 work=$4
rm -rf "$work"
mkdir -p "$work"
"$kerasc" compile "$fixture/model.keras" -o "$work/out" --name model
c++ -std=c++17 -O2 -Wall -Wextra -Werror -I"$work/out" -I"$work/out/runtime" \
  "$work/out/model.cpp" "$work/out/main.cpp" -o "$work/model"
"$work/model" predict --input "$fixture/input_0.csv" --output "$work/output_0.csv"
"$compare" "$work/output_0.csv" "$fixture/output_0.npy"
