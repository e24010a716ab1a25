// KerasWeightLayout: what variables each Keras layer class owns, in Keras's own order
// (layer.weights), and where Keras 3's saving library puts them inside the layer's group of a
// .weights.h5 file. Keras 3 weight files store bare, unnamed arrays (`vars/0`, `vars/1`, ...), so
// this table is the only way to name them; for legacy .h5 files (which store names) it is used to
// check that no layer's weights are missing.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kerasc {

/// One `vars` group of a layer: its path relative to the layer's group and the names of
/// `vars/0`, `vars/1`, ... in order.
struct VariableGroup {
  std::string path;               // "vars", "cell/vars", "forward_layer/cell/vars", ...
  std::vector<std::string> names; // {"kernel", "bias"}
};

/// The variable groups of a layer of class `className` with Keras config `config`, in
/// layer.weights order; nullopt for classes (or config variants) not described here.
std::optional<std::vector<VariableGroup>> kerasWeightLayout(const std::string &className,
                                                            const nlohmann::json &config);

/// The group that Keras 3's saving library gives each layer of `layers` (model.layers order:
/// a Sequential's InputLayer is left out): `layers/<snake_case class name, uniquified>`, e.g.
/// {"dense_2": "layers/dense_1"}. Layers without an entry are not saved by Keras.
std::map<std::string, std::string> keras3LayerGroups(const std::vector<std::string> &layerNames,
                                                     const std::vector<std::string> &classNames,
                                                     bool sequential);

/// Keras's naming.to_snake_case, which the saving library uses to name a layer's group:
/// "BatchNormalization" -> "batch_normalization", "Conv2D" -> "conv2d", "PReLU" -> "p_re_lu".
std::string kerasSnakeCase(const std::string &className);

} // namespace kerasc
