/*
 * tests/engine/test_dequant.c — dequantisation bit-exact with gguf_writer.py
 * (itself byte-identical to ggml): a file generated at test time with one
 * tensor of every dequantisable type (ordinary, huge, zero, tiny and all-positive
 * rows), every tensor compared bit for bit, whole and row by row; one matrix of
 * every quantised fixture model compared the same way; and the typed metadata
 * accessors on the generated file's keys.
 *
 * usage: test_dequant SHARED_DIR HELPER.py WORK_DIR
 */
#include <math.h>

#include "engine.h"
#include "test_util.h"

/* Bitwise comparison of n floats; reports the first few differences. */
static void cmp_bits(const char *what, const float *got, const float *want, int64_t n) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&got[i], &want[i], 4) != 0) {
            if (bad < 3) {
                uint32_t a, b;
                memcpy(&a, &got[i], 4);
                memcpy(&b, &want[i], 4);
                fprintf(stderr, "  %s[%lld]: got %.9g (0x%08x), want %.9g (0x%08x)\n", what, (long long)i, got[i],
                        a, want[i], b);
            }
            bad++;
        }
    }
    CHECK(bad == 0, "%s: %lld of %lld values differ", what, (long long)bad, (long long)n);
}

static void check_tensor(const mm_tensor *t, const char *ref_path) {
    size_t n = 0;
    float *want = read_file(ref_path, &n);
    CHECK(want != NULL, "reading %s", ref_path);
    if (!want) return;
    CHECK(n == (size_t)t->n_elements * 4, "%s: %zu reference bytes for %lld elements", t->name, n,
          (long long)t->n_elements);
    float *got = malloc((size_t)t->n_elements * 4 + 4);
    mm_err e;
    mm_code c = mm_tensor_dequantize_rows(t, 0, t->n_rows, got, &e);
    CHECK(c == MM_OK, "%s: %s", t->name, e.msg);
    if (!c && n == (size_t)t->n_elements * 4) {
        char what[128];
        snprintf(what, sizeof what, "%s (%s)", t->name, mm_type_name(t->type));
        cmp_bits(what, got, want, t->n_elements);
        /* row by row, from the row's own offset */
        for (int64_t r = 0; r < t->n_rows; r++) {
            memset(got, 0xAB, (size_t)t->ne[0] * 4);
            c = mm_tensor_dequantize_rows(t, r, 1, got, &e);
            CHECK(c == MM_OK && memcmp(got, want + r * t->ne[0], (size_t)t->ne[0] * 4) == 0, "%s row %lld", t->name,
                  (long long)r);
        }
        CHECK(mm_tensor_dequantize_rows(t, t->n_rows, 1, got, &e) == MM_EINVAL, "%s: row past end accepted", t->name);
        CHECK(mm_tensor_dequantize_rows(t, -1, 1, got, &e) == MM_EINVAL, "%s: row -1 accepted", t->name);
    }
    free(got);
    free(want);
}

static void check_accessors(const mm_gguf *g) {
    mm_err e;
    int64_t v;
    double d;
    int b;
    mm_str s;
    struct { const char *k; int64_t v; } ints[] = {
        {"t.u8", 200}, {"t.i8", -100}, {"t.u16", 65000}, {"t.i16", -32000}, {"t.u32", 4000000000LL},
        {"t.i32", -2000000000LL}, {"t.i64", -(1LL << 62)}, {"general.alignment", 64},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        mm_code c = mm_gguf_get_int(g, ints[i].k, &v, &e);
        CHECK(c == MM_OK && v == ints[i].v, "get_int %s: %d %lld", ints[i].k, c, (long long)v);
    }
    CHECK(mm_gguf_get_int(g, "t.u64", &v, &e) == MM_EINVAL && strstr(e.msg, "t.u64"), "u64 > INT64_MAX: %s", e.msg);
    CHECK(mm_gguf_get_int(g, "t.str", &v, &e) == MM_EINVAL && strstr(e.msg, "'t.str'") && strstr(e.msg, "string"),
          "int from string: %s", e.msg);
    CHECK(mm_gguf_get_int(g, "t.bool", &v, &e) == MM_EINVAL, "int from bool");
    CHECK(mm_gguf_get_int(g, "no.such.key", &v, &e) == MM_ENOTFOUND && strstr(e.msg, "no.such.key"), "missing key");
    CHECK(mm_gguf_get_int(g, "arr.i32", &v, &e) == MM_EINVAL && strstr(e.msg, "array"), "scalar from array: %s", e.msg);
    CHECK(mm_gguf_get_float(g, "t.f32", &d, &e) == MM_OK && d == 3.5, "f32");
    CHECK(mm_gguf_get_float(g, "t.f64", &d, &e) == MM_OK && d == -1.25e300, "f64");
    CHECK(mm_gguf_get_float(g, "t.u8", &d, &e) == MM_EINVAL, "float from u8");
    CHECK(mm_gguf_get_bool(g, "t.bool", &b, &e) == MM_OK && b == 1, "bool");
    CHECK(mm_gguf_get_str(g, "t.str", &s, &e) == MM_OK && s.n == strlen("h\xc3\xa9llo \xe2\x96\x81world") &&
              memcmp(s.p, "h\xc3\xa9llo \xe2\x96\x81world", s.n) == 0, "str");
    CHECK(mm_gguf_get_str(g, "t.empty_str", &s, &e) == MM_OK && s.n == 0, "empty str");
    int64_t i = mm_gguf_find_key(g, "arr.str");
    CHECK(i >= 0 && mm_gguf_arr_len(g, i) == 5, "arr.str");
    CHECK(mm_gguf_arr_str(g, i, 4, &s, &e) == MM_OK && s.n == 300 && s.p[0] == 'x' && s.p[299] == 'x', "arr.str[4]");
    CHECK(mm_gguf_arr_str(g, i, 1, &s, &e) == MM_OK && s.n == 0, "arr.str[1]");
    CHECK(mm_gguf_arr_str(g, i, 3, &s, &e) == MM_OK && s.n == 6 && memcmp(s.p, "<0x0A>", 6) == 0, "arr.str[3]");
    CHECK(mm_gguf_arr_str(g, i, 5, &s, &e) == MM_EINVAL && strstr(e.msg, "out of range"), "arr.str[5]");
    CHECK(mm_gguf_arr_data(g, i) == NULL, "string array has no raw data");
    i = mm_gguf_find_key(g, "arr.i64");
    CHECK(mm_gguf_arr_int(g, i, 0, &v, &e) == MM_OK && v == INT64_MIN, "arr.i64[0]");
    i = mm_gguf_find_key(g, "arr.bool");
    CHECK(mm_gguf_arr_int(g, i, 1, &v, &e) == MM_OK && v == 0 && mm_gguf_arr_int(g, i, 2, &v, &e) == MM_OK && v == 1,
          "arr.bool");
    i = mm_gguf_find_key(g, "arr.f64");
    CHECK(mm_gguf_arr_float(g, i, 1, &d, &e) == MM_OK && d == 0 && signbit(d), "arr.f64[1] = -0");
    i = mm_gguf_find_key(g, "arr.f32");
    CHECK(mm_gguf_arr_float(g, i, 2, &d, &e) == MM_OK && d == (double)1e-30f, "arr.f32[2]");
    i = mm_gguf_find_key(g, "arr.empty");
    CHECK(i >= 0 && mm_gguf_arr_len(g, i) == 0 && mm_gguf_arr_int(g, i, 0, &v, &e) == MM_EINVAL, "empty array");
    CHECK(mm_gguf_alignment(g) == 64 && mm_gguf_data_offset(g) % 64 == 0, "alignment 64");
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s SHARED_DIR HELPER WORK_DIR\n", argv[0]); return 2; }
    char tools[4096], gen[4096], ref[8192];
    snprintf(tools, sizeof tools, "%s/tools", argv[1]);
    if (!is_dir(tools)) {
        char why[4200];
        snprintf(why, sizeof why, "%s not found (../shared is absent)", tools);
        test_skip(why);
    }
    need_python();
    snprintf(gen, sizeof gen, "%s/dequant_ref.gguf", argv[3]);
    const char *args[] = {"gen", tools, gen};
    CHECK(helper_ok(argv[2], args, 3), "generating %s", gen);
    mm_gguf *g = NULL;
    mm_err e;
    mm_code c = mm_gguf_open(gen, &g, &e);
    CHECK(c == MM_OK, "open: %s", e.msg);
    if (c) return test_done("test_dequant");
    int seen[MM_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < mm_gguf_n_tensors(g); i++) {
        const mm_tensor *t = mm_gguf_tensor(g, i);
        snprintf(ref, sizeof ref, "%s.%lld.f32", gen, (long long)i);
        check_tensor(t, ref);
        seen[t->type] = 1;
    }
    int n_types = 0;
    for (int t = 0; t < MM_TYPE_COUNT; t++) {
        const mm_type_traits *tt = mm_type_traits_get((uint32_t)t);
        if (tt && tt->can_dequantize) {
            n_types++;
            CHECK(seen[t], "type %s not covered", tt->name);
        }
    }
    CHECK(n_types == 11, "%d dequantisable types", n_types);
    check_accessors(g);
    mm_gguf_close(g);

    /* one matrix from each quantised fixture model, if the pack is there */
    static const char *const fx[][2] = {
        {"gemma3-q4_0.gguf", "blk.0.ffn_down.weight"}, {"gemma3-q4_1.gguf", "blk.0.ffn_down.weight"},
        {"gemma3-q5_0.gguf", "blk.0.ffn_down.weight"}, {"gemma3-q5_1.gguf", "blk.0.ffn_down.weight"},
        {"gemma3-q8_0.gguf", "blk.0.attn_q.weight"},   {"gemma3-q6_k.gguf", "blk.0.ffn_down.weight"},
        {"gemma3-f16.gguf", "blk.0.attn_q.weight"},    {"gemma3-bf16.gguf", "blk.0.attn_q.weight"},
        {"gemma4-e2b-q4_k.gguf", "blk.0.ffn_down.weight"}, {"gemma4-e2b-q5_k.gguf", "blk.0.ffn_down.weight"},
        {"gemma4-e2b-q4_k.gguf", "token_embd.weight"}, {"gemma4-dense-q4_k.gguf", "blk.0.attn_q.weight"},
    };
    for (size_t k = 0; k < sizeof fx / sizeof fx[0]; k++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/fixtures/models/%s", argv[1], fx[k][0]);
        if (access(path, R_OK) != 0) { printf("note: %s absent, not compared\n", path); continue; }
        c = mm_gguf_open(path, &g, &e);
        CHECK(c == MM_OK, "open %s: %s", path, e.msg);
        if (c) continue;
        const mm_tensor *t = mm_gguf_find_tensor(g, fx[k][1]);
        CHECK(t != NULL, "%s: no %s", path, fx[k][1]);
        if (t) {
            snprintf(ref, sizeof ref, "%s/fixture_%zu.f32", argv[3], k);
            const char *a2[] = {"deq", tools, path, fx[k][1], ref};
            CHECK(helper_ok(argv[2], a2, 5), "helper deq %s", path);
            printf("%s %s: %s\n", fx[k][0], t->name, mm_type_name(t->type));
            check_tensor(t, ref);
        }
        mm_gguf_close(g);
    }
    return test_done("test_dequant");
}
