/*
 * pipeline/multimodal.c — multimodal prompts the way llama.cpp's mtmd builds them (spec §3.2,
 * tools/mtmd/mtmd.cpp at de3ff81): the prompt text is split at each "<__media__>" marker, every
 * text piece tokenised on its own (no BOS/EOS, special-token parsing as asked), BOS once in front
 * when asked and the vocabulary wants it, and each marker replaced by
 *   begin text (tokenised with special parsing) + the image's soft tokens + end text,
 * with begin/end "<|image>" / "<image|>" for gemma4v and "<start_of_image>" / "<end_of_image>" for
 * gemma3.  A recording (gemma4a) becomes "<|audio>" + one media chunk per 30 s piece, back to back
 * + "<audio|>" (35 s -> <|audio> [750] [125] <audio|>).  Decoding feeds the token runs and each
 * media chunk as separate batches, the soft tokens as unscaled embeddings with the projector's
 * attention rule (mm_model_media_attn: audio is causal).
 * Images are decoded and preprocessed by decoders/ (llama.cpp-exact options) and encoded by the
 * engine's vision tower; recordings are decoded to 16 kHz mono and turned into log-mel features
 * by decoders/ and encoded by the engine's audio tower: the pipeline is the only place that sees
 * both.  A recording is read twice: once in mmp_prompt_build to count its pieces (the context
 * size must be known first), then piece by piece while decoding (one piece in memory at a time).
 */
#include "multimodal.h"

#include <stdlib.h>
#include <string.h>

#include "decoders.h"

void mmp_prompt_free(mmp_prompt *p) {
    if (!p) return;
    for (int i = 0; i < p->n_media; i++) free(p->media[i].embd);
    free(p->media);
    free(p->items);
    memset(p, 0, sizeof *p);
}

static mm_code push(mmp_prompt *p, size_t *cap, int32_t token, int media, int n_tokens, mm_err *e) {
    if (p->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        mmp_item *ni = realloc(p->items, nc * sizeof *ni);
        if (!ni) return mm_err_set(e, MM_ENOMEM, "out of memory");
        p->items = ni;
        *cap = nc;
    }
    p->items[p->n++] = (mmp_item){token, media, n_tokens};
    p->n_pos += media >= 0 ? (size_t)n_tokens : 1;
    return MM_OK;
}

static mm_code push_text(const mm_tokenizer *tok, mmp_prompt *p, size_t *cap, const char *s, size_t len, int special,
                         mm_err *e) {
    if (!len) return MM_OK;
    int32_t *ids = NULL;
    size_t n = 0;
    mm_code rc = mm_tokenize(tok, s, len, 0, special, &ids, &n, e);
    for (size_t i = 0; i < n && !rc; i++) rc = push(p, cap, ids[i], -1, 0, e);
    free(ids);
    return rc;
}

int mmp_vision_params(const mm_mmproj *proj, mm_vision_params *vp) {
    const mm_vision_hparams *hp = mm_mmproj_vision(proj);
    if (hp->type == MM_PROJ_GEMMA4V) mm_vision_params_gemma4v(vp, hp->patch_size, hp->n_merge);
    else if (hp->type == MM_PROJ_GEMMA3) mm_vision_params_gemma3(vp, hp->image_size, hp->patch_size, hp->n_merge);
    else return -1;
    memcpy(vp->mean, hp->mean, sizeof vp->mean);
    memcpy(vp->std, hp->std, sizeof vp->std);
    return 0;
}

/* One image -> soft tokens [n][proj_dim]. */
static mm_code encode_image(const mm_mmproj *proj, const mmp_input *in, int n_threads, mmp_media *out, mm_err *e) {
    const char *path = in->path;
    const mm_image_opts *io = in->image_opts;
    const mm_vision_hparams *hp = mm_mmproj_vision(proj);
    mm_vision_params vp;
    if (mmp_vision_params(proj, &vp)) return mm_err_set(e, MM_EUNSUPPORTED, "%s: the mmproj has no vision tower", path);
    if (in->min_tokens > 0) vp.min_tokens = in->min_tokens;
    if (in->max_tokens > 0) vp.max_tokens = in->max_tokens;
    mm_image_opts o;
    mm_image_opts_llama(&o);
    if (io) o = *io;
    mm_vision_input vin;
    mm_code rc = mm_vision_load(path, &o, &vp, &vin, e);
    if (rc) return rc;
    int n = mm_vision_n_tokens(proj, vin.w, vin.h);
    if (n <= 0 || n != vin.n_tokens) {
        mm_vision_input_free(&vin);
        return mm_err_set(e, MM_EINVAL, "%s: %dx%d tensor gives no soft tokens", path, vin.w, vin.h);
    }
    out->embd = malloc((size_t)n * hp->proj_dim * sizeof(float));
    if (!out->embd) rc = mm_err_set(e, MM_ENOMEM, "out of memory");
    else rc = mm_vision_encode(proj, vin.data, vin.w, vin.h, n_threads, out->embd, e);
    mm_vision_input_free(&vin);
    if (rc) {
        free(out->embd);
        out->embd = NULL;
        mm_err_prefix(e, "%s", path);
        return rc;
    }
    out->n_tokens = n;
    out->n_embd = hp->proj_dim;
    return MM_OK;
}

/* Counts the 30 s pieces of a recording and appends one media entry per piece (embd NULL). */
static mm_code count_audio(const mm_mmproj *proj, const mm_mel *mel, const mmp_input *in, int input, mmp_prompt *p,
                           int *cap, mm_err *e) {
    const char *path = in->path;
    mm_audio *a = NULL;
    float *buf = in->pcm ? NULL : malloc(MM_AUDIO_PIECE_SAMPLES * sizeof(float));
    mm_code rc = in->pcm ? MM_OK : buf ? mm_audio_open(path, NULL, &a, e) : mm_err_set(e, MM_ENOMEM, "out of memory");
    int first = p->n_media;
    uint64_t dropped = 0;
    for (int piece = 0; !rc; piece++) {
        size_t got = 0;
        if (in->pcm) { /* samples in memory: the same 30 s pieces, a last piece of one sample dropped */
            size_t off = (size_t)piece * MM_AUDIO_PIECE_SAMPLES;
            got = off < in->n_pcm ? in->n_pcm - off : 0;
            if (got > MM_AUDIO_PIECE_SAMPLES) got = MM_AUDIO_PIECE_SAMPLES;
            if (got == 1) dropped = 1, got = 0;
            if (!got) break;
        } else if ((rc = mm_audio_read_piece(a, buf, MM_AUDIO_PIECE_SAMPLES, &got, e)) || !got) {
            break;
        }
        if (p->n_media == *cap) {
            int nc = *cap ? *cap * 2 : 8;
            mmp_media *nm = realloc(p->media, (size_t)nc * sizeof *nm);
            if (!nm) {
                rc = mm_err_set(e, MM_ENOMEM, "out of memory");
                break;
            }
            p->media = nm;
            *cap = nc;
        }
        mmp_media *md = &p->media[p->n_media++];
        memset(md, 0, sizeof *md);
        md->audio = 1;
        md->input = input;
        md->piece = piece;
        md->n_samples = got;
        md->n_frames = (int)mm_mel_n_frames(mel, got); /* >= 1: read_piece drops a 1-sample piece */
        md->n_tokens = mm_audio_n_tokens(proj, md->n_frames);
        md->n_embd = mm_mmproj_audio(proj)->proj_dim;
        if (md->n_tokens <= 0) rc = mm_err_set(e, MM_EINVAL, "piece %d (%zu samples) gives no soft tokens", piece, got);
    }
    if (!rc && p->n_media == first) rc = mm_err_set(e, MM_EINVAL, "no audio samples");
    if (!rc) {
        p->media[p->n_media - 1].last = 1;
        p->media[p->n_media - 1].dropped = a ? mm_audio_get_info(a)->dropped_samples : dropped;
    }
    mm_audio_close(a);
    free(buf);
    if (rc && !strstr(e->msg, path)) mm_err_prefix(e, "%s", path); /* decoders' errors name it already */
    return rc;
}

void mmp_prompt_notes(const mmp_prompt *p, FILE *f) {
    for (int i = 0; i < p->n_media; i++)
        if (p->media[i].audio && p->media[i].dropped)
            fprintf(f, "note: %s: dropped its last %llu sample(s): a 30 s piece of one sample has no log-mel frame "
                    "(llama.cpp refuses such a file)\n", p->inputs[p->media[i].input].path,
                    (unsigned long long)p->media[i].dropped);
}

mm_code mmp_prompt_build(const mm_tokenizer *tok, const mm_mmproj *proj, const char *prompt, int add_bos,
                         int special, const mmp_input *inputs, int n_inputs, int n_threads, mmp_prompt *out,
                         mm_err *e) {
    memset(out, 0, sizeof *out);
    const mm_proj_type vt = proj ? mm_mmproj_vision(proj)->type : MM_PROJ_NONE;
    const mm_proj_type at = proj ? mm_mmproj_audio_type(proj) : MM_PROJ_NONE;
    int markers = 0, n_img = 0, n_aud = 0;
    for (const char *s = strstr(prompt, MMP_MEDIA_MARKER); s; s = strstr(s + strlen(MMP_MEDIA_MARKER), MMP_MEDIA_MARKER))
        markers++;
    for (int i = 0; i < n_inputs; i++) inputs[i].audio ? n_aud++ : n_img++;
    if (markers != n_inputs)
        return mm_err_set(e, MM_EINVAL, "prompt: %d media marker(s) %s for %d media file(s)", markers, MMP_MEDIA_MARKER,
                          n_inputs);
    if (n_img && vt == MM_PROJ_NONE) return mm_err_set(e, MM_EINVAL, "prompt: images need an mmproj with a vision tower");
    if (n_aud && at == MM_PROJ_NONE) return mm_err_set(e, MM_EINVAL, "prompt: audio needs an mmproj with an audio tower");
    const char *ibeg = vt == MM_PROJ_GEMMA3 ? "<start_of_image>" : "<|image>";
    const char *iend = vt == MM_PROJ_GEMMA3 ? "<end_of_image>" : "<image|>";
    const char *abeg = "<|audio>", *aend = "<audio|>"; /* gemma4a (mtmd_tokenizer::add_media) */
    size_t cap = 0;
    int mcap = 0;
    mm_code rc = MM_OK;
    mm_mel *mel = NULL;
    out->inputs = inputs;
    out->n_inputs = n_inputs;
    out->n_threads = n_threads;
    if (n_aud) {
        rc = mm_mel_create(NULL, &mel, e);
        if (!rc && mm_mel_get_params(mel)->n_mel != mm_mmproj_audio(proj)->n_mel)
            rc = mm_err_set(e, MM_EUNSUPPORTED, "audio: the mmproj takes %d mel bins; the Gemma 4 features have %d",
                            mm_mmproj_audio(proj)->n_mel, mm_mel_get_params(mel)->n_mel);
    }
    if (!rc && add_bos && mm_tokenizer_add_bos(tok) && mm_token_bos(tok) != MM_TOKEN_NULL)
        rc = push(out, &cap, mm_token_bos(tok), -1, 0, e);
    const char *s = prompt;
    for (int i = 0; i <= n_inputs && !rc; i++) {
        const char *m = i < n_inputs ? strstr(s, MMP_MEDIA_MARKER) : s + strlen(s);
        rc = push_text(tok, out, &cap, s, (size_t)(m - s), special, e);
        if (rc || i == n_inputs) break;
        if (inputs[i].audio) {
            const int first = out->n_media;
            if ((rc = count_audio(proj, mel, &inputs[i], i, out, &mcap, e))) break;
            if ((rc = push_text(tok, out, &cap, abeg, strlen(abeg), 1, e))) break;
            for (int k = first; k < out->n_media && !rc; k++) rc = push(out, &cap, 0, k, out->media[k].n_tokens, e);
            if (rc || (rc = push_text(tok, out, &cap, aend, strlen(aend), 1, e))) break;
        } else {
            if (out->n_media == mcap) {
                int nc = mcap ? mcap * 2 : 8;
                mmp_media *nm = realloc(out->media, (size_t)nc * sizeof *nm);
                if (!nm) {
                    rc = mm_err_set(e, MM_ENOMEM, "out of memory");
                    break;
                }
                out->media = nm;
                mcap = nc;
            }
            mmp_media *md = &out->media[out->n_media];
            memset(md, 0, sizeof *md);
            md->input = i;
            if ((rc = encode_image(proj, &inputs[i], n_threads, md, e))) break;
            const int k = out->n_media++;
            if ((rc = push_text(tok, out, &cap, ibeg, strlen(ibeg), 1, e)) ||
                (rc = push(out, &cap, 0, k, md->n_tokens, e)) ||
                (rc = push_text(tok, out, &cap, iend, strlen(iend), 1, e)))
                break;
        }
        s = m + strlen(MMP_MEDIA_MARKER);
    }
    if (!rc && add_bos && mm_tokenizer_add_eos(tok) && mm_token_eos(tok) != MM_TOKEN_NULL)
        rc = push(out, &cap, mm_token_eos(tok), -1, 0, e);
    if (!rc && out->n_pos == 0) rc = mm_err_set(e, MM_EINVAL, "prompt: no tokens");
    mm_mel_free(mel);
    if (rc) mmp_prompt_free(out);
    return rc;
}

int mmp_prompt_max_run(const mmp_prompt *p) {
    int best = 1, run = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->items[i].media >= 0) {
            if (p->items[i].n_tokens > best) best = p->items[i].n_tokens;
            run = 0;
        } else if (++run > best) {
            best = run;
        }
    }
    return best;
}

/* Reading state of the recording being decoded: one piece of PCM and its features at a time. */
typedef struct audio_state {
    mm_audio *a;
    mm_mel *mel;
    float *pcm, *feat;
    size_t feat_cap;
} audio_state;

static void audio_state_free(audio_state *s) {
    mm_audio_close(s->a);
    mm_mel_free(s->mel);
    free(s->pcm);
    free(s->feat);
    memset(s, 0, sizeof *s);
}

/* Reads, featurises and encodes media chunk k (an audio piece) into *embd (malloc'd). */
static mm_code audio_piece(audio_state *s, const mm_mmproj *proj, const mmp_prompt *p, int k, float **embd,
                           mm_err *e) {
    const mmp_media *md = &p->media[k];
    const char *path = p->inputs[md->input].path;
    const int n_mel = mm_mmproj_audio(proj)->n_mel;
    mm_code rc = MM_OK;
    *embd = NULL;
    if (!s->mel && (rc = mm_mel_create(NULL, &s->mel, e))) return rc;
    if (!s->pcm && !(s->pcm = malloc(MM_AUDIO_PIECE_SAMPLES * sizeof(float))))
        return mm_err_set(e, MM_ENOMEM, "out of memory");
    const mmp_input *in = &p->inputs[md->input];
    size_t got = 0, T = 0;
    if (in->pcm) {
        size_t off = (size_t)md->piece * MM_AUDIO_PIECE_SAMPLES;
        got = off < in->n_pcm ? in->n_pcm - off : 0;
        if (got > MM_AUDIO_PIECE_SAMPLES) got = MM_AUDIO_PIECE_SAMPLES;
        if (got) memcpy(s->pcm, in->pcm + off, got * sizeof(float));
    } else {
        if (md->piece == 0) {
            mm_audio_close(s->a);
            s->a = NULL;
            if ((rc = mm_audio_open(path, NULL, &s->a, e))) return rc;
        }
        if (!s->a) return mm_err_set(e, MM_EINVAL, "%s: audio piece %d without its recording open", path, md->piece);
        if ((rc = mm_audio_read_piece(s->a, s->pcm, MM_AUDIO_PIECE_SAMPLES, &got, e))) goto fail;
    }
    if (got != md->n_samples) {
        rc = mm_err_set(e, MM_ECORRUPT, "piece %d decodes to %zu samples now, %zu when counted (file changed?)",
                        md->piece, got, md->n_samples);
        goto fail;
    }
    const size_t need = (size_t)n_mel * (size_t)md->n_frames;
    if (need > s->feat_cap) {
        free(s->feat);
        if (!(s->feat = malloc(need * sizeof(float)))) {
            s->feat_cap = 0;
            rc = mm_err_set(e, MM_ENOMEM, "out of memory");
            goto fail;
        }
        s->feat_cap = need;
    }
    if ((rc = mm_mel_compute(s->mel, s->pcm, got, s->feat, s->feat_cap, &T, e))) goto fail;
    if (!(*embd = malloc((size_t)md->n_tokens * md->n_embd * sizeof(float)))) {
        rc = mm_err_set(e, MM_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = mm_audio_encode(proj, s->feat, (int)T, p->n_threads, *embd, e))) goto fail;
    if (p->hook) {
        mmp_media view = *md;
        view.embd = *embd;
        if ((rc = p->hook(p->hook_ud, k, &view, s->feat, n_mel, e))) goto fail;
    }
    if (md->last) {
        mm_audio_close(s->a);
        s->a = NULL;
    }
    return MM_OK;
fail:
    free(*embd);
    *embd = NULL;
    if (!strstr(e->msg, path)) mm_err_prefix(e, "%s", path);
    return rc;
}

mm_code mmp_prompt_encode_audio(mmp_prompt *p, const mm_mmproj *proj, mm_err *e) {
    audio_state as = {0};
    mm_code rc = MM_OK;
    for (int k = 0; k < p->n_media && !rc; k++) {
        mmp_media *md = &p->media[k];
        if (md->audio && !md->embd && p->inputs[md->input].pcm) rc = audio_piece(&as, proj, p, k, &md->embd, e);
    }
    audio_state_free(&as);
    return rc;
}

int mmp_prompt_lead(const mmp_prompt *p) {
    size_t i = 0;
    while (i < p->n && p->items[i].media < 0) i++;
    return (int)i;
}

mm_code mmp_prompt_decode(mm_ctx *c, const mm_model *m, const mm_mmproj *proj, const mmp_prompt *p,
                          float *last_logits, mm_err *e) {
    return mmp_prompt_decode_at(c, m, proj, p, 0, 0, last_logits, e);
}

mm_code mmp_prompt_decode_at(mm_ctx *c, const mm_model *m, const mm_mmproj *proj, const mmp_prompt *p, int sq,
                             int skip, float *last_logits, mm_err *e) {
    if (skip < 0 || skip > mmp_prompt_lead(p) || (size_t)skip >= p->n)
        return mm_err_set(e, MM_EINVAL, "prompt: cannot skip %d leading tokens", skip);
    const int max = mmp_prompt_max_run(p), E = mm_model_n_embd(m);
    int32_t *tok = malloc((size_t)max * 4), *pos = malloc((size_t)max * 4), *seq = calloc((size_t)max, 4);
    int32_t *span = malloc((size_t)max * 4);
    int8_t *want = calloc((size_t)max, 1);
    audio_state as = {0};
    mm_code rc = MM_OK;
    if (!tok || !pos || !seq || !span || !want) rc = mm_err_set(e, MM_ENOMEM, "out of memory");
    for (int t = 0; !rc && t < max; t++) seq[t] = sq;
    int32_t n_past = skip; /* the first skip items (tokens) are in the cache already */
    for (size_t i = (size_t)skip; i < p->n && !rc;) { /* logits only for the final row of the prompt */
        if (p->items[i].media >= 0) {
            const int k = p->items[i].media;
            const mmp_media *md = &p->media[k];
            if (md->n_embd != E) {
                rc = mm_err_set(e, MM_EINVAL, "%s %d: soft tokens of width %d, the text model takes %d",
                                md->audio ? "audio piece" : "image", k, md->n_embd, E);
                break;
            }
            float *owned = NULL; /* audio encoded here, unless mmp_prompt_encode_audio did it */
            if (md->audio && !md->embd && (rc = audio_piece(&as, proj, p, k, &owned, e))) break;
            for (int t = 0; t < md->n_tokens; t++) {
                pos[t] = n_past + t;
                span[t] = k;
                want[t] = 0;
            }
            want[md->n_tokens - 1] = i + 1 == p->n;
            mm_batch b = {md->n_tokens, NULL, owned ? owned : md->embd, pos, seq, want};
            /* audio: always causal (mtmd decides per chunk with the audio projector type) */
            mm_batch_media bm = {span, mm_model_media_attn(m, md->audio ? mm_mmproj_audio_type(proj)
                                                                          : mm_mmproj_vision(proj)->type)};
            rc = mm_decode_media(c, &b, &bm, e);
            free(owned);
            n_past += md->n_tokens;
            i++;
        } else {
            int n = 0;
            for (; i < p->n && p->items[i].media < 0; i++, n++) {
                tok[n] = p->items[i].token;
                pos[n] = n_past + n;
                want[n] = 0;
            }
            want[n - 1] = i == p->n;
            mm_batch b = {n, tok, NULL, pos, seq, want};
            rc = mm_decode(c, &b, e);
            n_past += n;
        }
    }
    if (!rc && last_logits) memcpy(last_logits, mm_ctx_logits(c, 0), (size_t)mm_model_n_vocab(m) * sizeof(float));
    audio_state_free(&as);
    free(tok); free(pos); free(seq); free(span); free(want);
    return rc;
}
