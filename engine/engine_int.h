/*
 * engine/engine_int.h — private to engine/: the thread pool, the numeric
 * primitives, the matrix product dispatch, and the loaded-model structs that
 * the forward pass (decode.c) reads.  Not part of the public API (engine.h).
 */
#ifndef MM_ENGINE_INT_H
#define MM_ENGINE_INT_H

#include "engine.h"

/* ---- thread pool (pool.c) ---- */
typedef struct mm_pool mm_pool;
typedef void (*mm_task_fn)(void *ctx, int ith, int nth);
typedef void (*mm_range_fn)(void *ctx, int64_t a, int64_t b, int ith);
mm_pool *mm_pool_open(int n_threads);
/* fn(ctx, a, b, ith) over [0, n) in chunks taken by whichever thread is free (ith: the
 * thread, 0..nth-1, for per-thread scratch); returns when all n items are done. */
void mm_pool_for(mm_pool *p, int64_t n, mm_range_fn fn, void *ctx);
/* fn(ctx, i, nth) once for each share i < nth (by whichever thread takes it). */
void mm_pool_run(mm_pool *p, mm_task_fn fn, void *ctx);
int mm_pool_threads(const mm_pool *p);
void mm_pool_close(mm_pool *p);
/* A grow-only buffer of at least size bytes owned by the pool (slot 0 or 1), for the
 * thread that runs the pool: after the first calls of a shape, no allocation. */
void *mm_pool_scratch(mm_pool *p, int slot, size_t size);

/* The share [*a, *b) of n items for thread ith of nth. */
static inline void mm_split(int64_t n, int ith, int nth, int64_t *a, int64_t *b) {
    int64_t per = (n + nth - 1) / nth;
    *a = per * ith < n ? per * ith : n;
    *b = *a + per < n ? *a + per : n;
}

/* ---- primitives (ops.c), all on f32 rows ---- */
/* y = x / sqrt(mean(x^2) + eps) (* w when w != NULL), as ggml: squares summed in double. */
void mm_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps);
/* GELU (tanh form) through ggml's fp16 table: fp16 precision, x <= -10 -> 0, x >= 10 -> x. */
float mm_gelu(float x);
/* g[i] = mm_gelu(g[i]) * u[i] for i < n, the same bits at every CPU level. */
void mm_geglu(float *g, const float *u, int64_t n);
float mm_silu(float x);
/* x[i] = mm_silu(x[i]) for i < n (the same bits at every CPU level). */
void mm_silu_rows(float *x, int64_t n);
float mm_expf_ggml(float x);
/* Attention (attn_kernels.c), the same bits at every CPU level:
 * out[c] = fma chain over d of q[d] * kt[d * stride + c] for c < n (K transposed: [dim][cells]); the
 * F16 form reads an F16 cache (q already rounded to F16 by the caller). */
void mm_qk_f32(const float *q, const float *kt, int64_t stride, int hd, int n, float *out);
void mm_qk_f16(const float *q, const uint16_t *kt, int64_t stride, int hd, int n, float *out);
/* nq queries (the heads of one KV group) against the same cells: out[i] as mm_qk_f32 / _f16
 * gives for q[i], with each K vector read once per four queries. */
void mm_qk_group(const float *const q[], int nq, const void *kt, int f16, int64_t stride, int hd, int n,
                 float *const out[]);
/* The same products in llama.cpp's exact order for the precise mode (attn_ggml.c): scores as
 * ggml_vec_dot_f32 over the head dimension, values as ggml_vec_dot_f32 over the cells by their
 * absolute index (F32 cache only). */
void mm_qk_group_ggml(const float *const q[], int nq, const float *kt, int64_t stride, int hd, int n,
                      float *const out[]);
void mm_attn_av_ggml(float *out, const float *p, int lo, int hi, const float *V, int64_t ld, int hd);
/* y[i] = x[i] rounded to F16 and back (y may be x). */
void mm_round_f16(float *y, const float *x, int n);
/* In-place softmax of n values (ggml's AVX-512 order: groups of 16, sums in double);
 * the span form reads and writes only [lo, hi), every other cell being -inf. */
void mm_softmax(float *x, int64_t n);
void mm_softmax_span(float *x, int64_t n, int64_t lo, int64_t hi);
/* out[0..hd) = fma chain over cells c in [lo, hi), in order, of p[c] * V[c * ld + d]
 * (the F16 form rounds p[c] to F16 first, as ggml does). */
void mm_attn_av_f32(float *out, const float *p, int lo, int hi, const float *V, int64_t ld, int hd);
void mm_attn_av_f16(float *out, const float *p, int lo, int hi, const uint16_t *V, int64_t ld, int hd);
/* nh heads sharing one V (a KV group): out[h] as mm_attn_av_f32 / _f16 gives for p[h], each V
 * vector read once per four heads.  For an F16 cache p[h][lo..hi) is rounded to F16 in place. */
void mm_attn_av_group(float *const out[], float *const p[], int nh, int lo, int hi, const void *V, int f16,
                      int64_t ld, int hd);
/* The same continuing from out when accum is set: a span split into consecutive blocks gives
 * the bits of the whole span in one call (each output's chain runs over the cells in order). */
void mm_attn_av_group_acc(float *const out[], float *const p[], int nh, int lo, int hi, const void *V, int f16,
                          int64_t ld, int hd, int accum);
/* RoPE on one head vector of length hd: NEOX (pairs i, i + n_rot/2) or normal (pairs 2i, 2i+1);
 * freq_factors (n_rot/2 values) may be NULL.  Dimensions from n_rot on are left alone. */
void mm_rope(float *x, int n_rot, int32_t pos, float base, const float *freq_factors, int neox);
/* The same in two steps: cs (n_rot floats) = the cos/sin table of one position, then applied
 * to any number of head vectors (the same bits as mm_rope). */
void mm_rope_cache(float *cs, int n_rot, int32_t pos, float base, const float *freq_factors);
void mm_rope_apply(float *x, int n_rot, const float *cs, int neox);
/* y[i] = mm_fp32_to_fp16(x[i]) for i < n (F16C when the CPU has it: the same bits). */
void mm_fp32_to_fp16_row(uint16_t *y, const float *x, int64_t n);

/* ---- matrix products (matmul.c) ---- */
/* Y[t][o] = sum_i W[row0 + o][i] * X[t][i] for o < n_out, t < T, with activations
 * rounded or quantised to W's vec_dot type exactly as ggml's CPU backend does
 * (F16/BF16: rounded; Q4_0/Q5_0/Q8_0: Q8_0 blocks; Q4_1/Q5_1: Q8_1; K-quants: Q8_K).
 * X rows are ldx floats apart, Y rows ldy.  Work is split over the pool. */
mm_code mm_matmul(mm_pool *pool, const mm_tensor *W, int64_t row0, int64_t n_out, const float *X,
                  int64_t T, int64_t ldx, float *Y, int64_t ldy, mm_err *e);
/* mm_matmul with flags: MM_MM_ROWS_ALONE makes each row's result what it is when T == 1 (only
 * Q4_K's llama.cpp orders depend on T: rows in groups of four take its gemm order). */
enum { MM_MM_ROWS_ALONE = 1 };
mm_code mm_matmul_ex(mm_pool *pool, const mm_tensor *W, int64_t row0, int64_t n_out, const float *X,
                     int64_t T, int64_t ldx, float *Y, int64_t ldy, int flags, mm_err *e);
/* Kernel level: 0 scalar (the reference), 1 AVX2, 2 AVX-512; the best the CPU has
 * unless MMPIPE_CPU says scalar/avx2/avx512.  set_level (tests) returns the old one. */
int mm_cpu_level(void);
int mm_cpu_set_level(int level);
/* The GGUF's tensor i, writable (the model loader sets mm_tensor.packed). */
mm_tensor *mm_gguf_tensor_rw(mm_gguf *g, int64_t i);
/* Lets the kernel drop the mapped pages of [p, p + n) from this process (a mapped file only). */
void mm_gguf_drop_pages(mm_gguf *g, const void *p, size_t n);
/* Takes the whole pages of [p, p + n) out of the mapping for good (a repacked tensor's
 * original bytes, never read again): no later fault can map them back. */
void mm_gguf_release_pages(mm_gguf *g, const void *p, size_t n);
/* Drops the pages of the header and metadata (the parse read them all; what is read
 * again later, e.g. the vocabulary by a tokenizer, faults back in). */
void mm_gguf_drop_metadata_pages(mm_gguf *g);
const char *mm_cpu_level_name(int level);
/* The vec_dot type ggml pairs with a weight type. */
uint32_t mm_vec_dot_type(uint32_t type);

/* ---- Q4_0 / Q8_0 matrices repacked in 16-row groups (matmul_packed.c) ---- */
int mm_packed_supported(const mm_tensor *t);       /* Q4_0 / Q8_0 with n_in % 32 == 0 */
size_t mm_packed_bytes(const mm_tensor *t);
void mm_packed_pack(const mm_tensor *t, uint8_t *out);
void mm_packed_pack_groups(const mm_tensor *t, uint8_t *out, int64_t g0, int64_t g1); /* groups [g0, g1) */
int mm_packed_has_kernel(void);                    /* the CPU has AVX-512 VNNI */
/* Row `row` of t (which has a packed copy) as n_in floats, as dequantising the file's row gives. */
void mm_packed_dequant_row(const mm_tensor *t, int64_t row, float *dst);
typedef struct mm_packed_args {
    const uint8_t *data;   /* the packed matrix */
    int q4;                /* Q4_0 (else Q8_0) */
    int64_t nb;            /* 32-element blocks per row */
    int64_t row0, n_out;   /* the call's rows (row0 % 16 == 0) */
    int64_t T, ldy;
    const int8_t *const *xq;   /* T activation rows quantised to Q8_0 ... */
    const float *const *xd;    /* ... their block scales ... */
    const int16_t *const *xs;  /* ... and integer block sums */
    float *Y;
} mm_packed_args;
/* Y rows of groups [g0, g1) (absolute group numbers) for every activation row. */
void mm_packed_rows(const mm_packed_args *a, int64_t g0, int64_t g1);

/* ---- F32 / F16 / BF16 weights (matmul_float.c) ---- */
typedef struct mm_float_args {
    const uint8_t *W;          /* the matrix as stored: rows of K F32 / F16 / BF16 values */
    size_t row_bytes;
    uint32_t type;             /* MM_TYPE_F32, _F16 or _BF16 */
    int64_t K, row0;           /* row length; the call's first weight row */
    const float *const *x;     /* T activation rows (rounded to the weight type already) */
    int64_t T, ldy;
    float *Y;
} mm_float_args;
/* Y[t][o] for the call's outputs [o0, o1) (relative to row0) and every activation row, in
 * the order matmul_float.c states, the same bits at every CPU level. */
void mm_float_rows(const mm_float_args *a, int64_t o0, int64_t o1);

/* ---- the loaded model (model.c) ---- */
typedef enum mm_arch { MM_ARCH_LLAMA, MM_ARCH_GEMMA3, MM_ARCH_GEMMA4, MM_ARCH_GEMMA_EMBED } mm_arch;

typedef struct mm_layer {
    int is_swa;            /* sliding-window layer */
    int head_dim, n_head, n_head_kv, n_ff, n_rot;
    float rope_base;
    int kv_src;            /* layer whose KV cache this layer reads (itself if it owns one) */
    const mm_tensor *attn_norm, *wq, *wk, *wv, *wo, *q_norm, *k_norm, *post_attn_norm;
    const mm_tensor *ffn_norm, *ffn_gate, *ffn_up, *ffn_down, *post_ffw_norm;
    const mm_tensor *out_scale;                       /* gemma4 layer_output_scale */
    const mm_tensor *ple_gate, *ple_proj, *ple_post;  /* gemma4 per-layer embeddings */
    /* gemma4 MoE */
    const mm_tensor *gate_inp, *gate_inp_scale, *pre_ffw_norm_2, *post_ffw_norm_1, *post_ffw_norm_2;
    const mm_tensor *gate_up_exps, *gate_exps, *up_exps, *down_exps, *down_exps_scale;
} mm_layer;

struct mm_model {
    mm_gguf *g;
    mm_arch arch;
    char arch_name[32];
    int n_embd, n_layer, n_vocab, n_ctx_train;
    int n_swa;
    float eps;
    float attn_scale;      /* multiplies Q (gemma3) or the scores (llama) */
    int scale_q;           /* 1: Q *= attn_scale before attention; 0: scores *= attn_scale */
    int rope_neox;
    float softcap;         /* final logit soft-cap (0 = off) */
    int n_embd_ple;        /* P (gemma4); 0 = no per-layer embeddings */
    int n_expert, n_expert_used, n_ff_exp;
    int v_norm;            /* gemma4: V rms-normalised without weight */
    float embd_scale;      /* token embeddings * this (sqrt(E) for Gemma) */
    int causal;            /* 0: bidirectional (gemma-embedding) */
    int swa_symmetric;     /* window |p1 - p0| <= n_swa/2 (gemma-embedding) instead of p1 - p0 < n_swa */
    int pooling;           /* llama.cpp pooling_type: 0 none, 1 mean, 2 cls, 3 last */
    const mm_tensor *dense_2, *dense_3; /* gemma-embedding projections after pooling (optional) */
    int max_head_dim, max_ff, max_qdim, max_kvdim;
    const mm_tensor *tok_embd, *output, *output_norm, *rope_freqs;
    const mm_tensor *ple_tok, *ple_model_proj, *ple_proj_norm;
    float *rope_freqs_f32; /* dequantised rope_freqs (or NULL) */
    mm_layer *layers;
    uint8_t *packed;       /* the repacked Q4_0 / Q8_0 matrices (one allocation, or NULL) */
};

#endif
