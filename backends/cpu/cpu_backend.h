/* cpu_backend.h — CPU backend internals shared by its files: the device,
 * prepared nodes, and the hook through which fast kernels replace the
 * reference for the nodes they handle. */
#ifndef TERN_CPU_BACKEND_H
#define TERN_CPU_BACKEND_H

#include "core/backend.h"

struct tern_backend_ctx {
  int thread_count;
};

struct tern_device {
  tern_backend_ctx *ctx;
  tern_cpu_mode mode;
  int thread_count;
};

typedef struct tern_cpu_node tern_cpu_node;
struct tern_cpu_node {
  tern_exec_node en;      /* constants point into the session's graph */
  const tern_op_def *def; /* reference implementation */
  /* Set by a fast kernel at prepare time; NULL runs the reference. */
  tern_status (*run)(tern_device *d, tern_cpu_node *n, const tern_view *in,
                     tern_view *out, tern_err *err);
  void (*release)(tern_cpu_node *n);
  void *state; /* repacked weights etc., owned by the kernel */
};

/* Pick a fast kernel for the node (may leave run NULL = reference). */
tern_status tern_cpu_fast_prepare(tern_device *d, tern_cpu_node *n,
                                  tern_err *err);
/* "avx2 avx512 vnni" etc. */
void tern_cpu_features_str(char *buf, size_t n);

#endif
