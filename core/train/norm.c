/* norm.c — batch normalisation for the training core: training mode with
 * batch statistics and running averages, eval mode with the running ones. */
#include "train/layers.h"

#include <math.h>

typedef struct bn_ctx {
  float *out, *dinp, *dgamma, *dbeta, *run_mean, *run_var, *save_mean,
      *save_invstd;
  const float *inp, *gamma, *beta, *dout;
  const float *cmean, *cinvstd;
  int64_t B, C, S;
  float momentum, eps;
  bool training;
} bn_ctx;

static void fwd_channels(void *vctx, int64_t c0, int64_t c1) {
  const bn_ctx *k = vctx;
  int64_t B = k->B, C = k->C, S = k->S, n = B * S;
  for (int64_t c = c0; c < c1; c++) {
    float mean, invstd;
    if (k->training) {
      double sum = 0, sq = 0;
      for (int64_t b = 0; b < B; b++)
        for (int64_t s = 0; s < S; s++)
          sum += k->inp[(b * C + c) * S + s];
      double m = sum / (double)n;
      for (int64_t b = 0; b < B; b++)
        for (int64_t s = 0; s < S; s++) {
          double d = k->inp[(b * C + c) * S + s] - m;
          sq += d * d;
        }
      double var = sq / (double)n;
      mean = (float)m;
      invstd = (float)(1.0 / sqrt(var + k->eps));
      k->save_mean[c] = mean;
      k->save_invstd[c] = invstd;
      double unbiased = n > 1 ? sq / (double)(n - 1) : var;
      k->run_mean[c] = (1 - k->momentum) * k->run_mean[c] + k->momentum * mean;
      k->run_var[c] =
          (1 - k->momentum) * k->run_var[c] + k->momentum * (float)unbiased;
    } else {
      mean = k->run_mean[c];
      invstd = (float)(1.0 / sqrt((double)k->run_var[c] + k->eps));
    }
    float g = k->gamma ? k->gamma[c] : 1.0f, be = k->beta ? k->beta[c] : 0.0f;
    for (int64_t b = 0; b < B; b++)
      for (int64_t s = 0; s < S; s++) {
        int64_t i = (b * C + c) * S + s;
        k->out[i] = (k->inp[i] - mean) * invstd * g + be;
      }
  }
}

void tt_batchnorm_forward(tt_pool *pool, float *out, const float *inp,
                          const float *gamma, const float *beta,
                          float *run_mean, float *run_var, float *save_mean,
                          float *save_invstd, int64_t B, int64_t C, int64_t S,
                          float momentum, float eps, bool training) {
  bn_ctx k = {.out = out,
              .run_mean = run_mean,
              .run_var = run_var,
              .save_mean = save_mean,
              .save_invstd = save_invstd,
              .inp = inp,
              .gamma = gamma,
              .beta = beta,
              .B = B,
              .C = C,
              .S = S,
              .momentum = momentum,
              .eps = eps,
              .training = training};
  tt_parallel_for(pool, C, fwd_channels, &k);
}

static void bwd_channels(void *vctx, int64_t c0, int64_t c1) {
  const bn_ctx *k = vctx;
  int64_t B = k->B, C = k->C, S = k->S;
  float n = (float)(B * S);
  for (int64_t c = c0; c < c1; c++) {
    float mean = k->cmean[c], invstd = k->cinvstd[c];
    float g = k->gamma ? k->gamma[c] : 1.0f;
    double sdy = 0, sdyx = 0;
    for (int64_t b = 0; b < B; b++)
      for (int64_t s = 0; s < S; s++) {
        int64_t i = (b * C + c) * S + s;
        float xhat = (k->inp[i] - mean) * invstd;
        sdy += k->dout[i];
        sdyx += (double)k->dout[i] * xhat;
      }
    if (k->dbeta)
      k->dbeta[c] += (float)sdy;
    if (k->dgamma)
      k->dgamma[c] += (float)sdyx;
    if (!k->dinp)
      continue;
    float a = g * invstd / n, fs = (float)sdy, fx = (float)sdyx;
    for (int64_t b = 0; b < B; b++)
      for (int64_t s = 0; s < S; s++) {
        int64_t i = (b * C + c) * S + s;
        float xhat = (k->inp[i] - mean) * invstd;
        k->dinp[i] += a * (n * k->dout[i] - fs - xhat * fx);
      }
  }
}

void tt_batchnorm_backward(tt_pool *pool, float *dinp, float *dgamma,
                           float *dbeta, const float *dout, const float *inp,
                           const float *gamma, const float *save_mean,
                           const float *save_invstd, int64_t B, int64_t C,
                           int64_t S) {
  bn_ctx k = {.dinp = dinp,
              .dgamma = dgamma,
              .dbeta = dbeta,
              .dout = dout,
              .inp = inp,
              .gamma = gamma,
              .cmean = save_mean,
              .cinvstd = save_invstd,
              .B = B,
              .C = C,
              .S = S};
  tt_parallel_for(pool, C, bwd_channels, &k);
}
