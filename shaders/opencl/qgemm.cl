/* qgemm.cl — the fast int8 GEMM of quantized linear layers, written for
 * CPU-like devices (PoCL): one work-item = BM rows x 32 columns with
 * explicit 16-lane short vectors, so each multiply-add is two instructions
 * (pmullw, paddw) over 16 outputs.
 * A: activation codes as short [M][Kp], row scales xs [M].
 * B: weight codes as short panels [Np/32][Kp][32] (Np = N rounded up to
 *    32, zero padded), so a work-item streams one contiguous panel.
 * ws [Np], bias [Np] (zero padded). y f32 [M][N] at y + y_off; with
 * -DOUT_CM (conv: m = sample*P + pixel) channel-major instead,
 * y[(m / P) * YS + n * P + m % P], and the row scale is xs[xs_off + m / P].
 * Products are exact in 16 bits (|a| <= 127, |b| <= 127); short partial
 * sums run over KB steps (ternary: 256, as 256*127 < 2^15; int8: 2) and are
 * then widened into int32, so the sum is exactly the reference's.
 * Tunables: BM rows per work-item (multiple of 4), KB. */
#ifndef BM
#define BM 64
#endif
#ifndef KB
#define KB 2
#endif

inline void tern_store8(global float *y, uint n, uint N, float8 v) {
  if (n + 8 <= N) {
    vstore8(v, 0, y + n);
  } else {
    float t[8];
    vstore8(v, 0, t);
    for (uint i = 0; n + i < N; i++)
      y[n + i] = t[i];
  }
}

inline void tern_widen(int8 *c, short16 s) {
  c[0] += convert_int8(s.lo);
  c[1] += convert_int8(s.hi);
}

kernel void qgemm_p(global const short *A, global const short *B,
                    global const float *xs, global const float *ws,
                    global const float *bias, global float *y, uint y_off,
                    uint M, uint N, uint Kp, uint Np, uint xs_off, uint P,
                    uint YS) {
  uint n0 = get_global_id(0) * 32, mb = get_global_id(1) * BM;
  if (n0 >= N || mb >= M)
    return;
  global const short *bp = B + (size_t)n0 * Kp;
  for (uint m0 = mb; m0 < mb + BM && m0 < M; m0 += 4) {
    global const short *a0 = A + (size_t)m0 * Kp;
    global const short *a1 = A + (size_t)min(m0 + 1, M - 1) * Kp;
    global const short *a2 = A + (size_t)min(m0 + 2, M - 1) * Kp;
    global const short *a3 = A + (size_t)min(m0 + 3, M - 1) * Kp;
    int8 c[4][4];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++)
        c[i][j] = (int8)(0);
    for (uint kb = 0; kb < Kp; kb += KB) {
      uint ke = min(kb + KB, Kp);
      short16 s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0,
              s31 = 0;
      for (uint k = kb; k < ke; k++) {
        global const short *bk = bp + (size_t)k * 32;
        short16 b0 = vload16(0, bk), b1 = vload16(1, bk);
        short16 a = (short16)(a0[k]);
        s00 += a * b0;
        s01 += a * b1;
        a = (short16)(a1[k]);
        s10 += a * b0;
        s11 += a * b1;
        a = (short16)(a2[k]);
        s20 += a * b0;
        s21 += a * b1;
        a = (short16)(a3[k]);
        s30 += a * b0;
        s31 += a * b1;
      }
      tern_widen(&c[0][0], s00);
      tern_widen(&c[0][2], s01);
      tern_widen(&c[1][0], s10);
      tern_widen(&c[1][2], s11);
      tern_widen(&c[2][0], s20);
      tern_widen(&c[2][2], s21);
      tern_widen(&c[3][0], s30);
      tern_widen(&c[3][2], s31);
    }
    for (uint i = 0; i < 4 && m0 + i < M; i++) {
      uint m = m0 + i;
#ifdef OUT_CM
      float x = xs[xs_off + m / P];
      global float *yr = y + y_off + (size_t)(m / P) * YS + m % P;
#else
      float x = xs[xs_off + m];
      global float *yr = y + y_off + (size_t)m * N;
#endif
      for (uint j = 0; j < 4; j++) {
        uint n = n0 + 8 * j;
        if (n >= N)
          break;
        /* ((float)acc * ws) * xs + bias, each step rounded on its own */
        float8 t = convert_float8(c[i][j]) * vload8(0, ws + n);
        t = t * x;
        t = tern_act8(t + vload8(0, bias + n));
#ifdef OUT_CM
        float tt[8];
        vstore8(t, 0, tt);
        for (uint l = 0; l < 8 && n + l < N; l++)
          yr[(size_t)(n + l) * P] = tt[l];
#else
        tern_store8(yr, n, N, t);
#endif
      }
    }
  }
}

/* GPU-shaped variant: one output per work-item, weight codes char [N][Kp]
 * and activation codes char [M][Kp] (Kp a multiple of 4, zero padded),
 * 4 codes per step through tern_dot4; same epilogue and layouts (OUT_CM)
 * as qgemm_p. */
kernel void qgemm_c4(global const char *A, global const char *B,
                     global const float *xs, global const float *ws,
                     global const float *bias, global float *y, uint y_off,
                     uint M, uint N, uint Kp, uint xs_off, uint P, uint YS) {
  uint n = get_global_id(0), m = get_global_id(1);
  if (n >= N || m >= M)
    return;
  global const char *a = A + (size_t)m * Kp, *b = B + (size_t)n * Kp;
  int acc = 0;
  for (uint k = 0; k < Kp; k += 4)
    acc += tern_dot4(vload4(0, a + k), vload4(0, b + k));
#ifdef OUT_CM
  float t = tern_epilogue(acc, ws[n], xs[xs_off + m / P], bias[n]);
  y[y_off + (size_t)(m / P) * YS + (size_t)n * P + m % P] = tern_act(t);
#else
  float t = tern_epilogue(acc, ws[n], xs[xs_off + m], bias[n]);
  y[y_off + (size_t)m * N + n] = tern_act(t);
#endif
}

/* int8 weights, M >= 4 rows, CPU-like devices: pairs of k through one
 * 16-bit multiply-add into 32 bits (pmaddwd via the AVX2 builtin; portable
 * code elsewhere or with -DTERN_PORTABLE), 2 rows x 32 columns per step.
 * A: short [M][Kp] (Kp even, zero padded); B: short panels
 * [Np/32][Kp/2][32][2] (pair (w[2kk], w[2kk+1]) of column n0+j at 2j).
 * Epilogue as qgemm_p (row-major y). */
#if defined(__AVX2__) && !defined(TERN_PORTABLE)
inline int8 tern_maddwd(short16 a, short16 b) {
  return as_int8(__builtin_ia32_pmaddwd256(a, b));
}
#else
inline int8 tern_maddwd(short16 a, short16 b) {
  return convert_int8(a.even) * convert_int8(b.even) +
         convert_int8(a.odd) * convert_int8(b.odd);
}
#endif

kernel void q8gemm(global const short *A, global const short *B,
                   global const float *xs, global const float *ws,
                   global const float *bias, global float *y, uint y_off,
                   uint M, uint N, uint Kp) {
  uint n0 = get_global_id(0) * 32, mb = get_global_id(1) * BM;
  if (n0 >= N || mb >= M)
    return;
  uint kh = Kp / 2;
  global const short *bp = B + (size_t)n0 * Kp;
  for (uint m0 = mb; m0 < mb + BM && m0 < M; m0 += 2) {
    global const int *a0 = (global const int *)(A + (size_t)m0 * Kp);
    global const int *a1 =
        (global const int *)(A + (size_t)min(m0 + 1, M - 1) * Kp);
    int8 c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0,
         c13 = 0;
    for (uint k = 0; k < kh; k++) {
      global const short *bk = bp + (size_t)k * 64;
      short16 b0 = vload16(0, bk), b1 = vload16(1, bk);
      short16 b2 = vload16(2, bk), b3 = vload16(3, bk);
      short16 a = as_short16((int8)(a0[k]));
      c00 += tern_maddwd(a, b0);
      c01 += tern_maddwd(a, b1);
      c02 += tern_maddwd(a, b2);
      c03 += tern_maddwd(a, b3);
      a = as_short16((int8)(a1[k]));
      c10 += tern_maddwd(a, b0);
      c11 += tern_maddwd(a, b1);
      c12 += tern_maddwd(a, b2);
      c13 += tern_maddwd(a, b3);
    }
    int8 cs[2][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}};
    for (uint i = 0; i < 2 && m0 + i < M; i++) {
      uint m = m0 + i;
      float x = xs[m];
      global float *yr = y + y_off + (size_t)m * N;
      for (uint j = 0; j < 4; j++) {
        uint n = n0 + 8 * j;
        if (n >= N)
          break;
        float8 t = convert_float8(cs[i][j]) * vload8(0, ws + n);
        t = t * x;
        t = tern_act8(t + vload8(0, bias + n));
        tern_store8(yr, n, N, t);
      }
    }
  }
}
