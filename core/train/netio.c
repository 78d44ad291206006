/* netio.c — a trainable network in and out of memory: checkpoints (atomic,
 * checksummed), conversion to a tern_graph for export (each weighted layer
 * in its precision, quantized exactly as the deterministic forward does) and
 * conversion of an fp32 tern_graph back into a trainable network. */
#include "train/net.h"

#include <stdio.h>
#include <string.h>

#define CKPT_MAGIC "TTCKPT01"

typedef struct ckpt_header {
  char magic[8];
  uint32_t version, spec_len;
  int32_t tmethod, int8_learned;
  float threshold;
  int32_t n_layers;
  int64_t n_params, n_stats;
  tt_ckpt_meta meta;
  uint8_t prec[TT_MAX_LAYERS];
} ckpt_header;

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

tern_status tt_net_save_ckpt(const tt_net *net, const char *path,
                             const tt_ckpt_meta *meta, tern_err *err) {
  ckpt_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, CKPT_MAGIC, 8);
  h.version = 1;
  h.spec_len = (uint32_t)strlen(net->spec);
  h.tmethod = net->qcfg.tmethod;
  h.int8_learned = net->qcfg.int8_learned;
  h.threshold = net->qcfg.threshold;
  h.n_layers = net->n_layers;
  h.n_params = net->n_params;
  h.n_stats = net->n_stats;
  if (meta)
    h.meta = *meta;
  for (int i = 0; i < net->n_layers; i++)
    h.prec[i] = (uint8_t)net->layers[i].prec;
  size_t pb = (size_t)net->n_params * sizeof(float);
  const void *parts[7] = {&h,         net->spec,  net->params, net->opt_m,
                          net->opt_v, net->stats, NULL};
  size_t bytes[7] = {sizeof h, h.spec_len, pb,
                     pb,       pb,         (size_t)net->n_stats * sizeof(float),
                     8};
  uint64_t sum = 0xcbf29ce484222325ull;
  for (int i = 0; i < 6; i++)
    sum = fnv1a(sum, parts[i], bytes[i]);
  parts[6] = &sum;
  return tern_write_file_atomic(path, parts, bytes, 7, err);
}

tern_status tt_net_load_ckpt(const char *path, int threads, tt_net **out,
                             tt_ckpt_meta *meta, tern_err *err) {
  /* read it all and verify the checksum before trusting any field */
  FILE *f = fopen(path, "rb");
  if (!f)
    return tern_err_set(err, TERN_ERR_IO, "checkpoint %s: cannot open", path);
  long size = -1;
  if (fseek(f, 0, SEEK_END) == 0)
    size = ftell(f);
  rewind(f);
  if (size < (long)sizeof(ckpt_header) + 8) {
    fclose(f);
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "checkpoint %s: %ld bytes is too short", path, size);
  }
  uint8_t *buf = tern_malloc((size_t)size);
  if (!buf) {
    fclose(f);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  size_t got = fread(buf, 1, (size_t)size, f);
  fclose(f);
  tern_status st = TERN_OK;
  ckpt_header h;
  memcpy(&h, buf, sizeof h);
  uint64_t sum;
  memcpy(&sum, buf + size - 8, 8);
  if (got != (size_t)size)
    st = tern_err_set(err, TERN_ERR_IO, "checkpoint %s: read failed", path);
  else if (memcmp(h.magic, CKPT_MAGIC, 8))
    st = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                      "checkpoint %s: bad magic (not a tern checkpoint)", path);
  else if (h.version != 1)
    st = tern_err_set(err, TERN_ERR_VERSION,
                      "checkpoint %s: version %u (this build reads 1)", path,
                      h.version);
  else if (fnv1a(0xcbf29ce484222325ull, buf, (size_t)size - 8) != sum)
    st = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                      "checkpoint %s: checksum mismatch (damaged file)", path);
  char spec[1024];
  tt_net *net = NULL;
  if (!st &&
      (h.spec_len >= sizeof spec || sizeof h + h.spec_len + 8 > (size_t)size))
    st =
        tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                     "checkpoint %s: model spec of %u bytes", path, h.spec_len);
  if (!st) {
    memcpy(spec, buf + sizeof h, h.spec_len);
    spec[h.spec_len] = 0;
    st = tt_net_create(spec, 0, threads, &net, err);
  }
  size_t pb = net ? (size_t)net->n_params * sizeof(float) : 0;
  size_t sb = net ? (size_t)net->n_stats * sizeof(float) : 0;
  if (!st && (net->n_params != h.n_params || net->n_stats != h.n_stats ||
              net->n_layers != h.n_layers ||
              sizeof h + h.spec_len + 3 * pb + sb + 8 != (size_t)size))
    st = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                      "checkpoint %s: sizes do not match its model spec", path);
  if (!st) {
    const uint8_t *p = buf + sizeof h + h.spec_len;
    memcpy(net->params, p, pb);
    memcpy(net->opt_m, p + pb, pb);
    memcpy(net->opt_v, p + 2 * pb, pb);
    memcpy(net->stats, p + 3 * pb, sb);
  }
  tern_free(buf);
  if (st) {
    tt_net_destroy(net);
    return st;
  }
  net->qcfg.tmethod = (tt_tmethod)h.tmethod;
  net->qcfg.int8_learned = h.int8_learned;
  net->qcfg.threshold = h.threshold;
  for (int i = 0; i < net->n_layers; i++)
    net->layers[i].prec = (tt_prec)h.prec[i];
  if (meta)
    *meta = h.meta;
  *out = net;
  return TERN_OK;
}

tern_status tt_net_copy_weights(tt_net *dst, const tt_net *src, tern_err *err) {
  /* the same layers (spec strings may differ in spelling, e.g. "lenet5"
   * and the spec read back from a .tern file) */
  bool same = dst->n_params == src->n_params && dst->n_stats == src->n_stats &&
              dst->n_layers == src->n_layers;
  for (int i = 0; same && i < dst->n_layers; i++) {
    const tt_layer *a = &dst->layers[i], *b = &src->layers[i];
    same = a->kind == b->kind && a->c == b->c && a->h == b->h && a->w == b->w &&
           a->oc == b->oc && a->oh == b->oh && a->ow == b->ow &&
           a->w_off == b->w_off && a->skip == b->skip;
  }
  if (!same)
    return tern_err_set(err, TERN_ERR_SHAPE, "models differ: '%s' vs '%s'",
                        dst->spec, src->spec);
  memcpy(dst->params, src->params, (size_t)src->n_params * sizeof(float));
  memcpy(dst->stats, src->stats, (size_t)src->n_stats * sizeof(float));
  return TERN_OK;
}

/* ---------------------------------------------------------------- export */

static tern_status add_f32(tern_graph *g, const char *name, const float *d,
                           int ndim, const int64_t *shape, int *id) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= shape[i];
  tern_constant_desc c = {
      sizeof c, name, TERN_DTYPE_F32, ndim, shape, d, (size_t)n * sizeof(float),
      NULL,     0};
  return tern_graph_add_constant(g, &c, id);
}

static tern_status add_weight(const tt_net *net, int i, tern_graph *g,
                              const char *name, int ndim, const int64_t *shape,
                              int *id, tern_err *err) {
  const tt_layer *l = &net->layers[i];
  const float *w = net->params + l->w_off;
  if (l->prec == TT_F32)
    return add_f32(g, name, w, ndim, shape, id);
  int64_t rows = l->oc, cols = l->n_w / l->oc;
  int8_t *q = tern_malloc((size_t)l->n_w);
  float *sc = tern_malloc((size_t)rows * sizeof(float));
  size_t pbytes = tern_dtype_bytes(TERN_DTYPE_TERNARY, rows, cols);
  uint8_t *packed = l->prec == TT_TERNARY ? tern_malloc(pbytes) : NULL;
  tern_status st = TERN_OK;
  if (!q || !sc || (l->prec == TT_TERNARY && !packed))
    st = tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "export: out of memory");
  if (!st)
    st = tt_layer_quantize(net, i, q, sc, NULL);
  if (!st && l->prec == TT_TERNARY)
    st = tern_ternary_pack(q, rows, cols, packed, pbytes);
  if (!st) {
    tern_constant_desc c = {
        sizeof c,
        name,
        l->prec == TT_TERNARY ? TERN_DTYPE_TERNARY : TERN_DTYPE_I8,
        ndim,
        shape,
        l->prec == TT_TERNARY ? (const void *)packed : (const void *)q,
        l->prec == TT_TERNARY ? pbytes : (size_t)l->n_w,
        sc,
        rows};
    st = tern_graph_add_constant(g, &c, id);
  }
  tern_free(q);
  tern_free(sc);
  tern_free(packed);
  return st;
}

tern_status tt_net_to_graph(const tt_net *net, tern_graph **out,
                            tern_err *err) {
  tern_graph *g = NULL;
  tern_status st = tern_graph_create(&g);
  if (st)
    return tern_err_set(err, st, "export: %s", tern_last_error());
  int ids[TT_MAX_LAYERS + 1];
  int64_t ishape[4] = {1, net->in_c, net->in_h, net->in_w};
  st = tern_graph_add_input(g, "input", 4, ishape, &ids[0]);
  int n_lin = 0, n_conv = 0, n_bn = 0;
  for (int i = 0; i < net->n_layers && !st; i++) {
    const tt_layer *l = &net->layers[i];
    tern_node_desc nd;
    memset(&nd, 0, sizeof nd);
    nd.size = sizeof nd;
    nd.n_inputs = 1;
    nd.inputs[0] = ids[i];
    char wname[64], bname[64], nname[64];
    const float *p = net->params;
    switch (l->kind) {
    case TT_LINEAR: {
      snprintf(wname, sizeof wname, "fc%d.weight", n_lin);
      snprintf(bname, sizeof bname, "fc%d.bias", n_lin);
      snprintf(nname, sizeof nname, "fc%d", n_lin++);
      int64_t ws[2] = {l->oc, l->c}, bs[1] = {l->oc};
      st = add_weight(net, i, g, wname, 2, ws, &nd.inputs[1], err);
      if (!st)
        st = add_f32(g, bname, p + l->b_off, 1, bs, &nd.inputs[2]);
      nd.n_inputs = 3;
      nd.op = TERN_OP_LINEAR;
      break;
    }
    case TT_CONV: {
      snprintf(wname, sizeof wname, "conv%d.weight", n_conv);
      snprintf(bname, sizeof bname, "conv%d.bias", n_conv);
      snprintf(nname, sizeof nname, "conv%d", n_conv++);
      int64_t ws[4] = {l->oc, l->c / l->conv.groups, l->conv.kh, l->conv.kw};
      int64_t bs[1] = {l->oc};
      st = add_weight(net, i, g, wname, 4, ws, &nd.inputs[1], err);
      if (!st)
        st = add_f32(g, bname, p + l->b_off, 1, bs, &nd.inputs[2]);
      nd.n_inputs = 3;
      nd.op = TERN_OP_CONV2D;
      nd.params.stride[0] = nd.params.stride[1] = l->conv.stride;
      nd.params.pad[0] = nd.params.pad[1] = l->conv.pad;
      nd.params.groups = l->conv.groups;
      break;
    }
    case TT_BN: {
      const char *what[4] = {"gamma", "beta", "mean", "var"};
      const float *src[4] = {p + l->w_off, p + l->b_off,
                             net->stats + l->stat_off,
                             net->stats + l->stat_off + l->c};
      int64_t cs[1] = {l->c};
      for (int k = 0; k < 4 && !st; k++) {
        snprintf(wname, sizeof wname, "bn%d.%s", n_bn, what[k]);
        st = add_f32(g, wname, src[k], 1, cs, &nd.inputs[1 + k]);
      }
      snprintf(nname, sizeof nname, "bn%d", n_bn++);
      nd.n_inputs = 5;
      nd.op = TERN_OP_BATCHNORM;
      nd.params.eps = net->bn_eps;
      break;
    }
    case TT_RELU:
    case TT_RELU6:
      snprintf(nname, sizeof nname, "%s%d",
               l->kind == TT_RELU ? "relu" : "relu6", i);
      nd.op = l->kind == TT_RELU ? TERN_OP_RELU : TERN_OP_RELU6;
      break;
    case TT_MAXPOOL:
    case TT_AVGPOOL:
      snprintf(nname, sizeof nname, "pool%d", i);
      nd.op = l->kind == TT_MAXPOOL ? TERN_OP_MAXPOOL2D : TERN_OP_AVGPOOL2D;
      nd.params.kernel[0] = l->pool.kh;
      nd.params.kernel[1] = l->pool.kw;
      nd.params.stride[0] = nd.params.stride[1] = l->pool.stride;
      nd.params.pad[0] = nd.params.pad[1] = l->pool.pad;
      break;
    case TT_GAP: {
      /* global_avgpool keeps [N, C, 1, 1]; flatten to [N, C] as training */
      tern_node_desc gd = nd;
      gd.op = TERN_OP_GLOBAL_AVGPOOL;
      snprintf(nname, sizeof nname, "gap%d", i);
      gd.name = nname;
      int mid;
      st = tern_graph_add_node(g, &gd, &mid);
      nd.inputs[0] = mid;
      nd.op = TERN_OP_FLATTEN;
      nd.params.axis = 1;
      snprintf(nname, sizeof nname, "gap%d.flatten", i);
      break;
    }
    case TT_FLATTEN:
      snprintf(nname, sizeof nname, "flatten%d", i);
      nd.op = TERN_OP_FLATTEN;
      nd.params.axis = 1;
      break;
    case TT_ADD:
      snprintf(nname, sizeof nname, "add%d", i);
      nd.op = TERN_OP_ADD;
      nd.n_inputs = 2;
      nd.inputs[1] = ids[l->skip + 1];
      break;
    }
    if (st)
      break;
    nd.name = nname;
    st = tern_graph_add_node(g, &nd, &ids[i + 1]);
  }
  if (!st)
    st = tern_graph_add_output(g, ids[net->n_layers]);
  if (!st)
    st = tern_graph_set_metadata(g, "tern.train.spec", net->spec);
  if (st) {
    if (!err || !err->msg[0] || err->status == TERN_OK)
      tern_err_set(err, st, "export: %s", tern_graph_errmsg(g));
    tern_graph_destroy(g);
    return st;
  }
  *out = g;
  return TERN_OK;
}

/* ---------------------------------------------------------------- import */

/* Dequantized f32 copy of a constant (f32, i8 or ternary). */
static float *const_f32(const tern_graph *g, int id, int64_t *count) {
  tern_tensor_info ti;
  memset(&ti, 0, sizeof ti);
  ti.size = sizeof ti;
  if (tern_graph_tensor_info(g, id, &ti) || ti.kind != TERN_TENSOR_CONSTANT)
    return NULL;
  int64_t n = 1;
  for (int i = 0; i < ti.ndim; i++)
    n *= ti.shape[i];
  int64_t rows = ti.ndim ? ti.shape[0] : 1, cols = rows ? n / rows : 0;
  float *f = tern_malloc((size_t)(n ? n : 1) * sizeof(float));
  if (!f)
    return NULL;
  if (ti.dtype == TERN_DTYPE_F32) {
    memcpy(f, ti.data, (size_t)n * sizeof(float));
  } else if (ti.dtype == TERN_DTYPE_I8 || ti.dtype == TERN_DTYPE_TERNARY) {
    int8_t *q = tern_malloc((size_t)n);
    if (!q || (ti.dtype == TERN_DTYPE_TERNARY &&
               tern_ternary_unpack(ti.data, rows, cols, q))) {
      tern_free(q);
      tern_free(f);
      return NULL;
    }
    if (ti.dtype == TERN_DTYPE_I8)
      memcpy(q, ti.data, (size_t)n);
    for (int64_t r = 0; r < rows; r++)
      for (int64_t c = 0; c < cols; c++)
        f[r * cols + c] =
            q[r * cols + c] * ti.scales[ti.scale_count == 1 ? 0 : r];
    tern_free(q);
  } else {
    tern_free(f);
    return NULL;
  }
  *count = n;
  return f;
}

tern_status tt_net_from_graph(const tern_graph *g, int threads, tt_net **out,
                              tern_err *err) {
  if (tern_graph_input_count(g) != 1 || tern_graph_output_count(g) != 1)
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "import: need one input and one output");
  int in_id;
  tern_graph_input(g, 0, &in_id);
  tern_tensor_info ti;
  memset(&ti, 0, sizeof ti);
  ti.size = sizeof ti;
  tern_graph_tensor_info(g, in_id, &ti);
  char spec[1024];
  int len = 0;
  if (ti.ndim == 4)
    len =
        snprintf(spec, sizeof spec, "in %lldx%lldx%lld", (long long)ti.shape[1],
                 (long long)ti.shape[2], (long long)ti.shape[3]);
  else if (ti.ndim == 2)
    len = snprintf(spec, sizeof spec, "in %lldx1x1", (long long)ti.shape[1]);
  else
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "import: input must be [N,C,H,W] or [N,K]");
  /* tensor id -> index of the layer producing it (-1: input) */
  int nt = tern_graph_tensor_count(g), nn = tern_graph_node_count(g);
  int *layer_of = tern_malloc((size_t)nt * sizeof(int));
  int *weight_node = tern_malloc((size_t)(nn + 1) * sizeof(int));
  if (!layer_of || !weight_node) {
    tern_free(layer_of);
    tern_free(weight_node);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  for (int i = 0; i < nt; i++)
    layer_of[i] = -2;
  layer_of[in_id] = -1;
  int nl = 0, prev = -1;
  tern_status st = TERN_OK;
  for (int k = 0; k < nn && !st; k++) {
    tern_node_info n;
    memset(&n, 0, sizeof n);
    n.size = sizeof n;
    tern_graph_node_info(g, k, &n);
    if (layer_of[n.inputs[0]] != prev && n.op != TERN_OP_ADD) {
      st = tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "import: node '%s' does not follow its predecessor "
                        "(only chains with residual adds)",
                        n.name);
      break;
    }
    const tern_op_params *p = &n.params;
    char item[128];
    item[0] = 0;
    switch (n.op) {
    case TERN_OP_LINEAR: {
      tern_tensor_info wi;
      memset(&wi, 0, sizeof wi);
      wi.size = sizeof wi;
      tern_graph_tensor_info(g, n.inputs[1], &wi);
      snprintf(item, sizeof item, "; linear %lld", (long long)wi.shape[0]);
      break;
    }
    case TERN_OP_CONV2D: {
      tern_tensor_info wi;
      memset(&wi, 0, sizeof wi);
      wi.size = sizeof wi;
      tern_graph_tensor_info(g, n.inputs[1], &wi);
      if (wi.shape[2] != wi.shape[3] || p->stride[0] != p->stride[1] ||
          p->pad[0] != p->pad[1] || p->dilation[0] > 1 || p->dilation[1] > 1)
        st =
            tern_err_set(err, TERN_ERR_UNSUPPORTED,
                         "import: conv '%s' must be square, undilated", n.name);
      snprintf(item, sizeof item, "; conv %lld %lld %d %d %d",
               (long long)wi.shape[0], (long long)wi.shape[2],
               p->stride[0] ? p->stride[0] : 1, p->pad[0],
               p->groups ? p->groups : 1);
      break;
    }
    case TERN_OP_BATCHNORM:
      snprintf(item, sizeof item, "; bn");
      break;
    case TERN_OP_RELU:
      snprintf(item, sizeof item, "; relu");
      break;
    case TERN_OP_RELU6:
      snprintf(item, sizeof item, "; relu6");
      break;
    case TERN_OP_MAXPOOL2D:
    case TERN_OP_AVGPOOL2D:
      snprintf(item, sizeof item, "; %s %d %d %d",
               n.op == TERN_OP_MAXPOOL2D ? "maxpool" : "avgpool", p->kernel[0],
               p->stride[0] ? p->stride[0] : 1, p->pad[0]);
      break;
    case TERN_OP_GLOBAL_AVGPOOL:
      snprintf(item, sizeof item, "; gap");
      break;
    case TERN_OP_FLATTEN:
      if (nl > 0 && strstr(spec + len - 5, "gap")) {
        layer_of[n.output] = nl - 1; /* gap already flattens */
        prev = nl - 1;
        continue;
      }
      snprintf(item, sizeof item, "; flatten");
      break;
    case TERN_OP_ADD: {
      int a = layer_of[n.inputs[0]], b = layer_of[n.inputs[1]];
      int other = a == prev ? b : a;
      if ((a != prev && b != prev) || other < -1)
        st = tern_err_set(err, TERN_ERR_UNSUPPORTED,
                          "import: add '%s' must take the previous layer",
                          n.name);
      snprintf(item, sizeof item, "; add %d", other);
      break;
    }
    default:
      st = tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "import: op %s (node '%s') is not trainable here",
                        tern_op_name(n.op), n.name);
    }
    if (st)
      break;
    if ((size_t)len + strlen(item) + 16 >= sizeof spec) {
      st = tern_err_set(err, TERN_ERR_UNSUPPORTED, "import: graph too long");
      break;
    }
    len += snprintf(spec + len, sizeof spec - (size_t)len, "%s", item);
    weight_node[nl] = k;
    nl++;
    if ((n.op == TERN_OP_LINEAR || n.op == TERN_OP_CONV2D) &&
        p->activation != TERN_ACT_NONE) {
      if (p->activation != TERN_ACT_RELU && p->activation != TERN_ACT_RELU6) {
        st = tern_err_set(err, TERN_ERR_UNSUPPORTED,
                          "import: fused activation of '%s'", n.name);
        break;
      }
      len += snprintf(spec + len, sizeof spec - (size_t)len, "; %s",
                      p->activation == TERN_ACT_RELU ? "relu" : "relu6");
      weight_node[nl] = -1;
      nl++;
    }
    layer_of[n.output] = nl - 1;
    prev = nl - 1;
  }
  tt_net *net = NULL;
  if (!st)
    st = tt_net_create(spec, 0, threads, &net, err);
  for (int i = 0; !st && i < net->n_layers; i++) {
    tt_layer *l = &net->layers[i];
    if (weight_node[i] < 0 ||
        (l->kind != TT_LINEAR && l->kind != TT_CONV && l->kind != TT_BN))
      continue;
    tern_node_info n;
    memset(&n, 0, sizeof n);
    n.size = sizeof n;
    tern_graph_node_info(g, weight_node[i], &n);
    int nsrc = l->kind == TT_BN ? 4 : (n.n_inputs > 2 ? 2 : 1);
    for (int k = 0; k < nsrc && !st; k++) {
      int64_t cnt = 0;
      float *d = const_f32(g, n.inputs[1 + k], &cnt);
      float *dst = k == 0   ? net->params + l->w_off
                   : k == 1 ? net->params + l->b_off
                   : k == 2 ? net->stats + l->stat_off
                            : net->stats + l->stat_off + l->c;
      int64_t want = k == 0 ? l->n_w : k == 1 ? l->n_b : l->c;
      if (!d || cnt != want)
        st = tern_err_set(err, TERN_ERR_UNSUPPORTED,
                          "import: constant %d of '%s' is not a usable "
                          "f32/i8/ternary tensor of %lld values",
                          k + 1, n.name, (long long)want);
      else
        memcpy(dst, d, (size_t)cnt * sizeof(float));
      tern_free(d);
    }
    if (l->kind != TT_BN && nsrc == 1)
      memset(net->params + l->b_off, 0, (size_t)l->n_b * sizeof(float));
    if (l->kind == TT_BN && n.params.eps > 0)
      net->bn_eps = n.params.eps;
  }
  tern_free(layer_of);
  tern_free(weight_node);
  if (st) {
    tt_net_destroy(net);
    return st;
  }
  *out = net;
  return TERN_OK;
}
