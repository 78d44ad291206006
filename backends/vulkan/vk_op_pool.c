/* vk_op_pool.c — maxpool2d, avgpool2d and global_avgpool (pool.comp). */
#include "vk_internal.h"

static bool pool_supports(tern_device *dev, const tern_exec_node *n) {
  (void)dev;
  return n->in[0].ndim == 4 && n->out.ndim == 4;
}

static tern_status pool_run(tern_device *dev, tern_vk_node *n,
                            tern_vk_binding *io, tern_err *err) {
  const tern_view *x = &n->node.in[0], *y = &n->node.out;
  const tern_op_params *p = &n->node.params;
  struct {
    uint32_t n, mode, H, W, OH, OW, kh, kw, sh, sw, ph, pw, include_pad, x_off,
        y_off;
  } pc = {0};
  uint64_t cnt = (uint64_t)tern_view_numel(y);
  pc.n = (uint32_t)cnt;
  pc.H = (uint32_t)x->shape[2];
  pc.W = (uint32_t)x->shape[3];
  pc.OH = (uint32_t)y->shape[2];
  pc.OW = (uint32_t)y->shape[3];
  tern_vk_binding b[2] = {io[0], io[1]};
  bool tx = tern_vk_texel1(&b[0]);
  pc.x_off = b[0].word;
  pc.y_off = b[1].word;
  if (n->node.op == TERN_OP_GLOBAL_AVGPOOL) {
    pc.mode = 1;
    pc.kh = pc.H;
    pc.kw = pc.W;
    pc.sh = pc.sw = 1;
    pc.include_pad = 1;
  } else {
    pc.mode = n->node.op == TERN_OP_AVGPOOL2D;
    pc.kh = (uint32_t)p->kernel[0];
    pc.kw = (uint32_t)p->kernel[1];
    pc.sh = p->stride[0] > 0 ? (uint32_t)p->stride[0] : pc.kh;
    pc.sw = p->stride[1] > 0 ? (uint32_t)p->stride[1] : pc.kw;
    pc.ph = (uint32_t)p->pad[0];
    pc.pw = (uint32_t)p->pad[1];
    pc.include_pad = p->count_include_pad != 0;
  }
  return tern_vk_run_1d_ex(dev, tx ? "pool_tx" : "pool", 2, tx ? 1 : 0, b, &pc,
                           sizeof pc, cnt, err);
}

static tern_status pool_prepare(tern_device *dev, tern_vk_node *n,
                                tern_err *err) {
  n->run = pool_run;
  return tern_vk_upload_const(dev, n, 0, err);
}

const tern_vk_op_impl tern_vk_op_pool = {pool_supports, pool_prepare};
