/* cpu_kern_neon.c — AArch64 Advanced SIMD kernels (baseline NEON, no
 * dot-product extension needed). Ternary: unsigned codes c = q+1 widened
 * against signed int8 activations with vmull/vmlal (products <= 2*127 fit
 * int16; eight of them per lane before widening with vpadalq); int8:
 * vmull_s8 + vpadalq_s16 (two products <= 2*127*127 per pairwise add fit
 * int32 exactly). Layouts: cpu_kernels.h; the GEMM micro tiles use the
 * same panels as the other ISAs. Compiles to nothing on other CPUs. */
#include "cpu_kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

/* One T128 block of one weight row against one activation row: sum of
 * c*x over 128 elements, as int32x4. */
static inline int32x4_t tern_block(const uint8_t *wb, const int8_t *xb) {
  const uint8x16_t m3 = vdupq_n_u8(3);
  int32x4_t acc = vdupq_n_s32(0);
  for (int h = 0; h < 2; h++) { /* two 16-byte halves of the 32-byte block */
    uint8x16_t v = vld1q_u8(wb + 16 * h);
    int16x8_t s = vdupq_n_s16(0);
    for (int t = 0; t < 4; t++) {
      int8x16_t c = vreinterpretq_s8_u8(
          vandq_u8(vshlq_u8(v, vdupq_n_s8((int8_t)(-2 * t))), m3));
      int8x16_t x = vld1q_s8(xb + 32 * t + 16 * h);
      s = vmlal_s8(s, vget_low_s8(c), vget_low_s8(x));
      s = vmlal_high_s8(s, c, x);
    }
    acc = vpadalq_s16(acc, s); /* 8 products of <= 254 per lane: exact */
  }
  return acc;
}

static void gemv_ternary(const uint8_t *w, int64_t kp, int64_t n0, int64_t n1,
                         const int8_t *x, int mb, int32_t *acc, int64_t ldacc) {
  for (int64_t n = n0; n < n1; n++) {
    const uint8_t *row = w + n * (kp / 4);
    for (int m = 0; m < mb; m++) {
      int32x4_t a = vdupq_n_s32(0);
      for (int64_t b = 0; b < kp / 128; b++)
        a = vaddq_s32(a, tern_block(row + b * 32, x + m * kp + b * 128));
      acc[m * ldacc + n] = vaddvq_s32(a);
    }
  }
}

static void gemv_int8(const int8_t *w, int64_t kp, int64_t n0, int64_t n1,
                      const int8_t *x, int mb, int32_t *acc, int64_t ldacc) {
  for (int64_t n = n0; n < n1; n++)
    for (int m = 0; m < mb; m++) {
      const int8_t *wr = w + n * kp, *xr = x + m * kp;
      int32x4_t a = vdupq_n_s32(0);
      for (int64_t k = 0; k < kp; k += 16) {
        int8x16_t wv = vld1q_s8(wr + k), xv = vld1q_s8(xr + k);
        /* each int16 lane holds one product (|p| <= 128*127): exact */
        a = vpadalq_s16(a, vmull_s8(vget_low_s8(wv), vget_low_s8(xv)));
        a = vpadalq_s16(a, vmull_high_s8(wv, xv));
      }
      acc[m * ldacc + n] = vaddvq_s32(a);
    }
}

static void pack_b_ternary(const uint8_t *w, int64_t kp, int64_t N, int64_t n0,
                           int64_t kb, uint8_t *panel) {
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
  for (int r = 0; r < TERN_CPU_MR; r++) {
    /* lo[q]: int32 lanes (ch 4q: k01, k23; ch 4q+1: k01, k23), hi[q] the
     * same for channels 4q+2, 4q+3 */
    int32x4_t lo[4], hi[4];
    for (int q = 0; q < 4; q++)
      lo[q] = hi[q] = vdupq_n_s32(0);
    for (int g = 0; g < TERN_CPU_KB / 4; g++) {
      int32_t xv;
      memcpy(&xv, a + (g * TERN_CPU_MR + r) * 4, 4);
      int8x16_t x = vreinterpretq_s8_s32(vdupq_n_s32(xv));
      for (int q = 0; q < 4; q++) { /* 4 channels x 4 k per 16 bytes */
        int8x16_t c = vreinterpretq_s8_u8(vld1q_u8(b + g * 64 + q * 16));
        lo[q] = vpadalq_s16(lo[q], vmull_s8(vget_low_s8(c), vget_low_s8(x)));
        hi[q] = vpadalq_s16(hi[q], vmull_high_s8(c, x));
      }
    }
    for (int q = 0; q < 4; q++) {
      int32x4_t c = vld1q_s32(C + r * ldc + 4 * q);
      vst1q_s32(C + r * ldc + 4 * q, vaddq_s32(c, vpaddq_s32(lo[q], hi[q])));
    }
  }
}

static void gemm_int8(const int16_t *b, const int16_t *a, int32_t *C,
                      int64_t ldc) {
  for (int r = 0; r < TERN_CPU_MR; r++) {
    int32x4_t acc[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0),
                        vdupq_n_s32(0)};
    for (int p = 0; p < TERN_CPU_KB / 2; p++) {
      int16x4_t x0 = vdup_n_s16(a[(p * TERN_CPU_MR + r) * 2 + 0]);
      int16x4_t x1 = vdup_n_s16(a[(p * TERN_CPU_MR + r) * 2 + 1]);
      for (int q = 0; q < 4; q++) {
        /* 4 channels x 2 k: deinterleave k0 / k1 */
        int16x4x2_t bv = vld2_s16(b + (p * TERN_CPU_NR + 4 * q) * 2);
        acc[q] = vmlal_s16(acc[q], bv.val[0], x0);
        acc[q] = vmlal_s16(acc[q], bv.val[1], x1);
      }
    }
    for (int q = 0; q < 4; q++) {
      int32x4_t c = vld1q_s32(C + r * ldc + 4 * q);
      vst1q_s32(C + r * ldc + 4 * q, vaddq_s32(c, acc[q]));
    }
  }
}

static void quantize_row(const float *x, int64_t K, int64_t kp, int8_t *q,
                         float *scale) {
  tern_act_quantize_row(x, K, q, scale);
  memset(q + K, 0, (size_t)(kp - K));
}

const tern_cpu_kernels tern_cpu_kernels_neon = {
    gemv_ternary, gemv_int8, pack_b_ternary,
    gemm_ternary, gemm_int8, quantize_row,
};

#endif /* __aarch64__ */
