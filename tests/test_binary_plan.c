/* test_binary_plan.c — the add/mul indexing plan the GPU backends choose at
 * prepare (tern_op_binary_plan: same shape, repeated row, per channel,
 * scalar, general) and the divide-free division their row/channel paths
 * use (tern_fastdiv), checked against plain division. */
#include "core/ops/op_common.h"

#include <criterion/criterion.h>
#include <string.h>

static tern_view view(int ndim, const int64_t *shape) {
  tern_view v;
  memset(&v, 0, sizeof v);
  v.dtype = TERN_DTYPE_F32;
  v.ndim = ndim;
  memcpy(v.shape, shape, (size_t)ndim * sizeof(int64_t));
  return v;
}
#define VIEW(...)                                                              \
  view((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),              \
       (int64_t[]){__VA_ARGS__})

static tern_binary_plan plan_of(tern_view a, tern_view b) {
  tern_view out;
  tern_err err = {0};
  cr_assert_eq(tern_op_broadcast_shape("add", &a, &b, &out, &err), TERN_OK,
               "%s", err.msg);
  tern_binary_plan p;
  memset(&p, 0x5a, sizeof p);
  tern_op_binary_plan(&a, &b, &out, &p);
  return p;
}

static void expect(tern_view a, tern_view b, tern_binary_kind kind,
                   bool bcast_a, int64_t inner, int64_t cnt) {
  tern_binary_plan p = plan_of(a, b);
  cr_expect_eq(p.kind, kind, "kind %s, expected %s",
               tern_binary_kind_name(p.kind), tern_binary_kind_name(kind));
  if (kind == TERN_BINARY_GENERAL || kind == TERN_BINARY_SAME)
    return;
  cr_expect_eq(p.bcast_a, bcast_a);
  if (kind == TERN_BINARY_SCALAR)
    return;
  cr_expect_eq(p.inner, inner, "inner %lld", (long long)p.inner);
  cr_expect_eq(p.cnt, cnt, "cnt %lld", (long long)p.cnt);
}

Test(binary_plan, same_shape) {
  expect(VIEW(7), VIEW(7), TERN_BINARY_SAME, false, 0, 0);
  expect(VIEW(2, 3, 4), VIEW(2, 3, 4), TERN_BINARY_SAME, false, 0, 0);
  expect(VIEW(1, 1, 7), VIEW(7), TERN_BINARY_SAME, false, 0, 0);
  expect(VIEW(1), VIEW(1), TERN_BINARY_SAME, false, 0, 0);
}

Test(binary_plan, scalar) {
  expect(VIEW(5, 3), VIEW(1), TERN_BINARY_SCALAR, false, 0, 0);
  expect(VIEW(1, 1, 1, 1), VIEW(2, 3, 5, 7), TERN_BINARY_SCALAR, true, 0, 0);
}

Test(binary_plan, row) {
  expect(VIEW(5, 3), VIEW(3), TERN_BINARY_ROW, false, 1, 3);
  expect(VIEW(3, 7, 17), VIEW(7, 17), TERN_BINARY_ROW, false, 1, 119);
  expect(VIEW(4, 17), VIEW(1, 17), TERN_BINARY_ROW, false, 1, 17);
  expect(VIEW(3), VIEW(7, 3), TERN_BINARY_ROW, true, 1, 3);
  /* a trailing 1 on both sides: still a row */
  expect(VIEW(5, 3, 1), VIEW(3, 1), TERN_BINARY_ROW, false, 1, 3);
}

Test(binary_plan, channel) {
  expect(VIEW(2, 3, 5, 7), VIEW(1, 3, 1, 1), TERN_BINARY_CHANNEL, false, 35, 3);
  expect(VIEW(2, 3, 33), VIEW(3, 1), TERN_BINARY_CHANNEL, false, 33, 3);
  expect(VIEW(2, 3, 7, 5), VIEW(3, 7, 1), TERN_BINARY_CHANNEL, false, 5, 21);
  expect(VIEW(1, 3, 1, 1), VIEW(2, 3, 5, 7), TERN_BINARY_CHANNEL, true, 35, 3);
}

Test(binary_plan, general) {
  expect(VIEW(5, 1), VIEW(1, 7), TERN_BINARY_GENERAL, false, 0, 0);
  expect(VIEW(2, 3, 4), VIEW(2, 1, 4), TERN_BINARY_GENERAL, false, 0, 0);
  expect(VIEW(2, 3, 1, 5), VIEW(3, 4, 1), TERN_BINARY_GENERAL, false, 0, 0);
  expect(VIEW(2, 3, 5, 7), VIEW(1, 3, 1, 7), TERN_BINARY_GENERAL, false, 0, 0);
}

static uint64_t next(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

Test(binary_plan, fastdiv) {
  static const uint32_t ds[] = {2,          3,          5,          7,
                                17,         64,         1000,       1285,
                                65535,      65536,      65537,      0x7fffffffu,
                                0x80000000, 0x80000001, 0xfffffffe, 0xffffffff};
  uint64_t x = 88172645463325252ull;
  int bad = 0;
  for (int k = 0; k < 16 + 500; k++) {
    uint32_t d = k < 16 ? ds[k] : (uint32_t)(next(&x) >> (next(&x) >> 59));
    if (d < 2)
      d = 2;
    tern_fastdiv f = tern_fastdiv_make(d);
    const uint32_t edge[] = {0,     1,           d - 1,       d,
                             d + 1, 0x80000000u, 0xfffffffeu, 0xffffffffu};
    for (int j = 0; j < 8 + 2000; j++) {
      uint32_t n = j < 8 ? edge[j] : (uint32_t)next(&x);
      if (tern_fastdiv_apply(f, n) != n / d && bad++ < 5)
        cr_log_error("%u / %u: got %u", n, d, tern_fastdiv_apply(f, n));
    }
  }
  for (uint32_t d = 2; d < 300; d++) {
    tern_fastdiv f = tern_fastdiv_make(d);
    for (uint32_t n = 0; n < 70000; n++)
      if (tern_fastdiv_apply(f, n) != n / d && bad++ < 5)
        cr_log_error("%u / %u: got %u", n, d, tern_fastdiv_apply(f, n));
  }
  cr_expect_eq(bad, 0, "%d wrong quotients", bad);
}
