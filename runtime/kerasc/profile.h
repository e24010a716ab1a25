// kerasc runtime: per-kernel timers for `<model> bench --profile` and `kerasc compare`.
// Generated code opens every kernel block with KERASC_KERNEL_TIMER("function: layer: ops");
// it expands to nothing unless the program is built with -DKERASC_PROFILE=ON (CMake option of
// the generated project), so the normal build pays nothing. Timers are plain globals: the
// profiled program is single-threaded at the model level (the thread pool works inside kernels).
// Header-only, standard library only.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace kerasc::profile {

#ifdef KERASC_PROFILE
constexpr bool kEnabled = true;
#else
constexpr bool kEnabled = false;
#endif

/// Accumulated time of one kernel (one block of generated code).
struct KernelStat {
  const char *name;
  double seconds;
  long long calls;
};

constexpr int kMaxKernels = 4096;
inline KernelStat g_kernels[kMaxKernels];
inline int g_kernel_count = 0;
inline double g_divisor = 1;  // what the report divides by: predict calls or training steps

/// Registers a kernel once (from a function-local static) and returns its slot.
inline int register_kernel(const char *name) {
  if (g_kernel_count == kMaxKernels)
    return kMaxKernels - 1;  // more kernels than slots: the last slot collects the rest
  g_kernels[g_kernel_count] = {name, 0.0, 0};
  return g_kernel_count++;
}

/// Adds the lifetime of the scope to its kernel.
class Scope {
public:
  explicit Scope(int id) : id_(id), start_(std::chrono::steady_clock::now()) {}
  ~Scope() {
    g_kernels[id_].seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    ++g_kernels[id_].calls;
  }
  Scope(const Scope &) = delete;
  Scope &operator=(const Scope &) = delete;

private:
  int id_;
  std::chrono::steady_clock::time_point start_;
};

/// Forgets the time measured so far (warm-up), keeping the registered kernels.
inline void reset() {
  for (int k = 0; k < g_kernel_count; ++k)
    g_kernels[k].seconds = 0, g_kernels[k].calls = 0;
}

inline void set_divisor(double divisor) { g_divisor = divisor > 0 ? divisor : 1; }

inline std::string json_escape(const char *s) {
  std::string out;
  for (; *s; ++s) {
    if (*s == '"' || *s == '\\')
      out += '\\';
    out += *s;
  }
  return out;
}

/// The kernels in program order as a JSON array: name, microseconds per `per` (call or step).
inline std::string json(const char *per) {
  std::string out = "[";
  char buf[64];
  for (int k = 0; k < g_kernel_count; ++k) {
    std::snprintf(buf, sizeof buf, "%.4g", g_kernels[k].seconds / g_divisor * 1e6);
    out += std::string(k ? "," : "") + "{\"name\":\"" + json_escape(g_kernels[k].name) +
           "\",\"us_per_" + per + "\":" + buf + "}";
  }
  return out + "]";
}

} // namespace kerasc::profile

#ifdef KERASC_PROFILE
#define KERASC_KERNEL_TIMER(name)                                                              \
  static const int kerasc_kernel_id = kerasc::profile::register_kernel(name);                  \
  const kerasc::profile::Scope kerasc_kernel_scope(kerasc_kernel_id)
#else
#define KERASC_KERNEL_TIMER(name) static_cast<void>(0)
#endif
