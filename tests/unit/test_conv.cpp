// The runtime's convolutions (kerasc/conv.h): forward, transpose (input gradient) and kernel
// gradient, every algorithm, against a naive double-precision reference written straight from
// the definition y[b, o, co] = sum_{k, ci in co's group} x[b, o * s - pad + k * d, ci] w[k, ci, co].
//
// Tolerance, element by element: |ours - reference| <= 1e-5 * sum |terms| + 1e-6, i.e. float
// accumulation error relative to the magnitude of the summed products (1e-5 is ~80 float ulps;
// sums here have at most a few thousand terms), plus the rounding of the epilogue's 2 * acc.
// Outputs and workspaces carry sentinel padding that must stay untouched, and the epilogue
// counts its calls: exactly one per output element, with its flat index and channel.
//
// The importer's convolution section is checked here too: Keras's padding arithmetic as nn
// attributes, and errors that name the layer for what Keras itself rejects.
#include "kerasc/conv.h"

#include "frontend/ImportModel.h"
#include "ir/NNDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace {

using kerasc::ConvAlgorithm;
using kerasc::ConvParams;

struct Case {
  const char *name;
  int64_t batch, in_h, in_w, cin, cout, k_h, k_w, stride_h, stride_w, dil_h, dil_w, groups;
  const char *padding; // "valid", "same" (Keras's split), or "asym" (2 before, 0 after)
};

/// Keras's output size and before-padding for one spatial axis.
std::pair<int64_t, int64_t> axis_geometry(const std::string &padding, int64_t in, int64_t k,
                                          int64_t s, int64_t d) {
  const int64_t span = d * (k - 1) + 1;
  if (padding == "valid")
    return {(in - span) / s + 1, 0};
  if (padding == "asym") // explicit, uneven: out = floor((in + 2 - span) / s) + 1
    return {(in + 2 - span) / s + 1, 2};
  const int64_t out = (in + s - 1) / s;
  const int64_t total = std::max<int64_t>((out - 1) * s + span - in, 0);
  return {out, total / 2};
}

ConvParams params_of(const Case &c) {
  auto [oh, ph] = axis_geometry(c.padding, c.in_h, c.k_h, c.stride_h, c.dil_h);
  auto [ow, pw] = axis_geometry(c.padding, c.in_w, c.k_w, c.stride_w, c.dil_w);
  if (c.in_h == 1 && c.k_h == 1) // 1-D: no padding along the dummy axis
    oh = 1, ph = 0;
  return ConvParams{c.in_h,     c.in_w,     c.cin,  oh, ow, c.cout, c.k_h, c.k_w,
                    c.stride_h, c.stride_w, c.dil_h, c.dil_w, ph, pw, c.groups};
}

/// Calls visit(x_index, w_index, y_index) for every product term of the convolution.
template <class F> void for_each_term(const ConvParams &p, int64_t batch, F visit) {
  const int64_t cgi = p.cin / p.groups, cgo = p.cout / p.groups;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow)
        for (int64_t kh = 0; kh < p.k_h; ++kh)
          for (int64_t kw = 0; kw < p.k_w; ++kw) {
            const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dil_h;
            const int64_t iw = ow * p.stride_w - p.pad_left + kw * p.dil_w;
            if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w)
              continue;
            for (int64_t co = 0; co < p.cout; ++co) {
              const int64_t g = co / cgo;
              for (int64_t ci = 0; ci < cgi; ++ci)
                visit(((b * p.in_h + ih) * p.in_w + iw) * p.cin + g * cgi + ci,
                      ((kh * p.k_w + kw) * cgi + ci) * p.cout + co,
                      ((b * p.out_h + oh) * p.out_w + ow) * p.cout + co);
            }
          }
}

/// Records every call; returns 2 * acc - 0.01 * channel so misplaced calls show in values too.
struct CountingEpilogue {
  std::vector<int> *calls;
  std::vector<int64_t> *channels;
  float operator()(float acc, int64_t flat, int64_t channel) const {
    ++(*calls)[static_cast<size_t>(flat)];
    (*channels)[static_cast<size_t>(flat)] = channel;
    return 2.0f * acc - 0.01f * static_cast<float>(channel);
  }
};

constexpr float kSentinel = 12345.0f;
constexpr int64_t kGuard = 7; // sentinel floats after every output and workspace

/// Compares `got` (with its guard) against reference * scale - 0.01 * channel (scale 2 when an
/// epilogue ran, 1 otherwise); counts mismatches and reports the first few.
int compare(const std::string &what, const std::vector<float> &got,
            const std::vector<double> &ref, const std::vector<double> &magnitude,
            int64_t channels, bool epilogue) {
  int failures = 0;
  const int64_t n = static_cast<int64_t>(ref.size());
  for (int64_t i = 0; i < n; ++i) {
    const double scale = epilogue ? 2.0 : 1.0;
    const double want = scale * ref[i] - (epilogue ? 0.01 * static_cast<double>(i % channels) : 0);
    const double tol = 1e-5 * scale * magnitude[i] + 1e-6;
    if (!(std::fabs(got[i] - want) <= tol)) {
      if (++failures <= 3)
        FAIL_CHECK(what << ": element " << i << " is " << got[i] << ", expected " << want
                        << " (tolerance " << tol << ")");
    }
  }
  for (int64_t i = n; i < n + kGuard; ++i)
    if (got[i] != kSentinel && ++failures <= 3)
      FAIL_CHECK(what << ": wrote past the end (element " << i << ")");
  return failures;
}

int check_calls(const std::string &what, const std::vector<int> &calls,
                const std::vector<int64_t> &channels, int64_t c) {
  int failures = 0;
  for (size_t i = 0; i < calls.size(); ++i)
    if ((calls[i] != 1 || channels[i] != static_cast<int64_t>(i) % c) && ++failures <= 3)
      FAIL_CHECK(what << ": epilogue ran " << calls[i] << " times on element " << i
                      << " with channel " << channels[i]);
  return failures;
}

const char *algorithm_name(ConvAlgorithm a) {
  return a == ConvAlgorithm::Direct ? "direct" : a == ConvAlgorithm::Im2col ? "im2col" : "pointwise";
}

void check_case(const Case &c, ConvAlgorithm algorithm, uint32_t seed) {
  const ConvParams p = params_of(c);
  REQUIRE(p.out_h > 0);
  REQUIRE(p.out_w > 0);
  const int64_t nx = c.batch * p.in_h * p.in_w * p.cin, ny = c.batch * p.out_h * p.out_w * p.cout;
  const int64_t nw = p.k_h * p.k_w * (p.cin / p.groups) * p.cout;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(nx), w(nw), dy(ny);
  for (float &v : x)
    v = dist(rng);
  for (float &v : w)
    v = dist(rng);
  for (float &v : dy)
    v = dist(rng);

  // Reference: y = conv(x, w); dx = conv^T(dy, w); dw = sum x * dy; and each one's |terms|.
  std::vector<double> y_ref(ny), y_mag(ny), dx_ref(nx), dx_mag(nx), dw_ref(nw), dw_mag(nw);
  for_each_term(p, c.batch, [&](int64_t xi, int64_t wi, int64_t yi) {
    y_ref[yi] += double(x[xi]) * w[wi];
    y_mag[yi] += std::fabs(double(x[xi]) * w[wi]);
    dx_ref[xi] += double(dy[yi]) * w[wi];
    dx_mag[xi] += std::fabs(double(dy[yi]) * w[wi]);
    dw_ref[wi] += double(x[xi]) * dy[yi];
    dw_mag[wi] += std::fabs(double(x[xi]) * dy[yi]);
  });

  const int64_t ws_floats = kerasc::conv_workspace_floats(p) * c.batch;
  std::vector<float> workspace(ws_floats + kGuard, kSentinel);
  float *ws = algorithm == ConvAlgorithm::Im2col ? workspace.data() : nullptr;
  const std::string label = std::string(c.name) + " [" + algorithm_name(algorithm) + "]";
  int failures = 0;

  for (bool with_epilogue : {false, true}) {
    std::vector<float> y(ny + kGuard, kSentinel), dx(nx + kGuard, kSentinel);
    std::vector<int> y_calls(ny), dx_calls(nx);
    std::vector<int64_t> y_channels(ny, -1), dx_channels(nx, -1);
    if (with_epilogue) {
      kerasc::conv_forward(algorithm, p, c.batch, x.data(), w.data(), y.data(), ws,
                           CountingEpilogue{&y_calls, &y_channels});
      kerasc::conv_transpose(algorithm, p, c.batch, dy.data(), w.data(), dx.data(), ws,
                             CountingEpilogue{&dx_calls, &dx_channels});
      failures += check_calls(label + " forward epilogue", y_calls, y_channels, p.cout);
      failures += check_calls(label + " transpose epilogue", dx_calls, dx_channels, p.cin);
    } else {
      kerasc::conv_forward(algorithm, p, c.batch, x.data(), w.data(), y.data(), ws,
                           kerasc::IdentityEpilogue{});
      kerasc::conv_transpose(algorithm, p, c.batch, dy.data(), w.data(), dx.data(), ws,
                             kerasc::IdentityEpilogue{});
    }
    const std::string tag = with_epilogue ? " (epilogue)" : "";
    failures += compare(label + " forward" + tag, y, y_ref, y_mag, p.cout, with_epilogue);
    failures += compare(label + " transpose" + tag, dx, dx_ref, dx_mag, p.cin, with_epilogue);
  }
  std::vector<float> dw(nw + kGuard, kSentinel);
  kerasc::conv_grad_kernel(algorithm, p, c.batch, x.data(), dy.data(), dw.data(), ws);
  failures += compare(label + " grad_kernel", dw, dw_ref, dw_mag, p.cout, false);
  for (int64_t i = ws_floats; i < ws_floats + kGuard; ++i)
    if (workspace[i] != kSentinel && ++failures <= 3)
      FAIL_CHECK(label << ": wrote past the workspace (conv_workspace_floats too small)");
  CHECK(failures == 0);
}

// Odd sizes everywhere; strides 1/2/3, dilation 2, valid/same/uneven padding, groups 1/2/Cin
// (depthwise, with and without a multiplier), 1-D and 2-D, batches of 1 and 3.
const Case kCases[] = {
    // name                         b  ih iw cin cout kh kw sh sw dh dw g  padding
    {"2d 3x3 same",                 2, 7, 9, 3,  5,   3, 3, 1, 1, 1, 1, 1, "same"},
    {"2d 3x3 valid",                1, 7, 9, 4,  6,   3, 3, 1, 1, 1, 1, 1, "valid"},
    {"2d 3x2 stride 2 same",        3, 7, 9, 5,  4,   3, 2, 2, 2, 1, 1, 1, "same"},
    {"2d 4x4 stride 2 same",        1, 8, 9, 3,  7,   4, 4, 2, 2, 1, 1, 1, "same"},
    {"2d 3x3 stride 3 valid",       2, 11, 10, 2, 3,  3, 3, 3, 3, 1, 1, 1, "valid"},
    {"2d 3x3 stride 2/3 asym",      1, 9, 11, 3, 5,   3, 3, 2, 3, 1, 1, 1, "asym"},
    {"2d 3x3 dilation 2 same",      2, 9, 8, 3,  4,   3, 3, 1, 1, 2, 2, 1, "same"},
    {"2d 2x3 dilation 2 valid",     1, 9, 10, 2, 3,   2, 3, 1, 1, 2, 2, 1, "valid"},
    {"2d groups 2 same",            2, 6, 7, 4,  6,   3, 3, 1, 1, 1, 1, 2, "same"},
    {"2d groups 2 stride 2",        1, 7, 7, 6,  4,   3, 3, 2, 2, 1, 1, 2, "valid"},
    {"2d depthwise",                2, 7, 9, 5,  5,   3, 3, 1, 1, 1, 1, 5, "same"},
    {"2d depthwise multiplier 2",   1, 7, 8, 3,  6,   3, 3, 2, 2, 1, 1, 3, "same"},
    {"2d depthwise stride 2 valid", 2, 9, 9, 4,  4,   5, 5, 2, 2, 1, 1, 4, "valid"},
    {"2d 1x1 pointwise",            3, 5, 7, 6,  9,   1, 1, 1, 1, 1, 1, 1, "valid"},
    {"2d 1x1 pointwise groups 3",   2, 3, 5, 6,  9,   1, 1, 1, 1, 1, 1, 3, "valid"},
    {"2d 1x1 stride 2",             1, 7, 6, 4,  5,   1, 1, 2, 2, 1, 1, 1, "valid"},
    {"2d wide channels",            1, 5, 6, 37, 70,  3, 3, 1, 1, 1, 1, 1, "same"},
    // 1800 patch rows of 360: im2col's forward runs in several row chunks (im2col_chunk_rows).
    {"2d several im2col chunks",    3, 24, 25, 40, 5, 3, 3, 1, 1, 1, 1, 1, "same"},
    {"2d groups 2, two chunks",     2, 20, 21, 40, 8, 3, 3, 1, 1, 1, 1, 2, "same"},
    {"2d stride 2, several chunks", 4, 41, 40, 24, 6, 3, 3, 2, 2, 1, 1, 1, "valid"},
    {"2d kernel larger than input", 1, 3, 4, 2,  3,   5, 5, 1, 1, 1, 1, 1, "same"},
    {"1d 3 same",                   2, 1, 13, 3, 5,   1, 3, 1, 1, 1, 1, 1, "same"},
    {"1d 5 stride 3 valid",         3, 1, 17, 2, 4,   1, 5, 1, 3, 1, 1, 1, "valid"},
    {"1d 3 dilation 2",             2, 1, 15, 4, 3,   1, 3, 1, 1, 1, 2, 1, "same"},
    {"1d groups 2",                 1, 1, 11, 4, 6,   1, 3, 1, 1, 1, 1, 2, "valid"},
    {"1d pointwise",                2, 1, 9, 5,  3,   1, 1, 1, 1, 1, 1, 1, "valid"},
    {"2d one input channel",        2, 7, 8, 1,  5,   3, 3, 1, 1, 1, 1, 1, "same"},
    {"1d one input channel stride", 2, 1, 11, 1, 4,   1, 3, 1, 2, 1, 1, 1, "valid"},
    // Direct's row kernel for one input channel (unit stride and dilation along w only).
    {"2d one channel, LeNet 5x5",   2, 28, 28, 1, 6,  5, 5, 1, 1, 1, 1, 1, "same"},
    {"2d one channel valid",        1, 9, 11, 1, 7,   4, 3, 1, 1, 1, 1, 1, "valid"},
    {"2d one channel h stride/dil", 2, 13, 10, 1, 3,  3, 3, 2, 1, 2, 1, 1, "asym"},
    {"2d one channel wider kernel", 1, 6, 4, 1,  2,   3, 7, 1, 1, 1, 1, 1, "same"},
    {"1d one channel 5 same",       3, 1, 23, 1, 9,   1, 5, 1, 1, 1, 1, 1, "same"},
};

} // namespace

TEST_CASE("conv: every algorithm matches the double-precision reference", "[conv]") {
  uint32_t seed = 1;
  for (const Case &c : kCases) {
    ++seed;
    SECTION(c.name) {
      check_case(c, ConvAlgorithm::Direct, seed);
      check_case(c, ConvAlgorithm::Im2col, seed);
      if (kerasc::conv_is_pointwise(params_of(c)))
        check_case(c, ConvAlgorithm::Pointwise, seed);
    }
  }
}

TEST_CASE("conv: causal 1-D padding (all of it before) and the transpose's output padding",
          "[conv]") {
  // Conv1D(padding="causal"): pad_left = d * (k - 1), out = in. Conv2DTranspose with
  // output_padding reaches dx positions past every tap: the conv computes dx with in_w larger
  // than the conv's output needs, and those positions must come out zero (then the epilogue).
  ConvParams causal{1, 12, 3, 1, 12, 4, 1, 3, 1, 1, 1, 2, 0, 4, 1};
  // Taps reach input rows 0..3 and columns 0..5 of a 5x7 input: row 4 and column 6 get nothing.
  ConvParams extra{5, 7, 2, 2, 3, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1};
  for (const ConvParams &p : {causal, extra}) {
    for (ConvAlgorithm algorithm : {ConvAlgorithm::Direct, ConvAlgorithm::Im2col}) {
      const int64_t batch = 2;
      const int64_t nx = batch * p.in_h * p.in_w * p.cin, ny = batch * p.out_h * p.out_w * p.cout;
      const int64_t nw = p.k_h * p.k_w * p.cin * p.cout;
      std::vector<float> x(nx), w(nw), dy(ny);
      std::mt19937 rng(7);
      std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
      for (float &v : x)
        v = dist(rng);
      for (float &v : w)
        v = dist(rng);
      for (float &v : dy)
        v = dist(rng);
      std::vector<double> y_ref(ny), y_mag(ny), dx_ref(nx), dx_mag(nx);
      for_each_term(p, batch, [&](int64_t xi, int64_t wi, int64_t yi) {
        y_ref[yi] += double(x[xi]) * w[wi];
        y_mag[yi] += std::fabs(double(x[xi]) * w[wi]);
        dx_ref[xi] += double(dy[yi]) * w[wi];
        dx_mag[xi] += std::fabs(double(dy[yi]) * w[wi]);
      });
      std::vector<float> ws(kerasc::conv_workspace_floats(p) * batch);
      std::vector<float> y(ny + kGuard, kSentinel), dx(nx + kGuard, kSentinel);
      kerasc::conv_forward(algorithm, p, batch, x.data(), w.data(), y.data(), ws.data(),
                           kerasc::IdentityEpilogue{});
      std::vector<int> calls(nx);
      std::vector<int64_t> channels(nx, -1);
      kerasc::conv_transpose(algorithm, p, batch, dy.data(), w.data(), dx.data(), ws.data(),
                             CountingEpilogue{&calls, &channels});
      const std::string label = algorithm_name(algorithm);
      CHECK(compare(label + " forward", y, y_ref, y_mag, p.cout, false) == 0);
      CHECK(compare(label + " transpose", dx, dx_ref, dx_mag, p.cin, true) == 0);
      CHECK(check_calls(label + " transpose epilogue", calls, channels, p.cin) == 0);
    }
  }
}

TEST_CASE("conv: preconditions that do not hold fall back to direct", "[conv]") {
  // Pointwise on a padded 1x1 convolution, and im2col without a workspace, still compute the
  // convolution (direct), instead of reading out of bounds.
  ConvParams p{3, 3, 2, 5, 5, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  std::vector<float> x(18, 1.0f), w(4, 0.5f), y(50, kSentinel);
  kerasc::conv_forward(ConvAlgorithm::Pointwise, p, 1, x.data(), w.data(), y.data(), nullptr,
                       kerasc::IdentityEpilogue{});
  CHECK(y[0] == 0.0f);      // the padded border
  CHECK(y[6 * 2] == 1.0f);  // (1, 1): 0.5 + 0.5
  std::fill(y.begin(), y.end(), kSentinel);
  kerasc::conv_forward(ConvAlgorithm::Im2col, p, 1, x.data(), w.data(), y.data(), nullptr,
                       kerasc::IdentityEpilogue{});
  CHECK(y[6 * 2 + 1] == 1.0f);
}

namespace {

/// A one-layer model: input [batch, in_shape...] -> layer `cls` with `config` and weights of
/// the given shapes (filled with 0.1).
kerasc::ModelSpec one_layer(const std::string &cls, nlohmann::json config,
                            std::vector<int64_t> in_shape,
                            std::vector<std::pair<std::string, std::vector<int64_t>>> weights) {
  kerasc::ModelSpec spec;
  spec.sourcePath = "conv.json";
  spec.name = "conv";
  spec.className = "Functional";
  spec.kerasVersion = "3.15.1";
  nlohmann::json batch_shape = {nullptr};
  for (int64_t d : in_shape)
    batch_shape.push_back(d);
  spec.layers.push_back({"x", "InputLayer", {{"batch_shape", batch_shape}}, {}, {}});
  kerasc::LayerSpec layer{"c", cls, std::move(config), {}, {}};
  layer.calls.push_back({{{"x", 0, 0}}, nlohmann::json::object()});
  for (auto &[name, shape] : weights) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    layer.weights.push_back({name, shape, std::vector<float>(static_cast<size_t>(n), 0.1f)});
  }
  spec.layers.push_back(layer);
  spec.inputs = {{"x", 0, 0}};
  spec.outputs = {{"c", 0, 0}};
  return spec;
}

/// The padding attribute and result shape of the model's nn.conv / nn.conv_transpose.
std::pair<std::vector<int64_t>, std::vector<int64_t>> conv_of(const kerasc::ModelSpec &spec,
                                                              mlir::MLIRContext &context) {
  kerasc::ImportedModel model = kerasc::importModel(spec, context);
  std::pair<std::vector<int64_t>, std::vector<int64_t>> found;
  model.module->walk([&](mlir::Operation *op) {
    if (!mlir::isa<kerasc::nn::ConvOp, kerasc::nn::ConvTransposeOp>(op))
      return;
    for (mlir::Attribute a : op->getAttrOfType<mlir::ArrayAttr>("padding"))
      found.first.push_back(a.cast<mlir::IntegerAttr>().getInt());
    auto shape = op->getResult(0).getType().cast<mlir::ShapedType>().getShape();
    found.second.assign(shape.begin() + 1, shape.end());
  });
  return found;
}

} // namespace

TEST_CASE("conv import: Keras's padding arithmetic", "[conv][import]") {
  mlir::MLIRContext context;
  // "same", stride 2, kernel (4, 3) on 7x9: out ceil(S/s) = 4x5; total padding
  // (4-1)*2+4-7 = 3 (1 before, 2 after) and (5-1)*2+3-9 = 2 (1, 1).
  auto same = conv_of(one_layer("Conv2D",
                                {{"filters", 2}, {"kernel_size", {4, 3}}, {"strides", {2, 2}},
                                 {"padding", "same"}, {"use_bias", false}},
                                {7, 9, 3}, {{"kernel", {4, 3, 3, 2}}}),
                      context);
  CHECK(same.first == std::vector<int64_t>{1, 2, 1, 1});
  CHECK(same.second == std::vector<int64_t>{4, 5, 2});
  // Conv1D "causal", dilation 3, kernel 3: everything (3 * 2 = 6) before, length kept.
  auto causal = conv_of(one_layer("Conv1D",
                                  {{"filters", 2}, {"kernel_size", 3}, {"dilation_rate", 3},
                                   {"padding", "causal"}, {"use_bias", false}},
                                  {10, 2}, {{"kernel", {3, 2, 2}}}),
                        context);
  CHECK(causal.first == std::vector<int64_t>{6, 0});
  CHECK(causal.second == std::vector<int64_t>{10, 2});
  // Conv2DTranspose "valid", kernel 2, stride 3: Keras's length is S*s + max(K-s, 0) = 3S, one
  // more than the full transposed output (S-1)*3 + 2: after-padding -1.
  auto valid_t = conv_of(one_layer("Conv2DTranspose",
                                   {{"filters", 2}, {"kernel_size", 2}, {"strides", 3},
                                    {"padding", "valid"}, {"use_bias", false}},
                                   {4, 5, 3}, {{"kernel", {2, 2, 2, 3}}}),
                         context);
  CHECK(valid_t.first == std::vector<int64_t>{0, -1, 0, -1});
  CHECK(valid_t.second == std::vector<int64_t>{12, 15, 2});
  // "same", kernel 3, stride 2, output_padding 1: (S-1)*2 + 3 - 2*1 + 1 = 2S.
  auto same_t = conv_of(one_layer("Conv2DTranspose",
                                  {{"filters", 2}, {"kernel_size", 3}, {"strides", 2},
                                   {"padding", "same"}, {"output_padding", {1, 1}},
                                   {"use_bias", false}},
                                  {4, 5, 3}, {{"kernel", {3, 3, 2, 3}}}),
                        context);
  CHECK(same_t.first == std::vector<int64_t>{0, 1, 0, 1});
  CHECK(same_t.second == std::vector<int64_t>{8, 10, 2});
  // DepthwiseConv2D: the Keras kernel [3, 3, Cin, mult] becomes a grouped conv kernel
  // [3, 3, 1, Cin * mult]; output channels Cin * mult.
  auto dw = conv_of(one_layer("DepthwiseConv2D",
                              {{"kernel_size", 3}, {"depth_multiplier", 2}, {"use_bias", false}},
                              {5, 5, 3}, {{"kernel", {3, 3, 3, 2}}}),
                    context);
  CHECK(dw.second == std::vector<int64_t>{3, 3, 6});
}

TEST_CASE("conv import: unsupported configurations are errors naming the layer",
          "[conv][import]") {
  using nlohmann::json;
  struct Bad {
    const char *cls;
    json config;
    std::vector<int64_t> in;
    std::vector<std::pair<std::string, std::vector<int64_t>>> weights;
    const char *message;
  };
  const Bad cases[] = {
      {"Conv2D", {{"filters", 2}, {"kernel_size", 3}, {"strides", 2}, {"dilation_rate", 2},
                  {"use_bias", false}},
       {9, 9, 2}, {{"kernel", {3, 3, 2, 2}}}, "strides > 1 together with dilation_rate > 1"},
      {"Conv2D", {{"filters", 3}, {"kernel_size", 3}, {"groups", 2}, {"use_bias", false}},
       {9, 9, 4}, {{"kernel", {3, 3, 2, 3}}}, "groups=2 must divide"},
      {"Conv2D", {{"filters", 2}, {"kernel_size", 3}, {"padding", "causal"}}, {9, 9, 2},
       {{"kernel", {3, 3, 2, 2}}, {"bias", {2}}}, "padding 'causal' is not supported"},
      {"Conv2D", {{"filters", 2}, {"kernel_size", 3}, {"use_bias", false}}, {9, 9, 2},
       {{"kernel", {3, 3, 3, 2}}}, "has shape [3, 3, 3, 2] but the config implies [3, 3, 2, 2]"},
      {"Conv2D", {{"filters", 2}, {"kernel_size", 5}, {"use_bias", false}}, {3, 9, 2},
       {{"kernel", {5, 5, 2, 2}}}, "smaller than the (dilated) kernel"},
      {"Conv2D", {{"filters", 2}, {"kernel_size", {3, 3, 3}}, {"use_bias", false}}, {9, 9, 2},
       {{"kernel", {3, 3, 2, 2}}}, "'kernel_size' has 3 entries for 2 spatial axes"},
      {"Conv1D", {{"filters", 2}, {"kernel_size", 3}}, {9, 9, 2}, {}, "expects a rank-3 input"},
      {"Conv2DTranspose", {{"filters", 2}, {"kernel_size", 3}, {"strides", 2},
                           {"output_padding", 2}, {"use_bias", false}},
       {4, 4, 3}, {{"kernel", {3, 3, 2, 3}}}, "output_padding 2 must be >= 0 and smaller than"},
  };
  for (const Bad &c : cases) {
    mlir::MLIRContext context;
    CHECK_THROWS_WITH(kerasc::importModel(one_layer(c.cls, c.config, c.in, c.weights), context),
                      Catch::Contains(std::string("conv.json: layer 'c' (") + c.cls + "): ") &&
                          Catch::Contains(c.message));
  }
}

TEST_CASE("conv import: depthwise and pointwise variables take their role's regularizer, "
          "initializer and constraint", "[conv][import]") {
  // Keras names them depthwise_* / pointwise_* while the variables are `kernel` (Depthwise)
  // and `depthwise_kernel` / `pointwise_kernel` (Separable).
  mlir::MLIRContext context;
  nlohmann::json config = {{"filters", 4},
                           {"kernel_size", 3},
                           {"depthwise_regularizer", {{"class_name", "L2"}, {"config", {{"l2", 0.5}}}}},
                           {"depthwise_initializer", "he_normal"},
                           {"pointwise_constraint", {{"class_name", "NonNeg"}, {"config", nlohmann::json::object()}}},
                           {"use_bias", false}};
  kerasc::ImportedModel model = kerasc::importModel(
      one_layer("SeparableConv2D", config, {5, 5, 3},
                {{"depthwise_kernel", {3, 3, 3, 1}}, {"pointwise_kernel", {1, 1, 3, 4}}}),
      context);
  CHECK(model.weights.at("c/depthwise_kernel").initializer.find("he_normal") != std::string::npos);
  CHECK(model.weights.at("c/depthwise_kernel").shape == std::vector<int64_t>{3, 3, 3, 1});
  CHECK(model.weights.at("c/pointwise_kernel").constraint.find("NonNeg") != std::string::npos);
  int regularized = 0;
  model.module->walk([&](kerasc::nn::WeightOp w) {
    if (auto reg = w->getAttrOfType<mlir::DictionaryAttr>("nn.regularizer")) {
      CHECK(w.getName() == "c/depthwise_kernel");
      CHECK(reg.getAs<mlir::FloatAttr>("l2").getValueAsDouble() == 0.5);
      ++regularized;
    }
    if (w.getName() == "c/depthwise_kernel") // typed as the grouped nn.conv kernel
      CHECK(w.getType().cast<mlir::ShapedType>().getShape() ==
            llvm::ArrayRef<int64_t>{3, 3, 1, 3});
  });
  CHECK(regularized == 1);
}
