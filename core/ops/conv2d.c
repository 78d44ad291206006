/* conv2d.c — 2-D convolution (NCHW) with f32, int8 or ternary weights, groups
 * (depthwise when groups == C), stride, symmetric padding, dilation, optional
 * bias and the fused activation. Reference semantics in docs/OPS.md:
 *   f32:        y = act(sum over (c in group, kh, kw) of x*w, skipping padded
 *               taps, then + bias)
 *   i8/ternary: sample n quantized as one block by the activation rule,
 *               int32 sum in the same order, y = act(tern_q_epilogue(...)). */
#include "op_common.h"

#include <string.h>

/* Largest reduction length whose int32 sum cannot overflow: each product is
 * at most 127*127 (i8) or 127 (ternary) in magnitude. */
static int64_t max_k(tern_dtype d) {
  return d == TERN_DTYPE_I8 ? INT32_MAX / (127 * 127) : INT32_MAX / 127;
}

typedef struct conv_geom {
  int64_t N, C, H, W, OC, KH, KW, OH, OW, G;
  int64_t sh, sw, ph, pw, dh, dw;
} conv_geom;

static tern_status conv_geometry(const tern_op_params *p, const tern_view *x,
                                 const tern_view *w, conv_geom *g,
                                 tern_err *err) {
  char a[96], b[96];
  tern_shape_str(x->ndim, x->shape, a, sizeof a);
  tern_shape_str(w->ndim, w->shape, b, sizeof b);
  if (x->ndim != 4)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "conv2d: input %s must be 4-D [N, C, H, W]", a);
  if (w->ndim != 4)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "conv2d: weight %s must be 4-D [OC, C/groups, KH, KW]",
                        b);
  if (p->stride[0] < 0 || p->stride[1] < 0 || p->pad[0] < 0 || p->pad[1] < 0 ||
      p->dilation[0] < 0 || p->dilation[1] < 0 || p->groups < 0)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "conv2d: negative stride (%d, %d), pad (%d, %d), "
                        "dilation (%d, %d) or groups %d",
                        p->stride[0], p->stride[1], p->pad[0], p->pad[1],
                        p->dilation[0], p->dilation[1], p->groups);
  g->N = x->shape[0];
  g->C = x->shape[1];
  g->H = x->shape[2];
  g->W = x->shape[3];
  g->OC = w->shape[0];
  g->KH = w->shape[2];
  g->KW = w->shape[3];
  g->G = p->groups ? p->groups : 1;
  g->sh = p->stride[0] ? p->stride[0] : 1;
  g->sw = p->stride[1] ? p->stride[1] : 1;
  g->ph = p->pad[0];
  g->pw = p->pad[1];
  g->dh = p->dilation[0] ? p->dilation[0] : 1;
  g->dw = p->dilation[1] ? p->dilation[1] : 1;
  if (g->C % g->G || g->OC % g->G)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "conv2d: groups %lld must divide the input channels "
                        "of %s and the output channels of weight %s",
                        (long long)g->G, a, b);
  if (w->shape[1] != g->C / g->G)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "conv2d: weight %s has %lld input channels per group, "
                        "input %s with groups %lld needs %lld",
                        b, (long long)w->shape[1], a, (long long)g->G,
                        (long long)(g->C / g->G));
  if (g->KH < 1 || g->KW < 1 || g->OC < 1)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "conv2d: weight %s has an empty kernel", b);
  if (g->KH - 1 > (INT64_MAX / 4) / g->dh ||
      g->KW - 1 > (INT64_MAX / 4) / g->dw)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "conv2d: dilation (%lld, %lld) times kernel %s "
                        "overflows",
                        (long long)g->dh, (long long)g->dw, b);
  int64_t eh = g->dh * (g->KH - 1) + 1, ew = g->dw * (g->KW - 1) + 1;
  if (g->H + 2 * g->ph < eh || g->W + 2 * g->pw < ew)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "conv2d: padded input %s (pad %lld, %lld) is smaller "
                        "than the dilated kernel %lldx%lld of weight %s",
                        a, (long long)g->ph, (long long)g->pw, (long long)eh,
                        (long long)ew, b);
  g->OH = (g->H + 2 * g->ph - eh) / g->sh + 1;
  g->OW = (g->W + 2 * g->pw - ew) / g->sw + 1;
  return TERN_OK;
}

tern_status tern_infer_CONV2D(const tern_op_params *p, const tern_view *in,
                              int n_in, tern_view *out, tern_err *err) {
  tern_status s = tern_op_check_arity("conv2d", n_in, 2, 3, err);
  if (!s)
    s = tern_op_check_f32("conv2d", in, 0, 1, err);
  if (!s)
    s = tern_op_check_shape("conv2d", &in[1], 1, err);
  if (s)
    return s;
  const tern_view *x = &in[0], *w = &in[1];
  conv_geom g;
  if ((s = conv_geometry(p, x, w, &g, err)))
    return s;
  if ((s = tern_check_weight(w, "conv2d", err)))
    return s;
  int64_t K = w->shape[1] * g.KH * g.KW;
  if (w->dtype != TERN_DTYPE_F32 && K > max_k(w->dtype))
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "conv2d: %s weights with %lld taps per output exceed "
                        "the exact int32 limit of %lld",
                        tern_op_dtype_str(w->dtype), (long long)K,
                        (long long)max_k(w->dtype));
  if (n_in > 2) {
    const tern_view *bias = &in[2];
    char a[96];
    if (bias->dtype != TERN_DTYPE_F32 || bias->ndim != 1 ||
        bias->shape[0] != g.OC)
      return tern_err_set(err, TERN_ERR_SHAPE,
                          "conv2d: bias must be f32 [%lld], got %s %s",
                          (long long)g.OC, tern_op_dtype_str(bias->dtype),
                          tern_shape_str(bias->ndim, bias->shape, a, sizeof a));
  }
  if (p->activation < 0 || p->activation >= TERN_ACT_COUNT_)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "conv2d: unknown activation %d", p->activation);
  int64_t shape[4] = {g.N, g.OC, g.OH, g.OW};
  tern_op_out_init(out, 4, shape);
  return TERN_OK;
}

/* Weight code (oc, k) of a quantized weight with K columns per row. */
static inline int32_t qweight(const tern_view *w, int64_t oc, int64_t k,
                              int64_t K) {
  if (w->dtype == TERN_DTYPE_I8)
    return ((const int8_t *)w->data)[oc * K + k];
  const uint8_t *row = (const uint8_t *)w->data + oc * ((K + 3) / 4);
  return tern_ternary_get(row, k) - 1;
}

tern_status tern_ref_CONV2D(const tern_op_params *p, const tern_view *in,
                            int n_in, tern_view *out, tern_err *err) {
  const tern_view *x = &in[0], *w = &in[1];
  const float *bias = n_in > 2 ? in[2].data : NULL;
  conv_geom g;
  tern_status s = conv_geometry(p, x, w, &g, err);
  if (s)
    return s;
  tern_activation act = (tern_activation)p->activation;
  int64_t Cg = g.C / g.G, OCg = g.OC / g.G, K = Cg * g.KH * g.KW;
  int64_t chw = g.C * g.H * g.W;
  bool quant = w->dtype != TERN_DTYPE_F32;
  int8_t *qx = NULL;
  if (quant && !(qx = tern_malloc((size_t)(chw ? chw : 1))))
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "conv2d: out of memory");
  const float *xd = x->data, *wf = w->data;
  float *yd = out->data;
  for (int64_t n = 0; n < g.N; n++) {
    const float *xn = xd + n * chw;
    float xs = 1.0f;
    if (quant)
      tern_act_quantize_row(xn, chw, qx, &xs);
    for (int64_t oc = 0; oc < g.OC; oc++) {
      int64_t c0 = (oc / OCg) * Cg; /* first input channel of the group */
      float b = bias ? bias[oc] : 0.0f;
      float ws = quant ? w->scales[w->scale_count == 1 ? 0 : oc] : 0.0f;
      for (int64_t oh = 0; oh < g.OH; oh++)
        for (int64_t ow = 0; ow < g.OW; ow++) {
          float facc = 0.0f;
          int32_t iacc = 0;
          for (int64_t c = 0; c < Cg; c++)
            for (int64_t kh = 0; kh < g.KH; kh++) {
              int64_t ih = oh * g.sh - g.ph + kh * g.dh;
              if (ih < 0 || ih >= g.H)
                continue; /* padding: contributes nothing */
              for (int64_t kw = 0; kw < g.KW; kw++) {
                int64_t iw = ow * g.sw - g.pw + kw * g.dw;
                if (iw < 0 || iw >= g.W)
                  continue;
                int64_t xi = ((c0 + c) * g.H + ih) * g.W + iw;
                int64_t k = (c * g.KH + kh) * g.KW + kw;
                if (quant)
                  iacc += (int32_t)qx[xi] * qweight(w, oc, k, K);
                else
                  facc += xn[xi] * wf[oc * K + k];
              }
            }
          float v = quant ? tern_q_epilogue(iacc, ws, xs, b)
                          : (bias ? facc + b : facc);
          yd[((n * g.OC + oc) * g.OH + oh) * g.OW + ow] =
              tern_apply_activation(act, v);
        }
    }
  }
  tern_free(qx);
  return TERN_OK;
}
