/*
 * tests/unit/test_common.c — common/: SHA-256 against the FIPS 180-4 / NIST
 * vectors (one-shot and split at every offset), file hashing, UTF-8 repair,
 * base64 (RFC 4648 vectors) and ISO 8601 formatting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_common.h"
#include "test.h"

static void sha_hex(const void *d, size_t n, char hex[65]) {
    mm_sha256 s;
    uint8_t out[32];
    mm_sha256_init(&s);
    mm_sha256_update(&s, d, n);
    mm_sha256_final(&s, out);
    mm_sha256_hex(out, hex);
}

static void test_sha256(void) {
    static const struct { const char *in, *hex; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[65];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        sha_hex(v[i].in, strlen(v[i].in), hex);
        CHECK(!strcmp(hex, v[i].hex), "vector %zu: %s", i, hex);
        /* the same digest whatever the split */
        size_t n = strlen(v[i].in);
        for (size_t cut = 0; cut <= n; cut++) {
            mm_sha256 s;
            uint8_t out[32];
            mm_sha256_init(&s);
            mm_sha256_update(&s, v[i].in, cut);
            mm_sha256_update(&s, v[i].in + cut, n - cut);
            mm_sha256_final(&s, out);
            mm_sha256_hex(out, hex);
            CHECK(!strcmp(hex, v[i].hex), "vector %zu split at %zu", i, cut);
        }
    }
    /* one million 'a' in uneven pieces */
    mm_sha256 s;
    uint8_t out[32];
    char buf[997];
    memset(buf, 'a', sizeof buf);
    mm_sha256_init(&s);
    size_t left = 1000000;
    while (left) {
        size_t k = left < sizeof buf ? left : sizeof buf;
        mm_sha256_update(&s, buf, k);
        left -= k;
    }
    mm_sha256_final(&s, out);
    mm_sha256_hex(out, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "million a: %s", hex);
    /* lengths around the 55/56/64-byte padding edges agree with a second route (file) */
    char path[] = "/tmp/mmpipe-test-sha-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    for (int n = 0; n < 200 && fd >= 0; n++) {
        char data[200];
        for (int i = 0; i < n; i++) data[i] = (char)(i * 7 + n);
        CHECK(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0 && write(fd, data, (size_t)n) == n, "write");
        char h1[65], h2[65];
        uint64_t size = 0;
        mm_err e;
        sha_hex(data, (size_t)n, h1);
        CHECK(mm_sha256_file(path, h2, &size, &e) == MM_OK && size == (uint64_t)n, "file hash %d", n);
        CHECK(!strcmp(h1, h2), "file and memory hashes differ at n=%d", n);
    }
    if (fd >= 0) close(fd);
    unlink(path);
    mm_err e;
    CHECK(mm_sha256_file("/nonexistent/x", hex, NULL, &e) == MM_ENOTFOUND, "missing file code");
    CHECK(strstr(e.msg, "/nonexistent/x") != NULL, "message names the file: %s", e.msg);
    CHECK(mm_sha256_file("/tmp", hex, NULL, &e) == MM_EINVAL, "folder is not a file");
}

static void test_utf8(void) {
    static const struct { const char *in; size_t n; int valid; const char *out; } v[] = {
        {"plain", 5, 1, "plain"},
        {"caf\xc3\xa9", 5, 1, "caf\xc3\xa9"},
        {"\xf0\x9f\x98\x80", 4, 1, "\xf0\x9f\x98\x80"},
        {"bad\xff", 4, 0, "bad\xef\xbf\xbd"},
        {"\xc3", 1, 0, "\xef\xbf\xbd"},                              /* truncated */
        {"\xc0\xaf", 2, 0, "\xef\xbf\xbd\xef\xbf\xbd"},              /* overlong */
        {"\xed\xa0\x80", 3, 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
        {"\xe2\x82", 2, 0, "\xef\xbf\xbd"},                          /* maximal subpart: one U+FFFD */
        {"\xf4\x90\x80\x80", 4, 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
        {"a\0b", 3, 1, "a"},                                         /* NUL is valid UTF-8 */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        CHECK(mm_utf8_valid(v[i].in, v[i].n) == v[i].valid, "valid %zu", i);
        char *o = mm_utf8_sanitize(v[i].in, v[i].n);
        CHECK(o && !strcmp(o, v[i].out), "sanitize %zu", i);
        CHECK(o && mm_utf8_valid(o, strlen(o)), "sanitized %zu is valid", i);
        free(o);
    }
}

static void test_base64(void) {
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *b = mm_base64(in[i], strlen(in[i]));
        CHECK(b && !strcmp(b, out[i]), "base64 '%s' -> %s", in[i], b ? b : "NULL");
        free(b);
    }
    char *b = mm_base64("\xff\xfe\x00", 3);
    CHECK(b && !strcmp(b, "//4A"), "binary base64 %s", b ? b : "NULL");
    free(b);
}

static void test_time(void) {
    char buf[32];
    mm_iso8601_ms(0, buf);
    CHECK(!strcmp(buf, "1970-01-01T00:00:00.000Z"), "%s", buf);
    mm_iso8601_ms(1796164732123LL, buf);
    CHECK(!strcmp(buf, "2026-12-01T22:38:52.123Z"), "%s", buf);
    int64_t a = mm_mono_ns();
    mm_sleep_ms(5);
    CHECK(mm_mono_ns() - a >= 5000000, "sleep at least 5 ms");
    CHECK(mm_parse_seconds("30") == 30 && mm_parse_seconds("0.5") == 0.5 && mm_parse_seconds("2s") == 2,
          "parse seconds");
    CHECK(mm_parse_seconds("-1") < 0 && mm_parse_seconds("x") < 0 && mm_parse_seconds("") < 0,
          "bad seconds refused");
}

static void test_err(void) {
    mm_err e;
    CHECK(mm_err_set(&e, MM_EIO, "file %s", "x") == MM_EIO && e.code == MM_EIO, "set");
    mm_err_prefix(&e, "ctx");
    CHECK(!strcmp(e.msg, "ctx: file x"), "%s", e.msg);
    char big[2000];
    memset(big, 'p', sizeof big - 1);
    big[sizeof big - 1] = 0;
    mm_err_prefix(&e, "%s", big); /* must truncate, not overflow */
    CHECK(strlen(e.msg) < sizeof e.msg, "prefix truncates");
    CHECK(!strcmp(mm_code_name(MM_EFULL), "full"), "code name");
}

/* mm_read_file: exact content, the limit checked from the size (a sparse 2 GiB file is
 * refused without reading it), a directory and a missing file refused, a pipe streamed. */
static void test_read_file(void) {
    char dir[] = "/tmp/mmpipe-readfile-XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/a.txt", dir);
    FILE *f = fopen(path, "wb");
    fputs("hello\n", f);
    fclose(f);
    char *buf = NULL;
    size_t n = 0;
    mm_err e;
    CHECK(mm_read_file(path, 100, &buf, &n, &e) == MM_OK && n == 6 && !strcmp(buf, "hello\n"), "read: %s", e.msg);
    free(buf);
    CHECK(mm_read_file(path, 6, &buf, &n, &e) == MM_OK && n == 6, "a file of exactly the limit");
    free(buf);
    CHECK(mm_read_file(path, 5, &buf, &n, &e) == MM_ELIMIT && buf == NULL && strstr(e.msg, "too large (6 bytes"),
          "over the limit: %s", e.msg);
    snprintf(path, sizeof path, "%s/sparse", dir);
    f = fopen(path, "wb");
    fclose(f);
    CHECK(truncate(path, 2147483648LL) == 0, "sparse file");
    CHECK(mm_read_file(path, 1 << 20, &buf, &n, &e) == MM_ELIMIT && strstr(e.msg, "2147483648"), "%s", e.msg);
    CHECK(mm_read_file(dir, 100, &buf, &n, &e) == MM_EINVAL && strstr(e.msg, "not a regular file"), "%s", e.msg);
    snprintf(path, sizeof path, "%s/missing", dir);
    CHECK(mm_read_file(path, 100, &buf, &n, &e) == MM_ENOTFOUND && strstr(e.msg, path), "%s", e.msg);
    /* a pipe: streamed, and the limit still holds */
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    CHECK(write(fds[1], "abc", 3) == 3, "write");
    close(fds[1]);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
    CHECK(mm_read_file(path, 100, &buf, &n, &e) == MM_OK && n == 3 && !strcmp(buf, "abc"), "pipe: %s", e.msg);
    free(buf);
    close(fds[0]);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    CHECK(system(path) == 0, "cleanup");
}

int main(void) {
    test_read_file();
    test_sha256();
    test_utf8();
    test_base64();
    test_time();
    test_err();
    return test_done("test_common");
}
