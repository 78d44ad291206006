/* cmd_run.c — `tern run FILE`: runs a model in a session on a chosen device
 * with inputs from raw f32 files or random values, prints outputs (top-1 of
 * [N, C] outputs) and latency; with --idx/--labels it evaluates accuracy on
 * an IDX (MNIST-format) dataset range. */
#include "cli_common.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Read a whole file, gunzipping it if it is gzip-compressed (zlib passes
 * other files through); NULL (message printed) on failure. */
static unsigned char *read_file(const char *path, size_t *bytes) {
  gzFile f = gzopen(path, "rb");
  if (!f) {
    cli_error("cannot open '%s': %s", path, strerror(errno));
    return NULL;
  }
  unsigned char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 1 << 16;
      unsigned char *nb = realloc(buf, nc);
      if (!nb) {
        free(buf);
        gzclose(f);
        cli_error("out of memory reading '%s'", path);
        return NULL;
      }
      buf = nb;
      cap = nc;
    }
    size_t want = cap - n > (1u << 30) ? (1u << 30) : cap - n;
    int r = gzread(f, buf + n, (unsigned)want);
    if (r < 0) {
      int code;
      const char *msg = gzerror(f, &code);
      cli_error("error reading '%s': %s", path, msg);
      free(buf);
      gzclose(f);
      return NULL;
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  gzclose(f);
  *bytes = n;
  return buf;
}

/* An IDX file of unsigned bytes: dims and a pointer to the data. */
typedef struct idx_file {
  unsigned char *buf;
  int ndim;
  int64_t dims[4];
  const unsigned char *data;
} idx_file;

static int idx_load(const char *path, idx_file *x) {
  size_t n;
  memset(x, 0, sizeof *x);
  x->buf = read_file(path, &n);
  if (!x->buf)
    return CLI_EXIT_FAIL;
  const unsigned char *b = x->buf;
  if (n < 4 || b[0] || b[1] || b[2] != 0x08 || b[3] < 1 || b[3] > 4) {
    free(x->buf);
    return cli_error("'%s' is not an IDX file of unsigned bytes (magic "
                     "00 00 08 01..04)",
                     path);
  }
  x->ndim = b[3];
  size_t off = 4 + 4 * (size_t)x->ndim;
  if (n < off) {
    free(x->buf);
    return cli_error("'%s': truncated IDX header", path);
  }
  uint64_t total = 1;
  for (int i = 0; i < x->ndim; i++) {
    const unsigned char *d = b + 4 + 4 * i;
    x->dims[i] = ((int64_t)d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3];
    total *= (uint64_t)x->dims[i];
    if (total > n) {
      free(x->buf);
      return cli_error("'%s': dims exceed the file size", path);
    }
  }
  if (n - off < total) {
    free(x->buf);
    return cli_error("'%s': %zu data bytes, the header says %llu", path,
                     n - off, (unsigned long long)total);
  }
  x->data = b + off;
  return CLI_EXIT_OK;
}

static int argmax(const float *v, int64_t n) {
  int best = 0;
  for (int64_t i = 1; i < n; i++)
    if (v[i] > v[best])
      best = (int)i;
  return best;
}

typedef struct run_opts {
  const char *path;
  cli_session_opts so;
  const char *idx, *labels, *range, *normalize;
  bool json;
} run_opts;

static int evaluate(const run_opts *o, tern_session *sess, const char *dev) {
  int in_ndim, out_ndim;
  int64_t shape[TERN_MAX_DIMS], oshape[TERN_MAX_DIMS];
  if (tern_session_input_shape(sess, 0, &in_ndim, shape) ||
      tern_session_output_shape(sess, 0, &out_ndim, oshape))
    return cli_error("%s", tern_session_errmsg(sess));
  int64_t batch = shape[0], per = cli_numel(in_ndim - 1, shape + 1);
  if (out_ndim != 2 || oshape[0] != batch)
    return cli_error("--idx needs a classifier with output [N, classes]");
  int64_t classes = oshape[1];
  idx_file im, lb;
  if (idx_load(o->idx, &im))
    return CLI_EXIT_FAIL;
  if (idx_load(o->labels, &lb)) {
    free(im.buf);
    return CLI_EXIT_FAIL;
  }
  int rc = CLI_EXIT_FAIL;
  float *in = NULL, *out = NULL;
  int64_t n = im.dims[0];
  int64_t img = cli_numel(im.ndim - 1, im.dims + 1);
  int64_t a = 0, b = n;
  double mean = 0, std = 1;
  if (lb.ndim != 1 || lb.dims[0] != n) {
    cli_error("labels: %lld entries for %lld images", (long long)lb.dims[0],
              (long long)n);
    goto done;
  }
  if (im.ndim < 2) {
    cli_error("'%s' is a %d-D IDX file, not images", o->idx, im.ndim);
    goto done;
  }
  if (img != per) {
    cli_error("images have %lld values each, the model's input takes %lld",
              (long long)img, (long long)per);
    goto done;
  }
  if (o->range && !cli_parse_range(o->range, n, &a, &b)) {
    rc = cli_usage_error("bad --range '%s' (A:B within 0:%lld)", o->range,
                         (long long)n);
    goto done;
  }
  if (o->normalize) {
    if (sscanf(o->normalize, "%lf,%lf", &mean, &std) != 2 || !(std > 0)) {
      rc = cli_usage_error("bad --normalize '%s' (MEAN,STD)", o->normalize);
      goto done;
    }
  }
  in = malloc((size_t)(batch * per) * sizeof(float));
  out = malloc((size_t)(batch * classes) * sizeof(float));
  if (!in || !out) {
    cli_error("out of memory");
    goto done;
  }
  int64_t correct = 0;
  double t0 = now_ms();
  for (int64_t s = a; s < b; s += batch) {
    int64_t m = b - s < batch ? b - s : batch;
    for (int64_t i = 0; i < batch * per; i++) {
      int64_t r = i / per;
      double v = r < m ? im.data[(s + r) * per + i % per] / 255.0 : 0.0;
      in[i] = r < m ? (float)((v - mean) / std) : 0.0f;
    }
    if (tern_session_set_input(sess, 0, in, (size_t)(batch * per)) ||
        tern_session_run(sess) ||
        tern_session_get_output(sess, 0, out, (size_t)(batch * classes))) {
      cli_error("run failed at sample %lld: %s", (long long)s,
                tern_session_errmsg(sess));
      goto done;
    }
    for (int64_t r = 0; r < m; r++)
      correct += argmax(out + r * classes, classes) == lb.data[s + r];
  }
  double ms = now_ms() - t0;
  int64_t total = b - a;
  double acc = (double)correct / (double)total;
  if (o->json) {
    cli_json j;
    cj_init(&j, stdout);
    cj_object(&j);
    cj_kstr(&j, "path", o->path);
    cj_kstr(&j, "device", dev);
    cj_kint(&j, "batch", batch);
    cj_key(&j, "range");
    cj_array(&j);
    cj_int(&j, a);
    cj_int(&j, b);
    cj_array_end(&j);
    cj_kint(&j, "samples", total);
    cj_kint(&j, "correct", correct);
    cj_kdouble(&j, "accuracy", acc);
    cj_kdouble(&j, "total_ms", ms);
    cj_kdouble(&j, "ms_per_sample", ms / (double)total);
    cj_object_end(&j);
    cj_finish(&j);
  } else {
    printf("accuracy %.4f (%lld/%lld) on samples %lld:%lld, %s, %.3f ms per "
           "sample\n",
           acc, (long long)correct, (long long)total, (long long)a,
           (long long)b, dev, ms / (double)total);
  }
  rc = CLI_EXIT_OK;
done:
  free(in);
  free(out);
  free(im.buf);
  free(lb.buf);
  return rc;
}

static const char k_run_epilog[] =
    "Inputs: --input FILE per graph input (raw little-endian f32, exactly the\n"
    "input's element count after --batch), or --random (uniform [-1, 1),\n"
    "--seed). Evaluation: --idx IMAGES --labels LABELS [--range A:B]: pixels\n"
    "are scaled to [0, 1], then (x - MEAN) / STD with --normalize MEAN,STD\n"
    "or the model's input.mean / input.std metadata. Files may be gzipped.";

int cmd_run(int argc, char **argv) {
  run_opts o = {0};
  cli_list inputs = {{0}, 0};
  const char *output = NULL;
  bool random = false;
  uint64_t seed = 1;
  int repeat = 1, warmup = 0;
  const cli_opt opts[] = {
      {"input", 'i', CLI_LIST, &inputs, "FILE.bin",
       "raw f32 input (once per graph input)"},
      {"random", 0, CLI_FLAG, &random, NULL, "random inputs"},
      {"seed", 0, CLI_UINT64, &seed, "S", "seed for --random (1)"},
      {"batch", 'b', CLI_INT64, &o.so.batch, "N", "override dim 0 of inputs"},
      {"backend", 0, CLI_STRING, &o.so.backend, "B",
       "cpu (default), vulkan, opencl or a device id (tern devices)"},
      {"threads", 0, CLI_INT, &o.so.threads, "N", "CPU threads (0: all)"},
      {"reference", 0, CLI_FLAG, &o.so.reference, NULL,
       "naive CPU reference kernels"},
      {"no-fusion", 0, CLI_FLAG, &o.so.no_fusion, NULL, "keep every node"},
      {"no-fallback", 0, CLI_FLAG, &o.so.no_fallback, NULL,
       "fail instead of running unsupported nodes on the CPU"},
      {"output", 'o', CLI_STRING, &output, "FILE",
       "write the outputs as raw f32"},
      {"repeat", 'r', CLI_INT, &repeat, "N", "timed runs (1)"},
      {"warmup", 0, CLI_INT, &warmup, "N", "untimed runs first (0)"},
      {"idx", 0, CLI_STRING, &o.idx, "IMAGES", "IDX images to evaluate"},
      {"labels", 0, CLI_STRING, &o.labels, "LABELS", "IDX labels"},
      {"range", 0, CLI_STRING, &o.range, "A:B", "sample range (all)"},
      {"normalize", 0, CLI_STRING, &o.normalize, "MEAN,STD",
       "input normalization after scaling to [0, 1]"},
      {"json", 0, CLI_FLAG, &o.json, NULL, "one JSON document on stdout"},
  };
  const cli_spec spec = {
      "tern run FILE (--input FILE.bin ... | --random | --idx IMAGES "
      "--labels LABELS) [options]",
      "Run a .tern model on a device and report outputs (top-1 for [N, C] "
      "outputs) and latency, or its accuracy on an IDX dataset.",
      opts,
      (int)(sizeof opts / sizeof opts[0]),
      1,
      1,
      k_run_epilog};
  const char *pos[1];
  int np;
  cli_parse_result pr = cli_parse(&spec, argc, argv, 1, pos, &np);
  if (pr != CLI_PARSED)
    return pr == CLI_HELP_SHOWN ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  o.path = pos[0];
  bool eval = o.idx || o.labels;
  if (eval && !(o.idx && o.labels))
    return cli_usage_error("--idx and --labels go together");
  if (!eval && !random && inputs.n == 0)
    return cli_usage_error("give --input FILE, --random or --idx/--labels");
  if ((random || eval) && inputs.n)
    return cli_usage_error("--input conflicts with --random/--idx");
  if (repeat < 1 || warmup < 0 || o.so.batch < 0)
    return cli_usage_error("--repeat must be >= 1, --warmup and --batch >= 0");

  tern_graph *g = NULL;
  if (cli_load_graph(o.path, &g))
    return CLI_EXIT_FAIL;
  if (eval && !o.normalize) {
    const char *m = tern_graph_get_metadata(g, "input.mean");
    const char *s = tern_graph_get_metadata(g, "input.std");
    static char norm[96];
    if (m && s) {
      snprintf(norm, sizeof norm, "%s,%s", m, s);
      o.normalize = norm;
    }
  }
  tern_context *ctx = NULL;
  tern_session *sess = NULL;
  int rc = cli_open_session(g, &o.so, &ctx, &sess);
  int n_in = tern_graph_input_count(g), n_out = tern_graph_output_count(g);
  tern_graph_destroy(g);
  if (rc)
    return rc;
  tern_session_info info = {.size = sizeof info};
  tern_session_get_info(sess, &info);
  float **outs = NULL;
  int64_t *out_n = NULL;
  double *times = NULL;
  if (eval) {
    if (n_in != 1) {
      rc = cli_error("--idx needs a model with one input (this has %d)", n_in);
      goto done;
    }
    rc = evaluate(&o, sess, info.device);
    goto done;
  }
  if (inputs.n && inputs.n != n_in) {
    rc = cli_usage_error("the model has %d inputs, %d --input given", n_in,
                         inputs.n);
    goto done;
  }
  uint64_t rs = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int i = 0; i < n_in; i++) {
    int ndim;
    int64_t shape[TERN_MAX_DIMS];
    if (tern_session_input_shape(sess, i, &ndim, shape)) {
      rc = cli_error("%s", tern_session_errmsg(sess));
      goto done;
    }
    int64_t n = cli_numel(ndim, shape);
    float *buf = NULL;
    if (inputs.n) {
      size_t bytes;
      buf = (float *)read_file(inputs.v[i], &bytes);
      if (!buf) {
        rc = CLI_EXIT_FAIL;
        goto done;
      }
      if (bytes != (size_t)n * sizeof(float)) {
        char sh[128];
        free(buf);
        rc = cli_error("'%s' has %zu bytes; input %d %s needs %lld f32 "
                       "values (%lld bytes)",
                       inputs.v[i], bytes, i,
                       cli_shape_str(ndim, shape, sh, sizeof sh), (long long)n,
                       (long long)n * 4);
        goto done;
      }
    } else {
      buf = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
      if (!buf) {
        rc = cli_error("out of memory");
        goto done;
      }
      for (int64_t k = 0; k < n; k++) {
        rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17; /* xorshift64 */
        buf[k] = (float)((double)(rs >> 11) * (2.0 / 9007199254740992.0) - 1);
      }
    }
    tern_status s = tern_session_set_input(sess, i, buf, (size_t)n);
    free(buf);
    if (s) {
      rc = cli_error("input %d: %s", i, tern_session_errmsg(sess));
      goto done;
    }
  }
  times = malloc((size_t)repeat * sizeof(double));
  if (!times) {
    rc = cli_error("out of memory");
    goto done;
  }
  for (int r = 0; r < warmup + repeat; r++) {
    double t0 = now_ms();
    tern_status s = tern_session_run(sess);
    double t = now_ms() - t0;
    if (s) {
      rc = cli_error("run failed: %s (%s)", tern_session_errmsg(sess),
                     tern_status_name(s));
      goto done;
    }
    if (r >= warmup)
      times[r - warmup] = t;
  }
  outs = calloc((size_t)(n_out > 0 ? n_out : 1), sizeof *outs);
  out_n = calloc((size_t)(n_out > 0 ? n_out : 1), sizeof *out_n);
  if (!outs || !out_n) {
    rc = cli_error("out of memory");
    goto done;
  }
  FILE *of = NULL;
  if (output && !(of = fopen(output, "wb"))) {
    rc = cli_error("cannot create '%s'", output);
    goto done;
  }
  cli_json j;
  double sum = 0;
  for (int r = 0; r < repeat; r++)
    sum += times[r];
  qsort(times, (size_t)repeat, sizeof *times, cmp_double);
  if (o.json) {
    cj_init(&j, stdout);
    cj_object(&j);
    cj_kstr(&j, "path", o.path);
    cj_kstr(&j, "device", info.device);
    cj_key(&j, "session");
    cj_object(&j);
    cj_kint(&j, "nodes", info.node_count);
    cj_kint(&j, "fused", info.fused_count);
    cj_kint(&j, "fallback", info.fallback_count);
    cj_kuint(&j, "peak_activation_bytes", info.peak_activation_bytes);
    cj_kuint(&j, "naive_activation_bytes", info.naive_activation_bytes);
    cj_kuint(&j, "weight_bytes", info.weight_bytes);
    cj_object_end(&j);
    cj_key(&j, "latency_ms");
    cj_object(&j);
    cj_kint(&j, "runs", repeat);
    cj_kdouble(&j, "mean", sum / repeat);
    cj_kdouble(&j, "min", times[0]);
    cj_kdouble(&j, "median", times[repeat / 2]);
    cj_kdouble(&j, "max", times[repeat - 1]);
    cj_object_end(&j);
    cj_key(&j, "outputs");
    cj_array(&j);
  } else {
    printf("%s on %s: %d nodes (%d fused, %d on CPU fallback), peak "
           "activations %llu bytes\n",
           o.path, info.device, info.node_count, info.fused_count,
           info.fallback_count, (unsigned long long)info.peak_activation_bytes);
    printf("latency: %.3f ms mean, %.3f min, %.3f median over %d run%s\n",
           sum / repeat, times[0], times[repeat / 2], repeat,
           repeat > 1 ? "s" : "");
  }
  for (int i = 0; i < n_out && rc == CLI_EXIT_OK; i++) {
    int ndim;
    int64_t shape[TERN_MAX_DIMS];
    if (tern_session_output_shape(sess, i, &ndim, shape)) {
      rc = cli_error("%s", tern_session_errmsg(sess));
      break;
    }
    out_n[i] = cli_numel(ndim, shape);
    outs[i] = malloc((size_t)(out_n[i] > 0 ? out_n[i] : 1) * sizeof(float));
    if (!outs[i] ||
        tern_session_get_output(sess, i, outs[i], (size_t)out_n[i])) {
      rc = cli_error("output %d: %s", i, tern_session_errmsg(sess));
      break;
    }
    const float *v = outs[i];
    double mn = INFINITY, mx = -INFINITY, acc = 0;
    bool finite = true;
    for (int64_t k = 0; k < out_n[i]; k++) {
      finite &= isfinite(v[k]) != 0;
      mn = v[k] < mn ? v[k] : mn;
      mx = v[k] > mx ? v[k] : mx;
      acc += v[k];
    }
    if (of &&
        fwrite(v, sizeof(float), (size_t)out_n[i], of) != (size_t)out_n[i])
      rc = cli_error("writing '%s' failed", output);
    bool top = ndim == 2 && shape[1] > 0;
    char sh[128];
    if (o.json) {
      cj_object(&j);
      cj_key(&j, "shape");
      cj_shape(&j, ndim, shape);
      cj_kbool(&j, "finite", finite);
      cj_kdouble(&j, "min", mn);
      cj_kdouble(&j, "max", mx);
      cj_kdouble(&j, "mean", out_n[i] ? acc / (double)out_n[i] : 0);
      if (top) {
        cj_key(&j, "top1");
        cj_array(&j);
        for (int64_t r = 0; r < shape[0]; r++)
          cj_int(&j, argmax(v + r * shape[1], shape[1]));
        cj_array_end(&j);
      }
      cj_object_end(&j);
    } else {
      printf("output %d %s: min %g max %g mean %g%s\n", i,
             cli_shape_str(ndim, shape, sh, sizeof sh), mn, mx,
             out_n[i] ? acc / (double)out_n[i] : 0,
             finite ? "" : " (NOT FINITE)");
      if (top) {
        printf("  top-1:");
        for (int64_t r = 0; r < shape[0] && r < 64; r++)
          printf(" %d", argmax(v + r * shape[1], shape[1]));
        printf("%s\n", shape[0] > 64 ? " ..." : "");
      }
    }
  }
  if (of && fclose(of) != 0 && rc == CLI_EXIT_OK)
    rc = cli_error("writing '%s' failed", output);
  if (o.json) {
    cj_array_end(&j);
    cj_object_end(&j);
    cj_finish(&j);
  }
done:
  if (outs)
    for (int i = 0; i < n_out; i++)
      free(outs[i]);
  free(outs);
  free(out_n);
  free(times);
  tern_session_destroy(sess);
  tern_context_destroy(ctx);
  return rc;
}
