/* vk_internal.h — private to backends/vulkan: the dlopen()ed Vulkan entry
 * points, the device and buffer structs, pipelines, command recording and the
 * per-op kernel hooks. Core never includes this header. */
#ifndef TERN_VK_INTERNAL_H
#define TERN_VK_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "backend.h"

#include <pthread.h>

/* Entry points loaded through vkGetInstanceProcAddr (X-macro: one list). */
#define TERN_VK_GLOBAL_FNS(X)                                                  \
  X(vkCreateInstance)                                                          \
  X(vkEnumerateInstanceExtensionProperties)                                    \
  X(vkEnumerateInstanceLayerProperties)                                        \
  X(vkEnumerateInstanceVersion)
#define TERN_VK_INSTANCE_FNS(X)                                                \
  X(vkDestroyInstance)                                                         \
  X(vkEnumeratePhysicalDevices)                                                \
  X(vkGetPhysicalDeviceProperties)                                             \
  X(vkGetPhysicalDeviceProperties2)                                            \
  X(vkGetPhysicalDeviceFeatures2)                                              \
  X(vkGetPhysicalDeviceQueueFamilyProperties)                                  \
  X(vkGetPhysicalDeviceMemoryProperties)                                       \
  X(vkEnumerateDeviceExtensionProperties)                                      \
  X(vkCreateDevice)                                                            \
  X(vkDestroyDevice)                                                           \
  X(vkGetDeviceQueue)                                                          \
  X(vkCreateBuffer)                                                            \
  X(vkDestroyBuffer)                                                           \
  X(vkGetBufferMemoryRequirements)                                             \
  X(vkAllocateMemory)                                                          \
  X(vkFreeMemory)                                                              \
  X(vkBindBufferMemory)                                                        \
  X(vkMapMemory)                                                               \
  X(vkUnmapMemory)                                                             \
  X(vkFlushMappedMemoryRanges)                                                 \
  X(vkInvalidateMappedMemoryRanges)                                            \
  X(vkCreateShaderModule)                                                      \
  X(vkCreateBufferView)                                                        \
  X(vkDestroyBufferView)                                                       \
  X(vkDestroyShaderModule)                                                     \
  X(vkCreatePipelineCache)                                                     \
  X(vkDestroyPipelineCache)                                                    \
  X(vkGetPipelineCacheData)                                                    \
  X(vkCreateComputePipelines)                                                  \
  X(vkDestroyPipeline)                                                         \
  X(vkCreatePipelineLayout)                                                    \
  X(vkDestroyPipelineLayout)                                                   \
  X(vkCreateDescriptorSetLayout)                                               \
  X(vkDestroyDescriptorSetLayout)                                              \
  X(vkCreateDescriptorPool)                                                    \
  X(vkDestroyDescriptorPool)                                                   \
  X(vkResetDescriptorPool)                                                     \
  X(vkAllocateDescriptorSets)                                                  \
  X(vkUpdateDescriptorSets)                                                    \
  X(vkCreateCommandPool)                                                       \
  X(vkDestroyCommandPool)                                                      \
  X(vkAllocateCommandBuffers)                                                  \
  X(vkResetCommandBuffer)                                                      \
  X(vkBeginCommandBuffer)                                                      \
  X(vkEndCommandBuffer)                                                        \
  X(vkCmdBindPipeline)                                                         \
  X(vkCmdBindDescriptorSets)                                                   \
  X(vkCmdPushConstants)                                                        \
  X(vkCmdDispatch)                                                             \
  X(vkCmdPipelineBarrier)                                                      \
  X(vkCmdCopyBuffer)                                                           \
  X(vkQueueSubmit)                                                             \
  X(vkQueueWaitIdle)                                                           \
  X(vkCreateFence)                                                             \
  X(vkDestroyFence)                                                            \
  X(vkWaitForFences)                                                           \
  X(vkResetFences)                                                             \
  X(vkDeviceWaitIdle)
#define TERN_VK_OPTIONAL_FNS(X)                                                \
  X(vkCreateDebugUtilsMessengerEXT)                                            \
  X(vkDestroyDebugUtilsMessengerEXT)

typedef struct tern_vk_fns {
  PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
#define TERN_VK_FN_FIELD_(n) PFN_##n n;
  TERN_VK_GLOBAL_FNS(TERN_VK_FN_FIELD_)
  TERN_VK_INSTANCE_FNS(TERN_VK_FN_FIELD_)
  TERN_VK_OPTIONAL_FNS(TERN_VK_FN_FIELD_)
#undef TERN_VK_FN_FIELD_
} tern_vk_fns;

/* Feature tiers (bit set). */
enum {
  TERN_VK_TIER_8BIT = 1 << 0,     /* 8-bit storage + int8 arithmetic */
  TERN_VK_TIER_FP16 = 1 << 1,     /* fp16 arithmetic + 16-bit storage */
  TERN_VK_TIER_SUBGROUP = 1 << 2, /* subgroup arithmetic reductions */
  TERN_VK_TIER_INT_DOT = 1 << 3   /* VK_KHR_shader_integer_dot_product */
};

/* Tunables, passed to shaders as specialization constants. */
typedef struct tern_vk_tune {
  uint32_t wg_size;    /* elementwise / reduction workgroup size */
  uint32_t gemm_wg;    /* invocations per workgroup in the quantized GEMM */
  uint32_t gemm_tm;    /* rows (M) per invocation, 1..4 */
  uint32_t max_shared; /* bytes of shared memory a kernel may use */
  uint32_t sg_bcast;   /* subgroup tier: share x rows by broadcast */
  uint32_t col_wg;     /* conv2d im2col workgroup size */
  uint32_t elt_wg;     /* elementwise (eltwise, binary) workgroup size */
  uint32_t elt_ept;    /* elementwise elements per invocation, 1..8 */
} tern_vk_tune;

/* What init learned about one physical device. */
typedef struct tern_vk_physdev {
  VkPhysicalDevice phys;
  VkPhysicalDeviceProperties props;
  uint32_t qfamily;
  bool usable; /* Vulkan 1.1, a compute queue */
  /* optional features the device offers */
  bool has_8bit, has_fp16, has_subgroup_arith, has_int_dot, int_dot_fast;
  bool has_size_control;
  uint32_t subgroup_size;
  uint64_t memory_bytes;
  tern_device *open; /* opened at init for the self-tests, shared after */
  int refs;
} tern_vk_physdev;

struct tern_backend_ctx {
  tern_vk_fns vk;
  void *lib;
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  bool validation;
  tern_vk_physdev *pd;
  int n_pd;
  const void *tuning_db; /* the context's (core/tuning.h), may be NULL */
};

/* A device allocation. tern_buffer.impl points at one. */
typedef struct tern_vk_mem {
  VkBuffer buf;
  VkDeviceMemory mem;
  VkDeviceSize bytes;
  void *map; /* persistent mapping when host-visible */
  bool coherent;
  VkBufferView fview;  /* RGBA32F view of the whole buffer (arenas), or 0 */
  VkBufferView f1view; /* R32_SFLOAT view of the whole buffer, or 0 */
} tern_vk_mem;

typedef struct tern_vk_pipeline {
  char name[48];
  uint32_t spec[8];
  int n_spec;
  int n_bindings;
  uint32_t texel_mask; /* bindings that are uniform texel buffers */
  VkPipeline pipe;
  VkPipelineLayout layout;
  VkDescriptorSetLayout dsl;
} tern_vk_pipeline;

/* Descriptor set + pipeline layout for n bindings of which texel_mask are
 * uniform texel buffers (the rest storage buffers). */
typedef struct tern_vk_layout {
  int n;
  uint32_t texel_mask;
  VkDescriptorSetLayout dsl;
  VkPipelineLayout layout;
} tern_vk_layout;

#define TERN_VK_MAX_BINDINGS 8
#define TERN_VK_PUSH_BYTES 128

typedef struct tern_vk_binding {
  const tern_vk_mem *mem;
  VkBufferView view;   /* set: bound as a uniform texel buffer (RGBA32UI) */
  VkBufferView fview;  /* the memory's RGBA32F view, if it has one */
  VkBufferView f1view; /* the memory's R32_SFLOAT view, if it has one */
  VkDeviceSize offset; /* byte offset of the bound range (aligned) */
  VkDeviceSize range;
  uint32_t word; /* offset of the tensor in 4-byte words in the range */
} tern_vk_binding;

struct tern_device {
  /* Sessions of one context share the device and may run on different
   * threads: every entry point holds this (recursive) lock. */
  pthread_mutex_t lock;
  tern_backend_ctx *ctx;
  tern_vk_physdev *pd;
  const tern_vk_fns *vk;
  VkDevice dev;
  VkQueue queue;
  VkPhysicalDeviceLimits limits;
  unsigned tiers;     /* enabled and self-tested */
  unsigned available; /* offered, not switched off (before self-tests) */
  bool min_device;
  int gemm_mode; /* TERN_VK_GEMM: 0 auto, 1 swar, 2 dot, 3 emulated dot */
  tern_vk_tune tune;
  tern_tunable *tunable; /* vk_tunables.c's list, made on first use */
  uint32_t mem_type;     /* for tensors and weights */
  bool mem_host_visible; /* mem_type is mappable: no staging */
  bool force_staging;    /* TERN_VK_FORCE_STAGING: never map tensors */
  bool lost;             /* device lost or hung: every call fails fast */
  uint64_t timeout_ns;   /* TERN_VK_TIMEOUT_MS: longest wait for the GPU */
  uint32_t staging_type; /* host-visible type for staging */
  VkCommandPool cmd_pool;
  VkCommandBuffer cmd;
  VkFence fence;
  bool recording;
  VkDescriptorPool *pools;
  int n_pools, cur_pool;
  tern_vk_layout lay[24];
  int n_lay;
  VkPipelineCache pcache;
  char cache_path[512];
  int cache_state; /* TERN_VK_CACHE_* */
  bool cache_dirty;
  tern_vk_pipeline **pipes;
  int n_pipes, cap_pipes;
  char features[256];
};

/* vk_backend.c */
tern_status tern_vk_check(VkResult r, tern_err *err, const char *what);
const char *tern_vk_result_name(VkResult r);
bool tern_vk_env_on(const char *name);

/* vk_device.c */
tern_status tern_vk_device_create(tern_backend_ctx *ctx, tern_vk_physdev *pd,
                                  tern_device **out, tern_err *err);
void tern_vk_device_destroy(tern_device *dev);
tern_status tern_vk_mem_alloc(tern_device *dev, VkDeviceSize bytes,
                              bool staging, tern_vk_mem **out, tern_err *err);
void tern_vk_mem_free(tern_device *dev, tern_vk_mem *m);
/* Upload host data into m at offset (staging when m is not mappable). */
tern_status tern_vk_mem_write(tern_device *dev, tern_vk_mem *m,
                              VkDeviceSize offset, const void *src,
                              size_t bytes, tern_err *err);
tern_status tern_vk_mem_read(tern_device *dev, tern_vk_mem *m,
                             VkDeviceSize offset, void *dst, size_t bytes,
                             tern_err *err);
/* TERN_ERR_DEVICE_LOST once the device was lost or hung. */
tern_status tern_vk_alive(const tern_device *dev, tern_err *err);
/* Submit what was recorded and wait for it. */
tern_status tern_vk_flush(tern_device *dev, tern_err *err);
/* A binding for a tensor at byte offset `offset` of m. */
tern_vk_binding tern_vk_bind(const tern_device *dev, const tern_vk_mem *m,
                             size_t offset);
tern_status tern_vk_dispatch(tern_device *dev, const tern_vk_pipeline *p,
                             const tern_vk_binding *b, const void *push,
                             size_t push_bytes, uint32_t gx, uint32_t gy,
                             uint32_t gz, tern_err *err);
/* Split `groups` workgroups into an x/y grid within the device limits. */
void tern_vk_grid(const tern_device *dev, uint64_t groups, uint32_t *gx,
                  uint32_t *gy);

/* vk_pipeline.c */
enum { TERN_VK_CACHE_NONE, TERN_VK_CACHE_LOADED, TERN_VK_CACHE_REBUILT };
void tern_vk_cache_open(tern_device *dev);
void tern_vk_cache_save(tern_device *dev);
tern_status tern_vk_pipeline_get(tern_device *dev, const char *name,
                                 int n_bindings, const uint32_t *spec,
                                 int n_spec, const tern_vk_pipeline **out,
                                 tern_err *err);
/* Same with some bindings as uniform texel buffers. */
tern_status tern_vk_pipeline_get_ex(tern_device *dev, const char *name,
                                    int n_bindings, uint32_t texel_mask,
                                    const uint32_t *spec, int n_spec,
                                    const tern_vk_pipeline **out,
                                    tern_err *err);
void tern_vk_pipelines_destroy(tern_device *dev);
tern_status tern_vk_layout_get(tern_device *dev, int n, uint32_t texel_mask,
                               const tern_vk_layout **out, tern_err *err);

/* vk_tune.c: per-vendor defaults, clamped to the device's limits. */
void tern_vk_tune_defaults(tern_device *dev);
/* vk_tunables.c: the tunables of node's kernel (gemm, conv, eltwise,
 * binary: the database's entry for this device and shape class, else the
 * defaults in dev->tune; TERN_VK_TUNE overrides both), and the tunables list
 * for `tern tune`. */
void tern_vk_tune_for_node(tern_device *dev, const tern_exec_node *node,
                           tern_vk_tune *out);
int tern_vk_tunables(tern_device *dev, const tern_tunable **list);
/* vk_backend.c: node_prepare with explicit tunables (NULL: as above);
 * the caller holds dev->lock. */
tern_status tern_vk_node_prepare_tuned(tern_device *dev,
                                       const tern_exec_node *node,
                                       const tern_vk_tune *tune,
                                       void **prepared, tern_err *err);

/* vk_selftest.c: run each tier's kernels once against known results. */
unsigned tern_vk_selftest(tern_device *dev, unsigned tiers);

/* ------------------------------------------------------------ kernels */
/* A prepared node. Each op file fills run/release and its own data. */
typedef struct tern_vk_node tern_vk_node;
struct tern_vk_node {
  tern_exec_node node;
  tern_status (*run)(tern_device *dev, tern_vk_node *n, tern_vk_binding *io,
                     tern_err *err);
  tern_vk_mem **owned; /* constants and scratch buffers (grows: one per
                          group for grouped conv) */
  int n_owned, cap_owned;
  VkBufferView *views; /* texel views of owned buffers */
  int n_views, cap_views;
  tern_vk_mem *consts[TERN_MAX_INPUTS]; /* uploaded constant inputs */
  void *data;                           /* op-specific (tern_free'd) */
  char tuning[96]; /* the tunables the op captured ("elt_wg=64 ..."), set
                      at prepare by the ops of vk_tunables.c's kernels */
};

/* Upload constant input i as raw f32 (for ops that read it as a tensor). */
tern_status tern_vk_upload_const(tern_device *dev, tern_vk_node *n, int i,
                                 tern_err *err);
tern_vk_mem *tern_vk_node_scratch(tern_device *dev, tern_vk_node *n,
                                  size_t bytes, tern_err *err);
/* A binding of all of m as an RGBA32UI uniform texel buffer (the view is
 * owned by n). bytes must be a multiple of 16 and fit
 * maxTexelBufferElements. */
tern_status tern_vk_node_texel(tern_device *dev, tern_vk_node *n,
                               tern_vk_mem *m, tern_vk_binding *out,
                               tern_err *err);
/* A view of m in any format (owned by n). */
tern_status tern_vk_node_view(tern_device *dev, tern_vk_node *n, tern_vk_mem *m,
                              VkFormat fmt, tern_vk_binding *out,
                              tern_err *err);
/* Same as RGBA32F (float data). */
tern_status tern_vk_node_texel_f32(tern_device *dev, tern_vk_node *n,
                                   tern_vk_mem *m, tern_vk_binding *out,
                                   tern_err *err);

/* One dispatch of `count` invocations of a one-dimensional shader (spec
 * constant 0 = workgroup size, the device's wg_size). */
tern_status tern_vk_run_1d(tern_device *dev, const char *shader, int n_bind,
                           const tern_vk_binding *b, const void *push,
                           size_t push_bytes, uint64_t count, tern_err *err);
/* Same with the bindings of texel_mask as uniform texel buffers. */
tern_status tern_vk_run_1d_ex(tern_device *dev, const char *shader, int n_bind,
                              uint32_t texel_mask, const tern_vk_binding *b,
                              const void *push, size_t push_bytes,
                              uint64_t count, tern_err *err);
/* Same with an explicit workgroup size (spec constant 0) and elements per
 * invocation (spec constant 1): ceil(count / (wg * ept)) workgroups. */
tern_status tern_vk_run_1d_cfg(tern_device *dev, const char *shader, int n_bind,
                               uint32_t texel_mask, const tern_vk_binding *b,
                               const void *push, size_t push_bytes,
                               uint64_t count, uint32_t wg, uint32_t ept,
                               tern_err *err);
/* Rebind b through its memory's R32_SFLOAT view (element-wise texel reads,
 * absolute word offset); false when the memory has none. */
bool tern_vk_texel1(tern_vk_binding *b);
/* Same, one workgroup per row (`rows` workgroups). */
tern_status tern_vk_run_rows(tern_device *dev, const char *shader, int n_bind,
                             const tern_vk_binding *b, const void *push,
                             size_t push_bytes, uint64_t rows, tern_err *err);

typedef struct tern_vk_op_impl {
  bool (*supports)(tern_device *dev, const tern_exec_node *node);
  tern_status (*prepare)(tern_device *dev, tern_vk_node *n, tern_err *err);
} tern_vk_op_impl;

extern const tern_vk_op_impl tern_vk_op_linear, tern_vk_op_conv2d,
    tern_vk_op_unary, tern_vk_op_binary, tern_vk_op_batchnorm, tern_vk_op_pool,
    tern_vk_op_copy, tern_vk_op_concat, tern_vk_op_softmax, tern_vk_op_norm,
    tern_vk_op_matmul, tern_vk_op_causal_mask, tern_vk_op_rope,
    tern_vk_op_permute;

#endif
