/* test_cpu_kernels.c — every CPU kernel table this machine can run (scalar,
 * AVX2, AVX-512 VNNI, NEON), at 1 and 2 threads, against the naive reference
 * ops bit for bit: linear (GEMV and GEMM paths) and conv2d (im2col GEMM,
 * grouped, depthwise) with ternary and int8 weights, per-channel and
 * per-tensor scales, odd sizes, bias and fused activations. */
#include "backends/cpu/cpu_kernels.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wdata {
  tern_view v;
  void *data;
  float *scales;
} wdata;

/* Random weights [N, K] (or any shape with rows N) in canonical layout. */
static wdata make_weight(tu_rng *r, tern_dtype dt, int ndim,
                         const int64_t *shape, bool per_tensor, bool with_min) {
  wdata w;
  memset(&w, 0, sizeof w);
  int64_t N = shape[0], K = 1;
  for (int i = 1; i < ndim; i++)
    K *= shape[i];
  w.v.dtype = dt;
  w.v.ndim = ndim;
  memcpy(w.v.shape, shape, (size_t)ndim * sizeof(int64_t));
  size_t bytes = tern_dtype_bytes(dt, N, K);
  w.data = malloc(bytes ? bytes : 1);
  if (dt == TERN_DTYPE_TERNARY) {
    int8_t *q = malloc((size_t)(N * K) + 1);
    for (int64_t i = 0; i < N * K; i++)
      q[i] = (int8_t)(tu_u32(r) % 3) - 1;
    cr_assert_eq(tern_ternary_pack(q, N, K, w.data, bytes), TERN_OK);
    free(q);
  } else if (dt == TERN_DTYPE_I8) {
    int8_t *q = w.data;
    for (int64_t i = 0; i < N * K; i++)
      q[i] = (int8_t)((int)(tu_u32(r) % 255) - 127);
    if (with_min && N * K > 0)
      q[(N * K) / 2] = -128;
  } else {
    tu_fill(r, w.data, (size_t)(N * K), -1, 1);
  }
  w.v.data = w.data;
  if (dt != TERN_DTYPE_F32) {
    int64_t ns = per_tensor ? 1 : N;
    w.scales = malloc((size_t)ns * sizeof(float));
    for (int64_t i = 0; i < ns; i++)
      w.scales[i] = tu_uniform(r, 0.001f, 0.1f);
    w.v.scales = w.scales;
    w.v.scale_count = ns;
  }
  return w;
}

static void free_weight(wdata *w) {
  free(w->data);
  free(w->scales);
}

/* Activations with rows of varied magnitude; special rows exercise the
 * rule's corners (all zero, tiny, a NaN, an infinity). */
static float *make_x(tu_rng *r, int64_t M, int64_t K, bool specials) {
  float *x = malloc((size_t)(M * K) * sizeof(float) + 4);
  for (int64_t m = 0; m < M; m++) {
    float mag = powf(2.0f, (float)((int)(tu_u32(r) % 20) - 10));
    for (int64_t k = 0; k < K; k++)
      x[m * K + k] = tu_uniform(r, -mag, mag);
  }
  if (specials && M >= 4 && K >= 1) {
    memset(x, 0, (size_t)K * sizeof(float)); /* row 0: zeros */
    x[1 * K + K / 2] = NAN;                  /* row 1: NaN */
    x[2 * K + (K - 1)] = INFINITY;           /* row 2: inf */
    for (int64_t k = 0; k < K; k++)          /* row 3: tiny */
      x[3 * K + k] = 1e-35f * (float)(k % 3);
  }
  return x;
}

static int n_isas(tern_cpu_isa *isas) {
  int n = 0;
  for (int i = 0; i < TERN_ISA_COUNT_; i++)
    if (tern_cpu_isa_available((tern_cpu_isa)i))
      isas[n++] = (tern_cpu_isa)i;
  return n;
}

static void check_linear(tu_rng *r, tern_dtype dt, int64_t M, int64_t N,
                         int64_t K, bool per_tensor, bool bias_on,
                         tern_activation act, bool with_min) {
  int64_t wshape[2] = {N, K};
  wdata w = make_weight(r, dt, 2, wshape, per_tensor, with_min);
  float *x = make_x(r, M, K, M >= 4);
  float *b = NULL;
  if (bias_on) {
    b = malloc((size_t)N * sizeof(float));
    tu_fill(r, b, (size_t)N, -1, 1);
  }
  tern_view in[3];
  memset(in, 0, sizeof in);
  in[0].dtype = TERN_DTYPE_F32;
  in[0].ndim = 2;
  in[0].shape[0] = M;
  in[0].shape[1] = K;
  in[0].data = x;
  in[1] = w.v;
  in[2].dtype = TERN_DTYPE_F32;
  in[2].ndim = 1;
  in[2].shape[0] = N;
  in[2].data = b;
  tern_op_params p;
  memset(&p, 0, sizeof p);
  p.activation = act;
  tern_view out;
  tern_err err;
  const tern_op_def *def = tern_op_get(TERN_OP_LINEAR);
  cr_assert_eq(def->infer(&p, in, bias_on ? 3 : 2, &out, &err), TERN_OK, "%s",
               err.msg);
  float *ref = malloc((size_t)(M * N) * sizeof(float) + 4);
  float *got = malloc((size_t)(M * N) * sizeof(float) + 4);
  out.data = ref;
  cr_assert_eq(def->ref(&p, in, bias_on ? 3 : 2, &out, &err), TERN_OK);
  tern_cpu_isa isas[TERN_ISA_COUNT_];
  int ni = n_isas(isas);
  for (int ii = 0; ii < ni; ii++) {
    tern_cpu_linear *l;
    cr_assert_eq(tern_cpu_linear_create(&w.v, b, act, isas[ii], &l, &err),
                 TERN_OK, "%s", err.msg);
    for (int threads = 1; threads <= 2; threads++) {
      memset(got, 0xcd, (size_t)(M * N) * sizeof(float));
      cr_assert_eq(tern_cpu_linear_run(l, x, M, got, threads, &err), TERN_OK,
                   "%s", err.msg);
      for (int64_t i = 0; i < M * N; i++) {
        uint32_t a, c;
        memcpy(&a, &ref[i], 4);
        memcpy(&c, &got[i], 4);
        if (a != c)
          cr_assert_fail("linear %s isa=%s threads=%d M=%lld N=%lld K=%lld "
                         "%s bias=%d act=%d: element (%lld, %lld) ref %.9g "
                         "got %.9g",
                         tern_dtype_name(dt), tern_cpu_isa_name(isas[ii]),
                         threads, (long long)M, (long long)N, (long long)K,
                         per_tensor ? "per-tensor" : "per-channel", bias_on,
                         act, (long long)(i / N), (long long)(i % N), ref[i],
                         got[i]);
      }
    }
    tern_cpu_linear_destroy(l);
  }
  free(ref);
  free(got);
  free(x);
  free(b);
  free_weight(&w);
}

Test(cpu_kernels, isa_detection) {
  tern_cpu_isa best = tern_cpu_isa_best();
  cr_assert(tern_cpu_isa_available(TERN_ISA_SCALAR));
  cr_assert(tern_cpu_isa_available(best));
  setenv("TERN_CPU_ISA", "scalar", 1);
  cr_assert_eq(tern_cpu_isa_active(), TERN_ISA_SCALAR);
  setenv("TERN_CPU_ISA", "bogus", 1);
  cr_assert_eq(tern_cpu_isa_active(), best);
  unsetenv("TERN_CPU_ISA");
  cr_assert_eq(tern_cpu_isa_active(), best);
  tern_cpu_isa i;
  cr_assert(tern_cpu_isa_parse("avx2", &i) && i == TERN_ISA_AVX2);
  cr_assert(!tern_cpu_isa_parse("avx3", &i));
}

Test(cpu_kernels, linear_odd_sizes) {
  tu_rng r;
  tu_seed(&r, 1234);
  static const int64_t Ks[] = {1, 3, 17, 33, 257, 1000};
  static const int64_t Ms[] = {1, 2, 7, 33};
  static const int64_t Ns[] = {1, 5, 19, 67};
  tern_dtype dts[] = {TERN_DTYPE_TERNARY, TERN_DTYPE_I8};
  int c = 0;
  for (int d = 0; d < 2; d++)
    for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
      for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++, c++)
          check_linear(&r, dts[d], Ms[mi], Ns[ni], Ks[ki], c % 3 == 0,
                       c % 2 == 0, (tern_activation)(c % TERN_ACT_COUNT_),
                       false);
}

Test(cpu_kernels, linear_large) {
  tu_rng r;
  tu_seed(&r, 99);
  check_linear(&r, TERN_DTYPE_TERNARY, 1, 512, 4096, false, true, TERN_ACT_NONE,
               false);
  check_linear(&r, TERN_DTYPE_TERNARY, 37, 512, 4096, true, true, TERN_ACT_RELU,
               false);
  check_linear(&r, TERN_DTYPE_I8, 3, 512, 4096, false, false, TERN_ACT_NONE,
               false);
  check_linear(&r, TERN_DTYPE_I8, 20, 300, 2000, false, true, TERN_ACT_GELU,
               false);
  /* P16 (AVX-512): GEMV rows (ternary up to 3), GEMM over several K passes
   * (2048 each), partial strips, every epilogue activation */
  check_linear(&r, TERN_DTYPE_TERNARY, 3, 33, 2500, false, true, TERN_ACT_SILU,
               false);
  check_linear(&r, TERN_DTYPE_I8, 7, 70, 4500, false, true, TERN_ACT_RELU6,
               true);
  check_linear(&r, TERN_DTYPE_I8, 2, 129, 6000, true, false, TERN_ACT_RELU,
               true);
  check_linear(&r, TERN_DTYPE_I8, 4, 67, 300, false, true, TERN_ACT_NONE, true);
  check_linear(&r, TERN_DTYPE_TERNARY, 4, 67, 300, false, true, TERN_ACT_GELU,
               false);
  /* K beyond the 16-block int16 widening period of the ternary GEMV */
  check_linear(&r, TERN_DTYPE_TERNARY, 2, 9, 5000, false, false, TERN_ACT_NONE,
               false);
}

Test(cpu_kernels, int8_weight_minus_128) {
  tu_rng r;
  tu_seed(&r, 7);
  check_linear(&r, TERN_DTYPE_I8, 1, 33, 300, false, true, TERN_ACT_NONE, true);
  check_linear(&r, TERN_DTYPE_I8, 12, 33, 300, false, true, TERN_ACT_NONE,
               true);
}

Test(cpu_kernels, extreme_activations) {
  /* all-equal maxima and values at the clamp: every code 127 / -127 */
  int64_t N = 8, K = 300, M = 9;
  tu_rng r;
  tu_seed(&r, 5);
  int64_t wshape[2] = {N, K};
  tern_dtype dts[] = {TERN_DTYPE_TERNARY, TERN_DTYPE_I8};
  for (int d = 0; d < 2; d++) {
    wdata w = make_weight(&r, dts[d], 2, wshape, false, false);
    /* ternary worst case: all +1 codes */
    if (dts[d] == TERN_DTYPE_TERNARY)
      memset(w.data, 0xAA, tern_dtype_bytes(TERN_DTYPE_TERNARY, N, K));
    float *x = malloc((size_t)(M * K) * sizeof(float));
    for (int64_t i = 0; i < M * K; i++)
      x[i] = (i / K) % 2 ? -3.0f : 3.0f;
    tern_view in[2];
    memset(in, 0, sizeof in);
    in[0].dtype = TERN_DTYPE_F32;
    in[0].ndim = 2;
    in[0].shape[0] = M;
    in[0].shape[1] = K;
    in[0].data = x;
    in[1] = w.v;
    tern_op_params p;
    memset(&p, 0, sizeof p);
    tern_view out;
    tern_err err;
    const tern_op_def *def = tern_op_get(TERN_OP_LINEAR);
    cr_assert_eq(def->infer(&p, in, 2, &out, &err), TERN_OK);
    float ref[9 * 8], got[9 * 8];
    out.data = ref;
    cr_assert_eq(def->ref(&p, in, 2, &out, &err), TERN_OK);
    tern_cpu_isa isas[TERN_ISA_COUNT_];
    int ni = n_isas(isas);
    for (int ii = 0; ii < ni; ii++) {
      tern_cpu_linear *l;
      cr_assert_eq(tern_cpu_linear_create(&w.v, NULL, 0, isas[ii], &l, &err),
                   TERN_OK);
      cr_assert_eq(tern_cpu_linear_run(l, x, M, got, 2, &err), TERN_OK);
      cr_assert_eq(memcmp(ref, got, sizeof ref), 0, "isa %s dtype %s",
                   tern_cpu_isa_name(isas[ii]), tern_dtype_name(dts[d]));
      tern_cpu_linear_destroy(l);
    }
    free(x);
    free_weight(&w);
  }
}

/* ------------------------------------------------------------- conv2d */
typedef struct conv_case {
  int64_t N, C, H, W, OC, KH, KW;
  int sh, sw, ph, pw, dh, dw, groups;
} conv_case;

static void check_conv(tu_rng *r, tern_dtype dt, const conv_case *cc,
                       bool per_tensor, bool bias_on, tern_activation act) {
  int64_t G = cc->groups ? cc->groups : 1;
  int64_t wshape[4] = {cc->OC, cc->C / G, cc->KH, cc->KW};
  wdata w = make_weight(r, dt, 4, wshape, per_tensor, false);
  int64_t xn = cc->N * cc->C * cc->H * cc->W;
  float *x = make_x(r, 1, xn, false);
  float *b = NULL;
  if (bias_on) {
    b = malloc((size_t)cc->OC * sizeof(float));
    tu_fill(r, b, (size_t)cc->OC, -1, 1);
  }
  tern_view in[3];
  memset(in, 0, sizeof in);
  in[0].dtype = TERN_DTYPE_F32;
  in[0].ndim = 4;
  in[0].shape[0] = cc->N;
  in[0].shape[1] = cc->C;
  in[0].shape[2] = cc->H;
  in[0].shape[3] = cc->W;
  in[0].data = x;
  in[1] = w.v;
  in[2].dtype = TERN_DTYPE_F32;
  in[2].ndim = 1;
  in[2].shape[0] = cc->OC;
  in[2].data = b;
  tern_op_params p;
  memset(&p, 0, sizeof p);
  p.stride[0] = cc->sh, p.stride[1] = cc->sw;
  p.pad[0] = cc->ph, p.pad[1] = cc->pw;
  p.dilation[0] = cc->dh, p.dilation[1] = cc->dw;
  p.groups = cc->groups;
  p.activation = act;
  tern_view out;
  tern_err err;
  const tern_op_def *def = tern_op_get(TERN_OP_CONV2D);
  int nin = bias_on ? 3 : 2;
  cr_assert_eq(def->infer(&p, in, nin, &out, &err), TERN_OK, "%s", err.msg);
  int64_t on = tern_view_numel(&out);
  float *ref = malloc((size_t)on * sizeof(float));
  float *got = malloc((size_t)on * sizeof(float));
  out.data = ref;
  cr_assert_eq(def->ref(&p, in, nin, &out, &err), TERN_OK);
  tern_cpu_isa isas[TERN_ISA_COUNT_];
  int ni = n_isas(isas);
  for (int ii = 0; ii < ni; ii++) {
    tern_cpu_conv2d *c;
    cr_assert_eq(
        tern_cpu_conv2d_create(&p, &in[0], &w.v, b, isas[ii], &c, &err),
        TERN_OK, "%s", err.msg);
    for (int threads = 1; threads <= 2; threads++) {
      tern_view y = out;
      y.data = got;
      memset(got, 0xcd, (size_t)on * sizeof(float));
      cr_assert_eq(tern_cpu_conv2d_run(c, &in[0], &y, threads, &err), TERN_OK,
                   "%s", err.msg);
      for (int64_t i = 0; i < on; i++)
        if (memcmp(&ref[i], &got[i], 4) != 0)
          cr_assert_fail("conv2d %s isa=%s threads=%d N%lld C%lld H%lld W%lld "
                         "OC%lld k%lldx%lld s%d p%d d%d g%d: element %lld "
                         "ref %.9g got %.9g",
                         tern_dtype_name(dt), tern_cpu_isa_name(isas[ii]),
                         threads, (long long)cc->N, (long long)cc->C,
                         (long long)cc->H, (long long)cc->W, (long long)cc->OC,
                         (long long)cc->KH, (long long)cc->KW, cc->sh, cc->ph,
                         cc->dh, cc->groups, (long long)i, ref[i], got[i]);
    }
    tern_cpu_conv2d_destroy(c);
  }
  free(ref);
  free(got);
  free(x);
  free(b);
  free_weight(&w);
}

Test(cpu_kernels, conv2d) {
  tu_rng r;
  tu_seed(&r, 4242);
  static const conv_case cases[] = {
      {1, 3, 9, 11, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1},    /* plain 3x3 pad 1 */
      {2, 4, 8, 8, 6, 3, 3, 2, 2, 0, 0, 1, 1, 1},     /* stride 2 */
      {1, 6, 10, 7, 4, 3, 2, 1, 2, 2, 1, 2, 1, 2},    /* groups, dilation */
      {2, 5, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5},     /* depthwise */
      {1, 4, 6, 6, 8, 3, 3, 2, 1, 1, 0, 1, 1, 4},     /* depthwise x2 */
      {1, 3, 4, 300, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3},   /* depthwise, wide rows */
      {2, 3, 11, 13, 3, 5, 5, 1, 2, 2, 3, 2, 2, 3},   /* dw: dilation, stride */
      {1, 16, 12, 12, 33, 1, 1, 1, 1, 0, 0, 1, 1, 1}, /* pointwise */
      {1, 64, 14, 14, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1}, /* K = 576 */
  };
  int c = 0;
  tern_dtype dts[] = {TERN_DTYPE_TERNARY, TERN_DTYPE_I8};
  for (int d = 0; d < 2; d++)
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++, c++)
      check_conv(&r, dts[d], &cases[i], c % 3 == 1, c % 2 == 0,
                 (tern_activation)(c % 3));
}

static void count_task(void *c, int64_t t) {
  int *h = *(int **)c;
  __atomic_fetch_add(&h[t], 1, __ATOMIC_RELAXED);
}

Test(cpu_kernels, thread_pool_covers_every_task) {
  enum { T = 1000 };
  static int hits[T];
  memset(hits, 0, sizeof hits);
  for (int threads = 1; threads <= 4; threads++) {
    memset(hits, 0, sizeof hits);
    struct {
      int *h;
    } ctx = {hits};
    tern_cpu_parallel_for(threads, T, count_task, &ctx);
    for (int i = 0; i < T; i++)
      cr_assert_eq(hits[i], 1, "task %d ran %d times with %d threads", i,
                   hits[i], threads);
  }
}
