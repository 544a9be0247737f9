/*
 * tests/fuzz/fuzz_utf8.c — libFuzzer target for the UTF-8 repair and base64 used
 * by every export: the repaired text is always valid UTF-8, valid input comes
 * back unchanged, and base64 has the right length.
 */
#include <stdlib.h>
#include <string.h>

#include "mm_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const char *s = (const char *)data;
    char *fixed = mm_utf8_sanitize(s, n);
    if (!fixed) return 0;
    size_t fl = strlen(fixed);
    if (!mm_utf8_valid(fixed, fl)) abort();
    if (mm_utf8_valid(s, n) && memchr(s, 0, n) == NULL && (fl != n || memcmp(fixed, s, n))) abort();
    free(fixed);
    char *b = mm_base64(data, n);
    if (b && strlen(b) != (n + 2) / 3 * 4) abort();
    free(b);
    return 0;
}
