#!/usr/bin/env bash
# Every noise layer in training (SpatialDropout1D, Dropout, GaussianNoise, GaussianDropout,
# AlphaDropout, ActivityRegularization): the noise_identity fixture compiled for training with
# --loss mse --optimizer sgd builds with -Werror and trains; before training, `evaluate` on the
# model's own outputs gives Keras's loss, which is only ActivityRegularization's penalty
# (tests/fixtures/training/noise_evaluate.json; tolerance 1e-5 relative).
# usage: noise_layers.sh KERASC CXX FIXTURES WORK
set -euo pipefail
kerasc=$1 cxx=$2 fixtures=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
f=$fixtures/models/noise_identity
"$kerasc" compile "$f/model.keras" -o "$work/out" --name model --loss mse --optimizer sgd > /dev/null
"$cxx" -std=c++17 -O2 -Wall -Wextra -Werror -I"$work/out" -I"$work/out/runtime" \
  "$work/out/model.cpp" "$work/out/main.cpp" -o "$work/model"
ours=$("$work/model" evaluate --x "$f/input_0.npy" --y "$f/output_0.npy" --verbose 0 | sed -n 's/^loss: //p')
keras=$(sed -n 's/.*"evaluate_loss": \([-0-9.e]*\).*/\1/p' "$fixtures/training/noise_evaluate.json")
echo "evaluate loss: ours $ours, Keras $keras"
awk -v a="$ours" -v b="$keras" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-5 * (b < 0 ? -b : b)) }' \
  || { echo "FAIL: evaluate loss differs from Keras's"; exit 1; }
"$work/model" fit --x "$f/input_0.npy" --y "$f/output_0.npy" --epochs 3 --batch-size 2 --seed 3 \
  --verbose 0 --history "$work/h.csv"
[[ $(wc -l < "$work/h.csv") == 4 ]] || { echo "FAIL: expected 3 epochs in the history"; exit 1; }
echo ok
