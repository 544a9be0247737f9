/*
 * decoders/fft.c — the FFT behind the log-mel features (mel.c): an iterative radix-2
 * decimation-in-time complex FFT in float, and a real FFT of n points computed as one complex
 * FFT of n/2 points plus the usual split step.  llama.cpp's mtmd-audio uses a recursive float
 * radix-2 FFT over a sinf/cosf table; this computes the same transform (twiddles are rounded
 * from double, so it is slightly more accurate).  Tested against a direct DFT in
 * tests/decoders/test_fft.c.
 */
#include "audio_internal.h"

#include <math.h>
#include <stdlib.h>

struct mm_fft {
    int n;      /* real transform size, power of two */
    float *cs;  /* cos(2πk/n), k < n/2 */
    float *sn;  /* sin(2πk/n), k < n/2 */
    float *tw;  /* per-stage twiddles for m = n/2: stage len at 2*(len/2-1), (cos, -sin) pairs */
    int *rev;   /* bit reversal of log2(n/2) bits, for the real FFT's n/2-point transform */
};

mm_fft *mm_fft_plan(int n) {
    if (n < 4 || n > (1 << 20) || (n & (n - 1))) return NULL;
    mm_fft *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->n = n;
    f->cs = malloc(sizeof(float) * (size_t)(n / 2));
    f->sn = malloc(sizeof(float) * (size_t)(n / 2));
    f->rev = malloc(sizeof(int) * (size_t)(n / 2));
    f->tw = malloc(sizeof(float) * (size_t)n);
    if (!f->cs || !f->sn || !f->rev || !f->tw) {
        mm_fft_free(f);
        return NULL;
    }
    for (int k = 0; k < n / 2; k++) {
        double th = 2.0 * M_PI * (double)k / (double)n;
        f->cs[k] = (float)cos(th);
        f->sn[k] = (float)sin(th);
    }
    for (int len = 2; len <= n / 2; len <<= 1) /* Σ len/2 over stages = n/2 - 1 pairs */
        for (int k = 0; k < len / 2; k++) {
            f->tw[2 * (len / 2 - 1) + 2 * k] = f->cs[k * (n / len)];
            f->tw[2 * (len / 2 - 1) + 2 * k + 1] = -f->sn[k * (n / len)];
        }
    for (int i = 0, j = 0, m = n / 2; i < m; i++) { /* j = bitrev(i), incremented from the top */
        f->rev[i] = j;
        int bit = m >> 1;
        while (bit && (j & bit)) {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
    }
    return f;
}

void mm_fft_free(mm_fft *f) {
    if (!f) return;
    free(f->cs);
    free(f->sn);
    free(f->rev);
    free(f->tw);
    free(f);
}

int mm_fft_size(const mm_fft *f) { return f->n; }

static void swap2(float *x, int i, int j) {
    float tr = x[2 * i], ti = x[2 * i + 1];
    x[2 * i] = x[2 * j];
    x[2 * i + 1] = x[2 * j + 1];
    x[2 * j] = tr;
    x[2 * j + 1] = ti;
}

/* x[2i], x[2i+1] = re, im; permuted into bit-reversed order of log2(m) bits (the plan's table
 * when m = n/2, computed on the way otherwise). */
static void bit_reverse(const mm_fft *f, float *x, int m) {
    if (m == f->n / 2) {
        for (int i = 0; i < m; i++)
            if (i < f->rev[i]) swap2(x, i, f->rev[i]);
        return;
    }
    for (int i = 0, j = 0; i < m; i++) {
        if (i < j) swap2(x, i, j);
        int bit = m >> 1;
        while (bit && (j & bit)) {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
    }
}

/* Radix-2 stages from len = 2 up; stage len uses twiddles e^{-2πik/len}, k < len/2, read from
 * the plan's per-stage contiguous table (tw + 2*(len/2 - 1): re/im pairs) when m = n/2. */
static void stages(const mm_fft *f, float *x, int m) {
    for (int i = 0; i < m; i += 2) { /* len 2: twiddle 1 */
        float *a = x + 2 * i, *b = a + 2;
        const float br = b[0], bi = b[1];
        b[0] = a[0] - br, b[1] = a[1] - bi;
        a[0] += br, a[1] += bi;
    }
    for (int len = 4; len <= m; len <<= 1) {
        const int half = len / 2, step = f->n / len;
        const float *tw = m == f->n / 2 ? f->tw + 2 * (half - 1) : NULL;
        for (int i = 0; i < m; i += len) {
            float *a = x + 2 * i, *b = a + 2 * half;
            for (int k = 0; k < half; k++) {
                const float wr = tw ? tw[2 * k] : f->cs[k * step];
                const float wi = tw ? tw[2 * k + 1] : -f->sn[k * step];
                const float tr = b[2 * k] * wr - b[2 * k + 1] * wi;
                const float ti = b[2 * k] * wi + b[2 * k + 1] * wr;
                b[2 * k] = a[2 * k] - tr;
                b[2 * k + 1] = a[2 * k + 1] - ti;
                a[2 * k] += tr;
                a[2 * k + 1] += ti;
            }
        }
    }
}

/* Forward complex FFT of m points (power of two, m <= plan n), in place, unscaled. */
void mm_fft_complex_n(const mm_fft *f, float *x, int m) {
    bit_reverse(f, x, m);
    stages(f, x, m);
}

/* out[2k], out[2k+1] = Re, Im of X[k] = Σ_j in[j] e^{-2πi jk/n}, k = 0..n/2.
 * z[j] = in[2j] + i·in[2j+1] (M = n/2 points); Z = FFT_M(z);
 * X[k] = E[k] + W^k O[k], E = (Z[k] + conj Z[M-k]) / 2, O = -i (Z[k] - conj Z[M-k]) / 2. */
void mm_fft_real(const mm_fft *f, const float *in, float *out, float *scratch) {
    const int n = f->n, M = n / 2;
    for (int j = 0; j < n; j++) scratch[j] = in[j];
    mm_fft_complex_n(f, scratch, M);
    for (int k = 0; k <= M; k++) {
        const int a = k % M, b = (M - k) % M;
        const float zr = scratch[2 * a], zi = scratch[2 * a + 1];
        const float cr = scratch[2 * b], ci = -scratch[2 * b + 1]; /* conj Z[M-k] */
        const float er = 0.5f * (zr + cr), ei = 0.5f * (zi + ci);
        const float or_ = 0.5f * (zi - ci), oi = -0.5f * (zr - cr); /* -i/2 (Z - conjZ) */
        float wr = 1.0f, wi = 0.0f;                                 /* W^k = e^{-2πik/n} */
        if (k < M) {
            wr = f->cs[k];
            wi = -f->sn[k];
        } else {
            wr = -1.0f;
        }
        out[2 * k] = er + (wr * or_ - wi * oi);
        out[2 * k + 1] = ei + (wr * oi + wi * or_);
    }
}
