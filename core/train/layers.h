/* layers.h — the training core's building blocks: a small deterministic thread
 * pool, an accumulating GEMM, and every layer as a forward/backward pair over
 * plain float arrays (llm.c style). Backward functions ADD into gradients. */
#ifndef TERN_TRAIN_LAYERS_H
#define TERN_TRAIN_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ threads
 * tt_parallel_for splits [0, n) into contiguous ranges, one per worker.
 * Every caller writes disjoint outputs per index, and every reduction in the
 * training core runs in a fixed order that does not depend on the split, so
 * results are identical for any thread count. */
typedef struct tt_pool tt_pool;
typedef void (*tt_range_fn)(void *ctx, int64_t begin, int64_t end);
/* threads <= 1 gives a pool that runs everything on the caller. */
tt_pool *tt_pool_create(int threads);
void tt_pool_destroy(tt_pool *pool);
int tt_pool_threads(const tt_pool *pool);
/* pool may be NULL (serial). */
void tt_parallel_for(tt_pool *pool, int64_t n, tt_range_fn fn, void *ctx);

/* --------------------------------------------------------------- GEMM
 * C[M,N] += A[M,K] * B[K,N]. Element (m,k) of A is A[m*sam + k*sak]; row k
 * of B starts at B + k*ldb, row m of C at C + m*ldc. Each C element sums k
 * in ascending order, starting from its current value. Rows of C are split
 * across the pool's threads. */
void tt_gemm_acc(tt_pool *pool, int64_t M, int64_t N, int64_t K, const float *A,
                 int64_t sam, int64_t sak, const float *B, int64_t ldb,
                 float *C, int64_t ldc);

/* ------------------------------------------------------------- linear
 * inp [B,K], w [N,K] (row = output unit), bias [N] or NULL, out [B,N].
 * Forward sums k ascending then adds the bias, like the reference op. */
void tt_linear_forward(tt_pool *pool, float *out, const float *inp,
                       const float *w, const float *bias, int64_t B, int64_t K,
                       int64_t N);
/* dinp / dbias may be NULL. */
void tt_linear_backward(tt_pool *pool, float *dinp, float *dw, float *dbias,
                        const float *dout, const float *inp, const float *w,
                        int64_t B, int64_t K, int64_t N);

/* ------------------------------------------------------------- conv2d */
typedef struct tt_conv_shape {
  int c, h, w;     /* input channels and size */
  int oc, kh, kw;  /* output channels, kernel */
  int stride, pad; /* symmetric */
  int groups;      /* 1, or c for depthwise */
  int oh, ow;      /* output size (tt_conv_shape_init fills it) */
} tt_conv_shape;
/* Fills oh/ow; false if the shape is invalid. */
bool tt_conv_shape_init(tt_conv_shape *s);
/* inp [B,C,H,W], w [OC, C/g, KH, KW], bias [OC] or NULL, out [B,OC,OH,OW].
 * Both return false when scratch memory could not be allocated. */
bool tt_conv2d_forward(tt_pool *pool, float *out, const float *inp,
                       const float *w, const float *bias, int64_t B,
                       const tt_conv_shape *s);
bool tt_conv2d_backward(tt_pool *pool, float *dinp, float *dw, float *dbias,
                        const float *dout, const float *inp, const float *w,
                        int64_t B, const tt_conv_shape *s);

/* ---------------------------------------------------------- batchnorm
 * x [B,C,S] (S = H*W, 1 for 1-D). Training mode normalises with the batch
 * statistics (biased variance), updates running stats with momentum using
 * the unbiased variance (as PyTorch), and saves mean and 1/std for
 * backward. Eval mode uses the running statistics. */
void tt_batchnorm_forward(tt_pool *pool, float *out, const float *inp,
                          const float *gamma, const float *beta,
                          float *run_mean, float *run_var, float *save_mean,
                          float *save_invstd, int64_t B, int64_t C, int64_t S,
                          float momentum, float eps, bool training);
void tt_batchnorm_backward(tt_pool *pool, float *dinp, float *dgamma,
                           float *dbeta, const float *dout, const float *inp,
                           const float *gamma, const float *save_mean,
                           const float *save_invstd, int64_t B, int64_t C,
                           int64_t S);

/* -------------------------------------------------------- activations */
void tt_relu_forward(float *out, const float *inp, int64_t n);
void tt_relu_backward(float *dinp, const float *dout, const float *inp,
                      int64_t n);
void tt_relu6_forward(float *out, const float *inp, int64_t n);
void tt_relu6_backward(float *dinp, const float *dout, const float *inp,
                       int64_t n);
/* Residual add: out = a + b; backward adds dout into both. */
void tt_add_forward(float *out, const float *a, const float *b, int64_t n);
void tt_add_backward(float *da, float *db, const float *dout, int64_t n);

/* --------------------------------------------------------------- pools */
typedef struct tt_pool_shape {
  int c, h, w;
  int kh, kw, stride, pad;
  int count_include_pad; /* avg pool */
  int oh, ow;
} tt_pool_shape;
bool tt_pool_shape_init(tt_pool_shape *s);
/* argmax [B,C,OH,OW] receives the input index (within the sample channel)
 * of each maximum, for backward; padding never wins. */
void tt_maxpool_forward(float *out, int32_t *argmax, const float *inp,
                        int64_t B, const tt_pool_shape *s);
void tt_maxpool_backward(float *dinp, const float *dout, const int32_t *argmax,
                         int64_t B, const tt_pool_shape *s);
void tt_avgpool_forward(float *out, const float *inp, int64_t B,
                        const tt_pool_shape *s);
void tt_avgpool_backward(float *dinp, const float *dout, int64_t B,
                         const tt_pool_shape *s);
/* [B,C,S] -> [B,C] */
void tt_gap_forward(float *out, const float *inp, int64_t B, int64_t C,
                    int64_t S);
void tt_gap_backward(float *dinp, const float *dout, int64_t B, int64_t C,
                     int64_t S);

/* -------------------------------------------------------------- losses
 * Softmax cross-entropy with label smoothing eps: target = (1-eps)·onehot +
 * eps/C. Returns the mean loss over the batch; dlogits (may be NULL)
 * receives d(mean loss)/d logits (written, not added). probs (may be NULL)
 * receives the softmax. */
float tt_softmax_xent(float *dlogits, float *probs, const float *logits,
                      const int *labels, int64_t B, int64_t C, float eps);
/* Distillation: lambda·T²·KL(softmax(t/T) ‖ softmax(s/T)) +
 * (1-lambda)·CE(s, labels), batch mean. dlogits written (may be NULL). */
float tt_distill_loss(float *dlogits, const float *student,
                      const float *teacher, const int *labels, int64_t B,
                      int64_t C, float T, float lambda, float eps);

/* ---------------------------------------------------------- optimizers
 * One contiguous parameter block; grads and state mirror it. decay (may be
 * NULL) selects which parameters get weight decay (1) or not (0). */
void tt_sgd_step(float *p, const float *g, float *mom, const uint8_t *decay,
                 int64_t n, float lr, float momentum, float wd, bool nesterov);
/* AdamW (decoupled weight decay); t is the 1-based step count. */
void tt_adamw_step(float *p, const float *g, float *m, float *v,
                   const uint8_t *decay, int64_t n, float lr, float b1,
                   float b2, float eps, float wd, int64_t t);

/* --------------------------------------------------------- schedules */
typedef enum tt_sched_kind {
  TT_SCHED_CONST,
  TT_SCHED_COSINE,
  TT_SCHED_STEP
} tt_sched_kind;
typedef struct tt_schedule {
  tt_sched_kind kind;
  float base_lr;
  int64_t warmup;    /* linear warm-up steps (cosine and step) */
  int64_t total;     /* cosine: steps to reach min_lr */
  float min_lr;      /* cosine floor */
  int64_t step_size; /* step: multiply by gamma every step_size steps */
  float gamma;
} tt_schedule;
float tt_schedule_lr(const tt_schedule *s, int64_t step);

/* --------------------------------------------------------- randomness
 * Counter-based, so a resumed run draws the same numbers. */
static inline uint64_t tt_mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
static inline uint64_t tt_hash3(uint64_t a, uint64_t b, uint64_t c) {
  return tt_mix64(tt_mix64(tt_mix64(a) ^ b) ^ c);
}
/* uniform in [0,1) from a 64-bit hash */
static inline float tt_unit(uint64_t h) {
  return (float)(h >> 40) * (1.0f / 16777216.0f);
}

#endif
