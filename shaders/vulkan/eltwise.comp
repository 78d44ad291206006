// eltwise.comp — y = act(x) elementwise (relu, relu6, gelu, silu; act 0 is
// the plain copy used by flatten/reshape), the formulas of
// tern_apply_activation.
// Tunables (specialization constants): WG invocations, EPT elements per
// invocation (element j of invocation l of group g: (g * EPT + j) * WG + l,
// so the lanes of a subgroup touch consecutive elements at every step).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint EPT = 1;
#ifdef TEXEL
// one float per texel (R32_SFLOAT view): llvmpipe gathers texel fetches for
// all lanes at once, where it loads storage buffers lane by lane
layout(binding = 0) uniform samplerBuffer x_t;
#define LD_X(i) texelFetch(x_t, int(i)).x
#else
layout(std430, binding = 0) readonly buffer X_B { float x[]; };
#define LD_X(i) x[i]
#endif
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n, x_off, y_off, act; } p;

void main() {
  uint base = group_index() * WG * EPT + gl_LocalInvocationID.x;
  for (uint j = 0u; j < EPT; j++) {
    uint i = base + j * WG;
    if (i < p.n)
      y[p.y_off + i] = apply_act(p.act, LD_X(p.x_off + i));
  }
}
