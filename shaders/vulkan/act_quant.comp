// act_quant.comp — the activation rule (docs/NUMERICS.md) on the device: one
// workgroup per block (a row of a linear input, a sample of a conv input).
// Writes q as int32 per element (or, with PACKED, four int8 per uint, the
// integer-dot layout), the block scale 2^e and the block's sum of q.
// Variants: SUBGROUP uses subgroup reductions instead of shared memory;
// TEXEL reads x as an RGBA32F texel buffer (needs x_off and cols multiples
// of 4), four values per fetch instead of llvmpipe's lane-by-lane loads.
//   x:    f32 [blocks][cols] at x_off (words)
//   xq:   [blocks][stride] int32 (or uint words of 4 int8, stride in words),
//         zero beyond cols
//   xs:   f32 [blocks] scale 2^e (1 for an all-zero block)
//   xsum: int [blocks] sum of q
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#ifdef SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_basic : require
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;

#ifdef TEXEL
layout(binding = 0) uniform samplerBuffer xt;
#else
layout(std430, binding = 0) readonly buffer X { float x[]; };
#endif
layout(std430, binding = 1) writeonly buffer XQ { int xq[]; };
layout(std430, binding = 2) writeonly buffer XS { float xs[]; };
layout(std430, binding = 3) writeonly buffer XSUM { int xsum[]; };

layout(push_constant) uniform P {
  uint x_off;
  uint blocks;
  uint cols;
  uint stride; // output words per block
  uint xq_off;
} p;

#ifdef SUBGROUP
shared uint s_u[WG];
shared int s_i[WG];
uint reduce_max(uint v) {
  v = subgroupMax(v);
  uint nsg = (WG + gl_SubgroupSize - 1) / gl_SubgroupSize;
  if (subgroupElect())
    s_u[gl_SubgroupID] = v;
  barrier();
  v = 0u;
  for (uint i = 0; i < nsg; i++)
    v = max(v, s_u[i]);
  barrier();
  return v;
}
int reduce_add(int v) {
  v = subgroupAdd(v);
  uint nsg = (WG + gl_SubgroupSize - 1) / gl_SubgroupSize;
  if (subgroupElect())
    s_i[gl_SubgroupID] = v;
  barrier();
  v = 0;
  for (uint i = 0; i < nsg; i++)
    v += s_i[i];
  barrier();
  return v;
}
#else
shared uint s_u[WG];
shared int s_i[WG];
uint reduce_max(uint v) {
  uint l = gl_LocalInvocationID.x;
  s_u[l] = v;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (l < s)
      s_u[l] = max(s_u[l], s_u[l + s]);
    barrier();
  }
  v = s_u[0];
  barrier();
  return v;
}
int reduce_add(int v) {
  uint l = gl_LocalInvocationID.x;
  s_i[l] = v;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (l < s)
      s_i[l] += s_i[l + s];
    barrier();
  }
  v = s_i[0];
  barrier();
  return v;
}
#endif

void main() {
  uint b = group_index();
  if (b >= p.blocks)
    return; // whole workgroup leaves together
  uint l = gl_LocalInvocationID.x;
  uint base = p.x_off + b * p.cols;
  // max |x| as the bits of |x|: for non-negative floats the integer order is
  // the float order, and NaN (above +inf) wins, which marks the block zero.
  uint m = 0u;
#ifdef TEXEL
  int tb = int(base / 4u);
  uint nt = p.cols / 4u;
  for (uint t = l; t < nt; t += WG) {
    uvec4 v = floatBitsToUint(texelFetch(xt, tb + int(t))) & 0x7fffffffu;
    m = max(m, max(max(v.x, v.y), max(v.z, v.w)));
  }
#else
  for (uint k = l; k < p.cols; k += WG)
    m = max(m, floatBitsToUint(x[base + k]) & 0x7fffffffu);
#endif
  m = reduce_max(m);
  int e;
  bool ok = act_exponent(uintBitsToFloat(m), e);
  float inv = ok ? exp2i(-e) : 0.0;
  int sum = 0;
  uint ob = p.xq_off + b * p.stride;
#if defined(TEXEL) && defined(PACKED)
  for (uint w = l; w < p.stride; w += WG) { // word w = texel w
    uint word = 0u;
    if (ok && w < nt) {
      vec4 v = texelFetch(xt, tb + int(w));
      for (uint i = 0; i < 4u; i++) {
        int q = act_quantize(v[i], inv);
        sum += q;
        word |= (uint(q) & 0xffu) << (8u * i);
      }
    }
    xq[ob + w] = int(word);
  }
#elif defined(TEXEL)
  for (uint t = l; t * 4u < p.stride; t += WG) {
    vec4 v = ok && t < nt ? texelFetch(xt, tb + int(t)) : vec4(0.0);
    for (uint i = 0; i < 4u; i++) {
      uint k = 4u * t + i;
      if (k >= p.stride)
        break;
      int q = ok && k < p.cols ? act_quantize(v[i], inv) : 0;
      sum += q;
      xq[ob + k] = q;
    }
  }
#elif defined(PACKED)
  for (uint w = l; w < p.stride; w += WG) {
    uint word = 0u;
    for (uint i = 0; i < 4u; i++) {
      uint k = 4u * w + i;
      int q = (ok && k < p.cols) ? act_quantize(x[base + k], inv) : 0;
      sum += q;
      word |= (uint(q) & 0xffu) << (8u * i);
    }
    xq[ob + w] = int(word);
  }
#else
  for (uint k = l; k < p.stride; k += WG) {
    int q = (ok && k < p.cols) ? act_quantize(x[base + k], inv) : 0;
    sum += q;
    xq[ob + k] = q;
  }
#endif
  sum = reduce_add(sum);
  if (l == 0u) {
    xs[b] = ok ? exp2i(e) : 1.0;
    xsum[b] = sum;
  }
}
