/*
 * tests/model/test_batch_seq.c — continuous batching must not change what a sequence
 * computes.  On the fixture pack's models (every weight type the pack has, F16 and F32 KV),
 * three prompts are run alone (one sequence: the prompt as one batch, then greedy steps), and
 * then together in one context the way the job runner schedules them: sequences join while
 * others are mid-generation, decode steps of all live sequences share one batch, and the third
 * prompt starts from a copy of the first one's cells for their common prefix
 * (mm_ctx_seq_copy).  Every logit of every step must be bit-identical to the lone run.
 * Skips (77) without ../shared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define NP 5      /* prompts (more than four decode rows per step: Q4_K's gemm groups) */
#define STEPS 6   /* greedy steps after each prompt */
#define PREFIX 8  /* prompt 2 shares its first PREFIX tokens with prompt 0 (a multiple of 4: Q4_K's gemm row groups) */

static int fails;

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

typedef struct run {
    int32_t tok[64];
    int n;           /* prompt length */
    float *logits;   /* [STEPS + 1][V]: after the prompt, then after each step */
    int32_t next;    /* token to feed */
    int pos, step;
} run;

static int decode1(mm_ctx *c, int n, const int32_t *tok, const int32_t *pos, const int32_t *seq,
                   const int8_t *want) {
    mm_err e;
    mm_batch b = {n, tok, NULL, pos, seq, want};
    if (mm_decode(c, &b, &e) != MM_OK) {
        printf("FAIL decode: %s\n", e.msg);
        fails++;
        return 1;
    }
    return 0;
}

/* prompt rows [from, r->n) of sequence s, logits of the last row into step 0 */
static int prefill(mm_ctx *c, run *r, int s, int from, int V) {
    int32_t pos[64], seq[64];
    int8_t want[64];
    int n = r->n - from;
    for (int i = 0; i < n; i++) pos[i] = from + i, seq[i] = s, want[i] = i == n - 1;
    if (decode1(c, n, r->tok + from, pos, seq, want)) return 1;
    memcpy(r->logits, mm_ctx_logits(c, 0), (size_t)V * 4);
    r->next = argmax(r->logits, V);
    r->pos = r->n;
    r->step = 0;
    return 0;
}

static void alone(const mm_model *m, run *r, int kv_f16, int V) {
    mm_err e;
    mm_ctx *c;
    mm_ctx_params cp = {128, 64, 1, 2, kv_f16};
    if (mm_ctx_open(m, &cp, &c, &e) != MM_OK) {
        printf("FAIL ctx: %s\n", e.msg);
        fails++;
        return;
    }
    if (!prefill(c, r, 0, 0, V))
        for (int st = 1; st <= STEPS; st++) {
            int32_t p = r->pos++, s = 0;
            int8_t w = 1;
            if (decode1(c, 1, &r->next, &p, &s, &w)) break;
            memcpy(r->logits + (size_t)st * V, mm_ctx_logits(c, 0), (size_t)V * 4);
            r->next = argmax(r->logits + (size_t)st * V, V);
        }
    mm_ctx_close(c);
}

/* One decode step for every live sequence in live[], logits into each run's next row. */
static int step_all(mm_ctx *c, run *rs, const int *live, int nl, float **out, int V) {
    int32_t tok[NP] = {0}, pos[NP] = {0}, seq[NP] = {0};
    int8_t want[NP] = {0};
    for (int i = 0; i < nl; i++) {
        run *r = &rs[live[i]];
        tok[i] = r->next, pos[i] = r->pos++, seq[i] = live[i], want[i] = 1;
    }
    if (decode1(c, nl, tok, pos, seq, want)) return 1;
    for (int i = 0; i < nl; i++) {
        run *r = &rs[live[i]];
        float *dst = out[live[i]] + (size_t)++r->step * V;
        memcpy(dst, mm_ctx_logits(c, i), (size_t)V * 4);
        r->next = argmax(dst, V);
    }
    return 0;
}

static void check_model(const char *dir, const char *name, int kv_f16) {
    char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/models/%s.gguf", dir, name);
    mm_model *m;
    mm_err e;
    if (mm_model_open(path, &m, &e) != MM_OK) {
        printf("FAIL %s: %s\n", name, e.msg);
        fails++;
        return;
    }
    const int V = mm_model_n_vocab(m);
    run solo[NP], mix[NP];
    float *mixlog[NP];
    unsigned x = 12345;
    memset(solo, 0, sizeof solo);
    for (int k = 0; k < NP; k++) {
        solo[k].n = 14 + 7 * (k % 3);
        for (int i = 0; i < solo[k].n; i++) {
            x = x * 1103515245u + 12345u;
            solo[k].tok[i] = 2 + (int32_t)((x >> 8) % (unsigned)(V - 2));
        }
    }
    memcpy(solo[2].tok, solo[0].tok, PREFIX * sizeof(int32_t));
    for (int k = 0; k < NP; k++) {
        solo[k].logits = calloc((size_t)(STEPS + 1) * V, 4);
        mix[k] = solo[k];
        mix[k].logits = mixlog[k] = calloc((size_t)(STEPS + 1) * V, 4);
        alone(m, &solo[k], kv_f16, V);
    }
    /* together: seq 0 starts; seq 1 joins after one step; seq 2 joins from seq 0's prefix */
    mm_ctx *c;
    mm_ctx_params cp = {128, 64, NP, 2, kv_f16};
    if (mm_ctx_open(m, &cp, &c, &e) != MM_OK) {
        printf("FAIL ctx: %s\n", e.msg);
        fails++;
    } else {
        int live[NP] = {0, 1, 2, 3, 4};
        int ok = !prefill(c, &mix[0], 0, 0, V) && !step_all(c, mix, live, 1, mixlog, V) &&
                 !prefill(c, &mix[1], 1, 0, V) && !step_all(c, mix, live, 2, mixlog, V);
        if (ok && mm_ctx_seq_copy(c, 0, 2, PREFIX, &e) != MM_OK) {
            printf("FAIL seq_copy: %s\n", e.msg);
            fails++;
            ok = 0;
        }
        ok = ok && !prefill(c, &mix[2], 2, PREFIX, V) && !step_all(c, mix, live, 3, mixlog, V);
        for (int k = 3; ok && k < NP; k++) ok = !prefill(c, &mix[k], k, 0, V);
        while (ok) { /* everyone still generating steps together */
            int nl = 0, l2[NP];
            for (int k = 0; k < NP; k++)
                if (mix[k].step < STEPS) l2[nl++] = k;
            if (!nl) break;
            ok = !step_all(c, mix, l2, nl, mixlog, V);
        }
        /* a prefix past the sliding window is refused (it would not sit where a lone run puts it) */
        const int lim = mm_ctx_prefix_limit(c);
        if (ok && lim < mix[1].pos && mm_ctx_seq_copy(c, 1, 0, lim + 1, &e) == MM_OK) {
            printf("FAIL %s: a prefix of %d positions past the window (%d) was copied\n", name, lim + 1, lim);
            fails++;
        }
        mm_ctx_close(c);
        for (int k = 0; ok && k < NP; k++)
            for (int st = 0; st <= STEPS; st++)
                if (memcmp(solo[k].logits + (size_t)st * V, mixlog[k] + (size_t)st * V, (size_t)V * 4)) {
                    printf("FAIL %s kv %s: prompt %d step %d: batched logits differ from the lone run\n", name,
                           kv_f16 ? "f16" : "f32", k, st);
                    fails++;
                    break;
                }
    }
    /* two prompts prefilled in one batch (each sequence's rows together) */
    mm_ctx_params cp2 = {128, 64, 2, 2, kv_f16};
    if (mm_ctx_open(m, &cp2, &c, &e) == MM_OK) {
        int32_t tok[64], pos[64], seq[64];
        int8_t want[64];
        int n = 0;
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < solo[k].n; i++, n++)
                tok[n] = solo[k].tok[i], pos[n] = i, seq[n] = k, want[n] = i == solo[k].n - 1;
        if (!decode1(c, n, tok, pos, seq, want))
            for (int k = 0; k < 2; k++)
                if (memcmp(mm_ctx_logits(c, k), solo[k].logits, (size_t)V * 4)) {
                    printf("FAIL %s kv %s: prompt %d prefilled beside another differs from the lone run\n", name,
                           kv_f16 ? "f16" : "f32", k);
                    fails++;
                }
        mm_ctx_close(c);
    }
    for (int k = 0; k < NP; k++) {
        free(solo[k].logits);
        free(mixlog[k]);
    }
    mm_model_close(m);
    printf("%s kv %s: checked\n", name, kv_f16 ? "f16" : "f32");
}

/* mm_embed_batch of three texts against mm_embed of each alone */
static void check_embed(const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/models/%s.gguf", dir, name);
    mm_model *m;
    mm_err e;
    if (mm_model_open(path, &m, &e) != MM_OK) {
        printf("FAIL %s: %s\n", name, e.msg);
        fails++;
        return;
    }
    const int V = mm_model_n_vocab(m), D = mm_model_embd_dim(m);
    int32_t tok[3][40];
    int n[3] = {13, 40, 7};
    const int32_t *tp[3] = {tok[0], tok[1], tok[2]};
    unsigned x = 777;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < n[k]; i++) {
            x = x * 1103515245u + 12345u;
            tok[k][i] = 2 + (int32_t)((x >> 8) % (unsigned)(V - 2));
        }
    float *one = calloc((size_t)3 * D, 4), *all = calloc((size_t)3 * D, 4);
    mm_ctx *c;
    mm_ctx_params cp = {64, 64, 3, 2, 0};
    if (mm_ctx_open(m, &cp, &c, &e) != MM_OK) {
        printf("FAIL ctx: %s\n", e.msg);
        fails++;
    } else {
        int ok = 1;
        for (int k = 0; k < 3 && ok; k++) ok = mm_embed(c, tp[k], n[k], one + (size_t)k * D, &e) == MM_OK;
        if (ok) ok = mm_embed_batch(c, tp, n, 3, all, &e) == MM_OK;
        if (!ok) {
            printf("FAIL %s embed: %s\n", name, e.msg);
            fails++;
        } else if (memcmp(one, all, (size_t)3 * D * 4)) {
            printf("FAIL %s: batched embeddings differ from the lone ones\n", name);
            fails++;
        }
        mm_ctx_close(c);
    }
    free(one);
    free(all);
    mm_model_close(m);
    printf("%s embeddings: checked\n", name);
}

int main(void) {
    const char *dir = MMPIPE_SHARED_DIR;
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/fixtures/models/gemma3-q4_0.gguf", dir);
    FILE *f = fopen(probe, "rb");
    if (!f) {
        printf("SKIP: %s not found (../shared absent)\n", probe);
        return 77;
    }
    fclose(f);
    static const char *models[] = {"llama-f32", "gemma3-f32", "gemma3-f16", "gemma3-bf16", "gemma3-q4_0",
                                   "gemma3-q8_0", "gemma3-q6_k", "gemma4-e2b-q4_k", "gemma4-e2b-q8_0",
                                   "gemma4-e2b-q5_k", "gemma4-dense-q4_k", "gemma4-moe-q8_0"};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++)
        for (int kv = 0; kv < 2; kv++) check_model(dir, models[i], kv);
    check_embed(dir, "gemma-embed-f32");
    check_embed(dir, "gemma-embed-q8_0");
    if (fails) {
        printf("%d failures\n", fails);
        return 1;
    }
    printf("all batched runs identical to the lone runs\n");
    return 0;
}
