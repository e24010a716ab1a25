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
};

/// Name -> tensor, ordered by name so that generated code is deterministic.
using WeightStore = std::map<std::string, WeightTensor>;

} // namespace kerasc
