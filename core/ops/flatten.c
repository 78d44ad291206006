/* flatten.c — collapse dims [a, ndim) into one: [d0..d_{a-1}, prod(rest)].
 * params.axis = a (0 means 1; negative counts from the end); 1 <= a < ndim.
 * A copy of the data (row-major order is unchanged). */
#include "op_common.h"

#include <string.h>

tern_status tern_infer_FLATTEN(const tern_op_params *p, const tern_view *in,
                               int n_in, tern_view *out, tern_err *err) {
  tern_status s = tern_op_check_arity("flatten", n_in, 1, 1, err);
  if (!s)
    s = tern_op_check_f32("flatten", in, 0, 1, err);
  if (s)
    return s;
  const tern_view *x = &in[0];
  int a = p->axis == 0 ? 1 : p->axis < 0 ? x->ndim + p->axis : p->axis;
  if (a < 1 || a >= x->ndim) {
    char b[96];
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "flatten: axis %d is out of range for input %s (start "
                        "dim must be in [1, ndim-1])",
                        p->axis,
                        tern_shape_str(x->ndim, x->shape, b, sizeof b));
  }
  int64_t shape[TERN_MAX_DIMS];
  for (int i = 0; i < a; i++)
    shape[i] = x->shape[i];
  shape[a] = tern_dims_prod(x->shape, a, x->ndim);
  tern_op_out_init(out, a + 1, shape);
  return TERN_OK;
}

tern_status tern_ref_FLATTEN(const tern_op_params *p, const tern_view *in,
                             int n_in, tern_view *out, tern_err *err) {
  size_t n = (size_t)tern_view_numel(&in[0]);
  if (n && out->data != in[0].data)
    memmove(out->data, in[0].data, n * sizeof(float));
  return TERN_OK;
}
