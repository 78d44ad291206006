/* bench_json_check.c — test helper for the kernel benchmark's smoke test:
 * parses the output of `tern bench kernels --json` with json-c and checks
 * the schema of docs/BENCH.md (types, required fields, the listed backends,
 * derived numbers consistent with the medians).
 * usage: bench_json_check FILE [BACKEND...]; exit 0 ok, 1 otherwise. */
#include <json-c/json.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_errors;

#define FAIL(...)                                                              \
  do {                                                                         \
    fprintf(stderr, "bench_json_check: " __VA_ARGS__);                         \
    fputc('\n', stderr);                                                       \
    g_errors++;                                                                \
  } while (0)

static json_object *get(json_object *o, const char *key, json_type t,
                        const char *where) {
  json_object *v = NULL;
  if (!json_object_object_get_ex(o, key, &v)) {
    FAIL("%s: no \"%s\"", where, key);
    return NULL;
  }
  if (!json_object_is_type(v, t)) {
    /* an integer is a number too */
    if (t == json_type_double && json_object_is_type(v, json_type_int))
      return v;
    FAIL("%s: \"%s\" is a %s, want %s", where, key,
         json_type_to_name(json_object_get_type(v)), json_type_to_name(t));
    return NULL;
  }
  return v;
}

/* a number, or NAN when the field is null (null_ok) */
static double num(json_object *o, const char *key, bool null_ok,
                  const char *where) {
  json_object *v = NULL;
  if (null_ok && json_object_object_get_ex(o, key, &v) &&
      json_object_is_type(v, json_type_null))
    return NAN;
  v = get(o, key, json_type_double, where);
  return v ? json_object_get_double(v) : NAN;
}

static const char *str(json_object *o, const char *key, const char *where) {
  json_object *v = get(o, key, json_type_string, where);
  return v ? json_object_get_string(v) : "";
}

static bool close_to(double a, double b) {
  return fabs(a - b) <= 2e-3 * fabs(b) + 1e-9;
}

static void check_row(json_object *row, int i, json_object *backends) {
  char where[32];
  snprintf(where, sizeof where, "results[%d]", i);
  if (!json_object_is_type(row, json_type_object)) {
    FAIL("%s is not an object", where);
    return;
  }
  const char *backend = str(row, "backend", where);
  bool listed_ok = false;
  for (size_t b = 0; b < json_object_array_length(backends); b++) {
    json_object *e = json_object_array_get_idx(backends, b), *v;
    if (json_object_object_get_ex(e, "backend", &v) &&
        !strcmp(json_object_get_string(v), backend) &&
        json_object_object_get_ex(e, "status", &v) &&
        !strcmp(json_object_get_string(v), "ok"))
      listed_ok = true;
  }
  if (!listed_ok)
    FAIL("%s: backend '%s' is not listed as ok", where, backend);
  str(row, "device", where);
  str(row, "device_name", where);
  if (!*str(row, "kernel", where))
    FAIL("%s: empty kernel", where);
  str(row, "features", where);
  const char *dt = str(row, "dtype", where);
  if (strcmp(dt, "ternary") && strcmp(dt, "i8") && strcmp(dt, "f32"))
    FAIL("%s: dtype '%s'", where, dt);
  double m = num(row, "m", false, where), n = num(row, "n", false, where),
         k = num(row, "k", false, where);
  if (!(m > 0 && n > 0 && k > 0))
    FAIL("%s: shape %g,%g,%g", where, m, n, k);
  if (!(num(row, "reps", false, where) >= 1))
    FAIL("%s: reps < 1", where);
  double med = num(row, "median_us", false, where);
  double p95 = num(row, "p95_us", false, where);
  if (!(med > 0 && p95 >= med))
    FAIL("%s: median %g us, p95 %g us", where, med, p95);
  double gops = num(row, "gops", false, where);
  if (!close_to(gops, 2 * m * n * k / (med * 1e-6) * 1e-9))
    FAIL("%s: gops %g does not match 2mnk/median", where, gops);
  if (!(num(row, "weight_gbs", false, where) > 0))
    FAIL("%s: weight_gbs", where);
  json_object *peer = NULL;
  if (!json_object_object_get_ex(row, "peer", &peer)) {
    FAIL("%s: no \"peer\"", where);
  } else if (json_object_is_type(peer, json_type_string)) {
    double pt = num(row, "peer_us", false, where);
    double r = num(row, "speedup_vs_peer", false, where);
    if (!(pt > 0) || !close_to(r, pt / med))
      FAIL("%s: peer_us %g, speedup %g, median %g", where, pt, r, med);
  } else if (!json_object_is_type(peer, json_type_null)) {
    FAIL("%s: peer is neither a string nor null", where);
  }
  double fbw = num(row, "frac_read_bandwidth", true, where);
  double fpk = num(row, "frac_int8_peak", true, where);
  bool cpu = !strcmp(backend, "cpu");
  if (cpu != !isnan(fbw) || cpu != !isnan(fpk))
    FAIL("%s: machine fractions are for CPU rows only", where);
  double dev = num(row, "device_us", true, where);
  double peer_dev = num(row, "peer_device_us", true, where);
  if (!isnan(dev) && !(dev > 0))
    FAIL("%s: device_us %g", where, dev);
  if (!isnan(peer_dev) && !(peer_dev > 0))
    FAIL("%s: peer_device_us %g", where, peer_dev);
  json_object *bad = NULL;
  /* a wrong peer is the peer's problem (CLBlast SGEMV on PoCL now and
   * then): reported, not a failure of the benchmark */
  if (json_object_object_get_ex(row, "peer_wrong_values", &bad)) {
    if (!json_object_is_type(bad, json_type_int) ||
        json_object_get_int(bad) < 0)
      FAIL("%s: peer_wrong_values is not a count", where);
    else if (json_object_get_int(bad) > 0)
      fprintf(stderr,
              "bench_json_check: note: %s: the peer computed %d "
              "wrong values\n",
              where, json_object_get_int(bad));
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_json_check FILE [BACKEND...]\n");
    return 1;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    fprintf(stderr, "bench_json_check: cannot open %s\n", argv[1]);
    return 1;
  }
  static char buf[1 << 22];
  size_t len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[len] = 0;
  json_tokener *tok = json_tokener_new();
  json_object *doc = json_tokener_parse_ex(tok, buf, (int)len);
  size_t used = json_tokener_get_parse_end(tok);
  if (!doc) {
    fprintf(stderr, "bench_json_check: invalid JSON: %s\n",
            json_tokener_error_desc(json_tokener_get_error(tok)));
    json_tokener_free(tok);
    return 1;
  }
  json_tokener_free(tok);
  for (size_t i = used; i < len; i++)
    if (!strchr(" \t\r\n", buf[i])) {
      FAIL("data after the JSON document (byte %zu)", i);
      break;
    }
  if (!json_object_is_type(doc, json_type_object)) {
    FAIL("the document is not an object");
    return 1;
  }
  if (strcmp(str(doc, "benchmark", "top"), "kernels"))
    FAIL("benchmark is not \"kernels\"");
  if (num(doc, "schema_version", false, "top") != 1)
    FAIL("schema_version is not 1");
  str(doc, "clock", "top");
  get(doc, "quick", json_type_boolean, "top");
  json_object *backends = get(doc, "backends", json_type_array, "top");
  json_object *results = get(doc, "results", json_type_array, "top");
  json_object *machine = NULL;
  json_object_object_get_ex(doc, "machine", &machine);
  if (!backends || !results) {
    json_object_put(doc);
    return 1;
  }
  bool cpu_ok = false;
  for (size_t b = 0; b < json_object_array_length(backends); b++) {
    json_object *e = json_object_array_get_idx(backends, b);
    const char *name = str(e, "backend", "backends[]");
    const char *st = str(e, "status", "backends[]");
    if (!strcmp(st, "failed"))
      FAIL("backend %s failed", name);
    else if (strcmp(st, "ok") && strcmp(st, "skipped"))
      FAIL("backend %s: status '%s'", name, st);
    if (!strcmp(st, "skipped"))
      fprintf(stderr, "bench_json_check: note: %s skipped (%s)\n", name,
              json_object_get_string(json_object_object_get(e, "reason")));
    if (!strcmp(name, "cpu") && !strcmp(st, "ok"))
      cpu_ok = true;
    if (!strcmp(st, "ok")) {
      int rows = 0;
      for (size_t i = 0; i < json_object_array_length(results); i++) {
        json_object *v;
        if (json_object_object_get_ex(json_object_array_get_idx(results, i),
                                      "backend", &v) &&
            !strcmp(json_object_get_string(v), name))
          rows++;
      }
      if (!rows)
        FAIL("backend %s is ok but has no rows", name);
    }
  }
  for (int a = 2; a < argc; a++) {
    bool found = false;
    for (size_t b = 0; b < json_object_array_length(backends); b++) {
      json_object *v;
      if (json_object_object_get_ex(json_object_array_get_idx(backends, b),
                                    "backend", &v) &&
          !strcmp(json_object_get_string(v), argv[a]))
        found = true;
    }
    if (!found)
      FAIL("backend %s is not listed", argv[a]);
  }
  if (cpu_ok) {
    if (!machine || !json_object_is_type(machine, json_type_object)) {
      FAIL("the CPU ran but \"machine\" is not an object");
    } else {
      if (!(num(machine, "read_bandwidth_gbs", false, "machine") > 0) ||
          !(num(machine, "int8_peak_gops", false, "machine") > 0))
        FAIL("machine limits are not positive");
      str(machine, "cpu_isa", "machine");
      str(machine, "int8_peak_instruction", "machine");
      num(machine, "threads", false, "machine");
    }
  }
  for (size_t i = 0; i < json_object_array_length(results); i++)
    check_row(json_object_array_get_idx(results, i), (int)i, backends);
  printf("bench_json_check: %zu rows, %d problems\n",
         json_object_array_length(results), g_errors);
  json_object_put(doc);
  return g_errors ? 1 : 0;
}
