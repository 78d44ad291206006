/* cifar.c — CIFAR-10 binary loader: each record is one label byte (0-9)
 * and 3072 pixel bytes (1024 red, 1024 green, 1024 blue, row-major 32x32). */
#include "train/data.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define REC (1 + 3072)

tern_status tt_load_cifar10(const char *const *paths, int n_paths,
                            tt_dataset *out, tern_err *err) {
  int64_t total = 0;
  for (int i = 0; i < n_paths; i++) {
    struct stat sb;
    if (stat(paths[i], &sb) != 0)
      return tern_err_set(err, TERN_ERR_IO, "%s: cannot open", paths[i]);
    if (sb.st_size == 0 || sb.st_size % REC)
      return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                          "%s: %lld bytes is not a whole number of CIFAR-10 "
                          "records of %d bytes",
                          paths[i], (long long)sb.st_size, REC);
    total += sb.st_size / REC;
  }
  if (total == 0)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT, "cifar10: no files");
  tt_dataset d;
  memset(&d, 0, sizeof d);
  d.n = total;
  d.c = 3;
  d.h = d.w = 32;
  d.classes = 10;
  snprintf(d.name, sizeof d.name, "cifar10");
  d.pixels = tern_malloc((size_t)total * 3072);
  d.labels = tern_malloc((size_t)total);
  if (!d.pixels || !d.labels) {
    tt_dataset_free(&d);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  int64_t k = 0;
  uint8_t rec[REC];
  for (int i = 0; i < n_paths; i++) {
    FILE *f = fopen(paths[i], "rb");
    if (!f) {
      tt_dataset_free(&d);
      return tern_err_set(err, TERN_ERR_IO, "%s: cannot open", paths[i]);
    }
    while (fread(rec, 1, REC, f) == REC) {
      if (rec[0] > 9) {
        fclose(f);
        tt_dataset_free(&d);
        return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                            "%s: record %lld has label %u (0-9 expected)",
                            paths[i], (long long)k, rec[0]);
      }
      if (k < total) {
        d.labels[k] = rec[0];
        memcpy(d.pixels + k * 3072, rec + 1, 3072);
      }
      k++;
    }
    fclose(f);
  }
  if (k != total) {
    tt_dataset_free(&d);
    return tern_err_set(err, TERN_ERR_IO,
                        "cifar10: read %lld records, expected %lld",
                        (long long)k, (long long)total);
  }
  *out = d;
  return TERN_OK;
}
