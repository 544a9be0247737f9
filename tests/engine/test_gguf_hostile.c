/*
 * tests/engine/test_gguf_hostile.c — the GGUF reader against malformed files.
 * A valid file built in memory (gguf_build.h) is opened, then: cut at every
 * offset; each header field corrupted in a chosen way (huge counts and lengths,
 * unknown types, nested arrays, bad bools, bad alignment, n_dims 0 / 5, zero
 * and overflowing dims, partial blocks, offsets past EOF / misaligned /
 * overlapping, duplicate keys and tensors, NUL in names, long names, bad
 * magic / versions) — each must fail with the expected code and a message
 * naming the problem and the key or tensor; every byte of the header set to
 * 0x00 / 0xFF / 0x80 / +1 (must not crash: run under ASan); the key limit;
 * a 262,144-string array with O(1) access; and opening by path.
 * Buffers are malloc'd at their exact size so ASan sees any over-read.
 */
#include <time.h>

#include "engine.h"
#include "gguf_build.h"
#include "test_util.h"

static mm_code open_copy(const uint8_t *p, size_t n, mm_gguf **g, mm_err *e) {
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, p, n);
    mm_code c = mm_gguf_open_memory(copy, n, "t.gguf", g, e);
    if (c == MM_OK) {
        /* touch everything the handle exposes while the buffer is alive */
        for (int64_t i = 0; i < mm_gguf_n_tensors(*g); i++) {
            const mm_tensor *t = mm_gguf_tensor(*g, i);
            CHECK((const uint8_t *)t->data >= copy && t->file_offset + t->nbytes <= n, "tensor outside buffer");
            const mm_type_traits *tt = mm_type_traits_get(t->type);
            if (tt && tt->can_dequantize && t->ne[0] <= 4096) {
                float row[4096];
                mm_err e2;
                CHECK(mm_tensor_dequantize_rows(t, 0, 1, row, &e2) == MM_OK, "%s", e2.msg);
            }
        }
        mm_model_info mi;
        mm_err e2;
        (void)mm_model_info_get(*g, 0, &mi, &e2);
        mm_gguf_close(*g);
        *g = NULL;
    }
    free(copy);
    return c;
}

/* Expects opening b to fail with code `want` and a message containing each of subs. */
static void expect_fail(const char *what, const gb *b, mm_code want, const char *sub1, const char *sub2) {
    mm_gguf *g = NULL;
    mm_err e;
    mm_err_clear(&e);
    mm_code c = open_copy(b->p, b->n, &g, &e);
    CHECK(c == want, "%s: code %s, want %s (%s)", what, mm_code_name(c), mm_code_name(want), e.msg);
    CHECK(!sub1 || strstr(e.msg, sub1), "%s: message '%s' lacks '%s'", what, e.msg, sub1);
    CHECK(!sub2 || strstr(e.msg, sub2), "%s: message '%s' lacks '%s'", what, e.msg, sub2);
    CHECK(c == MM_OK || strncmp(e.msg, "t.gguf: ", 8) == 0, "%s: message does not name the file: %s", what, e.msg);
}

static void check_valid(const gb *b) {
    mm_gguf *g = NULL;
    mm_err e;
    mm_code c = mm_gguf_open_memory(b->p, b->n, NULL, &g, &e);
    CHECK(c == MM_OK, "standard file: %s", e.msg);
    if (c) return;
    CHECK(mm_gguf_n_kv(g) == 6 && mm_gguf_n_tensors(g) == 3 && mm_gguf_alignment(g) == 32, "counts");
    const mm_tensor *t = mm_gguf_find_tensor(g, "b");
    CHECK(t && t->type == MM_TYPE_Q8_0 && t->ne[0] == 32 && t->ne[1] == 1 && t->nbytes == 34 && t->offset == 64,
          "tensor b");
    float y[32];
    CHECK(t && mm_tensor_dequantize_rows(t, 0, 1, y, &e) == MM_OK && y[0] == -16 && y[31] == 15, "b values");
    t = mm_gguf_find_tensor(g, "c");
    CHECK(t && t->n_dims == 1 && t->ne[1] == 1 && t->n_rows == 1, "tensor c");
    CHECK(mm_gguf_find_tensor(g, "d") == NULL && mm_gguf_find_tensor(g, "") == NULL, "absent tensor");
    mm_str s;
    CHECK(mm_gguf_arr_str(g, mm_gguf_find_key(g, "tokenizer.ggml.tokens"), 2, &s, &e) == MM_OK && s.n == 2 &&
              memcmp(s.p, "bc", 2) == 0, "tokens[2]");
    double d;
    CHECK(mm_gguf_get_float(g, "k.aaab", &d, &e) == MM_OK && d == 1.5, "k.aaab");
    mm_model_info mi;
    CHECK(mm_model_info_get(g, 0, &mi, &e) == MM_OK && strcmp(mi.arch, "llama") == 0 && mi.n_layer == 2 &&
              mi.n_params == 16 + 32 + 8 && mi.n_vocab == 3 && mi.n_types == 2,
          "model info");
    mm_gguf_close(g);
}

static gb g_std;
static gb_layout L;

/* A fresh copy of the standard file to corrupt. */
static gb fresh(void) {
    gb b = {0};
    gb_bytes(&b, g_std.p, g_std.n);
    return b;
}

#define CASE(what, patch, code, s1, s2)          \
    do {                                         \
        gb b = fresh();                          \
        patch;                                   \
        expect_fail(what, &b, code, s1, s2);     \
        free(b.p);                               \
    } while (0)

static void field_cases(void) {
    const mm_code C = MM_ECORRUPT;
    CASE("magic", b.p[0] = 'X', C, "bad magic", NULL);
    CASE("version 1", gb_patch(&b, L.version, 1, 4), MM_EUNSUPPORTED, "version 1", NULL);
    CASE("version 4", gb_patch(&b, L.version, 4, 4), MM_EVERSION, "version 4", NULL);
    CASE("version 0", gb_patch(&b, L.version, 0, 4), C, "version 0", NULL);
    CASE("big-endian", gb_patch(&b, L.version, 0x03000000, 4), MM_EUNSUPPORTED, "big-endian", NULL);
    CASE("huge n_kv", gb_patch(&b, L.n_kv, 1ull << 40, 8), C, "claims 1099511627776 keys", NULL);
    CASE("n_kv max", gb_patch(&b, L.n_kv, UINT64_MAX, 8), C, "keys", NULL);
    CASE("huge n_tensors", gb_patch(&b, L.n_t, 1ull << 50, 8), C, "tensors", "claims");
    CASE("n_kv + 1", gb_patch(&b, L.n_kv, 7, 8), C, NULL, NULL);
    CASE("n_tensors + 1", gb_patch(&b, L.n_t, 4, 8), C, "tensor", NULL);
    CASE("key length huge", gb_patch(&b, L.key_len[1], 1ull << 62, 8), C, "key #1", "name length");
    CASE("key length past EOF", gb_patch(&b, L.key_len[3], g_std.n, 8), C, "key #3", "past the end");
    CASE("empty key", gb_patch(&b, L.key_len[0], 0, 8), C, "key #0", "empty name");
    CASE("NUL in key", b.p[L.key_len[3] + 8 + 2] = 0, C, "NUL", "key #3");
    CASE("value type 13", gb_patch(&b, L.key_type[3], 13, 4), C, "'llama.block_count'", "unknown value type 13");
    CASE("value type huge", gb_patch(&b, L.key_type[0], 0xFFFFFFFF, 4), C, "'general.architecture'", "unknown value type");
    CASE("nested array", gb_patch(&b, L.arr_type, 9, 4), MM_EUNSUPPORTED, "'tokenizer.ggml.tokens'", "nested");
    CASE("array elem type 99", gb_patch(&b, L.arr_type, 99, 4), C, "'tokenizer.ggml.tokens'", "unknown array element type 99");
    CASE("string array count", gb_patch(&b, L.arr_n, 1ull << 61, 8), C, "'tokenizer.ggml.tokens'", "cannot fit");
    CASE("string array count + 1", gb_patch(&b, L.arr_n, 4, 8), C, "key #3", NULL);
    CASE("numeric array count", (gb_patch(&b, L.arr_type, 12, 4), gb_patch(&b, L.arr_n, 1ull << 61, 8)), C,
         "'tokenizer.ggml.tokens'", "float64 values need");
    CASE("string length huge", gb_patch(&b, L.str0_len, UINT64_MAX, 8), C, "'tokenizer.ggml.tokens'", "string 0");
    CASE("string length past EOF", gb_patch(&b, L.str0_len, g_std.n, 8), C, "'tokenizer.ggml.tokens'", "only");
    CASE("bool 2", b.p[L.bool_val] = 2, C, "'k.aaaa'", "bool value 2");
    CASE("duplicate key", b.p[L.dup_key_last] = 'a', C, "duplicate key 'k.aaaa'", NULL);
    CASE("alignment 0", gb_patch(&b, L.align_val, 0, 4), C, "'general.alignment'", "power of two");
    CASE("alignment 3", gb_patch(&b, L.align_val, 3, 4), C, "'general.alignment'", "3 is not");
    CASE("alignment 2^31", gb_patch(&b, L.align_val, 1u << 31, 4), C, "'general.alignment'", NULL);
    CASE("alignment int32", gb_patch(&b, L.key_type[1], 5, 4), C, "'general.alignment'", "expected uint32");
    CASE("alignment 128", gb_patch(&b, L.align_val, 128, 4), C, "not a multiple of the alignment 128", "'b'");
    CASE("n_dims 5", gb_patch(&b, L.ndims[0], 5, 4), C, "tensor 'a'", "n_dims 5");
    CASE("n_dims 0", gb_patch(&b, L.ndims[1], 0, 4), C, "tensor 'b'", "n_dims 0");
    CASE("dim 0", gb_patch(&b, L.ne[0][1], 0, 8), C, "tensor 'a'", "dimension 1 is 0");
    CASE("dim overflow", (gb_patch(&b, L.ne[0][0], 1ull << 62, 8), gb_patch(&b, L.ne[0][1], 1ull << 62, 8)), C,
         "tensor 'a'", "overflows");
    CASE("dim > INT64_MAX", gb_patch(&b, L.ne[2][0], UINT64_MAX, 8), C, "tensor 'c'", "overflows");
    CASE("byte size overflow", gb_patch(&b, L.ne[0][0], 1ull << 62, 8), C, "tensor 'a'", "overflows");
    CASE("huge dims, in range", gb_patch(&b, L.ne[0][1], 1ull << 40, 8), C, "tensor 'a'", "past end of file");
    CASE("type 4", gb_patch(&b, L.type[0], 4, 4), C, "tensor 'a'", "unknown type id 4");
    CASE("type 200", gb_patch(&b, L.type[2], 200, 4), C, "tensor 'c'", "unknown type id 200");
    CASE("partial block", gb_patch(&b, L.ne[1][0], 33, 8), C, "tensor 'b'", "whole number of Q8_0 blocks");
    CASE("Q4_K row of 32", gb_patch(&b, L.type[1], MM_TYPE_Q4_K, 4), C, "tensor 'b'", "Q4_K blocks (256)");
    CASE("offset past EOF", gb_patch(&b, L.off[2], 1ull << 40, 8), C, "tensor 'c'", "past end of file");
    CASE("offset max", gb_patch(&b, L.off[2], UINT64_MAX - 31, 8), C, "tensor 'c'", "past end of file");
    CASE("end past EOF", gb_patch(&b, L.off[2], 160, 8), C, "tensor 'c'", "past end of file");
    CASE("misaligned", gb_patch(&b, L.off[1], 65, 8), C, "tensor 'b'", "not a multiple of the alignment 32");
    CASE("overlap", gb_patch(&b, L.off[2], 64, 8), C, "overlaps", NULL);
    CASE("overlap 2", gb_patch(&b, L.off[1], 32, 8), C, "overlaps", NULL);
    CASE("duplicate tensor", b.p[L.name0[2]] = 'b', C, "duplicate tensor name 'b'", NULL);
    CASE("empty tensor name", gb_patch(&b, L.name_len[1], 0, 8), C, "tensor #1", "empty name");
    CASE("tensor name length", gb_patch(&b, L.name_len[1], 1ull << 60, 8), C, "tensor #1", "name length");
    CASE("NUL in tensor name", b.p[L.name0[0]] = 0, C, "tensor #0", "NUL");
    CASE("n_kv 0 (keys read as tensors)", gb_patch(&b, L.n_kv, 0, 8), C, NULL, NULL);
    {
        gb b = fresh();
        gb_patch(&b, L.version, 2, 4);
        expect_fail("version 2 opens", &b, MM_OK, NULL, NULL);
        free(b.p);
    }
    /* a name of 64 bytes is refused (ggml: < 64), 63 accepted */
    char name[80];
    memset(name, 'n', 64);
    name[64] = 0;
    gb b = {0};
    gb_layout l2;
    gb_standard(&b, &l2, name);
    expect_fail("tensor name 64", &b, MM_ECORRUPT, "tensor #2", "name length 64");
    name[63] = 0;
    gb_standard(&b, &l2, name);
    expect_fail("tensor name 63", &b, MM_OK, NULL, NULL);
    free(b.p);
    /* trivial inputs */
    gb e0 = {0};
    expect_fail("empty buffer", &e0, MM_ECORRUPT, "bad magic", NULL);
    gb_bytes(&e0, "GGUF\3\0\0\0", 8);
    expect_fail("header only", &e0, MM_ECORRUPT, "header truncated", NULL);
    free(e0.p);
}

static void truncations(void) {
    int64_t bad = 0;
    for (size_t n = 0; n < g_std.n; n++) {
        mm_gguf *g = NULL;
        mm_err e;
        mm_err_clear(&e);
        mm_code c = open_copy(g_std.p, n, &g, &e);
        if (c != MM_ECORRUPT || e.msg[0] == 0) {
            if (bad++ < 5) fprintf(stderr, "cut at %zu: %s '%s'\n", n, mm_code_name(c), e.msg);
        }
    }
    CHECK(bad == 0, "%lld of %zu truncations not refused as corrupt", (long long)bad, g_std.n);
}

static void byte_flips(void) {
    static const int ops[4] = {0x00, 0xFF, 0x80, -1};
    int64_t ok = 0, fail = 0, nomsg = 0;
    for (size_t i = 0; i < L.data_offset; i++)
        for (int k = 0; k < 4; k++) {
            gb b = fresh();
            b.p[i] = ops[k] < 0 ? (uint8_t)(b.p[i] + 1) : (uint8_t)ops[k];
            mm_gguf *g = NULL;
            mm_err e;
            mm_err_clear(&e);
            mm_code c = open_copy(b.p, b.n, &g, &e);
            if (c == MM_OK) ok++;
            else {
                fail++;
                if (!e.msg[0]) nomsg++;
            }
            free(b.p);
        }
    CHECK(nomsg == 0, "%lld failures without a message", (long long)nomsg);
    CHECK(fail > ok, "only %lld of %lld corruptions refused", (long long)fail, (long long)(ok + fail));
    printf("byte flips: %lld opened, %lld refused\n", (long long)ok, (long long)fail);
}

static void limits(void) {
    /* MM_GGUF_MAX_KV + 1 keys in a file big enough to hold them */
    gb b = {0};
    gb_bytes(&b, "GGUF", 4);
    gb_u32(&b, 3);
    gb_u64(&b, 0);
    gb_u64(&b, MM_GGUF_MAX_KV + 1);
    for (uint32_t i = 0; i <= MM_GGUF_MAX_KV; i++) {
        char k[32];
        snprintf(k, sizeof k, "k%u", i);
        gb_str(&b, k);
        gb_u32(&b, 0);
        gb_u8(&b, 1);
    }
    expect_fail("key limit", &b, MM_ELIMIT, "65537 keys", "limit");
    gb_patch(&b, 16, MM_GGUF_MAX_KV, 8);
    expect_fail("key limit - 1", &b, MM_OK, NULL, NULL);
    free(b.p);

    /* 262,144 strings: open, then O(1) access to any element */
    const uint32_t N = 262144;
    gb v = {0};
    gb_bytes(&v, "GGUF", 4);
    gb_u32(&v, 3);
    gb_u64(&v, 0);
    gb_u64(&v, 1);
    gb_str(&v, "tokenizer.ggml.tokens");
    gb_u32(&v, 9);
    gb_u32(&v, 8);
    gb_u64(&v, N);
    for (uint32_t i = 0; i < N; i++) {
        char s[32];
        snprintf(s, sizeof s, "tok%u", i);
        gb_str(&v, s);
    }
    mm_gguf *g = NULL;
    mm_err e;
    clock_t t0 = clock();
    mm_code c = mm_gguf_open_memory(v.p, v.n, "vocab", &g, &e);
    CHECK(c == MM_OK, "vocab: %s", e.msg);
    if (!c) {
        int64_t k = mm_gguf_find_key(g, "tokenizer.ggml.tokens");
        int bad = 0;
        for (uint32_t i = 0; i < N; i += 977) {
            mm_str s;
            char want[32];
            snprintf(want, sizeof want, "tok%u", i);
            if (mm_gguf_arr_str(g, k, i, &s, &e) || s.n != strlen(want) || memcmp(s.p, want, s.n)) bad++;
        }
        mm_str s;
        CHECK(!bad && mm_gguf_arr_str(g, k, N - 1, &s, &e) == MM_OK && s.n == 9 && !memcmp(s.p, "tok262143", 9),
              "vocab access");
        /* 1M random accesses must be fast (O(1) each) */
        uint64_t sum = 0, x = 1;
        for (int i = 0; i < 1000000; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            mm_gguf_arr_str(g, k, (x >> 33) % N, &s, &e);
            sum += s.n;
        }
        double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        CHECK(sum > 0 && secs < 10, "vocab open + 1M lookups took %.2f s", secs);
        mm_gguf_close(g);
    }
    free(v.p);
}

static void by_path(const char *dir) {
    mm_gguf *g = NULL;
    mm_err e;
    CHECK(mm_gguf_open("/nonexistent/x.gguf", &g, &e) == MM_ENOTFOUND && strstr(e.msg, "/nonexistent/x.gguf"),
          "missing file: %s", e.msg);
    CHECK(mm_gguf_open(dir, &g, &e) != MM_OK && g == NULL, "directory opened");
    char p[4200];
    snprintf(p, sizeof p, "%s/hostile empty.gguf", dir);
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL, "create %s", p);
    if (!f) return;
    fclose(f);
    CHECK(mm_gguf_open(p, &g, &e) == MM_ECORRUPT && strstr(e.msg, "empty"), "empty file: %s", e.msg);
    snprintf(p, sizeof p, "%s/hostile valid \xff.gguf", dir);
    f = fopen(p, "wb");
    fwrite(g_std.p, 1, g_std.n, f);
    fclose(f);
    mm_code c = mm_gguf_open(p, &g, &e);
    CHECK(c == MM_OK, "by path: %s", e.msg);
    if (!c) {
        const mm_tensor *t = mm_gguf_find_tensor(g, "a");
        CHECK(t && (uintptr_t)t->data % 32 == 0 && memcmp(t->data, g_std.p + L.data_offset, 64) == 0, "mapped data");
        CHECK(mm_gguf_file_size(g) == g_std.n && mm_gguf_data_offset(g) == L.data_offset, "sizes");
        mm_gguf_close(g);
    }
    f = fopen(p, "wb");
    fwrite(g_std.p, 1, g_std.n - 1, f);
    fclose(f);
    CHECK(mm_gguf_open(p, &g, &e) == MM_ECORRUPT && strstr(e.msg, "hostile valid") && strstr(e.msg, "'c'"),
          "truncated by path: %s", e.msg);
}

int main(int argc, char **argv) {
    gb_standard(&g_std, &L, "c");
    CHECK(L.size == L.data_offset + 160, "layout");
    check_valid(&g_std);
    field_cases();
    truncations();
    byte_flips();
    limits();
    by_path(argc > 1 ? argv[1] : ".");
    free(g_std.p);
    return test_done("test_gguf_hostile");
}
