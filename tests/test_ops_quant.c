/* test_ops_quant.c — the numeric building blocks under the quantized ops:
 * ternary (threshold, absmean) and int8 weight quantizers, 2-bit and
 * 1.58-bit packing, f16 conversions and the activation rule. */
#include "tern_internal.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t g_rng;
static void rng_seed(uint64_t s) {
  g_rng = s ? s : 1;
}
static uint32_t rng_u32(void) {
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return (uint32_t)((g_rng * 0x2545f4914f6cdd1dull) >> 32);
}
/* uniform in (0, 1], never 0 (Box-Muller takes its log) */
static double rng_open(void) {
  return ((double)rng_u32() + 1.0) / 4294967296.0;
}

/* Box-Muller standard normals, fixed seed */
static void gaussian(float *w, int64_t n, uint64_t seed) {
  rng_seed(seed);
  for (int64_t i = 0; i < n; i += 2) {
    double r = sqrt(-2.0 * log(rng_open())), t = 2.0 * M_PI * rng_open();
    w[i] = (float)(r * cos(t));
    if (i + 1 < n)
      w[i + 1] = (float)(r * sin(t));
  }
}

/* --------------------------------------------------------------- ternary */
Test(quant, threshold_sparsity_gaussian) {
  const int64_t rows = 1000, cols = 1000, n = rows * cols;
  float *w = malloc((size_t)n * sizeof(float));
  int8_t *q = malloc((size_t)n);
  float *s = malloc((size_t)rows * sizeof(float));
  gaussian(w, n, 42);
  tern_quant_stats st;
  cr_assert_eq(tern_quantize_ternary(w, rows, cols, NULL, q, s, &st), TERN_OK);
  /* |w| <= 0.7 * E|w| = 0.7 * sqrt(2/pi) for a unit Gaussian */
  double expect = erf(0.7 * sqrt(2.0 / M_PI) / sqrt(2.0));
  cr_assert(fabs(st.sparsity - expect) < 0.01, "sparsity %.4f expected %.4f",
            st.sparsity, expect);
  cr_assert(fabs(st.sparsity - 0.42) < 0.01);
  cr_assert_eq(st.count, n);
  int64_t zeros = 0;
  for (int64_t i = 0; i < n; i++) {
    cr_assert(q[i] >= -1 && q[i] <= 1);
    zeros += q[i] == 0;
  }
  cr_assert_eq(zeros, st.zeros);
  /* per-channel scale: mean |w| of kept weights, E[|z| : |z| > t] ~ 1.16 */
  cr_assert(st.scale_min > 1.0f && st.scale_max < 1.35f, "scales %g..%g",
            (double)st.scale_min, (double)st.scale_max);
  free(w), free(q), free(s);
}

Test(quant, threshold_exact_small) {
  float w[8] = {1, -2, 0.1f, 3, 0, 0, 0, 0};
  int8_t q[8];
  float s[2];
  tern_ternary_desc d = {sizeof d, TERN_TERNARY_THRESHOLD, 0, 0};
  cr_assert_eq(tern_quantize_ternary(w, 2, 4, &d, q, s, NULL), TERN_OK);
  /* mean|w| = 1.525, t = 1.0675: keeps -2 and 3, scale 2.5 */
  int8_t e[8] = {0, -1, 0, 1, 0, 0, 0, 0};
  cr_assert_arr_eq(q, e, 8);
  cr_assert_eq(s[0], 2.5f);
  cr_assert_eq(s[1], 1.0f); /* nothing kept */
  d.per_tensor = 1;
  cr_assert_eq(tern_quantize_ternary(w, 2, 4, &d, q, s, NULL), TERN_OK);
  /* mean over 8 = 0.7625, t = 0.53375: keeps 1, -2, 3 */
  int8_t e2[8] = {1, -1, 0, 1, 0, 0, 0, 0};
  cr_assert_arr_eq(q, e2, 8);
  cr_assert_eq(s[0], 2.0f);
}

Test(quant, absmean_exact_small) {
  float w[4] = {0.5f, -1.5f, 0.1f, 2.0f};
  int8_t q[4];
  float s;
  tern_ternary_desc d = {sizeof d, TERN_TERNARY_ABSMEAN, 0, 0};
  cr_assert_eq(tern_quantize_ternary(w, 1, 4, &d, q, &s, NULL), TERN_OK);
  cr_assert_eq(s, 1.025f);
  int8_t e[4] = {0, -1, 0, 1}; /* 0.49 -> 0, -1.46 -> -1, 1.95 -> 2 -> 1 */
  cr_assert_arr_eq(q, e, 4);
  float z[3] = {0, 0, 0};
  cr_assert_eq(tern_quantize_ternary(z, 1, 3, &d, q, &s, NULL), TERN_OK);
  cr_assert_eq(s, 1.0f);
  cr_assert(q[0] == 0 && q[1] == 0 && q[2] == 0);
}

Test(quant, ternary_errors) {
  float w[2] = {1, NAN};
  int8_t q[2];
  float s[1];
  cr_assert_eq(tern_quantize_ternary(w, 1, 2, NULL, q, s, NULL),
               TERN_ERR_INVALID_ARGUMENT);
  cr_assert(strlen(tern_last_error()) > 0);
  w[1] = 2;
  cr_assert_eq(tern_quantize_ternary(w, 0, 2, NULL, q, s, NULL),
               TERN_ERR_INVALID_ARGUMENT);
  cr_assert_eq(tern_quantize_ternary(w, 1, 2, NULL, NULL, s, NULL),
               TERN_ERR_INVALID_ARGUMENT);
  tern_ternary_desc d = {sizeof d, (tern_ternary_method)7, 0, 0};
  cr_assert_eq(tern_quantize_ternary(w, 1, 2, &d, q, s, NULL),
               TERN_ERR_INVALID_ARGUMENT);
  d.method = TERN_TERNARY_THRESHOLD;
  d.threshold_factor = -1;
  cr_assert_eq(tern_quantize_ternary(w, 1, 2, &d, q, s, NULL),
               TERN_ERR_INVALID_ARGUMENT);
}

/* ------------------------------------------------------------------ int8 */
Test(quant, int8_exact) {
  float w[8] = {127, -64, 3, 0.4f, 254, 1, 3, -5};
  int8_t q[8];
  float s[2];
  tern_quant_stats st;
  cr_assert_eq(tern_quantize_int8(w, 2, 4, q, s, &st), TERN_OK);
  cr_assert_eq(s[0], 1.0f);
  cr_assert_eq(s[1], 2.0f);
  /* round half to even: 0.5 -> 0, 1.5 -> 2, -2.5 -> -2 */
  int8_t e[8] = {127, -64, 3, 0, 127, 0, 2, -2};
  cr_assert_arr_eq(q, e, 8);
  cr_assert_eq(st.zeros, 2);
  /* dequantization error is at most half a step on random rows */
  float r[3 * 50];
  gaussian(r, 150, 7);
  int8_t qr[150];
  float sr[3];
  cr_assert_eq(tern_quantize_int8(r, 3, 50, qr, sr, NULL), TERN_OK);
  for (int i = 0; i < 150; i++) {
    float sc = sr[i / 50];
    cr_assert(fabsf(r[i] - qr[i] * sc) <= 0.5f * sc * 1.0001f);
    cr_assert(qr[i] >= -127 && qr[i] <= 127);
  }
  float z[2] = {0, 0};
  cr_assert_eq(tern_quantize_int8(z, 1, 2, q, s, NULL), TERN_OK);
  cr_assert_eq(s[0], 1.0f);
  cr_assert(q[0] == 0 && q[1] == 0);
}

/* --------------------------------------------------------------- packing */
Test(pack, ternary_2bit_roundtrip) {
  const int rows_list[] = {1, 3, 5}, cols_list[] = {1, 3, 4, 7, 13};
  rng_seed(3);
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 5; b++) {
      int rows = rows_list[a], cols = cols_list[b];
      int8_t q[5 * 13], back[5 * 13];
      for (int i = 0; i < rows * cols; i++)
        q[i] = (int8_t)(rng_u32() % 3) - 1;
      size_t nb = tern_dtype_bytes(TERN_DTYPE_TERNARY, rows, cols);
      cr_assert_eq(nb, (size_t)(rows * ((cols + 3) / 4)));
      uint8_t packed[32];
      cr_assert_eq(tern_ternary_pack(q, rows, cols, packed, nb), TERN_OK);
      for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++)
          cr_assert_eq(tern_ternary_get(packed + r * ((cols + 3) / 4), j),
                       q[r * cols + j] + 1);
      for (int r = 0; r < rows; r++) /* padding codes are 1 */
        for (int j = cols; j < (cols + 3) / 4 * 4; j++)
          cr_assert_eq(tern_ternary_get(packed + r * ((cols + 3) / 4), j), 1);
      cr_assert_eq(tern_ternary_unpack(packed, rows, cols, back), TERN_OK);
      cr_assert_arr_eq(q, back, (size_t)(rows * cols));
    }
  /* the documented layout: element j in bits 2*(j%4) of byte j/4 */
  int8_t q4[5] = {-1, 0, 1, 1, -1};
  uint8_t p[2];
  cr_assert_eq(tern_ternary_pack(q4, 1, 5, p, 2), TERN_OK);
  cr_assert_eq(p[0], 0 | 1 << 2 | 2 << 4 | 2 << 6);
  cr_assert_eq(p[1], 0 | 1 << 2 | 1 << 4 | 1 << 6);
}

Test(pack, ternary_2bit_invalid) {
  int8_t q[3] = {1, 2, 0};
  uint8_t p[1];
  cr_assert_eq(tern_ternary_pack(q, 1, 3, p, 1), TERN_ERR_INVALID_ARGUMENT);
  q[1] = 0;
  cr_assert_eq(tern_ternary_pack(q, 1, 3, p, 0), TERN_ERR_INVALID_ARGUMENT);
  uint8_t bad = 0x57; /* element 0 has code 3 */
  int8_t out[3];
  cr_assert_eq(tern_ternary_unpack(&bad, 1, 3, out), TERN_ERR_CORRUPT_FILE);
  cr_assert(strstr(tern_last_error(), "code 3") != NULL);
}

Test(pack, trits_roundtrip) {
  rng_seed(9);
  for (int n = 1; n <= 23; n++) {
    int8_t q[23], back[23];
    for (int i = 0; i < n; i++)
      q[i] = (int8_t)(rng_u32() % 3) - 1;
    uint8_t p[5];
    size_t nb = tern_trits_bytes(n);
    cr_assert_eq(nb, (size_t)(n + 4) / 5);
    cr_assert_eq(tern_trits_pack(q, n, p, nb), TERN_OK);
    for (size_t b = 0; b < nb; b++)
      cr_assert(p[b] <= 242);
    cr_assert_eq(tern_trits_unpack(p, n, back), TERN_OK);
    cr_assert_arr_eq(q, back, (size_t)n);
  }
  int8_t q5[5] = {-1, 0, 1, 0, -1}; /* 0 + 3 + 18 + 27 + 0 */
  uint8_t p;
  cr_assert_eq(tern_trits_pack(q5, 5, &p, 1), TERN_OK);
  cr_assert_eq(p, 48);
  cr_assert_eq(tern_trits_bytes(0), 0u);
}

Test(pack, trits_invalid) {
  int8_t q[3] = {0, -2, 1}, out[5];
  uint8_t p[1];
  cr_assert_eq(tern_trits_pack(q, 3, p, 1), TERN_ERR_INVALID_ARGUMENT);
  q[1] = 0;
  cr_assert_eq(tern_trits_pack(q, 3, p, 0), TERN_ERR_INVALID_ARGUMENT);
  uint8_t b = 243;
  cr_assert_eq(tern_trits_unpack(&b, 5, out), TERN_ERR_CORRUPT_FILE);
  b = 0; /* n = 3: trits 3, 4 must be 1 (zero), here 0 */
  cr_assert_eq(tern_trits_unpack(&b, 3, out), TERN_ERR_CORRUPT_FILE);
  b = 1 * 27 + 1 * 81; /* valid padding, codes 0 0 0 */
  cr_assert_eq(tern_trits_unpack(&b, 3, out), TERN_OK);
  cr_assert(out[0] == -1 && out[1] == -1 && out[2] == -1);
}

/* ------------------------------------------------------------------- f16 */
static uint32_t fbits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

Test(f16, conversions) {
  cr_assert_eq(tern_f32_to_f16(1.0f), 0x3c00);
  cr_assert_eq(tern_f32_to_f16(-2.0f), 0xc000);
  cr_assert_eq(tern_f32_to_f16(0.0f), 0x0000);
  cr_assert_eq(tern_f32_to_f16(-0.0f), 0x8000);
  cr_assert_eq(tern_f32_to_f16(65504.0f), 0x7bff);
  cr_assert_eq(tern_f32_to_f16(65520.0f), 0x7c00); /* rounds to inf */
  cr_assert_eq(tern_f32_to_f16(65519.0f), 0x7bff);
  cr_assert_eq(tern_f32_to_f16(INFINITY), 0x7c00);
  cr_assert_eq(tern_f32_to_f16(ldexpf(1, -24)), 0x0001); /* smallest */
  cr_assert_eq(tern_f32_to_f16(ldexpf(1, -26)), 0x0000);
  cr_assert_eq(tern_f32_to_f16(ldexpf(3, -26)), 0x0001); /* 0.75 ulp up */
  cr_assert_eq(tern_f32_to_f16(ldexpf(1, -14)), 0x0400); /* smallest normal */
  /* ties to even: 1 + 2^-11 -> 1, 1 + 3*2^-11 -> 1 + 2^-9 */
  cr_assert_eq(tern_f32_to_f16(1.0f + ldexpf(1, -11)), 0x3c00);
  cr_assert_eq(tern_f32_to_f16(1.0f + ldexpf(3, -11)), 0x3c02);
  uint16_t h = tern_f32_to_f16(NAN);
  cr_assert((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0);
  cr_assert(isnan(tern_f16_to_f32(0x7e00)));
  cr_assert_eq(tern_f16_to_f32(0x3555), 0.333251953125f);
  cr_assert_eq(tern_f16_to_f32(0x0001), ldexpf(1, -24));
  /* every non-NaN half survives f16 -> f32 -> f16 and matches its value */
  for (uint32_t i = 0; i < 65536; i++) {
    uint16_t x = (uint16_t)i;
    if ((x & 0x7c00) == 0x7c00 && (x & 0x3ff))
      continue;
    float f = tern_f16_to_f32(x);
    cr_assert_eq(tern_f32_to_f16(f), x, "half 0x%04x -> %g", i, (double)f);
    int e = (x >> 10) & 31, m = x & 1023;
    double v = e == 0    ? ldexp(m, -24)
               : e == 31 ? INFINITY
                         : ldexp(1024 + m, e - 25);
    if (x & 0x8000)
      v = -v;
    cr_assert_eq(fbits(f), fbits((float)v), "half 0x%04x", i);
  }
}

/* --------------------------------------------------- the activation rule */
Test(act_rule, scales) {
  float x[3] = {127, -3, 0.5f}, s;
  int8_t q[4];
  tern_act_quantize_row(x, 3, q, &s);
  cr_assert_eq(s, 1.0f);
  cr_assert(q[0] == 127 && q[1] == -3 && q[2] == 0); /* 0.5 rounds to even */
  x[0] = 127.5f;
  tern_act_quantize_row(x, 3, q, &s);
  cr_assert_eq(s, 2.0f);
  cr_assert(q[0] == 64 && q[1] == -2 && q[2] == 0); /* 63.75, -1.5, 0.25 */
  x[0] = -254;
  tern_act_quantize_row(x, 3, q, &s);
  cr_assert_eq(s, 2.0f);
  cr_assert_eq(q[0], -127);
  float z[4] = {0, 0, -0.0f, 0};
  tern_act_quantize_row(z, 4, q, &s);
  cr_assert_eq(s, 1.0f);
  cr_assert(q[0] == 0 && q[1] == 0 && q[2] == 0 && q[3] == 0);
  float tiny[2] = {1e-31f, -1e-32f}; /* below 2^-100 */
  q[0] = q[1] = 9;
  tern_act_quantize_row(tiny, 2, q, &s);
  cr_assert(s == 1.0f && q[0] == 0 && q[1] == 0);
  float bad[2] = {1, INFINITY};
  tern_act_quantize_row(bad, 2, q, &s);
  cr_assert(s == 1.0f && q[0] == 0 && q[1] == 0);
  bad[1] = NAN;
  tern_act_quantize_row(bad, 2, q, &s);
  cr_assert(s == 1.0f && q[0] == 0 && q[1] == 0);
  int e;
  cr_assert(tern_act_exponent(1.0f, &e) && e == -6); /* 1 <= 127/64 */
  cr_assert(tern_act_exponent(0.5f, &e) && e == -7);
}

Test(act_rule, power_of_two_property) {
  rng_seed(77);
  for (int t = 0; t < 2000; t++) {
    int n = 1 + (int)(rng_u32() % 40);
    float x[40];
    float mag = ldexpf(1.0f, (int)(rng_u32() % 60) - 30);
    for (int i = 0; i < n; i++)
      x[i] = (float)(rng_open() * 2 - 1) * mag;
    int8_t q[40];
    float s;
    tern_act_quantize_row(x, n, q, &s);
    float m = 0;
    for (int i = 0; i < n; i++)
      m = fmaxf(m, fabsf(x[i]));
    int ex;
    cr_assert_eq(frexpf(s, &ex), 0.5f, "scale %g is not a power of two",
                 (double)s);
    /* the smallest power of two with m / s <= 127 */
    cr_assert(m / s <= 127.0f && m / s > 63.5f, "m %g s %g", (double)m,
              (double)s);
    for (int i = 0; i < n; i++)
      cr_assert_eq(q[i], (int8_t)rintf(x[i] / s));
  }
  /* tern_quantize_activations = the row rule per row */
  float xs[6] = {1, 2, 3, 100, -200, 50}, sc[2];
  int8_t qs[6];
  cr_assert_eq(tern_quantize_activations(xs, 2, 3, qs, sc), TERN_OK);
  cr_assert_eq(sc[0], 1.0f / 32); /* 3 * 32 = 96 <= 127 */
  cr_assert_eq(sc[1], 2.0f);
  cr_assert(qs[0] == 32 && qs[2] == 96 && qs[4] == -100);
  cr_assert_eq(tern_quantize_activations(NULL, 2, 3, qs, sc),
               TERN_ERR_INVALID_ARGUMENT);
}
