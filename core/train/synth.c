/* synth.c — the built-in synthetic data set: digit-like glyphs drawn from a
 * seven-segment skeleton with per-sample jitter of every stroke end, slant,
 * scale, position, stroke width, contrast and pixel noise, so that a model
 * has to generalise and accuracy means something. 28x28, 10 classes. */
#include "train/data.h"
#include "train/layers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* segment end points on a 0..1 box: a b c d e f g */
static const float k_seg[7][4] = {
    {0, 0, 1, 0},   {1, 0, 1, .5f}, {1, .5f, 1, 1},  {0, 1, 1, 1},
    {0, .5f, 0, 1}, {0, 0, 0, .5f}, {0, .5f, 1, .5f}};
/* which segments each digit lights (bit i = segment i) */
static const uint8_t k_digit[10] = {0x3f, 0x06, 0x5b, 0x4f, 0x66,
                                    0x6d, 0x7d, 0x07, 0x7f, 0x6f};

static float seg_dist(float px, float py, float x0, float y0, float x1,
                      float y1) {
  float dx = x1 - x0, dy = y1 - y0, l2 = dx * dx + dy * dy;
  float t = l2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / l2 : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  float ex = x0 + t * dx - px, ey = y0 + t * dy - py;
  return sqrtf(ex * ex + ey * ey);
}

tern_status tt_synth_digits(int64_t n, uint64_t seed, tt_dataset *out,
                            tern_err *err) {
  if (n <= 0)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "synthetic data: need a positive sample count");
  tt_dataset d;
  memset(&d, 0, sizeof d);
  d.n = n;
  d.c = 1;
  d.h = d.w = 28;
  d.classes = 10;
  snprintf(d.name, sizeof d.name, "synth");
  d.pixels = tern_malloc((size_t)n * 784);
  d.labels = tern_malloc((size_t)n);
  if (!d.pixels || !d.labels) {
    tt_dataset_free(&d);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  for (int64_t s = 0; s < n; s++) {
    uint64_t k = 0;
#define RND() tt_unit(tt_hash3(seed, (uint64_t)s, k++))
    int label = (int)(RND() * 10) % 10;
    d.labels[s] = (uint8_t)label;
    float sx = 9 + 4 * RND(), sy = 15 + 5 * RND(); /* glyph box */
    float ox = 14 - sx / 2 + 3 * (RND() - .5f),
          oy = 14 - sy / 2 + 3 * (RND() - .5f);
    float slant = 0.35f * (RND() - .3f), width = 1.0f + 1.2f * RND();
    float contrast = 0.6f + 0.4f * RND();
    float seg[7][4];
    for (int i = 0; i < 7; i++)
      for (int j = 0; j < 4; j++)
        seg[i][j] = k_seg[i][j] + 0.12f * (RND() - .5f);
    uint8_t mask = k_digit[label];
    float noise_amp = 0.25f * RND();
    uint8_t *img = d.pixels + s * 784;
    for (int y = 0; y < 28; y++)
      for (int x = 0; x < 28; x++) {
        float best = 1e9f;
        for (int i = 0; i < 7; i++) {
          if (!(mask >> i & 1))
            continue;
          float x0 = ox + seg[i][0] * sx + slant * (sy - seg[i][1] * sy);
          float y0 = oy + seg[i][1] * sy;
          float x1 = ox + seg[i][2] * sx + slant * (sy - seg[i][3] * sy);
          float y1 = oy + seg[i][3] * sy;
          float dd = seg_dist(x + .5f, y + .5f, x0, y0, x1, y1);
          if (dd < best)
            best = dd;
        }
        float v = best < width ? 1.0f : best < width + 1 ? width + 1 - best : 0;
        v = v * contrast + noise_amp * (RND() - .5f);
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        img[y * 28 + x] = (uint8_t)lrintf(v * 255);
      }
#undef RND
  }
  *out = d;
  return TERN_OK;
}
