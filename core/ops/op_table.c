/* op_table.c — one row per op: name, input arity, shape inference and the
 * naive reference. */
#include "tern_internal.h"

#include <string.h>

static const tern_op_def k_ops[TERN_OP_COUNT_] = {
    [TERN_OP_LINEAR] = {"linear", 2, 3, tern_infer_LINEAR, tern_ref_LINEAR},
    [TERN_OP_CONV2D] = {"conv2d", 2, 3, tern_infer_CONV2D, tern_ref_CONV2D},
    [TERN_OP_BATCHNORM] = {"batchnorm", 5, 5, tern_infer_BATCHNORM,
                           tern_ref_BATCHNORM},
    [TERN_OP_RELU] = {"relu", 1, 1, tern_infer_RELU, tern_ref_RELU},
    [TERN_OP_RELU6] = {"relu6", 1, 1, tern_infer_RELU6, tern_ref_RELU6},
    [TERN_OP_GELU] = {"gelu", 1, 1, tern_infer_GELU, tern_ref_GELU},
    [TERN_OP_SILU] = {"silu", 1, 1, tern_infer_SILU, tern_ref_SILU},
    [TERN_OP_ADD] = {"add", 2, 2, tern_infer_ADD, tern_ref_ADD},
    [TERN_OP_MUL] = {"mul", 2, 2, tern_infer_MUL, tern_ref_MUL},
    [TERN_OP_MAXPOOL2D] = {"maxpool2d", 1, 1, tern_infer_MAXPOOL2D,
                           tern_ref_MAXPOOL2D},
    [TERN_OP_AVGPOOL2D] = {"avgpool2d", 1, 1, tern_infer_AVGPOOL2D,
                           tern_ref_AVGPOOL2D},
    [TERN_OP_GLOBAL_AVGPOOL] = {"global_avgpool", 1, 1,
                                tern_infer_GLOBAL_AVGPOOL,
                                tern_ref_GLOBAL_AVGPOOL},
    [TERN_OP_FLATTEN] = {"flatten", 1, 1, tern_infer_FLATTEN, tern_ref_FLATTEN},
    [TERN_OP_RESHAPE] = {"reshape", 1, 1, tern_infer_RESHAPE, tern_ref_RESHAPE},
    [TERN_OP_CONCAT] = {"concat", 2, TERN_MAX_INPUTS, tern_infer_CONCAT,
                        tern_ref_CONCAT},
    [TERN_OP_SOFTMAX] = {"softmax", 1, 1, tern_infer_SOFTMAX, tern_ref_SOFTMAX},
    [TERN_OP_LAYERNORM] = {"layernorm", 3, 3, tern_infer_LAYERNORM,
                           tern_ref_LAYERNORM},
    [TERN_OP_RMSNORM] = {"rmsnorm", 2, 2, tern_infer_RMSNORM, tern_ref_RMSNORM},
    [TERN_OP_MATMUL] = {"matmul", 2, 2, tern_infer_MATMUL, tern_ref_MATMUL},
    [TERN_OP_CAUSAL_MASK] = {"causal_mask", 1, 1, tern_infer_CAUSAL_MASK,
                             tern_ref_CAUSAL_MASK},
    [TERN_OP_ROPE] = {"rope", 1, 1, tern_infer_ROPE, tern_ref_ROPE},
    [TERN_OP_PERMUTE] = {"permute", 1, 1, tern_infer_PERMUTE, tern_ref_PERMUTE},
};

const tern_op_def *tern_op_get(tern_op op) {
  return (unsigned)op < TERN_OP_COUNT_ ? &k_ops[op] : NULL;
}

const char *tern_op_name(tern_op op) {
  return (unsigned)op < TERN_OP_COUNT_ ? k_ops[op].name : NULL;
}

tern_status tern_op_from_name(const char *name, tern_op *op) {
  if (!name || !op)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_op_from_name: NULL argument");
  for (int i = 0; i < TERN_OP_COUNT_; i++)
    if (strcmp(k_ops[i].name, name) == 0) {
      *op = (tern_op)i;
      return TERN_OK;
    }
  return tern_err_set(NULL, TERN_ERR_NOT_FOUND, "unknown op '%s'", name);
}
