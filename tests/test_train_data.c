/* test_train_data.c — the data side of training: IDX files (raw and gzip;
 * every malformed case gets a clear error), the real MNIST files when
 * present (skipped otherwise), CIFAR-10 records, the synthetic digits,
 * shuffling and augmentation. */
#include "testutil.h"
#include "train/data.h"
#include "train/layers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char g_dir[64];

static void dir_setup(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/tern_data_XXXXXX");
  cr_assert_not_null(mkdtemp(g_dir));
}
static void dir_teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  cr_expect_eq(system(cmd), 0);
}

static void put_be32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)(v >> 24);
  b[1] = (uint8_t)(v >> 16);
  b[2] = (uint8_t)(v >> 8);
  b[3] = (uint8_t)v;
}

/* Write an IDX file: magic, dims, then `payload` bytes of data (i & 0xff,
 * or labels i % 10) and `extra` trailing bytes. */
static void write_idx(const char *name, uint32_t magic, int ndim,
                      const uint32_t *dims, int64_t payload, int extra, bool gz,
                      char *path) {
  sprintf(path, "%s/%s", g_dir, name);
  uint8_t hdr[16];
  put_be32(hdr, magic);
  for (int i = 0; i < ndim; i++)
    put_be32(hdr + 4 + 4 * i, dims[i]);
  int64_t n = payload + extra;
  uint8_t *data = malloc((size_t)n + 1);
  for (int64_t i = 0; i < n; i++)
    data[i] = magic == 0x801 ? (uint8_t)(i % 10) : (uint8_t)(i * 7);
  if (gz) {
    gzFile f = gzopen(path, "wb");
    cr_assert_not_null(f);
    gzwrite(f, hdr, (unsigned)(4 + 4 * ndim));
    gzwrite(f, data, (unsigned)n);
    gzclose(f);
  } else {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fwrite(hdr, 1, (size_t)(4 + 4 * ndim), f);
    fwrite(data, 1, (size_t)n, f);
    fclose(f);
  }
  free(data);
}

TestSuite(idx, .init = dir_setup, .fini = dir_teardown);

Test(idx, raw_and_gzip_load) {
  char ip[128], lp[128];
  uint32_t id[3] = {5, 4, 3}, ld[1] = {5};
  for (int gz = 0; gz < 2; gz++) {
    write_idx(gz ? "i.gz" : "i", 0x803, 3, id, 60, 0, gz, ip);
    write_idx(gz ? "l.gz" : "l", 0x801, 1, ld, 5, 0, gz, lp);
    tt_dataset d;
    tern_err err = {0};
    cr_assert_eq(tt_load_idx(ip, lp, &d, &err), TERN_OK, "%s", err.msg);
    cr_expect_eq(d.n, 5);
    cr_expect_eq(d.h, 4);
    cr_expect_eq(d.w, 3);
    cr_expect_eq(d.pixels[13], (uint8_t)(13 * 7));
    cr_expect_eq(d.labels[4], 4);
    tt_dataset_free(&d);
  }
}

static void expect_fail(const char *ip, const char *lp, tern_status want,
                        const char *needle) {
  tt_dataset d;
  tern_err err = {0};
  tern_status st = tt_load_idx(ip, lp, &d, &err);
  cr_expect_eq(st, want, "status %d (%s), wanted %d", st, err.msg, want);
  cr_expect(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg,
            needle);
}

Test(idx, malformed_files_are_refused) {
  char ip[128], lp[128], bad[128];
  uint32_t id[3] = {5, 4, 3}, ld[1] = {5}, ld6[1] = {6};
  write_idx("i", 0x803, 3, id, 60, 0, false, ip);
  write_idx("l", 0x801, 1, ld, 5, 0, false, lp);
  expect_fail("/nonexistent/x", lp, TERN_ERR_IO, "cannot open");
  write_idx("m", 0x802, 3, id, 60, 0, false, bad);
  expect_fail(bad, lp, TERN_ERR_CORRUPT_FILE, "magic");
  write_idx("t", 0x803, 3, id, 59, 0, false, bad);
  expect_fail(bad, lp, TERN_ERR_CORRUPT_FILE, "bytes");
  write_idx("x", 0x803, 3, id, 60, 3, false, bad);
  expect_fail(bad, lp, TERN_ERR_CORRUPT_FILE, "bytes");
  write_idx("tg.gz", 0x803, 3, id, 59, 0, true, bad);
  expect_fail(bad, lp, TERN_ERR_CORRUPT_FILE, "truncated");
  write_idx("xg.gz", 0x803, 3, id, 60, 1, true, bad);
  expect_fail(bad, lp, TERN_ERR_CORRUPT_FILE, "trailing");
  write_idx("l6", 0x801, 1, ld6, 6, 0, false, bad);
  expect_fail(ip, bad, TERN_ERR_CORRUPT_FILE, "labels");
  uint32_t z[3] = {5, 0, 3};
  write_idx("z", 0x803, 3, z, 0, 0, false, bad);
  expect_fail(bad, lp, TERN_ERR_CORRUPT_FILE, "dimension");
  sprintf(bad, "%s/short", g_dir);
  FILE *f = fopen(bad, "wb");
  fwrite("\0\0", 1, 2, f);
  fclose(f);
  expect_fail(bad, lp, TERN_ERR_CORRUPT_FILE, "header");
  /* a label that is not a digit */
  sprintf(bad, "%s/lbad", g_dir);
  f = fopen(bad, "wb");
  uint8_t h[8], labs[5] = {1, 2, 3, 11, 4};
  put_be32(h, 0x801);
  put_be32(h + 4, 5);
  fwrite(h, 1, 8, f);
  fwrite(labs, 1, 5, f);
  fclose(f);
  expect_fail(ip, bad, TERN_ERR_CORRUPT_FILE, "label 11");
}

Test(idx, real_mnist_when_present) {
  const char *dir = tu_mnist_dir();
  if (!dir)
    cr_skip_test("real MNIST not found (TERN_MNIST_DIR)");
  tt_dataset d;
  tern_err err = {0};
  cr_assert_eq(tt_load_mnist_dir(dir, &d, &err), TERN_OK, "%s", err.msg);
  cr_expect_eq(d.n, 10000);
  cr_expect_eq(d.h, 28);
  cr_expect_eq(d.w, 28);
  /* label counts from ../shared/datasets/README.md */
  int want[10] = {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
  int got[10] = {0};
  for (int64_t i = 0; i < d.n; i++)
    got[d.labels[i]]++;
  for (int k = 0; k < 10; k++)
    cr_expect_eq(got[k], want[k], "digit %d: %d", k, got[k]);
  tt_dataset tr, te;
  cr_assert_eq(tt_dataset_slice(&d, 0, 8000, &tr, &err), TERN_OK);
  cr_assert_eq(tt_dataset_slice(&d, 8000, 10000, &te, &err), TERN_OK);
  cr_expect_eq(te.n, 2000);
  cr_expect_eq(te.labels[0], d.labels[8000]);
  cr_expect_eq(tt_dataset_slice(&d, 9000, 10001, &tr, &err),
               TERN_ERR_INVALID_ARGUMENT);
  tt_dataset_free(&tr);
  tt_dataset_free(&te);
  tt_dataset_free(&d);
}

TestSuite(cifar, .init = dir_setup, .fini = dir_teardown);

Test(cifar, records_and_errors) {
  char p[128];
  sprintf(p, "%s/batch.bin", g_dir);
  FILE *f = fopen(p, "wb");
  uint8_t rec[3073];
  for (int r = 0; r < 3; r++) {
    rec[0] = (uint8_t)(r + 7);
    for (int i = 1; i < 3073; i++)
      rec[i] = (uint8_t)(i + r);
    fwrite(rec, 1, sizeof rec, f);
  }
  fclose(f);
  const char *paths[1] = {p};
  tt_dataset d;
  tern_err err = {0};
  cr_assert_eq(tt_load_cifar10(paths, 1, &d, &err), TERN_OK, "%s", err.msg);
  cr_expect_eq(d.n, 3);
  cr_expect_eq(d.c, 3);
  cr_expect_eq(d.labels[2], 9);
  cr_expect_eq(d.pixels[3072 + 1024], (uint8_t)(1025 + 1)); /* green */
  tt_dataset_free(&d);
  f = fopen(p, "ab");
  fputc(1, f);
  fclose(f);
  cr_expect_eq(tt_load_cifar10(paths, 1, &d, &err), TERN_ERR_CORRUPT_FILE);
  cr_expect(strstr(err.msg, "records") != NULL, "%s", err.msg);
  f = fopen(p, "wb");
  rec[0] = 10;
  fwrite(rec, 1, sizeof rec, f);
  fclose(f);
  cr_expect_eq(tt_load_cifar10(paths, 1, &d, &err), TERN_ERR_CORRUPT_FILE);
  cr_expect(strstr(err.msg, "label 10") != NULL, "%s", err.msg);
}

Test(synth, deterministic_balanced_and_varied) {
  tt_dataset a, b, c;
  tern_err err = {0};
  cr_assert_eq(tt_synth_digits(1000, 3, &a, &err), TERN_OK);
  cr_assert_eq(tt_synth_digits(1000, 3, &b, &err), TERN_OK);
  cr_assert_eq(tt_synth_digits(1000, 4, &c, &err), TERN_OK);
  cr_expect(!memcmp(a.pixels, b.pixels, 1000 * 784));
  cr_expect(memcmp(a.pixels, c.pixels, 1000 * 784));
  int count[10] = {0};
  for (int i = 0; i < 1000; i++)
    count[a.labels[i]]++;
  for (int k = 0; k < 10; k++)
    cr_expect(count[k] > 60 && count[k] < 140, "digit %d: %d", k, count[k]);
  /* two samples of the same digit are not the same image */
  int first = -1;
  for (int i = 0; i < 1000; i++)
    if (a.labels[i] == 8) {
      if (first < 0)
        first = i;
      else {
        cr_expect(memcmp(a.pixels + first * 784, a.pixels + i * 784, 784));
        break;
      }
    }
  cr_expect_eq(tt_synth_digits(0, 1, &c, &err), TERN_ERR_INVALID_ARGUMENT);
  tt_dataset_free(&a);
  tt_dataset_free(&b);
}

Test(shuffle, permutation_by_seed_and_epoch) {
  int64_t p[100], q[100], r[100];
  tt_shuffle(p, 100, 1, 0);
  tt_shuffle(q, 100, 1, 0);
  tt_shuffle(r, 100, 1, 1);
  cr_expect(!memcmp(p, q, sizeof p));
  cr_expect(memcmp(p, r, sizeof p));
  int seen[100] = {0};
  for (int i = 0; i < 100; i++)
    seen[p[i]]++;
  for (int i = 0; i < 100; i++)
    cr_expect_eq(seen[i], 1);
}

Test(augment, shift_crop_and_flip) {
  tt_dataset d;
  memset(&d, 0, sizeof d);
  d.n = 1;
  d.c = 1;
  d.h = 4;
  d.w = 4;
  d.classes = 10;
  uint8_t pix[16] = {0}, lab[1] = {3};
  pix[1 * 4 + 1] = 255; /* one bright pixel at (1,1) */
  d.pixels = pix;
  d.labels = lab;
  int64_t idx[1] = {0};
  float x[16];
  int l;
  tt_make_batch(&d, idx, 1, NULL, 0, 0, x, &l);
  cr_expect_eq(l, 3);
  cr_expect_eq(x[5], 1.0f);
  cr_expect_eq(x[4 * 0 + 2], 0.0f);
  /* shifts move the pixel by at most ±1 and keep it whole */
  tt_augment aug = {1, 0, 0};
  int moved = 0;
  for (int step = 0; step < 20; step++) {
    tt_make_batch(&d, idx, 1, &aug, 9, step, x, NULL);
    float sum = 0;
    int at = -1;
    for (int i = 0; i < 16; i++) {
      sum += x[i];
      if (x[i] > 0)
        at = i;
    }
    cr_expect_eq(sum, 1.0f);
    cr_expect(abs(at / 4 - 1) <= 1 && abs(at % 4 - 1) <= 1);
    moved += at != 5;
  }
  cr_expect(moved > 0);
  /* flips mirror columns */
  tt_augment flip = {0, 0, 1};
  int flipped = 0;
  for (int step = 0; step < 20; step++) {
    tt_make_batch(&d, idx, 1, &flip, 9, step, x, NULL);
    cr_expect(x[5] == 1.0f || x[6] == 1.0f);
    flipped += x[6] == 1.0f;
  }
  cr_expect(flipped > 0 && flipped < 20);
  /* pixel scaling is (float)(p / 255.0), as tern run feeds images */
  pix[0] = 77;
  tt_make_batch(&d, idx, 1, NULL, 0, 0, x, NULL);
  cr_expect_eq(x[0], (float)(77 / 255.0));
}
