/*
 * engine/mmproj_int.h — private to engine/: the loaded multimodal projector (mmproj.c fills
 * it, vision.c runs it).  Tensor shapes are ggml's (ne[0] contiguous); Ev = tower width,
 * dh = Ev / n_head, F = tower FFN width, p = patch size, D = projection width (text n_embd).
 * Audio (gemma4a, audio_tower.c): Da = conformer width, H heads of d = Da / H, Fa = FFN width,
 * C0/C1 = subsampling channels, Do = a.pre_encode.out width.
 */
#ifndef MM_MMPROJ_INT_H
#define MM_MMPROJ_INT_H

#include "engine_int.h"

/* A linear layer of the tower: y = clamp(W @ clamp(x, in_min, in_max) + b, out_min, out_max).
 * The clamps are Gemma 4's ClippableLinear scalars (<weight>.input_min/... 1-element tensors),
 * +-FLT_MAX when absent; b is NULL for Gemma 4. */
typedef struct mm_vlinear {
    const mm_tensor *w;        /* [n_in, n_out] */
    const mm_tensor *b;        /* [n_out] or NULL */
    float in_min, in_max, out_min, out_max;
    int clamp_in, clamp_out;   /* 1 when a bound is present */
} mm_vlinear;

typedef struct mm_vlayer {
    const mm_tensor *ln1_w, *ln1_b, *ln2_w, *ln2_b;        /* [Ev]; biases only for gemma3 (LayerNorm) */
    mm_vlinear q, k, v, o;                                  /* [Ev, Ev] */
    const mm_tensor *q_norm, *k_norm;                       /* gemma4v: [dh] per-head RMSNorm */
    const mm_tensor *attn_post_norm, *ffn_post_norm;        /* gemma4v: [Ev] */
    const mm_tensor *out_scale;                             /* gemma4v: [1], optional layer scalar */
    mm_vlinear ffn_gate, ffn_up, ffn_down;                  /* [Ev, F] (gate only gemma4v), [F, Ev] */
} mm_vlayer;

enum { MM_VFFN_GELU_QUICK = 0, MM_VFFN_GELU = 1, MM_VFFN_SILU = 2 };

typedef struct mm_vision_tower {
    mm_vision_hparams hp;
    int d_head;
    int ffn_op;                    /* MM_VFFN_*: clip.use_gelu / clip.use_silu, else GELU-quick */
    /* patch embedding as a matrix [3*p*p, Ev] (row e = kernel e in (c, ky, kx) order), F16:
     * ggml's conv_2d rounds both the im2col buffer and the kernel to F16 (spec §4.4) */
    mm_tensor patch;
    uint16_t *patch_data;
    const mm_tensor *patch_b;      /* gemma3: [Ev] */
    const mm_tensor *pos_embd;     /* gemma4v: [Ev, n_pos, 2] (x table, y table); gemma3: [Ev, n_patches] */
    const mm_tensor *post_ln_w, *post_ln_b;   /* gemma3: [Ev] */
    const mm_tensor *std_bias, *std_scale;    /* gemma4v: [Ev], optional (both or neither) */
    const mm_tensor *soft_emb_norm;           /* gemma3: [Ev] */
    mm_vlinear proj;               /* gemma4v: mm.input_projection [Ev, D]; gemma3: its transpose (below) */
    mm_tensor proj_t;              /* gemma3: mm.input_projection is stored [D, Ev] and used transposed */
    void *proj_t_data;
    mm_vlayer *layers;
} mm_vision_tower;

/* One conformer block of the gemma4a tower (spec §5.2/§5.4).  A sub-module whose tensors are
 * missing is skipped, as llama.cpp does: attention needs q, k, v and o; the conv module needs
 * conv_pre_norm (GGUF "conv_norm") besides pw1/dw/pw2.  Biases other than attn_out's are never
 * used (llama.cpp loads and ignores them), so they are not loaded. */
typedef struct mm_alayer {
    const mm_tensor *ffn_norm, *ffn_post_norm;              /* [Da]; FFN 1 (post norm optional) */
    mm_vlinear ffn_up, ffn_down;                            /* [Da, Fa], [Fa, Da] */
    const mm_tensor *attn_pre_norm;                         /* [Da] (GGUF attn_pre_norm or ln1), optional */
    mm_vlinear q, k, v, o;                                  /* [Da, Da]; o may carry a bias [Da] */
    const mm_tensor *per_dim_scale, *per_dim_k_scale;       /* [d], softplus already applied; optional */
    const mm_tensor *k_rel;                                 /* [Da, Da] relative-position projection, optional */
    const mm_tensor *attn_post_norm;                        /* [Da], optional */
    const mm_tensor *conv_pre_norm;                         /* GGUF conv_norm [Da]: before conv_pw1 */
    mm_vlinear pw1, pw2;                                    /* [Da, 2 Da] (GLU), [Da, Da] */
    const mm_tensor *conv_dw, *conv_dw_b;                   /* F32 [5, Da] causal depthwise kernel, [Da] */
    const mm_tensor *conv_post_norm;                        /* GGUF norm_conv [Da]: after the depthwise conv */
    const mm_tensor *ffn_norm_1, *ffn_post_norm_1;          /* FFN 2 */
    mm_vlinear ffn_up_1, ffn_down_1;
    const mm_tensor *ln2;                                   /* [Da] block output norm, optional */
    int has_attn, has_conv;
} mm_alayer;

typedef struct mm_audio_tower {
    mm_audio_hparams hp;
    int n_freq[3];                 /* mel bins after 0, 1, 2 stride-2 convs (128 -> 64 -> 32) */
    int ch[2];                     /* C0, C1: output channels of the two subsampling convs */
    /* the 3x3 subsampling kernels as [9*IC, OC] matrices, column order (kh, kw, ic) so that an
     * im2col row reads channel-fastest activations contiguously; F16 like ggml's conv_2d (F32
     * for a BF16 kernel, as ggml then builds an F32 im2col) */
    mm_tensor conv[2];
    void *conv_data[2];
    const mm_tensor *conv_b[2], *conv_norm[2];  /* [OC] each, optional (no norm: no LayerNorm) */
    mm_vlinear in_proj;            /* a.input_projection [C1*n_freq[2], Da] (+ bias) */
    mm_alayer *layers;
    mm_vlinear out_proj;           /* a.pre_encode.out [Da, Do] (+ bias); w NULL: skipped */
    const mm_tensor *soft_emb_norm;/* mm.a.soft_emb_norm [Do], optional */
    mm_vlinear mm_proj;            /* mm.a.input_projection [Do, D]; w NULL: skipped */
} mm_audio_tower;

struct mm_mmproj {
    mm_gguf *g;
    int has_vision, has_audio;
    mm_proj_type audio_type;
    mm_vision_tower v;
    mm_audio_tower a;
};

/* Y [T][n_out] = W @ clamp_in(X) with the bias and the output clamp in the tower's order:
 * vision clamps after the bias (llama.cpp's clip graph), audio before it (build_mm, then
 * ggml_add of the bias).  X is copied into tmp (T * n_in floats) when it must be clamped; Y must
 * not alias X. */
mm_code mm_tower_linear(mm_pool *pool, const mm_vlinear *l, const float *X, int T, float *Y, float *tmp,
                        int clamp_after_bias, mm_err *e);

#endif
