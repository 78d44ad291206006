/* data.h — data sets for training: IDX (MNIST) and CIFAR-10 binary loaders,
 * the built-in synthetic digits, seeded shuffling and augmentation. Images
 * are kept as 8-bit pixels and turned into floats in [0,1] per batch. */
#ifndef TERN_TRAIN_DATA_H
#define TERN_TRAIN_DATA_H

#include "tern_internal.h"

typedef struct tt_dataset {
  int64_t n;
  int c, h, w, classes;
  uint8_t *pixels; /* n * c*h*w, sample-major, CHW */
  uint8_t *labels; /* n */
  char name[64];
} tt_dataset;

void tt_dataset_free(tt_dataset *d);
/* Samples [begin, end) of src as a new data set (copied). */
tern_status tt_dataset_slice(const tt_dataset *src, int64_t begin, int64_t end,
                             tt_dataset *out, tern_err *err);

/* IDX pair (images magic 0x803 [n,h,w], labels magic 0x801 [n]); gzip or
 * raw (zlib reads both). Magic, dimensions, counts and file sizes are
 * checked; anything else is TERN_ERR_CORRUPT_FILE naming the file. */
tern_status tt_load_idx(const char *images_path, const char *labels_path,
                        tt_dataset *out, tern_err *err);
/* MNIST as shipped (t10k-images-idx3-ubyte[.gz] ...) from a directory. */
tern_status tt_load_mnist_dir(const char *dir, tt_dataset *out, tern_err *err);
/* CIFAR-10 binary batches: records of 1 label byte + 3072 pixel bytes.
 * paths: n_paths files, concatenated. */
tern_status tt_load_cifar10(const char *const *paths, int n_paths,
                            tt_dataset *out, tern_err *err);
/* Synthetic digits: ten procedurally drawn glyphs (strokes of a seven-
 * segment-like skeleton with per-sample jitter, slant, thickness and
 * noise), 28x28. Same seed, same images. */
tern_status tt_synth_digits(int64_t n, uint64_t seed, tt_dataset *out,
                            tern_err *err);

/* Permutation of [0,n) for an epoch: a Fisher-Yates shuffle driven by
 * (seed, epoch). */
void tt_shuffle(int64_t *perm, int64_t n, uint64_t seed, int64_t epoch);

typedef struct tt_augment {
  int shift;    /* random shift of up to ±shift pixels, zero fill */
  int crop_pad; /* random crop after zero padding by crop_pad */
  int hflip;    /* random horizontal flip (not for digits) */
} tt_augment;

/* Fill x [count, c, h, w] with floats in [0,1] for samples idx[0..count),
 * augmented (aug may be NULL) with randomness from (seed, step, i). labels
 * (may be NULL) receives the labels. */
void tt_make_batch(const tt_dataset *d, const int64_t *idx, int64_t count,
                   const tt_augment *aug, uint64_t seed, int64_t step, float *x,
                   int *labels);

#endif
