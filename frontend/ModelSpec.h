// ModelSpec: the file-format-independent description of a Keras model that the readers
// (.keras, legacy .h5, JSON + .weights.h5) produce and the IR importer consumes.
// It keeps each layer's Keras config verbatim (JSON) so that Keras semantics are interpreted in
// exactly one place (frontend/ImportModel.cpp), not once per file format.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kerasc {

/// Every user-facing failure (bad file, unsupported layer, shape mismatch) is reported as a
/// kerasc::Error whose what() is one line that names the file and the problem.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A dense float32 array in row-major (C) order. Weights of other dtypes (e.g. Normalization's
/// int64 `count`) are converted to float on read; `dtype` keeps the stored type for reporting.
struct WeightArray {
  std::string name;             // Keras variable name as stored ("kernel", "bias", "mean", ...)
  std::vector<int64_t> shape;   // as stored in the file
  std::vector<float> data;      // product(shape) elements
  std::string dtype = "float32";
};

/// One edge into a layer call: output `tensorIndex` of call `nodeIndex` of layer `layer`.
struct TensorRef {
  std::string layer;
  int nodeIndex = 0;
  int tensorIndex = 0;
};

/// One call of a layer (Keras "inbound node"). Shared layers have several.
struct LayerCall {
  std::vector<TensorRef> inputs;   // in argument order; merge layers get several
  nlohmann::json kwargs = nlohmann::json::object();
};

struct LayerSpec {
  std::string name;        // "dense_1"
  std::string className;   // "Dense"
  nlohmann::json config;   // the layer's "config" object, verbatim from the file
  std::vector<LayerCall> calls;          // empty for InputLayer
  std::vector<WeightArray> weights;      // in Keras's own weight order (layer.weights)
};

struct ModelSpec {
  std::string sourcePath;      // the file the model came from (for error messages)
  std::string format;          // "keras", "h5", "json+weights"
  std::string kerasVersion;    // e.g. "3.12.0" or "2.15.0"; empty if unknown
  std::string name;            // model name from its config
  std::string className;       // "Sequential" or "Functional" (or "Model")
  std::vector<LayerSpec> layers;       // in config order (topological for Keras models)
  std::vector<TensorRef> inputs;       // model inputs, in the model's order
  std::vector<TensorRef> outputs;      // model outputs, in the model's order
  nlohmann::json compileConfig;        // null when absent
  std::string kerasConfigText;         // the Keras 3 config.json as read (.keras and .json
                                       // files), for writing trained .keras archives; else ""
};

} // namespace kerasc
