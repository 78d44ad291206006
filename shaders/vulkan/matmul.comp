// matmul.comp — batched y = (sum_k A[m,k] * B[k,n]) * alpha (B read as
// [N, K] with transpose_b), k ascending from 0 (precise), batch dims
// broadcast through strides that are 0 on broadcast dims. One invocation per
// output element.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
  uint n, M, N, K, nb, transpose_b;
  float alpha;
  uint a_off, b_off, y_off;
  uint bd[4], sa[4], sb[4];
} p;

void main() {
  uint i = global_index();
  if (i >= p.n)
    return;
  uint col = i % p.N, row = (i / p.N) % p.M, bi = i / (p.N * p.M);
  uint oa = 0u, ob = 0u;
  for (int d = int(p.nb) - 1; d >= 0; d--) {
    uint c = bi % p.bd[d];
    bi /= p.bd[d];
    oa += c * p.sa[d];
    ob += c * p.sb[d];
  }
  uint ab = p.a_off + oa + row * p.K;
  precise float acc = 0.0;
  if (p.transpose_b != 0u) {
    uint bb = p.b_off + ob + col * p.K;
    for (uint k = 0u; k < p.K; k++) {
      precise float t = a[ab + k] * b[bb + k];
      acc = acc + t;
    }
  } else {
    uint bb = p.b_off + ob + col;
    for (uint k = 0u; k < p.K; k++) {
      precise float t = a[ab + k] * b[bb + k * p.N];
      acc = acc + t;
    }
  }
  precise float v = acc * p.alpha;
  y[p.y_off + i] = v;
}
