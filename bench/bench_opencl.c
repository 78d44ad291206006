/* bench_opencl.c — the bench_opencl program: `tern bench kernels --backend
 * opencl` under its old name. Besides the harness's options it accepts the
 * old positional shapes M,K,N (M batch rows, K reduction, N output rows),
 * passed on as --shapes N,M,K. */
#include "bench_kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  char **args = malloc((size_t)(argc + 5) * sizeof *args);
  char *shapes = malloc((size_t)argc * 64 + 1);
  if (!args || !shapes)
    return 1;
  shapes[0] = 0;
  int n = 0;
  args[n++] = "kernels";
  args[n++] = "--backend";
  args[n++] = "opencl";
  for (int i = 1; i < argc; i++) {
    long long M, K, N;
    char end;
    if (sscanf(argv[i], "%lld,%lld,%lld%c", &M, &K, &N, &end) == 3) {
      size_t len = strlen(shapes);
      snprintf(shapes + len, 64, "%s%lld,%lld,%lld", len ? ";" : "", N, M, K);
    } else {
      args[n++] = argv[i];
    }
  }
  if (shapes[0]) {
    args[n++] = "--shapes";
    args[n++] = shapes;
  }
  args[n] = NULL;
  int rc = tern_bench_kernels_main(n, args);
  free(args);
  free(shapes);
  return rc;
}
