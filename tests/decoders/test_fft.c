/*
 * tests/decoders/test_fft.c — decoders/fft.c against a direct DFT in double: complex FFTs of
 * every power of two 4..1024 and real FFTs of 4..2048 on random input, plus impulse, constant
 * and a pure bin (exact structure), and the plan's refusals (non power of two, too small).
 */
#include <math.h>
#include <stdlib.h>

#include "../unit/test.h"
#include "audio_internal.h"

static unsigned rng = 12345;
static float frand(void) {
    rng = rng * 1103515245u + 12345u;
    return (float)((rng >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* X[k] = Σ x[j] e^{-2πi jk/n} in double; x complex interleaved (im may be NULL-stride real). */
static void dft(const float *x, int n, int real, double *out) {
    for (int k = 0; k < n; k++) {
        double re = 0, im = 0;
        for (int j = 0; j < n; j++) {
            const double th = -2.0 * M_PI * (double)((long)j * k % n) / n;
            const double xr = real ? x[j] : x[2 * j], xi = real ? 0 : x[2 * j + 1];
            re += xr * cos(th) - xi * sin(th);
            im += xr * sin(th) + xi * cos(th);
        }
        out[2 * k] = re;
        out[2 * k + 1] = im;
    }
}

/* max |FFT - DFT| relative to max |DFT| over the first nbins bins. */
static double rel_err(const float *got, const double *ref, int nbins) {
    double md = 0, mr = 0;
    for (int i = 0; i < 2 * nbins; i++) {
        md = fmax(md, fabs(got[i] - ref[i]));
        mr = fmax(mr, fabs(ref[i]));
    }
    return md / (mr > 0 ? mr : 1);
}

static void test_complex(void) {
    for (int n = 4; n <= 1024; n *= 2) {
        mm_fft *f = mm_fft_plan(n);
        float *x = malloc(sizeof(float) * 2 * n), *y = malloc(sizeof(float) * 2 * n);
        double *ref = malloc(sizeof(double) * 2 * n);
        for (int i = 0; i < 2 * n; i++) x[i] = y[i] = frand();
        dft(x, n, 0, ref);
        mm_fft_complex_n(f, y, n);
        double err = rel_err(y, ref, n);
        CHECK(err < 1e-5, "complex n=%d: rel err %.2e", n, err);
        free(x), free(y), free(ref);
        mm_fft_free(f);
    }
}

static void test_real(void) {
    for (int n = 4; n <= 2048; n *= 2) {
        mm_fft *f = mm_fft_plan(n);
        float *x = malloc(sizeof(float) * n), *out = malloc(sizeof(float) * (n + 2)),
              *scr = malloc(sizeof(float) * n);
        double *ref = malloc(sizeof(double) * 2 * n);
        for (int i = 0; i < n; i++) x[i] = frand();
        dft(x, n, 1, ref);
        mm_fft_real(f, x, out, scr);
        double err = rel_err(out, ref, n / 2 + 1);
        CHECK(err < 1e-5, "real n=%d: rel err %.2e", n, err);
        CHECK(fabsf(out[1]) < 1e-6f && fabsf(out[n + 1]) < 1e-6f, "real n=%d: DC/Nyquist not real", n);
        free(x), free(out), free(scr), free(ref);
        mm_fft_free(f);
    }
}

static void test_structure(void) {
    const int n = 512;
    mm_fft *f = mm_fft_plan(n);
    float x[512], out[514], scr[512];
    for (int i = 0; i < n; i++) x[i] = i == 0; /* impulse: flat spectrum of 1 */
    mm_fft_real(f, x, out, scr);
    double md = 0;
    for (int k = 0; k <= n / 2; k++) md = fmax(md, fabs(out[2 * k] - 1) + fabs(out[2 * k + 1]));
    CHECK(md < 1e-6, "impulse: max deviation %.2e", md);
    for (int i = 0; i < n; i++) x[i] = (float)cos(2 * M_PI * 37 * i / n); /* bin 37: n/2 there */
    mm_fft_real(f, x, out, scr);
    md = 0;
    for (int k = 0; k <= n / 2; k++) {
        double mag = hypot(out[2 * k], out[2 * k + 1]);
        md = fmax(md, fabs(mag - (k == 37 ? n / 2 : 0)));
    }
    CHECK(md < 1e-3, "cosine bin 37: max deviation %.2e", md);
    mm_fft_free(f);
    CHECK(!mm_fft_plan(0) && !mm_fft_plan(2) && !mm_fft_plan(320) && !mm_fft_plan(1 << 21), "bad sizes refused");
}

int main(void) {
    test_complex();
    test_real();
    test_structure();
    return test_done("test_fft");
}
