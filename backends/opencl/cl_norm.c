/* cl_norm.c — batchnorm, layernorm, rmsnorm and softmax on OpenCL
 * (shaders/opencl/norm.cl). */
#include "backends/opencl/cl_internal.h"

static bool norm_supports(tern_device *dev, const tern_exec_node *node) {
  for (int i = 0; i < node->n_inputs; i++)
    if (node->in[i].dtype != TERN_DTYPE_F32)
      return false;
  return node->in[0].ndim >= (node->op == TERN_OP_BATCHNORM ? 2 : 1);
}

static tern_status norm_prepare(tern_device *dev, const tern_exec_node *node,
                                tern_cl_node *p, tern_err *err) {
  const char *k = node->op == TERN_OP_BATCHNORM   ? "batchnorm"
                  : node->op == TERN_OP_LAYERNORM ? "layernorm"
                  : node->op == TERN_OP_RMSNORM   ? "rmsnorm"
                                                  : "softmax";
  tern_status s = tern_cl_upload_consts(dev, node, p, err);
  return s ? s : tern_cl_kernel(dev, "norm", "", k, &p->k[0], err);
}

static tern_status norm_run(tern_device *dev, tern_cl_node *p,
                            tern_buffer *const *bufs, const size_t *offsets,
                            tern_err *err) {
  const tern_view *x = &p->node.in[0];
  int n_in = p->node.n_inputs;
  float eps = p->node.params.eps != 0 ? p->node.params.eps : 1e-5f;
  cl_uint o[5], yo = tern_cl_off(offsets, n_in, 4);
  cl_mem m[5];
  for (int i = 0; i < n_in && i < 5; i++)
    m[i] = tern_cl_input(p, bufs, offsets, i, &o[i]);
  cl_mem y = tern_cl_mem(bufs[n_in]);
  size_t total = (size_t)tern_view_numel(x);
  int64_t D = x->shape[x->ndim - 1];
  size_t rows = D ? total / (size_t)D : 0;
  tern_status s;
  switch (p->node.op) {
  case TERN_OP_BATCHNORM:
    s = tern_cl_args(p->k[0], "batchnorm", err, TERN_CL_MEM(m[0]),
                     TERN_CL_UINT(o[0]), TERN_CL_MEM(m[1]), TERN_CL_UINT(o[1]),
                     TERN_CL_MEM(m[2]), TERN_CL_UINT(o[2]), TERN_CL_MEM(m[3]),
                     TERN_CL_UINT(o[3]), TERN_CL_MEM(m[4]), TERN_CL_UINT(o[4]),
                     TERN_CL_MEM(y), TERN_CL_UINT(yo), TERN_CL_UINT(total),
                     TERN_CL_UINT(x->shape[1]),
                     TERN_CL_UINT(tern_dims_prod(x->shape, 2, x->ndim)),
                     TERN_CL_FLOAT(eps), TERN_CL_END);
    return s ? s : tern_cl_launch1(dev, p->k[0], total, "batchnorm", err);
  case TERN_OP_LAYERNORM:
    s = tern_cl_args(p->k[0], "layernorm", err, TERN_CL_MEM(m[0]),
                     TERN_CL_UINT(o[0]), TERN_CL_MEM(m[1]), TERN_CL_UINT(o[1]),
                     TERN_CL_MEM(m[2]), TERN_CL_UINT(o[2]), TERN_CL_MEM(y),
                     TERN_CL_UINT(yo), TERN_CL_UINT(rows), TERN_CL_UINT(D),
                     TERN_CL_FLOAT(eps), TERN_CL_END);
    return s ? s : tern_cl_launch1(dev, p->k[0], rows, "layernorm", err);
  case TERN_OP_RMSNORM:
    s = tern_cl_args(p->k[0], "rmsnorm", err, TERN_CL_MEM(m[0]),
                     TERN_CL_UINT(o[0]), TERN_CL_MEM(m[1]), TERN_CL_UINT(o[1]),
                     TERN_CL_MEM(y), TERN_CL_UINT(yo), TERN_CL_UINT(rows),
                     TERN_CL_UINT(D), TERN_CL_FLOAT(eps), TERN_CL_END);
    return s ? s : tern_cl_launch1(dev, p->k[0], rows, "rmsnorm", err);
  default:
    s = tern_cl_args(p->k[0], "softmax", err, TERN_CL_MEM(m[0]),
                     TERN_CL_UINT(o[0]), TERN_CL_MEM(y), TERN_CL_UINT(yo),
                     TERN_CL_UINT(rows), TERN_CL_UINT(D), TERN_CL_END);
    return s ? s : tern_cl_launch1(dev, p->k[0], rows, "softmax", err);
  }
}

const tern_cl_op tern_cl_op_norm = {norm_supports, norm_prepare, norm_run};
const tern_cl_op tern_cl_op_softmax = {norm_supports, norm_prepare, norm_run};
