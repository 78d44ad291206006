/* tern_vulkan.h — hooks of the Vulkan backend for tests and benchmarks
 * (no Vulkan types): validation message count, tiers, pipeline cache state. */
#ifndef TERN_VULKAN_H
#define TERN_VULKAN_H

#include "backend.h"

/* Validation-layer / debug-utils messages of warning or error severity seen
 * since the process started (all contexts). Tests require it to stay 0. */
int tern_vk_validation_message_count(void);
/* 1 once an instance was created with VK_LAYER_KHRONOS_validation. */
int tern_vk_validation_active(void);
/* Tier bits enabled on an opened Vulkan device (TERN_VK_TIER_* values:
 * 1 = 8-bit, 2 = fp16, 4 = subgroup, 8 = integer dot product). */
unsigned tern_vk_device_tiers(const tern_device *dev);
/* 0 = no cache file, 1 = loaded a valid file, 2 = file was stale or broken
 * and the cache was rebuilt. */
int tern_vk_device_cache_state(const tern_device *dev);
/* Path of the device's pipeline cache file. */
const char *tern_vk_device_cache_path(const tern_device *dev);
/* Tests: behave as if the device had been lost. */
void tern_vk_device_mark_lost(tern_device *dev);
/* Write the pipeline cache now (done also at device close). */
void tern_vk_device_cache_save(tern_device *dev);
/* The tunables a node prepared by this backend captured, as its kernels
 * will use them ("gemm_wg=32 gemm_tm=1"; "" for ops without tunables). */
const char *tern_vk_node_tuning(const void *prepared);

#endif
