/* eltwise_check.h — the checks of the CPU elementwise/norm kernels
 * (backends/cpu/cpu_eltwise.h), shared by test_cpu_eltwise.c (Criterion)
 * and neon_check.c (cross-built, run under qemu-aarch64): every node fast
 * path on one ISA's table against the reference op of core/ops, at odd and
 * round sizes, tiny and large (large enough to split over threads), with
 * NaN, infinities, -0, denormals and values at the exponential's
 * overflow/underflow ends. Exact ops must match bit for bit; the others
 * within docs/OPS.md's tolerance. The includer defines
 *   static void check(bool ok, const char *fmt, ...);
 * and calls ec_check_isa(isa, threads). */
#ifndef TERN_ELTWISE_CHECK_H
#define TERN_ELTWISE_CHECK_H

#include "backends/cpu/cpu_eltwise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(bool ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* xorshift64*, its own stream so the cases do not depend on the includer */
static uint64_t ec_rng_ = 0x2545f4914f6cdd1dull;
static uint32_t ec_u32(void) {
  ec_rng_ ^= ec_rng_ >> 12;
  ec_rng_ ^= ec_rng_ << 25;
  ec_rng_ ^= ec_rng_ >> 27;
  return (uint32_t)((ec_rng_ * 0x2545f4914f6cdd1dull) >> 32);
}
static float ec_uni(float lo, float hi) {
  return lo + (hi - lo) * (float)(ec_u32() >> 8) * (1.0f / 16777216.0f);
}

static void *ec_alloc(size_t n) {
  void *p = malloc(n ? n : 4);
  if (!p) {
    fprintf(stderr, "eltwise_check: out of memory\n");
    exit(2);
  }
  return p;
}

/* Values every kernel must get right: signed zeros, a denormal, NaN,
 * infinities, the largest float, and the ends of expf's range. */
static const float ec_specials[] = {
    0.0f,    -0.0f,    1e-40f, -1e-40f, NAN,    INFINITY, -INFINITY,
    3.4e38f, -3.4e38f, 88.5f,  88.8f,   -88.5f, -87.5f,   -103.0f,
    -104.5f, 1.0f,     -1.0f,  -20.0f,  20.0f,  0.5f,     6.0f};

typedef struct ec_case {
  tern_op op;
  tern_op_params p;
  int n_in;
  int ndim[TERN_MAX_INPUTS];
  int64_t shape[TERN_MAX_INPUTS][TERN_MAX_DIMS];
  bool specials;     /* scatter ec_specials over input 0 */
  bool positive1_4;  /* inputs 1..: batchnorm's var must stay positive */
  float lo, hi;      /* range of input 0 */
  double atol, rtol; /* both 0: bit-exact */
} ec_case;

static bool ec_same(float ref, float got, double atol, double rtol) {
  if (atol == 0 && rtol == 0)
    return memcmp(&ref, &got, sizeof ref) == 0;
  if (isnan(ref) || isnan(got))
    return isnan(ref) && isnan(got);
  if (isinf(ref) || isinf(got))
    return ref == got;
  return fabs((double)ref - (double)got) <= atol + rtol * fabs((double)ref);
}

static void ec_run(const ec_case *c, tern_cpu_isa isa, int threads,
                   const char *what) {
  const tern_op_def *def = tern_op_get(c->op);
  tern_exec_node en;
  memset(&en, 0, sizeof en);
  en.op = c->op;
  en.params = c->p;
  en.n_inputs = c->n_in;
  float *data[TERN_MAX_INPUTS] = {0};
  for (int i = 0; i < c->n_in; i++) {
    tern_view *v = &en.in[i];
    v->dtype = TERN_DTYPE_F32;
    v->ndim = c->ndim[i];
    memcpy(v->shape, c->shape[i], sizeof(int64_t) * (size_t)v->ndim);
    int64_t n = tern_view_numel(v);
    data[i] = ec_alloc((size_t)n * sizeof(float));
    for (int64_t k = 0; k < n; k++)
      data[i][k] = i == 0           ? ec_uni(c->lo, c->hi)
                   : c->positive1_4 ? ec_uni(0.25f, 2.0f)
                                    : ec_uni(-1.5f, 1.5f);
    if (i == 0 && c->specials)
      for (size_t s = 0; s < sizeof ec_specials / sizeof *ec_specials; s++)
        data[0][(int64_t)(ec_u32() % (uint32_t)(n ? n : 1))] = ec_specials[s];
    v->data = data[i];
  }
  tern_err err;
  memset(&err, 0, sizeof err);
  if (def->infer(&c->p, en.in, c->n_in, &en.out, &err) != TERN_OK) {
    check(false, "%s: infer failed: %s", what, err.msg);
    goto done;
  }
  int64_t n = tern_view_numel(&en.out);
  float *ref = ec_alloc((size_t)n * sizeof(float));
  float *got = ec_alloc((size_t)n * sizeof(float));
  for (int64_t i = 0; i < n; i++)
    got[i] = -12345.0f; /* unwritten outputs show */
  tern_view out = en.out;
  out.data = ref;
  tern_status s = def->ref(&c->p, en.in, c->n_in, &out, &err);
  check(s == TERN_OK, "%s: reference failed: %s", what, err.msg);
  tern_cpu_eltwise_node *e = NULL;
  s = tern_cpu_eltwise_create(&en, isa, &e, &err);
  check(s == TERN_OK, "%s %s: create failed: %s", tern_cpu_isa_name(isa), what,
        err.msg);
  if (s == TERN_OK) {
    out.data = got;
    s = tern_cpu_eltwise_run(e, en.in, &out, threads, &err);
    check(s == TERN_OK, "%s %s: run failed: %s", tern_cpu_isa_name(isa), what,
          err.msg);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++)
      if (!ec_same(ref[i], got[i], c->atol, c->rtol) && bad++ == 0)
        first = i;
    check(bad == 0,
          "%s %s threads=%d: %lld of %lld values differ, first at %lld: ref "
          "%.9g got %.9g (%s)",
          tern_cpu_isa_name(isa), what, threads, (long long)bad, (long long)n,
          (long long)first, first >= 0 ? ref[first] : 0.0,
          first >= 0 ? got[first] : 0.0,
          c->atol == 0 && c->rtol == 0 ? "bit-exact required"
                                       : "beyond tolerance");
  }
  tern_cpu_eltwise_destroy(e);
  free(ref);
  free(got);
done:
  for (int i = 0; i < c->n_in; i++)
    free(data[i]);
}

/* ------------------------------------------------------------- cases */
static ec_case ec_base(tern_op op, int n_in) {
  ec_case c;
  memset(&c, 0, sizeof c);
  c.op = op;
  c.n_in = n_in;
  c.lo = -2.0f;
  c.hi = 2.0f;
  return c;
}

static void ec_shape(ec_case *c, int i, int ndim, const int64_t *shape) {
  c->ndim[i] = ndim;
  memcpy(c->shape[i], shape, sizeof(int64_t) * (size_t)ndim);
}
#define EC_SHAPE(c, i, ...)                                                    \
  ec_shape(c, i, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),    \
           (int64_t[]){__VA_ARGS__})

/* Sizes around every vector width (4, 8, 16 lanes, unrolled by 4), tiny,
 * and past the threading grain (65536). */
static const int64_t ec_sizes[] = {1,   3,    4,    7,     8,     9,     15,
                                   16,  17,   31,   33,    63,    64,    65,
                                   100, 1000, 4099, 16385, 70001, 200003};

static void ec_elementwise(tern_cpu_isa isa, int threads) {
  static const tern_op acts[] = {TERN_OP_RELU, TERN_OP_RELU6, TERN_OP_GELU,
                                 TERN_OP_SILU};
  char what[160];
  for (size_t a = 0; a < 4; a++)
    for (size_t i = 0; i < sizeof ec_sizes / sizeof *ec_sizes; i++)
      for (int wide = 0; wide < 2; wide++) {
        ec_case c = ec_base(acts[a], 1);
        EC_SHAPE(&c, 0, ec_sizes[i]);
        c.specials = ec_sizes[i] >= 64;
        /* wide: the exponential's whole range, not just the middle */
        c.lo = wide ? -120.0f : -8.0f;
        c.hi = wide ? 120.0f : 8.0f;
        if (acts[a] == TERN_OP_GELU || acts[a] == TERN_OP_SILU) {
          c.atol = 1e-6;
          c.rtol = 2e-5;
        }
        snprintf(what, sizeof what, "%s n=%lld range %g", tern_op_name(c.op),
                 (long long)ec_sizes[i], (double)c.hi);
        ec_run(&c, isa, threads, what);
      }
  for (int o = 0; o < 2; o++) {
    tern_op op = o ? TERN_OP_MUL : TERN_OP_ADD;
    for (size_t i = 0; i < sizeof ec_sizes / sizeof *ec_sizes; i++) {
      ec_case c = ec_base(op, 2);
      EC_SHAPE(&c, 0, ec_sizes[i]);
      EC_SHAPE(&c, 1, ec_sizes[i]);
      c.specials = ec_sizes[i] >= 64;
      snprintf(what, sizeof what, "%s n=%lld", tern_op_name(op),
               (long long)ec_sizes[i]);
      ec_run(&c, isa, threads, what);
    }
    /* broadcasting: scalar either side, rows, columns, both ways, a
     * broadcast in the middle, big enough to split by rows */
    static const int64_t bs[][2][4] = {
        {{2, 3, 4, 5}, {1, 3, 1, 1}},    {{5, 7, 0, 0}, {7, 0, 0, 0}},
        {{5, 7, 0, 0}, {5, 1, 0, 0}},    {{1, 0, 0, 0}, {9, 13, 0, 0}},
        {{3, 1, 5, 0}, {1, 4, 1, 0}},    {{1, 0, 0, 0}, {1, 0, 0, 0}},
        {{16, 17, 0, 0}, {1, 0, 0, 0}},  {{300, 1, 0, 0}, {300, 517, 0, 0}},
        {{2, 1, 33, 0}, {2, 70, 33, 0}}, {{4, 1, 0, 0}, {3, 0, 0, 0}}};
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++) {
      ec_case c = ec_base(op, 2);
      for (int k = 0; k < 2; k++) {
        int nd = 0;
        while (nd < 4 && bs[i][k][nd])
          nd++;
        ec_shape(&c, k, nd, bs[i][k]);
      }
      c.specials = true;
      snprintf(what, sizeof what, "%s broadcast case %zu", tern_op_name(op), i);
      ec_run(&c, isa, threads, what);
    }
  }
  /* batchnorm over [N, C, ...] and [N, C] */
  static const int64_t bn[][4] = {
      {2, 6, 5, 3}, {1, 3, 17, 19}, {2, 5, 0, 0}, {4, 32, 40, 40}};
  for (size_t i = 0; i < sizeof bn / sizeof bn[0]; i++) {
    ec_case c = ec_base(TERN_OP_BATCHNORM, 5);
    int nd = bn[i][2] ? 4 : 2;
    ec_shape(&c, 0, nd, bn[i]);
    for (int k = 1; k < 5; k++)
      EC_SHAPE(&c, k, bn[i][1]);
    c.positive1_4 = true;
    c.specials = true;
    c.p.eps = i == 1 ? 0.0f : 1e-3f;
    snprintf(what, sizeof what, "batchnorm case %zu", i);
    ec_run(&c, isa, threads, what);
  }
}

static void ec_rows(tern_cpu_isa isa, int threads) {
  static const int64_t rd[][2] = {{1, 1},    {3, 7},    {2, 16},   {4, 17},
                                  {17, 33},  {5, 64},   {3, 65},   {5, 1000},
                                  {2, 4099}, {300, 64}, {64, 2049}};
  char what[160];
  for (size_t i = 0; i < sizeof rd / sizeof rd[0]; i++)
    for (int sp = 0; sp < 2; sp++) {
      int64_t R = rd[i][0], D = rd[i][1];
      ec_case c = ec_base(TERN_OP_SOFTMAX, 1);
      EC_SHAPE(&c, 0, R, D);
      c.p.axis = -1;
      c.lo = -30.0f;
      c.hi = 30.0f;
      c.specials = sp;
      c.atol = 1e-6;
      c.rtol = 1e-5;
      snprintf(what, sizeof what, "softmax %lldx%lld%s", (long long)R,
               (long long)D, sp ? " specials" : "");
      ec_run(&c, isa, threads, what);
      c = ec_base(TERN_OP_RMSNORM, 2);
      EC_SHAPE(&c, 0, R, D);
      EC_SHAPE(&c, 1, D);
      c.specials = sp;
      c.atol = 1e-5;
      c.rtol = 1e-4;
      snprintf(what, sizeof what, "rmsnorm %lldx%lld%s", (long long)R,
               (long long)D, sp ? " specials" : "");
      ec_run(&c, isa, threads, what);
      c = ec_base(TERN_OP_LAYERNORM, 3);
      EC_SHAPE(&c, 0, R, D);
      EC_SHAPE(&c, 1, D);
      EC_SHAPE(&c, 2, D);
      c.p.eps = 1e-6f;
      /* an offset: the mean must be taken out (a larger mean than std on
       * long rows exceeds the tolerance through the reference's own
       * sequential-sum error) */
      c.lo = -1.0f;
      c.hi = 3.0f;
      c.specials = sp;
      c.atol = 1e-5;
      c.rtol = 1e-4;
      snprintf(what, sizeof what, "layernorm %lldx%lld%s", (long long)R,
               (long long)D, sp ? " specials" : "");
      ec_run(&c, isa, threads, what);
    }
  /* softmax rows the reference defines exactly: -inf entries, all -inf */
  {
    ec_case c = ec_base(TERN_OP_SOFTMAX, 1);
    EC_SHAPE(&c, 0, 6, 21);
    c.p.axis = -1;
    c.atol = 1e-6;
    c.rtol = 1e-5;
    const tern_op_def *def = tern_op_get(TERN_OP_SOFTMAX);
    float x[6 * 21], ref[6 * 21], got[6 * 21];
    for (int i = 0; i < 6 * 21; i++)
      x[i] = (i % 21) % 3 ? ec_uni(-5, 5) : -INFINITY; /* rows 0-4 */
    for (int i = 5 * 21; i < 6 * 21; i++)
      x[i] = -INFINITY; /* row 5: all -inf */
    tern_exec_node en;
    memset(&en, 0, sizeof en);
    en.op = TERN_OP_SOFTMAX;
    en.params = c.p;
    en.n_inputs = 1;
    en.in[0].dtype = TERN_DTYPE_F32;
    en.in[0].ndim = 2;
    en.in[0].shape[0] = 6;
    en.in[0].shape[1] = 21;
    en.in[0].data = x;
    en.out = en.in[0];
    tern_err err;
    tern_view out = en.out;
    out.data = ref;
    def->ref(&c.p, en.in, 1, &out, &err);
    tern_cpu_eltwise_node *e = NULL;
    bool ok = tern_cpu_eltwise_create(&en, isa, &e, &err) == TERN_OK;
    out.data = got;
    ok = ok && tern_cpu_eltwise_run(e, en.in, &out, threads, &err) == TERN_OK;
    for (int i = 0; ok && i < 5 * 21; i++)
      ok = (i % 21) % 3 ? ec_same(ref[i], got[i], 1e-6, 1e-5)
                        : got[i] == 0.0f && !signbit(got[i]);
    for (int i = 5 * 21; ok && i < 6 * 21; i++)
      ok = isnan(got[i]);
    check(ok, "%s softmax with -inf entries: exact zeros, all -inf: NaN",
          tern_cpu_isa_name(isa));
    tern_cpu_eltwise_destroy(e);
  }
  /* rope on [..., T, D] */
  static const int64_t rp[][3] = {{1, 1, 2},    {3, 5, 6},     {2, 17, 34},
                                  {16, 16, 64}, {4, 100, 130}, {1, 9, 4}};
  for (size_t i = 0; i < sizeof rp / sizeof rp[0]; i++) {
    ec_case c = ec_base(TERN_OP_ROPE, 1);
    EC_SHAPE(&c, 0, rp[i][0], rp[i][1], rp[i][2]);
    c.p.theta = i == 2 ? 500.0f : 0.0f;
    c.specials = true;
    snprintf(what, sizeof what, "rope [%lld, %lld, %lld]", (long long)rp[i][0],
             (long long)rp[i][1], (long long)rp[i][2]);
    ec_run(&c, isa, threads, what);
  }
  /* ops left to the reference (their reference loops are as fast):
   * TERN_ERR_UNSUPPORTED, which the backend turns into "run the reference" */
  {
    tern_exec_node en;
    memset(&en, 0, sizeof en);
    en.op = TERN_OP_CAUSAL_MASK;
    en.n_inputs = 1;
    en.in[0].dtype = TERN_DTYPE_F32;
    en.in[0].ndim = 2;
    en.in[0].shape[0] = en.in[0].shape[1] = 4;
    en.out = en.in[0];
    tern_err err;
    tern_cpu_eltwise_node *e = NULL;
    check(tern_cpu_eltwise_create(&en, isa, &e, &err) == TERN_ERR_UNSUPPORTED &&
              !e,
          "%s causal_mask: expected no fast path", tern_cpu_isa_name(isa));
    en.op = TERN_OP_ADD; /* an i8 tensor: no fast path either */
    en.n_inputs = 2;
    en.in[1] = en.in[0];
    en.in[1].dtype = TERN_DTYPE_I8;
    check(tern_cpu_eltwise_create(&en, isa, &e, &err) == TERN_ERR_UNSUPPORTED &&
              !e,
          "%s add of an i8 tensor: expected no fast path",
          tern_cpu_isa_name(isa));
  }
}

static void ec_matmul_permute(tern_cpu_isa isa, int threads) {
  /* A shape, B shape (B^T when tb), alpha */
  static const struct {
    int na, nbd;
    int64_t a[4], b[4];
    int tb;
    float alpha;
  } mm[] = {
      {3, 3, {1, 1, 1}, {1, 1, 1}, 0, 0.0f},
      {3, 3, {2, 5, 8}, {2, 8, 5}, 0, 0.5f},
      {3, 3, {3, 17, 16}, {3, 16, 9}, 0, 0.0f},
      {3, 3, {16, 16, 64}, {16, 16, 64}, 1, 0.125f},
      {3, 3, {16, 16, 16}, {16, 16, 64}, 0, 0.0f},
      {4, 4, {2, 1, 3, 4}, {1, 5, 4, 7}, 0, 0.0f},
      {2, 2, {33, 70}, {70, 47}, 0, 0.0f},
      {2, 3, {7, 19}, {3, 35, 19}, 1, 0.25f},
      {3, 3, {64, 33, 24}, {64, 24, 40}, 0, 0.0f},
      {3, 3, {2, 9, 100}, {2, 130, 100}, 1, 0.0f},
  };
  char what[160];
  for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++) {
    ec_case c = ec_base(TERN_OP_MATMUL, 2);
    ec_shape(&c, 0, mm[i].na, mm[i].a);
    ec_shape(&c, 1, mm[i].nbd, mm[i].b);
    c.p.transpose_b = mm[i].tb;
    c.p.alpha = mm[i].alpha;
    c.specials = i % 2 == 1;
    snprintf(what, sizeof what, "matmul case %zu%s", i,
             mm[i].tb ? " (B^T)" : "");
    ec_run(&c, isa, threads, what);
  }
  static const struct {
    int nd;
    int64_t s[4];
    int perm[4];
  } pm[] = {
      {4, {3, 5, 7, 2}, {2, 0, 3, 1}},
      {3, {16, 16, 64}, {1, 0, 2}},
      {4, {2, 16, 16, 64}, {0, 2, 1, 3}},
      {3, {4, 1, 5}, {2, 1, 0}},
      {2, {7, 9}, {1, 0}},
      {2, {300, 257}, {1, 0}},
      {3, {2, 3, 4}, {0, 1, 2}},
      {1, {5}, {0}},
  };
  for (size_t i = 0; i < sizeof pm / sizeof pm[0]; i++) {
    ec_case c = ec_base(TERN_OP_PERMUTE, 1);
    ec_shape(&c, 0, pm[i].nd, pm[i].s);
    c.p.ndim = pm[i].nd;
    memcpy(c.p.perm, pm[i].perm, sizeof(int) * (size_t)pm[i].nd);
    c.specials = true;
    snprintf(what, sizeof what, "permute case %zu", i);
    ec_run(&c, isa, threads, what);
  }
}

static void ec_pools(tern_cpu_isa isa, int threads) {
  /* N, C, H, W, kernel, stride, pad, count_include_pad */
  static const int64_t pc[][8] = {
      {1, 6, 28, 28, 2, 2, 0, 0}, {2, 3, 9, 11, 3, 1, 1, 0},
      {1, 2, 17, 40, 3, 2, 1, 1}, {2, 3, 8, 8, 2, 1, 0, 0},
      {1, 2, 13, 50, 5, 3, 2, 0}, {1, 4, 64, 64, 3, 2, 1, 0},
      {1, 1, 1, 1, 1, 1, 0, 0},   {1, 3, 5, 37, 2, 2, 1, 1},
      {2, 8, 30, 30, 3, 1, 0, 1}, {1, 64, 40, 40, 2, 2, 0, 0}};
  char what[160];
  for (size_t i = 0; i < sizeof pc / sizeof pc[0]; i++)
    for (int avg = 0; avg < 2; avg++) {
      const int64_t *k = pc[i];
      ec_case c = ec_base(avg ? TERN_OP_AVGPOOL2D : TERN_OP_MAXPOOL2D, 1);
      EC_SHAPE(&c, 0, k[0], k[1], k[2], k[3]);
      c.p.kernel[0] = c.p.kernel[1] = (int32_t)k[4];
      c.p.stride[0] = c.p.stride[1] = (int32_t)k[5];
      if (i == 3)
        c.p.stride[1] = 2; /* different strides per axis */
      c.p.pad[0] = c.p.pad[1] = (int32_t)k[6];
      c.p.count_include_pad = (int32_t)k[7];
      c.specials = true;
      snprintf(what, sizeof what,
               "%s [%lld,%lld,%lld,%lld] k%lld s%lld p%lld%s",
               tern_op_name(c.op), (long long)k[0], (long long)k[1],
               (long long)k[2], (long long)k[3], (long long)k[4],
               (long long)k[5], (long long)k[6], k[7] ? " incl-pad" : "");
      ec_run(&c, isa, threads, what);
    }
  static const int64_t gp[][4] = {
      {2, 5, 7, 9}, {1, 64, 8, 8}, {1, 1, 1, 1}, {3, 7, 33, 31}};
  for (size_t i = 0; i < sizeof gp / sizeof gp[0]; i++) {
    ec_case c = ec_base(TERN_OP_GLOBAL_AVGPOOL, 1);
    EC_SHAPE(&c, 0, gp[i][0], gp[i][1], gp[i][2], gp[i][3]);
    c.atol = 1e-6; /* sums in another order: no specials */
    c.rtol = 1e-5;
    snprintf(what, sizeof what, "global_avgpool case %zu", i);
    ec_run(&c, isa, threads, what);
  }
}

/* Every case on one ISA's table. */
static void ec_check_isa(tern_cpu_isa isa, int threads) {
  ec_elementwise(isa, threads);
  ec_rows(isa, threads);
  ec_matmul_permute(isa, threads);
  ec_pools(isa, threads);
}

#endif
