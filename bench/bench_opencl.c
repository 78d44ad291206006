/* bench_opencl.c — kernel benchmark of the OpenCL backend: ternary and int8
 * linear (quantize + int8 GEMM/GEMV) against CLBlast SGEMM/SGEMV on the same
 * device and shapes, timed with OpenCL profiling events.
 * tern's own f32 panel kernel is timed as well. JSON through bench_common.
 * Usage: bench_opencl [--reps N] [--json] [M,K,N ...] */
#ifndef TERN_HAVE_OPENCL
#include <stdio.h>
int main(void) {
  printf("bench_opencl: built without TERN_OPENCL\n");
  return 0;
}
#else
#include "backends/opencl/cl_internal.h"
#include "backends/opencl/cl_linear.h"
#include "bench_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const tern_backend_vtbl *B = &tern_opencl_backend;

typedef struct result {
  double ms_min, ms_median; /* wall clock, enqueue to finish */
  double kernel_ms_min;     /* sum of profiled kernel times (CLBlast reports
                               only its last kernel) */
  double cpu_ms;            /* process CPU time per run (all threads): robust
                               against other load on a shared machine */
} result;

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static uint32_t g_seed = 12345;
static uint32_t rnd(void) {
  g_seed = g_seed * 1664525u + 1013904223u;
  return g_seed >> 8;
}

/* Time one linear node y[M][N] = x[M][K] · W[N][K]ᵀ with weights of dt. */
static int bench_linear(tern_device *dev, tern_dtype dt, int64_t M, int64_t K,
                        int64_t N, int reps, result *r) {
  tern_exec_node node;
  memset(&node, 0, sizeof node);
  node.op = TERN_OP_LINEAR;
  node.name = "bench";
  node.n_inputs = 2;
  tern_view *x = &node.in[0], *w = &node.in[1];
  x->dtype = TERN_DTYPE_F32;
  x->ndim = 2;
  x->shape[0] = M;
  x->shape[1] = K;
  w->dtype = dt;
  w->ndim = 2;
  w->shape[0] = N;
  w->shape[1] = K;
  node.in_const[1] = true;
  node.out = *x;
  node.out.shape[1] = N;
  size_t wbytes = tern_dtype_bytes(dt, N, K);
  uint8_t *wd = malloc(wbytes);
  float *scales = malloc((size_t)N * 4), *xd = malloc((size_t)(M * K) * 4);
  if (dt == TERN_DTYPE_F32)
    for (int64_t i = 0; i < N * K; i++)
      ((float *)wd)[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
  else if (dt == TERN_DTYPE_I8)
    for (size_t i = 0; i < wbytes; i++)
      wd[i] = (uint8_t)(rnd() % 255 + 129);
  else
    for (size_t i = 0; i < wbytes; i++) /* codes 0..2 in each 2-bit field */
      wd[i] = (uint8_t)((rnd() % 3) | (rnd() % 3) << 2 | (rnd() % 3) << 4 |
                        (rnd() % 3) << 6);
  for (int64_t i = 0; i < N; i++)
    scales[i] = 0.01f;
  for (int64_t i = 0; i < M * K; i++)
    xd[i] = (float)((int)(rnd() % 2001) - 1000) / 100.0f;
  w->data = wd;
  w->scales = scales;
  w->scale_count = N;
  tern_err e = {0};
  void *prep = NULL;
  tern_buffer *bx = NULL, *by = NULL;
  int rc = 1;
  double *t = calloc((size_t)reps, sizeof *t);
  if (B->node_prepare(dev, &node, &prep, &e) ||
      B->buffer_alloc(dev, (size_t)(M * K) * 4, &bx, &e) ||
      B->buffer_alloc(dev, (size_t)(M * N) * 4, &by, &e) ||
      B->buffer_write(bx, 0, xd, (size_t)(M * K) * 4, &e)) {
    fprintf(stderr, "bench_opencl: %s\n", e.msg);
    goto out;
  }
  tern_buffer *bufs[3] = {bx, NULL, by};
  size_t offs[3] = {0, 0, 0};
  for (int i = 0; i < 2; i++) /* warm-up: first runs build CLBlast kernels */
    if (B->node_run(dev, prep, bufs, offs, &e) || B->sync(dev, &e)) {
      fprintf(stderr, "bench_opencl: %s\n", e.msg);
      goto out;
    }
  r->kernel_ms_min = 1e30;
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  for (int i = 0; i < reps; i++) {
    uint64_t ns = 0;
    tern_cl_profile(dev, true);
    uint64_t t0 = tern_now_ns();
    if (B->node_run(dev, prep, bufs, offs, &e) ||
        tern_cl_profile_elapsed(dev, &ns, &e)) {
      fprintf(stderr, "bench_opencl: %s\n", e.msg);
      goto out;
    }
    t[i] = (double)(tern_now_ns() - t0) / 1e6;
    if ((double)ns / 1e6 < r->kernel_ms_min)
      r->kernel_ms_min = (double)ns / 1e6;
  }
  getrusage(RUSAGE_SELF, &ru1);
  r->cpu_ms = ((double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) * 1e3 +
               (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e3 +
               (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e3 +
               (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e3) /
              reps;
  tern_cl_profile(dev, false);
  qsort(t, (size_t)reps, sizeof *t, cmp_d);
  r->ms_min = t[0];
  r->ms_median = t[reps / 2];
  rc = 0;
out:
  free(t);
  B->buffer_free(bx);
  B->buffer_free(by);
  if (prep)
    B->node_release(dev, prep);
  free(wd);
  free(scales);
  free(xd);
  return rc;
}

#ifdef TERN_HAVE_CLBLAST
/* CLBlast SGEMV y = W·x straight on device buffers (offsets 0), checked
 * against a double-precision host sum so a wrong peer is reported. */
static int bench_sgemv(tern_device *dev, int64_t K, int64_t N, int reps,
                       result *r, int *bad) {
  float *w = malloc((size_t)(N * K) * 4), *x = malloc((size_t)K * 4);
  float *y = malloc((size_t)N * 4);
  for (int64_t i = 0; i < N * K; i++)
    w[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
  for (int64_t i = 0; i < K; i++)
    x[i] = (float)((int)(rnd() % 2001) - 1000) / 100.0f;
  tern_err e = {0};
  tern_buffer *bw = NULL, *bx = NULL, *by = NULL;
  int rc = 1;
  double *t = calloc((size_t)reps, sizeof *t);
  if (B->buffer_alloc(dev, (size_t)(N * K) * 4, &bw, &e) ||
      B->buffer_alloc(dev, (size_t)K * 4, &bx, &e) ||
      B->buffer_alloc(dev, (size_t)N * 4, &by, &e) ||
      B->buffer_write(bw, 0, w, (size_t)(N * K) * 4, &e) ||
      B->buffer_write(bx, 0, x, (size_t)K * 4, &e))
    goto out;
  for (int i = 0; i < 2; i++)
    if (tern_cl_sgemv(dev, N, K, tern_cl_mem(bw), 0, tern_cl_mem(bx), 0,
                      tern_cl_mem(by), 0, &e) ||
        B->sync(dev, &e))
      goto out;
  r->kernel_ms_min = 1e30;
  for (int i = 0; i < reps; i++) {
    uint64_t ns = 0;
    tern_cl_profile(dev, true);
    uint64_t t0 = tern_now_ns();
    if (tern_cl_sgemv(dev, N, K, tern_cl_mem(bw), 0, tern_cl_mem(bx), 0,
                      tern_cl_mem(by), 0, &e) ||
        tern_cl_profile_elapsed(dev, &ns, &e))
      goto out;
    t[i] = (double)(tern_now_ns() - t0) / 1e6;
    if ((double)ns / 1e6 < r->kernel_ms_min)
      r->kernel_ms_min = (double)ns / 1e6;
  }
  tern_cl_profile(dev, false);
  if (B->buffer_read(by, 0, y, (size_t)N * 4, &e))
    goto out;
  *bad = 0;
  for (int64_t n = 0; n < N; n++) {
    double acc = 0;
    for (int64_t k = 0; k < K; k++)
      acc += (double)w[n * K + k] * (double)x[k];
    if (!(fabs(acc - (double)y[n]) <= 1e-3 * (1 + fabs(acc))))
      (*bad)++;
  }
  qsort(t, (size_t)reps, sizeof *t, cmp_d);
  r->ms_min = t[0];
  r->ms_median = t[reps / 2];
  r->cpu_ms = 0;
  rc = 0;
out:
  if (rc)
    fprintf(stderr, "bench_opencl: CLBlast SGEMV: %s\n", e.msg);
  free(t);
  B->buffer_free(bw);
  B->buffer_free(bx);
  B->buffer_free(by);
  free(w);
  free(x);
  free(y);
  return rc;
}
#endif

/* One result as a JSON object (bench_common's writer) or a text line;
 * base > 0 adds the speed-up over the peer, bad >= 0 the SGEMV check. */
static void report(bench_json *j, int json, const char *dev_id,
                   const char *what, int64_t M, int64_t K, int64_t N,
                   const result *r, double base, int bad) {
  double gops = 2.0 * (double)M * (double)K * (double)N / r->ms_min / 1e6;
  if (json) {
    bj_obj(j, NULL);
    bj_str(j, "device", dev_id);
    bj_str(j, "kernel", what);
    bj_int(j, "m", M);
    bj_int(j, "k", K);
    bj_int(j, "n", N);
    bj_num(j, "ms_min", r->ms_min);
    bj_num(j, "ms_median", r->ms_median);
    bj_num(j, "kernel_ms", r->kernel_ms_min);
    if (r->cpu_ms > 0)
      bj_num(j, "cpu_ms", r->cpu_ms);
    bj_num(j, "gops", gops);
    if (base > 0)
      bj_num(j, "speedup_vs_peer", base / r->ms_min);
    if (bad >= 0)
      bj_int(j, "wrong_values", bad);
    bj_end_obj(j);
    return;
  }
  printf("  %-14s M=%-5lld K=%-5lld N=%-5lld min %9.3f ms  median %9.3f ms  "
         "(kernels %8.3f ms",
         what, (long long)M, (long long)K, (long long)N, r->ms_min,
         r->ms_median, r->kernel_ms_min);
  if (r->cpu_ms > 0)
    printf(", cpu %8.3f ms", r->cpu_ms);
  printf(")  %7.2f GOP/s", gops);
  if (base > 0)
    printf("  x%.2f vs the peer", base / r->ms_min);
  if (bad > 0)
    printf("  (WRONG VALUES: %d)", bad);
  printf("\n");
}

static void log_cb(void *user, tern_log_level level, const char *msg) {
  (void)user;
  (void)level;
  fprintf(stderr, "%s\n", msg);
}

int main(int argc, char **argv) {
  if (getenv("TERN_BENCH_VERBOSE"))
    tern_set_log_callback(log_cb, NULL, TERN_LOG_DEBUG);
  int reps = 10, json = 0;
  int64_t shapes[16][3];
  int n_shapes = 0;
  for (int i = 1; i < argc; i++) {
    long long a, b, c;
    if (!strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--json"))
      json = 1;
    else if (!strcmp(argv[i], "--help")) {
      printf("usage: bench_opencl [--reps N] [--json] [M,K,N ...]\n");
      return 0;
    } else if (sscanf(argv[i], "%lld,%lld,%lld", &a, &b, &c) == 3 &&
               n_shapes < 16) {
      shapes[n_shapes][0] = a;
      shapes[n_shapes][1] = b;
      shapes[n_shapes][2] = c;
      n_shapes++;
    } else {
      fprintf(stderr, "bench_opencl: bad argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (reps < 1)
    reps = 1;
  if (!n_shapes) {
    int64_t def[2][3] = {{1024, 1024, 1024}, {1, 4096, 4096}};
    memcpy(shapes, def, sizeof def);
    n_shapes = 2;
  }
  tern_backend_ctx *ctx = NULL;
  tern_err e = {0};
  tern_backend_config cfg = {0};
  if (B->init(&cfg, &ctx, &e) || B->device_count(ctx) == 0) {
    fprintf(stderr, "bench_opencl: no OpenCL device\n");
    B->shutdown(ctx);
    return 0;
  }
  int nd = B->device_count(ctx);
  bench_json j;
  bj_begin(&j, stdout);
  if (json) {
    bj_obj(&j, NULL);
    bj_str(&j, "backend", "opencl");
    bj_arr(&j, "results");
  }
  for (int d = 0; d < nd; d++) {
    tern_device *dev = NULL;
    tern_device_info info = {.size = sizeof info};
    B->device_info(ctx, d, &info);
    if (B->device_open(ctx, d, &dev, &e)) {
      fprintf(stderr, "bench_opencl: %s\n", e.msg);
      continue;
    }
    if (!json)
      printf("device %s: %s (%s)\n", info.id, info.name, info.driver);
    for (int s = 0; s < n_shapes; s++) {
      int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
      double base = 0;
#ifdef TERN_HAVE_CLBLAST
      result rv;
      int bad = 0;
      if (M == 1 && !bench_sgemv(dev, K, N, reps, &rv, &bad)) {
        report(&j, json, info.id, "clblast-sgemv", M, K, N, &rv, 0, bad);
        base = rv.ms_min; /* the GEMV peer */
      }
#endif
      /* runs: the CLBlast peer (or the plain kernel without CLBlast), tern's
       * own f32 panel kernel, then int8 and ternary */
      const tern_dtype run_dt[4] = {TERN_DTYPE_F32, TERN_DTYPE_F32,
                                    TERN_DTYPE_I8, TERN_DTYPE_TERNARY};
      const char *run_f32[4] = {dev->feat.clblast ? "clblast" : "plain",
                                "panel", NULL, NULL};
      for (int i = 0; i < 4; i++) {
        result r;
        if (run_f32[i])
          setenv("TERN_CL_F32", run_f32[i], 1);
        int rc = bench_linear(dev, run_dt[i], M, K, N, reps, &r);
        unsetenv("TERN_CL_F32");
        if (rc)
          continue;
        const char *what =
            i == 0   ? (dev->feat.clblast ? "clblast-sgemm" : "f32-plain")
            : i == 1 ? "tern-f32"
                     : tern_dtype_name(run_dt[i]);
        double peer = base;
        if (i == 0 && base == 0)
          base = r.ms_min, peer = 0;
        report(&j, json, info.id, what, M, K, N, &r, peer, -1);
      }
    }
    B->device_close(dev);
  }
  if (json) {
    bj_end_arr(&j);
    bj_end_obj(&j);
    fputc('\n', stdout);
  }
  B->shutdown(ctx);
  return 0;
}
#endif
