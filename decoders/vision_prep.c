/*
 * decoders/vision_prep.c — RGB8 picture -> the float tensor llama.cpp's mtmd feeds a vision encoder
 * (llama.cpp de3ff81: tools/mtmd/mtmd-image.cpp, clip.cpp), parameterised by the mmproj's values.
 *
 *   1. target size (tw, th):
 *      DYN (gemma4v, mtmd_image_preprocessor_dyn_size + calc_size_preserved_ratio), a = patch*merge,
 *      min_px = min_tokens*a*a, max_px = max_tokens*a*a, all in f32 as llama.cpp (round = roundf,
 *      half away from zero):
 *        th = max(a, round(h/a)*a), tw = max(a, round(w/a)*a)
 *        if tw*th > max_px: beta = sqrt(h*w/max_px); th = max(a, floor(h/beta/a)*a); tw likewise
 *        elif tw*th < min_px: beta = sqrt(min_px/(h*w)); th = ceil(h*beta/a)*a; tw likewise
 *      FIXED (gemma3, mtmd_image_preprocessor_fixed_size): tw = th = image_size.
 *   2. letterbox (img_tool::resize, PAD_CEIL): if (w, h) == (tw, th) copy; else scale =
 *      min(tw/w, th/h) (f32), nw = min(ceil(w*scale), tw), nh = min(ceil(h*scale), th); Pillow
 *      resample (image_resize.c) to nw x nh; paste at ((tw-nw)/2, (th-nh)/2) on pad_rgb (black).
 *   3. normalise: f = (u8/255.0f - mean[c]) / std[c] (f32), stored planar [c][y][x] — the order
 *      clip_image_batch_encode copies mtmd's interleaved clip_image_f32 into before the graph.
 *      (gemma4v's graph then applies 2f-1 itself; that is the engine's business.)
 *
 * A DCT-scaled JPEG (mm_image.full_w/full_h larger than w/h) gets its target size from the full
 * size, so token counts never depend on the speed option; only the resampler's input is smaller.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

void mm_vision_params_gemma4v(mm_vision_params *p, int patch_size, int n_merge) {
    memset(p, 0, sizeof *p);
    p->mode = MM_VISION_DYN;
    p->patch_size = patch_size;
    p->n_merge = n_merge;
    p->min_tokens = 70, p->max_tokens = 1120; /* llama.cpp de3ff81 set_limit_image_tokens(70, 1120) */
    p->filter = MM_RESAMPLE_BICUBIC;
    for (int c = 0; c < 3; c++) p->mean[c] = 0.0f, p->std[c] = 1.0f;
}

void mm_vision_params_gemma3(mm_vision_params *p, int image_size, int patch_size, int n_merge) {
    memset(p, 0, sizeof *p);
    p->mode = MM_VISION_FIXED;
    p->image_size = image_size;
    p->patch_size = patch_size;
    p->n_merge = n_merge;
    p->filter = MM_RESAMPLE_BILINEAR;
    for (int c = 0; c < 3; c++) p->mean[c] = 0.5f, p->std[c] = 0.5f;
}

static int align_of(const mm_vision_params *p) { return p->patch_size * (p->n_merge > 0 ? p->n_merge : 1); }

static mm_code check_params(const mm_vision_params *p, mm_err *e) {
    if (!p || p->patch_size <= 0 || p->n_merge < 0 || align_of(p) > 4096)
        return mm_err_set(e, MM_EINVAL, "vision params: bad patch size / merge factor");
    if (p->mode == MM_VISION_DYN &&
        (p->min_tokens <= 0 || p->max_tokens < p->min_tokens ||
         (int64_t)p->max_tokens * align_of(p) * align_of(p) > INT_MAX))
        return mm_err_set(e, MM_EINVAL, "vision params: bad token budget %d..%d", p->min_tokens,
                          p->max_tokens);
    if (p->mode == MM_VISION_FIXED && (p->image_size <= 0 || p->image_size > 16384))
        return mm_err_set(e, MM_EINVAL, "vision params: bad image size %d", p->image_size);
    if (p->mode != MM_VISION_DYN && p->mode != MM_VISION_FIXED)
        return mm_err_set(e, MM_EINVAL, "vision params: unknown mode %d", (int)p->mode);
    for (int c = 0; c < 3; c++)
        if (!(p->std[c] != 0.0f) || !isfinite(p->std[c]) || !isfinite(p->mean[c]))
            return mm_err_set(e, MM_EINVAL, "vision params: bad mean/std");
    return MM_OK;
}

/* llama.cpp's round/ceil/floor_by_factor: f32 division by the factor, then the int multiple. */
static int round_by(float x, int a) { return (int)roundf(x / (float)a) * a; }
static int ceil_by(float x, int a) { return (int)ceilf(x / (float)a) * a; }
static int floor_by(float x, int a) { return (int)floorf(x / (float)a) * a; }
static int imax(int a, int b) { return a > b ? a : b; }

mm_code mm_vision_target_size(int w, int h, const mm_vision_params *p, int *tw, int *th, mm_err *e) {
    mm_code rc = check_params(p, e);
    if (rc != MM_OK) return rc;
    if (w <= 0 || h <= 0 || (int64_t)w * h > INT_MAX)
        return mm_err_set(e, MM_EINVAL, "vision: bad picture size %dx%d", w, h);
    if (p->mode == MM_VISION_FIXED) {
        *tw = *th = p->image_size;
        return MM_OK;
    }
    const int a = align_of(p);
    const int min_px = p->min_tokens * a * a, max_px = p->max_tokens * a * a;
    int hb = imax(a, round_by((float)h, a)), wb = imax(a, round_by((float)w, a));
    if ((int64_t)hb * wb > max_px) {
        const float beta = sqrtf((float)(h * w) / (float)max_px);
        hb = imax(a, floor_by((float)h / beta, a));
        wb = imax(a, floor_by((float)w / beta, a));
    } else if ((int64_t)hb * wb < min_px) {
        const float beta = sqrtf((float)min_px / (float)(h * w));
        hb = ceil_by((float)h * beta, a);
        wb = ceil_by((float)w * beta, a);
    }
    *tw = wb, *th = hb;
    return MM_OK;
}

void mm_vision_fit(int w, int h, int tw, int th, int *nw, int *nh) {
    const float sw = (float)tw / (float)w, sh = (float)th / (float)h;
    const float s = sw < sh ? sw : sh;
    int a = (int)ceilf((float)w * s), b = (int)ceilf((float)h * s);
    *nw = a < tw ? a : tw;
    *nh = b < th ? b : th;
    if (*nw < 1) *nw = 1;
    if (*nh < 1) *nh = 1;
}

void mm_vision_input_free(mm_vision_input *v) {
    if (!v) return;
    free(v->data);
    memset(v, 0, sizeof *v);
}

/* canvas (tw x th RGB8) -> planar normalised floats, via a per-channel 256-entry table computed
 * with exactly llama.cpp's expression. */
static void normalise(const uint8_t *canvas, int tw, int th, const mm_vision_params *p, float *out) {
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) lut[c][v] = ((float)v / 255.0f - p->mean[c]) / p->std[c];
    const size_t n = (size_t)tw * th;
    float *r = out, *g = out + n, *b = out + 2 * n;
    for (size_t i = 0; i < n; i++) {
        r[i] = lut[0][canvas[3 * i]];
        g[i] = lut[1][canvas[3 * i + 1]];
        b[i] = lut[2][canvas[3 * i + 2]];
    }
}

/* Builds the letterboxed RGB8 canvas: the picture resampled to its content box on pad_rgb. */
static mm_code build_canvas(const mm_image *im, int fw, int fh, const mm_vision_params *p,
                            mm_vision_input *out, uint8_t *canvas, mm_err *e) {
    const int tw = out->w, th = out->h;
    if (im->w == tw && im->h == th) {
        memcpy(canvas, im->rgb, (size_t)tw * th * 3);
        out->content_x = out->content_y = 0, out->content_w = tw, out->content_h = th;
        return MM_OK;
    }
    int nw, nh;
    mm_vision_fit(fw, fh, tw, th, &nw, &nh);
    const int ox = (tw - nw) / 2, oy = (th - nh) / 2;
    out->content_x = ox, out->content_y = oy, out->content_w = nw, out->content_h = nh;
    for (size_t i = 0; i < (size_t)tw * th; i++) memcpy(canvas + 3 * i, p->pad_rgb, 3);
    uint8_t *tmp = nw == tw ? canvas + (size_t)oy * tw * 3 : malloc((size_t)nw * nh * 3);
    if (!tmp) return mm_err_set(e, MM_ENOMEM, "vision: out of memory for %dx%d", nw, nh);
    /* when nw == tw the content rows are contiguous in the canvas: resample straight into it */
    mm_code rc = mm_resample_rgb8(im->rgb, im->w, im->h, tmp, nw, nh, p->filter, e);
    if (rc == MM_OK && nw != tw)
        for (int y = 0; y < nh; y++)
            memcpy(canvas + ((size_t)(oy + y) * tw + ox) * 3, tmp + (size_t)y * nw * 3, (size_t)nw * 3);
    if (nw != tw) free(tmp);
    return rc;
}

mm_code mm_vision_preprocess(const mm_image *im, const mm_vision_params *p, mm_vision_input *out,
                             mm_err *e) {
    memset(out, 0, sizeof *out);
    if (!im || !im->rgb || im->w <= 0 || im->h <= 0)
        return mm_err_set(e, MM_EINVAL, "vision: no picture");
    const int fw = im->full_w > 0 ? im->full_w : im->w, fh = im->full_h > 0 ? im->full_h : im->h;
    int tw, th;
    mm_code rc = mm_vision_target_size(fw, fh, p, &tw, &th, e);
    if (rc != MM_OK) return rc;
    out->w = tw, out->h = th;
    const int a = align_of(p);
    out->n_tokens = (tw / a) * (th / a);
    uint8_t *canvas = malloc((size_t)tw * th * 3);
    out->data = malloc(sizeof(float) * 3 * (size_t)tw * th);
    if (!canvas || !out->data) {
        free(canvas);
        mm_vision_input_free(out);
        return mm_err_set(e, MM_ENOMEM, "vision: out of memory for a %dx%d tensor", tw, th);
    }
    rc = build_canvas(im, fw, fh, p, out, canvas, e);
    if (rc == MM_OK) normalise(canvas, tw, th, p, out->data);
    free(canvas);
    if (rc != MM_OK) mm_vision_input_free(out);
    return rc;
}

/* The DCT-scaling hint: the content box the picture will be resampled to (displayed orientation),
 * or nothing when the picture is used at its own size. */
static void dct_hint(const void *data, size_t n, const char *name, mm_image_opts *o,
                     const mm_vision_params *p) {
    int w, h, orient, tw, th, nw, nh;
    mm_err scratch;
    if (mm__jpeg_probe(data, n, name, &w, &h, &orient, &scratch) != MM_OK) return; /* decode reports */
    if (!o->no_exif && orient >= 5) {
        int t = w;
        w = h, h = t;
    }
    if (mm_vision_target_size(w, h, p, &tw, &th, &scratch) != MM_OK || (tw == w && th == h)) return;
    mm_vision_fit(w, h, tw, th, &nw, &nh);
    o->min_w = nw, o->min_h = nh;
}

mm_code mm_vision_decode_mem(const void *data, size_t n, const char *name, const mm_image_opts *o,
                             const mm_vision_params *p, mm_vision_input *out, mm_err *e) {
    memset(out, 0, sizeof *out);
    mm_code rc = check_params(p, e);
    if (rc != MM_OK) return rc;
    mm_image_opts oo;
    if (o) oo = *o;
    else memset(&oo, 0, sizeof oo);
    if (oo.allow_dct_scaling && oo.min_w <= 0 && oo.min_h <= 0 && mm_image_detect(data, n) == MM_IMAGE_JPEG)
        dct_hint(data, n, name ? name : "(memory)", &oo, p);
    mm_image im;
    rc = mm_image_decode_mem(data, n, name, &oo, &im, e);
    if (rc != MM_OK) return rc;
    rc = mm_vision_preprocess(&im, p, out, e);
    mm_image_free(&im);
    if (rc != MM_OK && name) mm_err_prefix(e, "%s", name);
    return rc;
}

mm_code mm_vision_load(const char *path, const mm_image_opts *o, const mm_vision_params *p,
                       mm_vision_input *out, mm_err *e) {
    memset(out, 0, sizeof *out);
    uint8_t *buf = NULL;
    size_t n = 0;
    mm_code rc = mm__image_read_file(path, o, &buf, &n, e);
    if (rc != MM_OK) return rc;
    rc = mm_vision_decode_mem(buf, n, path, o, p, out, e);
    free(buf);
    return rc;
}
