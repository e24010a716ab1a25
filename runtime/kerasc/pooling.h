// kerasc runtime: pooling, zero padding / cropping and upsampling (Keras's MaxPooling*,
// AveragePooling*, Global*Pooling*, ZeroPadding*, Cropping*, UpSampling*), forward and backward.
//
// Layout is channels_last, [batch, spatial..., C], with 1 to 3 spatial dims (the generated code
// passes the shapes it knows statically). C is the innermost loop everywhere so the compiler
// vectorizes over channels. Nothing here allocates: per-window state lives in small stack
// arrays, processed kChannelChunk channels at a time. Big calls are split over the runtime's
// thread pool by sample (and output row), which never changes what is computed.
// Header-only, standard library only.
#pragma once

#include "kerasc/thread_pool.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>

namespace kerasc {

/// Spatial dims a pooling / resize kernel handles (3: MaxPooling3D-shaped data).
constexpr int kMaxSpatialRank = 3;

/// Shape of a pooling op with its spatial dims padded to 3 with leading 1s, so that one loop
/// nest serves 1-D, 2-D and 3-D data. Entries: [D, H, W]. `pad` is the padding before each
/// dim (the padding after is implied by the output size).
struct PoolShape {
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  int64_t window[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1};
  int64_t pad[3] = {0, 0, 0};
  int64_t channels = 1;

  /// From the op's attributes: `rank` spatial dims, `padding` = [before_0, after_0, ...].
  PoolShape(int rank, const int64_t *in_dims, const int64_t *out_dims, const int64_t *windows,
            const int64_t *strides, const int64_t *padding, int64_t c)
      : channels(c) {
    const int skip = kMaxSpatialRank - rank;
    for (int d = 0; d < rank; ++d) {
      in[skip + d] = in_dims[d];
      out[skip + d] = out_dims[d];
      window[skip + d] = windows[d];
      stride[skip + d] = strides[d];
      pad[skip + d] = padding[2 * d];
    }
  }
  /// The same from lists, as generated code writes it:
  /// PoolShape({7, 9}, {4, 5}, {2, 2}, {2, 2}, {0, 1, 0, 1}, 3).
  PoolShape(std::initializer_list<int64_t> in_dims, std::initializer_list<int64_t> out_dims,
            std::initializer_list<int64_t> windows, std::initializer_list<int64_t> strides,
            std::initializer_list<int64_t> padding, int64_t c)
      : PoolShape(static_cast<int>(in_dims.size()), in_dims.begin(), out_dims.begin(),
                  windows.begin(), strides.begin(), padding.begin(), c) {}
  int64_t in_sample() const { return in[0] * in[1] * in[2] * channels; }
  int64_t out_sample() const { return out[0] * out[1] * out[2] * channels; }
};

namespace pooling_detail {

/// Channels processed together by kernels that keep per-channel state on the stack.
constexpr int64_t kChannelChunk = 64;

/// The in-bounds part [lo, hi) of window `o` along one dim.
inline void window_range(const PoolShape &s, int d, int64_t o, int64_t &lo, int64_t &hi) {
  const int64_t start = o * s.stride[d] - s.pad[d];
  lo = std::max<int64_t>(start, 0);
  hi = std::min<int64_t>(start + s.window[d], s.in[d]);
}

/// Runs fn(sample, row) for every sample and output row ([D, H] position), over the thread
/// pool when the work (`work_per_row` flops or so) is worth it.
template <class F>
inline void for_rows(int64_t batch, int64_t rows, int64_t work_per_row, const F &fn) {
  const int64_t tasks = batch * rows;
  if (tasks * work_per_row < (int64_t(1) << 16)) {
    for (int64_t t = 0; t < tasks; ++t)
      fn(t / rows, t % rows);
    return;
  }
  thread_pool().parallel_for(tasks, [&](int64_t t, int) { fn(t / rows, t % rows); });
}

/// Runs fn(sample) for every sample, over the thread pool when the work is worth it.
template <class F> inline void for_samples(int64_t batch, int64_t work_per_sample, const F &fn) {
  if (batch * work_per_sample < (int64_t(1) << 16)) {
    for (int64_t b = 0; b < batch; ++b)
      fn(b);
    return;
  }
  thread_pool().parallel_for(batch, [&](int64_t b, int) { fn(b); });
}

} // namespace pooling_detail

namespace pooling_detail {

/// One output row of pool: `out` gets the max or mean of each window, channel by channel.
template <bool Max>
inline void pool_row(const float *__restrict xs, float *__restrict yr, const PoolShape &s,
                     int64_t d0, int64_t d1, int64_t h0, int64_t h1) {
  const int64_t C = s.channels;
  for (int64_t ow = 0; ow < s.out[2]; ++ow) {
    int64_t w0, w1;
    window_range(s, 2, ow, w0, w1);
    float *__restrict out = yr + ow * C;
    for (int64_t c = 0; c < C; ++c)
      out[c] = Max ? -std::numeric_limits<float>::infinity() : 0.0f;
    for (int64_t d = d0; d < d1; ++d)
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) {
          const float *__restrict in = xs + ((d * s.in[1] + h) * s.in[2] + w) * C;
          for (int64_t c = 0; c < C; ++c)
            out[c] = Max ? std::max(out[c], in[c]) : out[c] + in[c];
        }
    if (!Max) { // a division, as Keras does (1/9 is not exact)
      const float count = static_cast<float>((d1 - d0) * (h1 - h0) * (w1 - w0));
      for (int64_t c = 0; c < C; ++c)
        out[c] /= count;
    }
  }
}

} // namespace pooling_detail

/// Max or average pooling (nn.pool). Windows are clipped to the input: max ignores the padding
/// (as if it were -inf), average divides by the number of in-bounds elements (Keras / TF
/// padding='same'; with 'valid' every window is whole).
inline void pool(const float *x, float *y, int64_t batch, const PoolShape &s, bool max) {
  const int64_t rows = s.out[0] * s.out[1];
  const int64_t work = s.out[2] * s.window[0] * s.window[1] * s.window[2] * s.channels;
  pooling_detail::for_rows(batch, rows, work, [&](int64_t b, int64_t row) {
    int64_t d0, d1, h0, h1;
    pooling_detail::window_range(s, 0, row / s.out[1], d0, d1);
    pooling_detail::window_range(s, 1, row % s.out[1], h0, h1);
    const float *xs = x + b * s.in_sample();
    float *yr = y + b * s.out_sample() + row * s.out[2] * s.channels;
    if (max)
      pooling_detail::pool_row<true>(xs, yr, s, d0, d1, h0, h1);
    else
      pooling_detail::pool_row<false>(xs, yr, s, d0, d1, h0, h1);
  });
}

/// Gradient of pool with respect to its input (nn.pool_grad): dx = 0, then each window's dy
/// goes to the first maximum of the window in row-major order (max; what XLA's
/// select-and-scatter does), or is spread evenly over its in-bounds elements (average).
/// Overlapping windows (stride < window) accumulate.
inline void pool_grad(const float *dy, const float *x, float *dx, int64_t batch,
                      const PoolShape &s, bool max) {
  const int64_t C = s.channels;
  const int64_t work = s.out_sample() * s.window[0] * s.window[1] * s.window[2];
  // Max pooling whose windows tile the input (stride == window, the usual 2x2 / 2) writes
  // every element of dx exactly once, so it assigns instead of zeroing dx and accumulating;
  // elements no window reaches ('valid' dropping the last rows) still need the zeroing.
  bool tiled = max, covered = true;
  for (int d = 0; d < kMaxSpatialRank; ++d) {
    tiled = tiled && s.stride[d] == s.window[d];
    covered = covered && s.out[d] * s.stride[d] - s.pad[d] >= s.in[d];
  }
  pooling_detail::for_samples(batch, work, [&](int64_t b) {
    const float *__restrict xs = x + b * s.in_sample();
    float *__restrict dxs = dx + b * s.in_sample();
    if (!tiled || !covered)
      std::memset(dxs, 0, sizeof(float) * static_cast<size_t>(s.in_sample()));
    const float *__restrict dys = dy + b * s.out_sample();
    for (int64_t od = 0; od < s.out[0]; ++od)
      for (int64_t oh = 0; oh < s.out[1]; ++oh)
        for (int64_t ow = 0; ow < s.out[2]; ++ow) {
          int64_t d0, d1, h0, h1, w0, w1;
          pooling_detail::window_range(s, 0, od, d0, d1);
          pooling_detail::window_range(s, 1, oh, h0, h1);
          pooling_detail::window_range(s, 2, ow, w0, w1);
          const float *__restrict g = dys + ((od * s.out[1] + oh) * s.out[2] + ow) * C;
          if (!max) {
            const float count = static_cast<float>((d1 - d0) * (h1 - h0) * (w1 - w0));
            for (int64_t d = d0; d < d1; ++d)
              for (int64_t h = h0; h < h1; ++h)
                for (int64_t w = w0; w < w1; ++w) {
                  float *__restrict out = dxs + ((d * s.in[1] + h) * s.in[2] + w) * C;
                  for (int64_t c = 0; c < C; ++c)
                    out[c] += g[c] / count;
                }
            continue;
          }
          // Max, a chunk of channels at a time: the window's maximum again, then one pass in
          // row-major order that hands each channel's dy to the first element equal to it
          // (`left` is what is still to deliver: dy, then 0). Both passes vectorize over
          // channels (the ternaries, unlike std::max's reference, if-convert).
          for (int64_t c0 = 0; c0 < C; c0 += pooling_detail::kChannelChunk) {
            const int64_t n = std::min(pooling_detail::kChannelChunk, C - c0);
            float best[pooling_detail::kChannelChunk], left[pooling_detail::kChannelChunk];
            for (int64_t c = 0; c < n; ++c) {
              best[c] = -std::numeric_limits<float>::infinity();
              left[c] = g[c0 + c];
            }
            for (int64_t d = d0; d < d1; ++d)
              for (int64_t h = h0; h < h1; ++h)
                for (int64_t w = w0; w < w1; ++w) {
                  const float *__restrict in = xs + ((d * s.in[1] + h) * s.in[2] + w) * C + c0;
                  for (int64_t c = 0; c < n; ++c)
                    best[c] = in[c] > best[c] ? in[c] : best[c];
                }
            for (int64_t d = d0; d < d1; ++d)
              for (int64_t h = h0; h < h1; ++h)
                for (int64_t w = w0; w < w1; ++w) {
                  const int64_t at = ((d * s.in[1] + h) * s.in[2] + w) * C + c0;
                  const float *__restrict in = xs + at;
                  float *__restrict out = dxs + at;
                  if (tiled)
                    for (int64_t c = 0; c < n; ++c) {
                      const bool first = in[c] == best[c];
                      out[c] = first ? left[c] : 0.0f;
                      left[c] = first ? 0.0f : left[c];
                    }
                  else
                    for (int64_t c = 0; c < n; ++c) {
                      const bool first = in[c] == best[c];
                      out[c] += first ? left[c] : 0.0f;
                      left[c] = first ? 0.0f : left[c];
                    }
                }
          }
        }
  });
}

/// Zero padding and cropping (nn.pad): x has `rank` non-batch dims `dims`; `pads` holds
/// [before, after] per non-batch dim, negative to crop. y has dims + before + after, zero
/// where it reads outside x. Each innermost row of y is a zero-filled copy of part of a row of
/// x (a memcpy when the last dim is not padded).
inline void pad(const float *x, float *y, int64_t batch, int rank, const int64_t *dims,
                const int64_t *pads) {
  constexpr int kMaxPadRank = 8; // non-batch dims
  int64_t out_dims[kMaxPadRank], in_strides[kMaxPadRank];
  int64_t stride = 1, in_sample = 1, out_sample = 1;
  for (int d = rank - 1; d >= 0; --d) {
    out_dims[d] = dims[d] + pads[2 * d] + pads[2 * d + 1];
    in_strides[d] = stride;
    stride *= dims[d];
    in_sample *= dims[d];
    out_sample *= out_dims[d];
  }
  const int64_t last = rank - 1;
  const int64_t row = out_dims[last];            // floats per output row
  const int64_t rows = out_sample / row;         // output rows per sample
  const int64_t before = pads[2 * last];         // shift of the last dim
  const int64_t lo = std::max<int64_t>(0, before);                   // first copied column
  const int64_t hi = std::min<int64_t>(row, dims[last] + before);    // one past the last
  pooling_detail::for_rows(batch, rows, row, [&](int64_t b, int64_t r) {
    float *out = y + b * out_sample + r * row;
    // The input row this output row reads: each outer index shifted back by its padding.
    int64_t src = 0, rest = r;
    bool inside = true;
    for (int d = rank - 2; d >= 0; --d) {
      const int64_t i = rest % out_dims[d] - pads[2 * d];
      rest /= out_dims[d];
      inside = inside && i >= 0 && i < dims[d];
      src += i * in_strides[d];
    }
    if (!inside || hi <= lo) {
      std::memset(out, 0, sizeof(float) * static_cast<size_t>(row));
      return;
    }
    const float *in = x + b * in_sample + src;
    std::memset(out, 0, sizeof(float) * static_cast<size_t>(lo));
    std::memcpy(out + lo, in + (lo - before), sizeof(float) * static_cast<size_t>(hi - lo));
    std::memset(out + hi, 0, sizeof(float) * static_cast<size_t>(row - hi));
  });
}

/// pad with the dims and pads as lists, as generated code writes it.
inline void pad(const float *x, float *y, int64_t batch, std::initializer_list<int64_t> dims,
                std::initializer_list<int64_t> pads) {
  pad(x, y, batch, static_cast<int>(dims.size()), dims.begin(), pads.begin());
}

/// Shape of a resize (UpSampling): input spatial dims and integer scales, padded to 3 dims
/// with leading 1s like PoolShape.
struct ResizeShape {
  int64_t in[3] = {1, 1, 1};
  int64_t scale[3] = {1, 1, 1};
  int64_t channels = 1;

  ResizeShape(int rank, const int64_t *in_dims, const int64_t *scales, int64_t c) : channels(c) {
    const int skip = kMaxSpatialRank - rank;
    for (int d = 0; d < rank; ++d) {
      in[skip + d] = in_dims[d];
      scale[skip + d] = scales[d];
    }
  }
  /// From lists, as generated code writes it: ResizeShape({7, 9}, {2, 3}, 4).
  ResizeShape(std::initializer_list<int64_t> in_dims, std::initializer_list<int64_t> scales,
              int64_t c)
      : ResizeShape(static_cast<int>(in_dims.size()), in_dims.begin(), scales.begin(), c) {}
  int64_t out(int d) const { return in[d] * scale[d]; }
  int64_t in_sample() const { return in[0] * in[1] * in[2] * channels; }
  int64_t out_sample() const { return out(0) * out(1) * out(2) * channels; }
};

/// The two input positions and weights that output position `o` of a bilinear resize reads
/// along one dim: jax.image.resize's 'linear' method (what Keras 3's UpSampling2D with
/// interpolation='bilinear' calls). Half-pixel centers: the sample point is
/// (o + 0.5) / scale - 0.5 in input coordinates, weights are the triangle kernel 1 - |t|
/// normalized over the in-bounds inputs, which near the edges means clamping to the edge. No
/// antialiasing: that only changes downsampling.
struct LinearTap {
  int64_t lo, hi;
  float w_lo, w_hi;
};
inline LinearTap linear_tap(int64_t o, int64_t in, int64_t scale) {
  // In float32 like JAX: sample = (o + 0.5) * (1 / scale) - 0.5.
  const float inv = 1.0f / static_cast<float>(scale);
  const float sample = (static_cast<float>(o) + 0.5f) * inv - 0.5f;
  const float fl = std::floor(sample);
  const int64_t i0 = static_cast<int64_t>(fl);
  const float t = sample - fl;
  LinearTap tap;
  if (i0 < 0) { // left of the first center: only input 0 is in bounds
    tap = {0, 0, 1.0f, 0.0f};
  } else if (i0 + 1 >= in) { // right of the last center
    tap = {in - 1, in - 1, 1.0f, 0.0f};
  } else {
    tap = {i0, i0 + 1, 1.0f - t, t};
  }
  return tap;
}

/// Upsampling (nn.resize): nearest repeats each input element scale times along each spatial
/// dim (Keras's UpSampling1D/2D default); bilinear interpolates with linear_tap's weights
/// (separable: the product of one weight per dim).
inline void resize(const float *x, float *y, int64_t batch, const ResizeShape &s, bool bilinear) {
  const int64_t C = s.channels;
  const int64_t rows = s.out(0) * s.out(1);
  const int64_t work = s.out(2) * C * (bilinear ? 8 : 1);
  pooling_detail::for_rows(batch, rows, work, [&](int64_t b, int64_t row) {
    const int64_t od = row / s.out(1), oh = row % s.out(1);
    const float *xs = x + b * s.in_sample();
    float *out = y + b * s.out_sample() + row * s.out(2) * C;
    if (!bilinear) {
      const float *in_row = xs + ((od / s.scale[0]) * s.in[1] + oh / s.scale[1]) * s.in[2] * C;
      for (int64_t ow = 0; ow < s.out(2); ++ow)
        std::memcpy(out + ow * C, in_row + (ow / s.scale[2]) * C,
                    sizeof(float) * static_cast<size_t>(C));
      return;
    }
    const LinearTap td = linear_tap(od, s.in[0], s.scale[0]);
    const LinearTap th = linear_tap(oh, s.in[1], s.scale[1]);
    const int64_t ds[2] = {td.lo, td.hi}, hs[2] = {th.lo, th.hi};
    const float wd[2] = {td.w_lo, td.w_hi}, wh[2] = {th.w_lo, th.w_hi};
    for (int64_t ow = 0; ow < s.out(2); ++ow) {
      const LinearTap tw = linear_tap(ow, s.in[2], s.scale[2]);
      const int64_t ws[2] = {tw.lo, tw.hi};
      const float ww[2] = {tw.w_lo, tw.w_hi};
      float *o = out + ow * C;
      for (int64_t c = 0; c < C; ++c)
        o[c] = 0.0f;
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j)
          for (int k = 0; k < 2; ++k) {
            const float weight = wd[i] * wh[j] * ww[k];
            if (weight == 0.0f)
              continue;
            const float *in = xs + ((ds[i] * s.in[1] + hs[j]) * s.in[2] + ws[k]) * C;
            for (int64_t c = 0; c < C; ++c)
              o[c] += weight * in[c];
          }
    }
  });
}

/// Gradient of resize with respect to its input (nn.resize_grad): each dy element adds to the
/// input elements it was computed from, with the same weights (nearest: the scale block sums).
inline void resize_grad(const float *dy, float *dx, int64_t batch, const ResizeShape &s,
                        bool bilinear) {
  const int64_t C = s.channels;
  pooling_detail::for_samples(batch, s.out_sample() * (bilinear ? 8 : 1), [&](int64_t b) {
    const float *g = dy + b * s.out_sample();
    float *dxs = dx + b * s.in_sample();
    std::memset(dxs, 0, sizeof(float) * static_cast<size_t>(s.in_sample()));
    for (int64_t od = 0; od < s.out(0); ++od)
      for (int64_t oh = 0; oh < s.out(1); ++oh) {
        const LinearTap td = linear_tap(od, s.in[0], s.scale[0]);
        const LinearTap th = linear_tap(oh, s.in[1], s.scale[1]);
        const int64_t ds[2] = {td.lo, td.hi}, hs[2] = {th.lo, th.hi};
        const float wd[2] = {td.w_lo, td.w_hi}, wh[2] = {th.w_lo, th.w_hi};
        for (int64_t ow = 0; ow < s.out(2); ++ow) {
          const float *gi = g + ((od * s.out(1) + oh) * s.out(2) + ow) * C;
          if (!bilinear) {
            float *o = dxs + (((od / s.scale[0]) * s.in[1] + oh / s.scale[1]) * s.in[2] +
                              ow / s.scale[2]) * C;
            for (int64_t c = 0; c < C; ++c)
              o[c] += gi[c];
            continue;
          }
          const LinearTap tw = linear_tap(ow, s.in[2], s.scale[2]);
          const int64_t ws[2] = {tw.lo, tw.hi};
          const float ww[2] = {tw.w_lo, tw.w_hi};
          for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j)
              for (int k = 0; k < 2; ++k) {
                const float weight = wd[i] * wh[j] * ww[k];
                if (weight == 0.0f)
                  continue;
                float *o = dxs + ((ds[i] * s.in[1] + hs[j]) * s.in[2] + ws[k]) * C;
                for (int64_t c = 0; c < C; ++c)
                  o[c] += weight * gi[c];
              }
        }
      }
  });
}

} // namespace kerasc
