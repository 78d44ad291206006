// pool.comp — maxpool2d (mode 0), avgpool2d (mode 1) and global_avgpool
// (mode 1 with the whole plane as the window) over NCHW, one invocation per
// output element. Max: padding never wins, NaN propagates. Average: sum of
// the real taps (kh, then kw) from 0, then divided by the count.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
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
layout(push_constant) uniform P {
  uint n, mode, H, W, OH, OW, kh, kw, sh, sw, ph, pw, include_pad;
  uint x_off, y_off;
} p;

void main() {
  uint i = global_index();
  if (i >= p.n)
    return;
  uint ox = i % p.OW, oy = (i / p.OW) % p.OH, plane = i / (p.OW * p.OH);
  uint base = p.x_off + plane * p.H * p.W;
  int y0 = int(oy * p.sh) - int(p.ph), x0 = int(ox * p.sw) - int(p.pw);
  bool first = true;
  float m = 0.0;
  precise float s = 0.0;
  uint cnt = 0u;
  for (uint ky = 0u; ky < p.kh; ky++) {
    int iy = y0 + int(ky);
    if (iy < 0 || iy >= int(p.H))
      continue;
    for (uint kx = 0u; kx < p.kw; kx++) {
      int ix = x0 + int(kx);
      if (ix < 0 || ix >= int(p.W))
        continue;
      float v = LD_X(base + uint(iy) * p.W + uint(ix));
      if (first || v > m || isnan(v))
        m = isnan(m) ? m : v;
      first = false;
      s = s + v;
      cnt++;
    }
  }
  if (p.mode == 0u) {
    y[p.y_off + i] = m;
  } else {
    float c = p.include_pad != 0u ? float(p.kh * p.kw) : float(cnt);
    y[p.y_off + i] = s / c;
  }
}
