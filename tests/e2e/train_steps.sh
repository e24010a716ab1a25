#!/usr/bin/env bash
# End-to-end training check against Keras: compile a training fixture (a compiled Keras model
# saved before training), build the generated program, run `fit` for one epoch over the
# fixture's 24 samples with batch 8 and no shuffle (= Keras's three train_on_batch calls), and
# compare the weights and the mean loss with what Keras recorded (see compare_training.cpp for
# the tolerances).
#
# usage: train_steps.sh KERASC COMPARE_TRAINING CXX CASE_DIR WORK_DIR [kerasc flags...]
set -euo pipefail
kerasc=$1 compare=$2 cxx=$3 case_dir=$4 work=$5
shift 5
rm -rf "$work" && mkdir -p "$work"
"$kerasc" compile "$case_dir/model.keras" -o "$work/out" --name model "$@" > "$work/compile.log"
"$cxx" -std=c++17 -O2 -Wall -Wextra -Werror -I"$work/out" -I"$work/out/runtime" \
  "$work/out/model.cpp" "$work/out/main.cpp" -o "$work/model"

# Multi-input/-output fixtures list their files in expected.json ("x_files", "y_files").
x=$("$compare" --files "$case_dir/expected.json" x_files "$case_dir")
y=$("$compare" --files "$case_dir/expected.json" y_files "$case_dir")
"$work/model" fit --x "$x" --y "$y" --epochs 1 --batch-size 8 --no-shuffle --verbose 0 \
  --history "$work/history.csv" --save-checkpoint "$work/after.kck" > "$work/fit.log"
loss=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "loss") c = i } NR == 2 { print $c }' \
  "$work/history.csv")
"$compare" "$work/after.kck" "$case_dir/expected.json" 3 --loss "$loss"
