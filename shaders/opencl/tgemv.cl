/* tgemv.cl — ternary linear layers with few rows (M < 4: GEMV), reading the
 * weights in 2 bits: one work-item = 16 output columns.
 * A: activation codes as short [M][Kp] (Kp a multiple of 8), xs [M], and
 *    asum [M] = sum of the row's codes.
 * W: codes c = q+1 in {0,1,2} as panels [Np/16][Kp/8][16] of ushort: lane j
 *    of a ushort16 holds the codes of column n0+j for k..k+7, 2 bits each
 *    (k+i in bits 2i..2i+1); padding columns and k beyond K hold code 0.
 * sum_k a_k*q_k = sum_k a_k*c_k - sum_k a_k, exact in integers; the short
 * partial sums run over 128 steps (|a*c| <= 254, 128*254 < 2^15).
 * ws, bias [Np] zero padded; y f32 [M][N] at y + y_off.
 * qgemv8 below is the same for int8 weights. */

kernel void tgemv(global const short *A, global const int *asum,
                  global const ushort *W, global const float *xs,
                  global const float *ws, global const float *bias,
                  global float *y, uint y_off, uint M, uint N, uint Kp) {
  uint n0 = get_global_id(0) * 16;
  if (n0 >= N)
    return;
  global const ushort *wp = W + (size_t)n0 * (Kp / 8);
  for (uint m = 0; m < M; m++) {
    global const short *a = A + (size_t)m * Kp;
    int8 c0 = (int8)(0), c1 = (int8)(0);
    for (uint kb = 0; kb < Kp; kb += 128) {
      uint ke = min(kb + 128, Kp);
      short16 s = (short16)(0);
      for (uint k = kb; k < ke; k += 8) {
        short16 w = as_short16(vload16(0, wp + (size_t)(k / 8) * 16));
        s += (short16)(a[k]) * (w & (short16)(3));
        s += (short16)(a[k + 1]) * ((w >> (short16)(2)) & (short16)(3));
        s += (short16)(a[k + 2]) * ((w >> (short16)(4)) & (short16)(3));
        s += (short16)(a[k + 3]) * ((w >> (short16)(6)) & (short16)(3));
        s += (short16)(a[k + 4]) * ((w >> (short16)(8)) & (short16)(3));
        s += (short16)(a[k + 5]) * ((w >> (short16)(10)) & (short16)(3));
        s += (short16)(a[k + 6]) * ((w >> (short16)(12)) & (short16)(3));
        s += (short16)(a[k + 7]) * ((w >> (short16)(14)) & (short16)(3));
      }
      c0 += convert_int8(s.lo);
      c1 += convert_int8(s.hi);
    }
    int sa = asum[m];
    c0 -= (int8)(sa);
    c1 -= (int8)(sa);
    float x = xs[m];
    global float *yr = y + y_off + (size_t)m * N;
    float8 t0 = convert_float8(c0) * vload8(0, ws + n0);
    float8 t1 = convert_float8(c1) * vload8(1, ws + n0);
    t0 = t0 * x;
    t1 = t1 * x;
    t0 = tern_act8(t0 + vload8(0, bias + n0));
    t1 = tern_act8(t1 + vload8(1, bias + n0));
    float t[16];
    vstore8(t0, 0, t);
    vstore8(t1, 1, t);
    for (uint j = 0; j < 16 && n0 + j < N; j++)
      yr[n0 + j] = t[j];
  }
}

/* int8 weights with few rows: codes char panels [Np/16][Kp][16] (Kp = K
 * rounded up to 2, zero padded), 16 output columns per work-item; pairs of
 * 16-bit products (|a*w| <= 16129, a pair < 2^15) are summed in 16 bits and
 * widened. A: short [M][Kp]. */
kernel void qgemv8(global const short *A, global const char *W,
                   global const float *xs, global const float *ws,
                   global const float *bias, global float *y, uint y_off,
                   uint M, uint N, uint Kp) {
  uint n0 = get_global_id(0) * 16;
  if (n0 >= N)
    return;
  global const char *wp = W + (size_t)n0 * Kp;
  for (uint m = 0; m < M; m++) {
    global const short *a = A + (size_t)m * Kp;
    int8 c0 = (int8)(0), c1 = (int8)(0);
    for (uint k = 0; k < Kp; k += 2) {
      short16 w0 = convert_short16(vload16(0, wp + (size_t)k * 16));
      short16 w1 = convert_short16(vload16(1, wp + (size_t)k * 16));
      short16 s = (short16)(a[k]) * w0 + (short16)(a[k + 1]) * w1;
      c0 += convert_int8(s.lo);
      c1 += convert_int8(s.hi);
    }
    float x = xs[m];
    global float *yr = y + y_off + (size_t)m * N;
    float8 t0 = convert_float8(c0) * vload8(0, ws + n0);
    float8 t1 = convert_float8(c1) * vload8(1, ws + n0);
    t0 = t0 * x;
    t1 = t1 * x;
    t0 = tern_act8(t0 + vload8(0, bias + n0));
    t1 = tern_act8(t1 + vload8(1, bias + n0));
    float t[16];
    vstore8(t0, 0, t);
    vstore8(t1, 1, t);
    for (uint j = 0; j < 16 && n0 + j < N; j++)
      yr[n0 + j] = t[j];
  }
}
