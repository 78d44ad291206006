/* cpu_eltwise_neon.c — the cpu_eltwise.h kernels with 4-lane AArch64
 * Advanced SIMD vectors (the AArch64 baseline: every AArch64 CPU, and the
 * neondot ISA too). Tails go through a 4-float buffer, so that no lane
 * outside [0, n) is read or written. Selects and min/max are written as
 * compare + select: NEON's fmax/fmin return NaN for a NaN operand where the
 * reference's comparisons pick the other one. The kernels themselves are
 * in cpu_eltwise_simd.h. */
#include "cpu_eltwise.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#define VL 4
typedef float32x4_t vf;
typedef uint32x4_t vm;

static inline vf vzero(void) {
  return vdupq_n_f32(0.0f);
}
static inline vf vset1(float f) {
  return vdupq_n_f32(f);
}
static inline vf vload(const float *p) {
  return vld1q_f32(p);
}
static inline void vstore(float *p, vf v) {
  vst1q_f32(p, v);
}
static inline vf vload_n(const float *p, int64_t n, float fill) {
  float t[4] = {fill, fill, fill, fill};
  memcpy(t, p, (size_t)(n < 4 ? n : 4) * sizeof(float));
  return vld1q_f32(t);
}
static inline void vstore_n(float *p, vf v, int64_t n) {
  float t[4];
  vst1q_f32(t, v);
  memcpy(p, t, (size_t)(n < 4 ? n : 4) * sizeof(float));
}
static inline vf vload_part(const float *q, int64_t l0, int64_t l1,
                            float fill) {
  float t[4] = {fill, fill, fill, fill};
  memcpy(t + l0, q, (size_t)(l1 - l0) * sizeof(float));
  return vld1q_f32(t);
}
static inline vf vadd(vf a, vf b) {
  return vaddq_f32(a, b);
}
static inline vf vsub(vf a, vf b) {
  return vsubq_f32(a, b);
}
static inline vf vmul(vf a, vf b) {
  return vmulq_f32(a, b);
}
static inline vf vdiv(vf a, vf b) {
  return vdivq_f32(a, b);
}
static inline vf vfma(vf a, vf b, vf c) {
  return vfmaq_f32(c, a, b);
}
static inline vf vpick_gt(vf a, vf b) {
  return vbslq_f32(vcgtq_f32(a, b), a, b);
}
static inline vf vpick_lt(vf a, vf b) {
  return vbslq_f32(vcltq_f32(a, b), a, b);
}
static inline vm vnan(vf a) {
  return vmvnq_u32(vceqq_f32(a, a));
}
static inline vm vor(vm a, vm b) {
  return vorrq_u32(a, b);
}
static inline bool vany(vm m) {
  return vmaxvq_u32(m) != 0;
}
static inline vf vblend(vm m, vf a, vf b) {
  return vbslq_f32(m, a, b);
}
static inline vf vround(vf a) {
  return vrndnq_f32(a);
}
static inline vf vpow2(vf n) {
  int32x4_t e = vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127));
  return vreinterpretq_f32_s32(vshlq_n_s32(e, 23));
}
static inline float vhsum(vf a) {
  return vaddvq_f32(a);
}
static inline float vhmax(vf a) {
  return vmaxvq_f32(a); /* callers pass no NaN */
}
static inline vf vdup_even(vf a) {
  return vtrn1q_f32(a, a);
}
static inline vf vdup_odd(vf a) {
  return vtrn2q_f32(a, a);
}
static inline vf vaddsub(vf a, vf b) {
  vf d = vsubq_f32(a, b), s = vaddq_f32(a, b);
  return vtrn2q_f32(vrev64q_f32(d), s); /* {d0, s1, d2, s3} */
}
static inline vf veven(vf a, vf b) {
  return vuzp1q_f32(a, b);
}

#define ELTWISE_TABLE tern_cpu_eltwise_neon
#include "cpu_eltwise_simd.h"

#endif
