/* matrix_run.c — runs the matrix: for each model and precision, the CPU
 * reference once, then every device: correctness against the reference
 * (bit-exact flag, max abs error, argmax agreement), latency at batch 1 and
 * the larger batch, throughput, memory; optional tuning first. */
#include "matrix.h"

#include "cli_common.h"
#include "core/context.h"
#include "core/tuning.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

const char *mx_status_name(mx_status s) {
  switch (s) {
  case MX_OK:
    return "ok";
  case MX_FAILED:
    return "failed";
  case MX_UNSUPPORTED:
    return "unsupported";
  case MX_NOT_AVAILABLE:
    return "not_available";
  default:
    return "skipped";
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void mx_warn(mx_report *r, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "tern matrix: warning: %s\n", msg);
  if (r->n_warnings < 8)
    snprintf(r->warnings[r->n_warnings++], sizeof r->warnings[0], "%s", msg);
}

static mx_cell *new_cell(mx_report *r) {
  if (r->n_cells == r->cap_cells) {
    int cap = r->cap_cells ? r->cap_cells * 2 : 64;
    mx_cell *c = realloc(r->cells, (size_t)cap * sizeof *c);
    if (!c)
      return NULL;
    r->cells = c;
    r->cap_cells = cap;
  }
  mx_cell *c = &r->cells[r->n_cells++];
  memset(c, 0, sizeof *c);
  c->accuracy = -1;
  snprintf(c->mode, sizeof c->mode, "inference");
  snprintf(c->input, sizeof c->input, "synthetic");
  return c;
}

static mx_tuning_row *new_tuning_row(mx_report *r) {
  if (r->n_tuning == r->cap_tuning) {
    int cap = r->cap_tuning ? r->cap_tuning * 2 : 16;
    mx_tuning_row *t = realloc(r->tuning, (size_t)cap * sizeof *t);
    if (!t)
      return NULL;
    r->tuning = t;
    r->cap_tuning = cap;
  }
  mx_tuning_row *t = &r->tuning[r->n_tuning++];
  memset(t, 0, sizeof *t);
  return t;
}

static void cell_fail(mx_cell *c, mx_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cell_fail(mx_cell *c, mx_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->reason, sizeof c->reason, fmt, ap);
  va_end(ap);
  c->status = st;
}

void mx_report_free(mx_report *r) {
  free(r->devices);
  free(r->cells);
  free(r->tuning);
  memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------- inputs */
typedef struct samples {
  int n;
  size_t elems; /* per sample */
  float *x;     /* n * elems */
  int *labels;  /* real data only */
  char kind[16];
} samples;

static void synthetic(samples *s, int n, size_t elems, uint64_t seed) {
  s->n = n;
  s->elems = elems;
  s->x = malloc((size_t)n * elems * sizeof(float));
  uint64_t st = seed * 0x9E3779B97F4A7C15ull + 7;
  for (size_t i = 0; s->x && i < (size_t)n * elems; i++) {
    st ^= st << 13;
    st ^= st >> 7;
    st ^= st << 17;
    s->x[i] = (float)(st >> 40) / 8388608.0f - 1.0f;
  }
  snprintf(s->kind, sizeof s->kind, "synthetic");
}

static bool gz_read(const char *dir, const char *base, unsigned char **out,
                    size_t *n) {
  char path[1024];
  gzFile f = NULL;
  const char *ext[] = {"", ".gz"};
  for (int i = 0; i < 2 && !f; i++) {
    snprintf(path, sizeof path, "%s/%s%s", dir, base, ext[i]);
    if (access(path, R_OK) == 0)
      f = gzopen(path, "rb");
  }
  if (!f)
    return false;
  size_t cap = 1 << 20, len = 0;
  unsigned char *b = malloc(cap);
  for (;;) {
    if (!b)
      break;
    if (len == cap) {
      unsigned char *nb = realloc(b, cap * 2);
      if (!nb) {
        free(b);
        b = NULL;
        break;
      }
      b = nb;
      cap *= 2;
    }
    int got = gzread(f, b + len, (unsigned)(cap - len));
    if (got <= 0)
      break;
    len += (size_t)got;
  }
  gzclose(f);
  *out = b;
  *n = len;
  return b != NULL;
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

/* The first n MNIST test images (scaled to [0, 1]) and labels. */
static bool mnist(samples *s, const char *dir, int n, char *why, size_t wn) {
  unsigned char *img = NULL, *lab = NULL;
  size_t ni = 0, nl = 0;
  if (!gz_read(dir, "t10k-images-idx3-ubyte", &img, &ni) ||
      !gz_read(dir, "t10k-labels-idx1-ubyte", &lab, &nl)) {
    snprintf(why, wn, "no t10k-images-idx3-ubyte[.gz] and labels in '%s'", dir);
    free(img);
    free(lab);
    return false;
  }
  bool ok = ni >= 16 && nl >= 8 && be32(img) == 0x803 && be32(lab) == 0x801 &&
            be32(img + 8) == 28 && be32(img + 12) == 28;
  uint32_t count = ok ? be32(img + 4) : 0;
  ok = ok && count == be32(lab + 4) && ni >= 16 + (size_t)count * 784 &&
       nl >= 8 + (size_t)count;
  if (!ok) {
    snprintf(why, wn, "'%s': not MNIST idx files (bad magic or sizes)", dir);
    free(img);
    free(lab);
    return false;
  }
  /* the fixed test split (8000..9999 of t10k): never trained on */
  uint32_t first = count - count / 5;
  if (count / 5 == 0)
    first = 0;
  if ((uint32_t)n > count - first)
    n = (int)(count - first);
  s->n = n;
  s->elems = 784;
  s->x = malloc((size_t)n * 784 * sizeof(float));
  s->labels = malloc((size_t)n * sizeof(int));
  for (size_t i = 0; s->x && i < (size_t)n * 784; i++)
    s->x[i] = img[16 + (size_t)first * 784 + i] / 255.0f;
  for (int i = 0; s->labels && i < n; i++)
    s->labels[i] = lab[8 + first + (uint32_t)i];
  snprintf(s->kind, sizeof s->kind, "mnist");
  free(img);
  free(lab);
  return s->x && s->labels;
}

/* ------------------------------------------------------------- running */
/* Run `s` over all samples in batches of `batch`; out: n * out_elems. The
 * last batch is padded by repeating sample 0. */
static tern_status run_all(tern_session *ss, const samples *sm, int64_t batch,
                           size_t out_elems, float *out) {
  size_t in_n = (size_t)batch * sm->elems;
  float *in = malloc(in_n * sizeof(float));
  float *o = malloc((size_t)batch * out_elems * sizeof(float));
  tern_status s = in && o ? TERN_OK : TERN_ERR_OUT_OF_MEMORY;
  for (int i0 = 0; !s && i0 < sm->n; i0 += (int)batch) {
    for (int64_t b = 0; b < batch; b++) {
      int src = i0 + (int)b < sm->n ? i0 + (int)b : 0;
      memcpy(in + b * sm->elems, sm->x + (size_t)src * sm->elems,
             sm->elems * sizeof(float));
    }
    if ((s = tern_session_set_input(ss, 0, in, in_n)) ||
        (s = tern_session_run(ss)) ||
        (s = tern_session_get_output(ss, 0, o, (size_t)batch * out_elems)))
      break;
    for (int64_t b = 0; b < batch && i0 + b < sm->n; b++)
      memcpy(out + (size_t)(i0 + b) * out_elems, o + b * out_elems,
             out_elems * sizeof(float));
  }
  free(in);
  free(o);
  return s;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Latency of set_input + run + get_output, repeated for about time_s. */
static tern_status time_session(tern_session *ss, const samples *sm,
                                int64_t batch, size_t out_elems, double time_s,
                                int max_runs, double *median, double *p95,
                                int *runs) {
  size_t in_n = (size_t)batch * sm->elems;
  float *in = malloc(in_n * sizeof(float));
  float *o = malloc((size_t)batch * out_elems * sizeof(float));
  double *t = malloc((size_t)(max_runs > 3 ? max_runs : 3) * sizeof(double));
  tern_status s = in && o && t ? TERN_OK : TERN_ERR_OUT_OF_MEMORY;
  for (int64_t b = 0; in && b < batch; b++)
    memcpy(in + b * sm->elems, sm->x + (size_t)(b % sm->n) * sm->elems,
           sm->elems * sizeof(float));
  int n = 0;
  double start = now_s();
  for (int k = -1; !s && (k < 3 || now_s() - start < time_s) && n < max_runs;
       k++) {
    double t0 = now_s();
    if ((s = tern_session_set_input(ss, 0, in, in_n)) ||
        (s = tern_session_run(ss)) ||
        (s = tern_session_get_output(ss, 0, o, (size_t)batch * out_elems)))
      break;
    if (k >= 0) /* the first run warms caches and pipelines */
      t[n++] = (now_s() - t0) * 1e3;
    else
      start = now_s();
  }
  if (!s && n > 0) {
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    *median = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    int r95 = (int)ceil(0.95 * n) - 1; /* nearest rank */
    *p95 = t[r95 < 0 ? 0 : r95];
    *runs = n;
  }
  free(in);
  free(o);
  free(t);
  return s;
}

static int argmax(const float *v, size_t n) {
  int best = 0;
  for (size_t i = 1; i < n; i++)
    if (v[i] > v[best])
      best = (int)i;
  return best;
}

static bool graph_quantized(const tern_graph *g) {
  int n = tern_graph_tensor_count(g);
  for (int i = 0; i < n; i++) {
    tern_tensor_info ti;
    memset(&ti, 0, sizeof ti);
    ti.size = sizeof ti;
    if (tern_graph_tensor_info(g, i, &ti) == TERN_OK &&
        ti.kind == TERN_TENSOR_CONSTANT &&
        (ti.dtype == TERN_DTYPE_I8 || ti.dtype == TERN_DTYPE_TERNARY))
      return true;
  }
  return false;
}

static tern_status open_session(tern_context *ctx, const tern_graph *g,
                                const char *dev, int64_t batch, bool reference,
                                tern_session **out) {
  tern_session_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.device = dev;
  d.batch = batch;
  d.reference = reference;
  return tern_session_create(ctx, g, &d, out);
}

typedef struct mx_job {
  const mx_options *o;
  mx_report *r;
  tern_context *ctx;
  int cell_no, cells_total;
} mx_job;

/* A context with the CPU and the backend of `backend` only (children open
 * just what their cell needs). */
static tern_status open_context(const mx_options *o, const char *backend,
                                tern_context **out) {
  tern_context_desc cd;
  memset(&cd, 0, sizeof cd);
  cd.size = sizeof cd;
  cd.thread_count = o->threads;
  cd.tuning_db_path = o->tuning_db;
  cd.backends = backend;
  return tern_context_create(&cd, out);
}

/* One device of one (model, precision) on context ctx: fills c. */
static void run_cell(mx_job *j, tern_context *ctx, const tern_graph *g,
                     const samples *sm, const float *ref, size_t out_elems,
                     int dev, mx_cell *c) {
  const mx_options *o = j->o;
  const tern_device_info *di = &j->r->devices[dev];
  snprintf(c->device, sizeof c->device, "%s", di->id);
  snprintf(c->backend, sizeof c->backend, "%s", di->backend);
  snprintf(c->device_name, sizeof c->device_name, "%s", di->name);
  snprintf(c->input, sizeof c->input, "%s", sm->kind);
  c->batch = o->batch;
  c->quantized = graph_quantized(g);
  double t0 = now_s();
  tern_session *sb = NULL, *s1 = NULL;
  float *got = malloc((size_t)sm->n * out_elems * sizeof(float));
  tern_status st = got ? open_session(ctx, g, di->id, o->batch, false, &sb)
                       : TERN_ERR_OUT_OF_MEMORY;
  if (st) {
    cell_fail(c, st == TERN_ERR_UNSUPPORTED ? MX_UNSUPPORTED : MX_FAILED,
              "cannot compile for %s: %s", di->id, tern_last_error());
    goto done;
  }
  if ((st = run_all(sb, sm, o->batch, out_elems, got))) {
    cell_fail(c, MX_FAILED, "running on %s: %s", di->id,
              tern_session_errmsg(sb));
    goto done;
  }
  size_t total = (size_t)sm->n * out_elems;
  double maxref = 0, maxerr = 0;
  bool finite = true;
  for (size_t i = 0; i < total; i++) {
    maxref = fmax(maxref, fabs(ref[i]));
    double d = fabs((double)got[i] - ref[i]);
    if (!isfinite(got[i]))
      finite = false;
    else
      maxerr = fmax(maxerr, d);
  }
  int agree = 0, correct = 0;
  for (int i = 0; i < sm->n; i++) {
    int a = argmax(got + (size_t)i * out_elems, out_elems);
    agree += a == argmax(ref + (size_t)i * out_elems, out_elems);
    if (sm->labels)
      correct += a == sm->labels[i];
  }
  c->has_accuracy = 1;
  c->bit_exact = memcmp(got, ref, total * sizeof(float)) == 0;
  c->max_abs_err = finite ? maxerr : INFINITY;
  c->agreement = sm->n ? (double)agree / sm->n : 0;
  c->samples = sm->n;
  c->accuracy = sm->labels && sm->n ? (double)correct / sm->n : -1;
  /* the contract: quantized models are bit-identical on every device;
   * float models stay within a relative tolerance of the reference */
  if (c->quantized && !c->bit_exact)
    cell_fail(c, MX_FAILED,
              "quantized model is not bit-identical to the CPU reference "
              "(max abs error %.3g)",
              c->max_abs_err);
  else if (!c->quantized && !(maxerr <= 1e-3 * (1.0 + maxref) && finite))
    cell_fail(c, MX_FAILED,
              "output differs from the CPU reference by %.3g (tolerance "
              "%.3g)",
              c->max_abs_err, 1e-3 * (1.0 + maxref));
  double med, p95;
  int runs;
  if ((st = time_session(sb, sm, o->batch, out_elems, o->time_s, o->max_runs,
                         &med, &p95, &runs))) {
    cell_fail(c, MX_FAILED, "timing batch %lld: %s", (long long)o->batch,
              tern_session_errmsg(sb));
    goto done;
  }
  c->latn_median_ms = med;
  c->latn_p95_ms = p95;
  c->runsn = runs;
  c->throughput_sps = med > 0 ? (double)o->batch / (med * 1e-3) : 0;
  if ((st = open_session(ctx, g, di->id, 1, false, &s1)) ||
      (st = time_session(s1, sm, 1, out_elems, o->time_s, o->max_runs, &med,
                         &p95, &runs))) {
    cell_fail(c, MX_FAILED, "batch 1 on %s: %s", di->id, tern_last_error());
    goto done;
  }
  c->lat1_median_ms = med;
  c->lat1_p95_ms = p95;
  c->runs1 = runs;
  c->has_timing = 1;
  tern_session_info info;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (tern_session_get_info(s1, &info) == TERN_OK) {
    c->weight_bytes = info.weight_bytes;
    c->peak_activation_bytes = info.peak_activation_bytes;
    c->nodes = info.node_count;
    c->fallback_nodes = info.fallback_count;
  }
done:
  tern_session_destroy(sb);
  tern_session_destroy(s1);
  free(got);
  c->seconds = now_s() - t0;
}

typedef struct cell_arg {
  mx_job *j;
  const tern_graph *g;
  const samples *sm;
  const float *ref;
  size_t out_elems;
  int dev;
  mx_cell cell;
} cell_arg;

/* In the child: a context of its own (a driver's state never crosses
 * fork), then the cell, written back as the raw struct. */
static void cell_child(void *arg, int fd) {
  cell_arg *a = arg;
  /* fault injection for the tests: cell N (1-based) crashes */
  const char *fault = getenv("TERN_MATRIX_CRASH_CELL");
  if (fault && atoi(fault) == a->j->cell_no + 1) {
    signal(SIGSEGV, SIG_DFL); /* a real crash, even under sanitizers */
    raise(SIGSEGV);
  }
  tern_context *ctx = NULL;
  const tern_device_info *di = &a->j->r->devices[a->dev];
  if (open_context(a->j->o, di->backend, &ctx))
    cell_fail(&a->cell, MX_FAILED, "opening %s: %s", di->backend,
              tern_last_error());
  else
    run_cell(a->j, ctx, a->g, a->sm, a->ref, a->out_elems, a->dev, &a->cell);
  tern_context_destroy(ctx);
  mx_write_all(fd, &a->cell, sizeof a->cell);
}

static void progress(mx_job *j, const mx_cell *c) {
  j->cell_no++;
  if (cli_verbosity() < 1)
    return;
  if (c->status == MX_OK)
    fprintf(stderr,
            "[%d/%d] %s %s%s%s %s: ok%s, agreement %.0f%%, batch 1 %.3f ms, "
            "batch %lld %.0f samples/s%s\n",
            j->cell_no, j->cells_total, c->model, c->precision,
            strcmp(c->mode, "inference") ? " " : "",
            strcmp(c->mode, "inference") ? c->mode : "", c->device,
            c->bit_exact ? ", bit-exact" : "", c->agreement * 100,
            c->lat1_median_ms, (long long)c->batch, c->throughput_sps,
            c->fallback_nodes ? " (some nodes on the CPU)" : "");
  else
    fprintf(stderr, "[%d/%d] %s %s%s%s %s: %s: %s\n", j->cell_no,
            j->cells_total, c->model, c->precision,
            strcmp(c->mode, "inference") ? " " : "",
            strcmp(c->mode, "inference") ? c->mode : "", c->device,
            mx_status_name(c->status), c->reason);
}

/* All devices for one graph. */
static void run_graph(mx_job *j, const char *model, const char *source,
                      const char *mode, const char *precision,
                      const tern_graph *g, const char *build_error,
                      int n_samples) {
  const mx_options *o = j->o;
  mx_report *r = j->r;
  samples sm;
  memset(&sm, 0, sizeof sm);
  float *ref = NULL;
  size_t out_elems = 0;
  char why[320] = "";
  if (!g) {
    snprintf(why, sizeof why, "%s", build_error);
  } else {
    int nd;
    int64_t shape[TERN_MAX_DIMS];
    int id;
    tern_tensor_info ti;
    memset(&ti, 0, sizeof ti);
    ti.size = sizeof ti;
    if (tern_graph_input_count(g) != 1 || tern_graph_output_count(g) < 1) {
      snprintf(why, sizeof why,
               "the matrix runs models with one input (this one has %d)",
               tern_graph_input_count(g));
    } else if (tern_graph_input(g, 0, &id) ||
               tern_graph_tensor_info(g, id, &ti)) {
      snprintf(why, sizeof why, "%s", tern_last_error());
    } else {
      size_t elems = 1;
      for (int i = 1; i < ti.ndim; i++)
        elems *= (size_t)ti.shape[i];
      bool real = false;
      if (o->data && elems == 784) {
        real = mnist(&sm, o->data, n_samples, why, sizeof why);
        if (!real)
          fprintf(stderr, "tern matrix: warning: %s; using synthetic inputs\n",
                  why);
        why[0] = 0;
      }
      if (!real)
        synthetic(&sm, n_samples, elems, o->seed);
      tern_session *rs = NULL;
      tern_status s = open_session(j->ctx, g, NULL, o->batch, true, &rs);
      if (!s)
        s = tern_session_output_shape(rs, 0, &nd, shape);
      if (!s) {
        out_elems = 1;
        for (int i = 1; i < nd; i++)
          out_elems *= (size_t)shape[i];
        ref = malloc((size_t)sm.n * out_elems * sizeof(float));
        s = ref && sm.x ? run_all(rs, &sm, o->batch, out_elems, ref)
                        : TERN_ERR_OUT_OF_MEMORY;
      }
      if (s)
        snprintf(why, sizeof why, "the CPU reference failed: %s",
                 rs ? tern_session_errmsg(rs) : tern_last_error());
      tern_session_destroy(rs);
    }
  }
  for (int d = 0; d < r->n_devices; d++) {
    mx_cell *c = new_cell(r);
    if (!c)
      break;
    snprintf(c->model, sizeof c->model, "%s", model);
    snprintf(c->source, sizeof c->source, "%s", source);
    snprintf(c->precision, sizeof c->precision, "%s", precision);
    snprintf(c->mode, sizeof c->mode, "%s", mode);
    snprintf(c->device, sizeof c->device, "%s", r->devices[d].id);
    snprintf(c->backend, sizeof c->backend, "%s", r->devices[d].backend);
    snprintf(c->device_name, sizeof c->device_name, "%s", r->devices[d].name);
    c->batch = o->batch;
    if (why[0]) {
      cell_fail(c, MX_FAILED, "%s", why);
    } else {
      cell_arg a = {j, g, &sm, ref, out_elems, d, *c};
      mx_buf res = {0};
      char cwhy[256];
      if (mx_isolated(cell_child, &a, !o->no_isolate, o->cell_timeout, &res,
                      cwhy, sizeof cwhy))
        cell_fail(c, MX_FAILED, "%s", cwhy);
      else if (res.n != sizeof *c)
        cell_fail(c, MX_FAILED, "the cell returned no result");
      else
        memcpy(c, res.p, sizeof *c);
      mx_buf_free(&res);
    }
    progress(j, c);
  }
  free(ref);
  free(sm.x);
  free(sm.labels);
}

/* ------------------------------------------------------------- tuning */
static void tune_progress(void *user, const tern_tune_progress *p) {
  (void)user;
  if (cli_verbosity() < 1)
    return;
  if (p->candidate == p->candidates || p->candidate % 8 == 1)
    fprintf(stderr,
            "tune %s %s %s [%d/%d] candidate %d/%d: best %.1f us (%.0f s)\n",
            p->device, p->kernel, p->shape, p->problem, p->problems,
            p->candidate, p->candidates, p->best_us, p->elapsed_s);
}

typedef struct tune_arg {
  mx_job *j;
  int dev;
} tune_arg;

/* In a child: tune one device, save the database when a path was given,
 * and write back the rows (count, then the rows). */
static void tune_child(void *arg, int fd) {
  tune_arg *a = arg;
  const mx_options *o = a->j->o;
  const tern_device_info *di = &a->j->r->devices[a->dev];
  tern_context *ctx = NULL;
  tern_err err;
  tern_err_clear(&err);
  int n = 0;
  tern_tune_result *res = NULL;
  tern_tuning_db *mem = NULL;
  if (open_context(o, di->backend, &ctx)) {
    fprintf(stderr, "tern matrix: warning: tuning %s: %s\n", di->id,
            tern_last_error());
  } else {
    tern_tuning_db *db = tern_context_tuning_db(ctx);
    if (!db && tern_tuning_db_create(&mem, &err) == 0)
      db = mem;
    tern_tune_options to;
    memset(&to, 0, sizeof to);
    to.budget_s = o->tune_budget;
    to.seed = o->seed;
    to.progress = tune_progress;
    if (tern_tune_device(ctx, di->id, &to, NULL, 0, db, &res, &n, &err)) {
      fprintf(stderr, "tern matrix: warning: tuning %s: %s\n", di->id, err.msg);
      n = 0;
    } else if (o->tuning_db && db && tern_tuning_db_count(db) > 0) {
      if (tern_tuning_db_save(db, o->tuning_db, &err))
        fprintf(stderr, "tern matrix: warning: %s\n", err.msg);
      else
        fprintf(stderr, "tuning results for %s saved to %s\n", di->id,
                o->tuning_db);
    }
  }
  mx_write_all(fd, &n, sizeof n);
  for (int i = 0; i < n; i++) {
    mx_tuning_row t;
    memset(&t, 0, sizeof t);
    snprintf(t.device, sizeof t.device, "%s", res[i].device);
    snprintf(t.kernel, sizeof t.kernel, "%s", res[i].kernel);
    snprintf(t.shape, sizeof t.shape, "%s", res[i].shape);
    tern_tuning_params_str(&res[i].best, t.params, sizeof t.params);
    t.default_us = res[i].default_us;
    t.tuned_us = res[i].best_us;
    snprintf(t.origin, sizeof t.origin, "this run");
    mx_write_all(fd, &t, sizeof t);
  }
  free(res);
  tern_tuning_db_destroy(mem);
  tern_context_destroy(ctx);
}

static void tuning_rows(mx_job *j) {
  mx_report *r = j->r;
  const mx_options *o = j->o;
  for (int d = 0; o->tune_budget > 0 && d < r->n_devices; d++) {
    tune_arg a = {j, d};
    mx_buf res = {0};
    char why[256];
    int n = 0;
    if (mx_isolated(tune_child, &a, !o->no_isolate, o->tune_budget + 120, &res,
                    why, sizeof why))
      mx_warn(r, "tuning %s: %s", r->devices[d].id, why);
    else if (res.n >= sizeof n)
      memcpy(&n, res.p, sizeof n);
    if (n < 0 || res.n != sizeof n + (size_t)n * sizeof(mx_tuning_row))
      n = 0;
    for (int i = 0; i < n; i++) {
      mx_tuning_row *t = new_tuning_row(r);
      if (t)
        memcpy(t, res.p + sizeof n + (size_t)i * sizeof *t, sizeof *t);
    }
    mx_buf_free(&res);
  }
  /* entries for these devices that the database had already (read again:
   * the children may have just written it) */
  tern_tuning_db *cdb = NULL;
  char *path = NULL;
  tern_err err;
  if (tern_tuning_db_open_for_context(o->tuning_db, &cdb, &path, &err))
    cdb = NULL;
  for (int i = 0; i < tern_tuning_db_count(cdb); i++) {
    const tern_tuning_entry *e = tern_tuning_db_entry(cdb, i);
    for (int d = 0; d < r->n_devices; d++) {
      const tern_device_info *di = &r->devices[d];
      if (strcmp(e->key.backend, di->backend) ||
          strcmp(e->key.device, di->name))
        continue;
      bool dup = false;
      for (int k = 0; k < r->n_tuning; k++)
        dup |= !strcmp(r->tuning[k].device, di->id) &&
               !strcmp(r->tuning[k].kernel, e->key.kernel) &&
               !strcmp(r->tuning[k].shape, e->key.shape);
      mx_tuning_row *t = dup ? NULL : new_tuning_row(r);
      if (!t)
        continue;
      snprintf(t->device, sizeof t->device, "%s", di->id);
      snprintf(t->kernel, sizeof t->kernel, "%s", e->key.kernel);
      snprintf(t->shape, sizeof t->shape, "%s", e->key.shape);
      tern_tuning_params_str(&e->params, t->params, sizeof t->params);
      t->default_us = e->default_time_us > 0 ? e->default_time_us : -1;
      t->tuned_us = e->time_us;
      snprintf(t->origin, sizeof t->origin, "database");
    }
  }
  tern_tuning_db_destroy(cdb);
  free(path);
}

/* ------------------------------------------------------------- training */
static void training_rows(mx_job *j, const char *model) {
  static const char *const modes[] = {"fp32", "ptq", "qat", "distill"};
  mx_trained t[4];
  memset(t, 0, sizeof t);
  char why[320] = "";
  int n = mx_train_modes(j->o, model, t, 4, why, sizeof why);
  if (n == 0) {
    /* nothing trained: one row per mode says why instead of vanishing */
    for (int m = 0; m < 4; m++) {
      mx_cell *c = new_cell(j->r);
      if (!c)
        return;
      snprintf(c->model, sizeof c->model, "%s", model);
      snprintf(c->source, sizeof c->source, "trained");
      snprintf(c->precision, sizeof c->precision, "%s",
               m == 0 ? "fp32" : "mixed");
      snprintf(c->mode, sizeof c->mode, "%s", modes[m]);
      snprintf(c->device, sizeof c->device, "cpu:0");
      snprintf(c->backend, sizeof c->backend, "cpu");
      snprintf(c->input, sizeof c->input, "mnist");
      c->batch = j->o->batch;
      cell_fail(c, mx_train_available() ? MX_FAILED : MX_NOT_AVAILABLE, "%s",
                why);
      progress(j, c);
    }
    j->cells_total -= 4 * j->r->n_devices - 4;
    return;
  }
  for (int i = 0; i < n; i++) {
    if (t[i].g)
      fprintf(stderr,
              "%s %s: trainer accuracy %.2f%% on the held-out "
              "images\n",
              model, t[i].mode, t[i].trainer_accuracy * 100);
    run_graph(j, model, "trained", t[i].mode, t[i].precision, t[i].g, t[i].why,
              j->o->train_samples);
    tern_graph_destroy(t[i].g);
  }
}

typedef struct train_arg {
  mx_job *j;
  const char *model;
} train_arg;

/* In a child: training (a hang or crash in the trainer must not take the
 * report with it) and the trained graphs' cells, written back raw. */
static void train_child(void *arg, int fd) {
  train_arg *a = arg;
  int first = a->j->r->n_cells;
  training_rows(a->j, a->model);
  for (int i = first; i < a->j->r->n_cells; i++)
    mx_write_all(fd, &a->j->r->cells[i], sizeof(mx_cell));
}

static void training_rows_isolated(mx_job *j, const char *model) {
  train_arg a = {j, model};
  mx_buf res = {0};
  char why[256];
  /* generous: the steps of four trainings on two cores, then the cells */
  double limit = 600 + (double)j->o->train_steps * 4 * 0.5;
  if (mx_isolated(train_child, &a, !j->o->no_isolate, limit, &res, why,
                  sizeof why) == 0 &&
      res.n % sizeof(mx_cell) == 0) {
    for (size_t k = 0; k < res.n / sizeof(mx_cell); k++) {
      mx_cell *c = new_cell(j->r);
      if (c)
        memcpy(c, res.p + k * sizeof(mx_cell), sizeof *c);
    }
    if (!j->o->no_isolate)
      j->cell_no += (int)(res.n / sizeof(mx_cell));
  } else {
    mx_cell *c = new_cell(j->r);
    if (c) {
      snprintf(c->model, sizeof c->model, "%s", model);
      snprintf(c->source, sizeof c->source, "trained");
      snprintf(c->precision, sizeof c->precision, "fp32");
      snprintf(c->mode, sizeof c->mode, "fp32");
      snprintf(c->device, sizeof c->device, "cpu:0");
      snprintf(c->backend, sizeof c->backend, "cpu");
      snprintf(c->input, sizeof c->input, "mnist");
      c->batch = j->o->batch;
      cell_fail(c, MX_FAILED, "training: %s", why);
      progress(j, c);
    }
  }
  mx_buf_free(&res);
}

/* ------------------------------------------------------------- driver */
/* In a child: every device of every backend (count, then the infos). */
typedef struct probe_arg {
  const mx_options *o;
  const char *backends; /* NULL: every backend */
} probe_arg;

static void probe_child(void *arg, int fd) {
  probe_arg *a = arg;
  tern_context *ctx = NULL;
  int n = -1;
  if (open_context(a->o, a->backends, &ctx)) {
    fprintf(stderr, "tern matrix: error: %s\n", tern_last_error());
    mx_write_all(fd, &n, sizeof n);
    return;
  }
  n = tern_context_device_count(ctx);
  mx_write_all(fd, &n, sizeof n);
  for (int i = 0; i < n; i++) {
    tern_device_info di;
    memset(&di, 0, sizeof di);
    di.size = sizeof di;
    tern_context_device_info(ctx, i, &di);
    mx_write_all(fd, &di, sizeof di);
  }
  tern_context_destroy(ctx);
}

/* Devices of `backends` into out (appending those of that backend only when
 * only_backend is set). Returns -1 when probing crashed or hung (why set),
 * -2 when the child reported an error it printed, else the count added. */
static int probe(const mx_options *o, const char *backends, mx_buf *out,
                 char *why, size_t wn) {
  probe_arg a = {o, backends};
  mx_buf res = {0};
  int nd = 0;
  if (mx_isolated(probe_child, &a, !o->no_isolate, 120, &res, why, wn)) {
    mx_buf_free(&res);
    return -1;
  }
  if (res.n >= sizeof nd)
    memcpy(&nd, res.p, sizeof nd);
  if (nd < 0 || res.n != sizeof nd + (size_t)nd * sizeof(tern_device_info)) {
    mx_buf_free(&res);
    return -2;
  }
  int added = 0;
  for (int i = 0; i < nd; i++) {
    const tern_device_info *di =
        (const tern_device_info *)(res.p + sizeof nd) + i;
    if (backends && strcmp(di->backend, backends))
      continue; /* the CPU comes with every context: keep it once */
    mx_append(out, (const char *)di, sizeof *di);
    added++;
  }
  mx_buf_free(&res);
  return added;
}

int mx_run(const mx_options *o, mx_report *r) {
  double start = now_s();
  memset(r, 0, sizeof *r);
  r->opt = *o;
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(r->created, sizeof r->created, "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (gethostname(r->hostname, sizeof r->hostname) != 0)
    snprintf(r->hostname, sizeof r->hostname, "unknown");
  r->hostname[sizeof r->hostname - 1] = 0;
  /* every backend is probed in a child, so this process never holds GPU
   * state; when that crashes, each backend alone, and the ones that crash
   * are left out with a warning instead of ending the run */
  mx_buf probe_buf = {0};
  char why[256];
  int got = probe(o, NULL, &probe_buf, why, sizeof why);
  if (got == -2) {
    mx_buf_free(&probe_buf);
    return 1; /* the child printed why (a broken tuning database, ...) */
  }
  if (got == -1) {
    mx_warn(r, "probing all backends %s; probing them one by one", why);
    static const char *const names[] = {"cpu", "vulkan", "opencl"};
    for (int b = 0; b < 3; b++) {
      char bwhy[256];
      int k = probe(o, names[b], &probe_buf, bwhy, sizeof bwhy);
      if (k < 0)
        mx_warn(r, "backend %s left out: probing it %s", names[b],
                k == -1 ? bwhy : "failed");
    }
  }
  if (probe_buf.oom) {
    mx_buf_free(&probe_buf);
    return 1;
  }
  int nd = (int)(probe_buf.n / sizeof(tern_device_info));
  mx_buf probe = {0};
  mx_append(&probe, (const char *)&nd, sizeof nd);
  mx_append(&probe, probe_buf.p ? probe_buf.p : "", probe_buf.n);
  mx_buf_free(&probe_buf);
  if (probe.oom || nd == 0) {
    fprintf(stderr, "tern matrix: error: no device could be probed\n");
    mx_buf_free(&probe);
    return 1;
  }
  /* the CPU reference runs here */
  tern_context *ctx = NULL;
  if (open_context(o, "cpu", &ctx)) {
    fprintf(stderr, "tern matrix: error: %s\n", tern_last_error());
    mx_buf_free(&probe);
    return 1;
  }
  r->threads = tern_context_thread_count(ctx);
  r->devices = calloc((size_t)(nd > 0 ? nd : 1), sizeof *r->devices);
  if (!r->devices) {
    tern_context_destroy(ctx);
    mx_buf_free(&probe);
    return 1;
  }
  for (int i = 0; i < nd; i++) {
    tern_device_info di;
    memcpy(&di, probe.p + sizeof nd + (size_t)i * sizeof di, sizeof di);
    bool want = o->n_devices == 0;
    for (int k = 0; k < o->n_devices; k++)
      want |=
          !strcmp(o->devices[k], di.id) || !strcmp(o->devices[k], di.backend);
    if (want)
      r->devices[r->n_devices++] = di;
  }
  for (int k = 0; k < o->n_devices; k++) {
    bool found = false;
    for (int i = 0; i < r->n_devices; i++)
      found |= !strcmp(o->devices[k], r->devices[i].id) ||
               !strcmp(o->devices[k], r->devices[i].backend);
    if (!found) {
      fprintf(stderr,
              "tern matrix: error: no device '%s' (see `tern devices`)\n",
              o->devices[k]);
      tern_context_destroy(ctx);
      mx_buf_free(&probe);
      return 1;
    }
  }
  mx_buf_free(&probe);
  if (cli_verbosity() >= 1) {
    fprintf(stderr, "tern matrix: %d device(s):", r->n_devices);
    for (int i = 0; i < r->n_devices; i++)
      fprintf(stderr, " %s (%s)", r->devices[i].id, r->devices[i].name);
    fprintf(stderr, "\n");
  }
  mx_job j = {o, r, ctx, 0, 0};
  j.cells_total = (o->n_models * o->n_precisions + o->n_files) * r->n_devices +
                  (o->data ? 4 * o->n_train_models * r->n_devices : 0);
  tuning_rows(&j);
  for (int m = 0; m < o->n_models; m++)
    for (int p = 0; p < o->n_precisions; p++) {
      tern_graph *g = NULL;
      char why[320] = "";
      mx_build_model(o->models[m], o->precisions[p], o->seed, &g, why,
                     sizeof why);
      run_graph(&j, o->models[m], "zoo", "inference", o->precisions[p], g, why,
                o->samples);
      tern_graph_destroy(g);
    }
  for (int f = 0; f < o->n_files; f++) {
    tern_graph *g = NULL;
    char why[320] = "";
    if (tern_graph_load(o->files[f], NULL, &g))
      snprintf(why, sizeof why, "%s", tern_last_error());
    const char *base = strrchr(o->files[f], '/');
    run_graph(&j, base ? base + 1 : o->files[f], "file", "inference", "file", g,
              why, o->samples);
    tern_graph_destroy(g);
  }
  if (o->data)
    for (int m = 0; m < o->n_train_models; m++)
      training_rows_isolated(&j, o->train_models[m]);
  tern_context_destroy(ctx);
  r->elapsed_s = now_s() - start;
  return 0;
}
