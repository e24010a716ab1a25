// kerasc runtime: flush-to-zero for the duration of a model call.
// Subnormal floats (below 1.2e-38) take a slow microcode path on x86: an Adam moment decaying
// towards zero for a dead unit, or a vanishing activation, can make a whole step 10x slower.
// XLA (Keras's JAX and TensorFlow backends) runs its CPU computations with FTZ/DAZ set, so
// flushing also keeps our numbers on Keras's side. The previous mode is restored on exit, so a
// host application's floating-point environment is left as it was.
// Header-only; the x86 control register through <immintrin.h>, a no-op elsewhere.
#pragma once

#if defined(__SSE2__) || defined(_M_X64)
#include <immintrin.h>
#define KERASC_HAS_MXCSR 1
#endif

namespace kerasc {

class ScopedFlushDenormals {
public:
#ifdef KERASC_HAS_MXCSR
  // FTZ (bit 15): subnormal results become 0; DAZ (bit 6): subnormal inputs read as 0.
  static constexpr unsigned kFlushBits = 0x8040;
  ScopedFlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushBits); }
  ~ScopedFlushDenormals() { _mm_setcsr(saved_); }
#else
  ScopedFlushDenormals() = default;
#endif
  ScopedFlushDenormals(const ScopedFlushDenormals &) = delete;
  ScopedFlushDenormals &operator=(const ScopedFlushDenormals &) = delete;

private:
#ifdef KERASC_HAS_MXCSR
  unsigned saved_;
#endif
};

} // namespace kerasc
