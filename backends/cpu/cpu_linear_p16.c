/* cpu_linear_p16.c — the LINEAR driver of the P16 kernel tables (AVX-512
 * VNNI): the weights were packed once into 16-channel strips
 * (cpu_kernels.h), so up to four activation rows run the strip GEMV (one
 * pass over the weights) and more rows run 6 x 64 micro tiles straight on
 * the strips, with only the activations packed (once per call). Tasks own
 * output blocks (64 channels x GEMM_MC rows), so the result does not depend
 * on the thread count. */
#include "cpu_kernels.h"

#include <string.h>

#define TASK_N 64    /* output channels per task: four strips */
#define GEMM_MC 240  /* activation rows per GEMM task (40 micro tiles) */
#define GEMM_KC 2048 /* K per pass over a task's tiles (B block in L2) */
/* Rows per GEMV pass (the kernels' limit), and the batch up to which the
 * GEMV beats the 6-row GEMM tiles (measured at 4096 x 4096). */
#define GEMV_MAX_M 4
#define GEMV_BATCH_MAX_TERNARY 4
#define GEMV_BATCH_MAX_INT8 4

typedef struct p16_job {
  const tern_cpu_linear *l;
  const int8_t *qx;
  const float *xs;
  const int32_t *xsum;
  uint32_t xsum_mul;
  int64_t M, mp;
  float *y;
  int64_t ldy;
  bool tr;
  const int8_t *apack; /* [mp / MR strips][kp / 4 groups][MR][4] */
  int64_t n_nchunks;
  tern_status status;
} p16_job;

static bool is_tern(const tern_cpu_linear *l) {
  return l->wdtype == TERN_DTYPE_TERNARY;
}

/* Outputs [n0, n1) of activation row m from acc[n - n0]. */
static void finish_row(const p16_job *j, int64_t m, int64_t n0, int64_t n1,
                       const int32_t *acc) {
  const tern_cpu_linear *l = j->l;
  uint32_t corr = j->xsum_mul * (uint32_t)j->xsum[m];
  float tmp[TASK_N];
  float *dst = j->tr ? tmp : j->y + m * j->ldy + n0;
  l->k->epilogue(acc, n1 - n0, corr, l->wscale + n0, j->xs[m],
                 l->bias ? l->bias + n0 : NULL, l->act, dst);
  if (j->tr)
    for (int64_t n = n0; n < n1; n++)
      j->y[n * j->ldy + m] = tmp[n - n0];
}

static void gemv_task(void *ctx, int64_t t) {
  p16_job *j = ctx;
  const tern_cpu_linear *l = j->l;
  int64_t n0 = t * TASK_N, n1 = n0 + TASK_N < l->N ? n0 + TASK_N : l->N;
  int32_t acc[GEMV_MAX_M * TASK_N];
  int64_t s0 = n0 / 16, s1 = (n1 + 15) / 16;
  /* up to GEMV_MAX_M rows per pass over the task's strips; the kernels
   * index acc by absolute channel */
  for (int64_t m0 = 0; m0 < j->M; m0 += GEMV_MAX_M) {
    int mb = (int)(j->M - m0 < GEMV_MAX_M ? j->M - m0 : GEMV_MAX_M);
    const int8_t *x = j->qx + m0 * l->kp;
    if (is_tern(l))
      l->k->p16_gemv_ternary(l->w, l->kp, s0, s1, x, mb, acc - n0, TASK_N);
    else
      l->k->p16_gemv_u8(l->w, l->kp, s0, s1, x, mb, acc - n0, TASK_N);
    for (int m = 0; m < mb; m++)
      finish_row(j, m0 + m, n0, n1, acc + m * TASK_N);
  }
}

static void pack_a_task(void *ctx, int64_t s) {
  p16_job *j = ctx;
  tern_cpu_pack_a_strip(j->qx, j->l->kp, j->M, s * TERN_CPU_MR,
                        (int8_t *)j->apack + s * j->l->kp * TERN_CPU_MR);
}

static void gemm_task(void *ctx, int64_t t) {
  p16_job *j = ctx;
  const tern_cpu_linear *l = j->l;
  int64_t nc = t % j->n_nchunks, mc = t / j->n_nchunks;
  int64_t n0 = nc * TASK_N, m0 = mc * GEMM_MC;
  int64_t n1 = n0 + TASK_N < l->N ? n0 + TASK_N : l->N;
  int64_t m1 = m0 + GEMM_MC < j->mp ? m0 + GEMM_MC : j->mp;
  int ns = (int)((n1 - n0 + 15) / 16);
  bool tern = is_tern(l);
  /* bytes per strip, and per 4 k of one strip */
  int64_t bstride = l->kp * (tern ? 4 : 16);
  int32_t *C = tern_malloc_aligned((size_t)(m1 - m0) * TASK_N * 4);
  if (!C) {
    j->status = TERN_ERR_OUT_OF_MEMORY; /* single word write; read after */
    return;
  }
  const uint8_t *wb = (const uint8_t *)l->w + (n0 / 16) * bstride;
  for (int64_t k0 = 0; k0 < l->kp; k0 += GEMM_KC) {
    int64_t kc = l->kp - k0 < GEMM_KC ? l->kp - k0 : GEMM_KC;
    /* group g = k0 / 4 of a strip: int8 64 bytes per group, ternary 64
     * bytes per quad of groups */
    const uint8_t *b = wb + (tern ? (k0 / 16) * 64 : (k0 / 4) * 64);
    for (int64_t m = m0; m < m1; m += TERN_CPU_MR) {
      const int8_t *a =
          j->apack + (m / TERN_CPU_MR) * l->kp * TERN_CPU_MR + k0 * TERN_CPU_MR;
      int32_t *Ct = C + (m - m0) * TASK_N;
      if (tern)
        l->k->p16_gemm_ternary(b, bstride, ns, a, kc / 4, Ct, TASK_N, k0 > 0);
      else
        l->k->p16_gemm_u8(b, bstride, ns, a, kc / 4, Ct, TASK_N, k0 > 0);
    }
  }
  int64_t mend = m1 < j->M ? m1 : j->M;
  for (int64_t m = m0; m < mend; m++)
    finish_row(j, m, n0, n1, C + (m - m0) * TASK_N);
  tern_free_aligned(C);
}

tern_status tern_cpu_p16_run(const tern_cpu_linear *l, const int8_t *qx,
                             const float *xs, const int32_t *xsum,
                             uint32_t xsum_mul, int64_t M, float *y,
                             int64_t ldy, bool transpose_out, int thread_count,
                             tern_err *err) {
  p16_job j = {.l = l,
               .qx = qx,
               .xs = xs,
               .xsum = xsum,
               .xsum_mul = xsum_mul,
               .M = M,
               .mp = (M + TERN_CPU_MR - 1) / TERN_CPU_MR * TERN_CPU_MR,
               .y = y,
               .ldy = ldy,
               .tr = transpose_out};
  int64_t nchunks = (l->N + TASK_N - 1) / TASK_N;
  if (M <= (is_tern(l) ? GEMV_BATCH_MAX_TERNARY : GEMV_BATCH_MAX_INT8)) {
    tern_cpu_parallel_for(thread_count, nchunks, gemv_task, &j);
    return TERN_OK;
  }
  int64_t strips = j.mp / TERN_CPU_MR;
  bool owned;
  int8_t *apack = tern_cpu_scratch_get(l, 2, (size_t)(j.mp * l->kp), &owned);
  if (!apack)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY,
                        "cpu linear: out of memory packing activations");
  j.apack = apack;
  tern_cpu_parallel_for(thread_count, strips, pack_a_task, &j);
  j.n_nchunks = nchunks;
  int64_t n_mchunks = (j.mp + GEMM_MC - 1) / GEMM_MC;
  tern_cpu_parallel_for(thread_count, nchunks * n_mchunks, gemm_task, &j);
  tern_cpu_scratch_put(l, 2, apack, owned);
  if (j.status)
    return tern_err_set(err, j.status, "cpu linear: out of memory in GEMM");
  return TERN_OK;
}
