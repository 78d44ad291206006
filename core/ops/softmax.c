/* softmax.c — softmax over the last axis: per row, m = max, e_i =
 * expf(x_i - m), s = sum of e_i in ascending order from 0.0f, y_i = e_i / s.
 * params.axis: 0 or -1 (or ndim-1) name the last axis; others unsupported. */
#include "op_common.h"

#include <math.h>

tern_status tern_infer_SOFTMAX(const tern_op_params *p, const tern_view *in,
                               int n_in, tern_view *out, tern_err *err) {
  tern_status s = tern_op_check_arity("softmax", n_in, 1, 1, err);
  if (!s)
    s = tern_op_check_f32("softmax", in, 0, 1, err);
  if (s)
    return s;
  const tern_view *x = &in[0];
  char a[96];
  tern_shape_str(x->ndim, x->shape, a, sizeof a);
  if (x->ndim < 1 || x->shape[x->ndim - 1] < 1)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "softmax: input %s needs a non-empty last axis", a);
  if (p->axis != 0 && p->axis != -1 && p->axis != x->ndim - 1)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "softmax: axis %d of input %s: only the last axis "
                        "(0, -1 or %d) is supported",
                        p->axis, a, x->ndim - 1);
  tern_op_out_init(out, x->ndim, x->shape);
  return TERN_OK;
}

tern_status tern_ref_SOFTMAX(const tern_op_params *p, const tern_view *in,
                             int n_in, tern_view *out, tern_err *err) {
  const tern_view *x = &in[0];
  int64_t D = x->shape[x->ndim - 1], rows = tern_view_numel(x) / D;
  const float *xd = x->data;
  float *yd = out->data;
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = xd + r * D;
    float *yr = yd + r * D;
    float m = xr[0];
    for (int64_t i = 1; i < D; i++)
      if (xr[i] > m || xr[i] != xr[i])
        m = xr[i];
    float sum = 0.0f;
    for (int64_t i = 0; i < D; i++) {
      yr[i] = expf(xr[i] - m);
      sum += yr[i];
    }
    for (int64_t i = 0; i < D; i++)
      yr[i] = yr[i] / sum;
  }
  return TERN_OK;
}
