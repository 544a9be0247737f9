/*
 * tests/unit/test_vision_images.c — odd pictures through the whole image path (decode,
 * preprocess, vision tower, soft tokens into the text decoder) with the fixture pack's tiny
 * models: a 1x1 picture (scaled up to the 70-token minimum), a 10000x40 panorama (refused by
 * the gemma4v file, whose 64-entry position tables it would overrun; fine for gemma3's fixed
 * square), and grayscale (must give exactly what the same picture as RGB gives).  Also the
 * marker/image count check.  The PNGs are written here with libpng.  Skips (77) without ../shared.
 */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "multimodal.h"
#include "test.h"

static int write_png(const char *path, int w, int h, int gray, const uint8_t *px) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp ps = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop pi = ps ? png_create_info_struct(ps) : NULL;
    if (!pi || setjmp(png_jmpbuf(ps))) {
        png_destroy_write_struct(&ps, &pi);
        fclose(f);
        return -1;
    }
    png_init_io(ps, f);
    png_set_IHDR(ps, pi, (png_uint_32)w, (png_uint_32)h, 8, gray ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(ps, pi);
    for (int y = 0; y < h; y++) png_write_row(ps, (png_const_bytep)(px + (size_t)y * w * (gray ? 1 : 3)));
    png_write_end(ps, pi);
    png_destroy_write_struct(&ps, &pi);
    return fclose(f) ? -1 : 0;
}

/* One picture through prompt build + decode; returns the build/decode code, soft tokens in *n_tok,
 * a copy of the embeddings in *embd (caller frees). */
static mm_code run(const mm_model *m, const mm_tokenizer *tok, const mm_mmproj *pj, const char *img, int *n_tok,
                   float **embd, mm_err *e) {
    mmp_prompt pr;
    const mmp_input imgs[1] = {{.path = img, .audio = 0}};
    *n_tok = 0;
    if (embd) *embd = NULL;
    mm_code c = mmp_prompt_build(tok, pj, "Describe: <__media__> now", 1, 1, imgs, 1, 2, &pr, e);
    if (c) return c;
    *n_tok = pr.media[0].n_tokens;
    mm_ctx *ctx = NULL;
    mm_ctx_params cp = {(int)pr.n_pos + 1, mmp_prompt_max_run(&pr), 1, 2, 0};
    float *last = malloc((size_t)mm_model_n_vocab(m) * sizeof(float));
    c = last ? mm_ctx_open(m, &cp, &ctx, e) : MM_ENOMEM;
    if (!c) c = mmp_prompt_decode(ctx, m, pj, &pr, last, e);
    if (!c) {
        int finite = 1;
        for (int i = 0; i < mm_model_n_vocab(m); i++) finite &= isfinite(last[i]) != 0;
        for (size_t i = 0; i < (size_t)pr.media[0].n_tokens * pr.media[0].n_embd; i++)
            finite &= isfinite(pr.media[0].embd[i]) != 0;
        CHECK(finite, "%s: non-finite soft tokens or logits", img);
        if (embd) {
            size_t n = (size_t)pr.media[0].n_tokens * pr.media[0].n_embd;
            *embd = malloc(n * sizeof(float));
            if (*embd) memcpy(*embd, pr.media[0].embd, n * sizeof(float));
        }
    }
    free(last);
    mm_ctx_close(ctx);
    mmp_prompt_free(&pr);
    return c;
}

int main(void) {
    const char *pack = MMPIPE_SHARED_DIR "/fixtures/models";
    char p4[512], p3[512], m4[512], m3[512];
    snprintf(p4, sizeof p4, "%s/mmproj-gemma4v-f32.gguf", pack);
    snprintf(p3, sizeof p3, "%s/mmproj-gemma3-f32.gguf", pack);
    snprintf(m4, sizeof m4, "%s/gemma4-e2b-f32.gguf", pack);
    snprintf(m3, sizeof m3, "%s/gemma3-f32.gguf", pack);
    if (access(p4, R_OK) || access(p3, R_OK) || access(m4, R_OK) || access(m3, R_OK)) {
        printf("SKIP: no fixture models in %s\n", pack);
        return 77;
    }
    char dir[] = "/tmp/mmpipe-vision-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char one[600], pano[600], gray[600], rgb[600];
    snprintf(one, sizeof one, "%s/one.png", dir);
    snprintf(pano, sizeof pano, "%s/pano.png", dir);
    snprintf(gray, sizeof gray, "%s/gray.png", dir);
    snprintf(rgb, sizeof rgb, "%s/rgb.png", dir);
    uint8_t px1[3] = {200, 30, 90};
    const int PW = 10000, PH = 40, GW = 37, GH = 23;
    uint8_t *pp = malloc((size_t)PW * PH * 3), *gp = malloc((size_t)GW * GH), *gr = malloc((size_t)GW * GH * 3);
    if (!pp || !gp || !gr) return 1;
    for (int i = 0; i < PW * PH * 3; i++) pp[i] = (uint8_t)((i * 7 + i / 3000) & 255);
    for (int i = 0; i < GW * GH; i++) gp[i] = gr[3 * i] = gr[3 * i + 1] = gr[3 * i + 2] = (uint8_t)((i * 53) & 255);
    if (write_png(one, 1, 1, 0, px1) || write_png(pano, PW, PH, 0, pp) || write_png(gray, GW, GH, 1, gp) ||
        write_png(rgb, GW, GH, 0, gr)) {
        fprintf(stderr, "cannot write test PNGs in %s\n", dir);
        return 1;
    }
    mm_model *g4 = NULL, *g3 = NULL;
    mm_tokenizer *t4 = NULL, *t3 = NULL;
    mm_mmproj *v4 = NULL, *v3 = NULL;
    mm_err e;
    if (mm_model_open(m4, &g4, &e) || mm_tokenizer_open(mm_model_gguf(g4), &t4, &e) || mm_model_open(m3, &g3, &e) ||
        mm_tokenizer_open(mm_model_gguf(g3), &t3, &e) || mm_mmproj_open(p4, &v4, &e) || mm_mmproj_open(p3, &v3, &e)) {
        fprintf(stderr, "open: %s\n", e.msg);
        return 1;
    }
    int n = 0;
    float *a = NULL, *b = NULL;
    /* 1x1: gemma4v scales it up to 108x108 (81 tokens >= 70); gemma3 letterboxes it into 64x64 */
    mm_code c = run(g4, t4, v4, one, &n, NULL, &e);
    CHECK(c == MM_OK && n == 81, "1x1 gemma4v: code %d, %d tokens (%s)", (int)c, n, c ? e.msg : "");
    c = run(g3, t3, v3, one, &n, NULL, &e);
    CHECK(c == MM_OK && n == 16, "1x1 gemma3: code %d, %d tokens (%s)", (int)c, n, c ? e.msg : "");
    /* panorama: 6348x24 for gemma4v = a 1587x6 patch grid, past the 64-entry tables: a clear refusal */
    c = run(g4, t4, v4, pano, &n, NULL, &e);
    CHECK(c == MM_EINVAL && strstr(e.msg, "position table") && strstr(e.msg, "pano.png"),
           "panorama gemma4v: code %d (%s)", (int)c, e.msg);
    c = run(g3, t3, v3, pano, &n, NULL, &e);
    CHECK(c == MM_OK && n == 16, "panorama gemma3: code %d, %d tokens (%s)", (int)c, n, c ? e.msg : "");
    /* grayscale: grey is replicated to R=G=B, so the same soft tokens as the RGB file */
    int na = 0, nb = 0;
    c = run(g4, t4, v4, gray, &na, &a, &e);
    CHECK(c == MM_OK, "gray gemma4v: %s", e.msg);
    c = run(g4, t4, v4, rgb, &nb, &b, &e);
    CHECK(c == MM_OK, "rgb gemma4v: %s", e.msg);
    CHECK(a && b && na == nb && na > 0 && !memcmp(a, b, (size_t)na * mm_model_n_embd(g4) * sizeof(float)),
           "grayscale and RGB soft tokens differ");
    free(a);
    free(b);
    /* the marker count must match the images */
    mmp_prompt pr;
    const mmp_input imgs[1] = {{.path = one, .audio = 0}};
    c = mmp_prompt_build(t4, v4, "no marker here", 1, 1, imgs, 1, 1, &pr, &e);
    CHECK(c == MM_EINVAL && strstr(e.msg, "marker"), "marker count: code %d (%s)", (int)c, e.msg);
    mm_mmproj_close(v4);
    mm_mmproj_close(v3);
    mm_tokenizer_close(t4);
    mm_tokenizer_close(t3);
    mm_model_close(g4);
    mm_model_close(g3);
    unlink(one); unlink(pano); unlink(gray); unlink(rgb);
    rmdir(dir);
    free(pp); free(gp); free(gr);
    return test_done("test_vision_images");
}
