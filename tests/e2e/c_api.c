/* Calls a generated model from C through its header, as an embedding application would:
 * init, predict (static arena), predict_with_arena (caller's arena), release. Checks that both
 * entry points agree, that a too-small or misaligned arena is refused, and that no heap
 * allocation happens inside predict: the test links with -Wl,--wrap=malloc,--wrap=_Znwm so
 * every malloc / operator new made by the model's code is counted.
 * Build: cc -std=c11 c_api.c -I OUT -c; c++ OUT/model.cpp c_api.o -Wl,--wrap=malloc,--wrap=_Znwm */
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

#define BATCH 100 /* more than a small --max-batch, so predict must loop over chunks */

static float inputs_storage[MODEL_NUM_INPUTS][BATCH * 64];
static float out_a[MODEL_NUM_OUTPUTS][BATCH * 64];
static float out_b[MODEL_NUM_OUTPUTS][BATCH * 64];

int main(void) {
  const long long in_sizes[] = {MODEL_INPUT0_SIZE
#if MODEL_NUM_INPUTS > 1
                                , MODEL_INPUT1_SIZE
#endif
  };
  const long long out_sizes[] = {MODEL_OUTPUT0_SIZE
#if MODEL_NUM_OUTPUTS > 1
                                 , MODEL_OUTPUT1_SIZE
#endif
#if MODEL_NUM_OUTPUTS > 2
                                 , MODEL_OUTPUT2_SIZE
#endif
  };
  const float *inputs[MODEL_NUM_INPUTS];
  float *outputs_a[MODEL_NUM_OUTPUTS], *outputs_b[MODEL_NUM_OUTPUTS];
  for (int i = 0; i < MODEL_NUM_INPUTS; ++i) {
    if (in_sizes[i] > 64) return 2;
    for (long long k = 0; k < BATCH * in_sizes[i]; ++k)
      inputs_storage[i][k] = (float)sin(0.37 * (double)k + i);
    inputs[i] = inputs_storage[i];
  }
  for (int i = 0; i < MODEL_NUM_OUTPUTS; ++i) {
    if (out_sizes[i] > 64) return 2;
    outputs_a[i] = out_a[i];
    outputs_b[i] = out_b[i];
  }

  if (model_init(NULL) != 0) return 1;
  size_t bytes = model_arena_bytes(BATCH);
  void *arena = aligned_alloc(64, bytes + 64);
  if (model_predict_with_arena(inputs, outputs_b, BATCH, arena, bytes - 1) != -2) {
    printf("FAIL: a too-small arena was accepted\n");
    return 1;
  }
  if (bytes > 0 && model_predict_with_arena(inputs, outputs_b, BATCH, (char *)arena + 4, bytes) != -3) {
    printf("FAIL: a misaligned arena was accepted\n");
    return 1;
  }

  long before = allocations;
  int rc_a = model_predict(inputs, outputs_a, BATCH);
  int rc_b = model_predict_with_arena(inputs, outputs_b, BATCH, arena, bytes);
  long during = allocations - before;
  model_release();
  free(arena);

  if (rc_a != 0 || rc_b != 0) {
    printf("FAIL: predict returned %d / %d\n", rc_a, rc_b);
    return 1;
  }
  for (int i = 0; i < MODEL_NUM_OUTPUTS; ++i)
    if (memcmp(out_a[i], out_b[i], sizeof(float) * (size_t)(BATCH * out_sizes[i])) != 0) {
      printf("FAIL: output %d differs between predict and predict_with_arena\n", i);
      return 1;
    }
  if (during != 0) {
    printf("FAIL: %ld heap allocations during predict\n", during);
    return 1;
  }
  printf("ok: %d inputs, %d outputs, batch %d, arena %zu bytes, 0 allocations during predict\n",
         MODEL_NUM_INPUTS, MODEL_NUM_OUTPUTS, BATCH, bytes);
  return 0;
}
