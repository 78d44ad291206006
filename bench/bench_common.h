/* bench_common.h — helpers the benchmarks share: a monotonic clock, median
 * of repeated timed runs after warm-up, the machine's measured read
 * bandwidth and int8 multiply-add peak, and a tiny JSON writer. */
#ifndef TERN_BENCH_COMMON_H
#define TERN_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

double bench_now_s(void);
/* Measure with the process CPU time divided by `threads` instead of the wall
 * clock: an estimate of the uncontended time on a machine shared with other
 * work (exact for one thread; spinning pool workers count as busy). */
void bench_use_cpu_time(int threads);

/* Run fn(ctx) `warmup` times, then repeatedly until both min_reps runs and
 * min_seconds have passed (at most max_reps); returns the median seconds of
 * one run. */
double bench_median(void (*fn)(void *ctx), void *ctx, int warmup, int min_reps,
                    int max_reps, double min_seconds);

/* Read bandwidth in GB/s (1e9 bytes/s): all `threads` threads streaming over
 * disjoint parts of a `bytes` buffer, median of several passes. */
double bench_read_bandwidth(size_t bytes, int threads);

/* int8 multiply-add peak in GOPS (2 ops per multiply-add) with `threads`
 * threads: VNNI vpdpbusd where the CPU has it, else AVX2 vpmaddubsw (the
 * instruction the ternary kernels are built on), else a scalar loop.
 * *what receives the instruction name. */
double bench_int8_peak(int threads, const char **what);

/* A streaming JSON writer for one document on stdout. */
typedef struct bench_json {
  FILE *f;
  int depth;
  bool first[32];
} bench_json;
void bj_begin(bench_json *j, FILE *f);
void bj_obj(bench_json *j, const char *key); /* key NULL inside arrays */
void bj_arr(bench_json *j, const char *key);
void bj_end_obj(bench_json *j);
void bj_end_arr(bench_json *j);
void bj_str(bench_json *j, const char *key, const char *v);
void bj_num(bench_json *j, const char *key, double v);
void bj_int(bench_json *j, const char *key, long long v);

#endif
