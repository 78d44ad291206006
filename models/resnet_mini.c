/* resnet_mini.c — a CIFAR-style residual net on 3×32×32: stem conv3x3 + bn
 * + relu, three stages of basic blocks (conv-bn-relu-conv-bn + shortcut,
 * add, relu; a strided 1x1 conv + bn projection when the shape changes),
 * global average pool, flatten, linear. Channels width, 2·width, 4·width
 * (default 16/32/64), `depth` blocks per stage (default 1). */
#include "builder.h"

#include <stdio.h>

static tern_status basic_block(tm_builder *b, const char *name, int x,
                               int64_t cin, int64_t cout, int stride, int *y) {
  char n[160], m[160];
  int h, sc = x;
  tern_status s;
#define NM(suffix) (snprintf(n, sizeof n, "%s.%s", name, suffix), n)
#define NM2(suffix) (snprintf(m, sizeof m, "%s.%s", name, suffix), m)
  if ((s = tm_conv(b, NM("conv1"), x, cin, cout, 3, stride, 1, 1, 0, TM_MID,
                   1.414f, &h)) ||
      (s = tm_bn(b, NM("bn1"), h, cout, &h)) ||
      (s = tm_unary(b, TERN_OP_RELU, NM("relu1"), h, &h)) ||
      (s = tm_conv(b, NM("conv2"), h, cout, cout, 3, 1, 1, 1, 0, TM_MID, 1.0f,
                   &h)) ||
      (s = tm_bn(b, NM("bn2"), h, cout, &h)))
    return s;
  if (stride != 1 || cin != cout) {
    if ((s = tm_conv(b, NM("proj"), x, cin, cout, 1, stride, 0, 1, 0, TM_MID,
                     1.0f, &sc)) ||
        (s = tm_bn(b, NM2("proj_bn"), sc, cout, &sc)))
      return s;
  }
  if ((s = tm_binary(b, TERN_OP_ADD, NM("add"), h, sc, &h)) ||
      (s = tm_unary(b, TERN_OP_RELU, NM("relu2"), h, y)))
    return s;
#undef NM
#undef NM2
  return TERN_OK;
}

tern_status tm_build_resnet_mini(tm_builder *b) {
  int64_t w = b->d.width > 0 ? b->d.width : 16;
  int depth = b->d.depth > 0 ? b->d.depth : 1;
  int64_t classes = b->d.classes > 0 ? b->d.classes : 10;
  int64_t shape[4] = {b->d.batch, 3, 32, 32};
  int x, y;
  tern_status s = tern_graph_add_input(b->g, "x", 4, shape, &x);
  if (s)
    return tm_fail(s, "resnet-mini: input: %s", tern_graph_errmsg(b->g));
  if ((s = tm_conv(b, "stem.conv", x, 3, w, 3, 1, 1, 1, 0, TM_EDGE, 1.414f,
                   &y)) ||
      (s = tm_bn(b, "stem.bn", y, w, &y)) ||
      (s = tm_unary(b, TERN_OP_RELU, "stem.relu", y, &y)))
    return s;
  int64_t cin = w;
  for (int st = 0; st < 3; st++) {
    int64_t cout = w << st;
    for (int i = 0; i < depth; i++) {
      char name[64];
      snprintf(name, sizeof name, "stage%d.block%d", st + 1, i);
      int stride = (st > 0 && i == 0) ? 2 : 1;
      if ((s = basic_block(b, name, y, cin, cout, stride, &y)))
        return s;
      cin = cout;
    }
  }
  tern_op_params flat = {0};
  flat.axis = 1;
  if ((s = tm_unary(b, TERN_OP_GLOBAL_AVGPOOL, "pool", y, &y)) ||
      (s = tm_node(b, TERN_OP_FLATTEN, "flatten", 1, &y, &flat, &y)) ||
      (s = tm_linear(b, "fc", y, cin, classes, 1, TM_EDGE, 1.0f, &y)))
    return s;
  if ((s = tern_graph_add_output(b->g, y)))
    return tm_fail(s, "resnet-mini: output: %s", tern_graph_errmsg(b->g));
  if ((s = tm_meta_int(b, "model.width", w)) ||
      (s = tm_meta_int(b, "model.depth", depth)) ||
      (s = tm_meta_int(b, "model.classes", classes)))
    return s;
  return TERN_OK;
}
