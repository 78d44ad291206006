/* test_matrix.c — `tern matrix` and `tern tune` end to end through the built
 * binary (TERN_BIN, set by tests/matrix.cmake): the quick matrix on every
 * device of this build, its JSON validated against docs/matrix.schema.json
 * (a small JSON-Schema validator below), CSV/Markdown/HTML written, the HTML
 * rendered by headless Chromium when installed, --compare, usage errors, and
 * the tuner's CLI with its database files. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */
static const char *tern_bin(void) {
  const char *b = getenv("TERN_BIN");
  if (!b || access(b, X_OK) != 0)
    cr_skip_test("TERN_BIN is not set to the tern binary");
  return b;
}

static char *tmpdir(void) {
  char *d = strdup("/tmp/tern_matrix_test_XXXXXX");
  cr_assert_not_null(mkdtemp(d));
  return d;
}

/* Run a shell command; returns its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  size_t got = fread(b, 1, (size_t)n, f);
  b[got] = 0;
  fclose(f);
  return b;
}

/* ---------------------------------------------- a small JSON-Schema check
 * Supports what docs/matrix.schema.json uses: type (one or a list), enum
 * (strings), minimum/maximum, required, properties, additionalProperties:
 * false, items and $ref "#/$defs/NAME". */
static bool is_type(json_object *v, const char *t) {
  json_type jt = json_object_get_type(v);
  if (!strcmp(t, "null"))
    return jt == json_type_null;
  if (!strcmp(t, "object"))
    return jt == json_type_object;
  if (!strcmp(t, "array"))
    return jt == json_type_array;
  if (!strcmp(t, "string"))
    return jt == json_type_string;
  if (!strcmp(t, "boolean"))
    return jt == json_type_boolean;
  if (!strcmp(t, "integer"))
    return jt == json_type_int;
  if (!strcmp(t, "number"))
    return jt == json_type_int || jt == json_type_double;
  return false;
}

static bool validate(json_object *root, json_object *sch, json_object *v,
                     const char *path, char *err, size_t n) {
  json_object *k;
  if (json_object_object_get_ex(sch, "$ref", &k)) {
    const char *ref = json_object_get_string(k);
    json_object *defs, *target;
    if (strncmp(ref, "#/$defs/", 8) ||
        !json_object_object_get_ex(root, "$defs", &defs) ||
        !json_object_object_get_ex(defs, ref + 8, &target)) {
      snprintf(err, n, "%s: unresolvable $ref %s", path, ref);
      return false;
    }
    return validate(root, target, v, path, err, n);
  }
  if (json_object_object_get_ex(sch, "type", &k)) {
    bool ok = false;
    if (json_object_is_type(k, json_type_string))
      ok = is_type(v, json_object_get_string(k));
    else
      for (size_t i = 0; i < json_object_array_length(k); i++)
        ok |=
            is_type(v, json_object_get_string(json_object_array_get_idx(k, i)));
    if (!ok) {
      snprintf(err, n, "%s: type %s is not %s", path,
               json_type_to_name(json_object_get_type(v)),
               json_object_to_json_string(k));
      return false;
    }
  }
  if (json_object_is_type(v, json_type_null))
    return true;
  if (json_object_object_get_ex(sch, "enum", &k)) {
    bool ok = false;
    for (size_t i = 0; i < json_object_array_length(k); i++)
      ok |= json_object_is_type(v, json_type_string) &&
            !strcmp(json_object_get_string(v),
                    json_object_get_string(json_object_array_get_idx(k, i)));
    if (!ok) {
      snprintf(err, n, "%s: %s not in enum %s", path,
               json_object_to_json_string(v), json_object_to_json_string(k));
      return false;
    }
  }
  bool num = json_object_is_type(v, json_type_int) ||
             json_object_is_type(v, json_type_double);
  if (num && json_object_object_get_ex(sch, "minimum", &k) &&
      json_object_get_double(v) < json_object_get_double(k)) {
    snprintf(err, n, "%s: %g below minimum", path, json_object_get_double(v));
    return false;
  }
  if (num && json_object_object_get_ex(sch, "maximum", &k) &&
      json_object_get_double(v) > json_object_get_double(k)) {
    snprintf(err, n, "%s: %g above maximum", path, json_object_get_double(v));
    return false;
  }
  if (json_object_is_type(v, json_type_object)) {
    if (json_object_object_get_ex(sch, "required", &k))
      for (size_t i = 0; i < json_object_array_length(k); i++) {
        const char *f = json_object_get_string(json_object_array_get_idx(k, i));
        if (!json_object_object_get_ex(v, f, NULL)) {
          snprintf(err, n, "%s: missing required \"%s\"", path, f);
          return false;
        }
      }
    json_object *props = NULL, *addl = NULL;
    json_object_object_get_ex(sch, "properties", &props);
    json_object_object_get_ex(sch, "additionalProperties", &addl);
    json_object_object_foreach(v, key, val) {
      char sub[512];
      snprintf(sub, sizeof sub, "%s.%s", path, key);
      json_object *ps;
      if (props && json_object_object_get_ex(props, key, &ps)) {
        if (!validate(root, ps, val, sub, err, n))
          return false;
      } else if (addl && json_object_is_type(addl, json_type_boolean) &&
                 !json_object_get_boolean(addl)) {
        snprintf(err, n, "%.400s: additional property not allowed", sub);
        return false;
      }
    }
  }
  if (json_object_is_type(v, json_type_array) &&
      json_object_object_get_ex(sch, "items", &k))
    for (size_t i = 0; i < json_object_array_length(v); i++) {
      char sub[512];
      snprintf(sub, sizeof sub, "%s[%zu]", path, i);
      if (!validate(root, k, json_object_array_get_idx(v, i), sub, err, n))
        return false;
    }
  return true;
}

static json_object *schema(void) {
  const char *src = getenv("TERN_SOURCE_DIR");
  char p[2048];
  snprintf(p, sizeof p, "%s/docs/matrix.schema.json", src ? src : ".");
  json_object *s = json_object_from_file(p);
  cr_assert_not_null(s, "cannot read %s", p);
  return s;
}

static bool valid_doc(json_object *doc, char *err, size_t n) {
  json_object *s = schema();
  bool ok = validate(s, s, doc, "$", err, n);
  json_object_put(s);
  return ok;
}

static json_object *field(json_object *o, const char *k) {
  json_object *v = NULL;
  json_object_object_get_ex(o, k, &v);
  return v;
}

/* --------------------------------------------------------------- tests */
Test(matrix, quick_end_to_end) {
  const char *bin = tern_bin();
  char *d = tmpdir();
  cr_assert_eq(sh("%s matrix --quick --strict --out %s/rep > %s/out.txt 2> "
                  "%s/err.txt",
                  bin, d, d, d),
               0, "tern matrix --quick failed (see %s/err.txt)", d);
  char p[512];
  snprintf(p, sizeof p, "%s/out.txt", d);
  char *out = slurp(p);
  cr_assert(strstr(out, "report: "), "%s", out);
  cr_assert(strstr(out, "/rep/report.html"), "%s", out);
  snprintf(p, sizeof p, "%s/rep/matrix.json", d);
  json_object *doc = json_object_from_file(p);
  cr_assert_not_null(doc, "matrix.json does not parse");
  char err[512] = "";
  cr_assert(valid_doc(doc, err, sizeof err), "schema: %s", err);
  json_object *cells = field(doc, "cells"), *devs = field(doc, "devices");
  size_t nd = json_object_array_length(devs);
  cr_assert_geq(nd, 1);
  /* 2 models x 4 precisions on every device */
  cr_assert_eq(json_object_array_length(cells), 8 * nd);
  int cpu_ok = 0;
  for (size_t i = 0; i < json_object_array_length(cells); i++) {
    json_object *c = json_object_array_get_idx(cells, i);
    const char *st = json_object_get_string(field(c, "status"));
    const char *dev = json_object_get_string(field(c, "device"));
    cr_assert_str_neq(st, "failed", "%s %s on %s failed: %s",
                      json_object_get_string(field(c, "model")),
                      json_object_get_string(field(c, "precision")), dev,
                      json_object_get_string(field(c, "reason")));
    if (strcmp(st, "ok"))
      continue;
    /* the contract: quantized models bit-identical on every device */
    if (json_object_get_boolean(field(c, "quantized")))
      cr_assert(json_object_get_boolean(field(c, "bit_exact")),
                "%s not bit-exact", dev);
    cr_assert_float_eq(json_object_get_double(field(c, "agreement")), 1.0,
                       1e-12);
    cr_assert_gt(json_object_get_double(field(c, "lat1_median_ms")), 0);
    cr_assert_geq(json_object_get_double(field(c, "lat1_p95_ms")),
                  json_object_get_double(field(c, "lat1_median_ms")));
    cr_assert_gt(json_object_get_double(field(c, "throughput_sps")), 0);
    cr_assert_gt(json_object_get_int64(field(c, "weight_bytes")), 0);
    cr_assert_gt(json_object_get_int64(field(c, "peak_activation_bytes")), 0);
    if (!strcmp(dev, "cpu:0"))
      cpu_ok++;
  }
  cr_assert_eq(cpu_ok, 8);
  /* ternary weights are smaller than int8, int8 than fp32 (same model) */
  int64_t wb[3] = {0};
  for (size_t i = 0; i < json_object_array_length(cells); i++) {
    json_object *c = json_object_array_get_idx(cells, i);
    if (strcmp(json_object_get_string(field(c, "model")), "mlp") ||
        strcmp(json_object_get_string(field(c, "device")), "cpu:0"))
      continue;
    const char *pr = json_object_get_string(field(c, "precision"));
    int k = !strcmp(pr, "fp32") ? 0 : !strcmp(pr, "int8") ? 1 : 2;
    if (strcmp(pr, "mixed"))
      wb[k] = json_object_get_int64(field(c, "weight_bytes"));
  }
  cr_assert(wb[2] < wb[1] && wb[1] < wb[0], "%lld %lld %lld", (long long)wb[0],
            (long long)wb[1], (long long)wb[2]);
  json_object_put(doc);
  /* CSV: a header and one line per cell */
  snprintf(p, sizeof p, "%s/rep/matrix.csv", d);
  char *csv = slurp(p);
  cr_assert_not_null(csv);
  int lines = 0;
  for (char *c = csv; *c; c++)
    lines += *c == '\n';
  cr_assert_eq(lines, 1 + 8 * (int)nd);
  cr_assert(!strncmp(csv, "model,source,precision,mode,device", 34));
  snprintf(p, sizeof p, "%s/rep/matrix.md", d);
  char *md = slurp(p);
  cr_assert(md && strstr(md, "# tern hardware matrix") &&
            strstr(md, "## mlp") && strstr(md, "## lenet5"));
  snprintf(p, sizeof p, "%s/rep/report.html", d);
  char *html = slurp(p);
  cr_assert(html && strstr(html, "id=\"tern-data\""));
  cr_assert(strstr(html, "</html>"));
  free(csv);
  free(md);
  free(html);
  free(out);
  sh("rm -rf %s", d);
  free(d);
}

Test(matrix, schema_validator_can_fail) {
  const char *good =
      "{\"format\":\"tern-matrix\",\"version\":1,\"tern_version\":\"0\","
      "\"created\":\"x\",\"host\":{\"hostname\":\"h\",\"threads\":2},"
      "\"config\":{\"quick\":true,\"models\":[],\"files\":[],\"precisions\":"
      "[\"fp32\"],\"batch\":4,\"samples\":8,\"time_s\":0.1,\"tune_budget_s\":"
      "0,\"data\":null,\"train_models\":[],\"train_steps\":1,"
      "\"train_samples\":1,\"seed\":1},\"devices\":[],\"cells\":[],\"tuning\":["
      "],\"warnings\":[],"
      "\"summary\":{\"cells\":0,\"ok\":0,\"failed\":0,\"other\":0,"
      "\"quantized_cells\":0,\"quantized_bit_exact\":0,\"elapsed_s\":1}}";
  char err[512];
  json_object *doc = json_tokener_parse(good);
  cr_assert(valid_doc(doc, err, sizeof err), "%s", err);
  json_object_object_del(doc, "summary");
  cr_assert(!valid_doc(doc, err, sizeof err));
  cr_assert(strstr(err, "missing required \"summary\""), "%s", err);
  json_object_put(doc);
  doc = json_tokener_parse(good);
  json_object_object_add(doc, "extra", json_object_new_int(1));
  cr_assert(!valid_doc(doc, err, sizeof err));
  cr_assert(strstr(err, "additional property"), "%s", err);
  json_object_put(doc);
  doc = json_tokener_parse(good);
  json_object_object_add(field(doc, "config"), "batch",
                         json_object_new_string("4"));
  cr_assert(!valid_doc(doc, err, sizeof err));
  cr_assert(strstr(err, "$.config.batch"), "%s", err);
  json_object_put(doc);
  doc = json_tokener_parse(good);
  json_object_array_add(field(field(doc, "config"), "precisions"),
                        json_object_new_string("fp64"));
  cr_assert(!valid_doc(doc, err, sizeof err));
  cr_assert(strstr(err, "enum"), "%s", err);
  json_object_put(doc);
  doc = json_tokener_parse(good);
  json_object_object_add(field(doc, "host"), "threads", json_object_new_int(0));
  cr_assert(!valid_doc(doc, err, sizeof err));
  cr_assert(strstr(err, "minimum"), "%s", err);
  json_object_put(doc);
}

/* The HTML report opened by headless Chromium: every chart drew pixels and
 * no script error happened. Skipped without chromium or Chart.js. */
Test(matrix, html_renders_in_chromium) {
  const char *bin = tern_bin();
  if (sh("command -v chromium > /dev/null 2>&1") != 0)
    cr_skip_test("chromium is not installed (Debian package chromium)");
  if (access("/usr/share/javascript/chart.js/chart.min.js", R_OK) != 0)
    cr_skip_test("Chart.js is not installed (Debian package libjs-chart.js)");
  char *d = tmpdir();
  char db[512];
  snprintf(db, sizeof db, "%s/tuning.json", d);
  /* a short tuning run fills the tuned-vs-default chart too: on PoCL (the
   * CPU's only tunable is an example tuned only when named) */
  bool pocl = sh("%s devices 2> /dev/null | grep -q '^opencl:0'", bin) == 0;
  cr_assert_eq(sh("%s matrix --quick --models mlp --devices cpu:0%s --tune 1 "
                  "--tuning-db %s --out %s/rep > /dev/null 2> %s/err.txt",
                  bin, pocl ? ",opencl:0" : "", db, d, d),
               0);
  cr_assert_eq(
      sh("timeout 120 chromium --headless --no-sandbox --disable-gpu "
         "--disable-background-networking --disable-component-update "
         "--disable-sync --no-first-run --user-data-dir=%s/profile "
         "--window-size=1200,2000 --dump-dom file://%s/rep/report.html "
         "> %s/dom.html 2> %s/chromium.txt",
         d, d, d, d),
      0, "chromium failed: see %s/chromium.txt", d);
  char p[512];
  snprintf(p, sizeof p, "%s/dom.html", d);
  char *dom = slurp(p);
  cr_assert_not_null(dom);
  /* the script writes its results as attributes of <body> */
  char *body = strstr(dom, "<body");
  cr_assert_not_null(body);
  char *end = strchr(body, '>');
  cr_assert_not_null(end);
  *end = 0;
  cr_assert_null(strstr(body, "data-js-error"), "script error: %s", body);
  const char *c = strstr(body, "data-charts=\"");
  const char *e = strstr(body, "data-charts-expected=\"");
  cr_assert(c && e, "the chart script did not run");
  int drawn = atoi(c + 13), expected = atoi(e + 22);
  cr_assert_eq(expected, pocl ? 4 : 3,
               "speed, latency, accuracy (and tuning) charts");
  cr_assert_eq(drawn, expected, "%d of %d charts drew pixels", drawn, expected);
  free(dom);
  sh("rm -rf %s", d);
  free(d);
}

Test(matrix, chartjs_missing_gives_tables_and_warning) {
  const char *bin = tern_bin();
  char *d = tmpdir();
  cr_assert_eq(sh("%s matrix --quick --models mlp --precisions ternary "
                  "--devices cpu:0 --chartjs /nonexistent/chart.js --out "
                  "%s/rep > /dev/null 2> %s/err.txt",
                  bin, d, d),
               0);
  char p[512];
  snprintf(p, sizeof p, "%s/err.txt", d);
  char *err = slurp(p);
  cr_assert(strstr(err, "Chart.js not found"), "%s", err);
  snprintf(p, sizeof p, "%s/rep/report.html", d);
  char *html = slurp(p);
  cr_assert(strstr(html, "Charts are missing"));
  cr_assert(strstr(html, "<td>mlp</td><td>ternary</td>"));
  cr_assert_null(strstr(html, "<canvas"));
  free(err);
  free(html);
  sh("rm -rf %s", d);
  free(d);
}

Test(matrix, compare_prints_deltas) {
  const char *bin = tern_bin();
  char *d = tmpdir();
  cr_assert_eq(sh("%s matrix --quick --models mlp --precisions int8,ternary "
                  "--devices cpu:0 --out %s/a > /dev/null 2>&1",
                  bin, d),
               0);
  cr_assert_eq(sh("%s matrix --quick --models mlp,lenet5 --precisions ternary "
                  "--devices cpu:0 --out %s/b --compare %s/a/matrix.json > "
                  "%s/cmp.txt 2>&1",
                  bin, d, d, d),
               0);
  char p[512];
  snprintf(p, sizeof p, "%s/cmp.txt", d);
  char *cmp = slurp(p);
  cr_assert(strstr(cmp, "comparison with"), "%s", cmp);
  cr_assert(strstr(cmp, "mlp ternary inference cpu:0:  batch-1 ms"), "%s", cmp);
  cr_assert(strstr(cmp, "lenet5 ternary inference cpu:0: new cell"), "%s", cmp);
  cr_assert(strstr(cmp, "mlp int8 inference cpu:0: only in the baseline"), "%s",
            cmp);
  cr_assert(strstr(cmp, "2 cell(s) added, removed or changed status"), "%s",
            cmp);
  /* a baseline that is not a matrix report */
  cr_assert_eq(sh("echo '{}' > %s/bad.json; %s matrix --quick --models mlp "
                  "--precisions int8 --devices cpu:0 --out %s/c --compare "
                  "%s/bad.json > /dev/null 2> %s/err.txt",
                  d, bin, d, d, d),
               1);
  free(cmp);
  sh("rm -rf %s", d);
  free(d);
}

Test(matrix, usage_errors) {
  const char *bin = tern_bin();
  cr_assert_eq(sh("%s matrix --precisions fp64 > /dev/null 2>&1", bin), 2);
  cr_assert_eq(sh("%s matrix --frobnicate > /dev/null 2>&1", bin), 2);
  cr_assert_eq(sh("%s matrix --batch 0 > /dev/null 2>&1", bin), 2);
  cr_assert_eq(sh("%s matrix --batch > /dev/null 2>&1", bin), 2);
  cr_assert_eq(sh("%s matrix --help | grep -q 'usage: tern matrix'", bin), 0);
  char *d = tmpdir();
  cr_assert_eq(sh("%s matrix --quick --devices nosuch:7 --out %s/r > "
                  "/dev/null 2> %s/err.txt",
                  bin, d, d),
               1);
  char p[512];
  snprintf(p, sizeof p, "%s/err.txt", d);
  char *err = slurp(p);
  cr_assert(strstr(err, "no device 'nosuch:7'"), "%s", err);
  free(err);
  /* a model this build does not have: a failed cell with the reason */
  cr_assert_eq(sh("%s matrix --quick --models nosuchnet --precisions int8 "
                  "--devices cpu:0 --out %s/r > /dev/null 2>&1",
                  bin, d),
               0);
  snprintf(p, sizeof p, "%s/r/matrix.json", d);
  json_object *doc = json_object_from_file(p);
  json_object *c = json_object_array_get_idx(field(doc, "cells"), 0);
  cr_assert_str_eq(json_object_get_string(field(c, "status")), "failed");
  cr_assert(strstr(json_object_get_string(field(c, "reason")), "nosuchnet"));
  char e2[512];
  cr_assert(valid_doc(doc, e2, sizeof e2), "%s", e2);
  json_object_put(doc);
  cr_assert_eq(sh("%s matrix --quick --strict --models nosuchnet --precisions "
                  "int8 --devices cpu:0 --out %s/r > /dev/null 2>&1",
                  bin, d),
               1);
  sh("rm -rf %s", d);
  free(d);
}

/* A cell whose process crashes or hangs costs that cell, not the report. */
Test(matrix, crashing_and_hanging_cells_are_contained) {
  const char *bin = tern_bin();
  char *d = tmpdir();
  cr_assert_eq(sh("TERN_MATRIX_CRASH_CELL=2 %s matrix --quick --models mlp "
                  "--precisions int8,ternary,mixed --devices cpu:0 --out %s/r "
                  "> /dev/null 2>&1",
                  bin, d),
               0);
  char p[512];
  snprintf(p, sizeof p, "%s/r/matrix.json", d);
  json_object *doc = json_object_from_file(p);
  cr_assert_not_null(doc);
  json_object *cells = field(doc, "cells");
  cr_assert_eq(json_object_array_length(cells), 3);
  const char *st[3], *why;
  for (int i = 0; i < 3; i++)
    st[i] = json_object_get_string(
        field(json_object_array_get_idx(cells, i), "status"));
  cr_assert_str_eq(st[0], "ok");
  cr_assert_str_eq(st[1], "failed");
  cr_assert_str_eq(st[2], "ok");
  why = json_object_get_string(
      field(json_object_array_get_idx(cells, 1), "reason"));
  cr_assert(strstr(why, "crashed: signal 11"), "%s", why);
  json_object_put(doc);
  /* timing for up to 30 s per batch size, killed after 2 s: a cell whose
   * 2000 timed runs take well over 2 s on any CPU (bitnet-block in fp32, about
   * 7 ms a run on two Zen 4 cores; lenet5 in ternary became too fast) */
  cr_assert_eq(sh("%s matrix --models bitnet-block --precisions fp32 --samples "
                  "2 --tune 0 --devices cpu:0 --time 30 --cell-timeout 2 "
                  "--out %s/t > /dev/null 2>&1",
                  bin, d),
               0);
  snprintf(p, sizeof p, "%s/t/matrix.json", d);
  doc = json_object_from_file(p);
  json_object *c = json_object_array_get_idx(field(doc, "cells"), 0);
  cr_assert_str_eq(json_object_get_string(field(c, "status")), "failed");
  cr_assert(strstr(json_object_get_string(field(c, "reason")), "timed out"));
  json_object_put(doc);
  sh("rm -rf %s", d);
  free(d);
}

/* A .tern file given on the command line is a model of its own; a corrupt
 * one is a failed cell naming the problem. */
Test(matrix, tern_files) {
  const char *bin = tern_bin();
  char *d = tmpdir();
  tern_graph *g;
  cr_assert_eq(tern_graph_create(&g), TERN_OK);
  tu_rng r;
  tu_seed(&r, 3);
  int64_t xs[2] = {1, 64}, ws[2] = {10, 64};
  int x, y;
  cr_assert_eq(tern_graph_add_input(g, "x", 2, xs, &x), TERN_OK);
  int w = tu_add_weight(g, &r, "w", TERN_DTYPE_TERNARY, 2, ws, 1, false);
  tern_node_desc nd = {sizeof nd};
  nd.op = TERN_OP_LINEAR;
  nd.n_inputs = 2;
  nd.inputs[0] = x;
  nd.inputs[1] = w;
  cr_assert_eq(tern_graph_add_node(g, &nd, &y), TERN_OK);
  cr_assert_eq(tern_graph_add_output(g, y), TERN_OK);
  char p[512], bad[512];
  snprintf(p, sizeof p, "%s/tiny.tern", d);
  cr_assert_eq(tern_graph_save(g, p, NULL), TERN_OK, "%s", tern_last_error());
  tern_graph_destroy(g);
  snprintf(bad, sizeof bad, "%s/bad.tern", d);
  sh("head -c 40 %s > %s", p, bad);
  cr_assert_eq(sh("%s matrix --quick %s %s --devices cpu:0 --out %s/r > "
                  "/dev/null 2>&1",
                  bin, p, bad, d),
               0);
  snprintf(p, sizeof p, "%s/r/matrix.json", d);
  json_object *doc = json_object_from_file(p);
  cr_assert_not_null(doc);
  json_object *cells = field(doc, "cells");
  cr_assert_eq(json_object_array_length(cells), 2);
  json_object *c0 = json_object_array_get_idx(cells, 0);
  json_object *c1 = json_object_array_get_idx(cells, 1);
  cr_assert_str_eq(json_object_get_string(field(c0, "model")), "tiny.tern");
  cr_assert_str_eq(json_object_get_string(field(c0, "source")), "file");
  cr_assert_str_eq(json_object_get_string(field(c0, "status")), "ok", "%s",
                   json_object_get_string(field(c0, "reason")));
  cr_assert(json_object_get_boolean(field(c0, "bit_exact")));
  cr_assert(json_object_get_boolean(field(c0, "quantized")));
  cr_assert_str_eq(json_object_get_string(field(c1, "status")), "failed");
  cr_assert(strstr(json_object_get_string(field(c1, "reason")), "bad.tern"),
            "%s", json_object_get_string(field(c1, "reason")));
  char err[512];
  cr_assert(valid_doc(doc, err, sizeof err), "%s", err);
  json_object_put(doc);
  sh("rm -rf %s", d);
  free(d);
}

/* --data: MNIST inputs, and the training rows (fp32, PTQ, QAT, distill) when
 * the build has the training library, "not_available" otherwise. */
Test(matrix, data_and_training_rows) {
  const char *bin = tern_bin();
  const char *mnist = tu_mnist_dir();
  if (!mnist)
    cr_skip_test("no MNIST files (TERN_MNIST_DIR)");
  char *d = tmpdir();
  cr_assert_eq(sh("%s matrix --quick --models mlp --precisions ternary "
                  "--devices cpu:0 --data %s --train-steps 80 --out %s/r > "
                  "/dev/null 2> %s/err.txt",
                  bin, mnist, d, d),
               0, "see %s/err.txt", d);
  char p[512];
  snprintf(p, sizeof p, "%s/r/matrix.json", d);
  json_object *doc = json_object_from_file(p);
  cr_assert_not_null(doc);
  char err[512];
  cr_assert(valid_doc(doc, err, sizeof err), "%s", err);
  json_object *cells = field(doc, "cells");
  cr_assert_eq(json_object_array_length(cells), 5);
  json_object *c = json_object_array_get_idx(cells, 0);
  cr_assert_str_eq(json_object_get_string(field(c, "input")), "mnist");
  cr_assert_not_null(field(c, "accuracy"));
  static const char *const modes[] = {"fp32", "ptq", "qat", "distill"};
  for (int i = 1; i < 5; i++) {
    c = json_object_array_get_idx(cells, i);
    cr_assert_str_eq(json_object_get_string(field(c, "mode")), modes[i - 1]);
    cr_assert_str_eq(json_object_get_string(field(c, "source")), "trained");
    const char *st = json_object_get_string(field(c, "status"));
    if (!strcmp(st, "not_available")) {
      cr_assert(strstr(json_object_get_string(field(c, "reason")), "training"));
      continue;
    }
    cr_assert_str_eq(st, "ok", "%s: %s", modes[i - 1],
                     json_object_get_string(field(c, "reason")));
    /* quantized modes are bit-exact; fp32 is "ok" within its tolerance
     * (the fast CPU path sums f32 in another order than the reference) */
    if (strcmp(modes[i - 1], "fp32") != 0)
      cr_assert(json_object_get_boolean(field(c, "bit_exact")), "%s",
                modes[i - 1]);
    /* 80 steps are enough to beat chance (10 %) by far (distillation
     * with QAT needs more than 40) */
    cr_assert_gt(json_object_get_double(field(c, "accuracy")), 0.3, "%s",
                 modes[i - 1]);
  }
  json_object_put(doc);
  sh("rm -rf %s", d);
  free(d);
}

Test(tune, cli_tunes_and_manages_the_database) {
  const char *bin = tern_bin();
  char *d = tmpdir();
  cr_assert_eq(sh("%s tune --device cpu:0 --budget 2 --kernels linear_q "
                  "--tuning-db %s/db.json --json > %s/out.json 2> %s/err.txt",
                  bin, d, d, d),
               0);
  char p[512];
  snprintf(p, sizeof p, "%s/out.json", d);
  json_object *doc = json_object_from_file(p);
  cr_assert_not_null(doc, "--json output is not one JSON document");
  json_object *res = field(doc, "results");
  cr_assert_eq(json_object_array_length(res), 3);
  for (size_t i = 0; i < 3; i++) {
    json_object *r = json_object_array_get_idx(res, i);
    cr_assert_eq(json_object_get_int(field(r, "wrong")), 0);
    cr_assert_gt(json_object_get_double(field(r, "best_us")), 0);
  }
  cr_assert(json_object_get_boolean(field(doc, "saved")));
  /* tuned vs default per kernel, and the device's budget and time used */
  json_object *sum = field(doc, "summary");
  cr_assert_eq(json_object_array_length(sum), 1);
  json_object *k = json_object_array_get_idx(sum, 0);
  cr_assert_str_eq(json_object_get_string(field(k, "kernel")), "linear_q");
  cr_assert_eq(json_object_get_int(field(k, "problems")), 3);
  cr_assert_geq(json_object_get_double(field(k, "best_speedup")),
                json_object_get_double(field(k, "geomean_speedup")));
  cr_assert_geq(json_object_get_double(field(k, "geomean_speedup")), 1.0);
  json_object *dv = json_object_array_get_idx(field(doc, "devices"), 0);
  cr_assert_str_eq(json_object_get_string(field(dv, "device")), "cpu:0");
  cr_assert_gt(json_object_get_double(field(dv, "elapsed_s")), 0);
  cr_assert_leq(json_object_get_double(field(dv, "elapsed_s")),
                json_object_get_double(field(dv, "budget_s")) + 30);
  json_object_put(doc);
  snprintf(p, sizeof p, "%s/err.txt", d);
  char *err = slurp(p);
  cr_assert(strstr(err, "candidate"), "no progress on stderr: %s", err);
  free(err);
  cr_assert_eq(sh("%s tune check %s/db.json > /dev/null", bin, d), 0);
  cr_assert_eq(sh("%s tune list --tuning-db %s/db.json | grep -c linear_q | "
                  "grep -qx 3",
                  bin, d),
               0);
  /* export, then import into an empty database */
  cr_assert_eq(sh("%s tune export %s/shared.json --device cpu:0 --tuning-db "
                  "%s/db.json > /dev/null",
                  bin, d, d),
               0);
  cr_assert_eq(sh("%s tune import %s/shared.json --tuning-db %s/new.json > "
                  "%s/imp.txt",
                  bin, d, d, d),
               0);
  snprintf(p, sizeof p, "%s/imp.txt", d);
  char *imp = slurp(p);
  cr_assert(strstr(imp, "3 added, 0 replaced"), "%s", imp);
  free(imp);
  /* a malformed file is refused with its name, and never merged */
  cr_assert_eq(sh("printf '{\"format\":\"tern-tuning\",\"version\":1,"
                  "\"entries\":[{]}' > %s/bad.json; %s tune import "
                  "%s/bad.json --tuning-db %s/new.json 2> %s/err2.txt",
                  d, bin, d, d, d),
               1);
  snprintf(p, sizeof p, "%s/err2.txt", d);
  err = slurp(p);
  cr_assert(strstr(err, "bad.json") && strstr(err, "malformed JSON"), "%s",
            err);
  free(err);
  /* the environment override reaches every context: a broken file fails
   * `tern matrix` clearly instead of being ignored */
  cr_assert_eq(sh("TERN_TUNING_DB=%s/bad.json %s matrix --quick --out %s/r > "
                  "/dev/null 2> %s/err3.txt",
                  d, bin, d, d),
               1);
  snprintf(p, sizeof p, "%s/err3.txt", d);
  err = slurp(p);
  cr_assert(strstr(err, "malformed JSON"), "%s", err);
  free(err);
  cr_assert_eq(sh("%s tune --budget 0 > /dev/null 2>&1", bin), 2);
  cr_assert_eq(sh("%s tune frob > /dev/null 2>&1", bin), 2);
  sh("rm -rf %s", d);
  free(d);
}
