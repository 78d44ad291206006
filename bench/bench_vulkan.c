/* bench_vulkan.c — the bench_vulkan program: `tern bench kernels --backend
 * vulkan` under its old name (same options: --json --quick --cputime
 * --shapes --only ...; the harness is bench/bench_kernels.c). */
#include "bench_kernels.h"

#include <stdlib.h>

int main(int argc, char **argv) {
  char **args = malloc((size_t)(argc + 3) * sizeof *args);
  if (!args)
    return 1;
  int n = 0;
  args[n++] = "kernels";
  args[n++] = "--backend";
  args[n++] = "vulkan";
  for (int i = 1; i < argc; i++)
    args[n++] = argv[i];
  args[n] = NULL;
  int rc = tern_bench_kernels_main(n, args);
  free(args);
  return rc;
}
