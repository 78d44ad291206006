/* cpu_kern_neondot.c — AArch64 kernels with the dot-product extension
 * (SDOT, built with -march=armv8.2-a+dotprod; chosen only when the CPU
 * reports asimddp). SDOT adds four int8 products into each int32 lane, so
 * every sum is exact with no int16 stage. Panel packing and the quantizer
 * are shared with cpu_kern_neon.c. Layouts:
 * cpu_kernels.h. */
#if defined(__aarch64__)
#include "cpu_kernels.h"
#include "cpu_neon_common.h"

/* R ternary rows x MB activation rows, one 128-K block per step. */
INLINE void tern_rows(const uint8_t *w, int64_t kp, int64_t n, const int8_t *x,
                      const int R, const int MB, int32_t *acc, int64_t ldacc) {
  int32x4_t a32[4][4];
  for (int r = 0; r < R; r++)
    for (int m = 0; m < MB; m++)
      a32[r][m] = vdupq_n_s32(0);
  const int64_t nblk = kp / 128, rb = kp / 4;
  for (int64_t b = 0; b < nblk; b++) {
    for (int r = 0; r < R; r++) {
      const uint8_t *wb = w + (n + r) * rb + b * 32;
      int8x16_t c[4][2];
      unpack_t128(wb, c);
      for (int m = 0; m < MB; m++) {
        const int8_t *xb = x + m * kp + b * 128;
        for (int s = 0; s < 4; s++)
          for (int h = 0; h < 2; h++)
            a32[r][m] =
                vdotq_s32(a32[r][m], c[s][h], vld1q_s8(xb + 32 * s + 16 * h));
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int m = 0; m < MB; m++)
      acc[m * ldacc + n + r] = vaddvq_s32(a32[r][m]);
}

static void gemv_ternary(const uint8_t *w, int64_t kp, int64_t n0, int64_t n1,
                         const int8_t *x, int mb, int32_t *acc, int64_t ldacc) {
  TERN_CPU_GEMV_BLOCKED(tern_rows, w, kp, n0, n1, x, mb, acc, ldacc);
}

/* R int8 rows x MB activation rows, 16 K per step. SDOT is signed x signed,
 * so weights of -128 are exact here too. */
INLINE void int8_rows(const int8_t *w, int64_t kp, int64_t n, const int8_t *x,
                      const int R, const int MB, int32_t *acc, int64_t ldacc) {
  int32x4_t a32[4][4];
  for (int r = 0; r < R; r++)
    for (int m = 0; m < MB; m++)
      a32[r][m] = vdupq_n_s32(0);
  for (int64_t k = 0; k < kp; k += 16) {
    int8x16_t xv[4];
    for (int m = 0; m < MB; m++)
      xv[m] = vld1q_s8(x + m * kp + k);
    for (int r = 0; r < R; r++) {
      int8x16_t wv = vld1q_s8(w + (n + r) * kp + k);
      for (int m = 0; m < MB; m++)
        a32[r][m] = vdotq_s32(a32[r][m], wv, xv[m]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int m = 0; m < MB; m++)
      acc[m * ldacc + n + r] = vaddvq_s32(a32[r][m]);
}

static void gemv_int8(const int8_t *w, int64_t kp, int64_t n0, int64_t n1,
                      const int8_t *x, int mb, int32_t *acc, int64_t ldacc) {
  TERN_CPU_GEMV_BLOCKED(int8_rows, w, kp, n0, n1, x, mb, acc, ldacc);
}

/* Rows [r0, r0 + RN) of the ternary micro tile: the B group is four vectors
 * of [4 ch][4 k] codes, SDOT by one row's 4 activations (a lane of the A
 * vectors) leaves one channel per int32 lane. RN <= 6: 24 accumulators,
 * 4 B vectors and 2 A vectors fit the 32 registers. */
INLINE void tern_gemm_rows(const uint8_t *b, const int8_t *a, int32_t *C,
                           int64_t ldc, const int r0, const int RN) {
  int32x4_t acc[6][4];
  for (int r = 0; r < RN; r++)
    for (int q = 0; q < 4; q++)
      acc[r][q] = vdupq_n_s32(0);
  for (int g = 0; g < TERN_CPU_KB / 4; g++) {
    int8x16_t bv[4];
    for (int q = 0; q < 4; q++)
      bv[q] = vreinterpretq_s8_u8(vld1q_u8(b + g * 64 + q * 16));
    const int8_t *ag = a + (g * TERN_CPU_MR + r0) * 4;
    if (RN == 6) {
      /* rows 0-3 in one vector, 4-5 in a half: 2 registers instead of 6
       * broadcasts keep all 24 accumulators in registers */
      int8x16_t a03 = vld1q_s8(ag);
      int8x8_t a45 = vld1_s8(ag + 16);
      for (int q = 0; q < 4; q++) {
        acc[0][q] = vdotq_laneq_s32(acc[0][q], bv[q], a03, 0);
        acc[1][q] = vdotq_laneq_s32(acc[1][q], bv[q], a03, 1);
        acc[2][q] = vdotq_laneq_s32(acc[2][q], bv[q], a03, 2);
        acc[3][q] = vdotq_laneq_s32(acc[3][q], bv[q], a03, 3);
        acc[4][q] = vdotq_lane_s32(acc[4][q], bv[q], a45, 0);
        acc[5][q] = vdotq_lane_s32(acc[5][q], bv[q], a45, 1);
      }
    } else {
      for (int r = 0; r < RN; r++) {
        int8x16_t av = vreinterpretq_s8_s32(bcast4(ag + r * 4));
        for (int q = 0; q < 4; q++)
          acc[r][q] = vdotq_s32(acc[r][q], bv[q], av);
      }
    }
  }
  for (int r = 0; r < RN; r++)
    for (int q = 0; q < 4; q++) {
      int32_t *cp = C + (r0 + r) * ldc + 4 * q;
      vst1q_s32(cp, vaddq_s32(vld1q_s32(cp), acc[r][q]));
    }
}

static void gemm_ternary(const uint8_t *b, const int8_t *a, int32_t *C,
                         int64_t ldc) {
  int r0 = 0;
  for (; r0 + 6 <= TERN_CPU_MR; r0 += 6)
    tern_gemm_rows(b, a, C, ldc, r0, 6);
  switch (TERN_CPU_MR - r0) {
  case 5:
    tern_gemm_rows(b, a, C, ldc, r0, 5);
    break;
  case 4:
    tern_gemm_rows(b, a, C, ldc, r0, 4);
    break;
  case 3:
    tern_gemm_rows(b, a, C, ldc, r0, 3);
    break;
  case 2:
    tern_gemm_rows(b, a, C, ldc, r0, 2);
    break;
  case 1:
    tern_gemm_rows(b, a, C, ldc, r0, 1);
    break;
  default:
    break;
  }
}

#if TERN_CPU_MR == 6
/* The int8 tile on the int16 panels (whose values are int8: weights and
 * quantized activations), narrowed on the fly for SDOT: two pairs of k
 * become one 4-k group. B: narrowing pair p gives [c0 c1 c2 c3] in 16-bit
 * units of (k0 k1); zipping with pair p+1 gives [c][k0..k3]. A: the 6 rows
 * of pairs p, p+1 are 24 contiguous int16; the same zip gives rows 0-3 in
 * one vector and rows 4-5 in a half, used by lane. */
static void gemm_int8(const int16_t *b, const int16_t *a, int32_t *C,
                      int64_t ldc) {
  int32x4_t acc[6][4];
  for (int r = 0; r < 6; r++)
    for (int q = 0; q < 4; q++)
      acc[r][q] = vdupq_n_s32(0);
  for (int p = 0; p < TERN_CPU_KB / 2; p += 2) {
    const int16_t *ap = a + p * 12;
    uint16x4_t n0 = vreinterpret_u16_s8(vmovn_s16(vld1q_s16(ap)));
    uint16x4_t n1 = vreinterpret_u16_s8(vmovn_s16(vld1q_s16(ap + 8)));
    uint16x4_t n2 = vreinterpret_u16_s8(vmovn_s16(vld1q_s16(ap + 16)));
    uint16x4_t e = vext_u16(n1, n2, 2); /* pair p+1, rows 0-3 */
    int8x16_t a03 =
        vreinterpretq_s8_u16(vcombine_u16(vzip1_u16(n0, e), vzip2_u16(n0, e)));
    int8x8_t a45 = vreinterpret_s8_u16(vzip1_u16(n1, vext_u16(n2, n2, 2)));
    for (int q = 0; q < 4; q++) {
      uint16x4_t b0 = vreinterpret_u16_s8(
          vmovn_s16(vld1q_s16(b + p * 2 * TERN_CPU_NR + q * 8)));
      uint16x4_t b1 = vreinterpret_u16_s8(
          vmovn_s16(vld1q_s16(b + (p + 1) * 2 * TERN_CPU_NR + q * 8)));
      int8x16_t bv = vreinterpretq_s8_u16(
          vcombine_u16(vzip1_u16(b0, b1), vzip2_u16(b0, b1)));
      acc[0][q] = vdotq_laneq_s32(acc[0][q], bv, a03, 0);
      acc[1][q] = vdotq_laneq_s32(acc[1][q], bv, a03, 1);
      acc[2][q] = vdotq_laneq_s32(acc[2][q], bv, a03, 2);
      acc[3][q] = vdotq_laneq_s32(acc[3][q], bv, a03, 3);
      acc[4][q] = vdotq_lane_s32(acc[4][q], bv, a45, 0);
      acc[5][q] = vdotq_lane_s32(acc[5][q], bv, a45, 1);
    }
  }
  for (int r = 0; r < 6; r++)
    for (int q = 0; q < 4; q++) {
      int32_t *cp = C + r * ldc + 4 * q;
      vst1q_s32(cp, vaddq_s32(vld1q_s32(cp), acc[r][q]));
    }
}
#else
#define gemm_int8 tern_cpu_neon_gemm_int8
#endif

const tern_cpu_kernels tern_cpu_kernels_neondot = {
    gemv_ternary, gemv_int8, tern_cpu_neon_pack_b_ternary,
    gemm_ternary, gemm_int8, tern_cpu_neon_quantize_row,
};
#endif
