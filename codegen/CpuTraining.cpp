// The CPU target's training build: the ops nn-autodiff adds (losses, backward kernels, noise in
// training mode, the optimizer step) and the code around the steps: optimizer configuration,
// metrics, the kerasc::TrainableModel the runtime's fit loop drives, and the training C API.
#include "codegen/CpuEmitter.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>

namespace kerasc::cpu {
namespace {

//===----------------------------------------------------------------------------------------===//
// Training ops: losses, the backward kernels, noise in training mode, the optimizer step
//===----------------------------------------------------------------------------------------===//

/// Keras loss function name -> the runtime's LossKind enumerator.
const char *lossKind(llvm::StringRef fn) {
  static const std::map<std::string, const char *> kinds = {
      {"mean_squared_error", "MeanSquaredError"},
      {"mean_absolute_error", "MeanAbsoluteError"},
      {"mean_absolute_percentage_error", "MeanAbsolutePercentageError"},
      {"mean_squared_logarithmic_error", "MeanSquaredLogarithmicError"},
      {"huber", "Huber"},
      {"log_cosh", "LogCosh"},
      {"binary_crossentropy", "BinaryCrossentropy"},
      {"categorical_crossentropy", "CategoricalCrossentropy"},
      {"sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"},
      {"kl_divergence", "KLDivergence"},
      {"poisson", "Poisson"},
      {"cosine_similarity", "CosineSimilarity"},
      {"hinge", "Hinge"},
      {"squared_hinge", "SquaredHinge"},
      {"categorical_hinge", "CategoricalHinge"}};
  auto it = kinds.find(fn.str());
  return it == kinds.end() ? nullptr : it->second;
}

/// The runtime LossConfig of a Keras loss `fn` with options `config`, as a C++ expression.
std::string lossConfig(llvm::StringRef fn, DictionaryAttr config) {
  const char *kind = lossKind(fn);
  if (!kind)
    throw std::runtime_error("the cpu target has no loss '" + fn.str() + "'");
  std::string fields = fmt::format("c.kind = kerasc::LossKind::{};", kind);
  if (auto v = config.getAs<BoolAttr>("from_logits"))
    fields += fmt::format(" c.from_logits = {};", v.getValue() ? "true" : "false");
  if (auto v = config.getAs<FloatAttr>("label_smoothing"))
    fields += fmt::format(" c.label_smoothing = {};", floatLiteral(v.getValueAsDouble()));
  if (auto v = config.getAs<FloatAttr>("delta"))
    fields += fmt::format(" c.delta = {};", floatLiteral(v.getValueAsDouble()));
  if (auto v = config.getAs<FloatAttr>("axis"))
    if (v.getValueAsDouble() != -1.0)
      throw std::runtime_error("loss '" + fn.str() + "': only axis=-1 is supported");
  return fmt::format("[] {{ kerasc::LossConfig c{{}}; {} return c; }}()", fields);
}

// --- image augmentation layers in training (RandomFlip, ...; runtime/kerasc/augment.h) -------

/// A number in a Keras config converted by the importer (i64 or f64).
std::optional<double> configNumber(Attribute a) {
  if (auto f = a.dyn_cast_or_null<FloatAttr>())
    return f.getValueAsDouble();
  if (auto i = a.dyn_cast_or_null<IntegerAttr>())
    return static_cast<double>(i.getInt());
  return std::nullopt;
}

/// Keras's _set_factor: a number f gives [max(-|f|, floor), |f|], a pair is sorted; an absent
/// factor is `fallback`. `floor` is -1 for the geometric layers and 0 for RandomContrast.
std::optional<std::pair<double, double>> factorRange(DictionaryAttr cfg, llvm::StringRef key,
                                                     double floor) {
  Attribute a = cfg.get(key);
  if (!a)
    return std::nullopt;
  if (auto f = configNumber(a))
    return std::make_pair(std::max(-std::fabs(*f), floor), std::fabs(*f));
  auto list = a.dyn_cast<ArrayAttr>();
  std::optional<double> lo, hi;
  if (list && list.size() == 2) {
    lo = configNumber(list[0]);
    hi = configNumber(list[1]);
  }
  if (!lo || !hi)
    throw std::runtime_error("config field '" + key.str() + "' must be a number or two numbers");
  return std::make_pair(std::min(*lo, *hi), std::max(*lo, *hi));
}

/// The runtime AugmentConfig of an augmentation layer's Keras config, as a C++ expression.
std::string augmentConfig(llvm::StringRef cls, DictionaryAttr cfg) {
  auto text = [&](const char *key, const char *fallback) {
    auto s = cfg.getAs<StringAttr>(key);
    return s ? s.getValue().str() : std::string(fallback);
  };
  std::string fields;
  auto range = [&](const char *lower, const char *upper, std::pair<double, double> r) {
    fields += fmt::format(" c.{} = {}; c.{} = {};", lower, floatLiteral(r.first), upper,
                          floatLiteral(r.second));
  };
  auto resampling = [&] {
    const std::string fill = text("fill_mode", "reflect"), interp = text("interpolation", "bilinear");
    fields += fmt::format(" c.fill_mode = kerasc::FillMode::{};",
                          fill == "wrap"       ? "Wrap"
                          : fill == "constant" ? "Constant"
                          : fill == "nearest"  ? "Nearest"
                                               : "Reflect");
    fields += fmt::format(" c.interpolation = kerasc::Interpolation::{};",
                          interp == "nearest" ? "Nearest" : "Bilinear");
    fields += fmt::format(" c.fill_value = {};",
                          floatLiteral(configNumber(cfg.get("fill_value")).value_or(0.0)));
  };
  std::string kind;
  if (cls == "RandomFlip") {
    kind = "Flip";
    const std::string mode = text("mode", "horizontal_and_vertical");
    fields += fmt::format(" c.flip_horizontal = {}; c.flip_vertical = {};",
                          mode != "vertical" ? "true" : "false",
                          mode != "horizontal" ? "true" : "false");
  } else if (cls == "RandomRotation") {
    kind = "Rotation";
    range("lower", "upper", factorRange(cfg, "factor", -1.0).value_or(std::make_pair(0.0, 0.0)));
    resampling();
  } else if (cls == "RandomZoom" || cls == "RandomTranslation") {
    kind = cls == "RandomZoom" ? "Zoom" : "Translation";
    auto height = factorRange(cfg, "height_factor", -1.0);
    if (!height)
      throw std::runtime_error("missing required config field 'height_factor'");
    range("lower", "upper", *height);
    if (auto width = factorRange(cfg, "width_factor", -1.0)) {
      range("width_lower", "width_upper", *width);
      fields += " c.has_width = true;";
    } else if (cls == "RandomTranslation") {
      throw std::runtime_error("missing required config field 'width_factor'");
    }
    resampling();
  } else if (cls == "RandomContrast") {
    kind = "Contrast";
    auto factor = factorRange(cfg, "factor", 0.0);
    if (!factor)
      throw std::runtime_error("missing required config field 'factor'");
    range("lower", "upper", *factor);
    std::pair<double, double> values{0.0, 255.0}; // Keras's default value_range
    if (auto list = cfg.getAs<ArrayAttr>("value_range"); list && list.size() == 2)
      values = {configNumber(list[0]).value_or(0.0), configNumber(list[1]).value_or(255.0)};
    range("value_low", "value_high", values);
  } else {
    throw std::runtime_error("unknown augmentation layer " + cls.str());
  }
  return fmt::format("[] {{ kerasc::AugmentConfig c{{}}; c.kind = kerasc::AugmentKind::{};{} "
                     "return c; }}()",
                     kind, fields);
}

/// The training-mode code of an augmentation layer (nn.noise) or of RandomFlip's gradient
/// (nn.noise_grad), or "" when `op` is neither.
std::string renderAugmentation(Operation *op, const std::string &name, ShapedType type,
                               const std::function<std::string(Value)> &pointer) {
  auto cfg = op->getAttrOfType<DictionaryAttr>("config");
  llvm::StringRef cls = op->getAttrOfType<StringAttr>("layer_class").getValue();
  if (!cfg || !cls.startswith("Random"))
    return "";
  const std::string layer = firstLayerName(op->getLoc());
  auto stream = op->getAttrOfType<IntegerAttr>("stream");
  if (!stream || type.getRank() != 4)
    throw std::runtime_error(fmt::format("layer {} ({}): expected a 4-D batch of images with "
                                         "an RNG stream from nn-autodiff",
                                         layer, cls.str()));
  std::string config;
  try {
    config = augmentConfig(cls, cfg);
  } catch (const std::runtime_error &e) {
    throw std::runtime_error(fmt::format("layer {} ({}): {}", layer, cls.str(), e.what()));
  }
  auto format = cfg.getAs<StringAttr>("data_format");
  const bool first = format && format.getValue() == "channels_first";
  ArrayRef<int64_t> d = type.getShape();
  const std::string layout = first ? fmt::format("{}, {}, {}, true", d[2], d[3], d[1])
                                   : fmt::format("{}, {}, {}, false", d[1], d[2], d[3]);
  const bool forward = isa<nn::NoiseOp>(op);
  if (!forward && cls != "RandomFlip")
    throw std::runtime_error(fmt::format("layer {} ({}): no gradient through this augmentation",
                                         layer, cls.str()));
  return fmt::format("    static const kerasc::AugmentConfig config = {};\n"
                     "    kerasc::{}(config, g_seed, kerasc::noise_stream(g_iterations, {}),\n"
                     "                         kerasc::ImageLayout{{{}}}, {}, {}, batch);\n",
                     config, forward ? "augment_forward" : "augment_flip_backward",
                     stream.getInt(), layout, pointer(op->getOperand(0)), name);
}
// --- end of the image augmentation section -------------------------------------------------

/// Index tables mapping each element of `full` (with batch) to its element in `part`, which
/// broadcasts to `full`: the arguments of kerasc::broadcast_offset / kerasc::reduce_to after i.

//===----------------------------------------------------------------------------------------===//
// Training build: optimizer, metrics, the TrainableModel the runtime's fit loop drives, C API
//===----------------------------------------------------------------------------------------===//

/// A Keras serialized object's class name and config (`"glorot_uniform"` or
/// `{"class_name": "GlorotUniform", "config": {...}}`).
std::pair<std::string, nlohmann::json> kerasObject(const std::string &text) {
  nlohmann::json j = nlohmann::json::parse(text);
  if (j.is_string())
    return {j.get<std::string>(), nlohmann::json::object()};
  return {j.value("class_name", ""), j.value("config", nlohmann::json::object())};
}

/// A C++ expression building the runtime ConstraintConfig of a Keras constraint.
std::string constraintConfig(const std::string &text) {
  auto [cls, config] = kerasObject(text);
  static const std::map<std::string, const char *> kinds = {
      {"MaxNorm", "MaxNorm"},       {"max_norm", "MaxNorm"},     {"NonNeg", "NonNeg"},
      {"non_neg", "NonNeg"},        {"UnitNorm", "UnitNorm"},    {"unit_norm", "UnitNorm"},
      {"MinMaxNorm", "MinMaxNorm"}, {"min_max_norm", "MinMaxNorm"}};
  auto it = kinds.find(cls);
  if (it == kinds.end())
    throw std::runtime_error("unsupported constraint '" + cls +
                             "' (supported: MaxNorm, NonNeg, UnitNorm, MinMaxNorm)");
  std::string fields = fmt::format("c.kind = kerasc::ConstraintKind::{};", it->second);
  for (const char *key : {"max_value", "min_value", "rate"})
    if (config.contains(key) && config[key].is_number())
      fields += fmt::format(" c.{} = {};", key, floatLiteral(config[key].get<double>()));
  if (config.contains("axis")) {
    if (!config["axis"].is_number_integer())
      throw std::runtime_error("constraint '" + cls + "': only a single integer axis is supported");
    fields += fmt::format(" c.axis = {};", config["axis"].get<int>());
  }
  return fmt::format("[] {{ kerasc::ConstraintConfig c = kerasc::default_constraint_config("
                     "kerasc::ConstraintKind::{}); {} return c; }}()",
                     it->second, fields);
}

/// A C++ expression building the runtime InitializerConfig of a Keras initializer.
std::string initializerConfig(const std::string &text) {
  auto [cls, config] = kerasObject(text);
  static const std::map<std::string, const char *> kinds = {
      {"Zeros", "Zeros"}, {"zeros", "Zeros"}, {"Ones", "Ones"}, {"ones", "Ones"},
      {"Constant", "Constant"}, {"constant", "Constant"},
      {"RandomNormal", "RandomNormal"}, {"random_normal", "RandomNormal"},
      {"RandomUniform", "RandomUniform"}, {"random_uniform", "RandomUniform"},
      {"TruncatedNormal", "TruncatedNormal"}, {"truncated_normal", "TruncatedNormal"},
      {"GlorotUniform", "GlorotUniform"}, {"glorot_uniform", "GlorotUniform"},
      {"GlorotNormal", "GlorotNormal"}, {"glorot_normal", "GlorotNormal"},
      {"HeUniform", "HeUniform"}, {"he_uniform", "HeUniform"},
      {"HeNormal", "HeNormal"}, {"he_normal", "HeNormal"},
      {"LecunUniform", "LecunUniform"}, {"lecun_uniform", "LecunUniform"},
      {"LecunNormal", "LecunNormal"}, {"lecun_normal", "LecunNormal"},
      {"Orthogonal", "Orthogonal"}, {"orthogonal", "Orthogonal"},
      {"VarianceScaling", "VarianceScaling"}, {"variance_scaling", "VarianceScaling"},
      {"Identity", "Identity"}, {"identity", "Identity"}};
  auto it = kinds.find(cls);
  if (it == kinds.end())
    throw std::runtime_error("unsupported initializer '" + cls + "'");
  std::string fields;
  for (const char *key : {"value", "mean", "stddev", "minval", "maxval", "gain", "scale"})
    if (config.contains(key) && config[key].is_number())
      fields += fmt::format(" c.{} = {};", key, config[key].get<double>());
  if (config.contains("mode") && config["mode"].is_string()) {
    std::string mode = config["mode"];
    fields += fmt::format(" c.mode = kerasc::{};", mode == "fan_out"   ? "kFanOut"
                                                   : mode == "fan_avg" ? "kFanAvg"
                                                                       : "kFanIn");
  }
  if (config.contains("distribution") && config["distribution"].is_string()) {
    std::string d = config["distribution"];
    fields += fmt::format(" c.distribution = kerasc::{};",
                          d == "uniform"                                 ? "kUniform"
                          : d == "untruncated_normal" || d == "normal" ? "kUntruncatedNormal"
                                                                         : "kTruncatedNormal");
  }
  return fmt::format("[] {{ kerasc::InitializerConfig c = kerasc::default_initializer_config("
                     "kerasc::InitializerKind::{});{} return c; }}()",
                     it->second, fields);
}

} // namespace

std::string CpuEmitter::broadcastTables(ShapedType full, ShapedType part, std::string &decls) {
  const bool partHasBatch = nn::hasBatchDim(part) && part.getRank() == full.getRank();
  ArrayRef<int64_t> sample = full.getShape().drop_front();
  ArrayRef<int64_t> dims = part.getShape();
  if (partHasBatch)
    dims = dims.drop_front();
  const int64_t rank = sample.size();
  std::vector<int64_t> strides(rank, 0);
  int64_t stride = 1;
  for (int64_t d = rank - 1, od = (int64_t)dims.size() - 1; d >= 0 && od >= 0; --d, --od) {
    if (dims[od] != 1)
      strides[d] = stride;
    stride *= dims[od];
  }
  std::string table = fmt::format("bcast{}", tempCounter++);
  decls += fmt::format("    static constexpr int64_t {}_dims[] = {{{}}};\n", table,
                       fmt::join(sample, ", "));
  decls += fmt::format("    static constexpr int64_t {}_strides[] = {{{}}};\n", table,
                       fmt::join(strides, ", "));
  return fmt::format("{}, {}, {}_dims, {}_strides, {}", nn::elementsPerSample(full),
                     partHasBatch ? nn::elementsPerSample(part) : 0, table, table, rank);
}

bool CpuEmitter::renderTrainingOp(Operation *op, const std::string &name, ShapedType type,
                                  std::string &out) {
  auto count = [&](Value v) {
    ShapedType t = shapedType(v);
    return fmt::format("{}{}", nn::hasBatchDim(t) ? "batch * " : "", nn::elementsPerSample(t));
  };
  if (auto g = dyn_cast<nn::MatMulGradInputOp>(op)) {
    ShapedType kernel = shapedType(g.getKernel());
    int64_t k = kernel.getDimSize(0), n = kernel.getDimSize(1);
    out += fmt::format("    kerasc::matmul_grad_input({}, {}, {}, batch * {}, {}, {});\n",
                       pointer(g.getGrad()), pointer(g.getKernel()), name,
                       nn::elementsPerSample(shapedType(g.getGrad())) / n, k, n);
  } else if (auto g = dyn_cast<nn::MatMulGradKernelOp>(op)) {
    int64_t k = type.getDimSize(0), n = type.getDimSize(1);
    out += fmt::format("    kerasc::matmul_grad_kernel({}, {}, {}, batch * {}, {}, {});\n",
                       pointer(g.getInput()), pointer(g.getGrad()), name,
                       nn::elementsPerSample(shapedType(g.getInput())) / k, k, n);
  } else if (auto bn = dyn_cast<nn::BatchNormTrainOp>(op)) {
    // Training-mode BatchNormalization (kerasc/normalization.h): [outer, C, inner] around the
    // axis; the moving statistics are weights, updated in place (training builds keep weights
    // writable), so predict, evaluate and saved weights see them like Keras's.
    const int64_t axis = bn.getAxis();
    auto [outer, inner] = aroundAxis(type, axis);
    out += fmt::format("    kerasc::batch_norm_train({}, {}, {}, {}, {}, {}, batch * {}, {}, {}, "
                       "{}, {});\n",
                       pointer(bn.getInput()), name, pointer(bn.getGamma()),
                       pointer(bn.getBeta()), pointer(bn.getMovingMean()),
                       pointer(bn.getMovingVariance()), outer, type.getDimSize(axis), inner,
                       floatLiteral(bn.getEpsilon().convertToDouble()),
                       floatLiteral(bn.getMomentum().convertToDouble()));
  } else if (auto g = dyn_cast<nn::BatchNormGradOp>(op)) {
    ShapedType in = shapedType(g.getInput());
    const int64_t axis = g.getAxis();
    auto [outer, inner] = aroundAxis(in, axis);
    if (static_cast<int64_t>(g.getOperand()) == 0)
      out += fmt::format("    kerasc::batch_norm_grad_input({}, {}, {}, {}, batch * {}, {}, {}, "
                         "{});\n",
                         pointer(g.getGrad()), pointer(g.getInput()), pointer(g.getGamma()),
                         name, outer, in.getDimSize(axis), inner,
                         floatLiteral(g.getEpsilon().convertToDouble()));
    else
      out += fmt::format("    kerasc::batch_norm_grad_gamma({}, {}, {}, batch * {}, {}, {}, {});\n",
                         pointer(g.getGrad()), pointer(g.getInput()), name, outer,
                         in.getDimSize(axis), inner,
                         floatLiteral(g.getEpsilon().convertToDouble()));
  } else if (auto g = dyn_cast<nn::LayerNormGradOp>(op)) {
    ShapedType in = shapedType(g.getInput());
    const int64_t axis = g.getAxis();
    auto [outer, inner] = aroundAxis(in, axis);
    const std::string rows = fmt::format("batch * {}", outer);
    const int64_t n = in.getDimSize(axis) * inner;
    const std::string eps = floatLiteral(g.getEpsilon().convertToDouble());
    const char *rms = g.getRmsScaling() ? "true" : "false";
    if (static_cast<int64_t>(g.getOperand()) == 0)
      out += fmt::format("    kerasc::layer_norm_grad_input({}, {}, {}, {}, {}, {}, {}, {});\n",
                         pointer(g.getGrad()), pointer(g.getInput()), pointer(g.getGamma()),
                         name, rows, n, eps, rms);
    else
      out += fmt::format("    kerasc::layer_norm_grad_gamma({}, {}, {}, {}, {}, {}, {});\n",
                         pointer(g.getGrad()), pointer(g.getInput()), name, rows, n, eps, rms);
  } else if (auto r = dyn_cast<nn::ReduceToOp>(op)) {
    std::string decls;
    std::string tables = broadcastTables(shapedType(r.getInput()), type, decls);
    out += fmt::format("{}    kerasc::reduce_to({}, {}, {}, {}, {});\n", decls,
                       pointer(r.getInput()), name, count(r.getInput()), count(r.getResult()),
                       tables);
  } else if (auto g = dyn_cast<nn::SoftmaxGradOp>(op)) {
    int64_t axis = g.getAxis();
    auto [outer, inner] = aroundAxis(type, axis);
    out += fmt::format("    kerasc::softmax_grad({}, {}, {}, batch * {}, {}, {}, {});\n",
                       pointer(g.getGrad()), pointer(g.getOutput()), name, outer,
                       type.getDimSize(axis), inner, g.getLog() ? "true" : "false");
  } else if (auto sl = dyn_cast<nn::SliceOp>(op)) {
    ShapedType in = shapedType(sl.getInput());
    int64_t axis = sl.getAxis();
    auto [outer, inner] = aroundAxis(in, axis);
    out += fmt::format("    kerasc::slice({}, {}, batch * {}, {}, {}, {});\n",
                       pointer(sl.getInput()), name, outer,
                       static_cast<int64_t>(sl.getSize()) * inner,
                       static_cast<int64_t>(sl.getOffset()) * inner, in.getDimSize(axis) * inner);
  } else if (std::string augment =
                 isa<nn::NoiseOp, nn::NoiseGradOp>(op)
                     ? renderAugmentation(op, name, type, [&](Value v) { return pointer(v); })
                     : std::string();
             !augment.empty()) {
    out += augment; // image augmentation (the section above)
  } else if (isa<nn::NoiseOp, nn::NoiseGradOp>(op)) {
    llvm::StringRef cls = op->getAttrOfType<StringAttr>("layer_class").getValue();
    auto rateAttr = op->getAttrOfType<FloatAttr>("rate");
    auto stream = op->getAttrOfType<IntegerAttr>("stream");
    const bool spatial = cls.startswith("SpatialDropout");
    const char *kind = cls == "Dropout" || spatial  ? "Dropout"
                       : cls == "GaussianNoise"     ? "GaussianNoise"
                       : cls == "GaussianDropout"   ? "GaussianDropout"
                       : cls == "AlphaDropout"      ? "AlphaDropout"
                                                    : nullptr;
    if (!kind || !stream) {
      throw std::runtime_error(fmt::format("layer {}: training through {} is not supported",
                                           firstLayerName(op->getLoc()), cls.str()));
    }
    // SpatialDropout draws once per (sample, channel): the channel axis is the last one, or
    // the first after the batch for channels_first.
    std::string shape = "kerasc::NoiseShape{}";
    if (spatial) {
      auto channelsFirst = op->getAttrOfType<BoolAttr>("channels_first");
      const bool first = channelsFirst && channelsFirst.getValue();
      shape = fmt::format("kerasc::NoiseShape{{{}, {}, {}}}", nn::elementsPerSample(type),
                          first ? type.getDimSize(1) : type.getShape().back(),
                          first ? "true" : "false");
    }
    const bool forward = isa<nn::NoiseOp>(op);
    out += fmt::format("    kerasc::noise_{}(kerasc::NoiseKind::{}, {}, g_seed,\n"
                       "                         kerasc::noise_stream(g_iterations, {}), {},\n"
                       "                         {}, {}, {});\n",
                       forward ? "forward" : "backward", kind,
                       floatLiteral(rateAttr ? rateAttr.getValueAsDouble() : 0.0),
                       stream.getInt(), shape, pointer(op->getOperand(0)), name,
                       count(op->getOperand(0)));
  } else if (isa<nn::LossOp, nn::LossGradOp>(op)) {
    Value pred = op->getOperand(0), target = op->getOperand(1);
    ShapedType p = shapedType(pred);
    const int64_t d = p.getShape().back();
    const double weight = op->getAttrOfType<FloatAttr>("weight").getValueAsDouble();
    out += fmt::format("    static const kerasc::LossConfig config = {};\n",
                       lossConfig(op->getAttrOfType<StringAttr>("fn").getValue(),
                                  op->getAttrOfType<DictionaryAttr>("config")));
    if (isa<nn::LossOp>(op))
      out += fmt::format("    {}[0] = {} * kerasc::loss_value(config, {}, {}, batch * {}, {});\n",
                         name, floatLiteral(weight), pointer(target), pointer(pred),
                         nn::elementsPerSample(p) / d, d);
    else
      out += fmt::format("    kerasc::loss_gradient(config, {}, {}, batch * {}, {}, {}, {});\n",
                         pointer(target), pointer(pred), nn::elementsPerSample(p) / d, d,
                         floatLiteral(weight), name);
  } else if (auto reg = dyn_cast<nn::RegularizerOp>(op)) {
    out += fmt::format("    static const kerasc::RegularizerConfig config = [] {{\n"
                       "      kerasc::RegularizerConfig c; c.kind = kerasc::RegularizerKind::L1L2;\n"
                       "      c.l1 = {}; c.l2 = {}; return c; }}();\n"
                       "    {}[0] = kerasc::regularizer_value(config, {}, {}){};\n",
                       floatLiteral(reg.getL1().convertToDouble()),
                       floatLiteral(reg.getL2().convertToDouble()), name,
                       pointer(reg.getInput()), count(reg.getInput()),
                       reg.getBatchMean() && *reg.getBatchMean()
                           ? " / static_cast<float>(batch)"
                           : "");
  } else {
    return false;
  }
  return true;
}

std::string CpuEmitter::renderApplyGradients(nn::ApplyGradientsOp apply) {
  std::string out = fmt::format(
      "  // ---- optimizer ---- one {} step on {} trainable weights{}\n  {{\n{}"
      "    kerasc::ParamSlot params[] = {{\n",
      optimizerClass, apply.getGrads().size(),
      llvm::any_of(apply.getWeights(),
                   [&](Attribute a) {
                     return !weights.at(a.cast<StringAttr>().str()).constraint.empty();
                   })
          ? ", then the weights' constraints"
          : "",
      kernelTimer("optimizer: " + optimizerClass));
  std::string constraints;
  for (auto it : llvm::enumerate(apply.getGrads())) {
    std::string weight = apply.getWeights()[it.index()].cast<StringAttr>().str();
    const WeightTensor &w = weights.at(weight);
    out += fmt::format("        {{{}, const_cast<float *>({}), g_optimizer_state + {}, {}}},  // {}\n",
                       weightSymbol(weight), pointer(it.value()), optimizerStateOffset(weight),
                       w.data.size(), weight);
    if (!w.constraint.empty())
      constraints += fmt::format(
          "    {{\n      static const int64_t shape[] = {{{}}};\n"
          "      kerasc::apply_constraint({}, {}, shape, {});\n    }}\n",
          fmt::join(w.shape, ", "), constraintConfig(w.constraint), weightSymbol(weight),
          w.shape.size());
  }
  out += fmt::format("    }};\n    kerasc::optimizer_apply(g_optimizer, g_iterations, params, {});\n",
                     apply.getGrads().size());
  return out + constraints + "  }\n\n";
}

void CpuEmitter::setTrainingFunctions(func::FuncOp train, func::FuncOp test) {
  trainFunc = train;
  testFunc = test;
  auto opt = train->getAttrOfType<DictionaryAttr>("nn.optimizer");
  optimizerClass = opt.getAs<StringAttr>("class_name").str();
  const int slots = nn::optimizerStateSlots(opt);
  train.walk([&](nn::ApplyGradientsOp apply) {
    for (Attribute a : apply.getWeights()) {
      std::string name = a.cast<StringAttr>().str();
      trainableWeights.push_back(name);
      optimizerOffsets[name] = trainableFloats * slots;
      trainableFloats += weights.at(name).data.size();
    }
  });
  optimizerSlotCount = slots;
}

std::vector<std::string> CpuEmitter::allVariables() const {
  // Keras variables first, in model.weights order, then derived constants the IR reads.
  std::vector<std::string> names = options.variables;
  for (const std::string &w : usedWeights)
    if (std::find(names.begin(), names.end(), w) == names.end())
      names.push_back(w);
  return names;
}

std::string CpuEmitter::renderOptimizerConfig() {
  auto opt = trainFunc->getAttrOfType<DictionaryAttr>("nn.optimizer");
  auto config = opt.getAs<DictionaryAttr>("config");
  std::string out = fmt::format(
      "// Optimizer: Keras's {} with the model's compile config (unset keys keep Keras's\n"
      "// defaults, from kerasc::default_optimizer_config).\n"
      "kerasc::OptimizerConfig make_optimizer_config() {{\n"
      "  kerasc::OptimizerConfig c = kerasc::default_optimizer_config(kerasc::OptimizerKind::{});\n",
      optimizerClass, optimizerClass);
  for (const char *key : {"beta_1", "beta_2", "epsilon", "rho", "momentum",
                          "initial_accumulator_value", "weight_decay", "clipnorm", "clipvalue",
                          "global_clipnorm"})
    if (auto v = config.getAs<FloatAttr>(key))
      out += fmt::format("  c.{} = {};\n", key, v.getValueAsDouble());
  for (const char *key : {"nesterov", "amsgrad", "centered"})
    if (auto v = config.getAs<BoolAttr>(key))
      out += fmt::format("  c.{} = {};\n", key, v.getValue() ? "true" : "false");
  if (auto lr = config.getAs<FloatAttr>("learning_rate"))
    out += fmt::format("  c.learning_rate = {};\n", lr.getValueAsDouble());
  if (auto schedule = config.getAs<DictionaryAttr>("learning_rate")) {
    std::string cls = schedule.getAs<StringAttr>("class_name").str();
    auto sc = schedule.getAs<DictionaryAttr>("config");
    out += fmt::format("  c.schedule.kind = kerasc::ScheduleKind::{};\n", cls);
    for (const char *key : {"initial_learning_rate", "decay_steps", "decay_rate", "alpha",
                            "warmup_target", "warmup_steps"})
      if (auto v = sc.getAs<FloatAttr>(key))
        out += fmt::format("  c.schedule.{} = {};\n", key, v.getValueAsDouble());
    if (auto v = sc.getAs<BoolAttr>("staircase"))
      out += fmt::format("  c.schedule.staircase = {};\n", v.getValue() ? "true" : "false");
    if (auto boundaries = sc.getAs<ArrayAttr>("boundaries")) {
      auto values = sc.getAs<ArrayAttr>("values");
      if (boundaries.size() > 32 || !values || values.size() != boundaries.size() + 1)
        throw std::runtime_error("PiecewiseConstantDecay needs at most 32 boundaries and one "
                                 "more value than boundaries");
      out += fmt::format("  c.schedule.num_boundaries = {};\n", boundaries.size());
      for (auto b : llvm::enumerate(boundaries))
        out += fmt::format("  c.schedule.boundaries[{}] = {};\n", b.index(),
                           b.value().cast<FloatAttr>().getValueAsDouble());
      for (auto v : llvm::enumerate(values))
        out += fmt::format("  c.schedule.values[{}] = {};\n", v.index(),
                           v.value().cast<FloatAttr>().getValueAsDouble());
    }
  }
  return out + "  return c;\n}\n\n";
}

std::string CpuEmitter::renderMetrics() {
  auto metrics = trainFunc->getAttrOfType<ArrayAttr>("nn.metrics");
  std::string configs, names, update;
  int count = 0;
  ArrayRef<Type> results = func.getFunctionType().getResults();
  for (auto perOutput : llvm::enumerate(metrics ? metrics.getValue() : ArrayRef<Attribute>())) {
    unsigned k = perOutput.index();
    auto type = results[k].cast<ShapedType>();
    const int64_t d = type.getShape().back();
    for (Attribute a : perOutput.value().cast<ArrayAttr>()) {
      auto m = a.cast<DictionaryAttr>();
      if (m.getAs<StringAttr>("kind").getValue() == "Loss") {
        // A loss function used as a metric (Keras's MeanMetricWrapper): the mean over rows of
        // the per-row loss, kept in the state's total/count like the other mean metrics.
        std::string fn = m.getAs<StringAttr>("fn").str();
        configs += fmt::format("    [] {{ kerasc::MetricConfig c{{}}; c.kind = "
                               "kerasc::MetricKind::MeanSquaredError; c.name = \"{}\"; "
                               "return c; }}(),  // the {} loss as a metric\n",
                               m.getAs<StringAttr>("name").str(), fn);
        names += fmt::format("\"{}\", ", m.getAs<StringAttr>("name").str());
        update += fmt::format(
            "  {{\n    static const kerasc::LossConfig config = {4};\n"
            "    const int64_t rows = n * {2};\n"
            "    g_metric_states[{0}].total += static_cast<double>(\n"
            "        kerasc::loss_value(config, y[{1}], predictions[{1}], rows, {3})) * rows;\n"
            "    g_metric_states[{0}].count += static_cast<double>(rows);\n  }}\n",
            count, k, nn::elementsPerSample(type) / d, d,
            lossConfig(fn, m.getAs<DictionaryAttr>("config")));
        ++count;
        continue;
      }
      std::string fields;
      for (const char *key : {"threshold"})
        if (auto v = m.getAs<FloatAttr>(key))
          fields += fmt::format(" c.{} = {};", key, floatLiteral(v.getValueAsDouble()));
      for (const char *key : {"k", "num_thresholds"})
        if (auto v = m.getAs<FloatAttr>(key))
          fields += fmt::format(" c.{} = {};", key, static_cast<int>(v.getValueAsDouble()));
      if (m.get("pr_curve"))
        fields += " c.pr_curve = true;";
      configs += fmt::format("    [] {{ kerasc::MetricConfig c{{}}; c.kind = kerasc::MetricKind::{}; "
                             "c.name = \"{}\";{} return c; }}(),\n",
                             m.getAs<StringAttr>("kind").str(), m.getAs<StringAttr>("name").str(),
                             fields);
      names += fmt::format("\"{}\", ", m.getAs<StringAttr>("name").str());
      update += fmt::format("  kerasc::metric_update(kMetrics[{0}], g_metric_states[{0}], y[{1}], "
                            "predictions[{1}], n * {2}, {3});\n",
                            count, k, nn::elementsPerSample(type) / d, d);
      ++count;
    }
  }
  numMetrics = count;
  return fmt::format(
      "// Compiled metrics, in Keras's order; their state is reset every epoch by the fit loop.\n"
      "const kerasc::MetricConfig kMetrics[{0}] = {{\n{1}}};\n"
      "const char *const kMetricNames[{0}] = {{{2}}};\n"
      "kerasc::MetricState g_metric_states[{0}];\n\n"
      "void metrics_reset(void *) {{\n"
      "  for (int m = 0; m < {3}; ++m)\n"
      "    kerasc::metric_reset(kMetrics[m], g_metric_states[m]);\n}}\n\n"
      "void metrics_update(void *, const float *const *y, const float *const *predictions, int64_t n) {{\n"
      "{4}  (void)y; (void)predictions; (void)n;\n}}\n\n"
      "void metrics_result(void *, double *values) {{\n"
      "  for (int m = 0; m < {3}; ++m)\n"
      "    values[m] = kerasc::metric_result(kMetrics[m], g_metric_states[m]);\n}}\n\n",
      std::max(count, 1),
      count ? configs : "    [] { kerasc::MetricConfig c{}; return c; }(),  // placeholder: no metrics\n",
      count ? names : "nullptr", count, update);
}

std::string CpuEmitter::renderTraining() {
  const int64_t trainFixed = funcAttr(trainFunc, "nn.fixed_bytes");
  const int64_t trainPerSample = funcAttr(trainFunc, "nn.arena_bytes");
  const int64_t testFixed = funcAttr(testFunc, "nn.fixed_bytes");
  const int64_t testPerSample = funcAttr(testFunc, "nn.arena_bytes");
  std::string out = "\n// ===================================== Training ==================================\n\n";
  out += renderOptimizerConfig();
  out += fmt::format(
      "kerasc::OptimizerConfig g_optimizer = make_optimizer_config();\n"
      "int64_t g_iterations = 0;  // Keras's optimizer.iterations\n"
      "uint64_t g_seed = 0;       // seeds dropout and noise layers\n"
      "constexpr int kOptimizerSlots = {0};  // state floats per trainable float\n"
      "alignas(64) float g_optimizer_state[{1}];\n\n"
      "// Scratch memory of the training step: {2} fixed bytes (weight gradients, the loss) and\n"
      "// {3} bytes per sample, planned with liveness across the forward and backward passes; the\n"
      "// test step reuses it ({4} + {5} per sample).\n"
      "constexpr size_t kTrainFixedBytes = {6};\n"
      "constexpr size_t kTrainBytesPerSample = {7};\n"
      "alignas(64) unsigned char g_train_arena[kTrainFixedBytes + kTrainBytesPerSample * {8}_MAX_BATCH];\n\n",
      optimizerSlotCount, std::max<int64_t>(trainableFloats * optimizerSlotCount, 1), trainFixed,
      trainPerSample, testFixed, testPerSample, std::max(trainFixed, testFixed),
      std::max(trainPerSample, testPerSample), macro);

  std::string trainBody = renderBody(trainFunc);
  std::string testBody = renderBody(testFunc);
  out += fmt::format(
      "// One training step on `batch` samples: in = (inputs..., targets...), out = (loss,\n"
      "// predictions...). Forward pass in training mode, loss, backward pass, optimizer step.\n"
      "void train_step_body(const float *const *in, float *const *out, int64_t batch,\n"
      "                     unsigned char *arena) {{\n  (void)arena;\n{}}}\n\n"
      "// Forward pass in inference mode and the loss (evaluate, validation).\n"
      "void test_step_body(const float *const *in, float *const *out, int64_t batch,\n"
      "                    unsigned char *arena) {{\n  (void)arena;\n{}}}\n\n",
      trainBody, testBody);
  out += renderMetrics();
  out += renderTrainableModel();
  return out;
}

std::string CpuEmitter::renderTrainableModel() {
  const size_t numIn = inputs.size(), numOut = outputs.size();
  std::string out;
  // Ports: inputs, outputs and targets per sample.
  auto port = [&](const std::string &name, ShapedType type) {
    return fmt::format("{{\"{}\", {}, {}, {{{}}}}}", name, nn::elementsPerSample(type),
                       type.getRank() - 1, fmt::join(type.getShape().drop_front(), ", "));
  };
  std::string ins, outs, targets;
  for (const Port &p : inputs)
    ins += "    " + port(p.name, p.type) + ",\n";
  for (const Port &p : outputs)
    outs += "    " + port(p.name, p.type) + ",\n";
  for (unsigned k = 0; k < numOut; ++k)
    targets += "    " + port(outputs[k].name,
                             shapedType(trainFunc.getArgument(numIn + k))) + ",\n";
  // Every variable, for weight files and checkpoints.
  std::string slots;
  std::vector<std::string> variables = allVariables();
  for (const std::string &name : variables) {
    const WeightTensor &w = weights.at(name);
    slots += fmt::format("    {{\"{}\", {}, {}, {}, {}, {{{}}}, {}}},\n", name,
                         w.kerasPath.empty() ? "nullptr" : "\"" + w.kerasPath + "\"",
                         weightSymbol(name), w.data.size(), w.shape.size(),
                         fmt::join(w.shape, ", "),
                         optimizerOffsets.count(name) ? "true" : "false");
  }
  std::string stateSlots, init;
  for (const std::string &name : trainableWeights) {
    const WeightTensor &w = weights.at(name);
    stateSlots += fmt::format("    {{\"optimizer/{}\", nullptr, g_optimizer_state + {}, {}, 1, {{{}}}, false}},\n",
                              name, optimizerOffsets.at(name),
                              w.data.size() * optimizerSlotCount, w.data.size() * optimizerSlotCount);
    init += fmt::format("    {{{}, nullptr, g_optimizer_state + {}, {}}},\n", weightSymbol(name),
                        optimizerOffsets.at(name), w.data.size());
  }
  std::string reinit;
  // BatchNormalization moving statistics that the training step updates restart from their
  // initializers too (a Keras model built from scratch has them at 0 / 1); a frozen layer's
  // stay, like its gamma and beta.
  std::set<std::string> updatedStatistics;
  trainFunc.walk([&](nn::BatchNormTrainOp bn) {
    for (Value v : {bn.getMovingMean(), bn.getMovingVariance()})
      if (auto w = v.getDefiningOp<nn::WeightOp>())
        updatedStatistics.insert(w.getName().str());
  });
  for (size_t j = 0; j < variables.size(); ++j) {
    const WeightTensor &w = weights.at(variables[j]);
    if (w.initializer.empty() || (!w.trainable && !updatedStatistics.count(variables[j])))
      continue;
    reinit += fmt::format(
        "  {{  // {}\n    static const int64_t shape[] = {{{}}};\n"
        "    kerasc::initialize({}, {}, shape, {}, seed, {});\n  }}\n",
        variables[j], fmt::join(w.shape, ", "), initializerConfig(w.initializer),
        weightSymbol(variables[j]), w.shape.size(), j);
  }
  out += fmt::format(
      "const kerasc::DataPort kInputs[] = {{\n{0}}};\n"
      "const kerasc::DataPort kOutputs[] = {{\n{1}}};\n"
      "const kerasc::DataPort kTargets[] = {{\n{2}}};\n\n"
      "// Every variable of the model (Keras's model.weights order), where Keras saves it.\n"
      "kerasc::TensorSlot g_weight_slots[] = {{\n{3}}};\n"
      "kerasc::TensorSlot g_optimizer_slots[] = {{\n{4}    {{nullptr, nullptr, nullptr, 0, 0, {{}}, false}},  // end\n}};\n\n"
      "// Optimizer state starts at zero, except what the optimizer initializes (Adagrad).\n"
      "void reset_optimizer_state() {{\n"
      "  std::memset(g_optimizer_state, 0, sizeof(g_optimizer_state));\n"
      "  kerasc::ParamSlot params[] = {{\n{5}    {{nullptr, nullptr, nullptr, 0}},\n  }};\n"
      "  kerasc::optimizer_init_state(g_optimizer, params, {6});\n"
      "  g_iterations = 0;\n}}\n\n"
      "// A step body's calling convention from the fit loop's: in = (x..., y...),\n"
      "// out = (&loss, predictions...).\n"
      "float run_step(void (*body)(const float *const *, float *const *, int64_t, unsigned char *),\n"
      "               const float *const *x, const float *const *y, int64_t n,\n"
      "               float *const *predictions) {{\n"
      "  const float *in[{7}];\n"
      "  for (int i = 0; i < {8}; ++i) in[i] = x[i];\n"
      "  for (int k = 0; k < {9}; ++k) in[{8} + k] = y[k];\n"
      "  float loss = 0.0f;\n"
      "  float *out[{10}] = {{&loss}};\n"
      "  for (int k = 0; k < {9}; ++k) out[1 + k] = predictions[k];\n"
      "  body(in, out, n, g_train_arena);\n"
      "  return loss;\n}}\n\n"
      "float train_step(void *, const float *const *x, const float *const *y, int64_t n,\n"
      "                 float *const *predictions) {{\n"
      "  return run_step(train_step_body, x, y, n, predictions);\n}}\n\n"
      "float test_step(void *, const float *const *x, const float *const *y, int64_t n,\n"
      "                float *const *predictions) {{\n"
      "  return run_step(test_step_body, x, y, n, predictions);\n}}\n\n"
      "double get_learning_rate(void *) {{\n"
      "  return kerasc::current_learning_rate(g_optimizer, g_iterations);\n}}\n\n"
      "bool set_learning_rate(void *, double lr) {{\n"
      "  if (g_optimizer.schedule.kind != kerasc::ScheduleKind::Constant) return false;\n"
      "  g_optimizer.learning_rate = lr;\n  return true;\n}}\n\n"
      "// Training from scratch: every trainable variable drawn from its layer's initializer.\n"
      "void reinitialize(void *, uint64_t seed) {{\n{11}  (void)seed;\n  reset_optimizer_state();\n}}\n\n"
      "kerasc::TrainableModel g_model = {{\n"
      "    nullptr, \"{12}\", {8}, {9}, kInputs, kOutputs, kTargets, {13}_MAX_BATCH,\n"
      "    train_step, test_step, {14}, kMetricNames, metrics_reset, metrics_update, metrics_result,\n"
      "    get_learning_rate, set_learning_rate, &g_iterations, &g_seed,\n"
      "    {15}, g_weight_slots, {6}, g_optimizer_slots, reinitialize}};\n\n",
      ins, outs, targets, slots, stateSlots, init, trainableWeights.size(), numIn + numOut, numIn,
      numOut, numOut + 1, reinit, options.modelName, macro, numMetrics, variables.size());
  return out;
}

std::string CpuEmitter::renderTrainingApi() {
  std::string scratch, pointers;
  for (const Port &o : outputs) {
    scratch += fmt::format("alignas(64) static float g_step_output{}[{}_MAX_BATCH * {}];\n",
                           o.index, macro, nn::elementsPerSample(o.type));
    pointers += fmt::format("g_step_output{}, ", o.index);
  }
  return fmt::format(
      "// ---- Training API ----\n\n"
      "}}  // extern \"C\"\nnamespace {{\n{2}}}  // namespace\nextern \"C\" {{\n\n"
      "int {0}_train_step(const float *const *inputs, const float *const *targets, long long batch,\n"
      "                  float *loss) {{\n"
      "  if (!g_ready) return -1;\n"
      "  if (batch < 1 || batch > {1}_MAX_BATCH) return -2;\n"
      "  float *predictions[] = {{{3}}};\n"
      "  const float l = train_step(nullptr, inputs, targets, batch, predictions);\n"
      "  if (loss) *loss = l;\n"
      "  return 0;\n}}\n\n"
      "int {0}_fit(const float *const *inputs, const float *const *targets, long long samples,\n"
      "           int epochs, long long batch_size, int shuffle, unsigned long long seed,\n"
      "           float *final_loss) {{\n"
      "  if (!g_ready) return -1;\n"
      "  kerasc::FitOptions options;\n"
      "  options.epochs = epochs;\n"
      "  options.batch_size = batch_size;\n"
      "  options.shuffle = shuffle != 0;\n"
      "  options.seed = seed;\n"
      "  options.verbose = 0;\n"
      "  kerasc::Dataset data;\n"
      "  data.x.assign(inputs, inputs + {1}_NUM_INPUTS);\n"
      "  data.y.assign(targets, targets + {1}_NUM_OUTPUTS);\n"
      "  data.n = samples;\n"
      "  kerasc::History history;\n"
      "  std::string error;\n"
      "  if (kerasc::fit(g_model, options, data, nullptr, &history, &error) != 0) {{\n"
      "    std::fprintf(stderr, \"{0}_fit: %s\\n\", error.c_str());\n"
      "    return -2;\n"
      "  }}\n"
      "  const std::vector<double> *losses = history.column(\"loss\");\n"
      "  if (final_loss && losses && !losses->empty())\n"
      "    *final_loss = static_cast<float>(losses->back());\n"
      "  return 0;\n}}\n\n"
      "int {0}_evaluate(const float *const *inputs, const float *const *targets, long long samples,\n"
      "                long long batch_size, float *loss, double *metrics) {{\n"
      "  if (!g_ready) return -1;\n"
      "  kerasc::Dataset data;\n"
      "  data.x.assign(inputs, inputs + {1}_NUM_INPUTS);\n"
      "  data.y.assign(targets, targets + {1}_NUM_OUTPUTS);\n"
      "  data.n = samples;\n"
      "  kerasc::Logs logs;\n"
      "  std::string error;\n"
      "  if (kerasc::evaluate(g_model, data, batch_size, 0, &logs, &error) != 0) {{\n"
      "    std::fprintf(stderr, \"{0}_evaluate: %s\\n\", error.c_str());\n"
      "    return -2;\n"
      "  }}\n"
      "  if (loss && logs.get(\"loss\")) *loss = static_cast<float>(*logs.get(\"loss\"));\n"
      "  for (int m = 0; metrics && m < g_model.num_metrics; ++m)\n"
      "    metrics[m] = logs.get(g_model.metric_names[m]) ? *logs.get(g_model.metric_names[m]) : 0.0;\n"
      "  return 0;\n}}\n\n"
      "int {0}_reinitialize(unsigned long long seed) {{\n"
      "  reinitialize(nullptr, seed);\n  g_ready = true;\n  return 0;\n}}\n\n"
      "int {0}_save_checkpoint(const char *path) {{\n"
      "  std::string error;\n"
      "  if (!kerasc::write_checkpoint(path, g_model, \"\", &error)) {{\n"
      "    std::fprintf(stderr, \"%s\\n\", error.c_str());\n    return -2;\n  }}\n"
      "  return 0;\n}}\n\n"
      "int {0}_load_checkpoint(const char *path) {{\n"
      "  std::string state, error;\n"
      "  if (!kerasc::read_checkpoint(path, g_model, &state, &error)) {{\n"
      "    std::fprintf(stderr, \"%s\\n\", error.c_str());\n    return -2;\n  }}\n"
      "  g_ready = true;\n  return 0;\n}}\n\n",
      prefix, macro, scratch, pointers);
}

std::string CpuEmitter::trainingHeader() {
  std::string targets;
  for (unsigned k = 0; k < outputs.size(); ++k)
    targets += fmt::format("#define {}_TARGET{}_SIZE {}\n", macro, k,
                           nn::elementsPerSample(shapedType(trainFunc.getArgument(inputs.size() + k))));
  return fmt::format(
      "\n/* Training (compiled from the model's loss, optimizer and metrics). targets[k] holds\n"
      " * batch * {0}_TARGETk_SIZE floats (class indices as floats for sparse losses). Not\n"
      " * thread-safe; weights are updated in place. Functions return 0 on success. */\n"
      "{1}#define {0}_NUM_METRICS {2}\n"
      "/* Scratch memory of the training step: fixed bytes plus bytes per sample. */\n"
      "#define {0}_TRAIN_ARENA_FIXED_BYTES {4}\n"
      "#define {0}_TRAIN_ARENA_BYTES_PER_SAMPLE {5}\n"
      "/* One optimizer step on 1 <= batch <= {0}_MAX_BATCH samples; *loss receives the batch loss. */\n"
      "int {3}_train_step(const float *const *inputs, const float *const *targets, long long batch,\n"
      "                  float *loss);\n"
      "/* Keras's model.fit without validation or logs; *final_loss: the last epoch's mean loss. */\n"
      "int {3}_fit(const float *const *inputs, const float *const *targets, long long samples,\n"
      "           int epochs, long long batch_size, int shuffle, unsigned long long seed,\n"
      "           float *final_loss);\n"
      "/* Keras's model.evaluate: the loss and {0}_NUM_METRICS metric values. */\n"
      "int {3}_evaluate(const float *const *inputs, const float *const *targets, long long samples,\n"
      "                long long batch_size, float *loss, double *metrics);\n"
      "/* Draws every trainable weight from its initializer (training from scratch). */\n"
      "int {3}_reinitialize(unsigned long long seed);\n"
      "/* Weights and optimizer state in kerasc's native checkpoint format (KERASCK1). */\n"
      "int {3}_save_checkpoint(const char *path);\n"
      "int {3}_load_checkpoint(const char *path);\n",
      macro, targets, numMetrics, prefix, funcAttr(trainFunc, "nn.fixed_bytes"),
      funcAttr(trainFunc, "nn.arena_bytes"));
}

} // namespace kerasc::cpu
