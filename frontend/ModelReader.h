// ModelReader: reads a saved Keras model, in any of the formats Keras writes, into a ModelSpec.
//
//   model.keras                 Keras 3 zip: config.json + model.weights.h5 + metadata.json
//   model.h5 / model.hdf5       legacy HDF5 (tf.keras 2.x or Keras 3's legacy writer):
//                               root attribute `model_config` + group `model_weights`
//   model.json [+ weights]      model.to_json(), with weights from `model.weights.h5` next to it
//
// The format is recognized from the file's first bytes (zip or HDF5 signature), then from its
// extension. The result is normalized so the importer sees one shape whatever the source:
//   - every layer but an InputLayer has one LayerCall per call; Sequential models are chained;
//   - a Sequential saved without an InputLayer (tf.keras 2) gets one synthesized, named like Keras
//     names it ("<first layer>_input"), with config {"batch_shape", "dtype", "name"};
//   - InputLayer configs always have `batch_shape` (tf.keras 2's `batch_input_shape` is copied);
//   - weights are in layer.weights order, named by their Keras variable name ("kernel", "bias").
// Layer configs are otherwise kept verbatim: Keras semantics are the importer's business.
// Nested models used as layers (className "Sequential"/"Functional"/"Model") are kept as layers
// without weights, for the importer to report as unsupported.
#pragma once

#include <string>

#include "frontend/ModelSpec.h"

namespace kerasc {

/// Reads the model at `path`. `weightsPath`, when given, names the file to take the weights from
/// instead of the default (the model file itself, or for a .json config the `.weights.h5` file with
/// the same basename); it may be a Keras 3 `.weights.h5` or a legacy weights `.h5`.
/// Throws kerasc::Error, with a one-line message naming the file, on any problem.
ModelSpec readModel(const std::string &path, const std::string &weightsPath = "");

} // namespace kerasc
