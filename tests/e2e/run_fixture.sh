#!/usr/bin/env bash
# End-to-end check of one fixture in one format:
#   compile with kerasc -> build the output (with CXX, or with its generated CMakeLists.txt when
#   CXX is "cmake") -> run `predict` on Keras's inputs -> compare every output with Keras's.
# Tolerance (npy_compare): |ours - keras| <= 1e-5 * max(1, |keras|).
# usage: run_fixture.sh KERASC NPY_COMPARE CXX FIXTURE_DIR MODEL_FILE WORK_DIR
#                       [--compare-with OTHER_WORK_DIR] [kerasc compile flags...]
set -euo pipefail
kerasc=$1 compare=$2 cxx=$3 fixture=$4 model=$5 work=$6
shift 6
other=""
if [[ ${1:-} == --compare-with ]]; then other=$2; shift 2; fi

rm -rf "$work"
mkdir -p "$work"
"$kerasc" compile "$fixture/$model" -o "$work/out" --name model "$@"

if [[ $cxx == cmake ]]; then
  cmake -S "$work/out" -B "$work/build" -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" > "$work/cmake.log"
  cmake --build "$work/build" -j 2 > "$work/build.log"
  program=$work/build/model
else
  "$cxx" -std=c++17 -O2 -Wall -Wextra -Werror -I"$work/out" -I"$work/out/runtime" \
    "$work/out/model.cpp" "$work/out/main.cpp" -o "$work/model"
  program=$work/model
fi

args=()
for f in $(ls "$fixture" | grep -E '^input_[0-9]+\.npy$' | sort -V); do
  args+=(--input "$fixture/$f")
done
outputs=$(ls "$fixture" | grep -E '^output_[0-9]+\.npy$' | sort -V)
for f in $outputs; do args+=(--output "$work/$f"); done
(cd "$work/out" && "$program" predict "${args[@]}")

for f in $outputs; do
  echo -n "$f vs keras: "
  "$compare" "$work/$f" "$fixture/$f"
  if [[ -n $other ]]; then
    echo -n "$f vs the build in $other: "
    "$compare" "$work/$f" "$other/$f" --tol 1e-6
  fi
done
