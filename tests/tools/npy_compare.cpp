// npy_compare ACTUAL EXPECTED [--tol T]: compares two arrays elementwise.
// Passes when |actual - expected| <= T * max(1, |expected|) everywhere: an absolute bound of T
// for values of magnitude up to 1, and a relative bound of T above (float32 keeps ~7 digits,
// so large activations cannot meet a fixed absolute bound). Default T = 1e-5.
// Prints the largest absolute and relative errors; exit 0 on pass, 1 on mismatch, 2 on misuse.
#include "kerasc/arrays.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char **argv) {
  if (argc != 3 && !(argc == 5 && std::strcmp(argv[3], "--tol") == 0)) {
    std::fprintf(stderr, "usage: npy_compare ACTUAL.npy EXPECTED.npy [--tol T]\n");
    return 2;
  }
  const double tol = argc == 5 ? std::stod(argv[4]) : 1e-5;
  try {
    kerasc::Array actual = kerasc::read_array(argv[1]);
    kerasc::Array expected = kerasc::read_array(argv[2]);
    if (actual.shape != expected.shape) {
      std::fprintf(stderr, "npy_compare: shapes differ (%zu vs %zu dims, %zu vs %zu values)\n",
                   actual.shape.size(), expected.shape.size(), actual.data.size(),
                   expected.data.size());
      return 1;
    }
    double maxAbs = 0, maxRel = 0;
    size_t worst = 0, bad = 0;
    for (size_t i = 0; i < actual.data.size(); ++i) {
      const double a = actual.data[i], e = expected.data[i];
      const double err = std::fabs(a - e);
      if (!(err <= tol * std::max(1.0, std::fabs(e))))  // also catches NaN
        ++bad;
      if (err > maxAbs || std::isnan(err)) {
        maxAbs = err;
        worst = i;
      }
      maxRel = std::max(maxRel, err / std::max(1e-30, std::fabs(e)));
    }
    std::printf("max_abs_error=%.3g max_rel_error=%.3g (worst at %zu: %.9g vs %.9g) %zu values "
                "tol=%g %s\n",
                maxAbs, maxRel, worst, actual.data.empty() ? 0.0 : actual.data[worst],
                expected.data.empty() ? 0.0 : expected.data[worst], actual.data.size(), tol,
                bad ? "FAIL" : "ok");
    return bad ? 1 : 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "npy_compare: %s\n", e.what());
    return 2;
  }
}
