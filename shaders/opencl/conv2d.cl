/* conv2d.cl — 2-D convolution, NCHW: x [N][C][H][W], weights
 * [OC][C/G][KH][KW] (rows of Kc = C/G*KH*KW), y [N][OC][OH][OW].
 * Quantized: each sample is one activation block (quant.cl with K = C*H*W,
 * rows of Kpx codes); groups == 1 goes through im2col_q (codes as CTYPE =
 * short) + qgemm_p (qgemm.cl, -DOUT_CM), other groups through
 * conv_q_direct (char codes).
 * f32: im2col_f32 + one CLBlast SGEMM per chunk of samples + cm_bias_act,
 * or conv_f32_direct in the reference's order (ic, kh, kw ascending, then
 * bias). */

typedef struct {
  uint C, H, W, OC, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw, G;
} tern_conv_shape;

#ifndef CTYPE
#define CTYPE char
#endif

/* col[m][kk] (rows of Kpc codes) for group g; m = (n - n0)*P + p, Mc rows.
 * Tunable KT: taps per work-item (consecutive kk of one row: the divisions
 * that locate a tap are done once, then (ic, kh, kw) are stepped). */
#ifndef KT
#define KT 1
#endif
kernel void im2col_q(global const CTYPE *q, uint Kpx, global CTYPE *col,
                     uint Kpc, uint Kc, uint g, uint n0, uint Mc,
                     tern_conv_shape s) {
  uint kk = get_global_id(0) * KT, m = get_global_id(1);
  uint P = s.OH * s.OW;
  if (kk >= Kpc || m >= Mc)
    return;
  uint khw = s.KH * s.KW;
  uint ic = g * (s.C / s.G) + kk / khw, r = kk % khw;
  uint kh = r / s.KW, kw = r % s.KW;
  uint n = n0 + m / P, p = m % P, oh = p / s.OW, ow = p % s.OW;
  int ih0 = (int)(oh * s.sh) - (int)s.ph, iw0 = (int)(ow * s.sw) - (int)s.pw;
  global const CTYPE *qn = q + (size_t)n * Kpx;
  global CTYPE *out = col + (size_t)m * Kpc;
  uint end = min(kk + KT, Kpc);
  for (; kk < end; kk++) {
    CTYPE v = 0;
    int ih = ih0 + (int)(kh * s.dh), iw = iw0 + (int)(kw * s.dw);
    if (kk < Kc && ih >= 0 && ih < (int)s.H && iw >= 0 && iw < (int)s.W)
      v = qn[((size_t)ic * s.H + ih) * s.W + iw];
    out[kk] = v;
    if (++kw == s.KW) {
      kw = 0;
      if (++kh == s.KH) {
        kh = 0;
        ic++;
      }
    }
  }
}

/* col[m][kk] (rows of Kc floats) for samples n0.., m = (n - n0)*P + p
 * (groups == 1). */
kernel void im2col_f32(global const float *x, uint x_off, uint n0, uint Mc,
                       global float *col, tern_conv_shape s) {
  uint kk = get_global_id(0), m = get_global_id(1);
  uint P = s.OH * s.OW, khw = s.KH * s.KW, Kc = s.C * khw;
  if (kk >= Kc || m >= Mc)
    return;
  uint ic = kk / khw, r = kk % khw, kh = r / s.KW, kw = r % s.KW;
  uint n = n0 + m / P, p = m % P, oh = p / s.OW, ow = p % s.OW;
  int ih = (int)(oh * s.sh + kh * s.dh) - (int)s.ph;
  int iw = (int)(ow * s.sw + kw * s.dw) - (int)s.pw;
  float v = 0.0f;
  if (ih >= 0 && ih < (int)s.H && iw >= 0 && iw < (int)s.W)
    v = x[x_off + (((size_t)n * s.C + ic) * s.H + ih) * s.W + iw];
  col[(size_t)m * Kc + kk] = v;
}

/* After the SGEMM t[Mc][OC] = col · Wᵀ: y[n][oc][p] = act(t[m][oc] + b). */
kernel void cm_bias_act(global const float *t, global float *y, uint y_off,
                        global const float *bias, uint has_bias, uint Mc,
                        uint OC, uint P) {
  uint oc = get_global_id(0), m = get_global_id(1);
  if (oc >= OC || m >= Mc)
    return;
  float v = t[(size_t)m * OC + oc];
  if (has_bias)
    v += bias[oc];
  y[y_off + ((size_t)(m / P) * OC + oc) * P + m % P] = tern_act(v);
}

/* One output element per work-item; i = ((n*OC + oc)*OH + oh)*OW + ow. */
kernel void conv_f32_direct(global const float *x, uint x_off,
                            global const float *w, global const float *bias,
                            uint has_bias, global float *y, uint y_off,
                            uint total, tern_conv_shape s) {
  uint i = get_global_id(0);
  if (i >= total)
    return;
  uint ow = i % s.OW, t = i / s.OW, oh = t % s.OH;
  t /= s.OH;
  uint oc = t % s.OC, n = t / s.OC;
  uint icg = s.C / s.G, g = oc / (s.OC / s.G);
  global const float *wr = w + (size_t)oc * icg * s.KH * s.KW;
  float acc = 0.0f;
  for (uint c = 0; c < icg; c++) {
    global const float *xc =
        x + x_off + ((size_t)n * s.C + g * icg + c) * s.H * s.W;
    for (uint kh = 0; kh < s.KH; kh++) {
      int ih = (int)(oh * s.sh + kh * s.dh) - (int)s.ph;
      for (uint kw = 0; kw < s.KW; kw++) {
        int iw = (int)(ow * s.sw + kw * s.dw) - (int)s.pw;
        if (ih >= 0 && ih < (int)s.H && iw >= 0 && iw < (int)s.W)
          acc += xc[ih * s.W + iw] * wr[(c * s.KH + kh) * s.KW + kw];
      }
    }
  }
  if (has_bias)
    acc += bias[oc];
  y[y_off + i] = tern_act(acc);
}

/* Quantized, any groups: q codes [N][Kpx], weight codes [OC][Kpw].
 * Tunable OWT: outputs per work-item, consecutive along ow (one row of one
 * channel: the weights and the row's bounds are read once for all of
 * them); work-item i covers outputs i * OWT .. of the row-padded index
 * ((n*OC + oc)*OH + oh) * OWB + owb, OWB = ceil(OW / OWT) blocks per row. */
#ifndef OWT
#define OWT 1
#endif
kernel void conv_q_direct(global const char *q, uint Kpx,
                          global const float *xs, global const char *w,
                          uint Kpw, global const float *ws,
                          global const float *bias, global float *y,
                          uint y_off, uint total, tern_conv_shape s) {
  uint i = get_global_id(0);
  if (i >= total)
    return;
  uint owb = (s.OW + OWT - 1) / OWT;
  uint ow0 = (i % owb) * OWT, t = i / owb, oh = t % s.OH;
  t /= s.OH;
  uint oc = t % s.OC, n = t / s.OC;
  uint icg = s.C / s.G, g = oc / (s.OC / s.G);
  global const char *wr = w + (size_t)oc * Kpw;
  int acc[OWT];
  for (uint j = 0; j < OWT; j++)
    acc[j] = 0;
  for (uint c = 0; c < icg; c++) {
    global const char *qc = q + (size_t)n * Kpx + (g * icg + c) * s.H * s.W;
    for (uint kh = 0; kh < s.KH; kh++) {
      int ih = (int)(oh * s.sh + kh * s.dh) - (int)s.ph;
      if (ih < 0 || ih >= (int)s.H)
        continue;
      for (uint kw = 0; kw < s.KW; kw++) {
        int wv = (int)wr[(c * s.KH + kh) * s.KW + kw];
        for (uint j = 0; j < OWT; j++) {
          int iw = (int)((ow0 + j) * s.sw + kw * s.dw) - (int)s.pw;
          if (iw >= 0 && iw < (int)s.W)
            acc[j] += (int)qc[ih * s.W + iw] * wv;
        }
      }
    }
  }
  float wsc = ws[oc], xsc = xs[n], b = bias[oc];
  global float *yr = y + y_off + (((size_t)n * s.OC + oc) * s.OH + oh) * s.OW;
  for (uint j = 0; j < OWT && ow0 + j < s.OW; j++)
    yr[ow0 + j] = tern_act(tern_epilogue(acc[j], wsc, xsc, b));
}

/* Sum of each im2col row's codes (tgemm needs sum_k a_k per row). */
kernel void row_sums(global const char *col, uint Kp, uint rows,
                     global int *sums) {
  uint m = get_global_id(0);
  if (m >= rows)
    return;
  global const char *r = col + (size_t)m * Kp;
  int s = 0;
  for (uint k = 0; k < Kp; k++)
    s += r[k];
  sums[m] = s;
}
