/* conv.c — 2-D convolution (groups, so depthwise too) for the training core,
 * by im2col + GEMM per sample. Layouts: input [B,C,H,W], weights
 * [OC, C/g, KH, KW] (row r = (c·KH + i)·KW + j), output [B,OC,OH,OW]. */
#include "tern_internal.h"
#include "train/layers.h"

#include <string.h>

#define CHUNK 8 /* samples per weight-gradient partial (fixed: determinism) */

bool tt_conv_shape_init(tt_conv_shape *s) {
  if (s->stride <= 0)
    s->stride = 1;
  if (s->groups <= 0)
    s->groups = 1;
  if (s->c <= 0 || s->h <= 0 || s->w <= 0 || s->oc <= 0 || s->kh <= 0 ||
      s->kw <= 0 || s->pad < 0 || s->c % s->groups || s->oc % s->groups)
    return false;
  int oh = (s->h + 2 * s->pad - s->kh) / s->stride + 1;
  int ow = (s->w + 2 * s->pad - s->kw) / s->stride + 1;
  if (s->h + 2 * s->pad < s->kh || s->w + 2 * s->pad < s->kw)
    return false;
  s->oh = oh;
  s->ow = ow;
  return true;
}

/* col[r, p] (transposed: col[p, r]) for the channels of group g. */
static void im2col(const tt_conv_shape *s, const float *x, int g, float *col,
                   bool transposed) {
  int cg = s->c / s->groups;
  int64_t P = (int64_t)s->oh * s->ow, R = (int64_t)cg * s->kh * s->kw;
  for (int c = 0; c < cg; c++) {
    const float *xc = x + (int64_t)(g * cg + c) * s->h * s->w;
    for (int i = 0; i < s->kh; i++)
      for (int j = 0; j < s->kw; j++) {
        int64_t r = ((int64_t)c * s->kh + i) * s->kw + j;
        for (int oy = 0; oy < s->oh; oy++) {
          int iy = oy * s->stride - s->pad + i;
          for (int ox = 0; ox < s->ow; ox++) {
            int ix = ox * s->stride - s->pad + j;
            float v = (iy >= 0 && iy < s->h && ix >= 0 && ix < s->w)
                          ? xc[(int64_t)iy * s->w + ix]
                          : 0.0f;
            int64_t p = (int64_t)oy * s->ow + ox;
            if (transposed)
              col[p * R + r] = v;
            else
              col[r * P + p] = v;
          }
        }
      }
  }
}

static void col2im_add(const tt_conv_shape *s, const float *col, int g,
                       float *dx) {
  int cg = s->c / s->groups;
  int64_t P = (int64_t)s->oh * s->ow;
  for (int c = 0; c < cg; c++) {
    float *dc = dx + (int64_t)(g * cg + c) * s->h * s->w;
    for (int i = 0; i < s->kh; i++)
      for (int j = 0; j < s->kw; j++) {
        int64_t r = ((int64_t)c * s->kh + i) * s->kw + j;
        for (int oy = 0; oy < s->oh; oy++) {
          int iy = oy * s->stride - s->pad + i;
          if (iy < 0 || iy >= s->h)
            continue;
          for (int ox = 0; ox < s->ow; ox++) {
            int ix = ox * s->stride - s->pad + j;
            if (ix >= 0 && ix < s->w)
              dc[(int64_t)iy * s->w + ix] += col[r * P + oy * s->ow + ox];
          }
        }
      }
  }
}

typedef struct conv_ctx {
  const tt_conv_shape *s;
  volatile int oom; /* a worker could not get its scratch buffer */
  float *out, *dinp, *dw_part, *db_part;
  const float *inp, *w, *bias, *dout;
  int64_t B;
} conv_ctx;

static void fwd_range(void *vctx, int64_t b0, int64_t b1) {
  const conv_ctx *c = vctx;
  const tt_conv_shape *s = c->s;
  int g = s->groups, cg = s->c / g, ocg = s->oc / g;
  int64_t P = (int64_t)s->oh * s->ow, R = (int64_t)cg * s->kh * s->kw;
  int64_t in_sz = (int64_t)s->c * s->h * s->w, out_sz = (int64_t)s->oc * P;
  float *col = tern_malloc((size_t)(R * P) * sizeof(float));
  if (!col) {
    ((conv_ctx *)vctx)->oom = 1;
    return;
  }
  for (int64_t b = b0; b < b1; b++) {
    float *y = c->out + b * out_sz;
    memset(y, 0, (size_t)out_sz * sizeof(float));
    for (int gi = 0; gi < g; gi++) {
      im2col(s, c->inp + b * in_sz, gi, col, false);
      tt_gemm_acc(NULL, ocg, P, R, c->w + (int64_t)gi * ocg * R, R, 1, col, P,
                  y + (int64_t)gi * ocg * P, P);
    }
    if (c->bias)
      for (int o = 0; o < s->oc; o++)
        for (int64_t p = 0; p < P; p++)
          y[o * P + p] += c->bias[o];
  }
  tern_free(col);
}

bool tt_conv2d_forward(tt_pool *pool, float *out, const float *inp,
                       const float *w, const float *bias, int64_t B,
                       const tt_conv_shape *s) {
  conv_ctx c = {.s = s, .out = out, .inp = inp, .w = w, .bias = bias, .B = B};
  tt_parallel_for(pool, B, fwd_range, &c);
  return !c.oom;
}

static void bwd_chunks(void *vctx, int64_t c0, int64_t c1) {
  const conv_ctx *c = vctx;
  const tt_conv_shape *s = c->s;
  int g = s->groups, cg = s->c / g, ocg = s->oc / g;
  int64_t P = (int64_t)s->oh * s->ow, R = (int64_t)cg * s->kh * s->kw;
  int64_t in_sz = (int64_t)s->c * s->h * s->w, out_sz = (int64_t)s->oc * P;
  float *col = tern_malloc((size_t)(R * P) * sizeof(float));
  float *dcol = tern_malloc((size_t)(R * P) * sizeof(float));
  if (!col || !dcol)
    ((conv_ctx *)vctx)->oom = 1;
  else
    for (int64_t ch = c0; ch < c1; ch++) {
      float *dw = c->dw_part + ch * (int64_t)s->oc * R;
      float *db = c->db_part + ch * (int64_t)s->oc;
      int64_t bend = (ch + 1) * CHUNK < c->B ? (ch + 1) * CHUNK : c->B;
      for (int64_t b = ch * CHUNK; b < bend; b++) {
        const float *dy = c->dout + b * out_sz;
        for (int gi = 0; gi < g; gi++) {
          const float *dyg = dy + (int64_t)gi * ocg * P;
          im2col(s, c->inp + b * in_sz, gi, col, true);
          tt_gemm_acc(NULL, ocg, R, P, dyg, P, 1, col, R,
                      dw + (int64_t)gi * ocg * R, R);
          if (c->dinp) {
            memset(dcol, 0, (size_t)(R * P) * sizeof(float));
            tt_gemm_acc(NULL, R, P, ocg, c->w + (int64_t)gi * ocg * R, 1, R,
                        dyg, P, dcol, P);
            col2im_add(s, dcol, gi, c->dinp + b * in_sz);
          }
        }
        for (int o = 0; o < s->oc; o++) {
          float acc = 0;
          for (int64_t p = 0; p < P; p++)
            acc += dy[o * P + p];
          db[o] += acc;
        }
      }
    }
  tern_free(col);
  tern_free(dcol);
}

bool tt_conv2d_backward(tt_pool *pool, float *dinp, float *dw, float *dbias,
                        const float *dout, const float *inp, const float *w,
                        int64_t B, const tt_conv_shape *s) {
  int64_t R = (int64_t)(s->c / s->groups) * s->kh * s->kw;
  int64_t nch = (B + CHUNK - 1) / CHUNK;
  int64_t wsz = (int64_t)s->oc * R;
  float *dwp = tern_calloc((size_t)(nch * wsz), sizeof(float));
  float *dbp = tern_calloc((size_t)(nch * s->oc), sizeof(float));
  if (!dwp || !dbp) {
    tern_free(dwp);
    tern_free(dbp);
    return false;
  }
  conv_ctx c = {.s = s,
                .dinp = dinp,
                .dw_part = dwp,
                .db_part = dbp,
                .inp = inp,
                .w = w,
                .dout = dout,
                .B = B};
  tt_parallel_for(pool, nch, bwd_chunks, &c);
  if (c.oom) {
    tern_free(dwp);
    tern_free(dbp);
    return false;
  }
  /* reduce the partials in chunk order: the same sums for any thread count */
  for (int64_t ch = 0; ch < nch; ch++) {
    for (int64_t i = 0; i < wsz; i++)
      dw[i] += dwp[ch * wsz + i];
    if (dbias)
      for (int o = 0; o < s->oc; o++)
        dbias[o] += dbp[ch * s->oc + o];
  }
  tern_free(dwp);
  tern_free(dbp);
  return true;
}
