/*
 * engine/pool.c — a persistent pthread pool for the forward pass.
 *
 * mm_pool_for(p, n, fn, ctx) runs fn(ctx, a, b, ith) over the items [0, n) in chunks that
 * the threads take from one shared counter (the caller is thread 0), and returns when every
 * item is done.  Taking chunks instead of fixed shares means a thread that the OS has not
 * scheduled (another process on the core, a late wake-up) costs at most the chunk it holds:
 * the others take the rest, and the caller never waits for a worker that has not started.
 * mm_pool_run(p, fn, ctx) is the fixed-share form on top of it: fn(ctx, i, nth) once for
 * each i < nth, by whichever thread takes item i.
 *
 * A layer makes many short runs, so waiting spins briefly on atomics before it sleeps on
 * a condition variable: a run costs well under a microsecond of hand-over when every
 * thread has a core, and nothing is lost when one has not.
 *
 * The shared word `work` holds the run: generation (16 bits) | item count (24) | next item
 * (24).  A thread takes a chunk only by a compare-and-swap on that word with its
 * generation and an index below the count, so it can never take an item of a run that is
 * over; fn and ctx are read after that swap, when the run is known to be live (the caller
 * stores the next run's fn / ctx only after every item of this one is done).
 */
#include "engine_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SPIN_ITERS 20000 /* about 50-100 us of spinning before sleeping */
#define IDX_BITS 24
#define IDX_MASK ((1ull << IDX_BITS) - 1)
#define MAX_ITEMS ((int64_t)IDX_MASK)

struct mm_pool {
    int n;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    _Atomic uint64_t work;   /* gen << 48 | n_items << 24 | next */
    _Atomic int64_t n_done;  /* items finished in the current run */
    _Atomic(mm_range_fn) fn;
    _Atomic(void *) ctx;
    _Atomic int quit;
    int sleepers;            /* workers blocked on `go`; under mu */
    void *scratch[2];        /* grow-only buffers for the caller (mm_pool_scratch) */
    size_t scratch_size[2];
};

typedef struct worker_arg { mm_pool *p; int ith; } worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static inline uint64_t w_gen(uint64_t w) { return w >> (2 * IDX_BITS); }
static inline int64_t w_count(uint64_t w) { return (int64_t)((w >> IDX_BITS) & IDX_MASK); }
static inline int64_t w_next(uint64_t w) { return (int64_t)(w & IDX_MASK); }

/* chunk size: about eight chunks per thread, so a late thread leaves little behind */
static inline int64_t chunk_of(int64_t n, int nth) {
    int64_t c = n / ((int64_t)nth * 8);
    return c < 1 ? 1 : c;
}

/* Takes and runs chunks of generation gen until none is left; as thread ith. */
static void take_chunks(mm_pool *p, uint64_t gen, int ith) {
    uint64_t w = atomic_load_explicit(&p->work, memory_order_acquire);
    for (;;) {
        if (w_gen(w) != gen) return;
        const int64_t n = w_count(w), a = w_next(w);
        if (a >= n) return;
        const int64_t b = a + chunk_of(n, p->n) < n ? a + chunk_of(n, p->n) : n;
        if (!atomic_compare_exchange_weak_explicit(&p->work, &w, (w & ~IDX_MASK) | (uint64_t)b,
                                                   memory_order_acq_rel, memory_order_acquire))
            continue; /* w reloaded */
        mm_range_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        fn(atomic_load_explicit(&p->ctx, memory_order_relaxed), a, b, ith);
        if (atomic_fetch_add_explicit(&p->n_done, b - a, memory_order_acq_rel) + (b - a) == n) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
        w = atomic_load_explicit(&p->work, memory_order_acquire);
    }
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    mm_pool *p = wa->p;
    int ith = wa->ith;
    free(wa);
    uint64_t seen = 0;
    for (;;) {
        int spins = 0;
        while (w_gen(atomic_load_explicit(&p->work, memory_order_acquire)) == seen && !atomic_load(&p->quit)) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while (w_gen(atomic_load(&p->work)) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->go, &p->mu);
            p->sleepers--;
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = w_gen(atomic_load(&p->work));
        take_chunks(p, seen, ith);
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

void mm_pool_for(mm_pool *p, int64_t n, mm_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (!p || p->n == 1 || n == 1 || n > MAX_ITEMS) { /* (more than 2^24 items: never in practice) */
        fn(ctx, 0, n, 0);
        return;
    }
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&p->n_done, 0, memory_order_relaxed);
    const uint64_t gen = (w_gen(atomic_load(&p->work)) + 1) & 0xFFFF;
    atomic_store_explicit(&p->work, gen << (2 * IDX_BITS) | (uint64_t)n << IDX_BITS, memory_order_release);
    pthread_mutex_lock(&p->mu);
    if (p->sleepers) pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    take_chunks(p, gen, 0);
    int spins = 0;
    while (atomic_load_explicit(&p->n_done, memory_order_acquire) < n) {
        if (++spins < SPIN_ITERS) {
            cpu_relax();
            continue;
        }
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->n_done) < n) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

/* mm_pool_run over mm_pool_for: item i is share i of nth */
typedef struct share_run {
    mm_task_fn fn;
    void *ctx;
    int nth;
} share_run;

static void run_shares(void *arg, int64_t a, int64_t b, int ith) {
    const share_run *r = arg;
    (void)ith;
    for (int64_t i = a; i < b; i++) r->fn(r->ctx, (int)i, r->nth);
}

void mm_pool_run(mm_pool *p, mm_task_fn fn, void *ctx) {
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    share_run r = {fn, ctx, p->n};
    mm_pool_for(p, p->n, run_shares, &r);
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
