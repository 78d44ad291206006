/* vk_op_eltwise.c — the one-input elementwise ops on Vulkan (eltwise.comp):
 * relu, relu6, gelu, silu, and flatten/reshape as a plain copy. Workgroup
 * size and elements per invocation are the node's tunables (kernel
 * "eltwise"), captured at prepare. */
#include "vk_internal.h"

#include <stdio.h>

typedef struct elt_data {
  uint32_t wg, ept;
} elt_data;

static bool elt_supports(tern_device *dev, const tern_exec_node *n) {
  (void)dev;
  return n->n_inputs == 1 &&
         tern_view_numel(&n->in[0]) == tern_view_numel(&n->out);
}

static tern_status elt_run(tern_device *dev, tern_vk_node *n,
                           tern_vk_binding *io, tern_err *err) {
  uint32_t act = 0;
  switch (n->node.op) {
  case TERN_OP_RELU:
    act = TERN_ACT_RELU;
    break;
  case TERN_OP_RELU6:
    act = TERN_ACT_RELU6;
    break;
  case TERN_OP_GELU:
    act = TERN_ACT_GELU;
    break;
  case TERN_OP_SILU:
    act = TERN_ACT_SILU;
    break;
  default:
    act = TERN_ACT_NONE;
  }
  uint64_t cnt = (uint64_t)tern_view_numel(&n->node.out);
  tern_vk_binding b[2] = {io[0], io[1]};
  bool tx = tern_vk_texel1(&b[0]);
  struct {
    uint32_t n, x_off, y_off, act;
  } pc = {(uint32_t)cnt, b[0].word, b[1].word, act};
  const elt_data *d = n->data;
  return tern_vk_run_1d_cfg(dev, tx ? "eltwise_tx" : "eltwise", 2, tx ? 1 : 0,
                            b, &pc, sizeof pc, cnt, d->wg, d->ept, err);
}

static tern_status elt_prepare(tern_device *dev, tern_vk_node *n,
                               tern_err *err) {
  elt_data *d = tern_calloc(1, sizeof *d);
  if (!d)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  d->wg = dev->tune.elt_wg;
  d->ept = dev->tune.elt_ept;
  n->data = d;
  n->run = elt_run;
  snprintf(n->tuning, sizeof n->tuning, "elt_wg=%u elt_ept=%u", d->wg, d->ept);
  return tern_vk_upload_const(dev, n, 0, err);
}

const tern_vk_op_impl tern_vk_op_unary = {elt_supports, elt_prepare};
const tern_vk_op_impl tern_vk_op_copy = {elt_supports, elt_prepare};
