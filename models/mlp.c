/* mlp.c — the zoo's multilayer perceptron: 784 → width → width/2 → classes
 * (default 784-256-128-10) with relu between the layers. */
#include "builder.h"

tern_status tm_build_mlp(tm_builder *b) {
  int64_t h1 = b->d.width > 0 ? b->d.width : 256;
  int64_t h2 = h1 / 2 > 0 ? h1 / 2 : 1;
  int64_t classes = b->d.classes > 0 ? b->d.classes : 10;
  int64_t shape[2] = {b->d.batch, 784};
  int x, y;
  tern_status s = tern_graph_add_input(b->g, "x", 2, shape, &x);
  if (s)
    return tm_fail(s, "mlp: input: %s", tern_graph_errmsg(b->g));
  if ((s = tm_linear(b, "fc1", x, 784, h1, 1, TM_EDGE, 1.414f, &y)) ||
      (s = tm_unary(b, TERN_OP_RELU, "relu1", y, &y)) ||
      (s = tm_linear(b, "fc2", y, h1, h2, 1, TM_MID, 1.414f, &y)) ||
      (s = tm_unary(b, TERN_OP_RELU, "relu2", y, &y)) ||
      (s = tm_linear(b, "fc3", y, h2, classes, 1, TM_EDGE, 1.0f, &y)))
    return s;
  if ((s = tern_graph_add_output(b->g, y)))
    return tm_fail(s, "mlp: output: %s", tern_graph_errmsg(b->g));
  if ((s = tm_meta_int(b, "model.width", h1)) ||
      (s = tm_meta_int(b, "model.classes", classes)))
    return s;
  return TERN_OK;
}
