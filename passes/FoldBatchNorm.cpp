// nn-fold-batch-norm: an inference-mode BatchNormalization right after a Dense or convolution
// is an affine map per output channel, so it folds into that layer's weights:
//   scale = gamma / sqrt(variance + epsilon)
//   kernel'[..., c] = kernel[..., c] * scale[c]
//   bias'[c] = (bias[c] - mean[c]) * scale[c] + beta[c]     (bias = 0 without one)
// and nn.batch_norm(nn.bias_add(nn.matmul|nn.conv(x, kernel), bias)) becomes
// nn.bias_add(nn.matmul|nn.conv(x, kernel'), bias'): one elementwise pass less, and the
// bias_add fuses into the GEMM's epilogue.
//
// The folded weights are new nn.weight constants named after the originals
// ("dense/kernel" + BatchNormalization "bn" -> "dense/kernel.folded_bn"; a bias the layer did
// not have: "bn/folded_bias"). With a WeightStore (kerasc compile) their data is computed and
// added to it; without one (kerasc-opt, the lit test) only the IR is rewritten. The original
// weights stay in the store (a shared kernel may still be used elsewhere); nn.weight ops left
// without users are erased so that generated code does not carry them.
#include "passes/PassDetail.h"

#include "ir/WeightStore.h"

#include "mlir/IR/Builders.h"

#include <cmath>
#include <mutex>

using namespace mlir;

namespace kerasc {
namespace {

/// The producer's output channel is its result's last axis: nn.matmul ([..., N]) and nn.conv
/// (kernel [K..., Cin/g, Cout]) have the channel last in the kernel too. nn.conv_transpose's
/// kernel is [K..., Cout/g, Cin], so it is not folded.
bool isFoldableProducer(Operation *op) { return isa_and_nonnull<nn::MatMulOp, nn::ConvOp>(op); }

/// Layer name of a weight ("dense/kernel" -> "dense").
std::string layerOf(llvm::StringRef weight) { return weight.rsplit('/').first.str(); }

struct FoldBatchNormPass : public FoldBatchNormBase<FoldBatchNormPass> {
  FoldBatchNormPass() = default;
  explicit FoldBatchNormPass(WeightStore *weights) : weights(weights) {}

  void runOnOperation() override {
    // Training functions update gamma, beta and the statistics: nothing is constant there.
    if (getOperation()->hasAttr("nn.training"))
      return;
    SmallVector<nn::BatchNormOp> candidates;
    getOperation().walk([&](nn::BatchNormOp bn) { candidates.push_back(bn); });
    for (nn::BatchNormOp bn : candidates)
      if (failed(fold(bn)))
        return signalPassFailure();
    // Weights nothing reads any more (the unfolded kernels and statistics).
    SmallVector<nn::WeightOp> dead;
    getOperation().walk([&](nn::WeightOp w) {
      if (w->use_empty())
        dead.push_back(w);
    });
    for (nn::WeightOp w : dead)
      w->erase();
  }

  /// A producer chain fold() can rewrite: [nn.bias_add of a weight <-] nn.matmul / nn.conv with
  /// a weight kernel, each result used once.
  static bool foldableChain(Value v) {
    if (auto add = v.getDefiningOp<nn::BiasAddOp>()) {
      if (!add->hasOneUse() || !add.getBias().getDefiningOp<nn::WeightOp>())
        return false;
      v = add.getInput();
    }
    Operation *producer = v.getDefiningOp();
    return isFoldableProducer(producer) && producer->hasOneUse() &&
           producer->getOperand(1).getDefiningOp<nn::WeightOp>();
  }

  /// channels_first layers are imported as transpose -> op -> transpose, so a
  /// BatchNormalization(axis=1) after a channels_first Conv2D reads a transpose of the
  /// convolution. When that transpose moves the producer's channels (its last axis) to the
  /// normalized axis, the BatchNormalization moves before it, over the last axis (the same
  /// weights, typed [C]): transpose(bn(conv)) == bn(transpose(conv)) per channel.
  nn::BatchNormOp moveBeforeTranspose(nn::BatchNormOp bn) {
    auto transpose = bn.getInput().getDefiningOp<nn::TransposeOp>();
    if (!transpose || !transpose->hasOneUse() || !foldableChain(transpose.getInput()))
      return bn;
    auto inType = transpose.getInput().getType().cast<ShapedType>();
    const int64_t axis = bn.getAxis();
    if (transpose.getPerm()[axis].cast<IntegerAttr>().getInt() != inType.getRank() - 1)
      return bn;
    OpBuilder b(bn);
    const int64_t channels = inType.getShape().back();
    auto paramType = RankedTensorType::get({channels}, inType.getElementType());
    SmallVector<Value, 4> params;
    for (Value p : {bn.getGamma(), bn.getBeta(), bn.getMean(), bn.getVariance()}) {
      auto w = p.getDefiningOp<nn::WeightOp>();
      if (!w || w.getType().cast<ShapedType>().getNumElements() != channels)
        return bn;
      auto copy = cast<nn::WeightOp>(b.clone(*w));
      copy.getResult().setType(paramType);
      params.push_back(copy.getResult());
    }
    auto moved = b.create<nn::BatchNormOp>(
        bn.getLoc(), inType, transpose.getInput(), params[0], params[1], params[2], params[3],
        b.getI64IntegerAttr(inType.getRank() - 1), bn.getEpsilonAttr());
    auto after = b.create<nn::TransposeOp>(transpose.getLoc(), bn.getType(), moved.getResult(),
                                           transpose.getPermAttr());
    bn.getResult().replaceAllUsesWith(after.getResult());
    bn.erase();
    transpose.erase();
    return moved;
  }

  LogicalResult fold(nn::BatchNormOp bn) {
    bn = moveBeforeTranspose(bn);
    auto inType = bn.getInput().getType().cast<ShapedType>();
    if (static_cast<int64_t>(bn.getAxis()) != inType.getRank() - 1)
      return success(); // per-channel only along the producer's output channels
    nn::WeightOp stats[4];
    Value params[4] = {bn.getGamma(), bn.getBeta(), bn.getMean(), bn.getVariance()};
    for (int i = 0; i < 4; ++i)
      if (!(stats[i] = params[i].getDefiningOp<nn::WeightOp>()))
        return success(); // statistics computed at run time
    // x -> [bias_add ->] batch_norm, each intermediate with no other use.
    Value in = bn.getInput();
    nn::BiasAddOp biasAdd = in.getDefiningOp<nn::BiasAddOp>();
    nn::WeightOp bias;
    if (biasAdd) {
      if (!biasAdd->hasOneUse() || !(bias = biasAdd.getBias().getDefiningOp<nn::WeightOp>()))
        return success();
      in = biasAdd.getInput();
    }
    Operation *producer = in.getDefiningOp();
    if (!isFoldableProducer(producer) || !producer->hasOneUse())
      return success();
    auto kernel = producer->getOperand(1).getDefiningOp<nn::WeightOp>();
    if (!kernel)
      return success();
    auto kernelType = kernel.getType().cast<ShapedType>();
    const int64_t channels = kernelType.getShape().back();
    if (inType.getShape().back() != channels)
      return success();

    const std::string bnLayer = layerOf(stats[0].getName());
    const std::string kernelName = kernel.getName().str() + ".folded_" + bnLayer;
    const std::string biasName =
        bias ? bias.getName().str() + ".folded_" + bnLayer : bnLayer + "/folded_bias";
    if (weights && failed(computeWeights(bn, kernel, bias, stats, channels, kernelName, biasName)))
      return failure();

    OpBuilder b(bn);
    auto constant = [&](const std::string &name, Type type) {
      auto w = b.create<nn::WeightOp>(kernel.getLoc(), type, b.getStringAttr(name));
      w->setAttr("nn.trainable", b.getBoolAttr(false));
      return w.getResult();
    };
    Value newKernel = constant(kernelName, kernelType);
    Value newBias =
        constant(biasName, RankedTensorType::get({channels}, kernelType.getElementType()));
    Operation *folded = b.clone(*producer);
    folded->setOperand(1, newKernel);
    // The folded group carries the producer's and the BatchNormalization's layer names.
    folded->setLoc(b.getFusedLoc({producer->getLoc(), bn.getLoc()}));
    auto add = b.create<nn::BiasAddOp>(b.getFusedLoc({producer->getLoc(), bn.getLoc()}),
                                       bn.getType(), folded->getResult(0), newBias);
    bn.getResult().replaceAllUsesWith(add.getResult());
    bn.erase();
    if (biasAdd)
      biasAdd.erase();
    producer->erase();
    return success();
  }

  /// Adds the folded kernel and bias to the weight store (float32 like Keras: scale =
  /// gamma * rsqrt(variance + epsilon)).
  LogicalResult computeWeights(nn::BatchNormOp bn, nn::WeightOp kernel, nn::WeightOp bias,
                               nn::WeightOp *stats, int64_t channels,
                               const std::string &kernelName, const std::string &biasName) {
    static std::mutex storeMutex; // function passes may run in parallel on one store
    std::lock_guard<std::mutex> lock(storeMutex);
    auto find = [&](nn::WeightOp w) -> const WeightTensor * {
      auto it = weights->find(w.getName().str());
      if (it == weights->end() || static_cast<int64_t>(it->second.data.size()) !=
                                      w.getType().cast<ShapedType>().getNumElements()) {
        w.emitOpError() << "nn-fold-batch-norm: weight '" << w.getName()
                        << "' is missing from the weight store or has the wrong size";
        return nullptr;
      }
      return &it->second;
    };
    const WeightTensor *k = find(kernel), *bi = bias ? find(bias) : nullptr;
    const WeightTensor *s[4];
    for (int i = 0; i < 4; ++i)
      if (!(s[i] = find(stats[i])))
        return failure();
    if (!k || (bias && !bi))
      return failure();
    for (int i = 0; i < 4; ++i)
      if (static_cast<int64_t>(s[i]->data.size()) != channels)
        return bn.emitOpError() << "nn-fold-batch-norm: statistics of " << s[i]->data.size()
                                << " values for " << channels << " channels";
    const float epsilon = static_cast<float>(bn.getEpsilon().convertToDouble());
    std::vector<float> scale(channels), newBias(channels);
    for (int64_t c = 0; c < channels; ++c) {
      scale[c] = 1.0f / std::sqrt(s[3]->data[c] + epsilon) * s[0]->data[c];
      const float b0 = bi ? bi->data[c] : 0.0f;
      newBias[c] = (b0 - s[2]->data[c]) * scale[c] + s[1]->data[c];
    }
    WeightTensor folded;
    folded.shape = k->shape; // the element order is the original's; the channel is innermost
    folded.data = k->data;
    for (size_t i = 0; i < folded.data.size(); ++i)
      folded.data[i] *= scale[i % channels];
    folded.trainable = false;
    (*weights)[kernelName] = std::move(folded);
    WeightTensor foldedBias;
    foldedBias.shape = {channels};
    foldedBias.data = std::move(newBias);
    foldedBias.trainable = false;
    (*weights)[biasName] = std::move(foldedBias);
    return success();
  }

  WeightStore *weights = nullptr;
};

} // namespace

std::unique_ptr<Pass> createFoldBatchNormPass() { return std::make_unique<FoldBatchNormPass>(); }

std::unique_ptr<Pass> createFoldBatchNormPass(WeightStore *weights) {
  return std::make_unique<FoldBatchNormPass>(weights);
}

} // namespace kerasc
