/* matmul.c — batched f32 matrix product: A [..., M, K] x B [..., K, N] (or
 * B [..., N, K] with transpose_b = 1) -> [..., M, N], batch dims broadcast
 * numpy-style. y = (sum_k a*b, k ascending from 0.0f) * alpha (0 means 1). */
#include "op_common.h"

#include <math.h>

tern_status tern_infer_MATMUL(const tern_op_params *p, const tern_view *in,
                              int n_in, tern_view *out, tern_err *err) {
  tern_status s = tern_op_check_arity("matmul", n_in, 2, 2, err);
  if (!s)
    s = tern_op_check_f32("matmul", in, 0, 2, err);
  if (s)
    return s;
  const tern_view *A = &in[0], *B = &in[1];
  char a[96], b[96];
  tern_shape_str(A->ndim, A->shape, a, sizeof a);
  tern_shape_str(B->ndim, B->shape, b, sizeof b);
  if (A->ndim < 2 || B->ndim < 2)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "matmul: %s x %s: both operands need at least 2 dims",
                        a, b);
  if (p->transpose_b != 0 && p->transpose_b != 1)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "matmul: transpose_b must be 0 or 1, got %d",
                        p->transpose_b);
  if (!isfinite(p->alpha))
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "matmul: alpha is not finite");
  int64_t M = A->shape[A->ndim - 2], K = A->shape[A->ndim - 1];
  int64_t KB = B->shape[B->ndim - (p->transpose_b ? 1 : 2)];
  int64_t N = B->shape[B->ndim - (p->transpose_b ? 2 : 1)];
  if (K != KB)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "matmul: %s x %s%s: inner dims %lld and %lld differ", a,
                        b, p->transpose_b ? " (B transposed)" : "",
                        (long long)K, (long long)KB);
  /* broadcast the batch dims as views of their own */
  tern_view ba = *A, bb = *B, bo;
  ba.ndim -= 2;
  bb.ndim -= 2;
  if ((s = tern_op_broadcast_shape("matmul (batch dims)", &ba, &bb, &bo, err)))
    return s;
  bo.shape[bo.ndim] = M;
  bo.shape[bo.ndim + 1] = N;
  tern_op_out_init(out, bo.ndim + 2, bo.shape);
  return TERN_OK;
}

tern_status tern_ref_MATMUL(const tern_op_params *p, const tern_view *in,
                            int n_in, tern_view *out, tern_err *err) {
  const tern_view *A = &in[0], *B = &in[1];
  int tb = p->transpose_b;
  float alpha = p->alpha != 0 ? p->alpha : 1.0f;
  int nb = out->ndim - 2;
  int64_t M = out->shape[nb], N = out->shape[nb + 1];
  int64_t K = A->shape[A->ndim - 1];
  int64_t sa[TERN_MAX_DIMS], sb[TERN_MAX_DIMS], idx[TERN_MAX_DIMS] = {0};
  tern_op_broadcast_strides(A->ndim - 2, A->shape, nb, sa);
  tern_op_broadcast_strides(B->ndim - 2, B->shape, nb, sb);
  int64_t batches = tern_dims_prod(out->shape, 0, nb);
  const float *ad = A->data, *bd = B->data;
  float *yd = out->data;
  for (int64_t bi = 0; bi < batches; bi++) {
    int64_t oa = 0, ob = 0;
    for (int d = 0; d < nb; d++) {
      oa += idx[d] * sa[d];
      ob += idx[d] * sb[d];
    }
    const float *a = ad + oa * M * K, *b = bd + ob * K * N;
    float *y = yd + bi * M * N;
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = 0; n < N; n++) {
        float acc = 0.0f;
        for (int64_t k = 0; k < K; k++)
          acc += a[m * K + k] * (tb ? b[n * K + k] : b[k * N + n]);
        y[m * N + n] = acc * alpha;
      }
    tern_op_next_index(nb, out->shape, idx);
  }
  return TERN_OK;
}
