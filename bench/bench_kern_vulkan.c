/* bench_kern_vulkan.c — the Vulkan part of the kernel benchmark: linear with
 * ternary, int8 and f32 weights per feature tier and kernel on each Vulkan
 * device, through the public API (tern_session_run: quantizing x, the GEMM,
 * submit and wait). The backend's own f32 shader ("f32-baseline") is the
 * in-run peer at every shape. Each variant gets its own context, since tiers
 * and kernels are chosen from the environment at context creation. */
#include "bench_kernels.h"
#include "tern.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct variant {
  const char *name;
  tern_dtype dtype;
  const char *env[4]; /* NAME=VALUE settings for this variant */
} variant;

static const char *k_env_names[] = {"TERN_VK_GEMM", "TERN_VK_DISABLE_INT_DOT",
                                    "TERN_VK_DISABLE_SUBGROUP",
                                    "TERN_VK_MIN_DEVICE"};

/* the peer first: every other variant's ratio needs its time */
static const variant k_variants[] = {
    {"f32-baseline", TERN_DTYPE_F32, {NULL}},
    {"ternary-auto", TERN_DTYPE_TERNARY, {NULL}},
    {"ternary-swar-baseline",
     TERN_DTYPE_TERNARY,
     {"TERN_VK_DISABLE_INT_DOT=1", "TERN_VK_DISABLE_SUBGROUP=1",
      "TERN_VK_GEMM=swar"}},
    {"ternary-int-dot", TERN_DTYPE_TERNARY, {"TERN_VK_GEMM=dot"}},
    {"ternary-emulated-dot",
     TERN_DTYPE_TERNARY,
     {"TERN_VK_DISABLE_INT_DOT=1", "TERN_VK_GEMM=emul"}},
    {"int8-int-dot", TERN_DTYPE_I8, {NULL}},
    {"int8-baseline", TERN_DTYPE_I8, {"TERN_VK_DISABLE_INT_DOT=1"}},
};
#define N_VARIANTS (sizeof k_variants / sizeof k_variants[0])

/* The variables a variant sets, saved so the caller's settings come back. */
typedef struct env_save {
  char *val[4];
} env_save;

static void env_push(const variant *v, env_save *sv) {
  for (size_t i = 0; i < 4; i++) {
    const char *cur = getenv(k_env_names[i]);
    sv->val[i] = cur ? strdup(cur) : NULL;
    unsetenv(k_env_names[i]);
  }
  for (int i = 0; i < 4 && v->env[i]; i++) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", v->env[i]);
    char *eq = strchr(buf, '=');
    *eq = 0;
    setenv(buf, eq + 1, 1);
  }
}

static void env_pop(env_save *sv) {
  for (size_t i = 0; i < 4; i++) {
    if (sv->val[i])
      setenv(k_env_names[i], sv->val[i], 1);
    else
      unsetenv(k_env_names[i]);
    free(sv->val[i]);
  }
}

/* y = x W^T with random weights of dtype, W [m, k], x [n, k]. */
static tern_graph *build(tern_dtype dt, bench_shape s) {
  tern_graph *g = NULL;
  if (tern_graph_create(&g))
    return NULL;
  int64_t xs[2] = {s.n, s.k}, ws[2] = {s.m, s.k};
  int x, w, y;
  size_t bytes = tern_dtype_bytes(dt, s.m, s.k);
  void *data = malloc(bytes);
  float *scales = malloc((size_t)s.m * sizeof(float));
  if (!data || !scales)
    goto fail;
  for (int64_t i = 0; i < s.m; i++)
    scales[i] = 0.01f + (float)(bench_rand() % 1000) * 1e-5f;
  if (dt == TERN_DTYPE_TERNARY) {
    uint8_t *b = data; /* codes 0..2, four per byte */
    for (size_t i = 0; i < bytes; i++) {
      uint8_t v = 0;
      for (int j = 0; j < 4; j++)
        v |= (uint8_t)((bench_rand() % 3) << (2 * j));
      b[i] = v;
    }
  } else if (dt == TERN_DTYPE_I8) {
    int8_t *b = data;
    for (size_t i = 0; i < bytes; i++)
      b[i] = (int8_t)((int)(bench_rand() % 255) - 127);
  } else {
    float *f = data;
    for (size_t i = 0; i < bytes / 4; i++)
      f[i] = ((float)(bench_rand() % 2001) - 1000.0f) * 1e-4f;
  }
  tern_constant_desc cd;
  memset(&cd, 0, sizeof cd);
  cd.size = sizeof cd;
  cd.name = "w";
  cd.dtype = dt;
  cd.ndim = 2;
  cd.shape = ws;
  cd.data = data;
  cd.data_bytes = bytes;
  if (dt != TERN_DTYPE_F32) {
    cd.scales = scales;
    cd.scale_count = s.m;
  }
  tern_node_desc nd;
  memset(&nd, 0, sizeof nd);
  nd.size = sizeof nd;
  nd.op = TERN_OP_LINEAR;
  nd.n_inputs = 2;
  if (tern_graph_add_input(g, "x", 2, xs, &x) ||
      tern_graph_add_constant(g, &cd, &w))
    goto fail;
  nd.inputs[0] = x;
  nd.inputs[1] = w;
  if (tern_graph_add_node(g, &nd, &y) || tern_graph_add_output(g, y))
    goto fail;
  free(data);
  free(scales);
  return g;
fail:
  fprintf(stderr, "tern bench: vulkan: building the graph failed: %s\n",
          tern_last_error());
  free(data);
  free(scales);
  tern_graph_destroy(g);
  return NULL;
}

static void run_session(void *ctx) {
  tern_session_run(ctx);
}

static tern_context *open_context(void) {
  tern_context_desc cdesc;
  memset(&cdesc, 0, sizeof cdesc);
  cdesc.size = sizeof cdesc;
  cdesc.backends = "cpu,vulkan";
  tern_context *ctx = NULL;
  if (tern_context_create(&cdesc, &ctx)) {
    fprintf(stderr, "tern bench: vulkan: %s\n", tern_last_error());
    return NULL;
  }
  return ctx;
}

/* Info of the di-th Vulkan device of ctx, false when there is none. */
static bool vk_device(tern_context *ctx, int di, tern_device_info *info) {
  int seen = 0;
  for (int d = 0; d < tern_context_device_count(ctx); d++) {
    memset(info, 0, sizeof *info);
    info->size = sizeof *info;
    tern_context_device_info(ctx, d, info);
    if (!strcmp(info->backend, "vulkan") && seen++ == di)
      return true;
  }
  return false;
}

/* Times one variant on the di-th Vulkan device at shape s; NAN (and a
 * message) when it cannot run there. */
static double time_variant(const bench_opts *o, const variant *var, int di,
                           bench_shape s, bench_stats *st,
                           tern_device_info *info) {
  /* the variables stay set while the variant runs: the backend may read
   * them when it prepares the node as well as at context creation */
  env_save sv;
  env_push(var, &sv);
  tern_context *ctx = open_context();
  if (!ctx || !vk_device(ctx, di, info)) {
    tern_context_destroy(ctx);
    env_pop(&sv);
    return NAN;
  }
  tern_graph *g = build(var->dtype, s);
  tern_session_desc sd;
  memset(&sd, 0, sizeof sd);
  sd.size = sizeof sd;
  sd.device = info->id;
  sd.no_fallback = 1;
  tern_session *ses = NULL;
  size_t nx = (size_t)(s.n * s.k);
  float *x = malloc(nx * sizeof(float));
  for (size_t i = 0; x && i < nx; i++)
    x[i] = ((float)(bench_rand() % 4001) - 2000.0f) / 1000.0f;
  double t = NAN;
  if (!g || !x || tern_session_create(ctx, g, &sd, &ses) ||
      tern_session_set_input(ses, 0, x, nx) || tern_session_run(ses)) {
    fprintf(stderr, "tern bench: vulkan %s %lld,%lld,%lld: %s (skipped)\n",
            var->name, (long long)s.m, (long long)s.n, (long long)s.k,
            tern_last_error());
  } else {
    bench_time_case(o, run_session, ses,
                    2.0 * (double)s.m * (double)s.n * (double)s.k, st);
    t = st->median;
  }
  tern_session_destroy(ses);
  tern_graph_destroy(g);
  free(x);
  tern_context_destroy(ctx);
  env_pop(&sv);
  return t;
}

int bench_kern_vulkan(const bench_opts *o, bench_report *r, char *skip,
                      size_t skip_size) {
  if (o->cputime) {
    /* lavapipe runs one worker per CPU */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    bench_use_cpu_time(cpus > 0 ? (int)cpus : 1);
  }
#ifndef TERN_HAVE_VULKAN
  (void)r;
  snprintf(skip, skip_size, "built without the Vulkan backend");
  return 0;
#endif
  /* validation layers would time themselves */
  unsetenv("TERN_VK_VALIDATION");
  tern_context *ctx = open_context();
  if (!ctx)
    return 1;
  int n_dev = 0;
  tern_device_info info;
  while (vk_device(ctx, n_dev, &info))
    n_dev++;
  tern_context_destroy(ctx);
  if (!n_dev) {
    snprintf(skip, skip_size, "no Vulkan device");
    return 0;
  }
  bool any = false;
  for (int di = 0; di < n_dev; di++) {
    ctx = open_context();
    bool have = ctx && vk_device(ctx, di, &info);
    tern_context_destroy(ctx);
    if (!have || !bench_device_wanted(o, info.id))
      continue;
    any = true;
    for (int si = 0; si < o->n_shapes; si++) {
      bench_shape s = o->shapes[si];
      double peer = NAN;
      for (size_t v = 0; v < N_VARIANTS; v++) {
        const variant *var = &k_variants[v];
        bool peer_run = v == 0;
        if (!peer_run &&
            (!bench_listed(o->only, var->name) ||
             !bench_listed(o->dtypes, tern_dtype_name(var->dtype))))
          continue;
        bench_stats st;
        tern_device_info vi;
        double t = time_variant(o, var, di, s, &st, &vi);
        if (peer_run)
          peer = t;
        if (isnan(t) || !bench_listed(o->only, var->name) ||
            !bench_listed(o->dtypes, tern_dtype_name(var->dtype)))
          continue;
        bench_row *row = bench_add_row(r);
        if (!row)
          return 1;
        snprintf(row->backend, sizeof row->backend, "vulkan");
        snprintf(row->device, sizeof row->device, "%s", vi.id);
        snprintf(row->device_name, sizeof row->device_name, "%s", vi.name);
        snprintf(row->kernel, sizeof row->kernel, "%s", var->name);
        snprintf(row->features, sizeof row->features, "%s", vi.features);
        row->dtype = tern_dtype_name(var->dtype);
        row->s = s;
        bench_row_finish(row, &st,
                         (double)tern_dtype_bytes(var->dtype, s.m, s.k));
        if (!isnan(peer)) {
          snprintf(row->peer, sizeof row->peer, "%s", k_variants[0].name);
          row->peer_s = peer;
        }
        if (!o->json)
          fprintf(stderr, "  vulkan %-22s %lld,%lld,%lld  %10.3f ms\n",
                  var->name, (long long)s.m, (long long)s.n, (long long)s.k,
                  t * 1e3);
      }
    }
  }
  if (!any)
    snprintf(skip, skip_size, "no Vulkan device matches --device %s",
             o->device ? o->device : "");
  return 0;
}
