/*
 * pipeline/cmd_eval.c — `mmpipe eval --case PACK/cases/NAME.json --out DIR`:
 * runs one fixture case through the engine in precise mode (F32 KV cache, no
 * flash attention) and writes DIR/result.json with the keys the case carries,
 * arrays beside it as little-endian float32 (paths relative to DIR), for
 * ../shared/tools/compare_fixtures.py to judge.
 *   text:     prompt_tokens, prompt_logits [T, V], greedy {n, tokens, logits [n-1, V]}
 *   tokenize: tokenize [{text, special, add_bos, ids}]
 *   image:    prompt_tokens (media chunks as {"media": i, "n_tokens": k}), media_embd per image
 *             [n_tokens, n_embd], last_logits [V] after the whole multimodal prompt
 *   audio:    the same, one media chunk per 30 s piece, plus media_input per piece (the log-mel
 *             features [n_mel, T]), written as each piece is encoded
 *   --hidden: the hidden tensors the case names (inp_scaled, l_out-N, result_norm,
 *             inp_per_layer) for the prompt, shape [1, 1, T, width]
 * Paths inside a case are relative to the pack root (the folder above cases/).
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>

#include "engine.h"
#include "multimodal.h"

static const char *const eval_help =
    "usage: mmpipe eval --case PACK/cases/NAME.json --out DIR [--hidden] [-t N]\n"
    "Runs one fixture case (text, tokenize, embed, image, audio) and writes DIR/result.json plus float32 arrays.\n";

static int write_f32(const char *dir, const char *name, const float *d, size_t n) {
    char *p = mm_asprintf("%s/%s", dir, name);
    FILE *f = p ? fopen(p, "wb") : NULL;
    int ok = f && fwrite(d, sizeof(float), n, f) == n;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) cli_error("%s: cannot write: %m", p ? p : name);
    free(p);
    return ok ? 0 : -1;
}

static cJSON *array_spec(const char *file, int rows, int cols, int four_d) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", file);
    cJSON *s = cJSON_AddArrayToObject(o, "shape");
    if (four_d) {
        cJSON_AddItemToArray(s, cJSON_CreateNumber(1));
        cJSON_AddItemToArray(s, cJSON_CreateNumber(1));
    }
    if (rows >= 0) cJSON_AddItemToArray(s, cJSON_CreateNumber(rows));
    cJSON_AddItemToArray(s, cJSON_CreateNumber(cols));
    return o;
}

/* ---- hidden tensors ---- */
typedef struct hidden_ctx {
    const char *dir;
    cJSON *want;       /* the case's "hidden" object (names) */
    cJSON *out;        /* result "hidden" */
    int fail;
} hidden_ctx;

static void on_hidden(void *ud, const char *name, int layer, const float *data, int rows, int width) {
    hidden_ctx *h = ud;
    char full[64];
    if (layer >= 0) snprintf(full, sizeof full, "%s-%d", name, layer);
    else snprintf(full, sizeof full, "%s", name);
    if (!h->want || !cJSON_GetObjectItem(h->want, full) || cJSON_GetObjectItem(h->out, full)) return;
    char file[96];
    snprintf(file, sizeof file, "hidden.%s.f32", full);
    if (write_f32(h->dir, file, data, (size_t)rows * width)) h->fail = 1;
    /* the case's own shape when it describes the same data (inp_per_layer is [1, T, L, P]) */
    cJSON *shape = cJSON_GetObjectItem(cJSON_GetObjectItem(h->want, full), "shape"), *d;
    double prod = 1;
    cJSON_ArrayForEach(d, shape) prod *= d->valuedouble;
    cJSON *spec = array_spec(file, rows, width, 1);
    if (cJSON_IsArray(shape) && prod == (double)rows * width)
        cJSON_ReplaceItemInObject(spec, "shape", cJSON_Duplicate(shape, 1));
    cJSON_AddItemToObject(h->out, full, spec);
}

static int argmax(const float *r, int V) {
    int k = 0;
    for (int i = 1; i < V; i++)
        if (r[i] > r[k]) k = i;
    return k;
}

static int eval_text(const char *pack, cJSON *cs, const char *outdir, int threads, int hidden, cJSON *res) {
    const char *model = cJSON_GetStringValue(cJSON_GetObjectItem(cs, "model"));
    const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItem(cs, "prompt"));
    if (!model || !prompt) {
        cli_error("eval: text case without model or prompt");
        return EXIT_FATAL;
    }
    int add_bos = cJSON_IsTrue(cJSON_GetObjectItem(cs, "add_bos"));
    int special = cJSON_IsTrue(cJSON_GetObjectItem(cs, "special"));
    char *mpath = mm_asprintf("%s/%s", pack, model);
    mm_model *m = NULL;
    mm_tokenizer *tok = NULL;
    mm_ctx *ctx = NULL;
    mm_err e;
    int rc = EXIT_FATAL;
    int32_t *ids = NULL;
    size_t T = 0;
    float *plog = NULL;
    if (mm_model_open(mpath, &m, &e) != MM_OK || mm_tokenizer_open(mm_model_gguf(m), &tok, &e) != MM_OK ||
        mm_tokenize(tok, prompt, strlen(prompt), add_bos, special, &ids, &T, &e) != MM_OK) {
        cli_error("eval: %s", e.msg);
        goto out;
    }
    if (T == 0) {
        cli_error("eval: the prompt has no tokens");
        goto out;
    }
    cJSON *greedy = cJSON_GetObjectItem(cs, "greedy");
    int G = greedy ? (int)cJSON_GetNumberValue(cJSON_GetObjectItem(greedy, "n")) : 0;
    if (G < 0 || G > 4096) G = 16;
    mm_ctx_params cp = {(int)T + G + 1, (int)T, 1, threads, 0}; /* precise: F32 cache */
    if (mm_ctx_open(m, &cp, &ctx, &e) != MM_OK) {
        cli_error("eval: %s", e.msg);
        goto out;
    }
    hidden_ctx hc = {outdir, cJSON_GetObjectItem(cs, "hidden"), NULL, 0};
    if (hidden && hc.want) {
        hc.out = cJSON_AddObjectToObject(res, "hidden");
        mm_ctx_set_hidden_hook(ctx, on_hidden, &hc);
    }
    int32_t *pos = calloc(T, 4), *seq = calloc(T, 4);
    int8_t *want = calloc(T, 1);
    if (!pos || !seq || !want) {
        free(pos); free(seq); free(want);
        cli_error("out of memory");
        goto out;
    }
    for (size_t t = 0; t < T; t++) {
        pos[t] = (int32_t)t;
        want[t] = 1;
    }
    mm_batch b = {(int)T, ids, NULL, pos, seq, want};
    mm_code code = mm_decode(ctx, &b, &e);
    free(pos); free(seq); free(want);
    mm_ctx_set_hidden_hook(ctx, NULL, NULL);
    if (code != MM_OK || hc.fail) {
        if (code) cli_error("eval: %s", e.msg);
        goto out;
    }
    const int V = mm_model_n_vocab(m);
    cJSON *pt = cJSON_AddArrayToObject(res, "prompt_tokens");
    for (size_t t = 0; t < T; t++) cJSON_AddItemToArray(pt, cJSON_CreateNumber(ids[t]));
    plog = malloc(T * (size_t)V * sizeof(float));
    if (!plog) goto out;
    for (size_t t = 0; t < T; t++) memcpy(plog + t * V, mm_ctx_logits(ctx, (int)t), (size_t)V * sizeof(float));
    if (write_f32(outdir, "prompt_logits.f32", plog, T * (size_t)V)) goto out;
    cJSON_AddItemToObject(res, "prompt_logits", array_spec("prompt_logits.f32", (int)T, V, 0));
    if (G > 0) {
        /* greedy: token s+1 from the logits after feeding token s; stop at end of generation */
        float *gl = malloc((size_t)G * V * sizeof(float));
        cJSON *go = cJSON_AddObjectToObject(res, "greedy"), *gt = cJSON_AddArrayToObject(go, "tokens");
        int n = 0, rows = 0;
        int32_t next = argmax(plog + (T - 1) * V, V);
        while (gl && n < G) {
            cJSON_AddItemToArray(gt, cJSON_CreateNumber(next));
            n++;
            if (mm_token_is_eog(tok, next) || n == G) break;
            int32_t p = (int32_t)(T + (size_t)n - 1), s = 0;
            int8_t l1 = 1;
            mm_batch b1 = {1, &next, NULL, &p, &s, &l1};
            if (mm_decode(ctx, &b1, &e) != MM_OK) {
                cli_error("eval: %s", e.msg);
                free(gl);
                goto out;
            }
            memcpy(gl + (size_t)rows * V, mm_ctx_logits(ctx, 0), (size_t)V * sizeof(float));
            rows++;
            next = argmax(mm_ctx_logits(ctx, 0), V);
        }
        cJSON_AddNumberToObject(go, "n", n);
        if (!gl || write_f32(outdir, "greedy_logits.f32", gl, (size_t)rows * V)) {
            free(gl);
            goto out;
        }
        cJSON_AddItemToObject(go, "logits", array_spec("greedy_logits.f32", rows, V, 0));
        free(gl);
    }
    rc = EXIT_OK;
out:
    free(plog);
    free(ids);
    free(mpath);
    mm_ctx_close(ctx);
    mm_tokenizer_close(tok);
    mm_model_close(m);
    return rc;
}

static int eval_embed(const char *pack, cJSON *cs, const char *outdir, int threads, cJSON *res) {
    const char *model = cJSON_GetStringValue(cJSON_GetObjectItem(cs, "model"));
    const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItem(cs, "prompt"));
    if (!model || !prompt) {
        cli_error("eval: embed case without model or prompt");
        return EXIT_FATAL;
    }
    char *mpath = mm_asprintf("%s/%s", pack, model);
    mm_model *m = NULL;
    mm_tokenizer *tok = NULL;
    mm_ctx *ctx = NULL;
    int32_t *ids = NULL;
    size_t T = 0;
    float *emb = NULL;
    mm_err e;
    int rc = EXIT_FATAL;
    if (mm_model_open(mpath, &m, &e) != MM_OK || mm_tokenizer_open(mm_model_gguf(m), &tok, &e) != MM_OK ||
        mm_tokenize(tok, prompt, strlen(prompt), cJSON_IsTrue(cJSON_GetObjectItem(cs, "add_bos")),
                    cJSON_IsTrue(cJSON_GetObjectItem(cs, "special")), &ids, &T, &e) != MM_OK) {
        cli_error("eval: %s", e.msg);
        goto out;
    }
    mm_ctx_params cp = {(int)T + 1, (int)T + 1, 1, threads, 0};
    int D = mm_model_embd_dim(m);
    if (!(emb = malloc((size_t)D * sizeof(float)))) goto out;
    if (mm_ctx_open(m, &cp, &ctx, &e) != MM_OK || mm_embed(ctx, ids, (int)T, emb, &e) != MM_OK) {
        cli_error("eval: %s", e.msg);
        goto out;
    }
    cJSON *pt = cJSON_AddArrayToObject(res, "prompt_tokens");
    for (size_t t = 0; t < T; t++) cJSON_AddItemToArray(pt, cJSON_CreateNumber(ids[t]));
    if (write_f32(outdir, "embedding.f32", emb, (size_t)D)) goto out;
    cJSON_AddItemToObject(res, "embedding", array_spec("embedding.f32", 1, D, 0));
    rc = EXIT_OK;
out:
    free(emb);
    free(ids);
    free(mpath);
    mm_ctx_close(ctx);
    mm_tokenizer_close(tok);
    mm_model_close(m);
    return rc;
}

/* Audio pieces, as mmp_prompt_decode encodes them: media<k>.f32 and media_input<k>.f32. */
typedef struct audio_out {
    const char *dir;
    cJSON *embd, *input;   /* result arrays media_embd / media_input, in piece order */
} audio_out;

static mm_code audio_hook(void *ud, int k, const mmp_media *md, const float *mel, int n_mel, mm_err *e) {
    audio_out *o = ud;
    char file[48];
    snprintf(file, sizeof file, "media%d.f32", k);
    if (write_f32(o->dir, file, md->embd, (size_t)md->n_tokens * md->n_embd))
        return mm_err_set(e, MM_EIO, "%s/%s: cannot write", o->dir, file);
    cJSON_AddItemToArray(o->embd, array_spec(file, md->n_tokens, md->n_embd, 0));
    snprintf(file, sizeof file, "media_input%d.f32", k);
    if (write_f32(o->dir, file, mel, (size_t)n_mel * md->n_frames))
        return mm_err_set(e, MM_EIO, "%s/%s: cannot write", o->dir, file);
    cJSON_AddItemToArray(o->input, array_spec(file, n_mel, md->n_frames, 0));
    return MM_OK;
}

/* image and audio cases: the multimodal prompt through the mmproj and the text model. */
static int eval_media(const char *pack, cJSON *cs, const char *outdir, int threads, int audio, cJSON *res) {
    const char *model = cJSON_GetStringValue(cJSON_GetObjectItem(cs, "model"));
    const char *mmproj = cJSON_GetStringValue(cJSON_GetObjectItem(cs, "mmproj"));
    const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItem(cs, "prompt"));
    cJSON *media = cJSON_GetObjectItem(cs, "media");
    if (!model || !mmproj || !prompt || !cJSON_IsArray(media)) {
        cli_error("eval: %s case without model, mmproj, prompt or media", audio ? "audio" : "image");
        return EXIT_FATAL;
    }
    int n_in = cJSON_GetArraySize(media), rc = EXIT_FATAL;
    char *mpath = mm_asprintf("%s/%s", pack, model), *ppath = mm_asprintf("%s/%s", pack, mmproj);
    char **paths = calloc((size_t)n_in + 1, sizeof *paths);
    mmp_input *ins = calloc((size_t)n_in + 1, sizeof *ins);
    mm_model *m = NULL;
    mm_tokenizer *tok = NULL;
    mm_mmproj *proj = NULL;
    mm_ctx *ctx = NULL;
    mmp_prompt pr = {0};
    float *last = NULL;
    mm_err e;
    for (int i = 0; paths && ins && i < n_in; i++) {
        const char *f = cJSON_GetStringValue(cJSON_GetArrayItem(media, i));
        paths[i] = f ? mm_asprintf("%s/%s", pack, f) : NULL;
        if (!paths[i]) {
            cli_error("eval: media entry %d is not a path", i);
            goto out;
        }
        ins[i] = (mmp_input){.path = paths[i], .audio = audio};
    }
    if (!paths || !ins || mm_model_open(mpath, &m, &e) != MM_OK || mm_tokenizer_open(mm_model_gguf(m), &tok, &e) != MM_OK ||
        mm_mmproj_open(ppath, &proj, &e) != MM_OK ||
        mmp_prompt_build(tok, proj, prompt, cJSON_IsTrue(cJSON_GetObjectItem(cs, "add_bos")),
                         cJSON_IsTrue(cJSON_GetObjectItem(cs, "special")), ins, n_in, threads, &pr, &e) != MM_OK) {
        cli_error("eval: %s", paths && ins ? e.msg : "out of memory");
        goto out;
    }
    mmp_prompt_notes(&pr, stderr);
    const int V = mm_model_n_vocab(m), E = mm_model_n_embd(m);
    cJSON *me = cJSON_CreateArray(), *mi = audio ? cJSON_CreateArray() : NULL;
    audio_out ao = {outdir, me, mi};
    if (audio) {
        pr.hook = audio_hook;
        pr.hook_ud = &ao;
    }
    mm_ctx_params cp = {(int)pr.n_pos + 1, mmp_prompt_max_run(&pr), 1, threads, 0}; /* precise: F32 cache */
    if (!(last = malloc((size_t)V * sizeof(float))) || mm_ctx_open(m, &cp, &ctx, &e) != MM_OK ||
        mmp_prompt_decode(ctx, m, proj, &pr, last, &e) != MM_OK) {
        cli_error("eval: %s", last ? e.msg : "out of memory");
        cJSON_Delete(me);
        cJSON_Delete(mi);
        goto out;
    }
    cJSON *pt = cJSON_AddArrayToObject(res, "prompt_tokens");
    cJSON_AddItemToObject(res, "media_embd", me);
    if (mi) cJSON_AddItemToObject(res, "media_input", mi);
    for (size_t i = 0; i < pr.n; i++) {
        if (pr.items[i].media < 0) {
            cJSON_AddItemToArray(pt, cJSON_CreateNumber(pr.items[i].token));
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "media", pr.items[i].media);
        cJSON_AddNumberToObject(o, "n_tokens", pr.items[i].n_tokens);
        cJSON_AddItemToArray(pt, o);
    }
    for (int i = 0; !audio && i < pr.n_media; i++) {
        char file[48];
        snprintf(file, sizeof file, "media%d.f32", i);
        if (write_f32(outdir, file, pr.media[i].embd, (size_t)pr.media[i].n_tokens * E)) goto out;
        cJSON_AddItemToArray(me, array_spec(file, pr.media[i].n_tokens, E, 0));
    }
    if (write_f32(outdir, "last_logits.f32", last, (size_t)V)) goto out;
    cJSON_AddItemToObject(res, "last_logits", array_spec("last_logits.f32", -1, V, 0));
    rc = EXIT_OK;
out:
    for (int i = 0; paths && i < n_in; i++) free(paths[i]);
    free(paths);
    free(ins);
    free(last);
    free(mpath);
    free(ppath);
    mmp_prompt_free(&pr);
    mm_ctx_close(ctx);
    mm_mmproj_close(proj);
    mm_tokenizer_close(tok);
    mm_model_close(m);
    return rc;
}

static int eval_tokenize(const char *pack, cJSON *cs, cJSON *res) {
    const char *model = cJSON_GetStringValue(cJSON_GetObjectItem(cs, "model"));
    char *mpath = model ? mm_asprintf("%s/%s", pack, model) : NULL;
    mm_gguf *g = NULL;
    mm_tokenizer *tok = NULL;
    mm_err e;
    int rc = EXIT_FATAL;
    if (!mpath || mm_gguf_open(mpath, &g, &e) != MM_OK || mm_tokenizer_open(g, &tok, &e) != MM_OK) {
        cli_error("eval: %s", mpath ? e.msg : "tokenize case without model");
        goto out;
    }
    cJSON *items = cJSON_GetObjectItem(cs, "tokenize"), *arr = cJSON_AddArrayToObject(res, "tokenize"), *it;
    cJSON_ArrayForEach(it, items) {
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(it, "text"));
        int sp = cJSON_IsTrue(cJSON_GetObjectItem(it, "special"));
        int bos = cJSON_IsTrue(cJSON_GetObjectItem(it, "add_bos"));
        int32_t *ids = NULL;
        size_t n = 0;
        if (!text || mm_tokenize(tok, text, strlen(text), bos, sp, &ids, &n, &e) != MM_OK) {
            cli_error("eval: %s", text ? e.msg : "item without text");
            goto out;
        }
        cJSON *o = cJSON_CreateObject(), *ia = cJSON_AddArrayToObject(o, "ids");
        cJSON_AddStringToObject(o, "text", text);
        cJSON_AddBoolToObject(o, "special", sp);
        cJSON_AddBoolToObject(o, "add_bos", bos);
        for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(ia, cJSON_CreateNumber(ids[i]));
        cJSON_AddItemToArray(arr, o);
        free(ids);
    }
    rc = EXIT_OK;
out:
    mm_tokenizer_close(tok);
    mm_gguf_close(g);
    free(mpath);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "eval", "case,out,hidden,threads,quiet", argc, argv);
    if (rc) return rc < 0 ? (fputs(eval_help, stdout), EXIT_OK) : rc;
    if (!c.case_path || !c.out || c.nargs) {
        cli_error("eval: needs --case FILE and --out DIR (see 'mmpipe eval --help')");
        return EXIT_USAGE;
    }
    char *txt;
    mm_err e;
    if (mm_read_file(c.case_path, 64u << 20, &txt, NULL, &e) != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    cJSON *cs = cJSON_Parse(txt);
    free(txt);
    if (!cs) {
        cli_error("%s: not a JSON case", c.case_path);
        return EXIT_FATAL;
    }
    /* pack root = the folder above cases/ */
    char *pack = realpath(c.case_path, NULL);
    for (int up = 0; up < 2 && pack; up++) {
        char *slash = strrchr(pack, '/');
        if (slash && slash != pack) *slash = 0;
    }
    if (!pack) {
        cli_error("%s: %m", c.case_path);
        cJSON_Delete(cs);
        return EXIT_FATAL;
    }
    if (mkdir(c.out, 0777) != 0 && errno != EEXIST) {
        cli_error("%s: cannot create: %m", c.out);
        cJSON_Delete(cs);
        free(pack);
        return EXIT_FATAL;
    }
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(cs, "kind"));
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "case", cJSON_GetStringValue(cJSON_GetObjectItem(cs, "case")) ?: "");
    cJSON_AddStringToObject(res, "kind", kind ? kind : "");
    int threads = c.threads > 0 ? c.threads : 2;
    if (kind && !strcmp(kind, "text")) rc = eval_text(pack, cs, c.out, threads, c.hidden, res);
    else if (kind && !strcmp(kind, "tokenize")) rc = eval_tokenize(pack, cs, res);
    else if (kind && !strcmp(kind, "embed")) rc = eval_embed(pack, cs, c.out, threads, res);
    else if (kind && !strcmp(kind, "image")) rc = eval_media(pack, cs, c.out, threads, 0, res);
    else if (kind && !strcmp(kind, "audio")) rc = eval_media(pack, cs, c.out, threads, 1, res);
    else {
        cli_error("%s: case kind '%s' is not supported yet", c.case_path, kind ? kind : "?");
        rc = EXIT_FATAL;
    }
    if (rc == EXIT_OK) {
        char *js = cJSON_Print(res), *p = mm_asprintf("%s/result.json", c.out);
        FILE *f = p ? fopen(p, "wb") : NULL;
        if (!js || !f || fputs(js, f) < 0 || fclose(f) != 0) {
            cli_error("%s: cannot write", p ? p : "result.json");
            rc = EXIT_FATAL;
            f = NULL;
        }
        free(js);
        free(p);
    }
    cJSON_Delete(res);
    cJSON_Delete(cs);
    free(pack);
    return rc;
}
