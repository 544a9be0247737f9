/*
 * tests/model/test_kernels.c — every SIMD level of the matrix product against
 * the scalar reference, bit for bit: for one weight matrix of each type found in
 * the fixture models (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K,
 * Q6_K), random activations of 1 and 5 rows, at 1 and 2 threads.  It also checks
 * the product against a float64 product of the dequantised weights with the
 * activations rounded / quantised-dequantised alike (a loose bound: it catches a
 * wrong unpacking, not last bits).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

static const char *const files[] = {"gemma3-f32.gguf", "gemma3-f16.gguf", "gemma3-bf16.gguf", "gemma3-q4_0.gguf",
                                    "gemma3-q4_1.gguf", "gemma3-q5_0.gguf", "gemma3-q5_1.gguf", "gemma3-q8_0.gguf",
                                    "gemma4-e2b-q4_k.gguf", "gemma4-e2b-q5_k.gguf", "gemma3-q6_k.gguf"};

int main(void) {
    const char *pack = getenv("MMPIPE_FIXTURES") ? getenv("MMPIPE_FIXTURES") : MMPIPE_SHARED_DIR "/fixtures";
    char path[1024];
    int fails = 0, checked = 0, types_seen = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        snprintf(path, sizeof path, "%s/models/%s", pack, files[f]);
        mm_gguf *g;
        mm_err e;
        if (mm_gguf_open(path, &g, &e) != MM_OK) {
            if (f == 0) {
                printf("SKIP: no fixture models at %s/models\n", pack);
                return 77;
            }
            printf("FAIL %s: %s\n", files[f], e.msg);
            fails++;
            continue;
        }
        /* the first 2-D matrix of the file's main type */
        const mm_tensor *W = NULL;
        for (int64_t i = 0; i < mm_gguf_n_tensors(g) && !W; i++) {
            const mm_tensor *t = mm_gguf_tensor(g, i);
            if (t->n_dims == 2 && t->type != MM_TYPE_F32 && strstr(t->name, "ffn_up")) W = t;
        }
        if (!W) W = mm_gguf_find_tensor(g, "blk.0.ffn_up.weight");
        types_seen++;
        int64_t n_in = W->ne[0], n_out = W->ne[1] < 96 ? W->ne[1] : 96;
        float *X = malloc(sizeof(float) * 13 * n_in), *ref = malloc(sizeof(float) * 13 * n_out),
              *got = malloc(sizeof(float) * 13 * n_out), *wd = malloc(sizeof(float) * n_in);
        uint64_t r = 99 + f;
        for (int64_t i = 0; i < 13 * n_in; i++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            X[i] = ((float)(r >> 40) / (float)(1 << 24) - 0.5f) * 4.0f;
        }
        /* a repacked copy for Q4_0 / Q8_0 */
        mm_tensor Wp = *W;
        uint8_t *pk = NULL;
        if (mm_packed_supported(W) && (pk = malloc(mm_packed_bytes(W)))) {
            mm_packed_pack(W, pk);
            Wp.packed = pk;
            float *a = malloc(sizeof(float) * n_in), *b = malloc(sizeof(float) * n_in);
            for (int64_t o = 0; o < W->n_rows; o += 7) {
                mm_tensor_dequantize_rows(W, o, 1, a, &e);
                mm_packed_dequant_row(&Wp, o, b);
                checked++;
                if (memcmp(a, b, sizeof(float) * n_in)) {
                    printf("FAIL %s %s: packed row %lld dequantises differently\n", files[f], W->name, (long long)o);
                    fails++;
                    break;
                }
            }
            free(a);
            free(b);
        }
        for (int threads = 1; threads <= 2; threads++) {
            mm_pool *pool = mm_pool_open(threads);
            for (int T = 1; T <= 13; T += 4) { /* 1 and 5: decode paths; 9, 13: eight-row lanes + tail */
                int saved = mm_cpu_set_level(0);
                mm_matmul(pool, W, 0, n_out, X, T, n_in, ref, n_out, &e);
                for (int lvl = 1; lvl <= 2; lvl++) {
                    if (mm_cpu_set_level(lvl), mm_cpu_level() != lvl) continue;
                    memset(got, 0, sizeof(float) * 13 * n_out);
                    mm_matmul(pool, W, 0, n_out, X, T, n_in, got, n_out, &e);
                    checked++;
                    if (memcmp(got, ref, sizeof(float) * (size_t)T * n_out)) {
                        printf("FAIL %s %s: %s level differs from scalar (T=%d, %d threads)\n", files[f], W->name,
                               mm_cpu_level_name(lvl), T, threads);
                        fails++;
                    }
                }
                /* the 16-row repacked layout (matmul_packed.c), at every level, whole and a
                 * sub-range starting at row 16 (the masked tail of a group) */
                if (pk) {
                    for (int lvl = 0; lvl <= 2; lvl++) {
                        if (mm_cpu_set_level(lvl), mm_cpu_level() != lvl) continue;
                        memset(got, 0, sizeof(float) * 13 * n_out);
                        mm_matmul(pool, &Wp, 0, n_out, X, T, n_in, got, n_out, &e);
                        checked++;
                        if (memcmp(got, ref, sizeof(float) * (size_t)T * n_out)) {
                            printf("FAIL %s %s: packed at level %s differs from scalar (T=%d, %d threads)\n",
                                   files[f], W->name, mm_cpu_level_name(lvl), T, threads);
                            fails++;
                        }
                        if (n_out > 16 + 3) {
                            int64_t sub = n_out - 16 - 3; /* ends inside a group */
                            memset(got, 0, sizeof(float) * 13 * n_out);
                            mm_matmul(pool, &Wp, 16, sub, X, T, n_in, got, sub, &e);
                            checked++;
                            for (int t = 0; t < T; t++)
                                if (memcmp(got + t * sub, ref + t * n_out + 16, sizeof(float) * (size_t)sub)) {
                                    printf("FAIL %s %s: packed rows 16.. at level %s differ (T=%d)\n", files[f],
                                           W->name, mm_cpu_level_name(lvl), T);
                                    fails++;
                                    break;
                                }
                        }
                    }
                }
                mm_cpu_set_level(saved);
            }
            /* the decode path (T <= 2: packed blocks) and the prefill path (unpacked rows) agree.
             * Q4_K follows llama.cpp, whose result depends on where a row sits in the batch: rows
             * in full groups of four take its gemm order, the rest (and a lone decoding row) its
             * gemv order — so for Q4_K the lone row must equal row 4 of five, and rows 0..3 of
             * five the four rows of a four-row product; and the two orders must differ somewhere
             * (else the gemm order is not really used). */
            const int q4k = W->type == MM_TYPE_Q4_K;
            float *one = malloc(sizeof(float) * n_out), *five = malloc(sizeof(float) * 5 * n_out);
            float *four = malloc(sizeof(float) * 4 * n_out), *one4 = malloc(sizeof(float) * n_out);
            for (int lvl = 0; lvl <= 2; lvl++) {
                int saved = mm_cpu_set_level(lvl);
                mm_matmul(pool, W, 0, n_out, q4k ? X + 4 * n_in : X, 1, n_in, one, n_out, &e);
                mm_matmul(pool, W, 0, n_out, X, 5, n_in, five, n_out, &e);
                mm_matmul(pool, W, 0, n_out, X, 4, n_in, four, n_out, &e);
                mm_matmul(pool, W, 0, n_out, X, 1, n_in, one4, n_out, &e);
                mm_cpu_set_level(saved);
                checked++;
                if (memcmp(one, q4k ? five + 4 * n_out : five, sizeof(float) * n_out)) {
                    printf("FAIL %s: one-row and five-row products differ (level %s)\n", files[f], mm_cpu_level_name(lvl));
                    fails++;
                }
                if (memcmp(four, five, sizeof(float) * 4 * n_out)) {
                    printf("FAIL %s: four-row and five-row products differ (level %s)\n", files[f], mm_cpu_level_name(lvl));
                    fails++;
                }
                if (q4k && !memcmp(one4, four, sizeof(float) * n_out)) {
                    printf("FAIL %s: Q4_K gemm and gemv orders gave the same bits everywhere (level %s)\n", files[f],
                           mm_cpu_level_name(lvl));
                    fails++;
                }
            }
            free(one);
            free(five);
            free(four);
            free(one4);
            mm_pool_close(pool);
        }
        /* loose check against float64 with dequantised weights */
        double maxrel = 0;
        for (int64_t o = 0; o < n_out; o++) {
            mm_tensor_dequantize_rows(W, o, 1, wd, &e);
            double s = 0, sa = 0;
            for (int64_t i = 0; i < n_in; i++) {
                s += (double)wd[i] * X[i];
                sa += fabs((double)wd[i] * X[i]);
            }
            double rel = fabs(s - ref[o]) / (sa + 1e-30);
            if (rel > maxrel) maxrel = rel;
        }
        double bound = W->type == MM_TYPE_F32 ? 1e-6 : W->type == MM_TYPE_F16 || W->type == MM_TYPE_BF16 ? 1e-2 : 2e-2;
        if (maxrel > bound) {
            printf("FAIL %s %s (%s): off from the float64 product by %.2e of the magnitude\n", files[f], W->name,
                   mm_type_name(W->type), maxrel);
            fails++;
        } else {
            printf("ok   %-22s %-24s %-5s float64 gap %.1e\n", files[f], W->name, mm_type_name(W->type), maxrel);
        }
        free(X); free(ref); free(got); free(wd); free(pk);
        mm_gguf_close(g);
    }
    printf("%d types, %d SIMD comparisons, %d failures (best level here: %s)\n", types_seen, checked, fails,
           mm_cpu_level_name(mm_cpu_level()));
    return fails ? 1 : 0;
}
