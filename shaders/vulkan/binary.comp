// binary.comp — add / mul with numpy broadcasting. The general path
// decomposes the output index over the output dims; a and b read through
// strides that are 0 on their broadcast dims. Fast paths (MODE, a variant
// per path chosen at prepare by tern_op_binary_plan; compiled in, since
// llvmpipe runs every side of a branch on a push constant): 1 same shape
// (a[i] op b[i]); one operand broadcast with the other of the output's
// shape: 2 a repeated row (index i % cnt), 3 a channel (index
// (i / inner) % cnt), 4 a scalar (index 0); p.swap says the broadcast
// operand is a. The divisions multiply by magic numbers (llvmpipe divides
// lane by lane). One IEEE operation per element, always a op b (exact).
// Tunables (specialization constants): WG invocations, EPT elements per
// invocation (as in eltwise.comp).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#ifndef MODE
#define MODE 0
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint EPT = 1;
#ifdef TEXEL
// one float per texel (R32_SFLOAT view): llvmpipe gathers texel fetches for
// all lanes at once, where it loads storage buffers lane by lane
layout(binding = 0) uniform samplerBuffer a_t;
#define LD_A(i) texelFetch(a_t, int(i)).x
#else
layout(std430, binding = 0) readonly buffer A_B { float a[]; };
#define LD_A(i) a[i]
#endif
#ifdef TEXEL
// one float per texel (R32_SFLOAT view): llvmpipe gathers texel fetches for
// all lanes at once, where it loads storage buffers lane by lane
layout(binding = 1) uniform samplerBuffer b_t;
#define LD_B(i) texelFetch(b_t, int(i)).x
#else
layout(std430, binding = 1) readonly buffer B_B { float b[]; };
#define LD_B(i) b[i]
#endif
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
  uint n, ndim, op; // op 0 add, 1 mul
  uint a_off, b_off, y_off;
  uint dims[6], sa[6], sb[6];
  uint swap, cnt, cnt_m, cnt_s, inner_m, inner_s;
} p;

// n / d for the d of magic (m, s): tern_fastdiv (core/ops/op_common.h)
uint fastdiv(uint n, uint m, uint s) {
  uint hi, lo;
  umulExtended(m, n, hi, lo);
  return (hi + ((n - hi) >> 1)) >> s;
}

uint mod_cnt(uint q) {
  return q - fastdiv(q, p.cnt_m, p.cnt_s) * p.cnt;
}

void put(uint i, float va, float vb) {
  precise float v = p.op == 0u ? va + vb : va * vb;
  y[p.y_off + i] = v;
}

// the broadcast operand at index x, the full one at i (selects, no branch)
void put_bc(uint i, uint x) {
  bool sw = p.swap != 0u;
  put(i, LD_A(p.a_off + (sw ? x : i)), LD_B(p.b_off + (sw ? i : x)));
}

void one(uint i) {
  uint r = i, ia = 0u, ib = 0u;
  for (int d = int(p.ndim) - 1; d >= 0; d--) {
    uint c = r % p.dims[d];
    r /= p.dims[d];
    ia += c * p.sa[d];
    ib += c * p.sb[d];
  }
  put(i, LD_A(p.a_off + ia), LD_B(p.b_off + ib));
}

void main() {
  uint base = group_index() * WG * EPT + gl_LocalInvocationID.x;
  for (uint j = 0u; j < EPT; j++) {
    uint i = base + j * WG;
    if (i < p.n) {
#if MODE == 1
      put(i, LD_A(p.a_off + i), LD_B(p.b_off + i));
#elif MODE == 2
      put_bc(i, mod_cnt(i));
#elif MODE == 3
      put_bc(i, mod_cnt(fastdiv(i, p.inner_m, p.inner_s)));
#elif MODE == 4
      put_bc(i, 0u);
#else
      one(i);
#endif
    }
  }
}
