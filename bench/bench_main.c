/* bench_main.c — the standalone bench_kernels program (same options as
 * `tern bench kernels`). */
#include "bench_kernels.h"

int main(int argc, char **argv) {
  bench_openblas_coretype();
  return tern_bench_kernels_main(argc, argv);
}
