/*
 * pipeline/worker.c — `mmpipe worker`: run queued jobs until none is left that
 * this build can run (or forever with --follow).
 *
 * One process, -j runner threads (at least --parallel when a model is configured: the
 * batching scheduler of batch_gen.c decodes their jobs together), each with its own database connection, plus
 * a heartbeat thread that renews this process's leases every --heartbeat seconds
 * and reaps leases of dead workers.  A runner completes a job and claims the
 * next in the same transaction (one commit per job).  SIGINT/SIGTERM stop after
 * the jobs in hand; a claimed job not yet started is handed back.
 */
#include "cli.h"

#include "batch_gen.h"
#include "model_cache.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    if (stop_requested) { /* second signal: leave at once (the leases expire/reap) */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    stop_requested = 1;
}

typedef struct shared {
    const cli *c;
    char owner[320];
    progress *prog;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int runners_left;
    int fatal;
    worker_stats st;
    char **failures; /* "job N (path): error" */
    size_t nfail;
} shared;

static void note_failure(shared *s, const job *j, const char *msg) {
    char *line = mm_asprintf("job %lld (%s): %s", (long long)j->id, j->npaths ? j->paths[0] : "?", msg);
    pthread_mutex_lock(&s->mu);
    char **nf = line ? realloc(s->failures, (s->nfail + 1) * sizeof *nf) : NULL;
    if (nf) {
        s->failures = nf;
        s->failures[s->nfail++] = line;
    } else {
        free(line);
    }
    pthread_mutex_unlock(&s->mu);
}

static void count(shared *s, int64_t *field) {
    pthread_mutex_lock(&s->mu);
    (*field)++;
    pthread_mutex_unlock(&s->mu);
}

/* No job in hand: reap, then wait for backoffs, or poll with --follow, or finish.
 * Returns 1 to try claiming again, 0 to stop. */
static int idle(shared *s, jobs_db *db, const jobs_lease *l) {
    mm_err e;
    int reaped = 0;
    if (jobs_reap(db, &reaped, &e) != MM_OK) cli_error("%s", e.msg);
    if (reaped) return 1;
    jobs_pending p;
    if (jobs_pending_get(db, l, &p, &e) != MM_OK) {
        cli_error("%s", e.msg);
        return 0;
    }
    if (p.runnable) return 1;
    if (p.waiting) {
        mm_sleep_ms(p.wait_ms < 1000 ? (double)p.wait_ms + 1 : 1000);
        return !stop_requested;
    }
    if (s->c->follow && !stop_requested) {
        mm_sleep_ms(250);
        return !stop_requested;
    }
    return 0;
}

static void run_one(shared *s, jobs_db *db, const jobs_lease *l, job *j, job *next, int *have_next) {
    const kind_def *k = kind_find(j->kind);
    kind_result r = {0};
    mm_err ke, e;
    int rc;
    *have_next = 0;
    if (!k) {
        rc = mm_err_set(&ke, MM_EUNSUPPORTED, "job kind '%s' is not known to this mmpipe", j->kind);
        r.retryable = 0;
    } else {
        rc = k->run(j, &r, &ke);
    }
    if (s->c->throttle_ms > 0) mm_sleep_ms(s->c->throttle_ms);
    int want_next = !stop_requested;
    mm_code c;
    if (rc == 0) {
        c = jobs_complete(db, l, j, r.text, r.data, want_next ? next : NULL, have_next, &e);
        if (c == MM_OK) {
            count(s, &s->st.done);
            progress_step(s->prog, 1);
        }
    } else {
        int dead = !r.retryable || j->attempts + 1 >= j->max_attempts;
        c = jobs_fail(db, l, j, ke.msg, r.retryable, want_next ? next : NULL, have_next, &e);
        if (c == MM_OK) {
            if (dead) {
                count(s, &s->st.failed);
                note_failure(s, j, ke.msg);
                progress_step(s->prog, 0);
            } else {
                count(s, &s->st.retried);
            }
        }
    }
    if (c == MM_ESTATE) {
        count(s, &s->st.lost);
        if (!s->c->quiet) cli_error("%s", e.msg);
    } else if (c != MM_OK) {
        cli_error("%s", e.msg);
        pthread_mutex_lock(&s->mu);
        s->fatal = 1;
        pthread_mutex_unlock(&s->mu);
        stop_requested = 1;
    }
    free(r.text);
    free(r.data);
}

static void *runner(void *arg) {
    shared *s = arg;
    jobs_db *db = cli_open_db(s->c, 0);
    if (db) {
        jobs_lease l;
        cli_lease(s->c, &l, s->owner, kind_list_csv());
        job j, next;
        int have = 0;
        mm_err e;
        while (!stop_requested) {
            if (!have) {
                if (jobs_claim(db, &l, &j, &have, &e) != MM_OK) {
                    cli_error("%s", e.msg);
                    pthread_mutex_lock(&s->mu);
                    s->fatal = 1;
                    pthread_mutex_unlock(&s->mu);
                    break;
                }
                if (!have) {
                    if (!idle(s, db, &l)) break;
                    continue;
                }
            }
            run_one(s, db, &l, &j, &next, &have);
            job_free(&j);
            if (have) j = next;
        }
        if (have) { /* claimed in the last transaction but not started */
            if (jobs_release(db, &l, &j, &e) == MM_OK) count(s, &s->st.released);
            job_free(&j);
        }
        jobs_close(db);
    } else {
        pthread_mutex_lock(&s->mu);
        s->fatal = 1;
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_lock(&s->mu);
    s->runners_left--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Renews this process's leases; reaps dead workers' leases every other beat. */
static void *heartbeat(void *arg) {
    shared *s = arg;
    jobs_db *db = cli_open_db(s->c, 0);
    if (!db) return NULL;
    jobs_lease l;
    cli_lease(s->c, &l, s->owner, kind_list_csv());
    double every_ms = s->c->heartbeat_s * 1000;
    if (every_ms < 10) every_ms = 10;
    unsigned beat = 0;
    pthread_mutex_lock(&s->mu);
    while (s->runners_left > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (int64_t)(every_ms * 1e6);
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        if (s->runners_left == 0) break;
        pthread_mutex_unlock(&s->mu);
        mm_err e;
        if (jobs_heartbeat(db, &l, NULL, &e) != MM_OK) cli_error("heartbeat: %s", e.msg);
        if (++beat % 2 == 0 && jobs_reap(db, NULL, &e) != MM_OK) cli_error("reap: %s", e.msg);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    jobs_close(db);
    return NULL;
}

int worker_run(const cli *c, worker_stats *st) {
    shared s;
    memset(&s, 0, sizeof s);
    s.c = c;
    jobs_owner_make(s.owner, sizeof s.owner);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    stop_requested = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* Reap first, so jobs of workers killed earlier are counted and run now. */
    jobs_db *db = cli_open_db(c, 0);
    if (!db) return EXIT_FATAL;
    jobs_lease l;
    cli_lease(c, &l, s.owner, kind_list_csv());
    mm_err e;
    jobs_pending p = {0};
    if (jobs_reap(db, NULL, &e) != MM_OK || jobs_pending_get(db, &l, &p, &e) != MM_OK) {
        cli_error("%s", e.msg);
        jobs_close(db);
        return EXIT_FATAL;
    }
    jobs_close(db);

    bgen_stats b0;
    bgen_stats_get(&b0);
    s.prog = progress_new("worker", p.runnable + p.waiting, c->quiet);
    int n = c->workers > 0 ? c->workers : 1;
    /* model jobs: one runner per sequence the batching scheduler decodes together */
    if (model_cache_configured() && model_cache_parallel() > n) n = model_cache_parallel();
    pthread_t *th = calloc((size_t)n, sizeof *th), hb;
    if (!th) {
        cli_error("out of memory");
        return EXIT_FATAL;
    }
    s.runners_left = n;
    int started = 0;
    for (; started < n; started++)
        if (pthread_create(&th[started], NULL, runner, &s) != 0) break;
    if (started < n) {
        pthread_mutex_lock(&s.mu);
        s.runners_left -= n - started;
        pthread_mutex_unlock(&s.mu);
    }
    int hb_ok = pthread_create(&hb, NULL, heartbeat, &s) == 0;
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    if (hb_ok) pthread_join(hb, NULL);
    free(th);
    bgen_shutdown();
    bgen_stats b1;
    bgen_stats_get(&b1);
    if (!c->quiet && b1.decode_steps > b0.decode_steps) {
        const double steps = (double)(b1.decode_steps - b0.decode_steps), rows = (double)(b1.decode_rows - b0.decode_rows);
        fprintf(stderr, "mmpipe: batched decoding: %.0f steps for %.0f tokens (%.2f sequences per step, up to %d); "
                "%lld prompt tokens computed, %lld copied from a shared prefix\n", steps, rows, rows / steps,
                b1.max_live, (long long)(b1.prefill_tokens - b0.prefill_tokens),
                (long long)(b1.prefix_tokens - b0.prefix_tokens));
    }
    progress_end(s.prog);

    for (size_t i = 0; i < s.nfail; i++) {
        cli_error("failed: %s", s.failures[i]);
        free(s.failures[i]);
    }
    free(s.failures);
    if (st) *st = s.st;
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (s.fatal || started == 0) return EXIT_FATAL;
    return s.st.failed ? EXIT_SOME_FAILED : EXIT_OK;
}
