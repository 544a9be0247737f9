/*
 * decoders/image_exif.c — the EXIF orientation tag (0x0112) and applying it.
 *
 * A bounded reader of the TIFF structure EXIF uses: header "II*\0" (little-endian) or "MM\0*"
 * (big-endian), u32 offset of IFD0, then u16 count and count 12-byte entries
 * {u16 tag, u16 type, u32 count, u32 value-or-offset}.  Only IFD0 is read; every offset is checked
 * against the block length before use.  Anything malformed means "no orientation" (1), never an
 * error: a damaged EXIF block must not make a good picture fail.
 *
 * Orientation (EXIF 2.3, where stored row 0 / column 0 is displayed), out(x, y) = in(...):
 *   1 in(x, y)          2 in(w-1-x, y)        3 in(w-1-x, h-1-y)    4 in(x, h-1-y)
 *   5 in(y, x)          6 in(y, h-1-x)        7 in(w-1-y, h-1-x)    8 in(w-1-y, x)
 *   (5..8 swap width and height: 6 = rotate 90 deg clockwise to display, 8 = 90 anticlockwise.)
 */
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

static unsigned rd16(const uint8_t *p, int le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int mm__tiff_ifd0_tag(const uint8_t *p, size_t n, unsigned tag, uint32_t *value) {
    if (!p || n < 8) return 0;
    int le;
    if (!memcmp(p, "II*\0", 4)) le = 1;
    else if (!memcmp(p, "MM\0*", 4)) le = 0;
    else return 0;
    uint32_t ifd = rd32(p + 4, le);
    if (ifd > n - 2) return 0;
    unsigned count = rd16(p + ifd, le);
    /* invariant: entry k lies at ifd + 2 + 12k, fully inside [0, n) */
    for (unsigned k = 0; k < count; k++) {
        size_t at = (size_t)ifd + 2 + 12 * (size_t)k;
        if (at + 12 > n) return 0;
        const uint8_t *en = p + at;
        if (rd16(en, le) != tag) continue;
        unsigned type = rd16(en + 2, le);
        if (rd32(en + 4, le) < 1) return 0;
        if (type == 3) *value = rd16(en + 8, le);       /* SHORT, inline */
        else if (type == 4) *value = rd32(en + 8, le);  /* LONG, inline */
        else return 0;
        return 1;
    }
    return 0;
}

int mm__exif_orientation_tiff(const uint8_t *p, size_t n) {
    uint32_t v;
    return mm__tiff_ifd0_tag(p, n, 0x0112, &v) && v >= 1 && v <= 8 ? (int)v : 1;
}

int mm__exif_orientation_app1(const uint8_t *p, size_t n) {
    if (!p || n < 6 || memcmp(p, "Exif\0", 5) != 0) return 1;
    return mm__exif_orientation_tiff(p + 6, n - 6);
}

/* Source coordinates for output pixel (x, y) of the oriented image (see the table above). */
static inline void src_of(int o, int x, int y, int w, int h, int *sx, int *sy) {
    switch (o) {
    case 2: *sx = w - 1 - x, *sy = y; break;
    case 3: *sx = w - 1 - x, *sy = h - 1 - y; break;
    case 4: *sx = x, *sy = h - 1 - y; break;
    case 5: *sx = y, *sy = x; break;
    case 6: *sx = y, *sy = h - 1 - x; break;
    case 7: *sx = w - 1 - y, *sy = h - 1 - x; break;
    case 8: *sx = w - 1 - y, *sy = x; break;
    default: *sx = x, *sy = y; break;
    }
}

uint8_t *mm__orient_rgb8(const uint8_t *src, int w, int h, int o, int *ow, int *oh) {
    *ow = w, *oh = h;
    if (o < 2 || o > 8) return (uint8_t *)src;
    if (o >= 5) *ow = h, *oh = w;
    uint8_t *dst = malloc((size_t)w * (size_t)h * 3);
    if (!dst) return NULL;
    const int W = *ow, H = *oh;
    for (int y = 0; y < H; y++) {
        uint8_t *d = dst + (size_t)y * W * 3;
        for (int x = 0; x < W; x++, d += 3) {
            int sx, sy;
            src_of(o, x, y, w, h, &sx, &sy);
            const uint8_t *s = src + ((size_t)sy * w + sx) * 3;
            d[0] = s[0], d[1] = s[1], d[2] = s[2];
        }
    }
    return dst;
}
