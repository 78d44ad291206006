/* linear.c — fully connected layer, forward and backward (training core). */
#include "tern_internal.h"
#include "train/layers.h"

#include <string.h>

void tt_linear_forward(tt_pool *pool, float *out, const float *inp,
                       const float *w, const float *bias, int64_t B, int64_t K,
                       int64_t N) {
  /* y[b,:] += x[b,k]·Wᵀ[k,:] needs Wᵀ; transposing costs N·K, the product
   * B·N·K */
  float *wt = tern_malloc((size_t)(K * N) * sizeof(float));
  memset(out, 0, (size_t)(B * N) * sizeof(float));
  if (wt) {
    for (int64_t n = 0; n < N; n++)
      for (int64_t k = 0; k < K; k++)
        wt[k * N + n] = w[n * K + k];
    tt_gemm_acc(pool, B, N, K, inp, K, 1, wt, N, out, N);
    tern_free(wt);
  } else { /* out of memory: the slow but equal dot-product order */
    for (int64_t b = 0; b < B; b++)
      for (int64_t n = 0; n < N; n++) {
        float acc = 0;
        for (int64_t k = 0; k < K; k++)
          acc += inp[b * K + k] * w[n * K + k];
        out[b * N + n] = acc;
      }
  }
  if (bias)
    for (int64_t b = 0; b < B; b++)
      for (int64_t n = 0; n < N; n++)
        out[b * N + n] += bias[n];
}

void tt_linear_backward(tt_pool *pool, float *dinp, float *dw, float *dbias,
                        const float *dout, const float *inp, const float *w,
                        int64_t B, int64_t K, int64_t N) {
  if (dinp)
    tt_gemm_acc(pool, B, K, N, dout, N, 1, w, K, dinp, K);
  tt_gemm_acc(pool, N, K, B, dout, 1, N, inp, K, dw, K);
  if (dbias)
    for (int64_t b = 0; b < B; b++)
      for (int64_t n = 0; n < N; n++)
        dbias[n] += dout[b * N + n];
}
