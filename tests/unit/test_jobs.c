/*
 * tests/unit/test_jobs.c — jobs/ through its public API: schema and refusals,
 * idempotent enqueue, claim/complete/fail state machine, leases, backoff, dead
 * letters, crash counting, reaping dead owners, cancel/retry/purge, results and
 * the result<->done invariant (checked with raw SQL beside the API).
 */
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs.h"
#include "test.h"

static char dir[64];

static char *db_path(const char *name) {
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static jobs_db *open_ok(const char *name) {
    jobs_db *db = NULL;
    mm_err e;
    mm_code c = jobs_open(db_path(name), NULL, &db, &e);
    CHECK(c == MM_OK, "open %s: %s", name, e.msg);
    return db;
}

/* Single integer from raw SQL (a second connection: what is committed). */
static long long sql_int(const char *name, const char *sql) {
    sqlite3 *h;
    long long v = -1;
    if (sqlite3_open_v2(db_path(name), &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int64(s, 0);
        else
            fprintf(stderr, "sql error: %s\n", sqlite3_errmsg(h));
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
    return v;
}

static void sql_exec(const char *name, const char *sql) {
    sqlite3 *h;
    sqlite3_open(db_path(name), &h);
    char *err = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &err);
    CHECK(rc == SQLITE_OK, "exec %s: %s", sql, err ? err : "");
    sqlite3_free(err);
    sqlite3_close(h);
}

static const char *fake_sha(int i) {
    static char buf[8][65];
    static int k;
    char *p = buf[k++ % 8];
    for (int j = 0; j < 64; j++) p[j] = "0123456789abcdef"[(i * 31 + j * 7) % 16];
    snprintf(p, 65, "%08x", (unsigned)i);
    p[8] = 'a';
    for (int j = 9; j < 64; j++) p[j] = "0123456789abcdef"[(i + j) % 16];
    p[64] = 0;
    return p;
}

static void enqueue_n(jobs_db *db, int n, int base, const jobs_spec *spec) {
    jobs_input *in = calloc((size_t)n, sizeof *in);
    char (*paths)[32] = calloc((size_t)n, 32);
    for (int i = 0; i < n; i++) {
        snprintf(paths[i], 32, "file-%d", base + i);
        in[i].path = paths[i];
        in[i].sha256 = fake_sha(base + i);
        in[i].sha256 = strdup(in[i].sha256);
    }
    jobs_spec sp;
    jobs_spec_default(&sp, "hash");
    mm_err e;
    CHECK(jobs_enqueue(db, spec ? spec : &sp, in, (size_t)n, NULL, &e) == MM_OK, "enqueue: %s", e.msg);
    for (int i = 0; i < n; i++) free((char *)in[i].sha256);
    free(in);
    free(paths);
}

static void test_open_refusals(void) {
    mm_err e;
    jobs_db *db;
    /* not SQLite */
    FILE *f = fopen(db_path("junk.db"), "wb");
    fputs("this is not a database, just text that is long enough to have a header.......", f);
    fclose(f);
    CHECK(jobs_open(db_path("junk.db"), NULL, &db, &e) == MM_ECORRUPT, "junk refused: %s", e.msg);
    CHECK(strstr(e.msg, "junk.db") && strstr(e.msg, "not an mmpipe database"), "message: %s", e.msg);
    /* another application's database */
    sql_exec("other.db", "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
    CHECK(jobs_open(db_path("other.db"), NULL, &db, &e) == MM_ECORRUPT, "foreign db refused: %s", e.msg);
    CHECK(sql_int("other.db", "SELECT count(*) FROM t") == 1, "foreign db untouched");
    sql_exec("app.db", "PRAGMA application_id = 1234;");
    CHECK(jobs_open(db_path("app.db"), NULL, &db, &e) == MM_ECORRUPT, "other application_id refused");
    /* newer schema */
    db = open_ok("new.db");
    jobs_close(db);
    sql_exec("new.db", "PRAGMA user_version = 99;");
    CHECK(jobs_open(db_path("new.db"), NULL, &db, &e) == MM_EVERSION, "newer schema refused: %s", e.msg);
    CHECK(strstr(e.msg, "99") != NULL, "message names the version: %s", e.msg);
    /* a fresh database gets WAL, the version and the retrieval tables */
    db = open_ok("fresh.db");
    char *rep = NULL;
    CHECK(jobs_integrity_check(db, &rep, &e) == MM_OK && rep && !strcmp(rep, "ok"), "integrity");
    free(rep);
    jobs_close(db);
    CHECK(sql_int("fresh.db", "PRAGMA user_version") == JOBS_SCHEMA_VERSION, "version set");
    CHECK(sql_int("fresh.db", "SELECT count(*) FROM sqlite_schema WHERE name IN "
                  "('jobs','inputs','results','documents','chunks','vectors','chunks_fts','collections')") == 8,
          "all tables present");
    /* reopening is a no-op migration */
    db = open_ok("fresh.db");
    jobs_close(db);
    /* read-only open of a missing schema */
    jobs_options o;
    jobs_options_default(&o);
    o.read_only = 1;
    CHECK(jobs_open(db_path("fresh.db"), &o, &db, &e) == MM_OK, "read-only open: %s", e.msg);
    jobs_close(db);
    CHECK(jobs_open("", NULL, &db, &e) == MM_EINVAL, "empty path");
}

static void test_enqueue_idempotent(void) {
    jobs_db *db = open_ok("enq.db");
    jobs_spec sp;
    jobs_spec_default(&sp, "hash");
    char sha[65];
    strcpy(sha, fake_sha(1));
    jobs_input in[3] = {{"a.txt", sha, 5, NULL, 0}, {"copy of a.txt", sha, 5, NULL, 0},
                        {"gone.txt", NULL, 0, "cannot open: Permission denied", 0}};
    jobs_enqueue_stats st;
    mm_err e;
    CHECK(jobs_enqueue(db, &sp, in, 3, &st, &e) == MM_OK, "enqueue: %s", e.msg);
    CHECK(st.added == 1 && st.existing == 1 && st.unreadable == 1, "stats %lld %lld %lld",
          (long long)st.added, (long long)st.existing, (long long)st.unreadable);
    CHECK(sql_int("enq.db", "SELECT count(*) FROM jobs") == 2, "one content job + one path-keyed failure");
    CHECK(sql_int("enq.db", "SELECT count(*) FROM inputs") == 3, "every path mapped");
    CHECK(sql_int("enq.db", "SELECT count(*) FROM jobs WHERE state='failed' AND last_error LIKE '%Permission%'") == 1,
          "unreadable is a failed job with its error");
    /* again: nothing new */
    CHECK(jobs_enqueue(db, &sp, in, 3, &st, &e) == MM_OK && st.added == 0 && st.existing == 2, "re-enqueue");
    CHECK(sql_int("enq.db", "SELECT count(*) FROM jobs") == 2, "still two jobs");
    /* other params = another job */
    jobs_spec sp2 = sp;
    sp2.params_json = "{\"prompt\":\"x\"}";
    CHECK(jobs_enqueue(db, &sp2, in, 1, &st, &e) == MM_OK && st.added == 1, "params make a new job");
    /* the unreadable file becomes readable: its failure is replaced by a content job */
    char sha2[65];
    strcpy(sha2, fake_sha(2));
    jobs_input fixed = {"gone.txt", sha2, 1, NULL, 0};
    CHECK(jobs_enqueue(db, &sp, &fixed, 1, &st, &e) == MM_OK && st.added == 1, "fixed file queued");
    CHECK(sql_int("enq.db", "SELECT count(*) FROM jobs WHERE state='failed'") == 0, "old failure dropped");
    /* content of a path changes: the path now maps to the new job only */
    char sha3[65];
    strcpy(sha3, fake_sha(3));
    jobs_input changed = {"a.txt", sha3, 6, NULL, 0};
    CHECK(jobs_enqueue(db, &sp, &changed, 1, &st, &e) == MM_OK && st.added == 1, "changed content");
    CHECK(sql_int("enq.db", "SELECT count(*) FROM inputs WHERE path = CAST('a.txt' AS BLOB) AND kind='hash'") == 2,
          "a.txt mapped once per spec");
    /* bad input to the API */
    jobs_input badsha = {"x", "123", 1, NULL, 0};
    CHECK(jobs_enqueue(db, &sp, &badsha, 1, &st, &e) == MM_EINVAL, "short sha refused");
    jobs_spec nokind;
    jobs_spec_default(&nokind, "");
    CHECK(jobs_enqueue(db, &nokind, in, 1, &st, &e) == MM_EINVAL, "empty kind refused");
    /* all or nothing: a batch with one bad input leaves nothing */
    long long before = sql_int("enq.db", "SELECT count(*) FROM jobs");
    char sha4[65];
    strcpy(sha4, fake_sha(4));
    jobs_input mixed[2] = {{"new.txt", sha4, 1, NULL, 0}, {"x", "123", 1, NULL, 0}};
    CHECK(jobs_enqueue(db, &sp, mixed, 2, &st, &e) != MM_OK, "mixed batch refused");
    CHECK(sql_int("enq.db", "SELECT count(*) FROM jobs") == before, "nothing of it written");
    jobs_close(db);
}

static jobs_lease lease_of(const char *owner, int64_t ms) {
    jobs_lease l = {owner, ms, 10, 1000, NULL, NULL, NULL};
    return l;
}

static void test_claim_complete(void) {
    jobs_db *db = open_ok("cc.db");
    enqueue_n(db, 5, 0, NULL);
    jobs_lease l = lease_of("test:1:1:a", 30000);
    job j, next;
    int got, got2;
    mm_err e;
    CHECK(jobs_claim(db, &l, &j, &got, &e) == MM_OK && got && j.id == 1, "claim first by id");
    CHECK(j.npaths == 1 && !strcmp(j.paths[0], "file-0"), "paths loaded");
    CHECK(sql_int("cc.db", "SELECT count(*) FROM jobs WHERE state='running'") == 1, "running");
    /* a stranger cannot complete it */
    jobs_lease other = lease_of("test:2:2:b", 30000);
    CHECK(jobs_complete(db, &other, &j, "x", NULL, NULL, NULL, &e) == MM_ESTATE, "stranger refused");
    CHECK(sql_int("cc.db", "SELECT count(*) FROM results") == 0, "no result from stranger");
    /* complete + next in one transaction */
    CHECK(jobs_complete(db, &l, &j, "r1", "{\"k\":1}", &next, &got2, &e) == MM_OK && got2 && next.id == 2,
          "complete + next: %s", e.msg);
    CHECK(sql_int("cc.db", "SELECT count(*) FROM results WHERE job_id=1 AND text='r1'") == 1, "result stored");
    /* completing twice is refused (I1/I2) */
    CHECK(jobs_complete(db, &l, &j, "again", NULL, NULL, NULL, &e) == MM_ESTATE, "double complete refused");
    CHECK(sql_int("cc.db", "SELECT count(*) FROM results") == 1, "still one result");
    job_free(&j);
    /* release gives it back unrun */
    CHECK(jobs_release(db, &l, &next, &e) == MM_OK, "release");
    CHECK(sql_int("cc.db", "SELECT attempts + crashes FROM jobs WHERE id=2") == 0, "release costs nothing");
    job_free(&next);
    /* priority wins over id */
    jobs_spec sp;
    jobs_spec_default(&sp, "hash");
    sp.priority = 5;
    enqueue_n(db, 1, 100, &sp);
    CHECK(jobs_claim(db, &l, &j, &got, &e) == MM_OK && got && j.id == 6, "priority first (got %lld)", (long long)j.id);
    job_free(&j);
    /* kind filter */
    jobs_lease only = lease_of("test:1:1:a", 30000);
    only.kinds = ",caption,";
    CHECK(jobs_claim(db, &only, &j, &got, &e) == MM_OK && !got, "no caption jobs");
    /* the raw invariant: no result for a job that is not done */
    sql_exec("cc.db", "PRAGMA foreign_keys=ON");
    sqlite3 *h;
    sqlite3_open(db_path("cc.db"), &h);
    int rc = sqlite3_exec(h, "INSERT INTO results(job_id, text, finished_at) VALUES(3, 'forged', 0)", NULL, NULL, NULL);
    CHECK(rc != SQLITE_OK, "trigger refuses a result for a queued job");
    rc = sqlite3_exec(h, "UPDATE jobs SET state='queued', lease_owner=NULL WHERE id=1", NULL, NULL, NULL);
    CHECK(rc == SQLITE_OK && sql_int("cc.db", "SELECT count(*) FROM results WHERE job_id=1") == 0,
          "leaving done deletes the result");
    sqlite3_close(h);
    jobs_close(db);
}

static void test_fail_backoff_deadletter(void) {
    jobs_db *db = open_ok("fail.db");
    enqueue_n(db, 1, 0, NULL);
    jobs_lease l = lease_of("test:1:1:a", 30000);
    l.backoff_base_ms = 200; /* retry n waits 200 * 2^n ms +-25 % */
    job j;
    int got;
    mm_err e;
    CHECK(jobs_claim(db, &l, &j, &got, &e) == MM_OK && got, "claim");
    CHECK(jobs_fail(db, &l, &j, "boom 1", 1, NULL, NULL, &e) == MM_OK, "fail 1");
    job_free(&j);
    CHECK(sql_int("fail.db", "SELECT state='queued' AND attempts=1 AND last_error='boom 1' FROM jobs") == 1, "requeued");
    long long wait = sql_int("fail.db", "SELECT not_before - updated_at FROM jobs");
    CHECK(wait >= 300 && wait <= 500, "backoff 400 ms +-25%%, got %lld", wait);
    CHECK(jobs_claim(db, &l, &j, &got, &e) == MM_OK && !got, "not claimable during backoff");
    jobs_pending p;
    CHECK(jobs_pending_get(db, &l, &p, &e) == MM_OK && p.waiting == 1 && p.runnable == 0 && p.wait_ms > 0,
          "pending shows the wait");
    mm_sleep_ms((double)p.wait_ms + 20);
    CHECK(jobs_claim(db, &l, &j, &got, &e) == MM_OK && got && j.attempts == 1, "claimable after backoff");
    CHECK(jobs_fail(db, &l, &j, "boom 2", 1, NULL, NULL, &e) == MM_OK, "fail 2");
    job_free(&j);
    wait = sql_int("fail.db", "SELECT not_before - updated_at FROM jobs");
    CHECK(wait >= 600 && wait <= 1000, "second backoff 800 ms +-25%%, got %lld", wait);
    sql_exec("fail.db", "UPDATE jobs SET not_before = 0");
    CHECK(jobs_claim(db, &l, &j, &got, &e) == MM_OK && got, "third claim");
    CHECK(jobs_fail(db, &l, &j, "boom 3", 1, NULL, NULL, &e) == MM_OK, "fail 3");
    job_free(&j);
    CHECK(sql_int("fail.db", "SELECT state='failed' AND attempts=3 AND last_error='boom 3' FROM jobs") == 1,
          "dead letter after max attempts keeps the error");
    CHECK(sql_int("fail.db", "SELECT count(*) FROM job_events WHERE event IN ('error','failed')") == 3, "history");
    /* a permanent error dead-letters at once */
    enqueue_n(db, 1, 50, NULL);
    CHECK(jobs_claim(db, &l, &j, &got, &e) == MM_OK && got, "claim 2");
    CHECK(jobs_fail(db, &l, &j, "no such file", 0, NULL, NULL, &e) == MM_OK, "permanent fail");
    job_free(&j);
    CHECK(sql_int("fail.db", "SELECT attempts FROM jobs WHERE id=2 AND state='failed'") == 1, "one attempt used");
    /* retry brings them back with fresh attempts */
    int64_t n = 0;
    CHECK(jobs_retry_failed(db, &n, &e) == MM_OK && n == 2, "retry --failed: %lld", (long long)n);
    CHECK(sql_int("fail.db", "SELECT count(*) FROM jobs WHERE state='queued' AND attempts=0") == 2, "fresh");
    /* backoff cap */
    jobs_lease capped = lease_of("test:1:1:a", 30000);
    capped.backoff_base_ms = 1000000;
    capped.backoff_cap_ms = 1500;
    CHECK(jobs_claim(db, &capped, &j, &got, &e) == MM_OK && got, "claim");
    CHECK(jobs_fail(db, &capped, &j, "x", 1, NULL, NULL, &e) == MM_OK, "fail");
    wait = sql_int("fail.db", "SELECT max(not_before - updated_at) FROM jobs");
    CHECK(wait == 1500, "capped at 1500 ms, got %lld", wait);
    job_free(&j);
    jobs_close(db);
}

static void test_leases_and_crashes(void) {
    jobs_db *db = open_ok("lease.db");
    jobs_spec sp;
    jobs_spec_default(&sp, "hash");
    sp.max_crashes = 3;
    enqueue_n(db, 1, 0, &sp);
    jobs_lease l = lease_of("elsewhere:1:1:a", 50); /* another host: only expiry reclaims */
    job j;
    int got, reaped;
    mm_err e;
    CHECK(jobs_claim(db, &l, &j, &got, &e) == MM_OK && got, "claim");
    CHECK(jobs_reap(db, &reaped, &e) == MM_OK && reaped == 0, "live lease not reaped");
    /* heartbeat extends */
    jobs_lease longer = lease_of("elsewhere:1:1:a", 60000);
    int renewed;
    CHECK(jobs_heartbeat(db, &longer, &renewed, &e) == MM_OK && renewed == 1, "heartbeat");
    mm_sleep_ms(80);
    CHECK(jobs_reap(db, &reaped, &e) == MM_OK && reaped == 0, "heartbeat kept it");
    /* expiry: crash counted, attempts untouched */
    CHECK(jobs_heartbeat(db, &l, &renewed, &e) == MM_OK, "short heartbeat");
    for (int crash = 1; crash <= 3; crash++) {
        mm_sleep_ms(80);
        CHECK(jobs_reap(db, &reaped, &e) == MM_OK && reaped == 1, "expired lease reaped (crash %d)", crash);
        CHECK(jobs_complete(db, &l, &j, "late", NULL, NULL, NULL, &e) == MM_ESTATE, "late owner refused");
        job_free(&j);
        if (crash < 3) {
            CHECK(sql_int("lease.db", "SELECT state='queued' AND attempts=0 FROM jobs") == 1, "back in queue");
            CHECK(jobs_claim(db, &l, &j, &got, &e) == MM_OK && got, "claim again");
        }
    }
    CHECK(sql_int("lease.db", "SELECT state='failed' AND crashes=3 AND last_error='worker crashed 3 times' FROM jobs") == 1,
          "crash limit dead-letters with the reason");
    /* a dead owner on this host is reaped at once, long lease or not */
    enqueue_n(db, 1, 10, NULL);
    pid_t child = fork();
    if (child == 0) {
        jobs_db *cdb;
        if (jobs_open(db_path("lease.db"), NULL, &cdb, NULL) != MM_OK) _exit(1);
        char owner[320];
        jobs_owner_make(owner, sizeof owner);
        jobs_lease cl = lease_of(owner, 3600000);
        job cj;
        int g;
        if (jobs_claim(cdb, &cl, &cj, &g, NULL) != MM_OK || !g) _exit(1);
        raise(SIGKILL);
    }
    int status;
    waitpid(child, &status, 0);
    CHECK(WIFSIGNALED(status), "child killed");
    CHECK(sql_int("lease.db", "SELECT count(*) FROM jobs WHERE state='running'") == 1, "orphan running");
    CHECK(jobs_reap(db, &reaped, &e) == MM_OK && reaped == 1, "dead owner reaped at once");
    CHECK(sql_int("lease.db", "SELECT crashes FROM jobs WHERE id=2 AND state='queued'") == 1, "crash counted");
    /* owner liveness */
    char me[320];
    jobs_owner_make(me, sizeof me);
    CHECK(jobs_owner_alive(me) == 1, "I am alive: %s", me);
    CHECK(jobs_owner_alive("otherhost:1:1:x") == -1, "other host unknown");
    char fake[400];
    char host[256];
    gethostname(host, sizeof host);
    snprintf(fake, sizeof fake, "%s:%d:1:x", host, (int)child);
    CHECK(jobs_owner_alive(fake) == 0, "reaped child is dead");
    snprintf(fake, sizeof fake, "%s:%d:12345:x", host, (int)getpid());
    CHECK(jobs_owner_alive(fake) == 0, "recycled pid (other start time) is dead");
    jobs_close(db);
}

static int count_cb(void *ctx, const jobs_info *in) {
    (void)in;
    (*(int *)ctx)++;
    return 0;
}

static int result_cb(void *ctx, const jobs_result *r) {
    (*(int *)ctx)++;
    CHECK(r->path_len > 0 && r->text[0], "result has path and text");
    return 0;
}

static void test_admin(void) {
    jobs_db *db = open_ok("admin.db");
    enqueue_n(db, 4, 0, NULL);
    mm_err e;
    CHECK(jobs_cancel(db, 1, &e) == MM_OK, "cancel queued");
    CHECK(jobs_cancel(db, 1, &e) == MM_ESTATE && strstr(e.msg, "cancelled"), "cancel twice: %s", e.msg);
    CHECK(jobs_cancel(db, 99, &e) == MM_ENOTFOUND, "unknown id");
    CHECK(jobs_retry(db, 2, &e) == MM_ESTATE, "retry of a queued job refused");
    CHECK(jobs_retry(db, 1, &e) == MM_OK, "retry cancelled");
    jobs_lease l = lease_of("test:1:1:a", 30000);
    job j;
    int got;
    CHECK(jobs_claim(db, &l, &j, &got, &e) == MM_OK && got, "claim");
    CHECK(jobs_cancel(db, j.id, &e) == MM_OK, "cancel running");
    CHECK(jobs_complete(db, &l, &j, "x", NULL, NULL, NULL, &e) == MM_ESTATE, "cancelled job cannot complete");
    job_free(&j);
    while (jobs_claim(db, &l, &j, &got, &e) == MM_OK && got) {
        jobs_complete(db, &l, &j, "done", NULL, NULL, NULL, &e);
        job_free(&j);
    }
    jobs_status_row *rows;
    size_t n;
    CHECK(jobs_status(db, &rows, &n, &e) == MM_OK && n == 1, "status rows");
    if (n == 1) CHECK(rows[0].n[JOB_DONE] == 3 && rows[0].n[JOB_CANCELLED] == 1, "status counts");
    free(rows);
    int cnt = 0;
    jobs_filter f = {JOB_DONE, "hash"};
    CHECK(jobs_list(db, &f, count_cb, &cnt, &e) == MM_OK && cnt == 3, "list done: %d", cnt);
    cnt = 0;
    CHECK(jobs_results(db, "hash", result_cb, &cnt, &e) == MM_OK && cnt == 3, "results: %d", cnt);
    CHECK(jobs_get(db, 1, NULL, NULL, &e) == MM_OK, "get");
    CHECK(jobs_get(db, 77, NULL, NULL, &e) == MM_ENOTFOUND, "get unknown");
    int64_t purged;
    CHECK(jobs_purge(db, JOB_DONE, &purged, &e) == MM_OK && purged == 3, "purge done");
    CHECK(sql_int("admin.db", "SELECT count(*) FROM results") == 0 &&
          sql_int("admin.db", "SELECT count(*) FROM inputs") == 1, "purge cascades");
    CHECK(jobs_purge(db, JOB_QUEUED, &purged, &e) == MM_EINVAL, "purge queued refused");
    /* force re-runs a done job */
    enqueue_n(db, 1, 0, NULL);
    while (jobs_claim(db, &l, &j, &got, &e) == MM_OK && got) {
        jobs_complete(db, &l, &j, "first", NULL, NULL, NULL, &e);
        job_free(&j);
    }
    jobs_spec sp;
    jobs_spec_default(&sp, "hash");
    sp.force = 1;
    enqueue_n(db, 1, 0, &sp);
    CHECK(sql_int("admin.db", "SELECT count(*) FROM jobs WHERE state='queued'") == 1, "forced back to queued");
    CHECK(sql_int("admin.db", "SELECT count(*) FROM results") == 0, "old result gone with done");
    jobs_close(db);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/mmpipe-test-jobs-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_open_refusals();
    test_enqueue_idempotent();
    test_claim_complete();
    test_fail_backoff_deadletter();
    test_leases_and_crashes();
    test_admin();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!test_failures && system(cmd) != 0) return 1;
    return test_done("test_jobs");
}
