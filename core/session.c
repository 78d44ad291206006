/* session.c — the scheduler and executor: places each planned node on the
 * session's device (or the CPU as fallback), prepares it through the backend
 * vtable, and runs the plan, moving activations between devices as needed. */
#include "context.h"
#include "planner.h"

#include <stdio.h>
#include <string.h>

#define MAX_SLOTS 2 /* the chosen device, and the CPU for fallback */

typedef struct slot {
  const tern_backend_vtbl *vt;
  tern_device *dev;
  tern_buffer *arena;
  char id[32];
} slot;

typedef struct step {
  int node;
  int slot;
  void *prepared;
  tern_exec_node en;
} step;

struct tern_session {
  tern_err err;
  tern_plan plan;
  slot slots[MAX_SLOTS];
  int n_slots;
  step *steps;
  int n_steps;
  uint8_t *valid; /* per tensor: bit s set when slot s holds it */
  void *staging;  /* host bounce buffer for device-to-device moves */
  size_t staging_bytes;
  int fallback_count;
  uint64_t weight_bytes;
};

static tern_status slot_open(tern_session *s, tern_context *ctx, int dev_idx,
                             bool reference) {
  const tern_context_device *cd = &ctx->devices[dev_idx];
  slot *sl = &s->slots[s->n_slots];
  sl->vt = ctx->backends[cd->backend].vt;
  tern_backend_ctx *bctx = ctx->backends[cd->backend].ctx;
  tern_status st;
  if (reference)
    st = tern_cpu_device_open_mode(bctx, TERN_CPU_REFERENCE, &sl->dev, &s->err);
  else
    st = sl->vt->device_open(bctx, cd->index, &sl->dev, &s->err);
  if (st)
    return tern_err_prefix(&s->err, "opening device %s", cd->info.id);
  snprintf(sl->id, sizeof sl->id, "%s", reference ? "cpu:ref" : cd->info.id);
  s->n_slots++;
  if (s->plan.arena_bytes) {
    st =
        sl->vt->buffer_alloc(sl->dev, s->plan.arena_bytes, &sl->arena, &s->err);
    if (st)
      return tern_err_prefix(&s->err, "allocating %zu activation bytes on %s",
                             s->plan.arena_bytes, sl->id);
  }
  return TERN_OK;
}

void tern_session_destroy(tern_session *s) {
  if (!s)
    return;
  for (int i = 0; i < s->n_steps; i++)
    if (s->steps[i].prepared) {
      slot *sl = &s->slots[s->steps[i].slot];
      sl->vt->node_release(sl->dev, s->steps[i].prepared);
    }
  for (int i = s->n_slots - 1; i >= 0; i--) {
    if (s->slots[i].arena)
      s->slots[i].vt->buffer_free(s->slots[i].arena);
    s->slots[i].vt->device_close(s->slots[i].dev);
  }
  tern_free(s->steps);
  tern_free(s->valid);
  tern_free(s->staging);
  tern_plan_free(&s->plan);
  tern_free(s);
}

/* Place step sp on the CPU, opening the CPU slot on first use. */
static tern_status to_cpu_fallback(tern_session *s, tern_context *ctx,
                                   step *sp) {
  if (s->n_slots == 1) {
    tern_status st =
        slot_open(s, ctx, tern_context_find_device(ctx, "cpu:0"), false);
    if (st)
      return st;
  }
  sp->slot = 1;
  s->fallback_count++;
  return TERN_OK;
}

static tern_status session_build(tern_session *s, tern_context *ctx,
                                 const tern_graph *g,
                                 const tern_session_desc *d) {
  tern_status st =
      tern_plan_build(g, d ? d->batch : 0, !(d && d->no_fusion),
                      !(d && d->no_memory_reuse), &s->plan, &s->err);
  if (st)
    return st;
  bool reference = d && d->reference;
  const char *want = d && d->device ? d->device : "cpu:0";
  int dev = tern_context_find_device(ctx, reference ? "cpu:0" : want);
  if (dev < 0)
    return tern_err_set(&s->err, TERN_ERR_NO_DEVICE,
                        "no device '%s' (see tern_context_device_info for the "
                        "%d devices found)",
                        want, ctx->n_devices);
  st = slot_open(s, ctx, dev, reference);
  if (st)
    return st;
  bool primary_is_cpu =
      reference || strcmp(ctx->devices[dev].info.backend, "cpu") == 0;
  s->steps = tern_calloc((size_t)s->plan.n_order + 1, sizeof(step));
  s->valid = tern_calloc((size_t)s->plan.g->n_tensors + 1, 1);
  if (!s->steps || !s->valid)
    return tern_err_set(&s->err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  for (int k = 0; k < s->plan.n_order; k++) {
    step *sp = &s->steps[k];
    sp->node = s->plan.order[k];
    const tern_node *n = &s->plan.g->nodes[sp->node];
    tern_plan_exec_node(&s->plan, n, &sp->en);
    sp->slot = 0;
    if (!s->slots[0].vt->supports(s->slots[0].dev, &sp->en)) {
      if (d && d->no_fallback)
        return tern_err_set(&s->err, TERN_ERR_UNSUPPORTED,
                            "device %s does not support node '%s' (%s) and "
                            "fallback is off",
                            s->slots[0].id, n->name, tern_op_name(n->op));
      if (primary_is_cpu)
        return tern_err_set(&s->err, TERN_ERR_UNSUPPORTED,
                            "node '%s' (%s) is not supported by the CPU",
                            n->name, tern_op_name(n->op));
      if ((st = to_cpu_fallback(s, ctx, sp)))
        return st;
      tern_log(TERN_LOG_INFO, "node '%s' (%s) falls back to the CPU", n->name,
               tern_op_name(n->op));
    }
    slot *sl = &s->slots[sp->slot];
    st = sl->vt->node_prepare(sl->dev, &sp->en, &sp->prepared, &s->err);
    if (st && sp->slot == 0 && !primary_is_cpu && !(d && d->no_fallback)) {
      /* a device that fails to compile a node (driver bug, build error)
       * hands it to the CPU rather than failing the whole session */
      tern_log(TERN_LOG_WARN,
               "%s: preparing node '%s' failed (%s); using "
               "the CPU",
               sl->id, n->name, s->err.msg);
      if ((st = to_cpu_fallback(s, ctx, sp)))
        return st;
      sl = &s->slots[1];
      st = sl->vt->node_prepare(sl->dev, &sp->en, &sp->prepared, &s->err);
    }
    if (st)
      return tern_err_prefix(&s->err, "preparing node '%s' on %s", n->name,
                             sl->id);
    s->n_steps = k + 1;
    for (int j = 0; j < n->n_inputs; j++)
      if (sp->en.in_const[j])
        s->weight_bytes += s->plan.g->tensors[n->inputs[j]].data_bytes +
                           (size_t)sp->en.in[j].scale_count * sizeof(float);
  }
  return TERN_OK;
}

tern_status tern_session_create(tern_context *ctx, const tern_graph *g,
                                const tern_session_desc *d,
                                tern_session **out) {
  if (!ctx || !g || !out)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_session_create: NULL argument");
  if (d && d->size < sizeof(size_t))
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_session_create: desc->size is not set");
  tern_session *s = tern_calloc(1, sizeof *s);
  if (!s)
    return tern_err_set(NULL, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  tern_status st = session_build(s, ctx, g, d);
  if (st) {
    tern_err_publish(&s->err);
    ctx->err = s->err;
    tern_session_destroy(s);
    return st;
  }
  *out = s;
  return TERN_OK;
}

const char *tern_session_errmsg(const tern_session *s) {
  return s ? s->err.msg : "session is NULL";
}

static tern_status io_tensor(tern_session *s, bool input, int i, int *id) {
  tern_graph *g = s->plan.g;
  int n = input ? g->n_inputs : g->n_outputs;
  if (i < 0 || i >= n)
    return tern_err_set(&s->err, TERN_ERR_INVALID_ARGUMENT,
                        "%s %d does not exist (the graph has %d)",
                        input ? "input" : "output", i, n);
  *id = input ? g->inputs[i] : g->outputs[i];
  return TERN_OK;
}

static size_t tensor_elems(const tern_session *s, int id) {
  const tern_tensor *t = &s->plan.g->tensors[id];
  return (size_t)tern_dims_prod(t->shape, 0, t->ndim);
}

tern_status tern_session_set_input(tern_session *s, int i, const float *data,
                                   size_t count) {
  if (!s || !data)
    return tern_err_set(s ? &s->err : NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_session_set_input: NULL argument");
  int id = 0;
  tern_status st = io_tensor(s, true, i, &id);
  if (st)
    return st;
  if (count != tensor_elems(s, id)) {
    char b[96];
    const tern_tensor *t = &s->plan.g->tensors[id];
    return tern_err_set(&s->err, TERN_ERR_SHAPE,
                        "input %d ('%s') has shape %s = %zu values, %zu given",
                        i, t->name,
                        tern_shape_str(t->ndim, t->shape, b, sizeof b),
                        tensor_elems(s, id), count);
  }
  slot *sl = &s->slots[0];
  st = sl->vt->buffer_write(sl->arena, s->plan.offset[id], data,
                            count * sizeof(float), &s->err);
  if (st)
    return st;
  s->valid[id] = 1;
  return TERN_OK;
}

/* Make tensor id present on slot dst, copying from a slot that has it. */
static tern_status make_valid(tern_session *s, int id, int dst) {
  if (s->valid[id] & (1u << dst))
    return TERN_OK;
  int src = -1;
  for (int k = 0; k < s->n_slots; k++)
    if (s->valid[id] & (1u << k))
      src = k;
  if (src < 0)
    return tern_err_set(&s->err, TERN_ERR_INVALID_ARGUMENT,
                        "tensor '%s' has no value: set every input before "
                        "tern_session_run",
                        s->plan.g->tensors[id].name);
  size_t bytes = tensor_elems(s, id) * sizeof(float);
  if (bytes > s->staging_bytes) {
    void *p = tern_realloc(s->staging, bytes);
    if (!p)
      return tern_err_set(&s->err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
    s->staging = p;
    s->staging_bytes = bytes;
  }
  size_t off = s->plan.offset[id];
  tern_status st = s->slots[src].vt->buffer_read(s->slots[src].arena, off,
                                                 s->staging, bytes, &s->err);
  if (!st)
    st = s->slots[dst].vt->buffer_write(s->slots[dst].arena, off, s->staging,
                                        bytes, &s->err);
  if (!st)
    s->valid[id] |= (uint8_t)(1u << dst);
  return st;
}

tern_status tern_session_run(tern_session *s) {
  if (!s)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT, "session is NULL");
  tern_graph *g = s->plan.g;
  for (int k = 0; k < s->n_steps; k++) {
    step *sp = &s->steps[k];
    const tern_node *n = &g->nodes[sp->node];
    tern_buffer *bufs[TERN_MAX_INPUTS + 1];
    size_t offs[TERN_MAX_INPUTS + 1];
    for (int j = 0; j < n->n_inputs; j++) {
      bufs[j] = NULL;
      offs[j] = 0;
      if (sp->en.in_const[j])
        continue;
      tern_status st = make_valid(s, n->inputs[j], sp->slot);
      if (st)
        return st;
      bufs[j] = s->slots[sp->slot].arena;
      offs[j] = s->plan.offset[n->inputs[j]];
    }
    bufs[n->n_inputs] = s->slots[sp->slot].arena;
    offs[n->n_inputs] = s->plan.offset[n->output];
    slot *sl = &s->slots[sp->slot];
    tern_status st =
        sl->vt->node_run(sl->dev, sp->prepared, bufs, offs, &s->err);
    if (st)
      return tern_err_prefix(&s->err, "running node '%s' (%s) on %s", n->name,
                             tern_op_name(n->op), sl->id);
    s->valid[n->output] = (uint8_t)(1u << sp->slot);
  }
  for (int k = 0; k < s->n_slots; k++) {
    tern_status st = s->slots[k].vt->sync(s->slots[k].dev, &s->err);
    if (st)
      return st;
  }
  /* inputs must be set again before the next run only if the caller wants
   * new values: keep them valid where they are */
  return TERN_OK;
}

tern_status tern_session_get_output(tern_session *s, int i, float *data,
                                    size_t count) {
  if (!s || !data)
    return tern_err_set(s ? &s->err : NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_session_get_output: NULL argument");
  int id = 0;
  tern_status st = io_tensor(s, false, i, &id);
  if (st)
    return st;
  if (count != tensor_elems(s, id))
    return tern_err_set(&s->err, TERN_ERR_SHAPE,
                        "output %d has %zu values, %zu requested", i,
                        tensor_elems(s, id), count);
  int src = -1;
  for (int k = 0; k < s->n_slots; k++)
    if (s->valid[id] & (1u << k))
      src = k;
  if (src < 0)
    return tern_err_set(&s->err, TERN_ERR_INVALID_ARGUMENT,
                        "output %d has no value yet: call tern_session_run", i);
  return s->slots[src].vt->buffer_read(s->slots[src].arena, s->plan.offset[id],
                                       data, count * sizeof(float), &s->err);
}

static tern_status io_shape(const tern_session *s, bool input, int i, int *ndim,
                            int64_t *shape) {
  if (!s || !ndim || !shape)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT, "NULL argument");
  const tern_graph *g = s->plan.g;
  int n = input ? g->n_inputs : g->n_outputs;
  if (i < 0 || i >= n)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "%s %d does not exist (the graph has %d)",
                        input ? "input" : "output", i, n);
  const tern_tensor *t = &g->tensors[input ? g->inputs[i] : g->outputs[i]];
  *ndim = t->ndim;
  memcpy(shape, t->shape, sizeof(int64_t) * TERN_MAX_DIMS);
  return TERN_OK;
}

tern_status tern_session_input_shape(const tern_session *s, int i, int *ndim,
                                     int64_t shape[TERN_MAX_DIMS]) {
  return io_shape(s, true, i, ndim, shape);
}

tern_status tern_session_output_shape(const tern_session *s, int i, int *ndim,
                                      int64_t shape[TERN_MAX_DIMS]) {
  return io_shape(s, false, i, ndim, shape);
}

tern_status tern_session_get_info(const tern_session *s,
                                  tern_session_info *info) {
  if (!s || !info || info->size < sizeof *info)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_session_get_info: NULL argument or info->size "
                        "not set");
  size_t sz = info->size;
  memset(info, 0, sizeof *info);
  info->size = sz;
  info->node_count = s->n_steps;
  info->fused_count = s->plan.fused_count;
  info->fallback_count = s->fallback_count;
  info->peak_activation_bytes = s->plan.arena_bytes;
  info->naive_activation_bytes = s->plan.naive_bytes;
  info->weight_bytes = s->weight_bytes;
  snprintf(info->device, sizeof info->device, "%s", s->slots[0].id);
  return TERN_OK;
}

tern_status tern_session_node_placement(const tern_session *s, int index,
                                        tern_op *op, const char **name,
                                        const char **device) {
  if (!s || index < 0 || index >= s->n_steps)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_session_node_placement: no node %d", index);
  const step *sp = &s->steps[index];
  if (op)
    *op = sp->en.op;
  if (name)
    *name = sp->en.name;
  if (device)
    *device = s->slots[sp->slot].id;
  return TERN_OK;
}
