/*
 * engine/matmul_float.c — matrix products with F32, F16 and BF16 weights (the vision and
 * audio towers, F32 / F16 / BF16 text models): a register-tiled kernel that reads the weight
 * rows as the file stores them, beside the scalar reference it must equal bit for bit.
 *
 * Order (every CPU level): Y[t][o] = fold16(acc) (+ tail), where acc[l] is the fused
 * multiply-add chain over k = 16c + l, c = 0, 1, ..., of W[o][k] * X[t][k], and fold16 adds
 * lanes (l, l+8), then (l, l+4), (l, l+2), (l, l+1) — llamafile's tinyBLAS order, which
 * llama.cpp's x86 build uses for these weight types when K is a multiple of 16.  The elements
 * past the last full 16 (K % 16, no real model has them) are added after the fold, in order,
 * multiply then add.  Activation rows come already rounded to the weight's type (F16 / BF16),
 * as ggml converts them (matmul.c's quant_rows).
 *
 * Tiles: AVX-512 takes 4 weight rows x 6 activation rows per pass (24 accumulators, each
 * weight vector loaded and converted once for the six rows); AVX2 1 x 4 with the 16 lanes
 * as two 8-lane halves.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "engine_int.h"

static inline float w_at(const uint8_t *row, uint32_t type, int64_t k) {
    if (type == MM_TYPE_F32) {
        float v;
        memcpy(&v, row + 4 * k, 4);
        return v;
    }
    uint16_t h;
    memcpy(&h, row + 2 * k, 2);
    return type == MM_TYPE_F16 ? mm_fp16_to_fp32(h) : mm_bf16_to_fp32(h);
}

static inline float fold16_scalar(float *a) {
    for (int w = 8; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) a[l] = a[l] + a[l + w];
    return a[0];
}

static void float_rows_scalar(const mm_float_args *a, int64_t o0, int64_t o1) {
    const int64_t K16 = a->K / 16 * 16;
    for (int64_t o = o0; o < o1; o++) {
        const uint8_t *row = a->W + (uint64_t)(a->row0 + o) * a->row_bytes;
        for (int64_t t = 0; t < a->T; t++) {
            const float *x = a->x[t];
            float acc[16] = {0};
            for (int64_t k = 0; k < K16; k++) acc[k & 15] = fmaf(w_at(row, a->type, k), x[k], acc[k & 15]);
            float s = fold16_scalar(acc);
            for (int64_t k = K16; k < a->K; k++) s = s + w_at(row, a->type, k) * x[k];
            a->Y[t * a->ldy + o] = s;
        }
    }
}

/* ---- AVX-512 ---- */
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,f16c")))

T512 static inline __m512 ldw512(const uint8_t *p, uint32_t type) {
    if (type == MM_TYPE_F32) return _mm512_loadu_ps((const float *)p);
    const __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (type == MM_TYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* _mm512_reduce_add_ps's folding, spelled out so it is the same on every compiler */
T512 static inline float fold16_512(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
}

/* RM weight rows x RN activation rows from (o, t) */
#define TILE512(RM, RN)                                                                         \
    do {                                                                                        \
        __m512 acc[RM][RN];                                                                     \
        for (int i = 0; i < RM; i++)                                                            \
            for (int j = 0; j < RN; j++) acc[i][j] = _mm512_setzero_ps();                       \
        for (int64_t k = 0; k < K16; k += 16) {                                                 \
            __m512 w[RM];                                                                       \
            for (int i = 0; i < RM; i++) w[i] = ldw512(rows[i] + k * es, a->type);              \
            for (int j = 0; j < RN; j++) {                                                      \
                const __m512 xv = _mm512_loadu_ps(a->x[t + j] + k);                             \
                for (int i = 0; i < RM; i++) acc[i][j] = _mm512_fmadd_ps(w[i], xv, acc[i][j]);  \
            }                                                                                   \
        }                                                                                       \
        for (int i = 0; i < RM; i++)                                                            \
            for (int j = 0; j < RN; j++) {                                                      \
                float s = fold16_512(acc[i][j]);                                                \
                for (int64_t k = K16; k < a->K; k++) s = s + w_at(rows[i], a->type, k) * a->x[t + j][k]; \
                a->Y[(t + j) * a->ldy + o + i] = s;                                             \
            }                                                                                   \
    } while (0)

/* Activation rows are taken in blocks of about 256 KiB (a multiple of six rows) so that a block
 * stays in L2 while every weight row of the call passes over it; each output is still made by
 * one tile, so the blocking does not change any result. */
static int64_t t_block(int64_t K, int64_t T) {
    int64_t tb = (256 * 1024) / (K * 4) / 6 * 6;
    if (tb < 6) tb = 6;
    return tb < T ? tb : T;
}

T512 static void float_rows_avx512(const mm_float_args *a, int64_t o0, int64_t o1) {
    const int64_t K16 = a->K / 16 * 16, es = a->type == MM_TYPE_F32 ? 4 : 2, TB = t_block(a->K, a->T);
    for (int64_t tb = 0; tb < a->T; tb += TB) {
        const int64_t te = tb + TB < a->T ? tb + TB : a->T;
        int64_t o = o0;
        for (; o + 4 <= o1; o += 4) {
            const uint8_t *rows[4];
            for (int i = 0; i < 4; i++) rows[i] = a->W + (uint64_t)(a->row0 + o + i) * a->row_bytes;
            int64_t t = tb;
            for (; t + 6 <= te; t += 6) TILE512(4, 6);
            for (; t < te; t++) TILE512(4, 1);
        }
        for (; o < o1; o++) {
            const uint8_t *rows[1] = {a->W + (uint64_t)(a->row0 + o) * a->row_bytes};
            int64_t t = tb;
            for (; t + 6 <= te; t += 6) TILE512(1, 6);
            for (; t < te; t++) TILE512(1, 1);
        }
    }
}

/* ---- AVX2: the 16 lanes as two halves, (l, l+8) folded first ---- */
#define T256 __attribute__((target("avx2,fma,f16c")))

T256 static inline void ldw256(const uint8_t *p, uint32_t type, __m256 *lo, __m256 *hi) {
    if (type == MM_TYPE_F32) {
        *lo = _mm256_loadu_ps((const float *)p);
        *hi = _mm256_loadu_ps((const float *)p + 8);
    } else if (type == MM_TYPE_F16) {
        *lo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        *hi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
    } else {
        *lo = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
        *hi = _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + 16))), 16));
    }
}

T256 static inline float fold16_256(__m256 lo, __m256 hi) {
    __m256 h = _mm256_add_ps(lo, hi);
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
    return _mm_cvtss_f32(q);
}

#define TILE256(RN)                                                                             \
    do {                                                                                        \
        __m256 lo[RN], hi[RN];                                                                  \
        for (int j = 0; j < RN; j++) lo[j] = hi[j] = _mm256_setzero_ps();                       \
        for (int64_t k = 0; k < K16; k += 16) {                                                 \
            __m256 wl, wh;                                                                      \
            ldw256(row + k * es, a->type, &wl, &wh);                                            \
            for (int j = 0; j < RN; j++) {                                                      \
                lo[j] = _mm256_fmadd_ps(wl, _mm256_loadu_ps(a->x[t + j] + k), lo[j]);           \
                hi[j] = _mm256_fmadd_ps(wh, _mm256_loadu_ps(a->x[t + j] + k + 8), hi[j]);       \
            }                                                                                   \
        }                                                                                       \
        for (int j = 0; j < RN; j++) {                                                          \
            float s = fold16_256(lo[j], hi[j]);                                                 \
            for (int64_t k = K16; k < a->K; k++) s = s + w_at(row, a->type, k) * a->x[t + j][k]; \
            a->Y[(t + j) * a->ldy + o] = s;                                                     \
        }                                                                                       \
    } while (0)

T256 static void float_rows_avx2(const mm_float_args *a, int64_t o0, int64_t o1) {
    const int64_t K16 = a->K / 16 * 16, es = a->type == MM_TYPE_F32 ? 4 : 2, TB = t_block(a->K, a->T) / 6 * 4 + 4;
    for (int64_t tb = 0; tb < a->T; tb += TB) {
        const int64_t te = tb + TB < a->T ? tb + TB : a->T;
        for (int64_t o = o0; o < o1; o++) {
            const uint8_t *row = a->W + (uint64_t)(a->row0 + o) * a->row_bytes;
            int64_t t = tb;
            for (; t + 4 <= te; t += 4) TILE256(4);
            for (; t < te; t++) TILE256(1);
        }
    }
}

void mm_float_rows(const mm_float_args *a, int64_t o0, int64_t o1) {
    const int lv = mm_cpu_level();
    if (lv >= 2) float_rows_avx512(a, o0, o1);
    else if (lv == 1) float_rows_avx2(a, o0, o1);
    else float_rows_scalar(a, o0, o1);
}
