/* neon_check.c — standalone exactness check of the CPU kernel tables (no
 * Criterion, so it cross-builds for AArch64 and runs under qemu-user; see
 * tests/neon_qemu.sh). Every table this CPU can run (scalar, neon,
 * neondot) against the reference ops bit for bit: fast linear (GEMV and
 * GEMM paths) and conv2d on odd sizes, ternary (per-channel / per-tensor)
 * and int8 weights, bias and fused activations; then each SIMD table's
 * kernels against the scalar table on raw layouts (int8 weights of -128,
 * extreme codes, NaN/inf/tiny activation rows); and the elementwise, norm,
 * softmax, rope, matmul, pool and permute fast paths of the scalar and neon
 * elementwise tables (tests/eltwise_check.h, shared with
 * test_cpu_eltwise).
 * Usage: neon_check [--expect-best ISA]; prints "N passed, N failed". */
#include "backends/cpu/cpu_kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_pass, g_fail;

static void check(bool ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void check(bool ok, const char *fmt, ...) {
  if (ok) {
    g_pass++;
    return;
  }
  g_fail++;
  if (g_fail <= 30) {
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
  }
}

#include "eltwise_check.h"

/* xorshift64* */
static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return (uint32_t)((g_rng * 0x2545f4914f6cdd1dull) >> 32);
}
static float uni(float lo, float hi) {
  return lo + (hi - lo) * (float)(rnd() >> 8) * (1.0f / 16777216.0f);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "neon_check: out of memory\n");
    exit(2);
  }
  return p;
}

static int isa_list(tern_cpu_isa *isas) {
  int n = 0;
  for (int i = 0; i < TERN_ISA_COUNT_; i++)
    if (tern_cpu_isa_available((tern_cpu_isa)i))
      isas[n++] = (tern_cpu_isa)i;
  return n;
}

/* ------------------------------------------------------------ weights */
typedef struct wdata {
  tern_view v;
  void *data;
  float *scales;
} wdata;

static wdata make_weight(tern_dtype dt, int ndim, const int64_t *shape,
                         bool per_tensor) {
  wdata w;
  memset(&w, 0, sizeof w);
  int64_t N = shape[0], K = 1;
  for (int i = 1; i < ndim; i++)
    K *= shape[i];
  w.v.dtype = dt;
  w.v.ndim = ndim;
  memcpy(w.v.shape, shape, (size_t)ndim * sizeof(int64_t));
  size_t bytes = tern_dtype_bytes(dt, N, K);
  w.data = xmalloc(bytes);
  if (dt == TERN_DTYPE_TERNARY) {
    int8_t *q = xmalloc((size_t)(N * K));
    for (int64_t i = 0; i < N * K; i++)
      q[i] = (int8_t)(rnd() % 3) - 1;
    if (tern_ternary_pack(q, N, K, w.data, bytes) != TERN_OK) {
      fprintf(stderr, "neon_check: tern_ternary_pack failed\n");
      exit(2);
    }
    free(q);
  } else {
    int8_t *q = w.data;
    for (int64_t i = 0; i < N * K; i++)
      q[i] = (int8_t)((int)(rnd() % 255) - 127);
  }
  w.v.data = w.data;
  int64_t ns = per_tensor ? 1 : N;
  w.scales = xmalloc((size_t)ns * sizeof(float));
  for (int64_t i = 0; i < ns; i++)
    w.scales[i] = uni(0.001f, 0.1f);
  w.v.scales = w.scales;
  w.v.scale_count = ns;
  return w;
}

/* Rows of varied magnitude; with M >= 4 rows 0-3 are all zero, hold a NaN,
 * an infinity, or only tiny values (the rule's corners). */
static float *make_x(int64_t M, int64_t K) {
  float *x = xmalloc((size_t)(M * K) * sizeof(float));
  for (int64_t m = 0; m < M; m++) {
    float mag = ldexpf(1.0f, (int)(rnd() % 20) - 10);
    for (int64_t k = 0; k < K; k++)
      x[m * K + k] = uni(-mag, mag);
  }
  if (M >= 4) {
    memset(x, 0, (size_t)K * sizeof(float));
    x[1 * K + K / 2] = NAN;
    x[2 * K + (K - 1)] = INFINITY;
    for (int64_t k = 0; k < K; k++)
      x[3 * K + k] = 1e-35f * (float)(k % 3);
  }
  return x;
}

static bool same_bits(const float *a, const float *b, int64_t n,
                      int64_t *where) {
  for (int64_t i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], 4) != 0) {
      *where = i;
      return false;
    }
  return true;
}

/* ------------------------------------------------------------- linear */
static void check_linear(tern_dtype dt, int64_t M, int64_t N, int64_t K,
                         bool per_tensor, bool bias_on, tern_activation act) {
  int64_t wshape[2] = {N, K};
  wdata w = make_weight(dt, 2, wshape, per_tensor);
  float *x = make_x(M, K);
  float *b = NULL;
  if (bias_on) {
    b = xmalloc((size_t)N * sizeof(float));
    for (int64_t i = 0; i < N; i++)
      b[i] = uni(-1, 1);
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
  int nin = bias_on ? 3 : 2;
  tern_op_params p;
  memset(&p, 0, sizeof p);
  p.activation = act;
  tern_view out;
  tern_err err;
  const tern_op_def *def = tern_op_get(TERN_OP_LINEAR);
  float *ref = xmalloc((size_t)(M * N) * sizeof(float));
  float *got = xmalloc((size_t)(M * N) * sizeof(float));
  bool ok = def->infer(&p, in, nin, &out, &err) == TERN_OK;
  out.data = ref;
  ok = ok && def->ref(&p, in, nin, &out, &err) == TERN_OK;
  check(ok, "linear reference failed: %s", err.msg);
  tern_cpu_isa isas[TERN_ISA_COUNT_];
  int ni = ok ? isa_list(isas) : 0;
  for (int ii = 0; ii < ni; ii++) {
    tern_cpu_linear *l;
    if (tern_cpu_linear_create(&w.v, b, act, isas[ii], &l, &err) != TERN_OK) {
      check(false, "linear create %s: %s", tern_cpu_isa_name(isas[ii]),
            err.msg);
      continue;
    }
    for (int threads = 1; threads <= 2; threads++) {
      memset(got, 0xcd, (size_t)(M * N) * sizeof(float));
      int64_t at = -1;
      bool run = tern_cpu_linear_run(l, x, M, got, threads, &err) == TERN_OK;
      check(run && same_bits(ref, got, M * N, &at),
            "linear %s isa=%s threads=%d M=%lld N=%lld K=%lld %s bias=%d "
            "act=%d: element %lld ref %.9g got %.9g",
            tern_dtype_name(dt), tern_cpu_isa_name(isas[ii]), threads,
            (long long)M, (long long)N, (long long)K,
            per_tensor ? "per-tensor" : "per-channel", bias_on, act,
            (long long)at, at >= 0 ? ref[at] : 0, at >= 0 ? got[at] : 0);
    }
    tern_cpu_linear_destroy(l);
  }
  free(ref);
  free(got);
  free(x);
  free(b);
  free(w.data);
  free(w.scales);
}

/* ------------------------------------------------------------- conv2d */
typedef struct conv_case {
  int64_t N, C, H, W, OC, KH, KW;
  int sh, sw, ph, pw, dh, dw, groups;
} conv_case;

static void check_conv(tern_dtype dt, const conv_case *cc, bool per_tensor,
                       bool bias_on, tern_activation act) {
  int64_t G = cc->groups;
  int64_t wshape[4] = {cc->OC, cc->C / G, cc->KH, cc->KW};
  wdata w = make_weight(dt, 4, wshape, per_tensor);
  float *x = make_x(1, cc->N * cc->C * cc->H * cc->W);
  float *b = NULL;
  if (bias_on) {
    b = xmalloc((size_t)cc->OC * sizeof(float));
    for (int64_t i = 0; i < cc->OC; i++)
      b[i] = uni(-1, 1);
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
  int nin = bias_on ? 3 : 2;
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
  bool ok = def->infer(&p, in, nin, &out, &err) == TERN_OK;
  int64_t on = ok ? tern_view_numel(&out) : 1;
  float *ref = xmalloc((size_t)on * sizeof(float));
  float *got = xmalloc((size_t)on * sizeof(float));
  out.data = ref;
  ok = ok && def->ref(&p, in, nin, &out, &err) == TERN_OK;
  check(ok, "conv2d reference failed: %s", err.msg);
  tern_cpu_isa isas[TERN_ISA_COUNT_];
  int ni = ok ? isa_list(isas) : 0;
  for (int ii = 0; ii < ni; ii++) {
    tern_cpu_conv2d *c;
    if (tern_cpu_conv2d_create(&p, &in[0], &w.v, b, isas[ii], &c, &err) !=
        TERN_OK) {
      check(false, "conv2d create %s: %s", tern_cpu_isa_name(isas[ii]),
            err.msg);
      continue;
    }
    for (int threads = 1; threads <= 2; threads++) {
      tern_view y = out;
      y.data = got;
      memset(got, 0xcd, (size_t)on * sizeof(float));
      int64_t at = -1;
      bool run = tern_cpu_conv2d_run(c, &in[0], &y, threads, &err) == TERN_OK;
      check(run && same_bits(ref, got, on, &at),
            "conv2d %s isa=%s threads=%d C%lld H%lld W%lld OC%lld k%lldx%lld "
            "s%d p%d d%d g%d: element %lld",
            tern_dtype_name(dt), tern_cpu_isa_name(isas[ii]), threads,
            (long long)cc->C, (long long)cc->H, (long long)cc->W,
            (long long)cc->OC, (long long)cc->KH, (long long)cc->KW, cc->sh,
            cc->ph, cc->dh, cc->groups, (long long)at);
    }
    tern_cpu_conv2d_destroy(c);
  }
  free(ref);
  free(got);
  free(x);
  free(b);
  free(w.data);
  free(w.scales);
}

/* ---------------------------------------------- raw kernels vs scalar */
static void check_quantize(const tern_cpu_kernels *k, const char *name) {
  static const int64_t Ks[] = {1, 3, 4, 15, 16, 17, 33, 255, 257, 1000};
  for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
    int64_t K = Ks[ki], kp = (K + 255) / 256 * 256;
    float *x = xmalloc((size_t)K * sizeof(float));
    int8_t *qr = xmalloc((size_t)kp), *qg = xmalloc((size_t)kp);
    for (int variant = 0; variant < 7; variant++) {
      float mag = ldexpf(1.0f, (int)(rnd() % 40) - 20);
      for (int64_t i = 0; i < K; i++)
        x[i] = uni(-mag, mag);
      int64_t at = (int64_t)(rnd() % (uint32_t)K);
      if (variant == 1)
        x[at] = NAN;
      else if (variant == 2)
        x[at] = -INFINITY;
      else if (variant == 3)
        for (int64_t i = 0; i < K; i++)
          x[i] = 1e-32f * (float)(i % 5);
      else if (variant == 4) /* halfway cases: round to even */
        for (int64_t i = 0; i < K; i++)
          x[i] = ((float)(int)(rnd() % 255) - 127.0f) + 0.5f;
      else if (variant == 5) /* the clamp: absmax just over 127 * 2^e */
        for (int64_t i = 0; i < K; i++)
          x[i] = (i % 2 ? -1.0f : 1.0f) * 127.9f;
      float sr = 0, sg = 0;
      for (int pass = 0; pass < 2; pass++) {
        int64_t kk = pass ? kp : K; /* conv2d quantizes with kp == K */
        memset(qr, 0x5a, (size_t)kp);
        memset(qg, 0x5a, (size_t)kp);
        tern_act_quantize_row(x, K, qr, &sr);
        memset(qr + K, 0, (size_t)(kk - K));
        k->quantize_row(x, K, kk, qg, &sg);
        check(memcmp(qr, qg, (size_t)kk) == 0 && memcmp(&sr, &sg, 4) == 0,
              "quantize_row %s K=%lld kp=%lld variant %d", name, (long long)K,
              (long long)kk, variant);
      }
    }
    free(x);
    free(qr);
    free(qg);
  }
}

static void check_gemv(const tern_cpu_kernels *k, const char *name) {
  const tern_cpu_kernels *s = &tern_cpu_kernels_scalar;
  static const int64_t kps[] = {256, 512, 1280, 4352};
  for (size_t ki = 0; ki < sizeof kps / sizeof *kps; ki++) {
    int64_t kp = kps[ki], N = 11;
    uint8_t *wt = xmalloc((size_t)(N * kp / 4));
    int8_t *wi = xmalloc((size_t)(N * kp));
    int8_t *x = xmalloc((size_t)(4 * kp));
    for (int extreme = 0; extreme < 2; extreme++) {
      for (int64_t i = 0; i < N * kp / 4; i++) /* codes 0..2 only */
        wt[i] = extreme ? 0xAA
                        : (uint8_t)((rnd() % 3) | (rnd() % 3) << 2 |
                                    (rnd() % 3) << 4 | (rnd() % 3) << 6);
      for (int64_t i = 0; i < N * kp; i++)
        wi[i] = extreme ? -128 : (int8_t)(rnd() % 256 - 128);
      for (int64_t i = 0; i < 4 * kp; i++)
        x[i] = extreme ? (int8_t)(i % 2 ? -127 : 127)
                       : (int8_t)((int)(rnd() % 255) - 127);
      if (extreme)
        for (int64_t i = 0; i < kp; i++)
          x[i] = -127; /* row 0: all -127, maximal |dot| with -128 weights */
      for (int mb = 1; mb <= 4; mb++)
        for (int64_t n0 = 0; n0 < 3; n0++) {
          int32_t ar[4 * 16], ag[4 * 16];
          memset(ar, 0x11, sizeof ar);
          memset(ag, 0x11, sizeof ag);
          s->gemv_ternary(wt, kp, n0, N, x, mb, ar - n0, 16);
          k->gemv_ternary(wt, kp, n0, N, x, mb, ag - n0, 16);
          check(memcmp(ar, ag, sizeof ar) == 0,
                "gemv_ternary %s kp=%lld mb=%d n0=%lld extreme=%d", name,
                (long long)kp, mb, (long long)n0, extreme);
          memset(ar, 0x11, sizeof ar);
          memset(ag, 0x11, sizeof ag);
          s->gemv_int8(wi, kp, n0, N, x, mb, ar - n0, 16);
          k->gemv_int8(wi, kp, n0, N, x, mb, ag - n0, 16);
          check(memcmp(ar, ag, sizeof ar) == 0,
                "gemv_int8 %s kp=%lld mb=%d n0=%lld extreme=%d", name,
                (long long)kp, mb, (long long)n0, extreme);
        }
    }
    free(wt);
    free(wi);
    free(x);
  }
}

static void check_gemm(const tern_cpu_kernels *k, const char *name) {
  const tern_cpu_kernels *s = &tern_cpu_kernels_scalar;
  enum { KB = TERN_CPU_KB, MR = TERN_CPU_MR, NR = TERN_CPU_NR };
  const int64_t kp = 2 * KB;
  const int64_t ldcs[2] = {NR, 3 * NR + 5};
  /* repacked ternary rows: N = 21 (a partial second strip) */
  const int64_t N = 21;
  uint8_t *w = xmalloc((size_t)(N * kp / 4));
  for (int64_t i = 0; i < N * kp / 4; i++)
    w[i] = (uint8_t)((rnd() % 3) | (rnd() % 3) << 2 | (rnd() % 3) << 4 |
                     (rnd() % 3) << 6);
  uint8_t pr[KB * NR], pg[KB * NR];
  for (int64_t n0 = 0; n0 < N; n0 += NR)
    for (int64_t kb = 0; kb < kp / KB; kb++) {
      memset(pr, 0xee, sizeof pr);
      memset(pg, 0xee, sizeof pg);
      s->pack_b_ternary(w, kp, N, n0, kb, pr);
      k->pack_b_ternary(w, kp, N, n0, kb, pg);
      check(memcmp(pr, pg, sizeof pr) == 0, "pack_b_ternary %s n0=%lld kb=%lld",
            name, (long long)n0, (long long)kb);
    }
  free(w);
  int8_t a8[KB * MR];
  int16_t a16[KB * MR], b16[KB * NR];
  int32_t cr[MR * (3 * NR + 5)], cg[MR * (3 * NR + 5)];
  for (int extreme = 0; extreme < 2; extreme++)
    for (int li = 0; li < 2; li++) {
      int64_t ldc = ldcs[li];
      for (int i = 0; i < KB * NR; i++) {
        pr[i] = extreme ? 2 : (uint8_t)(rnd() % 3);
        b16[i] = extreme ? -128 : (int16_t)((int)(rnd() % 256) - 128);
      }
      for (int i = 0; i < KB * MR; i++) {
        a8[i] = extreme ? 127 : (int8_t)((int)(rnd() % 255) - 127);
        a16[i] = extreme ? -127 : (int16_t)((int)(rnd() % 255) - 127);
      }
      for (size_t i = 0; i < sizeof cr / sizeof *cr; i++)
        cr[i] = cg[i] = (int32_t)(rnd() % 2000001) - 1000000;
      s->gemm_ternary(pr, a8, cr, ldc);
      k->gemm_ternary(pr, a8, cg, ldc);
      check(memcmp(cr, cg, sizeof cr) == 0,
            "gemm_ternary %s ldc=%lld extreme=%d", name, (long long)ldc,
            extreme);
      s->gemm_int8(b16, a16, cr, ldc);
      k->gemm_int8(b16, a16, cg, ldc);
      check(memcmp(cr, cg, sizeof cr) == 0, "gemm_int8 %s ldc=%lld extreme=%d",
            name, (long long)ldc, extreme);
    }
}

/* --------------------------------------------------------------- main */
int main(int argc, char **argv) {
  const char *expect = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--expect-best") && i + 1 < argc)
      expect = argv[++i];
    else {
      fprintf(stderr, "usage: neon_check [--expect-best ISA]\n");
      return 2;
    }
  }
  tern_cpu_isa isas[TERN_ISA_COUNT_];
  int ni = isa_list(isas);
  printf("kernel tables:");
  for (int i = 0; i < ni; i++)
    printf(" %s", tern_cpu_isa_name(isas[i]));
  printf(" (best %s)\n", tern_cpu_isa_name(tern_cpu_isa_best()));
  if (expect)
    check(!strcmp(expect, tern_cpu_isa_name(tern_cpu_isa_best())),
          "best ISA is %s, expected %s", tern_cpu_isa_name(tern_cpu_isa_best()),
          expect);

  /* TERN_CPU_ISA lowers the choice to any available table, never raises */
  for (int i = 0; i < ni; i++) {
    setenv("TERN_CPU_ISA", tern_cpu_isa_name(isas[i]), 1);
    check(tern_cpu_isa_active() == isas[i], "TERN_CPU_ISA=%s gives %s",
          tern_cpu_isa_name(isas[i]), tern_cpu_isa_name(tern_cpu_isa_active()));
  }
  setenv("TERN_CPU_ISA", "neondot", 1);
  if (!tern_cpu_isa_available(TERN_ISA_NEONDOT))
    check(tern_cpu_isa_active() == tern_cpu_isa_best(),
          "TERN_CPU_ISA=neondot without asimddp gives %s",
          tern_cpu_isa_name(tern_cpu_isa_active()));
  unsetenv("TERN_CPU_ISA");

  for (int i = 0; i < ni; i++) {
    if (isas[i] == TERN_ISA_SCALAR)
      continue;
    const tern_cpu_kernels *k = tern_cpu_kernels_get(isas[i]);
    check_quantize(k, tern_cpu_isa_name(isas[i]));
    check_gemv(k, tern_cpu_isa_name(isas[i]));
    check_gemm(k, tern_cpu_isa_name(isas[i]));
  }

  static const int64_t Ks[] = {1, 3, 17, 255, 257, 1000};
  static const int64_t Ns[] = {1, 5, 33};
  /* 33 (and 40 below): past the GEMV batch limit (32), the GEMM path */
  static const int64_t Ms[] = {1, 2, 7, 9, 33};
  int c = 0;
  for (int d = 0; d < 2; d++)
    for (int pt = 0; pt < 2; pt++)
      for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
          for (size_t nj = 0; nj < sizeof Ns / sizeof *Ns; nj++, c++)
            check_linear(d ? TERN_DTYPE_I8 : TERN_DTYPE_TERNARY, Ms[mi], Ns[nj],
                         Ks[ki], pt == 1, c % 2 == 0,
                         (tern_activation)(c % TERN_ACT_COUNT_));
  /* long K (many 128 blocks per row), and a GEMM over several row strips */
  for (int d = 0; d < 2; d++) {
    tern_dtype dt = d ? TERN_DTYPE_I8 : TERN_DTYPE_TERNARY;
    check_linear(dt, 3, 64, 4096, false, true, TERN_ACT_NONE);
    check_linear(dt, 40, 70, 600, true, true, TERN_ACT_RELU);
  }

  static const conv_case cases[] = {
      {1, 3, 9, 11, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1},    /* plain 3x3 pad 1 */
      {2, 4, 8, 8, 6, 3, 3, 2, 2, 0, 0, 1, 1, 1},     /* stride 2 */
      {1, 6, 10, 7, 4, 3, 2, 1, 2, 2, 1, 2, 1, 2},    /* groups, dilation */
      {2, 5, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5},     /* depthwise */
      {1, 16, 12, 12, 33, 1, 1, 1, 1, 0, 0, 1, 1, 1}, /* pointwise */
      {1, 32, 10, 10, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1}, /* K = 288 */
  };
  c = 0;
  for (int d = 0; d < 2; d++)
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++, c++)
      check_conv(d ? TERN_DTYPE_I8 : TERN_DTYPE_TERNARY, &cases[i], c % 3 == 1,
                 c % 2 == 0, (tern_activation)(c % 3));

  /* the elementwise kernels: NEON on every AArch64 CPU, whatever
   * TERN_CPU_ISA=neon|neondot says; scalar when asked */
  check(tern_cpu_eltwise_isa() == TERN_ISA_NEON, "elementwise ISA is %s",
        tern_cpu_isa_name(tern_cpu_eltwise_isa()));
  setenv("TERN_CPU_ISA", "scalar", 1);
  check(tern_cpu_eltwise_isa() == TERN_ISA_SCALAR,
        "TERN_CPU_ISA=scalar gives elementwise %s",
        tern_cpu_isa_name(tern_cpu_eltwise_isa()));
  unsetenv("TERN_CPU_ISA");
  int before = g_pass;
  ec_check_isa(TERN_ISA_SCALAR, 2);
  ec_check_isa(TERN_ISA_NEON, 1);
  ec_check_isa(TERN_ISA_NEON, 2);
  printf("elementwise: %d checks\n", g_pass - before);

  printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
