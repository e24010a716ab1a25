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
// --min-time, after a warm-up call.
#include "kerasc/gemm.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <tuple>
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

using Key = std::tuple<int64_t, int64_t, int64_t, std::string>;

/// numpy's GFLOP/s for every shape, OpenBLAS limited to `threads`; empty if python fails.
std::map<Key, double> bench_numpy(const std::string &python, const std::vector<Shape> &list,
                                  int threads, int runs, double min_time) {
  std::string script =
      "import sys, time, numpy as np\n"
      "runs, min_time = int(sys.argv[1]), float(sys.argv[2])\n"
      "rng = np.random.default_rng(42)\n"
      "for line in sys.stdin:\n"
      "    m, k, n, v = line.split(); m, k, n = int(m), int(k), int(n)\n"
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
      "    print(m, k, n, v, 2.0 * m * k * n / times[len(times) // 2] * 1e-9, flush=True)\n";
  char script_path[] = "/tmp/kerasc_gemm_bench_XXXXXX";
  char shapes_path[] = "/tmp/kerasc_gemm_shapes_XXXXXX";
  std::map<Key, double> result;
  const int script_fd = mkstemp(script_path), shapes_fd = mkstemp(shapes_path);
  if (script_fd < 0 || shapes_fd < 0)
    return result;
  FILE *f = fdopen(script_fd, "w");
  std::fputs(script.c_str(), f);
  std::fclose(f);
  f = fdopen(shapes_fd, "w");
  for (const Shape &s : list)
    std::fprintf(f, "%lld %lld %lld %s\n", static_cast<long long>(s.M),
                 static_cast<long long>(s.K), static_cast<long long>(s.N), s.variant);
  std::fclose(f);
  const std::string t = std::to_string(threads);
  const std::string command = "OPENBLAS_NUM_THREADS=" + t + " OMP_NUM_THREADS=" + t +
                              " MKL_NUM_THREADS=" + t + " '" + python + "' " + script_path +
                              " " + std::to_string(runs) + " " + std::to_string(min_time) +
                              " < " + shapes_path;
  if (FILE *pipe = popen(command.c_str(), "r")) {
    long long m, k, n;
    char variant[8];
    double g;
    while (std::fscanf(pipe, "%lld %lld %lld %7s %lf", &m, &k, &n, variant, &g) == 5)
      result[Key{m, k, n, variant}] = g;
    pclose(pipe);
  }
  std::remove(script_path);
  std::remove(shapes_path);
  return result;
}

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

  std::map<Key, double> numpy_one, numpy_all;
  if (!python.empty()) {
    numpy_one = bench_numpy(python, list, 1, runs, min_time);
    numpy_all = bench_numpy(python, list, all, runs, min_time);
    if (numpy_one.empty())
      std::fprintf(stderr, "note: %s gave no numpy timings\n", python.c_str());
  }
  std::printf("kerasc GEMM (%s kernels), GFLOP/s, median of %d runs; threads: 1 and %d\n",
              kerasc::kGemmIsa, runs, all);
  std::printf("%-18s %-3s | %8s %8s %6s | %8s %8s %6s\n", "M x K x N", "op", "kerasc", "numpy",
              "ratio", "kerasc", "numpy", "ratio");
  std::printf("%-18s %-3s | %24s | %24s\n", "", "", "1 thread", (std::to_string(all) + " threads").c_str());
  for (const Shape &s : list) {
    const double k1 = bench_kerasc(s, one, runs, min_time);
    const double kn = bench_kerasc(s, every, runs, min_time);
    const Key key{s.M, s.K, s.N, s.variant};
    auto cell = [&](const std::map<Key, double> &numpy, double ours, char *text, size_t size) {
      const auto it = numpy.find(key);
      if (it == numpy.end())
        std::snprintf(text, size, "%8s %6s", "-", "-");
      else
        std::snprintf(text, size, "%8.1f %6.2f", it->second, ours / it->second);
    };
    char c1[32], cn[32], dims[32];
    cell(numpy_one, k1, c1, sizeof c1);
    cell(numpy_all, kn, cn, sizeof cn);
    std::snprintf(dims, sizeof dims, "%lldx%lldx%lld", static_cast<long long>(s.M),
                  static_cast<long long>(s.K), static_cast<long long>(s.N));
    std::printf("%-18s %-3s | %8.1f %s | %8.1f %s\n", dims, s.variant, k1, c1, kn, cn);
    std::fflush(stdout);
  }
  return 0;
}
