/* vk_gemm.c — weight repacking and dispatch of the GEMM kernels shared by
 * linear and conv2d (fgemm, qgemm_swar, qgemm_dot). */
#include "vk_gemm.h"

#include <string.h>

tern_vk_wkind tern_vk_gemm_kind(const tern_device *dev, tern_dtype dtype,
                                bool *use_dot) {
  bool dot = (dev->tiers & TERN_VK_TIER_INT_DOT) != 0;
  *use_dot = false;
  if (dtype == TERN_DTYPE_F32)
    return TERN_VK_W_F32;
  if (dtype == TERN_DTYPE_I8) {
    *use_dot = dot;
    return TERN_VK_W_I8;
  }
  /* Ternary: the packed-int16 kernel beats an emulated dot product; use the
   * dot kernel where the driver says it is accelerated, or when asked. */
  if (dot && dev->gemm_mode != 1 &&
      (dev->gemm_mode == 2 || dev->pd->int_dot_fast)) {
    *use_dot = true;
    return TERN_VK_W_DOT_T;
  }
  if (dev->gemm_mode == 3)
    return TERN_VK_W_DOT_T;
  return TERN_VK_W_SWAR;
}

uint32_t tern_vk_gemm_kp(tern_vk_wkind kind, uint32_t K) {
  /* x rows are read 16 int8 per texel; SWAR splits its sums every 128 k
   * in steps of 16 and needs whole 32-k uvec4 pairs */
  uint32_t a = kind == TERN_VK_W_SWAR ? 32 : kind == TERN_VK_W_F32 ? 4 : 16;
  return (K + a - 1) / a * a;
}

/* Canonical weight element (n, k) of the view, with kernel padding. */
static inline int code_at(const tern_view *w, uint32_t K, uint32_t rows,
                          uint32_t n, uint32_t k) {
  if (n >= rows || k >= K)
    return 1; /* code of q = 0 */
  const uint8_t *row = (const uint8_t *)w->data + (size_t)n * ((K + 3) / 4);
  return tern_ternary_get(row, k);
}
static inline int8_t i8_at(const tern_view *w, uint32_t K, uint32_t rows,
                           uint32_t n, uint32_t k) {
  if (n >= rows || k >= K)
    return 0;
  return ((const int8_t *)w->data)[(size_t)n * K + k];
}

/* Fill one chunk of nc channels starting at local row r0. */
static void fill_chunk(const tern_vk_gemm *g, const tern_view *w, uint32_t rows,
                       uint32_t r0, uint32_t nc, void *dst) {
  uint32_t K = g->K, Kp = g->Kp;
  switch (g->kind) {
  case TERN_VK_W_F32: {
    float *o = dst;
    const float *src = w->data;
    uint32_t K4 = Kp / 4, nc4 = (nc + 3) & ~3u;
    uint32_t lim = r0 + nc < rows ? r0 + nc : rows;
    for (uint32_t k4 = 0; k4 < K4; k4++)
      for (uint32_t n = 0; n < nc4; n++)
        for (uint32_t i = 0; i < 4; i++) {
          uint32_t k = 4 * k4 + i, r = r0 + n;
          o[((size_t)k4 * nc4 + n) * 4 + i] =
              (k < K && r < lim) ? src[(size_t)r * K + k] : 0.0f;
        }
    break;
  }
  case TERN_VK_W_SWAR: {
    /* uvec4 [Kp/8][NQ]: component j of (b, q) is pair 4q + j, k 8b..8b+7 */
    uint32_t *o = dst, nq = (nc + 7) / 8, KB = Kp / 8;
    uint32_t lim = r0 + nc < rows ? r0 + nc : rows;
    for (uint32_t b = 0; b < KB; b++)
      for (uint32_t q = 0; q < nq; q++)
        for (uint32_t j = 0; j < 4; j++) {
          uint32_t word = 0, n0 = r0 + 8 * q + 2 * j, n1 = n0 + 1;
          for (uint32_t i = 0; i < 8; i++) {
            uint32_t k = 8 * b + i;
            word |= (uint32_t)code_at(w, K, lim, n0, k) << (2 * i);
            word |= (uint32_t)code_at(w, K, lim, n1, k) << (16 + 2 * i);
          }
          o[((size_t)b * nq + q) * 4 + j] = word;
        }
    break;
  }
  case TERN_VK_W_DOT_T: {
    uint32_t *o = dst, KW = Kp / 16, nc4 = (nc + 3) & ~3u;
    uint32_t lim = r0 + nc < rows ? r0 + nc : rows;
    for (uint32_t kw = 0; kw < KW; kw++)
      for (uint32_t n = 0; n < nc4; n++) {
        uint32_t word = 0;
        for (uint32_t t = 0; t < 4; t++)
          for (uint32_t i = 0; i < 4; i++)
            word |= (uint32_t)code_at(w, K, lim, r0 + n, 16 * kw + 4 * t + i)
                    << (8 * i + 2 * t);
        o[(size_t)kw * nc4 + n] = word;
      }
    break;
  }
  case TERN_VK_W_I8: {
    uint32_t *o = dst, KW = Kp / 4, nc4 = (nc + 3) & ~3u;
    uint32_t lim = r0 + nc < rows ? r0 + nc : rows;
    for (uint32_t kw = 0; kw < KW; kw++)
      for (uint32_t n = 0; n < nc4; n++) {
        uint32_t word = 0;
        for (uint32_t i = 0; i < 4; i++)
          word |= (uint32_t)(uint8_t)i8_at(w, K, lim, r0 + n, 4 * kw + i)
                  << (8 * i);
        o[(size_t)kw * nc4 + n] = word;
      }
    break;
  }
  }
}

/* Bytes one output channel takes in the kernel layout. */
static uint64_t channel_bytes(const tern_vk_gemm *g) {
  switch (g->kind) {
  case TERN_VK_W_F32:
    return (uint64_t)g->Kp * 4;
  case TERN_VK_W_SWAR:
    return (uint64_t)g->Kp / 4; /* 2 bits per k */
  case TERN_VK_W_DOT_T:
    return (uint64_t)g->Kp / 4;
  default:
    return (uint64_t)g->Kp;
  }
}

tern_status tern_vk_gemm_prepare(tern_device *dev, tern_vk_node *n,
                                 const tern_view *w, uint32_t N, uint32_t K,
                                 uint32_t row0, uint32_t rows, uint64_t M,
                                 tern_vk_gemm *g, tern_err *err) {
  g->kind = tern_vk_gemm_kind(dev, w->dtype, &g->use_dot);
  g->N = N;
  g->K = K;
  g->Kp = tern_vk_gemm_kp(g->kind, K);
  /* an invocation owns 8 (packed-int16) or 4 channels: a workgroup wider
   * than the node's channel blocks would only idle (narrow conv layers,
   * depthwise groups of one channel) */
  uint32_t units = g->kind == TERN_VK_W_SWAR ? (rows + 7) / 8 : (rows + 3) / 4;
  /* the subgroup variant broadcasts x rows from lanes 0..3 */
  bool sg = g->kind == TERN_VK_W_SWAR && (dev->tiers & TERN_VK_TIER_SUBGROUP) &&
            dev->tune.sg_bcast;
  g->wg = dev->tune.gemm_wg;
  while (g->wg > (sg ? 4u : 1u) && g->wg / 2 >= units)
    g->wg /= 2;
  g->tm =
      M <= 1 ? 1 : (M < dev->tune.gemm_tm ? (uint32_t)M : dev->tune.gemm_tm);
  if (g->tm > 4)
    g->tm = 4; /* the kernels keep at most 4 rows in registers */
  /* The view's rows [row0, row0+rows): offset the data pointer. */
  tern_view sub = *w;
  size_t row_bytes = w->dtype == TERN_DTYPE_F32  ? (size_t)K * 4
                     : w->dtype == TERN_DTYPE_I8 ? (size_t)K
                                                 : (size_t)(K + 3) / 4;
  sub.data = (uint8_t *)w->data + (size_t)row0 * row_bytes;
  uint64_t cb = channel_bytes(g);
  uint64_t lim = dev->limits.maxStorageBufferRange;
  if ((uint64_t)dev->limits.maxTexelBufferElements * 16 < lim)
    lim = (uint64_t)dev->limits.maxTexelBufferElements * 16;
  if (lim > ((uint64_t)1 << 31))
    lim = (uint64_t)1 << 31;
  uint64_t per = cb ? lim / cb : rows;
  if (g->kind == TERN_VK_W_SWAR)
    per &= ~(uint64_t)7; /* whole quads of pairs */
  else
    per &= ~(uint64_t)3; /* whole quads of channels */
  if (per < 8)
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "weight rows of %u elements exceed the device's "
                        "storage buffer range",
                        K);
  for (uint32_t r = 0; r < rows; r += (uint32_t)per) {
    if (g->n_chunks == (int)(sizeof g->chunks / sizeof g->chunks[0]))
      return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                          "weights need more than %d buffers", g->n_chunks);
    uint32_t nc = rows - r < per ? rows - r : (uint32_t)per;
    uint32_t ncs = g->kind == TERN_VK_W_SWAR ? (nc + 7) & ~7u : (nc + 3) & ~3u;
    size_t bytes = (size_t)(cb * ncs);
    void *host = tern_malloc(bytes);
    if (!host)
      return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY,
                          "out of memory repacking weights");
    fill_chunk(g, &sub, rows, r, nc, host);
    tern_vk_mem *m = tern_vk_node_scratch(dev, n, bytes, err);
    tern_status s =
        m ? tern_vk_mem_write(dev, m, 0, host, bytes, err) : err->status;
    tern_free(host);
    if (s)
      return s;
    tern_vk_binding tb = {0};
    s = g->kind == TERN_VK_W_F32 ? tern_vk_node_texel_f32(dev, n, m, &tb, err)
                                 : tern_vk_node_texel(dev, n, m, &tb, err);
    if (s)
      return s;
    g->chunks[g->n_chunks++] = (tern_vk_wchunk){m, tb, row0 + r, nc};
  }
  return TERN_OK;
}

tern_status tern_vk_gemm_scales(tern_device *dev, tern_vk_node *n,
                                const tern_view *w, int bias_in,
                                tern_vk_gemm *g, tern_err *err) {
  tern_status s;
  if (w->dtype != TERN_DTYPE_F32) {
    size_t cnt = (size_t)w->scale_count;
    g->ws_per_tensor = cnt == 1;
    g->ws = tern_vk_node_scratch(dev, n, cnt * 4, err);
    if (!g->ws)
      return err->status;
    if ((s = tern_vk_mem_write(dev, g->ws, 0, w->scales, cnt * 4, err)))
      return s;
  }
  if (bias_in >= 0) {
    if ((s = tern_vk_upload_const(dev, n, bias_in, err)))
      return s;
    g->bias = n->consts[bias_in];
    g->has_bias = g->bias != NULL;
  }
  if (!g->bias) { /* bind something valid; the kernel does not read it */
    g->bias = g->ws ? g->ws : tern_vk_node_scratch(dev, n, 4, err);
    if (!g->bias)
      return err->status;
  }
  if (!g->ws)
    g->ws = g->bias;
  return TERN_OK;
}

tern_status tern_vk_gemm_run(tern_device *dev, const tern_vk_gemm *g,
                             tern_vk_binding x, uint32_t x_stride,
                             tern_vk_binding xs, tern_vk_binding xsum,
                             uint32_t M, uint32_t R, tern_vk_binding out,
                             uint32_t act, tern_err *err) {
  uint32_t spec[2] = {g->wg, g->tm};
  bool fl = g->kind == TERN_VK_W_F32;
  int n_spec = 2;
  const tern_vk_pipeline *pipe;
  bool sg = (dev->tiers & TERN_VK_TIER_SUBGROUP) && dev->tune.sg_bcast;
  const char *name = g->kind == TERN_VK_W_F32 ? "fgemm"
                     : g->kind == TERN_VK_W_SWAR
                         ? (sg ? "qgemm_swar_sg" : "qgemm_swar")
                     : g->kind == TERN_VK_W_DOT_T
                         ? (g->use_dot ? "qgemm_dot_t_dot" : "qgemm_dot_t")
                         : (g->use_dot ? "qgemm_dot_i8_dot" : "qgemm_dot_i8");
  int nb = g->kind == TERN_VK_W_F32 ? 4 : 7;
  tern_status s = tern_vk_pipeline_get_ex(dev, name, nb, fl ? 3 : 9, spec,
                                          n_spec, &pipe, err);
  if (s)
    return s;
  /* grid x = row blocks (consecutive workgroups share weights in cache),
   * y = channel blocks; rows in dispatches of at most 65535 along x */
  uint32_t max_gx = dev->limits.maxComputeWorkGroupCount[0];
  if (max_gx > 65535)
    max_gx = 65535;
  uint32_t rows_per = max_gx * g->tm;
  for (uint32_t mb = 0; mb < M; mb += rows_per) {
    uint32_t mrows = M - mb < rows_per ? M - mb : rows_per;
    uint32_t gr = (mrows + g->tm - 1) / g->tm;
    for (int c = 0; c < g->n_chunks; c++) {
      const tern_vk_wchunk *ch = &g->chunks[c];
      tern_vk_binding bb = tern_vk_bind(dev, g->bias, 0);
      if (g->kind == TERN_VK_W_F32) {
        struct {
          uint32_t M, N, NC, n0, K4, R, out_off, has_bias, act, mb;
        } pc = {M, g->N,     ch->nc,      ch->n0, g->Kp / 4,
                R, out.word, g->has_bias, act,    mb};
        tern_vk_binding b[4] = {x, ch->tb, bb, out};
        uint32_t gc = ((ch->nc + 3) / 4 + g->wg - 1) / g->wg;
        s = tern_vk_dispatch(dev, pipe, b, &pc, sizeof pc, gr, gc, 1, err);
      } else {
        bool swar = g->kind == TERN_VK_W_SWAR;
        uint32_t units = swar ? (ch->nc + 7) / 8 : (ch->nc + 3) / 4;
        uint32_t kw = swar                         ? g->Kp / 8
                      : g->kind == TERN_VK_W_DOT_T ? g->Kp / 16
                                                   : g->Kp / 4;
        struct {
          uint32_t M, N, NC, n0, KW, stride, R, xq_off, xs_off, xsum_off,
              out_off, ws_per_tensor, has_bias, act, nch, mb;
        } pc = {M,           g->N,      units,    ch->n0,
                kw,          x_stride,  R,        x.word,
                xs.word,     xsum.word, out.word, g->ws_per_tensor,
                g->has_bias, act,       ch->nc,   mb};
        tern_vk_binding b[7] = {
            x, xs, xsum, ch->tb, tern_vk_bind(dev, g->ws, 0), bb, out};
        uint32_t gc = (units + g->wg - 1) / g->wg;
        s = tern_vk_dispatch(dev, pipe, b, &pc, sizeof pc, gr, gc, 1, err);
      }
      if (s)
        return s;
    }
  }
  return TERN_OK;
}
