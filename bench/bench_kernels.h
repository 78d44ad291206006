/* bench_kernels.h — the kernel benchmark as a function, shared by the
 * bench_kernels program and `tern bench kernels`. */
#ifndef TERN_BENCH_KERNELS_H
#define TERN_BENCH_KERNELS_H

/* argv[0] is the command name ("kernels"); returns the exit code (0 ok,
 * 1 failure, 2 usage error). Output: a table, or one JSON document with
 * --json, on stdout; progress on stderr. */
int tern_bench_kernels_main(int argc, char **argv);

/* OpenBLAS picks its kernels when it is loaded, from OPENBLAS_CORETYPE.
 * On a CPU with AVX-512 and the variable unset, set it to SkylakeX and
 * re-execute this program (from /proc/self/cmdline) so the comparison uses
 * OpenBLAS's AVX-512 kernels. Returns only when nothing was done. */
void bench_openblas_coretype(void);

#endif
