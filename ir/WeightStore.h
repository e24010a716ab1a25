// The weights that nn.weight ops refer to by name. Kept beside the IR, not in it, so that the
// textual IR stays small; the frontend fills it and code generators read it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kerasc {

struct WeightTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
  // What training needs beyond the values (set for the model's Keras variables; constants the
  // importer derives from a layer config have trainable = false and no kerasPath).
  bool trainable = true;
  std::string kerasPath;    // where Keras 3's .weights.h5 keeps it: "layers/dense/vars/0"
  std::string initializer;  // the layer config's initializer, as Keras JSON text ("" = none)
  std::string constraint;   // the layer config's constraint, as Keras JSON text ("" = none)
};

/// Name -> tensor, ordered by name so that generated code is deterministic.
using WeightStore = std::map<std::string, WeightTensor>;

} // namespace kerasc
