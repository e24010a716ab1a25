// Test-only reference interpreter for nn IR in double precision.
//
// It exists so that gradient rules of nn-autodiff can be checked against finite differences
// without float32 noise: every op (forward and gradient ops) is evaluated here from its
// documented meaning in ir/NNOps.td, directly and slowly, with no sharing of code with the
// runtime kernels or the code generator. The dynamic batch axis takes a fixed size chosen by the
// caller. Ops are dispatched by name and attributes read generically, so the interpreter does not
// depend on the generated accessor API.
//
// Training-mode randomness (nn.noise in a function marked `nn.training`, and nn.noise_grad) uses
// a deterministic draw u(stream, flat index) in [0, 1): the same in the forward op and in its
// gradient, which is exactly the contract nn-autodiff relies on (the backward pass recomputes
// the mask from the stream). Functions without `nn.training` run noise as the identity.
#pragma once

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace kerasc::testing {

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<double> data;

  static int64_t count(const std::vector<int64_t> &shape) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  static Tensor zeros(std::vector<int64_t> shape) {
    Tensor t;
    t.data.assign(static_cast<size_t>(count(shape)), 0.0);
    t.shape = std::move(shape);
    return t;
  }
  size_t size() const { return data.size(); }
};

inline std::string shapeText(const std::vector<int64_t> &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

/// A deterministic "random" number in [0, 1) for (stream, index): splitmix64 of both.
inline double draw(int64_t stream, int64_t index) {
  uint64_t z = static_cast<uint64_t>(stream) * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index) +
               0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

// ---- Activations in double, with their derivatives -------------------------------------------

struct ActParams {
  std::string fn;
  double alpha = 0.0;
  bool hasMax = false;
  double maxValue = 0.0;
  double threshold = 0.0;
};

inline double sigmoidD(double x) { return 1.0 / (1.0 + std::exp(-x)); }
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kPi = 3.14159265358979323846;

/// Keras 3's formulas (keras.src.activations), f(x).
inline double activation(const ActParams &p, double x) {
  const std::string &f = p.fn;
  if (f == "linear")
    return x;
  if (f == "relu") {
    if (p.alpha == 0.0 && !p.hasMax && p.threshold == 0.0)
      return x > 0 ? x : 0.0;
    // keras ReLU.static_call: the negative part follows alpha below the threshold.
    if (p.alpha != 0.0 && !p.hasMax && p.threshold == 0.0)
      return x >= 0 ? x : p.alpha * x;
    double neg = p.alpha != 0.0 ? std::max(p.threshold - x, 0.0) : 0.0;
    double y = x > p.threshold ? x : 0.0;
    if (p.hasMax)
      y = std::min(std::max(y, 0.0), p.maxValue);
    return y - p.alpha * neg;
  }
  if (f == "leaky_relu")
    return x >= 0 ? x : p.alpha * x;
  if (f == "relu6")
    return std::min(std::max(x, 0.0), 6.0);
  if (f == "sigmoid")
    return sigmoidD(x);
  if (f == "hard_sigmoid")
    return std::min(std::max(x + 3.0, 0.0), 6.0) / 6.0;
  if (f == "hard_sigmoid_tf2")
    return std::min(std::max(0.2 * x + 0.5, 0.0), 1.0);
  if (f == "tanh")
    return std::tanh(x);
  if (f == "elu")
    return x > 0 ? x : p.alpha * std::expm1(x);
  if (f == "selu")
    return kSeluScale * (x > 0 ? x : kSeluAlpha * std::expm1(x));
  if (f == "softplus")
    return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
  if (f == "softsign")
    return x / (std::fabs(x) + 1.0);
  if (f == "silu")
    return x * sigmoidD(x);
  if (f == "gelu")
    return x * (std::erf(x / std::sqrt(2.0)) + 1.0) / 2.0;
  if (f == "gelu_approximate") {
    const double c = std::sqrt(2.0 / kPi);
    return 0.5 * x * (1.0 + std::tanh(c * (x + 0.044715 * x * x * x)));
  }
  if (f == "exponential")
    return std::exp(x);
  throw std::runtime_error("interpreter: unknown activation " + f);
}

/// f'(x), written independently of `activation` (the finite differences compare the two).
inline double activationDerivative(const ActParams &p, double x) {
  const std::string &f = p.fn;
  if (f == "linear")
    return 1.0;
  if (f == "relu") {
    if (p.alpha == 0.0 && !p.hasMax && p.threshold == 0.0)
      return x > 0 ? 1.0 : 0.0;
    if (p.alpha != 0.0 && !p.hasMax && p.threshold == 0.0)
      return x >= 0 ? 1.0 : p.alpha;
    double d = 0.0;
    if (x > p.threshold && (!p.hasMax || x < p.maxValue) && x > 0)
      d = 1.0;
    if (p.alpha != 0.0 && x < p.threshold)
      d += p.alpha;
    return d;
  }
  if (f == "leaky_relu")
    return x >= 0 ? 1.0 : p.alpha;
  if (f == "relu6")
    return x > 0 && x < 6 ? 1.0 : 0.0;
  if (f == "sigmoid")
    return sigmoidD(x) * (1 - sigmoidD(x));
  if (f == "hard_sigmoid")
    return x > -3 && x < 3 ? 1.0 / 6.0 : 0.0;
  if (f == "hard_sigmoid_tf2")
    return x > -2.5 && x < 2.5 ? 0.2 : 0.0;
  if (f == "tanh")
    return 1 - std::tanh(x) * std::tanh(x);
  if (f == "elu")
    return x > 0 ? 1.0 : p.alpha * std::exp(x);
  if (f == "selu")
    return kSeluScale * (x > 0 ? 1.0 : kSeluAlpha * std::exp(x));
  if (f == "softplus")
    return sigmoidD(x);
  if (f == "softsign")
    return 1.0 / ((1 + std::fabs(x)) * (1 + std::fabs(x)));
  if (f == "silu")
    return sigmoidD(x) * (1 + x * (1 - sigmoidD(x)));
  if (f == "gelu")
    return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-x * x / 2) / std::sqrt(2 * kPi);
  if (f == "gelu_approximate") {
    const double c = std::sqrt(2.0 / kPi);
    double u = c * (x + 0.044715 * x * x * x), t = std::tanh(u);
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
  }
  if (f == "exponential")
    return std::exp(x);
  throw std::runtime_error("interpreter: unknown activation " + f);
}

/// Points where f is not differentiable (tests keep inputs away from them).
inline std::vector<double> activationKinks(const ActParams &p) {
  const std::string &f = p.fn;
  if (f == "relu") {
    std::vector<double> k{0.0, p.threshold};
    if (p.hasMax)
      k.push_back(p.maxValue);
    return k;
  }
  if (f == "leaky_relu" || f == "elu")
    return {0.0};
  if (f == "relu6")
    return {0.0, 6.0};
  if (f == "hard_sigmoid")
    return {-3.0, 3.0};
  if (f == "hard_sigmoid_tf2")
    return {-2.5, 2.5};
  if (f == "selu" || f == "softsign")
    return {0.0}; // selu: f' jumps at 0; softsign: |x| makes f'' jump (f' is continuous)
  return {};
}

// Broadcasting (numpy, aligned at the trailing axis).
inline std::vector<int64_t> broadcast(const std::vector<int64_t> &a,
                                      const std::vector<int64_t> &b) {
  size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      throw std::runtime_error("interpreter: shapes do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}
/// Flat index into an operand of shape `in` for the flat index `flat` of a result `out`.
inline int64_t sourceIndex(const std::vector<int64_t> &out, const std::vector<int64_t> &in,
                           int64_t flat) {
  int64_t index = 0, stride = 1;
  for (size_t k = 0; k < out.size(); ++k) {
    size_t axis = out.size() - 1 - k;
    int64_t coord = flat % out[axis];
    flat /= out[axis];
    if (k < in.size()) {
      int64_t d = in[in.size() - 1 - k];
      index += (d == 1 ? 0 : coord) * stride;
      stride *= d;
    }
  }
  return index;
}

// ---- Interpreter -----------------------------------------------------------------------------

class Interpreter {
public:
  /// Called after every op with its operands and result (tests use it to find kinks).
  using Observer = std::function<void(mlir::Operation *, const std::vector<const Tensor *> &,
                                      const Tensor &)>;

  int64_t batch = 3;
  std::map<std::string, Tensor> weights;             // by weight-store name
  std::map<std::string, Tensor> appliedGradients;    // what nn.apply_gradients received
  std::vector<std::string> appliedOrder;
  Observer observer;

  std::vector<Tensor> run(mlir::func::FuncOp f, const std::vector<Tensor> &args) {
    appliedGradients.clear();
    appliedOrder.clear();
    training = f->hasAttr("nn.training");
    env.clear();
    mlir::Block &block = f.getBody().front();
    if (args.size() != block.getNumArguments())
      throw std::runtime_error("interpreter: wrong number of arguments");
    for (unsigned i = 0; i < args.size(); ++i) {
      checkShape(block.getArgument(i), args[i].shape, "argument");
      env[block.getArgument(i).getAsOpaquePointer()] = args[i];
    }
    std::vector<Tensor> results;
    for (mlir::Operation &op : block) {
      if (auto ret = llvm::dyn_cast<mlir::func::ReturnOp>(op)) {
        for (mlir::Value v : ret.getOperands())
          results.push_back(get(v));
        break;
      }
      std::vector<const Tensor *> in;
      for (mlir::Value v : op.getOperands())
        in.push_back(&get(v));
      if (op.getName().getStringRef() == "nn.apply_gradients") {
        auto names = op.getAttrOfType<mlir::ArrayAttr>("weights");
        for (unsigned i = 0; i < names.size(); ++i) {
          std::string n = names[i].cast<mlir::StringAttr>().getValue().str();
          appliedGradients[n] = *in[i];
          appliedOrder.push_back(n);
        }
        continue;
      }
      Tensor out = eval(&op, in);
      // The IR's (inferred) result type must agree with what the op computes.
      checkShape(op.getResult(0), out.shape, op.getName().getStringRef().str());
      if (observer)
        observer(&op, in, out);
      env[op.getResult(0).getAsOpaquePointer()] = std::move(out);
    }
    return results;
  }

private:
  bool training = false;
  std::map<void *, Tensor> env;

  const Tensor &get(mlir::Value v) {
    auto it = env.find(v.getAsOpaquePointer());
    if (it == env.end())
      throw std::runtime_error("interpreter: value used before definition");
    return it->second;
  }

  std::vector<int64_t> resolve(mlir::Type t) const {
    auto shaped = t.cast<mlir::ShapedType>();
    if (!shaped.hasRank())
      throw std::runtime_error("interpreter: unranked type after shape inference");
    std::vector<int64_t> s;
    for (int64_t d : shaped.getShape())
      s.push_back(mlir::ShapedType::isDynamic(d) ? batch : d);
    return s;
  }
  void checkShape(mlir::Value v, const std::vector<int64_t> &actual, const std::string &what) {
    std::vector<int64_t> declared = resolve(v.getType());
    if (declared != actual)
      throw std::runtime_error("interpreter: " + what + " computes shape " + shapeText(actual) +
                               " but the IR type says " + shapeText(declared));
  }

  // Attribute readers.
  static double f64(mlir::Operation *op, const char *name, double fallback = 0.0) {
    auto a = op->getAttrOfType<mlir::FloatAttr>(name);
    return a ? a.getValueAsDouble() : fallback;
  }
  static bool hasAttr(mlir::Operation *op, const char *name) { return op->hasAttr(name); }
  static int64_t i64(mlir::Operation *op, const char *name) {
    auto a = op->getAttrOfType<mlir::IntegerAttr>(name);
    if (!a)
      throw std::runtime_error(std::string("interpreter: missing attribute ") + name);
    return a.getInt();
  }
  static std::string str(mlir::Operation *op, const char *name) {
    auto a = op->getAttrOfType<mlir::StringAttr>(name);
    return a ? a.getValue().str() : std::string();
  }
  static bool flag(mlir::Operation *op, const char *name) {
    auto a = op->getAttrOfType<mlir::BoolAttr>(name);
    return a && a.getValue();
  }
  static std::vector<int64_t> ints(mlir::Operation *op, const char *name) {
    std::vector<int64_t> out;
    for (mlir::Attribute a : op->getAttrOfType<mlir::ArrayAttr>(name))
      out.push_back(a.cast<mlir::IntegerAttr>().getInt());
    return out;
  }
  static ActParams actParams(mlir::Operation *op) {
    ActParams p;
    p.fn = str(op, "fn");
    p.alpha = f64(op, "alpha", p.fn == "elu" ? 1.0 : 0.0);
    p.hasMax = hasAttr(op, "max_value");
    p.maxValue = f64(op, "max_value");
    p.threshold = f64(op, "threshold");
    return p;
  }

  static double at(const Tensor &t, const std::vector<int64_t> &out, int64_t flat) {
    return t.data[static_cast<size_t>(sourceIndex(out, t.shape, flat))];
  }

  /// (outer, size, inner) of `axis` in `shape`.
  static void split(const std::vector<int64_t> &shape, int64_t axis, int64_t &outer, int64_t &n,
                    int64_t &inner) {
    outer = inner = 1;
    for (int64_t i = 0; i < axis; ++i)
      outer *= shape[i];
    n = shape[axis];
    for (size_t i = axis + 1; i < shape.size(); ++i)
      inner *= shape[i];
  }

  static double lossValue(const std::string &fn, const Tensor &p, const Tensor &y) {
    if (fn == "mean_squared_error") {
      double s = 0;
      for (size_t i = 0; i < p.size(); ++i)
        s += (p.data[i] - y.data[i]) * (p.data[i] - y.data[i]);
      return s / static_cast<double>(p.size()); // mean over the last axis, then over the rest
    }
    if (fn == "categorical_crossentropy") {
      // Keras: p / sum(p) along the last axis, clipped to [1e-7, 1 - 1e-7], -sum(y log p).
      int64_t c = p.shape.back(), rows = static_cast<int64_t>(p.size()) / c;
      double total = 0;
      for (int64_t r = 0; r < rows; ++r) {
        double s = 0;
        for (int64_t j = 0; j < c; ++j)
          s += p.data[r * c + j];
        for (int64_t j = 0; j < c; ++j) {
          double q = std::min(std::max(p.data[r * c + j] / s, 1e-7), 1 - 1e-7);
          total -= y.data[r * c + j] * std::log(q);
        }
      }
      return total / static_cast<double>(rows);
    }
    throw std::runtime_error("interpreter: loss " + fn + " is not implemented here");
  }
  static Tensor lossGradient(const std::string &fn, const Tensor &p, const Tensor &y) {
    Tensor g = Tensor::zeros(p.shape);
    if (fn == "mean_squared_error") {
      for (size_t i = 0; i < p.size(); ++i)
        g.data[i] = 2 * (p.data[i] - y.data[i]) / static_cast<double>(p.size());
      return g;
    }
    if (fn == "categorical_crossentropy") {
      int64_t c = p.shape.back(), rows = static_cast<int64_t>(p.size()) / c;
      for (int64_t r = 0; r < rows; ++r) {
        double s = 0, dot = 0;
        for (int64_t j = 0; j < c; ++j)
          s += p.data[r * c + j];
        std::vector<double> dq(c), q(c);
        for (int64_t j = 0; j < c; ++j) {
          q[j] = p.data[r * c + j] / s;
          bool clipped = q[j] < 1e-7 || q[j] > 1 - 1e-7;
          dq[j] = clipped ? 0.0 : -y.data[r * c + j] / q[j];
          dot += dq[j] * q[j];
        }
        for (int64_t j = 0; j < c; ++j)
          g.data[r * c + j] = (dq[j] - dot) / s / static_cast<double>(rows);
      }
      return g;
    }
    throw std::runtime_error("interpreter: loss " + fn + " is not implemented here");
  }

  /// The multiplicative factor a training-mode noise layer applies to element `i`, and the
  /// additive part (forward only): y = x * scale + shift; dx = dy * scale.
  static void noiseAt(const std::string &cls, double rate, int64_t stream, int64_t i,
                      double &scale, double &shift) {
    double u = draw(stream, i);
    scale = 1.0;
    shift = 0.0;
    if (cls == "Dropout" || cls.rfind("SpatialDropout", 0) == 0) {
      scale = u >= rate ? 1.0 / (1.0 - rate) : 0.0;
    } else if (cls == "GaussianDropout") {
      scale = 1.0 + std::sqrt(rate / (1.0 - rate)) * (2 * u - 1);
    } else if (cls == "GaussianNoise") {
      shift = rate * (2 * u - 1);
    } else if (cls == "AlphaDropout") {
      // keras AlphaDropout: a * (kept ? x : alpha_p) + b.
      double alphaP = -kSeluAlpha * kSeluScale;
      double a = 1.0 / std::sqrt((1 - rate) * (1 + rate * alphaP * alphaP));
      double b = -a * alphaP * rate;
      bool kept = u >= rate;
      scale = kept ? a : 0.0;
      shift = (kept ? 0.0 : a * alphaP) + b;
    } else if (cls == "ActivityRegularization") {
      // identity (its penalty on the activations is a loss term, not a transformation)
    } else {
      throw std::runtime_error("interpreter: unknown noise class " + cls);
    }
  }

  Tensor evalNorm(mlir::Operation *op, const std::string &name,
                  const std::vector<const Tensor *> &in) {
    const double eps = f64(op, "epsilon");
    const int64_t axis = i64(op, "axis");
    const bool grad = name == "nn.batch_norm_grad" || name == "nn.layer_norm_grad";
    const Tensor &x = *in[grad ? 1 : 0];
    const Tensor *dy = grad ? in[0] : nullptr;
    const Tensor &gamma = *in[grad ? 2 : 1];
    const int64_t which = grad ? i64(op, "operand") : 0;
    Tensor out = Tensor::zeros(which == 1 ? gamma.shape : x.shape);
    int64_t outer, n, inner;
    split(x.shape, axis, outer, n, inner);
    // A group: the elements one mean/variance covers, and the parameter index of each.
    auto normalize = [&](const std::vector<size_t> &group, const std::vector<size_t> &param,
                         bool batchStats, double givenMean, double givenVar) {
      const double count = static_cast<double>(group.size());
      double mean = givenMean, var = givenVar;
      if (batchStats) {
        mean = var = 0;
        for (size_t i : group)
          mean += x.data[i] / count;
        for (size_t i : group)
          var += (x.data[i] - mean) * (x.data[i] - mean) / count;
      }
      const double r = 1.0 / std::sqrt(var + eps);
      const bool rms = name.rfind("nn.layer_norm", 0) == 0 && flag(op, "rms_scaling");
      if (!grad) {
        for (size_t k = 0; k < group.size(); ++k) {
          size_t i = group[k];
          double g = gamma.data[param[k]], b = in[2]->data[param[k]];
          out.data[i] = rms ? x.data[i] * r * g : (x.data[i] - mean) * r * g + b;
        }
        return;
      }
      double sumG = 0, sumGXhat = 0, sumGX = 0;
      for (size_t k = 0; k < group.size(); ++k) {
        size_t i = group[k];
        double g = dy->data[i] * gamma.data[param[k]];
        sumG += g;
        sumGXhat += g * (x.data[i] - mean) * r;
        sumGX += g * x.data[i];
      }
      for (size_t k = 0; k < group.size(); ++k) {
        size_t i = group[k];
        double xhat = (x.data[i] - mean) * r;
        if (which == 1) {
          out.data[param[k]] += dy->data[i] * (rms ? x.data[i] * r : xhat);
          continue;
        }
        double g = dy->data[i] * gamma.data[param[k]];
        out.data[i] = rms ? r * g - r * r * r * (x.data[i] - mean) * sumGX / count
                          : r * (g - sumG / count - xhat * sumGXhat / count);
      }
    };
    if (name.rfind("nn.batch_norm", 0) == 0) {
      for (int64_t c = 0; c < n; ++c) {
        std::vector<size_t> group, param;
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t k = 0; k < inner; ++k) {
            group.push_back(static_cast<size_t>((o * n + c) * inner + k));
            param.push_back(static_cast<size_t>(c));
          }
        if (name == "nn.batch_norm")
          normalize(group, param, false, in[3]->data[c], in[4]->data[c]);
        else
          normalize(group, param, true, 0, 0);
      }
      return out;
    }
    const int64_t row = n * inner; // layer_norm: every axis from `axis` on
    for (int64_t o = 0; o < outer; ++o) {
      std::vector<size_t> group, param;
      for (int64_t j = 0; j < row; ++j) {
        group.push_back(static_cast<size_t>(o * row + j));
        param.push_back(static_cast<size_t>(j));
      }
      normalize(group, param, true, 0, 0);
    }
    return out;
  }

  Tensor eval(mlir::Operation *op, const std::vector<const Tensor *> &in) {
    const std::string name = op->getName().getStringRef().str();
    auto elementwise = [&](const Tensor &x, auto f) {
      Tensor out = Tensor::zeros(x.shape);
      for (size_t i = 0; i < x.size(); ++i)
        out.data[i] = f(i, x.data[i]);
      return out;
    };

    if (name == "nn.weight") {
      std::string key = str(op, "name");
      auto it = weights.find(key);
      if (it == weights.end())
        throw std::runtime_error("interpreter: no value for weight " + key);
      return it->second;
    }
    if (name == "nn.matmul" || name == "nn.matmul_grad_input") {
      const Tensor &x = *in[0], &w = *in[1];
      bool grad = name == "nn.matmul_grad_input";
      int64_t K = w.shape[0], N = w.shape[1];
      int64_t cin = grad ? N : K, cout = grad ? K : N;
      std::vector<int64_t> shape = x.shape;
      shape.back() = cout;
      Tensor out = Tensor::zeros(shape);
      int64_t rows = static_cast<int64_t>(x.size()) / cin;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < cout; ++o) {
          double s = 0;
          for (int64_t c = 0; c < cin; ++c)
            s += x.data[r * cin + c] * (grad ? w.data[o * N + c] : w.data[c * N + o]);
          out.data[r * cout + o] = s;
        }
      return out;
    }
    if (name == "nn.matmul_grad_kernel") {
      const Tensor &x = *in[0], &dy = *in[1];
      int64_t K = x.shape.back(), N = dy.shape.back(), rows = static_cast<int64_t>(x.size()) / K;
      Tensor out = Tensor::zeros({K, N});
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < K; ++k)
          for (int64_t n = 0; n < N; ++n)
            out.data[k * N + n] += x.data[r * K + k] * dy.data[r * N + n];
      return out;
    }
    if (name == "nn.bias_add") {
      const Tensor &b = *in[1];
      return elementwise(*in[0], [&](size_t i, double v) { return v + b.data[i % b.size()]; });
    }
    if (name == "nn.activation") {
      ActParams p = actParams(op);
      return elementwise(*in[0], [&](size_t, double v) { return activation(p, v); });
    }
    if (name == "nn.activation_grad") {
      ActParams p = actParams(op);
      const Tensor &x = *in[1];
      return elementwise(*in[0], [&](size_t i, double dy) {
        return dy * activationDerivative(p, x.data[i]);
      });
    }
    if (name == "nn.rescale") {
      double s = f64(op, "scale"), o = f64(op, "offset");
      return elementwise(*in[0], [&](size_t, double v) { return v * s + o; });
    }
    if (name == "nn.binary") {
      std::string fn = str(op, "fn");
      Tensor out = Tensor::zeros(broadcast(in[0]->shape, in[1]->shape));
      for (size_t i = 0; i < out.size(); ++i) {
        double a = at(*in[0], out.shape, i), b = at(*in[1], out.shape, i);
        out.data[i] = fn == "add" ? a + b : fn == "sub" ? a - b : fn == "mul" ? a * b
                    : fn == "div" ? a / b : fn == "max" ? (a >= b ? a : b) : (a <= b ? a : b);
      }
      return out;
    }
    if (name == "nn.binary_grad") {
      std::string fn = str(op, "fn");
      int64_t which = i64(op, "operand");
      const Tensor &dy = *in[0];
      Tensor out = Tensor::zeros(dy.shape);
      for (size_t i = 0; i < out.size(); ++i) {
        double a = at(*in[1], dy.shape, i), b = at(*in[2], dy.shape, i), g = dy.data[i], d;
        if (fn == "add")
          d = g;
        else if (fn == "sub")
          d = which == 0 ? g : -g;
        else if (fn == "mul")
          d = which == 0 ? g * b : g * a;
        else if (fn == "div")
          d = which == 0 ? g / b : -g * a / (b * b);
        else if (fn == "max")
          d = (a >= b) == (which == 0) ? g : 0.0;
        else // min
          d = (a <= b) == (which == 0) ? g : 0.0;
        out.data[i] = d;
      }
      return out;
    }
    if (name == "nn.reduce_to") {
      std::vector<int64_t> target = ints(op, "shape");
      for (int64_t &d : target)
        if (d < 0)
          d = batch;
      const Tensor &x = *in[0];
      if (broadcast(target, x.shape) != x.shape)
        throw std::runtime_error("interpreter: reduce_to target does not broadcast to input");
      Tensor out = Tensor::zeros(target);
      for (size_t i = 0; i < x.size(); ++i)
        out.data[sourceIndex(x.shape, target, i)] += x.data[i];
      return out;
    }
    if (name == "nn.normalize") {
      double eps = f64(op, "epsilon");
      bool invert = flag(op, "invert");
      const Tensor &x = *in[0];
      return elementwise(x, [&](size_t i, double v) {
        double mean = at(*in[1], x.shape, i);
        double denom = std::max(std::sqrt(at(*in[2], x.shape, i)), eps);
        return invert ? mean + v * denom : (v - mean) / denom;
      });
    }
    if (name == "nn.normalize_grad") {
      double eps = f64(op, "epsilon");
      bool invert = flag(op, "invert");
      const Tensor &dy = *in[0];
      return elementwise(dy, [&](size_t i, double g) {
        double var = at(*in[1], dy.shape, i);
        return invert ? g * std::sqrt(var) : g / std::max(std::sqrt(var), eps);
      });
    }
    // BatchNormalization / LayerNormalization in double, with Keras's formulas (engineer
    // "norm"): y = (x - mean) / sqrt(var + eps) * gamma + beta, biased variance; batch
    // statistics over every axis but `axis` (nn.batch_norm_train, nn.batch_norm_grad), or over
    // the axes from `axis` on (nn.layer_norm*). gamma / beta / statistics are read in their
    // element order ([C] or [C, 1, ...]; the normalized axes' shape for layer_norm).
    if (name == "nn.batch_norm" || name == "nn.batch_norm_train" ||
        name == "nn.batch_norm_grad" || name == "nn.layer_norm" ||
        name == "nn.layer_norm_grad")
      return evalNorm(op, name, in);
    if (name == "nn.prelu") {
      const Tensor &x = *in[0];
      return elementwise(x, [&](size_t i, double v) {
        return std::max(v, 0.0) - at(*in[1], x.shape, i) * std::max(-v, 0.0);
      });
    }
    if (name == "nn.prelu_grad") {
      int64_t which = i64(op, "operand");
      const Tensor &dy = *in[0], &x = *in[1];
      return elementwise(dy, [&](size_t i, double g) {
        double v = x.data[i];
        return which == 0 ? g * (v > 0 ? 1.0 : at(*in[2], x.shape, i)) : g * std::min(v, 0.0);
      });
    }
    if (name == "nn.softmax" || name == "nn.softmax_grad") {
      bool grad = name == "nn.softmax_grad", log = flag(op, "log");
      const Tensor &x = *in[0];
      int64_t outer, n, inner;
      split(x.shape, i64(op, "axis"), outer, n, inner);
      Tensor out = Tensor::zeros(x.shape);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t k = 0; k < inner; ++k) {
          auto idx = [&](int64_t j) { return static_cast<size_t>((o * n + j) * inner + k); };
          if (!grad) {
            double m = -INFINITY, s = 0;
            for (int64_t j = 0; j < n; ++j)
              m = std::max(m, x.data[idx(j)]);
            for (int64_t j = 0; j < n; ++j)
              s += std::exp(x.data[idx(j)] - m);
            for (int64_t j = 0; j < n; ++j)
              out.data[idx(j)] = log ? x.data[idx(j)] - m - std::log(s)
                                     : std::exp(x.data[idx(j)] - m) / s;
          } else {
            const Tensor &y = *in[1];
            double s = 0;
            for (int64_t j = 0; j < n; ++j)
              s += log ? x.data[idx(j)] : x.data[idx(j)] * y.data[idx(j)];
            for (int64_t j = 0; j < n; ++j)
              out.data[idx(j)] = log ? x.data[idx(j)] - std::exp(y.data[idx(j)]) * s
                                     : y.data[idx(j)] * (x.data[idx(j)] - s);
          }
        }
      return out;
    }
    if (name == "nn.reshape") {
      std::vector<int64_t> shape{batch};
      for (int64_t d : ints(op, "shape"))
        shape.push_back(d);
      Tensor out = *in[0];
      if (Tensor::count(shape) != static_cast<int64_t>(out.size()))
        throw std::runtime_error("interpreter: reshape changes the element count");
      out.shape = shape;
      return out;
    }
    if (name == "nn.transpose") {
      std::vector<int64_t> perm = ints(op, "perm");
      const Tensor &x = *in[0];
      std::vector<int64_t> shape(perm.size());
      for (size_t i = 0; i < perm.size(); ++i)
        shape[i] = x.shape[perm[i]];
      Tensor out = Tensor::zeros(shape);
      std::vector<int64_t> inStride(x.shape.size(), 1);
      for (int64_t i = static_cast<int64_t>(x.shape.size()) - 2; i >= 0; --i)
        inStride[i] = inStride[i + 1] * x.shape[i + 1];
      for (size_t flat = 0; flat < out.size(); ++flat) {
        int64_t rest = static_cast<int64_t>(flat), src = 0;
        for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
          src += (rest % shape[i]) * inStride[perm[i]];
          rest /= shape[i];
        }
        out.data[flat] = x.data[src];
      }
      return out;
    }
    if (name == "nn.repeat") {
      const Tensor &x = *in[0];
      int64_t times = i64(op, "times"), F = x.shape[1];
      Tensor out = Tensor::zeros({x.shape[0], times, F});
      for (int64_t b = 0; b < x.shape[0]; ++b)
        for (int64_t t = 0; t < times; ++t)
          for (int64_t f = 0; f < F; ++f)
            out.data[(b * times + t) * F + f] = x.data[b * F + f];
      return out;
    }
    if (name == "nn.concat") {
      int64_t axis = i64(op, "axis");
      std::vector<int64_t> shape = in[0]->shape;
      shape[axis] = 0;
      for (const Tensor *t : in)
        shape[axis] += t->shape[axis];
      Tensor out = Tensor::zeros(shape);
      int64_t outer, n, inner;
      split(shape, axis, outer, n, inner);
      int64_t offset = 0;
      for (const Tensor *t : in) {
        int64_t m = t->shape[axis];
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t j = 0; j < m; ++j)
            for (int64_t k = 0; k < inner; ++k)
              out.data[(o * n + offset + j) * inner + k] = t->data[(o * m + j) * inner + k];
        offset += m;
      }
      return out;
    }
    if (name == "nn.slice") {
      int64_t axis = i64(op, "axis"), offset = i64(op, "offset"), size = i64(op, "size");
      const Tensor &x = *in[0];
      int64_t outer, n, inner;
      split(x.shape, axis, outer, n, inner);
      std::vector<int64_t> shape = x.shape;
      shape[axis] = size;
      Tensor out = Tensor::zeros(shape);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < size; ++j)
          for (int64_t k = 0; k < inner; ++k)
            out.data[(o * size + j) * inner + k] = x.data[(o * n + offset + j) * inner + k];
      return out;
    }
    if (name == "nn.noise" || name == "nn.noise_grad") {
      bool grad = name == "nn.noise_grad";
      if (!grad && !training)
        return *in[0]; // inference: identity
      if (!op->hasAttr("stream"))
        throw std::runtime_error("interpreter: training-mode noise without a stream");
      std::string cls = str(op, "layer_class");
      double rate = f64(op, "rate");
      int64_t stream = i64(op, "stream");
      return elementwise(*in[0], [&](size_t i, double v) {
        double scale, shift;
        noiseAt(cls, rate, stream, static_cast<int64_t>(i), scale, shift);
        return grad ? v * scale : v * scale + shift;
      });
    }
    if (name == "nn.loss" || name == "nn.loss_grad") {
      std::string fn = str(op, "fn");
      double weight = f64(op, "weight", 1.0);
      if (name == "nn.loss") {
        Tensor out = Tensor::zeros({});
        out.data[0] = weight * lossValue(fn, *in[0], *in[1]);
        return out;
      }
      Tensor g = lossGradient(fn, *in[0], *in[1]);
      for (double &v : g.data)
        v *= weight;
      return g;
    }
    if (name == "nn.regularizer") {
      double l1 = f64(op, "l1"), l2 = f64(op, "l2");
      Tensor out = Tensor::zeros({});
      for (double w : in[0]->data)
        out.data[0] += l1 * std::fabs(w) + l2 * w * w;
      return out;
    }
    if (name == "nn.regularizer_grad") {
      double l1 = f64(op, "l1"), l2 = f64(op, "l2");
      return elementwise(*in[0], [&](size_t, double w) {
        return l1 * (w > 0 ? 1.0 : w < 0 ? -1.0 : 0.0) + 2 * l2 * w;
      });
    }
    throw std::runtime_error("interpreter: no rule for " + name);
  }
};

} // namespace kerasc::testing
