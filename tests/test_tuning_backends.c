/* test_tuning_backends.c — the Vulkan and OpenCL tunables end to end: a
 * short tuning run on the device fills the database, and a session of a
 * context with that database prepares its quantized linear with the tuned
 * parameters (seen in the backend's debug log) and stays bit-identical to
 * the reference. Skips when the device is absent. */
#include "core/tuning.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_log[16384];

static void on_log(void *user, tern_log_level level, const char *msg) {
  (void)user;
  (void)level;
  pthread_mutex_lock(&g_log_lock);
  size_t n = strlen(g_log);
  snprintf(g_log + n, sizeof g_log - n, "%s\n", msg);
  pthread_mutex_unlock(&g_log_lock);
}

/* A context with an empty database at a fresh path, and the first device
 * of `backend` (skips when none). */
static tern_context *open_ctx(const char *backend, char *path, size_t n,
                              tern_device_info *info) {
  if (!getenv("TERN_CACHE_DIR")) {
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/tern-tuneb-test-%d", (int)getpid());
    setenv("TERN_CACHE_DIR", dir, 1);
  }
  snprintf(path, n, "/tmp/tern_tuneb_%s_%d.json", backend, (int)getpid());
  unlink(path);
  tern_context_desc d = {sizeof d};
  d.tuning_db_path = path;
  tern_context *ctx = NULL;
  cr_assert_eq(tern_context_create(&d, &ctx), TERN_OK, "%s", tern_last_error());
  for (int i = 0; i < tern_context_device_count(ctx); i++) {
    memset(info, 0, sizeof *info);
    info->size = sizeof *info;
    tern_context_device_info(ctx, i, info);
    if (strcmp(info->backend, backend) == 0)
      return ctx;
  }
  tern_context_destroy(ctx);
  cr_skip_test("no %s device", backend);
  return NULL;
}

/* x [9, 200] through a ternary linear [40, 200] with bias: M >= 4, so the
 * GEMM kernels (not the GEMV ones) run; no tuning problem has this shape
 * class, so only the "*" entry the test adds applies. */
static tern_graph *build(tu_rng *r, float **x) {
  tern_graph *g;
  cr_assert_eq(tern_graph_create(&g), TERN_OK);
  int64_t xs[2] = {9, 200}, ws[2] = {40, 200}, bs[1] = {40};
  int xi, out;
  cr_assert_eq(tern_graph_add_input(g, "x", 2, xs, &xi), TERN_OK);
  *x = malloc(9 * 200 * sizeof(float));
  tu_fill(r, *x, 9 * 200, -2.0f, 2.0f);
  tern_node_desc nd;
  memset(&nd, 0, sizeof nd);
  nd.size = sizeof nd;
  nd.op = TERN_OP_LINEAR;
  nd.n_inputs = 3;
  nd.inputs[0] = xi;
  nd.inputs[1] =
      tu_add_weight(g, r, "w", TERN_DTYPE_TERNARY, 2, ws, 0.5f, false);
  nd.inputs[2] = tu_add_f32(g, r, "b", 1, bs, -1.0f, 1.0f);
  nd.params.activation = TERN_ACT_RELU;
  cr_assert_eq(tern_graph_add_node(g, &nd, &out), TERN_OK, "%s",
               tern_graph_errmsg(g));
  cr_assert_eq(tern_graph_add_output(g, out), TERN_OK);
  return g;
}

/* Runs the graph on dev and the reference; returns the captured log. */
static void run_and_compare(tern_context *ctx, const char *dev) {
  tu_rng r;
  tu_seed(&r, 77);
  float *x = NULL, *ref = NULL, *got = NULL;
  size_t nref = 0, ngot = 0;
  tern_graph *g = build(&r, &x);
  g_log[0] = 0;
  tern_set_log_callback(on_log, NULL, TERN_LOG_DEBUG);
  tern_status s2 = tu_run(ctx, g, dev, true, &x, &got, &ngot);
  tern_set_log_callback(NULL, NULL, TERN_LOG_ERROR);
  cr_assert_eq(s2, TERN_OK, "%s", tern_last_error());
  cr_assert_eq(tu_run(ctx, g, "ref", true, &x, &ref, &nref), TERN_OK);
  cr_assert_eq(nref, ngot);
  cr_assert_eq(nref, 9 * 40);
  cr_assert_eq(memcmp(ref, got, nref * sizeof(float)), 0,
               "%s output differs from the reference", dev);
  free(x);
  free(ref);
  free(got);
  tern_graph_destroy(g);
}

/* Tune `kernel` briefly on the backend's first device, add a non-default
 * entry for any shape, and check a session uses it. */
static void tune_and_use(const char *backend, const char *kernel,
                         const char *const *names, const int32_t *values,
                         int n_params, const char *expect, const char *env) {
  char path[256];
  tern_device_info info;
  tern_context *ctx = open_ctx(backend, path, sizeof path, &info);
  tern_tuning_db *db = tern_context_tuning_db(ctx);
  cr_assert_not_null(db);
  tern_tune_options o = {0};
  o.budget_s = 3;
  o.sample_s = 0.002;
  o.kernels = &kernel;
  o.n_kernels = 1;
  tern_tune_result *res = NULL;
  int n = 0;
  tern_err err = {0};
  cr_assert_eq(tern_tune_device(ctx, info.id, &o, NULL, 0, db, &res, &n, &err),
               TERN_OK, "%s", err.msg);
  cr_assert_gt(n, 0);
  int stored = 0;
  for (int i = 0; i < n; i++) {
    cr_assert_str_eq(res[i].kernel, kernel);
    cr_assert(!res[i].default_wrong, "%s: the default is wrong on %s", kernel,
              res[i].shape);
    if (res[i].stored) {
      stored++;
      tern_tuning_params p = {0};
      cr_assert_eq(tern_tuning_lookup(db, &res[i].key, &p, NULL),
                   TERN_TUNING_DEVICE);
    }
  }
  cr_assert_gt(stored, 0, "no entry stored within the budget");
  cr_assert_geq(tern_tuning_db_count(db), stored);
  cr_assert_str_eq(tern_tuning_db_entry(db, 0)->key.backend, backend);

  /* an entry for every shape of this device, with values that differ from
   * the built-in defaults, so the log shows which ones were used */
  tern_tuning_entry e;
  memset(&e, 0, sizeof e);
  e.key = res[0].key;
  snprintf(e.key.shape, sizeof e.key.shape, "*");
  for (int i = 0; i < n_params; i++) {
    cr_assert_neq(tern_tuning_params_get(&res[0].defaults, names[i], -1),
                  values[i], "pick values other than the defaults");
    cr_assert_eq(tern_tuning_params_set(&e.params, names[i], values[i], &err),
                 TERN_OK);
  }
  e.time_us = 1;
  cr_assert_eq(tern_tuning_db_put(db, &e, &err), TERN_OK, "%s", err.msg);
  free(res);

  run_and_compare(ctx, info.id);
  cr_assert(strstr(g_log, expect), "no '%s' in the log:\n%s", expect, g_log);
  /* the environment override wins over the database */
  setenv(env, "8", 1);
  run_and_compare(ctx, info.id);
  cr_assert_null(strstr(g_log, "tuned ("), "override ignored:\n%s", g_log);
  unsetenv(env);
  tern_context_destroy(ctx);
  unlink(path);
}

Test(tuning_backends, vulkan_gemm) {
  static const char *names[] = {"gemm_wg", "gemm_tm"};
  static const int32_t values[] = {32, 1};
  tune_and_use("vulkan", "gemm", names, values, 2,
               "tuned (device match) gemm_wg=32 gemm_tm=1", "TERN_VK_TUNE");
}

Test(tuning_backends, opencl_linear_gemm) {
  static const char *names[] = {"bm"};
  static const int32_t values[] = {8};
  tune_and_use("opencl", "linear_gemm", names, values, 1,
               "tuned (device match) bm=8", "TERN_CL_QGEMM_BM");
}
