/* vk_tunables.c — the quantized GEMM's workgroup size and rows per
 * invocation as tunables: looked up in the tuning database at node_prepare
 * (per device and shape class), and searched by `tern tune`. Both values are
 * specialization constants captured when the node is prepared, and every
 * configuration computes the same integer sums, so results stay exact. */
#include "core/tuning.h"
#include "vk_internal.h"

#include <stdlib.h>

#define VK_KERNEL "gemm"

static bool is_quant_linear(const tern_exec_node *n) {
  return n->op == TERN_OP_LINEAR && n->n_inputs >= 2 &&
         (n->in[1].dtype == TERN_DTYPE_I8 ||
          n->in[1].dtype == TERN_DTYPE_TERNARY);
}

/* The largest GEMM workgroup this device takes (TERN_VK_MIN_DEVICE: 128). */
static uint32_t max_wg(const tern_device *d) {
  uint32_t m = d->limits.maxComputeWorkGroupInvocations;
  if (d->limits.maxComputeWorkGroupSize[0] < m)
    m = d->limits.maxComputeWorkGroupSize[0];
  if (d->min_device && m > 128)
    m = 128;
  return m;
}

static bool cfg_ok(const tern_device *d, int32_t wg, int32_t tm) {
  return wg >= 1 && (uint32_t)wg <= max_wg(d) && (wg & (wg - 1)) == 0 &&
         tm >= 1 && tm <= 4;
}

void tern_vk_tune_for_node(tern_device *dev, const tern_exec_node *node,
                           tern_vk_tune *out) {
  *out = dev->tune;
  const tern_tuning_db *db = dev->ctx ? dev->ctx->tuning_db : NULL;
  /* TERN_VK_TUNE is an explicit override: it wins over the database */
  if (!db || !is_quant_linear(node) || getenv("TERN_VK_TUNE"))
    return;
  tern_device_info info = {.size = sizeof info};
  int index = (int)(dev->pd - dev->ctx->pd);
  if (tern_vulkan_backend.device_info(dev->ctx, index, &info) != TERN_OK)
    return;
  tern_tuning_params p = {0};
  tern_err e = {0};
  if (tern_tuning_params_set(&p, "gemm_wg", (int32_t)dev->tune.gemm_wg, &e) ||
      tern_tuning_params_set(&p, "gemm_tm", (int32_t)dev->tune.gemm_tm, &e))
    return;
  tern_tuning_match m = tern_tuning_lookup_node(db, &info, VK_KERNEL, node, &p);
  if (m == TERN_TUNING_DEFAULT)
    return;
  int32_t wg = tern_tuning_params_get(&p, "gemm_wg", 0);
  int32_t tm = tern_tuning_params_get(&p, "gemm_tm", 0);
  char shape[64];
  tern_tuning_shape_class(node, shape, sizeof shape);
  if (!cfg_ok(dev, wg, tm)) {
    tern_log(TERN_LOG_WARN,
             "vulkan: tuning entry %s/%s (gemm_wg=%d gemm_tm=%d) does not "
             "fit this device; using the defaults",
             VK_KERNEL, shape, (int)wg, (int)tm);
    return;
  }
  out->gemm_wg = (uint32_t)wg;
  out->gemm_tm = (uint32_t)tm;
  tern_log(TERN_LOG_DEBUG,
           "vulkan: node '%s' %s %s: tuned (%s match) gemm_wg=%d gemm_tm=%d",
           node->name ? node->name : "", VK_KERNEL, shape,
           tern_tuning_match_name(m), (int)wg, (int)tm);
}

static bool vt_valid(tern_device *d, const tern_exec_node *n,
                     const tern_tuning_params *cfg) {
  return is_quant_linear(n) &&
         cfg_ok(d, tern_tuning_params_get(cfg, "gemm_wg", 0),
                tern_tuning_params_get(cfg, "gemm_tm", 0)) &&
         tern_vulkan_backend.supports(d, n);
}

static tern_status vt_prepare(tern_device *d, const tern_exec_node *n,
                              const tern_tuning_params *cfg, void **out,
                              tern_err *err) {
  if (!vt_valid(d, n, cfg))
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "vulkan: gemm: configuration not valid for this node");
  tern_vk_tune t = d->tune;
  t.gemm_wg = (uint32_t)tern_tuning_params_get(cfg, "gemm_wg", 0);
  t.gemm_tm = (uint32_t)tern_tuning_params_get(cfg, "gemm_tm", 0);
  pthread_mutex_lock(&d->lock);
  tern_status s = tern_vk_node_prepare_tuned(d, n, &t, out, err);
  pthread_mutex_unlock(&d->lock);
  return s;
}

static const tern_tune_shape k_shapes[] = {
    {TERN_OP_LINEAR, TERN_DTYPE_TERNARY, {1, 1024}, {1024, 1024}, true, {{0}}},
    {TERN_OP_LINEAR, TERN_DTYPE_TERNARY, {16, 1024}, {1024, 1024}, true, {{0}}},
    {TERN_OP_LINEAR, TERN_DTYPE_I8, {16, 1024}, {1024, 1024}, true, {{0}}},
};

int tern_vk_tunables(tern_device *d, const tern_tunable **list) {
  /* one list per device: the built-in defaults are the device's */
  pthread_mutex_lock(&d->lock);
  if (!d->tunable)
    d->tunable = tern_calloc(1, sizeof *d->tunable);
  tern_tunable *t = d->tunable;
  pthread_mutex_unlock(&d->lock);
  if (!t)
    return 0;
  *t = (tern_tunable){
      VK_KERNEL,
      "quantized GEMM/GEMV (workgroup size, rows per invocation)",
      2,
      {{"gemm_wg", 5, {16, 32, 64, 128, 256}, 64},
       {"gemm_tm", 3, {1, 2, 4}, 2}},
      (int)(sizeof k_shapes / sizeof k_shapes[0]),
      k_shapes,
      vt_valid,
      vt_prepare,
      tern_vulkan_backend.node_run,
      tern_vulkan_backend.node_release};
  /* the default must be one of the values; device defaults are powers of
   * two in range, so this only widens the list when they are not */
  t->params[0].default_value = (int32_t)d->tune.gemm_wg;
  t->params[1].default_value = (int32_t)d->tune.gemm_tm;
  for (int i = 0; i < 2; i++) {
    tern_tune_param *p = &t->params[i];
    bool found = false;
    for (int j = 0; j < p->n_values; j++)
      found |= p->values[j] == p->default_value;
    if (!found && p->n_values < TERN_TUNE_MAX_VALUES)
      p->values[p->n_values++] = p->default_value;
  }
  *list = t;
  return 1;
}
