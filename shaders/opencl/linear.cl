/* linear.cl — the float paths of linear layers: one plain kernel without
 * CLBlast, and the bias + activation epilogue after a CLBlast GEMM. The
 * quantized paths live in quant.cl, qgemm.cl and tgemv.cl. */

/* f32 without CLBlast: the reference's order (k ascending, then bias). */
kernel void linear_f32(global const float *x, uint x_off,
                       global const float *W, global const float *bias,
                       uint has_bias, global float *y, uint y_off, uint M,
                       uint N, uint K) {
  uint n = get_global_id(0), m = get_global_id(1);
  if (n >= N || m >= M)
    return;
  global const float *xr = x + x_off + (size_t)m * K;
  global const float *wr = W + (size_t)n * K;
  float acc = 0.0f;
  for (uint k = 0; k < K; k++)
    acc += xr[k] * wr[k];
  if (has_bias)
    acc += bias[n];
  y[y_off + (size_t)m * N + n] = tern_act(acc);
}

/* After a CLBlast GEMM: y = act(y + bias) in place; y [M][N]. */
kernel void bias_act(global float *y, uint y_off, global const float *bias,
                     uint has_bias, uint M, uint N) {
  uint i = get_global_id(0);
  if (i >= M * N)
    return;
  float v = y[y_off + i];
  if (has_bias)
    v += bias[i % N];
  y[y_off + i] = tern_act(v);
}

/* f32 GEMM for CPU-like devices: one work-item = BM rows x 16 columns with
 * 8-lane float vectors; each output sums k ascending from 0.0f, one
 * multiply then one add per step (no contraction), then the bias, so it is
 * the reference's arithmetic exactly. B: panels [Np/16][K][16] (Np = N
 * rounded up to 16, zero padded); bias [Np] (zeros when absent).
 * y [M][N], or with -DOUT_CM (conv: m = sample*P + pixel) channel-major
 * y[(m / P) * YS + n * P + m % P]. */
#ifndef BM
#define BM 32
#endif
kernel void sgemm_p(global const float *x, uint x_off, global const float *B,
                    global const float *bias, uint has_bias, global float *y,
                    uint y_off, uint M, uint N, uint K, uint P, uint YS) {
  uint n0 = get_global_id(0) * 16, mb = get_global_id(1) * BM;
  if (n0 >= N || mb >= M)
    return;
  global const float *bp = B + (size_t)n0 * K;
  float8 b0v = vload8(0, bias + n0), b1v = vload8(1, bias + n0);
  for (uint m0 = mb; m0 < mb + BM && m0 < M; m0 += 4) {
    global const float *a0 = x + x_off + (size_t)m0 * K;
    global const float *a1 = x + x_off + (size_t)min(m0 + 1, M - 1) * K;
    global const float *a2 = x + x_off + (size_t)min(m0 + 2, M - 1) * K;
    global const float *a3 = x + x_off + (size_t)min(m0 + 3, M - 1) * K;
    float8 c00 = 0.0f, c01 = 0.0f, c10 = 0.0f, c11 = 0.0f, c20 = 0.0f,
           c21 = 0.0f, c30 = 0.0f, c31 = 0.0f;
    for (uint k = 0; k < K; k++) {
      float8 w0 = vload8(0, bp + (size_t)k * 16);
      float8 w1 = vload8(1, bp + (size_t)k * 16);
      float8 a = (float8)(a0[k]);
      c00 = c00 + a * w0;
      c01 = c01 + a * w1;
      a = (float8)(a1[k]);
      c10 = c10 + a * w0;
      c11 = c11 + a * w1;
      a = (float8)(a2[k]);
      c20 = c20 + a * w0;
      c21 = c21 + a * w1;
      a = (float8)(a3[k]);
      c30 = c30 + a * w0;
      c31 = c31 + a * w1;
    }
    float8 cs[8] = {c00, c01, c10, c11, c20, c21, c30, c31};
    for (uint i = 0; i < 4 && m0 + i < M; i++) {
      uint m = m0 + i;
      float t[16];
      float8 v0 = cs[2 * i], v1 = cs[2 * i + 1];
      if (has_bias) {
        v0 = v0 + b0v;
        v1 = v1 + b1v;
      }
      vstore8(tern_act8(v0), 0, t);
      vstore8(tern_act8(v1), 1, t);
#ifdef OUT_CM
      global float *yr = y + y_off + (size_t)(m / P) * YS + m % P;
      for (uint j = 0; j < 16 && n0 + j < N; j++)
        yr[(size_t)(n0 + j) * P] = t[j];
#else
      global float *yr = y + y_off + (size_t)m * N;
      for (uint j = 0; j < 16 && n0 + j < N; j++)
        yr[n0 + j] = t[j];
#endif
    }
  }
}
