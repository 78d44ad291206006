/* cpu_threads.c — a small process-wide thread pool for the CPU kernels.
 * Workers spin briefly after a job (kernels run back to back, and a futex
 * wake-up costs more than a whole 4096x4096 GEMV slice) and then sleep.
 * The caller always works too and never waits for a worker that has not
 * joined by the time the caller's share is done. */
#include "cpu_kernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define POOL_MAX 256
#define SPIN_NS 200000u /* 0.2 ms of spinning before sleeping */
#define CLOSED (1 << 30)

typedef struct pool {
  pthread_mutex_t run_lock; /* one job at a time */
  pthread_mutex_t lock;     /* guards sleeping workers */
  pthread_cond_t wake;
  pthread_t threads[POOL_MAX];
  /* generation current when each worker was created: a worker that starts
   * after the job it was created for was published must still run it */
  unsigned long long start_gen[POOL_MAX];
  int started;
  /* (generation << 16) | threads wanted, read in one load so a worker never
   * pairs one job's generation with another's thread count */
  atomic_ullong state;
  atomic_long next; /* next task to claim */
  /* workers that joined the job, | CLOSED once the caller has finished its
   * share: a worker the scheduler wakes late (a loaded machine) no longer
   * joins, so the caller never waits for a thread that is not running */
  atomic_int entry;
  atomic_int done; /* joined workers that have finished */
  int64_t n_tasks;
  tern_cpu_task_fn fn;
  void *ctx;
  atomic_int quit;
} pool;

static pool g_pool = {.run_lock = PTHREAD_MUTEX_INITIALIZER,
                      .lock = PTHREAD_MUTEX_INITIALIZER,
                      .wake = PTHREAD_COND_INITIALIZER,
                      .entry = CLOSED};

static void run_tasks(pool *p) {
  for (;;) {
    long t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    if (t >= p->n_tasks)
      break;
    p->fn(p->ctx, t);
  }
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void *worker(void *arg) {
  pool *p = &g_pool;
  int id = (int)(intptr_t)arg; /* 1-based: the caller is thread 0 */
  unsigned long long seen = p->start_gen[id];
  for (;;) {
    uint64_t t0 = tern_now_ns();
    unsigned spins = 0;
    unsigned long long st;
    while ((st = atomic_load_explicit(&p->state, memory_order_acquire)) >> 16 ==
           seen) {
      if (atomic_load(&p->quit))
        return NULL;
      /* reading the clock costs more than a pause: every 256 spins */
      if ((++spins & 255) == 0 && tern_now_ns() - t0 > SPIN_NS) {
        pthread_mutex_lock(&p->lock);
        while ((st = atomic_load(&p->state)) >> 16 == seen &&
               !atomic_load(&p->quit))
          pthread_cond_wait(&p->wake, &p->lock);
        pthread_mutex_unlock(&p->lock);
        break;
      }
      cpu_relax();
    }
    if (atomic_load(&p->quit))
      return NULL;
    seen = st >> 16;
    if (id < (int)(st & 0xffff)) {
      int e = atomic_load_explicit(&p->entry, memory_order_acquire);
      while (!(e & CLOSED))
        if (atomic_compare_exchange_weak_explicit(&p->entry, &e, e + 1,
                                                  memory_order_acq_rel,
                                                  memory_order_acquire)) {
          run_tasks(p);
          atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
          break;
        }
    }
  }
}

static void pool_shutdown(void) __attribute__((destructor));
static void pool_shutdown(void) {
  pool *p = &g_pool;
  if (!p->started)
    return;
  pthread_mutex_lock(&p->lock);
  atomic_store(&p->quit, 1);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < p->started; i++)
    pthread_join(p->threads[i], NULL);
  p->started = 0;
}

/* A forked child has none of the workers: forget them so the next job
 * starts fresh ones (test runners and servers fork). */
static void pool_atfork_child(void) {
  pool *p = &g_pool;
  pthread_mutex_init(&p->run_lock, NULL);
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->wake, NULL);
  p->started = 0;
  atomic_store(&p->entry, CLOSED);
  atomic_store(&p->done, 0);
}

static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) {
  pthread_atfork(NULL, NULL, pool_atfork_child);
}

int tern_cpu_default_threads(void) {
  const char *env = getenv("TERN_THREADS");
  if (env && *env) {
    long v = strtol(env, NULL, 10);
    if (v > 0)
      return v > POOL_MAX ? POOL_MAX : (int)v;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (n > POOL_MAX ? POOL_MAX : (int)n) : 1;
}

void tern_cpu_parallel_for(int thread_count, int64_t n_tasks,
                           tern_cpu_task_fn fn, void *ctx) {
  pool *p = &g_pool;
  if (thread_count > POOL_MAX)
    thread_count = POOL_MAX;
  if (thread_count > n_tasks)
    thread_count = (int)n_tasks;
  if (thread_count <= 1 || pthread_mutex_trylock(&p->run_lock) != 0) {
    for (int64_t t = 0; t < n_tasks; t++)
      fn(ctx, t);
    return;
  }
  pthread_once(&g_atfork_once, register_atfork);
  /* start missing workers (ids 1..thread_count-1) */
  while (p->started < thread_count - 1) {
    p->start_gen[p->started + 1] = atomic_load(&p->state) >> 16;
    if (pthread_create(&p->threads[p->started], NULL, worker,
                       (void *)(intptr_t)(p->started + 1)) != 0)
      break;
    p->started++;
  }
  int helpers = p->started < thread_count - 1 ? p->started : thread_count - 1;
  p->n_tasks = n_tasks;
  p->fn = fn;
  p->ctx = ctx;
  atomic_store(&p->next, 0);
  atomic_store(&p->done, 0);
  atomic_store_explicit(&p->entry, 0, memory_order_release);
  pthread_mutex_lock(&p->lock);
  unsigned long long gen = (atomic_load(&p->state) >> 16) + 1;
  atomic_store_explicit(&p->state, (gen << 16) | (unsigned)(helpers + 1),
                        memory_order_release);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  run_tasks(p);
  int joined =
      atomic_fetch_or_explicit(&p->entry, CLOSED, memory_order_acq_rel) &
      ~CLOSED;
  while (atomic_load_explicit(&p->done, memory_order_acquire) < joined)
    cpu_relax();
  pthread_mutex_unlock(&p->run_lock);
}
