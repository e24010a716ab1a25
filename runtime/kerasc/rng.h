// kerasc runtime: a counter-based random number generator. Every random draw is a pure function of
// (seed, stream, counter), so dropout masks can be recomputed in the backward pass instead of
// stored, shuffles depend only on (seed, epoch), and a run resumed from a checkpoint draws exactly
// the numbers the uninterrupted run would have drawn. Header-only, standard library only.
#pragma once

#include <cmath>
#include <cstdint>

namespace kerasc {

/// SplitMix64's finalizer: a bijective 64-bit mix with full avalanche.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// 64 random bits for draw `counter` of stream `stream` under `seed`.
inline uint64_t random_bits(uint64_t seed, uint64_t stream, uint64_t counter) {
  return mix64(mix64(seed ^ 0x9e3779b97f4a7c15ULL) + mix64(stream * 0xd1b54a32d192ed03ULL + 1) +
               counter * 0x9e3779b97f4a7c15ULL);
}

/// Uniform in [0, 1) with 24 random bits (every float32 value of that grid is exact).
inline float random_uniform(uint64_t seed, uint64_t stream, uint64_t counter) {
  return static_cast<float>(random_bits(seed, stream, counter) >> 40) * (1.0f / 16777216.0f);
}

/// Standard normal (Box-Muller on two 32-bit halves of one draw; computed in double).
inline float random_normal(uint64_t seed, uint64_t stream, uint64_t counter) {
  uint64_t bits = random_bits(seed, stream, counter);
  double u1 = (static_cast<double>(bits >> 32) + 1.0) * (1.0 / 4294967296.0); // (0, 1]
  double u2 = static_cast<double>(bits & 0xffffffffULL) * (1.0 / 4294967296.0);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

/// Uniform integer in [0, bound) (bound > 0), by 128-bit multiply (no modulo bias worth noting
/// for bound << 2^64).
inline uint64_t random_below(uint64_t seed, uint64_t stream, uint64_t counter, uint64_t bound) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(random_bits(seed, stream, counter)) *
                                bound) >> 64);
}

/// Fisher-Yates shuffle of indices[0..n) driven by (seed, stream): the same arguments always give
/// the same permutation.
inline void shuffle_indices(int64_t *indices, int64_t n, uint64_t seed, uint64_t stream) {
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(random_below(seed, stream, static_cast<uint64_t>(i),
                                                  static_cast<uint64_t>(i + 1)));
    int64_t t = indices[i];
    indices[i] = indices[j];
    indices[j] = t;
  }
}

} // namespace kerasc
