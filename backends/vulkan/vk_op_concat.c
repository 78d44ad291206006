/* vk_op_concat.c — concat: one copy_region.comp dispatch per input. */
#include "vk_internal.h"

static bool cat_supports(tern_device *dev, const tern_exec_node *n) {
  (void)dev;
  return n->n_inputs >= 1;
}

static int norm_axis(int axis, int ndim) {
  return axis < 0 ? axis + ndim : axis;
}

static tern_status cat_run(tern_device *dev, tern_vk_node *n,
                           tern_vk_binding *io, tern_err *err) {
  const tern_view *y = &n->node.out;
  int ax = norm_axis(n->node.params.axis, y->ndim);
  uint32_t inner_tail = (uint32_t)tern_dims_prod(y->shape, ax + 1, y->ndim);
  uint32_t out_inner = (uint32_t)y->shape[ax] * inner_tail;
  uint32_t off = 0;
  for (int i = 0; i < n->node.n_inputs; i++) {
    const tern_view *x = &n->node.in[i];
    uint32_t inner = (uint32_t)x->shape[ax] * inner_tail;
    uint64_t cnt = (uint64_t)tern_view_numel(x);
    tern_vk_binding b[2] = {io[i], io[n->node.n_inputs]};
    bool tx = tern_vk_texel1(&b[0]);
    struct {
      uint32_t n, inner, out_inner, off, x_off, y_off;
    } pc = {(uint32_t)cnt, inner, out_inner, off, b[0].word, b[1].word};
    tern_status s =
        tern_vk_run_1d_ex(dev, tx ? "copy_region_tx" : "copy_region", 2,
                          tx ? 1 : 0, b, &pc, sizeof pc, cnt, err);
    if (s)
      return s;
    off += inner;
  }
  return TERN_OK;
}

static tern_status cat_prepare(tern_device *dev, tern_vk_node *n,
                               tern_err *err) {
  n->run = cat_run;
  for (int i = 0; i < n->node.n_inputs; i++) {
    tern_status s = tern_vk_upload_const(dev, n, i, err);
    if (s)
      return s;
  }
  return TERN_OK;
}

const tern_vk_op_impl tern_vk_op_concat = {cat_supports, cat_prepare};
