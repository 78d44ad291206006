/* common.cl — prepended to every tern OpenCL program: the numeric contract
 * of docs/NUMERICS.md in OpenCL C 1.2 (activation rule from the float's
 * bits, round-half-even, the quantized epilogue with each step rounded). */
#pragma OPENCL FP_CONTRACT OFF
#ifdef TERN_FORCE_BUILD_ERROR
#error "build failure requested by -DTERN_FORCE_BUILD_ERROR"
#endif
#ifndef ACT
#define ACT 0
#endif
#ifdef TERN_INT_DOT
#pragma OPENCL EXTENSION cl_khr_integer_dot_product : enable
#endif
#ifdef TERN_SUBGROUPS
#pragma OPENCL EXTENSION cl_khr_subgroups : enable
#endif

/* Exponent e of the power-of-two activation scale of a block whose largest
 * |x| has the bits absbits; 0 (zero block, scale 1) for tiny or non-finite
 * blocks. Integer arithmetic only, so every device agrees. */
inline int tern_act_exp(uint absbits, int *e) {
  uint be = absbits >> 23;
  if (be == 0xffu || absbits < 0x0d800000u) {
    *e = 0;
    return 0;
  }
  int E = (int)be - 126;
  *e = (absbits & 0x7fffffu) <= 0x7e0000u ? E - 7 : E - 6;
  return 1;
}

inline float tern_exp2i(int e) { return as_float((uint)(e + 127) << 23); }

/* q = clamp(roundEven(x * 2^-e), -127, 127); inv = 2^-e makes it exact. */
inline char tern_q8(float x, float inv) {
  float v = rint(x * inv);
  v = v > 127.0f ? 127.0f : v;
  v = v < -127.0f ? -127.0f : v;
  return (char)(int)v;
}

/* ((float)acc * ws) * xs + b, each step rounded on its own */
inline float tern_epilogue(int acc, float ws, float xs, float b) {
  float t = (float)acc * ws;
  t = t * xs;
  return t + b;
}

inline float tern_act(float v) {
#if ACT == 1
  return v > 0.0f ? v : 0.0f;
#elif ACT == 2
  return v > 0.0f ? (v < 6.0f ? v : 6.0f) : 0.0f;
#elif ACT == 3
  float u = 0.7978845608f * (v + 0.044715f * v * v * v);
  return 0.5f * v * (1.0f + tanh(u));
#elif ACT == 4
  return v / (1.0f + exp(-v));
#else
  return v;
#endif
}

/* tern_act on 8 lanes, lane for lane the same values (select keeps the
 * reference's +0 for v <= 0 and its NaN handling) */
inline float8 tern_act8(float8 v) {
#if ACT == 1
  return select((float8)(0.0f), v, v > (float8)(0.0f));
#elif ACT == 2
  float8 r = select((float8)(6.0f), v, v < (float8)(6.0f));
  return select((float8)(0.0f), r, v > (float8)(0.0f));
#elif ACT == 3
  float8 u = 0.7978845608f * (v + 0.044715f * v * v * v);
  return 0.5f * v * (1.0f + tanh(u));
#elif ACT == 4
  return v / (1.0f + exp(-v));
#else
  return v;
#endif
}

/* Exact dot product of 4 int8 pairs (the integer dot product tier when on;
 * integer sums are exact, so both forms agree). */
inline int tern_dot4(char4 a, char4 b) {
#ifdef TERN_INT_DOT
  return dot(a, b);
#else
  int4 p = convert_int4(a) * convert_int4(b);
  return (p.x + p.y) + (p.z + p.w);
#endif
}
