// ConvertWeights: `kerasc convert IN -o OUT [--model M]`, moving trained weights between a
// generated program's native checkpoint and the files Keras reads.
//
//   IN                 OUT              needs --model   what happens
//   .kck checkpoint    .weights.h5      optional        model weights (and optimizer state that has
//                                                       a keras_path) by keras_path
//   .kck checkpoint    .keras           yes             config.json from M, weights as above
//   .keras             .weights.h5      no              model.weights.h5 taken out of the archive
//   .weights.h5        .keras           yes             the file wrapped with M's config
//
// With --model (the original .keras, or a .json with its .weights.h5 beside it, or a legacy .h5
// for its config), the output also gets Keras's exact group layout (each vars group's @name, empty
// groups for weightless layers, the model's name), and every variable the model has is required
// with its shape, so a file that Keras would refuse is refused here, naming the variable.
// Inputs are recognised by their first bytes, outputs by their extension. Outputs are written
// atomically.
#pragma once

#include <string>

namespace kerasc {

/// Converts `input` to `output` as in the table above. Returns 0 on success; otherwise 1 with a
/// one-line message naming the file in `*error`.
int runConvert(const std::string &input, const std::string &output, const std::string &modelPath,
               std::string *error);

} // namespace kerasc
