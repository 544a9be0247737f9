/*
 * engine/matmul.c — matrix products W @ X as ggml's CPU backend computes them.
 *
 * ggml never dequantises a quantised weight for mul_mat: it quantises each
 * activation row to the weight's vec_dot type and takes integer dot products
 * per block (spec §8.3).  We do the same, in two steps:
 *   1. every activation row is converted once: F32 as is, rounded to F16 / BF16,
 *      or quantised to Q8_0 (Q4_0, Q5_0, Q8_0 weights), Q8_1 (Q4_1, Q5_1) or
 *      Q8_K (Q4_K, Q5_K, Q6_K) with ggml's x86 rounding rules;
 *   2. each thread takes a range of weight rows; a weight row is unpacked once
 *      (to floats, or to int8 values with per-block scales) and dotted with every
 *      activation row.
 * Unpacked layouts (one weight or activation row of n elements):
 *   F: float[n]
 *   A (32-blocks, Q8_0 partner): q[n] int8, d[n/32]            value = d * q
 *   B (32-blocks, Q8_1 partner): q[n], d[n/32], m[n/32]         value = d * q + m
 *   K (256-blocks, Q8_K partner): q[n], d, dmin per 256, sc / mn per 16 (int)
 *                                  value = d * sc * q - dmin * mn
 * This file is the scalar reference; SIMD paths go beside it and are tested
 * against it.
 */
#include "engine_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>

enum { FAM_F, FAM_A, FAM_B, FAM_K };

static int family(uint32_t t) {
    switch (t) {
    case MM_TYPE_F32: case MM_TYPE_F16: case MM_TYPE_BF16: return FAM_F;
    case MM_TYPE_Q4_0: case MM_TYPE_Q5_0: case MM_TYPE_Q8_0: return FAM_A;
    case MM_TYPE_Q4_1: case MM_TYPE_Q5_1: return FAM_B;
    case MM_TYPE_Q4_K: case MM_TYPE_Q5_K: case MM_TYPE_Q6_K: return FAM_K;
    default: return -1;
    }
}

uint32_t mm_vec_dot_type(uint32_t t) {
    switch (family(t)) {
    case FAM_F: return t;
    case FAM_A: return MM_TYPE_Q8_0;
    case FAM_B: return MM_TYPE_Q8_1;
    case FAM_K: return MM_TYPE_Q8_K;
    default: return MM_TYPE_COUNT;
    }
}

/* An unpacked row (weight or activation). */
typedef struct urow {
    float *f;              /* FAM_F */
    int8_t *q;             /* FAM_A/B/K values */
    float *d, *m;          /* per 32 (A, B) or per 256 (K: d and dmin in m) */
    float *s;              /* Q8_1 activations: d * sum(q) as fp16, per 32 */
    int16_t *sc, *mn;      /* K: per 16 (weights: scale, min; activations: sc = bsums) */
} urow;

static inline uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline float h2f(const uint8_t *p) { return mm_fp16_to_fp32(rd16(p)); }

/* ---- activation rows ---- */

static inline float round_even(float x) { return nearbyintf(x); } /* default mode: half to even */

/* Q8_0 / Q8_1, x86 AVX rules: d = amax/127 (stored fp16), id = 127/amax, q = round-half-even(x*id). */
static void quant_q8_01(const float *x, int64_t n, urow *r, int with_sum) {
    for (int64_t b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            float v = round_even(xb[j] * id);
            int q = v > 127 ? 127 : v < -128 ? -128 : (int)v;
            r->q[b * 32 + j] = (int8_t)q;
            sum += q;
        }
        r->d[b] = mm_fp16_to_fp32(mm_fp32_to_fp16(d));
        r->sc[b] = (int16_t)sum; /* integer block sum: lets Q4_0 kernels skip the -8 per weight */
        if (with_sum) r->s[b] = mm_fp16_to_fp32(mm_fp32_to_fp16(d * (float)sum));
    }
}

/* The same with AVX-512, 32 values (two registers) per block: max of |x| (exact, NaN
 * ignored as fmaxf does), x * id rounded half-to-even, clamped, packed to bytes; the
 * integer block sum is exact. */
__attribute__((target("avx512f,avx512bw"))) static void quant_q8_01_avx512(const float *x, int64_t n, urow *r,
                                                                             int with_sum) {
    const __m512 lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
    for (int64_t b = 0; b < n / 32; b++) {
        const __m512 x0 = _mm512_loadu_ps(x + b * 32), x1 = _mm512_loadu_ps(x + b * 32 + 16);
        __m512 m = _mm512_max_ps(_mm512_abs_ps(x1), _mm512_max_ps(_mm512_abs_ps(x0), _mm512_setzero_ps()));
        const float amax = _mm512_reduce_max_ps(m);
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        const __m512 vid = _mm512_set1_ps(id);
        __m512 v0 = _mm512_roundscale_ps(_mm512_mul_ps(x0, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 v1 = _mm512_roundscale_ps(_mm512_mul_ps(x1, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512i q0 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v0, lo), hi));
        __m512i q1 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v1, lo), hi));
        _mm_storeu_si128((__m128i *)(r->q + b * 32), _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(r->q + b * 32 + 16), _mm512_cvtepi32_epi8(q1));
        const int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        r->d[b] = mm_fp16_to_fp32(mm_fp32_to_fp16(d));
        r->sc[b] = (int16_t)sum;
        if (with_sum) r->s[b] = mm_fp16_to_fp32(mm_fp32_to_fp16(d * (float)sum));
    }
}

static inline int nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* Q8_K (x86 uses the reference): scale from the element of largest |x| (first on ties). */
static void quant_q8_k(const float *x, int64_t n, urow *r) {
    for (int64_t b = 0; b < n / 256; b++) {
        const float *xb = x + b * 256;
        float amax = 0, max = 0;
        for (int j = 0; j < 256; j++) {
            float ax = fabsf(xb[j]);
            if (ax > amax) { amax = ax; max = xb[j]; }
        }
        int8_t *q = r->q + b * 256;
        if (amax == 0) {
            r->d[b] = 0;
            memset(q, 0, 256);
            for (int j = 0; j < 16; j++) r->sc[b * 16 + j] = 0;
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < 256; j++) {
            int v = nearest_int(iscale * xb[j]);
            q[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int k = 0; k < 16; k++) s += q[j * 16 + k];
            r->sc[b * 16 + j] = (int16_t)s;
        }
        r->d[b] = 1 / iscale;
    }
}

/* ---- weight rows ---- */

/* Bytes needed for an unpacked row of n elements. */
static size_t urow_bytes(int64_t n) {
    size_t b = (size_t)n * 4 + (size_t)n + (size_t)(n / 16 + 2) * 16 + 64;
    return (b + 63) & ~(size_t)63; /* keeps every row's floats aligned */
}

static void urow_bind(urow *r, void *mem, int64_t n) {
    char *p = mem;
    r->f = (float *)p; p += n * 4;
    r->d = (float *)p; p += (n / 16 + 1) * 4;
    r->m = (float *)p; p += (n / 16 + 1) * 4;
    r->s = (float *)p; p += (n / 16 + 1) * 4;
    r->sc = (int16_t *)p; p += (n / 16 + 1) * 2;
    r->mn = (int16_t *)p; p += (n / 16 + 1) * 2;
    r->q = (int8_t *)p;
}




typedef struct mm_job {
    const mm_tensor *W;
    int64_t row0, n_out, n_in, T, ldy;
    int fam;
    urow *xr;          /* T activation rows */
    float *Y;
    char *wscratch;    /* per thread urow_bytes(n_in) */
    size_t wstride;
    float *dxt, *xst;  /* per group of 8 rows: scales d and sums s transposed [group][block][8] */
    int64_t nbx;       /* blocks per row in dxt (n_in/32, or n_in/256 for K-quants) */
    int rows_alone;    /* Q4_K: every row in gemv order, as if it were the only row (MM_MM_ROWS_ALONE) */
} mm_job;

/* ---- AVX2 block sums (integer, so exactly the scalar result) ---- */

__attribute__((target("avx2"))) static inline int32_t hsum_i32_8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* sum of a[i] * b[i] over 32 signed bytes (|a| <= 128, no saturation possible) */
__attribute__((target("avx2"))) static inline int32_t isum32_avx2(__m256i a, __m256i b) {
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return hsum_i32_8(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

/* Q4_0 block (16 bytes of nibbles, value - 8) . 32 int8 */
__attribute__((target("avx2"))) static inline int32_t isum_q4_0_avx2(const uint8_t *qs, const int8_t *x) {
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m256i nib = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw); /* low nibbles -> elements 0..15 */
    nib = _mm256_and_si256(nib, _mm256_set1_epi8(0x0F));
    __m256i w = _mm256_sub_epi8(nib, _mm256_set1_epi8(8));
    return isum32_avx2(w, _mm256_loadu_si256((const __m256i *)x));
}

__attribute__((target("avx2"))) static inline int32_t isum_q8_0_avx2(const int8_t *w, const int8_t *x) {
    return isum32_avx2(_mm256_loadu_si256((const __m256i *)w), _mm256_loadu_si256((const __m256i *)x));
}

__attribute__((target("avx2"))) static inline int32_t isum16_sse(const int8_t *a, const int8_t *b) {
    __m128i va = _mm_loadu_si128((const __m128i *)a), vb = _mm_loadu_si128((const __m128i *)b);
    __m128i p = _mm_madd_epi16(_mm_maddubs_epi16(_mm_sign_epi8(va, va), _mm_sign_epi8(vb, va)), _mm_set1_epi16(1));
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0x4e));
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0xb1));
    return _mm_cvtsi128_si32(p);
}

/* Eight int32 vectors -> one vector of their eight horizontal sums. */
__attribute__((target("avx2"))) static inline __m256i hadd_tree8(const __m256i s[8]) {
    __m256i h01 = _mm256_hadd_epi32(s[0], s[1]), h23 = _mm256_hadd_epi32(s[2], s[3]);
    __m256i h45 = _mm256_hadd_epi32(s[4], s[5]), h67 = _mm256_hadd_epi32(s[6], s[7]);
    __m256i h0123 = _mm256_hadd_epi32(h01, h23), h4567 = _mm256_hadd_epi32(h45, h67);
    return _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                            _mm256_permute2x128_si256(h0123, h4567, 0x31));
}

/* Eight block sums of FAM_A/B rows at once: the integer sums of blocks b..b+7 in one
 * vector (horizontal adds instead of eight separate reductions). */
__attribute__((target("avx2"))) static inline __m256i isum32x8_avx2(const int8_t *w, const int8_t *x) {
    __m256i s[8];
    for (int k = 0; k < 8; k++) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(w + 32 * k)), b = _mm256_loadu_si256((const __m256i *)(x + 32 * k));
        s[k] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a)),
                                 _mm256_set1_epi16(1));
    }
    return hadd_tree8(s);
}

/* sum over blocks of (wd*xd)*isum (+ wm*xs for FAM_B), added in block order as the scalar code does */
__attribute__((target("avx2"))) static float dot_blocks32_avx2(const int8_t *wq, const float *wd, const float *wm,
                                                               const int8_t *xq, const float *xd, const float *xs,
                                                               int64_t nb) {
    float sum = 0;
    int64_t b = 0;
    for (; b + 8 <= nb; b += 8) {
        __m256 isf = _mm256_cvtepi32_ps(isum32x8_avx2(wq + 32 * b, xq + 32 * b));
        __m256 t = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(wd + b), _mm256_loadu_ps(xd + b)), isf);
        if (wm) t = _mm256_add_ps(t, _mm256_mul_ps(_mm256_loadu_ps(wm + b), _mm256_loadu_ps(xs + b)));
        float v[8];
        _mm256_storeu_ps(v, t);
        for (int k = 0; k < 8; k++) sum += v[k];
    }
    for (; b < nb; b++) {
        float t = (wd[b] * xd[b]) * (float)isum_q8_0_avx2(wq + 32 * b, xq + 32 * b);
        if (wm) t = t + wm[b] * xs[b];
        sum += t;
    }
    return sum;
}

/* The integer part of a K-quant super-block: sum over 16 sub-blocks of sc * (w . x). */
__attribute__((target("avx2"))) static inline int32_t isum_k_avx2(const int8_t *w, const int8_t *x, const int16_t *sc) {
    __m256i acc = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(w + 32 * k)), b = _mm256_loadu_si256((const __m256i *)(x + 32 * k));
        __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a)); /* 16 pair sums */
        __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
    }
    return hsum_i32_8(acc);
}

__attribute__((target("avx2,f16c"))) static inline float h2f_f16c(const uint8_t *p) {
    return _cvtsh_ss(rd16(p)); /* exact, as the table conversion */
}

/* Packed Q4_0 / Q8_0 rows (decode path): eight blocks per step, block sums by a
 * horizontal-add tree, scales converted with F16C (exact), then added in block
 * order as the scalar code does. */
__attribute__((target("avx2,f16c"))) static float dot_packed_avx2(const uint8_t *src, int q4, const int8_t *xq,
                                                                  const float *xd, const int16_t *xsum, int64_t nb) {
    const int bs = q4 ? 18 : 34;
    float sum = 0;
    int64_t b = 0;
    for (; b + 8 <= nb; b += 8) {
        __m256i s[8];
        uint16_t dh[8];
        for (int k = 0; k < 8; k++) {
            const uint8_t *blk = src + (b + k) * bs;
            dh[k] = rd16(blk);
            __m256i w;
            __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * (b + k)));
            if (q4) { /* sum (q - 8) x = sum q x - 8 sum x, with q unsigned: no sign tricks */
                __m128i raw = _mm_loadu_si128((const __m128i *)(blk + 2));
                w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
                s[k] = _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1));
            } else {
                w = _mm256_loadu_si256((const __m256i *)(blk + 2));
                s[k] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)),
                                         _mm256_set1_epi16(1));
            }
        }
        __m256i is = hadd_tree8(s);
        if (q4)
            is = _mm256_sub_epi32(is, _mm256_slli_epi32(
                                          _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(xsum + b))), 3));
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dh));
        __m256 t = _mm256_mul_ps(_mm256_mul_ps(dw, _mm256_loadu_ps(xd + b)), _mm256_cvtepi32_ps(is));
        float v[8];
        _mm256_storeu_ps(v, t);
        for (int k = 0; k < 8; k++) sum += v[k];
    }
    for (; b < nb; b++) {
        const uint8_t *blk = src + b * bs;
        int32_t is = q4 ? isum_q4_0_avx2(blk + 2, xq + 32 * b) : isum_q8_0_avx2((const int8_t *)(blk + 2), xq + 32 * b);
        sum += (_cvtsh_ss(rd16(blk)) * xd[b]) * (float)is;
    }
    return sum;
}

/* Eight packed Q4_0 / Q8_0 weight rows (lanes) against one activation row (decode path):
 * per block, the eight rows' integer sums by a horizontal-add tree, then each lane adds
 * its term (d_w * d_x) * isum in block order exactly as dot_row does for its row, so the
 * bits are the same; eight independent chains instead of one keep the adder busy.
 * PAIRSUM_U(a, b): 4-byte sums of unsigned a times signed b (maddubs+madd or vpdpbusd). */
#define DOT_PACKED_X8_BODY(PAIRSUM_U)                                                             \
    const int bs = q4 ? 18 : 34, st = (int)stride;                                                \
    const __m256i vidx = _mm256_setr_epi32(0, st, 2 * st, 3 * st, 4 * st, 5 * st, 6 * st, 7 * st);   \
    const uint8_t *pf = src + 16 * stride;                                                        \
    __m256 acc = _mm256_setzero_ps();                                                             \
    for (int64_t b = 0; b < nb; b++) {                                                            \
        __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * b)), s[8];                    \
        /* the rows two groups ahead, a block-column at a time (the walk is not sequential) */  \
        for (int off = 0; off < 8 * bs; off += 64) _mm_prefetch((const char *)pf + b * 8 * bs + off, _MM_HINT_T0); \
        for (int k = 0; k < 8; k++) {                                                             \
            const uint8_t *blk = src + k * stride + b * bs;                                       \
            if (q4) { /* sum (q - 8) x = sum q x - 8 sum x, q unsigned */                        \
                __m128i raw = _mm_loadu_si128((const __m128i *)(blk + 2));                       \
                __m256i w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw),      \
                                             _mm256_set1_epi8(0x0F));                             \
                s[k] = PAIRSUM_U(w, x);                                                           \
            } else {                                                                              \
                __m256i w = _mm256_loadu_si256((const __m256i *)(blk + 2));                      \
                s[k] = PAIRSUM_U(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));                 \
            }                                                                                     \
        }                                                                                         \
        __m256i is = hadd_tree8(s);                                                               \
        if (q4) is = _mm256_sub_epi32(is, _mm256_set1_epi32(8 * xsum[b]));                        \
        /* the eight rows' F16 scales: one gather of the 32 bits at each block's start */        \
        __m256i d32 = _mm256_i32gather_epi32((const int *)(src + b * bs), vidx, 1);                \
        d32 = _mm256_and_si256(d32, _mm256_set1_epi32(0xFFFF));                                   \
        d32 = _mm256_permute4x64_epi64(_mm256_packus_epi32(d32, d32), 0x08);                       \
        __m256 dw = _mm256_cvtph_ps(_mm256_castsi256_si128(d32));                                  \
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[b])),          \
                                               _mm256_cvtepi32_ps(is)));                          \
    }                                                                                             \
    _mm256_storeu_ps(out, acc);

#define PAIRSUM_U_AVX2(a, b) _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1))
#define PAIRSUM_U_VNNI(a, b) _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b)

__attribute__((target("avx2,f16c"))) static void dot_packed_x8_avx2(const uint8_t *src, size_t stride, int q4,
                                                                    const int8_t *xq, const float *xd,
                                                                    const int16_t *xsum, int64_t nb, float out[8]) {
    DOT_PACKED_X8_BODY(PAIRSUM_U_AVX2)
}

__attribute__((target("avx2,f16c,avx512vl,avx512vnni"))) static void dot_packed_x8_vnni(
    const uint8_t *src, size_t stride, int q4, const int8_t *xq, const float *xd, const int16_t *xsum, int64_t nb,
    float out[8]) {
    DOT_PACKED_X8_BODY(PAIRSUM_U_VNNI)
}

/* Eight activation rows (lanes) against one unpacked weight row: each lane adds its
 * blocks in order exactly as dot_row does for that row, so the bits are the same;
 * the weight block is loaded and its signs taken once for the eight rows. */

/* The 4-byte dot products of a signed weight vector w (|w| <= 128) with x, per int32 lane:
 * maddubs + madd, or one vpdpbusd with VNNI (the same sums, no saturation possible). */
#define DOT32_X8_BODY(PAIRSUM)                                                                    \
    __m256 acc = _mm256_setzero_ps();                                                            \
    for (int64_t b = 0; b < nb; b++) {                                                           \
        __m256i w = _mm256_loadu_si256((const __m256i *)(wq + 32 * b)), aw = _mm256_sign_epi8(w, w); \
        __m256i s[8];                                                                            \
        for (int k = 0; k < 8; k++) {                                                            \
            __m256i x = _mm256_loadu_si256((const __m256i *)(xq[k] + 32 * b));                  \
            s[k] = PAIRSUM(aw, _mm256_sign_epi8(x, w));                                          \
        }                                                                                        \
        __m256 t = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(wd[b]), _mm256_loadu_ps(dxt + 8 * b)), \
                                 _mm256_cvtepi32_ps(hadd_tree8(s)));                             \
        if (wm) t = _mm256_add_ps(t, _mm256_mul_ps(_mm256_set1_ps(wm[b]), _mm256_loadu_ps(xst + 8 * b))); \
        acc = _mm256_add_ps(acc, t);                                                             \
    }                                                                                            \
    _mm256_storeu_ps(out, acc);

#define PAIRSUM_AVX2(a, b) _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1))
#define PAIRSUM_VNNI(a, b) _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b)

__attribute__((target("avx2"))) static void dot32_x8_avx2(const int8_t *wq, const float *wd, const float *wm,
                                                          const int8_t *const xq[8], const float *dxt,
                                                          const float *xst, int64_t nb, float out[8]) {
    DOT32_X8_BODY(PAIRSUM_AVX2)
}

__attribute__((target("avx2,avx512vl,avx512vnni"))) static void dot32_x8_vnni(const int8_t *wq, const float *wd,
                                                                               const float *wm,
                                                                               const int8_t *const xq[8],
                                                                               const float *dxt, const float *xst,
                                                                               int64_t nb, float out[8]) {
    DOT32_X8_BODY(PAIRSUM_VNNI)
}

static int has_vnni(void) {
    static int v = -1;
    if (v < 0) v = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
    return v;
}

/* Eight activation rows against one unpacked K-quant weight row.  gemm_q4k: Q4_K in
 * llama.cpp's gemm order (one fused multiply-add per pair of sub-blocks, scale and min terms
 * in two sums, see dot_q4k in matmul_kernels.inc); otherwise (Q5_K, Q6_K) dot_row's order. */
__attribute__((target("avx2,fma"))) static void dotk_x8_avx2(const int8_t *wq, const float *wd, const float *wm,
                                                             const int16_t *wsc, const int16_t *wmn,
                                                             const int8_t *const xq[8], const float *dxt,
                                                             const int16_t *const xbs[8], int64_t nb, int gemm_q4k,
                                                             float out[8]) {
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m256 dx = _mm256_loadu_ps(dxt + 8 * b);
        const __m256 dd = _mm256_mul_ps(_mm256_set1_ps(wd[b]), dx), dm = _mm256_mul_ps(_mm256_set1_ps(wm[b]), dx);
        __m256i accs[8];
        for (int k = 0; k < 8; k++) accs[k] = _mm256_setzero_si256();
        int32_t im[8] = {0};
        for (int p = 0; p < 8; p++) { /* 32 elements = two 16-element sub-blocks */
            __m256i w = _mm256_loadu_si256((const __m256i *)(wq + 256 * b + 32 * p)), aw = _mm256_sign_epi8(w, w);
            __m256i sc = _mm256_set_m128i(_mm_set1_epi16(wsc[16 * b + 2 * p + 1]), _mm_set1_epi16(wsc[16 * b + 2 * p]));
            for (int k = 0; k < 8; k++) {
                __m256i x = _mm256_loadu_si256((const __m256i *)(xq[k] + 256 * b + 32 * p));
                accs[k] = _mm256_add_epi32(accs[k], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(x, w)), sc));
            }
            for (int k = 0; k < 8; k++)
                im[k] += wmn[16 * b + 2 * p] * xbs[k][16 * b + 2 * p] + wmn[16 * b + 2 * p + 1] * xbs[k][16 * b + 2 * p + 1];
            if (gemm_q4k && p % 2 == 1) { /* a pair of 32-element sub-blocks done */
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hadd_tree8(accs)), dd, acc);
                accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)im)), dm, accm);
                for (int k = 0; k < 8; k++) accs[k] = _mm256_setzero_si256(), im[k] = 0;
            }
        }
        if (!gemm_q4k) {
            __m256 t1 = _mm256_mul_ps(dd, _mm256_cvtepi32_ps(hadd_tree8(accs)));
            __m256 t2 = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)im)));
            acc = _mm256_add_ps(acc, _mm256_sub_ps(t1, t2));
        }
    }
    _mm256_storeu_ps(out, gemm_q4k ? _mm256_sub_ps(acc, accm) : acc);
}

enum { K_GEMM = 1, K_GEMV = 2 }; /* Q4_K orders (dot_q4k in matmul_kernels.inc) */

#define KCAT2(a, b) a##_##b
#define KCAT(a, b) KCAT2(a, b)
#define K(name) KCAT(name, KLEVEL)

#define KLEVEL scalar
#define KATTR
#define KSIMD 0
#include "matmul_kernels.inc"
#undef KLEVEL
#undef KATTR
#undef KSIMD
#define KSIMD 1

#define KLEVEL avx2
#define KATTR __attribute__((target("avx2,f16c")))
#include "matmul_kernels.inc"
#undef KLEVEL
#undef KATTR

#define KLEVEL avx512
#define KATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx2,f16c")))
#include "matmul_kernels.inc"
#undef KLEVEL
#undef KATTR

/* ---- run-time dispatch: the best level this CPU has, or MMPIPE_CPU=scalar|avx2|avx512 ---- */
static int cpu_level = -1; /* 0 scalar, 1 avx2, 2 avx512 */

int mm_cpu_level(void) {
    if (cpu_level < 0) {
        __builtin_cpu_init();
        int best = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") ? 2
                 : __builtin_cpu_supports("avx2") ? 1 : 0;
        const char *env = getenv("MMPIPE_CPU");
        int want = !env ? best : !strcmp(env, "scalar") ? 0 : !strcmp(env, "avx2") ? 1 : !strcmp(env, "avx512") ? 2 : best;
        cpu_level = want < best ? want : best;
    }
    return cpu_level;
}

int mm_cpu_set_level(int level) {
    int saved = mm_cpu_level();
    __builtin_cpu_init();
    int best = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") ? 2
             : __builtin_cpu_supports("avx2") ? 1 : 0;
    cpu_level = level < 0 ? 0 : level > best ? best : level;
    return saved;
}

const char *mm_cpu_level_name(int level) {
    return level == 2 ? "avx512" : level == 1 ? "avx2" : "scalar";
}

/* ---- repacked Q4_0 / Q8_0 matrices (matmul_packed.c): threads split the 16-row groups ---- */
typedef struct packed_job {
    mm_packed_args a;
    int64_t g0, g1;
} packed_job;

static void packed_task(void *arg, int64_t a, int64_t b, int ith) {
    packed_job *p = arg;
    (void)ith;
    mm_packed_rows(&p->a, p->g0 + a, p->g0 + b);
}

static mm_code packed_matmul(mm_pool *pool, const mm_tensor *W, int64_t row0, int64_t n_out, const urow *xr,
                             int64_t T, float *Y, int64_t ldy, char *heap, mm_err *e) {
    size_t need = (size_t)T * (sizeof(void *) * 3);
    void **ptr = pool ? mm_pool_scratch(pool, 1, need) : malloc(need);
    if (!ptr) {
        free(heap);
        return mm_err_set(e, MM_ENOMEM, "out of memory in matmul (%s)", W->name);
    }
    const int8_t **xq = (const int8_t **)ptr;
    const float **xd = (const float **)(ptr + T);
    const int16_t **xs = (const int16_t **)(ptr + 2 * T);
    for (int64_t t = 0; t < T; t++) {
        xq[t] = xr[t].q;
        xd[t] = xr[t].d;
        xs[t] = xr[t].sc;
    }
    packed_job p = {{W->packed, W->type == MM_TYPE_Q4_0, W->ne[0] / 32, row0, n_out, T, ldy, xq, xd, xs, Y},
                    row0 / 16, (row0 + n_out + 15) / 16};
    mm_pool_for(pool, p.g1 - p.g0, packed_task, &p);
    if (!pool) free(ptr);
    free(heap);
    return MM_OK;
}

/* Activation rows as the weight type wants them (Q8_0 / Q8_1 / Q8_K blocks, or F32 rounded
 * to F16 / BF16), rows split over the pool's threads: each row's blocks are the same
 * whichever thread makes them. */
typedef struct quant_job {
    uint32_t type;
    int fam;
    const float *X;
    int64_t ldx, n_in, T;
    urow *xr;
} quant_job;

static void quant_rows(const quant_job *q, int64_t t0, int64_t t1) {
    const int64_t n_in = q->n_in;
    for (int64_t t = t0; t < t1; t++) {
        urow *r = &q->xr[t];
        const float *x = q->X + t * q->ldx;
        switch (q->type) {
        case MM_TYPE_F32: memcpy(r->f, x, (size_t)n_in * 4); break;
        case MM_TYPE_F16: mm_round_f16(r->f, x, (int)n_in); break; /* F16C when the CPU has it */
        case MM_TYPE_BF16:
            for (int64_t i = 0; i < n_in; i++) r->f[i] = mm_bf16_to_fp32(mm_fp32_to_bf16(x[i]));
            break;
        default:
            if (q->fam != FAM_K && mm_cpu_level() >= 2) quant_q8_01_avx512(x, n_in, r, q->fam == FAM_B);
            else if (q->fam == FAM_A) quant_q8_01(x, n_in, r, 0);
            else if (q->fam == FAM_B) quant_q8_01(x, n_in, r, 1);
            else quant_q8_k(x, n_in, r);
        }
    }
}

static void quant_task(void *arg, int64_t a, int64_t b, int ith) {
    (void)ith;
    quant_rows(arg, a, b);
}

/* ---- F32 / F16 / BF16 weights (matmul_float.c): threads take groups of 4 output rows ---- */
typedef struct float_job {
    mm_float_args a;
    int64_t n_out;
} float_job;

static void float_task(void *arg, int64_t g0, int64_t g1, int ith) {
    const float_job *f = arg;
    (void)ith;
    mm_float_rows(&f->a, g0 * 4, g1 * 4 < f->n_out ? g1 * 4 : f->n_out);
}

static mm_code float_matmul(mm_pool *pool, const mm_tensor *W, int64_t row0, int64_t n_out, const urow *xr,
                            int64_t T, float *Y, int64_t ldy, char *heap, mm_err *e) {
    const float **x = pool ? mm_pool_scratch(pool, 1, sizeof(float *) * (size_t)T) : malloc(sizeof(float *) * (size_t)T);
    if (!x) {
        free(heap);
        return mm_err_set(e, MM_ENOMEM, "out of memory in matmul (%s)", W->name);
    }
    for (int64_t t = 0; t < T; t++) x[t] = xr[t].f;
    float_job f = {{(const uint8_t *)W->data, W->row_bytes, W->type, W->ne[0], row0, x, T, ldy, Y}, n_out};
    mm_pool_for(pool, (n_out + 3) / 4, float_task, &f);
    if (!pool) free(x);
    free(heap);
    return MM_OK;
}

mm_code mm_matmul(mm_pool *pool, const mm_tensor *W, int64_t row0, int64_t n_out, const float *X,
                  int64_t T, int64_t ldx, float *Y, int64_t ldy, mm_err *e) {
    return mm_matmul_ex(pool, W, row0, n_out, X, T, ldx, Y, ldy, 0, e);
}

mm_code mm_matmul_ex(mm_pool *pool, const mm_tensor *W, int64_t row0, int64_t n_out, const float *X,
                     int64_t T, int64_t ldx, float *Y, int64_t ldy, int flags, mm_err *e) {
    int fam = family(W->type);
    int64_t n_in = W->ne[0];
    if (fam < 0) return mm_err_set(e, MM_EUNSUPPORTED, "%s: matrix products with %s weights are not supported",
                                   W->name, mm_type_name(W->type));
    if (row0 < 0 || n_out < 0 || row0 + n_out > W->n_rows)
        return mm_err_set(e, MM_EINVAL, "%s: rows %lld..%lld out of range", W->name, (long long)row0,
                          (long long)(row0 + n_out));
    int nth = mm_pool_threads(pool);
    size_t ub = urow_bytes(n_in);
    /* scratch from the pool (grow-only), else from the heap when there is no pool */
    size_t need = ub * (size_t)(T + nth) + (size_t)T * sizeof(urow);
    char *heap = pool ? NULL : malloc(need), *mem = pool ? mm_pool_scratch(pool, 0, need) : heap;
    if (!mem) return mm_err_set(e, MM_ENOMEM, "out of memory in matmul (%s)", W->name);
    urow *xr = (urow *)(mem + ub * (size_t)(T + nth));
    for (int64_t t = 0; t < T; t++) urow_bind(&xr[t], mem + ub * (size_t)t, n_in);
    quant_job qj = {W->type, fam, X, ldx, n_in, T, xr};
    mm_pool_for(pool, T, quant_task, &qj);
    if (W->packed) { /* its file bytes are gone (model.c): the packed copy is all there is */
        if (row0 % 16 == 0) return packed_matmul(pool, W, row0, n_out, xr, T, Y, ldy, heap, e);
        free(heap);
        return mm_err_set(e, MM_EINVAL, "%s: rows from %lld of a repacked matrix (not a multiple of 16)", W->name,
                          (long long)row0);
    }
    if (fam == FAM_F) return float_matmul(pool, W, row0, n_out, xr, T, Y, ldy, heap, e);
    mm_job j = {W, row0, n_out, n_in, T, ldy, fam, xr, Y, mem + ub * (size_t)T, ub, NULL, NULL, 0,
                (flags & MM_MM_ROWS_ALONE) != 0};
    float *tr = NULL;
    if (fam != FAM_F && T >= 8 && mm_cpu_level() > 0) {
        /* the eight-row kernels read the scales of 8 rows as one vector per block */
        int64_t nb = fam == FAM_K ? n_in / 256 : n_in / 32, ng = T / 8;
        size_t trb = sizeof(float) * (size_t)(2 * ng * nb * 8);
        tr = pool ? mm_pool_scratch(pool, 1, trb) : malloc(trb);
        if (!tr) {
            free(heap);
            return mm_err_set(e, MM_ENOMEM, "out of memory in matmul (%s)", W->name);
        }
        j.dxt = tr;
        j.xst = tr + ng * nb * 8;
        j.nbx = nb;
        for (int64_t g = 0; g < ng; g++)
            for (int64_t b = 0; b < nb; b++)
                for (int k = 0; k < 8; k++) {
                    j.dxt[(g * nb + b) * 8 + k] = xr[g * 8 + k].d[b];
                    j.xst[(g * nb + b) * 8 + k] = fam == FAM_B ? xr[g * 8 + k].s[b] : 0;
                }
    }
    static const mm_task_fn tasks[3] = {matmul_task_scalar, matmul_task_avx2, matmul_task_avx512};
    mm_pool_run(pool, tasks[mm_cpu_level()], &j);
    if (!pool) free(tr);
    free(heap);
    return MM_OK;
}
