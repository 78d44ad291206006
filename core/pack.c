/* pack.c — exact packing of ternary codes (2-bit rows and the dense
 * 5-trits-per-byte file form) and IEEE half conversions. */
#include "tern_internal.h"

#include <string.h>

tern_status tern_ternary_pack(const int8_t *q, int64_t rows, int64_t cols,
                              uint8_t *out, size_t out_bytes) {
  if (!q || !out || rows < 0 || cols < 0)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_ternary_pack: NULL buffer or negative size");
  size_t need = tern_dtype_bytes(TERN_DTYPE_TERNARY, rows, cols);
  if ((rows && cols && !need) || out_bytes < need)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_ternary_pack: output holds %zu bytes, %zu needed",
                        out_bytes, need);
  size_t rb = (size_t)(cols + 3) / 4;
  memset(out, 0x55, need); /* code 1 (zero) everywhere, padding included */
  for (int64_t r = 0; r < rows; r++) {
    uint8_t *row = out + (size_t)r * rb;
    const int8_t *src = q + r * cols;
    for (int64_t j = 0; j < cols; j++) {
      int v = src[j];
      if (v < -1 || v > 1)
        return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                            "tern_ternary_pack: value %d at row %lld col %lld "
                            "is not in {-1,0,1}",
                            v, (long long)r, (long long)j);
      int sh = (int)(j & 3) * 2;
      row[j >> 2] = (uint8_t)((row[j >> 2] & ~(3 << sh)) | ((v + 1) << sh));
    }
  }
  return TERN_OK;
}

tern_status tern_ternary_unpack(const uint8_t *packed, int64_t rows,
                                int64_t cols, int8_t *q) {
  if (!packed || !q || rows < 0 || cols < 0)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_ternary_unpack: NULL buffer or negative size");
  size_t rb = (size_t)(cols + 3) / 4;
  for (int64_t r = 0; r < rows; r++) {
    const uint8_t *row = packed + (size_t)r * rb;
    for (int64_t j = 0; j < cols; j++) {
      int c = tern_ternary_get(row, j);
      if (c == 3)
        return tern_err_set(NULL, TERN_ERR_CORRUPT_FILE,
                            "ternary code 3 (invalid) at row %lld col %lld",
                            (long long)r, (long long)j);
      q[r * cols + j] = (int8_t)(c - 1);
    }
  }
  return TERN_OK;
}

size_t tern_trits_bytes(int64_t n) {
  return n <= 0 ? 0 : (size_t)(n + 4) / 5;
}

tern_status tern_trits_pack(const int8_t *q, int64_t n, uint8_t *out,
                            size_t out_bytes) {
  if (!q || !out || n < 0)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_trits_pack: NULL buffer or negative size");
  size_t need = tern_trits_bytes(n);
  if (out_bytes < need)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_trits_pack: output holds %zu bytes, %zu needed",
                        out_bytes, need);
  for (size_t b = 0; b < need; b++) {
    int v = 0, mul = 1;
    for (int k = 0; k < 5; k++, mul *= 3) {
      int64_t i = (int64_t)b * 5 + k;
      int c = 1;
      if (i < n) {
        if (q[i] < -1 || q[i] > 1)
          return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                              "tern_trits_pack: value %d at %lld is not in "
                              "{-1,0,1}",
                              q[i], (long long)i);
        c = q[i] + 1;
      }
      v += c * mul;
    }
    out[b] = (uint8_t)v;
  }
  return TERN_OK;
}

tern_status tern_trits_unpack(const uint8_t *packed, int64_t n, int8_t *q) {
  if (!packed || !q || n < 0)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_trits_unpack: NULL buffer or negative size");
  size_t nb = tern_trits_bytes(n);
  for (size_t b = 0; b < nb; b++) {
    int v = packed[b];
    if (v > 242)
      return tern_err_set(NULL, TERN_ERR_CORRUPT_FILE,
                          "1.58-bit byte %zu holds %d (> 242)", b, v);
    for (int k = 0; k < 5; k++, v /= 3) {
      int64_t i = (int64_t)b * 5 + k;
      if (i < n)
        q[i] = (int8_t)(v % 3 - 1);
      else if (v % 3 != 1)
        return tern_err_set(NULL, TERN_ERR_CORRUPT_FILE,
                            "1.58-bit padding trit %lld is not zero",
                            (long long)i);
    }
  }
  return TERN_OK;
}

/* ------------------------------------------------------------------ f16 */
uint16_t tern_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t man = x & 0x7fffffu;
  if (exp == 0xff) /* inf / nan */
    return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
  int e = (int)exp - 127 + 15;
  if (e >= 31)
    return (uint16_t)(sign | 0x7c00u);
  if (e <= 0) { /* subnormal half or zero */
    if (e < -10)
      return (uint16_t)sign;
    man |= 0x800000u;
    int shift = 14 - e;
    uint32_t h = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1)))
      h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = ((uint32_t)e << 10) | (man >> 13);
  uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
    h++; /* may carry into the exponent: correct, rounds up to inf at max */
  return (uint16_t)(sign | h);
}

float tern_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (!man) {
      x = sign;
    } else {
      int e = -1;
      do {
        e++;
        man <<= 1;
      } while (!(man & 0x400u));
      x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (man << 13);
  } else {
    x = sign | ((exp - 15 + 127) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &x, 4);
  return f;
}
