/* cpu_eltwise.c — the node level of the CPU fast paths for the ops around
 * the matrix products (cpu_eltwise.h): at prepare time each node gets its
 * loop structure fixed (broadcast and permute dims collapsed into runs,
 * rope's cos/sin tables, pool geometry); at run time the runs go to the
 * active ISA's kernels, split over the thread pool when a node is large
 * enough to pay for it. Tasks never share outputs, so results do not
 * depend on the thread count. Also: the choice of the kernel table. */
#include "cpu_eltwise.h"

#include "core/ops/op_common.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- ISA */
const tern_cpu_eltwise *tern_cpu_eltwise_get(tern_cpu_isa isa) {
  switch (isa) {
  case TERN_ISA_SCALAR:
    return &tern_cpu_eltwise_scalar;
#if defined(__x86_64__) || defined(__i386__)
  case TERN_ISA_AVX2:
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
               ? &tern_cpu_eltwise_avx2
               : NULL;
  case TERN_ISA_AVX512:
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")
               ? &tern_cpu_eltwise_avx512
               : NULL;
#endif
#if defined(__aarch64__)
  case TERN_ISA_NEON:
  case TERN_ISA_NEONDOT:
    return &tern_cpu_eltwise_neon; /* Advanced SIMD: the AArch64 baseline */
#endif
  default:
    return NULL;
  }
}

tern_cpu_isa tern_cpu_eltwise_isa(void) {
#if defined(__aarch64__)
  tern_cpu_isa best = TERN_ISA_NEON;
#else
  tern_cpu_isa best = tern_cpu_eltwise_get(TERN_ISA_AVX512) ? TERN_ISA_AVX512
                      : tern_cpu_eltwise_get(TERN_ISA_AVX2) ? TERN_ISA_AVX2
                                                            : TERN_ISA_SCALAR;
#endif
  tern_cpu_isa want;
  const char *env = getenv("TERN_CPU_ISA");
  if (env && tern_cpu_isa_parse(env, &want) && want < best &&
      tern_cpu_eltwise_get(want))
    return want;
  return best;
}

/* -------------------------------------------------------------- nodes */
/* Work (about one float operation each) below which a node runs on the
 * calling thread alone: waking the pool costs a few microseconds. */
#define GRAIN 65536

struct tern_cpu_eltwise_node {
  tern_op op;
  tern_op_params p;
  const tern_cpu_eltwise *k;
  int64_t n; /* output elements */
  /* add/mul and permute: the output's dims with size-1 dims dropped and
   * neighbours that stay contiguous for every input merged; innermost last.
   * sa/sb: strides (elements) of the inputs along them. */
  int nd;
  int64_t shape[TERN_MAX_DIMS], sa[TERN_MAX_DIMS], sb[TERN_MAX_DIMS];
  /* rows of D: norms, softmax, rope, global_avgpool */
  int64_t rows, D, T;
  float *cs, *sc; /* rope: [T][D] {c, s} and {s, c} pairs */
  /* matmul */
  int nb;
  int64_t bshape[TERN_MAX_DIMS], bsa[TERN_MAX_DIMS], bsb[TERN_MAX_DIMS];
  int64_t batches, M, N, K;
  /* batchnorm: inner elements per (n, c) */
  int64_t C, inner;
  tern_cpu_pool pool;
};

/* Collapse an iteration over `shape` (nd dims, outermost first) read
 * through strides sa and sb: drop size-1 dims, merge a dim into its inner
 * neighbour when both inputs stay contiguous across them. */
static void collapse(tern_cpu_eltwise_node *e, int nd, const int64_t *shape,
                     const int64_t *sa, const int64_t *sb) {
  e->nd = 0;
  for (int i = 0; i < nd; i++) {
    if (shape[i] == 1)
      continue;
    int j = e->nd;
    e->shape[j] = shape[i];
    e->sa[j] = sa[i];
    e->sb[j] = sb ? sb[i] : 0;
    e->nd++;
  }
  /* merge from the inside: dim j-1 into j */
  int out = 0;
  for (int j = 0; j < e->nd; j++) {
    if (out > 0) {
      int q = out - 1;
      if (e->sa[q] == e->sa[j] * e->shape[j] &&
          e->sb[q] == e->sb[j] * e->shape[j]) {
        e->shape[q] *= e->shape[j];
        e->sa[q] = e->sa[j];
        e->sb[q] = e->sb[j];
        continue;
      }
    }
    e->shape[out] = e->shape[j];
    e->sa[out] = e->sa[j];
    e->sb[out] = e->sb[j];
    out++;
  }
  e->nd = out;
  if (e->nd == 0) { /* one element */
    e->nd = 1;
    e->shape[0] = 1;
    e->sa[0] = e->sb[0] = 0;
  }
}

/* Strides of a contiguous tensor seen from an `ndim`-dim output (numpy
 * broadcasting, right-aligned): missing or size-1 dims read stride 0. */
static void bcast_strides(int in_ndim, const int64_t *in_shape, int ndim,
                          int64_t *st) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    int j = in_ndim - ndim + i;
    st[i] = (j < 0 || in_shape[j] == 1) ? 0 : s;
    if (j >= 0)
      s *= in_shape[j];
  }
}

static bool all_f32(const tern_exec_node *en) {
  for (int i = 0; i < en->n_inputs; i++)
    if (en->in[i].dtype != TERN_DTYPE_F32)
      return false;
  return en->out.dtype == TERN_DTYPE_F32;
}

static tern_status rope_tables(tern_cpu_eltwise_node *e, tern_err *err) {
  /* The reference's float steps, with the same libm calls: the tables
   * hold exactly the c and s it computes. */
  float theta = e->p.theta != 0 ? e->p.theta : 10000.0f;
  size_t n = (size_t)e->T * (size_t)e->D;
  e->cs = tern_malloc_aligned(n * sizeof(float));
  e->sc = tern_malloc_aligned(n * sizeof(float));
  if (!e->cs || !e->sc)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY,
                        "cpu rope: out of memory for %zu-entry tables", n);
  for (int64_t t = 0; t < e->T; t++)
    for (int64_t i = 0; i < e->D / 2; i++) {
      float inv = powf(theta, -(float)(2 * i) / (float)e->D);
      float angle = (float)t * inv;
      float c = cosf(angle), s = sinf(angle);
      int64_t o = t * e->D + 2 * i;
      e->cs[o] = c;
      e->cs[o + 1] = s;
      e->sc[o] = s;
      e->sc[o + 1] = c;
    }
  return TERN_OK;
}

tern_status tern_cpu_eltwise_create(const tern_exec_node *en, tern_cpu_isa isa,
                                    tern_cpu_eltwise_node **out,
                                    tern_err *err) {
  const tern_cpu_eltwise *k = tern_cpu_eltwise_get(isa);
  if (!k)
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "cpu: elementwise kernels for %s are not available on "
                        "this CPU",
                        tern_cpu_isa_name(isa));
  if (!all_f32(en))
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "cpu %s: no fast path for non-f32 tensors",
                        tern_op_name(en->op));
  tern_cpu_eltwise_node *e = tern_calloc(1, sizeof *e);
  if (!e)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  e->op = en->op;
  e->p = en->params;
  e->k = k;
  const tern_view *x = &en->in[0], *y = &en->out;
  e->n = tern_view_numel(y);
  tern_status s = TERN_OK;
  switch (en->op) {
  case TERN_OP_ADD:
  case TERN_OP_MUL: {
    int64_t sa[TERN_MAX_DIMS], sb[TERN_MAX_DIMS];
    bcast_strides(en->in[0].ndim, en->in[0].shape, y->ndim, sa);
    bcast_strides(en->in[1].ndim, en->in[1].shape, y->ndim, sb);
    collapse(e, y->ndim, y->shape, sa, sb);
    break;
  }
  case TERN_OP_PERMUTE: {
    int64_t in_st[TERN_MAX_DIMS], st[TERN_MAX_DIMS], acc = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
      in_st[d] = acc;
      acc *= x->shape[d];
    }
    for (int i = 0; i < y->ndim; i++)
      st[i] = in_st[en->params.perm[i]];
    collapse(e, y->ndim, y->shape, st, NULL);
    break;
  }
  case TERN_OP_RELU:
  case TERN_OP_RELU6:
  case TERN_OP_GELU:
  case TERN_OP_SILU:
    break;
  case TERN_OP_BATCHNORM:
    e->C = x->shape[1];
    e->inner = tern_dims_prod(x->shape, 2, x->ndim);
    break;
  case TERN_OP_RMSNORM:
  case TERN_OP_LAYERNORM:
  case TERN_OP_SOFTMAX:
  case TERN_OP_ROPE:
    e->D = x->shape[x->ndim - 1];
    e->rows = e->D ? e->n / e->D : 0;
    e->T = x->ndim >= 2 ? x->shape[x->ndim - 2] : 1;
    if (en->op == TERN_OP_ROPE) {
      /* tables of T x D floats (two): beyond 2^21 entries (16 MiB) the
       * reference's per-call libm evaluation is left to run */
      if (e->T * e->D > ((int64_t)1 << 21)) {
        s = tern_err_set(err, TERN_ERR_UNSUPPORTED,
                         "cpu rope: %lld positions x %lld is too large for "
                         "tables",
                         (long long)e->T, (long long)e->D);
        break;
      }
      s = rope_tables(e, err);
    }
    break;
  case TERN_OP_MATMUL: {
    const tern_view *A = &en->in[0], *B = &en->in[1];
    e->nb = y->ndim - 2;
    e->M = y->shape[e->nb];
    e->N = y->shape[e->nb + 1];
    e->K = A->shape[A->ndim - 1];
    bcast_strides(A->ndim - 2, A->shape, e->nb, e->bsa);
    bcast_strides(B->ndim - 2, B->shape, e->nb, e->bsb);
    memcpy(e->bshape, y->shape, sizeof(int64_t) * (size_t)e->nb);
    e->batches = tern_dims_prod(y->shape, 0, e->nb);
    break;
  }
  case TERN_OP_MAXPOOL2D:
  case TERN_OP_AVGPOOL2D: {
    /* the reference's own window geometry (validated again here) */
    tern_pool_geom pg;
    if ((s = tern_pool_geometry(tern_op_name(en->op), &en->params, en->in,
                                en->n_inputs, &pg, err)))
      break;
    e->pool = (tern_cpu_pool){pg.H,
                              pg.W,
                              pg.KH,
                              pg.KW,
                              pg.SH,
                              pg.SW,
                              pg.PH,
                              pg.PW,
                              pg.OH,
                              pg.OW,
                              en->op == TERN_OP_MAXPOOL2D,
                              en->params.count_include_pad != 0};
    e->rows = x->shape[0] * x->shape[1]; /* planes */
    break;
  }
  case TERN_OP_GLOBAL_AVGPOOL:
    e->rows = x->shape[0] * x->shape[1];
    e->D = x->shape[2] * x->shape[3];
    break;
  default:
    s = tern_err_set(err, TERN_ERR_UNSUPPORTED, "cpu: no fast path for %s",
                     tern_op_name(en->op));
  }
  if (s) {
    tern_cpu_eltwise_destroy(e);
    return s;
  }
  *out = e;
  return TERN_OK;
}

void tern_cpu_eltwise_destroy(tern_cpu_eltwise_node *e) {
  if (!e)
    return;
  tern_free_aligned(e->cs);
  tern_free_aligned(e->sc);
  tern_free(e);
}

/* ------------------------------------------------------------- running */
typedef struct job {
  const tern_cpu_eltwise_node *e;
  const tern_view *in;
  float *y;
  int64_t units, per; /* units split into tasks of `per` */
  void (*fn)(const struct job *j, int64_t lo, int64_t hi);
  atomic_int failed; /* a task could not allocate its scratch */
} job;

static void job_task(void *ctx, int64_t t) {
  job *j = ctx;
  int64_t lo = t * j->per, hi = lo + j->per < j->units ? lo + j->per : j->units;
  j->fn(j, lo, hi);
}

/* fn over units [0, units), each costing about `cost` operations. */
static void split(job *j, int64_t units, int64_t cost, int threads) {
  j->units = units;
  int64_t total = units * (cost > 0 ? cost : 1);
  int64_t tasks = total / GRAIN;
  if (threads > 1 && tasks > 1 && units > 1) {
    if (tasks > 4 * (int64_t)threads)
      tasks = 4 * (int64_t)threads;
    if (tasks > units)
      tasks = units;
    j->per = (units + tasks - 1) / tasks;
    tern_cpu_parallel_for(threads, (units + j->per - 1) / j->per, job_task, j);
  } else if (units > 0) {
    j->fn(j, 0, units);
  }
}

/* Offset of outer index `o` (row-major over dims [0, nd-1)) through the
 * strides st. */
static int64_t outer_offset(const tern_cpu_eltwise_node *e, int64_t o,
                            const int64_t *st) {
  int64_t off = 0;
  for (int d = e->nd - 2; d >= 0; d--) {
    off += (o % e->shape[d]) * st[d];
    o /= e->shape[d];
  }
  return off;
}

/* add/mul: a unit is one innermost run (or, when everything is one run, a
 * chunk of it). */
#define CHUNK 16384
static void binary_fn(const job *j, int64_t lo, int64_t hi) {
  const tern_cpu_eltwise_node *e = j->e;
  const float *a = j->in[0].data, *b = j->in[1].data;
  tern_cpu_binop op =
      e->op == TERN_OP_ADD ? TERN_CPU_BIN_ADD : TERN_CPU_BIN_MUL;
  int64_t run = e->shape[e->nd - 1];
  int64_t ia = e->sa[e->nd - 1], ib = e->sb[e->nd - 1];
  if (e->nd == 1) {
    int64_t i0 = lo * CHUNK, i1 = hi * CHUNK < run ? hi * CHUNK : run;
    e->k->binary(op, a + i0 * ia, ia, b + i0 * ib, ib, j->y + i0, i1 - i0);
    return;
  }
  for (int64_t o = lo; o < hi; o++)
    e->k->binary(op, a + outer_offset(e, o, e->sa), ia,
                 b + outer_offset(e, o, e->sb), ib, j->y + o * run, run);
}

static void permute_fn(const job *j, int64_t lo, int64_t hi) {
  const tern_cpu_eltwise_node *e = j->e;
  const float *x = j->in[0].data;
  int64_t run = e->shape[e->nd - 1], st = e->sa[e->nd - 1];
  for (int64_t o = lo; o < hi; o++) {
    const float *src = x + outer_offset(e, o, e->sa);
    float *dst = j->y + o * run;
    if (st == 1)
      memcpy(dst, src, (size_t)run * sizeof(float));
    else
      for (int64_t i = 0; i < run; i++)
        dst[i] = src[i * st];
  }
}

static void act_fn(const job *j, int64_t lo, int64_t hi) {
  const tern_cpu_eltwise_node *e = j->e;
  static const tern_activation acts[] = {
      [TERN_OP_RELU] = TERN_ACT_RELU,
      [TERN_OP_RELU6] = TERN_ACT_RELU6,
      [TERN_OP_GELU] = TERN_ACT_GELU,
      [TERN_OP_SILU] = TERN_ACT_SILU,
  };
  int64_t i0 = lo * CHUNK, i1 = hi * CHUNK < e->n ? hi * CHUNK : e->n;
  e->k->activation(acts[e->op], (const float *)j->in[0].data + i0, j->y + i0,
                   i1 - i0);
}

/* batchnorm: a unit is one (n, c) plane */
static void batchnorm_fn(const job *j, int64_t lo, int64_t hi) {
  const tern_cpu_eltwise_node *e = j->e;
  const float *x = j->in[0].data, *gamma = j->in[1].data, *beta = j->in[2].data,
              *mean = j->in[3].data, *var = j->in[4].data;
  float eps = e->p.eps != 0 ? e->p.eps : 1e-5f;
  for (int64_t u = lo; u < hi; u++) {
    int64_t c = u % e->C;
    float k = gamma[c] / sqrtf(var[c] + eps);
    e->k->affine(x + u * e->inner, mean[c], k, beta[c], j->y + u * e->inner,
                 e->inner);
  }
}

static void rows_fn(const job *j, int64_t lo, int64_t hi) {
  const tern_cpu_eltwise_node *e = j->e;
  const float *x = j->in[0].data;
  float eps = e->p.eps != 0 ? e->p.eps : 1e-5f;
  int64_t D = e->D;
  for (int64_t r = lo; r < hi; r++) {
    const float *xr = x + r * D;
    float *yr = j->y + r * D;
    switch (e->op) {
    case TERN_OP_RMSNORM:
      e->k->rmsnorm(xr, j->in[1].data, eps, yr, D);
      break;
    case TERN_OP_LAYERNORM:
      e->k->layernorm(xr, j->in[1].data, j->in[2].data, eps, yr, D);
      break;
    case TERN_OP_SOFTMAX:
      e->k->softmax(xr, yr, D);
      break;
    case TERN_OP_ROPE: {
      int64_t t = r % e->T;
      e->k->rope(xr, e->cs + t * D, e->sc + t * D, yr, D);
      break;
    }
    case TERN_OP_GLOBAL_AVGPOOL:
      j->y[r] = e->k->sum(xr, D) / (float)D;
      break;
    default:
      break;
    }
  }
}

static void pool_fn(const job *j, int64_t lo, int64_t hi) {
  const tern_cpu_eltwise_node *e = j->e;
  const tern_cpu_pool *g = &e->pool;
  const float *x = j->in[0].data;
  for (int64_t pl = lo; pl < hi; pl++)
    for (int64_t oh = 0; oh < g->OH; oh++)
      e->k->pool_row(g, x + pl * g->H * g->W, oh,
                     j->y + (pl * g->OH + oh) * g->OW);
}

/* matmul: a unit is one batch matrix; B^T is transposed into scratch so
 * that the kernel runs along n for either layout. */
static void matmul_fn(const job *j, int64_t lo, int64_t hi) {
  const tern_cpu_eltwise_node *e = j->e;
  const float *A = j->in[0].data, *B = j->in[1].data;
  int64_t M = e->M, N = e->N, K = e->K;
  float alpha = e->p.alpha != 0 ? e->p.alpha : 1.0f;
  float stack[4096], *bt = NULL;
  if (e->p.transpose_b) {
    bt = K * N <= 4096 ? stack : tern_malloc((size_t)(K * N) * sizeof(float));
    if (!bt) {
      atomic_store((atomic_int *)&j->failed, 1);
      return;
    }
  }
  for (int64_t bi = lo; bi < hi; bi++) {
    int64_t oa = 0, ob = 0, rem = bi;
    for (int d = e->nb - 1; d >= 0; d--) {
      int64_t idx = rem % e->bshape[d];
      rem /= e->bshape[d];
      oa += idx * e->bsa[d];
      ob += idx * e->bsb[d];
    }
    const float *a = A + oa * M * K, *b = B + ob * K * N;
    if (bt) { /* eight rows of B at a time: eight-float runs of B^T */
      int64_t n0 = 0;
      for (; n0 + 8 <= N; n0 += 8)
        for (int64_t k = 0; k < K; k++)
          for (int64_t j = 0; j < 8; j++)
            bt[k * N + n0 + j] = b[(n0 + j) * K + k];
      for (; n0 < N; n0++)
        for (int64_t k = 0; k < K; k++)
          bt[k * N + n0] = b[n0 * K + k];
      b = bt;
    }
    e->k->matmul(a, b, j->y + bi * M * N, M, N, K, alpha);
  }
  if (bt && bt != stack)
    tern_free(bt);
}

tern_status tern_cpu_eltwise_run(const tern_cpu_eltwise_node *e,
                                 const tern_view *in, tern_view *out,
                                 int thread_count, tern_err *err) {
  job j = {.e = e, .in = in, .y = out->data};
  if (e->n == 0)
    return TERN_OK;
  switch (e->op) {
  case TERN_OP_ADD:
  case TERN_OP_MUL:
  case TERN_OP_PERMUTE: {
    j.fn = e->op == TERN_OP_PERMUTE ? permute_fn : binary_fn;
    int64_t run = e->shape[e->nd - 1];
    if (e->nd == 1 && e->op != TERN_OP_PERMUTE)
      split(&j, (run + CHUNK - 1) / CHUNK, CHUNK, thread_count);
    else
      split(&j, e->n / run, run, thread_count);
    break;
  }
  case TERN_OP_RELU:
  case TERN_OP_RELU6:
  case TERN_OP_GELU:
  case TERN_OP_SILU: {
    j.fn = act_fn;
    int64_t cost = e->op == TERN_OP_GELU || e->op == TERN_OP_SILU ? 16 : 1;
    split(&j, (e->n + CHUNK - 1) / CHUNK, CHUNK * cost, thread_count);
    break;
  }
  case TERN_OP_BATCHNORM:
    j.fn = batchnorm_fn;
    split(&j, e->n / (e->inner ? e->inner : 1), e->inner, thread_count);
    break;
  case TERN_OP_MAXPOOL2D:
  case TERN_OP_AVGPOOL2D:
    j.fn = pool_fn;
    split(&j, e->rows, e->pool.OH * e->pool.OW * e->pool.KH * e->pool.KW,
          thread_count);
    break;
  case TERN_OP_MATMUL:
    j.fn = matmul_fn;
    split(&j, e->batches, e->M * e->N * e->K, thread_count);
    if (atomic_load(&j.failed))
      return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY,
                          "cpu matmul: out of memory for a %lld x %lld "
                          "transpose",
                          (long long)e->K, (long long)e->N);
    break;
  default: /* rows */
    j.fn = rows_fn;
    split(&j, e->rows, e->op == TERN_OP_SOFTMAX ? 16 * e->D : 4 * e->D,
          thread_count);
    break;
  }
  return TERN_OK;
}

/* ---------------------------------------------------- the CPU backend */
static tern_status node_run(tern_device *d, tern_cpu_node *n,
                            const tern_view *in, tern_view *out,
                            tern_err *err) {
  return tern_cpu_eltwise_run(n->state, in, out, d->thread_count, err);
}

static void node_release(tern_cpu_node *n) {
  tern_cpu_eltwise_destroy(n->state);
  n->state = NULL;
}

tern_status tern_cpu_eltwise_prepare(tern_device *d, tern_cpu_node *n,
                                     tern_err *err) {
  tern_cpu_eltwise_node *e;
  tern_status s =
      tern_cpu_eltwise_create(&n->en, tern_cpu_eltwise_isa(), &e, err);
  if (s == TERN_ERR_UNSUPPORTED) {
    tern_err_clear(err); /* the reference runs it */
    return TERN_OK;
  }
  if (s)
    return s;
  n->state = e;
  n->run = node_run;
  n->release = node_release;
  return TERN_OK;
}
