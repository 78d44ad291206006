/* linear.cl — y = x · Wᵀ + b for linear layers (and conv2d through im2col).
 * Quantized: A = activation codes char [M][Kp] with row scales xs [M];
 * B = weight codes char [N][Kp] (ternary expanded to -1/0/1 at load), both
 * zero padded to Kp (multiple of 16); ws [N]; bias [N] (zeros if absent).
 * Output y f32 [M][N] at y + y_off, or, with OUT_CM, channel-major
 * y[(m / P) * YS + n * P + m % P] (conv: m = sample*P + pixel, YS = the
 * sample stride). Rows of B, ws and bias start at nb (conv groups).
 * Tunables: TM x TN outputs per work-item. */
#ifndef TM
#define TM 2
#endif
#ifndef TN
#define TN 4
#endif

inline int8 tern_mad16(char16 a, char16 b, int8 acc) {
  short16 p = convert_short16(a) * convert_short16(b);
  return acc + convert_int8(p.even) + convert_int8(p.odd);
}

inline uint tern_out_index(uint m, uint n, uint N, uint P, uint YS) {
#ifdef OUT_CM
  return (m / P) * YS + n * P + m % P;
#else
  return m * N + n;
#endif
}

kernel void qgemm(global const char *A, global const char *B,
                  global const float *xs, global const float *ws,
                  global const float *bias, global float *y, uint y_off,
                  uint M, uint N, uint Kp, uint P, uint YS, uint nb) {
  uint n0 = get_global_id(0) * TN, m0 = get_global_id(1) * TM;
  if (n0 >= N || m0 >= M)
    return;
  int8 acc[TM][TN];
  for (int i = 0; i < TM; i++)
    for (int j = 0; j < TN; j++)
      acc[i][j] = (int8)(0);
  global const char *ar[TM];
  global const char *br[TN];
  for (int i = 0; i < TM; i++)
    ar[i] = A + (size_t)min(m0 + i, M - 1) * Kp;
  for (int j = 0; j < TN; j++)
    br[j] = B + (size_t)(nb + min(n0 + j, N - 1)) * Kp;
  for (uint k = 0; k < Kp; k += 16) {
    char16 a[TM], b[TN];
    for (int i = 0; i < TM; i++)
      a[i] = vload16(0, ar[i] + k);
    for (int j = 0; j < TN; j++)
      b[j] = vload16(0, br[j] + k);
    for (int i = 0; i < TM; i++)
      for (int j = 0; j < TN; j++)
        acc[i][j] = tern_mad16(a[i], b[j], acc[i][j]);
  }
  for (int i = 0; i < TM; i++) {
    uint m = m0 + i;
    if (m >= M)
      break;
    for (int j = 0; j < TN; j++) {
      uint n = n0 + j;
      if (n >= N)
        break;
      int8 v = acc[i][j];
      int4 h = v.lo + v.hi;
      int s = h.s0 + h.s1 + h.s2 + h.s3;
      #ifdef OUT_CM
      float t = tern_epilogue(s, ws[nb + n], xs[m / P], bias[nb + n]);
#else
      float t = tern_epilogue(s, ws[nb + n], xs[m], bias[nb + n]);
#endif
      y[y_off + tern_out_index(m, n, N, P, YS)] = tern_act(t);
    }
  }
}

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
