/*
 * pipeline/kinds.c — the job kinds this build can run, and their handlers.
 *
 * A handler gets a claimed job (its content hash and every path with that
 * content) and returns the result text, or an error and whether retrying could
 * help.  `hash` is real work without a model: the SHA-256 of the file, checked
 * against the hash recorded at enqueue time.
 */
#include "cli.h"

#include <string.h>

static int run_hash(const job *j, kind_result *r, mm_err *e) {
    mm_err last;
    mm_err_set(&last, MM_ENOTFOUND, "job has no input path");
    int changed = 0;
    for (size_t i = 0; i < j->npaths; i++) {
        char hex[65];
        if (mm_sha256_file(j->paths[i], hex, NULL, &last) != MM_OK) continue;
        if (j->sha256[0] && strcmp(hex, j->sha256) != 0) {
            changed = 1;
            mm_err_set(&last, MM_ESTATE, "%s: content changed since it was queued", j->paths[i]);
            continue;
        }
        r->text = mm_strdup(hex);
        if (!r->text) return mm_err_set(e, MM_ENOMEM, "out of memory");
        return 0;
    }
    /* A missing or unreadable file, or changed content, will not get better by retrying. */
    r->retryable = !changed && last.code != MM_ENOTFOUND && last.code != MM_EPERM && last.code != MM_EINVAL;
    mm_err_set(e, last.code, "%s", last.msg);
    return -1;
}

static const kind_def kinds[] = {
    {"hash", "SHA-256 of each file (no model; for tests and demos)", run_hash},
    {"ingest", "chunk, embed and index a document (mmpipe ingest)", run_ingest},
};

const kind_def *kind_find(const char *name) {
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (name && !strcmp(kinds[i].name, name)) return &kinds[i];
    return NULL;
}

/* ingest jobs are claimed only by a process that has an embedding model (ingest_configure). */
const char *kind_list_csv(void) { return ingest_ready() ? ",hash,ingest," : ",hash,"; }
const char *kind_names(void) { return "hash, ingest"; }
