/* cl_layout.c — ops that only move data on OpenCL: flatten/reshape (a buffer
 * copy), concat and permute (the scatter kernel of eltwise.cl). */
#include "backends/opencl/cl_internal.h"

#include <string.h>

typedef struct scatter_map {
  cl_uint n[6], so[6], unused[6];
} scatter_map;

static bool f32_only(const tern_exec_node *node) {
  for (int i = 0; i < node->n_inputs; i++)
    if (node->in[i].dtype != TERN_DTYPE_F32 || node->in[i].ndim > 6)
      return false;
  return node->out.dtype == TERN_DTYPE_F32;
}

static bool copy_supports(tern_device *dev, const tern_exec_node *node) {
  return f32_only(node);
}

static tern_status copy_prepare(tern_device *dev, const tern_exec_node *node,
                                tern_cl_node *p, tern_err *err) {
  return tern_cl_upload_consts(dev, node, p, err);
}

static tern_status copy_run(tern_device *dev, tern_cl_node *p,
                            tern_buffer *const *bufs, const size_t *offsets,
                            tern_err *err) {
  cl_uint xo, yo = tern_cl_off(offsets, 1, 4);
  cl_mem x = tern_cl_input(p, bufs, offsets, 0, &xo), y = tern_cl_mem(bufs[1]);
  size_t bytes = (size_t)tern_view_numel(&p->node.out) * sizeof(float);
  if (!bytes || (x == y && xo == yo))
    return TERN_OK; /* the planner may alias a reshape onto its input */
  cl_event ev = NULL;
  cl_int rc = clEnqueueCopyBuffer(tern_cl_queue(dev), x, y, (size_t)xo * 4,
                                  (size_t)yo * 4, bytes, 0, NULL,
                                  dev->profiling ? &ev : NULL);
  if (rc != CL_SUCCESS)
    return tern_cl_fail(err, rc, "copying %zu bytes on '%s'", bytes, dev->name);
  tern_cl_track_event(dev, ev);
  return TERN_OK;
}

const tern_cl_op tern_cl_op_copy = {copy_supports, copy_prepare, copy_run};

/* Launch scatter for x of dims xs[0..nd) into y with output strides so[]. */
static tern_status scatter(tern_device *dev, cl_kernel k, cl_mem x, cl_uint xo,
                           cl_mem y, cl_uint yo, int nd, const int64_t *xs,
                           const int64_t *so, tern_err *err) {
  scatter_map m;
  memset(&m, 0, sizeof m);
  size_t n = 1;
  for (int i = 0; i < 6; i++) {
    int d = nd - 6 + i;
    m.n[i] = d < 0 ? 1 : (cl_uint)xs[d];
    m.so[i] = d < 0 ? 0 : (cl_uint)so[d];
    n *= m.n[i];
  }
  tern_status s =
      tern_cl_args(k, "scatter", err, TERN_CL_MEM(x), TERN_CL_UINT(xo),
                   TERN_CL_MEM(y), TERN_CL_UINT(yo), TERN_CL_UINT(n), sizeof m,
                   (const void *)&m, TERN_CL_END);
  return s ? s : tern_cl_launch1(dev, k, n, "scatter", err);
}

static tern_status scatter_prepare(tern_device *dev, const tern_exec_node *node,
                                   tern_cl_node *p, tern_err *err) {
  tern_status s = tern_cl_upload_consts(dev, node, p, err);
  return s ? s : tern_cl_kernel(dev, "eltwise", "", "scatter", &p->k[0], err);
}

static tern_status concat_run(tern_device *dev, tern_cl_node *p,
                              tern_buffer *const *bufs, const size_t *offsets,
                              tern_err *err) {
  const tern_view *out = &p->node.out;
  int nd = out->ndim, ax = p->node.params.axis;
  if (ax < 0)
    ax += nd;
  int n_in = p->node.n_inputs;
  cl_uint yo = tern_cl_off(offsets, n_in, 4);
  cl_mem y = tern_cl_mem(bufs[n_in]);
  int64_t inner = tern_dims_prod(out->shape, ax + 1, nd);
  int64_t prefix = 0;
  for (int i = 0; i < n_in; i++) {
    const tern_view *x = &p->node.in[i];
    /* x as [outer, axis_i * inner] into rows of axis_total * inner */
    int64_t xs[2] = {tern_dims_prod(x->shape, 0, ax), x->shape[ax] * inner};
    int64_t so[2] = {out->shape[ax] * inner, 1};
    cl_uint xo;
    cl_mem xm = tern_cl_input(p, bufs, offsets, i, &xo);
    if (xs[0] * xs[1] > 0) {
      tern_status s = scatter(dev, p->k[0], xm, xo, y,
                              yo + (cl_uint)(prefix * inner), 2, xs, so, err);
      if (s)
        return s;
    }
    prefix += x->shape[ax];
  }
  return TERN_OK;
}

static bool concat_supports(tern_device *dev, const tern_exec_node *node) {
  int ax = node->params.axis;
  return f32_only(node) && ax >= -node->out.ndim && ax < node->out.ndim;
}

const tern_cl_op tern_cl_op_concat = {concat_supports, scatter_prepare,
                                      concat_run};

static bool permute_supports(tern_device *dev, const tern_exec_node *node) {
  return f32_only(node) && node->params.ndim == node->in[0].ndim;
}

static tern_status permute_run(tern_device *dev, tern_cl_node *p,
                               tern_buffer *const *bufs, const size_t *offsets,
                               tern_err *err) {
  const tern_view *x = &p->node.in[0], *out = &p->node.out;
  int nd = x->ndim;
  int64_t ostride[TERN_MAX_DIMS], so[TERN_MAX_DIMS];
  int64_t st = 1;
  for (int i = nd - 1; i >= 0; i--) {
    ostride[i] = st;
    st *= out->shape[i];
  }
  /* output dim k walks input dim perm[k] */
  for (int k = 0; k < nd; k++)
    so[p->node.params.perm[k]] = ostride[k];
  cl_uint xo, yo = tern_cl_off(offsets, 1, 4);
  cl_mem xm = tern_cl_input(p, bufs, offsets, 0, &xo);
  if (!tern_view_numel(x))
    return TERN_OK;
  return scatter(dev, p->k[0], xm, xo, tern_cl_mem(bufs[1]), yo, nd, x->shape,
                 so, err);
}

const tern_cl_op tern_cl_op_permute = {permute_supports, scatter_prepare,
                                       permute_run};
