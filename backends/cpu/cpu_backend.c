/* cpu_backend.c — the CPU backend behind the vtable: host buffers, and nodes
 * run by the naive reference of core/ops (TERN_CPU_REFERENCE) or by the
 * fastest kernel this CPU has (TERN_CPU_FAST; see cpu_kernels.h). */
#include "cpu_backend.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static tern_status cpu_init(const tern_backend_config *cfg,
                            tern_backend_ctx **out, tern_err *err) {
  tern_backend_ctx *c = tern_calloc(1, sizeof *c);
  if (!c)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  c->thread_count = cfg && cfg->thread_count > 0 ? cfg->thread_count : 1;
  *out = c;
  return TERN_OK;
}

static void cpu_shutdown(tern_backend_ctx *c) {
  tern_free(c);
}

static int cpu_device_count(tern_backend_ctx *c) {
  return 1;
}

static void read_cpu_name(char *buf, size_t n) {
  snprintf(buf, n, "CPU");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f)
    return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) == 0) {
      char *p = strchr(line, ':');
      if (p) {
        p++;
        while (*p == ' ')
          p++;
        p[strcspn(p, "\n")] = 0;
        snprintf(buf, n, "%s", p);
      }
      break;
    }
  }
  fclose(f);
}

static tern_status cpu_device_info(tern_backend_ctx *c, int index,
                                   tern_device_info *info) {
  if (index != 0)
    return tern_err_set(NULL, TERN_ERR_NO_DEVICE, "cpu has one device");
  read_cpu_name(info->name, sizeof info->name);
  snprintf(info->vendor, sizeof info->vendor, "host");
  snprintf(info->driver, sizeof info->driver, "tern %s", tern_version_string());
  info->type = TERN_DEVICE_CPU;
  long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
  info->memory_bytes = pages > 0 && psize > 0 ? (uint64_t)pages * psize : 0;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  info->compute_units = ncpu > 0 ? (int)ncpu : 1;
  char isa[128];
  tern_cpu_features_str(isa, sizeof isa);
  snprintf(info->features, sizeof info->features, "%s threads=%d", isa,
           c->thread_count);
  return TERN_OK;
}

tern_status tern_cpu_device_open_mode(tern_backend_ctx *c, tern_cpu_mode mode,
                                      tern_device **out, tern_err *err) {
  tern_device *d = tern_calloc(1, sizeof *d);
  if (!d)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  d->ctx = c;
  d->mode = mode;
  d->thread_count = c->thread_count;
  *out = d;
  return TERN_OK;
}

static tern_status cpu_device_open(tern_backend_ctx *c, int index,
                                   tern_device **out, tern_err *err) {
  if (index != 0)
    return tern_err_set(err, TERN_ERR_NO_DEVICE, "cpu has one device, not %d",
                        index);
  return tern_cpu_device_open_mode(c, TERN_CPU_FAST, out, err);
}

static void cpu_device_close(tern_device *d) {
  tern_free(d);
}

static bool cpu_supports(tern_device *d, const tern_exec_node *n) {
  return tern_op_get(n->op) != NULL;
}

static tern_status cpu_buffer_alloc(tern_device *d, size_t bytes,
                                    tern_buffer **out, tern_err *err) {
  tern_buffer *b = tern_calloc(1, sizeof *b);
  void *p = tern_malloc_aligned(bytes);
  if (!b || !p) {
    tern_free(b);
    tern_free_aligned(p);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY,
                        "cannot allocate %zu bytes of host memory", bytes);
  }
  b->dev = d;
  b->host = p;
  b->bytes = bytes;
  *out = b;
  return TERN_OK;
}

static void cpu_buffer_free(tern_buffer *b) {
  if (!b)
    return;
  tern_free_aligned(b->host);
  tern_free(b);
}

static tern_status range_check(const tern_buffer *b, size_t off, size_t n,
                               tern_err *err) {
  size_t end;
  if (!tern_add_size(off, n, &end) || end > b->bytes)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "buffer access [%zu, +%zu) outside %zu bytes", off, n,
                        b->bytes);
  return TERN_OK;
}

static tern_status cpu_buffer_write(tern_buffer *b, size_t off, const void *src,
                                    size_t n, tern_err *err) {
  tern_status s = range_check(b, off, n, err);
  if (!s)
    memcpy((char *)b->host + off, src, n);
  return s;
}

static tern_status cpu_buffer_read(tern_buffer *b, size_t off, void *dst,
                                   size_t n, tern_err *err) {
  tern_status s = range_check(b, off, n, err);
  if (!s)
    memcpy(dst, (const char *)b->host + off, n);
  return s;
}

static tern_status cpu_node_prepare(tern_device *d, const tern_exec_node *n,
                                    void **prepared, tern_err *err) {
  tern_cpu_node *cn = tern_calloc(1, sizeof *cn);
  if (!cn)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  cn->en = *n;
  cn->def = tern_op_get(n->op);
  if (d->mode == TERN_CPU_FAST) {
    tern_status s = tern_cpu_fast_prepare(d, cn, err);
    if (s) {
      tern_free(cn);
      return s;
    }
  }
  *prepared = cn;
  return TERN_OK;
}

static void cpu_node_release(tern_device *d, void *prepared) {
  tern_cpu_node *cn = prepared;
  if (!cn)
    return;
  if (cn->release)
    cn->release(cn);
  tern_free(cn);
}

static tern_status cpu_node_run(tern_device *d, void *prepared,
                                tern_buffer *const *bufs, const size_t *offs,
                                tern_err *err) {
  tern_cpu_node *cn = prepared;
  tern_view in[TERN_MAX_INPUTS];
  for (int j = 0; j < cn->en.n_inputs; j++) {
    in[j] = cn->en.in[j];
    if (!cn->en.in_const[j])
      in[j].data = (char *)bufs[j]->host + offs[j];
  }
  tern_view out = cn->en.out;
  out.data = (char *)bufs[cn->en.n_inputs]->host + offs[cn->en.n_inputs];
  if (cn->run)
    return cn->run(d, cn, in, &out, err);
  return cn->def->ref(&cn->en.params, in, cn->en.n_inputs, &out, err);
}

static tern_status cpu_sync(tern_device *d, tern_err *err) {
  return TERN_OK;
}

const tern_backend_vtbl tern_cpu_backend = {
    "cpu",
    cpu_init,
    cpu_shutdown,
    cpu_device_count,
    cpu_device_info,
    cpu_device_open,
    cpu_device_close,
    cpu_supports,
    cpu_buffer_alloc,
    cpu_buffer_free,
    cpu_buffer_write,
    cpu_buffer_read,
    cpu_node_prepare,
    cpu_node_release,
    cpu_node_run,
    cpu_sync,
};
