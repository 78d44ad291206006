/* cpu_linear.c — the fast LINEAR: weights repacked once, activations
 * quantized by the shared rule, integer GEMV (batch <= GEMV_MAX_M) or
 * panel GEMM, then the epilogue of docs/NUMERICS.md in the reference's
 * order. Work is split over the thread pool by output channels (and by
 * batch rows for large GEMMs); tasks never share outputs, so the result does
 * not depend on the thread count. */
#include "cpu_kernels.h"

#include <stdatomic.h>
#include <string.h>

#ifdef TERN_CPU_HAVE_BLAS
#include <cblas.h>
#include <stdlib.h>
#endif

#define GEMV_MAX_M 4   /* batch rows handled by the GEMV kernels */
#define GEMV_TASK_N 64 /* output channels per GEMV task */
/* Largest batch run as GEMVs (4 rows per pass over the weights): below it
 * the GEMM panel decode costs more than it saves. */
#ifndef GEMV_BATCH_MAX
#define GEMV_BATCH_MAX 32
#endif
#define GEMM_NC 64 /* output channels per GEMM task (4 strips) */
#define GEMM_MC (TERN_CPU_MR * 40) /* batch rows per GEMM task */

struct tern_cpu_scratch {
  struct {
    atomic_int busy;
    void *p;
    size_t bytes;
  } slot[TERN_CPU_SCRATCH_SLOTS];
};

void *tern_cpu_scratch_get(const tern_cpu_linear *l, int slot, size_t bytes,
                           bool *owned) {
  struct tern_cpu_scratch *sc = l->scratch;
  if (bytes == 0)
    bytes = 64;
  if (sc && bytes <= TERN_CPU_SCRATCH_MAX &&
      atomic_exchange(&sc->slot[slot].busy, 1) == 0) {
    if (sc->slot[slot].bytes < bytes) {
      tern_free_aligned(sc->slot[slot].p);
      sc->slot[slot].p = tern_malloc_aligned(bytes);
      sc->slot[slot].bytes = sc->slot[slot].p ? bytes : 0;
    }
    if (sc->slot[slot].p) {
      *owned = false;
      return sc->slot[slot].p;
    }
    atomic_store(&sc->slot[slot].busy, 0);
    return NULL;
  }
  *owned = true;
  return tern_malloc_aligned(bytes);
}

void tern_cpu_scratch_put(const tern_cpu_linear *l, int slot, void *p,
                          bool owned) {
  if (owned)
    tern_free_aligned(p);
  else if (p)
    atomic_store(&l->scratch->slot[slot].busy, 0);
}

static int64_t round_up(int64_t v, int64_t m) {
  return (v + m - 1) / m * m;
}

static bool int8_has_min(const int8_t *w, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (w[i] == -128)
      return true;
  return false;
}

tern_status tern_cpu_linear_create(const tern_view *w, const float *bias,
                                   tern_activation act, tern_cpu_isa isa,
                                   tern_cpu_linear **out, tern_err *err) {
  const tern_cpu_kernels *k = tern_cpu_kernels_get(isa);
  if (!k || !tern_cpu_isa_available(isa))
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "cpu: kernels for %s are not available on this CPU",
                        tern_cpu_isa_name(isa));
  if (w->ndim < 2 || w->shape[0] <= 0)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "cpu linear: weights must be [N, K] with N > 0");
  tern_cpu_linear *l = tern_calloc(1, sizeof *l);
  if (!l)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  l->wdtype = w->dtype;
  l->N = w->shape[0];
  l->K = tern_dims_prod(w->shape, 1, w->ndim);
  l->kp = round_up(l->K > 0 ? l->K : 1, k->p16 ? TERN_CPU_P16_KQ : TERN_CPU_KB);
  l->act = act;
  l->isa = isa;
  l->k = k;
  size_t n = (size_t)l->N, kp = (size_t)l->kp, bytes = 0;
  bool p16 =
      k->p16 && (w->dtype == TERN_DTYPE_TERNARY || w->dtype == TERN_DTYPE_I8);
  if (p16)
    bytes = tern_cpu_p16_bytes(w->dtype, l->N, l->kp);
  else if (w->dtype == TERN_DTYPE_TERNARY)
    bytes = n * kp / 4;
  else if (w->dtype == TERN_DTYPE_I8)
    bytes = n * kp;
  else if (w->dtype == TERN_DTYPE_F32)
    bytes = n * (size_t)l->K * 4;
  else {
    tern_free(l);
    return tern_err_set(err, TERN_ERR_DTYPE,
                        "cpu linear: weights of dtype %s are not supported",
                        tern_dtype_name(w->dtype) ? tern_dtype_name(w->dtype)
                                                  : "unknown");
  }
  l->w = tern_malloc_aligned(bytes ? bytes : 64);
  l->wscale = tern_malloc(n * sizeof(float));
  l->bias = bias ? tern_malloc(n * sizeof(float)) : NULL;
  l->scratch = tern_calloc(1, sizeof *l->scratch);
  if (!l->w || !l->wscale || (bias && !l->bias) || !l->scratch) {
    tern_cpu_linear_destroy(l);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY,
                        "cpu linear: out of memory repacking %zu bytes", bytes);
  }
  if (bias)
    memcpy(l->bias, bias, n * sizeof(float));
  for (size_t i = 0; i < n; i++)
    l->wscale[i] = w->dtype == TERN_DTYPE_F32 ? 1.0f
                   : w->scale_count == 1      ? w->scales[0]
                                              : w->scales[i];
  if (p16) {
    tern_cpu_pack_p16(w->dtype, w->data, l->N, l->K, l->kp, l->w);
  } else if (w->dtype == TERN_DTYPE_TERNARY) {
    tern_cpu_repack_ternary(w->data, l->N, l->K, l->kp, l->w);
  } else if (w->dtype == TERN_DTYPE_I8) {
    for (size_t r = 0; r < n; r++) {
      memcpy((int8_t *)l->w + r * kp, (const int8_t *)w->data + r * l->K,
             (size_t)l->K);
      memset((int8_t *)l->w + r * kp + l->K, 0, kp - (size_t)l->K);
    }
    /* the sign trick of the SIMD GEMV cannot negate -128 */
    if (int8_has_min(w->data, n * (size_t)l->K))
      l->k = &tern_cpu_kernels_scalar;
  } else {
    memcpy(l->w, w->data, bytes);
  }
  *out = l;
  return TERN_OK;
}

void tern_cpu_linear_destroy(tern_cpu_linear *l) {
  if (!l)
    return;
  tern_free_aligned(l->w);
  tern_free(l->wscale);
  tern_free(l->bias);
  if (l->scratch)
    for (int i = 0; i < TERN_CPU_SCRATCH_SLOTS; i++)
      tern_free_aligned(l->scratch->slot[i].p);
  tern_free(l->scratch);
  tern_free(l);
}

/* ---------------------------------------------------------- quantizing */
typedef struct quant_job {
  const tern_cpu_kernels *k;
  const float *x;
  int64_t K, kp;
  int8_t *q;
  float *scale;
} quant_job;

static void quant_task(void *ctx, int64_t m) {
  quant_job *j = ctx;
  j->k->quantize_row(j->x + m * j->K, j->K, j->kp, j->q + m * j->kp,
                     &j->scale[m]);
}

static void quantize_rows_k(const tern_cpu_kernels *k, const float *x,
                            int64_t M, int64_t K, int64_t kp, int8_t *q,
                            float *scale, int threads) {
  quant_job j = {k, x, K, kp, q, scale};
  tern_cpu_parallel_for(M >= 8 ? threads : 1, M, quant_task, &j);
}

void tern_cpu_quantize_rows(const float *x, int64_t M, int64_t K, int64_t kp,
                            int8_t *q, float *scale, int thread_count) {
  quantize_rows_k(tern_cpu_kernels_get(tern_cpu_isa_active()), x, M, K, kp, q,
                  scale, thread_count);
}

/* ------------------------------------------------------------ epilogue */
typedef struct run_job {
  const tern_cpu_linear *l;
  const int8_t *qx;
  const float *xs;
  const int32_t *xsum; /* ternary row sums, else NULL */
  int64_t M, mp;
  float *y;
  int64_t ldy;
  bool tr;
  /* GEMM */
  void *apack; /* [M/4 strips][kp/256 blocks] panels */
  size_t apanel_bytes;
  int64_t n_nchunks;
  tern_status status;
} run_job;

static inline void put(const run_job *j, int64_t m, int64_t n, int32_t acc) {
  const tern_cpu_linear *l = j->l;
  if (j->xsum)
    acc -= j->xsum[m];
  float v =
      tern_q_epilogue(acc, l->wscale[n], j->xs[m], l->bias ? l->bias[n] : 0.0f);
  v = tern_apply_activation(l->act, v);
  if (j->tr)
    j->y[n * j->ldy + m] = v;
  else
    j->y[m * j->ldy + n] = v;
}

/* ---------------------------------------------------------------- GEMV */
static void gemv_task(void *ctx, int64_t t) {
  run_job *j = ctx;
  const tern_cpu_linear *l = j->l;
  int64_t n0 = t * GEMV_TASK_N;
  int64_t n1 = n0 + GEMV_TASK_N < l->N ? n0 + GEMV_TASK_N : l->N;
  int32_t acc[GEMV_MAX_M * GEMV_TASK_N];
  for (int64_t m0 = 0; m0 < j->M; m0 += GEMV_MAX_M) {
    int mb = (int)(j->M - m0 < GEMV_MAX_M ? j->M - m0 : GEMV_MAX_M);
    /* acc is indexed [m][n - n0]: shift the base so kernels use absolute n */
    int32_t *base = acc - n0;
    if (l->wdtype == TERN_DTYPE_TERNARY)
      l->k->gemv_ternary(l->w, l->kp, n0, n1, j->qx + m0 * l->kp, mb, base,
                         GEMV_TASK_N);
    else
      l->k->gemv_int8(l->w, l->kp, n0, n1, j->qx + m0 * l->kp, mb, base,
                      GEMV_TASK_N);
    for (int m = 0; m < mb; m++)
      for (int64_t n = n0; n < n1; n++)
        put(j, m0 + m, n, acc[m * GEMV_TASK_N + (n - n0)]);
  }
}

/* ---------------------------------------------------------------- GEMM */
static void pack_a_task(void *ctx, int64_t s) {
  run_job *j = ctx;
  const tern_cpu_linear *l = j->l;
  int64_t nkb = l->kp / TERN_CPU_KB;
  for (int64_t kb = 0; kb < nkb; kb++) {
    char *dst = (char *)j->apack + (size_t)(s * nkb + kb) * j->apanel_bytes;
    if (l->wdtype == TERN_DTYPE_TERNARY)
      tern_cpu_pack_a_ternary(j->qx, l->kp, j->M, s * TERN_CPU_MR, kb,
                              (int8_t *)dst);
    else
      tern_cpu_pack_a_int8(j->qx, l->kp, j->M, s * TERN_CPU_MR, kb,
                           (int16_t *)dst);
  }
}

static void gemm_task(void *ctx, int64_t t) {
  run_job *j = ctx;
  const tern_cpu_linear *l = j->l;
  int64_t nc = t % j->n_nchunks, mc = t / j->n_nchunks;
  int64_t n0 = nc * GEMM_NC, m0 = mc * GEMM_MC;
  int64_t m1 = m0 + GEMM_MC < j->mp ? m0 + GEMM_MC : j->mp;
  int64_t n1 = n0 + GEMM_NC < l->N ? n0 + GEMM_NC : l->N;
  int strips = (int)((n1 - n0 + TERN_CPU_NR - 1) / TERN_CPU_NR);
  bool tern = l->wdtype == TERN_DTYPE_TERNARY;
  size_t bpanel = tern ? TERN_CPU_KB * TERN_CPU_NR
                       : TERN_CPU_KB * TERN_CPU_NR * sizeof(int16_t);
  int32_t *C = tern_malloc_aligned((size_t)(m1 - m0) * GEMM_NC * 4);
  char *B = tern_malloc_aligned(bpanel * (GEMM_NC / TERN_CPU_NR));
  if (!C || !B) {
    tern_free_aligned(C);
    tern_free_aligned(B);
    j->status = TERN_ERR_OUT_OF_MEMORY; /* single word write; read after */
    return;
  }
  memset(C, 0, (size_t)(m1 - m0) * GEMM_NC * 4);
  int64_t nkb = l->kp / TERN_CPU_KB;
  for (int64_t kb = 0; kb < nkb; kb++) {
    for (int s = 0; s < strips; s++) {
      if (tern)
        l->k->pack_b_ternary(l->w, l->kp, l->N, n0 + s * TERN_CPU_NR, kb,
                             (uint8_t *)(B + s * bpanel));
      else
        tern_cpu_pack_b_int8(l->w, l->kp, l->N, n0 + s * TERN_CPU_NR, kb,
                             (int16_t *)(B + s * bpanel));
    }
    for (int64_t m = m0; m < m1; m += TERN_CPU_MR) {
      const char *A = (const char *)j->apack +
                      (size_t)((m / TERN_CPU_MR) * nkb + kb) * j->apanel_bytes;
      int32_t *Ct = C + (m - m0) * GEMM_NC;
      for (int s = 0; s < strips; s++) {
        if (tern)
          l->k->gemm_ternary((const uint8_t *)(B + s * bpanel),
                             (const int8_t *)A, Ct + s * TERN_CPU_NR, GEMM_NC);
        else
          l->k->gemm_int8((const int16_t *)(B + s * bpanel), (const int16_t *)A,
                          Ct + s * TERN_CPU_NR, GEMM_NC);
      }
    }
  }
  int64_t mend = m1 < j->M ? m1 : j->M;
  for (int64_t m = m0; m < mend; m++)
    for (int64_t n = n0; n < n1; n++)
      put(j, m, n, C[(m - m0) * GEMM_NC + (n - n0)]);
  tern_free_aligned(C);
  tern_free_aligned(B);
}

/* ----------------------------------------------------------------- run */
static void xsum_task(void *ctx, int64_t m) {
  run_job *j = ctx;
  const int8_t *r = j->qx + m * j->l->kp;
  int32_t s = 0;
  if (j->l->k->row_sum)
    s = j->l->k->row_sum(r, j->l->kp);
  else
    for (int64_t k = 0; k < j->l->kp; k++)
      s += r[k];
  ((int32_t *)j->xsum)[m] = s;
}

tern_status tern_cpu_linear_run_q(const tern_cpu_linear *l, const int8_t *qx,
                                  const float *xs, int64_t M, float *y,
                                  int64_t ldy, bool transpose_out,
                                  int thread_count, tern_err *err) {
  if (M <= 0)
    return TERN_OK;
  thread_count = tern_cpu_threads_for(thread_count,
                                      (double)M * (double)l->N * (double)l->kp);
  run_job j = {.l = l,
               .qx = qx,
               .xs = xs,
               .M = M,
               .mp = round_up(M, TERN_CPU_MR),
               .y = y,
               .ldy = ldy,
               .tr = transpose_out};
  int32_t *xsum = NULL;
  bool xsum_owned = false;
  if (l->wdtype == TERN_DTYPE_TERNARY || l->k->p16) {
    xsum = tern_cpu_scratch_get(l, 1, (size_t)M * sizeof(int32_t), &xsum_owned);
    if (!xsum)
      return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
    j.xsum = xsum;
    tern_cpu_parallel_for(M >= 64 ? thread_count : 1, M, xsum_task, &j);
  }
  tern_status s = TERN_OK;
  if (l->k->p16) {
    s = tern_cpu_p16_run(l, qx, xs, xsum,
                         l->wdtype == TERN_DTYPE_TERNARY ? 1u : 128u, M, y, ldy,
                         transpose_out, thread_count, err);
  } else if (M <= GEMV_BATCH_MAX) {
    tern_cpu_parallel_for(thread_count, (l->N + GEMV_TASK_N - 1) / GEMV_TASK_N,
                          gemv_task, &j);
  } else {
    int64_t strips = j.mp / TERN_CPU_MR, nkb = l->kp / TERN_CPU_KB;
    j.apanel_bytes = l->wdtype == TERN_DTYPE_TERNARY
                         ? TERN_CPU_KB * TERN_CPU_MR
                         : TERN_CPU_KB * TERN_CPU_MR * sizeof(int16_t);
    bool apack_owned;
    j.apack = tern_cpu_scratch_get(
        l, 2, (size_t)(strips * nkb) * j.apanel_bytes, &apack_owned);
    if (!j.apack) {
      tern_cpu_scratch_put(l, 1, xsum, xsum_owned);
      return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY,
                          "cpu linear: out of memory packing activations");
    }
    tern_cpu_parallel_for(thread_count, strips, pack_a_task, &j);
    j.n_nchunks = (l->N + GEMM_NC - 1) / GEMM_NC;
    int64_t n_mchunks = (j.mp + GEMM_MC - 1) / GEMM_MC;
    tern_cpu_parallel_for(thread_count, j.n_nchunks * n_mchunks, gemm_task, &j);
    tern_cpu_scratch_put(l, 2, j.apack, apack_owned);
    if (j.status)
      s = tern_err_set(err, j.status, "cpu linear: out of memory in GEMM");
  }
  tern_cpu_scratch_put(l, 1, xsum, xsum_owned);
  return s;
}

bool tern_cpu_blas_sgemm_nt(int64_t M, int64_t N, int64_t K, const float *x,
                            const float *w, float *y) {
#ifdef TERN_CPU_HAVE_BLAS
  if (M == 1)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)K, 1.0f, w, (int)K, x,
                1, 0.0f, y, 1);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K,
                1.0f, x, (int)K, w, (int)K, 0.0f, y, (int)N);
  return true;
#else
  (void)M, (void)N, (void)K, (void)x, (void)w, (void)y;
  return false;
#endif
}

static tern_status run_f32(const tern_cpu_linear *l, const float *x, int64_t M,
                           float *y, tern_err *err) {
  if (!tern_cpu_blas_sgemm_nt(M, l->N, l->K, x, l->w, y)) {
    /* no BLAS: the reference loop order (k ascending) */
    const float *w = l->w;
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = 0; n < l->N; n++) {
        float acc = 0;
        for (int64_t k = 0; k < l->K; k++)
          acc += x[m * l->K + k] * w[n * l->K + k];
        y[m * l->N + n] = acc;
      }
  }
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < l->N; n++) {
      float v = y[m * l->N + n];
      if (l->bias)
        v += l->bias[n];
      y[m * l->N + n] = tern_apply_activation(l->act, v);
    }
  return TERN_OK;
}

tern_status tern_cpu_linear_run(const tern_cpu_linear *l, const float *x,
                                int64_t M, float *y, int thread_count,
                                tern_err *err) {
  if (M <= 0)
    return TERN_OK;
  if (l->wdtype == TERN_DTYPE_F32)
    return run_f32(l, x, M, y, err);
  /* qx (M rows of kp, a multiple of 256 bytes) then the M row scales */
  size_t qbytes = (size_t)M * (size_t)l->kp;
  bool owned;
  int8_t *qx =
      tern_cpu_scratch_get(l, 0, qbytes + (size_t)M * sizeof(float), &owned);
  if (!qx)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY,
                        "cpu linear: out of memory for %lld activation rows",
                        (long long)M);
  float *xs = (float *)(qx + qbytes);
  quantize_rows_k(l->k, x, M, l->K, l->kp, qx, xs, thread_count);
  tern_status s =
      tern_cpu_linear_run_q(l, qx, xs, M, y, l->N, false, thread_count, err);
  tern_cpu_scratch_put(l, 0, qx, owned);
  return s;
}
