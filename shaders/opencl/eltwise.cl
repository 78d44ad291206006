/* eltwise.cl — element-wise ops: relu/relu6/gelu/silu (ACT selects, the
 * formulas of common.cl) and add/mul with numpy broadcasting (BINOP 0 add,
 * 1 mul), one IEEE operation per element. Offsets are in elements.
 * Tunable: EPT elements per work-item for unary and binary; element j of
 * work-item l of group g is (g * EPT + j) * L + l (L the local size), so a
 * work-group covers one contiguous range and neighbouring work-items read
 * neighbouring elements at every step. */
#ifndef EPT
#define EPT 1
#endif

kernel void unary(global const float *x, uint x_off, global float *y,
                  uint y_off, uint total) {
  uint l = (uint)get_local_size(0);
  uint i = (uint)get_group_id(0) * l * EPT + (uint)get_local_id(0);
  for (uint j = 0; j < EPT; j++, i += l)
    if (i < total)
      y[y_off + i] = tern_act(x[x_off + i]);
}

/* Output dims n[] (6, outermost first, padded with 1) and the strides of a
 * and b in elements (0 along broadcast dims). */
typedef struct {
  uint n[6], sa[6], sb[6];
} tern_bcast;

/* BMODE, chosen at prepare (tern_op_binary_plan): 0 general (the output
 * index decomposed over s.n); with the other operand of the output's shape
 * (index i): 1 same shape, 2 the broadcast operand a repeated row (index
 * i % cnt), 3 per channel ((i / inner) % cnt), 4 a scalar (index 0), the
 * divisions as multiplications by magic numbers. BSWAP 1: the broadcast
 * operand is a. Always a op b. */
#ifndef BMODE
#define BMODE 0
#endif
/* n / d for the magic (m, s) of d (tern_fastdiv, core/ops/op_common.h): CPU
 * OpenCL divides lane by lane */
inline uint tern_fastdiv(uint n, uint m, uint s) {
  uint t = mul_hi(m, n);
  return (t + ((n - t) >> 1)) >> s;
}
#ifndef BSWAP
#define BSWAP 0
#endif
kernel void binary(global const float *a, uint a_off, global const float *b,
                   uint b_off, global float *y, uint y_off, uint total,
                   tern_bcast s, uint cnt, uint cnt_m, uint cnt_s,
                   uint inner_m, uint inner_s) {
  uint l = (uint)get_local_size(0);
  uint i = (uint)get_group_id(0) * l * EPT + (uint)get_local_id(0);
  for (uint j = 0; j < EPT; j++, i += l) {
    if (i >= total)
      break;
#if BMODE == 0
    uint r = i, ia = 0, ib = 0;
    for (int d = 5; d >= 0; d--) {
      uint c = r % s.n[d];
      r /= s.n[d];
      ia += c * s.sa[d];
      ib += c * s.sb[d];
    }
#else
#if BMODE == 1
    uint x = i;
#elif BMODE == 2
    uint x = i - tern_fastdiv(i, cnt_m, cnt_s) * cnt;
#elif BMODE == 3
    uint q = tern_fastdiv(i, inner_m, inner_s);
    uint x = q - tern_fastdiv(q, cnt_m, cnt_s) * cnt;
#else
    uint x = 0;
#endif
#if BSWAP
    uint ia = x, ib = i;
#else
    uint ia = i, ib = x;
#endif
#endif
#if BINOP == 1
    y[y_off + i] = a[a_off + ia] * b[b_off + ib];
#else
    y[y_off + i] = a[a_off + ia] + b[b_off + ib];
#endif
  }
}

/* y = x with the dims of x permuted or a part of a concat: y[map(i)] = x[i]
 * where i runs over x and the output index is built from x's dims n[] and
 * output strides so[] (elements). */
kernel void scatter(global const float *x, uint x_off, global float *y,
                    uint y_off, uint total, tern_bcast s) {
  uint i = get_global_id(0);
  if (i >= total)
    return;
  uint r = i, o = 0;
  for (int d = 5; d >= 0; d--) {
    uint c = r % s.n[d];
    r /= s.n[d];
    o += c * s.sa[d];
  }
  y[y_off + o] = x[x_off + i];
}

/* causal mask over [mats][T][S] */
kernel void causal_mask(global const float *x, uint x_off, global float *y,
                        uint y_off, uint total, uint T, uint S) {
  uint i = get_global_id(0);
  if (i >= total)
    return;
  uint j = i % S, t = (i / S) % T;
  /* S - T may be negative (more queries than keys) */
  y[y_off + i] = (int)j > (int)t + ((int)S - (int)T) ? -INFINITY : x[x_off + i];
}
