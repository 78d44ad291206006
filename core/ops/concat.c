/* concat.c — join 2..8 f32 tensors along params.axis (negative counts from
 * the end); all other dims must be equal. Exact (a copy). */
#include "op_common.h"

#include <string.h>

static int concat_axis(const tern_op_params *p, int ndim) {
  return p->axis < 0 ? ndim + p->axis : p->axis;
}

tern_status tern_infer_CONCAT(const tern_op_params *p, const tern_view *in,
                              int n_in, tern_view *out, tern_err *err) {
  tern_status s = tern_op_check_arity("concat", n_in, 2, TERN_MAX_INPUTS, err);
  if (!s)
    s = tern_op_check_f32("concat", in, 0, n_in, err);
  if (s)
    return s;
  char a[96], b[96];
  const tern_view *x0 = &in[0];
  int ax = concat_axis(p, x0->ndim);
  if (ax < 0 || ax >= x0->ndim)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "concat: axis %d is out of range for input %s", p->axis,
                        tern_shape_str(x0->ndim, x0->shape, a, sizeof a));
  int64_t shape[TERN_MAX_DIMS];
  memcpy(shape, x0->shape, sizeof shape);
  for (int i = 1; i < n_in; i++) {
    const tern_view *xi = &in[i];
    bool ok = xi->ndim == x0->ndim;
    for (int d = 0; ok && d < x0->ndim; d++)
      ok = d == ax || xi->shape[d] == x0->shape[d];
    if (!ok)
      return tern_err_set(err, TERN_ERR_SHAPE,
                          "concat: input %d %s does not match input 0 %s "
                          "outside axis %d",
                          i, tern_shape_str(xi->ndim, xi->shape, a, sizeof a),
                          tern_shape_str(x0->ndim, x0->shape, b, sizeof b), ax);
    shape[ax] += xi->shape[ax];
  }
  tern_op_out_init(out, x0->ndim, shape);
  return TERN_OK;
}

tern_status tern_ref_CONCAT(const tern_op_params *p, const tern_view *in,
                            int n_in, tern_view *out, tern_err *err) {
  int ax = concat_axis(p, in[0].ndim);
  int64_t outer = tern_dims_prod(out->shape, 0, ax);
  int64_t inner = tern_dims_prod(out->shape, ax + 1, out->ndim);
  float *y = out->data;
  for (int64_t o = 0; o < outer; o++)
    for (int i = 0; i < n_in; i++) {
      int64_t chunk = in[i].shape[ax] * inner;
      if (chunk)
        memcpy(y, (const float *)in[i].data + o * chunk,
               (size_t)chunk * sizeof(float));
      y += chunk;
    }
  return TERN_OK;
}
