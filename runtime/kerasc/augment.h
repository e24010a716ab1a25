// kerasc runtime: Keras 3's image augmentation layers in training mode (RandomFlip,
// RandomRotation, RandomZoom, RandomTranslation, RandomContrast). At inference they are
// identities and never reach generated code; in `fit` each draws its random parameters per image
// from the counter-based RNG (rng.h), so the same seed gives the same augmented batches.
//
// The geometric layers follow keras.ops.image.affine_transform on the JAX backend, which maps
// every output pixel (y, x) to the input point
//     x_in = a0 * x + a1 * y + a2,   y_in = b0 * x + b1 * y + b2
// and reads it with jax.scipy.ndimage.map_coordinates: nearest rounds half away from zero,
// bilinear blends the 2x2 neighbours, and each neighbour index outside the image is fixed by the
// fill mode on its own (so at a "constant" border the fill value is blended in per tap).
// Nothing here allocates. Header-only, standard library only.
#pragma once

#include "kerasc/rng.h"
#include "kerasc/thread_pool.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace kerasc {

enum class AugmentKind { Flip, Rotation, Zoom, Translation, Contrast };
enum class FillMode { Reflect, Wrap, Constant, Nearest };
enum class Interpolation { Nearest, Bilinear };

/// One image of a batch: [height, width, channels] (channels_last) or [channels, height, width].
struct ImageLayout {
  int64_t height = 0, width = 0, channels = 0;
  bool channels_first = false;
  int64_t size() const { return height * width * channels; }
  int64_t index(int64_t y, int64_t x, int64_t c) const {
    return channels_first ? (c * height + y) * width + x : (y * width + x) * channels + c;
  }
};

/// A layer's Keras config, reduced to what the transform needs. Factor ranges are what Keras's
/// _set_factor makes of `factor` / `height_factor` / `width_factor`: [lower, upper].
struct AugmentConfig {
  AugmentKind kind = AugmentKind::Flip;
  // RandomFlip: which axes a flip reverses. horizontal_and_vertical reverses both on ONE draw
  // (Keras uses the same `flips` mask for both axes).
  bool flip_horizontal = false, flip_vertical = false;
  // Rotation: fractions of a full turn; zoom / translation: height fractions; contrast: the
  // factor is drawn in [1 - lower, 1 + upper].
  float lower = 0.0f, upper = 0.0f;
  // Zoom / translation: width fractions. RandomZoom without width_factor zooms both axes by the
  // height draw (has_width = false).
  float width_lower = 0.0f, width_upper = 0.0f;
  bool has_width = false;
  FillMode fill_mode = FillMode::Reflect;
  Interpolation interpolation = Interpolation::Bilinear;
  float fill_value = 0.0f;
  // RandomContrast clips its output to value_range.
  float value_low = 0.0f, value_high = 255.0f;
};

/// The index a tap at `i` reads along an axis of `size`, per fill mode (jax.scipy.ndimage's
/// index fixers; "constant" keeps i and the caller tests it).
inline int64_t fix_index(int64_t i, int64_t size, FillMode mode) {
  if (i >= 0 && i < size)
    return i; // inside: every mode reads it (and skips the divisions below)
  auto floor_mod = [](int64_t a, int64_t n) { return ((a % n) + n) % n; };
  switch (mode) {
  case FillMode::Constant:
    return i;
  case FillMode::Nearest:
    return i < 0 ? 0 : i >= size ? size - 1 : i;
  case FillMode::Wrap:
    return floor_mod(i, size);
  case FillMode::Reflect: {
    // d c b a | a b c d | d c b a: JAX's _reflect_index_fixer, a triangular wave over 2 * size.
    const int64_t n = 2 * size + 1, s = n - 1;
    const int64_t mirrored = std::llabs(floor_mod(2 * i + 1 + s, 2 * s) - s);
    const int64_t t = mirrored - 1;
    return t >= 0 ? t / 2 : -((-t + 1) / 2); // floor division by 2
  }
  }
  return i;
}

/// out = the image `in` resampled through the affine map m = [a0, a1, a2, b0, b1, b2] (see the
/// file comment). `in` and `out` are one image each and must not overlap. Each output pixel's
/// taps (offsets and weights) are found once and then applied to every channel.
inline void affine_transform(const float *in, float *out, const ImageLayout &L, const float m[6],
                             Interpolation interpolation, FillMode fill_mode, float fill_value) {
  const bool constant = fill_mode == FillMode::Constant;
  // Element stride between channels of one pixel, and the element offset of pixel (y, x).
  const int64_t cs = L.channels_first ? L.height * L.width : 1;
  auto pixel = [&](int64_t y, int64_t x) { return L.index(y, x, 0); };
  for (int64_t y = 0; y < L.height; ++y)
    for (int64_t x = 0; x < L.width; ++x) {
      float *o = out + pixel(y, x);
      // The same float32 operations, in the same order, as the einsum in Keras's JAX code.
      const float fy = static_cast<float>(y), fx = static_cast<float>(x);
      const float yin = (fy * m[4] + fx * m[3]) + m[5];
      const float xin = (fy * m[1] + fx * m[0]) + m[2];
      if (!(std::fabs(yin) < 1e9f && std::fabs(xin) < 1e9f)) { // no integer overflow, no NaN
        for (int64_t c = 0; c < L.channels; ++c)
          o[c * cs] = constant ? fill_value : 0.0f;
        continue;
      }
      if (interpolation == Interpolation::Nearest) {
        const int64_t iy = static_cast<int64_t>(std::round(yin)); // half away from zero
        const int64_t ix = static_cast<int64_t>(std::round(xin));
        if (constant && !(iy >= 0 && iy < L.height && ix >= 0 && ix < L.width)) {
          for (int64_t c = 0; c < L.channels; ++c)
            o[c * cs] = fill_value;
          continue;
        }
        const float *src =
            in + pixel(fix_index(iy, L.height, fill_mode), fix_index(ix, L.width, fill_mode));
        for (int64_t c = 0; c < L.channels; ++c)
          o[c * cs] = src[c * cs];
        continue;
      }
      const float y0f = std::floor(yin), x0f = std::floor(xin);
      const float wy1 = yin - y0f, wx1 = xin - x0f;
      const float wy[2] = {1.0f - wy1, wy1}, wx[2] = {1.0f - wx1, wx1};
      const int64_t y0 = static_cast<int64_t>(y0f), x0 = static_cast<int64_t>(x0f);
      // Taps in JAX's order, (y0, x0), (y0, x1), (y1, x0), (y1, x1); an out-of-bounds tap of
      // "constant" reads fill_value.
      const float *tap[4];
      float weight[4];
      bool inside[4];
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) {
          const int k = 2 * a + b;
          const int64_t iy = y0 + a, ix = x0 + b;
          inside[k] = !constant || (iy >= 0 && iy < L.height && ix >= 0 && ix < L.width);
          tap[k] = inside[k] ? in + pixel(fix_index(iy, L.height, fill_mode),
                                          fix_index(ix, L.width, fill_mode))
                             : nullptr;
          weight[k] = wy[a] * wx[b];
        }
      if (inside[0] && inside[1] && inside[2] && inside[3]) {
        for (int64_t c = 0; c < L.channels; ++c) {
          const int64_t e = c * cs;
          o[e] = ((weight[0] * tap[0][e] + weight[1] * tap[1][e]) + weight[2] * tap[2][e]) +
                 weight[3] * tap[3][e];
        }
        continue;
      }
      for (int64_t c = 0; c < L.channels; ++c) {
        const int64_t e = c * cs;
        float acc = 0.0f;
        for (int k = 0; k < 4; ++k)
          acc += weight[k] * (inside[k] ? tap[k][e] : fill_value);
        o[e] = acc;
      }
    }
}

/// Keras's rotation matrix (BaseImagePreprocessingLayer._compute_affine_matrix with no
/// translation, shear or scale) for a rotation by `degrees` about the image center.
inline void rotation_matrix(float degrees, int64_t height, int64_t width, float m[6]) {
  const float angle = degrees * static_cast<float>(3.14159265358979323846 / 180.0);
  const float cx = 0.5f * (static_cast<float>(width) - 1.0f);
  const float cy = 0.5f * (static_cast<float>(height) - 1.0f);
  const float c = std::cos(angle), s = std::sin(angle);
  m[0] = c;
  m[1] = -s;
  m[2] = cx - cx * m[0] - cy * m[1];
  m[3] = s;
  m[4] = c;
  m[5] = cy - cx * m[3] - cy * m[4];
}

/// RandomZoom._get_zoom_matrix: zoom factors > 1 show more of the image (zoom out).
inline void zoom_matrix(float zoom_y, float zoom_x, int64_t height, int64_t width, float m[6]) {
  m[0] = zoom_x;
  m[1] = 0.0f;
  m[2] = ((static_cast<float>(width) - 1.0f) / 2.0f) * (1.0f - zoom_x);
  m[3] = 0.0f;
  m[4] = zoom_y;
  m[5] = ((static_cast<float>(height) - 1.0f) / 2.0f) * (1.0f - zoom_y);
}

/// RandomTranslation._get_translation_matrix: the image moves by (dy, dx) pixels.
inline void translation_matrix(float dy, float dx, float m[6]) {
  m[0] = 1.0f;
  m[1] = 0.0f;
  m[2] = -dx;
  m[3] = 0.0f;
  m[4] = 1.0f;
  m[5] = -dy;
}

/// Reverses the image left-right and/or top-bottom.
inline void flip_image(const float *in, float *out, const ImageLayout &L, bool horizontal,
                       bool vertical) {
  for (int64_t y = 0; y < L.height; ++y)
    for (int64_t x = 0; x < L.width; ++x) {
      const int64_t sy = vertical ? L.height - 1 - y : y;
      const int64_t sx = horizontal ? L.width - 1 - x : x;
      for (int64_t c = 0; c < L.channels; ++c)
        out[L.index(y, x, c)] = in[L.index(sy, sx, c)];
    }
}

/// RandomContrast._adjust_contrast and its clip: each channel moves away from (factor > 1) or
/// towards its mean over the image, then is clipped to [low, high].
inline void adjust_contrast(const float *in, float *out, const ImageLayout &L, float factor,
                            float low, float high) {
  const int64_t pixels = L.height * L.width;
  for (int64_t c = 0; c < L.channels; ++c) {
    double sum = 0.0;
    for (int64_t y = 0; y < L.height; ++y)
      for (int64_t x = 0; x < L.width; ++x)
        sum += in[L.index(y, x, c)];
    const float mean = static_cast<float>(sum / static_cast<double>(pixels));
    for (int64_t y = 0; y < L.height; ++y)
      for (int64_t x = 0; x < L.width; ++x) {
        const int64_t i = L.index(y, x, c);
        const float v = (in[i] - mean) * factor + mean;
        out[i] = v < low ? low : v > high ? high : v;
      }
  }
}

/// The random parameters of one image.
struct AugmentDraw {
  bool flip = false; // RandomFlip
  float m[6] = {1, 0, 0, 0, 1, 0}; // rotation / zoom / translation
  float contrast = 1.0f; // RandomContrast
};

/// Draws image `sample`'s parameters from (seed, stream): draw k of image i uses counter 2i + k,
/// so every image's parameters are independent of the batch size and of the other images.
/// The ranges are Keras's: uniform in [min, max) as keras.random.uniform draws them.
inline AugmentDraw augment_draw(const AugmentConfig &c, uint64_t seed, uint64_t stream,
                                int64_t sample, const ImageLayout &L) {
  auto uniform = [&](int k, float lo, float hi) {
    const float u = random_uniform(seed, stream, static_cast<uint64_t>(sample) * 2u + k);
    return lo + u * (hi - lo);
  };
  const float h = static_cast<float>(L.height), w = static_cast<float>(L.width);
  AugmentDraw d;
  switch (c.kind) {
  case AugmentKind::Flip: // Keras: uniform(0, 1) <= 0.5
    d.flip = uniform(0, 0.0f, 1.0f) <= 0.5f;
    break;
  case AugmentKind::Rotation:
    rotation_matrix(uniform(0, c.lower * 360.0f, c.upper * 360.0f), L.height, L.width, d.m);
    break;
  case AugmentKind::Zoom: {
    const float zy = uniform(0, 1.0f + c.lower, 1.0f + c.upper);
    const float zx = c.has_width ? uniform(1, 1.0f + c.width_lower, 1.0f + c.width_upper) : zy;
    zoom_matrix(zy, zx, L.height, L.width, d.m);
    break;
  }
  case AugmentKind::Translation:
    translation_matrix(uniform(0, c.lower, c.upper) * h, uniform(1, c.width_lower, c.width_upper) * w,
                       d.m);
    break;
  case AugmentKind::Contrast:
    d.contrast = uniform(0, 1.0f - c.lower, 1.0f + c.upper);
    break;
  }
  return d;
}

/// Applies drawn parameters to one image.
inline void augment_image(const AugmentConfig &c, const AugmentDraw &d, const float *in,
                          float *out, const ImageLayout &L) {
  switch (c.kind) {
  case AugmentKind::Flip:
    flip_image(in, out, L, d.flip && c.flip_horizontal, d.flip && c.flip_vertical);
    break;
  case AugmentKind::Rotation:
  case AugmentKind::Zoom:
  case AugmentKind::Translation:
    affine_transform(in, out, L, d.m, c.interpolation, c.fill_mode, c.fill_value);
    break;
  case AugmentKind::Contrast:
    adjust_contrast(in, out, L, d.contrast, c.value_low, c.value_high);
    break;
  }
}

/// The layer in training mode on a batch: y = augment(x), one draw per image. x and y must not
/// overlap.
inline void augment_forward(const AugmentConfig &c, uint64_t seed, uint64_t stream,
                            const ImageLayout &L, const float *x, float *y, int64_t batch) {
  const int64_t n = L.size();
  auto one = [&](int64_t b, int) {
    augment_image(c, augment_draw(c, seed, stream, b, L), x + b * n, y + b * n, L);
  };
  // Images are independent, so they split over the pool's threads (the result does not depend
  // on which thread runs which image); small batches are not worth waking the pool for.
  if (batch > 1 && batch * n >= 16384)
    thread_pool().parallel_for(batch, one);
  else
    for (int64_t b = 0; b < batch; ++b)
      one(b, 0);
}

/// Gradient of RandomFlip in training mode: a flip is a permutation that is its own inverse, so
/// dx is dy flipped by the forward pass's draws (recomputed from the same stream). The other
/// augmentations are never differentiated (nn-autodiff rejects a gradient through them).
inline void augment_flip_backward(const AugmentConfig &c, uint64_t seed, uint64_t stream,
                                  const ImageLayout &L, const float *dy, float *dx,
                                  int64_t batch) {
  augment_forward(c, seed, stream, L, dy, dx, batch);
}

} // namespace kerasc
