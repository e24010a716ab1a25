// The nn dialect: graph-level ops for Keras models. See ir/NNOps.td for each op's documentation.
#pragma once

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "ir/NNDialect.h.inc"

namespace kerasc::nn {
/// Shared verifier of InferShapeOpInterface: a ranked result must equal the inferred type.
mlir::LogicalResult verifyInferredResultType(mlir::Operation *op);
} // namespace kerasc::nn

#include "ir/NNInterfaces.h.inc"

#define GET_OP_CLASSES
#include "ir/NNOps.h.inc"

namespace kerasc::nn {

/// True for ops that compute each output element from the elements at the same (broadcast)
/// position of their operands; these are what epilogue fusion may chain together.
bool isElementwise(mlir::Operation *op);

/// The activation function names nn.activation accepts.
bool isKnownActivation(llvm::StringRef fn);

/// The binary function names nn.binary accepts.
bool isKnownBinaryFn(llvm::StringRef fn);

/// Numpy-style broadcast of two shapes (trailing alignment). Dynamic dims (the batch) only
/// broadcast with an equal dynamic dim or a 1. Returns failure when the shapes disagree.
mlir::FailureOr<llvm::SmallVector<int64_t>> broadcastShapes(llvm::ArrayRef<int64_t> a,
                                                             llvm::ArrayRef<int64_t> b);

/// Number of elements in one sample of a tensor whose first dim is the batch (or of the whole
/// tensor when `hasBatch` is false). All counted dims must be static.
int64_t elementsPerSample(mlir::ShapedType type);

/// The Keras layers an op came from. The importer names each op's location after its layer,
/// NameLoc("dense (Dense)"); fusion combines them into a FusedLoc. Duplicates dropped, order kept.
std::vector<std::string> layerNames(mlir::Location loc);

/// What an op computes, for comments and reports: "softmax", "activation relu", or for a fused
/// op its body, "fused: matmul -> bias_add -> activation relu".
std::string describeOps(mlir::Operation *op);

/// Work and traffic of one kernel (a top-level op of a planned function), for `--report`.
/// Each figure has a part that scales with the batch (per sample) and a fixed part (weights,
/// weight gradients). FLOPs count a multiply-add as 2 and every elementwise op (activation,
/// bias add, gradient rule) as 1 per element; softmax, losses and optimizer updates use fixed
/// per-element estimates (5, 4 and 10). Bytes are float32 operands read and results written,
/// each once: the memory traffic fusion removes shows up as fewer bytes. Views cost nothing.
struct KernelCost {
  int64_t flopsPerSample = 0, flopsFixed = 0;
  int64_t readPerSample = 0, readFixed = 0;
  int64_t writtenPerSample = 0, writtenFixed = 0;
};
KernelCost kernelCost(mlir::Operation *op);

/// A shape as Keras prints it: "(None, 8)", with None for the dynamic batch dimension.
std::string kerasShapeText(llvm::ArrayRef<int64_t> shape);

/// True when the type's leading dim is the dynamic batch dimension.
bool hasBatchDim(mlir::ShapedType type);

/// Optimizer state floats per trainable float for an `nn.optimizer` attribute ({class_name,
/// config} as Keras serializes it): Keras's optimizer variables per model variable (Adam: m and
/// v; with amsgrad also v_hat; ...). The runtime's kerasc::optimizer_slots must agree; generated
/// code checks that at init.
int optimizerStateSlots(mlir::DictionaryAttr optimizer);

} // namespace kerasc::nn
