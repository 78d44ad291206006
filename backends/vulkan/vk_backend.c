/* vk_backend.c — the Vulkan backend's entry points: loading the loader with
 * dlopen, the instance (plus validation layer and debug messenger on
 * request), physical-device enumeration, device info and the vtable. */
#include "tern_vulkan.h"
#include "vk_internal.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_int g_validation_messages;
static atomic_int g_validation_active;

int tern_vk_validation_active(void) {
  return atomic_load(&g_validation_active);
}

int tern_vk_validation_message_count(void) {
  return atomic_load(&g_validation_messages);
}

const char *tern_vk_result_name(VkResult r) {
  switch (r) {
#define R_(x)                                                                  \
  case x:                                                                      \
    return #x;
    R_(VK_SUCCESS)
    R_(VK_NOT_READY)
    R_(VK_TIMEOUT)
    R_(VK_INCOMPLETE)
    R_(VK_ERROR_OUT_OF_HOST_MEMORY)
    R_(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    R_(VK_ERROR_INITIALIZATION_FAILED)
    R_(VK_ERROR_DEVICE_LOST)
    R_(VK_ERROR_MEMORY_MAP_FAILED)
    R_(VK_ERROR_LAYER_NOT_PRESENT)
    R_(VK_ERROR_EXTENSION_NOT_PRESENT)
    R_(VK_ERROR_FEATURE_NOT_PRESENT)
    R_(VK_ERROR_INCOMPATIBLE_DRIVER)
    R_(VK_ERROR_TOO_MANY_OBJECTS)
    R_(VK_ERROR_FORMAT_NOT_SUPPORTED)
    R_(VK_ERROR_FRAGMENTED_POOL)
    R_(VK_ERROR_OUT_OF_POOL_MEMORY)
    R_(VK_ERROR_INVALID_SHADER_NV)
#undef R_
  default:
    return "VK_ERROR_UNKNOWN";
  }
}

/* Map a VkResult to a tern_status, keeping the raw value in the message. */
tern_status tern_vk_check(VkResult r, tern_err *err, const char *what) {
  if (r == VK_SUCCESS)
    return TERN_OK;
  tern_status s = TERN_ERR_BACKEND;
  switch (r) {
  case VK_ERROR_OUT_OF_HOST_MEMORY:
  case VK_ERROR_OUT_OF_DEVICE_MEMORY:
  case VK_ERROR_OUT_OF_POOL_MEMORY:
  case VK_ERROR_FRAGMENTED_POOL:
    s = TERN_ERR_OUT_OF_MEMORY;
    break;
  case VK_ERROR_DEVICE_LOST:
    s = TERN_ERR_DEVICE_LOST;
    break;
  case VK_ERROR_INCOMPATIBLE_DRIVER:
  case VK_ERROR_INITIALIZATION_FAILED:
    s = TERN_ERR_NO_DEVICE;
    break;
  case VK_ERROR_FEATURE_NOT_PRESENT:
  case VK_ERROR_EXTENSION_NOT_PRESENT:
  case VK_ERROR_LAYER_NOT_PRESENT:
  case VK_ERROR_FORMAT_NOT_SUPPORTED:
    s = TERN_ERR_UNSUPPORTED;
    break;
  default:
    break;
  }
  return tern_err_set(err, s, "vulkan: %s failed: %s (VkResult %d)", what,
                      tern_vk_result_name(r), (int)r);
}

bool tern_vk_env_on(const char *name) {
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") != 0;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL
debug_cb(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
         VkDebugUtilsMessageTypeFlagsEXT type,
         const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
  (void)type;
  (void)user;
  if (sev & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
             VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) {
    atomic_fetch_add(&g_validation_messages, 1);
    tern_log(TERN_LOG_ERROR, "vulkan validation: %s",
             data && data->pMessage ? data->pMessage : "(no message)");
  }
  return VK_FALSE;
}

static bool has_layer(const tern_vk_fns *vk, const char *name) {
  uint32_t n = 0;
  if (vk->vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || !n)
    return false;
  VkLayerProperties *p = tern_calloc(n, sizeof *p);
  bool found = false;
  if (p && vk->vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
    for (uint32_t i = 0; i < n && !found; i++)
      found = strcmp(p[i].layerName, name) == 0;
  tern_free(p);
  return found;
}

static bool has_instance_ext(const tern_vk_fns *vk, const char *layer,
                             const char *name) {
  uint32_t n = 0;
  if (vk->vkEnumerateInstanceExtensionProperties(layer, &n, NULL) !=
          VK_SUCCESS ||
      !n)
    return false;
  VkExtensionProperties *p = tern_calloc(n, sizeof *p);
  bool found = false;
  if (p &&
      vk->vkEnumerateInstanceExtensionProperties(layer, &n, p) == VK_SUCCESS)
    for (uint32_t i = 0; i < n && !found; i++)
      found = strcmp(p[i].extensionName, name) == 0;
  tern_free(p);
  return found;
}

bool tern_vk_has_device_ext(const tern_vk_fns *vk, VkPhysicalDevice pd,
                            const char *name);
bool tern_vk_has_device_ext(const tern_vk_fns *vk, VkPhysicalDevice pd,
                            const char *name) {
  uint32_t n = 0;
  if (vk->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) !=
          VK_SUCCESS ||
      !n)
    return false;
  VkExtensionProperties *p = tern_calloc(n, sizeof *p);
  bool found = false;
  if (p &&
      vk->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, p) == VK_SUCCESS)
    for (uint32_t i = 0; i < n && !found; i++)
      found = strcmp(p[i].extensionName, name) == 0;
  tern_free(p);
  return found;
}

static bool load_loader(tern_backend_ctx *c) {
  const char *names[] = {"libvulkan.so.1", "libvulkan.so", "libvulkan.1.dylib",
                         NULL};
  for (int i = 0; names[i] && !c->lib; i++)
    c->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (!c->lib) {
    tern_log(TERN_LOG_INFO,
             "vulkan: loader library not found (%s); no "
             "Vulkan devices",
             dlerror());
    return false;
  }
  void *sym = dlsym(c->lib, "vkGetInstanceProcAddr");
  memcpy(&c->vk.vkGetInstanceProcAddr, &sym, sizeof sym);
  if (!c->vk.vkGetInstanceProcAddr) {
    tern_log(TERN_LOG_WARN, "vulkan: loader lacks vkGetInstanceProcAddr");
    return false;
  }
#define LOAD_G_(n) c->vk.n = (PFN_##n)c->vk.vkGetInstanceProcAddr(NULL, #n);
  TERN_VK_GLOBAL_FNS(LOAD_G_)
#undef LOAD_G_
  if (!c->vk.vkCreateInstance ||
      !c->vk.vkEnumerateInstanceExtensionProperties ||
      !c->vk.vkEnumerateInstanceLayerProperties) {
    tern_log(TERN_LOG_WARN, "vulkan: loader is missing global entry points");
    return false;
  }
  if (!c->vk.vkEnumerateInstanceVersion) {
    tern_log(TERN_LOG_INFO, "vulkan: loader supports only Vulkan 1.0; tern "
                            "needs 1.1");
    return false;
  }
  return true;
}

static bool create_instance(tern_backend_ctx *c) {
  const tern_vk_fns *vk = &c->vk;
  uint32_t ver = 0;
  if (vk->vkEnumerateInstanceVersion(&ver) != VK_SUCCESS ||
      ver < VK_API_VERSION_1_1) {
    tern_log(TERN_LOG_INFO, "vulkan: instance version below 1.1");
    return false;
  }
  const char *layers[1];
  uint32_t n_layers = 0;
  const char *exts[4];
  uint32_t n_exts = 0;
  bool want_val = tern_vk_env_on("TERN_VK_VALIDATION");
  bool dbg = false;
  if (want_val) {
    if (has_layer(vk, "VK_LAYER_KHRONOS_validation"))
      layers[n_layers++] = "VK_LAYER_KHRONOS_validation";
    else
      tern_log(TERN_LOG_WARN, "vulkan: TERN_VK_VALIDATION=1 but "
                              "VK_LAYER_KHRONOS_validation is not installed");
    if (has_instance_ext(vk, NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) ||
        (n_layers &&
         has_instance_ext(vk, layers[0], VK_EXT_DEBUG_UTILS_EXTENSION_NAME))) {
      exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
      dbg = true;
    }
  }
  bool val_features =
      n_layers && has_instance_ext(vk, layers[0],
                                   VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
  if (val_features)
    exts[n_exts++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
  VkInstanceCreateFlags flags = 0;
  if (has_instance_ext(vk, NULL,
                       VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
    exts[n_exts++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
    flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
  }

  VkApplicationInfo app = {VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "tern";
  app.applicationVersion = TERN_VERSION_HEX;
  app.pEngineName = "tern";
  app.engineVersion = TERN_VERSION_HEX;
  app.apiVersion = ver >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : ver;

  VkDebugUtilsMessengerCreateInfoEXT mci = {
      VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  mci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                        VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  mci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  mci.pfnUserCallback = debug_cb;
  /* Synchronization validation on top of the default checks. */
  VkValidationFeatureEnableEXT vf_en[] = {
      VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkValidationFeaturesEXT vf = {VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
  vf.enabledValidationFeatureCount = 1;
  vf.pEnabledValidationFeatures = vf_en;

  VkInstanceCreateInfo ci = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ci.flags = flags;
  ci.pApplicationInfo = &app;
  ci.enabledLayerCount = n_layers;
  ci.ppEnabledLayerNames = layers;
  ci.enabledExtensionCount = n_exts;
  ci.ppEnabledExtensionNames = exts;
  const void **tail = &ci.pNext;
  if (dbg) {
    *tail = &mci;
    tail = (const void **)&mci.pNext;
  }
  if (val_features)
    *tail = &vf;
  VkResult r = vk->vkCreateInstance(&ci, NULL, &c->instance);
  if (r != VK_SUCCESS) {
    tern_log(TERN_LOG_INFO,
             "vulkan: vkCreateInstance failed: %s (%d); no "
             "Vulkan devices",
             tern_vk_result_name(r), (int)r);
    c->instance = VK_NULL_HANDLE;
    return false;
  }
  c->validation = n_layers > 0;
  if (c->validation)
    atomic_store(&g_validation_active, 1);
#define LOAD_I_(n)                                                             \
  c->vk.n = (PFN_##n)vk->vkGetInstanceProcAddr(c->instance, #n);
  TERN_VK_INSTANCE_FNS(LOAD_I_)
  TERN_VK_OPTIONAL_FNS(LOAD_I_)
#undef LOAD_I_
#define CHECK_I_(n)                                                            \
  if (!c->vk.n) {                                                              \
    tern_log(TERN_LOG_WARN, "vulkan: entry point %s missing", #n);             \
    return false;                                                              \
  }
  TERN_VK_INSTANCE_FNS(CHECK_I_)
#undef CHECK_I_
  mci.pNext = NULL; /* it carried the validation features at creation */
  if (dbg && c->vk.vkCreateDebugUtilsMessengerEXT)
    c->vk.vkCreateDebugUtilsMessengerEXT(c->instance, &mci, NULL,
                                         &c->messenger);
  return true;
}

/* Query what one physical device offers. */
static void probe_physdev(tern_backend_ctx *c, tern_vk_physdev *pd) {
  const tern_vk_fns *vk = &c->vk;
  vk->vkGetPhysicalDeviceProperties(pd->phys, &pd->props);
  if (pd->props.apiVersion < VK_API_VERSION_1_1) {
    tern_log(TERN_LOG_INFO, "vulkan: %s supports only Vulkan 1.0; skipped",
             pd->props.deviceName);
    return;
  }
  uint32_t nq = 0;
  vk->vkGetPhysicalDeviceQueueFamilyProperties(pd->phys, &nq, NULL);
  VkQueueFamilyProperties *qp = tern_calloc(nq ? nq : 1, sizeof *qp);
  if (!qp)
    return;
  vk->vkGetPhysicalDeviceQueueFamilyProperties(pd->phys, &nq, qp);
  int best = -1;
  for (uint32_t i = 0; i < nq; i++) {
    if (!(qp[i].queueFlags & VK_QUEUE_COMPUTE_BIT))
      continue;
    /* prefer a compute queue without graphics (async compute) */
    if (best < 0 || !(qp[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
      best = (int)i;
  }
  tern_free(qp);
  if (best < 0) {
    tern_log(TERN_LOG_INFO, "vulkan: %s has no compute queue; skipped",
             pd->props.deviceName);
    return;
  }
  pd->qfamily = (uint32_t)best;

  VkPhysicalDeviceShaderIntegerDotProductFeatures dotf = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
  VkPhysicalDevice8BitStorageFeatures s8 = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
  VkPhysicalDevice16BitStorageFeatures s16 = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  VkPhysicalDeviceShaderFloat16Int8Features f16 = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
  VkPhysicalDeviceFeatures2 f2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  bool ext8 = pd->props.apiVersion >= VK_API_VERSION_1_2 ||
              tern_vk_has_device_ext(vk, pd->phys, "VK_KHR_8bit_storage");
  bool extf16 =
      pd->props.apiVersion >= VK_API_VERSION_1_2 ||
      tern_vk_has_device_ext(vk, pd->phys, "VK_KHR_shader_float16_int8");
  bool extdot =
      pd->props.apiVersion >= VK_API_VERSION_1_3 ||
      tern_vk_has_device_ext(vk, pd->phys,
                             VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
  void **tail = &f2.pNext;
  *tail = &s16;
  tail = &s16.pNext;
  if (ext8) {
    *tail = &s8;
    tail = &s8.pNext;
  }
  if (extf16) {
    *tail = &f16;
    tail = &f16.pNext;
  }
  if (extdot) {
    *tail = &dotf;
    tail = &dotf.pNext;
  }
  vk->vkGetPhysicalDeviceFeatures2(pd->phys, &f2);

  VkPhysicalDeviceSubgroupProperties sg = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceShaderIntegerDotProductProperties dotp = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES};
  VkPhysicalDeviceProperties2 p2 = {
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  p2.pNext = &sg;
  if (extdot)
    sg.pNext = &dotp;
  vk->vkGetPhysicalDeviceProperties2(pd->phys, &p2);

  pd->has_8bit = ext8 && s8.storageBuffer8BitAccess && f16.shaderInt8;
  pd->has_fp16 = extf16 && f16.shaderFloat16 && s16.storageBuffer16BitAccess;
  pd->subgroup_size = sg.subgroupSize;
  pd->has_subgroup_arith =
      (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
      (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
      (sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT) &&
      (sg.supportedOperations & VK_SUBGROUP_FEATURE_BALLOT_BIT) &&
      sg.subgroupSize >= 4 && sg.subgroupSize <= 128;
  pd->has_int_dot = extdot && dotf.shaderIntegerDotProduct;
  pd->int_dot_fast =
      pd->has_int_dot && dotp.integerDotProduct4x8BitPackedSignedAccelerated;

  VkPhysicalDeviceMemoryProperties mp;
  vk->vkGetPhysicalDeviceMemoryProperties(pd->phys, &mp);
  for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
    if (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      pd->memory_bytes += mp.memoryHeaps[i].size;
  pd->usable = true;
}

static void vk_shutdown(tern_backend_ctx *c) {
  if (!c)
    return;
  for (int i = 0; i < c->n_pd; i++)
    if (c->pd[i].open)
      tern_vk_device_destroy(c->pd[i].open);
  tern_free(c->pd);
  if (c->messenger && c->vk.vkDestroyDebugUtilsMessengerEXT)
    c->vk.vkDestroyDebugUtilsMessengerEXT(c->instance, c->messenger, NULL);
  if (c->instance)
    c->vk.vkDestroyInstance(c->instance, NULL);
  if (c->lib)
    dlclose(c->lib);
  tern_free(c);
}

static tern_status vk_init(const tern_backend_config *cfg,
                           tern_backend_ctx **out, tern_err *err) {
  tern_backend_ctx *c = tern_calloc(1, sizeof *c);
  if (!c)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
  c->tuning_db = cfg ? cfg->tuning_db : NULL;
  *out = c;
  if (!load_loader(c) || !create_instance(c))
    return TERN_OK; /* no loader, driver or ICD: zero devices */
  uint32_t n = 0;
  VkResult r = c->vk.vkEnumeratePhysicalDevices(c->instance, &n, NULL);
  if (r != VK_SUCCESS || n == 0) {
    tern_log(TERN_LOG_INFO, "vulkan: no physical devices (%s)",
             tern_vk_result_name(r));
    return TERN_OK;
  }
  VkPhysicalDevice *phys = tern_calloc(n, sizeof *phys);
  c->pd = tern_calloc(n, sizeof *c->pd);
  if (!phys || !c->pd) {
    tern_free(phys);
    vk_shutdown(c);
    *out = NULL;
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
  }
  r = c->vk.vkEnumeratePhysicalDevices(c->instance, &n, phys);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE)
    n = 0;
  for (uint32_t i = 0; i < n; i++) {
    tern_vk_physdev *pd = &c->pd[c->n_pd];
    pd->phys = phys[i];
    probe_physdev(c, pd);
    if (!pd->usable)
      continue;
    tern_err e = {0};
    if (tern_vk_device_create(c, pd, &pd->open, &e) != TERN_OK) {
      tern_log(TERN_LOG_WARN, "vulkan: %s skipped: %s", pd->props.deviceName,
               e.msg);
      memset(pd, 0, sizeof *pd);
      continue;
    }
    c->n_pd++;
  }
  tern_free(phys);
  return TERN_OK;
}

static int vk_device_count(tern_backend_ctx *c) {
  return c ? c->n_pd : 0;
}

static const char *vendor_name(uint32_t id) {
  switch (id) {
  case 0x10DE:
    return "NVIDIA";
  case 0x1002:
    return "AMD";
  case 0x8086:
    return "Intel";
  case 0x13B5:
    return "Arm";
  case 0x5143:
    return "Qualcomm";
  case 0x106B:
    return "Apple";
  case 0x1010:
    return "Imagination";
  case 0x10005:
    return "Mesa";
  default:
    return "unknown";
  }
}

static tern_status vk_device_info(tern_backend_ctx *c, int index,
                                  tern_device_info *info) {
  if (!c || index < 0 || index >= c->n_pd || !info)
    return tern_err_set(NULL, TERN_ERR_NO_DEVICE, "vulkan: no device %d",
                        index);
  const tern_vk_physdev *pd = &c->pd[index];
  const VkPhysicalDeviceProperties *p = &pd->props;
  size_t sz = info->size;
  memset(info, 0, sz < sizeof *info ? sz : sizeof *info);
  tern_device_info i = {0};
  i.size = sz;
  snprintf(i.id, sizeof i.id, "vulkan:%d", index);
  snprintf(i.backend, sizeof i.backend, "vulkan");
  snprintf(i.name, sizeof i.name, "%.127s", p->deviceName);
  snprintf(i.vendor, sizeof i.vendor, "%s (0x%x)", vendor_name(p->vendorID),
           p->vendorID);
  uint32_t dv = p->driverVersion;
  if (p->vendorID == 0x10DE)
    snprintf(i.driver, sizeof i.driver, "%u.%u.%u.%u", dv >> 22,
             (dv >> 14) & 0xff, (dv >> 6) & 0xff, dv & 0x3f);
  else
    snprintf(i.driver, sizeof i.driver, "%u.%u.%u", VK_VERSION_MAJOR(dv),
             VK_VERSION_MINOR(dv), VK_VERSION_PATCH(dv));
  switch (p->deviceType) {
  case VK_PHYSICAL_DEVICE_TYPE_CPU:
    i.type = TERN_DEVICE_CPU;
    break;
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
    i.type = TERN_DEVICE_GPU_DISCRETE;
    break;
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
    i.type = TERN_DEVICE_GPU_INTEGRATED;
    break;
  case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
    i.type = TERN_DEVICE_GPU_VIRTUAL;
    break;
  default:
    i.type = TERN_DEVICE_OTHER;
  }
  i.memory_bytes = pd->memory_bytes;
  /* Vulkan has no portable core count; a CPU device (lavapipe) runs one
   * worker per online CPU */
  i.compute_units = p->deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU
                        ? (int)sysconf(_SC_NPROCESSORS_ONLN)
                        : 0;
  snprintf(i.features, sizeof i.features, "%s",
           pd->open ? pd->open->features : "");
  memcpy(info, &i, sz < sizeof i ? sz : sizeof i);
  return TERN_OK;
}

static tern_status vk_device_open(tern_backend_ctx *c, int index,
                                  tern_device **out, tern_err *err) {
  if (!c || index < 0 || index >= c->n_pd || !c->pd[index].open)
    return tern_err_set(err, TERN_ERR_NO_DEVICE, "vulkan: no device %d", index);
  pthread_mutex_lock(&c->pd[index].open->lock);
  c->pd[index].refs++;
  pthread_mutex_unlock(&c->pd[index].open->lock);
  *out = c->pd[index].open;
  return TERN_OK;
}

static void vk_device_close(tern_device *dev) {
  if (!dev)
    return;
  tern_err e = {0};
  tern_vk_flush(dev, &e);
  tern_vk_cache_save(dev);
  if (dev->pd->refs > 0)
    dev->pd->refs--;
}

/* ------------------------------------------------------------- buffers */
static tern_status vk_buffer_alloc(tern_device *dev, size_t bytes,
                                   tern_buffer **out, tern_err *err) {
  tern_buffer *b = tern_calloc(1, sizeof *b);
  if (!b)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
  tern_vk_mem *m = NULL;
  tern_status s = tern_vk_mem_alloc(dev, bytes, false, &m, err);
  if (s) {
    tern_free(b);
    return s;
  }
  /* A float texel view of the arena lets kernels read activations four at
   * a time through the texture path (arena offsets are 256-byte aligned). */
  uint64_t padded = ((uint64_t)bytes + 15) & ~(uint64_t)15;
  if (tern_vk_env_on("TERN_VK_NO_ARENA_VIEWS"))
    padded = 0; /* tests: the storage-buffer paths */
  if (padded / 16 <= dev->limits.maxTexelBufferElements && padded) {
    VkBufferViewCreateInfo ci = {VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO};
    ci.buffer = m->buf;
    ci.format = VK_FORMAT_R32G32B32A32_SFLOAT;
    ci.range = padded;
    if (dev->vk->vkCreateBufferView(dev->dev, &ci, NULL, &m->fview) !=
        VK_SUCCESS)
      m->fview = VK_NULL_HANDLE;
  }
  if (padded / 4 <= dev->limits.maxTexelBufferElements && padded) {
    VkBufferViewCreateInfo ci = {VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO};
    ci.buffer = m->buf;
    ci.format = VK_FORMAT_R32_SFLOAT;
    ci.range = padded;
    if (dev->vk->vkCreateBufferView(dev->dev, &ci, NULL, &m->f1view) !=
        VK_SUCCESS)
      m->f1view = VK_NULL_HANDLE;
  }
  b->dev = dev;
  b->bytes = bytes;
  b->impl = m;
  b->host = NULL; /* all host access goes through read/write (they sync) */
  *out = b;
  return TERN_OK;
}

static void vk_buffer_free(tern_buffer *b) {
  if (!b)
    return;
  tern_err e = {0};
  tern_vk_flush(b->dev, &e); /* work in flight may still use it */
  tern_vk_mem_free(b->dev, b->impl);
  tern_free(b);
}

static tern_status check_range(const tern_buffer *b, size_t off, size_t n,
                               tern_err *err) {
  if (off > b->bytes || n > b->bytes - off)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "vulkan: transfer of %zu bytes at offset %zu exceeds "
                        "a buffer of %zu bytes",
                        n, off, b->bytes);
  return TERN_OK;
}

static tern_status vk_buffer_write(tern_buffer *b, size_t off, const void *src,
                                   size_t n, tern_err *err) {
  tern_status s = tern_vk_alive(b->dev, err);
  if (!s)
    s = check_range(b, off, n, err);
  if (s || !n)
    return s;
  return tern_vk_mem_write(b->dev, b->impl, off, src, n, err);
}

static tern_status vk_buffer_read(tern_buffer *b, size_t off, void *dst,
                                  size_t n, tern_err *err) {
  tern_status s = tern_vk_alive(b->dev, err);
  if (!s)
    s = check_range(b, off, n, err);
  if (s || !n)
    return s;
  return tern_vk_mem_read(b->dev, b->impl, off, dst, n, err);
}

/* --------------------------------------------------------------- nodes */
static const tern_vk_op_impl *op_impl(tern_op op) {
  switch (op) {
  case TERN_OP_LINEAR:
    return &tern_vk_op_linear;
  case TERN_OP_CONV2D:
    return &tern_vk_op_conv2d;
  case TERN_OP_RELU:
  case TERN_OP_RELU6:
  case TERN_OP_GELU:
  case TERN_OP_SILU:
    return &tern_vk_op_unary;
  case TERN_OP_ADD:
  case TERN_OP_MUL:
    return &tern_vk_op_binary;
  case TERN_OP_BATCHNORM:
    return &tern_vk_op_batchnorm;
  case TERN_OP_MAXPOOL2D:
  case TERN_OP_AVGPOOL2D:
  case TERN_OP_GLOBAL_AVGPOOL:
    return &tern_vk_op_pool;
  case TERN_OP_FLATTEN:
  case TERN_OP_RESHAPE:
    return &tern_vk_op_copy;
  case TERN_OP_CONCAT:
    return &tern_vk_op_concat;
  case TERN_OP_SOFTMAX:
    return &tern_vk_op_softmax;
  case TERN_OP_LAYERNORM:
  case TERN_OP_RMSNORM:
    return &tern_vk_op_norm;
  case TERN_OP_MATMUL:
    return &tern_vk_op_matmul;
  case TERN_OP_CAUSAL_MASK:
    return &tern_vk_op_causal_mask;
  case TERN_OP_ROPE:
    return &tern_vk_op_rope;
  case TERN_OP_PERMUTE:
    return &tern_vk_op_permute;
  default:
    return NULL;
  }
}

/* Every tensor a kernel binds must fit one descriptor range. */
static bool views_fit(const tern_device *dev, const tern_exec_node *n) {
  uint64_t lim = dev->limits.maxStorageBufferRange;
  uint64_t align = dev->limits.minStorageBufferOffsetAlignment;
  for (int i = 0; i <= n->n_inputs; i++) {
    const tern_view *v = i < n->n_inputs ? &n->in[i] : &n->out;
    if (i < n->n_inputs && n->in_const[i] &&
        (n->op == TERN_OP_LINEAR || n->op == TERN_OP_CONV2D) && i == 1)
      continue; /* weights are split by the op itself */
    if (v->dtype != TERN_DTYPE_F32 && !(i < n->n_inputs && n->in_const[i]))
      return false;
    uint64_t bytes = (uint64_t)tern_view_numel(v) * 4;
    if (bytes + align > lim || tern_view_numel(v) >= (int64_t)1 << 31)
      return false;
  }
  return true;
}

static bool vk_supports(tern_device *dev, const tern_exec_node *node) {
  const tern_vk_op_impl *impl = op_impl(node->op);
  if (!dev || !impl || !views_fit(dev, node))
    return false;
  return impl->supports(dev, node);
}

static void vk_node_release(tern_device *dev, void *prepared) {
  tern_vk_node *n = prepared;
  if (!n)
    return;
  tern_err e = {0};
  tern_vk_flush(dev, &e);
  for (int i = 0; i < n->n_views; i++)
    dev->vk->vkDestroyBufferView(dev->dev, n->views[i], NULL);
  for (int i = 0; i < n->n_owned; i++)
    tern_vk_mem_free(dev, n->owned[i]);
  tern_free(n->views);
  tern_free(n->owned);
  tern_free(n->data);
  tern_free(n);
}

/* Prepare with the GEMM parameters in *tune (NULL: the database's or the
 * defaults for this node). */
tern_status tern_vk_node_prepare_tuned(tern_device *dev,
                                       const tern_exec_node *node,
                                       const tern_vk_tune *tune,
                                       void **prepared, tern_err *err) {
  const tern_vk_op_impl *impl = op_impl(node->op);
  if (!impl || !vk_supports(dev, node))
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "vulkan: node '%s' (%s) is not supported on %s",
                        node->name ? node->name : "",
                        tern_op_name(node->op) ? tern_op_name(node->op) : "?",
                        dev->pd->props.deviceName);
  tern_vk_node *n = tern_calloc(1, sizeof *n);
  if (!n)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
  n->node = *node;
  n->node.name = NULL; /* not owned; don't keep a dangling pointer */
  for (int i = 0; i < node->n_inputs; i++)
    if (!node->in_const[i])
      n->node.in[i].data = NULL;
  /* the op reads dev->tune while it prepares; the GEMM keeps what it read */
  tern_vk_tune saved = dev->tune;
  if (tune)
    dev->tune = *tune;
  else
    tern_vk_tune_for_node(dev, node, &dev->tune);
  tern_status s = impl->prepare(dev, n, err);
  dev->tune = saved;
  if (s) {
    tern_err_prefix(err, "vulkan: node '%s' (%s)", node->name ? node->name : "",
                    tern_op_name(node->op));
    vk_node_release(dev, n);
    return s;
  }
  /* constant data stays with the graph/session; drop our pointers */
  for (int i = 0; i < node->n_inputs; i++)
    n->node.in[i].data = NULL, n->node.in[i].scales = NULL;
  *prepared = n;
  return TERN_OK;
}

static tern_status vk_node_run(tern_device *dev, void *prepared,
                               tern_buffer *const *bufs, const size_t *offsets,
                               tern_err *err) {
  tern_vk_node *n = prepared;
  tern_vk_binding io[TERN_MAX_INPUTS + 1];
  memset(io, 0, sizeof io);
  for (int i = 0; i <= n->node.n_inputs; i++) {
    if (i < n->node.n_inputs && n->consts[i]) {
      io[i] = tern_vk_bind(dev, n->consts[i], 0);
      continue;
    }
    if (i < n->node.n_inputs && n->node.in_const[i])
      continue; /* consumed by the op at prepare (weights) */
    if (!bufs[i] || bufs[i]->dev != dev)
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "vulkan: %s: tensor %d is not in a buffer of this "
                          "device",
                          tern_op_name(n->node.op), i);
    if (offsets[i] % 4)
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "vulkan: %s: tensor offset %zu is not 4-byte "
                          "aligned",
                          tern_op_name(n->node.op), offsets[i]);
    io[i] = tern_vk_bind(dev, bufs[i]->impl, offsets[i]);
  }
  return n->run(dev, n, io, err);
}

static tern_status vk_sync(tern_device *dev, tern_err *err) {
  return tern_vk_flush(dev, err);
}

const char *tern_vk_node_tuning(const void *prepared) {
  return prepared ? ((const tern_vk_node *)prepared)->tuning : "";
}

unsigned tern_vk_device_tiers(const tern_device *dev) {
  return dev ? dev->tiers : 0;
}
int tern_vk_device_cache_state(const tern_device *dev) {
  return dev ? dev->cache_state : 0;
}
const char *tern_vk_device_cache_path(const tern_device *dev) {
  return dev ? dev->cache_path : "";
}
void tern_vk_device_cache_save(tern_device *dev) {
  tern_vk_cache_save(dev);
}
void tern_vk_device_mark_lost(tern_device *dev) {
  if (dev)
    dev->lost = true;
}

/* ------------------------------------------------ locked entry points */
#define LOCKED_(dev, call)                                                     \
  do {                                                                         \
    pthread_mutex_lock(&(dev)->lock);                                          \
    tern_status s_ = call;                                                     \
    pthread_mutex_unlock(&(dev)->lock);                                        \
    return s_;                                                                 \
  } while (0)

static void l_device_close(tern_device *dev) {
  if (!dev)
    return;
  pthread_mutex_lock(&dev->lock);
  vk_device_close(dev);
  pthread_mutex_unlock(&dev->lock);
}
static bool l_supports(tern_device *dev, const tern_exec_node *node) {
  return vk_supports(dev, node); /* reads only immutable device state */
}
static tern_status l_buffer_alloc(tern_device *dev, size_t bytes,
                                  tern_buffer **out, tern_err *err) {
  LOCKED_(dev, vk_buffer_alloc(dev, bytes, out, err));
}
static void l_buffer_free(tern_buffer *b) {
  if (!b)
    return;
  tern_device *dev = b->dev;
  pthread_mutex_lock(&dev->lock);
  vk_buffer_free(b);
  pthread_mutex_unlock(&dev->lock);
}
static tern_status l_buffer_write(tern_buffer *b, size_t off, const void *src,
                                  size_t n, tern_err *err) {
  LOCKED_(b->dev, vk_buffer_write(b, off, src, n, err));
}
static tern_status l_buffer_read(tern_buffer *b, size_t off, void *dst,
                                 size_t n, tern_err *err) {
  LOCKED_(b->dev, vk_buffer_read(b, off, dst, n, err));
}
static tern_status l_node_prepare(tern_device *dev, const tern_exec_node *node,
                                  void **prepared, tern_err *err) {
  LOCKED_(dev, tern_vk_node_prepare_tuned(dev, node, NULL, prepared, err));
}
static void l_node_release(tern_device *dev, void *prepared) {
  pthread_mutex_lock(&dev->lock);
  vk_node_release(dev, prepared);
  pthread_mutex_unlock(&dev->lock);
}
static tern_status l_node_run(tern_device *dev, void *prepared,
                              tern_buffer *const *bufs, const size_t *offsets,
                              tern_err *err) {
  LOCKED_(dev, vk_node_run(dev, prepared, bufs, offsets, err));
}
static tern_status l_sync(tern_device *dev, tern_err *err) {
  LOCKED_(dev, vk_sync(dev, err));
}

const tern_backend_vtbl tern_vulkan_backend = {
    .name = "vulkan",
    .init = vk_init,
    .shutdown = vk_shutdown,
    .device_count = vk_device_count,
    .device_info = vk_device_info,
    .device_open = vk_device_open,
    .device_close = l_device_close,
    .supports = l_supports,
    .buffer_alloc = l_buffer_alloc,
    .buffer_free = l_buffer_free,
    .buffer_write = l_buffer_write,
    .buffer_read = l_buffer_read,
    .node_prepare = l_node_prepare,
    .node_release = l_node_release,
    .node_run = l_node_run,
    .sync = l_sync,
    .tunables = tern_vk_tunables,
};
