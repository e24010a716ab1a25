#!/usr/bin/env bash
# The main job on the bundled sample: build kerasc, compile the digits MLP (trained in Keras on
# scikit-learn's digits) into a C++ program, build that program with its own CMakeLists.txt, and
# run it on the held-out test split, printing predictions and accuracy next to Keras's; then
# train the same model from scratch with the generated program and evaluate it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
sample=$root/samples/digits
out=$build/sample/digits_mlp

"$root/scripts/build.sh" > /dev/null
echo "== kerasc summary samples/digits/digits_mlp.keras"
"$build/tools/kerasc" summary "$sample/digits_mlp.keras"
echo
echo "== kerasc compile samples/digits/digits_mlp.keras -o $out --report"
"$build/tools/kerasc" compile "$sample/digits_mlp.keras" -o "$out" --report
echo
echo "== building the generated program (cmake)"
cmake -S "$out" -B "$out/build" > /dev/null
cmake --build "$out/build" -j 2 > /dev/null
echo "== $out/build/digits_mlp predict --input test_x.npy --labels test_y.npy"
"$out/build/digits_mlp" predict --input "$sample/test_x.npy" --labels "$sample/test_y.npy" \
  --output "$out/predictions.npy"
"$out/build/digits_mlp" predict --input "$sample/test_x.npy" --labels "$sample/test_y.npy" --show 5
echo "Keras's test accuracy for the same model: $(cat "$sample/keras_test_accuracy.txt")"
echo -n "kerasc vs Keras predictions: "
"$build/tests/npy_compare" "$out/predictions.npy" "$sample/keras_test_predictions.npy"

# Training: the same program also trains. --reinitialize draws every weight from its layer's
# initializer (seeded), so this is the Keras recipe of samples/digits/train.py run from scratch
# by the generated code: Adam 1e-3, sparse categorical cross-entropy, 40 epochs, batch 32, shuffled.
echo
echo "== $out/build/digits_mlp fit --reinitialize --seed 42 --epochs 40 --batch-size 32 (training from scratch)"
"$out/build/digits_mlp" fit --x "$sample/train_x.npy" --y "$sample/train_y.npy" --reinitialize \
  --seed 42 --epochs 40 --batch-size 32 --history "$out/history.csv" \
  --save-checkpoint "$out/trained.kck" --save "$out/trained.weights.h5" \
  --save-keras "$out/trained.keras"
echo "== $out/build/digits_mlp evaluate --x test_x.npy --y test_y.npy --checkpoint trained.kck"
"$out/build/digits_mlp" evaluate --x "$sample/test_x.npy" --y "$sample/test_y.npy" \
  --checkpoint "$out/trained.kck" --verbose 0
echo "Keras's test accuracy with the same recipe (samples/digits/train.py): $(cat "$sample/keras_test_accuracy.txt")"
echo "Trained weights: $out/trained.weights.h5 and $out/trained.keras (load them with Keras),"
echo "history: $out/history.csv"
