/*
 * decoders/audio_bench.c — mm_audio_bench_file, the audio part of `mmpipe bench decode`:
 * streams a recording through mm_audio_read_piece and the Gemma 4 log-mel of every 30 s piece,
 * exactly as a transcribe job would, and reports the real-time factor (audio seconds per CPU
 * second of this process) and the process's peak RSS.  Memory: one piece of PCM (1.9 MB) and its
 * features (128 x 2999 floats, 1.5 MB), whatever the file length.
 */
#include "decoders.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t peak_rss(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss * 1024; /* Linux: KiB */
}

mm_code mm_audio_bench_file(const char *path, mm_audio_bench *out, mm_err *e) {
    *out = (mm_audio_bench){0};
    mm_mel *mel = NULL;
    mm_audio *a = NULL;
    const double c0 = cpu_seconds(), w0 = (double)mm_mono_ns() * 1e-9;
    mm_code rc = mm_mel_create(NULL, &mel, e);
    if (!rc) rc = mm_audio_open(path, NULL, &a, e);
    const size_t piece = MM_AUDIO_PIECE_SAMPLES;
    const size_t fcap = mm_mel_n_frames(mel, piece) * 128;
    float *pcm = malloc(piece * sizeof(float)), *feat = malloc(fcap * sizeof(float));
    if (!rc && (!pcm || !feat)) rc = mm_err_set(e, MM_ENOMEM, "%s: out of memory", path);
    size_t got, nf;
    while (!rc && !(rc = mm_audio_read_piece(a, pcm, piece, &got, e)) && got) {
        if ((rc = mm_mel_compute(mel, pcm, got, feat, fcap, &nf, e))) break;
        out->n_pieces++;
        out->n_frames += nf;
    }
    if (!rc) {
        out->audio_seconds = (double)mm_audio_get_info(a)->samples_read / MM_AUDIO_RATE;
        out->cpu_seconds = cpu_seconds() - c0;
        out->wall_seconds = (double)mm_mono_ns() * 1e-9 - w0;
        out->realtime_factor = out->cpu_seconds > 0 ? out->audio_seconds / out->cpu_seconds : 0;
        out->peak_rss_bytes = peak_rss();
    }
    free(pcm);
    free(feat);
    mm_audio_close(a);
    mm_mel_free(mel);
    return rc;
}
