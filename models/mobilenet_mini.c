/* mobilenet_mini.c — a small depthwise-separable net on 3×32×32: conv3x3
 * stride 2 + bn + relu6, then `depth` blocks of depthwise 3x3 (groups = C)
 * + bn + relu6 + pointwise 1x1 + bn + relu6, global average pool, flatten,
 * linear. Channels follow MobileNet's doubling: width → 2w, 4w (stride 2),
 * 4w, 8w (stride 2), then 8w (default width 16, depth 4). */
#include "builder.h"

#include <stdio.h>

static tern_status separable(tm_builder *b, const char *name, int x,
                             int64_t cin, int64_t cout, int stride, int *y) {
  char n[160];
  tern_status s;
#define NM(suffix) (snprintf(n, sizeof n, "%s.%s", name, suffix), n)
  if ((s = tm_conv(b, NM("dw"), x, cin, cin, 3, stride, 1, (int)cin, 0, TM_MID,
                   1.414f, &x)) ||
      (s = tm_bn(b, NM("dw_bn"), x, cin, &x)) ||
      (s = tm_unary(b, TERN_OP_RELU6, NM("dw_relu6"), x, &x)) ||
      (s = tm_conv(b, NM("pw"), x, cin, cout, 1, 1, 0, 1, 0, TM_MID, 1.414f,
                   &x)) ||
      (s = tm_bn(b, NM("pw_bn"), x, cout, &x)) ||
      (s = tm_unary(b, TERN_OP_RELU6, NM("pw_relu6"), x, y)))
    return s;
#undef NM
  return TERN_OK;
}

tern_status tm_build_mobilenet_mini(tm_builder *b) {
  static const int mult[4] = {2, 4, 4, 8}, strides[4] = {1, 2, 1, 2};
  int64_t w = b->d.width > 0 ? b->d.width : 16;
  int depth = b->d.depth > 0 ? b->d.depth : 4;
  int64_t classes = b->d.classes > 0 ? b->d.classes : 10;
  int64_t shape[4] = {b->d.batch, 3, 32, 32};
  int x, y;
  tern_status s = tern_graph_add_input(b->g, "x", 4, shape, &x);
  if (s)
    return tm_fail(s, "mobilenet-mini: input: %s", tern_graph_errmsg(b->g));
  if ((s = tm_conv(b, "stem.conv", x, 3, w, 3, 2, 1, 1, 0, TM_EDGE, 1.414f,
                   &y)) ||
      (s = tm_bn(b, "stem.bn", y, w, &y)) ||
      (s = tm_unary(b, TERN_OP_RELU6, "stem.relu6", y, &y)))
    return s;
  int64_t cin = w;
  for (int i = 0; i < depth; i++) {
    int64_t cout = w * mult[i < 4 ? i : 3];
    int stride = i < 4 ? strides[i] : 1;
    char name[64];
    snprintf(name, sizeof name, "block%d", i);
    if ((s = separable(b, name, y, cin, cout, stride, &y)))
      return s;
    cin = cout;
  }
  tern_op_params flat = {0};
  flat.axis = 1;
  if ((s = tm_unary(b, TERN_OP_GLOBAL_AVGPOOL, "pool", y, &y)) ||
      (s = tm_node(b, TERN_OP_FLATTEN, "flatten", 1, &y, &flat, &y)) ||
      (s = tm_linear(b, "fc", y, cin, classes, 1, TM_EDGE, 1.0f, &y)))
    return s;
  if ((s = tern_graph_add_output(b->g, y)))
    return tm_fail(s, "mobilenet-mini: output: %s", tern_graph_errmsg(b->g));
  if ((s = tm_meta_int(b, "model.width", w)) ||
      (s = tm_meta_int(b, "model.depth", depth)) ||
      (s = tm_meta_int(b, "model.classes", classes)))
    return s;
  return TERN_OK;
}
