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
