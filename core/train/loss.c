/* loss.c — softmax cross-entropy with label smoothing and the distillation
 * loss (KL between temperature-softened teacher and student). */
#include "train/layers.h"

#include <math.h>

/* p = softmax(z / T) in double; returns log-sum-exp of z/T */
static double softmax_row(const float *z, int64_t C, double T, double *p) {
  double m = -INFINITY;
  for (int64_t c = 0; c < C; c++)
    if (z[c] / T > m)
      m = z[c] / T;
  double sum = 0;
  for (int64_t c = 0; c < C; c++) {
    p[c] = exp(z[c] / T - m);
    sum += p[c];
  }
  for (int64_t c = 0; c < C; c++)
    p[c] /= sum;
  return m + log(sum);
}

#define MAXC 1024

float tt_softmax_xent(float *dlogits, float *probs, const float *logits,
                      const int *labels, int64_t B, int64_t C, float eps) {
  double p[MAXC], total = 0;
  if (C > MAXC || C < 1)
    return NAN;
  for (int64_t b = 0; b < B; b++) {
    const float *z = logits + b * C;
    double lse = softmax_row(z, C, 1.0, p);
    double loss = 0;
    for (int64_t c = 0; c < C; c++) {
      double t = (c == labels[b] ? 1.0 - eps : 0.0) + eps / (double)C;
      loss -= t * (z[c] - lse);
      if (dlogits)
        dlogits[b * C + c] = (float)((p[c] - t) / (double)B);
      if (probs)
        probs[b * C + c] = (float)p[c];
    }
    total += loss;
  }
  return (float)(total / (double)B);
}

float tt_distill_loss(float *dlogits, const float *student,
                      const float *teacher, const int *labels, int64_t B,
                      int64_t C, float T, float lambda, float eps) {
  double ps[MAXC], pt[MAXC], p1[MAXC], total = 0;
  if (C > MAXC || C < 1 || !(T > 0))
    return NAN;
  for (int64_t b = 0; b < B; b++) {
    const float *s = student + b * C, *t = teacher + b * C;
    double lse_s = softmax_row(s, C, T, ps);
    double lse_t = softmax_row(t, C, T, pt);
    double lse1 = softmax_row(s, C, 1.0, p1);
    double kl = 0, ce = 0;
    for (int64_t c = 0; c < C; c++) {
      if (pt[c] > 0)
        kl += pt[c] * ((t[c] / T - lse_t) - (s[c] / T - lse_s));
      double y = (c == labels[b] ? 1.0 - eps : 0.0) + eps / (double)C;
      ce -= y * (s[c] - lse1);
      if (dlogits) /* d/ds of T²·KL is T·(ps - pt) */
        dlogits[b * C + c] = (float)((lambda * T * (ps[c] - pt[c]) +
                                      (1 - lambda) * (p1[c] - y)) /
                                     (double)B);
    }
    total += lambda * (double)T * T * kl + (1 - lambda) * ce;
  }
  return (float)(total / (double)B);
}
