/*
 * tests/model/test_attn_kernels.c — the attention primitives (engine/attn_kernels.c)
 * at every SIMD level against the scalar reference, bit for bit, over F32 and F16
 * caches, head sizes 64..512, spans that start and end inside groups of 16; the span
 * softmax against the whole-row softmax of the same row with -inf outside the span;
 * and the scores / weighted values against float64 (a loose bound: wrong indexing,
 * not last bits).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

static uint64_t rng = 12345;
static float frand(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)(rng >> 40) / (float)(1 << 24) - 0.5f;
}

static int fails, checks;
static void expect_same(const void *a, const void *b, size_t n, const char *what, int lvl, int hd, int n_cells) {
    checks++;
    if (memcmp(a, b, n)) {
        printf("FAIL %s: level %s differs from scalar (hd %d, %d cells)\n", what, mm_cpu_level_name(lvl), hd, n_cells);
        fails++;
    }
}

int main(void) {
    const int hds[] = {64, 128, 256, 512, 80};
    const int cells[] = {7, 16, 100, 257};
    for (size_t ih = 0; ih < sizeof hds / sizeof hds[0]; ih++)
        for (size_t ic = 0; ic < sizeof cells / sizeof cells[0]; ic++) {
            const int hd = hds[ih], n = cells[ic], lo = n > 20 ? 5 : 0, hi = n > 20 ? n - 3 : n;
            float *q = malloc(sizeof(float) * hd), *K = malloc(sizeof(float) * hd * n), *V = malloc(sizeof(float) * hd * n);
            uint16_t *K16 = malloc(2 * hd * n), *V16 = malloc(2 * hd * n);
            for (int i = 0; i < hd; i++) q[i] = mm_fp16_to_fp32(mm_fp32_to_fp16(frand()));
            for (int i = 0; i < hd * n; i++) {
                K[i] = frand(), V[i] = frand();
                K16[i] = mm_fp32_to_fp16(K[i]), V16[i] = mm_fp32_to_fp16(V[i]);
            }
            float ref[4][600], got[600], p_ref[300], p_got[300], o_ref[2][512], o_got[512];
            int saved = mm_cpu_set_level(0);
            mm_qk_f32(q, K, n, hd, n, ref[0]);
            mm_qk_f16(q, K16, n, hd, n, ref[1]);
            for (int c = 0; c < n; c++) p_ref[c] = c < lo || c >= hi ? -INFINITY : ref[0][c] * 4.0f;
            memcpy(p_got, p_ref, sizeof(float) * n);
            mm_softmax_span(p_ref, n, lo, hi);
            mm_softmax(p_got, n); /* the whole row: the same values in the span */
            checks++;
            if (memcmp(p_ref + lo, p_got + lo, sizeof(float) * (hi - lo))) {
                printf("FAIL softmax_span differs from the whole-row softmax (%d cells, span %d..%d)\n", n, lo, hi);
                fails++;
            }
            p_ref[lo + 1 < hi ? lo + 1 : lo] = 0.0f; /* a skipped cell */
            mm_attn_av_f32(o_ref[0], p_ref, lo, hi, V, hd, hd);
            mm_attn_av_f16(o_ref[1], p_ref, lo, hi, V16, hd, hd);
            /* float64 checks */
            double worst = 0;
            for (int c = 0; c < n; c++) {
                double s = 0, sa = 0;
                for (int d = 0; d < hd; d++) s += (double)q[d] * K[d * n + c], sa += fabs((double)q[d] * K[d * n + c]);
                worst = fmax(worst, fabs(s - ref[0][c]) / (sa + 1e-30));
            }
            for (int d = 0; d < hd; d++) {
                double s = 0, sa = 0;
                for (int c = lo; c < hi; c++) s += (double)p_ref[c] * V[c * hd + d], sa += fabs((double)p_ref[c] * V[c * hd + d]);
                worst = fmax(worst, fabs(s - o_ref[0][d]) / (sa + 1e-30));
            }
            checks++;
            if (worst > 1e-5) {
                printf("FAIL scores / values off float64 by %.2e (hd %d, %d cells)\n", worst, hd, n);
                fails++;
            }
            for (int lvl = 1; lvl <= 2; lvl++) {
                if (mm_cpu_set_level(lvl), mm_cpu_level() != lvl) continue;
                mm_qk_f32(q, K, n, hd, n, got);
                expect_same(got, ref[0], sizeof(float) * n, "qk_f32", lvl, hd, n);
                mm_qk_f16(q, K16, n, hd, n, got);
                expect_same(got, ref[1], sizeof(float) * n, "qk_f16", lvl, hd, n);
                for (int c = 0; c < n; c++) p_got[c] = c < lo || c >= hi ? -INFINITY : ref[0][c] * 4.0f;
                mm_softmax_span(p_got, n, lo, hi);
                p_got[lo + 1 < hi ? lo + 1 : lo] = 0.0f;
                expect_same(p_got + lo, p_ref + lo, sizeof(float) * (hi - lo), "softmax_span", lvl, hd, n);
                mm_attn_av_f32(o_got, p_ref, lo, hi, V, hd, hd);
                expect_same(o_got, o_ref[0], sizeof(float) * hd, "av_f32", lvl, hd, n);
                mm_attn_av_f16(o_got, p_ref, lo, hi, V16, hd, hd);
                expect_same(o_got, o_ref[1], sizeof(float) * hd, "av_f16", lvl, hd, n);
            }
            /* six heads of one KV group (one pass of four + two single): each equals the
             * single-head scalar reference on its own p (F16: p rounded in place first) */
            for (int f16 = 0; f16 <= 1; f16++) {
                float pg[6][300], ph[6][300], og[6][512], oh[6][512];
                float *pp[6], *oo[6];
                for (int h = 0; h < 6; h++) {
                    for (int c = 0; c < n; c++)
                        pg[h][c] = c < lo || c >= hi ? -INFINITY : (c + h) % 5 == 0 ? 0.0f : frand() * 0.1f;
                    memcpy(ph[h], pg[h], sizeof(float) * n);
                    pp[h] = pg[h], oo[h] = og[h];
                }
                mm_cpu_set_level(0);
                for (int h = 0; h < 6; h++) {
                    if (f16) mm_attn_av_f16(oh[h], ph[h], lo, hi, V16, hd, hd);
                    else mm_attn_av_f32(oh[h], ph[h], lo, hi, V, hd, hd);
                }
                for (int lvl = 0; lvl <= 2; lvl++) {
                    if (mm_cpu_set_level(lvl), mm_cpu_level() != lvl) continue;
                    mm_attn_av_group(oo, pp, 6, lo, hi, f16 ? (const void *)V16 : (const void *)V, f16, hd, hd);
                    for (int h = 0; h < 6; h++)
                        expect_same(og[h], oh[h], sizeof(float) * hd, f16 ? "av_group_f16" : "av_group_f32", lvl, hd, n);
                    /* the span in two blocks, the second continuing the first: the same bits */
                    const int mid = lo + (hi - lo) / 3;
                    mm_attn_av_group_acc(oo, pp, 6, lo, mid, f16 ? (const void *)V16 : (const void *)V, f16, hd, hd, 0);
                    mm_attn_av_group_acc(oo, pp, 6, mid, hi, f16 ? (const void *)V16 : (const void *)V, f16, hd, hd, 1);
                    for (int h = 0; h < 6; h++)
                        expect_same(og[h], oh[h], sizeof(float) * hd, "av_group_acc (two blocks)", lvl, hd, n);
                }
            }
            /* seventeen queries against one K (a tower's rows: one pass of sixteen, then one):
             * each equals the single-query scores, at every level */
            for (int f16 = 0; f16 <= 1; f16++) {
                static float qs[17][512], gs[17][600];
                const float *qq[17];
                float *oo[17];
                for (int i = 0; i < 17; i++) {
                    for (int d = 0; d < hd; d++) qs[i][d] = mm_fp16_to_fp32(mm_fp32_to_fp16(frand()));
                    qq[i] = qs[i], oo[i] = gs[i];
                }
                for (int lvl = 0; lvl <= 2; lvl++) {
                    if (mm_cpu_set_level(lvl), mm_cpu_level() != lvl) continue;
                    mm_qk_group(qq, 17, f16 ? (const void *)K16 : (const void *)K, f16, n, hd, n, oo);
                    for (int i = 0; i < 17; i++) {
                        float one[600];
                        int sv = mm_cpu_set_level(0);
                        if (f16) mm_qk_f16(qs[i], K16, n, hd, n, one);
                        else mm_qk_f32(qs[i], K, n, hd, n, one);
                        mm_cpu_set_level(sv);
                        expect_same(gs[i], one, sizeof(float) * n, f16 ? "qk_group17_f16" : "qk_group17_f32", lvl, hd, n);
                    }
                }
            }
            /* llama.cpp's order (attn_ggml.c, the precise mode): every level gives the scalar
             * reference's bits, four queries at once as one by one, and both stay near float64 */
            {
                float gref[4][600], gv[4][600], pv[300], oref[512], og[512];
                const float *qq[4] = {q, q, q, q};
                float *outs[4] = {gv[0], gv[1], gv[2], gv[3]};
                mm_cpu_set_level(0);
                mm_qk_group_ggml(qq, 1, K, n, hd, n, (float *const[]){gref[0]});
                for (int c = 0; c < n; c++) pv[c] = c < lo || c >= hi ? 0.0f : p_ref[c];
                mm_attn_av_ggml(oref, pv, lo, hi, V, hd, hd);
                double wq = 0, wv = 0;
                for (int c = 0; c < n; c++) {
                    double s2 = 0, sa = 0;
                    for (int d = 0; d < hd; d++) s2 += (double)q[d] * K[d * n + c], sa += fabs((double)q[d] * K[d * n + c]);
                    wq = fmax(wq, fabs(s2 - gref[0][c]) / (sa + 1e-30));
                }
                for (int d = 0; d < hd; d++) {
                    double s2 = 0, sa = 0;
                    for (int c = lo; c < hi; c++) s2 += (double)pv[c] * V[c * hd + d], sa += fabs((double)pv[c] * V[c * hd + d]);
                    wv = fmax(wv, fabs(s2 - oref[d]) / (sa + 1e-30));
                }
                checks++;
                if (wq > 1e-5 || wv > 1e-5) {
                    printf("FAIL ggml-order scores / values off float64 by %.2e / %.2e (hd %d, %d cells)\n", wq, wv, hd, n);
                    fails++;
                }
                for (int lvl = 1; lvl <= 2; lvl++) {
                    if (mm_cpu_set_level(lvl), mm_cpu_level() != lvl) continue;
                    mm_qk_group_ggml(qq, 4, K, n, hd, n, outs);
                    for (int i = 0; i < 4; i++) expect_same(gv[i], gref[0], sizeof(float) * n, "qk_ggml", lvl, hd, n);
                    mm_attn_av_ggml(og, pv, lo, hi, V, hd, hd);
                    expect_same(og, oref, sizeof(float) * hd, "av_ggml", lvl, hd, n);
                }
            }
            mm_cpu_set_level(saved);
            free(q); free(K); free(V); free(K16); free(V16);
        }
    /* exp on the edges: the 16-lane version against the scalar one */
    float x[32] = {0, -0.0f, 1, -1, 88.7f, 89, -87, -104, -110, 200, -200, INFINITY, -INFINITY, NAN, 1e-8f, -1e-8f};
    for (int i = 16; i < 32; i++) x[i] = frand() * 60;
    float a[32], b[32];
    memcpy(a, x, sizeof x), memcpy(b, x, sizeof x);
    int saved = mm_cpu_set_level(0);
    mm_softmax(a, 32);
    mm_cpu_set_level(2);
    mm_softmax(b, 32);
    mm_cpu_set_level(saved);
    checks++;
    if (memcmp(a, b, sizeof a)) {
        printf("FAIL softmax of edge values differs between levels\n");
        fails++;
    }
    printf("%d attention checks, %d failures (best level here: %s)\n", checks, fails, mm_cpu_level_name(mm_cpu_level()));
    return fails ? 1 : 0;
}
