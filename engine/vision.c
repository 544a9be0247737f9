/*
 * engine/vision.c — the vision towers of an mmproj: picture tensor -> soft tokens of the
 * text model's width, in the order of operations llama.cpp's clip graphs use.
 *
 *   gemma4v (spec §4.4, clip_graph_gemma4v):  2f-1 -> patch matmul (F16 im2col) -> + x/y
 *     position tables -> ViT blocks (RMSNorm, Q/K norms, weightless V norm, 2-D NEOX RoPE
 *     base 100, bidirectional attention scale 1, post norms, gated FFN, layer scalar) ->
 *     k x k average pooling -> * sqrt(Ev) -> optional (x - std_bias) * std_scale ->
 *     weightless RMSNorm -> mm.input_projection (ClippableLinear clamps where present).
 *   gemma3 (spec §7.2, clip_graph_siglip):  patch matmul + bias -> + learned positions ->
 *     SigLIP blocks (LayerNorm with bias, biased Q/K/V/O, scale 1/sqrt(dh), GELU MLP) ->
 *     post LayerNorm -> k x k average pooling -> RMSNorm * soft_emb_norm -> transposed
 *     mm.input_projection.
 *
 * Shapes (T = patches = nx*ny, patch i at (i % nx, i / nx); Ev tower width; dh head dim;
 * F FFN width; N = T / k^2 soft tokens; D = projection width):
 *   im2col [T][3*p*p];  x, h, o [T][Ev];  q, v [T][Ev];  kt [Ev][T] (K transposed, so the
 *   scores of one query come from the attention kernels of attn_kernels.c);  g, u [T][F];
 *   pooled [N][Ev];  out [N][D].
 * Matrix products go through mm_matmul (threaded by the pool); everything else is scalar C.
 */
#include "mmproj_int.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct venc {
    const mm_vision_tower *v;
    mm_pool *pool;
    int T, nx, ny;
    float *x, *h, *o, *q, *k, *kt, *vv, *att, *g, *u, *tmp, *scores;
    mm_err *e;
} venc;

/* ---------- primitives ---------- */

/* ggml's gelu_quick through its fp16 table (GGML_GELU_QUICK_FP16): x * 1/(1 + exp(-1.702 x)),
 * the result stored as fp16; no short-cut at +-10 (unlike GELU). */
static float gq_table[65536];
static pthread_once_t gq_once = PTHREAD_ONCE_INIT;

static void gq_init(void) {
    for (int h = 0; h < 65536; h++) {
        float x = mm_fp16_to_fp32((uint16_t)h);
        gq_table[h] = mm_fp16_to_fp32(mm_fp32_to_fp16(x * (1.0f / (1.0f + expf(-1.702f * x)))));
    }
}

static float gelu_quick(float x) {
    pthread_once(&gq_once, gq_init);
    return gq_table[mm_fp32_to_fp16(x)];
}

static const float *f32(const mm_tensor *t) { return t ? (const float *)t->data : NULL; }

/* ggml_norm (mean and variance summed in double) then * w + b: LayerNorm of one row. */
static void layer_norm(float *y, const float *x, const float *w, const float *b, int n, float eps) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i];
    const float mean = (float)(s / n);
    double s2 = 0;
    for (int i = 0; i < n; i++) {
        float d = x[i] - mean;
        y[i] = d;
        s2 += (double)(d * d);
    }
    const float scale = 1.0f / sqrtf((float)(s2 / n) + eps);
    for (int i = 0; i < n; i++) {
        float t = y[i] * scale;
        if (w) t = t * w[i];
        if (b) t = t + b[i];
        y[i] = t;
    }
}

/* Row-wise norm of rows rows [rows][n]: RMSNorm (gemma4v) or LayerNorm (gemma3). */
static void norm_rows(const venc *c, float *y, const float *x, const mm_tensor *w, const mm_tensor *b, int rows, int n) {
    const float eps = c->v->hp.eps;
    for (int t = 0; t < rows; t++) {
        if (c->v->hp.type == MM_PROJ_GEMMA4V) mm_rmsnorm(y + (size_t)t * n, x + (size_t)t * n, f32(w), n, eps);
        else layer_norm(y + (size_t)t * n, x + (size_t)t * n, f32(w), f32(b), n, eps);
    }
}


/* the tower's clamped linear layer (mm_tower_linear: the clamp after the bias) */
static mm_code linear(venc *c, const mm_vlinear *l, const float *X, int T, float *Y) {
    return mm_tower_linear(c->pool, l, X, T, Y, c->tmp, 1, c->e);
}

/* ---------- blocks ---------- */

/* Patch embedding: x [T][Ev] = patch @ im2col(img) (+ bias), img planar [3][h][w]; gemma4v
 * first maps f -> 2f - 1 (ggml_scale_bias). */
static mm_code patch_embed(venc *c, const float *img, int w, int h) {
    const mm_vision_tower *v = c->v;
    const int p = v->hp.patch_size, K = 3 * p * p, Ev = v->hp.n_embd, g4 = v->hp.type == MM_PROJ_GEMMA4V;
    float *col = malloc((size_t)c->T * K * sizeof(float));
    if (!col) return mm_err_set(c->e, MM_ENOMEM, "vision: out of memory (%d patches)", c->T);
    for (int py = 0; py < c->ny; py++)
        for (int px = 0; px < c->nx; px++) {
            float *r = col + ((size_t)py * c->nx + px) * K;
            for (int ch = 0; ch < 3; ch++)
                for (int ky = 0; ky < p; ky++)
                    for (int kx = 0; kx < p; kx++) {
                        float f = img[((size_t)ch * h + (size_t)(py * p + ky)) * w + (size_t)(px * p + kx)];
                        *r++ = g4 ? f * 2.0f + -1.0f : f;
                    }
        }
    mm_code rc = mm_matmul(c->pool, &v->patch, 0, Ev, col, c->T, K, c->x, Ev, c->e); /* rounds col to F16 */
    free(col);
    if (rc) return rc;
    if (v->patch_b)
        for (int t = 0; t < c->T; t++)
            for (int i = 0; i < Ev; i++) c->x[(size_t)t * Ev + i] += f32(v->patch_b)[i];
    return MM_OK;
}

/* Position embeddings: gemma4v adds x-table row px then y-table row py; gemma3 the learned row i. */
static mm_code add_positions(venc *c) {
    const mm_vision_tower *v = c->v;
    const int Ev = v->hp.n_embd, n_pos = v->hp.n_pos;
    float *row = c->tmp;
    mm_code rc;
    for (int t = 0; t < c->T; t++) {
        float *x = c->x + (size_t)t * Ev;
        if (v->hp.type == MM_PROJ_GEMMA4V) {
            if ((rc = mm_tensor_dequantize_rows(v->pos_embd, t % c->nx, 1, row, c->e))) return rc;
            for (int i = 0; i < Ev; i++) x[i] += row[i];
            if ((rc = mm_tensor_dequantize_rows(v->pos_embd, n_pos + t / c->nx, 1, row, c->e))) return rc;
            for (int i = 0; i < Ev; i++) x[i] += row[i];
        } else {
            if ((rc = mm_tensor_dequantize_rows(v->pos_embd, t, 1, row, c->e))) return rc;
            for (int i = 0; i < Ev; i++) x[i] += row[i];
        }
    }
    return MM_OK;
}

typedef struct vattn_job {
    venc *c;
    float scale;
} vattn_job;

/* att[t][head] = softmax(scale * q_t . K) @ V over all patches (no mask).  Items are (group of
 * VQ queries, head); the products run over blocks of VB patches so that one block of K (and of
 * V) is read from cache by all VQ queries (mm_qk_group: sixteen per K vector; mm_attn_av_group_acc:
 * the blocked value sums keep the unblocked order, so the bits do not depend on VB). */
enum { VQ = 16, VB = 512 };
static void vattn_task(void *arg, int64_t w0, int64_t w1, int ith) {
    const vattn_job *j = arg;
    venc *c = j->c;
    const int T = c->T, dh = c->v->d_head, H = c->v->hp.n_head, Ev = c->v->hp.n_embd;
    for (int64_t w = w0; w < w1; w++) {
        const int t0 = (int)(w / H) * VQ, hh = (int)(w % H), nq = T - t0 < VQ ? T - t0 : VQ;
        const float *q[VQ], *kt = c->kt + (size_t)hh * dh * T, *vh = c->vv + (size_t)hh * dh;
        float *sc[VQ], *out[VQ], *scb[VQ];
        for (int i = 0; i < nq; i++) {
            q[i] = c->q + (size_t)(t0 + i) * Ev + (size_t)hh * dh;
            sc[i] = c->scores + ((size_t)ith * VQ + i) * T;
            out[i] = c->att + (size_t)(t0 + i) * Ev + (size_t)hh * dh;
        }
        for (int cb = 0; cb < T; cb += VB) {
            const int n = T - cb < VB ? T - cb : VB;
            for (int i = 0; i < nq; i++) scb[i] = sc[i] + cb;
            mm_qk_group(q, nq, kt + cb, 0, T, dh, n, scb);
        }
        for (int i = 0; i < nq; i++) {
            if (j->scale != 1.0f)
                for (int k = 0; k < T; k++) sc[i][k] *= j->scale;
            mm_softmax(sc[i], T);
        }
        for (int cb = 0; cb < T; cb += VB) {
            const int hi = T - cb < VB ? T : cb + VB;
            mm_attn_av_group_acc(out, sc, nq, cb, hi, vh, 0, Ev, dh, cb > 0);
        }
    }
}

/* gemma4v 2-D RoPE of one head vector: NEOX over the first half with the x position, over the
 * second half with the y position, base 100 (theta fixed by llama.cpp for gemma4v). */
static void rope2d(float *x, int dh, int px, int py) {
    mm_rope(x, dh / 2, px, 100.0f, NULL, 1);
    mm_rope(x + dh / 2, dh / 2, py, 100.0f, NULL, 1);
}

/* Self-attention of layer ly on h = norm(x): c->o [T][Ev] = attn_out @ attention. */
static mm_code attention(venc *c, const mm_vlayer *ly) {
    const mm_vision_tower *v = c->v;
    const int T = c->T, Ev = v->hp.n_embd, dh = v->d_head, H = v->hp.n_head, g4 = v->hp.type == MM_PROJ_GEMMA4V;
    const float eps = v->hp.eps;
    mm_code rc;
    if ((rc = linear(c, &ly->q, c->h, T, c->q)) || (rc = linear(c, &ly->k, c->h, T, c->k)) ||
        (rc = linear(c, &ly->v, c->h, T, c->vv)))
        return rc;
    if (g4)
        for (int t = 0; t < T; t++)
            for (int hh = 0; hh < H; hh++) {
                float *q = c->q + (size_t)t * Ev + (size_t)hh * dh, *k = c->k + (size_t)t * Ev + (size_t)hh * dh;
                float *vh = c->vv + (size_t)t * Ev + (size_t)hh * dh;
                mm_rmsnorm(q, q, f32(ly->q_norm), dh, eps);
                mm_rmsnorm(k, k, f32(ly->k_norm), dh, eps);
                rope2d(q, dh, t % c->nx, t / c->nx);
                rope2d(k, dh, t % c->nx, t / c->nx);
                mm_rmsnorm(vh, vh, NULL, dh, eps); /* Gemma 4: weightless V norm */
            }
    for (int t = 0; t < T; t++) /* K transposed: kt[dim][patch] */
        for (int d = 0; d < Ev; d++) c->kt[(size_t)d * T + t] = c->k[(size_t)t * Ev + d];
    vattn_job j = {c, g4 ? 1.0f : 1.0f / sqrtf((float)dh)};
    mm_pool_for(c->pool, (int64_t)((T + VQ - 1) / VQ) * H, vattn_task, &j);
    return linear(c, &ly->o, c->att, T, c->o);
}

/* MLP on h: c->o = down @ act(gate @ h) * (up @ h)  (gemma4v), or down @ gelu(up @ h + b) + b (gemma3). */
static mm_code ffn(venc *c, const mm_vlayer *ly) {
    const mm_vision_tower *v = c->v;
    const int T = c->T;
    const size_t n = (size_t)T * v->hp.n_ff;
    mm_code rc;
    if ((rc = linear(c, &ly->ffn_up, c->h, T, c->u))) return rc;
    float *a = c->u;
    if (ly->ffn_gate.w) {
        if ((rc = linear(c, &ly->ffn_gate, c->h, T, c->g))) return rc;
        a = c->g;
    }
    for (size_t i = 0; i < n; i++) {
        float x = a[i];
        float y = v->ffn_op == MM_VFFN_GELU ? mm_gelu(x) : v->ffn_op == MM_VFFN_SILU ? mm_silu(x) : gelu_quick(x);
        a[i] = ly->ffn_gate.w ? y * c->u[i] : y;
    }
    return linear(c, &ly->ffn_down, a, T, c->o);
}

/* One ViT block on c->x. */
static mm_code block(venc *c, const mm_vlayer *ly) {
    const int T = c->T, Ev = c->v->hp.n_embd;
    const size_t n = (size_t)T * Ev;
    mm_code rc;
    norm_rows(c, c->h, c->x, ly->ln1_w, ly->ln1_b, T, Ev);
    if ((rc = attention(c, ly))) return rc;
    if (ly->attn_post_norm) norm_rows(c, c->o, c->o, ly->attn_post_norm, NULL, T, Ev);
    for (size_t i = 0; i < n; i++) c->x[i] = c->o[i] + c->x[i];
    norm_rows(c, c->h, c->x, ly->ln2_w, ly->ln2_b, T, Ev);
    if ((rc = ffn(c, ly))) return rc;
    if (ly->ffn_post_norm) norm_rows(c, c->o, c->o, ly->ffn_post_norm, NULL, T, Ev);
    for (size_t i = 0; i < n; i++) c->x[i] = c->x[i] + c->o[i];
    if (ly->out_scale) {
        const float s = f32(ly->out_scale)[0];
        for (size_t i = 0; i < n; i++) c->x[i] *= s;
    }
    return MM_OK;
}

/* k x k average pooling of the patch grid (ggml_pool_2d AVG, stride k, no padding): out [N][Ev],
 * token (ox, oy) at oy * (nx/k) + ox; sums in f32, ky outer, kx inner, then / k^2. */
static void avg_pool(const venc *c, float *out, int k) {
    const int Ev = c->v->hp.n_embd, ox_n = c->nx / k, oy_n = c->ny / k;
    for (int oy = 0; oy < oy_n; oy++)
        for (int ox = 0; ox < ox_n; ox++)
            for (int e = 0; e < Ev; e++) {
                float s = 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) s += c->x[((size_t)(oy * k + ky) * c->nx + (size_t)(ox * k + kx)) * Ev + e];
                out[((size_t)oy * ox_n + ox) * Ev + e] = s / (float)(k * k);
            }
}

/* Pooling + projector: out [N][D]. */
static mm_code project(venc *c, float *out) {
    const mm_vision_tower *v = c->v;
    const int Ev = v->hp.n_embd, k = v->hp.n_merge, N = (c->nx / k) * (c->ny / k);
    float *pooled = c->h; /* N <= T rows of Ev */
    avg_pool(c, pooled, k);
    if (v->hp.type == MM_PROJ_GEMMA4V) {
        const float s = sqrtf((float)Ev);
        for (size_t i = 0; i < (size_t)N * Ev; i++) pooled[i] *= s;
        if (v->std_bias)
            for (int t = 0; t < N; t++)
                for (int i = 0; i < Ev; i++) {
                    float *x = pooled + (size_t)t * Ev + i;
                    *x = (*x - f32(v->std_bias)[i]) * f32(v->std_scale)[i];
                }
        for (int t = 0; t < N; t++) mm_rmsnorm(pooled + (size_t)t * Ev, pooled + (size_t)t * Ev, NULL, Ev, v->hp.eps);
    } else {
        for (int t = 0; t < N; t++)
            mm_rmsnorm(pooled + (size_t)t * Ev, pooled + (size_t)t * Ev, f32(v->soft_emb_norm), Ev, v->hp.eps);
    }
    return linear(c, &v->proj, pooled, N, out);
}

/* ---------- entry points ---------- */

int mm_vision_n_tokens(const mm_mmproj *p, int w, int h) {
    const mm_vision_hparams *hp = &p->v.hp;
    if (hp->type == MM_PROJ_NONE || w <= 0 || h <= 0) return 0;
    const int a = hp->patch_size * hp->n_merge;
    return (w / a) * (h / a);
}

static mm_code check_size(const mm_mmproj *p, int w, int h, mm_err *e) {
    const mm_vision_hparams *hp = &p->v.hp;
    const int a = hp->patch_size * hp->n_merge;
    if (hp->type == MM_PROJ_NONE) return mm_err_set(e, MM_EUNSUPPORTED, "vision: this mmproj has no vision tower");
    if (w <= 0 || h <= 0 || w % a || h % a)
        return mm_err_set(e, MM_EINVAL, "vision: a %dx%d input is not a whole number of %dx%d pooled patches", w, h, a, a);
    if (hp->type == MM_PROJ_GEMMA3 && (w != hp->image_size || h != hp->image_size))
        return mm_err_set(e, MM_EINVAL, "vision: gemma3 takes %dx%d inputs, not %dx%d", hp->image_size, hp->image_size,
                          w, h);
    const int nx = w / hp->patch_size, ny = h / hp->patch_size;
    if ((int64_t)nx * ny > (1 << 20))
        return mm_err_set(e, MM_ELIMIT, "vision: %dx%d patches is too many", nx, ny);
    if (hp->type == MM_PROJ_GEMMA4V && (nx > hp->n_pos || ny > hp->n_pos))
        return mm_err_set(e, MM_EINVAL, "vision: the %dx%d patch grid of a %dx%d input exceeds the mmproj's position "
                          "table (v.position_embd.weight has %d entries per axis); use a smaller token budget",
                          nx, ny, w, h, hp->n_pos);
    return MM_OK;
}

mm_code mm_vision_encode(const mm_mmproj *p, const float *img, int w, int h, int n_threads, float *out, mm_err *e) {
    mm_code rc = check_size(p, w, h, e);
    if (rc) return rc;
    const mm_vision_tower *v = &p->v;
    venc c = {0};
    c.v = v;
    c.e = e;
    c.nx = w / v->hp.patch_size;
    c.ny = h / v->hp.patch_size;
    c.T = c.nx * c.ny;
    const size_t T = (size_t)c.T, Ev = (size_t)v->hp.n_embd, F = (size_t)v->hp.n_ff, D = (size_t)v->hp.proj_dim;
    const size_t wide = F > Ev ? F : Ev;
    c.pool = mm_pool_open(n_threads > 0 ? n_threads : 1);
    const int nth = c.pool ? mm_pool_threads(c.pool) : 1;
    int bad = !c.pool;
#define ALLOC(f, n) if (!(c.f = malloc((n) * sizeof(float)))) bad = 1
    ALLOC(x, T * Ev); ALLOC(h, T * Ev); ALLOC(o, T * Ev); ALLOC(q, T * Ev); ALLOC(k, T * Ev); ALLOC(kt, T * Ev);
    ALLOC(vv, T * Ev); ALLOC(att, T * Ev); ALLOC(g, T * F); ALLOC(u, T * F);
    ALLOC(tmp, T * wide > D ? T * wide : D);
    ALLOC(scores, (size_t)nth * VQ * T);
#undef ALLOC
    if (bad) rc = mm_err_set(e, MM_ENOMEM, "vision: out of memory (%zu patches)", T);
    if (!rc) rc = patch_embed(&c, img, w, h);
    if (!rc) rc = add_positions(&c);
    for (int il = 0; il < v->hp.n_layer && !rc; il++) rc = block(&c, &v->layers[il]);
    if (!rc && v->post_ln_w) norm_rows(&c, c.x, c.x, v->post_ln_w, v->post_ln_b, c.T, (int)Ev);
    if (!rc) rc = project(&c, out);
    free(c.x); free(c.h); free(c.o); free(c.q); free(c.k); free(c.kt); free(c.vv); free(c.att);
    free(c.g); free(c.u); free(c.tmp); free(c.scores);
    mm_pool_close(c.pool);
    return rc;
}
