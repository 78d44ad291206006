/* cpu_kern_avx2.c — AVX2 kernels (built with -mavx2 -mfma; called only when
 * the CPU has them). Ternary: unsigned codes c = q+1 times signed int8
 * activations with vpmaddubsw; each 16-bit lane gains at most 2*2*127 = 508
 * per step, so 64 steps fit in int16 before a vpmaddwd widening. Int8 GEMV:
 * vpmaddubsw(|x|, sign(w, x)) (pairs <= 2*127*127, exact; weights of -128
 * are routed to the scalar table at prepare). Int8 GEMM: int16 panels and
 * vpmaddwd. Layouts: cpu_kernels.h. */
#include "cpu_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

INLINE int32_t hsum_epi32(__m256i v) {
  __m128i s =
      _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

/* R weight rows x MB activation rows of the ternary GEMV. Blocks of 128 K;
 * int16 accumulators are widened every 16 blocks (16*4 steps of <= 508). */
INLINE void tern_rows(const uint8_t *w, int64_t kp, int64_t n, const int8_t *x,
                      const int R, const int MB, int32_t *acc, int64_t ldacc) {
  const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
  __m256i a32[4][4];
  for (int r = 0; r < R; r++)
    for (int m = 0; m < MB; m++)
      a32[r][m] = _mm256_setzero_si256();
  const int64_t nblk = kp / 128, rb = kp / 4;
  for (int64_t b0 = 0; b0 < nblk; b0 += 16) {
    int64_t b1 = b0 + 16 < nblk ? b0 + 16 : nblk;
    __m256i a16[4][4];
    for (int r = 0; r < R; r++)
      for (int m = 0; m < MB; m++)
        a16[r][m] = _mm256_setzero_si256();
    for (int64_t b = b0; b < b1; b++) {
      for (int r = 0; r < R; r++) {
        const uint8_t *wp = w + (n + r) * rb + b * 32;
        /* the R row streams defeat the hardware prefetcher when the
         * weights come from L3/DRAM: +8 blocks measured 10-15% faster */
        _mm_prefetch((const char *)(wp + 256), _MM_HINT_T0);
        __m256i v = _mm256_loadu_si256((const __m256i *)wp);
        __m256i c0 = _mm256_and_si256(v, m3);
        __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(v, 2), m3);
        __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(v, 4), m3);
        __m256i c3 = _mm256_and_si256(_mm256_srli_epi16(v, 6), m3);
        for (int m = 0; m < MB; m++) {
          const int8_t *xb = x + m * kp + b * 128;
          __m256i p0 =
              _mm256_maddubs_epi16(c0, _mm256_loadu_si256((const __m256i *)xb));
          __m256i p1 = _mm256_maddubs_epi16(
              c1, _mm256_loadu_si256((const __m256i *)(xb + 32)));
          __m256i p2 = _mm256_maddubs_epi16(
              c2, _mm256_loadu_si256((const __m256i *)(xb + 64)));
          __m256i p3 = _mm256_maddubs_epi16(
              c3, _mm256_loadu_si256((const __m256i *)(xb + 96)));
          a16[r][m] = _mm256_add_epi16(
              a16[r][m], _mm256_add_epi16(_mm256_add_epi16(p0, p1),
                                          _mm256_add_epi16(p2, p3)));
        }
      }
    }
    for (int r = 0; r < R; r++)
      for (int m = 0; m < MB; m++)
        a32[r][m] =
            _mm256_add_epi32(a32[r][m], _mm256_madd_epi16(a16[r][m], ones));
  }
  for (int r = 0; r < R; r++)
    for (int m = 0; m < MB; m++)
      acc[m * ldacc + n + r] = hsum_epi32(a32[r][m]);
}

static void gemv_ternary(const uint8_t *w, int64_t kp, int64_t n0, int64_t n1,
                         const int8_t *x, int mb, int32_t *acc, int64_t ldacc) {
  TERN_CPU_GEMV_BLOCKED(tern_rows, w, kp, n0, n1, x, mb, acc, ldacc);
}

/* R int8 weight rows x MB activation rows, 32 K per step. */
INLINE void int8_rows(const int8_t *w, int64_t kp, int64_t n, const int8_t *x,
                      const int R, const int MB, int32_t *acc, int64_t ldacc) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i a32[4][4];
  for (int r = 0; r < R; r++)
    for (int m = 0; m < MB; m++)
      a32[r][m] = _mm256_setzero_si256();
  for (int64_t k = 0; k < kp; k += 32) {
    __m256i xv[4], ax[4];
    for (int m = 0; m < MB; m++) {
      xv[m] = _mm256_loadu_si256((const __m256i *)(x + m * kp + k));
      ax[m] = _mm256_abs_epi8(xv[m]);
    }
    for (int r = 0; r < R; r++) {
      __m256i wv = _mm256_loadu_si256((const __m256i *)(w + (n + r) * kp + k));
      for (int m = 0; m < MB; m++) {
        __m256i p = _mm256_maddubs_epi16(ax[m], _mm256_sign_epi8(wv, xv[m]));
        a32[r][m] = _mm256_add_epi32(a32[r][m], _mm256_madd_epi16(p, ones));
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int m = 0; m < MB; m++)
      acc[m * ldacc + n + r] = hsum_epi32(a32[r][m]);
}

static void gemv_int8(const int8_t *w, int64_t kp, int64_t n0, int64_t n1,
                      const int8_t *x, int mb, int32_t *acc, int64_t ldacc) {
  TERN_CPU_GEMV_BLOCKED(int8_rows, w, kp, n0, n1, x, mb, acc, ldacc);
}

static void pack_b_ternary(const uint8_t *w, int64_t kp, int64_t N, int64_t n0,
                           int64_t kb, uint8_t *panel) {
  const __m256i m3 = _mm256_set1_epi8(3);
  uint32_t tmp[8];
  for (int j = 0; j < TERN_CPU_NR; j++) {
    int64_t n = n0 + j;
    for (int blk = 0; blk < TERN_CPU_KB / 128; blk++) {
      __m256i v =
          n < N ? _mm256_loadu_si256((const __m256i *)(w + n * (kp / 4) +
                                                       kb * (TERN_CPU_KB / 4) +
                                                       blk * 32))
                : _mm256_set1_epi8(0x55);
      for (int s = 0; s < 4; s++) {
        __m256i c = _mm256_and_si256(_mm256_srli_epi16(v, 2 * s), m3);
        _mm256_storeu_si256((__m256i *)tmp, c);
        int g0 = (blk * 128 + s * 32) / 4;
        for (int d = 0; d < 8; d++)
          memcpy(panel + ((g0 + d) * TERN_CPU_NR + j) * 4, &tmp[d], 4);
      }
    }
  }
}

/* MR x 16 micro tiles (MR = 6): 12 accumulators, 2 B vectors, a broadcast
 * and a product use all 16 ymm registers. The step loop is inline assembly
 * because GCC spills accumulators of the same loop written with
 * intrinsics; the accumulators then go through memory once per tile. */
#if TERN_CPU_MR != 6
#error "the AVX2 micro kernels are written for TERN_CPU_MR == 6"
#endif

static void gemm_ternary(const uint8_t *b, const int8_t *a, int32_t *C,
                         int64_t ldc) {
  __m256i acc[12];
  __asm__ volatile("vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
                   "vpxor %%ymm1, %%ymm1, %%ymm1\n\t"
                   "vpxor %%ymm2, %%ymm2, %%ymm2\n\t"
                   "vpxor %%ymm3, %%ymm3, %%ymm3\n\t"
                   "vpxor %%ymm4, %%ymm4, %%ymm4\n\t"
                   "vpxor %%ymm5, %%ymm5, %%ymm5\n\t"
                   "vpxor %%ymm6, %%ymm6, %%ymm6\n\t"
                   "vpxor %%ymm7, %%ymm7, %%ymm7\n\t"
                   "vpxor %%ymm8, %%ymm8, %%ymm8\n\t"
                   "vpxor %%ymm9, %%ymm9, %%ymm9\n\t"
                   "vpxor %%ymm10, %%ymm10, %%ymm10\n\t"
                   "vpxor %%ymm11, %%ymm11, %%ymm11\n\t"
                   "mov $64, %%ecx\n\t"
                   "1:\n\t"
                   "vmovdqu (%[b]), %%ymm12\n\t"
                   "vmovdqu 32(%[b]), %%ymm13\n\t"
                   "vpbroadcastd 0(%[a]), %%ymm14\n\t"
                   "vpmaddubsw %%ymm14, %%ymm12, %%ymm15\n\t"
                   "vpaddw %%ymm15, %%ymm0, %%ymm0\n\t"
                   "vpmaddubsw %%ymm14, %%ymm13, %%ymm15\n\t"
                   "vpaddw %%ymm15, %%ymm1, %%ymm1\n\t"
                   "vpbroadcastd 4(%[a]), %%ymm14\n\t"
                   "vpmaddubsw %%ymm14, %%ymm12, %%ymm15\n\t"
                   "vpaddw %%ymm15, %%ymm2, %%ymm2\n\t"
                   "vpmaddubsw %%ymm14, %%ymm13, %%ymm15\n\t"
                   "vpaddw %%ymm15, %%ymm3, %%ymm3\n\t"
                   "vpbroadcastd 8(%[a]), %%ymm14\n\t"
                   "vpmaddubsw %%ymm14, %%ymm12, %%ymm15\n\t"
                   "vpaddw %%ymm15, %%ymm4, %%ymm4\n\t"
                   "vpmaddubsw %%ymm14, %%ymm13, %%ymm15\n\t"
                   "vpaddw %%ymm15, %%ymm5, %%ymm5\n\t"
                   "vpbroadcastd 12(%[a]), %%ymm14\n\t"
                   "vpmaddubsw %%ymm14, %%ymm12, %%ymm15\n\t"
                   "vpaddw %%ymm15, %%ymm6, %%ymm6\n\t"
                   "vpmaddubsw %%ymm14, %%ymm13, %%ymm15\n\t"
                   "vpaddw %%ymm15, %%ymm7, %%ymm7\n\t"
                   "vpbroadcastd 16(%[a]), %%ymm14\n\t"
                   "vpmaddubsw %%ymm14, %%ymm12, %%ymm15\n\t"
                   "vpaddw %%ymm15, %%ymm8, %%ymm8\n\t"
                   "vpmaddubsw %%ymm14, %%ymm13, %%ymm15\n\t"
                   "vpaddw %%ymm15, %%ymm9, %%ymm9\n\t"
                   "vpbroadcastd 20(%[a]), %%ymm14\n\t"
                   "vpmaddubsw %%ymm14, %%ymm12, %%ymm15\n\t"
                   "vpaddw %%ymm15, %%ymm10, %%ymm10\n\t"
                   "vpmaddubsw %%ymm14, %%ymm13, %%ymm15\n\t"
                   "vpaddw %%ymm15, %%ymm11, %%ymm11\n\t"
                   "add $64, %[b]\n\t"
                   "add $24, %[a]\n\t"
                   "dec %%ecx\n\t"
                   "jnz 1b\n\t"
                   "vmovdqu %%ymm0, 0(%[o])\n\t"
                   "vmovdqu %%ymm1, 32(%[o])\n\t"
                   "vmovdqu %%ymm2, 64(%[o])\n\t"
                   "vmovdqu %%ymm3, 96(%[o])\n\t"
                   "vmovdqu %%ymm4, 128(%[o])\n\t"
                   "vmovdqu %%ymm5, 160(%[o])\n\t"
                   "vmovdqu %%ymm6, 192(%[o])\n\t"
                   "vmovdqu %%ymm7, 224(%[o])\n\t"
                   "vmovdqu %%ymm8, 256(%[o])\n\t"
                   "vmovdqu %%ymm9, 288(%[o])\n\t"
                   "vmovdqu %%ymm10, 320(%[o])\n\t"
                   "vmovdqu %%ymm11, 352(%[o])\n\t"
                   : [a] "+r"(a), [b] "+r"(b)
                   : [o] "r"(acc)
                   : "ecx", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3",
                     "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                     "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
  const __m256i ones = _mm256_set1_epi16(1);
  for (int r = 0; r < TERN_CPU_MR; r++)
    for (int h = 0; h < 2; h++) {
      __m256i *p = (__m256i *)(C + r * ldc) + h;
      _mm256_storeu_si256(
          p, _mm256_add_epi32(_mm256_loadu_si256(p),
                              _mm256_madd_epi16(acc[2 * r + h], ones)));
    }
}

static void gemm_int8(const int16_t *b, const int16_t *a, int32_t *C,
                      int64_t ldc) {
  __m256i acc[12];
  __asm__ volatile("vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
                   "vpxor %%ymm1, %%ymm1, %%ymm1\n\t"
                   "vpxor %%ymm2, %%ymm2, %%ymm2\n\t"
                   "vpxor %%ymm3, %%ymm3, %%ymm3\n\t"
                   "vpxor %%ymm4, %%ymm4, %%ymm4\n\t"
                   "vpxor %%ymm5, %%ymm5, %%ymm5\n\t"
                   "vpxor %%ymm6, %%ymm6, %%ymm6\n\t"
                   "vpxor %%ymm7, %%ymm7, %%ymm7\n\t"
                   "vpxor %%ymm8, %%ymm8, %%ymm8\n\t"
                   "vpxor %%ymm9, %%ymm9, %%ymm9\n\t"
                   "vpxor %%ymm10, %%ymm10, %%ymm10\n\t"
                   "vpxor %%ymm11, %%ymm11, %%ymm11\n\t"
                   "mov $128, %%ecx\n\t"
                   "1:\n\t"
                   "vmovdqu (%[b]), %%ymm12\n\t"
                   "vmovdqu 32(%[b]), %%ymm13\n\t"
                   "vpbroadcastd 0(%[a]), %%ymm14\n\t"
                   "vpmaddwd %%ymm14, %%ymm12, %%ymm15\n\t"
                   "vpaddd %%ymm15, %%ymm0, %%ymm0\n\t"
                   "vpmaddwd %%ymm14, %%ymm13, %%ymm15\n\t"
                   "vpaddd %%ymm15, %%ymm1, %%ymm1\n\t"
                   "vpbroadcastd 4(%[a]), %%ymm14\n\t"
                   "vpmaddwd %%ymm14, %%ymm12, %%ymm15\n\t"
                   "vpaddd %%ymm15, %%ymm2, %%ymm2\n\t"
                   "vpmaddwd %%ymm14, %%ymm13, %%ymm15\n\t"
                   "vpaddd %%ymm15, %%ymm3, %%ymm3\n\t"
                   "vpbroadcastd 8(%[a]), %%ymm14\n\t"
                   "vpmaddwd %%ymm14, %%ymm12, %%ymm15\n\t"
                   "vpaddd %%ymm15, %%ymm4, %%ymm4\n\t"
                   "vpmaddwd %%ymm14, %%ymm13, %%ymm15\n\t"
                   "vpaddd %%ymm15, %%ymm5, %%ymm5\n\t"
                   "vpbroadcastd 12(%[a]), %%ymm14\n\t"
                   "vpmaddwd %%ymm14, %%ymm12, %%ymm15\n\t"
                   "vpaddd %%ymm15, %%ymm6, %%ymm6\n\t"
                   "vpmaddwd %%ymm14, %%ymm13, %%ymm15\n\t"
                   "vpaddd %%ymm15, %%ymm7, %%ymm7\n\t"
                   "vpbroadcastd 16(%[a]), %%ymm14\n\t"
                   "vpmaddwd %%ymm14, %%ymm12, %%ymm15\n\t"
                   "vpaddd %%ymm15, %%ymm8, %%ymm8\n\t"
                   "vpmaddwd %%ymm14, %%ymm13, %%ymm15\n\t"
                   "vpaddd %%ymm15, %%ymm9, %%ymm9\n\t"
                   "vpbroadcastd 20(%[a]), %%ymm14\n\t"
                   "vpmaddwd %%ymm14, %%ymm12, %%ymm15\n\t"
                   "vpaddd %%ymm15, %%ymm10, %%ymm10\n\t"
                   "vpmaddwd %%ymm14, %%ymm13, %%ymm15\n\t"
                   "vpaddd %%ymm15, %%ymm11, %%ymm11\n\t"
                   "add $64, %[b]\n\t"
                   "add $24, %[a]\n\t"
                   "dec %%ecx\n\t"
                   "jnz 1b\n\t"
                   "vmovdqu %%ymm0, 0(%[o])\n\t"
                   "vmovdqu %%ymm1, 32(%[o])\n\t"
                   "vmovdqu %%ymm2, 64(%[o])\n\t"
                   "vmovdqu %%ymm3, 96(%[o])\n\t"
                   "vmovdqu %%ymm4, 128(%[o])\n\t"
                   "vmovdqu %%ymm5, 160(%[o])\n\t"
                   "vmovdqu %%ymm6, 192(%[o])\n\t"
                   "vmovdqu %%ymm7, 224(%[o])\n\t"
                   "vmovdqu %%ymm8, 256(%[o])\n\t"
                   "vmovdqu %%ymm9, 288(%[o])\n\t"
                   "vmovdqu %%ymm10, 320(%[o])\n\t"
                   "vmovdqu %%ymm11, 352(%[o])\n\t"
                   : [a] "+r"(a), [b] "+r"(b)
                   : [o] "r"(acc)
                   : "ecx", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3",
                     "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                     "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
  for (int r = 0; r < TERN_CPU_MR; r++)
    for (int h = 0; h < 2; h++) {
      __m256i *q = (__m256i *)(C + r * ldc) + h;
      _mm256_storeu_si256(
          q, _mm256_add_epi32(_mm256_loadu_si256(q), acc[2 * r + h]));
    }
}

/* The activation rule (docs/NUMERICS.md), 8 floats at a time: absmax with
 * any NaN poisoning the row, then q = clamp(rint(x * 2^-e)). The product by
 * a power of two and vroundps (to nearest even) match rintf exactly. */
static void quantize_row(const float *x, int64_t K, int64_t kp, int8_t *q,
                         float *scale) {
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 mx = _mm256_setzero_ps(), nan = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 v = _mm256_loadu_ps(x + k);
    mx = _mm256_max_ps(mx, _mm256_and_ps(v, absmask));
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  float lanes[8], m = 0;
  _mm256_storeu_ps(lanes, mx);
  for (int i = 0; i < 8; i++)
    m = lanes[i] > m ? lanes[i] : m;
  bool has_nan = _mm256_movemask_ps(nan) != 0;
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
  const __m256 vinv = _mm256_set1_ps(inv), hi = _mm256_set1_ps(127.0f),
               lo = _mm256_set1_ps(-127.0f);
  for (k = 0; k + 32 <= K; k += 32) {
    __m256i i[4];
    for (int j = 0; j < 4; j++) {
      __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * j), vinv);
      v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
      i[j] = _mm256_cvtps_epi32(v);
    }
    __m256i p01 = _mm256_packs_epi32(i[0], i[1]);
    __m256i p23 = _mm256_packs_epi32(i[2], i[3]);
    __m256i p = _mm256_packs_epi16(p01, p23);
    /* packs work per 128-bit lane: restore the element order */
    p = _mm256_permutevar8x32_epi32(p,
                                    _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(q + k), p);
  }
  for (; k < K; k++) {
    float v = __builtin_rintf(x[k] * inv);
    q[k] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
  }
  memset(q + K, 0, (size_t)(kp - K));
}

const tern_cpu_kernels tern_cpu_kernels_avx2 = {
    gemv_ternary, gemv_int8, pack_b_ternary,
    gemm_ternary, gemm_int8, quantize_row,
};

#endif /* x86 */
