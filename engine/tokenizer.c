/*
 * engine/tokenizer.c — the tokenizer's entry points: open / close, mm_tokenize (llama.cpp's
 * llama_vocab::impl::tokenize for the SPM and BPE branches: BOS / EOS, the special-token
 * partition, whitespace escaping and SPM's space prefix), and the vocabulary accessors.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

void mm_tokenizer_close(mm_tokenizer *t) {
    if (!t) return;
    mm_strs_free(&t->text);
    free(t->score);
    free(t->type);
    free(t->attr);
    mm_strtab_free(&t->text_ix);
    free(t->eog.v);
    free(t->suppress.v);
    mm_tok_free_trie(t->trie);
    mm_strs_free(&t->bpe_str);
    mm_strtab_free(&t->bpe_ix);
    mm_pairtab_free(&t->merges);
    mm_strs_free(&t->piece);
    free(t);
}

mm_code mm_tokenizer_open(const mm_gguf *g, mm_tokenizer **out, mm_err *e) {
    *out = NULL;
    if (!g) return mm_err_set(e, MM_EINVAL, "tokenizer: no GGUF given");
    mm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return mm_err_set(e, MM_ENOMEM, "tokenizer: out of memory");
    mm_code rc = mm_tok_load_vocab(t, g, e);
    if (!rc && (rc = mm_tok_build_trie(t))) mm_err_set(e, rc, "tokenizer: out of memory");
    if (!rc) rc = mm_tok_build_pieces(t, e);
    if (!rc) {
        /* llama.cpp's linefeed_id: SPM byte_to_token('\n'); BPE the first id of "\n" */
        if (t->kind == MM_TOK_SPM) {
            t->nl = t->byte_tok_spm['\n'] >= 0 ? t->byte_tok_spm['\n'] : t->pad;
        } else {
            mm_ivec v = {0};
            if ((rc = mm_tok_bpe(t, "\n", 1, &v))) mm_err_set(e, rc, "tokenizer: out of memory");
            t->nl = v.n ? v.v[0] : t->pad;
            free(v.v);
        }
    }
    if (rc) {
        mm_tokenizer_close(t);
        return rc;
    }
    *out = t;
    return MM_OK;
}

/* The fragment with ' ' -> U+2581, after an optional leading space (SPM's add_space_prefix). */
static char *escape_ws(const char *s, size_t n, int prefix, int escape, size_t *out_n) {
    size_t spaces = (size_t)(prefix != 0);
    for (size_t i = 0; i < n; i++) spaces += s[i] == ' ';
    size_t m = escape ? n + (size_t)(prefix != 0) + 2 * spaces : n + (size_t)(prefix != 0);
    char *d = malloc(m + 1);
    if (!d) return NULL;
    size_t o = 0;
    if (prefix) {
        if (escape) { memcpy(d, "\xe2\x96\x81", 3); o = 3; }
        else d[o++] = ' ';
    }
    for (size_t i = 0; i < n; i++) {
        if (escape && s[i] == ' ') {
            memcpy(d + o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            d[o++] = s[i];
        }
    }
    d[o] = 0;
    *out_n = o;
    return d;
}

mm_code mm_tokenize(const mm_tokenizer *t, const char *text, size_t len, int add_special,
                    int parse_special, int32_t **ids, size_t *n, mm_err *e) {
    *ids = NULL;
    *n = 0;
    if (!t || (!text && len)) return mm_err_set(e, MM_EINVAL, "tokenize: no tokenizer or text");
    mm_tok_frag *fr = NULL;
    size_t nf = 0;
    mm_ivec out = {0};
    mm_code rc = mm_tok_partition(t, text, len, parse_special, &fr, &nf);
    int spm = t->kind == MM_TOK_SPM;
    if (!rc && add_special && t->add_bos) rc = mm_ivec_push(&out, t->bos);
    int prev_special = 1; /* SPM: a space prefix goes before the first fragment and after specials */
    for (size_t i = 0; i < nf && !rc; i++) {
        if (fr[i].token >= 0) {
            rc = mm_ivec_push(&out, fr[i].token);
            prev_special = 1;
            continue;
        }
        size_t m;
        int prefix = spm && t->add_space_prefix && prev_special;
        char *s = escape_ws(text + fr[i].off, fr[i].len, prefix, spm || t->escape_whitespaces, &m);
        if (!s) {
            rc = MM_ENOMEM;
            break;
        }
        rc = spm ? mm_tok_spm(t, s, m, &out) : mm_tok_bpe(t, s, m, &out);
        free(s);
        prev_special = 0;
    }
    if (!rc && add_special && t->add_eos) rc = mm_ivec_push(&out, t->eos);
    free(fr);
    if (rc) {
        free(out.v);
        return mm_err_set(e, rc, "tokenize: %s", rc == MM_ENOMEM ? "out of memory" : "input too large");
    }
    if (out.n == 0) {
        free(out.v);
        out.v = NULL;
    }
    *ids = out.v;
    *n = out.n;
    return MM_OK;
}

/* ---------------------------------------------------------------- accessors */

mm_tok_kind mm_tokenizer_kind(const mm_tokenizer *t) { return t->kind; }
int32_t mm_tokenizer_n_vocab(const mm_tokenizer *t) { return t->n_vocab; }
int32_t mm_tokenizer_n_merges(const mm_tokenizer *t) { return t->n_merges; }
int32_t mm_token_bos(const mm_tokenizer *t) { return t->bos; }
int32_t mm_token_eos(const mm_tokenizer *t) { return t->eos; }
int32_t mm_token_eot(const mm_tokenizer *t) { return t->eot; }
int32_t mm_token_unk(const mm_tokenizer *t) { return t->unk; }
int32_t mm_token_pad(const mm_tokenizer *t) { return t->pad; }
int32_t mm_token_nl(const mm_tokenizer *t) { return t->nl; }
int mm_tokenizer_add_bos(const mm_tokenizer *t) { return t->add_bos; }
int mm_tokenizer_add_eos(const mm_tokenizer *t) { return t->add_eos; }
int mm_tokenizer_add_space_prefix(const mm_tokenizer *t) { return t->add_space_prefix; }

int mm_token_is_eog(const mm_tokenizer *t, int32_t id) {
    size_t lo = 0, hi = t->eog.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->eog.v[mid] == id) return 1;
        if (t->eog.v[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

size_t mm_tokenizer_eog_ids(const mm_tokenizer *t, const int32_t **ids) {
    *ids = t->eog.v;
    return t->eog.n;
}

size_t mm_tokenizer_suppress_ids(const mm_tokenizer *t, const int32_t **ids) {
    *ids = t->suppress.v;
    return t->suppress.n;
}

mm_str mm_token_text(const mm_tokenizer *t, int32_t id) {
    mm_str s = {NULL, 0};
    if (id < 0 || id >= t->n_vocab) return s;
    s.p = mm_strs_get(&t->text, id);
    s.n = t->text.len[id];
    return s;
}

float mm_token_score(const mm_tokenizer *t, int32_t id) {
    return id < 0 || id >= t->n_vocab ? 0.0f : t->score[id];
}

int32_t mm_token_type(const mm_tokenizer *t, int32_t id) {
    return id < 0 || id >= t->n_vocab ? -1 : t->type[id];
}

uint32_t mm_token_attr(const mm_tokenizer *t, int32_t id) {
    return id < 0 || id >= t->n_vocab ? 0 : t->attr[id];
}

int32_t mm_token_lookup(const mm_tokenizer *t, const char *text, size_t len) {
    if (!text && len) return MM_TOKEN_NULL;
    if (!text) text = "";
    return mm_strtab_find(&t->text_ix, &t->text, text, len, mm_tok_hash(text, len));
}
