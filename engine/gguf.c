/*
 * engine/gguf.c — GGUF v2/v3 reader: maps a file (or borrows a buffer),
 * validates everything in it, and gives zero-copy access to metadata and
 * tensor data.
 *
 * The file is hostile input.  Before anything is used: the header counts are
 * bounded by the bytes left (a key needs >= 14 bytes, a tensor info >= 33) and
 * by MM_GGUF_MAX_*; every string / array length is bounded by the bytes left;
 * value and tensor type ids are checked; tensors have 1..4 dims, each >= 1, an
 * element count that fits int64, rows that are whole blocks, an offset that is
 * a multiple of the alignment, and data inside the file not overlapping
 * another tensor's.  Duplicate keys and tensor names are refused.  Allocations
 * are proportional to what the file really contains.
 *
 * Layout (ggml docs/gguf.md): "GGUF" u32 version, u64 n_tensors, u64 n_kv,
 * n_kv x {str key, u32 type, value}, n_tensors x {str name, u32 n_dims,
 * u64 ne[n_dims], u32 type, u64 offset}, padding to the alignment, data.
 * str = {u64 len, bytes}; array = {u32 elem_type, u64 n, elems}.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_int.h"

typedef struct gguf_kv {
    uint64_t key_off;   /* into the name arena (which moves while parsing) */
    uint32_t type;      /* mm_gguf_type */
    uint32_t arr_type;  /* element type (== type for a scalar) */
    uint64_t n;         /* elements (1 for a scalar) */
    uint64_t pos;       /* file offset of the value / first element */
    uint64_t *str_pos;  /* strings: file offset of each element's u64 length */
} gguf_kv;

struct mm_gguf {
    const uint8_t *base;
    uint64_t size;
    int mapped;
    char *label;
    uint32_t version, alignment;
    uint64_t data_offset;
    int64_t n_kv, n_tensors;
    gguf_kv *kv;
    mm_tensor *tensors;
    char *names;            /* arena of NUL-terminated keys and tensor names */
    uint64_t names_len, names_cap;
    uint32_t *kv_hash, *t_hash; /* open addressing: index + 1, 0 = empty */
    uint64_t kv_mask, t_mask;
};

/* ---- bounded cursor -------------------------------------------------------- */

typedef struct rd {
    const uint8_t *p;
    uint64_t size, pos;
} rd;

static int rd_has(const rd *r, uint64_t n) { return n <= r->size - r->pos; }
static uint64_t rd_left(const rd *r) { return r->size - r->pos; }

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
/* Callers check rd_has first. */
static uint32_t rd_u32(rd *r) { uint32_t v = (uint32_t)le(r->p + r->pos, 4); r->pos += 4; return v; }
static uint64_t rd_u64(rd *r) { uint64_t v = le(r->p + r->pos, 8); r->pos += 8; return v; }

/* A printable, truncated copy of a name for error messages. */
static const char *show(const char *s, size_t n, char out[96]) {
    size_t k = 0;
    for (size_t i = 0; i < n && k < 80; i++) {
        unsigned char c = (unsigned char)s[i];
        out[k++] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
    }
    if (n > 80) { memcpy(out + k, "...", 3); k += 3; }
    out[k] = 0;
    return out;
}

static const uint32_t k_vsize[MM_GGUF_TYPE_COUNT] = {
    [MM_GGUF_UINT8] = 1, [MM_GGUF_INT8] = 1, [MM_GGUF_UINT16] = 2, [MM_GGUF_INT16] = 2,
    [MM_GGUF_UINT32] = 4, [MM_GGUF_INT32] = 4, [MM_GGUF_FLOAT32] = 4, [MM_GGUF_BOOL] = 1,
    [MM_GGUF_UINT64] = 8, [MM_GGUF_INT64] = 8, [MM_GGUF_FLOAT64] = 8,
};
static const char *const k_vname[MM_GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool", "string", "array", "uint64", "int64", "float64",
};
static const char *vname(uint32_t t) { return t < MM_GGUF_TYPE_COUNT ? k_vname[t] : "unknown"; }

/* ---- names and hash tables ------------------------------------------------- */

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Appends n bytes + NUL to the arena; returns the offset or UINT64_MAX on OOM. */
static uint64_t arena_add(mm_gguf *g, const char *s, size_t n) {
    if (g->names_len + n + 1 > g->names_cap) {
        uint64_t cap = g->names_cap ? g->names_cap * 2 : 4096;
        while (cap < g->names_len + n + 1) cap *= 2;
        char *p = realloc(g->names, cap);
        if (!p) return UINT64_MAX;
        g->names = p;
        g->names_cap = cap;
    }
    uint64_t off = g->names_len;
    memcpy(g->names + off, s, n);
    g->names[off + n] = 0;
    g->names_len += n + 1;
    return off;
}

static uint32_t *hash_new(int64_t n, uint64_t *mask) {
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2) cap *= 2;
    *mask = cap - 1;
    return calloc(cap, sizeof(uint32_t));
}

/* Finds name in a table whose entries name via get(i); returns slot. */
typedef const char *(*name_of_fn)(const mm_gguf *g, uint32_t i);
static const char *kv_name(const mm_gguf *g, uint32_t i) { return g->names + g->kv[i].key_off; }
static const char *t_name(const mm_gguf *g, uint32_t i) { return g->tensors[i].name; }

static uint64_t hash_slot(const mm_gguf *g, const uint32_t *tab, uint64_t mask, name_of_fn get,
                          const char *name) {
    uint64_t s = fnv1a(name) & mask;
    while (tab[s] && strcmp(get(g, tab[s] - 1), name) != 0) s = (s + 1) & mask;
    return s;
}

/* ---- errors ---------------------------------------------------------------- */

#define BAD(...) mm_err_set(e, MM_ECORRUPT, __VA_ARGS__)

/* ---- metadata -------------------------------------------------------------- */

/* Reads a gguf string header at r, checks it fits; on success s and n are set. */
static int read_str(rd *r, const char **s, uint64_t *n) {
    if (!rd_has(r, 8)) return 0;
    uint64_t len = rd_u64(r);
    if (!rd_has(r, len)) { r->pos -= 8; *n = len; return -1; }
    *s = (const char *)r->p + r->pos;
    *n = len;
    r->pos += len;
    return 1;
}

/* Parses the value of key kv (type already read) at r. */
static mm_code parse_value(mm_gguf *g, rd *r, gguf_kv *kv, const char *key, mm_err *e) {
    const char *L = g->label;
    if (kv->type >= MM_GGUF_TYPE_COUNT)
        return BAD("%s: key '%s': unknown value type %u", L, key, kv->type);
    kv->arr_type = kv->type;
    kv->n = 1;
    if (kv->type == MM_GGUF_ARRAY) {
        if (!rd_has(r, 12)) return BAD("%s: key '%s': array header runs past end of file", L, key);
        kv->arr_type = rd_u32(r);
        kv->n = rd_u64(r);
        if (kv->arr_type == MM_GGUF_ARRAY)
            return mm_err_set(e, MM_EUNSUPPORTED, "%s: key '%s': nested arrays are not supported", L, key);
        if (kv->arr_type >= MM_GGUF_TYPE_COUNT)
            return BAD("%s: key '%s': unknown array element type %u", L, key, kv->arr_type);
    }
    kv->pos = r->pos;
    if (kv->arr_type == MM_GGUF_STRING) {
        if (kv->type == MM_GGUF_ARRAY && kv->n > rd_left(r) / 8)
            return BAD("%s: key '%s': array of %llu strings cannot fit in the %llu bytes left", L, key,
                       (unsigned long long)kv->n, (unsigned long long)rd_left(r));
        if (kv->type == MM_GGUF_ARRAY) {
            kv->str_pos = malloc((kv->n ? kv->n : 1) * sizeof(uint64_t));
            if (!kv->str_pos) return mm_err_set(e, MM_ENOMEM, "%s: key '%s': out of memory", L, key);
        }
        for (uint64_t j = 0; j < kv->n; j++) {
            uint64_t at = r->pos;
            const char *s;
            uint64_t n = 0;
            int ok = read_str(r, &s, &n);
            if (ok == 0) return BAD("%s: key '%s': string %llu length runs past end of file", L, key,
                                    (unsigned long long)j);
            if (ok < 0)
                return BAD("%s: key '%s': string %llu has length %llu but only %llu bytes are left", L, key,
                           (unsigned long long)j, (unsigned long long)n, (unsigned long long)(rd_left(r) - 8));
            if (kv->str_pos) kv->str_pos[j] = at;
        }
        return MM_OK;
    }
    uint32_t es = k_vsize[kv->arr_type];
    if (kv->n > rd_left(r) / es)
        return BAD("%s: key '%s': %llu %s values need %llu bytes but only %llu are left", L, key,
                   (unsigned long long)kv->n, vname(kv->arr_type),
                   kv->n > UINT64_MAX / es ? (unsigned long long)UINT64_MAX : (unsigned long long)(kv->n * es),
                   (unsigned long long)rd_left(r));
    if (kv->arr_type == MM_GGUF_BOOL)
        for (uint64_t j = 0; j < kv->n; j++)
            if (r->p[r->pos + j] > 1)
                return BAD("%s: key '%s': bool value %u (element %llu) is not 0 or 1", L, key,
                           r->p[r->pos + j], (unsigned long long)j);
    r->pos += kv->n * es;
    return MM_OK;
}

static mm_code parse_kvs(mm_gguf *g, rd *r, uint64_t n_kv, mm_err *e) {
    const char *L = g->label;
    g->kv = calloc(n_kv ? n_kv : 1, sizeof(gguf_kv));
    if (!g->kv) return mm_err_set(e, MM_ENOMEM, "%s: out of memory for %llu keys", L, (unsigned long long)n_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        uint64_t at = r->pos;
        const char *s;
        uint64_t n = 0;
        int ok = read_str(r, &s, &n);
        if (ok == 0) return BAD("%s: key #%llu (offset %llu): name length runs past end of file", L,
                                (unsigned long long)i, (unsigned long long)at);
        if (ok < 0 || n > MM_GGUF_MAX_KEY_LEN)
            return BAD("%s: key #%llu (offset %llu): name length %llu is %s", L, (unsigned long long)i,
                       (unsigned long long)at, (unsigned long long)n,
                       ok < 0 ? "past the end of the file" : "over the limit of 65535");
        if (n == 0) return BAD("%s: key #%llu (offset %llu): empty name", L, (unsigned long long)i,
                               (unsigned long long)at);
        char nm[96];
        if (memchr(s, 0, n)) return BAD("%s: key #%llu '%s': name contains a NUL byte", L,
                                        (unsigned long long)i, show(s, n, nm));
        show(s, n, nm);
        if (!rd_has(r, 4)) return BAD("%s: key '%s': value type runs past end of file", L, nm);
        kv->type = rd_u32(r);
        kv->key_off = arena_add(g, s, n);
        if (kv->key_off == UINT64_MAX) return mm_err_set(e, MM_ENOMEM, "%s: out of memory", L);
        g->n_kv = (int64_t)i + 1; /* so close() frees str_pos */
        mm_code c = parse_value(g, r, kv, nm, e);
        if (c) return c;
    }
    /* Build the hash, refuse duplicates. */
    g->kv_hash = hash_new((int64_t)n_kv, &g->kv_mask);
    if (!g->kv_hash) return mm_err_set(e, MM_ENOMEM, "%s: out of memory", L);
    for (uint64_t i = 0; i < n_kv; i++) {
        const char *key = kv_name(g, (uint32_t)i);
        uint64_t s = hash_slot(g, g->kv_hash, g->kv_mask, kv_name, key);
        if (g->kv_hash[s]) {
            char nm[96];
            return BAD("%s: duplicate key '%s' (#%u and #%llu)", L, show(key, strlen(key), nm), g->kv_hash[s] - 1,
                       (unsigned long long)i);
        }
        g->kv_hash[s] = (uint32_t)i + 1;
    }
    return MM_OK;
}

static mm_code read_alignment(mm_gguf *g, mm_err *e) {
    g->alignment = MM_GGUF_DEFAULT_ALIGN;
    int64_t i = mm_gguf_find_key(g, "general.alignment");
    if (i < 0) return MM_OK;
    const gguf_kv *kv = &g->kv[i];
    if (kv->type != MM_GGUF_UINT32)
        return BAD("%s: key 'general.alignment': type %s, expected uint32", g->label, vname(kv->type));
    uint32_t a = (uint32_t)le(g->base + kv->pos, 4);
    if (a == 0 || (a & (a - 1)) || a > MM_GGUF_MAX_ALIGN)
        return BAD("%s: key 'general.alignment': %u is not a power of two in 1..%u", g->label, a,
                   MM_GGUF_MAX_ALIGN);
    g->alignment = a;
    return MM_OK;
}

/* ---- tensors ---------------------------------------------------------------- */

static mm_code parse_tensor_info(mm_gguf *g, rd *r, uint64_t i, mm_err *e) {
    const char *L = g->label;
    mm_tensor *t = &g->tensors[i];
    uint64_t at = r->pos;
    const char *s;
    uint64_t n = 0;
    int ok = read_str(r, &s, &n);
    if (ok == 0) return BAD("%s: tensor #%llu (offset %llu): name length runs past end of file", L,
                            (unsigned long long)i, (unsigned long long)at);
    if (ok < 0 || n >= MM_GGUF_MAX_NAME)
        return BAD("%s: tensor #%llu (offset %llu): name length %llu is %s", L, (unsigned long long)i,
                   (unsigned long long)at, (unsigned long long)n,
                   ok < 0 ? "past the end of the file" : "not below the limit of 64");
    char nm[96];
    show(s, n, nm);
    if (n == 0) return BAD("%s: tensor #%llu: empty name", L, (unsigned long long)i);
    if (memchr(s, 0, n)) return BAD("%s: tensor #%llu '%s': name contains a NUL byte", L, (unsigned long long)i, nm);
    uint64_t off = arena_add(g, s, n);
    if (off == UINT64_MAX) return mm_err_set(e, MM_ENOMEM, "%s: out of memory", L);
    t->name = (const char *)(uintptr_t)off; /* fixed up once the arena is final */

    if (!rd_has(r, 4)) return BAD("%s: tensor '%s': n_dims runs past end of file", L, nm);
    t->n_dims = rd_u32(r);
    if (t->n_dims < 1 || t->n_dims > MM_GGUF_MAX_DIMS)
        return BAD("%s: tensor '%s': n_dims %u is not in 1..%u", L, nm, t->n_dims, MM_GGUF_MAX_DIMS);
    if (!rd_has(r, 8ull * t->n_dims + 12)) return BAD("%s: tensor '%s': dimensions run past end of file", L, nm);
    int64_t ne_all = 1;
    for (uint32_t d = 0; d < 4; d++) {
        uint64_t v = d < t->n_dims ? rd_u64(r) : 1;
        if (v == 0) return BAD("%s: tensor '%s': dimension %u is 0", L, nm, d);
        if (v > (uint64_t)INT64_MAX || (uint64_t)ne_all > (uint64_t)INT64_MAX / v)
            return BAD("%s: tensor '%s': element count overflows (dimension %u is %llu)", L, nm, d,
                       (unsigned long long)v);
        t->ne[d] = (int64_t)v;
        ne_all *= (int64_t)v;
    }
    t->n_elements = ne_all;
    t->n_rows = ne_all / t->ne[0];
    t->type = rd_u32(r);
    t->offset = rd_u64(r);
    const mm_type_traits *tt = mm_type_traits_get(t->type);
    if (!tt) return BAD("%s: tensor '%s': unknown type id %u", L, nm, t->type);
    if (t->ne[0] % tt->block_size != 0)
        return BAD("%s: tensor '%s': row of %lld elements is not a whole number of %s blocks (%u)", L, nm,
                   (long long)t->ne[0], tt->name, tt->block_size);
    t->row_bytes = mm_type_row_size(t->type, t->ne[0]);
    if (t->row_bytes == 0 || t->row_bytes > UINT64_MAX / (uint64_t)t->n_rows)
        return BAD("%s: tensor '%s': byte size overflows", L, nm);
    t->nbytes = t->row_bytes * (uint64_t)t->n_rows;
    return MM_OK;
}

typedef struct span { uint64_t offset; uint32_t index; } span;
static int cmp_offset(const void *a, const void *b) {
    uint64_t x = ((const span *)a)->offset, y = ((const span *)b)->offset;
    return x < y ? -1 : x > y;
}

/* Data ranges: aligned, inside the file, pairwise disjoint. */
static mm_code check_tensor_data(mm_gguf *g, mm_err *e) {
    const char *L = g->label;
    uint64_t n = (uint64_t)g->n_tensors;
    if (n == 0) return MM_OK;
    if (g->data_offset > g->size)
        return BAD("%s: data section (offset %llu) starts past end of file (size %llu)", L,
                   (unsigned long long)g->data_offset, (unsigned long long)g->size);
    uint64_t room = g->size - g->data_offset;
    for (uint64_t i = 0; i < n; i++) {
        mm_tensor *t = &g->tensors[i];
        char nm[96];
        show(t->name, strlen(t->name), nm);
        if (t->offset % g->alignment)
            return BAD("%s: tensor '%s': offset %llu is not a multiple of the alignment %u", L, nm,
                       (unsigned long long)t->offset, g->alignment);
        if (t->offset > room || t->nbytes > room - t->offset)
            return BAD("%s: tensor '%s': data [%llu, +%llu) runs past end of file (%llu bytes of data)", L, nm,
                       (unsigned long long)t->offset, (unsigned long long)t->nbytes, (unsigned long long)room);
        t->file_offset = g->data_offset + t->offset;
        t->data = g->base + t->file_offset;
    }
    span *ord = malloc(n * sizeof(span));
    if (!ord) return mm_err_set(e, MM_ENOMEM, "%s: out of memory", L);
    for (uint64_t i = 0; i < n; i++) ord[i] = (span){g->tensors[i].offset, (uint32_t)i};
    qsort(ord, n, sizeof(span), cmp_offset);
    mm_code c = MM_OK;
    for (uint64_t i = 1; i < n && !c; i++) {
        const mm_tensor *a = &g->tensors[ord[i - 1].index], *b = &g->tensors[ord[i].index];
        if (a->offset + a->nbytes > b->offset) {
            char x[96], y[96];
            c = BAD("%s: tensor '%s': data overlaps tensor '%s'", L, show(b->name, strlen(b->name), x),
                    show(a->name, strlen(a->name), y));
        }
    }
    free(ord);
    return c;
}

static mm_code parse_tensors(mm_gguf *g, rd *r, uint64_t n_t, mm_err *e) {
    const char *L = g->label;
    /* name (>= 8+1) + n_dims 4 + ne >= 8 + type 4 + offset 8 */
    if (n_t > rd_left(r) / 33)
        return BAD("%s: header claims %llu tensors but only %llu bytes are left for their infos", L,
                   (unsigned long long)n_t, (unsigned long long)rd_left(r));
    if (n_t > MM_GGUF_MAX_TENSORS)
        return mm_err_set(e, MM_ELIMIT, "%s: %llu tensors is over the limit of %u", L, (unsigned long long)n_t,
                          MM_GGUF_MAX_TENSORS);
    g->tensors = calloc(n_t ? n_t : 1, sizeof(mm_tensor));
    if (!g->tensors) return mm_err_set(e, MM_ENOMEM, "%s: out of memory", L);
    for (uint64_t i = 0; i < n_t; i++) {
        g->n_tensors = (int64_t)i;
        mm_code c = parse_tensor_info(g, r, i, e);
        if (c) { g->n_tensors = 0; return c; }
    }
    g->n_tensors = (int64_t)n_t;
    for (uint64_t i = 0; i < n_t; i++) g->tensors[i].name = g->names + (uintptr_t)g->tensors[i].name;
    g->t_hash = hash_new((int64_t)n_t, &g->t_mask);
    if (!g->t_hash) return mm_err_set(e, MM_ENOMEM, "%s: out of memory", L);
    for (uint64_t i = 0; i < n_t; i++) {
        uint64_t s = hash_slot(g, g->t_hash, g->t_mask, t_name, g->tensors[i].name);
        if (g->t_hash[s]) {
            char nm[96];
            return BAD("%s: duplicate tensor name '%s'", L, show(g->tensors[i].name, strlen(g->tensors[i].name), nm));
        }
        g->t_hash[s] = (uint32_t)i + 1;
    }
    uint64_t pad = (g->alignment - r->pos % g->alignment) % g->alignment;
    g->data_offset = r->pos + pad;
    return check_tensor_data(g, e);
}

/* ---- open / close ------------------------------------------------------------ */

static mm_code parse(mm_gguf *g, mm_err *e) {
    const char *L = g->label;
    rd r = {g->base, g->size, 0};
    if (g->size < 4 || memcmp(g->base, "GGUF", 4) != 0)
        return BAD("%s: not a GGUF file (bad magic)", L);
    if (g->size < 24) return BAD("%s: header truncated (%llu bytes, need 24)", L, (unsigned long long)g->size);
    r.pos = 4;
    g->version = rd_u32(&r);
    if (g->version == 1)
        return mm_err_set(e, MM_EUNSUPPORTED, "%s: GGUF version 1 is not supported (only 2 and 3)", L);
    if ((g->version & 0xFFFF) == 0 && g->version != 0)
        return mm_err_set(e, MM_EUNSUPPORTED, "%s: big-endian GGUF files are not supported", L);
    if (g->version == 0) return BAD("%s: GGUF version 0 is invalid", L);
    if (g->version > 3)
        return mm_err_set(e, MM_EVERSION, "%s: GGUF version %u is newer than supported (3)", L, g->version);
    uint64_t n_t = rd_u64(&r), n_kv = rd_u64(&r);
    /* key >= 8+1, type 4, value >= 1 */
    if (n_kv > rd_left(&r) / 14)
        return BAD("%s: header claims %llu keys but the file has only %llu bytes left", L,
                   (unsigned long long)n_kv, (unsigned long long)rd_left(&r));
    if (n_kv > MM_GGUF_MAX_KV)
        return mm_err_set(e, MM_ELIMIT, "%s: %llu keys is over the limit of %u", L, (unsigned long long)n_kv,
                          MM_GGUF_MAX_KV);
    mm_code c = parse_kvs(g, &r, n_kv, e);
    if (!c) c = read_alignment(g, e);
    if (!c) c = parse_tensors(g, &r, n_t, e);
    return c;
}

static mm_code finish_open(mm_gguf *g, mm_gguf **out, mm_err *e) {
    mm_code c = parse(g, e);
    if (c) { mm_gguf_close(g); return c; }
    *out = g;
    return MM_OK;
}

mm_code mm_gguf_open_memory(const void *data, size_t size, const char *label, mm_gguf **out, mm_err *e) {
    *out = NULL;
    mm_gguf *g = calloc(1, sizeof(*g));
    if (!g || !(g->label = mm_strdup(label ? label : "<memory>"))) {
        free(g);
        return mm_err_set(e, MM_ENOMEM, "out of memory");
    }
    g->base = data;
    g->size = size;
    if (!data && size) { mm_gguf_close(g); return mm_err_set(e, MM_EINVAL, "%s: NULL buffer", g->label); }
    return finish_open(g, out, e);
}

mm_code mm_gguf_open(const char *path, mm_gguf **out, mm_err *e) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int er = errno;
        return mm_err_set(e, mm_code_from_errno(er), "%s: cannot open: %s", path, strerror(er));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int er = errno;
        close(fd);
        return mm_err_set(e, MM_EIO, "%s: cannot stat: %s", path, strerror(er));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mm_err_set(e, MM_EINVAL, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return mm_err_set(e, MM_ECORRUPT, "%s: empty file, not a GGUF model", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return mm_err_set(e, MM_ELIMIT, "%s: too large to map", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int er = errno;
    close(fd);
    if (p == MAP_FAILED) return mm_err_set(e, mm_code_from_errno(er), "%s: cannot mmap: %s", path, strerror(er));
    mm_gguf *g = calloc(1, sizeof(*g));
    if (!g || !(g->label = mm_strdup(path))) {
        free(g);
        munmap(p, (size_t)st.st_size);
        return mm_err_set(e, MM_ENOMEM, "%s: out of memory", path);
    }
    g->base = p;
    g->size = (uint64_t)st.st_size;
    g->mapped = 1;
    return finish_open(g, out, e);
}

void mm_gguf_close(mm_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) free(g->kv[i].str_pos);
    free(g->kv);
    free(g->tensors);
    free(g->names);
    free(g->kv_hash);
    free(g->t_hash);
    if (g->mapped) munmap((void *)g->base, (size_t)g->size);
    free(g->label);
    free(g);
}

/* ---- accessors --------------------------------------------------------------- */

uint32_t mm_gguf_version(const mm_gguf *g) { return g->version; }
uint64_t mm_gguf_file_size(const mm_gguf *g) { return g->size; }
uint32_t mm_gguf_alignment(const mm_gguf *g) { return g->alignment; }
uint64_t mm_gguf_data_offset(const mm_gguf *g) { return g->data_offset; }
const void *mm_gguf_base(const mm_gguf *g) { return g->base; }
int64_t mm_gguf_n_kv(const mm_gguf *g) { return g->n_kv; }
int64_t mm_gguf_n_tensors(const mm_gguf *g) { return g->n_tensors; }

int64_t mm_gguf_find_key(const mm_gguf *g, const char *key) {
    if (!g->kv_hash || !key) return -1;
    uint64_t s = hash_slot(g, g->kv_hash, g->kv_mask, kv_name, key);
    return g->kv_hash[s] ? (int64_t)g->kv_hash[s] - 1 : -1;
}

static int kv_ok(const mm_gguf *g, int64_t i) { return i >= 0 && i < g->n_kv; }
const char *mm_gguf_key(const mm_gguf *g, int64_t i) { return kv_ok(g, i) ? kv_name(g, (uint32_t)i) : NULL; }
uint32_t mm_gguf_kv_type(const mm_gguf *g, int64_t i) { return kv_ok(g, i) ? g->kv[i].type : MM_GGUF_TYPE_COUNT; }
uint32_t mm_gguf_arr_type(const mm_gguf *g, int64_t i) { return kv_ok(g, i) ? g->kv[i].arr_type : MM_GGUF_TYPE_COUNT; }
uint64_t mm_gguf_arr_len(const mm_gguf *g, int64_t i) { return kv_ok(g, i) ? g->kv[i].n : 0; }
const void *mm_gguf_arr_data(const mm_gguf *g, int64_t i) {
    if (!kv_ok(g, i) || g->kv[i].arr_type == MM_GGUF_STRING) return NULL;
    return g->base + g->kv[i].pos;
}

/* Checks index i / element j, returns the element's file offset in *pos. */
static mm_code elem(const mm_gguf *g, int64_t i, uint64_t j, uint64_t *pos, mm_err *e) {
    if (!kv_ok(g, i)) return mm_err_set(e, MM_EINVAL, "%s: key index %lld out of range", g->label, (long long)i);
    const gguf_kv *kv = &g->kv[i];
    if (j >= kv->n)
        return mm_err_set(e, MM_EINVAL, "%s: key '%s': element %llu out of range (%llu)", g->label, kv_name(g, (uint32_t)i),
                          (unsigned long long)j, (unsigned long long)kv->n);
    if (kv->arr_type == MM_GGUF_STRING) *pos = kv->str_pos ? kv->str_pos[j] : kv->pos;
    else *pos = kv->pos + j * k_vsize[kv->arr_type];
    return MM_OK;
}

static mm_code mismatch(const mm_gguf *g, int64_t i, const char *want, mm_err *e) {
    const gguf_kv *kv = &g->kv[i];
    return mm_err_set(e, MM_EINVAL, "%s: key '%s' has type %s%s%s, expected %s", g->label, kv_name(g, (uint32_t)i),
                      vname(kv->type), kv->type == MM_GGUF_ARRAY ? " of " : "",
                      kv->type == MM_GGUF_ARRAY ? vname(kv->arr_type) : "", want);
}

mm_code mm_gguf_arr_int(const mm_gguf *g, int64_t i, uint64_t j, int64_t *out, mm_err *e) {
    uint64_t pos = 0;
    mm_code c = elem(g, i, j, &pos, e);
    if (c) return c;
    const uint8_t *p = g->base + pos;
    uint64_t u;
    switch (g->kv[i].arr_type) {
    case MM_GGUF_UINT8: case MM_GGUF_BOOL: *out = p[0]; return MM_OK;
    case MM_GGUF_INT8: *out = (int8_t)p[0]; return MM_OK;
    case MM_GGUF_UINT16: *out = (int64_t)le(p, 2); return MM_OK;
    case MM_GGUF_INT16: *out = (int16_t)le(p, 2); return MM_OK;
    case MM_GGUF_UINT32: *out = (int64_t)le(p, 4); return MM_OK;
    case MM_GGUF_INT32: *out = (int32_t)(uint32_t)le(p, 4); return MM_OK;
    case MM_GGUF_INT64: u = le(p, 8); memcpy(out, &u, 8); return MM_OK;
    case MM_GGUF_UINT64:
        u = le(p, 8);
        if (u > (uint64_t)INT64_MAX)
            return mm_err_set(e, MM_EINVAL, "%s: key '%s': value %llu is out of range", g->label, kv_name(g, (uint32_t)i),
                              (unsigned long long)u);
        *out = (int64_t)u;
        return MM_OK;
    default: return mismatch(g, i, "an integer", e);
    }
}

mm_code mm_gguf_arr_float(const mm_gguf *g, int64_t i, uint64_t j, double *out, mm_err *e) {
    uint64_t pos = 0;
    mm_code c = elem(g, i, j, &pos, e);
    if (c) return c;
    const uint8_t *p = g->base + pos;
    if (g->kv[i].arr_type == MM_GGUF_FLOAT32) {
        uint32_t u = (uint32_t)le(p, 4);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
        return MM_OK;
    }
    if (g->kv[i].arr_type == MM_GGUF_FLOAT64) {
        uint64_t u = le(p, 8);
        memcpy(out, &u, 8);
        return MM_OK;
    }
    return mismatch(g, i, "float32 or float64", e);
}

mm_code mm_gguf_arr_str(const mm_gguf *g, int64_t i, uint64_t j, mm_str *out, mm_err *e) {
    uint64_t pos = 0;
    mm_code c = elem(g, i, j, &pos, e);
    if (c) return c;
    if (g->kv[i].arr_type != MM_GGUF_STRING) return mismatch(g, i, "string", e);
    out->n = (size_t)le(g->base + pos, 8);
    out->p = (const char *)g->base + pos + 8;
    return MM_OK;
}

/* Finds a scalar key for the typed getters. */
static mm_code scalar(const mm_gguf *g, const char *key, int64_t *i, mm_err *e) {
    *i = mm_gguf_find_key(g, key);
    if (*i < 0) return mm_err_set(e, MM_ENOTFOUND, "%s: key '%s' not found", g->label, key);
    if (g->kv[*i].type == MM_GGUF_ARRAY) return mismatch(g, *i, "a scalar", e);
    return MM_OK;
}

mm_code mm_gguf_get_int(const mm_gguf *g, const char *key, int64_t *out, mm_err *e) {
    int64_t i;
    mm_code c = scalar(g, key, &i, e);
    if (c) return c;
    if (g->kv[i].type == MM_GGUF_BOOL) return mismatch(g, i, "an integer", e);
    return mm_gguf_arr_int(g, i, 0, out, e);
}

mm_code mm_gguf_get_float(const mm_gguf *g, const char *key, double *out, mm_err *e) {
    int64_t i;
    mm_code c = scalar(g, key, &i, e);
    return c ? c : mm_gguf_arr_float(g, i, 0, out, e);
}

mm_code mm_gguf_get_bool(const mm_gguf *g, const char *key, int *out, mm_err *e) {
    int64_t i, v;
    mm_code c = scalar(g, key, &i, e);
    if (c) return c;
    if (g->kv[i].type != MM_GGUF_BOOL) return mismatch(g, i, "bool", e);
    c = mm_gguf_arr_int(g, i, 0, &v, e);
    if (!c) *out = (int)v;
    return c;
}

mm_code mm_gguf_get_str(const mm_gguf *g, const char *key, mm_str *out, mm_err *e) {
    int64_t i;
    mm_code c = scalar(g, key, &i, e);
    return c ? c : mm_gguf_arr_str(g, i, 0, out, e);
}

const mm_tensor *mm_gguf_tensor(const mm_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

mm_tensor *mm_gguf_tensor_rw(mm_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

void mm_gguf_drop_pages(mm_gguf *g, const void *p, size_t n) {
    if (!g->mapped || !n) return;
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a = ((uintptr_t)p + pg - 1) & ~(pg - 1),
              b = ((uintptr_t)p + n) & ~(pg - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED); /* clean file pages: re-read on a later touch */
}

/* Not only dropped: the whole pages of [p, p + n) become an inaccessible anonymous
 * reservation, a mapping of their own.  A page fault maps in the file's neighbouring
 * pages too, up to a whole large folio of the page cache (kernel 6.18, ext4: ~2 MB),
 * but never across a mapping's end — so a read of a small tensor beside a repacked one
 * no longer brings the repacked one's original pages back.  The range stays reserved
 * (a stray read faults instead of finding another mapping); munmap at close frees it. */
void mm_gguf_release_pages(mm_gguf *g, const void *p, size_t n) {
    if (!g->mapped || !n) return;
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a = ((uintptr_t)p + pg - 1) & ~(pg - 1),
              b = ((uintptr_t)p + n) & ~(pg - 1);
    if (b <= a) return;
    if (mmap((void *)a, b - a, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) ==
        MAP_FAILED)
        madvise((void *)a, b - a, MADV_DONTNEED); /* out of mappings: dropped at least */
}

void mm_gguf_drop_metadata_pages(mm_gguf *g) { mm_gguf_drop_pages(g, g->base, (size_t)g->data_offset); }

const mm_tensor *mm_gguf_find_tensor(const mm_gguf *g, const char *name) {
    if (!g->t_hash || !name) return NULL;
    uint64_t s = hash_slot(g, g->t_hash, g->t_mask, t_name, name);
    return g->t_hash[s] ? &g->tensors[g->t_hash[s] - 1] : NULL;
}

mm_code mm_tensor_dequantize_rows(const mm_tensor *t, int64_t row0, int64_t n_rows, float *dst, mm_err *e) {
    if (row0 < 0 || n_rows < 0 || row0 > t->n_rows || n_rows > t->n_rows - row0)
        return mm_err_set(e, MM_EINVAL, "tensor '%s': rows [%lld, +%lld) out of range (%lld rows)", t->name,
                          (long long)row0, (long long)n_rows, (long long)t->n_rows);
    if (t->packed) { /* the matrix kernels' copy: its original pages may have been dropped */
        for (int64_t r = 0; r < n_rows; r++) mm_packed_dequant_row(t, row0 + r, dst + r * t->ne[0]);
        return MM_OK;
    }
    const uint8_t *src = (const uint8_t *)t->data + (uint64_t)row0 * t->row_bytes;
    mm_code c = mm_dequantize_row(t->type, src, dst, n_rows * t->ne[0], e);
    if (c) mm_err_prefix(e, "tensor '%s'", t->name);
    return c;
}
