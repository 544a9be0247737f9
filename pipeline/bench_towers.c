/*
 * pipeline/bench_towers.c — `mmpipe bench towers -m MODEL --mmproj MMPROJ [-t N] [--json]`:
 * the multimodal front end's speed on a model pair (real-size random E2B shapes come from
 * ../shared/tools/make_mmproj.py --preset e2b-real and make_tiny.py --preset gemma4-e2b-real).
 *
 *   vision_ms_per_image              a 4:3 photo-like picture at the default token budget
 *                                    (70..1120: 1824x1344, 1064 soft tokens for gemma4v):
 *                                    preprocessing + the vision tower, best of --reps
 *   vision_preprocess_ms             the preprocessing part alone
 *   audio_realtime_factor            30 s of speech-like audio (one piece) through the log-mel and
 *                                    the audio tower: audio seconds per second of wall time (null
 *                                    when the mmproj has no audio tower)
 *   soft_token_prefill_tokens_per_s  the decoder's prefill of the picture's soft tokens as one
 *                                    batch from an empty context (the media attention rule of
 *                                    the pair), tokens per second
 * Not run by the test suite.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#include <stdlib.h>
#include <string.h>

#include "decoders.h"
#include "engine.h"
#include "multimodal.h"

/* A w x h RGB picture with smooth gradients, edges and noise (what a camera gives the tower). */
static uint8_t *synth_picture(int w, int h) {
    uint8_t *px = malloc((size_t)w * h * 3);
    if (!px) return NULL;
    uint32_t s = 2463534242u;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            s ^= s << 13, s ^= s >> 17, s ^= s << 5;
            int n = (int)(s & 15) - 8, edge = ((x / 97) + (y / 89)) & 1 ? 40 : 0;
            int v[3] = {x * 200 / w + edge + n, y * 200 / h + n, (x + y) * 120 / (w + h) + 60 - edge + n};
            for (int c = 0; c < 3; c++) px[((size_t)y * w + x) * 3 + c] = (uint8_t)(v[c] < 0 ? 0 : v[c] > 255 ? 255 : v[c]);
        }
    return px;
}

static double secs(int64_t t0) { return (double)(mm_mono_ns() - t0) / 1e9; }

int bench_towers(const cli *c) {
    const int threads = c->threads > 0 ? c->threads : 1, reps = 2;
    mm_err e = {0};
    mm_mmproj *proj = NULL;
    mm_model *m = NULL;
    mm_ctx *ctx = NULL;
    uint8_t *px = NULL;
    mm_vision_input vin = {0};
    float *embd = NULL;
    int rc = EXIT_FATAL;
    double vis_ms = NAN, prep_ms = NAN, pp = NAN, audio_rtf = NAN;
    int n_tok = 0;
    if (mm_mmproj_open(c->mmproj, &proj, &e) != MM_OK || mm_model_open(c->model, &m, &e) != MM_OK) {
        cli_error("bench towers: %s", e.msg);
        goto out;
    }
    const mm_vision_hparams *hp = mm_mmproj_vision(proj);
    mm_vision_params vp;
    if (mmp_vision_params(proj, &vp) == 0) {
        const int W = 2048, H = 1536;
        if (!(px = synth_picture(W, H))) goto oom;
        mm_image im = {.w = W, .h = H, .rgb = px, .full_w = W, .full_h = H};
        for (int r = 0; r < reps; r++) {
            mm_vision_input_free(&vin);
            int64_t t0 = mm_mono_ns();
            if (mm_vision_preprocess(&im, &vp, &vin, &e) != MM_OK) goto fail;
            double tp = secs(t0) * 1e3;
            n_tok = mm_vision_n_tokens(proj, vin.w, vin.h);
            free(embd);
            if (!(embd = malloc((size_t)n_tok * hp->proj_dim * sizeof(float)))) goto oom;
            if (!c->quiet && !c->json)
                fprintf(stderr, "vision: %dx%d -> %d soft tokens (run %d of %d)...\n", vin.w, vin.h, n_tok, r + 1, reps);
            if (mm_vision_encode(proj, vin.data, vin.w, vin.h, threads, embd, &e) != MM_OK) goto fail;
            double tv = secs(t0) * 1e3;
            if (r == 0 || tv < vis_ms) vis_ms = tv, prep_ms = tp;
        }
        /* the soft tokens through the decoder: one batch, empty context */
        const int E = hp->proj_dim;
        if (E != mm_model_n_embd(m)) {
            cli_error("bench towers: the mmproj projects to %d, the model is %d wide", E, mm_model_n_embd(m));
            goto out;
        }
        mm_ctx_params cp = {n_tok + 8, n_tok, 1, threads, 1};
        if (mm_ctx_open(m, &cp, &ctx, &e) != MM_OK) goto fail;
        int32_t *pos = malloc(sizeof(int32_t) * (size_t)n_tok), *seq = calloc((size_t)n_tok, sizeof(int32_t)),
                *med = calloc((size_t)n_tok, sizeof(int32_t));
        int8_t *want = calloc((size_t)n_tok, 1);
        if (!pos || !seq || !med || !want) {
            free(pos), free(seq), free(med), free(want);
            goto oom;
        }
        for (int i = 0; i < n_tok; i++) pos[i] = i;
        want[n_tok - 1] = 1;
        mm_batch b = {n_tok, NULL, embd, pos, seq, want};
        mm_batch_media md = {med, mm_model_media_attn(m, hp->type)};
        int64_t t0 = mm_mono_ns();
        mm_code dc = mm_decode_media(ctx, &b, &md, &e);
        pp = n_tok / secs(t0);
        free(pos), free(seq), free(med), free(want);
        if (dc != MM_OK) goto fail;
    }
    if (mm_mmproj_audio_type(proj) != MM_PROJ_NONE) {
        /* 30 s of speech-like 16 kHz audio: a tone whose loudness follows syllable-rate
         * bursts, over noise; log-mel then the tower, timed together (wall clock) */
        const size_t N = 30 * 16000;
        float *pcm = malloc(N * sizeof(float)), *mel = NULL, *aout = NULL;
        mm_mel *mm = NULL;
        mm_code ac = pcm ? mm_mel_create(NULL, &mm, &e) : mm_err_set(&e, MM_ENOMEM, "out of memory");
        uint32_t r = 12345;
        for (size_t i = 0; pcm && i < N; i++) {
            r = r * 1103515245u + 12345u;
            double t = (double)i / 16000.0;
            pcm[i] = (float)(0.3 * sin(2 * M_PI * 180 * t) * fabs(sin(2 * M_PI * 3 * t)) +
                             0.02 * ((double)(r >> 8) / 16777216.0 - 0.5));
        }
        size_t nf = 0, cap = 0;
        if (!ac) {
            cap = mm_mel_n_frames(mm, N) * 128;
            if (!(mel = malloc(cap * sizeof(float)))) ac = mm_err_set(&e, MM_ENOMEM, "out of memory");
        }
        const int64_t t0 = mm_mono_ns();
        if (!ac) ac = mm_mel_compute(mm, pcm, N, mel, cap, &nf, &e);
        const int na = ac ? 0 : mm_audio_n_tokens(proj, (int)nf);
        if (!ac && !(aout = malloc((size_t)na * mm_mmproj_audio(proj)->proj_dim * sizeof(float))))
            ac = mm_err_set(&e, MM_ENOMEM, "out of memory");
        if (!ac && !c->quiet && !c->json) fprintf(stderr, "audio: 30 s -> %zu frames -> %d soft tokens...\n", nf, na);
        if (!ac) ac = mm_audio_encode(proj, mel, (int)nf, threads, aout, &e);
        if (!ac) audio_rtf = 30.0 / secs(t0);
        free(pcm), free(mel), free(aout);
        mm_mel_free(mm);
        if (ac) goto fail;
    }
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "threads", threads);
        cJSON_AddNumberToObject(o, "vision_tokens", n_tok);
        if (isnan(vis_ms)) cJSON_AddNullToObject(o, "vision_ms_per_image");
        else cJSON_AddNumberToObject(o, "vision_ms_per_image", vis_ms);
        if (isnan(prep_ms)) cJSON_AddNullToObject(o, "vision_preprocess_ms");
        else cJSON_AddNumberToObject(o, "vision_preprocess_ms", prep_ms);
        if (isnan(audio_rtf)) cJSON_AddNullToObject(o, "audio_realtime_factor");
        else cJSON_AddNumberToObject(o, "audio_realtime_factor", audio_rtf);
        if (isnan(pp)) cJSON_AddNullToObject(o, "soft_token_prefill_tokens_per_s");
        else cJSON_AddNumberToObject(o, "soft_token_prefill_tokens_per_s", pp);
        char *s = cJSON_PrintUnformatted(o);
        if (s) puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("vision tower   %d soft tokens: %.0f ms per image (preprocessing %.1f ms), %d threads\n", n_tok,
               vis_ms, prep_ms, threads);
        if (isnan(audio_rtf)) printf("audio tower    (none in this mmproj)\n");
        else printf("audio tower    %.1f x real time\n", audio_rtf);
        printf("prefill        %.1f soft tokens/s\n", pp);
    }
    rc = EXIT_OK;
    goto out;
oom:
    mm_err_set(&e, MM_ENOMEM, "out of memory");
fail:
    cli_error("bench towers: %s", e.msg);
out:
    free(embd);
    free(px);
    mm_vision_input_free(&vin);
    mm_ctx_close(ctx);
    mm_model_close(m);
    mm_mmproj_close(proj);
    return rc;
}
