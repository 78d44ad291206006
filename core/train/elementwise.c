/* elementwise.c — relu, relu6 and the residual add, forward and backward. */
#include "train/layers.h"

void tt_relu_forward(float *out, const float *inp, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    out[i] = inp[i] > 0 ? inp[i] : 0.0f;
}

void tt_relu_backward(float *dinp, const float *dout, const float *inp,
                      int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (inp[i] > 0)
      dinp[i] += dout[i];
}

void tt_relu6_forward(float *out, const float *inp, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    out[i] = inp[i] > 0 ? (inp[i] < 6 ? inp[i] : 6.0f) : 0.0f;
}

void tt_relu6_backward(float *dinp, const float *dout, const float *inp,
                       int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (inp[i] > 0 && inp[i] < 6)
      dinp[i] += dout[i];
}

void tt_add_forward(float *out, const float *a, const float *b, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    out[i] = a[i] + b[i];
}

void tt_add_backward(float *da, float *db, const float *dout, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    if (da)
      da[i] += dout[i];
    if (db)
      db[i] += dout[i];
  }
}
