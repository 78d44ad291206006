/* test_vulkan.c — the Vulkan backend beyond the shared differential harness:
 * every feature tier the device offers (and the minimum-device mode) run
 * through linear/conv cases against the reference, with the Khronos
 * validation layer (+ synchronization validation) on and zero messages
 * required; weight splitting at a small descriptor range; the pipeline cache
 * (stale and corrupt files are rebuilt); and a missing driver (zero devices,
 * CPU fallback, no crash). Skips cleanly when there is no Vulkan device. */
#include "testutil.h"

#include <criterion/criterion.h>

#ifndef TERN_HAVE_VULKAN
Test(vulkan, not_built) {
  cr_skip_test("built without TERN_VULKAN");
}
#else

#include "backends/vulkan/tern_vulkan.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* Each Criterion test runs in its own process: environment set here only
 * affects that test's contexts. */
static void vk_env(void) {
  setenv("TERN_VK_VALIDATION", "1", 1);
  if (!getenv("TERN_CACHE_DIR")) {
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/tern-vk-test-%d", (int)getpid());
    setenv("TERN_CACHE_DIR", dir, 1);
  }
}

/* First Vulkan device of ctx (index in the context) or -1. */
static int first_vk(tern_context *ctx, tern_device_info *info) {
  for (int d = 0; d < tern_context_device_count(ctx); d++) {
    memset(info, 0, sizeof *info);
    info->size = sizeof *info;
    tern_context_device_info(ctx, d, info);
    if (strcmp(info->backend, "vulkan") == 0)
      return d;
  }
  return -1;
}

static tern_context *vk_context(tern_device_info *info) {
  vk_env();
  tern_context *ctx = NULL;
  cr_assert_eq(tern_context_create(NULL, &ctx), TERN_OK, "%s",
               tern_last_error());
  if (first_vk(ctx, info) < 0) {
    tern_context_destroy(ctx);
    cr_skip_test("no Vulkan device");
  }
  return ctx;
}

/* ------------------------------------------------------------ cases */
typedef struct vcase {
  tern_op op;
  tern_dtype wt;
  int64_t x[4];
  int xnd;
  int64_t w[4];
  int wnd;
  bool bias, per_tensor;
  tern_op_params p;
} vcase;

static int n_cases;
static vcase cases[256];

static vcase *add_case(tern_op op, tern_dtype wt) {
  vcase *c = &cases[n_cases++];
  memset(c, 0, sizeof *c);
  c->op = op;
  c->wt = wt;
  return c;
}

static void make_cases(void) {
  if (n_cases)
    return;
  static const tern_dtype wts[] = {TERN_DTYPE_TERNARY, TERN_DTYPE_I8,
                                   TERN_DTYPE_F32};
  /* M, K, N: odd sizes, K across the 16/32/128 blocks of the kernels,
   * tiles with partial rows and channels */
  static const int64_t mkn[][3] = {{1, 1, 1},    {1, 31, 3},   {2, 33, 9},
                                   {5, 130, 17}, {9, 257, 64}, {1, 700, 33},
                                   {17, 96, 5}};
  for (int w = 0; w < 3; w++)
    for (size_t i = 0; i < sizeof mkn / sizeof mkn[0]; i++) {
      vcase *c = add_case(TERN_OP_LINEAR, wts[w]);
      c->xnd = 2;
      c->x[0] = mkn[i][0];
      c->x[1] = mkn[i][1];
      c->wnd = 2;
      c->w[0] = mkn[i][2];
      c->w[1] = mkn[i][1];
      c->bias = i % 2 == 0;
      c->per_tensor = i % 3 == 1;
      c->p.activation = (int)(i % 3); /* none, relu, relu6: exact */
    }
  /* conv: plain, strided + padded, dilated, grouped, depthwise (also with
   * 2 output channels per input channel, dilated, batched, and at 1x1) */
  struct {
    int64_t n, c, h, w, oc, k;
    int s, pad, dil, groups;
  } cv[] = {
      {1, 3, 7, 7, 4, 3, 1, 0, 1, 1},   {2, 4, 9, 8, 5, 3, 2, 1, 1, 1},
      {1, 2, 10, 10, 3, 3, 1, 2, 2, 1}, {2, 4, 6, 6, 6, 3, 1, 1, 1, 2},
      {1, 6, 5, 5, 6, 3, 1, 1, 1, 6},   {3, 8, 4, 4, 16, 1, 1, 0, 1, 1},
      {3, 5, 9, 7, 10, 5, 2, 2, 2, 5},  {1, 17, 1, 1, 17, 3, 1, 1, 1, 17}};
  for (int w = 0; w < 3; w++)
    for (size_t i = 0; i < sizeof cv / sizeof cv[0]; i++) {
      vcase *c = add_case(TERN_OP_CONV2D, wts[w]);
      c->xnd = 4;
      c->x[0] = cv[i].n;
      c->x[1] = cv[i].c;
      c->x[2] = cv[i].h;
      c->x[3] = cv[i].w;
      c->wnd = 4;
      c->w[0] = cv[i].oc;
      c->w[1] = cv[i].c / cv[i].groups;
      c->w[2] = c->w[3] = cv[i].k;
      c->p.stride[0] = c->p.stride[1] = cv[i].s;
      c->p.pad[0] = c->p.pad[1] = cv[i].pad;
      c->p.dilation[0] = c->p.dilation[1] = cv[i].dil;
      c->p.groups = cv[i].groups;
      c->bias = i % 2 == 1;
      c->per_tensor = i == 2;
      c->p.activation = (int)(i % 3);
    }
}

static tern_graph *build(const vcase *c, tu_rng *r, float **x) {
  tern_graph *g;
  cr_assert_eq(tern_graph_create(&g), TERN_OK);
  int xi, wi, out;
  cr_assert_eq(tern_graph_add_input(g, "x", c->xnd, c->x, &xi), TERN_OK);
  size_t n = 1;
  for (int i = 0; i < c->xnd; i++)
    n *= (size_t)c->x[i];
  *x = malloc(n * sizeof(float));
  tu_fill(r, *x, n, -2.0f, 2.0f);
  wi = tu_add_weight(g, r, "w", c->wt, c->wnd, c->w, 0.5f, c->per_tensor);
  cr_assert_geq(wi, 0);
  tern_node_desc nd;
  memset(&nd, 0, sizeof nd);
  nd.size = sizeof nd;
  nd.op = c->op;
  nd.n_inputs = 2;
  nd.inputs[0] = xi;
  nd.inputs[1] = wi;
  nd.params = c->p;
  if (c->bias) {
    int64_t bs[1] = {c->w[0]};
    nd.inputs[2] = tu_add_f32(g, r, "b", 1, bs, -1.0f, 1.0f);
    nd.n_inputs = 3;
  }
  cr_assert_eq(tern_graph_add_node(g, &nd, &out), TERN_OK, "%s",
               tern_graph_errmsg(g));
  cr_assert_eq(tern_graph_add_output(g, out), TERN_OK);
  return g;
}

/* Run every case on `dev` and the reference; returns failures. */
static int run_cases(tern_context *ctx, const char *dev, const char *tier) {
  make_cases();
  int failures = 0;
  for (int i = 0; i < n_cases; i++) {
    const vcase *c = &cases[i];
    tu_rng r;
    tu_seed(&r, 500 + (uint64_t)i);
    float *x = NULL, *ref = NULL, *got = NULL;
    size_t nref = 0, ngot = 0;
    tern_graph *g = build(c, &r, &x);
    tern_status s1 = tu_run(ctx, g, "ref", true, &x, &ref, &nref);
    tern_status s2 = tu_run(ctx, g, dev, true, &x, &got, &ngot);
    bool exact = c->wt != TERN_DTYPE_F32;
    size_t bad = 0, first = 0;
    if (!s1 && !s2 && nref == ngot)
      for (size_t k = 0; k < nref; k++) {
        bool ok = exact
                      ? memcmp(&ref[k], &got[k], 4) == 0
                      : fabsf(ref[k] - got[k]) <= 1e-4f + 1e-4f * fabsf(ref[k]);
        if (!ok && bad++ == 0)
          first = k;
      }
    if (s1 || s2 || nref != ngot || bad) {
      failures++;
      cr_log_error("FAIL tier=%s op=%s w=%s case %d: %s %s; %zu of %zu differ, "
                   "first %zu: ref %.9g got %.9g",
                   tier, tern_op_name(c->op), tern_dtype_name(c->wt), i,
                   tern_status_name(s1), tern_status_name(s2), bad, nref, first,
                   ref && nref ? ref[first] : 0.0,
                   got && ngot ? got[first] : 0.0);
    }
    free(x);
    free(ref);
    free(got);
    tern_graph_destroy(g);
  }
  return failures;
}

/* A few non-GEMM ops (exact ones): relu, maxpool, broadcast add, concat. */
static int run_misc(tern_context *ctx, const char *dev, const char *tier) {
  int failures = 0;
  for (int k = 0; k < 4; k++) {
    tern_graph *g;
    cr_assert_eq(tern_graph_create(&g), TERN_OK);
    int64_t s4[4] = {2, 3, 9, 7}, sh2[2] = {9, 7}, s4b[4] = {2, 5, 9, 7};
    int a, b, out;
    cr_assert_eq(tern_graph_add_input(g, "a", 4, s4, &a), TERN_OK);
    tern_node_desc nd;
    memset(&nd, 0, sizeof nd);
    nd.size = sizeof nd;
    nd.n_inputs = 1;
    nd.inputs[0] = a;
    int n_in = 1;
    if (k == 0) {
      nd.op = TERN_OP_RELU;
    } else if (k == 1) {
      nd.op = TERN_OP_MAXPOOL2D;
      nd.params.kernel[0] = nd.params.kernel[1] = 3;
      nd.params.stride[0] = nd.params.stride[1] = 2;
      nd.params.pad[0] = nd.params.pad[1] = 1;
    } else if (k == 2) {
      nd.op = TERN_OP_ADD;
      cr_assert_eq(tern_graph_add_input(g, "b", 2, sh2, &b), TERN_OK);
      nd.inputs[1] = b;
      nd.n_inputs = n_in = 2;
    } else {
      nd.op = TERN_OP_CONCAT;
      nd.params.axis = 1;
      cr_assert_eq(tern_graph_add_input(g, "b", 4, s4b, &b), TERN_OK);
      nd.inputs[1] = b;
      nd.n_inputs = n_in = 2;
    }
    cr_assert_eq(tern_graph_add_node(g, &nd, &out), TERN_OK, "%s",
                 tern_graph_errmsg(g));
    cr_assert_eq(tern_graph_add_output(g, out), TERN_OK);
    float *x[2];
    tu_rng r;
    tu_seed(&r, 100 + (uint64_t)k);
    for (int i = 0; i < n_in; i++) {
      size_t cnt = tu_input_elems(g, i);
      x[i] = malloc(cnt * sizeof(float));
      tu_fill(&r, x[i], cnt, -2.0f, 2.0f);
    }
    float *ref = NULL, *got = NULL;
    size_t n1 = 0, n2 = 0;
    tern_status s1 = tu_run(ctx, g, "ref", true, x, &ref, &n1);
    tern_status s2 = tu_run(ctx, g, dev, true, x, &got, &n2);
    if (s1 || s2 || n1 != n2 || memcmp(ref, got, n1 * sizeof(float))) {
      failures++;
      cr_log_error("FAIL tier=%s op=%s: %s %s", tier, tern_op_name(nd.op),
                   tern_status_name(s1), tern_status_name(s2));
    }
    for (int i = 0; i < n_in; i++)
      free(x[i]);
    free(ref);
    free(got);
    tern_graph_destroy(g);
  }
  return failures;
}

/* Set up a tier, run all cases, require exactness and a silent validation
 * layer; `want` must appear in the device's feature line (NULL: any). */
static void tier_test(const char *tier, const char *want) {
  tern_device_info info;
  tern_context *ctx = vk_context(&info);
  cr_log_info("%s: %s [%s]", tier, info.name, info.features);
  if (want && !strstr(info.features, want)) {
    tern_context_destroy(ctx);
    cr_skip_test("device has no %s tier", want);
  }
  int f = run_cases(ctx, info.id, tier) + run_misc(ctx, info.id, tier);
  tern_context_destroy(ctx);
  cr_expect_eq(f, 0, "%d cases failed on tier %s", f, tier);
  if (!tern_vk_validation_active())
    cr_log_warn("validation layer not installed: messages not checked");
  cr_expect_eq(tern_vk_validation_message_count(), 0,
               "%d validation messages (see the log)",
               tern_vk_validation_message_count());
}

Test(vulkan, tier_default) {
  tier_test("default", NULL);
}

Test(vulkan, tier_baseline) {
  setenv("TERN_VK_DISABLE_INT_DOT", "1", 1);
  setenv("TERN_VK_DISABLE_SUBGROUP", "1", 1);
  setenv("TERN_VK_DISABLE_FP16", "1", 1);
  setenv("TERN_VK_DISABLE_8BIT", "1", 1);
  tier_test("baseline", "baseline");
}

Test(vulkan, tier_subgroup) {
  setenv("TERN_VK_DISABLE_INT_DOT", "1", 1);
  setenv("TERN_VK_TUNE", "sg_bcast=1", 1); /* the broadcast GEMM too */
  tier_test("subgroup", "subgroup-ops");
}

Test(vulkan, tier_int_dot) {
  setenv("TERN_VK_GEMM", "dot", 1); /* the dot kernels even where slower */
  tier_test("int-dot", "int-dot");
}

Test(vulkan, tier_emulated_dot) {
  /* the packed-int8 kernels with the dot product written out */
  setenv("TERN_VK_DISABLE_INT_DOT", "1", 1);
  setenv("TERN_VK_GEMM", "emul", 1);
  tier_test("emulated-dot", NULL);
}

Test(vulkan, depthwise_gemm_path) {
  /* depthwise layers through im2col + GEMM per group, as before the direct
   * kernel (dwconv.comp) */
  setenv("TERN_VK_NO_DWCONV", "1", 1);
  tier_test("depthwise-gemm", NULL);
}

/* One linear of M x K x N with weights wt on dev: 0 when it matches. */
static int run_linear(tern_context *ctx, const char *dev, tern_dtype wt,
                      int64_t M, int64_t K, int64_t N) {
  vcase c;
  memset(&c, 0, sizeof c);
  c.op = TERN_OP_LINEAR;
  c.wt = wt;
  c.xnd = c.wnd = 2;
  c.x[0] = M;
  c.x[1] = c.w[1] = K;
  c.w[0] = N;
  c.bias = true;
  tu_rng r;
  tu_seed(&r, 77 + (uint64_t)wt);
  float *x, *ref = NULL, *got = NULL;
  size_t n1 = 0, n2 = 0;
  tern_graph *g = build(&c, &r, &x);
  int bad = 1;
  if (tu_run(ctx, g, "ref", true, &x, &ref, &n1) == TERN_OK &&
      tu_run(ctx, g, dev, true, &x, &got, &n2) == TERN_OK && n1 == n2) {
    bad = 0;
    for (size_t k = 0; k < n1 && !bad; k++)
      bad = wt == TERN_DTYPE_F32
                ? fabsf(ref[k] - got[k]) > 1e-4f + 1e-4f * fabsf(ref[k])
                : memcmp(&ref[k], &got[k], 4) != 0;
  }
  if (bad)
    cr_log_error("linear %s %lldx%lldx%lld failed: %s", tern_dtype_name(wt),
                 (long long)M, (long long)K, (long long)N, tern_last_error());
  free(x);
  free(ref);
  free(got);
  tern_graph_destroy(g);
  return bad;
}

Test(vulkan, min_device) {
  setenv("TERN_VK_MIN_DEVICE", "1", 1);
  tier_test("min-device", "min-device");
  /* weights above the guaranteed 65536 texels (1 MiB) come in chunks */
  tern_device_info info;
  tern_context *ctx = vk_context(&info);
  int f = run_linear(ctx, info.id, TERN_DTYPE_TERNARY, 2, 4096, 1100) +
          run_linear(ctx, info.id, TERN_DTYPE_I8, 2, 2000, 700) +
          run_linear(ctx, info.id, TERN_DTYPE_F32, 2, 1000, 300);
  /* activations above the limit are quantized a block of rows at a time */
  f += run_linear(ctx, info.id, TERN_DTYPE_TERNARY, 300, 4000, 9) +
       run_linear(ctx, info.id, TERN_DTYPE_I8, 600, 2001, 5) +
       run_linear(ctx, info.id, TERN_DTYPE_F32, 70, 4001, 3);
  tern_context_destroy(ctx);
  cr_expect_eq(f, 0);
  cr_expect_eq(tern_vk_validation_message_count(), 0);
}

Test(vulkan, staging) {
  /* the discrete-GPU path: device-only tensors, copies through staging */
  setenv("TERN_VK_FORCE_STAGING", "1", 1);
  tier_test("staging", NULL);
}

Test(vulkan, storage_paths) {
  /* without texel views of the arena every kernel reads activations as
   * storage buffers (what devices with small texel limits do) */
  setenv("TERN_VK_NO_ARENA_VIEWS", "1", 1);
  tier_test("storage-paths", NULL);
}

Test(vulkan, split_weights) {
  /* a 64 KiB descriptor range forces every weight matrix into chunks */
  setenv("TERN_VK_MAX_BUFFER_RANGE", "65536", 1);
  tern_device_info info;
  tern_context *ctx = vk_context(&info);
  int f = run_linear(ctx, info.id, TERN_DTYPE_TERNARY, 3, 1000, 301) +
          run_linear(ctx, info.id, TERN_DTYPE_I8, 3, 1000, 301) +
          run_linear(ctx, info.id, TERN_DTYPE_F32, 3, 1000, 37);
  tern_context_destroy(ctx);
  cr_expect_eq(f, 0);
  cr_expect_eq(tern_vk_validation_message_count(), 0);
}

/* ------------------------------------------------------- whole model */
static int add_node(tern_graph *g, tern_op op, int n_in, const int *in,
                    const tern_op_params *p) {
  tern_node_desc nd;
  memset(&nd, 0, sizeof nd);
  nd.size = sizeof nd;
  nd.op = op;
  nd.n_inputs = n_in;
  for (int i = 0; i < n_in; i++)
    nd.inputs[i] = in[i];
  if (p)
    nd.params = *p;
  int out = -1;
  cr_assert_eq(tern_graph_add_node(g, &nd, &out), TERN_OK, "%s",
               tern_graph_errmsg(g));
  return out;
}

/* The small MNIST-shaped CNN of the model tests: ternary conv + batchnorm +
 * relu, maxpool, int8 conv + relu6, ternary linear (batch `batch`). */
static tern_graph *mnist_cnn(int64_t batch) {
  tu_rng r;
  tu_seed(&r, 2024);
  tern_graph *g;
  cr_assert_eq(tern_graph_create(&g), TERN_OK);
  int64_t xs[4] = {batch, 1, 28, 28}, w1s[4] = {8, 1, 3, 3}, c8[1] = {8};
  int64_t w2s[4] = {16, 8, 3, 3}, w3s[2] = {10, 16 * 7 * 7}, b3[1] = {10};
  int x, t;
  cr_assert_eq(tern_graph_add_input(g, "image", 4, xs, &x), TERN_OK);
  tern_op_params p;
  memset(&p, 0, sizeof p);
  p.pad[0] = p.pad[1] = 1;
  int in[5] = {
      x, tu_add_weight(g, &r, "w1", TERN_DTYPE_TERNARY, 4, w1s, 0.5f, false)};
  t = add_node(g, TERN_OP_CONV2D, 2, in, &p);
  in[0] = t;
  in[1] = tu_add_f32(g, &r, "gamma", 1, c8, 0.5f, 1.5f);
  in[2] = tu_add_f32(g, &r, "beta", 1, c8, -0.5f, 0.5f);
  in[3] = tu_add_f32(g, &r, "mean", 1, c8, -0.2f, 0.2f);
  in[4] = tu_add_f32(g, &r, "var", 1, c8, 0.5f, 2.0f);
  t = add_node(g, TERN_OP_BATCHNORM, 5, in, NULL);
  t = add_node(g, TERN_OP_RELU, 1, &t, NULL);
  memset(&p, 0, sizeof p);
  p.kernel[0] = p.kernel[1] = 2;
  t = add_node(g, TERN_OP_MAXPOOL2D, 1, &t, &p);
  memset(&p, 0, sizeof p);
  p.pad[0] = p.pad[1] = 1;
  p.stride[0] = p.stride[1] = 2;
  p.activation = TERN_ACT_RELU6;
  in[0] = t;
  in[1] = tu_add_weight(g, &r, "w2", TERN_DTYPE_I8, 4, w2s, 0.3f, false);
  t = add_node(g, TERN_OP_CONV2D, 2, in, &p);
  t = add_node(g, TERN_OP_FLATTEN, 1, &t, NULL);
  in[0] = t;
  in[1] = tu_add_weight(g, &r, "w3", TERN_DTYPE_TERNARY, 2, w3s, 0.2f, false);
  in[2] = tu_add_f32(g, &r, "b3", 1, b3, -0.1f, 0.1f);
  t = add_node(g, TERN_OP_LINEAR, 3, in, NULL);
  cr_assert_eq(tern_graph_add_output(g, t), TERN_OK);
  return g;
}

static int argmax10(const float *v) {
  int a = 0;
  for (int k = 1; k < 10; k++)
    if (v[k] > v[a])
      a = k;
  return a;
}

Test(vulkan, model_predictions) {
  /* the planner folds the batchnorm on the host, so the whole model must be
   * bit-identical to the reference and every prediction the same */
  tern_device_info info;
  tern_context *ctx = vk_context(&info);
  tern_graph *g = mnist_cnn(16);
  tu_rng r;
  tu_seed(&r, 7);
  float *img = malloc(16 * 28 * 28 * sizeof(float));
  tu_fill(&r, img, 16 * 28 * 28, 0.0f, 1.0f);
  float *ref = NULL, *got = NULL;
  size_t n1 = 0, n2 = 0;
  cr_assert_eq(tu_run(ctx, g, "ref", true, &img, &ref, &n1), TERN_OK, "%s",
               tern_last_error());
  cr_assert_eq(tu_run(ctx, g, info.id, true, &img, &got, &n2), TERN_OK, "%s",
               tern_last_error());
  cr_assert_eq(n1, 160);
  cr_assert_eq(n2, 160);
  int diff_pred = 0;
  for (int i = 0; i < 16; i++)
    diff_pred += argmax10(ref + 10 * i) != argmax10(got + 10 * i);
  cr_expect_eq(diff_pred, 0, "%d of 16 predictions differ", diff_pred);
  cr_expect_eq(memcmp(ref, got, 160 * sizeof(float)), 0,
               "logits are not bit-identical");
  free(img);
  free(ref);
  free(got);
  tern_graph_destroy(g);
  tern_context_destroy(ctx);
  cr_expect_eq(tern_vk_validation_message_count(), 0);
}

/* The MNIST test split (idx, gzip) as floats in [0, 1]; NULL if absent. */
static float *load_mnist_test(int *count) {
  const char *dir = tu_mnist_dir();
  if (!dir)
    return NULL;
  char path[1024];
  snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
  gzFile f = gzopen(path, "rb");
  if (!f)
    return NULL;
  unsigned char h[16];
  float *x = NULL;
  if (gzread(f, h, 16) == 16 && h[2] == 8 && h[3] == 3) {
    int n = (h[4] << 24) | (h[5] << 16) | (h[6] << 8) | h[7];
    unsigned char *px = malloc((size_t)n * 784);
    if (px && gzread(f, px, (unsigned)n * 784) == n * 784) {
      x = malloc((size_t)n * 784 * sizeof(float));
      for (size_t i = 0; i < (size_t)n * 784; i++)
        x[i] = (float)px[i] / 255.0f;
      *count = n;
    }
    free(px);
  }
  gzclose(f);
  return x;
}

Test(vulkan, mnist_predictions) {
  /* images of the MNIST test split through the CNN: every prediction (and
   * every logit) identical to the CPU reference. CI runs the first 1000
   * (llvmpipe is slow at the elementwise ops); TERN_MNIST_IMAGES=0 runs all
   * 10000. */
  tern_device_info info;
  tern_context *ctx = vk_context(&info);
  int n = 0;
  float *all = load_mnist_test(&n);
  if (!all) {
    tern_context_destroy(ctx);
    cr_skip_test("MNIST test split not found (TERN_MNIST_DIR)");
  }
  const char *lim = getenv("TERN_MNIST_IMAGES");
  int want = lim ? atoi(lim) : 1000;
  if (want > 0 && want < n)
    n = want;
  const int B = n < 500 ? n : 500;
  tern_graph *g = mnist_cnn(B);
  int diff_pred = 0, diff_bits = 0, done = 0;
  for (int s = 0; s + B <= n; s += B) {
    float *x = all + (size_t)s * 784, *ref = NULL, *got = NULL;
    size_t n1 = 0, n2 = 0;
    cr_assert_eq(tu_run(ctx, g, "ref", true, &x, &ref, &n1), TERN_OK);
    cr_assert_eq(tu_run(ctx, g, info.id, true, &x, &got, &n2), TERN_OK, "%s",
                 tern_last_error());
    for (int i = 0; i < B; i++) {
      diff_pred += argmax10(ref + 10 * i) != argmax10(got + 10 * i);
      diff_bits += memcmp(ref + 10 * i, got + 10 * i, 40) != 0;
    }
    done += B;
    free(ref);
    free(got);
  }
  cr_log_info("MNIST: %d images, %d predictions and %d logit rows differ", done,
              diff_pred, diff_bits);
  cr_expect_eq(done, n - n % B);
  cr_expect_eq(diff_pred, 0);
  cr_expect_eq(diff_bits, 0);
  free(all);
  tern_graph_destroy(g);
  tern_context_destroy(ctx);
  cr_expect_eq(tern_vk_validation_message_count(), 0);
}

/* -------------------------------------------------- concurrent sessions */
typedef struct run_arg {
  tern_session *s;
  float *x;
  size_t nx, ny;
  float *y;
  tern_status st;
} run_arg;

static void *run_thread(void *p) {
  run_arg *a = p;
  for (int i = 0; i < 8 && !a->st; i++) {
    a->st = tern_session_set_input(a->s, 0, a->x, a->nx);
    if (!a->st)
      a->st = tern_session_run(a->s);
    if (!a->st)
      a->st = tern_session_get_output(a->s, 0, a->y, a->ny);
  }
  return NULL;
}

Test(vulkan, concurrent_sessions) {
  /* two sessions on one device, run from two threads at once (the
   * validation layer also checks that Vulkan objects are not used
   * concurrently) */
  tern_device_info info;
  tern_context *ctx = vk_context(&info);
  make_cases();
  run_arg a[2];
  tern_graph *g[2];
  float *ref[2];
  for (int k = 0; k < 2; k++) {
    tu_rng r;
    tu_seed(&r, 31 + (uint64_t)k);
    g[k] = build(&cases[4 + k], &r, &a[k].x);
    size_t n = 0;
    cr_assert_eq(tu_run(ctx, g[k], "ref", true, &a[k].x, &ref[k], &n), TERN_OK);
    tern_session_desc d;
    memset(&d, 0, sizeof d);
    d.size = sizeof d;
    d.device = info.id;
    d.no_fallback = 1;
    cr_assert_eq(tern_session_create(ctx, g[k], &d, &a[k].s), TERN_OK, "%s",
                 tern_last_error());
    a[k].nx = tu_input_elems(g[k], 0);
    a[k].ny = n;
    a[k].y = calloc(n, sizeof(float));
    a[k].st = TERN_OK;
  }
  pthread_t th[2];
  for (int k = 0; k < 2; k++)
    pthread_create(&th[k], NULL, run_thread, &a[k]);
  for (int k = 0; k < 2; k++)
    pthread_join(th[k], NULL);
  for (int k = 0; k < 2; k++) {
    cr_expect_eq(a[k].st, TERN_OK, "session %d: %s", k,
                 tern_session_errmsg(a[k].s));
    cr_expect_eq(memcmp(a[k].y, ref[k], a[k].ny * sizeof(float)), 0,
                 "session %d differs from the reference", k);
    tern_session_destroy(a[k].s);
    tern_graph_destroy(g[k]);
    free(a[k].x);
    free(a[k].y);
    free(ref[k]);
  }
  tern_context_destroy(ctx);
  cr_expect_eq(tern_vk_validation_message_count(), 0);
}

/* ------------------------------------------------------- pipeline cache */
/* Open the backend directly, build one pipeline, report the cache state. */
static int cache_round(char *path, size_t cap) {
  tern_backend_config cfg = {1, NULL, NULL};
  tern_backend_ctx *bctx = NULL;
  tern_err err = {0};
  cr_assert_eq(tern_vulkan_backend.init(&cfg, &bctx, &err), TERN_OK);
  if (tern_vulkan_backend.device_count(bctx) == 0) {
    tern_vulkan_backend.shutdown(bctx);
    cr_skip_test("no Vulkan device");
  }
  tern_device *dev = NULL;
  cr_assert_eq(tern_vulkan_backend.device_open(bctx, 0, &dev, &err), TERN_OK);
  int state = tern_vk_device_cache_state(dev);
  snprintf(path, cap, "%s", tern_vk_device_cache_path(dev));
  tern_vulkan_backend.device_close(dev); /* writes the cache */
  tern_vulkan_backend.shutdown(bctx);
  return state;
}

static long file_size(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return -1;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  return n;
}

static void patch_file(const char *path, long offset, uint8_t xor_mask) {
  FILE *f = fopen(path, "r+b");
  cr_assert(f);
  fseek(f, offset, SEEK_SET);
  int c = fgetc(f);
  fseek(f, offset, SEEK_SET);
  fputc((c ^ xor_mask) & 0xff, f);
  fclose(f);
}

Test(vulkan, pipeline_cache) {
  vk_env();
  char dir[80];
  snprintf(dir, sizeof dir, "/tmp/tern-vk-cache-%d", (int)getpid());
  setenv("TERN_CACHE_DIR", dir, 1);
  char path[600];
  /* first run: no file; the self-tests build pipelines, close saves them */
  cr_expect_eq(cache_round(path, sizeof path), 0);
  long n = file_size(path);
  cr_assert_gt(n, 56, "cache file %s not written", path);
  cr_expect_eq(cache_round(path, sizeof path), 1, "valid cache not loaded");
  /* corrupt data: checksum mismatch -> rebuilt, then valid again */
  patch_file(path, n - 5, 0x5a);
  cr_expect_eq(cache_round(path, sizeof path), 2, "corrupt cache trusted");
  cr_expect_eq(cache_round(path, sizeof path), 1, "rebuilt cache not saved");
  /* stale: another tern version in the header -> rebuilt */
  patch_file(path, 12, 0x01);
  cr_expect_eq(cache_round(path, sizeof path), 2, "stale cache trusted");
  /* truncated file */
  cr_assert_eq(truncate(path, 20), 0);
  cr_expect_eq(cache_round(path, sizeof path), 2, "truncated cache trusted");
  cr_expect_eq(cache_round(path, sizeof path), 1);
  unlink(path);
  rmdir(dir);
  cr_expect_eq(tern_vk_validation_message_count(), 0);
}

/* ---------------------------------------------------------- device lost */
Test(vulkan, device_lost) {
  /* after a loss every call fails fast with TERN_ERR_DEVICE_LOST and a
   * message, nothing hangs or crashes, and teardown still works */
  vk_env();
  tern_backend_config cfg = {1, NULL, NULL};
  tern_backend_ctx *bctx = NULL;
  tern_err err = {0};
  cr_assert_eq(tern_vulkan_backend.init(&cfg, &bctx, &err), TERN_OK);
  if (tern_vulkan_backend.device_count(bctx) == 0) {
    tern_vulkan_backend.shutdown(bctx);
    cr_skip_test("no Vulkan device");
  }
  tern_device *dev = NULL;
  cr_assert_eq(tern_vulkan_backend.device_open(bctx, 0, &dev, &err), TERN_OK);
  tern_buffer *b = NULL;
  float v[4] = {1, 2, 3, 4}, w[4];
  cr_assert_eq(tern_vulkan_backend.buffer_alloc(dev, sizeof v, &b, &err),
               TERN_OK);
  cr_assert_eq(tern_vulkan_backend.buffer_write(b, 0, v, sizeof v, &err),
               TERN_OK);
  tern_exec_node n;
  memset(&n, 0, sizeof n);
  n.op = TERN_OP_RELU;
  n.n_inputs = 1;
  n.in[0] = (tern_view){TERN_DTYPE_F32, 1, {4}, NULL, NULL, 0};
  n.out = n.in[0];
  void *prep = NULL;
  cr_assert_eq(tern_vulkan_backend.node_prepare(dev, &n, &prep, &err), TERN_OK);
  tern_vk_device_mark_lost(dev);
  tern_buffer *bufs[2] = {b, b};
  size_t offs[2] = {0, 0};
  cr_expect_eq(tern_vulkan_backend.node_run(dev, prep, bufs, offs, &err),
               TERN_ERR_DEVICE_LOST);
  cr_expect(strstr(err.msg, "lost") != NULL, "message: %s", err.msg);
  cr_expect_eq(tern_vulkan_backend.sync(dev, &err), TERN_ERR_DEVICE_LOST);
  cr_expect_eq(tern_vulkan_backend.buffer_write(b, 0, v, sizeof v, &err),
               TERN_ERR_DEVICE_LOST);
  cr_expect_eq(tern_vulkan_backend.buffer_read(b, 0, w, sizeof w, &err),
               TERN_ERR_DEVICE_LOST);
  tern_vulkan_backend.node_release(dev, prep);
  tern_vulkan_backend.buffer_free(b);
  tern_vulkan_backend.device_close(dev);
  tern_vulkan_backend.shutdown(bctx);
  cr_expect_eq(tern_vk_validation_message_count(), 0);
}

/* --------------------------------------------------------- no driver */
Test(vulkan, missing_driver) {
  /* no ICD: the loader finds no driver; the context still works on CPU */
  setenv("VK_ICD_FILENAMES", "/nonexistent/tern_icd.json", 1);
  setenv("VK_DRIVER_FILES", "/nonexistent/tern_icd.json", 1);
  unsetenv("TERN_VK_VALIDATION");
  tern_backend_config cfg = {1, NULL, NULL};
  tern_backend_ctx *bctx = NULL;
  tern_err err = {0};
  cr_assert_eq(tern_vulkan_backend.init(&cfg, &bctx, &err), TERN_OK);
  cr_expect_eq(tern_vulkan_backend.device_count(bctx), 0);
  tern_device *dev = NULL;
  cr_expect_eq(tern_vulkan_backend.device_open(bctx, 0, &dev, &err),
               TERN_ERR_NO_DEVICE);
  tern_vulkan_backend.shutdown(bctx);

  tern_context *ctx = NULL;
  cr_assert_eq(tern_context_create(NULL, &ctx), TERN_OK);
  tern_device_info info;
  cr_expect_lt(first_vk(ctx, &info), 0, "a Vulkan device without a driver");
  make_cases();
  tu_rng r;
  tu_seed(&r, 9);
  float *x, *out = NULL;
  size_t n = 0;
  tern_graph *g = build(&cases[3], &r, &x);
  cr_expect_eq(tu_run(ctx, g, "vulkan:0", true, &x, &out, &n),
               TERN_ERR_NO_DEVICE);
  free(out);
  out = NULL;
  cr_expect_eq(tu_run(ctx, g, "cpu:0", true, &x, &out, &n), TERN_OK);
  free(out);
  free(x);
  tern_graph_destroy(g);
  tern_context_destroy(ctx);
}

Test(vulkan, device_info) {
  tern_device_info info;
  tern_context *ctx = vk_context(&info);
  cr_expect_str_eq(info.backend, "vulkan");
  cr_expect_neq(info.name[0], 0);
  cr_expect(strstr(info.features, "vk1.") != NULL, "features '%s'",
            info.features);
  tern_context_destroy(ctx);
}

#endif /* TERN_HAVE_VULKAN */
