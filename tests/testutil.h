/* testutil.h — helpers shared by the tests: seeded random data, building
 * constants in any dtype, running a graph on a device. */
#ifndef TERN_TESTUTIL_H
#define TERN_TESTUTIL_H

#include "tern.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* xorshift64* generator */
typedef struct tu_rng {
  uint64_t s;
} tu_rng;
void tu_seed(tu_rng *r, uint64_t seed);
uint32_t tu_u32(tu_rng *r);
float tu_uniform(tu_rng *r, float lo, float hi);
float tu_normal(tu_rng *r);
void tu_fill(tu_rng *r, float *x, size_t n, float lo, float hi);

/* Add a constant [rows, cols...] of `dtype` made by quantizing random
 * Gaussian fp32 weights (scaled by `scale`); per_tensor selects one scale. */
int tu_add_weight(tern_graph *g, tu_rng *r, const char *name, tern_dtype dtype,
                  int ndim, const int64_t *shape, float scale, bool per_tensor);
/* Add an f32 constant filled with uniform values in [lo, hi). */
int tu_add_f32(tern_graph *g, tu_rng *r, const char *name, int ndim,
               const int64_t *shape, float lo, float hi);

/* Run graph on device (NULL = cpu:0; "ref" = the reference) with the given
 * inputs; output 0 copied into a new malloc'd array (*out, *count).
 * Returns the status; messages go to tern_last_error(). */
tern_status tu_run(tern_context *ctx, const tern_graph *g, const char *device,
                   bool no_fallback, float *const *inputs, float **out,
                   size_t *count);

/* Elements of input i of g. */
size_t tu_input_elems(const tern_graph *g, int i);

/* Directory with the real MNIST files, or NULL when absent. */
const char *tu_mnist_dir(void);

#endif
