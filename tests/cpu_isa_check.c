/* cpu_isa_check.c — a dependency-free exactness check of every CPU kernel
 * table the running CPU has against the reference ops, for cross builds
 * run under an emulator (the NEON path under qemu-aarch64: see
 * tests/cpu_neon.cmake). Exit 0 when every result is bit-identical. */
#include "backends/cpu/cpu_kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t g_s = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
  g_s ^= g_s >> 12;
  g_s ^= g_s << 25;
  g_s ^= g_s >> 27;
  return (uint32_t)((g_s * 0x2545F4914F6CDD1Dull) >> 32);
}
static float frand(float mag) {
  return ((float)(rnd() % 20001) / 10000.0f - 1.0f) * mag;
}

static int failures;

static void fill_weight(tern_view *w, tern_dtype dt, int ndim,
                        const int64_t *shape, bool per_tensor) {
  memset(w, 0, sizeof *w);
  int64_t N = shape[0], K = 1;
  for (int i = 1; i < ndim; i++)
    K *= shape[i];
  w->dtype = dt;
  w->ndim = ndim;
  memcpy(w->shape, shape, (size_t)ndim * sizeof(int64_t));
  size_t bytes = tern_dtype_bytes(dt, N, K);
  w->data = malloc(bytes);
  if (dt == TERN_DTYPE_TERNARY) {
    int8_t *q = malloc((size_t)(N * K));
    for (int64_t i = 0; i < N * K; i++)
      q[i] = (int8_t)(rnd() % 3) - 1;
    tern_ternary_pack(q, N, K, w->data, bytes);
    free(q);
  } else {
    for (int64_t i = 0; i < N * K; i++)
      ((int8_t *)w->data)[i] = (int8_t)((int)(rnd() % 255) - 127);
  }
  int64_t ns = per_tensor ? 1 : N;
  float *sc = malloc((size_t)ns * sizeof(float));
  for (int64_t i = 0; i < ns; i++)
    sc[i] = 0.001f + (float)(rnd() % 1000) * 1e-4f;
  w->scales = sc;
  w->scale_count = ns;
}

static void check_linear(tern_cpu_isa isa, tern_dtype dt, int64_t M, int64_t N,
                         int64_t K, int act) {
  int64_t ws[2] = {N, K};
  tern_view in[3];
  memset(in, 0, sizeof in);
  fill_weight(&in[1], dt, 2, ws, (M + N) % 3 == 0);
  float *x = malloc((size_t)(M * K) * sizeof(float));
  for (int64_t m = 0; m < M; m++) {
    float mag = ldexpf(1.0f, (int)(rnd() % 16) - 8);
    for (int64_t k = 0; k < K; k++)
      x[m * K + k] = frand(mag);
  }
  float *b = malloc((size_t)N * sizeof(float));
  for (int64_t n = 0; n < N; n++)
    b[n] = frand(1);
  in[0].dtype = TERN_DTYPE_F32;
  in[0].ndim = 2;
  in[0].shape[0] = M;
  in[0].shape[1] = K;
  in[0].data = x;
  in[2].dtype = TERN_DTYPE_F32;
  in[2].ndim = 1;
  in[2].shape[0] = N;
  in[2].data = b;
  tern_op_params p;
  memset(&p, 0, sizeof p);
  p.activation = act;
  tern_view out;
  tern_err err;
  const tern_op_def *def = tern_op_get(TERN_OP_LINEAR);
  float *ref = malloc((size_t)(M * N) * sizeof(float));
  float *got = malloc((size_t)(M * N) * sizeof(float));
  if (def->infer(&p, in, 3, &out, &err) ||
      (out.data = ref, def->ref(&p, in, 3, &out, &err))) {
    printf("FAIL reference: %s\n", err.msg);
    failures++;
    return;
  }
  tern_cpu_linear *l;
  if (tern_cpu_linear_create(&in[1], b, (tern_activation)act, isa, &l, &err)) {
    printf("FAIL create: %s\n", err.msg);
    failures++;
    return;
  }
  for (int threads = 1; threads <= 2; threads++) {
    tern_cpu_linear_run(l, x, M, got, threads, &err);
    if (memcmp(ref, got, (size_t)(M * N) * sizeof(float)) != 0) {
      printf("FAIL linear %s %s M=%lld N=%lld K=%lld threads=%d\n",
             tern_cpu_isa_name(isa), tern_dtype_name(dt), (long long)M,
             (long long)N, (long long)K, threads);
      failures++;
    }
  }
  tern_cpu_linear_destroy(l);
  free(ref), free(got), free(x), free(b), free(in[1].data);
  free((void *)in[1].scales);
}

static void check_conv(tern_cpu_isa isa, tern_dtype dt, int groups) {
  int64_t N = 2, C = 4, H = 7, W = 9, OC = groups == 4 ? 8 : 6;
  int64_t ws[4] = {OC, C / groups, 3, 3};
  tern_view in[2];
  memset(in, 0, sizeof in);
  fill_weight(&in[1], dt, 4, ws, false);
  float *x = malloc((size_t)(N * C * H * W) * sizeof(float));
  for (int64_t i = 0; i < N * C * H * W; i++)
    x[i] = frand(2);
  in[0].dtype = TERN_DTYPE_F32;
  in[0].ndim = 4;
  in[0].shape[0] = N, in[0].shape[1] = C, in[0].shape[2] = H;
  in[0].shape[3] = W;
  in[0].data = x;
  tern_op_params p;
  memset(&p, 0, sizeof p);
  p.pad[0] = p.pad[1] = 1;
  p.stride[0] = 2;
  p.groups = groups;
  tern_view out;
  tern_err err;
  const tern_op_def *def = tern_op_get(TERN_OP_CONV2D);
  if (def->infer(&p, in, 2, &out, &err)) {
    printf("FAIL conv infer: %s\n", err.msg);
    failures++;
    return;
  }
  int64_t on = tern_view_numel(&out);
  float *ref = malloc((size_t)on * sizeof(float));
  float *got = malloc((size_t)on * sizeof(float));
  out.data = ref;
  def->ref(&p, in, 2, &out, &err);
  tern_cpu_conv2d *c;
  if (tern_cpu_conv2d_create(&p, &in[0], &in[1], NULL, isa, &c, &err)) {
    printf("FAIL conv create: %s\n", err.msg);
    failures++;
    return;
  }
  tern_view y = out;
  y.data = got;
  tern_cpu_conv2d_run(c, &in[0], &y, 2, &err);
  if (memcmp(ref, got, (size_t)on * sizeof(float)) != 0) {
    printf("FAIL conv2d %s %s groups=%d\n", tern_cpu_isa_name(isa),
           tern_dtype_name(dt), groups);
    failures++;
  }
  tern_cpu_conv2d_destroy(c);
  free(ref), free(got), free(x), free(in[1].data);
  free((void *)in[1].scales);
}

int main(void) {
  static const int64_t Ks[] = {1, 3, 17, 33, 257, 1000};
  static const int64_t Ms[] = {1, 2, 7, 33};
  static const int64_t Ns[] = {1, 19, 67};
  tern_dtype dts[2] = {TERN_DTYPE_TERNARY, TERN_DTYPE_I8};
  int tables = 0;
  for (int i = 0; i < TERN_ISA_COUNT_; i++) {
    tern_cpu_isa isa = (tern_cpu_isa)i;
    if (!tern_cpu_isa_available(isa))
      continue;
    tables++;
    int cases = 0;
    for (int d = 0; d < 2; d++) {
      for (size_t a = 0; a < sizeof Ks / sizeof *Ks; a++)
        for (size_t b = 0; b < sizeof Ms / sizeof *Ms; b++)
          for (size_t c = 0; c < sizeof Ns / sizeof *Ns; c++, cases++)
            check_linear(isa, dts[d], Ms[b], Ns[c], Ks[a], cases % 3);
      check_linear(isa, dts[d], 3, 64, 4096, 0);
      check_linear(isa, dts[d], 40, 70, 600, 1);
      check_conv(isa, dts[d], 1);
      check_conv(isa, dts[d], 2);
      check_conv(isa, dts[d], 4);
      cases += 5;
    }
    printf("%s: %d cases checked\n", tern_cpu_isa_name(isa), cases);
  }
  printf("%s (%d kernel tables, %d failures)\n",
         failures ? "FAILED" : "all bit-identical", tables, failures);
  return failures ? 1 : 0;
}
