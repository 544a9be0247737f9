/*
 * tests/decoders/test_audio_fixtures.c — the audio cases of ../shared/fixtures: decodes each
 * case's medium with mm_audio (FFmpeg + swresample), cuts it into 30 s pieces with
 * mm_audio_read_piece, computes each piece's log-mel with mm_mel_compute and compares it with the
 * case's media_input[i] by the rule of ../shared/tools/compare_fixtures.py: relative RMS
 * (sqrt(mean Δ²) / sqrt(mean ref²)) <= media_input_rel_rms (default 1e-3), same shape, or the
 * common frames when the case sets media_input_overlap.  Also checks the piece count, each
 * piece's sample count (where the resampler does not change it) and token count.
 * Skips (exit 77) when ../shared is absent.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/test.h"
#include "decoders.h"

#define PACK MMPIPE_SHARED_DIR "/fixtures"

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[len] = 0;
    if (n) *n = (size_t)len;
    return b;
}

/* rel RMS of got vs ref over frames [0, t) of [n_mel][T] matrices with strides tg / tr. */
static double rel_rms(const float *got, size_t tg, const float *ref, size_t tr, int n_mel, size_t t,
                      double *max_abs) {
    double d2 = 0, r2 = 0;
    *max_abs = 0;
    for (int m = 0; m < n_mel; m++)
        for (size_t i = 0; i < t; i++) {
            double r = ref[(size_t)m * tr + i], d = got[(size_t)m * tg + i] - r;
            d2 += d * d;
            r2 += r * r;
            if (fabs(d) > *max_abs) *max_abs = fabs(d);
        }
    return sqrt(d2 / (double)(n_mel * t)) / sqrt(r2 / (double)(n_mel * t));
}

/* One piece against its reference spec {"file", "shape": [n_mel, T]}. */
static void check_piece(const char *cname, int i, const cJSON *spec, const float *feat, size_t T,
                        int n_mel, double tol, int overlap) {
    const cJSON *shape = cJSON_GetObjectItem(spec, "shape");
    const int rm = cJSON_GetArrayItem(shape, 0)->valueint;
    const size_t rt = (size_t)cJSON_GetArrayItem(shape, 1)->valuedouble;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", PACK, cJSON_GetObjectItem(spec, "file")->valuestring);
    size_t nb;
    float *ref = (float *)slurp(path, &nb);
    CHECK(ref && nb == (size_t)rm * rt * 4, "%s: cannot read %s", cname, path);
    CHECK(rm == n_mel, "%s piece %d: %d mel bins, reference %d", cname, i, n_mel, rm);
    if (!ref || rm != n_mel) {
        free(ref);
        return;
    }
    CHECK(T == rt || overlap, "%s piece %d: %zu frames, reference %zu", cname, i, T, rt);
    const size_t t = T < rt ? T : rt;
    double mx, rr = rel_rms(feat, T, ref, rt, n_mel, t, &mx);
    fprintf(stderr, "%-36s piece %d: %4zu frames (ref %4zu)  rel_rms %.2e  max|d| %.2e  (tol %.2g)\n",
            cname, i, T, rt, rr, mx, tol);
    CHECK(rr <= tol, "%s piece %d: rel_rms %.3e > %.1e", cname, i, rr, tol);
    free(ref);
}

static void run_case(const char *json_path, const mm_mel *mel) {
    char *txt = slurp(json_path, NULL);
    cJSON *c = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    CHECK(c, "cannot parse %s", json_path);
    if (!c) return;
    const char *cname = cJSON_GetObjectItem(c, "case")->valuestring;
    const cJSON *mi = cJSON_GetObjectItem(c, "media_input");
    const cJSON *pieces = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "audio"), "pieces");
    const cJSON *tolj = cJSON_GetObjectItem(c, "media_input_rel_rms");
    const double tol = tolj ? tolj->valuedouble : 1e-3;
    const int overlap = cJSON_IsTrue(cJSON_GetObjectItem(c, "media_input_overlap"));
    char media[1024];
    snprintf(media, sizeof media, "%s/%s", PACK,
             cJSON_GetArrayItem(cJSON_GetObjectItem(c, "media"), 0)->valuestring);
    mm_audio *a;
    mm_err e;
    mm_code rc = mm_audio_open(media, NULL, &a, &e);
    CHECK(rc == MM_OK, "%s: %s", cname, e.msg);
    if (rc) {
        cJSON_Delete(c);
        return;
    }
    float *pcm = malloc(MM_AUDIO_PIECE_SAMPLES * sizeof(float));
    const size_t fcap = mm_mel_n_frames(mel, MM_AUDIO_PIECE_SAMPLES) * 128;
    float *feat = malloc(fcap * sizeof(float));
    size_t got, T;
    int i = 0;
    while ((rc = mm_audio_read_piece(a, pcm, MM_AUDIO_PIECE_SAMPLES, &got, &e)) == MM_OK && got) {
        const cJSON *spec = cJSON_GetArrayItem(mi, i), *pc = cJSON_GetArrayItem(pieces, i);
        CHECK(spec && pc, "%s: more pieces than the reference (%d)", cname, i + 1);
        if (!spec || !pc) break;
        const size_t want = (size_t)cJSON_GetObjectItem(pc, "n_samples")->valuedouble;
        CHECK(got == want || overlap, "%s piece %d: %zu samples, reference %zu", cname, i, got, want);
        rc = mm_mel_compute(mel, pcm, got, feat, fcap, &T, &e);
        CHECK(rc == MM_OK, "%s: %s", cname, e.msg);
        const size_t ntok = (size_t)cJSON_GetObjectItem(pc, "n_tokens")->valuedouble;
        CHECK(mm_mel_n_tokens(T) == ntok, "%s piece %d: %zu tokens, reference %zu", cname, i,
              mm_mel_n_tokens(T), ntok);
        if (!rc) check_piece(cname, i, spec, feat, T, 128, tol, overlap);
        i++;
    }
    CHECK(rc == MM_OK, "%s: %s", cname, e.msg);
    CHECK(i == cJSON_GetArraySize(mi), "%s: %d pieces, reference %d", cname, i, cJSON_GetArraySize(mi));
    free(pcm);
    free(feat);
    mm_audio_close(a);
    cJSON_Delete(c);
}

int main(void) {
    DIR *d = opendir(PACK "/cases");
    if (!d) {
        fprintf(stderr, "SKIP: %s/cases not found (../shared is absent)\n", PACK);
        return 77;
    }
    mm_mel *mel;
    mm_err e;
    CHECK(mm_mel_create(NULL, &mel, &e) == MM_OK, "%s", e.msg);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        size_t L = strlen(de->d_name);
        if (strncmp(de->d_name, "audio-", 6) || L < 5 || strcmp(de->d_name + L - 5, ".json")) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/cases/%s", PACK, de->d_name);
        run_case(p, mel);
        n++;
    }
    closedir(d);
    CHECK(n >= 7, "only %d audio cases found", n);
    mm_mel_free(mel);
    return test_done("test_audio_fixtures");
}
