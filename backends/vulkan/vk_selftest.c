/* vk_selftest.c — start-up self-test of each optional tier: the kernels a
 * tier switches on run a small int8 and ternary linear (odd sizes, padding,
 * negative values) and must match the CPU reference bit for bit, or the tier
 * stays off. */
#include "vk_internal.h"

#include <string.h>

enum { ST_M = 3, ST_K = 77, ST_N = 9 };

static uint32_t lcg(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

/* Run one linear through the backend and compare with the reference. */
static bool check_linear(tern_device *dev, tern_dtype wt) {
  const tern_backend_vtbl *be = &tern_vulkan_backend;
  float x[ST_M * ST_K], bias[ST_N], scales[ST_N], want[ST_M * ST_N],
      got[ST_M * ST_N];
  int8_t wi8[ST_N * ST_K];
  uint8_t wt2[ST_N * ((ST_K + 3) / 4)];
  uint32_t s = 12345u + (uint32_t)wt;
  for (int i = 0; i < ST_M * ST_K; i++)
    x[i] = ((float)(lcg(&s) % 2001) - 1000.0f) / 37.0f;
  for (int i = 0; i < ST_N; i++) {
    bias[i] = ((float)(lcg(&s) % 200) - 100.0f) / 16.0f;
    scales[i] = 0.01f + (float)(lcg(&s) % 100) / 997.0f;
  }
  int8_t q[ST_N * ST_K];
  for (int i = 0; i < ST_N * ST_K; i++) {
    q[i] = (int8_t)((int)(lcg(&s) % 3) - 1);
    wi8[i] = (int8_t)((int)(lcg(&s) % 255) - 127);
  }
  if (tern_ternary_pack(q, ST_N, ST_K, wt2, sizeof wt2) != TERN_OK)
    return false;

  tern_exec_node n;
  memset(&n, 0, sizeof n);
  n.op = TERN_OP_LINEAR;
  n.n_inputs = 3;
  n.in[0] = (tern_view){TERN_DTYPE_F32, 2, {ST_M, ST_K}, x, NULL, 0};
  n.in[1] =
      (tern_view){wt,           2,
                  {ST_N, ST_K}, wt == TERN_DTYPE_I8 ? (void *)wi8 : (void *)wt2,
                  scales,       ST_N};
  n.in[2] = (tern_view){TERN_DTYPE_F32, 1, {ST_N}, bias, NULL, 0};
  n.in_const[1] = n.in_const[2] = true;
  n.out = (tern_view){TERN_DTYPE_F32, 2, {ST_M, ST_N}, want, NULL, 0};
  tern_err err = {0};
  if (tern_ref_LINEAR(&n.params, n.in, 3, &n.out, &err) != TERN_OK)
    return false;
  n.out.data = NULL;

  void *prep = NULL;
  tern_buffer *bx = NULL, *by = NULL;
  bool ok = false;
  if (be->buffer_alloc(dev, sizeof x, &bx, &err) == TERN_OK &&
      be->buffer_alloc(dev, sizeof got, &by, &err) == TERN_OK &&
      be->buffer_write(bx, 0, x, sizeof x, &err) == TERN_OK &&
      be->node_prepare(dev, &n, &prep, &err) == TERN_OK) {
    tern_buffer *bufs[4] = {bx, NULL, NULL, by};
    size_t offs[4] = {0, 0, 0, 0};
    if (be->node_run(dev, prep, bufs, offs, &err) == TERN_OK &&
        be->sync(dev, &err) == TERN_OK &&
        be->buffer_read(by, 0, got, sizeof got, &err) == TERN_OK)
      ok = memcmp(got, want, sizeof got) == 0;
  }
  if (prep)
    be->node_release(dev, prep);
  be->buffer_free(bx);
  be->buffer_free(by);
  if (!ok)
    tern_log(TERN_LOG_WARN, "vulkan: self-test of %s linear failed%s%s",
             tern_dtype_name(wt), err.msg[0] ? ": " : "", err.msg);
  return ok;
}

unsigned tern_vk_selftest(tern_device *dev, unsigned tiers) {
  unsigned ok = 0;
  int mode = dev->gemm_mode;
  uint32_t bcast = dev->tune.sg_bcast;
  dev->tune.sg_bcast = 1; /* test the broadcast kernel even if not default */
  /* 8-bit storage and fp16 have no kernel that benefits yet: not enabled */
  const unsigned tested[] = {TERN_VK_TIER_SUBGROUP, TERN_VK_TIER_INT_DOT};
  for (size_t i = 0; i < sizeof tested / sizeof tested[0]; i++) {
    unsigned t = tested[i];
    if (!(tiers & t))
      continue;
    dev->tiers = t;
    if (t == TERN_VK_TIER_INT_DOT)
      dev->gemm_mode = 2; /* exercise the dot kernels even if not default */
    if (check_linear(dev, TERN_DTYPE_TERNARY) &&
        check_linear(dev, TERN_DTYPE_I8))
      ok |= t;
    dev->gemm_mode = mode;
  }
  dev->tune.sg_bcast = bcast;
  dev->tiers = 0;
  return ok;
}
