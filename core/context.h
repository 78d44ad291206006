/* context.h — the context's internals, shared by context.c and session.c. */
#ifndef TERN_CONTEXT_H
#define TERN_CONTEXT_H

#include "backend.h"

#define TERN_CTX_MAX_BACKENDS 4
#define TERN_CTX_MAX_DEVICES 64

typedef struct tern_context_device {
  int backend; /* index into backends[] */
  int index;   /* device index within the backend */
  tern_device_info info;
} tern_context_device;

struct tern_context {
  tern_err err;
  int thread_count;
  char *tuning_db_path;
  struct {
    const tern_backend_vtbl *vt;
    tern_backend_ctx *ctx;
  } backends[TERN_CTX_MAX_BACKENDS];
  int n_backends;
  tern_context_device devices[TERN_CTX_MAX_DEVICES];
  int n_devices;
};

/* Index of the device named `id` ("vulkan:0", or a bare backend name for its
 * first device); NULL/"" means "cpu:0". -1 when there is none. */
int tern_context_find_device(const tern_context *c, const char *id);

#endif
