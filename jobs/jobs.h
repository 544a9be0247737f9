/*
 * jobs/jobs.h — the durable job queue and result store (one SQLite file).
 *
 * This is the only header of jobs/.  Callers (pipeline/) never see SQL: they
 * enqueue inputs, claim jobs under a lease, heartbeat, complete or fail them,
 * and read status, lists and results through callbacks.
 *
 * Life of a job
 *   queued --claim--> running --complete--> done
 *                        |  \--fail(retryable, attempts left)--> queued (not_before = now + backoff)
 *                        |  \--fail(no attempts left / permanent)--> failed   (dead letter, keeps last_error)
 *                        \--lease expired or owner dead--> queued (crashes+1), or failed at max_crashes
 *   queued|running --cancel--> cancelled;   failed|cancelled --retry--> queued;   any --force--> queued
 *
 * Invariants (kept by this library, checked by tests/):
 *   I1  A job is `done` iff it has exactly one row in results; both are written in one
 *       transaction, and leaving `done` deletes the result (trigger).
 *   I2  A running job has exactly one lease owner; only that owner can complete or fail it,
 *       so a worker whose lease expired cannot overwrite the work of the next owner.
 *   I3  The same kind + input content (SHA-256) + params + model identity is one job
 *       (idempotency key); every path with that content maps to it (inputs table).
 *   I4  Error attempts (`attempts`, max_attempts) and crashes (`crashes`, max_crashes) are
 *       counted apart: random SIGKILLs never dead-letter a healthy job.
 *
 * Durability: WAL journal; synchronous=FULL by default (a committed state change
 * survives power loss), NORMAL (survives a process crash or kill -9, the last
 * commits may roll back on power loss; never corruption).
 *
 * Mapping onto a server database (e.g. PostgreSQL), for a second backend:
 *   jobs_open          -> connection pool; schema migrations keyed by a version table.
 *   jobs_enqueue       -> one transaction of INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id.
 *   jobs_claim         -> UPDATE jobs SET state='running', lease_owner=$1, lease_until=now()+$2
 *                         WHERE id = (SELECT id FROM jobs WHERE state='queued' AND not_before<=now()
 *                         ORDER BY priority DESC, id FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING ...
 *   jobs_complete      -> one transaction: UPDATE ... WHERE id=$1 AND lease_owner=$2 (0 rows = lease lost),
 *                         INSERT INTO results, then the next claim as above.
 *   jobs_heartbeat     -> UPDATE jobs SET lease_until=now()+$2 WHERE lease_owner=$1 AND state='running'.
 *   jobs_reap          -> UPDATE ... WHERE state='running' AND lease_until<now() (any worker may run it).
 *   status/list/export -> plain SELECTs.  Owner liveness (same-host pid check) is backend-independent.
 * Times are integer milliseconds since the Unix epoch (UTC) throughout.
 */
#ifndef MM_JOBS_H
#define MM_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "mm_common.h"

#define JOBS_SCHEMA_VERSION 2

typedef struct jobs_db jobs_db;

typedef enum jobs_sync { JOBS_SYNC_FULL = 0, JOBS_SYNC_NORMAL, JOBS_SYNC_OFF } jobs_sync;

typedef enum job_state {
    JOB_QUEUED = 0, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED, JOB_NSTATES
} job_state;

const char *job_state_name(job_state s);
/* Returns the state for a name ("done"), or -1. */
int job_state_parse(const char *name);
/* 0 on success; -1 for an unknown name. */
int jobs_sync_parse(const char *name, jobs_sync *out);

typedef struct jobs_options {
    jobs_sync sync;       /* default JOBS_SYNC_FULL */
    int busy_timeout_ms;  /* default 30000 */
    int read_only;        /* open without creating or migrating (status, list, export) */
} jobs_options;

void jobs_options_default(jobs_options *o);

/* Opens (creating and migrating as needed) the database at path.  Refuses a
 * file that is not SQLite, an SQLite file of another application, or a schema
 * newer than JOBS_SCHEMA_VERSION (MM_EVERSION), with a message naming path. */
mm_code jobs_open(const char *path, const jobs_options *opt, jobs_db **out, mm_err *e);
void jobs_close(jobs_db *db);
/* "ok" or the first problem PRAGMA integrity_check reports (malloc'd in *report). */
mm_code jobs_integrity_check(jobs_db *db, char **report, mm_err *e);

/* ---- enqueue ---- */

typedef struct jobs_spec {       /* what the jobs of one enqueue call share */
    const char *kind;            /* "hash", "caption", ... */
    const char *params_json;     /* canonical JSON object text; NULL = "{}" */
    const char *model;           /* model identity ("" for kinds without a model) */
    int priority;                /* higher runs first */
    int max_attempts;            /* error attempts before failed (default 3) */
    int max_crashes;             /* expired leases before failed (default 10) */
    int force;                   /* re-run done/failed/cancelled jobs */
} jobs_spec;

void jobs_spec_default(jobs_spec *s, const char *kind);

typedef struct jobs_input {
    const char *path;            /* bytes as the OS gives them (any encoding) */
    const char *sha256;          /* 64 lowercase hex digits of the content; NULL if unreadable */
    uint64_t size;
    const char *error;           /* non-NULL: unreadable; becomes a failed job keyed by path */
    int clear_only;              /* not a job: path (a folder) is readable again, so forget
                                    the failure recorded for it by an earlier enqueue */
} jobs_input;

typedef struct jobs_enqueue_stats {
    int64_t added;          /* new jobs */
    int64_t existing;       /* inputs whose job already existed (any state) */
    int64_t requeued;       /* existing jobs sent back to queued by force */
    int64_t done_already;   /* of existing: done */
    int64_t failed_already; /* of existing: failed (stay failed without force) */
    int64_t unreadable;     /* inputs recorded as failed jobs keyed by path */
} jobs_enqueue_stats;

/* Enqueues n inputs in ONE transaction: all or nothing. */
mm_code jobs_enqueue(jobs_db *db, const jobs_spec *spec, const jobs_input *in, size_t n,
                     jobs_enqueue_stats *st, mm_err *e);

/* ---- workers ---- */

typedef struct jobs_lease {
    const char *owner;           /* unique per worker process (jobs_owner_make) */
    int64_t lease_ms;            /* default 30000 */
    int64_t backoff_base_ms;     /* retry n waits base * 2^n, +-25 % jitter (default 1000) */
    int64_t backoff_cap_ms;      /* default 600000 */
    const char *kinds;           /* ",hash,caption," : kinds this worker can run; NULL = any */
    const char *model;           /* model identity this worker has: it claims only jobs queued for it
                                    or for no model (""); NULL = any */
    const char *model2;          /* a second identity it has too (the embedding model), or NULL */
} jobs_lease;

typedef struct job {
    int64_t id;
    char kind[32];
    char sha256[65];
    char *params;                /* JSON text */
    char *model;
    char **paths;                /* every path with this content, oldest first */
    size_t npaths;
    int attempts, crashes, max_attempts;
    int64_t lease_until;
} job;

void job_free(job *j);

/* Builds an owner id "host:pid:starttime:random" for this process. */
void jobs_owner_make(char *buf, size_t n);
/* 1 if owner is a live process on this host, 0 if it is certainly dead, -1 unknown (other host). */
int jobs_owner_alive(const char *owner);

/* Claims the best runnable job.  *got = 0 when none can run now. */
mm_code jobs_claim(jobs_db *db, const jobs_lease *l, job *out, int *got, mm_err *e);
/* Writes the result and marks done in one transaction; if next != NULL also claims
 * the next job in that same transaction (one commit per job).  MM_ESTATE when the
 * lease was lost (the job was reaped or cancelled): nothing is written. */
mm_code jobs_complete(jobs_db *db, const jobs_lease *l, const job *j, const char *text,
                      const char *data_json, job *next, int *got_next, mm_err *e);
/* Records an error; retryable errors with attempts left go back to queued after a backoff. */
mm_code jobs_fail(jobs_db *db, const jobs_lease *l, const job *j, const char *error, int retryable,
                  job *next, int *got_next, mm_err *e);
/* Gives a claimed job back unrun (worker stopping): queued again, no attempt or crash used. */
mm_code jobs_release(jobs_db *db, const jobs_lease *l, const job *j, mm_err *e);
/* Extends the lease of every running job of l->owner; *renewed = jobs touched. */
mm_code jobs_heartbeat(jobs_db *db, const jobs_lease *l, int *renewed, mm_err *e);
/* Returns jobs whose lease expired, or whose owner is a dead process on this host,
 * to the queue (crashes+1) or to failed at max_crashes.  *reaped = jobs touched. */
mm_code jobs_reap(jobs_db *db, int *reaped, mm_err *e);
/* What is left for a worker of l->kinds: queued jobs runnable now, queued jobs waiting
 * for their backoff (earliest in *wait_ms), jobs running under other owners. */
typedef struct jobs_pending { int64_t runnable, waiting, running, wait_ms; } jobs_pending;
mm_code jobs_pending_get(jobs_db *db, const jobs_lease *l, jobs_pending *p, mm_err *e);

/* ---- administration ---- */

typedef struct jobs_info {
    int64_t id;
    const char *kind, *sha256, *model, *params, *last_error, *lease_owner;
    job_state state;
    int attempts, max_attempts, crashes, priority;
    int64_t created_at, updated_at, finished_at, not_before;
    const char *path; size_t path_len;   /* first path (may be non-UTF-8) */
    int64_t npaths;
} jobs_info;

typedef struct jobs_filter { int state; const char *kind; } jobs_filter; /* state -1 = any */

/* Calls fn for each matching job, by id; a non-zero return from fn stops. */
mm_code jobs_list(jobs_db *db, const jobs_filter *f, int (*fn)(void *, const jobs_info *),
                  void *ctx, mm_err *e);
mm_code jobs_get(jobs_db *db, int64_t id, int (*fn)(void *, const jobs_info *), void *ctx, mm_err *e);
/* MM_ENOTFOUND for an unknown id; MM_ESTATE when done/failed/cancelled already. */
mm_code jobs_cancel(jobs_db *db, int64_t id, mm_err *e);
/* failed or cancelled -> queued with fresh attempts; MM_ESTATE otherwise. */
mm_code jobs_retry(jobs_db *db, int64_t id, mm_err *e);
mm_code jobs_retry_failed(jobs_db *db, int64_t *n, mm_err *e);
/* Deletes every job in state (done, failed or cancelled) with its results and inputs. */
mm_code jobs_purge(jobs_db *db, job_state state, int64_t *n, mm_err *e);

typedef struct jobs_status_row {
    char kind[32];
    int64_t n[JOB_NSTATES];
    int64_t recent;        /* jobs finished (done or failed) in the last JOBS_RATE_WINDOW_S seconds */
    double per_hour;       /* their rate: recent / the time since the first of them started (0: none) */
    double eta_s;          /* (queued + running) / rate; -1 when unknown (no recent job), 0 when nothing is left */
} jobs_status_row;
#define JOBS_RATE_WINDOW_S 600
/* *rows is malloc'd (free it), one per kind, sorted by kind. */
mm_code jobs_status(jobs_db *db, jobs_status_row **rows, size_t *n, mm_err *e);

typedef struct jobs_result {
    int64_t job_id;
    const char *path; size_t path_len;
    const char *sha256, *kind, *model, *text, *data;
    int64_t finished_at;
} jobs_result;

/* One call per (path, done job) of kind (NULL = all kinds), by job id then path. */
mm_code jobs_results(jobs_db *db, const char *kind, int (*fn)(void *, const jobs_result *),
                     void *ctx, mm_err *e);

/* ---- retrieval store (retrieval.c): documents, chunks, vectors, FTS5 ----
 * Invariants:
 *   R1  A document row exists for (collection, path) only with ALL its chunks, each with its
 *       vector and FTS row: jobs_doc_put replaces a document (old chunks, vectors and FTS rows
 *       out, new ones in) in ONE transaction; no orphan chunk ever exists (ON DELETE CASCADE +
 *       the chunks_fts triggers).
 *   R2  Vectors are stored L2-normalised float32, so cosine similarity is a dot product.
 */
typedef struct jobs_chunk {
    const char *text;            /* UTF-8 */
    const char *heading;         /* "Title > Section", NULL when none */
    int page;                    /* PDF page (1-based); 0 = none */
    int64_t byte_start, byte_end;/* source span in the file; -1 = none (PDF) */
    int n_tokens;
    const float *vec;            /* dim floats, L2-normalised (R2) */
    int has_time;                /* 1: start_ms/end_ms hold a time span (a transcript's segments) */
    int64_t start_ms, end_ms;
} jobs_chunk;

typedef struct jobs_doc {
    const char *collection;
    const char *path;            /* raw bytes */
    const char *sha256;
    const char *media;           /* text, markdown, html, pdf, image, audio */
    const char *model;           /* embedding model identity */
    uint64_t size;
    int64_t mtime_ns;
    int64_t job_id;              /* 0 = none */
    int dim;
} jobs_doc;

/* *current = 1 when (collection, path) already holds content sha256 embedded with model. */
mm_code jobs_doc_current(jobs_db *db, const char *collection, const char *path, const char *sha256,
                         const char *model, int *current, mm_err *e);
/* *current = 1 when (collection, path) holds what job job_id stored (its chunks, or copies of them). */
mm_code jobs_doc_of_job(jobs_db *db, const char *collection, const char *path, int64_t job_id, int *current,
                        mm_err *e);
/* Replaces (collection, path) by d and its chunks in one transaction (R1). */
mm_code jobs_doc_put(jobs_db *db, const jobs_doc *d, const jobs_chunk *ch, size_t n, mm_err *e);
/* Removes (collection, path) and its chunks (a file that can no longer be ingested). */
mm_code jobs_doc_delete(jobs_db *db, const char *collection, const char *path, mm_err *e);

typedef struct jobs_sync_stats { int64_t renamed, copied, deleted; } jobs_sync_stats;
/* Brings a collection in line with a scan of roots (in: the scanned files) in ONE transaction,
 * before any job runs:
 *   - a document whose path is under a root but not among the scanned files is gone;
 *   - a scanned path without a document whose content equals a gone document's takes that
 *     document (rename: chunks and vectors kept, path updated);
 *   - else, when another document of the collection has that content, its chunks and vectors
 *     are copied (no model work);
 *   - the gone documents left are deleted with their chunks. */
mm_code jobs_docs_sync(jobs_db *db, const char *collection, char **roots, int nroots,
                       const jobs_input *in, size_t n, jobs_sync_stats *st, mm_err *e);

typedef struct jobs_hit {
    int64_t chunk_id;
    const char *path; size_t path_len;
    const char *text, *heading;
    int page;                    /* 0 = none */
    int64_t byte_start, byte_end;/* -1 = none */
    double score;                /* fused score, higher is better */
    int vec_rank, fts_rank;      /* 1-based ranks in each list; 0 = not in it */
    int has_time;                /* 1: start_ms/end_ms hold the chunk's time span (audio) */
    int64_t start_ms, end_ms;
} jobs_hit;

/* Hybrid search in a collection: cosine over the vectors of model (qvec: dim floats,
 * L2-normalised) and FTS5 BM25 over the words of query, fused by reciprocal rank fusion
 * (score = sum over the two lists of 1 / (60 + rank)); fn gets the best k, best first. */
mm_code jobs_search(jobs_db *db, const char *collection, const char *model, const float *qvec, int dim,
                    const char *query, int k, int (*fn)(void *, const jobs_hit *), void *ctx, mm_err *e);

#endif
