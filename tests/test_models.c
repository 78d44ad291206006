/* test_models.c — the model zoo: every model builds in every precision and
 * runs on the CPU with finite outputs of the right shape; weights are
 * seeded, quantized with the core quantizers and replaceable; the ternary
 * files reach the compression the issue asks for (measured on saved files). */
#include "tern_models.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const k_models[] = {"mlp", "lenet5", "resnet-mini",
                                       "mobilenet-mini", "bitnet-block"};
static const tern_model_precision k_precs[] = {
    TERN_MODEL_FP32, TERN_MODEL_INT8, TERN_MODEL_TERNARY, TERN_MODEL_MIXED};

/* Small knobs keep the test quick; bitnet-block's full width is checked in
 * the compression test. */
static tern_model_desc small_desc(const char *model, tern_model_precision p,
                                  int64_t batch) {
  tern_model_desc d = {.size = sizeof d};
  d.precision = p;
  d.batch = batch;
  d.seed = 42;
  if (!strcmp(model, "bitnet-block")) {
    d.width = 128;
    d.heads = 4;
    d.seq = 8;
  }
  return d;
}

static tern_graph *build(const char *model, const tern_model_desc *d) {
  tern_graph *g = NULL;
  tern_status s = tern_model_build(model, d, &g);
  cr_assert_eq(s, TERN_OK, "%s: %s", model, tern_model_errmsg());
  return g;
}

/* Runs g on cpu:0 (the naive reference kernels with `reference`) with
 * inputs in [-1, 1) and returns output 0 (malloc'd). */
static float *run_cpu_mode(const tern_graph *g, int reference, int *ndim,
                           int64_t *shape, size_t *count) {
  tern_context *ctx = NULL;
  tern_session *sess = NULL;
  tern_context_desc cd = {.size = sizeof cd};
  cd.backends = "cpu";
  cr_assert_eq(tern_context_create(&cd, &ctx), TERN_OK, "%s",
               tern_last_error());
  tern_session_desc sd = {.size = sizeof sd};
  sd.device = "cpu:0";
  sd.reference = reference;
  cr_assert_eq(tern_session_create(ctx, g, &sd, &sess), TERN_OK, "%s",
               tern_last_error());
  int in_ndim;
  int64_t in_shape[TERN_MAX_DIMS];
  cr_assert_eq(tern_session_input_shape(sess, 0, &in_ndim, in_shape), TERN_OK);
  size_t n = 1;
  for (int i = 0; i < in_ndim; i++)
    n *= (size_t)in_shape[i];
  float *x = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++)
    x[i] = (float)((double)((i * 2654435761u) % 2001) / 1000.0 - 1.0);
  cr_assert_eq(tern_session_set_input(sess, 0, x, n), TERN_OK, "%s",
               tern_session_errmsg(sess));
  free(x);
  cr_assert_eq(tern_session_run(sess), TERN_OK, "%s",
               tern_session_errmsg(sess));
  cr_assert_eq(tern_session_output_shape(sess, 0, ndim, shape), TERN_OK);
  size_t m = 1;
  for (int i = 0; i < *ndim; i++)
    m *= (size_t)shape[i];
  float *y = malloc(m * sizeof(float));
  cr_assert_eq(tern_session_get_output(sess, 0, y, m), TERN_OK, "%s",
               tern_session_errmsg(sess));
  tern_session_destroy(sess);
  tern_context_destroy(ctx);
  *count = m;
  return y;
}

static float *run_cpu(const tern_graph *g, int *ndim, int64_t *shape,
                      size_t *count) {
  return run_cpu_mode(g, 0, ndim, shape, count);
}

static void expect_shape(const char *model, int ndim, const int64_t *shape,
                         int64_t batch) {
  if (!strcmp(model, "bitnet-block")) {
    if (batch > 1) {
      cr_assert_eq(ndim, 3);
      cr_assert_eq(shape[0], batch);
      cr_assert_eq(shape[1], 8);
      cr_assert_eq(shape[2], 128);
    } else {
      cr_assert_eq(ndim, 2);
      cr_assert_eq(shape[0], 8);
      cr_assert_eq(shape[1], 128);
    }
  } else {
    cr_assert_eq(ndim, 2, "%s: output rank %d", model, ndim);
    cr_assert_eq(shape[0], batch);
    cr_assert_eq(shape[1], 10);
  }
}

/* The dtype of the weight of linear/conv2d node `layer`. */
static tern_dtype weight_dtype(const tern_graph *g, const char *layer) {
  for (int i = 0; i < tern_graph_node_count(g); i++) {
    tern_node_info ni = {.size = sizeof ni};
    cr_assert_eq(tern_graph_node_info(g, i, &ni), TERN_OK);
    if (strcmp(ni.name, layer) != 0)
      continue;
    tern_tensor_info w = {.size = sizeof w};
    cr_assert_eq(tern_graph_tensor_info(g, ni.inputs[1], &w), TERN_OK);
    return w.dtype;
  }
  cr_assert_fail("no layer %s", layer);
  return TERN_DTYPE_COUNT_;
}

static const tern_tensor_info *
find_constant(const tern_graph *g, const char *name, tern_tensor_info *t) {
  for (int id = 0; id < tern_graph_tensor_count(g); id++) {
    t->size = sizeof *t;
    cr_assert_eq(tern_graph_tensor_info(g, id, t), TERN_OK);
    if (t->kind == TERN_TENSOR_CONSTANT && !strcmp(t->name, name))
      return t;
  }
  cr_assert_fail("no constant %s", name);
  return NULL;
}

Test(models, every_model_every_precision_runs) {
  for (size_t m = 0; m < sizeof k_models / sizeof *k_models; m++)
    for (size_t p = 0; p < 4; p++) {
      int64_t batch = p == 1 ? 2 : 1;
      tern_model_desc d = small_desc(k_models[m], k_precs[p], batch);
      tern_graph *g = build(k_models[m], &d);
      int ndim;
      int64_t shape[TERN_MAX_DIMS];
      size_t n;
      float *y = run_cpu(g, &ndim, shape, &n);
      expect_shape(k_models[m], ndim, shape, batch);
      double mag = 0;
      for (size_t i = 0; i < n; i++) {
        cr_assert(isfinite(y[i]), "%s %s: output %zu = %f", k_models[m],
                  tern_model_precision_name(k_precs[p]), i, y[i]);
        mag += fabs(y[i]);
      }
      cr_assert_gt(mag, 0, "%s %s: all-zero output", k_models[m],
                   tern_model_precision_name(k_precs[p]));
      cr_assert_str_eq(tern_graph_get_metadata(g, "model"), k_models[m]);
      free(y);
      tern_graph_destroy(g);
    }
}

/* Whole models on the fast CPU kernels against the naive reference: close
 * (float ops have tolerances, integer accumulation is exact) and the same
 * top-1 for the classifiers. */
Test(models, fast_cpu_matches_reference) {
  for (size_t m = 0; m < sizeof k_models / sizeof *k_models; m++)
    for (size_t p = 0; p < 4; p++) {
      tern_model_desc d = small_desc(k_models[m], k_precs[p], 4);
      tern_graph *g = build(k_models[m], &d);
      int nd1, nd2;
      int64_t s1[TERN_MAX_DIMS], s2[TERN_MAX_DIMS];
      size_t n1, n2;
      float *fast = run_cpu_mode(g, 0, &nd1, s1, &n1);
      float *ref = run_cpu_mode(g, 1, &nd2, s2, &n2);
      cr_assert_eq(n1, n2);
      double maxabs = 0;
      for (size_t i = 0; i < n2; i++)
        maxabs = fmax(maxabs, fabs(ref[i]));
      for (size_t i = 0; i < n1; i++)
        cr_assert(fabs(fast[i] - ref[i]) <= 1e-3 * (1 + maxabs),
                  "%s %s: output %zu fast %g reference %g", k_models[m],
                  tern_model_precision_name(k_precs[p]), i, fast[i], ref[i]);
      if (strcmp(k_models[m], "bitnet-block") != 0)
        for (int64_t r = 0; r < s1[0]; r++) {
          int a = 0, b = 0;
          for (int64_t c = 1; c < s1[1]; c++) {
            a = fast[r * s1[1] + c] > fast[r * s1[1] + a] ? (int)c : a;
            b = ref[r * s1[1] + c] > ref[r * s1[1] + b] ? (int)c : b;
          }
          cr_assert_eq(a, b, "%s %s: row %lld top-1 %d vs reference %d",
                       k_models[m], tern_model_precision_name(k_precs[p]),
                       (long long)r, a, b);
        }
      free(fast);
      free(ref);
      tern_graph_destroy(g);
    }
}

Test(models, precision_per_layer) {
  tern_model_desc d = small_desc("lenet5", TERN_MODEL_MIXED, 1);
  tern_graph *g = build("lenet5", &d);
  cr_assert_eq(weight_dtype(g, "conv1"), TERN_DTYPE_I8);
  cr_assert_eq(weight_dtype(g, "conv2"), TERN_DTYPE_TERNARY);
  cr_assert_eq(weight_dtype(g, "fc1"), TERN_DTYPE_TERNARY);
  cr_assert_eq(weight_dtype(g, "fc3"), TERN_DTYPE_I8);
  tern_graph_destroy(g);

  d.mixed_edge_fp32 = 1;
  tern_model_layer_precision ov[2] = {{"fc2", TERN_MODEL_INT8},
                                      {"stage2", TERN_MODEL_FP32}};
  d.overrides = ov;
  d.override_count = 1;
  g = build("lenet5", &d);
  cr_assert_eq(weight_dtype(g, "conv1"), TERN_DTYPE_F32);
  cr_assert_eq(weight_dtype(g, "fc2"), TERN_DTYPE_I8);
  cr_assert_eq(weight_dtype(g, "fc1"), TERN_DTYPE_TERNARY);
  tern_graph_destroy(g);

  /* a prefix matches whole name components only */
  d = small_desc("resnet-mini", TERN_MODEL_TERNARY, 1);
  d.overrides = ov + 1;
  d.override_count = 1;
  g = build("resnet-mini", &d);
  cr_assert_eq(weight_dtype(g, "stage2.block0.conv1"), TERN_DTYPE_F32);
  cr_assert_eq(weight_dtype(g, "stage2.block0.proj"), TERN_DTYPE_F32);
  cr_assert_eq(weight_dtype(g, "stage1.block0.conv1"), TERN_DTYPE_TERNARY);
  cr_assert_eq(weight_dtype(g, "stem.conv"), TERN_DTYPE_TERNARY);
  tern_graph_destroy(g);
}

/* Ternary weights are the core quantizer applied to the same seeded fp32
 * weights, and a seed change changes them. */
Test(models, quantized_weights_follow_the_fp32_ones) {
  tern_model_desc d = small_desc("mlp", TERN_MODEL_FP32, 1);
  tern_graph *gf = build("mlp", &d);
  d.precision = TERN_MODEL_TERNARY;
  tern_graph *gt = build("mlp", &d);
  d.precision = TERN_MODEL_INT8;
  tern_graph *gi = build("mlp", &d);
  tern_tensor_info f, t, i8;
  find_constant(gf, "fc2.weight", &f);
  find_constant(gt, "fc2.weight", &t);
  find_constant(gi, "fc2.weight", &i8);
  cr_assert_eq(f.dtype, TERN_DTYPE_F32);
  cr_assert_eq(t.dtype, TERN_DTYPE_TERNARY);
  int64_t rows = f.shape[0], cols = f.shape[1];
  cr_assert_eq(rows, 128);
  cr_assert_eq(cols, 256);
  int8_t *q = malloc((size_t)(rows * cols));
  float *sc = malloc((size_t)rows * sizeof(float));
  tern_quant_stats st;
  cr_assert_eq(tern_quantize_ternary(f.data, rows, cols, NULL, q, sc, &st),
               TERN_OK);
  size_t bytes = tern_dtype_bytes(TERN_DTYPE_TERNARY, rows, cols);
  uint8_t *packed = malloc(bytes);
  cr_assert_eq(tern_ternary_pack(q, rows, cols, packed, bytes), TERN_OK);
  cr_assert_eq(t.data_bytes, bytes);
  cr_assert_eq(memcmp(t.data, packed, bytes), 0);
  cr_assert_eq(t.scale_count, rows);
  cr_assert_eq(memcmp(t.scales, sc, (size_t)rows * sizeof(float)), 0);
  /* Gaussian weights with a = 0.7: about 42% zeros */
  cr_assert(st.sparsity > 0.38 && st.sparsity < 0.46, "sparsity %f",
            st.sparsity);
  cr_assert_eq(tern_quantize_int8(f.data, rows, cols, q, sc, NULL), TERN_OK);
  cr_assert_eq(memcmp(i8.data, q, (size_t)(rows * cols)), 0);
  cr_assert_eq(memcmp(i8.scales, sc, (size_t)rows * sizeof(float)), 0);

  /* fan-in scaling: std of fc1 (fan-in 784, gain sqrt 2) ~ 0.0505 */
  tern_tensor_info w1;
  find_constant(gf, "fc1.weight", &w1);
  double ss = 0;
  const float *wd = w1.data;
  for (int64_t k = 0; k < 256 * 784; k++)
    ss += (double)wd[k] * wd[k];
  double sd = sqrt(ss / (256.0 * 784.0));
  cr_assert(fabs(sd - 1.414 / 28.0) < 0.002, "fc1 std %f", sd);

  /* same seed: same weights; other seed: other weights */
  d.precision = TERN_MODEL_FP32;
  tern_graph *g2 = build("mlp", &d);
  d.seed = 43;
  tern_graph *g3 = build("mlp", &d);
  tern_tensor_info a, b;
  find_constant(g2, "fc2.weight", &a);
  cr_assert_eq(memcmp(a.data, f.data, f.data_bytes), 0);
  find_constant(g3, "fc2.weight", &b);
  cr_assert_neq(memcmp(b.data, f.data, f.data_bytes), 0);
  free(q);
  free(sc);
  free(packed);
  tern_graph_destroy(gf);
  tern_graph_destroy(gt);
  tern_graph_destroy(gi);
  tern_graph_destroy(g2);
  tern_graph_destroy(g3);
}

static tern_status zero_fc1(void *user, const char *name, int ndim,
                            const int64_t *shape, float *out, size_t count) {
  int *calls = user;
  ++*calls;
  if (strcmp(name, "fc1.weight") != 0)
    return TERN_ERR_NOT_FOUND;
  cr_assert_eq(ndim, 2);
  cr_assert_eq(shape[0], 256);
  cr_assert_eq(shape[1], 784);
  cr_assert_eq(count, 256u * 784u);
  memset(out, 0, count * sizeof(float));
  return TERN_OK;
}

/* Supplied weights: with fc3 zeroed and its bias 0..9 the fp32 output is
 * exactly the bias, whatever the input; a callback supplies fc1. */
Test(models, supplied_weights) {
  static float zeros[10 * 128], bias[10];
  for (int i = 0; i < 10; i++)
    bias[i] = (float)i;
  tern_model_array arrays[2] = {{"fc3.weight", zeros, 10 * 128},
                                {"fc3.bias", bias, 10}};
  int calls = 0;
  tern_model_desc d = small_desc("mlp", TERN_MODEL_FP32, 3);
  d.arrays = arrays;
  d.array_count = 2;
  d.weight_fn = zero_fc1;
  d.weight_user = &calls;
  tern_graph *g = build("mlp", &d);
  cr_assert_eq(calls, 4, "callback asked for fc1/fc2 weight and bias");
  tern_tensor_info w;
  find_constant(g, "fc1.weight", &w);
  for (int64_t k = 0; k < 256 * 784; k++)
    cr_assert_eq(((const float *)w.data)[k], 0.0f);
  int ndim;
  int64_t shape[TERN_MAX_DIMS];
  size_t n;
  float *y = run_cpu(g, &ndim, shape, &n);
  cr_assert_eq(n, 30u);
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(y[i], (float)(i % 10));
  free(y);
  tern_graph_destroy(g);

  /* a wrong count is an error naming the parameter */
  arrays[1].count = 9;
  g = NULL;
  cr_assert_eq(tern_model_build("mlp", &d, &g), TERN_ERR_SHAPE);
  cr_assert_null(g);
  cr_assert(strstr(tern_model_errmsg(), "fc3.bias"), "%s", tern_model_errmsg());
}

/* The mlp's fp32 forward pass computed here from its own constants matches
 * the session's output. */
Test(models, mlp_matches_hand_forward) {
  tern_model_desc d = small_desc("mlp", TERN_MODEL_FP32, 1);
  d.width = 32;
  tern_graph *g = build("mlp", &d);
  tern_tensor_info w[3], b[3];
  const char *wn[3] = {"fc1.weight", "fc2.weight", "fc3.weight"};
  const char *bn[3] = {"fc1.bias", "fc2.bias", "fc3.bias"};
  for (int l = 0; l < 3; l++) {
    find_constant(g, wn[l], &w[l]);
    find_constant(g, bn[l], &b[l]);
  }
  cr_assert_eq(w[0].shape[0], 32);
  cr_assert_eq(w[1].shape[0], 16);
  float act[784], tmp[784];
  for (int i = 0; i < 784; i++)
    act[i] = (float)((double)(((size_t)i * 2654435761u) % 2001) / 1000.0 - 1.0);
  int64_t in = 784;
  for (int l = 0; l < 3; l++) {
    int64_t out = w[l].shape[0];
    const float *wd = w[l].data, *bd = b[l].data;
    for (int64_t o = 0; o < out; o++) {
      float acc = 0;
      for (int64_t k = 0; k < in; k++)
        acc += act[k] * wd[o * in + k];
      acc += bd[o];
      tmp[o] = l < 2 && acc < 0 ? 0 : acc;
    }
    memcpy(act, tmp, (size_t)out * sizeof(float));
    in = out;
  }
  int ndim;
  int64_t shape[TERN_MAX_DIMS];
  size_t n;
  float *y = run_cpu(g, &ndim, shape, &n);
  cr_assert_eq(n, 10u);
  for (int i = 0; i < 10; i++)
    cr_assert(fabsf(y[i] - act[i]) <= 1e-4f * (1 + fabsf(act[i])),
              "logit %d: %f vs %f", i, y[i], act[i]);
  free(y);
  tern_graph_destroy(g);
}

Test(models, errors) {
  tern_graph *g = NULL;
  cr_assert_eq(tern_model_build("alexnet", NULL, &g), TERN_ERR_NOT_FOUND);
  cr_assert(strstr(tern_model_errmsg(), "alexnet"));
  cr_assert_eq(tern_model_build(NULL, NULL, &g), TERN_ERR_INVALID_ARGUMENT);
  cr_assert_eq(tern_model_build("mlp", NULL, NULL), TERN_ERR_INVALID_ARGUMENT);
  tern_model_desc d = {.size = sizeof d};
  d.width = 100;
  d.heads = 3;
  cr_assert_eq(tern_model_build("bitnet-block", &d, &g),
               TERN_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(tern_model_errmsg(), "heads"), "%s", tern_model_errmsg());
  d.heads = 0;
  d.width = -5;
  cr_assert_eq(tern_model_build("mlp", &d, &g), TERN_ERR_INVALID_ARGUMENT);
  d.width = 0;
  d.precision = (tern_model_precision)9;
  cr_assert_eq(tern_model_build("mlp", &d, &g), TERN_ERR_INVALID_ARGUMENT);
  cr_assert_null(g);
  tern_model_precision p;
  cr_assert_eq(tern_model_precision_from_name("ternary", &p), TERN_OK);
  cr_assert_eq(p, TERN_MODEL_TERNARY);
  cr_assert_eq(tern_model_precision_from_name("int4", &p), TERN_ERR_NOT_FOUND);
  cr_assert_eq(tern_model_count(), 5);
  cr_assert_null(tern_model_info_at(5));
  cr_assert_str_eq(tern_model_info_at(4)->name, "bitnet-block");
}

/* ------------------------------------------------------- compression */
static int64_t saved_bytes(tern_graph *g, tern_ternary_storage storage) {
  char path[] = "/tmp/tern-test-models-XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  tern_save_desc sd = {.size = sizeof sd};
  sd.ternary_storage = storage;
  cr_assert_eq(tern_graph_save(g, path, &sd), TERN_OK, "%s",
               tern_graph_errmsg(g));
  struct stat st;
  cr_assert_eq(stat(path, &st), 0);
  /* the saved file loads back with the same constants */
  tern_graph *back = NULL;
  cr_assert_eq(tern_graph_load(path, NULL, &back), TERN_OK, "%s",
               tern_last_error());
  cr_assert_eq(tern_graph_tensor_count(back), tern_graph_tensor_count(g));
  tern_graph_destroy(back);
  unlink(path);
  return (int64_t)st.st_size;
}

static void compression(const char *model, int width, double min_2bit,
                        double min_158bit) {
  tern_model_desc d = {.size = sizeof d};
  d.width = width;
  d.seed = 7;
  tern_graph *gf = build(model, &d);
  d.precision = TERN_MODEL_TERNARY;
  tern_graph *gt = build(model, &d);
  double f = (double)saved_bytes(gf, TERN_STORE_2BIT);
  double r2 = f / (double)saved_bytes(gt, TERN_STORE_2BIT);
  double r158 = f / (double)saved_bytes(gt, TERN_STORE_158BIT);
  fprintf(stderr,
          "%s width %d: fp32 %.0f bytes, ternary 2-bit %.2fx, "
          "1.58-bit %.2fx\n",
          model, width, f, r2, r158);
  cr_assert_geq(r2, min_2bit, "%s 2-bit: %.3fx", model, r2);
  cr_assert_geq(r158, min_158bit, "%s 1.58-bit: %.3fx", model, r158);
  tern_graph_destroy(gf);
  tern_graph_destroy(gt);
}

Test(models, compression_bitnet_block_1024) {
  compression("bitnet-block", 1024, 15.5, 19.0);
}

Test(models, compression_mlp) {
  compression("mlp", 0, 14.0, 14.0);
}
