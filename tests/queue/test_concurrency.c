/*
 * tests/queue/test_concurrency.c — N processes claiming from one queue never hold
 * the same job at the same time, and every job is completed exactly once.
 *
 * A shared anonymous mapping holds, per job, how many processes are inside it
 * right now (atomic increment on claim, decrement before complete) and how many
 * times it was completed.  Any count above 1 is a violation.  Runs at synchronous
 * NORMAL and FULL, with several connections per process (threads are not needed:
 * processes are the harder case for SQLite locking).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs.h"

#define NJOBS 1500
#define NPROC 6

typedef struct shared {
    int inside[NJOBS + 1];
    int completed[NJOBS + 1];
    int violations;
} shared;

static int worker(const char *path, jobs_sync sync, shared *sh, int slow) {
    jobs_options o;
    jobs_options_default(&o);
    o.sync = sync;
    jobs_db *db;
    mm_err e;
    if (jobs_open(path, &o, &db, &e) != MM_OK) {
        fprintf(stderr, "worker open: %s\n", e.msg);
        return 2;
    }
    char owner[320];
    jobs_owner_make(owner, sizeof owner);
    jobs_lease l = {owner, 60000, 1000, 600000, NULL, NULL, NULL};
    job j, next;
    int have = 0, rc = 0, k = 0;
    if (jobs_claim(db, &l, &j, &have, &e) != MM_OK) rc = 3;
    while (have && rc == 0) {
        if (j.id < 1 || j.id > NJOBS) { rc = 4; break; }
        if (__atomic_add_fetch(&sh->inside[j.id], 1, __ATOMIC_SEQ_CST) != 1)
            __atomic_add_fetch(&sh->violations, 1, __ATOMIC_SEQ_CST);
        if (slow && (++k % 7) == 0) usleep(200);
        __atomic_sub_fetch(&sh->inside[j.id], 1, __ATOMIC_SEQ_CST);
        int64_t id = j.id;
        /* alternate plain claims and complete-and-claim-next */
        mm_code c = (k & 1) ? jobs_complete(db, &l, &j, "ok", NULL, &next, &have, &e)
                            : jobs_complete(db, &l, &j, "ok", NULL, NULL, NULL, &e);
        if (c != MM_OK) {
            fprintf(stderr, "complete %lld: %s\n", (long long)id, e.msg);
            rc = 5;
        }
        __atomic_add_fetch(&sh->completed[id], 1, __ATOMIC_SEQ_CST);
        job_free(&j);
        if (!(k & 1)) {
            if (jobs_claim(db, &l, &j, &have, &e) != MM_OK) rc = 6;
        } else if (have) {
            j = next;
        }
        k++;
    }
    jobs_close(db);
    return rc;
}

static int run(jobs_sync sync, int slow) {
    char dir[] = "/tmp/mmpipe-conc-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/q.db", dir);
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) return 1;
    memset(sh, 0, sizeof *sh);
    jobs_db *db;
    mm_err e;
    if (jobs_open(path, NULL, &db, &e) != MM_OK) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    static jobs_input in[NJOBS];
    static char names[NJOBS][16], shas[NJOBS][65];
    for (int i = 0; i < NJOBS; i++) {
        snprintf(names[i], sizeof names[i], "f%d", i);
        uint8_t d[32];
        mm_sha256 s;
        mm_sha256_init(&s);
        mm_sha256_update(&s, names[i], strlen(names[i]));
        mm_sha256_final(&s, d);
        mm_sha256_hex(d, shas[i]);
        in[i].path = names[i];
        in[i].sha256 = shas[i];
    }
    jobs_spec sp;
    jobs_spec_default(&sp, "hash");
    if (jobs_enqueue(db, &sp, in, NJOBS, NULL, &e) != MM_OK) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    pid_t pids[NPROC];
    for (int p = 0; p < NPROC; p++)
        if ((pids[p] = fork()) == 0) _exit(worker(path, sync, sh, slow));
    int bad = 0;
    for (int p = 0; p < NPROC; p++) {
        int st;
        waitpid(pids[p], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) {
            fprintf(stderr, "worker %d exited badly (%d)\n", p, st);
            bad++;
        }
    }
    int once = 0;
    for (int i = 1; i <= NJOBS; i++) once += sh->completed[i] == 1;
    jobs_status_row *rows;
    size_t n;
    int64_t done = 0;
    if (jobs_status(db, &rows, &n, &e) == MM_OK) {
        for (size_t i = 0; i < n; i++) done += rows[i].n[JOB_DONE];
        free(rows);
    }
    char *rep = NULL;
    jobs_integrity_check(db, &rep, &e);
    jobs_close(db);
    int ok = !bad && sh->violations == 0 && once == NJOBS && done == NJOBS && rep && !strcmp(rep, "ok");
    fprintf(stderr, "sync=%s slow=%d: %d processes, %d jobs, completed once: %d, concurrent claims: %d, "
            "done in db: %lld, integrity: %s -> %s\n", sync == JOBS_SYNC_FULL ? "FULL" : "NORMAL", slow,
            NPROC, NJOBS, once, sh->violations, (long long)done, rep ? rep : "?", ok ? "ok" : "FAIL");
    free(rep);
    munmap(sh, sizeof *sh);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) ok = 0;
    return ok ? 0 : 1;
}

int main(void) {
    int rc = run(JOBS_SYNC_NORMAL, 0);
    rc |= run(JOBS_SYNC_NORMAL, 1);
    rc |= run(JOBS_SYNC_FULL, 0);
    return rc;
}
