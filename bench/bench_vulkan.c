/* bench_vulkan.c — the kernel benchmark on the first Vulkan device: linear
 * with ternary, int8 and f32 weights (the f32 shader is the in-run baseline)
 * per feature tier and kernel, at the shapes of bench_kernels (m,n,k =
 * output rows, batch, reduction) and in its JSON. Each variant gets its own
 * context, since tiers and kernels are chosen from the environment at
 * context creation. The time is the median of tern_session_run (quantizing
 * x, the GEMM, submit and wait) after warm-up.
 *
 *   bench_vulkan [--json] [--quick] [--cputime] [--shapes m,n,k;...]
 *                [--only variant,...]
 */
#include "bench_common.h"
#include "tern.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct shape {
  int64_t m, n, k;
} shape;

static const shape k_default_shapes[] = {{4096, 1, 4096}, {4096, 512, 14336}};
static const shape k_quick_shapes[] = {{1024, 1, 1024}, {512, 64, 1024}};

typedef struct variant {
  const char *name;
  tern_dtype dtype;
  const char *env[4]; /* NAME=VALUE settings for this variant */
} variant;

static const char *k_env_names[] = {"TERN_VK_GEMM", "TERN_VK_DISABLE_INT_DOT",
                                    "TERN_VK_DISABLE_SUBGROUP",
                                    "TERN_VK_MIN_DEVICE"};

static const variant k_variants[] = {
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
    {"f32-baseline", TERN_DTYPE_F32, {NULL}},
};

typedef struct result {
  const char *variant, *dtype;
  shape s;
  double t, gops, wgbs;
  char features[256];
} result;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static void set_env(const variant *v) {
  for (size_t i = 0; i < sizeof k_env_names / sizeof k_env_names[0]; i++)
    unsetenv(k_env_names[i]);
  for (int i = 0; i < 4 && v->env[i]; i++) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", v->env[i]);
    char *eq = strchr(buf, '=');
    *eq = 0;
    setenv(buf, eq + 1, 1);
  }
}

/* y = x W^T with random weights of dtype, W [m, k], x [n, k]. */
static tern_graph *build(tern_dtype dt, shape s) {
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
    scales[i] = 0.01f + (float)(rnd() % 1000) * 1e-5f;
  if (dt == TERN_DTYPE_TERNARY) {
    uint8_t *b = data; /* codes 0..2, four per byte */
    for (size_t i = 0; i < bytes; i++) {
      uint8_t v = 0;
      for (int j = 0; j < 4; j++)
        v |= (uint8_t)((rnd() % 3) << (2 * j));
      b[i] = v;
    }
  } else if (dt == TERN_DTYPE_I8) {
    int8_t *b = data;
    for (size_t i = 0; i < bytes; i++)
      b[i] = (int8_t)((int)(rnd() % 255) - 127);
  } else {
    float *f = data;
    for (size_t i = 0; i < bytes / 4; i++)
      f[i] = ((float)(rnd() % 2001) - 1000.0f) * 1e-4f;
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
  fprintf(stderr, "bench_vulkan: building the graph failed: %s\n",
          tern_last_error());
  free(data);
  free(scales);
  tern_graph_destroy(g);
  return NULL;
}

static void run_session(void *ctx) {
  tern_session_run(ctx);
}

static bool listed(const char *list, const char *name) {
  if (!list)
    return true;
  size_t n = strlen(name);
  for (const char *p = list; (p = strstr(p, name)); p += n)
    if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
      return true;
  return false;
}

static bool parse_shapes(const char *s, shape *out, int *n) {
  *n = 0;
  while (*s && *n < 16) {
    long long m, b, k;
    int used = 0;
    if (sscanf(s, "%lld,%lld,%lld%n", &m, &b, &k, &used) != 3 || m <= 0 ||
        b <= 0 || k <= 0)
      return false;
    out[(*n)++] = (shape){m, b, k};
    s += used;
    if (*s == ';')
      s++;
  }
  return *n > 0;
}

static void usage(FILE *f) {
  fprintf(f, "usage: bench_vulkan [--json] [--quick] [--cputime] "
             "[--shapes m,n,k;...] [--only variant,...]\n"
             "m,n,k = output rows, batch, reduction. --cputime measures the "
             "process CPU time\ndivided by the CPU count (lavapipe runs one "
             "worker per CPU): the uncontended\ntime on a shared machine.\n");
}

int main(int argc, char **argv) {
  shape shapes[16];
  int n_shapes = 0;
  bool json = false, quick = false, cputime = false;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--json")) {
      json = true;
    } else if (!strcmp(a, "--quick")) {
      quick = true;
    } else if (!strcmp(a, "--cputime")) {
      cputime = true;
    } else if (!strcmp(a, "--shapes") && v) {
      if (!parse_shapes(v, shapes, &n_shapes)) {
        fprintf(stderr, "bench_vulkan: bad --shapes '%s'\n", v);
        return 2;
      }
      i++;
    } else if (!strcmp(a, "--only") && v) {
      only = v;
      i++;
    } else if (!strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (!n_shapes) {
    const shape *src = quick ? k_quick_shapes : k_default_shapes;
    for (; n_shapes < 2; n_shapes++)
      shapes[n_shapes] = src[n_shapes];
  }
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cputime)
    bench_use_cpu_time(cpus > 0 ? (int)cpus : 1);
  unsetenv("TERN_VK_VALIDATION");
  result res[16 * 8];
  int nres = 0;
  char device[160] = "";
  for (int si = 0; si < n_shapes; si++) {
    shape s = shapes[si];
    double ops = 2.0 * (double)s.m * (double)s.n * (double)s.k;
    for (size_t v = 0; v < sizeof k_variants / sizeof k_variants[0]; v++) {
      const variant *var = &k_variants[v];
      if (!listed(only, var->name))
        continue;
      set_env(var);
      tern_context_desc cdesc;
      memset(&cdesc, 0, sizeof cdesc);
      cdesc.size = sizeof cdesc;
      cdesc.backends = "cpu,vulkan";
      tern_context *ctx = NULL;
      if (tern_context_create(&cdesc, &ctx)) {
        fprintf(stderr, "bench_vulkan: %s\n", tern_last_error());
        return 1;
      }
      tern_device_info info;
      int dev = -1;
      for (int d = 0; d < tern_context_device_count(ctx) && dev < 0; d++) {
        memset(&info, 0, sizeof info);
        info.size = sizeof info;
        tern_context_device_info(ctx, d, &info);
        if (!strcmp(info.backend, "vulkan"))
          dev = d;
      }
      if (dev < 0) {
        tern_context_destroy(ctx);
        fprintf(stderr, "bench_vulkan: no Vulkan device; nothing measured\n");
        if (json)
          printf("{\"benchmark\": \"kernels\", \"backend\": \"vulkan\", "
                 "\"skipped\": \"no Vulkan device\", \"results\": []}\n");
        return 0;
      }
      snprintf(device, sizeof device, "%s", info.name);
      tern_graph *g = build(var->dtype, s);
      tern_session_desc sd;
      memset(&sd, 0, sizeof sd);
      sd.size = sizeof sd;
      sd.device = info.id;
      sd.no_fallback = 1;
      tern_session *ses = NULL;
      size_t nx = (size_t)(s.n * s.k);
      float *x = malloc(nx * sizeof(float));
      for (size_t i = 0; x && i < nx; i++)
        x[i] = ((float)(rnd() % 4001) - 2000.0f) / 1000.0f;
      if (!g || !x || tern_session_create(ctx, g, &sd, &ses) ||
          tern_session_set_input(ses, 0, x, nx)) {
        fprintf(stderr, "bench_vulkan: %s %lld,%lld,%lld: %s (skipped)\n",
                var->name, (long long)s.m, (long long)s.n, (long long)s.k,
                tern_last_error());
      } else {
        bool big = ops > 1e10;
        double t = bench_median(run_session, ses, 1, big ? 2 : 5,
                                big ? 3 : (quick ? 10 : 50), big ? 0 : 0.5);
        result *r = &res[nres++];
        r->variant = var->name;
        r->dtype = tern_dtype_name(var->dtype);
        r->s = s;
        r->t = t;
        r->gops = ops / t * 1e-9;
        r->wgbs = (double)tern_dtype_bytes(var->dtype, s.m, s.k) / t * 1e-9;
        snprintf(r->features, sizeof r->features, "%s", info.features);
        if (!json)
          fprintf(stderr, "  %-22s %lld,%lld,%lld  %10.3f ms  %7.1f GOPS\n",
                  var->name, (long long)s.m, (long long)s.n, (long long)s.k,
                  t * 1e3, r->gops);
      }
      tern_session_destroy(ses);
      tern_graph_destroy(g);
      free(x);
      tern_context_destroy(ctx);
    }
  }
  if (json) {
    bench_json j;
    bj_begin(&j, stdout);
    bj_obj(&j, NULL);
    bj_str(&j, "benchmark", "kernels");
    bj_str(&j, "backend", "vulkan");
    bj_str(&j, "device", device);
    bj_str(&j, "clock", cputime ? "process-cpu/threads" : "wall");
    bj_arr(&j, "results");
    for (int i = 0; i < nres; i++) {
      result *r = &res[i];
      bj_obj(&j, NULL);
      bj_str(&j, "dtype", r->dtype);
      bj_str(&j, "kernel", r->variant);
      bj_str(&j, "features", r->features);
      bj_int(&j, "m", r->s.m);
      bj_int(&j, "n", r->s.n);
      bj_int(&j, "k", r->s.k);
      bj_num(&j, "median_us", r->t * 1e6);
      bj_num(&j, "gops", r->gops);
      bj_num(&j, "weight_gbs", r->wgbs);
      bj_end_obj(&j);
    }
    bj_end_arr(&j);
    bj_end_obj(&j);
    return 0;
  }
  printf("bench_vulkan: %s clock=%s\n\n", device,
         cputime ? "process-cpu/threads" : "wall");
  printf("%-22s %17s %11s %9s %9s  %s\n", "kernel", "m,n,k", "median", "GOPS",
         "W GB/s", "features");
  for (int i = 0; i < nres; i++) {
    result *r = &res[i];
    char sh[48];
    snprintf(sh, sizeof sh, "%lld,%lld,%lld", (long long)r->s.m,
             (long long)r->s.n, (long long)r->s.k);
    printf("%-22s %17s %8.3f ms %9.1f %9.2f  %s\n", r->variant, sh, r->t * 1e3,
           r->gops, r->wgbs, r->features);
  }
  return 0;
}
