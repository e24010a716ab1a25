// kerasc: the compiler driver.
//   kerasc compile MODEL -o DIR [--target cpu] [-O0..3] [--no-fuse] [--no-fold-bn]
//                  [--conv-algorithm=auto|direct]
//                  [--emit=mlir|cpp] [--report]
//   kerasc summary MODEL
// Each subcommand declares its own options, so `kerasc compile --help` lists exactly them plus
// MLIR's pass-manager and printing options (e.g. --mlir-print-ir-after-all).
#include "codegen/Target.h"
#include "frontend/ImportModel.h"
#include "frontend/TrainingConfig.h"
#include "frontend/ModelReader.h"
#include "ir/NNDialect.h"
#include "passes/Passes.h"
#include "tools/Compare.h"
#include "tools/ConvertWeights.h"
#include "tools/Supervise.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <unistd.h>

namespace cl = llvm::cl;
using namespace kerasc;

namespace {

int usage() {
  std::fputs("kerasc: compile Keras models into standalone C++ programs\n\n"
             "usage: kerasc compile MODEL -o DIR [options]   (kerasc compile --help)\n"
             "       kerasc summary MODEL                    (kerasc summary --help)\n"
             "       kerasc convert IN -o OUT [--model M]    (kerasc convert --help)\n"
             "       kerasc compare MODEL [options]          (kerasc compare --help)\n\n"
             "MODEL is a Keras 3 .keras file, a legacy .h5 file, or a model.json (with\n"
             "model.weights.h5 beside it).\n",
             stdout);
  return 2;
}

/// A C identifier for the generated API from the model file's name ("digits_mlp.keras").
std::string defaultModelName(const std::string &path) {
  std::string stem = llvm::sys::path::stem(path).str();
  std::string id;
  for (char c : stem)
    id += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  if (id.empty() || std::isdigit(static_cast<unsigned char>(id[0])))
    id = "model_" + id;
  return id;
}

/// Writes `files` into `dir` atomically: everything goes to a fresh sibling directory that is
/// renamed into place at the end, so a failure never leaves a half-written output.
void writeOutputDirectory(const std::string &dir, const std::vector<OutputFile> &files) {
  llvm::SmallString<256> tmp(temporaryOutputDir(dir, ::getpid()));
  llvm::sys::fs::remove_directories(tmp);
  for (const OutputFile &f : files) {
    llvm::SmallString<256> path(tmp);
    llvm::sys::path::append(path, f.path);
    if (auto ec = llvm::sys::fs::create_directories(llvm::sys::path::parent_path(path)))
      throw Error(dir + ": cannot create directory: " + ec.message());
    std::ofstream out(path.str().str(), std::ios::binary);
    out.write(f.contents.data(), static_cast<std::streamsize>(f.contents.size()));
    if (!out)
      throw Error(path.str().str() + ": write failed");
  }
  llvm::SmallString<256> old(dir);
  old += ".kerasc-old-" + std::to_string(::getpid());
  const bool existed = llvm::sys::fs::exists(dir);
  if (existed && llvm::sys::fs::rename(dir, old))
    throw Error(dir + ": cannot replace the existing directory");
  if (auto ec = llvm::sys::fs::rename(tmp, dir))
    throw Error(dir + ": cannot move the output into place: " + ec.message());
  if (existed)
    llvm::sys::fs::remove_directories(old);
}

int64_t intAttr(mlir::Operation *op, const char *name) {
  auto a = op->getAttrOfType<mlir::IntegerAttr>(name);
  return a ? a.getInt() : 0;
}

mlir::func::FuncOp trainingStep(mlir::ModuleOp module) {
  for (auto f : module.getOps<mlir::func::FuncOp>())
    if (f->hasAttr("nn.training"))
      return f;
  return {};
}

/// Bytes of optimizer state: slots per trainable float times the trainable floats.
int64_t optimizerStateBytes(mlir::func::FuncOp step, const WeightStore &weights) {
  int64_t floats = 0;
  step.walk([&](nn::ApplyGradientsOp apply) {
    for (mlir::Attribute a : apply.getWeights())
      floats += weights.at(a.cast<mlir::StringAttr>().str()).data.size();
  });
  const int slots =
      nn::optimizerStateSlots(step->getAttrOfType<mlir::DictionaryAttr>("nn.optimizer"));
  return floats * slots * 4;
}

/// One line about the training step's memory plan at `batch`.
std::string trainingSummary(mlir::ModuleOp module, int64_t batch) {
  mlir::func::FuncOp step = trainingStep(module);
  return fmt::format("training arena {} B + {} B/sample ({} B at batch {}; no reuse {} B + {} "
                     "B/sample)",
                     intAttr(step, "nn.fixed_bytes"), intAttr(step, "nn.arena_bytes"),
                     intAttr(step, "nn.fixed_bytes") + intAttr(step, "nn.arena_bytes") * batch,
                     batch, intAttr(step, "nn.no_reuse_fixed_bytes"),
                     intAttr(step, "nn.no_reuse_bytes"));
}

/// "a/sample + b" for a cost with a per-sample and a fixed part (either may be 0).
std::string perSampleText(int64_t perSample, int64_t fixed) {
  if (!fixed)
    return fmt::format("{}/sample", perSample);
  return perSample ? fmt::format("{}/sample + {}", perSample, fixed) : std::to_string(fixed);
}

/// One Markdown table row per kernel of `func`: fused ops, FLOPs, bytes, where the result lives;
/// then the totals at batch 1 and at `batch`.
std::string kernelTable(mlir::func::FuncOp func, const char *title, int64_t batch) {
  std::string out = fmt::format(
      "## {} ({})\n\n"
      "FLOPs: multiply-add = 2, elementwise op = 1 per element. Bytes: float32 operands read and "
      "results written once each (what fusion saves is the traffic of intermediates). Arena "
      "offsets are bytes per sample, plus the fixed region's size for batch-independent "
      "buffers.\n\n"
      "| # | layer(s) | ops | output | storage | FLOPs | bytes read | bytes written |\n"
      "|---:|---|---|---|---|---:|---:|---:|\n",
      title, func.getName().str());
  nn::KernelCost total;
  int index = 0;
  for (mlir::Operation &op : func.getBody().front()) {
    if (mlir::isa<nn::WeightOp, mlir::func::ReturnOp>(op))
      continue;
    std::string layers;
    for (const std::string &layer : nn::layerNames(op.getLoc()))
      layers += (layers.empty() ? "" : ", ") + layer;
    std::string type;
    if (op.getNumResults()) {
      llvm::raw_string_ostream typeText(type);
      op.getResult(0).getType().print(typeText);
    }
    std::string storage = op.getNumResults() ? "view of its input" : "in place (weights)";
    if (auto o = op.getAttrOfType<mlir::IntegerAttr>("nn.arena_offset"))
      storage = fmt::format("arena @ {} B/sample", o.getInt());
    else if (auto o = op.getAttrOfType<mlir::IntegerAttr>("nn.fixed_offset"))
      storage = fmt::format("arena @ {} B (fixed)", o.getInt());
    else if (auto o = op.getAttrOfType<mlir::IntegerAttr>("nn.output"))
      storage = fmt::format("output {}", o.getInt());
    const nn::KernelCost c = nn::kernelCost(&op);
    for (auto [sum, add] : {std::pair{&total.flopsPerSample, c.flopsPerSample},
                            {&total.flopsFixed, c.flopsFixed},
                            {&total.readPerSample, c.readPerSample},
                            {&total.readFixed, c.readFixed},
                            {&total.writtenPerSample, c.writtenPerSample},
                            {&total.writtenFixed, c.writtenFixed}})
      *sum += add;
    out += fmt::format("| {} | {} | {} | `{}` | {} | {} | {} | {} |\n", index++, layers,
                       nn::describeOps(&op), type, storage,
                       perSampleText(c.flopsPerSample, c.flopsFixed),
                       perSampleText(c.readPerSample, c.readFixed),
                       perSampleText(c.writtenPerSample, c.writtenFixed));
  }
  auto at = [](int64_t perSample, int64_t fixed, int64_t b) { return perSample * b + fixed; };
  out += fmt::format(
      "\nTotal: {} kernels; {} FLOPs and {} bytes moved at batch 1, {} FLOPs and {} bytes at "
      "batch {}.\n\n",
      index, at(total.flopsPerSample, total.flopsFixed, 1),
      at(total.readPerSample + total.writtenPerSample, total.readFixed + total.writtenFixed, 1),
      at(total.flopsPerSample, total.flopsFixed, batch),
      at(total.readPerSample + total.writtenPerSample, total.readFixed + total.writtenFixed,
         batch),
      batch);
  return out;
}

/// Every convolution's algorithm (nn-choose-conv-algorithm) and its scratch in the arena.
std::string convolutionTable(mlir::ModuleOp module) {
  std::string rows;
  for (auto func : module.getOps<mlir::func::FuncOp>())
    func.walk([&](mlir::Operation *op) {
      auto algorithm = op->getAttrOfType<mlir::StringAttr>("algorithm");
      if (!algorithm || !mlir::isa<nn::ConvOp, nn::ConvTransposeOp, nn::ConvGradKernelOp>(op))
        return;
      mlir::Operation *kernel = op;
      if (auto fused = op->getParentOfType<nn::FusedOp>())
        kernel = fused;
      auto reason = op->getAttrOfType<mlir::StringAttr>("nn.algorithm_reason");
      auto bytes = kernel->getAttrOfType<mlir::IntegerAttr>("nn.workspace_bytes");
      auto offset = kernel->getAttrOfType<mlir::IntegerAttr>("nn.workspace_offset");
      std::string layers;
      for (const std::string &layer : nn::layerNames(op->getLoc()))
        layers += (layers.empty() ? "" : ", ") + layer;
      rows += fmt::format("| {} | {} | {} | {} | {} | {} |\n", func.getName().str(), layers,
                          op->getName().stripDialect().str(), algorithm.getValue().str(),
                          reason ? reason.getValue().str() : "",
                          bytes ? fmt::format("{} B/sample @ {} B/sample", bytes.getInt(),
                                              offset ? offset.getInt() : -1)
                                : std::string("none"));
    });
  if (rows.empty())
    return "";
  return "## Convolution algorithms\n\n"
         "Chosen by nn-choose-conv-algorithm from the static shapes (`--conv-algorithm=direct` "
         "turns the GEMM paths off). Scratch lives in the arena, planned like any buffer but live "
         "only while its kernel runs.\n\n"
         "| function | layer | op | algorithm | why | scratch (size @ arena offset) |\n"
         "|---|---|---|---|---|---|\n" +
         rows + "\n";
}

/// The memory plan and kernels of a planned module, as a Markdown report.
std::string memoryReport(mlir::ModuleOp module, int64_t maxBatch, const WeightStore &weights) {
  auto func = *module.getOps<mlir::func::FuncOp>().begin();
  auto attr = [&](const char *name) { return intAttr(func, name); };
  std::string out = "# kerasc report\n\n## Memory plan (bytes per sample)\n\n";
  out += fmt::format("| arena (planned) | no-reuse sum | lower bound (max live) | arena at batch {} |\n"
                     "|---:|---:|---:|---:|\n| {} | {} | {} | {} |\n\n",
                     maxBatch, attr("nn.arena_bytes"), attr("nn.no_reuse_bytes"),
                     attr("nn.lower_bound_bytes"), attr("nn.arena_bytes") * maxBatch);
  if (mlir::func::FuncOp step = trainingStep(module)) {
    const int64_t fixed = intAttr(step, "nn.fixed_bytes"), perSample = intAttr(step, "nn.arena_bytes");
    const int64_t noReuseFixed = intAttr(step, "nn.no_reuse_fixed_bytes");
    const int64_t noReuse = intAttr(step, "nn.no_reuse_bytes");
    const int64_t lowerFixed = intAttr(step, "nn.lower_bound_fixed_bytes");
    const int64_t lower = intAttr(step, "nn.lower_bound_bytes");
    out += fmt::format(
        "## Training step memory plan\n\n"
        "Activations kept for the backward pass and the backward pass's temporaries scale with "
        "the batch; weight gradients and the loss do not. Both regions are planned with "
        "liveness across the forward and backward passes.\n\n"
        "| region | arena (planned) | no-reuse sum | lower bound (max live) |\n"
        "|---|---:|---:|---:|\n"
        "| per sample (B/sample) | {} | {} | {} |\n"
        "| fixed (B) | {} | {} | {} |\n"
        "| total at batch {} (B) | {} | {} | {} |\n\n"
        "Optimizer state (static, outside the arena): {} B.\n\n",
        perSample, noReuse, lower, fixed, noReuseFixed, lowerFixed, maxBatch,
        fixed + perSample * maxBatch, noReuseFixed + noReuse * maxBatch,
        lowerFixed + lower * maxBatch, optimizerStateBytes(step, weights));
  }
  out += convolutionTable(module);
  out += kernelTable(func, "Kernels", maxBatch);
  if (mlir::func::FuncOp step = trainingStep(module))
    out += kernelTable(step, "Training step kernels", maxBatch);
  return out;
}

/// Keeps `--help` readable: libLLVM registers hundreds of backend options; show only this
/// subcommand's options and MLIR's own (--mlir-print-ir-after-all, ...). The rest still parse.
void hideUnrelatedOptions(cl::OptionCategory &category) {
  for (auto &entry : cl::getRegisteredOptions()) {
    cl::Option *option = entry.second;
    bool ours = llvm::is_contained(option->Categories, &category);
    if (!ours && !entry.first().startswith("mlir-") && entry.first() != "help")
      option->setHiddenFlag(cl::ReallyHidden);
  }
}

/// Turns MLIR diagnostics into one-line kerasc errors naming the model file.
struct DiagnosticCollector {
  DiagnosticCollector(mlir::MLIRContext &ctx)
      : handler(&ctx, [this](mlir::Diagnostic &d) {
          messages += (messages.empty() ? "" : "; ") + d.str();
          return mlir::success();
        }) {}
  std::string messages;
  mlir::ScopedDiagnosticHandler handler;
};

int compileMain(int argc, char **argv) {
  cl::OptionCategory category("kerasc compile options");
  cl::opt<std::string> modelPath(cl::Positional, cl::Required, cl::desc("<model>"),
                                 cl::cat(category));
  cl::opt<std::string> outputDir("o", cl::desc("Output directory (or file for --emit=mlir)"),
                                 cl::value_desc("dir"), cl::cat(category));
  cl::opt<std::string> target("target", cl::desc("Code generation target (cpu)"),
                              cl::init("cpu"), cl::cat(category));
  cl::opt<unsigned> optLevel("O", cl::Prefix, cl::init(3),
                             cl::desc("Optimization level 0-3: -O0 disables fusion and builds "
                                      "the output with -O0; -O1..3 fuse and pass the level on"),
                             cl::cat(category));
  cl::opt<bool> noFuse("no-fuse", cl::desc("Do not run nn-fuse-epilogues"), cl::cat(category));
  cl::opt<bool> noFoldBn("no-fold-bn",
                         cl::desc("Do not fold BatchNormalization into the preceding Dense / "
                                  "convolution (nn-fold-batch-norm)"),
                         cl::cat(category));
  cl::opt<std::string> convAlgorithm(
      "conv-algorithm",
      cl::desc("auto (default: nn-choose-conv-algorithm picks im2col/pointwise/direct per "
               "convolution) or direct (scratch-free loops everywhere, for comparison)"),
      cl::init("auto"), cl::cat(category));
  cl::opt<std::string> cpu("cpu", cl::desc("Target CPU of the generated build: native (this "
                                           "machine, default), x86-64-v3 (AVX2+FMA) or generic "
                                           "(portable kernels)"),
                           cl::init("native"), cl::cat(category));
  cl::opt<std::string> emit("emit", cl::desc("What to produce: cpp (an output directory) or "
                                             "mlir (the optimized IR)"),
                            cl::init("cpp"), cl::cat(category));
  cl::opt<bool> report("report", cl::desc("Print the memory plan and kernels (also written to "
                                          "DIR/report.md)"),
                       cl::cat(category));
  cl::opt<std::string> weightsMode("weights", cl::desc("embedded (static arrays in the source, "
                                                       "default) or external (DIR/NAME.weights)"),
                                   cl::init("embedded"), cl::cat(category));
  cl::opt<std::string> weightsFile("weights-file", cl::desc("Take the weights from this file "
                                                            "(.weights.h5 or .h5)"),
                                   cl::cat(category));
  cl::opt<std::string> name("name", cl::desc("C prefix of the generated API (default: the "
                                             "model file's name)"),
                            cl::cat(category));
  cl::opt<int64_t> maxBatch("max-batch", cl::init(0),
                            cl::desc("Samples per call of the static arena (predict loops over "
                                     "larger batches); the largest training batch size "
                                     "(default 64, or 256 with training)"),
                            cl::cat(category));
  cl::opt<bool> train("train", cl::desc("Also build training code (fit/evaluate); an error when "
                                        "the model has no compile config and no --loss / "
                                        "--optimizer. Default: when the model is compiled"),
                      cl::cat(category));
  cl::opt<bool> inferenceOnly("inference-only", cl::desc("Build predict only, even for a "
                                                         "compiled model"),
                              cl::cat(category));
  cl::opt<std::string> optimizer("optimizer", cl::desc("Optimizer for training, with Keras's "
                                                       "defaults (sgd, rmsprop, adam, adamw, "
                                                       "adagrad, adamax, nadam)"),
                                 cl::cat(category));
  cl::opt<double> learningRate("learning-rate", cl::init(-1.0),
                               cl::desc("Learning rate (replaces the compile config's)"),
                               cl::cat(category));
  cl::opt<std::string> loss("loss", cl::desc("Keras loss name for every output (replaces the "
                                             "compile config's)"),
                            cl::cat(category));
  cl::list<std::string> metrics("metrics", cl::CommaSeparated,
                                cl::desc("Keras metric names, comma separated (replaces the "
                                         "compile config's)"),
                                cl::cat(category));
  mlir::registerPassManagerCLOptions();
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  hideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "kerasc compile: Keras model -> C++ program\n");

  if (optLevel > 3 || (emit != "cpp" && emit != "mlir") ||
      (weightsMode != "embedded" && weightsMode != "external") || maxBatch < 0 ||
      (learningRate.getNumOccurrences() && learningRate <= 0.0) || (train && inferenceOnly) ||
      !llvm::is_contained(cpuNames(), cpu.getValue())) {
    std::fputs("kerasc: error: invalid option value (see kerasc compile --help)\n", stderr);
    return 2;
  }
  std::unique_ptr<Target> codegen = createTarget(target);
  if (!codegen) {
    std::fprintf(stderr, "kerasc: error: unknown target '%s' (choices: cpu)\n", target.c_str());
    return 2;
  }
  if (emit == "cpp" && outputDir.empty()) {
    std::fputs("kerasc: error: -o DIR is required\n", stderr);
    return 2;
  }

  mlir::MLIRContext context;
  ModelSpec spec = readModel(modelPath, weightsFile);
  markModelRead();
  ImportedModel model = importModel(spec, context);

  TrainingOverrides overrides;
  overrides.optimizer = optimizer;
  overrides.loss = loss;
  if (learningRate.getNumOccurrences())
    overrides.learningRate = learningRate.getValue();
  if (metrics.getNumOccurrences())
    overrides.metrics = std::vector<std::string>(metrics.begin(), metrics.end());
  const bool training = !inferenceOnly && (train || hasTrainingConfig(spec, overrides));
  if (training)
    attachTrainingConfig(spec, model, overrides);
  else if (!inferenceOnly)
    std::fprintf(stderr,
                 "kerasc: note: %s has no compile config: building predict only (pass --loss "
                 "and --optimizer, or compile the model in Keras, to also build fit/evaluate)\n",
                 modelPath.c_str());
  const int64_t batchLimit = maxBatch > 0 ? maxBatch.getValue() : training ? 256 : 64;

  mlir::PassManager pm(&context);
  mlir::applyPassManagerCLOptions(pm);
  PipelineOptions pipeline;
  pipeline.fuse = !noFuse && optLevel > 0;
  pipeline.foldBatchNorm = !noFoldBn;
  pipeline.weights = &model.weights;
  if (convAlgorithm != "auto" && convAlgorithm != "direct")
    throw Error("--conv-algorithm must be auto or direct, got '" + convAlgorithm + "'");
  pipeline.convAlgorithm = convAlgorithm == "auto" ? "" : convAlgorithm.getValue();
  if (training)
    buildTrainingPipeline(pm, pipeline);
  else
    buildInferencePipeline(pm, pipeline);
  {
    DiagnosticCollector diagnostics(context);
    if (mlir::failed(pm.run(*model.module)))
      throw Error(modelPath + ": compilation failed: " + diagnostics.messages);
  }

  if (emit == "mlir") {
    std::string text;
    llvm::raw_string_ostream os(text);
    model.module->print(os);
    if (outputDir.empty()) {
      std::fputs(os.str().c_str(), stdout);
    } else {
      std::ofstream(outputDir.getValue()) << os.str();
    }
    return 0;
  }

  EmitOptions options;
  options.modelName = name.empty() ? defaultModelName(modelPath) : name.getValue();
  options.sourceFile = llvm::sys::path::filename(modelPath).str();
  options.externalWeights = weightsMode == "external";
  options.optLevel = static_cast<int>(optLevel);
  options.cpu = cpu;
  options.maxBatch = batchLimit;
  options.variables = model.variables;
  options.kerasConfig = spec.kerasConfigText;
  options.kerasVersion = spec.kerasVersion;
  std::vector<OutputFile> files;
  try {
    files = codegen->emit(*model.module, model.weights, options);
  } catch (const std::runtime_error &e) { // a layer option the target cannot render
    throw Error(modelPath + ": " + e.what());
  }
  std::string reportText = memoryReport(*model.module, batchLimit, model.weights);
  files.push_back({"report.md", reportText});
  writeOutputDirectory(outputDir, files);

  auto func = *model.module->getOps<mlir::func::FuncOp>().begin();
  auto attr = [&](const char *n) { return intAttr(func, n); };
  if (report)
    std::fputs(reportText.c_str(), stdout);
  std::printf("kerasc: compiled %s (%zu layers, %s) to %s/ as %s: arena %lld B/sample "
              "(no reuse %lld, lower bound %lld)\n",
              options.sourceFile.c_str(), model.layers.size(),
              pipeline.fuse ? "fused" : "unfused", outputDir.c_str(), options.modelName.c_str(),
              (long long)attr("nn.arena_bytes"), (long long)attr("nn.no_reuse_bytes"),
              (long long)attr("nn.lower_bound_bytes"));
  if (training)
    std::printf("kerasc: with training (fit/evaluate): %s\n",
                trainingSummary(*model.module, batchLimit).c_str());
  return 0;
}

int convertMain(int argc, char **argv) {
  cl::OptionCategory category("kerasc convert options");
  cl::opt<std::string> input(cl::Positional, cl::Required, cl::desc("<input>"), cl::cat(category));
  cl::opt<std::string> output("o", cl::Required, cl::desc("Output file (.weights.h5 or .keras)"),
                              cl::value_desc("file"), cl::cat(category));
  cl::opt<std::string> modelPath("model", cl::desc("The original model (.keras, .json or .h5): "
                                                   "its config and exact weight layout"),
                                 cl::cat(category));
  hideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "kerasc convert: trained weights between a generated program's checkpoint (.kck) and "
      "Keras files\n");
  std::string error;
  if (runConvert(input, output, modelPath, &error) != 0)
    throw Error(error);
  std::printf("kerasc: wrote %s\n", output.c_str());
  return 0;
}

int summaryMain(int argc, char **argv) {
  cl::OptionCategory category("kerasc summary options");
  cl::opt<std::string> modelPath(cl::Positional, cl::Required, cl::desc("<model>"),
                                 cl::cat(category));
  cl::opt<std::string> weightsFile("weights-file", cl::desc("Take the weights from this file"),
                                   cl::cat(category));
  hideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "kerasc summary: print Keras's model summary\n");
  mlir::MLIRContext context;
  ModelSpec spec = readModel(modelPath, weightsFile);
  markModelRead();
  ImportedModel model = importModel(spec, context);
  std::fputs(formatSummary(model).c_str(), stdout);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    return usage();
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    usage();
    return 0;
  }
  if (command == "compare") {
    // Outside the supervised child: compare parses no model itself (each compile it runs is
    // supervised on its own) and its builds and timings would outlast the read time limit.
    std::string program = "kerasc compare";
    argv[1] = program.data();
    const std::string self =
        llvm::sys::fs::getMainExecutable(argv[0], reinterpret_cast<void *>(&usage));
    return compareMain(argc - 1, argv + 1, self.c_str());
  }
  if (command != "compile" && command != "summary" && command != "convert") {
    std::fprintf(stderr, "kerasc: unknown command '%s'\n", command.c_str());
    return usage();
  }
  // The subcommand's parser sees "kerasc compile" as its program name.
  std::string program = std::string("kerasc ") + command;
  argv[1] = program.data();
  auto work = [&]() -> int {
    try {
      if (command == "convert")
        return convertMain(argc - 1, argv + 1);
      return command == "compile" ? compileMain(argc - 1, argv + 1)
                                  : summaryMain(argc - 1, argv + 1);
    } catch (const Error &e) {
      std::fprintf(stderr, "kerasc: error: %s\n", e.what());
    } catch (const std::exception &e) {
      std::fprintf(stderr, "kerasc: internal error: %s\n", e.what());
    }
    return 1;
  };
  SupervisedRun run{"", "", 120};
  if (const char *limit = std::getenv("KERASC_READ_TIMEOUT"))
    run.readTimeoutSeconds = std::max(1, std::atoi(limit));
  // For the messages only: the model is the first argument naming an existing file, the output
  // directory follows -o.
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-o" && i + 1 < argc)
      run.outputDir = argv[++i];
    else if (arg.rfind("-o", 0) == 0 && arg.size() > 2 && arg[2] != '-')
      run.outputDir = arg.substr(arg[2] == '=' ? 3 : 2);
    else if (run.modelPath.empty() && arg[0] != '-' && llvm::sys::fs::is_regular_file(arg))
      run.modelPath = arg;
  }
  return runSupervised(work, run);
}
