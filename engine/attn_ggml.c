/*
 * engine/attn_ggml.c — attention products in llama.cpp's exact order, for the precise mode
 * (F32 KV cache, flash attention off: how the fixture pack was made and what `mmpipe eval`
 * runs).  The default kernels (attn_kernels.c) keep one fused chain per score, which is faster;
 * these reproduce ggml_vec_dot_f32 as llama.cpp's AVX-512 build computes KQ (over the head
 * dimension) and KQV (over the cells), so that with bit-identical Q, K and V the attention
 * output is bit-identical too and the activations llama.cpp quantises next round the same way.
 * Scalar reference, AVX-512 and AVX2 versions, the same bits at every level
 * (tests/model/test_attn_kernels.c).
 */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

/* ---- the order of every dot product here ---- */
/*
 * ggml_vec_dot_f32 / _f16 as llama.cpp's AVX-512 build runs them, which is how it computes
 * both attention products in its precise mode (KQ over the head dimension, KQV over the
 * cells): elements in steps of 64 go to four 16-lane accumulators by fused multiply-add —
 * element i lands in class m = i mod 64 (accumulator m / 16, lane m % 16); the four are
 * folded (0+2)+(1+3), the 16 lanes as _mm512_reduce_add_ps ((k,k+8), (k,k+4), (k,k+2),
 * (k,k+1)); elements past the last full step are added in double.  Matching it keeps the
 * activations that llama.cpp quantises next (Q8_K for the output projection) on the same
 * side of every rounding boundary.
 *
 * Here the vector lanes run over the other index (cells for the scores, dims for the
 * values), so each class sum S[m] is its own vector chain and the fold is plain
 * element-wise adds: no horizontal reduction, the same bits.
 */
static float fold64_scalar(const float S[64]) {
    float B[16];
    for (int l = 0; l < 16; l++) B[l] = (S[l] + S[32 + l]) + (S[16 + l] + S[48 + l]);
    for (int w = 8; w >= 1; w /= 2)
        for (int k = 0; k < w; k++) B[k] = B[k] + B[k + w];
    return B[0];
}

/* ---- scores ---- */

#define QK_SCALAR_BODY(KAT)                                                                     \
    const int np = hd & ~63;                                                                    \
    for (int c = 0; c < n; c++) {                                                               \
        float S[64] = {0};                                                                      \
        for (int d = 0; d < np; d++) S[d & 63] = fmaf(q[d], KAT((int64_t)d * stride + c), S[d & 63]); \
        double s = fold64_scalar(S);                                                            \
        for (int d = np; d < hd; d++) s += (double)(q[d] * KAT((int64_t)d * stride + c));       \
        out[c] = (float)s;                                                                      \
    }

#define KAT_F32(i) kt[i]

static void qkg_scalar(const float *q, const float *kt, int64_t stride, int hd, int n, float *out) {
    QK_SCALAR_BODY(KAT_F32)
}

/*
 * SIMD scores, NQ queries (1 or 4, the heads of a KV group) against W cells per vector:
 * for each lane-class l, the four chains of classes l, 16+l, 32+l, 48+l run over the steps
 * and are folded at once into B[l] (kept in a small buffer), then B is folded over l.  Each
 * K vector is loaded (and converted) once for the NQ queries.  The dims past the last full
 * step (hd % 64, never in real models) are added in double by the scalar reference's rule.
 */
#define QK_SIMD_BODY(VEC, W, NQ, ZERO, SET1, FMA, ADD, LOADM, STOREM, LOAD, STORE, MASK_T, MASKOF) \
    const int np = hd & ~63, nst = np / 64;                                                     \
    for (int c = 0; c < n; c += W) {                                                            \
        const MASK_T m = MASKOF(n - c);                                                         \
        VEC Bv[NQ][16];                                                                         \
        for (int l = 0; l < 16; l++) {                                                          \
            VEC a[NQ][4];                                                                       \
            for (int i = 0; i < NQ; i++) a[i][0] = a[i][1] = a[i][2] = a[i][3] = ZERO;          \
            for (int st = 0; st < nst; st++)                                                    \
                for (int j = 0; j < 4; j++) {                                                   \
                    const int d = 64 * st + 16 * j + l;                                         \
                    const VEC kv = LOADM(kt + (int64_t)d * stride + c, m);                      \
                    for (int i = 0; i < NQ; i++) a[i][j] = FMA(SET1(q[i][d]), kv, a[i][j]);      \
                }                                                                               \
            for (int i = 0; i < NQ; i++) Bv[i][l] = ADD(ADD(a[i][0], a[i][2]), ADD(a[i][1], a[i][3])); \
        }                                                                                       \
        for (int i = 0; i < NQ; i++) {                                                          \
            for (int w = 8; w >= 1; w /= 2)                                                     \
                for (int k = 0; k < w; k++) Bv[i][k] = ADD(Bv[i][k], Bv[i][k + w]);             \
            if (np == hd) {                                                                     \
                STOREM(out[i] + c, m, Bv[i][0]);                                                \
            } else {                                                                            \
                float f[W], kk[W];                                                              \
                STORE(f, Bv[i][0]);                                                             \
                const int nw = n - c < W ? n - c : W;                                           \
                for (int e = 0; e < nw; e++) {                                                  \
                    double s = f[e];                                                            \
                    for (int d = np; d < hd; d++) {                                             \
                        STORE(kk, LOADM(kt + (int64_t)d * stride + c, m));                      \
                        s += (double)(q[i][d] * kk[e]);                                         \
                    }                                                                           \
                    out[i][c + e] = (float)s;                                                   \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

/* AVX-512: 16 cells per vector, masked loads for the last, partial block */
static inline __mmask16 lanes16(int r) { return r >= 16 ? (__mmask16)0xFFFF : r <= 0 ? 0 : (__mmask16)((1u << r) - 1); }
#define Z512 _mm512_setzero_ps()
#define LOADM_F32(p, m) _mm512_maskz_loadu_ps((m), (p))
#define STOREM512(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define QK512(LOADM, NQ) QK_SIMD_BODY(__m512, 16, NQ, Z512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, \
                                      LOADM, STOREM512, _mm512_loadu_ps, _mm512_storeu_ps, __mmask16, lanes16)

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,f16c")))
AVX512_TARGET static void qkg_avx512(const float *q1, const float *kt, int64_t stride, int hd, int n, float *out1) {
    const float *q[1] = {q1};
    float *out[1] = {out1};
    QK512(LOADM_F32, 1)
}
AVX512_TARGET static void qkg_x4_avx512(const float *const q[4], const float *kt, int64_t stride, int hd, int n,
                                       float *const out[4]) {
    QK512(LOADM_F32, 4)
}

/* AVX2: 8 cells per vector; the last, partial block through a zero-padded copy */
typedef int mask8; /* lanes in use */
static inline mask8 lanes8(int r) { return r >= 8 ? 8 : r; }
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
AVX2_TARGET static inline __m256 load8_f32(const float *p, mask8 m) {
    if (m == 8) return _mm256_loadu_ps(p);
    float t[8] = {0};
    memcpy(t, p, (size_t)m * 4);
    return _mm256_loadu_ps(t);
}
AVX2_TARGET static inline void store8(float *p, mask8 m, __m256 v) {
    if (m == 8) {
        _mm256_storeu_ps(p, v);
        return;
    }
    float t[8];
    _mm256_storeu_ps(t, v);
    memcpy(p, t, (size_t)m * 4);
}
#define QK256(LOADM, NQ) QK_SIMD_BODY(__m256, 8, NQ, _mm256_setzero_ps(), _mm256_set1_ps, _mm256_fmadd_ps, \
                                      _mm256_add_ps, LOADM, store8, _mm256_loadu_ps, _mm256_storeu_ps, mask8, lanes8)
AVX2_TARGET static void qkg_avx2(const float *q1, const float *kt, int64_t stride, int hd, int n, float *out1) {
    const float *q[1] = {q1};
    float *out[1] = {out1};
    QK256(load8_f32, 1)
}

void mm_qk_group_ggml(const float *const q[], int nq, const float *kt, int64_t stride, int hd, int n,
                      float *const out[]) {
    const int lv = mm_cpu_level();
    int i = 0;
    if (lv >= 2)
        for (; i + 4 <= nq; i += 4) qkg_x4_avx512(q + i, kt, stride, hd, n, out + i);
    for (; i < nq; i++) {
        if (lv >= 2) qkg_avx512(q[i], kt, stride, hd, n, out[i]);
        else if (lv == 1) qkg_avx2(q[i], kt, stride, hd, n, out[i]);
        else qkg_scalar(q[i], kt, stride, hd, n, out[i]);
    }
}

/* ---- values ---- */
/*
 * out[d] = the ggml dot product (see the top of this file) over the cells c in [lo, hi) of
 * p[c] and V[c][d], with c's class taken from its absolute index (c mod 64) as llama.cpp
 * sees its cache row; cells outside the span have p = 0 and add nothing (fma(0, v, s) == s
 * for finite v, and no sum starts at -0).  The cache's cell count is treated as a multiple
 * of 64 (llama.cpp pads its cache to 256 cells), so no cell is a leftover.
 */
#define AV_SCALAR_BODY(VAT, PR)                                                                 \
    for (int d = 0; d < hd; d++) {                                                              \
        float S[64] = {0};                                                                      \
        for (int c = lo; c < hi; c++)                                                           \
            if (p[c] != 0.0f) S[c & 63] = fmaf(PR(p[c]), VAT((int64_t)c * ld + d), S[c & 63]);   \
        out[d] = fold64_scalar(S);                                                              \
    }

#define P_AS_IS(x) (x)
#define VAT_F32(i) V[i]

static void avg_scalar(float *out, const float *p, int lo, int hi, const float *V, int64_t ld, int hd) {
    AV_SCALAR_BODY(VAT_F32, P_AS_IS)
}

/*
 * SIMD values, W dims per vector: pass j (0..3) runs the 16 chains of classes 16j + l over
 * the span's 64-cell steps (cells 64st + 16j + l) in 16 registers and parks them in S; then
 * S is folded as fold64_scalar, element-wise over the dims.  p is already rounded to F16
 * for an F16 cache (mm_attn_av_group rounds it once per row; the single-head F16 entry
 * rounds a copy) — here F32 only.
 */
#define AV_SIMD_BODY(VEC, W, ZERO, SET1, FMA, ADD, LOADV, STORE)                                \
    const int st0 = lo / 64, st1 = (hi + 63) / 64;                                              \
    for (int dc = 0; dc + W <= hd; dc += W) {                                                   \
        VEC S[64];                                                                              \
        for (int j = 0; j < 4; j++) {                                                           \
            VEC a[16];                                                                          \
            for (int l = 0; l < 16; l++) a[l] = ZERO;                                           \
            for (int st = st0; st < st1; st++) {                                                \
                const int c0 = 64 * st + 16 * j;                                                \
                if (c0 + 16 <= lo || c0 >= hi) continue;                                        \
                for (int l = 0; l < 16; l++) {                                                  \
                    const int c = c0 + l;                                                       \
                    if (c < lo || c >= hi || p[c] == 0.0f) continue;                            \
                    a[l] = FMA(SET1(p[c]), LOADV((int64_t)c * ld + dc), a[l]);                  \
                }                                                                               \
            }                                                                                   \
            for (int l = 0; l < 16; l++) S[16 * j + l] = a[l];                                  \
        }                                                                                       \
        VEC B[16];                                                                              \
        for (int l = 0; l < 16; l++) B[l] = ADD(ADD(S[l], S[32 + l]), ADD(S[16 + l], S[48 + l])); \
        for (int w = 8; w >= 1; w /= 2)                                                         \
            for (int k = 0; k < w; k++) B[k] = ADD(B[k], B[k + w]);                             \
        STORE(out + dc, B[0]);                                                                  \
    }

#define LOADV512_F32(i) _mm512_loadu_ps(V + (i))
#define AV512(LOADV) AV_SIMD_BODY(__m512, 16, Z512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, LOADV, \
                                  _mm512_storeu_ps)
#define LOADV256_F32(i) _mm256_loadu_ps(V + (i))
#define AV256(LOADV) AV_SIMD_BODY(__m256, 8, _mm256_setzero_ps(), _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, \
                                  LOADV, _mm256_storeu_ps)

AVX512_TARGET static void avg_avx512(float *out, const float *p, int lo, int hi, const float *V, int64_t ld, int hd) {
    AV512(LOADV512_F32)
}
AVX2_TARGET static void avg_avx2(float *out, const float *p, int lo, int hi, const float *V, int64_t ld, int hd) {
    AV256(LOADV256_F32)
}

void mm_attn_av_ggml(float *out, const float *p, int lo, int hi, const float *V, int64_t ld, int hd) {
    const int lv = mm_cpu_level();
    if (lv >= 2 && hd % 16 == 0) avg_avx512(out, p, lo, hi, V, ld, hd);
    else if (lv >= 1 && hd % 8 == 0) avg_avx2(out, p, lo, hi, V, ld, hd);
    else avg_scalar(out, p, lo, hi, V, ld, hd);
}
