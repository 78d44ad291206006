/* cpu_features.c — which SIMD kernel table this CPU can run, lowered by the
 * TERN_CPU_ISA environment switch so one machine can check every path. */
#include "cpu_kernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20) /* <asm/hwcap.h>: SDOT/UDOT */
#endif
#endif

static const char *const k_isa_names[TERN_ISA_COUNT_] = {
    "scalar", "avx2", "avx512", "neon", "neondot"};

const char *tern_cpu_isa_name(tern_cpu_isa isa) {
  return (unsigned)isa < TERN_ISA_COUNT_ ? k_isa_names[isa] : "unknown";
}

bool tern_cpu_isa_parse(const char *s, tern_cpu_isa *isa) {
  for (int i = 0; i < TERN_ISA_COUNT_; i++)
    if (s && strcmp(s, k_isa_names[i]) == 0) {
      *isa = (tern_cpu_isa)i;
      return true;
    }
  return false;
}

const tern_cpu_kernels *tern_cpu_kernels_get(tern_cpu_isa isa) {
  switch (isa) {
  case TERN_ISA_SCALAR:
    return &tern_cpu_kernels_scalar;
#if defined(__x86_64__) || defined(__i386__)
  case TERN_ISA_AVX2:
    return &tern_cpu_kernels_avx2;
#ifdef TERN_CPU_HAVE_AVX512
  case TERN_ISA_AVX512:
    return &tern_cpu_kernels_avx512;
#endif
#endif
#if defined(__aarch64__) && defined(TERN_CPU_HAVE_NEON)
  case TERN_ISA_NEON:
    return &tern_cpu_kernels_neon;
  case TERN_ISA_NEONDOT:
    return &tern_cpu_kernels_neondot;
#endif
  default:
    return NULL;
  }
}

bool tern_cpu_isa_available(tern_cpu_isa isa) {
  if (!tern_cpu_kernels_get(isa))
    return false;
  switch (isa) {
  case TERN_ISA_SCALAR:
    return true;
#if defined(__x86_64__) || defined(__i386__)
  case TERN_ISA_AVX2:
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  case TERN_ISA_AVX512:
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512vnni");
#endif
#if defined(__aarch64__)
  case TERN_ISA_NEON:
    return true; /* Advanced SIMD is part of the AArch64 baseline */
  case TERN_ISA_NEONDOT:
#if defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    return false; /* no portable detection: keep the plain table */
#endif
#endif
  default:
    return false;
  }
}

tern_cpu_isa tern_cpu_isa_best(void) {
  for (int i = TERN_ISA_COUNT_ - 1; i > 0; i--)
    if (tern_cpu_isa_available((tern_cpu_isa)i))
      return (tern_cpu_isa)i;
  return TERN_ISA_SCALAR;
}

tern_cpu_isa tern_cpu_isa_active(void) {
  /* Not cached: tests switch TERN_CPU_ISA between sessions, and this runs
   * once per prepared node, not per call. */
  tern_cpu_isa best = tern_cpu_isa_best(), want;
  const char *env = getenv("TERN_CPU_ISA");
  if (env && tern_cpu_isa_parse(env, &want) && want < best &&
      tern_cpu_isa_available(want))
    return want;
  return best;
}
