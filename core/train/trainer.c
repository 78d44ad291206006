/* trainer.c — the training loop (fp32, QAT with a progressive schedule,
 * distillation), evaluation, and checkpoints that make a run resumable:
 * batches, augmentation and stochastic quantization are drawn from counters
 * (seed, step), so a resumed run continues with the same numbers. */
#include "train/train.h"

#include <math.h>
#include <string.h>

void tt_train_cfg_defaults(tt_train_cfg *c) {
  memset(c, 0, sizeof *c);
  c->steps = 1000;
  c->batch = 64;
  c->opt = TT_OPT_SGD;
  c->lr = 0.05f;
  c->momentum = 0.9f;
  c->wd = 5e-4f;
  c->beta1 = 0.9f;
  c->beta2 = 0.999f;
  c->adam_eps = 1e-8f;
  c->sched.kind = TT_SCHED_COSINE;
  c->sched.warmup = -1; /* 3% of the steps */
  c->sched.gamma = 0.1f;
  c->kd_T = 2;
  c->kd_lambda = 0.5f;
  c->progress_every = 50;
  c->seed = 1;
}

tt_qmode tt_qmode_at(const tt_train_cfg *cfg, int64_t step) {
  if (!cfg->qat)
    return TT_Q_OFF;
  /* phase boundaries are whole steps: llround(fraction·steps) */
  if (step < llround((double)cfg->frac_fp32 * (double)cfg->steps))
    return TT_Q_OFF;
  if (step < llround((double)cfg->frac_stochastic * (double)cfg->steps))
    return TT_Q_STOCHASTIC;
  return TT_Q_DET;
}

static tern_status save_ckpt(tt_net *net, const tt_train_cfg *cfg, int64_t step,
                             tern_err *err) {
  tt_ckpt_meta m;
  memset(&m, 0, sizeof m);
  m.step = step;
  m.seed = cfg->seed;
  m.extra[0] = cfg->steps;
  m.extra[1] = cfg->batch;
  return tt_net_save_ckpt(net, cfg->ckpt_path, &m, err);
}

tern_status tt_train(tt_net *net, const tt_dataset *d, const tt_train_cfg *cfg,
                     tt_train_result *res, tern_err *err) {
  if (d->c != net->in_c || d->h != net->in_h || d->w != net->in_w)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "train: data %s is %dx%dx%d, the model takes "
                        "%dx%dx%d",
                        d->name, d->c, d->h, d->w, net->in_c, net->in_h,
                        net->in_w);
  if (net->classes < d->classes)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "train: the model has %d outputs for %d classes",
                        net->classes, d->classes);
  if (cfg->batch <= 0 || cfg->steps <= 0)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "train: batch and steps must be positive");
  if (cfg->teacher && cfg->teacher->classes != net->classes)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "distill: teacher has %d outputs, student %d",
                        cfg->teacher->classes, net->classes);
  int64_t B = cfg->batch, C = net->classes;
  size_t per = (size_t)d->c * d->h * d->w;
  float *x = tern_malloc((size_t)B * per * sizeof(float));
  float *dlog = tern_malloc((size_t)(B * C) * sizeof(float));
  float *tlog = tern_malloc((size_t)(B * C) * sizeof(float));
  int *labels = tern_malloc((size_t)B * sizeof(int));
  int64_t *perm = tern_malloc((size_t)d->n * sizeof(int64_t));
  int64_t *idx = tern_malloc((size_t)B * sizeof(int64_t));
  tern_status st = TERN_OK;
  if (!x || !dlog || !tlog || !labels || !perm || !idx)
    st = tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "train: out of memory");
  if (!st && (st = tt_net_reserve(net, B)) != TERN_OK)
    tern_err_set(err, st, "train: %s", net->err.msg);
  tt_schedule sch = cfg->sched;
  sch.base_lr = cfg->lr;
  sch.total = cfg->steps;
  if (sch.warmup < 0)
    sch.warmup = cfg->steps * 3 / 100;
  int64_t cur_epoch = -1, step = cfg->start_step;
  double loss_acc = 0;
  int64_t n_acc = 0, n_correct = 0;
  uint64_t t0 = tern_now_ns();
  int64_t first = step;
  for (; !st && step < cfg->steps; step++) {
    if (cfg->stop && *cfg->stop) {
      if (res)
        res->stopped = 1;
      break;
    }
    for (int64_t b = 0; b < B; b++) {
      int64_t g = step * B + b, e = g / d->n;
      if (e != cur_epoch) {
        tt_shuffle(perm, d->n, cfg->seed, e);
        cur_epoch = e;
      }
      idx[b] = perm[g % d->n];
    }
    tt_make_batch(d, idx, B, &cfg->aug, cfg->seed, step, x, labels);
    tt_qmode qm = tt_qmode_at(cfg, step);
    const float *logits = tt_net_forward(net, x, B, true, qm, step, cfg->seed);
    if (!logits) {
      st = tern_err_set(err,
                        net->err.status ? net->err.status : TERN_ERR_INTERNAL,
                        "train: forward failed: %s", net->err.msg);
      break;
    }
    float loss;
    if (cfg->teacher) {
      const float *t =
          tt_net_forward(cfg->teacher, x, B, false, TT_Q_OFF, step, cfg->seed);
      if (!t) {
        st = tern_err_set(err, TERN_ERR_INTERNAL, "distill: teacher failed");
        break;
      }
      memcpy(tlog, t, (size_t)(B * C) * sizeof(float));
      loss = tt_distill_loss(dlog, logits, tlog, labels, B, C, cfg->kd_T,
                             cfg->kd_lambda, cfg->label_smoothing);
    } else {
      loss = tt_softmax_xent(dlog, NULL, logits, labels, B, C,
                             cfg->label_smoothing);
    }
    if (!isfinite(loss)) {
      st = tern_err_set(err, TERN_ERR_INTERNAL,
                        "train: loss is %g at step %lld (lower the learning "
                        "rate?)",
                        (double)loss, (long long)step);
      break;
    }
    for (int64_t b = 0; b < B; b++) {
      int best = 0;
      for (int64_t c = 1; c < C; c++)
        if (logits[b * C + c] > logits[b * C + best])
          best = (int)c;
      n_correct += best == labels[b];
    }
    loss_acc += loss;
    n_acc++;
    tt_net_zero_grad(net);
    if (tt_net_backward(net, dlog, B)) {
      st = tern_err_set(err, net->err.status, "train: %s", net->err.msg);
      break;
    }
    float lr = tt_schedule_lr(&sch, step);
    if (cfg->opt == TT_OPT_ADAMW)
      tt_adamw_step(net->params, net->grads, net->opt_m, net->opt_v, net->decay,
                    net->n_params, lr, cfg->beta1, cfg->beta2, cfg->adam_eps,
                    cfg->wd, step + 1);
    else
      tt_sgd_step(net->params, net->grads, net->opt_m, net->decay,
                  net->n_params, lr, cfg->momentum, cfg->wd,
                  cfg->nesterov != 0);
    if (res)
      res->last_loss = loss;
    bool report =
        cfg->progress &&
        ((cfg->progress_every > 0 && (step + 1) % cfg->progress_every == 0) ||
         step + 1 == cfg->steps);
    if (report) {
      tt_progress p;
      memset(&p, 0, sizeof p);
      p.step = step + 1;
      p.steps = cfg->steps;
      p.epoch = (step * B) / d->n;
      p.loss = (float)(loss_acc / (double)n_acc);
      p.accuracy = (float)(100.0 * (double)n_correct / (double)(n_acc * B));
      p.lr = lr;
      p.qmode = qm;
      p.elapsed_s = (double)(tern_now_ns() - t0) * 1e-9;
      int64_t done = step + 1 - first;
      p.eta_s = done > 0 ? p.elapsed_s / (double)done *
                               (double)(cfg->steps - step - 1)
                         : 0;
      cfg->progress(cfg->progress_user, &p);
      loss_acc = 0;
      n_acc = n_correct = 0;
    }
    if (cfg->ckpt_path && cfg->ckpt_every > 0 &&
        (step + 1) % cfg->ckpt_every == 0 && step + 1 < cfg->steps)
      st = save_ckpt(net, cfg, step + 1, err);
  }
  if (!st && cfg->ckpt_path)
    st = save_ckpt(net, cfg, step, err);
  if (res) {
    res->steps_done = step;
    res->seconds = (double)(tern_now_ns() - t0) * 1e-9;
  }
  tern_free(x);
  tern_free(dlog);
  tern_free(tlog);
  tern_free(labels);
  tern_free(perm);
  tern_free(idx);
  return st;
}

tern_status tt_evaluate(tt_net *net, const tt_dataset *d, tt_qmode qmode,
                        int batch, tt_eval_result *res, tern_err *err) {
  if (d->c != net->in_c || d->h != net->in_h || d->w != net->in_w)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "evaluate: data %s is %dx%dx%d, the model takes "
                        "%dx%dx%d",
                        d->name, d->c, d->h, d->w, net->in_c, net->in_h,
                        net->in_w);
  if (batch <= 0)
    batch = 256;
  int64_t C = net->classes;
  size_t per = (size_t)d->c * d->h * d->w;
  float *x = tern_malloc((size_t)batch * per * sizeof(float));
  int *labels = tern_malloc((size_t)batch * sizeof(int));
  int64_t *idx = tern_malloc((size_t)batch * sizeof(int64_t));
  if (!x || !labels || !idx) {
    tern_free(x);
    tern_free(labels);
    tern_free(idx);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "evaluate: out of memory");
  }
  double loss = 0;
  int64_t correct = 0;
  tern_status st = TERN_OK;
  for (int64_t s = 0; s < d->n; s += batch) {
    int64_t n = d->n - s < batch ? d->n - s : batch;
    for (int64_t b = 0; b < n; b++)
      idx[b] = s + b;
    tt_make_batch(d, idx, n, NULL, 0, 0, x, labels);
    const float *lg = tt_net_forward(net, x, n, false, qmode, 0, 0);
    if (!lg) {
      st = tern_err_set(err, TERN_ERR_INTERNAL, "evaluate: %s", net->err.msg);
      break;
    }
    loss +=
        (double)tt_softmax_xent(NULL, NULL, lg, labels, n, C, 0) * (double)n;
    for (int64_t b = 0; b < n; b++) {
      int best = 0;
      for (int64_t c = 1; c < C; c++)
        if (lg[b * C + c] > lg[b * C + best])
          best = (int)c;
      correct += best == labels[b];
    }
  }
  tern_free(x);
  tern_free(labels);
  tern_free(idx);
  if (st)
    return st;
  res->n = d->n;
  res->correct = correct;
  res->accuracy = d->n ? 100.0 * (double)correct / (double)d->n : 0;
  res->loss = d->n ? loss / (double)d->n : 0;
  return TERN_OK;
}
