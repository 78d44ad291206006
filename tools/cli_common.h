/* cli_common.h — what every `tern` command shares: option parsing with
 * generated --help, the exit-code convention, error/log output to stderr, a
 * small streaming JSON writer (one document on stdout per --json run) and
 * helpers to open graphs, pick devices and rebuild graphs. */
#ifndef TERN_CLI_COMMON_H
#define TERN_CLI_COMMON_H

#include "tern.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes of every command. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/* ------------------------------------------------------------ options */
typedef enum cli_opt_kind {
  CLI_FLAG = 0,   /* bool *, no value */
  CLI_STRING = 1, /* const char ** */
  CLI_INT = 2,    /* int * */
  CLI_INT64 = 3,  /* int64_t * */
  CLI_UINT64 = 4, /* uint64_t * */
  CLI_DOUBLE = 5, /* double * */
  CLI_LIST = 6    /* cli_list *: repeatable string option */
} cli_opt_kind;

#define CLI_LIST_MAX 64
typedef struct cli_list {
  const char *v[CLI_LIST_MAX];
  int n;
} cli_list;

typedef struct cli_opt {
  const char *name; /* long name without dashes: "json" */
  char short_name;  /* 'o' or 0 */
  cli_opt_kind kind;
  void *dest;
  const char *metavar; /* "FILE"; NULL for flags */
  const char *help;
} cli_opt;

/* What a command's --help shows. */
typedef struct cli_spec {
  const char *usage;   /* "tern inspect FILE [options]" */
  const char *summary; /* one paragraph */
  const cli_opt *opts;
  int n_opts;
  int min_pos, max_pos; /* positional argument count bounds */
  const char *epilog;   /* extra help text after the options, or NULL */
} cli_spec;

typedef enum cli_parse_result {
  CLI_PARSED = 0,
  CLI_HELP_SHOWN = 1, /* --help was printed: exit 0 */
  CLI_USAGE_ERROR = 2 /* message printed: exit 2 */
} cli_parse_result;

/* Parse argv[first..argc). Options may come before or after positional
 * arguments; "--" ends options; "--name=value" and "--name value" both
 * work. -v/--verbose and -q/--quiet are accepted everywhere. pos receives up
 * to spec->max_pos positional arguments. */
cli_parse_result cli_parse(const cli_spec *spec, int argc, char **argv,
                           int first, const char **pos, int *n_pos);
void cli_print_help(const cli_spec *spec, FILE *f);

/* The command name used in messages ("tern run"). */
void cli_set_command(const char *name);
/* "tern run: error: ..." on stderr; returns CLI_EXIT_FAIL. */
int cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Usage error on stderr with a hint to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Informational line on stderr (suppressed by --quiet). */
void cli_note(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* 0 quiet, 1 normal (warnings), 2 -v (info), 3 -vv (debug). */
void cli_set_verbosity(int level);
int cli_verbosity(void);

/* Strict number parsing (whole string, range-checked). */
bool cli_parse_i64(const char *s, int64_t *out);
bool cli_parse_u64(const char *s, uint64_t *out);
bool cli_parse_double(const char *s, double *out);
/* "A:B" (either side may be empty: 0 and `max`) into [*a, *b). */
bool cli_parse_range(const char *s, int64_t max, int64_t *a, int64_t *b);

/* ------------------------------------------------------------ JSON out */
#define CLI_JSON_DEPTH 32
typedef struct cli_json {
  FILE *f;
  int depth;
  bool first[CLI_JSON_DEPTH]; /* no element written yet at this level */
  bool after_key;
} cli_json;

void cj_init(cli_json *j, FILE *f);
void cj_object(cli_json *j);
void cj_object_end(cli_json *j);
void cj_array(cli_json *j);
void cj_array_end(cli_json *j);
void cj_key(cli_json *j, const char *key);
void cj_str(cli_json *j, const char *v); /* NULL writes null */
void cj_int(cli_json *j, long long v);
void cj_uint(cli_json *j, unsigned long long v);
void cj_double(cli_json *j, double v); /* non-finite writes null */
void cj_bool(cli_json *j, bool v);
void cj_null(cli_json *j);
void cj_shape(cli_json *j, int ndim, const int64_t *shape);
/* Ends the document with a newline. */
void cj_finish(cli_json *j);
/* key + value shorthands */
void cj_kstr(cli_json *j, const char *k, const char *v);
void cj_kint(cli_json *j, const char *k, long long v);
void cj_kuint(cli_json *j, const char *k, unsigned long long v);
void cj_kdouble(cli_json *j, const char *k, double v);
void cj_kbool(cli_json *j, const char *k, bool v);

/* ------------------------------------------------------- tern helpers */
/* "[2, 3, 4]" */
const char *cli_shape_str(int ndim, const int64_t *shape, char *buf, size_t n);
int64_t cli_numel(int ndim, const int64_t *shape);
/* "1.5 MiB" */
const char *cli_bytes_str(uint64_t bytes, char *buf, size_t n);

/* Load a .tern file; on failure prints the library's message and returns
 * CLI_EXIT_FAIL. */
int cli_load_graph(const char *path, tern_graph **out);
/* File size in bytes, or -1 (errno set). */
int64_t cli_file_size(const char *path);

/* The graph's metadata as parallel arrays (owned by the graph). */
int cli_graph_metadata(const tern_graph *g, const char *const **keys,
                       const char *const **values);

/* Parse "2bit" / "1.58bit" (also "2", "1.58"). */
bool cli_parse_storage(const char *s, tern_ternary_storage *out);

/* Open a context and a session on `backend`: NULL or "cpu" (cpu:0),
 * "vulkan"/"opencl" (that backend's first device) or a device id such as
 * "vulkan:1". On failure prints why and returns CLI_EXIT_FAIL. */
typedef struct cli_session_opts {
  const char *backend;
  int64_t batch;
  int threads;
  bool reference, no_fusion, no_fallback;
} cli_session_opts;
int cli_open_session(const tern_graph *g, const cli_session_opts *o,
                     tern_context **ctx, tern_session **sess);

/* Rebuild a graph constant by constant: for every constant, `fn` may fill
 * `repl` (a desc of the replacement: same shape; data it points to must
 * live until fn's next call) and return 1 to use it, 0 to copy the original,
 * or a negative value to fail (fn printed why). Inputs, nodes (names,
 * params), outputs and metadata are copied. `layer` is the name of the
 * linear/conv2d node that reads the constant as its weight, or NULL. */
typedef int (*cli_constant_fn)(void *user, const tern_tensor_info *info,
                               const char *layer, int layer_index,
                               tern_constant_desc *repl);
int cli_graph_rebuild(const tern_graph *src, cli_constant_fn fn, void *user,
                      tern_graph **out);

/* Number of linear/conv2d nodes; for tensor `id`, the index (in node order)
 * of the linear/conv2d node reading it as weight (-1 if none) and that
 * node's name. */
int cli_weight_layers(const tern_graph *g, int id, int *layer_index,
                      const char **layer_name);

/* Dequantize a constant to n fp32 values (f32/f16/i8/ternary). out holds
 * prod(shape) floats. Returns false with a message for unknown dtypes. */
bool cli_dequantize(const tern_tensor_info *t, float *out);

#endif
