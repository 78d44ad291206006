/* rope.c — rotary position embedding on x [..., T, D] (D even), interleaved
 * pairs (2i, 2i+1), position = index t along dim -2. Per pair, in float with
 * each operation rounded on its own:
 *   inv   = powf(theta, -(float)(2*i) / (float)D)       (theta 0 means 10000)
 *   angle = (float)t * inv;  c = cosf(angle);  s = sinf(angle)
 *   y0 = x0*c - x1*s;  y1 = x0*s + x1*c */
#include "op_common.h"

#include <math.h>

tern_status tern_infer_ROPE(const tern_op_params *p, const tern_view *in,
                            int n_in, tern_view *out, tern_err *err) {
  tern_status s = tern_op_check_arity("rope", n_in, 1, 1, err);
  if (!s)
    s = tern_op_check_f32("rope", in, 0, 1, err);
  if (s)
    return s;
  const tern_view *x = &in[0];
  char a[96];
  tern_shape_str(x->ndim, x->shape, a, sizeof a);
  if (x->ndim < 2 || x->shape[x->ndim - 1] % 2)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "rope: input %s must be [..., T, D] with D even", a);
  if (!(p->theta >= 0) || isinf(p->theta))
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "rope: theta %g must be finite and > 0 (0 means "
                        "10000)",
                        (double)p->theta);
  tern_op_out_init(out, x->ndim, x->shape);
  return TERN_OK;
}

tern_status tern_ref_ROPE(const tern_op_params *p, const tern_view *in,
                          int n_in, tern_view *out, tern_err *err) {
  const tern_view *x = &in[0];
  float theta = p->theta != 0 ? p->theta : 10000.0f;
  int64_t T = x->shape[x->ndim - 2], D = x->shape[x->ndim - 1];
  int64_t mats = tern_dims_prod(x->shape, 0, x->ndim - 2);
  const float *xd = x->data;
  float *yd = out->data;
  for (int64_t b = 0; b < mats; b++)
    for (int64_t t = 0; t < T; t++)
      for (int64_t i = 0; i < D / 2; i++) {
        float inv = powf(theta, -(float)(2 * i) / (float)D);
        float angle = (float)t * inv;
        float c = cosf(angle), s = sinf(angle);
        int64_t o = (b * T + t) * D + 2 * i;
        float x0 = xd[o], x1 = xd[o + 1];
        float u = x0 * c, v = x1 * s;
        float w = x0 * s, z = x1 * c;
        yd[o] = u - v;
        yd[o + 1] = w + z;
      }
  return TERN_OK;
}
