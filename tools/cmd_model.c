/* cmd_model.c — `tern model create NAME -o FILE` builds a zoo model with
 * random (seeded) weights in the requested precision and saves it;
 * `tern model list` shows the zoo. */
#include "cli_common.h"
#include "tern_models.h"

#include <string.h>

static int model_list(int argc, char **argv) {
  bool json = false;
  const cli_opt opts[] = {
      {"json", 0, CLI_FLAG, &json, NULL, "one JSON document on stdout"},
  };
  const cli_spec spec = {"tern model list [--json]",
                         "List the models `tern model create` can build.",
                         opts,
                         1,
                         0,
                         0,
                         NULL};
  const char *pos[1];
  int np;
  cli_parse_result pr = cli_parse(&spec, argc, argv, 2, pos, &np);
  if (pr != CLI_PARSED)
    return pr == CLI_HELP_SHOWN ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  cli_json j;
  if (json) {
    cj_init(&j, stdout);
    cj_object(&j);
    cj_key(&j, "models");
    cj_array(&j);
  }
  for (int i = 0; i < tern_model_count(); i++) {
    const tern_model_info *m = tern_model_info_at(i);
    if (json) {
      cj_object(&j);
      cj_kstr(&j, "name", m->name);
      cj_kstr(&j, "summary", m->summary);
      cj_kstr(&j, "input", m->input);
      cj_object_end(&j);
    } else {
      printf("%-16s %s\n%-16s input %s\n", m->name, m->summary, "", m->input);
    }
  }
  if (json) {
    cj_array_end(&j);
    cj_object_end(&j);
    cj_finish(&j);
  }
  return CLI_EXIT_OK;
}

/* Supplied weights from another .tern file: constants are matched by name
 * and must have the same shape; quantized ones are dequantized first. */
typedef struct weight_source {
  tern_graph *g;
  int used;
  char err[256];
} weight_source;

static tern_status from_file(void *user, const char *name, int ndim,
                             const int64_t *shape, float *out, size_t count) {
  weight_source *ws = user;
  for (int id = 0; id < tern_graph_tensor_count(ws->g); id++) {
    tern_tensor_info t = {.size = sizeof t};
    if (tern_graph_tensor_info(ws->g, id, &t) ||
        t.kind != TERN_TENSOR_CONSTANT || strcmp(t.name, name) != 0)
      continue;
    bool same = t.ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
      same = t.shape[i] == shape[i];
    char a[96], b[96];
    if (!same || (size_t)cli_numel(t.ndim, t.shape) != count) {
      snprintf(ws->err, sizeof ws->err,
               "--weights: '%s' is %s in the file, the model needs %s", name,
               cli_shape_str(t.ndim, t.shape, a, sizeof a),
               cli_shape_str(ndim, shape, b, sizeof b));
      return TERN_ERR_SHAPE;
    }
    if (!cli_dequantize(&t, out)) {
      snprintf(ws->err, sizeof ws->err,
               "--weights: '%s' has dtype %s, which cannot become f32", name,
               tern_dtype_name(t.dtype) ? tern_dtype_name(t.dtype) : "?");
      return TERN_ERR_DTYPE;
    }
    ws->used++;
    return TERN_OK;
  }
  return TERN_ERR_NOT_FOUND;
}

static const char k_create_epilog[] =
    "Precisions: fp32, int8, ternary, mixed (first and last layers int8, or\n"
    "fp32 with --edge fp32; the rest ternary). --layer NAME=PREC overrides\n"
    "one layer or a group (\"--layer stage1=int8\" matches stage1.*); it can\n"
    "be repeated. Weights are random, N(0, gain^2/fan_in), seeded by --seed\n"
    "and each parameter's name, except those --weights FILE.tern supplies\n"
    "(constants with the same name and shape, e.g. from training).";

static int model_create(int argc, char **argv) {
  const char *output = NULL, *weights = NULL, *precision = "fp32",
             *storage = "2bit", *method = "threshold", *edge = "int8";
  int width = 0, depth = 0, heads = 0, ffn = 0, seq = 0, classes = 0;
  int64_t batch = 0;
  uint64_t seed = 1;
  double threshold = 0;
  bool per_tensor = false, json = false;
  cli_list layers = {{0}, 0};
  const cli_opt opts[] = {
      {"output", 'o', CLI_STRING, &output, "FILE", "the .tern file to write"},
      {"precision", 'p', CLI_STRING, &precision, "P",
       "fp32 (default), int8, ternary or mixed"},
      {"width", 0, CLI_INT, &width, "N", "model width (see 'tern model list')"},
      {"depth", 0, CLI_INT, &depth, "N",
       "blocks (resnet-mini per stage, mobilenet-mini)"},
      {"heads", 0, CLI_INT, &heads, "N", "bitnet-block attention heads"},
      {"ffn", 0, CLI_INT, &ffn, "N", "bitnet-block FFN hidden size"},
      {"seq", 0, CLI_INT, &seq, "N", "bitnet-block sequence length"},
      {"classes", 0, CLI_INT, &classes, "N", "classifier outputs (10)"},
      {"batch", 'b', CLI_INT64, &batch, "N", "batch (dim 0 of the input)"},
      {"seed", 0, CLI_UINT64, &seed, "S", "random weight seed (1)"},
      {"storage", 0, CLI_STRING, &storage, "S",
       "ternary storage in the file: 2bit (default) or 1.58bit"},
      {"method", 0, CLI_STRING, &method, "M",
       "ternary quantizer: threshold (default) or absmean"},
      {"threshold", 0, CLI_DOUBLE, &threshold, "A",
       "threshold factor a of t = a*mean|W| (0.7)"},
      {"per-tensor", 0, CLI_FLAG, &per_tensor, NULL,
       "one ternary scale per tensor instead of per channel"},
      {"edge", 0, CLI_STRING, &edge, "P",
       "precision of mixed mode's first/last layers: int8 or fp32"},
      {"layer", 'l', CLI_LIST, &layers, "NAME=P",
       "per-layer precision override (repeatable)"},
      {"weights", 'w', CLI_STRING, &weights, "FILE",
       "take parameters from this .tern file by name"},
      {"json", 0, CLI_FLAG, &json, NULL, "one JSON document on stdout"},
  };
  const cli_spec spec = {
      "tern model create NAME -o FILE [options]",
      "Build a zoo model with random seeded weights and save it as .tern.",
      opts,
      (int)(sizeof opts / sizeof opts[0]),
      1,
      1,
      k_create_epilog};
  const char *pos[1];
  int np;
  cli_parse_result pr = cli_parse(&spec, argc, argv, 2, pos, &np);
  if (pr != CLI_PARSED)
    return pr == CLI_HELP_SHOWN ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  if (!output)
    return cli_usage_error("missing -o FILE");

  tern_model_desc d = {.size = sizeof d};
  if (tern_model_precision_from_name(precision, &d.precision))
    return cli_usage_error("%s", tern_model_errmsg());
  tern_save_desc sd = {.size = sizeof sd};
  if (!cli_parse_storage(storage, &sd.ternary_storage))
    return cli_usage_error("unknown --storage '%s' (2bit or 1.58bit)", storage);
  if (strcmp(method, "threshold") == 0)
    d.ternary_method = TERN_TERNARY_THRESHOLD;
  else if (strcmp(method, "absmean") == 0)
    d.ternary_method = TERN_TERNARY_ABSMEAN;
  else
    return cli_usage_error("unknown --method '%s' (threshold or absmean)",
                           method);
  if (strcmp(edge, "int8") == 0)
    d.mixed_edge_fp32 = 0;
  else if (strcmp(edge, "fp32") == 0)
    d.mixed_edge_fp32 = 1;
  else
    return cli_usage_error("unknown --edge '%s' (int8 or fp32)", edge);
  if (threshold < 0 || threshold > 10)
    return cli_usage_error("--threshold %g out of range (0..10)", threshold);
  if (width < 0 || depth < 0 || heads < 0 || ffn < 0 || seq < 0 ||
      classes < 0 || batch < 0)
    return cli_usage_error("sizes must not be negative");
  tern_model_layer_precision ov[CLI_LIST_MAX];
  char names[CLI_LIST_MAX][128];
  for (int i = 0; i < layers.n; i++) {
    const char *eq = strchr(layers.v[i], '=');
    size_t n = eq ? (size_t)(eq - layers.v[i]) : 0;
    if (!eq || n == 0 || n >= sizeof names[i])
      return cli_usage_error("--layer wants NAME=PRECISION, got '%s'",
                             layers.v[i]);
    memcpy(names[i], layers.v[i], n);
    names[i][n] = 0;
    ov[i].layer = names[i];
    if (tern_model_precision_from_name(eq + 1, &ov[i].precision) ||
        ov[i].precision == TERN_MODEL_MIXED)
      return cli_usage_error("--layer %s: precision must be fp32, int8 or "
                             "ternary",
                             names[i]);
  }
  d.overrides = ov;
  d.override_count = layers.n;
  d.threshold_factor = (float)threshold;
  d.per_tensor_scales = per_tensor;
  d.width = width;
  d.depth = depth;
  d.heads = heads;
  d.ffn = ffn;
  d.seq = seq;
  d.classes = classes;
  d.batch = batch;
  d.seed = seed;

  weight_source ws = {0};
  if (weights) {
    if (cli_load_graph(weights, &ws.g))
      return CLI_EXIT_FAIL;
    d.weight_fn = from_file;
    d.weight_user = &ws;
  }
  tern_graph *g = NULL;
  tern_status s = tern_model_build(pos[0], &d, &g);
  tern_graph_destroy(ws.g);
  if (s == TERN_ERR_NOT_FOUND)
    return cli_usage_error("%s", tern_model_errmsg());
  if (s && ws.err[0])
    return cli_error("%s", ws.err);
  if (s)
    return cli_error("%s (%s)", tern_model_errmsg(), tern_status_name(s));
  if (weights && ws.used == 0) {
    tern_graph_destroy(g);
    return cli_error("--weights: no parameter of %s found in '%s' (names "
                     "such as fc1.weight must match)",
                     pos[0], weights);
  }
  if (weights) {
    tern_graph_set_metadata(g, "model.weights", weights);
    cli_note("%d parameters taken from %s", ws.used, weights);
  }
  tern_graph_set_metadata(g, "model.storage", storage);
  s = tern_graph_save(g, output, &sd);
  if (s) {
    int r = cli_error("cannot save '%s': %s (%s)", output, tern_graph_errmsg(g),
                      tern_status_name(s));
    tern_graph_destroy(g);
    return r;
  }
  int64_t params = 0;
  int nconst = 0;
  for (int id = 0; id < tern_graph_tensor_count(g); id++) {
    tern_tensor_info ti = {.size = sizeof ti};
    if (tern_graph_tensor_info(g, id, &ti) == TERN_OK &&
        ti.kind == TERN_TENSOR_CONSTANT) {
      params += cli_numel(ti.ndim, ti.shape);
      nconst++;
    }
  }
  int64_t bytes = cli_file_size(output);
  if (json) {
    cli_json j;
    cj_init(&j, stdout);
    cj_object(&j);
    cj_kstr(&j, "model", pos[0]);
    cj_kstr(&j, "path", output);
    cj_kstr(&j, "precision", precision);
    cj_kstr(&j, "storage", storage);
    cj_kuint(&j, "seed", seed);
    cj_kint(&j, "nodes", tern_graph_node_count(g));
    cj_kint(&j, "constants", nconst);
    cj_kint(&j, "parameters", params);
    cj_kint(&j, "file_bytes", bytes);
    cj_kint(&j, "supplied_parameters", ws.used);
    cj_object_end(&j);
    cj_finish(&j);
  } else {
    char b[32];
    printf("wrote %s: %s, %s weights, %lld parameters, %d nodes, %s\n", output,
           pos[0], precision, (long long)params, tern_graph_node_count(g),
           cli_bytes_str((uint64_t)(bytes > 0 ? bytes : 0), b, sizeof b));
  }
  tern_graph_destroy(g);
  return CLI_EXIT_OK;
}

int cmd_model(int argc, char **argv) {
  const cli_spec spec = {
      "tern model <create|list> [options]",
      "Work with the model zoo:\n"
      "  create NAME -o FILE   build a zoo model and save it\n"
      "  list                  show the models",
      NULL,
      0,
      0,
      1,
      NULL};
  if (argc >= 2 && strcmp(argv[1], "create") == 0)
    return model_create(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "list") == 0)
    return model_list(argc, argv);
  const char *pos[1];
  int np = 0;
  cli_parse_result pr = cli_parse(&spec, argc, argv, 1, pos, &np);
  if (pr != CLI_PARSED)
    return pr == CLI_HELP_SHOWN ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  if (np == 0)
    return cli_usage_error("missing subcommand (create or list)");
  return cli_usage_error("unknown subcommand '%s' (create or list)", pos[0]);
}
