/*
 * pipeline/kinds.c — the job kinds this build can run, and their handlers.
 *
 * A handler gets a claimed job (its content hash and every path with that
 * content) and returns the result text, or an error and whether retrying could
 * help.  `hash` is real work without a model: the SHA-256 of the file, checked
 * against the hash recorded at enqueue time.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "model_cache.h"

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
    {"caption", "a caption of an image (model + mmproj)", kind_run_caption},
    {"transcribe", "timed transcript of a recording (model + mmproj with audio)", kind_run_transcribe},
    {"summarize", "summary of a transcript (model)", kind_run_summarize},
    {"ingest", "chunk, embed and index a document (mmpipe ingest)", run_ingest},
};

/* Kinds that need the model of model_cache.h: a worker without -m does not claim them. */
static const char *const model_kinds[] = {"caption", "transcribe", "summarize"};

const kind_def *kind_find(const char *name) {
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (name && !strcmp(kinds[i].name, name)) return &kinds[i];
    return NULL;
}

static int needs_model(const char *name) {
    for (size_t i = 0; i < sizeof model_kinds / sizeof model_kinds[0]; i++)
        if (!strcmp(model_kinds[i], name)) return 1;
    return 0;
}

/* A kind this process can run now: the model kinds once a model is configured (model_cache),
 * `ingest` once an embedding model is (ingest_configure), the rest always. */
static int kind_available(const char *name) {
    if (!strcmp(name, "ingest")) return ingest_ready();
    return !needs_model(name) || model_cache_configured();
}

/* ",hash,caption,...,": the kinds of the table this process can run. */
const char *kind_list_csv(void) {
    static char buf[4][512];
    const int which = (model_cache_configured() ? 1 : 0) | (ingest_ready() ? 2 : 0);
    char *b = buf[which];
    if (!b[0]) {
        size_t n = 0;
        b[n++] = ',';
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (kind_available(kinds[i].name))
                n += (size_t)snprintf(b + n, sizeof buf[0] - n, "%s,", kinds[i].name);
    }
    return b;
}

const char *kind_names(void) {
    static char buf[512];
    if (!buf[0])
        for (size_t i = 0, n = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "", kinds[i].name);
    return buf;
}
