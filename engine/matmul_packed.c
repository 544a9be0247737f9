/*
 * engine/matmul_packed.c — Q4_0 and Q8_0 weight matrices repacked, when a model is
 * opened, into groups of 16 rows so one AVX-512 VNNI instruction does 16 rows at once,
 * and the matrix product over that layout (scalar reference + AVX-512 VNNI kernel).
 *
 * Layout (one "group" = 16 consecutive rows; rows past the matrix are zero):
 *   for each group g, for each 32-element block b (nb = n_in / 32):
 *     16 x F16 scales d[r] of the group's rows                     32 bytes
 *     Q4_0: 4 x 64 bytes: piece L (0..3) holds, row after row, the
 *           4 packed bytes qs_r[4L..4L+3] (their low nibbles are elements
 *           4L..4L+3, their high nibbles 16+4L..16+4L+3), unsigned 0..15 256 bytes
 *     Q8_0: 8 x 64 bytes: piece G (0..7) holds, row after row,
 *           q_r[4G..4G+3] + 128 (as unsigned bytes)                    512 bytes
 * so a group-block is exactly 16 original blocks (288 / 544 bytes) and a 512-bit
 * register holds four consecutive weights of each of the 16 rows.
 *
 * Product: with activations x quantised to Q8_0 (int8 q, scale dx, integer block sum
 * xs), the integer block sum of row r is
 *   Q4_0: sum_j u_j q_j - 8 xs      (u = nibble 0..15, weight = u - 8)
 *   Q8_0: sum_j u_j q_j - 128 xs    (u = weight + 128)
 * exact in int32 (vpdpbusd does not saturate), and each row adds its blocks' terms
 * (d_w * dx) * isum in block order — the order of dot_row in matmul_kernels.inc, so the
 * result has the same bits as the unpacked scalar reference at every level and for any
 * number of activation rows (tests/model/test_kernels.c checks both).
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

enum { PK_ROWS = 16 };

static inline uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

int mm_packed_supported(const mm_tensor *t) {
    return (t->type == MM_TYPE_Q4_0 || t->type == MM_TYPE_Q8_0) && t->ne[0] % 32 == 0 && t->ne[0] >= 32;
}

static size_t block_bytes(uint32_t type) { return type == MM_TYPE_Q4_0 ? 288 : 544; }

size_t mm_packed_bytes(const mm_tensor *t) {
    int64_t groups = (t->n_rows + PK_ROWS - 1) / PK_ROWS;
    return (size_t)groups * (size_t)(t->ne[0] / 32) * block_bytes(t->type);
}

/* out: mm_packed_bytes(t) bytes */
void mm_packed_pack(const mm_tensor *t, uint8_t *out) {
    mm_packed_pack_groups(t, out, 0, (t->n_rows + PK_ROWS - 1) / PK_ROWS);
}

/* Groups [g0, g1) only (rows 16*g0 .. 16*g1-1 of the source), into their place in out. */
void mm_packed_pack_groups(const mm_tensor *t, uint8_t *out, int64_t g0, int64_t groups) {
    const int q4 = t->type == MM_TYPE_Q4_0;
    const int64_t nb = t->ne[0] / 32;
    const int bs = q4 ? 18 : 34;
    const size_t gb = block_bytes(t->type);
    const uint8_t *src = t->data;
    for (int64_t g = g0; g < groups; g++)
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *o = out + (size_t)(g * nb + b) * gb;
            memset(o, 0, gb);
            for (int r = 0; r < PK_ROWS; r++) {
                int64_t row = g * PK_ROWS + r;
                if (row >= t->n_rows) break;
                const uint8_t *blk = src + (uint64_t)row * t->row_bytes + (uint64_t)b * bs;
                memcpy(o + 2 * r, blk, 2);
                for (int piece = 0; piece < (q4 ? 4 : 8); piece++) {
                    uint32_t v;
                    memcpy(&v, blk + 2 + 4 * piece, 4);
                    if (!q4) v ^= 0x80808080u; /* Q8_0: weight + 128 as unsigned bytes */
                    memcpy(o + 32 + piece * 64 + r * 4, &v, 4);
                }
            }
        }
}

/* Row `row` of a packed matrix back to floats (n_in values): a weight read row by row
 * (a tied token embedding) needs no second copy in the file's layout. */
void mm_packed_dequant_row(const mm_tensor *t, int64_t row, float *dst) {
    const int q4 = t->type == MM_TYPE_Q4_0;
    const int64_t nb = t->ne[0] / 32, g = row / PK_ROWS;
    const int r = (int)(row % PK_ROWS);
    const size_t gb = block_bytes(t->type);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = (const uint8_t *)t->packed + (size_t)(g * nb + b) * gb;
        const float d = mm_fp16_to_fp32(rd16(blk + 2 * r));
        for (int piece = 0; piece < (q4 ? 4 : 8); piece++)
            for (int k = 0; k < 4; k++) {
                int u = blk[32 + piece * 64 + r * 4 + k];
                if (q4) {
                    dst[32 * b + 4 * piece + k] = (float)((u & 0xF) - 8) * d;
                    dst[32 * b + 16 + 4 * piece + k] = (float)((u >> 4) - 8) * d;
                } else {
                    dst[32 * b + 4 * piece + k] = (float)(u - 128) * d;
                }
            }
    }
}

/* ---- scalar reference over the packed layout ---- */
static void packed_rows_scalar(const mm_packed_args *a, int64_t g0, int64_t g1) {
    const int q4 = a->q4;
    const size_t gb = q4 ? 288 : 544;
    for (int64_t t = 0; t < a->T; t++)
        for (int64_t g = g0; g < g1; g++)
            for (int r = 0; r < PK_ROWS; r++) {
                int64_t o = g * PK_ROWS + r - a->row0;
                if (o < 0 || o >= a->n_out) continue;
                float sum = 0;
                for (int64_t b = 0; b < a->nb; b++) {
                    const uint8_t *blk = a->data + (size_t)(g * a->nb + b) * gb;
                    const int8_t *xq = a->xq[t] + 32 * b;
                    int32_t isum = 0;
                    for (int piece = 0; piece < (q4 ? 4 : 8); piece++)
                        for (int k = 0; k < 4; k++) {
                            int u = blk[32 + piece * 64 + r * 4 + k];
                            if (q4)
                                isum += (u & 0xF) * xq[4 * piece + k] + (u >> 4) * xq[16 + 4 * piece + k];
                            else
                                isum += u * xq[4 * piece + k];
                        }
                    isum -= (q4 ? 8 : 128) * a->xs[t][b];
                    sum += (mm_fp16_to_fp32(rd16(blk + 2 * r)) * a->xd[t][b]) * (float)isum;
                }
                a->Y[t * a->ldy + o] = sum;
            }
}

/* ---- AVX-512 VNNI: 16 rows per register, up to 8 activation rows per pass ---- */
enum { PK_TT = 8, PK_PF = 6 }; /* PK_PF: blocks prefetched ahead (a read past the matrix is harmless) */

static inline int32_t ld32(const int8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

/* One activation row i against the group-block held in w[8]: the integer sums in two
 * chains (exact, so their order does not matter), then the row's float term added in
 * block order.  The four x bytes of each piece are broadcast from memory. */
#define PK_ROW_STEP(i)                                                                            \
    do {                                                                                          \
        const int8_t *xq = a->xq[t0 + (i)] + 32 * b;                                              \
        __m512i s0 = _mm512_set1_epi32(-bias * a->xs[t0 + (i)][b]), s1 = _mm512_setzero_si512();  \
        s0 = _mm512_dpbusd_epi32(s0, w[0], _mm512_set1_epi32(ld32(xq + 0)));                      \
        s1 = _mm512_dpbusd_epi32(s1, w[1], _mm512_set1_epi32(ld32(xq + 4)));                      \
        s0 = _mm512_dpbusd_epi32(s0, w[2], _mm512_set1_epi32(ld32(xq + 8)));                      \
        s1 = _mm512_dpbusd_epi32(s1, w[3], _mm512_set1_epi32(ld32(xq + 12)));                     \
        s0 = _mm512_dpbusd_epi32(s0, w[4], _mm512_set1_epi32(ld32(xq + 16)));                     \
        s1 = _mm512_dpbusd_epi32(s1, w[5], _mm512_set1_epi32(ld32(xq + 20)));                     \
        s0 = _mm512_dpbusd_epi32(s0, w[6], _mm512_set1_epi32(ld32(xq + 24)));                     \
        s1 = _mm512_dpbusd_epi32(s1, w[7], _mm512_set1_epi32(ld32(xq + 28)));                     \
        __m512 term = _mm512_mul_ps(_mm512_mul_ps(dw, _mm512_set1_ps(a->xd[t0 + (i)][b])),       \
                                    _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)));                \
        acc[i] = _mm512_add_ps(acc[i], term);                                                     \
    } while (0)

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c"))) static void packed_rows_vnni(
    const mm_packed_args *a, int64_t g0, int64_t g1) {
    const int q4 = a->q4;
    const size_t gb = q4 ? 288 : 544;
    const __m512i lo4 = _mm512_set1_epi8(0x0F);
    for (int64_t t0 = 0; t0 < a->T; t0 += PK_TT) {
        const int tt = a->T - t0 < PK_TT ? (int)(a->T - t0) : PK_TT;
        for (int64_t g = g0; g < g1; g++) {
            __m512 acc[PK_TT];
            for (int i = 0; i < PK_TT; i++) acc[i] = _mm512_setzero_ps();
            const uint8_t *blk = a->data + (size_t)g * a->nb * gb;
            for (int64_t b = 0; b < a->nb; b++, blk += gb) {
                /* decoding streams the weights once: ask for the block-group PK_PF ahead */
                for (size_t cl = 0; cl < gb; cl += 64) _mm_prefetch((const char *)blk + PK_PF * gb + cl, _MM_HINT_T0);
                __m512i w[8];
                if (q4) {
                    for (int p = 0; p < 4; p++) {
                        __m512i v = _mm512_loadu_si512((const void *)(blk + 32 + 64 * p));
                        w[p] = _mm512_and_si512(v, lo4);
                        w[4 + p] = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4);
                    }
                } else {
                    for (int p = 0; p < 8; p++) w[p] = _mm512_loadu_si512((const void *)(blk + 32 + 64 * p));
                }
                const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk));
                const int bias = q4 ? 8 : 128;
                if (tt == PK_TT) {
                    for (int i = 0; i < PK_TT; i++) PK_ROW_STEP(i);
                } else {
                    for (int i = 0; i < tt; i++) PK_ROW_STEP(i);
                }
            }
            /* rows g*16 .. g*16+15 that lie in [row0, row0 + n_out) */
            int64_t o = g * PK_ROWS - a->row0, n = a->n_out - o < PK_ROWS ? a->n_out - o : PK_ROWS;
            __mmask16 m = (__mmask16)((1u << n) - 1);
            for (int i = 0; i < tt; i++) _mm512_mask_storeu_ps(a->Y + (t0 + i) * a->ldy + o, m, acc[i]);
        }
    }
}

int mm_packed_has_kernel(void) {
    static int v = -1;
    if (v < 0)
        v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    return v;
}

/* Groups [g0, g1) of the call's rows for every activation row: the SIMD kernel at
 * level 2 when the CPU has VNNI, else the scalar reference. */
void mm_packed_rows(const mm_packed_args *a, int64_t g0, int64_t g1) {
    if (mm_cpu_level() >= 2 && mm_packed_has_kernel()) packed_rows_vnni(a, g0, g1);
    else packed_rows_scalar(a, g0, g1);
}
