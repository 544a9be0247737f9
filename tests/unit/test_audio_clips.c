/*
 * tests/unit/test_audio_clips.c — odd recordings through the whole audio path (decode, 30 s
 * pieces, log-mel, gemma4a tower, soft tokens into the text decoder) with the fixture pack's tiny
 * models: a 0.2 s clip (20 frames -> 5 tokens, one short attention block), a 31 s clip (two
 * pieces, 750 + 25 tokens back to back between one <|audio> ... <audio|> pair; the second piece
 * encoded on its own exactly as the same second written as its own file), 2 s of digital silence
 * (all-floor features; once the start is out of reach of the 2 blocks' attention windows and
 * causal convs, every soft token is the same until the last one), 480001 samples (the 1-sample last piece dropped and
 * noted), a 1-sample file and a video-only file (refused clearly), audio with a vision-only mmproj
 * (refused), 1 vs 2 threads and the two-tower gemma4va file vs gemma4a (identical soft tokens).  The WAVs are written here.  Skips (77) without
 * ../shared.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "multimodal.h"
#include "test.h"

static const double PI_D = 3.14159265358979323846;

/* 16 kHz mono s16 WAV of n samples: a voiced-like signal (harmonics of 140 Hz, syllable-rate
 * envelope) from sample `from` of an endless stream, or silence. */
static int write_wav(const char *path, size_t from, size_t n, int silent) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    const uint32_t rate = 16000, bytes = (uint32_t)(n * 2);
    uint8_t h[44];
    memcpy(h, "RIFF", 4);
    const uint32_t riff = 36 + bytes, fmt_len = 16, byte_rate = rate * 2;
    const uint16_t pcm = 1, ch = 1, align = 2, bits = 16;
    memcpy(h + 4, &riff, 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    memcpy(h + 16, &fmt_len, 4);
    memcpy(h + 20, &pcm, 2);
    memcpy(h + 22, &ch, 2);
    memcpy(h + 24, &rate, 4);
    memcpy(h + 28, &byte_rate, 4);
    memcpy(h + 32, &align, 2);
    memcpy(h + 34, &bits, 2);
    memcpy(h + 36, "data", 4);
    memcpy(h + 40, &bytes, 4);
    int ok = fwrite(h, 1, 44, f) == 44;
    for (size_t i = 0; i < n && ok; i++) {
        const double t = (double)(from + i) / rate;
        double v = 0;
        if (!silent) {
            for (int k = 1; k <= 6; k++) v += sin(2 * PI_D * 140.0 * k * t) / k;
            v *= 0.25 * (0.6 + 0.4 * sin(2 * PI_D * 4.0 * t));
        }
        const int16_t s = (int16_t)lrint(v * 32767.0);
        ok = fwrite(&s, 2, 1, f) == 1;
    }
    return fclose(f) || !ok ? -1 : 0;
}

/* What the hook saw: per piece tokens/frames, the last piece's soft tokens and features. */
typedef struct seen {
    int n, tokens[8], frames[8];
    float *embd, *mel;
    size_t n_embd, n_mel;
} seen;

static mm_code hook(void *ud, int k, const mmp_media *md, const float *mel, int n_mel, mm_err *e) {
    seen *s = ud;
    (void)e;
    if (s->n < 8) s->tokens[s->n] = md->n_tokens, s->frames[s->n] = md->n_frames;
    s->n++;
    (void)k;
    free(s->embd);
    free(s->mel);
    s->n_embd = (size_t)md->n_tokens * md->n_embd;
    s->n_mel = (size_t)n_mel * md->n_frames;
    s->embd = malloc(s->n_embd * sizeof(float));
    s->mel = malloc(s->n_mel * sizeof(float));
    if (s->embd) memcpy(s->embd, md->embd, s->n_embd * sizeof(float));
    if (s->mel) memcpy(s->mel, mel, s->n_mel * sizeof(float));
    return MM_OK;
}

typedef struct env {
    mm_model *m;
    mm_tokenizer *tok;
    mm_mmproj *pa, *pv;
    int32_t beg, end;   /* <|audio>, <audio|> */
} env;

/* Prompt with one recording, built and decoded; *pr keeps the items (caller frees). */
static mm_code run(const env *v, const mm_mmproj *pj, const char *wav, int threads, seen *s, mmp_prompt *pr,
                   mm_err *e) {
    mmp_input in = {.path = wav, .audio = 1};
    memset(s, 0, sizeof *s);
    mm_code c = mmp_prompt_build(v->tok, pj, "Transcribe: <__media__> now", 1, 1, &in, 1, threads, pr, e);
    if (c) return c;
    pr->hook = hook;
    pr->hook_ud = s;
    mm_ctx *ctx = NULL;
    mm_ctx_params cp = {(int)pr->n_pos + 1, mmp_prompt_max_run(pr), 1, threads, 0};
    float *last = malloc((size_t)mm_model_n_vocab(v->m) * sizeof(float));
    c = last ? mm_ctx_open(v->m, &cp, &ctx, e) : MM_ENOMEM;
    if (!c) c = mmp_prompt_decode(ctx, v->m, pj, pr, last, e);
    if (!c) {
        int finite = 1;
        for (int i = 0; i < mm_model_n_vocab(v->m); i++) finite &= isfinite(last[i]) != 0;
        for (size_t i = 0; s->embd && i < s->n_embd; i++) finite &= isfinite(s->embd[i]) != 0;
        CHECK(finite && s->embd, "%s: non-finite soft tokens or logits", wav);
    }
    free(last);
    mm_ctx_close(ctx);
    return c;
}

static void seen_free(seen *s) {
    free(s->embd);
    free(s->mel);
    memset(s, 0, sizeof *s);
}

/* The media items of pr sit back to back right after <|audio> and right before <audio|>. */
static int framed(const env *v, const mmp_prompt *pr, int n_pieces) {
    for (size_t i = 0; i < pr->n; i++)
        if (pr->items[i].media >= 0) {
            if (i == 0 || pr->items[i - 1].media >= 0 || pr->items[i - 1].token != v->beg) return 0;
            for (int k = 0; k < n_pieces; k++)
                if (i + (size_t)k >= pr->n || pr->items[i + (size_t)k].media != k) return 0;
            const size_t j = i + (size_t)n_pieces;
            return j < pr->n && pr->items[j].media < 0 && pr->items[j].token == v->end;
        }
    return 0;
}

int main(void) {
    const char *pack = MMPIPE_SHARED_DIR "/fixtures/models";
    char pa[512], pv[512], pva[512], mp[512], video[600];
    snprintf(pa, sizeof pa, "%s/mmproj-gemma4a-f32.gguf", pack);
    snprintf(pv, sizeof pv, "%s/mmproj-gemma4v-f32.gguf", pack);
    snprintf(pva, sizeof pva, "%s/mmproj-gemma4va-f32.gguf", pack);
    snprintf(mp, sizeof mp, "%s/gemma4-e2b-f32.gguf", pack);
    snprintf(video, sizeof video, "%s/audio/video_only.mp4", MMPIPE_TESTDATA);
    if (access(pa, R_OK) || access(pv, R_OK) || access(pva, R_OK) || access(mp, R_OK)) {
        printf("SKIP: no fixture models in %s\n", pack);
        return 77;
    }
    char dir[] = "/tmp/mmpipe-audio-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char shortw[600], longw[600], tailw[600], silw[600], dropw[600], onew[600];
    snprintf(shortw, sizeof shortw, "%s/clip-200ms.wav", dir);
    snprintf(longw, sizeof longw, "%s/clip-31s.wav", dir);
    snprintf(tailw, sizeof tailw, "%s/clip-31s-tail.wav", dir);
    snprintf(silw, sizeof silw, "%s/silence-2s.wav", dir);
    snprintf(dropw, sizeof dropw, "%s/clip-480001.wav", dir);
    snprintf(onew, sizeof onew, "%s/one-sample.wav", dir);
    if (write_wav(shortw, 0, 3200, 0) || write_wav(longw, 0, 496000, 0) || write_wav(tailw, 480000, 16000, 0) ||
        write_wav(silw, 0, 32000, 1) || write_wav(dropw, 0, 480001, 0) || write_wav(onew, 0, 1, 0)) {
        fprintf(stderr, "cannot write test WAVs in %s\n", dir);
        return 1;
    }
    env v = {0};
    mm_err e;
    if (mm_model_open(mp, &v.m, &e) || mm_tokenizer_open(mm_model_gguf(v.m), &v.tok, &e) ||
        mm_mmproj_open(pa, &v.pa, &e) || mm_mmproj_open(pv, &v.pv, &e)) {
        fprintf(stderr, "open: %s\n", e.msg);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    if (mm_tokenize(v.tok, "<|audio>", 8, 0, 1, &ids, &n, &e) || n != 1) return fprintf(stderr, "<|audio>\n"), 1;
    v.beg = ids[0];
    free(ids);
    if (mm_tokenize(v.tok, "<audio|>", 8, 0, 1, &ids, &n, &e) || n != 1) return fprintf(stderr, "<audio|>\n"), 1;
    v.end = ids[0];
    free(ids);
    seen s, s2;
    mmp_prompt pr, pr2;

    /* 0.2 s: 3200 samples -> (3200-161)/160+1 = 19 frames -> 10 -> 5 tokens; 1 and 2 threads agree */
    mm_code c = run(&v, v.pa, shortw, 2, &s, &pr, &e);
    CHECK(c == MM_OK && s.n == 1 && s.frames[0] == 19 && s.tokens[0] == 5 && framed(&v, &pr, 1),
          "0.2 s: code %d, %d pieces, %d frames, %d tokens (%s)", (int)c, s.n, s.frames[0], s.tokens[0], c ? e.msg : "");
    mmp_prompt_free(&pr);
    c = run(&v, v.pa, shortw, 1, &s2, &pr2, &e);
    CHECK(c == MM_OK && s.embd && s2.embd && s.n_embd == s2.n_embd && !memcmp(s.embd, s2.embd, s.n_embd * 4),
          "0.2 s: 1 and 2 threads give different soft tokens");
    mmp_prompt_free(&pr2);
    seen_free(&s2);
    /* the vision + audio file picks its audio tower: the same soft tokens as the audio-only file */
    mm_mmproj *va = NULL;
    c = mm_mmproj_open(pva, &va, &e);
    if (!c) c = run(&v, va, shortw, 2, &s2, &pr2, &e);
    CHECK(c == MM_OK && s.embd && s2.embd && s.n_embd == s2.n_embd && !memcmp(s.embd, s2.embd, s.n_embd * 4),
          "0.2 s: gemma4va and gemma4a give different soft tokens (%s)", c ? e.msg : "");
    if (!c) mmp_prompt_free(&pr2);
    mm_mmproj_close(va);
    seen_free(&s);
    seen_free(&s2);

    /* 31 s: pieces of 480000 (2999 frames, 750 tokens) and 16000 samples (99 frames, 25 tokens),
     * back to back in one frame; the second piece is encoded on its own */
    c = run(&v, v.pa, longw, 2, &s, &pr, &e);
    CHECK(c == MM_OK && s.n == 2 && s.frames[0] == 2999 && s.tokens[0] == 750 && s.frames[1] == 99 &&
          s.tokens[1] == 25 && framed(&v, &pr, 2) && pr.n_media == 2 && pr.media[1].last && !pr.media[0].last,
          "31 s: code %d, %d pieces (%d/%d frames, %d/%d tokens) (%s)", (int)c, s.n, s.frames[0], s.frames[1],
          s.tokens[0], s.tokens[1], c ? e.msg : "");
    mmp_prompt_free(&pr);
    c = run(&v, v.pa, tailw, 2, &s2, &pr2, &e);
    CHECK(c == MM_OK && s2.n == 1 && s.embd && s2.embd && s.n_embd == s2.n_embd &&
          !memcmp(s.embd, s2.embd, s.n_embd * 4) && s.n_mel == s2.n_mel && !memcmp(s.mel, s2.mel, s.n_mel * 4),
          "31 s: the second piece differs from the same second as its own file");
    mmp_prompt_free(&pr2);
    seen_free(&s);
    seen_free(&s2);

    /* silence: every feature is ln(1e-3); each block reaches 11 (attention) + 4 (depthwise conv)
     * steps back, so from token ~30 on (2 blocks) every soft token but the last is the same */
    c = run(&v, v.pa, silw, 2, &s, &pr, &e);
    CHECK(c == MM_OK && s.n == 1 && s.tokens[0] == 50, "silence: code %d, %d tokens (%s)", (int)c, s.tokens[0],
          c ? e.msg : "");
    int floor_ok = s.mel != NULL, same = s.embd != NULL;
    for (size_t i = 0; s.mel && i < s.n_mel; i++) floor_ok &= s.mel[i] == (float)log(1e-3);
    const int D = mm_model_n_embd(v.m);
    for (int t = 33; same && t < 49; t++)
        for (int i = 0; i < D; i++) {
            const float r = s.embd[(size_t)32 * D + i];
            same &= fabsf(s.embd[(size_t)t * D + i] - r) <= 1e-5f * (1 + fabsf(r));
        }
    /* ... and the start differs (the zero padding before the first frame is seen) */
    int start_differs = 0;
    for (int i = 0; s.embd && i < D; i++) start_differs |= fabsf(s.embd[i] - s.embd[(size_t)32 * D + i]) > 1e-3f;
    CHECK(start_differs, "silence: the first soft token equals the steady one");
    CHECK(floor_ok, "silence: features are not all ln(1e-3)");
    CHECK(same, "silence: the middle soft tokens differ");
    mmp_prompt_free(&pr);
    seen_free(&s);

    /* 480001 samples: the 1-sample last piece is dropped and recorded (llama.cpp refuses the file) */
    c = run(&v, v.pa, dropw, 2, &s, &pr, &e);
    CHECK(c == MM_OK && s.n == 1 && s.tokens[0] == 750 && pr.n_media == 1 && pr.media[0].dropped == 1,
          "480001 samples: code %d, %d pieces, dropped %llu (%s)", (int)c, s.n,
          pr.n_media ? (unsigned long long)pr.media[0].dropped : 0ull, c ? e.msg : "");
    mmp_prompt_free(&pr);
    seen_free(&s);

    /* refusals, each naming the file */
    c = run(&v, v.pa, onew, 1, &s, &pr, &e);
    CHECK(c == MM_EINVAL && strstr(e.msg, "one-sample.wav") && strstr(e.msg, "no audio"), "1 sample: code %d (%s)",
          (int)c, e.msg);
    seen_free(&s);
    if (access(video, R_OK) == 0) {
        c = run(&v, v.pa, video, 1, &s, &pr, &e);
        CHECK(c == MM_EUNSUPPORTED && strstr(e.msg, "video_only.mp4"), "video only: code %d (%s)", (int)c, e.msg);
        seen_free(&s);
    }
    c = run(&v, v.pv, shortw, 1, &s, &pr, &e);
    CHECK(c == MM_EINVAL && strstr(e.msg, "audio tower"), "vision-only mmproj: code %d (%s)", (int)c, e.msg);
    seen_free(&s);

    const char *const files[] = {shortw, longw, tailw, silw, dropw, onew};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) unlink(files[i]);
    rmdir(dir);
    mm_mmproj_close(v.pa);
    mm_mmproj_close(v.pv);
    mm_tokenizer_close(v.tok);
    mm_model_close(v.m);
    return test_done("test_audio_clips");
}
