/*
 * pipeline/bench_model.c — `mmpipe bench -m MODEL.gguf [-t N] [--pp P] [--tg N] [--json]`:
 * decoder speed measured as llama-bench does: pp = one batch of P tokens from an
 * empty context with the logits of the last row only; tg = N single-token steps
 * from an empty context.  Prints pp_tokens_per_s, tg_tokens_per_s, threads,
 * peak_rss_bytes, weight_bytes_per_token (bytes of weights a decode step reads)
 * and tg_gb_per_s (that times tg_tokens_per_s), and beside peak_rss_bytes:
 * rss_before_open_bytes (the process before the model: its code and libraries) and
 * weight_bytes (every tensor's bytes), so peak - before - weights is the KV cache and
 * scratch (plus the repacked matrices' 16-row padding).  Not run by the test suite.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine.h"

/* VmRSS of this process in bytes (0 where there is no /proc). */
static double rss_now(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char l[256];
    double v = 0;
    while (f && fgets(l, sizeof l, f))
        if (!strncmp(l, "VmRSS:", 6)) v = atof(l + 6) * 1024;
    if (f) fclose(f);
    return v;
}

int bench_model(const cli *c) {
    mm_model *m;
    mm_err e;
    const double rss0 = rss_now();
    if (mm_model_open(c->model, &m, &e) != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    int P = c->bench_pp > 0 ? c->bench_pp : 512, N = c->bench_tg > 0 ? c->bench_tg : 128;
    int threads = c->threads > 0 ? c->threads : 1;
    mm_ctx_params cp = {P > N ? P : N, P, 1, threads, !c->kv_f32};
    mm_ctx *ctx;
    if (mm_ctx_open(m, &cp, &ctx, &e) != MM_OK) {
        cli_error("%s", e.msg);
        mm_model_close(m);
        return EXIT_FATAL;
    }
    int L = P > N ? P : N; /* rows of tok/pos: the prompt, and the positions of the tg steps */
    int32_t *tok = malloc((size_t)L * 4), *pos = malloc((size_t)L * 4), *seq = calloc((size_t)L, 4);
    int8_t *want = calloc((size_t)L, 1);
    int V = mm_model_n_vocab(m), rc = EXIT_FATAL;
    if (!tok || !pos || !seq || !want) goto out;
    uint64_t r = 12345;
    for (int i = 0; i < L; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        tok[i] = (int32_t)((r >> 33) % (uint64_t)V);
        pos[i] = i;
    }
    want[P - 1] = 1;
    mm_batch b = {P, tok, NULL, pos, seq, want};
    int64_t t0 = mm_mono_ns();
    if (mm_decode(ctx, &b, &e) != MM_OK) goto fail;
    double pp = P / ((double)(mm_mono_ns() - t0) / 1e9);
    mm_ctx_clear(ctx, -1);
    t0 = mm_mono_ns();
    for (int i = 0; i < N; i++) {
        int8_t one = 1;
        mm_batch b1 = {1, &tok[i], NULL, &pos[i], seq, &one};
        if (mm_decode(ctx, &b1, &e) != MM_OK) goto fail;
    }
    double tg = N / ((double)(mm_mono_ns() - t0) / 1e9);
    /* bytes of weights one decode step reads: every tensor but the embedding tables
     * (one row each) — the tied output head is read whole */
    const mm_gguf *g = mm_model_gguf(m);
    uint64_t wb = 0, all = 0;
    int tied = mm_gguf_find_tensor(g, "output.weight") == NULL;
    for (int64_t i = 0; i < mm_gguf_n_tensors(g); i++) {
        const mm_tensor *t = mm_gguf_tensor(g, i);
        if (!strcmp(t->name, "per_layer_token_embd.weight")) wb += t->row_bytes;
        else if (!strcmp(t->name, "token_embd.weight")) wb += tied ? t->nbytes : t->row_bytes;
        else wb += t->nbytes;
        all += t->nbytes;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", c->model);
    cJSON_AddNumberToObject(o, "pp", P);
    cJSON_AddNumberToObject(o, "tg", N);
    cJSON_AddNumberToObject(o, "pp_tokens_per_s", (double)(long long)(pp * 100) / 100);
    cJSON_AddNumberToObject(o, "tg_tokens_per_s", (double)(long long)(tg * 100) / 100);
    cJSON_AddNumberToObject(o, "threads", threads);
    cJSON_AddStringToObject(o, "kv_type", c->kv_f32 ? "f32" : "f16");
    cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)ru.ru_maxrss * 1024);
    cJSON_AddNumberToObject(o, "rss_before_open_bytes", rss0);
    cJSON_AddNumberToObject(o, "weight_bytes", (double)all);
    cJSON_AddNumberToObject(o, "weight_bytes_per_token", (double)wb);
    cJSON_AddNumberToObject(o, "tg_gb_per_s", (double)(long long)(tg * (double)wb / 1e9 * 1000) / 1000);
    if (c->json) {
        char *s = cJSON_PrintUnformatted(o);
        if (s) puts(s);
        free(s);
    } else {
        printf("%s: pp%d %.1f tok/s, tg%d %.2f tok/s (%.2f GB/s), %d threads, peak RSS %.1f MiB "
               "(%.1f MiB before the model, weights %.1f MiB)\n", c->model, P, pp, N, tg, tg * (double)wb / 1e9,
               threads, (double)ru.ru_maxrss / 1024, rss0 / 1048576, (double)all / 1048576);
    }
    cJSON_Delete(o);
    rc = EXIT_OK;
    goto out;
fail:
    cli_error("bench: %s", e.msg);
out:
    free(tok); free(pos); free(seq); free(want);
    mm_ctx_close(ctx);
    mm_model_close(m);
    return rc;
}
