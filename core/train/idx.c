/* idx.c — IDX (MNIST) loader, gzip or raw through zlib, with every field
 * checked: magic, dimensions, label range, and exact payload size (no
 * missing and no trailing bytes). */
#include "train/data.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

void tt_dataset_free(tt_dataset *d) {
  if (!d)
    return;
  tern_free(d->pixels);
  tern_free(d->labels);
  memset(d, 0, sizeof *d);
}

tern_status tt_dataset_slice(const tt_dataset *src, int64_t begin, int64_t end,
                             tt_dataset *out, tern_err *err) {
  if (begin < 0 || end > src->n || begin >= end)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "data set %s: slice [%lld, %lld) outside its %lld "
                        "samples",
                        src->name, (long long)begin, (long long)end,
                        (long long)src->n);
  tt_dataset d = *src;
  int64_t per = (int64_t)src->c * src->h * src->w, n = end - begin;
  d.n = n;
  d.pixels = tern_malloc((size_t)(n * per));
  d.labels = tern_malloc((size_t)n);
  if (!d.pixels || !d.labels) {
    tt_dataset_free(&d);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  memcpy(d.pixels, src->pixels + begin * per, (size_t)(n * per));
  memcpy(d.labels, src->labels + begin, (size_t)n);
  *out = d;
  return TERN_OK;
}

static uint32_t be32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
         b[3];
}

/* Read an IDX file of unsigned bytes with the given magic; dims receives
 * the sizes, data the payload (tern_malloc'd). */
static tern_status read_idx(const char *path, uint32_t magic, int ndim,
                            uint32_t *dims, uint8_t **data, tern_err *err) {
  struct stat sb;
  if (stat(path, &sb) != 0)
    return tern_err_set(err, TERN_ERR_IO, "%s: cannot open", path);
  gzFile f = gzopen(path, "rb");
  if (!f)
    return tern_err_set(err, TERN_ERR_IO, "%s: cannot open", path);
  bool raw = gzdirect(f) == 1;
  uint8_t hdr[16];
  int hbytes = 4 + 4 * ndim;
  tern_status st = TERN_OK;
  if (gzread(f, hdr, (unsigned)hbytes) != hbytes) {
    st =
        tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                     "%s: shorter than an IDX header (%d bytes)", path, hbytes);
    goto done;
  }
  uint32_t m = be32(hdr);
  if (m != magic) {
    st = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                      "%s: IDX magic 0x%08x, expected 0x%08x (%s)", path, m,
                      magic,
                      magic == 0x803 ? "unsigned byte images [n,h,w]"
                                     : "unsigned byte labels [n]");
    goto done;
  }
  uint64_t total = 1;
  for (int i = 0; i < ndim; i++) {
    dims[i] = be32(hdr + 4 + 4 * i);
    if (dims[i] == 0 || dims[i] > (1u << 24)) {
      st = tern_err_set(err, TERN_ERR_CORRUPT_FILE, "%s: dimension %d is %u",
                        path, i, dims[i]);
      goto done;
    }
    total *= dims[i];
  }
  if (total > (1ull << 32)) {
    st = tern_err_set(err, TERN_ERR_CORRUPT_FILE, "%s: %llu bytes of data",
                      path, (unsigned long long)total);
    goto done;
  }
  if (raw && (uint64_t)sb.st_size != (uint64_t)hbytes + total) {
    st = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                      "%s: file has %lld bytes, its header says %llu", path,
                      (long long)sb.st_size,
                      (unsigned long long)(hbytes + total));
    goto done;
  }
  *data = tern_malloc((size_t)total);
  if (!*data) {
    st = tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    goto done;
  }
  uint64_t got = 0;
  while (got < total) {
    unsigned chunk =
        total - got > (1u << 30) ? (1u << 30) : (unsigned)(total - got);
    int r = gzread(f, *data + got, chunk);
    if (r <= 0)
      break;
    got += (uint64_t)r;
  }
  uint8_t extra;
  if (got != total) {
    int ez;
    const char *zmsg = gzerror(f, &ez);
    st = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                      "%s: truncated: %llu of %llu data bytes%s%s", path,
                      (unsigned long long)got, (unsigned long long)total,
                      ez ? ": " : "", ez ? zmsg : "");
  } else if (gzread(f, &extra, 1) != 0) {
    st = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                      "%s: trailing bytes after %llu data bytes", path,
                      (unsigned long long)total);
  }
  if (st) {
    tern_free(*data);
    *data = NULL;
  }
done:
  gzclose(f);
  return st;
}

tern_status tt_load_idx(const char *images_path, const char *labels_path,
                        tt_dataset *out, tern_err *err) {
  uint32_t idims[3] = {0, 0, 0}, ldims[1] = {0};
  uint8_t *pix = NULL, *lab = NULL;
  tern_status st = read_idx(images_path, 0x803, 3, idims, &pix, err);
  if (!st)
    st = read_idx(labels_path, 0x801, 1, ldims, &lab, err);
  if (!st && idims[0] != ldims[0])
    st = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                      "%s has %u images but %s has %u labels", images_path,
                      idims[0], labels_path, ldims[0]);
  int classes = 0;
  for (uint32_t i = 0; !st && i < ldims[0]; i++) {
    if (lab[i] > 9)
      st = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: label %u of sample %u is not a digit", labels_path,
                        lab[i], i);
    else if (lab[i] + 1 > classes)
      classes = lab[i] + 1;
  }
  if (st) {
    tern_free(pix);
    tern_free(lab);
    return st;
  }
  memset(out, 0, sizeof *out);
  out->n = idims[0];
  out->c = 1;
  out->h = (int)idims[1];
  out->w = (int)idims[2];
  out->classes = 10;
  out->pixels = pix;
  out->labels = lab;
  snprintf(out->name, sizeof out->name, "mnist");
  return TERN_OK;
}

tern_status tt_load_mnist_dir(const char *dir, tt_dataset *out, tern_err *err) {
  char ip[1024], lp[1024];
  const char *sfx[2] = {".gz", ""};
  for (int k = 0; k < 2; k++) {
    snprintf(ip, sizeof ip, "%s/t10k-images-idx3-ubyte%s", dir, sfx[k]);
    snprintf(lp, sizeof lp, "%s/t10k-labels-idx1-ubyte%s", dir, sfx[k]);
    struct stat sb;
    if (stat(ip, &sb) == 0 && stat(lp, &sb) == 0)
      return tt_load_idx(ip, lp, out, err);
  }
  return tern_err_set(err, TERN_ERR_NOT_FOUND,
                      "%s: no t10k-images-idx3-ubyte[.gz] and "
                      "t10k-labels-idx1-ubyte[.gz] there",
                      dir);
}
