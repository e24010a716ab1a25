// nn dialect: registration, shape inference and verifiers.
#include "ir/NNDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;

#include "ir/NNDialect.cpp.inc"
#include "ir/NNInterfaces.cpp.inc"

namespace kerasc::nn {

void NNDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "ir/NNOps.cpp.inc"
      >();
}

//===----------------------------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------------------------===//

bool isKnownActivation(llvm::StringRef fn) {
  return llvm::is_contained(
      llvm::ArrayRef<llvm::StringRef>{"linear", "relu", "relu6", "sigmoid", "hard_sigmoid",
                                      "hard_sigmoid_tf2", "tanh", "elu", "selu", "softplus",
                                      "softsign", "silu", "gelu", "gelu_approximate",
                                      "exponential", "leaky_relu"},
      fn);
}

bool isKnownBinaryFn(llvm::StringRef fn) {
  return llvm::is_contained(
      llvm::ArrayRef<llvm::StringRef>{"add", "sub", "mul", "div", "max", "min"}, fn);
}

bool isElementwise(Operation *op) {
  return isa<BiasAddOp, ActivationOp, RescaleOp, BinaryOp, NormalizeOp, PReluOp, BatchNormOp>(op);
}

std::vector<std::string> layerNames(Location loc) {
  std::vector<std::string> names;
  auto add = [&](Location l) {
    if (auto name = l.dyn_cast<NameLoc>()) {
      std::string n = name.getName().str();
      if (!llvm::is_contained(names, n))
        names.push_back(n);
    }
  };
  if (auto fused = loc.dyn_cast<FusedLoc>())
    for (Location l : fused.getLocations())
      add(l);
  else
    add(loc);
  return names;
}

std::string describeOps(Operation *op) {
  if (auto fused = dyn_cast<FusedOp>(op)) {
    std::string body;
    for (Operation &inner : fused.getBody().front().without_terminator())
      body += (body.empty() ? "" : " -> ") + describeOps(&inner);
    return "fused: " + body;
  }
  // The function of activations, binaries, losses and their gradients: "activation_grad relu".
  std::string s = op->getName().stripDialect().str();
  if (auto fn = op->getAttrOfType<StringAttr>("fn"))
    s += " " + fn.str();
  return s;
}

namespace {

/// Adds the elements of `type` (x `factor`) to the per-sample or the fixed part.
void addElements(ShapedType type, int64_t factor, int64_t &perSample, int64_t &fixed) {
  (hasBatchDim(type) ? perSample : fixed) += elementsPerSample(type) * factor;
}

int64_t elementsOf(ShapedType type) {
  int64_t n = 1;
  for (int64_t d : type.getShape())
    n *= d;
  return n;
}

/// FLOPs of one op on its own (not counting memory), split into per-sample and fixed parts.
void addFlops(Operation *op, KernelCost &cost) {
  auto shaped = [](Value v) { return v.getType().cast<ShapedType>(); };
  auto perElement = [&](Value v, int64_t n) {
    addElements(shaped(v), n, cost.flopsPerSample, cost.flopsFixed);
  };
  if (auto fused = dyn_cast<FusedOp>(op)) {
    for (Operation &inner : fused.getBody().front().without_terminator())
      addFlops(&inner, cost);
  } else if (auto mm = dyn_cast<MatMulOp>(op)) {
    perElement(mm.getResult(), 2 * shaped(mm.getKernel()).getDimSize(0));
  } else if (auto gi = dyn_cast<MatMulGradInputOp>(op)) {
    perElement(gi.getResult(), 2 * shaped(gi.getKernel()).getDimSize(1));
  } else if (auto gk = dyn_cast<MatMulGradKernelOp>(op)) {
    // Every input row meets every column of dy: 2 * N per input element.
    perElement(gk.getInput(), 2 * shaped(gk.getGrad()).getShape().back());
  } else if (auto conv = dyn_cast<ConvOp>(op)) {
    // Each output element sums K... x Cin / groups products.
    perElement(conv.getResult(), 2 * elementsOf(shaped(conv.getKernel())) /
                                     shaped(conv.getKernel()).getShape().back());
  } else if (auto convT = dyn_cast<ConvTransposeOp>(op)) {
    // Each input element meets K... x Cout / groups kernel entries.
    perElement(convT.getInput(), 2 * elementsOf(shaped(convT.getKernel())) /
                                     shaped(convT.getKernel()).getShape().back());
  } else if (auto gk = dyn_cast<ConvGradKernelOp>(op)) {
    // The same products as the forward convolution.
    perElement(gk.getGrad(), 2 * elementsOf(shaped(gk.getResult())) /
                                 shaped(gk.getResult()).getShape().back());
  } else if (auto pool = dyn_cast<PoolOp>(op)) {
    int64_t window = 1;
    for (Attribute w : pool.getWindow())
      window *= w.cast<IntegerAttr>().getInt();
    perElement(pool.getResult(), window);
  } else if (auto poolGrad = dyn_cast<PoolGradOp>(op)) {
    int64_t window = 1;
    for (Attribute w : poolGrad.getWindow())
      window *= w.cast<IntegerAttr>().getInt();
    perElement(poolGrad.getGrad(), window);
  } else if (isa<ResizeOp, ResizeGradOp>(op)) {
    perElement(op->getOperand(0), 4);
  } else if (isa<BatchNormTrainOp, BatchNormGradOp, LayerNormOp, LayerNormGradOp>(op)) {
    perElement(op->getOperand(0), 8);
  } else if (isa<SoftmaxOp, SoftmaxGradOp>(op)) {
    perElement(op->getResult(0), 5);
  } else if (isa<LossOp, LossGradOp>(op)) {
    perElement(op->getOperand(0), 4);
  } else if (isa<ApplyGradientsOp>(op)) {
    for (Value grad : op->getOperands())
      perElement(grad, 10);
  } else if (isa<ReduceToOp, RegularizerOp>(op)) {
    perElement(op->getOperand(0), 1);
  } else if (isa<BatchNormOp>(op)) {
    perElement(op->getResult(0), 4);
  } else if (isElementwise(op) ||
             isa<PadOp, ActivationGradOp, BinaryGradOp, PReluGradOp, NormalizeGradOp,
                 RegularizerGradOp, NoiseOp, NoiseGradOp>(op)) {
    perElement(op->getResult(0), 1);
  } // data movement (transpose, concat, repeat, slice): no arithmetic
}

} // namespace

KernelCost kernelCost(Operation *op) {
  KernelCost cost;
  if (isa<ReshapeOp, WeightOp>(op))
    return cost;
  addFlops(op, cost);
  for (Value operand : op->getOperands())
    addElements(operand.getType().cast<ShapedType>(), 4, cost.readPerSample, cost.readFixed);
  for (Value result : op->getResults())
    addElements(result.getType().cast<ShapedType>(), 4, cost.writtenPerSample,
                cost.writtenFixed);
  if (isa<ApplyGradientsOp>(op)) // reads and writes the weights it updates, besides the grads
    cost.writtenFixed += cost.readFixed, cost.readFixed *= 2;
  return cost;
}

std::string kerasShapeText(ArrayRef<int64_t> shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + (ShapedType::isDynamic(shape[i]) ? std::string("None")
                                                              : std::to_string(shape[i]));
  return s + (shape.size() == 1 ? ",)" : ")");
}

int optimizerStateSlots(DictionaryAttr optimizer) {
  llvm::StringRef cls = optimizer.getAs<StringAttr>("class_name").getValue();
  auto config = optimizer.getAs<DictionaryAttr>("config");
  auto number = [&](const char *key) {
    auto v = config ? config.getAs<FloatAttr>(key) : FloatAttr();
    return v ? v.getValueAsDouble() : 0.0;
  };
  auto flag = [&](const char *key) {
    auto v = config ? config.getAs<BoolAttr>(key) : BoolAttr();
    return v && v.getValue();
  };
  if (cls == "SGD")
    return number("momentum") != 0.0 ? 1 : 0;
  if (cls == "RMSprop")
    return 1 + (number("momentum") > 0.0 ? 1 : 0) + (flag("centered") ? 1 : 0);
  if (cls == "Adam" || cls == "AdamW")
    return flag("amsgrad") ? 3 : 2;
  if (cls == "Adagrad")
    return 1;
  return 2; // Adamax (m, u), Nadam (m, v)
}

bool hasBatchDim(ShapedType type) {
  return type.hasRank() && type.getRank() >= 1 && type.isDynamicDim(0);
}

int64_t elementsPerSample(ShapedType type) {
  int64_t n = 1;
  auto shape = type.getShape();
  for (size_t i = hasBatchDim(type) ? 1 : 0; i < shape.size(); ++i) {
    int64_t d = shape[i];
    assert(!ShapedType::isDynamic(d) && "only the batch dimension may be dynamic");
    n *= d;
  }
  return n;
}

FailureOr<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Align at the trailing axis; a missing leading axis acts as size 1.
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == db)
      out[i] = da;
    else if (da == 1)
      out[i] = db;
    else if (db == 1)
      out[i] = da;
    else
      return failure();
  }
  return out;
}

static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t d = shape[i];
    if (i)
      s += ", ";
    s += ShapedType::isDynamic(d) ? "?" : std::to_string(d);
  }
  return s + "]";
}

static TensorType rankedF32(MLIRContext *ctx, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, Float32Type::get(ctx));
}

static TensorType unrankedF32(MLIRContext *ctx) {
  return UnrankedTensorType::get(Float32Type::get(ctx));
}

/// True when every operand has a ranked type (shape inference can proceed).
static bool allRanked(Operation *op) {
  return llvm::all_of(op->getOperandTypes(),
                      [](Type t) { return t.cast<ShapedType>().hasRank(); });
}

static ArrayRef<int64_t> shapeOf(Value v) { return v.getType().cast<ShapedType>().getShape(); }

LogicalResult verifyInferredResultType(Operation *op) {
  auto iface = cast<InferShapeOpInterface>(op);
  FailureOr<TensorType> inferred = iface.inferResultType();
  if (failed(inferred))
    return failure();
  auto actual = op->getResult(0).getType().cast<TensorType>();
  if (!inferred->hasRank() || !actual.hasRank())
    return success();
  if (actual != *inferred)
    return op->emitOpError() << "result shape " << shapeString(actual.getShape())
                             << " disagrees with the inferred shape "
                             << shapeString(inferred->getShape());
  return success();
}

/// Result type equal to the first operand's (unary elementwise ops).
static FailureOr<TensorType> sameAsInput(Operation *op) {
  return op->getOperand(0).getType().cast<TensorType>();
}

/// Result type equal to the `index`-th operand's.
static FailureOr<TensorType> sameAsOperand(Operation *op, unsigned index) {
  return op->getOperand(index).getType().cast<TensorType>();
}

/// Checks that `param` broadcasts into the shape of `input` without changing it.
static LogicalResult checkBroadcastsInto(Operation *op, Value input, Value param,
                                         llvm::StringRef what) {
  auto b = broadcastShapes(shapeOf(input), shapeOf(param));
  if (failed(b) || ArrayRef<int64_t>(*b) != shapeOf(input))
    return op->emitOpError() << what << " of shape " << shapeString(shapeOf(param))
                             << " does not broadcast to the input shape "
                             << shapeString(shapeOf(input));
  return success();
}

//===----------------------------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------------------------===//

LogicalResult WeightOp::verify() {
  auto type = getType().cast<ShapedType>();
  if (!type.hasStaticShape())
    return emitOpError("weights must have a static shape");
  if (getName().empty())
    return emitOpError("weights need a name");
  return success();
}

//===----------------------------------------------------------------------------------------===//
// Dense building blocks
//===----------------------------------------------------------------------------------------===//

FailureOr<TensorType> MatMulOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto in = shapeOf(getInput()), k = shapeOf(getKernel());
  if (in.size() < 2)
    return emitOpError("input must have a batch axis and a feature axis");
  if (k.size() != 2)
    return emitOpError() << "kernel must be 2-D, got " << shapeString(k);
  if (in.back() != k[0])
    return emitOpError() << "input's last axis is " << in.back() << " but the kernel expects "
                         << k[0] << " (kernel " << shapeString(k) << ")";
  SmallVector<int64_t> out(in.begin(), in.end());
  out.back() = k[1];
  return rankedF32(getContext(), out);
}

FailureOr<TensorType> BiasAddOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto in = shapeOf(getInput()), b = shapeOf(getBias());
  if (b.size() != 1 || b[0] != in.back())
    return emitOpError() << "bias of shape " << shapeString(b)
                         << " does not match the last axis of " << shapeString(in);
  return sameAsInput(*this);
}

//===----------------------------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------------------------===//

FailureOr<TensorType> ActivationOp::inferResultType() { return sameAsInput(*this); }

LogicalResult ActivationOp::verify() {
  if (!isKnownActivation(getFn()))
    return emitOpError() << "unknown activation function '" << getFn() << "'";
  return success();
}

FailureOr<TensorType> RescaleOp::inferResultType() { return sameAsInput(*this); }

FailureOr<TensorType> BinaryOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto b = broadcastShapes(shapeOf(getLhs()), shapeOf(getRhs()));
  if (failed(b))
    return emitOpError() << "operand shapes " << shapeString(shapeOf(getLhs())) << " and "
                         << shapeString(shapeOf(getRhs())) << " do not broadcast";
  return rankedF32(getContext(), *b);
}

LogicalResult BinaryOp::verify() {
  if (!isKnownBinaryFn(getFn()))
    return emitOpError() << "unknown binary function '" << getFn() << "'";
  return success();
}

FailureOr<TensorType> NormalizeOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  if (failed(checkBroadcastsInto(*this, getInput(), getMean(), "mean")) ||
      failed(checkBroadcastsInto(*this, getInput(), getVariance(), "variance")))
    return failure();
  return sameAsInput(*this);
}

FailureOr<TensorType> PReluOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  if (failed(checkBroadcastsInto(*this, getInput(), getAlpha(), "alpha")))
    return failure();
  return sameAsInput(*this);
}

//===----------------------------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------------------------===//

FailureOr<TensorType> SoftmaxOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  // I64Attr getters return the raw bits unsigned; read them signed so -1 is -1.
  int64_t rank = shapeOf(getInput()).size(), axis = static_cast<int64_t>(getAxis());
  if (axis < 1 || axis >= rank)
    return emitOpError() << "axis " << axis << " is out of range [1, " << rank << ")";
  return sameAsInput(*this);
}

//===----------------------------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------------------------===//

static SmallVector<int64_t> toI64s(ArrayAttr attr) {
  return llvm::to_vector(llvm::map_range(
      attr, [](Attribute a) { return a.cast<IntegerAttr>().getInt(); }));
}

FailureOr<TensorType> ReshapeOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto inType = getInput().getType().cast<ShapedType>();
  SmallVector<int64_t> target = toI64s(getShape());
  int64_t n = 1;
  for (int64_t d : target) {
    if (d <= 0)
      return emitOpError("target dimensions must be positive (resolve -1 before building)");
    n *= d;
  }
  if (!hasBatchDim(inType))
    return emitOpError("input must have a leading batch axis");
  if (n != elementsPerSample(inType))
    return emitOpError() << "cannot reshape " << shapeString(inType.getShape()) << " ("
                         << elementsPerSample(inType) << " elements per sample) into "
                         << shapeString(target) << " (" << n << ")";
  SmallVector<int64_t> out{ShapedType::kDynamicSize};
  out.append(target);
  return rankedF32(getContext(), out);
}

FailureOr<TensorType> TransposeOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto in = shapeOf(getInput());
  SmallVector<int64_t> perm = toI64s(getPerm());
  SmallVector<int64_t> sorted(perm);
  llvm::sort(sorted);
  bool isPermutation = perm.size() == in.size() &&
                       llvm::all_of(llvm::enumerate(sorted),
                                    [](auto e) { return e.value() == (int64_t)e.index(); });
  if (!isPermutation || perm[0] != 0)
    return emitOpError() << "perm " << shapeString(perm) << " is not a permutation of rank "
                         << in.size() << " that keeps the batch axis first";
  SmallVector<int64_t> out;
  for (int64_t p : perm)
    out.push_back(in[p]);
  return rankedF32(getContext(), out);
}

FailureOr<TensorType> RepeatOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto in = shapeOf(getInput());
  if (in.size() != 2)
    return emitOpError() << "input must be [batch, features], got " << shapeString(in);
  int64_t times = static_cast<int64_t>(getTimes());
  if (times < 1)
    return emitOpError("times must be positive");
  return rankedF32(getContext(), {in[0], times, in[1]});
}

FailureOr<TensorType> ConcatOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  if (getInputs().empty())
    return emitOpError("needs at least one input");
  auto first = shapeOf(getInputs()[0]);
  int64_t rank = first.size(), axis = static_cast<int64_t>(getAxis());
  if (axis < 1 || axis >= rank)
    return emitOpError() << "axis " << axis << " is out of range [1, " << rank << ")";
  SmallVector<int64_t> out(first.begin(), first.end());
  out[axis] = 0;
  for (Value v : getInputs()) {
    auto s = shapeOf(v);
    for (int64_t i = 0; i < rank; ++i) {
      if ((int64_t)s.size() != rank || (i != axis && s[i] != first[i]))
        return emitOpError() << "inputs " << shapeString(first) << " and " << shapeString(s)
                             << " differ outside the concatenation axis " << axis;
    }
    out[axis] += s[axis];
  }
  return rankedF32(getContext(), out);
}

FailureOr<TensorType> NoiseOp::inferResultType() { return sameAsInput(*this); }

//===----------------------------------------------------------------------------------------===//
// Convolution, pooling and resampling
//===----------------------------------------------------------------------------------------===//

namespace {

/// The spatial attributes of a convolution or pool, checked against its rank-`spatial` input.
struct Window {
  SmallVector<int64_t> strides, dilations, padding;
};

FailureOr<Window> readWindow(Operation *op, size_t spatial, ArrayAttr strides,
                             ArrayAttr dilations, ArrayAttr padding) {
  Window w{toI64s(strides), dilations ? toI64s(dilations) : SmallVector<int64_t>(spatial, 1),
           toI64s(padding)};
  if (w.strides.size() != spatial || w.dilations.size() != spatial ||
      w.padding.size() != 2 * spatial) {
    op->emitOpError() << "needs " << spatial << " strides and dilations and " << 2 * spatial
                      << " padding entries for its " << spatial << " spatial axes";
    return failure();
  }
  for (size_t i = 0; i < spatial; ++i)
    if (w.strides[i] < 1 || w.dilations[i] < 1 || w.padding[2 * i] < 0) {
      op->emitOpError("strides and dilations must be positive and leading padding non-negative");
      return failure();
    }
  return w;
}

/// Output size of a convolution or pool along one axis, or a failure when it would be empty.
FailureOr<int64_t> slidingSize(Operation *op, int64_t size, int64_t extent, int64_t stride,
                               int64_t before, int64_t after) {
  int64_t span = size + before + after - extent;
  if (span < 0) {
    op->emitOpError() << "window of extent " << extent << " does not fit in an axis of size "
                      << size << " padded by " << before << " + " << after;
    return failure();
  }
  return span / stride + 1;
}

/// Checks an [input, kernel] pair of a convolution; returns the spatial rank.
FailureOr<size_t> convOperands(Operation *op, ArrayRef<int64_t> in, ArrayRef<int64_t> k,
                               int64_t groups, int64_t kernelInAxis, int64_t kernelOutAxis,
                               int64_t inChannels) {
  if (in.size() < 3 || k.size() != in.size()) {
    op->emitOpError() << "input " << shapeString(in) << " must be [B, spatial..., C] and kernel "
                      << shapeString(k) << " [K..., Cin, Cout] of the same rank";
    return failure();
  }
  if (groups < 1 || inChannels % groups || k[kernelOutAxis] % groups) {
    op->emitOpError() << "groups = " << groups << " must divide the input channels ("
                      << inChannels << ") and the output channels";
    return failure();
  }
  if (k[kernelInAxis] * groups != inChannels) {
    op->emitOpError() << "kernel " << shapeString(k) << " expects "
                      << k[kernelInAxis] * groups << " input channels, the input has "
                      << inChannels;
    return failure();
  }
  return in.size() - 2;
}

} // namespace

FailureOr<TensorType> ConvOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto in = shapeOf(getInput()), k = shapeOf(getKernel());
  int64_t groups = static_cast<int64_t>(getGroups());
  auto spatial = convOperands(*this, in, k, groups, k.size() - 2, k.size() - 1,
                              in.empty() ? 0 : in.back());
  if (failed(spatial))
    return failure();
  auto w = readWindow(*this, *spatial, getStrides(), getDilations(), getPadding());
  if (failed(w))
    return failure();
  SmallVector<int64_t> out{in[0]};
  for (size_t i = 0; i < *spatial; ++i) {
    auto o = slidingSize(*this, in[i + 1], w->dilations[i] * (k[i] - 1) + 1, w->strides[i],
                         w->padding[2 * i], w->padding[2 * i + 1]);
    if (failed(o))
      return failure();
    out.push_back(*o);
  }
  out.push_back(k.back());
  return rankedF32(getContext(), out);
}

FailureOr<TensorType> ConvTransposeOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto in = shapeOf(getInput()), k = shapeOf(getKernel());
  int64_t groups = static_cast<int64_t>(getGroups());
  // The kernel is [K..., Cout / groups, Cin]: its last axis meets the input channels.
  auto spatial = convOperands(*this, in, k, 1, k.size() - 1, k.size() - 2,
                              in.empty() ? 0 : in.back());
  if (failed(spatial))
    return failure();
  if (groups < 1 || in.back() % groups)
    return emitOpError() << "groups = " << groups << " must divide the input channels";
  auto w = readWindow(*this, *spatial, getStrides(), getDilations(), getPadding());
  if (failed(w))
    return failure();
  SmallVector<int64_t> out{in[0]};
  for (size_t i = 0; i < *spatial; ++i) {
    int64_t o = (in[i + 1] - 1) * w->strides[i] + w->dilations[i] * (k[i] - 1) + 1 -
                w->padding[2 * i] - w->padding[2 * i + 1];
    if (o < 1)
      return emitOpError() << "output size along spatial axis " << i << " would be " << o;
    out.push_back(o);
  }
  out.push_back(k[k.size() - 2] * groups);
  return rankedF32(getContext(), out);
}

FailureOr<TensorType> ConvGradKernelOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto in = shapeOf(getInput()), dy = shapeOf(getGrad());
  SmallVector<int64_t> ks = toI64s(getKernelSpatial());
  int64_t groups = static_cast<int64_t>(getGroups());
  if (in.size() < 3 || dy.size() != in.size() || ks.size() != in.size() - 2)
    return emitOpError() << "input " << shapeString(in) << ", grad " << shapeString(dy)
                         << " and kernel_spatial " << shapeString(ks) << " disagree in rank";
  if (groups < 1 || in.back() % groups || dy.back() % groups)
    return emitOpError() << "groups = " << groups << " must divide both channel counts";
  SmallVector<int64_t> kernel(ks);
  kernel.push_back(in.back() / groups);
  kernel.push_back(dy.back());
  // The forward convolution with this kernel must produce grad's spatial shape.
  auto w = readWindow(*this, ks.size(), getStrides(), getDilations(), getPadding());
  if (failed(w))
    return failure();
  for (size_t i = 0; i < ks.size(); ++i) {
    auto o = slidingSize(*this, in[i + 1], w->dilations[i] * (ks[i] - 1) + 1, w->strides[i],
                         w->padding[2 * i], w->padding[2 * i + 1]);
    if (failed(o))
      return failure();
    if (*o != dy[i + 1])
      return emitOpError() << "grad " << shapeString(dy) << " is not the output shape of the "
                           << "convolution of " << shapeString(in);
  }
  return rankedF32(getContext(), kernel);
}

static FailureOr<TensorType> pooledType(Operation *op, Value input, ArrayAttr window,
                                        ArrayAttr strides, ArrayAttr padding) {
  auto in = shapeOf(input);
  if (in.size() < 3)
    return op->emitOpError() << "input " << shapeString(in) << " must be [B, spatial..., C]";
  SmallVector<int64_t> win = toI64s(window);
  auto w = readWindow(op, in.size() - 2, strides, ArrayAttr(), padding);
  if (failed(w))
    return failure();
  if (win.size() != in.size() - 2 || llvm::any_of(win, [](int64_t v) { return v < 1; }))
    return op->emitOpError("needs one positive window size per spatial axis");
  SmallVector<int64_t> out{in[0]};
  for (size_t i = 0; i < win.size(); ++i) {
    if (w->padding[2 * i + 1] < 0)
      return op->emitOpError("pool padding must be non-negative");
    auto o = slidingSize(op, in[i + 1], win[i], w->strides[i], w->padding[2 * i],
                         w->padding[2 * i + 1]);
    if (failed(o))
      return failure();
    out.push_back(*o);
  }
  out.push_back(in.back());
  return rankedF32(op->getContext(), out);
}

FailureOr<TensorType> PoolOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  return pooledType(*this, getInput(), getWindow(), getStrides(), getPadding());
}

/// nn.pool and nn.pool_grad name their pooling with the same `kind`.
static LogicalResult verifyPoolKind(Operation *op, llvm::StringRef kind) {
  if (kind != "max" && kind != "avg")
    return op->emitOpError() << "kind must be \"max\" or \"avg\", got \"" << kind << "\"";
  return success();
}

LogicalResult PoolOp::verify() { return verifyPoolKind(*this, getKind()); }

FailureOr<TensorType> PoolGradOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto pooled = pooledType(*this, getInput(), getWindow(), getStrides(), getPadding());
  if (failed(pooled))
    return failure();
  if (pooled->getShape() != shapeOf(getGrad()))
    return emitOpError() << "grad " << shapeString(shapeOf(getGrad()))
                         << " is not the pooled shape " << shapeString(pooled->getShape());
  return sameAsOperand(*this, 1);
}

LogicalResult PoolGradOp::verify() { return verifyPoolKind(*this, getKind()); }

FailureOr<TensorType> PadOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto in = shapeOf(getInput());
  SmallVector<int64_t> pads = toI64s(getPads());
  if (in.size() < 2 || pads.size() != 2 * (in.size() - 1))
    return emitOpError() << "needs 2 pads per non-batch axis of " << shapeString(in);
  SmallVector<int64_t> out{in[0]};
  for (size_t i = 1; i < in.size(); ++i) {
    int64_t size = in[i] + pads[2 * (i - 1)] + pads[2 * (i - 1) + 1];
    if (size < 1)
      return emitOpError() << "cropping leaves nothing of axis " << i << " (size " << in[i]
                           << ")";
    out.push_back(size);
  }
  return rankedF32(getContext(), out);
}

static LogicalResult checkResizeAttrs(Operation *op, ArrayAttr scale, llvm::StringRef method,
                                      size_t rank) {
  if (method != "nearest" && method != "bilinear")
    return op->emitOpError() << "method must be \"nearest\" or \"bilinear\", got \"" << method
                             << "\"";
  SmallVector<int64_t> s = toI64s(scale);
  if (rank < 3 || s.size() != rank - 2 || llvm::any_of(s, [](int64_t v) { return v < 1; }))
    return op->emitOpError("needs one positive scale per spatial axis of a [B, spatial..., C] "
                           "input");
  return success();
}

FailureOr<TensorType> ResizeOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto in = shapeOf(getInput());
  if (failed(checkResizeAttrs(*this, getScale(), getMethod(), in.size())))
    return failure();
  SmallVector<int64_t> s = toI64s(getScale()), out(in.begin(), in.end());
  for (size_t i = 0; i < s.size(); ++i)
    out[i + 1] *= s[i];
  return rankedF32(getContext(), out);
}

FailureOr<TensorType> ResizeGradOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto dy = shapeOf(getGrad());
  if (failed(checkResizeAttrs(*this, getScale(), getMethod(), dy.size())))
    return failure();
  SmallVector<int64_t> s = toI64s(getScale()), out(dy.begin(), dy.end());
  for (size_t i = 0; i < s.size(); ++i) {
    if (out[i + 1] % s[i])
      return emitOpError() << "grad " << shapeString(dy) << " is not a multiple of the scale";
    out[i + 1] /= s[i];
  }
  return rankedF32(getContext(), out);
}

//===----------------------------------------------------------------------------------------===//
// Normalization layers
//===----------------------------------------------------------------------------------------===//

/// Checks a normalization axis and that each parameter broadcasts into the input.
static LogicalResult checkNormParams(Operation *op, Value input, int64_t axis,
                                     ArrayRef<std::pair<Value, const char *>> params) {
  int64_t rank = shapeOf(input).size();
  if (axis < 1 || axis >= rank)
    return op->emitOpError() << "axis " << axis << " is not a non-batch axis of a rank-" << rank
                             << " input";
  for (auto [param, what] : params)
    if (failed(checkBroadcastsInto(op, input, param, what)))
      return failure();
  return success();
}

FailureOr<TensorType> BatchNormOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  if (failed(checkNormParams(*this, getInput(), getAxis(),
                             {{getGamma(), "gamma"}, {getBeta(), "beta"},
                              {getMean(), "mean"}, {getVariance(), "variance"}})))
    return failure();
  return sameAsInput(*this);
}

FailureOr<TensorType> BatchNormTrainOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  if (failed(checkNormParams(*this, getInput(), getAxis(),
                             {{getGamma(), "gamma"}, {getBeta(), "beta"},
                              {getMovingMean(), "moving_mean"},
                              {getMovingVariance(), "moving_variance"}})))
    return failure();
  return sameAsInput(*this);
}

LogicalResult BatchNormTrainOp::verify() {
  double m = getMomentum().convertToDouble();
  if (m < 0.0 || m > 1.0)
    return emitOpError() << "momentum " << m << " is outside [0, 1]";
  return success();
}

/// The result of a normalization gradient (operands grad, input, gamma): the input's type for
/// operand 0, gamma's for operand 1.
template <class GradOp> static FailureOr<TensorType> normGradType(GradOp op) {
  if (!allRanked(op))
    return unrankedF32(op.getContext());
  if (shapeOf(op.getGrad()) != shapeOf(op.getInput()))
    return op.emitOpError("grad and input must have the same shape");
  if (failed(checkNormParams(op, op.getInput(), op.getAxis(), {{op.getGamma(), "gamma"}})))
    return failure();
  return sameAsOperand(op, static_cast<int64_t>(op.getOperand()) == 0 ? 1 : 2);
}

template <class GradOp> static LogicalResult verifyNormGradOperand(GradOp op) {
  int64_t operand = static_cast<int64_t>(op.getOperand());
  if (operand != 0 && operand != 1)
    return op.emitOpError("operand must be 0 (input) or 1 (gamma)");
  return success();
}

FailureOr<TensorType> BatchNormGradOp::inferResultType() { return normGradType(*this); }

LogicalResult BatchNormGradOp::verify() { return verifyNormGradOperand(*this); }

FailureOr<TensorType> LayerNormOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  if (failed(checkNormParams(*this, getInput(), getAxis(),
                             {{getGamma(), "gamma"}, {getBeta(), "beta"}})))
    return failure();
  return sameAsInput(*this);
}

FailureOr<TensorType> LayerNormGradOp::inferResultType() { return normGradType(*this); }

LogicalResult LayerNormGradOp::verify() { return verifyNormGradOperand(*this); }

//===----------------------------------------------------------------------------------------===//
// Training
//===----------------------------------------------------------------------------------------===//


FailureOr<TensorType> MatMulGradInputOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto dy = shapeOf(getGrad()), k = shapeOf(getKernel());
  if (dy.size() < 2 || k.size() != 2 || dy.back() != k[1])
    return emitOpError() << "gradient " << shapeString(dy) << " does not match kernel "
                         << shapeString(k);
  SmallVector<int64_t> out(dy.begin(), dy.end());
  out.back() = k[0];
  return rankedF32(getContext(), out);
}

FailureOr<TensorType> MatMulGradKernelOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto x = shapeOf(getInput()), dy = shapeOf(getGrad());
  if (x.size() < 2 || x.size() != dy.size() || !std::equal(x.begin(), x.end() - 1, dy.begin()))
    return emitOpError() << "input " << shapeString(x) << " and gradient " << shapeString(dy)
                         << " must agree on all but the last axis";
  return rankedF32(getContext(), {x.back(), dy.back()});
}

FailureOr<TensorType> ReduceToOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  SmallVector<int64_t> target;
  for (int64_t d : toI64s(getShape()))
    target.push_back(d < 0 ? ShapedType::kDynamicSize : d);
  auto b = broadcastShapes(target, shapeOf(getInput()));
  if (failed(b) || ArrayRef<int64_t>(*b) != shapeOf(getInput()))
    return emitOpError() << "shape " << shapeString(target) << " does not broadcast to the input "
                         << shapeString(shapeOf(getInput()));
  return rankedF32(getContext(), target);
}

FailureOr<TensorType> ActivationGradOp::inferResultType() {
  if (allRanked(*this) && getGrad().getType() != getInput().getType())
    return emitOpError("gradient and input must have the same type");
  return sameAsOperand(*this, 1);
}

LogicalResult ActivationGradOp::verify() {
  if (!isKnownActivation(getFn()))
    return emitOpError() << "unknown activation function '" << getFn() << "'";
  return success();
}

FailureOr<TensorType> BinaryGradOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto b = broadcastShapes(shapeOf(getLhs()), shapeOf(getRhs()));
  if (failed(b) || ArrayRef<int64_t>(*b) != shapeOf(getGrad()))
    return emitOpError("gradient must have the broadcast shape of lhs and rhs");
  return sameAsOperand(*this, 0);
}

LogicalResult BinaryGradOp::verify() {
  if (!isKnownBinaryFn(getFn()))
    return emitOpError() << "unknown binary function '" << getFn() << "'";
  if (static_cast<int64_t>(getOperand()) != 0 && static_cast<int64_t>(getOperand()) != 1)
    return emitOpError("operand must be 0 or 1");
  return success();
}

FailureOr<TensorType> PReluGradOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  if (getGrad().getType() != getInput().getType())
    return emitOpError("gradient and input must have the same type");
  if (failed(checkBroadcastsInto(*this, getInput(), getAlpha(), "alpha")))
    return failure();
  return sameAsOperand(*this, 0);
}

FailureOr<TensorType> NormalizeGradOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  if (failed(checkBroadcastsInto(*this, getGrad(), getVariance(), "variance")))
    return failure();
  return sameAsOperand(*this, 0);
}

FailureOr<TensorType> SoftmaxGradOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  int64_t rank = shapeOf(getGrad()).size(), axis = static_cast<int64_t>(getAxis());
  if (getGrad().getType() != getOutput().getType())
    return emitOpError("gradient and output must have the same type");
  if (axis < 1 || axis >= rank)
    return emitOpError() << "axis " << axis << " is out of range [1, " << rank << ")";
  return sameAsOperand(*this, 0);
}

FailureOr<TensorType> SliceOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  auto in = shapeOf(getInput());
  int64_t rank = in.size(), axis = static_cast<int64_t>(getAxis());
  int64_t offset = static_cast<int64_t>(getOffset()), size = static_cast<int64_t>(getSize());
  if (axis < 1 || axis >= rank)
    return emitOpError() << "axis " << axis << " is out of range [1, " << rank << ")";
  if (offset < 0 || size < 1 || offset + size > in[axis])
    return emitOpError() << "range [" << offset << ", " << offset + size << ") is outside axis "
                         << axis << " of size " << in[axis];
  SmallVector<int64_t> out(in.begin(), in.end());
  out[axis] = size;
  return rankedF32(getContext(), out);
}

FailureOr<TensorType> NoiseGradOp::inferResultType() { return sameAsInput(*this); }

/// Losses whose targets are class indices (the prediction's shape without its last axis).
static bool hasSparseTargets(llvm::StringRef fn) {
  return fn == "sparse_categorical_crossentropy";
}

static LogicalResult lossTargetCheck(Operation *op, Value prediction, Value target,
                                     llvm::StringRef fn) {
  auto p = shapeOf(prediction), t = shapeOf(target);
  SmallVector<int64_t> expected(p.begin(), p.end());
  if (hasSparseTargets(fn))
    expected.pop_back();
  if (p.empty() || ArrayRef<int64_t>(expected) != t)
    return op->emitOpError() << "targets of shape " << shapeString(t) << " do not fit predictions "
                             << shapeString(p) << " for loss '" << fn << "' (expected "
                             << shapeString(expected) << ")";
  return success();
}

FailureOr<TensorType> LossOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  if (failed(lossTargetCheck(*this, getPrediction(), getTarget(), getFn())))
    return failure();
  return rankedF32(getContext(), {});
}

LogicalResult LossOp::verify() {
  if (getFn().empty())
    return emitOpError("needs a loss function name");
  return success();
}

FailureOr<TensorType> LossGradOp::inferResultType() {
  if (!allRanked(*this))
    return unrankedF32(getContext());
  if (failed(lossTargetCheck(*this, getPrediction(), getTarget(), getFn())))
    return failure();
  return sameAsOperand(*this, 0);
}

FailureOr<TensorType> RegularizerOp::inferResultType() { return rankedF32(getContext(), {}); }

FailureOr<TensorType> RegularizerGradOp::inferResultType() { return sameAsInput(*this); }

LogicalResult ApplyGradientsOp::verify() {
  if (getWeights().size() != getGrads().size())
    return emitOpError() << "has " << getGrads().size() << " gradients but names "
                         << getWeights().size() << " weights";
  return success();
}

//===----------------------------------------------------------------------------------------===//
// Fusion
//===----------------------------------------------------------------------------------------===//

LogicalResult FusedOp::verify() {
  Block &body = getBody().front();
  if (body.getNumArguments() != getInputs().size())
    return emitOpError("body must take one argument per operand");
  for (auto [arg, operand] : llvm::zip(body.getArguments(), getInputs()))
    if (arg.getType() != operand.getType())
      return emitOpError("body argument types must match the operand types");
  auto yield = dyn_cast<YieldOp>(body.getTerminator());
  if (!yield)
    return emitOpError("body must end with nn.yield");
  if (yield.getValue().getType() != getResult().getType())
    return emitOpError("yielded type must match the result type");
  return success();
}

} // namespace kerasc::nn

#define GET_OP_CLASSES
#include "ir/NNOps.cpp.inc"
