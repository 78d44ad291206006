/* bench_kern_opencl.c — the OpenCL part of the kernel benchmark: tern's
 * linear (its own f32 panel kernel; int8 and ternary: quantize + int8
 * GEMM/GEMV) on each OpenCL device through the backend vtable, against
 * CLBlast on the same device and shape: SGEMV for n = 1 (checked against a
 * double-precision host sum), else SGEMM through the linear node. Without
 * CLBlast the peer is the backend's plain f32 kernel. A run is node_run +
 * sync, timed on the host; the profiled kernel time is measured apart. */
#include "bench_kernels.h"

#include <stdio.h>

#ifndef TERN_HAVE_OPENCL
int bench_kern_opencl(const bench_opts *o, bench_report *r, char *skip,
                      size_t skip_size) {
  (void)o, (void)r;
  snprintf(skip, skip_size, "built without the OpenCL backend");
  return 0;
}
#else
#include "backends/opencl/cl_internal.h"
#include "backends/opencl/cl_linear.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const tern_backend_vtbl *B = &tern_opencl_backend;

typedef struct run_ctx {
  tern_device *dev;
  void *prep;
  tern_buffer **bufs;
  size_t *offs;
  tern_status st;
  tern_err err;
} run_ctx;

static void run_node(void *p) {
  run_ctx *c = p;
  if (c->st)
    return;
  c->st = B->node_run(c->dev, c->prep, c->bufs, c->offs, &c->err);
  if (!c->st)
    c->st = B->sync(c->dev, &c->err);
}

/* The fastest of 3 runs of fn(ctx) as the sum of its profiled kernel times
 * (CLBlast reports only its last kernel), NAN when profiling fails or
 * records nothing. */
static double device_time(tern_device *dev, void (*fn)(void *ctx), void *ctx,
                          tern_status *st, tern_err *err) {
  double best = NAN;
  for (int i = 0; i < 3 && !*st; i++) {
    uint64_t ns = 0;
    tern_cl_profile(dev, true);
    fn(ctx);
    /* ns = 0: nothing profiled (no events recorded) */
    if (!*st && !tern_cl_profile_elapsed(dev, &ns, err) && ns > 0 &&
        !((double)ns * 1e-9 >= best))
      best = (double)ns * 1e-9;
  }
  tern_cl_profile(dev, false);
  return best;
}

/* Times linear y[n][m] = x[n][k] · W[m][k]ᵀ with weights of dt, with
 * TERN_CL_F32 = f32_impl (NULL: unchanged) while the node is prepared and
 * run. Returns the median, NAN on failure (with a message). */
static double time_linear(const bench_opts *o, tern_device *dev, tern_dtype dt,
                          bench_shape s, const char *f32_impl, bench_stats *st,
                          double *dev_s) {
  const char *prev = getenv("TERN_CL_F32");
  char *saved = prev ? strdup(prev) : NULL;
  if (f32_impl)
    setenv("TERN_CL_F32", f32_impl, 1);
  tern_exec_node node;
  memset(&node, 0, sizeof node);
  node.op = TERN_OP_LINEAR;
  node.name = "bench";
  node.n_inputs = 2;
  tern_view *x = &node.in[0], *w = &node.in[1];
  x->dtype = TERN_DTYPE_F32;
  x->ndim = 2;
  x->shape[0] = s.n;
  x->shape[1] = s.k;
  w->dtype = dt;
  w->ndim = 2;
  w->shape[0] = s.m;
  w->shape[1] = s.k;
  node.in_const[1] = true;
  node.out = *x;
  node.out.shape[1] = s.m;
  size_t wbytes = tern_dtype_bytes(dt, s.m, s.k);
  uint8_t *wd = malloc(wbytes);
  float *scales = malloc((size_t)s.m * 4),
        *xd = malloc((size_t)(s.n * s.k) * 4);
  double t = NAN;
  *dev_s = NAN;
  run_ctx c;
  memset(&c, 0, sizeof c);
  c.dev = dev;
  tern_buffer *bx = NULL, *by = NULL;
  if (!wd || !scales || !xd) {
    fprintf(stderr, "tern bench: opencl: out of memory\n");
    goto out;
  }
  if (dt == TERN_DTYPE_F32)
    for (int64_t i = 0; i < s.m * s.k; i++)
      ((float *)wd)[i] = (float)((int)(bench_rand() % 2001) - 1000) / 1000.0f;
  else if (dt == TERN_DTYPE_I8)
    for (size_t i = 0; i < wbytes; i++)
      wd[i] = (uint8_t)(bench_rand() % 255 + 129);
  else
    for (size_t i = 0; i < wbytes; i++) /* codes 0..2 in each 2-bit field */
      wd[i] = (uint8_t)((bench_rand() % 3) | (bench_rand() % 3) << 2 |
                        (bench_rand() % 3) << 4 | (bench_rand() % 3) << 6);
  for (int64_t i = 0; i < s.m; i++)
    scales[i] = 0.01f;
  for (int64_t i = 0; i < s.n * s.k; i++)
    xd[i] = (float)((int)(bench_rand() % 2001) - 1000) / 100.0f;
  w->data = wd;
  w->scales = scales;
  w->scale_count = s.m;
  if (B->node_prepare(dev, &node, &c.prep, &c.err) ||
      B->buffer_alloc(dev, (size_t)(s.n * s.k) * 4, &bx, &c.err) ||
      B->buffer_alloc(dev, (size_t)(s.n * s.m) * 4, &by, &c.err) ||
      B->buffer_write(bx, 0, xd, (size_t)(s.n * s.k) * 4, &c.err)) {
    fprintf(stderr, "tern bench: opencl: %s\n", c.err.msg);
    goto out;
  }
  tern_buffer *bufs[3] = {bx, NULL, by};
  size_t offs[3] = {0, 0, 0};
  c.bufs = bufs;
  c.offs = offs;
  /* the first run builds kernels (CLBlast's too): not part of the warm-up */
  run_node(&c);
  if (!c.st)
    bench_time_case(o, run_node, &c,
                    2.0 * (double)s.m * (double)s.n * (double)s.k, st);
  if (!c.st)
    *dev_s = device_time(dev, run_node, &c, &c.st, &c.err);
  if (c.st)
    fprintf(stderr, "tern bench: opencl: %s\n", c.err.msg);
  else
    t = st->median;
out:
  B->buffer_free(bx);
  B->buffer_free(by);
  if (c.prep)
    B->node_release(dev, c.prep);
  free(wd);
  free(scales);
  free(xd);
  if (saved)
    setenv("TERN_CL_F32", saved, 1);
  else
    unsetenv("TERN_CL_F32");
  free(saved);
  return t;
}

#ifdef TERN_HAVE_CLBLAST
typedef struct gemv_ctx {
  tern_device *dev;
  tern_buffer *w, *x, *y;
  int64_t m, k;
  tern_status st;
  tern_err err;
} gemv_ctx;

static void run_gemv(void *p) {
  gemv_ctx *c = p;
  if (c->st)
    return;
  c->st = tern_cl_sgemv(c->dev, c->m, c->k, tern_cl_mem(c->w), 0,
                        tern_cl_mem(c->x), 0, tern_cl_mem(c->y), 0, &c->err);
  if (!c->st)
    c->st = B->sync(c->dev, &c->err);
}

/* CLBlast SGEMV y = W·x on device buffers; *bad receives the outputs that
 * differ from a double-precision host sum, so a wrong peer is reported. */
static double time_sgemv(const bench_opts *o, tern_device *dev, bench_shape s,
                         int *bad, double *dev_s) {
  int64_t M = s.m, K = s.k;
  float *w = malloc((size_t)(M * K) * 4), *x = malloc((size_t)K * 4);
  float *y = malloc((size_t)M * 4);
  gemv_ctx c;
  memset(&c, 0, sizeof c);
  c.dev = dev;
  c.m = M;
  c.k = K;
  double t = NAN;
  *bad = -1;
  *dev_s = NAN;
  if (!w || !x || !y)
    goto out;
  for (int64_t i = 0; i < M * K; i++)
    w[i] = (float)((int)(bench_rand() % 2001) - 1000) / 1000.0f;
  for (int64_t i = 0; i < K; i++)
    x[i] = (float)((int)(bench_rand() % 2001) - 1000) / 100.0f;
  if (B->buffer_alloc(dev, (size_t)(M * K) * 4, &c.w, &c.err) ||
      B->buffer_alloc(dev, (size_t)K * 4, &c.x, &c.err) ||
      B->buffer_alloc(dev, (size_t)M * 4, &c.y, &c.err) ||
      B->buffer_write(c.w, 0, w, (size_t)(M * K) * 4, &c.err) ||
      B->buffer_write(c.x, 0, x, (size_t)K * 4, &c.err)) {
    fprintf(stderr, "tern bench: opencl: CLBlast SGEMV: %s\n", c.err.msg);
    goto out;
  }
  run_gemv(&c); /* builds CLBlast's kernel */
  bench_stats st;
  if (!c.st)
    bench_time_case(o, run_gemv, &c, 2.0 * (double)M * (double)K, &st);
  if (!c.st)
    *dev_s = device_time(dev, run_gemv, &c, &c.st, &c.err);
  if (c.st || B->buffer_read(c.y, 0, y, (size_t)M * 4, &c.err)) {
    fprintf(stderr, "tern bench: opencl: CLBlast SGEMV: %s\n", c.err.msg);
    goto out;
  }
  *bad = 0;
  double worst = 0, got = 0, want = 0;
  int64_t worst_at = -1;
  for (int64_t n = 0; n < M; n++) {
    double acc = 0;
    for (int64_t k = 0; k < K; k++)
      acc += (double)w[n * K + k] * (double)x[k];
    double err = fabs(acc - (double)y[n]) / (1 + fabs(acc));
    if (!(err <= 1e-3)) {
      (*bad)++;
      if (!(err <= worst)) {
        worst = err, got = y[n], want = acc, worst_at = n;
      }
    }
  }
  if (*bad)
    fprintf(stderr,
            "tern bench: opencl: CLBlast SGEMV %lld,1,%lld: %d of %lld "
            "outputs wrong (worst y[%lld] = %g, want %g)\n",
            (long long)M, (long long)K, *bad, (long long)M, (long long)worst_at,
            got, want);
  t = st.median;
out:
  B->buffer_free(c.w);
  B->buffer_free(c.x);
  B->buffer_free(c.y);
  free(w);
  free(x);
  free(y);
  return t;
}
#endif

static const struct {
  const char *kernel;
  tern_dtype dtype;
  const char *f32_impl;
} k_cases[] = {{"f32-panel", TERN_DTYPE_F32, "panel"},
               {"i8", TERN_DTYPE_I8, NULL},
               {"ternary", TERN_DTYPE_TERNARY, NULL}};

/* The rows of one opened device. */
static int bench_device(const bench_opts *o, bench_report *r, tern_device *dev,
                        const tern_device_info *info) {
  bool any = false;
  for (size_t ci = 0; ci < sizeof k_cases / sizeof k_cases[0]; ci++)
    any |= bench_listed(o->only, k_cases[ci].kernel) &&
           bench_listed(o->dtypes, tern_dtype_name(k_cases[ci].dtype));
  if (!any) /* nothing to compare the peer with */
    return 0;
  for (int si = 0; si < o->n_shapes; si++) {
    bench_shape s = o->shapes[si];
    double peer = NAN, peer_dev = NAN;
    int bad = -1;
    const char *peer_name = dev->feat.clblast ? "clblast-sgemm" : "f32-plain";
#ifdef TERN_HAVE_CLBLAST
    if (s.n == 1 && dev->feat.clblast) {
      peer = time_sgemv(o, dev, s, &bad, &peer_dev);
      peer_name = "clblast-sgemv";
    }
#endif
    if (isnan(peer)) {
      bench_stats pst;
      peer_name = dev->feat.clblast ? "clblast-sgemm" : "f32-plain";
      peer =
          time_linear(o, dev, TERN_DTYPE_F32, s,
                      dev->feat.clblast ? "clblast" : "plain", &pst, &peer_dev);
    }
    for (size_t ci = 0; ci < sizeof k_cases / sizeof k_cases[0]; ci++) {
      if (!bench_listed(o->only, k_cases[ci].kernel) ||
          !bench_listed(o->dtypes, tern_dtype_name(k_cases[ci].dtype)))
        continue;
      bench_stats st;
      double dev_s;
      double t = time_linear(o, dev, k_cases[ci].dtype, s, k_cases[ci].f32_impl,
                             &st, &dev_s);
      if (isnan(t))
        continue;
      bench_row *row = bench_add_row(r);
      if (!row)
        return 1;
      snprintf(row->backend, sizeof row->backend, "opencl");
      snprintf(row->device, sizeof row->device, "%s", info->id);
      snprintf(row->device_name, sizeof row->device_name, "%s", info->name);
      snprintf(row->kernel, sizeof row->kernel, "%s", k_cases[ci].kernel);
      snprintf(row->features, sizeof row->features, "%s", info->features);
      row->dtype = tern_dtype_name(k_cases[ci].dtype);
      row->s = s;
      bench_row_finish(row, &st,
                       (double)tern_dtype_bytes(k_cases[ci].dtype, s.m, s.k));
      row->device_s = dev_s;
      if (!isnan(peer)) {
        snprintf(row->peer, sizeof row->peer, "%s", peer_name);
        row->peer_s = peer;
        row->wrong_values = bad;
        row->peer_device_s = peer_dev;
      }
      if (!o->json)
        fprintf(stderr, "  opencl %s %-9s %lld,%lld,%lld  %10.3f ms\n",
                info->id, k_cases[ci].kernel, (long long)s.m, (long long)s.n,
                (long long)s.k, t * 1e3);
    }
  }
  return 0;
}

int bench_kern_opencl(const bench_opts *o, bench_report *r, char *skip,
                      size_t skip_size) {
  if (o->cputime) {
    /* PoCL's CPU device runs one worker per CPU */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    bench_use_cpu_time(cpus > 0 ? (int)cpus : 1);
  }
  tern_backend_ctx *ctx = NULL;
  tern_err e;
  memset(&e, 0, sizeof e);
  tern_backend_config cfg;
  memset(&cfg, 0, sizeof cfg);
  if (B->init(&cfg, &ctx, &e) || B->device_count(ctx) == 0) {
    snprintf(skip, skip_size, "no OpenCL device");
    if (ctx)
      B->shutdown(ctx);
    return 0;
  }
  int rc = 0;
  bool any = false;
  for (int d = 0; d < B->device_count(ctx) && !rc; d++) {
    tern_device_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    B->device_info(ctx, d, &info);
    if (!bench_device_wanted(o, info.id))
      continue;
    any = true;
    tern_device *dev = NULL;
    if (B->device_open(ctx, d, &dev, &e)) {
      fprintf(stderr, "tern bench: opencl: %s\n", e.msg);
      rc = 1;
      break;
    }
    rc = bench_device(o, r, dev, &info);
    B->device_close(dev);
  }
  B->shutdown(ctx);
  if (!any)
    snprintf(skip, skip_size, "no OpenCL device matches --device %s",
             o->device ? o->device : "");
  return rc;
}
#endif
