/* cmd_tune.c — `tern tune`: search the tunable kernels of each device within
 * a time budget (only candidates that match the CPU reference can win) and
 * keep the winners in the tuning database; `list`, `export`, `import` and
 * `check` manage and share database files. */
#include "cli_common.h"
#include "core/context.h"
#include "core/tuning.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char k_help[] =
    "usage: tern tune [options]                 tune every device\n"
    "       tern tune list [options]            show the database\n"
    "       tern tune export FILE [--device ID] write (a device's) entries\n"
    "       tern tune import FILE... [options]  merge files, faster wins\n"
    "       tern tune check FILE...             validate files\n"
    "\n"
    "Search each device's tunable kernels (workgroup sizes, tiles, vector\n"
    "widths ...), time every candidate that matches the CPU reference, and\n"
    "store the fastest in the tuning database, which sessions then use\n"
    "automatically (lookup: device, architecture, vendor, built-in default).\n"
    "\n"
    "options:\n"
    "  --device ID         only this device (repeatable; default all)\n"
    "  --budget SECONDS    total tuning time (default 60)\n"
    "  --kernels LIST      only these kernels (comma-separated)\n"
    "  --model FILE.tern   tune on this model's layers instead of the\n"
    "                      built-in problems: every node a tunable kernel\n"
    "                      runs on the device, once per shape class\n"
    "                      (repeatable)\n"
    "  --tuning-db PATH    database file (default: TERN_TUNING_DB, else\n"
    "                      $XDG_CACHE_HOME or ~/.cache/tern/tuning.json)\n"
    "  --seed N            candidate order (default fixed)\n"
    "  --sample SECONDS    timing per candidate (default 0.02; longer is\n"
    "                      steadier on a busy machine)\n"
    "  --dry-run           tune but do not write the database\n"
    "  --json              one JSON document on stdout\n"
    "  -v, -q              more logging / no progress lines\n"
    "  -h, --help          this help\n"
    "\n"
    "Progress goes to stderr. Exit codes: 0 success, 1 failure, 2 usage.\n";

typedef struct tune_args {
  const char *devices[32];
  int n_devices;
  const char *kernels[32];
  int n_kernels;
  double budget;
  double sample_s;
  const char *db_path;
  const char *files[64];
  int n_files;
  const char *models[32];
  int n_models;
  unsigned long long seed;
  bool json, dry_run;
  char *kernels_copy;
} tune_args;

static int usage(const char *msg, const char *arg) {
  fprintf(stderr, "tern tune: ");
  fprintf(stderr, msg, arg ? arg : "");
  fprintf(stderr, "\n(see tern tune --help)\n");
  return 2;
}

static bool value_of(int argc, char **argv, int *i, const char *name,
                     const char **v) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n))
    return false;
  if (argv[*i][n] == '=') {
    *v = argv[*i] + n + 1;
    return true;
  }
  if (argv[*i][n])
    return false;
  *v = *i + 1 < argc ? argv[++*i] : NULL;
  return true;
}

static int parse(int argc, char **argv, int first, tune_args *a) {
  for (int i = first; i < argc; i++) {
    const char *s = argv[i], *v;
    if (!strcmp(s, "--json"))
      a->json = true;
    else if (!strcmp(s, "--dry-run"))
      a->dry_run = true;
    else if (!strcmp(s, "-q") || !strcmp(s, "--quiet") ||
             !strcmp(s, "--verbose") ||
             (s[0] == '-' && s[1] == 'v' &&
              strspn(s + 1, "v") == strlen(s + 1)))
      continue; /* verbosity: read by the dispatcher (tools/tern.c) */
    else if (value_of(argc, argv, &i, "--device", &v)) {
      if (!v || !*v || a->n_devices >= 32)
        return usage("--device needs a device id%s", "");
      a->devices[a->n_devices++] = v;
    } else if (value_of(argc, argv, &i, "--budget", &v)) {
      char *end;
      a->budget = v ? strtod(v, &end) : 0;
      if (!v || *end || !(a->budget > 0 && a->budget <= 86400))
        return usage("--budget needs seconds in (0, 86400], not '%s'", v);
    } else if (value_of(argc, argv, &i, "--sample", &v)) {
      char *end;
      a->sample_s = v ? strtod(v, &end) : 0;
      if (!v || *end || !(a->sample_s > 0 && a->sample_s <= 60))
        return usage("--sample needs seconds in (0, 60], not '%s'", v);
    } else if (value_of(argc, argv, &i, "--kernels", &v)) {
      if (!v || !*v)
        return usage("--kernels needs a list%s", "");
      free(a->kernels_copy);
      a->kernels_copy = strdup(v);
      a->n_kernels = 0;
      char *save = NULL;
      for (char *t = strtok_r(a->kernels_copy, ",", &save);
           t && a->n_kernels < 32; t = strtok_r(NULL, ",", &save))
        a->kernels[a->n_kernels++] = t;
    } else if (value_of(argc, argv, &i, "--model", &v)) {
      if (!v || !*v)
        return usage("--model needs a .tern file%s", "");
      if (a->n_models >= 32)
        return usage("at most 32 --model files%s", "");
      a->models[a->n_models++] = v;
    } else if (value_of(argc, argv, &i, "--tuning-db", &v)) {
      if (!v || !*v)
        return usage("--tuning-db needs a path%s", "");
      a->db_path = v;
    } else if (value_of(argc, argv, &i, "--seed", &v)) {
      char *end;
      a->seed = v ? strtoull(v, &end, 10) : 0;
      if (!v || *end)
        return usage("--seed needs an integer, not '%s'", v);
    } else if (s[0] == '-') {
      return usage("unknown option '%s'", s);
    } else {
      if (a->n_files >= 64)
        return usage("too many files%s", "");
      a->files[a->n_files++] = s;
    }
  }
  return 0;
}

static int mkdir_parent(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  char *slash = strrchr(buf, '/');
  if (!slash || slash == buf)
    return 0;
  *slash = 0;
  for (char *p = buf + 1;; p++)
    if (*p == '/' || !*p) {
      char c = *p;
      *p = 0;
      if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -1;
      *p = c;
      if (!c)
        break;
    }
  return 0;
}

/* The database file the command reads and writes. */
static const char *db_file(const tune_args *a, char *buf, size_t n) {
  if (a->db_path)
    return a->db_path;
  const char *env = getenv("TERN_TUNING_DB");
  if (env && *env)
    return env;
  return tern_tuning_default_path(buf, n) ? buf : NULL;
}

static int load_or_empty(const char *path, tern_tuning_db **db) {
  tern_err err;
  tern_err_clear(&err);
  tern_status s = tern_tuning_db_load(path, db, &err);
  if (s == TERN_ERR_NOT_FOUND)
    s = tern_tuning_db_create(db, &err);
  if (s) {
    fprintf(stderr, "tern tune: error: %s\n", err.msg);
    return 1;
  }
  return 0;
}

static int save(const tern_tuning_db *db, const char *path) {
  tern_err err;
  tern_err_clear(&err);
  if (mkdir_parent(path) != 0 || tern_tuning_db_save(db, path, &err)) {
    fprintf(stderr, "tern tune: error: cannot write '%s': %s\n", path,
            err.msg[0] ? err.msg : strerror(errno));
    return 1;
  }
  return 0;
}

static void print_entry(const tern_tuning_entry *e) {
  char p[160];
  tern_tuning_params_str(&e->params, p, sizeof p);
  printf("%-7s %-28.28s %-14s %-36s %-24s %9.1f us", e->key.backend,
         e->key.device, e->key.kernel, e->key.shape, p, e->time_us);
  if (e->default_time_us > 0)
    printf("  (default %.1f us, %.2fx)", e->default_time_us,
           e->default_time_us / e->time_us);
  printf("\n");
}

static int cmd_list(const tune_args *a, const char *path) {
  tern_tuning_db *db;
  if (load_or_empty(path, &db))
    return 1;
  if (a->json) {
    tern_err err;
    char *t = tern_tuning_db_to_json(db, &err);
    if (t)
      printf("%s\n", t);
    free(t);
  } else {
    printf("%s: %d entries\n", path, tern_tuning_db_count(db));
    for (int i = 0; i < tern_tuning_db_count(db); i++)
      print_entry(tern_tuning_db_entry(db, i));
  }
  tern_tuning_db_destroy(db);
  return 0;
}

/* Entries of the named devices (all when none) into a new file. */
static int cmd_export(const tune_args *a, const char *path) {
  if (a->n_files != 1)
    return usage("export needs exactly one output FILE%s", "");
  tern_tuning_db *db, *out;
  tern_err err;
  if (load_or_empty(path, &db))
    return 1;
  tern_tuning_db_create(&out, &err);
  tern_context *ctx = NULL;
  if (a->n_devices && tern_context_create(NULL, &ctx)) {
    fprintf(stderr, "tern tune: error: %s\n", tern_last_error());
    return 1;
  }
  for (int i = 0; i < tern_tuning_db_count(db); i++) {
    const tern_tuning_entry *e = tern_tuning_db_entry(db, i);
    bool want = a->n_devices == 0;
    for (int d = 0; d < a->n_devices && !want; d++) {
      int di = tern_context_find_device(ctx, a->devices[d]);
      if (di < 0) {
        fprintf(stderr, "tern tune: error: no device '%s'\n", a->devices[d]);
        tern_context_destroy(ctx);
        return 1;
      }
      const tern_device_info *in = &ctx->devices[di].info;
      want = !strcmp(in->backend, e->key.backend) &&
             !strcmp(in->name, e->key.device);
    }
    if (want)
      tern_tuning_db_put(out, e, &err);
  }
  int rc = save(out, a->files[0]);
  if (!rc)
    fprintf(a->json ? stderr : stdout, "exported %d entries to %s\n",
            tern_tuning_db_count(out), a->files[0]);
  tern_context_destroy(ctx);
  tern_tuning_db_destroy(out);
  tern_tuning_db_destroy(db);
  return rc;
}

static int cmd_import(const tune_args *a, const char *path, bool check_only) {
  if (a->n_files < 1)
    return usage("%s needs at least one FILE", check_only ? "check" : "import");
  tern_tuning_db *db = NULL;
  if (!check_only && load_or_empty(path, &db))
    return 1;
  int rc = 0, added = 0, replaced = 0;
  for (int f = 0; f < a->n_files; f++) {
    tern_tuning_db *in;
    tern_err err;
    tern_err_clear(&err);
    if (tern_tuning_db_load(a->files[f], &in, &err)) {
      fprintf(stderr, "tern tune: error: %s\n", err.msg);
      rc = 1;
      continue;
    }
    if (check_only)
      printf("%s: valid, %d entries\n", a->files[f], tern_tuning_db_count(in));
    else {
      int ad = 0, rp = 0;
      tern_tuning_db_merge(db, in, &ad, &rp, &err);
      added += ad;
      replaced += rp;
    }
    tern_tuning_db_destroy(in);
  }
  if (!check_only && !rc) {
    rc = save(db, path);
    if (!rc)
      printf("%s: %d added, %d replaced by faster entries, %d in all\n", path,
             added, replaced, tern_tuning_db_count(db));
  }
  tern_tuning_db_destroy(db);
  return rc;
}

typedef struct prog {
  bool json;
} prog;

static void on_progress(void *user, const tern_tune_progress *p) {
  (void)user;
  if (cli_verbosity() < 1)
    return;
  char cfg[160];
  tern_tuning_params_str(p->cfg, cfg, sizeof cfg);
  fprintf(stderr, "[%s %5.1fs] %s %s (%d/%d) candidate %d/%d %s: ", p->device,
          p->elapsed_s, p->kernel, p->shape, p->problem, p->problems,
          p->candidate, p->candidates, cfg);
  if (p->time_us > 0)
    fprintf(stderr, "%.1f us", p->time_us);
  else
    fprintf(stderr, "%s", p->status);
  fprintf(stderr, " (best %.1f us)\n", p->best_us);
}

/* Per kernel of one device: how many problems, how many got faster than
 * the built-in default, the best and the geometric-mean speed-up (tuned /
 * default time, 1.00 where the default won). */
typedef struct kernel_sum {
  char kernel[64];
  int problems, faster;
  double best, log_sum;
  char best_shape[64];
} kernel_sum;

static int summarize(const tern_tune_result *res, int n, kernel_sum *out,
                     int max) {
  int k = 0;
  for (int i = 0; i < n; i++) {
    const tern_tune_result *r = &res[i];
    if (r->best_us <= 0 || r->default_us <= 0)
      continue;
    int j = 0;
    while (j < k && strcmp(out[j].kernel, r->kernel))
      j++;
    if (j == k) {
      if (k == max)
        continue;
      memset(&out[k], 0, sizeof out[k]);
      snprintf(out[k].kernel, sizeof out[k].kernel, "%s", r->kernel);
      k++;
    }
    double x = r->default_us / r->best_us;
    kernel_sum *s = &out[j];
    s->problems++;
    s->faster += x > 1.0;
    s->log_sum += log(x);
    if (x > s->best || s->problems == 1) {
      s->best = x;
      snprintf(s->best_shape, sizeof s->best_shape, "%s", r->shape);
    }
  }
  return k;
}

static json_object *params_json(const tern_tuning_params *p) {
  json_object *o = json_object_new_object();
  for (int i = 0; i < p->count; i++)
    json_object_object_add(o, p->name[i], json_object_new_int(p->value[i]));
  return o;
}

static void free_models(tern_graph **g, int n) {
  for (int i = 0; i < n; i++)
    tern_graph_destroy(g[i]);
}

/* Every --model file, before any device is opened: a missing or corrupt
 * file is an error naming it. */
static int load_models(const tune_args *a, tern_graph **g) {
  for (int i = 0; i < a->n_models; i++) {
    if (tern_graph_load(a->models[i], NULL, &g[i])) {
      fprintf(stderr, "tern tune: error: cannot load model '%s': %s\n",
              a->models[i], tern_last_error());
      free_models(g, i);
      return 1;
    }
  }
  return 0;
}

static int cmd_run_tuning_models(const tune_args *a, const char *path,
                                 const tern_graph *const *models) {
  tern_context_desc cd;
  memset(&cd, 0, sizeof cd);
  cd.size = sizeof cd;
  cd.tuning_db_path = path;
  tern_context *ctx;
  if (tern_context_create(&cd, &ctx)) {
    fprintf(stderr, "tern tune: error: %s\n", tern_last_error());
    return 1;
  }
  tern_tuning_db *db = tern_context_tuning_db(ctx);
  tern_tuning_db *mem = NULL;
  tern_err err;
  if (!db) {
    tern_tuning_db_create(&mem, &err);
    db = mem;
  }
  /* the devices to tune: the named ones, else all */
  int ids[TERN_CTX_MAX_DEVICES], n_ids = 0;
  for (int d = 0; d < a->n_devices; d++) {
    int di = tern_context_find_device(ctx, a->devices[d]);
    if (di < 0) {
      fprintf(stderr, "tern tune: error: no device '%s' (see tern devices)\n",
              a->devices[d]);
      tern_context_destroy(ctx);
      tern_tuning_db_destroy(mem);
      return 1;
    }
    ids[n_ids++] = di;
  }
  if (!a->n_devices)
    for (int d = 0; d < ctx->n_devices; d++)
      ids[n_ids++] = d;
  double budget = a->budget > 0 ? a->budget : 60;
  json_object *root = json_object_new_object(), *arr = json_object_new_array();
  json_object *sums = json_object_new_array(), *devs = json_object_new_array();
  int rc = 0, stored = 0;
  for (int k = 0; k < n_ids; k++) {
    const tern_device_info *in = &ctx->devices[ids[k]].info;
    tern_tune_options o;
    memset(&o, 0, sizeof o);
    o.budget_s = budget / n_ids;
    o.kernels = a->n_kernels ? a->kernels : NULL;
    o.n_kernels = a->n_kernels;
    o.seed = a->seed;
    o.sample_s = a->sample_s;
    o.progress = on_progress;
    o.graphs = models;
    o.n_graphs = a->n_models;
    double load0[1] = {-1}, load1[1] = {-1};
    if (getloadavg(load0, 1) != 1)
      load0[0] = -1;
    fprintf(stderr, "tuning %s (%s) for %.0f s (load average %.2f)\n", in->id,
            in->name, o.budget_s, load0[0]);
    tern_tune_result *res = NULL;
    int n = 0;
    tern_err_clear(&err);
    uint64_t t0 = tern_now_ns();
    tern_status ts =
        tern_tune_device(ctx, in->id, &o, NULL, 0, db, &res, &n, &err);
    double used = (double)(tern_now_ns() - t0) * 1e-9;
    if (getloadavg(load1, 1) != 1)
      load1[0] = -1;
    if (ts) {
      fprintf(stderr, "tern tune: error: %s\n", err.msg);
      rc = 1;
      continue;
    }
    if (n == 0)
      fprintf(stderr, "%s: no tunable kernels%s%s\n", in->id,
              a->n_kernels ? " match --kernels" : "",
              a->n_models ? " run a node of the models here" : "");
    for (int i = 0; i < n; i++) {
      tern_tune_result *r = &res[i];
      stored += r->stored;
      char b[160], d[160];
      tern_tuning_params_str(&r->best, b, sizeof b);
      tern_tuning_params_str(&r->defaults, d, sizeof d);
      if (!a->json) {
        printf("%-8s %-11s %-32s ", r->device, r->kernel, r->shape);
        if (r->best_us > 0 && r->default_us > 0)
          printf("%8.1f us -> %8.1f us (%.2fx)  %s", r->default_us, r->best_us,
                 r->default_us / r->best_us, b);
        else if (r->best_us > 0)
          printf("default failed -> %8.1f us  %s", r->best_us, b);
        else
          printf("no candidate matched the reference");
        printf("  [%d tried, %d pruned, %d wrong, %d failed%s]\n", r->tried,
               r->pruned, r->wrong, r->failed,
               r->budget_hit ? ", budget reached" : "");
      }
      json_object *x = json_object_new_object();
      json_object_object_add(x, "device", json_object_new_string(r->device));
      json_object_object_add(x, "kernel", json_object_new_string(r->kernel));
      json_object_object_add(x, "shape", json_object_new_string(r->shape));
      json_object_object_add(x, "default_params", params_json(&r->defaults));
      json_object_object_add(x, "best_params",
                             r->best_us > 0 ? params_json(&r->best) : NULL);
      json_object_object_add(
          x, "default_us",
          r->default_us > 0 ? json_object_new_double(r->default_us) : NULL);
      json_object_object_add(x, "best_us",
                             r->best_us > 0 ? json_object_new_double(r->best_us)
                                            : NULL);
      json_object_object_add(
          x, "speedup",
          r->best_us > 0 && r->default_us > 0
              ? json_object_new_double(r->default_us / r->best_us)
              : NULL);
      json_object_object_add(x, "candidates",
                             json_object_new_int(r->candidates));
      json_object_object_add(x, "tried", json_object_new_int(r->tried));
      json_object_object_add(x, "pruned", json_object_new_int(r->pruned));
      json_object_object_add(x, "wrong", json_object_new_int(r->wrong));
      json_object_object_add(x, "failed", json_object_new_int(r->failed));
      json_object_object_add(x, "default_wrong",
                             json_object_new_boolean(r->default_wrong));
      json_object_object_add(x, "budget_hit",
                             json_object_new_boolean(r->budget_hit));
      json_object_array_add(arr, x);
      (void)d;
    }
    /* tuned vs default per kernel: the figure the tuner is for */
    kernel_sum ks[32];
    int nk = summarize(res, n, ks, 32);
    if (!a->json && nk > 0) {
      printf("%s: tuned vs built-in default per kernel (%.0f of %.0f s, load "
             "average %.2f -> %.2f)\n",
             in->id, used, o.budget_s, load0[0], load1[0]);
      for (int i = 0; i < nk; i++)
        printf("  %-11s best %5.2fx (%s)  geomean %5.2fx  faster on %d of %d "
               "problems\n",
               ks[i].kernel, ks[i].best, ks[i].best_shape,
               exp(ks[i].log_sum / ks[i].problems), ks[i].faster,
               ks[i].problems);
    }
    for (int i = 0; i < nk; i++) {
      json_object *x = json_object_new_object();
      json_object_object_add(x, "device", json_object_new_string(in->id));
      json_object_object_add(x, "kernel", json_object_new_string(ks[i].kernel));
      json_object_object_add(x, "problems",
                             json_object_new_int(ks[i].problems));
      json_object_object_add(x, "faster", json_object_new_int(ks[i].faster));
      json_object_object_add(x, "best_speedup",
                             json_object_new_double(ks[i].best));
      json_object_object_add(x, "best_shape",
                             json_object_new_string(ks[i].best_shape));
      json_object_object_add(
          x, "geomean_speedup",
          json_object_new_double(exp(ks[i].log_sum / ks[i].problems)));
      json_object_array_add(sums, x);
    }
    json_object *dj = json_object_new_object();
    json_object_object_add(dj, "device", json_object_new_string(in->id));
    json_object_object_add(dj, "name", json_object_new_string(in->name));
    json_object_object_add(dj, "budget_s", json_object_new_double(o.budget_s));
    json_object_object_add(dj, "elapsed_s", json_object_new_double(used));
    json_object_object_add(dj, "load_avg_start",
                           load0[0] >= 0 ? json_object_new_double(load0[0])
                                         : NULL);
    json_object_object_add(dj, "load_avg_end",
                           load1[0] >= 0 ? json_object_new_double(load1[0])
                                         : NULL);
    json_object_array_add(devs, dj);
    free(res);
    /* saved after every device: a crash later keeps what was found */
    if (!a->dry_run && path && stored > 0 && save(db, path))
      rc = 1;
  }
  bool write = !a->dry_run && path && stored > 0;
  json_object_object_add(root, "tuning_db",
                         path ? json_object_new_string(path) : NULL);
  json_object_object_add(root, "saved", json_object_new_boolean(write && !rc));
  json_object_object_add(root, "devices", devs);
  json_object_object_add(root, "results", arr);
  json_object_object_add(root, "summary", sums);
  if (a->json)
    printf("%s\n", json_object_to_json_string_ext(
                       root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                 JSON_C_TO_STRING_NOSLASHESCAPE));
  else if (write && !rc)
    printf("%d entries written to %s\n", stored, path);
  else if (!path)
    printf("no database path (set --tuning-db or HOME): results not saved\n");
  json_object_put(root);
  tern_context_destroy(ctx);
  tern_tuning_db_destroy(mem);
  return rc;
}

static int cmd_run_tuning(const tune_args *a, const char *path) {
  tern_graph *models[32] = {0};
  if (load_models(a, models))
    return 1;
  int rc = cmd_run_tuning_models(a, path, (const tern_graph *const *)models);
  free_models(models, a->n_models);
  return rc;
}

int cmd_tune(int argc, char **argv) {
  int first = 1;
  const char *sub = NULL;
  if (argc > 1 && argv[1][0] != '-') {
    sub = argv[1];
    first = 2;
  }
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      fputs(k_help, stdout);
      return 0;
    }
  tune_args a;
  memset(&a, 0, sizeof a);
  int rc = parse(argc, argv, first, &a);
  if (rc) {
    free(a.kernels_copy);
    return rc;
  }
  char buf[2048];
  const char *path = db_file(&a, buf, sizeof buf);
  if (!sub) {
    if (a.n_files) {
      free(a.kernels_copy);
      return usage("unexpected argument '%s'", a.files[0]);
    }
    rc = cmd_run_tuning(&a, path);
  } else if (a.n_models) {
    rc = usage("--model is for tuning, not for '%s'", sub);
  } else if (!path && strcmp(sub, "check")) {
    rc = usage("no database path: give --tuning-db PATH%s", "");
  } else if (!strcmp(sub, "list")) {
    rc = cmd_list(&a, path);
  } else if (!strcmp(sub, "export")) {
    rc = cmd_export(&a, path);
  } else if (!strcmp(sub, "import")) {
    rc = cmd_import(&a, path, false);
  } else if (!strcmp(sub, "check")) {
    rc = cmd_import(&a, path, true);
  } else {
    rc = usage("unknown subcommand '%s' (list, export, import, check)", sub);
  }
  free(a.kernels_copy);
  return rc;
}
