/*
 * tests/decoders/test_audio_vad.c — voice-activity segmentation (mm_vad_*, mm_audio_segments):
 * the speech in ../shared's jfk.wav is found, its silence-5s.wav gives no segment, the committed
 * tone-silence-tone file (0.6 s tone, 1.5 s silence, 0.6 s tone) gives exactly two segments at
 * the right times, feeding in odd slices equals feeding at once, quiet noise is not speech, long
 * speech is split at max_segment_s, and short clicks are dropped.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/test.h"
#include "decoders.h"

#define DATA MMPIPE_TEST_DATA "/audio/"
#define SHARED MMPIPE_SHARED_DIR "/fixtures/media/"

static size_t segs_of(const float *x, size_t n, size_t slice, const mm_vad_opts *o, mm_segment *out, size_t cap) {
    mm_vad *v;
    mm_err e;
    CHECK(mm_vad_create(o, &v, &e) == MM_OK, "%s", e.msg);
    for (size_t i = 0; i < n; i += slice) CHECK(mm_vad_feed(v, x + i, n - i < slice ? n - i : slice, &e) == MM_OK, "%s", e.msg);
    CHECK(mm_vad_finish(v, &e) == MM_OK, "%s", e.msg);
    size_t k;
    const mm_segment *s = mm_vad_segments(v, &k);
    if (k > cap) k = cap;
    if (k) memcpy(out, s, k * sizeof *s);
    mm_vad_free(v);
    return k;
}

static void test_tone_gap_tone(void) {
    mm_segment *s;
    size_t n;
    double dur;
    mm_err e;
    CHECK(mm_audio_segments(DATA "tone_gap_tone.flac", NULL, NULL, &s, &n, &dur, &e) == MM_OK, "%s", e.msg);
    CHECK(n == 2, "tone-gap-tone: %zu segments", n);
    for (size_t i = 0; i < n; i++) fprintf(stderr, "tone_gap_tone segment %zu: %.2f - %.2f s\n", i, s[i].start_s, s[i].end_s);
    if (n == 2) {
        CHECK(s[0].start_s == 0 && s[0].end_s >= 0.6 && s[0].end_s <= 0.85, "first %.2f-%.2f", s[0].start_s, s[0].end_s);
        CHECK(s[1].start_s >= 1.85 && s[1].start_s <= 2.1 && fabs(s[1].end_s - 2.7) < 0.02, "second %.2f-%.2f", s[1].start_s, s[1].end_s);
    }
    CHECK(fabs(dur - 2.7) < 0.01, "duration %.3f", dur);
    free(s);
}

static void test_jfk(void) {
    mm_segment *s;
    size_t n;
    double dur;
    mm_err e;
    if (mm_audio_segments(SHARED "jfk.wav", NULL, NULL, &s, &n, &dur, &e)) {
        fprintf(stderr, "jfk / silence checks skipped: %s\n", e.msg);
        return;
    }
    double speech = 0;
    for (size_t i = 0; i < n; i++) {
        fprintf(stderr, "jfk segment %zu: %.2f - %.2f s\n", i, s[i].start_s, s[i].end_s);
        speech += s[i].end_s - s[i].start_s;
        CHECK(s[i].start_s < s[i].end_s && s[i].end_s <= dur + 1e-9, "segment %zu order", i);
        CHECK(i == 0 || s[i].start_s > s[i - 1].end_s, "segments %zu apart", i);
    }
    CHECK(n >= 1 && s[0].start_s < 1.0, "jfk: speech from the start (%zu segments)", n);
    CHECK(speech > 6 && speech <= 11, "jfk: %.2f s of speech", speech);
    free(s);
    CHECK(mm_audio_segments(SHARED "silence-5s.wav", NULL, NULL, &s, &n, &dur, &e) == MM_OK, "%s", e.msg);
    CHECK(n == 0 && !s && fabs(dur - 5) < 1e-9, "silence-5s: %zu segments", n);
}

static void test_synthetic(void) {
    const size_t n = 16000 * 70;
    float *x = calloc(n, sizeof(float));
    mm_segment a[64], b[64];
    unsigned r = 1;
    for (size_t i = 0; i < 16000 * 10; i++) { /* 10 s of noise at about -55 dBFS */
        r = r * 1103515245u + 12345u;
        x[i] = ((float)((r >> 9) & 0xFFFF) / 32768.0f - 1.0f) * 0.003f;
    }
    CHECK(segs_of(x, 16000 * 10, 16000, NULL, a, 64) == 0, "quiet noise is not speech");
    for (size_t i = 16000 * 4; i < 16000 * 4 + 800; i++) x[i] = 0.5f * (float)sin(i * 0.3); /* 50 ms click */
    CHECK(segs_of(x, 16000 * 10, 16000, NULL, a, 64) == 0, "a 50 ms click is dropped");
    for (size_t i = 0; i < n; i++) /* syllable-like: 300 Hz under a 2 Hz |sin| envelope */
        x[i] = 0.3f * (float)(sin(2 * M_PI * 300 * i / 16000.0) * fabs(sin(2 * M_PI * 2 * i / 16000.0)));
    size_t k = segs_of(x, n, 16000, NULL, a, 64);
    CHECK(k == 3, "70 s of speech split at 30 s: %zu segments", k);
    if (k == 3) CHECK(fabs(a[0].end_s - 30) < 0.02 && a[1].start_s == a[0].end_s && fabs(a[2].end_s - 70) < 0.02,
                      "splits %.2f %.2f %.2f", a[0].end_s, a[1].start_s, a[2].end_s);
    /* tone bursts: slices of 1, 77 and all at once agree */
    memset(x, 0, n * sizeof(float));
    for (size_t t = 0; t < 5; t++)
        for (size_t i = 16000 * (2 * t + 1); i < 16000 * (2 * t + 1) + 8000; i++) x[i] = 0.2f * (float)sin(i * 0.2);
    size_t k1 = segs_of(x, 16000 * 11, 16000 * 11, NULL, a, 64), k2 = segs_of(x, 16000 * 11, 77, NULL, b, 64);
    CHECK(k1 == 5 && k1 == k2 && !memcmp(a, b, k1 * sizeof *a), "slicing changes nothing (%zu vs %zu)", k1, k2);
    mm_vad_opts o = {.min_silence_s = 2.0};
    CHECK(segs_of(x, 16000 * 11, 999, &o, a, 64) == 1, "gaps under min_silence merge");
    free(x);
}

int main(void) {
    test_tone_gap_tone();
    test_jfk();
    test_synthetic();
    return test_done("test_audio_vad");
}
