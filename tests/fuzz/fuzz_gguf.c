/*
 * tests/fuzz/fuzz_gguf.c — libFuzzer target over the GGUF reader: parses the
 * input from memory and, when it opens, reads every key through the typed
 * accessors, dequantises one row of every tensor and builds the model summary.
 * Seeds: tests/fuzz/corpus_gguf/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mm_gguf *g = NULL;
    mm_err e;
    if (mm_gguf_open_memory(data, size, "fuzz", &g, &e) != MM_OK) {
        if (!e.msg[0]) abort(); /* every failure must say why */
        return 0;
    }
    for (int64_t i = 0; i < mm_gguf_n_kv(g); i++) {
        uint64_t n = mm_gguf_arr_len(g, i);
        int64_t v;
        double d;
        mm_str s;
        uint64_t js[3] = {0, n / 2, n ? n - 1 : 0};
        for (int k = 0; k < 3; k++) {
            (void)mm_gguf_arr_int(g, i, js[k], &v, &e);
            (void)mm_gguf_arr_float(g, i, js[k], &d, &e);
            if (mm_gguf_arr_str(g, i, js[k], &s, &e) == MM_OK && s.n && s.p[0] == 0x7F) e.msg[0] = 0;
        }
        if (mm_gguf_find_key(g, mm_gguf_key(g, i)) != i) abort();
    }
    for (int64_t i = 0; i < mm_gguf_n_tensors(g); i++) {
        const mm_tensor *t = mm_gguf_tensor(g, i);
        if (mm_gguf_find_tensor(g, t->name) != t) abort();
        if ((const uint8_t *)t->data < data || t->file_offset + t->nbytes > size) abort();
        const mm_type_traits *tt = mm_type_traits_get(t->type);
        if (tt && tt->can_dequantize && t->ne[0] <= (1 << 16)) {
            float *row = malloc((size_t)t->ne[0] * sizeof(float));
            if (row && mm_tensor_dequantize_rows(t, t->n_rows - 1, 1, row, &e) != MM_OK) abort();
            free(row);
        }
    }
    mm_model_info mi;
    (void)mm_model_info_get(g, 0, &mi, &e);
    mm_gguf_close(g);
    return 0;
}
