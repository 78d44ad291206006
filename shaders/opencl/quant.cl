/* quant.cl — the activation rule on blocks of K floats (a linear row, a conv
 * sample): one work-group of QWG work-items per block. Output: int8 codes in
 * rows of Kp bytes (zero padded) and the block's scale 2^e.
 * x: f32 [rows][K] at x + x_off; q: char [rows][Kp]; scale: f32 [rows]. */
#ifndef QWG
#define QWG 64
#endif

kernel __attribute__((reqd_work_group_size(QWG, 1, 1))) void
quant_rows(global const float *x, uint x_off, uint K, uint Kp,
           global char *q, global float *scale) {
  local uint red[QWG];
  uint row = get_group_id(0), l = get_local_id(0);
  global const float *xr = x + x_off + (size_t)row * K;
  /* max of |x| as bits: NaN > inf > finite, exactly what the rule needs */
  uint m = 0;
  for (uint i = l; i < K; i += QWG)
    m = max(m, as_uint(xr[i]) & 0x7fffffffu);
  red[l] = m;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = QWG / 2; s > 0; s >>= 1) {
    if (l < s)
      red[l] = max(red[l], red[l + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  int e;
  int nz = tern_act_exp(red[0], &e);
  float inv = tern_exp2i(-e);
  global char *qr = q + (size_t)row * Kp;
  for (uint i = l; i < Kp; i += QWG)
    qr[i] = (nz && i < K) ? tern_q8(xr[i], inv) : (char)0;
  if (l == 0)
    scale[row] = nz ? tern_exp2i(e) : 1.0f;
}
