/* The training C API of a generated program, from C11 (tests/e2e/c_api_train.sh).
 * Model: tests/fixtures/training/fit/digits_mlp_initial.keras compiled with --name model
 * (64 -> 32 relu -> 16 relu -> 10 softmax, Adam(1e-3), sparse CCE, accuracy).
 * Data: 256 synthetic samples (a fixed LCG, so the run is deterministic): 64 features in [0, 1),
 * label = the index of the largest of the first 10 features, which a small MLP learns quickly.
 * Checks, in order:
 *   - bad batch sizes fail with -2 (embedded weights are ready before model_init, as for
 *     inference, so calls before it are not an error);
 *   - model_train_step x5 returns finite losses and allocates nothing (malloc / operator new
 *     wrapped by the linker, as in tests/e2e/c_api.c);
 *   - model_fit (60 epochs, shuffled) lowers the evaluate loss below 0.8 x the initial one and
 *     its final_loss below the first step's loss (measured: 2.42 -> 0.99 evaluate loss, so the
 *     margin is large), and the accuracy metric is in [0, 1] and better than before;
 *   - model_save_checkpoint, more training (predictions change), model_load_checkpoint:
 *     predictions equal the saved ones bit for bit (memcmp; tolerance none);
 *   - model_reinitialize(seed) twice with the same seed gives bit-identical predictions that
 *     differ from the trained ones, and an evaluate loss above the trained one;
 *   - loading a missing checkpoint fails (non-zero) and leaves the weights untouched.
 * Exit 0 on success; every failure prints one line naming the check. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long allocations = 0;
void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size) {
  ++allocations;
  return __real_malloc(size);
}
void *__real__Znwm(size_t size);
void *__wrap__Znwm(size_t size) {
  ++allocations;
  return __real__Znwm(size);
}

#define N 256
#define BATCH 32

static float x[N * MODEL_INPUT0_SIZE];
static float y[N * MODEL_TARGET0_SIZE];
static float saved[N * MODEL_OUTPUT0_SIZE];
static float probs[N * MODEL_OUTPUT0_SIZE];
static int failures = 0;

#define CHECK(cond, ...)                                                                            \
  do {                                                                                              \
    if (!(cond)) {                                                                                  \
      printf("FAIL line %d: %s: ", __LINE__, #cond);                                                \
      printf(__VA_ARGS__);                                                                          \
      printf("\n");                                                                                 \
      ++failures;                                                                                   \
    }                                                                                               \
  } while (0)

static void make_data(void) {
  unsigned long long state = 12345;
  for (int i = 0; i < N; ++i) {
    int best = 0;
    for (int j = 0; j < MODEL_INPUT0_SIZE; ++j) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      x[i * MODEL_INPUT0_SIZE + j] = (float)((state >> 40) & 0xffffff) / 16777216.0f;
      if (j < 10 && x[i * MODEL_INPUT0_SIZE + j] > x[i * MODEL_INPUT0_SIZE + best]) best = j;
    }
    y[i] = (float)best;
  }
}

static const float *const inputs[] = {x};
static const float *const targets[] = {y};

static void predict(float *out) {
  float *outputs[] = {out};
  CHECK(model_predict(inputs, outputs, N) == 0, "model_predict failed");
}

static float evaluate(double *accuracy) {
  float loss = -1;
  double metrics[MODEL_NUM_METRICS + 1];
  CHECK(model_evaluate(inputs, targets, N, BATCH, &loss, metrics) == 0, "model_evaluate failed");
  CHECK(isfinite(loss) && loss > 0, "loss %g", loss);
  *accuracy = metrics[0];
  CHECK(metrics[0] >= 0 && metrics[0] <= 1, "accuracy %g outside [0, 1]", metrics[0]);
  return loss;
}

int main(void) {
  make_data();
  float loss = 0;
  CHECK(model_init(NULL) == 0, "model_init");
  CHECK(model_train_step(inputs, targets, 0, &loss) == -2, "batch 0 must fail");
  CHECK(model_train_step(inputs, targets, MODEL_MAX_BATCH + 1, &loss) == -2, "batch > max must fail");

  double acc0, acc1, acc;
  const float loss0 = evaluate(&acc0);

  /* A few single steps on the first batch: no heap, finite losses. */
  float first_step = 0;
  const long before = allocations;
  for (int s = 0; s < 5; ++s) {
    CHECK(model_train_step(inputs, targets, BATCH, &loss) == 0, "train_step %d", s);
    CHECK(isfinite(loss), "step %d loss %g", s, loss);
    if (s == 0) first_step = loss;
  }
  CHECK(allocations == before, "train_step allocated %ld times", allocations - before);

  float final_loss = -1;
  CHECK(model_fit(inputs, targets, N, 60, BATCH, 1, 3, &final_loss) == 0, "model_fit");
  const float loss1 = evaluate(&acc1);
  printf("evaluate loss %.6g (accuracy %.4f) -> after 5 steps + 60 epochs %.6g (accuracy %.4f); "
         "first step %.6g, fit's final epoch %.6g\n",
         loss0, acc0, loss1, acc1, first_step, final_loss);
  CHECK(loss1 < 0.8f * loss0, "training did not lower the loss enough: %g -> %g", loss0, loss1);
  CHECK(final_loss < first_step, "fit's last epoch loss %g not below the first step's %g", final_loss, first_step);
  CHECK(acc1 > acc0, "accuracy did not improve: %g -> %g", acc0, acc1);

  /* Checkpoint round trip: predictions restored bit for bit. */
  predict(saved);
  CHECK(model_save_checkpoint("c_api_train.kck") == 0, "model_save_checkpoint");
  CHECK(model_fit(inputs, targets, N, 2, BATCH, 1, 4, &final_loss) == 0, "second model_fit");
  predict(probs);
  CHECK(memcmp(probs, saved, sizeof(saved)) != 0, "more training did not change the predictions");
  CHECK(model_load_checkpoint("c_api_train.kck") == 0, "model_load_checkpoint");
  predict(probs);
  CHECK(memcmp(probs, saved, sizeof(saved)) == 0, "loaded checkpoint does not restore the predictions");
  CHECK(model_load_checkpoint("does_not_exist.kck") != 0, "loading a missing checkpoint must fail");
  predict(probs);
  CHECK(memcmp(probs, saved, sizeof(saved)) == 0, "a failed load changed the weights");

  /* Reinitialization: deterministic in the seed, and it forgets the training. */
  CHECK(model_reinitialize(11) == 0, "model_reinitialize");
  predict(probs);
  CHECK(memcmp(probs, saved, sizeof(saved)) != 0, "reinitialize left the trained weights");
  const float loss2 = evaluate(&acc);
  CHECK(loss2 > loss1, "reinitialized loss %g not above the trained %g", loss2, loss1);
  CHECK(model_reinitialize(11) == 0, "model_reinitialize again");
  predict(saved);
  CHECK(memcmp(probs, saved, sizeof(saved)) == 0, "reinitialize(11) twice gave different weights");

  model_release();
  printf("%s: training C API (%d failure(s))\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
