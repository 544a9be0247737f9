/*
 * common/mm_common.h — the few dependency-free pieces every directory of mmpipe
 * shares: the error convention (a code plus a message), SHA-256, UTF-8 checks,
 * base64, time helpers and small string helpers.
 *
 * Error convention: library functions return an mm_code (MM_OK == 0) and, on
 * failure, fill a caller-supplied mm_err with the same code and a message that
 * names the file or object and the reason.  Library code never prints and never
 * exits; only pipeline/ (the CLI) does.
 */
#ifndef MM_COMMON_H
#define MM_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

typedef enum mm_code {
    MM_OK = 0,
    MM_EINVAL,       /* bad argument or malformed input */
    MM_EIO,          /* read/write failure */
    MM_ENOMEM,       /* allocation failed */
    MM_ENOTFOUND,    /* file, job or key does not exist */
    MM_ECORRUPT,     /* the file is not what it claims to be */
    MM_EVERSION,     /* written by a newer version */
    MM_EFULL,        /* disk or database full */
    MM_EREADONLY,    /* cannot write */
    MM_EBUSY,        /* locked longer than the busy timeout */
    MM_ELIMIT,       /* exceeds a configured limit */
    MM_EUNSUPPORTED, /* valid but not handled */
    MM_ESTATE,       /* wrong state for the operation (e.g. lease lost) */
    MM_EPERM         /* permission denied */
} mm_code;

typedef struct mm_err {
    mm_code code;
    char msg[1024];
} mm_err;

/* Sets e (if non-NULL) and returns code, so callers can `return mm_err_set(...)`. */
mm_code mm_err_set(mm_err *e, mm_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void mm_err_clear(mm_err *e);
/* Prefixes the existing message with "prefix: ". */
void mm_err_prefix(mm_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *mm_code_name(mm_code code);
/* Maps an errno value to the closest mm_code. */
mm_code mm_code_from_errno(int errnum);

/* ---- SHA-256 (FIPS 180-4) ---- */
typedef struct mm_sha256 {
    uint32_t h[8];
    uint64_t nbytes;
    uint8_t buf[64];
    size_t nbuf;
} mm_sha256;

void mm_sha256_init(mm_sha256 *s);
void mm_sha256_update(mm_sha256 *s, const void *data, size_t n);
void mm_sha256_final(mm_sha256 *s, uint8_t out[32]);
void mm_sha256_hex(const uint8_t digest[32], char hex[65]);
/* Hashes a whole file by streaming it; hex gets 64 hex digits + NUL. */
mm_code mm_sha256_file(const char *path, char hex[65], uint64_t *size_out, mm_err *e);

/* ---- UTF-8 and base64 ---- */
int mm_utf8_valid(const char *s, size_t n);
/* Returns a malloc'd NUL-terminated copy of s[0..n) with each invalid sequence
 * replaced by U+FFFD (as WHATWG "maximal subpart" does); NULL on OOM. */
char *mm_utf8_sanitize(const char *s, size_t n);
/* Returns a malloc'd NUL-terminated base64 (RFC 4648, padded) of data; NULL on OOM. */
char *mm_base64(const void *data, size_t n);

/* ---- time ---- */
int64_t mm_now_ms(void);            /* wall clock, ms since the Unix epoch */
int64_t mm_mono_ns(void);           /* monotonic clock, ns */
void mm_sleep_ms(double ms);
/* ISO 8601 UTC with milliseconds: "2026-12-01T22:38:52.123Z" (buf >= 25). */
void mm_iso8601_ms(int64_t ms, char buf[32]);

/* ---- files ---- */
/* Reads a whole file into a malloc'd NUL-terminated buffer (*n = its length): a regular file
 * sized by fstat first (refused past limit before any allocation; growing while read refused),
 * a pipe streamed; a directory is MM_EINVAL;
 * MM_ELIMIT past limit bytes. */
mm_code mm_read_file(const char *path, size_t limit, char **out, size_t *n, mm_err *e);

/* ---- strings ---- */
char *mm_strdup(const char *s);
/* Formats into a malloc'd string; NULL on OOM. */
char *mm_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parses a non-negative duration in seconds ("30", "0.5"); -1 on error. */
double mm_parse_seconds(const char *s);

#endif
