/* optim.c — SGD with momentum and AdamW over one contiguous parameter block,
 * and the learning-rate schedules. */
#include "train/layers.h"

#include <math.h>

void tt_sgd_step(float *p, const float *g, float *mom, const uint8_t *decay,
                 int64_t n, float lr, float momentum, float wd, bool nesterov) {
  /* PyTorch's formulation: d = g + wd·p; v = μ·v + d; p -= lr·v (or d+μ·v) */
  for (int64_t i = 0; i < n; i++) {
    float d = g[i];
    if (!decay || decay[i])
      d += wd * p[i];
    float v = momentum * mom[i] + d;
    mom[i] = v;
    p[i] -= lr * (nesterov ? d + momentum * v : v);
  }
}

void tt_adamw_step(float *p, const float *g, float *m, float *v,
                   const uint8_t *decay, int64_t n, float lr, float b1,
                   float b2, float eps, float wd, int64_t t) {
  float bc1 = 1.0f - powf(b1, (float)t), bc2 = 1.0f - powf(b2, (float)t);
  for (int64_t i = 0; i < n; i++) {
    if (!decay || decay[i])
      p[i] -= lr * wd * p[i];
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    float mh = m[i] / bc1, vh = v[i] / bc2;
    p[i] -= lr * mh / (sqrtf(vh) + eps);
  }
}

float tt_schedule_lr(const tt_schedule *s, int64_t step) {
  if (s->warmup > 0 && step < s->warmup)
    return s->base_lr * (float)(step + 1) / (float)s->warmup;
  switch (s->kind) {
  case TT_SCHED_COSINE: {
    int64_t span = s->total - s->warmup;
    if (span <= 0)
      return s->base_lr;
    double f = (double)(step - s->warmup) / (double)span;
    if (f > 1)
      f = 1;
    return (float)(s->min_lr +
                   0.5 * (s->base_lr - s->min_lr) * (1 + cos(M_PI * f)));
  }
  case TT_SCHED_STEP: {
    if (s->step_size <= 0)
      return s->base_lr;
    int64_t k = (step - s->warmup) / s->step_size;
    return s->base_lr * powf(s->gamma, (float)k);
  }
  default:
    return s->base_lr;
  }
}
