/* bench_eltwise.c — times the CPU backend's elementwise/norm/attention/pool
 * fast paths (backends/cpu/cpu_eltwise.h) on every ISA table this CPU runs
 * against the naive reference op, at the shapes of the zoo models
 * (bitnet-block width 1024 with 16 tokens, lenet5, resnet-mini): median of
 * repeated runs after warm-up.
 * Usage: bench_eltwise [--threads N] [--cputime] [--quick]. */
#include "backends/cpu/cpu_eltwise.h"
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bcase {
  const char *name;
  tern_op op;
  tern_op_params p;
  int n_in;
  int ndim[3];
  int64_t shape[3][4];
} bcase;

typedef struct brun {
  const tern_op_def *def;
  const tern_cpu_eltwise_node *e; /* NULL: the reference */
  tern_exec_node en;
  tern_view out;
  int threads, inner; /* runs per timed call */
} brun;

static void run_once(void *ctx) {
  brun *r = ctx;
  tern_err err;
  for (int i = 0; i < r->inner; i++)
    if (r->e)
      tern_cpu_eltwise_run(r->e, r->en.in, &r->out, r->threads, &err);
    else
      r->def->ref(&r->en.params, r->en.in, r->en.n_inputs, &r->out, &err);
}

/* Median time of one run in microseconds; short runs are timed in batches
 * of at least ~50 us so that reading the clock does not count. */
static double time_us(brun *r, bool quick) {
  r->inner = 1;
  double one = bench_median(run_once, r, 2, 5, 5, 0);
  r->inner = one > 0 && one < 50e-6 ? (int)(50e-6 / one) + 1 : 1;
  double t = bench_median(run_once, r, 2, quick ? 10 : 100, 1000000,
                          quick ? 0.02 : 0.2);
  return 1e6 * t / r->inner;
}

static int usage(FILE *f, int rc) {
  fprintf(f, "usage: bench_eltwise [--threads N] [--cputime] [--quick]\n"
             "Times each elementwise/norm/attention/pool fast path of the CPU "
             "backend\non every ISA table this CPU runs against the "
             "reference op (median, us).\n"
             "  --threads N  threads for the fast paths (1; the reference "
             "has one)\n"
             "  --cputime    process CPU time / threads instead of the wall "
             "clock\n"
             "  --quick      fewer repetitions\n");
  return rc;
}

int main(int argc, char **argv) {
  int threads = 1;
  bool quick = false, cputime = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--cputime"))
      cputime = true;
    else if (!strcmp(argv[i], "--quick"))
      quick = true;
    else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
      return usage(stdout, 0);
    else
      return usage(stderr, 2);
  }
  if (threads < 1)
    return usage(stderr, 2);
  if (cputime)
    bench_use_cpu_time(threads);
  static const bcase cases[] = {
      {"rmsnorm 16x1024",
       TERN_OP_RMSNORM,
       {.eps = 1e-5f},
       2,
       {2, 1},
       {{16, 1024}, {1024}}},
      {"permute 16x16x64 (1,0,2)",
       TERN_OP_PERMUTE,
       {.ndim = 3, .perm = {1, 0, 2}},
       1,
       {3},
       {{16, 16, 64}}},
      {"rope 16x16x64", TERN_OP_ROPE, {.alpha = 0}, 1, {3}, {{16, 16, 64}}},
      {"matmul q.k^T 16x[16x64]",
       TERN_OP_MATMUL,
       {.transpose_b = 1, .alpha = 0.125f},
       2,
       {3, 3},
       {{16, 16, 64}, {16, 16, 64}}},
      {"softmax 256x16", TERN_OP_SOFTMAX, {.axis = -1}, 1, {2}, {{256, 16}}},
      {"matmul att.v 16x[16x16]",
       TERN_OP_MATMUL,
       {.alpha = 0},
       2,
       {3, 3},
       {{16, 16, 16}, {16, 16, 64}}},
      {"add 16x1024",
       TERN_OP_ADD,
       {.alpha = 0},
       2,
       {2, 2},
       {{16, 1024}, {16, 1024}}},
      {"mul 16x2816",
       TERN_OP_MUL,
       {.alpha = 0},
       2,
       {2, 2},
       {{16, 2816}, {16, 2816}}},
      {"silu 16x2816", TERN_OP_SILU, {.alpha = 0}, 1, {2}, {{16, 2816}}},
      {"gelu 16x2816", TERN_OP_GELU, {.alpha = 0}, 1, {2}, {{16, 2816}}},
      {"relu 16x2816", TERN_OP_RELU, {.alpha = 0}, 1, {2}, {{16, 2816}}},
      {"layernorm 16x1024",
       TERN_OP_LAYERNORM,
       {.alpha = 0},
       3,
       {2, 1, 1},
       {{16, 1024}, {1024}, {1024}}},
      {"maxpool 6x28x28 k2",
       TERN_OP_MAXPOOL2D,
       {.kernel = {2, 2}},
       1,
       {4},
       {{1, 6, 28, 28}}},
      {"avgpool 16x32x32 k3 s1 p1",
       TERN_OP_AVGPOOL2D,
       {.kernel = {3, 3}, .stride = {1, 1}, .pad = {1, 1}},
       1,
       {4},
       {{1, 16, 32, 32}}},
      {"global_avgpool 64x8x8",
       TERN_OP_GLOBAL_AVGPOOL,
       {.alpha = 0},
       1,
       {4},
       {{1, 64, 8, 8}}},
      {"add 16x32x32 + 16x32x32",
       TERN_OP_ADD,
       {.alpha = 0},
       2,
       {4, 4},
       {{1, 16, 32, 32}, {1, 16, 32, 32}}},
      {"batchnorm 16x32x32",
       TERN_OP_BATCHNORM,
       {.alpha = 0},
       5,
       {4, 1, 1},
       {{1, 16, 32, 32}, {16}, {16}}},
  };
  tern_cpu_isa isas[TERN_ISA_COUNT_];
  int n_isa = 0;
  for (int i = 0; i < TERN_ISA_COUNT_; i++)
    if (tern_cpu_eltwise_get((tern_cpu_isa)i) &&
        (i != TERN_ISA_NEONDOT)) /* neondot runs neon's table */
      isas[n_isa++] = (tern_cpu_isa)i;
  printf("%-28s %10s", "op (shape)", "reference");
  for (int i = 0; i < n_isa; i++)
    printf(" %10s", tern_cpu_isa_name(isas[i]));
  printf("   (us, median; %d thread%s, %s)\n", threads, threads > 1 ? "s" : "",
         cputime ? "CPU time" : "wall clock");
  int rc = 0;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const bcase *bc = &cases[c];
    brun r;
    memset(&r, 0, sizeof r);
    r.def = tern_op_get(bc->op);
    r.threads = threads;
    r.en.op = bc->op;
    r.en.params = bc->p;
    r.en.n_inputs = bc->n_in;
    float *bufs[6] = {0};
    for (int i = 0; i < bc->n_in; i++) {
      /* batchnorm's four [C] vectors share the shape of input 1 */
      int s = bc->op == TERN_OP_BATCHNORM && i > 1 ? 1 : i;
      tern_view *v = &r.en.in[i];
      v->dtype = TERN_DTYPE_F32;
      v->ndim = bc->ndim[s];
      memcpy(v->shape, bc->shape[s], sizeof(int64_t) * (size_t)v->ndim);
      int64_t n = tern_view_numel(v);
      bufs[i] = malloc((size_t)n * sizeof(float));
      if (!bufs[i]) {
        fprintf(stderr, "bench_eltwise: out of memory\n");
        return 1;
      }
      for (int64_t k = 0; k < n; k++) /* deterministic, positive for var */
        bufs[i][k] = 0.25f + (float)((k * 7919) % 1000) / 1000.0f;
      v->data = bufs[i];
    }
    tern_err err;
    if (r.def->infer(&bc->p, r.en.in, bc->n_in, &r.en.out, &err)) {
      fprintf(stderr, "bench_eltwise: %s: %s\n", bc->name, err.msg);
      return 1;
    }
    r.out = r.en.out;
    r.out.data = malloc((size_t)tern_view_numel(&r.out) * sizeof(float));
    bufs[5] = r.out.data;
    printf("%-28s %10.2f", bc->name, time_us(&r, quick));
    for (int i = 0; i < n_isa; i++) {
      tern_cpu_eltwise_node *e = NULL;
      if (tern_cpu_eltwise_create(&r.en, isas[i], &e, &err)) {
        printf(" %10s", "-");
        rc = 1;
        continue;
      }
      r.e = e;
      printf(" %10.2f", time_us(&r, quick));
      r.e = NULL;
      tern_cpu_eltwise_destroy(e);
    }
    printf("\n");
    fflush(stdout);
    for (int i = 0; i < 6; i++)
      free(bufs[i]);
  }
  return rc;
}
