/*
 * decoders/image_bench.c — mm_image_bench_12mp, the image part of `mmpipe bench decode`: writes a
 * synthetic 4000x3000 photo-like picture (smooth gradients, edges, sensor-like noise) as a JPEG
 * (quality 90, 4:2:0, libjpeg) and a PNG (libpng, default compression) into a folder, then times
 * mm_vision_load on each — decode + Gemma 4 preprocessing (patch 16 x merge 3, 70..1120 tokens:
 * 1824x1344) — as a caption job runs it: wall-clock ms, best of `reps`.  The JPEG is timed twice:
 * with DCT scaling allowed (the default for jobs) and exact (llama.cpp's pixels).  Files are
 * removed afterwards.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h> /* needs stdio.h first */
#include <png.h>

#include "image_internal.h"

#define BW 4000
#define BH 3000

static void synth(uint8_t *px) {
    uint32_t s = 2463534242u;
    for (int y = 0; y < BH; y++)
        for (int x = 0; x < BW; x++) {
            s ^= s << 13, s ^= s >> 17, s ^= s << 5; /* xorshift noise */
            int n = (int)(s & 15) - 8;
            int edge = ((x / 250) + (y / 250)) & 1 ? 40 : 0;
            uint8_t *p = px + ((size_t)y * BW + x) * 3;
            int v[3] = {x * 200 / BW + edge + n, y * 200 / BH + n, (x + y) * 120 / (BW + BH) + 60 - edge + n};
            for (int c = 0; c < 3; c++) p[c] = (uint8_t)(v[c] < 0 ? 0 : v[c] > 255 ? 255 : v[c]);
        }
}

static int write_jpeg(const char *path, const uint8_t *px) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr); /* writing our own picture: a libjpeg error here is a bug */
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = BW, ci.image_height = BH, ci.input_components = 3, ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 90, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)ci.next_scanline * BW * 3);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    return fclose(f) == 0 ? 0 : -1;
}

static int write_png(const char *path, const uint8_t *px) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *rows = malloc(sizeof(png_bytep) * BH);
    if (!png || !info || !rows || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, BW, BH, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    for (int y = 0; y < BH; y++) rows[y] = (png_bytep)(px + (size_t)y * BW * 3);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    return fclose(f) == 0 ? 0 : -1;
}

static mm_code time_one(const char *path, const mm_image_opts *o, int reps, double *best_ms,
                        int *n_tokens, mm_err *e) {
    mm_vision_params p;
    mm_vision_params_gemma4v(&p, 16, 3);
    *best_ms = 0;
    for (int r = 0; r < reps; r++) {
        mm_vision_input v;
        int64_t t0 = mm_mono_ns();
        mm_code rc = mm_vision_load(path, o, &p, &v, e);
        double ms = (double)(mm_mono_ns() - t0) / 1e6;
        if (rc != MM_OK) return rc;
        *n_tokens = v.n_tokens;
        mm_vision_input_free(&v);
        if (r == 0 || ms < *best_ms) *best_ms = ms;
    }
    return MM_OK;
}

mm_code mm_image_bench_12mp(const char *dir, int reps, mm_image_bench *out, mm_err *e) {
    memset(out, 0, sizeof *out);
    if (reps < 1) reps = 1;
    char jpg[4096], png[4096];
    snprintf(jpg, sizeof jpg, "%s/mmpipe-bench-12mp-%d.jpg", dir, (int)getpid());
    snprintf(png, sizeof png, "%s/mmpipe-bench-12mp-%d.png", dir, (int)getpid());
    uint8_t *px = malloc((size_t)BW * BH * 3);
    if (!px) return mm_err_set(e, MM_ENOMEM, "bench: out of memory");
    synth(px);
    int bad = write_jpeg(jpg, px) || write_png(png, px);
    free(px);
    mm_code rc = bad ? mm_err_set(e, MM_EIO, "bench: cannot write %s / %s", jpg, png) : MM_OK;
    mm_image_opts fast = {.allow_dct_scaling = 1}, exact;
    mm_image_opts_llama(&exact);
    if (rc == MM_OK) rc = time_one(jpg, &fast, reps, &out->jpeg_ms, &out->n_tokens, e);
    if (rc == MM_OK) rc = time_one(jpg, &exact, reps, &out->jpeg_exact_ms, &out->n_tokens, e);
    if (rc == MM_OK) rc = time_one(png, &exact, reps, &out->png_ms, &out->n_tokens, e);
    out->w = BW, out->h = BH;
    if (!getenv("MMPIPE_BENCH_KEEP")) unlink(jpg);
    if (!getenv("MMPIPE_BENCH_KEEP")) unlink(png);
    return rc;
}
