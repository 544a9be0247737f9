/*
 * engine/tokenizer_special.c — the special-token partition (llama.cpp tokenizer_st_partition):
 * the text is cut into raw fragments and single special tokens.  Candidates are the tokens with
 * attribute CONTROL, USER_DEFINED or UNKNOWN; with parse_special off those with CONTROL or UNKNOWN
 * are skipped (so USER_DEFINED|CONTROL is skipped too).
 *
 * llama.cpp takes the candidates by decreasing text length (ties unspecified; here by id) and, for
 * each, cuts out every occurrence left to right inside the fragments still raw.  The same result
 * is computed here from one scan: all occurrences are found with a byte trie, sorted by
 * (length desc, id, position) and taken when they overlap nothing taken before.
 * (LSTRIP / RSTRIP attributes, which llama.cpp sets only for a few models by name, are not used.)
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

struct mm_tok_trie {
    mm_pairtab edge;     /* (node, byte) -> child in res */
    int32_t *tok;        /* node -> token id ending here, or -1 */
    size_t n, cap;
};

static mm_code new_node(struct mm_tok_trie *tr, int32_t *id) {
    if (tr->n == tr->cap) {
        size_t cap = tr->cap ? tr->cap * 2 : 1024;
        int32_t *v = realloc(tr->tok, cap * sizeof *v);
        if (!v) return MM_ENOMEM;
        tr->tok = v;
        tr->cap = cap;
    }
    tr->tok[tr->n] = -1;
    *id = (int32_t)tr->n++;
    return MM_OK;
}

mm_code mm_tok_build_trie(mm_tokenizer *t) {
    struct mm_tok_trie *tr = calloc(1, sizeof *tr);
    if (!tr) return MM_ENOMEM;
    t->trie = tr;
    int32_t root;
    mm_code rc = mm_pairtab_init(&tr->edge, 1024);
    if (!rc) rc = new_node(tr, &root);
    for (int32_t id = 0; id < t->n_vocab && !rc; id++) {
        if (!(t->attr[id] & (MM_TOKEN_ATTR_CONTROL | MM_TOKEN_ATTR_USER_DEFINED | MM_TOKEN_ATTR_UNKNOWN))) continue;
        const unsigned char *s = (const unsigned char *)mm_strs_get(&t->text, id);
        int32_t node = 0;
        for (uint32_t i = 0; i < t->text.len[id] && !rc; i++) {
            int32_t rank, child;
            if (!mm_pairtab_find(&tr->edge, node, s[i], &rank, &child)) {
                if (!(rc = new_node(tr, &child))) rc = mm_pairtab_insert(&tr->edge, node, s[i], 0, child);
            }
            node = child;
        }
        if (!rc) tr->tok[node] = id;
    }
    return rc;
}

void mm_tok_free_trie(struct mm_tok_trie *tr) {
    if (!tr) return;
    mm_pairtab_free(&tr->edge);
    free(tr->tok);
    free(tr);
}

typedef struct occ {
    size_t pos;
    uint32_t len;
    int32_t id;
} occ;

static int occ_cmp(const void *a, const void *b) {
    const occ *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static int occ_pos_cmp(const void *a, const void *b) {
    const occ *x = a, *y = b;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

mm_code mm_tok_partition(const mm_tokenizer *t, const char *text, size_t n, int parse_special,
                         mm_tok_frag **frags, size_t *n_frags) {
    *frags = NULL;
    *n_frags = 0;
    if (n == 0) return MM_OK;
    const struct mm_tok_trie *tr = t->trie;
    const uint32_t skip = parse_special ? 0 : (MM_TOKEN_ATTR_CONTROL | MM_TOKEN_ATTR_UNKNOWN);
    occ *oc = NULL;
    size_t no = 0, cap = 0;
    unsigned char *taken = NULL;
    mm_tok_frag *fr = NULL;
    mm_code rc = MM_ENOMEM;

    const unsigned char *u = (const unsigned char *)text;
    for (size_t p = 0; p < n; p++) {
        int32_t node = 0, rank, child;
        for (size_t q = p; q < n && mm_pairtab_find(&tr->edge, node, u[q], &rank, &child); q++) {
            node = child;
            int32_t id = tr->tok[node];
            if (id < 0 || (t->attr[id] & skip)) continue;
            if (no == cap) {
                size_t nc = cap ? cap * 2 : 64;
                occ *v = realloc(oc, nc * sizeof *v);
                if (!v) goto done;
                oc = v;
                cap = nc;
            }
            oc[no++] = (occ){p, (uint32_t)(q + 1 - p), id};
        }
    }
    size_t nk = 0;
    if (no) {
        qsort(oc, no, sizeof *oc, occ_cmp);
        taken = calloc(n, 1);
        if (!taken) goto done;
        for (size_t i = 0; i < no; i++) {
            size_t p = oc[i].pos, e = p + oc[i].len, j = p;
            while (j < e && !taken[j]) j++;
            if (j < e) continue; /* overlaps a fragment already cut out */
            memset(taken + p, 1, oc[i].len);
            oc[nk++] = oc[i];
        }
        qsort(oc, nk, sizeof *oc, occ_pos_cmp);
    }
    fr = malloc((2 * nk + 1) * sizeof *fr);
    if (!fr) goto done;
    size_t nf = 0, at = 0;
    for (size_t i = 0; i < nk; i++) {
        if (oc[i].pos > at) fr[nf++] = (mm_tok_frag){-1, at, oc[i].pos - at};
        fr[nf++] = (mm_tok_frag){oc[i].id, oc[i].pos, oc[i].len};
        at = oc[i].pos + oc[i].len;
    }
    if (at < n) fr[nf++] = (mm_tok_frag){-1, at, n - at};
    *frags = fr;
    *n_frags = nf;
    fr = NULL;
    rc = MM_OK;
done:
    free(fr);
    free(taken);
    free(oc);
    return rc;
}
