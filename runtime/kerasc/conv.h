// kerasc runtime: convolutions over channels_last tensors (Conv1D/2D, DepthwiseConv2D, the two
// halves of SeparableConv2D, Conv2DTranspose) and their gradients. Shapes are arguments (the
// generated code knows them statically); nothing here allocates.
//
//   kerasc::ConvParams p{...};   // ONE forward convolution x [B,in_h,in_w,cin] -> y [B,out_h,out_w,cout]
//                                // with kernel w [k_h,k_w,cin/groups,cout]; 1-D is in_h = out_h
//                                // = k_h = 1 (stride/dilation 1, no padding along h).
//   conv_forward(algorithm, p, batch, x, w, y, workspace, epilogue)       y  = epilogue(conv(x, w))
//   conv_transpose(algorithm, p, batch, dy, w, dx, workspace, epilogue)   dx = epilogue(conv^T(dy, w))
//   conv_grad_kernel(algorithm, p, batch, x, dy, dw, workspace)           dw = sum_b d conv / d w
//
// conv_transpose is the gradient of conv_forward with respect to its input, which is also
// Keras's Conv2DTranspose: a Conv2DTranspose from [S, Ci] to [O, Co] with kernel [K, Co, Ci] is
// conv_transpose of the forward convolution [O, Co] -> [S, Ci] (the Keras kernel layout
// [K, Co/g, Ci] is exactly that convolution's kernel). So every function takes the params of
// one *forward* convolution; the caller swaps the roles.
//
// Padding: out_h, out_w (with pad_top/pad_left) fix the after-padding implicitly: every input
// position outside [0, in) reads as zero, and positions past what out_* needs are never read
// (conv_transpose computes exactly in_h x in_w outputs, so Keras's output_padding -- a
// negative after-padding -- just gives positions no tap reaches, which are zero).
//
// epilogue(acc, flat_index, channel) -> float runs exactly once on every output element, with
// flat_index into the output ([B, out.., C] row-major) and its channel: bias, activation and
// inference batch norm fuse into the store (like kerasc::matmul's).
//
// Algorithms (chosen at compile time by nn-choose-conv-algorithm):
// - Pointwise: a 1x1, stride 1, unpadded convolution is one GEMM over the B * pixels rows (one
//   per group). No workspace.
// - Im2col: the patches of one group are gathered into the workspace as a [B * out pixels,
//   k_h * k_w * cin/groups] matrix and multiplied by the kernel with kerasc::gemm (threaded,
//   epilogue fused). conv_transpose multiplies dy by the kernel's transpose into the same
//   matrix and gathers it back (col2im; gather rather than scatter, so it threads over output
//   rows and every element is summed in one fixed order); conv_grad_kernel multiplies the
//   patch matrix's transpose by dy. The workspace is conv_workspace_floats(p) floats PER
//   SAMPLE (the same for all three functions): out_h * out_w * k_h * k_w * (cin / groups).
//   Above ~512 KiB of patches (im2col_chunk_rows) all three work through it in row chunks that
//   stay in L2 between the gather and the GEMM (about 2x on a 32x32x32 3x3 layer at batch 32);
//   they then use only one chunk of the workspace (plus depth x cout/groups floats for the
//   kernel gradient's partial sums), so it need not grow with the batch beyond that.
// - Direct: no workspace (the fallback when no algorithm was chosen). Threads over output
//   rows; the inner loops run over channels with unit stride so they vectorize, and interior
//   forward pixels go 4 at a time through a register tile. Depthwise convolutions
//   (cin/groups == 1) use it too: im2col would only copy their input around.
// An algorithm whose preconditions do not hold (Pointwise on a strided or padded convolution,
// Im2col without a workspace) falls back to Direct, which is always correct.
//
// Header-only, standard library only.
#pragma once

#include "kerasc/gemm.h"
#include "kerasc/thread_pool.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace kerasc {

enum class ConvAlgorithm { Direct, Im2col, Pointwise };

/// One forward convolution, channels_last, 2-D (1-D: every *_h size 1, stride/dilation 1).
struct ConvParams {
  int64_t in_h, in_w, cin;    // input  [B, in_h, in_w, cin]
  int64_t out_h, out_w, cout; // output [B, out_h, out_w, cout]
  int64_t k_h, k_w;           // kernel [k_h, k_w, cin / groups, cout]
  int64_t stride_h, stride_w;
  int64_t dil_h, dil_w;
  int64_t pad_top, pad_left; // the before-padding; the after-padding follows from out_*
  int64_t groups;
};

/// Workspace floats per sample that Im2col needs (Direct and Pointwise need none).
inline constexpr int64_t conv_workspace_floats(const ConvParams &p) {
  return p.out_h * p.out_w * p.k_h * p.k_w * (p.cin / p.groups);
}

/// True when the convolution is a plain matrix product (1x1 kernel, stride 1, no padding).
inline constexpr bool conv_is_pointwise(const ConvParams &p) {
  return p.k_h == 1 && p.k_w == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
         p.pad_left == 0 && p.in_h == p.out_h && p.in_w == p.out_w;
}

namespace conv_detail {

/// Output pixels per Direct task along w: enough work per task to pay for the hand-off, and
/// enough tasks for a single 1-D sample to use every thread.
constexpr int64_t kDirectPixelsPerTask = 16;

/// The epilogue of a full-width output, seen from a GEMM that computes only the columns
/// [col0, col0 + n) of it (one group): its flat index is re-based to the full output.
template <class Epilogue> struct GroupEpilogue {
  const Epilogue *epilogue;
  int64_t n, width, col0, row0;
  float operator()(float acc, int64_t flat, int64_t column) const {
    const int64_t row = row0 + (flat - column) / n;
    return (*epilogue)(acc, row * width + col0 + column, col0 + column);
  }
};

/// C = op(A) . op(B) for the group's columns of a `width`-wide output, starting at its row
/// `row0`, with `epilogue` seeing full-output indices (an identity epilogue stays an
/// identity, so gemm skips it).
template <bool TransA, bool TransB, class Epilogue>
void group_gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                int64_t ldb, float *C, int64_t ldc, const Epilogue &epilogue, int64_t width,
                int64_t col0, int64_t row0 = 0) {
  if (std::is_same<Epilogue, IdentityEpilogue>::value || (col0 == 0 && N == width && row0 == 0))
    gemm<TransA, TransB>(M, N, K, A, lda, B, ldb, C, ldc, epilogue);
  else
    gemm<TransA, TransB>(M, N, K, A, lda, B, ldb, C, ldc,
                         GroupEpilogue<Epilogue>{&epilogue, N, width, col0, row0});
}

/// Patch rows per im2col chunk of the forward pass: about 512 KiB of patches, so that the
/// GEMM reads them from L2 right after the gather wrote them (a whole batch's patches go
/// through memory: cifar's 32x32x32 3x3 layer at batch 32 writes and reads 38 MB).
inline int64_t im2col_chunk_rows(int64_t depth) {
  return std::max<int64_t>(64, (int64_t(512) << 10) / (4 * depth));
}

/// im2col of group `g` for the flat output rows [row0, row0 + count) (row = (b, oh, ow)).
inline void im2col_rows(const ConvParams &p, const float *x, int64_t g, int64_t row0,
                        int64_t count, float *cols) {
  const int64_t cgi = p.cin / p.groups, depth = p.k_h * p.k_w * cgi;
  constexpr int64_t kRowsPerTask = 32;
  thread_pool().parallel_for((count + kRowsPerTask - 1) / kRowsPerTask, [&](int64_t task, int) {
    const int64_t end = std::min(count, (task + 1) * kRowsPerTask);
    for (int64_t r = task * kRowsPerTask; r < end; ++r) {
      const int64_t row = row0 + r, ow = row % p.out_w, oh = row / p.out_w % p.out_h,
                    b = row / (p.out_w * p.out_h);
      float *dst = cols + r * depth;
      for (int64_t kh = 0; kh < p.k_h; ++kh) {
        const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dil_h;
        for (int64_t kw = 0; kw < p.k_w; ++kw, dst += cgi) {
          const int64_t iw = ow * p.stride_w - p.pad_left + kw * p.dil_w;
          if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w)
            std::memset(dst, 0, sizeof(float) * static_cast<size_t>(cgi));
          else
            std::memcpy(dst, x + ((b * p.in_h + ih) * p.in_w + iw) * p.cin + g * cgi,
                        sizeof(float) * static_cast<size_t>(cgi));
        }
      }
    }
  });
}

/// Runs epilogue over a finished output of `count` elements with `channels` per pixel.
template <class Epilogue>
void apply_epilogue(float *y, int64_t count, int64_t channels, const Epilogue &epilogue) {
  if (std::is_same<Epilogue, IdentityEpilogue>::value)
    return;
  const int64_t pixels = count / channels;
  thread_pool().parallel_for(pixels / 64 + 1, [&](int64_t task, int) {
    const int64_t end = std::min(pixels, (task + 1) * 64);
    for (int64_t px = task * 64; px < end; ++px)
      for (int64_t c = 0; c < channels; ++c)
        y[px * channels + c] = epilogue(y[px * channels + c], px * channels + c, c);
  });
}

/// Gathers group `g`'s patches: cols[(b, oh, ow), (kh, kw, ci)] = x[b, ih, iw, g*cgi + ci], zero
/// where (ih, iw) falls in the padding.
inline void im2col(const ConvParams &p, int64_t batch, const float *x, int64_t g, float *cols) {
  const int64_t cgi = p.cin / p.groups, row = p.k_h * p.k_w * cgi;
  thread_pool().parallel_for(batch * p.out_h, [&](int64_t task, int) {
    const int64_t b = task / p.out_h, oh = task % p.out_h;
    float *dst = cols + task * p.out_w * row;
    for (int64_t ow = 0; ow < p.out_w; ++ow) {
      for (int64_t kh = 0; kh < p.k_h; ++kh) {
        const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dil_h;
        for (int64_t kw = 0; kw < p.k_w; ++kw, dst += cgi) {
          const int64_t iw = ow * p.stride_w - p.pad_left + kw * p.dil_w;
          if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w)
            std::memset(dst, 0, sizeof(float) * static_cast<size_t>(cgi));
          else
            std::memcpy(dst, x + ((b * p.in_h + ih) * p.in_w + iw) * p.cin + g * cgi,
                        sizeof(float) * static_cast<size_t>(cgi));
        }
      }
    }
  });
}

/// The output position that tap k of input position i maps to, or -1: i = o * s - pad + k * d.
inline int64_t source_of(int64_t i, int64_t k, int64_t stride, int64_t dil, int64_t pad,
                         int64_t out) {
  const int64_t t = i + pad - k * dil;
  if (t < 0 || t % stride != 0 || t / stride >= out)
    return -1;
  return t / stride;
}

/// The inverse of im2col for group `g`: dx[b, ih, iw, g*cgi + ci] = sum of the cols entries
/// that im2col would have read from there (each dx element summed over taps in one order).
inline void col2im(const ConvParams &p, int64_t batch, const float *cols, int64_t g, float *dx) {
  const int64_t cgi = p.cin / p.groups, row = p.k_h * p.k_w * cgi;
  thread_pool().parallel_for(batch * p.in_h, [&](int64_t task, int) {
    const int64_t b = task / p.in_h, ih = task % p.in_h;
    for (int64_t iw = 0; iw < p.in_w; ++iw) {
      float *__restrict out = dx + ((b * p.in_h + ih) * p.in_w + iw) * p.cin + g * cgi;
      std::memset(out, 0, sizeof(float) * static_cast<size_t>(cgi));
      for (int64_t kh = 0; kh < p.k_h; ++kh) {
        const int64_t oh = source_of(ih, kh, p.stride_h, p.dil_h, p.pad_top, p.out_h);
        if (oh < 0)
          continue;
        for (int64_t kw = 0; kw < p.k_w; ++kw) {
          const int64_t ow = source_of(iw, kw, p.stride_w, p.dil_w, p.pad_left, p.out_w);
          if (ow < 0)
            continue;
          const float *__restrict src =
              cols + ((b * p.out_h + oh) * p.out_w + ow) * row + (kh * p.k_w + kw) * cgi;
          for (int64_t c = 0; c < cgi; ++c)
            out[c] += src[c];
        }
      }
    }
  });
}

/// col2im for the conv output lines [l0, l1) (line = b * out_h + oh) of group `g`: adds to dx
/// what cols (those lines' rows, ((line - l0) * out_w + ow) * depth) contribute. Threads split
/// the dx rows; every element adds its taps in a fixed order.
inline void col2im_add_lines(const ConvParams &p, const float *cols, int64_t g, int64_t l0,
                             int64_t l1, float *dx) {
  const int64_t cgi = p.cin / p.groups, depth = p.k_h * p.k_w * cgi;
  const int64_t b0 = l0 / p.out_h, b1 = (l1 - 1) / p.out_h + 1;
  thread_pool().parallel_for((b1 - b0) * p.in_h, [&](int64_t task, int) {
    const int64_t b = b0 + task / p.in_h, ih = task % p.in_h;
    const int64_t oh_lo = std::max<int64_t>(0, l0 - b * p.out_h);
    const int64_t oh_hi = std::min<int64_t>(p.out_h, l1 - b * p.out_h);
    for (int64_t iw = 0; iw < p.in_w; ++iw) {
      float *__restrict out = dx + ((b * p.in_h + ih) * p.in_w + iw) * p.cin + g * cgi;
      for (int64_t kh = 0; kh < p.k_h; ++kh) {
        const int64_t oh = source_of(ih, kh, p.stride_h, p.dil_h, p.pad_top, p.out_h);
        if (oh < oh_lo || oh >= oh_hi)
          continue;
        for (int64_t kw = 0; kw < p.k_w; ++kw) {
          const int64_t ow = source_of(iw, kw, p.stride_w, p.dil_w, p.pad_left, p.out_w);
          if (ow < 0)
            continue;
          const float *__restrict src =
              cols + ((b * p.out_h + oh - l0) * p.out_w + ow) * depth + (kh * p.k_w + kw) * cgi;
          for (int64_t c = 0; c < cgi; ++c)
            out[c] += src[c];
        }
      }
    }
  });
}

/// sum a[i] * b[i] with eight partial sums, a shape compilers turn into one vector FMA chain.
inline float dot(const float *__restrict a, const float *__restrict b, int64_t n) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j)
      s[j] += a[i + j] * b[i + j];
  float tail = 0.0f;
  for (; i < n; ++i)
    tail += a[i] * b[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + tail;
}

/// Output pixels that Direct computes together, and output channels per register vector.
constexpr int64_t kDirectBlockPixels = 4;
constexpr int64_t kDirectBlockChannels = 16;

/// True when every tap of output column ow reads inside the input (no padding column).
inline bool interior(const ConvParams &p, int64_t ow) {
  const int64_t iw = ow * p.stride_w - p.pad_left;
  return iw >= 0 && iw + (p.k_w - 1) * p.dil_w < p.in_w;
}

/// Direct forward of kDirectBlockPixels interior output pixels starting at (b, oh, ow), all
/// channels: a small register tile (4 pixels x 16 channels) accumulates over taps and input
/// channels, reusing each kernel row for 4 pixels. Sums in the same order as the per-pixel
/// loop (taps, then input channels), so both give identical results.
/// One channel block of forward_block: `n` output channels from co0 (kFull: n == 16, a loop of
/// constant length over accumulators that compilers keep in vector registers; the partial
/// block is a separate instantiation so that its scalar code does not pull them into memory).
template <bool kFull>
inline void forward_block_channels(const ConvParams &p, int64_t b, int64_t oh, int64_t ow,
                                   int64_t g, int64_t co0, int64_t n, const float *x,
                                   const float *w, float *out) {
  constexpr int64_t C = kDirectBlockChannels;
  const int64_t cgi = p.cin / p.groups;
  const int64_t m = kFull ? C : n;
  const int64_t x_step = p.stride_w * p.cin; // between the block's pixels
  float a0[C] = {}, a1[C] = {}, a2[C] = {}, a3[C] = {};
  for (int64_t kh = 0; kh < p.k_h; ++kh) {
    const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dil_h;
    if (ih < 0 || ih >= p.in_h)
      continue;
    for (int64_t kw = 0; kw < p.k_w; ++kw) {
      const float *in = x + ((b * p.in_h + ih) * p.in_w + ow * p.stride_w - p.pad_left +
                             kw * p.dil_w) * p.cin + g * cgi;
      const float *tap = w + (kh * p.k_w + kw) * cgi * p.cout + co0;
      for (int64_t ci = 0; ci < cgi; ++ci) {
        const float *__restrict wr = tap + ci * p.cout;
        const float v0 = in[ci], v1 = in[x_step + ci], v2 = in[2 * x_step + ci],
                    v3 = in[3 * x_step + ci];
        for (int64_t c = 0; c < m; ++c) {
          a0[c] += v0 * wr[c];
          a1[c] += v1 * wr[c];
          a2[c] += v2 * wr[c];
          a3[c] += v3 * wr[c];
        }
      }
    }
  }
  const size_t bytes = sizeof(float) * static_cast<size_t>(m);
  std::memcpy(out + co0, a0, bytes);
  std::memcpy(out + p.cout + co0, a1, bytes);
  std::memcpy(out + 2 * p.cout + co0, a2, bytes);
  std::memcpy(out + 3 * p.cout + co0, a3, bytes);
}

/// Direct forward of kDirectBlockPixels interior output pixels starting at (b, oh, ow), all
/// channels: a register tile (4 pixels x 16 channels) accumulates over taps and input
/// channels, reusing each kernel row for 4 pixels. Sums in the same order as the per-pixel
/// loop (taps, then input channels), so both give identical results.
inline void forward_block(const ConvParams &p, int64_t b, int64_t oh, int64_t ow,
                          const float *x, const float *w, float *y) {
  static_assert(kDirectBlockPixels == 4, "forward_block_channels is written out for 4 pixels");
  constexpr int64_t C = kDirectBlockChannels;
  const int64_t cgo = p.cout / p.groups;
  float *out = y + ((b * p.out_h + oh) * p.out_w + ow) * p.cout;
  for (int64_t g = 0; g < p.groups; ++g)
    for (int64_t cb = 0; cb < cgo; cb += C) {
      if (cgo - cb >= C)
        forward_block_channels<true>(p, b, oh, ow, g, g * cgo + cb, C, x, w, out);
      else
        forward_block_channels<false>(p, b, oh, ow, g, g * cgo + cb, cgo - cb, x, w, out);
    }
}

/// Largest cout * out_w of forward_single_channel's per-row accumulator tile (16 KiB).
constexpr int64_t kSingleChannelTile = 4096;

/// True when forward_single_channel handles the convolution: one input channel and no groups
/// (a grayscale image), unit stride and dilation along w, and a row tile that fits.
inline bool single_channel_rows(const ConvParams &p) {
  return p.cin == 1 && p.groups == 1 && p.stride_w == 1 && p.dil_w == 1 &&
         p.cout * p.out_w <= kSingleChannelTile;
}

/// One input channel: every output row is cout vectors along w, each a sum of the input rows
/// under the kernel shifted by kw and scaled by one tap, so loads and FMAs run contiguously
/// along the image row. Per pixel (forward_direct's loop) the only vector is cout wide: LeNet's
/// 5x5x1 -> 6 layer ran at 3 GFLOP/s that way, and im2col's GEMM has only 6 columns to fill
/// its 32-wide tiles with.
template <class Epilogue>
void forward_single_channel(const ConvParams &p, int64_t batch, const float *x, const float *w,
                            float *y, const Epilogue &epilogue) {
  thread_pool().parallel_for(batch * p.out_h, [&](int64_t line, int) {
    const int64_t b = line / p.out_h, oh = line % p.out_h;
    alignas(64) float acc[kSingleChannelTile];
    std::fill(acc, acc + p.cout * p.out_w, 0.0f);
    for (int64_t kh = 0; kh < p.k_h; ++kh) {
      const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dil_h;
      if (ih < 0 || ih >= p.in_h)
        continue;
      const float *row = x + (b * p.in_h + ih) * p.in_w;
      for (int64_t kw = 0; kw < p.k_w; ++kw) {
        const int64_t shift = kw - p.pad_left; // input column of output column ow: ow + shift
        const int64_t lo = std::max<int64_t>(0, -shift);
        const int64_t hi = std::min(p.out_w, p.in_w - shift);
        const float *tap = w + (kh * p.k_w + kw) * p.cout;
        for (int64_t co = 0; co < p.cout; ++co) {
          const float t = tap[co];
          float *__restrict a = acc + co * p.out_w;
          const float *__restrict in = row + shift;
          for (int64_t ow = lo; ow < hi; ++ow)
            a[ow] += t * in[ow];
        }
      }
    }
    const int64_t base = line * p.out_w * p.cout;
    float *__restrict out = y + base;
    for (int64_t ow = 0; ow < p.out_w; ++ow)
      for (int64_t co = 0; co < p.cout; ++co)
        out[ow * p.cout + co] =
            epilogue(acc[co * p.out_w + ow], base + ow * p.cout + co, co);
  });
}

/// Direct forward: each output pixel accumulates kernel rows scaled by its input values
/// (out[co] += x[ci] * w[tap, ci, co], unit stride over co); runs of interior pixels go
/// through forward_block's register tile.
template <class Epilogue>
void forward_direct(const ConvParams &p, int64_t batch, const float *x, const float *w, float *y,
                    const Epilogue &epilogue) {
  if (single_channel_rows(p)) {
    forward_single_channel(p, batch, x, w, y, epilogue);
    return;
  }
  const int64_t cgi = p.cin / p.groups, cgo = p.cout / p.groups;
  const int64_t chunks = (p.out_w + kDirectPixelsPerTask - 1) / kDirectPixelsPerTask;
  thread_pool().parallel_for(batch * p.out_h * chunks, [&](int64_t task, int) {
    const int64_t line = task / chunks, b = line / p.out_h, oh = line % p.out_h;
    const int64_t ow0 = (task % chunks) * kDirectPixelsPerTask;
    const int64_t ow1 = std::min(p.out_w, ow0 + kDirectPixelsPerTask);
    for (int64_t ow = ow0; ow < ow1; ++ow) {
      const int64_t base = ((b * p.out_h + oh) * p.out_w + ow) * p.cout;
      if (cgi > 1 && ow + kDirectBlockPixels <= ow1 && interior(p, ow) &&
          interior(p, ow + kDirectBlockPixels - 1)) {
        forward_block(p, b, oh, ow, x, w, y);
        if (!std::is_same<Epilogue, IdentityEpilogue>::value)
          for (int64_t i = 0; i < kDirectBlockPixels * p.cout; ++i)
            y[base + i] = epilogue(y[base + i], base + i, i % p.cout);
        ow += kDirectBlockPixels - 1;
        continue;
      }
      float *__restrict out = y + base;
      std::fill(out, out + p.cout, 0.0f);
      for (int64_t kh = 0; kh < p.k_h; ++kh) {
        const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dil_h;
        if (ih < 0 || ih >= p.in_h)
          continue;
        for (int64_t kw = 0; kw < p.k_w; ++kw) {
          const int64_t iw = ow * p.stride_w - p.pad_left + kw * p.dil_w;
          if (iw < 0 || iw >= p.in_w)
            continue;
          const float *__restrict in = x + ((b * p.in_h + ih) * p.in_w + iw) * p.cin;
          const float *__restrict tap = w + (kh * p.k_w + kw) * cgi * p.cout;
          if (cgi == 1 && cgo == 1) { // depthwise, multiplier 1
            for (int64_t c = 0; c < p.cout; ++c)
              out[c] += in[c] * tap[c];
          } else if (cgi == 1 && p.groups == 1) { // one input channel (e.g. a grayscale image)
            const float v = in[0];
            for (int64_t c = 0; c < p.cout; ++c)
              out[c] += v * tap[c];
          } else if (cgi == 1) { // depthwise with a multiplier
            for (int64_t c = 0; c < p.cout; ++c)
              out[c] += in[c / cgo] * tap[c];
          } else {
            for (int64_t g = 0; g < p.groups; ++g)
              for (int64_t ci = 0; ci < cgi; ++ci) {
                const float v = in[g * cgi + ci];
                const float *__restrict wr = tap + ci * p.cout + g * cgo;
                float *__restrict o = out + g * cgo;
                for (int64_t c = 0; c < cgo; ++c)
                  o[c] += v * wr[c];
              }
          }
        }
      }
      if (!std::is_same<Epilogue, IdentityEpilogue>::value)
        for (int64_t c = 0; c < p.cout; ++c)
          out[c] = epilogue(out[c], base + c, c);
    }
  });
}

/// Direct transpose: each dx pixel gathers, over the taps that reach it, dy's pixel times the
/// kernel tap transposed (dx[ci] += sum_co dy[co] * w[tap, ci, co] within the group).
inline void transpose_direct(const ConvParams &p, int64_t batch, const float *dy, const float *w,
                             float *dx) {
  const int64_t cgi = p.cin / p.groups, cgo = p.cout / p.groups;
  thread_pool().parallel_for(batch * p.in_h, [&](int64_t task, int) {
    const int64_t b = task / p.in_h, ih = task % p.in_h;
    for (int64_t iw = 0; iw < p.in_w; ++iw) {
      float *__restrict out = dx + ((b * p.in_h + ih) * p.in_w + iw) * p.cin;
      std::fill(out, out + p.cin, 0.0f);
      for (int64_t kh = 0; kh < p.k_h; ++kh) {
        const int64_t oh = source_of(ih, kh, p.stride_h, p.dil_h, p.pad_top, p.out_h);
        if (oh < 0)
          continue;
        for (int64_t kw = 0; kw < p.k_w; ++kw) {
          const int64_t ow = source_of(iw, kw, p.stride_w, p.dil_w, p.pad_left, p.out_w);
          if (ow < 0)
            continue;
          const float *__restrict g_row = dy + ((b * p.out_h + oh) * p.out_w + ow) * p.cout;
          const float *__restrict tap = w + (kh * p.k_w + kw) * cgi * p.cout;
          if (cgi == 1 && cgo == 1) {
            for (int64_t c = 0; c < p.cin; ++c)
              out[c] += g_row[c] * tap[c];
          } else {
            for (int64_t g = 0; g < p.groups; ++g)
              for (int64_t ci = 0; ci < cgi; ++ci)
                out[g * cgi + ci] += dot(g_row + g * cgo, tap + ci * p.cout + g * cgo, cgo);
          }
        }
      }
    }
  });
}

/// Kernel gradient for one input channel (forward_single_channel's convolutions, at most
/// kSingleChannelTaps taps): each task owns output channels, gathers dy's channel along each
/// output row, and adds its dot product with every shifted input row to the tap's sum. The
/// im2col GEMM had Cout (6 for LeNet) columns: 3 GFLOP/s.
constexpr int64_t kSingleChannelTaps = 256;

inline void grad_kernel_single_channel(const ConvParams &p, int64_t batch, const float *x,
                                       const float *dy, float *dw) {
  thread_pool().parallel_for(p.cout, [&](int64_t co, int) {
    float sums[kSingleChannelTaps] = {};
    alignas(64) float g[kSingleChannelTile];
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t oh = 0; oh < p.out_h; ++oh) {
        const float *dy_row = dy + (b * p.out_h + oh) * p.out_w * p.cout + co;
        for (int64_t ow = 0; ow < p.out_w; ++ow)
          g[ow] = dy_row[ow * p.cout];
        for (int64_t kh = 0; kh < p.k_h; ++kh) {
          const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dil_h;
          if (ih < 0 || ih >= p.in_h)
            continue;
          const float *row = x + (b * p.in_h + ih) * p.in_w;
          for (int64_t kw = 0; kw < p.k_w; ++kw) {
            const int64_t shift = kw - p.pad_left;
            const int64_t lo = std::max<int64_t>(0, -shift);
            const int64_t hi = std::min(p.out_w, p.in_w - shift);
            if (hi > lo)
              sums[kh * p.k_w + kw] += dot(row + shift + lo, g + lo, hi - lo);
          }
        }
      }
    for (int64_t tap = 0; tap < p.k_h * p.k_w; ++tap)
      dw[tap * p.cout + co] = sums[tap];
  });
}

/// Direct kernel gradient: each (tap, ci) row of dw sums x[.., ci] * dy[.., :] over every
/// sample and output pixel; rows are independent tasks (deterministic).
inline void grad_kernel_direct(const ConvParams &p, int64_t batch, const float *x,
                               const float *dy, float *dw) {
  if (single_channel_rows(p) && p.out_w <= kSingleChannelTile &&
      p.k_h * p.k_w <= kSingleChannelTaps) {
    grad_kernel_single_channel(p, batch, x, dy, dw);
    return;
  }
  const int64_t cgi = p.cin / p.groups, cgo = p.cout / p.groups;
  if (cgi == 1) {
    // Depthwise: threads split the channels into blocks of 16 (one vector); per output row and
    // tap, the products along the row are summed in registers (acc) and added to dw once. A
    // task per (tap, channel) row re-read x and dy k_h * k_w times and updated dw in memory
    // for every pixel: 2-3 GFLOP/s on 32x32x64 3x3 (batch 32), this runs at ~20.
    constexpr int64_t kBlock = 16;
    thread_pool().parallel_for((p.cout + kBlock - 1) / kBlock, [&](int64_t task, int) {
      const int64_t c0 = task * kBlock, n = std::min(p.cout - c0, kBlock);
      for (int64_t tap = 0; tap < p.k_h * p.k_w; ++tap)
        std::fill(dw + tap * p.cout + c0, dw + tap * p.cout + c0 + n, 0.0f);
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t oh = 0; oh < p.out_h; ++oh)
          for (int64_t kh = 0; kh < p.k_h; ++kh) {
            const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dil_h;
            if (ih < 0 || ih >= p.in_h)
              continue;
            const float *x_row = x + (b * p.in_h + ih) * p.in_w * p.cin;
            const float *dy_row = dy + (b * p.out_h + oh) * p.out_w * p.cout + c0;
            for (int64_t kw = 0; kw < p.k_w; ++kw) {
              // Output columns whose input column iw = ow * s - pad + kw * d is in [0, in_w).
              const int64_t shift = kw * p.dil_w - p.pad_left;
              const int64_t lo = shift >= 0 ? 0 : (-shift + p.stride_w - 1) / p.stride_w;
              const int64_t hi =
                  p.in_w - 1 - shift < 0
                      ? 0
                      : std::min(p.out_w, (p.in_w - 1 - shift) / p.stride_w + 1);
              float acc[kBlock] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
              const float *in = x_row + (lo * p.stride_w + shift) * p.cin;
              const float *g = dy_row + lo * p.cout;
              const int64_t in_step = p.stride_w * p.cin;
              if (cgo == 1 && n == kBlock) { // the common case: a full vector, multiplier 1
                for (int64_t ow = lo; ow < hi; ++ow, in += in_step, g += p.cout)
                  for (int64_t c = 0; c < kBlock; ++c)
                    acc[c] += in[c0 + c] * g[c];
              } else {
                for (int64_t ow = lo; ow < hi; ++ow, in += in_step, g += p.cout)
                  for (int64_t c = 0; c < n; ++c)
                    acc[c] += in[(c0 + c) / cgo] * g[c];
              }
              float *__restrict row = dw + (kh * p.k_w + kw) * p.cout + c0;
              for (int64_t c = 0; c < n; ++c)
                row[c] += acc[c];
            }
          }
    });
    return;
  }
  thread_pool().parallel_for(p.k_h * p.k_w * cgi, [&](int64_t r, int) {
    const int64_t ci = r % cgi, tap = r / cgi, kh = tap / p.k_w, kw = tap % p.k_w;
    float *__restrict row = dw + r * p.cout;
    std::fill(row, row + p.cout, 0.0f);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t oh = 0; oh < p.out_h; ++oh) {
        const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dil_h;
        if (ih < 0 || ih >= p.in_h)
          continue;
        for (int64_t ow = 0; ow < p.out_w; ++ow) {
          const int64_t iw = ow * p.stride_w - p.pad_left + kw * p.dil_w;
          if (iw < 0 || iw >= p.in_w)
            continue;
          const float *__restrict in = x + ((b * p.in_h + ih) * p.in_w + iw) * p.cin;
          const float *__restrict g_row = dy + ((b * p.out_h + oh) * p.out_w + ow) * p.cout;
          for (int64_t g = 0; g < p.groups; ++g) {
            const float v = in[g * cgi + ci];
            for (int64_t c = g * cgo; c < (g + 1) * cgo; ++c)
              row[c] += v * g_row[c];
          }
        }
      }
  });
}

inline ConvAlgorithm usable(ConvAlgorithm algorithm, const ConvParams &p,
                            const float *workspace) {
  if (algorithm == ConvAlgorithm::Pointwise && !conv_is_pointwise(p))
    return ConvAlgorithm::Direct;
  if (algorithm == ConvAlgorithm::Im2col && !workspace)
    return ConvAlgorithm::Direct;
  return algorithm;
}

} // namespace conv_detail

/// y[B, out_h, out_w, cout] = epilogue(conv(x[B, in_h, in_w, cin], w[k_h, k_w, cin/g, cout])).
/// workspace: conv_workspace_floats(p) * batch floats for Im2col, else unused (may be null).
template <class Epilogue>
void conv_forward(ConvAlgorithm algorithm, const ConvParams &p, int64_t batch, const float *x,
                  const float *w, float *y, float *workspace, Epilogue epilogue) {
  const int64_t cgi = p.cin / p.groups, cgo = p.cout / p.groups;
  const int64_t rows = batch * p.out_h * p.out_w;
  switch (conv_detail::usable(algorithm, p, workspace)) {
  case ConvAlgorithm::Pointwise:
    for (int64_t g = 0; g < p.groups; ++g)
      conv_detail::group_gemm<false, false>(rows, cgo, cgi, x + g * cgi, p.cin, w + g * cgo,
                                            p.cout, y + g * cgo, p.cout, epilogue, p.cout,
                                            g * cgo);
    return;
  case ConvAlgorithm::Im2col: {
    // In chunks of rows (the workspace holds them all, but a chunk stays in L2 between the
    // gather and the GEMM); every output element is still one GEMM dot product over the whole
    // patch, so the chunking changes no result.
    const int64_t depth = p.k_h * p.k_w * cgi, chunk = conv_detail::im2col_chunk_rows(depth);
    for (int64_t g = 0; g < p.groups; ++g)
      for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int64_t m = std::min(chunk, rows - r0);
        conv_detail::im2col_rows(p, x, g, r0, m, workspace);
        conv_detail::group_gemm<false, false>(m, cgo, depth, workspace, depth, w + g * cgo,
                                              p.cout, y + r0 * p.cout + g * cgo, p.cout,
                                              epilogue, p.cout, g * cgo, r0);
      }
    return;
  }
  case ConvAlgorithm::Direct:
    conv_detail::forward_direct(p, batch, x, w, y, epilogue);
    return;
  }
}

/// dx[B, in_h, in_w, cin] = epilogue(the transposed convolution of dy[B, out_h, out_w, cout]
/// with w[k_h, k_w, cin/g, cout]): the gradient of conv_forward with respect to x, and Keras's
/// Conv2DTranspose (see the top of this file for how its shapes map onto p).
template <class Epilogue>
void conv_transpose(ConvAlgorithm algorithm, const ConvParams &p, int64_t batch, const float *dy,
                    const float *w, float *dx, float *workspace, Epilogue epilogue) {
  const int64_t cgi = p.cin / p.groups, cgo = p.cout / p.groups;
  const int64_t rows = batch * p.out_h * p.out_w;
  switch (conv_detail::usable(algorithm, p, workspace)) {
  case ConvAlgorithm::Pointwise:
    // dx[:, group g] = dy[:, group g] . w[:, group g]^T, w viewed as [cgi, cout].
    for (int64_t g = 0; g < p.groups; ++g)
      conv_detail::group_gemm<false, true>(rows, cgi, cgo, dy + g * cgo, p.cout, w + g * cgo,
                                           p.cout, dx + g * cgi, p.cin, epilogue, p.cin,
                                           g * cgi);
    return;
  case ConvAlgorithm::Im2col: {
    // cols[(b, o), (tap, ci)] = sum_co dy[b, o, co] w[tap, ci, co]: what each patch element
    // contributes; col2im sums the contributions that land on each dx element. Above one
    // L2-sized chunk of rows, whole output lines at a time are multiplied and added into dx
    // (zeroed first), so the columns are read back from L2.
    const int64_t depth = p.k_h * p.k_w * cgi;
    const int64_t lines = std::max<int64_t>(1, conv_detail::im2col_chunk_rows(depth) / p.out_w);
    const int64_t total_lines = batch * p.out_h;
    if (lines >= total_lines) {
      for (int64_t g = 0; g < p.groups; ++g) {
        gemm<false, true>(rows, depth, cgo, dy + g * cgo, p.cout, w + g * cgo, p.cout,
                          workspace, depth, IdentityEpilogue{});
        conv_detail::col2im(p, batch, workspace, g, dx);
      }
      break;
    }
    std::memset(dx, 0, sizeof(float) * static_cast<size_t>(batch * p.in_h * p.in_w * p.cin));
    for (int64_t g = 0; g < p.groups; ++g)
      for (int64_t l0 = 0; l0 < total_lines; l0 += lines) {
        const int64_t l1 = std::min(total_lines, l0 + lines);
        gemm<false, true>((l1 - l0) * p.out_w, depth, cgo, dy + l0 * p.out_w * p.cout + g * cgo,
                          p.cout, w + g * cgo, p.cout, workspace, depth, IdentityEpilogue{});
        conv_detail::col2im_add_lines(p, workspace, g, l0, l1, dx);
      }
    break;
  }
  case ConvAlgorithm::Direct:
    conv_detail::transpose_direct(p, batch, dy, w, dx);
    break;
  }
  conv_detail::apply_epilogue(dx, batch * p.in_h * p.in_w * p.cin, p.cin, epilogue);
}

/// dw[k_h, k_w, cin/g, cout] = sum over the batch of d conv(x, w) / d w contracted with
/// dy[B, out_h, out_w, cout]; overwrites dw.
inline void conv_grad_kernel(ConvAlgorithm algorithm, const ConvParams &p, int64_t batch,
                             const float *x, const float *dy, float *dw, float *workspace) {
  const int64_t cgi = p.cin / p.groups, cgo = p.cout / p.groups;
  const int64_t rows = batch * p.out_h * p.out_w;
  switch (conv_detail::usable(algorithm, p, workspace)) {
  case ConvAlgorithm::Pointwise:
    for (int64_t g = 0; g < p.groups; ++g)
      gemm<true, false>(cgi, cgo, rows, x + g * cgi, p.cin, dy + g * cgo, p.cout, dw + g * cgo,
                        p.cout, IdentityEpilogue{});
    return;
  case ConvAlgorithm::Im2col: {
    // In chunks of patch rows that stay in L2 (like conv_forward), when the workspace also
    // holds one chunk's partial gradient (rows >= chunk + cgo): the first chunk's GEMM writes
    // dw, each later one a partial that is added to it. Deterministic: the chunks depend on the
    // shapes only.
    const int64_t depth = p.k_h * p.k_w * cgi, chunk = conv_detail::im2col_chunk_rows(depth);
    const bool chunked = rows >= chunk + cgo;
    float *partial = workspace + chunk * depth;
    for (int64_t g = 0; g < p.groups; ++g) {
      if (!chunked) {
        conv_detail::im2col(p, batch, x, g, workspace);
        gemm<true, false>(depth, cgo, rows, workspace, depth, dy + g * cgo, p.cout,
                          dw + g * cgo, p.cout, IdentityEpilogue{});
        continue;
      }
      for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int64_t m = std::min(chunk, rows - r0);
        conv_detail::im2col_rows(p, x, g, r0, m, workspace);
        const float *dy_rows = dy + r0 * p.cout + g * cgo;
        if (r0 == 0) {
          gemm<true, false>(depth, cgo, m, workspace, depth, dy_rows, p.cout, dw + g * cgo,
                            p.cout, IdentityEpilogue{});
          continue;
        }
        gemm<true, false>(depth, cgo, m, workspace, depth, dy_rows, p.cout, partial, cgo,
                          IdentityEpilogue{});
        for (int64_t i = 0; i < depth; ++i) {
          float *__restrict row = dw + i * p.cout + g * cgo;
          const float *__restrict add = partial + i * cgo;
          for (int64_t c = 0; c < cgo; ++c)
            row[c] += add[c];
        }
      }
    }
    return;
  }
  case ConvAlgorithm::Direct:
    conv_detail::grad_kernel_direct(p, batch, x, dy, dw);
    return;
  }
}

} // namespace kerasc
