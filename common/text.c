/*
 * common/text.c — UTF-8 validation and repair, base64, and small string helpers.
 * Paths on Linux are bytes; exports need valid UTF-8, so invalid sequences are
 * replaced by U+FFFD (one per maximal invalid subpart, as WHATWG decoders do)
 * and the raw bytes travel beside them as base64.
 */
#include "mm_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid.  When
 * invalid, *bad gets the length of the maximal subpart to replace (>= 1). */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad) {
    unsigned c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        unsigned ci = i < n ? s[i] : 0;
        unsigned l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (i >= n || ci < l || ci > h) {
            *bad = i;
            return 0;
        }
    }
    return len;
}

int mm_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, bad;
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i, &bad);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

char *mm_utf8_sanitize(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    /* Worst case: every byte becomes 3 bytes of U+FFFD. */
    if (n > (SIZE_MAX - 1) / 3) return NULL;
    char *out = malloc(3 * n + 1), *o = out;
    if (!out) return NULL;
    size_t i = 0, bad = 1;
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i, &bad);
        if (k) {
            memcpy(o, p + i, k);
            o += k;
            i += k;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += bad;
        }
    }
    *o = 0;
    return out;
}

char *mm_base64(const void *data, size_t n) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    if (n > (SIZE_MAX / 4) * 3 - 3) return NULL;
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = al[v >> 18]; *o++ = al[(v >> 12) & 63]; *o++ = al[(v >> 6) & 63]; *o++ = al[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        *o++ = al[v >> 18]; *o++ = al[(v >> 12) & 63]; *o++ = '='; *o++ = '=';
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        *o++ = al[v >> 18]; *o++ = al[(v >> 12) & 63]; *o++ = al[(v >> 6) & 63]; *o++ = '=';
    }
    *o = 0;
    return out;
}

char *mm_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

char *mm_asprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

double mm_parse_seconds(const char *s) {
    if (!s || !*s) return -1;
    char *end;
    double v = strtod(s, &end);
    if (*end == 's' && end[1] == 0) end++;
    if (*end || !(v >= 0) || v > 1e9) return -1;
    return v;
}

mm_code mm_read_file(const char *path, size_t limit, char **out, size_t *n, mm_err *e) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int er = errno;
        return mm_err_set(e, mm_code_from_errno(er), "%s: cannot read: %s", path, strerror(er));
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            if (cap > limit) {
                fclose(f);
                free(buf);
                return mm_err_set(e, MM_ELIMIT, "%s: larger than %zu bytes", path, limit);
            }
            cap = cap ? cap * 2 : 65536 * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                fclose(f);
                free(buf);
                return mm_err_set(e, MM_ENOMEM, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t k = fread(buf + len, 1, 65536, f);
        len += k;
        if (k == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad || len > limit) {
        free(buf);
        return bad ? mm_err_set(e, MM_EIO, "%s: read failed", path)
                   : mm_err_set(e, MM_ELIMIT, "%s: larger than %zu bytes", path, limit);
    }
    buf[len] = 0;
    *out = buf;
    if (n) *n = len;
    return MM_OK;
}
