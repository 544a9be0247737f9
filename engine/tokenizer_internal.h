/*
 * engine/tokenizer_internal.h — private structures shared by the tokenizer's source files:
 * string storage and hash tables (tokenizer_util.c), the loaded vocabulary (tokenizer_vocab.c),
 * the special-token partition (tokenizer_special.c), SPM (tokenizer_spm.c), BPE
 * (tokenizer_bpe.c) and detokenisation (tokenizer_detok.c).  Not part of the public API.
 */
#ifndef MM_TOKENIZER_INTERNAL_H
#define MM_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* ---- growable int32 vector ---- */
typedef struct mm_ivec {
    int32_t *v;
    size_t n, cap;
} mm_ivec;
mm_code mm_ivec_push(mm_ivec *a, int32_t x);

/* ---- a list of byte strings in one arena ----
 * Invariant: string i is p[off[i] .. off[i]+len[i]) and is followed by a NUL byte (not counted). */
typedef struct mm_strs {
    char *p;
    size_t p_n, p_cap;
    uint64_t *off;
    uint32_t *len;
    size_t n, cap;
} mm_strs;
/* Appends a||b (either may be empty); *idx gets the new index. */
mm_code mm_strs_add2(mm_strs *s, const char *a, size_t na, const char *b, size_t nb, int32_t *idx);
void mm_strs_free(mm_strs *s);
static inline const char *mm_strs_get(const mm_strs *s, int32_t i) { return s->p + s->off[i]; }

/* ---- hash table from byte string to an index of an mm_strs ----
 * Open addressing, linear probing; a slot holds (hash << 32 | index + 1), 0 = empty, so a probe
 * touches one cache line.  Invariant: at most half the slots are used. */
typedef struct mm_strtab {
    uint64_t *slot;
    size_t mask;
    size_t used;
} mm_strtab;
uint32_t mm_tok_hash(const char *s, size_t n);
mm_code mm_strtab_init(mm_strtab *t, size_t expected);
void mm_strtab_free(mm_strtab *t);
/* Index of the string equal to s[0..n) in strs, or -1. */
int32_t mm_strtab_find(const mm_strtab *t, const mm_strs *strs, const char *s, size_t n, uint32_t h);
/* Inserts index idx (whose string has hash h); grows as needed.  Does not check duplicates. */
mm_code mm_strtab_insert(mm_strtab *t, int32_t idx, uint32_t h);

/* ---- hash table from a pair of int32 to two int32 (BPE merges) ---- */
typedef struct mm_pair_slot {
    uint64_t key;    /* (a << 32 | b) | 1 << 63; 0 = empty */
    int32_t rank;
    int32_t res;
} mm_pair_slot;
typedef struct mm_pairtab {
    mm_pair_slot *s;
    size_t mask;
    size_t used;
} mm_pairtab;
mm_code mm_pairtab_init(mm_pairtab *t, size_t expected);
void mm_pairtab_free(mm_pairtab *t);
/* Inserts unless the pair exists (first insertion wins, as std::map::emplace). */
mm_code mm_pairtab_insert(mm_pairtab *t, int32_t a, int32_t b, int32_t rank, int32_t res);
/* 1 and fills *rank / *res if present. */
int mm_pairtab_find(const mm_pairtab *t, int32_t a, int32_t b, int32_t *rank, int32_t *res);

/* ---- binary min-heap of merge candidates ----
 * key orders candidates: BPE (rank << 32 | left), SPM (inverted score << 32 | left); the smallest
 * key is merged first, so ties go to the leftmost pair as in llama.cpp. */
typedef struct mm_bigram {
    uint64_t key;
    int32_t left, right;
    uint32_t size;   /* bytes of left + right when pushed: stale if it no longer matches */
    int32_t res;     /* BPE: interned id of the merged string */
} mm_bigram;
typedef struct mm_heap {
    mm_bigram *v;
    size_t n, cap;
} mm_heap;
mm_code mm_heap_push(mm_heap *h, mm_bigram b);
mm_bigram mm_heap_pop(mm_heap *h); /* requires n > 0 */

/* ---- UTF-8 as llama.cpp's unicode.cpp reads it ---- */
/* unicode_len_utf8: sequence length from the lead byte's high nibble (1 for 0x00-0xBF). */
static inline size_t mm_tok_utf8_len(unsigned char c) {
    static const unsigned char lut[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lut[c >> 4];
}
/* Decodes s[0..n) like unicode_cpts_from_utf8 and re-encodes it like unicode_cpt_to_utf8: each
 * undecodable byte becomes U+FFFD; overlong forms are re-encoded shortest; a code point above
 * U+10FFFF (where llama.cpp throws) becomes U+FFFD.  '\n' bytes survive unchanged, so the caller
 * splits the result.  *out is malloc'd, *out_n bytes. */
mm_code mm_tok_utf8_normalize(const char *s, size_t n, char **out, size_t *out_n);

/* ---- the loaded tokenizer ---- */
struct mm_tokenizer {
    mm_tok_kind kind;
    int32_t n_vocab;
    mm_strs text;           /* token texts, index = id */
    float *score;
    int32_t *type;          /* GGUF token type per id (MM_TOKEN_TYPE_UNDEFINED when absent) */
    uint32_t *attr;
    mm_strtab text_ix;      /* token text -> id */
    uint32_t max_token_len;

    int32_t bos, eos, eot, eom, unk, sep, pad, mask, nl;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    int add_bos, add_eos, add_space_prefix, clean_spaces, escape_whitespaces;

    mm_ivec eog;            /* sorted, unique */
    mm_ivec suppress;

    int32_t byte_tok[256];  /* id of "<0xXX>" or -1 */
    int32_t byte_tok_spm[256]; /* SPM byte_to_token: "<0xXX>", else the 1-byte text, else -1 */

    /* special-token partition: candidates (CONTROL/USER_DEFINED/UNKNOWN) in a byte trie */
    struct mm_tok_trie *trie;

    /* BPE.  Every merge part and result is interned: a token's id if it is a token, else
     * n_vocab + its index in bpe_str (strings that are not tokens). */
    int32_t n_merges;
    mm_strs bpe_str;
    mm_strtab bpe_ix;       /* text -> bpe_str index */
    mm_pairtab merges;      /* (part a, part b) -> (rank, result) */

    /* pieces (token_to_piece with special = true), index = id */
    mm_strs piece;
};

/* tokenizer_vocab.c */
mm_code mm_tok_load_vocab(mm_tokenizer *t, const mm_gguf *g, mm_err *e);
/* The byte a BYTE token stands for (llama.cpp token_to_byte); -1 if its text is too short. */
int mm_tok_byte_of_token(const mm_tokenizer *t, int32_t id);
/* tokenizer_bpe.c */
mm_code mm_tok_load_merges(mm_tokenizer *t, const mm_gguf *g, mm_err *e);
mm_code mm_tok_bpe(const mm_tokenizer *t, const char *text, size_t n, mm_ivec *out);
/* tokenizer_spm.c */
mm_code mm_tok_spm(const mm_tokenizer *t, const char *text, size_t n, mm_ivec *out);
/* tokenizer_detok.c */
mm_code mm_tok_build_pieces(mm_tokenizer *t, mm_err *e);

/* tokenizer_special.c: the partition of a text into raw fragments and special tokens. */
typedef struct mm_tok_frag {
    int32_t token;   /* >= 0: a special token; -1: raw text [off, off+len) */
    size_t off, len;
} mm_tok_frag;
mm_code mm_tok_build_trie(mm_tokenizer *t);
void mm_tok_free_trie(struct mm_tok_trie *tr);
mm_code mm_tok_partition(const mm_tokenizer *t, const char *text, size_t n, int parse_special,
                         mm_tok_frag **frags, size_t *n_frags);

#endif
