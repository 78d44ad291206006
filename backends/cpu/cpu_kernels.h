/* cpu_kernels.h — the fast CPU kernels: ISA detection, the thread pool, the
 * repacked weight layouts and the per-ISA kernel tables that the LINEAR and
 * CONV2D fast paths (cpu_linear.c, cpu_conv2d.c) dispatch to.
 *
 * Layouts (K is padded to Kp = round_up(K, 256); padding is exact because the
 * padded activations are zero):
 * - Ternary "T128": row n is Kp/4 bytes; 128-element block b is 32 bytes,
 *   byte i holds in bits 2s..2s+1 the code (q+1) of k = 128b + 32s + i.
 *   One 32-byte load and four shift/mask steps give four vectors of 32
 *   consecutive codes.
 * - Int8: rows of Kp int8, zero padded.
 * - Activations: int8 rows of Kp (activation rule of docs/NUMERICS.md), plus
 *   their int32 row sums: kernels multiply unsigned ternary codes c = q+1 with
 *   signed activations and subtract the row sum (dot(q,x) = dot(c,x) -
 *   sum(x)), which keeps every product exact in 16 bits.
 * - GEMM panels (per 256-deep K block): A (activations) as MR-row strips
 *   [64 groups][MR rows][4 k]; ternary B as 16-channel strips of codes
 *   [64 groups][16 ch][4 k]; int8 B as 16-channel strips of int16
 *   [128 pairs][16 ch][2 k] with A as [128 pairs][MR rows][2 k] int16.
 * - "P16" (tables with p16 set: AVX-512 VNNI; K padded to a multiple of
 *   TERN_CPU_P16_KQ only, so small convolutions waste little): the weights
 *   themselves are
 *   packed once into strips of 16 output channels (N padded to 16 with zero
 *   weights), so neither the GEMV nor the GEMM repacks them at run time.
 *   Int8 strip t: kp*16 bytes, [kp/4 groups][16 ch][4 k] of offset bytes
 *   w + 128 (vpdpbusd multiplies unsigned by signed bytes; the caller
 *   subtracts 128 * sum(x), exact for every weight, -128 included).
 *   Ternary strip t: kp*4 bytes, [kp/16 quads][16 ch][4 k] bytes whose bits
 *   2s..2s+1 hold the code of group 4*quad + s: one 64-byte load and a
 *   shift/mask give the [16 ch][4 k] codes of a group. The A strips of the
 *   GEMM are the ternary A panels above, contiguous over K. */
#ifndef TERN_CPU_KERNELS_H
#define TERN_CPU_KERNELS_H

#include "tern_internal.h"

#include <string.h>

#define TERN_CPU_KB 256    /* K block of the GEMM panels and of padding */
#define TERN_CPU_MR 6      /* activation rows per GEMM micro tile */
#define TERN_CPU_NR 16     /* output channels per GEMM micro tile */
#define TERN_CPU_P16_KQ 64 /* K padding of P16 tables (see below) */

typedef enum tern_cpu_isa {
  TERN_ISA_SCALAR = 0,
  TERN_ISA_AVX2 = 1,
  TERN_ISA_AVX512 = 2,  /* AVX-512 F/BW/VL + VNNI */
  TERN_ISA_NEON = 3,    /* AArch64 Advanced SIMD (vmull/vpadal) */
  TERN_ISA_NEONDOT = 4, /* + the dot-product extension (SDOT, asimddp) */
  TERN_ISA_COUNT_
} tern_cpu_isa;

/* Best ISA of this CPU, lowered by
 * TERN_CPU_ISA=scalar|avx2|avx512|neon|neondot
 * (a request above what the CPU has is ignored). Read once. */
tern_cpu_isa tern_cpu_isa_active(void);
/* What the CPU has, ignoring the environment. */
tern_cpu_isa tern_cpu_isa_best(void);
const char *tern_cpu_isa_name(tern_cpu_isa isa);
/* Parse "scalar", "avx2", ...; false if unknown. */
bool tern_cpu_isa_parse(const char *s, tern_cpu_isa *isa);
/* Is a kernel table compiled in and runnable on this CPU? */
bool tern_cpu_isa_available(tern_cpu_isa isa);

/* ------------------------------------------------------------ threads */
/* fn(ctx, task) for task in [0, n_tasks), spread over up to thread_count
 * threads (the caller is one of them). A process-wide pool of workers is
 * started lazily; if another caller is using it, the work runs on the
 * calling thread alone (same result: tasks never share outputs). */
typedef void (*tern_cpu_task_fn)(void *ctx, int64_t task);
void tern_cpu_parallel_for(int thread_count, int64_t n_tasks,
                           tern_cpu_task_fn fn, void *ctx);
/* Threads to use when the caller gave none: TERN_THREADS, else the number of
 * online cores. */
int tern_cpu_default_threads(void);

/* ------------------------------------------------------------ kernels */
/* The GEMV row blocking every ISA shares: 4 weight rows at a time for one
 * activation row, 2 for two, 1 for three or four. ROWS is the ISA's inline
 * kernel, called with R (weight rows) and MB (activation rows) as constants
 * so that it unrolls. */
#define TERN_CPU_GEMV_BLOCKED(ROWS, w, kp, n0, n1, x, mb, acc, ldacc)          \
  do {                                                                         \
    int64_t n_ = (n0);                                                         \
    switch (mb) {                                                              \
    case 1:                                                                    \
      for (; n_ + 4 <= (n1); n_ += 4)                                          \
        ROWS(w, kp, n_, x, 4, 1, acc, ldacc);                                  \
      for (; n_ < (n1); n_++)                                                  \
        ROWS(w, kp, n_, x, 1, 1, acc, ldacc);                                  \
      break;                                                                   \
    case 2:                                                                    \
      for (; n_ + 2 <= (n1); n_ += 2)                                          \
        ROWS(w, kp, n_, x, 2, 2, acc, ldacc);                                  \
      for (; n_ < (n1); n_++)                                                  \
        ROWS(w, kp, n_, x, 1, 2, acc, ldacc);                                  \
      break;                                                                   \
    case 3:                                                                    \
      for (; n_ < (n1); n_++)                                                  \
        ROWS(w, kp, n_, x, 1, 3, acc, ldacc);                                  \
      break;                                                                   \
    default:                                                                   \
      for (; n_ < (n1); n_++)                                                  \
        ROWS(w, kp, n_, x, 1, 4, acc, ldacc);                                  \
      break;                                                                   \
    }                                                                          \
  } while (0)

/* One ISA's kernels. All accumulate exact int32 dot products on the layouts
 * above; acc receives dot(c, x) for ternary (the caller subtracts the row
 * sum) and dot(w, x) for int8.
 * gemv_*: rows [n0, n1) of the weights against mb (1..4) activation rows
 *   x (stride Kp); acc[m * ldacc + n]. kp is a multiple of 256.
 * pack_*: one 16-channel B strip for K block kb from the repacked weights
 *   (rows n0..n0+15, rows >= N read as zero weights).
 * gemm_*: one MR x NR micro tile over one K block: C[r * ldc + j] += ... */
typedef struct tern_cpu_kernels {
  void (*gemv_ternary)(const uint8_t *w, int64_t kp, int64_t n0, int64_t n1,
                       const int8_t *x, int mb, int32_t *acc, int64_t ldacc);
  void (*gemv_int8)(const int8_t *w, int64_t kp, int64_t n0, int64_t n1,
                    const int8_t *x, int mb, int32_t *acc, int64_t ldacc);
  void (*pack_b_ternary)(const uint8_t *w, int64_t kp, int64_t N, int64_t n0,
                         int64_t kb, uint8_t *panel);
  void (*gemm_ternary)(const uint8_t *bpanel, const int8_t *apanel, int32_t *C,
                       int64_t ldc);
  void (*gemm_int8)(const int16_t *bpanel, const int16_t *apanel, int32_t *C,
                    int64_t ldc);
  /* One row of K floats by the activation rule into kp int8 (zero padded),
   * *scale = 2^e; exactly tern_act_quantize_row. */
  void (*quantize_row)(const float *x, int64_t K, int64_t kp, int8_t *q,
                       float *scale);
  /* P16 tables: the entries above but quantize_row are unused (NULL) and
   * these run on the P16 strips; both give dot(c, x) with c = q + 1
   * (ternary) or w + 128 (int8), the caller subtracting 1 or 128 times
   * sum(x).
   * p16_gemv_*: mb (1..4) activation rows x (stride kp) against strips
   *   [t0, t1): acc[m * ldacc + 16 t + c] (absolute channel index).
   * p16_gemm_*: an MR x 16*ns tile (ns = 1..4 strips, bstride bytes apart)
   *   over ng groups of 4 k (ng a multiple of 4); b is the strips' first
   *   group, a the A strip's ([groups][MR][4]); C[r * ldc + j] is
   *   overwritten (accumulate false) or added to. */
  bool p16;
  /* Optional: sum of kp (a multiple of 64) int8 values. */
  int32_t (*row_sum)(const int8_t *x, int64_t kp);
  void (*p16_gemv_ternary)(const uint8_t *w, int64_t kp, int64_t t0, int64_t t1,
                           const int8_t *x, int mb, int32_t *acc,
                           int64_t ldacc);
  void (*p16_gemv_u8)(const uint8_t *w, int64_t kp, int64_t t0, int64_t t1,
                      const int8_t *x, int mb, int32_t *acc, int64_t ldacc);
  void (*p16_gemm_ternary)(const uint8_t *b, int64_t bstride, int ns,
                           const int8_t *a, int64_t ng, int32_t *C, int64_t ldc,
                           bool accumulate);
  void (*p16_gemm_u8)(const uint8_t *b, int64_t bstride, int ns,
                      const int8_t *a, int64_t ng, int32_t *C, int64_t ldc,
                      bool accumulate);
  /* Optional: the quantized epilogue of n outputs of one row, exactly
   * tern_q_epilogue + tern_apply_activation of acc[j] - corr (modulo 2^32)
   * with wscale ws[j], row scale xs and bias[j] (bias may be NULL). */
  void (*epilogue)(const int32_t *acc, int64_t n, uint32_t corr,
                   const float *ws, float xs, const float *bias,
                   tern_activation act, float *y);
} tern_cpu_kernels;

/* The step of the activation rule between the absmax and the rounding, for
 * the vectorised quantizers: a row with a NaN, or whose absmax
 * tern_act_exponent rejects, becomes kp zeros with scale 1 (false);
 * otherwise *inv = 2^-e and *scale = 2^e, both exact (true). */
static inline bool tern_cpu_row_scale(bool has_nan, float absmax, int8_t *q,
                                      int64_t kp, float *inv, float *scale) {
  int e;
  if (has_nan || !tern_act_exponent(absmax, &e)) {
    memset(q, 0, (size_t)kp);
    *scale = 1.0f;
    return false;
  }
  uint32_t ib = (uint32_t)(127 - e) << 23, sb = (uint32_t)(127 + e) << 23;
  memcpy(inv, &ib, 4);
  memcpy(scale, &sb, 4);
  return true;
}

/* NULL when the ISA is not compiled in. */
const tern_cpu_kernels *tern_cpu_kernels_get(tern_cpu_isa isa);
extern const tern_cpu_kernels tern_cpu_kernels_scalar;
#if defined(__x86_64__) || defined(__i386__)
extern const tern_cpu_kernels tern_cpu_kernels_avx2;
#ifdef TERN_CPU_HAVE_AVX512
extern const tern_cpu_kernels tern_cpu_kernels_avx512;
#endif
#endif
#if defined(__aarch64__) && defined(TERN_CPU_HAVE_NEON)
extern const tern_cpu_kernels tern_cpu_kernels_neon;
extern const tern_cpu_kernels tern_cpu_kernels_neondot;
/* Shared by both NEON tables (cpu_kern_neon.c, plain Advanced SIMD). */
void tern_cpu_neon_pack_b_ternary(const uint8_t *w, int64_t kp, int64_t N,
                                  int64_t n0, int64_t kb, uint8_t *panel);
void tern_cpu_neon_gemm_int8(const int16_t *b, const int16_t *a, int32_t *C,
                             int64_t ldc);
void tern_cpu_neon_quantize_row(const float *x, int64_t K, int64_t kp,
                                int8_t *q, float *scale);
#endif

/* Shared, ISA-independent panel packing (plain C). */
void tern_cpu_pack_b_int8(const int8_t *w, int64_t kp, int64_t N, int64_t n0,
                          int64_t kb, int16_t *panel);
void tern_cpu_pack_a_int8(const int8_t *x, int64_t kp, int64_t M, int64_t m0,
                          int64_t kb, int16_t *panel);
void tern_cpu_pack_a_ternary(const int8_t *x, int64_t kp, int64_t M, int64_t m0,
                             int64_t kb, int8_t *panel);
/* The whole A strip of rows m0..m0+MR-1 (rows >= M as zeros) as
 * [kp/4 groups][MR rows][4 k], for any kp multiple of 4 (P16 GEMM). */
void tern_cpu_pack_a_strip(const int8_t *x, int64_t kp, int64_t M, int64_t m0,
                           int8_t *panel);
/* Threads worth waking for macs multiply-adds (at least 1): waking a
 * worker costs more than a small GEMV (mlp's 128 x 256 took 0.5 us on one
 * thread and 2.1 us on two, measured). */
static inline int tern_cpu_threads_for(int threads, double macs) {
  double t = macs / (double)(1 << 19);
  return t < 1 ? 1 : t < threads ? (int)t : threads;
}
/* Ternary canonical rows (ceil(K/4) bytes) to T128 rows of kp/4 bytes. */
void tern_cpu_repack_ternary(const uint8_t *canon, int64_t N, int64_t K,
                             int64_t kp, uint8_t *out);

/* Weights [N, K] (canonical ternary rows or int8) into P16 strips of
 * round_up(N, 16) channels; out has p16_bytes(...) bytes. */
size_t tern_cpu_p16_bytes(tern_dtype dt, int64_t N, int64_t kp);
void tern_cpu_pack_p16(tern_dtype dt, const void *w, int64_t N, int64_t K,
                       int64_t kp, uint8_t *out);

/* ------------------------------------------------------------ linear */
/* A LINEAR (or the matmul part of CONV2D) prepared for the fast kernels:
 * repacked weights, scales, bias. */
typedef struct tern_cpu_linear {
  tern_dtype wdtype;
  int64_t N, K, kp;
  void *w;       /* repacked weights (64-byte aligned) */
  float *wscale; /* N scales (i8/ternary), expanded from per-tensor */
  float *bias;   /* N values or NULL */
  tern_activation act;
  tern_cpu_isa isa;
  const tern_cpu_kernels *k;
  struct tern_cpu_scratch *scratch; /* run buffers kept between runs */
} tern_cpu_linear;

/* Run buffers of a linear kept between runs (fresh pages on every call cost
 * 8% of a 1024^3 GEMM in page faults, measured). Slots: 0 quantized
 * activations, 1 row sums, 2 packed activations. A run that finds its slot
 * busy (two runs of one layer at once) gets its own block (*owned), and
 * buffers over TERN_CPU_SCRATCH_MAX bytes are never kept. NULL: out of
 * memory. */
#define TERN_CPU_SCRATCH_SLOTS 3
#define TERN_CPU_SCRATCH_MAX ((size_t)16 << 20)
void *tern_cpu_scratch_get(const tern_cpu_linear *l, int slot, size_t bytes,
                           bool *owned);
void tern_cpu_scratch_put(const tern_cpu_linear *l, int slot, void *p,
                          bool owned);

/* w: [N, K] weights in the canonical layout (view with scales); bias may be
 * NULL. f32 weights are kept as they are (BLAS). isa is the kernel table. */
tern_status tern_cpu_linear_create(const tern_view *w, const float *bias,
                                   tern_activation act, tern_cpu_isa isa,
                                   tern_cpu_linear **out, tern_err *err);
void tern_cpu_linear_destroy(tern_cpu_linear *l);
/* y[M, N] = act(x[M, K] · Wᵀ + b), bit-identical to tern_ref_LINEAR for
 * i8/ternary weights. */
tern_status tern_cpu_linear_run(const tern_cpu_linear *l, const float *x,
                                int64_t M, float *y, int thread_count,
                                tern_err *err);
/* The integer core shared with conv2d: qx[M, kp] int8 activations with row
 * scales xs (and row sums for ternary, computed inside), writes y[m*ldy + n]
 * (or y[n*ldy + m] when transpose_out). */
tern_status tern_cpu_linear_run_q(const tern_cpu_linear *l, const int8_t *qx,
                                  const float *xs, int64_t M, float *y,
                                  int64_t ldy, bool transpose_out,
                                  int thread_count, tern_err *err);

/* The P16 driver (cpu_linear_p16.c): qx and xs as tern_cpu_linear_run_q,
 * xsum[M] the activation row sums, subtracted xsum_mul (1 or 128) times. */
tern_status tern_cpu_p16_run(const tern_cpu_linear *l, const int8_t *qx,
                             const float *xs, const int32_t *xsum,
                             uint32_t xsum_mul, int64_t M, float *y,
                             int64_t ldy, bool transpose_out, int thread_count,
                             tern_err *err);

/* ------------------------------------------------------------ conv2d */
/* CONV2D with constant weights: im2col of the int8-quantized sample and the
 * linear GEMM per group (ternary/i8), a direct integer loop for depthwise,
 * im2col + BLAS for f32. TERN_ERR_UNSUPPORTED: leave it to the reference. */
typedef struct tern_cpu_conv2d tern_cpu_conv2d;
tern_status tern_cpu_conv2d_create(const tern_op_params *p, const tern_view *x,
                                   const tern_view *w, const float *bias,
                                   tern_cpu_isa isa, tern_cpu_conv2d **out,
                                   tern_err *err);
void tern_cpu_conv2d_destroy(tern_cpu_conv2d *c);
tern_status tern_cpu_conv2d_run(const tern_cpu_conv2d *c, const tern_view *x,
                                tern_view *y, int thread_count, tern_err *err);

/* Quantize rows of K floats by the activation rule into rows of kp int8
 * (zero padded); scale[m] = 2^e. Vectorised where the ISA allows; exact. */
void tern_cpu_quantize_rows(const float *x, int64_t M, int64_t K, int64_t kp,
                            int8_t *q, float *scale, int thread_count);

/* Optional BLAS for f32 weights (OpenBLAS): y = x·Wᵀ (+ epilogue by caller).
 * Returns false when no BLAS is compiled in. */
bool tern_cpu_blas_sgemm_nt(int64_t M, int64_t N, int64_t K, const float *x,
                            const float *w, float *y);

#endif
