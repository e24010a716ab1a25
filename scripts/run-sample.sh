#!/usr/bin/env bash
# The main job on the bundled sample: build kerasc, compile the digits MLP (trained in Keras on
# scikit-learn's digits) into a C++ program, build that program with its own CMakeLists.txt, and
# run it on the held-out test split, printing predictions and accuracy next to Keras's.
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
