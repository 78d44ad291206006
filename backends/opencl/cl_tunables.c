/* cl_tunables.c — the OpenCL kernels whose parameters the tuner searches,
 * their built-in defaults, and their lookup at node_prepare (per device and
 * shape class):
 *   linear_gemm  tgemm/q8gemm (M >= 4): rows per work-item (-DBM);
 *   linear_gemv  tgemv/qgemv8 (M < 4): local size;
 *   conv         quantized conv2d: taps per work-item of im2col and rows
 *                per work-item of the GEMM (groups 1), outputs per
 *                work-item of the direct kernel (grouped, depthwise);
 *   eltwise      relu/relu6/gelu/silu: local size, elements per work-item
 *                (-DEPT);
 *   binary       add/mul: local size, elements per work-item.
 * None changes what a work-item computes for an output (integer sums are
 * the same in any grouping, elementwise formulas are per element), so
 * quantized results stay bit-identical. Applies to the wide-vector kernels
 * of CPU-like devices; GPUs (TERN_CL_GEMM=dot4) have only conv's direct
 * kernel and the elementwise ones tunable. */
#include "cl_internal.h"
#include "core/tuning.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ defaults */
void tern_cl_tune_defaults(tern_device *dev) {
  /* BM 64 fills a work-item with enough rows to reuse each weight panel
   * from cache; one work-item per GEMV work-group (each already computes
   * 16 outputs with 16-lane vectors); the runtime's local size and one
   * element per work-item elsewhere */
  tern_cl_tune t = {64, 1, 1, 1, 0, 1};
  const char *bm = getenv("TERN_CL_QGEMM_BM");
  if (bm)
    t.bm = atoi(bm);
  const char *env = getenv("TERN_CL_TUNE");
  if (env) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", env);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
      int v;
      if (sscanf(tok, "bm=%d", &v) == 1)
        t.bm = v;
      else if (sscanf(tok, "gemv_lws=%d", &v) == 1)
        t.gemv_lws = v;
      else if (sscanf(tok, "conv_kt=%d", &v) == 1)
        t.conv_kt = v;
      else if (sscanf(tok, "conv_owt=%d", &v) == 1)
        t.conv_owt = v;
      else if (sscanf(tok, "elt_lws=%d", &v) == 1)
        t.elt_lws = v;
      else if (sscanf(tok, "elt_ept=%d", &v) == 1)
        t.elt_ept = v;
    }
  }
  /* out-of-range values fall back to the defaults */
  int max_wg = dev->max_wg ? (int)dev->max_wg : 1;
  if (t.bm < 4 || t.bm > 4096 || t.bm % 4)
    t.bm = 64;
  if (t.gemv_lws < 1 || t.gemv_lws > max_wg)
    t.gemv_lws = 1;
  if (t.conv_kt < 1 || t.conv_kt > 256)
    t.conv_kt = 1;
  if (t.conv_owt < 1 || t.conv_owt > 16)
    t.conv_owt = 1;
  if (t.elt_lws < 0 || t.elt_lws > max_wg)
    t.elt_lws = 0;
  if (t.elt_ept < 1 || t.elt_ept > 16)
    t.elt_ept = 1;
  dev->tune = t;
}

/* ------------------------------------------------------------- kernels */
static bool is_quant(const tern_exec_node *n) {
  return n->n_inputs >= 2 && (n->in[1].dtype == TERN_DTYPE_I8 ||
                              n->in[1].dtype == TERN_DTYPE_TERNARY);
}

static int64_t rows_of(const tern_exec_node *n) {
  int64_t K = n->in[1].ndim == 2 ? n->in[1].shape[1] : 0;
  return K > 0 ? tern_view_numel(&n->in[0]) / K : 0;
}

static bool is_gemm(const tern_device *d, const tern_exec_node *n) {
  return n->op == TERN_OP_LINEAR && is_quant(n) && !d->gemm_dot4 &&
         rows_of(n) >= 4;
}

static bool is_gemv(const tern_device *d, const tern_exec_node *n) {
  return n->op == TERN_OP_LINEAR && is_quant(n) && !d->gemm_dot4 &&
         rows_of(n) < 4;
}

static bool conv_direct(const tern_exec_node *n) {
  return n->params.groups > 1;
}

static bool is_conv(const tern_device *d, const tern_exec_node *n) {
  /* dot4 devices run groups == 1 through qgemm_c4, which has no BM */
  return n->op == TERN_OP_CONV2D && is_quant(n) &&
         (conv_direct(n) || !d->gemm_dot4);
}

static bool is_eltwise(const tern_device *d, const tern_exec_node *n) {
  (void)d;
  return n->op == TERN_OP_RELU || n->op == TERN_OP_RELU6 ||
         n->op == TERN_OP_GELU || n->op == TERN_OP_SILU;
}

static bool is_binary(const tern_device *d, const tern_exec_node *n) {
  (void)d;
  return n->op == TERN_OP_ADD || n->op == TERN_OP_MUL;
}

typedef struct cl_knob {
  const char *name;
  size_t off; /* int field of tern_cl_tune */
  int n_values;
  int32_t values[TERN_TUNE_MAX_VALUES];
} cl_knob;

#define KNOB_(name, field, ...)                                                \
  {                                                                            \
    name, offsetof(tern_cl_tune, field),                                       \
        (int)(sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t)), {           \
      __VA_ARGS__                                                              \
    }                                                                          \
  }

typedef struct cl_kernel_def {
  const char *kernel, *summary;
  bool (*applies)(const tern_device *d, const tern_exec_node *n);
  int n_knobs;
  cl_knob knobs[3];
  const tern_tune_shape *shapes;
  int n_shapes;
} cl_kernel_def;

#define SHAPES_(a) a, (int)(sizeof a / sizeof a[0])
static const tern_tune_shape k_gemm_shapes[] = {
    {TERN_OP_LINEAR, TERN_DTYPE_TERNARY, {64, 1024}, {1024, 1024}, true, {{0}}},
    {TERN_OP_LINEAR, TERN_DTYPE_I8, {64, 1024}, {1024, 1024}, true, {{0}}},
    {TERN_OP_LINEAR, TERN_DTYPE_TERNARY, {16, 2048}, {512, 2048}, true, {{0}}},
};

static const tern_tune_shape k_gemv_shapes[] = {
    {TERN_OP_LINEAR, TERN_DTYPE_TERNARY, {1, 1024}, {1024, 1024}, true, {{0}}},
    {TERN_OP_LINEAR, TERN_DTYPE_I8, {1, 1024}, {1024, 1024}, true, {{0}}},
};

static const cl_kernel_def k_kernels[] = {
    {"linear_gemm",
     "tgemm/q8gemm rows per work-item (-DBM)",
     is_gemm,
     1,
     {KNOB_("bm", bm, 4, 8, 16, 32, 64, 128, 256)},
     SHAPES_(k_gemm_shapes)},
    {"linear_gemv",
     "tgemv/qgemv8 local size",
     is_gemv,
     1,
     {KNOB_("lws", gemv_lws, 1, 2, 4, 8, 16, 32)},
     SHAPES_(k_gemv_shapes)},
    {"conv",
     "quantized conv2d: groups 1 im2col taps per work-item (-DKT) and GEMM "
     "rows per work-item (-DBM); grouped/depthwise outputs per work-item "
     "(-DOWT)",
     is_conv,
     3,
     {KNOB_("bm", bm, 4, 8, 16, 32, 64, 128, 256),
      KNOB_("kt", conv_kt, 1, 2, 4, 8, 16, 32, 64),
      KNOB_("owt", conv_owt, 1, 2, 4, 8, 16)},
     SHAPES_(tern_tune_conv_shapes)},
    {"eltwise",
     "relu/relu6/gelu/silu local size, elements per work-item (-DEPT)",
     is_eltwise,
     2,
     {KNOB_("lws", elt_lws, 0, 16, 64, 256, 1024, 4096),
      KNOB_("ept", elt_ept, 1, 2, 4, 8, 16)},
     SHAPES_(tern_tune_eltwise_shapes)},
    {"binary",
     "add/mul local size, elements per work-item (-DEPT)",
     is_binary,
     2,
     {KNOB_("lws", elt_lws, 0, 16, 64, 256, 1024, 4096),
      KNOB_("ept", elt_ept, 1, 2, 4, 8, 16)},
     SHAPES_(tern_tune_binary_shapes)},
};
#define N_KERNELS ((int)(sizeof k_kernels / sizeof k_kernels[0]))

static const cl_kernel_def *kernel_of(const tern_device *d,
                                      const tern_exec_node *n) {
  for (int i = 0; i < N_KERNELS; i++)
    if (k_kernels[i].applies(d, n))
      return &k_kernels[i];
  return NULL;
}

static int *field(tern_cl_tune *t, const cl_knob *k) {
  return (int *)((char *)t + k->off);
}

/* ------------------------------------------------------------ validity */
static bool pow2(int v) {
  return v >= 1 && (v & (v - 1)) == 0;
}

static int64_t pow2_ceil(int64_t v) {
  int64_t p = 1;
  while (p < v && p < ((int64_t)1 << 40))
    p <<= 1;
  return p;
}

/* Whether the values in t suit this device and node. `strict` (the tuner's
 * space) also prunes configurations that only idle or that change a value
 * this node's kernel does not read; a database entry is only held to the
 * device's limits. */
static bool tune_ok(const tern_device *d, const tern_exec_node *n,
                    const tern_cl_tune *t, bool strict) {
  int max_wg = d->max_wg ? (int)d->max_wg : 1;
  const tern_cl_tune *def = &d->tune;
  if (t->bm < 4 || t->bm > 4096 || t->bm % 4)
    return false;
  if (!pow2(t->gemv_lws) || t->gemv_lws > max_wg)
    return false;
  if (t->conv_kt < 1 || t->conv_kt > 256 || t->conv_owt < 1 || t->conv_owt > 16)
    return false;
  if (t->elt_lws < 0 || t->elt_lws > max_wg ||
      (t->elt_lws && !pow2(t->elt_lws)) || t->elt_ept < 1 || t->elt_ept > 16)
    return false;
  if (!strict)
    return true;
  if (is_gemm(d, n))
    /* work-items past the last row only idle: keep at most one spare
     * block (the default always runs, as the baseline) */
    return t->bm <= 2 * rows_of(n) || t->bm == def->bm;
  if (is_gemv(d, n)) {
    int64_t items = (n->in[1].shape[0] + 15) / 16;
    return t->gemv_lws <= pow2_ceil(items);
  }
  if (is_conv(d, n)) {
    /* the direct kernel (groups > 1) reads OWT only, the im2col GEMM BM
     * and KT only */
    if (conv_direct(n))
      return t->bm == def->bm && t->conv_kt == def->conv_kt &&
             t->conv_owt <= 2 * n->out.shape[3];
    int64_t rows = n->out.shape[0] * n->out.shape[2] * n->out.shape[3];
    int64_t taps = n->in[1].shape[1] * n->in[1].shape[2] * n->in[1].shape[3];
    return t->conv_owt == def->conv_owt &&
           (t->bm <= 2 * rows || t->bm == def->bm) &&
           (t->conv_kt <= 2 * taps || t->conv_kt == def->conv_kt);
  }
  /* elementwise: a work-group's elements beyond the tensor only idle */
  int64_t cnt = tern_view_numel(&n->out);
  return (int64_t)(t->elt_lws ? t->elt_lws : 1) * t->elt_ept <= 2 * cnt + 64;
}

/* ---------------------------------------------------------- node lookup */
void tern_cl_tune_for_node(tern_device *dev, const tern_exec_node *node,
                           tern_cl_tune *out) {
  *out = dev->tune;
  const tern_tuning_db *db = dev->ctx ? dev->ctx->tuning_db : NULL;
  const cl_kernel_def *k = kernel_of(dev, node);
  /* TERN_CL_TUNE / TERN_CL_QGEMM_BM are explicit overrides: they win over
   * the database */
  if (!db || !k || getenv("TERN_CL_TUNE") || getenv("TERN_CL_QGEMM_BM"))
    return;
  tern_device_info info = {.size = sizeof info};
  if (tern_opencl_backend.device_info(dev->ctx, dev->index, &info) != TERN_OK)
    return;
  tern_tuning_params p = {0};
  tern_cl_tune t = dev->tune;
  for (int i = 0; i < k->n_knobs; i++)
    if (tern_tuning_params_set(&p, k->knobs[i].name,
                               (int32_t)*field(&t, &k->knobs[i]), NULL))
      return;
  tern_tuning_match m = tern_tuning_lookup_node(db, &info, k->kernel, node, &p);
  if (m == TERN_TUNING_DEFAULT)
    return;
  for (int i = 0; i < k->n_knobs; i++)
    *field(&t, &k->knobs[i]) =
        (int)tern_tuning_params_get(&p, k->knobs[i].name, -1);
  char shape[64], vals[160];
  tern_tuning_shape_class(node, shape, sizeof shape);
  tern_tuning_params_str(&p, vals, sizeof vals);
  if (!tune_ok(dev, node, &t, false)) {
    tern_log(TERN_LOG_WARN,
             "opencl: tuning entry %s/%s (%s) is out of range; using the "
             "defaults",
             k->kernel, shape, vals);
    return;
  }
  *out = t;
  tern_log(TERN_LOG_DEBUG, "opencl: node '%s' %s %s: tuned (%s match) %s",
           node->name ? node->name : "", k->kernel, shape,
           tern_tuning_match_name(m), vals);
}

/* ------------------------------------------------------------ tunables */
/* cfg as tunables of node's kernel (every node belongs to one kernel). */
static bool cfg_to_tune(tern_device *d, const tern_exec_node *n,
                        const tern_tuning_params *cfg, tern_cl_tune *t) {
  const cl_kernel_def *k = kernel_of(d, n);
  if (!k)
    return false;
  *t = d->tune;
  for (int i = 0; i < k->n_knobs; i++) {
    int32_t v = tern_tuning_params_get(cfg, k->knobs[i].name, -1);
    if (v < 0)
      return false;
    *field(t, &k->knobs[i]) = (int)v;
  }
  return true;
}

static bool ct_valid(tern_device *d, const tern_exec_node *n,
                     const tern_tuning_params *cfg) {
  tern_cl_tune t;
  return cfg_to_tune(d, n, cfg, &t) && tune_ok(d, n, &t, true) &&
         tern_opencl_backend.supports(d, n);
}

static bool ct_applies(const tern_tunable *self, tern_device *d,
                       const tern_exec_node *n) {
  const cl_kernel_def *k = kernel_of(d, n);
  return k && strcmp(k->kernel, self->kernel) == 0;
}

static tern_status ct_prepare(tern_device *d, const tern_exec_node *n,
                              const tern_tuning_params *cfg, void **out,
                              tern_err *err) {
  tern_cl_tune t;
  if (!cfg_to_tune(d, n, cfg, &t) || !tune_ok(d, n, &t, false))
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "opencl: configuration not valid for this node");
  return tern_cl_node_prepare_tuned(d, n, &t, out, err);
}

int tern_cl_tunables(tern_device *dev, const tern_tunable **list) {
  if (!dev->tunable)
    dev->tunable = tern_calloc(N_KERNELS, sizeof *dev->tunable);
  tern_tunable *ts = dev->tunable;
  if (!ts)
    return 0;
  for (int i = 0; i < N_KERNELS; i++) {
    const cl_kernel_def *k = &k_kernels[i];
    tern_tunable *t = &ts[i];
    memset(t, 0, sizeof *t);
    t->kernel = k->kernel;
    t->summary = k->summary;
    t->n_params = k->n_knobs;
    for (int j = 0; j < k->n_knobs; j++) {
      /* the built-in default is the device's (environment included) */
      tern_tune_param_set(&t->params[j], k->knobs[j].name, k->knobs[j].n_values,
                          k->knobs[j].values,
                          (int32_t)*field(&dev->tune, &k->knobs[j]));
    }
    t->n_shapes = k->n_shapes;
    t->shapes = k->shapes;
    t->valid = ct_valid;
    t->prepare = ct_prepare;
    t->run = tern_opencl_backend.node_run;
    t->release = tern_opencl_backend.node_release;
    t->applies = ct_applies;
  }
  *list = ts;
  return N_KERNELS;
}

const char *tern_cl_node_tuning(tern_device *dev, const void *prepared,
                                char *buf, size_t n) {
  const tern_cl_node *p = prepared;
  const cl_kernel_def *k = p ? kernel_of(dev, &p->node) : NULL;
  size_t used = 0;
  if (n)
    buf[0] = 0;
  for (int i = 0; k && i < k->n_knobs && used < n; i++) {
    tern_cl_tune t = p->tune;
    int w = snprintf(buf + used, n - used, "%s%s=%d", i ? " " : "",
                     k->knobs[i].name, *field(&t, &k->knobs[i]));
    if (w < 0)
      break;
    used += (size_t)w;
  }
  return buf;
}
