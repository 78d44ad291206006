/* norm.cl — batchnorm, layernorm, rmsnorm and softmax in the reference's
 * order of operations (docs/OPS.md); rows are handled one per work-item. */

/* x [N][C][inner]; p = gamma, beta, mean, var (each [C]) */
kernel void batchnorm(global const float *x, uint x_off,
                      global const float *gamma, uint g_off,
                      global const float *beta, uint b_off,
                      global const float *mean, uint m_off,
                      global const float *var, uint v_off, global float *y,
                      uint y_off, uint total, uint C, uint inner, float eps) {
  uint i = get_global_id(0);
  if (i >= total)
    return;
  uint c = (i / inner) % C;
  float k = gamma[g_off + c] / sqrt(var[v_off + c] + eps);
  float t = x[x_off + i] - mean[m_off + c];
  t = t * k;
  y[y_off + i] = t + beta[b_off + c];
}

kernel void layernorm(global const float *x, uint x_off,
                      global const float *gamma, uint g_off,
                      global const float *beta, uint b_off, global float *y,
                      uint y_off, uint rows, uint D, float eps) {
  uint r = get_global_id(0);
  if (r >= rows)
    return;
  global const float *xr = x + x_off + (size_t)r * D;
  global float *yr = y + y_off + (size_t)r * D;
  float sum = 0.0f;
  for (uint i = 0; i < D; i++)
    sum += xr[i];
  float mean = sum / (float)D;
  float sq = 0.0f;
  for (uint i = 0; i < D; i++) {
    float d = xr[i] - mean;
    sq += d * d;
  }
  float var = sq / (float)D;
  float rs = 1.0f / sqrt(var + eps);
  for (uint i = 0; i < D; i++) {
    float t = (xr[i] - mean) * rs;
    t = t * gamma[g_off + i];
    yr[i] = t + beta[b_off + i];
  }
}

kernel void rmsnorm(global const float *x, uint x_off,
                    global const float *gamma, uint g_off, global float *y,
                    uint y_off, uint rows, uint D, float eps) {
  uint r = get_global_id(0);
  if (r >= rows)
    return;
  global const float *xr = x + x_off + (size_t)r * D;
  global float *yr = y + y_off + (size_t)r * D;
  float sq = 0.0f;
  for (uint i = 0; i < D; i++)
    sq += xr[i] * xr[i];
  float rs = 1.0f / sqrt(sq / (float)D + eps);
  for (uint i = 0; i < D; i++)
    yr[i] = (xr[i] * rs) * gamma[g_off + i];
}

kernel void softmax(global const float *x, uint x_off, global float *y,
                    uint y_off, uint rows, uint D) {
  uint r = get_global_id(0);
  if (r >= rows)
    return;
  global const float *xr = x + x_off + (size_t)r * D;
  global float *yr = y + y_off + (size_t)r * D;
  float m = xr[0];
  for (uint i = 1; i < D; i++)
    if (xr[i] > m || xr[i] != xr[i])
      m = xr[i];
  float sum = 0.0f;
  for (uint i = 0; i < D; i++) {
    float e = exp(xr[i] - m);
    yr[i] = e;
    sum += e;
  }
  for (uint i = 0; i < D; i++)
    yr[i] = yr[i] / sum;
}
