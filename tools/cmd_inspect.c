/* cmd_inspect.c — `tern inspect FILE`: metadata, inputs/outputs, layers,
 * every constant's dtype/shape/bytes (sparsity of quantized ones) and the
 * compression against fp32. The fp32 figure is measured, not estimated: the
 * graph is rebuilt with every constant dequantized to f32, saved to a
 * temporary file with the same writer, and that file's size is compared to
 * this one's. */
#include "cli_common.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct dtype_total {
  int64_t count, params;
  uint64_t bytes;
} dtype_total;

/* Fraction of zero codes in an i8/ternary constant (-1 for other dtypes). */
static double constant_sparsity(const tern_tensor_info *t) {
  int64_t rows = t->ndim > 0 ? t->shape[0] : 1;
  int64_t cols = t->ndim > 0 ? cli_numel(t->ndim - 1, t->shape + 1) : 1;
  int64_t n = rows * cols, zeros = 0;
  if (n <= 0)
    return -1;
  if (t->dtype == TERN_DTYPE_I8) {
    for (int64_t i = 0; i < n; i++)
      zeros += ((const int8_t *)t->data)[i] == 0;
    return (double)zeros / (double)n;
  }
  if (t->dtype != TERN_DTYPE_TERNARY)
    return -1;
  int8_t *q = malloc((size_t)n);
  if (!q || tern_ternary_unpack(t->data, rows, cols, q) != TERN_OK) {
    free(q);
    return -1;
  }
  for (int64_t i = 0; i < n; i++)
    zeros += q[i] == 0;
  free(q);
  return (double)zeros / (double)n;
}

typedef struct deq_state {
  float *buf;
} deq_state;

static int to_f32(void *user, const tern_tensor_info *t, const char *layer,
                  int layer_index, tern_constant_desc *repl) {
  deq_state *st = user;
  if (t->dtype == TERN_DTYPE_F32)
    return 0;
  int64_t n = cli_numel(t->ndim, t->shape);
  free(st->buf);
  st->buf = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (!st->buf || !cli_dequantize(t, st->buf)) {
    cli_error("cannot convert '%s' (%s) to f32", t->name,
              tern_dtype_name(t->dtype) ? tern_dtype_name(t->dtype) : "?");
    return -1;
  }
  repl->dtype = TERN_DTYPE_F32;
  repl->data = st->buf;
  repl->data_bytes = (size_t)n * sizeof(float);
  repl->scales = NULL;
  repl->scale_count = 0;
  return 1;
}

/* Size of the same graph saved with all-f32 constants, or -1. */
static int64_t fp32_file_bytes(const tern_graph *g) {
  deq_state st = {NULL};
  tern_graph *f = NULL;
  int rc = cli_graph_rebuild(g, to_f32, &st, &f);
  free(st.buf);
  if (rc)
    return -1;
  const char *dir = getenv("TMPDIR");
  char path[512];
  snprintf(path, sizeof path, "%s/tern-inspect-fp32-XXXXXX",
           dir && *dir ? dir : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) {
    tern_graph_destroy(f);
    cli_error("cannot create a temporary file in %s", dir ? dir : "/tmp");
    return -1;
  }
  close(fd);
  int64_t bytes = -1;
  tern_status s = tern_graph_save(f, path, NULL);
  if (s == TERN_OK)
    bytes = cli_file_size(path);
  else
    cli_error("saving the fp32 copy: %s", tern_graph_errmsg(f));
  unlink(path);
  tern_graph_destroy(f);
  return bytes;
}

int cmd_inspect(int argc, char **argv) {
  bool json = false, no_compression = false, no_layers = false;
  const cli_opt opts[] = {
      {"json", 0, CLI_FLAG, &json, NULL, "one JSON document on stdout"},
      {"no-compression", 0, CLI_FLAG, &no_compression, NULL,
       "skip the fp32 comparison (it writes a temporary fp32 copy)"},
      {"no-layers", 0, CLI_FLAG, &no_layers, NULL,
       "omit the per-node and per-constant listing"},
  };
  const cli_spec spec = {
      "tern inspect FILE [--json]",
      "Show a .tern file: metadata, inputs and outputs, layers, each "
      "constant's dtype, shape, bytes and sparsity, totals per dtype, and the "
      "compression vs fp32 (file size against the size of the same graph "
      "saved with every constant dequantized to f32).",
      opts,
      3,
      1,
      1,
      NULL};
  const char *pos[1];
  int np;
  cli_parse_result pr = cli_parse(&spec, argc, argv, 1, pos, &np);
  if (pr != CLI_PARSED)
    return pr == CLI_HELP_SHOWN ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  tern_graph *g = NULL;
  if (cli_load_graph(pos[0], &g))
    return CLI_EXIT_FAIL;
  int64_t file_bytes = cli_file_size(pos[0]);
  int64_t fp32_bytes = no_compression ? -1 : fp32_file_bytes(g);
  if (!no_compression && fp32_bytes < 0) {
    tern_graph_destroy(g);
    return CLI_EXIT_FAIL;
  }
  double ratio = fp32_bytes > 0 && file_bytes > 0
                     ? (double)fp32_bytes / (double)file_bytes
                     : 0;

  cli_json j;
  char sh[128], b1[32], b2[32];
  if (json) {
    cj_init(&j, stdout);
    cj_object(&j);
    cj_kstr(&j, "path", pos[0]);
    cj_kint(&j, "file_bytes", file_bytes);
  } else {
    printf("%s: %s\n", pos[0],
           cli_bytes_str((uint64_t)file_bytes, b1, sizeof b1));
  }

  const char *const *keys, *const *values;
  int nm = cli_graph_metadata(g, &keys, &values);
  if (json) {
    cj_key(&j, "metadata");
    cj_object(&j);
    for (int i = 0; i < nm; i++)
      cj_kstr(&j, keys[i], values[i]);
    cj_object_end(&j);
  } else if (nm) {
    printf("metadata:\n");
    for (int i = 0; i < nm; i++)
      printf("  %s = %s\n", keys[i], values[i]);
  }

  for (int io = 0; io < 2; io++) {
    int n = io ? tern_graph_output_count(g) : tern_graph_input_count(g);
    if (json) {
      cj_key(&j, io ? "outputs" : "inputs");
      cj_array(&j);
    } else {
      printf("%s:", io ? "outputs" : "inputs");
    }
    for (int i = 0; i < n; i++) {
      int id;
      tern_tensor_info ti = {.size = sizeof ti};
      if ((io ? tern_graph_output(g, i, &id) : tern_graph_input(g, i, &id)) ||
          tern_graph_tensor_info(g, id, &ti))
        continue;
      if (json) {
        cj_object(&j);
        cj_kstr(&j, "name", ti.name);
        cj_key(&j, "shape");
        cj_shape(&j, ti.ndim, ti.shape);
        cj_object_end(&j);
      } else {
        printf(" %s %s", ti.name, cli_shape_str(ti.ndim, ti.shape, sh, 128));
      }
    }
    if (json)
      cj_array_end(&j);
    else
      printf("\n");
  }

  int nn = tern_graph_node_count(g);
  if (!no_layers) {
    if (json) {
      cj_key(&j, "nodes");
      cj_array(&j);
    } else {
      printf("nodes (%d):\n  %-4s %-15s %-28s %-20s %s\n", nn, "#", "OP",
             "NAME", "OUTPUT", "WEIGHT");
    }
    for (int i = 0; i < nn; i++) {
      tern_node_info ni = {.size = sizeof ni};
      tern_tensor_info out = {.size = sizeof out}, w = {.size = sizeof w};
      if (tern_graph_node_info(g, i, &ni) ||
          tern_graph_tensor_info(g, ni.output, &out))
        continue;
      bool has_w = (ni.op == TERN_OP_LINEAR || ni.op == TERN_OP_CONV2D) &&
                   ni.n_inputs > 1 &&
                   tern_graph_tensor_info(g, ni.inputs[1], &w) == TERN_OK;
      if (json) {
        cj_object(&j);
        cj_kint(&j, "index", i);
        cj_kstr(&j, "op", tern_op_name(ni.op));
        cj_kstr(&j, "name", ni.name);
        cj_key(&j, "inputs");
        cj_array(&j);
        for (int k = 0; k < ni.n_inputs; k++) {
          tern_tensor_info in = {.size = sizeof in};
          if (tern_graph_tensor_info(g, ni.inputs[k], &in) == TERN_OK)
            cj_str(&j, in.name);
          else
            cj_null(&j);
        }
        cj_array_end(&j);
        cj_key(&j, "output_shape");
        cj_shape(&j, out.ndim, out.shape);
        if (has_w) {
          cj_kstr(&j, "weight_dtype", tern_dtype_name(w.dtype));
          cj_kuint(&j, "weight_bytes", w.data_bytes);
        }
        cj_object_end(&j);
      } else {
        char wdesc[96] = "";
        if (has_w)
          snprintf(wdesc, sizeof wdesc, "%s %s", tern_dtype_name(w.dtype),
                   cli_shape_str(w.ndim, w.shape, sh, sizeof sh));
        printf("  %-4d %-15s %-28s %-20s %s\n", i, tern_op_name(ni.op), ni.name,
               cli_shape_str(out.ndim, out.shape, b1, sizeof b1), wdesc);
      }
    }
    if (json)
      cj_array_end(&j);
  }

  dtype_total tot[TERN_DTYPE_COUNT_];
  memset(tot, 0, sizeof tot);
  int64_t params = 0, zeros_q = 0, count_q = 0;
  uint64_t const_bytes = 0;
  if (json && !no_layers) {
    cj_key(&j, "constants");
    cj_array(&j);
  } else if (!no_layers) {
    printf("constants:\n  %-34s %-8s %-20s %10s %s\n", "NAME", "DTYPE", "SHAPE",
           "BYTES", "SPARSITY");
  }
  for (int id = 0; id < tern_graph_tensor_count(g); id++) {
    tern_tensor_info t = {.size = sizeof t};
    if (tern_graph_tensor_info(g, id, &t) || t.kind != TERN_TENSOR_CONSTANT)
      continue;
    int64_t n = cli_numel(t.ndim, t.shape);
    uint64_t bytes = t.data_bytes + (uint64_t)t.scale_count * sizeof(float);
    double sp = constant_sparsity(&t);
    int li;
    const char *layer;
    cli_weight_layers(g, id, &li, &layer);
    if ((unsigned)t.dtype < TERN_DTYPE_COUNT_) {
      tot[t.dtype].count++;
      tot[t.dtype].params += n;
      tot[t.dtype].bytes += bytes;
    }
    params += n;
    const_bytes += bytes;
    if (t.dtype == TERN_DTYPE_TERNARY && sp >= 0) {
      zeros_q += (int64_t)(sp * (double)n + 0.5);
      count_q += n;
    }
    if (no_layers)
      continue;
    if (json) {
      cj_object(&j);
      cj_kstr(&j, "name", t.name);
      cj_kstr(&j, "dtype", tern_dtype_name(t.dtype));
      cj_key(&j, "shape");
      cj_shape(&j, t.ndim, t.shape);
      cj_kuint(&j, "data_bytes", t.data_bytes);
      cj_kint(&j, "scale_count", t.scale_count);
      cj_kstr(&j, "layer", layer);
      if (sp >= 0)
        cj_kdouble(&j, "sparsity", sp);
      cj_object_end(&j);
    } else {
      char spb[16] = "";
      if (sp >= 0)
        snprintf(spb, sizeof spb, "%.1f%%", 100 * sp);
      printf("  %-34s %-8s %-20s %10llu %s\n", t.name, tern_dtype_name(t.dtype),
             cli_shape_str(t.ndim, t.shape, sh, sizeof sh),
             (unsigned long long)bytes, spb);
    }
  }
  if (json && !no_layers)
    cj_array_end(&j);

  if (json) {
    cj_key(&j, "totals");
    cj_object(&j);
    cj_kint(&j, "nodes", nn);
    cj_kint(&j, "parameters", params);
    cj_kuint(&j, "constant_bytes", const_bytes);
    if (count_q)
      cj_kdouble(&j, "ternary_sparsity", (double)zeros_q / (double)count_q);
    cj_key(&j, "by_dtype");
    cj_object(&j);
    for (int d = 0; d < TERN_DTYPE_COUNT_; d++) {
      if (!tot[d].count)
        continue;
      cj_key(&j, tern_dtype_name((tern_dtype)d));
      cj_object(&j);
      cj_kint(&j, "constants", tot[d].count);
      cj_kint(&j, "parameters", tot[d].params);
      cj_kuint(&j, "bytes", tot[d].bytes);
      cj_object_end(&j);
    }
    cj_object_end(&j);
    cj_object_end(&j);
    cj_key(&j, "compression");
    if (no_compression) {
      cj_null(&j);
    } else {
      cj_object(&j);
      cj_kstr(&j, "method", "fp32 copy saved and measured");
      cj_kint(&j, "file_bytes", file_bytes);
      cj_kint(&j, "fp32_file_bytes", fp32_bytes);
      cj_kdouble(&j, "ratio", ratio);
      cj_object_end(&j);
    }
    cj_object_end(&j);
    cj_finish(&j);
  } else {
    printf("totals: %d nodes, %lld parameters, %s in constants (scales "
           "included)\n",
           nn, (long long)params, cli_bytes_str(const_bytes, b1, sizeof b1));
    for (int d = 0; d < TERN_DTYPE_COUNT_; d++)
      if (tot[d].count)
        printf("  %-8s %3lld constants %12lld parameters %s\n",
               tern_dtype_name((tern_dtype)d), (long long)tot[d].count,
               (long long)tot[d].params,
               cli_bytes_str(tot[d].bytes, b1, sizeof b1));
    if (count_q)
      printf("ternary sparsity: %.1f%%\n",
             100.0 * (double)zeros_q / (double)count_q);
    if (!no_compression)
      printf("compression vs fp32: %.2fx (this file %s, fp32 file %s)\n", ratio,
             cli_bytes_str((uint64_t)file_bytes, b1, sizeof b1),
             cli_bytes_str((uint64_t)fp32_bytes, b2, sizeof b2));
  }
  tern_graph_destroy(g);
  return CLI_EXIT_OK;
}
