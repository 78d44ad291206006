// qgemm_epilogue.glsl — the quantized epilogue shared by the integer GEMM
// kernels: y = act(((float(acc) * ws[n]) * xs) + bias[n]), every step
// rounded on its own (precise: no contraction), as tern_q_epilogue does.
// Output element (m, n) goes to out_off + (m / R) * (N * R) + n * R + m % R:
// R = 1 is the row-major [M, N] of linear, R = OH*OW the NCHW of conv.
#ifndef TERN_QGEMM_EPILOGUE_GLSL
#define TERN_QGEMM_EPILOGUE_GLSL

void store_q(uint m, uint n, int acc) {
  float ws = wsc[p.ws_per_tensor != 0u ? 0u : n];
  float xscale = xs[p.xs_off + m / p.R];
  float b = p.has_bias != 0u ? bias[n] : 0.0;
  precise float t = float(acc) * ws;
  precise float t2 = t * xscale;
  precise float v = t2 + b;
  uint o = p.out_off + (m / p.R) * (p.N * p.R) + n * p.R + (m % p.R);
  y[o] = apply_act(p.act, v);
}

#endif
