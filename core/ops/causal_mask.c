/* causal_mask.c — attention causal mask on scores x [..., T, S]:
 * y[i][j] = -INFINITY where j > i + (S - T) (query i, the last T of S key
 * positions), else x[i][j]. Exact. */
#include "op_common.h"

#include <math.h>

tern_status tern_infer_CAUSAL_MASK(const tern_op_params *p, const tern_view *in,
                                   int n_in, tern_view *out, tern_err *err) {
  tern_status s = tern_op_check_arity("causal_mask", n_in, 1, 1, err);
  if (!s)
    s = tern_op_check_f32("causal_mask", in, 0, 1, err);
  if (s)
    return s;
  const tern_view *x = &in[0];
  if (x->ndim < 2) {
    char a[96];
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "causal_mask: input %s must be [..., T, S]",
                        tern_shape_str(x->ndim, x->shape, a, sizeof a));
  }
  tern_op_out_init(out, x->ndim, x->shape);
  return TERN_OK;
}

tern_status tern_ref_CAUSAL_MASK(const tern_op_params *p, const tern_view *in,
                                 int n_in, tern_view *out, tern_err *err) {
  const tern_view *x = &in[0];
  int64_t T = x->shape[x->ndim - 2], S = x->shape[x->ndim - 1];
  int64_t mats = tern_dims_prod(x->shape, 0, x->ndim - 2);
  const float *xd = x->data;
  float *yd = out->data;
  for (int64_t b = 0; b < mats; b++)
    for (int64_t i = 0; i < T; i++)
      for (int64_t j = 0; j < S; j++) {
        int64_t o = (b * T + i) * S + j;
        yd[o] = j > i + (S - T) ? -INFINITY : xd[o];
      }
  return TERN_OK;
}
