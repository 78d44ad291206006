/* bench_binary.c — times add on one device at 2^16 and 2^20 elements, same
 * shape and per-channel broadcast ([N, C, H, W] + [1, C, 1, 1]), through the
 * public API only (also a repeated row and a scalar at 2^20): a chain of K adds
 * y_k = y_{k-1} + b is run with K = 1 and K = 1 + CHAIN, and the time of one
 * add is the difference of the two medians over CHAIN (so input upload and
 * output download cancel). Usage: bench_binary [--device ID] [--reps N]. */
#include "tern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAIN 16

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median seconds of one session run of a chain of k adds; < 0 on error. */
static double time_chain(tern_context *ctx, const char *dev, int ndim,
                         const int64_t *xs, int bdim, const int64_t *bs, int k,
                         int reps) {
  tern_graph *g = NULL;
  tern_session *s = NULL;
  double med = -1, *t = calloc((size_t)reps, sizeof(double));
  size_t nx = 1, nb = 1;
  for (int i = 0; i < ndim; i++)
    nx *= (size_t)xs[i];
  for (int i = 0; i < bdim; i++)
    nb *= (size_t)bs[i];
  float *x = malloc(nx * sizeof(float)), *b = malloc(nb * sizeof(float));
  int xi, bi, y;
  if (!t || !x || !b || tern_graph_create(&g) ||
      tern_graph_add_input(g, "x", ndim, xs, &xi) ||
      tern_graph_add_input(g, "b", bdim, bs, &bi))
    goto done;
  for (size_t i = 0; i < nx; i++)
    x[i] = (float)(i % 97) * 0.01f;
  for (size_t i = 0; i < nb; i++)
    b[i] = (float)(i % 13) * 0.001f;
  y = xi;
  for (int i = 0; i < k; i++) {
    tern_node_desc nd;
    memset(&nd, 0, sizeof nd);
    nd.size = sizeof nd;
    nd.op = TERN_OP_ADD;
    nd.n_inputs = 2;
    nd.inputs[0] = y;
    nd.inputs[1] = bi;
    if (tern_graph_add_node(g, &nd, &y))
      goto done;
  }
  tern_session_desc sd;
  memset(&sd, 0, sizeof sd);
  sd.size = sizeof sd;
  sd.device = dev;
  sd.no_fallback = 1;
  sd.no_fusion = 1;
  if (tern_graph_add_output(g, y) || tern_session_create(ctx, g, &sd, &s) ||
      tern_session_set_input(s, 0, x, nx) ||
      tern_session_set_input(s, 1, b, nb))
    goto done;
  for (int i = 0; i < 3; i++)
    if (tern_session_run(s))
      goto done;
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    if (tern_session_run(s))
      goto done;
    t[r] = now_s() - t0;
  }
  qsort(t, (size_t)reps, sizeof(double), cmp_d);
  med = t[reps / 2];
done:
  if (med < 0)
    fprintf(stderr, "bench_binary: %s: %s\n", dev, tern_last_error());
  tern_session_destroy(s);
  tern_graph_destroy(g);
  free(t);
  free(x);
  free(b);
  return med;
}

int main(int argc, char **argv) {
  const char *dev = "vulkan:0";
  int reps = 31;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
      dev = argv[++i];
    } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      reps = atoi(argv[++i]);
    } else {
      fprintf(stderr, "usage: bench_binary [--device ID] [--reps N]\n");
      return strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 ? 0
                                                                          : 2;
    }
  }
  if (reps < 3)
    reps = 3;
  static const struct {
    const char *name;
    int ndim, bdim;
    int64_t x[4], b[4];
  } cases[] = {
      /* clang-format off */
      {"same 2^16", 1, 1, {1 << 16}, {1 << 16}},
      {"same 2^20", 1, 1, {1 << 20}, {1 << 20}},
      {"channel 2^16 [1,64,32,32]+[1,64,1,1]", 4, 4, {1, 64, 32, 32},
       {1, 64, 1, 1}},
      {"channel 2^20 [4,64,64,64]+[1,64,1,1]", 4, 4, {4, 64, 64, 64},
       {1, 64, 1, 1}},
      {"row 2^20 [16384,64]+[64]", 2, 1, {16384, 64}, {64}},
      {"scalar 2^20 [2^20]+[1]", 1, 1, {1 << 20}, {1}},
      /* clang-format on */
  };
  tern_context *ctx = NULL;
  if (tern_context_create(NULL, &ctx)) {
    fprintf(stderr, "bench_binary: %s\n", tern_last_error());
    return 1;
  }
  int rc = 0;
  printf("%-40s %12s %12s\n", dev, "us/add", "us/1K elts");
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    double t1 = time_chain(ctx, dev, cases[c].ndim, cases[c].x, cases[c].bdim,
                           cases[c].b, 1, reps);
    double tk = time_chain(ctx, dev, cases[c].ndim, cases[c].x, cases[c].bdim,
                           cases[c].b, 1 + CHAIN, reps);
    if (t1 < 0 || tk < 0) {
      rc = 1;
      continue;
    }
    double n = 1;
    for (int i = 0; i < cases[c].ndim; i++)
      n *= (double)cases[c].x[i];
    double us = 1e6 * (tk - t1) / CHAIN;
    printf("%-40s %12.1f %12.3f\n", cases[c].name, us, us * 1000 / n);
  }
  tern_context_destroy(ctx);
  return rc;
}
