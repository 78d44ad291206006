/* maxpool2d.c — 2-D max pooling over x [N, C, H, W]: padded taps are ignored
 * (every window holds at least one real element since pad <= kernel/2);
 * a NaN in a window makes that output NaN. Exact. */
#include "op_common.h"

#include <math.h>

tern_status tern_infer_MAXPOOL2D(const tern_op_params *p, const tern_view *in,
                                 int n_in, tern_view *out, tern_err *err) {
  tern_pool_geom g;
  tern_status s = tern_pool_geometry("maxpool2d", p, in, n_in, &g, err);
  if (s)
    return s;
  int64_t shape[4] = {g.N, g.C, g.OH, g.OW};
  tern_op_out_init(out, 4, shape);
  return TERN_OK;
}

tern_status tern_ref_MAXPOOL2D(const tern_op_params *p, const tern_view *in,
                               int n_in, tern_view *out, tern_err *err) {
  tern_pool_geom g;
  tern_status s = tern_pool_geometry("maxpool2d", p, in, n_in, &g, err);
  if (s)
    return s;
  const float *xd = in[0].data;
  float *yd = out->data;
  for (int64_t nc = 0; nc < g.N * g.C; nc++) {
    const float *xp = xd + nc * g.H * g.W;
    for (int64_t oh = 0; oh < g.OH; oh++)
      for (int64_t ow = 0; ow < g.OW; ow++) {
        float m = -INFINITY;
        bool nan = false;
        for (int64_t kh = 0; kh < g.KH; kh++) {
          int64_t ih = oh * g.SH - g.PH + kh;
          if (ih < 0 || ih >= g.H)
            continue;
          for (int64_t kw = 0; kw < g.KW; kw++) {
            int64_t iw = ow * g.SW - g.PW + kw;
            if (iw < 0 || iw >= g.W)
              continue;
            float v = xp[ih * g.W + iw];
            if (v != v)
              nan = true;
            else if (v > m)
              m = v;
          }
        }
        yd[(nc * g.OH + oh) * g.OW + ow] = nan ? NAN : m;
      }
  }
  return TERN_OK;
}
