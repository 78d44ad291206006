/* tern_models.h — the model zoo: builders that assemble the reference
 * networks (mlp, lenet5, resnet-mini, mobilenet-mini, bitnet-block) as
 * tern_graph objects through the public API only, with random (seeded,
 * fan-in scaled) or supplied weights in fp32, int8, ternary or mixed
 * precision. Used by the CLI (`tern model create`), tests and benchmarks. */
#ifndef TERN_MODELS_H
#define TERN_MODELS_H

#include "tern.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Precision of a layer's weights (linear and conv2d). Biases, norm and
 * batch-norm parameters always stay fp32. */
typedef enum tern_model_precision {
  TERN_MODEL_FP32 = 0,
  TERN_MODEL_INT8 = 1,
  TERN_MODEL_TERNARY = 2,
  /* Whole-model setting only: the first and last layers int8 (or fp32 with
   * mixed_edge_fp32), every other layer ternary. bitnet-block has no edge
   * layers (in an LLM the edges are the embedding and the head, outside the
   * block), so there mixed means all ternary. */
  TERN_MODEL_MIXED = 3
} tern_model_precision;

/* "fp32", "int8", "ternary", "mixed"; NULL for unknown values. */
const char *tern_model_precision_name(tern_model_precision p);
/* Parses the names above (also "f32", "i8"); TERN_ERR_NOT_FOUND otherwise. */
tern_status tern_model_precision_from_name(const char *name,
                                           tern_model_precision *out);

/* Per-layer override: every layer whose name equals `layer`, or starts with
 * `layer` followed by '.', gets `precision` (not MIXED). Later entries win. */
typedef struct tern_model_layer_precision {
  const char *layer;
  tern_model_precision precision;
} tern_model_layer_precision;

/* Supplied weights. Called for every parameter ("fc1.weight", "fc1.bias",
 * "stem.bn.gamma", "attn_norm.weight", ...; `tern model list` and
 * tern_model_build with a logging callback show them) with its fp32 shape
 * (weights [out, in...]); fill `count` floats and return TERN_OK, return
 * TERN_ERR_NOT_FOUND to fall back to random init, anything else aborts the
 * build with that status. */
typedef tern_status (*tern_model_weight_fn)(void *user, const char *name,
                                            int ndim, const int64_t *shape,
                                            float *out, size_t count);

/* Supplied weights as a name -> array table (looked up before weight_fn). A
 * name that matches with the wrong count fails the build. */
typedef struct tern_model_array {
  const char *name;
  const float *data;
  size_t count;
} tern_model_array;

typedef struct tern_model_desc {
  size_t size;   /* sizeof(tern_model_desc); zeroed fields mean defaults */
  int64_t batch; /* dim 0 of the input; 0: 1 */
  uint64_t seed; /* random init seed (each parameter seeded by its name) */
  tern_model_precision precision; /* default fp32 */
  int mixed_edge_fp32; /* 1: mixed keeps edge layers fp32 instead of int8 */
  const tern_model_layer_precision *overrides;
  int override_count;
  tern_ternary_method ternary_method; /* default threshold (a = 0.7) */
  float threshold_factor;             /* 0: 0.7 */
  int per_tensor_scales;              /* 1: one scale per weight tensor */
  /* Size knobs; 0 means the model's default (see tern_model_info). */
  int width;   /* mlp: hidden 1 (256), hidden 2 = width/2; lenet5: conv1
                  channels (6), conv2 = width*8/3; resnet-mini: stage-1
                  channels (16), doubling per stage; mobilenet-mini: stem
                  channels (16); bitnet-block: model width d (1024) */
  int depth;   /* resnet-mini: blocks per stage (1); mobilenet-mini: number
                  of separable blocks (4) */
  int heads;   /* bitnet-block: attention heads (d/64, at least 1) */
  int ffn;     /* bitnet-block: FFN hidden (8/3 d rounded up to 64) */
  int seq;     /* bitnet-block: sequence length T (16) */
  int classes; /* classifiers: outputs (10) */
  tern_model_weight_fn weight_fn;
  void *weight_user;
  const tern_model_array *arrays;
  int array_count;
} tern_model_desc;

typedef struct tern_model_info {
  const char *name;
  const char *summary; /* one line */
  const char *input;   /* input shape, e.g. "[N, 784]" */
} tern_model_info;

int tern_model_count(void);
/* NULL if i is out of range. */
const tern_model_info *tern_model_info_at(int i);

/* Build model `name` into a new graph (metadata records the model, its
 * knobs, seed and precision). desc may be NULL (defaults). On failure *out
 * is untouched and tern_model_errmsg() says what went wrong. */
tern_status tern_model_build(const char *name, const tern_model_desc *desc,
                             tern_graph **out);

/* The calling thread's last model-builder error ("" if none). */
const char *tern_model_errmsg(void);

#ifdef __cplusplus
}
#endif
#endif /* TERN_MODELS_H */
