/* cl_backend.c — the OpenCL backend's vtable: platform/device enumeration,
 * one context and profiling-enabled in-order queue per device, buffers,
 * kernel launch with events, the cl error table, and node dispatch. */
#include "backends/opencl/cl_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- errors */
const char *tern_cl_err_name(cl_int code) {
  switch (code) {
#define E_(x)                                                                  \
  case x:                                                                      \
    return #x;
    E_(CL_SUCCESS)
    E_(CL_DEVICE_NOT_FOUND)
    E_(CL_DEVICE_NOT_AVAILABLE)
    E_(CL_COMPILER_NOT_AVAILABLE)
    E_(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    E_(CL_OUT_OF_RESOURCES)
    E_(CL_OUT_OF_HOST_MEMORY)
    E_(CL_PROFILING_INFO_NOT_AVAILABLE)
    E_(CL_MEM_COPY_OVERLAP)
    E_(CL_BUILD_PROGRAM_FAILURE)
    E_(CL_MAP_FAILURE)
    E_(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    E_(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    E_(CL_COMPILE_PROGRAM_FAILURE)
    E_(CL_LINKER_NOT_AVAILABLE)
    E_(CL_LINK_PROGRAM_FAILURE)
    E_(CL_INVALID_VALUE)
    E_(CL_INVALID_DEVICE_TYPE)
    E_(CL_INVALID_PLATFORM)
    E_(CL_INVALID_DEVICE)
    E_(CL_INVALID_CONTEXT)
    E_(CL_INVALID_QUEUE_PROPERTIES)
    E_(CL_INVALID_COMMAND_QUEUE)
    E_(CL_INVALID_HOST_PTR)
    E_(CL_INVALID_MEM_OBJECT)
    E_(CL_INVALID_BINARY)
    E_(CL_INVALID_BUILD_OPTIONS)
    E_(CL_INVALID_PROGRAM)
    E_(CL_INVALID_PROGRAM_EXECUTABLE)
    E_(CL_INVALID_KERNEL_NAME)
    E_(CL_INVALID_KERNEL)
    E_(CL_INVALID_ARG_INDEX)
    E_(CL_INVALID_ARG_VALUE)
    E_(CL_INVALID_ARG_SIZE)
    E_(CL_INVALID_KERNEL_ARGS)
    E_(CL_INVALID_WORK_DIMENSION)
    E_(CL_INVALID_WORK_GROUP_SIZE)
    E_(CL_INVALID_WORK_ITEM_SIZE)
    E_(CL_INVALID_GLOBAL_OFFSET)
    E_(CL_INVALID_EVENT_WAIT_LIST)
    E_(CL_INVALID_EVENT)
    E_(CL_INVALID_OPERATION)
    E_(CL_INVALID_BUFFER_SIZE)
    E_(CL_INVALID_GLOBAL_WORK_SIZE)
#undef E_
  case -1001:
    return "CL_PLATFORM_NOT_FOUND_KHR";
  default:
    return "CL_UNKNOWN_ERROR";
  }
}

static tern_status map_status(cl_int code) {
  switch (code) {
  case CL_OUT_OF_HOST_MEMORY:
  case CL_OUT_OF_RESOURCES:
  case CL_MEM_OBJECT_ALLOCATION_FAILURE:
    return TERN_ERR_OUT_OF_MEMORY;
  case CL_DEVICE_NOT_FOUND:
  case -1001:
    return TERN_ERR_NO_DEVICE;
  case CL_DEVICE_NOT_AVAILABLE:
  case CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST:
    return TERN_ERR_DEVICE_LOST;
  case CL_INVALID_BUFFER_SIZE:
  case CL_INVALID_GLOBAL_WORK_SIZE:
  case CL_INVALID_WORK_GROUP_SIZE:
    return TERN_ERR_UNSUPPORTED;
  default:
    return TERN_ERR_BACKEND;
  }
}

tern_status tern_cl_fail(tern_err *err, cl_int code, const char *fmt, ...) {
  char what[TERN_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return tern_err_set(err, map_status(code), "opencl: %s: %s (%d)", what,
                      tern_cl_err_name(code), (int)code);
}

static bool env_on(const char *name) {
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") != 0;
}

/* ------------------------------------------------------------ enumeration */
static void dev_string(cl_device_id d, cl_device_info what, char *buf,
                       size_t n) {
  buf[0] = 0;
  if (clGetDeviceInfo(d, what, n, buf, NULL) != CL_SUCCESS)
    buf[0] = 0;
  buf[n - 1] = 0;
}

static bool dev_has_ext(cl_device_id d, const char *ext) {
  size_t n = 0;
  if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &n) != CL_SUCCESS)
    return false;
  char *s = tern_malloc(n + 1);
  if (!s)
    return false;
  bool found = false;
  if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, n, s, NULL) == CL_SUCCESS) {
    s[n] = 0;
    size_t len = strlen(ext);
    for (char *p = strstr(s, ext); p; p = strstr(p + 1, ext))
      if ((p == s || p[-1] == ' ') && (p[len] == ' ' || p[len] == 0)) {
        found = true;
        break;
      }
  }
  tern_free(s);
  return found;
}

static void fill_info(tern_cl_devrec *r, int index) {
  tern_device_info *in = &r->info;
  memset(in, 0, sizeof *in);
  in->size = sizeof *in;
  snprintf(in->id, sizeof in->id, "opencl:%d", index);
  snprintf(in->backend, sizeof in->backend, "opencl");
  dev_string(r->id, CL_DEVICE_NAME, in->name, sizeof in->name);
  dev_string(r->id, CL_DEVICE_VENDOR, in->vendor, sizeof in->vendor);
  dev_string(r->id, CL_DRIVER_VERSION, in->driver, sizeof in->driver);
  cl_device_type t = 0;
  clGetDeviceInfo(r->id, CL_DEVICE_TYPE, sizeof t, &t, NULL);
  cl_bool unified = CL_FALSE;
  clGetDeviceInfo(r->id, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified,
                  &unified, NULL);
  in->type = (t & CL_DEVICE_TYPE_CPU)   ? TERN_DEVICE_CPU
             : (t & CL_DEVICE_TYPE_GPU) ? (unified ? TERN_DEVICE_GPU_INTEGRATED
                                                   : TERN_DEVICE_GPU_DISCRETE)
                                        : TERN_DEVICE_OTHER;
  cl_ulong mem = 0;
  clGetDeviceInfo(r->id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
  in->memory_bytes = mem;
  cl_uint cu = 0;
  clGetDeviceInfo(r->id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
  in->compute_units = (int)cu;
  char cver[64];
  dev_string(r->id, CL_DEVICE_OPENCL_C_VERSION, cver, sizeof cver);
  /* what could be on; device_open runs the self-tests that decide */
  snprintf(in->features, sizeof in->features, "%s%s%s%s%s",
           cver[0] ? cver : "OpenCL C ?",
#ifdef TERN_HAVE_CLBLAST
           env_on("TERN_CL_DISABLE_CLBLAST") ? "" : " clblast",
#else
           "",
#endif
           dev_has_ext(r->id, "cl_khr_fp16") ? " fp16?" : "",
           dev_has_ext(r->id, "cl_khr_integer_dot_product") ? " int_dot?" : "",
           dev_has_ext(r->id, "cl_khr_subgroups") ? " subgroups?" : "");
}

static bool any_tier(cl_device_id d) {
  return dev_has_ext(d, "cl_khr_fp16") ||
         dev_has_ext(d, "cl_khr_integer_dot_product") ||
         dev_has_ext(d, "cl_khr_subgroups");
}

static tern_status cl_device_open(tern_backend_ctx *ctx, int index,
                                  tern_device **out, tern_err *err);
static void cl_device_close(tern_device *dev);

static tern_status cl_init(const tern_backend_config *cfg,
                           tern_backend_ctx **out, tern_err *err) {
  tern_backend_ctx *ctx = tern_calloc(1, sizeof *ctx);
  if (!ctx)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "opencl: out of memory");
  ctx->tuning_db = cfg ? cfg->tuning_db : NULL;
  cl_uint np = 0;
  cl_int rc = clGetPlatformIDs(0, NULL, &np);
  if (rc != CL_SUCCESS || np == 0) {
    /* no ICD or no platform: zero devices, not an error */
    tern_log(TERN_LOG_INFO,
             "opencl: no platform found (%s, %d): no OpenCL devices",
             tern_cl_err_name(rc), (int)rc);
    *out = ctx;
    return TERN_OK;
  }
  cl_platform_id *plats = tern_calloc(np, sizeof *plats);
  if (!plats) {
    tern_free(ctx);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "opencl: out of memory");
  }
  clGetPlatformIDs(np, plats, NULL);
  for (cl_uint p = 0; p < np; p++) {
    cl_uint nd = 0;
    rc = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
    if (rc != CL_SUCCESS || nd == 0) {
      tern_log(TERN_LOG_INFO, "opencl: platform %u has no devices (%s, %d)", p,
               tern_cl_err_name(rc), (int)rc);
      continue;
    }
    cl_device_id *ids = tern_calloc(nd, sizeof *ids);
    tern_cl_devrec *grown =
        tern_realloc(ctx->devs, (ctx->n_devices + nd) * sizeof *grown);
    if (!ids || !grown) {
      tern_free(ids);
      if (grown)
        ctx->devs = grown;
      tern_free(plats);
      tern_free(ctx->devs);
      tern_free(ctx);
      return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "opencl: out of memory");
    }
    ctx->devs = grown;
    clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL);
    for (cl_uint d = 0; d < nd; d++) {
      cl_bool avail = CL_FALSE;
      clGetDeviceInfo(ids[d], CL_DEVICE_AVAILABLE, sizeof avail, &avail, NULL);
      if (!avail)
        continue;
      tern_cl_devrec *r = &ctx->devs[ctx->n_devices];
      r->platform = plats[p];
      r->id = ids[d];
      fill_info(r, ctx->n_devices);
      tern_log(TERN_LOG_INFO, "opencl: device %d: %s (%s, driver %s)",
               ctx->n_devices, r->info.name, r->info.vendor, r->info.driver);
      ctx->n_devices++;
    }
    tern_free(ids);
  }
  tern_free(plats);
  /* The summary says what is on: devices offering an optional tier are
   * opened once so the self-tests decide (builds come from the cache). */
  for (int i = 0; i < ctx->n_devices; i++) {
    tern_cl_devrec *r = &ctx->devs[i];
    tern_device *dev = NULL;
    tern_err e = {0};
    if (!any_tier(r->id) || cl_device_open(ctx, i, &dev, &e) != TERN_OK)
      continue;
    char cver[64];
    dev_string(r->id, CL_DEVICE_OPENCL_C_VERSION, cver, sizeof cver);
    snprintf(r->info.features, sizeof r->info.features, "%s%s%s%s%s",
             cver[0] ? cver : "OpenCL C ?", dev->feat.clblast ? " clblast" : "",
             dev->feat.fp16 ? " fp16" : "", dev->feat.int_dot ? " int_dot" : "",
             dev->feat.subgroups ? " subgroups" : "");
    cl_device_close(dev);
  }
  *out = ctx;
  return TERN_OK;
}

static void cl_shutdown(tern_backend_ctx *ctx) {
  if (!ctx)
    return;
  tern_free(ctx->devs);
  tern_free(ctx);
}

static int cl_device_count(tern_backend_ctx *ctx) {
  return ctx ? ctx->n_devices : 0;
}

static tern_status clb_device_info(tern_backend_ctx *ctx, int index,
                                   tern_device_info *info) {
  if (!ctx || index < 0 || index >= ctx->n_devices || !info)
    return tern_err_set(NULL, TERN_ERR_NO_DEVICE,
                        "opencl: no device %d (%d present)", index,
                        ctx ? ctx->n_devices : 0);
  size_t n =
      info->size && info->size < sizeof *info ? info->size : sizeof *info;
  memcpy(info, &ctx->devs[index].info, n);
  info->size = n;
  return TERN_OK;
}

/* ------------------------------------------------------------- features */
/* Build and run one tiny kernel that uses the feature and compare with the
 * value computed here; any failure leaves the feature off. */
static bool self_test(tern_device *dev, const char *src, const char *opts,
                      const int *expect, int n) {
  tern_err e = {0};
  cl_program prog = NULL;
  const char *texts[1] = {src};
  if (tern_cl_build(dev, "selftest", texts, 1, opts, &prog, &e) != TERN_OK)
    return false;
  bool ok = false;
  cl_int rc;
  cl_kernel k = clCreateKernel(prog, "selftest", &rc);
  cl_mem m = clCreateBuffer(dev->context, CL_MEM_READ_WRITE,
                            (size_t)n * sizeof(cl_int), NULL, &rc);
  if (k && m && clSetKernelArg(k, 0, sizeof m, &m) == CL_SUCCESS) {
    size_t g = (size_t)n, l = (size_t)n;
    int got[64] = {0};
    if (clEnqueueNDRangeKernel(dev->queue, k, 1, NULL, &g, &l, 0, NULL, NULL) ==
            CL_SUCCESS &&
        clEnqueueReadBuffer(dev->queue, m, CL_TRUE, 0,
                            (size_t)n * sizeof(cl_int), got, 0, NULL,
                            NULL) == CL_SUCCESS)
      ok = memcmp(got, expect, (size_t)n * sizeof(int)) == 0;
  }
  if (m)
    clReleaseMemObject(m);
  if (k)
    clReleaseKernel(k);
  return ok;
}

static const char k_fp16_test[] =
    "#pragma OPENCL EXTENSION cl_khr_fp16 : enable\n"
    "kernel void selftest(global int *o) { int i = get_global_id(0);\n"
    "  half h = (half)(i * 3); half q = h * (half)0.5f;\n"
    "  o[i] = (int)(((float)q) * 4.0f); }\n";
static const char k_intdot_test[] =
    "#pragma OPENCL EXTENSION cl_khr_integer_dot_product : enable\n"
    "kernel void selftest(global int *o) { int i = get_global_id(0);\n"
    "  char4 a = (char4)(i - 8, -127, 127, 3);\n"
    "  char4 b = (char4)(5, i - 8, -1, 127);\n"
    "  o[i] = dot(a, b); }\n";
static const char k_subgroup_test[] =
    "#pragma OPENCL EXTENSION cl_khr_subgroups : enable\n"
    "kernel void selftest(global int *o) { int i = get_global_id(0);\n"
    "  uint v = (uint)(i * 37 % 16);\n"
    "  o[i] = (int)(sub_group_reduce_max(v) >= v); }\n";

static void probe_features(tern_device *dev) {
  int exp[16];
  memset(&dev->feat, 0, sizeof dev->feat);
  if (dev_has_ext(dev->id, "cl_khr_fp16") && !env_on("TERN_CL_DISABLE_FP16")) {
    for (int i = 0; i < 16; i++)
      exp[i] = i * 3 * 2; /* (i*3)*0.5*4, exact in half for i < 16 */
    dev->feat.fp16 = self_test(dev, k_fp16_test, "", exp, 16);
  }
  if (dev_has_ext(dev->id, "cl_khr_integer_dot_product") &&
      !env_on("TERN_CL_DISABLE_INT_DOT")) {
    for (int i = 0; i < 16; i++)
      exp[i] = (i - 8) * 5 + (-127) * (i - 8) + 127 * -1 + 3 * 127;
    dev->feat.int_dot = self_test(dev, k_intdot_test, "", exp, 16);
  }
  if (dev_has_ext(dev->id, "cl_khr_subgroups") &&
      !env_on("TERN_CL_DISABLE_SUBGROUP")) {
    for (int i = 0; i < 16; i++)
      exp[i] = 1;
    dev->feat.subgroups = self_test(dev, k_subgroup_test, "", exp, 16);
  }
#ifdef TERN_HAVE_CLBLAST
  dev->feat.clblast = !env_on("TERN_CL_DISABLE_CLBLAST");
#endif
}

/* ------------------------------------------------------------ open/close */

static tern_status cl_device_open(tern_backend_ctx *ctx, int index,
                                  tern_device **out, tern_err *err) {
  if (!ctx || index < 0 || index >= ctx->n_devices)
    return tern_err_set(err, TERN_ERR_NO_DEVICE,
                        "opencl: no device %d (%d present)", index,
                        ctx ? ctx->n_devices : 0);
  tern_cl_devrec *r = &ctx->devs[index];
  tern_device *dev = tern_calloc(1, sizeof *dev);
  if (!dev)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "opencl: out of memory");
  dev->ctx = ctx;
  dev->index = index;
  dev->id = r->id;
  snprintf(dev->name, sizeof dev->name, "%s", r->info.name);
  snprintf(dev->driver, sizeof dev->driver, "%s", r->info.driver);
  clGetPlatformInfo(r->platform, CL_PLATFORM_VERSION,
                    sizeof dev->platform_version, dev->platform_version, NULL);
  dev->platform_version[sizeof dev->platform_version - 1] = 0;
  clGetDeviceInfo(r->id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof dev->max_wg,
                  &dev->max_wg, NULL);
  cl_ulong ma = 0;
  clGetDeviceInfo(r->id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof ma, &ma, NULL);
  dev->max_alloc_bytes = ma;
  cl_int rc;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                   (cl_context_properties)r->platform, 0};
  dev->context = clCreateContext(props, 1, &r->id, NULL, NULL, &rc);
  if (!dev->context) {
    tern_free(dev);
    return tern_cl_fail(err, rc, "creating a context on '%s'", r->info.name);
  }
  dev->queue =
      clCreateCommandQueue(dev->context, r->id, CL_QUEUE_PROFILING_ENABLE, &rc);
  if (!dev->queue) {
    tern_status s =
        tern_cl_fail(err, rc, "creating a queue on '%s'", r->info.name);
    cl_device_close(dev);
    return s;
  }
  probe_features(dev);
  /* divisions and square roots rounded like the host's where the device
   * can (avgpool, norms, softmax, silu get closer to the reference) */
  cl_device_fp_config fp = 0;
  clGetDeviceInfo(r->id, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
  dev->exact_divsqrt = (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;
  const char *gm = getenv("TERN_CL_GEMM");
  if (gm && strcmp(gm, "dot4") == 0)
    dev->gemm_dot4 = true;
  else if (gm && strcmp(gm, "wide") == 0)
    dev->gemm_dot4 = false;
  else
    dev->gemm_dot4 = r->info.type != TERN_DEVICE_CPU;
  tern_cl_tune_defaults(dev);
  tern_log(TERN_LOG_INFO,
           "opencl: opened '%s': fp16=%s int_dot=%s "
           "subgroups=%s clblast=%s gemm=%s",
           dev->name, dev->feat.fp16 ? "on" : "off",
           dev->feat.int_dot ? "on" : "off", dev->feat.subgroups ? "on" : "off",
           dev->feat.clblast ? "on" : "off", dev->gemm_dot4 ? "dot4" : "wide");
  *out = dev;
  return TERN_OK;
}

static void release_events(tern_device *dev) {
  for (int i = 0; i < dev->n_events; i++)
    clReleaseEvent(dev->events[i]);
  dev->n_events = 0;
}

static void cl_device_close(tern_device *dev) {
  if (!dev)
    return;
  if (dev->queue)
    clFinish(dev->queue);
  release_events(dev);
  tern_free(dev->events);
  for (int i = 0; i < dev->n_progs; i++) {
    clReleaseProgram(dev->progs[i].program);
    tern_free(dev->progs[i].key);
  }
  tern_free(dev->progs);
  for (int i = 0; i < 5; i++)
    if (dev->scratch[i])
      clReleaseMemObject(dev->scratch[i]);
  if (dev->queue)
    clReleaseCommandQueue(dev->queue);
  if (dev->context)
    clReleaseContext(dev->context);
  tern_free(dev->tunable);
  tern_free(dev);
}

/* ---------------------------------------------------------------- buffers */
static tern_status cl_buffer_alloc(tern_device *dev, size_t bytes,
                                   tern_buffer **out, tern_err *err) {
  if (dev->max_alloc_bytes && bytes > dev->max_alloc_bytes)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY,
                        "opencl: buffer of %zu bytes exceeds the device's "
                        "largest allocation (%llu bytes) on '%s'",
                        bytes, (unsigned long long)dev->max_alloc_bytes,
                        dev->name);
  tern_buffer *b = tern_calloc(1, sizeof *b);
  if (!b)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "opencl: out of memory");
  cl_int rc;
  cl_mem m = clCreateBuffer(dev->context, CL_MEM_READ_WRITE, bytes ? bytes : 4,
                            NULL, &rc);
  if (!m) {
    tern_free(b);
    return tern_cl_fail(err, rc, "allocating %zu bytes on '%s'", bytes,
                        dev->name);
  }
  b->dev = dev;
  b->bytes = bytes;
  b->impl = m;
  *out = b;
  return TERN_OK;
}

static void cl_buffer_free(tern_buffer *buf) {
  if (!buf)
    return;
  if (buf->impl)
    clReleaseMemObject((cl_mem)buf->impl);
  tern_free(buf);
}

static tern_status check_range(tern_buffer *buf, size_t off, size_t bytes,
                               const char *what, tern_err *err) {
  size_t end;
  if (!tern_add_size(off, bytes, &end) || end > buf->bytes)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "opencl: %s of %zu bytes at offset %zu is outside "
                        "the %zu-byte buffer",
                        what, bytes, off, buf->bytes);
  return TERN_OK;
}

static tern_status cl_buffer_write(tern_buffer *buf, size_t offset,
                                   const void *src, size_t bytes,
                                   tern_err *err) {
  tern_status s = check_range(buf, offset, bytes, "write", err);
  if (s || !bytes)
    return s;
  cl_int rc = clEnqueueWriteBuffer(buf->dev->queue, tern_cl_mem(buf), CL_TRUE,
                                   offset, bytes, src, 0, NULL, NULL);
  if (rc != CL_SUCCESS)
    return tern_cl_fail(err, rc, "writing %zu bytes on '%s'", bytes,
                        buf->dev->name);
  return TERN_OK;
}

static tern_status cl_buffer_read(tern_buffer *buf, size_t offset, void *dst,
                                  size_t bytes, tern_err *err) {
  tern_status s = check_range(buf, offset, bytes, "read", err);
  if (s || !bytes)
    return s;
  cl_int rc = clEnqueueReadBuffer(buf->dev->queue, tern_cl_mem(buf), CL_TRUE,
                                  offset, bytes, dst, 0, NULL, NULL);
  if (rc != CL_SUCCESS)
    return tern_cl_fail(err, rc, "reading %zu bytes on '%s'", bytes,
                        buf->dev->name);
  return TERN_OK;
}

tern_status tern_cl_upload(tern_device *dev, const void *data, size_t bytes,
                           cl_mem *out, tern_err *err) {
  cl_int rc;
  cl_mem m = clCreateBuffer(dev->context, CL_MEM_READ_ONLY, bytes ? bytes : 4,
                            NULL, &rc);
  if (!m)
    return tern_cl_fail(err, rc, "allocating %zu bytes on '%s'", bytes,
                        dev->name);
  if (bytes) {
    rc = clEnqueueWriteBuffer(dev->queue, m, CL_TRUE, 0, bytes, data, 0, NULL,
                              NULL);
    if (rc != CL_SUCCESS) {
      clReleaseMemObject(m);
      return tern_cl_fail(err, rc, "uploading %zu bytes on '%s'", bytes,
                          dev->name);
    }
  }
  *out = m;
  return TERN_OK;
}

tern_status tern_cl_scratch(tern_device *dev, int slot, size_t bytes,
                            cl_mem *out, tern_err *err) {
  if (bytes < 64)
    bytes = 64; /* never a zero-sized buffer */
  if (dev->scratch_bytes[slot] < bytes) {
    /* a buffer still used by queued kernels is freed once they finish */
    if (dev->scratch[slot])
      clReleaseMemObject(dev->scratch[slot]);
    dev->scratch[slot] = NULL;
    dev->scratch_bytes[slot] = 0;
    cl_int rc;
    cl_mem m =
        clCreateBuffer(dev->context, CL_MEM_READ_WRITE, bytes, NULL, &rc);
    if (!m)
      return tern_cl_fail(err, rc, "allocating %zu scratch bytes on '%s'",
                          bytes, dev->name);
    dev->scratch[slot] = m;
    dev->scratch_bytes[slot] = bytes;
  }
  *out = dev->scratch[slot];
  return TERN_OK;
}

/* ----------------------------------------------------------------- launch */
tern_status tern_cl_args(cl_kernel k, const char *what, tern_err *err, ...) {
  va_list ap;
  va_start(ap, err);
  cl_uint i = 0;
  for (;;) {
    size_t sz = va_arg(ap, size_t);
    if (!sz)
      break;
    const void *p = va_arg(ap, const void *);
    cl_int rc = clSetKernelArg(k, i, sz, p);
    if (rc != CL_SUCCESS) {
      va_end(ap);
      return tern_cl_fail(err, rc, "%s: setting argument %u", what, i);
    }
    i++;
  }
  va_end(ap);
  return TERN_OK;
}

void tern_cl_track_event(tern_device *dev, cl_event ev) {
  if (!ev)
    return;
  if (!dev->profiling) {
    clReleaseEvent(ev);
    return;
  }
  if (dev->n_events == dev->cap_events) {
    int cap = dev->cap_events ? dev->cap_events * 2 : 64;
    cl_event *g = tern_realloc(dev->events, (size_t)cap * sizeof *g);
    if (!g) {
      clReleaseEvent(ev);
      return;
    }
    dev->events = g;
    dev->cap_events = cap;
  }
  dev->events[dev->n_events++] = ev;
}

tern_status tern_cl_launch(tern_device *dev, cl_kernel k, int dims,
                           const size_t *global, const size_t *local,
                           const char *what, tern_err *err) {
  size_t g[3];
  for (int i = 0; i < dims; i++) {
    g[i] = global[i] ? global[i] : 1;
    if (local && local[i] > 1)
      g[i] = (g[i] + local[i] - 1) / local[i] * local[i];
  }
  cl_event ev = NULL;
  cl_int rc =
      clEnqueueNDRangeKernel(dev->queue, k, (cl_uint)dims, NULL, g, local, 0,
                             NULL, dev->profiling ? &ev : NULL);
  if (rc != CL_SUCCESS)
    return tern_cl_fail(err, rc, "launching %s on '%s'", what, dev->name);
  tern_cl_track_event(dev, ev);
  return TERN_OK;
}

void tern_cl_profile(tern_device *dev, bool on) {
  clFinish(dev->queue);
  release_events(dev);
  dev->profiling = on;
}

tern_status tern_cl_profile_elapsed(tern_device *dev, uint64_t *ns,
                                    tern_err *err) {
  cl_int rc = clFinish(dev->queue);
  if (rc != CL_SUCCESS)
    return tern_cl_fail(err, rc, "waiting for '%s'", dev->name);
  uint64_t sum = 0;
  for (int i = 0; i < dev->n_events; i++) {
    cl_ulong a = 0, b = 0;
    rc = clGetEventProfilingInfo(dev->events[i], CL_PROFILING_COMMAND_START,
                                 sizeof a, &a, NULL);
    if (rc == CL_SUCCESS)
      rc = clGetEventProfilingInfo(dev->events[i], CL_PROFILING_COMMAND_END,
                                   sizeof b, &b, NULL);
    if (rc != CL_SUCCESS)
      return tern_cl_fail(err, rc, "reading profiling info on '%s'", dev->name);
    sum += b - a;
    if (tern_log_enabled(TERN_LOG_DEBUG)) {
      cl_command_type t = 0;
      clGetEventInfo(dev->events[i], CL_EVENT_COMMAND_TYPE, sizeof t, &t, NULL);
      tern_log(TERN_LOG_DEBUG, "opencl: event %d (command 0x%x): %.3f ms", i,
               (unsigned)t, (double)(b - a) / 1e6);
    }
  }
  release_events(dev);
  *ns = sum;
  return TERN_OK;
}

cl_command_queue tern_cl_queue(tern_device *dev) {
  return dev->queue;
}

tern_status tern_cl_launch1(tern_device *dev, cl_kernel k, size_t n,
                            const char *what, tern_err *err) {
  if (!n)
    return TERN_OK;
  return tern_cl_launch(dev, k, 1, &n, NULL, what, err);
}

tern_status tern_cl_launch_ept(tern_device *dev, cl_kernel k, size_t n, int lws,
                               int ept, const char *what, tern_err *err) {
  if (!n)
    return TERN_OK;
  size_t per = ept > 1 ? (size_t)ept : 1, g = (n + per - 1) / per;
  size_t l = lws > 0 ? (size_t)lws : 0;
  return tern_cl_launch(dev, k, 1, &g, l ? &l : NULL, what, err);
}

cl_mem tern_cl_input(tern_cl_node *p, tern_buffer *const *bufs,
                     const size_t *offsets, int i, cl_uint *off) {
  if (p->node.in_const[i] || !bufs[i]) {
    *off = 0;
    return p->cin[i];
  }
  *off = tern_cl_off(offsets, i, sizeof(float));
  return tern_cl_mem(bufs[i]);
}

tern_status tern_cl_upload_consts(tern_device *dev, const tern_exec_node *node,
                                  tern_cl_node *p, tern_err *err) {
  for (int i = 0; i < node->n_inputs; i++) {
    if (!node->in_const[i])
      continue;
    size_t bytes = (size_t)tern_view_numel(&node->in[i]) * sizeof(float);
    tern_status s =
        tern_cl_upload(dev, node->in[i].data, bytes, &p->cin[i], err);
    if (s)
      return s;
  }
  return TERN_OK;
}

static tern_status cl_sync(tern_device *dev, tern_err *err) {
  cl_int rc = clFinish(dev->queue);
  if (rc != CL_SUCCESS)
    return tern_cl_fail(err, rc, "waiting for '%s'", dev->name);
  return TERN_OK;
}

/* ------------------------------------------------------------ node table */
static const tern_cl_op *op_impl(tern_op op) {
  switch (op) {
  case TERN_OP_LINEAR:
    return &tern_cl_op_linear;
  case TERN_OP_CONV2D:
    return &tern_cl_op_conv2d;
  case TERN_OP_RELU:
  case TERN_OP_RELU6:
  case TERN_OP_GELU:
  case TERN_OP_SILU:
    return &tern_cl_op_unary;
  case TERN_OP_ADD:
  case TERN_OP_MUL:
    return &tern_cl_op_binary;
  case TERN_OP_CAUSAL_MASK:
    return &tern_cl_op_causal_mask;
  case TERN_OP_FLATTEN:
  case TERN_OP_RESHAPE:
    return &tern_cl_op_copy;
  case TERN_OP_CONCAT:
    return &tern_cl_op_concat;
  case TERN_OP_PERMUTE:
    return &tern_cl_op_permute;
  case TERN_OP_MAXPOOL2D:
  case TERN_OP_AVGPOOL2D:
  case TERN_OP_GLOBAL_AVGPOOL:
    return &tern_cl_op_pool;
  case TERN_OP_BATCHNORM:
  case TERN_OP_LAYERNORM:
  case TERN_OP_RMSNORM:
    return &tern_cl_op_norm;
  case TERN_OP_SOFTMAX:
    return &tern_cl_op_softmax;
  case TERN_OP_MATMUL:
    return &tern_cl_op_matmul;
  case TERN_OP_ROPE:
    return &tern_cl_op_rope;
  default:
    return NULL;
  }
}

static bool cl_supports(tern_device *dev, const tern_exec_node *node) {
  const tern_cl_op *o = op_impl(node->op);
  if (!o)
    return false;
  /* kernels index with 32-bit integers */
  if (tern_view_numel(&node->out) > INT32_MAX)
    return false;
  for (int i = 0; i < node->n_inputs; i++)
    if (tern_view_numel(&node->in[i]) > INT32_MAX)
      return false;
  return o->supports(dev, node);
}

static void cl_node_release(tern_device *dev, void *prepared) {
  tern_cl_node *p = prepared;
  if (!p)
    return;
  for (int i = 0; i < TERN_CL_MAX_KERNELS; i++)
    if (p->k[i])
      clReleaseKernel(p->k[i]);
  for (int i = 0; i < TERN_CL_MAX_MEMS; i++)
    if (p->mem[i])
      clReleaseMemObject(p->mem[i]);
  for (int i = 0; i < TERN_MAX_INPUTS; i++)
    if (p->cin[i])
      clReleaseMemObject(p->cin[i]);
  tern_free(p);
}

tern_status tern_cl_node_prepare_tuned(tern_device *dev,
                                       const tern_exec_node *node,
                                       const tern_cl_tune *tune,
                                       void **prepared, tern_err *err) {
  if (!cl_supports(dev, node))
    return tern_err_set(err, TERN_ERR_UNSUPPORTED,
                        "opencl: node '%s' (%s) is not supported on '%s'",
                        node->name ? node->name : "?",
                        tern_op_name(node->op) ? tern_op_name(node->op) : "?",
                        dev->name);
  tern_cl_node *p = tern_calloc(1, sizeof *p);
  if (!p)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "opencl: out of memory");
  p->op = op_impl(node->op);
  p->node = *node;
  if (tune)
    p->tune = *tune;
  else
    tern_cl_tune_for_node(dev, node, &p->tune);
  tern_status s = p->op->prepare(dev, node, p, err);
  if (s) {
    tern_err_prefix(err, "node '%s' (%s): ", node->name ? node->name : "?",
                    tern_op_name(node->op));
    cl_node_release(dev, p);
    return s;
  }
  *prepared = p;
  return TERN_OK;
}

static tern_status cl_node_prepare(tern_device *dev, const tern_exec_node *node,
                                   void **prepared, tern_err *err) {
  return tern_cl_node_prepare_tuned(dev, node, NULL, prepared, err);
}

static tern_status cl_node_run(tern_device *dev, void *prepared,
                               tern_buffer *const *bufs, const size_t *offsets,
                               tern_err *err) {
  tern_cl_node *p = prepared;
  if (tern_view_numel(&p->node.out) == 0)
    return TERN_OK; /* empty batch: nothing to compute */
  return p->op->run(dev, p, bufs, offsets, err);
}

const tern_backend_vtbl tern_opencl_backend = {
    .name = "opencl",
    .init = cl_init,
    .shutdown = cl_shutdown,
    .device_count = cl_device_count,
    .device_info = clb_device_info,
    .device_open = cl_device_open,
    .device_close = cl_device_close,
    .supports = cl_supports,
    .buffer_alloc = cl_buffer_alloc,
    .buffer_free = cl_buffer_free,
    .buffer_write = cl_buffer_write,
    .buffer_read = cl_buffer_read,
    .node_prepare = cl_node_prepare,
    .node_release = cl_node_release,
    .node_run = cl_node_run,
    .sync = cl_sync,
    .tunables = tern_cl_tunables,
};
