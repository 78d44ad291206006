/* net.h — a trainable sequential network (with residual adds) built from a
 * text spec, its one contiguous parameter block, quantization-aware forward
 * and backward passes, checkpoints, and export to / import from .tern. */
#ifndef TERN_TRAIN_NET_H
#define TERN_TRAIN_NET_H

#include "tern_internal.h"
#include "train/layers.h"

#define TT_MAX_LAYERS 64

typedef enum tt_kind {
  TT_LINEAR,
  TT_CONV,
  TT_BN,
  TT_RELU,
  TT_RELU6,
  TT_MAXPOOL,
  TT_AVGPOOL,
  TT_GAP,
  TT_FLATTEN,
  TT_ADD
} tt_kind;

/* Precision a weighted layer is trained for (QAT) and exported in. */
typedef enum tt_prec { TT_F32 = 0, TT_INT8 = 1, TT_TERNARY = 2 } tt_prec;

/* How ternary weights are quantized in the forward pass. */
typedef enum tt_tmethod {
  TT_TQ_THRESHOLD = 0, /* TWN: |w| > a·mean|w| (core quantizer) */
  TT_TQ_ABSMEAN = 1,   /* BitNet b1.58 (core quantizer) */
  TT_TQ_LEARNED = 2    /* threshold factor a learned per layer */
} tt_tmethod;

/* What the forward pass does to quantized layers. */
typedef enum tt_qmode {
  TT_Q_OFF = 0,        /* fp32 everywhere (fp32 training, QAT warm-up) */
  TT_Q_STOCHASTIC = 1, /* stochastic ternary weights, int8 activations */
  TT_Q_DET = 2         /* deterministic: what the exported model computes */
} tt_qmode;

typedef struct tt_layer {
  tt_kind kind;
  int c, h, w;    /* input per sample */
  int oc, oh, ow; /* output per sample */
  tt_conv_shape conv;
  tt_pool_shape pool;
  int skip; /* add: the other operand is the output of layer `skip`
               (-1: the network input) */
  int64_t w_off, n_w, b_off, n_b; /* parameter block offsets (-1: none) */
  int64_t q_off, n_q;             /* learned quantizer parameters (-1: none) */
  int64_t stat_off; /* batchnorm running mean (then var) in stats */
  int64_t mul_off;  /* linear/conv: per-channel multiplier of the weight
                       scales in stats (1; PTQ scale correction) */
  int64_t thr_off;  /* linear/conv: per-channel ternary threshold factor
                       in stats (0: the layer's; PTQ threshold search) */
  tt_prec prec;
} tt_layer;

typedef struct tt_quant_cfg {
  tt_tmethod tmethod;
  float threshold;  /* a, default 0.7 */
  int int8_learned; /* 1: LSQ-style learned per-channel step */
} tt_quant_cfg;

typedef struct tt_net {
  char spec[1024];
  int in_c, in_h, in_w, classes;
  int n_layers;
  tt_layer layers[TT_MAX_LAYERS];
  int64_t n_params, n_stats;
  float *params, *grads, *opt_m, *opt_v;
  uint8_t *decay; /* 1 where weight decay applies */
  float *stats;   /* batchnorm running statistics */
  tt_quant_cfg qcfg;
  float bn_momentum, bn_eps;
  /* buffers for one batch of up to batch_cap samples */
  int64_t batch_cap;
  float *act[TT_MAX_LAYERS + 1]; /* act[0] input, act[i+1] layer i */
  float *dact[TT_MAX_LAYERS + 1];
  int32_t *argmax[TT_MAX_LAYERS];
  float *bn_save[TT_MAX_LAYERS]; /* mean and invstd */
  float *xq[TT_MAX_LAYERS];      /* dequantized quantized input */
  float *wq[TT_MAX_LAYERS];      /* dequantized quantized weights */
  float *xscale[TT_MAX_LAYERS];  /* input scales 2^e per row / sample */
  float *wscale[TT_MAX_LAYERS];
  bool quantized_fwd[TT_MAX_LAYERS]; /* last forward quantized this layer */
  tt_pool *pool;
  int stop_after; /* forward runs layers 0..stop_after only (-1: all; the
                     result is then that layer's output) */
  tern_err err;
} tt_net;

/* Build a network from a spec such as
 *   "in 1x28x28; conv 6 5 1 2; relu; maxpool 2; flatten; linear 10"
 * Layers: in CxHxW | linear N | conv OC K [stride [pad [groups]]] |
 * dwconv K [stride [pad]] | bn | relu | relu6 | maxpool K [stride [pad]] |
 * avgpool K [stride [pad]] | gap | flatten | add J (J: layer index, -1 input).
 * "mlp" and "lenet5" name the model zoo's architectures (28x28 input).
 * Parameters are initialised (Kaiming uniform, as PyTorch) from seed. */
tern_status tt_net_create(const char *spec, uint64_t seed, int threads,
                          tt_net **out, tern_err *err);
void tt_net_destroy(tt_net *net);
/* Expand "mlp"/"lenet5" to their full spec; other strings are returned. */
const char *tt_model_spec(const char *name_or_spec);

/* Per weighted layer precision from "f32,t,t,i8" (one entry per weighted
 * layer) or "all=t", "all=t,first=f32,last=i8". */
tern_status tt_net_set_precision(tt_net *net, const char *cfg, tern_err *err);
int tt_net_weighted_count(const tt_net *net);

/* Make room for a batch of n samples. */
tern_status tt_net_reserve(tt_net *net, int64_t n);
/* x: [B, in_c, in_h, in_w]; returns the logits (act[n_layers], [B, classes]).
 * step and seed drive the stochastic quantizer. */
const float *tt_net_forward(tt_net *net, const float *x, int64_t B,
                            bool training, tt_qmode qmode, int64_t step,
                            uint64_t seed);
/* dlogits: [B, classes]; adds parameter gradients into net->grads. */
tern_status tt_net_backward(tt_net *net, const float *dlogits, int64_t B);
void tt_net_zero_grad(tt_net *net);

/* Quantize the weights of layer i as the deterministic forward does:
 * q gets codes (rows*cols), scales rows values. */
tern_status tt_layer_quantize(const tt_net *net, int i, int8_t *q,
                              float *scales, tern_quant_stats *st);

/* ----------------------------------------------------------------- files
 * Checkpoint: spec, step, parameters, optimizer state and running stats,
 * written atomically. */
typedef struct tt_ckpt_meta {
  int64_t step;
  uint64_t seed;
  int64_t extra[8]; /* caller data (e.g. data order) */
} tt_ckpt_meta;
tern_status tt_net_save_ckpt(const tt_net *net, const char *path,
                             const tt_ckpt_meta *meta, tern_err *err);
/* Create a network from a checkpoint (threads for its pool). */
tern_status tt_net_load_ckpt(const char *path, int threads, tt_net **out,
                             tt_ckpt_meta *meta, tern_err *err);
/* Copy parameters and stats from src (same spec) into dst. */
tern_status tt_net_copy_weights(tt_net *dst, const tt_net *src, tern_err *err);

/* Export as a .tern graph using each layer's precision (deterministic
 * quantization). Input "input" [1, C, H, W] (or [1, K] for a net starting
 * with linear), output "logits". */
tern_status tt_net_to_graph(const tt_net *net, tern_graph **out, tern_err *err);
tern_status tt_net_export(const tt_net *net, const char *path,
                          const char *model_name, tern_err *err);
/* Build a trainable fp32 network from a .tern graph of linear / conv2d /
 * batchnorm / relu / relu6 / pools / flatten / add nodes with f32 weights. */
tern_status tt_net_from_graph(const tern_graph *g, int threads, tt_net **out,
                              tern_err *err);
/* A checkpoint or a .tern file, told apart by magic. */
tern_status tt_net_load_any(const char *path, int threads, tt_net **out,
                            tern_err *err);

#endif
