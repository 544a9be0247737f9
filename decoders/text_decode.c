/*
 * decoders/text_decode.c — bytes of a text-like file (plain text, Markdown, HTML) into UTF-8, the
 * map from decoded positions back to file offsets, and the plain-text parser (paragraphs split at
 * blank lines).
 *
 * Encoding rules, in order:
 *   1. a BOM decides: EF BB BF UTF-8, FF FE UTF-16LE, FE FF UTF-16BE (the BOM is stripped);
 *   2. no BOM but NULs in every other byte, and almost none in the others: UTF-16 of that order;
 *   3. NUL bytes, or more than 1 % control characters: "binary data, not text";
 *   4. valid UTF-8: used as is, with no copy;
 *   5. mostly valid UTF-8 (at least 4 valid multi-byte sequences per invalid byte): UTF-8, each
 *      invalid byte replaced by U+FFFD;
 *   6. otherwise Windows-1252 (a superset of printable Latin-1), converted and reported as such —
 *      old Western files are common and this reading is right for nearly all of them — unless
 *      the caller asked to reject legacy encodings.
 * Every decoded code point comes from one "unit" of the source (next_unit); doc_map_pos walks the
 * same units, so offsets stay exact whatever the conversion did.
 */
#include "doc_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct unit {
    uint32_t cp;
    unsigned n; /* source bytes taken, >= 1 */
} unit;

static const uint16_t cp1252_hi[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

/* Length of the valid UTF-8 sequence at p[0..n) (its code point in *cp), or 0 if invalid. */
static unsigned utf8_valid_seq(const unsigned char *p, size_t n, uint32_t *cp) {
    unsigned c = p[0], len, lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) len = 2, *cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, *cp = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, *cp = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (n < len) return 0;
    for (unsigned i = 1; i < len; i++) {
        unsigned ci = p[i];
        if (ci < (i == 1 ? lo : 0x80) || ci > (i == 1 ? hi : 0xBF)) return 0;
        *cp = *cp << 6 | (ci & 0x3F);
    }
    return len;
}

static unit next_unit(doc_enc enc, const unsigned char *p, size_t n) {
    unit u = {0xFFFD, 1};
    switch (enc) {
    case DOC_ENC_UTF8:
    case DOC_ENC_UTF8_FIXED: {
        unsigned k = utf8_valid_seq(p, n, &u.cp);
        if (k) u.n = k;
        else u.cp = 0xFFFD;
        return u;
    }
    case DOC_ENC_CP1252:
        u.cp = p[0] >= 0x80 && p[0] < 0xA0 ? cp1252_hi[p[0] - 0x80] : p[0];
        return u;
    case DOC_ENC_UTF16LE:
    case DOC_ENC_UTF16BE: {
        if (n < 2) return u; /* an odd last byte: U+FFFD */
        int le = enc == DOC_ENC_UTF16LE;
        uint32_t a = le ? (uint32_t)p[0] | p[1] << 8 : (uint32_t)p[0] << 8 | p[1];
        u.n = 2;
        u.cp = a >= 0xD800 && a <= 0xDFFF ? 0xFFFD : a;
        if (a >= 0xD800 && a < 0xDC00 && n >= 4) {
            uint32_t b = le ? (uint32_t)p[2] | p[3] << 8 : (uint32_t)p[2] << 8 | p[3];
            if (b >= 0xDC00 && b <= 0xDFFF) {
                u.cp = 0x10000 + ((a - 0xD800) << 10) + (b - 0xDC00);
                u.n = 4;
            }
        }
        return u;
    }
    }
    return u;
}

size_t doc_utf8_put(uint32_t cp, char out[4]) {
    unsigned char *o = (unsigned char *)out;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6), o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12), o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18), o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static size_t utf8_len(uint32_t cp) {
    char tmp[4];
    return doc_utf8_put(cp, tmp);
}

/* ---- detection ------------------------------------------------------------------------------ */

static int is_bad_control(uint32_t c) {
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1B) ||
           c == 0x7F;
}

/* NULs at odd positions for UTF-16LE text in the Latin range (even ones for BE). */
static doc_enc sniff_utf16(const unsigned char *p, size_t n, int *found) {
    size_t m = n < 8192 ? n & ~(size_t)1 : 8192, z_even = 0, z_odd = 0;
    *found = 0;
    if (m < 8) return DOC_ENC_UTF8;
    for (size_t i = 0; i < m; i += 2) {
        z_even += !p[i];
        z_odd += !p[i + 1];
    }
    size_t half = m / 2;
    if (z_odd * 10 >= half * 4 && z_even * 50 <= half) return *found = 1, DOC_ENC_UTF16LE;
    if (z_even * 10 >= half * 4 && z_odd * 50 <= half) return *found = 1, DOC_ENC_UTF16BE;
    return DOC_ENC_UTF8;
}

static mm_code binary_error(const char *name, const char *why, mm_err *e) {
    return mm_err_set(e, MM_EINVAL, "%s: binary data, not text (%s)", name, why);
}

/* Counts units, control characters and the decoded size; rejects NULs and control-heavy data. */
static mm_code scan_units(const unsigned char *p, size_t n, doc_enc enc, const char *name,
                          size_t *out_len, size_t *n_bad, mm_err *e) {
    size_t units = 0, ctrl = 0, len = 0, bad = 0;
    for (size_t i = 0; i < n;) {
        unit u = next_unit(enc, p + i, n - i);
        if (u.cp == 0) return binary_error(name, "NUL characters", e);
        ctrl += is_bad_control(u.cp);
        bad += u.cp == 0xFFFD && (enc != DOC_ENC_UTF8_FIXED || u.n == 1);
        len += utf8_len(u.cp);
        units++;
        i += u.n;
    }
    if (ctrl > 8 && ctrl * 100 > units) return binary_error(name, "control characters", e);
    *out_len = len;
    *n_bad = bad;
    return MM_OK;
}

/* Valid multi-byte sequences and invalid bytes, to tell damaged UTF-8 from a legacy encoding. */
static void utf8_census(const unsigned char *p, size_t n, size_t *multi, size_t *bad) {
    *multi = *bad = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        unsigned k = utf8_valid_seq(p + i, n - i, &cp);
        if (!k) (*bad)++, k = 1;
        else if (k > 1) (*multi)++;
        i += k;
    }
}

static mm_code convert(const unsigned char *p, size_t n, size_t out_len, doc_text *t, mm_err *e,
                       const char *name) {
    char *o = malloc(out_len + 1);
    if (!o) return mm_err_set(e, MM_ENOMEM, "%s: out of memory converting text", name);
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        unit u = next_unit(t->enc, p + i, n - i);
        w += doc_utf8_put(u.cp, o + w);
        i += u.n;
    }
    o[w] = 0;
    t->owned = o;
    t->text = o;
    t->len = w;
    return MM_OK;
}

mm_code doc_decode_text(const char *buf, size_t len, const char *name, int reject_legacy,
                        doc_text *t, mm_err *e) {
    const unsigned char *p = (const unsigned char *)buf;
    *t = (doc_text){.enc = DOC_ENC_UTF8};
    int sniffed;
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) t->skip = 3;
    else if (len >= 2 && p[0] == 0xFF && p[1] == 0xFE) t->skip = 2, t->enc = DOC_ENC_UTF16LE;
    else if (len >= 2 && p[0] == 0xFE && p[1] == 0xFF) t->skip = 2, t->enc = DOC_ENC_UTF16BE;
    else t->enc = sniff_utf16(p, len, &sniffed);
    p += t->skip;
    len -= t->skip;
    t->src = p;
    t->src_len = len;
    size_t out_len = 0, bad = 0;
    mm_code c;
    if (t->enc == DOC_ENC_UTF8 && !mm_utf8_valid((const char *)p, len)) {
        size_t multi, nbad;
        utf8_census(p, len, &multi, &nbad);
        if (multi >= 4 * nbad) t->enc = DOC_ENC_UTF8_FIXED;
        else if (!t->skip) t->enc = DOC_ENC_CP1252;
        else t->enc = DOC_ENC_UTF8_FIXED; /* a UTF-8 BOM is believed */
    }
    if ((c = scan_units(p, len, t->enc, name, &out_len, &bad, e))) return c;
    if (t->enc == DOC_ENC_CP1252 && reject_legacy)
        return mm_err_set(e, MM_EUNSUPPORTED, "%s: not UTF-8 (legacy encodings are rejected)", name);
    if (t->enc == DOC_ENC_UTF8) {
        t->text = (const char *)p;
        t->len = len;
        return MM_OK;
    }
    (void)bad;
    return convert(p, len, out_len, t, e, name);
}

void doc_text_free(doc_text *t) {
    free(t->owned);
    t->owned = NULL;
}

/* Invariant: m->s is the source offset (after the BOM) of decoded position m->u, both on a unit
 * boundary.  Queries come mostly in increasing order, so mapping a document is one linear walk;
 * a query behind the cursor restarts from the beginning. */
uint64_t doc_map_pos(doc_map *m, size_t u) {
    const doc_text *t = m->t;
    if (u > t->len) u = t->len;
    if (t->enc == DOC_ENC_UTF8) return t->skip + u;
    if (u < m->u) m->u = 0, m->s = 0;
    while (m->u < u && m->s < t->src_len) {
        unit x = next_unit(t->enc, t->src + m->s, t->src_len - m->s);
        m->u += utf8_len(x.cp);
        m->s += x.n;
    }
    return t->skip + m->s;
}

/* ---- plain text ----------------------------------------------------------------------------- */

/* The line starting at i: content [i, *end), next line at *next.  \n, \r\n and \r end lines. */
static void line_at(const char *s, size_t n, size_t i, size_t *end, size_t *next) {
    size_t j = i;
    while (j < n && s[j] != '\n' && s[j] != '\r') j++;
    *end = j;
    if (j < n && s[j] == '\r' && j + 1 < n && s[j + 1] == '\n') j++;
    *next = j < n ? j + 1 : j;
}

static int blank(const char *s, size_t a, size_t b) {
    for (size_t i = a; i < b; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\f' && s[i] != '\v') return 0;
    return 1;
}

/* A paragraph is a run of non-blank lines; its text is the lines without trailing blanks, joined
 * by "\n"; its span runs from its first line's start to its last line's last non-blank byte. */
mm_code doc_parse_plain(const doc_text *t, doc_builder *b) {
    const char *s = t->text;
    size_t n = t->len, i = 0, start = 0, last_end = 0;
    int open = 0;
    while (i < n) {
        size_t end, next;
        line_at(s, n, i, &end, &next);
        if (blank(s, i, end)) {
            if (open && db_end(b, MM_BLOCK_PARAGRAPH, 0, 0, start, last_end - start)) return b->failed;
            open = 0;
        } else {
            size_t e2 = end;
            while (e2 > i && (s[e2 - 1] == ' ' || s[e2 - 1] == '\t')) e2--;
            if (open && db_putc(b, '\n')) return b->failed;
            if (!open) start = i, open = 1;
            if (db_append(b, s + i, e2 - i)) return b->failed;
            last_end = e2;
        }
        i = next;
    }
    if (open && db_end(b, MM_BLOCK_PARAGRAPH, 0, 0, start, last_end - start)) return b->failed;
    return MM_OK;
}
