/* tern.h — the one public header of libtern: ternary and INT8 neural-network
 * graphs on CPU, Vulkan and OpenCL devices.
 *
 * Conventions (they hold for every function below unless it says otherwise):
 * - Every fallible call returns a tern_status; TERN_OK is 0.
 * - On failure a message naming what was wrong is kept on the handle the call
 *   was made on (tern_graph_errmsg, tern_context_errmsg, tern_session_errmsg)
 *   and also as the calling thread's last error (tern_last_error).
 * - Out-parameters are written only on success.
 * - Every create/load has a destroy; destroy accepts NULL.
 * - The library never aborts, exits or prints. Logging goes to the callback
 *   set with tern_set_log_callback.
 * - Descriptor structs begin with their size in bytes (set it with sizeof);
 *   new fields are only appended. A zeroed struct with size set means
 *   "defaults".
 * - Thread safety: the global setters (allocator, log callback) must be
 *   called before any other thread uses the library. Handles are not
 *   thread-safe: use one handle from one thread at a time. Distinct handles
 *   may be used from distinct threads concurrently. The stateless functions
 *   (packing, quantizers, status/dtype/op names) are thread-safe.
 */
#ifndef TERN_H
#define TERN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(TERN_SHARED_BUILD)
#define TERN_API __declspec(dllexport)
#elif defined(__GNUC__)
#define TERN_API __attribute__((visibility("default")))
#else
#define TERN_API
#endif

/* ---------------------------------------------------------------- version */

#define TERN_VERSION_MAJOR 0
#define TERN_VERSION_MINOR 3
#define TERN_VERSION_PATCH 0
#define TERN_VERSION_HEX                                                       \
  ((TERN_VERSION_MAJOR << 16) | (TERN_VERSION_MINOR << 8) | TERN_VERSION_PATCH)

/* The version of the library actually linked, as TERN_VERSION_HEX. */
TERN_API unsigned tern_version(void);
/* "MAJOR.MINOR.PATCH"; static storage. */
TERN_API const char *tern_version_string(void);

/* ----------------------------------------------------------------- status */

/* One table generates the enum, tern_status_name() and tern_status_str(). */
#define TERN_STATUS_MAP(XX)                                                    \
  XX(OK, 0, "success")                                                         \
  XX(ERR_INVALID_ARGUMENT, 1, "invalid argument")                              \
  XX(ERR_OUT_OF_MEMORY, 2, "out of memory")                                    \
  XX(ERR_IO, 3, "input/output error")                                          \
  XX(ERR_CORRUPT_FILE, 4, "corrupt or malformed file")                         \
  XX(ERR_VERSION, 5, "unsupported file version")                               \
  XX(ERR_UNSUPPORTED, 6, "operation not supported")                            \
  XX(ERR_SHAPE, 7, "tensor shape mismatch")                                    \
  XX(ERR_DTYPE, 8, "tensor dtype mismatch")                                    \
  XX(ERR_NOT_FOUND, 9, "not found")                                            \
  XX(ERR_NO_DEVICE, 10, "no such device")                                      \
  XX(ERR_BACKEND, 11, "backend error")                                         \
  XX(ERR_DEVICE_LOST, 12, "device lost")                                       \
  XX(ERR_INTERNAL, 13, "internal error")

typedef enum tern_status {
#define TERN_STATUS_ENUM_(name, value, str) TERN_##name = value,
  TERN_STATUS_MAP(TERN_STATUS_ENUM_)
#undef TERN_STATUS_ENUM_
} tern_status;

/* "TERN_ERR_IO" etc.; "TERN_UNKNOWN_STATUS" for values not in the table. */
TERN_API const char *tern_status_name(tern_status status);
/* A short English description of the status code. */
TERN_API const char *tern_status_str(tern_status status);
/* The calling thread's last error message ("" if none). Valid until the next
 * failing tern call on this thread. Thread-safe (thread-local). */
TERN_API const char *tern_last_error(void);

/* -------------------------------------------------- allocator and logging */

typedef struct tern_allocator {
  void *(*malloc_fn)(void *user, size_t bytes);
  void *(*realloc_fn)(void *user, void *ptr, size_t bytes);
  void (*free_fn)(void *user, void *ptr);
  void *user;
} tern_allocator;

/* Replace the allocator used for all library memory. NULL restores malloc.
 * All three functions must be set. Call before any handle exists; returns
 * TERN_ERR_INVALID_ARGUMENT if a function pointer is missing. */
TERN_API tern_status tern_set_allocator(const tern_allocator *allocator);

typedef enum tern_log_level {
  TERN_LOG_ERROR = 0,
  TERN_LOG_WARN = 1,
  TERN_LOG_INFO = 2,
  TERN_LOG_DEBUG = 3
} tern_log_level;

typedef void (*tern_log_fn)(void *user, tern_log_level level, const char *msg);

/* Route library logs to fn (NULL: discard, the default). Messages above
 * max_level are not formatted at all. The callback may be called from the
 * library's worker threads. */
TERN_API void tern_set_log_callback(tern_log_fn fn, void *user,
                                    tern_log_level max_level);

/* ----------------------------------------------------------------- dtypes */

typedef enum tern_dtype {
  TERN_DTYPE_F32 = 0,
  TERN_DTYPE_F16 = 1,
  TERN_DTYPE_I8 = 2,      /* symmetric, fp32 scale per output channel */
  TERN_DTYPE_TERNARY = 3, /* codes q+1 in {0,1,2}, 2 bits, fp32 scales */
  TERN_DTYPE_I32 = 4,
  TERN_DTYPE_COUNT_
} tern_dtype;

/* "f32", "f16", "i8", "ternary", "i32"; NULL for unknown values. */
TERN_API const char *tern_dtype_name(tern_dtype dtype);

/* Bytes that `rows` rows of `cols` elements take in the canonical in-memory
 * layout: f32/i32 4*n, f16 2*n, i8 n, ternary rows*ceil(cols/4) (each row
 * starts on a byte). Returns 0 for unknown dtypes or overflow. */
TERN_API size_t tern_dtype_bytes(tern_dtype dtype, int64_t rows, int64_t cols);

/* --------------------------------------------------- packing (exact, pure)
 * 2-bit ternary layout: element j of a row is stored as code (q+1) in bits
 * 2*(j%4)..2*(j%4)+1 of byte j/4 of that row; rows are ceil(cols/4) bytes;
 * padding codes are 1 (zero). Dense 1.58-bit layout (files only): the whole
 * tensor's n = rows*cols codes in row-major order, 5 per byte, byte =
 * c0 + 3*c1 + 9*c2 + 27*c3 + 81*c4 (values 0..242), ceil(n/5) bytes, padding
 * codes 1. */

/* q: rows*cols values in {-1,0,1}. out: tern_dtype_bytes(TERNARY,rows,cols).
 * TERN_ERR_INVALID_ARGUMENT for a value outside {-1,0,1} or a short buffer. */
TERN_API tern_status tern_ternary_pack(const int8_t *q, int64_t rows,
                                       int64_t cols, uint8_t *out,
                                       size_t out_bytes);
/* Inverse of tern_ternary_pack; TERN_ERR_CORRUPT_FILE for a code of 3. */
TERN_API tern_status tern_ternary_unpack(const uint8_t *packed, int64_t rows,
                                         int64_t cols, int8_t *q);
/* Bytes of the 1.58-bit form of n codes: ceil(n/5). */
TERN_API size_t tern_trits_bytes(int64_t n);
TERN_API tern_status tern_trits_pack(const int8_t *q, int64_t n, uint8_t *out,
                                     size_t out_bytes);
/* TERN_ERR_CORRUPT_FILE for a byte above 242 or non-zero padding. */
TERN_API tern_status tern_trits_unpack(const uint8_t *packed, int64_t n,
                                       int8_t *q);

/* ------------------------------------------------------------- quantizers */

typedef enum tern_ternary_method {
  /* TWN: threshold t = a * mean|W| over the channel (a = threshold_factor,
   * default 0.7); q = sign(w) if |w| > t else 0; scale = mean |w| over the
   * kept weights (1 if none kept). */
  TERN_TERNARY_THRESHOLD = 0,
  /* BitNet b1.58: scale = mean|W|; q = clamp(round(w / scale), -1, 1). */
  TERN_TERNARY_ABSMEAN = 1
} tern_ternary_method;

typedef struct tern_quant_stats {
  int64_t count;   /* weights seen */
  int64_t zeros;   /* weights quantized to 0 */
  double sparsity; /* zeros / count */
  float scale_min; /* smallest per-channel scale */
  float scale_max; /* largest per-channel scale */
  double mse;      /* mean squared error of the dequantized weights */
} tern_quant_stats;

typedef struct tern_ternary_desc {
  size_t size;
  tern_ternary_method method;
  float threshold_factor; /* a for TERN_TERNARY_THRESHOLD; 0 means 0.7 */
  int per_tensor;         /* 1: one scale for the whole tensor */
} tern_ternary_desc;

/* Quantize rows x cols fp32 weights (row = output channel) to ternary.
 * q gets rows*cols values in {-1,0,1}; scales gets rows values (or 1 if
 * per_tensor). stats may be NULL. desc may be NULL (threshold, a = 0.7). */
TERN_API tern_status tern_quantize_ternary(const float *w, int64_t rows,
                                           int64_t cols,
                                           const tern_ternary_desc *desc,
                                           int8_t *q, float *scales,
                                           tern_quant_stats *stats);
/* Symmetric per-channel INT8: scale = max|w_row| / 127 (1 if the row is all
 * zero); q = clamp(round_half_even(w / scale), -127, 127). */
TERN_API tern_status tern_quantize_int8(const float *w, int64_t rows,
                                        int64_t cols, int8_t *q, float *scales,
                                        tern_quant_stats *stats);

/* The activation rule, identical on every backend (see docs/NUMERICS.md):
 * each row of `cols` values gets a power-of-two scale s = 2^e, the smallest
 * such that max|x| / s <= 127; q = round_half_even(x / s) (exact, as s is a
 * power of two). Rows whose max|x| is below 2^-100, or not finite, are
 * quantized to zero with s = 1. scales receives s for each row. */
TERN_API tern_status tern_quantize_activations(const float *x, int64_t rows,
                                               int64_t cols, int8_t *q,
                                               float *scales);

/* IEEE binary16 conversions (round to nearest even). */
TERN_API uint16_t tern_f32_to_f16(float f);
TERN_API float tern_f16_to_f32(uint16_t h);

/* ------------------------------------------------------------------ ops */

#define TERN_OP_MAP(XX)                                                        \
  XX(LINEAR, "linear")                                                         \
  XX(CONV2D, "conv2d")                                                         \
  XX(BATCHNORM, "batchnorm")                                                   \
  XX(RELU, "relu")                                                             \
  XX(RELU6, "relu6")                                                           \
  XX(GELU, "gelu")                                                             \
  XX(SILU, "silu")                                                             \
  XX(ADD, "add")                                                               \
  XX(MUL, "mul")                                                               \
  XX(MAXPOOL2D, "maxpool2d")                                                   \
  XX(AVGPOOL2D, "avgpool2d")                                                   \
  XX(GLOBAL_AVGPOOL, "global_avgpool")                                         \
  XX(FLATTEN, "flatten")                                                       \
  XX(RESHAPE, "reshape")                                                       \
  XX(CONCAT, "concat")                                                         \
  XX(SOFTMAX, "softmax")                                                       \
  XX(LAYERNORM, "layernorm")                                                   \
  XX(RMSNORM, "rmsnorm")                                                       \
  XX(MATMUL, "matmul")                                                         \
  XX(CAUSAL_MASK, "causal_mask")                                               \
  XX(ROPE, "rope")                                                             \
  XX(PERMUTE, "permute")

typedef enum tern_op {
#define TERN_OP_ENUM_(name, str) TERN_OP_##name,
  TERN_OP_MAP(TERN_OP_ENUM_)
#undef TERN_OP_ENUM_
      TERN_OP_COUNT_
} tern_op;

/* "linear", ...; NULL for unknown values. */
TERN_API const char *tern_op_name(tern_op op);
/* Look an op up by name; TERN_ERR_NOT_FOUND if there is none. */
TERN_API tern_status tern_op_from_name(const char *name, tern_op *op);

/* Activation fused into linear/conv2d (set by users or by the planner). */
typedef enum tern_activation {
  TERN_ACT_NONE = 0,
  TERN_ACT_RELU = 1,
  TERN_ACT_RELU6 = 2,
  TERN_ACT_GELU = 3, /* tanh approximation */
  TERN_ACT_SILU = 4,
  TERN_ACT_COUNT_
} tern_activation;

#define TERN_MAX_DIMS 6
#define TERN_MAX_INPUTS 8

/* Parameters of a node; each op reads only the fields its documentation in
 * docs/OPS.md names, the rest must be zero. */
typedef struct tern_op_params {
  int32_t kernel[2];   /* pools: kh, kw */
  int32_t stride[2];   /* conv/pool: sh, sw (0 means 1) */
  int32_t pad[2];      /* conv/pool: ph, pw (symmetric) */
  int32_t dilation[2]; /* conv: dh, dw (0 means 1) */
  int32_t groups;      /* conv: 0 means 1; = channels for depthwise */
  int32_t axis;        /* concat, softmax (-1 = last), flatten (start) */
  int32_t ndim;        /* reshape/permute: entries used in shape/perm */
  int32_t shape[TERN_MAX_DIMS]; /* reshape: -1 infers one dim, 0 copies */
  int32_t perm[TERN_MAX_DIMS];  /* permute: output dim i = input perm[i] */
  int32_t transpose_b;          /* matmul: B is [..., N, K] */
  int32_t activation;           /* linear/conv2d: tern_activation */
  float eps;                    /* batchnorm/layernorm/rmsnorm (0 means 1e-5) */
  float alpha;                  /* matmul: output scale (0 means 1) */
  float theta;                  /* rope: base (0 means 10000) */
  int32_t count_include_pad;    /* avgpool2d */
} tern_op_params;

/* ------------------------------------------------------------------ graph
 * A graph holds tensors (inputs, constants and node outputs) identified by
 * integer ids, and nodes in the order they were added (each node may only
 * read tensors that exist when it is added, so the order is topological).
 * Shapes are inferred as nodes are added; a shape or dtype error is reported
 * by tern_graph_add_node with a message naming the node and the tensors. */

typedef struct tern_graph tern_graph;

TERN_API tern_status tern_graph_create(tern_graph **out);
TERN_API void tern_graph_destroy(tern_graph *graph);
/* Message of the last failure on this graph ("" if none). Owned by graph. */
TERN_API const char *tern_graph_errmsg(const tern_graph *graph);

/* Add an f32 input of the given shape (dim 0 is the batch). */
TERN_API tern_status tern_graph_add_input(tern_graph *graph, const char *name,
                                          int ndim, const int64_t *shape,
                                          int *out_id);

typedef struct tern_constant_desc {
  size_t size;
  const char *name;
  tern_dtype dtype;
  int ndim;
  const int64_t *shape; /* weights: [out, in...] (row = output channel) */
  /* Data in the canonical layout of dtype (ternary: packed 2-bit rows of
   * prod(shape[1..]) codes). Copied. */
  const void *data;
  size_t data_bytes;
  /* i8/ternary: fp32 scales, shape[0] of them or 1 (per tensor). Copied. */
  const float *scales;
  int64_t scale_count;
} tern_constant_desc;

/* Add a constant (weights, bias, norm parameters). Validates sizes. */
TERN_API tern_status tern_graph_add_constant(tern_graph *graph,
                                             const tern_constant_desc *desc,
                                             int *out_id);

typedef struct tern_node_desc {
  size_t size;
  tern_op op;
  const char *name; /* optional; "" or NULL names it after its op */
  int n_inputs;
  int inputs[TERN_MAX_INPUTS];
  tern_op_params params;
} tern_node_desc;

/* Add a node; infers its output shape. out_id receives the output tensor. */
TERN_API tern_status tern_graph_add_node(tern_graph *graph,
                                         const tern_node_desc *desc,
                                         int *out_id);
/* Mark a tensor as a graph output (in order of calls). */
TERN_API tern_status tern_graph_add_output(tern_graph *graph, int tensor_id);

/* Key/value metadata saved in the file (UTF-8, copied; a key set twice keeps
 * the last value). */
TERN_API tern_status tern_graph_set_metadata(tern_graph *graph, const char *key,
                                             const char *value);
/* NULL if the key is absent. Owned by graph. */
TERN_API const char *tern_graph_get_metadata(const tern_graph *graph,
                                             const char *key);

typedef enum tern_tensor_kind {
  TERN_TENSOR_INPUT = 0,
  TERN_TENSOR_CONSTANT = 1,
  TERN_TENSOR_ACTIVATION = 2
} tern_tensor_kind;

typedef struct tern_tensor_info {
  size_t size;
  const char *name; /* owned by the graph */
  tern_tensor_kind kind;
  tern_dtype dtype;
  int ndim;
  int64_t shape[TERN_MAX_DIMS];
  size_t data_bytes;   /* constants: bytes of data */
  int64_t scale_count; /* constants: number of scales */
  const void *data;    /* constants: canonical data, owned by the graph */
  const float *scales; /* constants: scales, owned by the graph */
} tern_tensor_info;

typedef struct tern_node_info {
  size_t size;
  tern_op op;
  const char *name; /* owned by the graph */
  int n_inputs;
  int inputs[TERN_MAX_INPUTS];
  int output;
  tern_op_params params;
} tern_node_info;

TERN_API int tern_graph_tensor_count(const tern_graph *graph);
TERN_API int tern_graph_node_count(const tern_graph *graph);
TERN_API int tern_graph_input_count(const tern_graph *graph);
TERN_API int tern_graph_output_count(const tern_graph *graph);
/* Tensor id of input/output i. */
TERN_API tern_status tern_graph_input(const tern_graph *graph, int i, int *id);
TERN_API tern_status tern_graph_output(const tern_graph *graph, int i, int *id);
/* info->size must be set by the caller. */
TERN_API tern_status tern_graph_tensor_info(const tern_graph *graph, int id,
                                            tern_tensor_info *info);
TERN_API tern_status tern_graph_node_info(const tern_graph *graph, int index,
                                          tern_node_info *info);

/* ------------------------------------------------------------- .tern files
 * Format: docs/FORMAT.md. Files are written to PATH.tmp.<pid> and renamed
 * into place, so an existing file is never left half-written. */

typedef enum tern_ternary_storage {
  TERN_STORE_2BIT = 0,  /* the canonical 2-bit rows */
  TERN_STORE_158BIT = 1 /* 5 trits per byte, unpacked at load */
} tern_ternary_storage;

typedef struct tern_save_desc {
  size_t size;
  tern_ternary_storage ternary_storage;
} tern_save_desc;

/* desc may be NULL (2-bit storage). */
TERN_API tern_status tern_graph_save(tern_graph *graph, const char *path,
                                     const tern_save_desc *desc);

typedef struct tern_load_desc {
  size_t size;
  int no_mmap; /* 1: read the file instead of mapping it */
} tern_load_desc;

/* Load and fully validate a .tern file (every field, every checksum). On
 * failure returns TERN_ERR_IO, TERN_ERR_CORRUPT_FILE, TERN_ERR_VERSION, ...
 * with a message naming the problem and the byte offset where it applies.
 * desc may be NULL. */
TERN_API tern_status tern_graph_load(const char *path,
                                     const tern_load_desc *desc,
                                     tern_graph **out);
/* The same from memory (copied as needed; buf may be freed after). */
TERN_API tern_status tern_graph_load_memory(const void *buf, size_t bytes,
                                            tern_graph **out);

/* ---------------------------------------------------- context and devices */

typedef struct tern_context tern_context;

typedef struct tern_context_desc {
  size_t size;
  int thread_count; /* CPU threads; 0: TERN_THREADS or the core count */
  /* Comma-separated backends to probe ("cpu,vulkan,opencl"); NULL: all that
   * were compiled in. The CPU backend is always present. */
  const char *backends;
  const char *tuning_db_path; /* NULL: TERN_TUNING_DB or none */
} tern_context_desc;

/* Probe the compiled backends. A backend whose driver or loader is missing
 * yields no devices and a log message, never a failure. desc may be NULL. */
TERN_API tern_status tern_context_create(const tern_context_desc *desc,
                                         tern_context **out);
TERN_API void tern_context_destroy(tern_context *ctx);
TERN_API const char *tern_context_errmsg(const tern_context *ctx);

typedef enum tern_device_type {
  TERN_DEVICE_CPU = 0,
  TERN_DEVICE_GPU_DISCRETE = 1,
  TERN_DEVICE_GPU_INTEGRATED = 2,
  TERN_DEVICE_GPU_VIRTUAL = 3,
  TERN_DEVICE_OTHER = 4
} tern_device_type;

typedef struct tern_device_info {
  size_t size;
  char id[32];      /* "cpu:0", "vulkan:1", ... (use in session desc) */
  char backend[16]; /* "cpu", "vulkan", "opencl" */
  char name[128];   /* device name as the driver reports it */
  char vendor[64];
  char driver[64]; /* driver version string */
  tern_device_type type;
  uint64_t memory_bytes;
  int compute_units;
  char features[256]; /* what is on, e.g. "avx2 avx512 vnni threads=2" */
} tern_device_info;

TERN_API int tern_context_device_count(const tern_context *ctx);
/* info->size must be set. */
TERN_API tern_status tern_context_device_info(const tern_context *ctx,
                                              int index,
                                              tern_device_info *info);
/* CPU worker threads in use. */
TERN_API int tern_context_thread_count(const tern_context *ctx);

/* ---------------------------------------------------------------- session
 * A session is a graph compiled for one device: the planner orders nodes,
 * fuses linear/conv2d + batchnorm + activation, and gives each activation an
 * offset in one arena by liveness; the scheduler places each node on the
 * device, falling back to the CPU reference for nodes the device does not
 * support. The session copies what it needs from the graph: the graph may be
 * destroyed after tern_session_create returns. */

typedef struct tern_session tern_session;

typedef struct tern_session_desc {
  size_t size;
  const char *device;  /* id from tern_device_info ("cpu:0"); NULL: "cpu:0" */
  int64_t batch;       /* > 0: override dim 0 of every input */
  int no_fusion;       /* 1: keep every node as in the graph */
  int no_memory_reuse; /* 1: every activation gets its own memory */
  int no_fallback;     /* 1: fail instead of placing nodes on the CPU */
  int reference;       /* 1: CPU only, naive reference kernels */
} tern_session_desc;

TERN_API tern_status tern_session_create(tern_context *ctx,
                                         const tern_graph *graph,
                                         const tern_session_desc *desc,
                                         tern_session **out);
TERN_API void tern_session_destroy(tern_session *session);
TERN_API const char *tern_session_errmsg(const tern_session *session);

/* Copy `count` floats into input i (count must equal the input's elements). */
TERN_API tern_status tern_session_set_input(tern_session *session, int i,
                                            const float *data, size_t count);
TERN_API tern_status tern_session_run(tern_session *session);
/* Copy output i (count must equal its elements). */
TERN_API tern_status tern_session_get_output(tern_session *session, int i,
                                             float *data, size_t count);
/* Shape of input/output i after batch override. */
TERN_API tern_status tern_session_input_shape(const tern_session *session,
                                              int i, int *ndim,
                                              int64_t shape[TERN_MAX_DIMS]);
TERN_API tern_status tern_session_output_shape(const tern_session *session,
                                               int i, int *ndim,
                                               int64_t shape[TERN_MAX_DIMS]);

typedef struct tern_session_info {
  size_t size;
  int node_count;                  /* nodes after fusion */
  int fused_count;                 /* nodes removed by fusion */
  int fallback_count;              /* nodes placed on the CPU as fallback */
  uint64_t peak_activation_bytes;  /* arena size */
  uint64_t naive_activation_bytes; /* sum of all activation sizes */
  uint64_t weight_bytes;           /* constants as the device holds them */
  char device[32];
} tern_session_info;

TERN_API tern_status tern_session_get_info(const tern_session *session,
                                           tern_session_info *info);
/* Per node after planning: op, name, and the device it runs on. */
TERN_API tern_status tern_session_node_placement(const tern_session *session,
                                                 int index, tern_op *op,
                                                 const char **name,
                                                 const char **device);

#ifdef __cplusplus
}
#endif
#endif /* TERN_H */
