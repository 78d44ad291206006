/* cpu_kern_scalar.c — the portable kernel table: plain C on the repacked
 * layouts, used where no SIMD table applies (and as their oracle in
 * tests/test_cpu_kernels.c next to the reference op). */
#include "cpu_kernels.h"

#include <string.h>

static void gemv_ternary(const uint8_t *w, int64_t kp, int64_t n0, int64_t n1,
                         const int8_t *x, int mb, int32_t *acc, int64_t ldacc) {
  for (int64_t n = n0; n < n1; n++) {
    const uint8_t *row = w + n * (kp / 4);
    for (int m = 0; m < mb; m++) {
      const int8_t *xr = x + m * kp;
      int32_t s = 0;
      for (int64_t b = 0; b < kp / 128; b++)
        for (int i = 0; i < 32; i++) {
          unsigned v = row[b * 32 + i];
          for (int t = 0; t < 4; t++)
            s += (int32_t)((v >> (2 * t)) & 3) * xr[b * 128 + t * 32 + i];
        }
      acc[m * ldacc + n] = s;
    }
  }
}

static void gemv_int8(const int8_t *w, int64_t kp, int64_t n0, int64_t n1,
                      const int8_t *x, int mb, int32_t *acc, int64_t ldacc) {
  for (int64_t n = n0; n < n1; n++)
    for (int m = 0; m < mb; m++) {
      int32_t s = 0;
      for (int64_t k = 0; k < kp; k++)
        s += (int32_t)w[n * kp + k] * x[m * kp + k];
      acc[m * ldacc + n] = s;
    }
}

static void pack_b_ternary(const uint8_t *w, int64_t kp, int64_t N, int64_t n0,
                           int64_t kb, uint8_t *panel) {
  /* [64 groups][16 ch][4 k] of codes; missing rows are code 1 (zero) */
  for (int j = 0; j < TERN_CPU_NR; j++) {
    int64_t n = n0 + j;
    const uint8_t *row =
        n < N ? w + n * (kp / 4) + kb * (TERN_CPU_KB / 4) : NULL;
    for (int k = 0; k < TERN_CPU_KB; k++) {
      int blk = k / 128, s = (k % 128) / 32, i = k % 32;
      uint8_t c = row ? (row[blk * 32 + i] >> (2 * s)) & 3 : 1;
      panel[((k / 4) * TERN_CPU_NR + j) * 4 + (k % 4)] = c;
    }
  }
}

static void gemm_ternary(const uint8_t *b, const int8_t *a, int32_t *C,
                         int64_t ldc) {
  for (int r = 0; r < TERN_CPU_MR; r++)
    for (int j = 0; j < TERN_CPU_NR; j++) {
      int32_t s = 0;
      for (int g = 0; g < TERN_CPU_KB / 4; g++)
        for (int t = 0; t < 4; t++)
          s += (int32_t)b[(g * TERN_CPU_NR + j) * 4 + t] *
               a[(g * TERN_CPU_MR + r) * 4 + t];
      C[r * ldc + j] += s;
    }
}

static void gemm_int8(const int16_t *b, const int16_t *a, int32_t *C,
                      int64_t ldc) {
  for (int r = 0; r < TERN_CPU_MR; r++)
    for (int j = 0; j < TERN_CPU_NR; j++) {
      int32_t s = 0;
      for (int p = 0; p < TERN_CPU_KB / 2; p++)
        for (int t = 0; t < 2; t++)
          s += (int32_t)b[(p * TERN_CPU_NR + j) * 2 + t] *
               a[(p * TERN_CPU_MR + r) * 2 + t];
      C[r * ldc + j] += s;
    }
}

static void quantize_row(const float *x, int64_t K, int64_t kp, int8_t *q,
                         float *scale) {
  tern_act_quantize_row(x, K, q, scale);
  memset(q + K, 0, (size_t)(kp - K));
}

const tern_cpu_kernels tern_cpu_kernels_scalar = {
    gemv_ternary, gemv_int8, pack_b_ternary,
    gemm_ternary, gemm_int8, quantize_row,
};
