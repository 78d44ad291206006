/* lenet5.c — LeNet-5 on 1×28×28: conv5x5(6, pad 2) → relu → maxpool2 →
 * conv5x5(16) → relu → maxpool2 → flatten → 120 → relu → 84 → relu →
 * classes. `width` scales the conv channels (conv1 = width, conv2 =
 * width*8/3). */
#include "builder.h"

tern_status tm_build_lenet5(tm_builder *b) {
  int64_t c1 = b->d.width > 0 ? b->d.width : 6;
  int64_t c2 = c1 * 8 / 3 > 0 ? c1 * 8 / 3 : 1;
  int64_t classes = b->d.classes > 0 ? b->d.classes : 10;
  int64_t shape[4] = {b->d.batch, 1, 28, 28};
  int x, y;
  tern_status s = tern_graph_add_input(b->g, "x", 4, shape, &x);
  if (s)
    return tm_fail(s, "lenet5: input: %s", tern_graph_errmsg(b->g));
  tern_op_params pool = {0};
  pool.kernel[0] = pool.kernel[1] = 2;
  pool.stride[0] = pool.stride[1] = 2;
  tern_op_params flat = {0};
  flat.axis = 1;
  /* 28 → conv(pad 2) 28 → pool 14 → conv 10 → pool 5 */
  if ((s = tm_conv(b, "conv1", x, 1, c1, 5, 1, 2, 1, 1, TM_EDGE, 1.414f, &y)) ||
      (s = tm_unary(b, TERN_OP_RELU, "relu1", y, &y)) ||
      (s = tm_node(b, TERN_OP_MAXPOOL2D, "pool1", 1, &y, &pool, &y)) ||
      (s = tm_conv(b, "conv2", y, c1, c2, 5, 1, 0, 1, 1, TM_MID, 1.414f, &y)) ||
      (s = tm_unary(b, TERN_OP_RELU, "relu2", y, &y)) ||
      (s = tm_node(b, TERN_OP_MAXPOOL2D, "pool2", 1, &y, &pool, &y)) ||
      (s = tm_node(b, TERN_OP_FLATTEN, "flatten", 1, &y, &flat, &y)) ||
      (s = tm_linear(b, "fc1", y, c2 * 25, 120, 1, TM_MID, 1.414f, &y)) ||
      (s = tm_unary(b, TERN_OP_RELU, "relu3", y, &y)) ||
      (s = tm_linear(b, "fc2", y, 120, 84, 1, TM_MID, 1.414f, &y)) ||
      (s = tm_unary(b, TERN_OP_RELU, "relu4", y, &y)) ||
      (s = tm_linear(b, "fc3", y, 84, classes, 1, TM_EDGE, 1.0f, &y)))
    return s;
  if ((s = tern_graph_add_output(b->g, y)))
    return tm_fail(s, "lenet5: output: %s", tern_graph_errmsg(b->g));
  if ((s = tm_meta_int(b, "model.width", c1)) ||
      (s = tm_meta_int(b, "model.classes", classes)))
    return s;
  return TERN_OK;
}
