#!/usr/bin/env bash
# The CNN sample end to end (samples/digits_cnn): compile the untrained Keras model, build the
# program, train it with its own `fit` using the recipe Keras used (samples/digits_cnn/
# keras_result.json: epochs, batch size, shuffled; Adam and the loss come from the model's
# compile config), evaluate on the test split, and require the test accuracy within 0.02 of
# Keras's recorded figure (7 of 360 images). kerasc shuffles with its own RNG, so the two models
# differ; Keras itself lands between 0.961 and 0.969 over five shuffle seeds (recorded in the
# JSON), and a broken convolution/pooling gradient ends far below (the untrained model: ~0.04).
#
# usage: digits_cnn.sh KERASC CXX WORK_DIR
set -euo pipefail
kerasc=$1 cxx=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
sample=$root/samples/digits_cnn
data=$root/samples/digits
rm -rf "$work" && mkdir -p "$work"

"$kerasc" compile "$sample/digits_cnn.keras" -o "$work/out" --name digits_cnn > "$work/compile.log"
"$cxx" -std=c++17 -O2 -Wall -Wextra -Werror -I"$work/out" -I"$work/out/runtime" \
  "$work/out/digits_cnn.cpp" "$work/out/main.cpp" -o "$work/digits_cnn"

# The recipe and Keras's accuracy, from the committed JSON (no Python needed).
field() { sed -n "s/^ *\"$1\": \([0-9.]*\),\{0,1\}$/\1/p" "$sample/keras_result.json" | head -1; }
epochs=$(field epochs) batch=$(field batch_size) seed=$(field seed)
keras_acc=$(field test_accuracy)
[[ -n $epochs && -n $batch && -n $seed && -n $keras_acc ]] || {
  echo "digits_cnn.sh: could not read the recipe from keras_result.json" >&2; exit 1; }

"$work/digits_cnn" fit --x "$data/train_x.npy" --y "$data/train_y.npy" --epochs "$epochs" \
  --batch-size "$batch" --seed "$seed" --verbose 0 --history "$work/history.csv" \
  --save-checkpoint "$work/trained.kck" > "$work/fit.log"
"$work/digits_cnn" evaluate --x "$data/test_x.npy" --y "$data/test_y.npy" \
  --checkpoint "$work/trained.kck" --verbose 0 | tee "$work/evaluate.log"
acc=$(sed -n 's/^accuracy: \([0-9.]*\)$/\1/p' "$work/evaluate.log")
[[ -n $acc ]] || { echo "digits_cnn.sh: evaluate printed no accuracy" >&2; exit 1; }
awk -v ours="$acc" -v keras="$keras_acc" 'BEGIN {
  d = ours - keras; if (d < 0) d = -d
  printf "test accuracy: kerasc %.4f, Keras %.4f, |diff| %.4f (tolerance 0.02)\n", ours, keras, d
  exit !(d <= 0.02) }'
