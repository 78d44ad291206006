/* bench_kernels.c — the kernel benchmark's harness (`tern bench kernels`,
 * bench_kernels, bench_vulkan, bench_opencl): options, the shapes, the
 * timing policy, and the rows of every backend module written as one table
 * or one JSON document (schema in docs/BENCH.md). Shapes are m,n,k = output
 * rows, batch, reduction (y[n][m] = x[n][k]·W[m][k]). */
#include "bench_kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the same shapes on every backend: decode GEMVs, a prefill GEMM, squares */
static const bench_shape k_default_shapes[] = {{4096, 1, 4096},
                                               {4096, 1, 14336},
                                               {4096, 512, 14336},
                                               {1024, 1024, 1024},
                                               {256, 256, 4096}};
static const bench_shape k_quick_shapes[] = {{1024, 1, 1024}, {512, 64, 1024}};

static const struct {
  const char *name;
  bench_backend_fn run;
} k_backends[] = {{"cpu", bench_kern_cpu},
                  {"vulkan", bench_kern_vulkan},
                  {"opencl", bench_kern_opencl}};
#define N_BACKENDS 3

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: tern bench kernels [--backend cpu|vulkan|opencl|all] "
      "[--device ID]\n"
      "                          [--json] [--quick] [--reps N] [--cputime]\n"
      "                          [--shapes m,n,k;m,n,k...] "
      "[--dtypes ternary,i8,f32]\n"
      "                          [--only kernel,...] [--threads N]\n"
      "                          [--isa scalar|avx2|avx512|neon]\n\n"
      "Times the linear kernels of each backend: y[n][m] = x[n][k] . W[m][k] "
      "(m\noutput rows, n batch rows, k reduction) with ternary, int8 and f32 "
      "weights,\nmedian and p95 of repeated runs after warm-up, GOPS "
      "(2*m*n*k per run),\neffective weight GB/s and the ratio to an in-run "
      "peer at the same shape:\nOpenBLAS SGEMV/SGEMM (cpu), the backend's "
      "own f32 shader (vulkan), CLBlast\nSGEMV/SGEMM (opencl). The CPU rows "
      "also give the fraction of this machine's\nread bandwidth and int8 "
      "multiply-add peak, both measured here.\n"
      "--backend: default cpu (or the one --device names). --device: a "
      "device id\n(cpu:0, vulkan:0, opencl:1); default every device of the "
      "backend.\n--quick: small shapes, few runs (CI). --json: one JSON "
      "document on stdout.\n--reps N: exactly N timed runs per case. "
      "--cputime: process CPU time / threads\ninstead of the wall clock (a "
      "machine shared with other work).\n--only: kernel names as the table "
      "prints them. --threads, --isa: CPU only\n(default threads: "
      "TERN_THREADS or the core count).\n");
}

static bool parse_shapes(const char *s, bench_opts *o) {
  o->n_shapes = 0;
  while (*s) {
    long long m, n, k;
    int used = 0;
    if (sscanf(s, "%lld,%lld,%lld%n", &m, &n, &k, &used) != 3 || m <= 0 ||
        n <= 0 || k <= 0 || o->n_shapes >= BENCH_MAX_SHAPES)
      return false;
    o->shapes[o->n_shapes++] = (bench_shape){m, n, k};
    s += used;
    while (*s == ';' || *s == ' ' || *s == ':')
      s++;
  }
  return o->n_shapes > 0;
}

/* Returns 0, or 2 on a usage error; *help set for --help, *which the
 * backend mask. */
static int parse(int argc, char **argv, bench_opts *o, bool *help,
                 unsigned *which) {
  memset(o, 0, sizeof *o);
  o->dtypes = "ternary,i8,f32";
  *help = false;
  *which = 0;
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
      *help = true;
    else if ((!strcmp(a, "--threads") || !strcmp(a, "--reps")) && v) {
      int n = atoi(v);
      i++;
      if (n <= 0) {
        fprintf(stderr, "tern bench kernels: %s needs a positive number\n", a);
        return 2;
      }
      *(a[2] == 't' ? &o->threads : &o->reps) = n;
    } else if (!strcmp(a, "--shapes") && v) {
      if (!parse_shapes(v, o)) {
        fprintf(stderr,
                "tern bench kernels: bad --shapes '%s' (want m,n,k;m,n,k)\n",
                v);
        return 2;
      }
      i++;
    } else if (!strcmp(a, "--dtypes") && v) {
      o->dtypes = v;
      i++;
    } else if (!strcmp(a, "--only") && v) {
      o->only = v;
      i++;
    } else if (!strcmp(a, "--isa") && v) {
      o->isa = v;
      i++;
    } else if (!strcmp(a, "--device") && v) {
      o->device = v;
      i++;
    } else if (!strcmp(a, "--backend") && v) {
      i++;
      bool found = false;
      for (int b = 0; b < N_BACKENDS; b++)
        if (!strcmp(v, "all") || !strcmp(v, k_backends[b].name)) {
          *which |= 1u << b;
          found = true;
        }
      if (!found) {
        fprintf(stderr,
                "tern bench kernels: unknown backend '%s' (cpu, vulkan, "
                "opencl, all)\n",
                v);
        return 2;
      }
    } else {
      fprintf(stderr, "tern bench kernels: unknown option '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (!*which) {
    /* the backend the device id names, else the CPU */
    *which = 1;
    for (int b = 0; o->device && b < N_BACKENDS; b++) {
      size_t n = strlen(k_backends[b].name);
      if (!strncmp(o->device, k_backends[b].name, n) &&
          (o->device[n] == ':' || o->device[n] == 0))
        *which = 1u << b;
    }
  }
  if (!o->n_shapes) {
    const bench_shape *src = o->quick ? k_quick_shapes : k_default_shapes;
    o->n_shapes = o->quick ? 2 : 5;
    memcpy(o->shapes, src, (size_t)o->n_shapes * sizeof(bench_shape));
  }
  return 0;
}

/* ------------------------------------------------ helpers for the modules */
static uint64_t g_rng = 0x1234567887654321ull;
uint32_t bench_rand(void) {
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return (uint32_t)((g_rng * 0x2545F4914F6CDD1Dull) >> 32);
}

bench_row *bench_add_row(bench_report *r) {
  if (r->n_rows == r->cap_rows) {
    int cap = r->cap_rows ? 2 * r->cap_rows : 64;
    bench_row *p = realloc(r->rows, (size_t)cap * sizeof *p);
    if (!p)
      return NULL;
    r->rows = p;
    r->cap_rows = cap;
  }
  bench_row *row = &r->rows[r->n_rows++];
  memset(row, 0, sizeof *row);
  row->median_s = row->p95_s = row->gops = row->weight_gbs = NAN;
  row->peer_s = row->frac_read_bandwidth = row->frac_int8_peak = NAN;
  row->wrong_values = -1;
  row->device_s = row->peer_device_s = NAN;
  return row;
}

void bench_row_finish(bench_row *row, const bench_stats *st, double wbytes) {
  double ops = 2.0 * (double)row->s.m * (double)row->s.n * (double)row->s.k;
  row->median_s = st->median;
  row->p95_s = st->p95;
  row->reps = st->reps;
  row->gops = ops / st->median * 1e-9;
  row->weight_gbs = wbytes / st->median * 1e-9;
}

void bench_time_case(const bench_opts *o, void (*fn)(void *ctx), void *ctx,
                     double ops, bench_stats *st) {
  if (o->reps) {
    bench_measure(fn, ctx, 1, o->reps, o->reps, 0, st);
    return;
  }
  if (o->quick) {
    bench_measure(fn, ctx, 1, 3, 20, 0.05, st);
    return;
  }
  /* about 0.3 s per case and at least 3 runs after 2 warm-ups; cases over
   * 10 GOP get 2 or 3 runs, and a case whose first run took over 5 s (a
   * software device at a large shape) only one more */
  double t0 = bench_now_s();
  fn(ctx);
  double first = bench_now_s() - t0;
  if (first > 5.0)
    bench_measure(fn, ctx, 0, 1, 1, 0, st);
  else if (ops > 1e10)
    bench_measure(fn, ctx, 0, 2, 3, 0, st);
  else
    bench_measure(fn, ctx, 1, 3, 200, 0.3, st);
}

bool bench_listed(const char *list, const char *name) {
  if (!list)
    return true;
  size_t n = strlen(name);
  for (const char *p = list; (p = strstr(p, name)); p += n)
    if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
      return true;
  return false;
}

bool bench_device_wanted(const bench_opts *o, const char *id) {
  if (!o->device)
    return true;
  if (!strcmp(o->device, id))
    return true;
  /* "cpu" for "cpu:0" */
  size_t n = strlen(o->device);
  return !strncmp(o->device, id, n) && !strcmp(id + n, ":0");
}

/* ------------------------------------------------------------- output */
typedef struct backend_status {
  const char *name;
  const char *status; /* ok, skipped, failed */
  char reason[160];
} backend_status;

static void fmt_time(char *buf, size_t n, double s) {
  if (isnan(s))
    snprintf(buf, n, "-");
  else if (s < 1e-3)
    snprintf(buf, n, "%.1f us", s * 1e6);
  else
    snprintf(buf, n, "%.2f ms", s * 1e3);
}

static void write_json(const bench_opts *o, const bench_report *r,
                       const backend_status *bs, int nbs) {
  bench_json j;
  bj_begin(&j, stdout);
  bj_obj(&j, NULL);
  bj_str(&j, "benchmark", "kernels");
  bj_int(&j, "schema_version", 1);
  bj_str(&j, "clock", o->cputime ? "process-cpu/threads" : "wall");
  bj_bool(&j, "quick", o->quick);
  if (r->have_machine) {
    bj_obj(&j, "machine");
    bj_str(&j, "cpu_isa", r->cpu_isa);
    bj_int(&j, "threads", r->threads);
    bj_str(&j, "blas_core", r->blas_core);
    bj_num(&j, "read_bandwidth_gbs", r->read_bandwidth_gbs);
    bj_int(&j, "read_bandwidth_buffer_bytes",
           (long long)r->bandwidth_buffer_bytes);
    bj_num(&j, "int8_peak_gops", r->int8_peak_gops);
    bj_str(&j, "int8_peak_instruction", r->int8_peak_instruction);
    bj_end_obj(&j);
  } else {
    bj_null(&j, "machine");
  }
  bj_arr(&j, "backends");
  for (int i = 0; i < nbs; i++) {
    bj_obj(&j, NULL);
    bj_str(&j, "backend", bs[i].name);
    bj_str(&j, "status", bs[i].status);
    if (bs[i].reason[0])
      bj_str(&j, "reason", bs[i].reason);
    bj_end_obj(&j);
  }
  bj_end_arr(&j);
  bj_arr(&j, "results");
  for (int i = 0; i < r->n_rows; i++) {
    const bench_row *w = &r->rows[i];
    bj_obj(&j, NULL);
    bj_str(&j, "backend", w->backend);
    bj_str(&j, "device", w->device);
    bj_str(&j, "device_name", w->device_name);
    bj_str(&j, "kernel", w->kernel);
    bj_str(&j, "features", w->features);
    bj_str(&j, "dtype", w->dtype);
    bj_int(&j, "m", w->s.m);
    bj_int(&j, "n", w->s.n);
    bj_int(&j, "k", w->s.k);
    bj_int(&j, "reps", w->reps);
    bj_num(&j, "median_us", w->median_s * 1e6);
    bj_num(&j, "p95_us", w->p95_s * 1e6);
    bj_num(&j, "gops", w->gops);
    bj_num(&j, "weight_gbs", w->weight_gbs);
    if (w->peer[0]) {
      bj_str(&j, "peer", w->peer);
      bj_num(&j, "peer_us", w->peer_s * 1e6);
      bj_num(&j, "speedup_vs_peer", w->peer_s / w->median_s);
    } else {
      bj_null(&j, "peer");
      bj_null(&j, "peer_us");
      bj_null(&j, "speedup_vs_peer");
    }
    bj_num(&j, "device_us", w->device_s * 1e6);
    bj_num(&j, "peer_device_us", w->peer_device_s * 1e6);
    bj_num(&j, "frac_read_bandwidth", w->frac_read_bandwidth);
    bj_num(&j, "frac_int8_peak", w->frac_int8_peak);
    if (w->wrong_values >= 0)
      bj_int(&j, "peer_wrong_values", w->wrong_values);
    bj_end_obj(&j);
  }
  bj_end_arr(&j);
  bj_end_obj(&j);
}

static void write_table(const bench_opts *o, const bench_report *r,
                        const backend_status *bs, int nbs) {
  printf("tern bench kernels: clock=%s%s\n",
         o->cputime ? "process-cpu/threads" : "wall",
         o->quick ? " (quick)" : "");
  if (r->have_machine)
    printf("cpu: isa=%s threads=%d openblas=%s; read bandwidth %.1f GB/s "
           "(%zu MiB buffer), int8 peak %.0f GOPS (%s)\n",
           r->cpu_isa, r->threads, r->blas_core, r->read_bandwidth_gbs,
           r->bandwidth_buffer_bytes >> 20, r->int8_peak_gops,
           r->int8_peak_instruction);
  for (int i = 0; i < nbs; i++)
    if (strcmp(bs[i].status, "ok"))
      printf("%s: %s%s%s\n", bs[i].name, bs[i].status,
             bs[i].reason[0] ? ": " : "", bs[i].reason);
  printf("\n%-9s %-22s %-7s %17s %10s %10s %8s %8s %-15s %10s %7s %6s %6s\n",
         "device", "kernel", "weights", "m,n,k", "median", "p95", "GOPS",
         "W GB/s", "peer", "peer time", "vs peer", "%BW", "%peak");
  for (int i = 0; i < r->n_rows; i++) {
    const bench_row *w = &r->rows[i];
    char sh[48], t[24], p95[24], pt[24], ratio[16] = "-", bw[16] = "-",
                                         pk[16] = "-";
    snprintf(sh, sizeof sh, "%lld,%lld,%lld", (long long)w->s.m,
             (long long)w->s.n, (long long)w->s.k);
    fmt_time(t, sizeof t, w->median_s);
    fmt_time(p95, sizeof p95, w->p95_s);
    fmt_time(pt, sizeof pt, w->peer[0] ? w->peer_s : NAN);
    if (w->peer[0] && !isnan(w->peer_s))
      snprintf(ratio, sizeof ratio, "%.2fx", w->peer_s / w->median_s);
    if (!isnan(w->frac_read_bandwidth))
      snprintf(bw, sizeof bw, "%.1f%%", 100 * w->frac_read_bandwidth);
    if (!isnan(w->frac_int8_peak))
      snprintf(pk, sizeof pk, "%.1f%%", 100 * w->frac_int8_peak);
    printf("%-9s %-22s %-7s %17s %10s %10s %8.1f %8.2f %-15s %10s %7s %6s "
           "%6s\n",
           w->device, w->kernel, w->dtype, sh, t, p95, w->gops, w->weight_gbs,
           w->peer[0] ? w->peer : "-", pt, ratio, bw, pk);
    if (w->wrong_values > 0)
      printf("          (the peer computed %d wrong values)\n",
             w->wrong_values);
  }
}

int tern_bench_kernels_main(int argc, char **argv) {
  bench_opts o;
  bool help;
  unsigned which;
  int rc = parse(argc, argv, &o, &help, &which);
  if (rc)
    return rc;
  if (help) {
    usage(stdout);
    return 0;
  }
  bench_report r;
  memset(&r, 0, sizeof r);
  backend_status bs[N_BACKENDS];
  int nbs = 0, failed = 0;
  for (int b = 0; b < N_BACKENDS; b++) {
    if (!(which & (1u << b)))
      continue;
    backend_status *s = &bs[nbs++];
    memset(s, 0, sizeof *s);
    s->name = k_backends[b].name;
    int before = r.n_rows;
    if (!o.json)
      fprintf(stderr, "tern bench kernels: %s...\n", s->name);
    if (k_backends[b].run(&o, &r, s->reason, sizeof s->reason)) {
      s->status = "failed";
      failed = 1;
    } else {
      if (r.n_rows == before && !s->reason[0])
        snprintf(s->reason, sizeof s->reason,
                 "nothing measured (no kernel selected, or every case "
                 "failed: see stderr)");
      s->status = r.n_rows == before ? "skipped" : "ok";
    }
  }
  if (o.json)
    write_json(&o, &r, bs, nbs);
  else
    write_table(&o, &r, bs, nbs);
  free(r.rows);
  return failed;
}
