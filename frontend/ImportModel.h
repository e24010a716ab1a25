// ImportModel: ModelSpec (any Keras file format) -> nn dialect IR + weight store.
// This is the one place that knows Keras layer semantics: config fields, defaults, weight order.
#pragma once

#include "frontend/ModelSpec.h"
#include "ir/WeightStore.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

#include <string>
#include <vector>

namespace kerasc {

/// What Keras's model.summary() shows for one layer.
struct LayerReport {
  std::string name, className;
  std::vector<std::vector<int64_t>> outputShapes;  // -1 for the batch axis
  int64_t params = 0, trainableParams = 0;
  std::vector<std::string> connectedTo;            // "dense[0][0]" per inbound tensor
};

struct ImportedModel {
  mlir::OwningOpRef<mlir::ModuleOp> module;  // one func.func @model, shapes inferred
  WeightStore weights;
  std::string name;
  bool sequential = false;
  std::vector<LayerReport> layers;           // in config order
  std::vector<std::string> variables;        // weight-store names of all Keras variables, in
                                             // model.weights order
};

/// Loads the dialects it needs into `context`. Throws kerasc::Error (one line, naming the
/// model file) listing every unsupported layer, or describing the first invalid one.
ImportedModel importModel(const ModelSpec &spec, mlir::MLIRContext &context);

/// Keras's summary table for the model (layers, output shapes, parameter counts).
std::string formatSummary(const ImportedModel &model);

} // namespace kerasc
