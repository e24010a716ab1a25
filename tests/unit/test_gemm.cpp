// The runtime's GEMM (kerasc/gemm.h) and thread pool (kerasc/thread_pool.h).
//
// Every product is checked against a naive double-precision reference, element by element:
//   |ours - reference| <= 1e-5 * sum_k |a_ik * b_kj|  (+ the float rounding of the epilogue),
// i.e. float accumulation error relative to the magnitude of the terms (1e-5 is ~80 float ulps;
// K here is at most a few thousand). Shapes cover 1..3 and odd sizes in every dimension, the
// register-tile and vector sizes of every ISA +-1, several K and N cache blocks, and all three
// transpose variants; leading dimensions are padded and the padding must stay untouched. The
// epilogue records every call, so it must run exactly once per element with its flat index
// and column.
//
// All kernels are tested in one binary: this file compiles gemm.h again for AVX2+FMA and for
// AVX-512 under `#pragma GCC target` (GCC on x86-64 only; each ISA lands in its own namespace)
// and runs each where the CPU supports it; the portable kernels (gemm_generic) always run.
#include "kerasc/gradients.h"
#include "kerasc/kernels.h"
#include "kerasc/thread_pool.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#define KERASC_TEST_X86_KERNELS 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define KERASC_GEMM_BUILD_ISA 2
#include "kerasc/gemm.h"
#undef KERASC_GEMM_BUILD_ISA
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#define KERASC_GEMM_BUILD_ISA 3
#include "kerasc/gemm.h"
#undef KERASC_GEMM_BUILD_ISA
#pragma GCC pop_options
#endif
#define KERASC_GEMM_BUILD_ISA 1
#include "kerasc/gemm.h"
#undef KERASC_GEMM_BUILD_ISA

namespace {

/// Records every call and returns 2 * acc - column, so that a skipped, repeated or misplaced
/// epilogue shows in the values as well as in the counts.
struct CountingEpilogue {
  std::vector<int> *calls;
  std::vector<int64_t> *columns;
  float operator()(float acc, int64_t flat_index, int64_t column) const {
    ++(*calls)[static_cast<size_t>(flat_index)];
    (*columns)[static_cast<size_t>(flat_index)] = column;
    return 2.0f * acc - static_cast<float>(column);
  }
};

enum class Variant { NN, NT, TN }; // C = A.B, A.B^T, A^T.B

const char *name(Variant v) { return v == Variant::NN ? "A.B" : v == Variant::NT ? "A.B^T" : "A^T.B"; }

/// One ISA's GEMM, called through a fixed signature.
using GemmFn = std::function<void(Variant, const kerasc::GemmConfig &, int64_t M, int64_t N,
                                  int64_t K, const float *A, int64_t lda, const float *B,
                                  int64_t ldb, float *C, int64_t ldc, CountingEpilogue)>;

#define KERASC_GEMM_FN(ns)                                                                       \
  [](Variant v, const kerasc::GemmConfig &config, int64_t M, int64_t N, int64_t K,              \
     const float *A, int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc,           \
     CountingEpilogue e) {                                                                       \
    if (v == Variant::NN)                                                                        \
      kerasc::ns::gemm<false, false>(config, M, N, K, A, lda, B, ldb, C, ldc, e);                \
    else if (v == Variant::NT)                                                                   \
      kerasc::ns::gemm<false, true>(config, M, N, K, A, lda, B, ldb, C, ldc, e);                 \
    else                                                                                         \
      kerasc::ns::gemm<true, false>(config, M, N, K, A, lda, B, ldb, C, ldc, e);                 \
  }

struct Kernels {
  std::string isa;
  bool runs_here;
  GemmFn gemm;
};

std::vector<Kernels> all_kernels() {
  std::vector<Kernels> list;
  list.push_back({kerasc::gemm_generic::kGemmIsa, true, KERASC_GEMM_FN(gemm_generic)});
#ifdef KERASC_TEST_X86_KERNELS
  __builtin_cpu_init();
  list.push_back({kerasc::gemm_avx2::kGemmIsa,
                  __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"),
                  KERASC_GEMM_FN(gemm_avx2)});
  list.push_back({kerasc::gemm_avx512::kGemmIsa,
                  __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"),
                  KERASC_GEMM_FN(gemm_avx512)});
#endif
  return list;
}

/// Runs one product and checks every element (and that C's padding is untouched); returns
/// the number of failures (reported through Catch for the first few).
int check_product(const Kernels &kernels, Variant v, kerasc::ThreadPool &pool, int64_t M,
                  int64_t N, int64_t K, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  // Stored shapes: A is M x K (A^T: K x M), B is K x N (B^T: N x K); rows padded by 3 / 5 / 2.
  const int64_t a_rows = v == Variant::TN ? K : M, a_cols = v == Variant::TN ? M : K;
  const int64_t b_rows = v == Variant::NT ? N : K, b_cols = v == Variant::NT ? K : N;
  const int64_t lda = a_cols + 3, ldb = b_cols + 5, ldc = N + 2;
  std::vector<float> A(static_cast<size_t>(a_rows * lda)), B(static_cast<size_t>(b_rows * ldb));
  for (float &x : A)
    x = dist(rng);
  for (float &x : B)
    x = dist(rng);
  const float kSentinel = 12345.0f;
  std::vector<float> C(static_cast<size_t>(M * ldc), kSentinel);
  std::vector<int> calls(static_cast<size_t>(M * N), 0);
  std::vector<int64_t> columns(static_cast<size_t>(M * N), -1);

  kerasc::GemmConfig config;
  config.pool = &pool;
  config.parallel_min_work = 0; // split even the smallest product over the pool
  kernels.gemm(v, config, M, N, K, A.data(), lda, B.data(), ldb, C.data(), ldc,
               CountingEpilogue{&calls, &columns});

  int failures = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double sum = 0.0, magnitude = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double a = v == Variant::TN ? A[k * lda + i] : A[i * lda + k];
        const double b = v == Variant::NT ? B[j * ldb + k] : B[k * ldb + j];
        sum += a * b;
        magnitude += std::fabs(a * b);
      }
      const double expected = 2.0 * sum - static_cast<double>(j);
      const double tolerance = 2.0 * 1e-5 * magnitude + 1e-6 * std::fabs(expected);
      const double got = C[i * ldc + j];
      const size_t flat = static_cast<size_t>(i * N + j);
      if (std::fabs(got - expected) > tolerance || calls[flat] != 1 || columns[flat] != j) {
        if (++failures <= 3) {
          INFO(kernels.isa << " " << name(v) << " M=" << M << " N=" << N << " K=" << K
                           << " threads=" << pool.size() << " at (" << i << ", " << j
                           << "): got " << got << ", expected " << expected << " +- "
                           << tolerance << "; epilogue calls " << calls[flat] << ", column "
                           << columns[flat]);
          CHECK(false);
        }
      }
    }
    for (int64_t j = N; j < ldc; ++j)
      if (C[i * ldc + j] != kSentinel && ++failures <= 3) {
        INFO(kernels.isa << " " << name(v) << " M=" << M << " N=" << N << " K=" << K
                         << ": wrote C's padding at (" << i << ", " << j << ")");
        CHECK(false);
      }
  }
  return failures;
}

} // namespace

TEST_CASE("gemm matches a double-precision reference on every kernel, variant and edge",
          "[runtime][gemm]") {
  // Around every tile and vector size (MR 14/6/4, NR 32/16/8, 8-row unpacked tiles, vectors of
  // 16/8/4 floats) and the unpacked/packed switch at 128.
  const int64_t ms[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 14, 15, 16, 17, 29, 31, 33, 45, 64, 129, 200};
  const int64_t ns[] = {1, 2, 3, 5, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 130};
  const int64_t ks[] = {1, 2, 3, 17, 64, 257, 600};
  kerasc::ThreadPool one(1), three(3);
  for (const Kernels &kernels : all_kernels()) {
    if (!kernels.runs_here) {
      WARN("skipped the " << kernels.isa << " kernels: this CPU does not run them");
      continue;
    }
    for (Variant v : {Variant::NN, Variant::NT, Variant::TN}) {
      for (kerasc::ThreadPool *pool : {&one, &three}) {
        int failures = 0;
        uint32_t seed = 1;
        size_t which_k = 0;
        for (int64_t M : ms)
          for (int64_t N : ns)
            failures += check_product(kernels, v, *pool, M, N, ks[which_k++ % 7], seed++);
        // Several K blocks (KC 256), M blocks (MC 168) and N blocks (NC 1024), packed path.
        failures += check_product(kernels, v, *pool, 200, 1100, 70, seed++);
        failures += check_product(kernels, v, *pool, 173, 150, 1030, seed++);
        failures += check_product(kernels, v, *pool, 2, 40, 3000, seed++);
        // A^T rows 256 floats apart (lda = M + 3): copied into panels rather than read in place.
        failures += check_product(kernels, v, *pool, 253, 140, 300, seed++);
        // K = 0: an empty sum, so C is the epilogue of zeros.
        failures += check_product(kernels, v, *pool, 5, 7, 0, seed++);
        INFO(kernels.isa << " " << name(v) << " threads " << pool->size());
        CHECK(failures == 0);
      }
    }
  }
}

TEST_CASE("gemm sums every element the same way whatever the batch, tiling or threads",
          "[runtime][gemm]") {
  // A row's result must not depend on M (where the row falls in a tile, which path runs it)
  // nor on the thread count: predict over a batch and over its chunks agree bit for bit.
  const int64_t M = 150, N = 300, K = 700;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> A(M * K), B(K * N), BT(N * K), AT(K * M);
  for (float &x : A)
    x = dist(rng);
  for (float &x : B)
    x = dist(rng);
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t j = 0; j < N; ++j)
      BT[j * K + k] = B[k * N + j];
    for (int64_t i = 0; i < M; ++i)
      AT[k * M + i] = A[i * K + k];
  }
  std::vector<int> calls(M * N);
  std::vector<int64_t> columns(M * N);
  const CountingEpilogue epilogue{&calls, &columns};
  for (const Kernels &kernels : all_kernels()) {
    if (!kernels.runs_here)
      continue;
    kerasc::ThreadPool one(1);
    kerasc::GemmConfig serial;
    serial.pool = &one;
    std::vector<float> whole(M * N);
    kernels.gemm(Variant::NN, serial, M, N, K, A.data(), K, B.data(), N, whole.data(), N,
                 epilogue);
    for (int threads : {1, 2, 3}) {
      kerasc::ThreadPool pool(threads);
      kerasc::GemmConfig config;
      config.pool = &pool;
      config.parallel_min_work = 0;
      for (int64_t chunk : {int64_t(1), int64_t(7), int64_t(64), M}) {
        std::vector<float> nn(M * N), nt(M * N), tn(M * N);
        for (int64_t i0 = 0; i0 < M; i0 += chunk) {
          const int64_t rows = std::min(chunk, M - i0);
          kernels.gemm(Variant::NN, config, rows, N, K, &A[i0 * K], K, B.data(), N, &nn[i0 * N],
                       N, epilogue);
          kernels.gemm(Variant::NT, config, rows, N, K, &A[i0 * K], K, BT.data(), K,
                       &nt[i0 * N], N, epilogue);
          kernels.gemm(Variant::TN, config, rows, N, K, &AT[i0], M, B.data(), N, &tn[i0 * N], N,
                       epilogue);
        }
        INFO(kernels.isa << ", threads " << threads << ", batches of " << chunk << " rows");
        const size_t bytes = sizeof(float) * whole.size();
        CHECK(std::memcmp(whole.data(), nn.data(), bytes) == 0);
        CHECK(std::memcmp(whole.data(), nt.data(), bytes) == 0);
        CHECK(std::memcmp(whole.data(), tn.data(), bytes) == 0);
      }
    }
  }
}

TEST_CASE("matmul and its gradients overwrite their outputs with the products",
          "[runtime][gemm]") {
  // Dense shapes (batch x in x out) around the unpacked/packed and tile switches.
  const int64_t shapes[][3] = {{1, 784, 128}, {3, 13, 10}, {32, 50, 70}, {200, 33, 140}};
  for (const auto &shape : shapes) {
    const int64_t M = shape[0], K = shape[1], N = shape[2];
    std::mt19937 rng(static_cast<uint32_t>(M * K * N));
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> X(M * K), W(K * N), dY(M * N), bias(N);
    for (auto *v : {&X, &W, &dY, &bias})
      for (float &x : *v)
        x = dist(rng);
    // Outputs start as garbage: each function must overwrite, not accumulate.
    std::vector<float> Y(M * N, 7.0f), dX(M * K, 7.0f), dW(K * N, 7.0f);
    kerasc::matmul(X.data(), W.data(), Y.data(), M, K, N,
                   [&](float acc, int64_t, int64_t column) {
                     return std::max(0.0f, acc + bias[column]); // fused bias + relu
                   });
    kerasc::matmul_grad_input(dY.data(), W.data(), dX.data(), M, K, N);
    kerasc::matmul_grad_kernel(X.data(), dY.data(), dW.data(), M, K, N);

    auto check = [&](const char *what, float got, double sum, double magnitude) {
      if (std::fabs(got - sum) > 1e-5 * magnitude + 1e-7) {
        INFO(what << " M=" << M << " K=" << K << " N=" << N << ": got " << got
                  << ", expected " << sum);
        CHECK(false);
        return false;
      }
      return true;
    };
    bool ok = true;
    for (int64_t i = 0; i < M && ok; ++i)
      for (int64_t j = 0; j < N && ok; ++j) {
        double sum = bias[j], magnitude = std::fabs(bias[j]);
        for (int64_t k = 0; k < K; ++k) {
          sum += double(X[i * K + k]) * W[k * N + j];
          magnitude += std::fabs(double(X[i * K + k]) * W[k * N + j]);
        }
        ok = check("matmul", Y[i * N + j], std::max(0.0, sum), magnitude);
      }
    for (int64_t i = 0; i < M && ok; ++i)
      for (int64_t k = 0; k < K && ok; ++k) {
        double sum = 0, magnitude = 0;
        for (int64_t j = 0; j < N; ++j) {
          sum += double(dY[i * N + j]) * W[k * N + j];
          magnitude += std::fabs(double(dY[i * N + j]) * W[k * N + j]);
        }
        ok = check("matmul_grad_input", dX[i * K + k], sum, magnitude);
      }
    for (int64_t k = 0; k < K && ok; ++k)
      for (int64_t j = 0; j < N && ok; ++j) {
        double sum = 0, magnitude = 0;
        for (int64_t i = 0; i < M; ++i) {
          sum += double(X[i * K + k]) * dY[i * N + j];
          magnitude += std::fabs(double(X[i * K + k]) * dY[i * N + j]);
        }
        ok = check("matmul_grad_kernel", dW[k * N + j], sum, magnitude);
      }
    CHECK(ok);
  }
}

TEST_CASE("thread pool runs every task exactly once, on a valid thread", "[runtime][threads]") {
  for (int threads : {1, 2, 4}) {
    kerasc::ThreadPool pool(threads);
    REQUIRE(pool.size() == threads);
    // 70000 tasks take more than one round of the pool's claim words.
    for (int64_t tasks : {0, 1, 2, 3, 7, 100, 70000}) {
      std::vector<std::atomic<int>> runs(static_cast<size_t>(tasks));
      std::atomic<int> bad_thread{0};
      pool.parallel_for(tasks, [&](int64_t task, int thread) {
        runs[static_cast<size_t>(task)].fetch_add(1);
        if (thread < 0 || thread >= threads)
          bad_thread.fetch_add(1);
      });
      int wrong = 0;
      for (auto &r : runs)
        wrong += r.load() != 1;
      INFO("threads " << threads << ", tasks " << tasks);
      CHECK(wrong == 0);
      CHECK(bad_thread.load() == 0);
    }
    // Back-to-back jobs (spinning workers) and jobs after a pause (sleeping workers).
    std::atomic<int64_t> total{0};
    for (int job = 0; job < 2000; ++job) {
      if (job % 500 == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      pool.parallel_for(5, [&](int64_t task, int) { total.fetch_add(task + 1); });
    }
    CHECK(total.load() == 2000 * 15);
    // Each thread's scratch is its own and aligned; the last byte is writable.
    for (int t = 0; t < threads; ++t) {
      CHECK(reinterpret_cast<uintptr_t>(pool.scratch(t)) % kerasc::kScratchAlignment == 0);
      if (t > 0)
        CHECK(pool.scratch(t) != pool.scratch(t - 1));
      reinterpret_cast<char *>(pool.scratch(t))[kerasc::kThreadScratchBytes - 1] = 1;
    }
  }
  // Pools that are destroyed right away, busy or asleep, shut down cleanly.
  for (int i = 0; i < 20; ++i) {
    kerasc::ThreadPool pool(3);
    if (i % 2)
      pool.parallel_for(3, [](int64_t, int) {});
  }
}

TEST_CASE("thread count comes from KERASC_NUM_THREADS, else the hardware", "[runtime][threads]") {
  const char *saved = std::getenv("KERASC_NUM_THREADS");
  const std::string saved_value = saved ? saved : "";
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  setenv("KERASC_NUM_THREADS", "3", 1);
  CHECK(kerasc::default_thread_count() == 3);
  setenv("KERASC_NUM_THREADS", "1", 1);
  CHECK(kerasc::default_thread_count() == 1);
  for (const char *invalid : {"0", "-2", "two", "4x", ""}) {
    setenv("KERASC_NUM_THREADS", invalid, 1);
    CHECK(kerasc::default_thread_count() == hardware);
  }
  unsetenv("KERASC_NUM_THREADS");
  CHECK(kerasc::default_thread_count() == hardware);
  if (saved)
    setenv("KERASC_NUM_THREADS", saved_value.c_str(), 1);
  // KERASC_NUM_THREADS=1 means no worker at all: the caller runs every task.
  kerasc::ThreadPool single(1);
  std::vector<std::thread::id> ran_on;
  single.parallel_for(4, [&](int64_t, int) { ran_on.push_back(std::this_thread::get_id()); });
  CHECK(ran_on == std::vector<std::thread::id>(4, std::this_thread::get_id()));
}
