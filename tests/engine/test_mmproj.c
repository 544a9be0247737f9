/*
 * tests/engine/test_mmproj.c — mm_mmproj_open and mm_vision_encode on hostile input: a tiny
 * gemma4v mmproj written in memory (no Python, no ../shared), then broken one way at a time —
 * every truncation, another architecture, unknown / missing projector types, a missing or
 * misshapen tensor, a key of the wrong type — and inputs the tower cannot take (a patch grid
 * past the position table, sizes that are not whole pooled patches).  The same for a tiny gemma4a
 * audio tower: valid (encodes, 1 vs 2 threads identical), optional sub-modules left out, required
 * tensors / keys missing, misshapen or implausible tensors, every truncation.  With ../shared
 * present it also opens the pack's real mmproj files (vision, audio-only, vision + audio in one
 * file).
 * argv[1]: the shared folder (optional).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#pragma GCC diagnostic ignored "-Wunused-function" /* gguf_build.h: only the writer helpers are used */
#include "gguf_build.h"
#include "test_util.h"

/* What to build / break. */
typedef struct spec {
    const char *arch;       /* general.architecture */
    const char *vtype;      /* clip.vision.projector_type (NULL: absent) */
    const char *skip;       /* tensor left out */
    const char *bad_shape;  /* tensor written one element wider */
    int n_pos;              /* position table entries per axis */
    int eps_as_string;      /* write the eps key as a string */
} spec;

enum { P = 2, EV = 8, NH = 2, FF = 8, D = 8 };

typedef struct tinfo { char name[64]; int nd; int64_t ne[4]; } tinfo;

static int tensors(const spec *s, tinfo *t) {
    int n = 0;
#define T(nm, d, a, b, c, e) do { snprintf(t[n].name, 64, "%s", nm); t[n].nd = d; t[n].ne[0] = a; t[n].ne[1] = b; \
                                   t[n].ne[2] = c; t[n].ne[3] = e; n++; } while (0)
    T("v.patch_embd.weight", 4, P, P, 3, EV);
    T("v.position_embd.weight", 3, EV, s->n_pos, 2, 1);
    T("v.blk.0.ln1.weight", 1, EV, 1, 1, 1);
    T("v.blk.0.attn_q.weight", 2, EV, EV, 1, 1);
    T("v.blk.0.attn_k.weight", 2, EV, EV, 1, 1);
    T("v.blk.0.attn_v.weight", 2, EV, EV, 1, 1);
    T("v.blk.0.attn_q_norm.weight", 1, EV / NH, 1, 1, 1);
    T("v.blk.0.attn_k_norm.weight", 1, EV / NH, 1, 1, 1);
    T("v.blk.0.attn_out.weight", 2, EV, EV, 1, 1);
    T("v.blk.0.attn_out.input_max", 1, 1, 1, 1, 1);
    T("v.blk.0.attn_post_norm.weight", 1, EV, 1, 1, 1);
    T("v.blk.0.ln2.weight", 1, EV, 1, 1, 1);
    T("v.blk.0.ffn_gate.weight", 2, EV, FF, 1, 1);
    T("v.blk.0.ffn_up.weight", 2, EV, FF, 1, 1);
    T("v.blk.0.ffn_down.weight", 2, FF, EV, 1, 1);
    T("v.blk.0.ffn_post_norm.weight", 1, EV, 1, 1, 1);
    T("v.blk.0.out_scale.weight", 1, 1, 1, 1, 1);
    T("v.std_bias", 1, EV, 1, 1, 1);
    T("v.std_scale", 1, EV, 1, 1, 1);
    T("mm.input_projection.weight", 2, EV, D, 1, 1);
#undef T
    return n;
}

static void kv_str(gb *b, const char *k, const char *v) { gb_str(b, k); gb_u32(b, 8); gb_str(b, v); }
static void kv_u32(gb *b, const char *k, uint32_t v) { gb_str(b, k); gb_u32(b, 4); gb_u32(b, v); }
static void kv_bool(gb *b, const char *k, int v) { gb_str(b, k); gb_u32(b, 7); gb_u8(b, (uint8_t)v); }
static void kv_f32(gb *b, const char *k, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    gb_str(b, k);
    gb_u32(b, 6);
    gb_u32(b, u);
}
static void kv_f32x3(gb *b, const char *k, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    gb_str(b, k);
    gb_u32(b, 9);
    gb_u32(b, 6);
    gb_u64(b, 3);
    for (int i = 0; i < 3; i++) gb_u32(b, u);
}

/* A deterministic pseudo-random value in [-0.5, 0.5). */
static float rnd(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f - 0.5f;
}

static void build(gb *b, const spec *s) {
    tinfo t[32];
    int nt = tensors(s, t), n_out = 0;
    for (int i = 0; i < nt; i++) {
        if (s->skip && !strcmp(t[i].name, s->skip)) continue;
        if (s->bad_shape && !strcmp(t[i].name, s->bad_shape)) t[i].ne[0]++;
        t[n_out++] = t[i];
    }
    int nkv = 12 + (s->vtype != NULL);
    memset(b, 0, sizeof *b);
    gb_bytes(b, "GGUF", 4);
    gb_u32(b, 3);
    gb_u64(b, (uint64_t)n_out);
    gb_u64(b, (uint64_t)nkv);
    kv_str(b, "general.architecture", s->arch);
    kv_bool(b, "clip.has_vision_encoder", 1);
    if (s->vtype) kv_str(b, "clip.vision.projector_type", s->vtype);
    kv_u32(b, "clip.vision.projection_dim", D);
    kv_u32(b, "clip.vision.image_size", 224);
    kv_u32(b, "clip.vision.patch_size", P);
    kv_u32(b, "clip.vision.embedding_length", EV);
    kv_u32(b, "clip.vision.feed_forward_length", FF);
    kv_u32(b, "clip.vision.block_count", 1);
    kv_u32(b, "clip.vision.attention.head_count", NH);
    kv_f32x3(b, "clip.vision.image_mean", 0.0f);
    kv_f32x3(b, "clip.vision.image_std", 1.0f);
    if (s->eps_as_string) kv_str(b, "clip.vision.attention.layer_norm_epsilon", "1e-6");
    else kv_f32(b, "clip.vision.attention.layer_norm_epsilon", 1e-6f);
    uint64_t off = 0;
    for (int i = 0; i < n_out; i++) {
        gb_str(b, t[i].name);
        gb_u32(b, (uint32_t)t[i].nd);
        int64_t ne = 1;
        for (int d = 0; d < t[i].nd; d++) gb_u64(b, (uint64_t)t[i].ne[d]), ne *= t[i].ne[d];
        gb_u32(b, 0); /* F32 */
        gb_u64(b, off);
        off += ((uint64_t)ne * 4 + 31) / 32 * 32;
    }
    gb_pad(b, 32);
    uint32_t seed = 7;
    for (int i = 0; i < n_out; i++) {
        int64_t ne = t[i].ne[0] * t[i].ne[1] * t[i].ne[2] * t[i].ne[3];
        int norm = strstr(t[i].name, "norm") || strstr(t[i].name, "ln") || strstr(t[i].name, "scale");
        for (int64_t k = 0; k < ne; k++) {
            float v = norm ? 1.0f + 0.2f * rnd(&seed) : rnd(&seed);
            if (strstr(t[i].name, "input_max")) v = 0.5f;
            uint32_t u;
            memcpy(&u, &v, 4);
            gb_u32(b, u);
        }
        gb_pad(b, 32);
    }
}

static mm_code open_spec(const spec *s, mm_mmproj **p, mm_err *e, gb *b) {
    build(b, s);
    return mm_mmproj_open_memory(b->p, b->n, "tiny", p, e);
}

static spec base(void) { return (spec){"clip", "gemma4v", NULL, NULL, 8, 0}; }

static void expect_fail(spec s, mm_code code, const char *needle) {
    gb b;
    mm_mmproj *p = NULL;
    mm_err e = {0};
    mm_code c = open_spec(&s, &p, &e, &b);
    CHECK(c == code && p == NULL, "expected code %d, got %d (%s)", (int)code, (int)c, e.msg);
    CHECK(strstr(e.msg, needle) != NULL, "message '%s' does not name '%s'", e.msg, needle);
    mm_mmproj_close(p);
    free(b.p);
}

static void test_valid_and_encode(void) {
    spec s = base();
    gb b;
    mm_mmproj *p = NULL;
    mm_err e = {0};
    mm_code c = open_spec(&s, &p, &e, &b);
    CHECK(c == MM_OK, "valid tiny mmproj refused: %s", e.msg);
    if (c) {
        free(b.p);
        return;
    }
    const mm_vision_hparams *hp = mm_mmproj_vision(p);
    CHECK(hp->type == MM_PROJ_GEMMA4V && hp->n_merge == 3 && hp->n_pos == 8 && hp->proj_dim == D, "hparams");
    CHECK(mm_mmproj_audio_type(p) == MM_PROJ_NONE, "no audio tower");
    /* 12x12: a 6x6 patch grid (fits the 8-entry tables), 2x2 pooled = 4 tokens */
    float img[3 * 24 * 12], out[4 * D];
    for (int i = 0; i < 3 * 24 * 12; i++) img[i] = (float)((i * 37) % 256) / 255.0f;
    CHECK(mm_vision_n_tokens(p, 12, 12) == 4, "n_tokens");
    c = mm_vision_encode(p, img, 12, 12, 2, out, &e);
    CHECK(c == MM_OK, "encode 12x12: %s", e.msg);
    int finite = 1;
    for (int i = 0; i < 4 * D; i++) finite &= isfinite(out[i]) != 0;
    CHECK(finite, "non-finite soft tokens");
    /* same input, one and two threads: identical */
    float out1[4 * D];
    c = mm_vision_encode(p, img, 12, 12, 1, out1, &e);
    CHECK(c == MM_OK && !memcmp(out, out1, sizeof out), "1 vs 2 threads differ");
    /* 24x12: a 12x6 grid, past the 8-entry position table: refused (llama.cpp aborts) */
    c = mm_vision_encode(p, img, 24, 12, 1, out, &e);
    CHECK(c == MM_EINVAL && strstr(e.msg, "position table"), "grid past the position table: %d %s", (int)c, e.msg);
    /* not whole pooled patches */
    c = mm_vision_encode(p, img, 10, 12, 1, out, &e);
    CHECK(c == MM_EINVAL, "10x12 accepted");
    c = mm_vision_encode(p, img, 0, 12, 1, out, &e);
    CHECK(c == MM_EINVAL, "0x12 accepted");
    mm_mmproj_close(p);
    /* every truncation is refused, none crashes */
    size_t bad = 0;
    for (size_t n = 0; n < b.n; n += (n < 2048 ? 1 : 97)) {
        mm_mmproj *q = NULL;
        if (mm_mmproj_open_memory(b.p, n, "cut", &q, &e) == MM_OK) bad++;
        mm_mmproj_close(q);
    }
    CHECK(bad == 0, "%zu truncated files opened", bad);
    free(b.p);
}

/* ---------- a tiny gemma4a audio tower ---------- */

/* n_mel 8 (-> 4 -> 2 freq), channels 2 / 3, width 8 = 2 heads of 4, FFN 12, 1 block, Do 6, D 8 */
enum { AMEL = 8, AC0 = 2, AC1 = 3, ADA = 8, AH = 2, AFF = 12, ADO = 6, AD = 8 };

typedef struct aspec {
    const char *skip, *bad_shape, *skip_key;
    int head_count;        /* clip.audio.attention.head_count */
    int proj_dim;          /* clip.audio.projection_dim */
    int64_t huge_channels; /* a.conv1d.0.weight ne[3] (and conv 1's ne[2]) when > 0 */
} aspec;

static aspec abase(void) { return (aspec){NULL, NULL, NULL, AH, AD, 0}; }

static int atensors(const aspec *s, tinfo *t) {
    int n = 0;
    const int64_t c0 = s->huge_channels > 0 ? s->huge_channels : AC0;
#define T(nm, d, a, b, c, e) do { snprintf(t[n].name, 64, "%s", nm); t[n].nd = d; t[n].ne[0] = a; t[n].ne[1] = b; \
                                   t[n].ne[2] = c; t[n].ne[3] = e; n++; } while (0)
    T("a.conv1d.0.weight", 4, 3, 3, 1, c0);
    T("a.conv1d.0.norm.weight", 1, c0, 1, 1, 1);
    T("a.conv1d.1.weight", 4, 3, 3, c0, AC1);
    T("a.conv1d.1.bias", 1, AC1, 1, 1, 1);
    T("a.conv1d.1.norm.weight", 1, AC1, 1, 1, 1);
    T("a.input_projection.weight", 2, AC1 * 2, ADA, 1, 1);
    T("a.blk.0.ffn_norm.weight", 1, ADA, 1, 1, 1);
    T("a.blk.0.ffn_up.weight", 2, ADA, AFF, 1, 1);
    T("a.blk.0.ffn_down.weight", 2, AFF, ADA, 1, 1);
    T("a.blk.0.ffn_post_norm.weight", 1, ADA, 1, 1, 1);
    T("a.blk.0.attn_pre_norm.weight", 1, ADA, 1, 1, 1);
    T("a.blk.0.attn_q.weight", 2, ADA, ADA, 1, 1);
    T("a.blk.0.attn_q.input_max", 1, 1, 1, 1, 1);
    T("a.blk.0.attn_k.weight", 2, ADA, ADA, 1, 1);
    T("a.blk.0.attn_v.weight", 2, ADA, ADA, 1, 1);
    T("a.blk.0.attn_k_rel.weight", 2, ADA, ADA, 1, 1);
    T("a.blk.0.per_dim_scale.weight", 1, ADA / AH, 1, 1, 1);
    T("a.blk.0.attn_out.weight", 2, ADA, ADA, 1, 1);
    T("a.blk.0.attn_post_norm.weight", 1, ADA, 1, 1, 1);
    T("a.blk.0.conv_norm.weight", 1, ADA, 1, 1, 1);
    T("a.blk.0.conv_pw1.weight", 2, ADA, 2 * ADA, 1, 1);
    T("a.blk.0.conv_dw.weight", 2, 5, ADA, 1, 1);
    T("a.blk.0.norm_conv.weight", 1, ADA, 1, 1, 1);
    T("a.blk.0.conv_pw2.weight", 2, ADA, ADA, 1, 1);
    T("a.blk.0.ffn_norm_1.weight", 1, ADA, 1, 1, 1);
    T("a.blk.0.ffn_up_1.weight", 2, ADA, AFF, 1, 1);
    T("a.blk.0.ffn_down_1.weight", 2, AFF, ADA, 1, 1);
    T("a.blk.0.ffn_post_norm_1.weight", 1, ADA, 1, 1, 1);
    T("a.blk.0.ln2.weight", 1, ADA, 1, 1, 1);
    T("a.pre_encode.out.weight", 2, ADA, ADO, 1, 1);
    T("a.pre_encode.out.bias", 1, ADO, 1, 1, 1);
    T("mm.a.input_projection.weight", 2, ADO, AD, 1, 1);
#undef T
    return n;
}

static void abuild(gb *b, const aspec *s) {
    tinfo t[48];
    int nt = atensors(s, t), n_out = 0;
    for (int i = 0; i < nt; i++) {
        if (s->skip && !strcmp(t[i].name, s->skip)) continue;
        if (s->bad_shape && !strcmp(t[i].name, s->bad_shape)) t[i].ne[0]++;
        t[n_out++] = t[i];
    }
    static const char *const keys[] = {"clip.audio.num_mel_bins", "clip.audio.embedding_length",
                                       "clip.audio.feed_forward_length", "clip.audio.block_count",
                                       "clip.audio.attention.head_count", "clip.audio.projection_dim",
                                       "clip.audio.attention.layer_norm_epsilon"};
    const uint32_t vals[] = {AMEL, ADA, AFF, 1, (uint32_t)s->head_count, (uint32_t)s->proj_dim, 0};
    int nkv = 3;
    for (int k = 0; k < 7; k++) nkv += !(s->skip_key && !strcmp(s->skip_key, keys[k]));
    memset(b, 0, sizeof *b);
    gb_bytes(b, "GGUF", 4);
    gb_u32(b, 3);
    gb_u64(b, (uint64_t)n_out);
    gb_u64(b, (uint64_t)nkv);
    kv_str(b, "general.architecture", "clip");
    kv_bool(b, "clip.has_audio_encoder", 1);
    kv_str(b, "clip.audio.projector_type", "gemma4a");
    for (int k = 0; k < 7; k++) {
        if (s->skip_key && !strcmp(s->skip_key, keys[k])) continue;
        if (k == 6) kv_f32(b, keys[k], 1e-5f); /* present; its value is ignored (always 1e-6) */
        else kv_u32(b, keys[k], vals[k]);
    }
    uint64_t off = 0;
    for (int i = 0; i < n_out; i++) {
        gb_str(b, t[i].name);
        gb_u32(b, (uint32_t)t[i].nd);
        int64_t ne = 1;
        for (int d = 0; d < t[i].nd; d++) gb_u64(b, (uint64_t)t[i].ne[d]), ne *= t[i].ne[d];
        gb_u32(b, 0); /* F32 */
        gb_u64(b, off);
        off += ((uint64_t)ne * 4 + 31) / 32 * 32;
    }
    gb_pad(b, 32);
    uint32_t seed = 11;
    for (int i = 0; i < n_out; i++) {
        int64_t ne = t[i].ne[0] * t[i].ne[1] * t[i].ne[2] * t[i].ne[3];
        int norm = strstr(t[i].name, "norm") || strstr(t[i].name, "ln2") || strstr(t[i].name, "scale");
        for (int64_t k = 0; k < ne; k++) {
            float v = norm ? 1.0f + 0.2f * rnd(&seed) : rnd(&seed);
            if (strstr(t[i].name, "input_max")) v = 0.5f;
            uint32_t u;
            memcpy(&u, &v, 4);
            gb_u32(b, u);
        }
        gb_pad(b, 32);
    }
}

static mm_code aopen(const aspec *s, mm_mmproj **p, mm_err *e, gb *b) {
    abuild(b, s);
    return mm_mmproj_open_memory(b->p, b->n, "tiny-audio", p, e);
}

static void aexpect_fail(aspec s, mm_code code, const char *needle) {
    gb b;
    mm_mmproj *p = NULL;
    mm_err e = {0};
    mm_code c = aopen(&s, &p, &e, &b);
    CHECK(c == code && p == NULL, "audio: expected code %d, got %d (%s)", (int)code, (int)c, e.msg);
    CHECK(strstr(e.msg, needle) != NULL, "audio: message '%s' does not name '%s'", e.msg, needle);
    mm_mmproj_close(p);
    free(b.p);
}

/* Opens s (must succeed) and encodes 30 frames (-> 15 -> 8 tokens) with 1 and 2 threads. */
static void aexpect_encodes(aspec s, const char *what) {
    gb b;
    mm_mmproj *p = NULL;
    mm_err e = {0};
    mm_code c = aopen(&s, &p, &e, &b);
    CHECK(c == MM_OK, "audio %s: refused: %s", what, e.msg);
    if (!c) {
        const mm_audio_hparams *hp = mm_mmproj_audio(p);
        CHECK(hp->type == MM_PROJ_GEMMA4A && hp->n_mel == AMEL && hp->n_embd == ADA && hp->d_head == ADA / AH &&
              hp->proj_dim == AD && hp->eps == 1e-6f && mm_mmproj_vision(p)->type == MM_PROJ_NONE,
              "audio %s: hparams", what);
        enum { TF = 30 };
        float mel[AMEL * TF], o1[8 * AD], o2[8 * AD];
        for (int i = 0; i < AMEL * TF; i++) mel[i] = (float)((i * 37) % 19) * 0.3f - 2.0f;
        CHECK(mm_audio_n_tokens(p, TF) == 8 && mm_audio_n_tokens(p, 1) == 1 && mm_audio_n_tokens(p, 0) == 0,
              "audio %s: n_tokens", what);
        c = mm_audio_encode(p, mel, TF, 2, o2, &e);
        CHECK(c == MM_OK, "audio %s: encode: %s", what, e.msg);
        c = mm_audio_encode(p, mel, TF, 1, o1, &e);
        CHECK(c == MM_OK && !memcmp(o1, o2, sizeof o1), "audio %s: 1 vs 2 threads differ", what);
        int finite = 1;
        for (int i = 0; i < 8 * AD; i++) finite &= isfinite(o1[i]) != 0;
        CHECK(finite, "audio %s: non-finite soft tokens", what);
        c = mm_audio_encode(p, mel, 1, 1, o1, &e); /* one frame: a single position */
        CHECK(c == MM_OK, "audio %s: one frame: %s", what, e.msg);
        CHECK(mm_audio_encode(p, mel, 0, 1, o1, &e) == MM_EINVAL, "audio %s: 0 frames accepted", what);
        float img[3 * 12 * 12] = {0};
        CHECK(mm_vision_encode(p, img, 12, 12, 1, o1, &e) == MM_EUNSUPPORTED, "audio %s: encoded an image", what);
    }
    mm_mmproj_close(p);
    free(b.p);
}

static void test_audio(void) {
    aspec s = abase();
    aexpect_encodes(s, "valid");
    /* every truncation of the valid file is refused, none crashes */
    gb b;
    mm_err e = {0};
    abuild(&b, &s);
    size_t bad = 0;
    for (size_t n = 0; n < b.n; n += (n < 4096 ? 1 : 61)) {
        mm_mmproj *q = NULL;
        if (mm_mmproj_open_memory(b.p, n, "cut", &q, &e) == MM_OK) bad++;
        mm_mmproj_close(q);
    }
    CHECK(bad == 0, "audio: %zu truncated files opened", bad);
    free(b.p);
    /* optional sub-modules: llama.cpp skips them, so must we */
    s = abase(), s.skip = "a.blk.0.attn_q.weight";         /* no attention */
    aexpect_encodes(s, "without attn_q");
    s = abase(), s.skip = "a.blk.0.conv_norm.weight";      /* no conv module */
    aexpect_encodes(s, "without conv_norm");
    s = abase(), s.skip = "a.blk.0.attn_k_rel.weight";     /* no relative positions */
    aexpect_encodes(s, "without attn_k_rel");
    s = abase(), s.skip = "a.blk.0.ln2.weight";
    aexpect_encodes(s, "without ln2");
    s = abase(), s.skip = "a.conv1d.0.norm.weight";        /* no channel LayerNorm */
    aexpect_encodes(s, "without conv1d.0.norm");
    /* required tensors and keys */
    s = abase(), s.skip = "a.blk.0.conv_dw.weight";
    aexpect_fail(s, MM_ECORRUPT, "a.blk.0.conv_dw.weight");
    s = abase(), s.skip = "a.input_projection.weight";
    aexpect_fail(s, MM_ECORRUPT, "a.input_projection.weight");
    s = abase(), s.skip = "a.blk.0.ffn_down_1.weight";
    aexpect_fail(s, MM_ECORRUPT, "a.blk.0.ffn_down_1.weight");
    s = abase(), s.skip_key = "clip.audio.attention.layer_norm_epsilon";
    aexpect_fail(s, MM_ECORRUPT, "clip.audio.attention.layer_norm_epsilon");
    s = abase(), s.skip_key = "clip.audio.projection_dim";
    aexpect_fail(s, MM_ECORRUPT, "clip.audio.projection_dim");
    /* shapes */
    s = abase(), s.bad_shape = "a.blk.0.attn_k_rel.weight";
    aexpect_fail(s, MM_ECORRUPT, "a.blk.0.attn_k_rel.weight");
    s = abase(), s.bad_shape = "a.input_projection.weight"; /* not C1 x freq wide */
    aexpect_fail(s, MM_ECORRUPT, "a.input_projection.weight");
    s = abase(), s.bad_shape = "a.blk.0.conv_dw.weight";    /* kernel 6 */
    aexpect_fail(s, MM_ECORRUPT, "a.blk.0.conv_dw.weight");
    s = abase(), s.bad_shape = "a.conv1d.0.weight";         /* 4x3 kernel */
    aexpect_fail(s, MM_ECORRUPT, "a.conv1d.0.weight");
    s = abase(), s.bad_shape = "a.blk.0.per_dim_scale.weight";
    aexpect_fail(s, MM_ECORRUPT, "a.blk.0.per_dim_scale.weight");
    s = abase(), s.proj_dim = AD + 1;                       /* mm.a.input_projection projects to 8 */
    aexpect_fail(s, MM_ECORRUPT, "mm.a.input_projection.weight");
    s = abase(), s.head_count = 3;                          /* 3 does not divide 8 */
    aexpect_fail(s, MM_ECORRUPT, "head_count");
    s = abase(), s.huge_channels = 100000;                  /* implausible channel count */
    aexpect_fail(s, MM_ECORRUPT, "a.conv1d.0.weight");
}

static void test_real_files(const char *shared) {
    char path[1024];
    mm_mmproj *p = NULL;
    mm_err e = {0};
    snprintf(path, sizeof path, "%s/fixtures/models/mmproj-gemma4va-f32.gguf", shared);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("(no fixture pack at %s: real files skipped)\n", shared);
        return;
    }
    fclose(f);
    CHECK(mm_mmproj_open(path, &p, &e) == MM_OK, "%s: %s", path, e.msg);
    if (p) {
        CHECK(mm_mmproj_vision(p)->type == MM_PROJ_GEMMA4V, "gemma4va: vision type");
        CHECK(mm_mmproj_audio_type(p) == MM_PROJ_GEMMA4A, "gemma4va: audio type");
        const mm_audio_hparams *a = mm_mmproj_audio(p);
        CHECK(a->n_mel == 128 && a->n_embd == 64 && a->n_head == 4 && a->d_head == 16 && a->n_layer == 2 &&
              a->proj_dim == 256 && a->n_ff == 256, "gemma4va: audio hparams");
        CHECK(mm_audio_n_tokens(p, 1099) == 275 && mm_audio_n_tokens(p, 2999) == 750, "gemma4va: audio tokens");
        CHECK(mm_mmproj_vision(p)->n_pos == 64 && mm_mmproj_vision(p)->patch_size == 4, "gemma4va: hparams");
    }
    mm_mmproj_close(p);
    snprintf(path, sizeof path, "%s/fixtures/models/mmproj-gemma4a-f32.gguf", shared);
    CHECK(mm_mmproj_open(path, &p, &e) == MM_OK, "%s: %s", path, e.msg);
    if (p) {
        float img[3 * 12 * 12] = {0}, out[16];
        CHECK(mm_mmproj_vision(p)->type == MM_PROJ_NONE && mm_mmproj_audio_type(p) == MM_PROJ_GEMMA4A, "gemma4a");
        CHECK(mm_vision_encode(p, img, 12, 12, 1, out, &e) == MM_EUNSUPPORTED, "audio-only file encoded an image");
        CHECK(mm_mmproj_audio(p)->type == MM_PROJ_GEMMA4A && mm_mmproj_audio(p)->proj_dim == 256, "gemma4a hparams");
    }
    mm_mmproj_close(p);
    snprintf(path, sizeof path, "%s/fixtures/models/mmproj-gemma3-f32.gguf", shared);
    CHECK(mm_mmproj_open(path, &p, &e) == MM_OK, "%s: %s", path, e.msg);
    if (p) {
        const mm_vision_hparams *hp = mm_mmproj_vision(p);
        CHECK(hp->type == MM_PROJ_GEMMA3 && hp->n_merge == 2 && hp->image_size == 64 && hp->proj_dim == 256, "gemma3");
        CHECK(mm_vision_n_tokens(p, 64, 64) == 16, "gemma3 tokens");
        float mel[128 * 4] = {0}, out[4 * 256];
        CHECK(mm_audio_n_tokens(p, 4) == 0 && mm_audio_encode(p, mel, 4, 1, out, &e) == MM_EUNSUPPORTED,
              "vision-only file encoded audio");
    }
    mm_mmproj_close(p);
    /* a text model is not an mmproj */
    snprintf(path, sizeof path, "%s/fixtures/models/gemma3-f32.gguf", shared);
    CHECK(mm_mmproj_open(path, &p, &e) == MM_EUNSUPPORTED && strstr(e.msg, "clip"), "text model opened: %s", e.msg);
    mm_mmproj_close(p);
}

int main(int argc, char **argv) {
    test_valid_and_encode();
    test_audio();
    spec s;
    s = base(), s.arch = "llama";
    expect_fail(s, MM_EUNSUPPORTED, "general.architecture");
    s = base(), s.vtype = "qwen2vl";
    expect_fail(s, MM_EUNSUPPORTED, "qwen2vl");
    s = base(), s.vtype = "gemma4a";
    expect_fail(s, MM_EUNSUPPORTED, "not a vision projector");
    s = base(), s.vtype = NULL;
    expect_fail(s, MM_ECORRUPT, "projector type");
    s = base(), s.skip = "v.blk.0.ffn_down.weight";
    expect_fail(s, MM_ECORRUPT, "v.blk.0.ffn_down.weight");
    s = base(), s.skip = "mm.input_projection.weight";
    expect_fail(s, MM_ECORRUPT, "mm.input_projection.weight");
    s = base(), s.skip = "v.std_scale"; /* std_bias without std_scale */
    expect_fail(s, MM_ECORRUPT, "v.std_scale");
    s = base(), s.bad_shape = "v.blk.0.attn_q_norm.weight";
    expect_fail(s, MM_ECORRUPT, "v.blk.0.attn_q_norm.weight");
    s = base(), s.bad_shape = "v.patch_embd.weight";
    expect_fail(s, MM_ECORRUPT, "v.patch_embd.weight");
    s = base(), s.eps_as_string = 1;
    expect_fail(s, MM_ECORRUPT, "layer_norm_epsilon");
    if (argc > 1) test_real_files(argv[1]);
    return test_done("test_mmproj");
}
