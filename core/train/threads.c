/* threads.c — a small persistent pthread pool for the training core. Work is
 * split into one contiguous range per worker; callers keep every output
 * element owned by one index, so the split never changes the numbers. */
#include "tern_internal.h"
#include "train/layers.h"

#include <pthread.h>

struct worker_arg;
struct tt_pool {
  int threads;
  pthread_t *tid;
  struct worker_arg *args;
  pthread_mutex_t mu;
  pthread_cond_t cv_work, cv_done;
  uint64_t generation;
  int pending;
  bool quit;
  tt_range_fn fn;
  void *ctx;
  int64_t n;
};

static void run_share(tt_pool *p, int idx) {
  int64_t n = p->n, t = p->threads;
  int64_t b = n * idx / t, e = n * (idx + 1) / t;
  if (e > b)
    p->fn(p->ctx, b, e);
}

typedef struct worker_arg {
  tt_pool *p;
  int idx;
} worker_arg;

static void *worker(void *varg) {
  worker_arg *a = varg;
  tt_pool *p = a->p;
  int idx = a->idx;
  pthread_mutex_lock(&p->mu);
  /* the pool starts at generation 0: work posted before this thread first
   * took the lock is still seen */
  uint64_t seen = 0;
  for (;;) {
    while (!p->quit && p->generation == seen)
      pthread_cond_wait(&p->cv_work, &p->mu);
    if (p->quit)
      break;
    seen = p->generation;
    pthread_mutex_unlock(&p->mu);
    run_share(p, idx);
    pthread_mutex_lock(&p->mu);
    if (--p->pending == 0)
      pthread_cond_signal(&p->cv_done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

tt_pool *tt_pool_create(int threads) {
  tt_pool *p = tern_calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->threads = threads < 1 ? 1 : threads;
  if (p->threads == 1)
    return p;
  p->tid = tern_calloc((size_t)p->threads, sizeof *p->tid);
  p->args = tern_calloc((size_t)p->threads, sizeof *p->args);
  if (!p->tid || !p->args) {
    tern_free(p->tid);
    tern_free(p->args);
    tern_free(p);
    return NULL;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv_work, NULL);
  pthread_cond_init(&p->cv_done, NULL);
  int started = 0;
  for (int i = 0; i < p->threads - 1; i++) {
    p->args[i].p = p;
    p->args[i].idx = i + 1;
    if (pthread_create(&p->tid[i], NULL, worker, &p->args[i]) != 0)
      break;
    started++;
  }
  if (started != p->threads - 1) {
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < started; i++)
      pthread_join(p->tid[i], NULL);
    tern_free(p->tid);
    tern_free(p->args);
    tern_free(p);
    return NULL;
  }
  return p;
}

void tt_pool_destroy(tt_pool *p) {
  if (!p)
    return;
  if (p->threads > 1) {
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->threads - 1; i++)
      pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    tern_free(p->tid);
    tern_free(p->args);
  }
  tern_free(p);
}

int tt_pool_threads(const tt_pool *p) {
  return p ? p->threads : 1;
}

void tt_parallel_for(tt_pool *p, int64_t n, tt_range_fn fn, void *ctx) {
  if (n <= 0)
    return;
  if (!p || p->threads == 1 || n == 1) {
    fn(ctx, 0, n);
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->ctx = ctx;
  p->n = n;
  p->pending = p->threads - 1;
  p->generation++;
  pthread_cond_broadcast(&p->cv_work);
  pthread_mutex_unlock(&p->mu);
  run_share(p, 0);
  pthread_mutex_lock(&p->mu);
  while (p->pending > 0)
    pthread_cond_wait(&p->cv_done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}
