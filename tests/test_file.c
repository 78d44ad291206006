/* test_file.c — the .tern model file: round trips (mmap, read, memory,
 * 2-bit and 1.58-bit ternary), field-by-field parameters, atomic saves, size
 * budgets, the golden minimal file, out-of-memory paths, and that a loaded
 * graph computes what the original did. Corrupt files: test_file_corrupt.c. */
#include "file_helpers.h"

TestSuite(file, .init = make_dir, .fini = remove_dir);

/* ---------------------------------------------------------- round trips */

static void check_mapped(const tern_graph *g, int id, bool mapped) {
  const tern_tensor *t = &g->tensors[id];
  const uint8_t *m = g->mapping;
  bool inside = m && (const uint8_t *)t->data >= m &&
                (const uint8_t *)t->data < m + g->mapping_bytes;
  cr_assert_eq(inside, mapped, "tensor %d mapped=%d expected %d", id, inside,
               mapped);
  cr_assert_eq(t->owns_data, !mapped);
  if (mapped) {
    cr_assert_eq(((uintptr_t)t->data) % 64, 0, "data not 64-byte aligned");
    cr_assert_eq(((uintptr_t)t->scales) % 64, 0, "scales not aligned");
  }
}

Test(file, round_trip_mmap_and_read) {
  sample s;
  build_sample(&s);
  const char *p = path_in_dir("m.tern");
  ok(tern_graph_save(s.g, p, NULL), "save");
  cr_assert_eq(count_dir_entries(), 1, "temp file left behind");

  tern_graph *a = NULL, *b = NULL;
  ok(tern_graph_load(p, NULL, &a), "load mmap");
  compare_graphs(s.g, a);
  cr_assert_not_null(a->mapping);
  for (int id = 0; id < a->n_tensors; id++)
    if (a->tensors[id].kind == TERN_TENSOR_CONSTANT)
      check_mapped(a, id, true);

  tern_load_desc ld = {.size = sizeof ld, .no_mmap = 1};
  ok(tern_graph_load(p, &ld, &b), "load read");
  compare_graphs(s.g, b);
  cr_assert_null(b->mapping);
  for (int id = 0; id < b->n_tensors; id++)
    if (b->tensors[id].kind == TERN_TENSOR_CONSTANT)
      check_mapped(b, id, false);

  /* metadata and defaults survive exactly */
  cr_assert_str_eq(tern_graph_get_metadata(a, "description"),
                   "r\xc3\xa9sum\xc3\xa9 \xe2\x9c\x93 (UTF-8)");
  cr_assert_str_eq(tern_graph_get_metadata(a, "empty"), "");
  tern_node_info ni = {.size = sizeof ni};
  ok(tern_graph_node_info(a, 3, &ni), "node");
  cr_assert_str_eq(ni.name, "relu3"); /* the builder's default name */

  /* saving a loaded graph gives the identical file */
  const char *p2 = path_in_dir("m2.tern");
  ok(tern_graph_save(a, p2, NULL), "resave");
  size_t n1, n2;
  uint8_t *f1 = read_file(p, &n1), *f2 = read_file(p2, &n2);
  cr_assert_eq(n1, n2);
  cr_assert(memcmp(f1, f2, n1) == 0, "resaved file differs");

  /* saving a mapped graph over its own file: the rename leaves the old
   * mapping intact */
  tern_save_desc d158 = {.size = sizeof d158,
                         .ternary_storage = TERN_STORE_158BIT};
  ok(tern_graph_save(a, p, &d158), "save over own file");
  compare_graphs(s.g, a);
  tern_graph *e = NULL;
  ok(tern_graph_load(p, NULL, &e), "load overwritten");
  compare_graphs(s.g, e);
  tern_graph_destroy(e);
  cr_assert_eq(count_dir_entries(), 2, "temp file left behind");

  /* memory load */
  tern_graph *c = NULL;
  ok(tern_graph_load_memory(f1, n1, &c), "load memory");
  compare_graphs(s.g, c);
  free(f1);
  free(f2);
  tern_graph_destroy(a);
  tern_graph_destroy(b);
  tern_graph_destroy(c);
  tern_graph_destroy(s.g);
}

Test(file, params_round_trip_field_by_field) {
  /* Every field of tern_op_params, with distinct values, survives; the
   * builder is bypassed here (push) as no single op reads all fields. */
  tern_graph *g;
  ok(tern_graph_create(&g), "create");
  int64_t xs[1] = {4};
  int x;
  ok(tern_graph_add_input(g, "x", 1, xs, &x), "input");
  tern_op_params p;
  memset(&p, 0, sizeof p);
  int32_t *w = (int32_t *)&p;
  for (size_t i = 0; i < offsetof(tern_op_params, eps) / 4; i++)
    w[i] = (int32_t)(i * 1000003 - 7);
  p.eps = 1e-6f;
  p.alpha = -0.125f;
  p.theta = 500000.0f;
  p.count_include_pad = 1;
  tern_node n = {.op = TERN_OP_RELU, .name = "n", .n_inputs = 1};
  n.inputs[0] = x;
  n.params = p;
  tern_tensor t = {.name = "n",
                   .kind = TERN_TENSOR_ACTIVATION,
                   .dtype = TERN_DTYPE_F32,
                   .ndim = 1,
                   .producer = 0};
  t.shape[0] = 4;
  ok(tern_graph_push_tensor(g, &t, false, &n.output), "push");
  g->nodes = tern_calloc(1, sizeof *g->nodes);
  g->nodes[0] = n;
  g->nodes[0].name = tern_strdup("n");
  g->n_nodes = g->cap_nodes = 1;
  const char *path = path_in_dir("p.tern");
  ok(tern_graph_save(g, path, NULL), "save");
  size_t len;
  uint8_t *b = read_file(path, &len);
  layout L;
  parse_layout(b, len, &L);
  cr_assert_eq(get32(b + L.node[0].n_params_at), 29);
  /* field order as FORMAT.md documents it */
  cr_assert_eq((int32_t)get32(b + L.node[0].params_at + 4 * 10), p.ndim);
  cr_assert_eq((int32_t)get32(b + L.node[0].params_at + 4 * 17), p.perm[0]);
  float eps;
  uint32_t e = get32(b + L.node[0].params_at + 4 * 25);
  memcpy(&eps, &e, 4);
  cr_assert_eq(eps, p.eps);
  cr_assert_eq(get32(b + L.node[0].params_at + 4 * 28), 1);
  free(b);
  tern_graph_destroy(g);
}

Test(file, ternary_158_round_trip) {
  sample s;
  build_sample(&s);
  const char *p2 = path_in_dir("two.tern"), *p5 = path_in_dir("five.tern");
  tern_save_desc d = {.size = sizeof d, .ternary_storage = TERN_STORE_158BIT};
  ok(tern_graph_save(s.g, p2, NULL), "save 2bit");
  ok(tern_graph_save(s.g, p5, &d), "save 1.58");
  size_t n2, n5;
  uint8_t *f2 = read_file(p2, &n2), *f5 = read_file(p5, &n5);
  layout L;
  parse_layout(f5, n5, &L);
  cr_assert_eq(f5[L.tensor[s.w_t].storage_at], 5, "storage is 1.58-bit");
  cr_assert_eq(get64(f5 + L.tensor[s.w_t].data_off_at + 8),
               tern_trits_bytes(8 * K_IN));
  for (int mm = 0; mm < 2; mm++) {
    tern_load_desc ld = {.size = sizeof ld, .no_mmap = mm};
    tern_graph *g = NULL;
    ok(tern_graph_load(p5, &ld, &g), "load 1.58");
    compare_graphs(s.g, g);
    check_mapped(g, s.w_t, false); /* unpacked into owned rows */
    if (!mm)
      check_mapped(g, s.w_f32, true);
    tern_graph_destroy(g);
  }
  /* a ternary-only graph keeps no mapping at all */
  free(f2);
  free(f5);
  tern_graph_destroy(s.g);
}

Test(file, nothing_but_an_input) {
  tern_graph *g, *h = NULL;
  ok(tern_graph_create(&g), "create");
  int64_t xs[3] = {1, 2, 3};
  ok(tern_graph_add_input(g, "only", 3, xs, NULL), "input");
  const char *p = path_in_dir("e.tern");
  ok(tern_graph_save(g, p, NULL), "save");
  ok(tern_graph_load(p, NULL, &h), "load");
  compare_graphs(g, h);
  cr_assert_null(h->mapping, "no constant points into the file");
  tern_graph_destroy(g);
  tern_graph_destroy(h);
}

Test(file, minor_version_newer_is_readable) {
  size_t n;
  uint8_t *b = sample_file(TERN_STORE_2BIT, &n);
  b[10] = 7; /* minor 7: fields appended later are ignored */
  fix_crcs(b, n);
  cr_assert_eq(load_mem(b, n), TERN_OK);
  free(b);
}

/* ------------------------------------------------------------ atomicity */

Test(file, failed_save_keeps_old_file) {
  sample s;
  build_sample(&s);
  const char *p = path_in_dir("keep.tern");
  ok(tern_graph_save(s.g, p, NULL), "save");
  size_t n0;
  uint8_t *orig = read_file(p, &n0);

  /* 1. the temporary file cannot be created (a directory sits there) */
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
  cr_assert_eq(mkdir(tmp, 0755), 0);
  tern_status st = tern_graph_save(s.g, p, NULL);
  cr_assert_eq(st, TERN_ERR_IO, "%s", tern_graph_errmsg(s.g));
  cr_assert(strstr(tern_graph_errmsg(s.g), "cannot create") != NULL);
  rmdir(tmp);

  /* 2. the rename fails: the target is a non-empty directory */
  const char *dir = path_in_dir("dir.tern");
  cr_assert_eq(mkdir(dir, 0755), 0);
  char inner[600];
  snprintf(inner, sizeof inner, "%s/x", dir);
  write_file(inner, "x", 1);
  st = tern_graph_save(s.g, dir, NULL);
  cr_assert_eq(st, TERN_ERR_IO, "%s", tern_graph_errmsg(s.g));
  unlink(inner);
  rmdir(dir);

  /* 3. the graph cannot be saved (a name that is not UTF-8): nothing is
   * written at all */
  int64_t xs[1] = {3};
  ok(tern_graph_add_input(s.g, "bad\xff", 1, xs, NULL), "input");
  st = tern_graph_save(s.g, p, NULL);
  cr_assert_eq(st, TERN_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(tern_graph_errmsg(s.g), "UTF-8") != NULL, "%s",
            tern_graph_errmsg(s.g));

  size_t n1;
  uint8_t *now = read_file(p, &n1);
  cr_assert_eq(n0, n1);
  cr_assert(memcmp(orig, now, n0) == 0, "old file was changed");
  cr_assert_eq(count_dir_entries(), 1, "temporary files were left behind");
  free(orig);
  free(now);
  tern_graph_destroy(s.g);
}

Test(file, bad_arguments) {
  tern_graph *g = NULL;
  cr_assert_eq(tern_graph_load(NULL, NULL, &g), TERN_ERR_INVALID_ARGUMENT);
  cr_assert_eq(tern_graph_load("x", NULL, NULL), TERN_ERR_INVALID_ARGUMENT);
  cr_assert_eq(tern_graph_load_memory(NULL, 10, &g), TERN_ERR_INVALID_ARGUMENT);
  cr_assert_eq(tern_graph_save(NULL, "x", NULL), TERN_ERR_INVALID_ARGUMENT);
  tern_load_desc ld = {0};
  cr_assert_eq(tern_graph_load("x", &ld, &g), TERN_ERR_INVALID_ARGUMENT);
  sample s;
  build_sample(&s);
  tern_save_desc sd = {.size = sizeof sd, .ternary_storage = 9};
  cr_assert_eq(tern_graph_save(s.g, path_in_dir("a"), &sd),
               TERN_ERR_INVALID_ARGUMENT);
  cr_assert_eq(tern_graph_save(s.g, "", NULL), TERN_ERR_INVALID_ARGUMENT);
  /* a tensor without a name (only reachable through internals): refused, as
   * the loader would refuse the file */
  tern_tensor t = {.name = "",
                   .kind = TERN_TENSOR_CONSTANT,
                   .dtype = TERN_DTYPE_F32,
                   .ndim = 1,
                   .producer = -1};
  float one = 1;
  t.shape[0] = 1;
  t.data = &one;
  t.data_bytes = 4;
  ok(tern_graph_push_tensor(s.g, &t, true, NULL), "push");
  cr_assert_eq(tern_graph_save(s.g, path_in_dir("a"), NULL),
               TERN_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(tern_graph_errmsg(s.g), "empty") != NULL);
  tern_graph_destroy(s.g);

  /* what the loader would refuse is refused before anything is written */
  build_sample(&s);
  tern_save_desc unset = {0};
  cr_assert_eq(tern_graph_save(s.g, path_in_dir("a"), &unset),
               TERN_ERR_INVALID_ARGUMENT);
  char longname[5000];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  int64_t xs[1] = {2};
  ok(tern_graph_add_input(s.g, longname, 1, xs, NULL), "input");
  cr_assert_eq(tern_graph_save(s.g, path_in_dir("a"), NULL),
               TERN_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(tern_graph_errmsg(s.g), "4999 bytes long") != NULL, "%s",
            tern_graph_errmsg(s.g));
  tern_graph_destroy(s.g);
  build_sample(&s);
  for (int i = 0; i < 4097; i++) {
    char k[16];
    snprintf(k, sizeof k, "k%d", i);
    ok(tern_graph_set_metadata(s.g, k, "v"), "meta");
  }
  cr_assert_eq(tern_graph_save(s.g, path_in_dir("a"), NULL),
               TERN_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(tern_graph_errmsg(s.g), "metadata entries") != NULL);
  cr_assert_eq(count_dir_entries(), 0);
  cr_assert_eq(count_dir_entries(), 0);
  cr_assert_null(g);
  tern_graph_destroy(s.g);
}

/* ------------------------------------------------------------ size budget */

static void fill_ternary_linear(tern_graph *g, const char *name, int64_t n,
                                int64_t k, bool ternary, int *id) {
  int64_t shape[2] = {n, k};
  size_t cnt = (size_t)(n * k);
  if (ternary) {
    int8_t *q = malloc(cnt);
    for (size_t i = 0; i < cnt; i++)
      q[i] = (int8_t)(rnd() % 3) - 1;
    size_t bytes = tern_dtype_bytes(TERN_DTYPE_TERNARY, n, k);
    uint8_t *p = malloc(bytes);
    ok(tern_ternary_pack(q, n, k, p, bytes), "pack");
    float *sc = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
      sc[i] = 0.01f * (float)(i + 1);
    *id = add_const(g, name, TERN_DTYPE_TERNARY, 2, shape, p, bytes, sc, n);
    free(q);
    free(p);
    free(sc);
  } else {
    float *w = malloc(cnt * sizeof(float));
    for (size_t i = 0; i < cnt; i++)
      w[i] = (float)(rnd() % 1000) * 1e-3f;
    *id = add_const(g, name, TERN_DTYPE_F32, 2, shape, w, cnt * 4, NULL, 0);
    free(w);
  }
}

/* A stack of linear layers with biases; dims[0] is the input width. */
static size_t mlp_file_bytes(const int64_t *dims, int n_layers, bool ternary,
                             tern_ternary_storage st) {
  tern_graph *g;
  ok(tern_graph_create(&g), "create");
  int64_t xs[2] = {1, dims[0]};
  int h;
  ok(tern_graph_add_input(g, "x", 2, xs, &h), "input");
  for (int l = 0; l < n_layers; l++) {
    char name[32];
    int w, b;
    snprintf(name, sizeof name, "l%d.w", l);
    fill_ternary_linear(g, name, dims[l + 1], dims[l], ternary, &w);
    float *bias = calloc((size_t)dims[l + 1], sizeof(float));
    int64_t bs[1] = {dims[l + 1]};
    snprintf(name, sizeof name, "l%d.b", l);
    b = add_const(g, name, TERN_DTYPE_F32, 1, bs, bias, (size_t)dims[l + 1] * 4,
                  NULL, 0);
    free(bias);
    tern_op_params p;
    memset(&p, 0, sizeof p);
    p.activation = l + 1 < n_layers ? TERN_ACT_RELU : TERN_ACT_NONE;
    snprintf(name, sizeof name, "l%d", l);
    h = add_node(g, TERN_OP_LINEAR, name, 3, (int[]){h, w, b}, &p);
  }
  ok(tern_graph_add_output(g, h), "output");
  ok(tern_graph_set_metadata(g, "model", "size test"), "meta");
  tern_save_desc d = {.size = sizeof d, .ternary_storage = st};
  const char *p = path_in_dir("size.tern");
  ok(tern_graph_save(g, p, &d), "save");
  struct stat sb;
  cr_assert_eq(stat(p, &sb), 0);
  tern_graph *back = NULL;
  ok(tern_graph_load(p, NULL, &back), "load");
  compare_graphs(g, back);
  tern_graph_destroy(back);
  unlink(p);
  tern_graph_destroy(g);
  return (size_t)sb.st_size;
}

Test(file, size_budget_mlp) {
  const int64_t dims[4] = {784, 256, 128, 10};
  size_t f32 = mlp_file_bytes(dims, 3, false, TERN_STORE_2BIT);
  size_t t2 = mlp_file_bytes(dims, 3, true, TERN_STORE_2BIT);
  double r = (double)f32 / (double)t2;
  cr_log_info("mlp 784-256-128-10: f32 %zu bytes, ternary 2-bit %zu (%.2fx)",
              f32, t2, r);
  cr_assert_geq(r, 14.0, "ratio %.3f", r);
}

Test(file, size_budget_width_1024_block) {
  /* Four [1024, 1024] projections with biases, as in a BitNet block. */
  const int64_t dims[5] = {1024, 1024, 1024, 1024, 1024};
  size_t f32 = mlp_file_bytes(dims, 4, false, TERN_STORE_2BIT);
  size_t t2 = mlp_file_bytes(dims, 4, true, TERN_STORE_2BIT);
  size_t t5 = mlp_file_bytes(dims, 4, true, TERN_STORE_158BIT);
  double r2 = (double)f32 / (double)t2, r5 = (double)f32 / (double)t5;
  cr_log_info("width 1024: f32 %zu, 2-bit %zu (%.2fx), 1.58-bit %zu (%.2fx)",
              f32, t2, r2, t5, r5);
  cr_assert_geq(r2, 15.5, "2-bit ratio %.3f", r2);
  cr_assert_geq(r5, 19.0, "1.58-bit ratio %.3f", r5);
}

/* ------------------------------------------------------ golden file */

Test(file, golden_minimal_file) {
  /* The worked example of docs/FORMAT.md, byte for byte. */
  static const uint8_t want[256] = {
      0x89, 0x54, 0x45, 0x52, 0x4e, 0x0d, 0x0a, 0x1a, 0x01, 0x00, 0x00, 0x00,
      0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd6, 0x72, 0xdc, 0x98,
      0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x1c, 0xdf, 0x44, 0x21, 0x00, 0x00, 0x00, 0x00, 0x84, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0xc4, 0xda, 0xd3, 0x42, 0x00, 0x00, 0x00, 0x00, 0x94, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x77, 0xd0, 0x85, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
      0x78, 0x00, 0x00, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x04,
      /* the rest (zero data fields, then padding) is zero */
  };
  tern_graph *g;
  ok(tern_graph_create(&g), "create");
  int64_t xs[2] = {1, 4};
  ok(tern_graph_add_input(g, "x", 2, xs, NULL), "input");
  const char *p = path_in_dir("golden.tern");
  ok(tern_graph_save(g, p, NULL), "save");
  size_t n;
  uint8_t *b = read_file(p, &n);
  cr_assert_eq(n, sizeof want);
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(b[i], want[i], "byte %zu is 0x%02x, expected 0x%02x", i, b[i],
                 want[i]);
  tern_graph *h = NULL;
  ok(tern_graph_load_memory(want, sizeof want, &h), "load golden");
  compare_graphs(g, h);
  free(b);
  tern_graph_destroy(g);
  tern_graph_destroy(h);
}

/* ----------------------------------------------- out of memory paths */

static long g_alloc_left = -1; /* allocations until failure; -1: never */
static void *fail_malloc(void *u, size_t n) {
  (void)u;
  if (g_alloc_left == 0)
    return NULL;
  if (g_alloc_left > 0)
    g_alloc_left--;
  return malloc(n);
}
static void *fail_realloc(void *u, void *p, size_t n) {
  (void)u;
  if (g_alloc_left == 0)
    return NULL;
  if (g_alloc_left > 0)
    g_alloc_left--;
  return realloc(p, n);
}
static void plain_free(void *u, void *p) {
  (void)u;
  free(p);
}

Test(file, out_of_memory_everywhere) {
  /* Fail the k-th allocation for every k: each load and save must report
   * TERN_ERR_OUT_OF_MEMORY (no crash, no leak under the sanitizer) until
   * there is enough memory to succeed. */
  for (int st = 0; st < 2; st++) {
    size_t n;
    uint8_t *b = sample_file((tern_ternary_storage)st, &n);
    tern_allocator a = {fail_malloc, fail_realloc, plain_free, NULL};
    ok(tern_set_allocator(&a), "allocator");
    int k;
    for (k = 0; k < 10000; k++) {
      g_alloc_left = k;
      tern_graph *g = NULL;
      tern_status s = tern_graph_load_memory(b, n, &g);
      g_alloc_left = -1;
      if (s == TERN_OK) {
        tern_graph_destroy(g);
        break;
      }
      cr_assert_eq(s, TERN_ERR_OUT_OF_MEMORY, "k=%d: %s: %s", k,
                   tern_status_name(s), tern_last_error());
    }
    cr_assert_lt(k, 10000);
    cr_assert_gt(k, 5);
    sample smp;
    build_sample(&smp);
    tern_save_desc d = {.size = sizeof d, .ternary_storage = st};
    for (k = 0; k < 10000; k++) {
      g_alloc_left = k;
      tern_status s = tern_graph_save(smp.g, path_in_dir("oom.tern"), &d);
      g_alloc_left = -1;
      if (s == TERN_OK)
        break;
      cr_assert_eq(s, TERN_ERR_OUT_OF_MEMORY, "save k=%d: %s", k,
                   tern_graph_errmsg(smp.g));
    }
    cr_assert_lt(k, 10000);
    tern_graph_destroy(smp.g);
    ok(tern_set_allocator(NULL), "allocator");
    unlink(path_in_dir("oom.tern"));
    cr_assert_eq(count_dir_entries(), 0, "temporary files were left behind");
    free(b);
  }
}

/* ------------------------------------------- a loaded graph runs the same */

/* Runs g on the CPU and returns its outputs concatenated (malloc'd). */
/* With `destroy`, g (and its mapping) is gone before the session runs. */
static float *run_graph(tern_context *ctx, tern_graph *g, bool destroy,
                        size_t *count) {
  tern_session *s = NULL;
  ok(tern_session_create(ctx, g, NULL, &s), "session");
  int n_in = tern_graph_input_count(g), n_out = tern_graph_output_count(g);
  if (destroy)
    tern_graph_destroy(g);
  for (int i = 0; i < n_in; i++) {
    int nd;
    int64_t sh[TERN_MAX_DIMS];
    ok(tern_session_input_shape(s, i, &nd, sh), "input shape");
    size_t n = 1;
    for (int d = 0; d < nd; d++)
      n *= (size_t)sh[d];
    float *x = malloc(n * sizeof *x);
    for (size_t k = 0; k < n; k++)
      x[k] = (float)((k * 37 + 11) % 101) / 50.0f - 1.0f;
    ok(tern_session_set_input(s, i, x, n), "set input");
    free(x);
  }
  ok(tern_session_run(s), "run");
  float *all = NULL;
  size_t total = 0;
  for (int i = 0; i < n_out; i++) {
    int nd;
    int64_t sh[TERN_MAX_DIMS];
    ok(tern_session_output_shape(s, i, &nd, sh), "output shape");
    size_t n = 1;
    for (int d = 0; d < nd; d++)
      n *= (size_t)sh[d];
    all = realloc(all, (total + n) * sizeof *all);
    ok(tern_session_get_output(s, i, all + total, n), "get output");
    total += n;
  }
  tern_session_destroy(s);
  *count = total;
  return all;
}

Test(file, loaded_graph_computes_the_same) {
  tern_context *ctx = NULL;
  ok(tern_context_create(NULL, &ctx), "context");
  tern_graph *graphs[2];
  sample smp;
  build_sample(&smp);
  graphs[0] = smp.g;
  graphs[1] = build_zoo();
  for (int gi = 0; gi < 2; gi++) {
    size_t n0;
    float *want = run_graph(ctx, graphs[gi], false, &n0);
    cr_assert_gt(n0, 0);
    for (int st = 0; st < 2; st++) {
      tern_save_desc d = {.size = sizeof d, .ternary_storage = st};
      const char *p = path_in_dir("run.tern");
      ok(tern_graph_save(graphs[gi], p, &d), "save");
      tern_graph *h = NULL;
      ok(tern_graph_load(p, NULL, &h), "load");
      size_t n1;
      float *got = run_graph(ctx, h, true, &n1);
      cr_assert_eq(n0, n1);
      cr_assert(memcmp(want, got, n0 * sizeof *want) == 0,
                "graph %d storage %d: outputs differ after a round trip", gi,
                st);
      free(got);
    }
    free(want);
    tern_graph_destroy(graphs[gi]);
  }
  tern_context_destroy(ctx);
}

/* ------------------------------------- fast trit conversions are exact */

Test(file, trit_conversions_match_pack_c) {
  /* The loader's table-driven conversions against the generic packers of
   * pack.c, for every row length 1..23 and several row counts. */
  rng_state = 777u;
  for (int64_t rows = 1; rows <= 5; rows++)
    for (int64_t cols = 1; cols <= 23; cols++) {
      int64_t n = rows * cols;
      int8_t q[5 * 23];
      for (int64_t i = 0; i < n; i++)
        q[i] = (int8_t)(rnd() % 3) - 1;
      uint8_t two[5 * 6], trits[23], want[23], back[5 * 6];
      size_t tb = tern_dtype_bytes(TERN_DTYPE_TERNARY, rows, cols);
      ok(tern_ternary_pack(q, rows, cols, two, tb), "pack");
      ok(tern_trits_pack(q, n, want, tern_trits_bytes(n)), "trits");
      tern_tf_rows_to_trits(two, rows, cols, trits);
      cr_assert(memcmp(trits, want, tern_trits_bytes(n)) == 0,
                "encode rows=%lld cols=%lld", (long long)rows, (long long)cols);
      bool pad;
      cr_assert_eq(tern_tf_trits_to_rows(want, rows, cols, back, &pad), -1);
      cr_assert(memcmp(back, two, tb) == 0, "decode rows=%lld cols=%lld",
                (long long)rows, (long long)cols);
      if (n % 5) { /* a padding trit set to 2 is refused */
        uint8_t bad[23];
        memcpy(bad, want, sizeof bad);
        int64_t last = (int64_t)tern_trits_bytes(n) - 1;
        int mul = 1;
        for (int64_t k = 0; k < n % 5; k++)
          mul *= 3;
        bad[last] = (uint8_t)(bad[last] + mul); /* trit n%5: 1 -> 2 */
        cr_assert_eq(tern_tf_trits_to_rows(bad, rows, cols, back, &pad), last);
        cr_assert(pad);
      }
    }
}
