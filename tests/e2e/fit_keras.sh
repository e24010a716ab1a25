#!/usr/bin/env bash
# Whole `fit` runs of a generated training program against Keras's (tests/fixtures/training/fit/):
# digits_mlp_initial.keras (64 -> 32 relu -> 16 relu -> 10 softmax, Adam(1e-3), sparse CCE,
# accuracy) with Keras's exact call: epochs 10, batch 32, validation_split 0.2.
#
#   noshuffle  shuffle=False, so kerasc runs the same 360 steps on the same batches as Keras:
#     - every epoch's loss and val_loss within 1e-4 relative (measured: <= 1.3e-7; float32
#       through 360 Adam steps, where only summation order and libm differ);
#     - accuracy / val_accuracy within one sample of the set (1/1149, 1/288; measured: the same
#       counts at every epoch; one sample is the smallest disagreement a near-tie of two
#       probabilities can cause, and the loss agreement above makes more than that a bug);
#     - the final weights (--save-checkpoint) within 1e-5 * max(1, |w|) of Keras's
#       (measured: 1.5e-7);
#     - test-set evaluate: the CLI's printed "loss: / accuracy:" lines read as Keras's values
#       printed with 4 decimals, and at full precision (a driver linked with the model) loss
#       within 1e-4 relative, accuracy within one test sample (1/360); measured 8.7e-11 and 0;
#     - a table of the per-epoch deviations is printed.
#   shuffle    shuffle=True with kerasc's own shuffle (Keras draws np.random.permutation, which
#     kerasc does not reproduce): the test accuracy after training is within 0.02 of Keras's.
#
# usage: fit_keras.sh KERASC COMPARE_HISTORY CXX WORK_DIR noshuffle|shuffle
set -euo pipefail
kerasc=$1 compare=$2 cxx=$3 work=$4 mode=$5
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fix=$root/tests/fixtures/training/fit
data=$root/samples/digits
rm -rf "$work" && mkdir -p "$work"

"$kerasc" compile "$fix/digits_mlp_initial.keras" -o "$work/out" --name model > "$work/compile.log"
flags=(-std=c++17 -O2 -Wall -Wextra -Werror -I"$work/out" -I"$work/out/runtime")
"$cxx" "${flags[@]}" -c "$work/out/model.cpp" -o "$work/model.o"
"$cxx" "${flags[@]}" "$work/out/main.cpp" "$work/model.o" -o "$work/model"
# The driver: compare_history with the model linked in, for full-precision evaluate.
"$cxx" "${flags[@]}" -DCOMPARE_HISTORY_MODEL_DRIVER "$root/tests/tools/compare_history.cpp" \
  "$work/model.o" -o "$work/driver"

case $mode in
noshuffle)
  "$work/model" fit --x "$data/train_x.npy" --y "$data/train_y.npy" --epochs 10 --batch-size 32 \
    --no-shuffle --validation-split 0.2 --verbose 2 --history "$work/h.csv" \
    --save-checkpoint "$work/final.kck" > "$work/fit.log"
  status=0
  echo "== per-epoch deviations from Keras's history"
  "$compare" history "$work/h.csv" "$fix/history_noshuffle.json" --loss-rel 1e-4 \
    --train-n 1149 --val-n 288 || status=1
  echo "== final weights vs weights_after_noshuffle.json"
  "$compare" weights "$work/final.kck" "$fix/weights_after_noshuffle.json" . 1e-5 || status=1
  echo "== evaluate on the test split (CLI, 4 decimals)"
  "$work/model" evaluate --x "$data/test_x.npy" --y "$data/test_y.npy" --checkpoint "$work/final.kck" \
    --verbose 0 | tee "$work/evaluate.log"
  # "loss: 0.4017" -> loss=0.4017
  mapfile -t printed < <(sed -n 's/^\([a-z_]*\): \(.*\)$/\1=\2/p' "$work/evaluate.log")
  "$compare" values "${printed[@]}" --expect "$fix/history_noshuffle.json" evaluate print4 || status=1
  echo "== evaluate on the test split (full precision)"
  mapfile -t full < <("$work/driver" evaluate "$work/final.kck" "$data/test_x.npy" "$data/test_y.npy" 32)
  # accuracy within one test sample: 1/360 = 0.00278 (loss: 1e-4 relative).
  "$compare" values "${full[0]}" --expect "$fix/history_noshuffle.json" evaluate 1e-4 || status=1
  "$compare" values "${full[1]}" --expect "$fix/history_noshuffle.json" evaluate 0.0027778 || status=1
  exit $status
  ;;
shuffle)
  "$work/model" fit --x "$data/train_x.npy" --y "$data/train_y.npy" --epochs 10 --batch-size 32 \
    --validation-split 0.2 --seed 1234 --verbose 0 --history "$work/h.csv" \
    --save-checkpoint "$work/final.kck" > "$work/fit.log"
  mapfile -t full < <("$work/driver" evaluate "$work/final.kck" "$data/test_x.npy" "$data/test_y.npy" 32)
  printf '%s\n' "${full[@]}"
  # Only the accuracy: a different order gives a different (but equally good) model.
  acc=$(printf '%s\n' "${full[@]}" | grep '^accuracy=')
  "$compare" values "$acc" --expect "$fix/history_shuffle.json" evaluate 0.02
  ;;
*)
  echo "fit_keras.sh: mode must be noshuffle or shuffle" >&2
  exit 2
  ;;
esac
