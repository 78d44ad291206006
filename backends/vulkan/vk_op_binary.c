/* vk_op_binary.c — add and mul with numpy broadcasting (binary.comp).
 * The indexing path (same shape, repeated row, per channel, scalar or the
 * general decomposition) is chosen at prepare by tern_op_binary_plan.
 * Workgroup size and elements per invocation are the node's tunables
 * (kernel "binary"), captured at prepare; every path uses them. */
#include "core/ops/op_common.h"
#include "vk_internal.h"

#include <stdio.h>

typedef struct bin_data {
  uint32_t ndim, dims[6], sa[6], sb[6];
  uint32_t wg, ept;
  uint32_t mode;               /* binary.comp's MODE: the variant */
  uint32_t swap, cnt;          /* its push constants */
  tern_fastdiv cnt_d, inner_d; /* cnt >= 2, inner >= 2 where used */
} bin_data;

static bool bin_supports(tern_device *dev, const tern_exec_node *n) {
  (void)dev;
  return n->n_inputs == 2 && n->out.ndim <= 6;
}

/* Strides of `in` seen from the output's dims, 0 on broadcast dims. */
static void bstrides(const tern_view *in, int ndim, uint32_t *st) {
  uint32_t s = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    int id = d - (ndim - in->ndim);
    if (id < 0 || in->shape[id] == 1) {
      st[d] = 0;
    } else {
      st[d] = s;
    }
    if (id >= 0)
      s *= (uint32_t)in->shape[id];
  }
}

static tern_status bin_run(tern_device *dev, tern_vk_node *n,
                           tern_vk_binding *io, tern_err *err) {
  bin_data *d = n->data;
  uint64_t cnt = (uint64_t)tern_view_numel(&n->node.out);
  struct {
    uint32_t n, ndim, op, a_off, b_off, y_off, dims[6], sa[6], sb[6];
    uint32_t swap, cnt, cnt_m, cnt_s, inner_m, inner_s;
  } pc;
  pc.n = (uint32_t)cnt;
  pc.ndim = d->ndim;
  pc.op = n->node.op == TERN_OP_MUL;
  tern_vk_binding b[3] = {io[0], io[1], io[2]};
  /* texel reads only when both inputs have a view (constants have none) */
  bool tx = b[0].f1view && b[1].f1view;
  if (tx) {
    tern_vk_texel1(&b[0]);
    tern_vk_texel1(&b[1]);
  }
  pc.a_off = b[0].word;
  pc.b_off = b[1].word;
  pc.y_off = b[2].word;
  for (int i = 0; i < 6; i++) {
    pc.dims[i] = d->dims[i];
    pc.sa[i] = d->sa[i];
    pc.sb[i] = d->sb[i];
  }
  pc.swap = d->swap;
  pc.cnt = d->cnt;
  pc.cnt_m = d->cnt_d.m;
  pc.cnt_s = d->cnt_d.s;
  pc.inner_m = d->inner_d.m;
  pc.inner_s = d->inner_d.s;
  static const char *const shader[5][2] = {
      {"binary", "binary_tx"},
      {"binary_same", "binary_same_tx"},
      {"binary_row", "binary_row_tx"},
      {"binary_chan", "binary_chan_tx"},
      {"binary_scalar", "binary_scalar_tx"}};
  return tern_vk_run_1d_cfg(dev, shader[d->mode][tx], 3, tx ? 3 : 0, b, &pc,
                            sizeof pc, cnt, d->wg, d->ept, err);
}

static tern_status bin_prepare(tern_device *dev, tern_vk_node *n,
                               tern_err *err) {
  bin_data *d = tern_calloc(1, sizeof *d);
  if (!d)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  n->data = d;
  n->run = bin_run;
  d->wg = dev->tune.elt_wg;
  d->ept = dev->tune.elt_ept;
  snprintf(n->tuning, sizeof n->tuning, "elt_wg=%u elt_ept=%u", d->wg, d->ept);
  const tern_view *o = &n->node.out;
  tern_binary_plan plan;
  tern_op_binary_plan(&n->node.in[0], &n->node.in[1], o, &plan);
  /* the general path (mode 0) for a plan whose sizes do not fit 32 bits */
  if (plan.inner <= UINT32_MAX && plan.cnt <= UINT32_MAX) {
    d->mode = plan.kind == TERN_BINARY_SAME      ? 1
              : plan.kind == TERN_BINARY_ROW     ? 2
              : plan.kind == TERN_BINARY_CHANNEL ? 3
              : plan.kind == TERN_BINARY_SCALAR  ? 4
                                                 : 0;
    d->swap = plan.bcast_a;
    d->cnt = (uint32_t)plan.cnt;
    d->cnt_d = tern_fastdiv_make((uint32_t)plan.cnt);
    d->inner_d = tern_fastdiv_make((uint32_t)plan.inner);
  }
  tern_log(TERN_LOG_DEBUG, "vulkan: %s '%s' takes the %s path",
           tern_op_name(n->node.op), n->node.name ? n->node.name : "",
           tern_binary_kind_name(d->mode ? plan.kind : TERN_BINARY_GENERAL));
  d->ndim = (uint32_t)(o->ndim ? o->ndim : 1);
  for (int i = 0; i < 6; i++)
    d->dims[i] = 1;
  for (int i = 0; i < o->ndim; i++)
    d->dims[i] = (uint32_t)o->shape[i];
  if (o->ndim) {
    bstrides(&n->node.in[0], o->ndim, d->sa);
    bstrides(&n->node.in[1], o->ndim, d->sb);
  }
  tern_status s = tern_vk_upload_const(dev, n, 0, err);
  return s ? s : tern_vk_upload_const(dev, n, 1, err);
}

const tern_vk_op_impl tern_vk_op_binary = {bin_supports, bin_prepare};
