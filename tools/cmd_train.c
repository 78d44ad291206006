/* cmd_train.c — `tern train` (fp32 training) and the engine shared with
 * `tern qat`, `tern distill` and `tern ptq`: options, data, the run with a
 * progress bar (or plain lines off a terminal), interruption-safe
 * checkpoints (--resume), export to .tern verified through a tern session,
 * a CSV row per run and --json. */
#include "cli_common.h"
#include "train/train.h"
#include "train_cli.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *k_mode_name[] = {"train", "qat", "distill", "ptq"};

typedef struct opts {
  const char *model, *data, *data_dir, *train_range, *test_range, *init;
  const char *precision, *method, *int8_step, *progressive, *teacher;
  const char *output, *checkpoint, *csv, *opt, *schedule, *storage;
  int64_t steps, ckpt_every, calib, synth_train, synth_test;
  int batch, threads, shift, crop_pad;
  int64_t warmup;
  double lr, momentum, wd, label_smoothing, threshold, temperature, lambda;
  double min_lr, step_gamma;
  int64_t step_size;
  uint64_t seed;
  bool hflip, resume, json, no_verify, no_bn_reest, no_bias_corr;
  bool no_scale_corr, no_threshold_search;
} opts;

static volatile int g_stop;
static void on_sigint(int sig) {
  (void)sig;
  g_stop = 1;
}

/* ----------------------------------------------------------------- data */

static const char *mnist_dir(const opts *o) {
  if (o->data_dir)
    return o->data_dir;
  const char *env = getenv("TERN_MNIST_DIR");
  if (env && *env)
    return env;
  return "../shared/datasets/mnist";
}

static int load_data(const opts *o, tt_dataset *train, tt_dataset *test,
                     char *split, size_t split_n) {
  tern_err err = {0};
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  if (!strcmp(o->data, "synth")) {
    /* fixed data seeds: the data set does not change with --seed */
    if (tt_synth_digits(o->synth_train, 101, train, &err) ||
        tt_synth_digits(o->synth_test, 202, test, &err))
      return cli_error("%s", err.msg);
    snprintf(split, split_n, "synth:%lld/%lld", (long long)o->synth_train,
             (long long)o->synth_test);
    return 0;
  }
  tt_dataset all;
  memset(&all, 0, sizeof all);
  if (!strcmp(o->data, "mnist")) {
    if (tt_load_mnist_dir(mnist_dir(o), &all, &err))
      return cli_error("%s (use --data-dir or TERN_MNIST_DIR)", err.msg);
  } else if (!strcmp(o->data, "cifar10")) {
    const char *dir = o->data_dir ? o->data_dir : ".";
    char names[6][1024];
    const char *paths[6];
    for (int i = 0; i < 6; i++) {
      if (i < 5)
        snprintf(names[i], sizeof names[i], "%s/data_batch_%d.bin", dir, i + 1);
      else
        snprintf(names[i], sizeof names[i], "%s/test_batch.bin", dir);
      paths[i] = names[i];
    }
    if (tt_load_cifar10(paths, 6, &all, &err))
      return cli_error("%s", err.msg);
  } else {
    return cli_usage_error("--data must be synth, mnist or cifar10 (got '%s')",
                           o->data);
  }
  bool mn = !strcmp(o->data, "mnist");
  const char *trr = o->train_range ? o->train_range : mn ? "0:8000" : "0:50000";
  const char *ter = o->test_range ? o->test_range
                    : mn          ? "8000:10000"
                                  : "50000:";
  int64_t a, b, c, d;
  if (!cli_parse_range(trr, all.n, &a, &b) ||
      !cli_parse_range(ter, all.n, &c, &d)) {
    tt_dataset_free(&all);
    return cli_usage_error("bad --train-range/--test-range (A:B within %lld)",
                           (long long)all.n);
  }
  if (tt_dataset_slice(&all, a, b, train, &err) ||
      tt_dataset_slice(&all, c, d, test, &err)) {
    tt_dataset_free(&all);
    tt_dataset_free(train);
    return cli_error("%s", err.msg);
  }
  tt_dataset_free(&all);
  snprintf(split, split_n, "%lld:%lld/%lld:%lld", (long long)a, (long long)b,
           (long long)c, (long long)d);
  return 0;
}

/* ------------------------------------------------------------- progress */

static void fmt_time(double s, char *buf, size_t n) {
  if (!(s >= 0) || s > 1e7)
    s = 0;
  long t = lround(s);
  snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

typedef struct prog_state {
  bool tty, quiet;
} prog_state;

static void on_progress(void *user, const tt_progress *p) {
  prog_state *ps = user;
  if (ps->quiet)
    return;
  char eta[48], el[48];
  fmt_time(p->eta_s, eta, sizeof eta);
  fmt_time(p->elapsed_s, el, sizeof el);
  static const char *qn[] = {"fp32", "stoch", "det"};
  if (ps->tty) {
    int width = 24, fill = (int)(width * p->step / (p->steps ? p->steps : 1));
    char bar[32];
    for (int i = 0; i < width; i++)
      bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr,
            "\r[%s] step %lld/%lld epoch %lld loss %.4f acc %.2f%% %s "
            "ETA %s ",
            bar, (long long)p->step, (long long)p->steps, (long long)p->epoch,
            p->loss, p->accuracy, qn[p->qmode], eta);
    if (p->step == p->steps)
      fputc('\n', stderr);
  } else {
    fprintf(stderr,
            "step %lld/%lld epoch %lld loss %.4f acc %.2f%% lr %.5f q=%s "
            "elapsed %s ETA %s\n",
            (long long)p->step, (long long)p->steps, (long long)p->epoch,
            p->loss, p->accuracy, p->lr, qn[p->qmode], el, eta);
  }
  fflush(stderr);
}

/* -------------------------------------------------------------- helpers */

static bool same_structure(const tt_net *a, const char *spec) {
  tern_err err = {0};
  tt_net *b = NULL;
  if (tt_net_create(spec, 0, 1, &b, &err))
    return false;
  bool same = a->n_layers == b->n_layers && a->in_c == b->in_c &&
              a->in_h == b->in_h && a->in_w == b->in_w;
  for (int i = 0; same && i < a->n_layers; i++) {
    const tt_layer *x = &a->layers[i], *y = &b->layers[i];
    same = x->kind == y->kind && x->c == y->c && x->h == y->h && x->w == y->w &&
           x->oc == y->oc && x->oh == y->oh && x->ow == y->ow &&
           x->n_w == y->n_w;
  }
  tt_net_destroy(b);
  return same;
}

/* "mlp", "lenet5" or "custom" for reports (also for imported models) */
static const char *model_label(const tt_net *net) {
  if (same_structure(net, "mlp"))
    return "mlp";
  if (same_structure(net, "lenet5"))
    return "lenet5";
  return "custom";
}

static bool any_quantized(const tt_net *net) {
  for (int i = 0; i < net->n_layers; i++)
    if ((net->layers[i].kind == TT_LINEAR || net->layers[i].kind == TT_CONV) &&
        net->layers[i].prec != TT_F32)
      return true;
  return false;
}

static void prec_string(const tt_net *net, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = 0;
  static const char *pn[] = {"f32", "i8", "t"};
  for (int i = 0; i < net->n_layers; i++) {
    const tt_layer *l = &net->layers[i];
    if (l->kind != TT_LINEAR && l->kind != TT_CONV)
      continue;
    len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? "," : "",
                            pn[l->prec]);
    if (len >= n)
      break;
  }
}

static double ternary_sparsity(const tt_net *net) {
  int64_t zeros = 0, count = 0;
  for (int i = 0; i < net->n_layers; i++) {
    const tt_layer *l = &net->layers[i];
    if ((l->kind != TT_LINEAR && l->kind != TT_CONV) || l->prec != TT_TERNARY)
      continue;
    int8_t *q = malloc((size_t)l->n_w);
    float *s = malloc((size_t)l->oc * sizeof(float));
    tern_quant_stats st;
    if (q && s && !tt_layer_quantize(net, i, q, s, &st)) {
      zeros += st.zeros;
      count += st.count;
    }
    free(q);
    free(s);
  }
  return count ? (double)zeros / (double)count : 0;
}

/* Set learned quantizer parameters to their starting values. */
static void init_quant_params(tt_net *net) {
  for (int i = 0; i < net->n_layers; i++) {
    tt_layer *l = &net->layers[i];
    if (l->q_off < 0)
      continue;
    net->params[l->q_off] = net->qcfg.threshold;
    int64_t cols = l->n_w / l->oc;
    for (int o = 0; o < l->oc; o++) {
      float m = 0;
      for (int64_t k = 0; k < cols; k++) {
        float a = fabsf(net->params[l->w_off + o * cols + k]);
        m = a > m ? a : m;
      }
      net->params[l->q_off + 1 + o] = m > 0 ? m / 127.0f : 1e-3f;
    }
  }
}

/* Accuracy of an exported .tern file on the test split through a tern
 * session on the CPU backend (what `tern run` computes). */
static int verify_export(const char *path, const tt_dataset *test, int threads,
                         double *acc, double *latency_s) {
  tern_graph *g = NULL;
  if (tern_graph_load(path, NULL, &g))
    return cli_error("cannot reload %s: %s", path, tern_last_error());
  tern_context_desc cd;
  memset(&cd, 0, sizeof cd);
  cd.size = sizeof cd;
  cd.thread_count = threads;
  cd.backends = "cpu";
  tern_context *ctx = NULL;
  tern_session *s = NULL;
  int64_t bs = test->n < 500 ? test->n : 500;
  tern_session_desc sd;
  memset(&sd, 0, sizeof sd);
  sd.size = sizeof sd;
  sd.batch = bs;
  int rc = 0;
  if (tern_context_create(&cd, &ctx) || tern_session_create(ctx, g, &sd, &s)) {
    rc = cli_error("session for %s: %s", path, tern_last_error());
    goto done;
  }
  size_t per = (size_t)test->c * test->h * test->w;
  float *x = malloc((size_t)bs * per * sizeof(float));
  int ndim = 0;
  int64_t oshape[TERN_MAX_DIMS] = {0};
  tern_session_output_shape(s, 0, &ndim, oshape);
  int64_t C = ndim > 0 ? oshape[ndim - 1] : 0;
  float *y = malloc((size_t)(bs * (C > 0 ? C : 1)) * sizeof(float));
  int *lab = malloc((size_t)bs * sizeof(int));
  int64_t *idx = malloc((size_t)bs * sizeof(int64_t));
  int64_t correct = 0, done_n = 0;
  uint64_t t0 = tern_now_ns();
  for (int64_t st = 0; x && y && lab && idx && st + bs <= test->n; st += bs) {
    for (int64_t b = 0; b < bs; b++)
      idx[b] = st + b;
    tt_make_batch(test, idx, bs, NULL, 0, 0, x, lab);
    if (tern_session_set_input(s, 0, x, (size_t)bs * per) ||
        tern_session_run(s) ||
        tern_session_get_output(s, 0, y, (size_t)(bs * C))) {
      rc = cli_error("running %s: %s", path, tern_session_errmsg(s));
      break;
    }
    for (int64_t b = 0; b < bs; b++) {
      int best = 0;
      for (int64_t c = 1; c < C; c++)
        if (y[b * C + c] > y[b * C + best])
          best = (int)c;
      correct += best == lab[b];
    }
    done_n += bs;
  }
  *latency_s =
      done_n ? (double)(tern_now_ns() - t0) * 1e-9 / (double)done_n : 0;
  *acc = done_n ? 100.0 * (double)correct / (double)done_n : 0;
  if (!rc && done_n != test->n)
    cli_note("verified %lld of %lld test images (whole batches of %lld)",
             (long long)done_n, (long long)test->n, (long long)bs);
  free(x);
  free(y);
  free(lab);
  free(idx);
done:
  tern_session_destroy(s);
  tern_context_destroy(ctx);
  tern_graph_destroy(g);
  return rc;
}

static int append_csv(const char *path, const char *const *cols,
                      const char *const *vals, int n) {
  struct stat sb;
  bool fresh = stat(path, &sb) != 0 || sb.st_size == 0;
  FILE *f = fopen(path, "a");
  if (!f)
    return cli_error("cannot append to %s", path);
  if (fresh)
    for (int i = 0; i < n; i++)
      fprintf(f, "%s%s", cols[i], i + 1 < n ? "," : "\n");
  for (int i = 0; i < n; i++)
    fprintf(f, "%s%s", vals[i], i + 1 < n ? "," : "\n");
  int bad = ferror(f);
  if (fclose(f) || bad)
    return cli_error("writing %s failed", path);
  return 0;
}

/* ------------------------------------------------------------------ main */

int train_cli_main(train_cli_mode mode, int argc, char **argv) {
  opts o;
  memset(&o, 0, sizeof o);
  o.model = NULL; /* mlp, or the teacher's architecture */
  o.data = "synth";
  o.steps = mode == TRAIN_CLI_TRAIN ? 2000 : 1500;
  o.batch = 64;
  o.threads = 0;
  o.shift = -1;
  o.crop_pad = 0;
  o.warmup = -1;
  o.lr = -1;
  o.momentum = 0.9;
  o.wd = 5e-4;
  o.threshold = 0.7;
  o.temperature = 2;
  o.lambda = 0.5;
  o.seed = 1;
  o.calib = 4000;
  o.synth_train = 8000;
  o.synth_test = 2000;
  o.opt = "sgd";
  o.schedule = "cosine";
  o.step_gamma = 0.1;
  o.method = "threshold";
  o.int8_step = "calibrated";
  bool qmode = mode != TRAIN_CLI_TRAIN;
  o.precision = qmode ? "all=t" : NULL;
  const cli_opt table[] = {
      {"model", 'm', CLI_STRING, &o.model, "SPEC",
       "mlp (default; distill: the teacher's), lenet5, or a layer spec "
       "(see docs/TRAINING.md)"},
      {"init", 0, CLI_STRING, &o.init, "FILE",
       "start from this fp32 model (.tern or checkpoint)"},
      {"data", 'd', CLI_STRING, &o.data, "NAME",
       "synth (default), mnist, cifar10"},
      {"data-dir", 0, CLI_STRING, &o.data_dir, "DIR",
       "where the data files are (mnist: $TERN_MNIST_DIR or "
       "../shared/datasets/mnist)"},
      {"train-range", 0, CLI_STRING, &o.train_range, "A:B",
       "training samples (mnist: 0:8000)"},
      {"test-range", 0, CLI_STRING, &o.test_range, "A:B",
       "test samples (mnist: 8000:10000)"},
      {"synth-train", 0, CLI_INT64, &o.synth_train, "N",
       "synthetic training images (8000)"},
      {"synth-test", 0, CLI_INT64, &o.synth_test, "N",
       "synthetic test images (2000)"},
      {"steps", 's', CLI_INT64, &o.steps, "N", "optimizer steps (the budget)"},
      {"batch", 'b', CLI_INT, &o.batch, "N", "batch size (64)"},
      {"lr", 0, CLI_DOUBLE, &o.lr, "X",
       "peak learning rate (sgd 0.05 from scratch, 0.02 from --init or a "
       "teacher; adamw "
       "1e-3)"},
      {"optimizer", 0, CLI_STRING, &o.opt, "NAME", "sgd (momentum) or adamw"},
      {"momentum", 0, CLI_DOUBLE, &o.momentum, "X", "SGD momentum (0.9)"},
      {"weight-decay", 0, CLI_DOUBLE, &o.wd, "X", "weight decay (5e-4)"},
      {"schedule", 0, CLI_STRING, &o.schedule, "NAME", "cosine, step or const"},
      {"warmup", 0, CLI_INT64, &o.warmup, "N", "warm-up steps (3% of steps)"},
      {"min-lr", 0, CLI_DOUBLE, &o.min_lr, "X", "cosine floor (0)"},
      {"step-size", 0, CLI_INT64, &o.step_size, "N", "step schedule period"},
      {"gamma", 0, CLI_DOUBLE, &o.step_gamma, "X",
       "step schedule factor (0.1)"},
      {"label-smoothing", 0, CLI_DOUBLE, &o.label_smoothing, "X", "(0)"},
      {"shift", 0, CLI_INT, &o.shift, "PX",
       "random shifts of up to ±PX pixels (2 for 28x28 data, else 0)"},
      {"crop-pad", 0, CLI_INT, &o.crop_pad, "PX",
       "random crop after zero padding (cifar10: 4)"},
      {"hflip", 0, CLI_FLAG, &o.hflip, NULL,
       "random horizontal flips (cifar10 only by default; not for digits)"},
      {"seed", 0, CLI_UINT64, &o.seed, "N",
       "seed of init, order, augmentation"},
      {"threads", 'j', CLI_INT, &o.threads, "N", "CPU threads (all cores)"},
      {"precision", 'p', CLI_STRING, &o.precision, "CFG",
       "per weighted layer: all=t, all=t,first=f32,last=i8, or f32,t,t,i8"},
      {"method", 0, CLI_STRING, &o.method, "NAME",
       "ternary quantizer: threshold (TWN), absmean (BitNet), learned"},
      {"threshold", 0, CLI_DOUBLE, &o.threshold, "A",
       "ternary threshold factor (0.7)"},
      {"int8-step", 0, CLI_STRING, &o.int8_step, "KIND",
       "int8 weight step: calibrated (max/127) or learned"},
      {"progressive", 0, CLI_STRING, &o.progressive, "F1,F2",
       "fp32 until F1 of the steps, stochastic ternary until F2, then "
       "deterministic"},
      {"teacher", 0, CLI_STRING, &o.teacher, "FILE", "distill: fp32 teacher"},
      {"temperature", 'T', CLI_DOUBLE, &o.temperature, "T", "distill: (2)"},
      {"lambda", 0, CLI_DOUBLE, &o.lambda, "L", "distill: KL weight (0.5)"},
      {"calib", 0, CLI_INT64, &o.calib, "N", "ptq: calibration images (4000)"},
      {"no-bn-reest", 0, CLI_FLAG, &o.no_bn_reest, NULL,
       "ptq: keep the batch-norm statistics"},
      {"no-bias-corr", 0, CLI_FLAG, &o.no_bias_corr, NULL,
       "ptq: no bias (and scale) correction"},
      {"no-scale-corr", 0, CLI_FLAG, &o.no_scale_corr, NULL,
       "ptq: correct the bias only, not the per-channel scale"},
      {"no-threshold-search", 0, CLI_FLAG, &o.no_threshold_search, NULL,
       "ptq: keep --threshold for every channel"},
      {"output", 'o', CLI_STRING, &o.output, "FILE",
       "export the model (.tern)"},
      {"storage", 0, CLI_STRING, &o.storage, "FMT",
       "ternary storage: 2bit or 1.58bit"},
      {"no-verify", 0, CLI_FLAG, &o.no_verify, NULL,
       "skip re-running the exported file in a tern session"},
      {"checkpoint", 0, CLI_STRING, &o.checkpoint, "FILE",
       "checkpoint file (default OUTPUT.ckpt)"},
      {"ckpt-every", 0, CLI_INT64, &o.ckpt_every, "N",
       "checkpoint period in steps"},
      {"resume", 0, CLI_FLAG, &o.resume, NULL, "continue from the checkpoint"},
      {"csv", 0, CLI_STRING, &o.csv, "FILE", "append a result row"},
      {"json", 0, CLI_FLAG, &o.json, NULL, "one JSON document on stdout"},
  };
  char usage[64], summary[256];
  snprintf(usage, sizeof usage, "tern %s [options]", k_mode_name[mode]);
  static const char *summaries[] = {
      "Train a model in fp32 on the CPU.",
      "Quantization-aware training: fp32 latent weights, quantized forward "
      "(the exported model computes exactly what is trained).",
      "Distill an fp32 teacher into a quantized student: loss "
      "lambda*T^2*KL(teacher_T||student_T) + (1-lambda)*CE.",
      "Post-training quantization of an fp32 model with a calibration subset, "
      "batch-norm re-estimation and bias correction; per-layer error report."};
  snprintf(summary, sizeof summary, "%s", summaries[mode]);
  cli_spec spec = {usage,
                   summary,
                   table,
                   (int)(sizeof table / sizeof table[0]),
                   0,
                   0,
                   "Details and measured results: docs/TRAINING.md."};
  char cmdname[32];
  snprintf(cmdname, sizeof cmdname, "tern %s", k_mode_name[mode]);
  cli_set_command(cmdname);
  const char *pos[1];
  int npos = 0;
  cli_parse_result pr = cli_parse(&spec, argc, argv, 1, pos, &npos);
  if (pr == CLI_HELP_SHOWN)
    return CLI_EXIT_OK;
  if (pr == CLI_USAGE_ERROR)
    return CLI_EXIT_USAGE;
  if (o.steps <= 0 || o.batch <= 0)
    return cli_usage_error("--steps and --batch must be positive");
  if (mode == TRAIN_CLI_DISTILL && !o.teacher)
    return cli_usage_error("distill needs --teacher FILE");
  if (mode == TRAIN_CLI_PTQ && !o.init)
    return cli_usage_error("ptq needs --init FILE (the fp32 model)");
  bool adamw = !strcmp(o.opt, "adamw");
  if (!adamw && strcmp(o.opt, "sgd"))
    return cli_usage_error("--optimizer must be sgd or adamw");
  tt_tmethod tm;
  if (!strcmp(o.method, "threshold"))
    tm = TT_TQ_THRESHOLD;
  else if (!strcmp(o.method, "absmean"))
    tm = TT_TQ_ABSMEAN;
  else if (!strcmp(o.method, "learned"))
    tm = TT_TQ_LEARNED;
  else
    return cli_usage_error("--method must be threshold, absmean or learned");
  double f1 = 0, f2 = 0;
  if (o.progressive && (sscanf(o.progressive, "%lf,%lf", &f1, &f2) != 2 ||
                        f1 < 0 || f2 < f1 || f2 > 1))
    return cli_usage_error("--progressive F1,F2 with 0 <= F1 <= F2 <= 1");
  tern_ternary_storage storage = TERN_STORE_2BIT;
  if (o.storage && !cli_parse_storage(o.storage, &storage))
    return cli_usage_error("--storage must be 2bit or 1.58bit");
  int threads = o.threads > 0 ? o.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (threads < 1)
    threads = 1;
  char ckpt_buf[1100];
  const char *ckpt = o.checkpoint;
  if (!ckpt && o.output) {
    snprintf(ckpt_buf, sizeof ckpt_buf, "%s.ckpt", o.output);
    ckpt = ckpt_buf;
  }
  if (o.resume && !ckpt)
    return cli_usage_error("--resume needs --checkpoint FILE or --output");

  /* data */
  tt_dataset train, test;
  char split[96];
  int rc = load_data(&o, &train, &test, split, sizeof split);
  if (rc)
    return rc;
  tern_err err = {0};
  tt_net *net = NULL, *teacher = NULL;
  tt_ckpt_meta meta;
  memset(&meta, 0, sizeof meta);
  if (o.resume) {
    if (tt_net_load_ckpt(ckpt, threads, &net, &meta, &err)) {
      rc = cli_error("%s", err.msg);
      goto out;
    }
    if (meta.extra[0] != o.steps || meta.extra[1] != o.batch ||
        meta.seed != o.seed) {
      rc = cli_error("checkpoint %s is of a run with --steps %lld --batch "
                     "%lld --seed %llu: resume with the same options",
                     ckpt, (long long)meta.extra[0], (long long)meta.extra[1],
                     (unsigned long long)meta.seed);
      goto out;
    }
    cli_note("resuming %s at step %lld", ckpt, (long long)meta.step);
  } else if (o.init) {
    if (tt_net_load_any(o.init, threads, &net, &err)) {
      rc = cli_error("%s", err.msg);
      goto out;
    }
    memset(net->opt_m, 0, (size_t)net->n_params * sizeof(float));
    memset(net->opt_v, 0, (size_t)net->n_params * sizeof(float));
  } else if (!o.model && o.teacher) {
    /* a student of the teacher's architecture, starting from its weights */
    tt_net *t = NULL;
    if (tt_net_load_any(o.teacher, threads, &t, &err) ||
        tt_net_create(t->spec, o.seed, threads, &net, &err) ||
        tt_net_copy_weights(net, t, &err)) {
      tt_net_destroy(t);
      rc = cli_error("teacher: %s", err.msg);
      goto out;
    }
    tt_net_destroy(t);
  } else if (tt_net_create(o.model ? o.model : "mlp", o.seed, threads, &net,
                           &err)) {
    rc = cli_error("%s", err.msg);
    goto out;
  }
  if (!o.resume && qmode) {
    net->qcfg.tmethod = tm;
    net->qcfg.threshold = (float)o.threshold;
    net->qcfg.int8_learned = !strcmp(o.int8_step, "learned");
    if (strcmp(o.int8_step, "learned") && strcmp(o.int8_step, "calibrated")) {
      rc = cli_usage_error("--int8-step must be calibrated or learned");
      goto out;
    }
    if (tt_net_set_precision(net, o.precision, &err)) {
      rc = cli_usage_error("%s", err.msg);
      goto out;
    }
    init_quant_params(net);
  } else if (!o.resume && o.precision &&
             tt_net_set_precision(net, o.precision, &err)) {
    rc = cli_usage_error("%s", err.msg);
    goto out;
  }
  if (o.teacher) {
    if (tt_net_load_any(o.teacher, threads, &teacher, &err)) {
      rc = cli_error("teacher: %s", err.msg);
      goto out;
    }
    if (!o.init && !o.resume && o.model)
      tt_net_copy_weights(net, teacher, &err); /* same layers: start there */
  }

  /* run */
  tt_train_result tr;
  memset(&tr, 0, sizeof tr);
  tt_layer_report rep[TT_MAX_LAYERS];
  int n_rep = 0;
  prog_state ps = {isatty(2) != 0, o.json || cli_verbosity() < 1};
  uint64_t t_start = tern_now_ns();
  if (mode == TRAIN_CLI_PTQ) {
    tt_ptq_cfg pc = {.calib_count = o.calib,
                     .bn_reestimate = !o.no_bn_reest,
                     .bias_correct = !o.no_bias_corr,
                     .scale_correct = !o.no_scale_corr,
                     .threshold_search = !o.no_threshold_search,
                     .batch = 256};
    if (tt_ptq(net, &train, &pc, rep, TT_MAX_LAYERS, &n_rep, &err)) {
      rc = cli_error("%s", err.msg);
      goto out;
    }
  } else {
    tt_train_cfg c;
    tt_train_cfg_defaults(&c);
    c.steps = o.steps;
    c.batch = o.batch;
    c.opt = adamw ? TT_OPT_ADAMW : TT_OPT_SGD;
    c.lr = (float)(o.lr > 0              ? o.lr
                   : adamw               ? 1e-3
                   : (o.init || teacher) ? 0.02
                                         : 0.05);
    c.momentum = (float)o.momentum;
    c.wd = (float)o.wd;
    c.sched.kind = !strcmp(o.schedule, "step")    ? TT_SCHED_STEP
                   : !strcmp(o.schedule, "const") ? TT_SCHED_CONST
                                                  : TT_SCHED_COSINE;
    c.sched.warmup = o.warmup;
    c.sched.min_lr = (float)o.min_lr;
    c.sched.step_size = o.step_size > 0 ? o.step_size : o.steps / 3;
    c.sched.gamma = (float)o.step_gamma;
    c.label_smoothing = (float)o.label_smoothing;
    c.seed = o.seed;
    bool digits = train.h == 28 && train.w == 28 && train.c == 1;
    c.aug.shift = o.shift >= 0 ? o.shift : digits ? 2 : 0;
    c.aug.crop_pad =
        o.crop_pad ? o.crop_pad : (!strcmp(o.data, "cifar10") ? 4 : 0);
    c.aug.hflip = o.hflip || !strcmp(o.data, "cifar10");
    c.qat = qmode;
    c.frac_fp32 = (float)f1;
    c.frac_stochastic = (float)f2;
    c.teacher = teacher;
    c.kd_T = (float)o.temperature;
    c.kd_lambda = (float)o.lambda;
    c.ckpt_path = ckpt;
    c.ckpt_every = o.ckpt_every;
    c.start_step = meta.step;
    c.progress = on_progress;
    c.progress_user = &ps;
    c.progress_every = ps.tty ? 10 : (o.steps >= 20 ? o.steps / 10 : 1);
    c.stop = &g_stop;
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    tern_status st = tt_train(net, &train, &c, &tr, &err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (st) {
      rc = cli_error("%s", err.msg);
      goto out;
    }
    if (tr.stopped) {
      if (ps.tty)
        fputc('\n', stderr);
      rc = cli_error("interrupted at step %lld; checkpoint %s; continue with "
                     "the same command and --resume",
                     (long long)tr.steps_done,
                     ckpt ? ckpt : "(none: no --output/--checkpoint)");
      goto out;
    }
  }
  double train_s = (double)(tern_now_ns() - t_start) * 1e-9;

  /* evaluate */
  tt_qmode qm = any_quantized(net) ? TT_Q_DET : TT_Q_OFF;
  tt_eval_result ev;
  uint64_t te0 = tern_now_ns();
  if (tt_evaluate(net, &test, qm, 500, &ev, &err)) {
    rc = cli_error("%s", err.msg);
    goto out;
  }
  double latency = (double)(tern_now_ns() - te0) * 1e-9 / (double)test.n;
  double sparsity = ternary_sparsity(net);
  char prec[256];
  prec_string(net, prec, sizeof prec);
  int64_t bytes = 0;
  double exported_acc = NAN;
  if (o.output) {
    tern_graph *g = NULL;
    if (tt_net_to_graph(net, &g, &err)) {
      rc = cli_error("%s", err.msg);
      goto out;
    }
    tern_graph_set_metadata(g, "tern.model", model_label(net));
    tern_graph_set_metadata(g, "tern.train.mode", k_mode_name[mode]);
    tern_save_desc sd = {sizeof sd, storage};
    tern_status st = tern_graph_save(g, o.output, &sd);
    if (st)
      rc = cli_error("saving %s: %s", o.output, tern_graph_errmsg(g));
    tern_graph_destroy(g);
    if (rc)
      goto out;
    bytes = cli_file_size(o.output);
    if (!o.no_verify) {
      double lat2 = 0;
      if ((rc = verify_export(o.output, &test, threads, &exported_acc, &lat2)))
        goto out;
      latency = lat2;
      if (fabs(exported_acc - ev.accuracy) > 1e-9 && test.n % 500 == 0) {
        rc = cli_error("the exported model scores %.2f%% in a tern session, "
                       "training measured %.2f%%",
                       exported_acc, ev.accuracy);
        goto out;
      }
    }
  }
  double epochs =
      mode == TRAIN_CLI_PTQ ? 0 : (double)o.steps * o.batch / (double)train.n;
  const char *dataset = o.data;

  /* report */
  if (!o.json) {
    printf("%s %s on %s [%s] seed %llu: accuracy %.2f%% loss %.4f "
           "(%lld test images)\n",
           k_mode_name[mode], model_label(net), dataset, prec,
           (unsigned long long)o.seed, ev.accuracy, ev.loss, (long long)ev.n);
    if (mode != TRAIN_CLI_PTQ)
      printf("  %lld steps of %d (%.1f epochs) in %.1f s, %d threads\n",
             (long long)o.steps, o.batch, epochs, train_s, threads);
    if (sparsity > 0)
      printf("  ternary sparsity %.1f%%\n", 100 * sparsity);
    for (int i = 0; i < n_rep; i++)
      printf("  layer %2d %-6s %-4s weight error %.4f output error %.4f "
             "sparsity %.1f%%\n",
             rep[i].layer, rep[i].kind == TT_CONV ? "conv" : "linear",
             rep[i].prec == TT_TERNARY ? "t" : "i8", rep[i].weight_rel,
             rep[i].out_rel, 100 * rep[i].sparsity);
    if (o.output && o.no_verify)
      printf("  exported %s (%lld bytes)\n", o.output, (long long)bytes);
    else if (o.output)
      printf("  exported %s (%lld bytes); tern session on cpu: accuracy "
             "%.2f%%\n",
             o.output, (long long)bytes, exported_acc);
  } else {
    cli_json j;
    cj_init(&j, stdout);
    cj_object(&j);
    cj_kstr(&j, "mode", k_mode_name[mode]);
    cj_kstr(&j, "model", model_label(net));
    if (o.init)
      cj_kstr(&j, "init", o.init);
    cj_kstr(&j, "dataset", dataset);
    cj_kstr(&j, "split", split);
    cj_kstr(&j, "precision", prec);
    cj_kuint(&j, "seed", o.seed);
    cj_kint(&j, "steps", mode == TRAIN_CLI_PTQ ? 0 : o.steps);
    cj_kdouble(&j, "epochs", epochs);
    cj_kdouble(&j, "accuracy", ev.accuracy);
    cj_kdouble(&j, "loss", ev.loss);
    cj_kint(&j, "test_images", ev.n);
    cj_kdouble(&j, "train_seconds", train_s);
    cj_kdouble(&j, "latency_s", latency);
    cj_kdouble(&j, "sparsity", sparsity);
    cj_kint(&j, "threads", threads);
    if (o.output) {
      cj_kstr(&j, "output", o.output);
      cj_kint(&j, "bytes", bytes);
      if (!o.no_verify)
        cj_kdouble(&j, "exported_accuracy", exported_acc);
    }
    if (n_rep) {
      cj_key(&j, "layers");
      cj_array(&j);
      for (int i = 0; i < n_rep; i++) {
        cj_object(&j);
        cj_kint(&j, "layer", rep[i].layer);
        cj_kstr(&j, "precision",
                rep[i].prec == TT_TERNARY ? "ternary" : "int8");
        cj_kdouble(&j, "weight_error", rep[i].weight_rel);
        cj_kdouble(&j, "output_error", rep[i].out_rel);
        cj_kdouble(&j, "sparsity", rep[i].sparsity);
        cj_object_end(&j);
      }
      cj_array_end(&j);
    }
    cj_object_end(&j);
    cj_finish(&j);
  }
  if (o.csv) {
    char v[12][320];
    const char *cols[12] = {"mode",  "accuracy", "loss",     "latency_s",
                            "bytes", "model",    "dataset",  "split",
                            "seed",  "epochs",   "sparsity", "backend"};
    /* "mode" says what was made: train-fp32, qat-<precision>, ... */
    snprintf(v[0], sizeof v[0], "%s-%s%s", k_mode_name[mode],
             qm == TT_Q_OFF ? "fp32" : prec,
             mode == TRAIN_CLI_PTQ && !o.no_bias_corr ? "+bc" : "");
    for (char *p = v[0]; *p; p++)
      if (*p == ',')
        *p = '/';
    snprintf(v[1], sizeof v[1], "%.4f", ev.accuracy);
    snprintf(v[2], sizeof v[2], "%.6f", ev.loss);
    snprintf(v[3], sizeof v[3], "%.3e", latency);
    snprintf(v[4], sizeof v[4], "%lld", (long long)bytes);
    snprintf(v[5], sizeof v[5], "%s", model_label(net));
    snprintf(v[6], sizeof v[6], "%s", dataset);
    snprintf(v[7], sizeof v[7], "%s", split);
    snprintf(v[8], sizeof v[8], "%llu", (unsigned long long)o.seed);
    snprintf(v[9], sizeof v[9], "%.2f", epochs);
    snprintf(v[10], sizeof v[10], "%.4f", sparsity);
    snprintf(v[11], sizeof v[11], "cpu");
    const char *vals[12];
    for (int i = 0; i < 12; i++)
      vals[i] = v[i];
    rc = append_csv(o.csv, cols, vals, 12);
  }
out:
  tt_net_destroy(net);
  tt_net_destroy(teacher);
  tt_dataset_free(&train);
  tt_dataset_free(&test);
  return rc;
}

int tern_cmd_train(int argc, char **argv) {
  return train_cli_main(TRAIN_CLI_TRAIN, argc, argv);
}
