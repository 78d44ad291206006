/* matrix_models.c — the models the matrix runs: the zoo (models/
 * tern_models.h) when this build has it, else two small built-in networks
 * (mlp, lenet5) so that the matrix always has something to measure. A spec
 * "name:width=256,seq=8" passes size knobs to the zoo. */
#include "matrix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include("tern_models.h")
#include "tern_models.h"
#define MX_HAVE_ZOO 1
#endif
#endif

/* The default configuration: every zoo model, sized so the full matrix
 * stays within minutes on a 2-core machine; --quick takes the small ones. */
static const char *const k_full[] = {"mlp", "lenet5", "resnet-mini",
                                     "mobilenet-mini",
                                     "bitnet-block:width=256,seq=8"};
static const char *const k_quick[] = {"mlp", "lenet5"};

int mx_default_models(const char **names, int max, bool quick) {
  const char *const *src = quick ? k_quick : k_full;
  int n = quick ? (int)(sizeof k_quick / sizeof *k_quick)
                : (int)(sizeof k_full / sizeof *k_full);
#ifndef MX_HAVE_ZOO
  /* the built-in fallback has only the first two */
  n = 2;
#endif
  for (int i = 0; i < n && i < max; i++)
    names[i] = src[i];
  return n < max ? n : max;
}

#ifdef MX_HAVE_ZOO
static bool knob(const char *k, const char *v, tern_model_desc *d) {
  char *end;
  long x = strtol(v, &end, 10);
  if (*end || x <= 0 || x > 1 << 20)
    return false;
  if (!strcmp(k, "width"))
    d->width = (int)x;
  else if (!strcmp(k, "depth"))
    d->depth = (int)x;
  else if (!strcmp(k, "heads"))
    d->heads = (int)x;
  else if (!strcmp(k, "ffn"))
    d->ffn = (int)x;
  else if (!strcmp(k, "seq"))
    d->seq = (int)x;
  else if (!strcmp(k, "classes"))
    d->classes = (int)x;
  else
    return false;
  return true;
}

tern_status mx_build_model(const char *spec, const char *precision,
                           uint64_t seed, tern_graph **out, char *why,
                           size_t why_n) {
  char name[64], knobs[192] = "";
  const char *colon = strchr(spec, ':');
  size_t nl = colon ? (size_t)(colon - spec) : strlen(spec);
  if (nl >= sizeof name) {
    snprintf(why, why_n, "model name '%s' is too long", spec);
    return TERN_ERR_INVALID_ARGUMENT;
  }
  memcpy(name, spec, nl);
  name[nl] = 0;
  if (colon)
    snprintf(knobs, sizeof knobs, "%s", colon + 1);
  tern_model_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.seed = seed;
  if (tern_model_precision_from_name(precision, &d.precision)) {
    snprintf(why, why_n, "unknown precision '%s'", precision);
    return TERN_ERR_INVALID_ARGUMENT;
  }
  for (char *save = NULL, *kv = strtok_r(knobs, ",", &save); kv;
       kv = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kv, '=');
    if (!eq || (*eq = 0, !knob(kv, eq + 1, &d))) {
      snprintf(why, why_n,
               "model '%s': bad knob '%s' (width, depth, heads, ffn, seq, "
               "classes = positive integer)",
               spec, kv);
      return TERN_ERR_INVALID_ARGUMENT;
    }
  }
  tern_status s = tern_model_build(name, &d, out);
  if (s)
    snprintf(why, why_n, "%s", tern_model_errmsg());
  return s;
}

#else /* no zoo in this build: two small networks built here */

typedef struct mb {
  tern_graph *g;
  uint64_t rng;
  tern_dtype first, mid, last;
  tern_status s;
} mb;

static float gauss(mb *m) {
  /* sum of uniforms: close enough to Gaussian for random weights */
  float a = 0;
  for (int i = 0; i < 4; i++) {
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    a += (float)(m->rng >> 40) / 16777216.0f - 0.5f;
  }
  return a * 1.7320508f;
}

static int weight(mb *m, const char *name, tern_dtype dt, int ndim,
                  const int64_t *shape) {
  int64_t rows = shape[0], cols = 1;
  for (int i = 1; i < ndim; i++)
    cols *= shape[i];
  size_t n = (size_t)(rows * cols);
  float *w = malloc(n * sizeof *w);
  int8_t *q = malloc(n);
  float *sc = malloc((size_t)rows * sizeof *sc);
  uint8_t *packed = malloc(tern_dtype_bytes(TERN_DTYPE_TERNARY, rows, cols));
  int id = -1;
  if (w && q && sc && packed && !m->s) {
    float k = 1.0f / (float)cols;
    for (size_t i = 0; i < n; i++)
      w[i] = gauss(m) * k * 2.0f;
    tern_constant_desc d;
    memset(&d, 0, sizeof d);
    d.size = sizeof d;
    d.name = name;
    d.dtype = dt;
    d.ndim = ndim;
    d.shape = shape;
    if (dt == TERN_DTYPE_F32) {
      d.data = w;
      d.data_bytes = n * sizeof *w;
    } else if (dt == TERN_DTYPE_I8) {
      m->s = tern_quantize_int8(w, rows, cols, q, sc, NULL);
      d.data = q;
      d.data_bytes = n;
      d.scales = sc;
      d.scale_count = rows;
    } else {
      size_t pb = tern_dtype_bytes(TERN_DTYPE_TERNARY, rows, cols);
      m->s = tern_quantize_ternary(w, rows, cols, NULL, q, sc, NULL);
      if (!m->s)
        m->s = tern_ternary_pack(q, rows, cols, packed, pb);
      d.data = packed;
      d.data_bytes = pb;
      d.scales = sc;
      d.scale_count = rows;
    }
    if (!m->s)
      m->s = tern_graph_add_constant(m->g, &d, &id);
  } else if (!m->s) {
    m->s = TERN_ERR_OUT_OF_MEMORY;
  }
  free(w);
  free(q);
  free(sc);
  free(packed);
  return id;
}

static int node(mb *m, tern_op op, int a, int b, int c,
                const tern_op_params *p) {
  tern_node_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.op = op;
  d.inputs[0] = a;
  d.inputs[1] = b;
  d.inputs[2] = c;
  d.n_inputs = c >= 0 ? 3 : b >= 0 ? 2 : 1;
  if (p)
    d.params = *p;
  int id = -1;
  if (!m->s)
    m->s = tern_graph_add_node(m->g, &d, &id);
  return id;
}

static int fc(mb *m, int x, const char *name, tern_dtype dt, int64_t in,
              int64_t out, bool relu) {
  int64_t ws[2] = {out, in}, bs[1] = {out};
  char wn[64], bn[64];
  snprintf(wn, sizeof wn, "%s.weight", name);
  snprintf(bn, sizeof bn, "%s.bias", name);
  int w = weight(m, wn, dt, 2, ws);
  int b = weight(m, bn, TERN_DTYPE_F32, 1, bs);
  tern_op_params p;
  memset(&p, 0, sizeof p);
  p.activation = relu ? TERN_ACT_RELU : TERN_ACT_NONE;
  return node(m, TERN_OP_LINEAR, x, w, b, &p);
}

static int conv(mb *m, int x, const char *name, tern_dtype dt, int64_t cin,
                int64_t cout, int k) {
  int64_t ws[4] = {cout, cin, k, k}, bs[1] = {cout};
  char wn[64], bn[64];
  snprintf(wn, sizeof wn, "%s.weight", name);
  snprintf(bn, sizeof bn, "%s.bias", name);
  int w = weight(m, wn, dt, 4, ws);
  int b = weight(m, bn, TERN_DTYPE_F32, 1, bs);
  tern_op_params p;
  memset(&p, 0, sizeof p);
  p.activation = TERN_ACT_RELU;
  int y = node(m, TERN_OP_CONV2D, x, w, b, &p);
  tern_op_params pool;
  memset(&pool, 0, sizeof pool);
  pool.kernel[0] = pool.kernel[1] = 2;
  pool.stride[0] = pool.stride[1] = 2;
  return node(m, TERN_OP_MAXPOOL2D, y, -1, -1, &pool);
}

tern_status mx_build_model(const char *spec, const char *precision,
                           uint64_t seed, tern_graph **out, char *why,
                           size_t why_n) {
  mb m;
  memset(&m, 0, sizeof m);
  m.rng = seed * 2654435761ull + 12345;
  if (!strcmp(precision, "fp32"))
    m.first = m.mid = m.last = TERN_DTYPE_F32;
  else if (!strcmp(precision, "int8"))
    m.first = m.mid = m.last = TERN_DTYPE_I8;
  else if (!strcmp(precision, "ternary"))
    m.first = m.mid = m.last = TERN_DTYPE_TERNARY;
  else if (!strcmp(precision, "mixed")) {
    m.first = m.last = TERN_DTYPE_I8;
    m.mid = TERN_DTYPE_TERNARY;
  } else {
    snprintf(why, why_n, "unknown precision '%s'", precision);
    return TERN_ERR_INVALID_ARGUMENT;
  }
  bool mlp = !strcmp(spec, "mlp"), lenet = !strcmp(spec, "lenet5");
  if (!mlp && !lenet) {
    snprintf(why, why_n,
             "model '%s' is not in this build (the zoo is not compiled in; "
             "built-in: mlp, lenet5)",
             spec);
    return TERN_ERR_NOT_FOUND;
  }
  m.s = tern_graph_create(&m.g);
  if (m.s) {
    snprintf(why, why_n, "%s", tern_last_error());
    return m.s;
  }
  int x = -1;
  if (mlp) {
    int64_t shape[2] = {1, 784};
    m.s = tern_graph_add_input(m.g, "x", 2, shape, &x);
    x = fc(&m, x, "fc1", m.first, 784, 256, true);
    x = fc(&m, x, "fc2", m.mid, 256, 128, true);
    x = fc(&m, x, "fc3", m.last, 128, 10, false);
  } else {
    int64_t shape[4] = {1, 1, 28, 28};
    m.s = tern_graph_add_input(m.g, "x", 4, shape, &x);
    x = conv(&m, x, "conv1", m.first, 1, 6, 5);
    x = conv(&m, x, "conv2", m.mid, 6, 16, 5);
    tern_op_params p;
    memset(&p, 0, sizeof p);
    p.axis = 1;
    x = node(&m, TERN_OP_FLATTEN, x, -1, -1, &p);
    x = fc(&m, x, "fc1", m.mid, 256, 120, true);
    x = fc(&m, x, "fc2", m.mid, 120, 84, true);
    x = fc(&m, x, "fc3", m.last, 84, 10, false);
  }
  if (!m.s)
    m.s = tern_graph_add_output(m.g, x);
  if (m.s) {
    snprintf(why, why_n, "building %s: %s", spec, tern_graph_errmsg(m.g));
    tern_graph_destroy(m.g);
    return m.s;
  }
  *out = m.g;
  return TERN_OK;
}
#endif
