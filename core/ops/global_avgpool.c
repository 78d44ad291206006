/* global_avgpool.c — mean over H and W of x [N, C, H, W] -> [N, C, 1, 1]:
 * float sum of the H*W values in memory order from 0.0f, then divided by
 * (float)(H*W). */
#include "op_common.h"

tern_status tern_infer_GLOBAL_AVGPOOL(const tern_op_params *p,
                                      const tern_view *in, int n_in,
                                      tern_view *out, tern_err *err) {
  tern_status s = tern_op_check_arity("global_avgpool", n_in, 1, 1, err);
  if (!s)
    s = tern_op_check_f32("global_avgpool", in, 0, 1, err);
  if (s)
    return s;
  const tern_view *x = &in[0];
  char a[96];
  if (x->ndim != 4 || x->shape[2] < 1 || x->shape[3] < 1)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "global_avgpool: input %s must be 4-D [N, C, H, W] "
                        "with H, W >= 1",
                        tern_shape_str(x->ndim, x->shape, a, sizeof a));
  int64_t shape[4] = {x->shape[0], x->shape[1], 1, 1};
  tern_op_out_init(out, 4, shape);
  return TERN_OK;
}

tern_status tern_ref_GLOBAL_AVGPOOL(const tern_op_params *p,
                                    const tern_view *in, int n_in,
                                    tern_view *out, tern_err *err) {
  const tern_view *x = &in[0];
  int64_t NC = x->shape[0] * x->shape[1], HW = x->shape[2] * x->shape[3];
  const float *xd = x->data;
  float *yd = out->data;
  for (int64_t i = 0; i < NC; i++) {
    float sum = 0.0f;
    for (int64_t j = 0; j < HW; j++)
      sum += xd[i * HW + j];
    yd[i] = sum / (float)HW;
  }
  return TERN_OK;
}
