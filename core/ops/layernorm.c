/* layernorm.c — layer normalization over the last axis of x [..., D] with
 * gamma [D] and beta [D]. Per row, each operation rounded on its own:
 *   mean = (sum x_i, ascending from 0.0f) / D
 *   var  = (sum (x_i - mean)^2, ascending) / D          (biased)
 *   r    = 1.0f / sqrtf(var + eps)                       (eps 0 means 1e-5)
 *   y_i  = ((x_i - mean) * r) * gamma_i + beta_i */
#include "op_common.h"

#include <math.h>

tern_status tern_norm_infer(const char *op, const tern_op_params *p,
                            const tern_view *in, int n_in, int n_vec,
                            tern_view *out, tern_err *err) {
  static const char *names[] = {"x", "gamma", "beta"};
  tern_status s = tern_op_check_arity(op, n_in, 1 + n_vec, 1 + n_vec, err);
  if (!s)
    s = tern_op_check_f32(op, in, 0, n_in, err);
  if (s)
    return s;
  const tern_view *x = &in[0];
  char a[96], b[96];
  tern_shape_str(x->ndim, x->shape, a, sizeof a);
  if (x->ndim < 1 || x->shape[x->ndim - 1] < 1)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "%s: input %s needs a non-empty last axis", op, a);
  int64_t D = x->shape[x->ndim - 1];
  for (int i = 1; i < n_in; i++)
    if (in[i].ndim != 1 || in[i].shape[0] != D)
      return tern_err_set(err, TERN_ERR_SHAPE,
                          "%s: %s %s must be [%lld] for input %s", op, names[i],
                          tern_shape_str(in[i].ndim, in[i].shape, b, sizeof b),
                          (long long)D, a);
  if (!(p->eps >= 0) || isinf(p->eps))
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "%s: eps %g must be finite and >= 0", op,
                        (double)p->eps);
  tern_op_out_init(out, x->ndim, x->shape);
  return TERN_OK;
}

tern_status tern_infer_LAYERNORM(const tern_op_params *p, const tern_view *in,
                                 int n_in, tern_view *out, tern_err *err) {
  return tern_norm_infer("layernorm", p, in, n_in, 2, out, err);
}

tern_status tern_ref_LAYERNORM(const tern_op_params *p, const tern_view *in,
                               int n_in, tern_view *out, tern_err *err) {
  const tern_view *x = &in[0];
  const float *gamma = in[1].data, *beta = in[2].data;
  float eps = p->eps != 0 ? p->eps : 1e-5f;
  int64_t D = x->shape[x->ndim - 1], rows = tern_view_numel(x) / D;
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = (const float *)x->data + r * D;
    float *yr = (float *)out->data + r * D;
    float sum = 0.0f;
    for (int64_t i = 0; i < D; i++)
      sum += xr[i];
    float mean = sum / (float)D;
    float sq = 0.0f;
    for (int64_t i = 0; i < D; i++) {
      float d = xr[i] - mean;
      sq += d * d;
    }
    float var = sq / (float)D;
    float rs = 1.0f / sqrtf(var + eps);
    for (int64_t i = 0; i < D; i++) {
      float t = (xr[i] - mean) * rs;
      t = t * gamma[i];
      yr[i] = t + beta[i];
    }
  }
  return TERN_OK;
}
