/* cl_tunables.c — rows per work-item (-DBM) of the quantized GEMMs (tgemm,
 * q8gemm) as a tunable: looked up in the tuning database at node_prepare
 * (per device and shape class) and searched by `tern tune`. BM only changes
 * how rows are shared out; the integer sums and the epilogue are the same,
 * so every value is bit-identical to the reference. */
#include "cl_internal.h"
#include "core/tuning.h"

#include <stdlib.h>

#define CL_KERNEL "linear_gemm"

static bool bm_ok(int32_t bm) {
  return bm >= 4 && bm <= 4096 && bm % 4 == 0;
}

/* The nodes whose kernel reads BM: int8/ternary linear with M >= 4 (fewer
 * rows take the GEMV kernels), unless the dot4 path is forced. */
static bool uses_bm(const tern_device *d, const tern_exec_node *n) {
  if (n->op != TERN_OP_LINEAR || n->n_inputs < 2 || d->gemm_dot4)
    return false;
  if (n->in[1].dtype != TERN_DTYPE_I8 && n->in[1].dtype != TERN_DTYPE_TERNARY)
    return false;
  int64_t K = n->in[1].shape[1];
  return K > 0 && tern_view_numel(&n->in[0]) / K >= 4;
}

int tern_cl_bm_for_node(tern_device *dev, const tern_exec_node *node) {
  const tern_tuning_db *db = dev->ctx ? dev->ctx->tuning_db : NULL;
  /* TERN_CL_QGEMM_BM is an explicit override: it wins over the database */
  if (!db || !uses_bm(dev, node) || getenv("TERN_CL_QGEMM_BM"))
    return dev->qgemm_bm;
  tern_device_info info = {.size = sizeof info};
  if (tern_opencl_backend.device_info(dev->ctx, dev->index, &info) != TERN_OK)
    return dev->qgemm_bm;
  tern_tuning_params p = {0};
  tern_err e = {0};
  if (tern_tuning_params_set(&p, "bm", dev->qgemm_bm, &e))
    return dev->qgemm_bm;
  tern_tuning_match m = tern_tuning_lookup_node(db, &info, CL_KERNEL, node, &p);
  if (m == TERN_TUNING_DEFAULT)
    return dev->qgemm_bm;
  int32_t bm = tern_tuning_params_get(&p, "bm", 0);
  char shape[64];
  tern_tuning_shape_class(node, shape, sizeof shape);
  if (!bm_ok(bm)) {
    tern_log(TERN_LOG_WARN,
             "opencl: tuning entry %s/%s (bm=%d) is out of range; using the "
             "default",
             CL_KERNEL, shape, (int)bm);
    return dev->qgemm_bm;
  }
  tern_log(TERN_LOG_DEBUG, "opencl: node '%s' %s %s: tuned (%s match) bm=%d",
           node->name ? node->name : "", CL_KERNEL, shape,
           tern_tuning_match_name(m), (int)bm);
  return bm;
}

static bool ct_valid(tern_device *d, const tern_exec_node *n,
                     const tern_tuning_params *cfg) {
  int32_t bm = tern_tuning_params_get(cfg, "bm", 0);
  if (!uses_bm(d, n) || !bm_ok(bm))
    return false;
  /* work-items past the last row only idle: keep at most one spare block
   * (the device's default always runs, as the baseline) */
  int64_t M = tern_view_numel(&n->in[0]) / n->in[1].shape[1];
  return (bm <= 2 * M || bm == d->qgemm_bm) &&
         tern_opencl_backend.supports(d, n);
}

static tern_status ct_prepare(tern_device *d, const tern_exec_node *n,
                              const tern_tuning_params *cfg, void **out,
                              tern_err *err) {
  if (!ct_valid(d, n, cfg))
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "opencl: %s: configuration not valid for this node",
                        CL_KERNEL);
  return tern_cl_node_prepare_bm(d, n, tern_tuning_params_get(cfg, "bm", 0),
                                 out, err);
}

static const tern_tune_shape k_shapes[] = {
    {TERN_OP_LINEAR, TERN_DTYPE_TERNARY, {64, 1024}, {1024, 1024}, true, {{0}}},
    {TERN_OP_LINEAR, TERN_DTYPE_I8, {64, 1024}, {1024, 1024}, true, {{0}}},
    {TERN_OP_LINEAR, TERN_DTYPE_TERNARY, {16, 2048}, {512, 2048}, true, {{0}}},
};

int tern_cl_tunables(tern_device *dev, const tern_tunable **list) {
  if (!dev->tunable)
    dev->tunable = tern_calloc(1, sizeof *dev->tunable);
  tern_tunable *t = dev->tunable;
  if (!t)
    return 0;
  *t = (tern_tunable){CL_KERNEL,
                      "tgemm/q8gemm rows per work-item (-DBM)",
                      1,
                      {{"bm", 7, {4, 8, 16, 32, 64, 128, 256}, 64}},
                      (int)(sizeof k_shapes / sizeof k_shapes[0]),
                      k_shapes,
                      ct_valid,
                      ct_prepare,
                      tern_opencl_backend.node_run,
                      tern_opencl_backend.node_release};
  /* the built-in default is the device's (TERN_CL_QGEMM_BM included) */
  tern_tune_param *p = &t->params[0];
  p->default_value = dev->qgemm_bm;
  bool found = false;
  for (int j = 0; j < p->n_values; j++)
    found |= p->values[j] == p->default_value;
  if (!found)
    p->values[p->n_values++] = p->default_value;
  *list = t;
  return 1;
}
