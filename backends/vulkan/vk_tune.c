/* vk_tune.c — default tunables per vendor (by vendor ID, device type and
 * subgroup size), overridable with TERN_VK_TUNE="wg=..,gemm_wg=..,tm=..,
 * sg_bcast=..,col_wg=..,elt_wg=..,elt_ept=..", then clamped to the device
 * limits (and to the limits every Vulkan device guarantees in
 * TERN_VK_MIN_DEVICE mode). */
#include "vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t pow2_floor(uint32_t v) {
  uint32_t p = 1;
  while (p * 2 <= v)
    p *= 2;
  return p;
}

void tern_vk_tune_defaults(tern_device *d) {
  const VkPhysicalDeviceProperties *p = &d->pd->props;
  uint32_t sg = d->pd->subgroup_size ? d->pd->subgroup_size : 32;
  tern_vk_tune t = {128, 64, 4, 16384, 1};
  if (p->deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) {
    /* llvmpipe/lavapipe (vendor 0x10005): one workgroup per CPU thread at a
     * time, 8-wide SIMD; small workgroups keep both threads busy on GEMV;
     * 2 rows per invocation (4 spill its 16 vector registers).
     * Its subgroup broadcast costs more than the texel fetch it saves. */
    t = (tern_vk_tune){64, 16, 2, 16384, 0};
  } else {
    switch (p->vendorID) {
    case 0x10DE: /* NVIDIA: warps of 32 */
      t = (tern_vk_tune){256, 128, 4, 32768, 1};
      break;
    case 0x1002: /* AMD: wave64 (or wave32 on RDNA) */
      t = (tern_vk_tune){256, sg >= 64 ? 64 : 128, 4, 32768, 1};
      break;
    case 0x8086: /* Intel: SIMD8/16/32 */
      t = (tern_vk_tune){128, 64, 4, 32768, 1};
      break;
    case 0x13B5: /* Arm Mali: small register files */
      t = (tern_vk_tune){128, 64, 2, 16384, 1};
      break;
    case 0x5143: /* Qualcomm Adreno: wave 64/128 */
      t = (tern_vk_tune){128, sg >= 128 ? 128 : 64, 2, 16384, 1};
      break;
    default:
      break;
    }
  }
  const char *env = getenv("TERN_VK_TUNE");
  if (env) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", env);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
      unsigned v;
      if (sscanf(tok, "wg=%u", &v) == 1)
        t.wg_size = v;
      else if (sscanf(tok, "gemm_wg=%u", &v) == 1)
        t.gemm_wg = v;
      else if (sscanf(tok, "tm=%u", &v) == 1)
        t.gemm_tm = v;
      else if (sscanf(tok, "sg_bcast=%u", &v) == 1)
        t.sg_bcast = v != 0;
      else if (sscanf(tok, "col_wg=%u", &v) == 1)
        t.col_wg = v;
      else if (sscanf(tok, "elt_wg=%u", &v) == 1)
        t.elt_wg = v;
      else if (sscanf(tok, "elt_ept=%u", &v) == 1)
        t.elt_ept = v;
    }
  }
  uint32_t max_inv = d->limits.maxComputeWorkGroupInvocations;
  if (d->limits.maxComputeWorkGroupSize[0] < max_inv)
    max_inv = d->limits.maxComputeWorkGroupSize[0];
  uint32_t max_sh = d->limits.maxComputeSharedMemorySize;
  if (d->min_device) { /* what the spec guarantees every device */
    if (max_inv > 128)
      max_inv = 128;
    if (max_sh > 16384)
      max_sh = 16384;
  }
  if (t.max_shared > max_sh)
    t.max_shared = max_sh;
  /* reductions keep two words per invocation in shared memory */
  uint32_t cap = pow2_floor(max_inv);
  if (cap > t.max_shared / 8)
    cap = pow2_floor(t.max_shared / 8);
  t.wg_size = pow2_floor(t.wg_size ? t.wg_size : 64);
  if (t.wg_size > cap)
    t.wg_size = cap;
  if (t.gemm_wg == 0 || t.gemm_wg > max_inv)
    t.gemm_wg = max_inv < 64 ? max_inv : 64;
  if (t.gemm_tm < 1 || t.gemm_tm > 4)
    t.gemm_tm = 4;
  /* im2col and the elementwise kernels use no shared memory: by default
   * the general workgroup size, one element per invocation */
  t.col_wg = pow2_floor(t.col_wg ? t.col_wg : t.wg_size);
  if (t.col_wg > pow2_floor(max_inv))
    t.col_wg = pow2_floor(max_inv);
  t.elt_wg = pow2_floor(t.elt_wg ? t.elt_wg : t.wg_size);
  if (t.elt_wg > pow2_floor(max_inv))
    t.elt_wg = pow2_floor(max_inv);
  if (t.elt_ept < 1 || t.elt_ept > 8)
    t.elt_ept = 1;
  d->tune = t;
}
