/*
 * pipeline/multimodal.h — a multimodal prompt as llama.cpp's mtmd builds and evaluates it
 * (spec §3.2): the text split at media markers and tokenised piece by piece, each image
 * turned into soft tokens by the mmproj's vision tower and framed by the projector's
 * begin/end tokens, then everything decoded chunk by chunk into one sequence.
 * Used by `mmpipe eval` (image cases) and `mmpipe generate --image`.
 */
#ifndef MM_MULTIMODAL_H
#define MM_MULTIMODAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#define MMP_MEDIA_MARKER "<__media__>"

/* One prompt item: a token (media < 0) or a media chunk (media = index, n_tokens soft tokens). */
typedef struct mmp_item {
    int32_t token;
    int media;
    int n_tokens;
} mmp_item;

typedef struct mmp_media {
    float *embd;      /* [n_tokens][n_embd] soft tokens */
    int n_tokens, n_embd;
} mmp_media;

typedef struct mmp_prompt {
    mmp_item *items;
    size_t n;          /* items */
    size_t n_pos;      /* positions the prompt takes (tokens + soft tokens) */
    mmp_media *media;
    int n_media;
} mmp_prompt;

/* Encodes each image (decoded exactly as llama.cpp: no EXIF, alpha dropped) and builds the item
 * list for prompt, which must hold exactly n_images markers.  add_bos: BOS first when the
 * vocabulary asks for one; special: parse special-token text in the text pieces. */
mm_code mmp_prompt_build(const mm_tokenizer *tok, const mm_mmproj *proj, const char *prompt, int add_bos,
                         int special, const char *const *images, int n_images, int n_threads, mmp_prompt *out,
                         mm_err *e);
void mmp_prompt_free(mmp_prompt *p);

/* Decodes the prompt into sequence 0 of c from position 0, text runs and media chunks as separate
 * batches (media with the attention rule of mm_model_media_attn); last_logits (n_vocab floats,
 * may be NULL) gets the logits at the last position.  c needs n_batch >= the longest run. */
mm_code mmp_prompt_decode(mm_ctx *c, const mm_model *m, const mm_mmproj *proj, const mmp_prompt *p,
                          float *last_logits, mm_err *e);
/* The longest run of consecutive tokens or soft tokens (the n_batch mmp_prompt_decode needs). */
int mmp_prompt_max_run(const mmp_prompt *p);

#endif
