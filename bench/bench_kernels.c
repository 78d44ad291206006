/* bench_kernels.c — `tern bench kernels` and the bench_kernels program: the
 * CPU linear kernels (ternary, int8, f32 weights) at GEMV and GEMM shapes,
 * median of repeated runs after warm-up, with GOPS, effective weight GB/s,
 * and, measured in the same run, the ratio to OpenBLAS (SGEMV for n = 1,
 * SGEMM otherwise) and to the machine's read bandwidth and int8 peak.
 * Shapes are m,n,k = output rows, batch, reduction (y[n][m] = x[n][k]·W[m][k]).
 */
#include "bench_kernels.h"

#include "backends/cpu/cpu_kernels.h"
#include "bench_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef TERN_CPU_HAVE_BLAS
#include <cblas.h>
#endif

typedef struct shape {
  int64_t m, n, k;
} shape;

static const shape k_default_shapes[] = {{4096, 1, 4096},
                                         {4096, 1, 14336},
                                         {4096, 512, 14336},
                                         {1024, 1024, 1024},
                                         {256, 256, 4096}};
static const shape k_quick_shapes[] = {{1024, 1, 1024}, {512, 64, 1024}};

typedef struct opts {
  bool json, quick, help, cputime;
  int threads;
  const char *isa;
  const char *dtypes;
  shape shapes[32];
  int n_shapes;
} opts;

static void usage(FILE *f) {
  fprintf(f,
          "usage: tern bench kernels [--json] [--quick] [--threads N]\n"
          "                          [--shapes m,n,k;m,n,k...] "
          "[--dtypes ternary,i8,f32]\n"
          "                          [--isa scalar|avx2|avx512|neon] "
          "[--backend cpu]\n\n"
          "Times the CPU linear kernels: y[n][m] = x[n][k] . W[m][k] (m "
          "output rows,\nn batch rows, k reduction). Median of repeated "
          "runs after warm-up.\nReports GOPS (2*m*n*k per run), effective "
          "weight GB/s, the ratio to\nOpenBLAS (SGEMV for n = 1, SGEMM "
          "otherwise) and the fraction of this\nmachine's read bandwidth and "
          "int8 multiply-add peak, both measured here.\n--quick uses small "
          "shapes and few repetitions (CI). --json writes one JSON\ndocument "
          "to stdout. Default threads: TERN_THREADS or the core count.\n"
          "--cputime times with process CPU time / threads (for a machine "
          "shared\nwith other work; the table then says so).\n");
}

static bool parse_shapes(const char *s, opts *o) {
  o->n_shapes = 0;
  while (*s) {
    long long m, n, k;
    int used = 0;
    if (sscanf(s, "%lld,%lld,%lld%n", &m, &n, &k, &used) != 3 || m <= 0 ||
        n <= 0 || k <= 0 || o->n_shapes >= 32)
      return false;
    o->shapes[o->n_shapes++] = (shape){m, n, k};
    s += used;
    while (*s == ';' || *s == ' ' || *s == ':')
      s++;
  }
  return o->n_shapes > 0;
}

static int parse(int argc, char **argv, opts *o) {
  memset(o, 0, sizeof *o);
  o->dtypes = "ternary,i8,f32";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--json"))
      o->json = true;
    else if (!strcmp(a, "--quick"))
      o->quick = true;
    else if (!strcmp(a, "--cputime"))
      o->cputime = true;
    else if (!strcmp(a, "--help") || !strcmp(a, "-h"))
      o->help = true;
    else if (!strcmp(a, "--threads") && v) {
      o->threads = atoi(v);
      i++;
      if (o->threads <= 0) {
        fprintf(stderr, "tern bench: --threads needs a positive number\n");
        return 2;
      }
    } else if (!strcmp(a, "--shapes") && v) {
      if (!parse_shapes(v, o)) {
        fprintf(stderr, "tern bench: bad --shapes '%s' (want m,n,k;m,n,k)\n",
                v);
        return 2;
      }
      i++;
    } else if (!strcmp(a, "--dtypes") && v) {
      o->dtypes = v;
      i++;
    } else if (!strcmp(a, "--isa") && v) {
      o->isa = v;
      i++;
    } else if (!strcmp(a, "--backend") && v) {
      if (strcmp(v, "cpu") != 0) {
        fprintf(stderr,
                "tern bench kernels: only --backend cpu is measured here\n");
        return 2;
      }
      i++;
    } else {
      fprintf(stderr, "tern bench kernels: unknown option '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (!o->n_shapes) {
    const shape *src = o->quick ? k_quick_shapes : k_default_shapes;
    o->n_shapes = o->quick ? 2 : 5;
    memcpy(o->shapes, src, (size_t)o->n_shapes * sizeof(shape));
  }
  return 0;
}

/* ------------------------------------------------------------ one case */
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

static uint64_t g_rng = 0x1234567887654321ull;
static uint32_t rnd(void) {
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return (uint32_t)((g_rng * 0x2545F4914F6CDD1Dull) >> 32);
}

typedef struct result {
  const char *dtype;
  shape s;
  double t, gops, wgbs, blas_t;
  bool ok;
} result;

static size_t wbytes(tern_dtype d, shape s) {
  return d == TERN_DTYPE_TERNARY ? (size_t)(s.m * ((s.k + 3) / 4))
         : d == TERN_DTYPE_I8    ? (size_t)(s.m * s.k)
                                 : (size_t)(s.m * s.k) * 4;
}

static bool run_case(tern_dtype d, shape s, tern_cpu_isa isa, int threads,
                     bool quick, double blas_t, result *r) {
  memset(r, 0, sizeof *r);
  r->dtype = tern_dtype_name(d);
  r->s = s;
  r->blas_t = blas_t;
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
      ((float *)wd)[i] = (float)((int)(rnd() % 2001) - 1000) * 1e-3f;
  else if (d == TERN_DTYPE_I8)
    for (size_t i = 0; i < wb; i++)
      ((int8_t *)wd)[i] = (int8_t)((int)(rnd() % 255) - 127);
  else
    for (size_t i = 0; i < wb; i++) {
      /* four codes in {0,1,2} per byte */
      unsigned v = 0;
      for (int t = 0; t < 4; t++)
        v |= (rnd() % 3) << (2 * t);
      ((uint8_t *)wd)[i] = (uint8_t)v;
    }
  for (int64_t i = 0; i < s.m; i++)
    sc[i] = 0.01f;
  for (int64_t i = 0; i < s.n * s.k; i++)
    x[i] = (float)((int)(rnd() % 2001) - 1000) * 1e-3f;
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
  if (tern_cpu_linear_create(&w, NULL, TERN_ACT_NONE, isa, &l, &err)) {
    fprintf(stderr, "tern bench: %s\n", err.msg);
    free(wd), free(sc), free(x), free(y);
    return false;
  }
  lin_ctx c = {l, x, y, s.n, threads};
  double ops = 2.0 * (double)s.m * (double)s.n * (double)s.k;
  /* about 0.3 s per case (0.05 s quick), at least 3 runs */
  r->t = bench_median(lin_run, &c, quick ? 1 : 2, 3, quick ? 20 : 200,
                      quick ? 0.05 : 0.3);
  r->gops = ops / r->t * 1e-9;
  r->wgbs = (double)wb / r->t * 1e-9;
  r->ok = true;
  tern_cpu_linear_destroy(l);
  free(wd), free(sc), free(x), free(y);
  return true;
}

static double time_blas(shape s, bool quick) {
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
  double t = bench_median(blas_run, &c, quick ? 1 : 2, 3, quick ? 20 : 200,
                          quick ? 0.05 : 0.3);
  free((void *)c.w), free((void *)c.x), free(c.y);
  return t;
#else
  (void)s, (void)quick;
  return NAN;
#endif
}

static bool want_dtype(const char *list, const char *name) {
  const char *p = list;
  size_t n = strlen(name);
  while ((p = strstr(p, name))) {
    bool start = p == list || p[-1] == ',';
    bool end = p[n] == 0 || p[n] == ',';
    if (start && end)
      return true;
    p += n;
  }
  return false;
}

int tern_bench_kernels_main(int argc, char **argv) {
  opts o;
  int rc = parse(argc, argv, &o);
  if (rc)
    return rc;
  if (o.help) {
    usage(stdout);
    return 0;
  }
  int threads = o.threads ? o.threads : tern_cpu_default_threads();
  tern_cpu_isa isa = tern_cpu_isa_active();
  if (o.isa) {
    if (!tern_cpu_isa_parse(o.isa, &isa) || !tern_cpu_isa_available(isa)) {
      fprintf(stderr, "tern bench: ISA '%s' is not available on this CPU\n",
              o.isa);
      return 2;
    }
  }
#ifdef TERN_CPU_HAVE_BLAS
  openblas_set_num_threads(threads);
  const char *blas_core = openblas_get_corename();
#else
  const char *blas_core = "none";
#endif
  if (o.cputime)
    bench_use_cpu_time(threads);
  const char *peak_what;
  double bw = bench_read_bandwidth(
      o.quick ? (size_t)64 << 20 : (size_t)256 << 20, threads);
  double peak = bench_int8_peak(threads, &peak_what);
  tern_dtype dts[3] = {TERN_DTYPE_TERNARY, TERN_DTYPE_I8, TERN_DTYPE_F32};
  result res[32 * 3];
  int nres = 0;
  for (int si = 0; si < o.n_shapes; si++) {
    double bt = time_blas(o.shapes[si], o.quick);
    for (int di = 0; di < 3; di++) {
      if (!want_dtype(o.dtypes, tern_dtype_name(dts[di])))
        continue;
      if (!run_case(dts[di], o.shapes[si], isa, threads, o.quick, bt,
                    &res[nres])) {
        fprintf(stderr, "tern bench: case failed (out of memory?)\n");
        return 1;
      }
      if (!o.json)
        fprintf(stderr, "  done %s %lld,%lld,%lld\n", res[nres].dtype,
                (long long)o.shapes[si].m, (long long)o.shapes[si].n,
                (long long)o.shapes[si].k);
      nres++;
    }
  }
  if (o.json) {
    bench_json j;
    bj_begin(&j, stdout);
    bj_obj(&j, NULL);
    bj_str(&j, "benchmark", "kernels");
    bj_str(&j, "backend", "cpu");
    bj_str(&j, "isa", tern_cpu_isa_name(isa));
    bj_int(&j, "threads", threads);
    bj_str(&j, "clock", o.cputime ? "process-cpu/threads" : "wall");
    bj_str(&j, "blas_core", blas_core);
    bj_num(&j, "read_bandwidth_gbs", bw);
    bj_num(&j, "int8_peak_gops", peak);
    bj_str(&j, "int8_peak_instruction", peak_what);
    bj_arr(&j, "results");
    for (int i = 0; i < nres; i++) {
      result *r = &res[i];
      bj_obj(&j, NULL);
      bj_str(&j, "dtype", r->dtype);
      bj_int(&j, "m", r->s.m);
      bj_int(&j, "n", r->s.n);
      bj_int(&j, "k", r->s.k);
      bj_num(&j, "median_us", r->t * 1e6);
      bj_num(&j, "gops", r->gops);
      bj_num(&j, "weight_gbs", r->wgbs);
      bj_num(&j, "openblas_us", r->blas_t * 1e6);
      bj_num(&j, "speedup_vs_openblas", r->blas_t / r->t);
      bj_num(&j, "frac_read_bandwidth", r->wgbs / bw);
      bj_num(&j, "frac_int8_peak", r->gops / peak);
      bj_end_obj(&j);
    }
    bj_end_arr(&j);
    bj_end_obj(&j);
    return 0;
  }
  printf("tern bench kernels: cpu isa=%s threads=%d openblas=%s clock=%s\n",
         tern_cpu_isa_name(isa), threads, blas_core,
         o.cputime ? "process-cpu/threads" : "wall");
  printf("machine: read bandwidth %.1f GB/s (%s buffer), int8 peak %.0f GOPS "
         "(%s)\n\n",
         bw, o.quick ? "64 MiB" : "256 MiB", peak, peak_what);
  printf("%-8s %17s %11s %9s %9s %11s %8s %7s %7s\n", "weights", "m,n,k",
         "median", "GOPS", "W GB/s", "OpenBLAS", "vs BLAS", "%BW", "%peak");
  for (int i = 0; i < nres; i++) {
    result *r = &res[i];
    char sh[48], t[24], bt[24];
    snprintf(sh, sizeof sh, "%lld,%lld,%lld", (long long)r->s.m,
             (long long)r->s.n, (long long)r->s.k);
    if (r->t < 1e-3)
      snprintf(t, sizeof t, "%.1f us", r->t * 1e6);
    else
      snprintf(t, sizeof t, "%.2f ms", r->t * 1e3);
    if (r->blas_t < 1e-3)
      snprintf(bt, sizeof bt, "%.1f us", r->blas_t * 1e6);
    else
      snprintf(bt, sizeof bt, "%.2f ms", r->blas_t * 1e3);
    printf("%-8s %17s %11s %9.1f %9.2f %11s %7.2fx %6.1f%% %6.1f%%\n", r->dtype,
           sh, t, r->gops, r->wgbs, bt, r->blas_t / r->t, 100 * r->wgbs / bw,
           100 * r->gops / peak);
  }
  return 0;
}
