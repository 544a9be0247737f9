/*
 * tests/engine/gguf_build.h — a small in-memory GGUF writer for tests, so the
 * hostile-input tests need neither Python nor ../shared.  Records where each
 * field went so tests can corrupt exactly one of them.
 */
#ifndef MM_GGUF_BUILD_H
#define MM_GGUF_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct gb {
    uint8_t *p;
    size_t n, cap;
} gb;

static void gb_bytes(gb *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void gb_le(gb *b, uint64_t v, int n) {
    uint8_t t[8];
    for (int i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
    gb_bytes(b, t, (size_t)n);
}
static size_t gb_u8(gb *b, uint8_t v) { size_t at = b->n; gb_le(b, v, 1); return at; }
static size_t gb_u32(gb *b, uint32_t v) { size_t at = b->n; gb_le(b, v, 4); return at; }
static size_t gb_u64(gb *b, uint64_t v) { size_t at = b->n; gb_le(b, v, 8); return at; }
/* Returns the offset of the length field; the bytes follow it. */
static size_t gb_str(gb *b, const char *s) {
    size_t at = gb_u64(b, strlen(s));
    gb_bytes(b, s, strlen(s));
    return at;
}
static void gb_pad(gb *b, size_t align) { while (b->n % align) gb_u8(b, 0); }
static void gb_patch(gb *b, size_t at, uint64_t v, int n) {
    for (int i = 0; i < n; i++) b->p[at + i] = (uint8_t)(v >> (8 * i));
}

/* Field offsets of the standard test file made by gb_standard(). */
typedef struct gb_layout {
    size_t version, n_t, n_kv;
    size_t key_len[6], key_type[6];
    size_t align_val, arr_type, arr_n, str0_len, bool_val, dup_key_last;
    size_t name_len[3], name0[3], ndims[3], ne[3][2], type[3], off[3];
    size_t data_offset, size;
} gb_layout;

/*
 * The standard file (v3, alignment 32, 6 keys, 3 tensors, no trailing padding,
 * so cutting any byte makes it invalid):
 *   general.architecture = "llama"; general.alignment = u32 32;
 *   tokenizer.ggml.tokens = ["<pad>", "a", "bc"]; llama.block_count = u32 2;
 *   k.aaaa = bool 1; k.aaab = f32 1.5
 *   "a" F32 [8, 2] @0 (64 B); "b" Q8_0 [32, 1] @64 (34 B); tname2 F32 [8] @128 (32 B)
 */
static void gb_standard(gb *b, gb_layout *L, const char *tname2) {
    memset(L, 0, sizeof *L);
    b->n = 0;
    gb_bytes(b, "GGUF", 4);
    L->version = gb_u32(b, 3);
    L->n_t = gb_u64(b, 3);
    L->n_kv = gb_u64(b, 6);
    L->key_len[0] = gb_str(b, "general.architecture");
    L->key_type[0] = gb_u32(b, 8);
    gb_str(b, "llama");
    L->key_len[1] = gb_str(b, "general.alignment");
    L->key_type[1] = gb_u32(b, 4);
    L->align_val = gb_u32(b, 32);
    L->key_len[2] = gb_str(b, "tokenizer.ggml.tokens");
    L->key_type[2] = gb_u32(b, 9);
    L->arr_type = gb_u32(b, 8);
    L->arr_n = gb_u64(b, 3);
    L->str0_len = gb_str(b, "<pad>");
    gb_str(b, "a");
    gb_str(b, "bc");
    L->key_len[3] = gb_str(b, "llama.block_count");
    L->key_type[3] = gb_u32(b, 4);
    gb_u32(b, 2);
    L->key_len[4] = gb_str(b, "k.aaaa");
    L->key_type[4] = gb_u32(b, 7);
    L->bool_val = gb_u8(b, 1);
    L->key_len[5] = gb_str(b, "k.aaab");
    L->dup_key_last = L->key_len[5] + 8 + 5;
    L->key_type[5] = gb_u32(b, 6);
    gb_u32(b, 0x3FC00000u);
    const char *names[3] = {"a", "b", tname2};
    const uint64_t ne[3][2] = {{8, 2}, {32, 1}, {8, 1}};
    const uint32_t nd[3] = {2, 2, 1}, ty[3] = {0, 8, 0};
    const uint64_t off[3] = {0, 64, 128};
    for (int t = 0; t < 3; t++) {
        L->name_len[t] = gb_str(b, names[t]);
        L->name0[t] = L->name_len[t] + 8;
        L->ndims[t] = gb_u32(b, nd[t]);
        for (uint32_t d = 0; d < nd[t]; d++) L->ne[t][d] = gb_u64(b, ne[t][d]);
        L->type[t] = gb_u32(b, ty[t]);
        L->off[t] = gb_u64(b, off[t]);
    }
    gb_pad(b, 32);
    L->data_offset = b->n;
    for (int i = 0; i < 16; i++) { float f = (float)i * 0.5f; gb_bytes(b, &f, 4); }  /* a */
    gb_le(b, 0x3C00, 2);                                                               /* b: d = 1 */
    for (int i = 0; i < 32; i++) gb_u8(b, (uint8_t)(i - 16));
    while (b->n < L->data_offset + 128) gb_u8(b, 0);
    for (int i = 0; i < 8; i++) { float f = -(float)i; gb_bytes(b, &f, 4); }       /* tname2 */
    L->size = b->n;
}

#endif
