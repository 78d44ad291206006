/* test_cpu_eltwise.c — the CPU backend's elementwise/norm/attention/pool
 * fast paths (backends/cpu/cpu_eltwise.h) on every ISA table this machine
 * runs (scalar, AVX2, AVX-512 here; NEON under qemu in neon_qemu), at 1 and
 * 2 threads, against the reference ops: the cases of eltwise_check.h
 * (exact ops bit for bit, float ops within docs/OPS.md's tolerance); the
 * TERN_CPU_ISA switch; and whole zoo models through sessions on each ISA
 * against the reference session. */
#include "eltwise_check.h"
#include "tern_models.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void check(bool ok, const char *fmt, ...) {
  if (ok)
    return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cr_expect(false, "%s", msg);
}

static void run_isa(tern_cpu_isa isa, int threads) {
  if (!tern_cpu_eltwise_get(isa))
    cr_skip_test("%s elementwise kernels: not compiled in or not supported "
                 "by this CPU",
                 tern_cpu_isa_name(isa));
  ec_check_isa(isa, threads);
}

Test(eltwise, scalar) {
  run_isa(TERN_ISA_SCALAR, 1);
}
Test(eltwise, scalar_2threads) {
  run_isa(TERN_ISA_SCALAR, 2);
}
Test(eltwise, avx2) {
  run_isa(TERN_ISA_AVX2, 1);
}
Test(eltwise, avx2_2threads) {
  run_isa(TERN_ISA_AVX2, 2);
}
Test(eltwise, avx512) {
  run_isa(TERN_ISA_AVX512, 1);
}
Test(eltwise, avx512_2threads) {
  run_isa(TERN_ISA_AVX512, 2);
}
Test(eltwise, neon) {
  run_isa(TERN_ISA_NEON, 2);
}

/* TERN_CPU_ISA lowers the table, never raises it past the CPU. */
Test(eltwise, isa_switch) {
  unsetenv("TERN_CPU_ISA");
  tern_cpu_isa best = tern_cpu_eltwise_isa();
  cr_expect_not_null(tern_cpu_eltwise_get(best));
  for (int i = 0; i < TERN_ISA_COUNT_; i++) {
    tern_cpu_isa isa = (tern_cpu_isa)i;
    setenv("TERN_CPU_ISA", tern_cpu_isa_name(isa), 1);
    tern_cpu_isa got = tern_cpu_eltwise_isa();
    if (isa <= best && tern_cpu_eltwise_get(isa))
      cr_expect_eq(got, isa, "TERN_CPU_ISA=%s gave %s", tern_cpu_isa_name(isa),
                   tern_cpu_isa_name(got));
    else
      cr_expect_eq(got, best, "TERN_CPU_ISA=%s gave %s, best is %s",
                   tern_cpu_isa_name(isa), tern_cpu_isa_name(got),
                   tern_cpu_isa_name(best));
  }
  setenv("TERN_CPU_ISA", "no-such-isa", 1);
  cr_expect_eq(tern_cpu_eltwise_isa(), best);
  unsetenv("TERN_CPU_ISA");
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f"))
    cr_expect_eq(best, TERN_ISA_AVX512);
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    cr_expect_eq(best, TERN_ISA_AVX2);
#endif
}

/* ---------------------------------------------- whole models per ISA */
/* The zoo through cpu:0 sessions on each ISA (TERN_CPU_ISA is read at
 * prepare time) against the reference session: models whose every op is
 * exact (mlp, lenet5 in ternary) bit for bit, the others within a bound
 * relative to the largest output (test_scheduler's float-path bound). */
static void model_on_isas(const char *model, tern_model_precision prec,
                          int width, int seq, int64_t batch, bool exact) {
  tern_model_desc md = {.size = sizeof md};
  md.batch = batch;
  md.seed = 11;
  md.precision = prec;
  md.width = width;
  md.seq = seq;
  tern_graph *g = NULL;
  cr_assert_eq(tern_model_build(model, &md, &g), TERN_OK, "%s: %s", model,
               tern_model_errmsg());
  tern_context *ctx;
  cr_assert_eq(tern_context_create(NULL, &ctx), TERN_OK);
  tu_rng r;
  tu_seed(&r, 5);
  float *in[4] = {0};
  int n_in = tern_graph_input_count(g);
  for (int i = 0; i < n_in; i++) {
    size_t n = tu_input_elems(g, i);
    in[i] = malloc(n * sizeof(float));
    tu_fill(&r, in[i], n, -1.0f, 1.0f);
  }
  float *ref = NULL;
  size_t nref = 0;
  cr_assert_eq(tu_run(ctx, g, "ref", true, in, &ref, &nref), TERN_OK, "%s",
               tern_last_error());
  float scale = 0;
  for (size_t i = 0; i < nref; i++)
    scale = fabsf(ref[i]) > scale ? fabsf(ref[i]) : scale;
  for (int i = 0; i < TERN_ISA_COUNT_; i++) {
    if (!tern_cpu_eltwise_get((tern_cpu_isa)i))
      continue;
    setenv("TERN_CPU_ISA", tern_cpu_isa_name((tern_cpu_isa)i), 1);
    float *got = NULL;
    size_t n = 0;
    cr_assert_eq(tu_run(ctx, g, "cpu:0", true, in, &got, &n), TERN_OK, "%s",
                 tern_last_error());
    cr_assert_eq(n, nref);
    double worst = 0;
    size_t at = 0;
    for (size_t k = 0; k < n; k++) {
      double d = exact ? (memcmp(&got[k], &ref[k], 4) ? 1.0 : 0.0)
                       : fabs((double)got[k] - ref[k]);
      if (!(d <= worst)) {
        worst = d;
        at = k;
      }
    }
    if (exact)
      cr_expect(worst == 0,
                "%s %s batch %lld on %s: element %zu = %.9g, "
                "reference %.9g (bit-exact required)",
                model, tern_model_precision_name(prec), (long long)batch,
                tern_cpu_isa_name((tern_cpu_isa)i), at, got[at], ref[at]);
    else
      cr_expect(worst <= (prec == TERN_MODEL_FP32 ? 1e-4 : 5e-2) * scale,
                "%s %s batch %lld on %s: |diff| %.3g at %zu above the bound "
                "(max |ref| %.3g)",
                model, tern_model_precision_name(prec), (long long)batch,
                tern_cpu_isa_name((tern_cpu_isa)i), worst, at, scale);
    free(got);
  }
  unsetenv("TERN_CPU_ISA");
  free(ref);
  for (int i = 0; i < n_in; i++)
    free(in[i]);
  tern_context_destroy(ctx);
  tern_graph_destroy(g);
}

Test(eltwise, models_exact) {
  model_on_isas("mlp", TERN_MODEL_TERNARY, 0, 0, 1, true);
  model_on_isas("mlp", TERN_MODEL_INT8, 0, 0, 3, true);
  model_on_isas("lenet5", TERN_MODEL_TERNARY, 0, 0, 2, true);
}

Test(eltwise, models_float) {
  model_on_isas("bitnet-block", TERN_MODEL_TERNARY, 128, 8, 1, false);
  model_on_isas("bitnet-block", TERN_MODEL_FP32, 128, 8, 2, false);
  model_on_isas("resnet-mini", TERN_MODEL_TERNARY, 8, 0, 2, false);
  model_on_isas("mobilenet-mini", TERN_MODEL_FP32, 8, 0, 1, false);
}

/* ------------------------------------------------------- out of memory */
static int g_allocs_left;
static void *fail_malloc(void *user, size_t bytes) {
  (void)user;
  return g_allocs_left-- > 0 ? malloc(bytes) : NULL;
}
static void *fail_realloc(void *user, void *ptr, size_t bytes) {
  (void)user;
  return g_allocs_left-- > 0 ? realloc(ptr, bytes) : NULL;
}
static void fail_free(void *user, void *ptr) {
  (void)user;
  free(ptr);
}

/* Every allocation of create and run failing in turn: a clean
 * TERN_ERR_OUT_OF_MEMORY with a message, never a crash; rope's tables at
 * create, matmul's B^T scratch (too big for the stack) at run. */
Test(eltwise, out_of_memory) {
  static float a[2 * 70 * 100], b[2 * 130 * 100], y[2 * 70 * 130];
  tern_exec_node mm;
  memset(&mm, 0, sizeof mm);
  mm.op = TERN_OP_MATMUL;
  mm.params.transpose_b = 1;
  mm.n_inputs = 2;
  int64_t sa[3] = {2, 70, 100}, sb[3] = {2, 130, 100}, sy[3] = {2, 70, 130};
  for (int i = 0; i < 3; i++) {
    mm.in[0].shape[i] = sa[i];
    mm.in[1].shape[i] = sb[i];
    mm.out.shape[i] = sy[i];
  }
  mm.in[0].ndim = mm.in[1].ndim = mm.out.ndim = 3;
  mm.in[0].data = a;
  mm.in[1].data = b;
  tern_exec_node rope = mm;
  rope.op = TERN_OP_ROPE;
  rope.n_inputs = 1;
  rope.out = rope.in[0];
  const tern_exec_node *nodes[2] = {&mm, &rope};
  tern_allocator al = {fail_malloc, fail_realloc, fail_free, NULL};
  tern_cpu_isa isa = tern_cpu_eltwise_isa();
  for (int n = 0; n < 2; n++) {
    int oom = 0;
    for (int k = 0; k < 8; k++) {
      tern_err err;
      memset(&err, 0, sizeof err);
      tern_cpu_eltwise_node *e = NULL;
      g_allocs_left = k;
      cr_assert_eq(tern_set_allocator(&al), TERN_OK);
      tern_status s = tern_cpu_eltwise_create(nodes[n], isa, &e, &err);
      if (s == TERN_OK) {
        tern_view out = nodes[n]->out;
        out.data = y;
        s = tern_cpu_eltwise_run(e, nodes[n]->in, &out, 1, &err);
        tern_cpu_eltwise_destroy(e);
      } else {
        cr_expect_null(e);
      }
      tern_set_allocator(NULL);
      cr_expect(s == TERN_OK || s == TERN_ERR_OUT_OF_MEMORY,
                "%s with %d allocations: %s", tern_op_name(nodes[n]->op), k,
                tern_status_name(s));
      if (s == TERN_ERR_OUT_OF_MEMORY) {
        oom++;
        cr_expect(strstr(err.msg, "memory") != NULL, "message: %s", err.msg);
      }
    }
    cr_expect(oom > 0, "%s: no allocation failure was seen",
              tern_op_name(nodes[n]->op));
  }
}
