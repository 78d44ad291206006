/* vk_pipeline.c — compute pipelines created lazily from the embedded SPIR-V
 * (keyed by shader name + specialization constants), and the persisted
 * VkPipelineCache. The cache file carries its own header (tern version,
 * vendor/device ID, driver version, pipelineCacheUUID, size, CRC-32); a file
 * that does not match in every field is rebuilt, never handed to the
 * driver. */
#include "vk_internal.h"

#include "tern_vk_spirv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define CACHE_MAGIC "TERNVKPC"
#define CACHE_HDR_VERSION 1u
#define CACHE_HDR_BYTES 56

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static void make_header(const tern_device *d, uint64_t data_bytes, uint32_t crc,
                        uint8_t h[CACHE_HDR_BYTES]) {
  const VkPhysicalDeviceProperties *p = &d->pd->props;
  memset(h, 0, CACHE_HDR_BYTES);
  memcpy(h, CACHE_MAGIC, 8);
  put32(h + 8, CACHE_HDR_VERSION);
  put32(h + 12, TERN_VERSION_HEX);
  put32(h + 16, p->vendorID);
  put32(h + 20, p->deviceID);
  put32(h + 24, p->driverVersion);
  memcpy(h + 28, p->pipelineCacheUUID, 16);
  put32(h + 44, (uint32_t)data_bytes);
  put32(h + 48, (uint32_t)(data_bytes >> 32));
  put32(h + 52, crc);
}

static int mkdirs(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = 0;
    int r = mkdir(path, 0755);
    *p = '/';
    if (r && errno != EEXIST)
      return -1;
  }
  return mkdir(path, 0755) && errno != EEXIST ? -1 : 0;
}

static bool cache_dir(char *buf, size_t cap) {
  const char *d = getenv("TERN_CACHE_DIR");
  if (d && *d)
    return (size_t)snprintf(buf, cap, "%s", d) < cap;
  const char *x = getenv("XDG_CACHE_HOME");
  if (x && *x)
    return (size_t)snprintf(buf, cap, "%s/tern", x) < cap;
  const char *h = getenv("HOME");
  if (h && *h)
    return (size_t)snprintf(buf, cap, "%s/.cache/tern", h) < cap;
  return false;
}

/* Is this blob a cache the driver itself would recognise as its own? */
static bool vk_header_ok(const tern_device *d, const uint8_t *data, size_t n) {
  const VkPhysicalDeviceProperties *p = &d->pd->props;
  if (n < 32)
    return false;
  return get32(data) >= 32 && get32(data + 4) == 1 /* VERSION_ONE */ &&
         get32(data + 8) == p->vendorID && get32(data + 12) == p->deviceID &&
         memcmp(data + 16, p->pipelineCacheUUID, 16) == 0;
}

void tern_vk_cache_open(tern_device *d) {
  const tern_vk_fns *vk = d->vk;
  const VkPhysicalDeviceProperties *p = &d->pd->props;
  char dir[400];
  d->cache_state = TERN_VK_CACHE_NONE;
  d->cache_path[0] = 0;
  uint8_t *blob = NULL;
  size_t blob_n = 0;
  if (cache_dir(dir, sizeof dir)) {
    char uuid[33];
    for (int i = 0; i < 16; i++)
      snprintf(uuid + 2 * i, 3, "%02x", p->pipelineCacheUUID[i]);
    snprintf(d->cache_path, sizeof d->cache_path,
             "%s/vulkan-%04x-%04x-%08x-%s.pcache", dir, p->vendorID,
             p->deviceID, p->driverVersion, uuid);
    FILE *f = fopen(d->cache_path, "rb");
    if (f) {
      const char *why = NULL;
      uint8_t h[CACHE_HDR_BYTES], want[CACHE_HDR_BYTES];
      if (fread(h, 1, sizeof h, f) != sizeof h) {
        why = "truncated header";
      } else {
        uint64_t n = get32(h + 44) | (uint64_t)get32(h + 48) << 32;
        make_header(d, n, get32(h + 52), want);
        if (memcmp(h, want, CACHE_HDR_BYTES) != 0)
          why = "header does not match this device, driver or tern version";
        else if (n > ((uint64_t)1 << 30))
          why = "implausible size";
        else if (!(blob = tern_malloc((size_t)n)))
          why = "out of memory";
        else if (fread(blob, 1, (size_t)n, f) != n || fgetc(f) != EOF)
          why = "size does not match the file";
        else if ((uint32_t)crc32(0L, blob, (uInt)n) != get32(h + 52))
          why = "checksum mismatch";
        else if (!vk_header_ok(d, blob, (size_t)n))
          why = "driver header mismatch";
        else
          blob_n = (size_t)n;
      }
      fclose(f);
      if (why) {
        tern_log(TERN_LOG_WARN,
                 "vulkan: pipeline cache %s rejected (%s); "
                 "rebuilding it",
                 d->cache_path, why);
        tern_free(blob);
        blob = NULL;
        blob_n = 0;
        d->cache_state = TERN_VK_CACHE_REBUILT;
        d->cache_dirty = true; /* overwrite the bad file at close */
      } else {
        d->cache_state = TERN_VK_CACHE_LOADED;
      }
    }
  }
  VkPipelineCacheCreateInfo ci = {VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  ci.initialDataSize = blob_n;
  ci.pInitialData = blob;
  if (vk->vkCreatePipelineCache(d->dev, &ci, NULL, &d->pcache) != VK_SUCCESS) {
    ci.initialDataSize = 0;
    ci.pInitialData = NULL;
    if (d->cache_state == TERN_VK_CACHE_LOADED)
      d->cache_state = TERN_VK_CACHE_REBUILT;
    if (vk->vkCreatePipelineCache(d->dev, &ci, NULL, &d->pcache) != VK_SUCCESS)
      d->pcache = VK_NULL_HANDLE;
  }
  tern_free(blob);
}

void tern_vk_cache_save(tern_device *d) {
  if (!d || !d->pcache || !d->cache_dirty || !d->cache_path[0])
    return;
  const tern_vk_fns *vk = d->vk;
  size_t n = 0;
  if (vk->vkGetPipelineCacheData(d->dev, d->pcache, &n, NULL) != VK_SUCCESS)
    return;
  uint8_t *blob = tern_malloc(n ? n : 1);
  if (!blob)
    return;
  if (vk->vkGetPipelineCacheData(d->dev, d->pcache, &n, blob) == VK_SUCCESS) {
    uint8_t h[CACHE_HDR_BYTES];
    make_header(d, n, (uint32_t)crc32(0L, blob, (uInt)n), h);
    char dir[sizeof d->cache_path];
    snprintf(dir, sizeof dir, "%s", d->cache_path);
    char *slash = strrchr(dir, '/');
    if (slash)
      *slash = 0;
    const void *parts[2] = {h, blob};
    size_t sizes[2] = {sizeof h, n};
    tern_err e = {0};
    if (slash && mkdirs(dir) != 0)
      tern_log(TERN_LOG_WARN, "vulkan: cannot create cache directory %s", dir);
    else if (tern_write_file_atomic(d->cache_path, parts, sizes, 2, &e))
      tern_log(TERN_LOG_WARN, "vulkan: pipeline cache not saved: %s", e.msg);
    else
      d->cache_dirty = false;
  }
  tern_free(blob);
}

static const tern_vk_spirv *find_spirv(const char *name) {
  for (const tern_vk_spirv *s = tern_vk_spirv_table; s->name; s++)
    if (strcmp(s->name, name) == 0)
      return s;
  return NULL;
}

tern_status tern_vk_pipeline_get(tern_device *d, const char *name,
                                 int n_bindings, const uint32_t *spec,
                                 int n_spec, const tern_vk_pipeline **out,
                                 tern_err *err) {
  return tern_vk_pipeline_get_ex(d, name, n_bindings, 0, spec, n_spec, out,
                                 err);
}

tern_status tern_vk_pipeline_get_ex(tern_device *d, const char *name,
                                    int n_bindings, uint32_t texel_mask,
                                    const uint32_t *spec, int n_spec,
                                    const tern_vk_pipeline **out,
                                    tern_err *err) {
  for (int i = 0; i < d->n_pipes; i++) {
    tern_vk_pipeline *p = d->pipes[i];
    if (p->n_spec == n_spec && p->n_bindings == n_bindings &&
        p->texel_mask == texel_mask && strcmp(p->name, name) == 0 &&
        (n_spec == 0 || memcmp(p->spec, spec, (size_t)n_spec * 4) == 0)) {
      *out = p;
      return TERN_OK;
    }
  }
  const tern_vk_spirv *sp = find_spirv(name);
  if (!sp || n_bindings > TERN_VK_MAX_BINDINGS || n_spec > 8)
    return tern_err_set(err, TERN_ERR_INTERNAL,
                        "vulkan: no embedded shader '%s'", name);
  if (d->n_pipes == d->cap_pipes) {
    int cap = d->cap_pipes ? 2 * d->cap_pipes : 32;
    tern_vk_pipeline **np = tern_realloc(d->pipes, (size_t)cap * sizeof *np);
    if (!np)
      return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    d->pipes = np;
    d->cap_pipes = cap;
  }
  tern_vk_pipeline *p = tern_calloc(1, sizeof *p);
  if (!p)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
  snprintf(p->name, sizeof p->name, "%s", name);
  p->n_spec = n_spec;
  if (n_spec)
    memcpy(p->spec, spec, (size_t)n_spec * 4);
  p->n_bindings = n_bindings;
  p->texel_mask = texel_mask;
  const tern_vk_layout *lay;
  tern_status ls = tern_vk_layout_get(d, n_bindings, texel_mask, &lay, err);
  if (ls) {
    tern_free(p);
    return ls;
  }
  p->layout = lay->layout;
  p->dsl = lay->dsl;

  const tern_vk_fns *vk = d->vk;
  VkShaderModuleCreateInfo mci = {VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  mci.codeSize = sp->word_count * 4;
  mci.pCode = sp->words;
  VkShaderModule mod;
  tern_status s =
      tern_vk_check(vk->vkCreateShaderModule(d->dev, &mci, NULL, &mod), err,
                    "vkCreateShaderModule");
  if (s) {
    tern_free(p);
    return s;
  }
  VkSpecializationMapEntry me[8];
  for (int i = 0; i < n_spec; i++)
    me[i] = (VkSpecializationMapEntry){(uint32_t)i, (uint32_t)(4 * i), 4};
  VkSpecializationInfo si = {(uint32_t)n_spec, me, (size_t)n_spec * 4, p->spec};
  VkComputePipelineCreateInfo ci = {
      VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = mod;
  ci.stage.pName = "main";
  ci.stage.pSpecializationInfo = n_spec ? &si : NULL;
  ci.layout = p->layout;
  s = tern_vk_check(
      vk->vkCreateComputePipelines(d->dev, d->pcache, 1, &ci, NULL, &p->pipe),
      err, "vkCreateComputePipelines");
  vk->vkDestroyShaderModule(d->dev, mod, NULL);
  if (s) {
    tern_free(p);
    return tern_err_prefix(err, "shader %s: ", name);
  }
  d->pipes[d->n_pipes++] = p;
  d->cache_dirty = true;
  *out = p;
  return TERN_OK;
}

void tern_vk_pipelines_destroy(tern_device *d) {
  for (int i = 0; i < d->n_pipes; i++) {
    d->vk->vkDestroyPipeline(d->dev, d->pipes[i]->pipe, NULL);
    tern_free(d->pipes[i]);
  }
  tern_free(d->pipes);
  d->pipes = NULL;
  d->n_pipes = d->cap_pipes = 0;
}
