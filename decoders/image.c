/*
 * decoders/image.c — the image entry points of decoders.h: format detection by magic bytes, the
 * file-size and pixel limits, dispatch to the format decoders (image_png.c, image_jpeg.c,
 * image_ffmpeg.c), then the two policies every format shares: alpha (composite over white, or drop
 * as stb_image does) and EXIF orientation (image_exif.c).
 *
 * Flow: bytes --detect--> decoder --img_raw (RGB8/RGBA8, stored orientation)--> alpha --> RGB8
 *       --orient--> mm_image.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

void mm_image_opts_llama(mm_image_opts *o) {
    memset(o, 0, sizeof *o);
    o->no_exif = 1;
    o->alpha = MM_ALPHA_DROP;
}

mm_image_format mm_image_detect(const void *data, size_t n) {
    const uint8_t *p = data;
    if (!p) return MM_IMAGE_UNKNOWN;
    if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) return MM_IMAGE_PNG;
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return MM_IMAGE_JPEG;
    if (n >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4)) return MM_IMAGE_WEBP;
    if (n >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6))) return MM_IMAGE_GIF;
    if (n >= 14 && p[0] == 'B' && p[1] == 'M') return MM_IMAGE_BMP;
    if (n >= 8 && (!memcmp(p, "II*\0", 4) || !memcmp(p, "MM\0*", 4))) return MM_IMAGE_TIFF;
    return MM_IMAGE_UNKNOWN;
}

const char *mm_image_format_name(mm_image_format f) {
    static const char *names[] = {"unknown", "png", "jpeg", "webp", "gif", "bmp", "tiff"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "unknown";
}

void mm_image_free(mm_image *im) {
    if (!im) return;
    free(im->rgb);
    memset(im, 0, sizeof *im);
}

/* RGBA8 -> RGB8 in place (the RGB prefix of each pixel moves down; never overlaps wrongly since
 * the write index trails the read index). */
static void alpha_to_rgb(uint8_t *px, size_t npix, mm_alpha_mode mode) {
    for (size_t i = 0; i < npix; i++) {
        const uint8_t *s = px + 4 * i;
        uint8_t *d = px + 3 * i;
        unsigned a = s[3];
        if (mode == MM_ALPHA_DROP || a == 255) {
            uint8_t r = s[0], g = s[1], b = s[2];
            d[0] = r, d[1] = g, d[2] = b;
        } else {
            unsigned bg = 255 * (255 - a) + 127;
            uint8_t r = (uint8_t)((s[0] * a + bg) / 255);
            uint8_t g = (uint8_t)((s[1] * a + bg) / 255);
            uint8_t b = (uint8_t)((s[2] * a + bg) / 255);
            d[0] = r, d[1] = g, d[2] = b;
        }
    }
}

static img_cfg cfg_from(const mm_image_opts *o) {
    img_cfg c = {0};
    c.max_pixels = o && o->max_pixels ? o->max_pixels : MM_IMAGE_DEFAULT_MAX_PIXELS;
    c.keep_alpha = !o || o->alpha != MM_ALPHA_DROP;
    c.want_exif = !o || !o->no_exif;
    c.min_w = o && o->min_w > 0 ? o->min_w : 0;
    c.min_h = o && o->min_h > 0 ? o->min_h : 0;
    return c;
}

static mm_code run_decoder(const uint8_t *d, size_t n, const char *name, mm_image_format f,
                           img_cfg *c, img_raw *raw, mm_err *e) {
    switch (f) {
    case MM_IMAGE_PNG: return mm__png_decode(d, n, name, c, raw, e);
    case MM_IMAGE_JPEG: return mm__jpeg_decode(d, n, name, c, raw, e);
    case MM_IMAGE_WEBP:
    case MM_IMAGE_GIF:
    case MM_IMAGE_BMP:
    case MM_IMAGE_TIFF: return mm__ffmpeg_decode(d, n, name, f, c, raw, e);
    default: break;
    }
    if (n == 0) return mm_err_set(e, MM_ECORRUPT, "%s: empty file", name);
    return mm_err_set(e, MM_EUNSUPPORTED,
                      "%s: unknown image format (not PNG, JPEG, WebP, GIF, BMP or TIFF by its first bytes)",
                      name);
}

/* The DCT hint is given in displayed orientation; decoders see stored orientation.  Orientation is
 * only known after the header, so a JPEG swaps it itself when needed (see image_jpeg.c). */
mm_code mm_image_decode_mem(const void *data, size_t n, const char *name, const mm_image_opts *o,
                            mm_image *out, mm_err *e) {
    memset(out, 0, sizeof *out);
    if (!name) name = "(memory)";
    if (!data && n) return mm_err_set(e, MM_EINVAL, "%s: no data", name);
    mm_image_format f = mm_image_detect(data, n);
    img_cfg c = cfg_from(o);
    img_raw raw = {0};
    mm_code rc = run_decoder(data, n, name, f, &c, &raw, e);
    if (rc != MM_OK) return rc;
    size_t npix = (size_t)raw.w * (size_t)raw.h;
    out->had_alpha = raw.channels == 4;
    if (raw.channels == 4) alpha_to_rgb(raw.px, npix, o ? o->alpha : MM_ALPHA_WHITE);
    int ow = raw.w, oh = raw.h, fw = raw.full_w, fh = raw.full_h;
    uint8_t *rgb = raw.px;
    if (c.want_exif && raw.orientation != 1) {
        rgb = mm__orient_rgb8(raw.px, raw.w, raw.h, raw.orientation, &ow, &oh);
        if (!rgb) {
            free(raw.px);
            return mm_err_set(e, MM_ENOMEM, "%s: out of memory rotating %dx%d", name, raw.w, raw.h);
        }
        if (rgb != raw.px) free(raw.px);
        if (raw.orientation >= 5) fw = raw.full_h, fh = raw.full_w;
    } else {
        /* shrink the RGBA allocation to RGB; failure to shrink is harmless */
        uint8_t *s = raw.channels == 4 ? realloc(raw.px, npix * 3) : NULL;
        if (s) rgb = s;
    }
    out->w = ow, out->h = oh, out->rgb = rgb;
    out->full_w = fw, out->full_h = fh;
    out->format = f;
    out->orientation = raw.orientation;
    return MM_OK;
}

/* The file into memory under the limit (mm_read_file: sized by fstat before allocating). */
static mm_code read_whole(const char *path, uint64_t lim, uint8_t **buf, size_t *n, mm_err *e) {
    char *p = NULL;
    mm_code rc = mm_read_file(path, lim > SIZE_MAX - 1 ? SIZE_MAX - 1 : (size_t)lim, &p, n, e);
    *buf = (uint8_t *)p;
    return rc;
}

mm_code mm_image_load(const char *path, const mm_image_opts *o, mm_image *out, mm_err *e) {
    memset(out, 0, sizeof *out);
    uint64_t lim = o && o->max_file_bytes ? o->max_file_bytes : MM_IMAGE_DEFAULT_MAX_BYTES;
    uint8_t *buf = NULL;
    size_t n = 0;
    mm_code rc = read_whole(path, lim, &buf, &n, e);
    if (rc != MM_OK) return rc;
    rc = mm_image_decode_mem(buf, n, path, o, out, e);
    free(buf);
    return rc;
}

/* Shared by vision_prep.c: the file into memory under the same limit. */
mm_code mm__image_read_file(const char *path, const mm_image_opts *o, uint8_t **buf, size_t *n,
                            mm_err *e) {
    uint64_t lim = o && o->max_file_bytes ? o->max_file_bytes : MM_IMAGE_DEFAULT_MAX_BYTES;
    return read_whole(path, lim, buf, n, e);
}
