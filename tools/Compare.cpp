#include "tools/Compare.h"

#include "codegen/Target.h"
#include "frontend/ModelSpec.h"

#include "kerasc/arrays.h"
#include "kerasc/rng.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace kerasc {

namespace {

// Agreement: fused and unfused code sum in different orders, so they may differ by rounding;
// this bound is 10x the Keras tolerance of the end-to-end tests, relative above magnitude 1.
constexpr double kAgreementTolerance = 1e-4;
constexpr uint64_t kSeed = 0; // of the agreement input and of the bench's synthetic data

const char *kUsage =
    "usage: kerasc compare MODEL [--batch 1,32,256] [--train-batch 32,128] [--runs 5]\n"
    "                            [--min-time 0.2] [--cpu native] [--work DIR] [--keep]\n"
    "\n"
    "Builds the fused (-O3) and unfused (-O3 --no-fuse) programs of MODEL, checks that they\n"
    "predict the same outputs, and times them side by side, end to end and per kernel.\n"
    "Prints a Markdown report and writes it to WORK/compare.md.\n"
    "\n"
    "  --batch LIST        inference batch sizes, comma separated (default 1,32,256); the\n"
    "                      largest is also the agreement check's batch and the per-kernel one\n"
    "  --train-batch LIST  training batch sizes (default 32,128), for a model compiled with a\n"
    "                      loss and an optimizer; the first is the per-kernel one\n"
    "  --runs N            runs per figure; figures are median [min-max] (default 5)\n"
    "  --min-time S        seconds each inference run lasts at least (default 0.2)\n"
    "  --cpu CPU           native, x86-64-v3 or generic, as kerasc compile --cpu (default native)\n"
    "  --work DIR          where the outputs, builds, logs and compare.md go; kept\n"
    "                      (default: a temporary directory, removed at the end)\n"
    "  --keep              keep the temporary directory and print where it is\n"
    "\n"
    "Exit code: 0 when fused and unfused agree (max abs diff <= 1e-4 * max(1, max|y|)),\n"
    "1 when they disagree or a step fails, 2 on a usage error.\n";

struct CompareOptions {
  std::string model;
  std::vector<long long> batches{1, 32, 256};
  std::vector<long long> trainBatches{32, 128};
  int runs = 5;
  double minTime = 0.2;
  std::string cpu = "native";
  std::string work;
  bool keep = false;
};

/// A usage error: the message, then the usage text, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::vector<long long> parseBatchList(const std::string &option, const std::string &text) {
  std::vector<long long> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char *end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end || v < 1)
      throw UsageError(fmt::format("{} needs positive integers separated by commas, got '{}'",
                                   option, text));
    out.push_back(v);
  }
  if (out.empty())
    throw UsageError(option + " needs at least one batch size");
  return out;
}

/// Options as "--name value" or "--name=value". Returns false for --help.
bool parseOptions(int argc, char **argv, CompareOptions &o) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    bool hasValue = false;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {
      value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
      hasValue = true;
    }
    if (arg == "--help" || arg == "-h")
      return false;
    if (arg == "--keep") {
      o.keep = true;
      continue;
    }
    if (arg.empty() || arg[0] != '-') {
      if (!o.model.empty())
        throw UsageError(fmt::format("one model only (got '{}' and '{}')", o.model, arg));
      o.model = arg;
      continue;
    }
    static const char *const kValued[] = {"--batch", "--train-batch", "--runs",
                                          "--min-time", "--cpu", "--work"};
    if (!llvm::is_contained(kValued, arg))
      throw UsageError("unknown option " + arg);
    if (!hasValue) {
      if (i + 1 >= argc)
        throw UsageError("option " + arg + " needs a value");
      value = argv[++i];
    }
    char *end = nullptr;
    if (arg == "--batch") {
      o.batches = parseBatchList(arg, value);
    } else if (arg == "--train-batch") {
      o.trainBatches = parseBatchList(arg, value);
    } else if (arg == "--runs") {
      const long v = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end || v < 1 || v > 1000)
        throw UsageError("--runs needs an integer from 1 to 1000, got '" + value + "'");
      o.runs = static_cast<int>(v);
    } else if (arg == "--min-time") {
      const double v = std::strtod(value.c_str(), &end);
      if (value.empty() || *end || !(v >= 0))
        throw UsageError("--min-time needs a number of seconds >= 0, got '" + value + "'");
      o.minTime = v;
    } else if (arg == "--cpu") {
      if (!llvm::is_contained(cpuNames(), value))
        throw UsageError("--cpu must be native, x86-64-v3 or generic, got '" + value + "'");
      o.cpu = value;
    } else if (arg == "--work") {
      if (value.empty())
        throw UsageError("--work needs a directory");
      o.work = value;
    }
  }
  if (o.model.empty())
    throw UsageError("no model given");
  return true;
}

// ---- running subprocesses ------------------------------------------------------------------

std::string readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The last `lines` lines of `text`.
std::string tailLines(const std::string &text, int lines) {
  size_t pos = text.size();
  if (pos && text[pos - 1] == '\n')
    --pos;
  while (pos > 0 && lines > 0)
    if (text[--pos] == '\n')
      --lines;
  return text.substr(lines > 0 ? 0 : pos + 1);
}

/// Runs `args` (args[0] is the program's path) with stdout and stderr going to `logPath`;
/// returns the exit code, or throws when the program could not start or was killed.
int runLogged(const std::vector<std::string> &args, const std::string &logPath) {
  std::vector<llvm::StringRef> argRefs(args.begin(), args.end());
  const llvm::Optional<llvm::StringRef> redirects[] = {llvm::StringRef(""),
                                                       llvm::StringRef(logPath),
                                                       llvm::StringRef(logPath)};
  std::string error;
  bool failedToStart = false;
  const int code = llvm::sys::ExecuteAndWait(args[0], argRefs, llvm::None, redirects, 0, 0,
                                             &error, &failedToStart);
  if (failedToStart)
    throw Error(fmt::format("cannot run {}: {}", args[0], error));
  if (code < 0)
    throw Error(fmt::format("{} failed: {}\n{}", fmt::join(args, " "), error,
                            tailLines(readText(logPath), 30)));
  return code;
}

/// Runs `args` and returns its output; a non-zero exit is an error showing the output's tail.
std::string runChecked(const std::vector<std::string> &args, const std::string &logPath,
                       const std::string &what) {
  if (runLogged(args, logPath) != 0)
    throw Error(fmt::format("{} failed ({}); the end of {}:\n{}", what, fmt::join(args, " "),
                            logPath, tailLines(readText(logPath), 40)));
  return readText(logPath);
}

std::string joinPath(const std::string &a, const std::string &b) {
  llvm::SmallString<256> path(a);
  llvm::sys::path::append(path, b);
  return path.str().str();
}

void progress(const std::string &message) {
  std::fprintf(stderr, "kerasc compare: %s\n", message.c_str());
  std::fflush(stderr);
}

// ---- one variant: compiled output, two builds ------------------------------------------------

struct Variant {
  std::string label;   // "fused" or "unfused"
  std::string dir;     // kerasc compile's output directory
  std::string program; // Release build
  std::string profiledProgram; // -DKERASC_PROFILE=ON build
  std::string report;  // report.md
  bool trainable = false;
};

/// The generated program's name: OUTPUT_NAME in the generated CMakeLists.txt.
std::string programName(const std::string &dir) {
  const std::string cmake = readText(joinPath(dir, "CMakeLists.txt"));
  const size_t at = cmake.find("OUTPUT_NAME ");
  if (at == std::string::npos)
    throw Error(dir + "/CMakeLists.txt names no OUTPUT_NAME");
  const size_t start = at + std::string("OUTPUT_NAME ").size();
  return cmake.substr(start, cmake.find_first_of(")\n ", start) - start);
}

/// Configures and builds `dir` into `dir/buildName`; returns the program's path.
std::string buildVariant(const Variant &v, const std::string &buildName, bool profile,
                         const std::string &logDir) {
  auto cmake = llvm::sys::findProgramByName("cmake");
  if (!cmake)
    throw Error("cmake not found on PATH (needed to build the generated programs)");
  const std::string buildDir = joinPath(v.dir, buildName);
  const std::string log = joinPath(logDir, v.label + "-" + buildName + ".log");
  std::vector<std::string> configure{*cmake, "-S", v.dir, "-B", buildDir,
                                     "-DCMAKE_BUILD_TYPE=Release"};
  // Ninja compiles the program's two sources in parallel (Make builds the library target
  // before starting on main.cpp), which halves the build time; a generator the user chose
  // through CMAKE_GENERATOR wins.
  if (!std::getenv("CMAKE_GENERATOR") && llvm::sys::findProgramByName("ninja"))
    configure.insert(configure.end(), {"-G", "Ninja"});
  if (profile)
    configure.push_back("-DKERASC_PROFILE=ON");
  const std::string what = fmt::format("building the {} program{}", v.label,
                                       profile ? " (profiled)" : "");
  runChecked(configure, joinPath(logDir, v.label + "-" + buildName + "-configure.log"), what);
  // Two jobs: the program has two sources (the model and main.cpp).
  runChecked({*cmake, "--build", buildDir, "-j2"}, log, what);
  return joinPath(buildDir, programName(v.dir));
}

/// Compiles MODEL into WORK/fused or WORK/unfused.
Variant compileVariant(const CompareOptions &o, const char *kerascPath, bool fuse,
                       long long maxBatch, const std::string &logDir) {
  Variant v;
  v.label = fuse ? "fused" : "unfused";
  v.dir = joinPath(o.work, v.label);
  progress(fmt::format("compiling {} (--max-batch {}) ...", v.label, maxBatch));
  std::vector<std::string> compile{kerascPath, "compile", o.model, "-o", v.dir, "-O3",
                                   "--cpu=" + o.cpu, "--max-batch", std::to_string(maxBatch)};
  if (!fuse)
    compile.push_back("--no-fuse");
  const std::string log = joinPath(logDir, v.label + "-compile.log");
  if (runLogged(compile, log) != 0) {
    // The compiler's own message names the model and the problem: pass it on as it is.
    std::fputs(readText(log).c_str(), stderr);
    throw Error(fmt::format("{}: the {} compile failed", o.model, v.label));
  }
  v.report = readText(joinPath(v.dir, "report.md"));
  // The report has a training step section exactly when the output builds training code.
  v.trainable = v.report.find("\n## Training step") != std::string::npos;
  return v;
}

/// The Release and the profiled build of a compiled variant.
void buildBoth(Variant &v, const std::string &logDir) {
  progress(fmt::format("building {} (Release, then with KERASC_PROFILE) ...", v.label));
  v.program = buildVariant(v, "build", false, logDir);
  v.profiledProgram = buildVariant(v, "build-profile", true, logDir);
}

// ---- agreement ---------------------------------------------------------------------------------

struct Port {
  std::string name;                 // "input 0: x"
  std::vector<int64_t> sampleShape; // dims after the batch
};

/// Inputs and outputs from `<prog> info` ("input  0: name (None, 784)").
void readPorts(const std::string &program, const std::string &logDir, std::vector<Port> &inputs,
               std::vector<Port> &outputs) {
  std::stringstream info(runChecked({program, "info"}, joinPath(logDir, "info.log"), "info"));
  std::string line;
  while (std::getline(info, line)) {
    const bool isInput = line.rfind("input", 0) == 0, isOutput = line.rfind("output", 0) == 0;
    const size_t open = line.rfind('('), close = line.rfind(')');
    if ((!isInput && !isOutput) || open == std::string::npos || close < open)
      continue;
    Port port;
    port.name = line.substr(0, open);
    while (!port.name.empty() && port.name.back() == ' ')
      port.name.pop_back();
    std::stringstream dims(line.substr(open + 1, close - open - 1));
    std::string dim;
    for (int d = 0; std::getline(dims, dim, ','); ++d)
      if (d > 0)
        port.sampleShape.push_back(std::stoll(dim));
    (isInput ? inputs : outputs).push_back(port);
  }
  if (inputs.empty() || outputs.empty())
    throw Error(program + " info listed no inputs or outputs");
}

struct OutputAgreement {
  std::string name, shape;
  double maxAbsDiff = 0, maxRelDiff = 0, maxAbsY = 0, limit = 0;
  bool pass = true;
};

std::string shapeText(const std::vector<int64_t> &shape) {
  return fmt::format("({})", fmt::join(shape, ", "));
}

/// Predicts `batch` seeded random samples with both programs and compares every output.
std::vector<OutputAgreement> checkAgreement(const Variant &fused, const Variant &unfused,
                                            long long batch, const std::string &dir,
                                            const std::string &logDir) {
  std::vector<Port> inputs, outputs;
  readPorts(fused.program, logDir, inputs, outputs);
  llvm::sys::fs::create_directories(dir);
  std::vector<std::string> inputArgs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::vector<int64_t> shape{batch};
    shape.insert(shape.end(), inputs[i].sampleShape.begin(), inputs[i].sampleShape.end());
    int64_t count = 1;
    for (int64_t d : shape)
      count *= d;
    // The same synthetic data as `bench` feeds: uniform [0, 1), one stream per input.
    std::vector<float> data(static_cast<size_t>(count));
    for (size_t k = 0; k < data.size(); ++k)
      data[k] = random_uniform(kSeed, i, k);
    const std::string path = joinPath(dir, fmt::format("input_{}.npy", i));
    write_npy(path, data.data(), shape);
    inputArgs.insert(inputArgs.end(), {"--input", path});
  }
  auto predict = [&](const Variant &v) {
    std::vector<std::string> args{v.program, "predict"};
    args.insert(args.end(), inputArgs.begin(), inputArgs.end());
    for (size_t o = 0; o < outputs.size(); ++o)
      args.insert(args.end(), {"--output", joinPath(dir, fmt::format("{}_{}.npy", v.label, o))});
    runChecked(args, joinPath(logDir, v.label + "-predict.log"), v.label + " predict");
  };
  predict(fused);
  predict(unfused);

  std::vector<OutputAgreement> result;
  for (size_t o = 0; o < outputs.size(); ++o) {
    const Array f = read_npy(joinPath(dir, fmt::format("fused_{}.npy", o)));
    const Array u = read_npy(joinPath(dir, fmt::format("unfused_{}.npy", o)));
    OutputAgreement a;
    a.name = outputs[o].name;
    a.shape = shapeText(u.shape);
    if (f.shape != u.shape) {
      a.pass = false;
      a.maxAbsDiff = a.maxRelDiff = INFINITY;
      result.push_back(a);
      continue;
    }
    bool nan = false;
    for (size_t k = 0; k < u.data.size(); ++k) {
      const double diff = std::fabs(double(f.data[k]) - double(u.data[k]));
      nan |= std::isnan(diff);
      a.maxAbsDiff = std::max(a.maxAbsDiff, diff);
      a.maxRelDiff = std::max(a.maxRelDiff, diff / std::max(1e-30, std::fabs(double(u.data[k]))));
      a.maxAbsY = std::max(a.maxAbsY, std::fabs(double(u.data[k])));
    }
    if (nan)
      a.maxAbsDiff = a.maxRelDiff = NAN;
    a.limit = kAgreementTolerance * std::max(1.0, a.maxAbsY);
    a.pass = a.maxAbsDiff <= a.limit; // false for NaN
    result.push_back(a);
  }
  return result;
}

// ---- bench ---------------------------------------------------------------------------------------

struct Kernel {
  std::string name;
  double us;
};

struct BenchResult {
  std::string unit; // "us" or "samples/s"
  double median = 0, min = 0, max = 0;
  long long arenaBytes = 0;
  int threads = 0;
  std::string isa;
  std::vector<Kernel> kernels;
};

BenchResult runBench(const std::string &program, const std::string &label, bool train,
                     long long batch, const CompareOptions &o, bool profile,
                     const std::string &logDir) {
  std::vector<std::string> args{program, "bench", "--task", train ? "train" : "infer",
                                "--batch", std::to_string(batch), "--runs",
                                std::to_string(o.runs), "--seed", std::to_string(kSeed)};
  if (!train)
    args.insert(args.end(), {"--min-time", fmt::format("{}", o.minTime)});
  if (profile)
    args.push_back("--profile");
  const std::string task = fmt::format("{}_b{}", train ? "train" : "infer", batch);
  const std::string log =
      joinPath(logDir, fmt::format("{}-{}{}.log", label, task, profile ? "-profile" : ""));
  const std::string output = runChecked(args, log, label + " bench " + task);
  // The report is the last line that is a JSON object.
  std::stringstream lines(output);
  std::string line, json;
  while (std::getline(lines, line))
    if (!line.empty() && line[0] == '{')
      json = line;
  try {
    const nlohmann::json j = nlohmann::json::parse(json);
    BenchResult r;
    r.unit = j.at("unit").get<std::string>();
    r.median = j.at("median").get<double>();
    r.min = j.at("min").get<double>();
    r.max = j.at("max").get<double>();
    r.arenaBytes = j.at("arena_bytes").get<long long>();
    r.threads = j.at("threads").get<int>();
    r.isa = j.at("isa").get<std::string>();
    if (j.contains("kernels"))
      for (const auto &k : j.at("kernels"))
        r.kernels.push_back({k.at("name").get<std::string>(),
                             k.at(train ? "us_per_step" : "us_per_call").get<double>()});
    return r;
  } catch (const nlohmann::json::exception &e) {
    throw Error(fmt::format("{} bench {}: unreadable report ({}): {}", label, task, e.what(),
                            tailLines(output, 5)));
  }
}

// ---- formatting ----------------------------------------------------------------------------------

/// About three significant digits without an exponent: 0.123, 1.23, 12.3, 123, 12345.
std::string figure(double v) {
  if (!std::isfinite(v))
    return fmt::format("{}", v);
  const double a = std::fabs(v);
  return a >= 100 ? fmt::format("{:.0f}", v)
         : a >= 10 ? fmt::format("{:.1f}", v)
         : a >= 1  ? fmt::format("{:.2f}", v)
                   : fmt::format("{:.3g}", v);
}

std::string rangeText(const BenchResult &r) {
  return fmt::format("{} [{}–{}]", figure(r.median), figure(r.min), figure(r.max));
}

/// Markdown table cells must not contain '|'.
std::string cell(const std::string &text) {
  std::string out;
  for (char c : text)
    out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

/// "function: layer(s): ops" -> the layer(s) part ("dense (Dense) + dense_1 (Dense)").
std::string kernelLayers(const std::string &name) {
  const size_t first = name.find(": ");
  if (first == std::string::npos)
    return name;
  const size_t second = name.find(": ", first + 2);
  return name.substr(first + 2, second == std::string::npos ? std::string::npos
                                                            : second - first - 2);
}

std::vector<std::string> splitLayers(const std::string &layers) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t at; (at = layers.find(" + ", start)) != std::string::npos; start = at + 3)
    out.push_back(layers.substr(start, at - start));
  out.push_back(layers.substr(start));
  return out;
}

/// One variant's kernels: name, time per call/step, share of their sum.
std::string kernelTable(const BenchResult &r, const std::string &per) {
  double total = 0;
  for (const Kernel &k : r.kernels)
    total += k.us;
  std::string out = fmt::format("| # | kernel | us per {} | share |\n|---:|---|---:|---:|\n", per);
  for (size_t i = 0; i < r.kernels.size(); ++i)
    out += fmt::format("| {} | {} | {} | {:.1f}% |\n", i, cell(r.kernels[i].name),
                       figure(r.kernels[i].us), total > 0 ? 100 * r.kernels[i].us / total : 0.0);
  out += fmt::format("| | sum of {} kernels | {} | 100% |\n\n", r.kernels.size(), figure(total));
  return out;
}

/// Both variants' kernel times summed per layer. A kernel that spans several layers (a fused
/// epilogue "dense + activation") merges them into one group, and every kernel of any of those
/// layers, in either variant, counts under that group: the rows then compare the same work.
std::string layerTable(const BenchResult &fused, const BenchResult &unfused,
                       const std::string &per) {
  // Union-find over layer names, in order of first appearance (unfused first: program order).
  std::vector<std::string> names;
  std::map<std::string, size_t> index;
  std::vector<size_t> parent;
  auto id = [&](const std::string &layer) {
    auto [it, added] = index.emplace(layer, names.size());
    if (added) {
      names.push_back(layer);
      parent.push_back(parent.size());
    }
    return it->second;
  };
  std::function<size_t(size_t)> root = [&](size_t i) {
    return parent[i] == i ? i : parent[i] = root(parent[i]);
  };
  for (const BenchResult *r : {&unfused, &fused})
    for (const Kernel &k : r->kernels) {
      std::vector<std::string> layers = splitLayers(kernelLayers(k.name));
      const size_t first = root(id(layers[0]));
      for (size_t i = 1; i < layers.size(); ++i) {
        const size_t other = root(id(layers[i]));
        parent[std::max(first, other)] = std::min(first, other);
      }
    }
  struct Group {
    double fusedUs = 0, unfusedUs = 0;
    int fusedKernels = 0, unfusedKernels = 0;
  };
  std::map<size_t, Group> groups;
  for (const Kernel &k : fused.kernels) {
    Group &g = groups[root(id(splitLayers(kernelLayers(k.name))[0]))];
    g.fusedUs += k.us, ++g.fusedKernels;
  }
  for (const Kernel &k : unfused.kernels) {
    Group &g = groups[root(id(splitLayers(kernelLayers(k.name))[0]))];
    g.unfusedUs += k.us, ++g.unfusedKernels;
  }
  std::string out = fmt::format(
      "| layer(s) | fused us per {0} | unfused us per {0} | fused speedup | kernels fused / "
      "unfused |\n|---|---:|---:|---:|---:|\n",
      per);
  bool merged = false;
  for (auto &[rootId, g] : groups) { // root ids follow first appearance
    std::string title;
    int members = 0;
    for (size_t i = 0; i < names.size(); ++i)
      if (root(i) == rootId) {
        title += (title.empty() ? "" : " + ") + names[i];
        ++members;
      }
    merged |= members > 1;
    out += fmt::format("| {} | {} | {} | {} | {} / {} |\n", cell(title), figure(g.fusedUs),
                       figure(g.unfusedUs),
                       g.fusedUs > 0 && g.unfusedUs > 0
                           ? fmt::format("{:.2f}x", g.unfusedUs / g.fusedUs)
                           : std::string("–"),
                       g.fusedKernels, g.unfusedKernels);
  }
  out += "\n";
  if (merged)
    out += "A row naming several layers (\"a + b\") holds a kernel that spans them: every "
           "kernel of those layers, in either variant, is counted there, so the row compares "
           "the same work.\n\n";
  return out;
}

/// The "Total: ..." line of each kernel table in report.md, by section title.
std::vector<std::pair<std::string, std::string>> reportTotals(const std::string &report) {
  std::vector<std::pair<std::string, std::string>> totals;
  std::stringstream lines(report);
  std::string line, section;
  while (std::getline(lines, line)) {
    if (line.rfind("## ", 0) == 0)
      section = line.substr(3);
    else if (line.rfind("Total: ", 0) == 0)
      totals.push_back({section, line.substr(7)});
  }
  return totals;
}

/// The work table: kernels, FLOPs and bytes moved per function from both reports, and the
/// traffic fusion saves.
std::string workSection(const Variant &fused, const Variant &unfused) {
  struct Totals {
    long long kernels, flops1, bytes1, flopsB, bytesB, batch;
  };
  auto parse = [](const std::string &text, Totals &t) {
    return std::sscanf(text.c_str(),
                       "%lld kernels; %lld FLOPs and %lld bytes moved at batch 1, %lld FLOPs "
                       "and %lld bytes at batch %lld.",
                       &t.kernels, &t.flops1, &t.bytes1, &t.flopsB, &t.bytesB, &t.batch) == 6;
  };
  const auto f = reportTotals(fused.report), u = reportTotals(unfused.report);
  std::string out = "## Work (the reports' totals)\n\n"
                    "From each variant's report.md (kerasc compile --report): FLOPs count a "
                    "multiply-add as 2; bytes moved are float32 operands read and results "
                    "written once per kernel.\n\n";
  Totals tf{}, tu{};
  const bool parsed = f.size() == u.size() &&
                      llvm::all_of(llvm::zip(f, u), [&](const auto &pair) {
                        return parse(std::get<0>(pair).second, tf) &&
                               parse(std::get<1>(pair).second, tu);
                      });
  if (!parsed) { // a report format this tool does not know: show the lines as they are
    for (const auto &[label, totals] : {std::pair{"fused", &f}, std::pair{"unfused", &u}})
      for (const auto &[section, text] : *totals)
        out += fmt::format("- {}, {}: Total: {}\n", label, section, text);
    return out + "\n";
  }
  out += "| section | variant | kernels | FLOPs at batch 1 | bytes moved at batch 1 | batch | "
         "FLOPs | bytes moved |\n|---|---|---:|---:|---:|---:|---:|---:|\n";
  std::string savings;
  for (size_t i = 0; i < f.size(); ++i) {
    parse(f[i].second, tf);
    parse(u[i].second, tu);
    for (const auto &[label, t] : {std::pair{"fused", tf}, std::pair{"unfused", tu}})
      out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", cell(f[i].first), label,
                         t.kernels, t.flops1, t.bytes1, t.batch, t.flopsB, t.bytesB);
    if (tf.bytesB > 0)
      savings += fmt::format("- {}: fusion moves {:.2f}x fewer bytes ({} kernels instead of "
                             "{}).\n",
                             f[i].first, double(tu.bytesB) / double(tf.bytesB), tf.kernels,
                             tu.kernels);
  }
  return out + "\n" + savings + "\n";
}

// ---- the whole comparison ----------------------------------------------------------------------

/// Returns 0 when the variants agree, 1 when not; throws on any failed step.
int runCompare(const CompareOptions &o, const char *kerascPath) {
  const auto start = std::chrono::steady_clock::now();
  const std::string logDir = joinPath(o.work, "logs");
  if (auto ec = llvm::sys::fs::create_directories(logDir))
    throw Error(fmt::format("{}: cannot create directory: {}", logDir, ec.message()));
  const long long maxInferBatch = *std::max_element(o.batches.begin(), o.batches.end());
  long long maxBatch = std::max(
      maxInferBatch, *std::max_element(o.trainBatches.begin(), o.trainBatches.end()));

  Variant fused = compileVariant(o, kerascPath, true, maxBatch, logDir);
  if (!fused.trainable && maxBatch > maxInferBatch) {
    // Inference only: the training batch sizes do not apply, so the arena is sized for the
    // largest inference batch, as a user would compile it (a second compile takes a second).
    maxBatch = maxInferBatch;
    fused = compileVariant(o, kerascPath, true, maxBatch, logDir);
  }
  Variant unfused = compileVariant(o, kerascPath, false, maxBatch, logDir);
  const bool trainable = fused.trainable && unfused.trainable;
  buildBoth(fused, logDir);
  buildBoth(unfused, logDir);

  progress(fmt::format("checking agreement on {} samples ...", maxInferBatch));
  const std::vector<OutputAgreement> agreement =
      checkAgreement(fused, unfused, maxInferBatch, joinPath(o.work, "agreement"), logDir);
  const bool agree = llvm::all_of(agreement, [](const OutputAgreement &a) { return a.pass; });

  struct Row {
    std::string task;
    BenchResult fused, unfused;
  };
  std::vector<Row> rows;
  auto timeBoth = [&](bool train, long long batch) {
    const std::string task = fmt::format("{}_b{}", train ? "train" : "infer", batch);
    progress("timing " + task + " ...");
    rows.push_back({task, runBench(fused.program, "fused", train, batch, o, false, logDir),
                    runBench(unfused.program, "unfused", train, batch, o, false, logDir)});
  };
  for (long long b : o.batches)
    timeBoth(false, b);
  if (trainable)
    for (long long b : o.trainBatches)
      timeBoth(true, b);

  // ---- the report
  const BenchResult &any = rows.front().fused;
  std::string md = fmt::format("# kerasc compare: {}\n\n", o.model);
  md += fmt::format(
      "Fused: `kerasc compile MODEL -O3 --cpu={0} --max-batch {1}`; unfused: the same with "
      "`--no-fuse`. Each built with CMake (Release); per-kernel times come from a second build "
      "with `-DKERASC_PROFILE=ON`. Thread pool: {2} threads; GEMM instruction set: {3}. Every "
      "figure is the median [min–max] of {4} runs of the program's `bench` (inference runs last "
      "at least {5} s each; synthetic inputs uniform [0, 1), seed {6}).\n\n",
      o.cpu, maxBatch, any.threads, any.isa, o.runs, o.minTime, kSeed);

  md += fmt::format("## Agreement\n\n"
                    "`predict` on {} seeded random samples, fused against unfused; an output "
                    "agrees when its max abs diff <= {:g} * max(1, max|y|).\n\n"
                    "| output | shape | max abs diff | max rel diff | max abs y | limit | result "
                    "|\n|---|---|---:|---:|---:|---:|---|\n",
                    maxInferBatch, kAgreementTolerance);
  double worstAbs = 0, worstRel = 0;
  for (const OutputAgreement &a : agreement) {
    md += fmt::format("| {} | {} | {:.3g} | {:.3g} | {:.3g} | {:.3g} | {} |\n", cell(a.name),
                      a.shape, a.maxAbsDiff, a.maxRelDiff, a.maxAbsY, a.limit,
                      a.pass ? "pass" : "FAIL");
    worstAbs = std::isnan(a.maxAbsDiff) ? a.maxAbsDiff : std::max(worstAbs, a.maxAbsDiff);
    worstRel = std::isnan(a.maxRelDiff) ? a.maxRelDiff : std::max(worstRel, a.maxRelDiff);
  }
  md += fmt::format("\nAgreement: {} (max abs diff {:.3g}, max rel diff {:.3g})\n\n",
                    agree ? "pass" : "FAIL", worstAbs, worstRel);

  md += "## End to end\n\n"
        "infer_bB: microseconds per `predict` call of B samples (lower is better). train_bB: "
        "samples per second over one `fit` epoch at batch size B (higher is better). Fused "
        "speedup above 1 means the fused program is faster.\n\n"
        "| task | unit | fused median [min–max] | unfused median [min–max] | fused speedup |\n"
        "|---|---|---:|---:|---:|\n";
  for (const Row &r : rows) {
    const double speedup = r.fused.unit == "us" ? r.unfused.median / r.fused.median
                                                : r.fused.median / r.unfused.median;
    md += fmt::format("| {} | {} | {} | {} | {:.2f}x |\n", r.task, r.fused.unit,
                      rangeText(r.fused), rangeText(r.unfused), speedup);
  }
  if (!trainable)
    md += "\nNo training rows: the model has no training build (compile it in Keras with a "
          "loss and an optimizer).\n";
  // No peak resident set here: the bench reports getrusage's ru_maxrss, which Linux carries
  // over exec from the parent, so a program started by kerasc would show kerasc's own peak.
  md += "\n## Memory\n\n"
        "Planned arena (bytes) at the task's batch size.\n\n"
        "| task | arena fused (B) | arena unfused (B) | unfused / fused |\n|---|---:|---:|---:|\n";
  for (const Row &r : rows)
    md += fmt::format("| {} | {} | {} | {:.2f}x |\n", r.task, r.fused.arenaBytes,
                      r.unfused.arenaBytes,
                      r.fused.arenaBytes ? double(r.unfused.arenaBytes) / r.fused.arenaBytes
                                         : 1.0);
  md += "\n" + workSection(fused, unfused);

  auto perKernel = [&](bool train, long long batch) {
    const std::string task = fmt::format("{}_b{}", train ? "train" : "infer", batch);
    const std::string per = train ? "step" : "call";
    progress("profiling " + task + " ...");
    const BenchResult f =
        runBench(fused.profiledProgram, "fused", train, batch, o, true, logDir);
    const BenchResult u =
        runBench(unfused.profiledProgram, "unfused", train, batch, o, true, logDir);
    md += fmt::format("## Per kernel: {}\n\n"
                      "From the profiled builds (every kernel block timed, which adds a little "
                      "time per kernel): microseconds per {} and share of the kernels' sum.\n\n",
                      task, train ? "training step" : "predict call");
    for (const auto &[label, r] : {std::pair{"fused", &f}, std::pair{"unfused", &u}}) {
      md += fmt::format("### {} kernels ({})\n\n", label, task);
      md += kernelTable(*r, per);
      md += fmt::format("End to end in this build: {} {}.\n\n", rangeText(*r), r->unit);
    }
    md += fmt::format("### Per layer ({})\n\n", task);
    md += layerTable(f, u, per);
  };
  perKernel(false, maxInferBatch);
  if (trainable)
    perKernel(true, o.trainBatches.front());

  const std::string mdPath = joinPath(o.work, "compare.md");
  std::ofstream(mdPath, std::ios::binary) << md;
  std::fputs(md.c_str(), stdout);
  std::fflush(stdout);
  progress(fmt::format("done in {:.0f} s{}", std::chrono::duration<double>(
                                                std::chrono::steady_clock::now() - start)
                                                .count(),
                       agree ? "" : "; fused and unfused DISAGREE"));
  return agree ? 0 : 1;
}

} // namespace

int compareMain(int argc, char **argv, const char *kerascPath) {
  CompareOptions options;
  try {
    if (!parseOptions(argc, argv, options)) {
      std::fputs(kUsage, stdout);
      return 0;
    }
  } catch (const UsageError &e) {
    // The synopsis (the usage text's first two lines) and where the rest is.
    std::string synopsis(kUsage);
    synopsis = synopsis.substr(0, synopsis.find("\n\n"));
    std::fprintf(stderr, "kerasc compare: %s\n%s\n(kerasc compare --help lists the options)\n",
                 e.what(), synopsis.c_str());
    return 2;
  }
  if (!llvm::sys::fs::is_regular_file(options.model)) {
    std::fprintf(stderr, "kerasc: error: %s: no such file\n", options.model.c_str());
    return 1;
  }
  // The subprocesses run in other directories' builds: give them absolute paths.
  llvm::SmallString<256> model(options.model);
  llvm::sys::fs::make_absolute(model);
  options.model = model.str().str();

  const bool temporary = options.work.empty();
  if (temporary) {
    llvm::SmallString<256> dir;
    if (auto ec = llvm::sys::fs::createUniqueDirectory("kerasc-compare", dir)) {
      std::fprintf(stderr, "kerasc: error: cannot create a temporary directory: %s\n",
                   ec.message().c_str());
      return 1;
    }
    options.work = dir.str().str();
  } else {
    llvm::SmallString<256> dir(options.work);
    llvm::sys::fs::make_absolute(dir);
    options.work = dir.str().str();
  }
  int status = 1;
  try {
    status = runCompare(options, kerascPath);
  } catch (const Error &e) {
    std::fprintf(stderr, "kerasc: error: %s\n", e.what());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "kerasc: internal error: %s\n", e.what());
  }
  if (temporary && !options.keep)
    llvm::sys::fs::remove_directories(options.work);
  else
    progress("outputs, builds and logs kept in " + options.work);
  return status;
}

} // namespace kerasc
