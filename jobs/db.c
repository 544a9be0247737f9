/*
 * jobs/db.c — opening the queue database: connection settings (WAL, synchronous,
 * foreign keys, a short-sleep busy handler), identity and version checks,
 * migrations, and the SQL helpers the rest of jobs/ uses.
 */
#include "jobs_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#define JOBS_APPLICATION_ID 0x6d6d7069 /* "mmpi" */

const char *job_state_name(job_state s) {
    static const char *const n[] = {"queued", "running", "done", "failed", "cancelled"};
    return (unsigned)s < JOB_NSTATES ? n[s] : "?";
}

int job_state_parse(const char *name) {
    for (int i = 0; i < JOB_NSTATES; i++)
        if (name && strcmp(name, job_state_name((job_state)i)) == 0) return i;
    return -1;
}

int jobs_sync_parse(const char *name, jobs_sync *out) {
    if (!name) return -1;
    if (!strcasecmp(name, "FULL")) *out = JOBS_SYNC_FULL;
    else if (!strcasecmp(name, "NORMAL")) *out = JOBS_SYNC_NORMAL;
    else if (!strcasecmp(name, "OFF")) *out = JOBS_SYNC_OFF;
    else return -1;
    return 0;
}

void jobs_options_default(jobs_options *o) {
    memset(o, 0, sizeof *o);
    o->sync = JOBS_SYNC_FULL;
    o->busy_timeout_ms = 30000;
}

mm_code jobs_sqlerr(jobs_db *d, int rc, const char *what, mm_err *e) {
    int prim = rc & 0xff;
    mm_code c;
    switch (prim) {
    case SQLITE_FULL: c = MM_EFULL; break;
    case SQLITE_READONLY: c = MM_EREADONLY; break;
    case SQLITE_PERM: case SQLITE_AUTH: c = MM_EPERM; break;
    case SQLITE_NOTADB: case SQLITE_CORRUPT: c = MM_ECORRUPT; break;
    case SQLITE_BUSY: case SQLITE_LOCKED: c = MM_EBUSY; break;
    case SQLITE_NOMEM: c = MM_ENOMEM; break;
    case SQLITE_CANTOPEN: c = MM_EIO; break;
    case SQLITE_CONSTRAINT: c = MM_ESTATE; break;
    case SQLITE_IOERR: {
        int er = d && d->db ? sqlite3_system_errno(d->db) : 0;
        c = (er == ENOSPC || er == EFBIG || er == EDQUOT) ? MM_EFULL : MM_EIO;
        break;
    }
    default: c = MM_EIO;
    }
    const char *msg = d && d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc);
    int er = d && d->db ? sqlite3_system_errno(d->db) : 0;
    if (c == MM_EFULL && prim == SQLITE_IOERR) msg = "disk full";
    if (er && (prim == SQLITE_IOERR || prim == SQLITE_CANTOPEN || prim == SQLITE_READONLY))
        return mm_err_set(e, c, "%s: %s: %s (%s)", d ? d->path : "?", what, msg, strerror(er));
    return mm_err_set(e, c, "%s: %s: %s", d ? d->path : "?", what, msg);
}

uint64_t jobs_rand(jobs_db *d) { /* xorshift64* */
    d->rng ^= d->rng >> 12;
    d->rng ^= d->rng << 25;
    d->rng ^= d->rng >> 27;
    return d->rng * 0x2545F4914F6CDD1DULL;
}

/* Busy handler: short randomised sleeps (50 us growing to 2 ms) until the
 * timeout, instead of SQLite's default 1..100 ms ladder, so that several
 * workers on one file hand the write lock over quickly. */
static int busy_wait(void *ctx, int count) {
    jobs_db *d = ctx;
    int64_t now = mm_mono_ns();
    if (count == 0) d->busy_start_ns = now;
    if ((now - d->busy_start_ns) / 1000000 >= d->busy_timeout_ms) return 0;
    double cap_us = count < 6 ? 50.0 * (1 << count) : 2000.0;
    double us = cap_us * (0.5 + (double)(jobs_rand(d) >> 11) / (double)(1ULL << 53));
    mm_sleep_ms(us / 1000.0);
    return 1;
}

sqlite3_stmt *jobs_stmt(jobs_db *d, int id, const char *sql, mm_err *e) {
    sqlite3_stmt *s = d->st[id];
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return s;
    }
    int rc = sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &d->st[id], NULL);
    if (rc != SQLITE_OK) {
        jobs_sqlerr(d, rc, "prepare", e);
        return NULL;
    }
    return d->st[id];
}

mm_code jobs_exec(jobs_db *d, const char *sql, mm_err *e) {
    char *err = NULL;
    int rc = sqlite3_exec(d->db, sql, NULL, NULL, &err);
    sqlite3_free(err);
    return rc == SQLITE_OK ? MM_OK : jobs_sqlerr(d, rc, "query failed", e);
}

/* Writers of one database first queue on an advisory flock of "<db>-lock": the
 * kernel hands the lock to the next waiter the moment it is released, where
 * SQLite's busy handler would sleep and poll.  The flock only orders mmpipe
 * processes; SQLite's own locking still guarantees correctness (other writers
 * fall back to the busy handler), and the kernel drops it when a process dies. */
static void writer_lock(jobs_db *d) {
    if (d->lock_fd < 0 || d->locked) return;
    while (flock(d->lock_fd, LOCK_EX) != 0)
        if (errno != EINTR) return;
    d->locked = 1;
}

static void writer_unlock(jobs_db *d) {
    if (!d->locked) return;
    flock(d->lock_fd, LOCK_UN);
    d->locked = 0;
}

mm_code jobs_begin(jobs_db *d, mm_err *e) {
    writer_lock(d);
    mm_code c = jobs_exec(d, "BEGIN IMMEDIATE", e);
    if (c != MM_OK) writer_unlock(d);
    return c;
}

mm_code jobs_commit(jobs_db *d, mm_err *e) {
    mm_code c = jobs_exec(d, "COMMIT", e);
    if (c != MM_OK) jobs_rollback(d);
    writer_unlock(d);
    return c;
}

void jobs_rollback(jobs_db *d) {
    if (!sqlite3_get_autocommit(d->db)) sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
    writer_unlock(d);
}

mm_code jobs_step_done(jobs_db *d, sqlite3_stmt *s, const char *what, mm_err *e) {
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
        sqlite3_reset(s);
        return MM_OK;
    }
    mm_code c = jobs_sqlerr(d, rc, what, e);
    sqlite3_reset(s);
    return c;
}

static mm_code pragma_int(jobs_db *d, const char *sql, int64_t *out, mm_err *e) {
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(d->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) return jobs_sqlerr(d, rc, "cannot read the database", e);
    rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return jobs_sqlerr(d, rc, "cannot read the database", e);
    return MM_OK;
}

/* Refuses files that are not ours: another application's id, or tables but no version. */
static mm_code check_identity(jobs_db *d, int64_t version, mm_err *e) {
    int64_t app, ntables;
    mm_code c = pragma_int(d, "PRAGMA application_id", &app, e);
    if (c) return c;
    if (app != 0 && app != JOBS_APPLICATION_ID)
        return mm_err_set(e, MM_ECORRUPT, "%s: an SQLite database of another application "
                          "(application_id 0x%llx), not an mmpipe database", d->path, (long long)app);
    if (version > JOBS_SCHEMA_VERSION)
        return mm_err_set(e, MM_EVERSION, "%s: database schema version %lld is newer than this "
                          "mmpipe supports (%d); use a newer mmpipe", d->path, (long long)version,
                          JOBS_SCHEMA_VERSION);
    c = pragma_int(d, "SELECT count(*) FROM sqlite_schema", &ntables, e);
    if (c) return c;
    if (version == 0 && app == 0 && ntables > 0)
        return mm_err_set(e, MM_ECORRUPT, "%s: an SQLite database with other tables, "
                          "not an mmpipe database", d->path);
    return MM_OK;
}

/* Applies the migrations from user_version to the latest, in one write transaction
 * (re-reading the version inside it, so two processes never migrate twice). */
static mm_code migrate(jobs_db *d, mm_err *e) {
    mm_code c = jobs_begin(d, e);
    if (c) return c;
    int64_t v;
    if ((c = pragma_int(d, "PRAGMA user_version", &v, e)) || (c = check_identity(d, v, e))) {
        jobs_rollback(d);
        return c;
    }
    for (; v < JOBS_SCHEMA_VERSION; v++) {
        if ((c = jobs_exec(d, jobs_migrations[v], e))) {
            mm_err_prefix(e, "schema migration %lld -> %lld", (long long)v, (long long)v + 1);
            jobs_rollback(d);
            return c;
        }
    }
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d",
             JOBS_SCHEMA_VERSION, JOBS_APPLICATION_ID);
    if ((c = jobs_exec(d, sql, e))) {
        jobs_rollback(d);
        return c;
    }
    return jobs_commit(d, e);
}

static mm_code configure(jobs_db *d, const jobs_options *o, mm_err *e) {
    static const char *const sync_sql[] = {"PRAGMA synchronous=FULL", "PRAGMA synchronous=NORMAL",
                                           "PRAGMA synchronous=OFF"};
    mm_code c;
    if ((c = jobs_exec(d, "PRAGMA foreign_keys=ON", e))) return c;
    if ((c = jobs_exec(d, sync_sql[o->sync], e))) return c;
    if (o->read_only) return MM_OK;
    /* journal_mode=WAL needs the write lock when switching; it is persistent. */
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(d->db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
    if (rc != SQLITE_OK) return jobs_sqlerr(d, rc, "cannot open the database", e);
    rc = sqlite3_step(s);
    int wal = rc == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return jobs_sqlerr(d, rc, "cannot open the database", e);
    if (!wal) return mm_err_set(e, MM_EIO, "%s: cannot switch to WAL journal mode", d->path);
    return MM_OK;
}

/* A reader in a folder it cannot write cannot create the WAL index (-shm).  When
 * no -wal file exists every committed change is in the main file, so reading it
 * as immutable is exact. */
static mm_code reopen_immutable(jobs_db *d, mm_err *e) {
    char *wal = mm_asprintf("%s-wal", d->path);
    int has_wal = wal && access(wal, F_OK) == 0;
    free(wal);
    if (has_wal) return MM_EREADONLY;
    size_t n = strlen(d->path);
    char *uri = malloc(3 * n + 32), *o = uri;
    if (!uri) return mm_err_set(e, MM_ENOMEM, "out of memory");
    o += sprintf(o, "file:");
    for (const unsigned char *p = (const unsigned char *)d->path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#' || *p < 0x21 || *p >= 0x7f) o += sprintf(o, "%%%02X", *p);
        else *o++ = (char)*p;
    }
    strcpy(o, "?immutable=1");
    sqlite3_close(d->db);
    d->db = NULL;
    int rc = sqlite3_open_v2(uri, &d->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    free(uri);
    if (rc != SQLITE_OK) return jobs_sqlerr(d, rc, "cannot open database", e);
    sqlite3_busy_handler(d->db, busy_wait, d);
    return MM_OK;
}

mm_code jobs_open(const char *path, const jobs_options *opt, jobs_db **out, mm_err *e) {
    jobs_options def;
    if (!opt) {
        jobs_options_default(&def);
        opt = &def;
    }
    *out = NULL;
    if (!path || !*path) return mm_err_set(e, MM_EINVAL, "database path is empty");
    if ((unsigned)opt->sync > JOBS_SYNC_OFF) return mm_err_set(e, MM_EINVAL, "bad synchronous mode");
    jobs_db *d = calloc(1, sizeof *d);
    if (!d || !(d->path = mm_strdup(path))) {
        free(d);
        return mm_err_set(e, MM_ENOMEM, "out of memory");
    }
    d->busy_timeout_ms = opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : 30000;
    d->lock_fd = -1;
    d->rng = (uint64_t)mm_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)d;
    if (!d->rng) d->rng = 1;
    int flags = opt->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &d->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    mm_code c = MM_OK;
    int64_t v = 0;
    if (rc == SQLITE_OK) {
        sqlite3_busy_handler(d->db, busy_wait, d);
        sqlite3_extended_result_codes(d->db, 1);
    }
    if (rc != SQLITE_OK) {
        int er = errno;
        c = mm_err_set(e, rc == SQLITE_CANTOPEN && er == EACCES ? MM_EPERM : MM_EIO,
                       "%s: cannot open database: %s", path, d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
    } else if (!opt->read_only && sqlite3_db_readonly(d->db, "main") == 1) {
        c = mm_err_set(e, MM_EREADONLY, "%s: database is read-only (no write permission)", path);
    } else if ((c = pragma_int(d, "PRAGMA user_version", &v, e)) != MM_OK && opt->read_only &&
               (c == MM_EREADONLY || c == MM_EIO) && reopen_immutable(d, e) == MM_OK) {
        c = pragma_int(d, "PRAGMA user_version", &v, e);
    }
    /* Identity first, with reads only: a file that is not ours is never modified
     * (no WAL switch, no -wal/-shm/-lock files beside it). */
    if (c == MM_OK) c = check_identity(d, v, e);
    if (c == MM_OK) c = configure(d, opt, e);
    if (c == MM_OK && opt->read_only && v < JOBS_SCHEMA_VERSION)
        c = mm_err_set(e, MM_EVERSION, "%s: database is not initialised (schema %lld)", path, (long long)v);
    if (c == MM_OK && !opt->read_only) {
        char *lp = mm_asprintf("%s-lock", path);
        if (lp) d->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        free(lp);
        c = migrate(d, e);
    }
    if (c == MM_ECORRUPT && strstr(e ? e->msg : "", "file is not a database"))
        mm_err_set(e, MM_ECORRUPT, "%s: not an mmpipe database (not an SQLite file)", path);
    if (c != MM_OK) {
        jobs_close(d);
        return c;
    }
    *out = d;
    return MM_OK;
}

void jobs_close(jobs_db *d) {
    if (!d) return;
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(d->st[i]);
    sqlite3_close(d->db);
    if (d->lock_fd >= 0) close(d->lock_fd);
    free(d->path);
    free(d);
}

mm_code jobs_integrity_check(jobs_db *d, char **report, mm_err *e) {
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(d->db, "PRAGMA integrity_check", -1, &s, NULL);
    if (rc != SQLITE_OK) return jobs_sqlerr(d, rc, "integrity_check", e);
    rc = sqlite3_step(s);
    *report = mm_strdup(rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : "no answer");
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return jobs_sqlerr(d, rc, "integrity_check", e);
    return *report ? MM_OK : mm_err_set(e, MM_ENOMEM, "out of memory");
}
