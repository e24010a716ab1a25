// kerasc's passes over the nn dialect; declared in passes/Passes.td.
#pragma once

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "ir/WeightStore.h"

#include "mlir/Pass/Pass.h"

#include <memory>
#include <string>

namespace kerasc {

std::unique_ptr<mlir::Pass> createInferShapesPass();
std::unique_ptr<mlir::Pass> createRemoveNoisePass();
std::unique_ptr<mlir::Pass> createAutodiffPass();
std::unique_ptr<mlir::Pass> createFuseEpiloguesPass();
/// nn-fold-batch-norm; with `weights`, the folded kernels and biases are added to it (without,
/// only the IR is rewritten: kerasc-opt).
std::unique_ptr<mlir::Pass> createFoldBatchNormPass();
std::unique_ptr<mlir::Pass> createFoldBatchNormPass(WeightStore *weights);
std::unique_ptr<mlir::Pass> createChooseConvAlgorithmPass();
/// `force` = "direct" uses the scratch-free loops everywhere (kerasc --conv-algorithm=direct).
std::unique_ptr<mlir::Pass> createChooseConvAlgorithmPass(const std::string &force);
std::unique_ptr<mlir::Pass> createPlanMemoryPass();

/// Options of the standard inference pipeline, as set by `kerasc compile`.
struct PipelineOptions {
  bool fuse = true;   // nn-fuse-epilogues
  // nn-fold-batch-norm, which adds the folded weights to `weights` (the pass runs only when
  // both are set: without a store the folded weights would have no data).
  bool foldBatchNorm = true;
  WeightStore *weights = nullptr;
  std::string convAlgorithm; // nn-choose-conv-algorithm's `force` ("" = choose per convolution)
};

/// Appends the inference pipeline: infer shapes, remove noise, [fuse], plan memory.
void buildInferencePipeline(mlir::OpPassManager &pm, const PipelineOptions &options);

/// Appends the training pipeline: infer shapes, autodiff (adds the train and test steps),
/// then remove noise (outside training steps), [fuse], plan memory on every function.
void buildTrainingPipeline(mlir::OpPassManager &pm, const PipelineOptions &options);

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace kerasc
