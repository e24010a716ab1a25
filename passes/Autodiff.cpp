// nn-autodiff: from the model function, build `<model>_train_step` (forward in training mode,
// loss, reverse-mode backward pass, optimizer step) and `<model>_test_step` (forward and loss).
// The losses come from the model function's `nn.losses` attribute (one dictionary per output,
// set by the importer from Keras's compile config); trainability and regularizers from the
// `nn.trainable` / `nn.regularizer` attributes of nn.weight ops.
#include "passes/PassDetail.h"

#include "mlir/IR/Builders.h"

#include <map>

using namespace mlir;

namespace kerasc {
namespace {

/// Builds ops with inferred result types.
class GradBuilder {
public:
  explicit GradBuilder(OpBuilder &b) : b(b) {}

  template <class OpT, class... Args> Value create(Location loc, Args &&...args) {
    auto op = b.create<OpT>(loc, UnrankedTensorType::get(b.getF32Type()),
                            std::forward<Args>(args)...);
    FailureOr<TensorType> type =
        cast<nn::InferShapeOpInterface>(op.getOperation()).inferResultType();
    if (mlir::failed(type)) {
      failed_ = true;
      return op->getResult(0);
    }
    op->getResult(0).setType(*type);
    return op->getResult(0);
  }
  Value add(Location loc, Value a, Value c) {
    return create<nn::BinaryOp>(loc, a, c, b.getStringAttr("add"));
  }
  /// `g` summed down to the shape of `like` (no-op when the shapes already agree).
  Value reduceTo(Location loc, Value g, Value like) {
    auto target = like.getType().cast<ShapedType>();
    if (g.getType() == like.getType())
      return g;
    SmallVector<int64_t> shape;
    for (int64_t d : target.getShape())
      shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
    return create<nn::ReduceToOp>(loc, g, b.getI64ArrayAttr(shape));
  }
  bool anyFailed() const { return failed_; }
  OpBuilder &b;

private:
  bool failed_ = false;
};

/// ActivityRegularization with a non-zero factor adds a penalty (l1/l2 absent means 0).
bool hasActivityPenalty(nn::NoiseOp noise) {
  return noise.getLayerClass() == "ActivityRegularization" &&
         (noise.getL1().value_or(llvm::APFloat(0.0)).convertToDouble() != 0.0 ||
          noise.getL2().value_or(llvm::APFloat(0.0)).convertToDouble() != 0.0);
}

/// The image augmentation layers (RandomFlip, RandomRotation, RandomZoom, RandomTranslation,
/// RandomContrast): nn.noise with their Keras config.
bool isAugmentation(nn::NoiseOp noise) {
  return noise.getConfigAttr() && noise.getLayerClass().startswith("Random");
}

FloatAttr activityFactor(OpBuilder &b, llvm::Optional<llvm::APFloat> factor) {
  return b.getF64FloatAttr(factor ? factor->convertToDouble() : 0.0);
}

bool isTrainableWeight(nn::WeightOp w) {
  auto flag = w->getAttrOfType<BoolAttr>("nn.trainable");
  return !flag || flag.getValue();
}

struct AutodiffPass : public AutodiffBase<AutodiffPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp model;
    for (auto f : module.getOps<func::FuncOp>())
      if (f->hasAttr("nn.losses"))
        model = f;
    if (!model) {
      module.emitError("nn-autodiff: no function has a training configuration (nn.losses)");
      return signalPassFailure();
    }
    auto losses = model->getAttrOfType<ArrayAttr>("nn.losses");
    if (losses.size() != model.getNumResults()) {
      model.emitError() << "nn.losses has " << losses.size() << " entries for "
                        << model.getNumResults() << " outputs";
      return signalPassFailure();
    }
    if (failed(buildStep(model, losses, /*train=*/false)) ||
        failed(buildStep(model, losses, /*train=*/true)))
      return signalPassFailure();
  }

  /// Clones `model` into a step function taking (inputs..., targets...) and returning
  /// (loss, predictions...). The training step also differentiates and updates.
  LogicalResult buildStep(func::FuncOp model, ArrayAttr losses, bool train) {
    OpBuilder b(model->getContext());
    b.setInsertionPointAfter(model);
    auto step = cast<func::FuncOp>(b.clone(*model));
    step.setName((model.getName() + (train ? "_train_step" : "_test_step")).str());
    step->removeAttr("nn.losses");
    if (train)
      step->setAttr("nn.training", b.getUnitAttr());
    Block &block = step.getBody().front();
    if (train)
      useBatchStatistics(step);
    auto ret = cast<func::ReturnOp>(block.getTerminator());
    SmallVector<Value> predictions(ret.getOperands());
    SmallVector<Operation *> forward;
    for (Operation &op : block.without_terminator())
      forward.push_back(&op);

    // Targets, one per output: the prediction's type, without the class axis for sparse losses.
    SmallVector<Value> targets;
    for (unsigned k = 0; k < predictions.size(); ++k) {
      auto type = predictions[k].getType().cast<ShapedType>();
      SmallVector<int64_t> shape(type.getShape().begin(), type.getShape().end());
      auto loss = losses[k].dyn_cast<DictionaryAttr>();
      auto fn = loss ? loss.getAs<StringAttr>("fn") : StringAttr();
      if (fn && fn.getValue() == "sparse_categorical_crossentropy")
        shape.pop_back();
      unsigned index = block.getNumArguments();
      step.insertArgument(index, RankedTensorType::get(shape, type.getElementType()),
                          b.getDictionaryAttr({b.getNamedAttr(
                              "nn.name", b.getStringAttr(fmt("target", k)))}),
                          step.getLoc());
      targets.push_back(block.getArgument(index));
    }

    b.setInsertionPoint(ret);
    GradBuilder g(b);
    Location lossLoc = NameLoc::get(b.getStringAttr("loss"));
    Value total;
    for (unsigned k = 0; k < predictions.size(); ++k) {
      auto loss = losses[k].dyn_cast<DictionaryAttr>();
      if (!loss || !loss.get("fn"))
        continue; // Keras allows outputs without a loss
      Value l = g.create<nn::LossOp>(lossLoc, predictions[k], targets[k],
                                     loss.getAs<StringAttr>("fn"),
                                     loss.getAs<DictionaryAttr>("config"),
                                     loss.getAs<FloatAttr>("weight"));
      total = total ? g.add(lossLoc, total, l) : l;
    }
    if (!total)
      return step.emitError("no output has a loss");

    // Regularization penalties (Keras adds layer.losses to the loss), once per weight name.
    std::map<std::string, nn::WeightOp> trainableWeights; // name -> first op
    SmallVector<std::string> weightOrder;
    for (Operation *op : forward)
      if (auto w = dyn_cast<nn::WeightOp>(op))
        if (isTrainableWeight(w) && !trainableWeights.count(w.getName().str())) {
          trainableWeights[w.getName().str()] = w;
          weightOrder.push_back(w.getName().str());
        }
    Location regLoc = NameLoc::get(b.getStringAttr("regularization"));
    for (const std::string &name : weightOrder) {
      nn::WeightOp w = trainableWeights[name];
      if (auto reg = w->getAttrOfType<DictionaryAttr>("nn.regularizer"))
        total = g.add(regLoc, total,
                      g.create<nn::RegularizerOp>(w.getLoc(), w.getResult(),
                                                  reg.getAs<FloatAttr>("l1"),
                                                  reg.getAs<FloatAttr>("l2"), BoolAttr()));
    }
    // ActivityRegularization: a penalty on its input, divided by the batch size (Keras 3 does
    // so for every activity regularizer), in both steps; the layer itself is an identity.
    for (Operation *op : forward)
      if (auto noise = dyn_cast<nn::NoiseOp>(op))
        if (hasActivityPenalty(noise))
          total = g.add(regLoc, total,
                        g.create<nn::RegularizerOp>(noise.getLoc(), noise.getInput(),
                                                    activityFactor(b, noise.getL1()),
                                                    activityFactor(b, noise.getL2()),
                                                    b.getBoolAttr(true)));

    if (train && failed(buildBackward(step, g, forward, predictions, targets, losses,
                                      trainableWeights, weightOrder)))
      return failure();
    if (g.anyFailed())
      return step.emitError("nn-autodiff built an ill-typed op");

    SmallVector<Value> results{total};
    results.append(predictions);
    b.setInsertionPoint(ret);
    b.create<func::ReturnOp>(ret.getLoc(), results);
    ret.erase();
    step.setType(FunctionType::get(step.getContext(), step.getArgumentTypes(),
                                   ValueRange(results).getTypes()));
    step.setResultAttr(0, "nn.name", b.getStringAttr("loss"));
    for (unsigned k = 0; k < predictions.size(); ++k)
      if (auto name = model.getResultAttrOfType<StringAttr>(k, "nn.name"))
        step.setResultAttr(k + 1, "nn.name", name);
    return success();
  }

  static std::string fmt(const char *base, unsigned k) { return base + std::to_string(k); }

  /// Keras 3 runs a BatchNormalization in training mode (batch statistics, moving statistics
  /// updated) when the step trains and the layer is trainable: each nn.batch_norm of the
  /// training step becomes nn.batch_norm_train, except those of frozen layers (marked
  /// `nn.trainable = false` by the importer), which stay in inference mode. The momentum comes
  /// from the importer's `nn.momentum` (Keras's default 0.99 without it).
  static void useBatchStatistics(func::FuncOp step) {
    SmallVector<nn::BatchNormOp> norms;
    step.walk([&](nn::BatchNormOp bn) {
      auto trainable = bn->getAttrOfType<BoolAttr>("nn.trainable");
      if (!trainable || trainable.getValue())
        norms.push_back(bn);
    });
    for (nn::BatchNormOp bn : norms) {
      OpBuilder b(bn);
      auto momentum = bn->getAttrOfType<FloatAttr>("nn.momentum");
      auto train = b.create<nn::BatchNormTrainOp>(
          bn.getLoc(), bn.getType(), bn.getInput(), bn.getGamma(), bn.getBeta(), bn.getMean(),
          bn.getVariance(), bn.getAxisAttr(), bn.getEpsilonAttr(),
          momentum ? momentum : b.getF64FloatAttr(0.99));
      bn.getResult().replaceAllUsesWith(train.getResult());
      bn.erase();
    }
  }

  LogicalResult buildBackward(func::FuncOp step, GradBuilder &g, ArrayRef<Operation *> forward,
                              ArrayRef<Value> predictions, ArrayRef<Value> targets,
                              ArrayAttr losses, std::map<std::string, nn::WeightOp> &weights,
                              ArrayRef<std::string> weightOrder) {
    OpBuilder &b = g.b;
    // Values that depend on a trainable weight: only they need gradients.
    llvm::DenseSet<Value> needs;
    for (Operation *op : forward) {
      if (auto w = dyn_cast<nn::WeightOp>(op)) {
        if (isTrainableWeight(w))
          needs.insert(w.getResult());
        continue;
      }
      if (llvm::any_of(op->getOperands(), [&](Value v) { return needs.contains(v); }))
        for (Value r : op->getResults())
          needs.insert(r);
    }

    llvm::DenseMap<Value, Value> grads;
    auto accumulate = [&](Location loc, Value v, Value dv) {
      if (!needs.contains(v))
        return;
      auto it = grads.find(v);
      if (it == grads.end())
        grads[v] = dv;
      else
        it->second = g.add(loc, it->second, dv);
    };

    for (unsigned k = 0; k < predictions.size(); ++k) {
      auto loss = losses[k].dyn_cast<DictionaryAttr>();
      if (!loss || !loss.get("fn"))
        continue;
      accumulate(NameLoc::get(b.getStringAttr("loss")), predictions[k],
                 g.create<nn::LossGradOp>(NameLoc::get(b.getStringAttr("loss")), predictions[k],
                                          targets[k], loss.getAs<StringAttr>("fn"),
                                          loss.getAs<DictionaryAttr>("config"),
                                          loss.getAs<FloatAttr>("weight")));
    }

    int64_t noiseStreams = 0;
    for (Operation *op : llvm::reverse(forward)) {
      if (isa<nn::WeightOp>(op))
        continue;
      auto it = grads.find(op->getResult(0));
      if (it == grads.end())
        continue;
      Value dy = it->second;
      Location loc = op->getLoc();
      if (auto mm = dyn_cast<nn::MatMulOp>(op)) {
        if (needs.contains(mm.getInput()))
          accumulate(loc, mm.getInput(),
                     g.create<nn::MatMulGradInputOp>(loc, dy, mm.getKernel()));
        if (needs.contains(mm.getKernel()))
          accumulate(loc, mm.getKernel(),
                     g.create<nn::MatMulGradKernelOp>(loc, mm.getInput(), dy));
      } else if (isa<nn::ConvOp, nn::ConvTransposeOp>(op)) {
        // Convolutions. nn.conv's input gradient is the transposed convolution of dy with the
        // same kernel and attributes, its after-padding reduced by the rows the forward
        // convolution's stride skipped at the end, r = (S + b + a - d(K-1) - 1) mod s, so the
        // result is exactly S long. nn.conv_transpose's input gradient is nn.conv of dy with
        // the same attributes. Both kernel gradients are nn.conv_grad_kernel of (the
        // convolution's input, its output gradient): for the transpose, dy is that input.
        Value x = op->getOperand(0), w = op->getOperand(1);
        auto strides = op->getAttrOfType<ArrayAttr>("strides");
        auto dilations = op->getAttrOfType<ArrayAttr>("dilations");
        auto padding = op->getAttrOfType<ArrayAttr>("padding");
        auto groups = op->getAttrOfType<IntegerAttr>("groups");
        auto xType = x.getType().cast<ShapedType>(), wType = w.getType().cast<ShapedType>();
        const int64_t spatial = xType.getRank() - 2;
        SmallVector<int64_t> kernelSpatial(wType.getShape().begin(),
                                           wType.getShape().begin() + spatial);
        auto at = [](ArrayAttr a, int64_t i) { return a[i].cast<IntegerAttr>().getInt(); };
        const bool transposed = isa<nn::ConvTransposeOp>(op);
        if (needs.contains(x)) {
          if (transposed) {
            accumulate(loc, x,
                       g.create<nn::ConvOp>(loc, dy, w, strides, dilations, padding, groups,
                                            StringAttr()));
          } else {
            SmallVector<int64_t> pads;
            for (int64_t i = 0; i < spatial; ++i) {
              const int64_t size = xType.getDimSize(i + 1), s = at(strides, i);
              const int64_t before = at(padding, 2 * i), after = at(padding, 2 * i + 1);
              const int64_t r =
                  (size + before + after - at(dilations, i) * (kernelSpatial[i] - 1) - 1) % s;
              pads.push_back(before);
              pads.push_back(after - r);
            }
            accumulate(loc, x,
                       g.create<nn::ConvTransposeOp>(loc, dy, w, strides, dilations,
                                                     b.getI64ArrayAttr(pads), groups,
                                                     StringAttr()));
          }
        }
        if (needs.contains(w))
          accumulate(loc, w,
                     g.create<nn::ConvGradKernelOp>(loc, transposed ? dy : x, transposed ? x : dy,
                                                    strides, dilations, padding, groups,
                                                    b.getI64ArrayAttr(kernelSpatial),
                                                    StringAttr()));
      } else if (auto bn = dyn_cast<nn::BatchNormTrainOp>(op)) {
        // Training-mode BatchNormalization: the gradient flows through the batch statistics
        // too (nn.batch_norm_grad recomputes them from the input); beta's is dy summed. The
        // moving statistics are not differentiated (Keras assigns them outside the tape).
        if (needs.contains(bn.getInput()))
          accumulate(loc, bn.getInput(),
                     g.create<nn::BatchNormGradOp>(loc, dy, bn.getInput(), bn.getGamma(),
                                                   bn.getAxisAttr(), bn.getEpsilonAttr(),
                                                   b.getI64IntegerAttr(0)));
        if (needs.contains(bn.getGamma()))
          accumulate(loc, bn.getGamma(),
                     g.create<nn::BatchNormGradOp>(loc, dy, bn.getInput(), bn.getGamma(),
                                                   bn.getAxisAttr(), bn.getEpsilonAttr(),
                                                   b.getI64IntegerAttr(1)));
        if (needs.contains(bn.getBeta()))
          accumulate(loc, bn.getBeta(), g.reduceTo(loc, dy, bn.getBeta()));
      } else if (auto bn = dyn_cast<nn::BatchNormOp>(op)) {
        // Inference-mode BatchNormalization (a frozen layer): y = x * gamma / sqrt(var + eps)
        // + const, so dx = dy / sqrt(var + eps) * gamma, built from existing elementwise ops
        // (nn.normalize_grad with epsilon 0 divides by sqrt of its variance operand).
        // A frozen layer's gamma, beta and statistics are constants.
        for (Value param : {bn.getGamma(), bn.getBeta(), bn.getMean(), bn.getVariance()})
          if (needs.contains(param))
            return bn.emitOpError("nn-autodiff: an inference-mode batch_norm (a frozen "
                                  "BatchNormalization) with trainable parameters");
        Value shifted = g.create<nn::RescaleOp>(loc, bn.getVariance(), b.getF64FloatAttr(1.0),
                                                bn.getEpsilonAttr());
        Value scaled = g.create<nn::NormalizeGradOp>(loc, dy, shifted, b.getF64FloatAttr(0.0),
                                                     b.getBoolAttr(false));
        accumulate(loc, bn.getInput(),
                   g.create<nn::BinaryOp>(loc, scaled, bn.getGamma(), b.getStringAttr("mul")));
      } else if (auto ln = dyn_cast<nn::LayerNormOp>(op)) {
        if (needs.contains(ln.getInput()))
          accumulate(loc, ln.getInput(),
                     g.create<nn::LayerNormGradOp>(loc, dy, ln.getInput(), ln.getGamma(),
                                                   ln.getAxisAttr(), ln.getEpsilonAttr(),
                                                   ln.getRmsScalingAttr(),
                                                   b.getI64IntegerAttr(0)));
        if (needs.contains(ln.getGamma()))
          accumulate(loc, ln.getGamma(),
                     g.create<nn::LayerNormGradOp>(loc, dy, ln.getInput(), ln.getGamma(),
                                                   ln.getAxisAttr(), ln.getEpsilonAttr(),
                                                   ln.getRmsScalingAttr(),
                                                   b.getI64IntegerAttr(1)));
        // rms_scaling has no beta (the importer passes a constant 0 that nothing reads).
        if (needs.contains(ln.getBeta()))
          accumulate(loc, ln.getBeta(), g.reduceTo(loc, dy, ln.getBeta()));
      } else if (auto bias = dyn_cast<nn::BiasAddOp>(op)) {
        accumulate(loc, bias.getInput(), dy);
        if (needs.contains(bias.getBias()))
          accumulate(loc, bias.getBias(), g.reduceTo(loc, dy, bias.getBias()));
      } else if (auto act = dyn_cast<nn::ActivationOp>(op)) {
        // Plain relu and relu6 have the same derivative at x and at y = f(x) (y > 0 exactly
        // when x > 0; 0 < y < 6 exactly when 0 < x < 6). Differentiating at the output leaves
        // the pre-activation with one use, so matmul + bias + relu still fuse in the training
        // step and the pre-activation buffer is not kept for the backward pass.
        const bool plainRelu =
            (act.getFn() == "relu" || act.getFn() == "relu6") && !act.getMaxValueAttr() &&
            !act.getThresholdAttr() && (!act.getAlphaAttr() || act.getAlpha()->isZero());
        if (act.getFn() == "linear")
          accumulate(loc, act.getInput(), dy);
        else
          accumulate(loc, act.getInput(),
                     g.create<nn::ActivationGradOp>(
                         loc, dy, plainRelu ? act.getResult() : act.getInput(), act.getFnAttr(),
                         act.getAlphaAttr(), act.getMaxValueAttr(), act.getThresholdAttr()));
      } else if (auto rescale = dyn_cast<nn::RescaleOp>(op)) {
        accumulate(loc, rescale.getInput(),
                   g.create<nn::RescaleOp>(loc, dy, rescale.getScaleAttr(),
                                           b.getF64FloatAttr(0.0)));
      } else if (auto bin = dyn_cast<nn::BinaryOp>(op)) {
        Value operands[2] = {bin.getLhs(), bin.getRhs()};
        for (int64_t i = 0; i < 2; ++i) {
          if (!needs.contains(operands[i]))
            continue;
          Value d = bin.getFn() == "add"
                        ? dy
                        : g.create<nn::BinaryGradOp>(loc, dy, bin.getLhs(), bin.getRhs(),
                                                     bin.getFnAttr(), b.getI64IntegerAttr(i));
          accumulate(loc, operands[i], g.reduceTo(loc, d, operands[i]));
        }
      } else if (auto norm = dyn_cast<nn::NormalizeOp>(op)) {
        accumulate(loc, norm.getInput(),
                   g.create<nn::NormalizeGradOp>(loc, dy, norm.getVariance(),
                                                 norm.getEpsilonAttr(), norm.getInvertAttr()));
      } else if (auto prelu = dyn_cast<nn::PReluOp>(op)) {
        if (needs.contains(prelu.getInput()))
          accumulate(loc, prelu.getInput(),
                     g.create<nn::PReluGradOp>(loc, dy, prelu.getInput(), prelu.getAlpha(),
                                               b.getI64IntegerAttr(0)));
        if (needs.contains(prelu.getAlpha()))
          accumulate(loc, prelu.getAlpha(),
                     g.reduceTo(loc,
                                g.create<nn::PReluGradOp>(loc, dy, prelu.getInput(),
                                                          prelu.getAlpha(),
                                                          b.getI64IntegerAttr(1)),
                                prelu.getAlpha()));
      } else if (auto softmax = dyn_cast<nn::SoftmaxOp>(op)) {
        accumulate(loc, softmax.getInput(),
                   g.create<nn::SoftmaxGradOp>(loc, dy, softmax.getResult(),
                                               softmax.getAxisAttr(), softmax.getLogAttr()));
      } else if (auto pool = dyn_cast<nn::PoolOp>(op)) {
        // Pooling, padding/cropping and upsampling. Max pooling's gradient needs the input
        // (to find each window's maximum again); the others are linear in their input.
        accumulate(loc, pool.getInput(),
                   g.create<nn::PoolGradOp>(loc, dy, pool.getInput(), pool.getKindAttr(),
                                            pool.getWindowAttr(), pool.getStridesAttr(),
                                            pool.getPaddingAttr()));
      } else if (auto pad = dyn_cast<nn::PadOp>(op)) {
        // Padding and cropping are each other's adjoints: the same pads, negated.
        SmallVector<int64_t> negated;
        for (Attribute p : pad.getPads())
          negated.push_back(-p.cast<IntegerAttr>().getInt());
        accumulate(loc, pad.getInput(),
                   g.create<nn::PadOp>(loc, dy, b.getI64ArrayAttr(negated)));
      } else if (auto resize = dyn_cast<nn::ResizeOp>(op)) {
        accumulate(loc, resize.getInput(),
                   g.create<nn::ResizeGradOp>(loc, dy, resize.getScaleAttr(),
                                              resize.getMethodAttr()));
      } else if (auto reshape = dyn_cast<nn::ReshapeOp>(op)) {
        auto in = reshape.getInput().getType().cast<ShapedType>();
        accumulate(loc, reshape.getInput(),
                   g.create<nn::ReshapeOp>(loc, dy, b.getI64ArrayAttr(in.getShape().drop_front())));
      } else if (auto transpose = dyn_cast<nn::TransposeOp>(op)) {
        SmallVector<int64_t> inverse(transpose.getPerm().size());
        for (auto p : llvm::enumerate(transpose.getPerm()))
          inverse[p.value().cast<IntegerAttr>().getInt()] = p.index();
        accumulate(loc, transpose.getInput(),
                   g.create<nn::TransposeOp>(loc, dy, b.getI64ArrayAttr(inverse)));
      } else if (auto repeat = dyn_cast<nn::RepeatOp>(op)) {
        int64_t features = repeat.getInput().getType().cast<ShapedType>().getDimSize(1);
        Value summed = g.create<nn::ReduceToOp>(loc, dy, b.getI64ArrayAttr({-1, 1, features}));
        accumulate(loc, repeat.getInput(),
                   g.create<nn::ReshapeOp>(loc, summed, b.getI64ArrayAttr({features})));
      } else if (auto concat = dyn_cast<nn::ConcatOp>(op)) {
        int64_t axis = static_cast<int64_t>(concat.getAxis()), offset = 0;
        for (Value in : concat.getInputs()) {
          int64_t size = in.getType().cast<ShapedType>().getDimSize(axis);
          if (needs.contains(in))
            accumulate(loc, in,
                       g.create<nn::SliceOp>(loc, dy, concat.getAxisAttr(),
                                             b.getI64IntegerAttr(offset),
                                             b.getI64IntegerAttr(size)));
          offset += size;
        }
      } else if (auto noise = dyn_cast<nn::NoiseOp>(op);
                 noise && noise.getLayerClass() == "ActivityRegularization") {
        accumulate(loc, noise.getInput(), dy);
        if (hasActivityPenalty(noise))
          accumulate(loc, noise.getInput(),
                     g.create<nn::RegularizerGradOp>(loc, noise.getInput(),
                                                     activityFactor(b, noise.getL1()),
                                                     activityFactor(b, noise.getL2()),
                                                     b.getBoolAttr(true)));
      } else if (auto noise = dyn_cast<nn::NoiseOp>(op); noise && isAugmentation(noise)) {
        // Image augmentation layers belong on the model input, where no gradient reaches them.
        // A flip is a permutation that is its own inverse, so its gradient is dy flipped by the
        // same draws; the resampling layers (rotation, zoom, translation) and contrast are not
        // differentiated.
        if (noise.getLayerClass() != "RandomFlip") {
          std::vector<std::string> layers = nn::layerNames(loc);
          return noise.emitOpError() << "layer '" << (layers.empty() ? "?" : layers[0]) << "' ("
                                     << noise.getLayerClass()
                                     << "): a gradient would have to flow through this "
                                        "augmentation layer, which kerasc does not differentiate; "
                                        "put it before every trainable layer (on the input)";
        }
        IntegerAttr stream = b.getI64IntegerAttr(noiseStreams++);
        noise->setAttr("stream", stream);
        Value dx = g.create<nn::NoiseGradOp>(loc, dy, noise.getLayerClassAttr(),
                                             noise.getRateAttr(), stream);
        dx.getDefiningOp()->setAttr("config", noise.getConfigAttr());
        accumulate(loc, noise.getInput(), dx);
      } else if (auto noise = dyn_cast<nn::NoiseOp>(op)) {
        IntegerAttr stream = b.getI64IntegerAttr(noiseStreams++);
        noise->setAttr("stream", stream);
        Value dx = g.create<nn::NoiseGradOp>(loc, dy, noise.getLayerClassAttr(),
                                             noise.getRateAttr(), stream);
        // SpatialDropout's backward pass must draw per channel of the same layout as its
        // forward pass (its channels_first data).
        if (BoolAttr channelsFirst = noise.getChannelsFirstAttr())
          dx.getDefiningOp()->setAttr("channels_first", channelsFirst);
        accumulate(loc, noise.getInput(), dx);
      } else {
        return op->emitOpError("nn-autodiff has no gradient rule for this op");
      }
    }
    // Noise layers that no gradient reached still draw in training mode.
    for (Operation *op : forward)
      if (auto noise = dyn_cast<nn::NoiseOp>(op))
        if (!noise->hasAttr("stream") && noise.getLayerClass() != "ActivityRegularization")
          noise->setAttr("stream", b.getI64IntegerAttr(noiseStreams++));

    // Weight gradients, summed over every use of the weight (shared layers), plus the
    // regularizer's gradient.
    SmallVector<Value> weightGrads;
    SmallVector<Attribute> names;
    Location optLoc = NameLoc::get(b.getStringAttr("optimizer"));
    for (const std::string &name : weightOrder) {
      Value total;
      for (Operation *op : forward)
        if (auto w = dyn_cast<nn::WeightOp>(op))
          if (w.getName() == name)
            if (Value d = grads.lookup(w.getResult()))
              total = total ? g.add(optLoc, total, d) : d;
      nn::WeightOp w = weights[name];
      if (auto reg = w->getAttrOfType<DictionaryAttr>("nn.regularizer")) {
        Value d = g.create<nn::RegularizerGradOp>(w.getLoc(), w.getResult(),
                                                  reg.getAs<FloatAttr>("l1"),
                                                  reg.getAs<FloatAttr>("l2"), BoolAttr());
        total = total ? g.add(optLoc, total, d) : d;
      }
      if (!total)
        continue; // a trainable weight the loss does not depend on: Keras leaves it alone
      weightGrads.push_back(total);
      names.push_back(b.getStringAttr(name));
    }
    b.create<nn::ApplyGradientsOp>(optLoc, weightGrads, b.getArrayAttr(names));
    // ActivityRegularization has done its work (the penalty and its gradient) and leaves as
    // the identity it is.
    for (Operation *op : forward)
      if (auto noise = dyn_cast<nn::NoiseOp>(op))
        if (noise.getLayerClass() == "ActivityRegularization") {
          noise.getResult().replaceAllUsesWith(noise.getInput());
          noise.erase();
        }
    return success();
  }
};

} // namespace

std::unique_ptr<Pass> createAutodiffPass() { return std::make_unique<AutodiffPass>(); }

} // namespace kerasc
