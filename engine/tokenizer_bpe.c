/*
 * engine/tokenizer_bpe.c — Gemma 4 BPE as llama.cpp runs it (llm_tokenizer_bpe_session with
 * pre-type GEMMA4, byte_encode = false): the merges table, the newline pre-tokeniser, ranked
 * merges over code points, and the <0xXX> byte fallback.
 *
 * Merge strings "left right" are split at the first ' ' from byte 1 on (word.find(' ', 1)); every
 * left part, right part and their concatenation is interned (a token's id, else an id past the
 * vocabulary), so a merge is a lookup of two interned ids.  A symbol whose text was never interned
 * is no token and can take part in no merge.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

#define K_MERGES "tokenizer.ggml.merges"

/* Interned id of s[0..n): its token id, else n_vocab + its index among the other strings;
 * -1 if it is neither (and insert is 0). */
static int32_t intern_find(const mm_tokenizer *t, const char *s, size_t n, uint32_t h) {
    int32_t id = mm_strtab_find(&t->text_ix, &t->text, s, n, h);
    if (id >= 0) return id;
    id = mm_strtab_find(&t->bpe_ix, &t->bpe_str, s, n, h);
    return id >= 0 ? t->n_vocab + id : -1;
}

static mm_code intern(mm_tokenizer *t, const char *a, size_t na, const char *b, size_t nb, int32_t *id) {
    char stackbuf[256];
    const char *s = a;
    char *heap = NULL;
    size_t n = na + nb;
    if (nb) {
        char *buf = n <= sizeof stackbuf ? stackbuf : (heap = malloc(n));
        if (!buf) return MM_ENOMEM;
        memcpy(buf, a, na);
        memcpy(buf + na, b, nb);
        s = buf;
    }
    uint32_t h = mm_tok_hash(s, n);
    int32_t f = intern_find(t, s, n, h);
    mm_code rc = MM_OK;
    if (f < 0) {
        int32_t k;
        if (!(rc = mm_strs_add2(&t->bpe_str, s, n, NULL, 0, &k))) rc = mm_strtab_insert(&t->bpe_ix, k, h);
        f = t->n_vocab + k;
        if (f < 0) rc = MM_ELIMIT; /* n_vocab + k overflowed */
    }
    free(heap);
    *id = f;
    return rc;
}

mm_code mm_tok_load_merges(mm_tokenizer *t, const mm_gguf *g, mm_err *e) {
    int64_t mi = mm_gguf_find_key(g, K_MERGES);
    if (mi < 0) return mm_err_set(e, MM_ENOTFOUND, "tokenizer: no %s in the file (gemma4 BPE needs them)", K_MERGES);
    if (mm_gguf_kv_type(g, mi) != MM_GGUF_ARRAY || mm_gguf_arr_type(g, mi) != MM_GGUF_STRING)
        return mm_err_set(e, MM_ECORRUPT, "tokenizer: %s is not an array of strings", K_MERGES);
    uint64_t n = mm_gguf_arr_len(g, mi);
    if (n > (uint64_t)INT32_MAX) return mm_err_set(e, MM_ELIMIT, "tokenizer: %s has too many entries", K_MERGES);
    mm_code rc;
    if ((rc = mm_strtab_init(&t->bpe_ix, 1024)) || (rc = mm_pairtab_init(&t->merges, (size_t)n)))
        return mm_err_set(e, rc, "tokenizer: out of memory");
    t->n_merges = (int32_t)n;
    for (uint64_t i = 0; i < n; i++) {
        mm_str w;
        if ((rc = mm_gguf_arr_str(g, mi, i, &w, e))) return rc;
        const char *sp = w.n > 1 ? memchr(w.p + 1, ' ', w.n - 1) : NULL;
        if (!sp) continue; /* llama.cpp records ("", ""), which never matches */
        size_t na = (size_t)(sp - w.p), nb = w.n - na - 1;
        if (nb == 0) continue; /* (left, "") never matches a symbol either */
        int32_t a, b, r;
        if ((rc = intern(t, w.p, na, NULL, 0, &a)) || (rc = intern(t, sp + 1, nb, NULL, 0, &b)) ||
            (rc = intern(t, w.p, na, sp + 1, nb, &r)) || (rc = mm_pairtab_insert(&t->merges, a, b, (int32_t)i, r)))
            return mm_err_set(e, rc, "tokenizer: out of memory while reading %s", K_MERGES);
    }
    return MM_OK;
}

/* Per-call working storage for one word's symbols. */
typedef struct bpe_work {
    size_t *start;
    uint32_t *len;
    int32_t *prev, *next, *sid;
    size_t cap;
    mm_heap heap;
} bpe_work;

static mm_code work_reserve(bpe_work *w, size_t n) {
    if (n <= w->cap) return MM_OK;
    size_t cap = w->cap ? w->cap : 64;
    while (cap < n) cap *= 2;
    void *p;
#define GROW(f) do { p = realloc(w->f, cap * sizeof *w->f); if (!p) return MM_ENOMEM; w->f = p; } while (0)
    GROW(start); GROW(len); GROW(prev); GROW(next); GROW(sid);
#undef GROW
    w->cap = cap;
    return MM_OK;
}

static void work_free(bpe_work *w) {
    free(w->start); free(w->len); free(w->prev); free(w->next); free(w->sid);
    free(w->heap.v);
}

static mm_code add_bigram(const mm_tokenizer *t, bpe_work *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0 || w->sid[l] < 0 || w->sid[r] < 0) return MM_OK;
    int32_t rank, res;
    if (!mm_pairtab_find(&t->merges, w->sid[l], w->sid[r], &rank, &res)) return MM_OK;
    mm_bigram b = {((uint64_t)(uint32_t)rank << 32) | (uint32_t)l, l, r, w->len[l] + w->len[r], res};
    return mm_heap_push(&w->heap, b);
}

static mm_code emit_symbol(const mm_tokenizer *t, const char *s, size_t n, int32_t sid, mm_ivec *out) {
    if (sid >= 0 && sid < t->n_vocab) return mm_ivec_push(out, sid); /* interned ids of tokens are their ids */
    for (size_t i = 0; i < n; i++) { /* byte fallback; a missing byte token is dropped */
        int32_t b = t->byte_tok[(unsigned char)s[i]];
        mm_code rc;
        if (b >= 0 && (rc = mm_ivec_push(out, b))) return rc;
    }
    return MM_OK;
}

static mm_code bpe_word(const mm_tokenizer *t, bpe_work *w, const char *s, size_t n, mm_ivec *out) {
    /* a run of newlines that is itself a token is emitted whole (llama.cpp PR #21343) */
    if (s[0] == '\n') {
        int32_t tok = mm_strtab_find(&t->text_ix, &t->text, s, n, mm_tok_hash(s, n));
        if (tok >= 0) return mm_ivec_push(out, tok);
    }
    mm_code rc = work_reserve(w, n);
    if (rc) return rc;
    int32_t m = 0;
    for (size_t o = 0; o < n;) {
        size_t k = mm_tok_utf8_len((unsigned char)s[o]);
        if (k > n - o) k = n - o;
        w->start[m] = o;
        w->len[m] = (uint32_t)k;
        w->prev[m] = m - 1;
        o += k;
        w->next[m] = o == n ? -1 : m + 1;
        w->sid[m] = intern_find(t, s + w->start[m], k, mm_tok_hash(s + w->start[m], k));
        m++;
    }
    w->heap.n = 0;
    for (int32_t i = 1; i < m; i++)
        if ((rc = add_bigram(t, w, i - 1, i))) return rc;
    while (w->heap.n) {
        mm_bigram b = mm_heap_pop(&w->heap);
        int32_t l = b.left, r = b.right;
        if (w->len[l] == 0 || w->len[r] == 0 || w->len[l] + w->len[r] != b.size) continue; /* stale */
        w->len[l] += w->len[r];
        w->len[r] = 0;
        w->sid[l] = b.res;
        w->next[l] = w->next[r];
        if (w->next[r] >= 0) w->prev[w->next[r]] = l;
        if ((rc = add_bigram(t, w, w->prev[l], l)) || (rc = add_bigram(t, w, l, w->next[l]))) return rc;
    }
    for (int32_t i = 0; i < m; i++)
        if (w->len[i] && (rc = emit_symbol(t, s + w->start[i], w->len[i], w->sid[i], out))) return rc;
    return MM_OK;
}

mm_code mm_tok_bpe(const mm_tokenizer *t, const char *text, size_t n, mm_ivec *out) {
    char *norm;
    size_t nn;
    mm_code rc = mm_tok_utf8_normalize(text, n, &norm, &nn);
    if (rc) return rc;
    bpe_work w = {0};
    /* pre-tokeniser "[^\n]+|[\n]+": runs of newlines and runs of anything else */
    for (size_t i = 0; i < nn && !rc;) {
        size_t j = i;
        int nl = norm[i] == '\n';
        while (j < nn && (norm[j] == '\n') == nl) j++;
        rc = bpe_word(t, &w, norm + i, j - i, out);
        i = j;
    }
    work_free(&w);
    free(norm);
    return rc;
}
