/*
 * engine/ops.c — the numeric primitives of the forward pass, on f32 rows, in
 * the order of operations ggml's CPU backend uses (so results agree to the last
 * few bits): RMSNorm, GELU through the fp16 table, SiLU, softmax, RoPE.
 */
#include "engine_int.h"

#include <immintrin.h>
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

/* g[i] = gelu(g[i]) * u[i] (GeGLU), scalar reference. */
static void geglu_scalar(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = mm_gelu(g[i]) * u[i];
}

/* The same on 16 lanes: F16C rounds to nearest even as mm_fp32_to_fp16, the table is
 * gathered, the +-10 clamps are the scalar's ordered compares (NaN takes the table). */
__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) static void geglu_avx512(float *g, const float *u,
                                                                                    int64_t n) {
    const __m512 lo = _mm512_set1_ps(-10.0f), hi = _mm512_set1_ps(10.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_loadu_ps(g + i);
        const __m256i h = _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 v = _mm512_i32gather_ps(_mm512_cvtepu16_epi32(h), gelu_table, 4);
        v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(x, lo, _CMP_LE_OQ), _mm512_setzero_ps());
        v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(x, hi, _CMP_GE_OQ), x);
        _mm512_storeu_ps(g + i, _mm512_mul_ps(v, _mm512_loadu_ps(u + i)));
    }
    geglu_scalar(g + i, u + i, n - i);
}

void mm_geglu(float *g, const float *u, int64_t n) {
    pthread_once(&gelu_once, gelu_init);
    if (mm_cpu_level() >= 2) geglu_avx512(g, u, n);
    else geglu_scalar(g, u, n);
}

__attribute__((target("avx2,f16c"))) static void f32_to_f16_f16c(uint16_t *y, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = mm_fp32_to_fp16(x[i]);
}

void mm_fp32_to_fp16_row(uint16_t *y, const float *x, int64_t n) {
    if (mm_cpu_level() >= 1) f32_to_f16_f16c(y, x, n);
    else
        for (int64_t i = 0; i < n; i++) y[i] = mm_fp32_to_fp16(x[i]);
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

/* ggml_rope_cache_init: theta_i = p * theta_scale^i (iterated), theta_scale = base^(-2/n_rot),
 * then divided by the frequency factor; no YaRN (ext_factor 0), mscale 1.
 * cs[2i], cs[2i+1] = cos, sin of theta_i for i < n_rot/2: one position's table, shared by
 * every head of the row (mm_rope_apply), as ggml computes it once per position. */
void mm_rope_cache(float *cs, int n_rot, int32_t pos, float base, const float *ff) {
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int i = 0; i < n_rot / 2; i++) {
        float t = ff ? theta / ff[i] : theta;
        cs[2 * i] = cosf(t), cs[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
}

void mm_rope_apply(float *x, int n_rot, const float *cs, int neox) {
    const int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        float a = x[i0], b = x[i1];
        /* as llama.cpp's build computes x0*cos - x1*sin and x0*sin + x1*cos (its compiler fuses
         * the first product of each; checked bit for bit against llama_ref --dump) */
        x[i0] = fmaf(a, c, -(b * s));
        x[i1] = fmaf(a, s, b * c);
    }
}

void mm_rope(float *x, int n_rot, int32_t pos, float base, const float *ff, int neox) {
    float cs[2048];
    if (n_rot > 2048) n_rot = 2048; /* head_dim <= 1024 is checked when a model opens */
    mm_rope_cache(cs, n_rot, pos, base, ff);
    mm_rope_apply(x, n_rot, cs, neox);
}
