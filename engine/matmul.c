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

static void get_scale_min_k4(int j, const uint8_t *q, int *d, int *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

static void unpack_weight(uint32_t type, const uint8_t *src, int64_t n, urow *r) {
    switch (type) {
    case MM_TYPE_F32: memcpy(r->f, src, (size_t)n * 4); break;
    case MM_TYPE_F16: for (int64_t i = 0; i < n; i++) r->f[i] = h2f(src + 2 * i); break;
    case MM_TYPE_BF16: for (int64_t i = 0; i < n; i++) r->f[i] = mm_bf16_to_fp32(rd16(src + 2 * i)); break;
    case MM_TYPE_Q8_0:
        for (int64_t b = 0; b < n / 32; b++, src += 34) {
            r->d[b] = h2f(src);
            memcpy(r->q + b * 32, src + 2, 32);
        }
        break;
    case MM_TYPE_Q4_0:
        for (int64_t b = 0; b < n / 32; b++, src += 18) {
            r->d[b] = h2f(src);
            for (int j = 0; j < 16; j++) {
                r->q[b * 32 + j] = (int8_t)((src[2 + j] & 0xF) - 8);
                r->q[b * 32 + j + 16] = (int8_t)((src[2 + j] >> 4) - 8);
            }
        }
        break;
    case MM_TYPE_Q4_1:
        for (int64_t b = 0; b < n / 32; b++, src += 20) {
            r->d[b] = h2f(src);
            r->m[b] = h2f(src + 2);
            for (int j = 0; j < 16; j++) {
                r->q[b * 32 + j] = (int8_t)(src[4 + j] & 0xF);
                r->q[b * 32 + j + 16] = (int8_t)(src[4 + j] >> 4);
            }
        }
        break;
    case MM_TYPE_Q5_0:
    case MM_TYPE_Q5_1: {
        int one = type == MM_TYPE_Q5_1, bs = one ? 24 : 22, off = one ? 4 : 2;
        for (int64_t b = 0; b < n / 32; b++, src += bs) {
            r->d[b] = h2f(src);
            if (one) r->m[b] = h2f(src + 2);
            uint32_t qh;
            memcpy(&qh, src + off, 4);
            const uint8_t *qs = src + off + 4;
            for (int j = 0; j < 16; j++) {
                int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
                r->q[b * 32 + j] = (int8_t)(((qs[j] & 0xF) | h0) - (one ? 0 : 16));
                r->q[b * 32 + j + 16] = (int8_t)(((qs[j] >> 4) | h1) - (one ? 0 : 16));
            }
        }
        break;
    }
    case MM_TYPE_Q4_K:
    case MM_TYPE_Q5_K: {
        int five = type == MM_TYPE_Q5_K, bs = five ? 176 : 144;
        for (int64_t b = 0; b < n / 256; b++, src += bs) {
            r->d[b] = h2f(src);
            r->m[b] = h2f(src + 2);
            const uint8_t *scales = src + 4, *qh = src + 16, *ql = src + (five ? 48 : 16);
            int8_t *q = r->q + b * 256;
            for (int g = 0; g < 4; g++) { /* 64 elements: sub-blocks 2g (low nibbles), 2g+1 (high) */
                for (int l = 0; l < 32; l++) {
                    int lo = ql[g * 32 + l] & 0xF, hi = ql[g * 32 + l] >> 4;
                    if (five) {
                        lo += (qh[l] >> (2 * g)) & 1 ? 16 : 0;
                        hi += (qh[l] >> (2 * g + 1)) & 1 ? 16 : 0;
                    }
                    q[g * 64 + l] = (int8_t)lo;
                    q[g * 64 + 32 + l] = (int8_t)hi;
                }
            }
            for (int j = 0; j < 8; j++) {
                int sc, mn;
                get_scale_min_k4(j, scales, &sc, &mn);
                r->sc[b * 16 + 2 * j] = r->sc[b * 16 + 2 * j + 1] = (int16_t)sc;
                r->mn[b * 16 + 2 * j] = r->mn[b * 16 + 2 * j + 1] = (int16_t)mn;
            }
        }
        break;
    }
    case MM_TYPE_Q6_K:
        for (int64_t b = 0; b < n / 256; b++, src += 210) {
            const uint8_t *ql = src, *qh = src + 128;
            const int8_t *sc = (const int8_t *)(src + 192);
            r->d[b] = h2f(src + 208);
            r->m[b] = 0;
            int8_t *q = r->q + b * 256;
            for (int half = 0; half < 2; half++) {
                const uint8_t *l8 = ql + half * 64, *h8 = qh + half * 32;
                int8_t *y = q + half * 128;
                for (int l = 0; l < 32; l++) {
                    y[l + 0] = (int8_t)(((l8[l] & 0xF) | (((h8[l] >> 0) & 3) << 4)) - 32);
                    y[l + 32] = (int8_t)(((l8[l + 32] & 0xF) | (((h8[l] >> 2) & 3) << 4)) - 32);
                    y[l + 64] = (int8_t)(((l8[l] >> 4) | (((h8[l] >> 4) & 3) << 4)) - 32);
                    y[l + 96] = (int8_t)(((l8[l + 32] >> 4) | (((h8[l] >> 6) & 3) << 4)) - 32);
                }
                for (int k = 0; k < 8; k++) {
                    r->sc[b * 16 + half * 8 + k] = sc[half * 8 + k];
                    r->mn[b * 16 + half * 8 + k] = 0;
                }
            }
        }
        break;
    }
}

/* ---- dot products of an unpacked weight row with an activation row ---- */

static inline int32_t idot(const int8_t *a, const int8_t *b, int n) {
    int32_t s = 0;
    for (int i = 0; i < n; i++) s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

static float dot_f(const float *w, const float *x, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += w[i + k] * x[i + k];
    float s = 0;
    for (int k = 0; k < 8; k++) s += acc[k];
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

static float dot_row(int fam, const urow *w, const urow *x, int64_t n) {
    float sum = 0;
    switch (fam) {
    case FAM_F: return dot_f(w->f, x->f, n);
    case FAM_A:
        for (int64_t b = 0; b < n / 32; b++)
            sum += (w->d[b] * x->d[b]) * (float)idot(w->q + b * 32, x->q + b * 32, 32);
        return sum;
    case FAM_B:
        for (int64_t b = 0; b < n / 32; b++)
            sum += (w->d[b] * x->d[b]) * (float)idot(w->q + b * 32, x->q + b * 32, 32) + w->m[b] * x->s[b];
        return sum;
    case FAM_K:
        for (int64_t b = 0; b < n / 256; b++) {
            int32_t isum = 0, imin = 0;
            for (int s = 0; s < 16; s++) {
                isum += w->sc[b * 16 + s] * idot(w->q + b * 256 + s * 16, x->q + b * 256 + s * 16, 16);
                imin += w->mn[b * 16 + s] * x->sc[b * 16 + s];
            }
            /* this order reproduces llama.cpp's Q4_K logits bit for bit on the fixtures */
            sum += (w->d[b] * x->d[b]) * (float)isum - (w->m[b] * x->d[b]) * (float)imin;
        }
        return sum;
    }
    return 0;
}

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
} mm_job;

static void matmul_task(void *arg, int ith, int nth) {
    mm_job *j = arg;
    int64_t a, b;
    mm_split(j->n_out, ith, nth, &a, &b);
    urow w;
    urow_bind(&w, j->wscratch + (size_t)ith * j->wstride, j->n_in);
    const uint8_t *base = (const uint8_t *)j->W->data;
    for (int64_t o = a; o < b; o++) {
        unpack_weight(j->W->type, base + (uint64_t)(j->row0 + o) * j->W->row_bytes, j->n_in, &w);
        for (int64_t t = 0; t < j->T; t++) j->Y[t * j->ldy + o] = dot_row(j->fam, &w, &j->xr[t], j->n_in);
    }
}

mm_code mm_matmul(mm_pool *pool, const mm_tensor *W, int64_t row0, int64_t n_out, const float *X,
                  int64_t T, int64_t ldx, float *Y, int64_t ldy, mm_err *e) {
    int fam = family(W->type);
    int64_t n_in = W->ne[0];
    if (fam < 0) return mm_err_set(e, MM_EUNSUPPORTED, "%s: matrix products with %s weights are not supported",
                                   W->name, mm_type_name(W->type));
    if (row0 < 0 || n_out < 0 || row0 + n_out > W->n_rows)
        return mm_err_set(e, MM_EINVAL, "%s: rows %lld..%lld out of range", W->name, (long long)row0,
                          (long long)(row0 + n_out));
    int nth = mm_pool_threads(pool);
    size_t ub = urow_bytes(n_in);
    char *mem = malloc(ub * (size_t)(T + nth) + (size_t)T * sizeof(urow));
    if (!mem) return mm_err_set(e, MM_ENOMEM, "out of memory in matmul (%s)", W->name);
    urow *xr = (urow *)(mem + ub * (size_t)(T + nth));
    for (int64_t t = 0; t < T; t++) {
        urow_bind(&xr[t], mem + ub * (size_t)t, n_in);
        const float *x = X + t * ldx;
        switch (W->type) {
        case MM_TYPE_F32: memcpy(xr[t].f, x, (size_t)n_in * 4); break;
        case MM_TYPE_F16:
            for (int64_t i = 0; i < n_in; i++) xr[t].f[i] = mm_fp16_to_fp32(mm_fp32_to_fp16(x[i]));
            break;
        case MM_TYPE_BF16:
            for (int64_t i = 0; i < n_in; i++) xr[t].f[i] = mm_bf16_to_fp32(mm_fp32_to_bf16(x[i]));
            break;
        default:
            if (fam == FAM_A) quant_q8_01(x, n_in, &xr[t], 0);
            else if (fam == FAM_B) quant_q8_01(x, n_in, &xr[t], 1);
            else quant_q8_k(x, n_in, &xr[t]);
        }
    }
    mm_job j = {W, row0, n_out, n_in, T, ldy, fam, xr, Y, mem + ub * (size_t)T, ub};
    mm_pool_run(pool, matmul_task, &j);
    free(mem);
    return MM_OK;
}
