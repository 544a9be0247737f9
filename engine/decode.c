/*
 * engine/decode.c — the text decoder's forward pass over a batch of rows, and
 * the KV cache it appends to (spec §1.6 for Gemma 4, §7.1 for Gemma 3; llama as
 * the plain baseline).
 *
 * Shapes (T = rows in the batch, E = n_embd, per layer hd = head dim, H / Hkv =
 * query / KV heads):  x, h [T][E];  q [T][H*hd];  k, v [T][Hkv*hd];  att [T][H*hd];
 * gate, up [T][n_ff];  ple [T][L*P].  Every row belongs to a sequence and has a
 * position; attention of a row sees the cells of its own sequence at positions
 * <= its own (and, on sliding-window layers, within the window).
 *
 * KV cache: one K and one V array per layer that owns a cache, F32 (the precise mode
 * of the fixtures) or F16: K transposed [Hkv*hd][n] so the scores of sixteen cells come
 * from one vector per dimension, V as [n][Hkv*hd]; KV-shared Gemma 4 layers read the
 * cache of their source layer and own nothing.  Cells come in two sets: the full set
 * (n_ctx per sequence) for global layers, and, for causal models with a sliding window,
 * a window set for the sliding layers that holds only what a later row can still see —
 * each sequence's last n_swa - 1 positions plus one batch — so their cache and their
 * attention loops do not grow with the context.  In each set seq < 0 marks a free cell.
 *
 * Each sequence owns a fixed region of each set (region[k] cells, a multiple of 64, region
 * s starting at s * region[k]); its cells are placed at the lowest free index of its region.
 * So a sequence's cells sit in the same places, and its attention sums run in the same order,
 * whatever the other sequences do: a row's result does not depend on what it is batched with
 * (continuous batching gives the same tokens as one job at a time), and mm_ctx_seq_copy puts
 * a copied prefix exactly where decoding it would have put it.
 *
 * Invariant of the window set: a cell of sequence s at position p0 is dropped only when
 * the batch's first row of s is at q with p0 <= q - n_swa (out of every later row's
 * window, rows coming in increasing position order); dropped[s] records the highest
 * position dropped, and a row whose window would need it is refused, never answered
 * from a cache with holes.  MMPIPE_NO_WINDOW_SET=1 keeps every cell (for comparisons).
 */
#include "engine_int.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One set of cells: what each holds, and where the current batch's rows went. */
typedef struct kv_cells {
    int n;
    int32_t *pos, *seq;            /* per cell; seq < 0: free */
    int32_t *row_cell;             /* [n_batch] the batch's row t -> its cell */
    int32_t *media;                /* per cell: media span (mm_batch_media.media), -1 text */
    int32_t *dropped;              /* window set: [n_seq] highest position dropped, -1 none */
    int window;                    /* 1 for the window set */
    int region;                    /* cells per sequence (n / n_seq) */
} kv_cells;

struct mm_ctx {
    const mm_model *m;
    mm_pool *pool;
    int n_ctx, n_batch, n_seq, n_cells; /* n_cells: the larger set's size */
    void **kc, **vc;               /* per layer, NULL when shared; float or F16 (kv_f16) */
    int kv_f16;
    kv_cells cells[2];             /* [0] full, [1] window (n == 0 when not used) */
    /* scratch, n_batch rows each */
    float *x, *h, *q, *k, *v, *att, *o, *gate, *up, *f, *ple, *ple_tmp, *scores, *qk, *qh;
    float *moe_acc, *moe_in, *moe_rt, *moe_w;
    int32_t *moe_sel, *moe_rows;
    float *logits;                 /* n_logits rows of n_vocab */
    int n_logits, cap_logits;
    mm_hidden_fn hook;
    void *hook_ud;
    int mm_flags;                  /* this call's matmul flags: MM_MM_ROWS_ALONE for a batch of several sequences */
    /* a batch of several sequences: row t is in a whole group of four rows of its sequence's run
     * (Q4_K takes llama.cpp's gemm order there in a lone run), and scratch to gather such rows */
    uint8_t *row_grp;
    int n_grp;                     /* rows with row_grp set */
    int n_batch_rows;              /* rows of the current batch (row_grp's length) */
    float *gx, *gy;
    size_t cap_gx, cap_gy;
};

/* ---------- context ---------- */

static void *xcalloc(size_t n, size_t sz, int *fail) {
    void *p = calloc(n ? n : 1, sz);
    if (!p) *fail = 1;
    return p;
}

/* The cell set a layer's cache lives in (a KV-shared layer: its source layer's). */
static kv_cells *layer_cells(mm_ctx *c, const mm_layer *ly) {
    return c->cells[1].n && c->m->layers[ly->kv_src].is_swa ? &c->cells[1] : &c->cells[0];
}

mm_code mm_ctx_open(const mm_model *m, const mm_ctx_params *p, mm_ctx **out, mm_err *e) {
    *out = NULL;
    if (p->n_ctx <= 0 || p->n_batch <= 0 || p->n_seq <= 0 || p->n_ctx > (1 << 24) || p->n_seq > 4096)
        return mm_err_set(e, MM_EINVAL, "context: bad sizes (n_ctx %d, n_batch %d, n_seq %d)", p->n_ctx,
                          p->n_batch, p->n_seq);
    mm_ctx *c = calloc(1, sizeof *c);
    if (!c) return mm_err_set(e, MM_ENOMEM, "out of memory");
    c->m = m;
    c->n_ctx = p->n_ctx;
    c->n_batch = p->n_batch;
    c->n_seq = p->n_seq;
    /* per-sequence regions rounded up to 64 cells, so every region starts equally aligned */
    const int64_t r0 = ((int64_t)p->n_ctx + 63) / 64 * 64;
    int64_t r1 = m->n_swa > 0 && m->causal && !m->swa_symmetric ? ((int64_t)m->n_swa - 1 + p->n_batch + 63) / 64 * 64 : 0;
    /* the window set whenever the model has one, even where it is not smaller: where a sequence's
     * cells sit must not depend on the context's size (batched and lone runs agree) */
    if (getenv("MMPIPE_NO_WINDOW_SET")) r1 = 0;
    if ((r0 > r1 ? r0 : r1) * p->n_seq > (1 << 28)) {
        free(c);
        return mm_err_set(e, MM_ELIMIT, "context: %d sequences of %d cells is too many cells", p->n_seq, p->n_ctx);
    }
    int fail = 0;
    c->n_cells = (int)((r1 > r0 ? r1 : r0) * p->n_seq); /* the larger set: the score rows' length */
    c->cells[0].n = (int)(r0 * p->n_seq);
    c->cells[0].region = (int)r0;
    c->cells[1].n = (int)(r1 * p->n_seq);
    c->cells[1].region = (int)r1;
    c->cells[1].window = 1;
    for (int k = 0; k < 2; k++) {
        kv_cells *cs = &c->cells[k];
        if (!cs->n) continue;
        cs->pos = xcalloc((size_t)cs->n, sizeof(int32_t), &fail);
        cs->seq = xcalloc((size_t)cs->n, sizeof(int32_t), &fail);
        cs->media = xcalloc((size_t)cs->n, sizeof(int32_t), &fail);
        cs->row_cell = xcalloc((size_t)p->n_batch, sizeof(int32_t), &fail);
        cs->dropped = xcalloc((size_t)p->n_seq, sizeof(int32_t), &fail);
    }
    size_t B = (size_t)p->n_batch, E = (size_t)m->n_embd;
    c->pool = mm_pool_open(p->n_threads > 0 ? p->n_threads : 1);
    if (!c->pool) fail = 1;
    c->kv_f16 = p->kv_f16 != 0;
    size_t esz = c->kv_f16 ? sizeof(uint16_t) : sizeof(float);
    c->kc = xcalloc((size_t)m->n_layer, sizeof(void *), &fail);
    c->vc = xcalloc((size_t)m->n_layer, sizeof(void *), &fail);
    for (int il = 0; il < m->n_layer && !fail; il++) {
        const mm_layer *ly = &m->layers[il];
        if (ly->kv_src != il) continue;
        size_t kd = (size_t)ly->head_dim * ly->n_head_kv, n = (size_t)layer_cells(c, ly)->n;
        c->kc[il] = xcalloc(n * kd, esz, &fail);
        c->vc[il] = xcalloc(n * kd, esz, &fail);
    }
    size_t PL = (size_t)m->n_embd_ple * m->n_layer;
    c->x = xcalloc(B * E, 4, &fail);
    c->h = xcalloc(B * E, 4, &fail);
    c->f = xcalloc(B * E, 4, &fail);
    c->o = xcalloc(B * E, 4, &fail);
    c->q = xcalloc(B * (size_t)m->max_qdim, 4, &fail);
    c->att = xcalloc(B * (size_t)m->max_qdim, 4, &fail);
    c->k = xcalloc(B * (size_t)m->max_kvdim, 4, &fail);
    c->v = xcalloc(B * (size_t)m->max_kvdim, 4, &fail);
    c->gate = xcalloc(B * (size_t)m->max_ff, 4, &fail);
    c->up = xcalloc(B * (size_t)m->max_ff, 4, &fail);
    c->ple = xcalloc(B * PL, 4, &fail);
    c->row_grp = xcalloc(B, 1, &fail);
    c->ple_tmp = xcalloc(B * (PL > E ? PL : E), 4, &fail);
    int gmax = 1;
    for (int il = 0; il < m->n_layer; il++)
        if (m->layers[il].n_head / m->layers[il].n_head_kv > gmax) gmax = m->layers[il].n_head / m->layers[il].n_head_kv;
    const size_t nth = (size_t)mm_pool_threads(c->pool);
    c->scores = xcalloc(nth * (size_t)gmax * (size_t)c->n_cells, 4, &fail);
    c->qk = xcalloc(nth * (size_t)gmax * (size_t)c->n_cells, 4, &fail);
    c->qh = xcalloc(nth * (size_t)gmax * (size_t)m->max_head_dim, 4, &fail);
    if (m->n_expert) {
        c->moe_acc = xcalloc(B * E, 4, &fail);
        c->moe_in = xcalloc(B * E, 4, &fail);
        c->moe_rt = xcalloc(B * (size_t)m->n_expert, 4, &fail);
        c->moe_w = xcalloc(B * (size_t)m->n_expert_used, 4, &fail);
        c->moe_sel = xcalloc(B * (size_t)m->n_expert_used, sizeof(int32_t), &fail);
        c->moe_rows = xcalloc(B, sizeof(int32_t), &fail);
    }
    if (fail) {
        mm_ctx_close(c);
        return mm_err_set(e, MM_ENOMEM, "context: out of memory (n_ctx %d, n_seq %d)", p->n_ctx, p->n_seq);
    }
    mm_ctx_clear(c, -1);
    *out = c;
    return MM_OK;
}

void mm_ctx_close(mm_ctx *c) {
    if (!c) return;
    for (int il = 0; c->kc && il < c->m->n_layer; il++) {
        free(c->kc[il]);
        free(c->vc[il]);
    }
    free(c->kc); free(c->vc);
    for (int k = 0; k < 2; k++) {
        free(c->cells[k].pos); free(c->cells[k].seq); free(c->cells[k].media); free(c->cells[k].row_cell); free(c->cells[k].dropped);
    }
    free(c->x); free(c->h); free(c->f); free(c->o); free(c->q); free(c->att); free(c->k); free(c->v);
    free(c->gate); free(c->up); free(c->ple); free(c->ple_tmp); free(c->scores); free(c->qk); free(c->qh);
    free(c->moe_acc); free(c->moe_in); free(c->moe_rt); free(c->moe_w); free(c->moe_sel); free(c->moe_rows);
    free(c->logits);
    free(c->row_grp);
    free(c->gx);
    free(c->gy);
    mm_pool_close(c->pool);
    free(c);
}

void mm_ctx_clear(mm_ctx *c, int seq) {
    for (int k = 0; k < 2; k++) {
        kv_cells *cs = &c->cells[k];
        for (int i = 0; i < cs->n; i++)
            if (seq < 0 || cs->seq[i] == seq) cs->seq[i] = -1;
        for (int s = 0; cs->n && s < c->n_seq; s++)
            if (seq < 0 || s == seq) cs->dropped[s] = -1;
    }
}

/* Copies one cell's K and V (every layer that owns a cache in set cs) from cell a to cell b. */
static void copy_cell(mm_ctx *c, const kv_cells *cs, int a, int b) {
    const size_t esz = c->kv_f16 ? sizeof(uint16_t) : sizeof(float), n = (size_t)cs->n;
    for (int il = 0; il < c->m->n_layer; il++) {
        const mm_layer *ly = &c->m->layers[il];
        if (ly->kv_src != il || layer_cells(c, ly) != cs) continue;
        const size_t kd = (size_t)ly->head_dim * ly->n_head_kv;
        char *K = c->kc[il], *V = c->vc[il];
        for (size_t d = 0; d < kd; d++) /* K is transposed: [kd][n] */
            memcpy(K + (d * n + (size_t)b) * esz, K + (d * n + (size_t)a) * esz, esz);
        memcpy(V + (size_t)b * kd * esz, V + (size_t)a * kd * esz, kd * esz);
    }
}

int mm_ctx_prefix_limit(const mm_ctx *c) {
    return c->cells[1].n ? c->m->n_swa - 1 : c->n_ctx;
}

mm_code mm_ctx_seq_copy(mm_ctx *c, int src, int dst, int n_pos, mm_err *e) {
    if (src < 0 || dst < 0 || src >= c->n_seq || dst >= c->n_seq || src == dst || n_pos < 0)
        return mm_err_set(e, MM_EINVAL, "context: cannot copy sequence %d to %d", src, dst);
    /* Past the window, or from a window set with holes, the copy would not sit where decoding the
     * prefix again puts it (the next batch would drop cells and fill their places). */
    if (n_pos > mm_ctx_prefix_limit(c) || (c->cells[1].n && c->cells[1].dropped[src] >= 0))
        return mm_err_set(e, MM_ELIMIT, "context: a shared prefix of %d positions is beyond the window (%d)", n_pos,
                          mm_ctx_prefix_limit(c));
    mm_ctx_clear(c, dst);
    for (int k = 0; k < 2; k++) {
        kv_cells *cs = &c->cells[k];
        if (!cs->n) continue;
        const int sb = src * cs->region, db = dst * cs->region;
        for (int i = 0; i < cs->region; i++) {
            if (cs->seq[sb + i] != src || cs->pos[sb + i] >= n_pos) continue;
            cs->seq[db + i] = dst; /* the same place in dst's region: the same summation order */
            cs->pos[db + i] = cs->pos[sb + i];
            cs->media[db + i] = cs->media[sb + i];
            copy_cell(c, cs, sb + i, db + i);
        }
        cs->dropped[dst] = -1; /* the source has no hole (checked above) */
    }
    return MM_OK;
}

void mm_ctx_set_hidden_hook(mm_ctx *c, mm_hidden_fn fn, void *ud) {
    c->hook = fn;
    c->hook_ud = ud;
}

const float *mm_ctx_logits(const mm_ctx *c, int i) {
    if (i < 0 || i >= c->n_logits) return NULL;
    return c->logits + (size_t)i * c->m->n_vocab;
}

/* ---------- attention ---------- */

typedef struct attn_job {
    mm_ctx *c;
    const mm_layer *ly;
    const mm_batch *b;
    const mm_batch_media *md;  /* NULL: text only */
    float scale;          /* on the scores (llama); 1 when Q was scaled */
} attn_job;

/* The visible cells of the query row t (pos p1, seq s1, media span m1 or -1) in set cs:
 * sc[cell] = 0 for visible, -inf for masked; returns the span [*lo, *hi) of visible cells
 * (empty when *hi <= *lo).  A media row ignores causality towards the cells of its own span
 * when the batch's rule says so for this layer (llama.cpp's non-causal media decode); the
 * sliding window still applies. */
static void attn_mask(const mm_ctx *c, const kv_cells *cs, const mm_layer *ly, const mm_batch *b,
                      const mm_batch_media *md, int t, float *sc, int *lo, int *hi) {
    const int n_swa = c->m->n_swa, swa = ly->is_swa && n_swa > 0;
    const int32_t p1 = b->pos[t], s1 = b->seq[t];
    const int32_t m1 = md && (md->attn == MM_MEDIA_BIDIR_ALL || (md->attn == MM_MEDIA_BIDIR_SWA && ly->is_swa))
                           ? md->media[t] : -1;
    *lo = cs->n, *hi = 0;
    const int base = s1 * cs->region, end = base + cs->region; /* other regions hold other sequences */
    for (int cell = base; cell < end; cell++) {
        int32_t p0 = cs->pos[cell];
        int out_of_window = swa && (c->m->swa_symmetric ? (p1 - p0 > n_swa / 2 || p0 - p1 > n_swa / 2)
                                                      : p1 - p0 >= n_swa);
        int causal = c->m->causal && !(m1 >= 0 && cs->media[cell] == m1);
        if (cs->seq[cell] != s1 || (causal && p0 > p1) || out_of_window) {
            sc[cell] = -INFINITY;
        } else {
            sc[cell] = 0; /* visible: filled from the scores */
            if (cell < *lo) *lo = cell;
            *hi = cell + 1;
        }
    }
}

static void attn_task(void *arg, int64_t w0, int64_t w1, int ith) {
    attn_job *j = arg;
    mm_ctx *c = j->c;
    const mm_layer *ly = j->ly;
    const int hd = ly->head_dim, H = ly->n_head, Hkv = ly->n_head_kv, kd = hd * Hkv, qd = hd * H, G = H / Hkv;
    const void *K = c->kc[ly->kv_src], *V = c->vc[ly->kv_src];
    const int f16 = c->kv_f16;
    const kv_cells *cs = layer_cells(c, ly);
    const int n = cs->n; /* cells of this layer's set: K's row stride, the softmax row */
    /* per thread (rows as wide as the largest set): G score rows, G raw-score rows, G query rows (rounded to F16 for an F16
     * cache, as ggml's vec_dot_f16 sees them) */
    float *sc0 = c->scores + (size_t)ith * G * c->n_cells, *raw0 = c->qk + (size_t)ith * G * c->n_cells;
    float *qh0 = c->qh + (size_t)ith * G * hd;
    /* items are (row, KV head) pairs, last row first: causal rows grow longer down the
     * batch, so the longest go first and the threads' chunks end even.  The G query heads
     * of a KV head share its mask and read each K vector once. */
    for (int64_t w = w0; w < w1; w++) {
        int t = j->b->n - 1 - (int)(w / Hkv), hk = (int)(w % Hkv), lo, hi;
        attn_mask(c, cs, ly, j->b, j->md, t, sc0, &lo, &hi);
        const float *qv[64];
        float *raw[64];
        for (int g = 0; g < G; g++) {
            const float *q = c->q + (size_t)t * qd + (size_t)(hk * G + g) * hd;
            if (f16) {
                float *qh = qh0 + (size_t)g * hd;
                mm_round_f16(qh, q, hd);
                q = qh;
            }
            qv[g] = q;
            raw[g] = raw0 + (size_t)g * c->n_cells;
            if (g) memcpy(sc0 + (size_t)g * c->n_cells + lo, sc0 + lo, (size_t)(hi > lo ? hi - lo : 0) * 4);
        }
        /* F16 cache: the fast fused chains; F32 (the precise mode): llama.cpp's exact order */
        if (hi > lo && f16) mm_qk_group(qv, G, (const uint16_t *)K + (size_t)hk * hd * n + lo, 1, n, hd, hi - lo, raw);
        else if (hi > lo) mm_qk_group_ggml(qv, G, (const float *)K + (size_t)hk * hd * n + lo, n, hd, hi - lo, raw);
        float *p[64], *out[64];
        for (int g = 0; g < G; g++) {
            float *sc = sc0 + (size_t)g * c->n_cells;
            for (int cell = lo; cell < hi; cell++)
                if (sc[cell] == 0) sc[cell] = raw[g][cell - lo] * j->scale;
            mm_softmax_span(sc, n, lo, hi);
            p[g] = sc;
            out[g] = c->att + (size_t)t * qd + (size_t)(hk * G + g) * hd;
            if (hi <= lo) memset(out[g], 0, (size_t)hd * sizeof(float));
        }
        if (hi > lo && f16) mm_attn_av_group(out, p, G, lo, hi, (const uint16_t *)V + (size_t)hk * hd, 1, kd, hd);
        else if (hi > lo)
            for (int g = 0; g < G; g++) mm_attn_av_ggml(out[g], p[g], lo, hi, (const float *)V + (size_t)hk * hd, kd, hd);
    }
}

/* ---------- helpers ---------- */

static const float *f32_data(const mm_tensor *t) { return t ? (const float *)t->data : NULL; }

/* ---------- row-parallel element-wise work ---------- */
/* fn(c, job, t0, t1) on rows [t0, t1) of the batch, split over the pool's threads in
 * contiguous chunks; every row's arithmetic is the same whatever the split, so results do
 * not depend on the thread count.  A single row (decoding) runs on the caller. */
typedef void (*rows_fn)(mm_ctx *c, const void *job, int t0, int t1);
typedef struct rows_job {
    mm_ctx *c;
    rows_fn fn;
    const void *job;
    int T;
} rows_job;

static void rows_task(void *arg, int64_t a, int64_t b, int ith) {
    rows_job *r = arg;
    (void)ith;
    r->fn(r->c, r->job, (int)a, (int)b);
}

static void par_rows(mm_ctx *c, int T, rows_fn fn, const void *job) {
    rows_job r = {c, fn, job, T};
    mm_pool_for(c->pool, T, rows_task, &r);
}

typedef struct norm_job {
    float *y;
    const float *x, *w;
    int n, ld;
    float eps;
} norm_job;

static void norm_some(mm_ctx *c, const void *job, int t0, int t1) {
    const norm_job *j = job;
    (void)c;
    for (int t = t0; t < t1; t++) mm_rmsnorm(j->y + (size_t)t * j->ld, j->x + (size_t)t * j->ld, j->w, j->n, j->eps);
}

/* RMSNorm of each of rows rows of width n (in place when y == x), weight w (F32) or none. */
static void norm_rows(mm_ctx *c, float *y, const float *x, const mm_tensor *w, int rows, int n, int ld, float eps) {
    norm_job j = {y, x, f32_data(w), n, ld, eps};
    par_rows(c, rows, norm_some, &j);
}

typedef struct add_job {
    float *x;
    const float *o;
    int E;
} add_job;

static void add_some(mm_ctx *c, const void *job, int t0, int t1) {
    const add_job *j = job;
    (void)c;
    for (size_t i = (size_t)t0 * j->E; i < (size_t)t1 * j->E; i++) j->x[i] += j->o[i];
}

/* x[t] += o[t] for T rows of width E (the residual connections) */
static void add_rows(mm_ctx *c, float *x, const float *o, int T, int E) {
    add_job j = {x, o, E};
    par_rows(c, T, add_some, &j);
}

/* Grows a scratch buffer to n floats. */
static float *grow(float **p, size_t *cap, size_t n) {
    if (n > *cap) {
        float *np = realloc(*p, n * sizeof(float));
        if (!np) return NULL;
        *p = np;
        *cap = n;
    }
    return *p;
}

/* Y = X W^T for T rows.  In a batch of several sequences every row is computed as in a lone run
 * of its sequence: Q4_K rows that are in a whole group of four of their sequence's run are
 * gathered and multiplied together (gemm order), the others alone (gemv order). */
static mm_code mm(mm_ctx *c, const mm_tensor *W, const float *X, int T, int ldx, float *Y, int ldy, mm_err *e) {
    const int64_t N = W->n_rows;
    if (!(c->mm_flags & MM_MM_ROWS_ALONE) || W->type != MM_TYPE_Q4_K || !c->n_grp || T != c->n_batch_rows)
        return mm_matmul_ex(c->pool, W, 0, N, X, T, ldx, Y, ldy, c->mm_flags, e);
    float *gx = grow(&c->gx, &c->cap_gx, (size_t)T * W->ne[0]), *gy = grow(&c->gy, &c->cap_gy, (size_t)T * N);
    if (!gx || !gy) return mm_err_set(e, MM_ENOMEM, "out of memory in matmul (%s)", W->name);
    for (int pass = 0; pass < 2; pass++) { /* pass 0: the grouped rows; pass 1: the rest */
        int n = 0;
        for (int t = 0; t < T; t++)
            if (c->row_grp[t] == (pass == 0))
                memcpy(gx + (size_t)n++ * W->ne[0], X + (size_t)t * ldx, (size_t)W->ne[0] * sizeof(float));
        if (!n) continue;
        mm_code rc = mm_matmul_ex(c->pool, W, 0, N, gx, n, W->ne[0], gy, N, pass ? MM_MM_ROWS_ALONE : 0, e);
        if (rc) return rc;
        n = 0;
        for (int t = 0; t < T; t++)
            if (c->row_grp[t] == (pass == 0)) memcpy(Y + (size_t)t * ldy, gy + (size_t)n++ * N, (size_t)N * sizeof(float));
    }
    return MM_OK;
}

static void hook(mm_ctx *c, const char *name, int layer, const float *d, int rows, int width) {
    if (c->hook) c->hook(c->hook_ud, name, layer, d, rows, width);
}

/* Norm weights must be F32 (as every converter writes them); checked once here. */
static mm_code check_f32(const mm_tensor *t, mm_err *e) {
    if (t && t->type != MM_TYPE_F32)
        return mm_err_set(e, MM_EUNSUPPORTED, "%s: %s norm/scale weights are not supported", t->name,
                          mm_type_name(t->type));
    return MM_OK;
}

/* ---------- blocks ---------- */

/* Per-row work around the Q/K/V projections (row-parallel, par_rows). */
typedef struct qkv_job {
    const mm_layer *ly;
    int il;
    const mm_batch *b;
    const float *ff; /* RoPE frequency factors (global layers of gemma4) or NULL */
} qkv_job;

enum { ROPE_MAX = 1024 }; /* cos/sin of one position: n_rot <= head_dim <= 1024, checked at load */

/* q heads of rows [t0, t1): Q norm, RoPE (cos/sin computed once per row), scale */
static void q_prep(mm_ctx *c, const void *job, int t0, int t1) {
    const qkv_job *j = job;
    const mm_model *m = c->m;
    const mm_layer *ly = j->ly;
    const int hd = ly->head_dim, H = ly->n_head, qd = hd * H;
    float cs[ROPE_MAX];
    for (int t = t0; t < t1; t++) {
        mm_rope_cache(cs, ly->n_rot, j->b->pos[t], ly->rope_base, j->ff);
        for (int hh = 0; hh < H; hh++) {
            float *qv = c->q + (size_t)t * qd + (size_t)hh * hd;
            if (ly->q_norm) mm_rmsnorm(qv, qv, f32_data(ly->q_norm), hd, m->eps);
            mm_rope_apply(qv, ly->n_rot, cs, m->rope_neox);
            if (m->scale_q && m->attn_scale != 1.0f)
                for (int d = 0; d < hd; d++) qv[d] *= m->attn_scale;
        }
    }
}

/* k/v heads of rows [t0, t1): K norm, weightless V norm, RoPE on K, then the cache write
 * (K transposed [dim][cell], V [cell][dim]; F16 rounded to nearest even).  Rows own
 * distinct cells, so threads never write the same element. */
static void kv_prep(mm_ctx *c, const void *job, int t0, int t1) {
    const qkv_job *j = job;
    const mm_model *m = c->m;
    const mm_layer *ly = j->ly;
    const int hd = ly->head_dim, Hkv = ly->n_head_kv, kd = hd * Hkv, il = j->il;
    float cs[ROPE_MAX];
    for (int t = t0; t < t1; t++) {
        mm_rope_cache(cs, ly->n_rot, j->b->pos[t], ly->rope_base, j->ff);
        for (int hh = 0; hh < Hkv; hh++) {
            float *kv = c->k + (size_t)t * kd + (size_t)hh * hd, *vv = c->v + (size_t)t * kd + (size_t)hh * hd;
            if (ly->k_norm) mm_rmsnorm(kv, kv, f32_data(ly->k_norm), hd, m->eps);
            if (m->v_norm) mm_rmsnorm(vv, vv, NULL, hd, m->eps);
            mm_rope_apply(kv, ly->n_rot, cs, m->rope_neox);
        }
        const kv_cells *cs = layer_cells(c, ly);
        const size_t cell = (size_t)cs->row_cell[t], n = (size_t)cs->n;
        const float *kt = c->k + (size_t)t * kd, *vt = c->v + (size_t)t * kd;
        if (c->kv_f16) {
            uint16_t *K16 = c->kc[il], *V16 = c->vc[il];
            for (int d = 0; d < kd; d++) K16[(size_t)d * n + cell] = mm_fp32_to_fp16(kt[d]);
            mm_fp32_to_fp16_row(V16 + cell * kd, vt, kd);
        } else {
            float *K32 = c->kc[il], *V32 = c->vc[il];
            for (int d = 0; d < kd; d++) K32[(size_t)d * n + cell] = kt[d];
            memcpy(V32 + cell * kd, vt, (size_t)kd * sizeof(float));
        }
    }
}

/* Q/K/V projections, norms, RoPE, cache write, attention, output projection:
 * c->o = attn_output @ attention(norm(x)). */
static mm_code attention_block(mm_ctx *c, const mm_layer *ly, int il, const mm_batch *b, const mm_batch_media *md,
                               mm_err *e) {
    const mm_model *m = c->m;
    const int T = b->n, E = m->n_embd, hd = ly->head_dim, H = ly->n_head, Hkv = ly->n_head_kv;
    const int qd = hd * H, kd = hd * Hkv;
    mm_code rc;
    norm_rows(c, c->h, c->x, ly->attn_norm, T, E, E, m->eps);
    hook(c, "attn_norm", il, c->h, T, E);
    if ((rc = mm(c, ly->wq, c->h, T, E, c->q, qd, e))) return rc;
    hook(c, "Qcur", il, c->q, T, qd);
    const float *ff = !ly->is_swa ? m->rope_freqs_f32 : NULL;
    qkv_job qj = {ly, il, b, ff};
    par_rows(c, T, q_prep, &qj);
    if (ly->kv_src == il) {
        if ((rc = mm(c, ly->wk, c->h, T, E, c->k, kd, e))) return rc;
        hook(c, "Kcur", il, c->k, T, kd);
        if (ly->wv) {
            if ((rc = mm(c, ly->wv, c->h, T, E, c->v, kd, e))) return rc;
        } else {
            memcpy(c->v, c->k, (size_t)T * kd * sizeof(float)); /* V = K projection (before norm / rope) */
        }
        par_rows(c, T, kv_prep, &qj);
        hook(c, "Kcur_pos", il, c->k, T, kd);
        hook(c, "Vcur_normed", il, c->v, T, kd);
    }
    hook(c, "Qcur_pos", il, c->q, T, qd);
    attn_job aj = {c, ly, b, md, m->scale_q ? 1.0f : m->attn_scale};
    mm_pool_for(c->pool, (int64_t)T * Hkv, attn_task, &aj);
    hook(c, "kqv_out", il, c->att, T, qd);
    if ((rc = mm(c, ly->wo, c->att, T, qd, c->o, E, e))) return rc;
    if (ly->post_attn_norm) norm_rows(c, c->o, c->o, ly->post_attn_norm, T, E, E, m->eps);
    return MM_OK;
}

typedef struct glu_job {
    float *gate;
    const float *up;
    int F, gelu;
} glu_job;

/* gate[t] = act(gate[t]) * up[t] for rows [t0, t1) of width F (GeGLU, or SwiGLU for llama) */
static void glu_some(mm_ctx *c, const void *job, int t0, int t1) {
    const glu_job *j = job;
    (void)c;
    float *g = j->gate + (size_t)t0 * j->F;
    const float *u = j->up + (size_t)t0 * j->F;
    const size_t n = (size_t)(t1 - t0) * j->F;
    if (j->gelu) {
        mm_geglu(g, u, (int64_t)n);
    } else {
        mm_silu_rows(g, (int64_t)n);
        for (size_t i = 0; i < n; i++) g[i] = g[i] * u[i];
    }
}

/* Dense gated FFN on rows of in (width E): out = down @ (act(gate @ in) * (up @ in)). */
static mm_code ffn(mm_ctx *c, const mm_layer *ly, const float *in, int T, float *out, mm_err *e) {
    const int E = c->m->n_embd, F = ly->n_ff;
    mm_code rc;
    if ((rc = mm(c, ly->ffn_gate, in, T, E, c->gate, F, e)) || (rc = mm(c, ly->ffn_up, in, T, E, c->up, F, e)))
        return rc;
    glu_job gj = {c->gate, c->up, F, c->m->arch != MM_ARCH_LLAMA};
    par_rows(c, T, glu_some, &gj);
    return mm(c, ly->ffn_down, c->gate, T, F, out, E, e);
}

/* Gemma 4 MoE layer (spec §1.5.5, §1.6): shared FFN + top-k routed experts. */
static mm_code moe_block(mm_ctx *c, const mm_layer *ly, const float *attn_out, int T, float *out, mm_err *e) {
    const mm_model *m = c->m;
    const int E = m->n_embd, NE = m->n_expert, K = m->n_expert_used, F = m->n_ff_exp;
    mm_code rc;
    /* shared expert */
    norm_rows(c, c->h, attn_out, ly->ffn_norm, T, E, E, m->eps);
    if ((rc = ffn(c, ly, c->h, T, c->moe_acc, e))) return rc;
    norm_rows(c, c->moe_acc, c->moe_acc, ly->post_ffw_norm_1, T, E, E, m->eps);
    /* router: rms(attn_out) / sqrt(E) * scale, then softmax over experts, top-k */
    const float *rs = f32_data(ly->gate_inp_scale);
    for (int t = 0; t < T; t++) {
        float *r = c->h + (size_t)t * E;
        mm_rmsnorm(r, attn_out + (size_t)t * E, NULL, E, m->eps);
        for (int i = 0; i < E; i++) r[i] = (r[i] * (1.0f / sqrtf((float)E))) * rs[i];
    }
    if ((rc = mm(c, ly->gate_inp, c->h, T, E, c->moe_rt, NE, e))) return rc;
    for (int t = 0; t < T; t++) {
        float *p = c->moe_rt + (size_t)t * NE;
        mm_softmax(p, NE);
        float wsum = 0;
        for (int k = 0; k < K; k++) { /* selection in descending probability, first index on ties */
            int best = -1;
            for (int x = 0; x < NE; x++) {
                int used = 0;
                for (int kk = 0; kk < k; kk++) used |= c->moe_sel[t * K + kk] == x;
                if (!used && (best < 0 || p[x] > p[best])) best = x;
            }
            c->moe_sel[t * K + k] = best;
            c->moe_w[t * K + k] = p[best];
            wsum += p[best];
        }
        if (wsum < 6.103515625e-5f) wsum = 6.103515625e-5f;
        for (int k = 0; k < K; k++) c->moe_w[t * K + k] /= wsum;
    }
    /* routed experts, on norm(attn_out, pre_ffw_norm_2); y accumulated per row in selection order */
    norm_rows(c, c->moe_in, attn_out, ly->pre_ffw_norm_2, T, E, E, m->eps);
    float *y = out; /* [T][E] accumulator for the routed sum */
    memset(y, 0, (size_t)T * E * sizeof(float));
    const float *dscale = f32_data(ly->down_exps_scale);
    for (int k = 0; k < K; k++)
        for (int t = 0; t < T; t++) {
            int ex = c->moe_sel[t * K + k];
            const float *xin = c->moe_in + (size_t)t * E;
            if (ly->gate_up_exps) {
                if ((rc = mm_matmul(c->pool, ly->gate_up_exps, (int64_t)ex * 2 * F, 2 * F, xin, 1, E, c->gate, 2 * F, e)))
                    return rc;
                memcpy(c->up, c->gate + F, (size_t)F * sizeof(float));
            } else {
                if ((rc = mm_matmul(c->pool, ly->gate_exps, (int64_t)ex * F, F, xin, 1, E, c->gate, F, e)) ||
                    (rc = mm_matmul(c->pool, ly->up_exps, (int64_t)ex * F, F, xin, 1, E, c->up, F, e)))
                    return rc;
            }
            for (int i = 0; i < F; i++) c->gate[i] = mm_gelu(c->gate[i]) * c->up[i];
            if ((rc = mm_matmul(c->pool, ly->down_exps, (int64_t)ex * E, E, c->gate, 1, F, c->f, E, e))) return rc;
            float s = dscale ? dscale[ex] : 1.0f, w = c->moe_w[t * K + k];
            float *yt = y + (size_t)t * E;
            for (int i = 0; i < E; i++) yt[i] += (c->f[i] * s) * w;
        }
    norm_rows(c, y, y, ly->post_ffw_norm_2, T, E, E, m->eps);
    for (size_t i = 0; i < (size_t)T * E; i++) out[i] = c->moe_acc[i] + y[i];
    return MM_OK;
}

/* Gemma 4 per-layer inputs (spec §1.6, §1.7): ple[t][l*P..] for every layer. */
static mm_code ple_inputs(mm_ctx *c, const mm_batch *b, mm_err *e) {
    const mm_model *m = c->m;
    const int T = b->n, E = m->n_embd, P = m->n_embd_ple, L = m->n_layer, PL = P * L;
    mm_code rc;
    if ((rc = mm(c, m->ple_model_proj, c->x, T, E, c->ple, PL, e))) return rc;
    const float sP = sqrtf((float)P), sE = 1.0f / sqrtf((float)E), s2 = 1.0f / sqrtf(2.0f);
    for (int t = 0; t < T; t++) {
        float *pr = c->ple + (size_t)t * PL, *tok = c->ple_tmp;
        int32_t id = b->token ? b->token[t] : 0;
        if ((rc = mm_tensor_dequantize_rows(m->ple_tok, id, 1, tok, e))) return rc;
        for (int l = 0; l < L; l++) {
            float *s = pr + (size_t)l * P;
            for (int i = 0; i < P; i++) s[i] *= sE;
            mm_rmsnorm(s, s, f32_data(m->ple_proj_norm), P, m->eps);
            for (int i = 0; i < P; i++) s[i] = (s[i] + tok[l * P + i] * sP) * s2;
        }
    }
    hook(c, "inp_per_layer", -1, c->ple, T, PL);
    return MM_OK;
}

static mm_code ple_block(mm_ctx *c, const mm_layer *ly, int il, int T, mm_err *e) {
    const mm_model *m = c->m;
    const int E = m->n_embd, P = m->n_embd_ple, PL = P * m->n_layer;
    mm_code rc;
    if ((rc = mm(c, ly->ple_gate, c->x, T, E, c->gate, P, e))) return rc;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < P; i++) {
            float *g = c->gate + (size_t)t * P + i;
            *g = mm_gelu(*g) * c->ple[(size_t)t * PL + (size_t)il * P + i];
        }
    if ((rc = mm(c, ly->ple_proj, c->gate, T, P, c->f, E, e))) return rc;
    norm_rows(c, c->f, c->f, ly->ple_post, T, E, E, m->eps);
    hook(c, "per_layer_embd_out", il, c->f, T, E);
    for (size_t i = 0; i < (size_t)T * E; i++) c->x[i] += c->f[i];
    return MM_OK;
}

/* ---------- the pass ---------- */

static mm_code check_batch(mm_ctx *c, const mm_batch *b, mm_err *e) {
    if (b->n <= 0 || b->n > c->n_batch)
        return mm_err_set(e, MM_EINVAL, "decode: %d rows (batch holds 1..%d)", b->n, c->n_batch);
    if (!b->token == !b->embd) return mm_err_set(e, MM_EINVAL, "decode: give tokens or embeddings");
    for (int t = 0; t < b->n; t++) {
        if (b->seq[t] < 0 || b->seq[t] >= c->n_seq || b->pos[t] < 0 || b->pos[t] >= c->n_ctx)
            return mm_err_set(e, MM_EINVAL, "decode: row %d: sequence %d / position %d out of range", t,
                              b->seq[t], b->pos[t]);
        if (b->token && (b->token[t] < 0 || b->token[t] >= c->m->n_vocab))
            return mm_err_set(e, MM_EINVAL, "decode: row %d: token %d out of vocabulary (%d)", t, b->token[t],
                              c->m->n_vocab);
    }
    return MM_OK;
}

/* Window set: frees the cells no row of this batch or a later one can see (a cell of s at
 * p0 <= q - n_swa, q the batch's first position of s), and refuses a row whose window
 * reaches a position already dropped (rows out of order without mm_ctx_clear). */
static mm_code drop_out_of_window(mm_ctx *c, kv_cells *cs, const mm_batch *b, mm_err *e) {
    const int n_swa = c->m->n_swa;
    for (int i = 0; i < cs->n; i++) {
        int s = cs->seq[i];
        if (s < 0) continue;
        int32_t qmin = INT32_MAX;
        for (int t = 0; t < b->n; t++)
            if (b->seq[t] == s && b->pos[t] < qmin) qmin = b->pos[t];
        if (qmin != INT32_MAX && cs->pos[i] <= qmin - n_swa) {
            if (cs->pos[i] > cs->dropped[s]) cs->dropped[s] = cs->pos[i];
            cs->seq[i] = -1;
        }
    }
    for (int t = 0; t < b->n; t++)
        if (cs->dropped[b->seq[t]] >= 0 && cs->dropped[b->seq[t]] > b->pos[t] - n_swa) /* needs > pos - n_swa */
            return mm_err_set(e, MM_EINVAL,
                              "decode: row %d (sequence %d, position %d) needs sliding-window cells already "
                              "dropped; clear the sequence before going back",
                              t, b->seq[t], b->pos[t]);
    return MM_OK;
}

/* Gives each row a free cell of the set (a row replaces an existing cell of its sequence at
 * the same position). */
static mm_code place_rows_in(mm_ctx *c, kv_cells *cs, const mm_batch *b, const mm_batch_media *md, mm_err *e) {
    mm_code rc;
    if (cs->window && (rc = drop_out_of_window(c, cs, b, e))) return rc;
    for (int t = 0; t < b->n; t++) {
        const int base = b->seq[t] * cs->region, end = base + cs->region;
        int cell = -1;
        for (int i = base; i < end; i++)
            if (cs->seq[i] == b->seq[t] && cs->pos[i] == b->pos[t]) { cell = i; break; }
        for (int i = base; cell < 0 && i < end; i++)
            if (cs->seq[i] < 0) cell = i;
        if (cell < 0)
            return mm_err_set(e, MM_ELIMIT, "decode: KV cache full (%d %scells per sequence)", cs->region,
                              cs->window ? "window " : "");
        cs->seq[cell] = b->seq[t];
        cs->pos[cell] = b->pos[t];
        cs->media[cell] = md && md->media[t] >= 0 ? md->media[t] : -1;
        cs->row_cell[t] = cell;
    }
    return MM_OK;
}

static mm_code place_rows(mm_ctx *c, const mm_batch *b, const mm_batch_media *md, mm_err *e) {
    mm_code rc = place_rows_in(c, &c->cells[0], b, md, e);
    if (!rc && c->cells[1].n) rc = place_rows_in(c, &c->cells[1], b, md, e);
    return rc;
}

mm_code mm_decode(mm_ctx *c, const mm_batch *b, mm_err *e) { return mm_decode_media(c, b, NULL, e); }

mm_code mm_decode_media(mm_ctx *c, const mm_batch *b, const mm_batch_media *md, mm_err *e) {
    const mm_model *m = c->m;
    const int T = b->n, E = m->n_embd;
    mm_code rc;
    if ((rc = check_batch(c, b, e)) || (rc = place_rows(c, b, md, e))) return rc;
    if ((rc = check_f32(m->output_norm, e))) return rc;
    /* rows of several sequences (continuous batching): each row computed as if decoded alone */
    c->mm_flags = 0;
    c->n_grp = 0;
    c->n_batch_rows = T;
    for (int t = 1; t < T; t++)
        if (b->seq[t] != b->seq[0]) c->mm_flags = MM_MM_ROWS_ALONE;
    for (int t0 = 0; c->mm_flags && t0 < T;) { /* runs of rows of one sequence, groups of four from their start */
        int t1 = t0;
        while (t1 < T && b->seq[t1] == b->seq[t0]) t1++;
        const int whole = t0 + (t1 - t0) / 4 * 4;
        for (int t = t0; t < t1; t++) c->n_grp += c->row_grp[t] = t < whole;
        t0 = t1;
    }
    /* input rows: token embeddings * embd_scale, or the given embeddings unscaled */
    for (int t = 0; t < T; t++) {
        float *x = c->x + (size_t)t * E;
        if (b->token) {
            if ((rc = mm_tensor_dequantize_rows(m->tok_embd, b->token[t], 1, x, e))) return rc;
            if (m->embd_scale != 1.0f)
                for (int i = 0; i < E; i++) x[i] *= m->embd_scale;
        } else {
            memcpy(x, b->embd + (size_t)t * E, (size_t)E * sizeof(float));
        }
    }
    hook(c, "inp_scaled", -1, c->x, T, E);
    if (m->n_embd_ple && (rc = ple_inputs(c, b, e))) return rc;
    for (int il = 0; il < m->n_layer; il++) {
        const mm_layer *ly = &m->layers[il];
        if ((rc = check_f32(ly->attn_norm, e)) || (rc = check_f32(ly->ffn_norm, e)) ||
            (rc = check_f32(ly->q_norm, e)) || (rc = check_f32(ly->post_attn_norm, e)))
            return rc;
        if ((rc = attention_block(c, ly, il, b, md, e))) return rc;
        add_rows(c, c->x, c->o, T, E); /* x = attn_out */
        hook(c, "attn_out", il, c->x, T, E);
        if (ly->gate_inp) {
            if ((rc = moe_block(c, ly, c->x, T, c->o, e))) return rc;
        } else {
            norm_rows(c, c->h, c->x, ly->ffn_norm, T, E, E, m->eps);
            hook(c, "ffn_norm", il, c->h, T, E);
            if ((rc = ffn(c, ly, c->h, T, c->o, e))) return rc;
            hook(c, "ffn_out", il, c->o, T, E);
        }
        if (ly->post_ffw_norm) norm_rows(c, c->o, c->o, ly->post_ffw_norm, T, E, E, m->eps);
        hook(c, "ffn_post_norm", il, c->o, T, E);
        add_rows(c, c->x, c->o, T, E);
        hook(c, "pe_in", il, c->x, T, E);
        if (ly->ple_gate && (rc = ple_block(c, ly, il, T, e))) return rc;
        if (ly->out_scale) {
            float s = f32_data(ly->out_scale)[0];
            for (size_t i = 0; i < (size_t)T * E; i++) c->x[i] *= s;
        }
        hook(c, "l_out", il, c->x, T, E);
    }
    norm_rows(c, c->h, c->x, m->output_norm, T, E, E, m->eps);
    hook(c, "result_norm", -1, c->h, T, E);
    /* logits of the rows that want them */
    int n_out = 0;
    for (int t = 0; t < T; t++)
        if (b->logits && b->logits[t]) memmove(c->h + (size_t)n_out++ * E, c->h + (size_t)t * E, (size_t)E * 4);
    c->n_logits = 0;
    if (!n_out) return MM_OK;
    if (n_out > c->cap_logits) { /* grows only: steady-state decoding does not allocate */
        float *nl = realloc(c->logits, (size_t)n_out * m->n_vocab * sizeof(float));
        if (!nl) return mm_err_set(e, MM_ENOMEM, "out of memory for %d rows of logits", n_out);
        c->logits = nl;
        c->cap_logits = n_out;
    }
    if ((rc = mm(c, m->output, c->h, n_out, E, c->logits, m->n_vocab, e))) return rc;
    if (m->softcap > 0) {
        const float s = m->softcap;
        for (size_t i = 0; i < (size_t)n_out * m->n_vocab; i++) c->logits[i] = s * tanhf(c->logits[i] / s);
    }
    c->n_logits = n_out;
    return MM_OK;
}

/* ---------- sentence embeddings (gemma-embedding) ---------- */

int mm_model_embd_dim(const mm_model *m) {
    if (m->dense_3) return (int)m->dense_3->ne[1];
    if (m->dense_2) return (int)m->dense_2->ne[1];
    return m->n_embd;
}

mm_code mm_embed(mm_ctx *c, const int32_t *tokens, int n, float *out, mm_err *e) {
    return mm_embed_batch(c, &tokens, &n, 1, out, e);
}

/* Pooling and dense projections of sequence k's rows h[t0, t0 + n) into out. */
static mm_code embed_pool(mm_ctx *c, int t0, int n, float *out, mm_err *e) {
    const mm_model *m = c->m;
    const int E = m->n_embd;
    const float *h = c->h + (size_t)t0 * E;
    float *pooled = c->f;
    if (m->pooling == 1) { /* mean, as ggml's mul_mat with a 1/n column */
        const float inv = 1.0f / (float)n;
        for (int i = 0; i < E; i++) {
            float s = 0;
            for (int t = 0; t < n; t++) s += h[(size_t)t * E + i] * inv;
            pooled[i] = s;
        }
    } else {
        memcpy(pooled, h + (size_t)(m->pooling == 2 ? 0 : n - 1) * E, (size_t)E * 4);
    }
    if (!m->dense_2) {
        memcpy(out, pooled, (size_t)E * 4);
        return MM_OK;
    }
    float *mid = c->gate;
    mm_code rc;
    if ((rc = mm(c, m->dense_2, pooled, 1, E, mid, (int)m->dense_2->ne[1], e))) return rc;
    if (!m->dense_3) {
        memcpy(out, mid, (size_t)m->dense_2->ne[1] * 4);
        return MM_OK;
    }
    return mm(c, m->dense_3, mid, 1, (int)m->dense_2->ne[1], out, (int)m->dense_3->ne[1], e);
}

mm_code mm_embed_batch(mm_ctx *c, const int32_t *const *tokens, const int *n, int n_seqs, float *out, mm_err *e) {
    const mm_model *m = c->m;
    if (m->arch != MM_ARCH_GEMMA_EMBED)
        return mm_err_set(e, MM_EUNSUPPORTED, "embed: %s is not an embedding model", m->arch_name);
    if (m->pooling == 0) return mm_err_set(e, MM_EUNSUPPORTED, "embed: the model has no pooling");
    if (n_seqs < 1 || n_seqs > c->n_seq)
        return mm_err_set(e, MM_ELIMIT, "embed: %d texts at once (this context takes 1..%d)", n_seqs, c->n_seq);
    int total = 0;
    for (int k = 0; k < n_seqs; k++) {
        if (n[k] <= 0 || n[k] > c->n_batch || n[k] > c->n_ctx)
            return mm_err_set(e, MM_ELIMIT, "embed: %d tokens (this context takes 1..%d)", n[k],
                              c->n_batch < c->n_ctx ? c->n_batch : c->n_ctx);
        total += n[k];
    }
    if (total > c->n_batch)
        return mm_err_set(e, MM_ELIMIT, "embed: %d tokens in all (this context takes %d per call)", total, c->n_batch);
    int32_t *tok = malloc((size_t)total * 4), *pos = malloc((size_t)total * 4), *seq = malloc((size_t)total * 4);
    if (!tok || !pos || !seq) {
        free(tok);
        free(pos);
        free(seq);
        return mm_err_set(e, MM_ENOMEM, "out of memory");
    }
    for (int k = 0, r = 0; k < n_seqs; k++) /* sequence k's rows together, as a lone run has them */
        for (int t = 0; t < n[k]; t++, r++) tok[r] = tokens[k][t], pos[r] = t, seq[r] = k;
    for (int k = 0; k < n_seqs; k++) mm_ctx_clear(c, k);
    mm_batch b = {total, tok, NULL, pos, seq, NULL};
    mm_code rc = mm_decode(c, &b, e); /* no logits: c->h keeps result_norm of every row */
    for (int k = 0; k < n_seqs; k++) mm_ctx_clear(c, k);
    free(tok);
    free(pos);
    free(seq);
    const int D = mm_model_embd_dim(m);
    for (int k = 0, t0 = 0; !rc && k < n_seqs; t0 += n[k++]) rc = embed_pool(c, t0, n[k], out + (size_t)k * D, e);
    return rc;
}
