/* vk_op_batchnorm.c — batchnorm over dim 1 of [N, C, ...] (batchnorm.comp). */
#include "vk_internal.h"

static bool bn_supports(tern_device *dev, const tern_exec_node *n) {
  (void)dev;
  return n->n_inputs == 5 && n->in[0].ndim >= 2;
}

static tern_status bn_run(tern_device *dev, tern_vk_node *n,
                          tern_vk_binding *io, tern_err *err) {
  const tern_view *x = &n->node.in[0];
  uint64_t cnt = (uint64_t)tern_view_numel(x);
  float eps = n->node.params.eps != 0 ? n->node.params.eps : 1e-5f;
  struct {
    uint32_t n, C, inner, x_off, y_off, g_off, b_off, m_off, v_off;
    float eps;
  } pc = {(uint32_t)cnt,
          (uint32_t)x->shape[1],
          (uint32_t)tern_dims_prod(x->shape, 2, x->ndim),
          io[0].word,
          io[5].word,
          io[1].word,
          io[2].word,
          io[3].word,
          io[4].word,
          eps};
  return tern_vk_run_1d(dev, "batchnorm", 6, io, &pc, sizeof pc, cnt, err);
}

static tern_status bn_prepare(tern_device *dev, tern_vk_node *n,
                              tern_err *err) {
  n->run = bn_run;
  for (int i = 0; i < 5; i++) {
    tern_status s = tern_vk_upload_const(dev, n, i, err);
    if (s)
      return s;
  }
  return TERN_OK;
}

const tern_vk_op_impl tern_vk_op_batchnorm = {bn_supports, bn_prepare};
