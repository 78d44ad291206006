/* graph.c — the graph builder: tensors, nodes (with shape inference as they
 * are added), inputs/outputs, metadata, queries and deep copies. */
#include "tern_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define GROW(g, arr, n, cap, type)                                             \
  do {                                                                         \
    if ((g)->n == (g)->cap) {                                                  \
      int nc_ = (g)->cap ? (g)->cap * 2 : 8;                                   \
      type *p_ = tern_realloc((g)->arr, (size_t)nc_ * sizeof(type));           \
      if (!p_)                                                                 \
        return tern_err_set(&(g)->err, TERN_ERR_OUT_OF_MEMORY,                 \
                            "out of memory");                                  \
      (g)->arr = p_;                                                           \
      (g)->cap = nc_;                                                          \
    }                                                                          \
  } while (0)

tern_status tern_graph_create(tern_graph **out) {
  if (!out)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_graph_create: out is NULL");
  tern_graph *g = tern_calloc(1, sizeof *g);
  if (!g)
    return tern_err_set(NULL, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  *out = g;
  return TERN_OK;
}

void tern_graph_destroy(tern_graph *g) {
  if (!g)
    return;
  for (int i = 0; i < g->n_tensors; i++) {
    tern_tensor *t = &g->tensors[i];
    tern_free(t->name);
    if (t->owns_data) {
      tern_free(t->data);
      tern_free(t->scales);
    }
  }
  for (int i = 0; i < g->n_nodes; i++)
    tern_free(g->nodes[i].name);
  for (int i = 0; i < g->n_meta; i++) {
    tern_free(g->meta_keys[i]);
    tern_free(g->meta_values[i]);
  }
  tern_free(g->tensors);
  tern_free(g->nodes);
  tern_free(g->inputs);
  tern_free(g->outputs);
  tern_free(g->meta_keys);
  tern_free(g->meta_values);
  if (g->mapping)
    munmap(g->mapping, g->mapping_bytes);
  tern_free(g);
}

const char *tern_graph_errmsg(const tern_graph *g) {
  return g ? g->err.msg : "graph is NULL";
}

tern_view tern_tensor_view(const tern_tensor *t) {
  tern_view v;
  memset(&v, 0, sizeof v);
  v.dtype = t->dtype;
  v.ndim = t->ndim;
  memcpy(v.shape, t->shape, sizeof v.shape);
  v.data = t->data;
  v.scales = t->scales;
  v.scale_count = t->scale_count;
  return v;
}

static tern_status check_shape(int ndim, const int64_t *shape, tern_err *err,
                               const char *what) {
  if (ndim < 0 || ndim > TERN_MAX_DIMS)
    return tern_err_set(err, TERN_ERR_SHAPE, "%s: ndim %d is outside 0..%d",
                        what, ndim, TERN_MAX_DIMS);
  if (ndim && !shape)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT, "%s: shape is NULL",
                        what);
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] <= 0 || shape[i] > ((int64_t)1 << 40))
      return tern_err_set(err, TERN_ERR_SHAPE,
                          "%s: dimension %d is %lld (must be 1..2^40)", what, i,
                          (long long)shape[i]);
    if (n > ((int64_t)1 << 40) / shape[i])
      return tern_err_set(err, TERN_ERR_SHAPE, "%s: element count overflows",
                          what);
    n *= shape[i];
  }
  return TERN_OK;
}

tern_status tern_graph_push_tensor(tern_graph *g, const tern_tensor *t,
                                   bool copy, int *out_id) {
  GROW(g, tensors, n_tensors, cap_tensors, tern_tensor);
  tern_tensor n = *t;
  n.name = tern_strdup(t->name);
  if (!n.name)
    return tern_err_set(&g->err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  if (copy) {
    n.data = NULL;
    n.scales = NULL;
    if (t->data_bytes) {
      n.data = tern_malloc(t->data_bytes);
      if (n.data)
        memcpy(n.data, t->data, t->data_bytes);
    }
    if (t->scale_count) {
      n.scales = tern_malloc((size_t)t->scale_count * sizeof(float));
      if (n.scales)
        memcpy(n.scales, t->scales, (size_t)t->scale_count * sizeof(float));
    }
    if ((t->data_bytes && !n.data) || (t->scale_count && !n.scales)) {
      tern_free(n.data);
      tern_free(n.scales);
      tern_free(n.name);
      return tern_err_set(&g->err, TERN_ERR_OUT_OF_MEMORY,
                          "out of memory copying tensor '%s'", t->name);
    }
    n.owns_data = true;
  }
  g->tensors[g->n_tensors] = n;
  if (out_id)
    *out_id = g->n_tensors;
  g->n_tensors++;
  return TERN_OK;
}

tern_status tern_graph_add_input(tern_graph *g, const char *name, int ndim,
                                 const int64_t *shape, int *out_id) {
  if (!g)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT, "graph is NULL");
  tern_err_clear(&g->err);
  tern_status s = check_shape(ndim, shape, &g->err, "input");
  if (s)
    return s;
  if (ndim < 1)
    return tern_err_set(&g->err, TERN_ERR_SHAPE,
                        "input '%s' needs at least one dimension (the batch)",
                        name ? name : "");
  GROW(g, inputs, n_inputs, cap_inputs, int);
  tern_tensor t;
  memset(&t, 0, sizeof t);
  char def[32];
  snprintf(def, sizeof def, "input%d", g->n_inputs);
  t.name = (char *)(name && *name ? name : def);
  t.kind = TERN_TENSOR_INPUT;
  t.dtype = TERN_DTYPE_F32;
  t.ndim = ndim;
  memcpy(t.shape, shape, (size_t)ndim * sizeof(int64_t));
  t.producer = -1;
  int id;
  s = tern_graph_push_tensor(g, &t, false, &id);
  if (s)
    return s;
  g->inputs[g->n_inputs++] = id;
  if (out_id)
    *out_id = id;
  return TERN_OK;
}

tern_status tern_constant_check(const char *name, tern_dtype dtype, int ndim,
                                const int64_t *shape, size_t data_bytes,
                                int64_t scale_count, tern_err *err) {
  tern_status s = check_shape(ndim, shape, err, name);
  if (s)
    return s;
  if (ndim < 1)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "constant '%s' needs at least one dimension", name);
  int64_t rows = shape[0], cols = tern_dims_prod(shape, 1, ndim);
  if (!tern_dtype_name(dtype) || dtype == TERN_DTYPE_COUNT_)
    return tern_err_set(err, TERN_ERR_DTYPE, "constant '%s': unknown dtype %d",
                        name, (int)dtype);
  size_t need = tern_dtype_bytes(dtype, rows, cols);
  if (need != data_bytes)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "constant '%s': %s %lld x %lld needs %zu bytes, got "
                        "%zu",
                        name, tern_dtype_name(dtype), (long long)rows,
                        (long long)cols, need, data_bytes);
  bool quant = dtype == TERN_DTYPE_I8 || dtype == TERN_DTYPE_TERNARY;
  if (quant && scale_count != 1 && scale_count != rows)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "constant '%s': %s needs 1 or %lld scales, got %lld",
                        name, tern_dtype_name(dtype), (long long)rows,
                        (long long)scale_count);
  if (!quant && scale_count != 0)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "constant '%s': %s takes no scales, got %lld", name,
                        tern_dtype_name(dtype), (long long)scale_count);
  return TERN_OK;
}

tern_status tern_graph_add_constant(tern_graph *g, const tern_constant_desc *d,
                                    int *out_id) {
  if (!g)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT, "graph is NULL");
  tern_err_clear(&g->err);
  if (!d || d->size < sizeof(tern_constant_desc) || !d->data)
    return tern_err_set(&g->err, TERN_ERR_INVALID_ARGUMENT,
                        "tern_graph_add_constant: desc or its data is NULL, "
                        "or desc->size is not set");
  char def[32];
  snprintf(def, sizeof def, "const%d", g->n_tensors);
  const char *name = d->name && *d->name ? d->name : def;
  tern_status s = tern_constant_check(name, d->dtype, d->ndim, d->shape,
                                      d->data_bytes, d->scale_count, &g->err);
  if (s)
    return s;
  if (d->scale_count && !d->scales)
    return tern_err_set(&g->err, TERN_ERR_INVALID_ARGUMENT,
                        "constant '%s': scales is NULL", name);
  if (d->dtype == TERN_DTYPE_TERNARY) {
    int64_t rows = d->shape[0], cols = tern_dims_prod(d->shape, 1, d->ndim);
    const uint8_t *p = d->data;
    for (int64_t r = 0; r < rows; r++)
      for (int64_t j = 0; j < cols; j++)
        if (tern_ternary_get(p + r * ((cols + 3) / 4), j) == 3)
          return tern_err_set(&g->err, TERN_ERR_INVALID_ARGUMENT,
                              "constant '%s': invalid ternary code 3 at row "
                              "%lld col %lld",
                              name, (long long)r, (long long)j);
  }
  tern_tensor t;
  memset(&t, 0, sizeof t);
  t.name = (char *)name;
  t.kind = TERN_TENSOR_CONSTANT;
  t.dtype = d->dtype;
  t.ndim = d->ndim;
  memcpy(t.shape, d->shape, (size_t)d->ndim * sizeof(int64_t));
  t.data = (void *)d->data;
  t.data_bytes = d->data_bytes;
  t.scales = (float *)d->scales;
  t.scale_count = d->scale_count;
  t.producer = -1;
  return tern_graph_push_tensor(g, &t, true, out_id);
}

tern_status tern_node_infer(const tern_graph *g, const tern_node *n,
                            tern_view *out, tern_err *err) {
  const tern_op_def *def = tern_op_get(n->op);
  if (!def)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT, "unknown op %d",
                        (int)n->op);
  if (n->n_inputs < def->min_inputs || n->n_inputs > def->max_inputs)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "%s '%s': %d inputs given, it takes %d..%d", def->name,
                        n->name ? n->name : "", n->n_inputs, def->min_inputs,
                        def->max_inputs);
  tern_view in[TERN_MAX_INPUTS];
  for (int i = 0; i < n->n_inputs; i++) {
    int id = n->inputs[i];
    if (id < 0 || id >= g->n_tensors)
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "%s '%s': input %d refers to tensor %d, the graph "
                          "has %d",
                          def->name, n->name ? n->name : "", i, id,
                          g->n_tensors);
    in[i] = tern_tensor_view(&g->tensors[id]);
    in[i].data = NULL; /* inference never reads data */
  }
  memset(out, 0, sizeof *out);
  tern_status s = def->infer(&n->params, in, n->n_inputs, out, err);
  if (s)
    return tern_err_prefix(err, "node '%s'", n->name ? n->name : def->name);
  return TERN_OK;
}

tern_status tern_graph_add_node(tern_graph *g, const tern_node_desc *d,
                                int *out_id) {
  if (!g)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT, "graph is NULL");
  tern_err_clear(&g->err);
  if (!d || d->size < sizeof(tern_node_desc))
    return tern_err_set(&g->err, TERN_ERR_INVALID_ARGUMENT,
                        "tern_graph_add_node: desc is NULL or desc->size is "
                        "not set");
  tern_node n;
  memset(&n, 0, sizeof n);
  n.op = d->op;
  n.n_inputs = d->n_inputs;
  if (d->n_inputs < 0 || d->n_inputs > TERN_MAX_INPUTS)
    return tern_err_set(&g->err, TERN_ERR_INVALID_ARGUMENT,
                        "node has %d inputs (max %d)", d->n_inputs,
                        TERN_MAX_INPUTS);
  memcpy(n.inputs, d->inputs, sizeof n.inputs);
  n.params = d->params;
  char def[48];
  const char *opname = tern_op_name(d->op);
  snprintf(def, sizeof def, "%s%d", opname ? opname : "op", g->n_nodes);
  n.name = (char *)(d->name && *d->name ? d->name : def);
  tern_view out;
  tern_status s = tern_node_infer(g, &n, &out, &g->err);
  if (s)
    return s;
  GROW(g, nodes, n_nodes, cap_nodes, tern_node);
  tern_tensor t;
  memset(&t, 0, sizeof t);
  t.name = n.name;
  t.kind = TERN_TENSOR_ACTIVATION;
  t.dtype = out.dtype;
  t.ndim = out.ndim;
  memcpy(t.shape, out.shape, sizeof t.shape);
  t.producer = g->n_nodes;
  int id;
  s = tern_graph_push_tensor(g, &t, false, &id);
  if (s)
    return s;
  n.name = tern_strdup(n.name);
  if (!n.name)
    return tern_err_set(&g->err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  n.output = id;
  g->nodes[g->n_nodes++] = n;
  if (out_id)
    *out_id = id;
  return TERN_OK;
}

tern_status tern_graph_add_output(tern_graph *g, int id) {
  if (!g)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT, "graph is NULL");
  tern_err_clear(&g->err);
  if (id < 0 || id >= g->n_tensors)
    return tern_err_set(&g->err, TERN_ERR_INVALID_ARGUMENT,
                        "output tensor %d does not exist (graph has %d)", id,
                        g->n_tensors);
  if (g->tensors[id].kind == TERN_TENSOR_CONSTANT)
    return tern_err_set(&g->err, TERN_ERR_INVALID_ARGUMENT,
                        "tensor %d ('%s') is a constant and cannot be an "
                        "output",
                        id, g->tensors[id].name);
  GROW(g, outputs, n_outputs, cap_outputs, int);
  g->outputs[g->n_outputs++] = id;
  return TERN_OK;
}

tern_status tern_graph_set_metadata(tern_graph *g, const char *key,
                                    const char *value) {
  if (!g)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT, "graph is NULL");
  if (!key || !*key || !value)
    return tern_err_set(&g->err, TERN_ERR_INVALID_ARGUMENT,
                        "metadata key must be non-empty and value non-NULL");
  char *v = tern_strdup(value);
  if (!v)
    return tern_err_set(&g->err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  for (int i = 0; i < g->n_meta; i++)
    if (strcmp(g->meta_keys[i], key) == 0) {
      tern_free(g->meta_values[i]);
      g->meta_values[i] = v;
      return TERN_OK;
    }
  if (g->n_meta == g->cap_meta) {
    int nc = g->cap_meta ? g->cap_meta * 2 : 8;
    char **k = tern_realloc(g->meta_keys, (size_t)nc * sizeof(char *));
    if (k)
      g->meta_keys = k;
    char **vv =
        k ? tern_realloc(g->meta_values, (size_t)nc * sizeof(char *)) : NULL;
    if (!vv) {
      tern_free(v);
      return tern_err_set(&g->err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    g->meta_values = vv;
    g->cap_meta = nc;
  }
  char *k = tern_strdup(key);
  if (!k) {
    tern_free(v);
    return tern_err_set(&g->err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  g->meta_keys[g->n_meta] = k;
  g->meta_values[g->n_meta++] = v;
  return TERN_OK;
}

const char *tern_graph_get_metadata(const tern_graph *g, const char *key) {
  if (!g || !key)
    return NULL;
  for (int i = 0; i < g->n_meta; i++)
    if (strcmp(g->meta_keys[i], key) == 0)
      return g->meta_values[i];
  return NULL;
}

int tern_graph_tensor_count(const tern_graph *g) {
  return g ? g->n_tensors : 0;
}
int tern_graph_node_count(const tern_graph *g) {
  return g ? g->n_nodes : 0;
}
int tern_graph_input_count(const tern_graph *g) {
  return g ? g->n_inputs : 0;
}
int tern_graph_output_count(const tern_graph *g) {
  return g ? g->n_outputs : 0;
}

tern_status tern_graph_input(const tern_graph *g, int i, int *id) {
  if (!g || !id || i < 0 || i >= g->n_inputs)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_graph_input: no input %d", i);
  *id = g->inputs[i];
  return TERN_OK;
}

tern_status tern_graph_output(const tern_graph *g, int i, int *id) {
  if (!g || !id || i < 0 || i >= g->n_outputs)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_graph_output: no output %d", i);
  *id = g->outputs[i];
  return TERN_OK;
}

tern_status tern_graph_tensor_info(const tern_graph *g, int id,
                                   tern_tensor_info *info) {
  if (!g || !info || info->size < sizeof *info)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_graph_tensor_info: NULL argument or info->size "
                        "not set");
  if (id < 0 || id >= g->n_tensors)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_graph_tensor_info: no tensor %d (graph has %d)",
                        id, g->n_tensors);
  const tern_tensor *t = &g->tensors[id];
  size_t sz = info->size;
  memset(info, 0, sizeof *info);
  info->size = sz;
  info->name = t->name;
  info->kind = t->kind;
  info->dtype = t->dtype;
  info->ndim = t->ndim;
  memcpy(info->shape, t->shape, sizeof info->shape);
  info->data_bytes = t->data_bytes;
  info->scale_count = t->scale_count;
  info->data = t->data;
  info->scales = t->scales;
  return TERN_OK;
}

tern_status tern_graph_node_info(const tern_graph *g, int index,
                                 tern_node_info *info) {
  if (!g || !info || info->size < sizeof *info)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_graph_node_info: NULL argument or info->size "
                        "not set");
  if (index < 0 || index >= g->n_nodes)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_graph_node_info: no node %d (graph has %d)",
                        index, g->n_nodes);
  const tern_node *n = &g->nodes[index];
  size_t sz = info->size;
  memset(info, 0, sizeof *info);
  info->size = sz;
  info->op = n->op;
  info->name = n->name;
  info->n_inputs = n->n_inputs;
  memcpy(info->inputs, n->inputs, sizeof info->inputs);
  info->output = n->output;
  info->params = n->params;
  return TERN_OK;
}

tern_status tern_graph_clone(const tern_graph *src, tern_graph **out,
                             tern_err *err) {
  tern_graph *g;
  tern_status s = tern_graph_create(&g);
  if (s)
    return tern_err_set(err, s, "out of memory");
  for (int i = 0; i < src->n_tensors && !s; i++)
    s = tern_graph_push_tensor(g, &src->tensors[i], true, NULL);
  for (int i = 0; i < src->n_nodes && !s; i++) {
    if (g->n_nodes == g->cap_nodes) {
      int nc = g->cap_nodes ? g->cap_nodes * 2 : 8;
      tern_node *p = tern_realloc(g->nodes, (size_t)nc * sizeof *p);
      if (!p) {
        s = TERN_ERR_OUT_OF_MEMORY;
        break;
      }
      g->nodes = p;
      g->cap_nodes = nc;
    }
    g->nodes[g->n_nodes] = src->nodes[i];
    g->nodes[g->n_nodes].name = tern_strdup(src->nodes[i].name);
    if (!g->nodes[g->n_nodes].name)
      s = TERN_ERR_OUT_OF_MEMORY;
    else
      g->n_nodes++;
  }
  for (int i = 0; i < src->n_inputs && !s; i++) {
    if (g->n_inputs == g->cap_inputs) {
      int *p = tern_realloc(g->inputs, (size_t)(g->cap_inputs + 8) * sizeof *p);
      if (!p) {
        s = TERN_ERR_OUT_OF_MEMORY;
        break;
      }
      g->inputs = p;
      g->cap_inputs += 8;
    }
    g->inputs[g->n_inputs++] = src->inputs[i];
  }
  for (int i = 0; i < src->n_outputs && !s; i++)
    s = tern_graph_add_output(g, src->outputs[i]);
  for (int i = 0; i < src->n_meta && !s; i++)
    s = tern_graph_set_metadata(g, src->meta_keys[i], src->meta_values[i]);
  if (s) {
    tern_graph_destroy(g);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY,
                        "out of memory copying the graph");
  }
  *out = g;
  return TERN_OK;
}
