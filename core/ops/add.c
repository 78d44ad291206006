/* add.c — elementwise sum y = a + b with numpy broadcasting: shapes are
 * right-aligned and each dim pair must be equal or contain a 1. Exact (one
 * IEEE operation per element). */
#include "op_common.h"

static float op_add(float a, float b) {
  return a + b;
}

tern_status tern_infer_ADD(const tern_op_params *p, const tern_view *in,
                           int n_in, tern_view *out, tern_err *err) {
  tern_status s = tern_op_check_arity("add", n_in, 2, 2, err);
  if (!s)
    s = tern_op_check_f32("add", in, 0, 2, err);
  if (!s)
    s = tern_op_broadcast_shape("add", &in[0], &in[1], out, err);
  return s;
}

tern_status tern_ref_ADD(const tern_op_params *p, const tern_view *in, int n_in,
                         tern_view *out, tern_err *err) {
  tern_op_ref_binary(&in[0], &in[1], out, op_add);
  return TERN_OK;
}
