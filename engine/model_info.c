/*
 * engine/model_info.c — a summary of a GGUF model for `mmpipe model-info`:
 * architecture and hyper-parameters from the `<arch>.*` keys, tensor counts
 * and bytes per type, parameter count and an estimate of the memory needed
 * (mapped weights + F16 KV cache + scratch).  Fills a plain struct; the CLI
 * prints it as a table or JSON.
 */
#include <stdio.h>
#include <string.h>

#include "engine.h"

/* Copies a metadata string into a fixed buffer, NUL bytes and overflow cut. */
static mm_code copy_str(const mm_gguf *g, const char *key, char *dst, size_t cap, mm_err *e) {
    mm_str s;
    dst[0] = 0;
    mm_code c = mm_gguf_get_str(g, key, &s, e);
    if (c == MM_ENOTFOUND) { mm_err_clear(e); return MM_OK; }
    if (c) return c;
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    const char *z = memchr(s.p, 0, n);
    if (z) n = (size_t)(z - s.p);
    memcpy(dst, s.p, n);
    dst[n] = 0;
    return MM_OK;
}

/* `<arch>.<suffix>` as an integer: a scalar, element `layer` of a per-layer
 * array, or (layer < 0) the array's maximum; *out = def when absent. */
static mm_code arch_int(const mm_gguf *g, const char *arch, const char *suffix, int64_t layer, int64_t def,
                        int64_t *out, mm_err *e) {
    char key[192];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    *out = def;
    int64_t i = mm_gguf_find_key(g, key);
    if (i < 0) return MM_OK;
    uint64_t n = mm_gguf_arr_len(g, i);
    if (mm_gguf_kv_type(g, i) != MM_GGUF_ARRAY) return mm_gguf_arr_int(g, i, 0, out, e);
    if (n == 0) return MM_OK;
    if (layer >= 0) return mm_gguf_arr_int(g, i, (uint64_t)layer < n ? (uint64_t)layer : n - 1, out, e);
    int64_t best = INT64_MIN, v;
    for (uint64_t j = 0; j < n; j++) {
        mm_code c = mm_gguf_arr_int(g, i, j, &v, e);
        if (c) return c;
        if (v > best) best = v;
    }
    *out = best;
    return MM_OK;
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
static uint64_t sat_mul(uint64_t a, uint64_t b) { return b && a > UINT64_MAX / b ? UINT64_MAX : a * b; }
static uint64_t pos(int64_t v) { return v > 0 ? (uint64_t)v : 0; }

static void tensor_stats(const mm_gguf *g, mm_model_info *m) {
    uint64_t best_bytes = 0;
    int64_t n = mm_gguf_n_tensors(g);
    for (int64_t i = 0; i < n; i++) {
        const mm_tensor *t = mm_gguf_tensor(g, i);
        mm_type_stat *s = &m->types[t->type];
        s->type = t->type;
        s->n_tensors++;
        s->n_elements += t->n_elements; /* <= file bytes * 256: no overflow */
        s->n_bytes += t->nbytes;
        m->n_params += t->n_elements;
        m->tensor_bytes += t->nbytes;
    }
    uint64_t by2d[MM_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < n; i++) {
        const mm_tensor *t = mm_gguf_tensor(g, i);
        if (t->n_dims >= 2) by2d[t->type] += t->nbytes;
    }
    /* Compact the per-type table, in type-id order. */
    int k = 0;
    for (uint32_t ty = 0; ty < MM_TYPE_COUNT; ty++) {
        if (by2d[ty] > best_bytes) { best_bytes = by2d[ty]; m->weight_type = ty; }
        if (m->types[ty].n_tensors) m->types[k++] = m->types[ty];
    }
    for (int j = k; j < MM_TYPE_COUNT; j++) memset(&m->types[j], 0, sizeof m->types[j]);
    m->n_types = k;
}

/* Element l of an integer key that may be a scalar or a per-layer array
 * (index i, -1 if absent: def); arrays shorter than l give their last value. */
static mm_code layer_int(const mm_gguf *g, int64_t i, int64_t l, int64_t def, int64_t *out, mm_err *e) {
    *out = def;
    if (i < 0) return MM_OK;
    uint64_t n = mm_gguf_arr_len(g, i);
    if (n == 0) return MM_OK;
    return mm_gguf_arr_int(g, i, (uint64_t)l < n ? (uint64_t)l : n - 1, out, e);
}

static int64_t key_index(const mm_gguf *g, const char *arch, const char *suffix) {
    char key[192];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return mm_gguf_find_key(g, key);
}

/* K+V cache bytes in F16: per layer n_head_kv * (k_dim + v_dim) * cells * 2;
 * the last shared_kv_layers layers reuse earlier caches.  At most
 * MAX_LAYERS layers are counted (a hostile block_count cannot make this slow). */
#define MAX_LAYERS 65536
static mm_code kv_estimate(const mm_gguf *g, mm_model_info *m, mm_err *e) {
    const char *a = m->arch;
    int64_t shared, kdim, vdim, kdim_swa, vdim_swa;
    mm_code c = arch_int(g, a, "attention.shared_kv_layers", 0, 0, &shared, e);
    if (!c) c = arch_int(g, a, "attention.key_length", 0, m->head_dim, &kdim, e);
    if (!c) c = arch_int(g, a, "attention.value_length", 0, kdim, &vdim, e);
    if (!c) c = arch_int(g, a, "attention.key_length_swa", 0, kdim, &kdim_swa, e);
    if (!c) c = arch_int(g, a, "attention.value_length_swa", 0, kdim_swa, &vdim_swa, e);
    if (c) return c;
    int64_t pat = key_index(g, a, "attention.sliding_window_pattern");
    int64_t hkv_i = key_index(g, a, "attention.head_count_kv");
    if (pat >= 0 && mm_gguf_kv_type(g, pat) != MM_GGUF_ARRAY) pat = -1;
    int64_t n_layer = m->n_layer > 0 ? m->n_layer : 0;
    if (n_layer > MAX_LAYERS) n_layer = MAX_LAYERS;
    if (shared > 0) n_layer = shared < n_layer ? n_layer - shared : 0;
    uint64_t total = 0;
    for (int64_t l = 0; l < n_layer; l++) {
        int64_t hkv, sliding = 0;
        if ((c = layer_int(g, hkv_i, l, m->n_head, &hkv, e))) return c;
        if (pat >= 0 && (uint64_t)l < mm_gguf_arr_len(g, pat) && (c = mm_gguf_arr_int(g, pat, (uint64_t)l, &sliding, e)))
            return c;
        int64_t cells = m->n_ctx, kd = kdim, vd = vdim;
        if (sliding && m->sliding_window > 0) {
            if (m->sliding_window < cells) cells = m->sliding_window;
            kd = kdim_swa;
            vd = vdim_swa;
        }
        uint64_t per = sat_mul(sat_mul(pos(hkv), sat_add(pos(kd), pos(vd))), sat_mul(pos(cells), 2));
        total = sat_add(total, per);
    }
    m->kv_cache_bytes = total;
    uint64_t width = sat_add(pos(m->n_vocab), sat_add(sat_mul(4, pos(m->n_embd)), sat_mul(2, pos(m->n_ff))));
    m->scratch_bytes = sat_mul(sat_mul(512, width), 4);
    m->mem_bytes = sat_add(m->tensor_bytes, sat_add(m->kv_cache_bytes, m->scratch_bytes));
    return MM_OK;
}

mm_code mm_model_info_get(const mm_gguf *g, int64_t n_ctx, mm_model_info *m, mm_err *e) {
    memset(m, 0, sizeof *m);
    m->gguf_version = mm_gguf_version(g);
    m->file_size = mm_gguf_file_size(g);
    m->alignment = mm_gguf_alignment(g);
    m->n_kv = mm_gguf_n_kv(g);
    m->n_tensors = mm_gguf_n_tensors(g);
    mm_code c = copy_str(g, "general.architecture", m->arch, sizeof m->arch, e);
    if (!c) c = copy_str(g, "general.name", m->name, sizeof m->name, e);
    if (!c) c = copy_str(g, "tokenizer.ggml.model", m->tokenizer, sizeof m->tokenizer, e);
    if (c) return c;
    m->file_type = -1;
    if (mm_gguf_find_key(g, "general.file_type") >= 0 && (c = mm_gguf_get_int(g, "general.file_type", &m->file_type, e)))
        return c;

    const char *a = m->arch;
    struct { const char *suffix; int64_t *dst; } keys[] = {
        {"context_length", &m->n_ctx_train}, {"embedding_length", &m->n_embd},
        {"block_count", &m->n_layer},        {"feed_forward_length", &m->n_ff},
        {"attention.head_count", &m->n_head}, {"attention.key_length_swa", &m->head_dim_swa},
        {"attention.sliding_window", &m->sliding_window}, {"expert_count", &m->n_expert},
        {"expert_used_count", &m->n_expert_used}, {"vocab_size", &m->n_vocab},
    };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        if ((c = arch_int(g, a, keys[k].suffix, -1, -1, keys[k].dst, e))) return c;
    if ((c = arch_int(g, a, "attention.head_count_kv", -1, m->n_head, &m->n_head_kv, e))) return c;
    int64_t hd_def = m->n_embd > 0 && m->n_head > 0 ? m->n_embd / m->n_head : -1;
    if ((c = arch_int(g, a, "attention.key_length", -1, hd_def, &m->head_dim, e))) return c;
    if (m->n_vocab < 0) {
        int64_t i = mm_gguf_find_key(g, "tokenizer.ggml.tokens");
        const mm_tensor *t = mm_gguf_find_tensor(g, "token_embd.weight");
        if (i >= 0 && mm_gguf_kv_type(g, i) == MM_GGUF_ARRAY) m->n_vocab = (int64_t)mm_gguf_arr_len(g, i);
        else if (t && t->n_dims >= 2) m->n_vocab = t->ne[1];
    }
    tensor_stats(g, m);
    m->n_ctx = n_ctx > 0 ? n_ctx : (m->n_ctx_train > 0 && m->n_ctx_train < 4096 ? m->n_ctx_train : 4096);
    return kv_estimate(g, m, e);
}

/* Model identity for idempotency keys (jobs/): "<file size>:<sha256 of the header,
 * metadata and tensor table>" — everything but the tensor data, so it is cheap
 * to compute on a multi-gigabyte file and changes with any re-quantisation or
 * re-conversion (types, shapes and offsets are in the table). */
void mm_model_identity(const mm_gguf *g, char out[96]) {
    mm_sha256 s;
    uint8_t d[32];
    char hex[65];
    mm_sha256_init(&s);
    mm_sha256_update(&s, mm_gguf_base(g), (size_t)mm_gguf_data_offset(g));
    mm_sha256_final(&s, d);
    mm_sha256_hex(d, hex);
    snprintf(out, 96, "%llu:%s", (unsigned long long)mm_gguf_file_size(g), hex);
}
