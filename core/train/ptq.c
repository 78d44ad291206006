/* ptq.c — post-training quantization: weights quantized with the core
 * quantizers, batch-norm statistics re-estimated on the quantized network,
 * empirical bias correction layer by layer (the mean output error per
 * channel over the calibration set is folded into the bias), and a
 * per-layer error report. */
#include "train/train.h"

#include <math.h>
#include <string.h>

static bool is_q(const tt_layer *l) {
  return (l->kind == TT_LINEAR || l->kind == TT_CONV) && l->prec != TT_F32;
}

static tern_status clone_f32(const tt_net *net, tt_net **out, tern_err *err) {
  tt_net *ref = NULL;
  tern_status st =
      tt_net_create(net->spec, 0, tt_pool_threads(net->pool), &ref, err);
  if (!st)
    st = tt_net_copy_weights(ref, net, err);
  if (st) {
    tt_net_destroy(ref);
    return st;
  }
  ref->bn_eps = net->bn_eps;
  *out = ref;
  return TERN_OK;
}

/* Run batches of calib through fn. */
typedef tern_status (*batch_fn)(void *ctx, const float *x, int64_t n);
static tern_status for_batches(const tt_dataset *d, int64_t count, int batch,
                               batch_fn fn, void *ctx, tern_err *err) {
  if (count <= 0 || count > d->n)
    count = d->n;
  size_t per = (size_t)d->c * d->h * d->w;
  float *x = tern_malloc((size_t)batch * per * sizeof(float));
  int64_t *idx = tern_malloc((size_t)batch * sizeof(int64_t));
  tern_status st = TERN_OK;
  if (!x || !idx)
    st = tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "ptq: out of memory");
  for (int64_t s = 0; !st && s < count; s += batch) {
    int64_t n = count - s < batch ? count - s : batch;
    for (int64_t b = 0; b < n; b++)
      idx[b] = s + b;
    tt_make_batch(d, idx, n, NULL, 0, 0, x, NULL);
    st = fn(ctx, x, n);
  }
  tern_free(x);
  tern_free(idx);
  return st;
}

typedef struct bc_ctx {
  tt_net *net, *ref;
  int layer;
  double *sum; /* per channel: Σ(y - ŷ), Σz, Σz², Σzy, Σy, Σy², count
                  (z = ŷ - b) */
  bool masked; /* a relu follows: fit only where y > 0 or ŷ > 0 */
  float *ref_out; /* the fp32 outputs of the layer for the whole calibration
                     set (they do not change while candidates are tried) */
  int64_t pos;    /* floats of ref_out consumed so far */
  int64_t count;
  double *num, *den; /* report: per layer */
} bc_ctx;

static tern_status fwd_both(bc_ctx *c, const float *x, int64_t n) {
  if (!tt_net_forward(c->ref, x, n, false, TT_Q_OFF, 0, 0) ||
      !tt_net_forward(c->net, x, n, false, TT_Q_DET, 0, 0))
    return tern_err_set(&c->net->err, TERN_ERR_INTERNAL, "ptq: forward failed");
  return TERN_OK;
}

static tern_status ref_batch(void *vc, const float *x, int64_t n) {
  bc_ctx *c = vc;
  const tt_layer *l = &c->net->layers[c->layer];
  int64_t sz = n * l->oc * l->oh * l->ow;
  c->ref->stop_after = c->layer;
  const float *y = tt_net_forward(c->ref, x, n, false, TT_Q_OFF, 0, 0);
  c->ref->stop_after = -1;
  if (!y)
    return tern_err_set(&c->net->err, TERN_ERR_INTERNAL, "ptq: forward failed");
  memcpy(c->ref_out + c->pos, y, (size_t)sz * sizeof(float));
  c->pos += sz;
  return TERN_OK;
}

static tern_status bias_batch(void *vc, const float *x, int64_t n) {
  bc_ctx *c = vc;
  const tt_layer *l = &c->net->layers[c->layer];
  /* only the quantized network up to this layer runs per candidate */
  c->net->stop_after = c->layer;
  const float *y = tt_net_forward(c->net, x, n, false, TT_Q_DET, 0, 0);
  c->net->stop_after = -1;
  if (!y)
    return tern_err_set(&c->net->err, TERN_ERR_INTERNAL, "ptq: forward failed");
  int64_t P = (int64_t)l->oh * l->ow;
  const float *a = c->ref_out + c->pos, *b = y;
  c->pos += n * l->oc * P;
  const float *bias = c->net->params + l->b_off;
  int oc = l->oc;
  for (int64_t s = 0; s < n; s++)
    for (int o = 0; o < oc; o++)
      for (int64_t p = 0; p < P; p++) {
        int64_t i = (s * oc + o) * P + p;
        if (c->masked && !(a[i] > 0) && !(b[i] > 0))
          continue; /* both cut by the relu: nothing to correct */
        double y = a[i], z = (double)b[i] - bias[o];
        c->sum[6 * oc + o] += 1;
        c->sum[o] += y - (double)b[i];
        c->sum[oc + o] += z;
        c->sum[2 * oc + o] += z * z;
        c->sum[3 * oc + o] += z * y;
        c->sum[4 * oc + o] += y;
        c->sum[5 * oc + o] += y * y;
      }
  c->count += n * P;
  return TERN_OK;
}

static tern_status report_batch(void *vc, const float *x, int64_t n) {
  bc_ctx *c = vc;
  tern_status st = fwd_both(c, x, n);
  if (st)
    return st;
  for (int i = 0; i < c->net->n_layers; i++) {
    const tt_layer *l = &c->net->layers[i];
    if (!is_q(l))
      continue;
    int64_t m = n * (int64_t)l->oc * l->oh * l->ow;
    const float *a = c->ref->act[i + 1], *b = c->net->act[i + 1];
    for (int64_t k = 0; k < m; k++) {
      double d = (double)a[k] - (double)b[k];
      c->num[i] += d * d;
      c->den[i] += (double)a[k] * a[k];
    }
  }
  return TERN_OK;
}

typedef struct bn_ctx {
  tt_net *net;
  int64_t k;
} bnr_ctx;

static tern_status bn_batch(void *vc, const float *x, int64_t n) {
  bnr_ctx *c = vc;
  /* cumulative average: momentum 1/(k+1) weights every batch equally */
  c->net->bn_momentum = 1.0f / (float)(c->k + 1);
  c->k++;
  if (!tt_net_forward(c->net, x, n, true, TT_Q_DET, 0, 0))
    return tern_err_set(&c->net->err, TERN_ERR_INTERNAL, "ptq: forward failed");
  return TERN_OK;
}

tern_status tt_quant_report(tt_net *net, const tt_net *ref_in,
                            const tt_dataset *calib, int64_t count, int batch,
                            tt_layer_report *report, int max_report,
                            int *n_report, tern_err *err) {
  tt_net *ref = NULL;
  tern_status st = clone_f32(ref_in, &ref, err);
  if (st)
    return st;
  double num[TT_MAX_LAYERS] = {0}, den[TT_MAX_LAYERS] = {0};
  bc_ctx c = {.net = net, .ref = ref, .num = num, .den = den};
  st =
      for_batches(calib, count, batch > 0 ? batch : 256, report_batch, &c, err);
  int k = 0;
  for (int i = 0; !st && i < net->n_layers; i++) {
    const tt_layer *l = &net->layers[i];
    if (!is_q(l))
      continue;
    int8_t *q = tern_malloc((size_t)l->n_w);
    float *sc = tern_malloc((size_t)l->oc * sizeof(float));
    tern_quant_stats qs;
    memset(&qs, 0, sizeof qs);
    if (!q || !sc)
      st = tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
    else
      st = tt_layer_quantize(net, i, q, sc, &qs);
    double wn = 0, dn = 0;
    int64_t cols = l->n_w / l->oc;
    for (int64_t j = 0; !st && j < l->n_w; j++) {
      double w = net->params[l->w_off + j];
      double d = w - (double)q[j] * sc[j / cols];
      wn += w * w;
      dn += d * d;
    }
    if (!st && k < max_report && report) {
      tt_layer_report *r = &report[k];
      r->layer = i;
      r->kind = l->kind;
      r->prec = l->prec;
      r->sparsity = qs.count ? (double)qs.zeros / (double)qs.count : 0;
      r->weight_rel = wn > 0 ? sqrt(dn / wn) : 0;
      r->out_rel = den[i] > 0 ? sqrt(num[i] / den[i]) : 0;
    }
    k++;
    tern_free(q);
    tern_free(sc);
  }
  tt_net_destroy(ref);
  if (!st && n_report)
    *n_report = k < max_report ? k : max_report;
  return st;
}

/* Output error of layer i left after the per-channel correction, from the
 * accumulated sums (see bias_batch). */
static double residual(const double *sum, int oc, double n, bool scale) {
  double e = 0;
  for (int o = 0; o < oc; o++) {
    double sz = sum[oc + o], szz = sum[2 * oc + o], szy = sum[3 * oc + o];
    double sy = sum[4 * oc + o], syy = sum[5 * oc + o];
    double cyy = syy - sy * sy / n, czy = szy - sz * sy / n,
           czz = szz - sz * sz / n;
    double r = cyy - 2 * czy + czz; /* mean removed only */
    if (scale && czz > 0) {
      double a = czy / czz;
      if (a > 0.5 && a < 2)
        r = cyy - czy * czy / czz;
    }
    e += r;
  }
  return e;
}

/* Correct layer i of net against ref on the calibration data: optionally
 * pick its ternary threshold factor per channel, then fit y ≈ α·ŷ + β per
 * channel (α = 1 without scale correction) into the weight-scale multiplier and
 * the bias. */
static tern_status correct_layer(tt_net *net, tt_net *ref, int i,
                                 const tt_dataset *calib, const tt_ptq_cfg *cfg,
                                 int batch, bool search, tern_err *err) {
  tt_layer *l = &net->layers[i];
  int oc = l->oc;
  double *sum = tern_calloc(7 * (size_t)oc, sizeof(double));
  double *best = tern_calloc(7 * (size_t)oc, sizeof(double));
  if (!sum || !best) {
    tern_free(sum);
    tern_free(best);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  /* each output channel's error depends only on its own weight row, so the
   * threshold factor is chosen per channel */
  static const float cand[] = {0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f, 1.1f};
  int n_cand = search ? (int)(sizeof cand / sizeof cand[0]) : 1;
  double *best_e = tern_malloc((size_t)oc * sizeof(double));
  float *best_a = tern_calloc((size_t)oc, sizeof(float));
  int64_t count = cfg->calib_count <= 0 || cfg->calib_count > calib->n
                      ? calib->n
                      : cfg->calib_count;
  float *ref_out =
      tern_malloc((size_t)(count * l->oc * l->oh * l->ow) * sizeof(float));
  tern_status st = TERN_OK;
  if (!ref_out)
    st = tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  if (!st) {
    bc_ctx rc = {.net = net, .ref = ref, .layer = i, .ref_out = ref_out};
    st = for_batches(calib, count, batch, ref_batch, &rc, err);
  }
  bool masked = i + 1 < net->n_layers && (net->layers[i + 1].kind == TT_RELU ||
                                          net->layers[i + 1].kind == TT_RELU6);
  if (!best_e || !best_a)
    st = tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  for (int o = 0; !st && o < oc; o++)
    best_e[o] = INFINITY;
  for (int k = 0; !st && k < n_cand; k++) {
    for (int o = 0; o < oc; o++) {
      net->stats[l->mul_off + o] = 1;
      if (search)
        net->stats[l->thr_off + o] = cand[k];
    }
    memset(sum, 0, 7 * (size_t)oc * sizeof(double));
    bc_ctx c = {.net = net,
                .ref = ref,
                .layer = i,
                .sum = sum,
                .masked = masked,
                .ref_out = ref_out};
    st = for_batches(calib, cfg->calib_count, batch, bias_batch, &c, err);
    for (int o = 0; !st && o < oc; o++) {
      double one[7];
      double *cs = one; /* the channel's sums as a 1-channel block */
      for (int q = 0; q < 7; q++)
        cs[q] = sum[q * oc + o];
      double cn = cs[6];
      /* a sum, not a mean: positions where both outputs are cut by the
       * relu cost nothing, those a candidate wrongly activates count */
      double e = cn > 1 ? residual(cs, 1, cn, cfg->scale_correct != 0) : 0;
      if (e < best_e[o]) {
        best_e[o] = e;
        best_a[o] = search ? cand[k] : 0;
        for (int q = 0; q < 7; q++)
          best[q * oc + o] = sum[q * oc + o];
      }
    }
  }
  for (int o = 0; search && !st && o < oc; o++)
    net->stats[l->thr_off + o] = best_a[o];
  tern_free(best_e);
  tern_free(best_a);
  for (int o = 0; !st && o < oc; o++) {
    double n = best[6 * oc + o];
    if (n < 2)
      continue; /* never active: leave the channel alone */
    double sz = best[oc + o], szz = best[2 * oc + o];
    double szy = best[3 * oc + o], sy = best[4 * oc + o];
    double det = n * szz - sz * sz;
    double alpha = 1;
    if (cfg->scale_correct && det > 1e-12 * n * n)
      alpha = (n * szy - sz * sy) / det;
    if (!(alpha > 0.5 && alpha < 2)) /* a fit this far off is noise */
      alpha = 1;
    if (l->prec == TT_F32) { /* an fp32 layer after quantized ones */
      int64_t cols = l->n_w / l->oc;
      for (int64_t k = 0; k < cols; k++)
        net->params[l->w_off + o * cols + k] *= (float)alpha;
    } else {
      net->stats[l->mul_off + o] = (float)alpha;
    }
    net->params[l->b_off + o] = (float)((sy - alpha * sz) / n);
  }
  tern_free(sum);
  tern_free(best);
  tern_free(ref_out);
  return st;
}

tern_status tt_ptq(tt_net *net, const tt_dataset *calib, const tt_ptq_cfg *cfg,
                   tt_layer_report *report, int max_report, int *n_report,
                   tern_err *err) {
  if (calib->c != net->in_c || calib->h != net->in_h || calib->w != net->in_w)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "ptq: calibration data does not fit the model input");
  int batch = cfg->batch > 0 ? cfg->batch : 256;
  tt_net *ref = NULL;
  tern_status st = clone_f32(net, &ref, err);
  if (st)
    return st;
  if (cfg->bn_reestimate) {
    bool any = false;
    for (int i = 0; i < net->n_layers; i++) {
      tt_layer *l = &net->layers[i];
      if (l->kind != TT_BN)
        continue;
      any = true;
      for (int c = 0; c < l->c; c++) {
        net->stats[l->stat_off + c] = 0;
        net->stats[l->stat_off + l->c + c] = 1;
      }
    }
    if (any) {
      float mom = net->bn_momentum;
      bnr_ctx c = {net, 0};
      st = for_batches(calib, cfg->calib_count, batch, bn_batch, &c, err);
      net->bn_momentum = mom;
    }
  }
  if (!st && cfg->bias_correct) {
    /* per-channel thresholds apply to the threshold (TWN) quantizer */
    bool search = cfg->threshold_search && net->qcfg.tmethod == TT_TQ_THRESHOLD;
    /* quantized layers, and fp32 layers downstream of one (they absorb the
     * error that reaches them) */
    bool seen_q = false;
    for (int i = 0; !st && i < net->n_layers; i++) {
      const tt_layer *l = &net->layers[i];
      bool w = l->kind == TT_LINEAR || l->kind == TT_CONV;
      if (is_q(l) || (w && seen_q))
        st = correct_layer(net, ref, i, calib, cfg, batch,
                           search && l->prec == TT_TERNARY, err);
      seen_q |= is_q(l);
    }
  }
  if (!st)
    st = tt_quant_report(net, ref, calib, cfg->calib_count, batch, report,
                         max_report, n_report, err);
  tt_net_destroy(ref);
  return st;
}
