/* context.c — probes the compiled backends and lists their devices; owns the
 * backend contexts that sessions open devices from. */
#include "context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const tern_backend_vtbl *const k_backends[] = {
    &tern_cpu_backend,
#ifdef TERN_HAVE_VULKAN
    &tern_vulkan_backend,
#endif
#ifdef TERN_HAVE_OPENCL
    &tern_opencl_backend,
#endif
};
#define N_BACKENDS ((int)(sizeof k_backends / sizeof k_backends[0]))

static bool wanted(const char *list, const char *name) {
  if (!list || !*list)
    return true;
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && strncmp(p, name, n) == 0)
      return true;
    if (!e)
      break;
    p = e + 1;
  }
  return false;
}

static int default_threads(void) {
  const char *env = getenv("TERN_THREADS");
  if (env && atoi(env) > 0)
    return atoi(env);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

tern_status tern_context_create(const tern_context_desc *desc,
                                tern_context **out) {
  if (!out)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_context_create: out is NULL");
  if (desc && desc->size < sizeof(size_t))
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_context_create: desc->size is not set");
  tern_context *c = tern_calloc(1, sizeof *c);
  if (!c)
    return tern_err_set(NULL, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  c->thread_count =
      desc && desc->thread_count > 0 ? desc->thread_count : default_threads();
  const char *list = desc ? desc->backends : NULL;
  const char *db = desc && desc->tuning_db_path ? desc->tuning_db_path
                                                : getenv("TERN_TUNING_DB");
  c->tuning_db_path = db ? tern_strdup(db) : NULL;
  tern_backend_config cfg = {c->thread_count, c->tuning_db_path, NULL};
  for (int b = 0; b < N_BACKENDS; b++) {
    const tern_backend_vtbl *vt = k_backends[b];
    bool is_cpu = strcmp(vt->name, "cpu") == 0;
    if (!is_cpu && !wanted(list, vt->name))
      continue;
    tern_backend_ctx *bctx = NULL;
    tern_err err;
    tern_err_clear(&err);
    tern_status s = vt->init(&cfg, &bctx, &err);
    if (s) {
      if (is_cpu) {
        tern_context_destroy(c);
        return s;
      }
      tern_log(TERN_LOG_WARN, "backend %s unavailable: %s", vt->name, err.msg);
      continue;
    }
    int slot = c->n_backends++;
    c->backends[slot].vt = vt;
    c->backends[slot].ctx = bctx;
    int nd = vt->device_count(bctx);
    if (nd == 0 && !is_cpu)
      tern_log(TERN_LOG_INFO, "backend %s: no devices", vt->name);
    for (int d = 0; d < nd && c->n_devices < TERN_CTX_MAX_DEVICES; d++) {
      tern_context_device *cd = &c->devices[c->n_devices];
      memset(&cd->info, 0, sizeof cd->info);
      cd->info.size = sizeof cd->info;
      if (vt->device_info(bctx, d, &cd->info) != TERN_OK)
        continue;
      cd->backend = slot;
      cd->index = d;
      snprintf(cd->info.id, sizeof cd->info.id, "%s:%d", vt->name, d);
      snprintf(cd->info.backend, sizeof cd->info.backend, "%s", vt->name);
      c->n_devices++;
    }
  }
  *out = c;
  return TERN_OK;
}

void tern_context_destroy(tern_context *c) {
  if (!c)
    return;
  for (int i = c->n_backends - 1; i >= 0; i--)
    c->backends[i].vt->shutdown(c->backends[i].ctx);
  tern_free(c->tuning_db_path);
  tern_free(c);
}

const char *tern_context_errmsg(const tern_context *c) {
  return c ? c->err.msg : "context is NULL";
}

int tern_context_device_count(const tern_context *c) {
  return c ? c->n_devices : 0;
}

int tern_context_thread_count(const tern_context *c) {
  return c ? c->thread_count : 0;
}

tern_status tern_context_device_info(const tern_context *c, int index,
                                     tern_device_info *info) {
  if (!c || !info || info->size < sizeof *info)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_context_device_info: NULL argument or "
                        "info->size not set");
  if (index < 0 || index >= c->n_devices)
    return tern_err_set(NULL, TERN_ERR_NO_DEVICE,
                        "no device %d (the context has %d)", index,
                        c->n_devices);
  *info = c->devices[index].info;
  return TERN_OK;
}

int tern_context_find_device(const tern_context *c, const char *id) {
  if (!id || !*id)
    id = "cpu:0";
  for (int i = 0; i < c->n_devices; i++) {
    const tern_device_info *in = &c->devices[i].info;
    if (strcmp(in->id, id) == 0)
      return i;
  }
  /* a bare backend name picks its first device */
  for (int i = 0; i < c->n_devices; i++)
    if (strcmp(c->devices[i].info.backend, id) == 0)
      return i;
  return -1;
}
