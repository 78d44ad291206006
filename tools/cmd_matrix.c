/* cmd_matrix.c — `tern matrix`: the hardware-compatibility benchmark matrix
 * on every detected device, written as CSV, JSON, Markdown and one HTML
 * report; `--quick` for CI, `--compare` against an earlier matrix.json. */
#include "matrix.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char k_help[] =
    "usage: tern matrix [FILE.tern ...] [options]\n"
    "\n"
    "Run every model in every precision on every detected device, check each\n"
    "cell against the CPU reference and time it; write the report to DIR\n"
    "(matrix.json, matrix.csv, matrix.md and a self-contained report.html).\n"
    "With no options: the full default configuration (a few minutes).\n"
    "\n"
    "options:\n"
    "  --out DIR            report directory (default ./tern-report)\n"
    "  --quick              small CI configuration (seconds)\n"
    "  --models LIST        zoo models, comma-separated; a model may carry\n"
    "                       size knobs: bitnet-block:width=256,seq=8\n"
    "  --precisions LIST    fp32,int8,ternary,mixed (default all)\n"
    "  --device ID          only this device (repeatable; 'vulkan' = all of\n"
    "                       a backend); default every device\n"
    "  --batch N            the larger batch timed besides batch 1\n"
    "  --samples N          inputs compared with the reference per cell\n"
    "  --time SECONDS       timing per batch size per cell\n"
    "  --tune SECONDS       run `tern tune` on each device first with this\n"
    "                       budget (tuned vs default in the report)\n"
    "  --tuning-db PATH     tuning database (default: TERN_TUNING_DB or the\n"
    "                       user cache); tuning results are saved there\n"
    "  --data DIR           real MNIST inputs (t10k-*-idx*-ubyte[.gz]) and\n"
    "                       training rows: each --train-models model\n"
    "                       trained on images 0..7999 in fp32, PTQ, QAT\n"
    "                       and distilled, checked on 8000..9999\n"
    "  --train-models LIST  models for the training rows (default mlp)\n"
    "  --train-steps N      steps per training mode (default 300, quick 60)\n"
    "  --compare FILE       print per-cell deltas against an earlier\n"
    "                       matrix.json\n"
    "  --chartjs PATH       Chart.js to inline (default: Debian's\n"
    "                       libjs-chart.js)\n"
    "  --seed N             random inputs and weights (default 1)\n"
    "  --threads N          CPU threads (default: all cores)\n"
    "  --strict             exit 1 when any cell failed\n"
    "  --cell-timeout SECS  kill a cell that runs longer (default 600,\n"
    "                       quick 120)\n"
    "  --no-isolate         run cells in this process, not in a child\n"
    "                       each (a crashing driver then ends the run)\n"
    "  --json               also print the report's JSON on stdout\n"
    "  -v, -q               more logging / no progress lines\n"
    "  -h, --help           this help\n"
    "\n"
    "Exit codes: 0 success, 1 failure, 2 usage error.\n";

/* "--name value" or "--name=value"; advances *i past the value. */
static bool opt_value(int argc, char **argv, int *i, const char *name,
                      const char **value) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0)
    return false;
  if (a[n] == '=') {
    *value = a + n + 1;
    return true;
  }
  if (a[n] != 0)
    return false;
  if (*i + 1 >= argc) {
    *value = NULL;
    return true;
  }
  *value = argv[++*i];
  return true;
}

/* Split a comma list into dst (pointers into a strdup'd copy kept in keep).
 * A model spec keeps its knobs: in "bitnet-block:width=256,seq=8" the
 * "seq=8" after a spec with ':' belongs to that spec. */
static int split(const char *s, const char **dst, int *n, int max, char **keep,
                 int *n_keep) {
  if (*n_keep >= 4 * MX_MAX_LIST)
    return -1;
  char *copy = strdup(s);
  if (!copy)
    return -1;
  keep[(*n_keep)++] = copy;
  int first = *n;
  char *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    if (strchr(t, '=') && !strchr(t, ':') && *n > first &&
        strchr(dst[*n - 1], ':')) {
      for (char *p = (char *)dst[*n - 1] + strlen(dst[*n - 1]); p < t; p++)
        *p = ',';
      continue;
    }
    if (*n >= max)
      return -1;
    dst[(*n)++] = t;
  }
  return 0;
}

static bool parse_pos_int(const char *s, long long lo, long long hi,
                          long long *out) {
  if (!s || !*s)
    return false;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (*end || errno || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

static bool parse_secs(const char *s, double lo, double hi, double *out) {
  if (!s || !*s)
    return false;
  char *end;
  double v = strtod(s, &end);
  if (*end || !(v >= lo && v <= hi))
    return false;
  *out = v;
  return true;
}

static int mkdir_p(const char *dir) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == 0) {
      char c = *p;
      *p = 0;
      if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -1;
      *p = c;
      if (!c)
        break;
    }
  }
  struct stat st;
  return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "tern matrix: ");
  fprintf(stderr, fmt, arg ? arg : "");
  fprintf(stderr, "\n(see tern matrix --help)\n");
  return 2;
}

int cmd_matrix(int argc, char **argv) {
  mx_options o;
  memset(&o, 0, sizeof o);
  char *keep[4 * MX_MAX_LIST];
  int n_keep = 0;
  const char *chartjs = NULL;
  long long batch = 0, samples = 0, seed = 1, threads = 0;
  double time_s = -1, tune = -1;
  int rc = 2;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(k_help, stdout);
      rc = 0;
      goto out;
    } else if (!strcmp(a, "--quick")) {
      o.quick = true;
    } else if (!strcmp(a, "--strict")) {
      o.strict = true;
    } else if (!strcmp(a, "--json")) {
      o.json = true;
    } else if (!strcmp(a, "--no-isolate")) {
      o.no_isolate = true;
    } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet") ||
               !strcmp(a, "--verbose") ||
               (a[0] == '-' && a[1] == 'v' &&
                strspn(a + 1, "v") == strlen(a + 1))) {
      /* verbosity: read by the dispatcher (tools/tern.c) */
    } else if (opt_value(argc, argv, &i, "--out", &v)) {
      if (!v || !*v)
        goto missing;
      o.out_dir = v;
    } else if (opt_value(argc, argv, &i, "--models", &v)) {
      if (!v || split(v, o.models, &o.n_models, MX_MAX_LIST, keep, &n_keep))
        goto missing;
    } else if (opt_value(argc, argv, &i, "--precisions", &v)) {
      if (!v ||
          split(v, o.precisions, &o.n_precisions, MX_MAX_LIST, keep, &n_keep))
        goto missing;
      for (int k = 0; k < o.n_precisions; k++)
        if (strcmp(o.precisions[k], "fp32") &&
            strcmp(o.precisions[k], "int8") &&
            strcmp(o.precisions[k], "ternary") &&
            strcmp(o.precisions[k], "mixed")) {
          rc = usage_error("unknown precision '%s' (fp32, int8, ternary, "
                           "mixed)",
                           o.precisions[k]);
          goto out;
        }
    } else if (opt_value(argc, argv, &i, "--device", &v) ||
               opt_value(argc, argv, &i, "--devices", &v)) {
      if (!v || split(v, o.devices, &o.n_devices, MX_MAX_LIST, keep, &n_keep))
        goto missing;
    } else if (opt_value(argc, argv, &i, "--batch", &v)) {
      if (!parse_pos_int(v, 1, 4096, &batch)) {
        rc = usage_error("--batch needs an integer in [1, 4096], not '%s'", v);
        goto out;
      }
    } else if (opt_value(argc, argv, &i, "--samples", &v)) {
      if (!parse_pos_int(v, 1, 100000, &samples)) {
        rc = usage_error("--samples needs an integer in [1, 100000], not '%s'",
                         v);
        goto out;
      }
    } else if (opt_value(argc, argv, &i, "--seed", &v)) {
      if (!parse_pos_int(v, 0, (long long)1 << 62, &seed)) {
        rc = usage_error("--seed needs a non-negative integer, not '%s'", v);
        goto out;
      }
    } else if (opt_value(argc, argv, &i, "--threads", &v)) {
      if (!parse_pos_int(v, 1, 1024, &threads)) {
        rc =
            usage_error("--threads needs an integer in [1, 1024], not '%s'", v);
        goto out;
      }
    } else if (opt_value(argc, argv, &i, "--time", &v)) {
      if (!parse_secs(v, 0, 600, &time_s)) {
        rc = usage_error("--time needs seconds in [0, 600], not '%s'", v);
        goto out;
      }
    } else if (opt_value(argc, argv, &i, "--tune", &v)) {
      if (!parse_secs(v, 0, 86400, &tune)) {
        rc = usage_error("--tune needs seconds in [0, 86400], not '%s'", v);
        goto out;
      }
    } else if (opt_value(argc, argv, &i, "--cell-timeout", &v)) {
      if (!parse_secs(v, 1, 86400, &o.cell_timeout)) {
        rc = usage_error("--cell-timeout needs seconds in [1, 86400], not "
                         "'%s'",
                         v);
        goto out;
      }
    } else if (opt_value(argc, argv, &i, "--train-models", &v)) {
      if (!v || split(v, o.train_models, &o.n_train_models, MX_MAX_LIST, keep,
                      &n_keep))
        goto missing;
    } else if (opt_value(argc, argv, &i, "--train-steps", &v)) {
      long long ts;
      if (!parse_pos_int(v, 1, 10000000, &ts)) {
        rc = usage_error("--train-steps needs a positive integer, not '%s'", v);
        goto out;
      }
      o.train_steps = ts;
    } else if (opt_value(argc, argv, &i, "--data", &v)) {
      if (!v || !*v)
        goto missing;
      o.data = v;
    } else if (opt_value(argc, argv, &i, "--tuning-db", &v)) {
      if (!v || !*v)
        goto missing;
      o.tuning_db = v;
    } else if (opt_value(argc, argv, &i, "--compare", &v)) {
      if (!v || !*v)
        goto missing;
      o.compare = v;
    } else if (opt_value(argc, argv, &i, "--chartjs", &v)) {
      if (!v || !*v)
        goto missing;
      chartjs = v;
    } else if (a[0] == '-') {
      rc = usage_error("unknown option '%s'", a);
      goto out;
    } else {
      if (o.n_files >= MX_MAX_LIST) {
        rc = usage_error("too many model files (at most 32)%s", "");
        goto out;
      }
      o.files[o.n_files++] = a;
    }
    continue;
  missing:
    rc = usage_error("option '%s' needs a value", a);
    goto out;
  }
  /* defaults: the full configuration, or the quick one for CI */
  if (!o.out_dir)
    o.out_dir = "tern-report";
  if (o.n_models == 0 && o.n_files == 0)
    o.n_models = mx_default_models(o.models, MX_MAX_LIST, o.quick);
  if (o.n_precisions == 0) {
    static const char *const all[] = {"fp32", "int8", "ternary", "mixed"};
    for (int k = 0; k < 4; k++)
      o.precisions[o.n_precisions++] = all[k];
  }
  o.batch = batch ? batch : o.quick ? 4 : 8;
  o.samples = samples ? (int)samples : o.quick ? 8 : 32;
  o.time_s = time_s >= 0 ? time_s : o.quick ? 0.01 : 0.2;
  o.max_runs = o.quick ? 20 : 2000;
  o.tune_budget = tune >= 0 ? tune : o.quick ? 0 : 8;
  if (o.n_train_models == 0)
    o.train_models[o.n_train_models++] = "mlp";
  if (o.train_steps <= 0)
    o.train_steps = o.quick ? 60 : 300;
  o.train_samples = o.quick ? 200 : 2000; /* the whole test split */
  if (o.cell_timeout <= 0)
    o.cell_timeout = o.quick ? 120 : 600;
  o.seed = (uint64_t)seed;
  o.threads = (int)threads;
  if (mkdir_p(o.out_dir) != 0) {
    fprintf(stderr, "tern matrix: error: cannot create directory '%s': %s\n",
            o.out_dir, strerror(errno));
    rc = 1;
    goto out;
  }
  mx_report r;
  if (mx_run(&o, &r)) {
    rc = 1;
    goto out;
  }
  char path[4096];
  rc = 0;
  snprintf(path, sizeof path, "%s/matrix.json", o.out_dir);
  rc |= mx_write_json(&r, path, o.json ? stdout : NULL);
  snprintf(path, sizeof path, "%s/matrix.csv", o.out_dir);
  rc |= mx_write_csv(&r, path);
  snprintf(path, sizeof path, "%s/matrix.md", o.out_dir);
  rc |= mx_write_markdown(&r, path);
  snprintf(path, sizeof path, "%s/report.html", o.out_dir);
  bool charts = false;
  rc |= mx_write_html(&r, path, chartjs, &charts);
  if (!charts)
    fprintf(stderr,
            "tern matrix: warning: Chart.js not found (%s); the HTML report "
            "has tables only. Install Debian's libjs-chart.js.\n",
            chartjs ? chartjs : "/usr/share/javascript/chart.js/chart.min.js");
  int ok = 0, failed = 0, q = 0, qexact = 0;
  for (int i = 0; i < r.n_cells; i++) {
    ok += r.cells[i].status == MX_OK;
    failed += r.cells[i].status == MX_FAILED;
    if (r.cells[i].quantized && r.cells[i].has_accuracy) {
      q++;
      qexact += r.cells[i].bit_exact;
    }
  }
  if (o.compare && mx_compare(&r, o.compare, o.json ? stderr : stdout))
    rc = 1;
  FILE *msg = o.json ? stderr : stdout;
  fprintf(msg,
          "%d cells on %d device(s) in %.1f s: %d ok, %d failed; quantized "
          "cells bit-identical to the CPU reference: %d of %d\n",
          r.n_cells, r.n_devices, r.elapsed_s, ok, failed, qexact, q);
  fprintf(msg,
          "report: %s/report.html (also matrix.json, matrix.csv, "
          "matrix.md)\n",
          o.out_dir);
  if (o.strict && failed)
    rc = 1;
  mx_report_free(&r);
out:
  for (int k = 0; k < n_keep; k++)
    free(keep[k]);
  return rc;
}
