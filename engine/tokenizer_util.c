/*
 * engine/tokenizer_util.c — the tokenizer's small containers: an int vector, an arena of byte
 * strings, hash tables (string -> index, int pair -> rank), the merge-candidate heap, and the
 * UTF-8 decode / re-encode llama.cpp's BPE pre-tokeniser applies.  No policy lives here.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

mm_code mm_ivec_push(mm_ivec *a, int32_t x) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) return MM_ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return MM_OK;
}

/* ---------------------------------------------------------------- strings */

mm_code mm_strs_add2(mm_strs *s, const char *a, size_t na, const char *b, size_t nb, int32_t *idx) {
    if (s->n >= (size_t)INT32_MAX || na + nb >= UINT32_MAX) return MM_ELIMIT;
    size_t need = na + nb + 1;
    if (s->p_n + need > s->p_cap) {
        size_t cap = s->p_cap ? s->p_cap : 4096;
        while (cap < s->p_n + need) cap *= 2;
        char *p = realloc(s->p, cap);
        if (!p) return MM_ENOMEM;
        s->p = p;
        s->p_cap = cap;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        uint64_t *off = realloc(s->off, cap * sizeof *off);
        if (!off) return MM_ENOMEM;
        s->off = off;
        uint32_t *len = realloc(s->len, cap * sizeof *len);
        if (!len) return MM_ENOMEM;
        s->len = len;
        s->cap = cap;
    }
    char *dst = s->p + s->p_n;
    if (na) memcpy(dst, a, na);
    if (nb) memcpy(dst + na, b, nb);
    dst[na + nb] = '\0';
    s->off[s->n] = s->p_n;
    s->len[s->n] = (uint32_t)(na + nb);
    s->p_n += need;
    if (idx) *idx = (int32_t)s->n;
    s->n++;
    return MM_OK;
}

void mm_strs_free(mm_strs *s) {
    free(s->p);
    free(s->off);
    free(s->len);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- hashing */

static inline uint64_t load64(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint32_t mm_tok_hash(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        h ^= load64(s + i);
        h *= 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
    }
    uint64_t tail = 0;
    for (size_t k = 0; i < n; i++, k++) tail |= (uint64_t)(unsigned char)s[i] << (8 * k);
    h ^= tail;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    return (uint32_t)h;
}

static size_t table_size(size_t expected) {
    size_t sz = 64;
    while (sz < expected * 2 + 1) sz *= 2;
    return sz;
}

mm_code mm_strtab_init(mm_strtab *t, size_t expected) {
    size_t sz = table_size(expected);
    t->slot = calloc(sz, sizeof *t->slot);
    if (!t->slot) return MM_ENOMEM;
    t->mask = sz - 1;
    t->used = 0;
    return MM_OK;
}

void mm_strtab_free(mm_strtab *t) {
    free(t->slot);
    memset(t, 0, sizeof *t);
}

int32_t mm_strtab_find(const mm_strtab *t, const mm_strs *strs, const char *s, size_t n, uint32_t h) {
    if (!t->slot) return -1;
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        uint64_t v = t->slot[i];
        if (!v) return -1;
        if ((uint32_t)(v >> 32) == h) {
            int32_t idx = (int32_t)((uint32_t)v - 1);
            if (strs->len[idx] == n && memcmp(mm_strs_get(strs, idx), s, n) == 0) return idx;
        }
    }
}

static void strtab_place(uint64_t *slot, size_t mask, uint64_t v) {
    size_t i = (uint32_t)(v >> 32) & mask;
    while (slot[i]) i = (i + 1) & mask;
    slot[i] = v;
}

mm_code mm_strtab_insert(mm_strtab *t, int32_t idx, uint32_t h) {
    if ((t->used + 1) * 2 > t->mask + 1) {
        size_t sz = (t->mask + 1) * 2;
        uint64_t *slot = calloc(sz, sizeof *slot);
        if (!slot) return MM_ENOMEM;
        for (size_t i = 0; i <= t->mask; i++)
            if (t->slot[i]) strtab_place(slot, sz - 1, t->slot[i]);
        free(t->slot);
        t->slot = slot;
        t->mask = sz - 1;
    }
    strtab_place(t->slot, t->mask, (uint64_t)h << 32 | ((uint32_t)idx + 1));
    t->used++;
    return MM_OK;
}

/* ---------------------------------------------------------------- pairs */

static inline uint64_t pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) | (1ull << 63);
}

static inline size_t pair_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    k ^= k >> 33;
    return (size_t)k;
}

mm_code mm_pairtab_init(mm_pairtab *t, size_t expected) {
    size_t sz = table_size(expected);
    t->s = calloc(sz, sizeof *t->s);
    if (!t->s) return MM_ENOMEM;
    t->mask = sz - 1;
    t->used = 0;
    return MM_OK;
}

void mm_pairtab_free(mm_pairtab *t) {
    free(t->s);
    memset(t, 0, sizeof *t);
}

mm_code mm_pairtab_insert(mm_pairtab *t, int32_t a, int32_t b, int32_t rank, int32_t res) {
    if ((t->used + 1) * 2 > t->mask + 1) {
        mm_pairtab n = {0};
        mm_code rc = mm_pairtab_init(&n, (t->mask + 1));
        if (rc) return rc;
        for (size_t i = 0; i <= t->mask; i++) {
            if (!t->s[i].key) continue;
            size_t j = pair_hash(t->s[i].key) & n.mask;
            while (n.s[j].key) j = (j + 1) & n.mask;
            n.s[j] = t->s[i];
        }
        n.used = t->used;
        mm_pairtab_free(t);
        *t = n;
    }
    uint64_t k = pair_key(a, b);
    size_t i = pair_hash(k) & t->mask;
    while (t->s[i].key) {
        if (t->s[i].key == k) return MM_OK; /* first insertion wins */
        i = (i + 1) & t->mask;
    }
    t->s[i] = (mm_pair_slot){k, rank, res};
    t->used++;
    return MM_OK;
}

int mm_pairtab_find(const mm_pairtab *t, int32_t a, int32_t b, int32_t *rank, int32_t *res) {
    if (!t->s) return 0;
    uint64_t k = pair_key(a, b);
    for (size_t i = pair_hash(k) & t->mask;; i = (i + 1) & t->mask) {
        if (!t->s[i].key) return 0;
        if (t->s[i].key == k) {
            *rank = t->s[i].rank;
            *res = t->s[i].res;
            return 1;
        }
    }
}

/* ---------------------------------------------------------------- heap */

mm_code mm_heap_push(mm_heap *h, mm_bigram b) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        mm_bigram *v = realloc(h->v, cap * sizeof *v);
        if (!v) return MM_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h->v[p].key <= b.key) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = b;
    return MM_OK;
}

mm_bigram mm_heap_pop(mm_heap *h) {
    mm_bigram top = h->v[0];
    mm_bigram last = h->v[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h->v[c + 1].key < h->v[c].key) c++;
        if (last.key <= h->v[c].key) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (n) h->v[i] = last;
    return top;
}

/* ---------------------------------------------------------------- UTF-8 */

/* unicode_cpt_from_utf8: returns the code point and advances *i, or returns -1 (and advances one
 * byte) where llama.cpp throws.  Continuation bytes are checked, overlong forms and surrogates
 * are accepted, lead bytes F0-F7 give up to 0x1FFFFF. */
static int32_t cpt_from_utf8(const unsigned char *s, size_t n, size_t *i) {
    size_t o = *i;
    unsigned c = s[o];
    if (!(c & 0x80)) {
        *i = o + 1;
        return (int32_t)c;
    }
    size_t k;
    uint32_t cp;
    if (!(c & 0x40)) goto bad;
    if (!(c & 0x20)) { k = 2; cp = c & 0x1f; }
    else if (!(c & 0x10)) { k = 3; cp = c & 0x0f; }
    else if (!(c & 0x08)) { k = 4; cp = c & 0x07; }
    else goto bad;
    if (o + k - 1 >= n) goto bad;
    for (size_t j = 1; j < k; j++) {
        if ((s[o + j] & 0xc0) != 0x80) goto bad;
        cp = (cp << 6) | (s[o + j] & 0x3f);
    }
    *i = o + k;
    return (int32_t)cp;
bad:
    *i = o + 1;
    return -1;
}

static size_t cpt_to_utf8(uint32_t cp, unsigned char *d) {
    if (cp <= 0x7f) { d[0] = (unsigned char)cp; return 1; }
    if (cp <= 0x7ff) {
        d[0] = (unsigned char)(0xc0 | (cp >> 6));
        d[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp <= 0xffff) {
        d[0] = (unsigned char)(0xe0 | (cp >> 12));
        d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        d[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (unsigned char)(0xf0 | (cp >> 18));
    d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    d[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

mm_code mm_tok_utf8_normalize(const char *s, size_t n, char **out, size_t *out_n) {
    /* each input byte yields at most 3 output bytes (one invalid byte -> U+FFFD) */
    if (n > (SIZE_MAX - 1) / 3) return MM_ELIMIT;
    unsigned char *d = malloc(n * 3 + 1);
    if (!d) return MM_ENOMEM;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        int32_t cp = cpt_from_utf8(u, n, &i);
        if (cp < 0 || cp > 0x10ffff) cp = 0xfffd;
        o += cpt_to_utf8((uint32_t)cp, d + o);
    }
    d[o] = 0;
    *out = (char *)d;
    *out_n = o;
    return MM_OK;
}
