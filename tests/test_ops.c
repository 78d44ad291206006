/* test_ops.c — the naive reference of every op (core/ops/) against
 * hand-computed values and independent direct formulas, plus shape inference
 * and its error paths. Calls the op table directly on tern_view structs. */
#include "tern_internal.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */
static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static void rng_seed(uint64_t s) {
  g_rng = s ? s : 1;
}
static uint32_t rng_u32(void) {
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return (uint32_t)((g_rng * 0x2545f4914f6cdd1dull) >> 32);
}
static float rng_uniform(float lo, float hi) {
  return lo + (hi - lo) * ((float)(rng_u32() >> 8) / 16777216.0f);
}
static float *rand_f32(int64_t n, float lo, float hi) {
  float *x = malloc((size_t)(n ? n : 1) * sizeof(float));
  for (int64_t i = 0; i < n; i++)
    x[i] = rng_uniform(lo, hi);
  return x;
}

/* An f32 view: vf(data, ndim, d0, d1, ...) */
static tern_view vf(void *data, int ndim, ...) {
  tern_view v = {0};
  v.dtype = TERN_DTYPE_F32;
  v.ndim = ndim;
  va_list ap;
  va_start(ap, ndim);
  for (int i = 0; i < ndim; i++)
    v.shape[i] = va_arg(ap, int);
  va_end(ap);
  v.data = data;
  return v;
}

static tern_op_params P0(void) {
  tern_op_params p;
  memset(&p, 0, sizeof p);
  return p;
}

/* Infer + reference; returns the malloc'd output, *out gets its view. */
static float *run(tern_op op, const tern_op_params *p, tern_view *in, int n,
                  tern_view *out) {
  const tern_op_def *d = tern_op_get(op);
  cr_assert_not_null(d);
  cr_assert(n >= d->min_inputs && n <= d->max_inputs, "%s arity", d->name);
  tern_err err = {0};
  tern_status s = d->infer(p, in, n, out, &err);
  cr_assert_eq(s, TERN_OK, "%s infer: %s", d->name, err.msg);
  cr_assert_eq(out->dtype, TERN_DTYPE_F32);
  cr_assert_null(out->data);
  int64_t numel = tern_view_numel(out);
  float *y = malloc((size_t)(numel ? numel : 1) * sizeof(float));
  for (int64_t i = 0; i < numel; i++)
    y[i] = -12345.0f; /* every element must be written */
  out->data = y;
  s = d->ref(p, in, n, out, &err);
  cr_assert_eq(s, TERN_OK, "%s ref: %s", d->name, err.msg);
  return y;
}

static void expect_shape(const tern_view *v, int ndim, ...) {
  char b[96];
  cr_assert_eq(v->ndim, ndim, "ndim %d != %d, shape %s", v->ndim, ndim,
               tern_shape_str(v->ndim, v->shape, b, sizeof b));
  va_list ap;
  va_start(ap, ndim);
  for (int i = 0; i < ndim; i++) {
    int64_t d = va_arg(ap, int);
    cr_assert_eq(v->shape[i], d, "dim %d: got shape %s", i,
                 tern_shape_str(v->ndim, v->shape, b, sizeof b));
  }
  va_end(ap);
}

static void expect_exact(const float *y, const float *e, int64_t n,
                         const char *what) {
  for (int64_t i = 0; i < n; i++)
    cr_assert(y[i] == e[i] || (isnan(y[i]) && isnan(e[i])),
              "%s[%lld]: got %.9g expected %.9g", what, (long long)i,
              (double)y[i], (double)e[i]);
}

static void expect_bits(const float *y, const float *e, int64_t n,
                        const char *what) {
  cr_assert(memcmp(y, e, (size_t)n * sizeof(float)) == 0 || n == 0,
            "%s: not bit-identical", what);
  expect_exact(y, e, n, what);
}

static void expect_near(const float *y, const float *e, int64_t n, float tol,
                        const char *what) {
  for (int64_t i = 0; i < n; i++)
    cr_assert(fabsf(y[i] - e[i]) <= tol * (1.0f + fabsf(e[i])),
              "%s[%lld]: got %.9g expected %.9g (tol %g)", what, (long long)i,
              (double)y[i], (double)e[i], (double)tol);
}

/* Inference must fail with `want` and a message naming the op. */
static void expect_fail(tern_op op, const tern_op_params *p, tern_view *in,
                        int n, tern_status want) {
  const tern_op_def *d = tern_op_get(op);
  tern_err err = {0};
  tern_view out = {0};
  tern_status s = d->infer(p, in, n, &out, &err);
  cr_assert_eq(s, want, "%s: got %s expected %s (%s)", d->name,
               tern_status_name(s), tern_status_name(want), err.msg);
  cr_assert(strstr(err.msg, d->name) != NULL,
            "%s: message does not name the op: '%s'", d->name, err.msg);
  cr_assert_eq(err.status, want);
}

/* ------------------------------------------------------------- op table */
Test(ops, table_complete) {
  for (int i = 0; i < TERN_OP_COUNT_; i++) {
    const tern_op_def *d = tern_op_get((tern_op)i);
    cr_assert_not_null(d);
    cr_assert_not_null(d->infer, "%s", d->name);
    cr_assert_not_null(d->ref, "%s", d->name);
    tern_op back;
    cr_assert_eq(tern_op_from_name(d->name, &back), TERN_OK);
    cr_assert_eq((int)back, i);
  }
  cr_assert_null(tern_op_get(TERN_OP_COUNT_));
}

/* ----------------------------------------------------------------- linear */
Test(linear, f32_hand) {
  float x[] = {1, 2, 3, -1, 0, 2};
  float w[] = {1, 0, -1, 0.5f, 0.5f, 0.5f};
  float b[] = {10, -1};
  tern_view in[3] = {vf(x, 2, 2, 3), vf(w, 2, 2, 3), vf(b, 1, 2)};
  tern_op_params p = P0();
  tern_view out;
  float *y = run(TERN_OP_LINEAR, &p, in, 3, &out);
  expect_shape(&out, 2, 2, 2);
  float e[] = {10 - 2, -1 + 3, 10 - 3, -1 + 0.5f};
  expect_exact(y, e, 4, "linear");
  free(y);
}

/* Independent quantized linear: tern_quantize_activations + integer sums */
static void check_qlinear(tern_dtype dt, int per_tensor, int act) {
  int M = 3, K = 37, N = 5;
  rng_seed(11 + dt + per_tensor);
  float *x = rand_f32(M * K, -3, 3), *wf = rand_f32(N * K, -1, 1);
  for (int i = 0; i < M * K; i++)
    x[i] *= (float)(1 + 2 * (i / K)); /* rows of distinct magnitude */
  float *b = rand_f32(N, -1, 1);
  int8_t *qw = malloc((size_t)(N * K));
  float ws[5];
  if (dt == TERN_DTYPE_I8) {
    cr_assert_eq(tern_quantize_int8(wf, N, K, qw, ws, NULL), TERN_OK);
  } else {
    tern_ternary_desc d = {sizeof d, TERN_TERNARY_THRESHOLD, 0, per_tensor};
    cr_assert_eq(tern_quantize_ternary(wf, N, K, &d, qw, ws, NULL), TERN_OK);
  }
  size_t wb = tern_dtype_bytes(dt, N, K);
  uint8_t *wdata = malloc(wb);
  if (dt == TERN_DTYPE_I8)
    memcpy(wdata, qw, wb);
  else
    cr_assert_eq(tern_ternary_pack(qw, N, K, wdata, wb), TERN_OK);
  tern_view in[3] = {vf(x, 2, M, K), vf(wdata, 2, N, K), vf(b, 1, N)};
  in[1].dtype = dt;
  in[1].scales = ws;
  in[1].scale_count = per_tensor ? 1 : N;
  tern_op_params p = P0();
  p.activation = act;
  tern_view out;
  float *y = run(TERN_OP_LINEAR, &p, in, 3, &out);
  expect_shape(&out, 2, M, N);
  int8_t *qx = malloc((size_t)(M * K));
  float xs[3];
  cr_assert_eq(tern_quantize_activations(x, M, K, qx, xs), TERN_OK);
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      int32_t acc = 0;
      for (int k = 0; k < K; k++)
        acc += qx[m * K + k] * qw[n * K + k];
      float t = (float)acc * ws[per_tensor ? 0 : n];
      t = t * xs[m];
      t = t + b[n];
      float e = tern_apply_activation((tern_activation)act, t);
      cr_assert_eq(y[m * N + n], e, "linear %s [%d,%d]: %.9g vs %.9g",
                   tern_dtype_name(dt), m, n, (double)y[m * N + n], (double)e);
    }
  free(x), free(wf), free(b), free(qw), free(wdata), free(qx), free(y);
}

Test(linear, quantized_vs_independent) {
  check_qlinear(TERN_DTYPE_I8, 0, TERN_ACT_NONE);
  check_qlinear(TERN_DTYPE_TERNARY, 0, TERN_ACT_NONE);
  check_qlinear(TERN_DTYPE_TERNARY, 1, TERN_ACT_RELU);
  check_qlinear(TERN_DTYPE_I8, 0, TERN_ACT_RELU6);
}

/* ----------------------------------------------------------------- conv2d */
Test(conv2d, f32_hand) {
  float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  float w[4] = {1, 1, 1, 1};
  tern_view in[2] = {vf(x, 4, 1, 1, 3, 3), vf(w, 4, 1, 1, 2, 2)};
  tern_op_params p = P0();
  tern_view out;
  float *y = run(TERN_OP_CONV2D, &p, in, 2, &out);
  expect_shape(&out, 4, 1, 1, 2, 2);
  float e1[] = {12, 16, 24, 28};
  expect_exact(y, e1, 4, "conv valid");
  free(y);
  p.pad[0] = p.pad[1] = 1;
  p.stride[0] = p.stride[1] = 2;
  y = run(TERN_OP_CONV2D, &p, in, 2, &out);
  expect_shape(&out, 4, 1, 1, 2, 2);
  float e2[] = {1, 2 + 3, 4 + 7, 5 + 6 + 8 + 9};
  expect_exact(y, e2, 4, "conv pad+stride");
  free(y);
  /* dilation 2 on 3x3: the single tap set {0,2,6,8}, then bias, relu */
  float b[1] = {-30};
  tern_view in3[3] = {in[0], in[1], vf(b, 1, 1)};
  p = P0();
  p.dilation[0] = p.dilation[1] = 2;
  y = run(TERN_OP_CONV2D, &p, in3, 3, &out);
  expect_shape(&out, 4, 1, 1, 1, 1);
  cr_assert_eq(y[0], 1 + 3 + 7 + 9 - 30.0f);
  free(y);
  p.activation = TERN_ACT_RELU;
  y = run(TERN_OP_CONV2D, &p, in3, 3, &out);
  cr_assert_eq(y[0], 0.0f);
  free(y);
}

Test(conv2d, ternary_hand) {
  /* absmax 9 -> scale 2^-3, q = 8x; weights {1,0,-1,1} * 0.5 */
  float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  int8_t q[4] = {1, 0, -1, 1};
  uint8_t packed[1];
  cr_assert_eq(tern_ternary_pack(q, 1, 4, packed, 1), TERN_OK);
  float ws = 0.5f, b = 0.25f;
  tern_view in[3] = {vf(x, 4, 1, 1, 3, 3), vf(packed, 4, 1, 1, 2, 2),
                     vf(&b, 1, 1)};
  in[1].dtype = TERN_DTYPE_TERNARY;
  in[1].scales = &ws;
  in[1].scale_count = 1;
  tern_op_params p = P0();
  tern_view out;
  float *y = run(TERN_OP_CONV2D, &p, in, 3, &out);
  /* window (0,0): 1 - 4 + 5 = 2 -> 2 * 0.5 + 0.25 */
  float e[] = {1.25f, 1.75f, 2.75f, 3.25f};
  expect_exact(y, e, 4, "ternary conv");
  free(y);
}

typedef struct conv_case {
  int N, C, H, W, OC, KH, KW, sh, sw, ph, pw, dh, dw, groups, act;
} conv_case;

/* Independent direct convolution over an explicitly zero-padded input. */
static void conv_expect(const conv_case *c, const float *x, const float *wf,
                        const int8_t *qw, const float *ws, int ws_count,
                        const float *bias, tern_dtype dt, float *e) {
  int G = c->groups ? c->groups : 1, sh = c->sh ? c->sh : 1,
      sw = c->sw ? c->sw : 1, dh = c->dh ? c->dh : 1, dw = c->dw ? c->dw : 1;
  int Hp = c->H + 2 * c->ph, Wp = c->W + 2 * c->pw, Cg = c->C / G,
      OCg = c->OC / G;
  int OH = (Hp - dh * (c->KH - 1) - 1) / sh + 1;
  int OW = (Wp - dw * (c->KW - 1) - 1) / sw + 1;
  int chw = c->C * c->H * c->W;
  float *xp = calloc((size_t)(c->C * Hp * Wp), sizeof(float));
  int8_t *qp = calloc((size_t)(c->C * Hp * Wp), 1);
  int8_t *qx = malloc((size_t)(c->N * chw));
  float *xs = malloc((size_t)c->N * sizeof(float));
  cr_assert_eq(tern_quantize_activations(x, c->N, chw, qx, xs), TERN_OK);
  for (int n = 0; n < c->N; n++) {
    for (int ch = 0; ch < c->C; ch++)
      for (int h = 0; h < c->H; h++)
        for (int w = 0; w < c->W; w++) {
          int src = n * chw + (ch * c->H + h) * c->W + w;
          int dst = (ch * Hp + h + c->ph) * Wp + w + c->pw;
          xp[dst] = x[src];
          qp[dst] = qx[src];
        }
    for (int oc = 0; oc < c->OC; oc++) {
      int g = oc / OCg;
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
          float fs = 0;
          int32_t is = 0;
          for (int ci = 0; ci < Cg; ci++)
            for (int kh = 0; kh < c->KH; kh++)
              for (int kw = 0; kw < c->KW; kw++) {
                int widx = ((oc * Cg + ci) * c->KH + kh) * c->KW + kw;
                int xidx = ((g * Cg + ci) * Hp + oh * sh + kh * dh) * Wp +
                           ow * sw + kw * dw;
                if (dt == TERN_DTYPE_F32)
                  fs += xp[xidx] * wf[widx];
                else
                  is += (int32_t)qp[xidx] * qw[widx];
              }
          float v;
          if (dt == TERN_DTYPE_F32) {
            v = bias ? fs + bias[oc] : fs;
          } else {
            v = (float)is * ws[ws_count == 1 ? 0 : oc];
            v = v * xs[n];
            v = v + (bias ? bias[oc] : 0.0f);
          }
          e[((n * c->OC + oc) * OH + oh) * OW + ow] =
              tern_apply_activation((tern_activation)c->act, v);
        }
    }
  }
  free(xp), free(qp), free(qx), free(xs);
}

static void check_conv(const conv_case *c, tern_dtype dt, int per_tensor,
                       int with_bias) {
  int G = c->groups ? c->groups : 1;
  int K = c->C / G * c->KH * c->KW;
  rng_seed((uint64_t)(1000 + c->C * 31 + c->KH * 7 + dt));
  int64_t xn = (int64_t)c->N * c->C * c->H * c->W;
  float *x = rand_f32(xn, -2, 2);
  /* distinct magnitudes per sample and channel, so that a wrong activation
   * block (per batch, per channel) changes the scale and is caught */
  for (int64_t i = 0; i < xn; i++) {
    int64_t ch = i / (c->H * c->W) % c->C, n = i / (c->C * c->H * c->W);
    x[i] *= (float)(1 + ch) * powf(3.0f, (float)n);
  }
  float *wf = rand_f32((int64_t)c->OC * K, -1, 1);
  float *bias = rand_f32(c->OC, -0.5f, 0.5f);
  int8_t *qw = malloc((size_t)(c->OC * K));
  float *ws = malloc((size_t)c->OC * sizeof(float));
  void *wdata = wf;
  if (dt == TERN_DTYPE_I8) {
    cr_assert_eq(tern_quantize_int8(wf, c->OC, K, qw, ws, NULL), TERN_OK);
    wdata = qw;
  } else if (dt == TERN_DTYPE_TERNARY) {
    tern_ternary_desc d = {sizeof d, TERN_TERNARY_ABSMEAN, 0, per_tensor};
    cr_assert_eq(tern_quantize_ternary(wf, c->OC, K, &d, qw, ws, NULL),
                 TERN_OK);
    size_t wb = tern_dtype_bytes(dt, c->OC, K);
    wdata = malloc(wb);
    cr_assert_eq(tern_ternary_pack(qw, c->OC, K, wdata, wb), TERN_OK);
  }
  tern_view in[3] = {vf(x, 4, c->N, c->C, c->H, c->W),
                     vf(wdata, 4, c->OC, c->C / G, c->KH, c->KW),
                     vf(bias, 1, c->OC)};
  in[1].dtype = dt;
  if (dt != TERN_DTYPE_F32) {
    in[1].scales = ws;
    in[1].scale_count = per_tensor ? 1 : c->OC;
  }
  tern_op_params p = P0();
  p.stride[0] = c->sh, p.stride[1] = c->sw;
  p.pad[0] = c->ph, p.pad[1] = c->pw;
  p.dilation[0] = c->dh, p.dilation[1] = c->dw;
  p.groups = c->groups;
  p.activation = c->act;
  tern_view out;
  float *y = run(TERN_OP_CONV2D, &p, in, with_bias ? 3 : 2, &out);
  int64_t n = tern_view_numel(&out);
  float *e = malloc((size_t)n * sizeof(float));
  conv_expect(c, x, wf, qw, ws, per_tensor ? 1 : c->OC, with_bias ? bias : NULL,
              dt, e);
  char what[128];
  snprintf(what, sizeof what, "conv2d %s C%d H%dx%d OC%d k%dx%d g%d",
           tern_dtype_name(dt), c->C, c->H, c->W, c->OC, c->KH, c->KW, G);
  expect_bits(y, e, n, what);
  if (wdata != wf && wdata != qw)
    free(wdata);
  free(x), free(wf), free(bias), free(qw), free(ws), free(y), free(e);
}

static const conv_case k_conv_cases[] = {
    /* N  C  H  W OC KH KW sh sw ph pw dh dw  g act */
    {2, 3, 7, 6, 4, 3, 3, 0, 0, 1, 1, 0, 0, 0, TERN_ACT_NONE},
    {1, 2, 9, 8, 3, 3, 2, 2, 2, 1, 0, 2, 1, 0, TERN_ACT_RELU},
    {2, 6, 5, 7, 9, 2, 3, 2, 1, 0, 1, 1, 1, 3, TERN_ACT_NONE},
    {1, 5, 8, 8, 10, 3, 3, 2, 2, 1, 1, 0, 0, 5, TERN_ACT_RELU6},
    {3, 4, 6, 6, 4, 3, 3, 1, 1, 2, 2, 2, 2, 4, TERN_ACT_NONE},
    {1, 7, 5, 3, 3, 1, 1, 0, 0, 0, 0, 0, 0, 0, TERN_ACT_SILU},
    {2, 1, 1, 1, 2, 1, 1, 3, 3, 0, 0, 0, 0, 0, TERN_ACT_GELU},
};

Test(conv2d, f32_vs_direct) {
  for (size_t i = 0; i < sizeof k_conv_cases / sizeof k_conv_cases[0]; i++) {
    check_conv(&k_conv_cases[i], TERN_DTYPE_F32, 0, 1);
    check_conv(&k_conv_cases[i], TERN_DTYPE_F32, 0, 0);
  }
}

Test(conv2d, i8_vs_direct) {
  for (size_t i = 0; i < sizeof k_conv_cases / sizeof k_conv_cases[0]; i++)
    check_conv(&k_conv_cases[i], TERN_DTYPE_I8, 0, (int)(i & 1));
}

Test(conv2d, ternary_vs_direct) {
  for (size_t i = 0; i < sizeof k_conv_cases / sizeof k_conv_cases[0]; i++) {
    check_conv(&k_conv_cases[i], TERN_DTYPE_TERNARY, 0, 1);
    check_conv(&k_conv_cases[i], TERN_DTYPE_TERNARY, 1, 0);
  }
}

Test(conv2d, errors) {
  float d[1] = {0};
  tern_op_params p = P0();
  tern_view in[3] = {vf(d, 4, 1, 4, 5, 5), vf(d, 4, 2, 4, 3, 3), vf(d, 1, 2)};
  tern_view bad[3];
  memcpy(bad, in, sizeof in);
  bad[0].ndim = 3;
  expect_fail(TERN_OP_CONV2D, &p, bad, 2, TERN_ERR_SHAPE);
  memcpy(bad, in, sizeof in);
  bad[1].shape[1] = 3; /* wrong in-channels */
  expect_fail(TERN_OP_CONV2D, &p, bad, 2, TERN_ERR_SHAPE);
  p.groups = 3; /* does not divide 4 */
  expect_fail(TERN_OP_CONV2D, &p, in, 2, TERN_ERR_SHAPE);
  p = P0();
  p.groups = 2; /* weight needs C/g = 2 */
  expect_fail(TERN_OP_CONV2D, &p, in, 2, TERN_ERR_SHAPE);
  p = P0();
  p.stride[0] = -1;
  expect_fail(TERN_OP_CONV2D, &p, in, 2, TERN_ERR_INVALID_ARGUMENT);
  p = P0();
  p.dilation[0] = 3; /* dilated kernel 7 > 5 */
  expect_fail(TERN_OP_CONV2D, &p, in, 2, TERN_ERR_SHAPE);
  memcpy(bad, in, sizeof in);
  p.dilation[0] = INT32_MAX; /* dilation * (KH - 1) past int64 */
  bad[1].shape[2] = (int64_t)1 << 40;
  expect_fail(TERN_OP_CONV2D, &p, bad, 2, TERN_ERR_SHAPE);
  p = P0();
  p = P0();
  p.activation = 99;
  expect_fail(TERN_OP_CONV2D, &p, in, 2, TERN_ERR_INVALID_ARGUMENT);
  p = P0();
  memcpy(bad, in, sizeof in);
  bad[2].shape[0] = 3; /* bias */
  expect_fail(TERN_OP_CONV2D, &p, bad, 3, TERN_ERR_SHAPE);
  memcpy(bad, in, sizeof in);
  bad[0].dtype = TERN_DTYPE_I8; /* activations are f32 */
  expect_fail(TERN_OP_CONV2D, &p, bad, 2, TERN_ERR_DTYPE);
  memcpy(bad, in, sizeof in);
  bad[1].dtype = TERN_DTYPE_F16;
  expect_fail(TERN_OP_CONV2D, &p, bad, 2, TERN_ERR_DTYPE);
  memcpy(bad, in, sizeof in);
  bad[1].dtype = TERN_DTYPE_TERNARY;
  bad[1].scale_count = 3; /* neither 1 nor OC */
  expect_fail(TERN_OP_CONV2D, &p, bad, 2, TERN_ERR_SHAPE);
  memcpy(bad, in, sizeof in);
  bad[1].dtype = TERN_DTYPE_I8;
  bad[1].scale_count = 2;
  bad[1].shape[2] = bad[1].shape[3] = 100;
  bad[0].shape[2] = bad[0].shape[3] = 100;
  bad[0].shape[1] = bad[1].shape[1] = 14; /* 140000 taps overflow int32 */
  expect_fail(TERN_OP_CONV2D, &p, bad, 2, TERN_ERR_SHAPE);
  expect_fail(TERN_OP_CONV2D, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
}

/* -------------------------------------------------------------- batchnorm */
Test(batchnorm, hand) {
  float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}; /* [1, 2, 2, 2] */
  float gamma[2] = {2, 0.5f}, beta[2] = {1, -1}, mean[2] = {2, 6},
        var[2] = {4, 0.25f};
  tern_view in[5] = {vf(x, 4, 1, 2, 2, 2), vf(gamma, 1, 2), vf(beta, 1, 2),
                     vf(mean, 1, 2), vf(var, 1, 2)};
  tern_op_params p = P0();
  p.eps = 1e-30f; /* var + eps rounds to var: k = 1 and 1 exactly */
  tern_view out;
  float *y = run(TERN_OP_BATCHNORM, &p, in, 5, &out);
  expect_shape(&out, 4, 1, 2, 2, 2);
  float e[8] = {0, 1, 2, 3, -2, -1, 0, 1};
  expect_exact(y, e, 8, "batchnorm");
  free(y);
  /* default eps 1e-5, formula order spelled out */
  p.eps = 0;
  y = run(TERN_OP_BATCHNORM, &p, in, 5, &out);
  for (int i = 0; i < 8; i++) {
    int c = i / 4;
    float k = gamma[c] / sqrtf(var[c] + 1e-5f);
    float t = (x[i] - mean[c]) * k;
    cr_assert_eq(y[i], t + beta[c]);
  }
  free(y);
  tern_view bad[5];
  memcpy(bad, in, sizeof in);
  bad[3].shape[0] = 3;
  expect_fail(TERN_OP_BATCHNORM, &p, bad, 5, TERN_ERR_SHAPE);
  memcpy(bad, in, sizeof in);
  bad[0].ndim = 1;
  expect_fail(TERN_OP_BATCHNORM, &p, bad, 5, TERN_ERR_SHAPE);
  p.eps = -1;
  expect_fail(TERN_OP_BATCHNORM, &p, in, 5, TERN_ERR_INVALID_ARGUMENT);
  p.eps = 0;
  memcpy(bad, in, sizeof in);
  bad[2].dtype = TERN_DTYPE_F16;
  expect_fail(TERN_OP_BATCHNORM, &p, bad, 5, TERN_ERR_DTYPE);
  expect_fail(TERN_OP_BATCHNORM, &p, in, 4, TERN_ERR_INVALID_ARGUMENT);
}

/* ------------------------------------------------------------ activations */
Test(activations, values) {
  float x[7] = {-3, -0.5f, 0, 0.5f, 1, 6, 7.5f};
  tern_view in[1] = {vf(x, 2, 1, 7)};
  tern_op_params p = P0();
  tern_view out;
  float *y = run(TERN_OP_RELU, &p, in, 1, &out);
  expect_shape(&out, 2, 1, 7);
  float er[7] = {0, 0, 0, 0.5f, 1, 6, 7.5f};
  expect_exact(y, er, 7, "relu");
  free(y);
  y = run(TERN_OP_RELU6, &p, in, 1, &out);
  float e6[7] = {0, 0, 0, 0.5f, 1, 6, 6};
  expect_exact(y, e6, 7, "relu6");
  free(y);
  /* gelu tanh form and silu against double-precision formulas */
  y = run(TERN_OP_GELU, &p, in, 1, &out);
  float eg[7], es[7];
  for (int i = 0; i < 7; i++) {
    double v = x[i];
    eg[i] = (float)(0.5 * v *
                    (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))));
    es[i] = (float)(v / (1 + exp(-v)));
  }
  expect_near(y, eg, 7, 1e-6f, "gelu");
  cr_assert(fabsf(y[4] - 0.841192f) < 1e-6f);
  free(y);
  y = run(TERN_OP_SILU, &p, in, 1, &out);
  expect_near(y, es, 7, 1e-6f, "silu");
  cr_assert(fabsf(y[4] - 0.7310586f) < 1e-6f);
  free(y);
  in[0].dtype = TERN_DTYPE_I8;
  expect_fail(TERN_OP_RELU, &p, in, 1, TERN_ERR_DTYPE);
  expect_fail(TERN_OP_SILU, &p, in, 1, TERN_ERR_DTYPE);
}

/* -------------------------------------------------------------- add / mul */
Test(binary, broadcast) {
  float a[6] = {1, 2, 3, 4, 5, 6}; /* [2, 3] */
  float b[3] = {10, 20, 30};       /* [3] */
  tern_view in[2] = {vf(a, 2, 2, 3), vf(b, 1, 3)};
  tern_op_params p = P0();
  tern_view out;
  float *y = run(TERN_OP_ADD, &p, in, 2, &out);
  expect_shape(&out, 2, 2, 3);
  float e1[6] = {11, 22, 33, 14, 25, 36};
  expect_exact(y, e1, 6, "add row");
  free(y);
  /* [2, 1, 3] * [4, 1] -> [2, 4, 3] */
  float c[4] = {1, -1, 0.5f, 2};
  tern_view in2[2] = {vf(a, 3, 2, 1, 3), vf(c, 2, 4, 1)};
  y = run(TERN_OP_MUL, &p, in2, 2, &out);
  expect_shape(&out, 3, 2, 4, 3);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++)
      for (int k = 0; k < 3; k++)
        cr_assert_eq(y[(i * 4 + j) * 3 + k], a[i * 3 + k] * c[j]);
  free(y);
  /* same shapes, and a [1] scalar on the left */
  float s[1] = {-2};
  tern_view in3[2] = {vf(s, 1, 1), vf(a, 2, 2, 3)};
  y = run(TERN_OP_MUL, &p, in3, 2, &out);
  expect_shape(&out, 2, 2, 3);
  float e3[6] = {-2, -4, -6, -8, -10, -12};
  expect_exact(y, e3, 6, "mul scalar");
  free(y);
  tern_view in4[2] = {vf(a, 2, 2, 3), vf(a, 2, 2, 3)};
  y = run(TERN_OP_ADD, &p, in4, 2, &out);
  float e4[6] = {2, 4, 6, 8, 10, 12};
  expect_exact(y, e4, 6, "add same");
  free(y);
  /* [2, 3] + [2] does not broadcast */
  tern_view bad[2] = {vf(a, 2, 2, 3), vf(b, 1, 2)};
  expect_fail(TERN_OP_ADD, &p, bad, 2, TERN_ERR_SHAPE);
  expect_fail(TERN_OP_MUL, &p, bad, 2, TERN_ERR_SHAPE);
  bad[1] = vf(b, 1, 3);
  bad[1].dtype = TERN_DTYPE_I32;
  expect_fail(TERN_OP_ADD, &p, bad, 2, TERN_ERR_DTYPE);
}

/* ------------------------------------------------------------------ pools */
Test(pool, maxpool) {
  float x[16];
  for (int i = 0; i < 16; i++)
    x[i] =
        (float)((i * 7) % 16); /* 0 7 14 5 / 12 3 10 1 / 8 15 6 13 / 4 11 2 9 */
  tern_view in[1] = {vf(x, 4, 1, 1, 4, 4)};
  tern_op_params p = P0();
  p.kernel[0] = p.kernel[1] = 2;
  tern_view out;
  float *y = run(TERN_OP_MAXPOOL2D, &p, in, 1, &out);
  expect_shape(&out, 4, 1, 1, 2, 2);
  float e[4] = {12, 14, 15, 13};
  expect_exact(y, e, 4, "maxpool 2x2");
  free(y);
  /* 3x3 stride 2 pad 1: windows rows {-1..1, 1..3} */
  p.kernel[0] = p.kernel[1] = 3;
  p.stride[0] = p.stride[1] = 2;
  p.pad[0] = p.pad[1] = 1;
  y = run(TERN_OP_MAXPOOL2D, &p, in, 1, &out);
  expect_shape(&out, 4, 1, 1, 2, 2);
  float e2[4] = {12, 14, 15, 15};
  expect_exact(y, e2, 4, "maxpool pad");
  free(y);
  /* all-negative input: padding must not win */
  float n[4] = {-5, -3, -4, -6};
  tern_view inn[1] = {vf(n, 4, 1, 1, 2, 2)};
  p = P0();
  p.kernel[0] = p.kernel[1] = 2;
  p.stride[0] = p.stride[1] = 1;
  p.pad[0] = p.pad[1] = 1;
  y = run(TERN_OP_MAXPOOL2D, &p, inn, 1, &out);
  expect_shape(&out, 4, 1, 1, 3, 3);
  float e3[9] = {-5, -3, -3, -4, -3, -3, -4, -4, -6};
  expect_exact(y, e3, 9, "maxpool negative");
  free(y);
  n[1] = NAN;
  y = run(TERN_OP_MAXPOOL2D, &p, inn, 1, &out);
  cr_assert(isnan(y[1]) && isnan(y[4]) && !isnan(y[6]));
  free(y);
  p = P0();
  expect_fail(TERN_OP_MAXPOOL2D, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
  p.kernel[0] = p.kernel[1] = 2;
  p.pad[0] = 2; /* more than half the kernel */
  expect_fail(TERN_OP_MAXPOOL2D, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
  p.pad[0] = 0;
  p.kernel[0] = 5; /* larger than the input */
  expect_fail(TERN_OP_MAXPOOL2D, &p, in, 1, TERN_ERR_SHAPE);
  tern_view in3[1] = {vf(x, 3, 1, 4, 4)};
  p.kernel[0] = 2;
  expect_fail(TERN_OP_MAXPOOL2D, &p, in3, 1, TERN_ERR_SHAPE);
}

Test(pool, avgpool) {
  float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  tern_view in[1] = {vf(x, 4, 1, 1, 3, 3)};
  tern_op_params p = P0();
  p.kernel[0] = p.kernel[1] = 2;
  p.stride[0] = p.stride[1] = 1;
  tern_view out;
  float *y = run(TERN_OP_AVGPOOL2D, &p, in, 1, &out);
  expect_shape(&out, 4, 1, 1, 2, 2);
  float e[4] = {3, 4, 6, 7};
  expect_exact(y, e, 4, "avgpool");
  free(y);
  /* pad 1, stride 2, kernel 2: windows at -1..0 and 1..2 */
  p.stride[0] = p.stride[1] = 2;
  p.pad[0] = p.pad[1] = 1;
  y = run(TERN_OP_AVGPOOL2D, &p, in, 1, &out);
  expect_shape(&out, 4, 1, 1, 2, 2);
  float ex[4] = {1, 2.5f, 5.5f, 7}; /* real taps only */
  expect_exact(y, ex, 4, "avgpool exclude pad");
  free(y);
  p.count_include_pad = 1;
  y = run(TERN_OP_AVGPOOL2D, &p, in, 1, &out);
  float ei[4] = {0.25f, 1.25f, 2.75f, 7};
  expect_exact(y, ei, 4, "avgpool include pad");
  free(y);
  /* stride 0 means kernel; odd size floors */
  p = P0();
  p.kernel[0] = 2;
  p.kernel[1] = 3;
  y = run(TERN_OP_AVGPOOL2D, &p, in, 1, &out);
  expect_shape(&out, 4, 1, 1, 1, 1);
  cr_assert_eq(y[0], (1 + 2 + 3 + 4 + 5 + 6) / 6.0f);
  free(y);
  p.count_include_pad = 2;
  expect_fail(TERN_OP_AVGPOOL2D, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
  p.count_include_pad = 0;
  p.stride[1] = -1;
  expect_fail(TERN_OP_AVGPOOL2D, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
}

Test(pool, global_avgpool) {
  float x[12] = {1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -7}; /* [1,2,2,3] */
  tern_view in[1] = {vf(x, 4, 1, 2, 2, 3)};
  tern_op_params p = P0();
  tern_view out;
  float *y = run(TERN_OP_GLOBAL_AVGPOOL, &p, in, 1, &out);
  expect_shape(&out, 4, 1, 2, 1, 1);
  cr_assert_eq(y[0], 3.5f);
  cr_assert_eq(y[1], -22.0f / 6.0f);
  free(y);
  tern_view bad[1] = {vf(x, 2, 2, 6)};
  expect_fail(TERN_OP_GLOBAL_AVGPOOL, &p, bad, 1, TERN_ERR_SHAPE);
  bad[0] = vf(x, 4, 1, 2, 0, 3);
  expect_fail(TERN_OP_GLOBAL_AVGPOOL, &p, bad, 1, TERN_ERR_SHAPE);
}

/* ------------------------------------------------- shape and copy ops */
Test(shape_ops, flatten) {
  float x[24];
  for (int i = 0; i < 24; i++)
    x[i] = (float)i;
  tern_view in[1] = {vf(x, 4, 2, 3, 2, 2)};
  tern_op_params p = P0();
  tern_view out;
  float *y = run(TERN_OP_FLATTEN, &p, in, 1, &out);
  expect_shape(&out, 2, 2, 12);
  expect_exact(y, x, 24, "flatten");
  free(y);
  p.axis = 2;
  y = run(TERN_OP_FLATTEN, &p, in, 1, &out);
  expect_shape(&out, 3, 2, 3, 4);
  free(y);
  p.axis = -1;
  y = run(TERN_OP_FLATTEN, &p, in, 1, &out);
  expect_shape(&out, 4, 2, 3, 2, 2);
  free(y);
  p.axis = 4;
  expect_fail(TERN_OP_FLATTEN, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
  p.axis = -4;
  expect_fail(TERN_OP_FLATTEN, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
}

Test(shape_ops, reshape) {
  float x[24];
  for (int i = 0; i < 24; i++)
    x[i] = (float)i;
  tern_view in[1] = {vf(x, 3, 2, 3, 4)};
  tern_op_params p = P0();
  p.ndim = 3;
  p.shape[0] = 0, p.shape[1] = -1, p.shape[2] = 2; /* [2, 6, 2] */
  tern_view out;
  float *y = run(TERN_OP_RESHAPE, &p, in, 1, &out);
  expect_shape(&out, 3, 2, 6, 2);
  expect_exact(y, x, 24, "reshape");
  free(y);
  p.ndim = 1;
  p.shape[0] = 24;
  y = run(TERN_OP_RESHAPE, &p, in, 1, &out);
  expect_shape(&out, 1, 24);
  free(y);
  p.ndim = 2;
  p.shape[0] = 5, p.shape[1] = -1; /* 24 % 5 */
  expect_fail(TERN_OP_RESHAPE, &p, in, 1, TERN_ERR_SHAPE);
  p.shape[0] = 5, p.shape[1] = 5;
  expect_fail(TERN_OP_RESHAPE, &p, in, 1, TERN_ERR_SHAPE);
  p.shape[0] = -1, p.shape[1] = -1;
  expect_fail(TERN_OP_RESHAPE, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
  p.shape[0] = -2, p.shape[1] = 12;
  expect_fail(TERN_OP_RESHAPE, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
  p.ndim = 4;
  p.shape[0] = 2, p.shape[1] = 3, p.shape[2] = 4, p.shape[3] = 0;
  expect_fail(TERN_OP_RESHAPE, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
  p.ndim = 0;
  expect_fail(TERN_OP_RESHAPE, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
  p.ndim = 6;
  for (int i = 0; i < 6; i++)
    p.shape[i] = INT32_MAX;
  expect_fail(TERN_OP_RESHAPE, &p, in, 1, TERN_ERR_SHAPE);
  p.ndim = 7;
  expect_fail(TERN_OP_RESHAPE, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
}

Test(shape_ops, concat) {
  float a[4] = {1, 2, 3, 4};        /* [2, 2] */
  float b[6] = {5, 6, 7, 8, 9, 10}; /* [2, 3] */
  float c[2] = {11, 12};            /* [2, 1] */
  tern_view in[3] = {vf(a, 2, 2, 2), vf(b, 2, 2, 3), vf(c, 2, 2, 1)};
  tern_op_params p = P0();
  p.axis = -1;
  tern_view out;
  float *y = run(TERN_OP_CONCAT, &p, in, 3, &out);
  expect_shape(&out, 2, 2, 6);
  float e[12] = {1, 2, 5, 6, 7, 11, 3, 4, 8, 9, 10, 12};
  expect_exact(y, e, 12, "concat last");
  free(y);
  tern_view in2[2] = {vf(a, 2, 2, 2), vf(b, 2, 3, 2)};
  p.axis = 0;
  y = run(TERN_OP_CONCAT, &p, in2, 2, &out);
  expect_shape(&out, 2, 5, 2);
  float e2[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  expect_exact(y, e2, 10, "concat first");
  free(y);
  /* middle axis of 3-D: [2, 1, 2] + [2, 2, 2] -> [2, 3, 2] */
  float m1[4] = {1, 2, 3, 4}, m2[8] = {5, 6, 7, 8, 9, 10, 11, 12};
  tern_view in4[2] = {vf(m1, 3, 2, 1, 2), vf(m2, 3, 2, 2, 2)};
  p.axis = 1;
  y = run(TERN_OP_CONCAT, &p, in4, 2, &out);
  expect_shape(&out, 3, 2, 3, 2);
  float e4[12] = {1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12};
  expect_exact(y, e4, 12, "concat middle");
  free(y);
  p.axis = 1; /* [2,2] and [3,2] differ on dim 0 */
  expect_fail(TERN_OP_CONCAT, &p, in2, 2, TERN_ERR_SHAPE);
  p.axis = 2;
  expect_fail(TERN_OP_CONCAT, &p, in, 3, TERN_ERR_INVALID_ARGUMENT);
  p.axis = -3;
  expect_fail(TERN_OP_CONCAT, &p, in, 3, TERN_ERR_INVALID_ARGUMENT);
  p.axis = 0;
  expect_fail(TERN_OP_CONCAT, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
  tern_view in3[2] = {vf(a, 2, 2, 2), vf(b, 3, 1, 2, 3)};
  expect_fail(TERN_OP_CONCAT, &p, in3, 2, TERN_ERR_SHAPE);
}

Test(shape_ops, permute) {
  float x[24];
  for (int i = 0; i < 24; i++)
    x[i] = (float)i;
  tern_view in[1] = {vf(x, 3, 2, 3, 4)};
  tern_op_params p = P0();
  p.ndim = 3;
  p.perm[0] = 2, p.perm[1] = 0, p.perm[2] = 1;
  tern_view out;
  float *y = run(TERN_OP_PERMUTE, &p, in, 1, &out);
  expect_shape(&out, 3, 4, 2, 3);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 2; j++)
      for (int k = 0; k < 3; k++)
        cr_assert_eq(y[(i * 2 + j) * 3 + k], x[(j * 3 + k) * 4 + i]);
  free(y);
  p.perm[2] = 0; /* repeated */
  expect_fail(TERN_OP_PERMUTE, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
  p.perm[2] = 3;
  expect_fail(TERN_OP_PERMUTE, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
  p.ndim = 2;
  expect_fail(TERN_OP_PERMUTE, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
}

/* ----------------------------------------------------------- transformer */
Test(transformer, softmax) {
  float x[6] = {1, 2, 3, 1000, 1000, 1000};
  tern_view in[1] = {vf(x, 2, 2, 3)};
  tern_op_params p = P0();
  tern_view out;
  float *y = run(TERN_OP_SOFTMAX, &p, in, 1, &out);
  expect_shape(&out, 2, 2, 3);
  double z = exp(-2.0) + exp(-1.0) + 1.0;
  float e[6] = {(float)(exp(-2.0) / z),
                (float)(exp(-1.0) / z),
                (float)(1.0 / z),
                1 / 3.0f,
                1 / 3.0f,
                1 / 3.0f};
  expect_near(y, e, 6, 1e-6f, "softmax");
  cr_assert_eq(y[3], 1.0f / 3.0f); /* expf(0) = 1 exactly, 1/3 rounded */
  free(y);
  p.axis = 1; /* ndim-1 names the last axis too */
  y = run(TERN_OP_SOFTMAX, &p, in, 1, &out);
  free(y);
  p.axis = -1;
  x[1] = -INFINITY; /* masked entry gets exactly 0 */
  y = run(TERN_OP_SOFTMAX, &p, in, 1, &out);
  cr_assert_eq(y[1], 0.0f);
  free(y);
  p.axis = -2;
  expect_fail(TERN_OP_SOFTMAX, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
  p.axis = 0;
  in[0].shape[1] = 0;
  expect_fail(TERN_OP_SOFTMAX, &p, in, 1, TERN_ERR_SHAPE);
}

Test(transformer, layernorm) {
  float x[8] = {1, 2, 3, 4, -2, -2, 2, 2}; /* [2, 4] */
  float gamma[4] = {1, 2, 1, 0.5f}, beta[4] = {0, 1, -1, 0};
  tern_view in[3] = {vf(x, 2, 2, 4), vf(gamma, 1, 4), vf(beta, 1, 4)};
  tern_op_params p = P0();
  p.eps = 1e-30f; /* negligible next to var */
  tern_view out;
  float *y = run(TERN_OP_LAYERNORM, &p, in, 3, &out);
  expect_shape(&out, 2, 2, 4);
  /* row 0: mean 2.5, var 1.25; row 1: mean 0, var 4 -> r = 0.5 exactly */
  float r0 = 1.0f / sqrtf(1.25f);
  float e[8] = {-1.5f * r0, -0.5f * r0 * 2 + 1, 0.5f * r0 - 1, 1.5f * r0 * 0.5f,
                -1,         -1 * 2 + 1,         1 - 1,         0.5f};
  expect_near(y, e, 8, 1e-6f, "layernorm");
  expect_exact(y + 4, e + 4, 4, "layernorm exact row");
  free(y);
  tern_view bad[3];
  memcpy(bad, in, sizeof in);
  bad[2].shape[0] = 3;
  expect_fail(TERN_OP_LAYERNORM, &p, bad, 3, TERN_ERR_SHAPE);
  expect_fail(TERN_OP_LAYERNORM, &p, in, 2, TERN_ERR_INVALID_ARGUMENT);
  p.eps = NAN;
  expect_fail(TERN_OP_LAYERNORM, &p, in, 3, TERN_ERR_INVALID_ARGUMENT);
}

Test(transformer, rmsnorm) {
  float x[6] = {3, 4, 0, 0, 0, 2}; /* [2, 3]: ms = 25/3, 4/3 */
  float gamma[3] = {1, 2, 3};
  tern_view in[2] = {vf(x, 2, 2, 3), vf(gamma, 1, 3)};
  tern_op_params p = P0();
  tern_view out;
  float *y = run(TERN_OP_RMSNORM, &p, in, 2, &out);
  expect_shape(&out, 2, 2, 3);
  float e[6];
  for (int r = 0; r < 2; r++) {
    double ms = 0;
    for (int i = 0; i < 3; i++)
      ms += (double)x[r * 3 + i] * x[r * 3 + i];
    double rs = 1.0 / sqrt(ms / 3 + 1e-5);
    for (int i = 0; i < 3; i++)
      e[r * 3 + i] = (float)(x[r * 3 + i] * rs * gamma[i]);
  }
  expect_near(y, e, 6, 1e-6f, "rmsnorm");
  free(y);
  tern_view bad[2] = {vf(x, 2, 2, 3), vf(gamma, 2, 1, 3)};
  expect_fail(TERN_OP_RMSNORM, &p, bad, 2, TERN_ERR_SHAPE);
  bad[1] = vf(gamma, 1, 3);
  bad[1].dtype = TERN_DTYPE_TERNARY;
  expect_fail(TERN_OP_RMSNORM, &p, bad, 2, TERN_ERR_DTYPE);
}

Test(transformer, matmul) {
  float a[6] = {1, 2, 3, 4, 5, 6};  /* [2, 3] */
  float b[6] = {1, 0, 0, 1, 2, -1}; /* [3, 2] */
  tern_view in[2] = {vf(a, 2, 2, 3), vf(b, 2, 3, 2)};
  tern_op_params p = P0();
  tern_view out;
  float *y = run(TERN_OP_MATMUL, &p, in, 2, &out);
  expect_shape(&out, 2, 2, 2);
  float e[4] = {1 + 6, 2 - 3, 4 + 12, 5 - 6};
  expect_exact(y, e, 4, "matmul");
  free(y);
  /* B^T given as [N, K], alpha 0.5 */
  float bt[6] = {1, 0, 2, 0, 1, -1};
  tern_view in2[2] = {vf(a, 2, 2, 3), vf(bt, 2, 2, 3)};
  p.transpose_b = 1;
  p.alpha = 0.5f;
  y = run(TERN_OP_MATMUL, &p, in2, 2, &out);
  float e2[4] = {3.5f, -0.5f, 8, -0.5f};
  expect_exact(y, e2, 4, "matmul transposed");
  free(y);
  /* batch broadcast: A [2, 1, 2, 3] x B [3, 3, 2] -> [2, 3, 2, 2] */
  rng_seed(5);
  float *A = rand_f32(2 * 2 * 3, -1, 1), *B = rand_f32(3 * 3 * 2, -1, 1);
  tern_view in3[2] = {vf(A, 4, 2, 1, 2, 3), vf(B, 3, 3, 3, 2)};
  p = P0();
  y = run(TERN_OP_MATMUL, &p, in3, 2, &out);
  expect_shape(&out, 4, 2, 3, 2, 2);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int m = 0; m < 2; m++)
        for (int n = 0; n < 2; n++) {
          float acc = 0;
          for (int k = 0; k < 3; k++)
            acc += A[(i * 2 + m) * 3 + k] * B[(j * 3 + k) * 2 + n];
          cr_assert_eq(y[((i * 3 + j) * 2 + m) * 2 + n], acc);
        }
  free(y);
  free(A), free(B);
  p.transpose_b = 0;
  tern_view bad[2] = {vf(a, 2, 2, 3), vf(b, 2, 2, 3)}; /* K 3 vs 2 */
  expect_fail(TERN_OP_MATMUL, &p, bad, 2, TERN_ERR_SHAPE);
  bad[1] = vf(b, 1, 3);
  expect_fail(TERN_OP_MATMUL, &p, bad, 2, TERN_ERR_SHAPE);
  tern_view bad2[2] = {vf(a, 3, 2, 2, 3), vf(b, 3, 3, 3, 2)}; /* batch 2 vs 3 */
  expect_fail(TERN_OP_MATMUL, &p, bad2, 2, TERN_ERR_SHAPE);
  p.transpose_b = 2;
  expect_fail(TERN_OP_MATMUL, &p, in, 2, TERN_ERR_INVALID_ARGUMENT);
}

Test(transformer, causal_mask) {
  float x[6] = {1, 2, 3, 4, 5, 6};
  tern_view in[1] = {vf(x, 3, 1, 2, 3)}; /* T = 2, S = 3: offset 1 */
  tern_op_params p = P0();
  tern_view out;
  float *y = run(TERN_OP_CAUSAL_MASK, &p, in, 1, &out);
  expect_shape(&out, 3, 1, 2, 3);
  float e[6] = {1, 2, -INFINITY, 4, 5, 6};
  expect_exact(y, e, 6, "causal T<S");
  free(y);
  tern_view sq[1] = {vf(x, 2, 2, 2)};
  y = run(TERN_OP_CAUSAL_MASK, &p, sq, 1, &out);
  float e2[4] = {1, -INFINITY, 3, 4};
  expect_exact(y, e2, 4, "causal square");
  free(y);
  tern_view bad[1] = {vf(x, 1, 6)};
  expect_fail(TERN_OP_CAUSAL_MASK, &p, bad, 1, TERN_ERR_SHAPE);
}

Test(transformer, rope) {
  float x[8] = {1, 2, 3, 4, 1, 2, 3, 4}; /* [2, 4]: T = 2, D = 4 */
  tern_view in[1] = {vf(x, 2, 2, 4)};
  tern_op_params p = P0();
  tern_view out;
  float *y = run(TERN_OP_ROPE, &p, in, 1, &out);
  expect_shape(&out, 2, 2, 4);
  expect_exact(y, x, 4, "rope pos 0"); /* angle 0: cos 1, sin 0 */
  /* pos 1: pair 0 angle 1, pair 1 angle 10000^(-1/2) = 0.01 */
  double a0 = 1.0, a1 = 0.01;
  float e[4] = {
      (float)(1 * cos(a0) - 2 * sin(a0)), (float)(1 * sin(a0) + 2 * cos(a0)),
      (float)(3 * cos(a1) - 4 * sin(a1)), (float)(3 * sin(a1) + 4 * cos(a1))};
  expect_near(y + 4, e, 4, 1e-6f, "rope pos 1");
  free(y);
  p.theta = 100; /* pair 1 angle 0.1 */
  y = run(TERN_OP_ROPE, &p, in, 1, &out);
  cr_assert(fabsf(y[6] - (float)(3 * cos(0.1) - 4 * sin(0.1))) < 1e-6f);
  free(y);
  p.theta = -1;
  expect_fail(TERN_OP_ROPE, &p, in, 1, TERN_ERR_INVALID_ARGUMENT);
  p.theta = 0;
  tern_view odd[1] = {vf(x, 2, 2, 3)};
  expect_fail(TERN_OP_ROPE, &p, odd, 1, TERN_ERR_SHAPE);
  tern_view one[1] = {vf(x, 1, 8)};
  expect_fail(TERN_OP_ROPE, &p, one, 1, TERN_ERR_SHAPE);
}

/* ------------------------------------------------------- generic errors */
Test(ops, every_op_rejects_bad_input_shapes) {
  /* a negative dim or too many dims fails every op's inference */
  float d[1] = {0};
  for (int op = 0; op < TERN_OP_COUNT_; op++) {
    const tern_op_def *def = tern_op_get((tern_op)op);
    tern_view in[TERN_MAX_INPUTS];
    for (int i = 0; i < TERN_MAX_INPUTS; i++)
      in[i] = vf(d, 4, 1, 2, 2, 2);
    in[0].shape[1] = -2;
    tern_op_params p = P0();
    expect_fail((tern_op)op, &p, in, def->min_inputs, TERN_ERR_SHAPE);
    in[0].shape[1] = 2;
    in[0].ndim = TERN_MAX_DIMS + 1;
    expect_fail((tern_op)op, &p, in, def->min_inputs, TERN_ERR_SHAPE);
  }
}

Test(ops, empty_batch) {
  /* a batch of 0 infers a 0-sized output and the reference writes nothing */
  float d[64] = {0};
  float ws = 1;
  uint8_t tw[64];
  memset(tw, 0x55, sizeof tw);
  tern_op_params p = P0();
  tern_view out;
  tern_view conv[2] = {vf(d, 4, 0, 3, 5, 5), vf(tw, 4, 2, 3, 3, 3)};
  conv[1].dtype = TERN_DTYPE_TERNARY;
  conv[1].scales = &ws;
  conv[1].scale_count = 1;
  free(run(TERN_OP_CONV2D, &p, conv, 2, &out));
  expect_shape(&out, 4, 0, 2, 3, 3);
  tern_view lin[2] = {vf(d, 2, 0, 4), vf(d, 2, 3, 4)};
  free(run(TERN_OP_LINEAR, &p, lin, 2, &out));
  expect_shape(&out, 2, 0, 3);
  tern_view sm[1] = {vf(d, 2, 0, 4)};
  free(run(TERN_OP_SOFTMAX, &p, sm, 1, &out));
  free(run(TERN_OP_RMSNORM, &p, (tern_view[]){sm[0], vf(d, 1, 4)}, 2, &out));
  tern_view mm[2] = {vf(d, 3, 0, 2, 3), vf(d, 2, 3, 2)};
  free(run(TERN_OP_MATMUL, &p, mm, 2, &out));
  expect_shape(&out, 3, 0, 2, 2);
  tern_view bin[2] = {vf(d, 2, 0, 3), vf(d, 1, 3)};
  free(run(TERN_OP_ADD, &p, bin, 2, &out));
  expect_shape(&out, 2, 0, 3);
  p.kernel[0] = p.kernel[1] = 2;
  tern_view pool[1] = {vf(d, 4, 0, 2, 4, 4)};
  free(run(TERN_OP_AVGPOOL2D, &p, pool, 1, &out));
  expect_shape(&out, 4, 0, 2, 2, 2);
  p = P0();
  p.ndim = 2;
  p.shape[0] = -1;
  p.shape[1] = 4;
  tern_view rs[1] = {vf(d, 2, 0, 4)};
  free(run(TERN_OP_RESHAPE, &p, rs, 1, &out));
  expect_shape(&out, 2, 0, 4);
  p.shape[0] = 0; /* copies the 0: the -1 is then ambiguous */
  p.shape[1] = -1;
  expect_fail(TERN_OP_RESHAPE, &p, rs, 1, TERN_ERR_SHAPE);
}
