/*
 * pipeline/media_jobs.c — the model job kinds: `caption` (one image -> a caption),
 * `transcribe` (one recording -> timed segments of text) and `summarize` (a transcript ->
 * a summary).  Each handler takes the model from the process's model cache
 * (model_cache.h), checks the job was queued for that model, and generates greedily in the
 * model's chat format until an end-of-generation token or n_predict tokens.
 *
 * Params (canonical JSON, part of the idempotency key; see media_params_* in cli.h):
 *   caption    {"alpha": "white"|"drop", "exif": 0|1, "n_predict": N, "prompt": TEXT}
 *   transcribe {"n_predict": N, "prompt": TEXT}                  (n_predict per segment)
 *   summarize  {"chunk_tokens": N, "n_predict": N, "prompt": TEXT, "transcript": TEXT}
 *              (result data {"model_calls": K}: 1 when the transcript fitted chunk_tokens)
 * The summarize job carries its transcript in its params: `mmpipe transcribe --summarize`
 * enqueues it once the transcript is done (its own kind, so a transcript is never redone
 * to get a summary, and a new transcript means a new summary).
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "decoders.h"
#include "batch_gen.h"
#include "model_cache.h"
#include "multimodal.h"

#include <pthread.h>

/* ---- small helpers ---- */

static const char *pstr(const cJSON *o, const char *k, const char *def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : def;
}
static int pint(const cJSON *o, const char *k, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

/* Valid UTF-8, every run of white space (newlines too) one space, trimmed: one line of text. */
static char *one_line(const char *s, size_t n) {
    char *u = mm_utf8_sanitize(s, n);
    if (!u) return NULL;
    size_t w = 0;
    int space = 0;
    for (size_t i = 0; u[i]; i++) {
        unsigned char ch = (unsigned char)u[i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f' || ch < 0x20) {
            space = w > 0;
            continue;
        }
        if (space) u[w++] = ' ';
        space = 0;
        u[w++] = (char)ch;
    }
    u[w] = 0;
    return u;
}

/* The model of this process, checked against the one the job was queued for. */
static mm_code job_model(const job *j, const model_set **ms, int *retryable, mm_err *e) {
    *retryable = 0;
    mm_code rc = model_cache_get(ms, e);
    if (rc) return rc;
    if (strcmp(j->model, (*ms)->identity) != 0)
        return mm_err_set(e, MM_ESTATE, "queued for model %s, but this worker has %s (run it with that model, "
                          "or re-queue with --force)", j->model, (*ms)->identity);
    return MM_OK;
}

/* Greedy generation after one user turn (media at its <__media__> markers), alone in its own
 * context: --parallel 1, and the reference the batched path (batch_gen.c) must equal. */
static mm_code generate_alone(const model_set *ms, const char *user, const mmp_input *ins, int n_ins, int n_predict,
                        char **out, size_t *out_len, mm_err *e) {
    *out = NULL;
    *out_len = 0;
    char *text = NULL, *buf = NULL;
    size_t len = 0, cap = 0;
    mmp_prompt pr = {0};
    mm_ctx *ctx = NULL;
    mm_sampler *smp = NULL;
    int32_t *hist = NULL;
    mm_chat_msg msg = {"user", user};
    mm_code rc = mm_chat_format(ms->model, &msg, 1, 1, 0, &text, e);
    /* the formatted text starts with <bos>: no BOS added again */
    if (!rc) rc = mmp_prompt_build(ms->tok, ms->proj, text, 0, 1, ins, n_ins, ms->threads, &pr, e);
    if (rc) goto out;
    const int n_ctx = (int)pr.n_pos + n_predict + 1;
    mm_ctx_params cp = {n_ctx, mmp_prompt_max_run(&pr), 1, ms->threads, 1};
    if ((rc = mm_ctx_open(ms->model, &cp, &ctx, e)) || (rc = mmp_prompt_decode(ctx, ms->model, ms->proj, &pr, NULL, e)))
        goto out;
    mm_sampler_params sp;
    mm_sampler_params_default(&sp);
    sp.temp = 0; /* greedy: the same caption for the same input and model */
    if (!(smp = mm_sampler_open(&sp, mm_model_n_vocab(ms->model))) ||
        !(hist = malloc((size_t)(n_predict + 1) * sizeof *hist))) {
        rc = mm_err_set(e, MM_ENOMEM, "out of memory");
        goto out;
    }
    int32_t pos = (int32_t)pr.n_pos;
    for (int i = 0; i < n_predict; i++) {
        int32_t t = mm_sample(smp, mm_ctx_logits(ctx, 0), hist, i);
        if (mm_token_is_eog(ms->tok, t)) break;
        hist[i] = t;
        mm_str piece = mm_token_piece(ms->tok, t, 0);
        if (len + piece.n + 1 > cap) {
            size_t nc = (len + piece.n + 1) * 2 + 64;
            char *nb = realloc(buf, nc);
            if (!nb) {
                rc = mm_err_set(e, MM_ENOMEM, "out of memory");
                goto out;
            }
            buf = nb;
            cap = nc;
        }
        memcpy(buf + len, piece.p, piece.n);
        len += piece.n;
        if (i + 1 == n_predict) break;
        int32_t ps = pos++, sq = 0;
        int8_t one = 1;
        mm_batch b1 = {1, &t, NULL, &ps, &sq, &one};
        if ((rc = mm_decode(ctx, &b1, e))) goto out;
    }
    if (!buf && !(buf = malloc(1))) rc = mm_err_set(e, MM_ENOMEM, "out of memory");
    if (!rc) {
        buf[len] = 0;
        *out = buf;
        *out_len = len;
        buf = NULL;
    }
out:
    free(buf);
    free(hist);
    mm_sampler_close(smp);
    mm_ctx_close(ctx);
    mmp_prompt_free(&pr);
    free(text);
    return rc;
}

mm_code media_generate(const model_set *ms, const char *user, const mmp_input *ins, int n_ins, int n_predict,
                       char **out, size_t *out_len, mm_err *e) {
    if (ms->parallel > 1) return bgen_generate(ms, user, ins, n_ins, n_predict, out, out_len, e);
    return generate_alone(ms, user, ins, n_ins, n_predict, out, out_len, e);
}

/* fn(ctx, i) for i < n, by up to nth threads that each take the next index (in this thread alone
 * when nth <= 1 or no thread starts): requests made side by side, so the batching scheduler decodes
 * them together. */
typedef struct side_by_side {
    void (*fn)(void *ctx, int i);
    void *ctx;
    int n, next;
    pthread_mutex_t mu;
} side_by_side;

static void *side_by_side_thread(void *arg) {
    side_by_side *sb = arg;
    for (;;) {
        pthread_mutex_lock(&sb->mu);
        int i = sb->next++;
        pthread_mutex_unlock(&sb->mu);
        if (i >= sb->n) return NULL;
        sb->fn(sb->ctx, i);
    }
}

static void run_side_by_side(int n, int nth, void (*fn)(void *, int), void *ctx) {
    side_by_side sb = {fn, ctx, n, 0, PTHREAD_MUTEX_INITIALIZER};
    pthread_t th[64];
    int started = 0;
    if (nth > n) nth = n;
    if (nth > 64) nth = 64;
    for (; nth > 1 && started < nth; started++)
        if (pthread_create(&th[started], NULL, side_by_side_thread, &sb) != 0) break;
    if (!started) side_by_side_thread(&sb);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
}

/* Several generations at once (the segments of one recording).  outs[i] / lens[i] get the texts;
 * the first error (by index) is returned and every text is freed then. */
typedef struct many_job {
    const model_set *ms;
    const char *user;
    const mmp_input *ins;
    int n_predict;
    char **outs;
    size_t *lens;
    mm_code *rcs;
    mm_err *errs;
} many_job;

static void many_item(void *arg, int i) {
    many_job *m = arg;
    m->rcs[i] = media_generate(m->ms, m->user, &m->ins[i], 1, m->n_predict, &m->outs[i], &m->lens[i], &m->errs[i]);
}

static mm_code generate_many(const model_set *ms, const char *user, const mmp_input *ins, int n, int n_predict,
                             char **outs, size_t *lens, mm_err *e) {
    many_job m = {ms, user, ins, n_predict, outs, lens, calloc((size_t)n + 1, sizeof(mm_code)),
                  calloc((size_t)n + 1, sizeof(mm_err))};
    if (!m.rcs || !m.errs) {
        free(m.rcs);
        free(m.errs);
        return mm_err_set(e, MM_ENOMEM, "out of memory");
    }
    run_side_by_side(n, ms->parallel, many_item, &m);
    mm_code rc = MM_OK;
    for (int i = 0; i < n && !rc; i++)
        if (m.rcs[i]) rc = mm_err_set(e, m.errs[i].code, "%s", m.errs[i].msg);
    if (rc)
        for (int i = 0; i < n; i++) {
            free(outs[i]);
            outs[i] = NULL;
        }
    free(m.rcs);
    free(m.errs);
    return rc;
}

/* The file still has the content the job was queued for (the result is stored under that hash). */
static mm_code same_content(const job *j, const char *path, mm_err *e) {
    char hex[65];
    mm_code rc = mm_sha256_file(path, hex, NULL, e);
    if (!rc && j->sha256[0] && strcmp(hex, j->sha256) != 0)
        rc = mm_err_set(e, MM_ESTATE, "%s: content changed since it was queued (run the command again)", path);
    return rc;
}

/* Errors a retry cannot fix: the input or the model is what it is. */
static int permanent(mm_code c) {
    return c == MM_ECORRUPT || c == MM_EUNSUPPORTED || c == MM_EINVAL || c == MM_ENOTFOUND || c == MM_EPERM ||
           c == MM_ELIMIT || c == MM_ESTATE || c == MM_EVERSION;
}

static char *with_marker(const char *prompt) {
    return strstr(prompt, MMP_MEDIA_MARKER) ? mm_strdup(prompt) : mm_asprintf("%s%s", MMP_MEDIA_MARKER, prompt);
}

/* ---- caption ---- */

int kind_run_caption(const job *j, kind_result *r, mm_err *e) {
    const model_set *ms;
    mm_code rc = job_model(j, &ms, &r->retryable, e);
    if (rc) return -1;
    if (!ms->proj || mm_mmproj_vision(ms->proj)->type == MM_PROJ_NONE) {
        mm_err_set(e, MM_EINVAL, "caption needs an mmproj with a vision tower (--mmproj)");
        return -1;
    }
    cJSON *p = cJSON_Parse(j->params);
    mm_image_opts io;
    memset(&io, 0, sizeof io);
    io.no_exif = !pint(p, "exif", 1);
    io.alpha = !strcmp(pstr(p, "alpha", "white"), "drop") ? MM_ALPHA_DROP : MM_ALPHA_WHITE;
    int n_predict = pint(p, "n_predict", MEDIA_CAPTION_N_PREDICT);
    const int min_tok = pint(p, "min_tokens", 0), max_tok = pint(p, "max_tokens", 0);
    char *user = with_marker(pstr(p, "prompt", MEDIA_CAPTION_PROMPT));
    cJSON_Delete(p);
    if (!user) return mm_err_set(e, MM_ENOMEM, "out of memory"), -1;
    rc = MM_ENOTFOUND;
    mm_err_set(e, MM_ENOTFOUND, "job has no input path");
    for (size_t i = 0; i < j->npaths && rc; i++) { /* the first path that can be read */
        mmp_input in = {j->paths[i], 0, &io, NULL, 0, min_tok, max_tok};
        char *raw = NULL;
        size_t n;
        rc = same_content(j, j->paths[i], e);
        if (!rc) rc = media_generate(ms, user, &in, 1, n_predict, &raw, &n, e);
        if (!rc) {
            r->text = one_line(raw, n);
            free(raw);
            if (!r->text) rc = mm_err_set(e, MM_ENOMEM, "out of memory");
        }
        if (rc == MM_ENOTFOUND || rc == MM_EPERM || rc == MM_EIO) continue; /* try another path with this content */
        break;
    }
    free(user);
    if (rc && j->npaths && !strstr(e->msg, j->paths[0])) mm_err_prefix(e, "%s", j->paths[0]);
    r->retryable = rc && !permanent(rc);
    return rc ? -1 : 0;
}

/* ---- transcribe ---- */

/* A transcript being made: the segments' JSON and the text, a line per segment. */
typedef struct transcript {
    cJSON *segs;
    char *text;
    size_t tlen;
} transcript;

/* Transcribes segments [s0, s1) of sg; the recording's samples [base, base + len) are in win. */
static mm_code transcribe_segments(const model_set *ms, const char *user, int n_predict, const char *path,
                                   const mm_segment *sg, size_t s0, size_t s1, const float *win, uint64_t base,
                                   size_t len, transcript *tr, mm_err *e) {
    const size_t ns = s1 - s0;
    mmp_input *ins = calloc(ns + 1, sizeof *ins);
    char **raws = calloc(ns + 1, sizeof *raws);
    size_t *rls = calloc(ns + 1, sizeof *rls);
    uint64_t *at = calloc(ns + 1, sizeof *at);
    int nin = 0;
    mm_code rc = ins && raws && rls && at ? MM_OK : mm_err_set(e, MM_ENOMEM, "out of memory");
    for (size_t i = s0; i < s1 && !rc; i++) { /* the segments with a log-mel frame */
        double t0 = sg[i].start_s > 0 ? sg[i].start_s : 0, t1 = sg[i].end_s > t0 ? sg[i].end_s : t0;
        uint64_t a = (uint64_t)(t0 * MM_AUDIO_RATE), b = (uint64_t)(t1 * MM_AUDIO_RATE);
        if (a < base) a = base; /* never happens: the window keeps every pending segment */
        if (b > base + len) b = base + len;
        if (a + 2 > b) continue;
        at[nin] = a;
        ins[nin++] = (mmp_input){path, 1, NULL, win + (a - base), (size_t)(b - a), 0, 0};
    }
    /* --parallel segments at once: their decode steps share batches */
    if (!rc && nin) rc = generate_many(ms, user, ins, nin, n_predict, raws, rls, e);
    for (int i = 0; i < nin && !rc; i++) {
        char *line = one_line(raws[i], rls[i]);
        if (!line) {
            rc = mm_err_set(e, MM_ENOMEM, "out of memory");
            break;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "start", (double)at[i] / MM_AUDIO_RATE);
        cJSON_AddNumberToObject(o, "end", (double)(at[i] + ins[i].n_pcm) / MM_AUDIO_RATE);
        cJSON_AddStringToObject(o, "text", line);
        cJSON_AddItemToArray(tr->segs, o);
        size_t ll = strlen(line);
        char *nt = realloc(tr->text, tr->tlen + ll + 2);
        if (!nt) {
            free(line);
            rc = mm_err_set(e, MM_ENOMEM, "out of memory");
            break;
        }
        tr->text = nt;
        if (ll) {
            if (tr->tlen) tr->text[tr->tlen++] = '\n';
            memcpy(tr->text + tr->tlen, line, ll);
            tr->tlen += ll;
        }
        tr->text[tr->tlen] = 0;
        free(line);
    }
    for (int i = 0; raws && i < nin; i++) free(raws[i]);
    free(raws);
    free(rls);
    free(ins);
    free(at);
    return rc;
}

/* The recording streamed: 30 s read at a time into a window, fed to voice-activity
 * segmentation; segments that can no longer change (all but the last found) are transcribed in
 * groups and the window forgets what no pending segment needs.  Memory stays bounded (the window:
 * about a minute of samples), whatever the length; the segments and their samples are those of
 * reading the whole file first. */
static mm_code transcribe_stream(const model_set *ms, const char *user, int n_predict, mm_audio *a,
                                 const char *path, transcript *tr, double *duration, mm_err *e) {
    const size_t chunk = MM_AUDIO_PIECE_SAMPLES, keep_back = (size_t)45 * MM_AUDIO_RATE;
    const size_t group = (size_t)(ms->parallel > 1 ? 2 * ms->parallel : 1);
    mm_vad *vad = NULL;
    float *win = NULL;
    size_t len = 0, cap = 0, done = 0, ns = 0;
    uint64_t base = 0;
    mm_code rc = mm_vad_create(NULL, &vad, e);
    for (int end = 0; !rc && !end;) {
        if (len + chunk > cap) {
            size_t nc = len + chunk;
            float *nw = realloc(win, nc * sizeof *nw);
            if (!nw) {
                rc = mm_err_set(e, MM_ENOMEM, "out of memory");
                break;
            }
            win = nw;
            cap = nc;
        }
        size_t got = 0;
        if ((rc = mm_audio_read(a, win + len, chunk, &got, e))) break;
        if (got) rc = mm_vad_feed(vad, win + len, got, e);
        else rc = mm_vad_finish(vad, e), end = 1;
        len += got;
        if (rc) break;
        const mm_segment *sg = mm_vad_segments(vad, &ns);
        size_t final = end ? ns : ns ? ns - 1 : 0; /* the last one may still grow, until the end */
        if (final > done && (end || final - done >= group)) {
            if ((rc = transcribe_segments(ms, user, n_predict, path, sg, done, final, win, base, len, tr, e))) break;
            done = final;
        }
        /* forget samples before the first pending segment, and before the last keep_back samples
         * (speech not yet closed into a segment starts no earlier than max_segment + pads back) */
        uint64_t need = base + len > keep_back ? base + len - keep_back : 0;
        if (done < ns) {
            uint64_t s0 = (uint64_t)((sg[done].start_s > 0 ? sg[done].start_s : 0) * MM_AUDIO_RATE);
            if (s0 < need) need = s0;
        }
        if (need > base) {
            size_t drop = (size_t)(need - base);
            memmove(win, win + drop, (len - drop) * sizeof *win);
            len -= drop;
            base = need;
        }
    }
    *duration = (double)(base + len) / MM_AUDIO_RATE;
    mm_vad_free(vad);
    free(win);
    return rc;
}

int kind_run_transcribe(const job *j, kind_result *r, mm_err *e) {
    const model_set *ms;
    mm_code rc = job_model(j, &ms, &r->retryable, e);
    if (rc) return -1;
    if (!ms->proj || mm_mmproj_audio_type(ms->proj) == MM_PROJ_NONE) {
        mm_err_set(e, MM_EINVAL, "transcribe needs an mmproj with an audio tower (--mmproj)");
        return -1;
    }
    cJSON *p = cJSON_Parse(j->params);
    int n_predict = pint(p, "n_predict", MEDIA_TRANSCRIBE_N_PREDICT);
    char *user = with_marker(pstr(p, "prompt", MEDIA_TRANSCRIBE_PROMPT));
    cJSON_Delete(p);
    if (!user) return mm_err_set(e, MM_ENOMEM, "out of memory"), -1;
    const char *path = j->npaths ? j->paths[0] : "?";
    mm_audio *a = NULL;
    cJSON *data = cJSON_CreateObject();
    transcript tr = {cJSON_AddArrayToObject(data, "segments"), NULL, 0};
    double duration = 0;
    rc = mm_err_set(e, MM_ENOTFOUND, "job has no input path");
    for (size_t i = 0; i < j->npaths; i++) { /* the first path with this content that can be read */
        path = j->paths[i];
        rc = same_content(j, path, e);
        if (!rc) rc = mm_audio_open(path, NULL, &a, e);
        if (rc != MM_ENOTFOUND && rc != MM_EPERM && rc != MM_EIO) break;
    }
    if (!rc) rc = transcribe_stream(ms, user, n_predict, a, path, &tr, &duration, e);
    mm_audio_close(a);
    cJSON_AddNumberToObject(data, "duration", duration);
    free(user);
    if (!rc) {
        r->text = tr.text ? tr.text : mm_strdup("");
        r->data = cJSON_PrintUnformatted(data);
        tr.text = NULL;
        if (!r->text || !r->data) rc = mm_err_set(e, MM_ENOMEM, "out of memory");
    }
    free(tr.text);
    cJSON_Delete(data);
    if (rc && j->npaths && !strstr(e->msg, path)) mm_err_prefix(e, "%s", path);
    r->retryable = rc && !permanent(rc);
    return rc ? -1 : 0;
}

/* ---- summarize ---- */

static mm_code summarize_text(const model_set *ms, const char *prompt, const char *text, int chunk_tokens,
                              int n_predict, int depth, int *calls, char **out, mm_err *e);

/* The map step's pieces, taken by up to --parallel threads. */
typedef struct map_piece {
    char *text, *sum;
    int calls;
    mm_code rc;
    mm_err err;
} map_piece;

typedef struct map_job {
    const model_set *ms;
    const char *prompt;
    int chunk_tokens, n_predict, depth;
    map_piece *v;
    size_t n;
} map_job;

static void map_item(void *arg, int i) {
    map_job *m = arg;
    map_piece *pc = &m->v[i];
    pc->rc = summarize_text(m->ms, m->prompt, pc->text, m->chunk_tokens, m->n_predict, m->depth, &pc->calls,
                            &pc->sum, &pc->err);
}

/* Summarises text; map-reduce when it does not fit chunk_tokens: the lines are grouped into
 * pieces of at most chunk_tokens tokens, each summarised (map), then the summaries joined
 * and summarised again (reduce) until one fits. */
static mm_code summarize_text(const model_set *ms, const char *prompt, const char *text, int chunk_tokens,
                              int n_predict, int depth, int *calls, char **out, mm_err *e) {
    int32_t *ids = NULL;
    size_t nt = 0;
    mm_code rc = mm_tokenize(ms->tok, text, strlen(text), 0, 0, &ids, &nt, e);
    free(ids);
    if (rc) return rc;
    if ((int)nt <= chunk_tokens || depth > 8) {
        char *user = mm_asprintf("%s\n\n%s", prompt, text), *raw;
        size_t n;
        if (!user) return mm_err_set(e, MM_ENOMEM, "out of memory");
        rc = media_generate(ms, user, NULL, 0, n_predict, &raw, &n, e);
        free(user);
        if (rc) return rc;
        ++*calls;
        char *u = mm_utf8_sanitize(raw, n);
        free(raw);
        if (!u) return mm_err_set(e, MM_ENOMEM, "out of memory");
        /* trim */
        size_t l = strlen(u), s = 0;
        while (s < l && (u[s] == ' ' || u[s] == '\n')) s++;
        while (l > s && (u[l - 1] == ' ' || u[l - 1] == '\n')) l--;
        memmove(u, u + s, l - s);
        u[l - s] = 0;
        *out = u;
        return MM_OK;
    }
    /* map: pieces of whole lines (a line longer than the budget is cut by bytes), summarised
     * side by side (--parallel at once: their decode steps share batches), joined in order */
    size_t len = strlen(text), per = len * (size_t)chunk_tokens / nt;
    if (per < 16) per = 16;
    map_job mj = {ms, prompt, chunk_tokens, 0, depth + 1, NULL, 0};
    /* map summaries get at most a quarter of the budget, so the joined summaries shrink */
    mj.n_predict = n_predict < chunk_tokens / 4 ? n_predict : chunk_tokens / 4;
    if (mj.n_predict < 16) mj.n_predict = 16;
    size_t cap = 0;
    for (size_t at = 0; at < len && !rc;) {
        size_t end = at + per < len ? at + per : len;
        if (end < len) {
            const char *nl = NULL;
            for (size_t k = end; k > at; k--)
                if (text[k - 1] == '\n') { nl = text + k; break; }
            if (nl) end = (size_t)(nl - text);
        }
        if (mj.n == cap) {
            cap = cap ? cap * 2 : 8;
            map_piece *np = realloc(mj.v, cap * sizeof *np);
            if (!np) { rc = mm_err_set(e, MM_ENOMEM, "out of memory"); break; }
            mj.v = np;
        }
        map_piece *pc = &mj.v[mj.n];
        memset(pc, 0, sizeof *pc);
        if (!(pc->text = malloc(end - at + 1))) { rc = mm_err_set(e, MM_ENOMEM, "out of memory"); break; }
        memcpy(pc->text, text + at, end - at);
        pc->text[end - at] = 0;
        mj.n++;
        at = end;
    }
    if (!rc) run_side_by_side((int)mj.n, ms->parallel, map_item, &mj);
    char *joined = rc ? NULL : mm_strdup("");
    for (size_t i = 0; i < mj.n; i++) {
        map_piece *pc = &mj.v[i];
        *calls += pc->calls;
        if (!rc && pc->rc) rc = mm_err_set(e, pc->err.code, "%s", pc->err.msg);
        if (!rc && joined) {
            char *nj = mm_asprintf("%s%s%s", joined, *joined ? "\n" : "", pc->sum);
            free(joined);
            joined = nj;
        }
        free(pc->text);
        free(pc->sum);
    }
    free(mj.v);
    if (!joined && !rc) rc = mm_err_set(e, MM_ENOMEM, "out of memory");
    if (!rc) rc = summarize_text(ms, prompt, joined, chunk_tokens, n_predict, depth + 1, calls, out, e); /* reduce */
    free(joined);
    return rc;
}

int kind_run_summarize(const job *j, kind_result *r, mm_err *e) {
    const model_set *ms;
    mm_code rc = job_model(j, &ms, &r->retryable, e);
    if (rc) return -1;
    cJSON *p = cJSON_Parse(j->params);
    const char *transcript = pstr(p, "transcript", "");
    int n_predict = pint(p, "n_predict", MEDIA_SUMMARY_N_PREDICT);
    int chunk = pint(p, "chunk_tokens", MEDIA_SUMMARY_CHUNK_TOKENS);
    if (chunk < 64) chunk = 64;
    char *sum = NULL;
    int calls = 0;
    if (!*transcript) sum = mm_strdup(""); /* nothing was said: nothing to summarise, no model work */
    else rc = summarize_text(ms, pstr(p, "prompt", MEDIA_SUMMARY_PROMPT), transcript, chunk, n_predict, 0, &calls, &sum, e);
    cJSON_Delete(p);
    if (!rc && !sum) rc = mm_err_set(e, MM_ENOMEM, "out of memory");
    if (rc) {
        if (j->npaths && !strstr(e->msg, j->paths[0])) mm_err_prefix(e, "%s", j->paths[0]);
        r->retryable = !permanent(rc);
        return -1;
    }
    r->text = sum;
    r->data = mm_asprintf("{\"model_calls\": %d}", calls); /* 1: it fitted; more: map-reduce */
    return 0;
}
