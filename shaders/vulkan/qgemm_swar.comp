// qgemm_swar.comp — ternary GEMM without any optional feature (the baseline
// tier): y[m, n] = sum_k q_x[m, k] * q_w[n, k], exact int32.
// Two output channels share one 32-bit word: codes c = q + 1 in {0, 1, 2} of
// channel 2p in bits 0..15 and of channel 2p+1 in bits 16..31, 8 k per half.
// x * word adds x*c0 + x*c1*2^16 (mod 2^32), two MACs per multiply; the halves
// are split back every 128 k, before |sum x*c| can leave int16. The c = q+1
// offset is removed at the end: sum x*q = sum x*c - sum x.
// Each invocation owns 4 pairs (8 channels, one uvec4 per 8 k) and TM <= 4
// rows, all in named registers: no arrays, which software rasterizers
// (llvmpipe) would otherwise spill and index lane by lane. x and the weights
// are read through uniform texel buffers (RGBA32UI): 16 bytes per fetch, and
// the texture path gathers all lanes at once where llvmpipe's storage-buffer
// loads go lane by lane.
//   xq:   uvec4 [M][Kp/16] packed int8 x (Kp multiple of 32, zero padded)
//   xs:   f32 scale per block (row m / R); xsum: int sum of q per row
//   w:    uvec4 [Kp/8][NQ]: component j of entry (b, q) = pair 4q+j, k 8b..8b+7
//   wsc:  f32 [N] or [1]; bias: f32 [N]; y: f32 output (see epilogue)
// Tunables (specialization constants): WG invocations, TM rows (1..4).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Grid: x = row blocks (fastest, so consecutive workgroups reuse the same
// weights from cache), y = groups of WG channel blocks.
#ifdef SUBGROUP
// All lanes of a subgroup read the same x rows: each lane fetches one row's
// texel and the others take it by broadcast (one fetch instead of TM).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
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
  uint M, N;    // rows, total output channels
  uint NQ;      // quads of pairs (8 channels) in this weight chunk
  uint n0;      // first channel of the chunk
  uint KB;      // Kp / 8
  uint Kp4;     // row stride of xq in words (texels: Kp4 / 4)
  uint R;       // rows per sample (conv) or 1
  uint xq_off, xs_off, xsum_off, out_off;
  uint ws_per_tensor, has_bias, act;
  uint NCH;     // real channels in this chunk
  uint mb;      // first row of this dispatch (large M is split)
} p;

#include "qgemm_epilogue.glsl"

// Split packed int16 halves back into two int32 sums.
void flush(inout uvec4 pk, inout ivec4 lo, inout ivec4 hi) {
  ivec4 l = ivec4(pk << 16) >> 16;
  lo += l;
  hi += (ivec4(pk) - l) >> 16;
  pk = uvec4(0u);
}

void store8(uint m, uint q, ivec4 lo, ivec4 hi) {
  if (m >= p.M)
    return;
  int sx = xsum[p.xsum_off + m];
  for (uint j = 0u; j < 4u; j++) {
    uint c = 8u * q + 2u * j;
    if (c < p.NCH)
      store_q(m, p.n0 + c, lo[j] - sx);
    if (c + 1u < p.NCH)
      store_q(m, p.n0 + c + 1u, hi[j] - sx);
  }
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
  uvec4 pk0 = uvec4(0u), pk1 = uvec4(0u), pk2 = uvec4(0u), pk3 = uvec4(0u);
  ivec4 lo0 = ivec4(0), hi0 = ivec4(0), lo1 = ivec4(0), hi1 = ivec4(0);
  ivec4 lo2 = ivec4(0), hi2 = ivec4(0), lo3 = ivec4(0), hi3 = ivec4(0);
  uint KT = p.KB / 2u; // 16 k per step
#ifdef SUBGROUP
  // lane l fetches row l % TM (subgroups have at least 4 lanes)
  uint lr = gl_SubgroupInvocationID % TM;
  int rl = int(min(m0 + lr, p.M - 1u) * rs);
#endif
  for (uint t = 0u; t < KT; t++) {
#ifdef SUBGROUP
    uvec4 xa, xb = uvec4(0u), xc = uvec4(0u), xd = uvec4(0u);
    if (TM > 1u) {
      uvec4 xl = texelFetch(xq, rl + int(t));
      xa = subgroupBroadcast(xl, 0u);
      xb = subgroupBroadcast(xl, 1u);
      if (TM > 2u)
        xc = subgroupBroadcast(xl, 2u);
      if (TM > 3u)
        xd = subgroupBroadcast(xl, 3u);
    } else {
      xa = texelFetch(xq, r0 + int(t));
    }
#else
    uvec4 xa = texelFetch(xq, r0 + int(t));
    uvec4 xb = TM > 1u ? texelFetch(xq, r1 + int(t)) : uvec4(0u);
    uvec4 xc = TM > 2u ? texelFetch(xq, r2 + int(t)) : uvec4(0u);
    uvec4 xd = TM > 3u ? texelFetch(xq, r3 + int(t)) : uvec4(0u);
#endif
    for (uint h = 0u; h < 2u; h++) {
      uvec4 wv = texelFetch(w, int((2u * t + h) * p.NQ + qi));
      for (uint i = 0u; i < 8u; i++) {
        uvec4 w2 = (wv >> (2u * i)) & 0x00030003u;
        uint wi = 2u * h + i / 4u; // x word holding k = 16t + 8h + i
        int sh = 24 - 8 * int(i & 3u);
        pk0 += uint((int(xa[wi]) << sh) >> 24) * w2;
        if (TM > 1u)
          pk1 += uint((int(xb[wi]) << sh) >> 24) * w2;
        if (TM > 2u)
          pk2 += uint((int(xc[wi]) << sh) >> 24) * w2;
        if (TM > 3u)
          pk3 += uint((int(xd[wi]) << sh) >> 24) * w2;
      }
    }
    if ((t & 7u) == 7u || t + 1u == KT) { // every 128 k
      flush(pk0, lo0, hi0);
      if (TM > 1u)
        flush(pk1, lo1, hi1);
      if (TM > 2u)
        flush(pk2, lo2, hi2);
      if (TM > 3u)
        flush(pk3, lo3, hi3);
    }
  }
  if (q >= p.NQ)
    return;
  store8(m0, q, lo0, hi0);
  if (TM > 1u)
    store8(m0 + 1u, q, lo1, hi1);
  if (TM > 2u)
    store8(m0 + 2u, q, lo2, hi2);
  if (TM > 3u)
    store8(m0 + 3u, q, lo3, hi3);
}
