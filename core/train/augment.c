/* augment.c — seeded shuffling and batch assembly with augmentation (random
 * shifts, crop with padding, horizontal flip). All randomness is a hash of
 * (seed, epoch or step, sample), so a resumed run sees the same batches.
 * Pixels become (float)(p / 255.0), correctly rounded, exactly as
 * `tern run --idx` feeds them, so exported models see the same inputs. */
#include "train/data.h"
#include "train/layers.h"

void tt_shuffle(int64_t *perm, int64_t n, uint64_t seed, int64_t epoch) {
  for (int64_t i = 0; i < n; i++)
    perm[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    uint64_t h = tt_hash3(seed, 0x5eedull + (uint64_t)epoch, (uint64_t)i);
    int64_t j = (int64_t)(h % (uint64_t)(i + 1));
    int64_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}

void tt_make_batch(const tt_dataset *d, const int64_t *idx, int64_t count,
                   const tt_augment *aug, uint64_t seed, int64_t step, float *x,
                   int *labels) {
  int64_t hw = (int64_t)d->h * d->w, per = hw * d->c;
  for (int64_t b = 0; b < count; b++) {
    const uint8_t *src = d->pixels + idx[b] * per;
    float *dst = x + b * per;
    if (labels)
      labels[b] = d->labels[idx[b]];
    int dx = 0, dy = 0, flip = 0;
    if (aug) {
      uint64_t h = tt_hash3(seed ^ 0xa06ull, (uint64_t)step, (uint64_t)b);
      int r = aug->shift > aug->crop_pad ? aug->shift : aug->crop_pad;
      if (r > 0) {
        dx = (int)(h % (uint64_t)(2 * r + 1)) - r;
        dy = (int)((h >> 16) % (uint64_t)(2 * r + 1)) - r;
      }
      flip = aug->hflip && ((h >> 40) & 1);
    }
    for (int c = 0; c < d->c; c++)
      for (int y = 0; y < d->h; y++)
        for (int xx = 0; xx < d->w; xx++) {
          int sy = y - dy, sx0 = xx - dx;
          int sx = flip ? d->w - 1 - sx0 : sx0;
          float v = 0;
          if (sy >= 0 && sy < d->h && sx >= 0 && sx < d->w)
            v = (float)(src[c * hw + sy * d->w + sx] / 255.0);
          dst[c * hw + y * d->w + xx] = v;
        }
  }
}
