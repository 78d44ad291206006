/* file_helpers.h — shared by the .tern file tests (test_file.c,
 * test_file_corrupt.c): a scratch directory, file I/O, a parser of the file
 * layout as docs/FORMAT.md describes it, checksum repair, and the sample
 * graphs. Header-only: each test is its own executable. */
#ifndef TERN_TEST_FILE_HELPERS_H
#define TERN_TEST_FILE_HELPERS_H

#include "model_file.h"
#include "tern_internal.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------- helpers */

static char g_dir[256];

static inline void make_dir(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/tern_test_file_XXXXXX");
  cr_assert_not_null(mkdtemp(g_dir), "mkdtemp: %s", strerror(errno));
}

static inline void remove_dir(void) {
  DIR *d = opendir(g_dir);
  if (!d)
    return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
    if (rmdir(p) != 0)
      unlink(p);
  }
  closedir(d);
  rmdir(g_dir);
}

static inline const char *path_in_dir(const char *name) {
  static char p[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
  return p[k];
}

static inline int count_dir_entries(void) {
  DIR *d = opendir(g_dir);
  cr_assert_not_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

static inline uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

static inline void write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(p, 1, n, f), n);
  fclose(f);
}

static uint32_t rng_state = 12345u;
static inline uint32_t rnd(void) { /* xorshift32: fixed seed, reproducible */
  uint32_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return rng_state = x;
}

static inline uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}
static inline uint64_t get64(const uint8_t *p) {
  return get32(p) | (uint64_t)get32(p + 4) << 32;
}
static inline void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* ------------------------------------------------- file layout (per FORMAT.md)
 */

typedef struct tlayout {
  size_t at, kind_at, dtype_at, storage_at, ndim_at, shape_at, data_off_at;
  int ndim;
} tlayout;
typedef struct nlayout {
  size_t at, n_inputs_at, inputs_at, output_at, n_params_at, params_at;
  uint32_t n_inputs;
} nlayout;
typedef struct layout {
  size_t sec_off[4], sec_len[4];
  size_t meta_count_at, n_inputs_at, n_outputs_at, node_count_at,
      tensor_count_at;
  int n_nodes, n_tensors;
  nlayout node[32];
  tlayout tensor[64];
} layout;

/* Parses a valid file the test itself wrote, following docs/FORMAT.md. */
static inline void parse_layout(const uint8_t *b, size_t len, layout *L) {
  memset(L, 0, sizeof *L);
  cr_assert_geq(len, 128);
  for (int i = 0; i < 4; i++) {
    L->sec_off[i] = (size_t)get64(b + 32 + 24 * i);
    L->sec_len[i] = (size_t)get64(b + 40 + 24 * i);
  }
  L->meta_count_at = L->sec_off[0];
  size_t p = L->sec_off[1];
  L->n_inputs_at = p;
  p += 4 + 4 * get32(b + p);
  L->n_outputs_at = p;
  p += 4 + 4 * get32(b + p);
  L->node_count_at = p;
  L->n_nodes = (int)get32(b + p);
  cr_assert_leq(L->n_nodes, 32);
  p += 4;
  for (int i = 0; i < L->n_nodes; i++) {
    nlayout *n = &L->node[i];
    n->at = p;
    p += 4;
    p += 4 + get32(b + p);
    n->n_inputs_at = p;
    n->n_inputs = get32(b + p);
    n->inputs_at = p + 4;
    p += 4 + 4 * n->n_inputs;
    n->output_at = p;
    p += 4;
    n->n_params_at = p;
    n->params_at = p + 4;
    p += 4 + 4 * get32(b + p);
  }
  cr_assert_eq(p, L->sec_off[1] + L->sec_len[1]);
  p = L->sec_off[2];
  L->tensor_count_at = p;
  L->n_tensors = (int)get32(b + p);
  cr_assert_leq(L->n_tensors, 64);
  p += 4;
  for (int i = 0; i < L->n_tensors; i++) {
    tlayout *t = &L->tensor[i];
    t->at = p;
    p += 4 + get32(b + p);
    t->kind_at = p;
    t->dtype_at = p + 1;
    t->storage_at = p + 2;
    t->ndim_at = p + 3;
    t->ndim = b[p + 3];
    t->shape_at = p + 4;
    t->data_off_at = t->shape_at + 8 * (size_t)t->ndim;
    p = t->data_off_at + 40;
  }
  cr_assert_eq(p, L->sec_off[2] + L->sec_len[2]);
}

static inline uint32_t crc(const uint8_t *p, size_t n) {
  return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

/* Recomputes the section checksums and then the header checksum, wherever
 * the (possibly damaged) header still points inside the buffer, so that
 * validation past the checksums is exercised. */
static inline void fix_crcs(uint8_t *b, size_t len) {
  if (len < 128)
    return;
  for (int i = 0; i < 3; i++) {
    uint64_t off = get64(b + 32 + 24 * i), n = get64(b + 40 + 24 * i);
    if (off <= len && n <= len - off)
      put32(b + 48 + 24 * i, crc(b + off, (size_t)n));
  }
  uint32_t hb = get32(b + 12);
  if (hb < 24 || hb > len)
    hb = 128;
  put32(b + 20, 0);
  put32(b + 20, crc(b, hb));
}

/* Recomputes tensor i's data checksum (after damaging its data). */
static inline void fix_tensor_crc(uint8_t *b, const layout *L, int i) {
  const tlayout *t = &L->tensor[i];
  uint64_t off = get64(b + t->data_off_at), n = get64(b + t->data_off_at + 8);
  put32(b + t->data_off_at + 32, crc(b + L->sec_off[3] + off, (size_t)n));
}

/* ---------------------------------------------------------- test graph */

#define K_IN 13 /* not a multiple of 4 or 5: exercises row and trit padding */

typedef struct sample {
  tern_graph *g;
  int x, w_t, b_t, w_i8, w_f32, f16c, h1, h2, h3, r, sum, sm;
} sample;

static inline void ok(tern_status s, const char *what) {
  cr_assert_eq(s, TERN_OK, "%s: %s (%s)", what, tern_status_name(s),
               tern_last_error());
}

static inline int add_const(tern_graph *g, const char *name, tern_dtype dt,
                            int ndim, const int64_t *shape, const void *data,
                            size_t bytes, const float *scales, int64_t ns) {
  tern_constant_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.name = name;
  d.dtype = dt;
  d.ndim = ndim;
  d.shape = shape;
  d.data = data;
  d.data_bytes = bytes;
  d.scales = scales;
  d.scale_count = ns;
  int id = -1;
  ok(tern_graph_add_constant(g, &d, &id), name);
  return id;
}

static inline int add_node(tern_graph *g, tern_op op, const char *name, int n,
                           const int *in, const tern_op_params *p) {
  tern_node_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.op = op;
  d.name = name;
  d.n_inputs = n;
  for (int i = 0; i < n; i++)
    d.inputs[i] = in[i];
  if (p)
    d.params = *p;
  int id = -1;
  ok(tern_graph_add_node(g, &d, &id), name);
  return id;
}

static inline void build_sample(sample *s) {
  memset(s, 0, sizeof *s);
  ok(tern_graph_create(&s->g), "create");
  tern_graph *g = s->g;
  int64_t xs[2] = {2, K_IN};
  ok(tern_graph_add_input(g, "x", 2, xs, &s->x), "input");

  /* ternary [8, 13], per-channel scales */
  int8_t q[8 * K_IN];
  for (int i = 0; i < 8 * K_IN; i++)
    q[i] = (int8_t)((i * 7 + 3) % 3 - 1);
  uint8_t tp[8 * ((K_IN + 3) / 4)];
  ok(tern_ternary_pack(q, 8, K_IN, tp, sizeof tp), "pack");
  float ts[8];
  for (int i = 0; i < 8; i++)
    ts[i] = 0.25f + 0.125f * (float)i;
  int64_t ws[2] = {8, K_IN};
  s->w_t = add_const(g, "blk.0.w_ternary", TERN_DTYPE_TERNARY, 2, ws, tp,
                     sizeof tp, ts, 8);
  float b1[8];
  for (int i = 0; i < 8; i++)
    b1[i] = (float)i * -0.5f;
  int64_t bs[1] = {8};
  s->b_t =
      add_const(g, "blk.0.bias", TERN_DTYPE_F32, 1, bs, b1, sizeof b1, NULL, 0);
  tern_op_params p;
  memset(&p, 0, sizeof p);
  p.activation = TERN_ACT_RELU;
  s->h1 =
      add_node(g, TERN_OP_LINEAR, "fc1", 3, (int[]){s->x, s->w_t, s->b_t}, &p);

  /* int8 [8, 8], one per-tensor scale */
  int8_t w8[64];
  for (int i = 0; i < 64; i++)
    w8[i] = (int8_t)(i * 37 % 255 - 127);
  float s8 = 0.0078125f;
  int64_t w8s[2] = {8, 8};
  s->w_i8 = add_const(g, "fc2.w", TERN_DTYPE_I8, 2, w8s, w8, sizeof w8, &s8, 1);
  s->h2 = add_node(g, TERN_OP_LINEAR, "fc2", 2, (int[]){s->h1, s->w_i8}, NULL);

  /* f32 [4, 8] */
  float wf[32];
  for (int i = 0; i < 32; i++)
    wf[i] = (float)i / 7.0f - 2.0f;
  int64_t wfs[2] = {4, 8};
  s->w_f32 =
      add_const(g, "fc3.w", TERN_DTYPE_F32, 2, wfs, wf, sizeof wf, NULL, 0);
  memset(&p, 0, sizeof p);
  p.activation = TERN_ACT_GELU;
  s->h3 = add_node(g, TERN_OP_LINEAR, "fc3", 2, (int[]){s->h2, s->w_f32}, &p);

  /* f16 [3, 5], unused by any node */
  uint16_t hf[15];
  for (int i = 0; i < 15; i++)
    hf[i] = tern_f32_to_f16((float)i * 0.3f - 1.0f);
  int64_t hs[2] = {3, 5};
  s->f16c =
      add_const(g, "table.f16", TERN_DTYPE_F16, 2, hs, hf, sizeof hf, NULL, 0);

  s->r = add_node(g, TERN_OP_RELU, "", 1, (int[]){s->h3}, NULL);
  s->sum = add_node(g, TERN_OP_ADD, "residual", 2, (int[]){s->h1, s->h2}, NULL);
  memset(&p, 0, sizeof p);
  p.axis = -1;
  s->sm = add_node(g, TERN_OP_SOFTMAX, "probs", 1, (int[]){s->r}, &p);
  ok(tern_graph_add_output(g, s->sm), "output");
  ok(tern_graph_add_output(g, s->sum), "output");
  ok(tern_graph_set_metadata(g, "name", "sample"), "meta");
  ok(tern_graph_set_metadata(g, "description",
                             "r\xc3\xa9sum\xc3\xa9 \xe2\x9c\x93 (UTF-8)"),
     "meta");
  ok(tern_graph_set_metadata(g, "empty", ""), "meta");
  ok(tern_graph_set_metadata(g, "tags", "a,b"), "meta");
}

/* Compares two graphs through the public API: everything must match. */
static inline void compare_graphs(const tern_graph *a, const tern_graph *b) {
  cr_assert_eq(tern_graph_tensor_count(a), tern_graph_tensor_count(b));
  cr_assert_eq(tern_graph_node_count(a), tern_graph_node_count(b));
  cr_assert_eq(tern_graph_input_count(a), tern_graph_input_count(b));
  cr_assert_eq(tern_graph_output_count(a), tern_graph_output_count(b));
  for (int i = 0; i < tern_graph_tensor_count(a); i++) {
    tern_tensor_info x = {.size = sizeof x}, y = {.size = sizeof y};
    ok(tern_graph_tensor_info(a, i, &x), "info");
    ok(tern_graph_tensor_info(b, i, &y), "info");
    cr_assert_str_eq(x.name, y.name);
    cr_assert_eq(x.kind, y.kind, "tensor %d kind", i);
    cr_assert_eq(x.dtype, y.dtype, "tensor %d dtype", i);
    cr_assert_eq(x.ndim, y.ndim, "tensor %d ndim", i);
    for (int d = 0; d < x.ndim; d++)
      cr_assert_eq(x.shape[d], y.shape[d], "tensor %d shape[%d]", i, d);
    cr_assert_eq(x.data_bytes, y.data_bytes, "tensor %d data_bytes", i);
    cr_assert_eq(x.scale_count, y.scale_count, "tensor %d scale_count", i);
    if (x.data_bytes)
      cr_assert(memcmp(x.data, y.data, x.data_bytes) == 0, "tensor %d data", i);
    if (x.scale_count)
      cr_assert(memcmp(x.scales, y.scales,
                       (size_t)x.scale_count * sizeof(float)) == 0,
                "tensor %d scales", i);
  }
  for (int i = 0; i < tern_graph_node_count(a); i++) {
    tern_node_info x = {.size = sizeof x}, y = {.size = sizeof y};
    ok(tern_graph_node_info(a, i, &x), "node info");
    ok(tern_graph_node_info(b, i, &y), "node info");
    cr_assert_eq(x.op, y.op);
    cr_assert_str_eq(x.name, y.name);
    cr_assert_eq(x.n_inputs, y.n_inputs);
    for (int k = 0; k < x.n_inputs; k++)
      cr_assert_eq(x.inputs[k], y.inputs[k]);
    cr_assert_eq(x.output, y.output);
    cr_assert(memcmp(&x.params, &y.params, sizeof x.params) == 0,
              "node %d params", i);
  }
  for (int i = 0; i < tern_graph_input_count(a); i++) {
    int p, q;
    ok(tern_graph_input(a, i, &p), "input");
    ok(tern_graph_input(b, i, &q), "input");
    cr_assert_eq(p, q);
  }
  for (int i = 0; i < tern_graph_output_count(a); i++) {
    int p, q;
    ok(tern_graph_output(a, i, &p), "output");
    ok(tern_graph_output(b, i, &q), "output");
    cr_assert_eq(p, q);
  }
  cr_assert_eq(a->n_meta, b->n_meta);
  for (int i = 0; i < a->n_meta; i++) {
    const char *v = tern_graph_get_metadata(b, a->meta_keys[i]);
    cr_assert_not_null(v, "metadata '%s' missing", a->meta_keys[i]);
    cr_assert_str_eq(v, a->meta_values[i]);
  }
}

/* A valid file of the sample graph, in memory. */
static inline uint8_t *sample_file(tern_ternary_storage st, size_t *len) {
  sample s;
  build_sample(&s);
  tern_save_desc d = {.size = sizeof d, .ternary_storage = st};
  const char *p = path_in_dir("sample.tern");
  ok(tern_graph_save(s.g, p, &d), "save");
  tern_graph_destroy(s.g);
  uint8_t *b = read_file(p, len);
  unlink(p);
  return b;
}

static inline tern_status load_mem(const uint8_t *b, size_t n) {
  tern_graph *g = NULL;
  tern_status s = tern_graph_load_memory(b, n, &g);
  if (s == TERN_OK) {
    cr_assert_not_null(g);
    /* a loaded graph must be fully usable */
    for (int i = 0; i < tern_graph_tensor_count(g); i++) {
      tern_tensor_info ti = {.size = sizeof ti};
      ok(tern_graph_tensor_info(g, i, &ti), "info");
      if (ti.data_bytes)
        (void)crc(ti.data, ti.data_bytes);
    }
    tern_graph_destroy(g);
  } else {
    cr_assert_null(g);
    cr_assert(s == TERN_ERR_CORRUPT_FILE || s == TERN_ERR_VERSION,
              "unexpected status %s: %s", tern_status_name(s),
              tern_last_error());
    cr_assert_neq(tern_last_error()[0], 0, "failure without a message");
  }
  return s;
}

/* Loads b and expects status st with a message containing `needle`. */
static inline void expect_fail(const uint8_t *b, size_t n, tern_status st,
                               const char *needle) {
  tern_graph *g = NULL;
  tern_status s = tern_graph_load_memory(b, n, &g);
  cr_assert_eq(s, st, "expected %s containing '%s', got %s: %s",
               tern_status_name(st), needle, tern_status_name(s),
               tern_last_error());
  cr_assert_null(g);
  cr_assert(strstr(tern_last_error(), needle) != NULL,
            "message '%s' lacks '%s'", tern_last_error(), needle);
  cr_assert(strstr(tern_last_error(), "at byte") != NULL || st == TERN_ERR_IO,
            "message '%s' names no byte offset", tern_last_error());
}

typedef struct damage_case {
  uint8_t *b;
  size_t n;
  layout L;
} damage_case;

static inline void damage_begin(damage_case *d, tern_ternary_storage st) {
  d->b = sample_file(st, &d->n);
  parse_layout(d->b, d->n, &d->L);
}
static inline void damage_expect(damage_case *d, tern_status st,
                                 const char *needle, size_t at) {
  fix_crcs(d->b, d->n);
  expect_fail(d->b, d->n, st, needle);
  if (at != (size_t)-1) {
    char want[64];
    snprintf(want, sizeof want, "at byte %zu:", at);
    cr_assert(strstr(tern_last_error(), want) != NULL,
              "message '%s' should name byte %zu", tern_last_error(), at);
  }
  free(d->b);
}

/* ------------------------------------------------- every op in a file */

static inline int add_f32(tern_graph *g, const char *name, int64_t n,
                          float base) {
  float v[64];
  cr_assert_leq(n, 64);
  for (int64_t i = 0; i < n; i++)
    v[i] = base + 0.01f * (float)i;
  int64_t shape[1] = {n};
  return add_const(g, name, TERN_DTYPE_F32, 1, shape, v, (size_t)n * 4, NULL,
                   0);
}

/* A graph that uses every op, with non-default parameters, so that damaged
 * parameter words reach every op's shape inference. */
static inline tern_graph *build_zoo(void) {
  tern_graph *g;
  ok(tern_graph_create(&g), "create");
  int64_t xs[4] = {2, 4, 9, 9};
  int x;
  ok(tern_graph_add_input(g, "image", 4, xs, &x), "input");
  int8_t q[6 * 36];
  for (int i = 0; i < 6 * 36; i++)
    q[i] = (int8_t)(i % 3 - 1);
  uint8_t cw[6 * 9];
  ok(tern_ternary_pack(q, 6, 36, cw, sizeof cw), "pack");
  float cs[6] = {0.5f, 0.25f, 1, 2, 0.125f, 1.5f};
  int64_t cws[4] = {6, 4, 3, 3};
  int w =
      add_const(g, "conv.w", TERN_DTYPE_TERNARY, 4, cws, cw, sizeof cw, cs, 6);
  int b = add_f32(g, "conv.b", 6, 0.1f);
  tern_op_params p;
  memset(&p, 0, sizeof p);
  p.stride[0] = p.stride[1] = 1;
  p.pad[0] = p.pad[1] = 1;
  p.activation = TERN_ACT_RELU;
  int c = add_node(g, TERN_OP_CONV2D, "conv", 3, (int[]){x, w, b}, &p);
  int bn_in[5] = {c, add_f32(g, "bn.gamma", 6, 1), add_f32(g, "bn.beta", 6, 0),
                  add_f32(g, "bn.mean", 6, 0.5f), add_f32(g, "bn.var", 6, 2)};
  memset(&p, 0, sizeof p);
  p.eps = 1e-3f;
  int bn = add_node(g, TERN_OP_BATCHNORM, "bn", 5, bn_in, &p);
  int r6 = add_node(g, TERN_OP_RELU6, "r6", 1, (int[]){bn}, NULL);
  memset(&p, 0, sizeof p);
  p.kernel[0] = p.kernel[1] = 2;
  p.stride[0] = p.stride[1] = 2;
  int mp = add_node(g, TERN_OP_MAXPOOL2D, "mp", 1, (int[]){r6}, &p);
  memset(&p, 0, sizeof p);
  p.kernel[0] = p.kernel[1] = 3;
  p.stride[0] = p.stride[1] = 1;
  p.pad[0] = p.pad[1] = 1;
  p.count_include_pad = 1;
  int ap = add_node(g, TERN_OP_AVGPOOL2D, "ap", 1, (int[]){mp}, &p);
  int gp = add_node(g, TERN_OP_GLOBAL_AVGPOOL, "gp", 1, (int[]){ap}, NULL);
  memset(&p, 0, sizeof p);
  p.axis = 1;
  int fl = add_node(g, TERN_OP_FLATTEN, "fl", 1, (int[]){ap}, &p);
  int8_t w8[16 * 96];
  for (int i = 0; i < 16 * 96; i++)
    w8[i] = (int8_t)(i % 255 - 127);
  float s8[16];
  for (int i = 0; i < 16; i++)
    s8[i] = 0.001f * (float)(i + 1);
  int64_t w8s[2] = {16, 96};
  int wl = add_const(g, "fc.w", TERN_DTYPE_I8, 2, w8s, w8, sizeof w8, s8, 16);
  int lin = add_node(g, TERN_OP_LINEAR, "fc", 2, (int[]){fl, wl}, NULL);
  int si = add_node(g, TERN_OP_SILU, "si", 1, (int[]){lin}, NULL);
  int ge = add_node(g, TERN_OP_GELU, "ge", 1, (int[]){lin}, NULL);
  int mu = add_node(g, TERN_OP_MUL, "mu", 2, (int[]){si, ge}, NULL);
  int ad = add_node(g, TERN_OP_ADD, "ad", 2, (int[]){mu, lin}, NULL);
  memset(&p, 0, sizeof p);
  p.ndim = 3;
  p.shape[0] = 0;
  p.shape[1] = -1;
  p.shape[2] = 4;
  int rs = add_node(g, TERN_OP_RESHAPE, "rs", 1, (int[]){ad}, &p);
  memset(&p, 0, sizeof p);
  p.ndim = 3;
  p.perm[0] = 0;
  p.perm[1] = 2;
  p.perm[2] = 1;
  int pe = add_node(g, TERN_OP_PERMUTE, "pe", 1, (int[]){rs}, &p);
  memset(&p, 0, sizeof p);
  p.theta = 500.0f;
  int ro = add_node(g, TERN_OP_ROPE, "ro", 1, (int[]){pe}, &p);
  memset(&p, 0, sizeof p);
  p.transpose_b = 1;
  p.alpha = 0.5f;
  int mm = add_node(g, TERN_OP_MATMUL, "mm", 2, (int[]){ro, pe}, &p);
  int cm = add_node(g, TERN_OP_CAUSAL_MASK, "cm", 1, (int[]){mm}, NULL);
  memset(&p, 0, sizeof p);
  p.axis = -1;
  int sm = add_node(g, TERN_OP_SOFTMAX, "sm", 1, (int[]){cm}, &p);
  memset(&p, 0, sizeof p);
  p.eps = 1e-6f;
  int ln = add_node(
      g, TERN_OP_LAYERNORM, "ln", 3,
      (int[]){sm, add_f32(g, "ln.g", 4, 1), add_f32(g, "ln.b", 4, 0)}, &p);
  int rn = add_node(g, TERN_OP_RMSNORM, "rn", 2,
                    (int[]){ln, add_f32(g, "rn.g", 4, 1)}, &p);
  memset(&p, 0, sizeof p);
  p.axis = 1;
  int cc = add_node(g, TERN_OP_CONCAT, "cc", 2, (int[]){rn, ln}, &p);
  ok(tern_graph_add_output(g, cc), "output");
  int re = add_node(g, TERN_OP_RELU, "re", 1, (int[]){gp}, NULL);
  ok(tern_graph_add_output(g, re), "output");
  ok(tern_graph_set_metadata(g, "model", "zoo"), "meta");
  return g;
}

#endif
