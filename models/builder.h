/* builder.h — helpers shared by the zoo's model builders (private to
 * models/): parameter creation with supplied or seeded random weights,
 * per-layer precision and quantization, and one-call layers. Public API
 * only. */
#ifndef TERN_MODELS_BUILDER_H
#define TERN_MODELS_BUILDER_H

#include "tern_models.h"

typedef struct tm_builder {
  tern_graph *g;
  tern_model_desc d; /* the caller's desc with defaults filled in */
  const char *model;
} tm_builder;

/* Role of a weight layer for the mixed precision mode. */
typedef enum tm_role { TM_MID = 0, TM_EDGE = 1 } tm_role;

/* How a float parameter is initialized when no weights are supplied. */
typedef enum tm_init {
  TM_INIT_NORMAL = 0,  /* N(0, a^2) */
  TM_INIT_UNIFORM = 1, /* U(-a, a) */
  TM_INIT_CONST = 2,   /* a */
  TM_INIT_ONE_PLUS = 3 /* 1 + U(-a, a): gammas and variances */
} tm_init;

/* Record a failure for tern_model_errmsg(); returns s. */
tern_status tm_fail(tern_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void tm_clear_error(void);

/* An fp32 parameter constant named `name`. */
tern_status tm_param(tm_builder *b, const char *name, int ndim,
                     const int64_t *shape, tm_init init, float a, int *id);
/* The weight of layer `layer` ([out, in...], fan-in = prod(shape[1..])) in
 * the layer's precision; random init is N(0, gain^2 / fan_in). */
tern_status tm_weight(tm_builder *b, const char *layer, int ndim,
                      const int64_t *shape, tm_role role, float gain, int *id);

tern_status tm_node(tm_builder *b, tern_op op, const char *name, int n_inputs,
                    const int *inputs, const tern_op_params *params, int *y);
tern_status tm_unary(tm_builder *b, tern_op op, const char *name, int x,
                     int *y);
tern_status tm_binary(tm_builder *b, tern_op op, const char *name, int x0,
                      int x1, int *y);
/* y = x · Wᵀ (+ b); weight "<layer>.weight" [out, in], bias "<layer>.bias". */
tern_status tm_linear(tm_builder *b, const char *layer, int x, int64_t in,
                      int64_t out, int bias, tm_role role, float gain, int *y);
/* 2-D convolution, square kernel k, weight [oc, ic/groups, k, k]. */
tern_status tm_conv(tm_builder *b, const char *layer, int x, int64_t ic,
                    int64_t oc, int k, int stride, int pad, int groups,
                    int bias, tm_role role, float gain, int *y);
/* Inference batch norm over c channels with "<name>.gamma/.beta/.mean/.var". */
tern_status tm_bn(tm_builder *b, const char *name, int x, int64_t c, int *y);

tern_status tm_meta_int(tm_builder *b, const char *key, long long v);
tern_status tm_meta_str(tm_builder *b, const char *key, const char *v);

/* The builders (one file each). */
tern_status tm_build_mlp(tm_builder *b);
tern_status tm_build_lenet5(tm_builder *b);
tern_status tm_build_resnet_mini(tm_builder *b);
tern_status tm_build_mobilenet_mini(tm_builder *b);
tern_status tm_build_bitnet_block(tm_builder *b);

#endif
