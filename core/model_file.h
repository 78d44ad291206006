/* model_file.h — what the .tern writer and reader share: the format's
 * constants (docs/FORMAT.md), little-endian field access, checksums, string
 * rules and the field-by-field encoding of tern_op_params. */
#ifndef TERN_MODEL_FILE_H
#define TERN_MODEL_FILE_H

#include "tern_internal.h"

#define TF_MAJOR 1
#define TF_MINOR 0
#define TF_HEADER_BYTES 128u
#define TF_ALIGN 64u
#define TF_SECTIONS 4
#define TF_MAX_NAME 4096u             /* tensor/node names, metadata keys */
#define TF_MAX_VALUE (1u << 20)       /* metadata values */
#define TF_MAX_META 4096u             /* metadata entries */
#define TF_PARAM_WORDS 29u            /* tern_op_params, field by field */
#define TF_MAX_PARAM_WORDS 1024u      /* bound for files of newer minors */
#define TF_MAX_DIM ((int64_t)1 << 40) /* the builder's bound */
/* Smallest encodings, used to bound counts before anything is allocated. */
#define TF_MIN_META_ENTRY 8u
#define TF_MIN_NODE 20u
#define TF_MIN_TENSOR 48u

extern const uint8_t tern_tf_magic[8];

enum { SEC_META = 0, SEC_GRAPH = 1, SEC_TENSORS = 2, SEC_DATA = 3 };
extern const char *const tern_tf_section_name[TF_SECTIONS];

/* Storage forms of a tensor's data in the file. */
enum {
  ST_F32 = 0,
  ST_F16 = 1,
  ST_I8 = 2,
  ST_TERNARY_2BIT = 3,
  ST_I32 = 4,
  ST_TERNARY_158 = 5,
  ST_COUNT_
};
extern const char *const tern_tf_storage_name[ST_COUNT_];

/* The canonical storage form of a dtype; -1 for unknown dtypes. */
int tern_tf_canonical_storage(tern_dtype d);
/* The file is little-endian and raw data blobs are used in place. */
bool tern_tf_host_little_endian(void);
/* CRC-32 (zlib's) of n bytes, any length; update continues a running CRC. */
uint32_t tern_tf_crc(const void *p, size_t n);
uint32_t tern_tf_crc_update(uint32_t crc, const void *p, size_t n);
/* Well-formed UTF-8 without NUL bytes. */
bool tern_tf_utf8_ok(const uint8_t *s, size_t n);
/* tern_op_params <-> its TF_PARAM_WORDS words in file order. */
void tern_tf_params_to_words(const tern_op_params *p, uint32_t *w);
void tern_tf_words_to_params(const uint32_t *w, tern_op_params *p);

/* The dense 1.58-bit form of a rows x cols ternary tensor (docs/FORMAT.md)
 * into canonical 2-bit rows (out: tern_dtype_bytes bytes). Returns -1, or the
 * index of the first byte above 242 or (with *bad_padding) of the last byte
 * when its padding codes are not 1. */
int64_t tern_tf_trits_to_rows(const uint8_t *trits, int64_t rows, int64_t cols,
                              uint8_t *out, bool *bad_padding);
/* 2-bit rows (valid codes only) to the dense form (tern_trits_bytes bytes). */
void tern_tf_rows_to_trits(const uint8_t *rows_data, int64_t rows, int64_t cols,
                           uint8_t *out);

static inline uint16_t tf_get_u16(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t tf_get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}
static inline uint64_t tf_get_u64(const uint8_t *p) {
  return (uint64_t)tf_get_u32(p) | ((uint64_t)tf_get_u32(p + 4) << 32);
}
static inline void tf_put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void tf_put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static inline void tf_put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

#endif
