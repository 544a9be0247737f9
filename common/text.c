/*
 * common/text.c — UTF-8 validation and repair, base64, and small string helpers.
 * Paths on Linux are bytes; exports need valid UTF-8, so invalid sequences are
 * replaced by U+FFFD (one per maximal invalid subpart, as WHATWG decoders do)
 * and the raw bytes travel beside them as base64.
 */
#include "mm_common.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A stream of unknown length (a pipe, a terminal): grown in 64 KiB steps up to limit. */
static mm_code read_stream(int fd, const char *path, size_t limit, char **out, size_t *n, mm_err *e) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            if (cap > limit) {
                free(buf);
                return mm_err_set(e, MM_ELIMIT, "%s: too large (over the limit of %zu bytes)", path, limit);
            }
            cap = cap ? cap * 2 : 65536 * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return mm_err_set(e, MM_ENOMEM, "%s: out of memory", path);
            }
            buf = nb;
        }
        ssize_t k = read(fd, buf + len, 65536);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            int er = errno;
            free(buf);
            return mm_err_set(e, MM_EIO, "%s: read failed: %s", path, strerror(er));
        }
        if (k == 0) break;
        len += (size_t)k;
    }
    if (len > limit) {
        free(buf);
        return mm_err_set(e, MM_ELIMIT, "%s: too large (over the limit of %zu bytes)", path, limit);
    }
    buf[len] = 0;
    *out = buf;
    *n = len;
    return MM_OK;
}

/* A regular file is sized by fstat first, so one past the limit is refused before any memory
 * is used, and read into one allocation of exactly its size (+1 byte that also detects a file
 * growing while read, which is refused).  Directories are refused; pipes are streamed. */
mm_code mm_read_file(const char *path, size_t limit, char **out, size_t *n, mm_err *e) {
    *out = NULL;
    size_t got_n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int er = errno;
        return mm_err_set(e, mm_code_from_errno(er), "%s: cannot open: %s", path, strerror(er));
    }
    struct stat st;
    mm_code c = MM_OK;
    char *buf = NULL;
    if (fstat(fd, &st) != 0) {
        c = mm_err_set(e, MM_EIO, "%s: cannot stat: %s", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        c = mm_err_set(e, MM_EINVAL, "%s: not a regular file", path);
    } else if (!S_ISREG(st.st_mode)) {
        c = read_stream(fd, path, limit, &buf, &got_n, e);
    } else if ((uint64_t)st.st_size > (uint64_t)limit) {
        c = mm_err_set(e, MM_ELIMIT, "%s: too large (%llu bytes, limit %llu)", path,
                       (unsigned long long)st.st_size, (unsigned long long)limit);
    } else if (!(buf = malloc((size_t)st.st_size + 1))) {
        c = mm_err_set(e, MM_ENOMEM, "%s: out of memory for %llu bytes", path, (unsigned long long)st.st_size);
    } else {
        size_t want = (size_t)st.st_size + 1;
        while (got_n < want) {
            ssize_t k = read(fd, buf + got_n, want - got_n);
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) c = mm_err_set(e, MM_EIO, "%s: read failed: %s", path, strerror(errno));
            if (k <= 0) break;
            got_n += (size_t)k;
        }
        if (!c && got_n > (size_t)st.st_size) c = mm_err_set(e, MM_EIO, "%s: file grew while read", path);
        if (!c) buf[got_n] = 0; /* a file that shrank while read gives what is there */
    }
    close(fd);
    if (c) {
        free(buf);
        return c;
    }
    *out = buf;
    if (n) *n = got_n;
    return MM_OK;
}
