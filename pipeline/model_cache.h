/*
 * pipeline/model_cache.h — the model a worker process uses for its model jobs (caption,
 * transcribe, summarize): the text model + mmproj named by -m / --mmproj (or mmpipe.json),
 * loaded once on the first job that needs them and shared, read-only, by every runner
 * thread of the process until it exits.  Each job makes its own context (KV cache).
 *
 * The model identity ("text=<size>:<sha256 of the GGUF header>;mmproj=<...>", from
 * mm_model_identity: no hashing of gigabytes) goes into each job's idempotency key, so
 * another model file means other jobs; a worker refuses a job queued for another model.
 */
#ifndef MM_MODEL_CACHE_H
#define MM_MODEL_CACHE_H

#include "engine.h"

typedef struct model_set {
    mm_model *model;
    mm_tokenizer *tok;
    mm_mmproj *proj;      /* NULL when no --mmproj was given */
    const char *identity; /* as model_cache_identity gives it */
    int threads;          /* -t */
    int parallel;         /* --parallel: sequences decoded together (1: each job alone) */
} model_set;

/* Remembers the paths (copied) for this process; mmproj may be NULL.  Forgets a loaded set
 * whose paths differ. */
mm_code model_cache_config(const char *model, const char *mmproj, int threads, mm_err *e);
/* --parallel: how many jobs' sequences the process decodes together (default
 * MODEL_CACHE_PARALLEL; 1 turns batching off).  Also read by the worker for its thread count. */
#define MODEL_CACHE_PARALLEL 4
void model_cache_set_parallel(int n);
int model_cache_parallel(void);
/* 1 once model_cache_config named a model. */
int model_cache_configured(void);
/* The identity of the configured files (cheap: reads their headers), valid until the next
 * model_cache_config.  MM_EINVAL when none is configured; file errors name the file. */
mm_code model_cache_identity(const char **out, mm_err *e);
/* The loaded set (loading it on the first call; thread-safe).  The error of a failed load is
 * kept and returned again to later callers (the files do not get better by retrying). */
mm_code model_cache_get(const model_set **out, mm_err *e);
/* Unloads (end of the process, or tests). */
void model_cache_free(void);

#endif
