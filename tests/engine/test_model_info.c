/*
 * tests/engine/test_model_info.c — mm_model_info_get on fixture models with
 * known shapes (values from the fixture README / gguf_writer.py listing) and
 * the KV-cache estimate worked out by hand.
 *
 * usage: test_model_info SHARED_DIR
 */
#include "engine.h"
#include "test_util.h"

static int open_fx(const char *shared, const char *name, mm_gguf **g) {
    char p[4200];
    mm_err e;
    snprintf(p, sizeof p, "%s/fixtures/models/%s", shared, name);
    mm_code c = mm_gguf_open(p, g, &e);
    CHECK(c == MM_OK, "%s: %s", p, e.msg);
    return c == MM_OK;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s SHARED_DIR\n", argv[0]); return 2; }
    char models[4200];
    snprintf(models, sizeof models, "%s/fixtures/models", argv[1]);
    if (!is_dir(models)) {
        char why[4300];
        snprintf(why, sizeof why, "%s not found (../shared is absent)", models);
        test_skip(why);
    }
    mm_gguf *g;
    mm_err e;
    mm_model_info m;
    if (open_fx(argv[1], "gemma4-e2b-q4_k.gguf", &g)) {
        CHECK(mm_model_info_get(g, 1024, &m, &e) == MM_OK, "%s", e.msg);
        CHECK(strcmp(m.arch, "gemma4") == 0 && strcmp(m.name, "tiny-gemma4-e2b-q4_k") == 0, "arch/name");
        CHECK(strcmp(m.tokenizer, "gemma4") == 0, "tokenizer");
        CHECK(m.n_layer == 10 && m.n_embd == 256 && m.n_head == 4 && m.n_head_kv == 1, "shape");
        CHECK(m.n_ctx_train == 131072 && m.sliding_window == 16 && m.head_dim == 128 && m.head_dim_swa == 64,
              "attention");
        CHECK(m.n_vocab == 568 && m.n_tensors == 161 && m.n_kv == 39 && m.file_type == 15, "vocab/counts");
        CHECK(m.weight_type == MM_TYPE_Q4_K, "weight type %s", mm_type_name(m.weight_type));
        int have_q4k = 0, have_q8 = 0, have_f32 = 0;
        for (int i = 0; i < m.n_types; i++) {
            have_q4k |= m.types[i].type == MM_TYPE_Q4_K;
            have_q8 |= m.types[i].type == MM_TYPE_Q8_0;
            have_f32 |= m.types[i].type == MM_TYPE_F32;
        }
        CHECK(have_q4k && have_q8 && have_f32 && m.n_types == 3, "types (%d)", m.n_types);
        /* layers 0-4 own KV (5 shared); pattern SSSSF: 4 sliding (16 cells, dim 64+64),
         * 1 full (1024 cells, 128+128); 1 KV head, 2 bytes */
        uint64_t want = 4ull * 1 * 128 * 16 * 2 + 1ull * 1 * 256 * 1024 * 2;
        CHECK(m.kv_cache_bytes == want, "kv %llu, want %llu", (unsigned long long)m.kv_cache_bytes,
              (unsigned long long)want);
        CHECK(m.mem_bytes == m.tensor_bytes + m.kv_cache_bytes + m.scratch_bytes, "mem");
        CHECK(m.tensor_bytes < m.file_size && m.file_size == 5223168, "sizes");
        mm_gguf_close(g);
    }
    if (open_fx(argv[1], "gemma4-moe-q8_0.gguf", &g)) {
        CHECK(mm_model_info_get(g, 0, &m, &e) == MM_OK, "%s", e.msg);
        CHECK(m.n_expert == 8 && m.n_expert_used == 2 && m.n_layer == 6 && m.n_embd == 128, "moe shape");
        CHECK(m.n_head_kv == 2, "per-layer head_count_kv max %lld", (long long)m.n_head_kv);
        CHECK(m.weight_type == MM_TYPE_Q8_0 && m.n_ctx == 4096, "moe type / default ctx %lld", (long long)m.n_ctx);
        mm_gguf_close(g);
    }
    if (open_fx(argv[1], "ggml-vocab-gemma-4.gguf", &g)) {
        CHECK(mm_model_info_get(g, 0, &m, &e) == MM_OK, "%s", e.msg);
        CHECK(m.n_vocab == 262144 && m.n_tensors == 0 && m.n_params == 0, "vocab-only %lld", (long long)m.n_vocab);
        mm_gguf_close(g);
    }
    return test_done("test_model_info");
}
