/* cpu_neon_common.h — inline helpers shared by the two AArch64 kernel
 * tables (cpu_kern_neon.c, cpu_kern_neondot.c), which are compiled with
 * different -march flags and so cannot share out-of-line code for these. */
#ifndef TERN_CPU_NEON_COMMON_H
#define TERN_CPU_NEON_COMMON_H

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

/* Four bytes at p in every 32-bit lane (memcpy: panels are byte/int16
 * arrays, and this keeps the access free of aliasing questions). */
INLINE int32x4_t bcast4(const void *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return vdupq_n_s32(v);
}

/* The 128 ternary codes of one 32-byte T128 block (cpu_kernels.h):
 * c[s][h] holds codes k = 32s + 16h + i for lane i. */
INLINE void unpack_t128(const uint8_t *wb, int8x16_t c[4][2]) {
  const uint8x16_t m3 = vdupq_n_u8(3);
  uint8x16_t v[2] = {vld1q_u8(wb), vld1q_u8(wb + 16)};
  for (int h = 0; h < 2; h++) {
    c[0][h] = vreinterpretq_s8_u8(vandq_u8(v[h], m3));
    c[1][h] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v[h], 2), m3));
    c[2][h] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v[h], 4), m3));
    c[3][h] = vreinterpretq_s8_u8(vshrq_n_u8(v[h], 6));
  }
}

#endif
