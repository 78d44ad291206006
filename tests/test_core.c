/* test_core.c — the C API's foundations: status table, version, allocator
 * (with out-of-memory injection), logging, graph building and misuse,
 * planner (fusion, memory reuse, batch override) and sessions. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(status, names_and_strings) {
  cr_expect_str_eq(tern_status_name(TERN_OK), "TERN_OK");
  cr_expect_str_eq(tern_status_name(TERN_ERR_CORRUPT_FILE),
                   "TERN_ERR_CORRUPT_FILE");
  cr_expect_str_eq(tern_status_name((tern_status)999), "TERN_UNKNOWN_STATUS");
  cr_expect_str_eq(tern_status_str(TERN_ERR_IO), "input/output error");
  cr_expect_eq(TERN_OK, 0);
}

Test(version, runtime_matches_header) {
  cr_expect_eq(tern_version(), (unsigned)TERN_VERSION_HEX);
  char buf[32];
  snprintf(buf, sizeof buf, "%d.%d.%d", TERN_VERSION_MAJOR, TERN_VERSION_MINOR,
           TERN_VERSION_PATCH);
  cr_expect_str_eq(tern_version_string(), buf);
}

Test(dtype, names_and_sizes) {
  cr_expect_str_eq(tern_dtype_name(TERN_DTYPE_TERNARY), "ternary");
  cr_expect_null(tern_dtype_name((tern_dtype)77));
  cr_expect_eq(tern_dtype_bytes(TERN_DTYPE_TERNARY, 3, 5), 6u);
  cr_expect_eq(tern_dtype_bytes(TERN_DTYPE_F32, 3, 5), 60u);
  cr_expect_eq(tern_dtype_bytes(TERN_DTYPE_I8, INT64_MAX, INT64_MAX), 0u);
  cr_expect_eq(tern_dtype_bytes((tern_dtype)77, 1, 1), 0u);
}

/* ------------------------------------------------------- allocator / OOM */
static long g_allocs, g_fail_at = -1, g_live;
static void *count_malloc(void *u, size_t n) {
  if (g_fail_at >= 0 && g_allocs++ >= g_fail_at)
    return NULL;
  g_live++;
  return malloc(n);
}
static void *count_realloc(void *u, void *p, size_t n) {
  if (g_fail_at >= 0 && g_allocs++ >= g_fail_at)
    return NULL;
  if (!p)
    g_live++;
  return realloc(p, n);
}
static void count_free(void *u, void *p) {
  if (p)
    g_live--;
  free(p);
}

static tern_status build_mlp_like(tern_graph **out) {
  tern_graph *g;
  tern_status s = tern_graph_create(&g);
  if (s)
    return s;
  tu_rng r;
  tu_seed(&r, 5);
  int64_t xs[2] = {2, 16}, w1s[2] = {8, 16}, w2s[2] = {4, 8}, bs[1] = {8};
  int x, w1, b1, w2, h, y;
  s = tern_graph_add_input(g, "x", 2, xs, &x);
  if (!s)
    s = (w1 = tu_add_weight(g, &r, "w1", TERN_DTYPE_TERNARY, 2, w1s, 1,
                            false)) < 0
            ? TERN_ERR_OUT_OF_MEMORY
            : TERN_OK;
  if (!s)
    s = (b1 = tu_add_f32(g, &r, "b1", 1, bs, -1, 1)) < 0
            ? TERN_ERR_OUT_OF_MEMORY
            : TERN_OK;
  if (!s)
    s = (w2 = tu_add_weight(g, &r, "w2", TERN_DTYPE_I8, 2, w2s, 1, false)) < 0
            ? TERN_ERR_OUT_OF_MEMORY
            : TERN_OK;
  tern_node_desc nd;
  memset(&nd, 0, sizeof nd);
  nd.size = sizeof nd;
  nd.op = TERN_OP_LINEAR;
  nd.n_inputs = 3;
  if (!s) {
    nd.inputs[0] = x;
    nd.inputs[1] = w1;
    nd.inputs[2] = b1;
    nd.params.activation = TERN_ACT_RELU;
    s = tern_graph_add_node(g, &nd, &h);
  }
  if (!s) {
    nd.n_inputs = 2;
    nd.inputs[0] = h;
    nd.inputs[1] = w2;
    nd.params.activation = 0;
    s = tern_graph_add_node(g, &nd, &y);
  }
  if (!s)
    s = tern_graph_add_output(g, y);
  if (!s)
    s = tern_graph_set_metadata(g, "model", "test");
  if (s) {
    tern_graph_destroy(g);
    return s;
  }
  *out = g;
  return TERN_OK;
}

Test(allocator, every_failure_is_clean) {
  tern_allocator a = {count_malloc, count_realloc, count_free, NULL};
  cr_assert_eq(tern_set_allocator(&a), TERN_OK);
  /* count the allocations of a full build + session run */
  g_fail_at = -1;
  g_allocs = 0;
  int oom = 0, ok = 0;
  for (long fail = 0; fail < 400; fail++) {
    g_fail_at = fail;
    g_allocs = 0;
    g_live = 0;
    tern_graph *g = NULL;
    tern_context *ctx = NULL;
    tern_session *s = NULL;
    tern_status st = build_mlp_like(&g);
    /* CPU only: the injection loop would otherwise re-probe every driver */
    tern_context_desc cdesc = {sizeof cdesc, 1, "cpu", NULL};
    if (!st)
      st = tern_context_create(&cdesc, &ctx);
    if (!st)
      st = tern_session_create(ctx, g, NULL, &s);
    float in[32] = {0}, out[8];
    if (!st)
      st = tern_session_set_input(s, 0, in, 32);
    if (!st)
      st = tern_session_run(s);
    if (!st)
      st = tern_session_get_output(s, 0, out, 8);
    tern_session_destroy(s);
    tern_context_destroy(ctx);
    tern_graph_destroy(g);
    cr_expect_eq(g_live, 0, "leak after failing allocation %ld", fail);
    if (st == TERN_OK) {
      ok++;
      break; /* no failure injected any more: done */
    }
    cr_expect(st == TERN_ERR_OUT_OF_MEMORY, "allocation %ld: %s (%s)", fail,
              tern_status_name(st), tern_last_error());
    oom++;
  }
  g_fail_at = -1;
  tern_set_allocator(NULL);
  cr_expect_eq(ok, 1, "the run never succeeded");
  cr_expect_gt(oom, 10);
}

Test(allocator, rejects_incomplete) {
  tern_allocator a = {count_malloc, NULL, count_free, NULL};
  cr_expect_eq(tern_set_allocator(&a), TERN_ERR_INVALID_ARGUMENT);
  cr_expect_neq(strlen(tern_last_error()), 0);
}

/* ---------------------------------------------------------------- logging */
static int g_logs;
static void on_log(void *user, tern_log_level lvl, const char *msg) {
  (void)user;
  (void)lvl;
  if (msg && *msg)
    g_logs++;
}

Test(log, callback_receives_messages) {
  tern_set_log_callback(on_log, NULL, TERN_LOG_DEBUG);
  tern_graph *g;
  tern_graph_create(&g);
  int64_t bad[1] = {0};
  cr_expect_eq(tern_graph_add_input(g, "x", 1, bad, NULL), TERN_ERR_SHAPE);
  tern_graph_destroy(g);
  tern_set_log_callback(NULL, NULL, TERN_LOG_ERROR);
  cr_expect_gt(g_logs, 0);
}

/* ------------------------------------------------------------ graph misuse */
Test(graph, null_handles) {
  cr_expect_eq(tern_graph_create(NULL), TERN_ERR_INVALID_ARGUMENT);
  cr_expect_eq(tern_graph_add_input(NULL, "x", 1, (int64_t[]){1}, NULL),
               TERN_ERR_INVALID_ARGUMENT);
  cr_expect_eq(tern_graph_add_output(NULL, 0), TERN_ERR_INVALID_ARGUMENT);
  cr_expect_eq(tern_graph_node_count(NULL), 0);
  tern_graph_destroy(NULL);
  tern_context_destroy(NULL);
  tern_session_destroy(NULL);
  cr_expect_eq(tern_session_run(NULL), TERN_ERR_INVALID_ARGUMENT);
  cr_expect_eq(tern_context_create(NULL, NULL), TERN_ERR_INVALID_ARGUMENT);
}

Test(graph, shape_and_dtype_errors_name_the_problem) {
  tern_graph *g;
  tern_graph_create(&g);
  tu_rng r;
  tu_seed(&r, 1);
  int64_t xs[2] = {1, 10}, ws[2] = {4, 12}, bs[1] = {5};
  int x, w, b, y;
  cr_assert_eq(tern_graph_add_input(g, "x", 2, xs, &x), TERN_OK);
  w = tu_add_weight(g, &r, "w", TERN_DTYPE_TERNARY, 2, ws, 1, false);
  b = tu_add_f32(g, &r, "b", 1, bs, 0, 1);
  tern_node_desc nd;
  memset(&nd, 0, sizeof nd);
  nd.size = sizeof nd;
  nd.op = TERN_OP_LINEAR;
  nd.n_inputs = 2;
  nd.inputs[0] = x;
  nd.inputs[1] = w;
  cr_expect_eq(tern_graph_add_node(g, &nd, &y), TERN_ERR_SHAPE);
  cr_expect(strstr(tern_graph_errmsg(g), "10") != NULL, "%s",
            tern_graph_errmsg(g));
  cr_expect(strstr(tern_last_error(), "linear") != NULL);
  nd.inputs[1] = 99;
  cr_expect_eq(tern_graph_add_node(g, &nd, &y), TERN_ERR_INVALID_ARGUMENT);
  nd.op = (tern_op)1234;
  cr_expect_eq(tern_graph_add_node(g, &nd, &y), TERN_ERR_INVALID_ARGUMENT);
  nd.op = TERN_OP_LINEAR;
  nd.n_inputs = 1;
  cr_expect_eq(tern_graph_add_node(g, &nd, &y), TERN_ERR_INVALID_ARGUMENT);
  /* bias of the wrong length */
  int64_t ws2[2] = {4, 10};
  int w2 = tu_add_weight(g, &r, "w2", TERN_DTYPE_I8, 2, ws2, 1, false);
  nd.n_inputs = 3;
  nd.inputs[1] = w2;
  nd.inputs[2] = b;
  cr_expect_eq(tern_graph_add_node(g, &nd, &y), TERN_ERR_SHAPE);
  /* constant with a wrong byte count / unknown dtype / too few scales */
  uint8_t data[8] = {0};
  float sc[2] = {1, 1};
  tern_constant_desc cd;
  memset(&cd, 0, sizeof cd);
  cd.size = sizeof cd;
  cd.dtype = TERN_DTYPE_TERNARY;
  cd.ndim = 2;
  cd.shape = ws2;
  cd.data = data;
  cd.data_bytes = 8;
  cd.scales = sc;
  cd.scale_count = 2;
  cr_expect_eq(tern_graph_add_constant(g, &cd, NULL), TERN_ERR_SHAPE);
  cd.data_bytes = 12;
  cr_expect_eq(tern_graph_add_constant(g, &cd, NULL), TERN_ERR_SHAPE);
  cd.dtype = (tern_dtype)42;
  cr_expect_eq(tern_graph_add_constant(g, &cd, NULL), TERN_ERR_DTYPE);
  cr_expect_eq(tern_graph_add_output(g, w), TERN_ERR_INVALID_ARGUMENT);
  cr_expect_eq(tern_graph_add_output(g, 1000), TERN_ERR_INVALID_ARGUMENT);
  tern_graph_destroy(g);
}

Test(graph, metadata_and_queries) {
  tern_graph *g;
  cr_assert_eq(build_mlp_like(&g), TERN_OK);
  cr_expect_str_eq(tern_graph_get_metadata(g, "model"), "test");
  cr_expect_eq(tern_graph_set_metadata(g, "model", "again"), TERN_OK);
  cr_expect_str_eq(tern_graph_get_metadata(g, "model"), "again");
  cr_expect_null(tern_graph_get_metadata(g, "missing"));
  cr_expect_eq(tern_graph_node_count(g), 2);
  cr_expect_eq(tern_graph_input_count(g), 1);
  tern_node_info ni;
  memset(&ni, 0, sizeof ni);
  ni.size = sizeof ni;
  cr_expect_eq(tern_graph_node_info(g, 0, &ni), TERN_OK);
  cr_expect_eq(ni.op, TERN_OP_LINEAR);
  cr_expect_eq(ni.params.activation, TERN_ACT_RELU);
  tern_tensor_info ti;
  memset(&ti, 0, sizeof ti);
  ti.size = sizeof ti;
  cr_expect_eq(tern_graph_tensor_info(g, ni.output, &ti), TERN_OK);
  cr_expect_eq(ti.shape[1], 8);
  ti.size = 3;
  cr_expect_eq(tern_graph_tensor_info(g, 0, &ti), TERN_ERR_INVALID_ARGUMENT);
  tern_graph_destroy(g);
}

/* -------------------------------------------------------------- sessions */
Test(session, hand_computed_ternary_linear) {
  tern_graph *g;
  tern_graph_create(&g);
  int64_t xs[2] = {1, 4}, ws[2] = {2, 4};
  int8_t q[8] = {1, 0, -1, 1, -1, -1, 0, 1};
  uint8_t packed[2];
  float sc[2] = {1.0f, 0.5f};
  cr_assert_eq(tern_ternary_pack(q, 2, 4, packed, 2), TERN_OK);
  int x, w, y;
  tern_graph_add_input(g, "x", 2, xs, &x);
  tern_constant_desc cd = {sizeof cd, "w", TERN_DTYPE_TERNARY, 2, ws, packed, 2,
                           sc,        2};
  cr_assert_eq(tern_graph_add_constant(g, &cd, &w), TERN_OK);
  tern_node_desc nd;
  memset(&nd, 0, sizeof nd);
  nd.size = sizeof nd;
  nd.op = TERN_OP_LINEAR;
  nd.n_inputs = 2;
  nd.inputs[0] = x;
  nd.inputs[1] = w;
  cr_assert_eq(tern_graph_add_node(g, &nd, &y), TERN_OK);
  tern_graph_add_output(g, y);
  tern_context *ctx;
  cr_assert_eq(tern_context_create(NULL, &ctx), TERN_OK);
  float in[4] = {1, 2, 3, 4}, *out;
  float *ins[1] = {in};
  size_t n;
  cr_assert_eq(tu_run(ctx, g, NULL, false, ins, &out, &n), TERN_OK, "%s",
               tern_last_error());
  cr_expect_eq(n, 2u);
  cr_expect_eq(out[0], 2.0f);
  cr_expect_eq(out[1], 0.5f);
  free(out);
  /* wrong input size is refused with a message */
  tern_session *s;
  cr_assert_eq(tern_session_create(ctx, g, NULL, &s), TERN_OK);
  cr_expect_eq(tern_session_set_input(s, 0, in, 3), TERN_ERR_SHAPE);
  cr_expect(strstr(tern_session_errmsg(s), "[1, 4]") != NULL, "%s",
            tern_session_errmsg(s));
  cr_expect_eq(tern_session_set_input(s, 1, in, 4), TERN_ERR_INVALID_ARGUMENT);
  float o2[2];
  cr_expect_eq(tern_session_get_output(s, 0, o2, 2), TERN_ERR_INVALID_ARGUMENT);
  tern_session_destroy(s);
  tern_session_desc d = {sizeof d, "nosuch:3", 0, 0, 0, 0, 0};
  cr_expect_eq(tern_session_create(ctx, g, &d, &s), TERN_ERR_NO_DEVICE);
  tern_context_destroy(ctx);
  tern_graph_destroy(g);
}

/* conv -> bn -> relu -> conv -> bn -> relu6 chain, fused vs unfused. */
static tern_graph *conv_bn_chain(tern_dtype wd) {
  tern_graph *g;
  tern_graph_create(&g);
  tu_rng r;
  tu_seed(&r, 77);
  int64_t xs[4] = {1, 3, 12, 12}, w1[4] = {8, 3, 3, 3}, w2[4] = {8, 8, 3, 3},
          c8[1] = {8};
  int x, h;
  tern_graph_add_input(g, "x", 4, xs, &x);
  h = x;
  for (int layer = 0; layer < 2; layer++) {
    int w = tu_add_weight(g, &r, "w", wd, 4, layer ? w2 : w1, 0.3f, false);
    int gam = tu_add_f32(g, &r, "gamma", 1, c8, 0.5f, 1.5f);
    int bet = tu_add_f32(g, &r, "beta", 1, c8, -0.5f, 0.5f);
    int mu = tu_add_f32(g, &r, "mean", 1, c8, -0.2f, 0.2f);
    int var = tu_add_f32(g, &r, "var", 1, c8, 0.5f, 2.0f);
    tern_node_desc nd;
    memset(&nd, 0, sizeof nd);
    nd.size = sizeof nd;
    nd.op = TERN_OP_CONV2D;
    nd.n_inputs = 2;
    nd.inputs[0] = h;
    nd.inputs[1] = w;
    nd.params.pad[0] = nd.params.pad[1] = 1;
    cr_assert_eq(tern_graph_add_node(g, &nd, &h), TERN_OK, "%s",
                 tern_graph_errmsg(g));
    memset(&nd.params, 0, sizeof nd.params);
    nd.op = TERN_OP_BATCHNORM;
    nd.n_inputs = 5;
    int in5[5] = {h, gam, bet, mu, var};
    memcpy(nd.inputs, in5, sizeof in5);
    cr_assert_eq(tern_graph_add_node(g, &nd, &h), TERN_OK, "%s",
                 tern_graph_errmsg(g));
    nd.op = layer ? TERN_OP_RELU6 : TERN_OP_RELU;
    nd.n_inputs = 1;
    nd.inputs[0] = h;
    cr_assert_eq(tern_graph_add_node(g, &nd, &h), TERN_OK);
  }
  tern_graph_add_output(g, h);
  return g;
}

Test(planner, fusion_and_memory_reuse) {
  tern_context *ctx;
  cr_assert_eq(tern_context_create(NULL, &ctx), TERN_OK);
  for (int k = 0; k < 2; k++) {
    tern_graph *g = conv_bn_chain(k ? TERN_DTYPE_TERNARY : TERN_DTYPE_F32);
    tern_session *fused, *plain;
    tern_session_desc d = {sizeof d, NULL, 0, 1, 1, 0, 1};
    cr_assert_eq(tern_session_create(ctx, g, NULL, &fused), TERN_OK, "%s",
                 tern_last_error());
    cr_assert_eq(tern_session_create(ctx, g, &d, &plain), TERN_OK);
    tern_session_info fi = {sizeof fi}, pi = {sizeof pi};
    tern_session_get_info(fused, &fi);
    tern_session_get_info(plain, &pi);
    cr_expect_eq(fi.node_count, 2);
    cr_expect_eq(fi.fused_count, 4);
    cr_expect_eq(pi.node_count, 6);
    cr_expect_lt(fi.peak_activation_bytes, pi.peak_activation_bytes);
    cr_expect_leq(fi.peak_activation_bytes, fi.naive_activation_bytes);
    float x[3 * 144], a[8 * 144], b[8 * 144];
    tu_rng r;
    tu_seed(&r, 3);
    tu_fill(&r, x, 3 * 144, -1, 1);
    cr_assert_eq(tern_session_set_input(fused, 0, x, 3 * 144), TERN_OK);
    cr_assert_eq(tern_session_set_input(plain, 0, x, 3 * 144), TERN_OK);
    cr_assert_eq(tern_session_run(fused), TERN_OK, "%s",
                 tern_session_errmsg(fused));
    cr_assert_eq(tern_session_run(plain), TERN_OK);
    tern_session_get_output(fused, 0, a, 8 * 144);
    tern_session_get_output(plain, 0, b, 8 * 144);
    /* folding BN moves rounding; quantized layers may also flip an int8
     * rounding of the next layer's input, so compare loosely */
    double maxd = 0, maxv = 0;
    for (int i = 0; i < 8 * 144; i++) {
      maxd = fmax(maxd, fabs(a[i] - b[i]));
      maxv = fmax(maxv, fabs(b[i]));
    }
    cr_expect_leq(maxd, 0.02 * maxv + 1e-4, "fused differs by %g (max %g)",
                  maxd, maxv);
    cr_expect_leq(maxv, 6.0);
    tern_session_destroy(fused);
    tern_session_destroy(plain);
    tern_graph_destroy(g);
  }
  tern_context_destroy(ctx);
}

Test(planner, batch_override) {
  tern_graph *g;
  cr_assert_eq(build_mlp_like(&g), TERN_OK);
  tern_context *ctx;
  tern_context_create(NULL, &ctx);
  tern_session_desc d = {sizeof d, "cpu:0", 5, 0, 0, 0, 0};
  tern_session *s;
  cr_assert_eq(tern_session_create(ctx, g, &d, &s), TERN_OK);
  int nd;
  int64_t shape[TERN_MAX_DIMS];
  tern_session_output_shape(s, 0, &nd, shape);
  cr_expect_eq(nd, 2);
  cr_expect_eq(shape[0], 5);
  cr_expect_eq(shape[1], 4);
  /* rows of a batch are independent: row 3 equals a batch-1 run */
  float x[5 * 16], y[5 * 4];
  tu_rng r;
  tu_seed(&r, 9);
  tu_fill(&r, x, 80, -3, 3);
  tern_session_set_input(s, 0, x, 80);
  cr_assert_eq(tern_session_run(s), TERN_OK);
  tern_session_get_output(s, 0, y, 20);
  tern_session_desc d1 = {sizeof d1, "cpu:0", 1, 0, 0, 0, 0};
  tern_session *s1;
  cr_assert_eq(tern_session_create(ctx, g, &d1, &s1), TERN_OK);
  float y1[4];
  tern_session_set_input(s1, 0, x + 3 * 16, 16);
  tern_session_run(s1);
  tern_session_get_output(s1, 0, y1, 4);
  cr_expect_eq(memcmp(y1, y + 12, sizeof y1), 0);
  tern_session_destroy(s1);
  tern_session_destroy(s);
  tern_context_destroy(ctx);
  tern_graph_destroy(g);
}

Test(context, devices_listed) {
  tern_context *ctx;
  tern_context_desc cd = {sizeof cd, 3, "cpu", NULL};
  cr_assert_eq(tern_context_create(&cd, &ctx), TERN_OK);
  cr_expect_eq(tern_context_thread_count(ctx), 3);
  cr_assert_geq(tern_context_device_count(ctx), 1);
  tern_device_info info = {sizeof info};
  cr_expect_eq(tern_context_device_info(ctx, 0, &info), TERN_OK);
  cr_expect_str_eq(info.id, "cpu:0");
  cr_expect_str_eq(info.backend, "cpu");
  cr_expect_eq(tern_context_device_info(ctx, 99, &info), TERN_ERR_NO_DEVICE);
  tern_context_destroy(ctx);
}
