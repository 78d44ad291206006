/* avgpool2d.c — 2-D average pooling over x [N, C, H, W]: the real taps of a
 * window summed in row-major order (kh, then kw) from 0.0f, then divided by
 * KH*KW (count_include_pad = 1: padded taps count as zeros) or by the number
 * of real taps (count_include_pad = 0). */
#include "op_common.h"

tern_status tern_infer_AVGPOOL2D(const tern_op_params *p, const tern_view *in,
                                 int n_in, tern_view *out, tern_err *err) {
  tern_pool_geom g;
  tern_status s = tern_pool_geometry("avgpool2d", p, in, n_in, &g, err);
  if (s)
    return s;
  if (p->count_include_pad != 0 && p->count_include_pad != 1)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "avgpool2d: count_include_pad must be 0 or 1, got %d",
                        p->count_include_pad);
  int64_t shape[4] = {g.N, g.C, g.OH, g.OW};
  tern_op_out_init(out, 4, shape);
  return TERN_OK;
}

tern_status tern_ref_AVGPOOL2D(const tern_op_params *p, const tern_view *in,
                               int n_in, tern_view *out, tern_err *err) {
  tern_pool_geom g;
  tern_status s = tern_pool_geometry("avgpool2d", p, in, n_in, &g, err);
  if (s)
    return s;
  const float *xd = in[0].data;
  float *yd = out->data;
  for (int64_t nc = 0; nc < g.N * g.C; nc++) {
    const float *xp = xd + nc * g.H * g.W;
    for (int64_t oh = 0; oh < g.OH; oh++)
      for (int64_t ow = 0; ow < g.OW; ow++) {
        float sum = 0.0f;
        int64_t count = 0;
        for (int64_t kh = 0; kh < g.KH; kh++) {
          int64_t ih = oh * g.SH - g.PH + kh;
          if (ih < 0 || ih >= g.H)
            continue;
          for (int64_t kw = 0; kw < g.KW; kw++) {
            int64_t iw = ow * g.SW - g.PW + kw;
            if (iw < 0 || iw >= g.W)
              continue;
            sum += xp[ih * g.W + iw];
            count++;
          }
        }
        if (p->count_include_pad)
          count = g.KH * g.KW;
        yd[(nc * g.OH + oh) * g.OW + ow] = sum / (float)count;
      }
  }
  return TERN_OK;
}
