/* bench_kernels.h — the kernel benchmark shared by `tern bench kernels` and
 * the bench_kernels / bench_vulkan / bench_opencl programs: one harness
 * (options, timing policy, rows, one JSON schema) and one module per backend
 * (bench_kern_cpu.c, bench_kern_vulkan.c, bench_kern_opencl.c). */
#ifndef TERN_BENCH_KERNELS_H
#define TERN_BENCH_KERNELS_H

#include "bench_common.h"

#include <stdbool.h>
#include <stdint.h>

/* argv[0] is the command name ("kernels"); returns the exit code (0 ok,
 * 1 failure, 2 usage error). Output: a table, or one JSON document with
 * --json, on stdout; progress on stderr. */
int tern_bench_kernels_main(int argc, char **argv);

/* OpenBLAS picks its kernels when it is loaded, from OPENBLAS_CORETYPE.
 * On a CPU with AVX-512 and the variable unset, set it to SkylakeX and
 * re-execute this program (from /proc/self/cmdline) so the comparison uses
 * OpenBLAS's AVX-512 kernels. Returns only when nothing was done. */
void bench_openblas_coretype(void);

/* ------------------------------------------- between harness and backends */
/* m,n,k = output rows, batch rows, reduction: y[n][m] = x[n][k] . W[m][k] */
typedef struct bench_shape {
  int64_t m, n, k;
} bench_shape;

#define BENCH_MAX_SHAPES 32

typedef struct bench_opts {
  bool json, quick, cputime;
  int threads;        /* CPU threads (0: TERN_THREADS or the core count) */
  int reps;           /* fixed repetitions (0: the time-based policy) */
  const char *isa;    /* CPU ISA override, NULL: the active one */
  const char *dtypes; /* comma list of ternary,i8,f32 */
  const char *only;   /* comma list of kernel names, NULL: all */
  const char *device; /* device id ("cpu:0", "vulkan:0", "opencl:1"), NULL */
  bench_shape shapes[BENCH_MAX_SHAPES];
  int n_shapes;
} bench_opts;

/* One measured kernel at one shape. NAN marks an absent number (JSON null). */
typedef struct bench_row {
  char backend[16];
  char device[32];       /* tern device id */
  char device_name[128]; /* what the driver calls it */
  char kernel[48];       /* the variant measured ("ternary-int-dot", ...) */
  char features[256];    /* the device features / ISA in effect */
  const char *dtype;     /* weight dtype: ternary, i8, f32 */
  bench_shape s;
  double median_s, p95_s;
  int reps;
  double gops;       /* 2*m*n*k / median */
  double weight_gbs; /* weight bytes / median */
  char peer[48];     /* in-run reference ("openblas-sgemv", ...), "" none */
  double peer_s;     /* the peer's median at the same shape */
  double frac_read_bandwidth, frac_int8_peak; /* CPU: of the machine limits */
  int wrong_values; /* values a checked peer got wrong; -1 not checked */
  /* OpenCL: the fastest run's profiled kernel time, tern's and the peer's */
  double device_s, peer_device_s;
} bench_row;

/* What a backend module reports besides rows. */
typedef struct bench_report {
  bench_row *rows;
  int n_rows, cap_rows;
  /* machine limits, measured by the CPU module */
  bool have_machine;
  double read_bandwidth_gbs, int8_peak_gops;
  const char *int8_peak_instruction, *cpu_isa, *blas_core;
  size_t bandwidth_buffer_bytes;
  int threads;
} bench_report;

/* A zeroed row appended to r (NULL when out of memory). */
bench_row *bench_add_row(bench_report *r);
/* Fill the derived fields of a row from its timing. */
void bench_row_finish(bench_row *row, const bench_stats *st, double wbytes);
/* Time fn(ctx) for a case of `ops` operations under the harness's policy
 * (--quick, --reps, long cases get fewer runs). */
void bench_time_case(const bench_opts *o, void (*fn)(void *ctx), void *ctx,
                     double ops, bench_stats *st);
/* name is in the comma list (NULL list: everything is) */
bool bench_listed(const char *list, const char *name);
/* device id selected by --device */
bool bench_device_wanted(const bench_opts *o, const char *id);

/* A backend run: 0 measured, 1 failed; *skip receives a reason when there
 * was nothing to measure (no device, not built). */
typedef int (*bench_backend_fn)(const bench_opts *o, bench_report *r,
                                char *skip, size_t skip_size);
int bench_kern_cpu(const bench_opts *o, bench_report *r, char *skip,
                   size_t skip_size);
int bench_kern_vulkan(const bench_opts *o, bench_report *r, char *skip,
                      size_t skip_size);
int bench_kern_opencl(const bench_opts *o, bench_report *r, char *skip,
                      size_t skip_size);

/* deterministic pseudo-random numbers for weights and inputs */
uint32_t bench_rand(void);

#endif
