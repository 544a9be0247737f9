/*
 * engine/engine.h — the one public header of mmpipe's inference engine.
 *
 * This first part covers reading models: the GGUF container (gguf.c), the
 * ggml tensor-type table and dequantisation (ggml_types.c) and a summary of a
 * model for `mmpipe model-info` (model_info.c).
 *
 * Conventions: opaque handles with _open/_close pairs; functions that can fail
 * return an mm_code and fill the caller's mm_err (common/mm_common.h); nothing
 * here prints or exits.  All sizes in the file are little-endian.
 *
 * Shapes follow ggml: ne[0] is the contiguous dimension, a tensor of
 * ne = [n_in, n_out] is n_out rows of n_in elements; unused ne[] entries are 1.
 */
#ifndef MM_ENGINE_H
#define MM_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "mm_common.h"

/* ======================================================================
 * ggml tensor types (ids as in ggml.h enum ggml_type; stored in GGUF)
 * ====================================================================== */
typedef enum mm_type {
    MM_TYPE_F32 = 0,
    MM_TYPE_F16 = 1,
    MM_TYPE_Q4_0 = 2,
    MM_TYPE_Q4_1 = 3,
    MM_TYPE_Q5_0 = 6,
    MM_TYPE_Q5_1 = 7,
    MM_TYPE_Q8_0 = 8,
    MM_TYPE_Q8_1 = 9,
    MM_TYPE_Q2_K = 10,
    MM_TYPE_Q3_K = 11,
    MM_TYPE_Q4_K = 12,
    MM_TYPE_Q5_K = 13,
    MM_TYPE_Q6_K = 14,
    MM_TYPE_Q8_K = 15,
    MM_TYPE_IQ2_XXS = 16,
    MM_TYPE_IQ2_XS = 17,
    MM_TYPE_IQ3_XXS = 18,
    MM_TYPE_IQ1_S = 19,
    MM_TYPE_IQ4_NL = 20,
    MM_TYPE_IQ3_S = 21,
    MM_TYPE_IQ2_S = 22,
    MM_TYPE_IQ4_XS = 23,
    MM_TYPE_I8 = 24,
    MM_TYPE_I16 = 25,
    MM_TYPE_I32 = 26,
    MM_TYPE_I64 = 27,
    MM_TYPE_F64 = 28,
    MM_TYPE_IQ1_M = 29,
    MM_TYPE_BF16 = 30,
    MM_TYPE_TQ1_0 = 34,
    MM_TYPE_TQ2_0 = 35,
    MM_TYPE_MXFP4 = 39,
    MM_TYPE_COUNT = 40 /* ids are < MM_TYPE_COUNT; holes are unknown types */
} mm_type;

#define MM_QK_K 256 /* elements per K-quant super-block */

typedef struct mm_type_traits {
    const char *name;     /* "Q4_K"; NULL for an unknown id */
    uint32_t block_size;  /* elements per block (1 for plain types) */
    uint32_t type_size;   /* bytes per block */
    int can_dequantize;   /* 1 if mm_dequantize_row handles it */
} mm_type_traits;

/* Traits of a type id, or NULL if the id is not a known ggml type. */
const mm_type_traits *mm_type_traits_get(uint32_t type);
/* "Q4_K", or "?" for an unknown id. */
const char *mm_type_name(uint32_t type);
/* Bytes of a row of ne0 elements; 0 if the type is unknown, ne0 <= 0, ne0 is
 * not a whole number of blocks, or the size overflows. */
uint64_t mm_type_row_size(uint32_t type, int64_t ne0);

/* IEEE half <-> float as ggml's scalar code does it.  fp16 -> fp32 is exact
 * (a NaN is made quiet, payload kept); fp32 -> fp16 rounds to nearest even,
 * keeps subnormals, overflows to infinity, and turns every NaN into 0x7E00
 * with the sign kept. */
float mm_fp16_to_fp32(uint16_t h);
uint16_t mm_fp32_to_fp16(float f);
/* bfloat16 <-> float as ggml: round to nearest even; a NaN keeps its top bits
 * and is made quiet (| 0x40). */
float mm_bf16_to_fp32(uint16_t b);
uint16_t mm_fp32_to_bf16(float f);

/* Dequantises n elements (a whole number of blocks of `type`) from src (the
 * raw bytes, any alignment) into dst.  Bit-exact with ggml's dequantize_row_*.
 * MM_EUNSUPPORTED for a type without a dequantiser, MM_EINVAL for a bad n. */
mm_code mm_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n, mm_err *e);

/* ======================================================================
 * GGUF reader (v2 / v3), zero-copy over an mmap or a caller's buffer
 * ====================================================================== */

/* Metadata value types (gguf.h enum gguf_type). */
typedef enum mm_gguf_type {
    MM_GGUF_UINT8 = 0,
    MM_GGUF_INT8 = 1,
    MM_GGUF_UINT16 = 2,
    MM_GGUF_INT16 = 3,
    MM_GGUF_UINT32 = 4,
    MM_GGUF_INT32 = 5,
    MM_GGUF_FLOAT32 = 6,
    MM_GGUF_BOOL = 7,
    MM_GGUF_STRING = 8,
    MM_GGUF_ARRAY = 9,
    MM_GGUF_UINT64 = 10,
    MM_GGUF_INT64 = 11,
    MM_GGUF_FLOAT64 = 12,
    MM_GGUF_TYPE_COUNT = 13
} mm_gguf_type;

/* Limits beyond which a file is refused (a real model is far below them). */
#define MM_GGUF_MAX_KV       65536u
#define MM_GGUF_MAX_TENSORS  (1u << 20)
#define MM_GGUF_MAX_KEY_LEN  65535u
#define MM_GGUF_MAX_NAME     64u        /* tensor names are < 64 bytes, as ggml */
#define MM_GGUF_MAX_DIMS     4u
#define MM_GGUF_MAX_ALIGN    (1u << 30)
#define MM_GGUF_DEFAULT_ALIGN 32u

typedef struct mm_gguf mm_gguf;

/* A string inside the file: n bytes at p, not NUL-terminated, any bytes. */
typedef struct mm_str {
    const char *p;
    size_t n;
} mm_str;

/* One tensor.  Owned by the mm_gguf; valid until mm_gguf_close. */
typedef struct mm_tensor {
    const char *name;      /* NUL-terminated copy, < MM_GGUF_MAX_NAME bytes */
    uint32_t type;         /* mm_type */
    uint32_t n_dims;       /* 1..4 */
    int64_t ne[4];         /* each >= 1; entries past n_dims are 1 */
    int64_t n_elements;    /* ne[0]*ne[1]*ne[2]*ne[3] */
    int64_t n_rows;        /* n_elements / ne[0] */
    uint64_t row_bytes;    /* mm_type_row_size(type, ne[0]) */
    uint64_t nbytes;       /* row_bytes * n_rows */
    uint64_t offset;       /* from the start of the data section */
    uint64_t file_offset;  /* from the start of the file */
    const void *data;      /* zero-copy view of nbytes bytes (32-aligned in a mapped file) */
    const void *packed;    /* engine: the matrix kernels' repacked copy (set by mm_model_open), or NULL */
} mm_tensor;

/* Opens and validates path, mapping it read-only.  Every structural problem
 * (see gguf.c) is an error naming the key or tensor: MM_ECORRUPT for a
 * malformed file, MM_EVERSION / MM_EUNSUPPORTED for versions or features not
 * handled, MM_ELIMIT past the limits above, MM_EIO / MM_ENOTFOUND for files. */
mm_code mm_gguf_open(const char *path, mm_gguf **out, mm_err *e);
/* The same over a caller's buffer (borrowed: it must outlive the handle).
 * `label` names it in error messages (NULL: "<memory>"). */
mm_code mm_gguf_open_memory(const void *data, size_t size, const char *label, mm_gguf **out,
                            mm_err *e);
void mm_gguf_close(mm_gguf *g);

uint32_t mm_gguf_version(const mm_gguf *g);
uint64_t mm_gguf_file_size(const mm_gguf *g);
uint32_t mm_gguf_alignment(const mm_gguf *g);
uint64_t mm_gguf_data_offset(const mm_gguf *g); /* start of the tensor data section */
const void *mm_gguf_base(const mm_gguf *g);     /* byte 0 of the file */

/* ---- metadata: keys are addressed by index 0..n_kv-1 in file order ---- */
int64_t mm_gguf_n_kv(const mm_gguf *g);
/* Index of key, or -1. O(1) (hash table). */
int64_t mm_gguf_find_key(const mm_gguf *g, const char *key);
const char *mm_gguf_key(const mm_gguf *g, int64_t i);      /* NUL-terminated copy */
uint32_t mm_gguf_kv_type(const mm_gguf *g, int64_t i);     /* mm_gguf_type */
/* For an array: element type and length; for a scalar: its own type and 1. */
uint32_t mm_gguf_arr_type(const mm_gguf *g, int64_t i);
uint64_t mm_gguf_arr_len(const mm_gguf *g, int64_t i);
/* Raw little-endian elements of a numeric/bool array (or the scalar value),
 * possibly unaligned; NULL for strings. */
const void *mm_gguf_arr_data(const mm_gguf *g, int64_t i);

/* Typed reads of a scalar key.  MM_ENOTFOUND if absent, MM_EINVAL (message
 * naming the key and both types) on a type mismatch or out-of-range value.
 * _int accepts every integer type and returns it if it fits in int64;
 * _float accepts FLOAT32 / FLOAT64; _bool only BOOL; _str only STRING. */
mm_code mm_gguf_get_int(const mm_gguf *g, const char *key, int64_t *out, mm_err *e);
mm_code mm_gguf_get_float(const mm_gguf *g, const char *key, double *out, mm_err *e);
mm_code mm_gguf_get_bool(const mm_gguf *g, const char *key, int *out, mm_err *e);
mm_code mm_gguf_get_str(const mm_gguf *g, const char *key, mm_str *out, mm_err *e);

/* Element j of array (or scalar, j == 0) key i — O(1), string arrays included
 * (offset index built at open).  Same type rules as above, except that
 * _arr_int also reads BOOL elements (0 / 1), as llama.cpp's get_arr does for
 * e.g. sliding_window_pattern.  MM_EINVAL for j out of range. */
mm_code mm_gguf_arr_int(const mm_gguf *g, int64_t i, uint64_t j, int64_t *out, mm_err *e);
mm_code mm_gguf_arr_float(const mm_gguf *g, int64_t i, uint64_t j, double *out, mm_err *e);
mm_code mm_gguf_arr_str(const mm_gguf *g, int64_t i, uint64_t j, mm_str *out, mm_err *e);

/* ---- tensors, in file order ---- */
int64_t mm_gguf_n_tensors(const mm_gguf *g);
const mm_tensor *mm_gguf_tensor(const mm_gguf *g, int64_t i);     /* NULL if out of range */
const mm_tensor *mm_gguf_find_tensor(const mm_gguf *g, const char *name); /* NULL if absent */

/* Dequantises rows [row0, row0+n_rows) of t into dst (n_rows * ne[0] floats). */
mm_code mm_tensor_dequantize_rows(const mm_tensor *t, int64_t row0, int64_t n_rows, float *dst,
                                  mm_err *e);

/* ======================================================================
 * Model summary for `mmpipe model-info` (no printing here)
 * ====================================================================== */
typedef struct mm_type_stat {
    uint32_t type;
    int64_t n_tensors;
    int64_t n_elements;
    uint64_t n_bytes;
} mm_type_stat;

typedef struct mm_model_info {
    char arch[64];          /* general.architecture ("" if absent) */
    char name[256];         /* general.name ("" if absent); both truncated, NUL-free */
    char tokenizer[32];     /* tokenizer.ggml.model ("" if absent) */
    uint32_t gguf_version;
    uint64_t file_size;
    uint32_t alignment;
    int64_t n_kv;
    int64_t n_tensors;
    int64_t file_type;      /* general.file_type (llama_ftype), -1 if absent */

    /* From `<arch>.*` keys; -1 when absent.  Per-layer arrays give their max. */
    int64_t n_ctx_train;    /* context_length */
    int64_t n_embd;         /* embedding_length */
    int64_t n_layer;        /* block_count */
    int64_t n_ff;           /* feed_forward_length */
    int64_t n_head;         /* attention.head_count */
    int64_t n_head_kv;      /* attention.head_count_kv (default n_head) */
    int64_t head_dim;       /* attention.key_length (default n_embd / n_head) */
    int64_t head_dim_swa;   /* attention.key_length_swa */
    int64_t sliding_window; /* attention.sliding_window */
    int64_t n_expert;       /* expert_count */
    int64_t n_expert_used;  /* expert_used_count */
    int64_t n_vocab;        /* vocab_size, else tokenizer.ggml.tokens length, else token_embd ne[1] */

    int64_t n_params;       /* sum of tensor elements */
    uint64_t tensor_bytes;  /* sum of tensor data bytes (what is mapped) */
    uint32_t weight_type;   /* type holding most bytes among tensors with >= 2 dims */
    int n_types;            /* entries used in types[], by type id */
    mm_type_stat types[MM_TYPE_COUNT];

    /* Memory estimate for a context of n_ctx tokens (argument of
     * mm_model_info_get): mapped weights + F16 KV cache (+ scratch guess). */
    int64_t n_ctx;
    uint64_t kv_cache_bytes; /* K+V in F16; sliding layers keep the window, shared-KV layers nothing */
    uint64_t scratch_bytes;  /* rough: activations + logits for a 512-token batch */
    uint64_t mem_bytes;      /* tensor_bytes + kv_cache_bytes + scratch_bytes */
} mm_model_info;

/* Fills *out from an open file; n_ctx <= 0 uses min(n_ctx_train, 4096).
 * Missing `<arch>.*` keys are not errors (fields stay -1); a key of the wrong
 * type is (MM_EINVAL naming the key). */
mm_code mm_model_info_get(const mm_gguf *g, int64_t n_ctx, mm_model_info *out, mm_err *e);

/* "<file size>:<sha256 of everything before the tensor data>": the model part of a
 * job's idempotency key — cheap on gigabyte files, different for any other file. */
void mm_model_identity(const mm_gguf *g, char out[96]);

/* ======================================================================
 * Tokenizer — mmpipe's tokenizers, read from a GGUF's tokenizer.ggml.* keys and matching
 * llama.cpp (de3ff81) id for id:
 *   - tokenizer.ggml.model = "llama":  SentencePiece-style (Llama, Gemma 3): score-driven merges over
 *     the vocabulary, byte fallback <0xXX>, ' ' -> U+2581, add_space_prefix as llama.cpp;
 *   - tokenizer.ggml.model = "gemma4": Gemma 4 BPE: ranked merges over UTF-8 code points, newline
 *     pre-tokeniser, byte fallback <0xXX>.
 * Any other model is refused (MM_EUNSUPPORTED).  Special-token text (CONTROL / USER_DEFINED /
 * UNKNOWN tokens) is split out exactly as llama.cpp's tokenizer_st_partition does.
 *
 * The tokenizer copies what it needs: the mm_gguf may be closed after mm_tokenizer_open.
 * Functions that can fail return an mm_code and fill the caller's mm_err; nothing prints or exits.
 * A handle is immutable after open, so it may be used from several threads at once.
 */

typedef struct mm_tokenizer mm_tokenizer;

typedef enum mm_tok_kind {
    MM_TOK_SPM = 1,        /* tokenizer.ggml.model = "llama" */
    MM_TOK_BPE_GEMMA4 = 2  /* tokenizer.ggml.model = "gemma4" */
} mm_tok_kind;

/* GGUF tokenizer.ggml.token_type values (llama.cpp enum llama_token_type). */
enum {
    MM_TOKEN_TYPE_UNDEFINED = 0,
    MM_TOKEN_TYPE_NORMAL = 1,
    MM_TOKEN_TYPE_UNKNOWN = 2,
    MM_TOKEN_TYPE_CONTROL = 3,
    MM_TOKEN_TYPE_USER_DEFINED = 4,
    MM_TOKEN_TYPE_UNUSED = 5,
    MM_TOKEN_TYPE_BYTE = 6
};

/* Token attributes after loading (bit values as llama.cpp enum llama_token_attr).  Derived from the
 * token type, then adjusted as llama.cpp does at load time (end-of-generation tokens gain CONTROL,
 * CONTROL tokens whose text contains "unused" gain UNUSED, ...). */
enum {
    MM_TOKEN_ATTR_UNDEFINED = 0,
    MM_TOKEN_ATTR_UNKNOWN = 1 << 0,
    MM_TOKEN_ATTR_UNUSED = 1 << 1,
    MM_TOKEN_ATTR_NORMAL = 1 << 2,
    MM_TOKEN_ATTR_CONTROL = 1 << 3,
    MM_TOKEN_ATTR_USER_DEFINED = 1 << 4,
    MM_TOKEN_ATTR_BYTE = 1 << 5,
    MM_TOKEN_ATTR_NORMALIZED = 1 << 6,
    MM_TOKEN_ATTR_LSTRIP = 1 << 7,
    MM_TOKEN_ATTR_RSTRIP = 1 << 8,
    MM_TOKEN_ATTR_SINGLE_WORD = 1 << 9
};

#define MM_TOKEN_NULL (-1)

/* Builds the tokenizer from an open GGUF.  MM_EUNSUPPORTED for another tokenizer model,
 * MM_ENOTFOUND for missing required keys (tokenizer.ggml.model / tokens, merges for gemma4),
 * MM_ECORRUPT for arrays of the wrong type or too short, duplicate token texts, malformed byte
 * tokens; MM_EINVAL for a flag key of the wrong type; MM_ENOMEM. */
mm_code mm_tokenizer_open(const mm_gguf *g, mm_tokenizer **out, mm_err *e);
void mm_tokenizer_close(mm_tokenizer *t);

/* llama_tokenize(vocab, text, add_special, parse_special): text is any len bytes (NUL and invalid
 * UTF-8 allowed).  add_special adds BOS (when the vocab asks for it: tokenizer.ggml.add_bos_token,
 * default true for SPM, always true for gemma4) and EOS (tokenizer.ggml.add_eos_token);
 * parse_special splits CONTROL/UNKNOWN token text out as single ids (USER_DEFINED tokens are
 * always split out).  *ids is malloc'd (free() it; NULL with *n == 0 when empty). */
mm_code mm_tokenize(const mm_tokenizer *t, const char *text, size_t len, int add_special,
                    int parse_special, int32_t **ids, size_t *n, mm_err *e);

/* ---- vocabulary ---- */
mm_tok_kind mm_tokenizer_kind(const mm_tokenizer *t);
int32_t mm_tokenizer_n_vocab(const mm_tokenizer *t);
int32_t mm_tokenizer_n_merges(const mm_tokenizer *t);       /* 0 for SPM */
/* Special ids, MM_TOKEN_NULL where the vocab has none. */
int32_t mm_token_bos(const mm_tokenizer *t);
int32_t mm_token_eos(const mm_tokenizer *t);
int32_t mm_token_eot(const mm_tokenizer *t);
int32_t mm_token_unk(const mm_tokenizer *t);
int32_t mm_token_pad(const mm_tokenizer *t);
int32_t mm_token_nl(const mm_tokenizer *t);                 /* llama.cpp's linefeed_id */
int mm_tokenizer_add_bos(const mm_tokenizer *t);
int mm_tokenizer_add_eos(const mm_tokenizer *t);
int mm_tokenizer_add_space_prefix(const mm_tokenizer *t);
/* End-of-generation set (llama_vocab_is_eog): ids sorted ascending. */
int mm_token_is_eog(const mm_tokenizer *t, int32_t id);
size_t mm_tokenizer_eog_ids(const mm_tokenizer *t, const int32_t **ids);
/* tokenizer.ggml.suppress_tokens (in-range ids, file order); 0 if absent. */
size_t mm_tokenizer_suppress_ids(const mm_tokenizer *t, const int32_t **ids);

/* Raw vocabulary text (▁ kept; an empty entry reads "[EMPTY_<id>]" as in llama.cpp); {NULL,0}
 * for an id out of range. */
mm_str mm_token_text(const mm_tokenizer *t, int32_t id);
float mm_token_score(const mm_tokenizer *t, int32_t id);    /* 0 out of range */
int32_t mm_token_type(const mm_tokenizer *t, int32_t id);   /* GGUF type; -1 out of range */
uint32_t mm_token_attr(const mm_tokenizer *t, int32_t id);  /* MM_TOKEN_ATTR_*; 0 out of range */
/* Exact text -> id, or MM_TOKEN_NULL. */
int32_t mm_token_lookup(const mm_tokenizer *t, const char *text, size_t len);

/* ---- detokenisation ---- */
/* The piece llama_token_to_piece(id, lstrip = 0, special) gives, as a view valid until close:
 * CONTROL/UNKNOWN tokens are empty unless special; USER_DEFINED raw text; NORMAL text with ▁ -> ' ';
 * BYTE tokens their byte; UNUSED / UNDEFINED tokens empty.  {"", 0} for an id out of range. */
mm_str mm_token_piece(const mm_tokenizer *t, int32_t id, int special);
/* llama_token_to_piece: copies the piece into buf (no NUL), first dropping up to lstrip leading
 * spaces.  Returns the length, or minus the needed length if cap is too small; INT32_MIN for an id
 * out of range (llama.cpp throws there). */
int32_t mm_token_to_piece(const mm_tokenizer *t, int32_t id, char *buf, size_t cap, int lstrip,
                          int special);
/* llama_detokenize(ids, remove_special, unparse_special): pieces concatenated; remove_special drops
 * a leading BOS / trailing EOS the vocab adds; the first piece loses one leading space when the vocab
 * has add_space_prefix (unless a BOS was removed); gemma4 (clean_spaces) then removes " " before
 * ?!., and in " 's", " 'm", " 're", " 've", and " ' " -> "'".  *out is malloc'd, NUL-terminated.
 * MM_EINVAL for an id out of range. */
mm_code mm_detokenize(const mm_tokenizer *t, const int32_t *ids, size_t n, int remove_special,
                      int unparse_special, char **out, size_t *out_len, mm_err *e);

/* ======================================================================
 * Text decoder — the text decoder's public API: load a model, make a
 * context (KV cache + scratch), and run batches of rows through it.
 *
 * Calling shape (DESIGN.md): one call takes a batch of rows; a row is a token id
 * or an embedding vector, with its sequence, its position, and whether its
 * logits are wanted.  Prefill is many rows of one sequence, decode is one row of
 * each of many; weights are read once per call for all rows.  Everything a
 * call needs is allocated when the context is made.
 */

typedef struct mm_model mm_model;
typedef struct mm_ctx mm_ctx;

typedef struct mm_model_params {
    int n_threads;        /* default 1 */
} mm_model_params;

/* Opens path (GGUF), checks the architecture (llama, gemma3, gemma4,
 * gemma-embedding; anything else is refused) and every tensor the forward pass
 * needs, with shapes.  The weights stay in the mapping (zero copy). */
mm_code mm_model_open(const char *path, mm_model **out, mm_err *e);
void mm_model_close(mm_model *m);
const mm_gguf *mm_model_gguf(const mm_model *m);
int mm_model_n_vocab(const mm_model *m);
int mm_model_n_embd(const mm_model *m);
const char *mm_model_arch(const mm_model *m);

typedef struct mm_ctx_params {
    int n_ctx;            /* cells per sequence (positions 0..n_ctx-1) */
    int n_batch;          /* most rows per mm_decode call */
    int n_seq;            /* sequences (ids 0..n_seq-1) */
    int n_threads;
    int kv_f16;           /* 1: K/V cache in F16 (half the memory; llama.cpp's default), 0: F32 (precise) */
} mm_ctx_params;

mm_code mm_ctx_open(const mm_model *m, const mm_ctx_params *p, mm_ctx **out, mm_err *e);
void mm_ctx_close(mm_ctx *c);
/* Forgets every cell of sequence seq (or of all sequences when seq < 0). */
void mm_ctx_clear(mm_ctx *c, int seq);
/* Makes sequence dst hold what sequence src holds at positions 0..n_pos-1 (dst cleared first),
 * in the same places, so decoding dst from n_pos gives what decoding that prefix again would:
 * a shared prompt prefix is computed once (llama_memory_seq_cp). */
mm_code mm_ctx_seq_copy(mm_ctx *c, int src, int dst, int n_pos, mm_err *e);
/* The longest prefix mm_ctx_seq_copy takes (it refuses more, MM_ELIMIT, and a source whose
 * sliding-window cells were already dropped): n_swa - 1 with a sliding window, else n_ctx. */
int mm_ctx_prefix_limit(const mm_ctx *c);

/* How the rows of one media span (an image's soft tokens) attend to each other (spec §3.2,
 * llama.cpp's mtmd_decode_use_non_causal + the text model's non_causal_type). */
typedef enum mm_media_attn {
    MM_MEDIA_CAUSAL = 0,     /* like text (E2B/E4B images, audio) */
    MM_MEDIA_BIDIR_ALL = 1,  /* rows of a span see each other in every layer (Gemma 3) */
    MM_MEDIA_BIDIR_SWA = 2   /* ... in the sliding-window layers only (other Gemma 4 sizes) */
} mm_media_attn;

typedef struct mm_batch {
    int n;                    /* rows */
    const int32_t *token;     /* [n] token ids, or NULL when embd is given */
    const float *embd;        /* [n][n_embd] input embeddings (soft tokens), used unscaled */
    const int32_t *pos;       /* [n] position of each row in its sequence */
    const int32_t *seq;       /* [n] sequence id of each row */
    const int8_t *logits;     /* [n] 1: compute this row's logits */
} mm_batch;

/* Media spans of a batch (mm_decode_media): media[t] >= 0 names the span row t belongs to
 * (-1: text).  Cells remember their span, so rows of one sequence with the same span id ignore
 * causality between them (never the sliding window) in the layers attn says. */
typedef struct mm_batch_media {
    const int32_t *media;     /* [n] */
    mm_media_attn attn;
} mm_batch_media;

/* Runs the rows through the decoder, appending their K/V to the cache.
 * Rows of a sequence must come in increasing position order. */
mm_code mm_decode(mm_ctx *c, const mm_batch *b, mm_err *e);
/* mm_decode with media spans (NULL md: exactly mm_decode). */
mm_code mm_decode_media(mm_ctx *c, const mm_batch *b, const mm_batch_media *md, mm_err *e);
/* Logits of the i-th row that asked for them in the last mm_decode (n_vocab floats). */
const float *mm_ctx_logits(const mm_ctx *c, int i);

/* Debug / fixture hook: called with intermediate tensors of the last call,
 * rows in batch order: "inp_scaled" (layer -1), "l_out" (layer il), "result_norm". */
typedef void (*mm_hidden_fn)(void *ud, const char *name, int layer, const float *data, int rows,
                             int width);
void mm_ctx_set_hidden_hook(mm_ctx *c, mm_hidden_fn fn, void *ud);

/* Sentence embedding of n tokens with an embedding model (gemma-embedding):
 * bidirectional pass, pooling as the file says (mean for EmbeddingGemma), then the
 * dense projections; not L2-normalised.  out gets mm_model_embd_dim(m) floats.
 * Uses (and clears) sequence 0 of c; n <= n_batch. */
int mm_model_embd_dim(const mm_model *m);
mm_code mm_embed(mm_ctx *c, const int32_t *tokens, int n, float *out, mm_err *e);
/* n_seqs texts in one pass over the weights (sequences 0..n_seqs-1 of c, cleared after; the
 * token counts together <= n_batch): out gets n_seqs rows of mm_model_embd_dim(m) floats, each
 * the bits mm_embed gives for that text alone. */
mm_code mm_embed_batch(mm_ctx *c, const int32_t *const *tokens, const int *n, int n_seqs, float *out, mm_err *e);

/* ======================================================================
 * Sampling (sample.c) and chat formats (chat.c)
 * ====================================================================== */
typedef struct mm_sampler_params {
    float temp;            /* <= 0: greedy */
    int top_k;             /* 0: off */
    float top_p;           /* 1: off */
    float min_p;           /* 0: off */
    float repeat_penalty;  /* 1: off */
    int repeat_last_n;
    uint64_t seed;
} mm_sampler_params;

typedef struct mm_sampler mm_sampler;
void mm_sampler_params_default(mm_sampler_params *p);
mm_sampler *mm_sampler_open(const mm_sampler_params *p, int n_vocab);
void mm_sampler_close(mm_sampler *s);
/* Next token for one sequence (history = its tokens so far).  One sampler per
 * sequence, used by one thread at a time. */
int32_t mm_sample(mm_sampler *s, const float *logits, const int32_t *history, int n_hist);

typedef struct mm_chat_msg { const char *role, *content; } mm_chat_msg; /* system, user, assistant */
/* The model's chat format for msgs (malloc'd in *out), thinking off unless asked. */
mm_code mm_chat_format(const mm_model *m, const mm_chat_msg *msgs, int n, int add_generation_prompt,
                       int thinking, char **out, mm_err *e);

/* ======================================================================
 * Multimodal projectors (mmproj.c, vision.c) — llama.cpp's "clip" GGUF files
 * (general.architecture = "clip"): a vision tower and/or an audio tower that turn
 * media into soft tokens of the text model's width (spec §4, §5, §7.2).
 *
 * Projector types: gemma4v (Gemma 4 vision), gemma3 (SigLIP + Gemma 3 projector),
 * gemma4a (Gemma 4 audio conformer, audio_tower.c).  One file may hold
 * a vision and an audio tower (clip.has_vision_encoder / clip.has_audio_encoder with
 * clip.vision.projector_type / clip.audio.projector_type), the legacy key
 * clip.projector_type names the type of a single-tower file.  Every key and tensor
 * the tower reads is checked at open (errors name it); nothing crashes on a hostile file.
 * The towers take the preprocessed float picture or the log-mel features (decoders/ makes
 * them); engine/ does not decode images or audio.
 * ====================================================================== */

typedef enum mm_proj_type {
    MM_PROJ_NONE = 0,
    MM_PROJ_GEMMA3,       /* "gemma3" */
    MM_PROJ_GEMMA4V,      /* "gemma4v" */
    MM_PROJ_GEMMA4A       /* "gemma4a" (audio) */
} mm_proj_type;

const char *mm_proj_type_name(mm_proj_type t); /* "gemma4v", ... "none" */

typedef struct mm_mmproj mm_mmproj;

/* What a caller needs to preprocess an image for the vision tower. */
typedef struct mm_vision_hparams {
    mm_proj_type type;     /* MM_PROJ_NONE when the file has no vision tower */
    int image_size;        /* clip.vision.image_size (gemma3: the fixed square side) */
    int patch_size;        /* clip.vision.patch_size */
    int n_merge;           /* pooling kernel: clip.vision.projector.scale_factor, else 3 (gemma4v) / 4 (gemma3) */
    int n_embd;            /* tower width */
    int n_head, n_layer, n_ff;
    int n_pos;             /* gemma4v: entries per position table; gemma3: learned positions */
    int proj_dim;          /* clip.vision.projection_dim = the text model's n_embd */
    float eps;
    float mean[3], std[3]; /* clip.vision.image_mean / image_std */
} mm_vision_hparams;

/* What a caller needs to feed the audio tower (spec §5.1). */
typedef struct mm_audio_hparams {
    mm_proj_type type;     /* MM_PROJ_GEMMA4A, or MM_PROJ_NONE when the file has no audio tower */
    int n_mel;             /* clip.audio.num_mel_bins: rows of the log-mel input */
    int n_embd;            /* conformer width (clip.audio.embedding_length) */
    int n_head, d_head, n_layer, n_ff;
    int proj_dim;          /* clip.audio.projection_dim = width of the soft tokens = text n_embd */
    float eps;             /* 1e-6: llama.cpp ignores the file's clip.audio.attention.layer_norm_epsilon */
} mm_audio_hparams;

mm_code mm_mmproj_open(const char *path, mm_mmproj **out, mm_err *e);
/* The same over a caller's buffer (borrowed: it must outlive the handle). */
mm_code mm_mmproj_open_memory(const void *data, size_t size, const char *label, mm_mmproj **out, mm_err *e);
void mm_mmproj_close(mm_mmproj *p);
const mm_vision_hparams *mm_mmproj_vision(const mm_mmproj *p);
mm_proj_type mm_mmproj_audio_type(const mm_mmproj *p); /* MM_PROJ_NONE without an audio tower */
const mm_audio_hparams *mm_mmproj_audio(const mm_mmproj *p);
const mm_gguf *mm_mmproj_gguf(const mm_mmproj *p);

/* Soft tokens for a w x h picture (a multiple of patch*merge, or image_size for gemma3). */
int mm_vision_n_tokens(const mm_mmproj *p, int w, int h);
/* Runs the vision tower on img (planar [3][h][w] floats, as decoders' mm_vision_input holds
 * them: (u8/255 - mean)/std) and writes mm_vision_n_tokens() rows of proj_dim floats to out.
 * MM_EINVAL for a size the tower cannot take (not a whole number of pooled patches, a
 * patch grid larger than the position table, gemma3 not image_size square). */
mm_code mm_vision_encode(const mm_mmproj *p, const float *img, int w, int h, int n_threads, float *out,
                         mm_err *e);

/* Soft tokens for n_frames log-mel frames (two stride-2 convs: n -> (n-1)/2+1, twice; 0 for
 * n_frames <= 0 or no audio tower).  25 per second of 16 kHz audio; 750 for a 30 s piece. */
int mm_audio_n_tokens(const mm_mmproj *p, int n_frames);
/* Runs the gemma4a tower on one piece's log-mel features mel [n_mel][n_frames] (row-major, as
 * decoders' mm_mel_compute writes them = llama.cpp's inp_raw) and writes mm_audio_n_tokens()
 * rows of proj_dim floats to out.  Each 30 s piece is encoded on its own.  MM_EUNSUPPORTED
 * without an audio tower, MM_EINVAL for n_frames < 1, MM_ELIMIT past 16 minutes of frames. */
mm_code mm_audio_encode(const mm_mmproj *p, const float *mel, int n_frames, int n_threads, float *out, mm_err *e);

/* How the text model m decodes the soft tokens of projector type t (spec §3.2): Gemma 3
 * bidirectional in every layer; gemma4v causal when m's n_embd is 1536 or 2560 (E2B/E4B),
 * otherwise bidirectional in the sliding layers only; audio causal. */
mm_media_attn mm_model_media_attn(const mm_model *m, mm_proj_type t);

#endif
