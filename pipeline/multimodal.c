/*
 * pipeline/multimodal.c — multimodal prompts the way llama.cpp's mtmd builds them (spec §3.2,
 * tools/mtmd/mtmd.cpp at de3ff81): the prompt text is split at each "<__media__>" marker, every
 * text piece tokenised on its own (no BOS/EOS, special-token parsing as asked), BOS once in front
 * when asked and the vocabulary wants it, and each marker replaced by
 *   begin text (tokenised with special parsing) + the image's soft tokens + end text,
 * with begin/end "<|image>" / "<image|>" for gemma4v and "<start_of_image>" / "<end_of_image>" for
 * gemma3.  Decoding feeds the token runs and each image as separate batches, the image rows as
 * unscaled embeddings with the projector's attention rule (mm_model_media_attn).
 * Images are decoded and preprocessed by decoders/ (llama.cpp-exact options) and encoded by the
 * engine's vision tower: the pipeline is the only place that sees both.
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

/* One image -> soft tokens [n][proj_dim]. */
static mm_code encode_image(const mm_mmproj *proj, const char *path, int n_threads, mmp_media *out, mm_err *e) {
    const mm_vision_hparams *hp = mm_mmproj_vision(proj);
    mm_vision_params vp;
    if (hp->type == MM_PROJ_GEMMA4V) mm_vision_params_gemma4v(&vp, hp->patch_size, hp->n_merge);
    else if (hp->type == MM_PROJ_GEMMA3) mm_vision_params_gemma3(&vp, hp->image_size, hp->patch_size, hp->n_merge);
    else return mm_err_set(e, MM_EUNSUPPORTED, "%s: the mmproj has no vision tower", path);
    memcpy(vp.mean, hp->mean, sizeof vp.mean);
    memcpy(vp.std, hp->std, sizeof vp.std);
    mm_image_opts o;
    mm_image_opts_llama(&o);
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

mm_code mmp_prompt_build(const mm_tokenizer *tok, const mm_mmproj *proj, const char *prompt, int add_bos,
                         int special, const char *const *images, int n_images, int n_threads, mmp_prompt *out,
                         mm_err *e) {
    memset(out, 0, sizeof *out);
    const mm_proj_type vt = proj ? mm_mmproj_vision(proj)->type : MM_PROJ_NONE;
    int markers = 0;
    for (const char *s = strstr(prompt, MMP_MEDIA_MARKER); s; s = strstr(s + strlen(MMP_MEDIA_MARKER), MMP_MEDIA_MARKER))
        markers++;
    if (markers != n_images)
        return mm_err_set(e, MM_EINVAL, "prompt: %d media marker(s) %s for %d image(s)", markers, MMP_MEDIA_MARKER,
                          n_images);
    if (n_images && vt == MM_PROJ_NONE) return mm_err_set(e, MM_EINVAL, "prompt: images need an mmproj with a vision tower");
    const char *beg = vt == MM_PROJ_GEMMA3 ? "<start_of_image>" : "<|image>";
    const char *end = vt == MM_PROJ_GEMMA3 ? "<end_of_image>" : "<image|>";
    size_t cap = 0;
    mm_code rc = MM_OK;
    out->media = n_images ? calloc((size_t)n_images, sizeof *out->media) : NULL;
    if (n_images && !out->media) return mm_err_set(e, MM_ENOMEM, "out of memory");
    out->n_media = n_images;
    if (add_bos && mm_tokenizer_add_bos(tok) && mm_token_bos(tok) != MM_TOKEN_NULL)
        rc = push(out, &cap, mm_token_bos(tok), -1, 0, e);
    const char *s = prompt;
    for (int i = 0; i <= n_images && !rc; i++) {
        const char *m = i < n_images ? strstr(s, MMP_MEDIA_MARKER) : s + strlen(s);
        rc = push_text(tok, out, &cap, s, (size_t)(m - s), special, e);
        if (rc || i == n_images) break;
        if ((rc = encode_image(proj, images[i], n_threads, &out->media[i], e))) break;
        if ((rc = push_text(tok, out, &cap, beg, strlen(beg), 1, e)) ||
            (rc = push(out, &cap, 0, i, out->media[i].n_tokens, e)) ||
            (rc = push_text(tok, out, &cap, end, strlen(end), 1, e)))
            break;
        s = m + strlen(MMP_MEDIA_MARKER);
    }
    if (!rc && add_bos && mm_tokenizer_add_eos(tok) && mm_token_eos(tok) != MM_TOKEN_NULL)
        rc = push(out, &cap, mm_token_eos(tok), -1, 0, e);
    if (!rc && out->n_pos == 0) rc = mm_err_set(e, MM_EINVAL, "prompt: no tokens");
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

mm_code mmp_prompt_decode(mm_ctx *c, const mm_model *m, const mm_mmproj *proj, const mmp_prompt *p,
                          float *last_logits, mm_err *e) {
    const int max = mmp_prompt_max_run(p), E = mm_model_n_embd(m);
    int32_t *tok = malloc((size_t)max * 4), *pos = malloc((size_t)max * 4), *seq = calloc((size_t)max, 4);
    int32_t *span = malloc((size_t)max * 4);
    int8_t *want = calloc((size_t)max, 1);
    mm_code rc = MM_OK;
    if (!tok || !pos || !seq || !span || !want) rc = mm_err_set(e, MM_ENOMEM, "out of memory");
    int32_t n_past = 0;
    for (size_t i = 0; i < p->n && !rc;) { /* logits only for the final row of the prompt */
        if (p->items[i].media >= 0) {
            const mmp_media *md = &p->media[p->items[i].media];
            if (md->n_embd != E) {
                rc = mm_err_set(e, MM_EINVAL, "image %d: soft tokens of width %d, the text model takes %d",
                                p->items[i].media, md->n_embd, E);
                break;
            }
            for (int t = 0; t < md->n_tokens; t++) {
                pos[t] = n_past + t;
                span[t] = p->items[i].media;
                want[t] = 0;
            }
            want[md->n_tokens - 1] = i + 1 == p->n;
            mm_batch b = {md->n_tokens, NULL, md->embd, pos, seq, want};
            mm_batch_media bm = {span, mm_model_media_attn(m, mm_mmproj_vision(proj)->type)};
            rc = mm_decode_media(c, &b, &bm, e);
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
    free(tok); free(pos); free(seq); free(span); free(want);
    return rc;
}
