/*
 * tests/model/test_pool.c — the engine's thread pool: over many runs of every size, with
 * more threads than cores (so workers are late, preempted or asleep), every item of
 * mm_pool_for is done exactly once and by a valid thread id, the call returns only when all
 * are done, and mm_pool_run calls each share exactly once.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

typedef struct {
    _Atomic int *hits;
    int nth;
    _Atomic int bad_ith;
} run_ctx;

static void count_items(void *arg, int64_t a, int64_t b, int ith) {
    run_ctx *r = arg;
    if (ith < 0 || ith >= r->nth || a >= b) atomic_store(&r->bad_ith, 1);
    for (int64_t i = a; i < b; i++) atomic_fetch_add(&r->hits[i], 1);
}

static void count_share(void *arg, int ith, int nth) {
    run_ctx *r = arg;
    if (nth != r->nth || ith < 0 || ith >= nth) atomic_store(&r->bad_ith, 1);
    atomic_fetch_add(&r->hits[ith], 1);
}

int main(void) {
    int fails = 0, runs = 0;
    enum { MAXN = 5000 };
    _Atomic int *hits = malloc(sizeof(_Atomic int) * MAXN);
    const int threads[] = {1, 2, 3, 8};
    for (size_t k = 0; k < sizeof threads / sizeof threads[0]; k++) {
        mm_pool *p = mm_pool_open(threads[k]);
        if (!p) { printf("FAIL pool_open(%d)\n", threads[k]); return 1; }
        uint32_t s = 7;
        for (int it = 0; it < 3000; it++) {
            s = s * 1103515245u + 12345u;
            int n = it % 7 == 0 ? (int)(s % 4) : (int)(s % MAXN) + 1; /* 0..3 items, and many */
            for (int i = 0; i < (n > 8 ? n : 8); i++) atomic_store(&hits[i], 0);
            run_ctx r = {hits, threads[k], 0};
            if (it % 5 == 0) {
                mm_pool_run(p, count_share, &r);
                n = mm_pool_threads(p);
            } else {
                mm_pool_for(p, n, count_items, &r);
            }
            runs++;
            for (int i = 0; i < n; i++)
                if (atomic_load(&hits[i]) != 1) {
                    printf("FAIL %d threads, run %d: item %d of %d done %d times\n", threads[k], it, i, n,
                           atomic_load(&hits[i]));
                    fails++;
                    break;
                }
            if (atomic_load(&r.bad_ith)) {
                printf("FAIL %d threads, run %d: bad thread id or empty chunk\n", threads[k], it);
                fails++;
            }
            if (fails > 5) break;
        }
        mm_pool_close(p);
    }
    printf("%d pool runs, %d failures\n", runs, fails);
    free(hits);
    return fails ? 1 : 0;
}
