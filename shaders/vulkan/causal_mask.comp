// causal_mask.comp — y[i][j] = -inf where j > i + (S - T), else x (exact).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n, T, S, x_off, y_off; } p;

void main() {
  uint i = global_index();
  if (i >= p.n)
    return;
  uint j = i % p.S, r = (i / p.S) % p.T;
  // signed: S < T (more queries than keys) makes the offset negative
  bool masked = int(j) > int(r) + (int(p.S) - int(p.T));
  y[p.y_off + i] = masked ? uintBitsToFloat(0xff800000u) : x[p.x_off + i];
}
