/* bench_kern_cpu.c — the CPU part of the kernel benchmark: the linear
 * kernels (ternary, int8, f32 weights) of backends/cpu, the machine's read
 * bandwidth and int8 peak measured in the same run, and OpenBLAS (SGEMV for
 * n = 1, SGEMM otherwise) as the in-run peer. */
#include "bench_kernels.h"

#include "backends/cpu/cpu_kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TERN_CPU_HAVE_BLAS
#include <cblas.h>
#endif

typedef struct lin_ctx {
  const tern_cpu_linear *l;
  const float *x;
  float *y;
  int64_t n;
  int threads;
} lin_ctx;

static void lin_run(void *p) {
  lin_ctx *c = p;
  tern_err err;
  tern_cpu_linear_run(c->l, c->x, c->n, c->y, c->threads, &err);
}

#ifdef TERN_CPU_HAVE_BLAS
typedef struct blas_ctx {
  const float *w, *x;
  float *y;
  int64_t m, n, k;
} blas_ctx;

static void blas_run(void *p) {
  blas_ctx *c = p;
  if (c->n == 1)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)c->m, (int)c->k, 1.0f, c->w,
                (int)c->k, c->x, 1, 0.0f, c->y, 1);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)c->n, (int)c->m,
                (int)c->k, 1.0f, c->x, (int)c->k, c->w, (int)c->k, 0.0f, c->y,
                (int)c->m);
}
#endif

static size_t wbytes(tern_dtype d, bench_shape s) {
  return d == TERN_DTYPE_TERNARY ? (size_t)(s.m * ((s.k + 3) / 4))
         : d == TERN_DTYPE_I8    ? (size_t)(s.m * s.k)
                                 : (size_t)(s.m * s.k) * 4;
}

/* Times one dtype at one shape into row; false when out of memory or the
 * kernel could not be built. */
static bool run_case(const bench_opts *o, tern_dtype d, bench_shape s,
                     tern_cpu_isa isa, int threads, bench_row *row) {
  size_t wb = wbytes(d, s);
  void *wd = malloc(wb);
  float *sc = malloc((size_t)s.m * sizeof(float));
  float *x = malloc((size_t)(s.n * s.k) * sizeof(float));
  float *y = malloc((size_t)(s.n * s.m) * sizeof(float));
  if (!wd || !sc || !x || !y) {
    free(wd), free(sc), free(x), free(y);
    return false;
  }
  if (d == TERN_DTYPE_F32)
    for (size_t i = 0; i < wb / 4; i++)
      ((float *)wd)[i] = (float)((int)(bench_rand() % 2001) - 1000) * 1e-3f;
  else if (d == TERN_DTYPE_I8)
    for (size_t i = 0; i < wb; i++)
      ((int8_t *)wd)[i] = (int8_t)((int)(bench_rand() % 255) - 127);
  else
    for (size_t i = 0; i < wb; i++) {
      /* four codes in {0,1,2} per byte */
      unsigned v = 0;
      for (int t = 0; t < 4; t++)
        v |= (bench_rand() % 3) << (2 * t);
      ((uint8_t *)wd)[i] = (uint8_t)v;
    }
  for (int64_t i = 0; i < s.m; i++)
    sc[i] = 0.01f;
  for (int64_t i = 0; i < s.n * s.k; i++)
    x[i] = (float)((int)(bench_rand() % 2001) - 1000) * 1e-3f;
  tern_view w;
  memset(&w, 0, sizeof w);
  w.dtype = d;
  w.ndim = 2;
  w.shape[0] = s.m;
  w.shape[1] = s.k;
  w.data = wd;
  w.scales = sc;
  w.scale_count = s.m;
  tern_cpu_linear *l = NULL;
  tern_err err;
  bool ok = false;
  if (tern_cpu_linear_create(&w, NULL, TERN_ACT_NONE, isa, &l, &err)) {
    fprintf(stderr, "tern bench: cpu %s: %s\n", tern_dtype_name(d), err.msg);
  } else {
    lin_ctx c = {l, x, y, s.n, threads};
    bench_stats st;
    bench_time_case(o, lin_run, &c,
                    2.0 * (double)s.m * (double)s.n * (double)s.k, &st);
    bench_row_finish(row, &st, (double)wb);
    ok = true;
    tern_cpu_linear_destroy(l);
  }
  free(wd), free(sc), free(x), free(y);
  return ok;
}

/* OpenBLAS's median at shape s, NAN without OpenBLAS or memory. */
static double time_blas(const bench_opts *o, bench_shape s) {
#ifdef TERN_CPU_HAVE_BLAS
  size_t nw = (size_t)(s.m * s.k);
  blas_ctx c = {malloc(nw * 4),
                malloc((size_t)(s.n * s.k) * 4),
                malloc((size_t)(s.n * s.m) * 4),
                s.m,
                s.n,
                s.k};
  if (!c.w || !c.x || !c.y) {
    free((void *)c.w), free((void *)c.x), free(c.y);
    return NAN;
  }
  for (size_t i = 0; i < nw; i++)
    ((float *)c.w)[i] = (float)(i % 17) * 0.01f;
  for (int64_t i = 0; i < s.n * s.k; i++)
    ((float *)c.x)[i] = (float)(i % 13) * 0.01f;
  bench_stats st;
  bench_time_case(o, blas_run, &c,
                  2.0 * (double)s.m * (double)s.n * (double)s.k, &st);
  free((void *)c.w), free((void *)c.x), free(c.y);
  return st.median;
#else
  (void)o, (void)s;
  return NAN;
#endif
}

int bench_kern_cpu(const bench_opts *o, bench_report *r, char *skip,
                   size_t skip_size) {
  if (!bench_device_wanted(o, "cpu:0")) {
    snprintf(skip, skip_size, "--device %s is not a CPU device", o->device);
    return 0;
  }
  int threads = o->threads ? o->threads : tern_cpu_default_threads();
  tern_cpu_isa isa = tern_cpu_isa_active();
  if (o->isa &&
      (!tern_cpu_isa_parse(o->isa, &isa) || !tern_cpu_isa_available(isa))) {
    fprintf(stderr, "tern bench: ISA '%s' is not available on this CPU\n",
            o->isa);
    return 1;
  }
#ifdef TERN_CPU_HAVE_BLAS
  openblas_set_num_threads(threads);
  r->blas_core = openblas_get_corename();
#else
  r->blas_core = "none";
#endif
  if (o->cputime)
    bench_use_cpu_time(threads);
  r->threads = threads;
  r->cpu_isa = tern_cpu_isa_name(isa);
  r->bandwidth_buffer_bytes = o->quick ? (size_t)64 << 20 : (size_t)256 << 20;
  r->read_bandwidth_gbs =
      bench_read_bandwidth(r->bandwidth_buffer_bytes, threads);
  r->int8_peak_gops = bench_int8_peak(threads, &r->int8_peak_instruction);
  r->have_machine = true;
  char kernel[48];
  snprintf(kernel, sizeof kernel, "linear-%s", tern_cpu_isa_name(isa));
  if (!bench_listed(o->only, kernel))
    return 0;
  char features[64];
  snprintf(features, sizeof features, "%s threads=%d", tern_cpu_isa_name(isa),
           threads);
  const tern_dtype dts[3] = {TERN_DTYPE_TERNARY, TERN_DTYPE_I8, TERN_DTYPE_F32};
  for (int si = 0; si < o->n_shapes; si++) {
    bench_shape s = o->shapes[si];
    double bt = time_blas(o, s);
    for (int di = 0; di < 3; di++) {
      if (!bench_listed(o->dtypes, tern_dtype_name(dts[di])))
        continue;
      bench_row *row = bench_add_row(r);
      if (!row)
        return 1;
      snprintf(row->backend, sizeof row->backend, "cpu");
      snprintf(row->device, sizeof row->device, "cpu:0");
      snprintf(row->device_name, sizeof row->device_name, "cpu");
      snprintf(row->kernel, sizeof row->kernel, "%s", kernel);
      snprintf(row->features, sizeof row->features, "%s", features);
      row->dtype = tern_dtype_name(dts[di]);
      row->s = s;
      if (!run_case(o, dts[di], s, isa, threads, row)) {
        fprintf(stderr, "tern bench: cpu case failed (out of memory?)\n");
        r->n_rows--;
        return 1;
      }
      snprintf(row->peer, sizeof row->peer, "%s",
               isnan(bt)  ? ""
               : s.n == 1 ? "openblas-sgemv"
                          : "openblas-sgemm");
      row->peer_s = bt;
      row->frac_read_bandwidth = row->weight_gbs / r->read_bandwidth_gbs;
      row->frac_int8_peak = row->gops / r->int8_peak_gops;
      if (!o->json)
        fprintf(stderr, "  cpu %s %lld,%lld,%lld done\n", row->dtype,
                (long long)s.m, (long long)s.n, (long long)s.k);
    }
  }
  return 0;
}
