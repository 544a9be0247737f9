/*
 * tests/decoders/test_image_prep.c — vision preprocessing (decoders/vision_prep.c, image_resize.c):
 *   - the size formulas on hand-computed cases: the fixture mmproj parameters (gemma4v: patch 4,
 *     merge 3, 70..1120 tokens; gemma3: 64x64, patch 8, merge 2) on the fixture media sizes, whose
 *     token counts are the fixture cases' (80, 81; 16), and the real ones (patch 16 x 3; 896 / 14 x 4);
 *   - the letterbox fit and the planar layout / normalisation;
 *   - the resampler and the whole pipeline bit for bit against test_image_pillow_ref.py (a float64
 *     reimplementation of Pillow's ImagingResample, itself checked against Pillow when installed)
 *     over random pictures and the fixture media; skipped (77) without /usr/bin/python3 + numpy;
 *   - the DCT-scaled fast path gives the same tensor shape and nearly the same values.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decoders.h"
#include "../unit/test.h"

#define REF MMPIPE_TEST_DATA "/../decoders/test_image_pillow_ref.py"
#define PY "/usr/bin/python3"

static char tmpdir[256];

static void size_case(const mm_vision_params *p, int w, int h, int ew, int eh, int etok) {
    int tw = 0, th = 0;
    mm_err e = {0};
    CHECK(mm_vision_target_size(w, h, p, &tw, &th, &e) == MM_OK, "%s", e.msg);
    int a = p->patch_size * p->n_merge;
    CHECK(tw == ew && th == eh && (tw / a) * (th / a) == etok, "%dx%d -> %dx%d (%d tokens), wanted %dx%d (%d)", w, h,
          tw, th, (tw / a) * (th / a), ew, eh, etok);
}

static void test_sizes(void) {
    mm_vision_params p;
    mm_vision_params_gemma4v(&p, 4, 3); /* fixture mmproj-gemma4v: a = 12, 10080..161280 px */
    size_case(&p, 80, 60, 120, 96, 80);   /* test_image.png: 84x60 < min -> beta 1.449 -> ceil */
    size_case(&p, 64, 64, 108, 108, 81);  /* scene-64x64.png */
    size_case(&p, 1024, 256, 792, 192, 1056); /* 1020x252 > max -> beta 1.2749 -> floor */
    size_case(&p, 333, 517, 312, 492, 1066);
    size_case(&p, 1, 1, 108, 108, 81);
    size_case(&p, 5000, 10, 5004, 12, 417);
    mm_vision_params_gemma4v(&p, 16, 3); /* real Gemma 4: a = 48 */
    size_case(&p, 4000, 3000, 1824, 1344, 1064);
    size_case(&p, 3000, 4000, 1344, 1824, 1064);
    size_case(&p, 1920, 1080, 1920, 1104, 920); /* 1080/48 = 22.5 rounds away from zero */
    size_case(&p, 640, 480, 624, 480, 130);
    size_case(&p, 48, 48, 432, 432, 81);
    p.max_tokens = 280;  /* --image-max-tokens 280 */
    size_case(&p, 4000, 3000, 912, 672, 266); /* 3984x3024 > 645120 -> beta 4.313 -> floor */
    mm_vision_params_gemma3(&p, 64, 8, 2); /* fixture mmproj-gemma3 */
    size_case(&p, 1024, 256, 64, 64, 16);
    size_case(&p, 333, 517, 64, 64, 16);
    mm_vision_params_gemma3(&p, 896, 14, 4);
    size_case(&p, 4000, 3000, 896, 896, 256);
    /* letterbox fits */
    static const int fits[][6] = {{1024, 256, 64, 64, 64, 16}, {333, 517, 64, 64, 42, 64}, {80, 60, 64, 64, 64, 48},
                                  {1024, 256, 896, 896, 896, 224}, {80, 60, 120, 96, 120, 90}, {64, 64, 108, 108, 108, 108},
                                  {1, 1000, 64, 64, 1, 64}};
    for (size_t i = 0; i < sizeof fits / sizeof *fits; i++) {
        int nw, nh;
        mm_vision_fit(fits[i][0], fits[i][1], fits[i][2], fits[i][3], &nw, &nh);
        CHECK(nw == fits[i][4] && nh == fits[i][5], "fit %dx%d in %dx%d -> %dx%d", fits[i][0], fits[i][1], fits[i][2],
              fits[i][3], nw, nh);
    }
    /* bad parameters */
    mm_err e = {0};
    int tw, th;
    mm_vision_params_gemma4v(&p, 0, 3);
    CHECK(mm_vision_target_size(10, 10, &p, &tw, &th, &e) == MM_EINVAL, "patch 0 accepted");
    mm_vision_params_gemma4v(&p, 16, 3);
    p.min_tokens = 2000;
    CHECK(mm_vision_target_size(10, 10, &p, &tw, &th, &e) == MM_EINVAL, "min > max accepted");
    mm_vision_params_gemma4v(&p, 16, 3);
    p.std[1] = 0;
    CHECK(mm_vision_target_size(10, 10, &p, &tw, &th, &e) == MM_EINVAL, "std 0 accepted");
}

/* Planar layout and normalisation, with no resize (108x108 is its own gemma4v target). */
static void test_layout(void) {
    mm_image im = {.w = 108, .h = 108};
    im.rgb = malloc(108 * 108 * 3);
    for (int i = 0; i < 108 * 108 * 3; i++) im.rgb[i] = (uint8_t)(i * 31 + 7);
    mm_vision_params p;
    mm_vision_params_gemma4v(&p, 4, 3);
    p.mean[0] = 0.25f, p.std[2] = 0.5f;
    mm_vision_input v;
    mm_err e = {0};
    CHECK(mm_vision_preprocess(&im, &p, &v, &e) == MM_OK, "%s", e.msg);
    CHECK(v.w == 108 && v.h == 108 && v.n_tokens == 81 && v.content_w == 108, "size %dx%d", v.w, v.h);
    int bad = 0;
    for (int c = 0; c < 3 && v.data; c++)
        for (int y = 0; y < 108; y++)
            for (int x = 0; x < 108; x++) {
                float want = ((float)im.rgb[(y * 108 + x) * 3 + c] / 255.0f - p.mean[c]) / p.std[c];
                bad += v.data[(size_t)c * 108 * 108 + y * 108 + x] != want;
            }
    CHECK(bad == 0, "%d values off the planar layout", bad);
    mm_vision_input_free(&v);
    /* letterbox: gemma3 on a 80x60 picture pads rows 0..7 and 56..63 with black (-1 after 0.5/0.5) */
    im.w = 80, im.h = 60;
    mm_vision_params_gemma3(&p, 64, 8, 2);
    CHECK(mm_vision_preprocess(&im, &p, &v, &e) == MM_OK, "%s", e.msg);
    CHECK(v.content_x == 0 && v.content_y == 8 && v.content_w == 64 && v.content_h == 48, "box %d,%d %dx%d",
          v.content_x, v.content_y, v.content_w, v.content_h);
    CHECK(v.data && v.data[0] == -1.0f && v.data[2 * 64 * 64 + 63 * 64 + 63] == -1.0f, "pad not -1");
    mm_vision_input_free(&v);
    free(im.rgb);
}

static int have_python(void) {
    if (access(PY, X_OK) != 0) return 0;
    return system(PY " -c 'import numpy' 2>/dev/null") == 0;
}

static int write_file(const char *p, const void *d, size_t n) {
    FILE *f = fopen(p, "wb");
    if (!f) return -1;
    size_t w = fwrite(d, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

static void *read_all(const char *p, size_t *n) {
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(len > 0 ? (size_t)len : 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static uint32_t rng = 12345;
static uint8_t rnd8(void) {
    rng = rng * 1664525u + 1013904223u;
    return (uint8_t)(rng >> 24);
}

static void resize_case(int sw, int sh, int dw, int dh, mm_resample_filter f) {
    size_t n = (size_t)sw * sh * 3;
    uint8_t *src = malloc(n), *dst = malloc((size_t)dw * dh * 3);
    /* smooth + sharp content: gradients with random edges and noise */
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++)
            for (int c = 0; c < 3; c++)
                src[((size_t)y * sw + x) * 3 + c] = (uint8_t)((x * 255 / (sw > 1 ? sw - 1 : 1)) * (c != 1) +
                                                              (rnd8() < 40 ? rnd8() : 0) + y * (c == 1));
    char in[300], out[300], cmd[1024];
    snprintf(in, sizeof in, "%s/in.rgb", tmpdir);
    snprintf(out, sizeof out, "%s/out.rgb", tmpdir);
    write_file(in, src, n);
    mm_err e = {0};
    CHECK(mm_resample_rgb8(src, sw, sh, dst, dw, dh, f, &e) == MM_OK, "%s", e.msg);
    snprintf(cmd, sizeof cmd, PY " %s resize %s %s %d %d %d %d %d", REF, in, out, sw, sh, dw, dh, (int)f);
    int rc = system(cmd);
    size_t m = 0;
    uint8_t *ref = rc == 0 ? read_all(out, &m) : NULL;
    CHECK(rc == 0 && ref && m == (size_t)dw * dh * 3, "%dx%d -> %dx%d f%d: reference failed (%d)", sw, sh, dw, dh, f, rc);
    if (ref && m == (size_t)dw * dh * 3) {
        size_t bad = 0;
        for (size_t i = 0; i < m; i++) bad += ref[i] != dst[i];
        CHECK(bad == 0, "%dx%d -> %dx%d filter %d: %zu samples differ from Pillow", sw, sh, dw, dh, f, bad);
    }
    free(ref), free(src), free(dst);
}

static void test_resampler(void) {
    static const int cases[][4] = {{23, 17, 7, 5},   {23, 17, 64, 48}, {100, 30, 37, 91}, {1, 1, 5, 3},
                                   {5, 1, 1, 1},     {640, 8, 13, 8},  {8, 640, 8, 13},   {300, 200, 299, 201},
                                   {97, 61, 12, 500}, {1024, 256, 792, 192}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int f = 1; f <= 2; f++) resize_case(cases[i][0], cases[i][1], cases[i][2], cases[i][3], f);
}

/* The whole pipeline on a decoded picture vs the Python pipeline, float for float. */
static void prep_case(const char *label, const mm_image *im, const mm_vision_params *p) {
    char in[300], out[300], cmd[2048];
    snprintf(in, sizeof in, "%s/pic.rgb", tmpdir);
    snprintf(out, sizeof out, "%s/pic.f32", tmpdir);
    write_file(in, im->rgb, (size_t)im->w * im->h * 3);
    snprintf(cmd, sizeof cmd,
             PY " %s prep %s %d %d %d %d %d %d %d %d %d %.9g %.9g %.9g %.9g %.9g %.9g %s > /dev/null", REF, in,
             im->w, im->h, (int)p->mode, p->patch_size, p->n_merge, p->min_tokens, p->max_tokens, p->image_size,
             (int)p->filter, p->mean[0], p->mean[1], p->mean[2], p->std[0], p->std[1], p->std[2], out);
    int rc = system(cmd);
    mm_vision_input v;
    mm_err e = {0};
    CHECK(mm_vision_preprocess(im, p, &v, &e) == MM_OK, "%s: %s", label, e.msg);
    size_t m = 0;
    float *ref = rc == 0 ? read_all(out, &m) : NULL;
    CHECK(ref && m == sizeof(float) * 3 * v.w * v.h, "%s: reference failed (%d) or size differs (%dx%d)", label, rc, v.w, v.h);
    if (ref && m == sizeof(float) * 3 * v.w * v.h) {
        size_t bad = 0;
        for (size_t i = 0; i < m / 4; i++) bad += memcmp(&ref[i], &v.data[i], 4) != 0;
        CHECK(bad == 0, "%s: %zu of %zu floats differ", label, bad, m / 4);
    }
    free(ref);
    mm_vision_input_free(&v);
}

static void test_pipeline_fixture_media(void) {
    static const char *media[] = {"test_image.png", "scene-64x64.png", "scene-1024x256.png", "scene-333x517.png"};
    for (size_t i = 0; i < sizeof media / sizeof *media; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/fixtures/media/%s", MMPIPE_SHARED_DIR, media[i]);
        if (access(path, R_OK) != 0) {
            fprintf(stderr, "note: %s absent, skipped\n", path);
            continue;
        }
        mm_image_opts o;
        mm_image_opts_llama(&o);
        mm_image im;
        mm_err e = {0};
        CHECK(mm_image_load(path, &o, &im, &e) == MM_OK, "%s", e.msg);
        mm_vision_params p4, p4r, p3, p3r;
        mm_vision_params_gemma4v(&p4, 4, 3);
        mm_vision_params_gemma4v(&p4r, 16, 3);
        mm_vision_params_gemma3(&p3, 64, 8, 2);
        mm_vision_params_gemma3(&p3r, 896, 14, 4);
        char label[256];
        snprintf(label, sizeof label, "%s gemma4v-fixture", media[i]);
        prep_case(label, &im, &p4);
        snprintf(label, sizeof label, "%s gemma4v-real", media[i]);
        prep_case(label, &im, &p4r);
        snprintf(label, sizeof label, "%s gemma3-fixture", media[i]);
        prep_case(label, &im, &p3);
        snprintf(label, sizeof label, "%s gemma3-real", media[i]);
        prep_case(label, &im, &p3r);
        mm_image_free(&im);
    }
}

/* Fast path: DCT-scaled JPEG decode, same tensor shape, close values. */
static void test_dct_path(void) {
    const char *path = MMPIPE_TEST_DATA "/image/baseline.jpg";
    mm_vision_params p;
    mm_vision_params_gemma3(&p, 8, 2, 2); /* 8x8 target: 23x17 decodes at 3/8 */
    mm_image_opts exact, fast;
    mm_image_opts_llama(&exact);
    fast = exact;
    fast.allow_dct_scaling = 1;
    mm_vision_input a, b;
    mm_err e = {0};
    CHECK(mm_vision_load(path, &exact, &p, &a, &e) == MM_OK, "%s", e.msg);
    CHECK(mm_vision_load(path, &fast, &p, &b, &e) == MM_OK, "%s", e.msg);
    CHECK(a.w == b.w && a.h == b.h && a.n_tokens == b.n_tokens && a.content_h == b.content_h, "shape differs");
    double sum = 0;
    for (int i = 0; a.data && b.data && i < 3 * a.w * a.h; i++) sum += fabs(a.data[i] - b.data[i]);
    CHECK(sum / (3 * a.w * a.h) < 0.1, "fast path mean diff %.4f", sum / (3 * a.w * a.h));
    mm_vision_input_free(&a), mm_vision_input_free(&b);
    /* errors name the file */
    CHECK(mm_vision_load(MMPIPE_TEST_DATA "/image/bad/truncated.jpg", &fast, &p, &a, &e) == MM_ECORRUPT &&
              strstr(e.msg, "truncated.jpg"), "%s", e.msg);
}

int main(void) {
    test_sizes();
    test_layout();
    test_dct_path();
    if (!have_python()) {
        fprintf(stderr, "no /usr/bin/python3 with numpy: Pillow comparisons skipped\n");
        int rc = test_done("test_image_prep");
        return rc ? rc : 77;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mmpipe-prep-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    test_resampler();
    test_pipeline_fixture_media();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmpdir);
    return test_done("test_image_prep");
}
