/* vk_tunables.c — the Vulkan kernels whose parameters the tuner searches,
 * and their lookup at node_prepare (per device and shape class):
 *   gemm     quantized linear (GEMV and GEMM): workgroup size, rows per
 *            invocation;
 *   conv     quantized conv2d (im2col + GEMM per group): the GEMM's
 *            workgroup size and rows per invocation, the im2col workgroup
 *            size; depthwise layers run dwconv.comp, whose workgroup size
 *            is col_wg;
 *   eltwise  relu, relu6, gelu, silu, flatten/reshape: workgroup size,
 *            elements per invocation;
 *   binary   add, mul: workgroup size, elements per invocation.
 * Every value is a specialization constant captured when the node is
 * prepared. None changes what an invocation computes for an element (the
 * integer sums of a GEMM are the same in any grouping; the elementwise
 * formulas are per element), so quantized results stay bit-identical. */
#include "core/tuning.h"
#include "vk_gemm.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- kernels */
static bool is_quant(const tern_exec_node *n) {
  return n->n_inputs >= 2 && (n->in[1].dtype == TERN_DTYPE_I8 ||
                              n->in[1].dtype == TERN_DTYPE_TERNARY);
}

static bool is_gemm(const tern_exec_node *n) {
  return n->op == TERN_OP_LINEAR && is_quant(n);
}

static bool is_conv(const tern_exec_node *n) {
  return n->op == TERN_OP_CONV2D && is_quant(n);
}

static bool is_eltwise(const tern_exec_node *n) {
  switch (n->op) {
  case TERN_OP_RELU:
  case TERN_OP_RELU6:
  case TERN_OP_GELU:
  case TERN_OP_SILU:
  case TERN_OP_FLATTEN:
  case TERN_OP_RESHAPE:
    return true;
  default:
    return false;
  }
}

static bool is_binary(const tern_exec_node *n) {
  return n->op == TERN_OP_ADD || n->op == TERN_OP_MUL;
}

/* A parameter: its name in the database, the tern_vk_tune field it sets,
 * and the values the tuner tries (pruned per device and node by valid). */
typedef struct vk_knob {
  const char *name;
  size_t off;
  int n_values;
  int32_t values[TERN_TUNE_MAX_VALUES];
} vk_knob;

#define KNOB_(name, field, ...)                                                \
  {                                                                            \
    name, offsetof(tern_vk_tune, field),                                       \
        (int)(sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t)), {           \
      __VA_ARGS__                                                              \
    }                                                                          \
  }

typedef struct vk_kernel {
  const char *kernel, *summary;
  bool (*applies)(const tern_exec_node *n);
  int n_knobs;
  vk_knob knobs[3];
  const tern_tune_shape *shapes;
  int n_shapes;
} vk_kernel;

#define SHAPES_(a) a, (int)(sizeof a / sizeof a[0])

/* Problems: GEMV and GEMM of both weight types at a transformer-ish width;
 * a CNN's first layers (3x3 convolutions, a depthwise one); activations and
 * residual adds of a few sizes. */
static const tern_tune_shape k_gemm_shapes[] = {
    {TERN_OP_LINEAR, TERN_DTYPE_TERNARY, {1, 1024}, {1024, 1024}, true, {{0}}},
    {TERN_OP_LINEAR, TERN_DTYPE_I8, {1, 1024}, {1024, 1024}, true, {{0}}},
    {TERN_OP_LINEAR, TERN_DTYPE_TERNARY, {16, 1024}, {1024, 1024}, true, {{0}}},
    {TERN_OP_LINEAR, TERN_DTYPE_I8, {16, 1024}, {1024, 1024}, true, {{0}}},
};

static const vk_kernel k_kernels[] = {
    {"gemm",
     "quantized linear, GEMV and GEMM (workgroup size, rows per invocation)",
     is_gemm,
     2,
     {KNOB_("gemm_wg", gemm_wg, 16, 32, 64, 128, 256),
      KNOB_("gemm_tm", gemm_tm, 1, 2, 4)},
     SHAPES_(k_gemm_shapes)},
    {"conv",
     "quantized conv2d (GEMM workgroup size and rows per invocation, im2col "
     "workgroup size)",
     is_conv,
     3,
     {KNOB_("gemm_wg", gemm_wg, 1, 2, 4, 8, 16, 32, 64, 128),
      KNOB_("gemm_tm", gemm_tm, 1, 2, 4), KNOB_("col_wg", col_wg, 16, 64, 256)},
     SHAPES_(tern_tune_conv_shapes)},
    {"eltwise",
     "relu/relu6/gelu/silu/copy (workgroup size, elements per invocation)",
     is_eltwise,
     2,
     {KNOB_("elt_wg", elt_wg, 32, 64, 128, 256, 512, 1024),
      KNOB_("elt_ept", elt_ept, 1, 2, 4, 8)},
     SHAPES_(tern_tune_eltwise_shapes)},
    {"binary",
     "add/mul with broadcasting (workgroup size, elements per invocation)",
     is_binary,
     2,
     {KNOB_("elt_wg", elt_wg, 32, 64, 128, 256, 512, 1024),
      KNOB_("elt_ept", elt_ept, 1, 2, 4, 8)},
     SHAPES_(tern_tune_binary_shapes)},
};
#define N_KERNELS ((int)(sizeof k_kernels / sizeof k_kernels[0]))

static const vk_kernel *kernel_of(const tern_exec_node *n) {
  for (int i = 0; i < N_KERNELS; i++)
    if (k_kernels[i].applies(n))
      return &k_kernels[i];
  return NULL;
}

static uint32_t *field(tern_vk_tune *t, const vk_knob *k) {
  return (uint32_t *)((char *)t + k->off);
}

/* ------------------------------------------------------------ validity */
/* The largest workgroup this device takes (TERN_VK_MIN_DEVICE: 128). */
static uint32_t max_wg(const tern_device *d) {
  uint32_t m = d->limits.maxComputeWorkGroupInvocations;
  if (d->limits.maxComputeWorkGroupSize[0] < m)
    m = d->limits.maxComputeWorkGroupSize[0];
  if (d->min_device && m > 128)
    m = 128;
  return m;
}

static bool wg_ok(const tern_device *d, int32_t wg) {
  return wg >= 1 && (uint32_t)wg <= max_wg(d) && (wg & (wg - 1)) == 0;
}

/* Channel blocks one GEMM dispatch has per row block: 8 channels per
 * invocation in the packed-int16 kernel, 4 in the dot kernels. */
static uint32_t gemm_units(const tern_device *d, const tern_exec_node *n) {
  bool dot;
  uint64_t N = (uint64_t)n->in[1].shape[0];
  if (n->op == TERN_OP_CONV2D && n->params.groups > 1)
    N /= (uint64_t)n->params.groups;
  tern_vk_wkind k = tern_vk_gemm_kind(d, n->in[1].dtype, &dot);
  uint64_t per = k == TERN_VK_W_SWAR ? 8 : 4;
  uint64_t u = (N + per - 1) / per;
  return u > 0x7fffffff ? 0x7fffffff : (uint32_t)u;
}

/* Whether the values in t suit this device and node. `strict` also prunes
 * configurations that only waste invocations (the tuner's space); a
 * database entry is only held to the device's limits. */
static bool tune_ok(const tern_device *d, const tern_exec_node *n,
                    const vk_kernel *k, const tern_vk_tune *t, bool strict) {
  bool sg = (d->tiers & TERN_VK_TIER_SUBGROUP) && t->sg_bcast;
  if (strcmp(k->kernel, "gemm") == 0 || strcmp(k->kernel, "conv") == 0) {
    if (!wg_ok(d, (int32_t)t->gemm_wg) || t->gemm_tm < 1 || t->gemm_tm > 4)
      return false;
    /* the broadcast variant reads x rows from lanes 0..3 */
    if (sg && t->gemm_wg < 4)
      return false;
    if (strcmp(k->kernel, "conv") == 0 && !wg_ok(d, (int32_t)t->col_wg))
      return false;
    if (strict) {
      /* the direct depthwise kernel has no GEMM: one value of its knobs */
      if (n->op == TERN_OP_CONV2D && tern_vk_conv_dw_direct(d, n) &&
          t->gemm_tm != 1)
        return false;
      /* more invocations than channel blocks only idle */
      uint32_t u = gemm_units(d, n), p2 = 1;
      while (p2 < u && p2 < 0x40000000u)
        p2 <<= 1;
      if (t->gemm_wg > p2)
        return false;
      /* rows per invocation beyond the rows there are only idle */
      int64_t K = n->op == TERN_OP_LINEAR ? n->in[1].shape[1] : 1;
      int64_t M = n->op == TERN_OP_LINEAR
                      ? tern_view_numel(&n->in[0]) / (K ? K : 1)
                      : n->out.shape[0] * n->out.shape[2] * n->out.shape[3];
      if ((int64_t)t->gemm_tm > M && t->gemm_tm > 1)
        return false;
    }
    return true;
  }
  if (!wg_ok(d, (int32_t)t->elt_wg) || t->elt_ept < 1 || t->elt_ept > 8)
    return false;
  if (strict) {
    /* a workgroup's elements beyond the tensor only idle */
    uint64_t cnt = (uint64_t)tern_view_numel(&n->out);
    if ((uint64_t)t->elt_wg * t->elt_ept > 2 * cnt + 64)
      return false;
  }
  return true;
}

/* ---------------------------------------------------------- node lookup */
void tern_vk_tune_for_node(tern_device *dev, const tern_exec_node *node,
                           tern_vk_tune *out) {
  *out = dev->tune;
  const tern_tuning_db *db = dev->ctx ? dev->ctx->tuning_db : NULL;
  const vk_kernel *k = kernel_of(node);
  /* TERN_VK_TUNE is an explicit override: it wins over the database */
  if (!db || !k || getenv("TERN_VK_TUNE"))
    return;
  tern_device_info info = {.size = sizeof info};
  int index = (int)(dev->pd - dev->ctx->pd);
  if (tern_vulkan_backend.device_info(dev->ctx, index, &info) != TERN_OK)
    return;
  tern_tuning_params p = {0};
  tern_vk_tune t = dev->tune;
  for (int i = 0; i < k->n_knobs; i++)
    if (tern_tuning_params_set(&p, k->knobs[i].name,
                               (int32_t)*field(&t, &k->knobs[i]), NULL))
      return;
  tern_tuning_match m = tern_tuning_lookup_node(db, &info, k->kernel, node, &p);
  if (m == TERN_TUNING_DEFAULT)
    return;
  for (int i = 0; i < k->n_knobs; i++)
    *field(&t, &k->knobs[i]) =
        (uint32_t)tern_tuning_params_get(&p, k->knobs[i].name, 0);
  char shape[64], vals[160];
  tern_tuning_shape_class(node, shape, sizeof shape);
  tern_tuning_params_str(&p, vals, sizeof vals);
  if (!tune_ok(dev, node, k, &t, false)) {
    tern_log(TERN_LOG_WARN,
             "vulkan: tuning entry %s/%s (%s) does not fit this device; "
             "using the defaults",
             k->kernel, shape, vals);
    return;
  }
  *out = t;
  tern_log(TERN_LOG_DEBUG, "vulkan: node '%s' %s %s: tuned (%s match) %s",
           node->name ? node->name : "", k->kernel, shape,
           tern_tuning_match_name(m), vals);
}

/* ------------------------------------------------------------ tunables */
/* cfg as the tunables of node's kernel (the tuner's callbacks get only the
 * node; a node belongs to one kernel at most). */
static bool cfg_to_tune(tern_device *d, const tern_exec_node *n,
                        const tern_tuning_params *cfg, tern_vk_tune *t) {
  const vk_kernel *k = kernel_of(n);
  if (!k)
    return false;
  *t = d->tune;
  for (int i = 0; i < k->n_knobs; i++) {
    int32_t v = tern_tuning_params_get(cfg, k->knobs[i].name, -1);
    if (v < 0)
      return false;
    *field(t, &k->knobs[i]) = (uint32_t)v;
  }
  return true;
}

static bool vt_valid(tern_device *d, const tern_exec_node *n,
                     const tern_tuning_params *cfg) {
  tern_vk_tune t;
  return cfg_to_tune(d, n, cfg, &t) && tune_ok(d, n, kernel_of(n), &t, true) &&
         tern_vulkan_backend.supports(d, n);
}

static bool vt_applies(const tern_tunable *self, tern_device *d,
                       const tern_exec_node *n) {
  (void)d;
  const vk_kernel *k = kernel_of(n);
  return k && strcmp(k->kernel, self->kernel) == 0;
}

static tern_status vt_prepare(tern_device *d, const tern_exec_node *n,
                              const tern_tuning_params *cfg, void **out,
                              tern_err *err) {
  tern_vk_tune t;
  if (!cfg_to_tune(d, n, cfg, &t) || !tune_ok(d, n, kernel_of(n), &t, false))
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "vulkan: configuration not valid for this node");
  pthread_mutex_lock(&d->lock);
  tern_status s = tern_vk_node_prepare_tuned(d, n, &t, out, err);
  pthread_mutex_unlock(&d->lock);
  return s;
}

int tern_vk_tunables(tern_device *d, const tern_tunable **list) {
  /* one list per device: the built-in defaults are the device's */
  pthread_mutex_lock(&d->lock);
  if (!d->tunable)
    d->tunable = tern_calloc(N_KERNELS, sizeof *d->tunable);
  tern_tunable *ts = d->tunable;
  pthread_mutex_unlock(&d->lock);
  if (!ts)
    return 0;
  for (int i = 0; i < N_KERNELS; i++) {
    const vk_kernel *k = &k_kernels[i];
    tern_tunable *t = &ts[i];
    memset(t, 0, sizeof *t);
    t->kernel = k->kernel;
    t->summary = k->summary;
    t->n_params = k->n_knobs;
    for (int j = 0; j < k->n_knobs; j++) {
      /* the built-in default is the device's (environment included) */
      tern_tune_param_set(&t->params[j], k->knobs[j].name, k->knobs[j].n_values,
                          k->knobs[j].values,
                          (int32_t)*field(&d->tune, &k->knobs[j]));
    }
    t->n_shapes = k->n_shapes;
    t->shapes = k->shapes;
    t->valid = vt_valid;
    t->prepare = vt_prepare;
    t->run = tern_vulkan_backend.node_run;
    t->release = tern_vulkan_backend.node_release;
    t->applies = vt_applies;
  }
  *list = ts;
  return N_KERNELS;
}
