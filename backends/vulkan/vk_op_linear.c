/* vk_op_linear.c — linear on Vulkan: f32 weights through fgemm; int8 and
 * ternary through the activation-rule pass (act_quant.comp) and an integer
 * GEMM (qgemm_swar / qgemm_dot), bit-identical to tern_ref_LINEAR. */
#include "vk_gemm.h"

#include <stdio.h>

typedef struct lin_data {
  tern_vk_gemm g;
  uint32_t M, K, stride; /* stride: xq row in int32 elements or words */
  uint32_t Mc;           /* rows per pass: the scratch fits one texel view */
  bool quant, packed;
  tern_vk_mem *xq, *xs, *xsum;
  tern_vk_binding xq_tb; /* xq (or the padded f32 x) as a texel buffer */
} lin_data;

/* The act_quant pipeline for this device's tiers. */
tern_status tern_vk_act_quant(tern_device *dev, bool packed, tern_vk_binding x,
                              uint32_t blocks, uint32_t cols, uint32_t stride,
                              tern_vk_binding xq, tern_vk_binding xs,
                              tern_vk_binding xsum, tern_err *err);
tern_status tern_vk_act_quant(tern_device *dev, bool packed, tern_vk_binding x,
                              uint32_t blocks, uint32_t cols, uint32_t stride,
                              tern_vk_binding xq, tern_vk_binding xs,
                              tern_vk_binding xsum, tern_err *err) {
  bool sg = (dev->tiers & TERN_VK_TIER_SUBGROUP) != 0;
  /* rows that start on a texel can be read four floats per fetch */
  uint64_t abs_word = x.offset / 4 + x.word;
  bool tx = x.fview && abs_word % 4 == 0 && cols % 4 == 0;
  if (tx) { /* the view spans the whole buffer: absolute offsets */
    x.view = x.fview;
    x.offset = 0;
    x.word = (uint32_t)abs_word;
  }
  char name[40];
  snprintf(name, sizeof name, "act_quant%s%s%s", packed ? "_packed" : "",
           sg ? "_sg" : "", tx ? "_tx" : "");
  uint32_t spec[1] = {dev->tune.wg_size};
  const tern_vk_pipeline *pipe;
  tern_status s =
      tern_vk_pipeline_get_ex(dev, name, 4, tx ? 1 : 0, spec, 1, &pipe, err);
  if (s)
    return s;
  struct {
    uint32_t x_off, blocks, cols, stride, xq_off;
  } pc = {x.word, blocks, cols, stride, xq.word};
  tern_vk_binding b[4] = {x, xq, xs, xsum};
  uint32_t gx, gy;
  tern_vk_grid(dev, blocks, &gx, &gy);
  return tern_vk_dispatch(dev, pipe, b, &pc, sizeof pc, gx, gy, 1, err);
}

static bool lin_supports(tern_device *dev, const tern_exec_node *n) {
  const tern_view *x = &n->in[0], *w = &n->in[1];
  if (!n->in_const[1] || w->ndim != 2 || x->dtype != TERN_DTYPE_F32)
    return false;
  if (n->n_inputs > 2 && !n->in_const[2])
    return false;
  if (w->dtype != TERN_DTYPE_F32 && w->dtype != TERN_DTYPE_I8 &&
      w->dtype != TERN_DTYPE_TERNARY)
    return false;
  int64_t K = w->shape[1], N = w->shape[0];
  if (K <= 0 || N <= 0 || K > (1 << 24) || N > (1 << 24))
    return false;
  int64_t M = tern_view_numel(x) / K;
  /* x is quantized (or padded) into scratch a block of rows at a time; one
   * row must fit a texel view */
  uint64_t row_bytes = (uint64_t)(K + 32) * 4;
  if (row_bytes > dev->limits.maxStorageBufferRange ||
      row_bytes / 16 > dev->limits.maxTexelBufferElements)
    return false;
  return (uint64_t)M < ((uint64_t)1 << 31);
}

static tern_status lin_run(tern_device *dev, tern_vk_node *n,
                           tern_vk_binding *io, tern_err *err) {
  lin_data *d = n->data;
  uint32_t act = (uint32_t)n->node.params.activation;
  uint32_t N = d->g.N;
  tern_status s = TERN_OK;
  for (uint32_t m0 = 0; m0 < d->M && !s; m0 += d->Mc) {
    uint32_t mc = d->M - m0 < d->Mc ? d->M - m0 : d->Mc;
    tern_vk_binding x = io[0], out = io[n->node.n_inputs];
    x.word += m0 * d->K;
    out.word += m0 * N;
    if (!d->quant) {
      /* x into rows padded to Kp (the padding stays zero), read as texels */
      tern_vk_binding b[2] = {x, tern_vk_bind(dev, d->xq, 0)};
      bool tx = tern_vk_texel1(&b[0]);
      struct {
        uint32_t n, inner, out_inner, off, x_off, y_off;
      } pc = {mc * d->K, d->K, d->g.Kp, 0, b[0].word, 0};
      s = tern_vk_run_1d_ex(dev, tx ? "copy_region_tx" : "copy_region", 2,
                            tx ? 1 : 0, b, &pc, sizeof pc, (uint64_t)mc * d->K,
                            err);
      if (!s)
        s = tern_vk_gemm_run(dev, &d->g, d->xq_tb, d->g.Kp, x, x, mc, 1, out,
                             act, err);
      continue;
    }
    tern_vk_binding xq = tern_vk_bind(dev, d->xq, 0);
    tern_vk_binding xs = tern_vk_bind(dev, d->xs, 0);
    tern_vk_binding xsum = tern_vk_bind(dev, d->xsum, 0);
    s = tern_vk_act_quant(dev, d->packed, x, mc, d->K, d->stride, xq, xs, xsum,
                          err);
    if (!s)
      s = tern_vk_gemm_run(dev, &d->g, d->xq_tb, d->stride, xs, xsum, mc, 1,
                           out, act, err);
  }
  return s;
}

static tern_status lin_prepare(tern_device *dev, tern_vk_node *n,
                               tern_err *err) {
  const tern_exec_node *e = &n->node;
  const tern_view *w = &e->in[1];
  lin_data *d = tern_calloc(1, sizeof *d);
  if (!d)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  n->data = d;
  n->run = lin_run;
  tern_status s;
  if (e->in_const[0] && (s = tern_vk_upload_const(dev, n, 0, err)))
    return s;
  d->K = (uint32_t)w->shape[1];
  uint32_t N = (uint32_t)w->shape[0];
  d->M = (uint32_t)(tern_view_numel(&e->in[0]) / d->K);
  if ((s = tern_vk_gemm_prepare(dev, n, w, N, d->K, 0, N, d->M, &d->g, err)))
    return s;
  if ((s = tern_vk_gemm_scales(dev, n, w, e->n_inputs > 2 ? 2 : -1, &d->g,
                               err)))
    return s;
  d->quant = w->dtype != TERN_DTYPE_F32;
  /* rows per pass: all of them unless the scratch would pass a limit */
  uint64_t row_bytes = d->quant ? d->g.Kp : (uint64_t)d->g.Kp * 4;
  uint64_t lim = dev->limits.maxStorageBufferRange;
  if ((uint64_t)dev->limits.maxTexelBufferElements * 16 < lim)
    lim = (uint64_t)dev->limits.maxTexelBufferElements * 16;
  uint64_t mc = lim / row_bytes;
  d->Mc = mc >= d->M ? (d->M ? d->M : 1) : (uint32_t)mc;
  if (!d->quant) {
    size_t bytes = (size_t)d->Mc * d->g.Kp * 4;
    void *zeros = tern_calloc(1, bytes);
    if (!zeros)
      return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
    d->xq = tern_vk_node_scratch(dev, n, bytes, err);
    s = d->xq ? tern_vk_mem_write(dev, d->xq, 0, zeros, bytes, err)
              : err->status;
    tern_free(zeros);
    return s ? s : tern_vk_node_texel_f32(dev, n, d->xq, &d->xq_tb, err);
  }
  snprintf(n->tuning, sizeof n->tuning, "gemm_wg=%u gemm_tm=%u", d->g.wg,
           d->g.tm);
  d->packed = true; /* every integer kernel reads 4 int8 per word */
  d->stride = d->g.Kp / 4;
  size_t rows = d->Mc;
  d->xq = tern_vk_node_scratch(dev, n, rows * d->stride * 4, err);
  d->xs = d->xq ? tern_vk_node_scratch(dev, n, rows * 4, err) : NULL;
  d->xsum = d->xs ? tern_vk_node_scratch(dev, n, rows * 4, err) : NULL;
  if (!d->xsum)
    return err->status;
  return tern_vk_node_texel(dev, n, d->xq, &d->xq_tb, err);
}

const tern_vk_op_impl tern_vk_op_linear = {lin_supports, lin_prepare};
