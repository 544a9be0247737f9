/*
 * engine/ggml_types.c — the ggml tensor-type table (block sizes, row sizes),
 * FP16 / BF16 conversions and the dequantise-row functions for F32, F16, BF16,
 * Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K.
 *
 * Everything here is bit-exact with ggml's scalar reference code (written from
 * the block layouts in research/gemma4-spec.md §8): each product and sum is
 * evaluated in float, in the same order as ggml, with no fused multiply-add
 * (the library is built with -ffp-contract=off).  Blocks are read with memcpy
 * so any source alignment works.
 */
#include <math.h>
#include <string.h>

#include "engine.h"

/* ---- type table ---------------------------------------------------------- */

#define T(id, nm, bs, ts, dq) [id] = {nm, bs, ts, dq}
static const mm_type_traits k_types[MM_TYPE_COUNT] = {
    T(MM_TYPE_F32, "F32", 1, 4, 1),
    T(MM_TYPE_F16, "F16", 1, 2, 1),
    T(MM_TYPE_Q4_0, "Q4_0", 32, 18, 1),
    T(MM_TYPE_Q4_1, "Q4_1", 32, 20, 1),
    T(MM_TYPE_Q5_0, "Q5_0", 32, 22, 1),
    T(MM_TYPE_Q5_1, "Q5_1", 32, 24, 1),
    T(MM_TYPE_Q8_0, "Q8_0", 32, 34, 1),
    T(MM_TYPE_Q8_1, "Q8_1", 32, 36, 0),
    T(MM_TYPE_Q2_K, "Q2_K", 256, 84, 0),
    T(MM_TYPE_Q3_K, "Q3_K", 256, 110, 0),
    T(MM_TYPE_Q4_K, "Q4_K", 256, 144, 1),
    T(MM_TYPE_Q5_K, "Q5_K", 256, 176, 1),
    T(MM_TYPE_Q6_K, "Q6_K", 256, 210, 1),
    T(MM_TYPE_Q8_K, "Q8_K", 256, 292, 0),
    T(MM_TYPE_IQ2_XXS, "IQ2_XXS", 256, 66, 0),
    T(MM_TYPE_IQ2_XS, "IQ2_XS", 256, 74, 0),
    T(MM_TYPE_IQ3_XXS, "IQ3_XXS", 256, 98, 0),
    T(MM_TYPE_IQ1_S, "IQ1_S", 256, 50, 0),
    T(MM_TYPE_IQ4_NL, "IQ4_NL", 32, 18, 0),
    T(MM_TYPE_IQ3_S, "IQ3_S", 256, 110, 0),
    T(MM_TYPE_IQ2_S, "IQ2_S", 256, 82, 0),
    T(MM_TYPE_IQ4_XS, "IQ4_XS", 256, 136, 0),
    T(MM_TYPE_I8, "I8", 1, 1, 0),
    T(MM_TYPE_I16, "I16", 1, 2, 0),
    T(MM_TYPE_I32, "I32", 1, 4, 0),
    T(MM_TYPE_I64, "I64", 1, 8, 0),
    T(MM_TYPE_F64, "F64", 1, 8, 0),
    T(MM_TYPE_IQ1_M, "IQ1_M", 256, 56, 0),
    T(MM_TYPE_BF16, "BF16", 1, 2, 1),
    T(MM_TYPE_TQ1_0, "TQ1_0", 256, 54, 0),
    T(MM_TYPE_TQ2_0, "TQ2_0", 256, 66, 0),
    T(MM_TYPE_MXFP4, "MXFP4", 32, 17, 0),
};
#undef T

const mm_type_traits *mm_type_traits_get(uint32_t type) {
    if (type >= MM_TYPE_COUNT || k_types[type].name == NULL) return NULL;
    return &k_types[type];
}

const char *mm_type_name(uint32_t type) {
    const mm_type_traits *t = mm_type_traits_get(type);
    return t ? t->name : "?";
}

uint64_t mm_type_row_size(uint32_t type, int64_t ne0) {
    const mm_type_traits *t = mm_type_traits_get(type);
    if (!t || ne0 <= 0 || ne0 % t->block_size != 0) return 0;
    uint64_t nb = (uint64_t)ne0 / t->block_size;
    if (nb > UINT64_MAX / t->type_size) return 0;
    return nb * t->type_size;
}

/* ---- FP16 / BF16 ----------------------------------------------------------- */

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Exact: every half is a float.  Subnormal halves are normalised by hand. */
float mm_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    if (exp == 0x1F) /* inf / NaN (NaN made quiet, payload kept) */
        return u2f(sign | 0x7F800000u | (man << 13) | (man ? 0x400000u : 0));
    if (exp == 0) {
        if (man == 0) return u2f(sign);
        /* subnormal: man * 2^-24, exactly representable */
        float v = (float)man * 0x1.0p-24f;
        return u2f(sign | f2u(v));
    }
    return u2f(sign | ((exp + 112) << 23) | (man << 13));
}

/*
 * Round to nearest even by letting the FPU do it: |f| is scaled up (so values
 * that overflow the half range reach infinity) and back down, then added to a
 * power of two chosen so that the float's mantissa LSB lands on the half's
 * mantissa LSB; the hardware's rounding of that addition is the half rounding.
 */
uint16_t mm_fp32_to_fp16(float f) {
    const float to_inf = 0x1.0p+112f, to_zero = 0x1.0p-110f;
    uint32_t w = f2u(f);
    uint32_t twice = w + w;                 /* sign shifted out */
    uint32_t sign = w & 0x80000000u;
    float base = (fabsf(f) * to_inf) * to_zero;
    uint32_t bias = twice & 0xFF000000u;    /* exponent, times 2 */
    if (bias < 0x71000000u) bias = 0x71000000u; /* floor for subnormal halves */
    base = u2f((bias >> 1) + 0x07800000u) + base;
    uint32_t bits = f2u(base);
    uint32_t exp_bits = (bits >> 13) & 0x7C00u;
    uint32_t man_bits = bits & 0x0FFFu;
    uint32_t nonsign = exp_bits + man_bits;
    return (uint16_t)((sign >> 16) | (twice > 0xFF000000u ? 0x7E00u : nonsign));
}

float mm_bf16_to_fp32(uint16_t b) { return u2f((uint32_t)b << 16); }

uint16_t mm_fp32_to_bf16(float f) {
    uint32_t u = f2u(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 64); /* quiet NaN */
    return (uint16_t)((u + (0x7FFFu + ((u >> 16) & 1))) >> 16);
}

static inline float rd_f16(const uint8_t *p) { return mm_fp16_to_fp32((uint16_t)(p[0] | (p[1] << 8))); }

/* ---- dequantisers: one block at a time; y gets block_size floats ------------- */

/* Q4_0 {f16 d; u8 qs[16]}: y[j] = (lo(qs[j]) - 8) d, y[j+16] = (hi(qs[j]) - 8) d */
static void dq_q4_0(const uint8_t *b, float *y) {
    float d = rd_f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((qs[j] & 0x0F) - 8) * d;
        y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
    }
}

/* Q4_1 {f16 d; f16 m; u8 qs[16]}: y = q d + m, q in 0..15 */
static void dq_q4_1(const uint8_t *b, float *y) {
    float d = rd_f16(b), m = rd_f16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(qs[j] & 0x0F) * d + m;
        y[j + 16] = (float)(qs[j] >> 4) * d + m;
    }
}

/* 5-bit values of a Q5 block: low nibbles as Q4, bit 4 of element j is bit j of qh. */
static void q5_values(const uint8_t *qh4, const uint8_t *qs, int q[32]) {
    uint32_t qh = (uint32_t)qh4[0] | (uint32_t)qh4[1] << 8 | (uint32_t)qh4[2] << 16 |
                  (uint32_t)qh4[3] << 24;
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 0x0F) | (int)(((qh >> j) << 4) & 0x10);
        q[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
    }
}

/* Q5_0 {f16 d; u8 qh[4]; u8 qs[16]}: y = (q - 16) d */
static void dq_q5_0(const uint8_t *b, float *y) {
    float d = rd_f16(b);
    int q[32];
    q5_values(b + 2, b + 6, q);
    for (int j = 0; j < 32; j++) y[j] = (float)(q[j] - 16) * d;
}

/* Q5_1 {f16 d; f16 m; u8 qh[4]; u8 qs[16]}: y = q d + m */
static void dq_q5_1(const uint8_t *b, float *y) {
    float d = rd_f16(b), m = rd_f16(b + 2);
    int q[32];
    q5_values(b + 4, b + 8, q);
    for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d + m;
}

/* Q8_0 {f16 d; i8 qs[32]}: y = q d */
static void dq_q8_0(const uint8_t *b, float *y) {
    float d = rd_f16(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

/* 6-bit (scale, min) pair j (0..7) of a Q4_K/Q5_K scales[12] array. */
static void scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q4_K {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}: 4 chunks of 64 =
 * 32 low nibbles (sub-block 2c) then 32 high nibbles (2c+1) of qs[32c..];
 * y = (d sc) q - (dmin m). */
static void dq_q4_k(const uint8_t *b, float *y) {
    float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *scales = b + 4, *q = b + 16;
    for (int c = 0; c < 4; c++, q += 32) {
        uint8_t sc, m;
        scale_min_k4(2 * c, scales, &sc, &m);
        float d1 = d * sc, m1 = dmin * m;
        scale_min_k4(2 * c + 1, scales, &sc, &m);
        float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0x0F) - m1;
        for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
    }
}

/* Q5_K {f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}: as Q4_K with
 * bit 4 of sub-block s, element l in bit s of qh[l]. */
static void dq_q5_k(const uint8_t *b, float *y) {
    float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
    unsigned u1 = 1, u2 = 2;
    for (int c = 0; c < 4; c++, ql += 32, u1 <<= 2, u2 <<= 2) {
        uint8_t sc, m;
        scale_min_k4(2 * c, scales, &sc, &m);
        float d1 = d * sc, m1 = dmin * m;
        scale_min_k4(2 * c + 1, scales, &sc, &m);
        float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; l++)
            *y++ = d1 * (float)((ql[l] & 0x0F) + (qh[l] & u1 ? 16 : 0)) - m1;
        for (int l = 0; l < 32; l++)
            *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
}

/* Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d} (d last): two halves of
 * 128; y = (d sc) (q - 32) with q 6 bits from ql nibbles and qh bit pairs. */
static void dq_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = rd_f16(b + 208);
    for (int n = 0; n < 2; n++, y += 128, ql += 64, qh += 32, sc += 8) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l + 0] = d * sc[is + 0] * q1;
            y[l + 32] = d * sc[is + 2] * q2;
            y[l + 64] = d * sc[is + 4] * q3;
            y[l + 96] = d * sc[is + 6] * q4;
        }
    }
}

typedef void (*dq_block_fn)(const uint8_t *b, float *y);

static dq_block_fn block_fn(uint32_t type) {
    switch (type) {
    case MM_TYPE_Q4_0: return dq_q4_0;
    case MM_TYPE_Q4_1: return dq_q4_1;
    case MM_TYPE_Q5_0: return dq_q5_0;
    case MM_TYPE_Q5_1: return dq_q5_1;
    case MM_TYPE_Q8_0: return dq_q8_0;
    case MM_TYPE_Q4_K: return dq_q4_k;
    case MM_TYPE_Q5_K: return dq_q5_k;
    case MM_TYPE_Q6_K: return dq_q6_k;
    default: return NULL;
    }
}

mm_code mm_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n, mm_err *e) {
    const mm_type_traits *t = mm_type_traits_get(type);
    if (!t) return mm_err_set(e, MM_EINVAL, "dequantize: unknown tensor type id %u", type);
    if (!t->can_dequantize)
        return mm_err_set(e, MM_EUNSUPPORTED, "dequantize: type %s is not supported", t->name);
    if (n < 0 || n % t->block_size != 0)
        return mm_err_set(e, MM_EINVAL, "dequantize: %lld elements is not a whole number of %s blocks of %u",
                          (long long)n, t->name, t->block_size);
    const uint8_t *s = src;
    switch (type) {
    case MM_TYPE_F32:
        memcpy(dst, s, (size_t)n * 4);
        return MM_OK;
    case MM_TYPE_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = rd_f16(s + 2 * i);
        return MM_OK;
    case MM_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = mm_bf16_to_fp32((uint16_t)(s[2 * i] | (s[2 * i + 1] << 8)));
        return MM_OK;
    default: break;
    }
    dq_block_fn fn = block_fn(type);
    int64_t nb = n / t->block_size;
    for (int64_t i = 0; i < nb; i++) fn(s + (size_t)i * t->type_size, dst + (size_t)i * t->block_size);
    return MM_OK;
}
