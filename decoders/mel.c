/*
 * decoders/mel.c — log-mel features for Gemma 4's audio tower, computed as llama.cpp's
 * mtmd_audio_preprocessor_gemma4a does (tools/mtmd/mtmd-audio.cpp at de3ff81; gemma4-spec §5.3):
 *
 *   piece of N samples s[0..N)  ->  x = [pad_left zeros] ++ s ++ zeros
 *   T = (N + pad_left - (win_len + 1)) / hop + 1        (C division; N = 1 gives 0 -> refused)
 *   frame t: f[i] = x[t*hop + i] * w[i], i < n_fft;  w = periodic Hann of win_len, 0 past it
 *   |FFT_n_fft(f)|[k], k = 0..n_fft/2  ->  mel[m] = Σ_k fb[m][k] |X[k]|  ->  ln(max(mel, floor))
 *   out[m * T + t]                                       ([n_mel][T], llama.cpp's data layout)
 *
 * The window is computed in float exactly as llama.cpp (0.5f - 0.5f*cosf(2π i / win_len)); the
 * filterbank in double and stored as float as its fill_mel_filterbank_matrix does (HTK mel,
 * n_mel + 2 edges equally spaced in mel, triangles evaluated in Hz at k·rate/n_fft, no area
 * normalisation).  Speed: each triangle keeps only its non-zero bin range, the FFT is a real FFT
 * (fft.c), frames touch only the win_len non-zero window taps.
 */
#include "audio_internal.h"
#include "decoders.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MEL_MAX_FFT 2048 /* scratch lives on the stack: 4 arrays of this many floats */

/* One triangle: weights w[0..len) for bins lo..lo+len-1 (all other bins are 0). */
typedef struct mel_band {
    int lo, len;
    const float *w;
} mel_band;

struct mm_mel {
    mm_mel_params p;
    int n_bins;        /* n_fft/2 + 1 */
    float *window;     /* [win_len] (taps past win_len are 0 and skipped) */
    mel_band *bands;   /* [n_mel] */
    float *weights;    /* the bands' weights, back to back */
    mm_fft *fft;
};

mm_mel_params mm_mel_params_gemma4a(void) {
    return (mm_mel_params){.sample_rate = 16000, .n_fft = 512, .win_len = 320, .hop = 160,
                           .pad_left = 160, .n_mel = 128, .fmin = 0.0, .fmax = 8000.0,
                           .floor = 1e-3};
}

static mm_code params_check(const mm_mel_params *p, mm_err *e) {
    if (p->sample_rate <= 0 || p->n_fft < 4 || p->n_fft > MEL_MAX_FFT || (p->n_fft & (p->n_fft - 1)))
        return mm_err_set(e, MM_EINVAL, "log-mel: n_fft %d is not a power of two in 4..%d",
                          p->n_fft, MEL_MAX_FFT);
    if (p->win_len <= 0 || p->win_len > p->n_fft || p->hop <= 0 || p->pad_left < 0)
        return mm_err_set(e, MM_EINVAL, "log-mel: bad window %d / hop %d / pad %d for n_fft %d",
                          p->win_len, p->hop, p->pad_left, p->n_fft);
    if (p->n_mel <= 0 || p->n_mel > 1024 || !(p->fmin >= 0) || !(p->fmax > p->fmin) || !(p->floor > 0))
        return mm_err_set(e, MM_EINVAL, "log-mel: bad n_mel %d / range %g..%g / floor %g", p->n_mel,
                          p->fmin, p->fmax, p->floor);
    return MM_OK;
}

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

/* llama.cpp's triangle weight for filter m at frequency f (edges hz[m], hz[m+1], hz[m+2]). */
static float tri_weight(const double *hz, int m, double f) {
    const double l = hz[m], c = hz[m + 1], r = hz[m + 2];
    const double dl = fmax(1e-30, c - l), dr = fmax(1e-30, r - c);
    double w = 0.0;
    if (f >= l && f <= c)
        w = (f - l) / dl;
    else if (f > c && f <= r)
        w = (r - f) / dr;
    return (float)w;
}

/* Fills m->bands / m->weights: every filter's contiguous non-zero range of bins. */
static mm_code build_filterbank(mm_mel *m, mm_err *e) {
    const mm_mel_params *p = &m->p;
    const int nm = p->n_mel, nb = m->n_bins;
    double *hz = malloc(sizeof(double) * (size_t)(nm + 2));
    m->bands = calloc((size_t)nm, sizeof *m->bands);
    m->weights = calloc((size_t)nm * (size_t)nb, sizeof(float)); /* upper bound, trimmed below */
    if (!hz || !m->bands || !m->weights) {
        free(hz);
        return mm_err_set(e, MM_ENOMEM, "log-mel: out of memory for the filterbank");
    }
    const double lo = hz_to_mel(p->fmin), hi = hz_to_mel(p->fmax);
    for (int i = 0; i < nm + 2; i++) hz[i] = mel_to_hz(lo + (hi - lo) * ((double)i / (nm + 1)));
    const double bin_hz = (double)p->sample_rate / (double)p->n_fft;
    size_t used = 0;
    for (int b = 0; b < nm; b++) {
        int first = -1, last = -1;
        for (int k = 0; k < nb; k++)
            if (tri_weight(hz, b, k * bin_hz) != 0.0f) {
                if (first < 0) first = k;
                last = k;
            }
        mel_band *band = &m->bands[b];
        band->lo = first < 0 ? 0 : first;
        band->len = first < 0 ? 0 : last - first + 1;
        float *w = m->weights + used;
        for (int k = 0; k < band->len; k++) w[k] = tri_weight(hz, b, (band->lo + k) * bin_hz);
        band->w = w;
        used += (size_t)band->len;
    }
    free(hz);
    return MM_OK;
}

mm_code mm_mel_create(const mm_mel_params *pp, mm_mel **out, mm_err *e) {
    *out = NULL;
    const mm_mel_params p = pp ? *pp : mm_mel_params_gemma4a();
    mm_code rc = params_check(&p, e);
    if (rc) return rc;
    mm_mel *m = calloc(1, sizeof *m);
    if (!m) return mm_err_set(e, MM_ENOMEM, "log-mel: out of memory");
    m->p = p;
    m->n_bins = p.n_fft / 2 + 1;
    m->window = malloc(sizeof(float) * (size_t)p.win_len);
    m->fft = mm_fft_plan(p.n_fft);
    if (!m->window || !m->fft) {
        mm_mel_free(m);
        return mm_err_set(e, MM_ENOMEM, "log-mel: out of memory");
    }
    for (int i = 0; i < p.win_len; i++) /* float, as llama.cpp's gemma4a initialize() */
        m->window[i] = 0.5f - 0.5f * cosf((2.0f * (float)M_PI * (float)i) / (float)p.win_len);
    if ((rc = build_filterbank(m, e))) {
        mm_mel_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

void mm_mel_free(mm_mel *m) {
    if (!m) return;
    free(m->window);
    free(m->bands);
    free(m->weights);
    mm_fft_free(m->fft);
    free(m);
}

const mm_mel_params *mm_mel_get_params(const mm_mel *m) { return &m->p; }

size_t mm_mel_n_frames(const mm_mel *m, size_t n) {
    if (n < 2 || n > (size_t)1 << 40) return 0;
    /* llama.cpp: pt_frames = (n + pad_left - (win_len + 1)) / hop + 1, int division truncating
     * toward zero, so a negative numerator above -hop still gives 1 frame. */
    const long long num = (long long)n + m->p.pad_left - (m->p.win_len + 1);
    const long long t = num / m->p.hop + 1;
    return t > 0 ? (size_t)t : 0;
}

size_t mm_mel_n_tokens(size_t t) {
    if (!t) return 0;
    t = (t - 1) / 2 + 1;
    return (t - 1) / 2 + 1;
}

/* Windowed frame t of the padded piece into f[0..n_fft): f[i] = x[t*hop + i] * w[i]. */
static void frame_windowed(const mm_mel *m, const float *pcm, size_t n, size_t t, float *f) {
    const int wl = m->p.win_len;
    const long long start = (long long)t * m->p.hop - m->p.pad_left; /* index into pcm */
    if (start >= 0 && (size_t)start + (size_t)wl <= n) { /* interior frame: no padding */
        const float *x = pcm + start;
        for (int i = 0; i < wl; i++) f[i] = x[i] * m->window[i];
    } else
        for (int i = 0; i < wl; i++) {
            const long long j = start + i;
            f[i] = (j >= 0 && (size_t)j < n) ? pcm[j] * m->window[i] : 0.0f;
        }
    memset(f + wl, 0, sizeof(float) * (size_t)(m->p.n_fft - wl));
}

/* One frame's n_mel log-mel values into out[b * T + t]. */
static void frame_logmel(const mm_mel *m, const float *frame, float *spec, float *scratch,
                         float *mag, float *out, size_t T, size_t t) {
    mm_fft_real(m->fft, frame, spec, scratch);
    for (int k = 0; k < m->n_bins; k++)
        mag[k] = sqrtf(spec[2 * k] * spec[2 * k] + spec[2 * k + 1] * spec[2 * k + 1]);
    for (int b = 0; b < m->p.n_mel; b++) {
        const mel_band *band = &m->bands[b];
        const float *mg = mag + band->lo;
        double sum = 0.0; /* float products summed in double, as llama.cpp */
        for (int k = 0; k < band->len; k++) sum += (double)(mg[k] * band->w[k]);
        if (sum < m->p.floor) sum = m->p.floor;
        out[(size_t)b * T + t] = (float)log(sum);
    }
}

mm_code mm_mel_compute(const mm_mel *m, const float *pcm, size_t n, float *out, size_t cap,
                       size_t *n_frames, mm_err *e) {
    const size_t T = mm_mel_n_frames(m, n);
    if (n_frames) *n_frames = T;
    if (!T)
        return mm_err_set(e, MM_EINVAL, "log-mel: a piece of %zu sample%s has no frame", n,
                          n == 1 ? "" : "s");
    if (cap / (size_t)m->p.n_mel < T)
        return mm_err_set(e, MM_EINVAL, "log-mel: output holds %zu floats, %zu x %d needed", cap,
                          T, m->p.n_mel);
    float frame[MEL_MAX_FFT], spec[MEL_MAX_FFT + 2], scratch[MEL_MAX_FFT], mag[MEL_MAX_FFT / 2 + 1];
    for (size_t t = 0; t < T; t++) {
        frame_windowed(m, pcm, n, t, frame);
        frame_logmel(m, frame, spec, scratch, mag, out, T, t);
    }
    return MM_OK;
}
