/* cpu_kern_avx512.c — AVX-512 VNNI kernels (built with -mavx512f -mavx512bw
 * -mavx512vl -mavx512vnni; called only when the CPU has all four).
 *
 * Every integer product goes through vpdpbusd (unsigned bytes times signed
 * bytes, four products added into each int32 lane, no saturation), so the
 * unsigned operand is always the weight: the ternary codes c = q+1 in
 * {0,1,2}, or the offset int8 bytes w+128 in [0,255]; the caller subtracts
 * sum(x) or 128 * sum(x). The weights are in the P16 strips of
 * cpu_kernels.h, packed once at prepare: a 64-byte load is 16 channels x 4 k
 * (int8) or, shifted and masked, 16 channels x 4 k of one of four groups
 * (ternary), so neither the GEMV nor the GEMM repacks weights and every
 * lane of an accumulator is one output channel (no horizontal sums).
 * - GEMV (one activation row): four strips at a time, the activations'
 *   4-byte groups broadcast from memory. Ternary masks the quad bytes with
 *   3 << 2s, which gives the codes times 4^s (still a byte), and keeps one
 *   accumulator per s, scaled back by exact arithmetic shifts at the end.
 * - GEMM: 6 x 64 micro tiles (24 zmm accumulators) in inline assembly over
 *   any number of groups, tails in intrinsics.
 * - the activation quantizer and the quantized epilogue, 16 lanes wide. */
#include "cpu_kernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(TERN_CPU_HAVE_AVX512)
#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

INLINE __m512i bcast4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* ------------------------------------------------------------- GEMV */
static void gemv_u8_1(const uint8_t *w, int64_t kp, int64_t t0, int64_t t1,
                      const int8_t *x, int32_t *acc) {
  const int64_t S = kp * 16, ng = kp / 4;
  int64_t t = t0;
  for (; t + 4 <= t1; t += 4) {
    const uint8_t *p = w + t * S;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, b0 = a0,
            b1 = a0, b2 = a0, b3 = a0;
    for (int64_t g = 0; g < ng; g += 2) {
      const uint8_t *q = p + g * 64;
      _mm_prefetch((const char *)(q + 1024), _MM_HINT_T0);
      _mm_prefetch((const char *)(q + S + 1024), _MM_HINT_T0);
      _mm_prefetch((const char *)(q + 2 * S + 1024), _MM_HINT_T0);
      _mm_prefetch((const char *)(q + 3 * S + 1024), _MM_HINT_T0);
      __m512i x0 = bcast4(x + 4 * g), x1 = bcast4(x + 4 * g + 4);
      a0 = _mm512_dpbusd_epi32(a0, _mm512_load_si512(q), x0);
      a1 = _mm512_dpbusd_epi32(a1, _mm512_load_si512(q + S), x0);
      a2 = _mm512_dpbusd_epi32(a2, _mm512_load_si512(q + 2 * S), x0);
      a3 = _mm512_dpbusd_epi32(a3, _mm512_load_si512(q + 3 * S), x0);
      b0 = _mm512_dpbusd_epi32(b0, _mm512_load_si512(q + 64), x1);
      b1 = _mm512_dpbusd_epi32(b1, _mm512_load_si512(q + S + 64), x1);
      b2 = _mm512_dpbusd_epi32(b2, _mm512_load_si512(q + 2 * S + 64), x1);
      b3 = _mm512_dpbusd_epi32(b3, _mm512_load_si512(q + 3 * S + 64), x1);
    }
    _mm512_storeu_si512(acc + 16 * t, _mm512_add_epi32(a0, b0));
    _mm512_storeu_si512(acc + 16 * (t + 1), _mm512_add_epi32(a1, b1));
    _mm512_storeu_si512(acc + 16 * (t + 2), _mm512_add_epi32(a2, b2));
    _mm512_storeu_si512(acc + 16 * (t + 3), _mm512_add_epi32(a3, b3));
  }
  for (; t < t1; t++) {
    const uint8_t *p = w + t * S;
    __m512i a0 = _mm512_setzero_si512(), b0 = a0;
    for (int64_t g = 0; g < ng; g += 2) {
      a0 = _mm512_dpbusd_epi32(a0, _mm512_load_si512(p + g * 64),
                               bcast4(x + 4 * g));
      b0 = _mm512_dpbusd_epi32(b0, _mm512_load_si512(p + g * 64 + 64),
                               bcast4(x + 4 * g + 4));
    }
    _mm512_storeu_si512(acc + 16 * t, _mm512_add_epi32(a0, b0));
  }
}

/* The codes of group 4*quad + s, times 4^s, for one strip; acc_s += ... */
#define TERN_QUAD(v, a, xq)                                                    \
  do {                                                                         \
    a##0 = _mm512_dpbusd_epi32(a##0, _mm512_and_si512(v, m0), bcast4(xq));     \
    a##1 = _mm512_dpbusd_epi32(a##1, _mm512_and_si512(v, m1), bcast4(xq + 4)); \
    a##2 = _mm512_dpbusd_epi32(a##2, _mm512_and_si512(v, m2), bcast4(xq + 8)); \
    a##3 =                                                                     \
        _mm512_dpbusd_epi32(a##3, _mm512_and_si512(v, m3), bcast4(xq + 12));   \
  } while (0)

INLINE __m512i quad_sum(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
  /* each a_s is 4^s times an integer: the shifts are exact */
  return _mm512_add_epi32(
      _mm512_add_epi32(a0, _mm512_srai_epi32(a1, 2)),
      _mm512_add_epi32(_mm512_srai_epi32(a2, 4), _mm512_srai_epi32(a3, 6)));
}

static void gemv_ternary_1(const uint8_t *w, int64_t kp, int64_t t0, int64_t t1,
                           const int8_t *x, int32_t *acc) {
  const __m512i m0 = _mm512_set1_epi8(0x03), m1 = _mm512_set1_epi8(0x0c),
                m2 = _mm512_set1_epi8(0x30), m3 = _mm512_set1_epi8((char)0xc0);
  const int64_t S = kp * 4, nq = kp / 16;
  int64_t t = t0;
  for (; t + 4 <= t1; t += 4) {
    const uint8_t *p = w + t * S;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, b0 = a0,
            b1 = a0, b2 = a0, b3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0,
            d0 = a0, d1 = a0, d2 = a0, d3 = a0;
    for (int64_t q = 0; q < nq; q++) {
      const uint8_t *pq = p + q * 64;
      const int8_t *xq = x + 16 * q;
      _mm_prefetch((const char *)(pq + 512), _MM_HINT_T0);
      _mm_prefetch((const char *)(pq + S + 512), _MM_HINT_T0);
      _mm_prefetch((const char *)(pq + 2 * S + 512), _MM_HINT_T0);
      _mm_prefetch((const char *)(pq + 3 * S + 512), _MM_HINT_T0);
      __m512i v = _mm512_load_si512(pq);
      TERN_QUAD(v, a, xq);
      v = _mm512_load_si512(pq + S);
      TERN_QUAD(v, b, xq);
      v = _mm512_load_si512(pq + 2 * S);
      TERN_QUAD(v, c, xq);
      v = _mm512_load_si512(pq + 3 * S);
      TERN_QUAD(v, d, xq);
    }
    _mm512_storeu_si512(acc + 16 * t, quad_sum(a0, a1, a2, a3));
    _mm512_storeu_si512(acc + 16 * (t + 1), quad_sum(b0, b1, b2, b3));
    _mm512_storeu_si512(acc + 16 * (t + 2), quad_sum(c0, c1, c2, c3));
    _mm512_storeu_si512(acc + 16 * (t + 3), quad_sum(d0, d1, d2, d3));
  }
  for (; t < t1; t++) {
    const uint8_t *p = w + t * S;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t q = 0; q < nq; q++) {
      __m512i v = _mm512_load_si512(p + q * 64);
      const int8_t *xq = x + 16 * q;
      TERN_QUAD(v, a, xq);
    }
    _mm512_storeu_si512(acc + 16 * t, quad_sum(a0, a1, a2, a3));
  }
}
#undef TERN_QUAD

/* MB = 2..4 activation rows on NS = 1..4 strips in one pass over the
 * weights: NS x MB accumulators (one strip load serves every row). Ternary
 * shifts and masks each quad byte per group (the codes themselves: one
 * accumulator per row and strip). */
INLINE void gemv_rows(const uint8_t *w, int64_t kp, int64_t t, const int NS,
                      const bool tern, const int8_t *x, const int MB,
                      int32_t *acc, int64_t ldacc) {
  const __m512i m3 = _mm512_set1_epi8(3);
  const int64_t S = tern ? kp * 4 : kp * 16, ng = kp / 4;
  const uint8_t *p = w + t * S;
  __m512i a[4][4];
  for (int st = 0; st < NS; st++)
    for (int m = 0; m < MB; m++)
      a[st][m] = _mm512_setzero_si512();
  for (int64_t g = 0; g < ng; g++) {
    __m512i xb[4];
    for (int m = 0; m < MB; m++)
      xb[m] = bcast4(x + m * kp + 4 * g);
    for (int st = 0; st < NS; st++) {
      __m512i bv;
      if (tern)
        bv = _mm512_and_si512(
            _mm512_srli_epi16(_mm512_load_si512(p + st * S + (g / 4) * 64),
                              (unsigned)(2 * (g % 4))),
            m3);
      else
        bv = _mm512_load_si512(p + st * S + g * 64);
      for (int m = 0; m < MB; m++)
        a[st][m] = _mm512_dpbusd_epi32(a[st][m], bv, xb[m]);
    }
  }
  for (int st = 0; st < NS; st++)
    for (int m = 0; m < MB; m++)
      _mm512_storeu_si512(acc + m * ldacc + 16 * (t + st), a[st][m]);
}

#define GEMV_ROWS_MB(NS, tern, MB)                                             \
  gemv_rows(w, kp, t, NS, tern, x, MB, acc, ldacc)
#define GEMV_ROWS_NS(NS, tern)                                                 \
  do {                                                                         \
    if (mb == 2)                                                               \
      GEMV_ROWS_MB(NS, tern, 2);                                               \
    else if (mb == 3)                                                          \
      GEMV_ROWS_MB(NS, tern, 3);                                               \
    else                                                                       \
      GEMV_ROWS_MB(NS, tern, 4);                                               \
  } while (0)

static void gemv_rows_any(const uint8_t *w, int64_t kp, int64_t t0, int64_t t1,
                          const bool tern, const int8_t *x, int mb,
                          int32_t *acc, int64_t ldacc) {
  int64_t t = t0;
  for (; t + 4 <= t1; t += 4)
    if (tern)
      GEMV_ROWS_NS(4, true);
    else
      GEMV_ROWS_NS(4, false);
  for (; t < t1; t++)
    if (tern)
      GEMV_ROWS_NS(1, true);
    else
      GEMV_ROWS_NS(1, false);
}
#undef GEMV_ROWS_NS
#undef GEMV_ROWS_MB

static void p16_gemv_u8(const uint8_t *w, int64_t kp, int64_t t0, int64_t t1,
                        const int8_t *x, int mb, int32_t *acc, int64_t ldacc) {
  if (mb == 1)
    gemv_u8_1(w, kp, t0, t1, x, acc);
  else
    gemv_rows_any(w, kp, t0, t1, false, x, mb, acc, ldacc);
}

static void p16_gemv_ternary(const uint8_t *w, int64_t kp, int64_t t0,
                             int64_t t1, const int8_t *x, int mb, int32_t *acc,
                             int64_t ldacc) {
  if (mb == 1)
    gemv_ternary_1(w, kp, t0, t1, x, acc);
  else
    gemv_rows_any(w, kp, t0, t1, true, x, mb, acc, ldacc);
}

/* ------------------------------------------------------------- GEMM */
#if TERN_CPU_MR != 6
#error "the AVX-512 micro kernels are written for TERN_CPU_MR == 6"
#endif

/* C (6 x 64) = (accumulate ? C : 0) + the 24 accumulators in acc. */
static void tile_store(const int32_t *acc, int32_t *C, int64_t ldc,
                       bool accumulate) {
  for (int r = 0; r < TERN_CPU_MR; r++)
    for (int s = 0; s < 4; s++) {
      int32_t *c = C + r * ldc + 16 * s;
      __m512i v = _mm512_load_si512(acc + 64 * r + 16 * s);
      if (accumulate)
        v = _mm512_add_epi32(v, _mm512_loadu_si512(c));
      _mm512_storeu_si512(c, v);
    }
}

/* Tails (ns < 4 strips): one strip at a time, 6 accumulators. */
static void gemm_strip(const uint8_t *b, bool tern, const int8_t *a, int64_t ng,
                       int32_t *C, int64_t ldc, bool accumulate) {
  const __m512i m3 = _mm512_set1_epi8(3);
  __m512i r0 = _mm512_setzero_si512(), r1 = r0, r2 = r0, r3 = r0, r4 = r0,
          r5 = r0;
  for (int64_t g = 0; g < ng; g++) {
    __m512i bv;
    if (tern)
      bv = _mm512_and_si512(
          _mm512_srli_epi16(_mm512_load_si512(b + (g / 4) * 64),
                            (unsigned)(2 * (g % 4))),
          m3);
    else
      bv = _mm512_load_si512(b + g * 64);
    const int8_t *ag = a + g * 24;
    r0 = _mm512_dpbusd_epi32(r0, bv, bcast4(ag));
    r1 = _mm512_dpbusd_epi32(r1, bv, bcast4(ag + 4));
    r2 = _mm512_dpbusd_epi32(r2, bv, bcast4(ag + 8));
    r3 = _mm512_dpbusd_epi32(r3, bv, bcast4(ag + 12));
    r4 = _mm512_dpbusd_epi32(r4, bv, bcast4(ag + 16));
    r5 = _mm512_dpbusd_epi32(r5, bv, bcast4(ag + 20));
  }
  __m512i rs[6] = {r0, r1, r2, r3, r4, r5};
  for (int r = 0; r < 6; r++) {
    int32_t *c = C + r * ldc;
    __m512i v = rs[r];
    if (accumulate)
      v = _mm512_add_epi32(v, _mm512_loadu_si512(c));
    _mm512_storeu_si512(c, v);
  }
}

/* 6 x 64 micro tiles in inline assembly: written with intrinsics, GCC 12
 * copies the 24 accumulators through the stack on every step. zmm8..31
 * accumulate (row r, strip s -> zmm8 + 4r + s), zmm0..3 hold the four
 * strips' group, and each vpdpbusd broadcasts its row's 4 activation bytes
 * from memory ({1to16}; as fast as a vpbroadcastd per row, with fewer
 * instructions); strips 0/1 are addressed from p0, 2/3 from p2 (+ bstride).
 * The displacements are assembler expressions (group offset + 4 * row). */
#define TILE_ZERO4(a, b, c, d)                                                 \
  "vpxord %%zmm" #a ", %%zmm" #a ", %%zmm" #a "\n\t"                           \
  "vpxord %%zmm" #b ", %%zmm" #b ", %%zmm" #b "\n\t"                           \
  "vpxord %%zmm" #c ", %%zmm" #c ", %%zmm" #c "\n\t"                           \
  "vpxord %%zmm" #d ", %%zmm" #d ", %%zmm" #d "\n\t"
#define TILE_ZERO                                                              \
  TILE_ZERO4(8, 9, 10, 11)                                                     \
  TILE_ZERO4(12, 13, 14, 15)                                                   \
  TILE_ZERO4(16, 17, 18, 19)                                                   \
  TILE_ZERO4(20, 21, 22, 23)                                                   \
  TILE_ZERO4(24, 25, 26, 27) TILE_ZERO4(28, 29, 30, 31)
#define TILE_ROW(o, r, a, b, c, d)                                             \
  "vpdpbusd " #o "+4*" #r "(%[a])%{1to16%}, %%zmm0, %%zmm" #a "\n\t"           \
  "vpdpbusd " #o "+4*" #r "(%[a])%{1to16%}, %%zmm1, %%zmm" #b "\n\t"           \
  "vpdpbusd " #o "+4*" #r "(%[a])%{1to16%}, %%zmm2, %%zmm" #c "\n\t"           \
  "vpdpbusd " #o "+4*" #r "(%[a])%{1to16%}, %%zmm3, %%zmm" #d "\n\t"
/* one group (activation bytes at byte offset o of the A strip) */
#define TILE_GROUP(o)                                                          \
  TILE_ROW(o, 0, 8, 9, 10, 11)                                                 \
  TILE_ROW(o, 1, 12, 13, 14, 15)                                               \
  TILE_ROW(o, 2, 16, 17, 18, 19)                                               \
  TILE_ROW(o, 3, 20, 21, 22, 23)                                               \
  TILE_ROW(o, 4, 24, 25, 26, 27) TILE_ROW(o, 5, 28, 29, 30, 31)
#define TILE_STORE4(a, b, c, d)                                                \
  "vmovdqa64 %%zmm" #a ", 64*" #a "-512(%[o])\n\t"                             \
  "vmovdqa64 %%zmm" #b ", 64*" #b "-512(%[o])\n\t"                             \
  "vmovdqa64 %%zmm" #c ", 64*" #c "-512(%[o])\n\t"                             \
  "vmovdqa64 %%zmm" #d ", 64*" #d "-512(%[o])\n\t"
#define TILE_STORE                                                             \
  TILE_STORE4(8, 9, 10, 11)                                                    \
  TILE_STORE4(12, 13, 14, 15)                                                  \
  TILE_STORE4(16, 17, 18, 19)                                                  \
  TILE_STORE4(20, 21, 22, 23)                                                  \
  TILE_STORE4(24, 25, 26, 27) TILE_STORE4(28, 29, 30, 31)
#define TILE_CLOBBERS                                                          \
  "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",      \
      "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",     \
      "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",  \
      "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30",  \
      "xmm31"

static void p16_gemm_u8(const uint8_t *b, int64_t bstride, int ns,
                        const int8_t *a, int64_t ng, int32_t *C, int64_t ldc,
                        bool accumulate) {
  if (ns < 4 || ng <= 0) {
    for (int s = 0; s < ns; s++)
      gemm_strip(b + s * bstride, false, a, ng, C + 16 * s, ldc, accumulate);
    return;
  }
  int32_t acc[TERN_CPU_MR * 64] __attribute__((aligned(64)));
  const uint8_t *p0 = b, *p2 = b + 2 * bstride;
  int64_t n = ng;
  __asm__ volatile(TILE_ZERO "1:\n\t"
                             "vmovdqa64 (%[p0]), %%zmm0\n\t"
                             "vmovdqa64 (%[p0],%[S]), %%zmm1\n\t"
                             "vmovdqa64 (%[p2]), %%zmm2\n\t"
                             "vmovdqa64 (%[p2],%[S]), %%zmm3\n\t" TILE_GROUP(
                                 0) "add $64, %[p0]\n\t"
                                    "add $64, %[p2]\n\t"
                                    "add $24, %[a]\n\t"
                                    "dec %[n]\n\t"
                                    "jnz 1b\n\t" TILE_STORE
                   : [a] "+r"(a), [p0] "+r"(p0), [p2] "+r"(p2), [n] "+r"(n)
                   : [S] "r"(bstride), [o] "r"(acc)
                   : TILE_CLOBBERS);
  tile_store(acc, C, ldc, accumulate);
}

/* The codes of group s of a quad: the four strips' bytes shifted right by
 * 2s and masked with 3 (zmm6) into zmm0..3. */
#define TILE_CODES(s)                                                          \
  "vpsrlw $2*" #s ", (%[p0]), %%zmm0\n\t"                                      \
  "vpandd %%zmm6, %%zmm0, %%zmm0\n\t"                                          \
  "vpsrlw $2*" #s ", (%[p0],%[S]), %%zmm1\n\t"                                 \
  "vpandd %%zmm6, %%zmm1, %%zmm1\n\t"                                          \
  "vpsrlw $2*" #s ", (%[p2]), %%zmm2\n\t"                                      \
  "vpandd %%zmm6, %%zmm2, %%zmm2\n\t"                                          \
  "vpsrlw $2*" #s ", (%[p2],%[S]), %%zmm3\n\t"                                 \
  "vpandd %%zmm6, %%zmm3, %%zmm3\n\t"

/* Ternary: per quad, the four groups' codes by shift and mask. */
static void p16_gemm_ternary(const uint8_t *b, int64_t bstride, int ns,
                             const int8_t *a, int64_t ng, int32_t *C,
                             int64_t ldc, bool accumulate) {
  if (ns < 4 || ng <= 0) {
    for (int s = 0; s < ns; s++)
      gemm_strip(b + s * bstride, true, a, ng, C + 16 * s, ldc, accumulate);
    return;
  }
  const uint32_t mask = 0x03030303u;
  int32_t acc[TERN_CPU_MR * 64] __attribute__((aligned(64)));
  const uint8_t *p0 = b, *p2 = b + 2 * bstride;
  int64_t n = ng / 4;
  __asm__ volatile("vpbroadcastd %[mk], %%zmm6\n\t" TILE_ZERO "1:\n\t"
                   "vpandd (%[p0]), %%zmm6, %%zmm0\n\t"
                   "vpandd (%[p0],%[S]), %%zmm6, %%zmm1\n\t"
                   "vpandd (%[p2]), %%zmm6, %%zmm2\n\t"
                   "vpandd (%[p2],%[S]), %%zmm6, %%zmm3\n\t" TILE_GROUP(0)
                       TILE_CODES(1) TILE_GROUP(24) TILE_CODES(2) TILE_GROUP(48)
                           TILE_CODES(3) TILE_GROUP(72) "add $64, %[p0]\n\t"
                                                        "add $64, %[p2]\n\t"
                                                        "add $96, %[a]\n\t"
                                                        "dec %[n]\n\t"
                                                        "jnz 1b\n\t" TILE_STORE
                   : [a] "+r"(a), [p0] "+r"(p0), [p2] "+r"(p2), [n] "+r"(n)
                   : [S] "r"(bstride), [mk] "m"(mask), [o] "r"(acc)
                   : TILE_CLOBBERS);
  tile_store(acc, C, ldc, accumulate);
}

/* -------------------------------------------------------- quantizer */
/* The activation rule (docs/NUMERICS.md), 16 floats at a time: absmax with
 * any NaN poisoning the row, then q = clamp(rint(x * 2^-e)); the product by
 * a power of two and vrndscaleps (to nearest even) match rintf exactly. */
static void quantize_row(const float *x, int64_t K, int64_t kp, int8_t *q,
                         float *scale) {
  __m512 mx = _mm512_setzero_ps();
  __mmask16 nan = 0;
  for (int64_t k = 0; k < K; k += 16) {
    __mmask16 mk =
        K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
    /* 1 KiB ahead, into the next row too: the hardware prefetchers stop at
     * 4 KiB pages, which a row often is (a prefetch never faults) */
    _mm_prefetch((const char *)(x + k + 256), _MM_HINT_T0);
    __m512 v = _mm512_maskz_loadu_ps(mk, x + k);
    mx = _mm512_max_ps(mx, _mm512_abs_ps(v));
    nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  }
  float inv;
  if (!tern_cpu_row_scale(nan, _mm512_reduce_max_ps(mx), q, kp, &inv, scale))
    return;
  const __m512 vinv = _mm512_set1_ps(inv), hi = _mm512_set1_ps(127.0f),
               lo = _mm512_set1_ps(-127.0f);
  /* the values are clamped to +-127 first, so the narrowing vpmovdb (to a
   * register: its store form is much slower) is exact */
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + k), vinv);
    v = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
    _mm_storeu_si128((__m128i *)(q + k),
                     _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)));
  }
  if (k < K) {
    __mmask16 mk = (__mmask16)((1u << (K - k)) - 1);
    __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + k), vinv);
    v = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
    _mm_mask_storeu_epi8(q + k, mk,
                         _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)));
  }
  memset(q + K, 0, (size_t)(kp - K));
}

/* Sum of kp int8 values (kp a multiple of 64): vpdpbusd by ones. */
static int32_t row_sum(const int8_t *x, int64_t kp) {
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i a = _mm512_setzero_si512(), b = a;
  int64_t k = 0;
  for (; k + 128 <= kp; k += 128) {
    a = _mm512_dpbusd_epi32(a, ones, _mm512_loadu_si512(x + k));
    b = _mm512_dpbusd_epi32(b, ones, _mm512_loadu_si512(x + k + 64));
  }
  if (k < kp)
    a = _mm512_dpbusd_epi32(a, ones, _mm512_loadu_si512(x + k));
  return _mm512_reduce_add_epi32(_mm512_add_epi32(a, b));
}

/* --------------------------------------------------------- epilogue */
/* tern_q_epilogue, 16 lanes: the same three roundings in the same order
 * (vcvtdq2ps rounds to nearest like the (float) cast; + 0.0f without bias,
 * as the reference, so -0 becomes +0). max(v, 0) is v > 0 ? v : 0 for NaN
 * and signed zeros alike, as tern_apply_activation's ReLU. */
static void epilogue(const int32_t *acc, int64_t n, uint32_t corr,
                     const float *ws, float xs, const float *bias,
                     tern_activation act, float *y) {
  const __m512i vc = _mm512_set1_epi32((int32_t)corr);
  const __m512 vxs = _mm512_set1_ps(xs), zero = _mm512_setzero_ps(),
               six = _mm512_set1_ps(6.0f);
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 mk =
        n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
    __m512i a = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(mk, acc + j), vc);
    __m512 v =
        _mm512_mul_ps(_mm512_cvtepi32_ps(a), _mm512_maskz_loadu_ps(mk, ws + j));
    v = _mm512_mul_ps(v, vxs);
    v = _mm512_add_ps(v, bias ? _mm512_maskz_loadu_ps(mk, bias + j) : zero);
    if (act == TERN_ACT_RELU)
      v = _mm512_max_ps(v, zero);
    else if (act == TERN_ACT_RELU6)
      v = _mm512_min_ps(_mm512_max_ps(v, zero), six);
    _mm512_mask_storeu_ps(y + j, mk, v);
  }
  if (act != TERN_ACT_NONE && act != TERN_ACT_RELU && act != TERN_ACT_RELU6)
    for (int64_t j = 0; j < n; j++)
      y[j] = tern_apply_activation(act, y[j]);
}

const tern_cpu_kernels tern_cpu_kernels_avx512 = {
    .quantize_row = quantize_row,
    .p16 = true,
    .row_sum = row_sum,
    .p16_gemv_ternary = p16_gemv_ternary,
    .p16_gemv_u8 = p16_gemv_u8,
    .p16_gemm_ternary = p16_gemm_ternary,
    .p16_gemm_u8 = p16_gemm_u8,
    .epilogue = epilogue,
};

#endif /* x86 + AVX-512 */
