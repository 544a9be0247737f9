/*
 * engine/tokenizer_detok.c — ids back to text as llama.cpp does it: the per-token piece cache
 * (token_to_piece with special = true, built once at open), llama_token_to_piece (special and
 * lstrip), and llama_detokenize (remove_special, add_space_prefix stripping, clean_spaces).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

#define ATTR_SPECIAL (MM_TOKEN_ATTR_UNKNOWN | MM_TOKEN_ATTR_CONTROL)

/* Copies s[0..n) to d with every U+2581 replaced by a space; returns the bytes written. */
static size_t unescape(const char *s, size_t n, char *d) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n && (unsigned char)s[i] == 0xe2 && (unsigned char)s[i + 1] == 0x96 &&
            (unsigned char)s[i + 2] == 0x81) {
            d[o++] = ' ';
            i += 2;
        } else {
            d[o++] = s[i];
        }
    }
    return o;
}

mm_code mm_tok_build_pieces(mm_tokenizer *t, mm_err *e) {
    char *buf = malloc(t->max_token_len + 1);
    if (!buf) return mm_err_set(e, MM_ENOMEM, "tokenizer: out of memory");
    mm_code rc = MM_OK;
    for (int32_t id = 0; id < t->n_vocab && !rc; id++) {
        const char *s = mm_strs_get(&t->text, id);
        size_t n = t->text.len[id], m = 0;
        uint32_t a = t->attr[id];
        if (a & (ATTR_SPECIAL | MM_TOKEN_ATTR_USER_DEFINED)) {
            memcpy(buf, s, n);
            m = n;
        } else if (a & MM_TOKEN_ATTR_NORMAL) {
            /* SPM always, gemma4 because escape_whitespaces is set */
            m = unescape(s, n, buf);
        } else if (a & MM_TOKEN_ATTR_BYTE) {
            buf[0] = (char)mm_tok_byte_of_token(t, id);
            m = 1;
        }
        rc = mm_strs_add2(&t->piece, buf, m, NULL, 0, NULL);
    }
    free(buf);
    if (rc) return mm_err_set(e, rc, "tokenizer: out of memory");
    return MM_OK;
}

mm_str mm_token_piece(const mm_tokenizer *t, int32_t id, int special) {
    mm_str s = {"", 0};
    if (!t || id < 0 || id >= t->n_vocab) return s;
    if (!special && (t->attr[id] & ATTR_SPECIAL)) return s;
    s.p = mm_strs_get(&t->piece, id);
    s.n = t->piece.len[id];
    return s;
}

int32_t mm_token_to_piece(const mm_tokenizer *t, int32_t id, char *buf, size_t cap, int lstrip, int special) {
    if (!t || id < 0 || id >= t->n_vocab) return INT32_MIN;
    mm_str s = mm_token_piece(t, id, special);
    for (int i = 0; i < lstrip && s.n && *s.p == ' '; i++) {
        s.p++;
        s.n--;
    }
    if (cap < s.n) return -(int32_t)s.n;
    if (s.n) memcpy(buf, s.p, s.n);
    return (int32_t)s.n;
}

/* llama.cpp's three clean-up passes over the joined text (in place); returns the new length. */
static size_t clean_spaces(char *text, size_t total) {
    size_t t1 = total;
    total = total ? 1 : 0;
    for (size_t i = 1; i < t1; i++) { /* " ?", " !", " .", " ," */
        char x = text[i];
        if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) total--;
        text[total++] = x;
    }
    size_t t2 = total;
    total = total ? 1 : 0;
    for (size_t i = 1; i < t2; i++) { /* " ' " -> "'" */
        char x = text[i];
        if (x == '\'' && i + 1 < t2 && text[i - 1] == ' ' && text[i + 1] == ' ') {
            total--;
            text[++i] = '\0';
        }
        text[total++] = x;
    }
    size_t t3 = total;
    total = total ? 1 : 0;
    for (size_t i = 1; i < t3; i++) { /* " 's", " 'm", " 're", " 've" */
        char x = text[i];
        if (text[i - 1] == ' ' && x == '\'' && i + 1 < t3) {
            char x1 = text[i + 1];
            if (x1 == 's' || x1 == 'm') total--;
            else if (i + 2 < t3 && ((x1 == 'r' && text[i + 2] == 'e') || (x1 == 'v' && text[i + 2] == 'e'))) total--;
        }
        text[total++] = x;
    }
    return total;
}

mm_code mm_detokenize(const mm_tokenizer *t, const int32_t *ids, size_t n, int remove_special,
                      int unparse_special, char **out, size_t *out_len, mm_err *e) {
    *out = NULL;
    *out_len = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return mm_err_set(e, MM_EINVAL, "detokenize: token id %d at position %zu is out of range (vocabulary of %d)",
                              (int)ids[i], i, (int)t->n_vocab);
    int remove_space = t->add_space_prefix;
    if (remove_special && t->add_bos && n > 0 && ids[0] == t->bos) {
        remove_space = 0;
        ids++;
        n--;
    }
    if (remove_special && t->add_eos && n > 0 && ids[n - 1] == t->eos) n--;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += mm_token_piece(t, ids[i], unparse_special).n;
    char *buf = malloc(total + 1);
    if (!buf) return mm_err_set(e, MM_ENOMEM, "detokenize: out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        mm_str s = mm_token_piece(t, ids[i], unparse_special);
        if (remove_space && s.n && *s.p == ' ') {
            s.p++;
            s.n--;
        }
        remove_space = 0;
        memcpy(buf + o, s.p, s.n);
        o += s.n;
    }
    if (t->clean_spaces) o = clean_spaces(buf, o);
    buf[o] = '\0';
    *out = buf;
    *out_len = o;
    return MM_OK;
}
