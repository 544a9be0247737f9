/*
 * engine/tokenizer_spm.c — SentencePiece-style tokenisation as llama.cpp's
 * llm_tokenizer_spm_session does it (Llama, Gemma 3), on one raw fragment whose spaces are
 * already U+2581:
 *   1. one symbol per UTF-8 sequence by lead byte (unicode_len_utf8, truncated at the end; bytes
 *      are not validated);
 *   2. repeatedly merge the adjacent pair whose concatenation is a vocabulary token (any type)
 *      with the highest score, leftmost first on ties;
 *   3. each final symbol is its token, or else its bytes as <0xXX> tokens (else the 1-byte token).
 * llama.cpp's rev_merge re-segmentation can never trigger (a merged symbol is always a token, an
 * unmerged one is never a recorded pair), so it is not reproduced.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

/* Orders floats ascending as unsigned integers; -0 == +0 as in C comparisons. */
static uint32_t float_order(float f) {
    if (f == 0.0f) f = 0.0f;
    uint32_t b;
    memcpy(&b, &f, 4);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

typedef struct spm_work {
    size_t *start;
    uint32_t *len;
    int32_t *prev, *next;
    mm_heap heap;
} spm_work;

static mm_code try_bigram(const mm_tokenizer *t, spm_work *w, const char *text, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return MM_OK;
    size_t n = (size_t)w->len[l] + w->len[r];
    if (n > t->max_token_len) return MM_OK;
    const char *s = text + w->start[l];
    int32_t tok = mm_strtab_find(&t->text_ix, &t->text, s, n, mm_tok_hash(s, n));
    if (tok < 0) return MM_OK;
    /* highest score first: invert the score's order */
    uint64_t key = ((uint64_t)(~float_order(t->score[tok])) << 32) | (uint32_t)l;
    mm_bigram b = {key, l, r, (uint32_t)n, tok};
    return mm_heap_push(&w->heap, b);
}

static mm_code emit(const mm_tokenizer *t, const char *s, size_t n, mm_ivec *out) {
    int32_t tok = mm_strtab_find(&t->text_ix, &t->text, s, n, mm_tok_hash(s, n));
    if (tok >= 0) return mm_ivec_push(out, tok);
    for (size_t i = 0; i < n; i++) {
        /* llama.cpp throws when neither <0xXX> nor the 1-byte token exists; <unk> here (or nothing) */
        int32_t b = t->byte_tok_spm[(unsigned char)s[i]];
        if (b < 0) b = t->unk;
        mm_code rc;
        if (b >= 0 && (rc = mm_ivec_push(out, b))) return rc;
    }
    return MM_OK;
}

mm_code mm_tok_spm(const mm_tokenizer *t, const char *text, size_t n, mm_ivec *out) {
    if (n == 0) return MM_OK;
    if (n >= INT32_MAX) return MM_ELIMIT;
    spm_work w = {0};
    mm_code rc = MM_ENOMEM;
    w.start = malloc(n * sizeof *w.start);
    w.len = malloc(n * sizeof *w.len);
    w.prev = malloc(n * sizeof *w.prev);
    w.next = malloc(n * sizeof *w.next);
    if (!w.start || !w.len || !w.prev || !w.next) goto done;
    int32_t m = 0;
    for (size_t o = 0; o < n;) {
        size_t k = mm_tok_utf8_len((unsigned char)text[o]);
        if (k > n - o) k = n - o;
        w.start[m] = o;
        w.len[m] = (uint32_t)k;
        w.prev[m] = m - 1;
        o += k;
        w.next[m] = o == n ? -1 : m + 1;
        m++;
    }
    rc = MM_OK;
    for (int32_t i = 1; i < m && !rc; i++) rc = try_bigram(t, &w, text, i - 1, i);
    while (!rc && w.heap.n) {
        mm_bigram b = mm_heap_pop(&w.heap);
        int32_t l = b.left, r = b.right;
        if (w.len[l] == 0 || w.len[r] == 0 || w.len[l] + w.len[r] != b.size) continue; /* stale */
        w.len[l] += w.len[r];
        w.len[r] = 0;
        w.next[l] = w.next[r];
        if (w.next[r] >= 0) w.prev[w.next[r]] = l;
        rc = try_bigram(t, &w, text, w.prev[l], l);
        if (!rc) rc = try_bigram(t, &w, text, l, w.next[l]);
    }
    for (int32_t i = 0; i != -1 && !rc; i = w.next[i]) rc = emit(t, text + w.start[i], w.len[i], out);
done:
    free(w.start);
    free(w.len);
    free(w.prev);
    free(w.next);
    free(w.heap.v);
    return rc;
}
