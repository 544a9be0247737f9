/*
 * tests/decoders/test_mel.c — decoders/mel.c on synthetic input: the frame-count rule of
 * llama.cpp (T = (N - 161) / 160 + 1 in C division; 1 for 2..160 samples; none for 1), token
 * counts, the filterbank (128 HTK triangles over 0-8000 Hz: a pure tone lights the band around
 * its frequency), digital silence = ln(1e-3) everywhere, the semicausal left pad (frame 0 sees
 * only the first 160 samples), bad parameters refused, and the [n_mel][T] layout.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/test.h"
#include "decoders.h"

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }

static void test_counts(const mm_mel *m) {
    CHECK(mm_mel_n_frames(m, 0) == 0 && mm_mel_n_frames(m, 1) == 0, "0/1 samples: no frame");
    CHECK(mm_mel_n_frames(m, 2) == 1 && mm_mel_n_frames(m, 160) == 1, "2..160 -> 1");
    CHECK(mm_mel_n_frames(m, 161) == 1 && mm_mel_n_frames(m, 320) == 1 && mm_mel_n_frames(m, 321) == 2, "161..");
    CHECK(mm_mel_n_frames(m, 4000) == 24, "250 ms -> 24");
    CHECK(mm_mel_n_frames(m, 80000) == 499 && mm_mel_n_frames(m, 176000) == 1099, "5 s, 11 s");
    CHECK(mm_mel_n_frames(m, 480000) == 2999, "30 s -> 2999 (got %zu)", mm_mel_n_frames(m, 480000));
    CHECK(mm_mel_n_tokens(2999) == 750 && mm_mel_n_tokens(1099) == 275 && mm_mel_n_tokens(24) == 6, "tokens");
    CHECK(mm_mel_n_tokens(1) == 1 && mm_mel_n_tokens(0) == 0 && mm_mel_n_tokens(499) == 125, "tokens small");
    float x[4] = {0}, out[256];
    size_t T;
    mm_err e;
    CHECK(mm_mel_compute(m, x, 1, out, 256, &T, &e) == MM_EINVAL && T == 0, "1 sample refused");
    CHECK(mm_mel_compute(m, x, 4, out, 127, &T, &e) == MM_EINVAL, "small output refused");
    CHECK(mm_mel_compute(m, x, 2, out, 128, &T, &e) == MM_OK && T == 1, "2 samples -> 1 frame");
}

static void test_silence(const mm_mel *m) {
    const size_t n = 16000, T = mm_mel_n_frames(m, n);
    float *x = calloc(n, sizeof(float)), *out = malloc(T * 128 * sizeof(float));
    size_t got;
    mm_err e;
    CHECK(mm_mel_compute(m, x, n, out, T * 128, &got, &e) == MM_OK && got == T, "silence");
    int bad = 0;
    for (size_t i = 0; i < T * 128; i++) bad += out[i] != (float)log(1e-3);
    CHECK(!bad, "silence: %d values differ from ln(1e-3)", bad);
    free(x), free(out);
}

/* A tone at f Hz: in a middle frame, the loudest bin is the triangle centred nearest f. */
static void test_tone(const mm_mel *m, double f) {
    const size_t n = 8000, T = mm_mel_n_frames(m, n);
    float *x = malloc(n * sizeof(float)), *out = malloc(T * 128 * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * (float)sin(2 * M_PI * f * i / 16000.0);
    size_t got;
    mm_err e;
    CHECK(mm_mel_compute(m, x, n, out, T * 128, &got, &e) == MM_OK, "tone %g", f);
    const size_t t = T / 2;
    int best = 0;
    for (int b = 1; b < 128; b++)
        if (out[(size_t)b * T + t] > out[(size_t)best * T + t]) best = b;
    /* centres: mel edges i/(129) of [0, mel(8000)], centre of band b = edge b+1 */
    const double c = hz_to_mel(f) / hz_to_mel(8000) * 129 - 1;
    CHECK(fabs(best - c) <= 1.5, "tone %g Hz: loudest band %d, expected ~%.1f", f, best, c);
    /* frame 0 sees samples 0..159 only (160 zeros in front): not silent, but quieter than t */
    CHECK(out[(size_t)best * T] < out[(size_t)best * T + t], "left pad: frame 0 is partial");
    free(x), free(out);
}

static void test_params(void) {
    mm_mel *m;
    mm_err e;
    mm_mel_params p = mm_mel_params_gemma4a();
    CHECK(p.n_fft == 512 && p.win_len == 320 && p.hop == 160 && p.n_mel == 128 && p.fmax == 8000, "gemma4a");
    p.n_fft = 500;
    CHECK(mm_mel_create(&p, &m, &e) == MM_EINVAL && !m, "n_fft 500 refused: %s", e.msg);
    p = mm_mel_params_gemma4a();
    p.win_len = 1024;
    CHECK(mm_mel_create(&p, &m, &e) == MM_EINVAL, "window > n_fft refused");
    p = mm_mel_params_gemma4a();
    p.n_mel = 80;
    CHECK(mm_mel_create(&p, &m, &e) == MM_OK, "80 bins: %s", e.msg);
    mm_mel_free(m);
}

int main(void) {
    mm_mel *m;
    mm_err e;
    CHECK(mm_mel_create(NULL, &m, &e) == MM_OK, "%s", e.msg);
    test_counts(m);
    test_silence(m);
    test_tone(m, 440);
    test_tone(m, 1000);
    test_tone(m, 3000);
    test_tone(m, 7000);
    test_params();
    mm_mel_free(m);
    return test_done("test_mel");
}
