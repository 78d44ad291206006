/* util.c — version, status table, errors (per handle and thread-local),
 * logging, the replaceable allocator and small shared helpers. */
#include "tern_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- version */
unsigned tern_version(void) {
  return TERN_VERSION_HEX;
}

#define TERN_STR2_(x) #x
#define TERN_STR_(x) TERN_STR2_(x)
const char *tern_version_string(void) {
  return TERN_STR_(TERN_VERSION_MAJOR) "." TERN_STR_(
      TERN_VERSION_MINOR) "." TERN_STR_(TERN_VERSION_PATCH);
}

/* ----------------------------------------------------------------- status */
const char *tern_status_name(tern_status status) {
  switch (status) {
#define TERN_STATUS_NAME_(name, value, str)                                    \
  case TERN_##name:                                                            \
    return "TERN_" #name;
    TERN_STATUS_MAP(TERN_STATUS_NAME_)
#undef TERN_STATUS_NAME_
  }
  return "TERN_UNKNOWN_STATUS";
}

const char *tern_status_str(tern_status status) {
  switch (status) {
#define TERN_STATUS_STR_(name, value, str)                                     \
  case TERN_##name:                                                            \
    return str;
    TERN_STATUS_MAP(TERN_STATUS_STR_)
#undef TERN_STATUS_STR_
  }
  return "unknown status";
}

/* ------------------------------------------------------------- allocator */
static void *default_malloc(void *user, size_t n) {
  (void)user;
  return malloc(n);
}
static void *default_realloc(void *user, void *p, size_t n) {
  (void)user;
  return realloc(p, n);
}
static void default_free(void *user, void *p) {
  (void)user;
  free(p);
}
static tern_allocator g_alloc = {default_malloc, default_realloc, default_free,
                                 NULL};

tern_status tern_set_allocator(const tern_allocator *a) {
  if (!a) {
    g_alloc =
        (tern_allocator){default_malloc, default_realloc, default_free, NULL};
    return TERN_OK;
  }
  if (!a->malloc_fn || !a->realloc_fn || !a->free_fn)
    return tern_err_set(NULL, TERN_ERR_INVALID_ARGUMENT,
                        "tern_set_allocator: malloc_fn, realloc_fn and "
                        "free_fn must all be set");
  g_alloc = *a;
  return TERN_OK;
}

void *tern_malloc(size_t n) {
  return g_alloc.malloc_fn(g_alloc.user, n ? n : 1);
}
void *tern_realloc(void *p, size_t n) {
  return g_alloc.realloc_fn(g_alloc.user, p, n ? n : 1);
}
void tern_free(void *p) {
  if (p)
    g_alloc.free_fn(g_alloc.user, p);
}
void *tern_calloc(size_t count, size_t size) {
  size_t n;
  if (!tern_mul_size(count, size, &n))
    return NULL;
  void *p = tern_malloc(n);
  if (p)
    memset(p, 0, n);
  return p;
}
char *tern_strdup(const char *s) {
  if (!s)
    s = "";
  size_t n = strlen(s) + 1;
  char *d = tern_malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

/* Aligned blocks keep the offset to the raw pointer just before the block. */
void *tern_malloc_aligned(size_t bytes) {
  size_t total;
  if (!tern_add_size(bytes, 64 + sizeof(void *), &total))
    return NULL;
  unsigned char *raw = tern_malloc(total);
  if (!raw)
    return NULL;
  uintptr_t p = ((uintptr_t)raw + sizeof(void *) + 63) & ~(uintptr_t)63;
  ((void **)p)[-1] = raw;
  return (void *)p;
}
void tern_free_aligned(void *p) {
  if (p)
    tern_free(((void **)p)[-1]);
}

bool tern_mul_size(size_t a, size_t b, size_t *out) {
  if (a && b > SIZE_MAX / a)
    return false;
  *out = a * b;
  return true;
}
bool tern_add_size(size_t a, size_t b, size_t *out) {
  if (a > SIZE_MAX - b)
    return false;
  *out = a + b;
  return true;
}

/* ----------------------------------------------------------------- errors */
static _Thread_local char t_last_error[TERN_ERRMSG_MAX];

const char *tern_last_error(void) {
  return t_last_error;
}

void tern_err_publish(const tern_err *err) {
  if (err)
    snprintf(t_last_error, sizeof t_last_error, "%s", err->msg);
}

tern_status tern_err_set(tern_err *err, tern_status status, const char *fmt,
                         ...) {
  char buf[TERN_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (err) {
    err->status = status;
    memcpy(err->msg, buf, sizeof buf);
  }
  memcpy(t_last_error, buf, sizeof buf);
  tern_log(TERN_LOG_DEBUG, "error %s: %s", tern_status_name(status), buf);
  return status;
}

tern_status tern_err_prefix(tern_err *err, const char *fmt, ...) {
  if (!err)
    return TERN_ERR_INTERNAL;
  char pre[TERN_ERRMSG_MAX / 2], buf[TERN_ERRMSG_MAX + TERN_ERRMSG_MAX / 2 + 4];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pre, sizeof pre, fmt, ap);
  va_end(ap);
  snprintf(buf, sizeof buf, "%s: %s", pre, err->msg);
  buf[TERN_ERRMSG_MAX - 1] = 0; /* keep the head of a long message */
  memcpy(err->msg, buf, TERN_ERRMSG_MAX);
  memcpy(t_last_error, buf, TERN_ERRMSG_MAX);
  return err->status;
}

void tern_err_clear(tern_err *err) {
  if (err) {
    err->status = TERN_OK;
    err->msg[0] = 0;
  }
}

/* ---------------------------------------------------------------- logging */
static tern_log_fn g_log_fn;
static void *g_log_user;
static tern_log_level g_log_max = TERN_LOG_WARN;

void tern_set_log_callback(tern_log_fn fn, void *user, tern_log_level max) {
  g_log_fn = fn;
  g_log_user = user;
  g_log_max = max;
}

bool tern_log_enabled(tern_log_level level) {
  return g_log_fn && level <= g_log_max;
}

void tern_log(tern_log_level level, const char *fmt, ...) {
  if (!tern_log_enabled(level))
    return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  g_log_fn(g_log_user, level, buf);
}

/* ----------------------------------------------------------------- shapes */
int64_t tern_dims_prod(const int64_t *shape, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++)
    p *= shape[i];
  return p;
}

int64_t tern_view_numel(const tern_view *v) {
  return tern_dims_prod(v->shape, 0, v->ndim);
}

const char *tern_shape_str(int ndim, const int64_t *shape, char *buf,
                           size_t n) {
  size_t off = 0;
  off += (size_t)snprintf(buf + off, n - off, "[");
  for (int i = 0; i < ndim && off < n; i++)
    off += (size_t)snprintf(buf + off, n - off, "%s%lld", i ? ", " : "",
                            (long long)shape[i]);
  if (off < n)
    snprintf(buf + off, n - off, "]");
  return buf;
}

/* ----------------------------------------------------------------- dtypes */
const char *tern_dtype_name(tern_dtype d) {
  switch (d) {
  case TERN_DTYPE_F32:
    return "f32";
  case TERN_DTYPE_F16:
    return "f16";
  case TERN_DTYPE_I8:
    return "i8";
  case TERN_DTYPE_TERNARY:
    return "ternary";
  case TERN_DTYPE_I32:
    return "i32";
  default:
    return NULL;
  }
}

size_t tern_dtype_bytes(tern_dtype d, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0)
    return 0;
  size_t r = (size_t)rows, c = (size_t)cols, n, out;
  switch (d) {
  case TERN_DTYPE_F32:
  case TERN_DTYPE_I32:
    if (!tern_mul_size(r, c, &n) || !tern_mul_size(n, 4, &out))
      return 0;
    return out;
  case TERN_DTYPE_F16:
    if (!tern_mul_size(r, c, &n) || !tern_mul_size(n, 2, &out))
      return 0;
    return out;
  case TERN_DTYPE_I8:
    if (!tern_mul_size(r, c, &out))
      return 0;
    return out;
  case TERN_DTYPE_TERNARY:
    if (!tern_mul_size(r, (c + 3) / 4, &out))
      return 0;
    return out;
  default:
    return 0;
  }
}

/* ------------------------------------------------------------------- time */
uint64_t tern_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ atomic write */
tern_status tern_write_file_atomic(const char *path, const void *const *parts,
                                   const size_t *part_bytes, int n_parts,
                                   tern_err *err) {
  if (!path || !*path)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT, "empty output path");
  size_t plen = strlen(path) + 32;
  char *tmp = tern_malloc(plen);
  if (!tmp)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  snprintf(tmp, plen, "%s.tmp.%ld", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    tern_status s = tern_err_set(err, TERN_ERR_IO, "cannot create '%s': %s",
                                 tmp, strerror(errno));
    tern_free(tmp);
    return s;
  }
  for (int i = 0; i < n_parts; i++) {
    const unsigned char *p = parts[i];
    size_t left = part_bytes[i];
    while (left) {
      ssize_t w = write(fd, p, left);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0) {
        tern_status s = tern_err_set(err, TERN_ERR_IO, "cannot write '%s': %s",
                                     tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        tern_free(tmp);
        return s;
      }
      p += w;
      left -= (size_t)w;
    }
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    tern_status s = tern_err_set(err, TERN_ERR_IO, "cannot flush '%s': %s", tmp,
                                 strerror(errno));
    unlink(tmp);
    tern_free(tmp);
    return s;
  }
  if (rename(tmp, path) != 0) {
    tern_status s =
        tern_err_set(err, TERN_ERR_IO, "cannot rename '%s' to '%s': %s", tmp,
                     path, strerror(errno));
    unlink(tmp);
    tern_free(tmp);
    return s;
  }
  tern_free(tmp);
  return TERN_OK;
}
