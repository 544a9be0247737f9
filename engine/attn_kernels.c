/*
 * engine/attn_kernels.c — the attention primitives of the forward pass: scores
 * q . K over a transposed cache, the softmax over the visible span, and the
 * probability-weighted sum of V rows; each with a scalar reference and an AVX-512
 * (plus AVX2 for the scores) version that keeps the reference's order of
 * operations exactly, so every CPU level gives the same bits
 * (tests/fixtures/levels_identical.sh).
 *
 * Orders (the contract the SIMD code keeps):
 *   scores:  out[c] = fma chain over d = 0..hd-1, in order: s = fma(q[d], K[d][c], s)
 *            (K stored [dim][cells]; one rounding per step, as ggml's FMA kernels);
 *   softmax: ggml_vec_soft_max_f32 on AVX-512 — exp(x - max) by ggml_v_expf, 16 cells
 *            at a time from cell 0 (absolute), each group summed in float with halves
 *            folded (_mm512_reduce_add_ps), groups added in double, a tail shorter than
 *            16 by the C library's expf;
 *   values:  out[d] = fma chain over the span's cells c, in order: o = fma(p[c], V[c][d], o)
 *            (p rounded to F16 first for an F16 cache, as ggml does).  A cell with p == 0
 *            may be skipped or not: for finite V, fma(0, v, o) == o (o starts at +0 and
 *            never becomes -0), so the bits do not depend on it.
 * Fused multiply-adds halve the arithmetic of the two products that dominate prefill
 * attention; the scalar reference uses fmaf, which is exact on every CPU.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "engine_int.h"

/* ---- scores ---- */

static void qk_scalar(const float *q, const float *kt, int64_t stride, int hd, int n, float *out) {
    for (int c = 0; c < n; c++) {
        float s = 0;
        for (int d = 0; d < hd; d++) s = fmaf(q[d], kt[(int64_t)d * stride + c], s);
        out[c] = s;
    }
}

static void qk16_scalar(const float *q, const uint16_t *kt, int64_t stride, int hd, int n, float *out) {
    for (int c = 0; c < n; c++) {
        float s = 0;
        for (int d = 0; d < hd; d++) s = fmaf(q[d], mm_fp16_to_fp32(kt[(int64_t)d * stride + c]), s);
        out[c] = s;
    }
}

/* AVX-512: LOADM(p, m) loads the 16 cells at p whose mask bits are set (the others read as
 * 0 and never touch memory), so the last, partial block needs no scalar tail.  Four
 * independent sums of 16 cells each keep the FMA units busy (one chain would wait on its
 * own latency at every d). */
static inline __mmask16 lanes16(int r) { return r >= 16 ? (__mmask16)0xFFFF : r <= 0 ? 0 : (__mmask16)((1u << r) - 1); }

#define QK512_BODY(LOADM)                                                                       \
    for (int c = 0; c < n; c += 64) {                                                           \
        const __mmask16 m0 = lanes16(n - c), m1 = lanes16(n - c - 16), m2 = lanes16(n - c - 32), \
                        m3 = lanes16(n - c - 48);                                               \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                             \
        for (int d = 0; d < hd; d++) {                                                          \
            const __m512 qd = _mm512_set1_ps(q[d]);                                             \
            const int64_t o = (int64_t)d * stride + c;                                          \
            a0 = _mm512_fmadd_ps(qd, LOADM(kt + o, m0), a0);                                    \
            if (m1) a1 = _mm512_fmadd_ps(qd, LOADM(kt + o + 16, m1), a1);                       \
            if (m2) a2 = _mm512_fmadd_ps(qd, LOADM(kt + o + 32, m2), a2);                       \
            if (m3) a3 = _mm512_fmadd_ps(qd, LOADM(kt + o + 48, m3), a3);                       \
        }                                                                                       \
        _mm512_mask_storeu_ps(out + c, m0, a0);                                                 \
        _mm512_mask_storeu_ps(out + c + 16, m1, a1);                                            \
        _mm512_mask_storeu_ps(out + c + 32, m2, a2);                                            \
        _mm512_mask_storeu_ps(out + c + 48, m3, a3);                                            \
    }

#define LOADM_F32(p, m) _mm512_maskz_loadu_ps((m), (p))
#define LOADM_F16(p, m) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((m), (const void *)(p)))

__attribute__((target("avx512f,avx512bw,avx512vl"))) static void qk_avx512(const float *q, const float *kt,
                                                                           int64_t stride, int hd, int n, float *out) {
    QK512_BODY(LOADM_F32)
}

__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) static void qk16_avx512(const float *q, const uint16_t *kt,
                                                                                  int64_t stride, int hd, int n,
                                                                                  float *out) {
    QK512_BODY(LOADM_F16)
}

/* AVX2: eight cells per sum, four sums at once */
#define QK256_BODY(LOAD8, SCALAR)                                                               \
    int c = 0;                                                                                  \
    for (; c + 32 <= n; c += 32) {                                                              \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                             \
        for (int d = 0; d < hd; d++) {                                                          \
            const __m256 qd = _mm256_set1_ps(q[d]);                                             \
            const int64_t o = (int64_t)d * stride + c;                                          \
            a0 = _mm256_fmadd_ps(qd, LOAD8(kt + o), a0);                           \
            a1 = _mm256_fmadd_ps(qd, LOAD8(kt + o + 8), a1);                       \
            a2 = _mm256_fmadd_ps(qd, LOAD8(kt + o + 16), a2);                      \
            a3 = _mm256_fmadd_ps(qd, LOAD8(kt + o + 24), a3);                      \
        }                                                                                       \
        _mm256_storeu_ps(out + c, a0);                                                          \
        _mm256_storeu_ps(out + c + 8, a1);                                                      \
        _mm256_storeu_ps(out + c + 16, a2);                                                     \
        _mm256_storeu_ps(out + c + 24, a3);                                                     \
    }                                                                                           \
    for (; c + 8 <= n; c += 8) {                                                                \
        __m256 a0 = _mm256_setzero_ps();                                                        \
        for (int d = 0; d < hd; d++)                                                            \
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(q[d]), LOAD8(kt + (int64_t)d * stride + c), a0);     \
        _mm256_storeu_ps(out + c, a0);                                                          \
    }                                                                                           \
    if (c < n) SCALAR(q, kt + c, stride, hd, n - c, out + c);

#define LOAD8_F32(p) _mm256_loadu_ps(p)
#define LOAD8_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))

__attribute__((target("avx2,fma"))) static void qk_avx2(const float *q, const float *kt, int64_t stride, int hd, int n,
                                                    float *out) {
    QK256_BODY(LOAD8_F32, qk_scalar)
}

__attribute__((target("avx2,fma,f16c"))) static void qk16_avx2(const float *q, const uint16_t *kt, int64_t stride, int hd,
                                                           int n, float *out) {
    QK256_BODY(LOAD8_F16, qk16_scalar)
}

/* Four queries against the same cells (the heads of one KV group): each K vector is
 * loaded and converted once for the four; every score keeps its own sequential chain. */
#define QK512_X4_BODY(LOADM)                                                                    \
    for (int c = 0; c < n; c += 32) {                                                           \
        const __mmask16 m0 = lanes16(n - c), m1 = lanes16(n - c - 16);                          \
        __m512 a[4][2];                                                                         \
        for (int i = 0; i < 4; i++) a[i][0] = a[i][1] = _mm512_setzero_ps();                    \
        for (int d = 0; d < hd; d++) {                                                          \
            const int64_t o = (int64_t)d * stride + c;                                          \
            const __m512 k0 = LOADM(kt + o, m0), k1 = LOADM(kt + o + 16, m1);                   \
            for (int i = 0; i < 4; i++) {                                                       \
                const __m512 qd = _mm512_set1_ps(q[i][d]);                                      \
                a[i][0] = _mm512_fmadd_ps(qd, k0, a[i][0]);                                     \
                a[i][1] = _mm512_fmadd_ps(qd, k1, a[i][1]);                                     \
            }                                                                                   \
        }                                                                                       \
        for (int i = 0; i < 4; i++) {                                                           \
            _mm512_mask_storeu_ps(out[i] + c, m0, a[i][0]);                                     \
            _mm512_mask_storeu_ps(out[i] + c + 16, m1, a[i][1]);                                \
        }                                                                                       \
    }

__attribute__((target("avx512f,avx512bw,avx512vl"))) static void qk_x4_avx512(const float *const q[4], const float *kt,
                                                                              int64_t stride, int hd, int n,
                                                                              float *const out[4]) {
    QK512_X4_BODY(LOADM_F32)
}

__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) static void qk16_x4_avx512(const float *const q[4],
                                                                                     const uint16_t *kt, int64_t stride,
                                                                                     int hd, int n,
                                                                                     float *const out[4]) {
    QK512_X4_BODY(LOADM_F16)
}

/* Sixteen queries against the same cells (a tower's rows, which share one K): one K vector
 * feeds sixteen chains, so a K line is read once per sixteen multiply-adds instead of four; each
 * score keeps its own sequential chain over d, the bits of qk_avx512. */
#define QK512_X16_BODY(LOADM)                                                                   \
    for (int c = 0; c < n; c += 16) {                                                           \
        const __mmask16 m0 = lanes16(n - c);                                                    \
        __m512 a[16];                                                                           \
        for (int i = 0; i < 16; i++) a[i] = _mm512_setzero_ps();                                \
        for (int d = 0; d < hd; d++) {                                                          \
            const __m512 k0 = LOADM(kt + (int64_t)d * stride + c, m0);                          \
            for (int i = 0; i < 16; i++) a[i] = _mm512_fmadd_ps(_mm512_set1_ps(q[i][d]), k0, a[i]); \
        }                                                                                       \
        for (int i = 0; i < 16; i++) _mm512_mask_storeu_ps(out[i] + c, m0, a[i]);               \
    }

__attribute__((target("avx512f,avx512bw,avx512vl"))) static void qk_x16_avx512(const float *const q[16],
                                                                               const float *kt, int64_t stride,
                                                                               int hd, int n, float *const out[16]) {
    QK512_X16_BODY(LOADM_F32)
}

__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) static void qk16_x16_avx512(const float *const q[16],
                                                                                      const uint16_t *kt,
                                                                                      int64_t stride, int hd, int n,
                                                                                      float *const out[16]) {
    QK512_X16_BODY(LOADM_F16)
}

void mm_qk_group(const float *const q[], int nq, const void *kt, int f16, int64_t stride, int hd, int n,
                 float *const out[]) {
    int i = 0;
    if (mm_cpu_level() >= 2) {
        for (; i + 16 <= nq; i += 16) {
            if (f16) qk16_x16_avx512(q + i, kt, stride, hd, n, out + i);
            else qk_x16_avx512(q + i, kt, stride, hd, n, out + i);
        }
        for (; i + 4 <= nq; i += 4) {
            if (f16) qk16_x4_avx512(q + i, kt, stride, hd, n, out + i);
            else qk_x4_avx512(q + i, kt, stride, hd, n, out + i);
        }
    }
    for (; i < nq; i++) {
        if (f16) mm_qk_f16(q[i], kt, stride, hd, n, out[i]);
        else mm_qk_f32(q[i], kt, stride, hd, n, out[i]);
    }
}

void mm_qk_f32(const float *q, const float *kt, int64_t stride, int hd, int n, float *out) {
    int lv = mm_cpu_level();
    if (lv >= 2) qk_avx512(q, kt, stride, hd, n, out);
    else if (lv == 1) qk_avx2(q, kt, stride, hd, n, out);
    else qk_scalar(q, kt, stride, hd, n, out);
}

void mm_qk_f16(const float *q, const uint16_t *kt, int64_t stride, int hd, int n, float *out) {
    int lv = mm_cpu_level();
    if (lv >= 2) qk16_avx512(q, kt, stride, hd, n, out);
    else if (lv == 1) qk16_avx2(q, kt, stride, hd, n, out);
    else qk16_scalar(q, kt, stride, hd, n, out);
}

/* y = x rounded to F16 and back (F16C rounds to nearest even, as mm_fp32_to_fp16) */
__attribute__((target("avx2,f16c"))) static void round_f16_f16c(float *y, const float *x, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++) y[i] = mm_fp16_to_fp32(mm_fp32_to_fp16(x[i]));
}

void mm_round_f16(float *y, const float *x, int n) {
    if (mm_cpu_level() >= 1) round_f16_f16c(y, x, n);
    else
        for (int i = 0; i < n; i++) y[i] = mm_fp16_to_fp32(mm_fp32_to_fp16(x[i]));
}

/* ---- softmax ---- */

/* ggml_v_expf on 16 lanes, with mm_expf_ggml's answer for |n| > 192 and NaN (0, or inf
 * when n > 0): the same fused steps, so the same bits as the scalar function. */
__attribute__((target("avx512f"))) static inline __m512 expf16(__m512 x) {
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    const __m512 res = _mm512_scalef_ps(j, n);
    const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f), _CMP_NLE_UQ);
    if (!big) return res;
    const __mmask16 pos = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_GT_OQ);
    const __m512 alt = _mm512_mask_blend_ps(pos, _mm512_setzero_ps(), _mm512_set1_ps(INFINITY));
    return _mm512_mask_blend_ps(big, res, alt);
}

/* SiLU on rows: x / (1 + exp(-x)) with ggml's exp, 16 lanes at a time (the division is IEEE
 * on both sides, so the bits are mm_silu's); the activation of the llama FFN and the audio tower. */
__attribute__((target("avx512f"))) static void silu_avx512(float *x, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        _mm512_storeu_ps(x + i, _mm512_div_ps(v, _mm512_add_ps(one, expf16(_mm512_sub_ps(_mm512_setzero_ps(), v)))));
    }
    for (; i < n; i++) x[i] = mm_silu(x[i]);
}

void mm_silu_rows(float *x, int64_t n) {
    if (mm_cpu_level() >= 2) silu_avx512(x, n);
    else
        for (int64_t i = 0; i < n; i++) x[i] = mm_silu(x[i]);
}

/* _mm512_reduce_add_ps's folding: lanes k and k+8, then k+4, k+2, k+1 */
__attribute__((target("avx512f"))) static inline float fold16(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
}

/* Groups [g0, g1) of 16 (absolute) of x: exp(x - max) in place, sum in double. */
static double exp_groups_scalar(float *x, int64_t g0, int64_t g1, float max) {
    double sum = 0.0;
    for (int64_t g = g0; g < g1; g++) {
        float v[16];
        for (int k = 0; k < 16; k++) x[16 * g + k] = v[k] = mm_expf_ggml(x[16 * g + k] - max);
        for (int w = 8; w >= 1; w /= 2)
            for (int k = 0; k < w; k++) v[k] = v[k] + v[k + w];
        sum += (double)v[0];
    }
    return sum;
}

__attribute__((target("avx512f"))) static double exp_groups_avx512(float *x, int64_t g0, int64_t g1,
                                                                            float max) {
    double sum = 0.0;
    const __m512 mx = _mm512_set1_ps(max);
    for (int64_t g = g0; g < g1; g++) {
        __m512 v = expf16(_mm512_sub_ps(_mm512_loadu_ps(x + 16 * g), mx));
        _mm512_storeu_ps(x + 16 * g, v);
        sum += (double)fold16(v);
    }
    return sum;
}

/* Softmax of x[0..n) when every cell outside [lo, hi) is -inf: only the span (widened
 * to its groups of 16) is read and written, with the sums the whole row would give
 * (the -inf cells add exact zeros).  Cells outside [lo, hi) are left as they were. */
/* max over x[lo, hi) ignoring NaN, as `if (x > max) max = x` does (the value is exact, so
 * any order gives it) */
__attribute__((target("avx512f"))) static float span_max_avx512(const float *x, int64_t lo, int64_t hi) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    int64_t i = lo;
    for (; i + 16 <= hi; i += 16) m = _mm512_max_ps(_mm512_loadu_ps(x + i), m); /* NaN in x: keeps m */
    float max = _mm512_reduce_max_ps(m);
    for (; i < hi; i++)
        if (x[i] > max) max = x[i];
    return max;
}

__attribute__((target("avx512f"))) static void span_scale_avx512(float *x, int64_t lo, int64_t hi, float s) {
    const __m512 v = _mm512_set1_ps(s);
    int64_t i = lo;
    for (; i + 16 <= hi; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), v));
    for (; i < hi; i++) x[i] *= s;
}

void mm_softmax_span(float *x, int64_t n, int64_t lo, int64_t hi) {
    if (hi <= lo) return;
    const int simd = mm_cpu_level() >= 2;
    float max = -INFINITY;
    if (simd) max = span_max_avx512(x, lo, hi);
    else
        for (int64_t i = lo; i < hi; i++)
            if (x[i] > max) max = x[i];
    const int64_t n16 = n / 16, g0 = lo / 16, g1 = (hi + 15) / 16 < n16 ? (hi + 15) / 16 : n16;
    /* cells of the widened groups outside the span must read as -inf */
    float save_lo[16], save_hi[16];
    const int64_t a = g0 * 16, b = g1 * 16;
    int nlo = 0, nhi = 0;
    if (g1 > g0) {
        for (int64_t i = a; i < lo; i++) save_lo[nlo] = x[i], x[i] = -INFINITY, nlo++;
        for (int64_t i = hi; i < b; i++) save_hi[nhi] = x[i], x[i] = -INFINITY, nhi++;
    }
    double sum = g1 > g0 ? (mm_cpu_level() >= 2 ? exp_groups_avx512(x, g0, g1, max)
                                                                    : exp_groups_scalar(x, g0, g1, max))
                         : 0.0;
    for (int64_t i = n16 * 16 > lo ? n16 * 16 : lo; i < hi; i++) { /* the tail past the last group */
        float v = expf(x[i] - max);
        sum += (double)v;
        x[i] = v;
    }
    const float inv = sum > 0 ? (float)(1.0 / sum) : 0.0f;
    if (simd) span_scale_avx512(x, lo, hi, inv);
    else
        for (int64_t k = lo; k < hi; k++) x[k] *= inv;
    for (int k = 0; k < nlo; k++) x[a + k] = save_lo[k];
    for (int k = 0; k < nhi; k++) x[hi + k] = save_hi[k];
}

void mm_softmax(float *x, int64_t n) { mm_softmax_span(x, n, 0, n); }

/* ---- values ---- */

static void av_scalar(float *out, const float *p, int lo, int hi, const float *V, int64_t ld, int hd, int accum) {
    if (!accum) memset(out, 0, (size_t)hd * sizeof(float));
    for (int c = lo; c < hi; c++)
        if (p[c] != 0.0f)
            for (int d = 0; d < hd; d++) out[d] = fmaf(p[c], V[(int64_t)c * ld + d], out[d]);
}

static void av16_scalar(float *out, const float *p, int lo, int hi, const uint16_t *V, int64_t ld, int hd,
                        int accum) {
    if (!accum) memset(out, 0, (size_t)hd * sizeof(float));
    for (int c = lo; c < hi; c++)
        if (p[c] != 0.0f) {
            const float pc = mm_fp16_to_fp32(mm_fp32_to_fp16(p[c]));
            for (int d = 0; d < hd; d++) out[d] = fmaf(pc, mm_fp16_to_fp32(V[(int64_t)c * ld + d]), out[d]);
        }
}

/* 256 output dims (16 registers) held across all cells; LOADV(c, k): V[c][16k..16k+15] as floats */
#define AV512_CHUNK(NV, LOADV, PROUND)                                                          \
    do {                                                                                        \
        __m512 acc[NV];                                                                         \
        for (int k = 0; k < NV; k++) acc[k] = accum ? _mm512_loadu_ps(out + 16 * k) : _mm512_setzero_ps(); \
        for (int c = lo; c < hi; c++) {                                                         \
            if (p[c] == 0.0f) continue;                                                         \
            const __m512 pc = _mm512_set1_ps(PROUND(p[c]));                                     \
            for (int k = 0; k < NV; k++) acc[k] = _mm512_fmadd_ps(pc, LOADV(c, k), acc[k]);             \
        }                                                                                       \
        for (int k = 0; k < NV; k++) _mm512_storeu_ps(out + 16 * k, acc[k]);                    \
    } while (0)

#define P_AS_IS(x) (x)
#define P_F16(x) _cvtsh_ss(_cvtss_sh((x), 0)) /* round to nearest even, as mm_fp32_to_fp16 */
#define LOADV_F32(c, k) _mm512_loadu_ps(V + (int64_t)(c) * ld + 16 * (k))
#define LOADV_F16(c, k) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(V + (int64_t)(c) * ld + 16 * (k))))

/* out[0..hd) for hd a multiple of 16, in chunks of 256, 128, 64 or 16 dims */
#define AV512_BODY(LOADV, PROUND)                                                               \
    while (hd >= 256) { AV512_CHUNK(16, LOADV, PROUND); out += 256; V += 256; hd -= 256; }      \
    if (hd >= 128) { AV512_CHUNK(8, LOADV, PROUND); out += 128; V += 128; hd -= 128; }           \
    if (hd >= 64) { AV512_CHUNK(4, LOADV, PROUND); out += 64; V += 64; hd -= 64; }               \
    while (hd >= 16) { AV512_CHUNK(1, LOADV, PROUND); out += 16; V += 16; hd -= 16; }

__attribute__((target("avx512f"))) static void av_avx512(float *out, const float *p, int lo, int hi, const float *V,
                                                         int64_t ld, int hd, int accum) {
    AV512_BODY(LOADV_F32, P_AS_IS)
}

__attribute__((target("avx512f,f16c"))) static void av16_avx512(float *out, const float *p, int lo, int hi,
                                                                const uint16_t *V, int64_t ld, int hd, int accum) {
    AV512_BODY(LOADV_F16, P_F16)
}

/* Four heads of one KV group against the same V rows: tiles of 64 dims x 4 heads (16
 * accumulators), each V vector loaded and converted once for the four.  p is already
 * rounded to F16 for an F16 cache (mm_attn_av_group does it once per row). */
#define AV512_X4_TILE(NV, LOADV)                                                                \
    do {                                                                                        \
        __m512 acc[4][NV];                                                                      \
        for (int i = 0; i < 4; i++)                                                             \
            for (int k = 0; k < NV; k++) acc[i][k] = accum ? _mm512_loadu_ps(out[i] + o + 16 * k) : _mm512_setzero_ps(); \
        for (int c = lo; c < hi; c++) {                                                         \
            if (p[0][c] == 0.0f && p[1][c] == 0.0f && p[2][c] == 0.0f && p[3][c] == 0.0f) continue; \
            const __m512 b0 = _mm512_set1_ps(p[0][c]), b1 = _mm512_set1_ps(p[1][c]);            \
            const __m512 b2 = _mm512_set1_ps(p[2][c]), b3 = _mm512_set1_ps(p[3][c]);            \
            for (int k = 0; k < NV; k++) {                                                      \
                const __m512 v = LOADV(c, k);                                                   \
                acc[0][k] = _mm512_fmadd_ps(b0, v, acc[0][k]);                                  \
                acc[1][k] = _mm512_fmadd_ps(b1, v, acc[1][k]);                                  \
                acc[2][k] = _mm512_fmadd_ps(b2, v, acc[2][k]);                                  \
                acc[3][k] = _mm512_fmadd_ps(b3, v, acc[3][k]);                                  \
            }                                                                                   \
        }                                                                                       \
        for (int i = 0; i < 4; i++)                                                             \
            for (int k = 0; k < NV; k++) _mm512_storeu_ps(out[i] + o + 16 * k, acc[i][k]);      \
    } while (0)

#define LOADVO_F32(c, k) _mm512_loadu_ps(V + (int64_t)(c) * ld + o + 16 * (k))
#define LOADVO_F16(c, k) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(V + (int64_t)(c) * ld + o + 16 * (k))))

__attribute__((target("avx512f"))) static void av_x4_avx512(float *const out[4], const float *const p[4], int lo,
                                                            int hi, const float *V, int64_t ld, int hd, int accum) {
    int o = 0;
    for (; o + 64 <= hd; o += 64) AV512_X4_TILE(4, LOADVO_F32);
    for (; o + 16 <= hd; o += 16) AV512_X4_TILE(1, LOADVO_F32);
}

__attribute__((target("avx512f,f16c"))) static void av16_x4_avx512(float *const out[4], const float *const p[4],
                                                                   int lo, int hi, const uint16_t *V, int64_t ld,
                                                                   int hd, int accum) {
    int o = 0;
    for (; o + 64 <= hd; o += 64) AV512_X4_TILE(4, LOADVO_F16);
    for (; o + 16 <= hd; o += 16) AV512_X4_TILE(1, LOADVO_F16);
}

void mm_attn_av_group_acc(float *const out[], float *const p[], int nh, int lo, int hi, const void *V, int f16,
                          int64_t ld, int hd, int accum) {
    int i = 0;
    if (f16)
        for (int h = 0; h < nh; h++) mm_round_f16(p[h] + lo, p[h] + lo, hi - lo);
    const int simd = mm_cpu_level() >= 2 && hd % 16 == 0;
    if (simd)
        for (; i + 4 <= nh; i += 4) {
            if (f16) av16_x4_avx512(out + i, (const float *const *)p + i, lo, hi, V, ld, hd, accum);
            else av_x4_avx512(out + i, (const float *const *)p + i, lo, hi, V, ld, hd, accum);
        }
    for (; i < nh; i++) {
        if (simd && f16) av16_avx512(out[i], p[i], lo, hi, V, ld, hd, accum);
        else if (simd) av_avx512(out[i], p[i], lo, hi, V, ld, hd, accum);
        else if (f16) av16_scalar(out[i], p[i], lo, hi, V, ld, hd, accum);
        else av_scalar(out[i], p[i], lo, hi, V, ld, hd, accum);
    }
}

void mm_attn_av_group(float *const out[], float *const p[], int nh, int lo, int hi, const void *V, int f16,
                      int64_t ld, int hd) {
    mm_attn_av_group_acc(out, p, nh, lo, hi, V, f16, ld, hd, 0);
}

void mm_attn_av_f32(float *out, const float *p, int lo, int hi, const float *V, int64_t ld, int hd) {
    if (mm_cpu_level() >= 2 && hd % 16 == 0) av_avx512(out, p, lo, hi, V, ld, hd, 0);
    else av_scalar(out, p, lo, hi, V, ld, hd, 0);
}

void mm_attn_av_f16(float *out, const float *p, int lo, int hi, const uint16_t *V, int64_t ld, int hd) {
    if (mm_cpu_level() >= 2 && hd % 16 == 0) av16_avx512(out, p, lo, hi, V, ld, hd, 0);
    else av16_scalar(out, p, lo, hi, V, ld, hd, 0);
}
