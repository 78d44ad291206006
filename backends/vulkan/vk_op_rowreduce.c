/* vk_op_rowreduce.c — softmax, layernorm and rmsnorm over the last axis,
 * one workgroup per row (rowreduce.comp). */
#include "vk_internal.h"

static bool rr_supports(tern_device *dev, const tern_exec_node *n) {
  (void)dev;
  const tern_view *x = &n->in[0];
  if (x->ndim < 1 || x->shape[x->ndim - 1] < 1)
    return false;
  if (n->op == TERN_OP_SOFTMAX) {
    int a = n->params.axis;
    return a == 0 || a == -1 || a == x->ndim - 1;
  }
  return true;
}

static tern_status rr_run(tern_device *dev, tern_vk_node *n,
                          tern_vk_binding *io, tern_err *err) {
  const tern_view *x = &n->node.in[0];
  uint32_t D = (uint32_t)x->shape[x->ndim - 1];
  uint64_t rows = (uint64_t)tern_view_numel(x) / D;
  int no = n->node.n_inputs;
  uint32_t mode = n->node.op == TERN_OP_SOFTMAX     ? 0
                  : n->node.op == TERN_OP_LAYERNORM ? 1
                                                    : 2;
  tern_vk_binding g = no > 1 ? io[1] : io[0];
  tern_vk_binding b = no > 2 ? io[2] : g;
  struct {
    uint32_t rows, D, mode, x_off, y_off, g_off, b_off;
    float eps;
  } pc = {(uint32_t)rows, D,
          mode,           io[0].word,
          io[no].word,    g.word,
          b.word,         n->node.params.eps != 0 ? n->node.params.eps : 1e-5f};
  tern_vk_binding bb[4] = {io[0], g, b, io[no]};
  return tern_vk_run_rows(dev, "rowreduce", 4, bb, &pc, sizeof pc, rows, err);
}

static tern_status rr_prepare(tern_device *dev, tern_vk_node *n,
                              tern_err *err) {
  n->run = rr_run;
  for (int i = 0; i < n->node.n_inputs; i++) {
    tern_status s = tern_vk_upload_const(dev, n, i, err);
    if (s)
      return s;
  }
  return TERN_OK;
}

const tern_vk_op_impl tern_vk_op_softmax = {rr_supports, rr_prepare};
const tern_vk_op_impl tern_vk_op_norm = {rr_supports, rr_prepare};
