/* cpu_eltwise_scalar.c — the cpu_eltwise.h kernels in plain C with the
 * reference's formulas and summation orders (core/ops): bit-identical to
 * the reference, for every CPU and for TERN_CPU_ISA=scalar. What it adds
 * over the reference is only the node level of cpu_eltwise.c (no
 * per-element index arithmetic, rope tables, threads). */
#include "cpu_eltwise.h"

#include <math.h>

static void s_binary(tern_cpu_binop op, const float *a, int64_t sa,
                     const float *b, int64_t sb, float *y, int64_t n) {
  if (op == TERN_CPU_BIN_ADD)
    for (int64_t i = 0; i < n; i++)
      y[i] = a[i * sa] + b[i * sb];
  else
    for (int64_t i = 0; i < n; i++)
      y[i] = a[i * sa] * b[i * sb];
}

static void s_activation(tern_activation act, const float *x, float *y,
                         int64_t n) {
  for (int64_t i = 0; i < n; i++)
    y[i] = tern_apply_activation(act, x[i]);
}

static void s_affine(const float *x, float mean, float k, float beta, float *y,
                     int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float t = x[i] - mean;
    t = t * k;
    y[i] = t + beta;
  }
}

static void s_rmsnorm(const float *x, const float *gamma, float eps, float *y,
                      int64_t D) {
  float sq = 0.0f;
  for (int64_t i = 0; i < D; i++)
    sq += x[i] * x[i];
  float rs = 1.0f / sqrtf(sq / (float)D + eps);
  for (int64_t i = 0; i < D; i++)
    y[i] = (x[i] * rs) * gamma[i];
}

static void s_layernorm(const float *x, const float *gamma, const float *beta,
                        float eps, float *y, int64_t D) {
  float sum = 0.0f;
  for (int64_t i = 0; i < D; i++)
    sum += x[i];
  float mean = sum / (float)D;
  float sq = 0.0f;
  for (int64_t i = 0; i < D; i++) {
    float d = x[i] - mean;
    sq += d * d;
  }
  float rs = 1.0f / sqrtf(sq / (float)D + eps);
  for (int64_t i = 0; i < D; i++) {
    float t = (x[i] - mean) * rs;
    t = t * gamma[i];
    y[i] = t + beta[i];
  }
}

static void s_softmax(const float *x, float *y, int64_t D) {
  float m = x[0];
  for (int64_t i = 1; i < D; i++)
    if (x[i] > m || x[i] != x[i])
      m = x[i];
  float sum = 0.0f;
  for (int64_t i = 0; i < D; i++) {
    y[i] = expf(x[i] - m);
    sum += y[i];
  }
  for (int64_t i = 0; i < D; i++)
    y[i] = y[i] / sum;
}

static void s_rope(const float *x, const float *cs, const float *sc, float *y,
                   int64_t D) {
  for (int64_t i = 0; i < D; i += 2) {
    float x0 = x[i], x1 = x[i + 1], c = cs[i], s = cs[i + 1];
    float u = x0 * c, v = x1 * s;
    float w = x0 * s, z = x1 * c;
    y[i] = u - v;
    y[i + 1] = w + z;
  }
  (void)sc;
}

static void s_matmul(const float *a, const float *b, float *y, int64_t M,
                     int64_t N, int64_t K, float alpha) {
  /* y's row accumulates every n at once: each y[m][n] still sums its k
   * terms in ascending order from 0.0f */
  for (int64_t m = 0; m < M; m++) {
    float *yr = y + m * N;
    for (int64_t n = 0; n < N; n++)
      yr[n] = 0.0f;
    for (int64_t k = 0; k < K; k++) {
      float av = a[m * K + k];
      for (int64_t n = 0; n < N; n++)
        yr[n] += av * b[k * N + n];
    }
    for (int64_t n = 0; n < N; n++)
      yr[n] = yr[n] * alpha;
  }
}

static void s_pool_row(const tern_cpu_pool *g, const float *x, int64_t oh,
                       float *y) {
  for (int64_t ow = 0; ow < g->OW; ow++)
    y[ow] = tern_cpu_pool_one(g, x, oh, ow);
}

static float s_sum(const float *x, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; i++)
    s += x[i];
  return s;
}

const tern_cpu_eltwise tern_cpu_eltwise_scalar = {
    s_binary,  s_activation, s_affine, s_rmsnorm,  s_layernorm,
    s_softmax, s_rope,       s_matmul, s_pool_row, s_sum,
};
