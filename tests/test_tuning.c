/* test_tuning.c — the tuning database (round trip, validation of malformed
 * files, merge, lookup device → arch → vendor → default, the context loading
 * it) and the tuner (wrong candidates never win, even when fastest). */
#include "core/tuning.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static tern_tuning_entry mk_entry(const char *device, const char *arch,
                                  const char *driver, const char *shape,
                                  int rows, double us) {
  tern_tuning_entry e;
  memset(&e, 0, sizeof e);
  snprintf(e.key.backend, sizeof e.key.backend, "vulkan");
  snprintf(e.key.vendor, sizeof e.key.vendor, "Mesa");
  snprintf(e.key.device, sizeof e.key.device, "%s", device);
  snprintf(e.key.arch, sizeof e.key.arch, "%s", arch);
  snprintf(e.key.driver, sizeof e.key.driver, "%s", driver);
  snprintf(e.key.kernel, sizeof e.key.kernel, "gemv_ternary");
  snprintf(e.key.shape, sizeof e.key.shape, "%s", shape);
  cr_assert_eq(tern_tuning_params_set(&e.params, "rows", rows, NULL), TERN_OK);
  cr_assert_eq(tern_tuning_params_set(&e.params, "wg", 64, NULL), TERN_OK);
  e.time_us = us;
  e.default_time_us = us * 2;
  e.created = 1700000000;
  snprintf(e.tern_version, sizeof e.tern_version, "0.3.0");
  return e;
}

static char *tmp_path(const char *tag) {
  static char buf[4][256];
  static int k;
  char *p = buf[k++ % 4];
  snprintf(p, 256, "/tmp/tern_tuning_%s_%ld.json", tag, (long)getpid());
  return p;
}

static void write_text(const char *path, const char *text, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert(f);
  cr_assert_eq(fwrite(text, 1, n, f), n);
  fclose(f);
}

Test(tuning_db, round_trip) {
  tern_tuning_db *db;
  tern_err err;
  cr_assert_eq(tern_tuning_db_create(&db, &err), TERN_OK);
  tern_tuning_entry a = mk_entry("llvmpipe (LLVM 15)", "llvmpipe", "23.2",
                                 "m1_k1024_n1024", 4, 12.5);
  tern_tuning_entry b =
      mk_entry("llvmpipe (LLVM 15)", "llvmpipe", "23.2", "*", 2, 30.25);
  cr_assert_eq(tern_tuning_db_put(db, &a, &err), TERN_OK, "%s", err.msg);
  cr_assert_eq(tern_tuning_db_put(db, &b, &err), TERN_OK, "%s", err.msg);
  a.time_us = 11.0; /* same key: replaced */
  cr_assert_eq(tern_tuning_db_put(db, &a, &err), TERN_OK);
  cr_assert_eq(tern_tuning_db_count(db), 2);
  const char *path = tmp_path("rt");
  cr_assert_eq(tern_tuning_db_save(db, path, &err), TERN_OK, "%s", err.msg);
  tern_tuning_db *back;
  cr_assert_eq(tern_tuning_db_load(path, &back, &err), TERN_OK, "%s", err.msg);
  cr_assert_eq(tern_tuning_db_count(back), 2);
  char *t1 = tern_tuning_db_to_json(db, &err);
  char *t2 = tern_tuning_db_to_json(back, &err);
  cr_assert_str_eq(t1, t2);
  bool found = false;
  for (int i = 0; i < 2; i++) {
    const tern_tuning_entry *e = tern_tuning_db_entry(back, i);
    if (strcmp(e->key.shape, "m1_k1024_n1024") == 0) {
      found = true;
      cr_assert_float_eq(e->time_us, 11.0, 1e-9);
      cr_assert_eq(tern_tuning_params_get(&e->params, "rows", 0), 4);
      cr_assert_eq(tern_tuning_params_get(&e->params, "wg", 0), 64);
      cr_assert_str_eq(e->key.arch, "llvmpipe");
      cr_assert_eq(e->created, 1700000000);
    }
  }
  cr_assert(found);
  free(t1); /* tern_free is free with the default allocator */
  free(t2);
  tern_tuning_db_destroy(db);
  tern_tuning_db_destroy(back);
  unlink(path);
}

static void expect_bad(const char *text, tern_status want, const char *needle) {
  tern_tuning_db *db = NULL;
  tern_err err;
  tern_err_clear(&err);
  tern_status s =
      tern_tuning_db_parse(text, strlen(text), "bad.json", &db, &err);
  cr_assert_eq(s, want, "status %s for %s (%s)", tern_status_name(s), text,
               err.msg);
  cr_assert_null(db);
  cr_assert(strstr(err.msg, needle), "message '%s' lacks '%s'", err.msg,
            needle);
  cr_assert(strstr(err.msg, "bad.json"), "message '%s' lacks the file",
            err.msg);
}

#define ENTRY(extra)                                                           \
  "{\"format\":\"tern-tuning\",\"version\":1,\"entries\":[{\"backend\":"       \
  "\"cpu\",\"vendor\":\"host\",\"device\":\"x\",\"driver\":\"1\","             \
  "\"kernel\":\"k\",\"shape\":\"*\"" extra "}]}"

Test(tuning_db, rejects_malformed) {
  expect_bad("", TERN_ERR_CORRUPT_FILE, "malformed JSON");
  expect_bad("{\"format\": \"tern-tuning\", ", TERN_ERR_CORRUPT_FILE,
             "malformed JSON");
  expect_bad("not json", TERN_ERR_CORRUPT_FILE, "malformed JSON");
  expect_bad("[]", TERN_ERR_CORRUPT_FILE, "top level must be an object");
  expect_bad("{\"format\":\"other\",\"version\":1,\"entries\":[]}",
             TERN_ERR_CORRUPT_FILE, "\"format\"");
  expect_bad("{\"format\":\"tern-tuning\",\"version\":9,\"entries\":[]}",
             TERN_ERR_VERSION, "version 9");
  expect_bad("{\"format\":\"tern-tuning\",\"version\":\"1\",\"entries\":[]}",
             TERN_ERR_CORRUPT_FILE, "\"version\" must be an integer");
  expect_bad("{\"format\":\"tern-tuning\",\"version\":1,\"entries\":{}}",
             TERN_ERR_CORRUPT_FILE, "\"entries\" must be an array");
  expect_bad(
      "{\"format\":\"tern-tuning\",\"version\":1,\"entries\":[],\"x\":1}",
      TERN_ERR_CORRUPT_FILE, "unknown top-level field \"x\"");
  expect_bad("{\"format\":\"tern-tuning\",\"version\":1,\"entries\":[3]}",
             TERN_ERR_CORRUPT_FILE, "entries[0] must be an object");
  expect_bad(ENTRY(",\"params\":{\"wg\":64},\"time_us\":\"fast\""),
             TERN_ERR_CORRUPT_FILE, "\"time_us\" must be a number");
  expect_bad(ENTRY(",\"params\":{\"wg\":64}"), TERN_ERR_CORRUPT_FILE,
             "missing field \"time_us\"");
  expect_bad(ENTRY(",\"params\":{\"wg\":64},\"time_us\":-3"),
             TERN_ERR_CORRUPT_FILE, "time_us");
  expect_bad(ENTRY(",\"params\":{\"wg\":1000000},\"time_us\":3"),
             TERN_ERR_CORRUPT_FILE, "params.wg = 1000000 is out of range");
  expect_bad(ENTRY(",\"params\":{\"wg\":-1},\"time_us\":3"),
             TERN_ERR_CORRUPT_FILE, "out of range");
  expect_bad(ENTRY(",\"params\":{\"wg\":1.5},\"time_us\":3"),
             TERN_ERR_CORRUPT_FILE, "params.wg must be an integer");
  expect_bad(ENTRY(",\"params\":{},\"time_us\":3"), TERN_ERR_CORRUPT_FILE,
             "params must hold");
  expect_bad(ENTRY(",\"params\":[64],\"time_us\":3"), TERN_ERR_CORRUPT_FILE,
             "\"params\" must be an object");
  expect_bad(ENTRY(",\"params\":{\"wg\":64},\"time_us\":3,\"colour\":1"),
             TERN_ERR_CORRUPT_FILE, "unknown field \"colour\"");
  expect_bad(ENTRY(",\"params\":{\"wg\":64},\"time_us\":3,\"arch\":7"),
             TERN_ERR_CORRUPT_FILE, "\"arch\" must be a string");
  expect_bad(ENTRY(",\"params\":{\"wg\":64},\"time_us\":3} trailing"),
             TERN_ERR_CORRUPT_FILE, "bad.json");
  /* two entries with the same key */
  expect_bad("{\"format\":\"tern-tuning\",\"version\":1,\"entries\":["
             "{\"backend\":\"cpu\",\"vendor\":\"h\",\"device\":\"x\","
             "\"driver\":\"1\",\"kernel\":\"k\",\"shape\":\"*\",\"params\":"
             "{\"a\":1},\"time_us\":3},"
             "{\"backend\":\"cpu\",\"vendor\":\"h\",\"device\":\"x\","
             "\"driver\":\"1\",\"kernel\":\"k\",\"shape\":\"*\",\"params\":"
             "{\"a\":2},\"time_us\":4}]}",
             TERN_ERR_CORRUPT_FILE, "same key as entries[0]");
  /* a NUL byte inside the text */
  tern_tuning_db *db = NULL;
  tern_err err;
  const char nul[] = "{\"a\0\":1}";
  cr_assert_eq(tern_tuning_db_parse(nul, sizeof nul - 1, "nul.json", &db, &err),
               TERN_ERR_CORRUPT_FILE);
  /* and a valid minimal one parses */
  const char *ok = ENTRY(",\"params\":{\"wg\":64},\"time_us\":3");
  cr_assert_eq(tern_tuning_db_parse(ok, strlen(ok), "ok.json", &db, &err),
               TERN_OK, "%s", err.msg);
  cr_assert_eq(tern_tuning_db_count(db), 1);
  tern_tuning_db_destroy(db);
}

Test(tuning_db, load_errors) {
  tern_tuning_db *db = NULL;
  tern_err err;
  cr_assert_eq(tern_tuning_db_load("/nonexistent/tuning.json", &db, &err),
               TERN_ERR_NOT_FOUND);
  cr_assert(strstr(err.msg, "/nonexistent/tuning.json"));
  cr_assert_eq(tern_tuning_db_load("/tmp", &db, &err), TERN_ERR_IO);
  const char *p = tmp_path("garbage");
  unsigned char junk[512];
  tu_rng r;
  tu_seed(&r, 5);
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (unsigned char)tu_u32(&r);
  write_text(p, (const char *)junk, sizeof junk);
  cr_assert_eq(tern_tuning_db_load(p, &db, &err), TERN_ERR_CORRUPT_FILE);
  cr_assert_null(db);
  unlink(p);
}

Test(tuning_db, fuzz_truncations_never_crash) {
  tern_tuning_db *db;
  tern_err err;
  cr_assert_eq(tern_tuning_db_create(&db, &err), TERN_OK);
  tern_tuning_entry a = mk_entry("dev", "arch", "1", "*", 4, 10);
  cr_assert_eq(tern_tuning_db_put(db, &a, &err), TERN_OK);
  char *text = tern_tuning_db_to_json(db, &err);
  size_t n = strlen(text);
  int ok = 0;
  for (size_t cut = 0; cut < n; cut++) {
    tern_tuning_db *out = NULL;
    if (tern_tuning_db_parse(text, cut, "cut", &out, &err) == TERN_OK) {
      ok++;
      tern_tuning_db_destroy(out);
    }
  }
  cr_assert_eq(ok, 0, "a truncated file parsed");
  /* flipping single bytes: never crashes, any accepted file re-validates */
  tu_rng r;
  tu_seed(&r, 9);
  for (int i = 0; i < 300; i++) {
    char *c = strdup(text);
    c[tu_u32(&r) % n] = (char)(tu_u32(&r) % 96 + 32);
    tern_tuning_db *out = NULL;
    if (tern_tuning_db_parse(c, n, "flip", &out, &err) == TERN_OK) {
      cr_assert_eq(tern_tuning_db_count(out), 1);
      tern_tuning_db_destroy(out);
    }
    free(c);
  }
  free(text);
  tern_tuning_db_destroy(db);
}

Test(tuning_db, merge_keeps_faster) {
  tern_tuning_db *a, *b;
  tern_err err;
  tern_tuning_db_create(&a, &err);
  tern_tuning_db_create(&b, &err);
  tern_tuning_entry e1 = mk_entry("d", "x", "1", "*", 2, 20);
  tern_tuning_entry e2 = mk_entry("d", "x", "1", "*", 8, 10); /* same key */
  tern_tuning_entry e3 = mk_entry("d", "x", "1", "n64", 1, 5);
  tern_tuning_entry e4 = mk_entry("d", "x", "1", "n64", 16, 50);
  tern_tuning_db_put(a, &e1, &err);
  tern_tuning_db_put(a, &e3, &err);
  tern_tuning_db_put(b, &e2, &err);
  tern_tuning_db_put(b, &e4, &err);
  tern_tuning_entry e5 = mk_entry("other", "x", "1", "*", 4, 7);
  tern_tuning_db_put(b, &e5, &err);
  int added = -1, replaced = -1;
  cr_assert_eq(tern_tuning_db_merge(a, b, &added, &replaced, &err), TERN_OK);
  cr_assert_eq(added, 1);
  cr_assert_eq(replaced, 1);
  cr_assert_eq(tern_tuning_db_count(a), 3);
  tern_tuning_key k = e1.key;
  tern_tuning_params p = {0};
  cr_assert_eq(tern_tuning_lookup(a, &k, &p, NULL), TERN_TUNING_DEVICE);
  cr_assert_eq(tern_tuning_params_get(&p, "rows", 0), 8); /* the faster */
  k = e3.key;
  memset(&p, 0, sizeof p);
  tern_tuning_lookup(a, &k, &p, NULL);
  cr_assert_eq(tern_tuning_params_get(&p, "rows", 0), 1); /* kept */
  tern_tuning_db_destroy(a);
  tern_tuning_db_destroy(b);
}

Test(tuning_db, lookup_hierarchy) {
  tern_tuning_db *db;
  tern_err err;
  tern_tuning_db_create(&db, &err);
  tern_tuning_entry dev =
      mk_entry("GPU A1", "GPU A", "7", "m1_k1024_n1024", 1, 10);
  tern_tuning_entry any = mk_entry("GPU A1", "GPU A", "7", "*", 2, 10);
  tern_tuning_entry arch =
      mk_entry("GPU Z2", "GPU Z", "7", "m1_k1024_n1024", 3, 10);
  tern_tuning_entry vend =
      mk_entry("GPU B9", "GPU B", "7", "m1_k1024_n1024", 4, 10);
  tern_tuning_db_put(db, &dev, &err);
  tern_tuning_db_put(db, &any, &err);
  tern_tuning_db_put(db, &arch, &err);
  tern_tuning_db_put(db, &vend, &err);
  tern_tuning_key k = dev.key;
  tern_tuning_params p;
  const tern_tuning_entry *hit = NULL;
#define LOOK(level, rows)                                                      \
  do {                                                                         \
    memset(&p, 0, sizeof p);                                                   \
    tern_tuning_params_set(&p, "rows", 99, NULL);                              \
    tern_tuning_params_set(&p, "extra", 5, NULL);                              \
    cr_assert_eq(tern_tuning_lookup(db, &k, &p, &hit), level);                 \
    cr_assert_eq(tern_tuning_params_get(&p, "rows", 0), rows);                 \
    cr_assert_eq(tern_tuning_params_get(&p, "extra", 0), 5);                   \
  } while (0)
  LOOK(TERN_TUNING_DEVICE, 1);
  snprintf(k.driver, sizeof k.driver, "8"); /* a newer driver: same device */
  LOOK(TERN_TUNING_DEVICE, 1);
  snprintf(k.shape, sizeof k.shape, "m64_k256_n256"); /* no such shape */
  LOOK(TERN_TUNING_DEVICE, 2);
  snprintf(k.shape, sizeof k.shape, "m1_k1024_n1024");
  snprintf(k.device, sizeof k.device, "GPU Z3"); /* sibling: the arch */
  snprintf(k.arch, sizeof k.arch, "GPU Z");
  LOOK(TERN_TUNING_ARCH, 3);
  snprintf(k.arch, sizeof k.arch, "GPU C");
  snprintf(k.device, sizeof k.device, "GPU C1"); /* only the vendor */
  LOOK(TERN_TUNING_VENDOR, 1);
  cr_assert_not_null(hit);
  snprintf(k.vendor, sizeof k.vendor, "Other"); /* nothing: default */
  LOOK(TERN_TUNING_DEFAULT, 99);
  snprintf(k.vendor, sizeof k.vendor, "Mesa");
  snprintf(k.kernel, sizeof k.kernel, "conv"); /* other kernel: default */
  LOOK(TERN_TUNING_DEFAULT, 99);
  cr_assert_eq(tern_tuning_lookup(NULL, &k, &p, NULL), TERN_TUNING_DEFAULT);
  tern_tuning_db_destroy(db);
}

Test(tuning_db, arch_and_shape_class) {
  tern_device_info in;
  memset(&in, 0, sizeof in);
  snprintf(in.backend, sizeof in.backend, "vulkan");
  snprintf(in.name, sizeof in.name, "NVIDIA GeForce RTX 3080");
  in.type = TERN_DEVICE_GPU_DISCRETE;
  char a[64];
  tern_tuning_arch_of(&in, a, sizeof a);
  cr_assert_str_eq(a, "NVIDIA GeForce RTX");
  snprintf(in.name, sizeof in.name, "llvmpipe (LLVM 15.0.6, 256 bits)");
  tern_tuning_arch_of(&in, a, sizeof a);
  cr_assert_str_eq(a, "llvmpipe");
  snprintf(in.backend, sizeof in.backend, "cpu");
  in.type = TERN_DEVICE_CPU;
  snprintf(in.features, sizeof in.features, "avx2 threads=2");
  tern_tuning_arch_of(&in, a, sizeof a);
  cr_assert_str_eq(a, "x86-avx2");
  tern_exec_node n;
  memset(&n, 0, sizeof n);
  n.op = TERN_OP_LINEAR;
  n.n_inputs = 2;
  n.in[0].ndim = 2;
  n.in[0].shape[0] = 1;
  n.in[0].shape[1] = 1000;
  n.in[1].ndim = 2;
  n.in[1].shape[0] = 33;
  n.in[1].shape[1] = 1000;
  char c[64];
  n.in[1].dtype = TERN_DTYPE_TERNARY;
  /* the backend's one-call lookup finds an entry for this node's class */
  tern_tuning_db *db;
  tern_err err;
  tern_tuning_db_create(&db, &err);
  tern_tuning_entry e;
  memset(&e, 0, sizeof e);
  tern_tuning_key_for_device(&in, "gemv", "ternary_m1_k1024_n64", &e.key);
  tern_tuning_params_set(&e.params, "wg", 128, NULL);
  e.time_us = 1;
  cr_assert_eq(tern_tuning_db_put(db, &e, &err), TERN_OK, "%s", err.msg);
  tern_tuning_params p = {0};
  tern_tuning_params_set(&p, "wg", 64, NULL);
  cr_assert_eq(tern_tuning_lookup_node(db, &in, "gemv", &n, &p),
               TERN_TUNING_DEVICE);
  cr_assert_eq(tern_tuning_params_get(&p, "wg", 0), 128);
  n.in[0].shape[0] = 9; /* another class: the defaults stay */
  tern_tuning_params_set(&p, "wg", 64, NULL);
  cr_assert_eq(tern_tuning_lookup_node(db, &in, "gemv", &n, &p),
               TERN_TUNING_DEFAULT);
  cr_assert_eq(tern_tuning_params_get(&p, "wg", 0), 64);
  n.in[0].shape[0] = 1;
  tern_tuning_db_destroy(db);
  cr_assert_str_eq(tern_tuning_shape_class(&n, c, sizeof c),
                   "ternary_m1_k1024_n64");
  n.in[0].shape[0] = 50;
  n.in[1].dtype = TERN_DTYPE_I8;
  cr_assert_str_eq(tern_tuning_shape_class(&n, c, sizeof c),
                   "i8_m64_k1024_n64");
}

Test(tuning_db, context_loads_and_validates) {
  const char *good = tmp_path("ctxgood");
  tern_tuning_db *db;
  tern_err err;
  tern_tuning_db_create(&db, &err);
  tern_tuning_entry e = mk_entry("d", "x", "1", "*", 4, 10);
  tern_tuning_db_put(db, &e, &err);
  cr_assert_eq(tern_tuning_db_save(db, good, &err), TERN_OK);
  tern_tuning_db_destroy(db);
  tern_context_desc d = {sizeof d};
  d.tuning_db_path = good;
  tern_context *ctx = NULL;
  cr_assert_eq(tern_context_create(&d, &ctx), TERN_OK);
  cr_assert_eq(tern_tuning_db_count(tern_context_tuning_db(ctx)), 1);
  cr_assert_str_eq(tern_context_tuning_db_path(ctx), good);
  tern_context_destroy(ctx);
  /* a named file that does not exist yet: an empty database */
  d.tuning_db_path = "/tmp/tern_tuning_does_not_exist.json";
  cr_assert_eq(tern_context_create(&d, &ctx), TERN_OK);
  cr_assert_eq(tern_tuning_db_count(tern_context_tuning_db(ctx)), 0);
  tern_context_destroy(ctx);
  /* a malformed one, through the environment: a clear error */
  const char *bad = tmp_path("ctxbad");
  write_text(bad, "{\"format\":\"tern-tuning\"", 23);
  setenv("TERN_TUNING_DB", bad, 1);
  ctx = NULL;
  cr_assert_eq(tern_context_create(NULL, &ctx), TERN_ERR_CORRUPT_FILE);
  cr_assert_null(ctx);
  cr_assert(strstr(tern_last_error(), bad), "%s", tern_last_error());
  cr_assert(strstr(tern_last_error(), "malformed JSON"), "%s",
            tern_last_error());
  unsetenv("TERN_TUNING_DB");
  unlink(good);
  unlink(bad);
}

/* ------------------------------------------------------------ the tuner */

/* A test-only tunable on the CPU device: variant 0 is the reference, 1 is
 * fast but writes zeros, 2 is right except one element off by one ulp, 3 is
 * right but slow, 4 is pruned by valid() and fails if prepared anyway. */
typedef struct tprep {
  tern_exec_node en;
  int variant;
} tprep;

static bool t_valid(tern_device *d, const tern_exec_node *n,
                    const tern_tuning_params *cfg) {
  return tern_tuning_params_get(cfg, "variant", 0) != 4;
}

static int g_prepared_4;

static tern_status t_prepare(tern_device *d, const tern_exec_node *n,
                             const tern_tuning_params *cfg, void **out,
                             tern_err *err) {
  int v = tern_tuning_params_get(cfg, "variant", 0);
  if (v == 4) {
    g_prepared_4++;
    return tern_err_set(err, TERN_ERR_UNSUPPORTED, "variant 4");
  }
  tprep *p = calloc(1, sizeof *p);
  p->en = *n;
  p->variant = v;
  *out = p;
  return TERN_OK;
}

static tern_status t_run(tern_device *d, void *prepared,
                         tern_buffer *const *bufs, const size_t *offs,
                         tern_err *err) {
  tprep *p = prepared;
  tern_view in[TERN_MAX_INPUTS];
  for (int j = 0; j < p->en.n_inputs; j++) {
    in[j] = p->en.in[j];
    if (!p->en.in_const[j])
      in[j].data = (char *)bufs[j]->host + offs[j];
  }
  tern_view out = p->en.out;
  out.data = (char *)bufs[p->en.n_inputs]->host + offs[p->en.n_inputs];
  size_t n = (size_t)tern_view_numel(&out);
  float *y = out.data;
  if (p->variant == 1) {
    memset(y, 0, n * sizeof(float));
    return TERN_OK;
  }
  tern_status s = tern_ref_LINEAR(&p->en.params, in, p->en.n_inputs, &out, err);
  if (p->variant == 3)
    s = tern_ref_LINEAR(&p->en.params, in, p->en.n_inputs, &out, err);
  if (p->variant == 2)
    y[n - 1] = nextafterf(y[n - 1], 1e30f);
  return s;
}

static void t_release(tern_device *d, void *prepared) {
  free(prepared);
}

static const tern_tune_shape k_shapes[] = {
    {TERN_OP_LINEAR, TERN_DTYPE_TERNARY, {2, 256}, {128, 256}, true, {{0}}},
    {TERN_OP_LINEAR, TERN_DTYPE_F32, {1, 64}, {32, 64}, false, {{0}}},
};

static const tern_tunable k_test_tunable[] = {
    {"test_linear",
     "deliberately broken candidates",
     1,
     {{"variant", 5, {0, 1, 2, 3, 4}, 3}},
     2,
     k_shapes,
     t_valid,
     t_prepare,
     t_run,
     t_release},
};

static int g_events, g_wrong_events;
static void on_progress(void *user, const tern_tune_progress *p) {
  g_events++;
  if (strcmp(p->status, "wrong") == 0)
    g_wrong_events++;
  cr_assert_str_eq(p->device, "cpu:0");
}

Test(tuner, wrong_candidates_never_win) {
  tern_context *ctx;
  cr_assert_eq(tern_context_create(NULL, &ctx), TERN_OK);
  tern_tuning_db *db;
  tern_err err;
  tern_tuning_db_create(&db, &err);
  tern_tune_options o = {0};
  o.budget_s = 20; /* never reached: 4 candidates x 2 problems */
  o.sample_s = 0.002;
  o.progress = on_progress;
  tern_tune_result *res = NULL;
  int n = 0;
  cr_assert_eq(
      tern_tune_device(ctx, "cpu:0", &o, k_test_tunable, 1, db, &res, &n, &err),
      TERN_OK, "%s", err.msg);
  cr_assert_eq(n, 2);
  for (int i = 0; i < n; i++) {
    cr_assert_eq(res[i].candidates, 4);
    cr_assert_eq(res[i].pruned, 1);
    cr_assert_eq(res[i].tried, 4);
    cr_assert_eq(g_prepared_4, 0, "a pruned candidate was prepared");
    cr_assert_gt(res[i].best_us, 0);
    int v = tern_tuning_params_get(&res[i].best, "variant", -1);
    cr_assert(v == 0 || v == 3 || (i == 1 && v == 2), "variant %d won on %s", v,
              res[i].shape);
    cr_assert_gt(res[i].default_us, 0);
    cr_assert(!res[i].default_wrong);
    cr_assert(res[i].stored);
  }
  /* the quantized problem needs bit-exactness: both broken variants fail */
  cr_assert_eq(res[0].wrong, 2);
  /* the f32 problem allows rounding: the one-ulp variant is accepted, the
   * zeros are not */
  cr_assert_eq(res[1].wrong, 1);
  cr_assert_eq(g_events, 8);
  cr_assert_eq(g_wrong_events, 3);
  cr_assert_eq(tern_tuning_db_count(db), 2);
  /* the stored winner is what a lookup for this device returns */
  tern_tuning_params p = {0};
  cr_assert_eq(tern_tuning_lookup(db, &res[0].key, &p, NULL),
               TERN_TUNING_DEVICE);
  cr_assert_eq(tern_tuning_params_get(&p, "variant", -1),
               tern_tuning_params_get(&res[0].best, "variant", -2));
  free(res);
  tern_tuning_db_destroy(db);
  tern_context_destroy(ctx);
}

Test(tuner, only_broken_candidates_store_nothing) {
  static const tern_tunable broken[] = {
      {"broken",
       "every candidate is wrong",
       1,
       {{"variant", 2, {1, 2}, 1}},
       1,
       k_shapes,
       NULL,
       t_prepare,
       t_run,
       t_release},
  };
  tern_context *ctx;
  cr_assert_eq(tern_context_create(NULL, &ctx), TERN_OK);
  tern_tuning_db *db;
  tern_err err;
  tern_tuning_db_create(&db, &err);
  tern_tune_options o = {0};
  o.sample_s = 0.002;
  tern_tune_result *res = NULL;
  int n = 0;
  cr_assert_eq(tern_tune_device(ctx, NULL, &o, broken, 1, db, &res, &n, &err),
               TERN_OK, "%s", err.msg);
  cr_assert_eq(n, 1);
  cr_assert_lt(res[0].best_us, 0);
  cr_assert(res[0].default_wrong);
  cr_assert(!res[0].stored);
  cr_assert_eq(tern_tuning_db_count(db), 0);
  free(res);
  tern_tuning_db_destroy(db);
  tern_context_destroy(ctx);
}

Test(tuner, cpu_linear_q_is_exact_and_stored) {
  tern_context *ctx;
  cr_assert_eq(tern_context_create(NULL, &ctx), TERN_OK);
  tern_tuning_db *db;
  tern_err err;
  tern_tuning_db_create(&db, &err);
  tern_tune_options o = {0};
  o.budget_s = 3;
  o.sample_s = 0.004;
  const char *only[] = {"linear_q"};
  o.kernels = only;
  o.n_kernels = 1;
  tern_tune_result *res = NULL;
  int n = 0;
  cr_assert_eq(tern_tune_device(ctx, "cpu", &o, NULL, 0, db, &res, &n, &err),
               TERN_OK, "%s", err.msg);
  cr_assert_geq(n, 1);
  for (int i = 0; i < n; i++) {
    cr_assert_str_eq(res[i].kernel, "linear_q");
    cr_assert_eq(res[i].wrong, 0, "%s: %d wrong candidates", res[i].shape,
                 res[i].wrong);
    cr_assert_eq(res[i].failed, 0);
    cr_assert_gt(res[i].best_us, 0);
    cr_assert_gt(res[i].default_us, 0);
    cr_assert_leq(res[i].best_us, res[i].default_us);
  }
  /* int8 weights prune unpack=1: 5 rows x 2 unrolls remain */
  cr_assert_eq(res[2].candidates, 10);
  cr_assert_eq(res[2].pruned, 10);
  cr_assert_eq(tern_tuning_db_count(db), n);
  free(res);
  tern_tuning_db_destroy(db);
  tern_context_destroy(ctx);
}

/* ------------------------------------------------------ out of memory */
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

Test(tuning_db, every_allocation_failure_is_clean) {
  /* a database text with enough entries to grow the array twice */
  tern_tuning_db *src;
  tern_err err;
  cr_assert_eq(tern_tuning_db_create(&src, &err), TERN_OK);
  for (int i = 0; i < 40; i++) {
    char shape[32];
    snprintf(shape, sizeof shape, "n%d", 1 << (i % 20));
    tern_tuning_entry e =
        mk_entry(i < 20 ? "a" : "b", "x", "1", shape, i + 1, 10 + i);
    cr_assert_eq(tern_tuning_db_put(src, &e, &err), TERN_OK);
  }
  char *text = tern_tuning_db_to_json(src, &err);
  cr_assert_not_null(text);
  const char *path = tmp_path("oom");
  tern_allocator a = {count_malloc, count_realloc, count_free, NULL};
  cr_assert_eq(tern_set_allocator(&a), TERN_OK);
  int ok = 0;
  for (long fail = 0; fail < 200 && !ok; fail++) {
    g_fail_at = fail;
    g_allocs = 0;
    g_live = 0;
    tern_tuning_db *db = NULL, *dst = NULL;
    tern_status s = tern_tuning_db_parse(text, strlen(text), "t", &db, &err);
    if (!s)
      s = tern_tuning_db_create(&dst, &err);
    if (!s)
      s = tern_tuning_db_merge(dst, db, NULL, NULL, &err);
    if (!s)
      s = tern_tuning_db_save(dst, path, &err);
    tern_tuning_db_destroy(db);
    tern_tuning_db_destroy(dst);
    cr_expect_eq(g_live, 0, "leak after failing allocation %ld", fail);
    if (s == TERN_OK)
      ok = 1;
    else
      cr_expect_eq(s, TERN_ERR_OUT_OF_MEMORY, "allocation %ld: %s", fail,
                   err.msg);
  }
  g_fail_at = -1;
  tern_set_allocator(NULL);
  cr_assert(ok, "never succeeded");
  free(text);
  tern_tuning_db_destroy(src);
  unlink(path);
}
