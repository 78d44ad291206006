/* tern_internal.h — what core and the backends share and users never see:
 * memory and error helpers, the graph's data structures, tensor views and the
 * op table (shape inference + naive reference of every op). */
#ifndef TERN_INTERNAL_H
#define TERN_INTERNAL_H

#include "tern.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------- memory */
void *tern_malloc(size_t bytes);
void *tern_calloc(size_t count, size_t size); /* overflow-checked */
void *tern_realloc(void *ptr, size_t bytes);
void tern_free(void *ptr);
char *tern_strdup(const char *s);
/* 64-byte aligned allocation (kernels and arenas); free with tern_free_aligned
 */
void *tern_malloc_aligned(size_t bytes);
void tern_free_aligned(void *ptr);

/* a*b and a+b with overflow detection: return false on overflow */
bool tern_mul_size(size_t a, size_t b, size_t *out);
bool tern_add_size(size_t a, size_t b, size_t *out);

/* ------------------------------------------------------------- errors */
#define TERN_ERRMSG_MAX 512
typedef struct tern_err {
  tern_status status;
  char msg[TERN_ERRMSG_MAX];
} tern_err;

/* Format a message into err (may be NULL) and the thread's last error;
 * returns status so callers can `return tern_err_set(...)`. */
tern_status tern_err_set(tern_err *err, tern_status status, const char *fmt,
                         ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Prefix the existing message in err with more context. */
tern_status tern_err_prefix(tern_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void tern_err_clear(tern_err *err);
/* Copy err into the thread-local last error. */
void tern_err_publish(const tern_err *err);

void tern_log(tern_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
bool tern_log_enabled(tern_log_level level);

/* -------------------------------------------------------------- views */
/* A tensor as a kernel sees it: shape, dtype and host data. */
typedef struct tern_view {
  tern_dtype dtype;
  int ndim;
  int64_t shape[TERN_MAX_DIMS];
  void *data;          /* host data (NULL during shape inference) */
  const float *scales; /* i8/ternary weights */
  int64_t scale_count;
} tern_view;

int64_t tern_view_numel(const tern_view *v);
/* product of shape[from..to) */
int64_t tern_dims_prod(const int64_t *shape, int from, int to);
/* "[2, 3, 4]" into buf */
const char *tern_shape_str(int ndim, const int64_t *shape, char *buf,
                           size_t bufsize);

/* --------------------------------------------------------------- graph */
typedef struct tern_tensor {
  char *name;
  tern_tensor_kind kind;
  tern_dtype dtype;
  int ndim;
  int64_t shape[TERN_MAX_DIMS];
  void *data; /* constants: canonical data */
  size_t data_bytes;
  float *scales;
  int64_t scale_count;
  int producer;   /* node index, -1 for inputs/constants */
  bool owns_data; /* false when data points into a mapped file */
} tern_tensor;

typedef struct tern_node {
  tern_op op;
  char *name;
  int n_inputs;
  int inputs[TERN_MAX_INPUTS];
  int output;
  tern_op_params params;
} tern_node;

struct tern_graph {
  tern_tensor *tensors;
  int n_tensors, cap_tensors;
  tern_node *nodes;
  int n_nodes, cap_nodes;
  int *inputs;
  int n_inputs, cap_inputs;
  int *outputs;
  int n_outputs, cap_outputs;
  char **meta_keys;
  char **meta_values;
  int n_meta, cap_meta;
  void *mapping; /* mmap of the file the graph was loaded from, or NULL */
  size_t mapping_bytes;
  tern_err err;
};

tern_view tern_tensor_view(const tern_tensor *t);
/* Add a tensor taking ownership of nothing: copies name; data/scales are
 * copied when copy is true, adopted otherwise. */
tern_status tern_graph_push_tensor(tern_graph *g, const tern_tensor *t,
                                   bool copy, int *out_id);
/* Validate a node's inputs and infer its output shape; used by add_node, the
 * file loader and the planner. */
tern_status tern_node_infer(const tern_graph *g, const tern_node *n,
                            tern_view *out, tern_err *err);
/* Deep copy (data copied, no mapping shared). */
tern_status tern_graph_clone(const tern_graph *src, tern_graph **out,
                             tern_err *err);

/* Check a constant's data size against its dtype and shape (file loader and
 * add_constant share it). */
tern_status tern_constant_check(const char *name, tern_dtype dtype, int ndim,
                                const int64_t *shape, size_t data_bytes,
                                int64_t scale_count, tern_err *err);

/* ------------------------------------------------------------- op table */
typedef tern_status (*tern_infer_fn)(const tern_op_params *p,
                                     const tern_view *in, int n_in,
                                     tern_view *out, tern_err *err);
typedef tern_status (*tern_ref_fn)(const tern_op_params *p, const tern_view *in,
                                   int n_in, tern_view *out, tern_err *err);

typedef struct tern_op_def {
  const char *name;
  int min_inputs, max_inputs;
  tern_infer_fn infer;
  tern_ref_fn ref; /* naive reference: plain loops, no SIMD, no threads */
} tern_op_def;

const tern_op_def *tern_op_get(tern_op op);

/* Reference ops, one per file in core/ops/. */
#define TERN_OP_DECL_(name, str)                                               \
  tern_status tern_infer_##name(const tern_op_params *p, const tern_view *in,  \
                                int n_in, tern_view *out, tern_err *err);      \
  tern_status tern_ref_##name(const tern_op_params *p, const tern_view *in,    \
                              int n_in, tern_view *out, tern_err *err);
TERN_OP_MAP(TERN_OP_DECL_)
#undef TERN_OP_DECL_

/* Shared numerics (core/quant.c): the activation rule and the
 * quantized epilogue, used by the reference and mirrored by every backend. */
/* Power-of-two exponent e of the activation scale 2^e for a block whose
 * max|x| is absmax; returns false (scale 1, all zero) for tiny/non-finite. */
bool tern_act_exponent(float absmax, int *e);
/* Quantize n values with the row rule; *scale receives 2^e. */
void tern_act_quantize_row(const float *x, int64_t n, int8_t *q, float *scale);
float tern_apply_activation(tern_activation act, float v);
/* Epilogue of a quantized matmul: ((float)acc * wscale) * xscale + bias,
 * each step rounded (no contraction). */
static inline float tern_q_epilogue(int32_t acc, float wscale, float xscale,
                                    float bias) {
  /* built with -ffp-contract=off: each operation rounds on its own */
  float t = (float)acc * wscale;
  t = t * xscale;
  return t + bias;
}
/* Ternary code c in {0,1,2} of element j of a packed row. */
static inline int tern_ternary_get(const uint8_t *row, int64_t j) {
  return (row[j >> 2] >> ((j & 3) * 2)) & 3;
}

/* --------------------------------------------------------- misc helpers */
/* Atomically replace path with bytes (temp file + fsync + rename). */
tern_status tern_write_file_atomic(const char *path, const void *const *parts,
                                   const size_t *part_bytes, int n_parts,
                                   tern_err *err);
uint64_t tern_now_ns(void);

#endif
