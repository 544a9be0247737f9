/*
 * pipeline/cli.h — private to pipeline/: the parsed command line, the commands,
 * and the pieces they share (scanning inputs, job kinds, the worker, progress,
 * exports).  pipeline/ is the only part of mmpipe that prints for the user or exits.
 *
 * Exit codes: 0 every job of the run done; 3 finished but some inputs failed;
 * 1 fatal (database unusable, missing input path, ...); 2 usage error.
 */
#ifndef MM_CLI_H
#define MM_CLI_H

#include <stdio.h>

#include "jobs.h"
#include "mm_common.h"

enum { EXIT_OK = 0, EXIT_FATAL = 1, EXIT_USAGE = 2, EXIT_SOME_FAILED = 3 };

/* Every option any command takes; each command says which it accepts. */
typedef struct cli {
    const char *cmd;              /* "worker", "jobs add", ... */
    const char *db;               /* --db (default ./mmpipe.db) */
    const char *config;           /* --config */
    jobs_options jopt;            /* --sync */
    double lease_s, heartbeat_s, backoff_s, backoff_cap_s;
    int max_attempts, max_crashes, priority;
    int workers;                  /* -j */
    int parallel;                 /* --parallel: model jobs decoded together (0: default) */
    int follow, force, quiet, json, failed, no_baseline;
    double throttle_ms;           /* --throttle-ms: per-job sleep, for tests */
    const char *state, *kind, *format, *out, *baseline;
    const char *model, *mmproj;   /* -m, --mmproj */
    int threads, n_predict;       /* -t, -n */
    int bench_jobs;               /* --jobs (bench queue) */
    int bench_items;              /* --items (bench caption|transcribe|ingest) */
    const char *case_path;        /* --case (eval) */
    int hidden;                   /* --hidden (eval) */
    const char *prompt;           /* -p */
    int chat, no_bos, no_special; /* generate / tokenize */
    float temp, top_p, min_p, repeat_penalty; /* sampling; < 0 = default */
    int top_k, temp_set, seed_set;
    long long seed;
    int bench_pp, bench_tg;       /* bench -m: --pp, --tg */
    int kv_f32;                   /* --kv-type f32 (default f16 for generate / bench) */
    int img_min_tokens, img_max_tokens; /* --image-min-tokens / --image-max-tokens (0: default) */
    const char *audio;            /* --audio FILE (bench decode; the last one given) */
    int sidecar, summarize, no_exif; /* caption --sidecar --no-exif, transcribe --summarize */
    const char *alpha, *out_dir;  /* caption --alpha white|drop, transcribe --out-dir */
    int summary_budget;           /* transcribe --summary-budget TOKENS (0: default) */
    const char *images[16];       /* --image FILE, repeatable (generate) */
    int n_images;
    const char *media[32];        /* every --image and --audio in command-line order (generate) */
    int media_audio[32];          /* 1: media[i] came from --audio */
    int n_media;
    const char *embed_model;      /* --embed-model (ingest, search) */
    const char *collection;       /* --collection (default "default") */
    int top_n;                    /* -k/--results (search, default 10) */
    char **args;                  /* positional arguments */
    int nargs;
} cli;

/* Parses argv (after the command words) into c, accepting only the long option
 * names listed in allowed ("db,json,..."), after defaults from mmpipe.json or
 * --config.  Returns 0, or EXIT_USAGE / EXIT_FATAL after printing why. */
int cli_parse(cli *c, const char *cmd, const char *allowed, int argc, char **argv);
void cli_free(cli *c);
/* Applies a JSON config document (mmpipe.json); 0 or EXIT_FATAL with a reason in err. */
int cli_config_apply(cli *c, const char *text, size_t n, char *err, size_t errn);
/* Prints "mmpipe: msg" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Opens c->db for writing (or reading); prints the error and returns NULL on failure. */
jobs_db *cli_open_db(const cli *c, int read_only);
void cli_lease(const cli *c, jobs_lease *l, const char *owner, const char *kinds);

/* ---- scanning inputs (scan.c) ---- */
typedef struct scan_list {
    jobs_input *v;
    size_t n, cap;
} scan_list;
/* Walks files and folders (recursively, sorted) and hashes every regular file.
 * A path given that does not exist is fatal (MM_ENOTFOUND); an unreadable file or
 * folder inside becomes an input with .error set.  skip_path is never listed. */
mm_code scan_paths(char **paths, int n, const char *skip_path, scan_list *out, mm_err *e);
void scan_free(scan_list *l);

/* Scans paths, enqueues one job of kind per file in one transaction and reports on
 * stderr; the scanned inputs go to *keep when non-NULL.  EXIT_OK, EXIT_SOME_FAILED
 * (unreadable or still-failed inputs) or EXIT_FATAL. */
int cli_enqueue(const cli *c, const char *kind, char **paths, int n, jobs_enqueue_stats *st,
                scan_list *keep);
/* Enqueues an already scanned list under sp (force, priority, attempts from c) and reports as
 * cli_enqueue does; label names the inputs in the report ("images").  Same return values. */
int cli_enqueue_list(const cli *c, jobs_spec *sp, const scan_list *in, const char *label, jobs_enqueue_stats *st);

/* ---- job kinds (kinds.c) ---- */
typedef struct kind_result {
    char *text;                   /* malloc'd result text */
    char *data;                   /* malloc'd JSON or NULL */
    int retryable;                /* on error */
} kind_result;
typedef int (*kind_fn)(const job *j, kind_result *r, mm_err *e);
typedef struct kind_def {
    const char *name;
    const char *help;
    kind_fn run;
} kind_def;
const kind_def *kind_find(const char *name);
/* ",hash,...," — every kind this build can run. */
const char *kind_list_csv(void);
const char *kind_names(void); /* "hash" for messages */

/* The model kinds (media_jobs.c; they take the model from model_cache.h). */
int kind_run_caption(const job *j, kind_result *r, mm_err *e);
int kind_run_transcribe(const job *j, kind_result *r, mm_err *e);
int kind_run_summarize(const job *j, kind_result *r, mm_err *e);
/* Greedy generation after one user turn in the model's chat format (media at their <__media__>
 * markers, n_ins inputs, may be 0) until an end-of-generation token or n_predict tokens; *out is
 * malloc'd raw text.  Thread-safe: any runner thread may call it. */
struct model_set;
struct mmp_input;
mm_code media_generate(const struct model_set *ms, const char *user, const struct mmp_input *ins, int n_ins,
                       int n_predict, char **out, size_t *out_len, mm_err *e);
#define MEDIA_CAPTION_PROMPT "Describe this image in one sentence."
#define MEDIA_CAPTION_N_PREDICT 64
#define MEDIA_TRANSCRIBE_PROMPT "Transcribe this audio exactly, word for word."
#define MEDIA_TRANSCRIBE_N_PREDICT 128
#define MEDIA_SUMMARY_PROMPT "Summarize this transcript in a few sentences."
#define MEDIA_SUMMARY_N_PREDICT 128
#define MEDIA_SUMMARY_CHUNK_TOKENS 2048
/* The params (canonical JSON object, part of the idempotency key; the caller deletes it) of the
 * caption / transcribe jobs c asks for (cmd_media.c): `mmpipe caption` / `transcribe` and the media
 * of `mmpipe ingest -m M --mmproj P` queue the same jobs for the same options. */
struct cJSON;
struct cJSON *media_caption_params(const cli *c);
struct cJSON *media_transcribe_params(const cli *c);
/* ---- ingest + search (ingest.c) ---- */
/* Makes this process able to run `ingest` jobs with c->embed_model (loaded on the first job).
 * 0, or EXIT_FATAL after printing why (model unreadable). */
int ingest_configure(const cli *c);
int ingest_ready(void);
/* The identity of the configured embedding model (NULL before ingest_configure), and the params
 * (canonical JSON, malloc'd) of a document's ingest job into collection: with the content, the
 * idempotency key `mmpipe ingest` and `mmpipe jobs add ingest` share. */
const char *ingest_identity(void);
char *ingest_params(const char *collection);
/* 1 for a file ingest parses as a document (text, Markdown, HTML, PDF, by its extension). */
int ingest_is_document(const char *path);
int run_ingest(const job *j, kind_result *r, mm_err *e);
/* Retrieval as `mmpipe search` does it: embeds query with the retrieval query prompt (model
 * c->embed_model, loaded and unloaded here), and calls fn for the c->top_n best chunks of
 * c->collection by fused vector + BM25 rank, best first (jobs_search).  EXIT_OK, or EXIT_FATAL
 * after printing why; a collection that does not exist is EXIT_OK without hits when missing_ok. */
int ingest_retrieve(const cli *c, const char *query, int missing_ok, int (*fn)(void *, const jobs_hit *), void *ud);

/* ---- worker (worker.c) ---- */
typedef struct worker_stats { int64_t done, failed, retried, lost, released; } worker_stats;
/* Runs jobs until none is left that this worker can run (or forever with --follow,
 * until SIGINT/SIGTERM).  Returns EXIT_OK, EXIT_SOME_FAILED or EXIT_FATAL. */
int worker_run(const cli *c, worker_stats *st);

/* ---- progress (progress.c) ---- */
typedef struct progress progress;
progress *progress_new(const char *what, int64_t total, int quiet);
void progress_add_total(progress *p, int64_t n);
void progress_step(progress *p, int ok);
void progress_end(progress *p);

/* ---- exports (export.c) ---- */
/* Writes one record per path of each done job of kind; returns records written or -1. */
mm_code export_results(jobs_db *db, const char *kind, const char *format, FILE *f, int64_t *n, mm_err *e);

/* ---- commands ---- */
int cmd_jobs(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_results(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_hash(int argc, char **argv);
int cmd_caption(int argc, char **argv);
int cmd_transcribe(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_ask(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_model_info(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int bench_model(const cli *c);
int bench_decode(const cli *c);
int bench_towers(const cli *c);
/* bench caption|transcribe|ingest (bench_jobs.c); kind is the job command. */
int bench_jobs(const cli *c, const char *kind);
/* rm -rf path (scratch folders of the benchmarks). */
int cli_rm_rf(const char *path);

#endif
