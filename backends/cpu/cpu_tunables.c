/* cpu_tunables.c — the CPU backend's tunable kernels for `tern tune`: a
 * blocked quantized (int8 / ternary) linear whose block of output rows,
 * inner-loop unroll and ternary unpacking are parameters. It is the worked
 * example of the tunable interface (sessions run the SIMD kernels of
 * cpu_linear.c), so it is tuned only when `--kernels linear_q` names it.
 * Integer accumulation is exact and the epilogue is the reference's, so every
 * configuration is bit-identical to core/ops/linear.c.
 * Weight layout after prepare: int8 [N, K] when unpacked (unpack=1 or int8
 * weights), else the canonical 2-bit rows read in place. */
#include "core/tuning.h"
#include "cpu_backend.h"

#include <string.h>

/* A parameter by name; a local lookup keeps this file free of link
 * dependencies on the database code (tests/neon_qemu.sh builds every
 * backends/cpu file without json-c). */
static int32_t param(const tern_tuning_params *p, const char *name,
                     int32_t fallback) {
  for (int i = 0; p && i < p->count; i++)
    if (strcmp(p->name[i], name) == 0)
      return p->value[i];
  return fallback;
}

typedef struct linq {
  tern_exec_node en;
  int rows, kunroll, unpack;
  int8_t *wq;   /* unpacked weights (ternary with unpack=1), else NULL */
  int8_t *xq;   /* one quantized activation row */
  int32_t *acc; /* rows accumulators */
} linq;

static bool linq_valid(tern_device *d, const tern_exec_node *n,
                       const tern_tuning_params *cfg) {
  (void)d;
  if (n->op != TERN_OP_LINEAR || n->n_inputs < 2)
    return false;
  tern_dtype wd = n->in[1].dtype;
  if (wd != TERN_DTYPE_I8 && wd != TERN_DTYPE_TERNARY)
    return false;
  /* int8 weights are already bytes: unpacking them is the same kernel */
  if (wd == TERN_DTYPE_I8 && param(cfg, "unpack", 0))
    return false;
  int rows = param(cfg, "rows", 1);
  return rows >= 1 && rows <= 16 && rows <= n->in[1].shape[0] * 2;
}

static void linq_release(tern_device *d, void *prepared) {
  (void)d;
  linq *l = prepared;
  if (!l)
    return;
  tern_free(l->wq);
  tern_free(l->xq);
  tern_free(l->acc);
  tern_free(l);
}

static tern_status linq_prepare(tern_device *d, const tern_exec_node *n,
                                const tern_tuning_params *cfg, void **prepared,
                                tern_err *err) {
  if (!linq_valid(d, n, cfg))
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "linear_q: configuration not valid for this node");
  linq *l = tern_calloc(1, sizeof *l);
  if (!l)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  l->en = *n;
  l->rows = param(cfg, "rows", 1);
  l->kunroll = param(cfg, "kunroll", 1);
  l->unpack = param(cfg, "unpack", 0);
  int64_t N = n->in[1].shape[0], K = n->in[1].shape[1];
  l->xq = tern_malloc((size_t)K + 16);
  l->acc = tern_calloc(16, sizeof(int32_t));
  if (!l->xq || !l->acc) {
    linq_release(d, l);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  if (n->in[1].dtype == TERN_DTYPE_TERNARY && l->unpack) {
    l->wq = tern_malloc((size_t)(N * K));
    if (!l->wq) {
      linq_release(d, l);
      return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    const uint8_t *w = n->in[1].data;
    int64_t rb = (K + 3) / 4;
    for (int64_t r = 0; r < N; r++)
      for (int64_t k = 0; k < K; k++)
        l->wq[r * K + k] = (int8_t)(tern_ternary_get(w + r * rb, k) - 1);
  }
  *prepared = l;
  return TERN_OK;
}

/* Dot product of the quantized row with int8 weights, unrolled by u. */
static int32_t dot_i8(const int8_t *x, const int8_t *w, int64_t K, int u) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t k = 0;
  if (u >= 4)
    for (; k + 4 <= K; k += 4) {
      a0 += (int32_t)x[k] * w[k];
      a1 += (int32_t)x[k + 1] * w[k + 1];
      a2 += (int32_t)x[k + 2] * w[k + 2];
      a3 += (int32_t)x[k + 3] * w[k + 3];
    }
  for (; k < K; k++)
    a0 += (int32_t)x[k] * w[k];
  return a0 + a1 + a2 + a3;
}

/* The same with 2-bit ternary rows decoded on the fly. */
static int32_t dot_t2(const int8_t *x, const uint8_t *w, int64_t K, int u) {
  int32_t a = 0;
  int64_t k = 0;
  if (u >= 4)
    for (; k + 4 <= K; k += 4) {
      uint8_t b = w[k >> 2];
      a += (int32_t)x[k] * ((b & 3) - 1) +
           (int32_t)x[k + 1] * ((b >> 2 & 3) - 1) +
           (int32_t)x[k + 2] * ((b >> 4 & 3) - 1) +
           (int32_t)x[k + 3] * ((b >> 6 & 3) - 1);
    }
  for (; k < K; k++)
    a += (int32_t)x[k] * (tern_ternary_get(w, k) - 1);
  return a;
}

static tern_status linq_run(tern_device *d, void *prepared,
                            tern_buffer *const *bufs, const size_t *offs,
                            tern_err *err) {
  (void)d;
  (void)err;
  linq *l = prepared;
  const tern_exec_node *n = &l->en;
  const tern_view *w = &n->in[1];
  int64_t N = w->shape[0], K = w->shape[1];
  int64_t M = tern_view_numel(&n->in[0]) / (K ? K : 1);
  const float *x = (const float *)((char *)bufs[0]->host + offs[0]);
  float *y = (float *)((char *)bufs[n->n_inputs]->host + offs[n->n_inputs]);
  const float *bias = n->n_inputs > 2 ? n->in[2].data : NULL;
  tern_activation act = (tern_activation)n->params.activation;
  bool i8 = w->dtype == TERN_DTYPE_I8;
  const int8_t *wi = i8 ? w->data : l->wq;
  const uint8_t *wt = w->data;
  int64_t rb = (K + 3) / 4;
  for (int64_t m = 0; m < M; m++) {
    float xs;
    tern_act_quantize_row(x + m * K, K, l->xq, &xs);
    for (int64_t n0 = 0; n0 < N; n0 += l->rows) {
      int64_t nr = N - n0 < l->rows ? N - n0 : l->rows;
      /* a block of rows reuses the quantized row while it is in cache */
      for (int64_t r = 0; r < nr; r++)
        l->acc[r] = wi ? dot_i8(l->xq, wi + (n0 + r) * K, K, l->kunroll)
                       : dot_t2(l->xq, wt + (n0 + r) * rb, K, l->kunroll);
      for (int64_t r = 0; r < nr; r++) {
        int64_t o = n0 + r;
        float ws = w->scales[w->scale_count == 1 ? 0 : o];
        float v = tern_q_epilogue(l->acc[r], ws, xs, bias ? bias[o] : 0.0f);
        y[m * N + o] = tern_apply_activation(act, v);
      }
    }
  }
  return TERN_OK;
}

#define LINQ_PARAMS                                                            \
  {                                                                            \
    {"rows", 5, {1, 2, 4, 8, 16}, 1}, {"kunroll", 2, {1, 4}, 1}, {             \
      "unpack", 2, {0, 1}, 0                                                   \
    }                                                                          \
  }

static const tern_tune_shape k_linq_shapes[] = {
    {TERN_OP_LINEAR, TERN_DTYPE_TERNARY, {1, 1024}, {1024, 1024}, true, {{0}}},
    {TERN_OP_LINEAR, TERN_DTYPE_TERNARY, {16, 512}, {512, 512}, true, {{0}}},
    {TERN_OP_LINEAR, TERN_DTYPE_I8, {1, 1024}, {1024, 1024}, true, {{0}}},
};

/* Sessions run linear nodes through cpu_linear.c, which reads no tuned
 * values: linear_q is the tuner's worked example, tuned on its own problems
 * only, never on a model's nodes (tern tune --model). */
static bool linq_applies(const tern_tunable *self, tern_device *d,
                         const tern_exec_node *n) {
  (void)self;
  (void)d;
  (void)n;
  return false;
}

static const tern_tunable k_cpu_tunables[] = {
    {"linear_q", "blocked int8/ternary linear (rows per block, unroll, unpack)",
     3, LINQ_PARAMS, (int)(sizeof k_linq_shapes / sizeof k_linq_shapes[0]),
     k_linq_shapes, linq_valid, linq_prepare, linq_run, linq_release,
     linq_applies,
     /* sessions run the SIMD kernels of cpu_linear.c, not this one: tuned
      * only when named */
     true},
};

int tern_cpu_tunables(tern_device *d, const tern_tunable **list) {
  (void)d;
  *list = k_cpu_tunables;
  return (int)(sizeof k_cpu_tunables / sizeof k_cpu_tunables[0]);
}
