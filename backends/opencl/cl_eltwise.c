/* cl_eltwise.c — relu/relu6/gelu/silu, add/mul with broadcasting and the
 * causal mask on OpenCL (shaders/opencl/eltwise.cl). add/mul compile the
 * indexing path that tern_op_binary_plan chose at prepare (BMODE). */
#include "backends/opencl/cl_internal.h"
#include "core/ops/op_common.h"

#include <stdio.h>
#include <string.h>

static bool all_f32(const tern_exec_node *node) {
  for (int i = 0; i < node->n_inputs; i++)
    if (node->in[i].dtype != TERN_DTYPE_F32)
      return false;
  return node->out.dtype == TERN_DTYPE_F32;
}

static bool unary_supports(tern_device *dev, const tern_exec_node *node) {
  return all_f32(node) && node->n_inputs == 1;
}

static tern_status unary_prepare(tern_device *dev, const tern_exec_node *node,
                                 tern_cl_node *p, tern_err *err) {
  int act = node->op == TERN_OP_RELU    ? TERN_ACT_RELU
            : node->op == TERN_OP_RELU6 ? TERN_ACT_RELU6
            : node->op == TERN_OP_GELU  ? TERN_ACT_GELU
                                        : TERN_ACT_SILU;
  char opts[32];
  snprintf(opts, sizeof opts, "-DACT=%d -DEPT=%d", act, p->tune.elt_ept);
  tern_status s = tern_cl_upload_consts(dev, node, p, err);
  return s ? s : tern_cl_kernel(dev, "eltwise", opts, "unary", &p->k[0], err);
}

static tern_status unary_run(tern_device *dev, tern_cl_node *p,
                             tern_buffer *const *bufs, const size_t *offsets,
                             tern_err *err) {
  cl_uint xo, yo = tern_cl_off(offsets, 1, 4);
  cl_mem x = tern_cl_input(p, bufs, offsets, 0, &xo), y = tern_cl_mem(bufs[1]);
  size_t n = (size_t)tern_view_numel(&p->node.out);
  tern_status s = tern_cl_args(p->k[0], "unary", err, TERN_CL_MEM(x),
                               TERN_CL_UINT(xo), TERN_CL_MEM(y),
                               TERN_CL_UINT(yo), TERN_CL_UINT(n), TERN_CL_END);
  return s ? s
           : tern_cl_launch_ept(dev, p->k[0], n, p->tune.elt_lws,
                                p->tune.elt_ept, "unary", err);
}

const tern_cl_op tern_cl_op_unary = {unary_supports, unary_prepare, unary_run};

/* ------------------------------------------------------------ add, mul */
typedef struct bcast {
  cl_uint n[6], sa[6], sb[6];
} bcast;

static void bcast_strides(const tern_view *v, const tern_view *out,
                          cl_uint *st) {
  int64_t s = 1;
  for (int i = 5; i >= 0; i--) {
    int d = out->ndim - 6 + i;       /* output dim */
    int j = v->ndim - out->ndim + d; /* input dim */
    st[i] = 0;
    if (d < 0 || j < 0)
      continue;
    if (v->shape[j] != 1)
      st[i] = (cl_uint)s;
    s *= v->shape[j];
  }
}

static bool binary_supports(tern_device *dev, const tern_exec_node *node) {
  return all_f32(node) && node->n_inputs == 2 && node->out.ndim <= 6;
}

/* BMODE of eltwise.cl's binary kernel (0 general, 1 same shape, 2 row,
 * 3 channel, 4 scalar), BSWAP 1 when the broadcast operand is a; cnt and
 * the division magics of the row/channel paths. */
static int binary_mode(const tern_exec_node *node, bool *swap, cl_uint *cnt,
                       tern_fastdiv *cnt_d, tern_fastdiv *inner_d) {
  tern_binary_plan plan;
  tern_op_binary_plan(&node->in[0], &node->in[1], &node->out, &plan);
  *swap = plan.bcast_a;
  *cnt = (cl_uint)plan.cnt;
  *cnt_d = tern_fastdiv_make((uint32_t)plan.cnt);
  *inner_d = tern_fastdiv_make((uint32_t)plan.inner);
  if (plan.inner > UINT32_MAX || plan.cnt > UINT32_MAX)
    return 0;
  switch (plan.kind) {
  case TERN_BINARY_SAME:
    return 1;
  case TERN_BINARY_ROW:
    return 2;
  case TERN_BINARY_CHANNEL:
    return 3;
  case TERN_BINARY_SCALAR:
    return 4;
  default:
    return 0;
  }
}

static tern_status binary_prepare(tern_device *dev, const tern_exec_node *node,
                                  tern_cl_node *p, tern_err *err) {
  bool swap;
  cl_uint cnt;
  tern_fastdiv cd, id;
  int mode = binary_mode(node, &swap, &cnt, &cd, &id);
  static const char *const names[] = {"general", "same", "row", "channel",
                                      "scalar"};
  tern_log(TERN_LOG_DEBUG, "opencl: %s '%s' takes the %s path",
           tern_op_name(node->op), node->name ? node->name : "", names[mode]);
  char opts[64];
  snprintf(opts, sizeof opts, "-DBINOP=%d -DEPT=%d -DBMODE=%d -DBSWAP=%d",
           node->op == TERN_OP_MUL, p->tune.elt_ept, mode, (int)swap);
  tern_status s = tern_cl_upload_consts(dev, node, p, err);
  return s ? s : tern_cl_kernel(dev, "eltwise", opts, "binary", &p->k[0], err);
}

static tern_status binary_run(tern_device *dev, tern_cl_node *p,
                              tern_buffer *const *bufs, const size_t *offsets,
                              tern_err *err) {
  const tern_view *out = &p->node.out;
  bool swap;
  cl_uint cnt;
  tern_fastdiv cd, id;
  binary_mode(&p->node, &swap, &cnt, &cd, &id);
  bcast b;
  for (int i = 0; i < 6; i++) {
    int d = out->ndim - 6 + i;
    b.n[i] = d < 0 ? 1 : (cl_uint)out->shape[d];
  }
  bcast_strides(&p->node.in[0], out, b.sa);
  bcast_strides(&p->node.in[1], out, b.sb);
  cl_uint ao, bo, yo = tern_cl_off(offsets, 2, 4);
  cl_mem a = tern_cl_input(p, bufs, offsets, 0, &ao);
  cl_mem bb = tern_cl_input(p, bufs, offsets, 1, &bo);
  cl_mem y = tern_cl_mem(bufs[2]);
  size_t n = (size_t)tern_view_numel(out);
  tern_status s = tern_cl_args(
      p->k[0], "binary", err, TERN_CL_MEM(a), TERN_CL_UINT(ao), TERN_CL_MEM(bb),
      TERN_CL_UINT(bo), TERN_CL_MEM(y), TERN_CL_UINT(yo), TERN_CL_UINT(n),
      sizeof b, (const void *)&b, TERN_CL_UINT(cnt), TERN_CL_UINT(cd.m),
      TERN_CL_UINT(cd.s), TERN_CL_UINT(id.m), TERN_CL_UINT(id.s), TERN_CL_END);
  return s ? s
           : tern_cl_launch_ept(dev, p->k[0], n, p->tune.elt_lws,
                                p->tune.elt_ept, "binary", err);
}

const tern_cl_op tern_cl_op_binary = {binary_supports, binary_prepare,
                                      binary_run};

/* -------------------------------------------------------- causal mask */
static bool mask_supports(tern_device *dev, const tern_exec_node *node) {
  return all_f32(node) && node->in[0].ndim >= 2;
}

static tern_status mask_prepare(tern_device *dev, const tern_exec_node *node,
                                tern_cl_node *p, tern_err *err) {
  tern_status s = tern_cl_upload_consts(dev, node, p, err);
  return s ? s
           : tern_cl_kernel(dev, "eltwise", "", "causal_mask", &p->k[0], err);
}

static tern_status mask_run(tern_device *dev, tern_cl_node *p,
                            tern_buffer *const *bufs, const size_t *offsets,
                            tern_err *err) {
  const tern_view *x = &p->node.in[0];
  cl_uint xo, yo = tern_cl_off(offsets, 1, 4);
  cl_mem xm = tern_cl_input(p, bufs, offsets, 0, &xo), y = tern_cl_mem(bufs[1]);
  size_t n = (size_t)tern_view_numel(x);
  tern_status s =
      tern_cl_args(p->k[0], "causal_mask", err, TERN_CL_MEM(xm),
                   TERN_CL_UINT(xo), TERN_CL_MEM(y), TERN_CL_UINT(yo),
                   TERN_CL_UINT(n), TERN_CL_UINT(x->shape[x->ndim - 2]),
                   TERN_CL_UINT(x->shape[x->ndim - 1]), TERN_CL_END);
  return s ? s : tern_cl_launch1(dev, p->k[0], n, "causal_mask", err);
}

const tern_cl_op tern_cl_op_causal_mask = {mask_supports, mask_prepare,
                                           mask_run};
