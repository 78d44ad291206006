/* relu6.c — elementwise relu6: y = min(max(x, 0), 6), exact.
 * x: f32, any shape; y: same shape. */
#include "op_common.h"

tern_status tern_infer_RELU6(const tern_op_params *p, const tern_view *in,
                             int n_in, tern_view *out, tern_err *err) {
  return tern_op_infer_unary("relu6", in, n_in, out, err);
}

tern_status tern_ref_RELU6(const tern_op_params *p, const tern_view *in,
                           int n_in, tern_view *out, tern_err *err) {
  tern_op_ref_unary(TERN_ACT_RELU6, in, out);
  return TERN_OK;
}
