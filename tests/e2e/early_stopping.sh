#!/usr/bin/env bash
# EarlyStopping end to end against Keras (tests/fixtures/training/fit/early_stopping/):
# initial.keras (6 -> 32 tanh -> 32 tanh -> 1, Adam(0.01), mse), batch 16, up to 50 epochs, no
# shuffle, validation data, EarlyStopping(monitor=val_loss, patience=2, min_delta=0,
# restore_best_weights=True) through `--early-stopping ...`. Checks:
#   - the run stops after the same epoch as Keras (history has stopped_epoch + 1 rows), and every
#     epoch's loss / val_loss is within 1e-4 relative of Keras's (measured: <= 2.7e-7; the
#     fixture's smallest decision margin is 2.2e-2 relative, far above that, so the stop is not
#     a coin toss);
#   - the messages are Keras's (its format strings with verbose=1): "Epoch 8: early stopping" and
#     "Restoring model weights from the end of the best epoch: 6.";
#   - the final checkpoint holds the restored (best epoch's) weights: within 1e-5 * max(1, |w|)
#     of Keras's weights_restored (measured: 1.2e-6, Adam(0.01) amplifies rounding more than the
#     digits run), and the predictions on the validation set with them within 1e-5 * max(1, |p|)
#     of Keras's (measured: 1.8e-7).
#
# usage: early_stopping.sh KERASC COMPARE_HISTORY CXX WORK_DIR
set -euo pipefail
kerasc=$1 compare=$2 cxx=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fix=$root/tests/fixtures/training/fit/early_stopping
rm -rf "$work" && mkdir -p "$work"

"$kerasc" compile "$fix/initial.keras" -o "$work/out" --name model > "$work/compile.log"
flags=(-std=c++17 -O2 -Wall -Wextra -Werror -I"$work/out" -I"$work/out/runtime")
"$cxx" "${flags[@]}" -c "$work/out/model.cpp" -o "$work/model.o"
"$cxx" "${flags[@]}" "$work/out/main.cpp" "$work/model.o" -o "$work/model"
"$cxx" "${flags[@]}" -DCOMPARE_HISTORY_MODEL_DRIVER "$root/tests/tools/compare_history.cpp" \
  "$work/model.o" -o "$work/driver"

"$work/model" fit --x "$fix/x_train.npy" --y "$fix/y_train.npy" \
  --validation-x "$fix/x_val.npy" --validation-y "$fix/y_val.npy" \
  --epochs 50 --batch-size 16 --no-shuffle --verbose 2 \
  --early-stopping monitor=val_loss,patience=2,min_delta=0,restore_best_weights,verbose=1 \
  --history "$work/h.csv" --save-checkpoint "$work/final.kck" > "$work/fit.log"
cat "$work/fit.log"

status=0
echo "== history (same number of epochs, per-epoch deviations)"
"$compare" history "$work/h.csv" "$fix/early_stopping.json" --loss-rel 1e-4 || status=1

echo "== callback messages"
# Keras (epochs 1-based in messages): stopped_epoch 7 -> "Epoch 8", best_epoch 5 -> "epoch: 6".
expected=$'Epoch 8: early stopping\nRestoring model weights from the end of the best epoch: 6.'
got=$(grep -E '^(Epoch [0-9]+: early stopping|Restoring model weights)' "$work/fit.log" || true)
if [[ "$got" == "$expected" ]]; then
  echo "ok   messages match Keras's"
else
  printf 'FAIL messages:\n%s\nexpected:\n%s\n' "$got" "$expected"
  status=1
fi

echo "== restored weights vs Keras's weights_restored"
"$compare" weights "$work/final.kck" "$fix/early_stopping.json" weights_restored 1e-5 || status=1

echo "== predictions on the validation set with the restored weights"
"$work/driver" predict "$work/final.kck" "$fix/x_val.npy" "$work/pred_val.npy"
"$compare" predictions "$work/pred_val.npy" "$fix/early_stopping.json" predictions_val_restored 1e-5 || status=1
exit $status
