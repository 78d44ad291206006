/* tune.c — the tuner: for each tunable kernel of a device and each of its
 * problems, walks the parameter space (default first, then a seeded random
 * order, invalid configurations pruned), checks every candidate against the
 * CPU reference before its time counts, and stores the fastest correct one
 * in the tuning database. Bounded by a time budget. */
#include "tuning.h"

#include "context.h"
#include "planner.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_SPACE 65536 /* configurations enumerated per problem */
#define SAMPLES 5       /* timed samples per candidate; the fastest counts */

typedef struct rng {
  uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return r->s * 2685821657736338717ull;
}

static float rng_uniform(rng *r) {
  return (float)((rng_next(r) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* One problem on one device: host tensors, the exec node, the reference
 * output and the device buffers the candidates read and write. */
typedef struct problem {
  tern_exec_node node;
  void *host[TERN_MAX_INPUTS]; /* owned host data of every input */
  float *scales;
  float *ref;       /* reference output */
  float *got;       /* candidate output read back */
  size_t out_count; /* output elements */
  tern_buffer *bufs[TERN_MAX_INPUTS + 1];
  size_t offs[TERN_MAX_INPUTS + 1];
  bool exact;
  char shape_class[64];
} problem;

static void problem_free(const tern_backend_vtbl *vt, problem *p) {
  for (int i = 0; i <= TERN_MAX_INPUTS; i++)
    if (p->bufs[i])
      vt->buffer_free(p->bufs[i]);
  for (int i = 0; i < TERN_MAX_INPUTS; i++)
    tern_free(p->host[i]);
  tern_free(p->scales);
  tern_free(p->ref);
  tern_free(p->got);
  memset(p, 0, sizeof *p);
}

static tern_status set_view(tern_view *v, tern_dtype dt, int ndim,
                            const int64_t *shape) {
  memset(v, 0, sizeof *v);
  v->dtype = dt;
  v->ndim = ndim;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] <= 0 || shape[i] > ((int64_t)1 << 30))
      return TERN_ERR_SHAPE;
    v->shape[i] = shape[i];
  }
  return TERN_OK;
}

static float *random_floats(rng *r, int64_t n) {
  float *x = tern_malloc((size_t)n * sizeof(float));
  if (x)
    for (int64_t i = 0; i < n; i++)
      x[i] = rng_uniform(r);
  return x;
}

/* Weights [rows, cols] quantized to dt from random values. */
static tern_status make_weight(problem *p, rng *r, int slot, tern_dtype dt,
                               int64_t rows, int64_t cols, tern_err *err) {
  tern_view *v = &p->node.in[slot];
  float *w = random_floats(r, rows * cols);
  if (!w)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  if (dt == TERN_DTYPE_F32) {
    float s = 1.0f / sqrtf((float)cols);
    for (int64_t i = 0; i < rows * cols; i++)
      w[i] *= s;
    p->host[slot] = w;
    v->data = w;
    return TERN_OK;
  }
  int8_t *q = tern_malloc((size_t)(rows * cols));
  p->scales = tern_malloc((size_t)rows * sizeof(float));
  tern_status s = TERN_OK;
  if (!q || !p->scales) {
    s = tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  } else if (dt == TERN_DTYPE_I8) {
    s = tern_quantize_int8(w, rows, cols, q, p->scales, NULL);
    if (!s) {
      p->host[slot] = q;
      q = NULL;
    }
  } else if (dt == TERN_DTYPE_TERNARY) {
    size_t bytes = tern_dtype_bytes(dt, rows, cols);
    uint8_t *packed = tern_malloc(bytes);
    s = packed ? tern_quantize_ternary(w, rows, cols, NULL, q, p->scales, NULL)
               : TERN_ERR_OUT_OF_MEMORY;
    if (!s)
      s = tern_ternary_pack(q, rows, cols, packed, bytes);
    if (s)
      tern_free(packed);
    else
      p->host[slot] = packed;
  } else {
    s = tern_err_set(err, TERN_ERR_DTYPE, "tuner: weight dtype %s",
                     tern_dtype_name(dt) ? tern_dtype_name(dt) : "?");
  }
  tern_free(q);
  tern_free(w);
  if (s)
    return err && err->status ? s
                              : tern_err_set(err, s, "tuner: building weights");
  v->data = p->host[slot];
  v->scales = p->scales;
  v->scale_count = rows;
  return TERN_OK;
}

static bool exact_op(tern_op op) {
  switch (op) {
  case TERN_OP_RELU:
  case TERN_OP_RELU6:
  case TERN_OP_ADD:
  case TERN_OP_MUL:
  case TERN_OP_MAXPOOL2D:
  case TERN_OP_FLATTEN:
  case TERN_OP_RESHAPE:
  case TERN_OP_CONCAT:
  case TERN_OP_PERMUTE:
    return true;
  default:
    return false;
  }
}

static tern_status problem_build(const tern_backend_vtbl *vt, tern_device *dev,
                                 const tern_tune_shape *sh, uint64_t seed,
                                 problem *p, tern_err *err) {
  memset(p, 0, sizeof *p);
  rng r = {seed * 0x9E3779B97F4A7C15ull + 1};
  tern_exec_node *n = &p->node;
  n->op = sh->op;
  n->params = sh->params;
  n->name = "tune";
  const tern_op_def *def = tern_op_get(sh->op);
  if (!def)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT, "tuner: unknown op %d",
                        (int)sh->op);
  int xnd = 0;
  while (xnd < 4 && sh->x[xnd] > 0)
    xnd++;
  if (xnd == 0 || set_view(&n->in[0], TERN_DTYPE_F32, xnd, sh->x))
    return tern_err_set(err, TERN_ERR_SHAPE, "tuner: bad input shape");
  n->n_inputs = 1;
  bool weighted = sh->op == TERN_OP_LINEAR || sh->op == TERN_OP_CONV2D;
  if (weighted) {
    int wnd = sh->op == TERN_OP_LINEAR ? 2 : 4;
    if (set_view(&n->in[1], sh->wdtype, wnd, sh->w))
      return tern_err_set(err, TERN_ERR_SHAPE, "tuner: bad weight shape");
    n->in_const[1] = true;
    n->n_inputs = 2;
    tern_status s = make_weight(p, &r, 1, sh->wdtype, sh->w[0],
                                tern_dims_prod(sh->w, 1, wnd), err);
    if (s)
      return s;
    if (sh->bias) {
      int64_t nb = sh->w[0];
      set_view(&n->in[2], TERN_DTYPE_F32, 1, &nb);
      n->in_const[2] = true;
      n->n_inputs = 3;
      p->host[2] = random_floats(&r, nb);
      if (!p->host[2])
        return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
      n->in[2].data = p->host[2];
    }
  } else if (def->min_inputs == 2) {
    n->in[1] = n->in[0];
    int ynd = 0;
    while (ynd < 4 && sh->x2[ynd] > 0)
      ynd++;
    if (ynd > 0 && set_view(&n->in[1], TERN_DTYPE_F32, ynd, sh->x2))
      return tern_err_set(err, TERN_ERR_SHAPE, "tuner: bad second input shape");
    n->n_inputs = 2;
  }
  /* activations: random host data, then device buffers */
  for (int i = 0; i < n->n_inputs; i++) {
    if (n->in_const[i])
      continue;
    int64_t cnt = tern_view_numel(&n->in[i]);
    p->host[i] = random_floats(&r, cnt);
    if (!p->host[i])
      return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
    n->in[i].data = p->host[i];
  }
  tern_status s = def->infer(&n->params, n->in, n->n_inputs, &n->out, err);
  if (s)
    return tern_err_prefix(err, "tuner: problem for %s", def->name);
  p->out_count = (size_t)tern_view_numel(&n->out);
  p->ref = tern_malloc(p->out_count * sizeof(float));
  p->got = tern_malloc(p->out_count * sizeof(float));
  if (!p->ref || !p->got)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  tern_view out = n->out;
  out.data = p->ref;
  if ((s = def->ref(&n->params, n->in, n->n_inputs, &out, err)))
    return tern_err_prefix(err, "tuner: reference %s", def->name);
  p->exact = (weighted && sh->wdtype != TERN_DTYPE_F32) || exact_op(sh->op);
  for (int i = 0; i < n->n_inputs; i++) {
    if (n->in_const[i])
      continue;
    size_t bytes = (size_t)tern_view_numel(&n->in[i]) * sizeof(float);
    if ((s = vt->buffer_alloc(dev, bytes, &p->bufs[i], err)) ||
        (s = vt->buffer_write(p->bufs[i], 0, p->host[i], bytes, err)))
      return s;
  }
  /* the exec node carries only shapes for activations */
  for (int i = 0; i < n->n_inputs; i++)
    if (!n->in_const[i])
      n->in[i].data = NULL;
  if ((s = vt->buffer_alloc(dev, p->out_count * sizeof(float),
                            &p->bufs[n->n_inputs], err)))
    return s;
  tern_tuning_shape_class(n, p->shape_class, sizeof p->shape_class);
  return TERN_OK;
}

/* Run the candidate once and compare with the reference. */
static tern_status run_check(const tern_backend_vtbl *vt, tern_device *dev,
                             const tern_tunable *t, void *prep, problem *p,
                             bool *ok, tern_err *err) {
  /* poison the output so a kernel that writes nothing cannot pass */
  for (size_t i = 0; i < p->out_count; i++)
    p->got[i] = NAN;
  tern_status s;
  size_t bytes = p->out_count * sizeof(float);
  if ((s = vt->buffer_write(p->bufs[p->node.n_inputs], 0, p->got, bytes,
                            err)) ||
      (s = t->run(dev, prep, p->bufs, p->offs, err)) ||
      (s = vt->sync(dev, err)) ||
      (s = vt->buffer_read(p->bufs[p->node.n_inputs], 0, p->got, bytes, err)))
    return s;
  if (p->exact) {
    *ok = memcmp(p->got, p->ref, bytes) == 0;
    return TERN_OK;
  }
  double maxref = 0;
  for (size_t i = 0; i < p->out_count; i++)
    maxref = fmax(maxref, fabs(p->ref[i]));
  *ok = true;
  for (size_t i = 0; i < p->out_count && *ok; i++) {
    double d = fabs((double)p->got[i] - p->ref[i]);
    if (!(d <= 1e-4 * (1.0 + maxref)))
      *ok = false;
  }
  return TERN_OK;
}

static double now_s(void) {
  return (double)tern_now_ns() * 1e-9;
}

/* Time of one run in microseconds: the fastest of SAMPLES samples that each
 * run the candidate enough times to last about sample_s / SAMPLES. The
 * minimum, not the median: on a shared machine (and on CPU devices, whose
 * worker threads compete with everything else) noise only ever adds time,
 * and the same kernel timed twice a few seconds apart differed by up to
 * 1.5x in its medians, far less in its minima. */
static tern_status time_candidate(const tern_backend_vtbl *vt, tern_device *dev,
                                  const tern_tunable *t, void *prep, problem *p,
                                  double sample_s, double *us, tern_err *err) {
  tern_status s;
  double t0 = now_s();
  if ((s = t->run(dev, prep, p->bufs, p->offs, err)) ||
      (s = vt->sync(dev, err)))
    return s;
  double one = now_s() - t0;
  int reps = one > 0 ? (int)(sample_s / SAMPLES / one) : 1000;
  if (reps < 1)
    reps = 1;
  if (reps > 1000)
    reps = 1000;
  double v[SAMPLES];
  for (int k = 0; k < SAMPLES; k++) {
    t0 = now_s();
    for (int i = 0; i < reps; i++)
      if ((s = t->run(dev, prep, p->bufs, p->offs, err)))
        return s;
    if ((s = vt->sync(dev, err)))
      return s;
    v[k] = (now_s() - t0) / reps * 1e6;
  }
  *us = v[0];
  for (int k = 1; k < SAMPLES; k++)
    if (v[k] < *us)
      *us = v[k];
  return TERN_OK;
}

/* Configuration number idx (mixed radix over the value lists). */
static void config_of(const tern_tunable *t, int64_t idx,
                      tern_tuning_params *cfg) {
  memset(cfg, 0, sizeof *cfg);
  for (int i = 0; i < t->n_params; i++) {
    const tern_tune_param *pr = &t->params[i];
    int nv = pr->n_values > 0 ? pr->n_values : 1;
    tern_tuning_params_set(cfg, pr->name, pr->values[idx % nv], NULL);
    idx /= nv;
  }
}

static bool same_cfg(const tern_tuning_params *a, const tern_tuning_params *b) {
  if (a->count != b->count)
    return false;
  for (int i = 0; i < a->count; i++)
    if (a->value[i] != tern_tuning_params_get(b, a->name[i], a->value[i] + 1))
      return false;
  return true;
}

typedef struct tune_run {
  const tern_backend_vtbl *vt;
  tern_device *dev;
  const tern_device_info *info;
  const tern_tune_options *opt;
  double start, deadline;
  int problem, problems;
} tune_run;

static void report(const tune_run *tr, const tern_tune_result *res, int cand,
                   int cands, const tern_tuning_params *cfg, double us,
                   const char *status) {
  if (!tr->opt || !tr->opt->progress)
    return;
  tern_tune_progress pg = {tr->info->id, res->kernel,  res->shape,
                           tr->problem,  tr->problems, cand,
                           cands,        cfg,          us,
                           status,       res->best_us, now_s() - tr->start};
  tr->opt->progress(tr->opt->user, &pg);
}

/* Try one candidate: prepare, check, time. *us < 0 unless it is correct. */
static void try_candidate(const tune_run *tr, const tern_tunable *t, problem *p,
                          const tern_tuning_params *cfg, double sample_s,
                          double *us, const char **status, tern_err *cerr) {
  void *prep = NULL;
  bool ok = false;
  *us = -1;
  *status = "failed";
  tern_err_clear(cerr);
  if (t->prepare(tr->dev, &p->node, cfg, &prep, cerr))
    return;
  if (!run_check(tr->vt, tr->dev, t, prep, p, &ok, cerr)) {
    if (!ok) {
      *status = "wrong";
    } else if (!time_candidate(tr->vt, tr->dev, t, prep, p, sample_s, us,
                               cerr)) {
      /* a second check after timing catches races that show up under load */
      if (run_check(tr->vt, tr->dev, t, prep, p, &ok, cerr) || !ok) {
        *us = -1;
        *status = ok ? "failed" : "wrong";
      } else {
        *status = "ok";
      }
    }
  }
  t->release(tr->dev, prep);
}

/* The fastest candidates of the first pass, kept for the final rounds. */
#define FINALISTS 3
typedef struct finalists {
  int n;
  tern_tuning_params cfg[FINALISTS];
  double us[FINALISTS];
} finalists;

static void finalists_add(finalists *f, const tern_tuning_params *cfg,
                          double us) {
  int i;
  if (f->n < FINALISTS) {
    i = f->n++;
  } else {
    i = FINALISTS - 1;
    if (us >= f->us[i])
      return; /* slower than every finalist */
  }
  f->cfg[i] = *cfg;
  f->us[i] = us;
  for (; i > 0 && f->us[i] < f->us[i - 1]; i--) { /* keep sorted */
    tern_tuning_params c = f->cfg[i];
    double t = f->us[i];
    f->cfg[i] = f->cfg[i - 1];
    f->us[i] = f->us[i - 1];
    f->cfg[i - 1] = c;
    f->us[i - 1] = t;
  }
}

/* Time the prepared configurations prep[0..n) in `rounds` rounds, taking
 * turns (who goes first rotates), into best[i]: the fastest of all their
 * samples. false when a run failed. */
static bool time_rounds(const tune_run *tr, const tern_tunable *t, problem *p,
                        double sample_s, void *const *prep, int n, int rounds,
                        double *best) {
  tern_err e;
  for (int i = 0; i < n; i++)
    best[i] = -1;
  for (int r = 0; r < rounds; r++)
    for (int k = 0; k < n; k++) {
      int i = (r + k) % n;
      double us;
      if (time_candidate(tr->vt, tr->dev, t, prep[i], p, sample_s, &us, &e))
        return false;
      if (best[i] < 0 || us < best[i])
        best[i] = us;
    }
  return true;
}

/* The first pass timed each candidate once, minutes apart from the default,
 * while the machine's load may have changed. The default and the
 * finalists are timed again, taking turns, and the fastest finalist is
 * chosen; then the default and that finalist are timed once more in fresh
 * rounds, and those figures are the ones reported and stored (timings that
 * chose the winner would flatter it: the fastest of three noisy figures is
 * low by chance). If the default is as fast, it wins. */
#define SELECT_ROUNDS 3
#define CONFIRM_ROUNDS 5
static void confirm(const tune_run *tr, const tern_tunable *t, problem *p,
                    double sample_s, const finalists *f,
                    tern_tune_result *res) {
  if (res->best_us <= 0 || res->default_us <= 0 || f->n == 0)
    return;
  void *prep[FINALISTS + 1] = {0};
  const tern_tuning_params *cfg[FINALISTS + 1] = {&res->defaults};
  int n = 1;
  for (int i = 0; i < f->n; i++)
    if (!same_cfg(&f->cfg[i], &res->defaults))
      cfg[n++] = &f->cfg[i];
  if (n == 1)
    return; /* the default was among the fastest only */
  tern_err e;
  bool ok = true;
  for (int i = 0; i < n && ok; i++)
    ok = !t->prepare(tr->dev, &p->node, cfg[i], &prep[i], &e);
  double sel[FINALISTS + 1], fin[2];
  int best = 1;
  if (ok && n > 2) {
    ok = time_rounds(tr, t, p, sample_s, prep, n, SELECT_ROUNDS, sel);
    for (int i = 2; i < n; i++)
      if (sel[i] < sel[best])
        best = i;
  }
  void *pair[2] = {prep[0], prep[best]};
  if (ok)
    ok = time_rounds(tr, t, p, sample_s, pair, 2, CONFIRM_ROUNDS, fin);
  for (int i = 0; i < n; i++)
    if (prep[i])
      t->release(tr->dev, prep[i]);
  if (!ok)
    return;
  char c[160];
  tern_tuning_params_str(cfg[best], c, sizeof c);
  tern_log(TERN_LOG_DEBUG, "tune %s %s: final: default %.1f us, %s %.1f us",
           t->kernel, p->shape_class, fin[0], c, fin[1]);
  res->default_us = fin[0];
  if (fin[0] <= fin[1]) {
    /* the default is really as fast: it wins */
    res->best = res->defaults;
    res->best_us = fin[0];
  } else {
    res->best = *cfg[best];
    res->best_us = fin[1];
  }
}

static tern_status tune_problem(tune_run *tr, const tern_tunable *t,
                                const tern_tune_shape *sh, const char *expect,
                                uint64_t seed, tern_tuning_db *db,
                                tern_tune_result *res, tern_err *err) {
  problem p;
  tern_status s = problem_build(tr->vt, tr->dev, sh, seed, &p, err);
  if (s) {
    problem_free(tr->vt, &p);
    return s;
  }
  snprintf(res->shape, sizeof res->shape, "%s", p.shape_class);
  if (expect && strcmp(expect, p.shape_class) != 0) {
    /* a model node the problem does not reproduce: its entry would be
     * keyed for other nodes */
    problem_free(tr->vt, &p);
    return tern_err_set(err, TERN_ERR_INTERNAL,
                        "tuner: problem for shape class %s came out as %s",
                        expect, res->shape);
  }
  tern_tuning_key_for_device(tr->info, t->kernel, p.shape_class, &res->key);
  tern_tunable_defaults(t, &res->defaults);
  res->default_us = res->best_us = -1;
  /* the space: every combination, pruned by valid(); the default first */
  int64_t space = 1;
  for (int i = 0; i < t->n_params; i++) {
    int nv = t->params[i].n_values > 0 ? t->params[i].n_values : 1;
    space = space * nv > MAX_SPACE ? MAX_SPACE : space * nv;
  }
  int64_t *order = tern_malloc((size_t)space * sizeof *order);
  if (!order) {
    problem_free(tr->vt, &p);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  int n_order = 0;
  for (int64_t i = 0; i < space; i++) {
    tern_tuning_params cfg;
    config_of(t, i, &cfg);
    if (t->valid && !t->valid(tr->dev, &p.node, &cfg)) {
      res->pruned++;
      continue;
    }
    order[n_order++] = same_cfg(&cfg, &res->defaults) ? -1 - i : i;
  }
  rng r = {seed ^ 0xC0FFEEull};
  for (int i = n_order - 1; i > 0; i--) { /* Fisher-Yates */
    int j = (int)(rng_next(&r) % (uint64_t)(i + 1));
    int64_t x = order[i];
    order[i] = order[j];
    order[j] = x;
  }
  for (int i = 0; i < n_order; i++) /* the default goes first */
    if (order[i] < 0) {
      int64_t x = order[i];
      order[i] = order[0];
      order[0] = x;
    }
  res->candidates = n_order;
  /* the budget left is shared by the problems still to do */
  double left = tr->deadline - now_s();
  double my_deadline = now_s() + left / (tr->problems - tr->problem + 1);
  double sample_s = tr->opt && tr->opt->sample_s > 0 ? tr->opt->sample_s : 0.02;
  bool default_in_space = n_order > 0 && order[0] < 0;
  finalists fin = {0};
  if (!default_in_space) {
    /* a default the tunable's own valid() rejects is still measured, as the
     * baseline every winner is compared with */
    double us;
    const char *st;
    tern_err cerr;
    try_candidate(tr, t, &p, &res->defaults, sample_s, &us, &st, &cerr);
    res->default_us = us;
    res->default_wrong = strcmp(st, "wrong") == 0;
  }
  for (int i = 0; i < n_order; i++) {
    if (i > 0 && now_s() > my_deadline) {
      res->budget_hit = true;
      break;
    }
    int64_t idx = order[i] < 0 ? -1 - order[i] : order[i];
    tern_tuning_params cfg;
    config_of(t, idx, &cfg);
    double us;
    const char *st;
    tern_err cerr;
    try_candidate(tr, t, &p, &cfg, sample_s, &us, &st, &cerr);
    res->tried++;
    if (strcmp(st, "wrong") == 0)
      res->wrong++;
    else if (strcmp(st, "failed") == 0) {
      res->failed++;
      tern_log(TERN_LOG_DEBUG, "tune %s %s: candidate failed: %s", t->kernel,
               p.shape_class, cerr.msg);
    }
    if (order[i] < 0) {
      res->default_us = us;
      res->default_wrong = strcmp(st, "wrong") == 0;
    }
    if (us > 0 && (res->best_us < 0 || us < res->best_us)) {
      res->best_us = us;
      res->best = cfg;
    }
    if (us > 0)
      finalists_add(&fin, &cfg, us);
    report(tr, res, i + 1, n_order, &cfg, us, st);
  }
  confirm(tr, t, &p, sample_s, &fin, res);
  tern_free(order);
  problem_free(tr->vt, &p);
  if (res->default_wrong)
    tern_log(TERN_LOG_WARN,
             "%s: the built-in default of %s gives wrong results on %s",
             tr->info->id, t->kernel, res->shape);
  if (db && res->best_us > 0) {
    tern_tuning_entry e;
    memset(&e, 0, sizeof e);
    e.key = res->key;
    e.params = res->best;
    e.time_us = res->best_us;
    e.default_time_us = res->default_us > 0 ? res->default_us : 0;
    snprintf(e.tern_version, sizeof e.tern_version, "%s",
             tern_version_string());
    e.created = (int64_t)time(NULL);
    if ((s = tern_tuning_db_put(db, &e, err)))
      return s;
    res->stored = true;
  }
  return TERN_OK;
}

static bool kernel_wanted(const tern_tune_options *o, const tern_tunable *t) {
  if (!o || !o->kernels || o->n_kernels <= 0)
    return !t->example;
  for (int i = 0; i < o->n_kernels; i++)
    if (strcmp(o->kernels[i], t->kernel) == 0)
      return true;
  return false;
}

/* One (kernel, problem) pair to tune. */
typedef struct tune_job {
  const tern_tunable *t;
  tern_tune_shape sh;
  char cls[64]; /* the shape class the entry is keyed by */
  uint64_t seed;
} tune_job;

typedef struct job_list {
  tune_job *v;
  int n, cap;
} job_list;

static tern_status jobs_add(job_list *l, const tune_job *j, tern_err *err) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    tune_job *v = tern_realloc(l->v, (size_t)cap * sizeof *v);
    if (!v)
      return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = *j;
  return TERN_OK;
}

/* The shape class of the node a problem builds (shapes only, no data). */
static bool shape_class_of(const tern_tune_shape *sh, char *buf, size_t n) {
  tern_exec_node en;
  memset(&en, 0, sizeof en);
  en.op = sh->op;
  en.params = sh->params;
  const tern_op_def *def = tern_op_get(sh->op);
  int xnd = 0, ynd = 0;
  while (xnd < 4 && sh->x[xnd] > 0)
    xnd++;
  while (ynd < 4 && sh->x2[ynd] > 0)
    ynd++;
  if (!def || !xnd || set_view(&en.in[0], TERN_DTYPE_F32, xnd, sh->x))
    return false;
  en.n_inputs = 1;
  if (sh->op == TERN_OP_LINEAR || sh->op == TERN_OP_CONV2D) {
    if (set_view(&en.in[1], sh->wdtype, sh->op == TERN_OP_LINEAR ? 2 : 4,
                 sh->w))
      return false;
    if (sh->wdtype != TERN_DTYPE_F32)
      en.in[1].scale_count = sh->w[0]; /* per row, as make_weight gives */
    en.n_inputs = 2;
    if (sh->bias) {
      int64_t nb = sh->w[0];
      set_view(&en.in[2], TERN_DTYPE_F32, 1, &nb);
      en.n_inputs = 3;
    }
  } else if (def->min_inputs == 2) {
    en.in[1] = en.in[0];
    if (ynd && set_view(&en.in[1], TERN_DTYPE_F32, ynd, sh->x2))
      return false;
    en.n_inputs = 2;
  }
  tern_err e;
  if (def->infer(&en.params, en.in, en.n_inputs, &en.out, &e))
    return false;
  tern_tuning_shape_class(&en, buf, n);
  return true;
}

/* The problem that reproduces a model's node: same op, parameters, shapes
 * and weight type (random data). false when the tuner's problems cannot
 * express it (more inputs, higher rank, non-float activations ...). */
static bool shape_of_node(const tern_exec_node *en, tern_tune_shape *sh) {
  memset(sh, 0, sizeof *sh);
  sh->op = en->op;
  sh->params = en->params;
  const tern_view *x = &en->in[0];
  if (en->n_inputs < 1 || en->in_const[0] || x->dtype != TERN_DTYPE_F32 ||
      x->ndim < 1 || x->ndim > 4)
    return false;
  memcpy(sh->x, x->shape, (size_t)x->ndim * sizeof sh->x[0]);
  sh->wdtype = TERN_DTYPE_F32;
  if (en->op == TERN_OP_LINEAR || en->op == TERN_OP_CONV2D) {
    const tern_view *w = &en->in[1];
    int wnd = en->op == TERN_OP_LINEAR ? 2 : 4;
    if (en->n_inputs < 2 || en->n_inputs > 3 || !en->in_const[1] ||
        w->ndim != wnd)
      return false;
    if (w->dtype != TERN_DTYPE_F32 && w->dtype != TERN_DTYPE_I8 &&
        w->dtype != TERN_DTYPE_TERNARY)
      return false;
    sh->wdtype = w->dtype;
    memcpy(sh->w, w->shape, (size_t)wnd * sizeof sh->w[0]);
    if (en->n_inputs == 3) {
      const tern_view *b = &en->in[2];
      if (!en->in_const[2] || b->dtype != TERN_DTYPE_F32 || b->ndim != 1 ||
          b->shape[0] != w->shape[0])
        return false;
      sh->bias = true;
    }
    return true;
  }
  const tern_op_def *def = tern_op_get(en->op);
  if (!def || en->n_inputs != (def->min_inputs == 2 ? 2 : 1))
    return false;
  if (en->n_inputs == 2) {
    const tern_view *y = &en->in[1];
    if (en->in_const[1] || y->dtype != TERN_DTYPE_F32 || y->ndim < 1 ||
        y->ndim > 4)
      return false;
    memcpy(sh->x2, y->shape, (size_t)y->ndim * sizeof sh->x2[0]);
  }
  return true;
}

static bool tunable_applies(const tern_tunable *t, tern_device *dev,
                            const tern_exec_node *en) {
  if (t->applies)
    return t->applies(t, dev, en);
  tern_tuning_params def;
  tern_tunable_defaults(t, &def);
  return t->valid && t->valid(dev, en, &def);
}

/* The problems of the graphs' nodes, as a session on this device plans and
 * places them, once per (kernel, shape class). */
static tern_status model_jobs(const tune_run *tr, const tern_tunable *list,
                              int n_list, const tern_tune_options *opt,
                              uint64_t seed, job_list *jobs, tern_err *err) {
  for (int gi = 0; gi < opt->n_graphs; gi++) {
    tern_plan plan;
    memset(&plan, 0, sizeof plan);
    tern_status s = tern_plan_build(opt->graphs[gi], 0, true, true, &plan, err);
    if (s)
      return tern_err_prefix(err, "tune: planning model %d", gi + 1);
    for (int k = 0; k < plan.n_order && !s; k++) {
      const tern_node *n = &plan.g->nodes[plan.order[k]];
      tern_exec_node en;
      tern_plan_exec_node(&plan, n, &en);
      if (!tr->vt->supports(tr->dev, &en))
        continue; /* the session runs it on the CPU */
      for (int i = 0; i < n_list && !s; i++) {
        const tern_tunable *t = &list[i];
        if (!kernel_wanted(opt, t) || !tunable_applies(t, tr->dev, &en))
          continue;
        tune_job j;
        memset(&j, 0, sizeof j);
        j.t = t;
        char cls[64];
        tern_tuning_shape_class(&en, j.cls, sizeof j.cls);
        if (!shape_of_node(&en, &j.sh) ||
            !shape_class_of(&j.sh, cls, sizeof cls) || strcmp(cls, j.cls)) {
          tern_log(TERN_LOG_INFO,
                   "tune: %s node '%s' (%s, %s) cannot be reproduced as a "
                   "tuning problem; skipped",
                   tr->info->id, n->name ? n->name : "", tern_op_name(n->op),
                   j.cls);
          continue;
        }
        bool dup = false;
        for (int q = 0; q < jobs->n && !dup; q++)
          dup = jobs->v[q].t == t && strcmp(jobs->v[q].cls, j.cls) == 0;
        if (dup)
          continue;
        j.seed = seed + (uint64_t)jobs->n;
        s = jobs_add(jobs, &j, err);
      }
    }
    tern_plan_free(&plan);
    if (s)
      return s;
  }
  return TERN_OK;
}

tern_status tern_tune_device(tern_context *ctx, const char *device_id,
                             const tern_tune_options *opt,
                             const tern_tunable *extra, int n_extra,
                             tern_tuning_db *db, tern_tune_result **results,
                             int *n_results, tern_err *err) {
  if (!ctx || !results || !n_results)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "tern_tune_device: NULL argument");
  if (opt && opt->n_graphs > 0 && !opt->graphs)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "tern_tune_device: n_graphs without graphs");
  int di = tern_context_find_device(ctx, device_id);
  if (di < 0)
    return tern_err_set(err, TERN_ERR_NO_DEVICE, "no device '%s'",
                        device_id ? device_id : "cpu:0");
  const tern_context_device *cd = &ctx->devices[di];
  tune_run tr;
  memset(&tr, 0, sizeof tr);
  tr.vt = ctx->backends[cd->backend].vt;
  tr.info = &cd->info;
  tr.opt = opt;
  tern_status s = tr.vt->device_open(ctx->backends[cd->backend].ctx, cd->index,
                                     &tr.dev, err);
  if (s)
    return tern_err_prefix(err, "tune: opening %s", cd->info.id);
  const tern_tunable *list = extra;
  int n_list = n_extra;
  if (!extra) {
    n_list = tr.vt->tunables ? tr.vt->tunables(tr.dev, &list) : 0;
    if (n_list < 0)
      n_list = 0;
  }
  uint64_t seed = opt && opt->seed ? opt->seed : 0x7E4Eull;
  job_list jobs = {0};
  for (int i = 0; i < n_list && !s; i++) {
    const tern_tunable *t = &list[i];
    if (!kernel_wanted(opt, t))
      continue;
    if (!t->prepare || !t->run || !t->release)
      s = tern_err_set(err, TERN_ERR_INTERNAL,
                       "tunable %s of %s lacks prepare/run/release", t->kernel,
                       cd->info.id);
    for (int k = 0; !s && !(opt && opt->n_graphs > 0) && k < t->n_shapes; k++) {
      tune_job j;
      memset(&j, 0, sizeof j);
      j.t = t;
      j.sh = t->shapes[k];
      j.seed = seed + (uint64_t)k;
      s = jobs_add(&jobs, &j, err);
    }
  }
  if (!s && opt && opt->n_graphs > 0)
    s = model_jobs(&tr, list, n_list, opt, seed, &jobs, err);
  tr.problems = jobs.n;
  tern_tune_result *res =
      s ? NULL : tern_calloc((size_t)(jobs.n > 0 ? jobs.n : 1), sizeof *res);
  if (!s && !res)
    s = tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  double budget = opt && opt->budget_s > 0 ? opt->budget_s : 60.0;
  tr.start = now_s();
  tr.deadline = tr.start + budget;
  int n = 0;
  for (int i = 0; i < jobs.n && !s; i++) {
    const tune_job *j = &jobs.v[i];
    tr.problem = n + 1;
    tern_tune_result *r = &res[n];
    snprintf(r->device, sizeof r->device, "%s", cd->info.id);
    snprintf(r->kernel, sizeof r->kernel, "%s", j->t->kernel);
    s = tune_problem(&tr, j->t, &j->sh, j->cls[0] ? j->cls : NULL, j->seed, db,
                     r, err);
    if (s)
      tern_err_prefix(err, "tuning %s on %s", j->t->kernel, cd->info.id);
    else
      n++;
  }
  tern_free(jobs.v);
  tr.vt->device_close(tr.dev);
  if (s) {
    tern_free(res);
    return s;
  }
  *results = res;
  *n_results = n;
  return TERN_OK;
}
