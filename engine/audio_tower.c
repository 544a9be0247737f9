/*
 * engine/audio_tower.c — the Gemma 4 audio tower of an mmproj (gemma4a, spec §5.4,
 * llama.cpp's clip_graph_gemma4a): one 30 s piece's log-mel features -> soft tokens of the
 * text model's width, 25 per second, in the order of operations of the llama.cpp graph.
 *
 *   mel [n_mel][T] -> transposed to a [T (height)][n_mel (width)] plane ->
 *   2 x (3x3 conv stride 2 pad 1 (F16 im2col and kernel, as ggml_conv_2d) + bias ->
 *        LayerNorm over the channels (weight only, eps 1e-6) -> ReLU) ->
 *   flatten per time step (channel fastest) -> a.input_projection (+ bias) ->
 *   conformer blocks: half-step FFN 1 (RMSNorm, SiLU, post norm, x + 0.5 h),
 *     chunked local self-attention (each position sees itself and the 11 previous ones:
 *     llama.cpp's kq_mask) with Transformer-XL relative positions, Q * 1/sqrt(d)/ln 2 *
 *     per_dim_scale, K * ln(1+e)/ln 2 (* per_dim_k_scale), logits soft-capped at 50,
 *     attn_out (+ bias), post norm, residual;
 *     light conv module: RMSNorm (GGUF conv_norm) -> conv_pw1 -> GLU -> causal depthwise
 *     conv (kernel 5, left pad 4) (+ bias) -> RMSNorm (GGUF norm_conv) -> SiLU -> conv_pw2,
 *     residual; half-step FFN 2; block output RMSNorm (ln2) ->
 *   a.pre_encode.out (+ bias) -> RMSNorm (weightless unless mm.a.soft_emb_norm) ->
 *   mm.a.input_projection.
 * Every linear except attn_k_rel is llama.cpp's build_mm: clamp(W @ clamp(x, in_min, in_max),
 * out_min, out_max), the bias (where one is used) added after the output clamp.  All norms use
 * eps 1e-6.  Zero padding of a piece shorter than one 12-step attention block is invisible:
 * padded keys are masked and padded queries dropped, so only the real positions are computed.
 *
 * Shapes (T frames, T1/T2 after one/two convs, Da width, H heads of d, F FFN width, Do
 * pre_encode.out width, D = proj_dim):
 *   plane [T][n_mel];  conv outputs [T1][n_freq1][C0], [T2][n_freq2][C1] (channel fastest);
 *   x, h, o, q, k, v [T2][Da];  g [T2][wide] (FFN hidden, GLU input, tower output);
 *   kr [13][Da] (relative-position keys by distance);  out [T2][D].
 * Matrix products go through mm_matmul (threaded by the pool); everything else is scalar C.
 */
#include "mmproj_int.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    ACHUNK = 12,      /* attention block: keys of a query lie in [q - ACTX + 1, q] */
    ACTX = 12,        /* keys seen per query (itself and the 11 previous steps, clip.cpp's kq_mask) */
    AREL = 13,        /* relative-position rows llama.cpp computes (distance 12 is always masked) */
    DW_K = 5,         /* depthwise kernel (causal: left pad 4) */
    MAX_FRAMES = 100000 /* ~16.7 min of 10 ms frames: far past one 30 s piece (3000) */
};

static const float A_EPS = 1e-6f;
static const float SOFTCAP = 50.0f;

typedef struct aenc {
    const mm_audio_tower *a;
    mm_pool *pool;
    int T2;
    size_t wide;
    float *x, *h, *o, *q, *k, *v, *g, *tmp, *kr;
    mm_err *e;
} aenc;

static const float *f32(const mm_tensor *t) { return t ? (const float *)t->data : NULL; }


/* the tower's clamped linear layer (mm_tower_linear: the clamp before the bias) */
static mm_code linear(aenc *c, const mm_vlinear *l, const float *X, int T, float *Y) {
    return mm_tower_linear(c->pool, l, X, T, Y, c->tmp, 0, c->e);
}

/* RMSNorm of rows [T][n] (w may be NULL: weightless), in place allowed. */
static void rms_rows(float *y, const float *x, const mm_tensor *w, int T, int n) {
    for (int t = 0; t < T; t++) mm_rmsnorm(y + (size_t)t * n, x + (size_t)t * n, f32(w), n, A_EPS);
}

/* ggml_norm over one row (mean, then variance of the centred values, both summed in double),
 * times w: the subsampling's channel LayerNorm (no bias). */
static void layer_norm(float *x, const float *w, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i];
    const float mean = (float)(s / n);
    double s2 = 0;
    for (int i = 0; i < n; i++) {
        x[i] -= mean;
        s2 += (double)(x[i] * x[i]);
    }
    const float scale = 1.0f / sqrtf((float)(s2 / n) + A_EPS);
    for (int i = 0; i < n; i++) x[i] = w ? (x[i] * scale) * w[i] : x[i] * scale;
}

/* ---------- subsampling ---------- */

/* One 3x3 stride-2 pad-1 conv: in [Hi][Wi][IC] -> out [Ho][Wo][OC] (channel fastest), then
 * bias, channel LayerNorm (when the file has its weight) and ReLU.  The im2col rows are built
 * a block of output rows at a time (column order (kh, kw, ic), matching mm_audio_tower.conv);
 * an F16 kernel makes mm_matmul round them to F16, as ggml's F16 im2col does. */
static mm_code conv_layer(aenc *c, int s, const float *in, int Hi, int Wi, int IC, float *out, int Ho, int Wo) {
    const mm_audio_tower *a = c->a;
    const int OC = a->ch[s], K = 9 * IC;
    int rows = (int)((size_t)(1 << 21) / ((size_t)Wo * K));
    if (rows < 1) rows = 1;
    if (rows > Ho) rows = Ho;
    float *col = malloc((size_t)rows * Wo * K * sizeof(float));
    if (!col) return mm_err_set(c->e, MM_ENOMEM, "audio: out of memory (subsampling conv %d)", s);
    mm_code rc = MM_OK;
    for (int oh0 = 0; oh0 < Ho && !rc; oh0 += rows) {
        const int nr = oh0 + rows <= Ho ? rows : Ho - oh0;
        for (int r = 0; r < nr; r++)
            for (int ow = 0; ow < Wo; ow++) {
                float *p = col + ((size_t)r * Wo + ow) * K;
                for (int kh = 0; kh < 3; kh++) {
                    const int ih = 2 * (oh0 + r) + kh - 1;
                    for (int kw = 0; kw < 3; kw++, p += IC) {
                        const int iw = 2 * ow + kw - 1;
                        if (ih < 0 || ih >= Hi || iw < 0 || iw >= Wi) memset(p, 0, (size_t)IC * sizeof(float));
                        else memcpy(p, in + ((size_t)ih * Wi + iw) * IC, (size_t)IC * sizeof(float));
                    }
                }
            }
        rc = mm_matmul(c->pool, &a->conv[s], 0, OC, col, (int64_t)nr * Wo, K, out + (size_t)oh0 * Wo * OC, OC, c->e);
    }
    free(col);
    if (rc) return rc;
    const float *b = f32(a->conv_b[s]), *nw = f32(a->conv_norm[s]);
    for (size_t pix = 0; pix < (size_t)Ho * Wo; pix++) {
        float *y = out + pix * OC;
        if (b)
            for (int i = 0; i < OC; i++) y[i] += b[i];
        if (nw) layer_norm(y, nw, OC);
        for (int i = 0; i < OC; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
    }
    return MM_OK;
}

/* mel [n_mel][T] -> c->x [T2][Da]. */
static mm_code subsample(aenc *c, const float *mel, int T) {
    const mm_audio_tower *a = c->a;
    const int F0 = a->n_freq[0], F1 = a->n_freq[1], F2 = a->n_freq[2], T1 = (T - 1) / 2 + 1, T2 = c->T2;
    float *plane = malloc((size_t)T * F0 * sizeof(float));
    float *y1 = malloc((size_t)T1 * F1 * a->ch[0] * sizeof(float));
    float *y2 = malloc((size_t)T2 * F2 * a->ch[1] * sizeof(float));
    mm_code rc = MM_OK;
    if (!plane || !y1 || !y2) rc = mm_err_set(c->e, MM_ENOMEM, "audio: out of memory (%d frames)", T);
    if (!rc) {
        for (int f = 0; f < F0; f++) /* ggml_transpose of inp_raw: width = frequency, height = time */
            for (int t = 0; t < T; t++) plane[(size_t)t * F0 + f] = mel[(size_t)f * T + t];
        rc = conv_layer(c, 0, plane, T, F0, 1, y1, T1, F1);
    }
    if (!rc) rc = conv_layer(c, 1, y1, T1, F1, a->ch[0], y2, T2, F2);
    /* [T2][F2][C1] is already the flattened row (channel fastest) a.input_projection takes */
    if (!rc) rc = linear(c, &a->in_proj, y2, T2, c->x);
    free(plane);
    free(y1);
    free(y2);
    return rc;
}

/* ---------- conformer block ---------- */

/* Half-step FFN: x += 0.5 * post_norm(down @ silu(up @ rms(x) * norm)). */
static mm_code ffn(aenc *c, const mm_tensor *norm, const mm_vlinear *up, const mm_vlinear *down,
                   const mm_tensor *post) {
    const int T = c->T2, Da = c->a->hp.n_embd;
    const size_t F = (size_t)up->w->ne[1];
    mm_code rc;
    rms_rows(c->h, c->x, norm, T, Da);
    if ((rc = linear(c, up, c->h, T, c->g))) return rc;
    mm_silu_rows(c->g, (int64_t)T * F);
    if ((rc = linear(c, down, c->g, T, c->o))) return rc;
    if (post) rms_rows(c->o, c->o, post, T, Da);
    for (size_t i = 0; i < (size_t)T * Da; i++) c->x[i] = c->x[i] + c->o[i] * 0.5f;
    return MM_OK;
}

/* kr[r] = attn_k_rel @ pe(r) for distance r = 0..12, pe(r) = [sin(r * inv_ts), cos(r * inv_ts)],
 * inv_ts[i] = exp(-i ln(1e4) / max(Da/2 - 1, 1)) (clip.cpp's pos_emb, row 12 - r). */
static mm_code rel_keys(aenc *c, const mm_alayer *ly) {
    const int Da = c->a->hp.n_embd, nts = Da / 2;
    float *pe = malloc((size_t)AREL * Da * sizeof(float));
    if (!pe) return mm_err_set(c->e, MM_ENOMEM, "audio: out of memory");
    const float step = logf(10000.0f) / (float)(nts - 1 > 1 ? nts - 1 : 1);
    for (int r = 0; r < AREL; r++)
        for (int i = 0; i < nts; i++) {
            const float ang = (float)r * expf(-(float)i * step);
            pe[(size_t)r * Da + i] = sinf(ang);
            pe[(size_t)r * Da + nts + i] = cosf(ang);
        }
    mm_code rc = mm_matmul(c->pool, ly->k_rel, 0, Da, pe, AREL, Da, c->kr, Da, c->e);
    free(pe);
    return rc;
}

/* Chunked local attention on h = rms(x) * pre_norm: x += post_norm(attn_out @ attention). */
static mm_code attention(aenc *c, const mm_alayer *ly) {
    const mm_audio_hparams *hp = &c->a->hp;
    const int T = c->T2, Da = hp->n_embd, H = hp->n_head, d = hp->d_head;
    mm_code rc;
    if (ly->attn_pre_norm) rms_rows(c->h, c->x, ly->attn_pre_norm, T, Da);
    else memcpy(c->h, c->x, (size_t)T * Da * sizeof(float));
    if ((rc = linear(c, &ly->q, c->h, T, c->q)) || (rc = linear(c, &ly->k, c->h, T, c->k)) ||
        (rc = linear(c, &ly->v, c->h, T, c->v)))
        return rc;
    if (ly->k_rel && (rc = rel_keys(c, ly))) return rc;
    const float q_scale = (1.0f / sqrtf((float)d)) / logf(2.0f), k_scale = logf(1.0f + expf(1.0f)) / logf(2.0f);
    const float *pq = f32(ly->per_dim_scale), *pk = f32(ly->per_dim_k_scale);
    for (size_t r = 0; r < (size_t)T * H; r++) { /* ggml_scale, then the per-dim multiplier */
        float *q = c->q + r * d, *k = c->k + r * d;
        for (int i = 0; i < d; i++) {
            q[i] = q[i] * q_scale;
            if (pq) q[i] = q[i] * pq[i];
            k[i] = k[i] * k_scale;
            if (pk) k[i] = k[i] * pk[i];
        }
    }
    /* per query t and head: keys j in [t - 11, t]; score = Q.K + Q.kr[t - j], soft-capped, then
     * softmax over those keys (every other key of the 24-wide block has -1e9: weight 0) */
    float sc[ACTX];
    for (int t = 0; t < T; t++) {
        const int j0 = t - (ACTX - 1) > 0 ? t - (ACTX - 1) : 0, nk = t - j0 + 1;
        for (int hh = 0; hh < H; hh++) {
            const float *q = c->q + (size_t)t * Da + (size_t)hh * d;
            float mx = -INFINITY;
            for (int j = 0; j < nk; j++) {
                const float *k = c->k + (size_t)(j0 + j) * Da + (size_t)hh * d;
                float ac = 0.0f, bd = 0.0f;
                for (int i = 0; i < d; i++) ac += q[i] * k[i];
                if (ly->k_rel) {
                    const float *kr = c->kr + (size_t)(t - j0 - j) * Da + (size_t)hh * d;
                    for (int i = 0; i < d; i++) bd += q[i] * kr[i];
                }
                float s = tanhf((ac + bd) * (1.0f / SOFTCAP)) * SOFTCAP;
                sc[j] = s;
                mx = s > mx ? s : mx;
            }
            double sum = 0;
            for (int j = 0; j < nk; j++) {
                sc[j] = expf(sc[j] - mx);
                sum += (double)sc[j];
            }
            const float inv = (float)(1.0 / sum);
            float *out = c->h + (size_t)t * Da + (size_t)hh * d; /* h is free again: reuse for O */
            for (int i = 0; i < d; i++) out[i] = 0.0f;
            for (int j = 0; j < nk; j++) {
                const float p = sc[j] * inv;
                const float *v = c->v + (size_t)(j0 + j) * Da + (size_t)hh * d;
                for (int i = 0; i < d; i++) out[i] += p * v[i];
            }
        }
    }
    if ((rc = linear(c, &ly->o, c->h, T, c->o))) return rc;
    if (ly->attn_post_norm) rms_rows(c->o, c->o, ly->attn_post_norm, T, Da);
    for (size_t i = 0; i < (size_t)T * Da; i++) c->x[i] = c->x[i] + c->o[i];
    return MM_OK;
}

/* Light conv module: x += pw2 @ silu(rms(dwconv(glu(pw1 @ rms(x) * pre_norm))) * post_norm). */
static mm_code conv_module(aenc *c, const mm_alayer *ly) {
    const int T = c->T2, Da = c->a->hp.n_embd;
    mm_code rc;
    rms_rows(c->h, c->x, ly->conv_pre_norm, T, Da);
    if ((rc = linear(c, &ly->pw1, c->h, T, c->g))) return rc;
    for (int t = 0; t < T; t++) { /* GLU: first half * sigmoid(second half) -> h */
        const float *g = c->g + (size_t)t * 2 * Da;
        float *h = c->h + (size_t)t * Da;
        for (int i = 0; i < Da; i++) h[i] = g[i] * (1.0f / (1.0f + expf(-g[Da + i])));
    }
    /* causal depthwise conv (ggml_ssm_conv over 4 left zeros): o[t][ch] = sum_k w[ch][k] h[t+k-4][ch] */
    const float *w = f32(ly->conv_dw), *b = f32(ly->conv_dw_b);
    for (int t = 0; t < T; t++)
        for (int ch = 0; ch < Da; ch++) {
            float s = 0.0f;
            for (int k = 0; k < DW_K; k++) {
                const int tt = t + k - (DW_K - 1);
                if (tt >= 0) s += c->h[(size_t)tt * Da + ch] * w[(size_t)ch * DW_K + k];
            }
            c->o[(size_t)t * Da + ch] = b ? s + b[ch] : s;
        }
    if (ly->conv_post_norm) rms_rows(c->o, c->o, ly->conv_post_norm, T, Da);
    mm_silu_rows(c->o, (int64_t)T * Da);
    if ((rc = linear(c, &ly->pw2, c->o, T, c->h))) return rc;
    for (size_t i = 0; i < (size_t)T * Da; i++) c->x[i] = c->x[i] + c->h[i];
    return MM_OK;
}

static mm_code block(aenc *c, const mm_alayer *ly) {
    const int T = c->T2, Da = c->a->hp.n_embd;
    mm_code rc;
    if ((rc = ffn(c, ly->ffn_norm, &ly->ffn_up, &ly->ffn_down, ly->ffn_post_norm))) return rc;
    if (ly->has_attn && (rc = attention(c, ly))) return rc;
    if (ly->has_conv && (rc = conv_module(c, ly))) return rc;
    if ((rc = ffn(c, ly->ffn_norm_1, &ly->ffn_up_1, &ly->ffn_down_1, ly->ffn_post_norm_1))) return rc;
    if (ly->ln2) rms_rows(c->x, c->x, ly->ln2, T, Da);
    return MM_OK;
}

/* a.pre_encode.out, RMSNorm (* soft_emb_norm), mm.a.input_projection -> out [T2][D]. */
static mm_code project(aenc *c, float *out) {
    const mm_audio_tower *a = c->a;
    const int T = c->T2;
    int W = a->hp.n_embd;
    float *y = c->x;
    mm_code rc;
    if (a->out_proj.w) {
        if ((rc = linear(c, &a->out_proj, c->x, T, c->g))) return rc;
        y = c->g;
        W = (int)a->out_proj.w->ne[1];
    }
    rms_rows(y, y, a->soft_emb_norm, T, W);
    if (a->mm_proj.w) return linear(c, &a->mm_proj, y, T, out);
    memcpy(out, y, (size_t)T * W * sizeof(float)); /* the loader checked W == proj_dim */
    return MM_OK;
}

/* ---------- entry points ---------- */

int mm_audio_n_tokens(const mm_mmproj *p, int n_frames) {
    if (p->a.hp.type != MM_PROJ_GEMMA4A || n_frames <= 0) return 0;
    const int t1 = (n_frames - 1) / 2 + 1;
    return (t1 - 1) / 2 + 1;
}

mm_code mm_audio_encode(const mm_mmproj *p, const float *mel, int n_frames, int n_threads, float *out, mm_err *e) {
    const mm_audio_tower *a = &p->a;
    if (a->hp.type != MM_PROJ_GEMMA4A) return mm_err_set(e, MM_EUNSUPPORTED, "audio: this mmproj has no audio tower");
    if (n_frames < 1) return mm_err_set(e, MM_EINVAL, "audio: a piece of %d log-mel frames", n_frames);
    if (n_frames > MAX_FRAMES)
        return mm_err_set(e, MM_ELIMIT, "audio: a piece of %d log-mel frames is too long (at most %d; pieces are 30 s)",
                          n_frames, MAX_FRAMES);
    aenc c = {0};
    c.a = a;
    c.e = e;
    c.T2 = mm_audio_n_tokens(p, n_frames);
    const size_t T = (size_t)c.T2, Da = (size_t)a->hp.n_embd, D = (size_t)a->hp.proj_dim;
    size_t wide = 2 * Da;
    const size_t cand[] = {(size_t)a->hp.n_ff, (size_t)a->ch[1] * a->n_freq[2],
                           a->out_proj.w ? (size_t)a->out_proj.w->ne[1] : 0, D};
    for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++) wide = cand[i] > wide ? cand[i] : wide;
    c.wide = wide;
    c.pool = mm_pool_open(n_threads > 0 ? n_threads : 1);
    int bad = !c.pool;
#define ALLOC(f, n) if (!(c.f = malloc((n) * sizeof(float)))) bad = 1
    ALLOC(x, T * Da); ALLOC(h, T * Da); ALLOC(o, T * Da); ALLOC(q, T * Da); ALLOC(k, T * Da); ALLOC(v, T * Da);
    ALLOC(g, T * wide); ALLOC(tmp, T * wide); ALLOC(kr, (size_t)AREL * Da);
#undef ALLOC
    mm_code rc = bad ? mm_err_set(e, MM_ENOMEM, "audio: out of memory (%d frames)", n_frames) : MM_OK;
    if (!rc) rc = subsample(&c, mel, n_frames);
    for (int il = 0; il < a->hp.n_layer && !rc; il++) rc = block(&c, &a->layers[il]);
    if (!rc) rc = project(&c, out);
    free(c.x); free(c.h); free(c.o); free(c.q); free(c.k); free(c.v); free(c.g); free(c.tmp); free(c.kr);
    mm_pool_close(c.pool);
    return rc;
}
