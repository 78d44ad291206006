/* test_train_grad.c — every training layer's backward against central finite
 * differences of its forward (loss = Σ out·r, accumulated in double), plus a
 * whole network (conv, batchnorm, pools, residual add, linear, loss) and the
 * losses, optimizers and schedules against hand-computed values. */
#include "testutil.h"
#include "train/net.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A layer under test: forward from (x, p) into out. */
typedef void (*fwd_fn)(void *ctx, const float *x, const float *p, float *out);

typedef struct check {
  fwd_fn fwd;
  void *ctx;
  int64_t nx, np, nout;
  float eps;
} check;

static double loss_of(const check *c, const float *x, const float *p,
                      const float *r, float *out) {
  c->fwd(c->ctx, x, p, out);
  double l = 0;
  for (int64_t i = 0; i < c->nout; i++)
    l += (double)out[i] * r[i];
  return l;
}

/* Compare analytic gradients (gx over x, gp over p) with central differences
 * on every element (or a stride through large tensors). */
static void fd_compare(const check *c, float *x, float *p, const float *r,
                       const float *gx, const float *gp, const char *what) {
  float *out = calloc((size_t)c->nout, sizeof(float));
  int bad = 0;
  for (int which = 0; which < 2; which++) {
    float *v = which ? p : x;
    const float *g = which ? gp : gx;
    int64_t n = which ? c->np : c->nx;
    if (!v || !g)
      continue;
    int64_t stride = n > 400 ? n / 400 : 1;
    for (int64_t i = 0; i < n; i += stride) {
      float keep = v[i];
      v[i] = keep + c->eps;
      double lp = loss_of(c, x, p, r, out);
      v[i] = keep - c->eps;
      double lm = loss_of(c, x, p, r, out);
      v[i] = keep;
      double num = (lp - lm) / (2.0 * c->eps);
      double ana = g[i];
      double tol = 2e-2 * fmax(fabs(num), fabs(ana)) + 2e-3;
      if (fabs(num - ana) > tol && bad++ < 5)
        cr_log_error("%s: %s[%lld] numeric %.6g analytic %.6g", what,
                     which ? "param" : "input", (long long)i, num, ana);
    }
  }
  free(out);
  cr_expect_eq(bad, 0, "%s: %d gradient mismatches", what, bad);
}

static void rand_fill(tu_rng *rng, float *v, int64_t n, float lo, float hi) {
  tu_fill(rng, v, (size_t)n, lo, hi);
}

/* ---------------------------------------------------------------- linear */
typedef struct lin_ctx {
  int64_t B, K, N;
} lin_ctx;
static void lin_fwd(void *vc, const float *x, const float *p, float *out) {
  lin_ctx *c = vc;
  tt_linear_forward(NULL, out, x, p, p + c->N * c->K, c->B, c->K, c->N);
}

Test(grad, linear) {
  tu_rng rng;
  tu_seed(&rng, 1);
  lin_ctx lc = {5, 7, 9};
  int64_t nx = lc.B * lc.K, np = lc.N * lc.K + lc.N, no = lc.B * lc.N;
  float *x = malloc(nx * 4), *p = malloc(np * 4), *r = malloc(no * 4);
  float *gx = calloc(nx, 4), *gp = calloc(np, 4), *out = malloc(no * 4);
  rand_fill(&rng, x, nx, -1, 1);
  rand_fill(&rng, p, np, -1, 1);
  rand_fill(&rng, r, no, -1, 1);
  tt_pool *pool = tt_pool_create(2);
  tt_linear_forward(pool, out, x, p, p + lc.N * lc.K, lc.B, lc.K, lc.N);
  tt_linear_backward(pool, gx, gp, gp + lc.N * lc.K, r, x, p, lc.B, lc.K, lc.N);
  check c = {lin_fwd, &lc, nx, np, no, 1e-2f};
  fd_compare(&c, x, p, r, gx, gp, "linear");
  tt_pool_destroy(pool);
  free(x), free(p), free(r), free(gx), free(gp), free(out);
}

/* ---------------------------------------------------------------- conv2d */
typedef struct conv_ctx {
  int64_t B;
  tt_conv_shape s;
  int64_t nw;
} conv_ctx;
static void conv_fwd(void *vc, const float *x, const float *p, float *out) {
  conv_ctx *c = vc;
  tt_conv2d_forward(NULL, out, x, p, p + c->nw, c->B, &c->s);
}

static void conv_case(int c_in, int oc, int k, int stride, int pad, int groups,
                      const char *name) {
  tu_rng rng;
  tu_seed(&rng, 2);
  conv_ctx cc = {3, {c_in, 7, 6, oc, k, k, stride, pad, groups, 0, 0}, 0};
  cr_assert(tt_conv_shape_init(&cc.s));
  cc.nw = (int64_t)oc * (c_in / groups) * k * k;
  int64_t nx = cc.B * c_in * 7 * 6, np = cc.nw + oc,
          no = cc.B * oc * cc.s.oh * cc.s.ow;
  float *x = malloc(nx * 4), *p = malloc(np * 4), *r = malloc(no * 4);
  float *gx = calloc(nx, 4), *gp = calloc(np, 4), *out = malloc(no * 4);
  rand_fill(&rng, x, nx, -1, 1);
  rand_fill(&rng, p, np, -1, 1);
  rand_fill(&rng, r, no, -1, 1);
  tt_pool *pool = tt_pool_create(2);
  tt_conv2d_forward(pool, out, x, p, p + cc.nw, cc.B, &cc.s);
  tt_conv2d_backward(pool, gx, gp, gp + cc.nw, r, x, p, cc.B, &cc.s);
  check c = {conv_fwd, &cc, nx, np, no, 1e-2f};
  fd_compare(&c, x, p, r, gx, gp, name);
  tt_pool_destroy(pool);
  free(x), free(p), free(r), free(gx), free(gp), free(out);
}

Test(grad, conv2d) {
  conv_case(3, 4, 3, 1, 1, 1, "conv2d 3x3 pad 1");
}
Test(grad, conv2d_strided) {
  conv_case(2, 3, 3, 2, 0, 1, "conv2d stride 2");
}
Test(grad, conv2d_grouped) {
  conv_case(4, 6, 3, 1, 1, 2, "conv2d groups 2");
}
Test(grad, conv2d_depthwise) {
  conv_case(4, 4, 3, 1, 1, 4, "depthwise");
}

/* Conv forward against a direct loop (the reference's definition). */
Test(conv, matches_direct_sum) {
  tu_rng rng;
  tu_seed(&rng, 3);
  tt_conv_shape s = {4, 6, 5, 6, 3, 3, 2, 1, 2, 0, 0};
  cr_assert(tt_conv_shape_init(&s));
  int B = 2, cg = s.c / s.groups, ocg = s.oc / s.groups;
  int64_t nx = B * s.c * s.h * s.w, nw = s.oc * cg * 9;
  float *x = malloc(nx * 4), *w = malloc(nw * 4), b[6];
  rand_fill(&rng, x, nx, -1, 1);
  rand_fill(&rng, w, nw, -1, 1);
  rand_fill(&rng, b, 6, -1, 1);
  float *y = malloc((size_t)B * s.oc * s.oh * s.ow * 4);
  tt_conv2d_forward(NULL, y, x, w, b, B, &s);
  for (int n = 0; n < B; n++)
    for (int o = 0; o < s.oc; o++)
      for (int oy = 0; oy < s.oh; oy++)
        for (int ox = 0; ox < s.ow; ox++) {
          double acc = b[o];
          int g = o / ocg;
          for (int c = 0; c < cg; c++)
            for (int i = 0; i < 3; i++)
              for (int j = 0; j < 3; j++) {
                int iy = oy * 2 - 1 + i, ix = ox * 2 - 1 + j;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w)
                  continue;
                acc +=
                    (double)x[((n * s.c + g * cg + c) * s.h + iy) * s.w + ix] *
                    w[((o * cg + c) * 3 + i) * 3 + j];
              }
          float got = y[((n * s.oc + o) * s.oh + oy) * s.ow + ox];
          cr_expect(fabs(got - acc) < 1e-5, "conv (%d,%d,%d,%d): %g vs %g", n,
                    o, oy, ox, got, acc);
        }
  free(x), free(w), free(y);
}

/* ------------------------------------------------------------- batchnorm */
typedef struct bn_ctx {
  int64_t B, C, S;
  float rm[8], rv[8], sm[8], si[8];
} bn_ctx;
static void bn_fwd(void *vc, const float *x, const float *p, float *out) {
  bn_ctx *c = vc;
  tt_batchnorm_forward(NULL, out, x, p, p + c->C, c->rm, c->rv, c->sm, c->si,
                       c->B, c->C, c->S, 0.1f, 1e-5f, true);
}

Test(grad, batchnorm_train) {
  tu_rng rng;
  tu_seed(&rng, 4);
  bn_ctx bc = {4, 3, 5, {0}, {0}, {0}, {0}};
  int64_t nx = bc.B * bc.C * bc.S, np = 2 * bc.C;
  float *x = malloc(nx * 4), p[6], *r = malloc(nx * 4);
  float *gx = calloc(nx, 4), gp[6] = {0}, *out = malloc(nx * 4);
  rand_fill(&rng, x, nx, -2, 2);
  rand_fill(&rng, p, np, 0.5f, 1.5f);
  rand_fill(&rng, r, nx, -1, 1);
  bn_fwd(&bc, x, p, out);
  tt_batchnorm_backward(NULL, gx, gp, gp + bc.C, r, x, p, bc.sm, bc.si, bc.B,
                        bc.C, bc.S);
  check c = {bn_fwd, &bc, nx, np, nx, 1e-2f};
  fd_compare(&c, x, p, r, gx, gp, "batchnorm");
  free(x), free(r), free(gx), free(out);
}

Test(batchnorm, running_stats_and_eval) {
  float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}; /* B=2, C=2, S=2 */
  float rm[2] = {0, 0}, rv[2] = {1, 1}, sm[2], si[2], y[8];
  tt_batchnorm_forward(NULL, y, x, NULL, NULL, rm, rv, sm, si, 2, 2, 2, 0.1f, 0,
                       true);
  /* channel 0: {1,2,5,6}, mean 3.5, biased var 4.25, unbiased 17/3 */
  cr_expect_float_eq(sm[0], 3.5f, 1e-6);
  cr_expect_float_eq(rm[0], 0.35f, 1e-6);
  cr_expect_float_eq(rv[0], 0.9f + 0.1f * 17.0f / 3.0f, 1e-5);
  cr_expect_float_eq(y[0], (1 - 3.5f) / sqrtf(4.25f), 1e-5);
  tt_batchnorm_forward(NULL, y, x, NULL, NULL, rm, rv, sm, si, 2, 2, 2, 0.1f, 0,
                       false);
  cr_expect_float_eq(y[0], (1 - rm[0]) / sqrtf(rv[0]), 1e-5);
}

/* ------------------------------------------------------ pools and others */
typedef struct pool_ctx {
  int64_t B;
  tt_pool_shape s;
  int kind; /* 0 max 1 avg 2 gap 3 relu 4 relu6 5 add */
  int32_t arg[1024];
} pool_ctx;
static void pool_fwd(void *vc, const float *x, const float *p, float *out) {
  pool_ctx *c = vc;
  int64_t n = c->B * c->s.c * c->s.h * c->s.w;
  switch (c->kind) {
  case 0:
    tt_maxpool_forward(out, c->arg, x, c->B, &c->s);
    break;
  case 1:
    tt_avgpool_forward(out, x, c->B, &c->s);
    break;
  case 2:
    tt_gap_forward(out, x, c->B, c->s.c, (int64_t)c->s.h * c->s.w);
    break;
  case 3:
    tt_relu_forward(out, x, n);
    break;
  case 4:
    tt_relu6_forward(out, x, n);
    break;
  default:
    tt_add_forward(out, x, p, n);
  }
}

static void simple_case(int kind, int k, int stride, int pad,
                        const char *name) {
  tu_rng rng;
  tu_seed(&rng, 5 + kind);
  pool_ctx pc;
  memset(&pc, 0, sizeof pc);
  pc.B = 2;
  pc.s = (tt_pool_shape){3, 6, 5, k, k, stride, pad, 0, 0, 0};
  cr_assert(tt_pool_shape_init(&pc.s));
  pc.kind = kind;
  int64_t nx = pc.B * 3 * 6 * 5;
  int64_t no = kind == 0 || kind == 1 ? pc.B * 3 * pc.s.oh * pc.s.ow
               : kind == 2            ? pc.B * 3
                                      : nx;
  float *x = malloc(nx * 4), *p = malloc(nx * 4), *r = malloc(no * 4);
  float *gx = calloc(nx, 4), *gp = calloc(nx, 4), *out = malloc(no * 4);
  /* distinct values away from kinks (relu at 0 and 6, max ties) */
  for (int64_t i = 0; i < nx; i++) {
    float v = (float)((i * 37) % 101) / 101.0f * 16 - 4;
    x[i] = fabsf(v) < 0.05f || fabsf(v - 6) < 0.05f ? v + 0.2f : v;
  }
  rand_fill(&rng, p, nx, -1, 1);
  rand_fill(&rng, r, no, -1, 1);
  pool_fwd(&pc, x, p, out);
  switch (kind) {
  case 0:
    tt_maxpool_backward(gx, r, pc.arg, pc.B, &pc.s);
    break;
  case 1:
    tt_avgpool_backward(gx, r, pc.B, &pc.s);
    break;
  case 2:
    tt_gap_backward(gx, r, pc.B, 3, 30);
    break;
  case 3:
    tt_relu_backward(gx, r, x, nx);
    break;
  case 4:
    tt_relu6_backward(gx, r, x, nx);
    break;
  default:
    tt_add_backward(gx, gp, r, nx);
  }
  check c = {pool_fwd, &pc, nx, kind == 5 ? nx : 0, no, 1e-3f};
  fd_compare(&c, x, kind == 5 ? p : NULL, r, gx, kind == 5 ? gp : NULL, name);
  free(x), free(p), free(r), free(gx), free(gp), free(out);
}

Test(grad, maxpool) {
  simple_case(0, 2, 2, 0, "maxpool 2");
}
Test(grad, maxpool_overlap_pad) {
  simple_case(0, 3, 2, 1, "maxpool 3/2/1");
}
Test(grad, avgpool) {
  simple_case(1, 3, 2, 1, "avgpool 3/2/1");
}
Test(grad, global_avgpool) {
  simple_case(2, 1, 1, 0, "global avgpool");
}
Test(grad, relu) {
  simple_case(3, 1, 1, 0, "relu");
}
Test(grad, relu6) {
  simple_case(4, 1, 1, 0, "relu6");
}
Test(grad, add) {
  simple_case(5, 1, 1, 0, "add");
}

/* ----------------------------------------------------------------- losses */
typedef struct loss_ctx {
  int64_t B, C;
  int labels[4];
  float eps, T, lambda;
  const float *teacher;
} loss_ctx;
static void xent_fwd(void *vc, const float *x, const float *p, float *out) {
  loss_ctx *c = vc;
  out[0] = c->teacher
               ? tt_distill_loss(NULL, x, c->teacher, c->labels, c->B, c->C,
                                 c->T, c->lambda, c->eps)
               : tt_softmax_xent(NULL, NULL, x, c->labels, c->B, c->C, c->eps);
}

Test(grad, softmax_xent_label_smoothing) {
  tu_rng rng;
  tu_seed(&rng, 9);
  loss_ctx lc = {4, 5, {0, 3, 4, 1}, 0.1f, 1, 0, NULL};
  float z[20], g[20], r = 1;
  rand_fill(&rng, z, 20, -3, 3);
  tt_softmax_xent(g, NULL, z, lc.labels, 4, 5, 0.1f);
  check c = {xent_fwd, &lc, 20, 0, 1, 1e-2f};
  fd_compare(&c, z, NULL, &r, g, NULL, "softmax xent");
  /* hand value: uniform logits give log(C) whatever the smoothing */
  float u[5] = {0}, l;
  int lab = 2;
  l = tt_softmax_xent(NULL, NULL, u, &lab, 1, 5, 0.3f);
  cr_expect_float_eq(l, logf(5), 1e-6);
}

Test(grad, distillation_loss) {
  tu_rng rng;
  tu_seed(&rng, 10);
  float t[20];
  rand_fill(&rng, t, 20, -3, 3);
  loss_ctx lc = {4, 5, {0, 3, 4, 1}, 0.0f, 3.0f, 0.6f, t};
  float z[20], g[20], r = 1;
  rand_fill(&rng, z, 20, -3, 3);
  tt_distill_loss(g, z, t, lc.labels, 4, 5, 3.0f, 0.6f, 0);
  check c = {xent_fwd, &lc, 20, 0, 1, 1e-2f};
  fd_compare(&c, z, NULL, &r, g, NULL, "distillation");
  /* student == teacher, lambda = 1: KL is zero */
  cr_expect_float_eq(tt_distill_loss(NULL, t, t, lc.labels, 4, 5, 3, 1, 0),
                     0.0f, 1e-6);
}

/* ------------------------------------------------------- whole network */
typedef struct net_ctx {
  tt_net *net;
  int64_t B;
} net_ctx;
static void net_fwd(void *vc, const float *x, const float *p, float *out) {
  net_ctx *c = vc;
  memcpy(c->net->params, p, (size_t)c->net->n_params * 4);
  const float *y = tt_net_forward(c->net, x, c->B, true, TT_Q_OFF, 0, 0);
  memcpy(out, y, (size_t)(c->B * c->net->classes) * 4);
}

Test(grad, network_with_bn_pools_and_residual) {
  tern_err err = {0};
  tt_net *net = NULL;
  cr_assert_eq(tt_net_create("in 2x8x8; conv 4 3 1 1; bn; relu; "
                             "conv 4 3 1 1; add 2; relu6; maxpool 2; "
                             "dwconv 3 1 1; avgpool 2; gap; linear 5",
                             3, 2, &net, &err),
               TERN_OK, "%s", err.msg);
  int64_t B = 3, nx = B * 2 * 64, np = net->n_params, no = B * 5;
  float *x = malloc(nx * 4), *p = malloc(np * 4), *r = malloc(no * 4);
  /* smooth, well-spread values keep the finite differences away from relu
   * kinks and max-pool ties */
  for (int64_t i = 0; i < nx; i++)
    x[i] = sinf((float)i * 1.3f);
  memcpy(p, net->params, np * 4);
  for (int64_t i = 0; i < no; i++)
    r[i] = cosf((float)i * 0.7f);
  net_ctx nc = {net, B};
  float *out = malloc(no * 4);
  net_fwd(&nc, x, p, out);
  tt_net_zero_grad(net);
  tt_net_backward(net, r, B);
  float *gp = malloc(np * 4);
  memcpy(gp, net->grads, np * 4);
  /* the learned-quantizer slots get no gradient in fp32 mode: skip them */
  for (int i = 0; i < net->n_layers; i++)
    if (net->layers[i].q_off >= 0)
      for (int64_t k = 0; k < net->layers[i].n_q; k++)
        gp[net->layers[i].q_off + k] = 0;
  check c = {net_fwd, &nc, nx, np, no, 1e-3f}; /* small: relu kinks */
  fd_compare(&c, x, p, r, NULL, gp, "network");
  tt_net_destroy(net);
  free(x), free(p), free(r), free(out), free(gp);
}

/* -------------------------------------------------- optimizers, schedules */
Test(optim, sgd_momentum_weight_decay) {
  float p[2] = {1, 2}, g[2] = {0.5f, -1}, m[2] = {0, 0};
  uint8_t decay[2] = {1, 0};
  tt_sgd_step(p, g, m, decay, 2, 0.1f, 0.9f, 0.01f, false);
  cr_expect_float_eq(p[0], 1 - 0.1f * (0.5f + 0.01f), 1e-7);
  cr_expect_float_eq(p[1], 2 - 0.1f * -1, 1e-7);
  float p0 = p[0];
  tt_sgd_step(p, g, m, decay, 2, 0.1f, 0.9f, 0.01f, false);
  float d = 0.5f + 0.01f * p0;
  cr_expect_float_eq(p[0], p0 - 0.1f * (0.9f * 0.51f + d), 1e-6);
}

Test(optim, adamw_first_step) {
  float p[1] = {1}, g[1] = {0.2f}, m[1] = {0}, v[1] = {0};
  tt_adamw_step(p, g, m, v, NULL, 1, 0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, 1);
  /* first bias-corrected step moves by lr·sign(g), after decay 1-lr·wd */
  cr_expect_float_eq(p[0], 1 * (1 - 0.001f) - 0.01f, 1e-6);
}

Test(schedule, cosine_warmup_and_step) {
  tt_schedule s = {TT_SCHED_COSINE, 1.0f, 10, 110, 0.0f, 0, 0};
  cr_expect_float_eq(tt_schedule_lr(&s, 0), 0.1f, 1e-7);
  cr_expect_float_eq(tt_schedule_lr(&s, 9), 1.0f, 1e-7);
  cr_expect_float_eq(tt_schedule_lr(&s, 60), 0.5f, 1e-6);
  cr_expect_float_eq(tt_schedule_lr(&s, 110), 0.0f, 1e-7);
  tt_schedule t = {TT_SCHED_STEP, 1.0f, 0, 0, 0, 30, 0.1f};
  cr_expect_float_eq(tt_schedule_lr(&t, 29), 1.0f, 1e-7);
  cr_expect_float_eq(tt_schedule_lr(&t, 30), 0.1f, 1e-7);
  cr_expect_float_eq(tt_schedule_lr(&t, 65), 0.01f, 1e-8);
}
