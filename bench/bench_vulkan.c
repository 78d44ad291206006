/* bench_vulkan.c — Vulkan kernel benchmark: linear (GEMV / GEMM) with
 * ternary, int8 and f32 weights on the first Vulkan device, per feature tier
 * and kernel (the f32 shader is the in-run baseline). Each variant gets its
 * own context, since tiers and kernels are picked from the environment at
 * context creation. Writes one JSON document to stdout; progress to stderr.
 *
 *   bench_vulkan [--quick] [--shape N,M,K]... [--reps R] [--only NAME,...]
 *
 * Shapes are N,M,K: N output channels, M rows (batch), K input features
 * (the defaults 4096,1,4096 and 4096,512,14336). Time is the median wall
 * time of tern_session_run (quantizing x, the GEMM, submit and wait). */
#include "tern.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* CPU time of the whole process (lavapipe's worker threads included): on a
 * shared machine it moves far less than wall time. */
static double cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-3;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

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

/* Build y = x W^T with random weights of dtype (N x K). */
static tern_graph *build(tern_dtype dt, int64_t N, int64_t M, int64_t K) {
  tern_graph *g = NULL;
  if (tern_graph_create(&g))
    return NULL;
  int64_t xs[2] = {M, K}, ws[2] = {N, K};
  int x, w, y;
  size_t bytes = tern_dtype_bytes(dt, N, K);
  void *data = malloc(bytes);
  float *scales = malloc((size_t)N * sizeof(float));
  if (!data || !scales)
    goto fail;
  for (int64_t n = 0; n < N; n++)
    scales[n] = 0.01f + (float)(rnd() % 1000) * 1e-5f;
  if (dt == TERN_DTYPE_TERNARY) {
    /* codes 0..2 four per byte (never 3) */
    uint8_t *b = data;
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
    cd.scale_count = N;
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

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  int64_t shapes[8][3] = {{4096, 1, 4096}, {4096, 512, 14336}};
  int n_shapes = 2, reps = 0;
  bool user_shapes = false;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      shapes[1][1] = 64; /* a smaller GEMM for CI smoke runs */
    } else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) {
      if (!user_shapes)
        n_shapes = 0;
      user_shapes = true;
      long long a, b, c;
      if (n_shapes < 8 &&
          sscanf(argv[++i], "%lld,%lld,%lld", &a, &b, &c) == 3) {
        shapes[n_shapes][0] = a;
        shapes[n_shapes][1] = b;
        shapes[n_shapes][2] = c;
        n_shapes++;
      }
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      reps = atoi(argv[++i]);
    } else {
      fprintf(stderr,
              "usage: bench_vulkan [--quick] [--shape N,M,K]... [--reps R] "
              "[--only NAME,...]\n");
      return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  unsetenv("TERN_VK_VALIDATION");
  printf("{\"benchmark\": \"vulkan_linear\", \"results\": [");
  int printed = 0;
  char device[160] = "";
  for (int s = 0; s < n_shapes; s++) {
    int64_t N = shapes[s][0], M = shapes[s][1], K = shapes[s][2];
    double ops = 2.0 * (double)N * (double)M * (double)K;
    int r = reps > 0 ? reps : (ops > 1e10 ? 3 : 20);
    for (size_t v = 0; v < sizeof k_variants / sizeof k_variants[0]; v++) {
      const variant *var = &k_variants[v];
      if (only && !strstr(only, var->name))
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
      memset(&info, 0, sizeof info);
      int dev = -1;
      for (int d = 0; d < tern_context_device_count(ctx) && dev < 0; d++) {
        info.size = sizeof info;
        tern_context_device_info(ctx, d, &info);
        if (strcmp(info.backend, "vulkan") == 0)
          dev = d;
      }
      if (dev < 0) {
        fprintf(stderr, "bench_vulkan: no Vulkan device\n");
        tern_context_destroy(ctx);
        printf("], \"skipped\": \"no Vulkan device\"}\n");
        return 0;
      }
      snprintf(device, sizeof device, "%s", info.name);
      tern_graph *g = build(var->dtype, N, M, K);
      tern_session_desc sd;
      memset(&sd, 0, sizeof sd);
      sd.size = sizeof sd;
      sd.device = info.id;
      sd.no_fallback = 1;
      tern_session *ses = NULL;
      float *x = malloc((size_t)(M * K) * sizeof(float));
      for (int64_t i = 0; i < M * K; i++)
        x[i] = ((float)(rnd() % 4001) - 2000.0f) / 1000.0f;
      double t_prep = now_ms();
      if (!g || tern_session_create(ctx, g, &sd, &ses) ||
          tern_session_set_input(ses, 0, x, (size_t)(M * K))) {
        fprintf(stderr, "bench_vulkan: %s %s: %s (skipped)\n", var->name,
                tern_dtype_name(var->dtype), tern_last_error());
        tern_session_destroy(ses);
        tern_graph_destroy(g);
        free(x);
        tern_context_destroy(ctx);
        continue;
      }
      t_prep = now_ms() - t_prep;
      double t[64];
      if (r > 64)
        r = 64;
      tern_session_run(ses); /* warm-up: first use compiles pipelines */
      double c0 = cpu_ms();
      for (int i = 0; i < r; i++) {
        double t0 = now_ms();
        tern_session_run(ses);
        t[i] = now_ms() - t0;
      }
      double cpu = (cpu_ms() - c0) / r;
      qsort(t, (size_t)r, sizeof t[0], cmp_d);
      double med = t[r / 2];
      fprintf(stderr,
              "%-24s N=%lld M=%lld K=%lld  %10.3f ms  cpu %10.3f ms  %8.1f "
              "GOPS  [%s]\n",
              var->name, (long long)N, (long long)M, (long long)K, med, cpu,
              ops / (med * 1e6), info.features);
      printf("%s\n  {\"kernel\": \"%s\", \"dtype\": \"%s\", \"N\": %lld, "
             "\"M\": %lld, \"K\": %lld, \"median_ms\": %.4f, \"min_ms\": %.4f, "
             "\"cpu_ms\": %.4f, \"gops\": %.3f, \"prepare_ms\": %.1f, "
             "\"reps\": %d, \"features\": \"%s\"}",
             printed++ ? "," : "", var->name, tern_dtype_name(var->dtype),
             (long long)N, (long long)M, (long long)K, med, t[0], cpu,
             ops / (med * 1e6), t_prep, r, info.features);
      fflush(stdout);
      tern_session_destroy(ses);
      tern_graph_destroy(g);
      free(x);
      tern_context_destroy(ctx);
    }
  }
  printf("\n], \"device\": \"%s\"}\n", device);
  return 0;
}
