/*
 * decoders/image_internal.h — what the image*.c files share and nothing outside decoders/ sees.
 *
 * Each format decoder (image_png.c, image_jpeg.c, image_ffmpeg.c) turns a memory buffer into an
 * img_raw: 8-bit samples, 3 (RGB) or 4 (RGBA) channels interleaved, in the file's stored
 * orientation.  image.c then applies the alpha policy (-> RGB8) and the EXIF orientation
 * (image_exif.c) and hands out an mm_image.
 */
#ifndef MMPIPE_IMAGE_INTERNAL_H
#define MMPIPE_IMAGE_INTERNAL_H

#include "decoders.h"

#define MM_IMAGE_DEFAULT_MAX_PIXELS (100ull * 1000 * 1000)
#define MM_IMAGE_DEFAULT_MAX_BYTES (256ull << 20)

/* Decoder output.  Invariant on success: w, h > 0, w*h <= max_pixels, px holds h*w*channels bytes. */
typedef struct img_raw {
    int w, h;
    int channels;    /* 3 or 4 */
    uint8_t *px;     /* malloc'd */
    int orientation; /* EXIF orientation seen in the file, 1..8 (1 when none) */
    int full_w, full_h; /* stored size before DCT scaling (== w, h otherwise) */
} img_raw;

/* Options with the defaults filled in (never NULL inside the decoders). */
typedef struct img_cfg {
    uint64_t max_pixels;
    int keep_alpha;       /* 0: the decoder may drop alpha itself (MM_ALPHA_DROP) */
    int want_exif;        /* 0: don't bother parsing orientation */
    int min_w, min_h;     /* DCT scaling hint in displayed orientation (JPEG only; the JPEG decoder
                             swaps it for orientation 5..8 when EXIF is applied); 0 = full size */
} img_cfg;

mm_code mm__png_decode(const uint8_t *d, size_t n, const char *name, const img_cfg *c, img_raw *out,
                       mm_err *e);
mm_code mm__jpeg_decode(const uint8_t *d, size_t n, const char *name, const img_cfg *c, img_raw *out,
                        mm_err *e);
/* Header only: stored size and orientation (for the DCT-scaling hint). */
mm_code mm__jpeg_probe(const uint8_t *d, size_t n, const char *name, int *w, int *h, int *orientation,
                       mm_err *e);
mm_code mm__ffmpeg_decode(const uint8_t *d, size_t n, const char *name, mm_image_format f,
                          const img_cfg *c, img_raw *out, mm_err *e);

/* EXIF: orientation (1..8) from a TIFF-structured EXIF block (starting at "II*\0" / "MM\0*");
 * 1 when absent or malformed.  Never reads outside [p, p+n). */
int mm__exif_orientation_tiff(const uint8_t *p, size_t n);
/* The value of a SHORT/LONG tag of IFD0 of a TIFF block; 0 when absent or malformed. */
int mm__tiff_ifd0_tag(const uint8_t *p, size_t n, unsigned tag, uint32_t *value);
/* Same, from a JPEG APP1 payload ("Exif\0\0" + TIFF block). */
int mm__exif_orientation_app1(const uint8_t *p, size_t n);
/* Applies orientation o to an RGB8 w x h image; returns a new buffer (or src itself for o == 1,
 * NULL on OOM) and the new size (swapped for 5..8). */
uint8_t *mm__orient_rgb8(const uint8_t *src, int w, int h, int o, int *ow, int *oh);

/* Reads a file whole under o's file-size limit (image.c). */
mm_code mm__image_read_file(const char *path, const mm_image_opts *o, uint8_t **buf, size_t *n,
                            mm_err *e);

/* w*h checked against a limit, without overflow. */
static inline int mm__pixels_ok(uint64_t w, uint64_t h, uint64_t max) {
    return w > 0 && h > 0 && w <= (1u << 30) && h <= (1u << 30) && w * h <= max;
}

#endif
