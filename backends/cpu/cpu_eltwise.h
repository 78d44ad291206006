/* cpu_eltwise.h — the CPU backend's fast paths for the ops around the
 * matrix products (elementwise, norms, softmax, rope, attention matmul,
 * pools, permute): per-ISA kernel tables over contiguous rows, and the node
 * level that splits a tensor into those rows (broadcasting, batches,
 * windows) and over threads.
 *
 * Exactness against the reference (core/ops), docs/CPU_KERNELS.md:
 * - bit-exact: add, mul, relu, relu6, batchnorm, maxpool2d, avgpool2d,
 *   matmul, rope, permute. The SIMD code vectorises across independent
 *   output elements and keeps each element's operations and their order
 *   (no FMA contraction: -ffp-contract=off everywhere), so every lane
 *   computes what the reference computes.
 * - within docs/OPS.md's tolerance: gelu, silu (a polynomial exp), softmax
 *   (polynomial exp, sum in lanes), layernorm, rmsnorm, global_avgpool
 *   (sums in lanes).
 * The scalar table is plain C with the reference's formulas. */
#ifndef TERN_CPU_ELTWISE_H
#define TERN_CPU_ELTWISE_H

#include "cpu_backend.h"
#include "cpu_kernels.h"

#include <math.h>

typedef enum tern_cpu_binop {
  TERN_CPU_BIN_ADD = 0,
  TERN_CPU_BIN_MUL = 1,
} tern_cpu_binop;

/* Window geometry of maxpool2d/avgpool2d (strides and pads resolved). */
typedef struct tern_cpu_pool {
  int64_t H, W, KH, KW, SH, SW, PH, PW, OH, OW;
  bool is_max, include_pad;
} tern_cpu_pool;

/* Output (oh, ow) of one [H, W] plane exactly as the reference computes it:
 * the real taps in (kh, kw) order; max: NaN if a tap is NaN, else the
 * first largest; avg: the sum from 0.0f divided by the count. Every table
 * uses it for the windows its vectors do not cover. */
static inline float tern_cpu_pool_one(const tern_cpu_pool *g, const float *x,
                                      int64_t oh, int64_t ow) {
  int64_t kh0 = g->PH - oh * g->SH, kh1 = g->H + g->PH - oh * g->SH;
  int64_t kw0 = g->PW - ow * g->SW, kw1 = g->W + g->PW - ow * g->SW;
  kh0 = kh0 > 0 ? kh0 : 0;
  kh1 = kh1 < g->KH ? kh1 : g->KH;
  kw0 = kw0 > 0 ? kw0 : 0;
  kw1 = kw1 < g->KW ? kw1 : g->KW;
  const float *p = x + (oh * g->SH - g->PH) * g->W + ow * g->SW - g->PW;
  if (g->is_max) {
    float m = -INFINITY;
    bool nan = false;
    for (int64_t kh = kh0; kh < kh1; kh++)
      for (int64_t kw = kw0; kw < kw1; kw++) {
        float v = p[kh * g->W + kw];
        if (v != v)
          nan = true;
        else if (v > m)
          m = v;
      }
    return nan ? NAN : m;
  }
  float sum = 0.0f;
  for (int64_t kh = kh0; kh < kh1; kh++)
    for (int64_t kw = kw0; kw < kw1; kw++)
      sum += p[kh * g->W + kw];
  int64_t count = g->include_pad ? g->KH * g->KW : (kh1 - kh0) * (kw1 - kw0);
  return sum / (float)count;
}

/* One ISA's kernels. Rows are contiguous floats; y may equal x (in place)
 * for binary, activation, affine, rmsnorm, layernorm, softmax and rope. */
typedef struct tern_cpu_eltwise {
  /* y[i] = a[i * sa] op b[i * sb] for i < n; sa, sb in {0, 1}. Exact. */
  void (*binary)(tern_cpu_binop op, const float *a, int64_t sa, const float *b,
                 int64_t sb, float *y, int64_t n);
  /* y = act(x) by tern_apply_activation's formulas. */
  void (*activation)(tern_activation act, const float *x, float *y, int64_t n);
  /* y = ((x - mean) * k) + beta, each step rounded (batchnorm). Exact. */
  void (*affine)(const float *x, float mean, float k, float beta, float *y,
                 int64_t n);
  /* One row of D: rmsnorm (gamma) and layernorm (gamma, beta). */
  void (*rmsnorm)(const float *x, const float *gamma, float eps, float *y,
                  int64_t D);
  void (*layernorm)(const float *x, const float *gamma, const float *beta,
                    float eps, float *y, int64_t D);
  /* One row of D. */
  void (*softmax)(const float *x, float *y, int64_t D);
  /* One row of D (even) of rope: cs = {c0, s0, c1, s1, ...} and
   * sc = {s0, c0, s1, c1, ...} for the row's position; y[2i] = x[2i]*c -
   * x[2i+1]*s, y[2i+1] = x[2i]*s + x[2i+1]*c. Exact. */
  void (*rope)(const float *x, const float *cs, const float *sc, float *y,
               int64_t D);
  /* y[m*N + n] = (sum over k ascending from 0 of a[m*K + k] * b[k*N + n]) *
   * alpha. Exact. */
  void (*matmul)(const float *a, const float *b, float *y, int64_t M, int64_t N,
                 int64_t K, float alpha);
  /* Output row oh of one [H, W] plane (y: OW values). Exact. */
  void (*pool_row)(const tern_cpu_pool *g, const float *x, int64_t oh,
                   float *y);
  /* Sum of n values (global_avgpool), in any order. */
  float (*sum)(const float *x, int64_t n);
} tern_cpu_eltwise;

/* The table for an ISA (neondot uses neon's); NULL when it is not compiled
 * in or this CPU cannot run it. */
const tern_cpu_eltwise *tern_cpu_eltwise_get(tern_cpu_isa isa);
/* The ISA the node fast paths use: the best this CPU runs for these
 * kernels (AVX-512 needs AVX-512F only), lowered by TERN_CPU_ISA like
 * tern_cpu_isa_active(). */
tern_cpu_isa tern_cpu_eltwise_isa(void);

extern const tern_cpu_eltwise tern_cpu_eltwise_scalar;
#if defined(__x86_64__) || defined(__i386__)
extern const tern_cpu_eltwise tern_cpu_eltwise_avx2;
extern const tern_cpu_eltwise tern_cpu_eltwise_avx512;
#endif
#if defined(__aarch64__)
extern const tern_cpu_eltwise tern_cpu_eltwise_neon;
#endif

/* ------------------------------------------------------------- nodes */
/* A node prepared for these kernels: shapes, constants and tables are
 * fixed at prepare time (rope's cos/sin tables, pool geometry...).
 * en: the node with its input and output views (data of constants set);
 * TERN_ERR_UNSUPPORTED: no fast path, the reference runs it. */
typedef struct tern_cpu_eltwise_node tern_cpu_eltwise_node;
tern_status tern_cpu_eltwise_create(const tern_exec_node *en, tern_cpu_isa isa,
                                    tern_cpu_eltwise_node **out, tern_err *err);
void tern_cpu_eltwise_destroy(tern_cpu_eltwise_node *e);
/* in/out: the views of the node with their data for this run. */
tern_status tern_cpu_eltwise_run(const tern_cpu_eltwise_node *e,
                                 const tern_view *in, tern_view *out,
                                 int thread_count, tern_err *err);

/* The CPU backend's hook (cpu_fast.c): give node n a fast path on the
 * active ISA when it has one; otherwise leave n->run NULL (reference). */
tern_status tern_cpu_eltwise_prepare(tern_device *d, tern_cpu_node *n,
                                     tern_err *err);

#endif
