/* test_tuning_model.c — tuning on a model's own layers (tern tune --model):
 * a short run of tern_tune_device with the int8 mobilenet-mini zoo model
 * fills the database with entries keyed by that model's layer shape
 * classes (not the tunables' built-in problems); then a session on the
 * model logs those tuned values at node_prepare, the nodes the backend
 * prepares carry exactly them, and the output stays bit-identical to the
 * reference. Vulkan runs under the Khronos validation layer with zero
 * messages required. Skips when the device is absent. */
#include "core/context.h"
#include "core/planner.h"
#include "core/tuning.h"
#include "tern_models.h"
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
static char g_log[65536];

static void on_log(void *user, tern_log_level level, const char *msg) {
  (void)user;
  (void)level;
  pthread_mutex_lock(&g_log_lock);
  size_t n = strlen(g_log);
  snprintf(g_log + n, sizeof g_log - n, "%s\n", msg);
  pthread_mutex_unlock(&g_log_lock);
}

static bool is_builtin_class(tern_device *dev, const tern_tunable *t,
                             const char *cls) {
  (void)dev;
  for (int k = 0; k < t->n_shapes; k++) {
    /* the class of a built-in problem, from its shapes */
    const tern_tune_shape *sh = &t->shapes[k];
    tern_exec_node en;
    memset(&en, 0, sizeof en);
    en.op = sh->op;
    en.params = sh->params;
    en.in[0].ndim = sh->op == TERN_OP_LINEAR ? 2 : 4;
    memcpy(en.in[0].shape, sh->x, sizeof sh->x);
    en.in[1].dtype = sh->wdtype;
    en.in[1].ndim = en.in[0].ndim;
    memcpy(en.in[1].shape, sh->w, sizeof sh->w);
    en.n_inputs = 2;
    if (sh->op != TERN_OP_LINEAR && sh->op != TERN_OP_CONV2D) {
      en.n_inputs = 1;
      en.in[0].ndim = 1;
    }
    char c[64];
    tern_tuning_shape_class(&en, c, sizeof c);
    if (strcmp(c, cls) == 0)
      return true;
  }
  return false;
}

static void check_backend(const char *backend) {
  setenv("TERN_VK_VALIDATION", "1", 1);
  if (!getenv("TERN_CACHE_DIR")) {
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/tern-tunem-test-%d", (int)getpid());
    setenv("TERN_CACHE_DIR", dir, 1);
  }
  char path[128];
  snprintf(path, sizeof path, "/tmp/tern_tunem_%s_%d.json", backend,
           (int)getpid());
  unlink(path);
  tern_context_desc d = {sizeof d};
  d.tuning_db_path = path;
  tern_context *ctx = NULL;
  cr_assert_eq(tern_context_create(&d, &ctx), TERN_OK, "%s", tern_last_error());
  int di = -1;
  for (int i = 0; i < ctx->n_devices && di < 0; i++)
    if (strcmp(ctx->devices[i].info.backend, backend) == 0)
      di = i;
  if (di < 0) {
    tern_context_destroy(ctx);
    cr_skip_test("no %s device", backend);
  }
  const tern_device_info *info = &ctx->devices[di].info;
  tern_model_desc md = {.size = sizeof md};
  md.precision = TERN_MODEL_INT8;
  md.seed = 3;
  tern_graph *g = NULL;
  cr_assert_eq(tern_model_build("mobilenet-mini", &md, &g), TERN_OK, "%s",
               tern_model_errmsg());
  tern_tuning_db *db = tern_context_tuning_db(ctx);
  cr_assert_not_null(db);

  /* tune on the model's layers, tiny budget */
  const tern_graph *graphs[1] = {g};
  tern_tune_options o = {0};
  o.budget_s = 2;
  o.sample_s = 0.002;
  o.graphs = graphs;
  o.n_graphs = 1;
  tern_tune_result *res = NULL;
  int n_res = 0;
  tern_err err = {0};
  cr_assert_eq(
      tern_tune_device(ctx, info->id, &o, NULL, 0, db, &res, &n_res, &err),
      TERN_OK, "%s", err.msg);
  cr_assert_gt(n_res, 0, "no model node tuned on %s", info->id);

  /* the plan's nodes, their kernels and classes on this device */
  tern_plan plan = {0};
  cr_assert_eq(tern_plan_build(g, 0, true, true, &plan, &err), TERN_OK, "%s",
               err.msg);
  const tern_backend_vtbl *vt = ctx->backends[ctx->devices[di].backend].vt;
  tern_device *dev = NULL;
  cr_assert_eq(vt->device_open(ctx->backends[ctx->devices[di].backend].ctx,
                               ctx->devices[di].index, &dev, &err),
               TERN_OK, "%s", err.msg);
  const tern_tunable *list = NULL;
  int n_list = vt->tunables(dev, &list);
  cr_assert_gt(n_list, 0);

  /* every result is a (kernel, class) of some node of the model, each once,
   * and at least one class is none of the built-in problems' */
  int model_only = 0, stored = 0;
  for (int r = 0; r < n_res; r++) {
    bool found = false;
    for (int k = 0; k < plan.n_order && !found; k++) {
      tern_exec_node en;
      tern_plan_exec_node(&plan, &plan.g->nodes[plan.order[k]], &en);
      char cls[64];
      tern_tuning_shape_class(&en, cls, sizeof cls);
      for (int t = 0; t < n_list && !found; t++)
        found = !strcmp(list[t].kernel, res[r].kernel) &&
                !strcmp(cls, res[r].shape) &&
                list[t].applies(&list[t], dev, &en);
    }
    cr_assert(found, "result %s/%s is no node of the model", res[r].kernel,
              res[r].shape);
    for (int q = 0; q < r; q++)
      cr_assert(strcmp(res[q].kernel, res[r].kernel) ||
                    strcmp(res[q].shape, res[r].shape),
                "%s/%s tuned twice", res[r].kernel, res[r].shape);
    for (int t = 0; t < n_list; t++)
      if (!strcmp(list[t].kernel, res[r].kernel) && res[r].stored &&
          !is_builtin_class(dev, &list[t], res[r].shape))
        model_only++;
    stored += res[r].stored;
    cr_assert_eq(res[r].stored, res[r].best_us > 0);
    /* the first candidate runs whatever the budget */
    cr_assert(res[r].tried >= 1 || res[r].candidates == 0,
              "%s/%s: no candidate ran", res[r].kernel, res[r].shape);
  }
  cr_assert_eq(tern_tuning_db_count(db), stored);
  cr_assert_gt(model_only, 0, "only built-in shape classes were stored");

  /* every node with an entry: the session logs it, the prepared node has
   * it */
  tu_rng rng;
  tu_seed(&rng, 5);
  size_t nx = tu_input_elems(g, 0);
  float *x = malloc(nx * sizeof(float));
  tu_fill(&rng, x, nx, -1.0f, 1.0f);
  float *in[1] = {x}, *got = NULL, *ref = NULL;
  size_t ngot = 0, nref = 0;
  g_log[0] = 0;
  tern_set_log_callback(on_log, NULL, TERN_LOG_DEBUG);
  tern_status s = tu_run(ctx, g, info->id, false, in, &got, &ngot);
  tern_set_log_callback(NULL, NULL, TERN_LOG_ERROR);
  cr_assert_eq(s, TERN_OK, "%s", tern_last_error());
  cr_assert_eq(tu_run(ctx, g, "ref", true, in, &ref, &nref), TERN_OK);
  cr_assert_eq(nref, ngot);
  cr_assert_eq(memcmp(ref, got, nref * sizeof(float)), 0,
               "%s output differs from the reference after tuning", info->id);
  int checked = 0;
  for (int k = 0; k < plan.n_order; k++) {
    tern_exec_node en;
    tern_plan_exec_node(&plan, &plan.g->nodes[plan.order[k]], &en);
    if (!vt->supports(dev, &en))
      continue;
    for (int t = 0; t < n_list; t++) {
      if (!list[t].applies(&list[t], dev, &en))
        continue;
      char cls[64], expect[160], line[512], got_s[160] = "";
      tern_tuning_shape_class(&en, cls, sizeof cls);
      tern_tuning_key key;
      tern_tuning_key_for_device(info, list[t].kernel, cls, &key);
      tern_tuning_params p = {0};
      const tern_tuning_entry *e = NULL;
      if (tern_tuning_lookup(db, &key, &p, &e) != TERN_TUNING_DEVICE)
        continue;
      tern_tuning_params_str(&e->params, expect, sizeof expect);
      snprintf(line, sizeof line, "node '%s' %s %s: tuned (device match) %s",
               en.name, list[t].kernel, cls, expect);
      cr_assert(strstr(g_log, line), "no '%s' in the log:\n%s", line, g_log);
      /* the node prepared as a session does (values from the database)
       * carries the same values as the node prepared explicitly with the
       * entry's (kernels report what they will use: a GEMM clamps its
       * workgroup to its channel blocks, Vulkan's direct depthwise kernel
       * reads col_wg only) */
      void *prep = NULL, *want = NULL;
      char want_s[160] = "";
      cr_assert_eq(vt->node_prepare(dev, &en, &prep, &err), TERN_OK, "%s",
                   err.msg);
      cr_assert_eq(list[t].prepare(dev, &en, &e->params, &want, &err), TERN_OK,
                   "%s", err.msg);
#ifdef TERN_HAVE_VULKAN
      if (strcmp(backend, "vulkan") == 0) {
        snprintf(got_s, sizeof got_s, "%s", tern_vk_node_tuning(prep));
        snprintf(want_s, sizeof want_s, "%s", tern_vk_node_tuning(want));
      }
#endif
#ifdef TERN_HAVE_OPENCL
      if (strcmp(backend, "opencl") == 0) {
        tern_cl_node_tuning(dev, prep, got_s, sizeof got_s);
        tern_cl_node_tuning(dev, want, want_s, sizeof want_s);
        cr_assert_str_eq(got_s, expect);
      }
#endif
      vt->node_release(dev, prep);
      list[t].release(dev, want);
      cr_assert_neq(got_s[0], 0, "node '%s' reports no tuning", en.name);
      cr_assert_str_eq(got_s, want_s,
                       "node '%s' prepared with '%s', the entry (%s) gives "
                       "'%s'",
                       en.name, got_s, expect, want_s);
      checked++;
    }
  }
  cr_assert_geq(checked, stored, "only %d of %d entries seen at prepare",
                checked, stored);
  free(x);
  free(got);
  free(ref);
  free(res);
  vt->device_close(dev);
  tern_plan_free(&plan);
  tern_graph_destroy(g);
  tern_context_destroy(ctx);
  unlink(path);
#ifdef TERN_HAVE_VULKAN
  if (strcmp(backend, "vulkan") == 0) {
    if (!tern_vk_validation_active())
      cr_log_warn("validation layer not installed: messages not checked");
    cr_assert_eq(tern_vk_validation_message_count(), 0,
                 "%d validation messages (see the log)",
                 tern_vk_validation_message_count());
  }
#endif
}

Test(tuning_model, opencl_mobilenet_int8, .timeout = 120) {
  check_backend("opencl");
}

Test(tuning_model, vulkan_mobilenet_int8, .timeout = 120) {
  check_backend("vulkan");
}
