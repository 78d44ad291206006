/* cpu_eltwise_avx512.c — the cpu_eltwise.h kernels with 16-lane AVX-512F
 * vectors (built with -mavx512f -mfma for this file only, cpu.cmake; chosen
 * at run time when the CPU has AVX-512F). Tails use masked loads and
 * stores. The kernels themselves are in cpu_eltwise_simd.h. */
#include "cpu_eltwise.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define VL 16
typedef __m512 vf;
typedef __mmask16 vm;

static inline __mmask16 lanes_(int64_t n) {
  return (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
}
static inline vf vzero(void) {
  return _mm512_setzero_ps();
}
static inline vf vset1(float f) {
  return _mm512_set1_ps(f);
}
static inline vf vload(const float *p) {
  return _mm512_loadu_ps(p);
}
static inline void vstore(float *p, vf v) {
  _mm512_storeu_ps(p, v);
}
static inline vf vload_n(const float *p, int64_t n, float fill) {
  return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), lanes_(n), p);
}
static inline void vstore_n(float *p, vf v, int64_t n) {
  _mm512_mask_storeu_ps(p, lanes_(n), v);
}
static inline vf vload_part(const float *q, int64_t l0, int64_t l1,
                            float fill) {
  return _mm512_mask_loadu_ps(_mm512_set1_ps(fill),
                              (__mmask16)(lanes_(l1) & ~lanes_(l0)), q - l0);
}
static inline vf vadd(vf a, vf b) {
  return _mm512_add_ps(a, b);
}
static inline vf vsub(vf a, vf b) {
  return _mm512_sub_ps(a, b);
}
static inline vf vmul(vf a, vf b) {
  return _mm512_mul_ps(a, b);
}
static inline vf vdiv(vf a, vf b) {
  return _mm512_div_ps(a, b);
}
static inline vf vfma(vf a, vf b, vf c) {
  return _mm512_fmadd_ps(a, b, c);
}
static inline vf vpick_gt(vf a, vf b) {
  return _mm512_max_ps(a, b); /* a > b ? a : b */
}
static inline vf vpick_lt(vf a, vf b) {
  return _mm512_min_ps(a, b); /* a < b ? a : b */
}
static inline vm vnan(vf a) {
  return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
}
static inline vm vor(vm a, vm b) {
  return (vm)(a | b);
}
static inline bool vany(vm m) {
  return m != 0;
}
static inline vf vblend(vm m, vf a, vf b) {
  return _mm512_mask_blend_ps(m, b, a); /* m ? a : b */
}
static inline vf vround(vf a) {
  return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline vf vpow2(vf n) {
  __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
  return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}
static inline float vhsum(vf a) {
  return _mm512_reduce_add_ps(a);
}
static inline float vhmax(vf a) {
  return _mm512_reduce_max_ps(a);
}
static inline vf vdup_even(vf a) {
  return _mm512_moveldup_ps(a);
}
static inline vf vdup_odd(vf a) {
  return _mm512_movehdup_ps(a);
}
static inline vf vaddsub(vf a, vf b) {
  return _mm512_mask_sub_ps(_mm512_add_ps(a, b), 0x5555, a, b);
}
static inline vf veven(vf a, vf b) {
  const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20,
                                        22, 24, 26, 28, 30);
  return _mm512_permutex2var_ps(a, idx, b);
}

#define ELTWISE_TABLE tern_cpu_eltwise_avx512
#include "cpu_eltwise_simd.h"

#endif
