/* relu.c — elementwise relu: y = max(x, 0), exact.
 * x: f32, any shape; y: same shape. */
#include "op_common.h"

tern_status tern_infer_RELU(const tern_op_params *p, const tern_view *in,
                            int n_in, tern_view *out, tern_err *err) {
  return tern_op_infer_unary("relu", in, n_in, out, err);
}

tern_status tern_ref_RELU(const tern_op_params *p, const tern_view *in,
                          int n_in, tern_view *out, tern_err *err) {
  tern_op_ref_unary(TERN_ACT_RELU, in, out);
  return TERN_OK;
}
