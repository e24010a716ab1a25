// The standard inference pipeline, shared by `kerasc compile` and the tests.
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"

namespace kerasc {

void buildInferencePipeline(mlir::OpPassManager &pm, const PipelineOptions &options) {
  mlir::OpPassManager &fn = pm.nest<mlir::func::FuncOp>();
  fn.addPass(createInferShapesPass());
  fn.addPass(createRemoveNoisePass());
  if (options.foldBatchNorm && options.weights)
    fn.addPass(createFoldBatchNormPass(options.weights));
  if (options.fuse)
    fn.addPass(createFuseEpiloguesPass());
  fn.addPass(createChooseConvAlgorithmPass(options.convAlgorithm));
  fn.addPass(createPlanMemoryPass());
}

void buildTrainingPipeline(mlir::OpPassManager &pm, const PipelineOptions &options) {
  pm.nest<mlir::func::FuncOp>().addPass(createInferShapesPass());
  pm.addPass(createAutodiffPass());
  mlir::OpPassManager &fn = pm.nest<mlir::func::FuncOp>();
  fn.addPass(createRemoveNoisePass());
  if (options.fuse)
    fn.addPass(createFuseEpiloguesPass());
  fn.addPass(createChooseConvAlgorithmPass(options.convAlgorithm));
  fn.addPass(createPlanMemoryPass());
}

} // namespace kerasc
