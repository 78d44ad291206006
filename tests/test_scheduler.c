/* test_scheduler.c — whole-graph guarantees across devices that the per-op
 * harness (test_diff.c) does not cover: every zoo model × precision × device
 * against the reference session, CPU fallback and values crossing devices,
 * session reuse, memory reuse and fusion switches, and MNIST predictions. */
#include "tern_models.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ------------------------------------------------------------ helpers */

static tern_context *make_ctx(void) {
  tern_context *ctx = NULL;
  cr_assert_eq(tern_context_create(NULL, &ctx), TERN_OK, "context: %s",
               tern_last_error());
  return ctx;
}

/* Device ids of the context: cpu:0 first, then the first vulkan and opencl
 * device when present. Returns the count. */
static int devices(tern_context *ctx, char ids[][32]) {
  int n = 0;
  static const char *const want[] = {"cpu", "vulkan", "opencl"};
  for (int w = 0; w < 3; w++)
    for (int i = 0; i < tern_context_device_count(ctx); i++) {
      tern_device_info di = {.size = sizeof di};
      cr_assert_eq(tern_context_device_info(ctx, i, &di), TERN_OK);
      if (strcmp(di.backend, want[w]) == 0) {
        snprintf(ids[n++], 32, "%s", di.id);
        break;
      }
    }
  return n;
}

static bool has_device(tern_context *ctx, const char *prefix) {
  char ids[3][32];
  int n = devices(ctx, ids);
  for (int i = 0; i < n; i++)
    if (strncmp(ids[i], prefix, strlen(prefix)) == 0)
      return true;
  return false;
}

typedef struct run_opts {
  const char *device; /* NULL: reference */
  int no_fusion, no_memory_reuse, no_fallback;
} run_opts;

static size_t out_elems(tern_session *s) {
  int nd = 0;
  int64_t sh[TERN_MAX_DIMS];
  cr_assert_eq(tern_session_output_shape(s, 0, &nd, sh), TERN_OK);
  size_t n = 1;
  for (int i = 0; i < nd; i++)
    n *= (size_t)sh[i];
  return n;
}

static tern_session *open_session(tern_context *ctx, const tern_graph *g,
                                  const run_opts *o) {
  tern_session_desc d = {.size = sizeof d};
  d.device = o->device;
  d.reference = o->device == NULL;
  d.no_fusion = o->no_fusion;
  d.no_memory_reuse = o->no_memory_reuse;
  d.no_fallback = o->no_fallback;
  tern_session *s = NULL;
  tern_status st = tern_session_create(ctx, g, &d, &s);
  cr_assert_eq(st, TERN_OK, "session on %s: %s: %s",
               o->device ? o->device : "ref", tern_status_name(st),
               tern_last_error());
  return s;
}

/* Set every input from `in` (concatenated), run, return output 0. */
static float *run_session(tern_session *s, const tern_graph *g,
                          float *const *in, size_t *count) {
  for (int i = 0; i < tern_graph_input_count(g); i++) {
    size_t n = tu_input_elems(g, i);
    cr_assert_eq(tern_session_set_input(s, i, in[i], n), TERN_OK, "%s",
                 tern_session_errmsg(s));
  }
  cr_assert_eq(tern_session_run(s), TERN_OK, "run: %s", tern_session_errmsg(s));
  size_t n = out_elems(s);
  float *y = malloc(n * sizeof *y);
  cr_assert_eq(tern_session_get_output(s, 0, y, n), TERN_OK, "%s",
               tern_session_errmsg(s));
  *count = n;
  return y;
}

static float *run_once(tern_context *ctx, const tern_graph *g,
                       const run_opts *o, float *const *in, size_t *count) {
  tern_session *s = open_session(ctx, g, o);
  float *y = run_session(s, g, in, count);
  tern_session_destroy(s);
  return y;
}

/* Random inputs for every graph input. */
static float **make_inputs(const tern_graph *g, uint64_t seed) {
  int n = tern_graph_input_count(g);
  float **in = calloc((size_t)n + 1, sizeof *in);
  tu_rng r;
  tu_seed(&r, seed);
  for (int i = 0; i < n; i++) {
    size_t k = tu_input_elems(g, i);
    in[i] = malloc(k * sizeof(float));
    tu_fill(&r, in[i], k, -1.0f, 1.0f);
  }
  return in;
}

static void free_inputs(const tern_graph *g, float **in) {
  for (int i = 0; i < tern_graph_input_count(g); i++)
    free(in[i]);
  free(in);
}

static float max_abs(const float *x, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; i++)
    m = fmaxf(m, fabsf(x[i]));
  return m;
}

/* First index of a mismatch (bitwise), or -1. */
static long first_diff(const float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
      return (long)i;
  return -1;
}

static int argmax(const float *x, int n, float *margin) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best])
      best = i;
  float second = -INFINITY;
  for (int i = 0; i < n; i++)
    if (i != best && x[i] > second)
      second = x[i];
  if (margin)
    *margin = x[best] - second;
  return best;
}

/* A graph is exact across devices when every linear/conv2d has quantized
 * weights and every other op is exact (docs/NUMERICS.md): integer GEMMs with
 * the shared epilogue, relu/relu6, max pooling, add, and layout ops. */
static bool graph_is_exact(const tern_graph *g) {
  for (int i = 0; i < tern_graph_node_count(g); i++) {
    tern_node_info ni = {.size = sizeof ni};
    cr_assert_eq(tern_graph_node_info(g, i, &ni), TERN_OK);
    switch (ni.op) {
    case TERN_OP_LINEAR:
    case TERN_OP_CONV2D: {
      tern_tensor_info w = {.size = sizeof w};
      cr_assert_eq(tern_graph_tensor_info(g, ni.inputs[1], &w), TERN_OK);
      if (w.dtype == TERN_DTYPE_F32 || ni.params.activation == TERN_ACT_GELU ||
          ni.params.activation == TERN_ACT_SILU)
        return false;
      break;
    }
    case TERN_OP_RELU:
    case TERN_OP_RELU6:
    case TERN_OP_MAXPOOL2D:
    case TERN_OP_ADD:
    case TERN_OP_FLATTEN:
    case TERN_OP_RESHAPE:
    case TERN_OP_CONCAT:
    case TERN_OP_PERMUTE:
      break;
    default:
      return false;
    }
  }
  return true;
}

/* ------------------------------------------- 1. zoo × precision × device */

/* Tolerance of the float paths, relative to max|reference output|. fp32
 * models differ only in summation order; quantized models with float ops
 * (average pooling, norms, softmax, silu) can in addition move one
 * activation across a quantization step, which the next layer amplifies. */
#define TOL_FP32 1e-4
#define TOL_QFLOAT 5e-2

typedef struct zoo_case {
  const char *model;
  int width, seq;
} zoo_case;

static void check_model(const zoo_case *zc) {
  tern_context *ctx = make_ctx();
  char ids[3][32];
  int nd = devices(ctx, ids);
  static const tern_model_precision precs[] = {
      TERN_MODEL_FP32, TERN_MODEL_INT8, TERN_MODEL_TERNARY, TERN_MODEL_MIXED};
  static const int64_t batches[] = {1, 3};
  for (size_t p = 0; p < 4; p++)
    for (size_t b = 0; b < 2; b++) {
      tern_model_desc md = {.size = sizeof md};
      md.batch = batches[b];
      md.seed = 7;
      md.precision = precs[p];
      md.width = zc->width;
      md.seq = zc->seq;
      tern_graph *g = NULL;
      cr_assert_eq(tern_model_build(zc->model, &md, &g), TERN_OK, "%s: %s",
                   zc->model, tern_model_errmsg());
      bool exact = graph_is_exact(g);
      double tol = precs[p] == TERN_MODEL_FP32 ? TOL_FP32 : TOL_QFLOAT;
      float **in = make_inputs(g, 100 + b);
      size_t nref = 0;
      run_opts ro = {0};
      float *ref = run_once(ctx, g, &ro, in, &nref);
      float scale = max_abs(ref, nref);
      int nd_out = 0;
      int64_t sh[TERN_MAX_DIMS];
      cr_assert_eq(tern_graph_output(g, 0, &(int){0}), TERN_OK);
      /* rows of the last output dimension: classes, or model width d */
      {
        tern_session *s = open_session(ctx, g, &ro);
        cr_assert_eq(tern_session_output_shape(s, 0, &nd_out, sh), TERN_OK);
        tern_session_destroy(s);
      }
      int cols = (int)sh[nd_out - 1];
      int rows = (int)(nref / (size_t)cols);
      for (int d = 0; d < nd; d++) {
        run_opts o = {.device = ids[d]};
        size_t n = 0;
        tern_session *ses = open_session(ctx, g, &o);
        tern_session_info info = {.size = sizeof info};
        cr_assert_eq(tern_session_get_info(ses, &info), TERN_OK);
        float *y = run_session(ses, g, in, &n);
        tern_session_destroy(ses);
        cr_assert_eq(n, nref);
        const char *pn = tern_model_precision_name(precs[p]);
        if (info.fallback_count)
          cr_log_info("%s %s batch %lld on %s: %d nodes fell back to the CPU",
                      zc->model, pn, (long long)batches[b], ids[d],
                      info.fallback_count);
        if (exact) {
          cr_log_info("%s %s batch %lld on %s: exact", zc->model, pn,
                      (long long)batches[b], ids[d]);
          long i = first_diff(ref, y, n);
          cr_expect_eq(i, -1,
                       "%s %s batch %lld on %s: element %ld = %.9g, "
                       "reference %.9g (exact path must be bit-identical)",
                       zc->model, pn, (long long)batches[b], ids[d], i,
                       i >= 0 ? y[i] : 0.0, i >= 0 ? ref[i] : 0.0);
        } else {
          double worst = 0;
          size_t wi = 0;
          for (size_t i = 0; i < n; i++) {
            double e = fabs((double)y[i] - ref[i]);
            if (!(e <= worst)) {
              worst = e;
              wi = i;
            }
          }
          cr_log_info("%s %s batch %lld on %s: max |diff| / max|ref| = %.3g",
                      zc->model, pn, (long long)batches[b], ids[d],
                      scale > 0 ? worst / scale : worst);
          cr_expect(worst <= tol * scale,
                    "%s %s batch %lld on %s: |diff| %.3g at %zu (%.9g vs "
                    "ref %.9g) above %.3g * max|ref| %.3g",
                    zc->model, pn, (long long)batches[b], ids[d], worst, wi,
                    y[wi], ref[wi], tol, scale);
        }
        for (int r = 0; r < rows; r++) {
          float margin = 0;
          int a = argmax(ref + (size_t)r * cols, cols, &margin);
          int a2 = argmax(y + (size_t)r * cols, cols, NULL);
          if (exact || margin > 2 * tol * scale)
            cr_expect_eq(a, a2,
                         "%s %s batch %lld on %s row %d: top-1 %d vs "
                         "reference %d (margin %.3g)",
                         zc->model, pn, (long long)batches[b], ids[d], r, a2, a,
                         margin);
        }
        free(y);
      }
      free(ref);
      free_inputs(g, in);
      tern_graph_destroy(g);
    }
  tern_context_destroy(ctx);
}

Test(zoo, mlp) {
  check_model(&(zoo_case){"mlp", 64, 0});
}
Test(zoo, lenet5) {
  check_model(&(zoo_case){"lenet5", 0, 0});
}
Test(zoo, resnet_mini) {
  check_model(&(zoo_case){"resnet-mini", 8, 0});
}
Test(zoo, mobilenet_mini) {
  check_model(&(zoo_case){"mobilenet-mini", 8, 0});
}
Test(zoo, bitnet_block) {
  check_model(&(zoo_case){"bitnet-block", 128, 8});
}

/* The exactness classification itself: mlp and lenet5 in int8/ternary are
 * exact, their fp32 forms and bitnet-block are not. */
Test(zoo, exact_classification) {
  struct {
    const char *m;
    tern_model_precision p;
    bool exact;
  } k[] = {{"mlp", TERN_MODEL_TERNARY, true},
           {"mlp", TERN_MODEL_INT8, true},
           {"lenet5", TERN_MODEL_MIXED, true},
           {"mlp", TERN_MODEL_FP32, false},
           {"bitnet-block", TERN_MODEL_TERNARY, false}};
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    tern_model_desc md = {.size = sizeof md, .precision = k[i].p};
    md.width = strcmp(k[i].m, "bitnet-block") == 0 ? 128 : 0;
    md.seq = 8;
    tern_graph *g = NULL;
    cr_assert_eq(tern_model_build(k[i].m, &md, &g), TERN_OK, "%s",
                 tern_model_errmsg());
    cr_expect_eq(graph_is_exact(g), k[i].exact, "%s %d", k[i].m, (int)k[i].p);
    tern_graph_destroy(g);
  }
}

/* ------------------------------------------------ 2. scheduler behaviour */

static int add_node(tern_graph *g, tern_op op, const char *name, int n_in,
                    const int *ins, const tern_op_params *p) {
  tern_node_desc nd = {.size = sizeof nd, .op = op, .name = name};
  nd.n_inputs = n_in;
  for (int i = 0; i < n_in; i++)
    nd.inputs[i] = ins[i];
  if (p)
    nd.params = *p;
  int id = -1;
  cr_assert_eq(tern_graph_add_node(g, &nd, &id), TERN_OK, "%s: %s", name,
               tern_graph_errmsg(g));
  return id;
}

/* A chain whose nodes alternate between device-supported ones (linear with
 * constant quantized weights, relu, add) and ones no GPU backend supports
 * (linear whose weights are a graph input, not a constant), so values cross
 * device -> CPU -> device several times:
 *   x -> q1 (ternary) -> relu -> dyn1 (W1 input) -> q2 (int8) -> relu ->
 *   dyn2 (W2 input) -> add bias -> q3 (ternary) */
static tern_graph *crossing_graph(int64_t batch) {
  tern_graph *g = NULL;
  cr_assert_eq(tern_graph_create(&g), TERN_OK);
  tu_rng r;
  tu_seed(&r, 42);
  int x, w1, w2;
  cr_assert_eq(tern_graph_add_input(g, "x", 2, (int64_t[]){batch, 24}, &x),
               TERN_OK);
  cr_assert_eq(tern_graph_add_input(g, "w1", 2, (int64_t[]){32, 32}, &w1),
               TERN_OK);
  cr_assert_eq(tern_graph_add_input(g, "w2", 2, (int64_t[]){16, 32}, &w2),
               TERN_OK);
  int q1w = tu_add_weight(g, &r, "q1.w", TERN_DTYPE_TERNARY, 2,
                          (int64_t[]){32, 24}, 1.0f, false);
  int q2w = tu_add_weight(g, &r, "q2.w", TERN_DTYPE_I8, 2, (int64_t[]){32, 32},
                          1.0f, false);
  int q3w = tu_add_weight(g, &r, "q3.w", TERN_DTYPE_TERNARY, 2,
                          (int64_t[]){10, 16}, 1.0f, false);
  int bias = tu_add_f32(g, &r, "bias", 1, (int64_t[]){16}, -0.5f, 0.5f);
  int y = add_node(g, TERN_OP_LINEAR, "q1", 2, (int[]){x, q1w}, NULL);
  y = add_node(g, TERN_OP_RELU, "relu1", 1, &y, NULL);
  y = add_node(g, TERN_OP_LINEAR, "dyn1", 2, (int[]){y, w1}, NULL);
  y = add_node(g, TERN_OP_LINEAR, "q2", 2, (int[]){y, q2w}, NULL);
  y = add_node(g, TERN_OP_RELU, "relu2", 1, &y, NULL);
  y = add_node(g, TERN_OP_LINEAR, "dyn2", 2, (int[]){y, w2}, NULL);
  y = add_node(g, TERN_OP_ADD, "addb", 2, (int[]){y, bias}, NULL);
  y = add_node(g, TERN_OP_LINEAR, "q3", 2, (int[]){y, q3w}, NULL);
  cr_assert_eq(tern_graph_add_output(g, y), TERN_OK);
  return g;
}

static const char *placement_of(tern_session *s, const char *node) {
  tern_session_info info = {.size = sizeof info};
  cr_assert_eq(tern_session_get_info(s, &info), TERN_OK);
  for (int i = 0; i < info.node_count; i++) {
    const char *name = NULL, *dev = NULL;
    cr_assert_eq(tern_session_node_placement(s, i, NULL, &name, &dev), TERN_OK);
    if (name && strcmp(name, node) == 0)
      return dev;
  }
  return NULL;
}

/* Fallback, crossing, no_fallback, and agreement with cpu:0 and reference. */
static void check_crossing(tern_context *ctx, const char *dev) {
  for (int fuse = 0; fuse < 2; fuse++) {
    tern_graph *g = crossing_graph(3);
    float **in = make_inputs(g, 5);
    run_opts o = {.device = dev, .no_fusion = !fuse};
    tern_session *s = open_session(ctx, g, &o);
    tern_session_info info = {.size = sizeof info};
    cr_assert_eq(tern_session_get_info(s, &info), TERN_OK);
    cr_expect_eq(info.fallback_count, 2, "%s: fallback_count %d, want 2", dev,
                 info.fallback_count);
    const char *p;
    cr_expect_str_eq((p = placement_of(s, "dyn1")) ? p : "?", "cpu:0");
    cr_expect_str_eq((p = placement_of(s, "dyn2")) ? p : "?", "cpu:0");
    cr_expect_str_eq((p = placement_of(s, "q1")) ? p : "?", dev);
    cr_expect_str_eq((p = placement_of(s, "q2")) ? p : "?", dev);
    cr_expect_str_eq((p = placement_of(s, "q3")) ? p : "?", dev);
    size_t n = 0, nc = 0, nr = 0;
    float *y = run_session(s, g, in, &n);
    /* run again with new inputs in the same session */
    float **in2 = make_inputs(g, 6);
    float *y2 = run_session(s, g, in2, &n);
    tern_session_destroy(s);

    /* cpu:0 runs the fallback nodes with the same kernels, the quantized
     * device nodes are exact: bit-identical to a cpu:0 session */
    run_opts oc = {.device = "cpu:0", .no_fusion = !fuse};
    float *c = run_once(ctx, g, &oc, in, &nc);
    float *c2 = run_once(ctx, g, &oc, in2, &nc);
    cr_assert_eq(nc, n);
    long i = first_diff(y, c, n);
    cr_expect_eq(i, -1, "%s fuse=%d: element %ld %.9g vs cpu:0 %.9g", dev, fuse,
                 i, i >= 0 ? y[i] : 0.0, i >= 0 ? c[i] : 0.0);
    i = first_diff(y2, c2, n);
    cr_expect_eq(i, -1, "%s fuse=%d second run: element %ld %.9g vs %.9g", dev,
                 fuse, i, i >= 0 ? y2[i] : 0.0, i >= 0 ? c2[i] : 0.0);
    cr_expect_neq(first_diff(y, y2, n), -1, "new inputs, same outputs");
    /* and within the float tolerance of the reference (f32 linear) */
    run_opts orf = {0};
    float *ref = run_once(ctx, g, &orf, in, &nr);
    float sc = max_abs(ref, nr);
    for (size_t k = 0; k < n; k++)
      cr_expect(fabsf(y[k] - ref[k]) <= TOL_QFLOAT * sc,
                "%s: %zu %.9g vs ref %.9g", dev, k, y[k], ref[k]);

    /* no_fallback: the session fails, naming the node */
    tern_session_desc d = {.size = sizeof d, .device = dev, .no_fallback = 1};
    tern_session *bad = NULL;
    tern_status st = tern_session_create(ctx, g, &d, &bad);
    if (strcmp(dev, "cpu:0") == 0) {
      cr_expect_eq(st, TERN_OK);
    } else {
      cr_expect_eq(st, TERN_ERR_UNSUPPORTED, "%s", tern_status_name(st));
      cr_expect(strstr(tern_last_error(), "dyn1") != NULL,
                "message does not name the node: %s", tern_last_error());
      cr_expect(bad == NULL);
    }
    tern_session_destroy(bad);
    free(y);
    free(y2);
    free(c);
    free(c2);
    free(ref);
    free_inputs(g, in);
    free_inputs(g, in2);
    tern_graph_destroy(g);
  }
}

Test(scheduler, crossing_vulkan) {
  tern_context *ctx = make_ctx();
  if (!has_device(ctx, "vulkan:")) {
    tern_context_destroy(ctx);
    cr_skip_test("no Vulkan device");
  }
  check_crossing(ctx, "vulkan:0");
  tern_context_destroy(ctx);
}

Test(scheduler, crossing_opencl) {
  tern_context *ctx = make_ctx();
  if (!has_device(ctx, "opencl:")) {
    tern_context_destroy(ctx);
    cr_skip_test("no OpenCL device");
  }
  check_crossing(ctx, "opencl:0");
  tern_context_destroy(ctx);
}

/* On the CPU nothing falls back, and no_fallback changes nothing. */
Test(scheduler, cpu_no_fallback) {
  tern_context *ctx = make_ctx();
  tern_graph *g = crossing_graph(2);
  run_opts o = {.device = "cpu:0", .no_fallback = 1};
  tern_session *s = open_session(ctx, g, &o);
  tern_session_info info = {.size = sizeof info};
  cr_assert_eq(tern_session_get_info(s, &info), TERN_OK);
  cr_expect_eq(info.fallback_count, 0);
  tern_session_destroy(s);
  tern_graph_destroy(g);
  tern_context_destroy(ctx);
}

/* Vulkan held to the spec's minimum limits (TERN_VK_MIN_DEVICE=1, read when
 * the device is opened): a conv2d whose im2col buffer exceeds 65536 texels
 * goes to the CPU; the rest of the graph stays on Vulkan. Criterion runs
 * each test in its own process, so the variable does not leak. */
Test(scheduler, vulkan_min_device_conv_fallback) {
  setenv("TERN_VK_MIN_DEVICE", "1", 1);
  tern_context *ctx = make_ctx();
  if (!has_device(ctx, "vulkan:")) {
    tern_context_destroy(ctx);
    cr_skip_test("no Vulkan device");
  }
  tern_graph *g = NULL;
  cr_assert_eq(tern_graph_create(&g), TERN_OK);
  tu_rng r;
  tu_seed(&r, 3);
  int x;
  cr_assert_eq(tern_graph_add_input(g, "x", 4, (int64_t[]){1, 8, 64, 64}, &x),
               TERN_OK);
  /* rows 64*64 = 4096, K = 8*3*3 = 72: 4096*(72+32)/4 = 106496 texels */
  int wbig = tu_add_weight(g, &r, "big.w", TERN_DTYPE_TERNARY, 4,
                           (int64_t[]){8, 8, 3, 3}, 1.0f, false);
  int wsmall = tu_add_weight(g, &r, "small.w", TERN_DTYPE_I8, 4,
                             (int64_t[]){4, 8, 1, 1}, 1.0f, false);
  tern_op_params pc = {0};
  pc.pad[0] = pc.pad[1] = 1;
  tern_op_params pool = {0};
  pool.kernel[0] = pool.kernel[1] = 4;
  pool.stride[0] = pool.stride[1] = 4;
  int y = add_node(g, TERN_OP_CONV2D, "big", 2, (int[]){x, wbig}, &pc);
  y = add_node(g, TERN_OP_RELU, "relu", 1, &y, NULL);
  y = add_node(g, TERN_OP_MAXPOOL2D, "pool", 1, &y, &pool);
  /* 16x16 after the pool: rows 256, K 8 -> fits */
  y = add_node(g, TERN_OP_CONV2D, "small", 2, (int[]){y, wsmall}, NULL);
  cr_assert_eq(tern_graph_add_output(g, y), TERN_OK);
  float **in = make_inputs(g, 9);

  run_opts o = {.device = "vulkan:0"};
  tern_session *s = open_session(ctx, g, &o);
  tern_session_info info = {.size = sizeof info};
  cr_assert_eq(tern_session_get_info(s, &info), TERN_OK);
  cr_expect_gt(info.fallback_count, 0);
  const char *p = placement_of(s, "big");
  cr_expect_str_eq(p ? p : "?", "cpu:0");
  p = placement_of(s, "small");
  cr_expect_str_eq(p ? p : "?", "vulkan:0");
  size_t n = 0, nr = 0;
  float *y1 = run_session(s, g, in, &n);
  tern_session_destroy(s);
  run_opts orf = {0};
  float *ref = run_once(ctx, g, &orf, in, &nr);
  cr_assert_eq(n, nr);
  long i = first_diff(y1, ref, n);
  cr_expect_eq(i, -1, "element %ld: %.9g vs ref %.9g", i, i >= 0 ? y1[i] : 0.0,
               i >= 0 ? ref[i] : 0.0);

  tern_session_desc d = {
      .size = sizeof d, .device = "vulkan:0", .no_fallback = 1};
  tern_session *bad = NULL;
  cr_expect_eq(tern_session_create(ctx, g, &d, &bad), TERN_ERR_UNSUPPORTED);
  cr_expect(strstr(tern_last_error(), "'big'") != NULL, "%s",
            tern_last_error());
  free(y1);
  free(ref);
  free_inputs(g, in);
  tern_graph_destroy(g);
  tern_context_destroy(ctx);
}

/* Memory reuse on/off, fusion on/off, every device: same results. Reuse is
 * bit-identical (same kernels); unfused graphs run batchnorm/relu as their
 * own float ops, within the float tolerance. */
Test(scheduler, reuse_and_fusion) {
  tern_context *ctx = make_ctx();
  char ids[3][32];
  int nd = devices(ctx, ids);
  static const char *const models[] = {"resnet-mini", "lenet5"};
  for (int m = 0; m < 2; m++) {
    tern_model_desc md = {.size = sizeof md, .batch = 2, .seed = 11};
    md.precision = TERN_MODEL_TERNARY;
    md.width = m == 0 ? 8 : 0;
    tern_graph *g = NULL;
    cr_assert_eq(tern_model_build(models[m], &md, &g), TERN_OK, "%s",
                 tern_model_errmsg());
    float **in = make_inputs(g, 21);
    for (int d = 0; d < nd; d++) {
      size_t n0 = 0, n1 = 0, n2 = 0;
      run_opts o = {.device = ids[d]};
      float *a = run_once(ctx, g, &o, in, &n0);
      o.no_memory_reuse = 1;
      float *b = run_once(ctx, g, &o, in, &n1);
      o.no_memory_reuse = 0;
      o.no_fusion = 1;
      float *c = run_once(ctx, g, &o, in, &n2);
      cr_assert(n0 == n1 && n0 == n2);
      long i = first_diff(a, b, n0);
      cr_expect_eq(i, -1, "%s on %s: reuse off differs at %ld (%.9g vs %.9g)",
                   models[m], ids[d], i, i >= 0 ? b[i] : 0.0,
                   i >= 0 ? a[i] : 0.0);
      float sc = max_abs(a, n0);
      for (size_t k = 0; k < n0; k++)
        cr_expect(fabsf(a[k] - c[k]) <= TOL_QFLOAT * sc,
                  "%s on %s: unfused %zu %.9g vs fused %.9g", models[m], ids[d],
                  k, c[k], a[k]);
      /* memory reuse must actually shrink the arena for this to mean much */
      tern_session *s = open_session(ctx, g, &(run_opts){.device = ids[d]});
      tern_session_info info = {.size = sizeof info};
      cr_assert_eq(tern_session_get_info(s, &info), TERN_OK);
      cr_expect_lt(info.peak_activation_bytes, info.naive_activation_bytes);
      cr_expect_gt(info.fused_count, 0);
      tern_session_destroy(s);
      free(a);
      free(b);
      free(c);
    }
    free_inputs(g, in);
    tern_graph_destroy(g);
  }
  tern_context_destroy(ctx);
}

/* get_output before the first run: a clear error, not garbage. */
Test(scheduler, output_before_run) {
  tern_context *ctx = make_ctx();
  char ids[3][32];
  int nd = devices(ctx, ids);
  tern_graph *g = NULL;
  tern_model_desc md = {.size = sizeof md, .precision = TERN_MODEL_INT8};
  md.width = 32;
  cr_assert_eq(tern_model_build("mlp", &md, &g), TERN_OK);
  for (int d = 0; d < nd; d++) {
    tern_session *s = open_session(ctx, g, &(run_opts){.device = ids[d]});
    size_t n = out_elems(s);
    float *y = malloc(n * sizeof *y);
    tern_status st = tern_session_get_output(s, 0, y, n);
    cr_expect_eq(st, TERN_ERR_INVALID_ARGUMENT, "%s: %s", ids[d],
                 tern_status_name(st));
    cr_expect(strstr(tern_session_errmsg(s), "run") != NULL, "%s",
              tern_session_errmsg(s));
    /* run without inputs: an error naming the missing input */
    st = tern_session_run(s);
    cr_expect_eq(st, TERN_ERR_INVALID_ARGUMENT, "%s run without input: %s",
                 ids[d], tern_status_name(st));
    free(y);
    tern_session_destroy(s);
  }
  tern_graph_destroy(g);
  tern_context_destroy(ctx);
}

/* ----------------------------------------------------------- 3. MNIST */

#define MNIST_FIRST 8000
#define MNIST_COUNT 500

/* Images [first, first+count) of the t10k split as [count,784] floats in
 * [0,1]; NULL (with a reason) when the file is missing or malformed. */
static float *mnist_images(const char *dir, int first, int count) {
  char path[1200];
  snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
  gzFile f = gzopen(path, "rb");
  if (!f)
    return NULL;
  unsigned char h[16];
  float *x = NULL;
  if (gzread(f, h, 16) == 16) {
    uint32_t magic = (uint32_t)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3];
    uint32_t n = (uint32_t)h[4] << 24 | h[5] << 16 | h[6] << 8 | h[7];
    uint32_t rows = (uint32_t)h[8] << 24 | h[9] << 16 | h[10] << 8 | h[11];
    uint32_t cols = (uint32_t)h[12] << 24 | h[13] << 16 | h[14] << 8 | h[15];
    cr_assert_eq(magic, 0x803u, "bad IDX magic %#x in %s", magic, path);
    cr_assert(rows == 28 && cols == 28 && n >= (uint32_t)(first + count));
    unsigned char *buf = malloc((size_t)count * 784);
    if (gzseek(f, 16 + (z_off_t)first * 784, SEEK_SET) >= 0 &&
        gzread(f, buf, (unsigned)count * 784) == count * 784) {
      x = malloc((size_t)count * 784 * sizeof *x);
      for (size_t i = 0; i < (size_t)count * 784; i++)
        x[i] = buf[i] / 255.0f;
    }
    free(buf);
  }
  gzclose(f);
  return x;
}

static void check_mnist(const char *model) {
  const char *dir = tu_mnist_dir();
  if (!dir)
    cr_skip_test("MNIST not present (set TERN_MNIST_DIR)");
  float *x = mnist_images(dir, MNIST_FIRST, MNIST_COUNT);
  cr_assert(x, "cannot read MNIST images from %s", dir);
  tern_context *ctx = make_ctx();
  char ids[3][32];
  int nd = devices(ctx, ids);
  static const tern_model_precision precs[] = {TERN_MODEL_TERNARY,
                                               TERN_MODEL_INT8};
  for (int p = 0; p < 2; p++) {
    tern_model_desc md = {.size = sizeof md, .batch = MNIST_COUNT, .seed = 1};
    md.precision = precs[p];
    tern_graph *g = NULL;
    cr_assert_eq(tern_model_build(model, &md, &g), TERN_OK, "%s",
                 tern_model_errmsg());
    cr_assert_eq(tu_input_elems(g, 0), (size_t)MNIST_COUNT * 784);
    float *in[1] = {x};
    size_t nr = 0;
    float *ref = run_once(ctx, g, &(run_opts){0}, in, &nr);
    int classes = (int)(nr / MNIST_COUNT);
    for (int d = 0; d < nd; d++) {
      size_t n = 0;
      float *y = run_once(ctx, g, &(run_opts){.device = ids[d]}, in, &n);
      cr_assert_eq(n, nr);
      int differ = 0, first = -1;
      for (int i = 0; i < MNIST_COUNT; i++)
        if (argmax(y + (size_t)i * classes, classes, NULL) !=
            argmax(ref + (size_t)i * classes, classes, NULL)) {
          differ++;
          if (first < 0)
            first = i;
        }
      cr_expect_eq(differ, 0,
                   "%s %s on %s: %d of %d predictions differ from the "
                   "reference (first: image %d)",
                   model, tern_model_precision_name(precs[p]), ids[d], differ,
                   MNIST_COUNT, MNIST_FIRST + first);
      long i = first_diff(y, ref, n);
      cr_expect_eq(i, -1, "%s on %s: logit %ld %.9g vs ref %.9g", model, ids[d],
                   i, i >= 0 ? y[i] : 0.0, i >= 0 ? ref[i] : 0.0);
      free(y);
    }
    free(ref);
    tern_graph_destroy(g);
  }
  tern_context_destroy(ctx);
  free(x);
}

Test(mnist, lenet5) {
  check_mnist("lenet5");
}
Test(mnist, mlp) {
  check_mnist("mlp");
}

/* Running a session again without setting the inputs again. session.c keeps
 * inputs "valid where they are" after a run, so a second run must give the
 * same outputs (or fail with a clear error) on every device, with and
 * without memory reuse and across device -> CPU crossings.
 * (Regression: inputs once shared arena bytes with later activations.) */
static void check_rerun_same_inputs(const tern_graph *g, const char *label,
                                    int reuse) {
  tern_context *ctx = make_ctx();
  char ids[3][32];
  int nd = devices(ctx, ids);
  float **in = make_inputs(g, 77);
  for (int d = 0; d < nd; d++) {
    run_opts o = {.device = ids[d], .no_memory_reuse = !reuse};
    tern_session *s = open_session(ctx, g, &o);
    size_t n = 0;
    float *y1 = run_session(s, g, in, &n);
    tern_status st = tern_session_run(s);
    float *y2 = calloc(n, sizeof *y2);
    if (st == TERN_OK) {
      cr_assert_eq(tern_session_get_output(s, 0, y2, n), TERN_OK);
      long i = first_diff(y1, y2, n);
      cr_expect_eq(i, -1,
                   "%s on %s (memory reuse %s): second run without "
                   "set_input differs at %ld: %.9g vs first run %.9g",
                   label, ids[d], reuse ? "on" : "off", i, i >= 0 ? y2[i] : 0.0,
                   i >= 0 ? y1[i] : 0.0);
    } else {
      cr_expect(strstr(tern_session_errmsg(s), "input") != NULL, "%s",
                tern_session_errmsg(s));
    }
    free(y1);
    free(y2);
    tern_session_destroy(s);
  }
  free_inputs(g, in);
  tern_context_destroy(ctx);
}

static tern_graph *rerun_mlp(void) {
  tern_model_desc md = {.size = sizeof md, .batch = 2, .seed = 4};
  md.precision = TERN_MODEL_TERNARY;
  md.width = 64;
  tern_graph *g = NULL;
  cr_assert_eq(tern_model_build("mlp", &md, &g), TERN_OK);
  return g;
}

Test(scheduler, rerun_without_set_input_no_reuse) {
  tern_graph *g = rerun_mlp();
  check_rerun_same_inputs(g, "mlp", 0);
  tern_graph_destroy(g);
  g = crossing_graph(2);
  check_rerun_same_inputs(g, "crossing graph", 0);
  tern_graph_destroy(g);
}

Test(scheduler, rerun_without_set_input_mlp_reuse) {
  tern_graph *g = rerun_mlp();
  check_rerun_same_inputs(g, "mlp", 1);
  tern_graph_destroy(g);
}

Test(scheduler, rerun_without_set_input_crossing_reuse) {
  tern_graph *g = crossing_graph(2);
  check_rerun_same_inputs(g, "crossing graph", 1);
  tern_graph_destroy(g);
}

/* Graph outputs in the middle of a fusible chain (conv -> batchnorm -> relu
 * with the conv and batchnorm outputs also marked as outputs) are never fused
 * away, and a fallback node's output read back from the CPU: every output on
 * every device equals the reference (conv exact; batchnorm is float). */
Test(scheduler, intermediate_outputs) {
  tern_context *ctx = make_ctx();
  char ids[3][32];
  int nd = devices(ctx, ids);
  tern_graph *g = NULL;
  cr_assert_eq(tern_graph_create(&g), TERN_OK);
  tu_rng r;
  tu_seed(&r, 8);
  int x, w;
  cr_assert_eq(tern_graph_add_input(g, "x", 4, (int64_t[]){2, 3, 9, 9}, &x),
               TERN_OK);
  cr_assert_eq(tern_graph_add_input(g, "w", 2, (int64_t[]){5, 4}, &w), TERN_OK);
  int cw = tu_add_weight(g, &r, "conv.w", TERN_DTYPE_TERNARY, 4,
                         (int64_t[]){4, 3, 3, 3}, 1.0f, false);
  int bn[4];
  bn[0] = tu_add_f32(g, &r, "bn.g", 1, (int64_t[]){4}, 0.5f, 1.5f);
  bn[1] = tu_add_f32(g, &r, "bn.b", 1, (int64_t[]){4}, -0.5f, 0.5f);
  bn[2] = tu_add_f32(g, &r, "bn.m", 1, (int64_t[]){4}, -0.5f, 0.5f);
  bn[3] = tu_add_f32(g, &r, "bn.v", 1, (int64_t[]){4}, 0.5f, 1.5f);
  int c = add_node(g, TERN_OP_CONV2D, "conv", 2, (int[]){x, cw}, NULL);
  int b = add_node(g, TERN_OP_BATCHNORM, "bn", 5,
                   (int[]){c, bn[0], bn[1], bn[2], bn[3]}, NULL);
  int a = add_node(g, TERN_OP_RELU, "relu", 1, &b, NULL);
  int gp = add_node(g, TERN_OP_GLOBAL_AVGPOOL, "gap", 1, &a, NULL);
  tern_op_params fl = {0};
  fl.axis = 1;
  int f = add_node(g, TERN_OP_FLATTEN, "flat", 1, &gp, &fl);
  /* linear with graph-input weights: falls back on GPU backends */
  int dyn = add_node(g, TERN_OP_LINEAR, "dyn", 2, (int[]){f, w}, NULL);
  int outs[] = {dyn, c, b, a};
  for (int i = 0; i < 4; i++)
    cr_assert_eq(tern_graph_add_output(g, outs[i]), TERN_OK);
  float **in = make_inputs(g, 12);
  tern_session *rs = open_session(ctx, g, &(run_opts){0});
  size_t n0 = 0;
  free(run_session(rs, g, in, &n0));
  for (int d = 0; d < nd; d++) {
    tern_session *s = open_session(ctx, g, &(run_opts){.device = ids[d]});
    size_t n = 0;
    free(run_session(s, g, in, &n));
    for (int o = 0; o < 4; o++) {
      int ndim = 0;
      int64_t sh[TERN_MAX_DIMS];
      cr_assert_eq(tern_session_output_shape(s, o, &ndim, sh), TERN_OK);
      size_t k = 1;
      for (int j = 0; j < ndim; j++)
        k *= (size_t)sh[j];
      float *y = malloc(k * sizeof *y), *ref = malloc(k * sizeof *ref);
      cr_assert_eq(tern_session_get_output(s, o, y, k), TERN_OK, "%s",
                   tern_session_errmsg(s));
      cr_assert_eq(tern_session_get_output(rs, o, ref, k), TERN_OK);
      float sc = max_abs(ref, k);
      if (o == 1) {
        long i = first_diff(y, ref, k);
        cr_expect_eq(i, -1, "%s: conv output %ld %.9g vs ref %.9g", ids[d], i,
                     i >= 0 ? y[i] : 0.0, i >= 0 ? ref[i] : 0.0);
      }
      for (size_t i = 0; i < k; i++)
        cr_expect(fabsf(y[i] - ref[i]) <= TOL_FP32 * sc,
                  "%s output %d [%zu]: %.9g vs ref %.9g", ids[d], o, i, y[i],
                  ref[i]);
      free(y);
      free(ref);
    }
    if (strncmp(ids[d], "cpu", 3) != 0) {
      const char *p = placement_of(s, "dyn");
      cr_expect_str_eq(p ? p : "?", "cpu:0");
    }
    tern_session_destroy(s);
  }
  tern_session_destroy(rs);
  free_inputs(g, in);
  tern_graph_destroy(g);
  tern_context_destroy(ctx);
}

/* The session's batch override (desc.batch) equals building the model with
 * that batch, on every device. */
Test(scheduler, batch_override) {
  tern_context *ctx = make_ctx();
  char ids[3][32];
  int nd = devices(ctx, ids);
  tern_model_desc md = {.size = sizeof md, .batch = 1, .seed = 2};
  md.precision = TERN_MODEL_MIXED;
  tern_graph *g1 = NULL, *g3 = NULL;
  cr_assert_eq(tern_model_build("lenet5", &md, &g1), TERN_OK);
  md.batch = 3;
  cr_assert_eq(tern_model_build("lenet5", &md, &g3), TERN_OK);
  float **in = make_inputs(g3, 31);
  for (int d = 0; d < nd; d++) {
    size_t n3 = 0, n1 = 0;
    float *y3 = run_once(ctx, g3, &(run_opts){.device = ids[d]}, in, &n3);
    tern_session_desc sd = {.size = sizeof sd, .device = ids[d], .batch = 3};
    tern_session *s = NULL;
    cr_assert_eq(tern_session_create(ctx, g1, &sd, &s), TERN_OK, "%s",
                 tern_last_error());
    cr_assert_eq(tern_session_set_input(s, 0, in[0], tu_input_elems(g3, 0)),
                 TERN_OK, "%s", tern_session_errmsg(s));
    cr_assert_eq(tern_session_run(s), TERN_OK, "%s", tern_session_errmsg(s));
    n1 = out_elems(s);
    cr_assert_eq(n1, n3);
    float *y1 = malloc(n1 * sizeof *y1);
    cr_assert_eq(tern_session_get_output(s, 0, y1, n1), TERN_OK);
    long i = first_diff(y1, y3, n1);
    cr_expect_eq(i, -1, "%s: batch override differs at %ld", ids[d], i);
    tern_session_destroy(s);
    free(y1);
    free(y3);
  }
  free_inputs(g3, in);
  tern_graph_destroy(g1);
  tern_graph_destroy(g3);
  tern_context_destroy(ctx);
}

/* The Vulkan backend's other modes, each in its own process (Criterion forks
 * per test) with the variable set before the context probes the devices:
 * spec-minimum limits, and the discrete-GPU staging path for every transfer
 * (what device <-> CPU crossings go through on real GPUs). */
static bool vulkan_or_skip(void) {
  tern_context *ctx = make_ctx();
  bool ok = has_device(ctx, "vulkan:");
  tern_context_destroy(ctx);
  return ok;
}

Test(vulkan_modes, min_device_zoo) {
  setenv("TERN_VK_MIN_DEVICE", "1", 1);
  if (!vulkan_or_skip())
    cr_skip_test("no Vulkan device");
  check_model(&(zoo_case){"lenet5", 0, 0});
  check_model(&(zoo_case){"resnet-mini", 8, 0});
}

Test(vulkan_modes, force_staging_crossing) {
  setenv("TERN_VK_FORCE_STAGING", "1", 1);
  if (!vulkan_or_skip())
    cr_skip_test("no Vulkan device");
  tern_context *ctx = make_ctx();
  check_crossing(ctx, "vulkan:0");
  tern_context_destroy(ctx);
  check_model(&(zoo_case){"mobilenet-mini", 8, 0});
}

/* A tiny descriptor range (64 KiB): weights are split by the ops, and nodes
 * whose activations do not fit fall back to the CPU; results unchanged. */
Test(vulkan_modes, small_buffer_range) {
  setenv("TERN_VK_MAX_BUFFER_RANGE", "65536", 1);
  if (!vulkan_or_skip())
    cr_skip_test("no Vulkan device");
  check_model(&(zoo_case){"mlp", 0, 0});
  check_model(&(zoo_case){"lenet5", 0, 0});
}

/* ------------------------------------- supports() must mean "can prepare" */

/* A depthwise conv2d (groups = channels) with quantized weights, on every
 * non-CPU device with no_fallback=1: supports() accepts it, so preparing it
 * must succeed and the result must be bit-identical to the reference. */
static void check_depthwise(int channels) {
  tern_context *ctx = make_ctx();
  char ids[3][32];
  int nd = devices(ctx, ids);
  tern_graph *g = NULL;
  cr_assert_eq(tern_graph_create(&g), TERN_OK);
  tu_rng r;
  tu_seed(&r, 13);
  int x;
  cr_assert_eq(
      tern_graph_add_input(g, "x", 4, (int64_t[]){2, channels, 8, 8}, &x),
      TERN_OK);
  int w = tu_add_weight(g, &r, "dw.w", TERN_DTYPE_I8, 4,
                        (int64_t[]){channels, 1, 3, 3}, 1.0f, false);
  tern_op_params p = {0};
  p.pad[0] = p.pad[1] = 1;
  p.groups = channels;
  int y = add_node(g, TERN_OP_CONV2D, "dw", 2, (int[]){x, w}, &p);
  cr_assert_eq(tern_graph_add_output(g, y), TERN_OK);
  float **in = make_inputs(g, 14);
  size_t nr = 0;
  float *ref = run_once(ctx, g, &(run_opts){0}, in, &nr);
  for (int d = 0; d < nd; d++) {
    if (strncmp(ids[d], "cpu", 3) == 0)
      continue;
    tern_session_desc sd = {.size = sizeof sd, .device = ids[d]};
    sd.no_fallback = 1;
    tern_session *s = NULL;
    tern_status st = tern_session_create(ctx, g, &sd, &s);
    cr_expect_eq(st, TERN_OK,
                 "depthwise conv, %d channels, on %s with no_fallback: %s: %s",
                 channels, ids[d], tern_status_name(st), tern_last_error());
    if (st)
      continue;
    size_t n = 0;
    float *yv = run_session(s, g, in, &n);
    long i = first_diff(yv, ref, n);
    cr_expect_eq(i, -1, "%s: %ld %.9g vs ref %.9g", ids[d], i,
                 i >= 0 ? yv[i] : 0.0, i >= 0 ? ref[i] : 0.0);
    free(yv);
    tern_session_destroy(s);
  }
  free(ref);
  free_inputs(g, in);
  tern_graph_destroy(g);
  tern_context_destroy(ctx);
}

Test(supports, depthwise_8) {
  check_depthwise(8);
  check_depthwise(18); /* the most groups Vulkan prepares today */
}

/* Regression: Vulkan grouped conv2d with more than 18 groups once ran out
 * of per-node buffer slots (one GEMM per group) and fell back to the CPU. */
Test(supports, depthwise_32) {
  check_depthwise(32);
}

/* Every zoo model on every device with no_fallback=1 (default-ish sizes):
 * no node needs the CPU, so every session must build and match. */
Test(supports, zoo_no_fallback) {
  tern_context *ctx = make_ctx();
  char ids[3][32];
  int nd = devices(ctx, ids);
  static const zoo_case zc[] = {{"mlp", 64, 0},
                                {"lenet5", 0, 0},
                                {"resnet-mini", 8, 0},
                                {"mobilenet-mini", 8, 0},
                                {"bitnet-block", 128, 8}};
  for (size_t m = 0; m < sizeof zc / sizeof zc[0]; m++) {
    tern_model_desc md = {.size = sizeof md, .batch = 2, .seed = 5};
    md.precision = TERN_MODEL_TERNARY;
    md.width = zc[m].width;
    md.seq = zc[m].seq;
    tern_graph *g = NULL;
    cr_assert_eq(tern_model_build(zc[m].model, &md, &g), TERN_OK);
    for (int d = 0; d < nd; d++) {
      tern_session_desc sd = {.size = sizeof sd, .device = ids[d]};
      sd.no_fallback = 1;
      tern_session *s = NULL;
      tern_status st = tern_session_create(ctx, g, &sd, &s);
      cr_expect_eq(st, TERN_OK, "%s on %s with no_fallback: %s: %s",
                   zc[m].model, ids[d], tern_status_name(st),
                   tern_last_error());
      tern_session_destroy(s);
    }
    tern_graph_destroy(g);
  }
  tern_context_destroy(ctx);
}

/* ------------------------------------------------ session lifetime, misc */

/* The session copies what it needs: the graph is destroyed before running;
 * two sessions on the same device interleave set_input/run without
 * disturbing each other; placements still name their nodes. */
Test(scheduler, graph_destroyed_and_interleaved) {
  tern_context *ctx = make_ctx();
  char ids[3][32];
  int nd = devices(ctx, ids);
  for (int d = 0; d < nd; d++) {
    tern_graph *ga = crossing_graph(2), *gb = NULL;
    tern_model_desc md = {.size = sizeof md, .batch = 2, .seed = 9};
    md.precision = TERN_MODEL_INT8;
    cr_assert_eq(tern_model_build("lenet5", &md, &gb), TERN_OK);
    float **ia = make_inputs(ga, 41), **ib = make_inputs(gb, 42);
    size_t na = 0, nb = 0;
    float *ra = run_once(ctx, ga, &(run_opts){.device = "cpu:0"}, ia, &na);
    float *rb = run_once(ctx, gb, &(run_opts){0}, ib, &nb);
    int n_in_a = tern_graph_input_count(ga);
    size_t ea[3];
    for (int i = 0; i < n_in_a; i++)
      ea[i] = tu_input_elems(ga, i);
    size_t eb = tu_input_elems(gb, 0);
    tern_session *sa = open_session(ctx, ga, &(run_opts){.device = ids[d]});
    tern_session *sb = open_session(ctx, gb, &(run_opts){.device = ids[d]});
    tern_graph_destroy(ga);
    tern_graph_destroy(gb);
    for (int i = 0; i < n_in_a; i++)
      cr_assert_eq(tern_session_set_input(sa, i, ia[i], ea[i]), TERN_OK);
    cr_assert_eq(tern_session_set_input(sb, 0, ib[0], eb), TERN_OK);
    cr_assert_eq(tern_session_run(sb), TERN_OK, "%s", tern_session_errmsg(sb));
    cr_assert_eq(tern_session_run(sa), TERN_OK, "%s", tern_session_errmsg(sa));
    float *ya = malloc(na * sizeof *ya), *yb = malloc(nb * sizeof *yb);
    cr_assert_eq(tern_session_get_output(sa, 0, ya, na), TERN_OK);
    cr_assert_eq(tern_session_get_output(sb, 0, yb, nb), TERN_OK);
    long i = first_diff(ya, ra, na);
    cr_expect_eq(i, -1, "%s: crossing graph after graph destroy: %ld", ids[d],
                 i);
    i = first_diff(yb, rb, nb);
    cr_expect_eq(i, -1, "%s: lenet5 interleaved: %ld", ids[d], i);
    const char *p = placement_of(sa, "dyn2");
    cr_expect(p != NULL, "%s: node names lost after graph destroy", ids[d]);
    tern_session_destroy(sa);
    tern_session_destroy(sb);
    free(ya);
    free(yb);
    free(ra);
    free(rb);
    for (int k = 0; k < n_in_a; k++)
      free(ia[k]);
    free(ia);
    free(ib[0]);
    free(ib);
  }
  tern_context_destroy(ctx);
}

/* Bad session arguments: clear statuses and messages. */
Test(scheduler, bad_arguments) {
  tern_context *ctx = make_ctx();
  tern_graph *g = crossing_graph(2);
  tern_session_desc sd = {.size = sizeof sd, .device = "nosuch:3"};
  tern_session *s = NULL;
  cr_expect_eq(tern_session_create(ctx, g, &sd, &s), TERN_ERR_NO_DEVICE);
  cr_expect(strstr(tern_last_error(), "nosuch:3") != NULL, "%s",
            tern_last_error());
  s = open_session(ctx, g, &(run_opts){.device = "cpu:0"});
  float x[4] = {0};
  cr_expect_eq(tern_session_set_input(s, 0, x, 4), TERN_ERR_SHAPE);
  cr_expect(strstr(tern_session_errmsg(s), "'x'") != NULL, "%s",
            tern_session_errmsg(s));
  cr_expect_eq(tern_session_set_input(s, 7, x, 4), TERN_ERR_INVALID_ARGUMENT);
  cr_expect_eq(tern_session_get_output(s, 1, x, 4), TERN_ERR_INVALID_ARGUMENT);
  cr_expect_neq(tern_session_node_placement(s, 999, NULL, NULL, NULL), TERN_OK);
  tern_session_destroy(s);
  tern_graph_destroy(g);
  tern_context_destroy(ctx);
}

/* OpenCL with every optional path off (no CLBlast for fp32, no integer dot
 * product, no subgroups, no fp16): the portable kernels, same guarantees. */
Test(opencl_modes, baseline_zoo) {
  setenv("TERN_CL_DISABLE_CLBLAST", "1", 1);
  setenv("TERN_CL_DISABLE_INT_DOT", "1", 1);
  setenv("TERN_CL_DISABLE_SUBGROUP", "1", 1);
  setenv("TERN_CL_DISABLE_FP16", "1", 1);
  tern_context *ctx = make_ctx();
  bool ok = has_device(ctx, "opencl:");
  tern_context_destroy(ctx);
  if (!ok)
    cr_skip_test("no OpenCL device");
  check_model(&(zoo_case){"mlp", 64, 0});
  check_model(&(zoo_case){"resnet-mini", 8, 0});
  check_model(&(zoo_case){"bitnet-block", 128, 8});
}
