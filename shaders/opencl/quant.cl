/* quant.cl — the activation rule on blocks of K floats (a linear row, a conv
 * sample): one work-item per block, two passes over it (max |x| as bits,
 * then codes), 8 lanes at a time. Output: codes of type QTYPE (char or
 * short) in rows of Kp (zero padded) and the block's scale 2^e.
 * x: f32 [rows][K] at x + x_off; q: QTYPE [rows][Kp]; scale: f32 [rows];
 * qsum: int [rows], the sum of the row's codes (tgemv.cl needs it). */
#ifndef QTYPE
#define QTYPE char /* short for qgemm.cl */
#endif
#define TERN_XCAT3(a, b, c) a##b##c
#define TERN_CAT3(a, b, c) TERN_XCAT3(a, b, c)
#define TERN_QCONV8 TERN_CAT3(convert_, QTYPE, 8)

kernel void quant_rows(global const float *x, uint x_off, uint K, uint Kp,
                       uint rows, global QTYPE *q, global float *scale,
                       global int *qsum) {
  uint row = get_global_id(0);
  if (row >= rows)
    return;
  global const float *xr = x + x_off + (size_t)row * K;
  /* max of |x| as bits: NaN > inf > finite, exactly what the rule needs */
  uint8 m8 = (uint8)(0);
  uint i = 0;
  for (; i + 8 <= K; i += 8)
    m8 = max(m8, as_uint8(vload8(0, xr + i)) & (uint8)(0x7fffffffu));
  uint m = max(max(max(m8.s0, m8.s1), max(m8.s2, m8.s3)),
               max(max(m8.s4, m8.s5), max(m8.s6, m8.s7)));
  for (; i < K; i++)
    m = max(m, as_uint(xr[i]) & 0x7fffffffu);
  int e;
  int nz = tern_act_exp(m, &e);
  float inv = tern_exp2i(-e);
  global QTYPE *qr = q + (size_t)row * Kp;
  if (!nz) {
    for (i = 0; i < Kp; i++)
      qr[i] = (QTYPE)0;
    scale[row] = 1.0f;
    qsum[row] = 0;
    return;
  }
  int8 s8 = (int8)(0);
  for (i = 0; i + 8 <= K; i += 8) {
    float8 v = rint(vload8(0, xr + i) * inv);
    int8 c = convert_int8(clamp(v, -127.0f, 127.0f));
    s8 += c;
    vstore8(TERN_QCONV8(c), 0, qr + i);
  }
  int sum = s8.s0 + s8.s1 + s8.s2 + s8.s3 + s8.s4 + s8.s5 + s8.s6 + s8.s7;
  for (; i < K; i++) {
    char c = tern_q8(xr[i], inv);
    sum += c;
    qr[i] = (QTYPE)c;
  }
  qsum[row] = sum;
  for (; i < Kp; i++)
    qr[i] = (QTYPE)0;
  scale[row] = tern_exp2i(e);
}

/* GPU-shaped variant: one work-group of QWG work-items per block; the max
 * of the bits reduces through subgroups when that tier is on, else through
 * local memory (max is order-free, so both give the same bits). */
#ifndef QWG
#define QWG 64
#endif
kernel __attribute__((reqd_work_group_size(QWG, 1, 1))) void
quant_rows_wg(global const float *x, uint x_off, uint K, uint Kp, uint rows,
              global QTYPE *q, global float *scale, global int *qsum) {
  local uint red[QWG];
  uint row = get_group_id(0), l = get_local_id(0);
  global const float *xr = x + x_off + (size_t)row * K;
  uint m = 0;
  for (uint i = l; i < K; i += QWG)
    m = max(m, as_uint(xr[i]) & 0x7fffffffu);
#ifdef TERN_SUBGROUPS
  m = sub_group_reduce_max(m);
  if (get_sub_group_local_id() == 0)
    red[get_sub_group_id()] = m;
  barrier(CLK_LOCAL_MEM_FENCE);
  if (l == 0) {
    for (uint s = 1; s < get_num_sub_groups(); s++)
      red[0] = max(red[0], red[s]);
  }
  barrier(CLK_LOCAL_MEM_FENCE);
#else
  red[l] = m;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = QWG / 2; s > 0; s >>= 1) {
    if (l < s)
      red[l] = max(red[l], red[l + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
#endif
  int e;
  int nz = tern_act_exp(red[0], &e);
  float inv = tern_exp2i(-e);
  global QTYPE *qr = q + (size_t)row * Kp;
  for (uint i = l; i < Kp; i += QWG)
    qr[i] = (nz && i < K) ? (QTYPE)tern_q8(xr[i], inv) : (QTYPE)0;
  if (l == 0) {
    scale[row] = nz ? tern_exp2i(e) : 1.0f;
    qsum[row] = 0; /* tgemv is not used with this variant */
  }
}
