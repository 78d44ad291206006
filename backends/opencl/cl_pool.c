/* cl_pool.c — maxpool2d, avgpool2d and global_avgpool on OpenCL
 * (shaders/opencl/pool.cl). */
#include "backends/opencl/cl_internal.h"

typedef struct pool_geom {
  cl_uint H, W, KH, KW, SH, SW, PH, PW, OH, OW, count_include_pad;
} pool_geom;

static bool pool_supports(tern_device *dev, const tern_exec_node *node) {
  return node->in[0].dtype == TERN_DTYPE_F32 && node->in[0].ndim == 4 &&
         node->out.ndim == 4;
}

static tern_status pool_prepare(tern_device *dev, const tern_exec_node *node,
                                tern_cl_node *p, tern_err *err) {
  const char *k = node->op == TERN_OP_MAXPOOL2D   ? "maxpool2d"
                  : node->op == TERN_OP_AVGPOOL2D ? "avgpool2d"
                                                  : "global_avgpool";
  tern_status s = tern_cl_upload_consts(dev, node, p, err);
  return s ? s : tern_cl_kernel(dev, "pool", "", k, &p->k[0], err);
}

static tern_status pool_run(tern_device *dev, tern_cl_node *p,
                            tern_buffer *const *bufs, const size_t *offsets,
                            tern_err *err) {
  const tern_view *x = &p->node.in[0], *out = &p->node.out;
  const tern_op_params *pp = &p->node.params;
  cl_uint xo, yo = tern_cl_off(offsets, 1, 4);
  cl_mem xm = tern_cl_input(p, bufs, offsets, 0, &xo), y = tern_cl_mem(bufs[1]);
  tern_status s;
  if (p->node.op == TERN_OP_GLOBAL_AVGPOOL) {
    size_t nc = (size_t)(x->shape[0] * x->shape[1]);
    s = tern_cl_args(p->k[0], "global_avgpool", err, TERN_CL_MEM(xm),
                     TERN_CL_UINT(xo), TERN_CL_MEM(y), TERN_CL_UINT(yo),
                     TERN_CL_UINT(nc), TERN_CL_UINT(x->shape[2] * x->shape[3]),
                     TERN_CL_END);
    return s ? s : tern_cl_launch1(dev, p->k[0], nc, "global_avgpool", err);
  }
  pool_geom g = {(cl_uint)x->shape[2],
                 (cl_uint)x->shape[3],
                 (cl_uint)pp->kernel[0],
                 (cl_uint)pp->kernel[1],
                 (cl_uint)(pp->stride[0] ? pp->stride[0] : pp->kernel[0]),
                 (cl_uint)(pp->stride[1] ? pp->stride[1] : pp->kernel[1]),
                 (cl_uint)pp->pad[0],
                 (cl_uint)pp->pad[1],
                 (cl_uint)out->shape[2],
                 (cl_uint)out->shape[3],
                 (cl_uint)(pp->count_include_pad != 0)};
  size_t n = (size_t)tern_view_numel(out);
  const char *what =
      p->node.op == TERN_OP_MAXPOOL2D ? "maxpool2d" : "avgpool2d";
  s = tern_cl_args(p->k[0], what, err, TERN_CL_MEM(xm), TERN_CL_UINT(xo),
                   TERN_CL_MEM(y), TERN_CL_UINT(yo), TERN_CL_UINT(n), sizeof g,
                   (const void *)&g, TERN_CL_END);
  return s ? s : tern_cl_launch1(dev, p->k[0], n, what, err);
}

const tern_cl_op tern_cl_op_pool = {pool_supports, pool_prepare, pool_run};
