// common.glsl — helpers shared by the tern compute shaders: the global
// invocation index over a 2-D grid, the activation rule's exponent (integer
// bit operations only, docs/NUMERICS.md), exact powers of two and the fused
// activations. Included, never compiled on its own.
#ifndef TERN_COMMON_GLSL
#define TERN_COMMON_GLSL

#define ACT_NONE 0
#define ACT_RELU 1
#define ACT_RELU6 2
#define ACT_GELU 3
#define ACT_SILU 4

// Linear invocation index when the dispatch is split over x and y.
uint global_index() {
  return gl_GlobalInvocationID.x +
         gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
}
uint group_index() {
  return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
}

// 2^e for e in [-126, 127], exact.
float exp2i(int e) { return uintBitsToFloat(uint(e + 127) << 23); }

// Exponent e of the activation scale 2^e for a block whose max |x| is m:
// the smallest e with m <= 127 * 2^e. Returns false for a block that
// quantizes to zero (m not finite or below 2^-100). Mirrors
// tern_act_exponent bit for bit.
bool act_exponent(float m, out int e) {
  uint bits = floatBitsToUint(m) & 0x7fffffffu;
  uint be = bits >> 23;
  e = 0;
  if (be == 0xffu || bits < 0x0d800000u)
    return false;
  int E = int(be) - 126;
  uint man = bits & 0x7fffffu;
  e = man <= 0x7e0000u ? E - 7 : E - 6;
  return true;
}

// |x| that keeps NaN (so that the max reduction sees it).
float absmax_step(float m, float x) {
  float a = abs(x);
  return (a > m || isnan(a)) ? a : m;
}

// q = clamp(roundEven(x * 2^-e)): the product is exact (power of two).
int act_quantize(float x, float inv) {
  precise float v = x * inv;
  return clamp(int(roundEven(v)), -127, 127);
}

float tern_tanh(float u) {
  // tanh through exp(-2|u|): no inf/inf for large |u|
  float a = abs(u);
  if (a > 15.0)
    return sign(u);
  float t = exp(-2.0 * a);
  float r = (1.0 - t) / (1.0 + t);
  return u < 0.0 ? -r : r;
}

float apply_act(uint act, float v) {
  if (act == ACT_RELU)
    return v > 0.0 ? v : 0.0;
  if (act == ACT_RELU6)
    return v > 0.0 ? (v < 6.0 ? v : 6.0) : 0.0;
  if (act == ACT_GELU) {
    precise float u = 0.7978845608 * (v + 0.044715 * v * v * v);
    return 0.5 * v * (1.0 + tern_tanh(u));
  }
  if (act == ACT_SILU)
    return v / (1.0 + exp(-v));
  return v;
}

#endif
