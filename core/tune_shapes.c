/* tune_shapes.c — what both GPU backends' tunables share (core/tuning.h):
 * the problems, the same on every device so that their database entries and
 * speed-ups compare across backends, and the parameter set-up. */
#include "tuning.h"

#include <string.h>

void tern_tune_param_set(tern_tune_param *p, const char *name, int n_values,
                         const int32_t *values, int32_t default_value) {
  p->name = name;
  p->n_values = n_values;
  memcpy(p->values, values, (size_t)n_values * sizeof *values);
  p->default_value = default_value;
  bool found = false;
  for (int v = 0; v < p->n_values; v++)
    found |= p->values[v] == default_value;
  if (!found && p->n_values < TERN_TUNE_MAX_VALUES)
    p->values[p->n_values++] = default_value;
}

#define CONV_P_(s_, p_, g_, act_)                                              \
  {                                                                            \
    .stride = {s_, s_}, .pad = {p_, p_}, .dilation = {1, 1}, .groups = g_,     \
    .activation = act_                                                         \
  }

const tern_tune_shape tern_tune_conv_shapes[3] = {
    {TERN_OP_CONV2D,
     TERN_DTYPE_TERNARY,
     {1, 16, 32, 32},
     {32, 16, 3, 3},
     true,
     CONV_P_(1, 1, 1, TERN_ACT_RELU)},
    {TERN_OP_CONV2D,
     TERN_DTYPE_I8,
     {1, 32, 16, 16},
     {64, 32, 3, 3},
     true,
     CONV_P_(1, 1, 1, TERN_ACT_RELU)},
    {TERN_OP_CONV2D,
     TERN_DTYPE_I8,
     {1, 32, 32, 32},
     {32, 1, 3, 3},
     true,
     CONV_P_(1, 1, 32, TERN_ACT_RELU6)},
};

const tern_tune_shape tern_tune_eltwise_shapes[3] = {
    {TERN_OP_RELU, TERN_DTYPE_F32, {1 << 16}, {0}, false, {{0}}},
    {TERN_OP_RELU, TERN_DTYPE_F32, {1 << 20}, {0}, false, {{0}}},
    {TERN_OP_GELU, TERN_DTYPE_F32, {1 << 18}, {0}, false, {{0}}},
};

const tern_tune_shape tern_tune_binary_shapes[2] = {
    {TERN_OP_ADD, TERN_DTYPE_F32, {1 << 16}, {0}, false, {{0}}},
    {TERN_OP_ADD, TERN_DTYPE_F32, {1 << 20}, {0}, false, {{0}}},
};
