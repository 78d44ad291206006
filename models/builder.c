/* builder.c — parameter creation (supplied or seeded random weights),
 * per-layer precision resolution and quantization, and the one-call layers
 * the zoo's builders are written with. Uses only the public API. */
#include "builder.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char t_err[512];

tern_status tm_fail(tern_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t_err, sizeof t_err, fmt, ap);
  va_end(ap);
  return s;
}

void tm_clear_error(void) {
  t_err[0] = 0;
}

const char *tern_model_errmsg(void) {
  return t_err;
}

/* A graph call failed: keep the graph's message, naming the model. */
static tern_status graph_fail(tm_builder *b, tern_status s, const char *what) {
  return tm_fail(s, "%s: %s: %s", b->model, what, tern_graph_errmsg(b->g));
}

/* ------------------------------------------------------------ random init
 * Each parameter gets its own stream seeded from (seed, name), so supplying
 * or overriding one layer never changes the others' weights. */
static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t name_seed(uint64_t seed, const char *name) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    h = (h ^ *p) * 0x100000001b3ull;
  uint64_t s = seed ^ h;
  return splitmix64(&s);
}

/* Uniform in (0, 1), never 0 (Box-Muller takes its log). */
static double uniform01(uint64_t *s) {
  return ((double)(splitmix64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static void fill_random(float *out, size_t n, tm_init init, float a,
                        uint64_t seed) {
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++) {
    switch (init) {
    case TM_INIT_NORMAL: {
      double u1 = uniform01(&s), u2 = uniform01(&s);
      out[i] = (float)(a * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
      break;
    }
    case TM_INIT_UNIFORM:
      out[i] = (float)(a * (2.0 * uniform01(&s) - 1.0));
      break;
    case TM_INIT_CONST:
      out[i] = a;
      break;
    case TM_INIT_ONE_PLUS:
      out[i] = (float)(1.0 + a * (2.0 * uniform01(&s) - 1.0));
      break;
    }
  }
}

/* Fill `out` with the supplied values of `name`, or random ones. */
static tern_status fetch(tm_builder *b, const char *name, int ndim,
                         const int64_t *shape, size_t count, tm_init init,
                         float a, float *out) {
  for (int i = 0; i < b->d.array_count; i++) {
    const tern_model_array *arr = &b->d.arrays[i];
    if (!arr->name || strcmp(arr->name, name) != 0)
      continue;
    if (arr->count != count || !arr->data)
      return tm_fail(TERN_ERR_SHAPE,
                     "%s: supplied weights '%s' have %zu values, expected %zu",
                     b->model, name, arr->count, count);
    memcpy(out, arr->data, count * sizeof(float));
    return TERN_OK;
  }
  if (b->d.weight_fn) {
    tern_status s =
        b->d.weight_fn(b->d.weight_user, name, ndim, shape, out, count);
    if (s == TERN_OK)
      return TERN_OK;
    if (s != TERN_ERR_NOT_FOUND)
      return tm_fail(s, "%s: weight callback failed for '%s' (%s)", b->model,
                     name, tern_status_name(s));
  }
  fill_random(out, count, init, a, name_seed(b->d.seed, name));
  return TERN_OK;
}

static size_t shape_count(int ndim, const int64_t *shape) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)shape[i];
  return n;
}

tern_status tm_param(tm_builder *b, const char *name, int ndim,
                     const int64_t *shape, tm_init init, float a, int *id) {
  size_t n = shape_count(ndim, shape);
  float *buf = malloc(n * sizeof(float));
  if (!buf)
    return tm_fail(TERN_ERR_OUT_OF_MEMORY, "%s: out of memory for '%s'",
                   b->model, name);
  tern_status s = fetch(b, name, ndim, shape, n, init, a, buf);
  if (s == TERN_OK) {
    tern_constant_desc cd = {.size = sizeof cd};
    cd.name = name;
    cd.dtype = TERN_DTYPE_F32;
    cd.ndim = ndim;
    cd.shape = shape;
    cd.data = buf;
    cd.data_bytes = n * sizeof(float);
    s = tern_graph_add_constant(b->g, &cd, id);
    if (s)
      s = graph_fail(b, s, name);
  }
  free(buf);
  return s;
}

/* The precision layer `layer` gets: the model setting (mixed resolved by
 * role), then the overrides in order. */
static tern_model_precision layer_precision(const tm_builder *b,
                                            const char *layer, tm_role role) {
  tern_model_precision p = b->d.precision;
  if (p == TERN_MODEL_MIXED)
    p = role == TM_EDGE
            ? (b->d.mixed_edge_fp32 ? TERN_MODEL_FP32 : TERN_MODEL_INT8)
            : TERN_MODEL_TERNARY;
  for (int i = 0; i < b->d.override_count; i++) {
    const char *o = b->d.overrides[i].layer;
    size_t n = o ? strlen(o) : 0;
    if (n && strncmp(layer, o, n) == 0 && (layer[n] == 0 || layer[n] == '.'))
      p = b->d.overrides[i].precision;
  }
  return p;
}

tern_status tm_weight(tm_builder *b, const char *layer, int ndim,
                      const int64_t *shape, tm_role role, float gain, int *id) {
  char name[160];
  snprintf(name, sizeof name, "%s.weight", layer);
  int64_t rows = shape[0];
  int64_t cols = (int64_t)shape_count(ndim - 1, shape + 1);
  size_t n = (size_t)rows * (size_t)cols;
  float *w = malloc(n * sizeof(float));
  int8_t *q = malloc(n);
  float *scales = malloc((size_t)rows * sizeof(float));
  uint8_t *packed = NULL;
  tern_status s = TERN_OK;
  if (!w || !q || !scales) {
    s = tm_fail(TERN_ERR_OUT_OF_MEMORY, "%s: out of memory for '%s'", b->model,
                name);
    goto done;
  }
  s = fetch(b, name, ndim, shape, n, TM_INIT_NORMAL, gain / sqrtf((float)cols),
            w);
  if (s)
    goto done;
  tern_constant_desc cd = {.size = sizeof cd};
  cd.name = name;
  cd.ndim = ndim;
  cd.shape = shape;
  tern_model_precision p = layer_precision(b, layer, role);
  switch (p) {
  case TERN_MODEL_INT8:
    s = tern_quantize_int8(w, rows, cols, q, scales, NULL);
    cd.dtype = TERN_DTYPE_I8;
    cd.data = q;
    cd.data_bytes = n;
    cd.scales = scales;
    cd.scale_count = rows;
    break;
  case TERN_MODEL_TERNARY: {
    tern_ternary_desc td = {.size = sizeof td};
    td.method = b->d.ternary_method;
    td.threshold_factor = b->d.threshold_factor;
    td.per_tensor = b->d.per_tensor_scales;
    s = tern_quantize_ternary(w, rows, cols, &td, q, scales, NULL);
    if (s)
      break;
    size_t bytes = tern_dtype_bytes(TERN_DTYPE_TERNARY, rows, cols);
    packed = malloc(bytes);
    if (!packed) {
      s = TERN_ERR_OUT_OF_MEMORY;
      break;
    }
    s = tern_ternary_pack(q, rows, cols, packed, bytes);
    cd.dtype = TERN_DTYPE_TERNARY;
    cd.data = packed;
    cd.data_bytes = bytes;
    cd.scales = scales;
    cd.scale_count = b->d.per_tensor_scales ? 1 : rows;
    break;
  }
  default:
    cd.dtype = TERN_DTYPE_F32;
    cd.data = w;
    cd.data_bytes = n * sizeof(float);
    break;
  }
  if (s) {
    s = tm_fail(s, "%s: quantizing '%s' to %s failed: %s", b->model, name,
                tern_model_precision_name(p), tern_last_error());
    goto done;
  }
  s = tern_graph_add_constant(b->g, &cd, id);
  if (s)
    s = graph_fail(b, s, name);
done:
  free(w);
  free(q);
  free(scales);
  free(packed);
  return s;
}

tern_status tm_node(tm_builder *b, tern_op op, const char *name, int n_inputs,
                    const int *inputs, const tern_op_params *params, int *y) {
  tern_node_desc nd = {.size = sizeof nd};
  nd.op = op;
  nd.name = name;
  nd.n_inputs = n_inputs;
  for (int i = 0; i < n_inputs; i++)
    nd.inputs[i] = inputs[i];
  if (params)
    nd.params = *params;
  tern_status s = tern_graph_add_node(b->g, &nd, y);
  if (s)
    return graph_fail(b, s, name ? name : tern_op_name(op));
  return TERN_OK;
}

tern_status tm_unary(tm_builder *b, tern_op op, const char *name, int x,
                     int *y) {
  return tm_node(b, op, name, 1, &x, NULL, y);
}

tern_status tm_binary(tm_builder *b, tern_op op, const char *name, int x0,
                      int x1, int *y) {
  int in[2] = {x0, x1};
  return tm_node(b, op, name, 2, in, NULL, y);
}

tern_status tm_linear(tm_builder *b, const char *layer, int x, int64_t in,
                      int64_t out, int bias, tm_role role, float gain, int *y) {
  int64_t wshape[2] = {out, in};
  int ids[3] = {x, -1, -1};
  tern_status s = tm_weight(b, layer, 2, wshape, role, gain, &ids[1]);
  if (s)
    return s;
  if (bias) {
    char name[160];
    snprintf(name, sizeof name, "%s.bias", layer);
    /* PyTorch-style U(-1/sqrt(in), 1/sqrt(in)) */
    s = tm_param(b, name, 1, &out, TM_INIT_UNIFORM, 1.0f / sqrtf((float)in),
                 &ids[2]);
    if (s)
      return s;
  }
  return tm_node(b, TERN_OP_LINEAR, layer, bias ? 3 : 2, ids, NULL, y);
}

tern_status tm_conv(tm_builder *b, const char *layer, int x, int64_t ic,
                    int64_t oc, int k, int stride, int pad, int groups,
                    int bias, tm_role role, float gain, int *y) {
  int g = groups > 0 ? groups : 1;
  int64_t wshape[4] = {oc, ic / g, k, k};
  int ids[3] = {x, -1, -1};
  tern_status s = tm_weight(b, layer, 4, wshape, role, gain, &ids[1]);
  if (s)
    return s;
  if (bias) {
    char name[160];
    snprintf(name, sizeof name, "%s.bias", layer);
    s = tm_param(b, name, 1, &oc, TM_INIT_UNIFORM,
                 1.0f / sqrtf((float)(ic / g * k * k)), &ids[2]);
    if (s)
      return s;
  }
  tern_op_params p = {0};
  p.stride[0] = p.stride[1] = stride;
  p.pad[0] = p.pad[1] = pad;
  p.groups = g;
  return tm_node(b, TERN_OP_CONV2D, layer, bias ? 3 : 2, ids, &p, y);
}

tern_status tm_bn(tm_builder *b, const char *name, int x, int64_t c, int *y) {
  static const char *const suffix[4] = {"gamma", "beta", "mean", "var"};
  /* random running statistics keep the folded scales varied, as after
   * training; the variance stays positive */
  static const tm_init init[4] = {TM_INIT_ONE_PLUS, TM_INIT_UNIFORM,
                                  TM_INIT_UNIFORM, TM_INIT_ONE_PLUS};
  static const float amp[4] = {0.1f, 0.1f, 0.1f, 0.25f};
  int ids[5] = {x};
  for (int i = 0; i < 4; i++) {
    char pname[160];
    snprintf(pname, sizeof pname, "%s.%s", name, suffix[i]);
    tern_status s = tm_param(b, pname, 1, &c, init[i], amp[i], &ids[i + 1]);
    if (s)
      return s;
  }
  tern_op_params p = {0};
  p.eps = 1e-5f;
  return tm_node(b, TERN_OP_BATCHNORM, name, 5, ids, &p, y);
}

tern_status tm_meta_str(tm_builder *b, const char *key, const char *v) {
  tern_status s = tern_graph_set_metadata(b->g, key, v);
  return s ? graph_fail(b, s, key) : TERN_OK;
}

tern_status tm_meta_int(tm_builder *b, const char *key, long long v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", v);
  return tm_meta_str(b, key, buf);
}
