/* gelu.c — elementwise gelu: y = 0.5x(1 + tanh(0.7978845608(x + 0.044715x^3))),
 * the tanh approximation (tern_apply_activation). x: f32, any shape; y: same
 * shape. */
#include "op_common.h"

tern_status tern_infer_GELU(const tern_op_params *p, const tern_view *in,
                            int n_in, tern_view *out, tern_err *err) {
  return tern_op_infer_unary("gelu", in, n_in, out, err);
}

tern_status tern_ref_GELU(const tern_op_params *p, const tern_view *in,
                          int n_in, tern_view *out, tern_err *err) {
  tern_op_ref_unary(TERN_ACT_GELU, in, out);
  return TERN_OK;
}
