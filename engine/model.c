/*
 * engine/model.c — loading a text decoder: hyper-parameters from the
 * `<arch>.*` keys and every weight the forward pass reads, checked for presence
 * and shape, for the architectures llama, gemma3, gemma4 and gemma-embedding
 * (spec §1.2–§1.4, §6, §7.1).  Unknown architectures are refused.  The weights
 * stay in the GGUF mapping.
 */
#include "engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct loader {
    mm_model *m;
    const char *a;     /* arch prefix */
    mm_err *e;
} loader;

static int64_t key_int(loader *L, const char *key, int64_t def, int required, mm_code *c) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", L->a, key);
    int64_t i = mm_gguf_find_key(L->m->g, k), v = def;
    if (i < 0) {
        if (required && *c == MM_OK) *c = mm_err_set(L->e, MM_ECORRUPT, "model: missing key %s", k);
        return def;
    }
    if (mm_gguf_arr_len(L->m->g, i) == 0 || mm_gguf_arr_int(L->m->g, i, 0, &v, L->e) != MM_OK) {
        if (*c == MM_OK) *c = mm_err_set(L->e, MM_ECORRUPT, "model: key %s is not an integer", k);
        return def;
    }
    return v;
}

/* Per-layer value of key (scalar or array of n_layer). */
static int64_t layer_int(loader *L, const char *key, int il, int64_t def, int required, mm_code *c) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", L->a, key);
    int64_t i = mm_gguf_find_key(L->m->g, k), v = def;
    if (i < 0) {
        if (required && *c == MM_OK) *c = mm_err_set(L->e, MM_ECORRUPT, "model: missing key %s", k);
        return def;
    }
    uint64_t n = mm_gguf_arr_len(L->m->g, i);
    uint64_t j = mm_gguf_kv_type(L->m->g, i) == MM_GGUF_ARRAY ? (uint64_t)il : 0;
    if (j >= n || mm_gguf_arr_int(L->m->g, i, j, &v, L->e) != MM_OK) {
        if (*c == MM_OK)
            *c = mm_err_set(L->e, MM_ECORRUPT, "model: key %s has no integer for layer %d", k, il);
        return def;
    }
    return v;
}

static double key_float(loader *L, const char *key, double def, int required, mm_code *c) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", L->a, key);
    double v = def;
    if (mm_gguf_find_key(L->m->g, k) < 0) {
        if (required && *c == MM_OK) *c = mm_err_set(L->e, MM_ECORRUPT, "model: missing key %s", k);
        return def;
    }
    if (mm_gguf_get_float(L->m->g, k, &v, L->e) != MM_OK && *c == MM_OK) *c = L->e->code;
    return v;
}

/* A tensor named fmt (with layer il), checked to be n0 x n1 (n1 = 0: 1-D; -1: any). */
static const mm_tensor *tensor(loader *L, int required, int64_t n0, int64_t n1, mm_code *c,
                               const char *fmt, int il) {
    char name[96];
    snprintf(name, sizeof name, fmt, il);
    const mm_tensor *t = mm_gguf_find_tensor(L->m->g, name);
    if (!t) {
        if (required && *c == MM_OK) *c = mm_err_set(L->e, MM_ECORRUPT, "model: missing tensor %s", name);
        return NULL;
    }
    int ok = t->ne[0] == n0 && (n1 < 0 || (n1 == 0 ? t->n_elements == n0 : t->ne[1] == n1 && t->ne[2] == 1));
    if (!ok && *c == MM_OK)
        *c = mm_err_set(L->e, MM_ECORRUPT, "model: tensor %s has shape [%lld, %lld, %lld], expected [%lld, %lld]",
                        name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)n0,
                        (long long)n1);
    return t;
}

/* Which layers use a sliding window (gemma3/gemma4). */
static int layer_is_swa(loader *L, int il, mm_code *c) {
    char k[160];
    snprintf(k, sizeof k, "%s.attention.sliding_window_pattern", L->a);
    int64_t i = mm_gguf_find_key(L->m->g, k);
    if (L->m->arch == MM_ARCH_GEMMA4 && i < 0) {
        if (*c == MM_OK) *c = mm_err_set(L->e, MM_ECORRUPT, "model: missing key %s", k);
        return 0;
    }
    if (L->m->n_swa <= 0) return 0;
    if (i >= 0 && mm_gguf_kv_type(L->m->g, i) == MM_GGUF_ARRAY) {
        int64_t v = 0;
        if ((uint64_t)il >= mm_gguf_arr_len(L->m->g, i) || mm_gguf_arr_int(L->m->g, i, (uint64_t)il, &v, L->e)) {
            if (*c == MM_OK) *c = mm_err_set(L->e, MM_ECORRUPT, "model: %s has no entry for layer %d", k, il);
            return 0;
        }
        return v != 0;
    }
    int64_t period = 6;
    if (i >= 0 && mm_gguf_arr_int(L->m->g, i, 0, &period, L->e) != MM_OK) period = 6;
    if (period <= 0) return 0;
    return (il % period) < period - 1;
}

static mm_code load_layers(loader *L) {
    mm_model *m = L->m;
    mm_code c = MM_OK;
    const int E = m->n_embd;
    int gemma = m->arch != MM_ARCH_LLAMA;
    int shared = m->arch == MM_ARCH_GEMMA4 ? (int)key_int(L, "attention.shared_kv_layers", 0, 0, &c) : 0;
    int n_kv_from = m->n_layer - shared;
    if (shared && n_kv_from < 2) return mm_err_set(L->e, MM_ECORRUPT, "model: too many shared KV layers");
    int64_t hd_full = key_int(L, "attention.key_length", -1, 0, &c);
    int64_t hd_swa = m->arch == MM_ARCH_GEMMA4 ? key_int(L, "attention.key_length_swa", -1, 1, &c) : hd_full;
    int64_t rot_full = key_int(L, "rope.dimension_count", -1, 0, &c);
    int64_t rot_swa = key_int(L, "rope.dimension_count_swa", rot_full, 0, &c);
    double base_full = key_float(L, "rope.freq_base", 10000.0, 0, &c);
    double base_swa = key_float(L, "rope.freq_base_swa", 10000.0, 0, &c);
    for (int il = 0; il < m->n_layer && c == MM_OK; il++) {
        mm_layer *ly = &m->layers[il];
        ly->n_head = (int)layer_int(L, "attention.head_count", il, 0, 1, &c);
        ly->n_head_kv = (int)layer_int(L, "attention.head_count_kv", il, ly->n_head, 0, &c);
        ly->n_ff = (int)layer_int(L, "feed_forward_length", il, 0, m->arch != MM_ARCH_GEMMA4 || !m->n_expert, &c);
        if (c) break;
        if (ly->n_head <= 0 || ly->n_head_kv <= 0 || ly->n_head % ly->n_head_kv || ly->n_head / ly->n_head_kv > 64)
            return mm_err_set(L->e, MM_ECORRUPT, "model: layer %d: bad head counts %d / %d", il, ly->n_head,
                              ly->n_head_kv);
        ly->is_swa = gemma ? layer_is_swa(L, il, &c) : 0;
        int64_t hd = ly->is_swa ? hd_swa : hd_full;
        if (hd <= 0) hd = E / ly->n_head;
        ly->head_dim = (int)hd;
        if (hd > 1024) return mm_err_set(L->e, MM_EUNSUPPORTED, "model: layer %d: head dimension %lld > 1024", il, (long long)hd);
        int64_t rot = ly->is_swa ? rot_swa : rot_full;
        ly->n_rot = (int)(rot > 0 ? rot : hd);
        if (ly->n_rot > ly->head_dim || ly->n_rot % 2)
            return mm_err_set(L->e, MM_ECORRUPT, "model: layer %d: rope dimension %d vs head %d", il, ly->n_rot,
                              ly->head_dim);
        ly->rope_base = (float)(ly->is_swa ? base_swa : base_full);
        if (m->arch == MM_ARCH_LLAMA) ly->rope_base = (float)base_full;
        int owns = il < n_kv_from;
        ly->kv_src = owns ? il : n_kv_from - (ly->is_swa ? 2 : 1);
        int qd = ly->head_dim * ly->n_head, kd = ly->head_dim * ly->n_head_kv;
        ly->attn_norm = tensor(L, 1, E, 0, &c, "blk.%d.attn_norm.weight", il);
        ly->wq = tensor(L, 1, E, qd, &c, "blk.%d.attn_q.weight", il);
        ly->wk = tensor(L, owns, E, kd, &c, "blk.%d.attn_k.weight", il);
        ly->wv = tensor(L, owns && m->arch != MM_ARCH_GEMMA4, E, kd, &c, "blk.%d.attn_v.weight", il);
        ly->wo = tensor(L, 1, qd, E, &c, "blk.%d.attn_output.weight", il);
        if (gemma) {
            ly->q_norm = tensor(L, 1, ly->head_dim, 0, &c, "blk.%d.attn_q_norm.weight", il);
            ly->k_norm = tensor(L, owns, ly->head_dim, 0, &c, "blk.%d.attn_k_norm.weight", il);
            ly->post_attn_norm = tensor(L, 1, E, 0, &c, "blk.%d.post_attention_norm.weight", il);
            ly->post_ffw_norm = tensor(L, 1, E, 0, &c, "blk.%d.post_ffw_norm.weight", il);
        }
        ly->ffn_norm = tensor(L, 1, E, 0, &c, "blk.%d.ffn_norm.weight", il);
        if (m->arch == MM_ARCH_GEMMA4) {
            ly->out_scale = tensor(L, 0, 1, 0, &c, "blk.%d.layer_output_scale.weight", il);
            ly->gate_inp = tensor(L, 0, E, m->n_expert, &c, "blk.%d.ffn_gate_inp.weight", il);
            if (m->n_embd_ple) {
                ly->ple_gate = tensor(L, 1, E, m->n_embd_ple, &c, "blk.%d.inp_gate.weight", il);
                ly->ple_proj = tensor(L, 1, m->n_embd_ple, E, &c, "blk.%d.proj.weight", il);
                ly->ple_post = tensor(L, 1, E, 0, &c, "blk.%d.post_norm.weight", il);
            }
        }
        if (ly->gate_inp) {
            if (m->n_expert <= 0 || m->n_expert_used <= 0 || m->n_expert_used > m->n_expert || m->n_ff_exp <= 0)
                return mm_err_set(L->e, MM_ECORRUPT, "model: layer %d: bad expert counts", il);
            ly->gate_inp_scale = tensor(L, 1, E, 0, &c, "blk.%d.ffn_gate_inp.scale", il);
            ly->pre_ffw_norm_2 = tensor(L, 1, E, 0, &c, "blk.%d.pre_ffw_norm_2.weight", il);
            ly->post_ffw_norm_1 = tensor(L, 1, E, 0, &c, "blk.%d.post_ffw_norm_1.weight", il);
            ly->post_ffw_norm_2 = tensor(L, 1, E, 0, &c, "blk.%d.post_ffw_norm_2.weight", il);
            ly->gate_up_exps = tensor(L, 0, E, -1, &c, "blk.%d.ffn_gate_up_exps.weight", il);
            if (!ly->gate_up_exps) {
                ly->gate_exps = tensor(L, 1, E, -1, &c, "blk.%d.ffn_gate_exps.weight", il);
                ly->up_exps = tensor(L, 1, E, -1, &c, "blk.%d.ffn_up_exps.weight", il);
            }
            ly->down_exps = tensor(L, 1, m->n_ff_exp, -1, &c, "blk.%d.ffn_down_exps.weight", il);
            ly->down_exps_scale = tensor(L, 0, m->n_expert, 0, &c, "blk.%d.ffn_down_exps.scale", il);
        }
        if (ly->n_ff > 0 || !ly->gate_inp) {
            ly->ffn_gate = tensor(L, 1, E, ly->n_ff, &c, "blk.%d.ffn_gate.weight", il);
            ly->ffn_up = tensor(L, 1, E, ly->n_ff, &c, "blk.%d.ffn_up.weight", il);
            ly->ffn_down = tensor(L, 1, ly->n_ff, E, &c, "blk.%d.ffn_down.weight", il);
        }
        if (qd > m->max_qdim) m->max_qdim = qd;
        if (kd > m->max_kvdim) m->max_kvdim = kd;
        if (ly->head_dim > m->max_head_dim) m->max_head_dim = ly->head_dim;
        int ff = ly->n_ff > 2 * m->n_ff_exp ? ly->n_ff : 2 * m->n_ff_exp;
        if (ff > m->max_ff) m->max_ff = ff;
    }
    return c;
}

static mm_code load(mm_model *m, mm_err *e) {
    loader L = {m, m->arch_name, e};
    mm_code c = MM_OK;
    m->n_embd = (int)key_int(&L, "embedding_length", 0, 1, &c);
    m->n_layer = (int)key_int(&L, "block_count", 0, 1, &c);
    m->n_ctx_train = (int)key_int(&L, "context_length", 0, 0, &c);
    if (c) return c;
    if (m->n_embd <= 0 || m->n_embd > (1 << 16) || m->n_layer <= 0 || m->n_layer > 1024)
        return mm_err_set(e, MM_ECORRUPT, "model: implausible sizes (n_embd %d, n_layer %d)", m->n_embd, m->n_layer);
    m->eps = (float)key_float(&L, "attention.layer_norm_rms_epsilon", 1e-6, m->arch != MM_ARCH_LLAMA, &c);
    m->n_swa = (int)key_int(&L, "attention.sliding_window", 0, m->arch == MM_ARCH_GEMMA4, &c);
    m->softcap = (float)key_float(&L, "final_logit_softcapping", 0.0, 0, &c);
    if (m->arch == MM_ARCH_GEMMA4) {
        m->n_embd_ple = (int)key_int(&L, "embedding_length_per_layer_input", 0, 0, &c);
        m->n_expert = (int)key_int(&L, "expert_count", 0, 0, &c);
        m->n_expert_used = (int)key_int(&L, "expert_used_count", 0, 0, &c);
        m->n_ff_exp = (int)key_int(&L, "expert_feed_forward_length", 0, 0, &c);
    }
    if (c) return c;
    m->tok_embd = tensor(&L, 1, m->n_embd, -1, &c, "token_embd.weight", 0);
    if (c) return c;
    m->n_vocab = (int)m->tok_embd->ne[1];
    m->output = tensor(&L, 0, m->n_embd, m->n_vocab, &c, "output.weight", 0);
    if (!m->output) m->output = m->tok_embd;
    m->output_norm = tensor(&L, 1, m->n_embd, 0, &c, "output_norm.weight", 0);
    if (m->n_embd_ple) {
        int64_t PL = (int64_t)m->n_embd_ple * m->n_layer;
        m->ple_tok = tensor(&L, 1, PL, m->n_vocab, &c, "per_layer_token_embd.weight", 0);
        m->ple_model_proj = tensor(&L, 1, m->n_embd, PL, &c, "per_layer_model_proj.weight", 0);
        m->ple_proj_norm = tensor(&L, 1, m->n_embd_ple, 0, &c, "per_layer_proj_norm.weight", 0);
    }
    m->layers = calloc((size_t)m->n_layer, sizeof *m->layers);
    if (!m->layers) return mm_err_set(e, MM_ENOMEM, "out of memory");
    if (c || (c = load_layers(&L))) return c;
    /* arch-specific conventions */
    m->rope_neox = m->arch != MM_ARCH_LLAMA;
    m->embd_scale = m->arch == MM_ARCH_LLAMA ? 1.0f : sqrtf((float)m->n_embd);
    m->v_norm = m->arch == MM_ARCH_GEMMA4;
    m->causal = m->arch != MM_ARCH_GEMMA_EMBED;
    m->swa_symmetric = m->arch == MM_ARCH_GEMMA_EMBED;
    if (m->arch == MM_ARCH_GEMMA_EMBED) {
        m->pooling = (int)key_int(&L, "pooling_type", 1, 0, &c);
        int64_t d2 = key_int(&L, "dense_2_feat_out", 0, 0, &c), d3 = key_int(&L, "dense_3_feat_out", 0, 0, &c);
        if (c) return c;
        if (m->pooling < 0 || m->pooling > 3)
            return mm_err_set(e, MM_EUNSUPPORTED, "model: pooling type %d is not supported", m->pooling);
        m->dense_2 = d2 > 0 ? tensor(&L, 1, m->n_embd, d2, &c, "dense_2.weight", 0) : NULL;
        m->dense_3 = d3 > 0 && m->dense_2 ? tensor(&L, 1, d2, d3, &c, "dense_3.weight", 0) : NULL;
        if (c) return c;
        if (d2 > m->max_ff) m->max_ff = (int)d2; /* the projection's middle row lives in the FFN scratch */
    }
    if (m->arch == MM_ARCH_LLAMA) {
        m->attn_scale = 1.0f / sqrtf((float)m->layers[0].head_dim);
        m->scale_q = 0;
    } else if (m->arch == MM_ARCH_GEMMA4) {
        m->attn_scale = 1.0f;
        m->scale_q = 1;
    } else { /* gemma3 / gemma-embedding: query_pre_attn_scalar */
        m->attn_scale = m->n_layer == 62 ? 1.0f / sqrtf((float)m->n_embd / (float)m->layers[0].n_head)
                                         : 1.0f / sqrtf((float)m->layers[0].head_dim);
        m->scale_q = 1;
    }
    if (m->arch == MM_ARCH_GEMMA4) {
        int hd_full = 0;
        for (int il = 0; il < m->n_layer; il++)
            if (!m->layers[il].is_swa) hd_full = m->layers[il].n_rot;
        m->rope_freqs = hd_full ? tensor(&L, 0, hd_full / 2, 0, &c, "rope_freqs.weight", 0) : NULL;
        if (c) return c;
        if (m->rope_freqs) {
            m->rope_freqs_f32 = malloc((size_t)m->rope_freqs->n_elements * sizeof(float));
            if (!m->rope_freqs_f32) return mm_err_set(e, MM_ENOMEM, "out of memory");
            if ((c = mm_tensor_dequantize_rows(m->rope_freqs, 0, 1, m->rope_freqs_f32, e))) return c;
        }
    }
    return MM_OK;
}

/* The matrices the forward pass multiplies by (get_rows-only tables such as an untied
 * token_embd or per_layer_token_embd are not among them). */
static int is_matmul_weight(const mm_model *m, const mm_tensor *t) {
    if (t == m->output || t == m->ple_model_proj || t == m->dense_2 || t == m->dense_3) return 1;
    for (int il = 0; il < m->n_layer; il++) {
        const mm_layer *l = &m->layers[il];
        const mm_tensor *w[] = {l->wq, l->wk, l->wv, l->wo, l->ffn_gate, l->ffn_up, l->ffn_down, l->ple_gate,
                                l->ple_proj, l->gate_up_exps, l->gate_exps, l->up_exps, l->down_exps};
        for (size_t k = 0; k < sizeof w / sizeof w[0]; k++)
            if (w[k] == t) return 1;
    }
    return 0;
}

/* Repacks every Q4_0 / Q8_0 matrix into the 16-row layout of matmul_packed.c when this
 * CPU has its kernel (MMPIPE_REPACK=0 keeps the file's layout), and takes the original
 * pages out of the mapping (mm_gguf_release_pages): nothing reads a repacked matrix's
 * file bytes again (a tied token_embd is read row by row from the packed copy). */
static mm_code pack_matrices(mm_model *m, mm_err *e) {
    const char *env = getenv("MMPIPE_REPACK");
    if ((env && !strcmp(env, "0")) || mm_cpu_level() < 2 || !mm_packed_has_kernel()) return MM_OK;
    size_t total = 0;
    int64_t n = mm_gguf_n_tensors(m->g);
    for (int pass = 0; pass < 2; pass++) {
        size_t off = 0;
        for (int64_t i = 0; i < n; i++) {
            mm_tensor *t = mm_gguf_tensor_rw(m->g, i);
            if (!mm_packed_supported(t) || !is_matmul_weight(m, t) || (t->n_dims > 2 && t->ne[1] % 16)) continue;
            if (pass == 1) {
                /* in slices of 1024 groups, each slice's source pages released as soon as it
                 * is packed: the largest matrix (a tied embedding) is never in memory twice,
                 * and no later fault beside the matrix maps its original pages back (only the
                 * two pages it shares with its neighbours stay in the mapping) */
                const int64_t groups = (t->n_rows + 15) / 16;
                const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), src = (uintptr_t)t->data;
                uintptr_t done = (src + pg - 1) & ~(pg - 1); /* released up to here */
                for (int64_t g = 0; g < groups; g += 1024) {
                    const int64_t g1 = g + 1024 < groups ? g + 1024 : groups;
                    mm_packed_pack_groups(t, m->packed + off, g, g1);
                    const int64_t r1 = g1 * 16 < t->n_rows ? g1 * 16 : t->n_rows;
                    const uintptr_t end = (src + (uintptr_t)((uint64_t)r1 * t->row_bytes)) & ~(pg - 1);
                    if (end > done) mm_gguf_release_pages(m->g, (const void *)done, (size_t)(end - done));
                    if (end > done) done = end;
                }
                t->packed = m->packed + off;
            }
            off += (mm_packed_bytes(t) + 63) & ~(size_t)63;
        }
        if (pass == 0) {
            if (!(total = off)) return MM_OK;
            if (posix_memalign((void **)&m->packed, 64, total)) {
                m->packed = NULL;
                return mm_err_set(e, MM_ENOMEM, "out of memory for the repacked weights (%zu bytes)", total);
            }
        }
    }
    return MM_OK;
}

mm_code mm_model_open(const char *path, mm_model **out, mm_err *e) {
    *out = NULL;
    mm_model *m = calloc(1, sizeof *m);
    if (!m) return mm_err_set(e, MM_ENOMEM, "out of memory");
    mm_code c = mm_gguf_open(path, &m->g, e);
    if (c) {
        free(m);
        return c;
    }
    mm_str arch;
    if (mm_gguf_get_str(m->g, "general.architecture", &arch, e) != MM_OK) {
        c = mm_err_set(e, MM_ECORRUPT, "%s: no general.architecture", path);
    } else {
        snprintf(m->arch_name, sizeof m->arch_name, "%.*s", (int)(arch.n < 31 ? arch.n : 31), arch.p);
        if (!strcmp(m->arch_name, "llama")) m->arch = MM_ARCH_LLAMA;
        else if (!strcmp(m->arch_name, "gemma3")) m->arch = MM_ARCH_GEMMA3;
        else if (!strcmp(m->arch_name, "gemma4")) m->arch = MM_ARCH_GEMMA4;
        else if (!strcmp(m->arch_name, "gemma-embedding")) m->arch = MM_ARCH_GEMMA_EMBED;
        else
            c = mm_err_set(e, MM_EUNSUPPORTED, "%s: architecture '%s' is not supported "
                           "(llama, gemma3, gemma4, gemma-embedding)", path, m->arch_name);
        if (c == MM_OK && ((c = load(m, e)) != MM_OK || (c = pack_matrices(m, e)) != MM_OK))
            mm_err_prefix(e, "%s", path);
        if (c == MM_OK) mm_gguf_drop_metadata_pages(m->g); /* read; a tokenizer reads it again */
    }
    if (c) {
        mm_model_close(m);
        return c;
    }
    *out = m;
    return MM_OK;
}

void mm_model_close(mm_model *m) {
    if (!m) return;
    free(m->layers);
    free(m->rope_freqs_f32);
    free(m->packed);
    mm_gguf_close(m->g);
    free(m);
}

const mm_gguf *mm_model_gguf(const mm_model *m) { return m->g; }
int mm_model_n_vocab(const mm_model *m) { return m->n_vocab; }
int mm_model_n_embd(const mm_model *m) { return m->n_embd; }
const char *mm_model_arch(const mm_model *m) { return m->arch_name; }
