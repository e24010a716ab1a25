#include "frontend/TrainingConfig.h"

#include "ir/NNDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include <fmt/format.h>

#include <cctype>
#include <map>
#include <set>

using namespace mlir;
using nlohmann::json;

namespace kerasc {
namespace {

/// Keras loss identifiers (function names, aliases, class names) -> function name.
const std::map<std::string, std::string> &lossNames() {
  static const std::map<std::string, std::string> names = [] {
    std::map<std::string, std::string> m;
    auto add = [&](const std::string &fn, std::initializer_list<const char *> aliases) {
      m[fn] = fn;
      for (const char *a : aliases)
        m[a] = fn;
    };
    add("mean_squared_error", {"mse", "MSE", "MeanSquaredError"});
    add("mean_absolute_error", {"mae", "MAE", "MeanAbsoluteError"});
    add("mean_absolute_percentage_error", {"mape", "MAPE", "MeanAbsolutePercentageError"});
    add("mean_squared_logarithmic_error", {"msle", "MSLE", "MeanSquaredLogarithmicError"});
    add("huber", {"huber_loss", "Huber"});
    add("log_cosh", {"logcosh", "LogCosh"});
    add("binary_crossentropy", {"BinaryCrossentropy"});
    add("categorical_crossentropy", {"CategoricalCrossentropy"});
    add("sparse_categorical_crossentropy", {"SparseCategoricalCrossentropy"});
    add("kl_divergence", {"kld", "KLD", "kullback_leibler_divergence", "KLDivergence"});
    add("poisson", {"Poisson"});
    add("cosine_similarity", {"CosineSimilarity"});
    add("hinge", {"Hinge"});
    add("squared_hinge", {"SquaredHinge"});
    add("categorical_hinge", {"CategoricalHinge"});
    return m;
  }();
  return names;
}

/// Metric identifiers -> (runtime MetricKind name, Keras's default log name).
const std::map<std::string, std::pair<std::string, std::string>> &metricNames() {
  static const std::map<std::string, std::pair<std::string, std::string>> names = [] {
    std::map<std::string, std::pair<std::string, std::string>> m;
    auto add = [&](const std::string &kind, const std::string &logName,
                   std::initializer_list<const char *> aliases) {
      m[logName] = {kind, logName};
      m[kind] = {kind, logName};
      for (const char *a : aliases)
        m[a] = {kind, logName};
    };
    add("BinaryAccuracy", "binary_accuracy", {});
    add("CategoricalAccuracy", "categorical_accuracy", {});
    add("SparseCategoricalAccuracy", "sparse_categorical_accuracy", {});
    add("TopKCategoricalAccuracy", "top_k_categorical_accuracy", {});
    add("SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy", {});
    add("MeanAbsoluteError", "mean_absolute_error", {"mae", "MAE"});
    add("MeanSquaredError", "mean_squared_error", {"mse", "MSE"});
    add("RootMeanSquaredError", "root_mean_squared_error", {"rmse"});
    add("Precision", "precision", {});
    add("Recall", "recall", {});
    add("AUC", "auc", {});
    return m;
  }();
  return names;
}

class ConfigReader {
public:
  ConfigReader(const ModelSpec &spec, ImportedModel &model, const TrainingOverrides &overrides)
      : spec(spec), model(model), overrides(overrides), b(model.module->getContext()) {
    for (auto f : model.module->getOps<func::FuncOp>())
      func = f;
    const json &cc = spec.compileConfig;
    if (cc.is_object()) {
      // Keras 3: compile_config.{loss, optimizer, metrics, loss_weights}; legacy .h5:
      // training_config.{loss, optimizer_config, metrics, loss_weights}.
      loss = cc.value("loss", json());
      optimizer = cc.contains("optimizer") ? cc["optimizer"] : cc.value("optimizer_config", json());
      metrics = cc.value("metrics", json());
      lossWeights = cc.value("loss_weights", json());
    }
  }

  [[noreturn]] void fail(const std::string &what) const {
    throw Error(fmt::format("{}: {}", spec.sourcePath, what));
  }

  void run() {
    std::vector<std::string> missing;
    if (overrides.loss.empty() && loss.is_null())
      missing.push_back("a loss (--loss)");
    if (overrides.optimizer.empty() && optimizer.is_null())
      missing.push_back("an optimizer (--optimizer)");
    if (!missing.empty())
      fail(fmt::format("cannot build training code: the model has no compile config{} and no "
                       "flag gives {}; compile the model in Keras before saving it, or pass {}",
                       spec.compileConfig.is_null() ? "" : " entry for it",
                       fmt::join(missing, " or "), fmt::join(missing, " and ")));
    attachLosses();
    attachOptimizer();
    attachMetrics();
  }

private:
  unsigned numOutputs() const { return func.getNumResults(); }
  std::string outputName(unsigned k) const {
    auto name = func.getResultAttrOfType<StringAttr>(k, "nn.name");
    return name ? name.str() : fmt::format("output_{}", k);
  }

  /// The per-output entries of a Keras "structure" (a single value for all outputs, a list in
  /// output order, or a dict by output name).
  std::vector<json> perOutput(const json &value, const char *what) const {
    std::vector<json> out(numOutputs());
    if (value.is_array() && !(value.size() && value[0].is_number() && numOutputs() == 1 &&
                              std::string(what) == "loss_weights")) {
      if (value.size() != numOutputs())
        fail(fmt::format("compile config: {} has {} entries for {} outputs", what, value.size(),
                         numOutputs()));
      for (unsigned k = 0; k < numOutputs(); ++k)
        out[k] = value[k];
    } else if (value.is_object() && !value.contains("class_name")) {
      for (unsigned k = 0; k < numOutputs(); ++k)
        out[k] = value.value(outputName(k), json());
    } else {
      for (unsigned k = 0; k < numOutputs(); ++k)
        out[k] = value;
    }
    return out;
  }

  /// json scalar/object/array -> attribute (nulls are dropped from dictionaries).
  Attribute toAttr(const json &v) {
    if (v.is_boolean())
      return b.getBoolAttr(v.get<bool>());
    if (v.is_number())
      return b.getF64FloatAttr(v.get<double>());
    if (v.is_string())
      return b.getStringAttr(v.get<std::string>());
    if (v.is_array()) {
      SmallVector<Attribute> items;
      for (const json &item : v)
        items.push_back(toAttr(item));
      return b.getArrayAttr(items);
    }
    if (v.is_object()) {
      SmallVector<NamedAttribute> fields;
      for (auto it = v.begin(); it != v.end(); ++it)
        if (!it.value().is_null())
          fields.push_back(b.getNamedAttr(it.key(), toAttr(it.value())));
      return b.getDictionaryAttr(fields);
    }
    return b.getUnitAttr();
  }

  void attachLosses() {
    const json lossValue = overrides.loss.empty() ? loss : json(overrides.loss);
    std::vector<json> losses = perOutput(lossValue, "loss");
    std::vector<json> weights = perOutput(lossWeights, "loss_weights");
    SmallVector<Attribute> entries;
    lossFns.assign(numOutputs(), "");
    for (unsigned k = 0; k < numOutputs(); ++k) {
      const json &l = losses[k];
      if (l.is_null()) {
        entries.push_back(b.getDictionaryAttr({}));
        continue;
      }
      std::string id = l.is_string() ? l.get<std::string>() : l.value("class_name", "");
      auto it = lossNames().find(id);
      if (it == lossNames().end())
        fail(fmt::format("unsupported loss '{}' for output '{}' (supported: {})",
                         l.is_string() ? id : l.dump(), outputName(k), supportedLosses()));
      SmallVector<NamedAttribute> config;
      if (l.is_object())
        for (const char *key : {"from_logits", "label_smoothing", "delta", "axis"})
          if (l.value("config", json::object()).contains(key))
            config.push_back(b.getNamedAttr(key, toAttr(l["config"][key])));
      if (l.is_object() && l.value("config", json::object()).value("reduction", "sum_over_batch_size") !=
                               std::string("sum_over_batch_size"))
        fail(fmt::format("loss '{}': only the reduction 'sum_over_batch_size' (Keras's default) "
                         "is supported",
                         id));
      double weight = weights[k].is_number() ? weights[k].get<double>() : 1.0;
      entries.push_back(b.getDictionaryAttr(
          {b.getNamedAttr("fn", b.getStringAttr(it->second)),
           b.getNamedAttr("config", b.getDictionaryAttr(config)),
           b.getNamedAttr("weight", b.getF64FloatAttr(weight))}));
      lossFns[k] = it->second;
    }
    func->setAttr("nn.losses", b.getArrayAttr(entries));
  }

  static std::string supportedLosses() {
    std::string s;
    for (const auto &[id, fn] : lossNames())
      if (id == fn)
        s += (s.empty() ? "" : ", ") + fn;
    return s;
  }

  void attachOptimizer() {
    json opt = optimizer;
    if (!overrides.optimizer.empty())
      opt = json{{"class_name", overrides.optimizer}, {"config", json::object()}};
    if (opt.is_string())
      opt = json{{"class_name", opt}, {"config", json::object()}};
    if (!opt.is_object() || !opt.contains("class_name") || !opt["class_name"].is_string())
      fail("compile config: the optimizer is not a Keras optimizer object");
    // Class names as Keras serializes them; lower-case names from strings ("adam").
    static const std::map<std::string, std::string> classes = {
        {"sgd", "SGD"},         {"rmsprop", "RMSprop"}, {"adam", "Adam"},
        {"adamw", "AdamW"},     {"adagrad", "Adagrad"}, {"adamax", "Adamax"},
        {"nadam", "Nadam"}};
    std::string cls = opt["class_name"].get<std::string>();
    std::string lower;
    for (char c : cls)
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto it = classes.find(lower);
    if (it == classes.end())
      fail(fmt::format("unsupported optimizer '{}' (supported: SGD, RMSprop, Adam, AdamW, "
                       "Adagrad, Adamax, Nadam)",
                       cls));
    json config = opt.value("config", json::object());
    if (overrides.learningRate)
      config["learning_rate"] = *overrides.learningRate;
    if (config.value("use_ema", false))
      fail("optimizer: use_ema=True is not supported");
    if (config.contains("loss_scale_factor") && !config["loss_scale_factor"].is_null())
      fail("optimizer: loss_scale_factor is not supported");
    const json &lr = config.value("learning_rate", json());
    if (lr.is_object()) {
      static const std::set<std::string> schedules = {"ExponentialDecay", "PiecewiseConstantDecay",
                                                      "InverseTimeDecay", "CosineDecay"};
      std::string schedule = lr.value("class_name", "");
      if (!schedules.count(schedule))
        fail(fmt::format("unsupported learning-rate schedule '{}' (supported: ExponentialDecay, "
                         "PiecewiseConstantDecay, InverseTimeDecay, CosineDecay)",
                         schedule.empty() ? lr.dump() : schedule));
      config["learning_rate"] = json{{"class_name", schedule},
                                     {"config", lr.value("config", json::object())}};
    }
    func->setAttr("nn.optimizer",
                  b.getDictionaryAttr({b.getNamedAttr("class_name", b.getStringAttr(it->second)),
                                       b.getNamedAttr("config", toAttr(config))}));
  }

  void attachMetrics() {
    const json metricValue =
        overrides.metrics ? json(*overrides.metrics) : metrics;
    // Keras 3 accepts a flat list (applied to every output), a list of lists, or a dict.
    std::vector<json> lists(numOutputs(), json::array());
    if (metricValue.is_array() && !metricValue.empty() && metricValue[0].is_array()) {
      lists = perOutput(metricValue, "metrics");
    } else if (metricValue.is_object() && !metricValue.contains("class_name")) {
      lists = perOutput(metricValue, "metrics");
    } else if (!metricValue.is_null()) {
      for (unsigned k = 0; k < numOutputs(); ++k)
        lists[k] = metricValue.is_array() ? metricValue : json::array({metricValue});
    }
    SmallVector<Attribute> perOutputAttrs;
    for (unsigned k = 0; k < numOutputs(); ++k) {
      SmallVector<Attribute> entries;
      json list = lists[k].is_array() ? lists[k] : json::array({lists[k]});
      for (const json &m : list) {
        if (m.is_null())
          continue;
        entries.push_back(metric(m, k));
      }
      perOutputAttrs.push_back(b.getArrayAttr(entries));
    }
    func->setAttr("nn.metrics", b.getArrayAttr(perOutputAttrs));
  }

  Attribute metric(const json &m, unsigned k) {
    std::string id = m.is_string() ? m.get<std::string>() : m.value("class_name", "");
    json config = m.is_object() ? m.value("config", json::object()) : json::object();
    std::string kind, name;
    if (id == "accuracy" || id == "acc") {
      // Keras's compile_utils.get_metric: a one-unit output is binary; a sparse loss (class
      // indices as targets) is sparse categorical; anything else is categorical.
      auto type = func.getResultTypes()[k].cast<ShapedType>();
      const std::string lossFn = k < lossFns.size() ? lossFns[k] : "";
      if (type.getShape().back() == 1)
        kind = "BinaryAccuracy";
      else if (lossFn == "sparse_categorical_crossentropy")
        kind = "SparseCategoricalAccuracy";
      else
        kind = "CategoricalAccuracy";
      name = id;
    } else if (lossNames().count(id) && !metricNames().count(id)) {
      // A loss function as a metric: logged under the name given, averaged over samples.
      SmallVector<NamedAttribute> lossConfig;
      for (const char *key : {"from_logits", "label_smoothing", "delta"})
        if (config.contains(key))
          lossConfig.push_back(b.getNamedAttr(key, toAttr(config[key])));
      std::string logName = config.value("name", m.is_string() ? id : lossNames().at(id));
      if (numOutputs() > 1)
        logName = outputName(k) + "_" + logName;
      return b.getDictionaryAttr({b.getNamedAttr("kind", b.getStringAttr("Loss")),
                                  b.getNamedAttr("name", b.getStringAttr(logName)),
                                  b.getNamedAttr("fn", b.getStringAttr(lossNames().at(id))),
                                  b.getNamedAttr("config", b.getDictionaryAttr(lossConfig))});
    } else {
      auto it = metricNames().find(id);
      if (it == metricNames().end())
        fail(fmt::format("unsupported metric '{}' (supported: accuracy, binary_accuracy, "
                         "categorical_accuracy, sparse_categorical_accuracy, "
                         "top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mae, "
                         "mse, rmse, precision, recall, auc)",
                         m.is_string() ? id : m.dump()));
      kind = it->second.first;
      name = config.value("name", it->second.second);
    }
    if (numOutputs() > 1)
      name = outputName(k) + "_" + name;
    SmallVector<NamedAttribute> fields{b.getNamedAttr("kind", b.getStringAttr(kind)),
                                       b.getNamedAttr("name", b.getStringAttr(name))};
    for (const char *key : {"threshold", "k", "num_thresholds"})
      if (config.contains(key) && config[key].is_number())
        fields.push_back(b.getNamedAttr(key, b.getF64FloatAttr(config[key].get<double>())));
    if (config.contains("thresholds") && config["thresholds"].is_number())
      fields.push_back(b.getNamedAttr("threshold",
                                      b.getF64FloatAttr(config["thresholds"].get<double>())));
    if (config.value("curve", "ROC") == std::string("PR"))
      fields.push_back(b.getNamedAttr("pr_curve", b.getBoolAttr(true)));
    if (config.value("from_logits", false))
      fail(fmt::format("metric '{}': from_logits=True is not supported", id));
    return b.getDictionaryAttr(fields);
  }

  const ModelSpec &spec;
  ImportedModel &model;
  const TrainingOverrides &overrides;
  OpBuilder b;
  mutable func::FuncOp func; // mutable: MLIR op handles have non-const accessors
  json loss, optimizer, metrics, lossWeights;
  std::vector<std::string> lossFns;
};

} // namespace

bool hasTrainingConfig(const ModelSpec &spec, const TrainingOverrides &overrides) {
  const json &cc = spec.compileConfig;
  bool loss = !overrides.loss.empty() || (cc.is_object() && !cc.value("loss", json()).is_null());
  bool optimizer = !overrides.optimizer.empty() ||
                   (cc.is_object() && (!cc.value("optimizer", json()).is_null() ||
                                       !cc.value("optimizer_config", json()).is_null()));
  return loss && optimizer;
}

void attachTrainingConfig(const ModelSpec &spec, ImportedModel &model,
                          const TrainingOverrides &overrides) {
  ConfigReader(spec, model, overrides).run();
}

} // namespace kerasc
