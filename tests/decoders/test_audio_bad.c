/*
 * tests/decoders/test_audio_bad.c — mm_audio on bad input: a missing file, a directory, a
 * zero-length file, files with no audio stream (PNG, video-only MP4), random bytes, a corrupt
 * WAV header, a WAV with 0 channels, a truncated MP3, an MP3 whose header claims 10 hours, a WAV
 * whose header claims 10 hours, and every limit (duration, wall clock, file size).  Each must
 * give the expected mm_code and a message naming the file; nothing may crash or hang.  Then every
 * prefix cut of every file in tests/data/audio, and every fuzz reproducer in
 * tests/data/audio/regress/, through the memory entry point and the log-mel.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../unit/test.h"
#include "decoders.h"

#define DATA MMPIPE_TEST_DATA "/audio/"

/* Opens and reads to the end; returns the first error (or MM_OK) with e filled; *n samples. */
static mm_code decode_all(const char *path, const mm_audio_opts *o, size_t *n, mm_err *e) {
    mm_audio *a;
    *n = 0;
    mm_code rc = mm_audio_open(path, o, &a, e);
    if (rc) return rc;
    static float buf[48000];
    size_t got;
    while (!(rc = mm_audio_read(a, buf, 48000, &got, e)) && got) *n += got;
    if (rc) { /* sticky: a second read repeats the error */
        mm_err e2;
        CHECK(mm_audio_read(a, buf, 10, &got, &e2) == rc && got == 0, "%s: error not sticky", path);
    }
    mm_audio_close(a);
    return rc;
}

static void expect(const char *name, const mm_audio_opts *o, mm_code want, const char *needle) {
    char path[1024];
    snprintf(path, sizeof path, "%s%s", name[0] == '/' ? "" : DATA, name);
    mm_err e = {0};
    size_t n;
    mm_code rc = decode_all(path, o, &n, &e);
    fprintf(stderr, "%-22s -> %-12s %s\n", name, mm_code_name(rc), rc ? e.msg : "");
    CHECK(rc == want, "%s: %s, expected %s (%s)", name, mm_code_name(rc), mm_code_name(want), e.msg);
    if (rc) {
        CHECK(strstr(e.msg, path) != NULL, "%s: message does not name the file: %s", name, e.msg);
        CHECK(!needle || strstr(e.msg, needle), "%s: message lacks \"%s\": %s", name, needle, e.msg);
    }
}

static void test_files(void) {
    expect("no_such_file.wav", NULL, MM_ENOTFOUND, NULL);
    expect(MMPIPE_TEST_DATA "/audio", NULL, MM_EINVAL, "directory");
    expect("empty.wav", NULL, MM_ECORRUPT, "empty");
    expect("image.png", NULL, MM_EUNSUPPORTED, "no audio stream");
    expect("video_only.mp4", NULL, MM_EUNSUPPORTED, "no audio stream");
    expect("random.mp3", NULL, MM_ECORRUPT, NULL);
    expect("corrupt_header.wav", NULL, MM_ECORRUPT, NULL);
    expect("zero_channels.wav", NULL, MM_ECORRUPT, NULL);
    expect("truncated.mp3", NULL, MM_ECORRUPT, "truncated");
    expect("lying_10h.mp3", NULL, MM_ECORRUPT, "truncated");
    mm_audio_opts o = {.max_seconds = 60};
    expect("lying_10h.mp3", &o, MM_ELIMIT, "header says");
    o = (mm_audio_opts){.accept_truncated = 1};
    size_t n;
    mm_err e;
    CHECK(decode_all(DATA "truncated.mp3", &o, &n, &e) == MM_OK && n > 8000 && n < 24000,
          "truncated.mp3 accepted: %zu samples", n);
    CHECK(decode_all(DATA "lying_10h.mp3", &o, &n, &e) == MM_OK && n > 24000 && n < 40000,
          "lying_10h.mp3 accepted: %zu samples", n);
    /* FFmpeg clamps a WAV data size past the end of the file: the 0.1 s that exist decode */
    CHECK(decode_all(DATA "lying_10h.wav", NULL, &n, &e) == MM_OK && n == 1600, "lying_10h.wav: %zu (%s)", n, e.msg);
    o = (mm_audio_opts){.max_seconds = 0.2};
    expect("tone_16k.flac", &o, MM_ELIMIT, "limit");
    o = (mm_audio_opts){.max_seconds = 0.5}; /* no stored duration: caught while decoding */
    expect("noxing_44k.mp3", &o, MM_ELIMIT, "longer than the limit");
    o = (mm_audio_opts){.max_wall_seconds = 1e-9};
    expect("tone_16k.flac", &o, MM_ELIMIT, "time limit");
    o = (mm_audio_opts){.max_file_bytes = 1000};
    expect("tone_16k.flac", &o, MM_ELIMIT, "limit");
}

static void test_mem_edge(void) {
    mm_audio *a;
    mm_err e;
    CHECK(mm_audio_open_mem("", 0, "zero", NULL, &a, &e) == MM_ECORRUPT && !a, "empty buffer");
    CHECK(strstr(e.msg, "zero") != NULL, "names it: %s", e.msg);
}

/* Decodes buf through the memory entry point and the log-mel; any outcome but a crash is fine,
 * as long as a failure explains itself. */
static void survive(const unsigned char *buf, size_t len, const char *name, const mm_mel *mel) {
    mm_audio_opts o = {.max_seconds = 60, .max_wall_seconds = 20};
    mm_audio *a;
    mm_err e = {0};
    mm_code rc = mm_audio_open_mem(buf, len, name, &o, &a, &e);
    CHECK(rc == MM_OK || e.msg[0], "%s: error without a message", name);
    if (rc) return;
    static float pcm[MM_AUDIO_PIECE_SAMPLES], feat[128 * 2999];
    size_t got, T;
    while (!(rc = mm_audio_read_piece(a, pcm, MM_AUDIO_PIECE_SAMPLES, &got, &e)) && got)
        CHECK(mm_mel_compute(mel, pcm, got, feat, 128 * 2999, &T, &e) == MM_OK, "%s: %s", name, e.msg);
    CHECK(rc == MM_OK || e.msg[0], "%s: error without a message", name);
    mm_audio_close(a);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

/* Every regular file of dir, whole and (cuts > 0) cut at `cuts` prefix lengths. */
static int sweep(const char *dir, int cuts, const mm_mel *mel) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (stat(p, &sb) || !S_ISREG(sb.st_mode)) continue;
        size_t n;
        unsigned char *b = slurp(p, &n);
        if (!b) continue;
        survive(b, n, de->d_name, mel);
        for (int c = 1; c <= cuts; c++) survive(b, n * (size_t)c / (cuts + 1), de->d_name, mel);
        free(b);
        files++;
    }
    closedir(d);
    return files;
}

int main(void) {
    test_files();
    test_mem_edge();
    mm_mel *mel;
    mm_err e;
    CHECK(mm_mel_create(NULL, &mel, &e) == MM_OK, "%s", e.msg);
    int nf = sweep(MMPIPE_TEST_DATA "/audio", 7, mel);
    CHECK(nf > 20, "only %d data files", nf);
    int nr = sweep(MMPIPE_TEST_DATA "/audio/regress", 0, mel);
    fprintf(stderr, "swept %d data files (8 cuts each) and %d regression files\n", nf, nr);
    mm_mel_free(mel);
    return test_done("test_audio_bad");
}
