/*
 * common/err.c — the error convention: an mm_code plus a message.  See mm_common.h.
 */
#include "mm_common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

mm_code mm_err_set(mm_err *e, mm_code code, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

void mm_err_clear(mm_err *e) {
    if (e) {
        e->code = MM_OK;
        e->msg[0] = 0;
    }
}

void mm_err_prefix(mm_err *e, const char *fmt, ...) {
    if (!e) return;
    char pre[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t n = strlen(pre);
    if (n > sizeof e->msg - 3) n = sizeof e->msg - 3;
    memcpy(e->msg, pre, n);
    memcpy(e->msg + n, ": ", 2);
    size_t room = sizeof e->msg - n - 2, ol = strlen(old);
    if (ol >= room) ol = room - 1;
    memcpy(e->msg + n + 2, old, ol);
    e->msg[n + 2 + ol] = 0;
}

const char *mm_code_name(mm_code code) {
    static const char *const names[] = {
        "ok", "invalid", "io", "nomem", "notfound", "corrupt", "version",
        "full", "readonly", "busy", "limit", "unsupported", "state", "perm"};
    if ((unsigned)code < sizeof names / sizeof names[0]) return names[code];
    return "unknown";
}

mm_code mm_code_from_errno(int errnum) {
    switch (errnum) {
    case ENOENT: case ENOTDIR: return MM_ENOTFOUND;
    case EACCES: case EPERM: return MM_EPERM;
    case ENOSPC: case EFBIG: case EDQUOT: return MM_EFULL;
    case EROFS: return MM_EREADONLY;
    case ENOMEM: return MM_ENOMEM;
    case EINVAL: return MM_EINVAL;
    default: return MM_EIO;
    }
}
