/*
 * engine/decoder.h — the text decoder's public API: load a model, make a
 * context (KV cache + scratch), and run batches of rows through it.
 * (To be folded into engine/engine.h.)
 *
 * Calling shape (DESIGN.md): one call takes a batch of rows; a row is a token id
 * or an embedding vector, with its sequence, its position, and whether its
 * logits are wanted.  Prefill is many rows of one sequence, decode is one row of
 * each of many; weights are read once per call for all rows.  Everything a
 * call needs is allocated when the context is made.
 */
#ifndef MM_DECODER_H
#define MM_DECODER_H

#include "engine.h"

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
} mm_ctx_params;

mm_code mm_ctx_open(const mm_model *m, const mm_ctx_params *p, mm_ctx **out, mm_err *e);
void mm_ctx_close(mm_ctx *c);
/* Forgets every cell of sequence seq (or of all sequences when seq < 0). */
void mm_ctx_clear(mm_ctx *c, int seq);

typedef struct mm_batch {
    int n;                    /* rows */
    const int32_t *token;     /* [n] token ids, or NULL when embd is given */
    const float *embd;        /* [n][n_embd] input embeddings (soft tokens), used unscaled */
    const int32_t *pos;       /* [n] position of each row in its sequence */
    const int32_t *seq;       /* [n] sequence id of each row */
    const int8_t *logits;     /* [n] 1: compute this row's logits */
} mm_batch;

/* Runs the rows through the decoder, appending their K/V to the cache.
 * Rows of a sequence must come in increasing position order. */
mm_code mm_decode(mm_ctx *c, const mm_batch *b, mm_err *e);
/* Logits of the i-th row that asked for them in the last mm_decode (n_vocab floats). */
const float *mm_ctx_logits(const mm_ctx *c, int i);

/* Debug / fixture hook: called with intermediate tensors of the last call,
 * rows in batch order: "inp_scaled" (layer -1), "l_out" (layer il), "result_norm". */
typedef void (*mm_hidden_fn)(void *ud, const char *name, int layer, const float *data, int rows,
                             int width);
void mm_ctx_set_hidden_hook(mm_ctx *c, mm_hidden_fn fn, void *ud);

#endif
