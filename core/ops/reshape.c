/* reshape.c — same data, new shape params.shape[0..params.ndim): an entry
 * of -1 is inferred (at most one), 0 copies the input dim at that index,
 * positive entries are taken as given; element counts must match. */
#include "op_common.h"

#include <string.h>

tern_status tern_infer_RESHAPE(const tern_op_params *p, const tern_view *in,
                               int n_in, tern_view *out, tern_err *err) {
  tern_status s = tern_op_check_arity("reshape", n_in, 1, 1, err);
  if (!s)
    s = tern_op_check_f32("reshape", in, 0, 1, err);
  if (s)
    return s;
  const tern_view *x = &in[0];
  char a[96];
  tern_shape_str(x->ndim, x->shape, a, sizeof a);
  if (p->ndim < 1 || p->ndim > TERN_MAX_DIMS)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "reshape: ndim %d must be in [1, %d]", p->ndim,
                        TERN_MAX_DIMS);
  int64_t shape[TERN_MAX_DIMS], known = 1;
  int infer = -1;
  for (int i = 0; i < p->ndim; i++) {
    int32_t d = p->shape[i];
    if (d == -1) {
      if (infer >= 0)
        return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                            "reshape: more than one -1 in the target shape");
      infer = i;
      continue;
    }
    if (d < -1)
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "reshape: target dim %d is %d (allowed: -1, 0 or "
                          "positive)",
                          i, d);
    if (d == 0) {
      if (i >= x->ndim)
        return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                            "reshape: target dim %d is 0 (copy) but input %s "
                            "has no dim %d",
                            i, a, i);
      shape[i] = x->shape[i];
    } else {
      shape[i] = d;
    }
    if (shape[i] && known > INT64_MAX / shape[i])
      return tern_err_set(err, TERN_ERR_SHAPE,
                          "reshape: target shape of input %s overflows", a);
    known *= shape[i];
  }
  int64_t total = tern_view_numel(x);
  if (infer >= 0) {
    if (known == 0 || total % known)
      return tern_err_set(err, TERN_ERR_SHAPE,
                          "reshape: cannot infer the -1 dim: input %s has "
                          "%lld elements, the other dims multiply to %lld",
                          a, (long long)total, (long long)known);
    shape[infer] = total / known;
    known *= shape[infer];
  }
  if (known != total) {
    char b[96];
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "reshape: input %s has %lld elements, target %s has "
                        "%lld",
                        a, (long long)total,
                        tern_shape_str(p->ndim, shape, b, sizeof b),
                        (long long)known);
  }
  tern_op_out_init(out, p->ndim, shape);
  return TERN_OK;
}

tern_status tern_ref_RESHAPE(const tern_op_params *p, const tern_view *in,
                             int n_in, tern_view *out, tern_err *err) {
  size_t n = (size_t)tern_view_numel(&in[0]);
  if (n && out->data != in[0].data)
    memmove(out->data, in[0].data, n * sizeof(float));
  return TERN_OK;
}
