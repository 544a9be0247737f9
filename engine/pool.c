/*
 * engine/pool.c — a persistent pthread pool for the forward pass.
 *
 * mm_pool_run(p, fn, ctx) calls fn(ctx, ith, nth) once on each of the nth
 * threads (the caller is thread 0) and returns when all have finished.  Work
 * is split by the callee (rows of a matmul, heads of attention).  A layer makes
 * many short runs, so waiting spins briefly on atomics before it sleeps on a
 * condition variable: a run then costs well under a microsecond of hand-over
 * instead of two kernel wake-ups.
 */
#include "engine_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SPIN_ITERS 20000 /* about 50-100 us of spinning before sleeping */

struct mm_pool {
    int n;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    _Atomic uint64_t gen;  /* incremented per run; workers wait for a change */
    _Atomic int pending;   /* workers still running the current task */
    _Atomic int quit;
    int sleepers;          /* workers (or the caller) blocked on a condvar; under mu */
    mm_task_fn fn;
    void *ctx;
    void *scratch[2];      /* grow-only buffers for the caller (mm_pool_scratch) */
    size_t scratch_size[2];
};

typedef struct worker_arg { mm_pool *p; int ith; } worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    mm_pool *p = wa->p;
    int ith = wa->ith;
    free(wa);
    uint64_t seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen && !atomic_load(&p->quit)) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->go, &p->mu);
            p->sleepers--;
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = atomic_load(&p->gen);
        p->fn(p->ctx, ith, p->n);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

mm_pool *mm_pool_open(int n_threads) {
    mm_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads < 1 ? 1 : n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    p->th = calloc((size_t)p->n, sizeof *p->th);
    if (!p->th) {
        free(p);
        return NULL;
    }
    for (int i = 1; i < p->n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) { p->n = i; break; }
        wa->p = p;
        wa->ith = i;
        if (pthread_create(&p->th[i], NULL, worker_main, wa) != 0) {
            free(wa);
            p->n = i;
            break;
        }
    }
    return p;
}

int mm_pool_threads(const mm_pool *p) { return p ? p->n : 1; }

void mm_pool_run(mm_pool *p, mm_task_fn fn, void *ctx) {
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release); /* publishes fn, ctx */
    pthread_mutex_lock(&p->mu);
    if (p->sleepers) pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        if (++spins < SPIN_ITERS) {
            cpu_relax();
            continue;
        }
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

void *mm_pool_scratch(mm_pool *p, int slot, size_t size) {
    if (!p || slot < 0 || slot > 1) return NULL;
    if (size > p->scratch_size[slot]) {
        size_t cap = size + size / 4;
        void *n = realloc(p->scratch[slot], cap);
        if (!n) return NULL;
        p->scratch[slot] = n;
        p->scratch_size[slot] = cap;
    }
    return p->scratch[slot];
}

void mm_pool_close(mm_pool *p) {
    if (!p) return;
    free(p->scratch[0]);
    free(p->scratch[1]);
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->th[i], NULL);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->th);
    free(p);
}
