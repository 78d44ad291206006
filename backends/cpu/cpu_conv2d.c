/* cpu_conv2d.c — the fast CONV2D. Ternary/i8: each sample is quantized as
 * one block (the activation rule), unrolled into int8 patch rows (im2col;
 * padded taps are 0, which is what the reference's skipped taps add) and
 * multiplied by the repacked group weights with the linear GEMM, whose
 * epilogue writes NCHW directly. Depthwise (one input channel per group):
 * a direct integer loop, as im2col would pad 9 taps to a 256-deep block.
 * f32: im2col + BLAS. Integer results are bit-identical to tern_ref_CONV2D. */
#include "cpu_kernels.h"

#include <string.h>

#define IM2COL_BYTES (4u << 20) /* patch rows per GEMM call: ~4 MiB */

struct tern_cpu_conv2d {
  int64_t N, C, H, W, OC, KH, KW, OH, OW, G, Cg, OCg, K;
  int64_t sh, sw, ph, pw, dh, dw;
  tern_dtype wdtype;
  tern_activation act;
  const tern_cpu_kernels *k;
  tern_cpu_linear **lin; /* one per group (GEMM path) */
  /* depthwise: int8 weights [OC][KH*KW], scales, bias */
  int8_t *dw_w;
  float *dw_scale, *bias;
  const float *wf; /* f32 weights (owned by the graph) */
};

void tern_cpu_conv2d_destroy(tern_cpu_conv2d *c) {
  if (!c)
    return;
  if (c->lin)
    for (int64_t g = 0; g < c->G; g++)
      tern_cpu_linear_destroy(c->lin[g]);
  tern_free(c->lin);
  tern_free(c->dw_w);
  tern_free(c->dw_scale);
  tern_free(c->bias);
  tern_free(c);
}

tern_status tern_cpu_conv2d_create(const tern_op_params *p, const tern_view *x,
                                   const tern_view *w, const float *bias,
                                   tern_cpu_isa isa, tern_cpu_conv2d **out,
                                   tern_err *err) {
  if (x->ndim != 4 || w->ndim != 4)
    return TERN_ERR_UNSUPPORTED;
  tern_cpu_conv2d *c = tern_calloc(1, sizeof *c);
  if (!c)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  c->N = x->shape[0], c->C = x->shape[1], c->H = x->shape[2];
  c->W = x->shape[3], c->OC = w->shape[0], c->KH = w->shape[2];
  c->KW = w->shape[3];
  c->G = p->groups ? p->groups : 1;
  c->sh = p->stride[0] ? p->stride[0] : 1;
  c->sw = p->stride[1] ? p->stride[1] : 1;
  c->ph = p->pad[0], c->pw = p->pad[1];
  c->dh = p->dilation[0] ? p->dilation[0] : 1;
  c->dw = p->dilation[1] ? p->dilation[1] : 1;
  c->Cg = c->C / c->G, c->OCg = c->OC / c->G;
  c->K = c->Cg * c->KH * c->KW;
  c->OH = (c->H + 2 * c->ph - (c->dh * (c->KH - 1) + 1)) / c->sh + 1;
  c->OW = (c->W + 2 * c->pw - (c->dw * (c->KW - 1) + 1)) / c->sw + 1;
  c->wdtype = w->dtype;
  c->act = (tern_activation)p->activation;
  c->k = tern_cpu_kernels_get(isa);
  tern_status s = TERN_OK;
  if (w->dtype == TERN_DTYPE_F32) {
    float probe = 0;
    if (!tern_cpu_blas_sgemm_nt(1, 1, 1, &probe, &probe, &probe)) {
      tern_cpu_conv2d_destroy(c);
      return TERN_ERR_UNSUPPORTED; /* no BLAS: the reference is as good */
    }
    c->wf = w->data;
    if (bias && !(c->bias = tern_malloc((size_t)c->OC * sizeof(float))))
      s = TERN_ERR_OUT_OF_MEMORY;
    else if (bias)
      memcpy(c->bias, bias, (size_t)c->OC * sizeof(float));
  } else if (c->Cg == 1 && c->G > 1) {
    /* depthwise: decode weights to int8 rows */
    c->dw_w = tern_malloc((size_t)(c->OC * c->K));
    c->dw_scale = tern_malloc((size_t)c->OC * sizeof(float));
    c->bias = bias ? tern_malloc((size_t)c->OC * sizeof(float)) : NULL;
    if (!c->dw_w || !c->dw_scale || (bias && !c->bias)) {
      s = TERN_ERR_OUT_OF_MEMORY;
    } else {
      for (int64_t oc = 0; oc < c->OC; oc++) {
        for (int64_t j = 0; j < c->K; j++)
          c->dw_w[oc * c->K + j] =
              w->dtype == TERN_DTYPE_I8
                  ? ((const int8_t *)w->data)[oc * c->K + j]
                  : (int8_t)(tern_ternary_get((const uint8_t *)w->data +
                                                  oc * ((c->K + 3) / 4),
                                              j) -
                             1);
        c->dw_scale[oc] = w->scales[w->scale_count == 1 ? 0 : oc];
      }
      if (bias)
        memcpy(c->bias, bias, (size_t)c->OC * sizeof(float));
    }
  } else {
    c->lin = tern_calloc((size_t)c->G, sizeof *c->lin);
    if (!c->lin)
      s = TERN_ERR_OUT_OF_MEMORY;
    size_t row_bytes = tern_dtype_bytes(w->dtype, 1, c->K);
    for (int64_t g = 0; !s && g < c->G; g++) {
      tern_view wg = *w;
      wg.ndim = 2;
      wg.shape[0] = c->OCg;
      wg.shape[1] = c->K;
      wg.data = (char *)w->data + (size_t)(g * c->OCg) * row_bytes;
      if (w->scale_count != 1) {
        wg.scales = w->scales + g * c->OCg;
        wg.scale_count = c->OCg;
      }
      s = tern_cpu_linear_create(&wg, bias ? bias + g * c->OCg : NULL, c->act,
                                 isa, &c->lin[g], err);
    }
    if (s) {
      tern_cpu_conv2d_destroy(c);
      return s;
    }
  }
  if (s) {
    tern_cpu_conv2d_destroy(c);
    return tern_err_set(err, s, "conv2d: out of memory repacking weights");
  }
  *out = c;
  return TERN_OK;
}

/* Patch rows [p0, p1) of group g of one quantized sample into rows of kp.
 * Column by column over each run of pixels within one output row: the
 * inputs of one tap along the run are a strided (contiguous at stride 1)
 * read and the outputs one byte per patch row, with the padding columns
 * split off, so there is no per-tap bounds test; the K..kp tail is
 * zeroed. */
static void im2col_i8(const tern_cpu_conv2d *c, const int8_t *qx, int64_t g,
                      int64_t p0, int64_t p1, int64_t kp, int8_t *cols) {
  for (int64_t pi = p0; pi < p1;) {
    int64_t oh = pi / c->OW, ow0 = pi % c->OW;
    int64_t ow1 = c->OW < ow0 + (p1 - pi) ? c->OW : ow0 + (p1 - pi);
    int8_t *base = cols + (pi - p0) * kp - ow0 * kp; /* indexed by ow */
    for (int64_t ci = 0; ci < c->Cg; ci++) {
      const int8_t *plane = qx + (g * c->Cg + ci) * c->H * c->W;
      for (int64_t kh = 0; kh < c->KH; kh++) {
        int64_t ih = oh * c->sh - c->ph + kh * c->dh;
        bool in_h = ih >= 0 && ih < c->H;
        const int8_t *row = plane + (in_h ? ih : 0) * c->W;
        for (int64_t kw = 0; kw < c->KW; kw++) {
          int8_t *d = base + (ci * c->KH + kh) * c->KW + kw;
          /* columns ow with 0 <= ow * sw + off < W */
          int64_t off = kw * c->dw - c->pw;
          int64_t lo = off >= 0 ? 0 : (-off + c->sw - 1) / c->sw;
          int64_t hi = c->W - 1 - off < 0 ? 0 : (c->W - 1 - off) / c->sw + 1;
          if (!in_h)
            lo = hi = ow1;
          lo = lo < ow0 ? ow0 : lo > ow1 ? ow1 : lo;
          hi = hi < lo ? lo : hi > ow1 ? ow1 : hi;
          int64_t ow = ow0;
          for (; ow < lo; ow++)
            d[ow * kp] = 0;
          if (c->sw == 1)
            for (; ow < hi; ow++)
              d[ow * kp] = row[ow + off];
          else
            for (; ow < hi; ow++)
              d[ow * kp] = row[ow * c->sw + off];
          for (; ow < ow1; ow++)
            d[ow * kp] = 0;
        }
      }
    }
    for (int64_t ow = ow0; ow < ow1; ow++)
      memset(base + ow * kp + c->K, 0, (size_t)(kp - c->K));
    pi += ow1 - ow0;
  }
}

#define IM2COL_TASK 64 /* patch rows per im2col task */
typedef struct im2col_job {
  const tern_cpu_conv2d *c;
  const int8_t *qx;
  int64_t g, p0, p1, kp;
  int8_t *cols;
} im2col_job;

static void im2col_task(void *ctx, int64_t t) {
  im2col_job *j = ctx;
  int64_t a = j->p0 + t * IM2COL_TASK;
  int64_t b = a + IM2COL_TASK < j->p1 ? a + IM2COL_TASK : j->p1;
  im2col_i8(j->c, j->qx, j->g, a, b, j->kp, j->cols + (a - j->p0) * j->kp);
}

static void im2col_f32(const tern_cpu_conv2d *c, const float *x, int64_t g,
                       float *cols) {
  int64_t P = c->OH * c->OW;
  for (int64_t pi = 0; pi < P; pi++) {
    int64_t oh = pi / c->OW, ow = pi % c->OW;
    float *row = cols + pi * c->K;
    for (int64_t ci = 0; ci < c->Cg; ci++) {
      const float *plane = x + (g * c->Cg + ci) * c->H * c->W;
      for (int64_t kh = 0; kh < c->KH; kh++) {
        int64_t ih = oh * c->sh - c->ph + kh * c->dh;
        for (int64_t kw = 0; kw < c->KW; kw++) {
          int64_t iw = ow * c->sw - c->pw + kw * c->dw;
          bool in = ih >= 0 && ih < c->H && iw >= 0 && iw < c->W;
          row[(ci * c->KH + kh) * c->KW + kw] = in ? plane[ih * c->W + iw] : 0;
        }
      }
    }
  }
}

typedef struct dw_job {
  const tern_cpu_conv2d *c;
  const int8_t *qx;
  float xs;
  float *y; /* this sample's output */
} dw_job;

#define DW_CHUNK 256 /* output columns per accumulator pass */

/* One output channel: per output row (in chunks), each tap adds its weight
 * times a run of input bytes (contiguous at stride 1, so the loop
 * vectorises), zero taps skipped; exact int32 sums in any order, then the
 * table's epilogue (the reference's roundings) over the row. */
static void dw_task(void *ctx, int64_t oc) {
  dw_job *j = ctx;
  const tern_cpu_conv2d *c = j->c;
  const int8_t *plane = j->qx + (oc / c->OCg) * c->H * c->W;
  const int8_t *wk = c->dw_w + oc * c->K;
  float b = c->bias ? c->bias[oc] : 0.0f;
  float *yo = j->y + oc * c->OH * c->OW;
  int32_t acc[DW_CHUNK];
  float ws[DW_CHUNK], bs[DW_CHUNK];
  for (int i = 0; i < DW_CHUNK; i++)
    ws[i] = c->dw_scale[oc], bs[i] = b;
  for (int64_t oh = 0; oh < c->OH; oh++)
    for (int64_t ow0 = 0; ow0 < c->OW; ow0 += DW_CHUNK) {
      int64_t n = c->OW - ow0 < DW_CHUNK ? c->OW - ow0 : DW_CHUNK;
      memset(acc, 0, (size_t)n * sizeof(int32_t));
      for (int64_t kh = 0; kh < c->KH; kh++) {
        int64_t ih = oh * c->sh - c->ph + kh * c->dh;
        if (ih < 0 || ih >= c->H)
          continue;
        const int8_t *row = plane + ih * c->W;
        for (int64_t kw = 0; kw < c->KW; kw++) {
          int32_t wv = wk[kh * c->KW + kw];
          if (wv == 0)
            continue;
          /* columns ow with 0 <= ow * sw + off < W */
          int64_t off = kw * c->dw - c->pw;
          int64_t lo = off >= 0 ? 0 : (-off + c->sw - 1) / c->sw;
          int64_t hi = c->W - 1 - off < 0 ? 0 : (c->W - 1 - off) / c->sw + 1;
          lo = lo > ow0 ? lo : ow0;
          hi = hi < ow0 + n ? hi : ow0 + n;
          if (c->sw == 1) {
            const int8_t *src = row + off;
            for (int64_t ow = lo; ow < hi; ow++)
              acc[ow - ow0] += (int32_t)src[ow] * wv;
          } else {
            for (int64_t ow = lo; ow < hi; ow++)
              acc[ow - ow0] += (int32_t)row[ow * c->sw + off] * wv;
          }
        }
      }
      float *dst = yo + oh * c->OW + ow0;
      if (c->k->epilogue) {
        c->k->epilogue(acc, n, 0, ws, j->xs, bs, c->act, dst);
      } else {
        for (int64_t i = 0; i < n; i++)
          dst[i] = tern_apply_activation(
              c->act, tern_q_epilogue(acc[i], ws[i], j->xs, b));
      }
    }
}

static tern_status run_f32(const tern_cpu_conv2d *c, const float *x, float *y,
                           tern_err *err) {
  int64_t P = c->OH * c->OW;
  float *cols = tern_malloc_aligned((size_t)(P * c->K) * sizeof(float));
  if (!cols)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY,
                        "conv2d: out of memory for %lld x %lld patches",
                        (long long)P, (long long)c->K);
  for (int64_t n = 0; n < c->N; n++)
    for (int64_t g = 0; g < c->G; g++) {
      im2col_f32(c, x + n * c->C * c->H * c->W, g, cols);
      float *yg = y + (n * c->OC + g * c->OCg) * P;
      /* yg[OCg][P] = W_g · colsᵀ */
      tern_cpu_blas_sgemm_nt(c->OCg, P, c->K, c->wf + g * c->OCg * c->K, cols,
                             yg);
      for (int64_t o = 0; o < c->OCg; o++) {
        float b = c->bias ? c->bias[g * c->OCg + o] : 0.0f;
        for (int64_t pi = 0; pi < P; pi++) {
          float v = yg[o * P + pi];
          yg[o * P + pi] = tern_apply_activation(c->act, c->bias ? v + b : v);
        }
      }
    }
  tern_free_aligned(cols);
  return TERN_OK;
}

tern_status tern_cpu_conv2d_run(const tern_cpu_conv2d *c, const tern_view *x,
                                tern_view *y, int thread_count, tern_err *err) {
  const float *xd = x->data;
  float *yd = y->data;
  if (c->wdtype == TERN_DTYPE_F32)
    return run_f32(c, xd, yd, err);
  int64_t chw = c->C * c->H * c->W, P = c->OH * c->OW;
  int64_t kp = c->lin ? c->lin[0]->kp : 0;
  int64_t chunk = kp ? (int64_t)(IM2COL_BYTES / (size_t)kp) : 0;
  if (chunk < 16)
    chunk = 16;
  if (chunk > P)
    chunk = P;
  int8_t *qx = tern_malloc_aligned((size_t)(chw ? chw : 1));
  int8_t *cols = c->lin ? tern_malloc_aligned((size_t)(chunk * kp)) : NULL;
  float *xs = c->lin ? tern_malloc((size_t)chunk * sizeof(float)) : NULL;
  if (!qx || (c->lin && (!cols || !xs))) {
    tern_free_aligned(qx);
    tern_free_aligned(cols);
    tern_free(xs);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY,
                        "conv2d: out of memory for the unrolled input");
  }
  tern_status s = TERN_OK;
  for (int64_t n = 0; n < c->N && !s; n++) {
    float scale;
    c->k->quantize_row(xd + n * chw, chw, chw, qx, &scale);
    if (!c->lin) {
      dw_job j = {c, qx, scale, yd + n * c->OC * P};
      tern_cpu_parallel_for(thread_count, c->OC, dw_task, &j);
      continue;
    }
    for (int64_t i = 0; i < chunk; i++)
      xs[i] = scale;
    for (int64_t g = 0; g < c->G && !s; g++)
      for (int64_t p0 = 0; p0 < P && !s; p0 += chunk) {
        int64_t p1 = p0 + chunk < P ? p0 + chunk : P;
        im2col_job ij = {c, qx, g, p0, p1, kp, cols};
        int64_t nt = (p1 - p0 + IM2COL_TASK - 1) / IM2COL_TASK;
        tern_cpu_parallel_for(
            tern_cpu_threads_for(thread_count, (double)(p1 - p0) * (double)kp),
            nt, im2col_task, &ij);
        s = tern_cpu_linear_run_q(c->lin[g], cols, xs, p1 - p0,
                                  yd + (n * c->OC + g * c->OCg) * P + p0, P,
                                  true, thread_count, err);
      }
  }
  tern_free_aligned(qx);
  tern_free_aligned(cols);
  tern_free(xs);
  return s;
}
