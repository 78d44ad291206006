/* cpu_eltwise_simd.h — the SIMD kernels of cpu_eltwise.h written once over
 * a small vector vocabulary that each ISA file (cpu_eltwise_avx2.c,
 * cpu_eltwise_avx512.c, cpu_eltwise_neon.c) defines before including this:
 *
 *   VL                        lanes; vf the vector type, vm a lane mask
 *   vzero vset1 vload vstore  full vectors
 *   vload_n(p, n, fill)       lanes < n from p, the others = fill; reads
 *   vstore_n(p, v, n)         and writes only p[0..n) (0 <= n <= VL)
 *   vload_part(q, l0, l1, f)  lanes [l0, l1) from q[0..l1-l0), others f
 *   vadd vsub vmul vdiv       one IEEE operation per lane
 *   vfma(a, b, c)             a*b + c, used only inside approximations
 *   vpick_gt(a, b)            a > b ? a : b per lane (x86 maxps semantics)
 *   vpick_lt(a, b)            a < b ? a : b per lane (x86 minps semantics)
 *   vnan(a) -> vm             a != a;  vor(m, m), vany(m), vblend(m, a, b)
 *   vround(a)                 to nearest, ties to even (|a| < 2^22)
 *   vpow2(n)                  2^n for integral n in [-126, 127]
 *   vhsum(a), vhmax(a)        horizontal sum (any order) and max (no NaN)
 *   vdup_even(a), vdup_odd(a) {a0,a0,a2,a2,...} and {a1,a1,a3,a3,...}
 *   vaddsub(a, b)             even lanes a - b, odd lanes a + b
 *   veven(a, b)               even lanes of the 2*VL values a then b
 *
 * Exact kernels vectorise across independent outputs and keep each output's
 * operations and their order (the build has -ffp-contract=off); the
 * exponential (gelu, silu, softmax) is a Cephes-style polynomial within a
 * few ULP of expf, and the norm/softmax/global-pool sums run in lanes. */
#ifndef TERN_CPU_ELTWISE_SIMD_H
#define TERN_CPU_ELTWISE_SIMD_H

#include <math.h>

#ifndef ELTWISE_TABLE
#error "define ELTWISE_TABLE and the vector vocabulary before including"
#endif

static inline int64_t min64_(int64_t a, int64_t b) {
  return a < b ? a : b;
}

/* ------------------------------------------------------------ binary */
#define BINARY_LOOP(OPV)                                                       \
  do {                                                                         \
    int64_t i = 0;                                                             \
    if (sa && sb) {                                                            \
      for (; i + VL <= n; i += VL)                                             \
        vstore(y + i, OPV(vload(a + i), vload(b + i)));                        \
      if (i < n)                                                               \
        vstore_n(y + i,                                                        \
                 OPV(vload_n(a + i, n - i, 0), vload_n(b + i, n - i, 0)),      \
                 n - i);                                                       \
    } else if (sa) {                                                           \
      vf vb = vset1(b[0]);                                                     \
      for (; i + VL <= n; i += VL)                                             \
        vstore(y + i, OPV(vload(a + i), vb));                                  \
      if (i < n)                                                               \
        vstore_n(y + i, OPV(vload_n(a + i, n - i, 0), vb), n - i);             \
    } else if (sb) {                                                           \
      vf va = vset1(a[0]);                                                     \
      for (; i + VL <= n; i += VL)                                             \
        vstore(y + i, OPV(va, vload(b + i)));                                  \
      if (i < n)                                                               \
        vstore_n(y + i, OPV(va, vload_n(b + i, n - i, 0)), n - i);             \
    } else {                                                                   \
      vf v = OPV(vset1(a[0]), vset1(b[0]));                                    \
      for (; i + VL <= n; i += VL)                                             \
        vstore(y + i, v);                                                      \
      if (i < n)                                                               \
        vstore_n(y + i, v, n - i);                                             \
    }                                                                          \
  } while (0)

static void k_binary(tern_cpu_binop op, const float *a, int64_t sa,
                     const float *b, int64_t sb, float *y, int64_t n) {
  if (op == TERN_CPU_BIN_ADD)
    BINARY_LOOP(vadd);
  else
    BINARY_LOOP(vmul);
}

/* ------------------------------------------------------- exponential */
/* e^x: n = round(x / ln 2), r = x - n ln 2 (two-part constant), a degree-6
 * polynomial, times 2^n applied in two halves so that results near the
 * overflow and underflow ends need no special case. NaN passes through. */
static inline vf vexp(vf x) {
  vm nan = vnan(x);
  vf xc = vpick_lt(x, vset1(88.8f)); /* above: overflows to inf */
  xc = vpick_gt(xc, vset1(-104.0f)); /* below: underflows to 0 */
  vf n = vround(vmul(xc, vset1(1.44269504088896341f)));
  vf r = vfma(n, vset1(-0.693359375f), xc);
  r = vfma(n, vset1(2.12194440e-4f), r);
  vf p = vset1(1.9875691500e-4f);
  p = vfma(p, r, vset1(1.3981999507e-3f));
  p = vfma(p, r, vset1(8.3334519073e-3f));
  p = vfma(p, r, vset1(4.1665795894e-2f));
  p = vfma(p, r, vset1(1.6666665459e-1f));
  p = vfma(p, r, vset1(5.0000001201e-1f));
  p = vfma(p, vmul(r, r), vadd(r, vset1(1.0f)));
  vf n1 = vround(vmul(n, vset1(0.5f))); /* n in [-150, 128]: halves fit */
  vf n2 = vsub(n, n1);
  vf e = vmul(vmul(p, vpow2(n1)), vpow2(n2));
  return vblend(nan, x, e);
}

/* ------------------------------------------------------- activations */
static inline vf v_act(tern_activation act, vf x) {
  vf one = vset1(1.0f);
  switch (act) {
  case TERN_ACT_RELU:
    return vpick_gt(x, vzero()); /* x > 0 ? x : 0 */
  case TERN_ACT_RELU6:
    return vpick_lt(vpick_gt(x, vzero()), vset1(6.0f));
  case TERN_ACT_GELU: {
    /* 0.5 x (1 + tanh u) = x / (1 + e^(-2u)), u as the reference forms it */
    vf c = vmul(vmul(vmul(vset1(0.044715f), x), x), x);
    vf u = vmul(vset1(0.7978845608f), vadd(x, c));
    return vdiv(x, vadd(one, vexp(vmul(u, vset1(-2.0f)))));
  }
  case TERN_ACT_SILU:
    return vdiv(x, vadd(one, vexp(vsub(vzero(), x))));
  default:
    return x;
  }
}

static void k_activation(tern_activation act, const float *x, float *y,
                         int64_t n) {
  int64_t i = 0;
  for (; i + VL <= n; i += VL)
    vstore(y + i, v_act(act, vload(x + i)));
  if (i < n)
    vstore_n(y + i, v_act(act, vload_n(x + i, n - i, 0)), n - i);
}

/* --------------------------------------------------------- batchnorm */
static void k_affine(const float *x, float mean, float k, float beta, float *y,
                     int64_t n) {
  vf vm_ = vset1(mean), vk = vset1(k), vb = vset1(beta);
  int64_t i = 0;
  for (; i + VL <= n; i += VL)
    vstore(y + i, vadd(vmul(vsub(vload(x + i), vm_), vk), vb));
  if (i < n)
    vstore_n(y + i, vadd(vmul(vsub(vload_n(x + i, n - i, 0), vm_), vk), vb),
             n - i);
}

/* ------------------------------------------------------------- norms */
/* Sum of x (sq: of x*x), four vectors of lanes, then across lanes. */
static inline float row_sum(const float *x, int64_t n, float shift, bool sq) {
  vf s0 = vzero(), s1 = vzero(), s2 = vzero(), s3 = vzero(), sh = vset1(shift);
  int64_t i = 0;
#define TERM(v) (sq ? vmul(vsub(v, sh), vsub(v, sh)) : (v))
  for (; i + 4 * VL <= n; i += 4 * VL) {
    s0 = vadd(s0, TERM(vload(x + i)));
    s1 = vadd(s1, TERM(vload(x + i + VL)));
    s2 = vadd(s2, TERM(vload(x + i + 2 * VL)));
    s3 = vadd(s3, TERM(vload(x + i + 3 * VL)));
  }
  for (; i + VL <= n; i += VL)
    s0 = vadd(s0, TERM(vload(x + i)));
  if (i < n) /* padding lanes hold the shift: they add 0 */
    s1 = vadd(s1, TERM(vload_n(x + i, n - i, sq ? shift : 0.0f)));
#undef TERM
  return vhsum(vadd(vadd(s0, s1), vadd(s2, s3)));
}

static void k_rmsnorm(const float *x, const float *gamma, float eps, float *y,
                      int64_t D) {
  float sq = row_sum(x, D, 0.0f, true);
  vf r = vset1(1.0f / sqrtf(sq / (float)D + eps));
  int64_t i = 0;
  for (; i + VL <= D; i += VL)
    vstore(y + i, vmul(vmul(vload(x + i), r), vload(gamma + i)));
  if (i < D)
    vstore_n(
        y + i,
        vmul(vmul(vload_n(x + i, D - i, 0), r), vload_n(gamma + i, D - i, 0)),
        D - i);
}

static void k_layernorm(const float *x, const float *gamma, const float *beta,
                        float eps, float *y, int64_t D) {
  float mean = row_sum(x, D, 0.0f, false) / (float)D;
  float var = row_sum(x, D, mean, true) / (float)D;
  vf r = vset1(1.0f / sqrtf(var + eps)), vmean = vset1(mean);
  int64_t i = 0;
  for (; i + VL <= D; i += VL) {
    vf t = vmul(vsub(vload(x + i), vmean), r);
    vstore(y + i, vadd(vmul(t, vload(gamma + i)), vload(beta + i)));
  }
  if (i < D) {
    int64_t n = D - i;
    vf t = vmul(vsub(vload_n(x + i, n, 0), vmean), r);
    vstore_n(y + i,
             vadd(vmul(t, vload_n(gamma + i, n, 0)), vload_n(beta + i, n, 0)),
             n);
  }
}

/* ----------------------------------------------------------- softmax */
static void k_softmax(const float *x, float *y, int64_t D) {
  vf mx = vset1(-INFINITY);
  vm nan = vnan(mx);
  int64_t i = 0;
  for (; i + VL <= D; i += VL) {
    vf v = vload(x + i);
    nan = vor(nan, vnan(v));
    mx = vpick_gt(v, mx);
  }
  if (i < D) {
    vf v = vload_n(x + i, D - i, -INFINITY);
    nan = vor(nan, vnan(v));
    mx = vpick_gt(v, mx);
  }
  /* the reference's max is NaN when any entry is: every output is NaN */
  vf m = vset1(vany(nan) ? NAN : vhmax(mx));
  vf s = vzero();
  for (i = 0; i + VL <= D; i += VL) {
    vf e = vexp(vsub(vload(x + i), m));
    vstore(y + i, e);
    s = vadd(s, e);
  }
  if (i < D) { /* padding lanes: e^(-inf - m) = 0, or NaN when m is */
    vf e = vexp(vsub(vload_n(x + i, D - i, -INFINITY), m));
    vstore_n(y + i, e, D - i);
    s = vadd(s, e);
  }
  vf sum = vset1(vhsum(s));
  for (i = 0; i + VL <= D; i += VL)
    vstore(y + i, vdiv(vload(y + i), sum));
  if (i < D)
    vstore_n(y + i, vdiv(vload_n(y + i, D - i, 1.0f), sum), D - i);
}

/* -------------------------------------------------------------- rope */
static void k_rope(const float *x, const float *cs, const float *sc, float *y,
                   int64_t D) {
  int64_t i = 0;
  for (; i + VL <= D; i += VL) {
    vf v = vload(x + i);
    vf a = vmul(vdup_even(v), vload(cs + i)); /* x0*c, x0*s */
    vf b = vmul(vdup_odd(v), vload(sc + i));  /* x1*s, x1*c */
    vstore(y + i, vaddsub(a, b));             /* x0*c - x1*s, x0*s + x1*c */
  }
  if (i < D) {
    int64_t n = D - i;
    vf v = vload_n(x + i, n, 0);
    vf a = vmul(vdup_even(v), vload_n(cs + i, n, 0));
    vf b = vmul(vdup_odd(v), vload_n(sc + i, n, 0));
    vstore_n(y + i, vaddsub(a, b), n);
  }
}

/* ------------------------------------------------------------ matmul */
/* MR rows x one vector of columns [n0, n0 + nl); acc = 0 + a*b + a*b ...
 * in k order, like the reference's scalar sum. */
static inline void mm_tile1(const float *a, const float *b, float *y, int64_t N,
                            int64_t K, int64_t n0, int64_t nl, int MR,
                            vf alpha) {
  vf acc[4] = {vzero(), vzero(), vzero(), vzero()};
  for (int64_t k = 0; k < K; k++) {
    vf bv = nl == VL ? vload(b + k * N + n0) : vload_n(b + k * N + n0, nl, 0);
    for (int r = 0; r < MR; r++)
      acc[r] = vadd(acc[r], vmul(vset1(a[r * K + k]), bv));
  }
  for (int r = 0; r < MR; r++) {
    if (nl == VL)
      vstore(y + r * N + n0, vmul(acc[r], alpha));
    else
      vstore_n(y + r * N + n0, vmul(acc[r], alpha), nl);
  }
}

/* MR rows x two full vectors of columns. */
static inline void mm_tile2(const float *a, const float *b, float *y, int64_t N,
                            int64_t K, int64_t n0, int MR, vf alpha) {
  vf c0[4] = {vzero(), vzero(), vzero(), vzero()};
  vf c1[4] = {vzero(), vzero(), vzero(), vzero()};
  for (int64_t k = 0; k < K; k++) {
    vf b0 = vload(b + k * N + n0), b1 = vload(b + k * N + n0 + VL);
    for (int r = 0; r < MR; r++) {
      vf ar = vset1(a[r * K + k]);
      c0[r] = vadd(c0[r], vmul(ar, b0));
      c1[r] = vadd(c1[r], vmul(ar, b1));
    }
  }
  for (int r = 0; r < MR; r++) {
    vstore(y + r * N + n0, vmul(c0[r], alpha));
    vstore(y + r * N + n0 + VL, vmul(c1[r], alpha));
  }
}

static void k_matmul(const float *a, const float *b, float *y, int64_t M,
                     int64_t N, int64_t K, float alpha) {
  vf va = vset1(alpha);
  int64_t n0 = 0;
  for (; n0 + 2 * VL <= N; n0 += 2 * VL) {
    int64_t m = 0;
    for (; m + 4 <= M; m += 4)
      mm_tile2(a + m * K, b, y + m * N, N, K, n0, 4, va);
    for (; m < M; m++)
      mm_tile2(a + m * K, b, y + m * N, N, K, n0, 1, va);
  }
  for (; n0 < N; n0 += VL) {
    int64_t nl = min64_(VL, N - n0), m = 0;
    for (; m + 4 <= M; m += 4)
      mm_tile1(a + m * K, b, y + m * N, N, K, n0, nl, 4, va);
    for (; m < M; m++)
      mm_tile1(a + m * K, b, y + m * N, N, K, n0, nl, 1, va);
  }
}

/* ------------------------------------------------------------- pools */
/* VL consecutive values of a row of W floats from column s (which may lie
 * before or past the row): columns outside the row read as `fill`, and only
 * columns inside it are read. */
static inline vf load_cols(const float *row, int64_t W, int64_t s, float fill) {
  int64_t l0 = s < 0 ? -s : 0, l1 = W - s < VL ? W - s : VL;
  if (l0 == 0 && l1 == VL)
    return vload(row + s);
  if (l1 <= l0)
    return vset1(fill);
  return vload_part(row + s + l0, l0, l1, fill);
}

/* Output row oh, stride 1 or 2 along W, VL windows at once: each lane runs
 * the reference's loop over the taps in (kh, kw) order. A tap outside the
 * row reads -inf for max (never picked) and +0 for average (the sum starts
 * at +0 and is never -0, so adding +0 changes nothing); the divisor counts
 * the real taps of each lane (or KH*KW with count_include_pad). */
static void pool_cols(const tern_cpu_pool *g, const float *x, int64_t oh,
                      float *y) {
  int64_t kh0 = g->PH - oh * g->SH, kh1 = g->H + g->PH - oh * g->SH;
  kh0 = kh0 > 0 ? kh0 : 0;
  kh1 = kh1 < g->KH ? kh1 : g->KH;
  float fill = g->is_max ? -INFINITY : 0.0f;
  for (int64_t ow = 0; ow < g->OW; ow += VL) {
    int64_t nl = min64_(VL, g->OW - ow);
    vf acc = vset1(fill), count = vset1((float)(g->KH * g->KW));
    vm nan = vnan(vzero());
    if (!g->is_max && !g->include_pad) {
      float c[VL];
      for (int64_t j = 0; j < VL; j++) {
        int64_t iw = (ow + j) * g->SW - g->PW;
        int64_t a = iw < 0 ? -iw : 0, b = g->W - iw < g->KW ? g->W - iw : g->KW;
        c[j] = (float)((kh1 - kh0) * (b > a ? b - a : 0));
      }
      count = vload(c);
    }
    /* blocks whose every load lies inside the row skip the edge checks */
    int64_t s0 = ow * g->SW - g->PW;
    bool inside = s0 >= 0 && s0 + g->KW - 1 + g->SW * VL <= g->W;
#define POOL_TAPS(LOAD, STEP)                                                  \
  for (int64_t kh = kh0; kh < kh1; kh++) {                                     \
    const float *row = x + (oh * g->SH - g->PH + kh) * g->W;                   \
    for (int64_t kw = 0; kw < g->KW; kw++) {                                   \
      int64_t s = s0 + kw;                                                     \
      vf v = g->SW == 1 ? LOAD(s) : veven(LOAD(s), LOAD(s + VL));              \
      STEP;                                                                    \
    }                                                                          \
  }
#define IN_ROW(s) vload(row + (s))
#define AT_EDGE(s) load_cols(row, g->W, (s), fill)
#define MAX_STEP                                                               \
  nan = vor(nan, vnan(v));                                                     \
  acc = vpick_gt(v, acc)
#define SUM_STEP acc = vadd(acc, v)
    if (g->is_max && inside)
      POOL_TAPS(IN_ROW, MAX_STEP)
    else if (g->is_max)
      POOL_TAPS(AT_EDGE, MAX_STEP)
    else if (inside)
      POOL_TAPS(IN_ROW, SUM_STEP)
    else
      POOL_TAPS(AT_EDGE, SUM_STEP)
#undef POOL_TAPS
#undef IN_ROW
#undef AT_EDGE
#undef MAX_STEP
#undef SUM_STEP
    vf r = g->is_max ? vblend(nan, vset1(NAN), acc) : vdiv(acc, count);
    if (nl == VL)
      vstore(y + ow, r);
    else
      vstore_n(y + ow, r, nl);
  }
}

static void k_pool_row(const tern_cpu_pool *g, const float *x, int64_t oh,
                       float *y) {
  if (g->SW <= 2) {
    pool_cols(g, x, oh, y);
    return;
  }
  for (int64_t ow = 0; ow < g->OW; ow++) /* other strides: per window */
    y[ow] = tern_cpu_pool_one(g, x, oh, ow);
}

static float k_sum(const float *x, int64_t n) {
  return row_sum(x, n, 0.0f, false);
}

const tern_cpu_eltwise ELTWISE_TABLE = {
    k_binary,  k_activation, k_affine, k_rmsnorm,  k_layernorm,
    k_softmax, k_rope,       k_matmul, k_pool_row, k_sum,
};

#endif
