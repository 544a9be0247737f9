/*
 * jobs/jobs_int.h — private to jobs/: the connection handle and SQL helpers
 * shared by db.c, queue.c and admin.c.  Not part of the public API.
 */
#ifndef MM_JOBS_INT_H
#define MM_JOBS_INT_H

#include <sqlite3.h>
#include <stdio.h>

#include "jobs.h"

enum {
    ST_CLAIM, ST_CLAIM_PATHS, ST_DONE, ST_RESULT, ST_FAIL_REQUEUE, ST_FAIL_DEAD, ST_EVENT,
    ST_HEARTBEAT, ST_ENQ_INSERT, ST_ENQ_SELECT, ST_ENQ_FORCE, ST_ENQ_INPUT, ST_ENQ_BAD,
    ST_ENQ_DROP_BAD, ST_COUNT
};

struct jobs_db {
    sqlite3 *db;
    char *path;
    int busy_timeout_ms;
    int64_t busy_start_ns;       /* when the current busy wait began */
    uint64_t rng;                /* jitter */
    int lock_fd;                 /* "<db>-lock": writers queue on flock, -1 if unavailable */
    int locked;                  /* this connection holds the flock */
    sqlite3_stmt *st[ST_COUNT];  /* prepared lazily, finalised by jobs_close */
};

/* Sets e from the connection's last error, naming the database file and what was done. */
mm_code jobs_sqlerr(jobs_db *d, int rc, const char *what, mm_err *e);
/* Prepared statement number id with text sql (prepared once, reset before reuse). */
sqlite3_stmt *jobs_stmt(jobs_db *d, int id, const char *sql, mm_err *e);
mm_code jobs_exec(jobs_db *d, const char *sql, mm_err *e);
mm_code jobs_begin(jobs_db *d, mm_err *e);          /* BEGIN IMMEDIATE */
mm_code jobs_commit(jobs_db *d, mm_err *e);
void jobs_rollback(jobs_db *d);
/* Step a statement that returns no rows (SQLITE_DONE expected). */
mm_code jobs_step_done(jobs_db *d, sqlite3_stmt *s, const char *what, mm_err *e);
uint64_t jobs_rand(jobs_db *d);

extern const char *const jobs_migrations[];
extern const int jobs_n_migrations;

#endif
