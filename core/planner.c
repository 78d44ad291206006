/* planner.c — turns a graph into an execution plan: batch override and shape
 * re-inference, fusion of linear/conv2d + batchnorm + activation, and
 * activation memory offsets assigned by liveness (one arena). */
#include "planner.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define ARENA_ALIGN 256

static size_t align_up(size_t v) {
  return (v + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

/* Re-run shape inference over the clone after changing the batch. */
static tern_status reinfer(tern_graph *g, int64_t batch, tern_err *err) {
  if (batch > 0)
    for (int i = 0; i < g->n_inputs; i++)
      g->tensors[g->inputs[i]].shape[0] = batch;
  for (int i = 0; i < g->n_nodes; i++) {
    tern_view out;
    tern_status s = tern_node_infer(g, &g->nodes[i], &out, err);
    if (s)
      return tern_err_prefix(err, "with batch %lld", (long long)batch);
    tern_tensor *t = &g->tensors[g->nodes[i].output];
    t->ndim = out.ndim;
    memcpy(t->shape, out.shape, sizeof t->shape);
    t->dtype = out.dtype;
  }
  return TERN_OK;
}

static int *count_consumers(const tern_graph *g) {
  int *c = tern_calloc((size_t)g->n_tensors, sizeof(int));
  if (!c)
    return NULL;
  for (int i = 0; i < g->n_nodes; i++)
    for (int j = 0; j < g->nodes[i].n_inputs; j++)
      c[g->nodes[i].inputs[j]]++;
  for (int i = 0; i < g->n_outputs; i++)
    c[g->outputs[i]] += 1000; /* graph outputs are never fused away */
  return c;
}

static bool is_const(const tern_graph *g, int id) {
  return g->tensors[id].kind == TERN_TENSOR_CONSTANT;
}

/* Add an owned f32 constant to the graph; returns its id or -1. */
static int add_f32_const(tern_graph *g, const char *name, int ndim,
                         const int64_t *shape, float *data, size_t count) {
  tern_tensor t;
  memset(&t, 0, sizeof t);
  t.name = (char *)name;
  t.kind = TERN_TENSOR_CONSTANT;
  t.dtype = TERN_DTYPE_F32;
  t.ndim = ndim;
  memcpy(t.shape, shape, (size_t)ndim * sizeof(int64_t));
  t.data = data;
  t.data_bytes = count * sizeof(float);
  t.producer = -1;
  int id;
  if (tern_graph_push_tensor(g, &t, true, &id))
    return -1;
  return id;
}

/* Fold batchnorm node bn into the linear/conv node n (docs/NUMERICS.md). */
static tern_status fold_bn(tern_graph *g, tern_node *n, const tern_node *bn,
                           tern_err *err) {
  const tern_tensor *w = &g->tensors[n->inputs[1]];
  int64_t C = w->shape[0];
  for (int i = 1; i < 5; i++) {
    const tern_tensor *p = &g->tensors[bn->inputs[i]];
    if (!is_const(g, bn->inputs[i]) || p->dtype != TERN_DTYPE_F32 ||
        p->ndim != 1 || p->shape[0] != C)
      return TERN_ERR_UNSUPPORTED; /* not foldable: leave unfused */
  }
  const tern_tensor *out = &g->tensors[n->output];
  if (out->ndim < 2 || out->shape[1] != C ||
      (n->op == TERN_OP_LINEAR && out->ndim != 2))
    return TERN_ERR_UNSUPPORTED;
  const float *gamma = g->tensors[bn->inputs[1]].data;
  const float *beta = g->tensors[bn->inputs[2]].data;
  const float *mean = g->tensors[bn->inputs[3]].data;
  const float *var = g->tensors[bn->inputs[4]].data;
  float eps = bn->params.eps != 0 ? bn->params.eps : 1e-5f;
  const float *bias = n->n_inputs > 2 ? g->tensors[n->inputs[2]].data : NULL;
  float *k = tern_malloc((size_t)C * sizeof(float));
  float *nb = tern_malloc((size_t)C * sizeof(float));
  if (!k || !nb) {
    tern_free(k);
    tern_free(nb);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  for (int64_t c = 0; c < C; c++) {
    k[c] = gamma[c] / sqrtf(var[c] + eps);
    float b = bias ? bias[c] : 0.0f;
    float t = b - mean[c];
    t = t * k[c];
    nb[c] = t + beta[c];
  }
  char name[256];
  tern_status s = TERN_OK;
  int64_t cshape[1] = {C};
  snprintf(name, sizeof name, "%s.fused_bias", n->name);
  int bias_id = add_f32_const(g, name, 1, cshape, nb, (size_t)C);
  int w_id = -1;
  w = &g->tensors[n->inputs[1]]; /* the array may have moved */
  if (bias_id < 0) {
    s = TERN_ERR_OUT_OF_MEMORY;
  } else if (w->dtype == TERN_DTYPE_F32) {
    int64_t cols = tern_dims_prod(w->shape, 1, w->ndim);
    float *nw = tern_malloc(w->data_bytes);
    if (!nw) {
      s = TERN_ERR_OUT_OF_MEMORY;
    } else {
      const float *wd = w->data;
      for (int64_t c = 0; c < C; c++)
        for (int64_t j = 0; j < cols; j++)
          nw[c * cols + j] = wd[c * cols + j] * k[c];
      snprintf(name, sizeof name, "%s.fused_weight", n->name);
      tern_tensor t = *w;
      t.name = name;
      t.data = nw;
      w_id = -1;
      if (tern_graph_push_tensor(g, &t, true, &w_id))
        s = TERN_ERR_OUT_OF_MEMORY;
      tern_free(nw);
    }
  } else {
    float *ns = tern_malloc((size_t)C * sizeof(float));
    if (!ns) {
      s = TERN_ERR_OUT_OF_MEMORY;
    } else {
      for (int64_t c = 0; c < C; c++)
        ns[c] = w->scales[w->scale_count == 1 ? 0 : c] * k[c];
      snprintf(name, sizeof name, "%s.fused_weight", n->name);
      tern_tensor t = *w;
      t.name = name;
      t.scales = ns;
      t.scale_count = C;
      if (tern_graph_push_tensor(g, &t, true, &w_id))
        s = TERN_ERR_OUT_OF_MEMORY;
      tern_free(ns);
    }
  }
  tern_free(k);
  tern_free(nb);
  if (s)
    return tern_err_set(err, s, "out of memory fusing batchnorm");
  n->inputs[1] = w_id;
  n->inputs[2] = bias_id;
  n->n_inputs = 3;
  return TERN_OK;
}

static tern_activation act_of(tern_op op) {
  switch (op) {
  case TERN_OP_RELU:
    return TERN_ACT_RELU;
  case TERN_OP_RELU6:
    return TERN_ACT_RELU6;
  case TERN_OP_GELU:
    return TERN_ACT_GELU;
  case TERN_OP_SILU:
    return TERN_ACT_SILU;
  default:
    return TERN_ACT_NONE;
  }
}

/* The single consumer node of tensor id, or -1. */
static int sole_consumer(const tern_graph *g, const int *cons, int id,
                         const bool *dead) {
  if (cons[id] != 1)
    return -1;
  for (int i = 0; i < g->n_nodes; i++) {
    if (dead[i])
      continue;
    for (int j = 0; j < g->nodes[i].n_inputs; j++)
      if (g->nodes[i].inputs[j] == id)
        return i;
  }
  return -1;
}

static tern_status fuse(tern_graph *g, bool *dead, int *fused, tern_err *err) {
  int *cons = count_consumers(g);
  if (!cons)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  for (int i = 0; i < g->n_nodes; i++) {
    tern_node *n = &g->nodes[i];
    if (dead[i] || (n->op != TERN_OP_LINEAR && n->op != TERN_OP_CONV2D) ||
        !is_const(g, n->inputs[1]) ||
        (n->n_inputs > 2 && !is_const(g, n->inputs[2])))
      continue;
    int c = sole_consumer(g, cons, n->output, dead);
    if (c >= 0 && g->nodes[c].op == TERN_OP_BATCHNORM &&
        n->params.activation == TERN_ACT_NONE &&
        g->nodes[c].inputs[0] == n->output) {
      tern_status s = fold_bn(g, &g->nodes[i], &g->nodes[c], err);
      n = &g->nodes[i];
      if (s == TERN_OK) {
        dead[c] = true;
        n->output = g->nodes[c].output;
        (*fused)++;
        c = sole_consumer(g, cons, n->output, dead);
      } else if (s != TERN_ERR_UNSUPPORTED) {
        tern_free(cons);
        return s;
      } else {
        c = -1;
      }
    }
    if (c >= 0 && n->params.activation == TERN_ACT_NONE &&
        act_of(g->nodes[c].op) != TERN_ACT_NONE) {
      n->params.activation = act_of(g->nodes[c].op);
      dead[c] = true;
      n->output = g->nodes[c].output;
      (*fused)++;
    }
  }
  tern_free(cons);
  return TERN_OK;
}

/* Greedy placement by liveness: each tensor takes the lowest offset that
 * does not overlap a tensor alive at the same time. */
static tern_status assign_offsets(tern_plan *p, bool reuse, tern_err *err) {
  tern_graph *g = p->g;
  int nt = g->n_tensors;
  int *first = tern_malloc((size_t)nt * sizeof(int));
  int *last = tern_malloc((size_t)nt * sizeof(int));
  int *placed = tern_malloc((size_t)nt * sizeof(int));
  p->offset = tern_malloc((size_t)nt * sizeof(size_t));
  p->bytes = tern_calloc((size_t)nt, sizeof(size_t));
  if (!first || !last || !placed || !p->offset || !p->bytes) {
    tern_free(first);
    tern_free(last);
    tern_free(placed);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  for (int t = 0; t < nt; t++) {
    first[t] = -2;
    last[t] = -2;
    p->offset[t] = SIZE_MAX;
  }
  for (int i = 0; i < g->n_inputs; i++)
    first[g->inputs[i]] = last[g->inputs[i]] = -1;
  for (int k = 0; k < p->n_order; k++) {
    const tern_node *n = &g->nodes[p->order[k]];
    for (int j = 0; j < n->n_inputs; j++)
      if (!is_const(g, n->inputs[j]))
        last[n->inputs[j]] = k;
    first[n->output] = k;
    if (last[n->output] < k)
      last[n->output] = k;
  }
  /* outputs are read after the run; inputs keep their values across runs
   * (tern_session_run may be called again without set_input) */
  for (int i = 0; i < g->n_outputs; i++)
    last[g->outputs[i]] = p->n_order;
  for (int i = 0; i < g->n_inputs; i++)
    last[g->inputs[i]] = p->n_order;
  int n_placed = 0;
  size_t arena = 0, naive = 0;
  for (int k = -1; k < p->n_order; k++) {
    for (int t = 0; t < nt; t++) {
      if (first[t] != k || is_const(g, t))
        continue;
      size_t bytes = align_up(
          (size_t)tern_dims_prod(g->tensors[t].shape, 0, g->tensors[t].ndim) *
          sizeof(float));
      p->bytes[t] = bytes;
      naive += bytes;
      size_t off = reuse ? 0 : naive - bytes;
      if (reuse) {
        bool moved = true;
        while (moved) { /* first fit among overlapping live tensors */
          moved = false;
          for (int q = 0; q < n_placed; q++) {
            int u = placed[q];
            bool live = !(last[u] < first[t] || last[t] < first[u]);
            if (live && off < p->offset[u] + p->bytes[u] &&
                p->offset[u] < off + bytes) {
              off = p->offset[u] + p->bytes[u];
              moved = true;
            }
          }
        }
      }
      p->offset[t] = off;
      placed[n_placed++] = t;
      if (off + bytes > arena)
        arena = off + bytes;
    }
  }
  p->arena_bytes = arena;
  p->naive_bytes = naive;
  tern_free(first);
  tern_free(last);
  tern_free(placed);
  return TERN_OK;
}

tern_status tern_plan_build(const tern_graph *src, int64_t batch, bool fuse_ok,
                            bool reuse, tern_plan *p, tern_err *err) {
  memset(p, 0, sizeof *p);
  if (src->n_outputs == 0)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "graph has no outputs (tern_graph_add_output)");
  tern_status s = tern_graph_clone(src, &p->g, err);
  if (s)
    return s;
  s = reinfer(p->g, batch, err);
  bool *dead = tern_calloc((size_t)p->g->n_nodes + 1, sizeof(bool));
  if (!s && !dead)
    s = tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  if (!s && fuse_ok)
    s = fuse(p->g, dead, &p->fused_count, err);
  if (!s) {
    p->order = tern_malloc((size_t)(p->g->n_nodes + 1) * sizeof(int));
    if (!p->order)
      s = tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; !s && i < p->g->n_nodes; i++)
      if (!dead[i])
        p->order[p->n_order++] = i;
  }
  tern_free(dead);
  if (!s)
    s = assign_offsets(p, reuse, err);
  if (s)
    tern_plan_free(p);
  return s;
}

void tern_plan_free(tern_plan *p) {
  tern_graph_destroy(p->g);
  tern_free(p->order);
  tern_free(p->offset);
  tern_free(p->bytes);
  memset(p, 0, sizeof *p);
}

void tern_plan_exec_node(const tern_plan *p, const tern_node *n,
                         tern_exec_node *en) {
  memset(en, 0, sizeof *en);
  en->op = n->op;
  en->params = n->params;
  en->name = n->name;
  en->n_inputs = n->n_inputs;
  for (int j = 0; j < n->n_inputs; j++) {
    const tern_tensor *t = &p->g->tensors[n->inputs[j]];
    en->in[j] = tern_tensor_view(t);
    en->in_const[j] = t->kind == TERN_TENSOR_CONSTANT;
    if (!en->in_const[j])
      en->in[j].data = NULL;
  }
  en->out = tern_tensor_view(&p->g->tensors[n->output]);
  en->out.data = NULL;
}
