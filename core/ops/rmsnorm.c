/* rmsnorm.c — RMS normalization over the last axis of x [..., D] with
 * gamma [D]. Per row, each operation rounded on its own:
 *   ms  = (sum x_i*x_i, ascending from 0.0f) / D
 *   r   = 1.0f / sqrtf(ms + eps)                         (eps 0 means 1e-5)
 *   y_i = (x_i * r) * gamma_i */
#include "op_common.h"

#include <math.h>

tern_status tern_infer_RMSNORM(const tern_op_params *p, const tern_view *in,
                               int n_in, tern_view *out, tern_err *err) {
  return tern_norm_infer("rmsnorm", p, in, n_in, 1, out, err);
}

tern_status tern_ref_RMSNORM(const tern_op_params *p, const tern_view *in,
                             int n_in, tern_view *out, tern_err *err) {
  const tern_view *x = &in[0];
  const float *gamma = in[1].data;
  float eps = p->eps != 0 ? p->eps : 1e-5f;
  int64_t D = x->shape[x->ndim - 1], rows = tern_view_numel(x) / D;
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = (const float *)x->data + r * D;
    float *yr = (float *)out->data + r * D;
    float sq = 0.0f;
    for (int64_t i = 0; i < D; i++)
      sq += xr[i] * xr[i];
    float rs = 1.0f / sqrtf(sq / (float)D + eps);
    for (int64_t i = 0; i < D; i++)
      yr[i] = (xr[i] * rs) * gamma[i];
  }
  return TERN_OK;
}
