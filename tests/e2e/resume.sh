#!/usr/bin/env bash
# A training run killed with SIGKILL at an arbitrary moment resumes to bit-identical results.
# Model: tests/fixtures/models/functional_diamond (uncompiled; Dense diamond with Dropout(0.25)),
# compiled with --loss mse --optimizer adam, so shuffling and dropout both draw random numbers.
# Data: 200000 synthetic samples (compare_history make-data), batch 32, 6 epochs, seed 5.
#
#   1. the reference: one uninterrupted run with --checkpoint (written after every epoch);
#   2. the same command, killed with kill -9 once its first checkpoint exists (plus a short
#      delay), then `fit --resume` killed again once the checkpoint has advanced, then
#      `fit --resume` to completion. Each kill must land while the program runs and before the
#      last epoch was checkpointed (checked through the checkpoint's epoch_completed); if the
#      machine is so fast or so slow that it does not, the test says so and fails (no timing
#      assumption decides pass/fail otherwise);
#   3. the final checkpoints (--save-checkpoint), the per-epoch checkpoints and the history CSVs
#      of both runs must be bit for bit identical (tolerance: none).
#
# usage: resume.sh KERASC COMPARE_HISTORY CXX WORK_DIR
set -euo pipefail
kerasc=$1 compare=$2 cxx=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rm -rf "$work" && mkdir -p "$work/ref" "$work/killed"

"$kerasc" compile "$root/tests/fixtures/models/functional_diamond/model.keras" -o "$work/out" \
  --name model --loss mse --optimizer adam > "$work/compile.log"
"$cxx" -std=c++17 -O2 -Wall -Wextra -Werror -I"$work/out" -I"$work/out/runtime" \
  "$work/out/model.cpp" "$work/out/main.cpp" -o "$work/model"
"$compare" make-data 200000 6 3 "$work/x.npy" "$work/y.npy"

epochs=6
fit() {  # fit DIR [extra flags]: the same command for every run
  local dir=$1
  shift
  "$work/model" fit --x "$work/x.npy" --y "$work/y.npy" --epochs $epochs --batch-size 32 \
    --seed 5 --verbose 0 --checkpoint "$dir/ck.kck" --history "$dir/h.csv" \
    --save-checkpoint "$dir/final.kck" "$@"
}

fit "$work/ref"

# epoch_completed of the killed run's checkpoint, -1 when there is none yet.
ck_epoch() {
  if [[ -f $work/killed/ck.kck ]]; then "$compare" epoch "$work/killed/ck.kck"; else echo -1; fi
}

# kill_after EPOCH [flags]: starts the run, waits until the checkpoint shows an epoch after EPOCH,
# lets it run a little into the next epoch, and kills it with SIGKILL.
kill_after() {
  local after=$1
  shift
  fit "$work/killed" "$@" > "$work/killed/run.log" 2>&1 &
  local pid=$!
  while kill -0 $pid 2> /dev/null && (($(ck_epoch) <= after)); do sleep 0.02; done
  sleep 0.05
  if ! kill -9 $pid 2> /dev/null; then
    wait $pid || true
    echo "FAIL: the run finished before it could be killed (epoch_completed $(ck_epoch));" \
      "this machine is faster than the test assumes: raise the sample count"
    exit 1
  fi
  local rc=0
  { wait $pid; } 2> /dev/null || rc=$?  # no "Killed" job message
  local e
  e=$(ck_epoch)
  echo "killed (exit $rc) with epoch_completed $e of 0..$((epochs - 1))"
  if ((rc != 137 || e >= epochs - 1 || e <= after)); then
    echo "FAIL: the kill did not land mid-run (exit $rc, epoch_completed $e)"
    exit 1
  fi
  if [[ -f $work/killed/final.kck ]]; then
    echo "FAIL: a killed run wrote its final checkpoint"
    exit 1
  fi
}

kill_after -1
first=$(ck_epoch)
kill_after "$first" --resume
second=$(ck_epoch)
fit "$work/killed" --resume 2> "$work/killed/last.err"

status=0
# A resume that silently started over would also match the reference: the last run must have
# trained only the epochs after the checkpoint ("Trained K epochs" counts the ones it ran).
ran=$(sed -n 's/^Trained \([0-9]*\) epochs.*/\1/p' "$work/killed/last.err")
if [[ $ran == $((epochs - 1 - second)) ]]; then
  echo "ok   the last run resumed after epoch $((second + 1)) and trained $ran epochs"
else
  echo "FAIL: the last run trained '$ran' epochs, expected $((epochs - 1 - second))"
  status=1
fi
"$compare" same "$work/ref/final.kck" "$work/killed/final.kck" || status=1
for f in final.kck ck.kck h.csv; do
  if cmp "$work/ref/$f" "$work/killed/$f"; then echo "ok   $f identical"; else status=1; fi
done
echo "$( (($status == 0)) && echo PASS || echo FAIL): resumed after two kills, bit-identical to the uninterrupted run"
exit $status
