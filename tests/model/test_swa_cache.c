/*
 * tests/model/test_swa_cache.c — the sliding-window cell set of the KV cache, on the
 * fixture pack's gemma3 / gemma4 models (window 16).  A long prompt fed in small batches
 * (so sliding layers keep only n_swa - 1 + batch cells and recycle them) must give the
 * logits (within summation-order noise) of the same prompt fed as one batch into a context
 * that never drops a cell; two
 * sequences interleaved in the same batches must each give their own answers; a row that
 * goes back behind the dropped cells is refused with an error, and works again after
 * mm_ctx_clear.  Skips (77) without ../shared.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define T 70 /* > 4 windows */

static int fails;

static double max_rel(const float *a, const float *b, int n) {
    double m = 0, s = 0;
    for (int i = 0; i < n; i++) s = fmax(s, fabs((double)b[i]));
    for (int i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m / (s + 1e-30);
}

/* logits of every row of seq s's prompt tok[], fed `chunk` rows at a time (two sequences
 * interleaved when two is set: seq 1 gets the prompt reversed) */
static int run(mm_model *m, const int32_t *tok, int chunk, int two, float *out0, float *out1) {
    mm_err e;
    mm_ctx *c;
    const int V = mm_model_n_vocab(m);
    mm_ctx_params cp = {T, two ? 2 * chunk : chunk, two ? 2 : 1, 2, 0};
    if (mm_ctx_open(m, &cp, &c, &e) != MM_OK) { printf("FAIL ctx: %s\n", e.msg); return 1; }
    int32_t bt[2 * T], bp[2 * T], bs[2 * T];
    int8_t want[2 * T];
    for (int p0 = 0; p0 < T; p0 += chunk) {
        int n = 0;
        for (int s = 0; s <= two; s++)
            for (int p = p0; p < p0 + chunk && p < T; p++) {
                bt[n] = s ? tok[T - 1 - p] : tok[p], bp[n] = p, bs[n] = s, want[n] = 1;
                n++;
            }
        mm_batch b = {n, bt, NULL, bp, bs, want};
        if (mm_decode(c, &b, &e) != MM_OK) { printf("FAIL decode: %s\n", e.msg); mm_ctx_close(c); return 1; }
        for (int i = 0; i < n; i++)
            memcpy((bs[i] ? out1 : out0) + (size_t)bp[i] * V, mm_ctx_logits(c, i), (size_t)V * 4);
    }
    /* going back to position 5 of sequence 0 after its early cells were dropped */
    int32_t t1 = tok[0], p1 = 5, s1 = 0;
    int8_t w1 = 1;
    mm_batch back = {1, &t1, NULL, &p1, &s1, &w1};
    if (chunk < T && mm_decode(c, &back, &e) == MM_OK) {
        printf("FAIL a row behind the dropped window cells was accepted\n");
        fails++;
    } else if (chunk < T && !strstr(e.msg, "sliding-window")) {
        printf("FAIL going back: unexpected error '%s'\n", e.msg);
        fails++;
    }
    mm_ctx_clear(c, 0);
    p1 = 0;
    if (mm_decode(c, &back, &e) != MM_OK) {
        printf("FAIL after mm_ctx_clear: %s\n", e.msg);
        fails++;
    } else if (max_rel(mm_ctx_logits(c, 0), out0, V) > 1e-4) {
        printf("FAIL after mm_ctx_clear: position 0 differs from the first run\n");
        fails++;
    }
    mm_ctx_close(c);
    return 0;
}

int main(int argc, char **argv) {
    const char *pack = argc > 1 ? argv[1] : "../shared/fixtures";
    const char *names[] = {"gemma3-f32.gguf", "gemma4-e2b-f32.gguf"};
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s", pack, names[0]);
    FILE *f = fopen(path, "rb");
    if (!f) { printf("SKIP: no fixture pack at %s\n", pack); return 77; }
    fclose(f);
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/models/%s", pack, names[k]);
        mm_model *m;
        mm_err e;
        if (mm_model_open(path, &m, &e) != MM_OK) { printf("FAIL %s: %s\n", path, e.msg); return 1; }
        const int V = mm_model_n_vocab(m);
        int32_t tok[T];
        for (int i = 0; i < T; i++) tok[i] = 3 + (i * 37 + 11) % (V - 3);
        float *ref = malloc((size_t)T * V * 4), *ref1 = malloc((size_t)T * V * 4);
        float *got = malloc((size_t)T * V * 4), *got1 = malloc((size_t)T * V * 4);
        if (run(m, tok, T, 0, ref, ref1)) return 1;              /* one batch: every cell kept */
        int32_t rev[T];
        for (int i = 0; i < T; i++) rev[i] = tok[T - 1 - i];
        if (run(m, rev, T, 0, ref1, got1)) return 1;             /* the reversed prompt, one batch */
        const int chunks[] = {1, 3, 8};
        for (int ci = 0; ci < 3; ci++)
            for (int two = 0; two <= 1; two++) {
                if (run(m, tok, chunks[ci], two, got, got1)) return 1;
                for (int p = 0; p < T; p++)
                    for (int s = 0; s <= two; s++) {
                        const float *g = (s ? got1 : got) + (size_t)p * V, *r = (s ? ref1 : ref) + (size_t)p * V;
                        double d = max_rel(g, r, V);
                        /* summation order differs with cell placement (softmax groups of 16):
                         * ~1e-4 here; a wrong or missing cell gives differences of order 1 */
                        if (d > 2e-3) {
                            printf("FAIL %s: batches of %d%s, seq %d, position %d: rel diff %.2e\n", names[k],
                                   chunks[ci], two ? " (two sequences)" : "", s, p, d);
                            fails++;
                            p = T;
                            break;
                        }
                    }
            }
        free(ref), free(ref1), free(got), free(got1);
        mm_model_close(m);
    }
    printf("%s\n", fails ? "FAILED" : "sliding-window cache: all runs agree");
    return fails ? 1 : 0;
}
