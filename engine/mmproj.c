/*
 * engine/mmproj.c — loading a multimodal projector file ("clip" GGUF, llama.cpp's mmproj):
 * which towers it holds and of which projector type, the vision tower's hyper-parameters
 * and every tensor vision.c reads, checked for presence, shape and type (spec §4.1/§4.2 for
 * gemma4v, §7.2 for gemma3), and the audio tower's (gemma4a, spec §5.1/§5.2) that
 * audio_tower.c reads, from single-tower files and from the two-tower gemma4v + gemma4a file.
 * Errors are MM_ECORRUPT / MM_EUNSUPPORTED naming the key or tensor; nothing here exits.
 */
#include "mmproj_int.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vloader {
    mm_mmproj *p;
    mm_err *e;
    mm_code c;          /* first error; later checks are skipped once set */
} vloader;

const char *mm_proj_type_name(mm_proj_type t) {
    switch (t) {
    case MM_PROJ_GEMMA3: return "gemma3";
    case MM_PROJ_GEMMA4V: return "gemma4v";
    case MM_PROJ_GEMMA4A: return "gemma4a";
    default: return "none";
    }
}

static mm_code fail(vloader *L, mm_code code, const char *fmt, const char *what) {
    if (L->c == MM_OK) L->c = mm_err_set(L->e, code, fmt, what);
    return L->c;
}

/* ---------- keys ---------- */

static int has_key(vloader *L, const char *key) { return mm_gguf_find_key(L->p->g, key) >= 0; }

/* A positive integer key within [lo, hi]; def when absent and not required. */
static int key_int(vloader *L, const char *key, int required, int def, int lo, int hi) {
    if (L->c) return def;
    if (!has_key(L, key)) {
        if (required) fail(L, MM_ECORRUPT, "mmproj: missing key %s", key);
        return def;
    }
    int64_t v = 0;
    if (mm_gguf_get_int(L->p->g, key, &v, L->e) != MM_OK) {
        fail(L, MM_ECORRUPT, "mmproj: key %s is not an integer", key);
        return def;
    }
    if (v < lo || v > hi) {
        if (L->c == MM_OK)
            L->c = mm_err_set(L->e, MM_ECORRUPT, "mmproj: key %s = %lld is outside %d..%d", key, (long long)v, lo, hi);
        return def;
    }
    return (int)v;
}

static float key_float(vloader *L, const char *key, int required, float def) {
    if (L->c) return def;
    if (!has_key(L, key)) {
        if (required) fail(L, MM_ECORRUPT, "mmproj: missing key %s", key);
        return def;
    }
    double v = 0;
    if (mm_gguf_get_float(L->p->g, key, &v, L->e) != MM_OK || !isfinite(v)) {
        fail(L, MM_ECORRUPT, "mmproj: key %s is not a finite float", key);
        return def;
    }
    return (float)v;
}

static int key_bool(vloader *L, const char *key) {
    int v = 0;
    if (L->c || !has_key(L, key)) return 0;
    if (mm_gguf_get_bool(L->p->g, key, &v, L->e) != MM_OK) fail(L, MM_ECORRUPT, "mmproj: key %s is not a bool", key);
    return v;
}

/* Three floats (image_mean / image_std); out keeps its defaults when the key is absent. */
static void key_rgb(vloader *L, const char *key, float out[3]) {
    if (L->c) return;
    int64_t i = mm_gguf_find_key(L->p->g, key);
    if (i < 0) return;
    if (mm_gguf_kv_type(L->p->g, i) != MM_GGUF_ARRAY || mm_gguf_arr_len(L->p->g, i) != 3) {
        fail(L, MM_ECORRUPT, "mmproj: key %s is not an array of 3 floats", key);
        return;
    }
    for (uint64_t j = 0; j < 3; j++) {
        double v = 0;
        if (mm_gguf_arr_float(L->p->g, i, j, &v, L->e) != MM_OK || !isfinite(v)) {
            fail(L, MM_ECORRUPT, "mmproj: key %s is not an array of 3 finite floats", key);
            return;
        }
        out[j] = (float)v;
    }
}

/* A projector type string key -> type; MM_PROJ_NONE when absent.  Unknown names are refused. */
static mm_proj_type key_proj(vloader *L, const char *key) {
    if (L->c || !has_key(L, key)) return MM_PROJ_NONE;
    mm_str s;
    if (mm_gguf_get_str(L->p->g, key, &s, L->e) != MM_OK) {
        fail(L, MM_ECORRUPT, "mmproj: key %s is not a string", key);
        return MM_PROJ_NONE;
    }
    static const mm_proj_type all[] = {MM_PROJ_GEMMA3, MM_PROJ_GEMMA4V, MM_PROJ_GEMMA4A};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        const char *n = mm_proj_type_name(all[k]);
        if (s.n == strlen(n) && !memcmp(s.p, n, s.n)) return all[k];
    }
    if (L->c == MM_OK)
        L->c = mm_err_set(L->e, MM_EUNSUPPORTED, "mmproj: %s = '%.*s' is not a supported projector type "
                          "(gemma3, gemma4v, gemma4a)", key, (int)(s.n > 64 ? 64 : s.n), s.p);
    return MM_PROJ_NONE;
}

/* ---------- tensors ---------- */

/* Tensor `name` with exactly the dims ne[0..nd) (trailing dims 1); f32: it must be F32 (norm
 * weights, biases, scalars are read as floats directly). */
static const mm_tensor *tensor(vloader *L, const char *name, int required, int f32, int nd, int64_t n0, int64_t n1,
                               int64_t n2, int64_t n3) {
    if (L->c) return NULL;
    const mm_tensor *t = mm_gguf_find_tensor(L->p->g, name);
    if (!t) {
        if (required) fail(L, MM_ECORRUPT, "mmproj: missing tensor %s", name);
        return NULL;
    }
    int64_t want[4] = {n0, nd > 1 ? n1 : 1, nd > 2 ? n2 : 1, nd > 3 ? n3 : 1};
    if (t->ne[0] != want[0] || t->ne[1] != want[1] || t->ne[2] != want[2] || t->ne[3] != want[3]) {
        L->c = mm_err_set(L->e, MM_ECORRUPT, "mmproj: tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, "
                          "%lld, %lld, %lld]", name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                          (long long)t->ne[3], (long long)want[0], (long long)want[1], (long long)want[2],
                          (long long)want[3]);
        return NULL;
    }
    if (f32 && t->type != MM_TYPE_F32) {
        L->c = mm_err_set(L->e, MM_EUNSUPPORTED, "mmproj: tensor %s is %s (norms, biases and scalars must be F32)",
                          name, mm_type_name(t->type));
        return NULL;
    }
    if (!f32 && !mm_type_traits_get(t->type)->can_dequantize) {
        L->c = mm_err_set(L->e, MM_EUNSUPPORTED, "mmproj: tensor %s: type %s is not supported", name,
                          mm_type_name(t->type));
        return NULL;
    }
    return t;
}

/* One 1-element F32 clamp scalar; 0 when absent. */
static int clamp_scalar(vloader *L, const char *base, const char *suffix, float *out) {
    char n[MM_GGUF_MAX_NAME + 16];
    snprintf(n, sizeof n, "%s.%s", base, suffix);
    const mm_tensor *t = tensor(L, n, 0, 1, 1, 1, 1, 1, 1);
    if (!t) return 0;
    float v;
    memcpy(&v, t->data, sizeof v);
    if (isnan(v)) {
        fail(L, MM_ECORRUPT, "mmproj: clamp scalar %s is NaN", n);
        return 0;
    }
    *out = v;
    return 1;
}

/* Linear `base`.weight [n_in, n_out] (+ `base`.bias [n_out] when bias), with Gemma 4's optional
 * ClippableLinear bounds when clamps. */
static void linear(vloader *L, mm_vlinear *l, const char *base, int64_t n_in, int64_t n_out, int bias, int clamps) {
    char n[MM_GGUF_MAX_NAME + 16];
    memset(l, 0, sizeof *l);
    l->in_min = l->out_min = -FLT_MAX;
    l->in_max = l->out_max = FLT_MAX;
    snprintf(n, sizeof n, "%s.weight", base);
    l->w = tensor(L, n, 1, 0, 2, n_in, n_out, 1, 1);
    if (bias) {
        snprintf(n, sizeof n, "%s.bias", base);
        l->b = tensor(L, n, 1, 1, 1, n_out, 1, 1, 1);
    }
    if (clamps) {
        l->clamp_in = clamp_scalar(L, base, "input_min", &l->in_min) | clamp_scalar(L, base, "input_max", &l->in_max);
        l->clamp_out = clamp_scalar(L, base, "output_min", &l->out_min) |
                       clamp_scalar(L, base, "output_max", &l->out_max);
    }
}

/* A 2-D matrix [ne0, ne1] made by the loader (the F16 patch kernel, gemma3's transposed projection). */
static void make_matrix(mm_tensor *t, const char *name, uint32_t type, int64_t ne0, int64_t ne1, const void *data) {
    memset(t, 0, sizeof *t);
    t->name = name;
    t->type = type;
    t->n_dims = 2;
    t->ne[0] = ne0, t->ne[1] = ne1, t->ne[2] = t->ne[3] = 1;
    t->n_elements = ne0 * ne1;
    t->n_rows = ne1;
    t->row_bytes = mm_type_row_size(type, ne0);
    t->nbytes = t->row_bytes * (uint64_t)ne1;
    t->data = data;
}

/* The patch kernel [p, p, 3, Ev] as a [3*p*p, Ev] matrix: F16 (ggml rounds im2col and kernel to
 * F16), or F32 for a BF16 kernel (ggml then builds an F32 im2col and multiplies in f32). */
static void patch_matrix(vloader *L, const mm_tensor *k) {
    mm_vision_tower *v = &L->p->v;
    if (L->c) return;
    const int64_t K = k->ne[0] * k->ne[1] * k->ne[2], Ev = k->ne[3];
    float *f = malloc((size_t)(K * Ev) * sizeof(float));
    int as_f32 = k->type == MM_TYPE_BF16;
    v->patch_data = as_f32 ? NULL : malloc((size_t)(K * Ev) * sizeof(uint16_t));
    if (!f || (!as_f32 && !v->patch_data)) {
        free(f);
        fail(L, MM_ENOMEM, "mmproj: out of memory for %s", k->name);
        return;
    }
    if (mm_tensor_dequantize_rows(k, 0, k->n_rows, f, L->e) != MM_OK) {
        free(f);
        L->c = L->e->code;
        return;
    }
    if (as_f32) {
        v->patch_data = (uint16_t *)f; /* holds floats: freed as one block */
        make_matrix(&v->patch, "v.patch_embd.weight", MM_TYPE_F32, K, Ev, f);
        return;
    }
    for (int64_t i = 0; i < K * Ev; i++) v->patch_data[i] = mm_fp32_to_fp16(f[i]);
    free(f);
    make_matrix(&v->patch, "v.patch_embd.weight", MM_TYPE_F16, K, Ev, v->patch_data);
}

/* gemma3: mm.input_projection [D, Ev] (HF [vision, text]) used as its transpose [Ev, D]
 * (llama.cpp: ggml_cont(ggml_transpose(w))).  F32 / F16 / BF16 keep their type (the transpose
 * is exact); a quantised one cannot be transposed (llama.cpp cannot either). */
static void transposed_projection(vloader *L, const mm_tensor *w) {
    mm_vision_tower *v = &L->p->v;
    if (L->c) return;
    if (w->type != MM_TYPE_F32 && w->type != MM_TYPE_F16 && w->type != MM_TYPE_BF16) {
        L->c = mm_err_set(L->e, MM_EUNSUPPORTED, "mmproj: tensor %s is %s (gemma3 needs F32, F16 or BF16: it is used "
                          "transposed)", w->name, mm_type_name(w->type));
        return;
    }
    const int64_t D = w->ne[0], Ev = w->ne[1];
    size_t es = w->type == MM_TYPE_F32 ? 4 : 2;
    v->proj_t_data = malloc((size_t)(D * Ev) * es);
    if (!v->proj_t_data) {
        fail(L, MM_ENOMEM, "mmproj: out of memory for %s", w->name);
        return;
    }
    const uint8_t *src = w->data;
    uint8_t *dst = v->proj_t_data;
    for (int64_t i = 0; i < Ev; i++)       /* source row i (vision dim), column o (text dim) */
        for (int64_t o = 0; o < D; o++) memcpy(dst + (size_t)(o * Ev + i) * es, src + (size_t)(i * D + o) * es, es);
    make_matrix(&v->proj_t, "mm.input_projection.weight^T", w->type, Ev, D, v->proj_t_data);
}

/* ---------- the vision tower ---------- */

static void load_vision(vloader *L, mm_proj_type type) {
    mm_vision_tower *v = &L->p->v;
    mm_vision_hparams *hp = &v->hp;
    const int g4 = type == MM_PROJ_GEMMA4V;
    char n[MM_GGUF_MAX_NAME + 16];
    hp->type = type;
    hp->patch_size = key_int(L, "clip.vision.patch_size", 1, 0, 1, 1024);
    hp->n_embd = key_int(L, "clip.vision.embedding_length", 1, 0, 1, 1 << 15);
    hp->n_ff = key_int(L, "clip.vision.feed_forward_length", 1, 0, 1, 1 << 18);
    hp->n_layer = key_int(L, "clip.vision.block_count", 1, 0, 1, 512);
    hp->n_head = key_int(L, "clip.vision.attention.head_count", 1, 0, 1, 1024);
    hp->eps = key_float(L, "clip.vision.attention.layer_norm_epsilon", 0, 1e-6f);
    hp->image_size = key_int(L, "clip.vision.image_size", !g4, 0, 1, 16384);
    hp->n_merge = key_int(L, "clip.vision.projector.scale_factor", 0, g4 ? 3 : 4, 1, 64);
    int proj_key = key_int(L, "clip.vision.projection_dim", 0, 0, 1, 1 << 17);
    for (int c = 0; c < 3; c++) hp->mean[c] = g4 ? 0.0f : 0.5f, hp->std[c] = g4 ? 1.0f : 0.5f;
    key_rgb(L, "clip.vision.image_mean", hp->mean);
    key_rgb(L, "clip.vision.image_std", hp->std);
    for (int c = 0; c < 3 && !L->c; c++)
        if (hp->std[c] == 0.0f) fail(L, MM_ECORRUPT, "mmproj: %s has a zero entry", "clip.vision.image_std");
    v->ffn_op = key_bool(L, "clip.use_gelu") ? MM_VFFN_GELU : key_bool(L, "clip.use_silu") ? MM_VFFN_SILU
                                                                                          : MM_VFFN_GELU_QUICK;
    if (L->c) return;
    if (!(hp->eps > 0.0f && hp->eps < 1.0f)) {
        fail(L, MM_ECORRUPT, "mmproj: %s is not in (0, 1)", "clip.vision.attention.layer_norm_epsilon");
        return;
    }
    const int Ev = hp->n_embd, F = hp->n_ff, p = hp->patch_size;
    if (Ev % hp->n_head) {
        fail(L, MM_ECORRUPT, "mmproj: %s does not divide the embedding length", "clip.vision.attention.head_count");
        return;
    }
    v->d_head = Ev / hp->n_head;
    if (g4 && v->d_head % 4) { /* 2-D RoPE: NEOX pairs within each half of the head */
        fail(L, MM_ECORRUPT, "mmproj: %s: the head dimension must be a multiple of 4 (2-D RoPE)",
             "clip.vision.attention.head_count");
        return;
    }
    if ((int64_t)3 * p * p > (1 << 22)) {
        fail(L, MM_ECORRUPT, "mmproj: %s is too large", "clip.vision.patch_size");
        return;
    }
    const mm_tensor *pk = tensor(L, "v.patch_embd.weight", 1, 0, 4, p, p, 3, Ev);
    patch_matrix(L, pk);
    if (g4) {
        const mm_tensor *pe = mm_gguf_find_tensor(L->p->g, "v.position_embd.weight");
        if (!pe && !L->c) fail(L, MM_ECORRUPT, "mmproj: missing tensor %s", "v.position_embd.weight");
        if (L->c) return;
        if (pe->ne[1] < 1 || pe->ne[1] > (1 << 20)) {
            fail(L, MM_ECORRUPT, "mmproj: tensor %s has an implausible table size", pe->name);
            return;
        }
        hp->n_pos = (int)pe->ne[1];
        v->pos_embd = tensor(L, "v.position_embd.weight", 1, 0, 3, Ev, hp->n_pos, 2, 1);
        v->std_bias = tensor(L, "v.std_bias", 0, 1, 1, Ev, 1, 1, 1);
        v->std_scale = tensor(L, "v.std_scale", 0, 1, 1, Ev, 1, 1, 1);
        if (!L->c && !v->std_bias != !v->std_scale)
            fail(L, MM_ECORRUPT, "mmproj: %s needs both v.std_bias and v.std_scale", v->std_bias ? "v.std_bias"
                                                                                           : "v.std_scale");
        const mm_tensor *pw = mm_gguf_find_tensor(L->p->g, "mm.input_projection.weight");
        hp->proj_dim = pw && pw->ne[1] > 0 && pw->ne[1] <= (1 << 17) ? (int)pw->ne[1] : 1;
        linear(L, &v->proj, "mm.input_projection", Ev, hp->proj_dim, 0, 1);
    } else {
        if (hp->image_size % p || (hp->image_size / p) % hp->n_merge) {
            fail(L, MM_ECORRUPT, "mmproj: %s is not a whole number of pooled patches", "clip.vision.image_size");
            return;
        }
        int side = hp->image_size / p;
        if ((int64_t)side * side > (1 << 22)) {
            fail(L, MM_ECORRUPT, "mmproj: %s gives too many patches", "clip.vision.image_size");
            return;
        }
        hp->n_pos = side * side;
        v->patch_b = tensor(L, "v.patch_embd.bias", 1, 1, 1, Ev, 1, 1, 1);
        v->pos_embd = tensor(L, "v.position_embd.weight", 1, 0, 2, Ev, hp->n_pos, 1, 1);
        v->post_ln_w = tensor(L, "v.post_ln.weight", 0, 1, 1, Ev, 1, 1, 1);
        v->post_ln_b = v->post_ln_w ? tensor(L, "v.post_ln.bias", 0, 1, 1, Ev, 1, 1, 1) : NULL;
        v->soft_emb_norm = tensor(L, "mm.soft_emb_norm.weight", 1, 1, 1, Ev, 1, 1, 1);
        const mm_tensor *pw = mm_gguf_find_tensor(L->p->g, "mm.input_projection.weight");
        hp->proj_dim = pw && pw->ne[0] > 0 && pw->ne[0] <= (1 << 17) ? (int)pw->ne[0] : 1;
        const mm_tensor *w = tensor(L, "mm.input_projection.weight", 1, 0, 2, hp->proj_dim, Ev, 1, 1);
        transposed_projection(L, w);
        memset(&v->proj, 0, sizeof v->proj);
        v->proj.w = &v->proj_t;
        v->proj.in_min = v->proj.out_min = -FLT_MAX;
        v->proj.in_max = v->proj.out_max = FLT_MAX;
    }
    if (!L->c && proj_key && proj_key != hp->proj_dim)
        L->c = mm_err_set(L->e, MM_ECORRUPT, "mmproj: clip.vision.projection_dim = %d but mm.input_projection.weight "
                          "projects to %d", proj_key, hp->proj_dim);
    if (L->c) return;
    v->layers = calloc((size_t)hp->n_layer, sizeof *v->layers);
    if (!v->layers) {
        fail(L, MM_ENOMEM, "mmproj: %s", "out of memory");
        return;
    }
    for (int il = 0; il < hp->n_layer && !L->c; il++) {
        mm_vlayer *ly = &v->layers[il];
#define VT(field, suffix, req, nd, a, b)                      \
        snprintf(n, sizeof n, "v.blk.%d." suffix, il);       \
        ly->field = tensor(L, n, req, 1, nd, a, b, 1, 1)
#define VL(field, suffix, a, b)                               \
        snprintf(n, sizeof n, "v.blk.%d." suffix, il);       \
        linear(L, &ly->field, n, a, b, !g4, g4)
        VT(ln1_w, "ln1.weight", 1, 1, Ev, 1);
        VT(ln2_w, "ln2.weight", 1, 1, Ev, 1);
        VL(q, "attn_q", Ev, Ev);
        VL(k, "attn_k", Ev, Ev);
        VL(v, "attn_v", Ev, Ev);
        VL(o, "attn_out", Ev, Ev);
        VL(ffn_up, "ffn_up", Ev, F);
        VL(ffn_down, "ffn_down", F, Ev);
        if (g4) {
            VT(q_norm, "attn_q_norm.weight", 1, 1, v->d_head, 1);
            VT(k_norm, "attn_k_norm.weight", 1, 1, v->d_head, 1);
            VT(attn_post_norm, "attn_post_norm.weight", 1, 1, Ev, 1);
            VT(ffn_post_norm, "ffn_post_norm.weight", 1, 1, Ev, 1);
            VT(out_scale, "out_scale.weight", 0, 1, 1, 1);
            VL(ffn_gate, "ffn_gate", Ev, F);
        } else {
            VT(ln1_b, "ln1.bias", 1, 1, Ev, 1);
            VT(ln2_b, "ln2.bias", 1, 1, Ev, 1);
        }
#undef VT
#undef VL
    }
}

/* ---------- the audio tower (gemma4a) ---------- */

/* A free dimension of a tensor the shapes of the others are checked against: ne[axis] of
 * `name`, which must lie in [lo, hi]; 0 (and an error when required) when absent. */
static int dim_of(vloader *L, const char *name, int axis, int required, int lo, int hi) {
    if (L->c) return 0;
    const mm_tensor *t = mm_gguf_find_tensor(L->p->g, name);
    if (!t) {
        if (required) fail(L, MM_ECORRUPT, "mmproj: missing tensor %s", name);
        return 0;
    }
    if (t->ne[axis] < lo || t->ne[axis] > hi) {
        L->c = mm_err_set(L->e, MM_ECORRUPT, "mmproj: tensor %s: dimension %d is %lld, outside %d..%d", name, axis,
                          (long long)t->ne[axis], lo, hi);
        return 0;
    }
    return (int)t->ne[axis];
}

/* A per-channel F32 vector of n values stored as [n] or [1, 1, n] (conv biases); NULL when absent. */
static const mm_tensor *channel_vec(vloader *L, const char *name, int64_t n) {
    if (L->c) return NULL;
    const mm_tensor *t = mm_gguf_find_tensor(L->p->g, name);
    if (!t) return NULL;
    if (t->ne[0] == n) return tensor(L, name, 0, 1, 1, n, 1, 1, 1);
    return tensor(L, name, 0, 1, 3, 1, 1, n, 1);
}

/* Audio linear `base`.weight [n_in, n_out] with its ClippableLinear bounds, optional unless
 * required (absent: l->w stays NULL); bias: also `base`.bias [n_out] when present. */
static void audio_linear(vloader *L, mm_vlinear *l, const char *base, int64_t n_in, int64_t n_out, int required,
                         int bias) {
    char n[MM_GGUF_MAX_NAME + 32];
    memset(l, 0, sizeof *l);
    l->in_min = l->out_min = -FLT_MAX;
    l->in_max = l->out_max = FLT_MAX;
    if (L->c) return;
    snprintf(n, sizeof n, "%s.weight", base);
    if (!required && !mm_gguf_find_tensor(L->p->g, n)) return;
    linear(L, l, base, n_in, n_out, 0, 1);
    if (bias && !L->c) {
        snprintf(n, sizeof n, "%s.bias", base);
        l->b = tensor(L, n, 0, 1, 1, n_out, 1, 1, 1);
    }
}

/* Subsampling conv s: kernel [3, 3, IC, OC] (ggml: kw, kh, ic, oc) as the [9*IC, OC] matrix of
 * mm_audio_tower.conv (column (kh*3 + kw)*IC + ic), F16 unless the kernel is BF16. */
static void conv_matrix(vloader *L, int s, const mm_tensor *k) {
    mm_audio_tower *a = &L->p->a;
    if (L->c) return;
    const int64_t IC = k->ne[2], OC = k->ne[3], K = 9 * IC;
    float *f = malloc((size_t)(K * OC) * sizeof(float)), *r = malloc((size_t)(K * OC) * sizeof(float));
    const int as_f32 = k->type == MM_TYPE_BF16;
    uint16_t *h = as_f32 ? NULL : malloc((size_t)(K * OC) * sizeof(uint16_t));
    if (!f || !r || (!as_f32 && !h)) {
        free(f), free(r), free(h);
        fail(L, MM_ENOMEM, "mmproj: out of memory for %s", k->name);
        return;
    }
    if (mm_tensor_dequantize_rows(k, 0, k->n_rows, f, L->e) != MM_OK) {
        free(f), free(r), free(h);
        L->c = L->e->code;
        return;
    }
    for (int64_t oc = 0; oc < OC; oc++)
        for (int64_t ic = 0; ic < IC; ic++)
            for (int kh = 0; kh < 3; kh++)
                for (int kw = 0; kw < 3; kw++)
                    r[oc * K + (kh * 3 + kw) * IC + ic] = f[((oc * IC + ic) * 3 + kh) * 3 + kw];
    free(f);
    static const char *const names[2] = {"a.conv1d.0.weight", "a.conv1d.1.weight"};
    if (as_f32) {
        a->conv_data[s] = r;
        make_matrix(&a->conv[s], names[s], MM_TYPE_F32, K, OC, r);
        return;
    }
    for (int64_t i = 0; i < K * OC; i++) h[i] = mm_fp32_to_fp16(r[i]);
    free(r);
    a->conv_data[s] = h;
    make_matrix(&a->conv[s], names[s], MM_TYPE_F16, K, OC, h);
}

static void load_audio(vloader *L) {
    mm_audio_tower *a = &L->p->a;
    mm_audio_hparams *hp = &a->hp;
    char n[MM_GGUF_MAX_NAME + 16];
    hp->type = MM_PROJ_GEMMA4A;
    hp->eps = 1e-6f; /* llama.cpp overrides the file's value for gemma4a (spec §5.1) */
    /* required keys, as llama.cpp's load_hparams reads them (the eps only has to exist) */
    hp->n_mel = key_int(L, "clip.audio.num_mel_bins", 1, 0, 1, 4096);
    hp->n_embd = key_int(L, "clip.audio.embedding_length", 1, 0, 2, 1 << 15);
    hp->n_ff = key_int(L, "clip.audio.feed_forward_length", 1, 0, 1, 1 << 18);
    hp->n_layer = key_int(L, "clip.audio.block_count", 1, 0, 1, 512);
    hp->n_head = key_int(L, "clip.audio.attention.head_count", 1, 0, 1, 1024);
    (void)key_float(L, "clip.audio.attention.layer_norm_epsilon", 1, 1e-6f);
    hp->proj_dim = key_int(L, "clip.audio.projection_dim", 1, 0, 1, 1 << 17);
    hp->d_head = key_int(L, "clip.audio.attention.head_dim", 0, hp->n_head ? hp->n_embd / hp->n_head : 0, 1, 1 << 15);
    if (L->c) return;
    const int Da = hp->n_embd, d = hp->d_head;
    if ((int64_t)hp->n_head * d != Da) {
        fail(L, MM_ECORRUPT, "mmproj: %s x head_dim must equal clip.audio.embedding_length",
             "clip.audio.attention.head_count");
        return;
    }
    if (Da % 2) {
        fail(L, MM_ECORRUPT, "mmproj: %s must be even (sinusoidal relative positions)", "clip.audio.embedding_length");
        return;
    }
    a->n_freq[0] = hp->n_mel;
    for (int s = 0; s < 2; s++) a->n_freq[s + 1] = (a->n_freq[s] - 1) / 2 + 1;
    /* subsampling: conv 0 takes the single log-mel plane, conv 1 conv 0's channels */
    a->ch[0] = dim_of(L, "a.conv1d.0.weight", 3, 1, 1, 4096);
    a->ch[1] = dim_of(L, "a.conv1d.1.weight", 3, 1, 1, 4096);
    for (int s = 0; s < 2 && !L->c; s++) {
        snprintf(n, sizeof n, "a.conv1d.%d.weight", s);
        const mm_tensor *k = tensor(L, n, 1, 0, 4, 3, 3, s ? a->ch[0] : 1, a->ch[s]);
        conv_matrix(L, s, k);
        snprintf(n, sizeof n, "a.conv1d.%d.bias", s);
        a->conv_b[s] = channel_vec(L, n, a->ch[s]);
        snprintf(n, sizeof n, "a.conv1d.%d.norm.weight", s);
        a->conv_norm[s] = channel_vec(L, n, a->ch[s]);
    }
    if (L->c) return;
    audio_linear(L, &a->in_proj, "a.input_projection", (int64_t)a->ch[1] * a->n_freq[2], Da, 1, 1);
    /* output: a.pre_encode.out (Da -> Do), weightless or weighted RMSNorm, mm.a.input_projection */
    int Do = Da;
    if (mm_gguf_find_tensor(L->p->g, "a.pre_encode.out.weight")) Do = dim_of(L, "a.pre_encode.out.weight", 1, 1, 1, 1 << 17);
    audio_linear(L, &a->out_proj, "a.pre_encode.out", Da, Do, 0, 1);
    a->soft_emb_norm = tensor(L, "mm.a.soft_emb_norm.weight", 0, 1, 1, Do, 1, 1, 1);
    audio_linear(L, &a->mm_proj, "mm.a.input_projection", Do, hp->proj_dim, 0, 0);
    if (!L->c && !a->mm_proj.w && Do != hp->proj_dim)
        L->c = mm_err_set(L->e, MM_ECORRUPT, "mmproj: clip.audio.projection_dim = %d but the audio tower ends at width "
                          "%d (no mm.a.input_projection.weight)", hp->proj_dim, Do);
    if (L->c) return;
    a->layers = calloc((size_t)hp->n_layer, sizeof *a->layers);
    if (!a->layers) {
        fail(L, MM_ENOMEM, "mmproj: %s", "out of memory");
        return;
    }
    int max_ff = 1;
    for (int il = 0; il < hp->n_layer && !L->c; il++) {
        mm_alayer *ly = &a->layers[il];
#define AT(field, suffix, req, nd, x, y)                      \
        snprintf(n, sizeof n, "a.blk.%d." suffix, il);       \
        ly->field = tensor(L, n, req, 1, nd, x, y, 1, 1)
#define AL(field, suffix, x, y, req, bias)                    \
        snprintf(n, sizeof n, "a.blk.%d." suffix, il);       \
        audio_linear(L, &ly->field, n, x, y, req, bias)
        snprintf(n, sizeof n, "a.blk.%d.ffn_up.weight", il);
        const int F = dim_of(L, n, 1, 1, 1, 1 << 18);
        snprintf(n, sizeof n, "a.blk.%d.ffn_up_1.weight", il);
        const int F1 = dim_of(L, n, 1, 1, 1, 1 << 18);
        max_ff = F > max_ff ? F : max_ff;
        max_ff = F1 > max_ff ? F1 : max_ff;
        AT(ffn_norm, "ffn_norm.weight", 1, 1, Da, 1);
        AL(ffn_up, "ffn_up", Da, F, 1, 0);
        AL(ffn_down, "ffn_down", F, Da, 1, 0);
        AT(ffn_post_norm, "ffn_post_norm.weight", 0, 1, Da, 1);
        AT(attn_pre_norm, "attn_pre_norm.weight", 0, 1, Da, 1);
        if (!ly->attn_pre_norm) { AT(attn_pre_norm, "ln1.weight", 0, 1, Da, 1); }
        AL(q, "attn_q", Da, Da, 0, 0);
        AL(k, "attn_k", Da, Da, 0, 0);
        AL(v, "attn_v", Da, Da, 0, 0);
        AL(o, "attn_out", Da, Da, 1, 1);
        AT(per_dim_scale, "per_dim_scale.weight", 0, 1, d, 1);
        AT(per_dim_k_scale, "per_dim_k_scale.weight", 0, 1, d, 1);
        snprintf(n, sizeof n, "a.blk.%d.attn_k_rel.weight", il);
        ly->k_rel = tensor(L, n, 0, 0, 2, Da, Da, 1, 1);
        AT(attn_post_norm, "attn_post_norm.weight", 0, 1, Da, 1);
        AT(conv_pre_norm, "conv_norm.weight", 0, 1, Da, 1);
        AL(pw1, "conv_pw1", Da, 2 * Da, 1, 0);
        AT(conv_dw, "conv_dw.weight", 1, 2, 5, Da);
        AT(conv_dw_b, "conv_dw.bias", 0, 1, Da, 1);
        AT(conv_post_norm, "norm_conv.weight", 0, 1, Da, 1);
        AL(pw2, "conv_pw2", Da, Da, 1, 0);
        AT(ffn_norm_1, "ffn_norm_1.weight", 1, 1, Da, 1);
        AL(ffn_up_1, "ffn_up_1", Da, F1, 1, 0);
        AL(ffn_down_1, "ffn_down_1", F1, Da, 1, 0);
        AT(ffn_post_norm_1, "ffn_post_norm_1.weight", 0, 1, Da, 1);
        AT(ln2, "ln2.weight", 0, 1, Da, 1);
#undef AT
#undef AL
        ly->has_attn = ly->q.w && ly->k.w && ly->v.w && ly->o.w;
        ly->has_conv = ly->conv_pre_norm != NULL; /* pw1, dw, pw2 are required */
    }
    hp->n_ff = max_ff; /* buffers follow the tensors (the key is not used by the graph) */
}

/* ---------- open / close ---------- */

static mm_code load(mm_mmproj *p, const char *label, mm_err *e) {
    vloader L = {p, e, MM_OK};
    mm_str arch;
    if (mm_gguf_get_str(p->g, "general.architecture", &arch, e) != MM_OK)
        return mm_err_set(e, MM_ECORRUPT, "%s: no general.architecture", label);
    if (arch.n != 4 || memcmp(arch.p, "clip", 4))
        return mm_err_set(e, MM_EUNSUPPORTED, "%s: general.architecture is '%.*s', not 'clip' (not an mmproj file)",
                          label, (int)(arch.n > 64 ? 64 : arch.n), arch.p);
    /* llama.cpp: clip.projector_type (single-tower files) wins; else the per-modality keys */
    mm_proj_type legacy = key_proj(&L, "clip.projector_type");
    mm_proj_type vt = key_proj(&L, "clip.vision.projector_type");
    mm_proj_type at = key_proj(&L, "clip.audio.projector_type");
    p->has_vision = key_bool(&L, "clip.has_vision_encoder");
    p->has_audio = key_bool(&L, "clip.has_audio_encoder");
    if (L.c) goto out;
    if (legacy != MM_PROJ_NONE) {
        if (p->has_vision) vt = legacy;
        if (p->has_audio) at = legacy;
    }
    if (!p->has_vision && !p->has_audio) {
        L.c = mm_err_set(e, MM_ECORRUPT, "mmproj: neither clip.has_vision_encoder nor clip.has_audio_encoder is true");
        goto out;
    }
    if (p->has_vision && vt != MM_PROJ_GEMMA4V && vt != MM_PROJ_GEMMA3) {
        L.c = mm_err_set(e, vt == MM_PROJ_NONE ? MM_ECORRUPT : MM_EUNSUPPORTED,
                         vt == MM_PROJ_NONE ? "mmproj: the vision tower has no projector type "
                                              "(clip.vision.projector_type)"
                                            : "mmproj: projector type %s is not a vision projector", mm_proj_type_name(vt));
        goto out;
    }
    if (p->has_audio && at != MM_PROJ_GEMMA4A) {
        L.c = mm_err_set(e, at == MM_PROJ_NONE ? MM_ECORRUPT : MM_EUNSUPPORTED,
                         at == MM_PROJ_NONE ? "mmproj: the audio tower has no projector type "
                                              "(clip.audio.projector_type)"
                                            : "mmproj: projector type %s is not an audio projector", mm_proj_type_name(at));
        goto out;
    }
    p->audio_type = p->has_audio ? at : MM_PROJ_NONE;
    if (p->has_vision) load_vision(&L, vt);
    if (p->has_audio && !L.c) load_audio(&L);
    if (!L.c && p->has_vision && p->has_audio && p->v.hp.proj_dim != p->a.hp.proj_dim)
        L.c = mm_err_set(e, MM_ECORRUPT, "mmproj: mismatch between vision and audio towers: they project to %d and %d",
                         p->v.hp.proj_dim, p->a.hp.proj_dim);
out:
    if (L.c) mm_err_prefix(e, "%s", label);
    return L.c;
}

static mm_code finish_open(mm_mmproj *p, const char *label, mm_mmproj **out, mm_err *e) {
    mm_code c = load(p, label, e);
    if (c) {
        mm_mmproj_close(p);
        return c;
    }
    *out = p;
    return MM_OK;
}

mm_code mm_mmproj_open(const char *path, mm_mmproj **out, mm_err *e) {
    *out = NULL;
    mm_mmproj *p = calloc(1, sizeof *p);
    if (!p) return mm_err_set(e, MM_ENOMEM, "out of memory");
    mm_code c = mm_gguf_open(path, &p->g, e);
    if (c) {
        free(p);
        return c;
    }
    return finish_open(p, path, out, e);
}

mm_code mm_mmproj_open_memory(const void *data, size_t size, const char *label, mm_mmproj **out, mm_err *e) {
    *out = NULL;
    mm_mmproj *p = calloc(1, sizeof *p);
    if (!p) return mm_err_set(e, MM_ENOMEM, "out of memory");
    mm_code c = mm_gguf_open_memory(data, size, label, &p->g, e);
    if (c) {
        free(p);
        return c;
    }
    return finish_open(p, label ? label : "<memory>", out, e);
}

void mm_mmproj_close(mm_mmproj *p) {
    if (!p) return;
    free(p->v.layers);
    free(p->v.patch_data);
    free(p->v.proj_t_data);
    free(p->a.layers);
    free(p->a.conv_data[0]);
    free(p->a.conv_data[1]);
    mm_gguf_close(p->g);
    free(p);
}

const mm_vision_hparams *mm_mmproj_vision(const mm_mmproj *p) { return &p->v.hp; }
mm_proj_type mm_mmproj_audio_type(const mm_mmproj *p) { return p->audio_type; }
const mm_audio_hparams *mm_mmproj_audio(const mm_mmproj *p) { return &p->a.hp; }
const mm_gguf *mm_mmproj_gguf(const mm_mmproj *p) { return p->g; }

mm_media_attn mm_model_media_attn(const mm_model *m, mm_proj_type t) {
    /* mtmd_decode_use_non_causal(), then the text model's non_causal_type (gemma4: SWA only) */
    int non_causal = t == MM_PROJ_GEMMA3 || (t == MM_PROJ_GEMMA4V && m->n_embd != 1536 && m->n_embd != 2560);
    if (!non_causal) return MM_MEDIA_CAUSAL;
    return m->arch == MM_ARCH_GEMMA4 ? MM_MEDIA_BIDIR_SWA : MM_MEDIA_BIDIR_ALL;
}

/* ---- shared by the towers ---- */

/* ggml_clamp's MAX(MIN(x, hi), lo) (a NaN becomes hi), written so the compiler vectorises it */
static inline float clamp_to(float x, float lo, float hi) {
    const float y = x < hi ? x : hi;
    return y > lo ? y : lo;
}

mm_code mm_tower_linear(mm_pool *pool, const mm_vlinear *l, const float *X, int T, float *Y, float *tmp,
                        int clamp_after_bias, mm_err *e) {
    const int64_t n_in = l->w->ne[0], n_out = l->w->ne[1];
    if (l->clamp_in) {
        for (size_t i = 0; i < (size_t)T * n_in; i++) tmp[i] = clamp_to(X[i], l->in_min, l->in_max);
        X = tmp;
    }
    mm_code rc = mm_matmul(pool, l->w, 0, n_out, X, T, n_in, Y, n_out, e);
    if (rc) return rc;
    const size_t n = (size_t)T * n_out;
    if (l->clamp_out && !clamp_after_bias)
        for (size_t i = 0; i < n; i++) Y[i] = clamp_to(Y[i], l->out_min, l->out_max);
    if (l->b) {
        const float *b = (const float *)l->b->data;
        for (int t = 0; t < T; t++)
            for (int64_t i = 0; i < n_out; i++) Y[(size_t)t * n_out + i] += b[i];
    }
    if (l->clamp_out && clamp_after_bias)
        for (size_t i = 0; i < n; i++) Y[i] = clamp_to(Y[i], l->out_min, l->out_max);
    return MM_OK;
}
