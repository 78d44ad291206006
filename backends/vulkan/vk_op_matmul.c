/* vk_op_matmul.c — batched matmul with broadcast batch dims (matmul.comp). */
#include "vk_internal.h"

static bool mm_supports(tern_device *dev, const tern_exec_node *n) {
  (void)dev;
  return n->n_inputs == 2 && n->in[0].ndim >= 2 && n->in[1].ndim >= 2 &&
         n->out.ndim - 2 <= 4;
}

static tern_status mm_run(tern_device *dev, tern_vk_node *n,
                          tern_vk_binding *io, tern_err *err) {
  const tern_view *a = &n->node.in[0], *b = &n->node.in[1], *y = &n->node.out;
  const tern_op_params *p = &n->node.params;
  struct {
    uint32_t n, M, N, K, nb, transpose_b;
    float alpha;
    uint32_t a_off, b_off, y_off, bd[4], sa[4], sb[4];
  } pc = {0};
  uint64_t cnt = (uint64_t)tern_view_numel(y);
  pc.n = (uint32_t)cnt;
  pc.M = (uint32_t)a->shape[a->ndim - 2];
  pc.K = (uint32_t)a->shape[a->ndim - 1];
  pc.N = (uint32_t)y->shape[y->ndim - 1];
  pc.nb = (uint32_t)(y->ndim - 2);
  pc.transpose_b = p->transpose_b != 0;
  pc.alpha = p->alpha != 0 ? p->alpha : 1.0f;
  pc.a_off = io[0].word;
  pc.b_off = io[1].word;
  pc.y_off = io[2].word;
  uint32_t ma = pc.M * pc.K, mb = pc.K * pc.N; /* matrix sizes */
  uint32_t sa = ma, sb = mb;
  for (int d = (int)pc.nb - 1; d >= 0; d--) {
    pc.bd[d] = (uint32_t)y->shape[d];
    int ia = d - (int)(y->ndim - a->ndim), ib = d - (int)(y->ndim - b->ndim);
    int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
    pc.sa[d] = da == 1 ? 0 : sa;
    pc.sb[d] = db == 1 ? 0 : sb;
    sa *= (uint32_t)da;
    sb *= (uint32_t)db;
  }
  return tern_vk_run_1d(dev, "matmul", 3, io, &pc, sizeof pc, cnt, err);
}

static tern_status mm_prepare(tern_device *dev, tern_vk_node *n,
                              tern_err *err) {
  n->run = mm_run;
  tern_status s = tern_vk_upload_const(dev, n, 0, err);
  return s ? s : tern_vk_upload_const(dev, n, 1, err);
}

const tern_vk_op_impl tern_vk_op_matmul = {mm_supports, mm_prepare};
