/* cl_linear.c — linear on OpenCL. f32 weights: CLBlast SGEMM/SGEMV on the
 * session's buffers and queue, then a bias+activation kernel (or one plain
 * kernel without CLBlast). i8/ternary weights: the activation rule
 * (quant.cl) then the int8 GEMM of linear.cl, bit-exact with the reference.
 * Shared helpers for quantized weights are used by conv2d too. */
#include "backends/opencl/cl_linear.h"

#include <stdio.h>
#include <string.h>

#ifdef TERN_HAVE_CLBLAST
#include <clblast_c.h>
#endif

enum {
  MODE_F32_CLBLAST = 0,
  MODE_F32_PLAIN = 1,
  MODE_F32_PANEL = 8,
  MODE_QUANT = 2,
  MODE_TGEMV = 3,
  MODE_DOT4 = 4,
  MODE_GEMV8 = 5,
  MODE_TGEMM = 6,
  MODE_Q8GEMM = 7
};
enum { D_M, D_N, D_K, D_KP, D_HAS_BIAS, D_NP };

bool tern_cl_weight_ok(const tern_view *w) {
  return w->dtype == TERN_DTYPE_F32 || w->dtype == TERN_DTYPE_I8 ||
         w->dtype == TERN_DTYPE_TERNARY;
}

tern_status tern_cl_upload_qweights(tern_device *dev, const tern_view *w,
                                    int64_t N, int64_t K, int64_t Kp,
                                    cl_mem *codes, cl_mem *scales,
                                    tern_err *err) {
  size_t bytes;
  if (!tern_mul_size((size_t)N, (size_t)Kp, &bytes))
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "weights too large");
  int8_t *c = tern_calloc(bytes ? bytes : 1, 1);
  float *s = tern_malloc((size_t)N * sizeof(float));
  if (!c || !s) {
    tern_free(c);
    tern_free(s);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  for (int64_t n = 0; n < N; n++) {
    int8_t *row = c + n * Kp;
    if (w->dtype == TERN_DTYPE_I8) {
      memcpy(row, (const int8_t *)w->data + n * K, (size_t)K);
    } else {
      const uint8_t *pr = (const uint8_t *)w->data + n * ((K + 3) / 4);
      for (int64_t k = 0; k < K; k++)
        row[k] = (int8_t)(tern_ternary_get(pr, k) - 1);
    }
    s[n] = w->scales[w->scale_count == 1 ? 0 : n];
  }
  tern_status st = tern_cl_upload(dev, c, bytes, codes, err);
  if (!st)
    st = tern_cl_upload(dev, s, (size_t)N * sizeof(float), scales, err);
  tern_free(c);
  tern_free(s);
  return st;
}

tern_status tern_cl_upload_bias(tern_device *dev, const tern_exec_node *node,
                                int index, int64_t N, cl_mem *out,
                                tern_err *err) {
  float *b = tern_calloc((size_t)N ? (size_t)N : 1, sizeof(float));
  if (!b)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  if (node->n_inputs > index)
    memcpy(b, node->in[index].data, (size_t)N * sizeof(float));
  tern_status s = tern_cl_upload(dev, b, (size_t)N * sizeof(float), out, err);
  tern_free(b);
  return s;
}

/* Upload a filled weight panel (freed here) with the per-channel scales and
 * bias of w, zero padded to Np, into mems[0..2]. */
static tern_status upload_with_scales(tern_device *dev, const tern_view *w,
                                      const float *bias, int64_t N, int64_t Np,
                                      void *panel, size_t bytes, cl_mem *mems,
                                      tern_err *err) {
  float *sc = tern_calloc((size_t)Np, sizeof(float));
  float *bi = tern_calloc((size_t)Np, sizeof(float));
  tern_status st = TERN_OK;
  if (!panel || !sc || !bi) {
    st = tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
    goto out;
  }
  for (int64_t n = 0; n < N; n++) {
    sc[n] = w->scales[w->scale_count == 1 ? 0 : n];
    if (bias)
      bi[n] = bias[n];
  }
  st = tern_cl_upload(dev, panel, bytes, &mems[0], err);
  if (!st)
    st = tern_cl_upload(dev, sc, (size_t)Np * sizeof(float), &mems[1], err);
  if (!st)
    st = tern_cl_upload(dev, bi, (size_t)Np * sizeof(float), &mems[2], err);
out:
  tern_free(panel);
  tern_free(sc);
  tern_free(bi);
  return st;
}

static const float *node_bias(const tern_exec_node *node) {
  return node->n_inputs > 2 ? node->in[2].data : NULL;
}

/* Weights as short panels [Np/32][Kp][32] for qgemm.cl; scales and bias
 * padded to Np. */
tern_status tern_cl_upload_panels(tern_device *dev, const tern_view *w,
                                  const float *bias, int64_t N, int64_t K,
                                  int64_t Np, cl_mem *mems, tern_err *err) {
  int64_t Kp = K;
  size_t bytes;
  if (!tern_mul_size((size_t)Np, (size_t)Kp * 2, &bytes))
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "weights too large");
  int16_t *b = tern_calloc(bytes / 2, 2);
  for (int64_t n = 0; b && n < N; n++) {
    const uint8_t *pr = (const uint8_t *)w->data + n * ((K + 3) / 4);
    const int8_t *ir = (const int8_t *)w->data + n * K;
    for (int64_t k = 0; k < K; k++) {
      int v = w->dtype == TERN_DTYPE_I8 ? ir[k] : tern_ternary_get(pr, k) - 1;
      b[((n / 32) * Kp + k) * 32 + n % 32] = (int16_t)v;
    }
  }
  return upload_with_scales(dev, w, bias, N, Np, b, bytes, mems, err);
}

tern_status tern_cl_qgemm_p(tern_device *dev, cl_kernel k, int bm, cl_mem A,
                            cl_mem xs, cl_uint xs_off, const cl_mem *panels,
                            cl_mem y, cl_uint y_off, int64_t M, int64_t N,
                            int64_t Kp, int64_t Np, int64_t P, int64_t YS,
                            tern_err *err) {
  tern_status s = tern_cl_args(
      k, "qgemm_p", err, TERN_CL_MEM(A), TERN_CL_MEM(panels[0]),
      TERN_CL_MEM(xs), TERN_CL_MEM(panels[1]), TERN_CL_MEM(panels[2]),
      TERN_CL_MEM(y), TERN_CL_UINT(y_off), TERN_CL_UINT(M), TERN_CL_UINT(N),
      TERN_CL_UINT(Kp), TERN_CL_UINT(Np), TERN_CL_UINT(xs_off), TERN_CL_UINT(P),
      TERN_CL_UINT(YS), TERN_CL_END);
  if (s)
    return s;
  size_t g[2] = {(size_t)Np / 32, (size_t)(M + bm - 1) / bm};
  size_t l[2] = {1, 1};
  return tern_cl_launch(dev, k, 2, g, l, "qgemm_p", err);
}

tern_status tern_cl_qgemm_kernel(tern_device *dev, int act, bool ternary,
                                 bool channel_major, int bm, cl_kernel *out,
                                 tern_err *err) {
  char opts[128];
  snprintf(opts, sizeof opts, "-DACT=%d -DBM=%d -DKB=%d%s", act, bm,
           ternary ? 256 : 2, channel_major ? " -DOUT_CM" : "");
  return tern_cl_kernel(dev, "qgemm", opts, "qgemm_p", out, err);
}

/* Ternary weights in 2 bits for tgemv.cl: panels [Np/16][Kp/8][16] of
 * ushort, 8 codes of one column per ushort. */
static tern_status upload_tgemv(tern_device *dev, const tern_exec_node *node,
                                int64_t N, int64_t K, int64_t Kp, int64_t Np,
                                tern_cl_node *p, tern_err *err) {
  const tern_view *w = &node->in[1];
  size_t words = (size_t)Np * (size_t)(Kp / 8);
  uint16_t *b = tern_calloc(words ? words : 1, 2);
  for (int64_t n = 0; b && n < N; n++) {
    const uint8_t *pr = (const uint8_t *)w->data + n * ((K + 3) / 4);
    for (int64_t k = 0; k < K; k++)
      b[((n / 16) * (Kp / 8) + k / 8) * 16 + n % 16] |=
          (uint16_t)(tern_ternary_get(pr, k) << (2 * (k % 8)));
  }
  return upload_with_scales(dev, w, node_bias(node), N, Np, b, words * 2,
                            p->mem, err);
}

bool tern_cl_f32_panels(tern_device *dev) {
  const char *v = getenv("TERN_CL_F32");
  if (v && strcmp(v, "panel") == 0)
    return true;
  if (v && (strcmp(v, "clblast") == 0 || strcmp(v, "plain") == 0))
    return false;
  return !dev->gemm_dot4; /* CPU-like devices */
}

tern_status tern_cl_upload_f32_panels(tern_device *dev, const float *w,
                                      const float *bias, int64_t N, int64_t K,
                                      cl_mem *mems, tern_err *err) {
  int64_t Np = (N + 15) / 16 * 16;
  size_t count = (size_t)Np * (size_t)K;
  float *b = tern_calloc(count ? count : 1, sizeof(float));
  float *bi = tern_calloc((size_t)Np, sizeof(float));
  tern_status st = TERN_OK;
  if (!b || !bi) {
    st = tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
    goto out;
  }
  for (int64_t n = 0; n < N; n++) {
    for (int64_t k = 0; k < K; k++)
      b[((n / 16) * K + k) * 16 + n % 16] = w[n * K + k];
    if (bias)
      bi[n] = bias[n];
  }
  st = tern_cl_upload(dev, b, count * sizeof(float), &mems[0], err);
  if (!st)
    st = tern_cl_upload(dev, bi, (size_t)Np * sizeof(float), &mems[1], err);
out:
  tern_free(b);
  tern_free(bi);
  return st;
}

/* Ternary codes c = q+1 as byte pairs for tgemm.cl: panels
 * [Np/32][Kp/2][32][2]. */
tern_status tern_cl_upload_tgemm(tern_device *dev, const tern_exec_node *node,
                                 int64_t N, int64_t K, int64_t Kp, int64_t Np,
                                 tern_cl_node *p, tern_err *err) {
  const tern_view *w = &node->in[1];
  size_t bytes = (size_t)Np * (size_t)Kp;
  uint8_t *b = tern_calloc(bytes ? bytes : 1, 1);
  for (int64_t n = 0; b && n < N; n++) {
    const uint8_t *pr = (const uint8_t *)w->data + n * ((K + 3) / 4);
    for (int64_t k = 0; k < K; k++)
      b[((n / 32) * (Kp / 2) + k / 2) * 64 + (n % 32) * 2 + k % 2] =
          (uint8_t)tern_ternary_get(pr, k);
  }
  return upload_with_scales(dev, w, node_bias(node), N, Np, b, bytes, p->mem,
                            err);
}

/* int8 weights for q8gemm: short pair panels [Np/32][Kp/2][32][2]. */
static tern_status upload_q8gemm(tern_device *dev, const tern_exec_node *node,
                                 int64_t N, int64_t K, int64_t Kp, int64_t Np,
                                 tern_cl_node *p, tern_err *err) {
  const tern_view *w = &node->in[1];
  size_t count = (size_t)Np * (size_t)Kp;
  int16_t *b = tern_calloc(count ? count : 1, 2);
  for (int64_t n = 0; b && n < N; n++) {
    const int8_t *row = (const int8_t *)w->data + n * K;
    for (int64_t k = 0; k < K; k++)
      b[((n / 32) * (Kp / 2) + k / 2) * 64 + (n % 32) * 2 + k % 2] = row[k];
  }
  return upload_with_scales(dev, w, node_bias(node), N, Np, b, count * 2,
                            p->mem, err);
}

/* int8 weights for qgemv8: char panels [Np/16][Kp][16]. */
static tern_status upload_gemv8(tern_device *dev, const tern_exec_node *node,
                                int64_t N, int64_t K, int64_t Kp, int64_t Np,
                                tern_cl_node *p, tern_err *err) {
  const tern_view *w = &node->in[1];
  size_t bytes = (size_t)Np * (size_t)Kp;
  int8_t *b = tern_calloc(bytes ? bytes : 1, 1);
  for (int64_t n = 0; b && n < N; n++) {
    const int8_t *row = (const int8_t *)w->data + n * K;
    for (int64_t k = 0; k < K; k++)
      b[((n / 16) * Kp + k) * 16 + n % 16] = row[k];
  }
  return upload_with_scales(dev, w, node_bias(node), N, Np, b, bytes, p->mem,
                            err);
}

static bool linear_supports(tern_device *dev, const tern_exec_node *node) {
  const tern_view *x = &node->in[0], *w = &node->in[1];
  if (x->dtype != TERN_DTYPE_F32 || w->ndim != 2 || !tern_cl_weight_ok(w))
    return false;
  /* weights and bias are uploaded once; the input comes from the session */
  if (node->in_const[0] || !node->in_const[1] ||
      (node->n_inputs > 2 && !node->in_const[2]))
    return false;
  return node->params.activation >= 0 &&
         node->params.activation < TERN_ACT_COUNT_;
}

static tern_status linear_prepare(tern_device *dev, const tern_exec_node *node,
                                  tern_cl_node *p, tern_err *err) {
  const tern_view *x = &node->in[0], *w = &node->in[1];
  int64_t N = w->shape[0], K = w->shape[1];
  int64_t M = K ? tern_view_numel(x) / K : 0;
  p->dim[D_M] = M;
  p->dim[D_N] = N;
  p->dim[D_K] = K;
  p->dim[D_HAS_BIAS] = node->n_inputs > 2;
  char opts[128];
  snprintf(opts, sizeof opts, "-DACT=%d", node->params.activation);
  tern_status s;
  if (w->dtype == TERN_DTYPE_F32 && tern_cl_f32_panels(dev)) {
    p->mode = MODE_F32_PANEL;
    p->dim[D_NP] = (N + 15) / 16 * 16;
    s = tern_cl_upload_f32_panels(dev, w->data,
                                  node->n_inputs > 2 ? node->in[2].data : NULL,
                                  N, K, p->mem, err);
    snprintf(opts, sizeof opts, "-DACT=%d", node->params.activation);
    return s ? s
             : tern_cl_kernel(dev, "linear", opts, "sgemm_p", &p->k[0], err);
  }
  if (w->dtype == TERN_DTYPE_F32) {
    s = tern_cl_upload(dev, w->data, (size_t)(N * K) * sizeof(float),
                       &p->mem[0], err);
    if (!s)
      s = tern_cl_upload_bias(dev, node, 2, N, &p->mem[1], err);
    if (s)
      return s;
    p->mode = dev->feat.clblast ? MODE_F32_CLBLAST : MODE_F32_PLAIN;
    return tern_cl_kernel(
        dev, "linear", opts,
        p->mode == MODE_F32_CLBLAST ? "bias_act" : "linear_f32", &p->k[0], err);
  }
  if (dev->gemm_dot4) {
    p->mode = MODE_DOT4;
    int64_t Kp = (K + 3) / 4 * 4;
    p->dim[D_KP] = Kp;
    s = tern_cl_upload_qweights(dev, w, N, K, Kp, &p->mem[0], &p->mem[1], err);
    if (!s)
      s = tern_cl_upload_bias(dev, node, 2, N, &p->mem[2], err);
    if (!s)
      s = tern_cl_quant_kernel(dev, false, &p->k[0], err);
    if (!s)
      s = tern_cl_kernel(dev, "qgemm", opts, "qgemm_c4", &p->k[1], err);
    return s;
  }
  if (w->dtype == TERN_DTYPE_I8 && M < 4) {
    p->mode = MODE_GEMV8;
    int64_t Kp = (K + 1) / 2 * 2, Np = (N + 15) / 16 * 16;
    p->dim[D_KP] = Kp;
    p->dim[D_NP] = Np;
    s = upload_gemv8(dev, node, N, K, Kp, Np, p, err);
    if (!s)
      s = tern_cl_quant_kernel(dev, true, &p->k[0], err);
    if (!s)
      s = tern_cl_kernel(dev, "tgemv", opts, "qgemv8", &p->k[1], err);
    return s;
  }
  if (w->dtype == TERN_DTYPE_TERNARY && M < 4) {
    p->mode = MODE_TGEMV;
    int64_t Kp = (K + 7) / 8 * 8, Np = (N + 15) / 16 * 16;
    p->dim[D_KP] = Kp;
    p->dim[D_NP] = Np;
    s = upload_tgemv(dev, node, N, K, Kp, Np, p, err);
    if (!s)
      s = tern_cl_kernel(dev, "quant", "-DQTYPE=short", "quant_rows", &p->k[0],
                         err);
    if (!s)
      s = tern_cl_kernel(dev, "tgemv", opts, "tgemv", &p->k[1], err);
    return s;
  }
  if (w->dtype == TERN_DTYPE_TERNARY) {
    p->mode = MODE_TGEMM;
    int64_t Kp = (K + 1) / 2 * 2, Np = (N + 31) / 32 * 32;
    p->dim[D_KP] = Kp;
    p->dim[D_NP] = Np;
    s = tern_cl_upload_tgemm(dev, node, N, K, Kp, Np, p, err);
    if (!s)
      s = tern_cl_quant_kernel(dev, false, &p->k[0], err);
    snprintf(opts, sizeof opts, "-DACT=%d -DBM=%d", node->params.activation,
             p->tune.bm);
    if (!s)
      s = tern_cl_kernel(dev, "tgemm", opts, "tgemm", &p->k[1], err);
    return s;
  }
  {
    p->mode = MODE_Q8GEMM;
    int64_t Kp = (K + 1) / 2 * 2, Np = (N + 31) / 32 * 32;
    p->dim[D_KP] = Kp;
    p->dim[D_NP] = Np;
    s = upload_q8gemm(dev, node, N, K, Kp, Np, p, err);
    if (!s)
      s = tern_cl_quant_kernel(dev, true, &p->k[0], err);
    snprintf(opts, sizeof opts, "-DACT=%d -DBM=%d", node->params.activation,
             p->tune.bm);
    if (!s)
      s = tern_cl_kernel(dev, "qgemm", opts, "q8gemm", &p->k[1], err);
    return s;
  }
  p->mode = MODE_QUANT;
  int64_t Kp = K, Np = (N + 31) / 32 * 32;
  p->dim[D_KP] = Kp;
  p->dim[D_NP] = Np;
  s = tern_cl_upload_panels(dev, w,
                            node->n_inputs > 2 ? node->in[2].data : NULL, N, K,
                            Np, p->mem, err);
  if (!s)
    s = tern_cl_quant_kernel(dev, true, &p->k[0], err);
  if (!s)
    s = tern_cl_qgemm_kernel(dev, node->params.activation,
                             w->dtype == TERN_DTYPE_TERNARY, false, p->tune.bm,
                             &p->k[1], err);
  return s;
}

/* Activation codes and scales of M blocks of K floats into scratch. */
tern_status tern_cl_quantize(tern_device *dev, cl_kernel k, cl_mem x,
                             cl_uint x_off, int64_t M, int64_t K, int64_t Kp,
                             size_t elem, cl_mem *q, cl_mem *xs,
                             tern_err *err) {
  cl_mem qsum;
  tern_status s = tern_cl_scratch(dev, 0, (size_t)(M * Kp) * elem, q, err);
  if (!s)
    s = tern_cl_scratch(dev, 1, (size_t)M * sizeof(float), xs, err);
  if (!s)
    s = tern_cl_scratch(dev, 3, (size_t)M * sizeof(cl_int), &qsum, err);
  if (!s)
    s = tern_cl_args(k, "quant_rows", err, TERN_CL_MEM(x), TERN_CL_UINT(x_off),
                     TERN_CL_UINT(K), TERN_CL_UINT(Kp), TERN_CL_UINT(M),
                     TERN_CL_MEM(*q), TERN_CL_MEM(*xs), TERN_CL_MEM(qsum),
                     TERN_CL_END);
  if (s)
    return s;
  if (dev->gemm_dot4) { /* quant_rows_wg: one work-group per block */
    size_t g = (size_t)M * 64, l = 64;
    return tern_cl_launch(dev, k, 1, &g, &l, "quant_rows_wg", err);
  }
  size_t g = (size_t)M, l = 1;
  return tern_cl_launch(dev, k, 1, &g, &l, "quant_rows", err);
}

tern_status tern_cl_quant_kernel(tern_device *dev, bool short_codes,
                                 cl_kernel *out, tern_err *err) {
  if (dev->gemm_dot4)
    return tern_cl_kernel(dev, "quant", "-DQWG=64", "quant_rows_wg", out, err);
  return tern_cl_kernel(dev, "quant", short_codes ? "-DQTYPE=short" : "",
                        "quant_rows", out, err);
}

tern_status tern_cl_qgemm_c4(tern_device *dev, cl_kernel k, cl_mem A, cl_mem xs,
                             cl_uint xs_off, const cl_mem *w, cl_mem y,
                             cl_uint y_off, int64_t M, int64_t N, int64_t Kp,
                             int64_t P, int64_t YS, tern_err *err) {
  tern_status s = tern_cl_args(
      k, "qgemm_c4", err, TERN_CL_MEM(A), TERN_CL_MEM(w[0]), TERN_CL_MEM(xs),
      TERN_CL_MEM(w[1]), TERN_CL_MEM(w[2]), TERN_CL_MEM(y), TERN_CL_UINT(y_off),
      TERN_CL_UINT(M), TERN_CL_UINT(N), TERN_CL_UINT(Kp), TERN_CL_UINT(xs_off),
      TERN_CL_UINT(P), TERN_CL_UINT(YS), TERN_CL_END);
  size_t g[2] = {(size_t)N, (size_t)M};
  return s ? s : tern_cl_launch(dev, k, 2, g, NULL, "qgemm_c4", err);
}

#ifdef TERN_HAVE_CLBLAST
static tern_status blast_fail(tern_err *err, int code, const char *what) {
  return tern_err_set(err, TERN_ERR_BACKEND, "opencl: CLBlast %s failed (%d)",
                      what, code);
}

/* M == 1 goes through SGEMM as well: CLBlast 1.5.3's SGEMV returned NaNs
 * for some columns on PoCL 3.1 (K = 4096, N = 512, element offsets). */
tern_status tern_cl_sgemm_nt(tern_device *dev, int64_t M, int64_t N, int64_t K,
                             cl_mem a, size_t a_off, cl_mem b, size_t b_off,
                             cl_mem c, size_t c_off, tern_err *err) {
  cl_event ev = NULL;
  cl_command_queue q = dev->queue;
  CLBlastStatusCode rc = CLBlastSgemm(
      CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, (size_t)M,
      (size_t)N, (size_t)K, 1.0f, a, a_off, (size_t)K, b, b_off, (size_t)K,
      0.0f, c, c_off, (size_t)N, &q, dev->profiling ? &ev : NULL);
  if (rc != CLBlastSuccess)
    return blast_fail(err, rc, "SGEMM");
  tern_cl_track_event(dev, ev);
  return TERN_OK;
}

tern_status tern_cl_sgemv(tern_device *dev, int64_t N, int64_t K, cl_mem w,
                          size_t w_off, cl_mem x, size_t x_off, cl_mem y,
                          size_t y_off, tern_err *err) {
  cl_event ev = NULL;
  cl_command_queue q = dev->queue;
  CLBlastStatusCode rc =
      CLBlastSgemv(CLBlastLayoutRowMajor, CLBlastTransposeNo, (size_t)N,
                   (size_t)K, 1.0f, w, w_off, (size_t)K, x, x_off, 1, 0.0f, y,
                   y_off, 1, &q, dev->profiling ? &ev : NULL);
  if (rc != CLBlastSuccess)
    return blast_fail(err, rc, "SGEMV");
  tern_cl_track_event(dev, ev);
  return TERN_OK;
}

#endif

static tern_status linear_run(tern_device *dev, tern_cl_node *p,
                              tern_buffer *const *bufs, const size_t *offsets,
                              tern_err *err) {
  int n_in = p->node.n_inputs;
  cl_mem x = tern_cl_mem(bufs[0]), y = tern_cl_mem(bufs[n_in]);
  cl_uint x_off = tern_cl_off(offsets, 0, 4),
          y_off = tern_cl_off(offsets, n_in, 4);
  int64_t M = p->dim[D_M], N = p->dim[D_N], K = p->dim[D_K];
  tern_status s;
  if (p->mode == MODE_F32_PANEL) {
    s = tern_cl_args(p->k[0], "sgemm_p", err, TERN_CL_MEM(x),
                     TERN_CL_UINT(x_off), TERN_CL_MEM(p->mem[0]),
                     TERN_CL_MEM(p->mem[1]), TERN_CL_UINT(p->dim[D_HAS_BIAS]),
                     TERN_CL_MEM(y), TERN_CL_UINT(y_off), TERN_CL_UINT(M),
                     TERN_CL_UINT(N), TERN_CL_UINT(K), TERN_CL_UINT(1),
                     TERN_CL_UINT(0), TERN_CL_END);
    size_t g[2] = {(size_t)p->dim[D_NP] / 16, (size_t)(M + 31) / 32};
    size_t l[2] = {1, 1};
    return s ? s : tern_cl_launch(dev, p->k[0], 2, g, l, "sgemm_p", err);
  }
  if (p->mode == MODE_F32_PLAIN) {
    s = tern_cl_args(p->k[0], "linear_f32", err, TERN_CL_MEM(x),
                     TERN_CL_UINT(x_off), TERN_CL_MEM(p->mem[0]),
                     TERN_CL_MEM(p->mem[1]), TERN_CL_UINT(p->dim[D_HAS_BIAS]),
                     TERN_CL_MEM(y), TERN_CL_UINT(y_off), TERN_CL_UINT(M),
                     TERN_CL_UINT(N), TERN_CL_UINT(K), TERN_CL_END);
    size_t g[2] = {(size_t)N, (size_t)M};
    return s ? s : tern_cl_launch(dev, p->k[0], 2, g, NULL, "linear_f32", err);
  }
  if (p->mode == MODE_F32_CLBLAST) {
#ifdef TERN_HAVE_CLBLAST
    s = tern_cl_sgemm_nt(dev, M, N, K, x, x_off, p->mem[0], 0, y, y_off, err);
    if (s)
      return s;
    if (!p->dim[D_HAS_BIAS] && p->node.params.activation == TERN_ACT_NONE)
      return TERN_OK;
    s = tern_cl_args(p->k[0], "bias_act", err, TERN_CL_MEM(y),
                     TERN_CL_UINT(y_off), TERN_CL_MEM(p->mem[1]),
                     TERN_CL_UINT(p->dim[D_HAS_BIAS]), TERN_CL_UINT(M),
                     TERN_CL_UINT(N), TERN_CL_END);
    size_t g = (size_t)(M * N);
    return s ? s : tern_cl_launch(dev, p->k[0], 1, &g, NULL, "bias_act", err);
#else
    return tern_err_set(err, TERN_ERR_INTERNAL,
                        "opencl: built without CLBlast");
#endif
  }
  cl_mem q, xs;
  s = tern_cl_quantize(dev, p->k[0], x, x_off, M, K, p->dim[D_KP],
                       p->mode == MODE_DOT4 || p->mode == MODE_TGEMM ? 1 : 2,
                       &q, &xs, err);
  if (!s && p->mode == MODE_DOT4)
    return tern_cl_qgemm_c4(dev, p->k[1], q, xs, 0, p->mem, y, y_off, M, N,
                            p->dim[D_KP], 1, 0, err);
  if (!s && p->mode == MODE_Q8GEMM) {
    s = tern_cl_args(p->k[1], "q8gemm", err, TERN_CL_MEM(q),
                     TERN_CL_MEM(p->mem[0]), TERN_CL_MEM(xs),
                     TERN_CL_MEM(p->mem[1]), TERN_CL_MEM(p->mem[2]),
                     TERN_CL_MEM(y), TERN_CL_UINT(y_off), TERN_CL_UINT(M),
                     TERN_CL_UINT(N), TERN_CL_UINT(p->dim[D_KP]), TERN_CL_END);
    size_t g[2] = {(size_t)p->dim[D_NP] / 32,
                   (size_t)(M + p->tune.bm - 1) / p->tune.bm};
    size_t l[2] = {1, 1};
    return s ? s : tern_cl_launch(dev, p->k[1], 2, g, l, "q8gemm", err);
  }
  if (!s && p->mode == MODE_TGEMM) {
    cl_mem qsum = dev->scratch[3];
    s = tern_cl_args(
        p->k[1], "tgemm", err, TERN_CL_MEM(q), TERN_CL_MEM(qsum),
        TERN_CL_MEM(p->mem[0]), TERN_CL_MEM(xs), TERN_CL_MEM(p->mem[1]),
        TERN_CL_MEM(p->mem[2]), TERN_CL_MEM(y), TERN_CL_UINT(y_off),
        TERN_CL_UINT(M), TERN_CL_UINT(N), TERN_CL_UINT(p->dim[D_KP]),
        TERN_CL_UINT(0), TERN_CL_UINT(1), TERN_CL_UINT(0), TERN_CL_END);
    size_t g[2] = {(size_t)p->dim[D_NP] / 32,
                   (size_t)(M + p->tune.bm - 1) / p->tune.bm};
    size_t l[2] = {1, 1};
    return s ? s : tern_cl_launch(dev, p->k[1], 2, g, l, "tgemm", err);
  }
  if (!s && p->mode == MODE_GEMV8) {
    s = tern_cl_args(p->k[1], "qgemv8", err, TERN_CL_MEM(q),
                     TERN_CL_MEM(p->mem[0]), TERN_CL_MEM(xs),
                     TERN_CL_MEM(p->mem[1]), TERN_CL_MEM(p->mem[2]),
                     TERN_CL_MEM(y), TERN_CL_UINT(y_off), TERN_CL_UINT(M),
                     TERN_CL_UINT(N), TERN_CL_UINT(p->dim[D_KP]), TERN_CL_END);
    size_t g = (size_t)p->dim[D_NP] / 16, l = (size_t)p->tune.gemv_lws;
    return s ? s : tern_cl_launch(dev, p->k[1], 1, &g, &l, "qgemv8", err);
  }
  if (!s && p->mode == MODE_TGEMV) {
    cl_mem qsum = dev->scratch[3];
    s = tern_cl_args(p->k[1], "tgemv", err, TERN_CL_MEM(q), TERN_CL_MEM(qsum),
                     TERN_CL_MEM(p->mem[0]), TERN_CL_MEM(xs),
                     TERN_CL_MEM(p->mem[1]), TERN_CL_MEM(p->mem[2]),
                     TERN_CL_MEM(y), TERN_CL_UINT(y_off), TERN_CL_UINT(M),
                     TERN_CL_UINT(N), TERN_CL_UINT(p->dim[D_KP]), TERN_CL_END);
    size_t g = (size_t)p->dim[D_NP] / 16, l = (size_t)p->tune.gemv_lws;
    return s ? s : tern_cl_launch(dev, p->k[1], 1, &g, &l, "tgemv", err);
  }
  if (s)
    return s;
  return tern_cl_qgemm_p(dev, p->k[1], p->tune.bm, q, xs, 0, p->mem, y, y_off,
                         M, N, p->dim[D_KP], p->dim[D_NP], 1, 0, err);
}

const tern_cl_op tern_cl_op_linear = {linear_supports, linear_prepare,
                                      linear_run};
