// qgemm_swar.comp — ternary GEMM without any optional feature (the baseline
// tier): y[m, n] = sum_k q_x[m, k] * q_w[n, k], exact int32.
// Two output channels share one 32-bit word: codes c = q + 1 in {0, 1, 2} of
// channel 2p in bits 0..15 and of channel 2p+1 in bits 16..31, 8 k per half.
// x * word adds x*c0 + x*c1*2^16 (mod 2^32), two MACs per multiply; the halves
// are split back every 128 k, before |x*c| sums can leave int16. The c = q+1
// offset is removed at the end: sum x*q = sum x*c - sum x.
//   xq:   int32 [M][Kp] at xq_off   (Kp multiple of 32, zero padded)
//   xs:   f32 scale per block (row m / R); xsum: int sum of q per row
//   w:    uvec4 [Kp/32][NP]: word c of entry (b, p) = k in 32b+8c .. +7
//   wsc:  f32 [N] or [1]; bias: f32 [N]; y: f32 output (see epilogue)
// Tunables: WG invocations; each does TM rows x TNP channel pairs.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint TM = 4;
layout(constant_id = 2) const uint TNP = 2;

layout(std430, binding = 0) readonly buffer XQ { int xq[]; };
layout(std430, binding = 1) readonly buffer XS { float xs[]; };
layout(std430, binding = 2) readonly buffer XSUM { int xsum[]; };
layout(std430, binding = 3) readonly buffer W { uvec4 w[]; };
layout(std430, binding = 4) readonly buffer WS { float wsc[]; };
layout(std430, binding = 5) readonly buffer BIAS { float bias[]; };
layout(std430, binding = 6) writeonly buffer Y { float y[]; };

layout(push_constant) uniform P {
  uint M, N;    // rows, total output channels
  uint NP;      // channel pairs in this weight chunk
  uint n0;      // first channel of the chunk (even)
  uint KB;      // Kp / 32
  uint Kp;      // row stride of xq
  uint R;       // rows per sample (conv) or 1
  uint xq_off, xs_off, xsum_off, out_off;
  uint ws_per_tensor, has_bias, act;
  uint NCH;     // real channels in this chunk (odd: last pair is half)
} p;

#include "qgemm_epilogue.glsl"

void main() {
  uint lid = gl_LocalInvocationID.x;
  uint pb = gl_WorkGroupID.x * (WG * TNP) + lid;
  uint m0 = gl_WorkGroupID.y * TM;
  uint xrow[TM];
  for (uint t = 0; t < TM; t++)
    xrow[t] = p.xq_off + min(m0 + t, p.M - 1u) * p.Kp;
  uint pidx[TNP];
  for (uint j = 0; j < TNP; j++)
    pidx[j] = min(pb + j * WG, p.NP - 1u);
  uint pk[TM * TNP];
  int lo[TM * TNP], hi[TM * TNP];
  for (uint i = 0; i < TM * TNP; i++) {
    pk[i] = 0u;
    lo[i] = 0;
    hi[i] = 0;
  }
  for (uint b = 0; b < p.KB; b++) {
    uvec4 wv[TNP];
    for (uint j = 0; j < TNP; j++)
      wv[j] = w[b * p.NP + pidx[j]];
    for (uint c = 0; c < 4u; c++) {
      uint kb = b * 32u + c * 8u;
      for (uint i = 0; i < 8u; i++) {
        uint xv[TM];
        for (uint t = 0; t < TM; t++)
          xv[t] = uint(xq[xrow[t] + kb + i]);
        for (uint j = 0; j < TNP; j++) {
          uint w2 = (wv[j][c] >> (2u * i)) & 0x00030003u;
          for (uint t = 0; t < TM; t++)
            pk[t * TNP + j] += xv[t] * w2;
        }
      }
    }
    if ((b & 3u) == 3u || b + 1u == p.KB) {
      for (uint i = 0; i < TM * TNP; i++) {
        int l = int(pk[i] << 16) >> 16;
        lo[i] += l;
        hi[i] += (int(pk[i]) - l) >> 16;
        pk[i] = 0u;
      }
    }
  }
  for (uint t = 0; t < TM; t++) {
    uint m = m0 + t;
    if (m >= p.M)
      break;
    int sx = xsum[p.xsum_off + m];
    for (uint j = 0; j < TNP; j++) {
      uint pp = pb + j * WG;
      if (pp >= p.NP)
        continue;
      uint n = p.n0 + 2u * pp;
      store_q(m, n, lo[t * TNP + j] - sx);
      if (2u * pp + 1u < p.NCH)
        store_q(m, n + 1u, hi[t * TNP + j] - sx);
    }
  }
}
