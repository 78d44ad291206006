/* model_file_format.c — helpers the .tern writer and reader share
 * (model_file.h): format tables, checksums, UTF-8 rules and the encoding of
 * tern_op_params. */
#include "model_file.h"

#include <string.h>
#include <zlib.h>

const uint8_t tern_tf_magic[8] = {0x89, 'T', 'E', 'R', 'N', '\r', '\n', 0x1a};
const char *const tern_tf_section_name[TF_SECTIONS] = {"metadata", "graph",
                                                       "tensors", "data"};
const char *const tern_tf_storage_name[ST_COUNT_] = {
    "f32", "f16", "i8", "ternary-2bit", "i32", "ternary-1.58bit"};

int tern_tf_canonical_storage(tern_dtype d) {
  switch (d) {
  case TERN_DTYPE_F32:
    return ST_F32;
  case TERN_DTYPE_F16:
    return ST_F16;
  case TERN_DTYPE_I8:
    return ST_I8;
  case TERN_DTYPE_TERNARY:
    return ST_TERNARY_2BIT;
  case TERN_DTYPE_I32:
    return ST_I32;
  default:
    return -1;
  }
}

/* The file is little-endian and raw data blobs are used in place. */
bool tern_tf_host_little_endian(void) {
  const uint16_t one = 1;
  uint8_t b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* zlib takes 32-bit lengths; feed it in chunks. */
uint32_t tern_tf_crc_update(uint32_t crc, const void *p, size_t n) {
  const Bytef *b = p;
  uLong c = crc;
  while (n) {
    uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
    c = crc32(c, b, chunk);
    b += chunk;
    n -= chunk;
  }
  return (uint32_t)c;
}
uint32_t tern_tf_crc(const void *p, size_t n) {
  return tern_tf_crc_update((uint32_t)crc32(0L, Z_NULL, 0), p, n);
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF)
 * without NUL bytes, so every string survives a C-string round trip. */
bool tern_tf_utf8_ok(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c == 0)
      return false;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len)
      return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

/* The 29 words of tern_op_params in file order (docs/FORMAT.md). Floats are
 * stored as their IEEE bits, so every value round-trips exactly. */
void tern_tf_params_to_words(const tern_op_params *p, uint32_t *w) {
  int32_t iv[29];
  memset(iv, 0, sizeof iv);
  iv[0] = p->kernel[0], iv[1] = p->kernel[1];
  iv[2] = p->stride[0], iv[3] = p->stride[1];
  iv[4] = p->pad[0], iv[5] = p->pad[1];
  iv[6] = p->dilation[0], iv[7] = p->dilation[1];
  iv[8] = p->groups, iv[9] = p->axis, iv[10] = p->ndim;
  for (int i = 0; i < 6; i++) {
    iv[11 + i] = p->shape[i];
    iv[17 + i] = p->perm[i];
  }
  iv[23] = p->transpose_b, iv[24] = p->activation;
  for (int i = 0; i < 25; i++)
    w[i] = (uint32_t)iv[i];
  memcpy(&w[25], &p->eps, 4);
  memcpy(&w[26], &p->alpha, 4);
  memcpy(&w[27], &p->theta, 4);
  w[28] = (uint32_t)p->count_include_pad;
}

static int32_t as_i32(uint32_t u) {
  int32_t v;
  memcpy(&v, &u, 4);
  return v;
}

void tern_tf_words_to_params(const uint32_t *w, tern_op_params *p) {
  memset(p, 0, sizeof *p);
  p->kernel[0] = as_i32(w[0]), p->kernel[1] = as_i32(w[1]);
  p->stride[0] = as_i32(w[2]), p->stride[1] = as_i32(w[3]);
  p->pad[0] = as_i32(w[4]), p->pad[1] = as_i32(w[5]);
  p->dilation[0] = as_i32(w[6]), p->dilation[1] = as_i32(w[7]);
  p->groups = as_i32(w[8]), p->axis = as_i32(w[9]), p->ndim = as_i32(w[10]);
  for (int i = 0; i < 6; i++) {
    p->shape[i] = as_i32(w[11 + i]);
    p->perm[i] = as_i32(w[17 + i]);
  }
  p->transpose_b = as_i32(w[23]), p->activation = as_i32(w[24]);
  memcpy(&p->eps, &w[25], 4);
  memcpy(&p->alpha, &w[26], 4);
  memcpy(&p->theta, &w[27], 4);
  p->count_include_pad = as_i32(w[28]);
}

/* ------------------------------------------- 1.58-bit <-> 2-bit rows
 * Direct conversions between the dense trit stream and the canonical 2-bit
 * rows, a table lookup per byte instead of a division per trit (the generic
 * tern_trits_unpack + tern_ternary_pack pair is ~10x slower). */

/* Five 2-bit codes of each valid trit byte, code k in bits 2k..2k+1. */
static void trit_table(uint16_t lut[243]) {
  for (int v = 0; v < 243; v++) {
    int x = v;
    uint16_t codes = 0;
    for (int k = 0; k < 5; k++, x /= 3)
      codes |= (uint16_t)((x % 3) << (2 * k));
    lut[v] = codes;
  }
}

int64_t tern_tf_trits_to_rows(const uint8_t *trits, int64_t rows, int64_t cols,
                              uint8_t *out, bool *bad_padding) {
  uint16_t lut[243];
  trit_table(lut);
  size_t rb = (size_t)(cols + 3) / 4, b = 0;
  unsigned codes = 0, left = 0;
  *bad_padding = false;
  for (int64_t r = 0; r < rows; r++) {
    uint8_t *row = out + (size_t)r * rb;
    unsigned acc = 0;
    for (int64_t j = 0; j < cols; j++) {
      if (!left) {
        if (trits[b] > 242)
          return (int64_t)b;
        codes = lut[trits[b++]];
        left = 5;
      }
      acc |= (codes & 3u) << (2 * (j & 3));
      codes >>= 2;
      left--;
      if ((j & 3) == 3) {
        row[j >> 2] = (uint8_t)acc;
        acc = 0;
      }
    }
    if (cols & 3) /* pad the row's last byte with code 1 */
      row[rb - 1] = (uint8_t)(acc | (0x55u & ~((1u << (2 * (cols & 3))) - 1)));
  }
  /* the codes left in the last byte are padding and must be 1 */
  if (left && codes != (0x55u & ((1u << (2 * left)) - 1))) {
    *bad_padding = true;
    return (int64_t)b - 1;
  }
  return -1;
}

void tern_tf_rows_to_trits(const uint8_t *rows_data, int64_t rows, int64_t cols,
                           uint8_t *out) {
  static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
  size_t rb = (size_t)(cols + 3) / 4, b = 0;
  unsigned v = 0, k = 0;
  for (int64_t r = 0; r < rows; r++) {
    const uint8_t *row = rows_data + (size_t)r * rb;
    for (int64_t j = 0; j < cols; j++) {
      v += (unsigned)tern_ternary_get(row, j) * pow3[k];
      if (++k == 5) {
        out[b++] = (uint8_t)v;
        v = 0;
        k = 0;
      }
    }
  }
  if (k) { /* padding codes 1 */
    for (; k < 5; k++)
      v += pow3[k];
    out[b] = (uint8_t)v;
  }
}
