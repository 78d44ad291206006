// binary.comp — add / mul with numpy broadcasting: the output index is
// decomposed over the output dims; a and b read through strides that are 0
// on their broadcast dims. One IEEE operation per element (exact).
// Tunables (specialization constants): WG invocations, EPT elements per
// invocation (as in eltwise.comp).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

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
} p;

void one(uint i) {
  uint r = i, ia = 0u, ib = 0u;
  for (int d = int(p.ndim) - 1; d >= 0; d--) {
    uint c = r % p.dims[d];
    r /= p.dims[d];
    ia += c * p.sa[d];
    ib += c * p.sb[d];
  }
  float va = LD_A(p.a_off + ia), vb = LD_B(p.b_off + ib);
  precise float v = p.op == 0u ? va + vb : va * vb;
  y[p.y_off + i] = v;
}

void main() {
  uint base = group_index() * WG * EPT + gl_LocalInvocationID.x;
  for (uint j = 0u; j < EPT; j++) {
    uint i = base + j * WG;
    if (i < p.n)
      one(i);
  }
}
