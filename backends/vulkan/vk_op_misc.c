/* vk_op_misc.c — the small reshaping/positional ops on Vulkan: causal_mask
 * (causal_mask.comp), rope (rope.comp, with the cos/sin table computed on
 * the host by the reference's formula) and permute (permute.comp). */
#include "vk_internal.h"

#include <math.h>

/* ---------------------------------------------------------- causal_mask */
static bool cm_supports(tern_device *dev, const tern_exec_node *n) {
  (void)dev;
  const tern_view *x = &n->in[0];
  return x->ndim >= 2;
}

static tern_status cm_run(tern_device *dev, tern_vk_node *n,
                          tern_vk_binding *io, tern_err *err) {
  const tern_view *x = &n->node.in[0];
  uint64_t cnt = (uint64_t)tern_view_numel(x);
  struct {
    uint32_t n, T, S, x_off, y_off;
  } pc = {(uint32_t)cnt, (uint32_t)x->shape[x->ndim - 2],
          (uint32_t)x->shape[x->ndim - 1], io[0].word, io[1].word};
  return tern_vk_run_1d(dev, "causal_mask", 2, io, &pc, sizeof pc, cnt, err);
}

static tern_status simple_prepare(tern_device *dev, tern_vk_node *n,
                                  tern_err *err) {
  return tern_vk_upload_const(dev, n, 0, err);
}

static tern_status cm_prepare(tern_device *dev, tern_vk_node *n,
                              tern_err *err) {
  n->run = cm_run;
  return simple_prepare(dev, n, err);
}

const tern_vk_op_impl tern_vk_op_causal_mask = {cm_supports, cm_prepare};

/* ------------------------------------------------------------------ rope */
typedef struct rope_data {
  tern_vk_mem *table;
} rope_data;

static bool rope_supports(tern_device *dev, const tern_exec_node *n) {
  (void)dev;
  const tern_view *x = &n->in[0];
  return x->ndim >= 2 && x->shape[x->ndim - 1] % 2 == 0 &&
         x->shape[x->ndim - 2] * x->shape[x->ndim - 1] <= ((int64_t)1 << 26);
}

static tern_status rope_run(tern_device *dev, tern_vk_node *n,
                            tern_vk_binding *io, tern_err *err) {
  rope_data *d = n->data;
  const tern_view *x = &n->node.in[0];
  uint64_t pairs = (uint64_t)tern_view_numel(x) / 2;
  struct {
    uint32_t n, T, H, x_off, y_off;
  } pc = {(uint32_t)pairs, (uint32_t)x->shape[x->ndim - 2],
          (uint32_t)x->shape[x->ndim - 1] / 2, io[0].word, io[1].word};
  tern_vk_binding b[3] = {io[0], tern_vk_bind(dev, d->table, 0), io[1]};
  return tern_vk_run_1d(dev, "rope", 3, b, &pc, sizeof pc, pairs, err);
}

static tern_status rope_prepare(tern_device *dev, tern_vk_node *n,
                                tern_err *err) {
  const tern_view *x = &n->node.in[0];
  rope_data *d = tern_calloc(1, sizeof *d);
  if (!d)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  n->data = d;
  n->run = rope_run;
  int64_t T = x->shape[x->ndim - 2], D = x->shape[x->ndim - 1], H = D / 2;
  float theta = n->node.params.theta != 0 ? n->node.params.theta : 10000.0f;
  size_t bytes = (size_t)(T * H) * 8;
  float *tab = tern_malloc(bytes ? bytes : 8);
  if (!tab)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  /* The reference's formula, step by step (core/ops/rope.c). */
  for (int64_t i = 0; i < H; i++) {
    float inv = powf(theta, -(float)(2 * i) / (float)D);
    for (int64_t t = 0; t < T; t++) {
      float angle = (float)t * inv;
      tab[(t * H + i) * 2] = cosf(angle);
      tab[(t * H + i) * 2 + 1] = sinf(angle);
    }
  }
  tern_status s = TERN_OK;
  d->table = tern_vk_node_scratch(dev, n, bytes ? bytes : 8, err);
  if (!d->table)
    s = err->status;
  else if (bytes)
    s = tern_vk_mem_write(dev, d->table, 0, tab, bytes, err);
  tern_free(tab);
  return s ? s : simple_prepare(dev, n, err);
}

const tern_vk_op_impl tern_vk_op_rope = {rope_supports, rope_prepare};

/* --------------------------------------------------------------- permute */
static bool perm_supports(tern_device *dev, const tern_exec_node *n) {
  (void)dev;
  return n->in[0].ndim == n->params.ndim && n->params.ndim <= 6;
}

static tern_status perm_run(tern_device *dev, tern_vk_node *n,
                            tern_vk_binding *io, tern_err *err) {
  const tern_view *x = &n->node.in[0], *y = &n->node.out;
  struct {
    uint32_t n, ndim, x_off, y_off, dims[6], st[6];
  } pc = {0};
  uint64_t cnt = (uint64_t)tern_view_numel(y);
  pc.n = (uint32_t)cnt;
  pc.ndim = (uint32_t)y->ndim;
  pc.x_off = io[0].word;
  pc.y_off = io[1].word;
  uint32_t in_st[6], s = 1;
  for (int d = x->ndim - 1; d >= 0; d--) {
    in_st[d] = s;
    s *= (uint32_t)x->shape[d];
  }
  for (int i = 0; i < y->ndim; i++) {
    pc.dims[i] = (uint32_t)y->shape[i];
    pc.st[i] = in_st[n->node.params.perm[i]];
  }
  return tern_vk_run_1d(dev, "permute", 2, io, &pc, sizeof pc, cnt, err);
}

static tern_status perm_prepare(tern_device *dev, tern_vk_node *n,
                                tern_err *err) {
  n->run = perm_run;
  return simple_prepare(dev, n, err);
}

const tern_vk_op_impl tern_vk_op_permute = {perm_supports, perm_prepare};
