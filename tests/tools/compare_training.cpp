// compare_training: checks a kerasc checkpoint (the weights after training) against the weights
// Keras recorded in a training fixture (tests/fixtures/training/steps/<case>/expected.json).
//
//   compare_training CHECKPOINT EXPECTED.json STEP [--loss L]
//
// Every variable in weights_after[STEP-1] must match: trainable ones within
//   |ours - keras| <= 2e-5 * max(1, |keras|)
// (float32 training of a few steps: the error is a few ulps of the values times the number of
// accumulated terms; measured deviations are printed), frozen ones bit for bit with
// weights_initial; variables listed in "updated_non_trainable" (BatchNormalization's moving
// statistics, which Keras updates in training mode) are compared like trainable ones. With
// --loss, L (the mean loss kerasc logged over the steps) must match the mean of Keras's
// per-step losses within 1e-5 relative. Exit 0 on success, 1 on mismatch.
#include "kerasc/checkpoint.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

void flatten(const nlohmann::json &j, std::vector<double> &out) {
  if (j.is_array())
    for (const auto &v : j)
      flatten(v, out);
  else
    out.push_back(j.get<double>());
}

} // namespace

int main(int argc, char **argv) {
  // `compare_training --files EXPECTED.json x_files|y_files DIR`: the fixture's data files,
  // comma separated (what the generated program's --x / --y take); x.npy / y.npy when unlisted.
  if (argc == 5 && std::string(argv[1]) == "--files") {
    std::ifstream in(argv[2]);
    nlohmann::json expected = nlohmann::json::parse(in);
    std::string list;
    if (expected.contains(argv[3]))
      for (const auto &f : expected[argv[3]])
        list += (list.empty() ? "" : ",") + std::string(argv[4]) + "/" + f.get<std::string>();
    else
      list = std::string(argv[4]) + "/" + argv[3][0] + ".npy";
    std::printf("%s\n", list.c_str());
    return 0;
  }
  if (argc < 4) {
    std::fprintf(stderr, "usage: compare_training CHECKPOINT EXPECTED.json STEP [--loss L]\n");
    return 2;
  }
  std::vector<kerasc::CheckpointTensor> tensors;
  std::string state, error;
  if (!kerasc::read_checkpoint_tensors(argv[1], &tensors, &state, &error)) {
    std::fprintf(stderr, "compare_training: %s\n", error.c_str());
    return 1;
  }
  std::ifstream in(argv[2]);
  nlohmann::json expected = nlohmann::json::parse(in);
  const int step = std::atoi(argv[3]);
  const nlohmann::json &after = expected["weights_after"][step - 1];
  const nlohmann::json &initial = expected["weights_initial"];
  const nlohmann::json &trainable = expected["trainable"];
  const nlohmann::json updated = expected.value("updated_non_trainable", nlohmann::json::array());
  bool ok = true;
  double worst = 0.0;
  for (auto it = after.begin(); it != after.end(); ++it) {
    const kerasc::CheckpointTensor *ours = nullptr;
    for (const auto &t : tensors)
      if (t.name == it.key())
        ours = &t;
    if (!ours) {
      std::printf("MISSING %s: not in the checkpoint\n", it.key().c_str());
      ok = false;
      continue;
    }
    std::vector<double> keras, start;
    flatten(it.value(), keras);
    flatten(initial[it.key()], start);
    if (keras.size() != ours->data.size()) {
      std::printf("SHAPE %s: %zu values, Keras has %zu\n", it.key().c_str(), ours->data.size(),
                  keras.size());
      ok = false;
      continue;
    }
    const bool isUpdated =
        std::find(updated.begin(), updated.end(), it.key()) != updated.end();
    const bool isTrainable =
        isUpdated || std::find(trainable.begin(), trainable.end(), it.key()) != trainable.end();
    double maxAbs = 0.0, maxScaled = 0.0;
    for (size_t i = 0; i < keras.size(); ++i) {
      const double d = std::fabs(ours->data[i] - keras[i]);
      maxAbs = std::max(maxAbs, d);
      maxScaled = std::max(maxScaled, d / std::max(1.0, std::fabs(keras[i])));
      if (!isTrainable && static_cast<float>(start[i]) != ours->data[i])
        ok = false;
    }
    worst = std::max(worst, maxScaled);
    const bool good = isTrainable ? maxScaled <= 2e-5 : maxAbs == 0.0;
    ok = ok && good;
    std::printf("%s %-28s %s max |diff| %.3g (scaled %.3g)\n", good ? "ok  " : "FAIL",
                it.key().c_str(), isUpdated ? "updated  " : isTrainable ? "trainable" : "frozen   ",
                maxAbs, maxScaled);
  }
  if (argc >= 6 && std::string(argv[4]) == "--loss") {
    double mean = 0.0;
    for (int s = 0; s < step; ++s)
      mean += expected["losses"][s].get<double>();
    mean /= step;
    const double ours = std::atof(argv[5]);
    const double rel = std::fabs(ours - mean) / std::max(1e-12, std::fabs(mean));
    std::printf("%s loss: ours %.9g, Keras mean of %d steps %.9g (rel %.3g)\n",
                rel <= 1e-5 ? "ok  " : "FAIL", ours, step, mean, rel);
    ok = ok && rel <= 1e-5;
  }
  std::printf("%s: largest scaled weight deviation %.3g\n", ok ? "PASS" : "FAIL", worst);
  return ok ? 0 : 1;
}
