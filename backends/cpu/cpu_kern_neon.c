/* cpu_kern_neon.c — AArch64 Advanced SIMD kernels without the dot-product
 * extension (vmull/vmlal into int16, vpadal into int32), plus the pieces the
 * dot-product table (cpu_kern_neondot.c) shares: B panel packing, the int16
 * int8 GEMM and the activation quantizer. Layouts: cpu_kernels.h. */
#if defined(__aarch64__)
#include "cpu_kernels.h"
#include "cpu_neon_common.h"

/* ---------------------------------------------------------------- GEMV */
/* R ternary rows x MB activation rows. Per 128-K block every int16 lane
 * gains 8 products c*x with c <= 2, |x| <= 127: at most 2032, exact; the
 * block sum is then widened pairwise into int32. */
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
        int16x8_t p = vdupq_n_s16(0);
        for (int s = 0; s < 4; s++)
          for (int h = 0; h < 2; h++) {
            int8x16_t xv = vld1q_s8(xb + 32 * s + 16 * h);
            p = vmlal_s8(p, vget_low_s8(c[s][h]), vget_low_s8(xv));
            p = vmlal_high_s8(p, c[s][h], xv);
          }
        a32[r][m] = vpadalq_s16(a32[r][m], p);
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

/* R int8 rows x MB activation rows, 16 K per step: two products per int16
 * lane, |w*x| <= 128*127, so the pair sum (<= 32512) is exact. */
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
      for (int m = 0; m < MB; m++) {
        int16x8_t p = vmull_s8(vget_low_s8(wv), vget_low_s8(xv[m]));
        p = vmlal_high_s8(p, wv, xv[m]);
        a32[r][m] = vpadalq_s16(a32[r][m], p);
      }
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

/* ------------------------------------------------------- B panel packing */
/* Four channels at a time: their code vectors hold four 32-bit words each
 * (word d = the codes of k-group g0 + d); a 4x4 word transpose puts the
 * four channels of one group side by side, which is the panel order. */
void tern_cpu_neon_pack_b_ternary(const uint8_t *w, int64_t kp, int64_t N,
                                  int64_t n0, int64_t kb, uint8_t *panel) {
  const uint8x16_t m3 = vdupq_n_u8(3);
  for (int j0 = 0; j0 < TERN_CPU_NR; j0 += 4)
    for (int blk = 0; blk < TERN_CPU_KB / 128; blk++)
      for (int h = 0; h < 2; h++) {
        uint8x16_t v[4];
        for (int q = 0; q < 4; q++) {
          int64_t n = n0 + j0 + q;
          v[q] = n < N ? vld1q_u8(w + n * (kp / 4) + kb * (TERN_CPU_KB / 4) +
                                  blk * 32 + h * 16)
                       : vdupq_n_u8(0x55); /* code 1 = weight 0 */
        }
        for (int s = 0; s < 4; s++) {
          uint32x4_t c[4];
          for (int q = 0; q < 4; q++)
            c[q] = vreinterpretq_u32_u8(
                vandq_u8(vshlq_u8(v[q], vdupq_n_s8((int8_t)(-2 * s))), m3));
          uint32x4_t t0 = vtrn1q_u32(c[0], c[1]), t1 = vtrn2q_u32(c[0], c[1]);
          uint32x4_t t2 = vtrn1q_u32(c[2], c[3]), t3 = vtrn2q_u32(c[2], c[3]);
          uint64x2_t r[4] = {
              vtrn1q_u64(vreinterpretq_u64_u32(t0), vreinterpretq_u64_u32(t2)),
              vtrn1q_u64(vreinterpretq_u64_u32(t1), vreinterpretq_u64_u32(t3)),
              vtrn2q_u64(vreinterpretq_u64_u32(t0), vreinterpretq_u64_u32(t2)),
              vtrn2q_u64(vreinterpretq_u64_u32(t1), vreinterpretq_u64_u32(t3)),
          };
          int g0 = (blk * 128 + s * 32 + h * 16) / 4;
          for (int d = 0; d < 4; d++)
            vst1q_u8(panel + ((g0 + d) * TERN_CPU_NR + j0) * 4,
                     vreinterpretq_u8_u64(r[d]));
        }
      }
}

/* ---------------------------------------------------------------- GEMM */
/* Rows [r0, r0 + RN) of the ternary micro tile: per group every int16 lane
 * gains one product (<= 254), 64 groups stay below 2^15. Lanes hold
 * [ch][4 k]; pairwise adds fold the 4 k into int32 per channel. RN <= 3
 * keeps the 24 int16 accumulators in registers. */
INLINE void tern_gemm_rows(const uint8_t *b, const int8_t *a, int32_t *C,
                           int64_t ldc, const int r0, const int RN) {
  int16x8_t acc[3][8];
  for (int r = 0; r < RN; r++)
    for (int q = 0; q < 8; q++)
      acc[r][q] = vdupq_n_s16(0);
  for (int g = 0; g < TERN_CPU_KB / 4; g++) {
    int8x16_t bv[4];
    for (int q = 0; q < 4; q++)
      bv[q] = vreinterpretq_s8_u8(vld1q_u8(b + g * 64 + q * 16));
    for (int r = 0; r < RN; r++) {
      int8x16_t av =
          vreinterpretq_s8_s32(bcast4(a + (g * TERN_CPU_MR + r0 + r) * 4));
      for (int q = 0; q < 4; q++) {
        acc[r][2 * q] =
            vmlal_s8(acc[r][2 * q], vget_low_s8(bv[q]), vget_low_s8(av));
        acc[r][2 * q + 1] = vmlal_high_s8(acc[r][2 * q + 1], bv[q], av);
      }
    }
  }
  for (int r = 0; r < RN; r++)
    for (int q = 0; q < 4; q++) {
      /* [c0 k01, c0 k23, c1 k01, c1 k23] + the same for c2, c3 */
      int32x4_t lo = vpaddlq_s16(acc[r][2 * q]);
      int32x4_t hi = vpaddlq_s16(acc[r][2 * q + 1]);
      int32_t *cp = C + (r0 + r) * ldc + 4 * q;
      vst1q_s32(cp, vaddq_s32(vld1q_s32(cp), vpaddq_s32(lo, hi)));
    }
}

static void gemm_ternary(const uint8_t *b, const int8_t *a, int32_t *C,
                         int64_t ldc) {
  int r0 = 0;
  for (; r0 + 3 <= TERN_CPU_MR; r0 += 3)
    tern_gemm_rows(b, a, C, ldc, r0, 3);
  if (TERN_CPU_MR - r0 == 2)
    tern_gemm_rows(b, a, C, ldc, r0, 2);
  else if (TERN_CPU_MR - r0 == 1)
    tern_gemm_rows(b, a, C, ldc, r0, 1);
}

/* Rows [r0, r0 + RN) of the int8 micro tile on int16 panels: vmlal_s16
 * multiplies [ch][2 k] lanes into int32 exactly; a pairwise add folds the
 * two k at the end. */
INLINE void int8_gemm_rows(const int16_t *b, const int16_t *a, int32_t *C,
                           int64_t ldc, const int r0, const int RN) {
  int32x4_t acc[3][8];
  for (int r = 0; r < RN; r++)
    for (int q = 0; q < 8; q++)
      acc[r][q] = vdupq_n_s32(0);
  for (int p = 0; p < TERN_CPU_KB / 2; p++) {
    int16x8_t bv[4];
    for (int q = 0; q < 4; q++)
      bv[q] = vld1q_s16(b + p * 32 + q * 8);
    for (int r = 0; r < RN; r++) {
      int16x8_t av =
          vreinterpretq_s16_s32(bcast4(a + (p * TERN_CPU_MR + r0 + r) * 2));
      for (int q = 0; q < 4; q++) {
        acc[r][2 * q] =
            vmlal_s16(acc[r][2 * q], vget_low_s16(bv[q]), vget_low_s16(av));
        acc[r][2 * q + 1] = vmlal_high_s16(acc[r][2 * q + 1], bv[q], av);
      }
    }
  }
  for (int r = 0; r < RN; r++)
    for (int q = 0; q < 4; q++) {
      int32_t *cp = C + (r0 + r) * ldc + 4 * q;
      vst1q_s32(cp, vaddq_s32(vld1q_s32(cp),
                              vpaddq_s32(acc[r][2 * q], acc[r][2 * q + 1])));
    }
}

void tern_cpu_neon_gemm_int8(const int16_t *b, const int16_t *a, int32_t *C,
                             int64_t ldc) {
  int r0 = 0;
  for (; r0 + 3 <= TERN_CPU_MR; r0 += 3)
    int8_gemm_rows(b, a, C, ldc, r0, 3);
  if (TERN_CPU_MR - r0 == 2)
    int8_gemm_rows(b, a, C, ldc, r0, 2);
  else if (TERN_CPU_MR - r0 == 1)
    int8_gemm_rows(b, a, C, ldc, r0, 1);
}

/* ------------------------------------------------------------ quantize */
/* The activation rule (docs/NUMERICS.md), 4 floats at a time: absmax with
 * any NaN poisoning the row, then q = clamp(roundEven(x * 2^-e)). The
 * product by a power of two is exact and FCVTNS rounds to nearest even,
 * which is rintf in the default rounding mode. */
void tern_cpu_neon_quantize_row(const float *x, int64_t K, int64_t kp,
                                int8_t *q, float *scale) {
  float32x4_t mx = vdupq_n_f32(0);
  uint32x4_t ok = vdupq_n_u32(~0u); /* lanes stay all-ones while not NaN */
  int64_t k = 0;
  for (; k + 4 <= K; k += 4) {
    float32x4_t v = vld1q_f32(x + k);
    ok = vandq_u32(ok, vceqq_f32(v, v));
    mx = vmaxnmq_f32(mx, vabsq_f32(v));
  }
  bool has_nan = vminvq_u32(ok) == 0;
  float m = has_nan ? 0 : vmaxvq_f32(mx);
  for (; k < K; k++) {
    float a = x[k] < 0 ? -x[k] : x[k];
    if (a != a)
      has_nan = true;
    else if (a > m)
      m = a;
  }
  float inv;
  if (!tern_cpu_row_scale(has_nan, m, q, kp, &inv, scale))
    return;
  const float32x4_t vinv = vdupq_n_f32(inv);
  const int8x16_t lo = vdupq_n_s8(-127), hi = vdupq_n_s8(127);
  for (k = 0; k + 16 <= K; k += 16) {
    int32x4_t i[4];
    for (int j = 0; j < 4; j++)
      i[j] = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + k + 4 * j), vinv));
    int16x8_t h0 = vcombine_s16(vqmovn_s32(i[0]), vqmovn_s32(i[1]));
    int16x8_t h1 = vcombine_s16(vqmovn_s32(i[2]), vqmovn_s32(i[3]));
    int8x16_t p = vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1));
    vst1q_s8(q + k, vminq_s8(vmaxq_s8(p, lo), hi));
  }
  for (; k < K; k++) {
    float v = __builtin_rintf(x[k] * inv);
    q[k] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
  }
  memset(q + K, 0, (size_t)(kp - K));
}

const tern_cpu_kernels tern_cpu_kernels_neon = {
    gemv_ternary,
    gemv_int8,
    tern_cpu_neon_pack_b_ternary,
    gemm_ternary,
    tern_cpu_neon_gemm_int8,
    tern_cpu_neon_quantize_row,
};
#endif
