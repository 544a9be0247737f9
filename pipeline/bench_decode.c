/*
 * pipeline/bench_decode.c — `mmpipe bench decode [--audio FILE] [--json]`: decoder speed.
 *
 *   audio_realtime_factor      seconds of audio decoded and turned into Gemma 4 log-mel features
 *                              per second of this process's CPU time, for a one-hour MP3
 *   audio_hour_peak_rss_bytes  the process's peak RSS after that hour (measured first, before the
 *                              images allocate anything, because RSS is process-wide)
 *   jpeg_12mp_ms               4000x3000 JPEG decode + gemma4v preprocessing, DCT scaling allowed
 *                              (what caption jobs do); jpeg_12mp_exact_ms with full-size decoding
 *   png_12mp_ms                4000x3000 PNG decode + preprocessing
 *
 * The hour of audio is made at run time with the ffmpeg command-line tool (Debian's `ffmpeg`
 * package): 44.1 kHz stereo speech-like tones and noise at 128 kbit/s, what a phone or a recorder
 * writes, so resampling and downmixing are measured too.  It lives in a scratch folder under
 * $TMPDIR that is removed afterwards; --audio FILE measures a recording of yours instead.
 * Not run by the test suite.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "decoders.h"

/* Writes one hour of 16 kHz mono MP3 to path with ffmpeg; 0 or -1 (with the reason printed). */
static int make_hour_mp3(const char *path) {
    /* A 220 Hz tone whose loudness follows a slow 0.3 Hz envelope (speech-like pauses), with
     * pink-ish noise under it, so the encoder and the VAD see varied frames, not one repeated. */
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execlp("ffmpeg", "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
               "aevalsrc='0.4*sin(2*PI*220*t)*abs(sin(2*PI*0.3*t))+0.05*(random(0)-0.5)|0.3*sin(2*PI*330*t)*abs(sin(2*PI*0.2*t))+0.05*(random(1)-0.5)':s=44100:d=3600",
               "-c:a", "libmp3lame", "-b:a", "128k", path, (char *)NULL);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        cli_error("bench decode: could not make the one-hour MP3 with ffmpeg (%s); install Debian's "
                  "'ffmpeg' package or pass --audio FILE",
                  WIFEXITED(st) && WEXITSTATUS(st) == 127 ? "ffmpeg not found" : "ffmpeg failed");
        return -1;
    }
    return 0;
}

int bench_decode(const cli *c) {
    const char *tmp = getenv("TMPDIR");
    char *dir = mm_asprintf("%s/mmpipe-bench-decode-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!dir || !mkdtemp(dir)) {
        cli_error("bench decode: cannot create a scratch folder under %s", tmp && *tmp ? tmp : "/tmp");
        free(dir);
        return EXIT_FATAL;
    }
    char *mp3 = mm_asprintf("%s/hour.mp3", dir);
    const char *audio = c->audio ? c->audio : mp3;
    int rc = EXIT_FATAL;
    mm_err e = {0};
    mm_audio_bench ab;
    mm_image_bench ib;
    if (!c->audio) {
        if (!c->quiet && !c->json) fprintf(stderr, "making one hour of MP3 with ffmpeg...\n");
        if (make_hour_mp3(mp3)) goto out;
    }
    if (mm_audio_bench_file(audio, &ab, &e) != MM_OK) {
        cli_error("bench decode: %s", e.msg);
        goto out;
    }
    if (mm_image_bench_12mp(dir, 3, &ib, &e) != MM_OK) {
        cli_error("bench decode: %s", e.msg);
        goto out;
    }
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "jpeg_12mp_ms", ib.jpeg_ms);
        cJSON_AddNumberToObject(o, "jpeg_12mp_exact_ms", ib.jpeg_exact_ms);
        cJSON_AddNumberToObject(o, "png_12mp_ms", ib.png_ms);
        cJSON_AddNumberToObject(o, "image_tokens", ib.n_tokens);
        cJSON_AddNumberToObject(o, "audio_realtime_factor", ab.realtime_factor);
        cJSON_AddNumberToObject(o, "audio_hour_peak_rss_bytes", (double)ab.peak_rss_bytes);
        cJSON_AddNumberToObject(o, "audio_seconds", ab.audio_seconds);
        cJSON_AddNumberToObject(o, "audio_cpu_seconds", ab.cpu_seconds);
        cJSON_AddNumberToObject(o, "audio_pieces", (double)ab.n_pieces);
        char *s = cJSON_PrintUnformatted(o);
        if (s) puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("%-34s %10s\n", "decode + preprocess", "figure");
        printf("%-34s %10.1f ms\n", "JPEG 4000x3000 (DCT scaling)", ib.jpeg_ms);
        printf("%-34s %10.1f ms\n", "JPEG 4000x3000 (full size)", ib.jpeg_exact_ms);
        printf("%-34s %10.1f ms\n", "PNG 4000x3000", ib.png_ms);
        printf("%-34s %10d\n", "  soft tokens per picture", ib.n_tokens);
        printf("%-34s %10.0f x real time (%.0f s audio, %.2f s CPU, %zu pieces)\n",
               "audio decode + log-mel", ab.realtime_factor, ab.audio_seconds, ab.cpu_seconds,
               ab.n_pieces);
        printf("%-34s %10.1f MB\n", "  peak RSS after the hour", ab.peak_rss_bytes / 1e6);
    }
    rc = EXIT_OK;
out:
    unlink(mp3);
    rmdir(dir);
    free(mp3);
    free(dir);
    return rc;
}
