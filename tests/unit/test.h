/*
 * tests/unit/test.h — a minimal assertion harness for the C unit tests:
 * CHECK(cond, fmt, ...) records a failure with file:line and goes on;
 * test_done() prints the tally and gives the exit status.
 */
#ifndef MM_TEST_H
#define MM_TEST_H

#include <stdio.h>

static int test_failures, test_checks;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        test_checks++;                                                          \
        if (!(cond)) {                                                          \
            test_failures++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

static inline int test_done(const char *name) {
    fprintf(stderr, "%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures ? 1 : 0;
}

#endif
