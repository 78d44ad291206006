// fgemm.comp — f32 GEMM for linear/conv with f32 weights (and the in-run
// fp32 baseline of the benchmark): y[m, n] = act(sum_k x[m, k] * w[n, k]
// (+ bias[n])), k ascending in one accumulator per output, each product and
// sum rounded (precise), like the reference.
// Each invocation owns 4 channels and TM <= 4 rows in named registers; x
// and w are read as RGBA32F uniform texel buffers (see qgemm_swar.comp).
//   x:  vec4 [M][Kp/4] (rows zero padded to Kp, a multiple of 4)
//   w:  vec4 [Kp/4][NC4]: texel (k4, n) = w[n0 + n][4k4 .. 4k4+3]
//   bias: f32 [N]; y: f32, element (m, n) at out_off + (m/R)*N*R + n*R + m%R
// Tunables (specialization constants): WG invocations, TM rows (1..4).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
// Grid: x = row blocks (fastest, so consecutive workgroups reuse the same
// weights from cache), y = groups of WG channel blocks.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint TM = 4;

layout(binding = 0) uniform samplerBuffer x;
layout(binding = 1) uniform samplerBuffer w;
layout(std430, binding = 2) readonly buffer BIAS { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform P {
  uint M, N, NC, n0;
  uint K4;  // texels per x row and weight rows
  uint R;
  uint out_off, has_bias, act;
  uint mb; // first row of this dispatch (large M is split)
} p;

void store4(uint m, uint q, vec4 acc) {
  if (m >= p.M)
    return;
  for (uint j = 0u; j < 4u; j++) {
    uint nl = 4u * q + j;
    if (nl >= p.NC)
      continue;
    uint n = p.n0 + nl;
    precise float v = acc[j];
    if (p.has_bias != 0u)
      v = v + bias[n];
    uint o = p.out_off + (m / p.R) * (p.N * p.R) + n * p.R + (m % p.R);
    y[o] = apply_act(p.act, v);
  }
}

void main() {
  uint q = gl_WorkGroupID.y * WG + gl_LocalInvocationID.x;
  uint m0 = p.mb + gl_WorkGroupID.x * TM;
  uint NQ = (p.NC + 3u) / 4u;
  int wb = int(4u * min(q, NQ - 1u));
  int NC4 = int(4u * NQ);
  int r0 = int(min(m0, p.M - 1u) * p.K4);
  int r1 = int(min(m0 + 1u, p.M - 1u) * p.K4);
  int r2 = int(min(m0 + 2u, p.M - 1u) * p.K4);
  int r3 = int(min(m0 + 3u, p.M - 1u) * p.K4);
  precise vec4 a0 = vec4(0.0), a1 = vec4(0.0), a2 = vec4(0.0),
               a3 = vec4(0.0);
  for (int k4 = 0; k4 < int(p.K4); k4++) {
    int wi = k4 * NC4 + wb;
    vec4 w0 = texelFetch(w, wi), w1 = texelFetch(w, wi + 1);
    vec4 w2 = texelFetch(w, wi + 2), w3 = texelFetch(w, wi + 3);
    vec4 xa = texelFetch(x, r0 + k4);
    vec4 xb = TM > 1u ? texelFetch(x, r1 + k4) : vec4(0.0);
    vec4 xc = TM > 2u ? texelFetch(x, r2 + k4) : vec4(0.0);
    vec4 xd = TM > 3u ? texelFetch(x, r3 + k4) : vec4(0.0);
    for (uint c = 0u; c < 4u; c++) {
      vec4 wc = vec4(w0[c], w1[c], w2[c], w3[c]);
      precise vec4 t0 = xa[c] * wc;
      a0 = a0 + t0;
      if (TM > 1u) {
        precise vec4 t1 = xb[c] * wc;
        a1 = a1 + t1;
      }
      if (TM > 2u) {
        precise vec4 t2 = xc[c] * wc;
        a2 = a2 + t2;
      }
      if (TM > 3u) {
        precise vec4 t3 = xd[c] * wc;
        a3 = a3 + t3;
      }
    }
  }
  if (q >= NQ)
    return;
  store4(m0, q, a0);
  if (TM > 1u)
    store4(m0 + 1u, q, a1);
  if (TM > 2u)
    store4(m0 + 2u, q, a2);
  if (TM > 3u)
    store4(m0 + 3u, q, a3);
}
