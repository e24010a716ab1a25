// TrainingConfig: Keras's compile configuration (loss, optimizer, metrics, loss weights), read
// from the model file's `compile_config` (Keras 3) or `training_config` (legacy .h5) and
// overridden by `kerasc compile` flags, then attached to the model function as the attributes
// nn-autodiff and the code generators read:
//   nn.losses    [{fn, config, weight}] per output ({} for an output without loss)
//   nn.optimizer {class_name, config}   Keras's serialized optimizer (schedule included)
//   nn.metrics   [[{kind, name, ...}]]  per output, "accuracy" already resolved as Keras does
#pragma once

#include "frontend/ImportModel.h"
#include "frontend/ModelSpec.h"

#include <optional>
#include <string>
#include <vector>

namespace kerasc {

/// `kerasc compile` flags that replace parts of the file's compile config.
struct TrainingOverrides {
  std::string optimizer;                  // "adam", "sgd", ... (Keras defaults for the rest)
  std::optional<double> learningRate;
  std::string loss;                       // a Keras loss name, for every output
  std::optional<std::vector<std::string>> metrics; // Keras metric names, for every output
};

/// True when the file or the overrides give both a loss and an optimizer.
bool hasTrainingConfig(const ModelSpec &spec, const TrainingOverrides &overrides);

/// Attaches the attributes above to `model`'s function. Throws kerasc::Error naming the model
/// file and every missing piece (no compile config and no --loss / --optimizer), or the first
/// unsupported loss, optimizer or metric.
void attachTrainingConfig(const ModelSpec &spec, ImportedModel &model,
                          const TrainingOverrides &overrides);

} // namespace kerasc
