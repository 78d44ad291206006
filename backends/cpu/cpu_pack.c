/* cpu_pack.c — weight repacking at prepare time and GEMM panel packing:
 * plain C shared by every ISA (see the layouts in cpu_kernels.h). */
#include "cpu_kernels.h"

#include <string.h>

void tern_cpu_repack_ternary(const uint8_t *canon, int64_t N, int64_t K,
                             int64_t kp, uint8_t *out) {
  size_t rb = (size_t)(K + 3) / 4;
  for (int64_t n = 0; n < N; n++) {
    const uint8_t *src = canon + (size_t)n * rb;
    uint8_t *dst = out + (size_t)n * (size_t)(kp / 4);
    for (int64_t b = 0; b < kp / 128; b++)
      for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int s = 0; s < 4; s++) {
          int64_t k = b * 128 + s * 32 + i;
          unsigned c = k < K ? (unsigned)tern_ternary_get(src, k) : 1u;
          v |= c << (2 * s);
        }
        dst[b * 32 + i] = (uint8_t)v;
      }
  }
}

void tern_cpu_pack_b_int8(const int8_t *w, int64_t kp, int64_t N, int64_t n0,
                          int64_t kb, int16_t *panel) {
  /* [128 pairs][16 ch][2 k] */
  for (int j = 0; j < TERN_CPU_NR; j++) {
    int64_t n = n0 + j;
    const int8_t *row = n < N ? w + n * kp + kb * TERN_CPU_KB : NULL;
    for (int p = 0; p < TERN_CPU_KB / 2; p++) {
      panel[(p * TERN_CPU_NR + j) * 2 + 0] = row ? row[2 * p] : 0;
      panel[(p * TERN_CPU_NR + j) * 2 + 1] = row ? row[2 * p + 1] : 0;
    }
  }
}

void tern_cpu_pack_a_int8(const int8_t *x, int64_t kp, int64_t M, int64_t m0,
                          int64_t kb, int16_t *panel) {
  /* [128 pairs][MR rows][2 k] */
  for (int r = 0; r < TERN_CPU_MR; r++) {
    int64_t m = m0 + r;
    const int8_t *row = m < M ? x + m * kp + kb * TERN_CPU_KB : NULL;
    for (int p = 0; p < TERN_CPU_KB / 2; p++) {
      panel[(p * TERN_CPU_MR + r) * 2 + 0] = row ? row[2 * p] : 0;
      panel[(p * TERN_CPU_MR + r) * 2 + 1] = row ? row[2 * p + 1] : 0;
    }
  }
}

void tern_cpu_pack_a_ternary(const int8_t *x, int64_t kp, int64_t M, int64_t m0,
                             int64_t kb, int8_t *panel) {
  /* [64 groups][MR rows][4 k] */
  for (int r = 0; r < TERN_CPU_MR; r++) {
    int64_t m = m0 + r;
    const int8_t *row = m < M ? x + m * kp + kb * TERN_CPU_KB : NULL;
    for (int g = 0; g < TERN_CPU_KB / 4; g++) {
      if (row)
        memcpy(panel + (g * TERN_CPU_MR + r) * 4, row + 4 * g, 4);
      else
        memset(panel + (g * TERN_CPU_MR + r) * 4, 0, 4);
    }
  }
}

size_t tern_cpu_p16_bytes(tern_dtype dt, int64_t N, int64_t kp) {
  size_t strips = (size_t)(N + 15) / 16;
  return strips * (size_t)kp * (dt == TERN_DTYPE_TERNARY ? 4u : 16u);
}

void tern_cpu_pack_p16(tern_dtype dt, const void *w, int64_t N, int64_t K,
                       int64_t kp, uint8_t *out) {
  int64_t strips = (N + 15) / 16;
  if (dt == TERN_DTYPE_TERNARY) {
    /* strip t: [kp/16 quads][16 ch][4 k], bits 2s of group 4 * quad + s */
    size_t rb = (size_t)(K + 3) / 4;
    for (int64_t t = 0; t < strips; t++) {
      uint8_t *dst = out + (size_t)t * (size_t)kp * 4;
      for (int c = 0; c < 16; c++) {
        int64_t n = 16 * t + c;
        const uint8_t *row = n < N ? (const uint8_t *)w + (size_t)n * rb : NULL;
        for (int64_t k = 0; k < kp; k++) {
          int64_t g = k / 4, quad = g / 4, s = g % 4;
          unsigned code =
              row && k < K ? (unsigned)tern_ternary_get(row, k) : 1u;
          uint8_t *b = dst + quad * 64 + c * 4 + k % 4;
          if (s == 0)
            *b = 0;
          *b = (uint8_t)(*b | code << (2 * s));
        }
      }
    }
  } else {
    /* strip t: [kp/4 groups][16 ch][4 k] of w + 128 */
    for (int64_t t = 0; t < strips; t++) {
      uint8_t *dst = out + (size_t)t * (size_t)kp * 16;
      for (int c = 0; c < 16; c++) {
        int64_t n = 16 * t + c;
        const int8_t *row =
            n < N ? (const int8_t *)w + (size_t)n * (size_t)K : NULL;
        for (int64_t k = 0; k < kp; k++)
          dst[(k / 4) * 64 + c * 4 + k % 4] =
              (uint8_t)((row && k < K ? row[k] : 0) + 128);
      }
    }
  }
}

void tern_cpu_pack_a_strip(const int8_t *x, int64_t kp, int64_t M, int64_t m0,
                           int8_t *panel) {
  for (int r = 0; r < TERN_CPU_MR; r++) {
    int64_t m = m0 + r;
    const int8_t *row = m < M ? x + m * kp : NULL;
    for (int64_t g = 0; g < kp / 4; g++) {
      if (row)
        memcpy(panel + (g * TERN_CPU_MR + r) * 4, row + 4 * g, 4);
      else
        memset(panel + (g * TERN_CPU_MR + r) * 4, 0, 4);
    }
  }
}
