/*
 * tests/fuzz/fuzz_tokenizer.c — libFuzzer target: tokenizes arbitrary bytes with every flag
 * combination and detokenizes the result, with the Llama SentencePiece vocabulary (path from
 * $MMPIPE_FUZZ_VOCAB, else ../shared/fixtures/models/ggml-vocab-llama-spm.gguf relative to the
 * working directory or to this source tree).  Checks that every id is in range and that, without
 * special-token parsing, detokenisation never fails.  Set MMPIPE_FUZZ_VOCAB to the Gemma 4 vocab
 * to fuzz the BPE path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine.h"

static mm_tokenizer *g_tok;
static mm_gguf *g_gguf;

static void load(void) {
    const char *cands[] = {getenv("MMPIPE_FUZZ_VOCAB"), "../shared/fixtures/models/ggml-vocab-llama-spm.gguf",
                           "../../shared/fixtures/models/ggml-vocab-llama-spm.gguf",
#ifdef MMPIPE_SOURCE_DIR
                           MMPIPE_SOURCE_DIR "/../shared/fixtures/models/ggml-vocab-llama-spm.gguf",
#endif
                           NULL};
    mm_err e = {0};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        if (!cands[i]) continue;
        if (mm_gguf_open(cands[i], &g_gguf, &e) == MM_OK) {
            if (mm_tokenizer_open(g_gguf, &g_tok, &e) == MM_OK) return;
            mm_gguf_close(g_gguf);
        }
    }
    fprintf(stderr, "fuzz_tokenizer: no vocabulary (set MMPIPE_FUZZ_VOCAB): %s\n", e.msg);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_tok) load();
    for (int flags = 0; flags < 4; flags++) {
        int32_t *ids = NULL;
        size_t n = 0;
        mm_err e = {0};
        if (mm_tokenize(g_tok, (const char *)data, size, flags & 1, flags >> 1, &ids, &n, &e) != MM_OK) abort();
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= mm_tokenizer_n_vocab(g_tok)) abort();
        char *text = NULL;
        size_t len = 0;
        if (mm_detokenize(g_tok, ids, n, flags & 1, flags >> 1, &text, &len, &e) != MM_OK) abort();
        free(text);
        free(ids);
    }
    return 0;
}
