/*
 * tests/fuzz/fuzz_audio.c — libFuzzer target over the audio decoder's memory entry point
 * (mm_audio_open_mem: FFmpeg demux + decode + swresample through our AVIOContext) and the
 * Gemma 4 log-mel of every piece, with small limits (60 s of audio, 3 s wall clock, 64 KiB probe)
 * so no input can exhaust memory or time.  Every failure must carry a message.  Pieces are 1 s
 * (16000 samples) to exercise the piece logic often.  Seeds: tests/fuzz/corpus_audio/;
 * reproducers of fixed crashes go to tests/data/audio/regress/ (test_audio_bad decodes them).
 */
#include <stdint.h>
#include <stdlib.h>

#include "decoders.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PIECE 16000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static mm_mel *mel;
    static float pcm[PIECE], feat[128 * 128];
    mm_err e = {0};
    if (!mel && mm_mel_create(NULL, &mel, &e) != MM_OK) abort();
    mm_audio_opts o = {.max_seconds = 60, .max_wall_seconds = 3, .probe_bytes = 65536};
    mm_audio *a;
    if (mm_audio_open_mem(data, size, "fuzz", &o, &a, &e) != MM_OK) {
        if (!e.msg[0] || a) abort();
        return 0;
    }
    size_t got, T;
    mm_code rc;
    while ((rc = mm_audio_read_piece(a, pcm, PIECE, &got, &e)) == MM_OK && got) {
        if (got > PIECE || got < 2) abort();
        if (mm_mel_compute(mel, pcm, got, feat, sizeof feat / sizeof *feat, &T, &e) != MM_OK) abort();
        if (T != mm_mel_n_frames(mel, got)) abort();
    }
    if (rc != MM_OK && !e.msg[0]) abort();
    const mm_audio_info *in = mm_audio_get_info(a);
    if (in->samples_read > 60 * 16000) abort();
    mm_audio_close(a);
    return 0;
}
