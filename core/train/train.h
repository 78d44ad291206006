/* train.h — training, evaluation and post-training quantization over a
 * tt_net and a tt_dataset: the loop behind `tern train|qat|distill|ptq`.
 * Nothing here prints: progress goes to a callback. */
#ifndef TERN_TRAIN_TRAIN_H
#define TERN_TRAIN_TRAIN_H

#include "train/data.h"
#include "train/net.h"

typedef enum tt_opt_kind { TT_OPT_SGD = 0, TT_OPT_ADAMW = 1 } tt_opt_kind;

typedef struct tt_progress {
  int64_t step, steps, epoch;
  float loss;     /* mean training loss since the last report */
  float accuracy; /* training accuracy since the last report */
  float lr;
  tt_qmode qmode;
  double elapsed_s, eta_s;
} tt_progress;
typedef void (*tt_progress_fn)(void *user, const tt_progress *p);

typedef struct tt_train_cfg {
  int64_t steps;
  int batch;
  tt_opt_kind opt;
  float lr, momentum, wd, beta1, beta2, adam_eps;
  int nesterov;
  tt_schedule sched; /* kind, warmup, min_lr, step_size, gamma; base_lr and
                        total are filled from lr and steps */
  float label_smoothing;
  uint64_t seed;
  tt_augment aug;
  /* QAT: quantized layers (tt_net_set_precision) are trained with the
   * quantized forward; fp32 before frac_fp32 of the steps, stochastic ternary
   * before frac_stochastic, deterministic after. qat = 0: fp32 throughout. */
  int qat;
  float frac_fp32, frac_stochastic;
  /* distillation (teacher != NULL): loss λ·T²·KL + (1-λ)·CE */
  tt_net *teacher;
  float kd_T, kd_lambda;
  /* checkpoints every ckpt_every steps (0: only at the end / on stop) */
  const char *ckpt_path;
  int64_t ckpt_every;
  int64_t start_step; /* resume from here */
  tt_progress_fn progress;
  void *progress_user;
  int64_t progress_every;
  /* set *stop non-zero (e.g. from SIGINT) to end early: a checkpoint is
   * written (when ckpt_path is set) and tt_train returns with stopped = 1 */
  volatile int *stop;
} tt_train_cfg;

/* Defaults: SGD momentum 0.9, lr 0.05, wd 5e-4, batch 64, cosine with 3%
 * warm-up, label smoothing 0. */
void tt_train_cfg_defaults(tt_train_cfg *cfg);

typedef struct tt_train_result {
  int64_t steps_done;
  int stopped; /* 1 if cfg->stop ended the run early */
  float last_loss;
  double seconds;
} tt_train_result;

tern_status tt_train(tt_net *net, const tt_dataset *train,
                     const tt_train_cfg *cfg, tt_train_result *res,
                     tern_err *err);

/* QAT mode at a step, from the progressive schedule. */
tt_qmode tt_qmode_at(const tt_train_cfg *cfg, int64_t step);

typedef struct tt_eval_result {
  int64_t n, correct;
  double accuracy; /* percent */
  double loss;
} tt_eval_result;

/* Evaluate (eval mode, no augmentation). qmode TT_Q_DET computes what the
 * exported model computes. */
tern_status tt_evaluate(tt_net *net, const tt_dataset *d, tt_qmode qmode,
                        int batch, tt_eval_result *res, tern_err *err);

/* ----------------------------------------------------------------- PTQ */
typedef struct tt_ptq_cfg {
  int64_t calib_count;  /* calibration samples (from the start of calib) */
  int bn_reestimate;    /* recompute batchnorm statistics on quantized net */
  int bias_correct;     /* per-channel output mean correction, layer by layer */
  int scale_correct;    /* with bias_correct: least-squares per-channel fit of
                           the weight scale too (y ≈ α·ŷ + β) */
  int threshold_search; /* with bias_correct: per-layer ternary threshold
                           factor (0.5..1.1) minimising the output error */
  int batch;
} tt_ptq_cfg;

typedef struct tt_layer_report {
  int layer; /* index in the network */
  tt_kind kind;
  tt_prec prec;
  double sparsity;   /* ternary zeros / weights */
  double weight_rel; /* ||W - Ŵ|| / ||W|| */
  double out_rel;    /* ||y - ŷ|| / ||y|| on the calibration set, with the
                        quantized network up to this layer */
} tt_layer_report;

/* Quantize net (its layer precisions) using calib; fp32 weights are kept
 * as latent weights, bias correction edits the biases. report receives one
 * entry per quantized layer (up to max_report), *n_report their count. */
tern_status tt_ptq(tt_net *net, const tt_dataset *calib, const tt_ptq_cfg *cfg,
                   tt_layer_report *report, int max_report, int *n_report,
                   tern_err *err);
/* The error report alone (no changes to net). */
tern_status tt_quant_report(tt_net *net, const tt_net *ref,
                            const tt_dataset *calib, int64_t count, int batch,
                            tt_layer_report *report, int max_report,
                            int *n_report, tern_err *err);

#endif
