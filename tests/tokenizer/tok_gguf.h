/*
 * tests/tokenizer/tok_gguf.h — builds small vocabulary-only GGUF files in memory for the tokenizer
 * tests (v3, no tensors): scalar and array keys appended one by one, then opened with
 * mm_gguf_open_memory.  Aborts on allocation failure (tests only).
 */
#ifndef MM_TOK_GGUF_H
#define MM_TOK_GGUF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct tg {
    uint8_t *p;
    size_t n, cap;
    uint64_t n_kv;
} tg;

static void tg_bytes(tg *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void tg_le(tg *b, uint64_t v, int n) {
    uint8_t t[8];
    for (int i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    tg_bytes(b, t, (size_t)n);
}
static void tg_strn(tg *b, const char *s, size_t n) {
    tg_le(b, n, 8);
    tg_bytes(b, s, n);
}
static void tg_init(tg *b) {
    memset(b, 0, sizeof *b);
    tg_bytes(b, "GGUF", 4);
    tg_le(b, 3, 4);
    tg_le(b, 0, 8); /* tensors */
    tg_le(b, 0, 8); /* n_kv, patched by tg_finish */
}
static void tg_key(tg *b, const char *k, uint32_t type) {
    tg_strn(b, k, strlen(k));
    tg_le(b, type, 4);
    b->n_kv++;
}
static void tg_kv_str(tg *b, const char *k, const char *v) { tg_key(b, k, 8); tg_strn(b, v, strlen(v)); }
static void tg_kv_u32(tg *b, const char *k, uint32_t v) { tg_key(b, k, 4); tg_le(b, v, 4); }
static void tg_kv_bool(tg *b, const char *k, int v) { tg_key(b, k, 7); tg_le(b, v != 0, 1); }
/* Array of n strings (lengths in lens, or strlen when lens is NULL). */
static void tg_kv_strs(tg *b, const char *k, const char *const *v, const size_t *lens, size_t n) {
    tg_key(b, k, 9);
    tg_le(b, 8, 4);
    tg_le(b, n, 8);
    for (size_t i = 0; i < n; i++) tg_strn(b, v[i], lens ? lens[i] : strlen(v[i]));
}
/* Array of n 4-byte elements of GGUF type `type` (4 u32, 5 i32, 6 f32). */
static void tg_kv_arr32(tg *b, const char *k, uint32_t type, const void *v, size_t n) {
    tg_key(b, k, 9);
    tg_le(b, type, 4);
    tg_le(b, n, 8);
    const uint8_t *p = v;
    for (size_t i = 0; i < n; i++) {
        uint32_t x;
        memcpy(&x, p + 4 * i, 4);
        tg_le(b, x, 4);
    }
}
static void tg_finish(tg *b) {
    while (b->n % 32) tg_le(b, 0, 1); /* the (empty) data section starts aligned */
    for (int i = 0; i < 8; i++) b->p[16 + i] = (uint8_t)(b->n_kv >> (8 * i));
}

#endif
