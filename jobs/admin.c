/*
 * jobs/admin.c — everything besides the worker protocol: listing jobs,
 * cancel, retry, purge, status counts, and reading results for export.
 * Readers use plain SELECTs (WAL: they never block the workers).
 */
#include "jobs_int.h"

#include <stdlib.h>
#include <string.h>

#define INFO_COLS \
    "SELECT j.id, j.kind, j.sha256, j.model, j.params, j.last_error, j.lease_owner, j.state, " \
    "j.attempts, j.max_attempts, j.crashes, j.priority, j.created_at, j.updated_at, " \
    "j.finished_at, j.not_before, " \
    "(SELECT path FROM inputs i WHERE i.job_id = j.id ORDER BY added_at, path LIMIT 1), " \
    "(SELECT count(*) FROM inputs i WHERE i.job_id = j.id) FROM jobs j "

static const char *col_text(sqlite3_stmt *s, int i) {
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? t : "";
}

static mm_code each_info(jobs_db *d, sqlite3_stmt *s, int (*fn)(void *, const jobs_info *),
                         void *ctx, mm_err *e) {
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        jobs_info in = {0};
        in.id = sqlite3_column_int64(s, 0);
        in.kind = col_text(s, 1);
        in.sha256 = col_text(s, 2);
        in.model = col_text(s, 3);
        in.params = col_text(s, 4);
        in.last_error = (const char *)sqlite3_column_text(s, 5);
        in.lease_owner = (const char *)sqlite3_column_text(s, 6);
        in.state = (job_state)job_state_parse(col_text(s, 7));
        in.attempts = sqlite3_column_int(s, 8);
        in.max_attempts = sqlite3_column_int(s, 9);
        in.crashes = sqlite3_column_int(s, 10);
        in.priority = sqlite3_column_int(s, 11);
        in.created_at = sqlite3_column_int64(s, 12);
        in.updated_at = sqlite3_column_int64(s, 13);
        in.finished_at = sqlite3_column_int64(s, 14);
        in.not_before = sqlite3_column_int64(s, 15);
        in.path = sqlite3_column_blob(s, 16);
        in.path_len = (size_t)sqlite3_column_bytes(s, 16);
        if (!in.path) in.path = "";
        in.npaths = sqlite3_column_int64(s, 17);
        if (fn(ctx, &in)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? MM_OK : jobs_sqlerr(d, rc, "list jobs", e);
}

mm_code jobs_list(jobs_db *d, const jobs_filter *f, int (*fn)(void *, const jobs_info *),
                  void *ctx, mm_err *e) {
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(d->db, INFO_COLS
        "WHERE (?1 IS NULL OR j.state = ?1) AND (?2 IS NULL OR j.kind = ?2) ORDER BY j.id", -1, &s, NULL);
    if (rc != SQLITE_OK) return jobs_sqlerr(d, rc, "list jobs", e);
    if (f && f->state >= 0) sqlite3_bind_text(s, 1, job_state_name((job_state)f->state), -1, SQLITE_STATIC);
    if (f && f->kind) sqlite3_bind_text(s, 2, f->kind, -1, SQLITE_STATIC);
    return each_info(d, s, fn, ctx, e);
}

static int found_one(void *ctx, const jobs_info *in) {
    (void)in;
    *(int *)ctx = 1;
    return 0;
}

mm_code jobs_get(jobs_db *d, int64_t id, int (*fn)(void *, const jobs_info *), void *ctx, mm_err *e) {
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(d->db, INFO_COLS "WHERE j.id = ?1", -1, &s, NULL);
    if (rc != SQLITE_OK) return jobs_sqlerr(d, rc, "get job", e);
    sqlite3_bind_int64(s, 1, id);
    int found = 0;
    mm_code c = each_info(d, s, fn ? fn : found_one, fn ? ctx : &found, e);
    if (c == MM_OK && !fn && !found) c = mm_err_set(e, MM_ENOTFOUND, "job %lld: no such job", (long long)id);
    return c;
}

/* Runs one guarded state change on job id; explains a refusal from the current state. */
static mm_code change_state(jobs_db *d, int64_t id, const char *sql, const char *event,
                            const char *verb, mm_err *e) {
    mm_code c = jobs_begin(d, e);
    if (c) return c;
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(d->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        jobs_rollback(d);
        return jobs_sqlerr(d, rc, verb, e);
    }
    int64_t now = mm_now_ms();
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        jobs_rollback(d);
        return jobs_sqlerr(d, rc, verb, e);
    }
    if (sqlite3_changes(d->db) == 0) {
        rc = sqlite3_prepare_v2(d->db, "SELECT state FROM jobs WHERE id = ?1", -1, &s, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(s, 1, id);
            rc = sqlite3_step(s);
            if (rc == SQLITE_ROW)
                c = mm_err_set(e, MM_ESTATE, "job %lld: cannot %s a %s job", (long long)id, verb,
                               (const char *)sqlite3_column_text(s, 0));
            else
                c = mm_err_set(e, MM_ENOTFOUND, "job %lld: no such job", (long long)id);
            sqlite3_finalize(s);
        } else {
            c = jobs_sqlerr(d, rc, verb, e);
        }
        jobs_rollback(d);
        return c;
    }
    sqlite3_stmt *ev;
    rc = sqlite3_prepare_v2(d->db, "INSERT INTO job_events(job_id, at, event) VALUES(?1, ?2, ?3)", -1, &ev, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(ev, 1, id);
        sqlite3_bind_int64(ev, 2, now);
        sqlite3_bind_text(ev, 3, event, -1, SQLITE_STATIC);
        rc = sqlite3_step(ev);
        sqlite3_finalize(ev);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_OK) {
        jobs_rollback(d);
        return jobs_sqlerr(d, rc, verb, e);
    }
    return jobs_commit(d, e);
}

mm_code jobs_cancel(jobs_db *d, int64_t id, mm_err *e) {
    return change_state(d, id,
        "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_until = NULL, updated_at = ?2, "
        "finished_at = ?2 WHERE id = ?1 AND state IN ('queued', 'running')", "cancelled", "cancel", e);
}

#define RETRY_SET \
    "UPDATE jobs SET state = 'queued', attempts = 0, crashes = 0, not_before = 0, finished_at = NULL, " \
    "last_error = NULL, updated_at = ?2 "

mm_code jobs_retry(jobs_db *d, int64_t id, mm_err *e) {
    return change_state(d, id, RETRY_SET "WHERE id = ?1 AND state IN ('failed', 'cancelled')",
                        "retry", "retry", e);
}

/* Runs sql with ?2 bound to now; *changes = rows it changed. */
static mm_code run_at(jobs_db *d, const char *sql, int64_t now, int64_t *changes, mm_err *e) {
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(d->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s, 2, now);
        rc = sqlite3_step(s);
        sqlite3_finalize(s);
    }
    if (rc != SQLITE_DONE) return jobs_sqlerr(d, rc, "retry", e);
    if (changes) *changes = sqlite3_changes(d->db);
    return MM_OK;
}

mm_code jobs_retry_failed(jobs_db *d, int64_t *n, mm_err *e) {
    mm_code c = jobs_begin(d, e);
    if (c) return c;
    int64_t now = mm_now_ms();
    if ((c = run_at(d, "INSERT INTO job_events(job_id, at, event) "
                       "SELECT id, ?2, 'retry' FROM jobs WHERE state = 'failed'", now, NULL, e)) ||
        (c = run_at(d, RETRY_SET "WHERE state = 'failed'", now, n, e))) {
        jobs_rollback(d);
        return c;
    }
    return jobs_commit(d, e);
}

mm_code jobs_purge(jobs_db *d, job_state state, int64_t *n, mm_err *e) {
    if (state != JOB_DONE && state != JOB_FAILED && state != JOB_CANCELLED)
        return mm_err_set(e, MM_EINVAL, "purge: only done, failed or cancelled jobs can be purged");
    mm_code c = jobs_begin(d, e);
    if (c) return c;
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(d->db, "DELETE FROM jobs WHERE state = ?1", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(s, 1, job_state_name(state), -1, SQLITE_STATIC);
        rc = sqlite3_step(s);
        sqlite3_finalize(s);
    }
    if (rc != SQLITE_DONE) {
        jobs_rollback(d);
        return jobs_sqlerr(d, rc, "purge", e);
    }
    if (n) *n = sqlite3_changes(d->db);
    return jobs_commit(d, e);
}

mm_code jobs_status(jobs_db *d, jobs_status_row **rows, size_t *n, mm_err *e) {
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(d->db, "SELECT kind, state, count(*) FROM jobs GROUP BY kind, state "
                                "ORDER BY kind", -1, &s, NULL);
    if (rc != SQLITE_OK) return jobs_sqlerr(d, rc, "status", e);
    size_t cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *kind = col_text(s, 0);
        if (*n == 0 || strcmp((*rows)[*n - 1].kind, kind) != 0) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 8;
                jobs_status_row *nr = realloc(*rows, cap * sizeof *nr);
                if (!nr) {
                    sqlite3_finalize(s);
                    return mm_err_set(e, MM_ENOMEM, "out of memory");
                }
                *rows = nr;
            }
            memset(&(*rows)[*n], 0, sizeof **rows);
            snprintf((*rows)[*n].kind, sizeof (*rows)[*n].kind, "%s", kind);
            (*n)++;
        }
        int st = job_state_parse(col_text(s, 1));
        if (st >= 0) (*rows)[*n - 1].n[st] = sqlite3_column_int64(s, 2);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return jobs_sqlerr(d, rc, "status", e);
    /* throughput: what finished in the window, over the time since the first of it started */
    const int64_t now = mm_now_ms();
    rc = sqlite3_prepare_v2(d->db, "SELECT kind, count(*), min(coalesce(started_at, finished_at)) FROM jobs "
                            "WHERE state IN ('done', 'failed') AND finished_at >= ?1 GROUP BY kind", -1, &s, NULL);
    if (rc != SQLITE_OK) return jobs_sqlerr(d, rc, "status", e);
    sqlite3_bind_int64(s, 1, now - (int64_t)JOBS_RATE_WINDOW_S * 1000);
    for (size_t i = 0; i < *n; i++) (*rows)[i].eta_s = -1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *kind = col_text(s, 0);
        for (size_t i = 0; i < *n; i++) {
            jobs_status_row *r = &(*rows)[i];
            if (strcmp(r->kind, kind)) continue;
            r->recent = sqlite3_column_int64(s, 1);
            double span_s = (double)(now - sqlite3_column_int64(s, 2)) / 1000;
            if (span_s < 1) span_s = 1;
            r->per_hour = (double)r->recent / span_s * 3600;
        }
    }
    sqlite3_finalize(s);
    for (size_t i = 0; i < *n; i++) {
        jobs_status_row *r = &(*rows)[i];
        const int64_t left = r->n[JOB_QUEUED] + r->n[JOB_RUNNING];
        r->eta_s = !left ? 0 : r->per_hour > 0 ? (double)left / r->per_hour * 3600 : -1;
    }
    return rc == SQLITE_DONE ? MM_OK : jobs_sqlerr(d, rc, "status", e);
}

mm_code jobs_results(jobs_db *d, const char *kind, int (*fn)(void *, const jobs_result *),
                     void *ctx, mm_err *e) {
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(d->db,
        "SELECT j.id, i.path, j.sha256, j.kind, j.model, r.text, r.data, r.finished_at "
        "FROM results r JOIN jobs j ON j.id = r.job_id JOIN inputs i ON i.job_id = j.id "
        "WHERE j.state = 'done' AND (?1 IS NULL OR j.kind = ?1) ORDER BY j.id, i.path", -1, &s, NULL);
    if (rc != SQLITE_OK) return jobs_sqlerr(d, rc, "read results", e);
    if (kind) sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        jobs_result r;
        r.job_id = sqlite3_column_int64(s, 0);
        r.path = sqlite3_column_blob(s, 1);
        r.path_len = (size_t)sqlite3_column_bytes(s, 1);
        if (!r.path) r.path = "";
        r.sha256 = col_text(s, 2);
        r.kind = col_text(s, 3);
        r.model = col_text(s, 4);
        r.text = col_text(s, 5);
        r.data = (const char *)sqlite3_column_text(s, 6);
        r.finished_at = sqlite3_column_int64(s, 7);
        if (fn(ctx, &r)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? MM_OK : jobs_sqlerr(d, rc, "read results", e);
}
