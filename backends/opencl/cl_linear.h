/* cl_linear.h — helpers of the quantized and float GEMM paths shared by
 * linear and conv2d on OpenCL. */
#ifndef TERN_CL_LINEAR_H
#define TERN_CL_LINEAR_H

#include "backends/opencl/cl_internal.h"

bool tern_cl_weight_ok(const tern_view *w);
/* Weights [N][K] (i8 or ternary) as int8 codes [N][Kp] zero padded, plus one
 * scale per row (a per-tensor scale is repeated). */
tern_status tern_cl_upload_qweights(tern_device *dev, const tern_view *w,
                                    int64_t N, int64_t K, int64_t Kp,
                                    cl_mem *codes, cl_mem *scales,
                                    tern_err *err);
/* Bias input `index` of node (zeros when absent) as N floats. */
tern_status tern_cl_upload_bias(tern_device *dev, const tern_exec_node *node,
                                int index, int64_t N, cl_mem *out,
                                tern_err *err);
/* Run quant_rows over M blocks of K floats; codes (elem bytes each, as the
 * kernel's QTYPE) and scales land in the device's scratch slots 0 and 1. */
tern_status tern_cl_quantize(tern_device *dev, cl_kernel k, cl_mem x,
                             cl_uint x_off, int64_t M, int64_t K, int64_t Kp,
                             size_t elem, cl_mem *q, cl_mem *xs, tern_err *err);
/* Weights [N][K] (i8 or ternary) as short panels [Np/32][K][32] for
 * qgemm.cl, scales and bias (NULL: zeros) padded to Np: mems[0..2]. */
tern_status tern_cl_upload_panels(tern_device *dev, const tern_view *w,
                                  const float *bias, int64_t N, int64_t K,
                                  int64_t Np, cl_mem *mems, tern_err *err);
/* qgemm_p built with bm rows per work-item (-DBM). */
tern_status tern_cl_qgemm_kernel(tern_device *dev, int act, bool ternary,
                                 bool channel_major, int bm, cl_kernel *out,
                                 tern_err *err);
/* Run qgemm_p (built with bm) over M rows of A (short codes, rows of Kp);
 * channel-major kernels take P pixels per sample and the sample stride YS
 * of y. */
tern_status tern_cl_qgemm_p(tern_device *dev, cl_kernel k, int bm, cl_mem A,
                            cl_mem xs, cl_uint xs_off, const cl_mem *panels,
                            cl_mem y, cl_uint y_off, int64_t M, int64_t N,
                            int64_t Kp, int64_t Np, int64_t P, int64_t YS,
                            tern_err *err);
/* Ternary weights of node (input 1, rows of K codes; bias input 2) as the
 * byte-pair panels of tgemm.cl into p->mem[0..2]. */
tern_status tern_cl_upload_tgemm(tern_device *dev, const tern_exec_node *node,
                                 int64_t N, int64_t K, int64_t Kp, int64_t Np,
                                 tern_cl_node *p, tern_err *err);
/* f32 layers through sgemm_p (linear.cl) rather than CLBlast: CPU-like
 * devices, or TERN_CL_F32=panel (clblast / plain force the others). */
bool tern_cl_f32_panels(tern_device *dev);
/* f32 weights [N][K] as panels [Np/16][K][16] and the bias (NULL: zeros)
 * padded to Np: mems[0..1]. */
tern_status tern_cl_upload_f32_panels(tern_device *dev, const float *w,
                                      const float *bias, int64_t N, int64_t K,
                                      cl_mem *mems, tern_err *err);
/* The quantizer kernel that tern_cl_quantize launches on this device
 * (codes as short for qgemm_p/tgemv, char for qgemm_c4). */
tern_status tern_cl_quant_kernel(tern_device *dev, bool short_codes,
                                 cl_kernel *out, tern_err *err);
/* Run qgemm_c4 (GPU-shaped, char codes [M][Kp] x weights char [N][Kp]);
 * w = codes, scales, bias. */
tern_status tern_cl_qgemm_c4(tern_device *dev, cl_kernel k, cl_mem A, cl_mem xs,
                             cl_uint xs_off, const cl_mem *w, cl_mem y,
                             cl_uint y_off, int64_t M, int64_t N, int64_t Kp,
                             int64_t P, int64_t YS, tern_err *err);
#ifdef TERN_HAVE_CLBLAST
/* C[M][N] = A[M][K] · B[N][K]ᵀ (offsets in elements) on the device's queue. */
tern_status tern_cl_sgemm_nt(tern_device *dev, int64_t M, int64_t N, int64_t K,
                             cl_mem a, size_t a_off, cl_mem b, size_t b_off,
                             cl_mem c, size_t c_off, tern_err *err);
/* y[N] = W[N][K] · x[K] with CLBlast SGEMV (the benchmark's peer). */
tern_status tern_cl_sgemv(tern_device *dev, int64_t N, int64_t K, cl_mem w,
                          size_t w_off, cl_mem x, size_t x_off, cl_mem y,
                          size_t y_off, tern_err *err);
#endif

#endif
