/*
 * tests/decoders/test_image_decode.c — the image decoders on the real files of tests/data/image/
 * (made by scripts/gen_testdata_image.sh) and the fixture media:
 *   - every PNG variant equals stb_image's pixels (ref/NAME.stb3.rgb) in the llama.cpp mode, and the
 *     alpha files composite over white as stated (from stb_image's RGBA, ref/NAME.stb4.rgb);
 *   - JPEG: equal to libjpeg's djpeg (exact) and within ±few of stb_image; DCT scaling = djpeg -scale;
 *     CMYK / YCCK the right way round;
 *   - EXIF orientation: files made by exiftool, a PNG eXIf chunk, and all 8 values in both byte
 *     orders spliced into a JPEG in memory, checked against rotations composed here;
 *   - WebP / GIF (first frame) / BMP / TIFF through FFmpeg against the PNG base picture;
 *   - hostile files: each fails with the right code and a message naming the file and the reason;
 *   - limits, memory vs file entry points, and the fuzz regressions in regress/.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders.h"
#include "../unit/test.h"

#define DATA MMPIPE_TEST_DATA "/image/"

static char *path_of(const char *name) {
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 1024, "%s%s", DATA, name);
    return p;
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static mm_image_opts llama(void) {
    mm_image_opts o;
    mm_image_opts_llama(&o);
    return o;
}

/* max |a-b| and mean |a-b| over n bytes */
static void diff(const uint8_t *a, const uint8_t *b, size_t n, int *maxd, double *mean) {
    long sum = 0;
    *maxd = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        sum += d;
        if (d > *maxd) *maxd = d;
    }
    *mean = n ? (double)sum / n : 0;
}

/* Decodes NAME with o and compares with ref/REF: tol 0 = exact. */
static void check_against(const char *name, const mm_image_opts *o, const char *ref, int tol, double mean_tol) {
    mm_image im;
    mm_err e = {0};
    mm_code rc = mm_image_load(path_of(name), o, &im, &e);
    CHECK(rc == MM_OK, "%s: %s", name, e.msg);
    if (rc != MM_OK) return;
    size_t n = 0;
    uint8_t *r = slurp(path_of(ref), &n);
    CHECK(r && n == (size_t)im.w * im.h * 3, "%s: ref %s has %zu bytes for %dx%d", name, ref, n, im.w, im.h);
    if (r && n == (size_t)im.w * im.h * 3) {
        int md;
        double mean;
        diff(im.rgb, r, n, &md, &mean);
        CHECK(md <= tol && mean <= mean_tol, "%s vs %s: max diff %d, mean %.3f", name, ref, md, mean);
    }
    free(r);
    mm_image_free(&im);
}

static void test_png_variants(void) {
    static const char *names[] = {"rgb8.png", "rgb16.png", "rgba8.png", "rgba16.png", "gray1.png",
                                  "gray2.png", "gray4.png", "gray8.png", "gray16.png", "graya8.png",
                                  "graya16.png", "pal1.png", "pal2.png", "pal4.png", "pal8.png",
                                  "pal8_trns.png", "rgb8_trns.png", "gray8_trns.png", "rgb8_adam7.png",
                                  "rgba16_adam7.png", "gray2_adam7.png", "pal4_adam7.png", "exif6.png",
                                  "text_ok.png"};
    mm_image_opts o = llama();
    char ref[256];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(ref, sizeof ref, "ref/%s.stb3.rgb", names[i]);
        check_against(names[i], &o, ref, 0, 0);
    }
    /* interlaced == non-interlaced */
    check_against("rgb8_adam7.png", &o, "ref/rgb8.png.stb3.rgb", 0, 0);
    check_against("rgba16_adam7.png", &o, "ref/rgba16.png.stb3.rgb", 0, 0);
}

/* Alpha over white: (c*a + 255*(255-a) + 127) / 255 from stb_image's RGBA. */
static void test_alpha_white(void) {
    static const char *names[] = {"rgba8.png", "rgba16.png", "graya8.png", "pal8_trns.png", "rgb8_trns.png"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char ref[256];
        snprintf(ref, sizeof ref, "ref/%s.stb4.rgb", names[i]);
        size_t n = 0;
        uint8_t *r = slurp(path_of(ref), &n);
        mm_image im;
        mm_err e = {0};
        mm_code rc = mm_image_load(path_of(names[i]), NULL, &im, &e);
        CHECK(rc == MM_OK && r, "%s: %s", names[i], e.msg);
        if (rc != MM_OK || !r) {
            free(r);
            continue;
        }
        CHECK(im.had_alpha, "%s: alpha not seen", names[i]);
        CHECK(n == (size_t)im.w * im.h * 4, "%s: size", names[i]);
        int bad = 0, transparent = 0;
        for (size_t p = 0; p < n / 4 && n == (size_t)im.w * im.h * 4; p++) {
            unsigned a = r[4 * p + 3];
            transparent += a == 0;
            for (int c = 0; c < 3; c++) {
                unsigned want = (r[4 * p + c] * a + 255 * (255 - a) + 127) / 255;
                bad += im.rgb[3 * p + c] != want;
            }
        }
        CHECK(bad == 0, "%s: %d samples differ from the white composite", names[i], bad);
        CHECK(transparent > 0, "%s: test file has no transparent pixel", names[i]);
        free(r);
        mm_image_free(&im);
    }
}

static void test_jpeg(void) {
    mm_image_opts o = llama();
    check_against("baseline.jpg", &o, "ref/baseline.djpeg.rgb", 0, 0);
    check_against("progressive.jpg", &o, "ref/progressive.djpeg.rgb", 0, 0);
    static const char *names[] = {"baseline.jpg", "progressive.jpg", "gray.jpg", "restart.jpg", "arith.jpg",
                                  "cmyk.jpg", "ycck.jpg"};
    char ref[256];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(ref, sizeof ref, "ref/%s.stb3.rgb", names[i]);
        if (!strcmp(names[i], "arith.jpg")) continue; /* stb_image has no arithmetic decoding */
        check_against(names[i], &o, ref, 4, 1.0); /* IDCT / upsampling differ by a few levels */
    }
    /* restart markers and arithmetic coding decode to the same picture as the baseline */
    check_against("restart.jpg", &o, "ref/baseline.djpeg.rgb", 0, 0);
    check_against("arith.jpg", &o, "ref/baseline.djpeg.rgb", 6, 1.0);
    /* CMYK/YCCK made from the base picture: must come back near it, not inverted */
    check_against("cmyk.jpg", &o, "ref/rgb8.png.stb3.rgb", 48, 4.0);
    /* YCCK's chroma is subsampled 2x2 (K is not): the XOR pattern suffers, but not inverted */
    check_against("ycck.jpg", &o, "ref/rgb8.png.stb3.rgb", 255, 12.0);
    mm_image im;
    mm_err e = {0};
    CHECK(mm_image_load(path_of("gray.jpg"), &o, &im, &e) == MM_OK, "%s", e.msg);
    int grey = 1;
    for (int i = 0; im.rgb && i < im.w * im.h; i++)
        grey &= im.rgb[3 * i] == im.rgb[3 * i + 1] && im.rgb[3 * i] == im.rgb[3 * i + 2];
    CHECK(grey, "gray.jpg: R=G=B expected");
    mm_image_free(&im);
}

static void test_dct_scaling(void) {
    mm_image_opts o = llama();
    o.min_w = 5, o.min_h = 4; /* 23x17 at 2/8 = 6x5 is the smallest that covers 5x4 */
    mm_image im;
    mm_err e = {0};
    CHECK(mm_image_load(path_of("baseline.jpg"), &o, &im, &e) == MM_OK, "%s", e.msg);
    CHECK(im.w == 6 && im.h == 5 && im.full_w == 23 && im.full_h == 17, "scaled %dx%d full %dx%d", im.w,
          im.h, im.full_w, im.full_h);
    mm_image_free(&im);
    check_against("baseline.jpg", &o, "ref/baseline_s2.djpeg.rgb", 0, 0);
    o.min_w = 23, o.min_h = 17; /* needs full size */
    check_against("baseline.jpg", &o, "ref/baseline.djpeg.rgb", 0, 0);
}

/* ---- orientation, checked against rotations composed from two primitives ---- */
static uint8_t *rot90cw(const uint8_t *s, int w, int h) { /* out is h x w: out(x,y) = in(y, h-1-x) */
    uint8_t *d = malloc((size_t)w * h * 3);
    for (int y = 0; y < w; y++)
        for (int x = 0; x < h; x++) memcpy(d + ((size_t)y * h + x) * 3, s + ((size_t)(h - 1 - x) * w + y) * 3, 3);
    return d;
}
static uint8_t *flip_h(const uint8_t *s, int w, int h) {
    uint8_t *d = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) memcpy(d + ((size_t)y * w + x) * 3, s + ((size_t)y * w + (w - 1 - x)) * 3, 3);
    return d;
}
/* EXIF o as: 2 flipH, 3 rot^2, 4 flipH rot^2, 5 flipH rot, 6 rot, 7 flipH rot^3, 8 rot^3 */
static uint8_t *expected_orient(const uint8_t *s, int w, int h, int o, int *ow, int *oh) {
    int rots = (int[]){0, 0, 0, 2, 2, 1, 1, 3, 3}[o], flip = (int[]){0, 0, 1, 0, 1, 1, 0, 1, 0}[o];
    uint8_t *cur = malloc((size_t)w * h * 3);
    memcpy(cur, s, (size_t)w * h * 3);
    for (int r = 0; r < rots; r++) {
        uint8_t *n = rot90cw(cur, w, h);
        free(cur);
        cur = n;
        int t = w;
        w = h, h = t;
    }
    if (flip) {
        uint8_t *n = flip_h(cur, w, h);
        free(cur);
        cur = n;
    }
    *ow = w, *oh = h;
    return cur;
}

/* baseline.jpg with an APP1 EXIF block (orientation o, byte order le) right after SOI. */
static uint8_t *splice_exif(const uint8_t *jpg, size_t n, int o, int le, size_t *outn) {
    uint8_t tiff[26];
    memcpy(tiff, le ? "II*\0" : "MM\0*", 4);
    uint8_t v[22] = {0};
    if (le) {
        uint8_t t[] = {8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, (uint8_t)o, 0, 0, 0, 0, 0, 0, 0};
        memcpy(v, t, 22);
    } else {
        uint8_t t[] = {0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (uint8_t)o, 0, 0, 0, 0, 0, 0};
        memcpy(v, t, 22);
    }
    memcpy(tiff + 4, v, 22);
    size_t seg = 2 + 6 + sizeof tiff;
    uint8_t *out = malloc(n + 2 + seg);
    memcpy(out, jpg, 2);
    out[2] = 0xFF, out[3] = 0xE1, out[4] = (uint8_t)(seg >> 8), out[5] = (uint8_t)seg;
    memcpy(out + 6, "Exif\0\0", 6);
    memcpy(out + 12, tiff, sizeof tiff);
    memcpy(out + 12 + sizeof tiff, jpg + 2, n - 2);
    *outn = n + 2 + seg;
    return out;
}

static void test_exif_all(void) {
    size_t n = 0;
    uint8_t *jpg = slurp(path_of("baseline.jpg"), &n);
    CHECK(jpg != NULL, "baseline.jpg missing");
    if (!jpg) return;
    mm_image plain;
    mm_err e = {0};
    mm_image_opts no = llama();
    CHECK(mm_image_decode_mem(jpg, n, "baseline.jpg", &no, &plain, &e) == MM_OK, "%s", e.msg);
    for (int le = 0; le < 2; le++)
        for (int o = 1; o <= 8; o++) {
            size_t m;
            uint8_t *j2 = splice_exif(jpg, n, o, le, &m);
            mm_image im;
            mm_image_opts def = {0};
            mm_code rc = mm_image_decode_mem(j2, m, "spliced.jpg", &def, &im, &e);
            CHECK(rc == MM_OK && im.orientation == o, "orientation %d le %d: rc %d got %d %s", o, le, rc,
                  im.orientation, e.msg);
            int ew, eh;
            uint8_t *want = expected_orient(plain.rgb, plain.w, plain.h, o, &ew, &eh);
            CHECK(rc == MM_OK && im.w == ew && im.h == eh && !memcmp(im.rgb, want, (size_t)ew * eh * 3),
                  "orientation %d le %d: pixels", o, le);
            CHECK(rc == MM_OK && im.full_w == ew && im.full_h == eh, "orientation %d full size", o);
            free(want);
            mm_image_free(&im);
            /* no_exif: stored orientation */
            rc = mm_image_decode_mem(j2, m, "spliced.jpg", &no, &im, &e);
            CHECK(rc == MM_OK && im.w == plain.w && !memcmp(im.rgb, plain.rgb, (size_t)plain.w * plain.h * 3),
                  "no_exif %d", o);
            mm_image_free(&im);
            free(j2);
        }
    /* corner semantics of the exiftool files: 6 = rotate 90 clockwise to display */
    mm_image r6;
    CHECK(mm_image_load(path_of("exif6.jpg"), NULL, &r6, &e) == MM_OK, "%s", e.msg);
    CHECK(r6.w == plain.h && r6.h == plain.w && r6.orientation == 6, "exif6.jpg %dx%d o%d", r6.w, r6.h, r6.orientation);
    if (r6.rgb) {
        CHECK(!memcmp(r6.rgb, plain.rgb + (size_t)(plain.h - 1) * plain.w * 3, 3), "exif6: top-left = stored bottom-left");
        CHECK(!memcmp(r6.rgb + (size_t)(r6.w - 1) * 3, plain.rgb, 3), "exif6: top-right = stored top-left");
    }
    mm_image_free(&r6);
    static const struct { const char *f; int o; } files[] = {{"exif3.jpg", 3}, {"exif8.jpg", 8}};
    for (int i = 0; i < 2; i++) {
        mm_image im;
        CHECK(mm_image_load(path_of(files[i].f), NULL, &im, &e) == MM_OK, "%s", e.msg);
        int ew, eh;
        uint8_t *want = expected_orient(plain.rgb, plain.w, plain.h, files[i].o, &ew, &eh);
        CHECK(im.orientation == files[i].o && im.w == ew && !memcmp(im.rgb, want, (size_t)ew * eh * 3), "%s", files[i].f);
        free(want);
        mm_image_free(&im);
    }
    /* PNG eXIf (big-endian, 6) */
    mm_image p6, p1;
    CHECK(mm_image_load(path_of("exif6.png"), NULL, &p6, &e) == MM_OK, "%s", e.msg);
    CHECK(mm_image_load(path_of("exif6.png"), &no, &p1, &e) == MM_OK, "%s", e.msg);
    int ew, eh;
    uint8_t *want = expected_orient(p1.rgb, p1.w, p1.h, 6, &ew, &eh);
    CHECK(p6.orientation == 6 && p6.w == ew && !memcmp(p6.rgb, want, (size_t)ew * eh * 3), "exif6.png");
    free(want);
    mm_image_free(&p6), mm_image_free(&p1), mm_image_free(&plain);
    free(jpg);
}

/* Malformed EXIF blocks: ignored (orientation 1), never a crash or an error. */
static void test_exif_malformed(void) {
    size_t n = 0;
    uint8_t *jpg = slurp(path_of("baseline.jpg"), &n);
    if (!jpg) return;
    size_t m;
    uint8_t *j2 = splice_exif(jpg, n, 6, 1, &m);
    static const struct { int at; uint8_t v; } pokes[] = {{16, 0xFF}, {17, 0xFF}, {20, 0xFF}, {21, 0xFF}, {24, 7}, {26, 9}};
    for (size_t i = 0; i < sizeof pokes / sizeof *pokes; i++) {
        uint8_t *j3 = malloc(m);
        memcpy(j3, j2, m);
        j3[pokes[i].at] = pokes[i].v; /* the TIFF block starts at byte 12 (see splice_exif) */
        mm_image im;
        mm_err e = {0};
        mm_code rc = mm_image_decode_mem(j3, m, "poked.jpg", NULL, &im, &e);
        CHECK(rc == MM_OK && im.orientation >= 1 && im.orientation <= 8, "poke %zu: %s", i, e.msg);
        mm_image_free(&im);
        free(j3);
    }
    free(j2);
    free(jpg);
}

/* libwebp's lossless encoder does not keep the colour under alpha 0: compare the other pixels. */
static void check_webp_alpha(void) {
    mm_image_opts o = llama();
    mm_image im;
    mm_err e = {0};
    size_t n = 0;
    uint8_t *r = slurp(path_of("ref/rgba8.png.stb4.rgb"), &n);
    CHECK(mm_image_load(path_of("rgba_lossless.webp"), &o, &im, &e) == MM_OK && r, "%s", e.msg);
    int bad = 0, np = im.w * im.h;
    for (int i = 0; r && im.rgb && i < np && n == (size_t)np * 4; i++)
        bad += r[4 * i + 3] != 0 && memcmp(im.rgb + 3 * i, r + 4 * i, 3) != 0;
    CHECK(bad == 0 && n == (size_t)np * 4, "rgba_lossless.webp: %d pixels differ", bad);
    mm_image_free(&im);
    free(r);
}

static void test_ffmpeg_formats(void) {
    mm_image_opts o = llama();
    check_against("lossless.webp", &o, "ref/rgb8.png.stb3.rgb", 0, 0);
    check_against("lossy.webp", &o, "ref/rgb8.png.stb3.rgb", 255, 10.0); /* lossy 4:2:0 */
    check_webp_alpha();
    check_against("pal8.gif", &o, "ref/pal8.png.stb3.rgb", 0, 0);
    check_against("anim.gif", &o, "ref/pal8.png.stb3.rgb", 0, 0); /* first frame */
    check_against("rgb24.bmp", &o, "ref/rgb8.png.stb3.rgb", 0, 0);
    check_against("pal8.bmp", &o, "ref/pal8.png.stb3.rgb", 0, 0);
    check_against("rgba32.bmp", &o, "ref/rgba8.png.stb3.rgb", 0, 0);
    check_against("rgb.tif", &o, "ref/rgb8.png.stb3.rgb", 0, 0);
    check_against("rgb_lzw.tif", &o, "ref/rgb8.png.stb3.rgb", 0, 0);
    check_against("gray.tif", &o, "ref/gray8.png.stb3.rgb", 0, 0);
    check_against("rgb16.tif", &o, "ref/rgb16.png.stb3.rgb", 0, 0);
    /* alpha through FFmpeg composites too */
    mm_image im;
    mm_err e = {0};
    CHECK(mm_image_load(path_of("rgba_lossless.webp"), NULL, &im, &e) == MM_OK && im.had_alpha, "%s", e.msg);
    mm_image_free(&im);
    static const struct { const char *f; mm_image_format fmt; } fm[] = {
        {"lossy.webp", MM_IMAGE_WEBP}, {"pal8.gif", MM_IMAGE_GIF}, {"rgb24.bmp", MM_IMAGE_BMP},
        {"rgb.tif", MM_IMAGE_TIFF}, {"rgb8.png", MM_IMAGE_PNG}, {"baseline.jpg", MM_IMAGE_JPEG}};
    for (size_t i = 0; i < sizeof fm / sizeof *fm; i++) {
        CHECK(mm_image_load(path_of(fm[i].f), NULL, &im, &e) == MM_OK && im.format == fm[i].fmt, "%s format", fm[i].f);
        mm_image_free(&im);
    }
}

static void expect_fail(const char *name, const mm_image_opts *o, mm_code code, const char *reason) {
    mm_image im;
    mm_err e = {0};
    mm_code rc = mm_image_load(path_of(name), o, &im, &e);
    CHECK(rc == code, "%s: code %s, wanted %s (%s)", name, mm_code_name(rc), mm_code_name(code), e.msg);
    CHECK(strstr(e.msg, name) != NULL, "%s: message does not name the file: %s", name, e.msg);
    CHECK(!reason || strstr(e.msg, reason), "%s: message lacks \"%s\": %s", name, reason, e.msg);
    CHECK(im.rgb == NULL && im.w == 0, "%s: output not cleared", name);
}

static void test_hostile(void) {
    expect_fail("bad/bad_crc_idat.png", NULL, MM_ECORRUPT, "CRC");
    expect_fail("bad/bad_crc_text.png", NULL, MM_ECORRUPT, "CRC");
    expect_fail("bad/truncated.png", NULL, MM_ECORRUPT, NULL);
    expect_fail("bad/no_iend.png", NULL, MM_ECORRUPT, NULL);
    expect_fail("bad/zero_width.png", NULL, MM_ECORRUPT, "width");
    expect_fail("bad/huge_50000.png", NULL, MM_ELIMIT, "50000x50000");
    expect_fail("bad/bad_zlib.png", NULL, MM_ECORRUPT, NULL);
    expect_fail("bad/short_image.png", NULL, MM_ECORRUPT, NULL);
    expect_fail("bad/truncated.jpg", NULL, MM_ECORRUPT, "Premature end");
    expect_fail("bad/zero_height.jpg", NULL, MM_ECORRUPT, NULL);
    expect_fail("bad/huge_50000.jpg", NULL, MM_ELIMIT, "50000x50000");
    expect_fail("bad/big_9000.jpg", NULL, MM_ECORRUPT, "cannot hold");
    expect_fail("bad/corrupt_scan.jpg", NULL, MM_ECORRUPT, "Corrupt JPEG");
    expect_fail("bad/header_only.jpg", NULL, MM_ECORRUPT, NULL);
    expect_fail("bad/jpeg_magic_only.jpg", NULL, MM_ECORRUPT, NULL);
    expect_fail("bad/junk.bin", NULL, MM_EUNSUPPORTED, "unknown image format");
    expect_fail("bad/empty.bin", NULL, MM_ECORRUPT, "empty");
    expect_fail("bad/truncated.bmp", NULL, MM_ECORRUPT, NULL);
    expect_fail("bad/truncated.webp", NULL, MM_ECORRUPT, NULL);
    /* with the pixel limit raised, the tiny-file bound still refuses the 50000x50000 headers */
    mm_image_opts big = {.max_pixels = 3000000000ull};
    expect_fail("bad/huge_50000.png", &big, MM_ECORRUPT, "cannot hold");
    expect_fail("bad/huge_50000.jpg", &big, MM_ECORRUPT, "cannot hold");
    expect_fail("no-such-file.png", NULL, MM_ENOTFOUND, NULL);
}

static void test_limits(void) {
    mm_image_opts o = {.max_pixels = 100};
    static const char *names[] = {"rgb8.png", "baseline.jpg", "lossless.webp", "pal8.gif", "rgb24.bmp", "rgb.tif"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) expect_fail(names[i], &o, MM_ELIMIT, NULL);
    mm_image_opts f = {.max_file_bytes = 100};
    expect_fail("rgb8.png", &f, MM_ELIMIT, "limit");
    mm_image im;
    mm_err e = {0};
    CHECK(mm_image_decode_mem(NULL, 0, "nothing", NULL, &im, &e) == MM_ECORRUPT && strstr(e.msg, "nothing"), "%s", e.msg);
}

static void test_mem_equals_file(void) {
    size_t n;
    uint8_t *b = slurp(path_of("rgba16_adam7.png"), &n);
    mm_image a, c;
    mm_err e = {0};
    CHECK(mm_image_decode_mem(b, n, "x", NULL, &a, &e) == MM_OK, "%s", e.msg);
    CHECK(mm_image_load(path_of("rgba16_adam7.png"), NULL, &c, &e) == MM_OK, "%s", e.msg);
    CHECK(a.w == c.w && a.h == c.h && !memcmp(a.rgb, c.rgb, (size_t)a.w * a.h * 3), "mem != file");
    mm_image_free(&a), mm_image_free(&c);
    free(b);
    CHECK(!strcmp(mm_image_format_name(MM_IMAGE_TIFF), "tiff") && !strcmp(mm_image_format_name(99), "unknown"), "names");
}

/* Fixture media: stb_image's pixels, as SHA-256 of the RGB8 buffer (stbi_load(..., 3)). */
static void test_fixture_media(void) {
    static const struct { const char *f; int w, h; const char *sha; } fx[] = {
#include "test_image_fixture_sha.h"
    };
    char p[1024];
    for (size_t i = 0; i < sizeof fx / sizeof *fx; i++) {
        snprintf(p, sizeof p, "%s/fixtures/media/%s", MMPIPE_SHARED_DIR, fx[i].f);
        FILE *t = fopen(p, "rb");
        if (!t) {
            fprintf(stderr, "note: %s absent, fixture check skipped\n", p);
            continue;
        }
        fclose(t);
        mm_image im;
        mm_err e = {0};
        mm_image_opts o = llama();
        CHECK(mm_image_load(p, &o, &im, &e) == MM_OK, "%s", e.msg);
        uint8_t d[32];
        char hex[65];
        mm_sha256 s;
        mm_sha256_init(&s);
        mm_sha256_update(&s, im.rgb, (size_t)im.w * im.h * 3);
        mm_sha256_final(&s, d);
        mm_sha256_hex(d, hex);
        CHECK(im.w == fx[i].w && im.h == fx[i].h && !strcmp(hex, fx[i].sha), "%s: %dx%d %s", fx[i].f, im.w, im.h, hex);
        mm_image_free(&im);
    }
}

/* Every fuzz regression file: a clean result (success or an error with a message), no crash. */
static void test_regressions(void) {
    DIR *d = opendir(DATA "regress");
    if (!d) return;
    struct dirent *de;
    int count = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char name[600];
        snprintf(name, sizeof name, "regress/%s", de->d_name);
        mm_image_opts o = {.max_pixels = 4u << 20};
        mm_image im;
        mm_err e = {0};
        mm_code rc = mm_image_load(path_of(name), &o, &im, &e);
        CHECK(rc == MM_OK || e.msg[0], "%s: error without a message", name);
        if (rc == MM_OK) {
            mm_vision_params p;
            mm_vision_params_gemma4v(&p, 16, 3);
            mm_vision_input v;
            rc = mm_vision_preprocess(&im, &p, &v, &e);
            CHECK(rc == MM_OK, "%s: preprocess: %s", name, e.msg);
            mm_vision_input_free(&v);
        }
        mm_image_free(&im);
        count++;
    }
    closedir(d);
    fprintf(stderr, "regressions: %d files\n", count);
}

int main(void) {
    test_png_variants();
    test_alpha_white();
    test_jpeg();
    test_dct_scaling();
    test_exif_all();
    test_exif_malformed();
    test_ffmpeg_formats();
    test_hostile();
    test_limits();
    test_mem_equals_file();
    test_fixture_media();
    test_regressions();
    return test_done("test_image_decode");
}
