/* cl_internal.h — what the OpenCL backend's files share: the backend and
 * device structs, error mapping, program building with the on-disk binary
 * cache, and the per-op implementation table. Tests and benchmarks include it
 * for the profiling and cache hooks; core never does. */
#ifndef TERN_CL_INTERNAL_H
#define TERN_CL_INTERNAL_H

#include "backend.h"

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

typedef struct tern_cl_devrec {
  cl_platform_id platform;
  cl_device_id id;
  tern_device_info info;
} tern_cl_devrec;

struct tern_backend_ctx {
  int n_devices;
  tern_cl_devrec *devs;
  const void *tuning_db; /* the context's (core/tuning.h), may be NULL */
};

/* A built program, shared by every node of a device that asks for the same
 * source and options. */
typedef struct tern_cl_prog {
  char *key; /* "source|options" */
  cl_program program;
} tern_cl_prog;

/* Optional features, each on only when present, not switched off through its
 * TERN_CL_DISABLE_* variable, and its start-up self-test passed. */
typedef struct tern_cl_features {
  bool fp16, int_dot, subgroups;
  bool clblast;
} tern_cl_features;

/* Tunables of one node (cl_tunables.c), fixed when it is prepared: -D build
 * options and launch sizes. */
typedef struct tern_cl_tune {
  int bm;       /* rows per work-item of tgemm/q8gemm/qgemm_p (-DBM) */
  int gemv_lws; /* local size of tgemv/qgemv8 */
  int conv_kt;  /* taps per work-item of im2col_q (-DKT) */
  int conv_owt; /* outputs per work-item of conv_q_direct (-DOWT) */
  int elt_lws;  /* local size of unary/binary (0: the runtime's choice) */
  int elt_ept;  /* elements per work-item of unary/binary (-DEPT) */
} tern_cl_tune;

struct tern_device {
  tern_backend_ctx *ctx;
  int index;
  cl_device_id id;
  cl_context context;
  cl_command_queue queue;
  char name[128], driver[64], platform_version[128];
  size_t max_wg;
  uint64_t max_alloc_bytes;
  tern_cl_features feat;
  /* quantized GEMM shape: one output per work-item with 4-code dot
   * products (GPUs; TERN_CL_GEMM=dot4) or wide work-items with 16-bit
   * vectors (CPU devices such as PoCL; TERN_CL_GEMM=wide) */
  bool gemm_dot4;
  bool exact_divsqrt;    /* -cl-fp32-correctly-rounded-divide-sqrt offered */
  tern_tunable *tunable; /* cl_tunables.c's list, made on first use */
  tern_cl_tune tune; /* built-in defaults (TERN_CL_TUNE, TERN_CL_QGEMM_BM) */
  tern_cl_prog *progs;
  int n_progs, cap_progs;
  /* scratch memory shared by nodes (the queue is in order) */
  cl_mem scratch[5];
  size_t scratch_bytes[5];
  /* statistics for tests and benchmarks */
  int cache_hits, cache_misses, cache_rejects, source_builds;
  bool profiling;   /* keep events of kernels for timing */
  cl_event *events; /* events of the last node_run when profiling */
  int n_events, cap_events;
};

/* ------------------------------------------------------------- errors */
const char *tern_cl_err_name(cl_int code);
/* Map a cl error to a status and write "what: CL_NAME (code)" into err. */
tern_status tern_cl_fail(tern_err *err, cl_int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ----------------------------------------------------------- programs */
/* Build (or fetch from the in-memory list or the disk cache) the program of
 * embedded source `name` (common.cl is prepended) with `options` and create
 * kernel `kernel`. */
tern_status tern_cl_kernel(tern_device *dev, const char *name,
                           const char *options, const char *kernel,
                           cl_kernel *out, tern_err *err);
/* Build arbitrary source text through the same cache (tests use it). */
tern_status tern_cl_build(tern_device *dev, const char *label,
                          const char *const *texts, int n_texts,
                          const char *options, cl_program *out, tern_err *err);
/* Directory of the binary cache; NULL when caching is off. */
const char *tern_cl_cache_dir(char *buf, size_t bufsize);

/* -------------------------------------------------------------- launch */
/* Slots: 0 activation codes, 1 row scales, 2 im2col, 3 code sums, 4 f32
 * GEMM output before the conv epilogue. */
tern_status tern_cl_scratch(tern_device *dev, int slot, size_t bytes,
                            cl_mem *out, tern_err *err);
/* Enqueue a kernel over global[dims] with local (NULL: runtime choice);
 * global sizes are rounded up to multiples of local. */
tern_status tern_cl_launch(tern_device *dev, cl_kernel k, int dims,
                           const size_t *global, const size_t *local,
                           const char *what, tern_err *err);
/* Record an event for profiling (takes ownership). */
void tern_cl_track_event(tern_device *dev, cl_event ev);

/* Set kernel arguments: pass pairs (size, pointer), terminated by 0. */
tern_status tern_cl_args(cl_kernel k, const char *what, tern_err *err, ...);
#define TERN_CL_MEM(m) sizeof(cl_mem), (const void *)&(m)
#define TERN_CL_INT(v)                                                         \
  sizeof(cl_int), (const void *)&(cl_int) {                                    \
    (cl_int)(v)                                                                \
  }
#define TERN_CL_UINT(v)                                                        \
  sizeof(cl_uint), (const void *)&(cl_uint) {                                  \
    (cl_uint)(v)                                                               \
  }
#define TERN_CL_FLOAT(v)                                                       \
  sizeof(cl_float), (const void *)&(cl_float) {                                \
    (cl_float)(v)                                                              \
  }
#define TERN_CL_END ((size_t)0)

/* Upload host data into a new read-only buffer. */
tern_status tern_cl_upload(tern_device *dev, const void *data, size_t bytes,
                           cl_mem *out, tern_err *err);

static inline cl_mem tern_cl_mem(tern_buffer *b) {
  return (cl_mem)b->impl;
}

/* ------------------------------------------------------------ op table */
typedef struct tern_cl_node tern_cl_node;
typedef struct tern_cl_op {
  /* cheap check beyond op: dtypes, params, sizes */
  bool (*supports)(tern_device *dev, const tern_exec_node *node);
  tern_status (*prepare)(tern_device *dev, const tern_exec_node *node,
                         tern_cl_node *p, tern_err *err);
  tern_status (*run)(tern_device *dev, tern_cl_node *p,
                     tern_buffer *const *bufs, const size_t *offsets,
                     tern_err *err);
} tern_cl_op;

#define TERN_CL_MAX_KERNELS 6
#define TERN_CL_MAX_MEMS 6
/* A prepared node: the op's kernels, device-side constants and sizes. */
struct tern_cl_node {
  const tern_cl_op *op;
  tern_exec_node node; /* copy; host data pointers are not kept valid */
  cl_kernel k[TERN_CL_MAX_KERNELS];
  cl_mem mem[TERN_CL_MAX_MEMS];
  int64_t dim[16];             /* op-specific sizes */
  int mode;                    /* op-specific variant */
  cl_mem cin[TERN_MAX_INPUTS]; /* constant inputs of the simple ops */
  tern_cl_tune tune;           /* chosen at prepare (database or defaults) */
};

/* cl_tunables.c: the device's built-in defaults (TERN_CL_TUNE and
 * TERN_CL_QGEMM_BM applied), the tunables of node's kernel (the tuning
 * database's entry for this device and shape class, else the defaults; the
 * environment overrides both), and the list for `tern tune`. */
void tern_cl_tune_defaults(tern_device *dev);
void tern_cl_tune_for_node(tern_device *dev, const tern_exec_node *node,
                           tern_cl_tune *out);
int tern_cl_tunables(tern_device *dev, const tern_tunable **list);
/* The tunables a prepared node of this backend captured, as its kernels
 * use them ("bm=8"; "" for ops without tunables). Tests read it. */
const char *tern_cl_node_tuning(tern_device *dev, const void *prepared,
                                char *buf, size_t n);
/* cl_backend.c: node_prepare with explicit tunables (NULL: as above). */
tern_status tern_cl_node_prepare_tuned(tern_device *dev,
                                       const tern_exec_node *node,
                                       const tern_cl_tune *tune,
                                       void **prepared, tern_err *err);

/* Input i of a running node: its session buffer, or the constant uploaded
 * at prepare (then *off is 0). *off is in floats. */
cl_mem tern_cl_input(tern_cl_node *p, tern_buffer *const *bufs,
                     const size_t *offsets, int i, cl_uint *off);
/* Upload every constant input of node into p->cin (simple ops). */
tern_status tern_cl_upload_consts(tern_device *dev, const tern_exec_node *node,
                                  tern_cl_node *p, tern_err *err);
/* A 1-D launch of one work-item per element with local size chosen by the
 * runtime. */
tern_status tern_cl_launch1(tern_device *dev, cl_kernel k, size_t n,
                            const char *what, tern_err *err);
/* A 1-D launch over n elements, ept per work-item, local size lws (0: the
 * runtime's choice). */
tern_status tern_cl_launch_ept(tern_device *dev, cl_kernel k, size_t n, int lws,
                               int ept, const char *what, tern_err *err);

extern const tern_cl_op tern_cl_op_linear;
extern const tern_cl_op tern_cl_op_conv2d;
extern const tern_cl_op tern_cl_op_unary;  /* relu relu6 gelu silu */
extern const tern_cl_op tern_cl_op_binary; /* add mul */
extern const tern_cl_op tern_cl_op_copy;   /* flatten reshape */
extern const tern_cl_op tern_cl_op_batchnorm;
extern const tern_cl_op tern_cl_op_pool; /* maxpool avgpool global */
extern const tern_cl_op tern_cl_op_concat;
extern const tern_cl_op tern_cl_op_softmax;
extern const tern_cl_op tern_cl_op_norm; /* layernorm rmsnorm */
extern const tern_cl_op tern_cl_op_matmul;
extern const tern_cl_op tern_cl_op_causal_mask;
extern const tern_cl_op tern_cl_op_rope;
extern const tern_cl_op tern_cl_op_permute;

/* Offsets in bytes of the session arena to element offsets. */
static inline cl_uint tern_cl_off(const size_t *offsets, int i, size_t elem) {
  return (cl_uint)(offsets ? offsets[i] / elem : 0);
}

/* --------------------------------------------------- hooks (tests, bench) */
/* Keep events of every kernel from now on; elapsed_ns sums the profiled
 * kernel time since the last reset. */
void tern_cl_profile(tern_device *dev, bool on);
tern_status tern_cl_profile_elapsed(tern_device *dev, uint64_t *ns,
                                    tern_err *err);
cl_command_queue tern_cl_queue(tern_device *dev);

#endif
