/*
 * pipeline/batch_gen.c — the continuous-batching scheduler (see batch_gen.h).
 *
 * Threads: any number of requesters (runner threads), one scheduler.  Under `mu`: the queue of
 * pending requests, each request's done flag and result, the counters.  Only the scheduler
 * touches the context, the slots and the prefix store, so it works on them unlocked.
 *
 * Context: n_seq = parallel + 1; sequences 0..parallel-1 are the slots, sequence `parallel`
 * holds the prefix store (the leading tokens of the last prompt prefilled, with their cells).
 * It is opened for the first request and reopened larger — only when no sequence is live — for
 * a request that needs more positions or a longer batch than it has.
 *
 * A slot's life: prefill (copy the shared prefix, decode the rest of the prompt), then one row
 * per decode step until an end-of-generation token or n_predict tokens, then the requester is
 * woken and the slot is free for the next pending request before the next step.
 */
#include "batch_gen.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct bgen_req {
    /* set by the requester */
    const model_set *ms;
    mmp_prompt pr;
    int n_predict;
    struct bgen_req *next;     /* pending queue */
    /* scheduler state */
    int slot;
    int32_t pos, tok;          /* next row: token tok at position pos */
    int n_gen;
    int32_t *hist;
    mm_sampler *smp;
    char *buf;
    size_t len, cap;
    /* result (under mu) */
    int done;
    mm_code rc;
    mm_err err;
} bgen_req;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cv = PTHREAD_COND_INITIALIZER;    /* the scheduler */
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;    /* requesters */
static pthread_mutex_t build_mu = PTHREAD_MUTEX_INITIALIZER; /* one prompt built (media encoded) at a time */

static struct {
    int running, stop;
    pthread_t th;
    bgen_req *head, *tail;         /* pending */
    const model_set *ms;           /* the model of the requests (one per process) */
    int parallel;
    /* scheduler-only */
    mm_ctx *ctx;
    int n_ctx, n_batch;
    bgen_req **slot;
    int32_t *prefix;               /* tokens held by the prefix store */
    int n_prefix, cap_prefix;
    bgen_stats st;
} S;

/* ---- requests ---- */

static void req_free(bgen_req *r) {
    if (!r) return;
    mmp_prompt_free(&r->pr);
    mm_sampler_close(r->smp);
    free(r->hist);
    free(r->buf);
    free(r);
}

/* Hands r's result to its requester (scheduler side). */
static void finish(bgen_req *r, mm_code rc, const mm_err *e) {
    if (r->slot >= 0) {
        mm_ctx_clear(S.ctx, r->slot);
        S.slot[r->slot] = NULL;
        r->slot = -1;
    }
    pthread_mutex_lock(&mu);
    r->rc = rc;
    if (rc && e) r->err = *e;
    r->done = 1;
    pthread_cond_broadcast(&done_cv);
    pthread_mutex_unlock(&mu);
}

/* Appends token t's piece; 1 when r is complete (t ends generation, or n_predict reached). */
static int take_token(bgen_req *r, int32_t t, mm_err *e, mm_code *rc) {
    *rc = MM_OK;
    if (mm_token_is_eog(r->ms->tok, t)) return 1;
    r->hist[r->n_gen++] = t;
    mm_str piece = mm_token_piece(r->ms->tok, t, 0);
    if (r->len + piece.n + 1 > r->cap) {
        size_t nc = (r->len + piece.n + 1) * 2 + 64;
        char *nb = realloc(r->buf, nc);
        if (!nb) {
            *rc = mm_err_set(e, MM_ENOMEM, "out of memory");
            return 1;
        }
        r->buf = nb;
        r->cap = nc;
    }
    memcpy(r->buf + r->len, piece.p, piece.n);
    r->len += piece.n;
    r->tok = t;
    return r->n_gen == r->n_predict;
}

/* ---- the context ---- */

/* The positions and the batch rows r needs of the context. */
static void needs(const bgen_req *r, int *n_ctx, int *n_batch) {
    *n_ctx = (int)r->pr.n_pos + r->n_predict + 1;
    *n_batch = mmp_prompt_max_run(&r->pr);
    if (*n_batch < S.parallel) *n_batch = S.parallel; /* a decode step: a row per slot */
}

static int fits(const bgen_req *r) {
    int need_ctx, need_batch;
    needs(r, &need_ctx, &need_batch);
    return S.ctx && need_ctx <= S.n_ctx && need_batch <= S.n_batch;
}

/* A context that holds r, reopened when it is too small; only called with no live slot. */
static mm_code ensure_ctx(const bgen_req *r, mm_err *e) {
    int need_ctx, need_batch;
    needs(r, &need_ctx, &need_batch);
    if (fits(r)) return MM_OK;
    mm_ctx_close(S.ctx);
    S.ctx = NULL;
    S.n_prefix = 0;
    int n_ctx = need_ctx > S.n_ctx ? (need_ctx + 255) / 256 * 256 : S.n_ctx;
    int n_batch = need_batch > S.n_batch ? need_batch : S.n_batch;
    mm_ctx_params cp = {n_ctx, n_batch, S.parallel + 1, r->ms->threads, 1};
    mm_code rc = mm_ctx_open(r->ms->model, &cp, &S.ctx, e);
    if (rc) {
        S.n_ctx = S.n_batch = 0;
        return rc;
    }
    S.n_ctx = n_ctx;
    S.n_batch = n_batch;
    return MM_OK;
}

/* Keeps r's leading tokens and their cells (slot s) as the prefix store. */
static void store_prefix(const bgen_req *r, int s, int lead) {
    if (lead < 4) return;
    if (lead > S.cap_prefix) {
        int32_t *np = realloc(S.prefix, (size_t)lead * sizeof *np);
        if (!np) return;
        S.prefix = np;
        S.cap_prefix = lead;
    }
    mm_err e;
    S.n_prefix = 0;
    if (mm_ctx_seq_copy(S.ctx, s, S.parallel, lead, &e) != MM_OK) return;
    for (int i = 0; i < lead; i++) S.prefix[i] = r->pr.items[i].token;
    S.n_prefix = lead;
}

/* Prefills r into slot s; 1 if it is finished already (first token ends it, or an error). */
static int prefill(bgen_req *r, int s) {
    mm_err e;
    mm_code rc;
    r->slot = s;
    S.slot[s] = r;
    /* the shared prefix: whole groups of four rows (Q4_K's row grouping stays that of a lone
     * run) and never the last prompt row (it gives the first logits) */
    const int lead = mmp_prompt_lead(&r->pr);
    int same = 0;
    while (same < S.n_prefix && same < lead && S.prefix[same] == r->pr.items[same].token) same++;
    int reuse = (same < lead ? same : lead - 1);
    if ((size_t)reuse >= r->pr.n) reuse = (int)r->pr.n - 1;
    if (reuse > mm_ctx_prefix_limit(S.ctx)) reuse = mm_ctx_prefix_limit(S.ctx);
    reuse = reuse / 4 * 4;
    if (reuse >= 4 && mm_ctx_seq_copy(S.ctx, S.parallel, s, reuse, &e) != MM_OK) reuse = 0;
    if (reuse < 4) {
        reuse = 0;
        mm_ctx_clear(S.ctx, s);
    }
    rc = mmp_prompt_decode_at(S.ctx, r->ms->model, r->ms->proj, &r->pr, s, reuse, NULL, &e);
    pthread_mutex_lock(&mu);
    S.st.prefill_tokens += (int64_t)r->pr.n_pos - reuse;
    S.st.prefix_tokens += reuse;
    pthread_mutex_unlock(&mu);
    if (rc) {
        finish(r, rc, &e);
        return 1;
    }
    /* (kept while its cells are whole: no later batch of this prompt dropped window cells of it) */
    int keep = lead < mm_ctx_prefix_limit(S.ctx) ? lead : mm_ctx_prefix_limit(S.ctx);
    if (reuse < keep && keep >= 8) store_prefix(r, s, keep);
    r->pos = (int32_t)r->pr.n_pos;
    int32_t t = mm_sample(r->smp, mm_ctx_logits(S.ctx, 0), r->hist, 0);
    if (take_token(r, t, &e, &rc)) {
        finish(r, rc, &e);
        return 1;
    }
    return 0;
}

/* One decode step: a row for every live slot.  Returns 0, or the error every live request gets. */
static mm_code step(mm_err *e) {
    const int P = S.parallel;
    int32_t tok[P], pos[P], seq[P];
    int8_t want[P];
    bgen_req *rows[P];
    int n = 0;
    for (int s = 0; s < P; s++) {
        bgen_req *r = S.slot[s];
        if (!r) continue;
        tok[n] = r->tok, pos[n] = r->pos, seq[n] = s, want[n] = 1;
        rows[n++] = r;
    }
    if (!n) return MM_OK;
    mm_batch b = {n, tok, NULL, pos, seq, want};
    mm_code rc = mm_decode(S.ctx, &b, e);
    pthread_mutex_lock(&mu);
    S.st.decode_steps++;
    S.st.decode_rows += n;
    if (n > S.st.max_live) S.st.max_live = n;
    pthread_mutex_unlock(&mu);
    if (rc) {
        for (int i = 0; i < n; i++) finish(rows[i], rc, e);
        return rc;
    }
    for (int i = 0; i < n; i++) {
        bgen_req *r = rows[i];
        r->pos++;
        mm_err re;
        mm_code trc;
        int32_t t = mm_sample(r->smp, mm_ctx_logits(S.ctx, i), r->hist, r->n_gen);
        if (take_token(r, t, &re, &trc)) finish(r, trc, &re);
    }
    return MM_OK;
}

static int live(void) {
    int n = 0;
    for (int s = 0; s < S.parallel; s++) n += S.slot[s] != NULL;
    return n;
}

static int free_slot(void) {
    for (int s = 0; s < S.parallel; s++)
        if (!S.slot[s]) return s;
    return -1;
}

static void *scheduler(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!S.head && !live() && !S.stop) pthread_cond_wait(&wake_cv, &mu);
        if (!S.head && !live() && S.stop) break;
        /* admit pending requests into free slots (continuous batching) */
        while (S.head && free_slot() >= 0) {
            bgen_req *r = S.head;
            if (!fits(r) && live()) break; /* a larger context: once the live ones are done */
            S.head = r->next;
            if (!S.head) S.tail = NULL;
            pthread_mutex_unlock(&mu);
            mm_err e;
            mm_code rc = ensure_ctx(r, &e);
            if (rc) finish(r, rc, &e);
            else prefill(r, free_slot());
            pthread_mutex_lock(&mu);
        }
        if (!live()) continue;
        pthread_mutex_unlock(&mu);
        mm_err e;
        step(&e);
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* ---- the requester side ---- */

static mm_code start_locked(const model_set *ms, mm_err *e) {
    if (S.running) {
        if (S.ms != ms) return mm_err_set(e, MM_ESTATE, "batched generation: one model per process");
        return MM_OK;
    }
    S.ms = ms;
    S.parallel = ms->parallel > 1 ? ms->parallel : 1;
    S.stop = 0;
    S.slot = calloc((size_t)S.parallel, sizeof *S.slot);
    if (!S.slot) return mm_err_set(e, MM_ENOMEM, "out of memory");
    if (pthread_create(&S.th, NULL, scheduler, NULL) != 0) {
        free(S.slot);
        S.slot = NULL;
        return mm_err_set(e, MM_ENOMEM, "cannot start the batching thread");
    }
    S.running = 1;
    return MM_OK;
}

mm_code bgen_generate(const model_set *ms, const char *user, const mmp_input *ins, int n_ins, int n_predict,
                      char **out, size_t *out_len, mm_err *e) {
    *out = NULL;
    *out_len = 0;
    if (n_predict < 1) n_predict = 1;
    bgen_req *r = calloc(1, sizeof *r);
    char *text = NULL;
    mm_code rc = MM_OK;
    if (!r) return mm_err_set(e, MM_ENOMEM, "out of memory");
    r->ms = ms;
    r->slot = -1;
    r->n_predict = n_predict;
    mm_sampler_params sp;
    mm_sampler_params_default(&sp);
    sp.temp = 0; /* greedy: the same answer for the same input and model, batched or not */
    if (!(r->smp = mm_sampler_open(&sp, mm_model_n_vocab(ms->model))) ||
        !(r->hist = malloc((size_t)(n_predict + 1) * sizeof *r->hist)))
        rc = mm_err_set(e, MM_ENOMEM, "out of memory");
    mm_chat_msg msg = {"user", user};
    if (!rc) rc = mm_chat_format(ms->model, &msg, 1, 1, 0, &text, e);
    if (!rc) { /* the media are encoded here, one requester at a time, beside the scheduler's decoding */
        pthread_mutex_lock(&build_mu);
        rc = mmp_prompt_build(ms->tok, ms->proj, text, 0, 1, ins, n_ins, ms->threads, &r->pr, e);
        if (!rc) rc = mmp_prompt_encode_audio(&r->pr, ms->proj, e);
        pthread_mutex_unlock(&build_mu);
    }
    free(text);
    if (!rc && r->pr.n == 0) rc = mm_err_set(e, MM_EINVAL, "empty prompt");
    if (rc) {
        req_free(r);
        return rc;
    }
    pthread_mutex_lock(&mu);
    rc = start_locked(ms, e);
    if (!rc) {
        if (S.tail) S.tail->next = r;
        else S.head = r;
        S.tail = r;
        S.st.requests++;
        pthread_cond_signal(&wake_cv);
        while (!r->done) pthread_cond_wait(&done_cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    if (!rc && r->rc) {
        rc = r->rc;
        mm_err_set(e, r->err.code, "%s", r->err.msg);
    }
    if (!rc) {
        if (!r->buf && !(r->buf = malloc(1))) rc = mm_err_set(e, MM_ENOMEM, "out of memory");
        else {
            r->buf[r->len] = 0;
            *out = r->buf;
            *out_len = r->len;
            r->buf = NULL;
        }
    }
    req_free(r);
    return rc;
}

void bgen_shutdown(void) {
    pthread_mutex_lock(&mu);
    if (!S.running) {
        pthread_mutex_unlock(&mu);
        return;
    }
    S.stop = 1;
    pthread_cond_signal(&wake_cv);
    pthread_mutex_unlock(&mu);
    pthread_join(S.th, NULL);
    mm_ctx_close(S.ctx);
    free(S.slot);
    free(S.prefix);
    pthread_mutex_lock(&mu);
    S.ctx = NULL;
    S.slot = NULL;
    S.prefix = NULL;
    S.n_prefix = S.cap_prefix = S.n_ctx = S.n_batch = 0;
    S.running = 0;
    S.ms = NULL;
    pthread_mutex_unlock(&mu);
}

void bgen_stats_get(bgen_stats *out) {
    pthread_mutex_lock(&mu);
    *out = S.st;
    pthread_mutex_unlock(&mu);
}
