#!/usr/bin/env bash
# Bad input must give exactly one line on stderr that names the file and matches PATTERN, exit
# status 1 (an error, not a crash), nothing on stdout, and no output directory.
# usage: expect_error.sh KERASC MODEL_FILE PATTERN WORK_DIR [kerasc compile flags...]
set -uo pipefail
kerasc=$1 model=$2 pattern=$3 work=$4
shift 4
rm -rf "$work"
mkdir -p "$work"
"$kerasc" compile "$model" -o "$work/out" "$@" > "$work/stdout" 2> "$work/stderr"
status=$?
cat "$work/stderr"
fail() { echo "FAIL: $*"; exit 1; }
[[ $status == 1 ]] || fail "exit status $status, expected 1"
[[ $(wc -l < "$work/stderr") == 1 ]] || fail "expected one line on stderr"
[[ ! -s "$work/stdout" ]] || fail "unexpected output on stdout"
grep -qF "$(basename "$model")" "$work/stderr" || fail "the message does not name the file"
grep -qE "$pattern" "$work/stderr" || fail "the message does not match '$pattern'"
[[ ! -e "$work/out" ]] || fail "an output directory was written"
ls "$work" | grep -q kerasc-tmp && fail "a temporary directory was left behind"
echo "ok"
