/*
 * decoders/image_resize.c — Pillow's ImagingResample for RGB8, bit for bit: the resampler
 * llama.cpp's mtmd uses (img_tool's Pillow port at de3ff81) and so the one whose output the vision
 * towers were checked against.
 *
 * Per axis (in -> out samples), in double precision:
 *   scale = in/out;  fs = max(scale, 1)  (the filter widens when downscaling: antialiasing)
 *   support = S*fs (S = 1 bilinear, 2 bicubic);  ksize = 2*ceil(support) + 1
 *   output o: center = (o + 0.5)*scale
 *     xmin = max(0, (int)(center - support + 0.5)),  xmax = min(in, (int)(center + support + 0.5))
 *     w_k = filter((xmin + k - center + 0.5) / fs), k < xmax - xmin, divided by their sum (if != 0)
 *     fixed point W_k = (int32)(w_k * 2^22 + 0.5) (w >= 0) or (int32)(w_k * 2^22 - 0.5) (w < 0)
 *   out = clip_u8((2^21 + sum_k p[xmin + k] * W_k) >> 22)      (int32; >> is arithmetic)
 * Horizontal pass first (only if the width changes) into an RGB8 buffer, then the vertical pass
 * (only if the height changes).  int32 cannot overflow: |sum| <= 255 * sum|W_k| < 255 * 1.3 * 2^22.
 *
 * Speed: coefficients are computed once per axis; the vertical pass accumulates whole rows (acc[i] += row[i] * W, a loop the
 * compiler vectorises); one allocation per buffer per call.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

#define PREC 22

typedef struct axis {
    int out, ksize;
    int *xmin, *xcnt;  /* [out] */
    int32_t *k;        /* [out][ksize] */
} axis;

static double f_bilinear(double x) {
    if (x < 0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double f_bicubic(double x) {
    const double a = -0.5; /* Pillow's (PyTorch/ggml use -0.75) */
    if (x < 0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static void axis_free(axis *a) {
    free(a->xmin), free(a->xcnt), free(a->k);
    memset(a, 0, sizeof *a);
}

/* Fills one output sample's taps; pre is scratch of ksize doubles. */
static void coeffs_one(axis *a, int o, int in, double scale, double fs, double support,
                       double (*filt)(double), double *pre) {
    double center = (o + 0.5) * scale, ww = 0.0, ss = 1.0 / fs;
    int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
    if (xmin < 0) xmin = 0;
    if (xmax > in) xmax = in;
    int cnt = xmax - xmin;
    if (cnt > a->ksize) cnt = a->ksize; /* cannot happen (ksize bounds 2*support + 1); kept as a guard */
    if (cnt < 0) cnt = 0;
    for (int x = 0; x < cnt; x++) ww += pre[x] = filt((x + xmin - center + 0.5) * ss);
    int32_t *k = a->k + (size_t)o * a->ksize;
    for (int x = 0; x < a->ksize; x++) {
        double w = x < cnt ? (ww != 0.0 ? pre[x] / ww : pre[x]) : 0.0;
        k[x] = w < 0 ? (int32_t)(-0.5 + w * (1 << PREC)) : (int32_t)(0.5 + w * (1 << PREC));
    }
    a->xmin[o] = xmin, a->xcnt[o] = cnt;
}

static int axis_init(axis *a, int in, int out, mm_resample_filter f) {
    double scale = (double)in / out, fs = scale < 1.0 ? 1.0 : scale;
    double support = (f == MM_RESAMPLE_BILINEAR ? 1.0 : 2.0) * fs;
    double (*filt)(double) = f == MM_RESAMPLE_BILINEAR ? f_bilinear : f_bicubic;
    a->out = out;
    a->ksize = (int)ceil(support) * 2 + 1;
    a->xmin = malloc(sizeof(int) * out);
    a->xcnt = malloc(sizeof(int) * out);
    a->k = malloc(sizeof(int32_t) * (size_t)out * a->ksize);
    double *pre = malloc(sizeof(double) * a->ksize);
    if (!a->xmin || !a->xcnt || !a->k || !pre) {
        free(pre);
        axis_free(a);
        return -1;
    }
    for (int o = 0; o < out; o++) coeffs_one(a, o, in, scale, fs, support, filt, pre);
    free(pre);
    return 0;
}

static inline uint8_t clip8(int32_t v) {
    v >>= PREC; /* arithmetic shift (gcc/clang), = floor division as in Pillow */
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* src: h rows of sw RGB pixels -> dst: h rows of a->out pixels.  (A 4-lane vector form of the
 * tap loop measured slower than this scalar one with baseline x86-64 code generation.) */
static void pass_h(const uint8_t *src, int sw, int h, uint8_t *dst, const axis *a) {
    const int dw = a->out;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = src + (size_t)y * sw * 3;
        uint8_t *out = dst + (size_t)y * dw * 3;
        for (int x = 0; x < dw; x++) {
            const int32_t *k = a->k + (size_t)x * a->ksize;
            const uint8_t *p = row + (size_t)a->xmin[x] * 3;
            int32_t s0 = 1 << (PREC - 1), s1 = s0, s2 = s0;
            for (int t = 0; t < a->xcnt[x]; t++, p += 3) {
                s0 += p[0] * k[t], s1 += p[1] * k[t], s2 += p[2] * k[t];
            }
            out[3 * x] = clip8(s0), out[3 * x + 1] = clip8(s1), out[3 * x + 2] = clip8(s2);
        }
    }
}

/* src: sh rows of w RGB pixels -> dst: a->out rows; acc: scratch of 3*w int32. */
static void pass_v(const uint8_t *src, int w, uint8_t *dst, const axis *a, int32_t *acc) {
    const size_t n = (size_t)w * 3;
    for (int y = 0; y < a->out; y++) {
        const int32_t *k = a->k + (size_t)y * a->ksize;
        for (size_t i = 0; i < n; i++) acc[i] = 1 << (PREC - 1);
        for (int t = 0; t < a->xcnt[y]; t++) {
            const uint8_t *row = src + (size_t)(a->xmin[y] + t) * n;
            const int32_t wt = k[t];
            for (size_t i = 0; i < n; i++) acc[i] += row[i] * wt;
        }
        uint8_t *out = dst + (size_t)y * n;
        for (size_t i = 0; i < n; i++) out[i] = clip8(acc[i]);
    }
}

mm_code mm_resample_rgb8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh,
                         mm_resample_filter f, mm_err *e) {
    if (!src || !dst || sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0)
        return mm_err_set(e, MM_EINVAL, "resample: bad size %dx%d -> %dx%d", sw, sh, dw, dh);
    if (f != MM_RESAMPLE_BILINEAR && f != MM_RESAMPLE_BICUBIC)
        return mm_err_set(e, MM_EINVAL, "resample: unknown filter %d", (int)f);
    if (sw == dw && sh == dh) {
        memcpy(dst, src, (size_t)sw * sh * 3);
        return MM_OK;
    }
    axis ah = {0}, av = {0};
    uint8_t *tmp = NULL;
    int32_t *acc = NULL;
    mm_code rc = MM_OK;
    if ((sw != dw && axis_init(&ah, sw, dw, f) != 0) || (sh != dh && axis_init(&av, sh, dh, f) != 0))
        rc = MM_ENOMEM;
    if (rc == MM_OK && sw != dw && sh != dh && !(tmp = malloc((size_t)dw * sh * 3))) rc = MM_ENOMEM;
    if (rc == MM_OK && sh != dh && !(acc = malloc(sizeof(int32_t) * 3 * (size_t)dw))) rc = MM_ENOMEM;
    if (rc == MM_OK) {
        if (sw != dw && sh != dh) {
            pass_h(src, sw, sh, tmp, &ah);
            pass_v(tmp, dw, dst, &av, acc);
        } else if (sw != dw) {
            pass_h(src, sw, sh, dst, &ah);
        } else {
            pass_v(src, sw, dst, &av, acc);
        }
    }
    free(tmp), free(acc);
    axis_free(&ah), axis_free(&av);
    if (rc != MM_OK)
        return mm_err_set(e, rc, "resample: out of memory for %dx%d -> %dx%d", sw, sh, dw, dh);
    return MM_OK;
}
