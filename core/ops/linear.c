/* linear.c — y = x · Wᵀ + b with f32, int8 or ternary weights, plus the
 * fused activation. Reference semantics (docs/NUMERICS.md):
 *   x: f32 [..., K]; W: [N, K] (row n = output channel n); b: f32 [N].
 *   f32 weights: y[n] = act(sum_k x[k]*W[n,k] (k ascending) + b[n]).
 *   i8/ternary:  x row quantized by the activation rule (scale 2^e),
 *                acc = sum_k qx[k]*qw[n,k] in int32,
 *                y[n] = act((((float)acc * ws[n]) * 2^e) + b[n]). */
#include "tern_internal.h"

#include <string.h>

/* Shared by linear and conv2d: weights must be f32, i8 or ternary with a
 * matching number of scales. */
tern_status tern_check_weight(const tern_view *w, const char *op,
                              tern_err *err);

tern_status tern_check_weight(const tern_view *w, const char *op,
                              tern_err *err) {
  switch (w->dtype) {
  case TERN_DTYPE_F32:
    return TERN_OK;
  case TERN_DTYPE_I8:
  case TERN_DTYPE_TERNARY:
    if (w->scale_count != 1 && w->scale_count != w->shape[0])
      return tern_err_set(err, TERN_ERR_SHAPE,
                          "%s: %s weights have %lld scales, expected 1 or %lld",
                          op, tern_dtype_name(w->dtype),
                          (long long)w->scale_count, (long long)w->shape[0]);
    return TERN_OK;
  default:
    return tern_err_set(
        err, TERN_ERR_DTYPE,
        "%s: weights of dtype %s are not supported (f32, i8 "
        "or ternary)",
        op, tern_dtype_name(w->dtype) ? tern_dtype_name(w->dtype) : "unknown");
  }
}

tern_status tern_infer_LINEAR(const tern_op_params *p, const tern_view *in,
                              int n_in, tern_view *out, tern_err *err) {
  const tern_view *x = &in[0], *w = &in[1];
  char a[64], b[64];
  if (x->dtype != TERN_DTYPE_F32)
    return tern_err_set(err, TERN_ERR_DTYPE, "linear: input must be f32");
  if (x->ndim < 1 || w->ndim != 2)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "linear: input %s and weight %s: weight must be 2-D "
                        "[N, K]",
                        tern_shape_str(x->ndim, x->shape, a, sizeof a),
                        tern_shape_str(w->ndim, w->shape, b, sizeof b));
  if (x->shape[x->ndim - 1] != w->shape[1])
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "linear: input %s has %lld features but weight %s "
                        "expects %lld",
                        tern_shape_str(x->ndim, x->shape, a, sizeof a),
                        (long long)x->shape[x->ndim - 1],
                        tern_shape_str(w->ndim, w->shape, b, sizeof b),
                        (long long)w->shape[1]);
  tern_status s = tern_check_weight(w, "linear", err);
  if (s)
    return s;
  /* the int32 sum is exact only while K * max|product| fits */
  int64_t kmax =
      w->dtype == TERN_DTYPE_I8 ? INT32_MAX / (127 * 127) : INT32_MAX / 127;
  if (w->dtype != TERN_DTYPE_F32 && w->shape[1] > kmax)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "linear: %s weights with K = %lld exceed the exact "
                        "int32 limit of %lld",
                        tern_dtype_name(w->dtype), (long long)w->shape[1],
                        (long long)kmax);
  if (n_in > 2) {
    const tern_view *bias = &in[2];
    if (bias->dtype != TERN_DTYPE_F32 || bias->ndim != 1 ||
        bias->shape[0] != w->shape[0])
      return tern_err_set(
          err, TERN_ERR_SHAPE, "linear: bias must be f32 [%lld], got %s %s",
          (long long)w->shape[0],
          tern_dtype_name(bias->dtype) ? tern_dtype_name(bias->dtype) : "?",
          tern_shape_str(bias->ndim, bias->shape, a, sizeof a));
  }
  if (p->activation < 0 || p->activation >= TERN_ACT_COUNT_)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "linear: unknown activation %d", p->activation);
  *out = *x;
  out->shape[x->ndim - 1] = w->shape[0];
  out->data = NULL;
  out->scales = NULL;
  out->scale_count = 0;
  return TERN_OK;
}

/* Weight element (n, k) as an integer code (i8/ternary). */
static inline int32_t qweight(const tern_view *w, int64_t n, int64_t k,
                              int64_t K) {
  if (w->dtype == TERN_DTYPE_I8)
    return ((const int8_t *)w->data)[n * K + k];
  const uint8_t *row = (const uint8_t *)w->data + n * ((K + 3) / 4);
  return tern_ternary_get(row, k) - 1;
}

tern_status tern_ref_LINEAR(const tern_op_params *p, const tern_view *in,
                            int n_in, tern_view *out, tern_err *err) {
  const tern_view *x = &in[0], *w = &in[1];
  const float *bias = n_in > 2 ? in[2].data : NULL;
  int64_t K = w->shape[1], N = w->shape[0];
  int64_t M = tern_view_numel(x) / (K ? K : 1);
  const float *xd = x->data;
  float *yd = out->data;
  tern_activation act = (tern_activation)p->activation;
  if (w->dtype == TERN_DTYPE_F32) {
    const float *wd = w->data;
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = 0; n < N; n++) {
        float acc = 0;
        for (int64_t k = 0; k < K; k++)
          acc += xd[m * K + k] * wd[n * K + k];
        if (bias)
          acc += bias[n];
        yd[m * N + n] = tern_apply_activation(act, acc);
      }
    return TERN_OK;
  }
  int8_t *qx = tern_malloc((size_t)K);
  if (!qx)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "linear: out of memory");
  for (int64_t m = 0; m < M; m++) {
    float xs;
    tern_act_quantize_row(xd + m * K, K, qx, &xs);
    for (int64_t n = 0; n < N; n++) {
      int32_t acc = 0;
      for (int64_t k = 0; k < K; k++)
        acc += (int32_t)qx[k] * qweight(w, n, k, K);
      float ws = w->scales[w->scale_count == 1 ? 0 : n];
      float v = tern_q_epilogue(acc, ws, xs, bias ? bias[n] : 0.0f);
      yd[m * N + n] = tern_apply_activation(act, v);
    }
  }
  tern_free(qx);
  return TERN_OK;
}
