/* cpu_eltwise_avx2.c — the cpu_eltwise.h kernels with 8-lane AVX2 vectors
 * (built with -mavx2 -mfma for this file only, cpu.cmake; chosen at run time
 * when the CPU has AVX2 and FMA). Tails use vmaskmovps, which neither reads
 * nor writes the lanes it leaves out. The kernels themselves are in
 * cpu_eltwise_simd.h. */
#include "cpu_eltwise.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define VL 8
typedef __m256 vf;
typedef __m256 vm; /* all-ones lanes are true */

static inline __m256i lanes_(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 8 ? n : 8)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf vzero(void) {
  return _mm256_setzero_ps();
}
static inline vf vset1(float f) {
  return _mm256_set1_ps(f);
}
static inline vf vload(const float *p) {
  return _mm256_loadu_ps(p);
}
static inline void vstore(float *p, vf v) {
  _mm256_storeu_ps(p, v);
}
static inline vf vload_n(const float *p, int64_t n, float fill) {
  __m256i m = lanes_(n);
  return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m),
                          _mm256_castsi256_ps(m));
}
static inline void vstore_n(float *p, vf v, int64_t n) {
  _mm256_maskstore_ps(p, lanes_(n), v);
}
static inline vf vload_part(const float *q, int64_t l0, int64_t l1,
                            float fill) {
  __m256i m = _mm256_andnot_si256(lanes_(l0), lanes_(l1));
  return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(q - l0, m),
                          _mm256_castsi256_ps(m));
}
static inline vf vadd(vf a, vf b) {
  return _mm256_add_ps(a, b);
}
static inline vf vsub(vf a, vf b) {
  return _mm256_sub_ps(a, b);
}
static inline vf vmul(vf a, vf b) {
  return _mm256_mul_ps(a, b);
}
static inline vf vdiv(vf a, vf b) {
  return _mm256_div_ps(a, b);
}
static inline vf vfma(vf a, vf b, vf c) {
  return _mm256_fmadd_ps(a, b, c);
}
static inline vf vpick_gt(vf a, vf b) {
  return _mm256_max_ps(a, b); /* a > b ? a : b */
}
static inline vf vpick_lt(vf a, vf b) {
  return _mm256_min_ps(a, b); /* a < b ? a : b */
}
static inline vm vnan(vf a) {
  return _mm256_cmp_ps(a, a, _CMP_UNORD_Q);
}
static inline vm vor(vm a, vm b) {
  return _mm256_or_ps(a, b);
}
static inline bool vany(vm m) {
  return _mm256_movemask_ps(m) != 0;
}
static inline vf vblend(vm m, vf a, vf b) {
  return _mm256_blendv_ps(b, a, m); /* m ? a : b */
}
static inline vf vround(vf a) {
  return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline vf vpow2(vf n) {
  __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
  return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}
static inline float vhsum(vf a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
static inline float vhmax(vf a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
static inline vf vdup_even(vf a) {
  return _mm256_moveldup_ps(a);
}
static inline vf vdup_odd(vf a) {
  return _mm256_movehdup_ps(a);
}
static inline vf vaddsub(vf a, vf b) {
  return _mm256_addsub_ps(a, b); /* even a - b, odd a + b */
}
static inline vf veven(vf a, vf b) {
  /* {a0 a2 b0 b2 | a4 a6 b4 b6} -> {a0 a2 a4 a6 b0 b2 b4 b6} */
  __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

#define ELTWISE_TABLE tern_cpu_eltwise_avx2
#include "cpu_eltwise_simd.h"

#endif
