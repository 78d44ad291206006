/* model_file.c — loading .tern files (docs/FORMAT.md): every byte is
 * validated before the graph is rebuilt through the ordinary builder, from a
 * mapping, a read file or a caller's buffer. */
#include "model_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct lctx {
  const uint8_t *buf;
  size_t size;
  const char *src; /* path or "<memory>", for messages */
  tern_err *err;
  unsigned minor;
  uint64_t sec_off[TF_SECTIONS], sec_len[TF_SECTIONS];
} lctx;

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static tern_status
fail(lctx *c, tern_status status, size_t off, const char *fmt, ...) {
  char msg[TERN_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return tern_err_set(c->err, status, "%s: %s at byte %zu: %s", c->src,
                      status == TERN_ERR_VERSION ? "unsupported version"
                                                 : "corrupt file",
                      off, msg);
}
#define CORRUPT(c, off, ...)                                                   \
  fail((c), TERN_ERR_CORRUPT_FILE, (off), __VA_ARGS__)

#define TRY(expr)                                                              \
  do {                                                                         \
    tern_status s_ = (expr);                                                   \
    if (s_)                                                                    \
      return s_;                                                               \
  } while (0)

/* A bounded cursor over one section; `what` names the entry being read. */
typedef struct rd {
  lctx *c;
  size_t pos, end;
  int sec;
  char what[96];
} rd;

static tern_status rd_need(rd *r, size_t n, const char *field) {
  if (r->end - r->pos < n)
    return CORRUPT(r->c, r->pos,
                   "%s section: %s%sfield '%s' needs %zu bytes but the "
                   "section ends at byte %zu",
                   tern_tf_section_name[r->sec], r->what, *r->what ? " " : "",
                   field, n, r->end);
  return TERN_OK;
}
static tern_status rd_u8(rd *r, const char *field, uint8_t *v) {
  TRY(rd_need(r, 1, field));
  *v = r->c->buf[r->pos++];
  return TERN_OK;
}
static tern_status rd_u32(rd *r, const char *field, uint32_t *v) {
  TRY(rd_need(r, 4, field));
  *v = tf_get_u32(r->c->buf + r->pos);
  r->pos += 4;
  return TERN_OK;
}
static tern_status rd_u64(rd *r, const char *field, uint64_t *v) {
  TRY(rd_need(r, 8, field));
  *v = tf_get_u64(r->c->buf + r->pos);
  r->pos += 8;
  return TERN_OK;
}
/* A count of entries of at least min_entry bytes each: bounded by what the
 * rest of the section can hold, so no allocation can be driven by it. */
static tern_status rd_count(rd *r, const char *field, size_t min_entry,
                            uint32_t limit, uint32_t *v) {
  size_t at = r->pos;
  TRY(rd_u32(r, field, v));
  if (*v > limit || (size_t)*v > (r->end - r->pos) / min_entry)
    return CORRUPT(r->c, at,
                   "%s section: %s%s%s is %u, more than the %zu bytes left "
                   "in the section can hold (or above the limit %u)",
                   tern_tf_section_name[r->sec], r->what, *r->what ? " " : "",
                   field, *v, r->end - r->pos, limit);
  return TERN_OK;
}

/* Strings are copied NUL-terminated into an arena sized by the tables, which
 * always has room: each string costs 4 + len bytes in the file, len + 1 here.
 */
typedef struct arena {
  char *p;
  size_t used, cap;
} arena;

static tern_status rd_str(rd *r, arena *a, const char *field, uint32_t max,
                          bool allow_empty, char **out) {
  size_t at = r->pos;
  uint32_t len;
  TRY(rd_u32(r, field, &len));
  if (len > max)
    return CORRUPT(r->c, at, "%s section: %s %s length %u exceeds %u",
                   tern_tf_section_name[r->sec], r->what, field, len, max);
  if (!len && !allow_empty)
    return CORRUPT(r->c, at, "%s section: %s %s is empty",
                   tern_tf_section_name[r->sec], r->what, field);
  TRY(rd_need(r, len, field));
  const uint8_t *s = r->c->buf + r->pos;
  if (!tern_tf_utf8_ok(s, len))
    return CORRUPT(r->c, r->pos,
                   "%s section: %s %s is not valid UTF-8 or holds a NUL byte",
                   tern_tf_section_name[r->sec], r->what, field);
  if (a->cap - a->used < (size_t)len + 1)
    return fail(r->c, TERN_ERR_INTERNAL, at, "string arena exhausted");
  char *d = a->p + a->used;
  memcpy(d, s, len);
  d[len] = 0;
  a->used += (size_t)len + 1;
  r->pos += len;
  *out = d;
  return TERN_OK;
}

typedef struct ftensor {
  char *name;
  size_t at; /* byte offset of the entry */
  uint8_t kind, dtype, storage, ndim;
  int64_t shape[TERN_MAX_DIMS];
  uint64_t data_off, data_bytes, scale_off, scale_count;
  uint32_t data_crc, scale_crc;
  size_t shape_at, data_at; /* offsets of the fields, for messages */
} ftensor;

typedef struct fnode {
  char *name;
  size_t at;
  uint32_t op, n_inputs, output;
  int inputs[TERN_MAX_INPUTS];
  tern_op_params params;
} fnode;

typedef struct fgraph {
  arena strings;
  char **meta_k, **meta_v;
  uint32_t n_meta;
  uint32_t *inputs, *outputs;
  uint32_t n_inputs, n_outputs;
  size_t inputs_at, outputs_at;
  fnode *nodes;
  uint32_t n_nodes;
  ftensor *tensors;
  uint32_t n_tensors;
} fgraph;

static void fgraph_free(fgraph *f) {
  tern_free(f->strings.p);
  tern_free(f->meta_k);
  tern_free(f->meta_v);
  tern_free(f->inputs);
  tern_free(f->outputs);
  tern_free(f->nodes);
  tern_free(f->tensors);
}

static tern_status oom(lctx *c) {
  return tern_err_set(c->err, TERN_ERR_OUT_OF_MEMORY,
                      "%s: out of memory while loading", c->src);
}

static rd section_reader(lctx *c, int sec) {
  rd r;
  memset(&r, 0, sizeof r);
  r.c = c;
  r.sec = sec;
  r.pos = (size_t)c->sec_off[sec];
  r.end = (size_t)(c->sec_off[sec] + c->sec_len[sec]);
  return r;
}

/* Trailing bytes are an error, unless a newer minor version may have
 * appended fields this reader does not know. */
static tern_status rd_done(rd *r) {
  if (r->pos != r->end && r->c->minor <= TF_MINOR)
    return CORRUPT(r->c, r->pos, "%s section has %zu unexpected trailing bytes",
                   tern_tf_section_name[r->sec], r->end - r->pos);
  return TERN_OK;
}

/* --------------------------------------------------------------- header */
static tern_status check_zero(lctx *c, uint64_t from, uint64_t to,
                              const char *what) {
  for (uint64_t i = from; i < to; i++)
    if (c->buf[i])
      return CORRUPT(c, (size_t)i, "%s byte is 0x%02x, must be zero", what,
                     c->buf[i]);
  return TERN_OK;
}

typedef struct span {
  uint64_t off, len;
  const char *what;
  int index;
} span;

static int span_cmp(const void *a, const void *b) {
  const span *x = a, *y = b;
  if (x->off != y->off)
    return x->off < y->off ? -1 : 1;
  return x->len < y->len ? -1 : x->len > y->len;
}

static tern_status parse_header(lctx *c) {
  const uint8_t *b = c->buf;
  if (c->size == 0)
    return CORRUPT(c, 0, "the file is empty");
  if (c->size < 8 || memcmp(b, tern_tf_magic, 8) != 0)
    return CORRUPT(c, 0, "not a .tern file (bad magic; %zu bytes)", c->size);
  if (c->size < 16)
    return CORRUPT(c, c->size,
                   "truncated: the file is %zu bytes, the fixed header needs "
                   "%u",
                   c->size, TF_HEADER_BYTES);
  unsigned major = tf_get_u16(b + 8), minor = tf_get_u16(b + 10);
  if (major != TF_MAJOR)
    return fail(c, TERN_ERR_VERSION, 8,
                "format version %u.%u; this reader (tern %s) reads version "
                "%d.x%s",
                major, minor, tern_version_string(), TF_MAJOR,
                major > TF_MAJOR ? ": upgrade tern to read this file" : "");
  c->minor = minor;
  uint32_t hb = tf_get_u32(b + 12);
  if (hb < TF_HEADER_BYTES || hb % 8 || hb > (1u << 16))
    return CORRUPT(c, 12,
                   "header_bytes is %u (must be >= %u, a multiple of "
                   "8, at most 65536)",
                   hb, TF_HEADER_BYTES);
  if (c->size < hb)
    return CORRUPT(c, c->size,
                   "truncated: the file is %zu bytes, the header alone is %u",
                   c->size, hb);
  uint32_t crc_stored = tf_get_u32(b + 20);
  uint8_t zero4[4] = {0, 0, 0, 0};
  uint32_t crc = tern_tf_crc(b, 20);
  crc = tern_tf_crc_update(crc, zero4, 4);
  crc = tern_tf_crc_update(crc, b + 24, hb - 24);
  if (crc != crc_stored)
    return CORRUPT(c, 20,
                   "header checksum mismatch (stored 0x%08x, computed 0x%08x)",
                   crc_stored, crc);
  uint64_t file_bytes = tf_get_u64(b + 24);
  if (file_bytes != c->size)
    return CORRUPT(c, 24,
                   "file_bytes says %llu bytes but the file has %zu (%s)",
                   (unsigned long long)file_bytes, c->size,
                   file_bytes > c->size ? "truncated" : "trailing data");
  uint32_t flags = tf_get_u32(b + 16);
  if (flags)
    return fail(c, TERN_ERR_VERSION, 16,
                "flags 0x%08x name features this reader does not know", flags);
  return TERN_OK;
}

/* The section table: bounds, alignment, overlaps, zero gaps, checksums. */
static tern_status parse_sections(lctx *c) {
  const uint8_t *b = c->buf;
  uint32_t hb = tf_get_u32(b + 12);
  span spans[TF_SECTIONS + 1];
  spans[0] = (span){0, hb, "header", -1};
  for (int i = 0; i < TF_SECTIONS; i++) {
    const uint8_t *d = b + 32 + 24 * i;
    uint64_t off = tf_get_u64(d), len = tf_get_u64(d + 8);
    uint32_t reserved = tf_get_u32(d + 20);
    if (reserved)
      return CORRUPT(c, (size_t)(32 + 24 * i + 20),
                     "%s section: reserved field is 0x%08x, must be 0",
                     tern_tf_section_name[i], reserved);
    if (i == SEC_DATA && off % TF_ALIGN)
      return CORRUPT(c, (size_t)(32 + 24 * i),
                     "data section offset %llu is not %u-byte aligned",
                     (unsigned long long)off, TF_ALIGN);
    if (off < hb || off > c->size || len > c->size - off)
      return CORRUPT(c, (size_t)(32 + 24 * i),
                     "%s section [offset %llu, %llu bytes] lies outside the "
                     "file body [%u, %zu)",
                     tern_tf_section_name[i], (unsigned long long)off,
                     (unsigned long long)len, hb, c->size);
    if (i == SEC_DATA && tf_get_u32(d + 16))
      return CORRUPT(c, (size_t)(32 + 24 * i + 16),
                     "data section crc field must be 0 (tensors carry their "
                     "own checksums)");
    c->sec_off[i] = off;
    c->sec_len[i] = len;
    spans[i + 1] = (span){off, len, tern_tf_section_name[i], i};
  }
  /* Sections may not overlap; bytes between them must be zero padding. */
  qsort(spans, TF_SECTIONS + 1, sizeof *spans, span_cmp);
  uint64_t end = 0;
  for (int i = 0; i <= TF_SECTIONS; i++) {
    if (spans[i].len == 0)
      continue;
    if (spans[i].off < end)
      return CORRUPT(c, (size_t)spans[i].off,
                     "the %s section overlaps the "
                     "section before it",
                     spans[i].what);
    TRY(check_zero(c, end, spans[i].off, "padding between sections"));
    end = spans[i].off + spans[i].len;
  }
  TRY(check_zero(c, end, c->size, "trailing padding"));
  for (int i = 0; i < SEC_DATA; i++) {
    const uint8_t *d = b + 32 + 24 * i;
    uint32_t want = tf_get_u32(d + 16);
    uint32_t got = tern_tf_crc(b + c->sec_off[i], (size_t)c->sec_len[i]);
    if (want != got)
      return CORRUPT(c, (size_t)c->sec_off[i],
                     "%s section (bytes %llu..%llu) checksum mismatch "
                     "(stored 0x%08x, computed 0x%08x)",
                     tern_tf_section_name[i], (unsigned long long)c->sec_off[i],
                     (unsigned long long)(c->sec_off[i] + c->sec_len[i] - 1),
                     want, got);
  }
  return TERN_OK;
}

/* ------------------------------------------------------------- sections */
static tern_status parse_meta(lctx *c, fgraph *f) {
  rd r = section_reader(c, SEC_META);
  TRY(rd_count(&r, "count", TF_MIN_META_ENTRY, TF_MAX_META, &f->n_meta));
  f->meta_k = tern_calloc((size_t)f->n_meta + 1, sizeof(char *));
  f->meta_v = tern_calloc((size_t)f->n_meta + 1, sizeof(char *));
  if (!f->meta_k || !f->meta_v)
    return oom(c);
  for (uint32_t i = 0; i < f->n_meta; i++) {
    snprintf(r.what, sizeof r.what, "entry %u", i);
    size_t at = r.pos;
    TRY(rd_str(&r, &f->strings, "key", TF_MAX_NAME, false, &f->meta_k[i]));
    TRY(rd_str(&r, &f->strings, "value", TF_MAX_VALUE, true, &f->meta_v[i]));
    for (uint32_t k = 0; k < i; k++)
      if (strcmp(f->meta_k[k], f->meta_k[i]) == 0)
        return CORRUPT(c, at, "metadata section: entry %u repeats key '%.64s'",
                       i, f->meta_k[i]);
  }
  return rd_done(&r);
}

static tern_status parse_id_list(rd *r, const char *field, uint32_t **ids,
                                 uint32_t *n, size_t *at) {
  *at = r->pos;
  TRY(rd_count(r, field, 4, INT_MAX, n));
  *ids = tern_calloc((size_t)*n + 1, sizeof **ids);
  if (!*ids)
    return oom(r->c);
  for (uint32_t i = 0; i < *n; i++)
    TRY(rd_u32(r, field, &(*ids)[i]));
  return TERN_OK;
}

static tern_status parse_graph(lctx *c, fgraph *f) {
  rd r = section_reader(c, SEC_GRAPH);
  TRY(parse_id_list(&r, "input_count", &f->inputs, &f->n_inputs,
                    &f->inputs_at));
  TRY(parse_id_list(&r, "output_count", &f->outputs, &f->n_outputs,
                    &f->outputs_at));
  TRY(rd_count(&r, "node_count", TF_MIN_NODE, INT_MAX, &f->n_nodes));
  f->nodes = tern_calloc((size_t)f->n_nodes + 1, sizeof *f->nodes);
  if (!f->nodes)
    return oom(c);
  for (uint32_t i = 0; i < f->n_nodes; i++) {
    fnode *n = &f->nodes[i];
    snprintf(r.what, sizeof r.what, "node %u", i);
    n->at = r.pos;
    TRY(rd_u32(&r, "op", &n->op));
    if (n->op >= TERN_OP_COUNT_)
      return CORRUPT(c, n->at,
                     "graph section: node %u has unknown op %u "
                     "(this reader knows 0..%d)",
                     i, n->op, TERN_OP_COUNT_ - 1);
    TRY(rd_str(&r, &f->strings, "name", TF_MAX_NAME, false, &n->name));
    snprintf(r.what, sizeof r.what, "node %u ('%.48s')", i, n->name);
    size_t at = r.pos;
    TRY(rd_u32(&r, "n_inputs", &n->n_inputs));
    if (n->n_inputs > TERN_MAX_INPUTS)
      return CORRUPT(c, at, "graph section: %s has %u inputs (at most %d)",
                     r.what, n->n_inputs, TERN_MAX_INPUTS);
    for (uint32_t k = 0; k < n->n_inputs; k++) {
      uint32_t id;
      TRY(rd_u32(&r, "input id", &id));
      n->inputs[k] = id > INT_MAX ? -1 : (int)id; /* range-checked later */
    }
    TRY(rd_u32(&r, "output", &n->output));
    at = r.pos;
    uint32_t n_params, w[TF_PARAM_WORDS];
    TRY(rd_u32(&r, "param_count", &n_params));
    if (n_params > TF_MAX_PARAM_WORDS)
      return CORRUPT(c, at,
                     "graph section: %s has %u parameter words (at "
                     "most %u)",
                     r.what, n_params, TF_MAX_PARAM_WORDS);
    memset(w, 0, sizeof w);
    for (uint32_t k = 0; k < n_params; k++) {
      size_t wat = r.pos;
      uint32_t v;
      TRY(rd_u32(&r, "param", &v));
      if (k < TF_PARAM_WORDS)
        w[k] = v;
      else if (v)
        return fail(c, TERN_ERR_VERSION, wat,
                    "graph section: %s sets parameter word %u, which this "
                    "reader does not know",
                    r.what, k);
    }
    tern_tf_words_to_params(w, &n->params);
  }
  return rd_done(&r);
}

static tern_status parse_tensor(lctx *c, rd *r, fgraph *f, uint32_t i) {
  ftensor *t = &f->tensors[i];
  snprintf(r->what, sizeof r->what, "tensor %u", i);
  t->at = r->pos;
  TRY(rd_str(r, &f->strings, "name", TF_MAX_NAME, false, &t->name));
  snprintf(r->what, sizeof r->what, "tensor %u ('%.48s')", i, t->name);
  size_t at = r->pos;
  TRY(rd_u8(r, "kind", &t->kind));
  TRY(rd_u8(r, "dtype", &t->dtype));
  TRY(rd_u8(r, "storage", &t->storage));
  TRY(rd_u8(r, "ndim", &t->ndim));
  if (t->kind > TERN_TENSOR_ACTIVATION)
    return CORRUPT(c, at, "tensors section: %s has unknown kind %u", r->what,
                   t->kind);
  if (t->dtype >= TERN_DTYPE_COUNT_)
    return CORRUPT(c, at + 1, "tensors section: %s has unknown dtype %u",
                   r->what, t->dtype);
  if (t->storage >= ST_COUNT_)
    return CORRUPT(c, at + 2, "tensors section: %s has unknown storage %u",
                   r->what, t->storage);
  int canon = tern_tf_canonical_storage((tern_dtype)t->dtype);
  bool form_ok = t->storage == canon || (t->dtype == TERN_DTYPE_TERNARY &&
                                         t->storage == ST_TERNARY_158 &&
                                         t->kind == TERN_TENSOR_CONSTANT);
  if (!form_ok)
    return CORRUPT(c, at + 2,
                   "tensors section: %s of dtype %s cannot be stored as %s",
                   r->what, tern_dtype_name((tern_dtype)t->dtype),
                   tern_tf_storage_name[t->storage]);
  if (t->ndim > TERN_MAX_DIMS)
    return CORRUPT(c, at + 3, "tensors section: %s has ndim %u (at most %d)",
                   r->what, t->ndim, TERN_MAX_DIMS);
  t->shape_at = r->pos;
  int64_t numel = 1;
  for (int d = 0; d < t->ndim; d++) {
    size_t dat = r->pos;
    uint64_t v;
    TRY(rd_u64(r, "shape", &v));
    if (v < 1 || v > (uint64_t)TF_MAX_DIM)
      return CORRUPT(c, dat,
                     "tensors section: %s shape[%d] is %lld (must be 1..2^40)",
                     r->what, d, (long long)(int64_t)v);
    if (numel > TF_MAX_DIM / (int64_t)v)
      return CORRUPT(c, dat,
                     "tensors section: %s element count overflows 2^40 at "
                     "shape[%d]",
                     r->what, d);
    numel *= (int64_t)v;
    t->shape[d] = (int64_t)v;
  }
  t->data_at = r->pos;
  TRY(rd_u64(r, "data_offset", &t->data_off));
  TRY(rd_u64(r, "data_bytes", &t->data_bytes));
  TRY(rd_u64(r, "scale_offset", &t->scale_off));
  TRY(rd_u64(r, "scale_count", &t->scale_count));
  TRY(rd_u32(r, "data_crc", &t->data_crc));
  TRY(rd_u32(r, "scale_crc", &t->scale_crc));
  if (t->kind != TERN_TENSOR_CONSTANT &&
      (t->data_off || t->data_bytes || t->scale_off || t->scale_count ||
       t->data_crc || t->scale_crc))
    return CORRUPT(c, t->data_at,
                   "tensors section: %s is not a constant but has data "
                   "fields set",
                   r->what);
  if (t->kind == TERN_TENSOR_INPUT && t->dtype != TERN_DTYPE_F32)
    return CORRUPT(c, at + 1, "tensors section: input %s must be f32", r->what);
  return TERN_OK;
}

/* A data blob must be aligned and lie inside the data section. */
static tern_status blob_bounds(lctx *c, const ftensor *t, uint32_t i,
                               const char *field, size_t field_at, uint64_t off,
                               uint64_t len) {
  uint64_t dlen = c->sec_len[SEC_DATA];
  if (off % TF_ALIGN)
    return CORRUPT(c, field_at,
                   "tensors section: tensor %u ('%.48s') %s offset %llu is "
                   "not %u-byte aligned",
                   i, t->name, field, (unsigned long long)off, TF_ALIGN);
  if (off > dlen || len > dlen - off)
    return CORRUPT(c, field_at,
                   "tensors section: tensor %u ('%.48s') %s [offset %llu, "
                   "%llu bytes] lies outside the data section (%llu bytes)",
                   i, t->name, field, (unsigned long long)off,
                   (unsigned long long)len, (unsigned long long)dlen);
  return TERN_OK;
}

/* Verifies a blob's checksum (bounds were checked while parsing) and
 * returns its address. */
static tern_status blob_crc(lctx *c, const ftensor *t, uint32_t i,
                            const char *field, uint64_t off, uint64_t len,
                            uint32_t crc, const uint8_t **out) {
  const uint8_t *p = c->buf + c->sec_off[SEC_DATA] + off;
  uint32_t got = tern_tf_crc(p, (size_t)len);
  if (got != crc)
    return CORRUPT(c, (size_t)(c->sec_off[SEC_DATA] + off),
                   "tensor %u ('%.48s') %s checksum mismatch (stored 0x%08x, "
                   "computed 0x%08x)",
                   i, t->name, field, crc, got);
  *out = p;
  return TERN_OK;
}

static tern_status check_constant(lctx *c, const ftensor *t, uint32_t i) {
  tern_err e;
  tern_err_clear(&e);
  int64_t rows = t->shape[0], cols = tern_dims_prod(t->shape, 1, t->ndim);
  size_t canon_bytes = t->data_bytes;
  if (t->storage == ST_TERNARY_158) {
    if (t->ndim < 1 || t->data_bytes != tern_trits_bytes(rows * cols))
      return CORRUPT(c, t->data_at + 8,
                     "tensors section: tensor %u ('%.48s') data_bytes is %llu, "
                     "its 1.58-bit form needs %zu",
                     i, t->name, (unsigned long long)t->data_bytes,
                     t->ndim ? tern_trits_bytes(rows * cols) : 0);
    canon_bytes = tern_dtype_bytes(TERN_DTYPE_TERNARY, rows, cols);
  }
  if (t->data_bytes > SIZE_MAX || t->scale_count > (uint64_t)INT64_MAX)
    return CORRUPT(c, t->data_at,
                   "tensors section: tensor %u data_bytes or scale_count "
                   "overflows",
                   i);
  if (tern_constant_check(t->name, (tern_dtype)t->dtype, t->ndim, t->shape,
                          canon_bytes, (int64_t)t->scale_count, &e))
    return CORRUPT(c, t->data_at, "tensors section: tensor %u: %s", i, e.msg);
  if (!t->scale_count && (t->scale_off || t->scale_crc))
    return CORRUPT(c, t->data_at + 16,
                   "tensors section: tensor %u ('%.48s') has no scales but a "
                   "scale offset or checksum",
                   i, t->name);
  TRY(blob_bounds(c, t, i, "data", t->data_at, t->data_off, t->data_bytes));
  if (t->scale_count)
    TRY(blob_bounds(c, t, i, "scales", t->data_at + 16, t->scale_off,
                    t->scale_count * 4));
  return TERN_OK;
}

static tern_status parse_tensors(lctx *c, fgraph *f) {
  rd r = section_reader(c, SEC_TENSORS);
  TRY(rd_count(&r, "tensor_count", TF_MIN_TENSOR, INT_MAX, &f->n_tensors));
  f->tensors = tern_calloc((size_t)f->n_tensors + 1, sizeof *f->tensors);
  if (!f->tensors)
    return oom(c);
  for (uint32_t i = 0; i < f->n_tensors; i++) {
    TRY(parse_tensor(c, &r, f, i));
    if (f->tensors[i].kind == TERN_TENSOR_CONSTANT)
      TRY(check_constant(c, &f->tensors[i], i));
  }
  return rd_done(&r);
}

/* Blobs may not overlap; bytes between them must be zero padding. */
static tern_status check_data_layout(lctx *c, const fgraph *f) {
  span *sp = tern_calloc((size_t)f->n_tensors * 2 + 1, sizeof *sp);
  if (!sp)
    return oom(c);
  size_t n = 0;
  for (uint32_t i = 0; i < f->n_tensors; i++) {
    const ftensor *t = &f->tensors[i];
    if (t->kind != TERN_TENSOR_CONSTANT)
      continue;
    sp[n++] = (span){t->data_off, t->data_bytes, "data", (int)i};
    if (t->scale_count)
      sp[n++] = (span){t->scale_off, t->scale_count * 4, "scales", (int)i};
  }
  qsort(sp, n, sizeof *sp, span_cmp);
  uint64_t base = c->sec_off[SEC_DATA], end = 0;
  tern_status st = TERN_OK;
  for (size_t k = 0; k < n && !st; k++) {
    if (sp[k].off < end)
      st = CORRUPT(c, (size_t)(base + sp[k].off),
                   "data section: the %s of tensor %d overlaps another blob",
                   sp[k].what, sp[k].index);
    else
      st = check_zero(c, base + end, base + sp[k].off, "data section padding");
    end = sp[k].off + sp[k].len;
  }
  if (!st)
    st = check_zero(c, base + end, base + c->sec_len[SEC_DATA],
                    "data section padding");
  tern_free(sp);
  return st;
}

/* Cross-references: ids in range, inputs and node outputs in the order the
 * builder assigns them, node inputs defined before use. */
static tern_status check_references(lctx *c, const fgraph *f) {
  uint32_t next_input = 0, next_node = 0;
  for (uint32_t i = 0; i < f->n_tensors; i++) {
    const ftensor *t = &f->tensors[i];
    if (t->kind == TERN_TENSOR_INPUT) {
      if (next_input >= f->n_inputs || f->inputs[next_input] != i)
        return CORRUPT(c, f->inputs_at,
                       "graph section: input %u should be tensor %u (the "
                       "inputs must list the input tensors in order)",
                       next_input, i);
      next_input++;
    } else if (t->kind == TERN_TENSOR_ACTIVATION) {
      if (next_node >= f->n_nodes)
        return CORRUPT(c, t->at,
                       "tensors section: activation tensor %u has no node "
                       "producing it",
                       i);
      const fnode *n = &f->nodes[next_node];
      if (n->output != i)
        return CORRUPT(c, n->at,
                       "graph section: node %u output is %u, expected tensor "
                       "%u (nodes produce the activations in order)",
                       next_node, n->output, i);
      if (strcmp(n->name, t->name) != 0)
        return CORRUPT(c, t->at,
                       "tensors section: activation %u is named '%.48s' but "
                       "its node is '%.48s'",
                       i, t->name, n->name);
      for (uint32_t k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] < 0 || (uint32_t)n->inputs[k] >= i)
          return CORRUPT(c, n->at,
                         "graph section: node %u ('%.48s') input %u refers "
                         "to tensor %d, which is %s",
                         next_node, n->name, k, n->inputs[k],
                         n->inputs[k] >= 0 &&
                                 (uint32_t)n->inputs[k] < f->n_tensors
                             ? "not defined before the node"
                             : "out of range");
      next_node++;
    }
  }
  if (next_input != f->n_inputs)
    return CORRUPT(c, f->inputs_at,
                   "graph section: %u inputs listed but %u input tensors",
                   f->n_inputs, next_input);
  if (next_node != f->n_nodes)
    return CORRUPT(c, f->nodes[next_node].at,
                   "graph section: %u nodes but only %u activation tensors",
                   f->n_nodes, next_node);
  for (uint32_t i = 0; i < f->n_outputs; i++)
    if (f->outputs[i] >= f->n_tensors)
      return CORRUPT(c, f->outputs_at + 4 + 4 * (size_t)i,
                     "graph section: output %u refers to tensor %u, the file "
                     "has %u",
                     i, f->outputs[i], f->n_tensors);
  return TERN_OK;
}

/* ------------------------------------------------------------- rebuild */

/* A 1.58-bit constant, unpacked into owned 2-bit rows; the scales are copied
 * with them so that the tensor owns all of its memory. */
static tern_status push_trits(lctx *c, tern_graph *g, tern_tensor *nt,
                              const ftensor *t, uint32_t i, size_t data_at) {
  int64_t rows = t->shape[0], cols = tern_dims_prod(t->shape, 1, t->ndim);
  size_t bytes = tern_dtype_bytes(TERN_DTYPE_TERNARY, rows, cols);
  uint8_t *packed = tern_malloc(bytes);
  float *sc = tern_malloc((size_t)t->scale_count * sizeof(float));
  tern_status st = TERN_OK;
  if (!packed || !sc)
    st = oom(c);
  bool bad_padding = false;
  int64_t bad =
      st ? -1
         : tern_tf_trits_to_rows(nt->data, rows, cols, packed, &bad_padding);
  if (bad >= 0 && bad_padding)
    st = CORRUPT(c, data_at + (size_t)bad,
                 "tensor %u ('%.48s') 1.58-bit data: a padding trit of the "
                 "last byte is not zero",
                 i, t->name);
  else if (bad >= 0)
    st = CORRUPT(c, data_at + (size_t)bad,
                 "tensor %u ('%.48s') 1.58-bit data: byte %lld holds %u "
                 "(> 242)",
                 i, t->name, (long long)bad, ((const uint8_t *)nt->data)[bad]);
  if (st) {
    tern_free(packed);
    tern_free(sc);
    return st;
  }
  memcpy(sc, nt->scales, (size_t)t->scale_count * sizeof(float));
  nt->data = packed;
  nt->data_bytes = bytes;
  nt->scales = sc;
  nt->owns_data = true;
  if (tern_graph_push_tensor(g, nt, false, NULL)) {
    tern_free(packed);
    tern_free(sc);
    return oom(c);
  }
  return TERN_OK;
}

/* 2-bit rows used as they are must hold no code 3. */
static tern_status check_codes(lctx *c, const ftensor *t, uint32_t i,
                               const uint8_t *data, size_t data_at) {
  int64_t rows = t->shape[0], cols = tern_dims_prod(t->shape, 1, t->ndim);
  /* A byte holds code 3 where both bits of a pair are set; the padding
   * pairs of a row's last byte are not checked (the builder does not
   * either). */
  size_t rb = (size_t)(cols + 3) / 4;
  uint8_t last_mask = (uint8_t)(cols % 4 ? 0x55 >> (8 - 2 * (cols % 4)) : 0x55);
  for (int64_t r = 0; r < rows; r++) {
    const uint8_t *row = data + (size_t)r * rb;
    for (size_t k = 0; k < rb; k++) {
      uint8_t mask = k + 1 == rb ? last_mask : 0x55;
      if (!(row[k] & (row[k] >> 1) & mask))
        continue;
      int64_t j = (int64_t)k * 4;
      while (tern_ternary_get(row, j) != 3)
        j++;
      return CORRUPT(c, data_at + (size_t)r * rb + k,
                     "tensor %u ('%.48s') has the invalid ternary code 3 "
                     "at row %lld col %lld",
                     i, t->name, (long long)r, (long long)j);
    }
  }
  return TERN_OK;
}

/* Adds constant i; `adopt` points it into the mapping instead of copying. */
static tern_status build_constant(lctx *c, tern_graph *g, const ftensor *t,
                                  uint32_t i, bool adopt, int *adopted) {
  const uint8_t *data = NULL, *scales = NULL;
  TRY(blob_crc(c, t, i, "data", t->data_off, t->data_bytes, t->data_crc,
               &data));
  if (t->scale_count)
    TRY(blob_crc(c, t, i, "scales", t->scale_off, t->scale_count * 4,
                 t->scale_crc, &scales));
  tern_tensor nt;
  memset(&nt, 0, sizeof nt);
  nt.name = t->name;
  nt.kind = TERN_TENSOR_CONSTANT;
  nt.dtype = (tern_dtype)t->dtype;
  nt.ndim = t->ndim;
  memcpy(nt.shape, t->shape, sizeof nt.shape);
  nt.data = (void *)data;
  nt.data_bytes = (size_t)t->data_bytes;
  nt.scales = (float *)scales;
  nt.scale_count = (int64_t)t->scale_count;
  nt.producer = -1;
  size_t data_at = (size_t)(c->sec_off[SEC_DATA] + t->data_off);
  if (t->storage == ST_TERNARY_158)
    return push_trits(c, g, &nt, t, i, data_at);
  if (t->dtype == TERN_DTYPE_TERNARY)
    TRY(check_codes(c, t, i, data, data_at));
  if (tern_graph_push_tensor(g, &nt, !adopt, NULL))
    return oom(c);
  if (adopt)
    (*adopted)++;
  return TERN_OK;
}

static tern_status builder_refused(lctx *c, tern_graph *g, size_t at,
                                   const char *what, uint32_t i,
                                   const char *name) {
  char msg[TERN_ERRMSG_MAX];
  snprintf(msg, sizeof msg, "%s", g->err.msg);
  if (g->err.status == TERN_ERR_OUT_OF_MEMORY)
    return oom(c);
  return CORRUPT(c, at, "%s %u ('%.48s'): the graph builder refuses it: %s",
                 what, i, name, msg);
}

static tern_status build_graph(lctx *c, const fgraph *f, tern_graph *g,
                               bool adopt, int *adopted) {
  uint32_t next_node = 0;
  for (uint32_t i = 0; i < f->n_tensors; i++) {
    const ftensor *t = &f->tensors[i];
    int id = -1;
    if (t->kind == TERN_TENSOR_INPUT) {
      if (tern_graph_add_input(g, t->name, t->ndim, t->shape, &id))
        return builder_refused(c, g, t->at, "input tensor", i, t->name);
    } else if (t->kind == TERN_TENSOR_CONSTANT) {
      TRY(build_constant(c, g, t, i, adopt, adopted));
      id = g->n_tensors - 1;
    } else {
      const fnode *n = &f->nodes[next_node];
      tern_node_desc d;
      memset(&d, 0, sizeof d);
      d.size = sizeof d;
      d.op = (tern_op)n->op;
      d.name = n->name;
      d.n_inputs = (int)n->n_inputs;
      memcpy(d.inputs, n->inputs, sizeof d.inputs);
      d.params = n->params;
      if (tern_graph_add_node(g, &d, &id))
        return builder_refused(c, g, n->at, "node", next_node, n->name);
      const tern_tensor *o = &g->tensors[id];
      bool same = o->dtype == t->dtype && o->ndim == t->ndim;
      for (int k = 0; same && k < t->ndim; k++)
        same = o->shape[k] == t->shape[k];
      if (!same)
        return CORRUPT(c, t->shape_at,
                       "tensors section: activation %u ('%.48s') is stored "
                       "with a dtype or shape that differs from what its "
                       "node infers",
                       i, t->name);
      next_node++;
    }
    if (id != (int)i)
      return fail(c, TERN_ERR_INTERNAL, t->at, "tensor %u was rebuilt as id %d",
                  i, id);
  }
  for (uint32_t i = 0; i < f->n_outputs; i++)
    if (tern_graph_add_output(g, (int)f->outputs[i]))
      return builder_refused(c, g, f->outputs_at + 4 + 4 * (size_t)i, "output",
                             i, "");
  for (uint32_t i = 0; i < f->n_meta; i++)
    if (tern_graph_set_metadata(g, f->meta_k[i], f->meta_v[i]))
      return builder_refused(c, g, (size_t)c->sec_off[SEC_META],
                             "metadata entry", i, f->meta_k[i]);
  return TERN_OK;
}

/* Validates buf (size bytes) and builds the graph. With a mapping, constants
 * point into it and the graph takes the mapping over (also on failure). */
static tern_status load_buffer(lctx *c, void *mapping, tern_graph **out) {
  fgraph f;
  memset(&f, 0, sizeof f);
  tern_graph *g = NULL;
  tern_status st = parse_header(c);
  if (!st)
    st = parse_sections(c);
  if (!st) {
    uint64_t tables =
        c->sec_len[SEC_META] + c->sec_len[SEC_GRAPH] + c->sec_len[SEC_TENSORS];
    f.strings.cap = (size_t)tables + 1;
    f.strings.p = tern_malloc(f.strings.cap);
    if (!f.strings.p)
      st = oom(c);
  }
  if (!st)
    st = parse_meta(c, &f);
  if (!st)
    st = parse_graph(c, &f);
  if (!st)
    st = parse_tensors(c, &f);
  if (!st)
    st = check_data_layout(c, &f);
  if (!st)
    st = check_references(c, &f);
  if (!st && tern_graph_create(&g))
    st = oom(c);
  if (!st && mapping) {
    g->mapping = mapping;
    g->mapping_bytes = c->size;
    mapping = NULL;
  }
  int adopted = 0;
  if (!st)
    st = build_graph(c, &f, g, g->mapping != NULL, &adopted);
  if (!st && g->mapping && !adopted) {
    munmap(g->mapping, g->mapping_bytes); /* nothing points into it */
    g->mapping = NULL;
    g->mapping_bytes = 0;
  }
  fgraph_free(&f);
  if (mapping)
    munmap(mapping, c->size);
  if (st) {
    tern_graph_destroy(g);
    return st;
  }
  tern_err_clear(&g->err);
  *out = g;
  return TERN_OK;
}

tern_status tern_graph_load_memory(const void *buf, size_t bytes,
                                   tern_graph **out) {
  tern_err err;
  tern_err_clear(&err);
  if (!out || (!buf && bytes))
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_graph_load_memory: NULL argument");
  if (!tern_tf_host_little_endian())
    return tern_err_set(NULL, TERN_ERR_UNSUPPORTED,
                        ".tern files need a little-endian host");
  static const uint8_t empty[1];
  lctx c;
  memset(&c, 0, sizeof c);
  c.buf = buf ? buf : empty;
  c.size = bytes;
  c.src = "<memory>";
  c.err = &err;
  return load_buffer(&c, NULL, out);
}

static tern_status read_all(int fd, size_t size, uint8_t *p, const char *path,
                            tern_err *err) {
  size_t got = 0;
  while (got < size) {
    ssize_t r = read(fd, p + got, size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return tern_err_set(err, TERN_ERR_IO, "cannot read '%s': %s", path,
                          strerror(errno));
    if (r == 0)
      return tern_err_set(err, TERN_ERR_IO,
                          "cannot read '%s': it shrank while being read", path);
    got += (size_t)r;
  }
  return TERN_OK;
}

tern_status tern_graph_load(const char *path, const tern_load_desc *desc,
                            tern_graph **out) {
  tern_err err;
  tern_err_clear(&err);
  if (!path || !out)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_graph_load: path or out is NULL");
  if (desc && desc->size < sizeof *desc)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_graph_load: desc->size is not set");
  if (!tern_tf_host_little_endian())
    return tern_err_set(NULL, TERN_ERR_UNSUPPORTED,
                        ".tern files need a little-endian host");
  bool no_mmap = desc && desc->no_mmap;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return tern_err_set(&err, TERN_ERR_IO, "cannot open '%s': %s", path,
                        strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    tern_status st = tern_err_set(&err, TERN_ERR_IO, "cannot stat '%s': %s",
                                  path, strerror(errno));
    close(fd);
    return st;
  }
  if (S_ISDIR(sb.st_mode) || !S_ISREG(sb.st_mode)) {
    close(fd);
    return tern_err_set(&err, TERN_ERR_IO, "cannot load '%s': %s", path,
                        S_ISDIR(sb.st_mode) ? "it is a directory"
                                            : "not a regular file");
  }
  if ((uint64_t)sb.st_size > SIZE_MAX) {
    close(fd);
    return tern_err_set(&err, TERN_ERR_IO, "'%s' is too large to load", path);
  }
  lctx c;
  memset(&c, 0, sizeof c);
  c.size = (size_t)sb.st_size;
  c.src = path;
  c.err = &err;
  static const uint8_t empty[1];
  if (c.size == 0) {
    close(fd);
    c.buf = empty;
    return load_buffer(&c, NULL, out);
  }
  if (!no_mmap) {
    void *m = mmap(NULL, c.size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
      close(fd);
      c.buf = m;
      return load_buffer(&c, m, out);
    }
    /* Some file systems cannot map: fall back to reading. */
  }
  uint8_t *p = tern_malloc(c.size);
  if (!p) {
    close(fd);
    return oom(&c);
  }
  tern_status st = read_all(fd, c.size, p, path, &err);
  close(fd);
  if (!st) {
    c.buf = p;
    st = load_buffer(&c, NULL, out);
  }
  tern_free(p);
  return st;
}
