// fgemm.comp — f32 GEMM for linear/conv with f32 weights (and the in-run
// fp32 baseline of the benchmark): y[m, n] = act(sum_k x[m, k] * w[n, k]
// (+ bias[n])), k ascending in one accumulator, each product and sum
// rounded (precise), like the reference.
//   x:  f32 [M][K] at x_off (row stride K)
//   w:  vec4 [K4][NC]: entry (k4, n) = w[n0 + n][4k4 .. 4k4+3], zero padded
//   bias: f32 [N]; y: f32, element (m, n) at out_off + (m/R)*N*R + n*R + m%R
// Tunables: WG invocations; each does TM rows x TN channels.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint TM = 4;
layout(constant_id = 2) const uint TN = 2;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { vec4 w[]; };
layout(std430, binding = 2) readonly buffer BIAS { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform P {
  uint M, N, NC, n0;
  uint K;
  uint R;
  uint x_off, out_off;
  uint has_bias, act;
} p;

void main() {
  uint lid = gl_LocalInvocationID.x;
  uint nb = gl_WorkGroupID.x * (WG * TN) + lid;
  uint m0 = gl_WorkGroupID.y * TM;
  uint xrow[TM];
  for (uint t = 0; t < TM; t++)
    xrow[t] = p.x_off + min(m0 + t, p.M - 1u) * p.K;
  uint nidx[TN];
  for (uint j = 0; j < TN; j++)
    nidx[j] = min(nb + j * WG, p.NC - 1u);
  precise float acc[TM * TN];
  for (uint i = 0; i < TM * TN; i++)
    acc[i] = 0.0;
  uint K4 = p.K / 4u;
  for (uint k4 = 0; k4 < K4; k4++) {
    vec4 wv[TN];
    for (uint j = 0; j < TN; j++)
      wv[j] = w[k4 * p.NC + nidx[j]];
    for (uint c = 0; c < 4u; c++) {
      float xv[TM];
      for (uint t = 0; t < TM; t++)
        xv[t] = x[xrow[t] + 4u * k4 + c];
      for (uint j = 0; j < TN; j++)
        for (uint t = 0; t < TM; t++) {
          precise float prod = xv[t] * wv[j][c];
          acc[t * TN + j] = acc[t * TN + j] + prod;
        }
    }
  }
  uint rem = p.K - 4u * K4;
  if (rem > 0u) {
    vec4 wv[TN];
    for (uint j = 0; j < TN; j++)
      wv[j] = w[K4 * p.NC + nidx[j]];
    for (uint c = 0; c < rem; c++)
      for (uint t = 0; t < TM; t++) {
        float xv = x[xrow[t] + 4u * K4 + c];
        for (uint j = 0; j < TN; j++) {
          precise float prod = xv * wv[j][c];
          acc[t * TN + j] = acc[t * TN + j] + prod;
        }
      }
  }
  for (uint t = 0; t < TM; t++) {
    uint m = m0 + t;
    if (m >= p.M)
      break;
    for (uint j = 0; j < TN; j++) {
      uint nl = nb + j * WG;
      if (nl >= p.NC)
        continue;
      uint n = p.n0 + nl;
      precise float v = acc[t * TN + j];
      if (p.has_bias != 0u)
        v = v + bias[n];
      uint o = p.out_off + (m / p.R) * (p.N * p.R) + n * p.R + (m % p.R);
      y[o] = apply_act(p.act, v);
    }
  }
}
