/*
 * decoders/image_png.c — PNG through libpng into an img_raw (RGB8 or RGBA8), with stb_image's
 * sample values so that the llama.cpp-exact path sees the pixels llama.cpp sees.
 *
 * libpng transforms used, and why they equal stb_image (v2.27, stbi_load(..., 3)):
 *   16-bit   png_set_strip_16: keeps the high byte.  stb_image's stbi__convert_16_to_8 does
 *            (v >> 8) & 0xFF — the high byte, not a rounded v*255/65535.
 *   1/2/4-bit grey  png_set_expand_gray_1_2_4_to_8: v * 0xFF / 0x55 / 0x11 — stb's
 *            stbi__depth_scale_table.  Palette indices are not scaled (both).
 *   palette  png_set_palette_to_rgb (adds alpha from tRNS; image.c drops or composites it).
 *   tRNS on grey/RGB  png_set_tRNS_to_alpha only when alpha is kept; stb_image computes the alpha
 *            too but throws it away when 3 channels are asked for, i.e. "drop" = ignore tRNS.
 *   grey     png_set_gray_to_rgb: R = G = B.
 *   Adam7    png_set_interlace_handling.
 *   gAMA / sRGB / iCCP / sBIT are ignored by both.
 * CRC policy: a bad CRC on any chunk, critical or ancillary, is an error (libpng's default only
 * warns and drops a bad ancillary chunk; stb_image checks no CRC at all).
 *
 * Error handling: libpng reports errors by longjmp.  All state that changes after setjmp lives in
 * a png_job owned by the caller's frame (png_decode), never in locals of the frame calling setjmp,
 * so it is well defined after the jump and the caller frees whatever was allocated.
 */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

typedef struct png_job {
    const uint8_t *d;
    size_t n, pos;
    const char *name;
    const img_cfg *cfg;
    png_structp png;
    png_infop info;
    uint8_t *px;       /* h*w*ch output, malloc'd */
    png_bytep *rows;   /* h row pointers into px */
    int w, h, ch, orientation;
    mm_code code;      /* the code to report when a check of ours calls png_error */
    char why[512];     /* last libpng error text */
} png_job;

static void on_error(png_structp png, png_const_charp msg) {
    png_job *j = png_get_error_ptr(png);
    snprintf(j->why, sizeof j->why, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png, (void)msg; /* library code never prints; benign issues are tolerated */
}

static void on_read(png_structp png, png_bytep out, size_t len) {
    png_job *j = png_get_io_ptr(png);
    if (len > j->n - j->pos) {
        j->code = MM_ECORRUPT;
        png_error(png, "file ends early (truncated)");
    }
    memcpy(out, j->d + j->pos, len);
    j->pos += len;
}

/* Checks the header's size against the pixel limit and against what the file can hold: deflate
 * expands at most 1032:1, so h rows of (1 + rowbytes) filtered bytes need >= raw/1032 input bytes. */
static void check_size(png_job *j, png_uint_32 w, png_uint_32 h, int depth, int ctype) {
    if (!mm__pixels_ok(w, h, j->cfg->max_pixels)) {
        j->code = MM_ELIMIT;
        snprintf(j->why, sizeof j->why, "%ux%u pixels exceed the limit of %llu", (unsigned)w,
                 (unsigned)h, (unsigned long long)j->cfg->max_pixels);
        png_longjmp(j->png, 1);
    }
    int comps = ctype == PNG_COLOR_TYPE_RGB ? 3 : ctype == PNG_COLOR_TYPE_RGBA ? 4
              : ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
    uint64_t raw = (uint64_t)h * (1 + ((uint64_t)w * comps * depth + 7) / 8);
    if (raw / 1032 > j->n + 1024) {
        j->code = MM_ECORRUPT;
        snprintf(j->why, sizeof j->why, "header says %ux%u but a %zu-byte file cannot hold it",
                 (unsigned)w, (unsigned)h, j->n);
        png_longjmp(j->png, 1);
    }
}

static void set_transforms(png_job *j, int depth, int ctype) {
    png_structp png = j->png;
    if (depth == 16) png_set_strip_16(png);
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (j->cfg->keep_alpha && png_get_valid(png, j->info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    (void)png_set_interlace_handling(png);
}

static int exif_orientation(png_job *j) {
#ifdef PNG_eXIf_SUPPORTED
    png_uint_32 len = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(j->png, j->info, &len, &exif) && exif) return mm__exif_orientation_tiff(exif, len);
#endif
    return 1;
}

/* Everything that can longjmp.  Returns 0 on success, 1 after a libpng error. */
static int png_run(png_job *j) {
    if (setjmp(png_jmpbuf(j->png))) return 1;
    png_set_read_fn(j->png, j, on_read);
    png_set_crc_action(j->png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    png_set_user_limits(j->png, 0x7fffffff, 0x7fffffff); /* our limit (check_size) decides */
    png_read_info(j->png, j->info);
    png_uint_32 w, h;
    int depth, ctype, ilace;
    png_get_IHDR(j->png, j->info, &w, &h, &depth, &ctype, &ilace, NULL, NULL);
    check_size(j, w, h, depth, ctype);
    set_transforms(j, depth, ctype);
    png_read_update_info(j->png, j->info);
    j->w = (int)w, j->h = (int)h;
    j->ch = png_get_channels(j->png, j->info);
    if ((j->ch != 3 && j->ch != 4) || png_get_rowbytes(j->png, j->info) != (size_t)w * j->ch)
        png_error(j->png, "unexpected pixel layout after transforms");
    j->px = malloc((size_t)w * h * j->ch);
    j->rows = malloc(sizeof(png_bytep) * h);
    if (!j->px || !j->rows) {
        j->code = MM_ENOMEM;
        png_error(j->png, "out of memory");
    }
    for (png_uint_32 y = 0; y < h; y++) j->rows[y] = j->px + (size_t)y * w * j->ch;
    png_read_image(j->png, j->rows);
    png_read_end(j->png, j->info); /* checks the trailing chunks (and their CRCs) up to IEND */
    j->orientation = j->cfg->want_exif ? exif_orientation(j) : 1;
    return 0;
}

mm_code mm__png_decode(const uint8_t *d, size_t n, const char *name, const img_cfg *c, img_raw *out,
                       mm_err *e) {
    png_job j = {.d = d, .n = n, .name = name, .cfg = c, .code = MM_ECORRUPT};
    j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, on_error, on_warning);
    if (j.png) j.info = png_create_info_struct(j.png);
    if (!j.png || !j.info) {
        png_destroy_read_struct(j.png ? &j.png : NULL, NULL, NULL);
        return mm_err_set(e, MM_ENOMEM, "%s: out of memory creating the PNG decoder", name);
    }
    int failed = png_run(&j);
    png_destroy_read_struct(&j.png, &j.info, NULL);
    free(j.rows);
    if (failed) {
        free(j.px);
        return mm_err_set(e, j.code, "%s: bad PNG: %s", name, j.why);
    }
    *out = (img_raw){.w = j.w, .h = j.h, .channels = j.ch, .px = j.px, .orientation = j.orientation,
                     .full_w = j.w, .full_h = j.h};
    return MM_OK;
}
