// Gradient checks for nn-autodiff: for each op (and each activation, binary function,
// broadcast, view and noise class) a tiny model is differentiated by the pass, its
// `<f>_train_step` is run by a double-precision reference interpreter (nn_interpreter.h) to get
// the gradients nn.apply_gradients receives, and these are compared with central finite
// differences of the interpreted loss.
//
// Tolerance everywhere: |analytic - numeric| <= 1e-6 * max(1, |numeric|), with the step
// h = 1e-6 * max(1, |w|) in double (truncation ~h^2, rounding ~1e-16/h: both far below 1e-6).
// Every model puts a trainable matmul (x . W) in front of the op under test, so the gradient
// with respect to the op's input is checked too, not only the op's own weights. Random values
// are redrawn (fixed seed sequence) until every non-differentiable point (activation kinks,
// max/min ties, prelu at 0, |w| at 0 under L1, small divisors) is at least 0.05 away.
#include "nn_interpreter.h"

#include "ir/NNDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <catch2/catch.hpp>

#include <iostream>
#include <limits>
#include <sstream>

using kerasc::testing::Interpreter;
using kerasc::testing::Tensor;

namespace {

constexpr double kTolerance = 1e-6; // relative to max(1, |numeric|)
constexpr double kMinMargin = 0.05; // distance from any kink, tie or pole
double worstDeviation = 0.0;        // over all checks, printed by the last test case

/// Writes nn IR text; every op result is `tensor<*xf32>` and nn-infer-shapes refines it, so
/// the tests spell out only argument and weight types.
class Ir {
public:
  Ir &input(const std::string &name, const std::string &type) {
    args.push_back("%" + name + ": " + type);
    types[name] = type;
    return *this;
  }
  Ir &weight(const std::string &ssa, const std::string &key, const std::string &type,
             const std::string &attrs = "") {
    body += "  %" + ssa + " = nn.weight \"" + key + "\" " + attrs + " : " + type + "\n";
    types[ssa] = type;
    return *this;
  }
  Ir &op(const std::string &result, const std::string &name,
         const std::vector<std::string> &operands, const std::string &attrs = "") {
    std::string ops, tys;
    for (size_t i = 0; i < operands.size(); ++i) {
      ops += (i ? ", %" : "%") + operands[i];
      tys += (i ? ", " : "") + types.at(operands[i]);
    }
    body += "  %" + result + " = nn." + name + " " + ops + " " + attrs + " : (" + tys +
            ") -> tensor<*xf32>\n";
    types[result] = "tensor<*xf32>";
    return *this;
  }
  /// The model function `@f`; `losses` defaults to mean_squared_error on every output.
  std::string text(const std::vector<std::string> &results,
                   std::vector<std::string> losses = {}) const {
    if (losses.empty())
      losses.assign(results.size(), mse());
    std::string sig, ret, rtys, ls;
    for (size_t i = 0; i < args.size(); ++i)
      sig += (i ? ", " : "") + args[i];
    for (size_t i = 0; i < results.size(); ++i) {
      ret += (i ? ", %" : "%") + results[i];
      rtys += std::string(i ? ", " : "") + "tensor<*xf32>";
      ls += (i ? ", " : "") + losses[i];
    }
    return "func.func @f(" + sig + ") -> (" + rtys + ") attributes {nn.losses = [" + ls +
           "]} {\n" + body + "  return " + ret + " : " + rtys + "\n}\n";
  }
  static std::string mse(double weight = 1.0) {
    return "{fn = \"mean_squared_error\", config = {}, weight = " + std::to_string(weight) +
           " : f64}";
  }
  static std::string cce(double weight = 1.0) {
    return "{fn = \"categorical_crossentropy\", config = {from_logits = false}, weight = " +
           std::to_string(weight) + " : f64}";
  }

private:
  std::vector<std::string> args;
  std::string body;
  std::map<std::string, std::string> types;
};

struct Options {
  double inputScale = 1.0; // inputs uniform in [-s, s]
  /// Per weight key: maps a uniform u in [0, 1) to the weight's value (default 2u - 1).
  std::map<std::string, std::function<double(double)>> init;
  /// Differentiate the training step's own loss (training-mode noise) rather than the test
  /// step's (the two must agree when the model has no noise).
  bool trainStepLoss = false;
  bool probabilityTargets = false; // rows of the targets sum to 1 (crossentropy)
  std::vector<std::string> expectedWeights; // the names nn.apply_gradients must receive, in order
};

std::vector<int64_t> shapeOf(mlir::Type t, int64_t batch) {
  std::vector<int64_t> s;
  for (int64_t d : t.cast<mlir::ShapedType>().getShape())
    s.push_back(mlir::ShapedType::isDynamic(d) ? batch : d);
  return s;
}

/// How far an op's operands are from a point where the op is not differentiable.
double margin(mlir::Operation *op, const std::vector<const Tensor *> &in) {
  double m = std::numeric_limits<double>::infinity();
  const std::string name = op->getName().getStringRef().str();
  if (name == "nn.activation") {
    kerasc::testing::ActParams p;
    p.fn = op->getAttrOfType<mlir::StringAttr>("fn").getValue().str();
    auto f = [&](const char *n) {
      auto a = op->getAttrOfType<mlir::FloatAttr>(n);
      return a ? a.getValueAsDouble() : 0.0;
    };
    p.alpha = f("alpha");
    p.hasMax = op->hasAttr("max_value");
    p.maxValue = f("max_value");
    p.threshold = f("threshold");
    for (double k : kerasc::testing::activationKinks(p))
      for (double v : in[0]->data)
        m = std::min(m, std::fabs(v - k));
  } else if (name == "nn.prelu") {
    for (double v : in[0]->data)
      m = std::min(m, std::fabs(v));
  } else if (name == "nn.binary") {
    std::string fn = op->getAttrOfType<mlir::StringAttr>("fn").getValue().str();
    if (fn == "max" || fn == "min" || fn == "div") {
      std::vector<int64_t> out = kerasc::testing::broadcast(in[0]->shape, in[1]->shape);
      for (int64_t i = 0; i < Tensor::count(out); ++i) {
        double a = in[0]->data[kerasc::testing::sourceIndex(out, in[0]->shape, i)];
        double b = in[1]->data[kerasc::testing::sourceIndex(out, in[1]->shape, i)];
        m = std::min(m, fn == "div" ? std::fabs(b) : std::fabs(a - b));
      }
    }
  } else if (name == "nn.regularizer") {
    if (op->getAttrOfType<mlir::FloatAttr>("l1").getValueAsDouble() != 0.0)
      for (double v : in[0]->data)
        m = std::min(m, std::fabs(v));
  }
  return m;
}

/// Differentiates `text` with nn-autodiff and checks every gradient against finite
/// differences. Returns the largest relative deviation.
void checkGradients(const std::string &text, const Options &o, int64_t batch = 3) {
  mlir::MLIRContext context;
  context.loadDialect<kerasc::nn::NNDialect, mlir::func::FuncDialect>();
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return mlir::success();
  });
  INFO("IR:\n" << text);
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  if (!module)
    FAIL("parse failed: " << diagnostics);
  mlir::PassManager pm(&context);
  pm.addNestedPass<mlir::func::FuncOp>(kerasc::createInferShapesPass());
  pm.addPass(kerasc::createAutodiffPass());
  if (mlir::failed(pm.run(*module)))
    FAIL("passes failed: " << diagnostics);
  auto model = module->lookupSymbol<mlir::func::FuncOp>("f");
  auto train = module->lookupSymbol<mlir::func::FuncOp>("f_train_step");
  auto test = module->lookupSymbol<mlir::func::FuncOp>("f_test_step");
  REQUIRE(train);
  REQUIRE(test);
  std::string printed;
  llvm::raw_string_ostream os(printed);
  module->print(os);
  INFO("after nn-autodiff:\n" << os.str());

  Interpreter interp;
  interp.batch = batch;
  std::vector<std::pair<std::string, std::vector<int64_t>>> weightDecls;
  model.walk([&](mlir::Operation *op) {
    if (op->getName().getStringRef() == "nn.weight")
      weightDecls.push_back({op->getAttrOfType<mlir::StringAttr>("name").getValue().str(),
                             shapeOf(op->getResult(0).getType(), batch)});
  });
  const unsigned numInputs = model.getNumArguments();
  std::vector<Tensor> args;
  for (mlir::Type t : train.getArgumentTypes())
    args.push_back(Tensor::zeros(shapeOf(t, batch)));

  // Draw values until the model is far from every non-differentiable point.
  double bestMargin = -1;
  for (int seed = 1; seed <= 64; ++seed) {
    int64_t stream = seed * 1000;
    for (auto &[name, shape] : weightDecls) {
      Tensor w = Tensor::zeros(shape);
      auto it = o.init.find(name);
      for (size_t i = 0; i < w.size(); ++i) {
        double u = kerasc::testing::draw(stream, static_cast<int64_t>(i));
        w.data[i] = it != o.init.end() ? it->second(u) : 2 * u - 1;
      }
      interp.weights[name] = w;
      ++stream;
    }
    for (unsigned a = 0; a < args.size(); ++a, ++stream) {
      Tensor &t = args[a];
      for (size_t i = 0; i < t.size(); ++i) {
        double u = kerasc::testing::draw(stream, static_cast<int64_t>(i));
        t.data[i] = a < numInputs ? o.inputScale * (2 * u - 1) : u;
      }
      if (a >= numInputs && o.probabilityTargets) {
        int64_t c = t.shape.back();
        for (size_t r = 0; r < t.size() / c; ++r) {
          double s = 0;
          for (int64_t j = 0; j < c; ++j)
            s += t.data[r * c + j];
          for (int64_t j = 0; j < c; ++j)
            t.data[r * c + j] /= s;
        }
      }
    }
    double m = std::numeric_limits<double>::infinity();
    interp.observer = [&](mlir::Operation *op, const std::vector<const Tensor *> &in,
                          const Tensor &) { m = std::min(m, margin(op, in)); };
    interp.run(o.trainStepLoss ? train : test, args);
    interp.observer = nullptr;
    bestMargin = std::max(bestMargin, m);
    if (m >= kMinMargin)
      break;
  }
  REQUIRE(bestMargin >= kMinMargin);

  std::vector<Tensor> trainOut = interp.run(train, args);
  std::map<std::string, Tensor> grads = interp.appliedGradients;
  CHECK(interp.appliedOrder == o.expectedWeights);
  auto loss = [&]() {
    return interp.run(o.trainStepLoss ? train : test, args).at(0).data.at(0);
  };
  if (!o.trainStepLoss) {
    // The training step computes the same loss as the test step (no noise): 1e-12 relative.
    double testLoss = loss();
    CHECK(std::fabs(trainOut.at(0).data.at(0) - testLoss) <= 1e-12 * std::max(1.0, std::fabs(testLoss)));
  }

  for (auto &[name, analytic] : grads) {
    Tensor &w = interp.weights.at(name);
    REQUIRE(analytic.shape == w.shape);
    double worst = 0, worstA = 0, worstN = 0;
    size_t worstI = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      const double w0 = w.data[i], h = 1e-6 * std::max(1.0, std::fabs(w0));
      w.data[i] = w0 + h;
      double up = loss();
      w.data[i] = w0 - h;
      double down = loss();
      w.data[i] = w0;
      double numeric = (up - down) / (2 * h);
      double dev = std::fabs(analytic.data[i] - numeric) / std::max(1.0, std::fabs(numeric));
      if (dev >= worst) {
        worst = dev;
        worstA = analytic.data[i];
        worstN = numeric;
        worstI = i;
      }
    }
    worstDeviation = std::max(worstDeviation, worst);
    INFO("weight " << name << " element " << worstI << ": analytic " << worstA << ", numeric "
                   << worstN);
    CHECK(worst <= kTolerance);
  }
}

std::function<double(double)> range(double lo, double hi) {
  return [=](double u) { return lo + (hi - lo) * u; };
}
/// Values of either sign with lo <= |v| <= hi.
std::function<double(double)> awayFromZero(double lo, double hi) {
  return [=](double u) { return u < 0.5 ? lo + (hi - lo) * 2 * u : -(lo + (hi - lo) * (2 * u - 1)); };
}

} // namespace

TEST_CASE("gradients: matmul", "[gradients]") {
  SECTION("dense chain") {
    Ir ir;
    ir.input("x", "tensor<?x4xf32>")
        .weight("w1", "d1/kernel", "tensor<4x5xf32>")
        .weight("w2", "d2/kernel", "tensor<5x3xf32>")
        .op("a", "matmul", {"x", "w1"})
        .op("b", "matmul", {"a", "w2"});
    checkGradients(ir.text({"b"}), {1.0, {}, false, false, {"d1/kernel", "d2/kernel"}});
  }
  SECTION("rank-3 input (rows over two leading axes)") {
    Ir ir;
    ir.input("x", "tensor<?x3x4xf32>")
        .weight("w1", "d1/kernel", "tensor<4x4xf32>")
        .weight("w2", "d2/kernel", "tensor<4x2xf32>")
        .op("a", "matmul", {"x", "w1"})
        .op("b", "matmul", {"a", "w2"});
    checkGradients(ir.text({"b"}), {1.0, {}, false, false, {"d1/kernel", "d2/kernel"}});
  }
}

TEST_CASE("gradients: bias_add", "[gradients]") {
  Ir ir;
  ir.input("x", "tensor<?x3x4xf32>")
      .weight("w", "d/kernel", "tensor<4x5xf32>")
      .weight("b", "d/bias", "tensor<5xf32>")
      .op("a", "matmul", {"x", "w"})
      .op("c", "bias_add", {"a", "b"})
      .weight("w2", "e/kernel", "tensor<5x2xf32>")
      .op("o", "matmul", {"c", "w2"});
  checkGradients(ir.text({"o"}), {1.0, {}, false, false, {"d/kernel", "d/bias", "e/kernel"}});
}

TEST_CASE("gradients: activation", "[gradients]") {
  struct Act {
    const char *label, *attrs;
    double scale;
  };
  const Act acts[] = {
      {"linear", "{fn = \"linear\"}", 2},
      {"relu", "{fn = \"relu\"}", 2},
      {"relu alpha", "{fn = \"relu\", alpha = 0.1 : f64}", 2},
      {"relu max_value", "{fn = \"relu\", max_value = 1.5 : f64}", 3},
      {"relu threshold", "{fn = \"relu\", threshold = 0.5 : f64}", 3},
      {"relu alpha max_value threshold",
       "{fn = \"relu\", alpha = 0.1 : f64, max_value = 1.5 : f64, threshold = 0.5 : f64}", 3},
      {"relu6", "{fn = \"relu6\"}", 6},
      {"sigmoid", "{fn = \"sigmoid\"}", 3},
      {"hard_sigmoid", "{fn = \"hard_sigmoid\"}", 5},
      {"hard_sigmoid_tf2", "{fn = \"hard_sigmoid_tf2\"}", 4},
      {"tanh", "{fn = \"tanh\"}", 2},
      {"elu", "{fn = \"elu\", alpha = 1.0 : f64}", 2},
      {"elu alpha 0.5", "{fn = \"elu\", alpha = 0.5 : f64}", 2},
      {"selu", "{fn = \"selu\"}", 2},
      {"softplus", "{fn = \"softplus\"}", 3},
      {"softsign", "{fn = \"softsign\"}", 2},
      {"silu", "{fn = \"silu\"}", 3},
      {"gelu", "{fn = \"gelu\"}", 3},
      {"gelu_approximate", "{fn = \"gelu_approximate\"}", 3},
      {"exponential", "{fn = \"exponential\"}", 1},
      {"leaky_relu", "{fn = \"leaky_relu\", alpha = 0.3 : f64}", 2},
  };
  for (const Act &act : acts) {
    DYNAMIC_SECTION(act.label) {
      Ir ir;
      ir.input("x", "tensor<?x4xf32>")
          .weight("w", "d/kernel", "tensor<4x4xf32>")
          .weight("b", "d/bias", "tensor<4xf32>")
          .op("a", "matmul", {"x", "w"})
          .op("c", "bias_add", {"a", "b"})
          .op("y", "activation", {"c"}, act.attrs)
          .weight("w2", "e/kernel", "tensor<4x3xf32>")
          .op("o", "matmul", {"y", "w2"});
      Options o{act.scale, {}, false, false, {"d/kernel", "d/bias", "e/kernel"}};
      checkGradients(ir.text({"o"}), o);
    }
  }
}

TEST_CASE("gradients: rescale", "[gradients]") {
  Ir ir;
  ir.input("x", "tensor<?x4xf32>")
      .weight("w", "d/kernel", "tensor<4x4xf32>")
      .op("a", "matmul", {"x", "w"})
      .op("r", "rescale", {"a"}, "{scale = -0.75 : f64, offset = 0.25 : f64}")
      .weight("w2", "e/kernel", "tensor<4x2xf32>")
      .op("o", "matmul", {"r", "w2"});
  checkGradients(ir.text({"o"}), {1.0, {}, false, false, {"d/kernel", "e/kernel"}});
}

TEST_CASE("gradients: binary", "[gradients]") {
  for (const char *fn : {"add", "sub", "mul", "div", "max", "min"}) {
    const std::string attrs = std::string("{fn = \"") + fn + "\"}";
    Options base{1.0, {}, false, false, {}};
    base.init["s/w"] = awayFromZero(0.5, 1.5); // divisors stay away from 0
    DYNAMIC_SECTION(fn << ": two branches of the same shape") {
      Ir ir;
      ir.input("x", "tensor<?x4xf32>")
          .weight("w1", "d1/kernel", "tensor<4x4xf32>")
          .weight("w2", "d2/kernel", "tensor<4x4xf32>")
          .op("a", "matmul", {"x", "w1"})
          .op("b", "matmul", {"x", "w2"})
          .op("c", "binary", {"a", "b"}, attrs);
      Options o = base;
      o.expectedWeights = {"d1/kernel", "d2/kernel"};
      checkGradients(ir.text({"c"}), o);
    }
    DYNAMIC_SECTION(fn << ": rank-1 weight as rhs") {
      Ir ir;
      ir.input("x", "tensor<?x4xf32>")
          .weight("w1", "d1/kernel", "tensor<4x4xf32>")
          .weight("s", "s/w", "tensor<4xf32>")
          .op("a", "matmul", {"x", "w1"})
          .op("c", "binary", {"a", "s"}, attrs);
      Options o = base;
      o.expectedWeights = {"d1/kernel", "s/w"};
      checkGradients(ir.text({"c"}), o);
    }
    DYNAMIC_SECTION(fn << ": rank-1 weight as lhs") {
      Ir ir;
      ir.input("x", "tensor<?x4xf32>")
          .weight("w1", "d1/kernel", "tensor<4x4xf32>")
          .weight("s", "s/w", "tensor<4xf32>")
          .op("a", "matmul", {"x", "w1"})
          .op("c", "binary", {"s", "a"}, attrs);
      Options o = base;
      o.expectedWeights = {"d1/kernel", "s/w"};
      checkGradients(ir.text({"c"}), o);
    }
    DYNAMIC_SECTION(fn << ": [1, 4] weight against a rank-3 input") {
      Ir ir;
      ir.input("x", "tensor<?x3x4xf32>")
          .weight("w1", "d1/kernel", "tensor<4x4xf32>")
          .weight("s", "s/w", "tensor<1x4xf32>")
          .op("a", "matmul", {"x", "w1"})
          .op("c", "binary", {"a", "s"}, attrs);
      Options o = base;
      o.expectedWeights = {"d1/kernel", "s/w"};
      checkGradients(ir.text({"c"}), o);
    }
    DYNAMIC_SECTION(fn << ": [?, 1, 4] against [?, 3, 4] (batch kept, middle axis summed)") {
      Ir ir;
      ir.input("x", "tensor<?x3x4xf32>")
          .input("z", "tensor<?x1x4xf32>")
          .weight("w1", "d1/kernel", "tensor<4x4xf32>")
          .weight("w2", "d2/kernel", "tensor<4x4xf32>")
          .op("a", "matmul", {"x", "w1"})
          .op("b", "matmul", {"z", "w2"})
          .op("c", "binary", {"b", "a"}, attrs);
      Options o = base;
      o.expectedWeights = {"d1/kernel", "d2/kernel"};
      checkGradients(ir.text({"c"}), o);
    }
  }
}

TEST_CASE("gradients: normalize", "[gradients]") {
  for (bool invert : {false, true}) {
    DYNAMIC_SECTION((invert ? "invert" : "forward")) {
      Ir ir;
      ir.input("x", "tensor<?x3x4xf32>")
          .weight("w", "d/kernel", "tensor<4x4xf32>")
          .weight("m", "norm/mean", "tensor<4xf32>", "{nn.trainable = false}")
          .weight("v", "norm/variance", "tensor<4xf32>", "{nn.trainable = false}")
          .op("a", "matmul", {"x", "w"})
          .op("n", "normalize", {"a", "m", "v"},
              std::string("{epsilon = 1.0e-07 : f64, invert = ") + (invert ? "true" : "false") + "}")
          .weight("w2", "e/kernel", "tensor<4x2xf32>")
          .op("o", "matmul", {"n", "w2"});
      Options o{1.0, {}, false, false, {"d/kernel", "e/kernel"}};
      o.init["norm/variance"] = range(0.2, 3.0);
      checkGradients(ir.text({"o"}), o);
    }
  }
}

TEST_CASE("gradients: prelu", "[gradients]") {
  struct Case {
    const char *label, *input, *alpha;
  };
  for (const Case &c : {Case{"alpha [4]", "tensor<?x4xf32>", "tensor<4xf32>"},
                        Case{"shared axis 1: alpha [1, 4]", "tensor<?x3x4xf32>", "tensor<1x4xf32>"},
                        Case{"shared axis 2: alpha [3, 1]", "tensor<?x3x4xf32>", "tensor<3x1xf32>"}}) {
    DYNAMIC_SECTION(c.label) {
      Ir ir;
      ir.input("x", c.input)
          .weight("w", "d/kernel", "tensor<4x4xf32>")
          .weight("al", "p/alpha", c.alpha)
          .op("a", "matmul", {"x", "w"})
          .op("p", "prelu", {"a", "al"})
          .weight("w2", "e/kernel", "tensor<4x2xf32>")
          .op("o", "matmul", {"p", "w2"});
      Options o{1.5, {}, false, false, {"d/kernel", "p/alpha", "e/kernel"}};
      o.init["p/alpha"] = range(0.05, 0.6);
      checkGradients(ir.text({"o"}), o);
    }
  }
}

TEST_CASE("gradients: softmax and log-softmax", "[gradients]") {
  struct Case {
    const char *label, *input;
    int axis;
  };
  for (bool log : {false, true})
    for (const Case &c : {Case{"rank 3, middle axis", "tensor<?x3x4xf32>", 1},
                          Case{"rank 3, last axis", "tensor<?x3x4xf32>", 2},
                          Case{"rank 2", "tensor<?x4xf32>", 1}}) {
      DYNAMIC_SECTION((log ? "log_softmax " : "softmax ") << c.label) {
        Ir ir;
        ir.input("x", c.input)
            .weight("w", "d/kernel", "tensor<4x5xf32>")
            .op("a", "matmul", {"x", "w"})
            .op("s", "softmax", {"a"},
                "{axis = " + std::to_string(c.axis) + " : i64, log = " + (log ? "true" : "false") + "}");
        checkGradients(ir.text({"s"}), {2.0, {}, false, false, {"d/kernel"}});
      }
    }
}

TEST_CASE("gradients: reshape", "[gradients]") {
  SECTION("flatten [3, 4] -> [12]") {
    Ir ir;
    ir.input("x", "tensor<?x3x4xf32>")
        .weight("w", "d/kernel", "tensor<4x4xf32>")
        .op("a", "matmul", {"x", "w"})
        .op("r", "reshape", {"a"}, "{shape = [12]}")
        .weight("w2", "e/kernel", "tensor<12x3xf32>")
        .op("o", "matmul", {"r", "w2"});
    checkGradients(ir.text({"o"}), {1.0, {}, false, false, {"d/kernel", "e/kernel"}});
  }
  SECTION("[12] -> [3, 4]") {
    Ir ir;
    ir.input("x", "tensor<?x12xf32>")
        .weight("w", "d/kernel", "tensor<12x12xf32>")
        .op("a", "matmul", {"x", "w"})
        .op("r", "reshape", {"a"}, "{shape = [3, 4]}")
        .weight("w2", "e/kernel", "tensor<4x2xf32>")
        .op("o", "matmul", {"r", "w2"});
    checkGradients(ir.text({"o"}), {1.0, {}, false, false, {"d/kernel", "e/kernel"}});
  }
}

TEST_CASE("gradients: transpose", "[gradients]") {
  struct Case {
    const char *label, *input, *kernel, *perm, *kernel2;
  };
  for (const Case &c :
       {Case{"rank 3 [0, 2, 1]", "tensor<?x3x4xf32>", "tensor<4x4xf32>", "[0, 2, 1]", "tensor<3x2xf32>"},
        Case{"rank 4 [0, 3, 1, 2]", "tensor<?x2x3x4xf32>", "tensor<4x5xf32>", "[0, 3, 1, 2]",
             "tensor<3x2xf32>"},
        Case{"rank 4 [0, 2, 3, 1]", "tensor<?x2x3x4xf32>", "tensor<4x5xf32>", "[0, 2, 3, 1]",
             "tensor<2x2xf32>"}}) {
    DYNAMIC_SECTION(c.label) {
      Ir ir;
      ir.input("x", c.input)
          .weight("w", "d/kernel", c.kernel)
          .op("a", "matmul", {"x", "w"})
          .op("t", "transpose", {"a"}, std::string("{perm = ") + c.perm + "}")
          .weight("w2", "e/kernel", c.kernel2)
          .op("o", "matmul", {"t", "w2"});
      checkGradients(ir.text({"o"}), {1.0, {}, false, false, {"d/kernel", "e/kernel"}});
    }
  }
}

TEST_CASE("gradients: repeat", "[gradients]") {
  Ir ir;
  ir.input("x", "tensor<?x4xf32>")
      .weight("w", "d/kernel", "tensor<4x4xf32>")
      .op("a", "matmul", {"x", "w"})
      .op("r", "repeat", {"a"}, "{times = 3 : i64}")
      .weight("w2", "e/kernel", "tensor<4x2xf32>")
      .op("o", "matmul", {"r", "w2"});
  checkGradients(ir.text({"o"}), {1.0, {}, false, false, {"d/kernel", "e/kernel"}});
}

TEST_CASE("gradients: concat", "[gradients]") {
  SECTION("3 inputs of different sizes on the last axis") {
    Ir ir;
    ir.input("x", "tensor<?x4xf32>")
        .weight("w1", "a/kernel", "tensor<4x2xf32>")
        .weight("w2", "b/kernel", "tensor<4x3xf32>")
        .weight("w3", "c/kernel", "tensor<4x4xf32>")
        .op("a", "matmul", {"x", "w1"})
        .op("b", "matmul", {"x", "w2"})
        .op("c", "matmul", {"x", "w3"})
        .op("k", "concat", {"a", "b", "c"}, "{axis = 1 : i64}")
        .weight("w4", "d/kernel", "tensor<9x2xf32>")
        .op("o", "matmul", {"k", "w4"});
    checkGradients(ir.text({"o"}),
                   {1.0, {}, false, false, {"a/kernel", "b/kernel", "c/kernel", "d/kernel"}});
  }
  SECTION("an input that needs no gradient in the middle") {
    Ir ir;
    ir.input("x", "tensor<?x4xf32>")
        .weight("w1", "a/kernel", "tensor<4x2xf32>")
        .weight("w3", "c/kernel", "tensor<4x4xf32>")
        .op("a", "matmul", {"x", "w1"})
        .op("c", "matmul", {"x", "w3"})
        .op("k", "concat", {"a", "x", "c"}, "{axis = 1 : i64}")
        .weight("w4", "d/kernel", "tensor<10x2xf32>")
        .op("o", "matmul", {"k", "w4"});
    checkGradients(ir.text({"o"}), {1.0, {}, false, false, {"a/kernel", "c/kernel", "d/kernel"}});
  }
  SECTION("rank 3, middle axis") {
    Ir ir;
    ir.input("x", "tensor<?x3x4xf32>")
        .input("z", "tensor<?x2x4xf32>")
        .weight("w1", "a/kernel", "tensor<4x4xf32>")
        .weight("w2", "b/kernel", "tensor<4x4xf32>")
        .op("a", "matmul", {"x", "w1"})
        .op("b", "matmul", {"z", "w2"})
        .op("k", "concat", {"a", "b"}, "{axis = 1 : i64}")
        .weight("w4", "d/kernel", "tensor<4x2xf32>")
        .op("o", "matmul", {"k", "w4"});
    checkGradients(ir.text({"o"}), {1.0, {}, false, false, {"a/kernel", "b/kernel", "d/kernel"}});
  }
}

TEST_CASE("gradients: shared weights", "[gradients]") {
  SECTION("one weight name read by two nn.weight ops (a shared layer)") {
    Ir ir;
    ir.input("x", "tensor<?x4xf32>")
        .weight("w", "shared/kernel", "tensor<4x4xf32>")
        .op("a", "matmul", {"x", "w"})
        .weight("w1", "shared/kernel", "tensor<4x4xf32>")
        .op("b", "matmul", {"a", "w1"})
        .op("c", "activation", {"b"}, "{fn = \"tanh\"}")
        .weight("w2", "shared/kernel", "tensor<4x4xf32>")
        .op("o", "matmul", {"c", "w2"});
    checkGradients(ir.text({"o"}), {1.0, {}, false, false, {"shared/kernel"}});
  }
  SECTION("one SSA weight value used twice") {
    Ir ir;
    ir.input("x", "tensor<?x4xf32>")
        .weight("w", "shared/kernel", "tensor<4x4xf32>")
        .op("a", "matmul", {"x", "w"})
        .op("c", "activation", {"a"}, "{fn = \"sigmoid\"}")
        .op("o", "matmul", {"c", "w"});
    checkGradients(ir.text({"o"}), {1.0, {}, false, false, {"shared/kernel"}});
  }
  SECTION("x * x: one value as both operands of nn.binary") {
    Ir ir;
    ir.input("x", "tensor<?x4xf32>")
        .weight("w", "d/kernel", "tensor<4x4xf32>")
        .op("a", "matmul", {"x", "w"})
        .op("o", "binary", {"a", "a"}, "{fn = \"mul\"}");
    checkGradients(ir.text({"o"}), {1.0, {}, false, false, {"d/kernel"}});
  }
}

TEST_CASE("gradients: frozen weights pass gradients through but receive none", "[gradients]") {
  Ir ir;
  ir.input("x", "tensor<?x4xf32>")
      .weight("w", "d/kernel", "tensor<4x4xf32>")
      .weight("f", "frozen/kernel", "tensor<4x3xf32>", "{nn.trainable = false}")
      .weight("fb", "frozen/bias", "tensor<3xf32>", "{nn.trainable = false}")
      .op("a", "matmul", {"x", "w"})
      .op("b", "matmul", {"a", "f"})
      .op("o", "bias_add", {"b", "fb"});
  checkGradients(ir.text({"o"}), {1.0, {}, false, false, {"d/kernel"}});
}

TEST_CASE("gradients: regularizers", "[gradients]") {
  struct Case {
    const char *label, *reg;
  };
  for (const Case &c : {Case{"l1", "{nn.regularizer = {l1 = 0.05 : f64, l2 = 0.0 : f64}}"},
                        Case{"l2", "{nn.regularizer = {l1 = 0.0 : f64, l2 = 0.1 : f64}}"},
                        Case{"l1 and l2", "{nn.regularizer = {l1 = 0.05 : f64, l2 = 0.1 : f64}}"}}) {
    DYNAMIC_SECTION(c.label) {
      Ir ir;
      ir.input("x", "tensor<?x4xf32>")
          .weight("w", "d/kernel", "tensor<4x4xf32>", c.reg)
          .weight("b", "d/bias", "tensor<4xf32>", c.reg)
          .op("a", "matmul", {"x", "w"})
          .op("y", "bias_add", {"a", "b"})
          .weight("w2", "e/kernel", "tensor<4x2xf32>")
          .op("o", "matmul", {"y", "w2"});
      Options o{1.0, {}, false, false, {"d/kernel", "d/bias", "e/kernel"}};
      o.init["d/kernel"] = o.init["d/bias"] = awayFromZero(0.1, 1.0); // L1's kink at 0
      checkGradients(ir.text({"o"}), o);
    }
  }
  SECTION("regularized shared weight (penalty once per name)") {
    Ir ir;
    const char *reg = "{nn.regularizer = {l1 = 0.05 : f64, l2 = 0.1 : f64}}";
    ir.input("x", "tensor<?x4xf32>")
        .weight("w", "shared/kernel", "tensor<4x4xf32>", reg)
        .op("a", "matmul", {"x", "w"})
        .weight("w1", "shared/kernel", "tensor<4x4xf32>", reg)
        .op("o", "matmul", {"a", "w1"});
    Options o{1.0, {}, false, false, {"shared/kernel"}};
    o.init["shared/kernel"] = awayFromZero(0.1, 1.0);
    checkGradients(ir.text({"o"}), o);
  }
  SECTION("a regularized weight the loss does not otherwise depend on") {
    Ir ir;
    ir.input("x", "tensor<?x4xf32>")
        .weight("w", "d/kernel", "tensor<4x4xf32>")
        .weight("u", "unused/kernel", "tensor<4x4xf32>",
                "{nn.regularizer = {l1 = 0.0 : f64, l2 = 0.1 : f64}}")
        .op("a", "matmul", {"x", "w"});
    checkGradients(ir.text({"a"}), {1.0, {}, false, false, {"d/kernel", "unused/kernel"}});
  }
}

TEST_CASE("gradients: losses and several outputs", "[gradients]") {
  SECTION("categorical crossentropy after softmax, loss weight 0.5") {
    Ir ir;
    ir.input("x", "tensor<?x4xf32>")
        .weight("w", "d/kernel", "tensor<4x5xf32>")
        .weight("b", "d/bias", "tensor<5xf32>")
        .op("a", "matmul", {"x", "w"})
        .op("z", "bias_add", {"a", "b"})
        .op("p", "softmax", {"z"}, "{axis = 1 : i64, log = false}");
    checkGradients(ir.text({"p"}, {Ir::cce(0.5)}),
                   {2.0, {}, false, true, {"d/kernel", "d/bias"}});
  }
  SECTION("two outputs sharing a trunk; one output is also used by the other") {
    Ir ir;
    ir.input("x", "tensor<?x4xf32>")
        .weight("w", "trunk/kernel", "tensor<4x4xf32>")
        .op("a", "matmul", {"x", "w"})
        .op("h", "activation", {"a"}, "{fn = \"tanh\"}")
        .weight("w2", "head/kernel", "tensor<4x3xf32>")
        .op("z", "matmul", {"h", "w2"})
        .op("p", "softmax", {"z"}, "{axis = 1 : i64, log = false}");
    checkGradients(ir.text({"h", "p"}, {Ir::mse(0.7), Ir::cce(0.3)}),
                   {1.5, {}, false, false, {"trunk/kernel", "head/kernel"}});
  }
  SECTION("an output without a loss") {
    Ir ir;
    ir.input("x", "tensor<?x4xf32>")
        .weight("w", "d/kernel", "tensor<4x4xf32>")
        .weight("w2", "e/kernel", "tensor<4x2xf32>")
        .op("a", "matmul", {"x", "w"})
        .op("b", "matmul", {"a", "w2"});
    checkGradients(ir.text({"a", "b"}, {"{}", Ir::mse()}),
                   {1.0, {}, false, false, {"d/kernel", "e/kernel"}});
  }
}

// Noise layers: the interpreter runs nn.noise in training functions with deterministic draws
// u(stream, element) (Dropout keeps an element iff u >= rate) and recomputes the same draws in
// nn.noise_grad from the stream nn-autodiff assigned, so the finite differences are taken of the
// training step's own loss: they check that noise_grad is the derivative of the training-mode
// noise with the same mask/noise (i.e. the stream wiring), for every class.
TEST_CASE("gradients: noise (training mode, deterministic draws)", "[gradients]") {
  struct Case {
    const char *cls;
    double rate;
  };
  for (const Case &c : {Case{"Dropout", 0.5}, Case{"GaussianDropout", 0.3},
                        Case{"GaussianNoise", 0.2}, Case{"AlphaDropout", 0.2},
                        Case{"ActivityRegularization", 0.0}}) {
    DYNAMIC_SECTION(c.cls) {
      Ir ir;
      std::string attrs = std::string("{layer_class = \"") + c.cls + "\"" +
                          (c.rate > 0 ? ", rate = " + std::to_string(c.rate) + " : f64" : "") + "}";
      ir.input("x", "tensor<?x4xf32>")
          .weight("w", "d/kernel", "tensor<4x6xf32>")
          .op("a", "matmul", {"x", "w"})
          .op("n", "noise", {"a"}, attrs)
          .op("h", "activation", {"n"}, "{fn = \"tanh\"}")
          .weight("w2", "e/kernel", "tensor<6x2xf32>")
          .op("o", "matmul", {"h", "w2"});
      checkGradients(ir.text({"o"}), {1.0, {}, true, false, {"d/kernel", "e/kernel"}});
    }
  }
  SECTION("two Dropout layers: each gradient recomputes its own layer's draws") {
    Ir ir;
    ir.input("x", "tensor<?x4xf32>")
        .weight("w", "d/kernel", "tensor<4x6xf32>")
        .op("a", "matmul", {"x", "w"})
        .op("n", "noise", {"a"}, "{layer_class = \"Dropout\", rate = 0.5 : f64}")
        .weight("w2", "e/kernel", "tensor<6x6xf32>")
        .op("b", "matmul", {"n", "w2"})
        .op("m", "noise", {"b"}, "{layer_class = \"Dropout\", rate = 0.3 : f64}")
        .weight("w3", "f/kernel", "tensor<6x2xf32>")
        .op("o", "matmul", {"m", "w3"});
    checkGradients(ir.text({"o"}), {1.0, {}, true, false, {"d/kernel", "e/kernel", "f/kernel"}});
  }
}

TEST_CASE("gradients: largest deviation (report)", "[gradients]") {
  std::cout << "gradient checks: largest |analytic - numeric| / max(1, |numeric|) = "
            << worstDeviation << "\n";
  CHECK(worstDeviation <= kTolerance);
}

// --- BatchNormalization / LayerNormalization (engineer "norm") -------------------------------
// A trainable BatchNormalization runs in training mode in the training step (nn-autodiff turns
// nn.batch_norm into nn.batch_norm_train: batch statistics, gradients through them), so these
// differentiate the training step's loss; a frozen one (nn.trainable = false on the op) stays
// in inference mode and only passes the gradient to its input.

TEST_CASE("gradients: batch_norm", "[gradients]") {
  struct Case {
    const char *label, *input, *param, *axis, *opAttrs;
    std::vector<std::string> weights;
  };
  const std::vector<std::string> trained = {"d/kernel", "bn/gamma", "bn/beta", "e/kernel"};
  for (const Case &c :
       {Case{"training mode, axis -1", "tensor<?x4xf32>", "tensor<4xf32>", "1", "", trained},
        Case{"training mode, axis 1 of [B, 3, 4]: gamma [3, 1]", "tensor<?x3x4xf32>",
             "tensor<3x1xf32>", "1", "", trained},
        Case{"training mode, axis 2 of [B, 3, 4]", "tensor<?x3x4xf32>", "tensor<4xf32>", "2", "",
             trained},
        Case{"frozen: inference mode", "tensor<?x3x4xf32>", "tensor<4xf32>", "2",
             ", nn.trainable = false", {"d/kernel", "e/kernel"}}}) {
    DYNAMIC_SECTION(c.label) {
      const bool frozen = std::string(c.opAttrs).find("trainable") != std::string::npos;
      const std::string paramAttrs = frozen ? "{nn.trainable = false}" : "";
      Ir ir;
      ir.input("x", c.input)
          .weight("w", "d/kernel", "tensor<4x4xf32>")
          .op("a", "matmul", {"x", "w"})
          .weight("g", "bn/gamma", c.param, paramAttrs)
          .weight("b", "bn/beta", c.param, paramAttrs)
          .weight("m", "bn/moving_mean", c.param, "{nn.trainable = false}")
          .weight("v", "bn/moving_variance", c.param, "{nn.trainable = false}")
          .op("n", "batch_norm", {"a", "g", "b", "m", "v"},
              std::string("{axis = ") + c.axis + " : i64, epsilon = 1.0e-02 : f64, " +
                  "nn.momentum = 9.0e-01 : f64" + c.opAttrs + "}")
          .weight("w2", "e/kernel", "tensor<4x2xf32>")
          .op("o", "matmul", {"n", "w2"});
      Options o;
      o.trainStepLoss = true;
      o.expectedWeights = c.weights;
      o.init["bn/gamma"] = range(0.5, 1.5);
      o.init["bn/moving_variance"] = range(0.2, 3.0);
      checkGradients(ir.text({"o"}), o, /*batch=*/4);
    }
  }
}

TEST_CASE("gradients: layer_norm", "[gradients]") {
  struct Case {
    const char *label, *param, *attrs;
    bool beta;
  };
  for (const Case &c : {Case{"axis -1", "tensor<4xf32>", "axis = 2 : i64, rms_scaling = false", true},
                        Case{"axes 1 and 2: gamma [3, 4]", "tensor<3x4xf32>",
                             "axis = 1 : i64, rms_scaling = false", true},
                        Case{"rms_scaling", "tensor<4xf32>", "axis = 2 : i64, rms_scaling = true",
                             false}}) {
    DYNAMIC_SECTION(c.label) {
      Ir ir;
      ir.input("x", "tensor<?x3x4xf32>")
          .weight("w", "d/kernel", "tensor<4x4xf32>")
          .op("a", "matmul", {"x", "w"})
          .weight("g", "ln/gamma", c.param)
          .weight("b", "ln/beta", c.param, c.beta ? "" : "{nn.trainable = false}")
          .op("n", "layer_norm", {"a", "g", "b"},
              std::string("{") + c.attrs + ", epsilon = 1.0e-03 : f64}")
          .weight("w2", "e/kernel", "tensor<4x2xf32>")
          .op("o", "matmul", {"n", "w2"});
      Options o;
      o.expectedWeights = c.beta ? std::vector<std::string>{"d/kernel", "ln/gamma", "ln/beta",
                                                            "e/kernel"}
                                 : std::vector<std::string>{"d/kernel", "ln/gamma", "e/kernel"};
      o.init["ln/gamma"] = range(0.5, 1.5);
      checkGradients(ir.text({"o"}), o);
    }
  }
}
