/* matmul.cl — batched f32 matmul y = (A · B) * alpha with numpy batch
 * broadcasting, one output per work-item, k ascending (the reference's
 * order); rope with interleaved pairs. */

typedef struct {
  uint nb[4], sa[4], sb[4]; /* batch dims (outermost first, padded with 1)
                               and batch strides of A and B in matrices */
} tern_mm;

kernel void matmul(global const float *A, uint a_off, global const float *B,
                   uint b_off, global float *y, uint y_off, uint M, uint N,
                   uint K, uint batches, uint tb, float alpha, tern_mm s) {
  uint n = get_global_id(0), m = get_global_id(1), bi = get_global_id(2);
  if (n >= N || m >= M || bi >= batches)
    return;
  uint r = bi, oa = 0, ob = 0;
  for (int d = 3; d >= 0; d--) {
    uint c = r % s.nb[d];
    r /= s.nb[d];
    oa += c * s.sa[d];
    ob += c * s.sb[d];
  }
  global const float *a = A + a_off + (size_t)oa * M * K + (size_t)m * K;
  global const float *b = B + b_off + (size_t)ob * K * N;
  float acc = 0.0f;
  if (tb)
    for (uint k = 0; k < K; k++)
      acc += a[k] * b[(size_t)n * K + k];
  else
    for (uint k = 0; k < K; k++)
      acc += a[k] * b[(size_t)k * N + n];
  y[y_off + ((size_t)bi * M + m) * N + n] = acc * alpha;
}

kernel void rope(global const float *x, uint x_off, global float *y,
                 uint y_off, uint pairs, uint T, uint D, float theta) {
  uint j = get_global_id(0);
  if (j >= pairs)
    return;
  uint i = j % (D / 2), t = (j / (D / 2)) % T;
  float inv = pow(theta, -(float)(2 * i) / (float)D);
  float angle = (float)t * inv;
  float c = cos(angle), s = sin(angle);
  uint o = 2 * j;
  float x0 = x[x_off + o], x1 = x[x_off + o + 1];
  float u = x0 * c, v = x1 * s;
  float w = x0 * s, z = x1 * c;
  y[y_off + o] = u - v;
  y[y_off + o + 1] = w + z;
}
