/* test_diff.c — the differential harness: a table of op × shape × dtype ×
 * params, run on every device of every compiled backend and compared with
 * the naive CPU reference. Quantized and exact ops must match bit for bit;
 * float ops within the stated tolerance (docs/OPS.md). A failure prints the
 * device, op, case and seed; a device that does not support a case reports
 * it as skipped. Backends extend coverage by adding cases here. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum role { ACT, WEIGHT, UNI, POS };

typedef struct in_spec {
  int ndim;
  int64_t shape[TERN_MAX_DIMS];
  enum role role;
  tern_dtype dtype; /* WEIGHT only */
  bool per_tensor;
} in_spec;

typedef struct spec {
  char name[160];
  tern_op op;
  tern_op_params p;
  int n_in;
  in_spec in[TERN_MAX_INPUTS];
  double atol, rtol; /* both 0: bit-exact */
  bool specials;     /* NaN, +-inf, +-0 among the activations */
  const char *path;  /* add/mul: the indexing path GPU backends must log */
} spec;

typedef struct spec_list {
  spec *v;
  int n, cap;
} spec_list;

static spec *push(spec_list *l) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 64;
    l->v = realloc(l->v, (size_t)l->cap * sizeof(spec));
  }
  spec *s = &l->v[l->n++];
  memset(s, 0, sizeof *s);
  return s;
}

static in_spec shp(enum role role, int ndim, const int64_t *shape) {
  in_spec s;
  memset(&s, 0, sizeof s);
  s.role = role;
  s.ndim = ndim;
  memcpy(s.shape, shape, (size_t)ndim * sizeof(int64_t));
  return s;
}
#define SHP(role, ...)                                                         \
  shp(role, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),         \
      (int64_t[]){__VA_ARGS__})

static const tern_dtype k_wdtypes[] = {TERN_DTYPE_TERNARY, TERN_DTYPE_I8,
                                       TERN_DTYPE_F32};

/* --------------------------------------------------------------- cases */
static void linear_cases(spec_list *l) {
  static const int64_t mkn[][3] = {{1, 1, 1},    {1, 3, 5},      {2, 17, 7},
                                   {3, 33, 31},  {1, 257, 65},   {5, 1000, 33},
                                   {7, 64, 129}, {1, 4096, 512}, {33, 513, 67}};
  for (size_t d = 0; d < 3; d++)
    for (size_t i = 0; i < sizeof mkn / sizeof mkn[0]; i++)
      for (int bias = 0; bias < 2; bias++) {
        spec *s = push(l);
        int64_t M = mkn[i][0], K = mkn[i][1], N = mkn[i][2];
        s->op = TERN_OP_LINEAR;
        s->in[0] = SHP(ACT, M, K);
        s->in[1] = SHP(WEIGHT, N, K);
        s->in[1].dtype = k_wdtypes[d];
        s->in[1].per_tensor = (i % 3) == 1;
        s->n_in = 2;
        if (bias)
          s->in[s->n_in++] = SHP(UNI, N);
        s->p.activation = (int)((i + (size_t)bias) % 3); /* none/relu/relu6 */
        if (k_wdtypes[d] == TERN_DTYPE_F32) {
          s->atol = 1e-5 * sqrt((double)K);
          s->rtol = 1e-4;
        }
        snprintf(s->name, sizeof s->name,
                 "linear %s M=%lld K=%lld N=%lld%s%s act=%d",
                 tern_dtype_name(k_wdtypes[d]), (long long)M, (long long)K,
                 (long long)N, bias ? " bias" : "",
                 s->in[1].per_tensor ? " per-tensor" : "", s->p.activation);
      }
  /* batched 3-D input */
  spec *s = push(l);
  s->op = TERN_OP_LINEAR;
  s->in[0] = SHP(ACT, 2, 3, 45);
  s->in[1] = SHP(WEIGHT, 19, 45);
  s->in[1].dtype = TERN_DTYPE_TERNARY;
  s->n_in = 2;
  snprintf(s->name, sizeof s->name, "linear ternary 3-D input");
}

static void conv_cases(spec_list *l) {
  /* N, C, H, W, OC, KH, KW, stride, pad, dilation, groups */
  static const int c[][11] = {
      {1, 1, 5, 5, 1, 3, 3, 1, 0, 1, 1},   {1, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1},
      {2, 4, 11, 13, 6, 5, 5, 2, 2, 1, 1}, {1, 6, 9, 9, 6, 3, 3, 1, 1, 1, 6},
      {1, 8, 10, 7, 8, 3, 3, 2, 1, 1, 8},  {1, 4, 9, 9, 8, 3, 3, 1, 2, 2, 2},
      {1, 16, 8, 8, 32, 1, 1, 1, 0, 1, 1}, {1, 1, 28, 28, 6, 5, 5, 1, 2, 1, 1},
      {3, 5, 6, 6, 7, 2, 3, 1, 0, 1, 1},
  };
  for (size_t d = 0; d < 3; d++)
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
      const int *k = c[i];
      spec *s = push(l);
      s->op = TERN_OP_CONV2D;
      s->in[0] = SHP(ACT, k[0], k[1], k[2], k[3]);
      s->in[1] = SHP(WEIGHT, k[4], k[1] / k[10], k[5], k[6]);
      s->in[1].dtype = k_wdtypes[d];
      s->in[2] = SHP(UNI, k[4]);
      s->n_in = (i % 2) ? 3 : 2;
      s->p.stride[0] = s->p.stride[1] = k[7];
      s->p.pad[0] = s->p.pad[1] = k[8];
      s->p.dilation[0] = s->p.dilation[1] = k[9];
      s->p.groups = k[10];
      s->p.activation = (int)(i % 3);
      if (k_wdtypes[d] == TERN_DTYPE_F32) {
        s->atol = 1e-4;
        s->rtol = 1e-4;
      }
      snprintf(s->name, sizeof s->name,
               "conv2d %s x=[%d,%d,%d,%d] oc=%d k=%dx%d s=%d p=%d d=%d g=%d",
               tern_dtype_name(k_wdtypes[d]), k[0], k[1], k[2], k[3], k[4],
               k[5], k[6], k[7], k[8], k[9], k[10]);
    }
}

/* Depthwise conv2d (groups == C; mult output channels per input channel):
 * odd channel counts, 3x3 and 5x5, strides, padding, dilation, batches of 1
 * and 3, spatial sizes from 1x1 to 56x56. */
static void dwconv_cases(spec_list *l) {
  /* N, C, H, W, mult, K, stride, pad, dilation */
  static const int c[][9] = {
      {1, 1, 5, 5, 1, 3, 1, 1, 1},    {1, 3, 7, 9, 1, 3, 1, 1, 1},
      {3, 3, 7, 9, 1, 5, 2, 2, 1},    {1, 17, 1, 1, 1, 3, 1, 1, 1},
      {3, 17, 9, 7, 1, 3, 2, 0, 2},   {1, 33, 56, 56, 1, 3, 1, 1, 1},
      {1, 33, 56, 56, 1, 5, 2, 2, 1}, {3, 32, 14, 14, 1, 3, 2, 1, 1},
      {2, 8, 10, 7, 2, 3, 1, 1, 1},   {1, 5, 7, 9, 3, 5, 1, 2, 2},
      {3, 17, 1, 1, 1, 1, 1, 0, 1},   {1, 33, 7, 9, 1, 5, 1, 4, 2},
  };
  for (size_t d = 0; d < 3; d++)
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
      const int *k = c[i];
      int oc = k[1] * k[4];
      spec *s = push(l);
      s->op = TERN_OP_CONV2D;
      s->in[0] = SHP(ACT, k[0], k[1], k[2], k[3]);
      s->in[1] = SHP(WEIGHT, oc, 1, k[5], k[5]);
      s->in[1].dtype = k_wdtypes[d];
      s->in[1].per_tensor = (i % 4) == 3;
      s->in[2] = SHP(UNI, oc);
      s->n_in = (i % 2) ? 2 : 3;
      s->p.stride[0] = s->p.stride[1] = k[6];
      s->p.pad[0] = s->p.pad[1] = k[7];
      s->p.dilation[0] = s->p.dilation[1] = k[8];
      s->p.groups = k[1];
      s->p.activation = (int)((i + d) % 3);
      if (k_wdtypes[d] == TERN_DTYPE_F32) {
        s->atol = 1e-4;
        s->rtol = 1e-4;
      }
      snprintf(s->name, sizeof s->name,
               "conv2d depthwise %s x=[%d,%d,%d,%d] oc=%d k=%dx%d s=%d p=%d "
               "d=%d%s",
               tern_dtype_name(k_wdtypes[d]), k[0], k[1], k[2], k[3], oc, k[5],
               k[5], k[6], k[7], k[8],
               s->in[1].per_tensor ? " per-tensor" : "");
    }
}

static void unary_cases(spec_list *l) {
  static const tern_op ops[] = {TERN_OP_RELU, TERN_OP_RELU6, TERN_OP_GELU,
                                TERN_OP_SILU};
  static const int64_t sizes[] = {1, 7, 1000, 4099};
  for (size_t o = 0; o < 4; o++)
    for (size_t i = 0; i < 4; i++) {
      spec *s = push(l);
      s->op = ops[o];
      s->in[0] = SHP(ACT, 1, sizes[i]);
      s->n_in = 1;
      if (ops[o] == TERN_OP_GELU || ops[o] == TERN_OP_SILU) {
        s->atol = 1e-6;
        s->rtol = 2e-5;
      }
      snprintf(s->name, sizeof s->name, "%s n=%lld", tern_op_name(ops[o]),
               (long long)sizes[i]);
    }
  for (int o = 0; o < 2; o++) {
    tern_op op = o ? TERN_OP_MUL : TERN_OP_ADD;
    spec *s = push(l);
    s->op = op;
    s->in[0] = SHP(ACT, 3, 5, 7);
    s->in[1] = SHP(ACT, 3, 5, 7);
    s->n_in = 2;
    snprintf(s->name, sizeof s->name, "%s same shape", tern_op_name(op));
    s = push(l);
    s->op = op;
    s->in[0] = SHP(ACT, 2, 3, 4, 5);
    s->in[1] = SHP(UNI, 1, 3, 1, 1);
    s->n_in = 2;
    snprintf(s->name, sizeof s->name, "%s broadcast", tern_op_name(op));
  }
}

/* add/mul: each GPU indexing path (docs/OPS.md, tern_op_binary_plan) at odd
 * sizes, with NaN, +-inf and -0 among the inputs, and broadcasts that must
 * stay on the general path. Both operands are graph inputs. */
typedef struct bin_case {
  const char *path;
  int na, nb;
  int64_t a[4], b[4];
} bin_case;

static void binary_cases(spec_list *l) {
  static const bin_case c[] = {
      {"same", 1, 1, {1}, {1}},
      {"same", 1, 1, {7}, {7}},
      {"same", 2, 2, {8, 125}, {8, 125}},
      {"same", 1, 1, {65537}, {65537}},
      {"same", 3, 1, {1, 1, 7}, {7}},
      {"scalar", 2, 1, {5, 1}, {1}},
      {"scalar", 2, 1, {7, 1000}, {1}},
      {"scalar", 1, 1, {65537}, {1}},
      {"scalar", 1, 4, {1}, {2, 3, 5, 7}},
      {"row", 2, 1, {5, 3}, {3}},
      {"row", 2, 1, {1000, 17}, {17}},
      {"row", 3, 2, {3, 7, 17}, {7, 17}},
      {"row", 2, 2, {3855, 17}, {1, 17}},
      {"row", 1, 2, {3}, {7, 3}},
      {"channel", 4, 4, {2, 3, 5, 7}, {1, 3, 1, 1}},
      {"channel", 4, 4, {2, 17, 5, 7}, {1, 17, 1, 1}},
      {"channel", 4, 3, {3, 17, 1285, 1}, {17, 1, 1}},
      {"channel", 3, 2, {2, 3, 33}, {3, 1}},
      {"channel", 4, 3, {2, 3, 7, 5}, {3, 7, 1}},
      {"channel", 4, 4, {1, 3, 1, 1}, {2, 3, 5, 7}},
      {"scalar", 4, 4, {2, 1, 5, 7}, {1, 1, 1, 1}},
      {"general", 2, 2, {5, 1}, {1, 7}},
      {"general", 3, 3, {2, 3, 4}, {2, 1, 4}},
      {"general", 4, 3, {2, 3, 1, 5}, {3, 4, 1}},
      {"general", 4, 4, {2, 3, 5, 7}, {1, 3, 1, 7}},
  };
  for (int o = 0; o < 2; o++)
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
      spec *s = push(l);
      s->op = o ? TERN_OP_MUL : TERN_OP_ADD;
      s->in[0] = shp(ACT, c[i].na, c[i].a);
      s->in[1] = shp(ACT, c[i].nb, c[i].b);
      s->n_in = 2;
      s->specials = true;
      s->path = c[i].path;
      int w = snprintf(s->name, sizeof s->name, "%s [", tern_op_name(s->op));
      for (int k = 0; k < c[i].na + c[i].nb; k++) {
        int64_t v = k < c[i].na ? c[i].a[k] : c[i].b[k - c[i].na];
        w += snprintf(s->name + w, sizeof s->name - (size_t)w, "%s%lld%s",
                      k == c[i].na ? " ["
                      : k          ? ","
                                   : "",
                      (long long)v, k == c[i].na - 1 ? "]" : "");
      }
      snprintf(s->name + w, sizeof s->name - (size_t)w, "] (%s)", c[i].path);
    }
}

static void pool_norm_cases(spec_list *l) {
  for (int avg = 0; avg < 2; avg++)
    for (int i = 0; i < 3; i++) {
      spec *s = push(l);
      s->op = avg ? TERN_OP_AVGPOOL2D : TERN_OP_MAXPOOL2D;
      s->in[0] = SHP(ACT, 2, 3, 9 + i, 11);
      s->n_in = 1;
      s->p.kernel[0] = s->p.kernel[1] = 2 + i;
      s->p.stride[0] = s->p.stride[1] = 1 + i % 2;
      s->p.pad[0] = s->p.pad[1] = i == 2 ? 1 : 0;
      s->p.count_include_pad = i == 2;
      if (avg) {
        s->atol = 1e-6;
        s->rtol = 1e-5;
      }
      snprintf(s->name, sizeof s->name, "%s k=%d s=%d p=%d",
               tern_op_name(s->op), s->p.kernel[0], s->p.stride[0],
               s->p.pad[0]);
    }
  spec *s = push(l);
  s->op = TERN_OP_GLOBAL_AVGPOOL;
  s->in[0] = SHP(ACT, 2, 5, 7, 9);
  s->n_in = 1;
  s->atol = 1e-6;
  s->rtol = 1e-5;
  snprintf(s->name, sizeof s->name, "global_avgpool");
  s = push(l);
  s->op = TERN_OP_BATCHNORM;
  s->in[0] = SHP(ACT, 2, 6, 5, 3);
  s->in[1] = SHP(UNI, 6);
  s->in[2] = SHP(UNI, 6);
  s->in[3] = SHP(UNI, 6);
  s->in[4] = SHP(POS, 6);
  s->n_in = 5;
  s->atol = 1e-6;
  s->rtol = 1e-5;
  snprintf(s->name, sizeof s->name, "batchnorm");
  static const int64_t rows[] = {1, 3, 17}, cols[] = {1, 64, 1000};
  for (int i = 0; i < 3; i++) {
    s = push(l);
    s->op = TERN_OP_SOFTMAX;
    s->in[0] = SHP(ACT, rows[i], cols[i]);
    s->n_in = 1;
    s->p.axis = -1;
    s->atol = 1e-6;
    s->rtol = 1e-5;
    snprintf(s->name, sizeof s->name, "softmax %lldx%lld", (long long)rows[i],
             (long long)cols[i]);
    s = push(l);
    s->op = TERN_OP_LAYERNORM;
    s->in[0] = SHP(ACT, rows[i], cols[i] + 1);
    s->in[1] = SHP(UNI, cols[i] + 1);
    s->in[2] = SHP(UNI, cols[i] + 1);
    s->n_in = 3;
    s->atol = 1e-5;
    s->rtol = 1e-4;
    snprintf(s->name, sizeof s->name, "layernorm %lldx%lld", (long long)rows[i],
             (long long)cols[i] + 1);
    s = push(l);
    s->op = TERN_OP_RMSNORM;
    s->in[0] = SHP(ACT, rows[i], cols[i] + 2);
    s->in[1] = SHP(UNI, cols[i] + 2);
    s->n_in = 2;
    s->atol = 1e-5;
    s->rtol = 1e-4;
    snprintf(s->name, sizeof s->name, "rmsnorm %lldx%lld", (long long)rows[i],
             (long long)cols[i] + 2);
  }
}

static void shape_attn_cases(spec_list *l) {
  spec *s = push(l);
  s->op = TERN_OP_FLATTEN;
  s->in[0] = SHP(ACT, 2, 3, 4, 5);
  s->n_in = 1;
  s->p.axis = 1;
  snprintf(s->name, sizeof s->name, "flatten");
  s = push(l);
  s->op = TERN_OP_RESHAPE;
  s->in[0] = SHP(ACT, 2, 3, 4, 5);
  s->n_in = 1;
  s->p.ndim = 3;
  s->p.shape[0] = 0;
  s->p.shape[1] = -1;
  s->p.shape[2] = 10;
  snprintf(s->name, sizeof s->name, "reshape [0,-1,10]");
  s = push(l);
  s->op = TERN_OP_CONCAT;
  s->in[0] = SHP(ACT, 2, 3, 5);
  s->in[1] = SHP(ACT, 2, 4, 5);
  s->in[2] = SHP(ACT, 2, 1, 5);
  s->n_in = 3;
  s->p.axis = 1;
  snprintf(s->name, sizeof s->name, "concat axis 1");
  s = push(l);
  s->op = TERN_OP_PERMUTE;
  s->in[0] = SHP(ACT, 3, 5, 7, 2);
  s->n_in = 1;
  s->p.ndim = 4;
  int perm[4] = {2, 0, 3, 1};
  memcpy(s->p.perm, perm, sizeof perm);
  snprintf(s->name, sizeof s->name, "permute 2,0,3,1");
  static const int64_t t[][4] = {{1, 1, 1, 4}, {2, 5, 5, 8}, {3, 17, 9, 16}};
  for (int i = 0; i < 3; i++) {
    int64_t H = t[i][0], M = t[i][1], K = t[i][3], N = t[i][2];
    s = push(l);
    s->op = TERN_OP_MATMUL;
    s->in[0] = SHP(ACT, H, M, K);
    s->in[1] = SHP(ACT, H, N, K);
    s->n_in = 2;
    s->p.transpose_b = 1;
    s->p.alpha = 0.25f;
    s->atol = 1e-5;
    s->rtol = 1e-4;
    snprintf(s->name, sizeof s->name, "matmul B^T [%lld,%lld,%lld]x[%lld,%lld]",
             (long long)H, (long long)M, (long long)K, (long long)N,
             (long long)K);
    s = push(l);
    s->op = TERN_OP_MATMUL;
    s->in[0] = SHP(ACT, H, M, K);
    s->in[1] = SHP(ACT, H, K, N);
    s->n_in = 2;
    s->atol = 1e-5;
    s->rtol = 1e-4;
    snprintf(s->name, sizeof s->name, "matmul [%lld,%lld,%lld]x[%lld,%lld]",
             (long long)H, (long long)M, (long long)K, (long long)K,
             (long long)N);
    s = push(l);
    s->op = TERN_OP_CAUSAL_MASK;
    s->in[0] = SHP(ACT, H, M, N);
    s->n_in = 1;
    snprintf(s->name, sizeof s->name, "causal_mask [%lld,%lld,%lld]",
             (long long)H, (long long)M, (long long)N);
    s = push(l);
    s->op = TERN_OP_ROPE;
    s->in[0] = SHP(ACT, H, M, K);
    s->n_in = 1;
    s->atol = 1e-5;
    s->rtol = 1e-4;
    snprintf(s->name, sizeof s->name, "rope [%lld,%lld,%lld]", (long long)H,
             (long long)M, (long long)K);
  }
}

/* ------------------------------------------------------------- running */
static tern_graph *build(const spec *s, tu_rng *r, float **inputs,
                         int *n_inputs) {
  tern_graph *g;
  if (tern_graph_create(&g))
    return NULL;
  tern_node_desc nd;
  memset(&nd, 0, sizeof nd);
  nd.size = sizeof nd;
  nd.op = s->op;
  nd.params = s->p;
  nd.n_inputs = s->n_in;
  *n_inputs = 0;
  for (int i = 0; i < s->n_in; i++) {
    const in_spec *in = &s->in[i];
    int id = -1;
    char name[16];
    snprintf(name, sizeof name, "in%d", i);
    if (in->role == ACT) {
      size_t n = 1;
      for (int k = 0; k < in->ndim; k++)
        n *= (size_t)in->shape[k];
      if (tern_graph_add_input(g, name, in->ndim, in->shape, &id) == TERN_OK) {
        inputs[*n_inputs] = malloc(n * sizeof(float));
        tu_fill(r, inputs[*n_inputs], n, -2.0f, 2.0f);
        if (s->specials) {
          static const float sp[] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f};
          for (size_t e = 0; e < n; e++) {
            size_t k = (e * 7 + (size_t)i * 3) % 11;
            if (k < 5)
              inputs[*n_inputs][e] = sp[k];
          }
        }
        (*n_inputs)++;
      }
    } else if (in->role == WEIGHT) {
      id = tu_add_weight(g, r, name, in->dtype, in->ndim, in->shape, 0.5f,
                         in->per_tensor);
    } else {
      id = tu_add_f32(g, r, name, in->ndim, in->shape,
                      in->role == POS ? 0.5f : -1.0f,
                      in->role == POS ? 2.0f : 1.0f);
    }
    nd.inputs[i] = id;
  }
  int out;
  if (tern_graph_add_node(g, &nd, &out) || tern_graph_add_output(g, out)) {
    cr_log_error("building '%s': %s", s->name, tern_graph_errmsg(g));
    tern_graph_destroy(g);
    return NULL;
  }
  return g;
}

static bool same(float a, float b, double atol, double rtol) {
  if (atol == 0 && rtol == 0)
    return memcmp(&a, &b, sizeof a) == 0;
  if (isinf(a) || isinf(b))
    return a == b;
  if (isnan(a) || isnan(b))
    return isnan(a) && isnan(b);
  return fabs((double)a - (double)b) <= atol + rtol * fabs((double)a);
}

/* Debug log lines of the GPU backends ("... takes the <path> path"). */
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_log[4096];

static void on_log(void *user, tern_log_level level, const char *msg) {
  (void)user;
  (void)level;
  pthread_mutex_lock(&g_log_lock);
  size_t n = strlen(g_log);
  if (strstr(msg, " path"))
    snprintf(g_log + n, sizeof g_log - n, "%s\n", msg);
  pthread_mutex_unlock(&g_log_lock);
}

/* Run every case on every device; returns the number of failures. */
static int run_cases(void (*gen)(spec_list *)) {
  spec_list l = {0};
  gen(&l);
  tern_context *ctx;
  cr_assert_eq(tern_context_create(NULL, &ctx), TERN_OK, "%s",
               tern_last_error());
  int failures = 0, passed = 0, skipped = 0;
  int ndev = tern_context_device_count(ctx);
  for (int c = 0; c < l.n; c++) {
    const spec *s = &l.v[c];
    uint64_t seed = 1000 + (uint64_t)c;
    tu_rng r;
    tu_seed(&r, seed);
    float *inputs[TERN_MAX_INPUTS] = {0};
    int n_inputs = 0;
    tern_graph *g = build(s, &r, inputs, &n_inputs);
    if (!g) {
      failures++;
      continue;
    }
    float *ref = NULL;
    size_t nref = 0;
    if (tu_run(ctx, g, "ref", true, inputs, &ref, &nref)) {
      cr_log_error("reference failed on '%s': %s", s->name, tern_last_error());
      failures++;
    }
    for (int d = 0; ref && d < ndev; d++) {
      tern_device_info info;
      memset(&info, 0, sizeof info);
      info.size = sizeof info;
      tern_context_device_info(ctx, d, &info);
      float *got = NULL;
      size_t n = 0;
      g_log[0] = 0;
      if (s->path)
        tern_set_log_callback(on_log, NULL, TERN_LOG_DEBUG);
      tern_status st = tu_run(ctx, g, info.id, true, inputs, &got, &n);
      if (s->path) {
        tern_set_log_callback(NULL, NULL, TERN_LOG_ERROR);
        char want[64];
        snprintf(want, sizeof want, "takes the %s path", s->path);
        bool gpu = strncmp(info.id, "vulkan", 6) == 0 ||
                   strncmp(info.id, "opencl", 6) == 0;
        if (st == TERN_OK && gpu && !strstr(g_log, want)) {
          cr_log_error("FAIL device=%s case='%s': expected \"%s\", log: %s",
                       info.id, s->name, want, g_log);
          failures++;
        }
      }
      if (st == TERN_ERR_UNSUPPORTED) {
        skipped++;
        continue;
      }
      if (st) {
        cr_log_error("FAIL device=%s op=%s case='%s' seed=%llu: %s (%s)",
                     info.id, tern_op_name(s->op), s->name,
                     (unsigned long long)seed, tern_status_name(st),
                     tern_last_error());
        failures++;
        continue;
      }
      size_t bad = 0, first = 0;
      for (size_t i = 0; i < n && i < nref; i++)
        if (!same(ref[i], got[i], s->atol, s->rtol) && bad++ == 0)
          first = i;
      if (bad || n != nref) {
        cr_log_error("FAIL device=%s op=%s case='%s' seed=%llu: %zu of %zu "
                     "values differ; first at %zu: ref %.9g got %.9g (%s)",
                     info.id, tern_op_name(s->op), s->name,
                     (unsigned long long)seed, bad, nref, first, ref[first],
                     got[first],
                     s->atol == 0 && s->rtol == 0 ? "bit-exact required"
                                                  : "beyond tolerance");
        failures++;
      } else {
        passed++;
      }
      free(got);
    }
    free(ref);
    for (int i = 0; i < n_inputs; i++)
      free(inputs[i]);
    tern_graph_destroy(g);
  }
  cr_log_info("%d cases x %d devices: %d passed, %d failed, %d skipped", l.n,
              ndev, passed, failures, skipped);
  printf("diff: %d cases x %d devices: %d passed, %d failed, %d skipped\n", l.n,
         ndev, passed, failures, skipped);
  tern_context_destroy(ctx);
  free(l.v);
  return failures;
}

Test(diff, linear) {
  cr_expect_eq(run_cases(linear_cases), 0);
}
Test(diff, conv2d) {
  cr_expect_eq(run_cases(conv_cases), 0);
}
Test(diff, conv2d_depthwise) {
  cr_expect_eq(run_cases(dwconv_cases), 0);
}
Test(diff, elementwise) {
  cr_expect_eq(run_cases(unary_cases), 0);
}
Test(diff, binary) {
  cr_expect_eq(run_cases(binary_cases), 0);
}
Test(diff, pool_norm) {
  cr_expect_eq(run_cases(pool_norm_cases), 0);
}
Test(diff, shape_attention) {
  cr_expect_eq(run_cases(shape_attn_cases), 0);
}
