/* gemm.c — C += A·B for the training core, written so the compiler can
 * vectorise the inner loop without reassociating sums (built with
 * -ffp-contract=off and no fast-math): every C element accumulates its k
 * terms in ascending order, so results do not depend on blocking or threads. */
#include "train/layers.h"

typedef struct gemm_args {
  int64_t N, K;
  const float *A;
  int64_t sam, sak;
  const float *B;
  int64_t ldb;
  float *C;
  int64_t ldc;
} gemm_args;

#define NB 512 /* columns of C per block: four rows of it stay in L1 */

static void gemm_rows(void *ctx, int64_t m0, int64_t m1) {
  const gemm_args *g = ctx;
  const int64_t N = g->N, K = g->K, sam = g->sam, sak = g->sak;
  for (int64_t n0 = 0; n0 < N; n0 += NB) {
    int64_t nn = N - n0 < NB ? N - n0 : NB;
    int64_t m = m0;
    for (; m + 4 <= m1; m += 4) {
      float *c0 = g->C + m * g->ldc + n0, *c1 = c0 + g->ldc, *c2 = c1 + g->ldc,
            *c3 = c2 + g->ldc;
      const float *a = g->A + m * sam;
      for (int64_t k = 0; k < K; k++) {
        float a0 = a[k * sak], a1 = a[sam + k * sak], a2 = a[2 * sam + k * sak],
              a3 = a[3 * sam + k * sak];
        if (a0 == 0.0f && a1 == 0.0f && a2 == 0.0f && a3 == 0.0f)
          continue; /* relu outputs are mostly zero */
        const float *b = g->B + k * g->ldb + n0;
        for (int64_t j = 0; j < nn; j++) {
          float bj = b[j];
          c0[j] += a0 * bj;
          c1[j] += a1 * bj;
          c2[j] += a2 * bj;
          c3[j] += a3 * bj;
        }
      }
    }
    for (; m < m1; m++) {
      float *c0 = g->C + m * g->ldc + n0;
      const float *a = g->A + m * sam;
      for (int64_t k = 0; k < K; k++) {
        float a0 = a[k * sak];
        if (a0 == 0.0f)
          continue;
        const float *b = g->B + k * g->ldb + n0;
        for (int64_t j = 0; j < nn; j++)
          c0[j] += a0 * b[j];
      }
    }
  }
}

void tt_gemm_acc(tt_pool *pool, int64_t M, int64_t N, int64_t K, const float *A,
                 int64_t sam, int64_t sak, const float *B, int64_t ldb,
                 float *C, int64_t ldc) {
  gemm_args g = {N, K, A, sam, sak, B, ldb, C, ldc};
  /* small problems are not worth waking the workers */
  if (!pool || M * N * K < 32768 || M < 8)
    gemm_rows(&g, 0, M);
  else
    tt_parallel_for(pool, M, gemm_rows, &g);
}
