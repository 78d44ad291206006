/* cmd_quantize.c — `tern quantize IN -o OUT --to int8|ternary|mixed`:
 * converts the f32 weights of linear/conv2d layers with the core quantizers
 * (biases and norm parameters stay f32) and reports per-layer statistics. */
#include "cli_common.h"

#include <stdlib.h>
#include <string.h>

enum { Q_F32 = 0, Q_INT8 = 1, Q_TERNARY = 2, Q_MIXED = 3 };

static int parse_prec(const char *s) {
  if (!strcmp(s, "fp32") || !strcmp(s, "f32"))
    return Q_F32;
  if (!strcmp(s, "int8") || !strcmp(s, "i8"))
    return Q_INT8;
  if (!strcmp(s, "ternary"))
    return Q_TERNARY;
  if (!strcmp(s, "mixed"))
    return Q_MIXED;
  return -1;
}

typedef struct layer_stat {
  char name[128];
  char layer[128];
  tern_dtype from, to;
  int ndim;
  int64_t shape[TERN_MAX_DIMS];
  size_t bytes_before, bytes_after;
  tern_quant_stats st;
  bool converted;
} layer_stat;

typedef struct q_state {
  int to, edge, n_layers;
  tern_ternary_desc td;
  const cli_list *overrides;
  int8_t *q;
  float *scales;
  uint8_t *packed;
  layer_stat *stats;
  int n_stats, cap_stats;
} q_state;

static int layer_target(const q_state *st, const char *layer, int index) {
  int p = st->to;
  if (p == Q_MIXED)
    p = (index == 0 || index == st->n_layers - 1) ? st->edge : Q_TERNARY;
  for (int i = 0; i < st->overrides->n; i++) {
    const char *o = st->overrides->v[i];
    const char *eq = strchr(o, '=');
    size_t n = (size_t)(eq - o);
    if (strncmp(layer, o, n) == 0 && (layer[n] == 0 || layer[n] == '.'))
      p = parse_prec(eq + 1);
  }
  return p;
}

static int quantize_one(void *user, const tern_tensor_info *t,
                        const char *layer, int index,
                        tern_constant_desc *repl) {
  q_state *st = user;
  if (!layer)
    return 0; /* not a linear/conv weight */
  if (st->n_stats == st->cap_stats) {
    int nc = st->cap_stats ? st->cap_stats * 2 : 16;
    layer_stat *ns = realloc(st->stats, (size_t)nc * sizeof *ns);
    if (!ns) {
      cli_error("out of memory");
      return -1;
    }
    st->stats = ns;
    st->cap_stats = nc;
  }
  layer_stat *ls = &st->stats[st->n_stats++];
  memset(ls, 0, sizeof *ls);
  snprintf(ls->name, sizeof ls->name, "%s", t->name);
  snprintf(ls->layer, sizeof ls->layer, "%s", layer);
  ls->from = ls->to = t->dtype;
  ls->ndim = t->ndim;
  memcpy(ls->shape, t->shape, sizeof ls->shape);
  ls->bytes_before = ls->bytes_after =
      t->data_bytes + (size_t)t->scale_count * sizeof(float);
  int target = layer_target(st, layer, index);
  if (t->dtype != TERN_DTYPE_F32 || target == Q_F32)
    return 0; /* already quantized weights are kept as they are */
  int64_t rows = t->shape[0], cols = cli_numel(t->ndim - 1, t->shape + 1);
  size_t n = (size_t)(rows * cols);
  free(st->q);
  free(st->scales);
  free(st->packed);
  st->packed = NULL;
  st->q = malloc(n ? n : 1);
  st->scales = malloc((size_t)rows * sizeof(float));
  if (!st->q || !st->scales) {
    cli_error("out of memory");
    return -1;
  }
  tern_status s;
  if (target == Q_INT8) {
    s = tern_quantize_int8(t->data, rows, cols, st->q, st->scales, &ls->st);
    repl->dtype = TERN_DTYPE_I8;
    repl->data = st->q;
    repl->data_bytes = n;
    repl->scale_count = rows;
  } else {
    s = tern_quantize_ternary(t->data, rows, cols, &st->td, st->q, st->scales,
                              &ls->st);
    size_t bytes = tern_dtype_bytes(TERN_DTYPE_TERNARY, rows, cols);
    if (s == TERN_OK && !(st->packed = malloc(bytes ? bytes : 1))) {
      cli_error("out of memory");
      return -1;
    }
    if (s == TERN_OK)
      s = tern_ternary_pack(st->q, rows, cols, st->packed, bytes);
    repl->dtype = TERN_DTYPE_TERNARY;
    repl->data = st->packed;
    repl->data_bytes = bytes;
    repl->scale_count = st->td.per_tensor ? 1 : rows;
  }
  if (s) {
    cli_error("quantizing '%s': %s", t->name, tern_last_error());
    return -1;
  }
  repl->scales = st->scales;
  ls->to = repl->dtype;
  ls->converted = true;
  ls->bytes_after =
      repl->data_bytes + (size_t)repl->scale_count * sizeof(float);
  return 1;
}

int cmd_quantize(int argc, char **argv) {
  const char *output = NULL, *to = NULL, *method = "threshold",
             *storage = "2bit", *edge = "int8";
  double threshold = 0;
  bool per_tensor = false, json = false;
  cli_list layers = {{0}, 0};
  const cli_opt opts[] = {
      {"output", 'o', CLI_STRING, &output, "FILE", "the .tern file to write"},
      {"to", 't', CLI_STRING, &to, "P", "int8, ternary or mixed"},
      {"method", 0, CLI_STRING, &method, "M",
       "ternary quantizer: threshold (default) or absmean"},
      {"threshold", 0, CLI_DOUBLE, &threshold, "A",
       "threshold factor a of t = a*mean|W| (0.7)"},
      {"per-tensor", 0, CLI_FLAG, &per_tensor, NULL,
       "one ternary scale per tensor"},
      {"storage", 0, CLI_STRING, &storage, "S",
       "ternary storage: 2bit (default) or 1.58bit"},
      {"edge", 0, CLI_STRING, &edge, "P",
       "mixed: precision of the first and last layers (int8 or fp32)"},
      {"layer", 'l', CLI_LIST, &layers, "NAME=P",
       "per-layer override: fp32, int8 or ternary (repeatable)"},
      {"json", 0, CLI_FLAG, &json, NULL, "one JSON document on stdout"},
  };
  const cli_spec spec = {
      "tern quantize IN.tern -o OUT.tern --to int8|ternary|mixed [options]",
      "Quantize the f32 weights of every linear/conv2d layer (first/last by "
      "node order for mixed) and report per-layer sparsity, scale range and "
      "error. Weights that are already quantized are kept.",
      opts,
      (int)(sizeof opts / sizeof opts[0]),
      1,
      1,
      NULL};
  const char *pos[1];
  int np;
  cli_parse_result pr = cli_parse(&spec, argc, argv, 1, pos, &np);
  if (pr != CLI_PARSED)
    return pr == CLI_HELP_SHOWN ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  if (!output || !to)
    return cli_usage_error("need -o OUT.tern and --to int8|ternary|mixed");
  q_state st = {0};
  st.to = parse_prec(to);
  st.edge = parse_prec(edge);
  st.overrides = &layers;
  st.td.size = sizeof st.td;
  st.td.threshold_factor = (float)threshold;
  st.td.per_tensor = per_tensor;
  tern_save_desc sd = {.size = sizeof sd};
  if (st.to < Q_INT8)
    return cli_usage_error("--to must be int8, ternary or mixed, not '%s'", to);
  if (st.edge != Q_INT8 && st.edge != Q_F32)
    return cli_usage_error("--edge must be int8 or fp32");
  if (!strcmp(method, "threshold"))
    st.td.method = TERN_TERNARY_THRESHOLD;
  else if (!strcmp(method, "absmean"))
    st.td.method = TERN_TERNARY_ABSMEAN;
  else
    return cli_usage_error("unknown --method '%s'", method);
  if (threshold < 0 || threshold > 10)
    return cli_usage_error("--threshold %g out of range (0..10)", threshold);
  if (!cli_parse_storage(storage, &sd.ternary_storage))
    return cli_usage_error("unknown --storage '%s' (2bit or 1.58bit)", storage);
  for (int i = 0; i < layers.n; i++) {
    const char *eq = strchr(layers.v[i], '=');
    int p = eq ? parse_prec(eq + 1) : -1;
    if (!eq || eq == layers.v[i] || p < 0 || p == Q_MIXED)
      return cli_usage_error("--layer wants NAME=fp32|int8|ternary, got '%s'",
                             layers.v[i]);
  }

  tern_graph *g = NULL, *q = NULL;
  if (cli_load_graph(pos[0], &g))
    return CLI_EXIT_FAIL;
  int li;
  const char *ln;
  st.n_layers = cli_weight_layers(g, -1, &li, &ln);
  int rc = cli_graph_rebuild(g, quantize_one, &st, &q);
  tern_graph_destroy(g);
  free(st.q);
  free(st.scales);
  free(st.packed);
  if (rc) {
    free(st.stats);
    return rc;
  }
  tern_graph_set_metadata(q, "model.precision", to);
  tern_graph_set_metadata(q, "model.storage", storage);
  tern_graph_set_metadata(q, "quantize.method", method);
  tern_status s = tern_graph_save(q, output, &sd);
  if (s) {
    rc = cli_error("cannot save '%s': %s (%s)", output, tern_graph_errmsg(q),
                   tern_status_name(s));
    tern_graph_destroy(q);
    free(st.stats);
    return rc;
  }
  tern_graph_destroy(q);
  int64_t in_bytes = cli_file_size(pos[0]), out_bytes = cli_file_size(output);
  cli_json j;
  if (json) {
    cj_init(&j, stdout);
    cj_object(&j);
    cj_kstr(&j, "input", pos[0]);
    cj_kstr(&j, "output", output);
    cj_kstr(&j, "to", to);
    cj_kstr(&j, "method", method);
    cj_kstr(&j, "storage", storage);
    cj_kint(&j, "input_bytes", in_bytes);
    cj_kint(&j, "output_bytes", out_bytes);
    cj_kdouble(&j, "ratio", out_bytes > 0 ? (double)in_bytes / out_bytes : 0);
    cj_key(&j, "layers");
    cj_array(&j);
  } else {
    printf("%-30s %-8s %-8s %-20s %9s %10s %10s %s\n", "LAYER", "FROM", "TO",
           "SHAPE", "SPARSITY", "SCALE_MIN", "SCALE_MAX", "MSE");
  }
  for (int i = 0; i < st.n_stats; i++) {
    const layer_stat *l = &st.stats[i];
    char sh[128];
    if (json) {
      cj_object(&j);
      cj_kstr(&j, "layer", l->layer);
      cj_kstr(&j, "weight", l->name);
      cj_kstr(&j, "from", tern_dtype_name(l->from));
      cj_kstr(&j, "to", tern_dtype_name(l->to));
      cj_key(&j, "shape");
      cj_shape(&j, l->ndim, l->shape);
      cj_kuint(&j, "bytes_before", l->bytes_before);
      cj_kuint(&j, "bytes_after", l->bytes_after);
      cj_kbool(&j, "converted", l->converted);
      if (l->converted) {
        cj_kdouble(&j, "sparsity", l->st.sparsity);
        cj_kdouble(&j, "scale_min", l->st.scale_min);
        cj_kdouble(&j, "scale_max", l->st.scale_max);
        cj_kdouble(&j, "mse", l->st.mse);
      }
      cj_object_end(&j);
    } else if (l->converted) {
      printf("%-30s %-8s %-8s %-20s %8.1f%% %10.4g %10.4g %.3g\n", l->layer,
             tern_dtype_name(l->from), tern_dtype_name(l->to),
             cli_shape_str(l->ndim, l->shape, sh, sizeof sh),
             100 * l->st.sparsity, l->st.scale_min, l->st.scale_max, l->st.mse);
    } else {
      printf("%-30s %-8s %-8s %-20s (kept)\n", l->layer,
             tern_dtype_name(l->from), tern_dtype_name(l->to),
             cli_shape_str(l->ndim, l->shape, sh, sizeof sh));
    }
  }
  if (json) {
    cj_array_end(&j);
    cj_object_end(&j);
    cj_finish(&j);
  } else {
    char b1[32], b2[32];
    printf("wrote %s: %s -> %s (%.2fx smaller)\n", output,
           cli_bytes_str((uint64_t)in_bytes, b1, sizeof b1),
           cli_bytes_str((uint64_t)out_bytes, b2, sizeof b2),
           out_bytes > 0 ? (double)in_bytes / out_bytes : 0);
  }
  free(st.stats);
  return CLI_EXIT_OK;
}
