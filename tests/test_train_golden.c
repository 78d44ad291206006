/* test_train_golden.c — one forward + backward + two optimizer steps of the
 * model zoo's mlp (SGD, momentum, weight decay, label smoothing) and lenet5
 * (AdamW) against values PyTorch computed (scripts/golden_torch.py ->
 * tests/golden/). Parameters and inputs come from an integer hash both
 * sides compute exactly. */
#include "testutil.h"
#include "train/net.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double golden_value(uint32_t i, uint32_t seed) {
  uint32_t h = i * 2654435761u + seed * 40503u + 12345u;
  h ^= h >> 15;
  h *= 2246822519u;
  h ^= h >> 13;
  return (double)(h % 20001u) / 10000.0 - 1.0;
}

static void golden_fill(float *v, int64_t n, uint32_t seed, double scale,
                        double offset) {
  for (int64_t i = 0; i < n; i++)
    v[i] = (float)(golden_value((uint32_t)i, seed) * scale + offset);
}

/* the indices golden_torch.py sampled from a tensor of n values */
static int64_t sample_idx(int64_t n, int64_t k) {
  if (n <= 1024)
    return k;
  return k < 64 ? k : ((k - 64) * 7919 + 13) % n;
}
static int64_t sample_count(int64_t n) {
  return n <= 1024 ? n : 256;
}

typedef struct golden {
  int count;
  char names[64][32];
  float *data[64];
  uint32_t n[64];
} golden;

static void golden_load(golden *g, const char *file) {
  const char *src = getenv("TERN_SOURCE_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/golden/%s", src ? src : ".", file);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s (set TERN_SOURCE_DIR)", path);
  char magic[8];
  uint32_t cnt;
  cr_assert_eq(fread(magic, 1, 8, f), 8u);
  cr_assert(!memcmp(magic, "TGOLD001", 8));
  cr_assert_eq(fread(&cnt, 4, 1, f), 1u);
  cr_assert(cnt <= 64);
  g->count = (int)cnt;
  for (uint32_t i = 0; i < cnt; i++) {
    uint32_t len;
    cr_assert_eq(fread(&len, 4, 1, f), 1u);
    cr_assert(len < 32);
    cr_assert_eq(fread(g->names[i], 1, len, f), len);
    g->names[i][len] = 0;
    cr_assert_eq(fread(&g->n[i], 4, 1, f), 1u);
    g->data[i] = malloc((size_t)g->n[i] * 4 + 4);
    cr_assert_eq(fread(g->data[i], 4, g->n[i], f), g->n[i]);
  }
  fclose(f);
}

static const float *golden_get(const golden *g, const char *name, uint32_t *n) {
  for (int i = 0; i < g->count; i++)
    if (!strcmp(g->names[i], name)) {
      *n = g->n[i];
      return g->data[i];
    }
  cr_assert_fail("golden value %s missing", name);
  return NULL;
}

static void expect_close(const char *what, const float *got, const float *want,
                         int64_t n, double rel, double abs_tol) {
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - want[i]);
    if (d > abs_tol + rel * fabs(want[i]) && bad++ < 5)
      cr_log_error("%s[%lld]: got %.9g want %.9g", what, (long long)i, got[i],
                   want[i]);
  }
  cr_expect_eq(bad, 0, "%s: %d values off", what, bad);
}

/* Compare the sampled entries of each weighted layer's weight and bias in
 * block (grads or params) with golden "<prefix><layer>w|b". */
static void compare_block(const tt_net *net, const golden *g,
                          const float *block, const char *prefix, double rel,
                          double abs_tol) {
  int li = 0;
  for (int i = 0; i < net->n_layers; i++) {
    const tt_layer *l = &net->layers[i];
    if (l->kind != TT_LINEAR && l->kind != TT_CONV)
      continue;
    for (int wb = 0; wb < 2; wb++) {
      char name[32];
      snprintf(name, sizeof name, "%s%d%c", prefix, li, wb ? 'b' : 'w');
      int64_t n = wb ? l->n_b : l->n_w;
      const float *src = block + (wb ? l->b_off : l->w_off);
      uint32_t gn;
      const float *want = golden_get(g, name, &gn);
      cr_assert_eq((int64_t)gn, sample_count(n), "%s: %u samples", name, gn);
      float *got = malloc((size_t)gn * 4);
      for (uint32_t k = 0; k < gn; k++)
        got[k] = src[sample_idx(n, k)];
      expect_close(name, got, want, gn, rel, abs_tol);
      free(got);
    }
    li++;
  }
}

static void run_golden(const char *model, const char *file, bool adamw) {
  golden g;
  memset(&g, 0, sizeof g);
  golden_load(&g, file);
  tern_err err = {0};
  tt_net *net = NULL;
  cr_assert_eq(tt_net_create(model, 0, 2, &net, &err), TERN_OK, "%s", err.msg);
  int li = 0;
  for (int i = 0; i < net->n_layers; i++) {
    tt_layer *l = &net->layers[i];
    if (l->kind != TT_LINEAR && l->kind != TT_CONV)
      continue;
    double bound = 1.0 / sqrt((double)(l->n_w / l->oc));
    golden_fill(net->params + l->w_off, l->n_w, 100 + 2 * li, bound, 0);
    golden_fill(net->params + l->b_off, l->n_b, 101 + 2 * li, bound, 0);
    li++;
  }
  enum { B = 8 };
  float *x = malloc(B * 784 * 4), dlog[B * 10];
  golden_fill(x, B * 784, 7, 0.5, 0.5);
  int labels[B];
  for (int i = 0; i < B; i++)
    labels[i] = (3 * i + 1) % 10;
  for (int step = 0; step < 2; step++) {
    const float *lg = tt_net_forward(net, x, B, true, TT_Q_OFF, step, 0);
    cr_assert_not_null(lg);
    float loss = tt_softmax_xent(dlog, NULL, lg, labels, B, 10, 0.1f);
    tt_net_zero_grad(net);
    tt_net_backward(net, dlog, B);
    if (step == 0) {
      uint32_t n;
      const float *want = golden_get(&g, "logits", &n);
      cr_assert_eq(n, (uint32_t)(B * 10));
      expect_close("logits", lg, want, n, 1e-5, 1e-6);
      const float *wl = golden_get(&g, "loss", &n);
      cr_expect(fabs(loss - wl[0]) < 1e-5, "loss %.8f vs %.8f", loss, wl[0]);
      compare_block(net, &g, net->grads, "grad", 1e-4, 1e-7);
    }
    if (adamw)
      tt_adamw_step(net->params, net->grads, net->opt_m, net->opt_v, net->decay,
                    net->n_params, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step + 1);
    else
      tt_sgd_step(net->params, net->grads, net->opt_m, net->decay,
                  net->n_params, 0.1f, 0.9f, 5e-4f, false);
  }
  /* Adam normalises the update: tiny gradients differing in the last bits
   * can move a parameter by up to ~lr, so its tolerance is looser */
  compare_block(net, &g, net->params, "param", 1e-4, adamw ? 2e-5 : 1e-6);
  tt_net_destroy(net);
  free(x);
  for (int i = 0; i < g.count; i++)
    free(g.data[i]);
}

Test(golden, mlp_sgd_step) {
  run_golden("mlp", "mlp_sgd.bin", false);
}
Test(golden, lenet5_adamw_step) {
  run_golden("lenet5", "lenet5_adamw.bin", true);
}
