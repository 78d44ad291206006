/* net.c — the trainable network: spec parsing, the contiguous parameter
 * block, and the quantization-aware forward/backward passes.
 *
 * A quantized layer (int8 or ternary weights) computes in the forward pass
 * exactly what the inference reference computes (docs/NUMERICS.md): its input
 * is quantized with the activation rule (per row for linear, per sample for
 * conv2d), the weights with the core quantizer, the integer products are
 * summed exactly and the epilogue ((acc·w_scale)·x_scale + bias) rounds each
 * step. The backward pass uses the dequantized tensors and reaches the fp32
 * latent weights through straight-through estimators. */
#include "train/net.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *k_mlp =
    "in 1x28x28; flatten; linear 256; relu; linear 128; relu; linear 10";
static const char *k_lenet5 =
    "in 1x28x28; conv 6 5 1 2; relu; maxpool 2; conv 16 5; relu; maxpool 2; "
    "flatten; linear 120; relu; linear 84; relu; linear 10";

const char *tt_model_spec(const char *name) {
  if (!name)
    return NULL;
  if (!strcmp(name, "mlp"))
    return k_mlp;
  if (!strcmp(name, "lenet5"))
    return k_lenet5;
  return name;
}

static bool weighted(const tt_layer *l) {
  return l->kind == TT_LINEAR || l->kind == TT_CONV;
}

int tt_net_weighted_count(const tt_net *net) {
  int n = 0;
  for (int i = 0; i < net->n_layers; i++)
    n += weighted(&net->layers[i]);
  return n;
}

/* ---------------------------------------------------------------- spec */

static int split_words(char *s, char **w, int max) {
  int n = 0;
  while (*s && n < max) {
    while (*s && isspace((unsigned char)*s))
      s++;
    if (!*s)
      break;
    w[n++] = s;
    while (*s && !isspace((unsigned char)*s))
      s++;
    if (*s)
      *s++ = 0;
  }
  return n;
}

static bool parse_int(const char *s, int *v) {
  char *end;
  long x = strtol(s, &end, 10);
  if (end == s || *end || x < -1000000 || x > 1000000)
    return false;
  *v = (int)x;
  return true;
}

static tern_status parse_layer(tt_net *net, char *text, int *cur_c, int *cur_h,
                               int *cur_w, bool *flat, tern_err *err) {
  char *w[8];
  int n = split_words(text, w, 8);
  if (n == 0)
    return TERN_OK;
  if (!strcmp(w[0], "in")) {
    int c, h, ww;
    if (n != 2 || sscanf(w[1], "%dx%dx%d", &c, &h, &ww) != 3 || c <= 0 ||
        h <= 0 || ww <= 0)
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "model spec: 'in' needs CxHxW (e.g. in 1x28x28)");
    if (net->n_layers)
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "model spec: 'in' must come first");
    net->in_c = *cur_c = c;
    net->in_h = *cur_h = h;
    net->in_w = *cur_w = ww;
    return TERN_OK;
  }
  if (net->in_c == 0)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "model spec: must start with 'in CxHxW'");
  int a[6] = {0, 0, 0, 0, 0, 0};
  for (int i = 1; i < n && i < 7; i++)
    if (!parse_int(w[i], &a[i - 1]))
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "model spec: '%s': argument '%s' is not an integer",
                          w[0], w[i]);
  if (net->n_layers == TT_MAX_LAYERS)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "model spec: more than %d layers", TT_MAX_LAYERS);
  tt_layer *l = &net->layers[net->n_layers];
  memset(l, 0, sizeof *l);
  l->w_off = l->b_off = l->q_off = l->stat_off = l->mul_off = l->thr_off = -1;
  l->c = *cur_c;
  l->h = *cur_h;
  l->w = *cur_w;
  l->oc = l->c;
  l->oh = l->h;
  l->ow = l->w;
  const char *kw = w[0];
  if (!strcmp(kw, "linear")) {
    if (n != 2 || a[0] <= 0)
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "model spec: 'linear N' needs N > 0");
    l->kind = TT_LINEAR;
    l->c = *cur_c * *cur_h * *cur_w; /* features */
    l->h = l->w = 1;
    l->oc = a[0];
    l->oh = l->ow = 1;
  } else if (!strcmp(kw, "conv") || !strcmp(kw, "dwconv")) {
    bool dw = kw[0] == 'd';
    if (*flat)
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "model spec: conv after flatten");
    l->kind = TT_CONV;
    tt_conv_shape *s = &l->conv;
    s->c = l->c;
    s->h = l->h;
    s->w = l->w;
    if (dw) {
      s->oc = l->c;
      s->kh = s->kw = a[0];
      s->stride = n > 2 ? a[1] : 1;
      s->pad = n > 3 ? a[2] : 0;
      s->groups = l->c;
    } else {
      s->oc = a[0];
      s->kh = s->kw = a[1];
      s->stride = n > 3 ? a[2] : 1;
      s->pad = n > 4 ? a[3] : 0;
      s->groups = n > 5 ? a[4] : 1;
    }
    if (!tt_conv_shape_init(s))
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "model spec: invalid conv on %dx%dx%d input", l->c,
                          l->h, l->w);
    l->oc = s->oc;
    l->oh = s->oh;
    l->ow = s->ow;
  } else if (!strcmp(kw, "bn")) {
    l->kind = TT_BN;
  } else if (!strcmp(kw, "relu")) {
    l->kind = TT_RELU;
  } else if (!strcmp(kw, "relu6")) {
    l->kind = TT_RELU6;
  } else if (!strcmp(kw, "maxpool") || !strcmp(kw, "avgpool")) {
    if (*flat)
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "model spec: pool after flatten");
    l->kind = kw[0] == 'm' ? TT_MAXPOOL : TT_AVGPOOL;
    tt_pool_shape *s = &l->pool;
    s->c = l->c;
    s->h = l->h;
    s->w = l->w;
    s->kh = s->kw = a[0];
    s->stride = n > 2 ? a[1] : a[0];
    s->pad = n > 3 ? a[2] : 0;
    s->count_include_pad = 0;
    if (!tt_pool_shape_init(s))
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "model spec: invalid %s on %dx%dx%d input", kw, l->c,
                          l->h, l->w);
    l->oh = s->oh;
    l->ow = s->ow;
  } else if (!strcmp(kw, "gap")) {
    l->kind = TT_GAP;
    l->oh = l->ow = 1;
  } else if (!strcmp(kw, "flatten")) {
    l->kind = TT_FLATTEN;
    l->oc = l->c * l->h * l->w;
    l->oh = l->ow = 1;
    *flat = true;
  } else if (!strcmp(kw, "add")) {
    int j = a[0];
    if (n != 2 || j < -1 || j >= net->n_layers)
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "model spec: 'add J' needs an earlier layer index");
    int jc = j < 0 ? net->in_c : net->layers[j].oc;
    int jh = j < 0 ? net->in_h : net->layers[j].oh;
    int jw = j < 0 ? net->in_w : net->layers[j].ow;
    if ((int64_t)jc * jh * jw != (int64_t)l->c * l->h * l->w)
      return tern_err_set(err, TERN_ERR_SHAPE,
                          "model spec: add of layer %d (%dx%dx%d) to %dx%dx%d",
                          j, jc, jh, jw, l->c, l->h, l->w);
    l->kind = TT_ADD;
    l->skip = j;
  } else {
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "model spec: unknown layer '%s'", kw);
  }
  *cur_c = l->oc;
  *cur_h = l->oh;
  *cur_w = l->ow;
  net->n_layers++;
  return TERN_OK;
}

static int64_t in_size(const tt_layer *l) {
  return (int64_t)l->c * l->h * l->w;
}
static int64_t out_size(const tt_layer *l) {
  return (int64_t)l->oc * l->oh * l->ow;
}

tern_status tt_net_create(const char *spec_in, uint64_t seed, int threads,
                          tt_net **out, tern_err *err) {
  const char *spec = tt_model_spec(spec_in);
  if (!spec || !out)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT, "model spec: NULL");
  if (strlen(spec) >= sizeof(((tt_net *)0)->spec))
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT, "model spec: too long");
  tt_net *net = tern_calloc(1, sizeof *net);
  if (!net)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  strcpy(net->spec, spec);
  net->qcfg.threshold = 0.7f;
  net->bn_momentum = 0.1f;
  net->bn_eps = 1e-5f;
  net->stop_after = -1;
  char buf[1024];
  strcpy(buf, spec);
  int c = 0, h = 0, w = 0;
  bool flat = false;
  tern_status st = TERN_OK;
  for (char *tok = buf; tok && !st;) {
    char *semi = strpbrk(tok, ";,");
    if (semi)
      *semi = 0;
    st = parse_layer(net, tok, &c, &h, &w, &flat, err);
    tok = semi ? semi + 1 : NULL;
  }
  if (!st && net->n_layers == 0)
    st = tern_err_set(err, TERN_ERR_INVALID_ARGUMENT, "model spec: no layers");
  if (st) {
    tt_net_destroy(net);
    return st;
  }
  net->classes = c * h * w;
  /* parameter layout: per layer weights, bias, quantizer parameters */
  int64_t np = 0, ns = 0;
  for (int i = 0; i < net->n_layers; i++) {
    tt_layer *l = &net->layers[i];
    if (l->kind == TT_LINEAR) {
      l->w_off = np;
      l->n_w = (int64_t)l->oc * l->c;
      np += l->n_w;
      l->b_off = np;
      l->n_b = l->oc;
      np += l->n_b;
    } else if (l->kind == TT_CONV) {
      l->w_off = np;
      l->n_w =
          (int64_t)l->oc * (l->c / l->conv.groups) * l->conv.kh * l->conv.kw;
      np += l->n_w;
      l->b_off = np;
      l->n_b = l->oc;
      np += l->n_b;
    } else if (l->kind == TT_BN) {
      l->w_off = np; /* gamma */
      l->n_w = l->c;
      np += l->c;
      l->b_off = np; /* beta */
      l->n_b = l->c;
      np += l->c;
      l->stat_off = ns;
      ns += 2 * (int64_t)l->c;
    }
    if (weighted(l)) {
      /* one learned threshold factor, or one step per output channel */
      l->q_off = np;
      l->n_q = 1 + l->oc;
      np += l->n_q;
      l->mul_off = ns;
      ns += l->oc;
      l->thr_off = ns;
      ns += l->oc;
    }
  }
  net->n_params = np;
  net->n_stats = ns;
  net->params = tern_calloc((size_t)np + 1, sizeof(float));
  net->grads = tern_calloc((size_t)np + 1, sizeof(float));
  net->opt_m = tern_calloc((size_t)np + 1, sizeof(float));
  net->opt_v = tern_calloc((size_t)np + 1, sizeof(float));
  net->decay = tern_calloc((size_t)np + 1, 1);
  net->stats = tern_calloc((size_t)ns + 1, sizeof(float));
  net->pool = tt_pool_create(threads);
  if (!net->params || !net->grads || !net->opt_m || !net->opt_v ||
      !net->decay || !net->stats || !net->pool) {
    tt_net_destroy(net);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  /* PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights
   * and biases; batchnorm gamma 1, beta 0, running var 1 */
  for (int i = 0; i < net->n_layers; i++) {
    tt_layer *l = &net->layers[i];
    if (weighted(l)) {
      int64_t fan_in = l->n_w / l->oc;
      float bound = 1.0f / sqrtf((float)fan_in);
      for (int64_t k = 0; k < l->n_w + l->n_b; k++) {
        float u = tt_unit(tt_hash3(seed, (uint64_t)i, (uint64_t)k));
        net->params[l->w_off + k] = (2 * u - 1) * bound;
      }
      memset(net->decay + l->w_off, 1, (size_t)l->n_w);
      for (int k = 0; k < l->oc; k++)
        net->stats[l->mul_off + k] = 1;
    } else if (l->kind == TT_BN) {
      for (int k = 0; k < l->c; k++) {
        net->params[l->w_off + k] = 1;
        net->stats[l->stat_off + l->c + k] = 1;
      }
    }
  }
  *out = net;
  return TERN_OK;
}

void tt_net_destroy(tt_net *net) {
  if (!net)
    return;
  tern_free(net->params);
  tern_free(net->grads);
  tern_free(net->opt_m);
  tern_free(net->opt_v);
  tern_free(net->decay);
  tern_free(net->stats);
  for (int i = 0; i <= TT_MAX_LAYERS; i++) {
    tern_free(net->act[i]);
    tern_free(net->dact[i]);
  }
  for (int i = 0; i < TT_MAX_LAYERS; i++) {
    tern_free(net->argmax[i]);
    tern_free(net->bn_save[i]);
    tern_free(net->xq[i]);
    tern_free(net->wq[i]);
    tern_free(net->xscale[i]);
    tern_free(net->wscale[i]);
  }
  tt_pool_destroy(net->pool);
  tern_free(net);
}

/* ----------------------------------------------------------- precision */

static bool parse_prec(const char *s, tt_prec *p) {
  if (!strcmp(s, "f32") || !strcmp(s, "fp32") || !strcmp(s, "f"))
    *p = TT_F32;
  else if (!strcmp(s, "i8") || !strcmp(s, "int8"))
    *p = TT_INT8;
  else if (!strcmp(s, "t") || !strcmp(s, "ternary"))
    *p = TT_TERNARY;
  else
    return false;
  return true;
}

tern_status tt_net_set_precision(tt_net *net, const char *cfg, tern_err *err) {
  int nw = tt_net_weighted_count(net);
  tt_prec p[TT_MAX_LAYERS];
  for (int i = 0; i < nw; i++)
    p[i] = TT_F32;
  char buf[512];
  if (!cfg || strlen(cfg) >= sizeof buf)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "precision: missing or too long");
  strcpy(buf, cfg);
  int idx = 0;
  bool keyed = strchr(cfg, '=') != NULL;
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    char *eq = strchr(tok, '=');
    tt_prec v;
    if (keyed) {
      if (!eq || !parse_prec(eq + 1, &v))
        return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                            "precision: '%s' is not key=f32|i8|t", tok);
      *eq = 0;
      if (!strcmp(tok, "all"))
        for (int i = 0; i < nw; i++)
          p[i] = v;
      else if (!strcmp(tok, "first"))
        p[0] = v;
      else if (!strcmp(tok, "last"))
        p[nw - 1] = v;
      else
        return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                            "precision: unknown key '%s' (all, first, last)",
                            tok);
    } else {
      if (!parse_prec(tok, &v))
        return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                            "precision: '%s' is not f32, i8 or t", tok);
      if (idx >= nw)
        return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                            "precision: %d entries for %d weighted layers",
                            idx + 1, nw);
      p[idx++] = v;
    }
  }
  if (!keyed && idx != nw)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "precision: %d entries for %d weighted layers", idx,
                        nw);
  for (int i = 0, k = 0; i < net->n_layers; i++)
    if (weighted(&net->layers[i]))
      net->layers[i].prec = p[k++];
  return TERN_OK;
}

/* -------------------------------------------------------------- buffers */

tern_status tt_net_reserve(tt_net *net, int64_t n) {
  if (n <= net->batch_cap)
    return TERN_OK;
  size_t in0 = (size_t)net->in_c * net->in_h * net->in_w;
  tern_free(net->act[0]);
  tern_free(net->dact[0]);
  net->act[0] = tern_calloc((size_t)n * in0, sizeof(float));
  net->dact[0] = tern_calloc((size_t)n * in0, sizeof(float));
  bool ok = net->act[0] && net->dact[0];
  for (int i = 0; i < net->n_layers && ok; i++) {
    tt_layer *l = &net->layers[i];
    size_t os = (size_t)out_size(l), is = (size_t)in_size(l);
    tern_free(net->act[i + 1]);
    tern_free(net->dact[i + 1]);
    net->act[i + 1] = tern_calloc((size_t)n * os, sizeof(float));
    net->dact[i + 1] = tern_calloc((size_t)n * os, sizeof(float));
    ok = net->act[i + 1] && net->dact[i + 1];
    if (l->kind == TT_MAXPOOL) {
      tern_free(net->argmax[i]);
      net->argmax[i] = tern_calloc((size_t)n * os, sizeof(int32_t));
      ok = ok && net->argmax[i];
    }
    if (l->kind == TT_BN && !net->bn_save[i]) {
      net->bn_save[i] = tern_calloc(2 * (size_t)l->c, sizeof(float));
      ok = ok && net->bn_save[i];
    }
    if (weighted(l)) {
      tern_free(net->xq[i]);
      tern_free(net->xscale[i]);
      net->xq[i] = tern_calloc((size_t)n * is, sizeof(float));
      net->xscale[i] = tern_calloc((size_t)n, sizeof(float)); /* x scales */
      if (!net->wq[i])
        net->wq[i] = tern_calloc((size_t)l->n_w, sizeof(float));
      if (!net->wscale[i])
        net->wscale[i] = tern_calloc((size_t)l->oc, sizeof(float));
      ok = ok && net->xq[i] && net->xscale[i] && net->wq[i] && net->wscale[i];
    }
  }
  if (!ok) {
    net->batch_cap = 0;
    return tern_err_set(&net->err, TERN_ERR_OUT_OF_MEMORY,
                        "out of memory for a batch of %lld", (long long)n);
  }
  net->batch_cap = n;
  return TERN_OK;
}

void tt_net_zero_grad(tt_net *net) {
  memset(net->grads, 0, (size_t)net->n_params * sizeof(float));
}

/* ------------------------------------------------------- quantization */

static float learned_threshold(const tt_net *net, const tt_layer *l) {
  float a = net->params[l->q_off];
  return a > 0.05f ? a : 0.05f;
}

/* q: codes, scales: per output channel, as the deterministic forward and the
 * export compute them. */
static tern_status layer_quantize_raw(const tt_net *net, int i, int8_t *q,
                                      float *scales, tern_quant_stats *st);

tern_status tt_layer_quantize(const tt_net *net, int i, int8_t *q,
                              float *scales, tern_quant_stats *st) {
  tern_status s = layer_quantize_raw(net, i, q, scales, st);
  const tt_layer *l = &net->layers[i];
  if (!s && l->mul_off >= 0)
    for (int r = 0; r < l->oc; r++)
      scales[r] *= net->stats[l->mul_off + r];
  return s;
}

static tern_status layer_quantize_raw(const tt_net *net, int i, int8_t *q,
                                      float *scales, tern_quant_stats *st) {
  const tt_layer *l = &net->layers[i];
  const float *w = net->params + l->w_off;
  int64_t rows = l->oc, cols = l->n_w / l->oc;
  if (l->prec == TT_TERNARY) {
    tern_ternary_desc d = {sizeof d, TERN_TERNARY_THRESHOLD,
                           net->qcfg.threshold, 0};
    if (net->qcfg.tmethod == TT_TQ_ABSMEAN)
      d.method = TERN_TERNARY_ABSMEAN;
    else if (net->qcfg.tmethod == TT_TQ_LEARNED)
      d.threshold_factor = learned_threshold(net, l);
    const float *thr = net->stats + l->thr_off;
    bool per_channel = false;
    for (int64_t r = 0; r < rows && d.method == TERN_TERNARY_THRESHOLD; r++)
      per_channel |= thr[r] > 0;
    if (!per_channel)
      return tern_quantize_ternary(w, rows, cols, &d, q, scales, st);
    /* per-channel factors (PTQ threshold search): row by row, same rule */
    tern_quant_stats rs, tot;
    memset(&tot, 0, sizeof tot);
    for (int64_t r = 0; r < rows; r++) {
      tern_ternary_desc dr = d;
      if (thr[r] > 0)
        dr.threshold_factor = thr[r];
      tern_status s = tern_quantize_ternary(w + r * cols, 1, cols, &dr,
                                            q + r * cols, scales + r, &rs);
      if (s)
        return s;
      tot.count += rs.count;
      tot.zeros += rs.zeros;
    }
    if (st) {
      *st = tot;
      st->sparsity = tot.count ? (double)tot.zeros / (double)tot.count : 0;
    }
    return TERN_OK;
  }
  if (l->prec == TT_INT8 && net->qcfg.int8_learned) {
    const float *step = net->params + l->q_off + 1;
    for (int64_t r = 0; r < rows; r++) {
      float s = step[r] > 1e-12f ? step[r] : 1e-12f;
      scales[r] = s;
      for (int64_t c = 0; c < cols; c++) {
        float v = rintf(w[r * cols + c] / s);
        q[r * cols + c] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
      }
    }
    if (st) {
      memset(st, 0, sizeof *st);
      st->count = rows * cols;
    }
    return TERN_OK;
  }
  return tern_quantize_int8(w, rows, cols, q, scales, st);
}

/* Fill wq (integer codes as floats) and wscale for layer i. */
static tern_status quantize_weights(tt_net *net, int i, tt_qmode mode,
                                    int64_t step, uint64_t seed) {
  tt_layer *l = &net->layers[i];
  int64_t rows = l->oc, cols = l->n_w / l->oc;
  const float *w = net->params + l->w_off;
  float *wq = net->wq[i], *ws = net->wscale[i];
  if (l->prec == TT_TERNARY && mode == TT_Q_STOCHASTIC) {
    /* unbiased for |w| <= mean|w|: P(q = sign w) = |w| / mean|w| */
    for (int64_t r = 0; r < rows; r++) {
      double sum = 0;
      for (int64_t c = 0; c < cols; c++)
        sum += fabsf(w[r * cols + c]);
      float a = (float)(sum / (double)cols);
      ws[r] = a > 0 ? a : 1.0f;
      for (int64_t c = 0; c < cols; c++) {
        float v = w[r * cols + c], p = a > 0 ? fabsf(v) / a : 0;
        float u = tt_unit(tt_hash3(seed ^ 0x5354ull, (uint64_t)step,
                                   (uint64_t)(i * 1000003LL + r * cols + c)));
        wq[r * cols + c] = u < p ? (v > 0 ? 1.0f : -1.0f) : 0.0f;
      }
    }
    return TERN_OK;
  }
  int8_t *q = tern_malloc((size_t)l->n_w);
  if (!q)
    return tern_err_set(&net->err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  tern_status st = tt_layer_quantize(net, i, q, ws, NULL);
  for (int64_t k = 0; k < l->n_w; k++)
    wq[k] = q[k];
  tern_free(q);
  return st;
}

/* Quantize the layer input (per row for linear, per sample for conv) into
 * integer codes as floats; xs[b] receives the power-of-two scale. */
static bool quantize_input(const float *x, int64_t B, int64_t n, float *xq,
                           float *xs) {
  int8_t *q = tern_malloc((size_t)n);
  if (!q)
    return false;
  for (int64_t b = 0; b < B; b++) {
    tern_act_quantize_row(x + b * n, n, q, &xs[b]);
    for (int64_t k = 0; k < n; k++)
      xq[b * n + k] = q[k];
  }
  tern_free(q);
  return true;
}

/* Sums of integer products in float are exact below 2^24. */
static bool float_exact(const tt_layer *l) {
  int64_t K = l->n_w / l->oc;
  int64_t wmax = l->prec == TT_TERNARY ? 1 : 127;
  return K * 127 * wmax < (1 << 24);
}

static tern_status quantized_forward(tt_net *net, int i, int64_t B) {
  tt_layer *l = &net->layers[i];
  const float *x = net->act[i];
  float *y = net->act[i + 1], *xq = net->xq[i], *xs = net->xscale[i];
  float *wq = net->wq[i], *ws = net->wscale[i];
  const float *bias = net->params + l->b_off;
  int64_t K = l->n_w / l->oc, N = l->oc;
  if (!quantize_input(x, B, in_size(l), xq, xs))
    return tern_err_set(&net->err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  if (l->kind == TT_LINEAR) {
    if (float_exact(l)) {
      tt_linear_forward(net->pool, y, xq, wq, NULL, B, K, N);
    } else { /* wide int8 layers: exact sums in double */
      for (int64_t b = 0; b < B; b++)
        for (int64_t n = 0; n < N; n++) {
          double acc = 0;
          for (int64_t k = 0; k < K; k++)
            acc += (double)xq[b * K + k] * wq[n * K + k];
          y[b * N + n] = (float)(int32_t)acc;
        }
    }
    for (int64_t b = 0; b < B; b++)
      for (int64_t n = 0; n < N; n++)
        y[b * N + n] =
            tern_q_epilogue((int32_t)y[b * N + n], ws[n], xs[b], bias[n]);
  } else {
    if (!float_exact(l))
      return tern_err_set(&net->err, TERN_ERR_UNSUPPORTED,
                          "layer %d: int8 conv with %lld taps per output is "
                          "beyond the exact fake-quant path (2^24 / 127^2)",
                          i, (long long)K);
    if (!tt_conv2d_forward(net->pool, y, xq, wq, NULL, B, &l->conv))
      return tern_err_set(&net->err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
    int64_t P = (int64_t)l->oh * l->ow;
    for (int64_t b = 0; b < B; b++)
      for (int64_t n = 0; n < N; n++)
        for (int64_t p = 0; p < P; p++) {
          float *v = &y[(b * N + n) * P + p];
          *v = tern_q_epilogue((int32_t)*v, ws[n], xs[b], bias[n]);
        }
  }
  /* keep the dequantized tensors for backward (exact: scales are 2^e) */
  int64_t is = in_size(l);
  for (int64_t b = 0; b < B; b++)
    for (int64_t k = 0; k < is; k++)
      xq[b * is + k] *= xs[b];
  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < K; k++)
      wq[n * K + k] *= ws[n];
  return TERN_OK;
}

const float *tt_net_forward(tt_net *net, const float *x, int64_t B,
                            bool training, tt_qmode qmode, int64_t step,
                            uint64_t seed) {
  if (tt_net_reserve(net, B))
    return NULL;
  size_t in0 = (size_t)net->in_c * net->in_h * net->in_w;
  memcpy(net->act[0], x, (size_t)B * in0 * sizeof(float));
  int last = net->stop_after >= 0 && net->stop_after < net->n_layers
                 ? net->stop_after
                 : net->n_layers - 1;
  for (int i = 0; i <= last; i++) {
    tt_layer *l = &net->layers[i];
    const float *in = net->act[i];
    float *y = net->act[i + 1];
    const float *p = net->params;
    net->quantized_fwd[i] = false;
    switch (l->kind) {
    case TT_LINEAR:
    case TT_CONV:
      if (qmode != TT_Q_OFF && l->prec != TT_F32) {
        if (quantize_weights(net, i, qmode, step, seed))
          return NULL;
        if (quantized_forward(net, i, B))
          return NULL;
        net->quantized_fwd[i] = true;
      } else if (l->kind == TT_LINEAR) {
        tt_linear_forward(net->pool, y, in, p + l->w_off, p + l->b_off, B, l->c,
                          l->oc);
      } else if (!tt_conv2d_forward(net->pool, y, in, p + l->w_off,
                                    p + l->b_off, B, &l->conv)) {
        tern_err_set(&net->err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
        return NULL;
      }
      break;
    case TT_BN:
      tt_batchnorm_forward(
          net->pool, y, in, p + l->w_off, p + l->b_off,
          net->stats + l->stat_off, net->stats + l->stat_off + l->c,
          net->bn_save[i], net->bn_save[i] + l->c, B, l->c,
          (int64_t)l->h * l->w, net->bn_momentum, net->bn_eps, training);
      break;
    case TT_RELU:
      tt_relu_forward(y, in, B * in_size(l));
      break;
    case TT_RELU6:
      tt_relu6_forward(y, in, B * in_size(l));
      break;
    case TT_MAXPOOL:
      tt_maxpool_forward(y, net->argmax[i], in, B, &l->pool);
      break;
    case TT_AVGPOOL:
      tt_avgpool_forward(y, in, B, &l->pool);
      break;
    case TT_GAP:
      tt_gap_forward(y, in, B, l->c, (int64_t)l->h * l->w);
      break;
    case TT_FLATTEN:
      memcpy(y, in, (size_t)(B * in_size(l)) * sizeof(float));
      break;
    case TT_ADD:
      tt_add_forward(y, in, net->act[l->skip + 1], B * in_size(l));
      break;
    }
  }
  return net->act[last + 1];
}

/* Straight-through estimators: map the gradient of the quantized weights
 * (dwq) onto the latent weights and the learned quantizer parameters. */
static void ste_weights(tt_net *net, int i, const float *dwq) {
  tt_layer *l = &net->layers[i];
  int64_t rows = l->oc, cols = l->n_w / l->oc;
  const float *w = net->params + l->w_off;
  float *gw = net->grads + l->w_off, *gq = net->grads + l->q_off;
  if (l->prec == TT_INT8 && net->qcfg.int8_learned) {
    const float *step = net->params + l->q_off + 1;
    float gscale = 1.0f / sqrtf((float)cols * 127.0f);
    for (int64_t r = 0; r < rows; r++) {
      float s = step[r] > 1e-12f ? step[r] : 1e-12f;
      double gs = 0;
      for (int64_t c = 0; c < cols; c++) {
        float v = w[r * cols + c] / s, g = dwq[r * cols + c];
        if (v > 127) {
          gs += 127.0 * g;
        } else if (v < -127) {
          gs -= 127.0 * g;
        } else {
          gw[r * cols + c] += g;
          gs += (double)g * (rintf(v) - v);
        }
      }
      gq[1 + r] += (float)gs * gscale;
    }
    return;
  }
  for (int64_t k = 0; k < l->n_w; k++)
    gw[k] += dwq[k];
  if (l->prec == TT_TERNARY && net->qcfg.tmethod == TT_TQ_LEARNED) {
    /* d ŵ / d a through a sigmoid surrogate of the step at |w| = a·m */
    float a = learned_threshold(net, l);
    double ga = 0;
    for (int64_t r = 0; r < rows; r++) {
      double sum = 0;
      for (int64_t c = 0; c < cols; c++)
        sum += fabsf(w[r * cols + c]);
      float m = (float)(sum / (double)cols), t = a * m, tau = 0.1f * m;
      if (!(m > 0))
        continue;
      float alpha = net->wscale[i][r];
      for (int64_t c = 0; c < cols; c++) {
        float v = w[r * cols + c];
        float z = (fabsf(v) - t) / tau, sg = 1.0f / (1.0f + expf(-z));
        float dstep = sg * (1 - sg) / tau; /* d sigmoid / d|w| */
        ga += (double)dwq[r * cols + c] * -(v > 0 ? 1 : -1) * alpha * dstep * m;
      }
    }
    gq[0] += (float)ga;
  }
}

tern_status tt_net_backward(tt_net *net, const float *dlogits, int64_t B) {
  bool ok = true;
  for (int i = 0; i <= net->n_layers; i++) {
    size_t sz = i == 0 ? (size_t)net->in_c * net->in_h * net->in_w
                       : (size_t)out_size(&net->layers[i - 1]);
    memset(net->dact[i], 0, (size_t)B * sz * sizeof(float));
  }
  memcpy(net->dact[net->n_layers], dlogits,
         (size_t)(B * net->classes) * sizeof(float));
  for (int i = net->n_layers - 1; i >= 0; i--) {
    tt_layer *l = &net->layers[i];
    float *dx = i > 0 ? net->dact[i] : NULL; /* no gradient for the data */
    const float *dy = net->dact[i + 1], *x = net->act[i];
    const float *p = net->params;
    float *g = net->grads;
    int64_t n = B * in_size(l);
    switch (l->kind) {
    case TT_LINEAR:
    case TT_CONV:
      if (net->quantized_fwd[i]) {
        float *dwq = tern_calloc((size_t)l->n_w, sizeof(float));
        if (!dwq)
          return tern_err_set(&net->err, TERN_ERR_OUT_OF_MEMORY,
                              "out of memory");
        if (l->kind == TT_LINEAR)
          tt_linear_backward(net->pool, dx, dwq, g + l->b_off, dy, net->xq[i],
                             net->wq[i], B, l->c, l->oc);
        else
          ok &= tt_conv2d_backward(net->pool, dx, dwq, g + l->b_off, dy,
                                   net->xq[i], net->wq[i], B, &l->conv);
        ste_weights(net, i, dwq);
        tern_free(dwq);
      } else if (l->kind == TT_LINEAR) {
        tt_linear_backward(net->pool, dx, g + l->w_off, g + l->b_off, dy, x,
                           p + l->w_off, B, l->c, l->oc);
      } else {
        ok &= tt_conv2d_backward(net->pool, dx, g + l->w_off, g + l->b_off, dy,
                                 x, p + l->w_off, B, &l->conv);
      }
      break;
    case TT_BN:
      tt_batchnorm_backward(net->pool, dx, g + l->w_off, g + l->b_off, dy, x,
                            p + l->w_off, net->bn_save[i],
                            net->bn_save[i] + l->c, B, l->c,
                            (int64_t)l->h * l->w);
      break;
    case TT_RELU:
      if (dx)
        tt_relu_backward(dx, dy, x, n);
      break;
    case TT_RELU6:
      if (dx)
        tt_relu6_backward(dx, dy, x, n);
      break;
    case TT_MAXPOOL:
      if (dx)
        tt_maxpool_backward(dx, dy, net->argmax[i], B, &l->pool);
      break;
    case TT_AVGPOOL:
      if (dx)
        tt_avgpool_backward(dx, dy, B, &l->pool);
      break;
    case TT_GAP:
      if (dx)
        tt_gap_backward(dx, dy, B, l->c, (int64_t)l->h * l->w);
      break;
    case TT_FLATTEN:
      if (dx)
        for (int64_t k = 0; k < n; k++)
          dx[k] += dy[k];
      break;
    case TT_ADD:
      tt_add_backward(dx, l->skip >= 0 ? net->dact[l->skip + 1] : NULL, dy, n);
      break;
    }
  }
  if (!ok)
    return tern_err_set(&net->err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  return TERN_OK;
}
