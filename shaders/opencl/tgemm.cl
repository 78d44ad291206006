/* tgemm.cl — ternary linear layers with M >= 4 rows on CPU-like devices:
 * the weight codes c = q+1 in {0,1,2} are unsigned bytes, the activation
 * codes signed bytes, and one u8 x s8 multiply-add of byte pairs
 * (pmaddubsw on AVX2, portable code elsewhere) covers 16 outputs x 2 k.
 * sum_k a_k*q_k = sum_k a_k*c_k - sum_k a_k (asum from quant.cl), exact.
 * A: char [M][Kp] (Kp even, zero padded), xs [M], asum [M].
 * B: uchar panels [Np/32][Kp/2][32][2]: for k-pair kk, 64 bytes, the pair
 *    (c[2kk], c[2kk+1]) of column n0+j at bytes 2j, 2j+1 (Np = N rounded up
 *    to 32; padding codes 0). ws, bias [Np] zero padded; y f32 [M][N], or
 *    with -DOUT_CM (conv) y[(m / P) * YS + n * P + m % P] and row scale
 *    xs[xs_off + m / P].
 * A pair sum is at most 2*2*127 = 508: 64 pairs fit 16 bits (64*508 <
 * 2^15), then the partial sums are widened to int32.
 * Tunables: BM rows per work-item (multiple of 4). */
#ifndef BM
#define BM 64
#endif

/* 16 lanes of u[2j]*s[2j] + u[2j+1]*s[2j+1]: u unsigned, s signed bytes,
 * both packed in short16 containers (byte 2j = low byte of lane j). */
#if defined(__AVX2__) && !defined(TERN_PORTABLE)
typedef char tern_c32 __attribute__((ext_vector_type(32)));
inline short16 tern_maddubs(short16 u, short16 s) {
  return __builtin_ia32_pmaddubsw256(__builtin_astype(u, tern_c32),
                                     __builtin_astype(s, tern_c32));
}
#else
inline short16 tern_maddubs(short16 u, short16 s) {
  short16 ulo = u & (short16)(0xff), uhi = (u >> (short16)(8)) & (short16)(0xff);
  short16 slo = (s << (short16)(8)) >> (short16)(8), shi = s >> (short16)(8);
  return ulo * slo + uhi * shi;
}
#endif

inline void tern_store8t(global float *y, uint n, uint N, float8 v) {
  if (n + 8 <= N) {
    vstore8(v, 0, y + n);
  } else {
    float t[8];
    vstore8(v, 0, t);
    for (uint i = 0; n + i < N; i++)
      y[n + i] = t[i];
  }
}

inline void tern_widen2(int8 *c, short16 s) {
  c[0] += convert_int8(s.lo);
  c[1] += convert_int8(s.hi);
}

kernel void tgemm(global const char *A, global const int *asum,
                  global const uchar *B, global const float *xs,
                  global const float *ws, global const float *bias,
                  global float *y, uint y_off, uint M, uint N, uint Kp,
                  uint xs_off, uint P, uint YS) {
  uint n0 = get_global_id(0) * 32, mb = get_global_id(1) * BM;
  if (n0 >= N || mb >= M)
    return;
  uint kh = Kp / 2;
  global const short *bp = (global const short *)(B + (size_t)n0 * Kp);
  for (uint m0 = mb; m0 < mb + BM && m0 < M; m0 += 4) {
    global const short *a0 = (global const short *)(A + (size_t)m0 * Kp);
    global const short *a1 =
        (global const short *)(A + (size_t)min(m0 + 1, M - 1) * Kp);
    global const short *a2 =
        (global const short *)(A + (size_t)min(m0 + 2, M - 1) * Kp);
    global const short *a3 =
        (global const short *)(A + (size_t)min(m0 + 3, M - 1) * Kp);
    int8 c[4][4];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++)
        c[i][j] = (int8)(0);
    for (uint kb = 0; kb < kh; kb += 64) {
      uint ke = min(kb + 64, kh);
      short16 s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0,
              s31 = 0;
      for (uint k = kb; k < ke; k++) {
        global const short *bk = bp + (size_t)k * 32;
        short16 b0 = vload16(0, bk), b1 = vload16(1, bk);
        short16 a = (short16)(a0[k]);
        s00 += tern_maddubs(b0, a);
        s01 += tern_maddubs(b1, a);
        a = (short16)(a1[k]);
        s10 += tern_maddubs(b0, a);
        s11 += tern_maddubs(b1, a);
        a = (short16)(a2[k]);
        s20 += tern_maddubs(b0, a);
        s21 += tern_maddubs(b1, a);
        a = (short16)(a3[k]);
        s30 += tern_maddubs(b0, a);
        s31 += tern_maddubs(b1, a);
      }
      tern_widen2(&c[0][0], s00);
      tern_widen2(&c[0][2], s01);
      tern_widen2(&c[1][0], s10);
      tern_widen2(&c[1][2], s11);
      tern_widen2(&c[2][0], s20);
      tern_widen2(&c[2][2], s21);
      tern_widen2(&c[3][0], s30);
      tern_widen2(&c[3][2], s31);
    }
    for (uint i = 0; i < 4 && m0 + i < M; i++) {
      uint m = m0 + i;
      int8 sa = (int8)(asum[m]);
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
        float8 t = convert_float8(c[i][j] - sa) * vload8(0, ws + n);
        t = t * x;
        t = tern_act8(t + vload8(0, bias + n));
#ifdef OUT_CM
        float tt[8];
        vstore8(t, 0, tt);
        for (uint l = 0; l < 8 && n + l < N; l++)
          yr[(size_t)(n + l) * P] = tt[l];
#else
        tern_store8t(yr, n, N, t);
#endif
      }
    }
  }
}
