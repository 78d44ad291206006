// im2col.comp — unfolds one group of an NCHW input into GEMM rows for conv2d:
// row r = (image, oy, ox), column kk = (ic * KH + ky) * KW + kx (the layout
// of conv weight rows [OC, IC/g, KH, KW]); taps in the padding are zero.
// Default: int32 q in, int32 out with row stride Kp, plus the row's sum of q
// (the ternary offset correction). PACKED: int32 q in, four int8 per uint
// out (stride in words). FLOAT: f32 in and out (stride K), no sum.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

#ifdef FLOAT
#define T float
#else
#define T int
#endif
#ifdef TEXEL
// one value per texel (R32 view): gathered for all lanes at once on llvmpipe
#ifdef FLOAT
layout(binding = 0) uniform samplerBuffer x_t;
#else
layout(binding = 0) uniform isamplerBuffer x_t;
#endif
#define LD_X(i) texelFetch(x_t, int(i)).x
#else
layout(std430, binding = 0) readonly buffer X { T x[]; };
#define LD_X(i) x[i]
#endif
layout(std430, binding = 1) writeonly buffer C { T col[]; };
layout(std430, binding = 2) writeonly buffer S { int rsum[]; };

layout(push_constant) uniform P {
  uint C, H, W, OH, OW, KH, KW;
  uint sh, sw, ph, pw, dh, dw;
  uint ICg, c0;   // channels per group, first channel of this group
  uint Kc;        // ICg * KH * KW
  uint stride;    // output row stride (elements, or words when PACKED)
  uint rows;      // N * OH * OW
  uint x_off;
} p;

T tap(uint img, uint kk, uint oy, uint ox) {
  if (kk >= p.Kc)
    return T(0);
  uint kx = kk % p.KW;
  uint ky = (kk / p.KW) % p.KH;
  uint ic = kk / (p.KW * p.KH);
  int iy = int(oy * p.sh + ky * p.dh) - int(p.ph);
  int ix = int(ox * p.sw + kx * p.dw) - int(p.pw);
  if (iy < 0 || ix < 0 || iy >= int(p.H) || ix >= int(p.W))
    return T(0);
  return LD_X(p.x_off + ((img * p.C + p.c0 + ic) * p.H + uint(iy)) * p.W +
              uint(ix));
}

void main() {
  uint r = global_index();
  if (r >= p.rows)
    return;
  uint ohw = p.OH * p.OW;
  uint img = r / ohw, pix = r % ohw;
  uint oy = pix / p.OW, ox = pix % p.OW;
  uint ob = r * p.stride;
#if defined(FLOAT)
  for (uint kk = 0; kk < p.stride; kk++)
    col[ob + kk] = tap(img, kk, oy, ox);
#elif defined(PACKED)
  int s = 0;
  for (uint wd = 0; wd < p.stride; wd++) {
    uint word = 0u;
    for (uint i = 0; i < 4u; i++) {
      int q = tap(img, 4u * wd + i, oy, ox);
      s += q;
      word |= (uint(q) & 0xffu) << (8u * i);
    }
    col[ob + wd] = int(word);
  }
  rsum[r] = s;
#else
  int s = 0;
  for (uint kk = 0; kk < p.stride; kk++) {
    int q = tap(img, kk, oy, ox);
    s += q;
    col[ob + kk] = q;
  }
  rsum[r] = s;
#endif
}
