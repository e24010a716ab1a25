// The CPU target: renders a planned nn module as portable C++17 that calls the header-only
// runtime (runtime/kerasc). One commented block per Keras layer (or fused group of layers).
// Training builds are rendered by CpuTraining.cpp through the same emitter (CpuEmitter.h).
#include "codegen/CpuEmitter.h"

namespace kerasc::cpu {

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
  if (auto bn = dyn_cast<nn::BatchNormOp>(op)) {
    // a = (x, gamma, beta, mean, variance). Keras 3 (jax backend): inv = rsqrt(var + eps) *
    // gamma; y = x * inv + (beta - mean * inv), in this order of roundings.
    std::string inv = fmt::format("(1.0f / std::sqrt({} + {}) * {})", a[4],
                                  floatLiteral(bn.getEpsilon().convertToDouble()), a[1]);
    return fmt::format("{0} * {1} + ({2} - {3} * {1})", a[0], inv, a[2], a[3]);
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
    if (!isa<nn::MatMulOp, nn::ConvOp, nn::ConvTransposeOp>(op)) // heads: the kernel computes them
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

/// The epilogue lambda (acc, i, column) -> float of a fused group headed by a matmul or a
/// convolution: the group's elementwise ops applied to the head's result `acc`.
std::string CpuEmitter::renderEpilogue(nn::FusedOp fused, std::string &decls) {
  Operation *head = &fused.getBody().front().front();
  auto [ops, last] = fusedBody(fused);
  llvm::DenseMap<Value, std::string> scalars{{head->getResult(0), "acc"}};
  std::string body = renderScalarOps(ops, decls, scalars, shapedType(fused.getResult()),
                                     /*columnInScope=*/true);
  body += "      return " + scalars.lookup(last) + ";\n";
  // Name only the indices the body reads, so the lambda compiles without warnings.
  const bool readsFlatIndex = std::regex_search(body, std::regex("[\\[(]i[\\] ,]"));
  const bool readsColumn = body.find("[column]") != std::string::npos;
  return fmt::format("[&](float acc, int64_t {}, int64_t {}) {{\n{}    }}",
                     readsFlatIndex ? "i" : "/*i*/", readsColumn ? "column" : "/*column*/",
                     body);
}

std::string CpuEmitter::renderMatMul(Operation *op, const std::string &result) {
  nn::MatMulOp matmul;
  std::string epilogue = "kerasc::IdentityEpilogue{}";
  std::string decls;
  if (auto fused = dyn_cast<nn::FusedOp>(op)) {
    matmul = cast<nn::MatMulOp>(fused.getBody().front().front());
    epilogue = renderEpilogue(fused, decls);
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
// Convolutions: nn.conv, nn.conv_transpose (plain, or the head of an nn.fused whose elementwise
// ops become the kernel's epilogue) and nn.conv_grad_kernel, as calls into kerasc/conv.h.
//===----------------------------------------------------------------------------------------===//

std::string CpuEmitter::renderConv(Operation *op, const std::string &result) {
  Operation *conv = op;
  std::string epilogue = "kerasc::IdentityEpilogue{}";
  std::string decls;
  if (auto fused = dyn_cast<nn::FusedOp>(op)) {
    conv = &fused.getBody().front().front();
    // The epilogue's column is the output channel: per-channel operands (bias, batch norm)
    // read [column].
    epilogue = renderEpilogue(fused, decls);
  }
  auto layerError = [&](const std::string &what) {
    return std::runtime_error(fmt::format("layer {}: {}", firstLayerName(conv->getLoc()), what));
  };
  const std::vector<int64_t> strides = intList(conv->getAttr("strides"));
  const std::vector<int64_t> dilations = intList(conv->getAttr("dilations"));
  const std::vector<int64_t> padding = intList(conv->getAttr("padding"));
  const int64_t groups = conv->getAttrOfType<IntegerAttr>("groups").getInt();
  const int64_t spatial = static_cast<int64_t>(strides.size());
  if (spatial < 1 || spatial > 2)
    throw layerError(fmt::format("the cpu target runs 1-D and 2-D convolutions, not {}-D",
                                 spatial));

  // Every op is rendered through the forward convolution it belongs to (conv.h's ConvParams):
  // nn.conv is one; nn.conv_transpose is the input gradient of the convolution from its
  // output to its input; nn.conv_grad_kernel belongs to the convolution of its input.
  Value a = conv->getOperand(0), b = conv->getOperand(1);
  ShapedType convIn, convOut;
  std::vector<int64_t> kernel;
  const char *call;
  if (isa<nn::ConvOp>(conv)) {
    convIn = shapedType(a);
    convOut = shapedType(conv->getResult(0));
    kernel.assign(shapedType(b).getShape().begin(), shapedType(b).getShape().begin() + spatial);
    call = "conv_forward";
  } else if (isa<nn::ConvTransposeOp>(conv)) {
    convIn = shapedType(conv->getResult(0));
    convOut = shapedType(a);
    kernel.assign(shapedType(b).getShape().begin(), shapedType(b).getShape().begin() + spatial);
    call = "conv_transpose";
  } else {
    convIn = shapedType(a);
    convOut = shapedType(b);
    kernel = intList(conv->getAttr("kernel_spatial"));
    call = "conv_grad_kernel";
  }
  // 1-D runs as 2-D with a height of 1.
  auto dim = [&](ShapedType t, int64_t axis) {
    return spatial == 1 ? (axis == 0 ? 1 : t.getDimSize(1)) : t.getDimSize(1 + axis);
  };
  auto perAxis = [&](const std::vector<int64_t> &v, int64_t axis, int64_t unit) {
    return spatial == 1 ? (axis == 0 ? unit : v[0]) : v[axis];
  };
  std::vector<int64_t> before;
  for (int64_t i = 0; i < spatial; ++i)
    before.push_back(padding[2 * i]);
  const std::string params = fmt::format(
      "kerasc::ConvParams{{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}}",
      dim(convIn, 0), dim(convIn, 1), convIn.getShape().back(), dim(convOut, 0),
      dim(convOut, 1), convOut.getShape().back(), perAxis(kernel, 0, 1), perAxis(kernel, 1, 1),
      perAxis(strides, 0, 1), perAxis(strides, 1, 1), perAxis(dilations, 0, 1),
      perAxis(dilations, 1, 1), perAxis(before, 0, 0), perAxis(before, 1, 0), groups);

  // The algorithm nn-choose-conv-algorithm picked; "direct" (no workspace) when none was.
  auto algorithmAttr = conv->getAttrOfType<StringAttr>("algorithm");
  const std::string algorithm = algorithmAttr ? algorithmAttr.str() : "direct";
  // "col2im" is nn.conv_transpose's im2col: the GEMM into patch columns, then their gather.
  const char *algorithmEnum = algorithm == "direct"                           ? "Direct"
                              : algorithm == "im2col" || algorithm == "col2im" ? "Im2col"
                              : algorithm == "pointwise"                      ? "Pointwise"
                                                                              : nullptr;
  if (!algorithmEnum)
    throw layerError("the cpu target has no convolution algorithm '" + algorithm + "'");
  IntegerAttr workspaceOffset = op->getAttrOfType<IntegerAttr>("nn.workspace_offset");
  if (!workspaceOffset)
    workspaceOffset = conv->getAttrOfType<IntegerAttr>("nn.workspace_offset");
  std::string workspace = "nullptr";
  if (workspaceOffset)
    workspace = fmt::format("reinterpret_cast<float *>(arena + {}{} * batch)",
                            fixedBytes ? std::to_string(fixedBytes) + " + " : "",
                            workspaceOffset.getInt());
  else if (algorithm == "im2col" || algorithm == "col2im")
    throw layerError("the " + algorithm + " convolution has no workspace (nn.workspace_offset): run "
                     "nn-plan-memory after nn-choose-conv-algorithm");

  std::string args = fmt::format("kerasc::ConvAlgorithm::{}, {}, batch, {}, {}, {}, {}",
                                 algorithmEnum, params, pointer(a), pointer(b), result, workspace);
  if (isa<nn::ConvGradKernelOp>(conv))
    return fmt::format("    kerasc::{}({});\n", call, args);
  return fmt::format("{}    kerasc::{}({},\n        {});\n", decls, call, args, epilogue);
}

//===----------------------------------------------------------------------------------------===//
// Pooling, padding/cropping and upsampling: nn.pool, nn.pool_grad, nn.pad, nn.resize and
// nn.resize_grad as calls into kerasc/pooling.h (shapes written as literal lists).
//===----------------------------------------------------------------------------------------===//

bool CpuEmitter::renderPoolingOp(Operation *op, const std::string &name, std::string &out) {
  if (!isa<nn::PoolOp, nn::PoolGradOp, nn::PadOp, nn::ResizeOp, nn::ResizeGradOp>(op))
    return false;
  auto list = [](ArrayRef<int64_t> v) { return fmt::format("{{{}}}", fmt::join(v, ", ")); };
  auto attrList = [&](const char *key) { return list(intList(op->getAttr(key))); };
  // [B, S..., C] -> the spatial dims S...
  auto spatial = [](ShapedType t) { return t.getShape().drop_front().drop_back(); };
  auto checkRank = [&](ShapedType t) {
    if (t.getRank() < 3 || t.getRank() > 2 + 3)
      throw std::runtime_error(fmt::format(
          "layer {}: the cpu target pools and resizes 1 to 3 spatial axes, not {}",
          firstLayerName(op->getLoc()), t.getRank() - 2));
  };

  if (auto pad = dyn_cast<nn::PadOp>(op)) {
    ShapedType in = shapedType(pad.getInput());
    out += fmt::format("    kerasc::pad({}, {}, batch, {}, {});\n", pointer(pad.getInput()), name,
                       list(in.getShape().drop_front()), attrList("pads"));
    return true;
  }
  if (isa<nn::PoolOp, nn::PoolGradOp>(op)) {
    const bool grad = isa<nn::PoolGradOp>(op);
    Value input = op->getOperand(grad ? 1 : 0);
    ShapedType in = shapedType(input);
    ShapedType pooled = shapedType(grad ? op->getOperand(0) : op->getResult(0));
    checkRank(in);
    const std::string shape = fmt::format(
        "kerasc::PoolShape({}, {}, {}, {}, {}, {})", list(spatial(in)), list(spatial(pooled)),
        attrList("window"), attrList("strides"), attrList("padding"), in.getShape().back());
    const char *max = op->getAttrOfType<StringAttr>("kind").getValue() == "max" ? "true" : "false";
    if (grad)
      out += fmt::format("    kerasc::pool_grad({}, {}, {}, batch,\n        {}, {});\n",
                         pointer(op->getOperand(0)), pointer(input), name, shape, max);
    else
      out += fmt::format("    kerasc::pool({}, {}, batch,\n        {}, {});\n", pointer(input),
                         name, shape, max);
    return true;
  }
  // nn.resize / nn.resize_grad: the shape is the small (input) side's.
  const bool grad = isa<nn::ResizeGradOp>(op);
  ShapedType small = shapedType(grad ? op->getResult(0) : op->getOperand(0));
  checkRank(small);
  const std::string shape = fmt::format("kerasc::ResizeShape({}, {}, {})", list(spatial(small)),
                                        attrList("scale"), small.getShape().back());
  const char *bilinear =
      op->getAttrOfType<StringAttr>("method").getValue() == "bilinear" ? "true" : "false";
  out += fmt::format("    kerasc::{}({}, {}, batch, {}, {});\n", grad ? "resize_grad" : "resize",
                     pointer(op->getOperand(0)), name, shape, bilinear);
  return true;
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
    // Unused when the view is a model output computed in place (Global pooling's reshape).
    out += fmt::format("  [[maybe_unused]] const float *const {} = {};\n\n", name,
                       pointer(op->getOperand(0)));
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
  out += kernelTimer(title + ": " + what);

  ShapedType type = shapedType(result);
  auto fused = dyn_cast<nn::FusedOp>(op);
  if (isa<nn::MatMulOp>(op) ||
      (fused && isa<nn::MatMulOp>(fused.getBody().front().front()))) {
    out += renderMatMul(op, name);
  } else if (isa<nn::ConvOp, nn::ConvTransposeOp, nn::ConvGradKernelOp>(op) ||
             (fused && isa<nn::ConvOp, nn::ConvTransposeOp>(fused.getBody().front().front()))) {
    out += renderConv(op, name);
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
    const std::vector<int64_t> perm = intList(transpose.getPerm());
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
  } else if (renderPoolingOp(op, name, out)) {
  } else if (auto ln = dyn_cast<nn::LayerNormOp>(op)) {
    // Rows of the normalized trailing axes (kerasc/normalization.h).
    const int64_t axis = ln.getAxis();
    auto [outer, inner] = aroundAxis(type, axis);
    out += fmt::format("    kerasc::layer_norm({}, {}, {}, {}, batch * {}, {}, {}, {});\n",
                       pointer(ln.getInput()), name, pointer(ln.getGamma()),
                       pointer(ln.getBeta()), outer, type.getDimSize(axis) * inner,
                       floatLiteral(ln.getEpsilon().convertToDouble()),
                       ln.getRmsScaling() ? "true" : "false");
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
  out += "  // Subnormals take x86's slow path (and XLA flushes them too): flush them while we run.\n"
         "  const kerasc::ScopedFlushDenormals flush_denormals;\n";
  timerScope = f->hasAttr("nn.training") ? "train_step"
               : f == func                ? "predict"
                                          : "test_step";
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

/// The runtime headers of the layer families the model uses (convolutions, pooling and
/// resampling, normalization, augmentation): an MLP's build does not parse the CNN kernels.
std::string CpuEmitter::layerHeaders() {
  bool conv = false, pooling = false, normalization = false, augment = false;
  for (func::FuncOp f : {func, trainFunc, testFunc}) {
    if (!f)
      continue;
    f.walk([&](Operation *op) {
      conv |= isa<nn::ConvOp, nn::ConvTransposeOp, nn::ConvGradKernelOp>(op);
      pooling |= isa<nn::PoolOp, nn::PoolGradOp, nn::PadOp, nn::ResizeOp, nn::ResizeGradOp>(op);
      normalization |= isa<nn::BatchNormTrainOp, nn::BatchNormGradOp, nn::LayerNormOp,
                           nn::LayerNormGradOp>(op);
      if (auto noise = dyn_cast<nn::NoiseOp>(op))
        augment |= noise.getLayerClass().startswith("Random");
      if (auto grad = dyn_cast<nn::NoiseGradOp>(op))
        augment |= grad.getLayerClass().startswith("Random");
    });
  }
  std::string out;
  if (conv)
    out += "#include \"kerasc/conv.h\"\n";
  if (pooling)
    out += "#include \"kerasc/pooling.h\"\n";
  if (normalization)
    out += "#include \"kerasc/normalization.h\"\n";
  if (augment && training())
    out += "#include \"kerasc/augment.h\"\n";
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
      "#include \"kerasc/activations.h\"\n#include \"kerasc/kernels.h\"\n{}"
      "#include \"kerasc/denormals.h\"\n#include \"kerasc/profile.h\"\n"
      "#include \"kerasc/thread_pool.h\"\n{}{}"
      "\n#include <algorithm>\n#include <cmath>\n#include <cstdint>\n#include <cstdio>\n"
      "#include <cstring>\n#include <limits>\n\nnamespace {{\n\n",
      options.sourceFile, options.modelName, prefix, layerHeaders(),
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
      "int {0}_init(const char *weights_path) {{\n"
      "  kerasc::thread_pool();  // start the kernels' worker threads now, not in the first call\n",
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
      "#include \"{1}.h\"\n\n#include \"kerasc/bench_cli.h\"\n#include \"kerasc/cli.h\"\n{7}\n"
      "#include <cstring>\n\n"
      "int main(int argc, char **argv) {{\n"
      "  static const kerasc::TensorDesc inputs[] = {{\n{2}  }};\n"
      "  static const kerasc::TensorDesc outputs[] = {{\n{3}  }};\n"
      "  const kerasc::ModelDesc model{{\"{1}\", {4}_NUM_INPUTS, {4}_NUM_OUTPUTS, inputs, outputs,\n"
      "                               {5}, \"{1}.weights\", {1}_init, {1}_predict, {1}_release}};\n"
      "  // bench: the program times itself on synthetic data (used by bench/run, kerasc compare).\n"
      "  if (argc >= 2 && !std::strcmp(argv[1], \"bench\"))\n"
      "    return kerasc::run_bench(argc, argv, model, {8});\n"
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
                 : "",
      training() ? fmt::format("&{0}::trainable_model(), {1}_ARENA_BYTES_PER_SAMPLE,\n"
                               "                             {1}_TRAIN_ARENA_FIXED_BYTES, "
                               "{1}_TRAIN_ARENA_BYTES_PER_SAMPLE",
                               prefix, macro)
                 : fmt::format("nullptr, {}_ARENA_BYTES_PER_SAMPLE, 0, 0", macro));
}

std::string CpuEmitter::renderCMake() {
  return fmt::format(
      "# Generated by kerasc: builds lib{0}.a (the model) and {0} (its command-line program).\n"
      "cmake_minimum_required(VERSION 3.13)\n"
      "project({0} CXX)\n"
      "set(CMAKE_CXX_STANDARD 17)\n"
      "set(CMAKE_CXX_STANDARD_REQUIRED ON)\n\n"
      "# Instruction set of the kernels (kerasc compile --cpu={3}): the runtime's GEMM picks its\n"
      "# AVX-512, AVX2 or portable microkernel from what these flags enable.\n"
      "set(KERASC_CPU_FLAGS \"{4}\" CACHE STRING \"Compiler flags selecting the target CPU\")\n"
      "separate_arguments(kerasc_cpu_flags UNIX_COMMAND \"${{KERASC_CPU_FLAGS}}\")\n"
      "# ON: every kernel block is timed (`{0} bench --profile`, kerasc compare).\n"
      "option(KERASC_PROFILE \"Time every kernel of the generated code\" OFF)\n"
      "find_package(Threads REQUIRED)  # the runtime's thread pool\n\n"
      "add_library({0} STATIC {0}.cpp)\n"
      "target_include_directories({0} PUBLIC ${{CMAKE_CURRENT_SOURCE_DIR}}\n"
      "                                  ${{CMAKE_CURRENT_SOURCE_DIR}}/runtime)\n"
      "# -fno-math-errno: sqrt/exp need not set errno, so loops calling them vectorize (the\n"
      "# results are the same IEEE values).\n"
      "target_compile_options({0} PUBLIC -O{1} -fno-math-errno ${{kerasc_cpu_flags}})\n"
      "target_link_libraries({0} PUBLIC Threads::Threads)\n"
      "if(KERASC_PROFILE)\n"
      "  target_compile_definitions({0} PUBLIC KERASC_PROFILE)\n"
      "endif()\n\n"
      "add_executable({0}_cli main.cpp)\n"
      "set_target_properties({0}_cli PROPERTIES OUTPUT_NAME {0})\n"
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
                 : std::string(),
      options.cpu, cpuFlags(options.cpu));
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

} // namespace kerasc::cpu

namespace kerasc {
namespace {

using cpu::CpuEmitter;
using namespace mlir;

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

