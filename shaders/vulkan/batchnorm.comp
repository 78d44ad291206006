// batchnorm.comp — y = (x - mean[c]) * k + beta[c], k = gamma[c] /
// sqrt(var[c] + eps), each step rounded; x is [N, C, inner...].
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer G { float gamma[]; };
layout(std430, binding = 2) readonly buffer B { float beta[]; };
layout(std430, binding = 3) readonly buffer M { float mean[]; };
layout(std430, binding = 4) readonly buffer V { float var[]; };
layout(std430, binding = 5) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
  uint n, C, inner, x_off, y_off, g_off, b_off, m_off, v_off;
  float eps;
} p;

void main() {
  uint i = global_index();
  if (i >= p.n)
    return;
  uint c = (i / p.inner) % p.C;
  precise float ve = var[p.v_off + c] + p.eps;
  precise float k = gamma[p.g_off + c] / sqrt(ve);
  precise float d = x[p.x_off + i] - mean[p.m_off + c];
  precise float t = d * k;
  precise float v = t + beta[p.b_off + c];
  y[p.y_off + i] = v;
}
