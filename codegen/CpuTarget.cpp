// The CPU target: renders a planned nn module as portable C++17 that calls the header-only
// runtime (runtime/kerasc). One commented block per Keras layer (or fused group of layers).
#include "codegen/Target.h"
#include "ir/NNDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <regex>
#include <map>
#include <optional>
#include <set>

using namespace mlir;

namespace kerasc {
namespace {

std::string upper(std::string s) {
  for (char &c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

/// A C identifier made from arbitrary text (layer names may contain '/', '.', '-').
std::string identifier(llvm::StringRef text) {
  std::string id;
  for (char c : text)
    id += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (id.empty() || std::isdigit(static_cast<unsigned char>(id[0])))
    id = "_" + id;
  return id;
}

/// Exact float literal (9 significant digits round-trip float32).
std::string floatLiteral(double v) {
  float f = static_cast<float>(v);
  if (std::isnan(f))
    return "std::numeric_limits<float>::quiet_NaN()";
  if (std::isinf(f))
    return f > 0 ? "std::numeric_limits<float>::infinity()"
                 : "-std::numeric_limits<float>::infinity()";
  std::string s = fmt::format("{:.9g}", f);
  if (s.find_first_of(".e") == std::string::npos)
    s += ".0";
  return s + "f";
}

ShapedType shapedType(Value v) { return v.getType().cast<ShapedType>(); }

/// "(None, 8)" like Keras prints shapes.
std::string shapeText(ShapedType type) { return nn::kerasShapeText(type.getShape()); }

/// Elements per sample before and after `axis`: a tensor viewed as [batch * outer, dim, inner].
std::pair<int64_t, int64_t> aroundAxis(ShapedType type, int64_t axis) {
  int64_t outer = 1, inner = 1;
  for (int64_t d = 1; d < axis; ++d)
    outer *= type.getDimSize(d);
  for (int64_t d = axis + 1; d < type.getRank(); ++d)
    inner *= type.getDimSize(d);
  return {outer, inner};
}

std::string constraintConfig(const std::string &text);
std::string initializerConfig(const std::string &text);

/// Gradient ops computed element by element (with broadcasting, like nn.binary): rendered as
/// loops by the same scalar-expression machinery as the forward elementwise ops.
bool isElementwiseGradient(Operation *op) {
  return isa<nn::ActivationGradOp, nn::BinaryGradOp, nn::PReluGradOp, nn::NormalizeGradOp,
             nn::RegularizerGradOp>(op);
}

/// An integer attribute of the function (a memory-plan figure), 0 when absent.
int64_t funcAttr(func::FuncOp func, llvm::StringRef name) {
  auto attr = func->getAttrOfType<IntegerAttr>(name);
  return attr ? attr.getInt() : 0;
}

class CpuEmitter {
public:
  CpuEmitter(func::FuncOp func, const WeightStore &weights, const EmitOptions &options)
      : func(func), weights(weights), options(options), prefix(identifier(options.modelName)),
        macro(upper(prefix)) {
    for (BlockArgument arg : func.getArguments()) {
      auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "nn.name");
      inputs.push_back({"input", arg.getArgNumber(), name ? name.str() : "", shapedType(arg)});
    }
    ArrayRef<Type> results = func.getFunctionType().getResults();
    for (unsigned i = 0; i < results.size(); ++i) {
      auto name = func.getResultAttrOfType<StringAttr>(i, "nn.name");
      outputs.push_back({"output", i, name ? name.str() : "", results[i].cast<ShapedType>()});
    }
  }

  std::vector<OutputFile> emit();

private:
  // --- pieces of the source file ---
  std::string renderWeights();
  std::string renderBody(func::FuncOp f);
  void renderOp(Operation *op, std::string &out);
  bool renderTrainingOp(Operation *op, const std::string &name, ShapedType type, std::string &out);
  std::string renderApplyGradients(nn::ApplyGradientsOp apply);
  std::string broadcastTables(ShapedType full, ShapedType part, std::string &decls);
  std::string renderElementwiseLoop(Operation *op, const std::string &result);
  std::string renderMatMul(Operation *op, const std::string &result);
  std::string renderScalarOps(ArrayRef<Operation *> ops, std::string &decls,
                              llvm::DenseMap<Value, std::string> &scalars, ShapedType resultType,
                              bool columnInScope);
  std::pair<SmallVector<Operation *>, Value> fusedBody(nn::FusedOp fused);
  std::string scalarExpr(Operation *op, ArrayRef<std::string> args);
  std::string loadExpr(Value v, ShapedType resultType, std::string &decls, bool columnInScope);

  // --- other files ---
  std::string renderHeader();
  std::string renderSource();
  std::string renderMain();
  std::string renderCMake();
  std::string renderWeightsFile();

  /// The C++ expression that points at the buffer of a top-level value.
  std::string pointer(Value v) {
    auto it = pointers.find(v);
    assert(it != pointers.end() && "value used before its definition was rendered");
    return it->second;
  }
  /// A unique C++ variable name after `base` (a layer name) that cannot clash with the
  /// generated code's own names or with C++ keywords.
  std::string freshName(const std::string &base) {
    std::string name = identifier(base);
    static const std::set<std::string> reserved = {
        "in", "out", "arena", "batch", "i", "n", "acc", "dims", "perm", "std", "kerasc",
        "forward", "main", "g_arena", "g_ready", "alignas", "and", "auto", "bool", "break",
        "case", "catch", "char", "class", "const", "continue", "default", "delete", "do",
        "double", "else", "enum", "explicit", "export", "extern", "false", "float", "for",
        "friend", "goto", "if", "inline", "int", "long", "mutable", "namespace", "new", "not",
        "operator", "or", "private", "protected", "public", "register", "return", "short",
        "signed", "sizeof", "static", "struct", "switch", "template", "this", "throw", "true",
        "try", "typedef", "typename", "union", "unsigned", "using", "virtual", "void",
        "volatile", "while", "xor"};
    // Scalars in loops are e<N>, broadcast tables bcast<N>, weights w_<name>.
    if (reserved.count(name) || std::regex_match(name, std::regex("(e|bcast)[0-9]+.*|w_.*")))
      name += "_t";
    if (!usedNames.insert(name).second) {
      for (int i = 1;; ++i)
        if (usedNames.insert(name + "_" + std::to_string(i)).second)
          return name + "_" + std::to_string(i);
    }
    return name;
  }
  std::string weightSymbol(llvm::StringRef name) { return "w_" + identifier(name); }

  /// A model input or output as the generated API exposes it.
  struct Port {
    const char *kind; // "input" or "output"
    unsigned index;
    std::string name; // the Keras layer it comes from
    ShapedType type;
    std::string macro(const std::string &prefix) const {
      return fmt::format("{}_{}{}", prefix, upper(kind), index);
    }
  };

  func::FuncOp func;
  const WeightStore &weights;
  const EmitOptions &options;
  std::string prefix, macro;
  std::vector<Port> inputs, outputs;
  llvm::DenseMap<Value, std::string> pointers; // top-level value -> C++ pointer expression
  std::set<std::string> usedNames;
  std::vector<std::string> usedWeights; // in first-use order
  int tempCounter = 0;
  int64_t fixedBytes = 0; // size of the fixed-size region of the function being rendered

  // --- training (when the module has the nn-autodiff step functions) ---
public:
  void setTrainingFunctions(func::FuncOp train, func::FuncOp test);

private:
  bool training() const { return static_cast<bool>(trainFunc); }
  std::string renderTraining();
  std::string renderOptimizerConfig();
  std::string renderMetrics();
  std::string renderTrainableModel();
  std::string renderTrainingApi();
  std::string trainingHeader();
  int64_t optimizerStateOffset(const std::string &weight) const {
    return optimizerOffsets.at(weight);
  }
  std::vector<std::string> allVariables() const;
  func::FuncOp trainFunc, testFunc;
  std::string optimizerClass;
  std::map<std::string, int64_t> optimizerOffsets; // trainable weight -> offset in the state
  std::vector<std::string> trainableWeights;       // in the order apply_gradients lists them
  int64_t trainableFloats = 0;
  int optimizerSlotCount = 0;
  int numMetrics = 0;
};

//===----------------------------------------------------------------------------------------===//
// Elementwise rendering: every elementwise op is a scalar expression of scalar operands; a
// fused group or a single op becomes one loop (or one matmul epilogue) over the result.
//===----------------------------------------------------------------------------------------===//

std::string CpuEmitter::scalarExpr(Operation *op, ArrayRef<std::string> a) {
  if (isa<nn::BiasAddOp>(op))
    return fmt::format("{} + {}", a[0], a[1]);
  if (auto r = dyn_cast<nn::RescaleOp>(op))
    return fmt::format("{} * {} + {}", a[0], floatLiteral(r.getScale().convertToDouble()),
                       floatLiteral(r.getOffset().convertToDouble()));
  if (auto b = dyn_cast<nn::BinaryOp>(op)) {
    llvm::StringRef fn = b.getFn();
    if (fn == "max" || fn == "min")
      return fmt::format("std::{}({}, {})", fn.str(), a[0], a[1]);
    const char *sym = fn == "add" ? "+" : fn == "sub" ? "-" : fn == "mul" ? "*" : "/";
    return fmt::format("{} {} {}", a[0], sym, a[1]);
  }
  if (auto n = dyn_cast<nn::NormalizeOp>(op)) {
    std::string denom = fmt::format("std::max(std::sqrt({}), {})", a[2],
                                    floatLiteral(n.getEpsilon().convertToDouble()));
    if (n.getInvert())
      return fmt::format("{} + {} * {}", a[1], a[0], denom);
    return fmt::format("({} - {}) / {}", a[0], a[1], denom);
  }
  if (isa<nn::PReluOp>(op)) // Keras: relu(x) + (-alpha) * relu(-x)
    return fmt::format("kerasc::act::relu({0}) + -{1} * kerasc::act::relu(-{0})", a[0], a[1]);
  if (auto g = dyn_cast<nn::BinaryGradOp>(op)) {
    // a = (dy, lhs, rhs): the partial derivative of lhs (op) rhs times dy.
    llvm::StringRef fn = g.getFn();
    const bool lhs = static_cast<int64_t>(g.getOperand()) == 0;
    if (fn == "add")
      return a[0];
    if (fn == "sub")
      return lhs ? a[0] : "-" + a[0];
    if (fn == "mul")
      return fmt::format("{} * {}", a[0], lhs ? a[2] : a[1]);
    if (fn == "div")
      return lhs ? fmt::format("{} / {}", a[0], a[2])
                 : fmt::format("-{} * {} / ({} * {})", a[0], a[1], a[2], a[2]);
    // max/min: the selected operand gets dy (lhs on ties, as std::max/std::min select it).
    const char *cmp = fn == "max" ? ">=" : "<=";
    return fmt::format("({} {} {}) == {} ? {} : 0.0f", a[1], cmp, a[2], lhs ? "true" : "false",
                       a[0]);
  }
  if (auto g = dyn_cast<nn::PReluGradOp>(op)) { // a = (dy, x, alpha)
    if (static_cast<int64_t>(g.getOperand()) == 0)
      return fmt::format("{1} > 0.0f ? {0} : {2} * {0}", a[0], a[1], a[2]);
    return fmt::format("{} * std::min({}, 0.0f)", a[0], a[1]);
  }
  if (auto g = dyn_cast<nn::NormalizeGradOp>(op)) { // a = (dy, variance)
    std::string denom = fmt::format("std::max(std::sqrt({}), {})", a[1],
                                    floatLiteral(g.getEpsilon().convertToDouble()));
    return g.getInvert() ? fmt::format("{} * {}", a[0], denom)
                         : fmt::format("{} / {}", a[0], denom);
  }
  if (auto g = dyn_cast<nn::RegularizerGradOp>(op)) { // d/dw (l1 |w| + l2 w^2) [/ batch]
    std::string d = fmt::format("{0} * static_cast<float>(({1} > 0.0f) - ({1} < 0.0f)) + {2} * {1}",
                                floatLiteral(g.getL1().convertToDouble()), a[0],
                                floatLiteral(2.0 * g.getL2().convertToDouble()));
    return g.getBatchMean() && *g.getBatchMean()
               ? fmt::format("({}) / static_cast<float>(batch)", d)
               : d;
  }
  // nn.activation f(x), or nn.activation_grad dy * f'(x) with the same attributes.
  const bool gradient = isa<nn::ActivationGradOp>(op);
  llvm::StringRef fn = op->getAttrOfType<StringAttr>("fn").getValue();
  auto optional = [&](const char *key) -> std::optional<double> {
    if (auto attr = op->getAttrOfType<FloatAttr>(key))
      return attr.getValueAsDouble();
    return std::nullopt;
  };
  const std::optional<double> maxValue = optional("max_value"), threshold = optional("threshold");
  const double alpha = optional("alpha").value_or(0.0);
  const std::string x = gradient ? a[1] : a[0];
  const std::string ns = gradient ? "act_grad" : "act";
  std::string value;
  if (fn == "relu" && (maxValue || threshold || alpha != 0.0))
    value = fmt::format("kerasc::{}::relu_general({}, {}, {}, {}, {})", ns, x, floatLiteral(alpha),
                        maxValue ? "true" : "false", floatLiteral(maxValue.value_or(0.0)),
                        floatLiteral(threshold.value_or(0.0)));
  else if (fn == "leaky_relu" || fn == "elu")
    value = fmt::format("kerasc::{}::{}({}, {})", ns, fn.str(), x, floatLiteral(alpha));
  else
    value = fmt::format("kerasc::{}::{}({})", ns, fn.str(), x);
  return gradient ? fmt::format("{} * {}", a[0], value) : value;
}

/// Reads operand `v` at the element of the result that flat index `i` addresses, following
/// numpy broadcasting. Declares index tables in `decls` for the general case.
std::string CpuEmitter::loadExpr(Value v, ShapedType resultType, std::string &decls,
                                 bool columnInScope) {
  std::string p = pointer(v);
  ShapedType type = shapedType(v);
  if (type == resultType)
    return p + "[i]";
  const int64_t sampleSize = nn::elementsPerSample(resultType);
  const bool operandHasBatch = nn::hasBatchDim(type) && type.getRank() == resultType.getRank();
  const int64_t operandElems = operandHasBatch ? nn::elementsPerSample(type) : type.getNumElements();
  // Drop leading 1s of a batch-less operand to compare with trailing result dims.
  ArrayRef<int64_t> dims = type.getShape();
  if (!operandHasBatch)
    while (!dims.empty() && dims.front() == 1)
      dims = dims.drop_front();
  ArrayRef<int64_t> resultSample = resultType.getShape().drop_front();
  if (!operandHasBatch) {
    if (operandElems == 1)
      return p + "[0]";
    if (dims.size() == 1 && dims[0] == resultSample.back()) {
      if (columnInScope) // a matmul epilogue knows the column: no division
        return p + "[column]";
      return fmt::format("{}[i % {}]", p, dims[0]);
    }
    if (dims == resultSample)
      return fmt::format("{}[i % {}]", p, sampleSize);
  }
  // General broadcast: per-dim strides over the result's sample dims (0 where broadcast).
  return fmt::format("{}[kerasc::broadcast_offset(i, {})]", p,
                     broadcastTables(resultType, type, decls));
}

/// Renders elementwise `ops`, in order, as statements computing scalars. Operands found in
/// `scalars` (values computed earlier in the same kernel, or a matmul's `acc`) are used as they
/// are; anything else is loaded from memory. Each op's result is added to `scalars`.
std::string CpuEmitter::renderScalarOps(ArrayRef<Operation *> ops, std::string &decls,
                                        llvm::DenseMap<Value, std::string> &scalars,
                                        ShapedType resultType, bool columnInScope) {
  std::string code;
  for (Operation *op : ops) {
    SmallVector<std::string> args;
    for (Value operand : op->getOperands()) {
      auto it = scalars.find(operand);
      args.push_back(it != scalars.end() ? it->second : loadExpr(operand, resultType, decls, columnInScope));
    }
    std::string name = fmt::format("e{}", scalars.size());
    code += fmt::format("      const float {} = {};  // {}\n", name, scalarExpr(op, args),
                        nn::describeOps(op));
    scalars[op->getResult(0)] = name;
  }
  return code;
}

/// The elementwise ops of a fused body (its matmul head, if any, is computed by the kernel)
/// and the value it yields. Block arguments read the fused op's operands.
std::pair<SmallVector<Operation *>, Value> CpuEmitter::fusedBody(nn::FusedOp fused) {
  for (auto [arg, operand] : llvm::zip(fused.getBody().getArguments(), fused.getInputs()))
    pointers[arg] = pointer(operand);
  SmallVector<Operation *> ops;
  for (Operation &op : fused.getBody().front().without_terminator())
    if (!isa<nn::MatMulOp>(op))
      ops.push_back(&op);
  auto yield = cast<nn::YieldOp>(fused.getBody().front().getTerminator());
  return {ops, yield.getValue()};
}

std::string CpuEmitter::renderElementwiseLoop(Operation *op, const std::string &result) {
  ShapedType type = shapedType(op->getResult(0));
  SmallVector<Operation *> ops{op};
  Value last = op->getResult(0);
  if (auto fused = dyn_cast<nn::FusedOp>(op))
    std::tie(ops, last) = fusedBody(fused);
  std::string decls;
  llvm::DenseMap<Value, std::string> scalars;
  std::string body = renderScalarOps(ops, decls, scalars, type, /*columnInScope=*/false);
  return fmt::format("{}    const int64_t n = {}{};\n"
                     "    for (int64_t i = 0; i < n; ++i) {{\n{}      {}[i] = {};\n    }}\n",
                     decls, nn::hasBatchDim(type) ? "batch * " : "", nn::elementsPerSample(type),
                     body, result, scalars.lookup(last));
}

std::string CpuEmitter::renderMatMul(Operation *op, const std::string &result) {
  nn::MatMulOp matmul;
  std::string epilogue = "kerasc::IdentityEpilogue{}";
  std::string decls;
  if (auto fused = dyn_cast<nn::FusedOp>(op)) {
    matmul = cast<nn::MatMulOp>(fused.getBody().front().front());
    auto [ops, last] = fusedBody(fused);
    llvm::DenseMap<Value, std::string> scalars{{matmul.getResult(), "acc"}};
    std::string body = renderScalarOps(ops, decls, scalars, shapedType(fused.getResult()),
                                       /*columnInScope=*/true);
    body += "      return " + scalars.lookup(last) + ";\n";
    // Name only the indices the body reads, so the lambda compiles without warnings.
    const bool readsFlatIndex = std::regex_search(body, std::regex("[\\[(]i[\\] ,]"));
    const bool readsColumn = body.find("[column]") != std::string::npos;
    epilogue = fmt::format("[&](float acc, int64_t {}, int64_t {}) {{\n{}    }}",
                           readsFlatIndex ? "i" : "/*i*/", readsColumn ? "column" : "/*column*/",
                           body);
  } else {
    matmul = cast<nn::MatMulOp>(op);
  }
  ShapedType in = shapedType(matmul.getInput());
  ShapedType kernel = shapedType(matmul.getKernel());
  int64_t k = kernel.getDimSize(0), n = kernel.getDimSize(1);
  int64_t rowsPerSample = nn::elementsPerSample(in) / k;
  return fmt::format("{}    kerasc::matmul({}, {}, {}, batch * {}, {}, {}, {});\n", decls,
                     pointer(matmul.getInput()), pointer(matmul.getKernel()), result,
                     rowsPerSample, k, n, epilogue);
}

//===----------------------------------------------------------------------------------------===//
// Training ops: losses, the backward kernels, noise in training mode, the optimizer step
//===----------------------------------------------------------------------------------------===//

/// Keras loss function name -> the runtime's LossKind enumerator.
const char *lossKind(llvm::StringRef fn) {
  static const std::map<std::string, const char *> kinds = {
      {"mean_squared_error", "MeanSquaredError"},
      {"mean_absolute_error", "MeanAbsoluteError"},
      {"mean_absolute_percentage_error", "MeanAbsolutePercentageError"},
      {"mean_squared_logarithmic_error", "MeanSquaredLogarithmicError"},
      {"huber", "Huber"},
      {"log_cosh", "LogCosh"},
      {"binary_crossentropy", "BinaryCrossentropy"},
      {"categorical_crossentropy", "CategoricalCrossentropy"},
      {"sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"},
      {"kl_divergence", "KLDivergence"},
      {"poisson", "Poisson"},
      {"cosine_similarity", "CosineSimilarity"},
      {"hinge", "Hinge"},
      {"squared_hinge", "SquaredHinge"},
      {"categorical_hinge", "CategoricalHinge"}};
  auto it = kinds.find(fn.str());
  return it == kinds.end() ? nullptr : it->second;
}

/// The runtime LossConfig of a Keras loss `fn` with options `config`, as a C++ expression.
std::string lossConfig(llvm::StringRef fn, DictionaryAttr config) {
  const char *kind = lossKind(fn);
  if (!kind)
    throw std::runtime_error("the cpu target has no loss '" + fn.str() + "'");
  std::string fields = fmt::format("c.kind = kerasc::LossKind::{};", kind);
  if (auto v = config.getAs<BoolAttr>("from_logits"))
    fields += fmt::format(" c.from_logits = {};", v.getValue() ? "true" : "false");
  if (auto v = config.getAs<FloatAttr>("label_smoothing"))
    fields += fmt::format(" c.label_smoothing = {};", floatLiteral(v.getValueAsDouble()));
  if (auto v = config.getAs<FloatAttr>("delta"))
    fields += fmt::format(" c.delta = {};", floatLiteral(v.getValueAsDouble()));
  if (auto v = config.getAs<FloatAttr>("axis"))
    if (v.getValueAsDouble() != -1.0)
      throw std::runtime_error("loss '" + fn.str() + "': only axis=-1 is supported");
  return fmt::format("[] {{ kerasc::LossConfig c{{}}; {} return c; }}()", fields);
}

/// Index tables mapping each element of `full` (with batch) to its element in `part`, which
/// broadcasts to `full`: the arguments of kerasc::broadcast_offset / kerasc::reduce_to after i.
std::string CpuEmitter::broadcastTables(ShapedType full, ShapedType part, std::string &decls) {
  const bool partHasBatch = nn::hasBatchDim(part) && part.getRank() == full.getRank();
  ArrayRef<int64_t> sample = full.getShape().drop_front();
  ArrayRef<int64_t> dims = part.getShape();
  if (partHasBatch)
    dims = dims.drop_front();
  const int64_t rank = sample.size();
  std::vector<int64_t> strides(rank, 0);
  int64_t stride = 1;
  for (int64_t d = rank - 1, od = (int64_t)dims.size() - 1; d >= 0 && od >= 0; --d, --od) {
    if (dims[od] != 1)
      strides[d] = stride;
    stride *= dims[od];
  }
  std::string table = fmt::format("bcast{}", tempCounter++);
  decls += fmt::format("    static constexpr int64_t {}_dims[] = {{{}}};\n", table,
                       fmt::join(sample, ", "));
  decls += fmt::format("    static constexpr int64_t {}_strides[] = {{{}}};\n", table,
                       fmt::join(strides, ", "));
  return fmt::format("{}, {}, {}_dims, {}_strides, {}", nn::elementsPerSample(full),
                     partHasBatch ? nn::elementsPerSample(part) : 0, table, table, rank);
}

bool CpuEmitter::renderTrainingOp(Operation *op, const std::string &name, ShapedType type,
                                  std::string &out) {
  auto count = [&](Value v) {
    ShapedType t = shapedType(v);
    return fmt::format("{}{}", nn::hasBatchDim(t) ? "batch * " : "", nn::elementsPerSample(t));
  };
  if (auto g = dyn_cast<nn::MatMulGradInputOp>(op)) {
    ShapedType kernel = shapedType(g.getKernel());
    int64_t k = kernel.getDimSize(0), n = kernel.getDimSize(1);
    out += fmt::format("    kerasc::matmul_grad_input({}, {}, {}, batch * {}, {}, {});\n",
                       pointer(g.getGrad()), pointer(g.getKernel()), name,
                       nn::elementsPerSample(shapedType(g.getGrad())) / n, k, n);
  } else if (auto g = dyn_cast<nn::MatMulGradKernelOp>(op)) {
    int64_t k = type.getDimSize(0), n = type.getDimSize(1);
    out += fmt::format("    kerasc::matmul_grad_kernel({}, {}, {}, batch * {}, {}, {});\n",
                       pointer(g.getInput()), pointer(g.getGrad()), name,
                       nn::elementsPerSample(shapedType(g.getInput())) / k, k, n);
  } else if (auto r = dyn_cast<nn::ReduceToOp>(op)) {
    std::string decls;
    std::string tables = broadcastTables(shapedType(r.getInput()), type, decls);
    out += fmt::format("{}    kerasc::reduce_to({}, {}, {}, {}, {});\n", decls,
                       pointer(r.getInput()), name, count(r.getInput()), count(r.getResult()),
                       tables);
  } else if (auto g = dyn_cast<nn::SoftmaxGradOp>(op)) {
    int64_t axis = g.getAxis();
    auto [outer, inner] = aroundAxis(type, axis);
    out += fmt::format("    kerasc::softmax_grad({}, {}, {}, batch * {}, {}, {}, {});\n",
                       pointer(g.getGrad()), pointer(g.getOutput()), name, outer,
                       type.getDimSize(axis), inner, g.getLog() ? "true" : "false");
  } else if (auto sl = dyn_cast<nn::SliceOp>(op)) {
    ShapedType in = shapedType(sl.getInput());
    int64_t axis = sl.getAxis();
    auto [outer, inner] = aroundAxis(in, axis);
    out += fmt::format("    kerasc::slice({}, {}, batch * {}, {}, {}, {});\n",
                       pointer(sl.getInput()), name, outer,
                       static_cast<int64_t>(sl.getSize()) * inner,
                       static_cast<int64_t>(sl.getOffset()) * inner, in.getDimSize(axis) * inner);
  } else if (isa<nn::NoiseOp, nn::NoiseGradOp>(op)) {
    llvm::StringRef cls = op->getAttrOfType<StringAttr>("layer_class").getValue();
    auto rateAttr = op->getAttrOfType<FloatAttr>("rate");
    auto stream = op->getAttrOfType<IntegerAttr>("stream");
    const bool spatial = cls.startswith("SpatialDropout");
    const char *kind = cls == "Dropout" || spatial  ? "Dropout"
                       : cls == "GaussianNoise"     ? "GaussianNoise"
                       : cls == "GaussianDropout"   ? "GaussianDropout"
                       : cls == "AlphaDropout"      ? "AlphaDropout"
                                                    : nullptr;
    if (!kind || !stream) {
      std::vector<std::string> layers = nn::layerNames(op->getLoc());
      throw std::runtime_error(fmt::format(
          "layer {}: training through {} is not supported", layers.empty() ? std::string("?")
                                                                          : layers[0],
          cls.str()));
    }
    // SpatialDropout draws once per (sample, channel): the channel axis is the last one, or
    // the first after the batch for channels_first.
    std::string shape = "kerasc::NoiseShape{}";
    if (spatial) {
      auto channelsFirst = op->getAttrOfType<BoolAttr>("channels_first");
      const bool first = channelsFirst && channelsFirst.getValue();
      shape = fmt::format("kerasc::NoiseShape{{{}, {}, {}}}", nn::elementsPerSample(type),
                          first ? type.getDimSize(1) : type.getShape().back(),
                          first ? "true" : "false");
    }
    const bool forward = isa<nn::NoiseOp>(op);
    out += fmt::format("    kerasc::noise_{}(kerasc::NoiseKind::{}, {}, g_seed,\n"
                       "                         kerasc::noise_stream(g_iterations, {}), {},\n"
                       "                         {}, {}, {});\n",
                       forward ? "forward" : "backward", kind,
                       floatLiteral(rateAttr ? rateAttr.getValueAsDouble() : 0.0),
                       stream.getInt(), shape, pointer(op->getOperand(0)), name,
                       count(op->getOperand(0)));
  } else if (isa<nn::LossOp, nn::LossGradOp>(op)) {
    Value pred = op->getOperand(0), target = op->getOperand(1);
    ShapedType p = shapedType(pred);
    const int64_t d = p.getShape().back();
    const double weight = op->getAttrOfType<FloatAttr>("weight").getValueAsDouble();
    out += fmt::format("    static const kerasc::LossConfig config = {};\n",
                       lossConfig(op->getAttrOfType<StringAttr>("fn").getValue(),
                                  op->getAttrOfType<DictionaryAttr>("config")));
    if (isa<nn::LossOp>(op))
      out += fmt::format("    {}[0] = {} * kerasc::loss_value(config, {}, {}, batch * {}, {});\n",
                         name, floatLiteral(weight), pointer(target), pointer(pred),
                         nn::elementsPerSample(p) / d, d);
    else
      out += fmt::format("    kerasc::loss_gradient(config, {}, {}, batch * {}, {}, {}, {});\n",
                         pointer(target), pointer(pred), nn::elementsPerSample(p) / d, d,
                         floatLiteral(weight), name);
  } else if (auto reg = dyn_cast<nn::RegularizerOp>(op)) {
    out += fmt::format("    static const kerasc::RegularizerConfig config = [] {{\n"
                       "      kerasc::RegularizerConfig c; c.kind = kerasc::RegularizerKind::L1L2;\n"
                       "      c.l1 = {}; c.l2 = {}; return c; }}();\n"
                       "    {}[0] = kerasc::regularizer_value(config, {}, {}){};\n",
                       floatLiteral(reg.getL1().convertToDouble()),
                       floatLiteral(reg.getL2().convertToDouble()), name,
                       pointer(reg.getInput()), count(reg.getInput()),
                       reg.getBatchMean() && *reg.getBatchMean()
                           ? " / static_cast<float>(batch)"
                           : "");
  } else {
    return false;
  }
  return true;
}

std::string CpuEmitter::renderApplyGradients(nn::ApplyGradientsOp apply) {
  std::string out = fmt::format(
      "  // ---- optimizer ---- one {} step on {} trainable weights{}\n  {{\n"
      "    kerasc::ParamSlot params[] = {{\n",
      optimizerClass, apply.getGrads().size(),
      llvm::any_of(apply.getWeights(),
                   [&](Attribute a) {
                     return !weights.at(a.cast<StringAttr>().str()).constraint.empty();
                   })
          ? ", then the weights' constraints"
          : "");
  std::string constraints;
  for (auto it : llvm::enumerate(apply.getGrads())) {
    std::string weight = apply.getWeights()[it.index()].cast<StringAttr>().str();
    const WeightTensor &w = weights.at(weight);
    out += fmt::format("        {{{}, const_cast<float *>({}), g_optimizer_state + {}, {}}},  // {}\n",
                       weightSymbol(weight), pointer(it.value()), optimizerStateOffset(weight),
                       w.data.size(), weight);
    if (!w.constraint.empty())
      constraints += fmt::format(
          "    {{\n      static const int64_t shape[] = {{{}}};\n"
          "      kerasc::apply_constraint({}, {}, shape, {});\n    }}\n",
          fmt::join(w.shape, ", "), constraintConfig(w.constraint), weightSymbol(weight),
          w.shape.size());
  }
  out += fmt::format("    }};\n    kerasc::optimizer_apply(g_optimizer, g_iterations, params, {});\n",
                     apply.getGrads().size());
  return out + constraints + "  }\n\n";
}

//===----------------------------------------------------------------------------------------===//
// Whole-op rendering
//===----------------------------------------------------------------------------------------===//

void CpuEmitter::renderOp(Operation *op, std::string &out) {
  if (auto weight = dyn_cast<nn::WeightOp>(op)) {
    pointers[weight.getResult()] = weightSymbol(weight.getName());
    if (std::find(usedWeights.begin(), usedWeights.end(), weight.getName().str()) ==
        usedWeights.end())
      usedWeights.push_back(weight.getName().str());
    return;
  }
  if (isa<func::ReturnOp>(op))
    return;
  if (auto apply = dyn_cast<nn::ApplyGradientsOp>(op)) {
    out += renderApplyGradients(apply);
    return;
  }

  std::vector<std::string> layers = nn::layerNames(op->getLoc());
  std::string title = layers.empty() ? std::string("(unnamed)") : layers[0];
  for (size_t i = 1; i < layers.size(); ++i)
    title += " + " + layers[i];
  std::string what = nn::describeOps(op);
  Value result = op->getResult(0);
  std::string inShapes;
  for (Value v : op->getOperands())
    if (!v.getDefiningOp<nn::WeightOp>())
      inShapes += (inShapes.empty() ? "" : ", ") + shapeText(shapedType(v));
  std::string base = layers.empty() ? "t" : layers.back().substr(0, layers.back().find(' '));
  std::string name = freshName(base);
  out += fmt::format("  // ---- {} ---- {}: {} -> {}\n", title, what, inShapes,
                     shapeText(shapedType(result)));

  if (isa<nn::ReshapeOp>(op)) { // a view: same buffer, new shape
    out += fmt::format("  const float *const {} = {};\n\n", name, pointer(op->getOperand(0)));
    pointers[result] = name;
    return;
  }
  std::string storage;
  if (auto index = op->getAttrOfType<IntegerAttr>("nn.output"))
    storage = fmt::format("out[{}]", index.getInt());
  else if (auto fixed = op->getAttrOfType<IntegerAttr>("nn.fixed_offset"))
    storage = fmt::format("reinterpret_cast<float *>(arena + {})", fixed.getInt());
  else
    storage = fmt::format("reinterpret_cast<float *>(arena + {}{} * batch)",
                          fixedBytes ? std::to_string(fixedBytes) + " + " : "",
                          op->getAttrOfType<IntegerAttr>("nn.arena_offset").getInt());
  out += fmt::format("  float *const {} = {};\n  {{\n", name, storage);

  ShapedType type = shapedType(result);
  auto fused = dyn_cast<nn::FusedOp>(op);
  if (isa<nn::MatMulOp>(op) ||
      (fused && isa<nn::MatMulOp>(fused.getBody().front().front()))) {
    out += renderMatMul(op, name);
  } else if (fused || nn::isElementwise(op) || isElementwiseGradient(op)) {
    out += renderElementwiseLoop(op, name);
  } else if (auto softmax = dyn_cast<nn::SoftmaxOp>(op)) {
    int64_t axis = softmax.getAxis();
    auto [outer, inner] = aroundAxis(type, axis);
    out += fmt::format("    kerasc::softmax({}, {}, batch * {}, {}, {}, {});\n",
                       pointer(softmax.getInput()), name, outer, type.getDimSize(axis), inner,
                       softmax.getLog() ? "true" : "false");
  } else if (auto transpose = dyn_cast<nn::TransposeOp>(op)) {
    ShapedType in = shapedType(transpose.getInput());
    std::vector<int64_t> perm;
    for (Attribute a : transpose.getPerm())
      perm.push_back(a.cast<IntegerAttr>().getInt());
    out += fmt::format("    const int64_t dims[] = {{batch, {}}};\n"
                       "    static constexpr int64_t perm[] = {{{}}};\n"
                       "    kerasc::transpose({}, {}, dims, perm, {});\n",
                       fmt::join(in.getShape().drop_front(), ", "), fmt::join(perm, ", "),
                       pointer(transpose.getInput()), name, in.getRank());
  } else if (auto repeat = dyn_cast<nn::RepeatOp>(op)) {
    out += fmt::format("    kerasc::repeat({}, {}, batch, {}, {});\n", pointer(repeat.getInput()),
                       name, shapedType(repeat.getInput()).getDimSize(1), repeat.getTimes());
  } else if (auto concat = dyn_cast<nn::ConcatOp>(op)) {
    int64_t axis = concat.getAxis();
    auto [outer, inner] = aroundAxis(type, axis);
    int64_t total = type.getDimSize(axis) * inner, offset = 0;
    for (Value v : concat.getInputs()) {
      int64_t chunk = shapedType(v).getDimSize(axis) * inner;
      out += fmt::format("    kerasc::concat_part({}, {}, batch * {}, {}, {}, {});\n", pointer(v),
                         name, outer, chunk, offset, total);
      offset += chunk;
    }
  } else if (renderTrainingOp(op, name, type, out)) {
  } else {
    op->emitOpError("the cpu target cannot render this op");
    llvm::report_fatal_error("unsupported op in cpu codegen");
  }
  out += "  }\n\n";
  pointers[result] = name;
}

/// The body of a function with the calling convention (in, out, batch, arena): inputs, then
/// one block per op, then copies of returned values that were not computed in place.
std::string CpuEmitter::renderBody(func::FuncOp f) {
  std::string out;
  Block &block = f.getBody().front();
  fixedBytes = funcAttr(f, "nn.fixed_bytes");
  for (BlockArgument arg : block.getArguments()) {
    unsigned index = arg.getArgNumber();
    auto attr = f.getArgAttrOfType<StringAttr>(index, "nn.name");
    std::string name = attr ? attr.str() : "";
    std::string var = freshName(name.empty() ? fmt::format("input{}", index) : name);
    out += fmt::format("  const float *const {} = in[{}];  // {}: {}\n", var, index,
                       name.empty() ? fmt::format("input {}", index) : name,
                       shapeText(shapedType(arg)));
    pointers[arg] = var;
  }
  out += "\n";
  for (Operation &op : block)
    renderOp(&op, out);
  // Returned values not written in place (a returned input, or one buffer returned twice).
  // A returned view (reshape) lives in its owner's buffer, which may be this very output.
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  for (auto v_it : llvm::enumerate(ret.getOperands())) {
    size_t k = v_it.index();
    auto v = v_it.value();
    Operation *def = v.getDefiningOp();
    while (auto view = dyn_cast_or_null<nn::ReshapeOp>(def))
      def = view.getInput().getDefiningOp();
    auto index = def ? def->getAttrOfType<IntegerAttr>("nn.output") : IntegerAttr();
    if (index && index.getInt() == (int64_t)k)
      continue;
    out += fmt::format("  std::memcpy(out[{}], {}, sizeof(float) * {}{});  // output {}\n", k,
                       pointer(v), nn::elementsPerSample(shapedType(v)),
                       nn::hasBatchDim(shapedType(v)) ? " * batch" : "", k);
  }
  return out;
}

//===----------------------------------------------------------------------------------------===//
// Training build: optimizer, metrics, the TrainableModel the runtime's fit loop drives, C API
//===----------------------------------------------------------------------------------------===//

/// A Keras serialized object's class name and config (`"glorot_uniform"` or
/// `{"class_name": "GlorotUniform", "config": {...}}`).
std::pair<std::string, nlohmann::json> kerasObject(const std::string &text) {
  nlohmann::json j = nlohmann::json::parse(text);
  if (j.is_string())
    return {j.get<std::string>(), nlohmann::json::object()};
  return {j.value("class_name", ""), j.value("config", nlohmann::json::object())};
}

/// A C++ expression building the runtime ConstraintConfig of a Keras constraint.
std::string constraintConfig(const std::string &text) {
  auto [cls, config] = kerasObject(text);
  static const std::map<std::string, const char *> kinds = {
      {"MaxNorm", "MaxNorm"},       {"max_norm", "MaxNorm"},     {"NonNeg", "NonNeg"},
      {"non_neg", "NonNeg"},        {"UnitNorm", "UnitNorm"},    {"unit_norm", "UnitNorm"},
      {"MinMaxNorm", "MinMaxNorm"}, {"min_max_norm", "MinMaxNorm"}};
  auto it = kinds.find(cls);
  if (it == kinds.end())
    throw std::runtime_error("unsupported constraint '" + cls +
                             "' (supported: MaxNorm, NonNeg, UnitNorm, MinMaxNorm)");
  std::string fields = fmt::format("c.kind = kerasc::ConstraintKind::{};", it->second);
  for (const char *key : {"max_value", "min_value", "rate"})
    if (config.contains(key) && config[key].is_number())
      fields += fmt::format(" c.{} = {};", key, floatLiteral(config[key].get<double>()));
  if (config.contains("axis")) {
    if (!config["axis"].is_number_integer())
      throw std::runtime_error("constraint '" + cls + "': only a single integer axis is supported");
    fields += fmt::format(" c.axis = {};", config["axis"].get<int>());
  }
  return fmt::format("[] {{ kerasc::ConstraintConfig c = kerasc::default_constraint_config("
                     "kerasc::ConstraintKind::{}); {} return c; }}()",
                     it->second, fields);
}

/// A C++ expression building the runtime InitializerConfig of a Keras initializer.
std::string initializerConfig(const std::string &text) {
  auto [cls, config] = kerasObject(text);
  static const std::map<std::string, const char *> kinds = {
      {"Zeros", "Zeros"}, {"zeros", "Zeros"}, {"Ones", "Ones"}, {"ones", "Ones"},
      {"Constant", "Constant"}, {"constant", "Constant"},
      {"RandomNormal", "RandomNormal"}, {"random_normal", "RandomNormal"},
      {"RandomUniform", "RandomUniform"}, {"random_uniform", "RandomUniform"},
      {"TruncatedNormal", "TruncatedNormal"}, {"truncated_normal", "TruncatedNormal"},
      {"GlorotUniform", "GlorotUniform"}, {"glorot_uniform", "GlorotUniform"},
      {"GlorotNormal", "GlorotNormal"}, {"glorot_normal", "GlorotNormal"},
      {"HeUniform", "HeUniform"}, {"he_uniform", "HeUniform"},
      {"HeNormal", "HeNormal"}, {"he_normal", "HeNormal"},
      {"LecunUniform", "LecunUniform"}, {"lecun_uniform", "LecunUniform"},
      {"LecunNormal", "LecunNormal"}, {"lecun_normal", "LecunNormal"},
      {"Orthogonal", "Orthogonal"}, {"orthogonal", "Orthogonal"},
      {"VarianceScaling", "VarianceScaling"}, {"variance_scaling", "VarianceScaling"},
      {"Identity", "Identity"}, {"identity", "Identity"}};
  auto it = kinds.find(cls);
  if (it == kinds.end())
    throw std::runtime_error("unsupported initializer '" + cls + "'");
  std::string fields;
  for (const char *key : {"value", "mean", "stddev", "minval", "maxval", "gain", "scale"})
    if (config.contains(key) && config[key].is_number())
      fields += fmt::format(" c.{} = {};", key, config[key].get<double>());
  if (config.contains("mode") && config["mode"].is_string()) {
    std::string mode = config["mode"];
    fields += fmt::format(" c.mode = kerasc::{};", mode == "fan_out"   ? "kFanOut"
                                                   : mode == "fan_avg" ? "kFanAvg"
                                                                       : "kFanIn");
  }
  if (config.contains("distribution") && config["distribution"].is_string()) {
    std::string d = config["distribution"];
    fields += fmt::format(" c.distribution = kerasc::{};",
                          d == "uniform"                                 ? "kUniform"
                          : d == "untruncated_normal" || d == "normal" ? "kUntruncatedNormal"
                                                                         : "kTruncatedNormal");
  }
  return fmt::format("[] {{ kerasc::InitializerConfig c = kerasc::default_initializer_config("
                     "kerasc::InitializerKind::{});{} return c; }}()",
                     it->second, fields);
}

void CpuEmitter::setTrainingFunctions(func::FuncOp train, func::FuncOp test) {
  trainFunc = train;
  testFunc = test;
  auto opt = train->getAttrOfType<DictionaryAttr>("nn.optimizer");
  optimizerClass = opt.getAs<StringAttr>("class_name").str();
  const int slots = nn::optimizerStateSlots(opt);
  train.walk([&](nn::ApplyGradientsOp apply) {
    for (Attribute a : apply.getWeights()) {
      std::string name = a.cast<StringAttr>().str();
      trainableWeights.push_back(name);
      optimizerOffsets[name] = trainableFloats * slots;
      trainableFloats += weights.at(name).data.size();
    }
  });
  optimizerSlotCount = slots;
}

std::vector<std::string> CpuEmitter::allVariables() const {
  // Keras variables first, in model.weights order, then derived constants the IR reads.
  std::vector<std::string> names = options.variables;
  for (const std::string &w : usedWeights)
    if (std::find(names.begin(), names.end(), w) == names.end())
      names.push_back(w);
  return names;
}

std::string CpuEmitter::renderOptimizerConfig() {
  auto opt = trainFunc->getAttrOfType<DictionaryAttr>("nn.optimizer");
  auto config = opt.getAs<DictionaryAttr>("config");
  std::string out = fmt::format(
      "// Optimizer: Keras's {} with the model's compile config (unset keys keep Keras's\n"
      "// defaults, from kerasc::default_optimizer_config).\n"
      "kerasc::OptimizerConfig make_optimizer_config() {{\n"
      "  kerasc::OptimizerConfig c = kerasc::default_optimizer_config(kerasc::OptimizerKind::{});\n",
      optimizerClass, optimizerClass);
  for (const char *key : {"beta_1", "beta_2", "epsilon", "rho", "momentum",
                          "initial_accumulator_value", "weight_decay", "clipnorm", "clipvalue",
                          "global_clipnorm"})
    if (auto v = config.getAs<FloatAttr>(key))
      out += fmt::format("  c.{} = {};\n", key, v.getValueAsDouble());
  for (const char *key : {"nesterov", "amsgrad", "centered"})
    if (auto v = config.getAs<BoolAttr>(key))
      out += fmt::format("  c.{} = {};\n", key, v.getValue() ? "true" : "false");
  if (auto lr = config.getAs<FloatAttr>("learning_rate"))
    out += fmt::format("  c.learning_rate = {};\n", lr.getValueAsDouble());
  if (auto schedule = config.getAs<DictionaryAttr>("learning_rate")) {
    std::string cls = schedule.getAs<StringAttr>("class_name").str();
    auto sc = schedule.getAs<DictionaryAttr>("config");
    out += fmt::format("  c.schedule.kind = kerasc::ScheduleKind::{};\n", cls);
    for (const char *key : {"initial_learning_rate", "decay_steps", "decay_rate", "alpha",
                            "warmup_target", "warmup_steps"})
      if (auto v = sc.getAs<FloatAttr>(key))
        out += fmt::format("  c.schedule.{} = {};\n", key, v.getValueAsDouble());
    if (auto v = sc.getAs<BoolAttr>("staircase"))
      out += fmt::format("  c.schedule.staircase = {};\n", v.getValue() ? "true" : "false");
    if (auto boundaries = sc.getAs<ArrayAttr>("boundaries")) {
      auto values = sc.getAs<ArrayAttr>("values");
      if (boundaries.size() > 32 || !values || values.size() != boundaries.size() + 1)
        throw std::runtime_error("PiecewiseConstantDecay needs at most 32 boundaries and one "
                                 "more value than boundaries");
      out += fmt::format("  c.schedule.num_boundaries = {};\n", boundaries.size());
      for (auto b : llvm::enumerate(boundaries))
        out += fmt::format("  c.schedule.boundaries[{}] = {};\n", b.index(),
                           b.value().cast<FloatAttr>().getValueAsDouble());
      for (auto v : llvm::enumerate(values))
        out += fmt::format("  c.schedule.values[{}] = {};\n", v.index(),
                           v.value().cast<FloatAttr>().getValueAsDouble());
    }
  }
  return out + "  return c;\n}\n\n";
}

std::string CpuEmitter::renderMetrics() {
  auto metrics = trainFunc->getAttrOfType<ArrayAttr>("nn.metrics");
  std::string configs, names, update;
  int count = 0;
  ArrayRef<Type> results = func.getFunctionType().getResults();
  for (auto perOutput : llvm::enumerate(metrics ? metrics.getValue() : ArrayRef<Attribute>())) {
    unsigned k = perOutput.index();
    auto type = results[k].cast<ShapedType>();
    const int64_t d = type.getShape().back();
    for (Attribute a : perOutput.value().cast<ArrayAttr>()) {
      auto m = a.cast<DictionaryAttr>();
      if (m.getAs<StringAttr>("kind").getValue() == "Loss") {
        // A loss function used as a metric (Keras's MeanMetricWrapper): the mean over rows of
        // the per-row loss, kept in the state's total/count like the other mean metrics.
        std::string fn = m.getAs<StringAttr>("fn").str();
        configs += fmt::format("    [] {{ kerasc::MetricConfig c{{}}; c.kind = "
                               "kerasc::MetricKind::MeanSquaredError; c.name = \"{}\"; "
                               "return c; }}(),  // the {} loss as a metric\n",
                               m.getAs<StringAttr>("name").str(), fn);
        names += fmt::format("\"{}\", ", m.getAs<StringAttr>("name").str());
        update += fmt::format(
            "  {{\n    static const kerasc::LossConfig config = {4};\n"
            "    const int64_t rows = n * {2};\n"
            "    g_metric_states[{0}].total += static_cast<double>(\n"
            "        kerasc::loss_value(config, y[{1}], predictions[{1}], rows, {3})) * rows;\n"
            "    g_metric_states[{0}].count += static_cast<double>(rows);\n  }}\n",
            count, k, nn::elementsPerSample(type) / d, d,
            lossConfig(fn, m.getAs<DictionaryAttr>("config")));
        ++count;
        continue;
      }
      std::string fields;
      for (const char *key : {"threshold"})
        if (auto v = m.getAs<FloatAttr>(key))
          fields += fmt::format(" c.{} = {};", key, floatLiteral(v.getValueAsDouble()));
      for (const char *key : {"k", "num_thresholds"})
        if (auto v = m.getAs<FloatAttr>(key))
          fields += fmt::format(" c.{} = {};", key, static_cast<int>(v.getValueAsDouble()));
      if (m.get("pr_curve"))
        fields += " c.pr_curve = true;";
      configs += fmt::format("    [] {{ kerasc::MetricConfig c{{}}; c.kind = kerasc::MetricKind::{}; "
                             "c.name = \"{}\";{} return c; }}(),\n",
                             m.getAs<StringAttr>("kind").str(), m.getAs<StringAttr>("name").str(),
                             fields);
      names += fmt::format("\"{}\", ", m.getAs<StringAttr>("name").str());
      update += fmt::format("  kerasc::metric_update(kMetrics[{0}], g_metric_states[{0}], y[{1}], "
                            "predictions[{1}], n * {2}, {3});\n",
                            count, k, nn::elementsPerSample(type) / d, d);
      ++count;
    }
  }
  numMetrics = count;
  return fmt::format(
      "// Compiled metrics, in Keras's order; their state is reset every epoch by the fit loop.\n"
      "const kerasc::MetricConfig kMetrics[{0}] = {{\n{1}}};\n"
      "const char *const kMetricNames[{0}] = {{{2}}};\n"
      "kerasc::MetricState g_metric_states[{0}];\n\n"
      "void metrics_reset(void *) {{\n"
      "  for (int m = 0; m < {3}; ++m)\n"
      "    kerasc::metric_reset(kMetrics[m], g_metric_states[m]);\n}}\n\n"
      "void metrics_update(void *, const float *const *y, const float *const *predictions, int64_t n) {{\n"
      "{4}  (void)y; (void)predictions; (void)n;\n}}\n\n"
      "void metrics_result(void *, double *values) {{\n"
      "  for (int m = 0; m < {3}; ++m)\n"
      "    values[m] = kerasc::metric_result(kMetrics[m], g_metric_states[m]);\n}}\n\n",
      std::max(count, 1),
      count ? configs : "    [] { kerasc::MetricConfig c{}; return c; }(),  // placeholder: no metrics\n",
      count ? names : "nullptr", count, update);
}

std::string CpuEmitter::renderTraining() {
  const int64_t trainFixed = funcAttr(trainFunc, "nn.fixed_bytes");
  const int64_t trainPerSample = funcAttr(trainFunc, "nn.arena_bytes");
  const int64_t testFixed = funcAttr(testFunc, "nn.fixed_bytes");
  const int64_t testPerSample = funcAttr(testFunc, "nn.arena_bytes");
  std::string out = "\n// ===================================== Training ==================================\n\n";
  out += renderOptimizerConfig();
  out += fmt::format(
      "kerasc::OptimizerConfig g_optimizer = make_optimizer_config();\n"
      "int64_t g_iterations = 0;  // Keras's optimizer.iterations\n"
      "uint64_t g_seed = 0;       // seeds dropout and noise layers\n"
      "constexpr int kOptimizerSlots = {0};  // state floats per trainable float\n"
      "alignas(64) float g_optimizer_state[{1}];\n\n"
      "// Scratch memory of the training step: {2} fixed bytes (weight gradients, the loss) and\n"
      "// {3} bytes per sample, planned with liveness across the forward and backward passes; the\n"
      "// test step reuses it ({4} + {5} per sample).\n"
      "constexpr size_t kTrainFixedBytes = {6};\n"
      "constexpr size_t kTrainBytesPerSample = {7};\n"
      "alignas(64) unsigned char g_train_arena[kTrainFixedBytes + kTrainBytesPerSample * {8}_MAX_BATCH];\n\n",
      optimizerSlotCount, std::max<int64_t>(trainableFloats * optimizerSlotCount, 1), trainFixed,
      trainPerSample, testFixed, testPerSample, std::max(trainFixed, testFixed),
      std::max(trainPerSample, testPerSample), macro);

  std::string trainBody = renderBody(trainFunc);
  std::string testBody = renderBody(testFunc);
  out += fmt::format(
      "// One training step on `batch` samples: in = (inputs..., targets...), out = (loss,\n"
      "// predictions...). Forward pass in training mode, loss, backward pass, optimizer step.\n"
      "void train_step_body(const float *const *in, float *const *out, int64_t batch,\n"
      "                     unsigned char *arena) {{\n{}}}\n\n"
      "// Forward pass in inference mode and the loss (evaluate, validation).\n"
      "void test_step_body(const float *const *in, float *const *out, int64_t batch,\n"
      "                    unsigned char *arena) {{\n{}}}\n\n",
      trainBody, testBody);
  out += renderMetrics();
  out += renderTrainableModel();
  return out;
}

std::string CpuEmitter::renderTrainableModel() {
  const size_t numIn = inputs.size(), numOut = outputs.size();
  std::string out;
  // Ports: inputs, outputs and targets per sample.
  auto port = [&](const std::string &name, ShapedType type) {
    return fmt::format("{{\"{}\", {}, {}, {{{}}}}}", name, nn::elementsPerSample(type),
                       type.getRank() - 1, fmt::join(type.getShape().drop_front(), ", "));
  };
  std::string ins, outs, targets;
  for (const Port &p : inputs)
    ins += "    " + port(p.name, p.type) + ",\n";
  for (const Port &p : outputs)
    outs += "    " + port(p.name, p.type) + ",\n";
  for (unsigned k = 0; k < numOut; ++k)
    targets += "    " + port(outputs[k].name,
                             shapedType(trainFunc.getArgument(numIn + k))) + ",\n";
  // Every variable, for weight files and checkpoints.
  std::string slots;
  std::vector<std::string> variables = allVariables();
  for (const std::string &name : variables) {
    const WeightTensor &w = weights.at(name);
    slots += fmt::format("    {{\"{}\", {}, {}, {}, {}, {{{}}}, {}}},\n", name,
                         w.kerasPath.empty() ? "nullptr" : "\"" + w.kerasPath + "\"",
                         weightSymbol(name), w.data.size(), w.shape.size(),
                         fmt::join(w.shape, ", "),
                         optimizerOffsets.count(name) ? "true" : "false");
  }
  std::string stateSlots, init;
  for (const std::string &name : trainableWeights) {
    const WeightTensor &w = weights.at(name);
    stateSlots += fmt::format("    {{\"optimizer/{}\", nullptr, g_optimizer_state + {}, {}, 1, {{{}}}, false}},\n",
                              name, optimizerOffsets.at(name),
                              w.data.size() * optimizerSlotCount, w.data.size() * optimizerSlotCount);
    init += fmt::format("    {{{}, nullptr, g_optimizer_state + {}, {}}},\n", weightSymbol(name),
                        optimizerOffsets.at(name), w.data.size());
  }
  std::string reinit;
  for (size_t j = 0; j < variables.size(); ++j) {
    const WeightTensor &w = weights.at(variables[j]);
    if (w.initializer.empty() || !w.trainable)
      continue;
    reinit += fmt::format(
        "  {{  // {}\n    static const int64_t shape[] = {{{}}};\n"
        "    kerasc::initialize({}, {}, shape, {}, seed, {});\n  }}\n",
        variables[j], fmt::join(w.shape, ", "), initializerConfig(w.initializer),
        weightSymbol(variables[j]), w.shape.size(), j);
  }
  out += fmt::format(
      "const kerasc::DataPort kInputs[] = {{\n{0}}};\n"
      "const kerasc::DataPort kOutputs[] = {{\n{1}}};\n"
      "const kerasc::DataPort kTargets[] = {{\n{2}}};\n\n"
      "// Every variable of the model (Keras's model.weights order), where Keras saves it.\n"
      "kerasc::TensorSlot g_weight_slots[] = {{\n{3}}};\n"
      "kerasc::TensorSlot g_optimizer_slots[] = {{\n{4}    {{nullptr, nullptr, nullptr, 0, 0, {{}}, false}},  // end\n}};\n\n"
      "// Optimizer state starts at zero, except what the optimizer initializes (Adagrad).\n"
      "void reset_optimizer_state() {{\n"
      "  std::memset(g_optimizer_state, 0, sizeof(g_optimizer_state));\n"
      "  kerasc::ParamSlot params[] = {{\n{5}    {{nullptr, nullptr, nullptr, 0}},\n  }};\n"
      "  kerasc::optimizer_init_state(g_optimizer, params, {6});\n"
      "  g_iterations = 0;\n}}\n\n"
      "float train_step(void *, const float *const *x, const float *const *y, int64_t n,\n"
      "                 float *const *predictions) {{\n"
      "  const float *in[{7}];\n"
      "  for (int i = 0; i < {8}; ++i) in[i] = x[i];\n"
      "  for (int k = 0; k < {9}; ++k) in[{8} + k] = y[k];\n"
      "  float loss = 0.0f;\n"
      "  float *out[{10}] = {{&loss}};\n"
      "  for (int k = 0; k < {9}; ++k) out[1 + k] = predictions[k];\n"
      "  train_step_body(in, out, n, g_train_arena);\n"
      "  return loss;\n}}\n\n"
      "float test_step(void *, const float *const *x, const float *const *y, int64_t n,\n"
      "                float *const *predictions) {{\n"
      "  const float *in[{7}];\n"
      "  for (int i = 0; i < {8}; ++i) in[i] = x[i];\n"
      "  for (int k = 0; k < {9}; ++k) in[{8} + k] = y[k];\n"
      "  float loss = 0.0f;\n"
      "  float *out[{10}] = {{&loss}};\n"
      "  for (int k = 0; k < {9}; ++k) out[1 + k] = predictions[k];\n"
      "  test_step_body(in, out, n, g_train_arena);\n"
      "  return loss;\n}}\n\n"
      "double get_learning_rate(void *) {{\n"
      "  return kerasc::current_learning_rate(g_optimizer, g_iterations);\n}}\n\n"
      "bool set_learning_rate(void *, double lr) {{\n"
      "  if (g_optimizer.schedule.kind != kerasc::ScheduleKind::Constant) return false;\n"
      "  g_optimizer.learning_rate = lr;\n  return true;\n}}\n\n"
      "// Training from scratch: every trainable variable drawn from its layer's initializer.\n"
      "void reinitialize(void *, uint64_t seed) {{\n{11}  (void)seed;\n  reset_optimizer_state();\n}}\n\n"
      "kerasc::TrainableModel g_model = {{\n"
      "    nullptr, \"{12}\", {8}, {9}, kInputs, kOutputs, kTargets, {13}_MAX_BATCH,\n"
      "    train_step, test_step, {14}, kMetricNames, metrics_reset, metrics_update, metrics_result,\n"
      "    get_learning_rate, set_learning_rate, &g_iterations, &g_seed,\n"
      "    {15}, g_weight_slots, {6}, g_optimizer_slots, reinitialize}};\n\n",
      ins, outs, targets, slots, stateSlots, init, trainableWeights.size(), numIn + numOut, numIn,
      numOut, numOut + 1, reinit, options.modelName, macro, numMetrics, variables.size());
  return out;
}

std::string CpuEmitter::renderTrainingApi() {
  std::string scratch, pointers;
  for (const Port &o : outputs) {
    scratch += fmt::format("alignas(64) static float g_step_output{}[{}_MAX_BATCH * {}];\n",
                           o.index, macro, nn::elementsPerSample(o.type));
    pointers += fmt::format("g_step_output{}, ", o.index);
  }
  return fmt::format(
      "// ---- Training API ----\n\n"
      "}}  // extern \"C\"\nnamespace {{\n{2}}}  // namespace\nextern \"C\" {{\n\n"
      "int {0}_train_step(const float *const *inputs, const float *const *targets, long long batch,\n"
      "                  float *loss) {{\n"
      "  if (!g_ready) return -1;\n"
      "  if (batch < 1 || batch > {1}_MAX_BATCH) return -2;\n"
      "  float *predictions[] = {{{3}}};\n"
      "  const float l = train_step(nullptr, inputs, targets, batch, predictions);\n"
      "  if (loss) *loss = l;\n"
      "  return 0;\n}}\n\n"
      "int {0}_fit(const float *const *inputs, const float *const *targets, long long samples,\n"
      "           int epochs, long long batch_size, int shuffle, unsigned long long seed,\n"
      "           float *final_loss) {{\n"
      "  if (!g_ready) return -1;\n"
      "  kerasc::FitOptions options;\n"
      "  options.epochs = epochs;\n"
      "  options.batch_size = batch_size;\n"
      "  options.shuffle = shuffle != 0;\n"
      "  options.seed = seed;\n"
      "  options.verbose = 0;\n"
      "  kerasc::Dataset data;\n"
      "  data.x.assign(inputs, inputs + {1}_NUM_INPUTS);\n"
      "  data.y.assign(targets, targets + {1}_NUM_OUTPUTS);\n"
      "  data.n = samples;\n"
      "  kerasc::History history;\n"
      "  std::string error;\n"
      "  if (kerasc::fit(g_model, options, data, nullptr, &history, &error) != 0) {{\n"
      "    std::fprintf(stderr, \"{0}_fit: %s\\n\", error.c_str());\n"
      "    return -2;\n"
      "  }}\n"
      "  const std::vector<double> *losses = history.column(\"loss\");\n"
      "  if (final_loss && losses && !losses->empty())\n"
      "    *final_loss = static_cast<float>(losses->back());\n"
      "  return 0;\n}}\n\n"
      "int {0}_evaluate(const float *const *inputs, const float *const *targets, long long samples,\n"
      "                long long batch_size, float *loss, double *metrics) {{\n"
      "  if (!g_ready) return -1;\n"
      "  kerasc::Dataset data;\n"
      "  data.x.assign(inputs, inputs + {1}_NUM_INPUTS);\n"
      "  data.y.assign(targets, targets + {1}_NUM_OUTPUTS);\n"
      "  data.n = samples;\n"
      "  kerasc::Logs logs;\n"
      "  std::string error;\n"
      "  if (kerasc::evaluate(g_model, data, batch_size, 0, &logs, &error) != 0) {{\n"
      "    std::fprintf(stderr, \"{0}_evaluate: %s\\n\", error.c_str());\n"
      "    return -2;\n"
      "  }}\n"
      "  if (loss && logs.get(\"loss\")) *loss = static_cast<float>(*logs.get(\"loss\"));\n"
      "  for (int m = 0; metrics && m < g_model.num_metrics; ++m)\n"
      "    metrics[m] = logs.get(g_model.metric_names[m]) ? *logs.get(g_model.metric_names[m]) : 0.0;\n"
      "  return 0;\n}}\n\n"
      "int {0}_reinitialize(unsigned long long seed) {{\n"
      "  reinitialize(nullptr, seed);\n  g_ready = true;\n  return 0;\n}}\n\n"
      "int {0}_save_checkpoint(const char *path) {{\n"
      "  std::string error;\n"
      "  if (!kerasc::write_checkpoint(path, g_model, \"\", &error)) {{\n"
      "    std::fprintf(stderr, \"%s\\n\", error.c_str());\n    return -2;\n  }}\n"
      "  return 0;\n}}\n\n"
      "int {0}_load_checkpoint(const char *path) {{\n"
      "  std::string state, error;\n"
      "  if (!kerasc::read_checkpoint(path, g_model, &state, &error)) {{\n"
      "    std::fprintf(stderr, \"%s\\n\", error.c_str());\n    return -2;\n  }}\n"
      "  g_ready = true;\n  return 0;\n}}\n\n",
      prefix, macro, scratch, pointers);
}

std::string CpuEmitter::trainingHeader() {
  std::string targets;
  for (unsigned k = 0; k < outputs.size(); ++k)
    targets += fmt::format("#define {}_TARGET{}_SIZE {}\n", macro, k,
                           nn::elementsPerSample(shapedType(trainFunc.getArgument(inputs.size() + k))));
  return fmt::format(
      "\n/* Training (compiled from the model's loss, optimizer and metrics). targets[k] holds\n"
      " * batch * {0}_TARGETk_SIZE floats (class indices as floats for sparse losses). Not\n"
      " * thread-safe; weights are updated in place. Functions return 0 on success. */\n"
      "{1}#define {0}_NUM_METRICS {2}\n"
      "/* One optimizer step on 1 <= batch <= {0}_MAX_BATCH samples; *loss receives the batch loss. */\n"
      "int {3}_train_step(const float *const *inputs, const float *const *targets, long long batch,\n"
      "                  float *loss);\n"
      "/* Keras's model.fit without validation or logs; *final_loss: the last epoch's mean loss. */\n"
      "int {3}_fit(const float *const *inputs, const float *const *targets, long long samples,\n"
      "           int epochs, long long batch_size, int shuffle, unsigned long long seed,\n"
      "           float *final_loss);\n"
      "/* Keras's model.evaluate: the loss and {0}_NUM_METRICS metric values. */\n"
      "int {3}_evaluate(const float *const *inputs, const float *const *targets, long long samples,\n"
      "                long long batch_size, float *loss, double *metrics);\n"
      "/* Draws every trainable weight from its initializer (training from scratch). */\n"
      "int {3}_reinitialize(unsigned long long seed);\n"
      "/* Weights and optimizer state in kerasc's native checkpoint format (KERASCK1). */\n"
      "int {3}_save_checkpoint(const char *path);\n"
      "int {3}_load_checkpoint(const char *path);\n",
      macro, targets, numMetrics, prefix);
}

//===----------------------------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------------------------===//

std::string CpuEmitter::renderWeights() {
  std::string out;
  int64_t total = 0;
  // Training builds update weights in place and keep every Keras variable (for weight files).
  const std::vector<std::string> listed = training() ? allVariables() : usedWeights;
  for (const std::string &name : listed)
    total += weights.at(name).data.size();
  out += fmt::format("// Weights: {} tensors, {} floats ({:.1f} KiB), in static storage{}.\n",
                     listed.size(), total, total * 4 / 1024.0,
                     options.externalWeights
                         ? fmt::format("; {}_init() fills them from {}.weights", prefix, prefix)
                         : "");
  for (const std::string &name : listed) {
    const WeightTensor &w = weights.at(name);
    std::string shape = fmt::format("{}", fmt::join(w.shape, ", "));
    if (options.externalWeights) {
      out += fmt::format("alignas(64) float {}[{}];  // {} [{}]\n", weightSymbol(name),
                         std::max<size_t>(w.data.size(), 1), name, shape);
      continue;
    }
    out += fmt::format("alignas(64) {}float {}[{}] = {{  // {} [{}]\n",
                       training() ? "" : "const ", weightSymbol(name),
                       std::max<size_t>(w.data.size(), 1), name, shape);
    for (size_t i = 0; i < w.data.size(); ++i)
      out += (i % 8 == 0 ? "    " : " ") + floatLiteral(w.data[i]) + "," +
             (i % 8 == 7 || i + 1 == w.data.size() ? "\n" : "");
    out += "};\n";
  }
  if (options.externalWeights) {
    out += fmt::format("\nconst kerasc::WeightSlot kWeightSlots[] = {{\n");
    for (const std::string &name : listed)
      out += fmt::format("    {{\"{}\", {}, {}}},\n", name, weightSymbol(name),
                         weights.at(name).data.size());
    out += "};\n";
  }
  return out;
}

std::string CpuEmitter::renderSource() {
  std::string forward = renderBody(func); // first: it records which weights are used
  std::string trainingCode = training() ? renderTraining() : "";
  const bool external = options.externalWeights;
  std::string out = fmt::format(
      "// Generated by kerasc from {} -- do not edit; recompile the model instead.\n"
      "// Model \"{}\": the forward pass below has one block per Keras layer (fused layers share\n"
      "// a block). Buffers live in one arena planned at compile time; offsets are bytes per\n"
      "// sample, so a batch of B samples uses offset * B.\n\n"
      "#include \"{}.h\"\n\n"
      "#include \"kerasc/activations.h\"\n#include \"kerasc/kernels.h\"\n{}{}"
      "\n#include <algorithm>\n#include <cmath>\n#include <cstdint>\n#include <cstdio>\n"
      "#include <cstring>\n#include <limits>\n\nnamespace {{\n\n",
      options.sourceFile, options.modelName, prefix,
      external ? "#include \"kerasc/weights_file.h\"\n" : "",
      training() ? "#include \"kerasc/constraints.h\"\n#include \"kerasc/fit.h\"\n"
                   "#include \"kerasc/checkpoint.h\"\n"
                   "#include \"kerasc/gradients.h\"\n#include \"kerasc/initializers.h\"\n"
                   "#include \"kerasc/losses.h\"\n#include \"kerasc/metrics.h\"\n"
                   "#include \"kerasc/optimizers.h\"\n#include \"kerasc/train_model.h\"\n"
                 : "");
  out += renderWeights();
  out += fmt::format(
      "\n// Scratch memory of the non-reentrant API: {0}_MAX_BATCH samples.\n"
      "alignas(64) unsigned char g_arena[{0}_ARENA_BYTES_PER_SAMPLE * {0}_MAX_BATCH > 0\n"
      "                                  ? {0}_ARENA_BYTES_PER_SAMPLE * {0}_MAX_BATCH : 1];\n"
      "bool g_ready = {1};\n\n"
      "// Runs the model on `batch` samples. `arena` holds {0}_ARENA_BYTES_PER_SAMPLE * batch\n"
      "// bytes, 64-byte aligned. Allocates nothing.\n"
      "void forward(const float *const *in, float *const *out, int64_t batch, unsigned char *arena) {{\n"
      "  (void)arena;\n",
      macro, external ? "false" : "true");
  out += forward + "}\n" + trainingCode + "\n} // namespace\n\n";

  std::string inLoop, outLoop;
  out += fmt::format(
      "extern \"C\" {{\n\n"
      "int {0}_init(const char *weights_path) {{\n",
      prefix);
  if (training())
    out += fmt::format(
        "  if (kerasc::optimizer_slots(g_optimizer) != kOptimizerSlots) {{\n"
        "    std::fprintf(stderr, \"{0}: optimizer state layout mismatch (runtime and compiler "
        "disagree)\\n\");\n    return -1;\n  }}\n"
        "  // Optimizer state is set up once: calling init again must not reset Adam mid-training.\n"
        "  static bool optimizer_ready = false;\n"
        "  if (!optimizer_ready) {{\n    reset_optimizer_state();\n    optimizer_ready = true;\n  }}\n",
        prefix);
  if (external) {
    out += fmt::format(
        "  const char *path = weights_path && *weights_path ? weights_path : \"{0}.weights\";\n"
        "  const char *error = kerasc::load_weights_file(path, kWeightSlots,\n"
        "                                                sizeof(kWeightSlots) / sizeof(kWeightSlots[0]));\n"
        "  if (error) {{\n"
        "    std::fprintf(stderr, \"{0}: %s: %s\\n\", path, error);\n"
        "    return -1;\n"
        "  }}\n"
        "  g_ready = true;\n  return 0;\n}}\n\n",
        prefix);
  } else {
    out += "  (void)weights_path;  // weights are compiled in\n  return 0;\n}\n\n";
  }
  out += fmt::format(
      "size_t {0}_arena_bytes(long long batch) {{\n"
      "  return static_cast<size_t>({1}_ARENA_BYTES_PER_SAMPLE) * static_cast<size_t>(batch);\n}}\n\n"
      "int {0}_predict_with_arena(const float *const *inputs, float *const *outputs, long long batch,\n"
      "                          void *arena, size_t arena_bytes) {{\n"
      "  if (!g_ready) return -1;\n"
      "  if (batch < 0 || arena_bytes < {0}_arena_bytes(batch)) return -2;\n"
      "  if (reinterpret_cast<uintptr_t>(arena) % 64 != 0) return -3;\n"
      "  forward(inputs, outputs, batch, static_cast<unsigned char *>(arena));\n"
      "  return 0;\n}}\n\n"
      "int {0}_predict(const float *const *inputs, float *const *outputs, long long batch) {{\n"
      "  if (!g_ready) return -1;\n"
      "  // Chunks of at most {1}_MAX_BATCH samples through the static arena.\n"
      "  for (long long start = 0; start < batch; start += {1}_MAX_BATCH) {{\n"
      "    const long long n = std::min<long long>({1}_MAX_BATCH, batch - start);\n"
      "    const float *in[{1}_NUM_INPUTS];\n"
      "    float *out[{1}_NUM_OUTPUTS];\n",
      prefix, macro);
  for (const Port &in : inputs)
    out += fmt::format("    in[{0}] = inputs[{0}] + start * {1};\n", in.index,
                       nn::elementsPerSample(in.type));
  for (const Port &o : outputs)
    out += fmt::format("    out[{0}] = outputs[{0}] + start * {1};\n", o.index,
                       nn::elementsPerSample(o.type));
  out += fmt::format("    forward(in, out, n, g_arena);\n  }}\n  return 0;\n}}\n\n"
                     "void {}_release(void) {{\n  // Static storage only: nothing to free.\n}}\n\n",
                     prefix);
  if (training())
    out += renderTrainingApi();
  out += "}  // extern \"C\"\n";
  if (training()) {
    out += fmt::format("\nkerasc::TrainableModel &{0}::trainable_model() {{ return g_model; }}\n",
                       prefix);
    // The original Keras config, so the program can write .keras archives of what it trained.
    std::string delimiter = "kerasc";
    while (options.kerasConfig.find(")" + delimiter + "\"") != std::string::npos)
      delimiter += "_";
    out += fmt::format("\n// Keras config.json of {} (for --save-keras), and its Keras version.\n"
                       "const char *{}::keras_config() {{\n  return {};\n}}\n"
                       "const char *{}::keras_version() {{ return \"{}\"; }}\n",
                       options.sourceFile, prefix,
                       options.kerasConfig.empty()
                           ? std::string("nullptr")
                           : fmt::format("R\"{0}({1}){0}\"", delimiter, options.kerasConfig),
                       prefix, options.kerasVersion);
  }
  return out;
}

std::string CpuEmitter::renderHeader() {
  std::string out = fmt::format(
      "/* Generated by kerasc from {0} -- do not edit.\n"
      " *\n"
      " * Model \"{1}\" compiled to C++: {2} input(s), {3} output(s).\n"
      " *\n"
      " * Usage:\n"
      " *   {4}_init(NULL);                       // once; loads external weights if any\n"
      " *   {4}_predict(inputs, outputs, batch);  // any batch size, not thread-safe\n"
      " *   {4}_release();\n"
      " * Arrays are float32, row-major, batch first. inputs[i] points at batch * {5}_INPUTi_SIZE\n"
      " * floats, outputs[i] at batch * {5}_OUTPUTi_SIZE floats; the caller owns both and they\n"
      " * must not overlap. {4}_predict uses a static arena of {5}_MAX_BATCH samples and loops\n"
      " * over larger batches. For concurrent calls use {4}_predict_with_arena with a caller-owned,\n"
      " * 64-byte aligned arena of {4}_arena_bytes(batch) bytes per call in flight.\n"
      " * Nothing here allocates on the heap. Functions return 0 on success, negative on error\n"
      " * (-1: not initialized, -2: arena too small, -3: arena misaligned).\n"
      " */\n"
      "#ifndef {5}_H\n#define {5}_H\n\n#include <stddef.h>\n\n"
      "#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n"
      "#define {5}_NUM_INPUTS {2}\n#define {5}_NUM_OUTPUTS {3}\n",
      options.sourceFile, options.modelName, inputs.size(), outputs.size(), prefix, macro);
  for (const std::vector<Port> *ports : {&inputs, &outputs})
    for (const Port &p : *ports)
      out += fmt::format("\n/* {} {} \"{}\": shape {} */\n#define {}_SIZE {}\n"
                         "static const long long {}_SHAPE[{}] = {{-1, {}}};\n",
                         p.kind, p.index, p.name, shapeText(p.type), p.macro(macro),
                         nn::elementsPerSample(p.type), p.macro(macro), p.type.getRank(),
                         fmt::join(p.type.getShape().drop_front(), ", "));
  out += fmt::format(
      "\n/* Scratch memory: planned arena bytes per sample (no reuse would need {1}; the\n"
      " * liveness lower bound is {2}). */\n"
      "#define {0}_ARENA_BYTES_PER_SAMPLE {3}\n"
      "#define {0}_MAX_BATCH {4}\n\n"
      "int {5}_init(const char *weights_path);\n"
      "int {5}_predict(const float *const *inputs, float *const *outputs, long long batch);\n"
      "size_t {5}_arena_bytes(long long batch);\n"
      "int {5}_predict_with_arena(const float *const *inputs, float *const *outputs,\n"
      "                          long long batch, void *arena, size_t arena_bytes);\n"
      "void {5}_release(void);\n{6}\n"
      "#ifdef __cplusplus\n}}  /* extern \"C\" */\n\n{7}"
      "namespace {5} {{\n"
      "constexpr size_t kArenaBytesPerSample = {0}_ARENA_BYTES_PER_SAMPLE;\n"
      "constexpr long long kMaxBatch = {0}_MAX_BATCH;\n{8}"
      "}}  // namespace {5}\n#endif\n\n#endif /* {0}_H */\n",
      macro, funcAttr(func, "nn.no_reuse_bytes"), funcAttr(func, "nn.lower_bound_bytes"),
      funcAttr(func, "nn.arena_bytes"), options.maxBatch, prefix,
      training() ? trainingHeader() : "",
      training() ? "namespace kerasc { struct TrainableModel; }\n" : "",
      training() ? "/// What the runtime's fit loop drives (kerasc/train_model.h).\n"
                   "kerasc::TrainableModel &trainable_model();\n"
                   "/// The model's Keras config.json (nullptr when the source had none), and the\n"
                   "/// Keras version that wrote it.\n"
                   "const char *keras_config();\nconst char *keras_version();\n"
                 : "");
  return out;
}

std::string CpuEmitter::renderMain() {
  auto descriptors = [&](const std::vector<Port> &ports) {
    std::string text;
    for (const Port &p : ports)
      text += fmt::format("    {{\"{}\", {}, {}_SHAPE, {}_SIZE}},\n", p.name, p.type.getRank(),
                          p.macro(macro), p.macro(macro));
    return text;
  };
  return fmt::format(
      "// Generated by kerasc: the command-line program for model \"{0}\".\n"
      "//   {1} predict --input x.npy --output y.npy   (see --help)\n"
      "#include \"{1}.h\"\n\n#include \"kerasc/cli.h\"\n{7}\n"
      "int main(int argc, char **argv) {{\n"
      "  static const kerasc::TensorDesc inputs[] = {{\n{2}  }};\n"
      "  static const kerasc::TensorDesc outputs[] = {{\n{3}  }};\n"
      "  const kerasc::ModelDesc model{{\"{1}\", {4}_NUM_INPUTS, {4}_NUM_OUTPUTS, inputs, outputs,\n"
      "                               {5}, \"{1}.weights\", {1}_init, {1}_predict, {1}_release}};\n"
      "{6}}}\n",
      options.modelName, prefix, descriptors(inputs), descriptors(outputs), macro,
      options.externalWeights ? "true" : "false",
      training() ? fmt::format(
                       "  // fit / evaluate through the runtime's training CLI; Keras .weights.h5\n"
                       "  // files when the program was built with HDF5.\n"
                       "  kerasc::TrainCliHooks hooks{{}};\n"
                       "#ifdef KERASC_WITH_HDF5\n"
                       "  hooks.load_weights_h5 = [](const char *path, kerasc::TensorSlot *slots, int n,\n"
                       "                             std::string *error) {{\n"
                       "    return kerasc::load_keras_weights(path, slots, n, error);\n  }};\n"
                       "  hooks.save_weights_h5 = [](const char *path, const kerasc::TensorSlot *slots,\n"
                       "                             int n, std::string *error) {{\n"
                       "    return kerasc::save_keras_weights_h5(path, slots, n, error);\n  }};\n"
                       "  if ({0}::keras_config())\n"
                       "    hooks.save_keras_archive = [](const char *path, const kerasc::TensorSlot *slots,\n"
                       "                                  int n, std::string *error) {{\n"
                       "      // The original config with the trained weights: model.weights.h5\n"
                       "      // is written beside the archive first, then packed and removed.\n"
                       "      const std::string weights = std::string(path) + \".weights.h5.tmp\";\n"
                       "      if (!kerasc::save_keras_weights_h5(weights.c_str(), slots, n, error))\n"
                       "        return false;\n"
                       "      const std::string metadata = std::string(\"{{\\\"keras_version\\\": \\\"\") +\n"
                       "                                   {0}::keras_version() + \"\\\"}}\";\n"
                       "      const bool ok = kerasc::write_keras_archive(path, {0}::keras_config(),\n"
                       "                                                  metadata.c_str(), weights.c_str(), error);\n"
                       "      std::remove(weights.c_str());\n"
                       "      return ok;\n    }};\n"
                       "#endif\n"
                       "  return kerasc::run_train_cli(argc, argv, model, {0}::trainable_model(), hooks);\n",
                       prefix)
                 : std::string("  return kerasc::run_cli(argc, argv, model);\n"),
      training() ? "#include \"kerasc/train_cli.h\"\n#include \"kerasc/train_model.h\"\n"
                   "#ifdef KERASC_WITH_HDF5\n#include \"kerasc/keras_archive.h\"\n"
                   "#include \"kerasc/keras_h5.h\"\n\n#include <cstdio>\n#include <string>\n#endif\n"
                 : "");
}

std::string CpuEmitter::renderCMake() {
  return fmt::format(
      "# Generated by kerasc: builds lib{0}.a (the model) and {0} (its command-line program).\n"
      "cmake_minimum_required(VERSION 3.13)\n"
      "project({0} CXX)\n"
      "set(CMAKE_CXX_STANDARD 17)\n"
      "set(CMAKE_CXX_STANDARD_REQUIRED ON)\n\n"
      "add_library({0} STATIC {0}.cpp)\n"
      "target_include_directories({0} PUBLIC ${{CMAKE_CURRENT_SOURCE_DIR}}\n"
      "                                  ${{CMAKE_CURRENT_SOURCE_DIR}}/runtime)\n"
      "target_compile_options({0} PRIVATE -O{1})\n\n"
      "add_executable({0}_cli main.cpp)\n"
      "set_target_properties({0}_cli PROPERTIES OUTPUT_NAME {0})\n"
      "target_compile_options({0}_cli PRIVATE -O{1})\n"
      "target_link_libraries({0}_cli PRIVATE {0})\n{2}",
      prefix, options.optLevel,
      training() ? fmt::format(
                       "\n# The command-line program reads and writes Keras .weights.h5 files when HDF5\n"
                       "# is available; without it, use --save-checkpoint and `kerasc convert`.\n"
                       "enable_language(C)  # FindHDF5 probes with the C compiler\n"
                       "find_package(HDF5 COMPONENTS C QUIET)\n"
                       "if(HDF5_FOUND)\n"
                       "  target_include_directories({0}_cli PRIVATE ${{HDF5_C_INCLUDE_DIRS}} ${{HDF5_INCLUDE_DIRS}})\n"
                       "  target_link_libraries({0}_cli PRIVATE ${{HDF5_C_LIBRARIES}})\n"
                       "  target_compile_definitions({0}_cli PRIVATE KERASC_WITH_HDF5)\n"
                       "endif()\n",
                       prefix)
                 : std::string());
}

std::string CpuEmitter::renderWeightsFile() {
  std::string out = "KERASCW1";
  auto put = [&](const void *p, size_t n) { out.append(static_cast<const char *>(p), n); };
  uint32_t count = usedWeights.size();
  put(&count, 4);
  for (const std::string &name : usedWeights) {
    const WeightTensor &w = weights.at(name);
    uint32_t len = name.size();
    uint64_t floats = w.data.size();
    put(&len, 4);
    put(name.data(), len);
    put(&floats, 8);
    put(w.data.data(), floats * sizeof(float));
  }
  return out;
}

std::vector<OutputFile> CpuEmitter::emit() {
  std::vector<OutputFile> files;
  files.push_back({prefix + ".cpp", renderSource()}); // first: fills usedWeights
  files.push_back({prefix + ".h", renderHeader()});
  files.push_back({"main.cpp", renderMain()});
  files.push_back({"CMakeLists.txt", renderCMake()});
  if (options.externalWeights)
    files.push_back({prefix + ".weights", renderWeightsFile()});
  for (const EmbeddedFile &f : runtimeFiles())
    files.push_back({std::string("runtime/") + f.path, f.contents});
  return files;
}

class CpuTarget : public Target {
public:
  const char *name() const override { return "cpu"; }
  std::vector<OutputFile> emit(ModuleOp module, const WeightStore &weights,
                               const EmitOptions &options) override {
    // The model function, and with a training build its nn-autodiff step functions.
    func::FuncOp model, train, test;
    for (auto f : module.getOps<func::FuncOp>()) {
      if (f->hasAttr("nn.training"))
        train = f;
      else if (f.getName().endswith("_test_step"))
        test = f;
      else
        model = f;
    }
    assert(model && "the cpu target renders one model function");
    CpuEmitter emitter(model, weights, options);
    if (train && test)
      emitter.setTrainingFunctions(train, test);
    return emitter.emit();
  }
};

} // namespace

std::unique_ptr<Target> createCpuTarget() { return std::make_unique<CpuTarget>(); }

} // namespace kerasc
