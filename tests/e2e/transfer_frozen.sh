#!/usr/bin/env bash
# Transfer learning over a real fit: the training fixture `transfer` (a frozen Conv2D + BN +
# pooling base, trainable=False on each layer, and a trainable Dense head; Adam(0.01)) trained
# by the generated program for 10 shuffled epochs of its 24 samples (30 steps, 10x the 3 steps
# train.transfer compares with Keras). Checks:
#   - every frozen variable (conv kernels and biases, BN gamma/beta and moving statistics:
#     a frozen BN runs in inference mode in Keras 3 and never updates them) is BIT-identical
#     to its initial value: compare_history at tolerance 0 against expected.json's
#     "weights_frozen" (exact float32 values);
#   - the head did train: the last epoch's loss is below the first's.
#
# usage: transfer_frozen.sh KERASC COMPARE_HISTORY CXX CASE_DIR WORK_DIR
set -euo pipefail
kerasc=$1 compare=$2 cxx=$3 case_dir=$4 work=$5
rm -rf "$work" && mkdir -p "$work"
"$kerasc" compile "$case_dir/model.keras" -o "$work/out" --name model > "$work/compile.log"
"$cxx" -std=c++17 -O2 -Wall -Wextra -Werror -I"$work/out" -I"$work/out/runtime" \
  "$work/out/model.cpp" "$work/out/main.cpp" -o "$work/model"
"$work/model" fit --x "$case_dir/x.npy" --y "$case_dir/y.npy" --epochs 10 --batch-size 8 \
  --seed 5 --verbose 0 --history "$work/history.csv" --save-checkpoint "$work/after.kck" \
  > "$work/fit.log"

echo "== frozen variables after 30 steps vs their initial values (tolerance 0: bit identity)"
"$compare" weights "$work/after.kck" "$case_dir/expected.json" weights_frozen 0

awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "loss") c = i; next }
         NR == 2 { first = $c } { last = $c }
         END { printf "loss: first epoch %s, last epoch %s\n", first, last
               if (c == "" || !(last + 0 < first + 0)) { print "FAIL: the head did not train"; exit 1 } }' \
  "$work/history.csv"
