// nn-choose-conv-algorithm: picks how each convolution is computed, from its static shapes, and
// how much scratch memory (workspace) that needs, so that nn-plan-memory can place the scratch
// in the arena like any other buffer.
//
// The choices (what the CPU runtime, runtime/kerasc/conv.h, implements):
//   pointwise  1x1 kernel, stride 1, no padding, one group: the convolution IS a matmul over
//              B * S rows; no scratch.
//   im2col     gather every output position's receptive field into a [rows, K * Cin/g] patch
//              matrix, then one GEMM per group. The GEMM runs at ~80% of peak, which pays for
//              the gather whenever the contraction K * Cin/g is long enough to block well.
//   direct     loops over output positions without scratch: depthwise convolutions (one
//              input channel per group: a GEMM would have K = K... x 1 and gain nothing) and
//              convolutions whose patch rows are too short for the GEMM to beat a direct loop.
// Winograd F(2x2, 3x3) saves 2.25x multiplies on 3x3 stride-1 convolutions, but its transforms
// cost memory traffic and accuracy (Keras-level tolerances of 1e-5 become ~1e-4 on 3x3x64
// layers); it is not implemented, and this pass says so in its record instead of choosing it.
#include "passes/PassDetail.h"

#include "mlir/IR/Builders.h"

#include <optional>

using namespace mlir;

namespace kerasc {
namespace {

int64_t product(ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

SmallVector<int64_t> ints(ArrayAttr attr) {
  SmallVector<int64_t> out;
  for (Attribute a : attr)
    out.push_back(a.cast<IntegerAttr>().getInt());
  return out;
}

ArrayRef<int64_t> shapeOf(Value v) { return v.getType().cast<ShapedType>().getShape(); }

/// Patch rows shorter than this (K... x Cin/groups) go direct: the GEMM's packing and
/// blocking overhead is not repaid on so short a contraction.
constexpr int64_t kMinPatchLength = 4;

struct Choice {
  StringRef algorithm;
  int64_t workspaceBytesPerSample;
  std::string why;
};

/// A convolution for conv.h's one-input-channel row kernels: one input channel and no groups (a
/// grayscale image), unit stride and dilation along w, and an output row (`out` is the
/// convolution's output [B, O..., Cout]) of at most 4096 floats (conv.h's kSingleChannelTile).
bool singleChannelRows(int64_t groups, int64_t inChannels, ArrayAttr strides, ArrayAttr dilations,
                       ArrayRef<int64_t> out) {
  return groups == 1 && inChannels == 1 && ints(strides).back() == 1 &&
         ints(dilations).back() == 1 && out[out.size() - 2] * out.back() <= 4096;
}

Choice chooseConv(nn::ConvOp conv) {
  auto in = shapeOf(conv.getInput()), kernel = shapeOf(conv.getKernel()),
       out = shapeOf(conv.getResult());
  const size_t spatial = in.size() - 2;
  const int64_t groups = static_cast<int64_t>(conv.getGroups());
  const int64_t inPerGroup = in.back() / groups;
  const int64_t kernelPoints = product(kernel.take_front(spatial));
  SmallVector<int64_t> strides = ints(conv.getStrides()), padding = ints(conv.getPadding());
  const bool unitStride = llvm::all_of(strides, [](int64_t s) { return s == 1; });
  const bool unpadded = llvm::all_of(padding, [](int64_t p) { return p == 0; });
  if (kernelPoints == 1 && unitStride && unpadded && groups == 1)
    return {"pointwise", 0, "1x1, stride 1, unpadded: a matmul over every position"};
  if (groups > 1 && inPerGroup == 1)
    return {"direct", 0, "one input channel per group (depthwise): nothing to contract"};
  // The direct kernel vectorizes along the image rows, where im2col's GEMM would have only
  // Cout (6 for LeNet) columns.
  if (singleChannelRows(groups, in.back(), conv.getStrides(), conv.getDilations(), out))
    return {"direct", 0, "one input channel: shifted rows vectorized along the image width"};
  const int64_t patch = kernelPoints * inPerGroup;
  if (patch < kMinPatchLength)
    return {"direct", 0, "patch rows of " + std::to_string(patch) + " are too short for GEMM"};
  return {"im2col", product(out.slice(1, spatial)) * patch * 4,
          "GEMM over patches of " + std::to_string(patch)};
}

Choice chooseConvTranspose(nn::ConvTransposeOp conv) {
  auto in = shapeOf(conv.getInput()), kernel = shapeOf(conv.getKernel());
  const size_t spatial = in.size() - 2;
  const int64_t groups = static_cast<int64_t>(conv.getGroups());
  const int64_t outPerGroup = kernel[spatial]; // kernel is [K..., Cout/g, Cin]
  const int64_t columns = product(kernel.take_front(spatial)) * outPerGroup;
  if (groups > 1 && in.back() / groups == 1)
    return {"direct", 0, "one input channel per group (depthwise): nothing to contract"};
  return {"col2im", product(in.slice(1, spatial)) * columns * 4,
          "GEMM into columns of " + std::to_string(columns) + ", then scatter-add"};
}

Choice chooseGradKernel(nn::ConvGradKernelOp grad) {
  auto in = shapeOf(grad.getInput()), dy = shapeOf(grad.getGrad());
  const size_t spatial = in.size() - 2;
  const int64_t groups = static_cast<int64_t>(grad.getGroups());
  const int64_t inPerGroup = in.back() / groups;
  const int64_t patch = product(ints(grad.getKernelSpatial())) * inPerGroup;
  if (groups > 1 && inPerGroup == 1)
    return {"direct", 0, "one input channel per group (depthwise)"};
  // Dot products of shifted image rows with dy's channels (at most conv.h's
  // kSingleChannelTaps = 256 taps); the GEMM would have only Cout columns.
  if (singleChannelRows(groups, in.back(), grad.getStrides(), grad.getDilations(), dy) &&
      product(ints(grad.getKernelSpatial())) <= 256)
    return {"direct", 0, "one input channel: shifted rows dotted with dy's channels"};
  return {"im2col", product(dy.slice(1, spatial)) * patch * 4,
          "patches^T x dy as one GEMM over the batch's positions"};
}

struct ChooseConvAlgorithmPass : public ChooseConvAlgorithmBase<ChooseConvAlgorithmPass> {
  ChooseConvAlgorithmPass() = default;
  explicit ChooseConvAlgorithmPass(const std::string &forced) { force = forced; }

  void runOnOperation() override {
    if (!force.empty() && force != "direct") {
      getOperation().emitError() << "nn-choose-conv-algorithm: unknown forced algorithm '"
                                 << force << "' (only \"direct\" can be forced)";
      return signalPassFailure();
    }
    Builder b(&getContext());
    getOperation().walk([&](Operation *op) {
      std::optional<Choice> choice;
      if (auto conv = dyn_cast<nn::ConvOp>(op))
        choice = chooseConv(conv);
      else if (auto convT = dyn_cast<nn::ConvTransposeOp>(op))
        choice = chooseConvTranspose(convT);
      else if (auto grad = dyn_cast<nn::ConvGradKernelOp>(op))
        choice = chooseGradKernel(grad);
      if (!choice)
        return;
      // `force` (kerasc --conv-algorithm=direct) compares against the scratch-free loops.
      if (force == "direct")
        choice = Choice{"direct", 0, "forced by --conv-algorithm=direct"};
      op->setAttr("algorithm", b.getStringAttr(choice->algorithm));
      op->setAttr("nn.algorithm_reason", b.getStringAttr(choice->why));
      // The scratch belongs to the kernel that runs: the nn.fused group a fused convolution
      // heads, which is what nn-plan-memory and the code generator see.
      Operation *kernel = op;
      if (auto fused = op->getParentOfType<nn::FusedOp>())
        kernel = fused;
      if (choice->workspaceBytesPerSample > 0)
        kernel->setAttr("nn.workspace_bytes",
                        b.getI64IntegerAttr(choice->workspaceBytesPerSample));
      else
        kernel->removeAttr("nn.workspace_bytes");
    });
  }
};

} // namespace

std::unique_ptr<Pass> createChooseConvAlgorithmPass() {
  return std::make_unique<ChooseConvAlgorithmPass>();
}

std::unique_ptr<Pass> createChooseConvAlgorithmPass(const std::string &force) {
  return std::make_unique<ChooseConvAlgorithmPass>(force);
}

} // namespace kerasc
