#!/usr/bin/env bash
# Image augmentation layers (RandomFlip, RandomRotation, RandomZoom, RandomTranslation,
# RandomContrast) and SpatialDropout2D in `fit`, on a fixture in either data format
# (augment_identity: channels_last, augment_channels_first): the model compiled for training
# builds with -Werror; `evaluate` before training, on Keras's own predictions as targets, gives
# loss 0 (<= 1e-10: the layers are identities outside training); two `fit` runs with the same
# --seed end with bit-identical weights (same predictions, byte for byte); a run with another
# seed ends elsewhere; SpatialDropout2D's backward pass draws the mask of its forward pass (same
# NoiseShape in the generated code). The runs use --no-shuffle, so the seed reaches the result
# only through the layers' random draws: the augmentation and dropout really act in training.
# usage: augment.sh KERASC CXX FIXTURE_DIR WORK
set -euo pipefail
kerasc=$1 cxx=$2 f=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
"$kerasc" compile "$f/model.keras" -o "$work/out" --name model --loss mse --optimizer adam > /dev/null
grep -q "kerasc::augment_forward" "$work/out/model.cpp" \
  || { echo "FAIL: the training step renders no augmentation"; exit 1; }
# SpatialDropout2D sits after the Conv2D, so fit differentiates it: its backward pass must redraw
# the forward mask, i.e. use the same NoiseShape (channels and layout) as its forward pass.
grep -q "kerasc::noise_backward" "$work/out/model.cpp" \
  || { echo "FAIL: no SpatialDropout2D backward pass in the training step"; exit 1; }
shapes=$(grep -o "kerasc::NoiseShape{[^}]*}" "$work/out/model.cpp" | sort -u)
echo "SpatialDropout2D draws: $shapes"
[[ $(wc -l <<< "$shapes") == 1 ]] \
  || { echo "FAIL: SpatialDropout2D's forward and backward draw different masks"; exit 1; }
"$cxx" -std=c++17 -O2 -Wall -Wextra -Werror -I"$work/out" -I"$work/out/runtime" \
  "$work/out/model.cpp" "$work/out/main.cpp" -o "$work/model"

x=$f/input_0.npy y=$f/output_0.npy
loss=$("$work/model" evaluate --x "$x" --y "$y" --verbose 0 | sed -n 's/^loss: //p')
echo "evaluate loss before training: $loss"
awk -v a="$loss" 'BEGIN { exit !(a <= 1e-10 && a >= -1e-10) }' \
  || { echo "FAIL: evaluate is not the identity model's (augmentation active outside fit?)"; exit 1; }

train() { # seed name
  "$work/model" fit --x "$x" --y "$y" --epochs 3 --batch-size 2 --no-shuffle --seed "$1" \
    --verbose 0 --save-checkpoint "$work/$2.kck" --history "$work/$2.csv"
  "$work/model" predict --checkpoint "$work/$2.kck" --input "$x" --output "$work/$2.npy" > /dev/null
}
train 3 a
train 3 b
train 4 c
cmp -s "$work/a.npy" "$work/b.npy" || { echo "FAIL: same seed, different weights"; exit 1; }
cmp -s "$work/a.npy" "$work/c.npy" && { echo "FAIL: another seed gave the same weights"; exit 1; }
cmp -s "$work/a.csv" "$work/b.csv" || { echo "FAIL: same seed, different loss history"; exit 1; }
paste -d' ' "$work/a.csv" "$work/c.csv"
echo ok
