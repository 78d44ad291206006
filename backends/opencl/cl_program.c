/* cl_program.c — building OpenCL programs from the embedded kernels, with
 * compiled binaries persisted on disk ($TERN_CACHE_DIR or ~/.cache/tern,
 * subfolder opencl). An entry is keyed by device name, driver and platform
 * version, tern version, build options and a hash of the source; it is
 * checked (magic, full key, checksum) and a rejected or failing entry is
 * rebuilt from source and rewritten, never trusted. */
#include "backends/opencl/cl_internal.h"
#include "tern_cl_sources.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CACHE_MAGIC "TERNCLB1"

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}
#define FNV_SEED 0xcbf29ce484222325ull

const char *tern_cl_cache_dir(char *buf, size_t n) {
  const char *v = getenv("TERN_CL_NO_CACHE");
  if (v && *v && strcmp(v, "0") != 0)
    return NULL;
  const char *base = getenv("TERN_CACHE_DIR");
  if (base && *base) {
    snprintf(buf, n, "%s/opencl", base);
    return buf;
  }
  const char *xdg = getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) {
    snprintf(buf, n, "%s/tern/opencl", xdg);
    return buf;
  }
  const char *home = getenv("HOME");
  if (!home || !*home)
    return NULL;
  snprintf(buf, n, "%s/.cache/tern/opencl", home);
  return buf;
}

/* mkdir -p; failures show up later as a failed write (logged, not fatal) */
static void make_dirs(const char *path) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(tmp, 0755);
      *p = '/';
    }
  mkdir(tmp, 0755);
}

/* Read a cache entry; returns the binary (tern_malloc'd) when the file holds
 * exactly this key and an intact binary. */
static unsigned char *cache_read(const char *path, const char *key,
                                 size_t *bin_bytes, bool *rejected) {
  *rejected = false;
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  unsigned char *bin = NULL;
  char magic[8];
  uint32_t key_len = 0;
  uint64_t len = 0, sum = 0;
  char *k = NULL;
  *rejected = true;
  if (fread(magic, 1, 8, f) != 8 || memcmp(magic, CACHE_MAGIC, 8) != 0)
    goto done;
  if (fread(&key_len, 4, 1, f) != 1 || key_len != strlen(key))
    goto done;
  k = tern_malloc(key_len + 1);
  if (!k || fread(k, 1, key_len, f) != key_len || memcmp(k, key, key_len))
    goto done;
  if (fread(&len, 8, 1, f) != 1 || fread(&sum, 8, 1, f) != 1 || !len ||
      len > ((uint64_t)1 << 31))
    goto done;
  bin = tern_malloc((size_t)len);
  if (!bin || fread(bin, 1, (size_t)len, f) != len ||
      fnv1a(FNV_SEED, bin, (size_t)len) != sum || fgetc(f) != EOF) {
    tern_free(bin);
    bin = NULL;
    goto done;
  }
  *rejected = false;
  *bin_bytes = (size_t)len;
done:
  tern_free(k);
  fclose(f);
  return bin;
}

static void cache_write(const char *dir, const char *path, const char *key,
                        const unsigned char *bin, size_t n) {
  make_dirs(dir);
  uint32_t key_len = (uint32_t)strlen(key);
  uint64_t len = n, sum = fnv1a(FNV_SEED, bin, n);
  const void *parts[] = {CACHE_MAGIC, &key_len, key, &len, &sum, bin};
  size_t sizes[] = {8, 4, key_len, 8, 8, n};
  tern_err e = {0};
  if (tern_write_file_atomic(path, parts, sizes, 6, &e) != TERN_OK)
    tern_log(TERN_LOG_WARN, "opencl: cannot write the binary cache %s: %s",
             path, e.msg);
}

static unsigned char *program_binary(cl_program prog, size_t *bytes) {
  size_t n = 0;
  if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof n, &n, NULL) !=
          CL_SUCCESS ||
      !n)
    return NULL;
  unsigned char *bin = tern_malloc(n);
  if (!bin)
    return NULL;
  unsigned char *ptrs[1] = {bin};
  if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof ptrs, ptrs, NULL) !=
      CL_SUCCESS) {
    tern_free(bin);
    return NULL;
  }
  *bytes = n;
  return bin;
}

static tern_status build_failed(tern_device *dev, cl_program prog,
                                const char *label, cl_int rc, tern_err *err) {
  size_t n = 0;
  char *log = NULL;
  if (clGetProgramBuildInfo(prog, dev->id, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) ==
          CL_SUCCESS &&
      n) {
    log = tern_malloc(n + 1);
    if (log && clGetProgramBuildInfo(prog, dev->id, CL_PROGRAM_BUILD_LOG, n,
                                     log, NULL) == CL_SUCCESS)
      log[n] = 0;
    else if (log)
      log[0] = 0;
  }
  tern_log(TERN_LOG_ERROR, "opencl: building '%s' for '%s' failed:\n%s", label,
           dev->name, log ? log : "(no build log)");
  tern_status s = tern_cl_fail(
      err, rc, "building '%s' for device '%s' failed; build log: %s", label,
      dev->name, log && *log ? log : "(empty)");
  tern_free(log);
  return s;
}

tern_status tern_cl_build(tern_device *dev, const char *label,
                          const char *const *texts, int n_texts,
                          const char *options, cl_program *out, tern_err *err) {
  const char *extra = getenv("TERN_CL_BUILD_OPTIONS");
  char opts[1024];
  snprintf(opts, sizeof opts, "%s%s%s", options ? options : "",
           extra && *extra ? " " : "", extra && *extra ? extra : "");
  uint64_t h = FNV_SEED;
  for (int i = 0; i < n_texts; i++)
    h = fnv1a(h, texts[i], strlen(texts[i]));
  char key[2048];
  snprintf(key, sizeof key,
           "device=%s\ndriver=%s\nplatform=%s\ntern=%s\noptions=%s\n"
           "source=%016llx\n",
           dev->name, dev->driver, dev->platform_version, tern_version_string(),
           opts, (unsigned long long)h);
  char dirbuf[900], path[960];
  const char *dir = tern_cl_cache_dir(dirbuf, sizeof dirbuf);
  if (dir)
    snprintf(path, sizeof path, "%s/%016llx.bin", dir,
             (unsigned long long)fnv1a(FNV_SEED, key, strlen(key)));
  cl_int rc;
  if (dir) {
    size_t n = 0;
    bool rejected = false;
    unsigned char *bin = cache_read(path, key, &n, &rejected);
    if (bin) {
      const unsigned char *bp = bin;
      cl_int bst = CL_SUCCESS;
      cl_program prog = clCreateProgramWithBinary(dev->context, 1, &dev->id, &n,
                                                  &bp, &bst, &rc);
      if (prog && bst == CL_SUCCESS &&
          clBuildProgram(prog, 1, &dev->id, opts, NULL, NULL) == CL_SUCCESS) {
        tern_free(bin);
        dev->cache_hits++;
        *out = prog;
        return TERN_OK;
      }
      if (prog)
        clReleaseProgram(prog);
      rejected = true;
    }
    tern_free(bin);
    if (rejected) {
      dev->cache_rejects++;
      tern_log(TERN_LOG_WARN,
               "opencl: cached binary %s for '%s' rejected; rebuilding", path,
               label);
    } else {
      dev->cache_misses++;
    }
  }
  size_t lens[8];
  if (n_texts < 1 || n_texts > 8)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "opencl: program '%s' has %d source texts (1 to 8)",
                        label, n_texts);
  for (int i = 0; i < n_texts; i++)
    lens[i] = strlen(texts[i]);
  cl_program prog = clCreateProgramWithSource(dev->context, (cl_uint)n_texts,
                                              (const char **)texts, lens, &rc);
  if (!prog)
    return tern_cl_fail(err, rc, "creating program '%s' on '%s'", label,
                        dev->name);
  dev->source_builds++;
  rc = clBuildProgram(prog, 1, &dev->id, opts, NULL, NULL);
  if (rc != CL_SUCCESS) {
    tern_status s = build_failed(dev, prog, label, rc, err);
    clReleaseProgram(prog);
    return s;
  }
  if (dir) {
    size_t n = 0;
    unsigned char *bin = program_binary(prog, &n);
    if (bin)
      cache_write(dir, path, key, bin, n);
    tern_free(bin);
  }
  *out = prog;
  return TERN_OK;
}

static const tern_cl_source *find_source(const char *name) {
  for (int i = 0; tern_cl_sources[i].name; i++)
    if (strcmp(tern_cl_sources[i].name, name) == 0)
      return &tern_cl_sources[i];
  return NULL;
}

tern_status tern_cl_kernel(tern_device *dev, const char *name,
                           const char *options, const char *kernel,
                           cl_kernel *out, tern_err *err) {
  char key[1024];
  snprintf(key, sizeof key, "%s|%s", name, options ? options : "");
  cl_program prog = NULL;
  for (int i = 0; i < dev->n_progs; i++)
    if (strcmp(dev->progs[i].key, key) == 0) {
      prog = dev->progs[i].program;
      break;
    }
  if (!prog) {
    const tern_cl_source *common = find_source("common");
    const tern_cl_source *src = find_source(name);
    if (!common || !src)
      return tern_err_set(err, TERN_ERR_INTERNAL,
                          "opencl: no embedded kernel source '%s'", name);
    if (dev->n_progs == dev->cap_progs) {
      int cap = dev->cap_progs ? dev->cap_progs * 2 : 16;
      tern_cl_prog *g = tern_realloc(dev->progs, (size_t)cap * sizeof *g);
      if (!g)
        return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY,
                            "opencl: out of memory");
      dev->progs = g;
      dev->cap_progs = cap;
    }
    char *k = tern_strdup(key);
    if (!k)
      return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "opencl: out of memory");
    /* feature macros are part of the options, hence of the cache key */
    char opts[1024];
    snprintf(
        opts, sizeof opts, "-cl-std=CL1.2 %s%s%s%s%s", options ? options : "",
        dev->exact_divsqrt ? " -cl-fp32-correctly-rounded-divide-sqrt" : "",
        dev->feat.int_dot ? " -DTERN_INT_DOT=1" : "",
        dev->feat.subgroups ? " -DTERN_SUBGROUPS=1" : "",
        dev->feat.fp16 ? " -DTERN_FP16=1" : "");
    const char *texts[2] = {common->text, src->text};
    tern_status s = tern_cl_build(dev, name, texts, 2, opts, &prog, err);
    if (s) {
      tern_free(k);
      return s;
    }
    dev->progs[dev->n_progs].key = k;
    dev->progs[dev->n_progs].program = prog;
    dev->n_progs++;
  }
  cl_int rc;
  cl_kernel kk = clCreateKernel(prog, kernel, &rc);
  if (!kk)
    return tern_cl_fail(err, rc, "creating kernel %s of '%s' on '%s'", kernel,
                        name, dev->name);
  *out = kk;
  return TERN_OK;
}
