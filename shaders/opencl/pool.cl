/* pool.cl — maxpool2d, avgpool2d and global_avgpool over NCHW, one output
 * element per work-item, in the reference's order (kh, then kw). */

typedef struct {
  uint H, W, KH, KW, SH, SW, PH, PW, OH, OW, count_include_pad;
} tern_pool;

kernel void maxpool2d(global const float *x, uint x_off, global float *y,
                      uint y_off, uint total, tern_pool g) {
  uint i = get_global_id(0);
  if (i >= total)
    return;
  uint ow = i % g.OW, oh = (i / g.OW) % g.OH, nc = i / (g.OW * g.OH);
  global const float *xp = x + x_off + (size_t)nc * g.H * g.W;
  float m = -INFINITY;
  int nan = 0;
  for (uint kh = 0; kh < g.KH; kh++) {
    int ih = (int)(oh * g.SH + kh) - (int)g.PH;
    if (ih < 0 || ih >= (int)g.H)
      continue;
    for (uint kw = 0; kw < g.KW; kw++) {
      int iw = (int)(ow * g.SW + kw) - (int)g.PW;
      if (iw < 0 || iw >= (int)g.W)
        continue;
      float v = xp[ih * (int)g.W + iw];
      if (v != v)
        nan = 1;
      else if (v > m)
        m = v;
    }
  }
  y[y_off + i] = nan ? NAN : m;
}

kernel void avgpool2d(global const float *x, uint x_off, global float *y,
                      uint y_off, uint total, tern_pool g) {
  uint i = get_global_id(0);
  if (i >= total)
    return;
  uint ow = i % g.OW, oh = (i / g.OW) % g.OH, nc = i / (g.OW * g.OH);
  global const float *xp = x + x_off + (size_t)nc * g.H * g.W;
  float sum = 0.0f;
  uint count = 0;
  for (uint kh = 0; kh < g.KH; kh++) {
    int ih = (int)(oh * g.SH + kh) - (int)g.PH;
    if (ih < 0 || ih >= (int)g.H)
      continue;
    for (uint kw = 0; kw < g.KW; kw++) {
      int iw = (int)(ow * g.SW + kw) - (int)g.PW;
      if (iw < 0 || iw >= (int)g.W)
        continue;
      sum += xp[ih * (int)g.W + iw];
      count++;
    }
  }
  if (g.count_include_pad)
    count = g.KH * g.KW;
  y[y_off + i] = sum / (float)count;
}

kernel void global_avgpool(global const float *x, uint x_off, global float *y,
                           uint y_off, uint NC, uint HW) {
  uint i = get_global_id(0);
  if (i >= NC)
    return;
  global const float *xp = x + x_off + (size_t)i * HW;
  float sum = 0.0f;
  for (uint j = 0; j < HW; j++)
    sum += xp[j];
  y[y_off + i] = sum / (float)HW;
}
