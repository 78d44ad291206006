// dwconv.comp — direct depthwise conv2d (groups == C, OC = mult * C: output
// channel oc reads input channel oc / mult) over NCHW, the whole layer (all
// channels, all samples) in one dispatch, one invocation per output element.
// Taps are visited as the reference does (kh, then kw; padding taps
// skipped), so:
//   default (int8/ternary weights): x = the sample's int8 codes from
//     act_quant (one int per texel), w = int32 q per tap; the exact int32
//     sum, then y = act(((float(acc) * ws[oc]) * xs[n]) + bias[oc]), every
//     step rounded on its own (precise), as tern_q_epilogue does;
//   FLOAT (f32 weights): one accumulator from 0, each product and sum
//     rounded (precise), then + bias: the reference's own order.
// w: [OC][KH*KW] one value per texel (R32 view); TEXEL: x through an R32
// view (llvmpipe gathers texel fetches for all lanes), else a storage
// buffer.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

#ifdef FLOAT
#define T float
layout(binding = 1) uniform samplerBuffer w_t;
#else
#define T int
layout(binding = 1) uniform isamplerBuffer w_t;
#endif
#ifdef TEXEL
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
layout(std430, binding = 2) readonly buffer WS { float wsc[]; };
layout(std430, binding = 3) readonly buffer BIAS { float bias[]; };
layout(std430, binding = 4) readonly buffer XS { float xs[]; };
layout(std430, binding = 5) writeonly buffer Y { float y[]; };

layout(push_constant) uniform P {
  uint total;         // N * OC * OH * OW
  uint C, H, W, OC, OH, OW, KH, KW;
  uint sh, sw, ph, pw, dh, dw;
  uint mult;          // OC / C
  uint x_off, xs_off, y_off;
  uint ws_per_tensor, has_bias, act;
} p;

void main() {
  uint i = global_index();
  if (i >= p.total)
    return;
  uint ox = i % p.OW;
  uint t = i / p.OW;
  uint oy = t % p.OH;
  t /= p.OH;
  uint oc = t % p.OC;
  uint img = t / p.OC;
  uint c = oc / p.mult;
  uint xb = p.x_off + (img * p.C + c) * p.H * p.W;
  uint wb = oc * p.KH * p.KW;
  int y0 = int(oy * p.sh) - int(p.ph), x0 = int(ox * p.sw) - int(p.pw);
#ifdef FLOAT
  precise float acc = 0.0;
#else
  int acc = 0;
#endif
  for (uint ky = 0u; ky < p.KH; ky++) {
    int iy = y0 + int(ky * p.dh);
    if (iy < 0 || iy >= int(p.H))
      continue; // padding: contributes nothing
    uint xr = xb + uint(iy) * p.W;
    uint wr = wb + ky * p.KW;
    for (uint kx = 0u; kx < p.KW; kx++) {
      int ix = x0 + int(kx * p.dw);
      if (ix < 0 || ix >= int(p.W))
        continue;
      T xv = LD_X(xr + uint(ix));
      T wv = texelFetch(w_t, int(wr + kx)).x;
#ifdef FLOAT
      precise float prod = xv * wv;
      acc = acc + prod;
#else
      acc += xv * wv;
#endif
    }
  }
#ifdef FLOAT
  precise float v = acc;
  if (p.has_bias != 0u)
    v = v + bias[oc];
#else
  float ws = wsc[p.ws_per_tensor != 0u ? 0u : oc];
  float b = p.has_bias != 0u ? bias[oc] : 0.0;
  precise float t1 = float(acc) * ws;
  precise float t2 = t1 * xs[p.xs_off + img];
  precise float v = t2 + b;
#endif
  y[p.y_off + i] = apply_act(p.act, v);
}
