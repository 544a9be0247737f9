/*
 * engine/ops.c — the numeric primitives of the forward pass, on f32 rows, in
 * the order of operations ggml's CPU backend uses (so results agree to the last
 * few bits): RMSNorm, GELU through the fp16 table, SiLU, softmax, RoPE.
 */
#include "engine_int.h"

#include <math.h>
#include <pthread.h>

void mm_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    if (w)
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] * scale) * w[i];
    else
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
}

/* ggml: table[h] = fp16(gelu(fp16_to_fp32(h))) for every fp16 bit pattern h. */
static float gelu_table[65536];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static void gelu_init(void) {
    const float c = 0.79788456080286535587989211986876f; /* sqrt(2/pi) */
    for (int h = 0; h < 65536; h++) {
        float v = mm_fp16_to_fp32((uint16_t)h);
        float g = 0.5f * v * (1.0f + tanhf(c * v * (1.0f + 0.044715f * v * v)));
        gelu_table[h] = mm_fp16_to_fp32(mm_fp32_to_fp16(g));
    }
}

float mm_gelu(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    pthread_once(&gelu_once, gelu_init);
    return gelu_table[mm_fp32_to_fp16(x)];
}

float mm_silu(float x) { return x / (1.0f + mm_expf_ggml(-x)); }

/* exp as ggml's AVX-512 / AVX2 kernels compute it (ggml_v_expf, after ARM's optimized
 * routine: n = round(x * log2 e), b = x - n*ln2 (two fused steps), a degree-5
 * polynomial in b, scaled by 2^n); softmax and SiLU use it, so matching it keeps
 * the last bits of attention weights equal and quantised activations round alike. */
float mm_expf_ggml(float x) {
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    if (!(fabsf(n) <= 192.0f)) return n > 0 ? INFINITY : 0.0f; /* also -inf and NaN inputs */
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    return ldexpf(j, (int)n);
}

/* ggml_vec_soft_max_f32 on AVX-512: exp(x - max) 16 at a time, each group summed in
 * float as _mm512_reduce_add_ps does (halves folded), groups accumulated in double;
 * a tail shorter than 16 uses the C library's expf. */
void mm_softmax(float *x, int64_t n) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > max) max = x[i];
    double sum = 0.0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float v[16];
        for (int k = 0; k < 16; k++) x[i + k] = v[k] = mm_expf_ggml(x[i + k] - max);
        for (int w = 8; w >= 1; w /= 2)
            for (int k = 0; k < w; k++) v[k] = v[k] + v[k + w];
        sum += (double)v[0];
    }
    for (; i < n; i++) {
        float v = expf(x[i] - max);
        sum += (double)v;
        x[i] = v;
    }
    const float inv = sum > 0 ? (float)(1.0 / sum) : 0.0f;
    for (int64_t k = 0; k < n; k++) x[k] *= inv;
}

/* ggml_rope_cache_init: theta_i = p * theta_scale^i (iterated), theta_scale = base^(-2/n_rot),
 * then divided by the frequency factor; no YaRN (ext_factor 0), mscale 1. */
void mm_rope(float *x, int n_rot, int32_t pos, float base, const float *ff, int neox) {
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        float t = ff ? theta / ff[i] : theta;
        float c = cosf(t), s = sinf(t);
        int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        float a = x[i0], b = x[i1];
        x[i0] = a * c - b * s;
        x[i1] = a * s + b * c;
        theta *= theta_scale;
    }
}

/* Attention kernels.  Both keep the scalar order of operations exactly (each
 * output is one sequential sum), so every CPU level gives the same bits:
 *   mm_qk_f32:   scores of 8 consecutive cells at once from a transposed K
 *                ([dim][n_cells]): lane c accumulates q[d] * K[d][c] for d = 0..hd-1;
 *   mm_axpy_f32: y[d] += p * x[d], lanes over d. */
static void qk_scalar(const float *q, const float *kt, int64_t stride, int hd, int n, float *out) {
    for (int c = 0; c < n; c++) {
        float s = 0;
        for (int d = 0; d < hd; d++) s += q[d] * kt[(int64_t)d * stride + c];
        out[c] = s;
    }
}

#include <immintrin.h>
__attribute__((target("avx2"))) static void qk_avx2(const float *q, const float *kt, int64_t stride, int hd, int n,
                                                    float *out) {
    int c = 0;
    for (; c + 8 <= n; c += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int d = 0; d < hd; d++)
            acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(q[d]), _mm256_loadu_ps(kt + (int64_t)d * stride + c)));
        _mm256_storeu_ps(out + c, acc);
    }
    if (c < n) qk_scalar(q, kt + c, stride, hd, n - c, out + c);
}

void mm_qk_f32(const float *q, const float *kt, int64_t stride, int hd, int n, float *out) {
    if (mm_cpu_level() > 0) qk_avx2(q, kt, stride, hd, n, out);
    else qk_scalar(q, kt, stride, hd, n, out);
}

static void axpy_scalar(float *y, float p, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += p * x[i];
}
__attribute__((target("avx2"))) static void axpy_avx2(float *y, float p, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += p * x[i];
}

void mm_axpy_f32(float *y, float p, const float *x, int64_t n) {
    if (mm_cpu_level() > 0) axpy_avx2(y, p, x, n);
    else axpy_scalar(y, p, x, n);
}

/* The same over an F16 cache (values converted exactly; the caller rounds q and p to
 * F16 first, as ggml's F16 dot products do). */
static void qk16_scalar(const float *q, const uint16_t *kt, int64_t stride, int hd, int n, float *out) {
    for (int c = 0; c < n; c++) {
        float s = 0;
        for (int d = 0; d < hd; d++) s += q[d] * mm_fp16_to_fp32(kt[(int64_t)d * stride + c]);
        out[c] = s;
    }
}

__attribute__((target("avx2,f16c"))) static void qk16_avx2(const float *q, const uint16_t *kt, int64_t stride, int hd,
                                                           int n, float *out) {
    int c = 0;
    for (; c + 8 <= n; c += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int d = 0; d < hd; d++)
            acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(q[d]),
                                                   _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kt + (int64_t)d * stride + c)))));
        _mm256_storeu_ps(out + c, acc);
    }
    if (c < n) qk16_scalar(q, kt + c, stride, hd, n - c, out + c);
}

void mm_qk_f16(const float *q, const uint16_t *kt, int64_t stride, int hd, int n, float *out) {
    if (mm_cpu_level() > 0) qk16_avx2(q, kt, stride, hd, n, out);
    else qk16_scalar(q, kt, stride, hd, n, out);
}

static void axpy16_scalar(float *y, float p, const uint16_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += p * mm_fp16_to_fp32(x[i]);
}

__attribute__((target("avx2,f16c"))) static void axpy16_avx2(float *y, float p, const uint16_t *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_mul_ps(_mm256_set1_ps(p), v)));
    }
    for (; i < n; i++) y[i] += p * mm_fp16_to_fp32(x[i]);
}

void mm_axpy_f16(float *y, float p, const uint16_t *x, int64_t n) {
    if (mm_cpu_level() > 0) axpy16_avx2(y, p, x, n);
    else axpy16_scalar(y, p, x, n);
}
