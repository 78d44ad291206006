/* test_tuning_backends.c — every Vulkan and OpenCL tunable end to end: a
 * short tuning run of the kernel on the device fills the database with
 * candidates that all matched the reference; then, for an entry with
 * non-default values, (1) a session of a context with that database logs
 * the tuned values at node_prepare and stays bit-identical to the
 * reference, (2) the node the backend prepares carries exactly those values
 * (the backend's own description of what its kernels will use), and (3) the
 * environment override wins over the database. Vulkan runs under the
 * Khronos validation layer with zero messages required. Skips when the
 * device is absent. */
#include "core/context.h"
#include "core/tern_internal.h"
#include "core/tuning.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef TERN_HAVE_VULKAN
#include "backends/vulkan/tern_vulkan.h"
#endif
#ifdef TERN_HAVE_OPENCL
#include "backends/opencl/cl_internal.h"
#endif

static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_log[32768];

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
  setenv("TERN_VK_VALIDATION", "1", 1);
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

/* ------------------------------------------------------------- problems */
/* One node: linear (x [M, K], w [N, K] + bias), conv2d (x NCHW, w OIHW +
 * bias, stride 1, pad 1), relu, or add of two inputs. */
typedef struct problem {
  tern_op op;
  tern_dtype wdtype;
  int xnd;
  int64_t x[4], w[4];
  int groups;
} problem;

static int64_t numel(const int64_t *s, int nd) {
  int64_t n = 1;
  for (int i = 0; i < nd; i++)
    n *= s[i];
  return n;
}

static tern_graph *build(const problem *pb, tu_rng *r, float **in, int *n_in) {
  tern_graph *g;
  cr_assert_eq(tern_graph_create(&g), TERN_OK);
  int xi, yi = -1, out;
  int64_t nx = numel(pb->x, pb->xnd);
  cr_assert_eq(tern_graph_add_input(g, "x", pb->xnd, pb->x, &xi), TERN_OK);
  in[0] = malloc((size_t)nx * sizeof(float));
  tu_fill(r, in[0], (size_t)nx, -2.0f, 2.0f);
  *n_in = 1;
  tern_node_desc nd;
  memset(&nd, 0, sizeof nd);
  nd.size = sizeof nd;
  nd.op = pb->op;
  nd.inputs[0] = xi;
  nd.n_inputs = 1;
  if (pb->op == TERN_OP_ADD) {
    cr_assert_eq(tern_graph_add_input(g, "y", pb->xnd, pb->x, &yi), TERN_OK);
    in[1] = malloc((size_t)nx * sizeof(float));
    tu_fill(r, in[1], (size_t)nx, -2.0f, 2.0f);
    *n_in = 2;
    nd.inputs[1] = yi;
    nd.n_inputs = 2;
  } else if (pb->op == TERN_OP_LINEAR || pb->op == TERN_OP_CONV2D) {
    int wnd = pb->op == TERN_OP_LINEAR ? 2 : 4;
    int64_t bs[1] = {pb->w[0]};
    nd.inputs[1] =
        tu_add_weight(g, r, "w", pb->wdtype, wnd, pb->w, 0.5f, false);
    nd.inputs[2] = tu_add_f32(g, r, "b", 1, bs, -1.0f, 1.0f);
    nd.n_inputs = 3;
    nd.params.activation = TERN_ACT_RELU;
    if (pb->op == TERN_OP_CONV2D) {
      nd.params.stride[0] = nd.params.stride[1] = 1;
      nd.params.pad[0] = nd.params.pad[1] = 1;
      nd.params.groups = pb->groups;
    }
  }
  cr_assert_eq(tern_graph_add_node(g, &nd, &out), TERN_OK, "%s",
               tern_graph_errmsg(g));
  cr_assert_eq(tern_graph_add_output(g, out), TERN_OK);
  return g;
}

/* The same node as the backend sees it, for a direct node_prepare: weights
 * with codes in range (their values do not matter here). */
typedef struct exec_problem {
  tern_exec_node node;
  void *w;
  float *scales, *bias;
} exec_problem;

static void exec_build(const problem *pb, exec_problem *e) {
  memset(e, 0, sizeof *e);
  tern_exec_node *n = &e->node;
  n->op = pb->op;
  n->name = "probe";
  n->in[0].dtype = TERN_DTYPE_F32;
  n->in[0].ndim = pb->xnd;
  memcpy(n->in[0].shape, pb->x, sizeof pb->x);
  n->n_inputs = 1;
  if (pb->op == TERN_OP_ADD) {
    n->in[1] = n->in[0];
    n->n_inputs = 2;
  } else if (pb->op == TERN_OP_LINEAR || pb->op == TERN_OP_CONV2D) {
    int wnd = pb->op == TERN_OP_LINEAR ? 2 : 4;
    int64_t rows = pb->w[0], cols = numel(pb->w, wnd) / rows;
    size_t bytes = tern_dtype_bytes(pb->wdtype, rows, cols);
    e->w = malloc(bytes);
    memset(e->w, pb->wdtype == TERN_DTYPE_TERNARY ? 0x59 : 0x03, bytes);
    e->scales = malloc((size_t)rows * sizeof(float));
    e->bias = calloc((size_t)rows, sizeof(float));
    for (int64_t i = 0; i < rows; i++)
      e->scales[i] = 0.01f;
    tern_view *w = &n->in[1], *b = &n->in[2];
    w->dtype = pb->wdtype;
    w->ndim = wnd;
    memcpy(w->shape, pb->w, sizeof pb->w);
    w->data = e->w;
    w->scales = e->scales;
    w->scale_count = rows;
    b->dtype = TERN_DTYPE_F32;
    b->ndim = 1;
    b->shape[0] = rows;
    b->data = e->bias;
    n->in_const[1] = n->in_const[2] = true;
    n->n_inputs = 3;
    n->params.activation = TERN_ACT_RELU;
    if (pb->op == TERN_OP_CONV2D) {
      n->params.stride[0] = n->params.stride[1] = 1;
      n->params.pad[0] = n->params.pad[1] = 1;
      n->params.groups = pb->groups;
    }
  }
  tern_err err = {0};
  const tern_op_def *def = tern_op_get(pb->op);
  cr_assert_not_null(def);
  cr_assert_eq(def->infer(&n->params, n->in, n->n_inputs, &n->out, &err),
               TERN_OK, "%s", err.msg);
}

static void exec_free(exec_problem *e) {
  free(e->w);
  free(e->scales);
  free(e->bias);
}

/* What the backend's node_prepare captured for pb on device `id`. */
static void prepared_tuning(tern_context *ctx, const char *id,
                            const problem *pb, char *buf, size_t n) {
  int di = tern_context_find_device(ctx, id);
  cr_assert_geq(di, 0);
  const tern_context_device *cd = &ctx->devices[di];
  const tern_backend_vtbl *vt = ctx->backends[cd->backend].vt;
  tern_device *dev = NULL;
  tern_err err = {0};
  cr_assert_eq(
      vt->device_open(ctx->backends[cd->backend].ctx, cd->index, &dev, &err),
      TERN_OK, "%s", err.msg);
  exec_problem e;
  exec_build(pb, &e);
  void *prep = NULL;
  cr_assert_eq(vt->node_prepare(dev, &e.node, &prep, &err), TERN_OK, "%s",
               err.msg);
  buf[0] = 0;
#ifdef TERN_HAVE_VULKAN
  if (strcmp(vt->name, "vulkan") == 0)
    snprintf(buf, n, "%s", tern_vk_node_tuning(prep));
#endif
#ifdef TERN_HAVE_OPENCL
  if (strcmp(vt->name, "opencl") == 0)
    tern_cl_node_tuning(dev, prep, buf, n);
#endif
  vt->node_release(dev, prep);
  vt->device_close(dev);
  exec_free(&e);
}

/* Runs pb on dev and on the reference (same seed): bit-identical. */
static void run_and_compare(tern_context *ctx, const char *dev,
                            const problem *pb) {
  tu_rng r;
  tu_seed(&r, 77);
  float *in[2] = {0}, *ref = NULL, *got = NULL;
  size_t nref = 0, ngot = 0;
  int n_in = 0;
  tern_graph *g = build(pb, &r, in, &n_in);
  g_log[0] = 0;
  tern_set_log_callback(on_log, NULL, TERN_LOG_DEBUG);
  tern_status s2 = tu_run(ctx, g, dev, true, in, &got, &ngot);
  tern_set_log_callback(NULL, NULL, TERN_LOG_ERROR);
  cr_assert_eq(s2, TERN_OK, "%s", tern_last_error());
  cr_assert_eq(tu_run(ctx, g, "ref", true, in, &ref, &nref), TERN_OK);
  cr_assert_eq(nref, ngot);
  cr_assert_gt(nref, 0);
  cr_assert_eq(memcmp(ref, got, nref * sizeof(float)), 0,
               "%s output differs from the reference", dev);
  for (int i = 0; i < n_in; i++)
    free(in[i]);
  free(ref);
  free(got);
  tern_graph_destroy(g);
}

/* ---------------------------------------------------------------- cases */
typedef struct tcase {
  const char *backend, *kernel;
  problem pb;
  int n_params;
  const char *names[3];
  int32_t values[3];
  const char *env, *env_value; /* the runtime override */
} tcase;

static void check_case(const tcase *c) {
  char path[256];
  tern_device_info info;
  tern_context *ctx = open_ctx(c->backend, path, sizeof path, &info);
  tern_tuning_db *db = tern_context_tuning_db(ctx);
  cr_assert_not_null(db);

  /* a short tuning run: every candidate must match the reference */
  tern_tune_options o = {0};
  o.budget_s = 3;
  o.sample_s = 0.002;
  o.kernels = &c->kernel;
  o.n_kernels = 1;
  tern_tune_result *res = NULL;
  int n = 0;
  tern_err err = {0};
  cr_assert_eq(tern_tune_device(ctx, info.id, &o, NULL, 0, db, &res, &n, &err),
               TERN_OK, "%s", err.msg);
  cr_assert_gt(n, 0);
  int stored = 0;
  for (int i = 0; i < n; i++) {
    cr_assert_str_eq(res[i].kernel, c->kernel);
    cr_assert(!res[i].default_wrong, "%s: the default is wrong on %s",
              c->kernel, res[i].shape);
    cr_assert_eq(res[i].wrong, 0, "%s %s: %d candidates gave wrong results",
                 c->kernel, res[i].shape, res[i].wrong);
    cr_assert_eq(res[i].failed, 0, "%s %s: %d candidates failed", c->kernel,
                 res[i].shape, res[i].failed);
    if (res[i].stored) {
      stored++;
      tern_tuning_params p = {0};
      cr_assert_eq(tern_tuning_lookup(db, &res[i].key, &p, NULL),
                   TERN_TUNING_DEVICE);
    }
  }
  cr_assert_gt(stored, 0, "no entry stored within the budget");
  cr_assert_str_eq(tern_tuning_db_entry(db, 0)->key.backend, c->backend);

  /* an entry for every shape of this device, with values that differ from
   * the built-in defaults */
  tern_tuning_entry e;
  memset(&e, 0, sizeof e);
  e.key = res[0].key;
  snprintf(e.key.shape, sizeof e.key.shape, "*");
  char expect[160] = "";
  for (int i = 0; i < c->n_params; i++) {
    cr_assert_neq(tern_tuning_params_get(&res[0].defaults, c->names[i], -1),
                  c->values[i], "%s: pick values other than the defaults",
                  c->names[i]);
    cr_assert_eq(
        tern_tuning_params_set(&e.params, c->names[i], c->values[i], &err),
        TERN_OK, "%s", err.msg);
  }
  tern_tuning_params_str(&e.params, expect, sizeof expect);
  e.time_us = 1;
  cr_assert_eq(tern_tuning_db_put(db, &e, &err), TERN_OK, "%s", err.msg);
  free(res);

  /* (1) the session's node_prepare looks the entry up ... */
  run_and_compare(ctx, info.id, &c->pb);
  char line[256];
  snprintf(line, sizeof line, "tuned (device match) %s", expect);
  cr_assert(strstr(g_log, line), "no '%s' in the log:\n%s", line, g_log);
  /* (2) ... and the prepared node carries the values */
  char got[160];
  prepared_tuning(ctx, info.id, &c->pb, got, sizeof got);
  cr_assert_str_eq(got, expect, "node prepared with '%s', not '%s'", got,
                   expect);

  /* (3) the environment override wins over the database */
  setenv(c->env, c->env_value, 1);
  run_and_compare(ctx, info.id, &c->pb);
  cr_assert_null(strstr(g_log, "tuned ("), "override ignored:\n%s", g_log);
  prepared_tuning(ctx, info.id, &c->pb, got, sizeof got);
  cr_assert_str_neq(got, expect, "override ignored at prepare");
  unsetenv(c->env);
  tern_context_destroy(ctx);
  unlink(path);
#ifdef TERN_HAVE_VULKAN
  if (strcmp(c->backend, "vulkan") == 0) {
    if (!tern_vk_validation_active())
      cr_log_warn("validation layer not installed: messages not checked");
    cr_assert_eq(tern_vk_validation_message_count(), 0,
                 "%d validation messages (see the log)",
                 tern_vk_validation_message_count());
  }
#endif
}

#define LINEAR_(dt, m, k, nout)                                                \
  { TERN_OP_LINEAR, dt, 2, {m, k}, {nout, k}, 1 }
#define CONV_(dt, c, hw, oc, g)                                                \
  { TERN_OP_CONV2D, dt, 4, {1, c, hw, hw}, {oc, (c) / (g), 3, 3}, g }
#define ELT_(op)                                                               \
  { op, TERN_DTYPE_F32, 2, {3, 1000}, {0}, 1 }

/* Vulkan: the values must survive the GEMM's clamp of the workgroup to the
 * node's channel blocks (8 channels per invocation for ternary) */
Test(tuning_backends, vulkan_gemm) {
  tcase c = {"vulkan",
             "gemm",
             LINEAR_(TERN_DTYPE_TERNARY, 9, 200, 300),
             2,
             {"gemm_wg", "gemm_tm"},
             {32, 1},
             "TERN_VK_TUNE",
             "8"};
  check_case(&c);
}

Test(tuning_backends, vulkan_conv) {
  tcase c = {"vulkan",
             "conv",
             CONV_(TERN_DTYPE_TERNARY, 8, 12, 64, 1),
             3,
             {"gemm_wg", "gemm_tm", "col_wg"},
             {4, 4, 16},
             "TERN_VK_TUNE",
             "8"};
  check_case(&c);
}

Test(tuning_backends, vulkan_eltwise) {
  tcase c = {"vulkan",
             "eltwise",
             ELT_(TERN_OP_RELU),
             2,
             {"elt_wg", "elt_ept"},
             {256, 4},
             "TERN_VK_TUNE",
             "8"};
  check_case(&c);
}

Test(tuning_backends, vulkan_binary) {
  tcase c = {"vulkan",
             "binary",
             ELT_(TERN_OP_ADD),
             2,
             {"elt_wg", "elt_ept"},
             {128, 2},
             "TERN_VK_TUNE",
             "8"};
  check_case(&c);
}

Test(tuning_backends, opencl_linear_gemm) {
  tcase c = {"opencl",
             "linear_gemm",
             LINEAR_(TERN_DTYPE_TERNARY, 9, 200, 40),
             1,
             {"bm"},
             {8},
             "TERN_CL_QGEMM_BM",
             "16"};
  check_case(&c);
}

Test(tuning_backends, opencl_linear_gemv) {
  tcase c = {"opencl",
             "linear_gemv",
             LINEAR_(TERN_DTYPE_I8, 1, 200, 300),
             1,
             {"lws"},
             {4},
             "TERN_CL_TUNE",
             "gemv_lws=1"};
  check_case(&c);
}

Test(tuning_backends, opencl_conv) {
  tcase c = {"opencl",
             "conv",
             CONV_(TERN_DTYPE_TERNARY, 8, 12, 40, 1),
             3,
             {"bm", "kt", "owt"},
             {8, 16, 2},
             "TERN_CL_TUNE",
             "conv_kt=1"};
  check_case(&c);
}

Test(tuning_backends, opencl_conv_depthwise) {
  tcase c = {"opencl",
             "conv",
             CONV_(TERN_DTYPE_I8, 8, 12, 8, 8),
             3,
             {"bm", "kt", "owt"},
             {8, 16, 4},
             "TERN_CL_TUNE",
             "conv_owt=1"};
  check_case(&c);
}

Test(tuning_backends, opencl_eltwise) {
  tcase c = {"opencl",       "eltwise", ELT_(TERN_OP_RELU), 2,
             {"lws", "ept"}, {64, 2},   "TERN_CL_TUNE",     "elt_ept=1"};
  check_case(&c);
}

Test(tuning_backends, opencl_binary) {
  tcase c = {"opencl",       "binary", ELT_(TERN_OP_ADD), 2,
             {"lws", "ept"}, {16, 4},  "TERN_CL_TUNE",    "elt_ept=1"};
  check_case(&c);
}
