// qgemm_dot.comp — int8 and ternary GEMM on packed 4 x int8 words:
// y[m, n] = sum_k q_x[m, k] * q_w[n, k] in exact int32.
// USE_DOT: OpSDotKHR (SPV_KHR_integer_dot_product, declared through
// GL_EXT_spirv_intrinsics since glslang lacks GL_EXT_integer_dot_product);
// without it the same dot is done with bitfieldExtract (int8 baseline).
// TERNARY: each weight word holds 16 codes c = q + 1 of one channel, code of
// k = 4t + i in bits 8i + 2t, so (word >> 2t) & 0x03030303 is four k as
// bytes; the c = q + 1 offset is removed at the end (sum x*q = sum x*c -
// sum x). Otherwise each weight word is 4 int8 of consecutive k.
//   xq:  uint [M][Kp/4] packed int8 x at xq_off; xs, xsum as in qgemm_swar
//   w:   uint [Kp/16][NC] (TERNARY) or [Kp/4][NC] (int8), NC = chunk width
//   wsc, bias, y: as in qgemm_swar (see qgemm_epilogue.glsl)
// Tunables: WG invocations; each does TM rows x TN channels.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#ifdef USE_DOT
#extension GL_EXT_spirv_intrinsics : require
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"],
                  capabilities = [6019, 6018], id = 4450)
int sdot4(uint a, uint b, spirv_literal int fmt);
int dot4(uint a, uint b) { return sdot4(a, b, 0); }
#else
int dot4(uint a, uint b) {
  int s = 0;
  for (int i = 0; i < 32; i += 8)
    s += bitfieldExtract(int(a), i, 8) * bitfieldExtract(int(b), i, 8);
  return s;
}
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint TM = 4;
layout(constant_id = 2) const uint TN = 2;

layout(std430, binding = 0) readonly buffer XQ { uint xq[]; };
layout(std430, binding = 1) readonly buffer XS { float xs[]; };
layout(std430, binding = 2) readonly buffer XSUM { int xsum[]; };
layout(std430, binding = 3) readonly buffer W { uint w[]; };
layout(std430, binding = 4) readonly buffer WS { float wsc[]; };
layout(std430, binding = 5) readonly buffer BIAS { float bias[]; };
layout(std430, binding = 6) writeonly buffer Y { float y[]; };

layout(push_constant) uniform P {
  uint M, N;  // rows, total output channels
  uint NC;    // channels in this weight chunk
  uint n0;    // first channel of the chunk
  uint KW;    // weight words per channel: Kp/16 (ternary) or Kp/4 (int8)
  uint Kp4;   // row stride of xq in words
  uint R;
  uint xq_off, xs_off, xsum_off, out_off;
  uint ws_per_tensor, has_bias, act;
  uint NCH;     // unused here (qgemm_swar's chunk width)
} p;

#include "qgemm_epilogue.glsl"

void main() {
  uint lid = gl_LocalInvocationID.x;
  uint nb = gl_WorkGroupID.x * (WG * TN) + lid;
  uint m0 = gl_WorkGroupID.y * TM;
  uint xrow[TM];
  for (uint t = 0; t < TM; t++)
    xrow[t] = p.xq_off + min(m0 + t, p.M - 1u) * p.Kp4;
  uint nidx[TN];
  for (uint j = 0; j < TN; j++)
    nidx[j] = min(nb + j * WG, p.NC - 1u);
  int acc[TM * TN];
  for (uint i = 0; i < TM * TN; i++)
    acc[i] = 0;
  for (uint kw = 0; kw < p.KW; kw++) {
    uint wv[TN];
    for (uint j = 0; j < TN; j++)
      wv[j] = w[kw * p.NC + nidx[j]];
#ifdef TERNARY
    for (uint s = 0; s < 4u; s++) {
      uint xv[TM];
      for (uint t = 0; t < TM; t++)
        xv[t] = xq[xrow[t] + kw * 4u + s];
      for (uint j = 0; j < TN; j++) {
        uint c4 = (wv[j] >> (2u * s)) & 0x03030303u;
        for (uint t = 0; t < TM; t++)
          acc[t * TN + j] += dot4(xv[t], c4);
      }
    }
#else
    uint xv[TM];
    for (uint t = 0; t < TM; t++)
      xv[t] = xq[xrow[t] + kw];
    for (uint j = 0; j < TN; j++)
      for (uint t = 0; t < TM; t++)
        acc[t * TN + j] += dot4(xv[t], wv[j]);
#endif
  }
  for (uint t = 0; t < TM; t++) {
    uint m = m0 + t;
    if (m >= p.M)
      break;
#ifdef TERNARY
    int sx = xsum[p.xsum_off + m];
#else
    int sx = 0;
#endif
    for (uint j = 0; j < TN; j++) {
      uint nl = nb + j * WG;
      if (nl < p.NC)
        store_q(m, p.n0 + nl, acc[t * TN + j] - sx);
    }
  }
}
