/* cl_matmul.c — batched f32 matmul (reference order, numpy batch
 * broadcasting) and rope on OpenCL (shaders/opencl/matmul.cl). */
#include "backends/opencl/cl_internal.h"

#include <string.h>

typedef struct mm_map {
  cl_uint nb[4], sa[4], sb[4];
} mm_map;

static bool f32_all(const tern_exec_node *node) {
  for (int i = 0; i < node->n_inputs; i++)
    if (node->in[i].dtype != TERN_DTYPE_F32)
      return false;
  return true;
}

static bool mm_supports(tern_device *dev, const tern_exec_node *node) {
  return f32_all(node) && node->out.ndim >= 2 && node->out.ndim <= 6;
}

static tern_status mm_prepare(tern_device *dev, const tern_exec_node *node,
                              tern_cl_node *p, tern_err *err) {
  tern_status s = tern_cl_upload_consts(dev, node, p, err);
  return s ? s : tern_cl_kernel(dev, "matmul", "", "matmul", &p->k[0], err);
}

/* batch strides (in matrices) of an operand whose batch dims are
 * shape[0..nd-2), broadcast against the output's nb batch dims */
static void batch_strides(const tern_view *v, int nb, cl_uint *st) {
  int vb = v->ndim - 2;
  int64_t s = 1;
  for (int i = 3; i >= 0; i--) {
    int d = nb - 4 + i, j = vb - nb + d;
    st[i] = 0;
    if (d < 0 || j < 0)
      continue;
    if (v->shape[j] != 1)
      st[i] = (cl_uint)s;
    s *= v->shape[j];
  }
}

static tern_status mm_run(tern_device *dev, tern_cl_node *p,
                          tern_buffer *const *bufs, const size_t *offsets,
                          tern_err *err) {
  const tern_view *A = &p->node.in[0], *B = &p->node.in[1], *out = &p->node.out;
  int nb = out->ndim - 2;
  mm_map m;
  memset(&m, 0, sizeof m);
  for (int i = 0; i < 4; i++) {
    int d = nb - 4 + i;
    m.nb[i] = d < 0 ? 1 : (cl_uint)out->shape[d];
  }
  batch_strides(A, nb, m.sa);
  batch_strides(B, nb, m.sb);
  int64_t M = out->shape[nb], N = out->shape[nb + 1], K = A->shape[A->ndim - 1];
  int64_t batches = tern_dims_prod(out->shape, 0, nb);
  float alpha = p->node.params.alpha != 0 ? p->node.params.alpha : 1.0f;
  cl_uint ao, bo, yo = tern_cl_off(offsets, 2, 4);
  cl_mem a = tern_cl_input(p, bufs, offsets, 0, &ao);
  cl_mem b = tern_cl_input(p, bufs, offsets, 1, &bo);
  tern_status s = tern_cl_args(
      p->k[0], "matmul", err, TERN_CL_MEM(a), TERN_CL_UINT(ao), TERN_CL_MEM(b),
      TERN_CL_UINT(bo), TERN_CL_MEM(bufs[2]->impl), TERN_CL_UINT(yo),
      TERN_CL_UINT(M), TERN_CL_UINT(N), TERN_CL_UINT(K), TERN_CL_UINT(batches),
      TERN_CL_UINT(p->node.params.transpose_b != 0), TERN_CL_FLOAT(alpha),
      sizeof m, (const void *)&m, TERN_CL_END);
  size_t g[3] = {(size_t)N, (size_t)M, (size_t)batches};
  if (s || !N || !M || !batches)
    return s;
  return tern_cl_launch(dev, p->k[0], 3, g, NULL, "matmul", err);
}

const tern_cl_op tern_cl_op_matmul = {mm_supports, mm_prepare, mm_run};

static bool rope_supports(tern_device *dev, const tern_exec_node *node) {
  return f32_all(node) && node->in[0].ndim >= 2;
}

static tern_status rope_prepare(tern_device *dev, const tern_exec_node *node,
                                tern_cl_node *p, tern_err *err) {
  tern_status s = tern_cl_upload_consts(dev, node, p, err);
  return s ? s : tern_cl_kernel(dev, "matmul", "", "rope", &p->k[0], err);
}

static tern_status rope_run(tern_device *dev, tern_cl_node *p,
                            tern_buffer *const *bufs, const size_t *offsets,
                            tern_err *err) {
  const tern_view *x = &p->node.in[0];
  float theta = p->node.params.theta != 0 ? p->node.params.theta : 10000.0f;
  cl_uint xo, yo = tern_cl_off(offsets, 1, 4);
  cl_mem xm = tern_cl_input(p, bufs, offsets, 0, &xo);
  size_t pairs = (size_t)tern_view_numel(x) / 2;
  tern_status s = tern_cl_args(
      p->k[0], "rope", err, TERN_CL_MEM(xm), TERN_CL_UINT(xo),
      TERN_CL_MEM(bufs[1]->impl), TERN_CL_UINT(yo), TERN_CL_UINT(pairs),
      TERN_CL_UINT(x->shape[x->ndim - 2]), TERN_CL_UINT(x->shape[x->ndim - 1]),
      TERN_CL_FLOAT(theta), TERN_CL_END);
  return s ? s : tern_cl_launch1(dev, p->k[0], pairs, "rope", err);
}

const tern_cl_op tern_cl_op_rope = {rope_supports, rope_prepare, rope_run};
