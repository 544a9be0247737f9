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

