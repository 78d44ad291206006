/* model_file_save.c — tern_graph_save: serializes a graph into the .tern
 * format (docs/FORMAT.md) and writes it atomically. */
#include "model_file.h"

#include <string.h>

typedef struct wbuf {
  uint8_t *p;
  size_t n, cap;
  bool oom;
} wbuf;

static void wb_put(wbuf *b, const void *src, size_t n) {
  if (b->oom)
    return;
  if (b->cap - b->n < n) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc - b->n < n) {
      if (nc > SIZE_MAX / 2) {
        b->oom = true;
        return;
      }
      nc *= 2;
    }
    uint8_t *p = tern_realloc(b->p, nc);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = nc;
  }
  if (n)
    memcpy(b->p + b->n, src, n);
  b->n += n;
}
static void wb_u8(wbuf *b, uint8_t v) {
  wb_put(b, &v, 1);
}
static void wb_u32(wbuf *b, uint32_t v) {
  uint8_t t[4];
  tf_put_u32(t, v);
  wb_put(b, t, 4);
}
static void wb_u64(wbuf *b, uint64_t v) {
  uint8_t t[8];
  tf_put_u64(t, v);
  wb_put(b, t, 8);
}
static void wb_str(wbuf *b, const char *s) {
  size_t n = strlen(s);
  wb_u32(b, (uint32_t)n);
  wb_put(b, s, n);
}

/* One data blob of the data section: a tensor's data or its scales. */
typedef struct blob {
  const void *p;
  size_t bytes;
  uint64_t offset; /* from the start of the data section */
} blob;

typedef struct save_state {
  tern_graph *g;
  tern_err *err;
  wbuf meta, graph, tensors;
  blob *blobs;         /* 2 per tensor: data, scales */
  uint8_t **converted; /* per tensor: 1.58-bit form when stored so */
} save_state;

static tern_status check_string(save_state *s, const char *what, int index,
                                const char *str, size_t max) {
  size_t n = strlen(str);
  if (n == 0 && max != TF_MAX_VALUE) /* only metadata values may be empty */
    return tern_err_set(s->err, TERN_ERR_INVALID_ARGUMENT,
                        "cannot save: %s %d is empty", what, index);
  if (n > max)
    return tern_err_set(s->err, TERN_ERR_INVALID_ARGUMENT,
                        "cannot save: %s %d is %zu bytes long (at most %zu)",
                        what, index, n, max);
  if (!tern_tf_utf8_ok((const uint8_t *)str, n))
    return tern_err_set(s->err, TERN_ERR_INVALID_ARGUMENT,
                        "cannot save: %s %d ('%.64s') is not valid UTF-8", what,
                        index, str);
  return TERN_OK;
}

static tern_status save_metadata(save_state *s) {
  tern_graph *g = s->g;
  if ((unsigned)g->n_meta > TF_MAX_META)
    return tern_err_set(s->err, TERN_ERR_INVALID_ARGUMENT,
                        "cannot save: %d metadata entries (at most %u)",
                        g->n_meta, TF_MAX_META);
  wb_u32(&s->meta, (uint32_t)g->n_meta);
  for (int i = 0; i < g->n_meta; i++) {
    tern_status st =
        check_string(s, "metadata key", i, g->meta_keys[i], TF_MAX_NAME);
    if (!st)
      st =
          check_string(s, "metadata value", i, g->meta_values[i], TF_MAX_VALUE);
    if (st)
      return st;
    wb_str(&s->meta, g->meta_keys[i]);
    wb_str(&s->meta, g->meta_values[i]);
  }
  return TERN_OK;
}

static tern_status save_graph(save_state *s) {
  tern_graph *g = s->g;
  wb_u32(&s->graph, (uint32_t)g->n_inputs);
  for (int i = 0; i < g->n_inputs; i++)
    wb_u32(&s->graph, (uint32_t)g->inputs[i]);
  wb_u32(&s->graph, (uint32_t)g->n_outputs);
  for (int i = 0; i < g->n_outputs; i++)
    wb_u32(&s->graph, (uint32_t)g->outputs[i]);
  wb_u32(&s->graph, (uint32_t)g->n_nodes);
  for (int i = 0; i < g->n_nodes; i++) {
    const tern_node *n = &g->nodes[i];
    tern_status st = check_string(s, "node name", i, n->name, TF_MAX_NAME);
    if (st)
      return st;
    wb_u32(&s->graph, (uint32_t)n->op);
    wb_str(&s->graph, n->name);
    wb_u32(&s->graph, (uint32_t)n->n_inputs);
    for (int k = 0; k < n->n_inputs; k++)
      wb_u32(&s->graph, (uint32_t)n->inputs[k]);
    wb_u32(&s->graph, (uint32_t)n->output);
    uint32_t w[TF_PARAM_WORDS];
    tern_tf_params_to_words(&n->params, w);
    wb_u32(&s->graph, TF_PARAM_WORDS);
    for (unsigned k = 0; k < TF_PARAM_WORDS; k++)
      wb_u32(&s->graph, w[k]);
  }
  return TERN_OK;
}

/* A ternary tensor's 2-bit rows re-encoded as dense trits. */
static tern_status to_trits(save_state *s, const tern_tensor *t, int id,
                            uint8_t **out, size_t *out_bytes) {
  int64_t rows = t->shape[0], cols = tern_dims_prod(t->shape, 1, t->ndim);
  size_t nb = tern_trits_bytes(rows * cols);
  uint8_t *p = tern_malloc(nb);
  if (!p)
    return tern_err_set(s->err, TERN_ERR_OUT_OF_MEMORY,
                        "out of memory converting tensor %d to 1.58-bit", id);
  tern_tf_rows_to_trits(t->data, rows, cols, p);
  *out = p;
  *out_bytes = nb;
  return TERN_OK;
}

static uint64_t align_up(uint64_t v) {
  return (v + (TF_ALIGN - 1)) & ~(uint64_t)(TF_ALIGN - 1);
}

/* Lays out the data section and writes the tensor table. */
static tern_status save_tensors(save_state *s, tern_ternary_storage storage,
                                uint64_t *data_bytes) {
  tern_graph *g = s->g;
  uint64_t cursor = 0;
  int next_node = 0;
  wb_u32(&s->tensors, (uint32_t)g->n_tensors);
  for (int i = 0; i < g->n_tensors; i++) {
    const tern_tensor *t = &g->tensors[i];
    tern_status st = check_string(s, "tensor name", i, t->name, TF_MAX_NAME);
    if (st)
      return st;
    int form = tern_tf_canonical_storage(t->dtype);
    if (form < 0 || t->ndim < 0 || t->ndim > TERN_MAX_DIMS)
      return tern_err_set(s->err, TERN_ERR_INTERNAL,
                          "cannot save: tensor %d has dtype %d, ndim %d", i,
                          (int)t->dtype, t->ndim);
    /* The loader rebuilds ids in order: node k must produce the k-th
     * activation, which the builder guarantees. */
    if (t->kind == TERN_TENSOR_ACTIVATION &&
        (next_node >= g->n_nodes || g->nodes[next_node++].output != i))
      return tern_err_set(s->err, TERN_ERR_INTERNAL,
                          "cannot save: activation %d is not the output of "
                          "node %d",
                          i, next_node - 1);
    blob *bd = &s->blobs[2 * i], *bs = &s->blobs[2 * i + 1];
    uint32_t dcrc = 0, scrc = 0;
    if (t->kind == TERN_TENSOR_CONSTANT) {
      bd->p = t->data;
      bd->bytes = t->data_bytes;
      if (t->dtype == TERN_DTYPE_TERNARY && storage == TERN_STORE_158BIT) {
        st = to_trits(s, t, i, &s->converted[i], &bd->bytes);
        if (st)
          return st;
        bd->p = s->converted[i];
        form = ST_TERNARY_158;
      }
      cursor = align_up(cursor);
      bd->offset = cursor;
      cursor += bd->bytes;
      dcrc = tern_tf_crc(bd->p, bd->bytes);
      if (t->scale_count > 0) {
        bs->p = t->scales;
        bs->bytes = (size_t)t->scale_count * sizeof(float);
        cursor = align_up(cursor);
        bs->offset = cursor;
        cursor += bs->bytes;
        scrc = tern_tf_crc(bs->p, bs->bytes);
      }
    }
    wb_str(&s->tensors, t->name);
    wb_u8(&s->tensors, (uint8_t)t->kind);
    wb_u8(&s->tensors, (uint8_t)t->dtype);
    wb_u8(&s->tensors, (uint8_t)form);
    wb_u8(&s->tensors, (uint8_t)t->ndim);
    for (int d = 0; d < t->ndim; d++)
      wb_u64(&s->tensors, (uint64_t)t->shape[d]);
    wb_u64(&s->tensors, bd->offset);
    wb_u64(&s->tensors, bd->bytes);
    wb_u64(&s->tensors, bs->offset);
    wb_u64(&s->tensors, bs->bytes ? (uint64_t)t->scale_count : 0);
    wb_u32(&s->tensors, dcrc);
    wb_u32(&s->tensors, scrc);
  }
  if (next_node != g->n_nodes)
    return tern_err_set(s->err, TERN_ERR_INTERNAL,
                        "cannot save: %d nodes but %d activations", g->n_nodes,
                        next_node);
  *data_bytes = cursor;
  return TERN_OK;
}

static tern_status save_write(save_state *s, const char *path,
                              uint64_t data_bytes) {
  static const uint8_t zeros[TF_ALIGN];
  tern_graph *g = s->g;
  uint8_t header[TF_HEADER_BYTES];
  memset(header, 0, sizeof header);
  const wbuf *secs[3] = {&s->meta, &s->graph, &s->tensors};
  uint64_t off[TF_SECTIONS], len[TF_SECTIONS];
  uint32_t crc[TF_SECTIONS] = {0, 0, 0, 0};
  uint64_t pos = TF_HEADER_BYTES;
  for (int i = 0; i < 3; i++) {
    off[i] = pos;
    len[i] = secs[i]->n;
    crc[i] = tern_tf_crc(secs[i]->p, secs[i]->n);
    pos += len[i];
  }
  off[SEC_DATA] = align_up(pos);
  len[SEC_DATA] = data_bytes;
  uint64_t file_bytes = off[SEC_DATA] + data_bytes;
  memcpy(header, tern_tf_magic, 8);
  tf_put_u16(header + 8, TF_MAJOR);
  tf_put_u16(header + 10, TF_MINOR);
  tf_put_u32(header + 12, TF_HEADER_BYTES);
  tf_put_u32(header + 16, 0); /* flags */
  tf_put_u64(header + 24, file_bytes);
  for (int i = 0; i < TF_SECTIONS; i++) {
    uint8_t *d = header + 32 + 24 * i;
    tf_put_u64(d, off[i]);
    tf_put_u64(d + 8, len[i]);
    tf_put_u32(d + 16, crc[i]);
    tf_put_u32(d + 20, 0);
  }
  tf_put_u32(header + 20, tern_tf_crc(header, TF_HEADER_BYTES));

  /* Parts: header, three tables, padding, then padding + blob per blob. */
  int max_parts = 5 + 4 * g->n_tensors;
  const void **parts = tern_calloc((size_t)max_parts, sizeof *parts);
  size_t *sizes = tern_calloc((size_t)max_parts, sizeof *sizes);
  if (!parts || !sizes) {
    tern_free(parts);
    tern_free(sizes);
    return tern_err_set(s->err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  int n = 0;
  parts[n] = header, sizes[n++] = sizeof header;
  for (int i = 0; i < 3; i++)
    parts[n] = secs[i]->p, sizes[n++] = secs[i]->n;
  parts[n] = zeros, sizes[n++] = (size_t)(off[SEC_DATA] - pos);
  uint64_t cursor = 0;
  for (int i = 0; i < 2 * g->n_tensors; i++) {
    const blob *b = &s->blobs[i];
    if (!b->bytes)
      continue;
    parts[n] = zeros, sizes[n++] = (size_t)(b->offset - cursor);
    parts[n] = b->p, sizes[n++] = b->bytes;
    cursor = b->offset + b->bytes;
  }
  tern_status st = tern_write_file_atomic(path, parts, sizes, n, s->err);
  tern_free(parts);
  tern_free(sizes);
  return st;
}

tern_status tern_graph_save(tern_graph *g, const char *path,
                            const tern_save_desc *desc) {
  if (!g)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_graph_save: graph is NULL");
  tern_err_clear(&g->err);
  if (!path || !*path)
    return tern_err_set(&g->err, TERN_ERR_INVALID_ARGUMENT,
                        "tern_graph_save: path is NULL or empty");
  tern_ternary_storage storage = TERN_STORE_2BIT;
  if (desc) {
    if (desc->size < sizeof *desc)
      return tern_err_set(&g->err, TERN_ERR_INVALID_ARGUMENT,
                          "tern_graph_save: desc->size is not set");
    storage = desc->ternary_storage;
    if (storage != TERN_STORE_2BIT && storage != TERN_STORE_158BIT)
      return tern_err_set(&g->err, TERN_ERR_INVALID_ARGUMENT,
                          "tern_graph_save: unknown ternary_storage %d",
                          (int)storage);
  }
  if (!tern_tf_host_little_endian())
    return tern_err_set(&g->err, TERN_ERR_UNSUPPORTED,
                        "tern_graph_save: .tern files need a little-endian "
                        "host");
  save_state s;
  memset(&s, 0, sizeof s);
  s.g = g;
  s.err = &g->err;
  s.blobs = tern_calloc((size_t)g->n_tensors * 2 + 1, sizeof *s.blobs);
  s.converted = tern_calloc((size_t)g->n_tensors + 1, sizeof *s.converted);
  tern_status st = TERN_OK;
  uint64_t data_bytes = 0;
  if (!s.blobs || !s.converted)
    st = tern_err_set(&g->err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  if (!st)
    st = save_metadata(&s);
  if (!st)
    st = save_graph(&s);
  if (!st)
    st = save_tensors(&s, storage, &data_bytes);
  if (!st && (s.meta.oom || s.graph.oom || s.tensors.oom))
    st = tern_err_set(&g->err, TERN_ERR_OUT_OF_MEMORY,
                      "out of memory serializing the graph");
  if (!st)
    st = save_write(&s, path, data_bytes);
  if (s.converted)
    for (int i = 0; i < g->n_tensors; i++)
      tern_free(s.converted[i]);
  tern_free(s.converted);
  tern_free(s.blobs);
  tern_free(s.meta.p);
  tern_free(s.graph.p);
  tern_free(s.tensors.p);
  return st;
}
