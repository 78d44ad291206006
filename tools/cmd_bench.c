/* cmd_bench.c — `tern bench <what>`: benchmarks built from bench/ (the
 * kernel benchmark today). */
#include "cli_common.h"
#include "commands.h"

#include <stdio.h>
#include <string.h>

#ifdef TERN_HAVE_BENCH
#include "bench_kernels.h"
#endif

static void bench_usage(FILE *f) {
  fprintf(f, "usage: tern bench kernels [options]   (tern bench kernels "
             "--help for the options)\n\n"
             "Benchmarks:\n"
             "  kernels   CPU linear kernels (ternary, int8, f32 weights) vs "
             "OpenBLAS and\n            the machine's measured bandwidth and "
             "int8 peak\n");
}

int cmd_bench(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    bench_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  if (strcmp(argv[1], "kernels") != 0) {
    fprintf(stderr, "tern bench: unknown benchmark '%s'\n", argv[1]);
    bench_usage(stderr);
    return CLI_EXIT_USAGE;
  }
#ifdef TERN_HAVE_BENCH
  bench_openblas_coretype();
  return tern_bench_kernels_main(argc - 1, argv + 1);
#else
  fprintf(stderr, "tern bench: this build has no benchmarks (configure with "
                  "-DTERN_BUILD_BENCH=ON)\n");
  return CLI_EXIT_FAIL;
#endif
}
