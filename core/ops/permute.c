/* permute.c — transpose dims: params.perm[0..ndim) is a permutation of the
 * input's dims (params.ndim == x.ndim); output dim i = input dim perm[i].
 * Exact (a copy). */
#include "op_common.h"

tern_status tern_infer_PERMUTE(const tern_op_params *p, const tern_view *in,
                               int n_in, tern_view *out, tern_err *err) {
  tern_status s = tern_op_check_arity("permute", n_in, 1, 1, err);
  if (!s)
    s = tern_op_check_f32("permute", in, 0, 1, err);
  if (s)
    return s;
  const tern_view *x = &in[0];
  char a[96];
  tern_shape_str(x->ndim, x->shape, a, sizeof a);
  if (p->ndim != x->ndim)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "permute: ndim %d does not match input %s", p->ndim, a);
  bool seen[TERN_MAX_DIMS] = {false};
  int64_t shape[TERN_MAX_DIMS];
  for (int i = 0; i < p->ndim; i++) {
    int32_t d = p->perm[i];
    if (d < 0 || d >= x->ndim || seen[d])
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "permute: perm[%d] = %d is out of range or repeated "
                          "(input %s)",
                          i, d, a);
    seen[d] = true;
    shape[i] = x->shape[d];
  }
  tern_op_out_init(out, x->ndim, shape);
  return TERN_OK;
}

tern_status tern_ref_PERMUTE(const tern_op_params *p, const tern_view *in,
                             int n_in, tern_view *out, tern_err *err) {
  const tern_view *x = &in[0];
  int nd = x->ndim;
  int64_t in_stride[TERN_MAX_DIMS], st[TERN_MAX_DIMS], idx[TERN_MAX_DIMS] = {0};
  int64_t acc = 1;
  for (int d = nd - 1; d >= 0; d--) {
    in_stride[d] = acc;
    acc *= x->shape[d];
  }
  for (int i = 0; i < nd; i++)
    st[i] = in_stride[p->perm[i]];
  int64_t n = tern_view_numel(out);
  const float *xd = x->data;
  float *yd = out->data;
  for (int64_t o = 0; o < n; o++) {
    int64_t off = 0;
    for (int i = 0; i < nd; i++)
      off += idx[i] * st[i];
    yd[o] = xd[off];
    tern_op_next_index(nd, out->shape, idx);
  }
  return TERN_OK;
}
