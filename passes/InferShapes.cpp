// nn-infer-shapes: refine unranked results in program order and verify ranked ones.
#include "passes/PassDetail.h"

using namespace mlir;

namespace kerasc {
namespace {

/// Infers the ops of `block` in order, so every op sees refined operand types. A fused op's
/// body is inferred before its own result, which then takes the yielded type.
LogicalResult inferBlock(Block &block) {
  for (Operation &op : block) {
    if (auto fused = dyn_cast<nn::FusedOp>(op)) {
      Block &body = fused.getBody().front();
      for (auto [arg, operand] : llvm::zip(body.getArguments(), fused.getInputs()))
        arg.setType(operand.getType());
      if (failed(inferBlock(body)))
        return failure();
      fused.getResult().setType(
          cast<nn::YieldOp>(body.getTerminator()).getValue().getType());
      continue;
    }
    auto iface = dyn_cast<nn::InferShapeOpInterface>(op);
    if (!iface)
      continue;
    FailureOr<TensorType> inferred = iface.inferResultType();
    if (failed(inferred))
      return failure();
    Value result = op.getResult(0);
    if (!result.getType().cast<TensorType>().hasRank())
      result.setType(*inferred);
    else if (failed(nn::verifyInferredResultType(&op)))
      return failure();
  }
  return success();
}

struct InferShapesPass : public InferShapesBase<InferShapesPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (failed(inferBlock(func.getBody().front())))
      return signalPassFailure();

    auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
    for (Value v : ret.getOperands()) {
      if (!v.getType().cast<TensorType>().hasRank()) {
        ret.emitOpError("a returned value still has an unranked type after shape inference");
        return signalPassFailure();
      }
    }
    func.setType(FunctionType::get(func.getContext(), func.getArgumentTypes(),
                                   ret.getOperandTypes()));
  }
};

} // namespace

std::unique_ptr<Pass> createInferShapesPass() { return std::make_unique<InferShapesPass>(); }

} // namespace kerasc
