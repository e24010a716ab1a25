// kerasc runtime: the contract between a generated training program and the runtime's fit loop.
// The generated <model>.cpp fills a TrainableModel (function pointers into its own code plus tables
// of its tensors); fit/evaluate/checkpointing/weight files only ever see this struct, so they are
// written once, here, for every model. Header-only, standard library only.
#pragma once

#include <cstdint>

namespace kerasc {

/// One named float32 tensor the program owns (a model variable or an optimizer slot).
struct TensorSlot {
  const char *name;       // unique key: "dense/kernel" (weight store name), "optimizer/dense/kernel/m"
  const char *keras_path; // where Keras 3's .weights.h5 keeps it ("layers/dense/vars/0"), or nullptr
  float *data;
  int64_t count;          // elements
  int rank;
  int64_t shape[8];
  bool trainable;         // false for non-trainable variables and for optimizer state
};

/// A model input, output or target, per sample (the batch dimension is left out).
struct DataPort {
  const char *name;
  int64_t size;           // floats per sample
  int rank;               // rank of the per-sample shape
  int64_t shape[8];
};

/// Everything fit/evaluate need from a compiled model. All pointers are owned by the generated
/// code; `self` is passed back to every function.
struct TrainableModel {
  void *self;
  const char *name;
  int num_inputs, num_outputs;
  const DataPort *inputs;   // [num_inputs]
  const DataPort *outputs;  // [num_outputs]
  const DataPort *targets;  // [num_outputs]: what y looks like (sparse labels: size 1)
  int64_t max_batch;        // train_step / test_step accept 1 <= n <= max_batch

  /// Forward pass in training mode (dropout and noise active, drawn from `*seed` and the iteration
  /// counter), loss plus regularization, backward pass, optimizer update, constraints; then
  /// `*iterations += 1`. Writes the training-mode predictions (for metrics) and returns the batch
  /// loss as Keras reports it (weighted sum over outputs + regularization losses).
  float (*train_step)(void *self, const float *const *x, const float *const *y, int64_t n,
                      float *const *predictions);
  /// Inference-mode forward pass and loss, no update (evaluate, validation).
  float (*test_step)(void *self, const float *const *x, const float *const *y, int64_t n,
                     float *const *predictions);

  /// Compiled metrics, by their Keras log names in Keras's order ("accuracy", "auc", ...;
  /// multi-output models prefix the output name). "loss" is not among them.
  int num_metrics;
  const char *const *metric_names;
  void (*metrics_reset)(void *self);
  void (*metrics_update)(void *self, const float *const *y, const float *const *predictions,
                         int64_t n);
  void (*metrics_result)(void *self, double *values); // [num_metrics]

  /// The learning rate the next step will use; set_learning_rate returns false when the optimizer
  /// follows a schedule (Keras refuses to overwrite a schedule too).
  double (*get_learning_rate)(void *self);
  bool (*set_learning_rate)(void *self, double lr);

  int64_t *iterations;      // optimizer steps taken (Keras's optimizer.iterations)
  uint64_t *seed;           // seeds dropout / noise layers
  int num_weights;
  TensorSlot *weights;      // model variables, in Keras's model.weights order
  int num_optimizer_state;
  TensorSlot *optimizer_state;
  /// Redraws every weight from its layer's initializer (training from scratch) and zeroes the
  /// optimizer state and iteration counter.
  void (*reinitialize)(void *self, uint64_t seed);
};

} // namespace kerasc
