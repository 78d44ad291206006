// rowreduce.comp — the row ops over the last axis, one workgroup per row
// with shared-memory reductions (order differs from the reference: these
// ops carry a tolerance, docs/OPS.md):
//   mode 0 softmax:   y = exp(x - max) / sum exp(x - max)
//   mode 1 layernorm: y = ((x - mean) * r) * gamma + beta, r = 1/sqrt(var+eps)
//   mode 2 rmsnorm:   y = (x * r) * gamma, r = 1/sqrt(mean(x^2) + eps)
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer G { float gamma[]; };
layout(std430, binding = 2) readonly buffer B { float beta[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
  uint rows, D, mode, x_off, y_off, g_off, b_off;
  float eps;
} p;

shared float s_f[WG];

float reduce_sum(float v) {
  uint l = gl_LocalInvocationID.x;
  s_f[l] = v;
  barrier();
  for (uint s = WG / 2u; s > 0u; s >>= 1) {
    if (l < s)
      s_f[l] = s_f[l] + s_f[l + s];
    barrier();
  }
  v = s_f[0];
  barrier();
  return v;
}

float reduce_max(float v) {
  uint l = gl_LocalInvocationID.x;
  s_f[l] = v;
  barrier();
  for (uint s = WG / 2u; s > 0u; s >>= 1) {
    if (l < s) {
      float o = s_f[l + s];
      if (o > s_f[l] || isnan(o))
        s_f[l] = isnan(s_f[l]) ? s_f[l] : o;
    }
    barrier();
  }
  v = s_f[0];
  barrier();
  return v;
}

void main() {
  uint r = group_index();
  if (r >= p.rows)
    return;
  uint l = gl_LocalInvocationID.x;
  uint xb = p.x_off + r * p.D, yb = p.y_off + r * p.D;
  if (p.mode == 0u) {
    float m = -1.0 / 0.0;
    for (uint i = l; i < p.D; i += WG) {
      float v = x[xb + i];
      if (v > m || isnan(v))
        m = isnan(m) ? m : v;
    }
    m = reduce_max(m);
    float s = 0.0;
    for (uint i = l; i < p.D; i += WG)
      s += exp(x[xb + i] - m);
    s = reduce_sum(s);
    for (uint i = l; i < p.D; i += WG)
      y[yb + i] = exp(x[xb + i] - m) / s;
  } else if (p.mode == 1u) {
    float s = 0.0;
    for (uint i = l; i < p.D; i += WG)
      s += x[xb + i];
    float mean = reduce_sum(s) / float(p.D);
    float q = 0.0;
    for (uint i = l; i < p.D; i += WG) {
      float d = x[xb + i] - mean;
      q += d * d;
    }
    float var = reduce_sum(q) / float(p.D);
    float rr = 1.0 / sqrt(var + p.eps);
    for (uint i = l; i < p.D; i += WG) {
      precise float t = (x[xb + i] - mean) * rr;
      precise float v = t * gamma[p.g_off + i] + beta[p.b_off + i];
      y[yb + i] = v;
    }
  } else {
    float q = 0.0;
    for (uint i = l; i < p.D; i += WG) {
      float v = x[xb + i];
      q += v * v;
    }
    float ms = reduce_sum(q) / float(p.D);
    float rr = 1.0 / sqrt(ms + p.eps);
    for (uint i = l; i < p.D; i += WG) {
      precise float t = x[xb + i] * rr;
      precise float v = t * gamma[p.g_off + i];
      y[yb + i] = v;
    }
  }
}
