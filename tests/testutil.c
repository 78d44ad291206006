/* testutil.c — see testutil.h. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void tu_seed(tu_rng *r, uint64_t seed) {
  r->s = seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
  if (!r->s)
    r->s = 1;
}

uint32_t tu_u32(tu_rng *r) {
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return (uint32_t)((r->s * 0x2545F4914F6CDD1Dull) >> 32);
}

float tu_uniform(tu_rng *r, float lo, float hi) {
  return lo + (hi - lo) * (float)((tu_u32(r) >> 8) * (1.0 / 16777216.0));
}

float tu_normal(tu_rng *r) {
  double u1 = ((tu_u32(r) >> 8) + 1.0) / 16777217.0;
  double u2 = (tu_u32(r) >> 8) / 16777216.0;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void tu_fill(tu_rng *r, float *x, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++)
    x[i] = tu_uniform(r, lo, hi);
}

static int64_t prod(int ndim, const int64_t *shape, int from) {
  int64_t p = 1;
  for (int i = from; i < ndim; i++)
    p *= shape[i];
  return p;
}

int tu_add_weight(tern_graph *g, tu_rng *r, const char *name, tern_dtype dtype,
                  int ndim, const int64_t *shape, float scale,
                  bool per_tensor) {
  int64_t rows = shape[0], cols = prod(ndim, shape, 1);
  size_t n = (size_t)(rows * cols);
  float *w = malloc(n * sizeof(float));
  int8_t *q = malloc(n);
  float *scales = malloc((size_t)rows * sizeof(float));
  void *data = NULL;
  size_t bytes = 0;
  int64_t nscales = 0;
  int id = -1;
  for (size_t i = 0; i < n; i++)
    w[i] = tu_normal(r) * scale;
  if (dtype == TERN_DTYPE_F32) {
    data = w;
    bytes = n * sizeof(float);
  } else if (dtype == TERN_DTYPE_I8) {
    if (tern_quantize_int8(w, rows, cols, q, scales, NULL))
      goto out;
    if (per_tensor) { /* use the largest scale for every row */
      float m = 0;
      for (int64_t i = 0; i < rows; i++)
        m = scales[i] > m ? scales[i] : m;
      for (size_t i = 0; i < n; i++) {
        float v = rintf(w[i] / m);
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
      }
      scales[0] = m;
    }
    data = q;
    bytes = n;
    nscales = per_tensor ? 1 : rows;
  } else if (dtype == TERN_DTYPE_TERNARY) {
    tern_ternary_desc d = {sizeof d, TERN_TERNARY_THRESHOLD, 0.7f,
                           per_tensor ? 1 : 0};
    if (tern_quantize_ternary(w, rows, cols, &d, q, scales, NULL))
      goto out;
    bytes = tern_dtype_bytes(TERN_DTYPE_TERNARY, rows, cols);
    data = malloc(bytes);
    if (!data || tern_ternary_pack(q, rows, cols, data, bytes))
      goto out;
    nscales = per_tensor ? 1 : rows;
  } else {
    goto out;
  }
  tern_constant_desc cd;
  memset(&cd, 0, sizeof cd);
  cd.size = sizeof cd;
  cd.name = name;
  cd.dtype = dtype;
  cd.ndim = ndim;
  cd.shape = shape;
  cd.data = data;
  cd.data_bytes = bytes;
  cd.scales = nscales ? scales : NULL;
  cd.scale_count = nscales;
  if (tern_graph_add_constant(g, &cd, &id))
    id = -1;
out:
  if (data != w && data != q)
    free(data);
  free(w);
  free(q);
  free(scales);
  return id;
}

int tu_add_f32(tern_graph *g, tu_rng *r, const char *name, int ndim,
               const int64_t *shape, float lo, float hi) {
  size_t n = (size_t)prod(ndim, shape, 0);
  float *d = malloc(n * sizeof(float));
  tu_fill(r, d, n, lo, hi);
  tern_constant_desc cd;
  memset(&cd, 0, sizeof cd);
  cd.size = sizeof cd;
  cd.name = name;
  cd.dtype = TERN_DTYPE_F32;
  cd.ndim = ndim;
  cd.shape = shape;
  cd.data = d;
  cd.data_bytes = n * sizeof(float);
  int id = -1;
  if (tern_graph_add_constant(g, &cd, &id))
    id = -1;
  free(d);
  return id;
}

size_t tu_input_elems(const tern_graph *g, int i) {
  int id;
  if (tern_graph_input(g, i, &id))
    return 0;
  tern_tensor_info ti;
  memset(&ti, 0, sizeof ti);
  ti.size = sizeof ti;
  tern_graph_tensor_info(g, id, &ti);
  return (size_t)prod(ti.ndim, ti.shape, 0);
}

tern_status tu_run(tern_context *ctx, const tern_graph *g, const char *device,
                   bool no_fallback, float *const *inputs, float **out,
                   size_t *count) {
  tern_session_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  bool ref = device && strcmp(device, "ref") == 0;
  d.device = ref ? NULL : device;
  d.reference = ref;
  d.no_fallback = no_fallback;
  tern_session *s = NULL;
  tern_status st = tern_session_create(ctx, g, &d, &s);
  if (st)
    return st;
  for (int i = 0; i < tern_graph_input_count(g) && !st; i++)
    st = tern_session_set_input(s, i, inputs[i], tu_input_elems(g, i));
  if (!st)
    st = tern_session_run(s);
  int ndim;
  int64_t shape[TERN_MAX_DIMS];
  if (!st)
    st = tern_session_output_shape(s, 0, &ndim, shape);
  if (!st) {
    *count = (size_t)prod(ndim, shape, 0);
    *out = malloc(*count * sizeof(float));
    st = tern_session_get_output(s, 0, *out, *count);
  }
  tern_session_destroy(s);
  return st;
}

const char *tu_mnist_dir(void) {
  static char buf[1024];
  const char *env = getenv("TERN_MNIST_DIR");
  if (!env)
    return NULL;
  snprintf(buf, sizeof buf, "%s/t10k-images-idx3-ubyte.gz", env);
  struct stat st;
  if (stat(buf, &st) != 0)
    return NULL;
  return env;
}
