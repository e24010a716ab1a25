// GEMM micro-benchmark: GFLOP/s of kerasc's GEMM (runtime/kerasc/gemm.h) on the shapes that
// Dense layers and their gradients produce, on 1 thread and on all threads, next to numpy's
// (OpenBLAS sgemm) on the same shapes in the same run when --python names a python with numpy.
//
//   g++ -std=c++17 -O3 -march=native -pthread -I runtime bench/gemm_bench.cpp -o gemm_bench
//   ./gemm_bench [--python PATH] [--runs N] [--min-time SECONDS] [--quick]
//
// Variants: NN is C = A.B (a Dense layer), NT is C = A.B^T (dX = dY.W^T), TN is C = A^T.B
// (dW = X^T.dY); M x K x N are the dimensions of the product in every variant. Each figure is the
// median of --runs runs; one run is the mean time per call over as many calls as fit in
// --min-time, after a warm-up call. numpy runs in two python processes kept for the whole run
// (OpenBLAS on 1 thread and on all), and each of its figures is taken right after kerasc's
// for the same shape and thread count, so that both see the same load on a shared machine.
#include "kerasc/gemm.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Shape {
  int64_t M, K, N;
  const char *variant; // "NN", "NT", "TN"
};

std::vector<Shape> shapes(bool quick) {
  // Dense forward shapes (batch x in x out), in all three variants.
  const int64_t forward[][3] = {{1, 784, 128},   {1, 128, 10},    {32, 784, 128},
                                {32, 784, 512},  {32, 512, 512},  {128, 784, 512},
                                {256, 784, 128}, {256, 784, 512}, {256, 512, 512},
                                {256, 512, 10},  {256, 13, 64},   {256, 64, 64},
                                {2048, 2048, 2048}};
  std::vector<Shape> list;
  for (const auto &s : forward) {
    if (quick && s[0] == 2048)
      continue;
    for (const char *variant : {"NN", "NT", "TN"})
      list.push_back({s[0], s[1], s[2], variant});
  }
  // Training shapes: dX[B, in] = dY[B, out] . W[in, out]^T and dW[in, out] = X[B, in]^T . dY.
  for (int64_t batch : {32, 128})
    for (int64_t out : {128, 512}) {
      list.push_back({batch, out, 784, "NT"});
      list.push_back({784, batch, out, "TN"});
    }
  return list;
}

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Median over `runs` of the mean seconds per call of fn.
template <class F> double median_seconds(int runs, double min_time, F fn) {
  fn(); // warm-up: caches, page faults, sleeping workers
  std::vector<double> per_call;
  for (int r = 0; r < runs; ++r) {
    int64_t calls = 0;
    const double start = seconds_now();
    double elapsed = 0;
    do {
      fn();
      ++calls;
      elapsed = seconds_now() - start;
    } while (elapsed < min_time);
    per_call.push_back(elapsed / static_cast<double>(calls));
  }
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

double gflops(const Shape &s, double seconds) {
  return 2.0 * static_cast<double>(s.M * s.K * s.N) / seconds * 1e-9;
}

double bench_kerasc(const Shape &s, kerasc::ThreadPool &pool, int runs, double min_time) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> a(static_cast<size_t>(s.M * s.K)), b(static_cast<size_t>(s.K * s.N)),
      c(static_cast<size_t>(s.M * s.N));
  for (float &x : a)
    x = dist(rng);
  for (float &x : b)
    x = dist(rng);
  kerasc::GemmConfig config;
  config.pool = &pool;
  const std::string v = s.variant;
  const kerasc::IdentityEpilogue identity;
  const double t = median_seconds(runs, min_time, [&] {
    if (v == "NN") // A[M, K], B[K, N]
      kerasc::gemm<false, false>(config, s.M, s.N, s.K, a.data(), s.K, b.data(), s.N, c.data(),
                                 s.N, identity);
    else if (v == "NT") // A[M, K], B[N, K]
      kerasc::gemm<false, true>(config, s.M, s.N, s.K, a.data(), s.K, b.data(), s.K, c.data(),
                                s.N, identity);
    else // A[K, M], B[K, N]
      kerasc::gemm<true, false>(config, s.M, s.N, s.K, a.data(), s.M, b.data(), s.N, c.data(),
                                s.N, identity);
  });
  return gflops(s, t);
}

/// A python process timing numpy's matmul (OpenBLAS limited to `threads`), one shape per
/// request: "M K N VARIANT RUNS MIN_TIME" on its stdin, GFLOP/s on its stdout. Kept alive for
/// the whole run so that each shape is timed right next to kerasc's, under the same load.
class NumpyPeer {
public:
  NumpyPeer(const std::string &python, int threads) {
    static const char *kScript =
        "import sys, time, numpy as np\n"
        "rng = np.random.default_rng(42)\n"
        "for line in sys.stdin:\n"
        "    m, k, n, v, runs, min_time = line.split()\n"
        "    m, k, n, runs, min_time = int(m), int(k), int(n), int(runs), float(min_time)\n"
        "    a = rng.uniform(-1, 1, (k, m) if v == 'TN' else (m, k)).astype(np.float32)\n"
        "    b = rng.uniform(-1, 1, (n, k) if v == 'NT' else (k, n)).astype(np.float32)\n"
        "    a = a.T if v == 'TN' else a\n"
        "    b = b.T if v == 'NT' else b\n"
        "    c = np.empty((m, n), np.float32)\n"
        "    np.matmul(a, b, out=c)\n"
        "    times = []\n"
        "    for _ in range(runs):\n"
        "        calls, start = 0, time.perf_counter()\n"
        "        while True:\n"
        "            np.matmul(a, b, out=c); calls += 1\n"
        "            elapsed = time.perf_counter() - start\n"
        "            if elapsed >= min_time: break\n"
        "        times.append(elapsed / calls)\n"
        "    times.sort()\n"
        "    print(2.0 * m * k * n / times[len(times) // 2] * 1e-9, flush=True)\n";
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0)
      return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_child[0], 0);
      dup2(from_child[1], 1);
      close(to_child[1]);
      close(from_child[0]);
      const std::string t = std::to_string(threads);
      for (const char *var : {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"})
        setenv(var, t.c_str(), 1);
      execlp(python.c_str(), python.c_str(), "-c", kScript, static_cast<char *>(nullptr));
      _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    requests_ = fdopen(to_child[1], "w");
    replies_ = fdopen(from_child[0], "r");
    gflops(Shape{1, 1, 1, "NN"}, 1, 0.0); // wait until numpy is imported: no CPU used after
  }
  ~NumpyPeer() {
    if (requests_)
      std::fclose(requests_);
    if (replies_)
      std::fclose(replies_);
    if (pid_ > 0)
      waitpid(pid_, nullptr, 0);
  }
  /// GFLOP/s, or a negative number when python gave no answer (no numpy, crashed).
  double gflops(const Shape &s, int runs, double min_time) {
    double g = -1.0;
    if (!requests_ || !replies_ || dead_)
      return g;
    std::fprintf(requests_, "%lld %lld %lld %s %d %g\n", static_cast<long long>(s.M),
                 static_cast<long long>(s.K), static_cast<long long>(s.N), s.variant, runs,
                 min_time);
    std::fflush(requests_);
    if (std::fscanf(replies_, "%lf", &g) != 1) {
      dead_ = true;
      g = -1.0;
    }
    return g;
  }

private:
  pid_t pid_ = -1;
  FILE *requests_ = nullptr;
  FILE *replies_ = nullptr;
  bool dead_ = false;
};

} // namespace

int main(int argc, char **argv) {
  std::string python;
  int runs = 5;
  double min_time = 0.02;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--python" && i + 1 < argc)
      python = argv[++i];
    else if (arg == "--runs" && i + 1 < argc)
      runs = std::max(1, std::atoi(argv[++i]));
    else if (arg == "--min-time" && i + 1 < argc)
      min_time = std::atof(argv[++i]);
    else if (arg == "--quick")
      quick = true;
    else {
      std::fprintf(stderr,
                   "usage: %s [--python PATH] [--runs N] [--min-time SECONDS] [--quick]\n",
                   argv[0]);
      return 2;
    }
  }
  const int all = kerasc::default_thread_count();
  const std::vector<Shape> list = shapes(quick);
  kerasc::ThreadPool one(1), every(all);
  std::unique_ptr<NumpyPeer> numpy_one, numpy_all;
  if (!python.empty()) {
    std::signal(SIGPIPE, SIG_IGN); // a python that died is reported, not fatal
    numpy_one = std::make_unique<NumpyPeer>(python, 1);
    numpy_all = std::make_unique<NumpyPeer>(python, all);
  }
  std::printf("kerasc GEMM (%s kernels) vs numpy%s, GFLOP/s, median of %d runs; threads: 1 and "
              "%d\n",
              kerasc::kGemmIsa, python.empty() ? " (not run: no --python)" : "", runs, all);
  std::printf("%-18s %-3s | %8s %8s %6s | %8s %8s %6s\n", "M x K x N", "op", "kerasc", "numpy",
              "ratio", "kerasc", "numpy", "ratio");
  std::printf("%-18s %-3s | %24s | %24s\n", "", "", "1 thread",
              (std::to_string(all) + " threads").c_str());
  bool numpy_failed = false;
  for (const Shape &s : list) {
    // Each figure next to its peer's, so that both see the same machine load.
    auto cell = [&](NumpyPeer *peer, double ours, char *text, size_t size) {
      const double theirs = peer ? peer->gflops(s, runs, min_time) : -1.0;
      numpy_failed |= peer && theirs < 0;
      if (theirs <= 0)
        std::snprintf(text, size, "%8s %6s", "-", "-");
      else
        std::snprintf(text, size, "%8.1f %6.2f", theirs, ours / theirs);
    };
    char c1[32], cn[32], dims[32];
    const double k1 = bench_kerasc(s, one, runs, min_time);
    cell(numpy_one.get(), k1, c1, sizeof c1);
    const double kn = bench_kerasc(s, every, runs, min_time);
    cell(numpy_all.get(), kn, cn, sizeof cn);
    // OpenBLAS's threads spin for ~0.1 s after a call (2^28 cycles): let them go to sleep
    // before the next single-thread figure.
    if (numpy_all)
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::snprintf(dims, sizeof dims, "%lldx%lldx%lld", static_cast<long long>(s.M),
                  static_cast<long long>(s.K), static_cast<long long>(s.N));
    std::printf("%-18s %-3s | %8.1f %s | %8.1f %s\n", dims, s.variant, k1, c1, kn, cn);
    std::fflush(stdout);
  }
  if (numpy_failed)
    std::fprintf(stderr, "note: %s gave no numpy timings (is numpy installed there?)\n",
                 python.c_str());
  return 0;
}
