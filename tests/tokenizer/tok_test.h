/*
 * tests/tokenizer/tok_test.h — helpers shared by the tokenizer tests: failure counting, the
 * skip convention (print "SKIP: ..." and exit 77), whole-file reading, opening a tokenizer from a
 * GGUF path, and printing a byte string readably.
 */
#ifndef MM_TOK_TEST_H
#define MM_TOK_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"

#include "../engine/test_util.h" /* CHECK, g_fail, test_skip (exit 77), test_done */

#define tok_skip test_skip

static inline int tok_is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whole file, NUL-terminated; NULL on error. */
static inline char *tok_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = sz >= 0 ? malloc((size_t)sz + 1) : NULL;
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[sz] = 0;
        if (n) *n = (size_t)sz;
    }
    return b;
}

/* Opens path and its tokenizer; both NULL (and a message printed) on failure. */
static inline mm_tokenizer *tok_open_path(const char *path, mm_gguf **g) {
    mm_err e = {0};
    mm_tokenizer *t = NULL;
    if (mm_gguf_open(path, g, &e)) {
        fprintf(stderr, "%s: %s\n", path, e.msg);
        *g = NULL;
        return NULL;
    }
    if (mm_tokenizer_open(*g, &t, &e)) {
        fprintf(stderr, "%s: %s\n", path, e.msg);
        mm_gguf_close(*g);
        *g = NULL;
        return NULL;
    }
    return t;
}

static inline void tok_print_bytes(FILE *f, const char *s, size_t n, size_t max) {
    fputc('"', f);
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", f);
        else if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    fputs(n > max ? "\"..." : "\"", f);
}

#endif
