#!/usr/bin/env bash
# `kerasc compare` on the digits MLP (trainable): it must exit 0 and its compare.md must hold a
# numeric agreement line, end-to-end rows with figures for both variants, and per-kernel tables
# where only the fused variant has fused kernels. Then the error paths: a model that does not
# compile (exit 1, the compiler's message, no temporary directory left) and an unknown option
# (exit 2, usage). Timings are not asserted on.
# usage: compare.sh KERASC MODEL_FILE MALFORMED_MODEL WORK_DIR
set -euo pipefail
kerasc=$1 model=$2 malformed=$3 work=$4
rm -rf "$work"
mkdir -p "$work"
fail() { echo "compare.sh: $*" >&2; exit 1; }

"$kerasc" compare "$model" --batch 1,8 --train-batch 16 --runs 2 --min-time 0.01 \
  --work "$work/w" > "$work/stdout.md" || fail "kerasc compare exited with $?"
md=$work/w/compare.md
[ -s "$md" ] || fail "$md is missing or empty"
cmp -s "$md" "$work/stdout.md" || fail "the printed report differs from $md"

number='[0-9][0-9.e+-]*'
grep -Eq "^Agreement: pass \(max abs diff $number, max rel diff $number\)$" "$md" ||
  fail "no agreement line with numbers"
range="$number \[$number–$number\]"
for task in "infer_b1 \| us" "infer_b8 \| us" "train_b16 \| samples/s"; do
  grep -Eq "^\| $task \| $range \| $range \| ${number}x \|$" "$md" ||
    fail "no end-to-end row '$task' with figures for both variants"
done

# A section: from its heading to the next heading.
section() { awk -v h="$1" '$0 == h { on = 1; next } /^#/ { on = 0 } on' "$md"; }
for task in infer_b8 train_b16; do
  fused=$(section "### fused kernels ($task)")
  unfused=$(section "### unfused kernels ($task)")
  grep -Eq "^\| 0 \| .*: .* \| $number \| $number%" <<< "$fused" || fail "no fused kernel rows ($task)"
  grep -Eq "^\| 0 \| .*: .* \| $number \| $number%" <<< "$unfused" ||
    fail "no unfused kernel rows ($task)"
  grep -q ": fused: " <<< "$fused" || fail "no fused kernel in the fused variant ($task)"
  if grep -q ": fused: " <<< "$unfused"; then fail "a fused kernel in the unfused variant ($task)"; fi
  grep -Eq "^\| hidden1 \(Dense\) \| $number \| $number \|" <<< "$(section "### Per layer ($task)")" ||
    fail "no per-layer row for hidden1 ($task)"
done

# A model that does not compile: the compiler's error, exit 1, and the temporary work
# directory (under TMPDIR) removed.
mkdir -p "$work/tmp"
status=0
TMPDIR=$work/tmp "$kerasc" compare "$malformed" 2> "$work/malformed.err" || status=$?
[ "$status" = 1 ] || fail "a model that does not compile: exit $status, expected 1"
grep -q "kerasc: error: .*$(basename "$malformed")" "$work/malformed.err" ||
  fail "the compile error is not shown: $(cat "$work/malformed.err")"
[ -z "$(ls -A "$work/tmp")" ] || fail "the temporary directory was left behind"

status=0
"$kerasc" compare "$model" --no-such-option 2> "$work/usage.err" || status=$?
[ "$status" = 2 ] || fail "an unknown option: exit $status, expected 2"
grep -q "^usage: kerasc compare MODEL" "$work/usage.err" || fail "an unknown option: no usage"
echo "compare.sh: ok"
