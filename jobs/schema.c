/*
 * jobs/schema.c — the database schema as a list of migrations.
 *
 * jobs_migrations[i] takes a database from PRAGMA user_version i to i+1; the
 * latest version is JOBS_SCHEMA_VERSION.  Never edit a migration that has
 * shipped: append a new one.  The retrieval tables (collections, documents,
 * chunks, vectors, FTS5) are here from version 1 so the schema is designed once.
 */
#include "jobs_int.h"

const char *const jobs_migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE jobs("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  key TEXT NOT NULL UNIQUE,"             /* idempotency key: sha256(kind, content, params, model) */
    "  sha256 TEXT NOT NULL DEFAULT '',"      /* content hash; '' for an unreadable input */
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  params TEXT NOT NULL DEFAULT '{}',"    /* JSON */
    "  model TEXT NOT NULL DEFAULT '',"       /* model identity: file size + metadata hash */
    "  priority INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL DEFAULT 'queued'"
    "    CHECK(state IN ('queued','running','done','failed','cancelled')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"  /* error attempts used */
    "  max_attempts INTEGER NOT NULL DEFAULT 3,"
    "  crashes INTEGER NOT NULL DEFAULT 0,"   /* leases that expired under a dead worker */
    "  max_crashes INTEGER NOT NULL DEFAULT 10,"
    "  not_before INTEGER NOT NULL DEFAULT 0,"/* backoff: not claimable before (ms) */
    "  lease_owner TEXT,"
    "  lease_until INTEGER,"
    "  claims INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  started_at INTEGER,"
    "  finished_at INTEGER,"
    "  last_error TEXT,"
    "  CHECK((state = 'running') = (lease_owner IS NOT NULL))"
    ");"
    "CREATE INDEX jobs_ready ON jobs(priority DESC, id) WHERE state = 'queued';"
    "CREATE INDEX jobs_leases ON jobs(lease_until) WHERE state = 'running';"
    /* Every path that has a job; one job per (path, kind, params+model). */
    "CREATE TABLE inputs("
    "  path BLOB NOT NULL,"                   /* raw bytes: paths need not be UTF-8 */
    "  kind TEXT NOT NULL,"
    "  spec TEXT NOT NULL,"                   /* sha256(params, model) */
    "  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  added_at INTEGER NOT NULL,"
    "  PRIMARY KEY(path, kind, spec)"
    ") WITHOUT ROWID;"
    "CREATE INDEX inputs_job ON inputs(job_id);"
    "CREATE TABLE results("
    "  job_id INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,"
    "  text TEXT NOT NULL,"
    "  data TEXT,"                            /* JSON: segments, timings, ... */
    "  finished_at INTEGER NOT NULL"
    ");"
    /* I1: a result exists only for a done job; leaving done removes it. */
    "CREATE TRIGGER results_need_done BEFORE INSERT ON results"
    "  WHEN (SELECT state FROM jobs WHERE id = NEW.job_id) IS NOT 'done'"
    "  BEGIN SELECT RAISE(ABORT, 'result for a job that is not done'); END;"
    "CREATE TRIGGER jobs_leave_done AFTER UPDATE OF state ON jobs"
    "  WHEN OLD.state = 'done' AND NEW.state != 'done'"
    "  BEGIN DELETE FROM results WHERE job_id = OLD.id; END;"
    /* History: failures, crashes, retries, cancellations, notes. */
    "CREATE TABLE job_events("
    "  id INTEGER PRIMARY KEY,"
    "  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  at INTEGER NOT NULL,"
    "  event TEXT NOT NULL,"
    "  message TEXT"
    ");"
    "CREATE INDEX job_events_job ON job_events(job_id);"
    /* Retrieval (issue 6): collections of documents, chunks with spans, vectors, FTS5. */
    "CREATE TABLE collections("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  embed_model TEXT,"
    "  dim INTEGER,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE documents("
    "  id INTEGER PRIMARY KEY,"
    "  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,"
    "  path BLOB NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  mtime_ns INTEGER NOT NULL,"
    "  media TEXT NOT NULL,"                  /* text, markdown, html, pdf, image, audio */
    "  job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,"
    "  ingested_at INTEGER NOT NULL,"
    "  UNIQUE(collection_id, path)"
    ");"
    "CREATE TABLE chunks("
    "  id INTEGER PRIMARY KEY,"
    "  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  text TEXT NOT NULL,"
    "  heading TEXT,"
    "  page INTEGER,"                         /* PDF page (1-based) */
    "  start_ms INTEGER, end_ms INTEGER,"     /* audio span */
    "  byte_start INTEGER, byte_end INTEGER," /* source span in the decoded text */
    "  n_tokens INTEGER,"
    "  UNIQUE(document_id, seq)"
    ");"
    "CREATE TABLE vectors("
    "  chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,"
    "  model TEXT NOT NULL,"
    "  dim INTEGER NOT NULL,"
    "  vec BLOB NOT NULL CHECK(length(vec) = 4 * dim)" /* float32, little-endian */
    ");"
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, heading, content='chunks', content_rowid='id');"
    "CREATE TRIGGER chunks_fts_ins AFTER INSERT ON chunks BEGIN"
    "  INSERT INTO chunks_fts(rowid, text, heading) VALUES (NEW.id, NEW.text, NEW.heading); END;"
    "CREATE TRIGGER chunks_fts_del AFTER DELETE ON chunks BEGIN"
    "  INSERT INTO chunks_fts(chunks_fts, rowid, text, heading) VALUES ('delete', OLD.id, OLD.text, OLD.heading); END;"
    "CREATE TRIGGER chunks_fts_upd AFTER UPDATE ON chunks BEGIN"
    "  INSERT INTO chunks_fts(chunks_fts, rowid, text, heading) VALUES ('delete', OLD.id, OLD.text, OLD.heading);"
    "  INSERT INTO chunks_fts(rowid, text, heading) VALUES (NEW.id, NEW.text, NEW.heading); END;",
    /* 1 -> 2: renames and copies find a document by content; an unchanged re-run finds the
     * vector model of a document without reading its chunks. */
    "CREATE INDEX documents_sha ON documents(collection_id, sha256);"
    "ALTER TABLE documents ADD COLUMN embed_model TEXT;",
};

const int jobs_n_migrations = (int)(sizeof jobs_migrations / sizeof jobs_migrations[0]);
