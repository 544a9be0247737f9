/*
 * jobs/queue.c — the queue proper: enqueue with idempotency keys, claim under a
 * lease, complete (result + done + next claim in one transaction), fail with
 * backoff or dead letter, heartbeat, and reaping of expired or orphaned leases.
 * Every state change is one BEGIN IMMEDIATE transaction; see the invariants in jobs.h.
 */
#include "jobs_int.h"

#include <stdlib.h>
#include <string.h>

void jobs_spec_default(jobs_spec *s, const char *kind) {
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->params_json = "{}";
    s->model = "";
    s->max_attempts = 3;
    s->max_crashes = 10;
}

void job_free(job *j) {
    if (!j) return;
    free(j->params);
    free(j->model);
    for (size_t i = 0; i < j->npaths; i++) free(j->paths[i]);
    free(j->paths);
    memset(j, 0, sizeof *j);
}

static void sha_hex_parts(char hex[65], const char *const *parts, const size_t *lens, int n) {
    mm_sha256 s;
    uint8_t d[32];
    mm_sha256_init(&s);
    for (int i = 0; i < n; i++) {
        mm_sha256_update(&s, parts[i], lens[i]);
        mm_sha256_update(&s, "\n", 1);
    }
    mm_sha256_final(&s, d);
    mm_sha256_hex(d, hex);
}

/* spec = sha256(params, model): what, beside kind and content, makes a job distinct. */
static void spec_key(const jobs_spec *sp, char out[65]) {
    const char *p[2] = {sp->params_json ? sp->params_json : "{}", sp->model ? sp->model : ""};
    size_t l[2] = {strlen(p[0]), strlen(p[1])};
    sha_hex_parts(out, p, l, 2);
}

static void content_key(const char *kind, const char *sha, const char *spec, char out[65]) {
    const char *p[4] = {"content", kind, sha, spec};
    size_t l[4] = {7, strlen(kind), strlen(sha), strlen(spec)};
    sha_hex_parts(out, p, l, 4);
}

static void path_key(const char *kind, const char *path, const char *spec, char out[65]) {
    const char *p[4] = {"path", kind, spec, path};
    size_t l[4] = {4, strlen(kind), strlen(spec), strlen(path)};
    sha_hex_parts(out, p, l, 4);
}

/* Records the path -> job mapping (one job per path, kind and spec). */
static mm_code map_input(jobs_db *d, const jobs_spec *sp, const char *spec, const char *path,
                         int64_t id, int64_t now, mm_err *e) {
    sqlite3_stmt *s = jobs_stmt(d, ST_ENQ_INPUT,
        "INSERT INTO inputs(path, kind, spec, job_id, added_at) VALUES(?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT(path, kind, spec) DO UPDATE SET job_id = excluded.job_id, "
        "added_at = excluded.added_at WHERE inputs.job_id != excluded.job_id", e);
    if (!s) return e ? e->code : MM_EIO;
    sqlite3_bind_blob(s, 1, path, (int)strlen(path), SQLITE_STATIC);
    sqlite3_bind_text(s, 2, sp->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, spec, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, id);
    sqlite3_bind_int64(s, 5, now);
    return jobs_step_done(d, s, "enqueue", e);
}

static mm_code enqueue_unreadable(jobs_db *d, const jobs_spec *sp, const char *spec,
                                  const jobs_input *in, int64_t now, int64_t *id, mm_err *e) {
    char key[65];
    path_key(sp->kind, in->path, spec, key);
    sqlite3_stmt *s = jobs_stmt(d, ST_ENQ_BAD,
        "INSERT INTO jobs(kind, key, params, model, priority, state, last_error, max_attempts, "
        "max_crashes, created_at, updated_at, finished_at) "
        "VALUES(?1, ?2, ?3, ?4, ?5, 'failed', ?6, ?7, ?8, ?9, ?9, ?9) "
        "ON CONFLICT(key) DO UPDATE SET last_error = excluded.last_error, "
        "updated_at = excluded.updated_at WHERE state = 'failed' RETURNING id", e);
    if (!s) return e ? e->code : MM_EIO;
    sqlite3_bind_text(s, 1, sp->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, sp->params_json ? sp->params_json : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, sp->model ? sp->model : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 5, sp->priority);
    sqlite3_bind_text(s, 6, in->error, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 7, sp->max_attempts);
    sqlite3_bind_int(s, 8, sp->max_crashes);
    sqlite3_bind_int64(s, 9, now);
    int rc = sqlite3_step(s);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return jobs_sqlerr(d, rc, "enqueue", e);
    if (!*id) { /* exists in another state (e.g. retried): keep it */
        sqlite3_stmt *q = jobs_stmt(d, ST_ENQ_SELECT, "SELECT id, state FROM jobs WHERE key = ?1", e);
        if (!q) return e ? e->code : MM_EIO;
        sqlite3_bind_text(q, 1, key, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(q);
        *id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
        sqlite3_reset(q);
        if (rc != SQLITE_ROW) return jobs_sqlerr(d, rc, "enqueue", e);
    }
    return MM_OK;
}

/* Deletes the failed job an earlier enqueue recorded under path's own key. */
static mm_code drop_path_failure(jobs_db *d, const jobs_spec *sp, const char *spec, const char *path,
                                 mm_err *e) {
    char pkey[65];
    path_key(sp->kind, path, spec, pkey);
    sqlite3_stmt *x = jobs_stmt(d, ST_ENQ_DROP_BAD,
        "DELETE FROM jobs WHERE key = ?1 AND state != 'running'", e);
    if (!x) return e ? e->code : MM_EIO;
    sqlite3_bind_text(x, 1, pkey, -1, SQLITE_TRANSIENT);
    return jobs_step_done(d, x, "enqueue", e);
}

/* A readable input: find or create its content job; drop the path-keyed failure
 * left by an earlier run when the file could not be read. */
static mm_code enqueue_readable(jobs_db *d, const jobs_spec *sp, const char *spec,
                                const jobs_input *in, int64_t now, int64_t *id,
                                jobs_enqueue_stats *st, mm_err *e) {
    char key[65];
    content_key(sp->kind, in->sha256, spec, key);
    sqlite3_stmt *s = jobs_stmt(d, ST_ENQ_INSERT,
        "INSERT INTO jobs(kind, key, sha256, size, params, model, priority, max_attempts, "
        "max_crashes, created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) "
        "ON CONFLICT(key) DO NOTHING RETURNING id", e);
    if (!s) return e ? e->code : MM_EIO;
    sqlite3_bind_text(s, 1, sp->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, in->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (int64_t)in->size);
    sqlite3_bind_text(s, 5, sp->params_json ? sp->params_json : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, sp->model ? sp->model : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 7, sp->priority);
    sqlite3_bind_int(s, 8, sp->max_attempts);
    sqlite3_bind_int(s, 9, sp->max_crashes);
    sqlite3_bind_int64(s, 10, now);
    int rc = sqlite3_step(s);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return jobs_sqlerr(d, rc, "enqueue", e);
    mm_code c;
    if (*id) {
        st->added++;
    } else {
        sqlite3_stmt *q = jobs_stmt(d, ST_ENQ_SELECT, "SELECT id, state FROM jobs WHERE key = ?1", e);
        if (!q) return e ? e->code : MM_EIO;
        sqlite3_bind_text(q, 1, key, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(q);
        if (rc != SQLITE_ROW) {
            sqlite3_reset(q);
            return jobs_sqlerr(d, rc, "enqueue", e);
        }
        *id = sqlite3_column_int64(q, 0);
        int state = job_state_parse((const char *)sqlite3_column_text(q, 1));
        sqlite3_reset(q);
        st->existing++;
        if (state == JOB_DONE) st->done_already++;
        if (state == JOB_FAILED) st->failed_already++;
        if (sp->force && (state == JOB_DONE || state == JOB_FAILED || state == JOB_CANCELLED)) {
            sqlite3_stmt *f = jobs_stmt(d, ST_ENQ_FORCE,
                "UPDATE jobs SET state = 'queued', attempts = 0, crashes = 0, not_before = 0, "
                "last_error = NULL, finished_at = NULL, updated_at = ?2 WHERE id = ?1", e);
            if (!f) return e ? e->code : MM_EIO;
            sqlite3_bind_int64(f, 1, *id);
            sqlite3_bind_int64(f, 2, now);
            if ((c = jobs_step_done(d, f, "enqueue", e))) return c;
            st->requeued++;
            if (state == JOB_DONE) st->done_already--;
            if (state == JOB_FAILED) st->failed_already--;
        }
    }
    return drop_path_failure(d, sp, spec, in->path, e);
}

mm_code jobs_enqueue(jobs_db *d, const jobs_spec *sp, const jobs_input *in, size_t n,
                     jobs_enqueue_stats *st, mm_err *e) {
    jobs_enqueue_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    if (!sp || !sp->kind || !*sp->kind || strlen(sp->kind) >= sizeof(((job *)0)->kind))
        return mm_err_set(e, MM_EINVAL, "enqueue: bad job kind");
    char spec[65];
    spec_key(sp, spec);
    int64_t now = mm_now_ms();
    mm_code c = jobs_begin(d, e);
    if (c) return c;
    for (size_t i = 0; i < n && c == MM_OK; i++) {
        int64_t id = 0;
        if (!in[i].path) {
            c = mm_err_set(e, MM_EINVAL, "enqueue: input %zu has no path", i);
        } else if (in[i].clear_only) {
            c = drop_path_failure(d, sp, spec, in[i].path, e);
            continue;
        } else if (in[i].error || !in[i].sha256) {
            c = enqueue_unreadable(d, sp, spec, &in[i], now, &id, e);
            st->unreadable++;
        } else if (strlen(in[i].sha256) != 64) {
            c = mm_err_set(e, MM_EINVAL, "enqueue: %s: bad content hash", in[i].path);
        } else {
            c = enqueue_readable(d, sp, spec, &in[i], now, &id, st, e);
        }
        if (c == MM_OK) c = map_input(d, sp, spec, in[i].path, id, now, e);
    }
    if (c != MM_OK) {
        jobs_rollback(d);
        return c;
    }
    return jobs_commit(d, e);
}

/* ---- claim / complete / fail ---- */

static mm_code load_paths(jobs_db *d, job *j, mm_err *e) {
    sqlite3_stmt *s = jobs_stmt(d, ST_CLAIM_PATHS,
        "SELECT path FROM inputs WHERE job_id = ?1 ORDER BY added_at, path", e);
    if (!s) return e ? e->code : MM_EIO;
    sqlite3_bind_int64(s, 1, j->id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int len = sqlite3_column_bytes(s, 0);
        const void *p = sqlite3_column_blob(s, 0);
        char **np = realloc(j->paths, (j->npaths + 1) * sizeof *np);
        char *str = malloc((size_t)len + 1);
        if (!np || !str) {
            free(str);
            if (np) j->paths = np;
            sqlite3_reset(s);
            return mm_err_set(e, MM_ENOMEM, "out of memory");
        }
        if (len) memcpy(str, p, (size_t)len);
        str[len] = 0;
        j->paths = np;
        j->paths[j->npaths++] = str;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? MM_OK : jobs_sqlerr(d, rc, "claim", e);
}

/* The claim itself, inside a transaction the caller holds. */
static mm_code claim_in_tx(jobs_db *d, const jobs_lease *l, job *out, int *got, mm_err *e) {
    *got = 0;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = jobs_stmt(d, ST_CLAIM,
        "UPDATE jobs SET state = 'running', lease_owner = ?1, lease_until = ?2 + ?3, "
        "claims = claims + 1, started_at = ?2, updated_at = ?2 "
        "WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND not_before <= ?2 "
        "  AND (?4 IS NULL OR instr(?4, ',' || kind || ',') > 0) AND (?5 IS NULL OR model = '' OR model = ?5 OR model = ?6) "
        "  ORDER BY priority DESC, id LIMIT 1) "
        "RETURNING id, kind, sha256, params, model, attempts, crashes, max_attempts, lease_until", e);
    if (!s) return e ? e->code : MM_EIO;
    int64_t now = mm_now_ms();
    sqlite3_bind_text(s, 1, l->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_int64(s, 3, l->lease_ms > 0 ? l->lease_ms : 30000);
    if (l->kinds) sqlite3_bind_text(s, 4, l->kinds, -1, SQLITE_STATIC);
    else sqlite3_bind_null(s, 4);
    if (l->model) sqlite3_bind_text(s, 5, l->model, -1, SQLITE_STATIC);
    else sqlite3_bind_null(s, 5);
    if (l->model2) sqlite3_bind_text(s, 6, l->model2, -1, SQLITE_STATIC);
    else sqlite3_bind_null(s, 6);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        snprintf(out->kind, sizeof out->kind, "%s", (const char *)sqlite3_column_text(s, 1));
        snprintf(out->sha256, sizeof out->sha256, "%s", (const char *)sqlite3_column_text(s, 2));
        out->params = mm_strdup((const char *)sqlite3_column_text(s, 3));
        out->model = mm_strdup((const char *)sqlite3_column_text(s, 4));
        out->attempts = sqlite3_column_int(s, 5);
        out->crashes = sqlite3_column_int(s, 6);
        out->max_attempts = sqlite3_column_int(s, 7);
        out->lease_until = sqlite3_column_int64(s, 8);
        rc = sqlite3_step(s);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        job_free(out);
        return jobs_sqlerr(d, rc, "claim", e);
    }
    if (!out->id) return MM_OK;
    mm_code c = out->params && out->model ? load_paths(d, out, e) : mm_err_set(e, MM_ENOMEM, "out of memory");
    if (c) {
        job_free(out);
        return c;
    }
    *got = 1;
    return MM_OK;
}

mm_code jobs_claim(jobs_db *d, const jobs_lease *l, job *out, int *got, mm_err *e) {
    mm_code c = jobs_begin(d, e);
    if (c) return c;
    if ((c = claim_in_tx(d, l, out, got, e))) {
        jobs_rollback(d);
        return c;
    }
    if ((c = jobs_commit(d, e))) {
        job_free(out);
        *got = 0;
    }
    return c;
}

static mm_code add_event(jobs_db *d, int64_t id, int64_t now, const char *ev, const char *msg, mm_err *e) {
    sqlite3_stmt *s = jobs_stmt(d, ST_EVENT,
        "INSERT INTO job_events(job_id, at, event, message) VALUES(?1, ?2, ?3, ?4)", e);
    if (!s) return e ? e->code : MM_EIO;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_text(s, 3, ev, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, msg, -1, SQLITE_STATIC);
    return jobs_step_done(d, s, "record event", e);
}

/* Ends the transaction of a complete/fail: optionally claims the next job in it, commits. */
static mm_code finish_tx(jobs_db *d, const jobs_lease *l, job *next, int *got_next, mm_err *e) {
    mm_code c = MM_OK;
    if (next && (c = claim_in_tx(d, l, next, got_next, e))) {
        jobs_rollback(d);
        return c;
    }
    if ((c = jobs_commit(d, e)) && next && *got_next) {
        job_free(next);
        *got_next = 0;
    }
    return c;
}

mm_code jobs_complete(jobs_db *d, const jobs_lease *l, const job *j, const char *text,
                      const char *data_json, job *next, int *got_next, mm_err *e) {
    if (got_next) *got_next = 0;
    if (next && !got_next) return mm_err_set(e, MM_EINVAL, "complete: got_next missing");
    mm_code c = jobs_begin(d, e);
    if (c) return c;
    int64_t now = mm_now_ms();
    sqlite3_stmt *s = jobs_stmt(d, ST_DONE,
        "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_until = NULL, "
        "finished_at = ?3, updated_at = ?3, last_error = NULL "
        "WHERE id = ?1 AND state = 'running' AND lease_owner = ?2", e);
    if (!s) goto fail;
    sqlite3_bind_int64(s, 1, j->id);
    sqlite3_bind_text(s, 2, l->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now);
    if ((c = jobs_step_done(d, s, "complete", e))) goto fail;
    if (sqlite3_changes(d->db) != 1) { /* I2: someone else holds it now */
        c = mm_err_set(e, MM_ESTATE, "job %lld: lease lost (expired, reaped or cancelled); "
                       "result discarded", (long long)j->id);
        goto fail;
    }
    s = jobs_stmt(d, ST_RESULT,
        "INSERT INTO results(job_id, text, data, finished_at) VALUES(?1, ?2, ?3, ?4)", e);
    if (!s) goto fail;
    sqlite3_bind_int64(s, 1, j->id);
    sqlite3_bind_text(s, 2, text ? text : "", -1, SQLITE_STATIC);
    if (data_json) sqlite3_bind_text(s, 3, data_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, now);
    if ((c = jobs_step_done(d, s, "store result", e))) goto fail;
    return finish_tx(d, l, next, got_next, e);
fail:
    if (c == MM_OK) c = e ? e->code : MM_EIO;
    jobs_rollback(d);
    return c;
}

/* Delay before retry number n (1-based): base * 2^n, +-25 % jitter, capped. */
static int64_t backoff_ms(jobs_db *d, const jobs_lease *l, int n) {
    int64_t base = l->backoff_base_ms > 0 ? l->backoff_base_ms : 1000;
    int64_t cap = l->backoff_cap_ms > 0 ? l->backoff_cap_ms : 600000;
    double v = (double)base * (double)(1ULL << (n < 30 ? n : 30));
    double jitter = 0.75 + 0.5 * (double)(jobs_rand(d) >> 11) / (double)(1ULL << 53);
    v *= jitter;
    return v > (double)cap ? cap : (int64_t)v;
}

mm_code jobs_fail(jobs_db *d, const jobs_lease *l, const job *j, const char *error, int retryable,
                  job *next, int *got_next, mm_err *e) {
    if (got_next) *got_next = 0;
    if (next && !got_next) return mm_err_set(e, MM_EINVAL, "fail: got_next missing");
    int attempts = j->attempts + 1;
    int dead = !retryable || attempts >= j->max_attempts;
    int64_t now = mm_now_ms();
    mm_code c = jobs_begin(d, e);
    if (c) return c;
    sqlite3_stmt *s = dead
        ? jobs_stmt(d, ST_FAIL_DEAD,
              "UPDATE jobs SET state = 'failed', attempts = ?3, lease_owner = NULL, lease_until = NULL, "
              "last_error = ?4, finished_at = ?5, updated_at = ?5 "
              "WHERE id = ?1 AND state = 'running' AND lease_owner = ?2", e)
        : jobs_stmt(d, ST_FAIL_REQUEUE,
              "UPDATE jobs SET state = 'queued', attempts = ?3, lease_owner = NULL, lease_until = NULL, "
              "last_error = ?4, not_before = ?5 + ?6, updated_at = ?5 "
              "WHERE id = ?1 AND state = 'running' AND lease_owner = ?2", e);
    if (!s) goto fail;
    sqlite3_bind_int64(s, 1, j->id);
    sqlite3_bind_text(s, 2, l->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, attempts);
    sqlite3_bind_text(s, 4, error ? error : "unknown error", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, now);
    if (!dead) sqlite3_bind_int64(s, 6, backoff_ms(d, l, attempts));
    if ((c = jobs_step_done(d, s, "fail", e))) goto fail;
    if (sqlite3_changes(d->db) != 1) {
        c = mm_err_set(e, MM_ESTATE, "job %lld: lease lost; error not recorded", (long long)j->id);
        goto fail;
    }
    if ((c = add_event(d, j->id, now, dead ? "failed" : "error", error ? error : "", e))) goto fail;
    return finish_tx(d, l, next, got_next, e);
fail:
    if (c == MM_OK) c = e ? e->code : MM_EIO;
    jobs_rollback(d);
    return c;
}

mm_code jobs_release(jobs_db *d, const jobs_lease *l, const job *j, mm_err *e) {
    mm_code c = jobs_begin(d, e);
    if (c) return c;
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(d->db, "UPDATE jobs SET state = 'queued', lease_owner = NULL, "
                                "lease_until = NULL, updated_at = ?3 "
                                "WHERE id = ?1 AND state = 'running' AND lease_owner = ?2", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, j->id);
        sqlite3_bind_text(s, 2, l->owner, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, mm_now_ms());
        rc = sqlite3_step(s);
        sqlite3_finalize(s);
    }
    if (rc != SQLITE_DONE) {
        jobs_rollback(d);
        return jobs_sqlerr(d, rc, "release", e);
    }
    return jobs_commit(d, e);
}

mm_code jobs_heartbeat(jobs_db *d, const jobs_lease *l, int *renewed, mm_err *e) {
    if (renewed) *renewed = 0;
    mm_code c = jobs_begin(d, e);
    if (c) return c;
    sqlite3_stmt *s = jobs_stmt(d, ST_HEARTBEAT,
        "UPDATE jobs SET lease_until = ?2 + ?3 WHERE state = 'running' AND lease_owner = ?1", e);
    if (!s) {
        jobs_rollback(d);
        return e ? e->code : MM_EIO;
    }
    sqlite3_bind_text(s, 1, l->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, mm_now_ms());
    sqlite3_bind_int64(s, 3, l->lease_ms > 0 ? l->lease_ms : 30000);
    if ((c = jobs_step_done(d, s, "heartbeat", e))) {
        jobs_rollback(d);
        return c;
    }
    if (renewed) *renewed = sqlite3_changes(d->db);
    return jobs_commit(d, e);
}

/* ---- reaping ---- */

typedef struct stale { int64_t id; char *owner; } stale;

/* Running jobs whose lease expired or whose owner is dead on this host. */
static mm_code find_stale(jobs_db *d, stale **out, size_t *n, mm_err *e) {
    sqlite3_stmt *s;
    *out = NULL;
    *n = 0;
    int rc = sqlite3_prepare_v2(d->db, "SELECT id, lease_owner, lease_until FROM jobs "
                                "WHERE state = 'running'", -1, &s, NULL);
    if (rc != SQLITE_OK) return jobs_sqlerr(d, rc, "reap", e);
    int64_t now = mm_now_ms();
    size_t cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *owner = (const char *)sqlite3_column_text(s, 1);
        int64_t until = sqlite3_column_int64(s, 2);
        if (until >= now && jobs_owner_alive(owner) != 0) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            stale *ns = realloc(*out, cap * sizeof *ns);
            if (!ns) break;
            *out = ns;
        }
        (*out)[*n].id = sqlite3_column_int64(s, 0);
        (*out)[*n].owner = mm_strdup(owner ? owner : "");
        (*n)++;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return rc == SQLITE_ROW ? mm_err_set(e, MM_ENOMEM, "out of memory")
                                                   : jobs_sqlerr(d, rc, "reap", e);
    return MM_OK;
}

mm_code jobs_reap(jobs_db *d, int *reaped, mm_err *e) {
    stale *v;
    size_t n;
    if (reaped) *reaped = 0;
    mm_code c = find_stale(d, &v, &n, e);
    if (c || n == 0) {
        free(v);
        return c;
    }
    int64_t now = mm_now_ms();
    sqlite3_stmt *s = NULL;
    if ((c = jobs_begin(d, e))) goto out;
    /* Guarded by the old owner: a job re-leased since we looked is left alone. */
    int rc = sqlite3_prepare_v2(d->db,
        "UPDATE jobs SET crashes = crashes + 1, lease_owner = NULL, lease_until = NULL, updated_at = ?3, "
        "  state = CASE WHEN crashes + 1 >= max_crashes THEN 'failed' ELSE 'queued' END, "
        "  finished_at = CASE WHEN crashes + 1 >= max_crashes THEN ?3 END, "
        "  last_error = CASE WHEN crashes + 1 >= max_crashes "
        "    THEN 'worker crashed ' || (crashes + 1) || ' times' ELSE last_error END "
        "WHERE id = ?1 AND state = 'running' AND lease_owner = ?2 RETURNING crashes, state", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        c = jobs_sqlerr(d, rc, "reap", e);
        goto rollback;
    }
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(s, 1, v[i].id);
        sqlite3_bind_text(s, 2, v[i].owner, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, now);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            char msg[160];
            snprintf(msg, sizeof msg, "lease of %s ended without completion (crash %d)", v[i].owner,
                     sqlite3_column_int(s, 0));
            rc = sqlite3_step(s);
            sqlite3_reset(s);
            if ((c = add_event(d, v[i].id, now, "crash", msg, e))) goto rollback;
            count++;
        } else {
            sqlite3_reset(s);
        }
        if (rc != SQLITE_DONE) {
            c = jobs_sqlerr(d, rc, "reap", e);
            goto rollback;
        }
    }
    sqlite3_finalize(s);
    s = NULL;
    if ((c = jobs_commit(d, e)) == MM_OK && reaped) *reaped = count;
    goto out;
rollback:
    sqlite3_finalize(s);
    jobs_rollback(d);
out:
    for (size_t i = 0; i < n; i++) free(v[i].owner);
    free(v);
    return c;
}

mm_code jobs_pending_get(jobs_db *d, const jobs_lease *l, jobs_pending *p, mm_err *e) {
    memset(p, 0, sizeof *p);
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(d->db,
        "SELECT coalesce(sum(state = 'queued' AND not_before <= ?1), 0), "
        "coalesce(sum(state = 'queued' AND not_before > ?1), 0), "
        "min(CASE WHEN state = 'queued' AND not_before > ?1 THEN not_before END), "
        "coalesce(sum(state = 'running'), 0) FROM jobs "
        "WHERE state IN ('queued', 'running') AND (?2 IS NULL OR instr(?2, ',' || kind || ',') > 0) "
        "AND (?3 IS NULL OR model = '' OR model = ?3 OR model = ?4)",
        -1, &s, NULL);
    if (rc != SQLITE_OK) return jobs_sqlerr(d, rc, "pending", e);
    int64_t now = mm_now_ms();
    sqlite3_bind_int64(s, 1, now);
    if (l && l->kinds) sqlite3_bind_text(s, 2, l->kinds, -1, SQLITE_STATIC);
    if (l && l->model) sqlite3_bind_text(s, 3, l->model, -1, SQLITE_STATIC);
    if (l && l->model2) sqlite3_bind_text(s, 4, l->model2, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        p->runnable = sqlite3_column_int64(s, 0);
        p->waiting = sqlite3_column_int64(s, 1);
        p->wait_ms = sqlite3_column_type(s, 2) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, 2) - now;
        if (p->wait_ms < 0) p->wait_ms = 0;
        p->running = sqlite3_column_int64(s, 3);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? MM_OK : jobs_sqlerr(d, rc, "pending", e);
}
