/*
 * tests/model/test_ops.c — the element-wise primitives of the forward pass at every CPU
 * level against their scalar references, bit for bit: GeGLU through the fp16 GELU table
 * (edges ±10, NaN, infinities, subnormals, every fp16 bit pattern once), the F16 row
 * conversion, and RoPE split into a per-position table plus its application.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

static int fails, checks;

static void same(const void *a, const void *b, size_t n, const char *what, int lvl) {
    checks++;
    if (memcmp(a, b, n)) {
        printf("FAIL %s: level %s differs from scalar\n", what, mm_cpu_level_name(lvl));
        fails++;
    }
}

int main(void) {
    /* inputs: every fp16 value, the clamps and their neighbours, odd values, random floats */
    enum { N = 65536 + 64 + 1000 + 7 }; /* + 7: a tail shorter than a vector */
    float *x = malloc(N * sizeof(float)), *u = malloc(N * sizeof(float));
    float *ref = malloc(N * sizeof(float)), *got = malloc(N * sizeof(float));
    uint16_t *h_ref = malloc(N * 2), *h_got = malloc(N * 2);
    int n = 0;
    for (int h = 0; h < 65536; h++) x[n++] = mm_fp16_to_fp32((uint16_t)h);
    const float edge[] = {-10.0f, 10.0f, nextafterf(-10.0f, 0), nextafterf(10.0f, 0), nextafterf(-10.0f, -20),
                          nextafterf(10.0f, 20), INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 1e-40f, -1e-40f,
                          65504.0f, 65520.0f, 1e30f, -1e30f, 5.9604645e-8f, 2.9802322e-8f};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) x[n++] = edge[i];
    uint64_t r = 99;
    while (n < N) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        x[n++] = ((float)(r >> 40) / (float)(1 << 24) - 0.5f) * 30.0f;
    }
    for (int i = 0; i < N; i++) u[i] = 0.5f + (float)(i % 13) * 0.25f;
    const int saved = mm_cpu_set_level(0);
    memcpy(ref, x, N * sizeof(float));
    mm_geglu(ref, u, N);
    for (int i = 0; i < N; i++) {
        checks++;
        float want = mm_gelu(x[i]) * u[i];
        if (memcmp(&want, &ref[i], 4)) {
            printf("FAIL geglu scalar: element %d\n", i);
            fails++;
            break;
        }
    }
    mm_fp32_to_fp16_row(h_ref, x, N);
    for (int lvl = 1; lvl <= 2; lvl++) {
        if (mm_cpu_set_level(lvl), mm_cpu_level() != lvl) continue;
        memcpy(got, x, N * sizeof(float));
        mm_geglu(got, u, N);
        same(got, ref, N * sizeof(float), "geglu", lvl);
        mm_fp32_to_fp16_row(h_got, x, N);
        /* NaN payloads may differ between F16C and the C conversion: compare them as NaN */
        for (int i = 0; i < N; i++)
            if (isnan(x[i]) && (h_got[i] & 0x7C00) == 0x7C00 && (h_got[i] & 0x3FF)) h_got[i] = h_ref[i];
        same(h_got, h_ref, N * 2, "fp32_to_fp16_row", lvl);
    }
    /* SiLU rows == mm_silu element by element, at every level */
    for (int lvl = 0; lvl <= 2; lvl++) {
        if (mm_cpu_set_level(lvl), mm_cpu_level() != lvl) continue;
        memcpy(got, x, N * sizeof(float));
        mm_silu_rows(got, N);
        for (int i = 0; i < N; i++) ref[i] = mm_silu(x[i]);
        same(got, ref, N * sizeof(float), "silu_rows", lvl);
    }
    mm_cpu_set_level(saved);
    /* RoPE: table + apply == the one-call form, NEOX and normal, with frequency factors */
    float ff[64], cs[128];
    for (int i = 0; i < 64; i++) ff[i] = 1.0f + (float)i * 0.37f;
    for (int neox = 0; neox <= 1; neox++)
        for (int pos = 0; pos < 5000; pos += 997) {
            float a[160], b[160];
            for (int i = 0; i < 160; i++) a[i] = b[i] = sinf((float)i * 0.7f + (float)pos);
            mm_rope(a, 128, pos, 10000.0f, pos % 2 ? ff : NULL, neox);
            mm_rope_cache(cs, 128, pos, 10000.0f, pos % 2 ? ff : NULL);
            mm_rope_apply(b, 128, cs, neox);
            same(a, b, sizeof a, "rope cache+apply", 0);
            checks++;
            if (a[150] != sinf(150 * 0.7f + (float)pos)) {
                printf("FAIL rope touched a dimension past n_rot\n");
                fails++;
            }
        }
    printf("%d op checks, %d failures\n", checks, fails);
    free(x), free(u), free(ref), free(got), free(h_ref), free(h_got);
    return fails ? 1 : 0;
}
