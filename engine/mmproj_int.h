/*
 * engine/mmproj_int.h — private to engine/: the loaded multimodal projector (mmproj.c fills
 * it, vision.c runs it).  Tensor shapes are ggml's (ne[0] contiguous); Ev = tower width,
 * dh = Ev / n_head, F = tower FFN width, p = patch size, D = projection width (text n_embd).
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

struct mm_mmproj {
    mm_gguf *g;
    int has_vision, has_audio;
    mm_proj_type audio_type;       /* the audio tower is not loaded here (another part of issue 5) */
    mm_vision_tower v;
};

#endif
