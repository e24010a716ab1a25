// ImportModel: Keras layer semantics -> nn dialect. Each supported Keras class has one handler
// below; defaults follow Keras 3 (and tf.keras 2 where a saved file uses its older keys).
#include "frontend/ImportModel.h"
#include "frontend/KerasWeightLayout.h"

#include "ir/NNDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"

#include <fmt/format.h>

#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <set>

using namespace mlir;
using json = nlohmann::json;

namespace kerasc {
namespace {

const std::set<std::string> kNoiseLayers = {
    "Dropout",     "SpatialDropout1D", "SpatialDropout2D",      "SpatialDropout3D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"};

// --- image augmentation (RandomFlip, ...): nn.noise carrying the Keras config -------------
/// Training-only image augmentation layers: nn.noise with `config` = the layer's Keras config.
const std::set<std::string> kAugmentLayers = {"RandomFlip", "RandomRotation", "RandomZoom",
                                              "RandomTranslation", "RandomContrast"};

/// A Keras config value as an attribute: numbers keep their JSON kind (i64 / f64), lists become
/// arrays, objects dictionaries. Null entries are left out of dictionaries: every null in these
/// layers' configs means "the default" (e.g. RandomZoom's width_factor), as a missing key does.
Attribute jsonAttribute(Builder &b, const json &v) {
  if (v.is_boolean())
    return b.getBoolAttr(v.get<bool>());
  if (v.is_number_integer())
    return b.getI64IntegerAttr(v.get<int64_t>());
  if (v.is_number())
    return b.getF64FloatAttr(v.get<double>());
  if (v.is_string())
    return b.getStringAttr(v.get<std::string>());
  if (v.is_array()) {
    SmallVector<Attribute> items;
    for (const json &item : v)
      items.push_back(item.is_null() ? Attribute(b.getUnitAttr()) : jsonAttribute(b, item));
    return b.getArrayAttr(items);
  }
  if (v.is_object()) {
    SmallVector<NamedAttribute> entries;
    for (auto it = v.begin(); it != v.end(); ++it)
      if (!it.value().is_null())
        entries.push_back(b.getNamedAttr(it.key(), jsonAttribute(b, it.value())));
    return b.getDictionaryAttr(entries);
  }
  return b.getUnitAttr();
}

/// What is wrong with an augmentation layer's config for a `rank`-D input, or "". Keras accepts
/// the same values (it validates them in each layer's constructor); the ranges of the factors
/// are Keras's too.
std::string augmentConfigError(const std::string &cls, const json &cfg, int64_t rank) {
  if (rank != 4)
    return fmt::format("expects a batch of images (rank 4: batch, height, width, channels), "
                       "got rank {}", rank);
  auto oneOf = [&](const char *key, std::initializer_list<const char *> allowed,
                   const char *fallback) -> std::string {
    std::string v = fallback;
    if (cfg.contains(key) && !cfg[key].is_null()) {
      if (!cfg[key].is_string())
        return fmt::format("config field '{}' must be a string", key);
      v = cfg[key].get<std::string>();
    }
    for (const char *a : allowed)
      if (v == a)
        return "";
    return fmt::format("unsupported {} '{}' (expected one of: {})", key, v,
                       fmt::join(allowed, ", "));
  };
  // A factor: a number, or [lower, upper]; each within [lo, hi] (`required`: it must be there).
  auto factor = [&](const char *key, bool required, double lo, double hi) -> std::string {
    if (!cfg.contains(key) || cfg[key].is_null())
      return required ? fmt::format("missing required config field '{}'", key) : "";
    const json &f = cfg[key];
    std::vector<double> values;
    if (f.is_number())
      values = {f.get<double>()};
    else if (f.is_array() && f.size() == 2 && f[0].is_number() && f[1].is_number())
      values = {f[0].get<double>(), f[1].get<double>()};
    else
      return fmt::format("config field '{}' must be a number or a list of two numbers", key);
    for (double v : values)
      if (v < lo || v > hi)
        return fmt::format("config field '{}' must lie in [{}, {}], got {}", key, lo, hi, v);
    return "";
  };
  std::string error = oneOf("data_format", {"channels_last", "channels_first"}, "channels_last");
  if (cls == "RandomFlip" && error.empty())
    error = oneOf("mode", {"horizontal", "vertical", "horizontal_and_vertical"},
                  "horizontal_and_vertical");
  if (cls == "RandomRotation" || cls == "RandomZoom" || cls == "RandomTranslation") {
    if (error.empty())
      error = oneOf("fill_mode", {"reflect", "wrap", "constant", "nearest"}, "reflect");
    if (error.empty())
      error = oneOf("interpolation", {"bilinear", "nearest"}, "bilinear");
    if (error.empty() && cfg.contains("fill_value") && !cfg["fill_value"].is_null() &&
        !cfg["fill_value"].is_number())
      error = "config field 'fill_value' must be a number";
  }
  if (error.empty() && cls == "RandomRotation")
    error = factor("factor", false, -1.0, 1.0);
  if (error.empty() && (cls == "RandomZoom" || cls == "RandomTranslation"))
    error = factor("height_factor", true, -1.0, 1.0);
  if (error.empty() && (cls == "RandomZoom" || cls == "RandomTranslation"))
    error = factor("width_factor", cls == "RandomTranslation", -1.0, 1.0);
  if (error.empty() && cls == "RandomContrast") {
    error = factor("factor", true, -1.0, 1.0);
    if (error.empty() && cfg.contains("value_range") &&
        !(cfg["value_range"].is_array() && cfg["value_range"].size() == 2 &&
          cfg["value_range"][0].is_number() && cfg["value_range"][1].is_number()))
      error = "config field 'value_range' must be a list of two numbers";
  }
  return error;
}
// --- end of image augmentation helpers -------------------------------------------------------

const std::set<std::string> kMergeLayers = {"Add",     "Subtract", "Multiply",
                                            "Average", "Maximum",  "Minimum"};

/// Convolution layers (importConv): 1-D and 2-D, channels_last or channels_first.
const std::set<std::string> kConvLayers = {"Conv1D",          "Conv2D",          "DepthwiseConv1D",
                                           "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
                                           "Conv1DTranspose", "Conv2DTranspose"};

/// Pooling, padding/cropping and upsampling layers (importPooling).
const std::set<std::string> kPoolingLayers = {
    "MaxPooling1D",       "MaxPooling2D",       "AveragePooling1D",       "AveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "ZeroPadding1D",      "ZeroPadding2D",      "Cropping1D",             "Cropping2D",
    "UpSampling1D",       "UpSampling2D",
    // 3-D (volumes [B, D, H, W, C]): the same ops and kernels with one more spatial axis.
    "MaxPooling3D", "AveragePooling3D", "GlobalMaxPooling3D", "GlobalAveragePooling3D",
    "ZeroPadding3D", "Cropping3D", "UpSampling3D"};

/// BatchNormalization and LayerNormalization (importBatchNorm / importLayerNorm).
const std::set<std::string> kNormLayers = {"BatchNormalization", "LayerNormalization"};

/// BatchNormalization's moving statistics are non-trainable variables (Keras updates them in
/// training mode, not the optimizer).
bool isMovingStatistic(const std::string &cls, const std::string &variable) {
  return cls == "BatchNormalization" && variable.rfind("moving_", 0) == 0;
}

const std::set<std::string> kOtherLayers = {
    "InputLayer", "Dense",   "Activation",   "ReLU",        "LeakyReLU",
    "ELU",        "PReLU",   "Softmax",      "Flatten",     "Reshape",
    "Permute",    "RepeatVector", "Concatenate", "Rescaling", "Normalization"};

/// Activation names kerasc implements (Keras 3 names and aliases).
const std::set<std::string> kActivations = {
    "linear",  "relu",     "relu6", "sigmoid", "hard_sigmoid", "tanh",        "softmax",
    "log_softmax", "elu",  "selu",  "softplus", "softsign",    "silu",        "swish",
    "gelu",    "exponential", "leaky_relu"};

/// An activation as stored in a config: "relu", or a serialized function object.
std::string activationName(const json &value) {
  if (value.is_null())
    return "linear";
  if (value.is_string())
    return value.get<std::string>();
  if (value.is_object()) {
    if (value.contains("config") && value["config"].is_string())
      return value["config"].get<std::string>();
    if (value.contains("class_name") && value["class_name"].is_string())
      return value["class_name"].get<std::string>();
  }
  return "<unreadable activation>";
}

/// Why a layer cannot be compiled, or "" if it can.
std::string unsupportedReason(const LayerSpec &layer) {
  const std::string &cls = layer.className;
  if (cls == "Sequential" || cls == "Functional" || cls == "Model")
    return "nested models are not supported; save the model flattened";
  if (!kNoiseLayers.count(cls) && !kMergeLayers.count(cls) && !kOtherLayers.count(cls) &&
      !kAugmentLayers.count(cls) && !kConvLayers.count(cls) &&
      !kPoolingLayers.count(cls) && !kNormLayers.count(cls))
    return "layer class not supported by kerasc yet";
  if ((cls == "Dense" || cls == "Activation") && layer.config.contains("activation")) {
    std::string act = activationName(layer.config["activation"]);
    if (!kActivations.count(act))
      return "activation '" + act + "' not supported";
  }
  return "";
}

/// Keras trains a layer's variables unless the layer is frozen (`trainable: false`) or keeps
/// statistics rather than parameters (Normalization).
bool layerIsTrainable(const LayerSpec &layer) {
  return layer.config.value("trainable", true) && layer.className != "Normalization";
}

class Importer {
public:
  Importer(const ModelSpec &spec, MLIRContext &ctx) : spec(spec), ctx(ctx), builder(&ctx) {}

  ImportedModel run();

private:
  using Values = SmallVector<Value>;
  // --- errors ---
  [[noreturn]] void fail(const std::string &message) const {
    throw Error(spec.sourcePath + ": " +
                (current ? fmt::format("layer '{}' ({}): ", current->name, current->className)
                         : std::string()) +
                message);
  }
  const json &field(const char *key) const {
    if (!current->config.contains(key))
      fail(fmt::format("missing required config field '{}'", key));
    return current->config[key];
  }
  template <class T> T fieldOr(const char *key, T fallback) const {
    const json &cfg = current->config;
    if (!cfg.contains(key) || cfg[key].is_null())
      return fallback;
    try {
      return cfg[key].get<T>();
    } catch (const json::exception &) {
      fail(fmt::format("config field '{}' has an unexpected type", key));
    }
  }
  std::vector<int64_t> intList(const char *key) const {
    try {
      return field(key).get<std::vector<int64_t>>();
    } catch (const json::exception &) {
      fail(fmt::format("config field '{}' must be a list of integers", key));
    }
  }
  double number(const json &v, const char *key) const {
    if (!v.is_number())
      fail(fmt::format("config field '{}' must be a number", key));
    return v.get<double>();
  }

  // --- IR building ---
  Location loc() const {
    return NameLoc::get(StringAttr::get(&ctx, current->name + " (" + current->className + ")"));
  }
  /// Creates an op with unranked result and infers its type at once, turning verifier messages
  /// into a kerasc::Error that names the layer.
  template <class OpT, class... Args> Value create(Args &&...args) {
    auto op = builder.create<OpT>(loc(), UnrankedTensorType::get(builder.getF32Type()),
                                  std::forward<Args>(args)...);
    std::string diagnostics;
    FailureOr<TensorType> type;
    {
      ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
        diagnostics += (diagnostics.empty() ? "" : "; ") + d.str();
        return success();
      });
      type = cast<nn::InferShapeOpInterface>(op.getOperation()).inferResultType();
    }
    if (failed(type))
      fail(diagnostics);
    op->getResult(0).setType(*type);
    return op->getResult(0);
  }
  /// A constant derived from the layer config (not a Keras variable): never trained.
  Value weight(const std::string &name, std::vector<int64_t> shape, std::vector<float> data) {
    auto type = RankedTensorType::get(shape, builder.getF32Type());
    WeightTensor &w = weights[name];
    w.shape = std::move(shape);
    w.data = std::move(data);
    w.trainable = false;
    auto op = builder.create<nn::WeightOp>(loc(), type, builder.getStringAttr(name));
    op->setAttr("nn.trainable", builder.getBoolAttr(false));
    return op;
  }
  /// The layer's `index`-th Keras variable as an nn.weight with the attributes training needs:
  /// trainability and the config's regularizer (`<role>_regularizer`).
  Value variable(size_t index, const std::string &role, std::vector<int64_t> shape) {
    const std::string name = current->name + "/" + role;
    const WeightArray &stored = current->weights[index];
    auto type = RankedTensorType::get(shape, builder.getF32Type());
    WeightTensor &w = weights[name];
    w.shape = std::move(shape);
    w.data = stored.data;
    w.trainable = layerIsTrainable(*current);
    auto op = builder.create<nn::WeightOp>(loc(), type, builder.getStringAttr(name));
    if (!w.trainable)
      op->setAttr("nn.trainable", builder.getBoolAttr(false));
    else if (auto reg = regularizer(current->config.value(role + "_regularizer", json())))
      op->setAttr("nn.regularizer",
                  builder.getDictionaryAttr(
                      {builder.getNamedAttr("l1", builder.getF64FloatAttr(reg->first)),
                       builder.getNamedAttr("l2", builder.getF64FloatAttr(reg->second))}));
    return op;
  }
  /// Keras's regularizer config (string or serialized object) as (l1, l2); nullopt for none.
  std::optional<std::pair<double, double>> regularizer(const json &cfg) const {
    if (cfg.is_null())
      return std::nullopt;
    std::string cls = cfg.is_string() ? cfg.get<std::string>() : cfg.value("class_name", "");
    const json args = cfg.is_object() ? cfg.value("config", json::object()) : json::object();
    auto number = [&](const char *key, double fallback) {
      return args.contains(key) && args[key].is_number() ? args[key].get<double>() : fallback;
    };
    // Keras 3 defaults: L1(l1=0.01), L2(l2=0.01), L1L2(l1=0.0, l2=0.0).
    if (cls == "l1" || cls == "L1")
      return std::make_pair(number("l1", 0.01), 0.0);
    if (cls == "l2" || cls == "L2")
      return std::make_pair(0.0, number("l2", 0.01));
    if (cls == "l1_l2" || cls == "L1L2")
      return std::make_pair(number("l1", 0.0), number("l2", 0.0));
    fail(fmt::format("unsupported regularizer '{}' (supported: L1, L2, L1L2)", cfg.dump()));
  }
  /// The layer's `index`-th stored variable, checked against the shape the config implies.
  Value storedWeight(size_t index, const char *role, const std::vector<int64_t> &expected) {
    if (index >= current->weights.size())
      fail(fmt::format("weights missing: expected a '{}' variable (#{}), the file has {}", role,
                       index, current->weights.size()));
    const WeightArray &w = current->weights[index];
    if (w.shape != expected)
      fail(fmt::format("weights disagree with the config: '{}' has shape [{}] but the config "
                       "implies [{}]",
                       role, fmt::join(w.shape, ", "), fmt::join(expected, ", ")));
    return variable(index, role, w.shape);
  }
  void expectWeightCount(size_t n) {
    if (current->weights.size() != n)
      fail(fmt::format("expected {} weight variable(s), the file has {}", n,
                       current->weights.size()));
  }
  static ArrayRef<int64_t> shapeOf(Value v) { return v.getType().cast<ShapedType>().getShape(); }
  int64_t normalizeAxis(int64_t axis, int64_t rank) const {
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 1 || a >= rank)
      fail(fmt::format("axis {} is invalid for a rank-{} input (the batch axis cannot be used)",
                       axis, rank));
    return a;
  }

  /// channels_first <-> channels_last around a layer whose op works on channels_last data
  /// (the nn dialect's convolution, pooling and resampling layout): [B, C, S...] -> [B, S..., C]
  /// and back.
  Value toChannelsLast(Value x) {
    const int64_t rank = shapeOf(x).size();
    SmallVector<int64_t> perm{0};
    for (int64_t d = 2; d < rank; ++d)
      perm.push_back(d);
    perm.push_back(1);
    return create<nn::TransposeOp>(x, builder.getI64ArrayAttr(perm));
  }
  Value toChannelsFirst(Value x) {
    const int64_t rank = shapeOf(x).size();
    SmallVector<int64_t> perm{0, rank - 1};
    for (int64_t d = 1; d < rank - 1; ++d)
      perm.push_back(d);
    return create<nn::TransposeOp>(x, builder.getI64ArrayAttr(perm));
  }
  /// True when the layer's data_format is channels_first (Keras's default is channels_last).
  bool channelsFirst() const {
    return fieldOr<std::string>("data_format", "channels_last") == "channels_first";
  }

  Value activation(Value x, const std::string &name);
  Values importLayer(const LayerSpec &layer, const Values &inputs);
  Value importMerge(const Values &inputs);
  Value importNormalization(Value x);
  Value importRescaling(Value x);
  // --- convolutions (importConv and its helpers) ---
  Value importConv(Value x);
  std::vector<int64_t> convInts(const char *key, size_t n, int64_t fallback);
  Value convKernel(size_t index, const std::vector<int64_t> &expected,
                   const std::vector<int64_t> &irShape, const std::string &role);
  // --- pooling, padding/cropping, upsampling (importPooling and its helpers) ---
  Value importPooling(Value x);
  std::vector<int64_t> poolInts(const char *key, size_t n, const std::vector<int64_t> &fallback);
  std::vector<int64_t> padAmounts(const char *key, size_t n);
  // --- BatchNormalization / LayerNormalization ---
  Value importBatchNorm(Value x);
  Value importLayerNorm(Value x);
  Value normWeight(size_t &index, const char *role, bool present, float fill,
                   const std::vector<int64_t> &kerasShape, const std::vector<int64_t> &irShape);
  std::vector<float> floatList(const json &v, const char *key);

  const ModelSpec &spec;
  MLIRContext &ctx;
  OpBuilder builder;
  WeightStore weights;
  const LayerSpec *current = nullptr;
};

Value Importer::activation(Value x, const std::string &name) {
  auto act = [&](const char *fn, std::optional<double> alpha = std::nullopt) {
    return create<nn::ActivationOp>(x, builder.getStringAttr(fn),
                                    alpha ? builder.getF64FloatAttr(*alpha) : FloatAttr(),
                                    FloatAttr(), FloatAttr());
  };
  const bool keras2 = spec.kerasVersion.rfind("2.", 0) == 0;
  if (name == "linear")
    return x;
  if (name == "softmax" || name == "log_softmax")
    return create<nn::SoftmaxOp>(x, builder.getI64IntegerAttr(shapeOf(x).size() - 1),
                                 builder.getBoolAttr(name == "log_softmax"));
  if (name == "swish" || name == "silu")
    return act("silu");
  if (name == "hard_sigmoid")
    return act(keras2 ? "hard_sigmoid_tf2" : "hard_sigmoid");
  if (name == "elu")
    return act("elu", 1.0);
  if (name == "leaky_relu")
    return act("leaky_relu", 0.2); // keras.activations.leaky_relu's default negative_slope
  if (!kActivations.count(name))
    fail("activation '" + name + "' not supported");
  return act(name.c_str());
}

std::vector<float> Importer::floatList(const json &v, const char *key) {
  // Numbers, lists of numbers, or a serialized numpy array {"config": {"value": [...]}}.
  const json &value = v.is_object() && v.contains("config") && v["config"].is_object() &&
                              v["config"].contains("value")
                          ? v["config"]["value"]
                          : v;
  std::vector<float> out;
  std::function<void(const json &)> flatten = [&](const json &j) {
    if (j.is_array())
      for (const json &e : j)
        flatten(e);
    else
      out.push_back(static_cast<float>(number(j, key)));
  };
  flatten(value);
  return out;
}

Value Importer::importMerge(const Values &inputs) {
  const std::string &cls = current->className;
  if (inputs.size() < 2)
    fail(fmt::format("a merge layer needs at least 2 inputs, got {}", inputs.size()));
  if (cls == "Subtract" && inputs.size() != 2)
    fail("Subtract takes exactly 2 inputs");
  const char *fn = cls == "Subtract" ? "sub"
                   : cls == "Multiply" ? "mul"
                   : cls == "Maximum"  ? "max"
                   : cls == "Minimum"  ? "min"
                                       : "add"; // Add and Average
  // Keras folds merge inputs pairwise, left to right.
  Value acc = inputs[0];
  for (size_t i = 1; i < inputs.size(); ++i)
    acc = create<nn::BinaryOp>(acc, inputs[i], builder.getStringAttr(fn));
  if (cls == "Average")
    acc = create<nn::RescaleOp>(acc, builder.getF64FloatAttr(1.0 / inputs.size()),
                                builder.getF64FloatAttr(0.0));
  return acc;
}

Value Importer::importRescaling(Value x) {
  std::vector<float> scale = floatList(current->config.value("scale", json(1.0)), "scale");
  std::vector<float> offset = floatList(current->config.value("offset", json(0.0)), "offset");
  if (scale.size() == 1 && offset.size() == 1)
    return create<nn::RescaleOp>(x, builder.getF64FloatAttr(scale[0]),
                                 builder.getF64FloatAttr(offset[0]));
  // Per-channel: x * scale + offset with broadcasting along the last axis, as Keras does.
  auto asWeight = [&](std::vector<float> v, const char *role) {
    std::vector<int64_t> shape{static_cast<int64_t>(v.size())};
    return weight(current->name + "/" + role, shape, std::move(v));
  };
  Value y = create<nn::BinaryOp>(x, asWeight(scale, "scale"), builder.getStringAttr("mul"));
  return create<nn::BinaryOp>(y, asWeight(offset, "offset"), builder.getStringAttr("add"));
}

Value Importer::importNormalization(Value x) {
  ArrayRef<int64_t> in = shapeOf(x);
  const int64_t rank = in.size();
  std::vector<int64_t> axes;
  const json &axisCfg = current->config.contains("axis") ? current->config["axis"] : json(-1);
  if (axisCfg.is_number_integer())
    axes.push_back(axisCfg.get<int64_t>());
  else if (axisCfg.is_array())
    for (const json &a : axisCfg)
      axes.push_back(a.get<int64_t>());
  else if (!axisCfg.is_null())
    fail("config field 'axis' must be an integer, a list or null");
  std::set<int64_t> keep;
  for (int64_t a : axes)
    keep.insert(normalizeAxis(a, rank));
  // Mean/variance broadcast over the non-batch axes: kept axes keep their size, others are 1.
  std::vector<int64_t> broadcast, kept;
  for (int64_t d = 1; d < rank; ++d) {
    broadcast.push_back(keep.count(d) ? in[d] : 1);
    if (keep.count(d))
      kept.push_back(in[d]);
  }
  const int64_t count = std::accumulate(kept.begin(), kept.end(), int64_t(1), std::multiplies<>());
  Value mean, variance;
  const json &meanCfg = current->config.value("mean", json());
  if (meanCfg.is_null()) {
    // Adapted: stored variables mean, variance, count with the kept axes' shape.
    expectWeightCount(3);
    for (int i = 0; i < 2; ++i) {
      const WeightArray &w = current->weights[i];
      if (w.shape != kept)
        fail(fmt::format("weights disagree with the config: '{}' has shape [{}] but the axes "
                         "imply [{}]",
                         i ? "variance" : "mean", fmt::join(w.shape, ", "),
                         fmt::join(kept, ", ")));
      (i ? variance : mean) = variable(i, i ? "variance" : "mean", broadcast);
    }
  } else {
    // Given in the config: a scalar, or values aligned right-to-left with the kept axes.
    for (int i = 0; i < 2; ++i) {
      const char *key = i ? "variance" : "mean";
      std::vector<float> v = floatList(field(key), key);
      std::vector<float> data;
      if (v.size() == 1)
        data.assign(count, v[0]);
      else if ((int64_t)v.size() == count)
        data = v;
      else
        fail(fmt::format("'{}' has {} values but the normalized axes hold {}", key, v.size(),
                         count));
      (i ? variance : mean) = weight(current->name + "/" + key, broadcast, data);
    }
  }
  return create<nn::NormalizeOp>(x, mean, variance, builder.getF64FloatAttr(1e-7),
                                 builder.getBoolAttr(fieldOr<bool>("invert", false)));
}

//===----------------------------------------------------------------------------------------===//
// Convolutions: Conv1D/2D, DepthwiseConv1D/2D, SeparableConv1D/2D, Conv1DTranspose/2DTranspose.
// All become nn.conv / nn.conv_transpose on channels_last data (+ nn.bias_add + activation),
// with the transposes of toChannelsLast/toChannelsFirst around them for channels_first.
//===----------------------------------------------------------------------------------------===//

/// An int-or-list config field (Keras accepts both) as one value per spatial axis, each at
/// least `minimum`; `fallback` everywhere when the field is absent.
std::vector<int64_t> Importer::convInts(const char *key, size_t n, int64_t fallback) {
  const json &cfg = current->config;
  if (!cfg.contains(key) || cfg[key].is_null()) {
    if (fallback < 0)
      fail(fmt::format("missing required config field '{}'", key));
    return std::vector<int64_t>(n, fallback);
  }
  const json &v = cfg[key];
  std::vector<int64_t> out;
  if (v.is_number_integer())
    out.assign(n, v.get<int64_t>());
  else if (v.is_array())
    for (const json &e : v) {
      if (!e.is_number_integer())
        fail(fmt::format("config field '{}' must be an integer or a list of integers", key));
      out.push_back(e.get<int64_t>());
    }
  else
    fail(fmt::format("config field '{}' must be an integer or a list of integers", key));
  if (out.size() == 1 && n > 1)
    out.assign(n, out[0]);
  if (out.size() != n)
    fail(fmt::format("config field '{}' has {} entries for {} spatial axes", key, out.size(), n));
  return out;
}

/// The layer's `index`-th variable, checked against the shape Keras gives it (`expected`) and
/// typed `irShape` in the IR: the same elements in the same order (a depthwise kernel
/// [K.., Cin, mult] is the grouped nn.conv kernel [K.., 1, Cin * mult]). The WeightStore keeps
/// Keras's shape, so trained weights save and load the way Keras has them. Keras names the
/// regularizer, initializer and constraint after the role (`depthwise_regularizer`), not after
/// the variable (`kernel` / `depthwise_kernel`), hence `role`.
Value Importer::convKernel(size_t index, const std::vector<int64_t> &expected,
                           const std::vector<int64_t> &irShape, const std::string &role) {
  if (index >= current->weights.size())
    fail(fmt::format("weights missing: expected variable #{} ({}), the file has {}", index, role,
                     current->weights.size()));
  const WeightArray &stored = current->weights[index];
  if (stored.shape != expected)
    fail(fmt::format("weights disagree with the config: '{}' has shape [{}] but the config "
                     "implies [{}]",
                     stored.name, fmt::join(stored.shape, ", "), fmt::join(expected, ", ")));
  Value v = variable(index, stored.name, stored.shape);
  auto op = v.getDefiningOp<nn::WeightOp>();
  op.getResult().setType(RankedTensorType::get(irShape, builder.getF32Type()));
  op->removeAttr("nn.regularizer");
  WeightTensor &tensor = weights[current->name + "/" + stored.name];
  // For re-initialization (training from scratch) and the post-step constraint.
  const json &init = current->config.value(role + "_initializer", json());
  if (!init.is_null())
    tensor.initializer = init.dump();
  const json &constraint = current->config.value(role + "_constraint", json());
  if (!constraint.is_null())
    tensor.constraint = constraint.dump();
  if (tensor.trainable)
    if (auto reg = regularizer(current->config.value(role + "_regularizer", json())))
      op->setAttr("nn.regularizer",
                  builder.getDictionaryAttr(
                      {builder.getNamedAttr("l1", builder.getF64FloatAttr(reg->first)),
                       builder.getNamedAttr("l2", builder.getF64FloatAttr(reg->second))}));
  return v;
}

Value Importer::importConv(Value x) {
  const std::string &cls = current->className;
  const bool depthwise = cls.rfind("Depthwise", 0) == 0;
  const bool separable = cls.rfind("Separable", 0) == 0;
  const bool transpose = cls.find("Transpose") != std::string::npos;
  const size_t spatial = cls.find("1D") != std::string::npos ? 1 : 2;
  if (shapeOf(x).size() != spatial + 2)
    fail(fmt::format("expects a rank-{} input (batch, {} spatial axes, channels), got {}",
                     spatial + 2, spatial, nn::kerasShapeText(shapeOf(x))));
  const bool first = channelsFirst();
  if (first)
    x = toChannelsLast(x);
  const std::vector<int64_t> in(shapeOf(x).begin() + 1, shapeOf(x).end() - 1);
  const int64_t cin = shapeOf(x).back();

  const std::vector<int64_t> kernel = convInts("kernel_size", spatial, -1);
  const std::vector<int64_t> strides = convInts("strides", spatial, 1);
  const std::vector<int64_t> dilations = convInts("dilation_rate", spatial, 1);
  for (size_t i = 0; i < spatial; ++i)
    if (kernel[i] <= 0 || strides[i] <= 0 || dilations[i] <= 0)
      fail("kernel_size, strides and dilation_rate must be positive");
  const bool strided = llvm::any_of(strides, [](int64_t s) { return s > 1; });
  if (strided && llvm::any_of(dilations, [](int64_t d) { return d > 1; }))
    fail("strides > 1 together with dilation_rate > 1 is not supported (Keras rejects it too)");
  std::string padding = fieldOr<std::string>("padding", "valid");
  std::transform(padding.begin(), padding.end(), padding.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (padding != "valid" && padding != "same" && !(padding == "causal" && cls == "Conv1D"))
    fail(fmt::format("padding '{}' is not supported (valid, same{})", padding,
                     cls == "Conv1D" ? ", causal" : ""));
  const bool useBias = fieldOr<bool>("use_bias", true);
  auto ints = [&](const std::vector<int64_t> &v) { return builder.getI64ArrayAttr(v); };

  // Keras's padding of a forward convolution along one axis: (before, after).
  auto convPadding = [&](int64_t size, int64_t k, int64_t s, int64_t d) {
    const int64_t span = d * (k - 1) + 1;
    if (padding == "causal")
      return std::make_pair(span - 1, int64_t(0));
    if (padding == "valid") {
      if (size < span)
        fail(fmt::format("input size {} is smaller than the (dilated) kernel {} with 'valid' "
                         "padding",
                         size, span));
      return std::make_pair(int64_t(0), int64_t(0));
    }
    const int64_t total = std::max<int64_t>(((size + s - 1) / s - 1) * s + span - size, 0);
    return std::make_pair(total / 2, total - total / 2);
  };
  auto conv = [&](Value input, Value w, const std::vector<int64_t> &k,
                  const std::vector<int64_t> &s, const std::vector<int64_t> &d, int64_t groups,
                  bool padded) {
    std::vector<int64_t> pads;
    for (size_t i = 0; i < spatial; ++i) {
      auto [before, after] =
          padded ? convPadding(shapeOf(input)[i + 1], k[i], s[i], d[i]) : std::make_pair(0L, 0L);
      pads.push_back(before);
      pads.push_back(after);
    }
    return create<nn::ConvOp>(input, w, ints(s), ints(d), ints(pads),
                              builder.getI64IntegerAttr(groups), StringAttr());
  };
  auto positiveInt = [&](const char *key) {
    const json &v = field(key);
    if (!v.is_number_integer() || v.get<int64_t>() <= 0)
      fail(fmt::format("config field '{}' must be a positive integer", key));
    return v.get<int64_t>();
  };
  std::vector<int64_t> kernelShape(kernel);
  auto withChannels = [&](std::vector<int64_t> shape, int64_t a, int64_t b) {
    shape.push_back(a);
    shape.push_back(b);
    return shape;
  };

  Value y;
  int64_t channels; // of the result
  size_t next = 0;  // next variable
  if (depthwise || separable) {
    const int64_t mult = fieldOr<int64_t>("depth_multiplier", 1);
    if (mult <= 0)
      fail("config field 'depth_multiplier' must be a positive integer");
    const int64_t filters = separable ? positiveInt("filters") : 0;
    expectWeightCount((separable ? 2 : 1) + (useBias ? 1 : 0));
    Value dw = convKernel(next++, withChannels(kernelShape, cin, mult),
                          withChannels(kernelShape, 1, cin * mult), "depthwise");
    y = conv(x, dw, kernel, strides, dilations, cin, true);
    channels = cin * mult;
    if (separable) {
      const std::vector<int64_t> ones(spatial, 1);
      Value pw = convKernel(next++, withChannels(ones, cin * mult, filters),
                            withChannels(ones, cin * mult, filters), "pointwise");
      y = conv(y, pw, ones, ones, ones, 1, false);
      channels = filters;
    }
  } else if (transpose) {
    const int64_t filters = positiveInt("filters");
    if (padding == "causal")
      fail("padding 'causal' is not supported by transposed convolutions");
    const json &opCfg = current->config.value("output_padding", json());
    std::vector<int64_t> outputPadding;
    if (!opCfg.is_null()) {
      outputPadding = convInts("output_padding", spatial, 0);
      for (size_t i = 0; i < spatial; ++i)
        if (outputPadding[i] < 0 || outputPadding[i] >= strides[i])
          fail(fmt::format("output_padding {} must be >= 0 and smaller than the stride {}",
                           outputPadding[i], strides[i]));
    }
    expectWeightCount(useBias ? 2 : 1);
    Value w = convKernel(next++, withChannels(kernelShape, filters, cin),
                         withChannels(kernelShape, filters, cin), "kernel");
    // Keras (JAX backend, conv_utils) pads the stride-dilated input by (left, right) and runs a
    // full correlation; as a crop of the full transposed output that is before = span-1-left,
    // after = span-1-right (negative after: output_padding's extra positions).
    std::vector<int64_t> pads;
    for (size_t i = 0; i < spatial; ++i) {
      const int64_t span = (kernel[i] - 1) * dilations[i] + 1;
      int64_t left, right;
      if (padding == "valid") {
        const int64_t op =
            outputPadding.empty() ? std::max(span, strides[i]) - span : outputPadding[i];
        left = span - 1;
        right = span - 1 + op;
      } else {
        const int64_t padLen = outputPadding.empty() ? strides[i] + span - 2
                                                     : span + span % 2 - 2 + outputPadding[i];
        left = std::min(padLen / 2 + padLen % 2, span - 1);
        right = padLen - left;
      }
      pads.push_back(span - 1 - left);
      pads.push_back(span - 1 - right);
      if ((in[i] - 1) * strides[i] + span - pads[2 * i] - pads[2 * i + 1] <= 0)
        fail("the transposed convolution's output would be empty");
    }
    y = create<nn::ConvTransposeOp>(x, w, ints(strides), ints(dilations), ints(pads),
                                    builder.getI64IntegerAttr(1), StringAttr());
    channels = filters;
  } else {
    const int64_t filters = positiveInt("filters");
    const int64_t groups = fieldOr<int64_t>("groups", 1);
    if (groups <= 0 || cin % groups != 0 || filters % groups != 0)
      fail(fmt::format("groups={} must divide the input channels ({}) and filters ({})", groups,
                       cin, filters));
    expectWeightCount(useBias ? 2 : 1);
    Value w = convKernel(next++, withChannels(kernelShape, cin / groups, filters),
                         withChannels(kernelShape, cin / groups, filters), "kernel");
    y = conv(x, w, kernel, strides, dilations, groups, true);
    channels = filters;
  }
  if (useBias)
    y = create<nn::BiasAddOp>(y, convKernel(next++, {channels}, {channels}, "bias"));
  y = activation(y, activationName(current->config.value("activation", json("linear"))));
  return first ? toChannelsFirst(y) : y;
}

//===----------------------------------------------------------------------------------------===//
// Pooling, padding/cropping and upsampling: MaxPooling1D/2D/3D, AveragePooling1D/2D/3D,
// GlobalMax/AveragePooling1D/2D/3D, ZeroPadding1D/2D/3D, Cropping1D/2D/3D, UpSampling1D/2D/3D.
// nn.pool and nn.resize work on channels_last data (toChannelsLast/toChannelsFirst around them
// for channels_first); nn.pad pads whichever axes are spatial, so it needs no transposes.
//===----------------------------------------------------------------------------------------===//

/// An int-or-list config field (pool_size, strides, size) as one positive value per spatial
/// axis; `fallback` everywhere when the field is absent or null.
std::vector<int64_t> Importer::poolInts(const char *key, size_t n,
                                        const std::vector<int64_t> &fallback) {
  const json &cfg = current->config;
  if (!cfg.contains(key) || cfg[key].is_null())
    return fallback;
  const json &v = cfg[key];
  std::vector<int64_t> out;
  if (v.is_number_integer())
    out.assign(n, v.get<int64_t>());
  else if (v.is_array() && llvm::all_of(v, [](const json &e) { return e.is_number_integer(); }))
    for (const json &e : v)
      out.push_back(e.get<int64_t>());
  if (out.size() == 1)
    out.assign(n, out[0]);
  if (out.size() != n || llvm::any_of(out, [](int64_t i) { return i <= 0; }))
    fail(fmt::format("config field '{}' must be a positive integer or a list of {} positive "
                     "integers, got {}",
                     key, n, v.dump()));
  return out;
}

/// ZeroPadding's `padding` / Cropping's `cropping` as [before, after] per spatial axis. Keras
/// accepts an int (everywhere), for 1-D a pair (before, after), for 2-D a pair of symmetric
/// amounts (height, width) or a pair of pairs ((top, bottom), (left, right)).
std::vector<int64_t> Importer::padAmounts(const char *key, size_t n) {
  const json &v = field(key);
  std::vector<int64_t> out;
  auto isInt = [](const json &e) { return e.is_number_integer(); };
  if (v.is_number_integer()) {
    out.assign(2 * n, v.get<int64_t>());
  } else if (v.is_array() && v.size() == 2 && n == 1 && llvm::all_of(v, isInt)) {
    out = {v[0].get<int64_t>(), v[1].get<int64_t>()};
  } else if (v.is_array() && v.size() == n && llvm::all_of(v, isInt)) {
    for (const json &e : v)
      out.insert(out.end(), 2, e.get<int64_t>());
  } else if (v.is_array() && v.size() == n) {
    for (const json &e : v) {
      if (e.is_array() && e.size() == 1 && isInt(e[0])) // a 1-D layer saved as [[a, b]]
        out.insert(out.end(), 2, e[0].get<int64_t>());
      else if (e.is_array() && e.size() == 2 && llvm::all_of(e, isInt))
        out.insert(out.end(), {e[0].get<int64_t>(), e[1].get<int64_t>()});
    }
  }
  if (out.size() != 2 * n || llvm::any_of(out, [](int64_t i) { return i < 0; }))
    fail(fmt::format("config field '{}' must be a non-negative integer, a pair, or one (before, "
                     "after) pair per spatial axis; got {}",
                     key, v.dump()));
  return out;
}

Value Importer::importPooling(Value x) {
  const std::string &cls = current->className;
  const size_t spatial = cls.find("1D") != std::string::npos   ? 1
                         : cls.find("3D") != std::string::npos ? 3
                                                               : 2;
  const int64_t rank = shapeOf(x).size();
  if (rank != static_cast<int64_t>(spatial) + 2)
    fail(fmt::format("expects a rank-{} input (batch, {} spatial axes, channels), got {}",
                     spatial + 2, spatial, nn::kerasShapeText(shapeOf(x))));
  std::string format = fieldOr<std::string>("data_format", "channels_last");
  if (format != "channels_last" && format != "channels_first")
    fail(fmt::format("data_format '{}' is not supported (channels_last, channels_first)", format));
  const bool first = format == "channels_first";
  auto ints = [&](const std::vector<int64_t> &v) { return builder.getI64ArrayAttr(v); };

  if (cls.rfind("ZeroPadding", 0) == 0 || cls.rfind("Cropping", 0) == 0) {
    const bool crop = cls.rfind("Cropping", 0) == 0;
    const std::vector<int64_t> amounts = padAmounts(crop ? "cropping" : "padding", spatial);
    // One (before, after) pair per non-batch axis; the channel axis stays as it is.
    std::vector<int64_t> pads(2 * (rank - 1), 0);
    const size_t offset = first ? 1 : 0; // of the first spatial axis among the non-batch axes
    for (size_t i = 0; i < spatial; ++i) {
      const int64_t size = shapeOf(x)[1 + offset + i];
      const int64_t before = amounts[2 * i], after = amounts[2 * i + 1];
      if (crop && before + after >= size)
        fail(fmt::format("cropping ({}, {}) leaves nothing of a spatial axis of size {}", before,
                         after, size));
      pads[2 * (offset + i)] = crop ? -before : before;
      pads[2 * (offset + i) + 1] = crop ? -after : after;
    }
    return create<nn::PadOp>(x, ints(pads));
  }

  if (cls.rfind("UpSampling", 0) == 0) {
    const std::vector<int64_t> size = poolInts("size", spatial, std::vector<int64_t>(spatial, 2));
    // UpSampling1D/3D always repeat; UpSampling2D's interpolation defaults to nearest.
    const std::string method = fieldOr<std::string>("interpolation", "nearest");
    if (method != "nearest" && method != "bilinear")
      fail(fmt::format("interpolation '{}' is not supported (nearest, bilinear)", method));
    if (first)
      x = toChannelsLast(x);
    Value y = create<nn::ResizeOp>(x, ints(size), builder.getStringAttr(method));
    return first ? toChannelsFirst(y) : y;
  }

  // Pooling.
  const bool global = cls.rfind("Global", 0) == 0;
  const bool max = cls.find("Max") != std::string::npos;
  if (first)
    x = toChannelsLast(x);
  const std::vector<int64_t> in(shapeOf(x).begin() + 1, shapeOf(x).end() - 1);
  const int64_t channels = shapeOf(x).back();
  std::vector<int64_t> window = in, strides(spatial, 1), pads(2 * spatial, 0);
  if (!global) {
    window = poolInts("pool_size", spatial, std::vector<int64_t>(spatial, 2));
    strides = poolInts("strides", spatial, window); // Keras: strides default to pool_size
    std::string padding = fieldOr<std::string>("padding", "valid");
    std::transform(padding.begin(), padding.end(), padding.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (padding != "valid" && padding != "same")
      fail(fmt::format("padding '{}' is not supported (valid, same)", padding));
    for (size_t i = 0; i < spatial; ++i) {
      if (padding == "valid") {
        if (in[i] < window[i])
          fail(fmt::format("input size {} is smaller than the pool size {} with 'valid' padding",
                           in[i], window[i]));
        continue;
      }
      // Keras/TF 'same': ceil(S / s) outputs, the odd padding element after.
      const int64_t out = (in[i] + strides[i] - 1) / strides[i];
      const int64_t total = std::max<int64_t>((out - 1) * strides[i] + window[i] - in[i], 0);
      pads[2 * i] = total / 2;
      pads[2 * i + 1] = total - total / 2;
    }
  }
  Value y = create<nn::PoolOp>(x, builder.getStringAttr(max ? "max" : "avg"), ints(window),
                               ints(strides), ints(pads));
  if (!global)
    return first ? toChannelsFirst(y) : y;
  // Global pooling: [B, 1.., C] -> [B, C], or with keepdims [B, 1.., C] / [B, C, 1..] (a
  // reshape either way: the size-1 axes do not change the order of the elements).
  std::vector<int64_t> shape{channels};
  if (fieldOr<bool>("keepdims", false))
    shape.insert(first ? shape.end() : shape.begin(), spatial, 1);
  return create<nn::ReshapeOp>(y, ints(shape));
}

//===----------------------------------------------------------------------------------------===//
// BatchNormalization and LayerNormalization. Both import as their inference form: nn.batch_norm
// (elementwise) and nn.layer_norm; nn-autodiff turns a trainable BatchNormalization into
// nn.batch_norm_train in the training step (a frozen one, marked nn.trainable = false, stays in
// inference mode, like Keras 3).
//===----------------------------------------------------------------------------------------===//

/// The next stored variable `role` (typed `irShape` in the IR, kept with Keras's shape
/// `kerasShape` in the WeightStore so trained weights save the way Keras has them), or, when the
/// layer has none (center / scale false), a constant of `fill`s.
Value Importer::normWeight(size_t &index, const char *role, bool present, float fill,
                           const std::vector<int64_t> &kerasShape,
                           const std::vector<int64_t> &irShape) {
  auto type = RankedTensorType::get(irShape, builder.getF32Type());
  if (!present) {
    int64_t n = std::accumulate(kerasShape.begin(), kerasShape.end(), int64_t(1),
                                std::multiplies<>());
    Value w = weight(current->name + "/" + role, kerasShape, std::vector<float>(n, fill));
    w.setType(type);
    return w;
  }
  if (index >= current->weights.size())
    fail(fmt::format("weights missing: expected a '{}' variable (#{}), the file has {}", role,
                     index, current->weights.size()));
  const WeightArray &stored = current->weights[index];
  if (stored.shape != kerasShape)
    fail(fmt::format("weights disagree with the config: '{}' has shape [{}] but the config "
                     "implies [{}]",
                     role, fmt::join(stored.shape, ", "), fmt::join(kerasShape, ", ")));
  Value w = variable(index++, stored.name, stored.shape);
  w.setType(type);
  if (isMovingStatistic(current->className, stored.name)) {
    weights[current->name + "/" + stored.name].trainable = false;
    Operation *op = w.getDefiningOp();
    op->setAttr("nn.trainable", builder.getBoolAttr(false));
    op->removeAttr("nn.regularizer");
  }
  return w;
}

Value Importer::importBatchNorm(Value x) {
  const int64_t rank = shapeOf(x).size();
  // Keras 3 saves an int; tf.keras 2 a one-element list.
  const json &axisCfg = current->config.value("axis", json(-1));
  int64_t axis;
  if (axisCfg.is_number_integer())
    axis = axisCfg.get<int64_t>();
  else if (axisCfg.is_array() && axisCfg.size() == 1 && axisCfg[0].is_number_integer())
    axis = axisCfg[0].get<int64_t>();
  else
    fail("config field 'axis' must be one integer (normalizing over several axes is not "
         "supported)");
  axis = normalizeAxis(axis, rank);
  if (fieldOr<bool>("renorm", false))
    fail("renorm=True (batch renormalization) is not supported");
  const int64_t channels = shapeOf(x)[axis];
  // [C] along the last axis; [C, 1, ...] for an earlier one, so the statistics broadcast.
  std::vector<int64_t> kerasShape{channels}, irShape{channels};
  irShape.resize(rank - axis, 1);
  const bool scale = fieldOr<bool>("scale", true), center = fieldOr<bool>("center", true);
  expectWeightCount(2 + scale + center);
  size_t index = 0;
  Value gamma = normWeight(index, "gamma", scale, 1.0f, kerasShape, irShape);
  Value beta = normWeight(index, "beta", center, 0.0f, kerasShape, irShape);
  Value mean = normWeight(index, "moving_mean", true, 0.0f, kerasShape, irShape);
  Value variance = normWeight(index, "moving_variance", true, 1.0f, kerasShape, irShape);
  const double epsilon = fieldOr<double>("epsilon", 1e-3);
  const double momentum = fieldOr<double>("momentum", 0.99);
  Value y = create<nn::BatchNormOp>(x, gamma, beta, mean, variance,
                                    builder.getI64IntegerAttr(axis),
                                    builder.getF64FloatAttr(epsilon));
  // What nn-autodiff needs to build the training-mode op; a frozen layer keeps inference mode.
  Operation *op = y.getDefiningOp();
  op->setAttr("nn.momentum", builder.getF64FloatAttr(momentum));
  if (!layerIsTrainable(*current))
    op->setAttr("nn.trainable", builder.getBoolAttr(false));
  return y;
}

Value Importer::importLayerNorm(Value x) {
  ArrayRef<int64_t> in = shapeOf(x);
  const int64_t rank = in.size();
  const json &axisCfg = current->config.value("axis", json(-1));
  std::set<int64_t> axes;
  if (axisCfg.is_number_integer())
    axes.insert(normalizeAxis(axisCfg.get<int64_t>(), rank));
  else if (axisCfg.is_array() && !axisCfg.empty())
    for (const json &a : axisCfg) {
      if (!a.is_number_integer())
        fail("config field 'axis' must be an integer or a list of integers");
      axes.insert(normalizeAxis(a.get<int64_t>(), rank));
    }
  else
    fail("config field 'axis' must be an integer or a list of integers");
  // The normalized axes must be the trailing ones: [first, rank).
  const int64_t first = *axes.begin();
  if (*axes.rbegin() != rank - 1 || static_cast<int64_t>(axes.size()) != rank - first)
    fail(fmt::format("normalizing over axes [{}] of a rank-{} input is not supported (only "
                     "the trailing axes)",
                     fmt::join(axes, ", "), rank));
  std::vector<int64_t> shape(in.begin() + first, in.end());
  const bool rms = fieldOr<bool>("rms_scaling", false);
  const bool scale = fieldOr<bool>("scale", true) || rms;
  const bool center = fieldOr<bool>("center", true) && !rms;
  expectWeightCount(scale + center);
  size_t index = 0;
  Value gamma = normWeight(index, "gamma", scale, 1.0f, shape, shape);
  Value beta = normWeight(index, "beta", center, 0.0f, shape, shape);
  return create<nn::LayerNormOp>(x, gamma, beta, builder.getI64IntegerAttr(first),
                                 builder.getF64FloatAttr(fieldOr<double>("epsilon", 1e-3)),
                                 builder.getBoolAttr(rms));
}

Importer::Values Importer::importLayer(const LayerSpec &layer, const Values &inputs) {
  const std::string &cls = layer.className;
  if (kMergeLayers.count(cls))
    return {importMerge(inputs)};
  if (cls == "Concatenate") {
    if (inputs.size() < 2)
      fail("Concatenate needs at least 2 inputs");
    int64_t axis = normalizeAxis(fieldOr<int64_t>("axis", -1), shapeOf(inputs[0]).size());
    return {create<nn::ConcatOp>(ValueRange(inputs), builder.getI64IntegerAttr(axis))};
  }
  if (inputs.size() != 1)
    fail(fmt::format("expected 1 input, got {}", inputs.size()));
  Value x = inputs[0];
  const int64_t rank = shapeOf(x).size();

  if (kAugmentLayers.count(cls)) {
    // Identities at inference (nn-remove-noise); in training the CPU target renders the
    // transform from the Keras config (runtime/kerasc/augment.h).
    if (std::string error = augmentConfigError(cls, layer.config, rank); !error.empty())
      fail(error);
    return {create<nn::NoiseOp>(x, builder.getStringAttr(cls), FloatAttr(), IntegerAttr(),
                                FloatAttr(), FloatAttr(), BoolAttr(),
                                jsonAttribute(builder, layer.config).cast<DictionaryAttr>())};
  }
  if (kNoiseLayers.count(cls)) {
    std::optional<double> rate;
    for (const char *key : {"rate", "stddev"})
      if (layer.config.contains(key) && layer.config[key].is_number())
        rate = layer.config[key].get<double>();
    // ActivityRegularization's factors (a loss term in training); SpatialDropout's layout.
    FloatAttr l1, l2;
    if (cls == "ActivityRegularization") {
      l1 = builder.getF64FloatAttr(fieldOr<double>("l1", 0.0));
      l2 = builder.getF64FloatAttr(fieldOr<double>("l2", 0.0));
    }
    BoolAttr channelsFirst;
    if (cls.rfind("SpatialDropout", 0) == 0 &&
        fieldOr<std::string>("data_format", "channels_last") == "channels_first")
      channelsFirst = builder.getBoolAttr(true);
    return {create<nn::NoiseOp>(x, builder.getStringAttr(cls),
                                rate ? builder.getF64FloatAttr(*rate) : FloatAttr(),
                                IntegerAttr(), l1, l2, channelsFirst, DictionaryAttr())};
  }
  if (kPoolingLayers.count(cls))
    return {importPooling(x)};
  if (kConvLayers.count(cls))
    return {importConv(x)};
  if (cls == "BatchNormalization")
    return {importBatchNorm(x)};
  if (cls == "LayerNormalization")
    return {importLayerNorm(x)};
  if (cls == "Dense") {
    const json &unitsCfg = field("units");
    if (!unitsCfg.is_number_integer() || unitsCfg.get<int64_t>() <= 0)
      fail("config field 'units' must be a positive integer");
    const int64_t units = unitsCfg.get<int64_t>();
    const bool useBias = fieldOr<bool>("use_bias", true);
    expectWeightCount(useBias ? 2 : 1);
    Value kernel = storedWeight(0, "kernel", {shapeOf(x).back(), units});
    Value y = create<nn::MatMulOp>(x, kernel);
    if (useBias)
      y = create<nn::BiasAddOp>(y, storedWeight(1, "bias", {units}));
    return {activation(y, activationName(layer.config.value("activation", json("linear"))))};
  }
  if (cls == "Activation")
    return {activation(x, activationName(field("activation")))};
  if (cls == "ReLU") {
    double slope = fieldOr<double>("negative_slope", 0.0);
    double threshold = fieldOr<double>("threshold", 0.0);
    const json &maxCfg = layer.config.value("max_value", json());
    FloatAttr maxValue = maxCfg.is_null() ? FloatAttr()
                                          : builder.getF64FloatAttr(number(maxCfg, "max_value"));
    if (slope == 0.0 && threshold == 0.0 && !maxValue)
      return {activation(x, "relu")};
    return {create<nn::ActivationOp>(x, builder.getStringAttr("relu"),
                                     builder.getF64FloatAttr(slope), maxValue,
                                     builder.getF64FloatAttr(threshold))};
  }
  if (cls == "LeakyReLU") {
    // Keras 3 calls it negative_slope, tf.keras 2 alpha; both default to 0.3.
    double slope = fieldOr<double>("negative_slope", fieldOr<double>("alpha", 0.3));
    return {create<nn::ActivationOp>(x, builder.getStringAttr("leaky_relu"),
                                     builder.getF64FloatAttr(slope), FloatAttr(), FloatAttr())};
  }
  if (cls == "ELU")
    return {create<nn::ActivationOp>(x, builder.getStringAttr("elu"),
                                     builder.getF64FloatAttr(fieldOr<double>("alpha", 1.0)),
                                     FloatAttr(), FloatAttr())};
  if (cls == "PReLU") {
    std::vector<int64_t> shape(shapeOf(x).begin() + 1, shapeOf(x).end());
    const json &shared = layer.config.value("shared_axes", json());
    if (shared.is_number_integer())
      shape[normalizeAxis(shared.get<int64_t>(), rank) - 1] = 1;
    else if (shared.is_array())
      for (const json &a : shared)
        shape[normalizeAxis(a.get<int64_t>(), rank) - 1] = 1;
    expectWeightCount(1);
    return {create<nn::PReluOp>(x, storedWeight(0, "alpha", shape))};
  }
  if (cls == "Softmax") {
    const json &axisCfg = layer.config.value("axis", json(-1));
    int64_t axis;
    if (axisCfg.is_number_integer())
      axis = axisCfg.get<int64_t>();
    else if (axisCfg.is_array() && axisCfg.size() == 1)
      axis = axisCfg[0].get<int64_t>();
    else
      fail("softmax over several axes is not supported");
    return {create<nn::SoftmaxOp>(x, builder.getI64IntegerAttr(normalizeAxis(axis, rank)),
                                  builder.getBoolAttr(false))};
  }
  if (cls == "Flatten") {
    ArrayRef<int64_t> s = shapeOf(x);
    if (fieldOr<std::string>("data_format", "channels_last") == "channels_first" && rank > 2) {
      // Keras moves the channel axis last before flattening channels_first data.
      SmallVector<Attribute> perm{builder.getI64IntegerAttr(0)};
      for (int64_t d = 2; d < rank; ++d)
        perm.push_back(builder.getI64IntegerAttr(d));
      perm.push_back(builder.getI64IntegerAttr(1));
      x = create<nn::TransposeOp>(x, builder.getArrayAttr(perm));
    }
    int64_t n = std::accumulate(s.begin() + 1, s.end(), int64_t(1), std::multiplies<>());
    return {create<nn::ReshapeOp>(x, builder.getI64ArrayAttr({n}))};
  }
  if (cls == "Reshape") {
    std::vector<int64_t> target = intList("target_shape");
    ArrayRef<int64_t> s = shapeOf(x);
    int64_t total = std::accumulate(s.begin() + 1, s.end(), int64_t(1), std::multiplies<>());
    int64_t known = 1, unknown = -1;
    for (size_t i = 0; i < target.size(); ++i) {
      if (target[i] == -1 && unknown < 0)
        unknown = i;
      else if (target[i] <= 0)
        fail("target_shape may contain one -1 and otherwise positive sizes");
      else
        known *= target[i];
    }
    if (unknown >= 0) {
      if (total % known != 0)
        fail(fmt::format("cannot reshape {} elements into target_shape with -1", total));
      target[unknown] = total / known;
    }
    return {create<nn::ReshapeOp>(x, builder.getI64ArrayAttr(target))};
  }
  if (cls == "Permute") {
    std::vector<int64_t> dims = intList("dims");
    SmallVector<int64_t> perm{0};
    perm.append(dims.begin(), dims.end());
    return {create<nn::TransposeOp>(x, builder.getI64ArrayAttr(perm))};
  }
  if (cls == "RepeatVector") {
    const json &n = field("n");
    if (!n.is_number_integer())
      fail("config field 'n' must be an integer");
    return {create<nn::RepeatOp>(x, builder.getI64IntegerAttr(n.get<int64_t>()))};
  }
  if (cls == "Rescaling")
    return {importRescaling(x)};
  if (cls == "Normalization")
    return {importNormalization(x)};
  fail("internal error: no importer for this supported class");
}

ImportedModel Importer::run() {
  ctx.loadDialect<nn::NNDialect, func::FuncDialect>();

  // Every unsupported layer is reported at once, before anything is built.
  std::vector<std::string> unsupported;
  for (const LayerSpec &layer : spec.layers) {
    std::string why = unsupportedReason(layer);
    if (!why.empty())
      unsupported.push_back(fmt::format("'{}' ({}): {}", layer.name, layer.className, why));
  }
  if (!unsupported.empty())
    throw Error(fmt::format("{}: {} unsupported layer{}: {}", spec.sourcePath, unsupported.size(),
                            unsupported.size() == 1 ? "" : "s", fmt::join(unsupported, "; ")));

  ImportedModel result;
  result.name = spec.name;
  result.sequential = spec.className == "Sequential";
  auto module = ModuleOp::create(UnknownLoc::get(&ctx));
  builder.setInsertionPointToEnd(module.getBody());

  // Inputs: the model's input layers, in the model's order.
  std::map<std::string, const LayerSpec *> byName;
  for (const LayerSpec &layer : spec.layers)
    byName[layer.name] = &layer;
  SmallVector<Type> argTypes;
  for (const TensorRef &ref : spec.inputs) {
    auto it = byName.find(ref.layer);
    if (it == byName.end() || it->second->className != "InputLayer")
      fail(fmt::format("model input '{}' is not an InputLayer of the model", ref.layer));
    current = it->second;
    const json &shapeCfg = current->config.contains("batch_shape")
                               ? current->config["batch_shape"]
                               : current->config.value("batch_input_shape", json());
    if (!shapeCfg.is_array() || shapeCfg.empty())
      fail("missing required config field 'batch_shape'");
    SmallVector<int64_t> shape{ShapedType::kDynamicSize};
    for (size_t d = 1; d < shapeCfg.size(); ++d) {
      if (!shapeCfg[d].is_number_integer() || shapeCfg[d].get<int64_t>() <= 0)
        fail("every input dimension but the batch must be a fixed positive size "
             "(dynamic dimensions are not supported)");
      shape.push_back(shapeCfg[d].get<int64_t>());
    }
    argTypes.push_back(RankedTensorType::get(shape, builder.getF32Type()));
  }
  current = nullptr;
  auto func = builder.create<func::FuncOp>(UnknownLoc::get(&ctx), "model",
                                           builder.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  builder.setInsertionPointToEnd(entry);

  // (layer, call, tensor) -> value.
  std::map<std::tuple<std::string, int, int>, Value> tensors;
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    tensors[{spec.inputs[i].layer, 0, 0}] = entry->getArgument(i);
    func.setArgAttr(i, "nn.name", builder.getStringAttr(spec.inputs[i].layer));
  }

  // Summary rows, in config order (what Keras's model.summary() lists).
  std::map<std::string, size_t> reportOf;
  for (const LayerSpec &layer : spec.layers) {
    current = &layer;
    LayerReport report{layer.name, layer.className, {}, 0, 0, {}};
    const bool trainable = layerIsTrainable(layer);
    for (const WeightArray &w : layer.weights) {
      int64_t n = std::accumulate(w.shape.begin(), w.shape.end(), int64_t(1), std::multiplies<>());
      report.params += n;
      report.trainableParams += trainable && !isMovingStatistic(layer.className, w.name) ? n : 0;
    }
    for (const LayerCall &call : layer.calls)
      for (const TensorRef &ref : call.inputs)
        report.connectedTo.push_back(
            fmt::format("{}[{}][{}]", ref.layer, ref.nodeIndex, ref.tensorIndex));
    if (layer.className == "InputLayer") {
      auto it = tensors.find({layer.name, 0, 0});
      if (it == tensors.end())
        fail("this InputLayer is not one of the model's inputs");
      report.outputShapes.push_back(shapeOf(it->second).vec());
    }
    reportOf[layer.name] = result.layers.size();
    result.layers.push_back(report);
  }

  // Layer calls in dependency order. The config order is topological for almost every model,
  // but a shared layer's later call may consume a layer listed after it.
  std::vector<std::pair<const LayerSpec *, size_t>> pending;
  for (const LayerSpec &layer : spec.layers)
    if (layer.className != "InputLayer")
      for (size_t call = 0; call < layer.calls.size(); ++call)
        pending.push_back({&layer, call});
  auto missingInput = [&](const LayerCall &call) -> const TensorRef * {
    for (const TensorRef &ref : call.inputs)
      if (!tensors.count({ref.layer, ref.nodeIndex, ref.tensorIndex}))
        return &ref;
    return nullptr;
  };
  while (!pending.empty()) {
    auto ready = std::find_if(pending.begin(), pending.end(), [&](const auto &p) {
      return !missingInput(p.first->calls[p.second]);
    });
    if (ready == pending.end()) {
      current = pending.front().first;
      const TensorRef *ref = missingInput(current->calls[pending.front().second]);
      fail(fmt::format("input {}[{}][{}] is not produced by any layer (or the graph has a cycle)",
                       ref->layer, ref->nodeIndex, ref->tensorIndex));
    }
    auto [layer, call] = *ready;
    pending.erase(ready);
    current = layer;
    Values inputs;
    for (const TensorRef &ref : layer->calls[call].inputs)
      inputs.push_back(tensors.at({ref.layer, ref.nodeIndex, ref.tensorIndex}));
    Values outputs = importLayer(*layer, inputs);
    for (size_t t = 0; t < outputs.size(); ++t) {
      tensors[{layer->name, (int)call, (int)t}] = outputs[t];
      if (call == 0)
        result.layers[reportOf[layer->name]].outputShapes.push_back(shapeOf(outputs[t]).vec());
    }
  }
  current = nullptr;

  SmallVector<Value> outputs;
  for (const TensorRef &ref : spec.outputs) {
    auto it = tensors.find({ref.layer, ref.nodeIndex, ref.tensorIndex});
    if (it == tensors.end())
      fail(fmt::format("model output {}[{}][{}] is not produced by any layer", ref.layer,
                       ref.nodeIndex, ref.tensorIndex));
    outputs.push_back(it->second);
  }
  builder.create<func::ReturnOp>(UnknownLoc::get(&ctx), outputs);
  func.setType(builder.getFunctionType(argTypes, ValueRange(outputs).getTypes()));
  for (size_t i = 0; i < spec.outputs.size(); ++i)
    func.setResultAttr(i, "nn.name", builder.getStringAttr(spec.outputs[i].layer));

  // Every Keras variable (also those the IR does not read, like Normalization's count) with
  // the place Keras 3 saves it, in model.weights order: what a trained model writes back.
  std::vector<std::string> names, classes;
  for (const LayerSpec &layer : spec.layers) {
    names.push_back(layer.name);
    classes.push_back(layer.className);
  }
  const auto groups = keras3LayerGroups(names, classes, result.sequential);
  for (const LayerSpec &layer : spec.layers) {
    auto layout = kerasWeightLayout(layer.className, layer.config);
    std::vector<std::string> paths;
    if (layout && groups.count(layer.name))
      for (const VariableGroup &group : *layout)
        for (size_t i = 0; i < group.names.size(); ++i)
          paths.push_back(groups.at(layer.name) + "/" + group.path + "/" + std::to_string(i));
    for (size_t i = 0; i < layer.weights.size(); ++i) {
      const WeightArray &stored = layer.weights[i];
      const std::string name = layer.name + "/" + stored.name;
      WeightTensor &w = weights[name];
      if (w.data.empty()) { // not read by the IR
        w.shape = stored.shape;
        w.data = stored.data;
        w.trainable = false;
      }
      if (i < paths.size())
        w.kerasPath = paths[i];
      const json &init = layer.config.value(stored.name + "_initializer", json());
      if (!init.is_null())
        w.initializer = init.dump();
      const json &constraint = layer.config.value(stored.name + "_constraint", json());
      if (!constraint.is_null())
        w.constraint = constraint.dump();
      result.variables.push_back(name);
    }
  }

  result.module = module;
  result.weights = std::move(weights);
  return result;
}

/// Keras's readable byte counts: "888.00 B", "1.52 KB".
std::string readableBytes(double bytes) {
  const char *units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return fmt::format("{:.2f} {}", bytes, units[u]);
}

/// Display width of UTF-8 text (the table's box characters are one column each).
size_t displayWidth(const std::string &s) {
  size_t w = 0;
  for (unsigned char c : s)
    w += (c & 0xC0) != 0x80;
  return w;
}

/// A count with thousands separators, as Keras's summary writes it (f"{n:,}": 61,706).
std::string withCommas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string repeatText(const std::string &s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i)
    out += s;
  return out;
}

} // namespace

ImportedModel importModel(const ModelSpec &spec, MLIRContext &context) {
  return Importer(spec, context).run();
}

std::string formatSummary(const ImportedModel &model) {
  // Like Keras 3: Sequential hides the InputLayer and has no "Connected to" column.
  std::vector<std::vector<std::vector<std::string>>> rows; // row -> column -> lines
  for (const LayerReport &l : model.layers) {
    if (model.sequential && l.className == "InputLayer")
      continue;
    std::vector<std::string> shapes;
    for (const auto &s : l.outputShapes)
      shapes.push_back(nn::kerasShapeText(s));
    std::vector<std::vector<std::string>> row{
        {l.name + " (" + l.className + ")"}, shapes, {withCommas(l.params)}};
    if (!model.sequential) {
      std::vector<std::string> inbound;
      for (size_t i = 0; i < l.connectedTo.size(); ++i)
        inbound.push_back(l.connectedTo[i] + (i + 1 < l.connectedTo.size() ? "," : ""));
      if (inbound.empty())
        inbound.push_back("-");
      row.push_back(inbound);
    }
    rows.push_back(row);
  }
  std::vector<std::string> headers{"Layer (type)", "Output Shape", "Param #"};
  if (!model.sequential)
    headers.push_back("Connected to");
  std::vector<size_t> widths;
  for (size_t c = 0; c < headers.size(); ++c) {
    size_t w = displayWidth(headers[c]);
    for (const auto &row : rows)
      for (const std::string &line : row[c])
        w = std::max(w, displayWidth(line));
    widths.push_back(w + 2);
  }
  auto rule = [&](const char *left, const char *fill, const char *mid, const char *right) {
    std::string s = left;
    for (size_t c = 0; c < widths.size(); ++c)
      s += repeatText(fill, widths[c]) + (c + 1 < widths.size() ? mid : right);
    return s + "\n";
  };
  auto line = [&](const std::vector<std::string> &cells, const char *bar) {
    std::string s = bar;
    for (size_t c = 0; c < cells.size(); ++c) {
      size_t pad = widths[c] - 2 - displayWidth(cells[c]);
      s += " " + (c == 2 ? std::string(pad, ' ') + cells[c] : cells[c] + std::string(pad, ' ')) +
           " " + bar;
    }
    return s + "\n";
  };
  std::string out = "Model: \"" + model.name + "\"\n";
  out += rule("┏", "━", "┳", "┓") + line(headers, "┃") + rule("┡", "━", "╇", "┩");
  for (size_t r = 0; r < rows.size(); ++r) {
    size_t height = 1;
    for (const auto &col : rows[r])
      height = std::max(height, col.size());
    for (size_t k = 0; k < height; ++k) {
      std::vector<std::string> cells;
      for (const auto &col : rows[r])
        cells.push_back(k < col.size() ? col[k] : "");
      out += line(cells, "│");
    }
    out += r + 1 < rows.size() ? rule("├", "─", "┼", "┤") : rule("└", "─", "┴", "┘");
  }
  int64_t total = 0, trainable = 0;
  for (const LayerReport &l : model.layers) {
    total += l.params;
    trainable += l.trainableParams;
  }
  out += fmt::format(" Total params: {} ({})\n", withCommas(total), readableBytes(total * 4.0));
  out += fmt::format(" Trainable params: {} ({})\n", withCommas(trainable),
                     readableBytes(trainable * 4.0));
  out += fmt::format(" Non-trainable params: {} ({})\n", withCommas(total - trainable),
                     readableBytes((total - trainable) * 4.0));
  return out;
}

} // namespace kerasc
