/* batchnorm.c — inference batch normalization over dim 1 of x [N, C, ...]:
 * k = gamma / sqrtf(var + eps); y = (x - mean) * k + beta, each operation
 * rounded on its own (no contraction), per element in that order. */
#include "op_common.h"

#include <math.h>

tern_status tern_infer_BATCHNORM(const tern_op_params *p, const tern_view *in,
                                 int n_in, tern_view *out, tern_err *err) {
  static const char *names[] = {"x", "gamma", "beta", "mean", "var"};
  tern_status s = tern_op_check_arity("batchnorm", n_in, 5, 5, err);
  if (!s)
    s = tern_op_check_f32("batchnorm", in, 0, 5, err);
  if (s)
    return s;
  char a[96], b[96];
  const tern_view *x = &in[0];
  if (x->ndim < 2)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "batchnorm: input %s must be [N, C, ...]",
                        tern_shape_str(x->ndim, x->shape, a, sizeof a));
  for (int i = 1; i < 5; i++)
    if (in[i].ndim != 1 || in[i].shape[0] != x->shape[1])
      return tern_err_set(
          err, TERN_ERR_SHAPE, "batchnorm: %s %s must be [%lld] for input %s",
          names[i], tern_shape_str(in[i].ndim, in[i].shape, b, sizeof b),
          (long long)x->shape[1],
          tern_shape_str(x->ndim, x->shape, a, sizeof a));
  if (!(p->eps >= 0) || isinf(p->eps))
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "batchnorm: eps %g must be finite and >= 0",
                        (double)p->eps);
  tern_op_out_init(out, x->ndim, x->shape);
  return TERN_OK;
}

tern_status tern_ref_BATCHNORM(const tern_op_params *p, const tern_view *in,
                               int n_in, tern_view *out, tern_err *err) {
  const tern_view *x = &in[0];
  const float *gamma = in[1].data, *beta = in[2].data, *mean = in[3].data,
              *var = in[4].data;
  float eps = p->eps != 0 ? p->eps : 1e-5f;
  int64_t N = x->shape[0], C = x->shape[1];
  int64_t inner = tern_dims_prod(x->shape, 2, x->ndim);
  const float *xd = x->data;
  float *yd = out->data;
  for (int64_t c = 0; c < C; c++) {
    float k = gamma[c] / sqrtf(var[c] + eps);
    for (int64_t n = 0; n < N; n++) {
      int64_t base = (n * C + c) * inner;
      for (int64_t i = 0; i < inner; i++) {
        float t = xd[base + i] - mean[c];
        t = t * k;
        yd[base + i] = t + beta[c];
      }
    }
  }
  return TERN_OK;
}
