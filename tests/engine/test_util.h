/*
 * tests/engine/test_util.h — tiny helpers shared by the engine tests: CHECK
 * macros that count failures, skipping with exit code 77, running the Python
 * reference helper, reading whole files.
 */
#ifndef MM_TEST_UTIL_H
#define MM_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int g_fail = 0;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            g_fail++;                                                      \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

#define SKIP_RC 77

static inline void test_skip(const char *why) {
    printf("SKIP: %s\n", why);
    fflush(stdout);
    exit(SKIP_RC);
}

static inline int test_done(const char *name) {
    if (g_fail) fprintf(stderr, "%s: %d check(s) FAILED\n", name, g_fail);
    else printf("%s: all checks passed\n", name);
    return g_fail ? 1 : 0;
}

static inline int is_dir(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }

/* The Python used for reference data: $MMPIPE_PYTHON or /usr/bin/python3. */
static inline const char *test_python(void) {
    const char *p = getenv("MMPIPE_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

/* Appends s single-quoted for /bin/sh to buf. */
static inline void shq(char *buf, size_t cap, const char *s) {
    size_t n = strlen(buf);
    if (n + 1 < cap) buf[n++] = '\'';
    for (; *s && n + 5 < cap; s++) {
        if (*s == '\'') { memcpy(buf + n, "'\\''", 4); n += 4; }
        else buf[n++] = *s;
    }
    if (n + 1 < cap) buf[n++] = '\'';
    buf[n] = 0;
}

/* Skips the test unless the Python reference (with numpy) runs. */
static inline void need_python(void) {
    char cmd[4096] = "";
    shq(cmd, sizeof cmd, test_python());
    strcat(cmd, " -c 'import numpy' 2>/dev/null");
    if (system(cmd) != 0) {
        char why[4200];
        snprintf(why, sizeof why, "%s with numpy is not available (apt-get install python3-numpy)", test_python());
        test_skip(why);
    }
}

/* popen of: python helper args... (each argument quoted). */
static inline FILE *run_helper(const char *helper, const char *const *args, int nargs) {
    char cmd[8192] = "";
    shq(cmd, sizeof cmd, test_python());
    strcat(cmd, " ");
    shq(cmd, sizeof cmd, helper);
    for (int i = 0; i < nargs; i++) {
        strcat(cmd, " ");
        shq(cmd, sizeof cmd, args[i]);
    }
    return popen(cmd, "r");
}

/* Runs the helper to completion, echoing its output; 1 if it exited with 0. */
static inline int helper_ok(const char *helper, const char *const *args, int nargs) {
    FILE *f = run_helper(helper, args, nargs);
    if (!f) return 0;
    char line[4096];
    while (fgets(line, sizeof line, f)) fputs(line, stdout);
    return pclose(f) == 0;
}

/* Reads a whole file; NULL on error. */
static inline void *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) { free(p); p = NULL; }
    fclose(f);
    if (p) *n = (size_t)sz;
    return p;
}

#endif
