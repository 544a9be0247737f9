/*
 * engine/tokenizer_vocab.c — loads the vocabulary from tokenizer.ggml.* keys the way llama.cpp's
 * llama_vocab::impl::load does for the "llama" (SPM) and "gemma4" (BPE) models: token texts,
 * scores, types -> attributes, special ids, add_bos / add_eos / add_space_prefix, suppressed
 * tokens, and the text-based detection of EOT / FIM / end-of-generation tokens with the attribute
 * changes it implies.  Merges are loaded by tokenizer_bpe.c, pieces by tokenizer_detok.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

#define K_MODEL "tokenizer.ggml.model"
#define K_TOKENS "tokenizer.ggml.tokens"
#define K_SCORES "tokenizer.ggml.scores"
#define K_TYPES "tokenizer.ggml.token_type"

static uint32_t attr_from_type(int32_t type) {
    switch (type) {
    case MM_TOKEN_TYPE_UNKNOWN: return MM_TOKEN_ATTR_UNKNOWN;
    case MM_TOKEN_TYPE_UNUSED: return MM_TOKEN_ATTR_UNUSED;
    case MM_TOKEN_TYPE_NORMAL: return MM_TOKEN_ATTR_NORMAL;
    case MM_TOKEN_TYPE_CONTROL: return MM_TOKEN_ATTR_CONTROL;
    case MM_TOKEN_TYPE_USER_DEFINED: return MM_TOKEN_ATTR_USER_DEFINED;
    case MM_TOKEN_TYPE_BYTE: return MM_TOKEN_ATTR_BYTE;
    default: return MM_TOKEN_ATTR_UNDEFINED;
    }
}

/* Looks up an array key of the given element type; *idx = -1 if absent.  MM_ECORRUPT if it is
 * not an array of that type (or of `alt`, when alt >= 0) or is shorter than min_len. */
static mm_code find_array(const mm_gguf *g, const char *key, uint32_t type, int alt,
                          uint64_t min_len, int64_t *idx, mm_err *e) {
    *idx = mm_gguf_find_key(g, key);
    if (*idx < 0) return MM_OK;
    uint32_t at = mm_gguf_arr_type(g, *idx);
    if (mm_gguf_kv_type(g, *idx) != MM_GGUF_ARRAY || (at != type && (alt < 0 || at != (uint32_t)alt)))
        return mm_err_set(e, MM_ECORRUPT, "tokenizer: %s has the wrong type (not an array of %s)",
                          key, type == MM_GGUF_STRING ? "strings" : type == MM_GGUF_INT32 ? "int32" : "float32/int32");
    uint64_t n = mm_gguf_arr_len(g, *idx);
    if (n < min_len)
        return mm_err_set(e, MM_ECORRUPT, "tokenizer: %s has %llu entries, fewer than the %llu tokens",
                          key, (unsigned long long)n, (unsigned long long)min_len);
    return MM_OK;
}

/* Optional bool key: unchanged if absent, MM_EINVAL if of another type. */
static mm_code opt_bool(const mm_gguf *g, const char *key, int *v, mm_err *e) {
    int b;
    mm_err tmp;
    mm_code rc = mm_gguf_get_bool(g, key, &b, &tmp);
    if (rc == MM_ENOTFOUND) return MM_OK;
    if (rc) {
        if (e) *e = tmp;
        mm_err_prefix(e, "tokenizer");
        return rc;
    }
    *v = b;
    return MM_OK;
}

/* Optional token id key (llama.cpp: a default out of range is disabled first; a value out of
 * range keeps the default). */
static mm_code opt_id(const mm_gguf *g, const char *key, int32_t n_vocab, int32_t *id, mm_err *e) {
    if (*id >= n_vocab) *id = MM_TOKEN_NULL;
    int64_t v;
    mm_err tmp;
    mm_code rc = mm_gguf_get_int(g, key, &v, &tmp);
    if (rc == MM_ENOTFOUND) return MM_OK;
    if (rc) {
        if (e) *e = tmp;
        mm_err_prefix(e, "tokenizer");
        return rc;
    }
    if (v >= 0 && v < n_vocab) *id = (int32_t)v;
    return MM_OK;
}

/* token_to_byte: strtol(text.substr(3, 2), NULL, 16) — llama.cpp throws when the text has fewer
 * than 3 bytes.  Returns -1 for that case. */
static int byte_of_text(const char *s, size_t n) {
    if (n < 3) return -1;
    const char *p = s + 3, *end = s + (n - 3 < 2 ? n : 5);
    while (p < end && (*p == ' ' || (*p >= '\t' && *p <= '\r'))) p++;
    int neg = 0;
    if (p < end && (*p == '+' || *p == '-')) neg = *p++ == '-';
    long v = 0;
    for (; p < end; p++) {
        int d = (*p >= '0' && *p <= '9') ? *p - '0'
              : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
              : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10 : -1;
        if (d < 0) break; /* "0x" with no digit after it parses as 0 */
        v = v * 16 + d;
    }
    return (int)(unsigned char)(char)(neg ? -v : v);
}

static int text_is(const mm_tokenizer *t, int32_t id, const char *s) {
    if (mm_strs_get(&t->text, id)[0] != s[0]) return 0;
    size_t n = strlen(s);
    return t->text.len[id] == n && memcmp(mm_strs_get(&t->text, id), s, n) == 0;
}

static int text_in(const mm_tokenizer *t, int32_t id, const char *const *list) {
    for (; *list; list++)
        if (text_is(t, id, *list)) return 1;
    return 0;
}

static const char *const EOT_TEXT[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
    "<end_of_utterance>", NULL};
static const char *const EOM_TEXT[] = {"<|eom_id|>", NULL};
static const char *const FIM_PRE_TEXT[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
    "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL};
static const char *const FIM_SUF_TEXT[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>",
    "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL};
static const char *const FIM_MID_TEXT[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
    "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL};
static const char *const FIM_PAD_TEXT[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
static const char *const FIM_REP_TEXT[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL};
static const char *const FIM_SEP_TEXT[] = {"<|file_sep|>", NULL};
static const char *const EOG_TEXT[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "[e~[", NULL};
static const char *const GPTOSS_UD_TEXT[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL};

/* Only texts starting with one of these bytes can be in the lists above. */
static int maybe_listed(const mm_tokenizer *t, int32_t id) {
    unsigned char c = (unsigned char)mm_strs_get(&t->text, id)[0];
    return c == '<' || c == '_' || c == '[' || c == 0xe2;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int eog_has(const mm_ivec *v, int32_t id) {
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i] == id) return 1;
    return 0;
}

static mm_code eog_add(mm_ivec *v, int32_t id) {
    if (id == MM_TOKEN_NULL || eog_has(v, id)) return MM_OK;
    return mm_ivec_push(v, id);
}

static void eog_remove(mm_ivec *v, int32_t id) {
    size_t o = 0;
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i] != id) v->v[o++] = v->v[i];
    v->n = o;
}

/* Text-based detection, in llama.cpp's order.  Where llama.cpp iterates an unordered_map and
 * several texts could match one role, the lowest id wins here. */
static mm_code detect_specials(mm_tokenizer *t) {
    int32_t n = t->n_vocab;
    struct { int32_t *id; const char *const *list; } roles[] = {
        {&t->eot, EOT_TEXT}, {&t->eom, EOM_TEXT}, {&t->fim_pre, FIM_PRE_TEXT},
        {&t->fim_suf, FIM_SUF_TEXT}, {&t->fim_mid, FIM_MID_TEXT}, {&t->fim_pad, FIM_PAD_TEXT},
        {&t->fim_rep, FIM_REP_TEXT}, {&t->fim_sep, FIM_SEP_TEXT}};
    for (int32_t id = 0; id < n; id++) {
        if (!maybe_listed(t, id)) continue;
        for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++) {
            if (*roles[r].id != MM_TOKEN_NULL || !text_in(t, id, roles[r].list)) continue;
            *roles[r].id = id;
            t->attr[id] |= MM_TOKEN_ATTR_CONTROL;
        }
    }
    /* CONTROL tokens named "...unused..." are unused */
    for (int32_t id = 0; id < n; id++) {
        if (!(t->attr[id] & MM_TOKEN_ATTR_CONTROL)) continue;
        if (memmem(mm_strs_get(&t->text, id), t->text.len[id], "unused", 6)) t->attr[id] |= MM_TOKEN_ATTR_UNUSED;
    }
    /* end-of-generation set */
    mm_ivec *eog = &t->eog;
    mm_code rc;
    if ((rc = eog_add(eog, t->fim_pad)) || (rc = eog_add(eog, t->fim_rep)) || (rc = eog_add(eog, t->fim_sep)))
        return rc;
    for (int32_t id = 0; id < n; id++) {
        if (!maybe_listed(t, id) || !text_in(t, id, EOG_TEXT)) continue;
        if ((rc = eog_add(eog, id))) return rc;
        t->attr[id] |= MM_TOKEN_ATTR_CONTROL;
    }
    for (int32_t id = 0; id < n; id++)
        if (maybe_listed(t, id) && text_in(t, id, GPTOSS_UD_TEXT)) t->attr[id] = MM_TOKEN_ATTR_USER_DEFINED;
    if ((rc = eog_add(eog, t->eos)) || (rc = eog_add(eog, t->eot)) || (rc = eog_add(eog, t->eom))) return rc;

    int has_return = 0, has_call = 0, has_flush = 0, has_tool_response = 0;
    int32_t end_id = MM_TOKEN_NULL, s_id = MM_TOKEN_NULL;
    for (size_t i = 0; i < eog->n; i++) {
        int32_t id = eog->v[i];
        if (text_is(t, id, "<|return|>")) has_return = 1;
        else if (text_is(t, id, "<|call|>") || text_is(t, id, "<|calls|>")) has_call = 1;
        else if (text_is(t, id, "<|flush|>")) has_flush = 1;
        else if (text_is(t, id, "<|end|>")) end_id = id;
        if (text_is(t, id, "<|tool_response>")) has_tool_response = 1;
        else if (text_is(t, id, "</s>")) s_id = id;
    }
    if (end_id != MM_TOKEN_NULL && ((has_return && has_call) || (has_call && has_flush))) {
        eog_remove(eog, end_id);
        t->attr[end_id] = MM_TOKEN_ATTR_USER_DEFINED;
    }
    if (has_tool_response && s_id != MM_TOKEN_NULL) {
        eog_remove(eog, s_id);
        t->attr[s_id] = MM_TOKEN_ATTR_NORMAL;
    }
    qsort(eog->v, eog->n, sizeof eog->v[0], cmp_i32);
    return MM_OK;
}

static mm_code load_tokens(mm_tokenizer *t, const mm_gguf *g, mm_err *e) {
    int64_t ti = mm_gguf_find_key(g, K_TOKENS);
    if (ti < 0) return mm_err_set(e, MM_ENOTFOUND, "tokenizer: no %s in the file", K_TOKENS);
    if (mm_gguf_kv_type(g, ti) != MM_GGUF_ARRAY || mm_gguf_arr_type(g, ti) != MM_GGUF_STRING)
        return mm_err_set(e, MM_ECORRUPT, "tokenizer: %s is not an array of strings", K_TOKENS);
    uint64_t n64 = mm_gguf_arr_len(g, ti);
    if (n64 == 0) return mm_err_set(e, MM_ECORRUPT, "tokenizer: %s is empty", K_TOKENS);
    if (n64 > (uint64_t)INT32_MAX - 1)
        return mm_err_set(e, MM_ELIMIT, "tokenizer: %s has %llu entries", K_TOKENS, (unsigned long long)n64);
    int32_t n = (int32_t)n64;
    t->n_vocab = n;

    int64_t si, yi;
    mm_code rc;
    if ((rc = find_array(g, K_SCORES, MM_GGUF_FLOAT32, MM_GGUF_INT32, n64, &si, e))) return rc;
    if ((rc = find_array(g, K_TYPES, MM_GGUF_INT32, -1, n64, &yi, e))) return rc;
    const unsigned char *scores = si >= 0 ? mm_gguf_arr_data(g, si) : NULL;
    int iscores = si >= 0 && mm_gguf_arr_type(g, si) == MM_GGUF_INT32;
    const unsigned char *types = yi >= 0 ? mm_gguf_arr_data(g, yi) : NULL;

    t->score = calloc((size_t)n, sizeof *t->score);
    t->type = calloc((size_t)n, sizeof *t->type);
    t->attr = calloc((size_t)n, sizeof *t->attr);
    if (!t->score || !t->type || !t->attr) return mm_err_set(e, MM_ENOMEM, "tokenizer: out of memory");
    if ((rc = mm_strtab_init(&t->text_ix, (size_t)n))) return mm_err_set(e, rc, "tokenizer: out of memory");

    for (int32_t i = 0; i < n; i++) {
        mm_str s;
        if ((rc = mm_gguf_arr_str(g, ti, (uint64_t)i, &s, e))) return rc;
        char empty[32];
        if (s.n == 0) {
            snprintf(empty, sizeof empty, "[EMPTY_%d]", (int)i);
            s.p = empty;
            s.n = strlen(empty);
        }
        uint32_t h = mm_tok_hash(s.p, s.n);
        int32_t dup = mm_strtab_find(&t->text_ix, &t->text, s.p, s.n, h);
        if (dup >= 0)
            return mm_err_set(e, MM_ECORRUPT, "tokenizer: tokens %d and %d have the same text", (int)dup, (int)i);
        int32_t idx;
        if ((rc = mm_strs_add2(&t->text, s.p, s.n, NULL, 0, &idx)) ||
            (rc = mm_strtab_insert(&t->text_ix, idx, h)))
            return mm_err_set(e, rc, "tokenizer: out of memory");
        if (s.n > t->max_token_len) t->max_token_len = (uint32_t)s.n;
        if (scores) {
            uint32_t bits;
            memcpy(&bits, scores + 4 * (size_t)i, 4);
            if (iscores) t->score[i] = (float)(int32_t)bits;
            else memcpy(&t->score[i], &bits, 4);
        }
        t->attr[i] = MM_TOKEN_ATTR_NORMAL;
        if (types) {
            int32_t ty;
            memcpy(&ty, types + 4 * (size_t)i, 4);
            t->type[i] = ty;
            t->attr[i] = attr_from_type(ty);
        }
    }
    return MM_OK;
}

static int32_t lookup_cstr(const mm_tokenizer *t, const char *s, size_t n) {
    return mm_strtab_find(&t->text_ix, &t->text, s, n, mm_tok_hash(s, n));
}

mm_code mm_tok_load_vocab(mm_tokenizer *t, const mm_gguf *g, mm_err *e) {
    mm_str model;
    mm_code rc = mm_gguf_get_str(g, K_MODEL, &model, e);
    if (rc == MM_ENOTFOUND) return mm_err_set(e, rc, "tokenizer: no %s in the file (no vocabulary)", K_MODEL);
    if (rc) return rc;
    int32_t *ids[] = {&t->bos, &t->eos, &t->eot, &t->eom, &t->unk, &t->sep, &t->pad, &t->mask,
                      &t->fim_pre, &t->fim_suf, &t->fim_mid, &t->fim_pad, &t->fim_rep, &t->fim_sep, &t->nl};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) *ids[i] = MM_TOKEN_NULL;
    t->escape_whitespaces = 1;
    if (model.n == 5 && memcmp(model.p, "llama", 5) == 0) {
        t->kind = MM_TOK_SPM;
        t->bos = 1;
        t->eos = 2;
        t->unk = 0;
        t->add_space_prefix = 1;
        t->clean_spaces = 0;
        t->add_bos = 1;
        t->add_eos = 0;
    } else if (model.n == 6 && memcmp(model.p, "gemma4", 6) == 0) {
        /* BPE with pre-tokenizer "gemma4" whatever tokenizer.ggml.pre says */
        t->kind = MM_TOK_BPE_GEMMA4;
        t->add_space_prefix = 0;
        t->clean_spaces = 1;
        t->add_bos = 0;
        t->add_eos = 0;
    } else {
        return mm_err_set(e, MM_EUNSUPPORTED,
                          "tokenizer: model '%.*s' is not supported (only 'llama' SentencePiece and 'gemma4' BPE)",
                          (int)(model.n > 64 ? 64 : model.n), model.p);
    }
    if ((rc = opt_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, e))) return rc;
    if ((rc = load_tokens(t, g, e))) return rc;
    if (t->kind == MM_TOK_BPE_GEMMA4 && (rc = mm_tok_load_merges(t, g, e))) return rc;

    /* byte tokens must carry a parsable byte (llama.cpp throws while building its piece cache) */
    for (int32_t i = 0; i < t->n_vocab; i++)
        if ((t->attr[i] & MM_TOKEN_ATTR_BYTE) && byte_of_text(mm_strs_get(&t->text, i), t->text.len[i]) < 0)
            return mm_err_set(e, MM_ECORRUPT, "tokenizer: byte token %d has malformed text", (int)i);
    for (int c = 0; c < 256; c++) {
        static const char hex[] = "0123456789ABCDEF";
        char buf[6] = {'<', '0', 'x', hex[c >> 4], hex[c & 15], '>'};
        char one = (char)c;
        t->byte_tok[c] = lookup_cstr(t, buf, 6);
        t->byte_tok_spm[c] = t->byte_tok[c] >= 0 ? t->byte_tok[c] : c ? lookup_cstr(t, &one, 1) : -1;
    }

    /* special ids (keys in llama.cpp's order; deprecated prefix/suffix/middle last) */
    struct { const char *key; int32_t *id; } keys[] = {
        {"tokenizer.ggml.bos_token_id", &t->bos}, {"tokenizer.ggml.eos_token_id", &t->eos},
        {"tokenizer.ggml.eot_token_id", &t->eot}, {"tokenizer.ggml.eom_token_id", &t->eom},
        {"tokenizer.ggml.unknown_token_id", &t->unk}, {"tokenizer.ggml.seperator_token_id", &t->sep},
        {"tokenizer.ggml.padding_token_id", &t->pad}, {"tokenizer.ggml.mask_token_id", &t->mask},
        {"tokenizer.ggml.fim_pre_token_id", &t->fim_pre}, {"tokenizer.ggml.fim_suf_token_id", &t->fim_suf},
        {"tokenizer.ggml.fim_mid_token_id", &t->fim_mid}, {"tokenizer.ggml.fim_pad_token_id", &t->fim_pad},
        {"tokenizer.ggml.fim_rep_token_id", &t->fim_rep}, {"tokenizer.ggml.fim_sep_token_id", &t->fim_sep},
        {"tokenizer.ggml.prefix_token_id", &t->fim_pre}, {"tokenizer.ggml.suffix_token_id", &t->fim_suf},
        {"tokenizer.ggml.middle_token_id", &t->fim_mid}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if ((rc = opt_id(g, keys[i].key, t->n_vocab, keys[i].id, e))) return rc;
    if ((rc = opt_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos, e))) return rc;
    if ((rc = opt_bool(g, "tokenizer.ggml.add_eos_token", &t->add_eos, e))) return rc;
    if (t->kind == MM_TOK_BPE_GEMMA4) t->add_bos = 1; /* llama.cpp PR #21500 */
    if (t->add_bos && t->bos == MM_TOKEN_NULL)
        return mm_err_set(e, MM_ECORRUPT, "tokenizer: the vocabulary adds BOS but has no valid BOS id");
    if (t->add_eos && t->eos == MM_TOKEN_NULL)
        return mm_err_set(e, MM_ECORRUPT, "tokenizer: the vocabulary adds EOS but has no valid EOS id");

    int64_t pi;
    if ((rc = find_array(g, "tokenizer.ggml.suppress_tokens", MM_GGUF_INT32, -1, 0, &pi, e))) return rc;
    if (pi >= 0) {
        const unsigned char *d = mm_gguf_arr_data(g, pi);
        uint64_t m = mm_gguf_arr_len(g, pi);
        for (uint64_t j = 0; j < m; j++) {
            int32_t v;
            memcpy(&v, d + 4 * j, 4);
            if (v >= 0 && v < t->n_vocab && (rc = mm_ivec_push(&t->suppress, v)))
                return mm_err_set(e, rc, "tokenizer: out of memory");
        }
    }
    if ((rc = detect_specials(t))) return mm_err_set(e, rc, "tokenizer: out of memory");
    return MM_OK;
}

int mm_tok_byte_of_token(const mm_tokenizer *t, int32_t id) {
    return byte_of_text(mm_strs_get(&t->text, id), t->text.len[id]);
}
