/* vk_device.c — one logical device: feature tiers and kill switches, memory
 * (device-local + staging on discrete GPUs, host-visible where memory is
 * unified), the command buffer every node_run records into, descriptor pools,
 * and submission. */
#include "vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool tern_vk_has_device_ext(const tern_vk_fns *vk, VkPhysicalDevice pd,
                            const char *name);
static tern_status node_view(tern_device *d, tern_vk_node *n, tern_vk_mem *m,
                             VkFormat fmt, tern_vk_binding *out, tern_err *err);

static int find_mem_type(const VkPhysicalDeviceMemoryProperties *mp,
                         uint32_t bits, VkMemoryPropertyFlags want) {
  for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
    if ((bits & (1u << i)) && (mp->memoryTypes[i].propertyFlags & want) == want)
      return (int)i;
  return -1;
}

static tern_status choose_memory(tern_device *d, tern_err *err) {
  VkPhysicalDeviceMemoryProperties mp;
  d->vk->vkGetPhysicalDeviceMemoryProperties(d->pd->phys, &mp);
  const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                   VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  const VkMemoryPropertyFlags dl = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  bool unified =
      d->pd->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ||
      d->pd->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
  int st = find_mem_type(&mp, ~0u, hv | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
  if (st < 0)
    st = find_mem_type(&mp, ~0u, hv);
  if (st < 0)
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "vulkan: no host-visible coherent memory type");
  d->staging_type = (uint32_t)st;
  int t = -1;
  if (unified) {
    /* one memory: map it directly, no staging copies */
    t = find_mem_type(&mp, ~0u, dl | hv);
    if (t < 0)
      t = st;
    d->mem_host_visible = true;
  } else {
    t = find_mem_type(&mp, ~0u, dl);
    if (t < 0)
      t = st;
    d->mem_host_visible = (mp.memoryTypes[t].propertyFlags & hv) == hv;
  }
  d->mem_type = (uint32_t)t;
  return TERN_OK;
}

tern_status tern_vk_layout_get(tern_device *d, int n, uint32_t texel_mask,
                               const tern_vk_layout **out, tern_err *err) {
  for (int i = 0; i < d->n_lay; i++)
    if (d->lay[i].n == n && d->lay[i].texel_mask == texel_mask) {
      *out = &d->lay[i];
      return TERN_OK;
    }
  if (d->n_lay == (int)(sizeof d->lay / sizeof d->lay[0]) ||
      n > TERN_VK_MAX_BINDINGS)
    return tern_err_set(err, TERN_ERR_INTERNAL,
                        "vulkan: too many pipeline layouts");
  tern_vk_layout *l = &d->lay[d->n_lay];
  memset(l, 0, sizeof *l);
  l->n = n;
  l->texel_mask = texel_mask;
  VkDescriptorSetLayoutBinding b[TERN_VK_MAX_BINDINGS];
  for (int i = 0; i < n; i++)
    b[i] = (VkDescriptorSetLayoutBinding){
        (uint32_t)i,
        (texel_mask >> i) & 1 ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                              : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        1, VK_SHADER_STAGE_COMPUTE_BIT, NULL};
  VkDescriptorSetLayoutCreateInfo ci = {
      VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  ci.bindingCount = (uint32_t)n;
  ci.pBindings = b;
  tern_status s = tern_vk_check(
      d->vk->vkCreateDescriptorSetLayout(d->dev, &ci, NULL, &l->dsl), err,
      "vkCreateDescriptorSetLayout");
  if (s)
    return s;
  VkPushConstantRange pc = {VK_SHADER_STAGE_COMPUTE_BIT, 0, TERN_VK_PUSH_BYTES};
  VkPipelineLayoutCreateInfo pl = {
      VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &l->dsl;
  pl.pushConstantRangeCount = 1;
  pl.pPushConstantRanges = &pc;
  s = tern_vk_check(
      d->vk->vkCreatePipelineLayout(d->dev, &pl, NULL, &l->layout), err,
      "vkCreatePipelineLayout");
  if (s) {
    d->vk->vkDestroyDescriptorSetLayout(d->dev, l->dsl, NULL);
    return s;
  }
  d->n_lay++;
  *out = l;
  return TERN_OK;
}

static tern_status add_pool(tern_device *d, tern_err *err) {
  VkDescriptorPool *np =
      tern_realloc(d->pools, (size_t)(d->n_pools + 1) * sizeof *np);
  if (!np)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
  d->pools = np;
  VkDescriptorPoolSize ps[2] = {
      {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 4096},
      {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, 1024}};
  VkDescriptorPoolCreateInfo ci = {
      VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  ci.maxSets = 1024;
  ci.poolSizeCount = 2;
  ci.pPoolSizes = ps;
  tern_status s = tern_vk_check(
      d->vk->vkCreateDescriptorPool(d->dev, &ci, NULL, &d->pools[d->n_pools]),
      err, "vkCreateDescriptorPool");
  if (!s)
    d->n_pools++;
  return s;
}

static void describe(tern_device *d) {
  char *f = d->features;
  size_t cap = sizeof d->features;
  int n = snprintf(
      f, cap, "vk%u.%u subgroup=%u", VK_VERSION_MAJOR(d->pd->props.apiVersion),
      VK_VERSION_MINOR(d->pd->props.apiVersion), d->pd->subgroup_size);
  const struct {
    unsigned bit;
    const char *name;
  } t[] = {{TERN_VK_TIER_8BIT, "int8"},
           {TERN_VK_TIER_FP16, "fp16"},
           {TERN_VK_TIER_SUBGROUP, "subgroup-ops"},
           {TERN_VK_TIER_INT_DOT, "int-dot"}};
  for (size_t i = 0; i < sizeof t / sizeof t[0] && n > 0 && (size_t)n < cap;
       i++)
    if (d->tiers & t[i].bit)
      n += snprintf(f + n, cap - (size_t)n, " %s", t[i].name);
  if (d->min_device && n > 0 && (size_t)n < cap)
    n += snprintf(f + n, cap - (size_t)n, " min-device");
  if (!d->tiers && !d->min_device && n > 0 && (size_t)n < cap)
    snprintf(f + n, cap - (size_t)n, " baseline");
}

tern_status tern_vk_device_create(tern_backend_ctx *ctx, tern_vk_physdev *pd,
                                  tern_device **out, tern_err *err) {
  tern_device *d = tern_calloc(1, sizeof *d);
  if (!d)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&d->lock, &ma);
  pthread_mutexattr_destroy(&ma);
  d->ctx = ctx;
  d->pd = pd;
  d->vk = &ctx->vk;
  d->limits = pd->props.limits;
  const tern_vk_fns *vk = d->vk;
  /* Tests shrink the descriptor range to exercise weight splitting. */
  const char *range = getenv("TERN_VK_MAX_BUFFER_RANGE");
  if (range && atol(range) >= 4096 &&
      (uint64_t)atol(range) < d->limits.maxStorageBufferRange)
    d->limits.maxStorageBufferRange = (uint32_t)atol(range);

  /* Which optional features to switch on. */
  d->min_device = tern_vk_env_on("TERN_VK_MIN_DEVICE");
  if (d->min_device) {
    /* hold the backend to the limits every Vulkan device guarantees */
    VkPhysicalDeviceLimits *l = &d->limits;
    if (l->maxTexelBufferElements > 65536)
      l->maxTexelBufferElements = 65536;
    if (l->maxStorageBufferRange > (1u << 27))
      l->maxStorageBufferRange = 1u << 27;
    if (l->minStorageBufferOffsetAlignment < 256)
      l->minStorageBufferOffsetAlignment = 256;
    if (l->minTexelBufferOffsetAlignment < 256)
      l->minTexelBufferOffsetAlignment = 256;
    if (l->maxComputeWorkGroupInvocations > 128)
      l->maxComputeWorkGroupInvocations = 128;
    if (l->maxComputeWorkGroupSize[0] > 128)
      l->maxComputeWorkGroupSize[0] = 128;
    if (l->maxComputeSharedMemorySize > 16384)
      l->maxComputeSharedMemorySize = 16384;
    for (int i = 0; i < 3; i++)
      if (l->maxComputeWorkGroupCount[i] > 65535)
        l->maxComputeWorkGroupCount[i] = 65535;
  }
  unsigned avail = 0;
  if (!d->min_device) {
    if (pd->has_8bit && !tern_vk_env_on("TERN_VK_DISABLE_8BIT"))
      avail |= TERN_VK_TIER_8BIT;
    if (pd->has_fp16 && !tern_vk_env_on("TERN_VK_DISABLE_FP16"))
      avail |= TERN_VK_TIER_FP16;
    if (pd->has_subgroup_arith && !tern_vk_env_on("TERN_VK_DISABLE_SUBGROUP"))
      avail |= TERN_VK_TIER_SUBGROUP;
    if (pd->has_int_dot && !tern_vk_env_on("TERN_VK_DISABLE_INT_DOT"))
      avail |= TERN_VK_TIER_INT_DOT;
  }
  d->available = avail;
  d->force_staging = tern_vk_env_on("TERN_VK_FORCE_STAGING");
  const char *to = getenv("TERN_VK_TIMEOUT_MS");
  d->timeout_ns =
      (to && atol(to) > 0 ? (uint64_t)atol(to) : 120000u) * (uint64_t)1000000;
  const char *gm = getenv("TERN_VK_GEMM");
  d->gemm_mode = !gm                       ? 0
                 : strcmp(gm, "swar") == 0 ? 1
                 : strcmp(gm, "dot") == 0  ? 2
                 : strcmp(gm, "emul") == 0 ? 3
                                           : 0;

  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci = {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = pd->qfamily;
  qci.queueCount = 1;
  qci.pQueuePriorities = &prio;

  VkPhysicalDeviceShaderIntegerDotProductFeatures dotf = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
  VkPhysicalDevice8BitStorageFeatures s8 = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
  VkPhysicalDevice16BitStorageFeatures s16 = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  VkPhysicalDeviceShaderFloat16Int8Features f16 = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
  VkPhysicalDeviceFeatures2 f2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  const char *exts[8];
  uint32_t n_exts = 0;
  bool core12 = pd->props.apiVersion >= VK_API_VERSION_1_2;
  bool core13 = pd->props.apiVersion >= VK_API_VERSION_1_3;
  void **tail = &f2.pNext;
  if (avail & TERN_VK_TIER_8BIT) {
    s8.storageBuffer8BitAccess = VK_TRUE;
    f16.shaderInt8 = VK_TRUE;
    *tail = &s8;
    tail = &s8.pNext;
    if (!core12) {
      exts[n_exts++] = "VK_KHR_8bit_storage";
      exts[n_exts++] = "VK_KHR_shader_float16_int8";
    }
  }
  if (avail & TERN_VK_TIER_FP16) {
    f16.shaderFloat16 = VK_TRUE;
    s16.storageBuffer16BitAccess = VK_TRUE;
    *tail = &s16;
    tail = &s16.pNext;
    if (!core12 && !(avail & TERN_VK_TIER_8BIT))
      exts[n_exts++] = "VK_KHR_shader_float16_int8";
  }
  if (avail & (TERN_VK_TIER_8BIT | TERN_VK_TIER_FP16)) {
    *tail = &f16;
    tail = &f16.pNext;
  }
  if (avail & TERN_VK_TIER_INT_DOT) {
    dotf.shaderIntegerDotProduct = VK_TRUE;
    *tail = &dotf;
    tail = &dotf.pNext;
    if (!core13 ||
        tern_vk_has_device_ext(
            vk, pd->phys, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME))
      exts[n_exts++] = VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME;
  }
  if (tern_vk_has_device_ext(vk, pd->phys, "VK_KHR_portability_subset"))
    exts[n_exts++] = "VK_KHR_portability_subset";

  VkDeviceCreateInfo dci = {VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dci.pNext = &f2;
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = n_exts;
  dci.ppEnabledExtensionNames = exts;
  tern_status s = tern_vk_check(
      vk->vkCreateDevice(pd->phys, &dci, NULL, &d->dev), err, "vkCreateDevice");
  if (s) {
    pthread_mutex_destroy(&d->lock);
    tern_free(d);
    return s;
  }
  vk->vkGetDeviceQueue(d->dev, pd->qfamily, 0, &d->queue);

  VkCommandPoolCreateInfo cpi = {VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  cpi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  cpi.queueFamilyIndex = pd->qfamily;
  VkFenceCreateInfo fci = {VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  s = tern_vk_check(vk->vkCreateCommandPool(d->dev, &cpi, NULL, &d->cmd_pool),
                    err, "vkCreateCommandPool");
  if (!s) {
    VkCommandBufferAllocateInfo ai = {
        VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = d->cmd_pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    s = tern_vk_check(vk->vkAllocateCommandBuffers(d->dev, &ai, &d->cmd), err,
                      "vkAllocateCommandBuffers");
  }
  if (!s)
    s = tern_vk_check(vk->vkCreateFence(d->dev, &fci, NULL, &d->fence), err,
                      "vkCreateFence");
  if (!s)
    s = add_pool(d, err);
  if (!s)
    s = choose_memory(d, err);
  if (s) {
    tern_vk_device_destroy(d);
    return s;
  }
  tern_vk_tune_defaults(d);
  tern_vk_cache_open(d);
  d->tiers = avail ? tern_vk_selftest(d, avail) : 0;
  /* tiers without a kernel that uses them are not claimed */
  avail &= TERN_VK_TIER_SUBGROUP | TERN_VK_TIER_INT_DOT;
  if (d->tiers != avail)
    tern_log(TERN_LOG_WARN,
             "vulkan: %s: tier self-test failed, tiers 0x%x switched off",
             pd->props.deviceName, avail & ~d->tiers);
  describe(d);
  tern_log(TERN_LOG_INFO, "vulkan: %s: %s", pd->props.deviceName, d->features);
  *out = d;
  return TERN_OK;
}

void tern_vk_device_destroy(tern_device *d) {
  if (!d)
    return;
  tern_free(d->tunable);
  const tern_vk_fns *vk = d->vk;
  if (d->dev) {
    tern_err e = {0};
    tern_vk_flush(d, &e);
    vk->vkDeviceWaitIdle(d->dev);
    tern_vk_cache_save(d);
    tern_vk_pipelines_destroy(d);
    if (d->pcache)
      vk->vkDestroyPipelineCache(d->dev, d->pcache, NULL);
    for (int i = 0; i < d->n_pools; i++)
      vk->vkDestroyDescriptorPool(d->dev, d->pools[i], NULL);
    for (int i = 0; i < d->n_lay; i++) {
      vk->vkDestroyPipelineLayout(d->dev, d->lay[i].layout, NULL);
      vk->vkDestroyDescriptorSetLayout(d->dev, d->lay[i].dsl, NULL);
    }
    if (d->fence)
      vk->vkDestroyFence(d->dev, d->fence, NULL);
    if (d->cmd_pool)
      vk->vkDestroyCommandPool(d->dev, d->cmd_pool, NULL);
    vk->vkDestroyDevice(d->dev, NULL);
  }
  tern_free(d->pools);
  pthread_mutex_destroy(&d->lock);
  tern_free(d);
}

/* ------------------------------------------------------------- memory */
tern_status tern_vk_mem_alloc(tern_device *d, VkDeviceSize bytes, bool staging,
                              tern_vk_mem **out, tern_err *err) {
  const tern_vk_fns *vk = d->vk;
  tern_vk_mem *m = tern_calloc(1, sizeof *m);
  if (!m)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
  m->bytes = bytes ? bytes : 16;
  VkBufferCreateInfo bi = {VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  /* multiple of 16 (at least one RGBA32 texel for the texel views) */
  bi.size = (m->bytes + 15) & ~(VkDeviceSize)15;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
             VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
             VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
             VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  tern_status s = tern_vk_check(vk->vkCreateBuffer(d->dev, &bi, NULL, &m->buf),
                                err, "vkCreateBuffer");
  if (s) {
    tern_free(m);
    return s;
  }
  VkMemoryRequirements req;
  vk->vkGetBufferMemoryRequirements(d->dev, m->buf, &req);
  VkPhysicalDeviceMemoryProperties mp;
  vk->vkGetPhysicalDeviceMemoryProperties(d->pd->phys, &mp);
  uint32_t type = staging ? d->staging_type : d->mem_type;
  if (!(req.memoryTypeBits & (1u << type))) {
    VkMemoryPropertyFlags want = mp.memoryTypes[type].propertyFlags;
    int t = find_mem_type(&mp, req.memoryTypeBits, want);
    if (t < 0) {
      vk->vkDestroyBuffer(d->dev, m->buf, NULL);
      tern_free(m);
      return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                          "vulkan: no suitable memory type for a buffer");
    }
    type = (uint32_t)t;
  }
  VkMemoryAllocateInfo ai = {VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = type;
  s = tern_vk_check(vk->vkAllocateMemory(d->dev, &ai, NULL, &m->mem), err,
                    "vkAllocateMemory");
  if (!s)
    s = tern_vk_check(vk->vkBindBufferMemory(d->dev, m->buf, m->mem, 0), err,
                      "vkBindBufferMemory");
  VkMemoryPropertyFlags fl = mp.memoryTypes[type].propertyFlags;
  /* TERN_VK_FORCE_STAGING=1 treats tensor memory as device-only, so the
   * staging paths of discrete GPUs run (and are validated) on any device */
  bool map = (fl & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) &&
             (staging || !d->force_staging);
  if (!s && map) {
    m->coherent = fl & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    s = tern_vk_check(
        vk->vkMapMemory(d->dev, m->mem, 0, VK_WHOLE_SIZE, 0, &m->map), err,
        "vkMapMemory");
  }
  if (s) {
    tern_vk_mem_free(d, m);
    return tern_err_prefix(
        err, "allocating %llu bytes: ", (unsigned long long)bytes);
  }
  *out = m;
  return TERN_OK;
}

void tern_vk_mem_free(tern_device *d, tern_vk_mem *m) {
  if (!m)
    return;
  if (m->fview)
    d->vk->vkDestroyBufferView(d->dev, m->fview, NULL);
  if (m->f1view)
    d->vk->vkDestroyBufferView(d->dev, m->f1view, NULL);
  if (m->map)
    d->vk->vkUnmapMemory(d->dev, m->mem);
  if (m->buf)
    d->vk->vkDestroyBuffer(d->dev, m->buf, NULL);
  if (m->mem)
    d->vk->vkFreeMemory(d->dev, m->mem, NULL);
  tern_free(m);
}

static tern_status begin(tern_device *d, tern_err *err) {
  if (d->lost)
    return tern_vk_alive(d, err);
  if (d->recording)
    return TERN_OK;
  VkCommandBufferBeginInfo bi = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  tern_status s = tern_vk_check(d->vk->vkBeginCommandBuffer(d->cmd, &bi), err,
                                "vkBeginCommandBuffer");
  if (!s)
    d->recording = true;
  return s;
}

tern_status tern_vk_alive(const tern_device *d, tern_err *err) {
  if (d->lost)
    return tern_err_set(err, TERN_ERR_DEVICE_LOST,
                        "vulkan: %s was lost (or hung) earlier; destroy the "
                        "sessions and the context and create them again",
                        d->pd->props.deviceName);
  return TERN_OK;
}

tern_status tern_vk_flush(tern_device *d, tern_err *err) {
  if (!d)
    return TERN_OK;
  if (d->lost)
    return tern_vk_alive(d, err);
  if (!d->recording)
    return TERN_OK;
  const tern_vk_fns *vk = d->vk;
  d->recording = false;
  tern_status s =
      tern_vk_check(vk->vkEndCommandBuffer(d->cmd), err, "vkEndCommandBuffer");
  if (!s) {
    VkSubmitInfo si = {VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &d->cmd;
    s = tern_vk_check(vk->vkQueueSubmit(d->queue, 1, &si, d->fence), err,
                      "vkQueueSubmit");
    if (!s) {
      VkResult r =
          vk->vkWaitForFences(d->dev, 1, &d->fence, VK_TRUE, d->timeout_ns);
      if (r == VK_TIMEOUT) {
        d->lost = true; /* still running: nothing may be reset or reused */
        return tern_err_set(err, TERN_ERR_DEVICE_LOST,
                            "vulkan: %s did not finish its work within %llu "
                            "ms (TERN_VK_TIMEOUT_MS); treating it as lost",
                            d->pd->props.deviceName,
                            (unsigned long long)(d->timeout_ns / 1000000));
      }
      s = tern_vk_check(r, err, "vkWaitForFences");
    }
    if (s == TERN_ERR_DEVICE_LOST) {
      d->lost = true;
      return s;
    }
    vk->vkResetFences(d->dev, 1, &d->fence);
  }
  vk->vkResetCommandBuffer(d->cmd, 0);
  for (int i = 0; i < d->n_pools; i++)
    vk->vkResetDescriptorPool(d->dev, d->pools[i], 0);
  d->cur_pool = 0;
  return s;
}

/* Copy between buffers through the command buffer and wait. */
static tern_status copy_now(tern_device *d, VkBuffer src, VkDeviceSize so,
                            VkBuffer dst, VkDeviceSize dof, VkDeviceSize n,
                            tern_err *err) {
  tern_status s = begin(d, err);
  if (s)
    return s;
  VkMemoryBarrier mb = {VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  d->vk->vkCmdPipelineBarrier(
      d->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
      VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
  VkBufferCopy c = {so, dof, n};
  d->vk->vkCmdCopyBuffer(d->cmd, src, dst, 1, &c);
  mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT;
  d->vk->vkCmdPipelineBarrier(d->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                              VK_PIPELINE_STAGE_HOST_BIT |
                                  VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                              0, 1, &mb, 0, NULL, 0, NULL);
  return tern_vk_flush(d, err);
}

#define STAGING_CHUNK ((VkDeviceSize)32 << 20)

tern_status tern_vk_mem_write(tern_device *d, tern_vk_mem *m, VkDeviceSize off,
                              const void *src, size_t n, tern_err *err) {
  tern_status s = tern_vk_flush(d, err); /* queued work may read m */
  if (s)
    return s;
  if (m->map) {
    memcpy((char *)m->map + off, src, n);
    return TERN_OK;
  }
  tern_vk_mem *st = NULL;
  VkDeviceSize chunk = n < STAGING_CHUNK ? n : STAGING_CHUNK;
  s = tern_vk_mem_alloc(d, chunk, true, &st, err);
  for (VkDeviceSize done = 0; !s && done < n; done += chunk) {
    VkDeviceSize k = n - done < chunk ? n - done : chunk;
    memcpy(st->map, (const char *)src + done, k);
    s = copy_now(d, st->buf, 0, m->buf, off + done, k, err);
  }
  tern_vk_mem_free(d, st);
  return s;
}

tern_status tern_vk_mem_read(tern_device *d, tern_vk_mem *m, VkDeviceSize off,
                             void *dst, size_t n, tern_err *err) {
  tern_status s = tern_vk_flush(d, err);
  if (s)
    return s;
  if (m->map) {
    if (!m->coherent) {
      VkMappedMemoryRange r = {VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
      r.memory = m->mem;
      r.size = VK_WHOLE_SIZE;
      d->vk->vkInvalidateMappedMemoryRanges(d->dev, 1, &r);
    }
    memcpy(dst, (const char *)m->map + off, n);
    return TERN_OK;
  }
  tern_vk_mem *st = NULL;
  VkDeviceSize chunk = n < STAGING_CHUNK ? n : STAGING_CHUNK;
  s = tern_vk_mem_alloc(d, chunk, true, &st, err);
  for (VkDeviceSize done = 0; !s && done < n; done += chunk) {
    VkDeviceSize k = n - done < chunk ? n - done : chunk;
    s = copy_now(d, m->buf, off + done, st->buf, 0, k, err);
    if (!s)
      memcpy((char *)dst + done, st->map, k);
  }
  tern_vk_mem_free(d, st);
  return s;
}

tern_vk_binding tern_vk_bind(const tern_device *d, const tern_vk_mem *m,
                             size_t offset) {
  tern_vk_binding b = {0};
  VkDeviceSize align = d->limits.minStorageBufferOffsetAlignment;
  if (align < 4)
    align = 4;
  VkDeviceSize base = offset - offset % align;
  VkDeviceSize size = (m->bytes + 3) & ~(VkDeviceSize)3;
  VkDeviceSize range = size - base;
  if (range > d->limits.maxStorageBufferRange)
    range = d->limits.maxStorageBufferRange & ~(VkDeviceSize)3;
  b.mem = m;
  b.fview = m->fview;
  b.f1view = m->f1view;
  b.offset = base;
  b.range = range;
  b.word = (uint32_t)((offset - base) / 4);
  return b;
}

void tern_vk_grid(const tern_device *d, uint64_t groups, uint32_t *gx,
                  uint32_t *gy) {
  uint64_t maxx = d->limits.maxComputeWorkGroupCount[0];
  if (maxx > 65535)
    maxx = 65535;
  if (groups == 0)
    groups = 1;
  if (groups <= maxx) {
    *gx = (uint32_t)groups;
    *gy = 1;
  } else {
    *gx = (uint32_t)maxx;
    *gy = (uint32_t)((groups + maxx - 1) / maxx);
  }
}

tern_status tern_vk_dispatch(tern_device *d, const tern_vk_pipeline *p,
                             const tern_vk_binding *b, const void *push,
                             size_t push_bytes, uint32_t gx, uint32_t gy,
                             uint32_t gz, tern_err *err) {
  const tern_vk_fns *vk = d->vk;
  tern_status s = begin(d, err);
  if (s)
    return s;
  VkDescriptorSet set = VK_NULL_HANDLE;
  if (p->n_bindings) {
    for (;;) {
      VkDescriptorSetAllocateInfo ai = {
          VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
      ai.descriptorPool = d->pools[d->cur_pool];
      ai.descriptorSetCount = 1;
      ai.pSetLayouts = &p->dsl;
      VkResult r = vk->vkAllocateDescriptorSets(d->dev, &ai, &set);
      if (r == VK_SUCCESS)
        break;
      if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
        return tern_vk_check(r, err, "vkAllocateDescriptorSets");
      if (d->cur_pool + 1 >= d->n_pools && (s = add_pool(d, err)))
        return s;
      d->cur_pool++;
    }
    VkDescriptorBufferInfo bi[TERN_VK_MAX_BINDINGS];
    VkWriteDescriptorSet w[TERN_VK_MAX_BINDINGS];
    for (int i = 0; i < p->n_bindings; i++) {
      bool texel = (p->texel_mask >> i) & 1;
      if (texel != (b[i].view != VK_NULL_HANDLE))
        return tern_err_set(err, TERN_ERR_INTERNAL,
                            "vulkan: %s binding %d: texel view mismatch",
                            p->name, i);
      bi[i] = (VkDescriptorBufferInfo){b[i].mem->buf, b[i].offset, b[i].range};
      w[i] = (VkWriteDescriptorSet){VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
      w[i].dstSet = set;
      w[i].dstBinding = (uint32_t)i;
      w[i].descriptorCount = 1;
      if (texel) {
        w[i].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
        w[i].pTexelBufferView = &b[i].view;
      } else {
        w[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        w[i].pBufferInfo = &bi[i];
      }
    }
    vk->vkUpdateDescriptorSets(d->dev, (uint32_t)p->n_bindings, w, 0, NULL);
  }
  vk->vkCmdBindPipeline(d->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipe);
  if (set)
    vk->vkCmdBindDescriptorSets(d->cmd, VK_PIPELINE_BIND_POINT_COMPUTE,
                                p->layout, 0, 1, &set, 0, NULL);
  uint8_t pc[TERN_VK_PUSH_BYTES] = {0};
  if (push_bytes > sizeof pc)
    return tern_err_set(err, TERN_ERR_INTERNAL,
                        "vulkan: push constants of %zu bytes", push_bytes);
  memcpy(pc, push, push_bytes);
  vk->vkCmdPushConstants(d->cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                         TERN_VK_PUSH_BYTES, pc);
  vk->vkCmdDispatch(d->cmd, gx, gy, gz);
  /* Every dispatch may feed the next one: make its writes visible. */
  VkMemoryBarrier mb = {VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                     VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_HOST_READ_BIT;
  vk->vkCmdPipelineBarrier(d->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                           VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                               VK_PIPELINE_STAGE_TRANSFER_BIT |
                               VK_PIPELINE_STAGE_HOST_BIT,
                           0, 1, &mb, 0, NULL, 0, NULL);
  return TERN_OK;
}

/* ------------------------------------------------- node helper buffers */
tern_vk_mem *tern_vk_node_scratch(tern_device *d, tern_vk_node *n, size_t bytes,
                                  tern_err *err) {
  if (n->n_owned == n->cap_owned) {
    int cap = n->cap_owned ? n->cap_owned * 2 : 8;
    tern_vk_mem **p = tern_realloc(n->owned, (size_t)cap * sizeof *p);
    if (!p) {
      tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
      return NULL;
    }
    n->owned = p;
    n->cap_owned = cap;
  }
  tern_vk_mem *m = NULL;
  if (tern_vk_mem_alloc(d, bytes, false, &m, err))
    return NULL;
  n->owned[n->n_owned++] = m;
  return m;
}

tern_status tern_vk_upload_const(tern_device *d, tern_vk_node *n, int i,
                                 tern_err *err) {
  const tern_view *v = &n->node.in[i];
  if (!n->node.in_const[i])
    return TERN_OK;
  if (v->dtype != TERN_DTYPE_F32 || !v->data)
    return tern_err_set(err, TERN_ERR_DTYPE,
                        "constant input %d must be f32 with data", i);
  size_t bytes = (size_t)tern_view_numel(v) * 4;
  tern_vk_mem *m = tern_vk_node_scratch(d, n, bytes, err);
  if (!m)
    return err ? err->status : TERN_ERR_INTERNAL;
  n->consts[i] = m;
  return tern_vk_mem_write(d, m, 0, v->data, bytes, err);
}

tern_status tern_vk_node_view(tern_device *d, tern_vk_node *n, tern_vk_mem *m,
                              VkFormat fmt, tern_vk_binding *out,
                              tern_err *err) {
  return node_view(d, n, m, fmt, out, err);
}

bool tern_vk_texel1(tern_vk_binding *b) {
  if (!b->f1view)
    return false;
  b->word = (uint32_t)(b->offset / 4 + b->word);
  b->offset = 0;
  b->view = b->f1view;
  return true;
}

tern_status tern_vk_run_1d(tern_device *d, const char *shader, int n_bind,
                           const tern_vk_binding *b, const void *push,
                           size_t push_bytes, uint64_t count, tern_err *err) {
  return tern_vk_run_1d_ex(d, shader, n_bind, 0, b, push, push_bytes, count,
                           err);
}

tern_status tern_vk_run_1d_ex(tern_device *d, const char *shader, int n_bind,
                              uint32_t texel_mask, const tern_vk_binding *b,
                              const void *push, size_t push_bytes,
                              uint64_t count, tern_err *err) {
  uint32_t spec[1] = {d->tune.wg_size};
  const tern_vk_pipeline *p;
  tern_status s =
      tern_vk_pipeline_get_ex(d, shader, n_bind, texel_mask, spec, 1, &p, err);
  if (s)
    return s;
  if (count == 0)
    return TERN_OK;
  uint32_t gx, gy;
  tern_vk_grid(d, (count + spec[0] - 1) / spec[0], &gx, &gy);
  return tern_vk_dispatch(d, p, b, push, push_bytes, gx, gy, 1, err);
}

tern_status tern_vk_run_1d_cfg(tern_device *d, const char *shader, int n_bind,
                               uint32_t texel_mask, const tern_vk_binding *b,
                               const void *push, size_t push_bytes,
                               uint64_t count, uint32_t wg, uint32_t ept,
                               tern_err *err) {
  uint32_t spec[2] = {wg ? wg : d->tune.wg_size, ept ? ept : 1};
  const tern_vk_pipeline *p;
  /* one spec constant when EPT is 1: the pipeline the other ops share */
  tern_status s = tern_vk_pipeline_get_ex(d, shader, n_bind, texel_mask, spec,
                                          spec[1] > 1 ? 2 : 1, &p, err);
  if (s)
    return s;
  if (count == 0)
    return TERN_OK;
  uint64_t per = (uint64_t)spec[0] * spec[1];
  uint32_t gx, gy;
  tern_vk_grid(d, (count + per - 1) / per, &gx, &gy);
  return tern_vk_dispatch(d, p, b, push, push_bytes, gx, gy, 1, err);
}

tern_status tern_vk_run_rows(tern_device *d, const char *shader, int n_bind,
                             const tern_vk_binding *b, const void *push,
                             size_t push_bytes, uint64_t rows, tern_err *err) {
  uint32_t spec[1] = {d->tune.wg_size};
  const tern_vk_pipeline *p;
  tern_status s = tern_vk_pipeline_get(d, shader, n_bind, spec, 1, &p, err);
  if (s)
    return s;
  if (rows == 0)
    return TERN_OK;
  uint32_t gx, gy;
  tern_vk_grid(d, rows, &gx, &gy);
  return tern_vk_dispatch(d, p, b, push, push_bytes, gx, gy, 1, err);
}

static tern_status node_view(tern_device *d, tern_vk_node *n, tern_vk_mem *m,
                             VkFormat fmt, tern_vk_binding *out,
                             tern_err *err) {
  VkDeviceSize bytes = (m->bytes + 15) & ~(VkDeviceSize)15;
  VkDeviceSize texel = fmt == VK_FORMAT_R32_SINT || fmt == VK_FORMAT_R32_UINT ||
                               fmt == VK_FORMAT_R32_SFLOAT
                           ? 4
                           : 16;
  if (bytes / texel > d->limits.maxTexelBufferElements || bytes == 0)
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "vulkan: %llu bytes exceed maxTexelBufferElements",
                        (unsigned long long)m->bytes);
  if (n->n_views == n->cap_views) {
    int cap = n->cap_views ? n->cap_views * 2 : 8;
    VkBufferView *p = tern_realloc(n->views, (size_t)cap * sizeof *p);
    if (!p)
      return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
    n->views = p;
    n->cap_views = cap;
  }
  VkBufferViewCreateInfo ci = {VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO};
  ci.buffer = m->buf;
  ci.format = fmt;
  ci.offset = 0;
  ci.range = bytes;
  VkBufferView v;
  tern_status s =
      tern_vk_check(d->vk->vkCreateBufferView(d->dev, &ci, NULL, &v), err,
                    "vkCreateBufferView");
  if (s)
    return s;
  n->views[n->n_views++] = v;
  *out = tern_vk_bind(d, m, 0);
  out->view = v;
  return TERN_OK;
}

tern_status tern_vk_node_texel(tern_device *d, tern_vk_node *n, tern_vk_mem *m,
                               tern_vk_binding *out, tern_err *err) {
  return node_view(d, n, m, VK_FORMAT_R32G32B32A32_UINT, out, err);
}

tern_status tern_vk_node_texel_f32(tern_device *d, tern_vk_node *n,
                                   tern_vk_mem *m, tern_vk_binding *out,
                                   tern_err *err) {
  return node_view(d, n, m, VK_FORMAT_R32G32B32A32_SFLOAT, out, err);
}
