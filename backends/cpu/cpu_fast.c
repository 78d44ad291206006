/* cpu_fast.c — chooses the fast CPU kernel for a node. Until SIMD kernels
 * are registered here, every node runs the reference. */
#include "cpu_backend.h"

#include <stdio.h>

tern_status tern_cpu_fast_prepare(tern_device *d, tern_cpu_node *n,
                                  tern_err *err) {
  (void)d;
  (void)n;
  (void)err;
  return TERN_OK;
}

void tern_cpu_features_str(char *buf, size_t n) {
  snprintf(buf, n, "%s%s", __builtin_cpu_supports("avx2") ? "avx2 " : "",
           __builtin_cpu_supports("avx512f") ? "avx512" : "");
}
