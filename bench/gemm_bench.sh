#!/usr/bin/env bash
# Builds and runs the GEMM micro-benchmark (bench/gemm_bench.cpp): kerasc's GEMM vs numpy's
# (OpenBLAS) on the Dense-layer shapes, 1 thread and all threads. Takes about half a minute.
#
#   bench/gemm_bench.sh [--python PATH] [--runs N] [--min-time SECONDS] [--quick]
#
# --python names a python with numpy for the comparison (without it only kerasc is measured).
# Environment: CXX (default g++), CXXFLAGS (default -O3 -march=native), BUILD_DIR (default
# bench/build), KERASC_NUM_THREADS (the "all threads" count, default every core).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/bench/build}
mkdir -p "$build"
${CXX:-g++} -std=c++17 ${CXXFLAGS:--O3 -march=native} -pthread -I "$root/runtime" \
  "$root/bench/gemm_bench.cpp" -o "$build/gemm_bench"
exec "$build/gemm_bench" "$@"
