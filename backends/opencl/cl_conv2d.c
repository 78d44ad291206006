/* cl_conv2d.c — conv2d on OpenCL (NCHW). Quantized weights: the per-sample
 * activation rule, then im2col + the int8 GEMM (groups == 1) or a direct
 * kernel (grouped/depthwise); bit-exact with the reference. f32 weights:
 * im2col + CLBlast SGEMM per sample (groups == 1) or the direct kernel. */
#include "backends/opencl/cl_linear.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  MODE_F32_DIRECT,
  MODE_F32_GEMM,
  MODE_Q_DIRECT,
  MODE_Q_GEMM,
  MODE_Q_TGEMM,
  MODE_F32_PANEL
};
/* dim[]: N, Kc, Np (OC padded for qgemm.cl), Kpx, has_bias */
enum { D_N, D_KC, D_NP, D_KPX, D_HAS_BIAS, D_KPC };

typedef struct conv_shape {
  cl_uint C, H, W, OC, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, G;
} conv_shape;

static int def1(int v) {
  return v ? v : 1;
}

static conv_shape shape_of(const tern_exec_node *node) {
  const tern_view *x = &node->in[0], *w = &node->in[1], *y = &node->out;
  const tern_op_params *pp = &node->params;
  conv_shape s = {(cl_uint)x->shape[1],
                  (cl_uint)x->shape[2],
                  (cl_uint)x->shape[3],
                  (cl_uint)y->shape[1],
                  (cl_uint)y->shape[2],
                  (cl_uint)y->shape[3],
                  (cl_uint)w->shape[2],
                  (cl_uint)w->shape[3],
                  (cl_uint)def1(pp->stride[0]),
                  (cl_uint)def1(pp->stride[1]),
                  (cl_uint)pp->pad[0],
                  (cl_uint)pp->pad[1],
                  (cl_uint)def1(pp->dilation[0]),
                  (cl_uint)def1(pp->dilation[1]),
                  (cl_uint)def1(pp->groups)};
  return s;
}

static bool conv_supports(tern_device *dev, const tern_exec_node *node) {
  const tern_view *x = &node->in[0], *w = &node->in[1];
  if (x->dtype != TERN_DTYPE_F32 || x->ndim != 4 || w->ndim != 4 ||
      node->out.ndim != 4 || !tern_cl_weight_ok(w))
    return false;
  /* weights and bias are uploaded once; the input comes from the session */
  if (node->in_const[0] || !node->in_const[1] ||
      (node->n_inputs > 2 && !node->in_const[2]))
    return false;
  const tern_op_params *pp = &node->params;
  if (pp->pad[0] < 0 || pp->pad[1] < 0 || pp->stride[0] < 0 ||
      pp->stride[1] < 0 || pp->dilation[0] < 0 || pp->dilation[1] < 0 ||
      pp->groups < 0)
    return false;
  return pp->activation >= 0 && pp->activation < TERN_ACT_COUNT_;
}

static tern_status conv_prepare(tern_device *dev, const tern_exec_node *node,
                                tern_cl_node *p, tern_err *err) {
  const tern_view *w = &node->in[1];
  conv_shape s = shape_of(node);
  int64_t N = node->in[0].shape[0];
  int64_t Kc = (int64_t)(s.C / s.G) * s.KH * s.KW;
  p->dim[D_N] = N;
  p->dim[D_KC] = Kc;
  p->dim[D_NP] = ((int64_t)s.OC + 31) / 32 * 32;
  p->dim[D_KPX] = (int64_t)s.C * s.H * s.W;
  p->dim[D_HAS_BIAS] = node->n_inputs > 2;
  char opts[128];
  snprintf(opts, sizeof opts, "-DACT=%d", node->params.activation);
  tern_status st;
  if (w->dtype == TERN_DTYPE_F32 && s.G == 1 && tern_cl_f32_panels(dev)) {
    /* im2col rows + sgemm_p (linear.cl), channel-major */
    p->mode = MODE_F32_PANEL;
    p->dim[D_NP] = ((int64_t)s.OC + 15) / 16 * 16;
    st = tern_cl_upload_f32_panels(dev, w->data,
                                   node->n_inputs > 2 ? node->in[2].data : NULL,
                                   s.OC, Kc, p->mem, err);
    char fopts[64];
    snprintf(fopts, sizeof fopts, "-DACT=%d -DOUT_CM", node->params.activation);
    if (!st)
      st = tern_cl_kernel(dev, "conv2d", "", "im2col_f32", &p->k[0], err);
    if (!st)
      st = tern_cl_kernel(dev, "linear", fopts, "sgemm_p", &p->k[1], err);
    return st;
  }
  if (w->dtype == TERN_DTYPE_F32) {
    st = tern_cl_upload(dev, w->data, (size_t)(s.OC * Kc) * sizeof(float),
                        &p->mem[0], err);
    if (!st)
      st = tern_cl_upload_bias(dev, node, 2, s.OC, &p->mem[1], err);
    if (st)
      return st;
    p->mode = dev->feat.clblast && s.G == 1 ? MODE_F32_GEMM : MODE_F32_DIRECT;
    if (p->mode == MODE_F32_DIRECT)
      return tern_cl_kernel(dev, "conv2d", opts, "conv_f32_direct", &p->k[0],
                            err);
    st = tern_cl_kernel(dev, "conv2d", opts, "im2col_f32", &p->k[0], err);
    if (!st)
      st = tern_cl_kernel(dev, "conv2d", opts, "cm_bias_act", &p->k[1], err);
    return st;
  }
  p->mode = s.G == 1 ? MODE_Q_GEMM : MODE_Q_DIRECT;
  const float *bias = node->n_inputs > 2 ? node->in[2].data : NULL;
  if (p->mode == MODE_Q_DIRECT) {
    st = tern_cl_upload_qweights(dev, w, s.OC, Kc, Kc, &p->mem[0], &p->mem[1],
                                 err);
    if (!st)
      st = tern_cl_upload_bias(dev, node, 2, s.OC, &p->mem[2], err);
    if (!st)
      st = tern_cl_quant_kernel(dev, false, &p->k[0], err);
    char dopts[64];
    snprintf(dopts, sizeof dopts, "-DACT=%d -DOWT=%d", node->params.activation,
             p->tune.conv_owt);
    if (!st)
      st = tern_cl_kernel(dev, "conv2d", dopts, "conv_q_direct", &p->k[1], err);
    return st;
  }
  p->dim[D_KPC] = Kc;
  char kopts[48];
  snprintf(kopts, sizeof kopts, "-DKT=%d", p->tune.conv_kt);
  if (!dev->gemm_dot4 && w->dtype == TERN_DTYPE_TERNARY) {
    /* byte codes, rows padded to 2 for tgemm.cl */
    p->mode = MODE_Q_TGEMM;
    p->dim[D_KPC] = (Kc + 1) / 2 * 2;
    st = tern_cl_upload_tgemm(dev, node, s.OC, Kc, p->dim[D_KPC], p->dim[D_NP],
                              p, err);
    if (!st)
      st = tern_cl_quant_kernel(dev, false, &p->k[0], err);
    if (!st)
      st = tern_cl_kernel(dev, "conv2d", kopts, "im2col_q", &p->k[1], err);
    if (!st)
      st = tern_cl_kernel(dev, "conv2d", "", "row_sums", &p->k[3], err);
    char topts[96];
    snprintf(topts, sizeof topts, "-DACT=%d -DBM=%d -DOUT_CM",
             node->params.activation, p->tune.bm);
    if (!st)
      st = tern_cl_kernel(dev, "tgemm", topts, "tgemm", &p->k[2], err);
    return st;
  }
  if (dev->gemm_dot4) { /* char codes, rows padded to 4 for qgemm_c4 */
    p->dim[D_KPC] = (Kc + 3) / 4 * 4;
    st = tern_cl_upload_qweights(dev, w, s.OC, Kc, p->dim[D_KPC], &p->mem[0],
                                 &p->mem[1], err);
    if (!st)
      st = tern_cl_upload_bias(dev, node, 2, s.OC, &p->mem[2], err);
    if (!st)
      st = tern_cl_quant_kernel(dev, false, &p->k[0], err);
    if (!st)
      st = tern_cl_kernel(dev, "conv2d", kopts, "im2col_q", &p->k[1], err);
    char copts[64];
    snprintf(copts, sizeof copts, "-DACT=%d -DOUT_CM", node->params.activation);
    if (!st)
      st = tern_cl_kernel(dev, "qgemm", copts, "qgemm_c4", &p->k[2], err);
    return st;
  }
  st = tern_cl_upload_panels(dev, w, bias, s.OC, Kc, p->dim[D_NP], p->mem, err);
  if (!st)
    st = tern_cl_quant_kernel(dev, true, &p->k[0], err);
  if (!st) {
    char sopts[64];
    snprintf(sopts, sizeof sopts, "-DCTYPE=short %s", kopts);
    st = tern_cl_kernel(dev, "conv2d", sopts, "im2col_q", &p->k[1], err);
  }
  if (!st)
    st = tern_cl_qgemm_kernel(dev, node->params.activation,
                              w->dtype == TERN_DTYPE_TERNARY, true, p->tune.bm,
                              &p->k[2], err);
  return st;
}

static tern_status conv_run(tern_device *dev, tern_cl_node *p,
                            tern_buffer *const *bufs, const size_t *offsets,
                            tern_err *err) {
  int n_in = p->node.n_inputs;
  cl_mem x = tern_cl_mem(bufs[0]), y = tern_cl_mem(bufs[n_in]);
  cl_uint x_off = tern_cl_off(offsets, 0, 4);
  cl_uint y_off = tern_cl_off(offsets, n_in, 4);
  conv_shape s = shape_of(&p->node);
  int64_t N = p->dim[D_N], Kc = p->dim[D_KC];
  int64_t P = (int64_t)s.OH * s.OW;
  size_t total = (size_t)(N * s.OC * P);
  tern_status st;
  if (p->mode == MODE_F32_DIRECT) {
    st = tern_cl_args(p->k[0], "conv_f32_direct", err, TERN_CL_MEM(x),
                      TERN_CL_UINT(x_off), TERN_CL_MEM(p->mem[0]),
                      TERN_CL_MEM(p->mem[1]), TERN_CL_UINT(p->dim[D_HAS_BIAS]),
                      TERN_CL_MEM(y), TERN_CL_UINT(y_off), TERN_CL_UINT(total),
                      sizeof s, (const void *)&s, TERN_CL_END);
    return st ? st
              : tern_cl_launch(dev, p->k[0], 1, &total, NULL, "conv_f32_direct",
                               err);
  }
  if (p->mode == MODE_F32_PANEL) {
    int64_t per_sample = P * Kc * 4, budget = (int64_t)32 << 20;
    const char *env = getenv("TERN_CL_IM2COL_BYTES");
    if (env && atoll(env) > 0)
      budget = atoll(env);
    int64_t chunk = per_sample ? budget / per_sample : N;
    chunk = chunk < 1 ? 1 : chunk > N ? N : chunk;
    cl_mem col;
    st = tern_cl_scratch(dev, 2, (size_t)(chunk * per_sample), &col, err);
    for (int64_t n0 = 0; !st && n0 < N; n0 += chunk) {
      int64_t nc = N - n0 < chunk ? N - n0 : chunk, Mc = nc * P;
      st = tern_cl_args(p->k[0], "im2col_f32", err, TERN_CL_MEM(x),
                        TERN_CL_UINT(x_off), TERN_CL_UINT(n0), TERN_CL_UINT(Mc),
                        TERN_CL_MEM(col), sizeof s, (const void *)&s,
                        TERN_CL_END);
      size_t g[2] = {(size_t)Kc, (size_t)Mc};
      if (!st)
        st = tern_cl_launch(dev, p->k[0], 2, g, NULL, "im2col_f32", err);
      if (!st)
        st = tern_cl_args(
            p->k[1], "sgemm_p", err, TERN_CL_MEM(col), TERN_CL_UINT(0),
            TERN_CL_MEM(p->mem[0]), TERN_CL_MEM(p->mem[1]),
            TERN_CL_UINT(p->dim[D_HAS_BIAS]), TERN_CL_MEM(y),
            TERN_CL_UINT(y_off + (cl_uint)(n0 * s.OC * P)), TERN_CL_UINT(Mc),
            TERN_CL_UINT(s.OC), TERN_CL_UINT(Kc), TERN_CL_UINT(P),
            TERN_CL_UINT((int64_t)s.OC * P), TERN_CL_END);
      size_t g2[2] = {(size_t)p->dim[D_NP] / 16, (size_t)(Mc + 31) / 32};
      size_t l2[2] = {1, 1};
      if (!st)
        st = tern_cl_launch(dev, p->k[1], 2, g2, l2, "sgemm_p", err);
    }
    return st;
  }
  if (p->mode == MODE_F32_GEMM) {
#ifdef TERN_HAVE_CLBLAST
    /* per chunk of samples: col[Mc][Kc], t[Mc][OC] = col · Wᵀ (CLBlast),
     * then bias, activation and the NCHW layout in one kernel */
    int64_t per_sample = P * (Kc + s.OC) * 4, budget = (int64_t)64 << 20;
    const char *env = getenv("TERN_CL_IM2COL_BYTES");
    if (env && atoll(env) > 0)
      budget = atoll(env);
    int64_t chunk = per_sample ? budget / per_sample : N;
    chunk = chunk < 1 ? 1 : chunk > N ? N : chunk;
    cl_mem col, t;
    st = tern_cl_scratch(dev, 2, (size_t)(chunk * P * Kc) * 4, &col, err);
    if (!st)
      st = tern_cl_scratch(dev, 4, (size_t)(chunk * P * s.OC) * 4, &t, err);
    for (int64_t n0 = 0; !st && n0 < N; n0 += chunk) {
      int64_t nc = N - n0 < chunk ? N - n0 : chunk, Mc = nc * P;
      st = tern_cl_args(p->k[0], "im2col_f32", err, TERN_CL_MEM(x),
                        TERN_CL_UINT(x_off), TERN_CL_UINT(n0), TERN_CL_UINT(Mc),
                        TERN_CL_MEM(col), sizeof s, (const void *)&s,
                        TERN_CL_END);
      size_t g[2] = {(size_t)Kc, (size_t)Mc};
      if (!st)
        st = tern_cl_launch(dev, p->k[0], 2, g, NULL, "im2col_f32", err);
      if (!st)
        st = tern_cl_sgemm_nt(dev, Mc, s.OC, Kc, col, 0, p->mem[0], 0, t, 0,
                              err);
      if (!st)
        st = tern_cl_args(
            p->k[1], "cm_bias_act", err, TERN_CL_MEM(t), TERN_CL_MEM(y),
            TERN_CL_UINT(y_off + (cl_uint)(n0 * s.OC * P)),
            TERN_CL_MEM(p->mem[1]), TERN_CL_UINT(p->dim[D_HAS_BIAS]),
            TERN_CL_UINT(Mc), TERN_CL_UINT(s.OC), TERN_CL_UINT(P), TERN_CL_END);
      size_t g2[2] = {(size_t)s.OC, (size_t)Mc};
      if (!st)
        st = tern_cl_launch(dev, p->k[1], 2, g2, NULL, "cm_bias_act", err);
    }
    return st;
#else
    return tern_err_set(err, TERN_ERR_INTERNAL,
                        "opencl: built without CLBlast");
#endif
  }
  cl_mem q, xs;
  int64_t Kpx = p->dim[D_KPX];
  bool direct = p->mode == MODE_Q_DIRECT;
  bool tg = p->mode == MODE_Q_TGEMM;
  size_t elem = direct || tg || dev->gemm_dot4 ? 1 : 2; /* char or short */
  st =
      tern_cl_quantize(dev, p->k[0], x, x_off, N, Kpx, Kpx, elem, &q, &xs, err);
  if (st)
    return st;
  if (direct) {
    /* OWT outputs of a row per work-item */
    int owt = p->tune.conv_owt;
    size_t items = (size_t)(N * s.OC * s.OH) * ((s.OW + owt - 1) / owt);
    st = tern_cl_args(p->k[1], "conv_q_direct", err, TERN_CL_MEM(q),
                      TERN_CL_UINT(Kpx), TERN_CL_MEM(xs),
                      TERN_CL_MEM(p->mem[0]), TERN_CL_UINT(Kc),
                      TERN_CL_MEM(p->mem[1]), TERN_CL_MEM(p->mem[2]),
                      TERN_CL_MEM(y), TERN_CL_UINT(y_off), TERN_CL_UINT(items),
                      sizeof s, (const void *)&s, TERN_CL_END);
    return st ? st
              : tern_cl_launch(dev, p->k[1], 1, &items, NULL, "conv_q_direct",
                               err);
  }
  /* im2col + GEMM in chunks of samples so the column buffer stays near
   * 32 MiB whatever the batch (TERN_CL_IM2COL_BYTES overrides, for tests) */
  int64_t Kpc = p->dim[D_KPC];
  int64_t per_sample = P * Kpc * (int64_t)elem, budget = (int64_t)32 << 20;
  const char *env = getenv("TERN_CL_IM2COL_BYTES");
  if (env && atoll(env) > 0)
    budget = atoll(env);
  int64_t chunk = per_sample ? budget / per_sample : N;
  if (chunk < 1)
    chunk = 1;
  if (chunk > N)
    chunk = N;
  cl_mem col;
  st = tern_cl_scratch(dev, 2, (size_t)(chunk * per_sample), &col, err);
  for (int64_t n0 = 0; !st && n0 < N; n0 += chunk) {
    int64_t nc = N - n0 < chunk ? N - n0 : chunk, Mc = nc * P;
    st =
        tern_cl_args(p->k[1], "im2col_q", err, TERN_CL_MEM(q),
                     TERN_CL_UINT(Kpx), TERN_CL_MEM(col), TERN_CL_UINT(Kpc),
                     TERN_CL_UINT(Kc), TERN_CL_UINT(0), TERN_CL_UINT(n0),
                     TERN_CL_UINT(Mc), sizeof s, (const void *)&s, TERN_CL_END);
    /* KT taps of a row per work-item */
    size_t g[2] = {(size_t)(Kpc + p->tune.conv_kt - 1) / p->tune.conv_kt,
                   (size_t)Mc};
    if (!st)
      st = tern_cl_launch(dev, p->k[1], 2, g, NULL, "im2col_q", err);
    /* output channel-major: y[n][oc][p], sample stride OC*P */
    if (!st && tg) {
      cl_mem sums;
      size_t gm = (size_t)Mc;
      st = tern_cl_scratch(dev, 3, (size_t)Mc * sizeof(cl_int), &sums, err);
      if (!st)
        st = tern_cl_args(p->k[3], "row_sums", err, TERN_CL_MEM(col),
                          TERN_CL_UINT(Kpc), TERN_CL_UINT(Mc),
                          TERN_CL_MEM(sums), TERN_CL_END);
      if (!st)
        st = tern_cl_launch1(dev, p->k[3], gm, "row_sums", err);
      if (!st)
        st = tern_cl_args(
            p->k[2], "tgemm", err, TERN_CL_MEM(col), TERN_CL_MEM(sums),
            TERN_CL_MEM(p->mem[0]), TERN_CL_MEM(xs), TERN_CL_MEM(p->mem[1]),
            TERN_CL_MEM(p->mem[2]), TERN_CL_MEM(y),
            TERN_CL_UINT(y_off + (cl_uint)(n0 * s.OC * P)), TERN_CL_UINT(Mc),
            TERN_CL_UINT(s.OC), TERN_CL_UINT(Kpc), TERN_CL_UINT(n0),
            TERN_CL_UINT(P), TERN_CL_UINT((int64_t)s.OC * P), TERN_CL_END);
      size_t g2[2] = {(size_t)p->dim[D_NP] / 32,
                      (size_t)(Mc + p->tune.bm - 1) / p->tune.bm};
      size_t l2[2] = {1, 1};
      if (!st)
        st = tern_cl_launch(dev, p->k[2], 2, g2, l2, "tgemm", err);
    } else if (!st && dev->gemm_dot4)
      st = tern_cl_qgemm_c4(dev, p->k[2], col, xs, (cl_uint)n0, p->mem, y,
                            y_off + (cl_uint)(n0 * s.OC * P), Mc, s.OC, Kpc, P,
                            (int64_t)s.OC * P, err);
    else if (!st)
      st = tern_cl_qgemm_p(dev, p->k[2], p->tune.bm, col, xs, (cl_uint)n0,
                           p->mem, y, y_off + (cl_uint)(n0 * s.OC * P), Mc,
                           s.OC, Kc, p->dim[D_NP], P, (int64_t)s.OC * P, err);
  }
  return st;
}

const tern_cl_op tern_cl_op_conv2d = {conv_supports, conv_prepare, conv_run};
