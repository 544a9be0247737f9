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
 * transaction (jobs_doc_put).  Images and audio are left to caption / transcribe.
 *
 * search QUERY: embeds the query with the retrieval query prompt, and fuses cosine
 * similarity over the stored vectors with FTS5 BM25 by reciprocal rank fusion (k = 60).
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
    mm_model *m;
    mm_tokenizer *tok;
    int64_t embedded;            /* chunks embedded by this process */
} E = {PTHREAD_MUTEX_INITIALIZER, 0, 0, {0}, 0, 0, 0, 0, 0};

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

/* Embeds text (special-token text in it is NOT parsed) into out (dim floats, normalised). */
static mm_code embed_text(mm_ctx **ctx, int n_ctx, const char *text, float *out, int dim, mm_err *e) {
    int32_t *ids = NULL;
    size_t n = 0;
    mm_code c = mm_tokenize(E.tok, text, strlen(text), 1, 0, &ids, &n, e);
    if (c) return c;
    if ((int)n > n_ctx) n = (size_t)n_ctx; /* the budget keeps chunks well under n_ctx */
    if (!*ctx) {
        mm_ctx_params cp = {n_ctx, n_ctx, 1, E.threads, 0};
        if ((c = mm_ctx_open(E.m, &cp, ctx, e))) {
            free(ids);
            return c;
        }
    }
    c = mm_embed(*ctx, ids, (int)n, out, e);
    free(ids);
    if (c == MM_OK) l2_normalise(out, dim);
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
    cJSON_Delete(pj);

    jobs_options o;
    jobs_options_default(&o);
    jobs_db *db;
    if (jobs_open(E.db, &o, &db, e) != MM_OK) {
        r->retryable = 1;
        return -1;
    }
    /* Which paths still hold this content, and which of them are not ingested yet. */
    const char **need = calloc(j->npaths + 1, sizeof *need);
    size_t nneed = 0, nok = 0;
    mm_err last;
    mm_err_set(&last, MM_ENOTFOUND, "job has no input path");
    int rc = -1;
    mm_doc *doc = NULL;
    chunker k = {CHUNK_TOKENS, CHUNK_OVERLAP, {0}, {0}, 0, 0, 0, -1, -1, -1, NULL, 0, 0, 0};
    float *vecs = NULL;
    jobs_chunk *jc = NULL;
    mm_ctx *ctx = NULL;
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
        if (jobs_doc_current(db, collection, j->paths[i], j->sha256, E.identity, &cur, e) != MM_OK) {
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
    if (mm_doc_load(need[0], NULL, &doc, e) != MM_OK) {
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
    chunk_doc(&k, doc);
    int dim = mm_model_embd_dim(E.m);
    if (k.oom || !(vecs = malloc((k.n + 1) * (size_t)dim * sizeof *vecs)) || !(jc = calloc(k.n + 1, sizeof *jc))) {
        mm_err_set(e, MM_ENOMEM, "%s: out of memory", need[0]);
        r->retryable = 1;
        goto out;
    }
    const char *title = doc->title && *doc->title ? doc->title : "none";
    int n_ctx = CHUNK_TOKENS * 2 + 64;
    int64_t total_tokens = 0;
    for (size_t i = 0; i < k.n; i++) {
        char *prompt = mm_asprintf(DOC_PROMPT_FMT, title, k.v[i].text);
        mm_code c = prompt ? embed_text(&ctx, n_ctx, prompt, vecs + i * (size_t)dim, dim, e)
                           : mm_err_set(e, MM_ENOMEM, "out of memory");
        free(prompt);
        if (c) {
            mm_err_prefix(e, "%s: chunk %zu", need[0], i);
            goto out;
        }
        jc[i] = (jobs_chunk){k.v[i].text, k.v[i].heading, k.v[i].page, k.v[i].start, k.v[i].end,
                             k.v[i].tokens, vecs + i * (size_t)dim};
        total_tokens += k.v[i].tokens;
    }
    pthread_mutex_lock(&E.mu);
    E.embedded += (int64_t)k.n;
    pthread_mutex_unlock(&E.mu);
    for (size_t i = 0; i < nneed; i++) {
        struct stat st;
        jobs_doc d = {collection, need[i], j->sha256, media_of(doc->format), E.identity, 0, 0, j->id, dim};
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
                          (long long)total_tokens, doc->n_pages, media_of(doc->format));
    if (r->text) rc = 0;
    else mm_err_set(e, MM_ENOMEM, "out of memory");
out:
    mm_ctx_close(ctx);
    free(jc);
    free(vecs);
    chunker_free(&k);
    mm_doc_free(doc);
    free(need);
    jobs_close(db);
    return rc;
}

/* ---- mmpipe ingest ---- */

static const char *const ingest_help =
    "usage: mmpipe ingest DIR|FILE... --embed-model E.gguf [--collection NAME] [-j N] [-t N] [--force]\n"
    "The nightly run: scans and hashes the documents (text, Markdown, HTML, PDF), ingests only\n"
    "what changed, and runs the jobs until none is left.  Each document is chunked along its\n"
    "headings, paragraphs and pages (256 tokens of the embedding model, 32 of overlap), and each\n"
    "chunk is embedded (\"title: ... | text: ...\") and indexed for full-text search.  Renamed\n"
    "files keep their chunks, deleted files lose them, changed files are replaced in one\n"
    "transaction.  Images and audio are left to caption / transcribe.  An interrupted run\n"
    "resumes; a run with nothing changed does no model work.  Exit 0, or 3 when some failed.\n";

typedef enum { F_DOC, F_MEDIA, F_OTHER } file_class;

static file_class classify(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot) return F_OTHER;
    static const char *const docs[] = {"txt", "text", "md", "markdown", "html", "htm", "xhtml", "pdf"};
    static const char *const media[] = {"jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff",
                                        "mp3", "wav", "flac", "ogg", "opus", "m4a", "aac", "mp4",
                                        "mkv", "webm", "mov", "avi"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        if (!strcasecmp(dot + 1, docs[i])) return F_DOC;
    for (size_t i = 0; i < sizeof media / sizeof media[0]; i++)
        if (!strcasecmp(dot + 1, media[i])) return F_MEDIA;
    return F_OTHER;
}

int cmd_ingest(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "ingest", "db,config,sync,busy-timeout,quiet,force,workers,lease,heartbeat,backoff,"
                       "max-attempts,max-crashes,embed-model,collection,threads,throttle-ms,model,mmproj",
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
    if (ingest_configure(&c)) return EXIT_FATAL;
    scan_list in;
    mm_err e;
    if (scan_paths(c.args, c.nargs, c.db, &in, &e) != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    /* Documents (and unreadable entries, which become failed jobs) go to the queue. */
    size_t nin = 0, nmedia = 0, nother = 0;
    jobs_input *docs = calloc(in.n + 1, sizeof *docs); /* shallow copies: `in` owns the strings */
    if (!docs) {
        cli_error("out of memory");
        scan_free(&in);
        return EXIT_FATAL;
    }
    for (size_t i = 0; i < in.n; i++) {
        file_class fc = in.v[i].clear_only ? F_DOC : classify(in.v[i].path);
        if (fc == F_MEDIA) nmedia++; /* caption / transcribe report their own errors */
        else if (fc == F_OTHER && !in.v[i].error) nother++;
        else docs[nin++] = in.v[i];
    }
    jobs_db *db = cli_open_db(&c, 0);
    if (!db) {
        free(docs);
        scan_free(&in);
        return EXIT_FATAL;
    }
    char *params = mm_asprintf("{\"chunk_overlap\":%d,\"chunk_tokens\":%d,\"collection\":", CHUNK_OVERLAP, CHUNK_TOKENS);
    cJSON *cs = cJSON_CreateString(c.collection);
    char *cstr = cs ? cJSON_PrintUnformatted(cs) : NULL;
    char *full = params && cstr ? mm_asprintf("%s%s}", params, cstr) : NULL;
    free(params);
    free(cstr);
    cJSON_Delete(cs);
    jobs_sync_stats ss = {0};
    jobs_enqueue_stats st = {0};
    jobs_spec sp;
    jobs_spec_default(&sp, "ingest");
    sp.params_json = full;
    sp.model = E.identity;
    sp.force = c.force;
    sp.max_attempts = c.max_attempts;
    sp.max_crashes = c.max_crashes;
    mm_code code = full ? MM_OK : mm_err_set(&e, MM_ENOMEM, "out of memory");
    if (code == MM_OK) code = jobs_docs_sync(db, c.collection, c.args, c.nargs, docs, nin, &ss, &e);
    if (code == MM_OK) code = jobs_enqueue(db, &sp, docs, nin, &st, &e);
    jobs_close(db);
    free(full);
    if (code != MM_OK) {
        cli_error("%s (nothing was queued)", e.msg);
        free(docs);
        scan_free(&in);
        return EXIT_FATAL;
    }
    size_t ndocs = 0;
    for (size_t i = 0; i < nin; i++) {
        if (docs[i].error) cli_error("%s: %s", docs[i].path, docs[i].error);
        ndocs += !docs[i].clear_only;
    }
    free(docs);
    if (st.failed_already && !c.quiet)
        cli_error("ingest: %lld documents failed in an earlier run and stay failed "
                  "(see 'mmpipe jobs list --state failed --kind ingest'; 'mmpipe jobs retry --failed' or --force)",
                  (long long)st.failed_already);
    if (!c.quiet)
        fprintf(stderr, "mmpipe: ingest '%s': %zu documents: %lld new jobs, %lld unchanged, %lld still failed, "
                "%lld unreadable; %lld renamed, %lld copied, %lld removed\n", c.collection, ndocs,
                (long long)st.added, (long long)(st.existing - st.failed_already - st.requeued),
                (long long)st.failed_already, (long long)st.unreadable, (long long)ss.renamed,
                (long long)ss.copied, (long long)ss.deleted);
    scan_free(&in);
    int run = worker_run(&c, NULL);
    if (!c.quiet) {
        fprintf(stderr, "mmpipe: ingest '%s': embedded %lld chunks", c.collection, (long long)E.embedded);
        if (nmedia) fprintf(stderr, "; %zu images/recordings skipped (left to caption / transcribe)", nmedia);
        if (nother) fprintf(stderr, "; %zu other files skipped (not text, Markdown, HTML or PDF)", nother);
        fputc('\n', stderr);
    }
    pthread_mutex_lock(&E.mu);
    mm_tokenizer_close(E.tok);
    mm_model_close(E.m);
    E.tok = NULL;
    E.m = NULL;
    pthread_mutex_unlock(&E.mu);
    if (run == EXIT_FATAL) return EXIT_FATAL;
    return run == EXIT_SOME_FAILED || st.unreadable || st.failed_already ? EXIT_SOME_FAILED : EXIT_OK;
}

/* ---- mmpipe search ---- */

static const char *const search_help =
    "usage: mmpipe search \"QUERY\" --embed-model E.gguf [-k N] [--collection NAME] [--json]\n"
    "Hybrid retrieval over what 'mmpipe ingest' stored: cosine similarity of the query's\n"
    "embedding (\"task: search result | query: ...\") with every chunk's vector, and FTS5 BM25\n"
    "over the chunk text, fused by reciprocal rank fusion (score = sum of 1/(60 + rank)).\n"
    "Prints the best N (default 10): path, page (PDF) or byte span, score and the chunk.\n"
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
        if (h->byte_start >= 0) {
            cJSON_AddNumberToObject(o, "start", (double)h->byte_start);
            cJSON_AddNumberToObject(o, "end", (double)h->byte_end);
        }
        if (h->heading) cJSON_AddStringToObject(o, "heading", h->heading);
        cJSON_AddItemToArray(so->arr, o);
    } else {
        printf("%d. %s", so->n, path ? path : "?");
        if (h->page > 0) printf("  page %d", h->page);
        if (h->byte_start >= 0) printf("  bytes %lld-%lld", (long long)h->byte_start, (long long)h->byte_end);
        printf("  score %.5f\n", h->score);
        if (h->heading) printf("   [%s]\n", h->heading);
        printf("   %s\n\n", h->text ? h->text : "");
    }
    free(path);
    return 0;
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
    if (ingest_configure(&c)) return EXIT_FATAL;
    mm_err e;
    if (model_load(&e) != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    int dim = mm_model_embd_dim(E.m);
    float *q = malloc((size_t)dim * sizeof *q);
    char *prompt = mm_asprintf(QUERY_PROMPT "%s", c.args[0]);
    mm_ctx *ctx = NULL;
    rc = EXIT_FATAL;
    jobs_db *db = NULL;
    search_out so = {c.json, 0, c.json ? cJSON_CreateArray() : NULL};
    if (!q || !prompt || (c.json && !so.arr)) {
        cli_error("out of memory");
        goto out;
    }
    if (embed_text(&ctx, CHUNK_TOKENS * 2 + 64, prompt, q, dim, &e) != MM_OK) {
        cli_error("%s: %s", E.path, e.msg);
        goto out;
    }
    if (!(db = cli_open_db(&c, 1))) goto out; /* read-only: search never creates a database */
    if (jobs_search(db, c.collection, E.identity, q, dim, c.args[0], c.top_n, show_hit, &so, &e) != MM_OK) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (c.json) {
        char *s = cJSON_Print(so.arr);
        if (s) puts(s);
        free(s);
    } else if (!so.n && !c.quiet) {
        fprintf(stderr, "mmpipe: search: nothing found in collection '%s'\n", c.collection);
    }
    rc = EXIT_OK;
out:
    cJSON_Delete(so.arr);
    jobs_close(db);
    mm_ctx_close(ctx);
    free(prompt);
    free(q);
    mm_tokenizer_close(E.tok);
    mm_model_close(E.m);
    return rc;
}
