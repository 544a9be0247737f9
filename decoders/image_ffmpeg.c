/*
 * decoders/image_ffmpeg.c — WebP, GIF (first frame), BMP and TIFF through FFmpeg's libavcodec
 * image decoders, into an img_raw (RGB8 / RGBA8).
 *
 * No libavformat: the format is already known from the magic bytes (image.c), and FFmpeg's image
 * demuxers (image2 / *_pipe) would only hand the whole file to the decoder as one packet — so the
 * file goes straight to the decoder as one packet, which also keeps FFmpeg's container probing out
 * of the attack surface.  The decoder's own max_pixels is set to our limit, so FFmpeg refuses an
 * oversized header before allocating a frame; AV_EF_EXPLODE makes it fail rather than conceal.
 *
 * No libswscale either (not a dependency): the decoded AVFrame is converted here for every
 * 8..16-bit integer pixel format that libavutil's descriptors describe — packed or planar RGB(A),
 * grey(+alpha), palette (GIF, 8-bit BMP), YUV(A) with any chroma subsampling.  YUV uses the frame's
 * matrix (BT.709 when tagged, else BT.601) and range (limited unless tagged full / yuvj*), chroma
 * taken from the nearest sample.  Samples wider than 8 bits keep their high 8 (as for PNG); narrower
 * ones are scaled v*255/(2^d-1).  Float, Bayer and hardware formats are refused as unsupported.
 *
 * FFmpeg logs to stderr by default; library code never prints, so the first call sets FFmpeg's
 * process-wide log level to quiet (errors come back as return codes and reach mm_err).
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>

#include "image_internal.h"

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;
static void make_quiet(void) { av_log_set_level(AV_LOG_QUIET); }

static enum AVCodecID codec_of(mm_image_format f) {
    switch (f) {
    case MM_IMAGE_WEBP: return AV_CODEC_ID_WEBP;
    case MM_IMAGE_GIF: return AV_CODEC_ID_GIF;
    case MM_IMAGE_BMP: return AV_CODEC_ID_BMP;
    case MM_IMAGE_TIFF: return AV_CODEC_ID_TIFF;
    default: return AV_CODEC_ID_NONE;
    }
}

static inline uint8_t to8(unsigned v, int depth) {
    if (depth == 8) return (uint8_t)v;
    if (depth > 8) return (uint8_t)(v >> (depth - 8));
    unsigned max = (1u << depth) - 1;
    return (uint8_t)((v * 255 + max / 2) / max);
}

static inline uint8_t clamp8f(float v) {
    return v <= 0.f ? 0 : v >= 255.f ? 255 : (uint8_t)(v + 0.5f);
}

/* Per-frame conversion state: one line of each component, 16-bit. */
typedef struct conv {
    const AVFrame *f;
    const AVPixFmtDescriptor *d;
    int kind;        /* 0 RGB, 1 grey, 2 YUV, 3 palette */
    int ncomp, alpha_comp; /* alpha_comp -1 when none */
    uint16_t *line[4];
    float kr, kb;    /* YUV matrix */
    int full_range;
} conv;

static int classify(conv *c) {
    const AVPixFmtDescriptor *d = c->d;
    if (d->flags & (AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_FLOAT | AV_PIX_FMT_FLAG_BAYER)) return -1;
    if (!strncmp(d->name, "xyz", 3)) return -1;
    c->ncomp = d->nb_components;
    for (int i = 0; i < c->ncomp; i++)
        if (d->comp[i].depth < 1 || d->comp[i].depth > 16) return -1;
    c->alpha_comp = (d->flags & AV_PIX_FMT_FLAG_ALPHA) ? c->ncomp - 1 : -1;
    if (d->flags & AV_PIX_FMT_FLAG_PAL) c->kind = 3;
    else if (d->flags & AV_PIX_FMT_FLAG_RGB) c->kind = c->ncomp >= 3 ? 0 : -1;
    else c->kind = c->ncomp <= 2 ? 1 : 2;
    if (c->kind < 0) return -1;
    int bt709 = c->f->colorspace == AVCOL_SPC_BT709;
    c->kr = bt709 ? 0.2126f : 0.299f;
    c->kb = bt709 ? 0.0722f : 0.114f;
    c->full_range = c->f->color_range == AVCOL_RANGE_JPEG || !strncmp(d->name, "yuvj", 4);
    return 0;
}

static void yuv_to_rgb(const conv *c, unsigned y8, unsigned u8, unsigned v8, uint8_t *o) {
    float y = (float)y8, u = (float)u8 - 128.f, v = (float)v8 - 128.f;
    if (!c->full_range) y = (y - 16.f) * (255.f / 219.f), u *= 255.f / 224.f, v *= 255.f / 224.f;
    const float kr = c->kr, kb = c->kb, kg = 1.f - kr - kb;
    o[0] = clamp8f(y + 2.f * (1.f - kr) * v);
    o[1] = clamp8f(y - (2.f * kb * (1.f - kb) / kg) * u - (2.f * kr * (1.f - kr) / kg) * v);
    o[2] = clamp8f(y + 2.f * (1.f - kb) * u);
}

/* Reads line y of every component (chroma at its own resolution). */
static void read_line(conv *c, int y) {
    const AVFrame *f = c->f;
    const int w = f->width;
    for (int k = 0; k < c->ncomp; k++) {
        int chroma = c->kind == 2 && (k == 1 || k == 2);
        int cw = chroma ? AV_CEIL_RSHIFT(w, c->d->log2_chroma_w) : w;
        int cy = chroma ? y >> c->d->log2_chroma_h : y;
        av_read_image_line2(c->line[k], (const uint8_t **)f->data, f->linesize, c->d, 0, cy, k, cw, 0, 2);
    }
}

static void convert_line(const conv *c, int y, uint8_t *out, int ch) {
    const int w = c->f->width;
    const AVComponentDescriptor *cd = c->d->comp;
    const uint32_t *pal = (const uint32_t *)c->f->data[1];
    for (int x = 0; x < w; x++) {
        uint8_t *o = out + (size_t)x * ch;
        unsigned a = 255;
        if (c->kind == 3) {
            uint32_t p = pal[c->line[0][x] & 255]; /* 0xAARRGGBB */
            o[0] = (uint8_t)(p >> 16), o[1] = (uint8_t)(p >> 8), o[2] = (uint8_t)p, a = p >> 24;
        } else if (c->kind == 0) {
            for (int k = 0; k < 3; k++) o[k] = to8(c->line[k][x], cd[k].depth);
        } else if (c->kind == 1) {
            o[0] = o[1] = o[2] = to8(c->line[0][x], cd[0].depth);
        } else {
            int xc = x >> c->d->log2_chroma_w;
            yuv_to_rgb(c, to8(c->line[0][x], cd[0].depth), to8(c->line[1][xc], cd[1].depth),
                       to8(c->line[2][xc], cd[2].depth), o);
        }
        if (c->alpha_comp >= 0) a = to8(c->line[c->alpha_comp][x], cd[c->alpha_comp].depth);
        if (ch == 4) o[3] = (uint8_t)a;
    }
    (void)y;
}

static mm_code frame_to_raw(const AVFrame *f, const char *name, const img_cfg *cfg, img_raw *out,
                            mm_err *e) {
    conv c = {.f = f, .d = av_pix_fmt_desc_get(f->format)};
    if (!c.d || classify(&c) != 0)
        return mm_err_set(e, MM_EUNSUPPORTED, "%s: unsupported pixel format %s", name,
                          c.d ? c.d->name : "(none)");
    if (!mm__pixels_ok((uint64_t)f->width, (uint64_t)f->height, cfg->max_pixels))
        return mm_err_set(e, MM_ELIMIT, "%s: %dx%d pixels exceed the limit", name, f->width, f->height);
    int has_alpha = c.alpha_comp >= 0 || c.kind == 3;
    int ch = has_alpha && cfg->keep_alpha ? 4 : 3;
    uint16_t *lines = malloc(sizeof(uint16_t) * 4 * (size_t)f->width);
    uint8_t *px = malloc((size_t)f->width * f->height * ch);
    if (!lines || !px) {
        free(lines), free(px);
        return mm_err_set(e, MM_ENOMEM, "%s: out of memory", name);
    }
    for (int k = 0; k < 4; k++) c.line[k] = lines + (size_t)k * f->width;
    for (int y = 0; y < f->height; y++) {
        read_line(&c, y);
        convert_line(&c, y, px + (size_t)y * f->width * ch, ch);
    }
    free(lines);
    *out = (img_raw){.w = f->width, .h = f->height, .channels = ch, .px = px, .orientation = 1,
                     .full_w = f->width, .full_h = f->height};
    return MM_OK;
}

static uint32_t le16(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }

/* The picture size from the header where it is cheap to read (GIF, BMP, WebP, TIFF IFD0), so that the pixel
 * limit and zero sizes get a precise error before FFmpeg runs; 0 when not known here. */
static int peek_size(const uint8_t *d, size_t n, mm_image_format f, uint64_t *w, uint64_t *h) {
    *w = *h = 0;
    if (f == MM_IMAGE_GIF && n >= 10) *w = le16(d + 6), *h = le16(d + 8);
    else if (f == MM_IMAGE_BMP && n >= 26) {
        int32_t bh = (int32_t)le32(d + 22);
        *w = (int32_t)le32(d + 18) < 0 ? 0 : le32(d + 18);
        *h = bh < 0 ? (uint64_t)(-(int64_t)bh) : (uint64_t)bh;
    } else if (f == MM_IMAGE_WEBP && n >= 30) {
        if (!memcmp(d + 12, "VP8X", 4)) {
            *w = 1 + (le32(d + 24) & 0xFFFFFF), *h = 1 + (le32(d + 27) & 0xFFFFFF);
        } else if (!memcmp(d + 12, "VP8L", 4) && d[20] == 0x2F) {
            uint32_t b = le32(d + 21);
            *w = 1 + (b & 0x3FFF), *h = 1 + ((b >> 14) & 0x3FFF);
        } else if (!memcmp(d + 12, "VP8 ", 4) && d[23] == 0x9D && d[24] == 0x01 && d[25] == 0x2A) {
            *w = le16(d + 26) & 0x3FFF, *h = le16(d + 28) & 0x3FFF;
        } else return 0;
    } else if (f == MM_IMAGE_TIFF) {
        uint32_t tw, th;
        if (!mm__tiff_ifd0_tag(d, n, 256, &tw) || !mm__tiff_ifd0_tag(d, n, 257, &th)) return 0;
        *w = tw, *h = th;
    } else return 0;
    return 1;
}

/* EXIF orientation: a TIFF's own IFD0 is the EXIF structure; a WebP carries it in an "EXIF" RIFF
 * chunk (a TIFF block, sometimes behind "Exif\0\0").  GIF and BMP have none. */
static int orientation_of(const uint8_t *d, size_t n, mm_image_format f) {
    if (f == MM_IMAGE_TIFF) return mm__exif_orientation_tiff(d, n);
    if (f != MM_IMAGE_WEBP) return 1;
    size_t at = 12; /* invariant: at <= n, each chunk is 8 header bytes + size (+1 pad if odd) */
    while (n - at >= 8) {
        uint32_t sz = le32(d + at + 4);
        if (sz > n - at - 8) return 1;
        const uint8_t *p = d + at + 8;
        if (!memcmp(d + at, "EXIF", 4))
            return sz >= 6 && !memcmp(p, "Exif\0", 5) ? mm__exif_orientation_app1(p, sz)
                                                      : mm__exif_orientation_tiff(p, sz);
        at += 8 + (size_t)sz + (sz & 1);
        if (at > n) return 1;
    }
    return 1;
}

/* One packet in, the first frame out (flushing for decoders that hold it back). */
static int decode_one(AVCodecContext *ctx, AVPacket *pkt, AVFrame *fr) {
    int r = avcodec_send_packet(ctx, pkt);
    if (r < 0) return r;
    r = avcodec_receive_frame(ctx, fr);
    if (r == AVERROR(EAGAIN)) {
        if ((r = avcodec_send_packet(ctx, NULL)) < 0) return r;
        r = avcodec_receive_frame(ctx, fr);
    }
    return r;
}

mm_code mm__ffmpeg_decode(const uint8_t *d, size_t n, const char *name, mm_image_format fmt,
                          const img_cfg *cfg, img_raw *out, mm_err *e) {
    pthread_once(&quiet_once, make_quiet);
    const AVCodec *codec = avcodec_find_decoder(codec_of(fmt));
    if (!codec)
        return mm_err_set(e, MM_EUNSUPPORTED, "%s: this FFmpeg has no %s decoder", name,
                          mm_image_format_name(fmt));
    if (n > INT_MAX - AV_INPUT_BUFFER_PADDING_SIZE)
        return mm_err_set(e, MM_ELIMIT, "%s: file too large for the %s decoder", name,
                          mm_image_format_name(fmt));
    uint64_t pw, ph;
    if (peek_size(d, n, fmt, &pw, &ph)) {
        if (pw == 0 || ph == 0)
            return mm_err_set(e, MM_ECORRUPT, "%s: bad %s: zero-size image (%llux%llu)", name,
                              mm_image_format_name(fmt), (unsigned long long)pw, (unsigned long long)ph);
        if (!mm__pixels_ok(pw, ph, cfg->max_pixels))
            return mm_err_set(e, MM_ELIMIT, "%s: %llux%llu pixels exceed the limit of %llu", name,
                              (unsigned long long)pw, (unsigned long long)ph,
                              (unsigned long long)cfg->max_pixels);
    }
    AVCodecContext *ctx = avcodec_alloc_context3(codec);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *fr = av_frame_alloc();
    uint8_t *buf = av_malloc(n + AV_INPUT_BUFFER_PADDING_SIZE); /* decoders read past the end */
    mm_code rc = MM_OK;
    char why[AV_ERROR_MAX_STRING_SIZE] = "";
    if (!ctx || !pkt || !fr || !buf) {
        rc = mm_err_set(e, MM_ENOMEM, "%s: out of memory", name);
        goto done;
    }
    memcpy(buf, d, n);
    memset(buf + n, 0, AV_INPUT_BUFFER_PADDING_SIZE);
    ctx->thread_count = 1;
    ctx->max_pixels = (int64_t)(cfg->max_pixels > INT64_MAX ? INT64_MAX : cfg->max_pixels);
    /* TIFF: "explode" would refuse any tag FFmpeg does not know (Orientation among them) */
    ctx->err_recognition = fmt == MM_IMAGE_TIFF ? 0 : AV_EF_EXPLODE;
    int r = avcodec_open2(ctx, codec, NULL);
    if (r >= 0) {
        pkt->data = buf, pkt->size = (int)n;
        r = decode_one(ctx, pkt, fr);
    }
    if (r < 0) {
        av_strerror(r, why, sizeof why);
        rc = mm_err_set(e, r == AVERROR(ENOMEM) ? MM_ENOMEM : MM_ECORRUPT, "%s: bad %s: %s", name,
                        mm_image_format_name(fmt), why);
    } else if (fr->width <= 0 || fr->height <= 0) {
        rc = mm_err_set(e, MM_ECORRUPT, "%s: bad %s: zero-size image", name, mm_image_format_name(fmt));
    } else if (fr->decode_error_flags || (fr->flags & AV_FRAME_FLAG_CORRUPT)) {
        rc = mm_err_set(e, MM_ECORRUPT, "%s: bad %s: corrupt image data", name, mm_image_format_name(fmt));
    } else {
        rc = frame_to_raw(fr, name, cfg, out, e);
        if (rc == MM_OK && cfg->want_exif) out->orientation = orientation_of(d, n, fmt);
    }
done:
    av_free(buf);
    av_frame_free(&fr);
    av_packet_free(&pkt);
    avcodec_free_context(&ctx);
    return rc;
}
