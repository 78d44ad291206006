/* bench_common.c — timing, machine limits (read bandwidth, int8 peak) and
 * JSON output shared by the benchmarks. */
#include "bench_common.h"
#include "bench_kernels.h"

#include "backends/cpu/cpu_kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

static clockid_t g_clock = CLOCK_MONOTONIC;
static double g_clock_div = 1.0;

void bench_use_cpu_time(int threads) {
  g_clock = CLOCK_PROCESS_CPUTIME_ID;
  g_clock_div = threads > 0 ? threads : 1;
}

double bench_now_s(void) {
  struct timespec ts;
  clock_gettime(g_clock, &ts);
  if (g_clock != CLOCK_MONOTONIC)
    return ((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9) / g_clock_div;
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double bench_median(void (*fn)(void *ctx), void *ctx, int warmup, int min_reps,
                    int max_reps, double min_seconds) {
  for (int i = 0; i < warmup; i++)
    fn(ctx);
  if (max_reps < 1)
    max_reps = 1;
  double *t = malloc((size_t)max_reps * sizeof(double));
  if (!t)
    return NAN;
  int n = 0;
  double start = bench_now_s();
  while (n < max_reps &&
         (n < min_reps || bench_now_s() - start < min_seconds)) {
    double t0 = bench_now_s();
    fn(ctx);
    t[n++] = bench_now_s() - t0;
  }
  qsort(t, (size_t)n, sizeof(double), cmp_double);
  double m = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
  free(t);
  return m;
}

/* ------------------------------------------------------- read bandwidth */
typedef struct bw_job {
  const uint64_t *buf;
  size_t words;
  int parts;
  uint64_t sink[64];
} bw_job;

static volatile uint64_t g_sink;

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint64_t *p,
                                                          size_t n) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (size_t i = 0; i + 16 <= n; i += 16) {
    a = _mm256_xor_si256(a, _mm256_load_si256((const __m256i *)(p + i)));
    b = _mm256_xor_si256(b, _mm256_load_si256((const __m256i *)(p + i + 4)));
    c = _mm256_xor_si256(c, _mm256_load_si256((const __m256i *)(p + i + 8)));
    d = _mm256_xor_si256(d, _mm256_load_si256((const __m256i *)(p + i + 12)));
  }
  a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
  return (uint64_t)_mm256_extract_epi64(a, 0) ^
         (uint64_t)_mm256_extract_epi64(a, 3);
}
#endif

static uint64_t read_scalar(const uint64_t *p, size_t n) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) {
    s0 ^= p[i];
    s1 ^= p[i + 1];
    s2 ^= p[i + 2];
    s3 ^= p[i + 3];
  }
  return s0 ^ s1 ^ s2 ^ s3;
}

static void bw_task(void *ctx, int64_t t) {
  bw_job *j = ctx;
  size_t per = j->words / (size_t)j->parts / 16 * 16;
  const uint64_t *p = j->buf + (size_t)t * per;
#if defined(__x86_64__) || defined(__i386__)
  if (__builtin_cpu_supports("avx2")) {
    j->sink[t % 64] = read_avx2(p, per);
    return;
  }
#endif
  j->sink[t % 64] = read_scalar(p, per);
}

typedef struct bw_ctx {
  bw_job *j;
  int threads;
} bw_ctx;

static void bw_run(void *ctx) {
  bw_ctx *c = ctx;
  tern_cpu_parallel_for(c->threads, c->j->parts, bw_task, c->j);
}

double bench_read_bandwidth(size_t bytes, int threads) {
  uint64_t *buf = tern_malloc_aligned(bytes);
  if (!buf)
    return NAN;
  size_t words = bytes / 8;
  for (size_t i = 0; i < words; i++)
    buf[i] = i * 0x9e3779b97f4a7c15ull;
  bw_job j;
  memset(&j, 0, sizeof j);
  j.buf = buf;
  j.words = words;
  j.parts = threads * 8;
  bw_ctx c = {&j, threads};
  double t = bench_median(bw_run, &c, 1, 5, 20, 0.5);
  tern_free_aligned(buf);
  return (double)(words / (size_t)j.parts / 16 * 16 * (size_t)j.parts * 8) / t *
         1e-9;
}

/* ------------------------------------------------------------ int8 peak */
#define PEAK_ITERS 2000000

#if defined(__x86_64__) || defined(__i386__)
static uint64_t peak_avx2(void) {
  /* 12 independent vpmaddubsw per step (32 multiply-adds each), written in
   * assembly so the compiler can neither merge nor hoist them */
  long n = PEAK_ITERS;
  __asm__ volatile("vpcmpeqb %%ymm15, %%ymm15, %%ymm15\n\t"
                   "vpabsb %%ymm15, %%ymm14\n\t"
                   "1:\n\t"
                   "vpmaddubsw %%ymm15, %%ymm14, %%ymm0\n\t"
                   "vpmaddubsw %%ymm15, %%ymm14, %%ymm1\n\t"
                   "vpmaddubsw %%ymm15, %%ymm14, %%ymm2\n\t"
                   "vpmaddubsw %%ymm15, %%ymm14, %%ymm3\n\t"
                   "vpmaddubsw %%ymm15, %%ymm14, %%ymm4\n\t"
                   "vpmaddubsw %%ymm15, %%ymm14, %%ymm5\n\t"
                   "vpmaddubsw %%ymm15, %%ymm14, %%ymm6\n\t"
                   "vpmaddubsw %%ymm15, %%ymm14, %%ymm7\n\t"
                   "vpmaddubsw %%ymm15, %%ymm14, %%ymm8\n\t"
                   "vpmaddubsw %%ymm15, %%ymm14, %%ymm9\n\t"
                   "vpmaddubsw %%ymm15, %%ymm14, %%ymm10\n\t"
                   "vpmaddubsw %%ymm15, %%ymm14, %%ymm11\n\t"
                   "dec %0\n\t"
                   "jnz 1b\n\t"
                   "vzeroupper\n\t"
                   : "+r"(n)
                   :
                   : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
                     "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm14",
                     "xmm15");
  return 12ull * 32 * PEAK_ITERS;
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static uint64_t
peak_vnni(void) {
  /* 12 independent vpdpbusd chains: 64 multiply-adds each */
  __m512i a = _mm512_set1_epi8(2), b = _mm512_set1_epi8(3);
  __m512i acc[12];
  for (int i = 0; i < 12; i++)
    acc[i] = _mm512_setzero_si512();
  for (long it = 0; it < PEAK_ITERS; it++) {
    for (int i = 0; i < 12; i++)
      acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
    __asm__ volatile("" : "+v"(a), "+v"(b));
  }
  __m512i s = acc[0];
  for (int i = 1; i < 12; i++)
    s = _mm512_xor_si512(s, acc[i]);
  g_sink = (uint64_t)_mm512_reduce_add_epi32(s);
  return 12ull * 64 * PEAK_ITERS;
}
#endif

static uint64_t peak_scalar(void) {
  int32_t acc[8] = {0};
  for (long it = 0; it < PEAK_ITERS; it++)
    for (int i = 0; i < 8; i++)
      acc[i] += (int8_t)(it + i) * (int8_t)(i + 3);
  for (int i = 0; i < 8; i++)
    g_sink += (uint64_t)acc[i];
  return 8ull * PEAK_ITERS;
}

typedef struct peak_job {
  uint64_t (*fn)(void);
  double rate[256]; /* multiply-adds per second of each task's thread */
} peak_job;

static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Each task times itself on its own thread's CPU clock, so the sum of the
 * rates is the peak of `threads` cores whether or not the pool ran the
 * tasks concurrently (on a loaded machine it may not). */
static void peak_task(void *ctx, int64_t t) {
  peak_job *j = ctx;
  double t0 = thread_cpu_s();
  uint64_t macs = j->fn();
  j->rate[t] = (double)macs / (thread_cpu_s() - t0);
}

double bench_int8_peak(int threads, const char **what) {
  peak_job j;
  memset(&j, 0, sizeof j);
  j.fn = peak_scalar;
  *what = "scalar";
#if defined(__x86_64__) || defined(__i386__)
  if (__builtin_cpu_supports("avx512vnni") &&
      __builtin_cpu_supports("avx512bw")) {
    j.fn = peak_vnni;
    *what = "vpdpbusd (AVX-512 VNNI)";
  } else if (__builtin_cpu_supports("avx2")) {
    j.fn = peak_avx2;
    *what = "vpmaddubsw (AVX2; the ternary kernels' instruction)";
  }
#endif
  if (threads > 256)
    threads = 256;
  tern_cpu_parallel_for(threads, threads, peak_task, &j);
  double macs_per_s = 0;
  for (int i = 0; i < threads; i++)
    macs_per_s += j.rate[i];
  return 2.0 * macs_per_s * 1e-9;
}

/* ----------------------------------------------------------------- JSON */
static void bj_sep(bench_json *j, const char *key) {
  if (!j->first[j->depth])
    fputc(',', j->f);
  j->first[j->depth] = false;
  if (key) {
    fputc('"', j->f);
    for (const char *p = key; *p; p++) {
      if (*p == '"' || *p == '\\')
        fputc('\\', j->f);
      fputc(*p, j->f);
    }
    fputs("\":", j->f);
  }
}

void bj_begin(bench_json *j, FILE *f) {
  memset(j, 0, sizeof *j);
  j->f = f;
  j->first[0] = true;
}

void bj_obj(bench_json *j, const char *key) {
  bj_sep(j, key);
  fputc('{', j->f);
  j->first[++j->depth] = true;
}

void bj_arr(bench_json *j, const char *key) {
  bj_sep(j, key);
  fputc('[', j->f);
  j->first[++j->depth] = true;
}

void bj_end_obj(bench_json *j) {
  fputc('}', j->f);
  j->depth--;
  if (j->depth == 0)
    fputc('\n', j->f);
}

void bj_end_arr(bench_json *j) {
  fputc(']', j->f);
  j->depth--;
}

void bj_str(bench_json *j, const char *key, const char *v) {
  bj_sep(j, key);
  fputc('"', j->f);
  for (const char *p = v ? v : ""; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(j->f, "\\%c", *p);
    else if ((unsigned char)*p < 0x20)
      fprintf(j->f, "\\u%04x", *p);
    else
      fputc(*p, j->f);
  }
  fputc('"', j->f);
}

void bj_num(bench_json *j, const char *key, double v) {
  bj_sep(j, key);
  if (isfinite(v))
    fprintf(j->f, "%.6g", v);
  else
    fputs("null", j->f);
}

void bj_int(bench_json *j, const char *key, long long v) {
  bj_sep(j, key);
  fprintf(j->f, "%lld", v);
}

/* --------------------------------------------------- OpenBLAS core type */
void bench_openblas_coretype(void) {
#if defined(__x86_64__)
  if (getenv("OPENBLAS_CORETYPE") || !__builtin_cpu_supports("avx512f"))
    return;
  FILE *f = fopen("/proc/self/cmdline", "rb");
  if (!f)
    return;
  static char buf[16384];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  if (n == 0 || n >= sizeof buf - 1)
    return;
  buf[n] = 0;
  char *args[256];
  int argc = 0;
  for (size_t i = 0; i < n && argc < 255; i += strlen(buf + i) + 1)
    args[argc++] = buf + i;
  args[argc] = NULL;
  setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
  execv("/proc/self/exe", args);
  /* exec failed: carry on with whatever OpenBLAS chose */
#endif
}
