/*
 * pipeline/ingest.c — `mmpipe ingest` (the nightly document ingestion), the `ingest` job
 * kind, and `mmpipe search` (hybrid retrieval).
 *
 * ingest DIR...: scan and hash; bring the collection in line with the scan (renames keep
 * their chunks, copies copy them, deleted files lose theirs: jobs_docs_sync); queue one
 * `ingest` job per document keyed by content + params (collection, chunking) + embedding
 * model identity; run the workers until drained.  A job parses the document (decoders/),
 * chunks it along its structure under a token budget with overlap, embeds every chunk
 * with the retrieval document prompt, and replaces the document's chunks in one
 * transaction (jobs_doc_put).
 *
 * Images and recordings (with -m/--mmproj; skipped without): the caption / transcribe jobs
 * `mmpipe caption` / `transcribe` would queue (same params, same generation-model identity, so
 * the work is shared) run first under the generation model; then one `ingest` job per
 * captioned / transcribed content carries the text in its params (a caption: one chunk; a
 * transcript: its timed segments, chunks with start/end in ms), and runs with the documents'
 * jobs.  Media are in the sync with the scan either way (renames, copies, deletions), and one
 * whose caption / transcript cannot be made loses the chunks of an older content.
 *
 * search QUERY: embeds the query with the retrieval query prompt, and fuses cosine
 * similarity over the stored vectors with FTS5 BM25 by reciprocal rank fusion (k = 60)
 * (ingest_retrieve, which `mmpipe ask` uses too).
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decoders.h"
#include "engine.h"
#include "model_cache.h"

/* Prompts of EmbeddingGemma (research/gemma4-spec.md §6, config_sentence_transformers.json). */
#define QUERY_PROMPT "task: search result | query: "
#define DOC_PROMPT_FMT "title: %s | text: %s" /* title or "none" */

/* Chunking parameters; recorded in each job's params so changing them re-ingests. */
enum { CHUNK_TOKENS = 256, CHUNK_OVERLAP = 32 };

/* ---- the embedding model of this process (loaded on the first job that needs it) ---- */
static struct {
    pthread_mutex_t mu;
    const char *path, *db;
    char identity[96];
    int threads, configured;
    int parallel;                /* --parallel: chunks embedded together in one pass */
    mm_model *m;
    mm_tokenizer *tok;
    int64_t embedded;            /* chunks embedded by this process */
    mm_ctx *spare[8];            /* contexts of finished jobs, for the next ones (opening one costs) */
    int n_spare;
} E = {PTHREAD_MUTEX_INITIALIZER, 0, 0, {0}, 0, 0, 1, 0, 0, 0, {0}, 0};

/* A context left by an earlier job, or NULL (embed_texts makes one). */
static mm_ctx *ctx_take(void) {
    pthread_mutex_lock(&E.mu);
    mm_ctx *c = E.n_spare ? E.spare[--E.n_spare] : NULL;
    pthread_mutex_unlock(&E.mu);
    return c;
}

static void ctx_give(mm_ctx *c) {
    if (!c) return;
    pthread_mutex_lock(&E.mu);
    if (E.n_spare < (int)(sizeof E.spare / sizeof E.spare[0])) E.spare[E.n_spare++] = c, c = NULL;
    pthread_mutex_unlock(&E.mu);
    mm_ctx_close(c);
}

/* Frees the embedding model of this process and its spare contexts. */
static void embedder_unload(void) {
    pthread_mutex_lock(&E.mu);
    while (E.n_spare) mm_ctx_close(E.spare[--E.n_spare]);
    mm_tokenizer_close(E.tok);
    mm_model_close(E.m);
    E.tok = NULL;
    E.m = NULL;
    pthread_mutex_unlock(&E.mu);
}

static mm_code model_identity(const char *path, char out[96], mm_err *e) {
    mm_gguf *g;
    mm_code c = mm_gguf_open(path, &g, e);
    if (c) return c;
    mm_str a = {0};
    mm_err ignore;
    char arch[64] = "?";
    if (mm_gguf_get_str(g, "general.architecture", &a, &ignore) == MM_OK)
        snprintf(arch, sizeof arch, "%.*s", (int)a.n, a.p);
    if (strcmp(arch, "gemma-embedding")) {
        c = mm_err_set(e, MM_EUNSUPPORTED, "%s: architecture '%s' is not an embedding model "
                       "(--embed-model wants a gemma-embedding GGUF)", path, arch);
    } else {
        mm_model_identity(g, out);
    }
    mm_gguf_close(g);
    return c;
}

int ingest_configure(const cli *c) {
    mm_err e;
    if (model_identity(c->embed_model, E.identity, &e) != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    E.path = c->embed_model;
    E.db = c->db;
    E.threads = c->threads > 0 ? c->threads : 1;
    E.parallel = c->parallel > 0 ? c->parallel : 4;
    E.configured = 1;
    return 0;
}

int ingest_ready(void) { return E.configured; }

static mm_code model_load(mm_err *e) {
    mm_code c = MM_OK;
    pthread_mutex_lock(&E.mu);
    if (!E.m) {
        if ((c = mm_model_open(E.path, &E.m, e)) == MM_OK &&
            (c = mm_tokenizer_open(mm_model_gguf(E.m), &E.tok, e)) != MM_OK) {
            mm_model_close(E.m);
            E.m = NULL;
        }
    }
    pthread_mutex_unlock(&E.mu);
    return c;
}

static void l2_normalise(float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.f;
    for (int i = 0; i < n; i++) v[i] *= inv;
}

static int count_tokens(const char *s, size_t n) {
    int32_t *ids = NULL;
    size_t k = 0;
    mm_err e;
    if (mm_tokenize(E.tok, s, n, 0, 0, &ids, &k, &e) != MM_OK) return (int)(n / 4 + 1);
    free(ids);
    return (int)k;
}

/* Embeds texts[0..n) (special-token text in them is NOT parsed) into out (n rows of dim floats,
 * normalised), --parallel of them in one pass over the weights (mm_embed_batch: each vector the
 * bits it gets alone).  *ctx is made on first use: --parallel sequences of n_ctx cells. */
static mm_code embed_texts(mm_ctx **ctx, int n_ctx, char *const *texts, size_t n, float *out, int dim,
                           size_t *failed_at, mm_err *e) {
    const int P = E.parallel > 0 ? E.parallel : 1;
    mm_code c = MM_OK;
    if (!*ctx) {
        mm_ctx_params cp = {n_ctx, n_ctx * P, P, E.threads, 0};
        if ((c = mm_ctx_open(E.m, &cp, ctx, e))) return c;
    }
    int32_t *ids[64] = {0};
    int nt[64];
    for (size_t i0 = 0; i0 < n && !c; i0 += (size_t)P) {
        const int k = n - i0 < (size_t)P ? (int)(n - i0) : P;
        for (int q = 0; q < k && !c; q++) {
            size_t m = 0;
            *failed_at = i0 + (size_t)q;
            c = mm_tokenize(E.tok, texts[i0 + q], strlen(texts[i0 + q]), 1, 0, &ids[q], &m, e);
            nt[q] = (int)m > n_ctx ? n_ctx : (int)m; /* the budget keeps chunks well under n_ctx */
        }
        if (!c) {
            *failed_at = i0;
            c = mm_embed_batch(*ctx, (const int32_t *const *)ids, nt, k, out + i0 * (size_t)dim, e);
        }
        for (int q = 0; q < k; q++) {
            free(ids[q]);
            ids[q] = NULL;
        }
    }
    for (size_t i = 0; !c && i < n; i++) l2_normalise(out + i * (size_t)dim, dim);
    return c;
}

/* ---- chunking ---- */

typedef struct sbuf { char *p; size_t n, cap; } sbuf;

static int sb_add(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

typedef struct chunk { char *text, *heading; int page, tokens; int64_t start, end; } chunk;

typedef struct chunker {
    int budget, overlap;
    char *heads[6];
    sbuf cur;
    int tokens, fresh, page;     /* fresh: cur holds text beyond the overlap carried over */
    int64_t start, end, last_start;
    chunk *v;
    size_t n, cap;
    int oom;
} chunker;

static char *heading_path(const chunker *k) {
    sbuf b = {0};
    for (int i = 0; i < 6; i++)
        if (k->heads[i]) {
            if (b.n) sb_add(&b, " > ", 3);
            sb_add(&b, k->heads[i], strlen(k->heads[i]));
        }
    return b.p;
}

/* Emits the current chunk; with keep_overlap the last words (<= overlap tokens) start the next. */
static void flush(chunker *k, int keep_overlap) {
    if (k->fresh && k->cur.n) {
        if (k->n == k->cap) {
            size_t cap = k->cap ? k->cap * 2 : 16;
            chunk *nv = realloc(k->v, cap * sizeof *nv);
            if (!nv) { k->oom = 1; return; }
            k->v = nv;
            k->cap = cap;
        }
        chunk *c = &k->v[k->n++];
        c->text = mm_strdup(k->cur.p);
        c->heading = heading_path(k);
        c->page = k->page;
        c->tokens = k->tokens;
        c->start = k->start;
        c->end = k->end;
        if (!c->text) k->oom = 1;
    }
    size_t tail = k->cur.n;
    int tt = 0;
    if (keep_overlap && k->fresh && k->overlap > 0) {
        /* walk back word by word while the tail stays within the overlap budget */
        size_t i = k->cur.n;
        while (i > 0) {
            size_t j = i;
            while (j > 0 && (k->cur.p[j - 1] == ' ' || k->cur.p[j - 1] == '\n')) j--;
            while (j > 0 && k->cur.p[j - 1] != ' ' && k->cur.p[j - 1] != '\n') j--;
            int t = count_tokens(k->cur.p + j, i - j);
            if (tt + t > k->overlap) break;
            tt += t;
            tail = j;
            i = j;
        }
        while (tail < k->cur.n && (k->cur.p[tail] == ' ' || k->cur.p[tail] == '\n')) tail++;
    }
    if (k->cur.p) {
        memmove(k->cur.p, k->cur.p + tail, k->cur.n - tail);
        k->cur.n -= tail;
        k->cur.p[k->cur.n] = 0;
    }
    k->tokens = k->cur.n ? tt : 0;
    k->fresh = 0;
    k->start = k->cur.n ? k->last_start : -1;
}

static void add_piece(chunker *k, const char *s, size_t n, int tokens, int64_t start, int64_t end, const char *sep) {
    if (k->fresh && k->tokens + tokens > k->budget) flush(k, 1);
    if (k->cur.n) sb_add(&k->cur, sep, strlen(sep));
    if (sb_add(&k->cur, s, n)) k->oom = 1;
    if (k->start < 0 || (start >= 0 && start < k->start)) k->start = start;
    if (end > k->end || k->end < 0) k->end = end;
    k->last_start = start;
    k->tokens += tokens;
    k->fresh = 1;
}

/* The start of the UTF-8 character holding byte at (never before from). */
static size_t utf8_start(const char *s, size_t from, size_t at) {
    while (at > from && ((unsigned char)s[at] & 0xC0) == 0x80) at--;
    return at;
}

/* One block of text: whole when it fits the budget, else cut at word boundaries into pieces
 * of at most budget - overlap tokens (so a piece plus the overlap carried before it fits).
 * A "word" longer than that (text without spaces: CJK, base64, ...) is cut at the longest
 * prefix within the limit, on a UTF-8 character boundary. */
static void add_unit(chunker *k, const char *s, size_t n, int64_t start, int64_t end, const char *sep) {
    int t = count_tokens(s, n);
    if (t <= k->budget) {
        add_piece(k, s, n, t, start, end, sep);
        return;
    }
    int lim = k->budget - k->overlap > 8 ? k->budget - k->overlap : k->budget;
    size_t i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\n')) i++;
        if (i >= n) break;
        size_t from = i;
        int acc = 0;
        while (i < n) {
            size_t j = i;
            while (j < n && (s[j] == ' ' || s[j] == '\n')) j++;
            while (j < n && s[j] != ' ' && s[j] != '\n') j++;
            int wt = count_tokens(s + i, j - i);
            if (acc && acc + wt > lim) break;
            if (!acc && wt > lim) { /* one word alone is too long: binary search its cut */
                size_t lo = 1, hi = j - from;
                while (lo < hi) {
                    size_t mid = (lo + hi + 1) / 2;
                    size_t m = utf8_start(s, from + 1, from + mid) - from;
                    if (count_tokens(s + from, m) <= lim) lo = mid;
                    else hi = mid - 1;
                }
                size_t cut = utf8_start(s, from + 1, from + lo);
                if (cut < n && ((unsigned char)s[cut] & 0xC0) != 0x80 && cut > from + lo) cut = from + lo;
                acc = count_tokens(s + from, cut - from);
                i = cut;
                break;
            }
            acc += wt;
            i = j;
        }
        add_piece(k, s + from, i - from, acc, start, end, " ");
    }
}

static void chunk_doc(chunker *k, const mm_doc *d) {
    k->start = k->end = -1;
    for (size_t i = 0; i < d->n_blocks && !k->oom; i++) {
        const mm_doc_block *b = &d->blocks[i];
        int64_t s = d->format == MM_DOC_PDF ? -1 : (int64_t)b->offset;
        int64_t e = d->format == MM_DOC_PDF ? -1 : (int64_t)(b->offset + b->length);
        if (b->page > 0 && b->page != k->page) { /* chunks never span pages: page is exact */
            flush(k, 0);
            k->cur.n = 0;
            k->page = b->page;
        }
        if (b->type == MM_BLOCK_PAGE_BREAK) continue;
        if (b->type == MM_BLOCK_HEADING) { /* a section starts: new chunk, no overlap across it */
            flush(k, 0);
            k->cur.n = 0;
            k->tokens = 0;
            k->start = k->end = -1;
            int lv = b->level >= 1 && b->level <= 6 ? b->level : 1;
            for (int j = lv - 1; j < 6; j++) {
                free(k->heads[j]);
                k->heads[j] = NULL;
            }
            k->heads[lv - 1] = mm_strdup(b->text);
            continue;
        }
        if (!b->text_len) continue;
        if (!k->cur.n) k->start = k->end = -1;
        add_unit(k, b->text, b->text_len, s, e, b->type == MM_BLOCK_LIST_ITEM || b->type == MM_BLOCK_TABLE_ROW ? "\n" : "\n\n");
    }
    flush(k, 0);
}

static void chunker_free(chunker *k) {
    for (int i = 0; i < 6; i++) free(k->heads[i]);
    for (size_t i = 0; i < k->n; i++) {
        free(k->v[i].text);
        free(k->v[i].heading);
    }
    free(k->v);
    free(k->cur.p);
}

/* ---- the `ingest` job ---- */

static const char *media_of(mm_doc_format f) { return mm_doc_format_name(f); }

/* The chunks of a media file's text, from the job's params (no file is parsed):
 *   {"source": "caption", "text": T}        one chunk, the caption;
 *   {"source": "transcript", "segments": [{"start", "end", "text"}...]}
 *       the segments in order, grouped under the token budget (no overlap: a chunk is whole
 *       segments, a segment over the budget is cut at words), each chunk spanning from its first
 *       segment's start to its last one's end (milliseconds). */
static mm_code chunk_media(chunker *k, const cJSON *pj, const char *source, int *timed, mm_err *e) {
    *timed = 0;
    if (!strcmp(source, "caption")) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(pj, "text");
        if (!cJSON_IsString(t)) return mm_err_set(e, MM_EINVAL, "caption ingest job without its text");
        size_t n = strlen(t->valuestring);
        if (!n) return MM_OK; /* the model said nothing: a document without chunks */
        if (!(k->v = calloc(1, sizeof *k->v)) || !(k->v[0].text = mm_strdup(t->valuestring))) {
            k->oom = 1;
            return MM_OK;
        }
        k->n = k->cap = 1;
        k->v[0].tokens = count_tokens(t->valuestring, n);
        k->v[0].start = k->v[0].end = -1;
        return MM_OK;
    }
    if (strcmp(source, "transcript")) return mm_err_set(e, MM_EINVAL, "ingest job of unknown source '%s'", source);
    const cJSON *segs = cJSON_GetObjectItemCaseSensitive(pj, "segments"), *sg;
    if (!cJSON_IsArray(segs)) return mm_err_set(e, MM_EINVAL, "transcript ingest job without its segments");
    *timed = 1;
    k->start = k->end = -1;
    k->overlap = 0; /* chunks of whole segments: their spans do not overlap */
    cJSON_ArrayForEach(sg, segs) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(sg, "text");
        if (!cJSON_IsString(t) || !*t->valuestring) continue; /* nothing said in it */
        double a = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(sg, "start"));
        double z = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(sg, "end"));
        if (!(a >= 0)) a = 0;
        if (!(z >= a)) z = a;
        if (!k->cur.n) k->start = k->end = -1;
        add_unit(k, t->valuestring, strlen(t->valuestring), llround(a * 1000), llround(z * 1000), "\n");
        if (k->oom) break;
    }
    flush(k, 0);
    return MM_OK;
}

int run_ingest(const job *j, kind_result *r, mm_err *e) {
    r->retryable = 0;
    if (!E.configured)
        return mm_err_set(e, MM_ESTATE, "ingest jobs need an embedding model (mmpipe ingest --embed-model E.gguf)");
    if (strcmp(j->model, E.identity))
        return mm_err_set(e, MM_ESTATE, "queued for embedding model %s, this process has %s (%s)",
                          j->model, E.identity, E.path);
    char collection[256] = "default";
    cJSON *pj = cJSON_Parse(j->params);
    cJSON *cn = pj ? cJSON_GetObjectItemCaseSensitive(pj, "collection") : NULL;
    if (cJSON_IsString(cn)) snprintf(collection, sizeof collection, "%s", cn->valuestring);
    /* a media file's text (caption / transcript) is in the params; a document is parsed */
    const cJSON *src = pj ? cJSON_GetObjectItemCaseSensitive(pj, "source") : NULL;
    const char *source = cJSON_IsString(src) ? src->valuestring : NULL;

    jobs_options o;
    jobs_options_default(&o);
    jobs_db *db;
    if (jobs_open(E.db, &o, &db, e) != MM_OK) {
        cJSON_Delete(pj);
        r->retryable = 1;
        return -1;
    }
    /* Which paths still hold this content, and which of them are not ingested yet. */
    const char **need = calloc(j->npaths + 1, sizeof *need);
    size_t nneed = 0, nok = 0;
    mm_err last;
    mm_err_set(&last, MM_ENOTFOUND, "job has no input path");
    int rc = -1, timed = 0;
    mm_doc *doc = NULL;
    chunker k = {CHUNK_TOKENS, CHUNK_OVERLAP, {0}, {0}, 0, 0, 0, -1, -1, -1, NULL, 0, 0, 0};
    float *vecs = NULL;
    jobs_chunk *jc = NULL;
    mm_ctx *ctx = ctx_take(); /* NULL: embed_texts makes one */
    if (!need) {
        mm_err_set(e, MM_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < j->npaths; i++) {
        char hex[65];
        if (mm_sha256_file(j->paths[i], hex, NULL, &last) != MM_OK) continue;
        if (strcmp(hex, j->sha256)) {
            mm_err_set(&last, MM_ESTATE, "%s: content changed since it was queued", j->paths[i]);
            continue;
        }
        int cur = 0;
        /* A media document is current when this job stored it (its text came from this job's
         * params: another caption of the same content is another job); a document when it holds
         * this content embedded with this model. */
        mm_code cc = source ? jobs_doc_of_job(db, collection, j->paths[i], j->id, &cur, e)
                            : jobs_doc_current(db, collection, j->paths[i], j->sha256, E.identity, &cur, e);
        if (cc != MM_OK) {
            r->retryable = 1;
            goto out;
        }
        nok++;
        if (!cur) need[nneed++] = j->paths[i];
    }
    if (!nok) {
        mm_err_set(e, last.code, "%s", last.msg);
        goto out;
    }
    if (!nneed) { /* resumed after a crash between the document commit and the job's */
        r->text = mm_strdup("already ingested");
        rc = r->text ? 0 : -1;
        goto out;
    }
    if (!source && mm_doc_load(need[0], NULL, &doc, e) != MM_OK) {
        r->retryable = e->code == MM_EIO || e->code == MM_ENOMEM;
        /* A file that cannot be read any more must not keep its old content searchable. */
        if (!r->retryable)
            for (size_t i = 0; i < nneed; i++) jobs_doc_delete(db, collection, need[i], &last);
        goto out;
    }
    if (model_load(e) != MM_OK) {
        r->retryable = 0;
        goto out;
    }
    if (!source) {
        chunk_doc(&k, doc);
    } else if (chunk_media(&k, pj, source, &timed, e) != MM_OK) {
        mm_err_prefix(e, "%s", need[0]);
        goto out;
    }
    const char *media = !source ? media_of(doc->format) : !strcmp(source, "caption") ? "image" : "audio";
    int dim = mm_model_embd_dim(E.m);
    if (k.oom || !(vecs = malloc((k.n + 1) * (size_t)dim * sizeof *vecs)) || !(jc = calloc(k.n + 1, sizeof *jc))) {
        mm_err_set(e, MM_ENOMEM, "%s: out of memory", need[0]);
        r->retryable = 1;
        goto out;
    }
    const char *title = doc && doc->title && *doc->title ? doc->title : "none";
    int n_ctx = CHUNK_TOKENS * 2 + 64;
    int64_t total_tokens = 0;
    char **prompts = calloc(k.n + 1, sizeof *prompts);
    mm_code pc = prompts ? MM_OK : mm_err_set(e, MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < k.n && !pc; i++)
        if (!(prompts[i] = mm_asprintf(DOC_PROMPT_FMT, title, k.v[i].text))) pc = mm_err_set(e, MM_ENOMEM, "out of memory");
    size_t bad = 0;
    if (!pc) pc = embed_texts(&ctx, n_ctx, prompts, k.n, vecs, dim, &bad, e);
    for (size_t i = 0; prompts && i < k.n; i++) free(prompts[i]);
    free(prompts);
    if (pc) {
        mm_err_prefix(e, "%s: chunk %zu", need[0], bad);
        goto out;
    }
    for (size_t i = 0; i < k.n; i++) {
        jc[i] = (jobs_chunk){k.v[i].text, k.v[i].heading, k.v[i].page, timed ? -1 : k.v[i].start,
                             timed ? -1 : k.v[i].end, k.v[i].tokens, vecs + i * (size_t)dim,
                             timed, timed ? k.v[i].start : 0, timed ? k.v[i].end : 0};
        total_tokens += k.v[i].tokens;
    }
    pthread_mutex_lock(&E.mu);
    E.embedded += (int64_t)k.n;
    pthread_mutex_unlock(&E.mu);
    for (size_t i = 0; i < nneed; i++) {
        struct stat st;
        jobs_doc d = {collection, need[i], j->sha256, media, E.identity, 0, 0, j->id, dim};
        if (stat(need[i], &st) == 0) {
            d.size = (uint64_t)st.st_size;
            d.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        }
        if (jobs_doc_put(db, &d, jc, k.n, e) != MM_OK) {
            r->retryable = 1;
            goto out;
        }
    }
    r->text = mm_asprintf("%zu chunks", k.n);
    r->data = mm_asprintf("{\"chunks\": %zu, \"tokens\": %lld, \"pages\": %d, \"format\": \"%s\"}", k.n,
                          (long long)total_tokens, doc ? doc->n_pages : 0, media);
    if (r->text) rc = 0;
    else mm_err_set(e, MM_ENOMEM, "out of memory");
out:
    ctx_give(ctx);
    free(jc);
    free(vecs);
    chunker_free(&k);
    mm_doc_free(doc);
    free(need);
    jobs_close(db);
    cJSON_Delete(pj);
    return rc;
}

/* ---- mmpipe ingest ---- */

static const char *const ingest_help =
    "usage: mmpipe ingest DIR|FILE... --embed-model E.gguf [--collection NAME] [-m MODEL.gguf --mmproj MMPROJ.gguf]\n"
    "                     [-j N] [-t N] [--force] [--json] [--quiet]\n"
    "The nightly run: scans and hashes the documents (text, Markdown, HTML, PDF), ingests only\n"
    "what changed, and runs the jobs until none is left.  Each document is chunked along its\n"
    "headings, paragraphs and pages (256 tokens of the embedding model, 32 of overlap), and each\n"
    "chunk is embedded (\"title: ... | text: ...\") and indexed for full-text search.  Renamed\n"
    "files keep their chunks, deleted files lose them, changed files are replaced in one\n"
    "transaction.  With -m/--mmproj, images are captioned and recordings transcribed (the jobs\n"
    "'mmpipe caption' / 'mmpipe transcribe' queue, shared with them) and those texts become chunks:\n"
    "a caption one chunk, a transcript chunks of its timed segments (with their start/end);\n"
    "without, images and audio are skipped.  An interrupted run resumes; a run with nothing\n"
    "changed does no model work.  --json: one summary line on stdout at the end, {\"done\", \"failed\",\n"
    "\"skipped\", \"seconds\", \"collection\", \"documents\", \"images\", \"recordings\", \"ignored\", \"chunks\",\n"
    "\"renamed\", \"copied\", \"removed\"}: jobs done / failed by this run (failed: also inputs still failed\n"
    "or unreadable), inputs already ingested, files skipped, chunks embedded.\n"
    "Exit 0, or 3 when some failed.\n";

typedef enum { F_DOC, F_IMAGE, F_AUDIO, F_OTHER } file_class;

static file_class classify(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot) return F_OTHER;
    static const char *const docs[] = {"txt", "text", "md", "markdown", "html", "htm", "xhtml", "pdf"};
    static const char *const images[] = {"jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff"};
    static const char *const audio[] = {"mp3", "wav", "flac", "ogg", "opus", "m4a", "aac", "mp4",
                                        "mkv", "webm", "mov", "avi"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        if (!strcasecmp(dot + 1, docs[i])) return F_DOC;
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++)
        if (!strcasecmp(dot + 1, images[i])) return F_IMAGE;
    for (size_t i = 0; i < sizeof audio / sizeof audio[0]; i++)
        if (!strcasecmp(dot + 1, audio[i])) return F_AUDIO;
    return F_OTHER;
}

char *ingest_params(const char *collection) {
    cJSON *p = cJSON_CreateObject(); /* canonical: sorted keys */
    cJSON_AddNumberToObject(p, "chunk_overlap", CHUNK_OVERLAP);
    cJSON_AddNumberToObject(p, "chunk_tokens", CHUNK_TOKENS);
    cJSON_AddStringToObject(p, "collection", collection);
    char *s = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    return s;
}

const char *ingest_identity(void) { return E.configured ? E.identity : NULL; }

int ingest_is_document(const char *path) { return classify(path) == F_DOC; }

/* The media of one run: one item per (kind, content), with the done caption / transcribe job
 * for it (queued by this run, or by `mmpipe caption` / `transcribe` with the same options). */
typedef struct media_item {
    const char *sha;     /* owned by the scan */
    int audio;           /* 0: caption, 1: transcribe */
    int64_t job;         /* its done job, 0 = none (failed, or still queued) */
    char *text, *data;   /* that job's result */
} media_item;

typedef struct media_run {
    media_item *v;
    size_t n;
    char *model;                 /* identity of -m / --mmproj (a copy) */
    char *params[2];             /* caption, transcribe params of this run */
} media_run;

static int cmp_item(const void *a, const void *b) {
    const media_item *x = a, *y = b;
    if (x->audio != y->audio) return x->audio - y->audio;
    return strcmp(x->sha, y->sha);
}

static media_item *item_find(const media_run *m, int audio, const char *sha) {
    media_item key = {sha, audio, 0, NULL, NULL};
    return bsearch(&key, m->v, m->n, sizeof *m->v, cmp_item);
}

static int note_job(void *arg, const jobs_info *in) {
    media_run *m = arg;
    int audio = !strcmp(in->kind, "transcribe");
    if (in->state != JOB_DONE || !in->sha256 || strcmp(in->model, m->model) || strcmp(in->params, m->params[audio]))
        return 0;
    media_item *it = item_find(m, audio, in->sha256);
    if (it) it->job = in->id;
    return 0;
}

static int note_result(void *arg, const jobs_result *r) {
    media_run *m = arg;
    media_item *it = item_find(m, !strcmp(r->kind, "transcribe"), r->sha256);
    if (!it || it->job != r->job_id || it->text) return 0;
    it->text = mm_strdup(r->text ? r->text : "");
    it->data = r->data ? mm_strdup(r->data) : NULL;
    return !it->text;
}

/* The params of the ingest job of a media item: the document params plus its text, so the
 * key (and the chunks) follow the caption / transcript, whatever model made it. */
static char *media_ingest_params(const media_item *it, const char *collection) {
    cJSON *p = cJSON_CreateObject(), *d = NULL; /* canonical: sorted keys */
    cJSON_AddNumberToObject(p, "chunk_overlap", CHUNK_OVERLAP);
    cJSON_AddNumberToObject(p, "chunk_tokens", CHUNK_TOKENS);
    cJSON_AddStringToObject(p, "collection", collection);
    if (it->audio) {
        d = it->data ? cJSON_Parse(it->data) : NULL;
        cJSON *segs = cJSON_DetachItemFromObjectCaseSensitive(d, "segments");
        cJSON_AddItemToObject(p, "segments", segs ? segs : cJSON_CreateArray());
        cJSON_AddStringToObject(p, "source", "transcript");
    } else {
        cJSON_AddStringToObject(p, "source", "caption");
        cJSON_AddStringToObject(p, "text", it->text);
    }
    char *s = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    cJSON_Delete(d);
    return s;
}

/* What the run did, for the summary line and --json. */
typedef struct ingest_sum {
    worker_stats w[2];           /* the two worker runs: documents + captions/transcripts, media chunks */
    jobs_enqueue_stats docs, media[2], mdocs;
    size_t ndocs, nimages, naudio, nother, nskipped_media, nmtext;
} ingest_sum;

/* After the caption / transcribe jobs ran (with -m/--mmproj): queues one ingest job per captioned /
 * transcribed content, its text in its params; media whose caption or transcript failed lose the
 * chunks of an older content (a changed file must not stay searchable with its old text).
 * Returns an exit code. */
static int ingest_media(const cli *c, const scan_list *in, const file_class *cls, media_run *m, ingest_sum *sum) {
    mm_err e;
    jobs_db *db = cli_open_db(c, 0);
    if (!db) return EXIT_FATAL;
    jobs_filter f = {JOB_DONE, "caption"};
    mm_code code = jobs_list(db, &f, note_job, m, &e);
    f.kind = "transcribe";
    if (code == MM_OK) code = jobs_list(db, &f, note_job, m, &e);
    if (code == MM_OK) code = jobs_results(db, "caption", note_result, m, &e);
    if (code == MM_OK) code = jobs_results(db, "transcribe", note_result, m, &e);
    jobs_input *sub = calloc(in->n + 1, sizeof *sub);
    if (code == MM_OK && !sub) code = mm_err_set(&e, MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n && code == MM_OK; i++) {
        media_item *it = &m->v[i];
        size_t n = 0;
        for (size_t k = 0; k < in->n; k++)
            if (cls[k] == (it->audio ? F_AUDIO : F_IMAGE) && in->v[k].sha256 && !in->v[k].error &&
                !strcmp(in->v[k].sha256, it->sha))
                sub[n++] = in->v[k];
        if (!it->text) { /* no caption / transcript of this content: nothing current to keep */
            for (size_t k = 0; k < n && code == MM_OK; k++) {
                int cur = 0;
                code = jobs_doc_current(db, c->collection, sub[k].path, sub[k].sha256, E.identity, &cur, &e);
                if (code == MM_OK && !cur) code = jobs_doc_delete(db, c->collection, sub[k].path, &e);
            }
            continue;
        }
        sum->nmtext++;
        char *params = media_ingest_params(it, c->collection);
        if (!params) {
            code = mm_err_set(&e, MM_ENOMEM, "out of memory");
            break;
        }
        jobs_spec sp;
        jobs_spec_default(&sp, "ingest");
        sp.params_json = params;
        sp.model = E.identity;
        sp.force = c->force;
        sp.max_attempts = c->max_attempts;
        sp.max_crashes = c->max_crashes;
        jobs_enqueue_stats st = {0};
        code = jobs_enqueue(db, &sp, sub, n, &st, &e);
        free(params);
        sum->mdocs.added += st.added;
        sum->mdocs.existing += st.existing;
        sum->mdocs.requeued += st.requeued;
        sum->mdocs.failed_already += st.failed_already;
        sum->mdocs.done_already += st.done_already;
    }
    free(sub);
    jobs_close(db);
    if (code != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    if (!c->quiet)
        fprintf(stderr, "mmpipe: ingest '%s': %zu captions / transcripts to index: %lld new jobs, %lld unchanged, "
                "%lld still failed\n", c->collection, sum->nmtext, (long long)sum->mdocs.added,
                (long long)(sum->mdocs.existing - sum->mdocs.failed_already - sum->mdocs.requeued),
                (long long)sum->mdocs.failed_already);
    return sum->mdocs.failed_already ? EXIT_SOME_FAILED : EXIT_OK;
}

static void media_run_free(media_run *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].text);
        free(m->v[i].data);
    }
    free(m->v);
    free(m->params[0]);
    free(m->params[1]);
    free(m->model);
}

/* Enqueues the caption (audio 0) or transcribe (1) jobs of the media of class fc. */
static int enqueue_media(const cli *c, const scan_list *in, const file_class *cls, file_class fc, media_run *m,
                         jobs_enqueue_stats *st) {
    scan_list sub = {calloc(in->n + 1, sizeof *sub.v), 0, 0};
    if (!sub.v) {
        cli_error("out of memory");
        return EXIT_FATAL;
    }
    for (size_t i = 0; i < in->n; i++)
        if (cls[i] == fc) sub.v[sub.n++] = in->v[i];
    int rc = EXIT_OK;
    if (sub.n) {
        jobs_spec sp;
        jobs_spec_default(&sp, fc == F_AUDIO ? "transcribe" : "caption");
        sp.params_json = m->params[fc == F_AUDIO];
        sp.model = m->model;
        rc = cli_enqueue_list(c, &sp, &sub, fc == F_AUDIO ? "recordings" : "images", st);
    }
    free(sub.v);
    return rc;
}

int cmd_ingest(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "ingest", "db,config,sync,busy-timeout,quiet,force,workers,lease,heartbeat,backoff,"
                       "max-attempts,max-crashes,embed-model,collection,threads,throttle-ms,model,mmproj,json,parallel",
                       argc, argv);
    if (rc) return rc < 0 ? (fputs(ingest_help, stdout), EXIT_OK) : rc;
    if (c.nargs < 1) {
        cli_error("ingest: needs at least one DIR (see 'mmpipe ingest --help')");
        return EXIT_USAGE;
    }
    if (!c.embed_model) {
        cli_error("ingest: --embed-model E.gguf is required (a gemma-embedding GGUF)");
        return EXIT_USAGE;
    }
    if (!c.model != !c.mmproj) {
        cli_error("ingest: images and audio need both -m MODEL.gguf and --mmproj MMPROJ.gguf (got only %s)",
                  c.model ? "-m" : "--mmproj");
        return EXIT_USAGE;
    }
    const int with_media = c.model != NULL;
    int64_t t0 = mm_mono_ns();
    if (ingest_configure(&c)) return EXIT_FATAL;
    mm_err e;
    media_run m = {0};
    if (with_media) {
        const char *id;
        if (model_cache_config(c.model, c.mmproj, c.threads, &e) != MM_OK || model_cache_identity(&id, &e) != MM_OK) {
            cli_error("%s", e.msg);
            return EXIT_FATAL;
        }
        m.model = mm_strdup(id);
        cJSON *p0 = media_caption_params(&c), *p1 = media_transcribe_params(&c);
        m.params[0] = p0 ? cJSON_PrintUnformatted(p0) : NULL;
        m.params[1] = p1 ? cJSON_PrintUnformatted(p1) : NULL;
        cJSON_Delete(p0);
        cJSON_Delete(p1);
        if (!m.params[0] || !m.params[1] || !m.model) {
            cli_error("out of memory");
            media_run_free(&m);
            return EXIT_FATAL;
        }
    }
    scan_list in;
    if (scan_paths(c.args, c.nargs, c.db, &in, &e) != MM_OK) {
        cli_error("%s", e.msg);
        media_run_free(&m);
        return EXIT_FATAL;
    }
    /* Documents (and unreadable entries, which become failed jobs) go to the ingest queue; with a
     * model, images to the caption queue and recordings to the transcribe queue.  The collection
     * is synced with every file found (documents and media), so a run without a model neither
     * drops nor re-makes the chunks of media. */
    ingest_sum sum;
    memset(&sum, 0, sizeof sum);
    size_t nin = 0, nsync = 0;
    jobs_input *docs = calloc(in.n + 1, sizeof *docs); /* shallow copies: `in` owns the strings */
    jobs_input *sync = calloc(in.n + 1, sizeof *sync);
    file_class *cls = calloc(in.n + 1, sizeof *cls);
    if (!docs || !sync || !cls) {
        cli_error("out of memory");
        free(docs), free(sync), free(cls);
        scan_free(&in);
        media_run_free(&m);
        return EXIT_FATAL;
    }
    for (size_t i = 0; i < in.n; i++) {
        file_class fc = in.v[i].clear_only ? F_DOC : classify(in.v[i].path);
        int media = fc == F_IMAGE || fc == F_AUDIO;
        if (media && !in.v[i].error) sync[nsync++] = in.v[i];
        if (media && !with_media) {
            sum.nskipped_media++; /* caption / transcribe report their own errors */
        } else if (in.v[i].error || fc == F_DOC) { /* unreadable: a failed ingest job, keyed by its path */
            fc = F_DOC;
            docs[nin] = in.v[i];
            sync[nsync++] = docs[nin++];
        } else if (fc == F_OTHER) {
            sum.nother++;
        } else {
            *(fc == F_IMAGE ? &sum.nimages : &sum.naudio) += 1;
        }
        cls[i] = fc;
    }
    jobs_db *db = cli_open_db(&c, 0);
    if (!db) {
        free(docs), free(sync), free(cls);
        scan_free(&in);
        media_run_free(&m);
        return EXIT_FATAL;
    }
    char *full = ingest_params(c.collection);
    jobs_sync_stats ss = {0};
    jobs_spec sp;
    jobs_spec_default(&sp, "ingest");
    sp.params_json = full;
    sp.model = E.identity;
    sp.force = c.force;
    sp.max_attempts = c.max_attempts;
    sp.max_crashes = c.max_crashes;
    mm_code code = full ? MM_OK : mm_err_set(&e, MM_ENOMEM, "out of memory");
    if (code == MM_OK) code = jobs_docs_sync(db, c.collection, c.args, c.nargs, sync, nsync, &ss, &e);
    if (code == MM_OK) code = jobs_enqueue(db, &sp, docs, nin, &sum.docs, &e);
    /* without a model, media whose chunks are not of their current content lose them */
    for (size_t i = 0; i < in.n && code == MM_OK && !with_media; i++) {
        int cur = 0;
        if ((cls[i] != F_IMAGE && cls[i] != F_AUDIO) || in.v[i].error) continue;
        code = jobs_doc_current(db, c.collection, in.v[i].path, in.v[i].sha256, E.identity, &cur, &e);
        if (code == MM_OK && !cur) code = jobs_doc_delete(db, c.collection, in.v[i].path, &e);
    }
    jobs_close(db);
    free(full);
    free(sync);
    if (code != MM_OK) {
        cli_error("%s (nothing was queued)", e.msg);
        free(docs), free(cls);
        scan_free(&in);
        media_run_free(&m);
        return EXIT_FATAL;
    }
    const jobs_enqueue_stats *st = &sum.docs;
    for (size_t i = 0; i < nin; i++) {
        if (docs[i].error) cli_error("%s: %s", docs[i].path, docs[i].error);
        sum.ndocs += !docs[i].clear_only;
    }
    free(docs);
    if (st->failed_already && !c.quiet)
        cli_error("ingest: %lld documents failed in an earlier run and stay failed "
                  "(see 'mmpipe jobs list --state failed --kind ingest'; 'mmpipe jobs retry --failed' or --force)",
                  (long long)st->failed_already);
    if (!c.quiet)
        fprintf(stderr, "mmpipe: ingest '%s': %zu documents: %lld new jobs, %lld unchanged, %lld still failed, "
                "%lld unreadable; %lld renamed, %lld copied, %lld removed\n", c.collection, sum.ndocs,
                (long long)st->added, (long long)(st->existing - st->failed_already - st->requeued),
                (long long)st->failed_already, (long long)st->unreadable, (long long)ss.renamed,
                (long long)ss.copied, (long long)ss.deleted);
    /* the media's caption / transcribe jobs, run with the documents' */
    int enq = EXIT_OK;
    if (with_media) {
        /* one item per (kind, content) */
        m.v = calloc(in.n + 1, sizeof *m.v);
        for (size_t i = 0; m.v && i < in.n; i++)
            if ((cls[i] == F_IMAGE || cls[i] == F_AUDIO) && !in.v[i].error)
                m.v[m.n++] = (media_item){in.v[i].sha256, cls[i] == F_AUDIO, 0, NULL, NULL};
        if (!m.v) enq = EXIT_FATAL;
        else {
            qsort(m.v, m.n, sizeof *m.v, cmp_item);
            size_t w = 0;
            for (size_t i = 0; i < m.n; i++)
                if (!w || cmp_item(&m.v[w - 1], &m.v[i])) m.v[w++] = m.v[i];
            m.n = w;
        }
        for (int a = 0; a < 2 && enq != EXIT_FATAL; a++) {
            int r1 = enqueue_media(&c, &in, cls, a ? F_AUDIO : F_IMAGE, &m, &sum.media[a]);
            if (r1 != EXIT_OK) enq = r1;
        }
    }
    /* Two worker runs: the caption / transcribe jobs under the generation model (a worker claims
     * only the jobs of its model), then, that model unloaded, every ingest job: the documents' and
     * those of the captions and transcripts. */
    int run = enq == EXIT_FATAL ? EXIT_FATAL : EXIT_OK;
    if (run != EXIT_FATAL && with_media) {
        run = worker_run(&c, &sum.w[0]);
        model_cache_free();
        int r2 = run == EXIT_FATAL ? EXIT_FATAL : ingest_media(&c, &in, cls, &m, &sum);
        if (r2 == EXIT_FATAL || (r2 == EXIT_SOME_FAILED && run == EXIT_OK)) run = r2;
    }
    if (run != EXIT_FATAL) {
        int r3 = worker_run(&c, &sum.w[1]);
        if (r3 == EXIT_FATAL || (r3 == EXIT_SOME_FAILED && run == EXIT_OK)) run = r3;
    }
    double secs = (double)(mm_mono_ns() - t0) / 1e9;
    if (!c.quiet) {
        fprintf(stderr, "mmpipe: ingest '%s': embedded %lld chunks", c.collection, (long long)E.embedded);
        if (sum.nskipped_media)
            fprintf(stderr, "; %zu images/recordings skipped (left to caption / transcribe; -m/--mmproj to index them)",
                    sum.nskipped_media);
        if (sum.nother) fprintf(stderr, "; %zu other files skipped (not text, Markdown, HTML, PDF, image or audio)",
                                sum.nother);
        fputc('\n', stderr);
    }
    if (c.json && run != EXIT_FATAL) { /* one summary line on stdout; progress stayed on stderr */
        const jobs_enqueue_stats *md = sum.media;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "done", (double)(sum.w[0].done + sum.w[1].done));
        cJSON_AddNumberToObject(o, "failed", (double)(sum.w[0].failed + sum.w[1].failed + st->failed_already +
                                                      st->unreadable + md[0].failed_already + md[0].unreadable +
                                                      md[1].failed_already + md[1].unreadable + sum.mdocs.failed_already));
        cJSON_AddNumberToObject(o, "skipped", (double)(st->done_already + sum.mdocs.done_already));
        cJSON_AddNumberToObject(o, "seconds", (double)llround(secs * 1000) / 1000);
        cJSON_AddStringToObject(o, "collection", c.collection);
        cJSON_AddNumberToObject(o, "documents", (double)sum.ndocs);
        cJSON_AddNumberToObject(o, "images", (double)sum.nimages);
        cJSON_AddNumberToObject(o, "recordings", (double)sum.naudio);
        cJSON_AddNumberToObject(o, "ignored", (double)(sum.nother + sum.nskipped_media));
        cJSON_AddNumberToObject(o, "chunks", (double)E.embedded);
        cJSON_AddNumberToObject(o, "renamed", (double)ss.renamed);
        cJSON_AddNumberToObject(o, "copied", (double)ss.copied);
        cJSON_AddNumberToObject(o, "removed", (double)ss.deleted);
        char *line = cJSON_PrintUnformatted(o);
        if (line) puts(line);
        free(line);
        cJSON_Delete(o);
    }
    scan_free(&in);
    free(cls);
    media_run_free(&m);
    embedder_unload();
    model_cache_free();
    if (run == EXIT_FATAL) return EXIT_FATAL;
    return run == EXIT_SOME_FAILED || enq == EXIT_SOME_FAILED || st->unreadable || st->failed_already
               ? EXIT_SOME_FAILED : EXIT_OK;
}

/* ---- mmpipe search ---- */

static const char *const search_help =
    "usage: mmpipe search \"QUERY\" --embed-model E.gguf [-k N] [--collection NAME] [--json]\n"
    "Hybrid retrieval over what 'mmpipe ingest' stored: cosine similarity of the query's\n"
    "embedding (\"task: search result | query: ...\") with every chunk's vector, and FTS5 BM25\n"
    "over the chunk text, fused by reciprocal rank fusion (score = sum of 1/(60 + rank)).\n"
    "Prints the best N (default 10): path, page (PDF), byte span (text) or time span in seconds\n"
    "(a transcript), score and the chunk.\n"
    "--json: an array of {\"path\", \"score\", \"text\", \"page\" | \"start\"/\"end\"}, best first.\n";

typedef struct search_out { int json, n; cJSON *arr; } search_out;

static int show_hit(void *arg, const jobs_hit *h) {
    search_out *so = arg;
    char *path = mm_utf8_sanitize(h->path, h->path_len);
    so->n++;
    if (so->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", path ? path : "");
        if (!mm_utf8_valid(h->path, h->path_len)) {
            char *b = mm_base64(h->path, h->path_len);
            cJSON_AddStringToObject(o, "path_b64", b ? b : "");
            free(b);
        }
        cJSON_AddNumberToObject(o, "score", h->score);
        cJSON_AddStringToObject(o, "text", h->text ? h->text : "");
        if (h->page > 0) cJSON_AddNumberToObject(o, "page", h->page);
        if (h->has_time) { /* a transcript's chunk: seconds */
            cJSON_AddNumberToObject(o, "start", (double)h->start_ms / 1000);
            cJSON_AddNumberToObject(o, "end", (double)h->end_ms / 1000);
        } else if (h->byte_start >= 0) {
            cJSON_AddNumberToObject(o, "start", (double)h->byte_start);
            cJSON_AddNumberToObject(o, "end", (double)h->byte_end);
        }
        if (h->heading) cJSON_AddStringToObject(o, "heading", h->heading);
        cJSON_AddNumberToObject(o, "vector_rank", h->vec_rank); /* 0: not among the vector candidates */
        cJSON_AddNumberToObject(o, "bm25_rank", h->fts_rank);   /* 0: no word of the query in it */
        cJSON_AddItemToArray(so->arr, o);
    } else {
        printf("%d. %s", so->n, path ? path : "?");
        if (h->page > 0) printf("  page %d", h->page);
        if (h->has_time) printf("  %.2f-%.2f s", (double)h->start_ms / 1000, (double)h->end_ms / 1000);
        else if (h->byte_start >= 0) printf("  bytes %lld-%lld", (long long)h->byte_start, (long long)h->byte_end);
        printf("  score %.5f\n", h->score);
        if (h->heading) printf("   [%s]\n", h->heading);
        printf("   %s\n\n", h->text ? h->text : "");
    }
    free(path);
    return 0;
}

int ingest_retrieve(const cli *c, const char *query, int missing_ok, int (*fn)(void *, const jobs_hit *), void *ud) {
    if (ingest_configure(c)) return EXIT_FATAL;
    mm_err e;
    if (model_load(&e) != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    int dim = mm_model_embd_dim(E.m);
    float *q = malloc((size_t)dim * sizeof *q);
    char *prompt = mm_asprintf(QUERY_PROMPT "%s", query);
    mm_ctx *ctx = NULL;
    int rc = EXIT_FATAL;
    jobs_db *db = NULL;
    if (!q || !prompt) {
        cli_error("out of memory");
        goto out;
    }
    size_t bad;
    if (embed_texts(&ctx, CHUNK_TOKENS * 2 + 64, &prompt, 1, q, dim, &bad, &e) != MM_OK) {
        cli_error("%s: %s", E.path, e.msg);
        goto out;
    }
    if (!(db = cli_open_db(c, 1))) goto out; /* read-only: search never creates a database */
    mm_code code = jobs_search(db, c->collection, E.identity, q, dim, query, c->top_n, fn, ud, &e);
    if (code == MM_ENOTFOUND && missing_ok) code = MM_OK;
    if (code != MM_OK) {
        cli_error("%s", e.msg);
        goto out;
    }
    rc = EXIT_OK;
out:
    jobs_close(db);
    mm_ctx_close(ctx);
    free(prompt);
    free(q);
    embedder_unload();
    return rc;
}

int cmd_search(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "search", "db,config,busy-timeout,quiet,embed-model,collection,results,json,threads",
                       argc, argv);
    if (rc) return rc < 0 ? (fputs(search_help, stdout), EXIT_OK) : rc;
    if (c.nargs != 1 || !*c.args[0]) {
        cli_error("search: needs one QUERY (quote it; see 'mmpipe search --help')");
        return EXIT_USAGE;
    }
    if (!c.embed_model) {
        cli_error("search: --embed-model E.gguf is required (the model the documents were ingested with)");
        return EXIT_USAGE;
    }
    search_out so = {c.json, 0, c.json ? cJSON_CreateArray() : NULL};
    if (c.json && !so.arr) {
        cli_error("out of memory");
        return EXIT_FATAL;
    }
    rc = ingest_retrieve(&c, c.args[0], 0, show_hit, &so);
    if (rc == EXIT_OK && c.json) {
        char *s = cJSON_PrintUnformatted(so.arr); /* one line */
        if (s) puts(s);
        else rc = EXIT_FATAL, cli_error("out of memory");
        free(s);
    } else if (rc == EXIT_OK && !so.n && !c.quiet) {
        fprintf(stderr, "mmpipe: search: nothing found in collection '%s'\n", c.collection);
    }
    cJSON_Delete(so.arr);
    return rc;
}
