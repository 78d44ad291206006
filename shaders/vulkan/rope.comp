// rope.comp — rotary embedding on interleaved pairs (2i, 2i+1) of
// x [..., T, D]. cos/sin of (float)t * theta^(-2i/D) come from a table the
// host computes once with the reference's formula, so only the rotation
// runs here, each step rounded: y0 = x0*c - x1*s, y1 = x0*s + x1*c.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer CS { vec2 cs[]; }; // [T][D/2]
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n, T, H, x_off, y_off; } p; // H = D/2

void main() {
  uint i = global_index(); // pair index
  if (i >= p.n)
    return;
  uint h = i % p.H, t = (i / p.H) % p.T;
  vec2 c = cs[t * p.H + h];
  float x0 = x[p.x_off + 2u * i], x1 = x[p.x_off + 2u * i + 1u];
  precise float a0 = x0 * c.x;
  precise float b0 = x1 * c.y;
  precise float y0 = a0 - b0;
  precise float a1 = x0 * c.y;
  precise float b1 = x1 * c.x;
  precise float y1 = a1 + b1;
  y[p.y_off + 2u * i] = y0;
  y[p.y_off + 2u * i + 1u] = y1;
}
