/* quant.c — weight quantizers (ternary threshold/absmean, INT8 per channel)
 * and the activation rule shared by every backend (docs/NUMERICS.md). */
#include "tern_internal.h"

#include <math.h>
#include <string.h>

static void stats_finish(tern_quant_stats *st, const float *w, const int8_t *q,
                         const float *scales, int64_t rows, int64_t cols,
                         bool per_tensor) {
  if (!st)
    return;
  memset(st, 0, sizeof *st);
  st->count = rows * cols;
  double se = 0;
  float smin = INFINITY, smax = -INFINITY;
  for (int64_t r = 0; r < rows; r++) {
    float s = scales[per_tensor ? 0 : r];
    if (s < smin)
      smin = s;
    if (s > smax)
      smax = s;
    for (int64_t c = 0; c < cols; c++) {
      int64_t i = r * cols + c;
      if (q[i] == 0)
        st->zeros++;
      double d = (double)w[i] - (double)q[i] * s;
      se += d * d;
    }
  }
  st->sparsity = st->count ? (double)st->zeros / (double)st->count : 0;
  st->mse = st->count ? se / (double)st->count : 0;
  st->scale_min = rows ? smin : 0;
  st->scale_max = rows ? smax : 0;
}

static tern_status check_args(const char *fn, const float *w, int64_t rows,
                              int64_t cols, const int8_t *q,
                              const float *scales) {
  if (!w || !q || !scales)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT, "%s: NULL buffer", fn);
  if (rows <= 0 || cols <= 0)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "%s: rows and cols must be positive (got %lld x %lld)",
                        fn, (long long)rows, (long long)cols);
  for (int64_t i = 0; i < rows * cols; i++)
    if (!isfinite(w[i]))
      return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                          "%s: weight %lld is not finite", fn, (long long)i);
  return TERN_OK;
}

/* Quantize one block (a row, or the whole tensor) of n weights. */
static float ternary_block(const float *w, int64_t n, tern_ternary_method m,
                           float a, int8_t *q) {
  double sum_abs = 0;
  for (int64_t i = 0; i < n; i++)
    sum_abs += fabs((double)w[i]);
  double mean_abs = sum_abs / (double)n;
  if (m == TERN_TERNARY_ABSMEAN) {
    float s = (float)mean_abs;
    if (!(s > 0)) {
      memset(q, 0, (size_t)n);
      return 1.0f;
    }
    for (int64_t i = 0; i < n; i++) {
      float v = rintf(w[i] / s);
      q[i] = (int8_t)(v > 1 ? 1 : v < -1 ? -1 : v);
    }
    return s;
  }
  double t = (double)a * mean_abs;
  double kept = 0;
  int64_t nk = 0;
  for (int64_t i = 0; i < n; i++) {
    double v = fabs((double)w[i]);
    if (v > t) {
      q[i] = (int8_t)(w[i] > 0 ? 1 : -1);
      kept += v;
      nk++;
    } else {
      q[i] = 0;
    }
  }
  return nk ? (float)(kept / (double)nk) : 1.0f;
}

tern_status tern_quantize_ternary(const float *w, int64_t rows, int64_t cols,
                                  const tern_ternary_desc *desc, int8_t *q,
                                  float *scales, tern_quant_stats *stats) {
  tern_status s = check_args("tern_quantize_ternary", w, rows, cols, q, scales);
  if (s)
    return s;
  tern_ternary_desc d = {sizeof d, TERN_TERNARY_THRESHOLD, 0.7f, 0};
  if (desc) {
    d.method = desc->method;
    if (desc->threshold_factor != 0)
      d.threshold_factor = desc->threshold_factor;
    d.per_tensor = desc->per_tensor;
  }
  if (d.method != TERN_TERNARY_THRESHOLD && d.method != TERN_TERNARY_ABSMEAN)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_quantize_ternary: unknown method %d",
                        (int)d.method);
  if (!(d.threshold_factor > 0) || !isfinite(d.threshold_factor))
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_quantize_ternary: threshold factor must be > 0");
  if (d.per_tensor) {
    scales[0] = ternary_block(w, rows * cols, d.method, d.threshold_factor, q);
  } else {
    for (int64_t r = 0; r < rows; r++)
      scales[r] = ternary_block(w + r * cols, cols, d.method,
                                d.threshold_factor, q + r * cols);
  }
  stats_finish(stats, w, q, scales, rows, cols, d.per_tensor != 0);
  return TERN_OK;
}

tern_status tern_quantize_int8(const float *w, int64_t rows, int64_t cols,
                               int8_t *q, float *scales,
                               tern_quant_stats *stats) {
  tern_status s = check_args("tern_quantize_int8", w, rows, cols, q, scales);
  if (s)
    return s;
  for (int64_t r = 0; r < rows; r++) {
    const float *src = w + r * cols;
    float m = 0;
    for (int64_t c = 0; c < cols; c++)
      if (fabsf(src[c]) > m)
        m = fabsf(src[c]);
    float sc = m > 0 ? m / 127.0f : 1.0f;
    scales[r] = sc;
    for (int64_t c = 0; c < cols; c++) {
      float v = rintf(src[c] / sc);
      q[r * cols + c] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
  }
  stats_finish(stats, w, q, scales, rows, cols, false);
  return TERN_OK;
}

/* ---------------------------------------------------------- activations */
bool tern_act_exponent(float absmax, int *e) {
  /* absmax = f * 2^E with f in [0.5, 1). The smallest e with
   * absmax <= 127 * 2^e is E-7 when f <= 127/128, else E-6. Pure bit
   * arithmetic, so every device computes the same e. */
  uint32_t bits;
  memcpy(&bits, &absmax, 4);
  bits &= 0x7fffffffu;
  uint32_t be = bits >> 23;
  if (be == 0xff || bits < 0x0d800000u) { /* non-finite or < 2^-100 */
    *e = 0;
    return false;
  }
  int E = (int)be - 126;           /* f = 1.m / 2 */
  uint32_t man = bits & 0x7fffffu; /* f <= 127/128 <=> 1.m <= 1.984375 */
  *e = man <= 0x7e0000u ? E - 7 : E - 6;
  return true;
}

static inline float exp2_int(int e) {
  uint32_t b = (uint32_t)(e + 127) << 23;
  float f;
  memcpy(&f, &b, 4);
  return f;
}

void tern_act_quantize_row(const float *x, int64_t n, int8_t *q, float *scale) {
  float m = 0;
  for (int64_t i = 0; i < n; i++) {
    float a = fabsf(x[i]);
    if (a > m || a != a)
      m = a;
  }
  int e;
  if (!tern_act_exponent(m, &e)) {
    memset(q, 0, (size_t)n);
    *scale = 1.0f;
    return;
  }
  /* e is in [-106, 122]: 2^-e and 2^e are normal floats, the product exact */
  float inv = exp2_int(-e);
  for (int64_t i = 0; i < n; i++) {
    float v = rintf(x[i] * inv);
    q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
  }
  *scale = exp2_int(e);
}

tern_status tern_quantize_activations(const float *x, int64_t rows,
                                      int64_t cols, int8_t *q, float *scales) {
  if (!x || !q || !scales || rows < 0 || cols < 0)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_quantize_activations: NULL buffer or negative "
                        "size");
  for (int64_t r = 0; r < rows; r++)
    tern_act_quantize_row(x + r * cols, cols, q + r * cols, &scales[r]);
  return TERN_OK;
}

float tern_apply_activation(tern_activation act, float v) {
  switch (act) {
  case TERN_ACT_RELU:
    return v > 0 ? v : 0;
  case TERN_ACT_RELU6:
    return v > 0 ? (v < 6 ? v : 6) : 0;
  case TERN_ACT_GELU: {
    float u = 0.7978845608f * (v + 0.044715f * v * v * v);
    return 0.5f * v * (1.0f + tanhf(u));
  }
  case TERN_ACT_SILU:
    return v / (1.0f + expf(-v));
  default:
    return v;
  }
}
