// The code-generation target interface. A target renders a planned nn module (after
// nn-plan-memory) into the files of an output directory; it decides nothing about fusion or
// memory layout — it renders what the passes decided. `kerasc compile --target NAME` picks one.
#pragma once

#include "ir/WeightStore.h"

#include "mlir/IR/BuiltinOps.h"

#include <memory>
#include <string>
#include <vector>

namespace kerasc {

struct EmitOptions {
  std::string modelName;         // C identifier used as prefix of the API, e.g. "digits_mlp"
  std::string sourceFile;        // the Keras file compiled, for the banner comment
  bool externalWeights = false;  // weights in <name>.weights instead of the source
  int optLevel = 3;              // -O level, also used for the generated build
  int64_t maxBatch = 64;         // samples per call of the built-in static arena
  std::vector<std::string> variables; // all Keras variables (weight-store names), model.weights
                                      // order: what a training build saves and checkpoints
  std::string kerasConfig;       // the model's Keras 3 config.json ("" if unknown): lets a
                                 // training build write .keras archives of trained weights
  std::string kerasVersion;      // for the archive's metadata.json
  std::string cpu = "native";    // target CPU of the generated build: native, x86-64-v3 or
                                 // generic (see cpuFlags)
};

/// The CPU choices of `kerasc compile --cpu`, and the compiler flags each one puts in the
/// generated CMakeLists.txt: native = this machine (AVX-512 where present), x86-64-v3 = AVX2 +
/// FMA machines, generic = no -march (the compiler's default ISA: the portable kernels).
/// Call only with one of cpuNames().
std::string cpuFlags(const std::string &cpu);
std::vector<std::string> cpuNames();

/// One file of the output directory, relative path and contents (text or binary bytes).
struct OutputFile {
  std::string path;
  std::string contents;
};

class Target {
public:
  virtual ~Target() = default;
  virtual const char *name() const = 0;
  /// Renders `module` (one func @model, planned) and its weights into output files.
  virtual std::vector<OutputFile> emit(mlir::ModuleOp module, const WeightStore &weights,
                                       const EmitOptions &options) = 0;
};

/// Returns the target called `name`, or nullptr. See targetNames() for the choices.
std::unique_ptr<Target> createTarget(const std::string &name);
std::vector<std::string> targetNames();

/// The runtime headers (runtime/kerasc/*.h) embedded in the compiler at build time, so every
/// output directory gets the exact runtime the compiler was built with.
struct EmbeddedFile {
  const char *path;      // relative, e.g. "kerasc/kernels.h"
  const char *contents;
};
const std::vector<EmbeddedFile> &runtimeFiles();

} // namespace kerasc
