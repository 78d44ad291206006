// qgemm_dot.comp — int8 and ternary GEMM on packed 4 x int8 words:
// y[m, n] = sum_k q_x[m, k] * q_w[n, k] in exact int32.
// USE_DOT: OpSDotKHR (SPV_KHR_integer_dot_product, declared through
// GL_EXT_spirv_intrinsics since glslang lacks GL_EXT_integer_dot_product);
// without it the same dot is written out with shifts (int8 baseline).
// TERNARY: each weight word holds 16 codes c = q + 1 of one channel, code of
// k = 4s + i in bits 8i + 2s, so (word >> 2s) & 0x03030303 is four k as
// bytes; the c = q + 1 offset is removed at the end (sum x*q = sum x*c -
// sum x). Otherwise each weight word is 4 int8 of consecutive k.
// Each invocation owns 4 channels (one texel of weights per step) and
// TM <= 4 rows in named registers (no arrays: see qgemm_swar.comp).
//   xq:  uvec4 [M][Kp/16] packed int8 x (uniform texel buffer)
//   w:   uvec4 [KW][NQ]: component j of (kw, q) = word kw of channel 4q+j;
//        KW = Kp/16 (TERNARY) or Kp/4 (int8)
//   xs, xsum, wsc, bias, y: as in qgemm_swar (see qgemm_epilogue.glsl)
// Tunables (specialization constants): WG invocations, TM rows (1..4).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Grid: x = row blocks (fastest, so consecutive workgroups reuse the same
// weights from cache), y = groups of WG channel blocks.
#ifdef USE_DOT
#extension GL_EXT_spirv_intrinsics : require
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"],
                  capabilities = [6019, 6018], id = 4450)
int sdot4(uint a, uint b, spirv_literal int fmt);
int dot4(uint a, uint b) { return sdot4(a, b, 0); }
#else
int dot4(uint a, uint b) {
  ivec4 x = (ivec4(a) << ivec4(24, 16, 8, 0)) >> 24;
  ivec4 y = (ivec4(b) << ivec4(24, 16, 8, 0)) >> 24;
  return x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
}
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint TM = 4;

layout(binding = 0) uniform usamplerBuffer xq;
layout(std430, binding = 1) readonly buffer XS { float xs[]; };
layout(std430, binding = 2) readonly buffer XSUM { int xsum[]; };
layout(binding = 3) uniform usamplerBuffer w;
layout(std430, binding = 4) readonly buffer WS { float wsc[]; };
layout(std430, binding = 5) readonly buffer BIAS { float bias[]; };
layout(std430, binding = 6) writeonly buffer Y { float y[]; };

layout(push_constant) uniform P {
  uint M, N;  // rows, total output channels
  uint NQ;    // channel quads in this weight chunk
  uint n0;    // first channel of the chunk
  uint KW;    // weight words per channel
  uint Kp4;   // row stride of xq in words
  uint R;
  uint xq_off, xs_off, xsum_off, out_off;
  uint ws_per_tensor, has_bias, act;
  uint NCH;   // real channels in this chunk
  uint mb;      // first row of this dispatch (large M is split)
} p;

#include "qgemm_epilogue.glsl"

ivec4 dot4x4(uint xw, uvec4 wv) {
  return ivec4(dot4(xw, wv.x), dot4(xw, wv.y), dot4(xw, wv.z),
               dot4(xw, wv.w));
}

void store4(uint m, uint q, ivec4 acc) {
  if (m >= p.M)
    return;
#ifdef TERNARY
  int sx = xsum[p.xsum_off + m];
#else
  int sx = 0;
#endif
  for (uint j = 0u; j < 4u; j++)
    if (4u * q + j < p.NCH)
      store_q(m, p.n0 + 4u * q + j, acc[j] - sx);
}

void main() {
  uint q = gl_WorkGroupID.y * WG + gl_LocalInvocationID.x;
  uint m0 = p.mb + gl_WorkGroupID.x * TM;
  uint qi = min(q, p.NQ - 1u);
  uint rs = p.Kp4 / 4u;
  int r0 = int(min(m0, p.M - 1u) * rs);
  int r1 = int(min(m0 + 1u, p.M - 1u) * rs);
  int r2 = int(min(m0 + 2u, p.M - 1u) * rs);
  int r3 = int(min(m0 + 3u, p.M - 1u) * rs);
  ivec4 a0 = ivec4(0), a1 = ivec4(0), a2 = ivec4(0), a3 = ivec4(0);
  for (uint t = 0u; t < rs; t++) { // 16 k per step
    uvec4 xa = texelFetch(xq, r0 + int(t));
    uvec4 xb = TM > 1u ? texelFetch(xq, r1 + int(t)) : uvec4(0u);
    uvec4 xc = TM > 2u ? texelFetch(xq, r2 + int(t)) : uvec4(0u);
    uvec4 xd = TM > 3u ? texelFetch(xq, r3 + int(t)) : uvec4(0u);
#ifdef TERNARY
    uvec4 wt = texelFetch(w, int(t * p.NQ + qi));
#endif
    for (uint s = 0u; s < 4u; s++) {
#ifdef TERNARY
      uvec4 wv = (wt >> (2u * s)) & 0x03030303u;
#else
      uvec4 wv = texelFetch(w, int((4u * t + s) * p.NQ + qi));
#endif
      a0 += dot4x4(xa[s], wv);
      if (TM > 1u)
        a1 += dot4x4(xb[s], wv);
      if (TM > 2u)
        a2 += dot4x4(xc[s], wv);
      if (TM > 3u)
        a3 += dot4x4(xd[s], wv);
    }
  }
  if (q >= p.NQ)
    return;
  store4(m0, q, a0);
  if (TM > 1u)
    store4(m0 + 1u, q, a1);
  if (TM > 2u)
    store4(m0 + 2u, q, a2);
  if (TM > 3u)
    store4(m0 + 3u, q, a3);
}
