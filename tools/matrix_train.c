/* matrix_train.c — the training-mode rows of the matrix (`--data`): the model
 * trained in fp32, post-training quantized, quantization-aware trained and
 * distilled on MNIST with the project's fixed split (first 80 %: of the
 * 10,000-image t10k file, images 0..7999 train and 8000..9999 test), each
 * exported as a graph that the matrix then runs on every device. Needs the
 * training library (core/train); without it the rows say "not available". */
#include "matrix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include("train/train.h")
#include "train/train.h"
#define MX_HAVE_TRAIN 1
#endif
#endif

bool mx_train_available(void) {
#ifdef MX_HAVE_TRAIN
  return true;
#else
  return false;
#endif
}

#ifndef MX_HAVE_TRAIN
int mx_train_modes(const mx_options *o, const char *model, mx_trained *out,
                   int max, char *why, size_t wn) {
  (void)o;
  (void)model;
  (void)out;
  (void)max;
  snprintf(why, wn,
           "training accuracy rows need the training tools "
           "(train/qat/distill/ptq), which are not in this build");
  return 0;
}
#else

/* Inner layers ternary, first and last int8: the usual deployment mix. */
#define MX_QUANT_PRECISION "all=t,first=i8,last=i8"

/* The training rows are small (300 steps of mlp take seconds): one thread,
 * which also kept them clear of a thread-pool deadlock seen in the trainer
 * of 2026-11-26 with two threads. --threads still applies when given. */
static int threads_of(const mx_options *o) {
  return o->threads > 0 ? o->threads : 1;
}

/* Export net as a graph into out[*n] with its test accuracy. */
static void add_row(tt_net *net, const tt_dataset *test, tt_qmode qmode,
                    const char *mode, const char *precision, mx_trained *out,
                    int *n, int max) {
  if (*n >= max)
    return;
  mx_trained *t = &out[(*n)++];
  memset(t, 0, sizeof *t);
  snprintf(t->mode, sizeof t->mode, "%s", mode);
  snprintf(t->precision, sizeof t->precision, "%s", precision);
  tern_err err;
  tern_err_clear(&err);
  tt_eval_result ev;
  if (tt_evaluate(net, test, qmode, 256, &ev, &err)) {
    snprintf(t->why, sizeof t->why, "evaluating: %.200s", err.msg);
    return;
  }
  t->trainer_accuracy = ev.accuracy / 100.0;
  if (tt_net_to_graph(net, &t->g, &err)) {
    snprintf(t->why, sizeof t->why, "exporting: %.200s", err.msg);
    t->g = NULL;
  }
}

int mx_train_modes(const mx_options *o, const char *model, mx_trained *out,
                   int max, char *why, size_t wn) {
  if (strcmp(model, "mlp") && strcmp(model, "lenet5")) {
    snprintf(why, wn, "the trainer builds mlp and lenet5, not %s", model);
    return 0;
  }
  tern_err err;
  tern_err_clear(&err);
  tt_dataset all, train, test;
  memset(&all, 0, sizeof all);
  memset(&train, 0, sizeof train);
  memset(&test, 0, sizeof test);
  if (tt_load_mnist_dir(o->data, &all, &err)) {
    snprintf(why, wn, "%s", err.msg);
    return 0;
  }
  int64_t split = all.n * 4 / 5; /* 8000 of 10000: the fixed split */
  if (all.n < 20 || tt_dataset_slice(&all, 0, split, &train, &err) ||
      tt_dataset_slice(&all, split, all.n, &test, &err)) {
    snprintf(why, wn, "splitting %s: %s", o->data,
             err.msg[0] ? err.msg : "too few samples");
    tt_dataset_free(&all);
    tt_dataset_free(&train);
    return 0;
  }
  tt_dataset_free(&all);
  int n = 0, th = threads_of(o);
  const char *spec = tt_model_spec(model);
  tt_net *fp = NULL, *q = NULL;
  tt_train_cfg cfg;
  tt_train_cfg_defaults(&cfg);
  cfg.steps = o->train_steps;
  cfg.seed = o->seed;
  tt_train_result tr;
  fprintf(stderr,
          "training %s on %s: fp32, PTQ, QAT and distillation, %lld "
          "steps each\n",
          model, o->data, (long long)cfg.steps);
  /* fp32: the teacher and the PTQ starting point */
  if (tt_net_create(spec, o->seed, th, &fp, &err) ||
      tt_train(fp, &train, &cfg, &tr, &err)) {
    snprintf(why, wn, "fp32 training: %s", err.msg);
    goto done;
  }
  add_row(fp, &test, TT_Q_OFF, "fp32", "fp32", out, &n, max);
  /* PTQ of the fp32 weights, calibrated on training data */
  tt_ptq_cfg pc;
  memset(&pc, 0, sizeof pc);
  pc.calib_count = 1024;
  pc.bn_reestimate = 1;
  pc.bias_correct = 1;
  pc.batch = 256;
  int n_rep = 0;
  tt_layer_report rep[TT_MAX_LAYERS];
  if (tt_net_create(spec, o->seed, th, &q, &err) ||
      tt_net_copy_weights(q, fp, &err) ||
      tt_net_set_precision(q, MX_QUANT_PRECISION, &err) ||
      tt_ptq(q, &train, &pc, rep, TT_MAX_LAYERS, &n_rep, &err)) {
    snprintf(why, wn, "PTQ: %s", err.msg);
    goto done;
  }
  add_row(q, &test, TT_Q_DET, "ptq", "mixed", out, &n, max);
  tt_net_destroy(q);
  q = NULL;
  /* QAT from scratch: fp32 warm-up, stochastic, then deterministic */
  cfg.qat = 1;
  cfg.frac_fp32 = 0.2f;
  cfg.frac_stochastic = 0.5f;
  if (tt_net_create(spec, o->seed, th, &q, &err) ||
      tt_net_set_precision(q, MX_QUANT_PRECISION, &err) ||
      tt_train(q, &train, &cfg, &tr, &err)) {
    snprintf(why, wn, "QAT: %s", err.msg);
    goto done;
  }
  add_row(q, &test, TT_Q_DET, "qat", "mixed", out, &n, max);
  tt_net_destroy(q);
  q = NULL;
  /* QAT with the fp32 network as teacher */
  cfg.teacher = fp;
  if (tt_net_create(spec, o->seed, th, &q, &err) ||
      tt_net_set_precision(q, MX_QUANT_PRECISION, &err) ||
      tt_train(q, &train, &cfg, &tr, &err)) {
    snprintf(why, wn, "distillation: %s", err.msg);
    goto done;
  }
  add_row(q, &test, TT_Q_DET, "distill", "mixed", out, &n, max);
done:
  tt_net_destroy(q);
  tt_net_destroy(fp);
  tt_dataset_free(&train);
  tt_dataset_free(&test);
  return n;
}
#endif
