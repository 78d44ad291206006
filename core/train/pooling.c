/* pooling.c — max, average and global average pooling, forward and backward
 * (training core). Layout [B,C,H,W]. */
#include "train/layers.h"

bool tt_pool_shape_init(tt_pool_shape *s) {
  if (s->stride <= 0)
    s->stride = s->kh;
  if (s->c <= 0 || s->h <= 0 || s->w <= 0 || s->kh <= 0 || s->kw <= 0 ||
      s->pad < 0 || s->pad * 2 > s->kh || s->pad * 2 > s->kw ||
      s->h + 2 * s->pad < s->kh || s->w + 2 * s->pad < s->kw)
    return false;
  s->oh = (s->h + 2 * s->pad - s->kh) / s->stride + 1;
  s->ow = (s->w + 2 * s->pad - s->kw) / s->stride + 1;
  return true;
}

void tt_maxpool_forward(float *out, int32_t *argmax, const float *inp,
                        int64_t B, const tt_pool_shape *s) {
  int64_t HW = (int64_t)s->h * s->w, OHW = (int64_t)s->oh * s->ow;
  for (int64_t bc = 0; bc < B * s->c; bc++) {
    const float *x = inp + bc * HW;
    for (int oy = 0; oy < s->oh; oy++)
      for (int ox = 0; ox < s->ow; ox++) {
        float best = 0;
        int32_t bi = -1;
        for (int i = 0; i < s->kh; i++) {
          int iy = oy * s->stride - s->pad + i;
          if (iy < 0 || iy >= s->h)
            continue;
          for (int j = 0; j < s->kw; j++) {
            int ix = ox * s->stride - s->pad + j;
            if (ix < 0 || ix >= s->w)
              continue;
            float v = x[iy * s->w + ix];
            if (bi < 0 || v > best) {
              best = v;
              bi = iy * s->w + ix;
            }
          }
        }
        out[bc * OHW + oy * s->ow + ox] = best;
        argmax[bc * OHW + oy * s->ow + ox] = bi;
      }
  }
}

void tt_maxpool_backward(float *dinp, const float *dout, const int32_t *argmax,
                         int64_t B, const tt_pool_shape *s) {
  int64_t HW = (int64_t)s->h * s->w, OHW = (int64_t)s->oh * s->ow;
  for (int64_t bc = 0; bc < B * s->c; bc++)
    for (int64_t o = 0; o < OHW; o++)
      if (argmax[bc * OHW + o] >= 0)
        dinp[bc * HW + argmax[bc * OHW + o]] += dout[bc * OHW + o];
}

static int avg_count(const tt_pool_shape *s, int oy, int ox) {
  if (s->count_include_pad)
    return s->kh * s->kw;
  int n = 0;
  for (int i = 0; i < s->kh; i++) {
    int iy = oy * s->stride - s->pad + i;
    for (int j = 0; j < s->kw; j++) {
      int ix = ox * s->stride - s->pad + j;
      n += iy >= 0 && iy < s->h && ix >= 0 && ix < s->w;
    }
  }
  return n;
}

void tt_avgpool_forward(float *out, const float *inp, int64_t B,
                        const tt_pool_shape *s) {
  int64_t HW = (int64_t)s->h * s->w, OHW = (int64_t)s->oh * s->ow;
  for (int64_t bc = 0; bc < B * s->c; bc++) {
    const float *x = inp + bc * HW;
    for (int oy = 0; oy < s->oh; oy++)
      for (int ox = 0; ox < s->ow; ox++) {
        float acc = 0;
        for (int i = 0; i < s->kh; i++) {
          int iy = oy * s->stride - s->pad + i;
          if (iy < 0 || iy >= s->h)
            continue;
          for (int j = 0; j < s->kw; j++) {
            int ix = ox * s->stride - s->pad + j;
            if (ix >= 0 && ix < s->w)
              acc += x[iy * s->w + ix];
          }
        }
        int n = avg_count(s, oy, ox);
        out[bc * OHW + oy * s->ow + ox] = n ? acc / (float)n : 0.0f;
      }
  }
}

void tt_avgpool_backward(float *dinp, const float *dout, int64_t B,
                         const tt_pool_shape *s) {
  int64_t HW = (int64_t)s->h * s->w, OHW = (int64_t)s->oh * s->ow;
  for (int64_t bc = 0; bc < B * s->c; bc++) {
    float *dx = dinp + bc * HW;
    for (int oy = 0; oy < s->oh; oy++)
      for (int ox = 0; ox < s->ow; ox++) {
        int n = avg_count(s, oy, ox);
        if (!n)
          continue;
        float g = dout[bc * OHW + oy * s->ow + ox] / (float)n;
        for (int i = 0; i < s->kh; i++) {
          int iy = oy * s->stride - s->pad + i;
          if (iy < 0 || iy >= s->h)
            continue;
          for (int j = 0; j < s->kw; j++) {
            int ix = ox * s->stride - s->pad + j;
            if (ix >= 0 && ix < s->w)
              dx[iy * s->w + ix] += g;
          }
        }
      }
  }
}

void tt_gap_forward(float *out, const float *inp, int64_t B, int64_t C,
                    int64_t S) {
  for (int64_t bc = 0; bc < B * C; bc++) {
    float acc = 0;
    for (int64_t s = 0; s < S; s++)
      acc += inp[bc * S + s];
    out[bc] = acc / (float)S;
  }
}

void tt_gap_backward(float *dinp, const float *dout, int64_t B, int64_t C,
                     int64_t S) {
  for (int64_t bc = 0; bc < B * C; bc++) {
    float g = dout[bc] / (float)S;
    for (int64_t s = 0; s < S; s++)
      dinp[bc * S + s] += g;
  }
}
