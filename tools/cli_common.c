/* cli_common.c — option parsing, messages, the JSON writer and the graph
 * helpers every `tern` command uses (see cli_common.h). */
#include "cli_common.h"

#include "tern_internal.h" /* graph metadata arrays (no public iterator) */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *g_command = "tern";
static int g_verbosity = 1;

void cli_set_command(const char *name) {
  g_command = name;
}
void cli_set_verbosity(int level) {
  g_verbosity = level;
}
int cli_verbosity(void) {
  return g_verbosity;
}

int cli_error(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: error: ", g_command);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return CLI_EXIT_FAIL;
}

int cli_usage_error(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", g_command);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n(see '%s --help')\n", g_command);
  return CLI_EXIT_USAGE;
}

void cli_note(const char *fmt, ...) {
  if (g_verbosity < 1)
    return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* ------------------------------------------------------------ numbers */
bool cli_parse_i64(const char *s, int64_t *out) {
  if (!s || !*s)
    return false;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end)
    return false;
  *out = v;
  return true;
}

bool cli_parse_u64(const char *s, uint64_t *out) {
  if (!s || !*s || *s == '-')
    return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || *end)
    return false;
  *out = v;
  return true;
}

bool cli_parse_double(const char *s, double *out) {
  if (!s || !*s)
    return false;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || !isfinite(v))
    return false;
  *out = v;
  return true;
}

bool cli_parse_range(const char *s, int64_t max, int64_t *a, int64_t *b) {
  const char *colon = s ? strchr(s, ':') : NULL;
  if (!colon)
    return false;
  char left[32];
  size_t n = (size_t)(colon - s);
  if (n >= sizeof left)
    return false;
  memcpy(left, s, n);
  left[n] = 0;
  int64_t x = 0, y = max;
  if (n && !cli_parse_i64(left, &x))
    return false;
  if (colon[1] && !cli_parse_i64(colon + 1, &y))
    return false;
  if (x < 0 || y > max || x >= y)
    return false;
  *a = x;
  *b = y;
  return true;
}

/* ------------------------------------------------------------ options */
static const cli_opt k_verbose = {
    "verbose", 'v',  CLI_FLAG,
    NULL,      NULL, "more log output on stderr (-vv: debug)"};
static const cli_opt k_quiet = {"quiet", 'q',  CLI_FLAG,
                                NULL,    NULL, "only errors on stderr"};
static const cli_opt k_help = {"help", 'h',  CLI_FLAG,
                               NULL,   NULL, "show this help"};

static void print_opt(const cli_opt *o, FILE *f) {
  char left[64];
  int n = 0;
  if (o->short_name)
    n = snprintf(left, sizeof left, "-%c, --%s", o->short_name, o->name);
  else
    n = snprintf(left, sizeof left, "    --%s", o->name);
  if (o->metavar && n > 0 && (size_t)n < sizeof left)
    snprintf(left + n, sizeof left - (size_t)n, " %s", o->metavar);
  fprintf(f, "  %-28s %s\n", left, o->help ? o->help : "");
}

void cli_print_help(const cli_spec *spec, FILE *f) {
  fprintf(f, "usage: %s\n\n%s\n\noptions:\n", spec->usage, spec->summary);
  for (int i = 0; i < spec->n_opts; i++)
    print_opt(&spec->opts[i], f);
  print_opt(&k_verbose, f);
  print_opt(&k_quiet, f);
  print_opt(&k_help, f);
  if (spec->epilog)
    fprintf(f, "\n%s\n", spec->epilog);
}

static cli_parse_result set_value(const cli_opt *o, const char *v) {
  switch (o->kind) {
  case CLI_STRING:
    *(const char **)o->dest = v;
    return CLI_PARSED;
  case CLI_INT: {
    int64_t x;
    if (!cli_parse_i64(v, &x) || x < -2147483647 || x > 2147483647)
      break;
    *(int *)o->dest = (int)x;
    return CLI_PARSED;
  }
  case CLI_INT64:
    if (!cli_parse_i64(v, (int64_t *)o->dest))
      break;
    return CLI_PARSED;
  case CLI_UINT64:
    if (!cli_parse_u64(v, (uint64_t *)o->dest))
      break;
    return CLI_PARSED;
  case CLI_DOUBLE:
    if (!cli_parse_double(v, (double *)o->dest))
      break;
    return CLI_PARSED;
  case CLI_LIST: {
    cli_list *l = o->dest;
    if (l->n >= CLI_LIST_MAX) {
      cli_usage_error("--%s given more than %d times", o->name, CLI_LIST_MAX);
      return CLI_USAGE_ERROR;
    }
    l->v[l->n++] = v;
    return CLI_PARSED;
  }
  case CLI_FLAG:
    break;
  }
  cli_usage_error("invalid value '%s' for --%s", v, o->name);
  return CLI_USAGE_ERROR;
}

cli_parse_result cli_parse(const cli_spec *spec, int argc, char **argv,
                           int first, const char **pos, int *n_pos) {
  int np = 0;
  bool options_done = false;
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    if (options_done || a[0] != '-' || a[1] == 0) {
      if (np >= spec->max_pos) {
        cli_usage_error("unexpected argument '%s'", a);
        return CLI_USAGE_ERROR;
      }
      pos[np++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      options_done = true;
      continue;
    }
    const cli_opt *o = NULL;
    const char *inline_val = NULL;
    if (a[1] == '-') {
      const char *name = a + 2;
      const char *eq = strchr(name, '=');
      size_t len = eq ? (size_t)(eq - name) : strlen(name);
      if (eq)
        inline_val = eq + 1;
      if (len == 4 && strncmp(name, "help", 4) == 0) {
        cli_print_help(spec, stdout);
        return CLI_HELP_SHOWN;
      }
      /* main() applies -v/-q before the command runs */
      if ((len == 7 && strncmp(name, "verbose", 7) == 0) ||
          (len == 5 && strncmp(name, "quiet", 5) == 0))
        continue;
      for (int k = 0; k < spec->n_opts; k++)
        if (strlen(spec->opts[k].name) == len &&
            strncmp(spec->opts[k].name, name, len) == 0)
          o = &spec->opts[k];
    } else {
      if (a[2] != 0 && (a[1] != 'v' || strspn(a + 1, "v") != strlen(a + 1))) {
        /* -ofile style is not supported; -vv is */
        for (int k = 0; k < spec->n_opts; k++)
          if (spec->opts[k].short_name == a[1] &&
              spec->opts[k].kind != CLI_FLAG) {
            o = &spec->opts[k];
            inline_val = a + 2;
          }
        if (!o) {
          cli_usage_error("unknown option '%s'", a);
          return CLI_USAGE_ERROR;
        }
      } else if (a[1] == 'h') {
        cli_print_help(spec, stdout);
        return CLI_HELP_SHOWN;
      } else if (a[1] == 'v' || a[1] == 'q') {
        continue;
      } else {
        for (int k = 0; k < spec->n_opts; k++)
          if (spec->opts[k].short_name == a[1])
            o = &spec->opts[k];
      }
    }
    if (!o) {
      cli_usage_error("unknown option '%s'", a);
      return CLI_USAGE_ERROR;
    }
    if (o->kind == CLI_FLAG) {
      if (inline_val) {
        cli_usage_error("--%s takes no value", o->name);
        return CLI_USAGE_ERROR;
      }
      *(bool *)o->dest = true;
      continue;
    }
    const char *v = inline_val;
    if (!v) {
      if (i + 1 >= argc) {
        cli_usage_error("--%s needs a value (%s)", o->name,
                        o->metavar ? o->metavar : "VALUE");
        return CLI_USAGE_ERROR;
      }
      v = argv[++i];
    }
    cli_parse_result r = set_value(o, v);
    if (r != CLI_PARSED)
      return r;
  }
  if (np < spec->min_pos) {
    cli_usage_error("missing argument (usage: %s)", spec->usage);
    return CLI_USAGE_ERROR;
  }
  *n_pos = np;
  return CLI_PARSED;
}

/* --------------------------------------------------------------- JSON */
void cj_init(cli_json *j, FILE *f) {
  memset(j, 0, sizeof *j);
  j->f = f;
  j->first[0] = true;
}

/* Separator before a value or a key at the current level. */
static void sep(cli_json *j) {
  if (j->after_key) {
    j->after_key = false;
    return;
  }
  if (!j->first[j->depth])
    fputc(',', j->f);
  j->first[j->depth] = false;
}

static void open_(cli_json *j, char c) {
  sep(j);
  fputc(c, j->f);
  if (j->depth + 1 < CLI_JSON_DEPTH)
    j->depth++;
  j->first[j->depth] = true;
}

static void close_(cli_json *j, char c) {
  fputc(c, j->f);
  if (j->depth > 0)
    j->depth--;
}

void cj_object(cli_json *j) {
  open_(j, '{');
}
void cj_object_end(cli_json *j) {
  close_(j, '}');
}
void cj_array(cli_json *j) {
  open_(j, '[');
}
void cj_array_end(cli_json *j) {
  close_(j, ']');
}

static void write_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"':
      fputs("\\\"", f);
      break;
    case '\\':
      fputs("\\\\", f);
      break;
    case '\n':
      fputs("\\n", f);
      break;
    case '\r':
      fputs("\\r", f);
      break;
    case '\t':
      fputs("\\t", f);
      break;
    default:
      if (*p < 0x20)
        fprintf(f, "\\u%04x", *p);
      else
        fputc(*p, f); /* UTF-8 passes through */
    }
  }
  fputc('"', f);
}

void cj_key(cli_json *j, const char *key) {
  sep(j);
  write_string(j->f, key);
  fputc(':', j->f);
  j->after_key = true;
}

void cj_str(cli_json *j, const char *v) {
  sep(j);
  if (v)
    write_string(j->f, v);
  else
    fputs("null", j->f);
}

void cj_int(cli_json *j, long long v) {
  sep(j);
  fprintf(j->f, "%lld", v);
}

void cj_uint(cli_json *j, unsigned long long v) {
  sep(j);
  fprintf(j->f, "%llu", v);
}

void cj_double(cli_json *j, double v) {
  sep(j);
  if (isfinite(v))
    fprintf(j->f, "%.10g", v);
  else
    fputs("null", j->f);
}

void cj_bool(cli_json *j, bool v) {
  sep(j);
  fputs(v ? "true" : "false", j->f);
}

void cj_null(cli_json *j) {
  sep(j);
  fputs("null", j->f);
}

void cj_shape(cli_json *j, int ndim, const int64_t *shape) {
  cj_array(j);
  for (int i = 0; i < ndim; i++)
    cj_int(j, (long long)shape[i]);
  cj_array_end(j);
}

void cj_finish(cli_json *j) {
  fputc('\n', j->f);
  fflush(j->f);
}

void cj_kstr(cli_json *j, const char *k, const char *v) {
  cj_key(j, k);
  cj_str(j, v);
}
void cj_kint(cli_json *j, const char *k, long long v) {
  cj_key(j, k);
  cj_int(j, v);
}
void cj_kuint(cli_json *j, const char *k, unsigned long long v) {
  cj_key(j, k);
  cj_uint(j, v);
}
void cj_kdouble(cli_json *j, const char *k, double v) {
  cj_key(j, k);
  cj_double(j, v);
}
void cj_kbool(cli_json *j, const char *k, bool v) {
  cj_key(j, k);
  cj_bool(j, v);
}

/* ------------------------------------------------------- tern helpers */
const char *cli_shape_str(int ndim, const int64_t *shape, char *buf, size_t n) {
  size_t off = 0;
  buf[0] = 0;
  off += (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < ndim && off < n; i++)
    off += (size_t)snprintf(buf + off, n - off, "%s%" PRId64, i ? ", " : "",
                            shape[i]);
  if (off < n)
    snprintf(buf + off, n - off, "]");
  return buf;
}

int64_t cli_numel(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= shape[i];
  return n;
}

const char *cli_bytes_str(uint64_t bytes, char *buf, size_t n) {
  if (bytes < 1024)
    snprintf(buf, n, "%llu B", (unsigned long long)bytes);
  else if (bytes < 1024ull * 1024)
    snprintf(buf, n, "%.1f KiB", (double)bytes / 1024.0);
  else if (bytes < 1024ull * 1024 * 1024)
    snprintf(buf, n, "%.2f MiB", (double)bytes / (1024.0 * 1024.0));
  else
    snprintf(buf, n, "%.2f GiB", (double)bytes / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

int cli_load_graph(const char *path, tern_graph **out) {
  tern_status s = tern_graph_load(path, NULL, out);
  if (s) {
    /* the library's message usually names the file already */
    const char *msg = tern_last_error();
    if (strstr(msg, path))
      return cli_error("%s (%s)", msg, tern_status_name(s));
    return cli_error("cannot load '%s': %s (%s)", path, msg,
                     tern_status_name(s));
  }
  return CLI_EXIT_OK;
}

int64_t cli_file_size(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    return -1;
  return (int64_t)st.st_size;
}

int cli_graph_metadata(const tern_graph *g, const char *const **keys,
                       const char *const **values) {
  *keys = (const char *const *)g->meta_keys;
  *values = (const char *const *)g->meta_values;
  return g->n_meta;
}

bool cli_parse_storage(const char *s, tern_ternary_storage *out) {
  if (strcmp(s, "2bit") == 0 || strcmp(s, "2") == 0) {
    *out = TERN_STORE_2BIT;
    return true;
  }
  if (strcmp(s, "1.58bit") == 0 || strcmp(s, "1.58") == 0) {
    *out = TERN_STORE_158BIT;
    return true;
  }
  return false;
}

int cli_open_session(const tern_graph *g, const cli_session_opts *o,
                     tern_context **ctx_out, tern_session **sess_out) {
  const char *want = o->backend && *o->backend ? o->backend : "cpu";
  char backend[32];
  const char *colon = strchr(want, ':');
  size_t blen = colon ? (size_t)(colon - want) : strlen(want);
  if (blen == 0 || blen >= sizeof backend || (colon && !colon[1]))
    return cli_usage_error("bad --backend '%s' (cpu, vulkan, opencl or a "
                           "device id such as vulkan:0)",
                           want);
  memcpy(backend, want, blen);
  backend[blen] = 0;
  tern_context_desc cd = {.size = sizeof cd};
  cd.backends = backend;
  cd.thread_count = o->threads;
  tern_context *ctx = NULL;
  tern_status s = tern_context_create(&cd, &ctx);
  if (s)
    return cli_error("cannot create a context for '%s': %s", backend,
                     tern_last_error());
  /* a bare backend name means its first device */
  char device[32] = "";
  int n = tern_context_device_count(ctx);
  for (int i = 0; i < n && !device[0]; i++) {
    tern_device_info di = {.size = sizeof di};
    if (tern_context_device_info(ctx, i, &di) != TERN_OK)
      continue;
    if (colon ? strcmp(di.id, want) == 0 : strcmp(di.backend, backend) == 0)
      snprintf(device, sizeof device, "%s", di.id);
  }
  if (!device[0]) {
    tern_context_destroy(ctx);
    return cli_error("no device '%s' (see 'tern devices')", want);
  }
  tern_session_desc sd = {.size = sizeof sd};
  sd.device = device;
  sd.batch = o->batch;
  sd.reference = o->reference;
  sd.no_fusion = o->no_fusion;
  sd.no_fallback = o->no_fallback;
  tern_session *sess = NULL;
  s = tern_session_create(ctx, g, &sd, &sess);
  if (s) {
    int r = cli_error("cannot create a session on %s: %s (%s)", device,
                      tern_context_errmsg(ctx)[0] ? tern_context_errmsg(ctx)
                                                  : tern_last_error(),
                      tern_status_name(s));
    tern_context_destroy(ctx);
    return r;
  }
  *ctx_out = ctx;
  *sess_out = sess;
  return CLI_EXIT_OK;
}

/* ------------------------------------------------------ graph rebuild */
int cli_weight_layers(const tern_graph *g, int id, int *layer_index,
                      const char **layer_name) {
  int n = tern_graph_node_count(g), count = 0;
  *layer_index = -1;
  *layer_name = NULL;
  for (int i = 0; i < n; i++) {
    tern_node_info ni = {.size = sizeof ni};
    if (tern_graph_node_info(g, i, &ni) != TERN_OK)
      continue;
    if (ni.op != TERN_OP_LINEAR && ni.op != TERN_OP_CONV2D)
      continue;
    if (ni.n_inputs > 1 && ni.inputs[1] == id && *layer_index < 0) {
      *layer_index = count;
      *layer_name = ni.name;
    }
    count++;
  }
  return count;
}

int cli_graph_rebuild(const tern_graph *src, cli_constant_fn fn, void *user,
                      tern_graph **out) {
  int nt = tern_graph_tensor_count(src);
  int *map = malloc((size_t)(nt > 0 ? nt : 1) * sizeof(int));
  tern_graph *g = NULL;
  int rc = CLI_EXIT_FAIL;
  tern_status s = TERN_OK;
  if (!map)
    return cli_error("out of memory");
  for (int i = 0; i < nt; i++)
    map[i] = -1;
  if ((s = tern_graph_create(&g))) {
    cli_error("%s", tern_last_error());
    goto done;
  }
  /* inputs first, in their order */
  for (int i = 0; i < tern_graph_input_count(src); i++) {
    int id;
    tern_tensor_info ti = {.size = sizeof ti};
    if ((s = tern_graph_input(src, i, &id)) ||
        (s = tern_graph_tensor_info(src, id, &ti)) ||
        (s = tern_graph_add_input(g, ti.name, ti.ndim, ti.shape, &map[id]))) {
      cli_error("rebuilding input %d: %s", i, tern_last_error());
      goto done;
    }
  }
  for (int id = 0; id < nt; id++) {
    tern_tensor_info ti = {.size = sizeof ti};
    if ((s = tern_graph_tensor_info(src, id, &ti))) {
      cli_error("tensor %d: %s", id, tern_last_error());
      goto done;
    }
    if (ti.kind != TERN_TENSOR_CONSTANT)
      continue;
    tern_constant_desc cd = {.size = sizeof cd};
    cd.name = ti.name;
    cd.dtype = ti.dtype;
    cd.ndim = ti.ndim;
    cd.shape = ti.shape;
    cd.data = ti.data;
    cd.data_bytes = ti.data_bytes;
    cd.scales = ti.scales;
    cd.scale_count = ti.scale_count;
    if (fn) {
      int li;
      const char *ln;
      cli_weight_layers(src, id, &li, &ln);
      tern_constant_desc repl = cd;
      int r = fn(user, &ti, ln, li, &repl);
      if (r < 0)
        goto done;
      if (r > 0)
        cd = repl;
    }
    if ((s = tern_graph_add_constant(g, &cd, &map[id]))) {
      cli_error("constant '%s': %s", ti.name, tern_graph_errmsg(g));
      goto done;
    }
  }
  for (int i = 0; i < tern_graph_node_count(src); i++) {
    tern_node_info ni = {.size = sizeof ni};
    if ((s = tern_graph_node_info(src, i, &ni))) {
      cli_error("node %d: %s", i, tern_last_error());
      goto done;
    }
    tern_node_desc nd = {.size = sizeof nd};
    nd.op = ni.op;
    nd.name = ni.name;
    nd.n_inputs = ni.n_inputs;
    nd.params = ni.params;
    for (int k = 0; k < ni.n_inputs; k++) {
      if (ni.inputs[k] < 0 || ni.inputs[k] >= nt || map[ni.inputs[k]] < 0) {
        cli_error("node '%s' reads tensor %d before it exists", ni.name,
                  ni.inputs[k]);
        goto done;
      }
      nd.inputs[k] = map[ni.inputs[k]];
    }
    if (ni.output < 0 || ni.output >= nt) {
      cli_error("node '%s' has a bad output id", ni.name);
      goto done;
    }
    if ((s = tern_graph_add_node(g, &nd, &map[ni.output]))) {
      cli_error("node '%s': %s", ni.name, tern_graph_errmsg(g));
      goto done;
    }
  }
  for (int i = 0; i < tern_graph_output_count(src); i++) {
    int id;
    if ((s = tern_graph_output(src, i, &id)) || id < 0 || id >= nt ||
        map[id] < 0 || (s = tern_graph_add_output(g, map[id]))) {
      cli_error("output %d: %s", i, tern_last_error());
      goto done;
    }
  }
  const char *const *keys, *const *values;
  int nm = cli_graph_metadata(src, &keys, &values);
  for (int i = 0; i < nm; i++)
    if ((s = tern_graph_set_metadata(g, keys[i], values[i]))) {
      cli_error("metadata: %s", tern_graph_errmsg(g));
      goto done;
    }
  *out = g;
  g = NULL;
  rc = CLI_EXIT_OK;
done:
  tern_graph_destroy(g);
  free(map);
  return rc;
}

bool cli_dequantize(const tern_tensor_info *t, float *out) {
  int64_t rows = t->ndim > 0 ? t->shape[0] : 1;
  int64_t cols = t->ndim > 0 ? cli_numel(t->ndim - 1, t->shape + 1) : 1;
  int64_t n = rows * cols;
  switch (t->dtype) {
  case TERN_DTYPE_F32:
    memcpy(out, t->data, (size_t)n * sizeof(float));
    return true;
  case TERN_DTYPE_F16:
    for (int64_t i = 0; i < n; i++)
      out[i] = tern_f16_to_f32(((const uint16_t *)t->data)[i]);
    return true;
  case TERN_DTYPE_I8:
  case TERN_DTYPE_TERNARY: {
    int8_t *q = malloc((size_t)(n > 0 ? n : 1));
    if (!q)
      return false;
    if (t->dtype == TERN_DTYPE_I8)
      memcpy(q, t->data, (size_t)n);
    else if (tern_ternary_unpack(t->data, rows, cols, q) != TERN_OK) {
      free(q);
      return false;
    }
    for (int64_t r = 0; r < rows; r++) {
      float s = t->scales[t->scale_count == 1 ? 0 : r];
      for (int64_t c = 0; c < cols; c++)
        out[r * cols + c] = (float)q[r * cols + c] * s;
    }
    free(q);
    return true;
  }
  default:
    return false;
  }
}
