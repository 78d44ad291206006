// permute.comp — y[i0..] = x at the index whose dim perm[k] is i_k: the
// output index is decomposed over the output dims and mapped through the
// input strides of the permuted dims (exact copy).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
  uint n, ndim, x_off, y_off;
  uint dims[6], st[6];
} p;

void main() {
  uint i = global_index();
  if (i >= p.n)
    return;
  uint r = i, o = 0u;
  for (int d = int(p.ndim) - 1; d >= 0; d--) {
    o += (r % p.dims[d]) * p.st[d];
    r /= p.dims[d];
  }
  y[p.y_off + i] = x[p.x_off + o];
}
