/* test_train_qat.c — training end to end on the built-in synthetic digits:
 * accuracy is reached, runs are reproducible (same seed: same numbers for
 * any thread count), a resumed checkpoint continues bit for bit, and what
 * QAT trains is exactly what the exported .tern graph computes in a tern
 * session on the CPU (logits bit-identical, same accuracy). PTQ, the
 * quantizer methods and the graph import are checked too. */
#include "testutil.h"
#include "train/train.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static tt_dataset g_train, g_test;

static void data_setup(void) {
  tern_err err = {0};
  cr_assert_eq(tt_synth_digits(2000, 11, &g_train, &err), TERN_OK);
  cr_assert_eq(tt_synth_digits(500, 12, &g_test, &err), TERN_OK);
}
static void data_teardown(void) {
  tt_dataset_free(&g_train);
  tt_dataset_free(&g_test);
}

static tt_net *make_net(const char *spec, int threads) {
  tern_err err = {0};
  tt_net *net = NULL;
  cr_assert_eq(tt_net_create(spec, 5, threads, &net, &err), TERN_OK, "%s",
               err.msg);
  return net;
}

static void train(tt_net *net, int64_t steps, int qat, uint64_t seed) {
  tt_train_cfg c;
  tt_train_cfg_defaults(&c);
  c.steps = steps;
  c.batch = 32;
  c.lr = qat ? 0.02f : 0.05f;
  c.seed = seed;
  c.aug.shift = 1;
  c.qat = qat;
  tern_err err = {0};
  tt_train_result r;
  cr_assert_eq(tt_train(net, &g_train, &c, &r, &err), TERN_OK, "%s", err.msg);
}

static double accuracy(tt_net *net, tt_qmode m) {
  tern_err err = {0};
  tt_eval_result e;
  cr_assert_eq(tt_evaluate(net, &g_test, m, 128, &e, &err), TERN_OK, "%s",
               err.msg);
  return e.accuracy;
}

/* Logits of the exported graph for the first n test samples, from a CPU
 * session (fast kernels, or the reference). */
static float *session_logits(const tt_net *net, int64_t n, bool reference) {
  tern_err err = {0};
  tern_graph *g = NULL;
  cr_assert_eq(tt_net_to_graph(net, &g, &err), TERN_OK, "%s", err.msg);
  tern_context *ctx = NULL;
  cr_assert_eq(tern_context_create(NULL, &ctx), TERN_OK, "%s",
               tern_last_error());
  tern_session_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.batch = n;
  d.reference = reference;
  tern_session *s = NULL;
  cr_assert_eq(tern_session_create(ctx, g, &d, &s), TERN_OK, "%s",
               tern_last_error());
  float *x = malloc((size_t)n * 784 * 4);
  int64_t *idx = malloc((size_t)n * 8);
  for (int64_t i = 0; i < n; i++)
    idx[i] = i;
  tt_make_batch(&g_test, idx, n, NULL, 0, 0, x, NULL);
  cr_assert_eq(tern_session_set_input(s, 0, x, (size_t)n * 784), TERN_OK, "%s",
               tern_session_errmsg(s));
  cr_assert_eq(tern_session_run(s), TERN_OK, "%s", tern_session_errmsg(s));
  float *y = malloc((size_t)n * 10 * 4);
  cr_assert_eq(tern_session_get_output(s, 0, y, (size_t)n * 10), TERN_OK);
  tern_session_destroy(s);
  tern_context_destroy(ctx);
  tern_graph_destroy(g);
  free(x);
  free(idx);
  return y;
}

static const float *train_logits(tt_net *net, int64_t n) {
  float *x = malloc((size_t)n * 784 * 4);
  int64_t *idx = malloc((size_t)n * 8);
  for (int64_t i = 0; i < n; i++)
    idx[i] = i;
  tt_make_batch(&g_test, idx, n, NULL, 0, 0, x, NULL);
  const float *y = tt_net_forward(net, x, n, false, TT_Q_DET, 0, 0);
  free(x);
  free(idx);
  return y;
}

static int count_diff(const float *a, const float *b, int64_t n) {
  int bad = 0;
  for (int64_t i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], 4) && bad++ < 3)
      cr_log_error("logit %lld: training %.9g vs session %.9g", (long long)i,
                   a[i], b[i]);
  return bad;
}

TestSuite(qat, .init = data_setup, .fini = data_teardown);

Test(qat, fp32_training_learns_synthetic_digits) {
  tt_net *net = make_net("mlp", 2);
  train(net, 300, 0, 1);
  double acc = accuracy(net, TT_Q_OFF);
  cr_expect(acc > 85.0, "mlp on synthetic digits: %.2f%%", acc);
  tt_net_destroy(net);
}

/* The heart of QAT: the exported ternary/int8 model computes exactly what
 * training computed. */
static void export_matches(const char *spec, const char *prec, int tmethod) {
  tern_err err = {0};
  tt_net *net = make_net(spec, 2);
  train(net, 150, 0, 2);
  cr_assert_eq(tt_net_set_precision(net, prec, &err), TERN_OK, "%s", err.msg);
  net->qcfg.tmethod = (tt_tmethod)tmethod;
  train(net, 100, 1, 3);
  enum { N = 200 };
  const float *t = train_logits(net, N);
  float *mine = malloc(N * 10 * 4);
  memcpy(mine, t, N * 10 * 4);
  float *ref = session_logits(net, N, true);
  float *fast = session_logits(net, N, false);
  cr_expect_eq(count_diff(mine, ref, N * 10), 0,
               "%s %s: reference session differs", spec, prec);
  cr_expect_eq(count_diff(mine, fast, N * 10), 0, "%s %s: CPU session differs",
               spec, prec);
  tt_net_destroy(net);
  free(mine);
  free(ref);
  free(fast);
}

Test(qat, export_mlp_all_ternary_bit_exact) {
  export_matches("mlp", "all=t", 0);
}
Test(qat, export_mlp_int8_bit_exact) {
  export_matches("mlp", "all=i8", 0);
}
Test(qat, export_lenet_mixed_bit_exact) {
  export_matches("in 1x28x28; conv 4 5 1 2; relu; maxpool 2; conv 8 5; relu; "
                 "maxpool 2; flatten; linear 32; relu; linear 10",
                 "t,t,t,i8", 1);
}
Test(qat, export_learned_threshold_bit_exact) {
  export_matches("mlp", "all=t", 2);
}

Test(qat, ternary_qat_close_to_fp32) {
  tern_err err = {0};
  tt_net *net = make_net("mlp", 2);
  train(net, 300, 0, 4);
  double fp = accuracy(net, TT_Q_OFF);
  cr_assert_eq(tt_net_set_precision(net, "all=t", &err), TERN_OK);
  double ptq = accuracy(net, TT_Q_DET);
  train(net, 200, 1, 5);
  double qat = accuracy(net, TT_Q_DET);
  cr_log_info("fp32 %.2f ternary ptq %.2f qat %.2f", fp, ptq, qat);
  cr_expect(qat > fp - 3.0, "QAT %.2f vs fp32 %.2f", qat, fp);
  cr_expect(qat >= ptq, "QAT %.2f below PTQ %.2f", qat, ptq);
  tt_net_destroy(net);
}

Test(qat, progressive_schedule) {
  tt_train_cfg c;
  tt_train_cfg_defaults(&c);
  c.qat = 1;
  c.steps = 100;
  c.frac_fp32 = 0.2f;
  c.frac_stochastic = 0.5f;
  cr_expect_eq(tt_qmode_at(&c, 0), TT_Q_OFF);
  cr_expect_eq(tt_qmode_at(&c, 19), TT_Q_OFF);
  cr_expect_eq(tt_qmode_at(&c, 20), TT_Q_STOCHASTIC);
  cr_expect_eq(tt_qmode_at(&c, 49), TT_Q_STOCHASTIC);
  cr_expect_eq(tt_qmode_at(&c, 50), TT_Q_DET);
  c.qat = 0;
  cr_expect_eq(tt_qmode_at(&c, 99), TT_Q_OFF);
  /* and a run through all three phases still trains */
  tern_err err = {0};
  tt_net *net = make_net("mlp", 2);
  cr_assert_eq(tt_net_set_precision(net, "f32,t,f32", &err), TERN_OK);
  c.qat = 1;
  c.steps = 200;
  c.batch = 32;
  c.lr = 0.05f;
  tt_train_result r;
  cr_assert_eq(tt_train(net, &g_train, &c, &r, &err), TERN_OK, "%s", err.msg);
  cr_expect(accuracy(net, TT_Q_DET) > 60.0);
  tt_net_destroy(net);
}

Test(qat, same_seed_same_numbers_any_thread_count) {
  tern_err err = {0};
  const char *spec = "in 1x28x28; conv 4 3 1 1; bn; relu; maxpool 2; "
                     "flatten; linear 10";
  tt_net *a = make_net(spec, 1), *b = make_net(spec, 2), *c = make_net(spec, 2);
  for (int k = 0; k < 3; k++) {
    tt_net *n = k == 0 ? a : k == 1 ? b : c;
    cr_assert_eq(tt_net_set_precision(n, "t,i8", &err), TERN_OK);
    train(n, 30, 1, 9);
  }
  cr_expect(!memcmp(b->params, c->params, (size_t)b->n_params * 4),
            "two runs with 2 threads differ");
  cr_expect(!memcmp(a->params, b->params, (size_t)a->n_params * 4),
            "1 and 2 threads differ");
  tt_net_destroy(a);
  tt_net_destroy(b);
  tt_net_destroy(c);
}

static void stop_at_25(void *user, const tt_progress *p) {
  if (p->step == 25)
    *(volatile int *)user = 1;
}

Test(qat, checkpoint_resume_is_bit_exact) {
  tern_err err = {0};
  char path[] = "/tmp/tern_ckpt_XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  tt_train_cfg c;
  tt_train_cfg_defaults(&c);
  c.steps = 40;
  c.batch = 16;
  c.opt = TT_OPT_ADAMW;
  c.lr = 1e-3f;
  c.aug.shift = 2;
  tt_train_result r;
  tt_net *full = make_net("mlp", 2);
  cr_assert_eq(tt_train(full, &g_train, &c, &r, &err), TERN_OK, "%s", err.msg);
  /* the same run interrupted after step 25 (as by Ctrl-C) ... */
  volatile int stop = 0;
  tt_train_cfg ci = c;
  ci.ckpt_path = path;
  ci.stop = &stop;
  ci.progress = stop_at_25;
  ci.progress_user = (void *)&stop;
  ci.progress_every = 25;
  tt_net *part = make_net("mlp", 2);
  cr_assert_eq(tt_train(part, &g_train, &ci, &r, &err), TERN_OK, "%s", err.msg);
  cr_expect_eq(r.stopped, 1);
  cr_expect_eq(r.steps_done, 25);
  tt_net_destroy(part);
  /* ... and resumed from its checkpoint in a new process-like state */
  tt_ckpt_meta meta;
  tt_net *res = NULL;
  cr_assert_eq(tt_net_load_ckpt(path, 2, &res, &meta, &err), TERN_OK, "%s",
               err.msg);
  cr_assert_eq(meta.step, 25);
  tt_train_cfg cr = c;
  cr.start_step = meta.step;
  cr_assert_eq(tt_train(res, &g_train, &cr, &r, &err), TERN_OK, "%s", err.msg);
  cr_expect(!memcmp(res->params, full->params, (size_t)full->n_params * 4),
            "resumed run differs from the uninterrupted one");
  tt_net_destroy(res);
  tt_net_destroy(full);
  /* a damaged checkpoint is refused with a clear error */
  FILE *f = fopen(path, "r+b");
  cr_assert_not_null(f);
  fseek(f, 200, SEEK_SET);
  fputc(0x5a, f);
  fclose(f);
  res = NULL;
  cr_expect_eq(tt_net_load_ckpt(path, 1, &res, &meta, &err),
               TERN_ERR_CORRUPT_FILE);
  cr_expect(strstr(err.msg, "checksum") != NULL, "%s", err.msg);
  unlink(path);
}

Test(qat, ptq_int8_and_ternary_with_bias_correction) {
  tern_err err = {0};
  tt_net *net = make_net("mlp", 2);
  train(net, 300, 0, 6);
  double fp = accuracy(net, TT_Q_OFF);
  tt_net *q = make_net("mlp", 2);
  cr_assert_eq(tt_net_copy_weights(q, net, &err), TERN_OK);
  cr_assert_eq(tt_net_set_precision(q, "all=i8", &err), TERN_OK);
  tt_ptq_cfg pc = {.calib_count = 500, .bn_reestimate = 1, .batch = 128};
  tt_layer_report rep[8];
  int nr = 0;
  cr_assert_eq(tt_ptq(q, &g_train, &pc, rep, 8, &nr, &err), TERN_OK, "%s",
               err.msg);
  cr_expect_eq(nr, 3);
  double i8 = accuracy(q, TT_Q_DET);
  cr_expect(fabs(i8 - fp) <= 1.0, "int8 PTQ %.2f vs fp32 %.2f", i8, fp);
  cr_expect(rep[0].weight_rel > 0 && rep[0].weight_rel < 0.02,
            "int8 weight error %g", rep[0].weight_rel);
  /* ternary: bias correction must not make things worse */
  cr_assert_eq(tt_net_copy_weights(q, net, &err), TERN_OK);
  cr_assert_eq(tt_net_set_precision(q, "f32,t,f32", &err), TERN_OK);
  double plain = accuracy(q, TT_Q_DET);
  tt_layer_report before[8];
  cr_assert_eq(
      tt_quant_report(q, net, &g_train, 500, 128, before, 8, &nr, &err),
      TERN_OK, "%s", err.msg);
  cr_expect_eq(nr, 1);
  pc.bias_correct = 1;
  pc.scale_correct = 1;
  cr_assert_eq(tt_ptq(q, &g_train, &pc, rep, 8, &nr, &err), TERN_OK);
  double bc = accuracy(q, TT_Q_DET);
  cr_log_info("fp32 %.2f int8 %.2f ternary %.2f +bc %.2f", fp, i8, plain, bc);
  /* removing the mean output error can only lower the output error on the
   * calibration data; accuracy on 500 images moves by noise only */
  cr_expect(rep[0].out_rel <= before[0].out_rel,
            "output error %g after bias correction, %g before", rep[0].out_rel,
            before[0].out_rel);
  cr_expect(bc >= plain - 1.5, "bias correction %.2f vs %.2f", bc, plain);
  cr_expect_eq(nr, 1);
  cr_expect(rep[0].sparsity > 0.2 && rep[0].sparsity < 0.8);
  tt_net_destroy(q);
  tt_net_destroy(net);
}

Test(qat, distillation_trains_student) {
  tern_err err = {0};
  tt_net *teacher = make_net("mlp", 2);
  train(teacher, 300, 0, 7);
  tt_net *student = make_net("mlp", 2);
  cr_assert_eq(tt_net_copy_weights(student, teacher, &err), TERN_OK);
  cr_assert_eq(tt_net_set_precision(student, "all=t", &err), TERN_OK);
  tt_train_cfg c;
  tt_train_cfg_defaults(&c);
  c.steps = 150;
  c.batch = 32;
  c.lr = 0.02f;
  c.qat = 1;
  c.teacher = teacher;
  tt_train_result r;
  cr_assert_eq(tt_train(student, &g_train, &c, &r, &err), TERN_OK, "%s",
               err.msg);
  double acc = accuracy(student, TT_Q_DET);
  cr_expect(acc > accuracy(teacher, TT_Q_OFF) - 5, "distilled %.2f", acc);
  tt_net_destroy(student);
  tt_net_destroy(teacher);
}

Test(qat, graph_import_round_trip) {
  tern_err err = {0};
  tt_net *net = make_net("in 1x28x28; conv 4 3 1 1; bn; relu; conv 4 3 1 1; "
                         "add 2; maxpool 2; gap; linear 10",
                         2);
  train(net, 20, 0, 8);
  tern_graph *g = NULL;
  cr_assert_eq(tt_net_to_graph(net, &g, &err), TERN_OK, "%s", err.msg);
  tt_net *back = NULL;
  cr_assert_eq(tt_net_from_graph(g, 2, &back, &err), TERN_OK, "%s", err.msg);
  tern_graph_destroy(g);
  cr_expect_eq(back->n_params, net->n_params);
  cr_expect(!memcmp(back->params, net->params, (size_t)net->n_params * 4));
  cr_expect(!memcmp(back->stats, net->stats, (size_t)net->n_stats * 4));
  tt_net_destroy(back);
  tt_net_destroy(net);
}

Test(qat, bad_specs_and_precisions) {
  tern_err err = {0};
  tt_net *net = NULL;
  cr_expect_eq(tt_net_create("linear 10", 0, 1, &net, &err),
               TERN_ERR_INVALID_ARGUMENT);
  cr_expect_eq(tt_net_create("in 1x4x4; conv 2 9", 0, 1, &net, &err),
               TERN_ERR_INVALID_ARGUMENT);
  cr_expect_eq(tt_net_create("in 1x4x4; wobble", 0, 1, &net, &err),
               TERN_ERR_INVALID_ARGUMENT);
  cr_expect(strstr(err.msg, "wobble") != NULL);
  cr_expect_eq(tt_net_create("in 1x4x4; linear 3; add 5", 0, 1, &net, &err),
               TERN_ERR_INVALID_ARGUMENT);
  net = make_net("mlp", 1);
  cr_expect_eq(tt_net_set_precision(net, "t,t", &err),
               TERN_ERR_INVALID_ARGUMENT);
  cr_expect_eq(tt_net_set_precision(net, "all=q4", &err),
               TERN_ERR_INVALID_ARGUMENT);
  cr_expect_eq(tt_net_set_precision(net, "all=t,first=i8,last=f32", &err),
               TERN_OK);
  cr_expect_eq(net->layers[1].prec, TT_INT8);
  cr_expect_eq(net->layers[3].prec, TT_TERNARY);
  cr_expect_eq(net->layers[5].prec, TT_F32);
  tt_net_destroy(net);
}
