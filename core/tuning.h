/* tuning.h — the tuning database (tuned kernel parameters per device, kept as
 * JSON through json-c) and the tunable-kernel interface that backends
 * implement so the tuner (core/tune.c, `tern tune`) can search their
 * parameter spaces against the CPU reference. Format: docs/MATRIX.md. */
#ifndef TERN_TUNING_H
#define TERN_TUNING_H

#include "backend.h"

/* ------------------------------------------------------------ database */

#define TERN_TUNING_MAX_PARAMS 8
#define TERN_TUNING_NAME_MAX 32
/* Parameter values are small positive integers (workgroup sizes, tiles,
 * vector widths, flags); anything outside [0, TERN_TUNING_VALUE_MAX] in a
 * file is rejected as out of range. */
#define TERN_TUNING_VALUE_MAX 65536
#define TERN_TUNING_FORMAT "tern-tuning"
#define TERN_TUNING_VERSION 1

/* What an entry is keyed by. `arch` is derived from the device (see
 * tern_tuning_arch_of) unless the backend knows better; `shape` is a shape
 * class (tern_tuning_shape_class) or "*" for any shape. */
typedef struct tern_tuning_key {
  char backend[16];
  char vendor[64];
  char device[128];
  char arch[64];
  char driver[64];
  char kernel[64];
  char shape[64];
} tern_tuning_key;

/* Named integer parameters ("wg_size" = 64, ...). */
typedef struct tern_tuning_params {
  int count;
  char name[TERN_TUNING_MAX_PARAMS][TERN_TUNING_NAME_MAX];
  int32_t value[TERN_TUNING_MAX_PARAMS];
} tern_tuning_params;

/* Value of `name`, or fallback when absent. */
int32_t tern_tuning_params_get(const tern_tuning_params *p, const char *name,
                               int32_t fallback);
/* Set (or add) `name`; TERN_ERR_INVALID_ARGUMENT when full or name too long.
 */
tern_status tern_tuning_params_set(tern_tuning_params *p, const char *name,
                                   int32_t value, tern_err *err);
/* "rows=4 kunroll=2" into buf. */
const char *tern_tuning_params_str(const tern_tuning_params *p, char *buf,
                                   size_t n);

typedef struct tern_tuning_entry {
  tern_tuning_key key;
  tern_tuning_params params;
  double time_us;         /* the tuned configuration's median time */
  double default_time_us; /* the built-in default, same run (0: unknown) */
  char tern_version[16];  /* library that measured it */
  int64_t created;        /* unix seconds */
} tern_tuning_entry;

/* How specific the entry that answered a lookup was. */
typedef enum tern_tuning_match {
  TERN_TUNING_DEFAULT = 0, /* nothing found: use the built-in default */
  TERN_TUNING_VENDOR = 1,  /* same backend and vendor */
  TERN_TUNING_ARCH = 2,    /* same backend, vendor and architecture */
  TERN_TUNING_DEVICE = 3   /* same device (any driver version) */
} tern_tuning_match;

/* "default", "vendor", "arch", "device". */
const char *tern_tuning_match_name(tern_tuning_match m);

/* A set of entries, at most one per key. Read-only use (lookup, count,
 * entry, to_json) is safe from several threads at once. */
typedef struct tern_tuning_db tern_tuning_db;

tern_status tern_tuning_db_create(tern_tuning_db **out, tern_err *err);
void tern_tuning_db_destroy(tern_tuning_db *db);
/* Read and validate a file: malformed JSON, a wrong format/version, unknown
 * fields, wrong types, out-of-range values and duplicate keys are
 * TERN_ERR_CORRUPT_FILE (TERN_ERR_VERSION for a newer version) with a
 * message naming the file, the entry and the field. A missing file is
 * TERN_ERR_NOT_FOUND. */
tern_status tern_tuning_db_load(const char *path, tern_tuning_db **out,
                                tern_err *err);
/* The same from text; `origin` names it in messages. */
tern_status tern_tuning_db_parse(const char *text, size_t bytes,
                                 const char *origin, tern_tuning_db **out,
                                 tern_err *err);
/* Write atomically (temp file + rename), entries sorted by key. */
tern_status tern_tuning_db_save(const tern_tuning_db *db, const char *path,
                                tern_err *err);
/* The JSON text (tern_free it). */
char *tern_tuning_db_to_json(const tern_tuning_db *db, tern_err *err);

/* Insert, or replace the entry with the same key. Validates the entry like
 * the loader does. */
tern_status tern_tuning_db_put(tern_tuning_db *db, const tern_tuning_entry *e,
                               tern_err *err);
/* Merge src into dst: new keys are added; for a key in both, the faster
 * measurement wins. Counts may be NULL. */
tern_status tern_tuning_db_merge(tern_tuning_db *dst, const tern_tuning_db *src,
                                 int *added, int *replaced, tern_err *err);
int tern_tuning_db_count(const tern_tuning_db *db);
const tern_tuning_entry *tern_tuning_db_entry(const tern_tuning_db *db, int i);

/* Look up `key`: same device (same driver first, then any driver), then the
 * same architecture, then the same vendor, each first with key->shape and
 * then with shape "*". On a match the entry's parameters overwrite (or are
 * added to) *params and the level is returned; otherwise *params is left as
 * the caller's built-in defaults and TERN_TUNING_DEFAULT is returned. db may
 * be NULL. `entry` (may be NULL) receives the matching entry. */
tern_tuning_match tern_tuning_lookup(const tern_tuning_db *db,
                                     const tern_tuning_key *key,
                                     tern_tuning_params *params,
                                     const tern_tuning_entry **entry);

/* Architecture of a device: the CPU's best ISA level for CPUs, else the
 * device name without the parenthesised part and trailing model numbers. */
void tern_tuning_arch_of(const tern_device_info *info, char *buf, size_t n);
/* Key of (device, kernel, shape class). */
void tern_tuning_key_for_device(const tern_device_info *info,
                                const char *kernel, const char *shape,
                                tern_tuning_key *key);
/* Coarse shape class of a node, so that tuned values carry over to nearby
 * shapes: linear "ternary_m1_k1024_n1024" (weight dtype; m in {1, 8, 64,
 * big}; k, n rounded up to a power of two), conv2d
 * "i8_c16_o32_k3x3_s1_g1_hw32" (g: 1, dw or n), others "n4096". */
const char *tern_tuning_shape_class(const tern_exec_node *node, char *buf,
                                    size_t n);

/* What a backend calls at node_prepare: the key of (device, kernel, shape
 * class of node) looked up as tern_tuning_lookup does; *params holds the
 * built-in defaults on entry. */
tern_tuning_match tern_tuning_lookup_node(const tern_tuning_db *db,
                                          const tern_device_info *info,
                                          const char *kernel,
                                          const tern_exec_node *node,
                                          tern_tuning_params *params);

/* The database file used when neither a path nor TERN_TUNING_DB is given:
 * $XDG_CACHE_HOME/tern/tuning.json or ~/.cache/tern/tuning.json. Returns
 * false when no home directory is known. */
bool tern_tuning_default_path(char *buf, size_t n);

/* Open the database a context uses: the explicit path (or TERN_TUNING_DB)
 * must be valid when it exists, a missing one gives an empty database; the
 * default path is used only when present and valid (a broken default file
 * is logged and ignored). *out may be NULL (no database). */
tern_status tern_tuning_db_open_for_context(const char *explicit_path,
                                            tern_tuning_db **out,
                                            char **path_out, tern_err *err);

/* The context's database (NULL if none) and its path (NULL if none). */
tern_tuning_db *tern_context_tuning_db(tern_context *ctx);
const char *tern_context_tuning_db_path(const tern_context *ctx);

/* ------------------------------------------------------------ tunables */

#define TERN_TUNE_MAX_VALUES 16

typedef struct tern_tune_param {
  const char *name;
  int n_values;
  int32_t values[TERN_TUNE_MAX_VALUES];
  int32_t default_value; /* the built-in default (one of values) */
} tern_tune_param;

/* Fill p with a backend's candidate values and the device's built-in
 * default, appended to the values when it is not one of them (room
 * permitting). */
void tern_tune_param_set(tern_tune_param *p, const char *name, int n_values,
                         const int32_t *values, int32_t default_value);

/* A problem a tunable is timed on. The tuner builds the tensors (random
 * activations in [-1, 1), Gaussian weights quantized to `wdtype`, a random
 * bias when `bias`), the exec node and the reference output.
 *   linear:      x = [x0, x1]          w = [w0, w1]
 *   conv2d:      x = [x0, x1, x2, x3]  w = [w0, w1, w2, w3]
 *   elementwise: x = [x0] (and a second input for add/mul: of shape x2, or
 *                of x's shape when x2[0] is 0). */
typedef struct tern_tune_shape {
  tern_op op;
  tern_dtype wdtype;
  int64_t x[4];
  int64_t w[4];
  bool bias;
  tern_op_params params;
  int64_t x2[4];
} tern_tune_shape;

/* Problems shared by the GPU backends' tunables (core/tune_shapes.c): conv2d
 * (ternary 16->32, int8 32->64, int8 depthwise 32), elementwise (relu 2^16
 * and 2^20, gelu 2^18) and add (2^16, 2^20). */
extern const tern_tune_shape tern_tune_conv_shapes[3];
extern const tern_tune_shape tern_tune_eltwise_shapes[3];
extern const tern_tune_shape tern_tune_binary_shapes[2];

/* A kernel whose parameters the tuner may choose. A backend lists its
 * tunables through tern_backend_vtbl.tunables; tests may pass their own. */
struct tern_tunable {
  const char *kernel;  /* database kernel name, unique within the backend */
  const char *summary; /* one line */
  int n_params;
  tern_tune_param params[TERN_TUNING_MAX_PARAMS];
  int n_shapes; /* problems to tune on; the kernel is keyed per shape class */
  const tern_tune_shape *shapes;
  /* false prunes the configuration for this node (illegal workgroup size,
   * tile that does not divide, too much local memory ...). May be NULL. */
  bool (*valid)(tern_device *dev, const tern_exec_node *node,
                const tern_tuning_params *cfg);
  /* Compile the node with explicit parameters. */
  tern_status (*prepare)(tern_device *dev, const tern_exec_node *node,
                         const tern_tuning_params *cfg, void **prepared,
                         tern_err *err);
  /* Enqueue a prepared candidate, as tern_backend_vtbl.node_run; the tuner
   * calls the vtable's sync to wait. */
  tern_status (*run)(tern_device *dev, void *prepared, tern_buffer *const *bufs,
                     const size_t *offsets, tern_err *err);
  void (*release)(tern_device *dev, void *prepared);
  /* Whether this kernel is the one that runs `node` on dev (the one whose
   * database entry node_prepare looks up). Decides which nodes of a model
   * `tern tune --model` tunes this kernel on. May be NULL: then a node the
   * built-in defaults are valid() for. */
  bool (*applies)(const tern_tunable *self, tern_device *dev,
                  const tern_exec_node *node);
  /* Tuned only when named (tern tune --kernels): an example kernel that
   * sessions do not run, whose speed-up would say nothing about the
   * device. */
  bool example;
};

/* The built-in defaults of a tunable as parameters. */
void tern_tunable_defaults(const tern_tunable *t, tern_tuning_params *p);

/* ------------------------------------------------------------- tuner */

typedef struct tern_tune_progress {
  const char *device; /* "vulkan:0" */
  const char *kernel;
  const char *shape;     /* shape class */
  int problem, problems; /* 1-based index of the (kernel, shape) pair */
  int candidate, candidates;
  const tern_tuning_params *cfg;
  double time_us;     /* < 0 when the candidate did not run or was wrong */
  const char *status; /* "ok", "wrong", "failed", "pruned" */
  double best_us;
  double elapsed_s;
} tern_tune_progress;

typedef struct tern_tune_options {
  double budget_s;            /* whole run; <= 0: 60 */
  const char *const *kernels; /* only these kernel names; NULL: all */
  int n_kernels;
  uint64_t seed;   /* candidate order; 0: fixed default */
  double sample_s; /* time per timed candidate; 0: 0.02 */
  void (*progress)(void *user, const tern_tune_progress *p);
  void *user;
  /* When n_graphs > 0: instead of the tunables' built-in problems, tune on
   * the nodes of these graphs, planned as a session plans them (fusion on,
   * batch as stored), that the device supports and a tunable applies to,
   * each on the node's own shapes and parameters, once per (kernel, shape
   * class). */
  const tern_graph *const *graphs;
  int n_graphs;
} tern_tune_options;

typedef struct tern_tune_result {
  char device[32];
  char kernel[64];
  char shape[64]; /* shape class */
  tern_tuning_key key;
  tern_tuning_params defaults, best;
  double default_us; /* < 0: the default did not run or was wrong */
  double best_us;    /* < 0: no candidate matched the reference */
  int candidates;    /* valid configurations in the space */
  int tried, pruned, wrong, failed;
  bool default_wrong; /* the built-in default gave wrong results */
  bool budget_hit;    /* stopped before trying every candidate */
  bool stored;        /* written into the database */
} tern_tune_result;

/* Tune every tunable of device `device_id` (or the `extra` tunables when
 * given, for tests) within the budget. Only candidates whose output matches
 * the CPU reference (bit-identical for quantized weights and exact ops,
 * within 1e-4 relative otherwise) can win. Winners go into db (may be NULL).
 * *results (tern_free) gets one row per (kernel, shape). */
tern_status tern_tune_device(tern_context *ctx, const char *device_id,
                             const tern_tune_options *opt,
                             const tern_tunable *extra, int n_extra,
                             tern_tuning_db *db, tern_tune_result **results,
                             int *n_results, tern_err *err);

#endif
