/* vk_op_conv2d.c — conv2d on Vulkan as im2col + GEMM per group. Quantized
 * weights: the activation rule per sample (act_quant.comp, one block =
 * C*H*W), im2col of the int8 codes with the per-row sum (ternary offset),
 * then the integer GEMM with R = OH*OW so that row m uses the scale of
 * sample m / R and lands in NCHW. Bit-identical to tern_ref_CONV2D (an int32
 * sum does not depend on order; padding taps are zeros).
 * Depthwise layers (groups == C > 1, OC = mult * C) skip the per-group
 * dispatches: the same act_quant, then dwconv.comp computes every output
 * element of every channel and sample in one dispatch, visiting the taps in
 * the reference's order (TERN_VK_NO_DWCONV=1: the im2col + GEMM path). */
#include "vk_gemm.h"

#include <stdio.h>
#include <string.h>

typedef struct conv_data {
  uint32_t N, C, H, W, OC, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, G;
  uint32_t ICg, OCg, Kc, stride;
  uint32_t col_wg; /* im2col (or dwconv) workgroup size (tunable "conv") */
  bool quant;
  bool dw_xtx;         /* dwconv reads xq through xq_t1 (else as a buffer) */
  tern_vk_binding w_t; /* dwconv: weights, one value per R32 texel */
  tern_vk_gemm *g;     /* one per group (dw: one, for the scales and bias) */
  tern_vk_mem *xq, *xs, *xsum, *col, *rsum;
  tern_vk_binding col_tb; /* col as a texel buffer for the integer GEMM */
  tern_vk_binding xq_t1;  /* xq as R32_SINT texels for im2col */
} conv_data;

tern_status tern_vk_act_quant(tern_device *dev, bool packed, tern_vk_binding x,
                              uint32_t blocks, uint32_t cols, uint32_t stride,
                              tern_vk_binding xq, tern_vk_binding xs,
                              tern_vk_binding xsum, tern_err *err);

static uint32_t or1(int32_t v) {
  return v > 0 ? (uint32_t)v : 1;
}

/* Whether node is depthwise (one input channel per group, groups > 1) and
 * fits the direct kernel: its weights in one R32 texel view, its outputs
 * counted in 31 bits. */
bool tern_vk_conv_dw_direct(const tern_device *dev, const tern_exec_node *n) {
  const tern_view *x = &n->in[0], *w = &n->in[1];
  uint64_t G = or1(n->params.groups);
  if (G < 2 || (uint64_t)x->shape[1] != G || w->shape[1] != 1 ||
      tern_vk_env_on("TERN_VK_NO_DWCONV"))
    return false;
  uint64_t wcount = (uint64_t)w->shape[0] * w->shape[2] * w->shape[3];
  uint64_t total = (uint64_t)tern_view_numel(&n->out);
  return wcount * 4 <= dev->limits.maxStorageBufferRange &&
         wcount <= dev->limits.maxTexelBufferElements &&
         total < ((uint64_t)1 << 31) &&
         (uint64_t)tern_view_numel(x) * 4 <= dev->limits.maxStorageBufferRange;
}

static bool conv_supports(tern_device *dev, const tern_exec_node *n) {
  const tern_view *x = &n->in[0], *w = &n->in[1];
  if (!n->in_const[1] || x->ndim != 4 || w->ndim != 4 ||
      (n->n_inputs > 2 && !n->in_const[2]))
    return false;
  if (w->dtype != TERN_DTYPE_F32 && w->dtype != TERN_DTYPE_I8 &&
      w->dtype != TERN_DTYPE_TERNARY)
    return false;
  if (tern_vk_conv_dw_direct(dev, n))
    return true;
  uint64_t G = or1(n->params.groups);
  if (G > 4096)
    return false;
  uint64_t rows = (uint64_t)n->out.shape[0] * n->out.shape[2] * n->out.shape[3];
  uint64_t Kc = (uint64_t)w->shape[1] * w->shape[2] * w->shape[3];
  uint64_t col_bytes = rows * (Kc + 32) * 4;
  uint64_t lim = dev->limits.maxStorageBufferRange;
  if (rows * (Kc + 32) / 4 > dev->limits.maxTexelBufferElements)
    return false;
  return col_bytes <= lim && rows < ((uint64_t)1 << 31);
}

static tern_status conv_run_dw(tern_device *dev, tern_vk_node *n,
                               tern_vk_binding *io, tern_err *err) {
  conv_data *d = n->data;
  const tern_vk_gemm *g = &d->g[0];
  tern_vk_binding out = io[n->node.n_inputs];
  tern_vk_binding x = io[0], bias = tern_vk_bind(dev, g->bias, 0);
  tern_vk_binding xs = bias;
  bool tx;
  tern_status s;
  const char *name;
  if (d->quant) {
    tern_vk_binding xq = tern_vk_bind(dev, d->xq, 0);
    xs = tern_vk_bind(dev, d->xs, 0);
    s = tern_vk_act_quant(dev, false, io[0], d->N, d->C * d->H * d->W,
                          d->C * d->H * d->W, xq, xs,
                          tern_vk_bind(dev, d->xsum, 0), err);
    if (s)
      return s;
    tx = d->dw_xtx;
    x = tx ? d->xq_t1 : xq;
    name = tx ? "dwconv_tx" : "dwconv";
  } else {
    tx = tern_vk_texel1(&x);
    name = tx ? "dwconv_f32_tx" : "dwconv_f32";
  }
  struct {
    uint32_t total, C, H, W, OC, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, mult,
        x_off, xs_off, y_off, ws_per_tensor, has_bias, act;
  } pc = {d->N * d->OC * d->OH * d->OW,
          d->C,
          d->H,
          d->W,
          d->OC,
          d->OH,
          d->OW,
          d->KH,
          d->KW,
          d->sh,
          d->sw,
          d->ph,
          d->pw,
          d->dh,
          d->dw,
          d->OCg,
          x.word,
          xs.word,
          out.word,
          g->ws_per_tensor,
          g->has_bias,
          (uint32_t)n->node.params.activation};
  tern_vk_binding b[6] = {x,    d->w_t, tern_vk_bind(dev, g->ws, 0),
                          bias, xs,     out};
  return tern_vk_run_1d_cfg(dev, name, 6, tx ? 3u : 2u, b, &pc, sizeof pc,
                            pc.total, d->col_wg, 1, err);
}

static tern_status conv_run(tern_device *dev, tern_vk_node *n,
                            tern_vk_binding *io, tern_err *err) {
  conv_data *d = n->data;
  tern_vk_binding out = io[n->node.n_inputs];
  uint32_t act = (uint32_t)n->node.params.activation;
  uint32_t rows = d->N * d->OH * d->OW;
  tern_vk_binding col = tern_vk_bind(dev, d->col, 0);
  tern_vk_binding rsum = tern_vk_bind(dev, d->rsum, 0);
  tern_vk_binding src = io[0], xs = io[0];
  tern_status s;
  bool tx;
  if (d->quant) {
    xs = tern_vk_bind(dev, d->xs, 0);
    s = tern_vk_act_quant(dev, false, io[0], d->N, d->C * d->H * d->W,
                          d->C * d->H * d->W, tern_vk_bind(dev, d->xq, 0), xs,
                          tern_vk_bind(dev, d->xsum, 0), err);
    if (s)
      return s;
    src = d->xq_t1; /* element-wise texel reads of the int8 codes */
    tx = true;
  } else {
    tx = tern_vk_texel1(&src);
  }
  const char *im2col =
      !d->quant ? (tx ? "im2col_f32_tx" : "im2col_f32") : "im2col_packed_tx";
  for (uint32_t g = 0; g < d->G; g++) {
    struct {
      uint32_t C, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, ICg, c0, Kc,
          stride, rows, x_off;
    } pc = {d->C,       d->H,  d->W,      d->OH, d->OW,   d->KH, d->KW,
            d->sh,      d->sw, d->ph,     d->pw, d->dh,   d->dw, d->ICg,
            g * d->ICg, d->Kc, d->stride, rows,  src.word};
    tern_vk_binding b[3] = {src, col, rsum};
    if ((s = tern_vk_run_1d_cfg(dev, im2col, 3, tx ? 1 : 0, b, &pc, sizeof pc,
                                rows, d->col_wg, 1, err)))
      return s;
    if ((s = tern_vk_gemm_run(dev, &d->g[g], d->col_tb, d->stride, xs, rsum,
                              rows, d->OH * d->OW, out, act, err)))
      return s;
  }
  return TERN_OK;
}

/* The depthwise kernel's data: weights as one int32 q (or f32) per tap,
 * the scales and bias through a tern_vk_gemm (no GEMM is prepared), the
 * quantized sample buffers of act_quant. */
static tern_status conv_prepare_dw(tern_device *dev, tern_vk_node *n,
                                   conv_data *d, tern_err *err) {
  const tern_exec_node *e = &n->node;
  const tern_view *w = &e->in[1];
  tern_status s;
  d->quant = w->dtype != TERN_DTYPE_F32;
  n->run = conv_run_dw;
  conv_data *nd = tern_realloc(d, sizeof *d + sizeof(tern_vk_gemm));
  if (!nd)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  d = nd;
  n->data = d;
  d->g = (tern_vk_gemm *)(d + 1);
  memset(d->g, 0, sizeof(tern_vk_gemm));
  if ((s = tern_vk_gemm_scales(dev, n, w, e->n_inputs > 2 ? 2 : -1, &d->g[0],
                               err)))
    return s;
  uint32_t K = d->KH * d->KW;
  size_t count = (size_t)d->OC * K;
  uint32_t *host = tern_malloc(count * 4);
  if (!host)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY,
                        "out of memory repacking depthwise weights");
  if (w->dtype == TERN_DTYPE_F32)
    memcpy(host, w->data, count * 4);
  for (uint32_t oc = 0; d->quant && oc < d->OC; oc++)
    for (uint32_t k = 0; k < K; k++) {
      int32_t q;
      if (w->dtype == TERN_DTYPE_I8)
        q = ((const int8_t *)w->data)[(size_t)oc * K + k];
      else
        q = tern_ternary_get(
                (const uint8_t *)w->data + (size_t)oc * ((K + 3) / 4), k) -
            1;
      host[(size_t)oc * K + k] = (uint32_t)q;
    }
  tern_vk_mem *wm = tern_vk_node_scratch(dev, n, count * 4, err);
  s = wm ? tern_vk_mem_write(dev, wm, 0, host, count * 4, err) : err->status;
  tern_free(host);
  if (s ||
      (s = tern_vk_node_view(
           dev, n, wm, d->quant ? VK_FORMAT_R32_SINT : VK_FORMAT_R32_SFLOAT,
           &d->w_t, err)))
    return s;
  snprintf(n->tuning, sizeof n->tuning, "col_wg=%u", d->col_wg);
  if (!d->quant)
    return TERN_OK;
  size_t chw = (size_t)d->C * d->H * d->W;
  if (!(d->xq = tern_vk_node_scratch(dev, n, d->N * chw * 4, err)) ||
      !(d->xs = tern_vk_node_scratch(dev, n, d->N * 4, err)) ||
      !(d->xsum = tern_vk_node_scratch(dev, n, d->N * 4, err)))
    return err->status;
  /* texel reads of the codes where the device's texel buffers hold them */
  d->dw_xtx = d->N * chw <= dev->limits.maxTexelBufferElements;
  if (!d->dw_xtx)
    return TERN_OK;
  return tern_vk_node_view(dev, n, d->xq, VK_FORMAT_R32_SINT, &d->xq_t1, err);
}

static tern_status conv_prepare(tern_device *dev, tern_vk_node *n,
                                tern_err *err) {
  const tern_exec_node *e = &n->node;
  const tern_view *x = &e->in[0], *w = &e->in[1];
  conv_data *d = tern_calloc(1, sizeof *d);
  if (!d)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  n->data = d;
  n->run = conv_run;
  tern_status s;
  if (e->in_const[0] && (s = tern_vk_upload_const(dev, n, 0, err)))
    return s;
  const tern_op_params *p = &e->params;
  d->N = (uint32_t)x->shape[0];
  d->C = (uint32_t)x->shape[1];
  d->H = (uint32_t)x->shape[2];
  d->W = (uint32_t)x->shape[3];
  d->OC = (uint32_t)w->shape[0];
  d->KH = (uint32_t)w->shape[2];
  d->KW = (uint32_t)w->shape[3];
  d->OH = (uint32_t)e->out.shape[2];
  d->OW = (uint32_t)e->out.shape[3];
  d->sh = or1(p->stride[0]);
  d->sw = or1(p->stride[1]);
  d->ph = (uint32_t)p->pad[0];
  d->pw = (uint32_t)p->pad[1];
  d->dh = or1(p->dilation[0]);
  d->dw = or1(p->dilation[1]);
  d->G = or1(p->groups);
  d->ICg = d->C / d->G;
  d->OCg = d->OC / d->G;
  d->Kc = d->ICg * d->KH * d->KW;
  d->col_wg = dev->tune.col_wg;
  if (tern_vk_conv_dw_direct(dev, e))
    return conv_prepare_dw(dev, n, d, err);
  uint32_t rows = d->N * d->OH * d->OW;
  /* A gemm per group over the group's weight rows (allocated in n->data's
   * tail so that node_release frees it with the rest). */
  conv_data *nd = tern_realloc(d, sizeof *d + d->G * sizeof(tern_vk_gemm));
  if (!nd)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  d = nd;
  n->data = d;
  d->g = (tern_vk_gemm *)(d + 1);
  memset(d->g, 0, d->G * sizeof(tern_vk_gemm));
  for (uint32_t g = 0; g < d->G; g++) {
    if ((s = tern_vk_gemm_prepare(dev, n, w, d->OC, d->Kc, g * d->OCg, d->OCg,
                                  rows, &d->g[g], err)))
      return s;
    if (g == 0) {
      if ((s = tern_vk_gemm_scales(dev, n, w, e->n_inputs > 2 ? 2 : -1,
                                   &d->g[0], err)))
        return s;
    } else {
      d->g[g].ws = d->g[0].ws;
      d->g[g].bias = d->g[0].bias;
      d->g[g].ws_per_tensor = d->g[0].ws_per_tensor;
      d->g[g].has_bias = d->g[0].has_bias;
    }
  }
  d->quant = w->dtype != TERN_DTYPE_F32;
  if (d->quant)
    snprintf(n->tuning, sizeof n->tuning, "gemm_wg=%u gemm_tm=%u col_wg=%u",
             d->g[0].wg, d->g[0].tm, d->col_wg);
  /* f32: rows padded to Kp (multiple of 4) floats; integer: Kp/4 words */
  d->stride = !d->quant ? d->g[0].Kp : d->g[0].Kp / 4;
  if (!(d->col =
            tern_vk_node_scratch(dev, n, (size_t)rows * d->stride * 4, err)) ||
      !(d->rsum = tern_vk_node_scratch(dev, n, (size_t)rows * 4, err)))
    return err->status;
  if (!d->quant)
    return tern_vk_node_texel_f32(dev, n, d->col, &d->col_tb, err);
  if ((s = tern_vk_node_texel(dev, n, d->col, &d->col_tb, err)))
    return s;
  size_t chw = (size_t)d->C * d->H * d->W;
  if (!(d->xq = tern_vk_node_scratch(dev, n, d->N * chw * 4, err)) ||
      !(d->xs = tern_vk_node_scratch(dev, n, d->N * 4, err)) ||
      !(d->xsum = tern_vk_node_scratch(dev, n, d->N * 4, err)))
    return err->status;
  return tern_vk_node_view(dev, n, d->xq, VK_FORMAT_R32_SINT, &d->xq_t1, err);
}

const tern_vk_op_impl tern_vk_op_conv2d = {conv_supports, conv_prepare};
