/*
 * pipeline/batch_gen.h — continuous batching of the generation requests of one process.
 *
 * The runner threads of a worker (one job each) hand their prompts to one scheduler thread
 * that owns a context of --parallel sequences.  A request's prompt is built (tokenised, its
 * image encoded by the vision tower, its audio by the audio tower) in the runner's thread, so
 * preprocessing the next files overlaps with inference; the scheduler prefills it into a free
 * sequence, then every decode step carries one row of each live sequence — one pass over the
 * weights for all of them — and a finished sequence's slot is given to the next request at
 * once.  The prompt's leading text (the chat template's turn opening, an instruction before the
 * media) is computed once and copied into the next sequence that starts with the same tokens.
 *
 * The result of a request does not depend on what it was batched with: the engine keeps each
 * sequence's cells where a lone run puts them and computes each row of a multi-sequence batch
 * as it would alone, and a shared prefix is cut to whole groups of four rows (test_batch_seq
 * in tests/model; tests/cli/batching.sh checks the captions with --parallel 1 and 4).
 */
#ifndef MM_BATCH_GEN_H
#define MM_BATCH_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "model_cache.h"
#include "multimodal.h"

/* Greedy generation of one user turn (media at their markers) as media_generate does it, through
 * the scheduler.  Blocks until the answer is complete; *out is malloc'd raw text. */
mm_code bgen_generate(const model_set *ms, const char *user, const mmp_input *ins, int n_ins, int n_predict,
                      char **out, size_t *out_len, mm_err *e);
/* Stops the scheduler once its requests are done and frees its context (the next request starts it
 * again).  Called when a worker run ends, before the model is unloaded. */
void bgen_shutdown(void);

typedef struct bgen_stats {
    int64_t requests, prefill_tokens, prefix_tokens, decode_steps, decode_rows;
    int max_live;            /* most sequences decoded in one step */
} bgen_stats;
/* Counters since the process started. */
void bgen_stats_get(bgen_stats *out);

#endif
