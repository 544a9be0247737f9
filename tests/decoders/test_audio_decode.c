/*
 * tests/decoders/test_audio_decode.c — mm_audio on real files: exact samples for PCM WAV written
 * here at 16 kHz mono (u8, s16, s24, s32, float: x / 2^(bits-1), no resampling path), and the
 * committed files of tests/data/audio (scripts/gen_testdata_audio.sh: WAV 8/16/24/32-bit/float at
 * 8/16/44.1/48 kHz, stereo, 5.1, FLAC, MP3, Opus, Vorbis, AAC, MP4/MKV/WebM with audio) decoded to
 * 16 kHz mono and checked for length, the 1000 Hz tone's frequency and amplitude, and the
 * mean-of-channels downmix (stereo tone on the left at 0.4 -> 0.2; 5.1 centre 0.6 -> 0.1).
 * Also: streaming in odd slices = whole-file load = memory entry point; 30 s piece splitting and
 * the dropped 1-sample last piece; another output rate; jfk.mp3 against jfk.wav (../shared).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/test.h"
#include "decoders.h"

#define DATA MMPIPE_TEST_DATA "/audio/"

/* Writes a canonical PCM WAV: fmt 1 (int) or 3 (float), 16 kHz, 1 channel. */
static void write_wav(const char *path, int bits, int is_float, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    const uint32_t bytes = (uint32_t)(n * (size_t)(bits / 8)), rate = 16000, br = rate * (uint32_t)(bits / 8);
    const uint16_t fmt = is_float ? 3 : 1, ch = 1, ba = (uint16_t)(bits / 8), bps = (uint16_t)bits;
    const uint32_t riff = 36 + bytes, fmtlen = 16;
    fwrite("RIFF", 1, 4, f), fwrite(&riff, 4, 1, f), fwrite("WAVEfmt ", 1, 8, f);
    fwrite(&fmtlen, 4, 1, f), fwrite(&fmt, 2, 1, f), fwrite(&ch, 2, 1, f), fwrite(&rate, 4, 1, f);
    fwrite(&br, 4, 1, f), fwrite(&ba, 2, 1, f), fwrite(&bps, 2, 1, f);
    fwrite("data", 1, 4, f), fwrite(&bytes, 4, 1, f), fwrite(data, 1, bytes, f);
    fclose(f);
}

static float *load(const char *path, const mm_audio_opts *o, size_t *n) {
    float *pcm = NULL;
    mm_err e;
    mm_code rc = mm_audio_load(path, o, &pcm, n, &e);
    CHECK(rc == MM_OK, "%s: %s", path, e.msg);
    return rc ? NULL : pcm;
}

static void test_exact_pcm(void) {
    enum { N = 3001 };
    static int16_t s16[N];
    static uint8_t u8[N], s24[N * 3];
    static int32_t s32[N];
    static float f32[N];
    for (int i = 0; i < N; i++) {
        int v = (int)((i * 7919L) % 65536) - 32768; /* covers the range, -32768 included */
        if (i == 1) v = 32767;
        s16[i] = (int16_t)v;
        u8[i] = (uint8_t)(i * 37);
        int32_t v24 = (int32_t)((i * 2654435761u) >> 8) - (1 << 23);
        s24[3 * i] = (uint8_t)v24, s24[3 * i + 1] = (uint8_t)(v24 >> 8), s24[3 * i + 2] = (uint8_t)(v24 >> 16);
        s32[i] = (int32_t)(i * 2654435761u);
        f32[i] = (float)sin(i * 0.01) * 0.9f;
    }
    const struct { int bits, fl; const void *d; } k[] = {{16, 0, s16}, {8, 0, u8}, {24, 0, s24}, {32, 0, s32}, {32, 1, f32}};
    for (int j = 0; j < 5; j++) {
        const char *p = "/tmp/mm_test_exact.wav";
        write_wav(p, k[j].bits, k[j].fl, k[j].d, N);
        size_t n;
        float *x = load(p, NULL, &n);
        if (!x) continue;
        CHECK(n == N, "%d-bit: %zu samples", k[j].bits, n);
        double md = 0;
        for (int i = 0; i < N && i < (int)n; i++) {
            double want = k[j].fl ? f32[i] : k[j].bits == 16 ? s16[i] / 32768.0
                        : k[j].bits == 8 ? (u8[i] - 128) / 128.0
                        : k[j].bits == 32 ? (float)s32[i] / 2147483648.0
                        : ((int32_t)((uint32_t)s24[3 * i] << 8 | (uint32_t)s24[3 * i + 1] << 16 | (uint32_t)s24[3 * i + 2] << 24) >> 8) / 8388608.0;
            md = fmax(md, fabs(x[i] - want));
        }
        CHECK(md == 0, "%d-bit %s: max |decoded - x/2^(bits-1)| = %.3g", k[j].bits, k[j].fl ? "float" : "int", md);
        free(x);
    }
    remove("/tmp/mm_test_exact.wav");
}

/* Amplitude and frequency of a sine in x[a, b): amplitude = sqrt(2)·RMS; frequency from the
 * positive zero crossings (interpolated). */
static void sine_fit(const float *x, size_t a, size_t b, double *amp, double *freq) {
    double s2 = 0;
    for (size_t i = a; i < b; i++) s2 += (double)x[i] * x[i];
    *amp = sqrt(2 * s2 / (double)(b - a));
    double first = -1, last = -1;
    int nz = 0;
    for (size_t i = a + 1; i < b; i++)
        if (x[i - 1] < 0 && x[i] >= 0) {
            double t = (double)(i - 1) + x[i - 1] / (double)(x[i - 1] - x[i]);
            if (first < 0) first = t;
            last = t;
            nz++;
        }
    *freq = nz > 1 ? (nz - 1) * 16000.0 / (last - first) : 0;
}

static const struct {
    const char *file;
    double seconds, amp, amp_tol;
    int in_rate, in_ch, video;
} FILES[] = {
    {"tone_s16_16k.wav", 0.5, 0.5, 0.002, 16000, 1, 0},
    {"tone_u8_8k.wav", 0.5, 0.5, 0.01, 8000, 1, 0},
    {"tone_s24_44k.wav", 0.2, 0.5, 0.002, 44100, 1, 0},
    {"tone_s32_48k.wav", 0.1, 0.5, 0.002, 48000, 1, 0},
    {"left_f32_48k_stereo.wav", 0.1, 0.2, 0.002, 48000, 2, 0},
    {"left_s16_44k_stereo.wav", 0.2, 0.2, 0.002, 44100, 2, 0},
    {"centre_51_48k.flac", 0.2, 0.1, 0.002, 48000, 6, 0},
    {"tone_16k.flac", 0.5, 0.5, 0.002, 16000, 1, 0},
    {"left_44k_stereo.mp3", 1.0, 0.2, 0.015, 44100, 2, 0},
    {"tone_48k.opus", 1.0, 0.5, 0.03, 48000, 1, 0},
    {"tone_44k.ogg", 1.0, 0.5, 0.03, 44100, 1, 0},
    {"tone_44k.m4a", 1.0, 0.5, 0.03, 44100, 1, 0},
    {"video_tone.mp4", 1.0, 0.5, 0.03, 48000, 1, 1},
    {"video_tone.mkv", 1.0, 0.5, 0.03, 48000, 1, 1},
    {"video_tone.webm", 1.0, 0.5, 0.03, 48000, 1, 1},
};

static void test_file(int i) {
    char path[1024];
    snprintf(path, sizeof path, DATA "%s", FILES[i].file);
    mm_audio *a;
    mm_err e;
    mm_code rc = mm_audio_open(path, NULL, &a, &e);
    CHECK(rc == MM_OK, "%s: %s", FILES[i].file, e.msg);
    if (rc) return;
    const mm_audio_info *in = mm_audio_get_info(a);
    CHECK(in->in_rate == FILES[i].in_rate && in->in_channels == FILES[i].in_ch && in->out_rate == 16000,
          "%s: %d Hz %d ch", FILES[i].file, in->in_rate, in->in_channels);
    CHECK(!!(in->flags & MM_AUDIO_HAS_VIDEO) == FILES[i].video, "%s: video flag", FILES[i].file);
    const size_t cap = 64000;
    float *x = malloc(cap * sizeof(float));
    size_t n = 0, got;
    while (!(rc = mm_audio_read(a, x + n, cap - n < 777 ? cap - n : 777, &got, &e)) && got) n += got;
    CHECK(rc == MM_OK, "%s: %s", FILES[i].file, e.msg);
    const double want = FILES[i].seconds * 16000;
    CHECK(fabs((double)n - want) <= 0.03 * want + 8, "%s: %zu samples, expected ~%.0f", FILES[i].file, n, want);
    double amp, freq;
    sine_fit(x, n / 4, 3 * n / 4, &amp, &freq);
    CHECK(fabs(amp - FILES[i].amp) <= FILES[i].amp_tol, "%s: amplitude %.4f, expected %.2f", FILES[i].file, amp, FILES[i].amp);
    CHECK(fabs(freq - 1000) <= 2, "%s: frequency %.2f Hz", FILES[i].file, freq);
    fprintf(stderr, "%-24s %-10s %-9s %6zu samples  amp %.4f  f %.2f Hz\n", FILES[i].file, in->container,
            in->codec, n, amp, freq);
    CHECK(in->samples_read == n, "%s: samples_read", FILES[i].file);
    free(x);
    mm_audio_close(a);
}

/* mm_audio_open_mem over the file's bytes gives the same samples as the file path. */
static void test_mem_same(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, DATA "%s", name);
    FILE *f = fopen(path, "rb");
    static unsigned char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t n1;
    float *x1 = load(path, NULL, &n1);
    mm_audio *a;
    mm_err e;
    CHECK(mm_audio_open_mem(buf, len, name, NULL, &a, &e) == MM_OK, "%s mem: %s", name, e.msg);
    float *x2 = malloc((n1 + 10) * sizeof(float));
    size_t n2;
    CHECK(mm_audio_read(a, x2, n1 + 10, &n2, &e) == MM_OK, "%s", e.msg);
    CHECK(n1 == n2 && x1 && !memcmp(x1, x2, n1 * sizeof(float)), "%s: memory != file (%zu vs %zu)", name, n2, n1);
    mm_audio_close(a);
    free(x1), free(x2);
}

/* Pieces: 2001 samples in pieces of 1000 -> 1000, 1000, then the 1-sample piece dropped. */
static void test_pieces(void) {
    int16_t s[2001];
    for (int i = 0; i < 2001; i++) s[i] = (int16_t)(i * 13);
    write_wav("/tmp/mm_test_pieces.wav", 16, 0, s, 2001);
    mm_audio *a;
    mm_err e;
    float buf[1000];
    size_t got, sizes[4] = {0};
    CHECK(mm_audio_open("/tmp/mm_test_pieces.wav", NULL, &a, &e) == MM_OK, "%s", e.msg);
    for (int i = 0; i < 4; i++) CHECK(mm_audio_read_piece(a, buf, 1000, &sizes[i], &e) == MM_OK, "%s", e.msg);
    CHECK(sizes[0] == 1000 && sizes[1] == 1000 && sizes[2] == 0 && sizes[3] == 0, "pieces %zu %zu %zu", sizes[0], sizes[1], sizes[2]);
    CHECK(mm_audio_get_info(a)->dropped_samples == 1, "dropped sample noted");
    mm_audio_close(a);
    /* 2002 samples: the last piece of 2 samples is kept */
    write_wav("/tmp/mm_test_pieces.wav", 16, 0, s, 2000);
    CHECK(mm_audio_open("/tmp/mm_test_pieces.wav", NULL, &a, &e) == MM_OK, "%s", e.msg);
    CHECK(mm_audio_read_piece(a, buf, 999, &got, &e) == MM_OK && got == 999, "piece 1");
    CHECK(mm_audio_read_piece(a, buf, 999, &got, &e) == MM_OK && got == 999, "piece 2");
    CHECK(mm_audio_read_piece(a, buf, 999, &got, &e) == MM_OK && got == 2, "piece 3: %zu", got);
    CHECK(mm_audio_get_info(a)->dropped_samples == 0, "nothing dropped");
    mm_audio_close(a);
    remove("/tmp/mm_test_pieces.wav");
}

static void test_other_rate(void) {
    mm_audio_opts o = {.sample_rate = 8000};
    size_t n;
    float *x = load(DATA "tone_s24_44k.wav", &o, &n);
    CHECK(x && labs((long)n - 1600) <= 2, "8 kHz output: %zu samples", n);
    free(x);
}

/* jfk.mp3 decodes to the same speech as jfk.wav (correlation at the best lag). */
static void test_jfk_mp3(void) {
    size_t nw, nm;
    mm_err e;
    float *w = NULL, *m = NULL;
    if (mm_audio_load(MMPIPE_SHARED_DIR "/fixtures/media/jfk.wav", NULL, &w, &nw, &e)) {
        fprintf(stderr, "jfk.mp3 check skipped: ../shared absent (%s)\n", e.msg);
        return;
    }
    CHECK(mm_audio_load(MMPIPE_SHARED_DIR "/fixtures/media/jfk.mp3", NULL, &m, &nm, &e) == MM_OK, "%s", e.msg);
    CHECK(labs((long)nm - (long)nw) < 2000, "jfk.mp3: %zu samples vs %zu", nm, nw);
    double best = -1;
    int best_lag = 0;
    for (int lag = -1200; lag <= 1200 && m; lag++) {
        double xy = 0, xx = 0, yy = 0;
        for (size_t i = 32000; i < 64000; i++) {
            double a = w[i], b = m[(long)i + lag];
            xy += a * b, xx += a * a, yy += b * b;
        }
        double c = xy / sqrt(xx * yy + 1e-30);
        if (c > best) best = c, best_lag = lag;
    }
    fprintf(stderr, "jfk.mp3 vs jfk.wav: correlation %.4f at lag %d\n", best, best_lag);
    CHECK(best > 0.98, "jfk.mp3: correlation %.4f", best);
    free(w), free(m);
}

int main(void) {
    test_exact_pcm();
    for (size_t i = 0; i < sizeof FILES / sizeof *FILES; i++) test_file((int)i);
    test_mem_same("left_44k_stereo.mp3");
    test_mem_same("video_tone.mp4");
    test_pieces();
    test_other_rate();
    test_jfk_mp3();
    return test_done("test_audio_decode");
}
