// kerasc runtime: single-precision GEMM with a fused epilogue, the one matrix product behind
// Dense layers (kernels.h matmul) and their gradients (gradients.h matmul_grad_*).
//
//   template <bool TransA, bool TransB, class Epilogue>
//   void kerasc::gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
//                     const float *B, int64_t ldb, float *C, int64_t ldc, Epilogue epilogue);
//   template <bool TransA, bool TransB, class Epilogue>
//   void kerasc::gemm(const GemmConfig &config, <the same arguments>);   // pool, threshold
//
//   C[M, N] = epilogue(op(A)[M, K] . op(B)[K, N]), all row-major with leading dimensions
//   (row strides, in floats) lda, ldb, ldc:
//     op(A) = A, stored M x K,  or (TransA) A^T, A stored K x M;
//     op(B) = B, stored K x N,  or (TransB) B^T, B stored N x K.
//   C is overwritten. epilogue(acc, flat_index, column) -> float runs exactly once on every
//   finished element, with flat_index = i * N + j and column = j, on each register tile right
//   after its last K block while the tile is still in cache (bias, activation and residual
//   adds fuse into the store); it may run on several pool threads at once, for different
//   elements. kerasc::kGemmIsa names the kernels ("avx512", "avx2", "generic"). Each element is summed the same way whatever M, the tiling or the thread
//   count (see micro_kernel), so results are reproducible and batch-size independent.
//
// How (BLIS-style; constants measured with bench/gemm_bench.cpp on a 2-core Sapphire Rapids):
// - Microkernel: a register tile of MR rows x NV vectors accumulated over a K block; per k it
//   loads NV vectors of B and broadcasts MR values of A. A template over the tile size, written
//   once over an ISA traits struct chosen at compile time: AVX-512 (__AVX512F__; 14 x 32 tile),
//   AVX2 + FMA (__AVX2__ && __FMA__; 6 x 16) or portable C++ (4 x 8, four-float vectors that
//   compilers map to SSE/NEON). Edge columns are masked loads/stores, edge rows smaller tiles.
// - Packed path (M and N both above 128 with AVX-512, and every product with a transposed
//   operand): K is cut into blocks of at most kKC, N into kNC; B's block is packed into
//   NR-wide panels (zero-padded) and A's kMC x kKC block into MR-tall panels (AVX2/AVX-512
//   in-register transposes), in the calling thread's scratch memory (ThreadPool::scratch,
//   allocated once). The B panel stays in L1 across A's tiles, A's block in L2 across B's
//   panels. A^T is already k-major and is read in place (copied if its rows are 1 KiB apart).
// - Unpacked path (NN with M or N <= 128 with AVX-512, i.e. small batches and narrow layers;
//   less with AVX2 and the portable kernels, see Isa): nothing is packed. Tiles of 8, 4, 2 or 1
//   rows read A's rows and the row-major weights in place and keep up to 8 vectors of outputs
//   in registers while they stream B's rows (GEMV-like for a batch of 1).
// - Threads: above kParallelMinWork the output is cut into row or column ranges of whole tiles
//   (columns when N >= M, so that each thread packs the smaller operand), one range per thread
//   on the packed path (each range packs its own operands), four per thread on the unpacked path
//   (threads that finish early take over the ranges of one the OS preempted).
//
// Each ISA's code lives in its own namespace (kerasc::gemm_avx512 / gemm_avx2 / gemm_generic),
// and kerasc::gemm / kerasc::kGemmIsa are using-declarations of the translation unit's own, so
// objects built with different -march never share (and the linker never mixes) instantiations.
// A test can include this header again with KERASC_GEMM_BUILD_ISA set (1 generic, 2 avx2,
// 3 avx512) under `#pragma GCC target` (which does not define the ISA macros in C++) to run
// every kernel in one binary; each ISA's namespace is defined at most once per translation unit.
//
// Header-only, standard library only (plus <immintrin.h> in the x86 SIMD builds). No allocation.

#ifndef KERASC_GEMM_COMMON_H
#define KERASC_GEMM_COMMON_H

#include "kerasc/thread_pool.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace kerasc {

/// Epilogue that leaves the product as it is (unfused matmul).
struct IdentityEpilogue {
  float operator()(float v, int64_t /*flat_index*/, int64_t /*column*/) const { return v; }
};

/// Below this much work a product runs on the calling thread only. Work is the flop count
/// (2 M N K) plus 16 per element of B: a product of a few rows streams its weights from L2 or
/// memory, which two cores do twice as fast, while a small product that computes from L1
/// gains less than the ~1 us that handing half of it to a worker costs. Measured with
/// bench/gemm_bench.cpp on a 2-core Sapphire Rapids (1 x 784 x 128: 5.5 -> 3.8 us on two
/// threads; 8 x 128 x 128 and 256 x 13 x 64: slower on two).
constexpr int64_t kParallelMinWork = 1000000;

/// Where a product runs: the pool (nullptr: thread_pool()) and the work above which it uses
/// more than one of the pool's threads (tests set 0 to exercise the parallel split).
struct GemmConfig {
  ThreadPool *pool = nullptr;
  int64_t parallel_min_work = kParallelMinWork;
};

namespace gemm_detail {

/// The epilogue, type-erased so that the GEMM driver is compiled once per (ISA, transposes)
/// rather than once per fused layer: apply() runs it over a finished rows x cols tile of C.
struct EpilogueRef {
  const void *fn = nullptr;
  void (*apply)(const void *fn, float *c, int64_t ldc, int64_t row0, int64_t col0, int64_t rows,
                int64_t cols, int64_t n) = nullptr;
};

template <class Epilogue>
void apply_epilogue(const void *fn, float *c, int64_t ldc, int64_t row0, int64_t col0,
                    int64_t rows, int64_t cols, int64_t n) {
  const Epilogue &epilogue = *static_cast<const Epilogue *>(fn);
  for (int64_t i = 0; i < rows; ++i) {
    float *row = c + i * ldc;
    const int64_t flat = (row0 + i) * n + col0;
    for (int64_t j = 0; j < cols; ++j)
      row[j] = epilogue(row[j], flat + j, col0 + j);
  }
}

template <class Epilogue> EpilogueRef epilogue_ref(const Epilogue &epilogue) {
  EpilogueRef ref;
  if (!std::is_same<Epilogue, IdentityEpilogue>::value) {
    ref.fn = &epilogue;
    ref.apply = &apply_epilogue<Epilogue>;
  }
  return ref;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

} // namespace gemm_detail
} // namespace kerasc

#endif // KERASC_GEMM_COMMON_H

// --- One ISA's kernels and driver --------------------------------------------------------------

#ifndef KERASC_GEMM_BUILD_ISA
#if defined(__AVX512F__)
#define KERASC_GEMM_BUILD_ISA 3
#elif defined(__AVX2__) && defined(__FMA__)
#define KERASC_GEMM_BUILD_ISA 2
#else
#define KERASC_GEMM_BUILD_ISA 1
#endif
#define KERASC_GEMM_BUILD_ISA_FROM_COMPILER
#endif

#undef KERASC_GEMM_NAMESPACE
#if KERASC_GEMM_BUILD_ISA == 3 && !defined(KERASC_GEMM_AVX512_DEFINED)
#define KERASC_GEMM_AVX512_DEFINED
#define KERASC_GEMM_NAMESPACE gemm_avx512
#elif KERASC_GEMM_BUILD_ISA == 2 && !defined(KERASC_GEMM_AVX2_DEFINED)
#define KERASC_GEMM_AVX2_DEFINED
#define KERASC_GEMM_NAMESPACE gemm_avx2
#elif KERASC_GEMM_BUILD_ISA == 1 && !defined(KERASC_GEMM_GENERIC_DEFINED)
#define KERASC_GEMM_GENERIC_DEFINED
#define KERASC_GEMM_NAMESPACE gemm_generic
#endif

#ifdef KERASC_GEMM_NAMESPACE

#if KERASC_GEMM_BUILD_ISA >= 2
#include <immintrin.h>
#endif

namespace kerasc {
namespace KERASC_GEMM_NAMESPACE {

using gemm_detail::ceil_div;
using gemm_detail::EpilogueRef;

// The SIMD kernels' loops over the register tile are unrolled before anything else, so that
// the accumulators become registers (GCC otherwise keeps some tiles' in memory and stores them
// every k). The portable kernel is left to the compiler, whose vectorizer does better with
// its loops intact.
#undef KERASC_GEMM_UNROLL
#undef KERASC_GEMM_PRAGMA
#if KERASC_GEMM_BUILD_ISA >= 2
#define KERASC_GEMM_PRAGMA(text) _Pragma(#text)
#define KERASC_GEMM_UNROLL(n) KERASC_GEMM_PRAGMA(GCC unroll n)
#else
#define KERASC_GEMM_UNROLL(n)
#endif

// --- ISA traits: a vector of kWidth floats and the few operations the kernels use -------------
// kMR x kNV vectors is the packed path's register tile; kKC, kMC, kNC (floats) its cache
// blocks. The unpacked path runs where M <= kUnpackedMaxM or N <= kUnpackedMaxN (one operand
// too small for packing the other to pay off); its tiles of 1, 2, 4 and 8 rows are
// kUnpackedNV[0..3] vectors wide, and kUnpackedWideNV[..] while that many columns remain (the
// GEMV-like 1- and 2-row tiles stream more of each B row per broadcast of A). transpose() is
// what packing A and B^T spends its time in. All measured with bench/gemm_bench.cpp.

#if KERASC_GEMM_BUILD_ISA == 3
struct Isa {
  static constexpr const char *kName = "avx512";
  static constexpr int kWidth = 16;
  // 14 x 32: 28 accumulators + 2 B vectors of the 32 zmm registers; per k, 2 loads of B and 14
  // broadcasts feed 28 FMAs, so the two FMA ports, not the loads, are the limit.
  static constexpr int kMR = 14, kNV = 2;
  static constexpr int kKC = 256, kMC = 14 * 12, kNC = 1024;
  static constexpr int kUnpackedMaxM = 128, kUnpackedMaxN = 128;
  static constexpr int kUnpackedNV[4] = {4, 4, 4, 2}, kUnpackedWideNV[4] = {8, 8, 4, 2};
  using V = __m512;
  using Mask = __mmask16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float *p) { return _mm512_loadu_ps(p); }
  static void store(float *p, V v) { _mm512_storeu_ps(p, v); }
  static V broadcast(const float *p) { return _mm512_set1_ps(*p); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static Mask first(int n) { return static_cast<Mask>((1u << n) - 1u); }
  static V load_first(const float *p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store_first(float *p, V v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }

  // The shuffles in their merge-masked form with a full mask (the same instruction): GCC 12's
  // plain forms start from _mm512_undefined_ps(), which -Wmaybe-uninitialized flags.
  static V unpacklo(V a, V b) { return _mm512_mask_unpacklo_ps(a, 0xFFFF, a, b); }
  static V unpackhi(V a, V b) { return _mm512_mask_unpackhi_ps(a, 0xFFFF, a, b); }
  template <int kImm> static V shuffle_ps(V a, V b) {
    return _mm512_mask_shuffle_ps(a, 0xFFFF, a, b, kImm);
  }
  template <int kImm> static V shuffle_lanes(V a, V b) {
    return _mm512_mask_shuffle_f32x4(a, 0xFFFF, a, b, kImm);
  }

  /// dst[k * dst_stride + i] = src[i * ld + k] for i < rows <= 16 and k < kc, lanes
  /// [rows, lanes) zero: 16 x 16 blocks transposed in registers (unpack, then 128-bit lane
  /// shuffles), 4x the speed of a scalar copy.
  static void transpose(const float *src, int64_t ld, int rows, int64_t kc, float *dst,
                        int64_t dst_stride, int lanes) {
    const Mask lane_mask = first(lanes);
    for (int64_t k0 = 0; k0 < kc; k0 += 16) {
      const int count = static_cast<int>(std::min<int64_t>(16, kc - k0));
      const Mask k_mask = first(count);
      V r[16], t[16];
      for (int i = 0; i < 16; ++i)
        r[i] = i < rows ? _mm512_maskz_loadu_ps(k_mask, src + i * ld + k0) : zero();
      for (int i = 0; i < 8; ++i) {
        t[2 * i] = unpacklo(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = unpackhi(r[2 * i], r[2 * i + 1]);
      }
      for (int g = 0; g < 4; ++g) { // r[4g + c], 128-bit lane L: column 4L + c of rows 4g..4g+3
        r[4 * g + 0] = shuffle_ps<_MM_SHUFFLE(1, 0, 1, 0)>(t[4 * g], t[4 * g + 2]);
        r[4 * g + 1] = shuffle_ps<_MM_SHUFFLE(3, 2, 3, 2)>(t[4 * g], t[4 * g + 2]);
        r[4 * g + 2] = shuffle_ps<_MM_SHUFFLE(1, 0, 1, 0)>(t[4 * g + 1], t[4 * g + 3]);
        r[4 * g + 3] = shuffle_ps<_MM_SHUFFLE(3, 2, 3, 2)>(t[4 * g + 1], t[4 * g + 3]);
      }
      for (int c = 0; c < 4; ++c) { // 4 x 4 transpose of 128-bit lanes: column 4L + c
        const V u0 = shuffle_lanes<_MM_SHUFFLE(1, 0, 1, 0)>(r[c], r[4 + c]);
        const V u1 = shuffle_lanes<_MM_SHUFFLE(3, 2, 3, 2)>(r[c], r[4 + c]);
        const V u2 = shuffle_lanes<_MM_SHUFFLE(1, 0, 1, 0)>(r[8 + c], r[12 + c]);
        const V u3 = shuffle_lanes<_MM_SHUFFLE(3, 2, 3, 2)>(r[8 + c], r[12 + c]);
        t[c] = shuffle_lanes<_MM_SHUFFLE(2, 0, 2, 0)>(u0, u2);
        t[4 + c] = shuffle_lanes<_MM_SHUFFLE(3, 1, 3, 1)>(u0, u2);
        t[8 + c] = shuffle_lanes<_MM_SHUFFLE(2, 0, 2, 0)>(u1, u3);
        t[12 + c] = shuffle_lanes<_MM_SHUFFLE(3, 1, 3, 1)>(u1, u3);
      }
      for (int k = 0; k < count; ++k)
        _mm512_mask_storeu_ps(dst + (k0 + k) * dst_stride, lane_mask, t[k]);
    }
  }
};
#elif KERASC_GEMM_BUILD_ISA == 2
struct Isa {
  static constexpr const char *kName = "avx2";
  static constexpr int kWidth = 8;
  // 6 x 16: 12 accumulators + 2 B vectors + 1 broadcast of the 16 ymm registers.
  static constexpr int kMR = 6, kNV = 2;
  static constexpr int kKC = 256, kMC = 6 * 24, kNC = 1024;
  static constexpr int kUnpackedMaxM = 8, kUnpackedMaxN = 8;
  static constexpr int kUnpackedNV[4] = {4, 4, 2, 1}, kUnpackedWideNV[4] = {8, 4, 2, 1};
  using V = __m256;
  using Mask = __m256i;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float *p) { return _mm256_loadu_ps(p); }
  static void store(float *p, V v) { _mm256_storeu_ps(p, v); }
  static V broadcast(const float *p) { return _mm256_broadcast_ss(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static Mask first(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load_first(const float *p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void store_first(float *p, V v, Mask m) { _mm256_maskstore_ps(p, m, v); }

  /// As the AVX-512 version, with 8 x 8 blocks (rows <= 8).
  static void transpose(const float *src, int64_t ld, int rows, int64_t kc, float *dst,
                        int64_t dst_stride, int lanes) {
    const Mask lane_mask = first(lanes);
    for (int64_t k0 = 0; k0 < kc; k0 += 8) {
      const int count = static_cast<int>(std::min<int64_t>(8, kc - k0));
      const Mask k_mask = first(count);
      V r[8], t[8];
      for (int i = 0; i < 8; ++i)
        r[i] = i < rows ? _mm256_maskload_ps(src + i * ld + k0, k_mask) : zero();
      for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
      }
      for (int g = 0; g < 2; ++g) {
        r[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
      }
      for (int c = 0; c < 4; ++c) {
        t[c] = _mm256_permute2f128_ps(r[c], r[4 + c], 0x20);
        t[4 + c] = _mm256_permute2f128_ps(r[c], r[4 + c], 0x31);
      }
      for (int k = 0; k < count; ++k)
        _mm256_maskstore_ps(dst + (k0 + k) * dst_stride, lane_mask, t[k]);
    }
  }
};
#else
struct Isa {
  static constexpr const char *kName = "generic";
  // Four floats: what every SIMD ISA has (SSE2, NEON), written as plain loops that the
  // compiler vectorizes; 4 x 8 keeps 8 accumulators + 2 B vectors in 16 registers.
  static constexpr int kWidth = 4;
  static constexpr int kMR = 4, kNV = 2;
  static constexpr int kKC = 256, kMC = 4 * 32, kNC = 1024;
  static constexpr int kUnpackedMaxM = 2, kUnpackedMaxN = 0;
  static constexpr int kUnpackedNV[4] = {4, 4, 2, 1}, kUnpackedWideNV[4] = {8, 4, 2, 1};
  struct V {
    float x[4];
  };
  using Mask = int;
  static V zero() { return V{{0.0f, 0.0f, 0.0f, 0.0f}}; }
  static V load(const float *p) { return V{{p[0], p[1], p[2], p[3]}}; }
  static void store(float *p, V v) {
    for (int i = 0; i < 4; ++i)
      p[i] = v.x[i];
  }
  static V broadcast(const float *p) { return V{{*p, *p, *p, *p}}; }
  static V fma(V a, V b, V c) {
    V r;
    for (int i = 0; i < 4; ++i)
      r.x[i] = a.x[i] * b.x[i] + c.x[i];
    return r;
  }
  static V add(V a, V b) {
    V r;
    for (int i = 0; i < 4; ++i)
      r.x[i] = a.x[i] + b.x[i];
    return r;
  }
  static Mask first(int n) { return n; }
  static V load_first(const float *p, Mask n) {
    V r = zero();
    for (int i = 0; i < n; ++i)
      r.x[i] = p[i];
    return r;
  }
  static void store_first(float *p, V v, Mask n) {
    for (int i = 0; i < n; ++i)
      p[i] = v.x[i];
  }
  /// dst[k * dst_stride + i] = src[i * ld + k] for i < rows, k < kc; lanes [rows, lanes) zero.
  static void transpose(const float *src, int64_t ld, int rows, int64_t kc, float *dst,
                        int64_t dst_stride, int lanes) {
    for (int64_t k = 0; k < kc; ++k)
      for (int i = 0; i < lanes; ++i)
        dst[k * dst_stride + i] = i < rows ? src[i * ld + k] : 0.0f;
  }
};
#endif

/// The ISA these kernels use ("avx512", "avx2", "generic"), for reports.
constexpr const char *kGemmIsa = Isa::kName;

constexpr int kMR = Isa::kMR;
constexpr int kNR = Isa::kNV * Isa::kWidth;
static_assert(sizeof(float) * (std::size_t(Isa::kMC) * Isa::kKC + std::size_t(Isa::kKC) * Isa::kNC +
                               std::size_t(Isa::kKC) * kNR) <= kThreadScratchBytes,
              "GEMM blocks must fit the thread pool's scratch memory");

/// The K block of both paths: equal blocks of at most kKC (784 = 4 x 196, not 3 x 256 + 16, so
/// that no block is mostly overhead). It depends on K only, so that every element of C is
/// summed the same way (see micro_kernel).
inline int64_t k_block(int64_t K) { return ceil_div(K, ceil_div(K, Isa::kKC)); }

// --- Microkernel ---------------------------------------------------------------------------

/// The register tile: C[MR, cols] (+)= A[MR, kc] . B[kc, cols], cols <= NV * kWidth. A(i, k) is
/// a[i * a_stride + k] when kRowMajorA, else a[k * a_stride + i] (packed panels and A^T).
/// B(k, j) is b[k * b_stride + j]; without kMaskB every B row must have NV full vectors
/// (packed panels are zero-padded), with it columns past `cols` are not read. Columns past
/// `cols` of C are neither read nor written. `accumulate` adds to C (later K blocks) instead
/// of overwriting it.
///
/// Every kernel, tile size and path sums an element the same way: one FMA per k, in order,
/// into an accumulator that starts at zero for each K block, and the blocks added to C in
/// order. So a row's results do not depend on where it falls in a tile, on M or on the thread
/// count: predict over a batch agrees bit for bit with predict over its chunks. (Splitting k
/// over several accumulators would hide FMA latency in one-row tiles, but break this.)
template <int MR, int NV, bool kRowMajorA, bool kMaskB>
void micro_kernel(int64_t kc, const float *a, int64_t a_stride, const float *b, int64_t b_stride,
                  float *c, int64_t ldc, int cols, bool accumulate) {
  using V = Isa::V;
  using Mask = Isa::Mask;
  constexpr int W = Isa::kWidth;
  V acc[MR][NV];
  KERASC_GEMM_UNROLL(16)
  for (int i = 0; i < MR; ++i)
    KERASC_GEMM_UNROLL(8)
    for (int v = 0; v < NV; ++v)
      acc[i][v] = Isa::zero();
  Mask b_mask[NV];
  KERASC_GEMM_UNROLL(8)
  for (int v = 0; v < NV; ++v)
    b_mask[v] = Isa::first(std::max(0, std::min(W, cols - v * W)));

  // Row i's A values: row pointers for row-major A, one pointer for k-major A (offset i).
  const float *a_row[kRowMajorA ? MR : 1];
  KERASC_GEMM_UNROLL(16)
  for (int i = 0; i < (kRowMajorA ? MR : 1); ++i)
    a_row[i] = a + i * a_stride;

  for (int64_t k = 0; k < kc; ++k) {
    const float *bk = b + k * b_stride;
    V bv[NV];
    KERASC_GEMM_UNROLL(8)
    for (int v = 0; v < NV; ++v)
      bv[v] = kMaskB ? Isa::load_first(bk + v * W, b_mask[v]) : Isa::load(bk + v * W);
    const float *ak = kRowMajorA ? nullptr : a + k * a_stride;
    KERASC_GEMM_UNROLL(16)
    for (int i = 0; i < MR; ++i) {
      const V ai = Isa::broadcast(kRowMajorA ? a_row[i] + k : ak + i);
      KERASC_GEMM_UNROLL(8)
      for (int v = 0; v < NV; ++v)
        acc[i][v] = Isa::fma(ai, bv[v], acc[i][v]);
    }
  }

  // Columns past `cols` are not stored: a partial vector is stored masked, and vectors wholly
  // past it (narrow edge tiles) not at all.
  KERASC_GEMM_UNROLL(8)
  for (int v = 0; v < NV; ++v) {
    const int valid = std::min(W, cols - v * W);
    if (valid == W) {
      KERASC_GEMM_UNROLL(16)
      for (int i = 0; i < MR; ++i) {
        float *ci = c + i * ldc + v * W;
        Isa::store(ci, accumulate ? Isa::add(Isa::load(ci), acc[i][v]) : acc[i][v]);
      }
    } else if (valid > 0) {
      KERASC_GEMM_UNROLL(16)
      for (int i = 0; i < MR; ++i) {
        float *ci = c + i * ldc + v * W;
        Isa::store_first(ci,
                         accumulate ? Isa::add(Isa::load_first(ci, b_mask[v]), acc[i][v])
                                    : acc[i][v],
                         b_mask[v]);
      }
    }
  }
}

/// The packed path's tile of rows (<= MR) x cols (<= NR) from k-major A (packed panels, or A^T
/// in place): the MR-row kernel (one vector wide when that covers the columns), or for the last
/// rows, tiles of 8, 4, 2 and 1 rows, which read only the rows they compute (A^T stays in
/// bounds) and write only those (no scratch tile).
inline void packed_tile(int64_t kc, const float *a, int64_t a_stride, const float *b,
                        int64_t b_stride, float *c, int64_t ldc, int64_t rows, int cols,
                        bool accumulate) {
  constexpr int NV = Isa::kNV;
  if (rows == kMR) {
    if (NV > 1 && cols <= Isa::kWidth) // a narrow N (10 classes): half the FMAs
      micro_kernel<kMR, 1, false, false>(kc, a, a_stride, b, b_stride, c, ldc, cols, accumulate);
    else
      micro_kernel<kMR, NV, false, false>(kc, a, a_stride, b, b_stride, c, ldc, cols, accumulate);
    return;
  }
  int64_t i = 0;
  if constexpr (kMR > 8)
    for (; i + 8 <= rows; i += 8)
      micro_kernel<8, NV, false, false>(kc, a + i, a_stride, b, b_stride, c + i * ldc, ldc, cols,
                                        accumulate);
  if constexpr (kMR > 4)
    for (; i + 4 <= rows; i += 4)
      micro_kernel<4, NV, false, false>(kc, a + i, a_stride, b, b_stride, c + i * ldc, ldc, cols,
                                        accumulate);
  for (; i + 2 <= rows; i += 2)
    micro_kernel<2, NV, false, false>(kc, a + i, a_stride, b, b_stride, c + i * ldc, ldc, cols,
                                      accumulate);
  for (; i < rows; ++i)
    micro_kernel<1, NV, false, false>(kc, a + i, a_stride, b, b_stride, c + i * ldc, ldc, cols,
                                      accumulate);
}

// --- Packing -----------------------------------------------------------------------------------

/// Packs rows x kc of A (A(i, k) = a[i * lda + k]) into MR-tall panels: panel q holds rows
/// q*MR.. as kc groups of MR floats (rows past the end zero).
inline void pack_a(const float *a, int64_t lda, int64_t rows, int64_t kc, float *dst) {
  for (int64_t q = 0; q < rows; q += kMR) {
    const int mr = static_cast<int>(std::min<int64_t>(kMR, rows - q));
    Isa::transpose(a + q * lda, lda, mr, kc, dst, kMR, kMR);
    dst += kc * kMR;
  }
}

/// Packs rows x kc of A^T (A(i, k) = a[k * lda + i]) into MR-tall panels like pack_a: a copy
/// of MR floats per k (rows past the end zero).
inline void pack_a_transposed(const float *a, int64_t lda, int64_t rows, int64_t kc, float *dst) {
  for (int64_t q = 0; q < rows; q += kMR) {
    const int64_t mr = std::min<int64_t>(kMR, rows - q);
    for (int64_t k = 0; k < kc; ++k) {
      const float *src = a + k * lda + q;
      float *out = dst + k * kMR;
      for (int64_t i = 0; i < mr; ++i)
        out[i] = src[i];
      for (int64_t i = mr; i < kMR; ++i)
        out[i] = 0.0f;
    }
    dst += kc * kMR;
  }
}

/// Packs kc x cols of B into NR-wide panels (panel p: kc rows of NR floats, zero-padded past
/// cols). B(k, j) = b[k * ldb + j], or with kTransposed b[j * ldb + k].
template <bool kTransposed>
void pack_b(const float *b, int64_t ldb, int64_t kc, int64_t cols, float *dst) {
  constexpr int W = Isa::kWidth;
  for (int64_t p = 0; p < cols; p += kNR) {
    const int64_t nr = std::min<int64_t>(kNR, cols - p);
    if (kTransposed) {
      for (int v = 0; v < Isa::kNV; ++v) { // W rows of B at a time become W lanes
        const int rows = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(W, nr - v * W)));
        Isa::transpose(b + (p + v * W) * ldb, ldb, rows, kc, dst + v * W, kNR, W);
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        const float *src = b + k * ldb + p;
        float *out = dst + k * kNR;
        if (nr == kNR) {
          std::memcpy(out, src, sizeof(float) * kNR);
        } else {
          for (int64_t j = 0; j < nr; ++j)
            out[j] = src[j];
          for (int64_t j = nr; j < kNR; ++j)
            out[j] = 0.0f;
        }
      }
    }
    dst += kc * kNR;
  }
}

// --- Driver --------------------------------------------------------------------------------------

struct Problem {
  int64_t M, N, K;
  const float *A;
  int64_t lda;
  const float *B;
  int64_t ldb;
  float *C;
  int64_t ldc;
  EpilogueRef epilogue;
};

/// Unpacked tasks cost nothing to cut (nothing is packed per task): several per thread, so that
/// threads that finish first take over the work of one that the OS preempted.
constexpr int64_t kUnpackedTasksPerThread = 4;
/// The unpacked path's column blocks: this many bytes of B's K block (a share of L2).
constexpr int64_t kUnpackedBlockBytes = 512 << 10;

/// Unpacked path: one R x NV-vector tile of C at (i, j), K block [pc, pc + kc). A's rows and
/// the row-major B are read in place; the tile keeps its outputs in registers over the K block
/// while it streams B's rows (GEMV-like), and the epilogue runs on it after the last block.
template <int R, int NV, bool kMaskB>
void unpacked_tile(const Problem &p, int64_t i, int64_t j, int cols, int64_t pc, int64_t kc) {
  float *c = p.C + i * p.ldc + j;
  micro_kernel<R, NV, true, kMaskB>(kc, p.A + i * p.lda + pc, p.lda, p.B + pc * p.ldb + j, p.ldb,
                                    c, p.ldc, cols, pc > 0);
  if (p.epilogue.apply && pc + kc == p.K)
    p.epilogue.apply(p.epilogue.fn, c, p.ldc, i, j, R, cols, p.N);
}

/// Unpacked path: rows [i, i + 2^r) x columns [j0, j1), in tiles of kUnpackedWideNV[r] vectors
/// while they fit, then of kUnpackedNV[r] (the last one masked: loads stay inside B's rows).
template <int r>
void unpacked_rows(const Problem &p, int64_t i, int64_t j0, int64_t j1, int64_t pc, int64_t kc) {
  constexpr int R = 1 << r, kWide = Isa::kUnpackedWideNV[r], kNV = Isa::kUnpackedNV[r];
  constexpr int64_t kWideCols = kWide * Isa::kWidth, kCols = kNV * Isa::kWidth;
  int64_t j = j0;
  if constexpr (kWide != kNV)
    for (; j + kWideCols <= j1; j += kWideCols)
      unpacked_tile<R, kWide, false>(p, i, j, kWideCols, pc, kc);
  for (; j < j1; j += kCols) {
    const int cols = static_cast<int>(std::min(kCols, j1 - j));
    if (cols == kCols)
      unpacked_tile<R, kNV, false>(p, i, j, cols, pc, kc);
    else
      unpacked_tile<R, kNV, true>(p, i, j, cols, pc, kc);
  }
}

/// Unpacked path: C[i0:i1, j0:j1] in tiles of 8, 4, 2 and 1 rows (narrow N: 8 and 1). K blocks keep the B block
/// that all rows reuse in L2 (B's rows are often a power of two apart, 2 KiB for 512 columns,
/// so a long K would also map a column panel onto too few L2 sets), and so do column blocks
/// of kUnpackedBlockBytes.
inline void unpacked_block(const Problem &p, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  const int64_t kc_max = k_block(p.K);
  const int64_t step = Isa::kWidth * Isa::kUnpackedWideNV[0];
  const int64_t nc = std::max(step, kUnpackedBlockBytes / int64_t(sizeof(float)) / kc_max / step * step);
  const bool narrow = p.N <= Isa::kWidth;
  for (int64_t jc = j0; jc < j1; jc += nc) {
    const int64_t je = std::min(j1, jc + nc);
    for (int64_t pc = 0; pc < p.K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, p.K - pc);
      int64_t i = i0;
      if (narrow) { // one vector of columns, masked: tiles of 8 rows, then single rows
        for (; i + 8 <= i1; i += 8)
          unpacked_tile<8, 1, true>(p, i, 0, static_cast<int>(p.N), pc, kc);
        for (; i < i1; ++i)
          unpacked_tile<1, 1, true>(p, i, 0, static_cast<int>(p.N), pc, kc);
        continue;
      }
      for (; i + 8 <= i1; i += 8)
        unpacked_rows<3>(p, i, jc, je, pc, kc);
      for (; i + 4 <= i1; i += 4)
        unpacked_rows<2>(p, i, jc, je, pc, kc);
      for (; i + 2 <= i1; i += 2)
        unpacked_rows<1>(p, i, jc, je, pc, kc);
      for (; i < i1; ++i)
        unpacked_rows<0>(p, i, jc, je, pc, kc);
    }
  }
}

/// C[i0:i1, j0:j1] by the packed BLIS loops (jc, pc, ic, jr, ir) in thread-owned scratch.
/// `stream_b`: read a row-major B's full panels in place instead of packing them.
template <bool TransA, bool TransB>
void packed_block(const Problem &p, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                  bool stream_b, float *scratch) {
  float *a_packed = scratch;
  float *b_packed = a_packed + int64_t(Isa::kMC) * Isa::kKC;
  float *b_edge = b_packed + int64_t(Isa::kKC) * Isa::kNC;
  const int64_t kc_max = k_block(p.K);
  // A^T is read in place unless its rows are a multiple of 1 KiB apart: then a panel's k rows
  // fall into a few cache sets and evict each other (2048 x 2048: 120 -> 150 GFLOP/s copied).
  const bool copy_a_transposed = TransA && p.lda % 256 == 0;
  for (int64_t jc = j0; jc < j1; jc += Isa::kNC) {
    const int64_t nc = std::min<int64_t>(Isa::kNC, j1 - jc);
    for (int64_t pc = 0; pc < p.K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, p.K - pc);
      const bool last_k = pc + kc == p.K;
      const bool b_in_place = !TransB && stream_b;
      if (TransB)
        pack_b<true>(p.B + jc * p.ldb + pc, p.ldb, kc, nc, b_packed);
      else if (!b_in_place)
        pack_b<false>(p.B + pc * p.ldb + jc, p.ldb, kc, nc, b_packed);
      else if (nc % kNR != 0) // the partial last panel, zero-padded
        pack_b<false>(p.B + pc * p.ldb + jc + nc / kNR * kNR, p.ldb, kc, nc % kNR, b_edge);

      for (int64_t ic = i0; ic < i1; ic += Isa::kMC) {
        const int64_t mc = std::min<int64_t>(Isa::kMC, i1 - ic);
        const float *a_block;
        int64_t a_stride, a_panel_step;
        if (TransA && !copy_a_transposed) { // A^T is k-major: (i, k) at A[k * lda + i]
          a_block = p.A + pc * p.lda + ic;
          a_stride = p.lda;
          a_panel_step = kMR;
        } else if (TransA) {
          pack_a_transposed(p.A + pc * p.lda + ic, p.lda, mc, kc, a_packed);
          a_block = a_packed;
          a_stride = kMR;
          a_panel_step = kc * kMR;
        } else {
          pack_a(p.A + ic * p.lda + pc, p.lda, mc, kc, a_packed);
          a_block = a_packed;
          a_stride = kMR;
          a_panel_step = kc * kMR;
        }
        for (int64_t jr = 0; jr < nc; jr += kNR) {
          const int64_t nr = std::min<int64_t>(kNR, nc - jr);
          const float *b_panel;
          int64_t b_stride;
          if (!b_in_place) {
            b_panel = b_packed + jr / kNR * kc * kNR;
            b_stride = kNR;
          } else if (nr == kNR) {
            b_panel = p.B + pc * p.ldb + jc + jr;
            b_stride = p.ldb;
          } else {
            b_panel = b_edge;
            b_stride = kNR;
          }
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int64_t mr = std::min<int64_t>(kMR, mc - ir);
            float *c = p.C + (ic + ir) * p.ldc + jc + jr;
            packed_tile(kc, a_block + ir / kMR * a_panel_step, a_stride, b_panel, b_stride, c,
                        p.ldc, mr, static_cast<int>(nr), pc > 0);
            if (last_k && p.epilogue.apply)
              p.epilogue.apply(p.epilogue.fn, c, p.ldc, ic + ir, jc + jr, mr, nr, p.N);
          }
        }
      }
    }
  }
}

/// Splits [0, n) into `parts` ranges aligned to `step`; returns range `part`'s [begin, end).
inline void split_range(int64_t n, int64_t step, int64_t parts, int64_t part, int64_t *begin,
                        int64_t *end) {
  const int64_t steps = ceil_div(n, step);
  *begin = std::min(n, steps * part / parts * step);
  *end = std::min(n, steps * (part + 1) / parts * step);
}

template <bool TransA, bool TransB>
void gemm_driver(const GemmConfig &config, const Problem &p) {
  if (p.M <= 0 || p.N <= 0)
    return;
  if (p.K <= 0) { // an empty sum: zeros, then the epilogue
    for (int64_t i = 0; i < p.M; ++i)
      std::fill(p.C + i * p.ldc, p.C + i * p.ldc + p.N, 0.0f);
    if (p.epilogue.apply)
      p.epilogue.apply(p.epilogue.fn, p.C, p.ldc, 0, 0, p.M, p.N, p.N);
    return;
  }
  ThreadPool &pool = config.pool ? *config.pool : thread_pool();
  // Paths: unpacked where packing would cost more than it saves (M or N small), packed
  // otherwise.
  const bool narrow = p.N <= Isa::kWidth;
  const bool unpacked =
      !TransA && !TransB && (p.M <= Isa::kUnpackedMaxM || p.N <= Isa::kUnpackedMaxN);
  // Work is cut in whole tiles: unpacked ones are 8 rows tall (or as wide as the tiles of
  // fewer rows where M < 8; narrow: one vector), packed ones kMR x kNR. Tiny products stay on
  // the calling thread.
  const int64_t m_unit = unpacked ? 8 : kMR;
  const int64_t n_unit = !unpacked ? kNR
                         : narrow  ? Isa::kWidth
                                   : Isa::kWidth * Isa::kUnpackedNV[p.M >= 8 ? 3 : 0];
  const int64_t m_units = ceil_div(p.M, m_unit), n_units = ceil_div(p.N, n_unit);
  const int64_t work = 2 * p.M * p.N * p.K + 16 * p.K * p.N;
  const int64_t threads = work < config.parallel_min_work ? 1 : pool.size();
  // Cut along N when each thread then packs a smaller share (A is packed per task when N is
  // cut, B when M is cut) and there are enough column panels.
  const bool split_n = n_units >= threads && (p.N >= p.M || m_units < threads);
  // The packed path packs per task: one task per thread.
  const int64_t tasks =
      threads == 1 ? 1
                   : std::min(split_n ? n_units : m_units,
                              threads * (unpacked ? kUnpackedTasksPerThread : 1));
  // B is streamed in place where the small M makes packing it cost more than it saves.
  const bool stream_b = p.M <= 4 * kMR;

  auto run = [&](int64_t task, int thread) {
    int64_t i0 = 0, i1 = p.M, j0 = 0, j1 = p.N;
    if (split_n)
      split_range(p.N, n_unit, tasks, task, &j0, &j1);
    else
      split_range(p.M, m_unit, tasks, task, &i0, &i1);
    if (i0 >= i1 || j0 >= j1)
      return;
    if (!unpacked)
      packed_block<TransA, TransB>(p, i0, i1, j0, j1, stream_b, pool.scratch(thread));
    else
      unpacked_block(p, i0, i1, j0, j1);
  };
  if (tasks <= 1)
    run(0, 0);
  else
    pool.parallel_for(tasks, run);
}

/// The GEMM described at the top of this file, on config's pool.
template <bool TransA, bool TransB, class Epilogue>
void gemm(const GemmConfig &config, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
          const float *B, int64_t ldb, float *C, int64_t ldc, Epilogue epilogue) {
  const Problem problem{M, N, K, A, lda, B, ldb, C, ldc, gemm_detail::epilogue_ref(epilogue)};
  gemm_driver<TransA, TransB>(config, problem);
}

/// The GEMM described at the top of this file, on the process-wide pool.
template <bool TransA, bool TransB, class Epilogue>
void gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
          int64_t ldb, float *C, int64_t ldc, Epilogue epilogue) {
  gemm<TransA, TransB>(GemmConfig{}, M, N, K, A, lda, B, ldb, C, ldc, epilogue);
}

} // namespace KERASC_GEMM_NAMESPACE

// The first inclusion in a translation unit (its own ISA) provides the public names.
#ifndef KERASC_GEMM_PUBLIC_DEFINED
#define KERASC_GEMM_PUBLIC_DEFINED
using KERASC_GEMM_NAMESPACE::gemm;
using KERASC_GEMM_NAMESPACE::kGemmIsa;
#endif

} // namespace kerasc

#endif // KERASC_GEMM_NAMESPACE

#ifdef KERASC_GEMM_BUILD_ISA_FROM_COMPILER
#undef KERASC_GEMM_BUILD_ISA
#undef KERASC_GEMM_BUILD_ISA_FROM_COMPILER
#endif
