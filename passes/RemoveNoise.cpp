// nn-remove-noise: training-only noise/regularization layers are identities at inference.
#include "passes/PassDetail.h"

using namespace mlir;

namespace kerasc {
namespace {

struct RemoveNoisePass : public RemoveNoiseBase<RemoveNoisePass> {
  void runOnOperation() override {
    if (getOperation()->hasAttr("nn.training"))
      return; // dropout and noise are what training is for
    getOperation().walk([](nn::NoiseOp op) {
      op.getResult().replaceAllUsesWith(op.getInput());
      op.erase();
    });
  }
};

} // namespace

std::unique_ptr<Pass> createRemoveNoisePass() { return std::make_unique<RemoveNoisePass>(); }

} // namespace kerasc
