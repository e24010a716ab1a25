// The runtime's pooling, padding/cropping and upsampling kernels (kerasc/pooling.h).
//
// Every kernel is checked element by element against a naive double-precision reference
// written from the op's definition (window loops with explicit bounds checks, a per-element
// source index for pad, jax.image.resize's weight matrices for bilinear), on odd sizes, strides
// different from the window, 'valid' and 'same' padding, 1-D and 2-D data, and batches big
// enough to go through the thread pool. Tolerance: |ours - reference| <= 1e-5 * max(1, |ref|)
// (float accumulation over at most a few dozen terms; max, nearest and pad are exact and are
// compared with ==). Gradients are also checked by the adjoint identity
// <f(x), dy> == <x, f_grad(dy)> (f linear in x, or piecewise linear for max), and bilinear
// upsampling against numbers Keras 3.15 (JAX) computed.
// The importer's side (Keras defaults, 'same' padding, global pooling, channels_first and
// error messages) is tested at the end of the file, on one-layer models built in memory.
#include "kerasc/pooling.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <utility>
#include <vector>

namespace {

std::vector<float> randomVector(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

void expectClose(const std::vector<float> &ours, const std::vector<double> &ref) {
  REQUIRE(ours.size() == ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    INFO("element " << i << ": ours " << ours[i] << ", reference " << ref[i]);
    REQUIRE(std::abs(ours[i] - ref[i]) <= 1e-5 * std::max(1.0, std::abs(ref[i])));
  }
}

double dot(const std::vector<float> &a, const std::vector<float> &b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += double(a[i]) * b[i];
  return s;
}

/// A pooling configuration over 1 or 2 spatial dims, with Keras's padding rule.
struct Config {
  std::vector<int64_t> in, window, stride;
  bool same;
  int64_t channels;
  std::vector<int64_t> out, padding; // derived
  Config(std::vector<int64_t> in, std::vector<int64_t> window, std::vector<int64_t> stride,
         bool same, int64_t channels)
      : in(std::move(in)), window(std::move(window)), stride(std::move(stride)), same(same),
        channels(channels) {
    derive();
  }
  void derive() {
    out.clear();
    padding.clear();
    for (size_t d = 0; d < in.size(); ++d) {
      if (same) { // TF/Keras: out = ceil(S / s), the extra padding after
        int64_t o = (in[d] + stride[d] - 1) / stride[d];
        int64_t total = std::max<int64_t>((o - 1) * stride[d] + window[d] - in[d], 0);
        out.push_back(o);
        padding.push_back(total / 2);
        padding.push_back(total - total / 2);
      } else {
        out.push_back((in[d] - window[d]) / stride[d] + 1);
        padding.push_back(0);
        padding.push_back(0);
      }
    }
  }
  kerasc::PoolShape shape() const {
    return kerasc::PoolShape(static_cast<int>(in.size()), in.data(), out.data(), window.data(),
                             stride.data(), padding.data(), channels);
  }
};

/// Visits (flat input index, or -1 when out of bounds) for every window element of output
/// position `o` (flat over the spatial dims), in row-major window order.
template <class F> void forWindow(const Config &c, int64_t o, const F &fn) {
  const size_t r = c.in.size();
  std::vector<int64_t> opos(r), k(r, 0);
  for (size_t d = r; d-- > 0;) {
    opos[d] = o % c.out[d];
    o /= c.out[d];
  }
  while (true) {
    int64_t flat = 0;
    bool inside = true;
    for (size_t d = 0; d < r; ++d) {
      int64_t i = opos[d] * c.stride[d] - c.padding[2 * d] + k[d];
      inside = inside && i >= 0 && i < c.in[d];
      flat = flat * c.in[d] + i;
    }
    fn(inside ? flat : -1);
    size_t d = r;
    while (d-- > 0) {
      if (++k[d] < c.window[d])
        break;
      k[d] = 0;
    }
    if (d == size_t(-1))
      return;
  }
}

int64_t product(const std::vector<int64_t> &v) {
  int64_t p = 1;
  for (int64_t x : v)
    p *= x;
  return p;
}

std::vector<double> referencePool(const std::vector<float> &x, const Config &c, int64_t batch,
                                  bool max) {
  const int64_t C = c.channels, inPos = product(c.in), outPos = product(c.out);
  std::vector<double> y(batch * outPos * C);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t o = 0; o < outPos; ++o)
      for (int64_t ch = 0; ch < C; ++ch) {
        double acc = max ? -INFINITY : 0.0;
        int count = 0;
        forWindow(c, o, [&](int64_t i) {
          if (i < 0)
            return;
          double v = x[(b * inPos + i) * C + ch];
          acc = max ? std::max(acc, v) : acc + v;
          ++count;
        });
        y[(b * outPos + o) * C + ch] = max ? acc : acc / count;
      }
  return y;
}

std::vector<double> referencePoolGrad(const std::vector<float> &dy, const std::vector<float> &x,
                                      const Config &c, int64_t batch, bool max) {
  const int64_t C = c.channels, inPos = product(c.in), outPos = product(c.out);
  std::vector<double> dx(batch * inPos * C, 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t o = 0; o < outPos; ++o)
      for (int64_t ch = 0; ch < C; ++ch) {
        const double g = dy[(b * outPos + o) * C + ch];
        std::vector<int64_t> inside;
        forWindow(c, o, [&](int64_t i) {
          if (i >= 0)
            inside.push_back(i);
        });
        if (max) {
          int64_t best = inside[0];
          for (int64_t i : inside) // the first maximum in row-major order
            if (x[(b * inPos + i) * C + ch] > x[(b * inPos + best) * C + ch])
              best = i;
          dx[(b * inPos + best) * C + ch] += g;
        } else {
          for (int64_t i : inside)
            dx[(b * inPos + i) * C + ch] += g / inside.size();
        }
      }
  return dx;
}

void checkPool(const Config &c, int64_t batch, unsigned seed) {
  const kerasc::PoolShape s = c.shape();
  const int64_t inSize = product(c.in) * c.channels, outSize = product(c.out) * c.channels;
  std::vector<float> x = randomVector(batch * inSize, seed);
  std::vector<float> dy = randomVector(batch * outSize, seed + 1);
  for (bool max : {true, false}) {
    INFO((max ? "max" : "avg") << " pool, " << c.in.size() << "-D, "
                               << (c.same ? "same" : "valid") << ", C=" << c.channels);
    std::vector<float> y(batch * outSize), dx(batch * inSize, 123.0f); // dx is overwritten
    kerasc::pool(x.data(), y.data(), batch, s, max);
    std::vector<double> ref = referencePool(x, c, batch, max);
    if (max)
      for (size_t i = 0; i < ref.size(); ++i)
        REQUIRE(y[i] == static_cast<float>(ref[i]));
    else
      expectClose(y, ref);
    kerasc::pool_grad(dy.data(), x.data(), dx.data(), batch, s, max);
    expectClose(dx, referencePoolGrad(dy, x, c, batch, max));
    // Adjoint: d<pool(x), dy>/dx = pool_grad(dy), and pool is (piecewise) linear.
    const double lhs = dot(y, dy), rhs = dot(x, dx);
    REQUIRE(std::abs(lhs - rhs) <= 1e-4 * std::max(1.0, std::abs(lhs)));
  }
}

} // namespace

TEST_CASE("pooling: 2-D max and average, valid and same, odd sizes", "[pooling]") {
  // {in}, {window}, {stride}, same, channels
  checkPool({{7, 9}, {2, 2}, {2, 2}, false, 3}, 2, 1);
  checkPool({{7, 9}, {2, 2}, {2, 2}, true, 3}, 2, 2);
  checkPool({{7, 9}, {3, 3}, {1, 1}, false, 4}, 2, 3);
  checkPool({{7, 9}, {3, 3}, {1, 1}, true, 4}, 2, 4);
  checkPool({{7, 9}, {3, 3}, {2, 2}, true, 5}, 3, 5);
  checkPool({{7, 9}, {3, 2}, {2, 3}, true, 2}, 2, 6);
  checkPool({{6, 5}, {2, 3}, {1, 2}, false, 1}, 1, 7);
  checkPool({{5, 5}, {4, 4}, {3, 3}, true, 70}, 2, 8); // more channels than one chunk
  checkPool({{7, 9}, {7, 9}, {1, 1}, false, 3}, 4, 9); // global pooling: window = input
}

TEST_CASE("pooling: 1-D max and average", "[pooling]") {
  checkPool({{9}, {2}, {2}, false, 3}, 2, 11);
  checkPool({{9}, {2}, {2}, true, 3}, 2, 12);
  checkPool({{10}, {3}, {1}, true, 2}, 2, 13);
  checkPool({{11}, {3}, {2}, false, 4}, 3, 14);
  checkPool({{11}, {11}, {1}, false, 4}, 3, 15);
}

TEST_CASE("pooling: large batches run over the thread pool and agree", "[pooling]") {
  checkPool({{16, 17}, {3, 3}, {2, 2}, true, 32}, 24, 21);
}

TEST_CASE("pooling: max pool gradient goes to the first of tied maxima", "[pooling]") {
  Config c({2, 2}, {2, 2}, {2, 2}, false, 1);
  std::vector<float> x = {1.0f, 3.0f, 3.0f, 2.0f}, y(1), dy = {5.0f}, dx(4);
  kerasc::pool(x.data(), y.data(), 1, c.shape(), true);
  REQUIRE(y[0] == 3.0f);
  kerasc::pool_grad(dy.data(), x.data(), dx.data(), 1, c.shape(), true);
  REQUIRE(dx == std::vector<float>{0.0f, 5.0f, 0.0f, 0.0f});
}

namespace {

std::vector<double> referencePad(const std::vector<float> &x, int64_t batch,
                                 const std::vector<int64_t> &dims,
                                 const std::vector<int64_t> &pads) {
  std::vector<int64_t> out;
  for (size_t d = 0; d < dims.size(); ++d)
    out.push_back(dims[d] + pads[2 * d] + pads[2 * d + 1]);
  const int64_t outSize = product(out), inSize = product(dims);
  std::vector<double> y(batch * outSize);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t o = 0; o < outSize; ++o) {
      int64_t rest = o, src = 0, stride = 1;
      bool inside = true;
      for (size_t d = dims.size(); d-- > 0;) {
        int64_t i = rest % out[d] - pads[2 * d];
        rest /= out[d];
        inside = inside && i >= 0 && i < dims[d];
        src += i * stride;
        stride *= dims[d];
      }
      y[b * outSize + o] = inside ? x[b * inSize + src] : 0.0;
    }
  return y;
}

void checkPad(const std::vector<int64_t> &dims, const std::vector<int64_t> &pads, int64_t batch) {
  INFO("pad dims " << dims.size() << " pads " << pads[0] << "," << pads[1]);
  std::vector<float> x = randomVector(batch * product(dims), 31);
  std::vector<double> ref = referencePad(x, batch, dims, pads);
  std::vector<float> y(ref.size(), 99.0f);
  kerasc::pad(x.data(), y.data(), batch, static_cast<int>(dims.size()), dims.data(), pads.data());
  for (size_t i = 0; i < ref.size(); ++i)
    REQUIRE(y[i] == static_cast<float>(ref[i]));
  // nn.pad's gradient is nn.pad with negated pads: the adjoint of padding is cropping.
  std::vector<float> dy = randomVector(ref.size(), 32), dx(x.size());
  std::vector<int64_t> out, negated;
  for (size_t d = 0; d < dims.size(); ++d)
    out.push_back(dims[d] + pads[2 * d] + pads[2 * d + 1]);
  for (int64_t p : pads)
    negated.push_back(-p);
  kerasc::pad(dy.data(), dx.data(), batch, static_cast<int>(dims.size()), out.data(),
              negated.data());
  REQUIRE(std::abs(dot(y, dy) - dot(x, dx)) <= 1e-4 * std::max(1.0, std::abs(dot(y, dy))));
}

} // namespace

TEST_CASE("pad: zero padding and cropping, symmetric and asymmetric", "[pooling]") {
  checkPad({7, 9, 3}, {1, 1, 2, 2, 0, 0}, 2);    // ZeroPadding2D symmetric
  checkPad({7, 9, 3}, {0, 2, 3, 1, 0, 0}, 2);    // asymmetric
  checkPad({7, 9, 3}, {-1, -2, -3, 0, 0, 0}, 2); // Cropping2D
  checkPad({7, 9, 3}, {2, -1, -2, 1, 0, 0}, 3);  // padding one side, cropping the other
  checkPad({9, 4}, {2, 3, 0, 0}, 2);             // ZeroPadding1D
  checkPad({9, 4}, {-2, -3, 0, 0}, 2);           // Cropping1D
  checkPad({3, 7, 9}, {0, 0, 1, 2, -2, 3}, 2);   // the last axis too (channels_first data)
  checkPad({16, 16, 32}, {1, 1, 1, 1, 0, 0}, 40); // thread pool
}

namespace {

/// jax.image.resize's 'linear' weight matrix for one dim, [out][in], in double.
std::vector<std::vector<double>> linearWeights(int64_t in, int64_t scale) {
  const int64_t out = in * scale;
  std::vector<std::vector<double>> w(out, std::vector<double>(in, 0.0));
  for (int64_t o = 0; o < out; ++o) {
    const double sample = (o + 0.5) / scale - 0.5;
    double total = 0;
    for (int64_t i = 0; i < in; ++i)
      total += w[o][i] = std::max(0.0, 1.0 - std::abs(sample - i));
    for (int64_t i = 0; i < in; ++i)
      w[o][i] /= total;
  }
  return w;
}

std::vector<double> referenceResize(const std::vector<float> &x, int64_t batch, int64_t H,
                                    int64_t W, int64_t C, int64_t sh, int64_t sw, bool bilinear) {
  auto wh = linearWeights(H, sh), ww = linearWeights(W, sw);
  const int64_t OH = H * sh, OW = W * sw;
  std::vector<double> y(batch * OH * OW * C, 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t c = 0; c < C; ++c) {
          double &out = y[((b * OH + oh) * OW + ow) * C + c];
          if (!bilinear) {
            out = x[((b * H + oh / sh) * W + ow / sw) * C + c];
            continue;
          }
          for (int64_t h = 0; h < H; ++h)
            for (int64_t w = 0; w < W; ++w)
              out += wh[oh][h] * ww[ow][w] * x[((b * H + h) * W + w) * C + c];
        }
  return y;
}

void checkResize(int64_t H, int64_t W, int64_t C, int64_t sh, int64_t sw, int64_t batch,
                 bool bilinear) {
  INFO((bilinear ? "bilinear " : "nearest ") << H << "x" << W << " scale " << sh << "x" << sw);
  std::vector<float> x = randomVector(batch * H * W * C, 41);
  std::vector<double> ref = referenceResize(x, batch, H, W, C, sh, sw, bilinear);
  std::vector<float> y(ref.size());
  const int64_t dims[2] = {H, W}, scales[2] = {sh, sw};
  kerasc::ResizeShape s(2, dims, scales, C);
  kerasc::resize(x.data(), y.data(), batch, s, bilinear);
  expectClose(y, ref);
  std::vector<float> dy = randomVector(ref.size(), 42), dx(x.size(), 7.0f);
  kerasc::resize_grad(dy.data(), dx.data(), batch, s, bilinear);
  // The gradient is the transpose of the (linear) resize.
  std::vector<double> dxRef(x.size(), 0.0);
  auto wh = linearWeights(H, sh), ww = linearWeights(W, sw);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t oh = 0; oh < H * sh; ++oh)
      for (int64_t ow = 0; ow < W * sw; ++ow)
        for (int64_t c = 0; c < C; ++c) {
          const double g = dy[((b * H * sh + oh) * W * sw + ow) * C + c];
          for (int64_t h = 0; h < H; ++h)
            for (int64_t w = 0; w < W; ++w) {
              const double weight =
                  bilinear ? wh[oh][h] * ww[ow][w] : (h == oh / sh && w == ow / sw);
              dxRef[((b * H + h) * W + w) * C + c] += weight * g;
            }
        }
  expectClose(dx, dxRef);
}

} // namespace

TEST_CASE("resize: nearest and bilinear upsampling and their gradients", "[pooling]") {
  for (bool bilinear : {false, true}) {
    checkResize(3, 4, 2, 2, 3, 2, bilinear);
    checkResize(5, 7, 3, 2, 2, 2, bilinear);
    checkResize(1, 5, 1, 3, 2, 1, bilinear); // a size-1 dim: every output reads its one row
    checkResize(4, 4, 3, 1, 4, 2, bilinear);
    checkResize(8, 9, 16, 2, 2, 20, bilinear); // thread pool
  }
  // 1-D (UpSampling1D repeats along the steps axis).
  const int64_t dims[1] = {5}, scales[1] = {3};
  std::vector<float> x = randomVector(2 * 5 * 2, 51), y(2 * 15 * 2);
  kerasc::resize(x.data(), y.data(), 2, kerasc::ResizeShape(1, dims, scales, 2), false);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 15; ++t)
      for (int64_t c = 0; c < 2; ++c)
        REQUIRE(y[(b * 15 + t) * 2 + c] == x[(b * 5 + t / 3) * 2 + c]);
}

TEST_CASE("resize: bilinear matches Keras 3 UpSampling2D(size=(2, 3), interpolation='bilinear')",
          "[pooling]") {
  // Input [1, 3, 4, 2] and the output Keras 3.15.1 (JAX 0.10.2 CPU) computed for it, printed
  // with 9 significant digits.
  const std::vector<float> x = {
    -0.800000012f, -0.430000007f, -0.0600000024f, 0.310000002f, 0.680000007f, 1.04999995f,
    -0.479999959f, -0.109999835f, 0.26000005f, 0.629999936f, 1.0f, -0.529999793f, -0.159999907f,
    0.209999979f, 0.580000341f, 0.950000226f, -0.579999864f, -0.209999979f, 0.159999907f,
    0.530000269f, 0.900000155f, -0.629999936f, -0.259999573f, 0.110000312f
  };
  const std::vector<float> keras = {
    -0.800000012f, -0.430000007f, -0.800000012f, -0.430000007f, -0.553333282f, -0.183333308f,
    -0.306666613f, 0.0633333921f, -0.0600000024f, 0.310000002f, 0.186666697f, 0.556666672f,
    0.433333397f, 0.803333342f, 0.680000007f, 1.04999995f, 0.293333173f, 0.663333178f,
    -0.0933334082f, 0.276666671f, -0.479999959f, -0.109999835f, -0.479999959f, -0.109999835f,
    -0.535000026f, -0.165000007f, -0.535000026f, -0.165000007f, -0.288333297f, -0.0766666457f,
    -0.041666612f, 0.0116667189f, 0.204999998f, 0.100000054f, 0.293333352f, 0.346666723f,
    0.38166672f, 0.593333423f, 0.470000029f, 0.839999974f, 0.241666615f, 0.61166656f,
    0.0133333802f, 0.383333385f, -0.214999869f, 0.15500018f, -0.214999869f, 0.15500018f,
    -0.00499996543f, 0.36499995f, -0.00499996543f, 0.36499995f, 0.241666719f, 0.136666656f,
    0.488333404f, -0.0916666314f, 0.735000014f, -0.319999844f, 0.50666666f, -0.0733332187f,
    0.278333336f, 0.173333406f, 0.0500000715f, 0.419999957f, 0.138333514f, 0.508333445f,
    0.226666883f, 0.596666813f, 0.315000266f, 0.685000181f, 0.315000266f, 0.685000181f,
    0.0500000715f, 0.419999957f, 0.0500000715f, 0.419999957f, 0.296666741f, 0.191666663f,
    0.543333411f, -0.0366666019f, 0.789999962f, -0.264999807f, 0.561666608f, -0.176666528f,
    0.333333343f, -0.0883332491f, 0.105000108f, 0.0f, 0.193333566f, 0.246666864f, 0.281666964f,
    0.493333548f, 0.370000362f, 0.740000248f, 0.370000362f, 0.740000248f, -0.369999886f, 0.0f,
    -0.369999886f, 0.0f, -0.123333253f, 0.0883334279f, 0.123333387f, 0.176666856f, 0.369999945f,
    0.265000254f, 0.458333343f, 0.0366668254f, 0.546666741f, -0.191666603f, 0.63500011f,
    -0.419999957f, 0.406666785f, -0.173333108f, 0.178333595f, 0.0733335912f, -0.0499995947f,
    0.320000291f, -0.0499995947f, 0.320000291f, -0.579999864f, -0.209999979f, -0.579999864f,
    -0.209999979f, -0.333333254f, 0.0366668105f, -0.0866666213f, 0.2833336f, 0.159999907f,
    0.530000269f, 0.406666696f, 0.143333495f, 0.653333485f, -0.243333295f, 0.900000155f,
    -0.629999936f, 0.51333338f, -0.383333087f, 0.126666918f, -0.136666387f, -0.259999573f,
    0.110000312f, -0.259999573f, 0.110000312f
  };
  const int64_t dims[2] = {3, 4}, scales[2] = {2, 3};
  std::vector<float> y(keras.size());
  kerasc::resize(x.data(), y.data(), 1, kerasc::ResizeShape(2, dims, scales, 2), true);
  for (size_t i = 0; i < y.size(); ++i) {
    INFO("element " << i);
    REQUIRE(std::abs(y[i] - keras[i]) <= 1e-6f);
  }
}

//===----------------------------------------------------------------------------------------===//
// The importer's pooling, padding and upsampling layers: Keras's defaults, the 'same' padding
// split, global pooling's reshape, and errors that name the layer.
//===----------------------------------------------------------------------------------------===//

#include "frontend/ImportModel.h"
#include "ir/NNDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <nlohmann/json.hpp>

namespace {

/// A one-layer functional model: input [None, shape...] -> layer `cls` with `config`.
kerasc::ModelSpec oneLayer(const std::string &cls, nlohmann::json config,
                           std::vector<int64_t> shape) {
  using nlohmann::json;
  kerasc::ModelSpec spec;
  spec.sourcePath = "pooling.json";
  spec.name = "pooling";
  spec.className = "Functional";
  spec.kerasVersion = "3.15.1";
  json batchShape = json::array({nullptr});
  for (int64_t d : shape)
    batchShape.push_back(d);
  spec.layers.push_back({"x", "InputLayer", {{"batch_shape", batchShape}}, {}, {}});
  spec.layers.push_back({"layer", cls, std::move(config), {{{{"x", 0, 0}}, json::object()}}, {}});
  spec.inputs = {{"x", 0, 0}};
  spec.outputs = {{"layer", 0, 0}};
  return spec;
}

std::vector<int64_t> ints(mlir::Attribute a) {
  std::vector<int64_t> v;
  for (mlir::Attribute e : a.cast<mlir::ArrayAttr>())
    v.push_back(e.cast<mlir::IntegerAttr>().getInt());
  return v;
}

/// The names of the model's nn ops (weights left out) and its result shape.
std::pair<std::vector<std::string>, std::vector<int64_t>>
importOps(const kerasc::ModelSpec &spec, mlir::MLIRContext &context,
          mlir::OwningOpRef<mlir::ModuleOp> &module) {
  module = std::move(kerasc::importModel(spec, context).module);
  auto func = *module->getOps<mlir::func::FuncOp>().begin();
  std::vector<std::string> ops;
  func.walk([&](mlir::Operation *op) {
    if (op->getDialect() && op->getDialect()->getNamespace() == "nn")
      ops.push_back(op->getName().stripDialect().str());
  });
  auto result = func.getFunctionType().getResult(0).cast<mlir::ShapedType>().getShape();
  return {ops, std::vector<int64_t>(result.begin(), result.end())};
}

} // namespace

TEST_CASE("importer: pooling defaults and Keras's 'same' padding", "[pooling][import]") {
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  SECTION("strides default to pool_size, padding to valid") {
    auto [ops, shape] = importOps(oneLayer("MaxPooling2D", {{"pool_size", {3, 2}}}, {7, 9, 3}),
                                  context, module);
    CHECK(ops == std::vector<std::string>{"pool"});
    CHECK(shape == std::vector<int64_t>{-1, 2, 4, 3});
    module->walk([&](kerasc::nn::PoolOp p) {
      CHECK(p.getKind() == "max");
      CHECK(ints(p.getStrides()) == std::vector<int64_t>{3, 2});
      CHECK(ints(p.getPadding()) == std::vector<int64_t>{0, 0, 0, 0});
    });
  }
  SECTION("same: ceil(S / s) outputs, the odd padding element after") {
    auto [ops, shape] = importOps(
        oneLayer("AveragePooling2D",
                 {{"pool_size", {3, 2}}, {"strides", {2, 2}}, {"padding", "same"}}, {7, 9, 3}),
        context, module);
    CHECK(shape == std::vector<int64_t>{-1, 4, 5, 3});
    // H: 3 * 2 + 3 - 7 = 2 -> (1, 1); W: 4 * 2 + 2 - 9 = 1 -> (0, 1).
    module->walk([&](kerasc::nn::PoolOp p) {
      CHECK(p.getKind() == "avg");
      CHECK(ints(p.getPadding()) == std::vector<int64_t>{1, 1, 0, 1});
    });
  }
  SECTION("global pooling with keepdims, channels_first: a whole-input window and a reshape") {
    auto [ops, shape] = importOps(
        oneLayer("GlobalAveragePooling2D",
                 {{"keepdims", true}, {"data_format", "channels_first"}}, {3, 5, 7}),
        context, module);
    CHECK(ops == std::vector<std::string>{"transpose", "pool", "reshape"});
    CHECK(shape == std::vector<int64_t>{-1, 3, 1, 1});
    module->walk([&](kerasc::nn::PoolOp p) {
      CHECK(ints(p.getWindow()) == std::vector<int64_t>{5, 7});
    });
  }
  SECTION("ZeroPadding2D and Cropping2D on channels_first data pad the spatial axes") {
    auto [ops, shape] = importOps(
        oneLayer("Cropping2D", {{"cropping", {{1, 2}, {0, 3}}}, {"data_format", "channels_first"}},
                 {3, 7, 9}),
        context, module);
    CHECK(ops == std::vector<std::string>{"pad"});
    CHECK(shape == std::vector<int64_t>{-1, 3, 4, 6});
    module->walk([&](kerasc::nn::PadOp p) {
      CHECK(ints(p.getPads()) == std::vector<int64_t>{0, 0, -1, -2, 0, -3});
    });
  }
  SECTION("UpSampling1D repeats; ZeroPadding1D takes (before, after)") {
    auto [ops, shape] = importOps(oneLayer("UpSampling1D", {{"size", 3}}, {5, 2}), context, module);
    CHECK(shape == std::vector<int64_t>{-1, 15, 2});
    module->walk([&](kerasc::nn::ResizeOp r) { CHECK(r.getMethod() == "nearest"); });
    auto [ops2, shape2] =
        importOps(oneLayer("ZeroPadding1D", {{"padding", {2, 1}}}, {5, 2}), context, module);
    CHECK(shape2 == std::vector<int64_t>{-1, 8, 2});
  }
}

TEST_CASE("importer: pooling layer errors name the layer and the problem", "[pooling][import]") {
  using Catch::Matchers::Contains;
  mlir::MLIRContext context;
  auto fails = [&](const kerasc::ModelSpec &spec, const std::string &what) {
    INFO(what);
    REQUIRE_THROWS_WITH(kerasc::importModel(spec, context),
                        Contains("layer 'layer'") && Contains(what));
  };
  fails(oneLayer("UpSampling2D", {{"size", {2, 2}}, {"interpolation", "bicubic"}}, {4, 4, 1}),
        "interpolation 'bicubic' is not supported");
  fails(oneLayer("MaxPooling2D", {{"pool_size", {5, 5}}}, {4, 6, 1}),
        "input size 4 is smaller than the pool size 5");
  fails(oneLayer("AveragePooling1D", {{"pool_size", 2}, {"padding", "full"}}, {4, 1}),
        "padding 'full' is not supported");
  fails(oneLayer("Cropping2D", {{"cropping", {{2, 2}, {0, 0}}}}, {4, 4, 1}),
        "leaves nothing of a spatial axis of size 4");
  fails(oneLayer("MaxPooling2D", {{"pool_size", {0, 2}}}, {4, 4, 1}),
        "config field 'pool_size' must be a positive integer");
  fails(oneLayer("MaxPooling2D", {{"pool_size", 2}}, {8, 1}), "expects a rank-4 input");
  fails(oneLayer("ZeroPadding2D", {{"padding", {{1, -1}, {0, 0}}}}, {4, 4, 1}),
        "config field 'padding' must be a non-negative integer");
}
