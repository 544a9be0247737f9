/*
 * pipeline/multimodal.h — a multimodal prompt as llama.cpp's mtmd builds and evaluates it
 * (spec §3.2): the text split at media markers and tokenised piece by piece, each image
 * turned into soft tokens by the mmproj's vision tower and framed by the projector's
 * begin/end tokens, each recording cut into 30 s pieces (one media chunk each, all between one
 * "<|audio>" ... "<audio|>" pair), then everything decoded chunk by chunk into one sequence.
 * Audio pieces are decoded, turned into log-mel features and encoded by the audio tower only when
 * mmp_prompt_decode reaches them, one at a time: memory does not grow with the recording.
 * Used by `mmpipe eval` (image and audio cases) and `mmpipe generate --image/--audio`.
 */
#ifndef MM_MULTIMODAL_H
#define MM_MULTIMODAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "decoders.h"
#include "engine.h"

#define MMP_MEDIA_MARKER "<__media__>"

/* One prompt item: a token (media < 0) or a media chunk (media = index, n_tokens soft tokens). */
typedef struct mmp_item {
    int32_t token;
    int media;
    int n_tokens;
} mmp_item;

/* One media file of a prompt, in marker order. */
typedef struct mmp_input {
    const char *path;  /* borrowed: must outlive the prompt (audio is read again while decoding) */
    int audio;         /* 1: a recording (any format decoders/ reads), 0: an image */
    const mm_image_opts *image_opts; /* image: how to decode it; NULL = llama.cpp-exact (no EXIF, alpha dropped) */
    const float *pcm;  /* audio: 16 kHz mono samples in memory instead of reading path (path names it in
                          messages); borrowed, must outlive the prompt */
    size_t n_pcm;
    int min_tokens, max_tokens; /* image: the soft-token budget (0: the default, 70..1120) */
} mmp_input;

/* One media chunk: an image, or one 30 s piece of a recording. */
typedef struct mmp_media {
    float *embd;      /* [n_tokens][n_embd] soft tokens; audio: NULL (made while decoding) */
    int n_tokens, n_embd;
    int audio;        /* 1: a piece of a recording */
    int input;        /* index of the mmp_input it comes from */
    int piece, last;  /* audio: piece number in its recording; 1 on its last piece */
    size_t n_samples; /* audio: 16 kHz samples of this piece */
    int n_frames;     /* audio: log-mel frames */
    uint64_t dropped; /* audio, last piece: samples dropped at the end (a 1-sample last piece) */
} mmp_media;

struct mmp_prompt;
/* Called by mmp_prompt_decode for each audio piece once encoded, before its rows are decoded:
 * mel [n_mel][n_frames] (the log-mel features), md->embd the soft tokens (both freed after). */
typedef mm_code (*mmp_audio_hook)(void *ud, int media, const mmp_media *md, const float *mel, int n_mel,
                                  mm_err *e);

typedef struct mmp_prompt {
    mmp_item *items;
    size_t n;          /* items */
    size_t n_pos;      /* positions the prompt takes (tokens + soft tokens) */
    mmp_media *media;
    int n_media;
    const mmp_input *inputs;
    int n_inputs, n_threads;
    mmp_audio_hook hook; /* optional, set by the caller after mmp_prompt_build */
    void *hook_ud;
} mmp_prompt;

/* The decoders' preprocessing parameters for the mmproj's vision tower (projector type, patch
 * size, merge, mean/std); -1 when the file has no vision tower. */
int mmp_vision_params(const mm_mmproj *proj, mm_vision_params *vp);

/* Builds the item list for prompt, which must hold exactly n_inputs markers (one per input, in
 * order): each image is encoded now (decoded exactly as llama.cpp: no EXIF, alpha dropped);
 * each recording is read once to count its 30 s pieces and their soft tokens (a last piece of
 * one sample is dropped: see mmp_media.dropped).  add_bos: BOS first when the vocabulary asks
 * for one; special: parse special-token text in the text pieces. */
mm_code mmp_prompt_build(const mm_tokenizer *tok, const mm_mmproj *proj, const char *prompt, int add_bos,
                         int special, const mmp_input *inputs, int n_inputs, int n_threads, mmp_prompt *out,
                         mm_err *e);
/* Prints a note to f for every recording whose last sample was dropped. */
void mmp_prompt_notes(const mmp_prompt *p, FILE *f);
void mmp_prompt_free(mmp_prompt *p);

/* Decodes the prompt into sequence 0 of c from position 0, text runs and media chunks as separate
 * batches (media with the attention rule of mm_model_media_attn: images by the vision projector,
 * audio always causal); audio pieces are read and encoded here, one at a time; last_logits (n_vocab floats,
 * may be NULL) gets the logits at the last position.  c needs n_batch >= the longest run. */
mm_code mmp_prompt_decode(mm_ctx *c, const mm_model *m, const mm_mmproj *proj, const mmp_prompt *p,
                          float *last_logits, mm_err *e);
/* mmp_prompt_decode into sequence seq, the first skip items (leading tokens, < the prompt's
 * length) already in the cache at positions 0..skip-1 (a shared prefix, mm_ctx_seq_copy). */
mm_code mmp_prompt_decode_at(mm_ctx *c, const mm_model *m, const mm_mmproj *proj, const mmp_prompt *p, int seq,
                             int skip, float *last_logits, mm_err *e);
/* Encodes now, in the caller's thread, the audio pieces of inputs given as PCM in memory (so
 * decoding the prompt later runs only the decoder); their soft tokens are freed with the prompt. */
mm_code mmp_prompt_encode_audio(mmp_prompt *p, const mm_mmproj *proj, mm_err *e);
/* Items before the first media chunk (all tokens): the part another prompt may share. */
int mmp_prompt_lead(const mmp_prompt *p);
/* The longest run of consecutive tokens or soft tokens (the n_batch mmp_prompt_decode needs). */
int mmp_prompt_max_run(const mmp_prompt *p);

#endif
