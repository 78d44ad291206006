/* vk_gemm.h — the GEMM shared by linear and conv2d on Vulkan: weights
 * repacked at prepare time into the layout of the chosen kernel (see the
 * layout notes in shaders/vulkan/qgemm_*.comp and fgemm.comp) and split into
 * chunks of output channels that each fit maxStorageBufferRange. */
#ifndef TERN_VK_GEMM_H
#define TERN_VK_GEMM_H

#include "vk_internal.h"

typedef enum tern_vk_wkind {
  TERN_VK_W_F32 = 0,   /* fgemm: vec4 [K4][NC] */
  TERN_VK_W_SWAR = 1,  /* ternary, qgemm_swar: uvec4 [Kp/8][NQ] */
  TERN_VK_W_DOT_T = 2, /* ternary, qgemm_dot TERNARY: uvec4 [Kp/16][NQ] */
  TERN_VK_W_I8 = 3     /* int8, qgemm_dot: uvec4 [Kp/4][NQ] */
} tern_vk_wkind;

typedef struct tern_vk_wchunk {
  tern_vk_mem *mem;
  tern_vk_binding tb; /* texel view (integer kernels) */
  uint32_t n0;        /* first channel (absolute, in the output) */
  uint32_t nc;        /* channels in the chunk */
} tern_vk_wchunk;

typedef struct tern_vk_gemm {
  tern_vk_wkind kind;
  bool use_dot;    /* OpSDotKHR (else emulated) for W_DOT_T / W_I8 */
  uint32_t N;      /* total output channels of the node */
  uint32_t K, Kp;  /* reduction length, padded length */
  uint32_t tm, wg; /* rows per invocation, workgroup size */
  tern_vk_wchunk chunks[64];
  int n_chunks;
  tern_vk_mem *ws, *bias;
  bool ws_per_tensor, has_bias;
} tern_vk_gemm;

/* Pick the kernel for weights of dtype on this device. */
tern_vk_wkind tern_vk_gemm_kind(const tern_device *dev, tern_dtype dtype,
                                bool *use_dot);
/* Padded K of a kernel kind. */
uint32_t tern_vk_gemm_kp(tern_vk_wkind kind, uint32_t K);
/* Repack rows [row0, row0 + rows) of w (2-D view [N, K] of the canonical
 * data) into g; their outputs are channels row0.. of N. ws/bias are shared
 * and set by the caller. M is used to choose the row tile. */
tern_status tern_vk_gemm_prepare(tern_device *dev, tern_vk_node *n,
                                 const tern_view *w, uint32_t N, uint32_t K,
                                 uint32_t row0, uint32_t rows, uint64_t M,
                                 tern_vk_gemm *g, tern_err *err);
/* Upload weight scales and bias (input index bias_in, -1 for none). */
tern_status tern_vk_gemm_scales(tern_device *dev, tern_vk_node *n,
                                const tern_view *w, int bias_in,
                                tern_vk_gemm *g, tern_err *err);
/* Record the GEMM. x: xq as a texel binding (tern_vk_node_texel), or the
 * f32 x for W_F32 with its word offset; xs,
 * xsum: block scales and row sums (unused for W_F32). */
tern_status tern_vk_gemm_run(tern_device *dev, const tern_vk_gemm *g,
                             tern_vk_binding x, uint32_t x_stride,
                             tern_vk_binding xs, tern_vk_binding xsum,
                             uint32_t M, uint32_t R, tern_vk_binding out,
                             uint32_t act, tern_err *err);

/* vk_op_conv2d.c: whether conv2d node runs as the direct depthwise kernel
 * (dwconv.comp: only the "conv" tunable's col_wg applies) rather than im2col
 * + GEMM per group. */
bool tern_vk_conv_dw_direct(const tern_device *dev, const tern_exec_node *n);

#endif
