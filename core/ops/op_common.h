/* op_common.h — small helpers shared by the reference ops in core/ops/:
 * argument checks with messages, output views, numpy-style broadcasting and
 * the elementwise activation ops. */
#ifndef TERN_OP_COMMON_H
#define TERN_OP_COMMON_H

#include "tern_internal.h"

/* Defined in linear.c: weights must be f32, i8 or ternary with 1 or shape[0]
 * scales. */
tern_status tern_check_weight(const tern_view *w, const char *op,
                              tern_err *err);

/* dtype name for messages; never NULL. */
const char *tern_op_dtype_str(tern_dtype d);

/* n_in within [lo, hi] (the op table checks this too; infer functions are
 * also called directly by tests and tools). */
tern_status tern_op_check_arity(const char *op, int n_in, int lo, int hi,
                                tern_err *err);

/* Input i has a valid shape (0 <= ndim <= TERN_MAX_DIMS, dims >= 0). */
tern_status tern_op_check_shape(const char *op, const tern_view *v, int i,
                                tern_err *err);

/* Inputs [from, to) are f32 with valid shapes. */
tern_status tern_op_check_f32(const char *op, const tern_view *in, int from,
                              int to, tern_err *err);

/* An f32 output view of the given shape, no data. */
void tern_op_out_init(tern_view *out, int ndim, const int64_t *shape);

/* Numpy broadcasting of a and b (right-aligned; dims equal or one of them 1)
 * into out's shape. */
tern_status tern_op_broadcast_shape(const char *op, const tern_view *a,
                                    const tern_view *b, tern_view *out,
                                    tern_err *err);

/* Strides (in elements of a contiguous tensor of shape in_shape[0..in_ndim))
 * seen from an output of `ndim` dims, right-aligned: dims of `in` that are 1
 * or missing get stride 0 (that is how broadcasting reads). */
void tern_op_broadcast_strides(int in_ndim, const int64_t *in_shape, int ndim,
                               int64_t *strides);

/* y = f(a, b) elementwise with numpy broadcasting (out shape from
 * tern_op_broadcast_shape). */
void tern_op_ref_binary(const tern_view *a, const tern_view *b, tern_view *out,
                        float (*f)(float, float));

/* How a GPU backend can index add/mul (chosen at node prepare; the general
 * decomposition of the output index is the fallback):
 *   SAME     a and b have the output's shape: x[i] op y[i];
 *   ROW      one operand is a contiguous row repeated along the leading dims
 *            (innermost dims, e.g. [N, C] op [C]): its index is i % cnt;
 *   CHANNEL  one operand spans a contiguous block of dims followed by
 *            broadcast ones (e.g. [N, C, H, W] op [1, C, 1, 1]): its index is
 *            (i / inner) % cnt;
 *   SCALAR   one operand has one element: its index is 0.
 * The other operand always has the output's shape (index i); bcast_a says
 * the broadcast one is a (the operation stays a op b). */
typedef enum tern_binary_kind {
  TERN_BINARY_GENERAL,
  TERN_BINARY_SAME,
  TERN_BINARY_ROW,
  TERN_BINARY_CHANNEL,
  TERN_BINARY_SCALAR
} tern_binary_kind;

/* Unsigned 32-bit division by a constant d >= 2 without a divide
 * (Granlund-Montgomery): t = mulhi(m, n), n / d = (t + ((n - t) >> 1)) >> s,
 * exact for every 32-bit n. GPUs without a vector divide (llvmpipe, CPU
 * OpenCL) otherwise divide lane by lane. */
typedef struct tern_fastdiv {
  uint32_t m, s;
} tern_fastdiv;

/* The magic of d (2 <= d <= UINT32_MAX). */
tern_fastdiv tern_fastdiv_make(uint32_t d);

static inline uint32_t tern_fastdiv_apply(tern_fastdiv f, uint32_t n) {
  uint32_t t = (uint32_t)(((uint64_t)f.m * n) >> 32);
  return (t + ((n - t) >> 1)) >> f.s;
}

typedef struct tern_binary_plan {
  tern_binary_kind kind;
  bool bcast_a;
  /* ROW (inner 1) and CHANNEL: cnt >= 2, and inner >= 2 for CHANNEL, unless
   * the output is empty */
  int64_t inner, cnt;
} tern_binary_plan;

/* The plan for out = a op b (out from tern_op_broadcast_shape). */
void tern_op_binary_plan(const tern_view *a, const tern_view *b,
                         const tern_view *out, tern_binary_plan *plan);

/* "general", "same", "row", "channel", "scalar". */
const char *tern_binary_kind_name(tern_binary_kind k);

/* Advance a multi-index over `shape`; returns false after the last one. */
bool tern_op_next_index(int ndim, const int64_t *shape, int64_t *idx);

/* The elementwise activation ops (relu, relu6, gelu, silu). */
tern_status tern_op_infer_unary(const char *op, const tern_view *in, int n_in,
                                tern_view *out, tern_err *err);
void tern_op_ref_unary(tern_activation act, const tern_view *in,
                       tern_view *out);

/* Window geometry shared by maxpool2d and avgpool2d. */
typedef struct tern_pool_geom {
  int64_t N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW;
} tern_pool_geom;

/* Validate x [N, C, H, W] and kernel (> 0), stride (0 means kernel) and pad
 * (0 <= pad <= kernel/2); fill g with OH = (H + 2*PH - KH) / SH + 1, ... */
tern_status tern_pool_geometry(const char *op, const tern_op_params *p,
                               const tern_view *in, int n_in, tern_pool_geom *g,
                               tern_err *err);

/* Defined in layernorm.c, shared with rmsnorm: x [..., D] (D >= 1) followed
 * by n_vec f32 vectors [D] (gamma, beta); eps finite and >= 0. */
tern_status tern_norm_infer(const char *op, const tern_op_params *p,
                            const tern_view *in, int n_in, int n_vec,
                            tern_view *out, tern_err *err);

#endif
