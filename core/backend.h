/* backend.h — the seam between core and the backends (cpu, vulkan, opencl).
 * A backend is a vtable plus its own context. Core calls only these entry
 * points; a backend never includes another backend's headers.
 *
 * Life cycle: init (probe; no driver = zero devices, not an error) →
 * device_open → buffers + node_prepare (repack weights, build pipelines) →
 * node_run (enqueue) … sync → node_release / buffer_free → device_close →
 * shutdown. */
#ifndef TERN_BACKEND_H
#define TERN_BACKEND_H

#include "tern_internal.h"

typedef struct tern_backend_ctx tern_backend_ctx; /* backend-defined */
typedef struct tern_device tern_device;           /* backend-defined */

/* Device memory. `host` is non-NULL when the memory is directly addressable
 * by the CPU (CPU backend, host-visible mappings). */
typedef struct tern_buffer {
  tern_device *dev;
  void *host;
  size_t bytes;
  void *impl; /* backend-defined */
} tern_buffer;

typedef struct tern_backend_config {
  int thread_count; /* CPU worker threads */
  const char *tuning_db_path;
  void *tuning_db; /* core/tuning.h handle, may be NULL */
} tern_backend_config;

/* What a backend is asked to compile: one node with its resolved tensors.
 * Constant inputs carry host data (weights in canonical layout); activation
 * inputs and the output carry only shape and dtype. */
typedef struct tern_exec_node {
  tern_op op;
  tern_op_params params;
  const char *name;
  int n_inputs;
  tern_view in[TERN_MAX_INPUTS];
  bool in_const[TERN_MAX_INPUTS];
  tern_view out;
} tern_exec_node;

typedef struct tern_backend_vtbl {
  const char *name; /* "cpu", "vulkan", "opencl" */
  tern_status (*init)(const tern_backend_config *cfg, tern_backend_ctx **out,
                      tern_err *err);
  void (*shutdown)(tern_backend_ctx *ctx);
  int (*device_count)(tern_backend_ctx *ctx);
  tern_status (*device_info)(tern_backend_ctx *ctx, int index,
                             tern_device_info *info);
  tern_status (*device_open)(tern_backend_ctx *ctx, int index,
                             tern_device **out, tern_err *err);
  void (*device_close)(tern_device *dev);
  /* Can this device run the node (op, dtypes, params, sizes)? Must be cheap
   * and must not fail. */
  bool (*supports)(tern_device *dev, const tern_exec_node *node);
  tern_status (*buffer_alloc)(tern_device *dev, size_t bytes, tern_buffer **out,
                              tern_err *err);
  void (*buffer_free)(tern_buffer *buf);
  /* Blocking transfers (a read waits for queued work that writes buf). */
  tern_status (*buffer_write)(tern_buffer *buf, size_t offset, const void *src,
                              size_t bytes, tern_err *err);
  tern_status (*buffer_read)(tern_buffer *buf, size_t offset, void *dst,
                             size_t bytes, tern_err *err);
  /* Compile one node: repack/upload constants, create pipelines. */
  tern_status (*node_prepare)(tern_device *dev, const tern_exec_node *node,
                              void **prepared, tern_err *err);
  void (*node_release)(tern_device *dev, void *prepared);
  /* Enqueue the node. bufs/offsets: one per input (NULL for constants),
   * then the output at index n_inputs. */
  tern_status (*node_run)(tern_device *dev, void *prepared,
                          tern_buffer *const *bufs, const size_t *offsets,
                          tern_err *err);
  /* Wait for all enqueued work. */
  tern_status (*sync)(tern_device *dev, tern_err *err);
} tern_backend_vtbl;

/* The backends compiled into this build (NULL-terminated). */
extern const tern_backend_vtbl tern_cpu_backend;
#ifdef TERN_HAVE_VULKAN
extern const tern_backend_vtbl tern_vulkan_backend;
#endif
#ifdef TERN_HAVE_OPENCL
extern const tern_backend_vtbl tern_opencl_backend;
#endif

/* CPU backend extras used by core for fallback and reference sessions. */
typedef enum tern_cpu_mode {
  TERN_CPU_FAST = 0,     /* best kernels for this CPU */
  TERN_CPU_REFERENCE = 1 /* the naive reference of core/ops */
} tern_cpu_mode;
tern_status tern_cpu_device_open_mode(tern_backend_ctx *ctx, tern_cpu_mode mode,
                                      tern_device **out, tern_err *err);

#endif
