// The CPU target: renders a planned nn module as portable C++17 that calls the header-only
// runtime (runtime/kerasc). One commented block per Keras layer (or fused group of layers).
#include "codegen/Target.h"
#include "ir/NNDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <regex>
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
  std::string renderForward();
  void renderOp(Operation *op, std::string &out);
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
  auto act = cast<nn::ActivationOp>(op);
  llvm::StringRef fn = act.getFn();
  double alpha = act.getAlpha() ? act.getAlpha()->convertToDouble() : 0.0;
  if (fn == "relu" && (act.getMaxValue() || act.getThreshold() || alpha != 0.0)) {
    return fmt::format("kerasc::act::relu_general({}, {}, {}, {}, {})", a[0], floatLiteral(alpha),
                       act.getMaxValue() ? "true" : "false",
                       floatLiteral(act.getMaxValue() ? act.getMaxValue()->convertToDouble() : 0.0),
                       floatLiteral(act.getThreshold() ? act.getThreshold()->convertToDouble() : 0.0));
  }
  if (fn == "leaky_relu" || fn == "elu")
    return fmt::format("kerasc::act::{}({}, {})", fn.str(), a[0], floatLiteral(alpha));
  return fmt::format("kerasc::act::{}({})", fn.str(), a[0]);
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
  const int64_t rank = resultSample.size();
  ArrayRef<int64_t> full = type.getShape();
  if (operandHasBatch)
    full = full.drop_front();
  std::vector<int64_t> strides(rank, 0);
  int64_t stride = 1;
  for (int64_t d = rank - 1, od = (int64_t)full.size() - 1; d >= 0 && od >= 0; --d, --od) {
    if (full[od] != 1)
      strides[d] = stride;
    stride *= full[od];
  }
  std::string table = fmt::format("bcast{}", tempCounter++);
  decls += fmt::format("    static constexpr int64_t {}_dims[] = {{{}}};\n", table,
                       fmt::join(resultSample, ", "));
  decls += fmt::format("    static constexpr int64_t {}_strides[] = {{{}}};\n", table,
                       fmt::join(strides, ", "));
  return fmt::format("{}[kerasc::broadcast_offset(i, {}, {}, {}_dims, {}_strides, {})]", p,
                     sampleSize, operandHasBatch ? operandElems : 0, table, table, rank);
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
  return fmt::format("{}    const int64_t n = batch * {};\n"
                     "    for (int64_t i = 0; i < n; ++i) {{\n{}      {}[i] = {};\n    }}\n",
                     decls, nn::elementsPerSample(type), body, result, scalars.lookup(last));
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
  else
    storage = fmt::format("reinterpret_cast<float *>(arena + {} * batch)",
                          op->getAttrOfType<IntegerAttr>("nn.arena_offset").getInt());
  out += fmt::format("  float *const {} = {};\n  {{\n", name, storage);

  ShapedType type = shapedType(result);
  auto fused = dyn_cast<nn::FusedOp>(op);
  if (isa<nn::MatMulOp>(op) ||
      (fused && isa<nn::MatMulOp>(fused.getBody().front().front()))) {
    out += renderMatMul(op, name);
  } else if (fused || nn::isElementwise(op)) {
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
  } else {
    op->emitOpError("the cpu target cannot render this op");
    llvm::report_fatal_error("unsupported op in cpu codegen");
  }
  out += "  }\n\n";
  pointers[result] = name;
}

std::string CpuEmitter::renderForward() {
  std::string out;
  Block &block = func.getBody().front();
  for (const Port &in : inputs) {
    std::string var = freshName(in.name.empty() ? fmt::format("input{}", in.index) : in.name);
    out += fmt::format("  const float *const {} = in[{}];  // input {}: {}\n", var, in.index,
                       in.name, shapeText(in.type));
    pointers[block.getArgument(in.index)] = var;
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
    out += fmt::format("  std::memcpy(out[{}], {}, sizeof(float) * {} * batch);  // output {}\n", k,
                       pointer(v), nn::elementsPerSample(shapedType(v)), k);
  }
  return out;
}

//===----------------------------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------------------------===//

int64_t funcAttr(func::FuncOp func, llvm::StringRef name) {
  auto attr = func->getAttrOfType<IntegerAttr>(name);
  return attr ? attr.getInt() : 0;
}

std::string CpuEmitter::renderWeights() {
  std::string out;
  int64_t total = 0;
  for (const std::string &name : usedWeights)
    total += weights.at(name).data.size();
  out += fmt::format("// Weights: {} tensors, {} floats ({:.1f} KiB), in static storage{}.\n",
                     usedWeights.size(), total, total * 4 / 1024.0,
                     options.externalWeights
                         ? fmt::format("; {}_init() fills them from {}.weights", prefix, prefix)
                         : "");
  for (const std::string &name : usedWeights) {
    const WeightTensor &w = weights.at(name);
    std::string shape = fmt::format("{}", fmt::join(w.shape, ", "));
    if (options.externalWeights) {
      out += fmt::format("alignas(64) float {}[{}];  // {} [{}]\n", weightSymbol(name),
                         std::max<size_t>(w.data.size(), 1), name, shape);
      continue;
    }
    out += fmt::format("alignas(64) const float {}[{}] = {{  // {} [{}]\n", weightSymbol(name),
                       std::max<size_t>(w.data.size(), 1), name, shape);
    for (size_t i = 0; i < w.data.size(); ++i)
      out += (i % 8 == 0 ? "    " : " ") + floatLiteral(w.data[i]) + "," +
             (i % 8 == 7 || i + 1 == w.data.size() ? "\n" : "");
    out += "};\n";
  }
  if (options.externalWeights) {
    out += fmt::format("\nconst kerasc::WeightSlot kWeightSlots[] = {{\n");
    for (const std::string &name : usedWeights)
      out += fmt::format("    {{\"{}\", {}, {}}},\n", name, weightSymbol(name),
                         weights.at(name).data.size());
    out += "};\n";
  }
  return out;
}

std::string CpuEmitter::renderSource() {
  std::string forward = renderForward(); // first: it records which weights are used
  const bool external = options.externalWeights;
  std::string out = fmt::format(
      "// Generated by kerasc from {} -- do not edit; recompile the model instead.\n"
      "// Model \"{}\": the forward pass below has one block per Keras layer (fused layers share\n"
      "// a block). Buffers live in one arena planned at compile time; offsets are bytes per\n"
      "// sample, so a batch of B samples uses offset * B.\n\n"
      "#include \"{}.h\"\n\n"
      "#include \"kerasc/activations.h\"\n#include \"kerasc/kernels.h\"\n{}"
      "\n#include <algorithm>\n#include <cmath>\n#include <cstdint>\n#include <cstdio>\n"
      "#include <cstring>\n#include <limits>\n\nnamespace {{\n\n",
      options.sourceFile, options.modelName, prefix,
      external ? "#include \"kerasc/weights_file.h\"\n" : "");
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
  out += forward + "}\n\n} // namespace\n\n";

  std::string inLoop, outLoop;
  out += fmt::format(
      "extern \"C\" {{\n\n"
      "int {0}_init(const char *weights_path) {{\n",
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
                     "void {}_release(void) {{\n  // Static storage only: nothing to free.\n}}\n\n"
                     "}}  // extern \"C\"\n",
                     prefix);
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
      "void {5}_release(void);\n\n"
      "#ifdef __cplusplus\n}}  /* extern \"C\" */\n\n"
      "namespace {5} {{\n"
      "constexpr size_t kArenaBytesPerSample = {0}_ARENA_BYTES_PER_SAMPLE;\n"
      "constexpr long long kMaxBatch = {0}_MAX_BATCH;\n"
      "}}  // namespace {5}\n#endif\n\n#endif /* {0}_H */\n",
      macro, funcAttr(func, "nn.no_reuse_bytes"), funcAttr(func, "nn.lower_bound_bytes"),
      funcAttr(func, "nn.arena_bytes"), options.maxBatch, prefix);
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
      "#include \"{1}.h\"\n\n#include \"kerasc/cli.h\"\n\n"
      "int main(int argc, char **argv) {{\n"
      "  static const kerasc::TensorDesc inputs[] = {{\n{2}  }};\n"
      "  static const kerasc::TensorDesc outputs[] = {{\n{3}  }};\n"
      "  const kerasc::ModelDesc model{{\"{1}\", {4}_NUM_INPUTS, {4}_NUM_OUTPUTS, inputs, outputs,\n"
      "                               {5}, \"{1}.weights\", {1}_init, {1}_predict, {1}_release}};\n"
      "  return kerasc::run_cli(argc, argv, model);\n}}\n",
      options.modelName, prefix, descriptors(inputs), descriptors(outputs), macro,
      options.externalWeights ? "true" : "false");
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
      "target_link_libraries({0}_cli PRIVATE {0})\n",
      prefix, options.optLevel);
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
    auto funcs = llvm::to_vector(module.getOps<func::FuncOp>());
    assert(funcs.size() == 1 && "the cpu target renders one model function");
    return CpuEmitter(funcs.front(), weights, options).emit();
  }
};

} // namespace

std::unique_ptr<Target> createCpuTarget() { return std::make_unique<CpuTarget>(); }

} // namespace kerasc
