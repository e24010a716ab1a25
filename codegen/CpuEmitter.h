// The CPU target's emitter, shared by its two source files: CpuTarget.cpp renders the model
// function (predict) and the generated files; CpuTraining.cpp renders the training ops and the
// training build (optimizer, metrics, the TrainableModel, the training C API). Private to
// codegen/: nothing outside includes it.
#pragma once

#include "codegen/Target.h"
#include "ir/NNDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace kerasc::cpu {

using namespace mlir;

inline std::string upper(std::string s) {
  for (char &c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

/// A C identifier made from arbitrary text (layer names may contain '/', '.', '-').
inline std::string identifier(llvm::StringRef text) {
  std::string id;
  for (char c : text)
    id += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (id.empty() || std::isdigit(static_cast<unsigned char>(id[0])))
    id = "_" + id;
  return id;
}

/// Exact float literal (9 significant digits round-trip float32).
inline std::string floatLiteral(double v) {
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

inline ShapedType shapedType(Value v) { return v.getType().cast<ShapedType>(); }

/// "(None, 8)" like Keras prints shapes.
inline std::string shapeText(ShapedType type) { return nn::kerasShapeText(type.getShape()); }

/// An I64ArrayAttr's values (strides, padding, perm, ...).
inline std::vector<int64_t> intList(Attribute attr) {
  std::vector<int64_t> values;
  for (Attribute a : attr.cast<ArrayAttr>())
    values.push_back(a.cast<IntegerAttr>().getInt());
  return values;
}

/// The Keras layer an op comes from, for error messages ("?" when its location names none).
inline std::string firstLayerName(Location loc) {
  std::vector<std::string> layers = nn::layerNames(loc);
  return layers.empty() ? std::string("?") : layers[0];
}

/// Elements per sample before and after `axis`: a tensor viewed as [batch * outer, dim, inner].
inline std::pair<int64_t, int64_t> aroundAxis(ShapedType type, int64_t axis) {
  int64_t outer = 1, inner = 1;
  for (int64_t d = 1; d < axis; ++d)
    outer *= type.getDimSize(d);
  for (int64_t d = axis + 1; d < type.getRank(); ++d)
    inner *= type.getDimSize(d);
  return {outer, inner};
}

/// Gradient ops computed element by element (with broadcasting, like nn.binary): rendered as
/// loops by the same scalar-expression machinery as the forward elementwise ops.
inline bool isElementwiseGradient(Operation *op) {
  return isa<nn::ActivationGradOp, nn::BinaryGradOp, nn::PReluGradOp, nn::NormalizeGradOp,
             nn::RegularizerGradOp>(op);
}

/// An integer attribute of the function (a memory-plan figure), 0 when absent.
inline int64_t funcAttr(func::FuncOp func, llvm::StringRef name) {
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
  /// nn.pool / nn.pool_grad / nn.pad / nn.resize / nn.resize_grad (false for other ops).
  bool renderPoolingOp(Operation *op, const std::string &name, std::string &out);
  std::string renderApplyGradients(nn::ApplyGradientsOp apply);
  std::string broadcastTables(ShapedType full, ShapedType part, std::string &decls);
  std::string renderElementwiseLoop(Operation *op, const std::string &result);
  std::string renderMatMul(Operation *op, const std::string &result);
  std::string renderEpilogue(nn::FusedOp fused, std::string &decls);
  std::string renderConv(Operation *op, const std::string &result); // nn.conv* (CpuTarget.cpp)
  std::string renderScalarOps(ArrayRef<Operation *> ops, std::string &decls,
                              llvm::DenseMap<Value, std::string> &scalars, ShapedType resultType,
                              bool columnInScope);
  std::pair<SmallVector<Operation *>, Value> fusedBody(nn::FusedOp fused);
  std::string scalarExpr(Operation *op, ArrayRef<std::string> args);
  std::string loadExpr(Value v, ShapedType resultType, std::string &decls, bool columnInScope);

  // --- other files ---
  std::string renderHeader();
  std::string renderSource();
  std::string layerHeaders();
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
  /// The first line of a kernel block: its timer for `bench --profile`, named after the function
  /// being rendered and the block's layer and ops (compiled out unless KERASC_PROFILE is set).
  std::string kernelTimer(const std::string &label) const {
    std::string escaped;
    for (char c : timerScope + ": " + label)
      escaped += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return "    KERASC_KERNEL_TIMER(\"" + escaped + "\");\n";
  }

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
  std::string timerScope; // "predict", "train_step" or "test_step": names kernel timers

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

} // namespace kerasc::cpu
