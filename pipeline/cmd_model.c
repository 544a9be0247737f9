/*
 * pipeline/cmd_model.c — the model commands: `generate` (stream a completion),
 * `tokenize` (one id per line, --json: an array), `model-info` (table / --json),
 * `embed` (a sentence vector with an embedding model).
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "multimodal.h"

static const char *const model_help =
    "usage: mmpipe generate -m MODEL.gguf -p TEXT [-n N] [--chat] [--temp T] [--top-k K] [--top-p P]\n"
    "                       [--min-p P] [--repeat-penalty R] [--seed S] [-t THREADS] [--kv-type f16|f32]\n"
    "                       [--mmproj MMPROJ.gguf [--image FILE ...] [--audio FILE ...]]\n"
    "       mmpipe tokenize -m MODEL.gguf -p TEXT [--json] [--no-bos] [--no-special]\n"
    "       mmpipe model-info MODEL.gguf [--json]\n"
    "       mmpipe embed -m EMBED.gguf -p TEXT [--json]\n"
    "generate streams the completion of the raw prompt to stdout (--chat wraps it as one user\n"
    "turn in the model's chat format; greedy with --temp 0); it stops at the model's end of\n"
    "generation or after -n tokens (default 256).  Each --image / --audio goes where the prompt\n"
    "has a <__media__> marker (in command-line order); without markers the media come before the\n"
    "text.  A recording (any format FFmpeg reads) is cut into 30 s pieces, all between one\n"
    "<|audio> ... <audio|> pair; the mmproj needs an audio tower (gemma4a) for --audio.\n";

#define MODEL_OPTS "model,prompt,threads,n-predict,json,quiet,chat,temp,top-k,top-p,min-p,repeat-penalty,seed,no-bos,no-special,kv-type"
#define GENERATE_OPTS MODEL_OPTS ",mmproj,image,audio,image-min-tokens,image-max-tokens"

static int need(const cli *c, const char *what, const char *v) {
    if (v) return 0;
    cli_error("%s: %s is required (see 'mmpipe %s --help')", c->cmd, what, c->cmd);
    return EXIT_USAGE;
}

typedef struct loaded { mm_model *m; mm_tokenizer *tok; } loaded;

static int load(const cli *c, loaded *L) {
    mm_err e;
    memset(L, 0, sizeof *L);
    if (mm_model_open(c->model, &L->m, &e) != MM_OK || mm_tokenizer_open(mm_model_gguf(L->m), &L->tok, &e) != MM_OK) {
        cli_error("%s", e.msg);
        mm_model_close(L->m);
        return EXIT_FATAL;
    }
    return 0;
}

static void unload(loaded *L) {
    mm_tokenizer_close(L->tok);
    mm_model_close(L->m);
}

int cmd_tokenize(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "tokenize", MODEL_OPTS, argc, argv);
    if (rc) return rc < 0 ? (fputs(model_help, stdout), EXIT_OK) : rc;
    if ((rc = need(&c, "-m MODEL", c.model)) || (rc = need(&c, "-p TEXT", c.prompt))) return rc;
    mm_gguf *g;
    mm_tokenizer *tok;
    mm_err e;
    if (mm_gguf_open(c.model, &g, &e) != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    if (mm_tokenizer_open(g, &tok, &e) != MM_OK) {
        cli_error("%s", e.msg);
        mm_gguf_close(g);
        return EXIT_FATAL;
    }
    int32_t *ids;
    size_t n;
    rc = EXIT_OK;
    if (mm_tokenize(tok, c.prompt, strlen(c.prompt), !c.no_bos, !c.no_special, &ids, &n, &e) != MM_OK) {
        cli_error("%s", e.msg);
        rc = EXIT_FATAL;
    } else if (c.json) {
        putchar('[');
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
        puts("]");
    } else {
        for (size_t i = 0; i < n; i++) printf("%d\n", ids[i]);
    }
    if (rc == EXIT_OK) free(ids);
    mm_tokenizer_close(tok);
    mm_gguf_close(g);
    return rc;
}

int cmd_model_info(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "model-info", "model,json,quiet", argc, argv);
    if (rc) return rc < 0 ? (fputs(model_help, stdout), EXIT_OK) : rc;
    const char *path = c.model ? c.model : c.nargs == 1 ? c.args[0] : NULL;
    if (!path || (c.model && c.nargs)) {
        cli_error("model-info: give one MODEL.gguf");
        return EXIT_USAGE;
    }
    mm_gguf *g;
    mm_err e;
    mm_model_info mi;
    if (mm_gguf_open(path, &g, &e) != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    char identity[96];
    mm_model_identity(g, identity);
    if (mm_model_info_get(g, 0, &mi, &e) != MM_OK) {
        cli_error("%s", e.msg);
        mm_gguf_close(g);
        return EXIT_FATAL;
    }
    mm_gguf_close(g);
    if (c.json) {
        cJSON *o = cJSON_CreateObject(), *types = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", path);
        cJSON_AddStringToObject(o, "identity", identity);
        cJSON_AddStringToObject(o, "architecture", mi.arch);
        cJSON_AddStringToObject(o, "name", mi.name);
        cJSON_AddStringToObject(o, "tokenizer", mi.tokenizer);
        cJSON_AddNumberToObject(o, "gguf_version", mi.gguf_version);
        cJSON_AddNumberToObject(o, "file_size", (double)mi.file_size);
        cJSON_AddNumberToObject(o, "n_tensors", (double)mi.n_tensors);
        cJSON_AddNumberToObject(o, "n_params", (double)mi.n_params);
        cJSON_AddStringToObject(o, "weight_type", mm_type_name(mi.weight_type));
        const struct { const char *k; int64_t v; } f[] = {
            {"n_ctx_train", mi.n_ctx_train}, {"n_embd", mi.n_embd}, {"n_layer", mi.n_layer}, {"n_ff", mi.n_ff},
            {"n_head", mi.n_head}, {"n_head_kv", mi.n_head_kv}, {"head_dim", mi.head_dim},
            {"head_dim_swa", mi.head_dim_swa}, {"sliding_window", mi.sliding_window}, {"n_expert", mi.n_expert},
            {"n_expert_used", mi.n_expert_used}, {"n_vocab", mi.n_vocab}};
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
            if (f[i].v >= 0) cJSON_AddNumberToObject(o, f[i].k, (double)f[i].v);
        for (int i = 0; i < MM_TYPE_COUNT; i++)
            if (mi.types[i].n_tensors) {
                cJSON *t = cJSON_AddObjectToObject(types, mm_type_name(mi.types[i].type));
                cJSON_AddNumberToObject(t, "tensors", (double)mi.types[i].n_tensors);
                cJSON_AddNumberToObject(t, "bytes", (double)mi.types[i].n_bytes);
            }
        cJSON_AddItemToObject(o, "types", types);
        cJSON_AddNumberToObject(o, "n_ctx", (double)mi.n_ctx);
        cJSON_AddNumberToObject(o, "kv_cache_bytes", (double)mi.kv_cache_bytes);
        cJSON_AddNumberToObject(o, "mem_bytes", (double)mi.mem_bytes);
        char *s = cJSON_Print(o);
        if (s) puts(s);
        free(s);
        cJSON_Delete(o);
        return EXIT_OK;
    }
    printf("%-16s %s\n%-16s %s\n%-16s %s\n", "file", path, "architecture", mi.arch, "name", mi.name);
    printf("%-16s %s\n", "identity", identity);
    printf("%-16s %s\n%-16s v%u, %.1f MiB, %lld tensors\n", "tokenizer", mi.tokenizer, "gguf", mi.gguf_version,
           (double)mi.file_size / (1 << 20), (long long)mi.n_tensors);
    printf("%-16s %.1f M (%s mostly)\n", "parameters", (double)mi.n_params / 1e6, mm_type_name(mi.weight_type));
    printf("%-16s n_embd %lld, n_layer %lld, n_head %lld/%lld kv, head_dim %lld, n_ff %lld, vocab %lld\n", "sizes",
           (long long)mi.n_embd, (long long)mi.n_layer, (long long)mi.n_head, (long long)mi.n_head_kv,
           (long long)mi.head_dim, (long long)mi.n_ff, (long long)mi.n_vocab);
    if (mi.n_expert > 0)
        printf("%-16s %lld experts, %lld used\n", "moe", (long long)mi.n_expert, (long long)mi.n_expert_used);
    for (int i = 0; i < MM_TYPE_COUNT; i++)
        if (mi.types[i].n_tensors)
            printf("%-16s %-6s %5lld tensors %10.1f MiB\n", i == 0 ? "types" : "", mm_type_name(mi.types[i].type),
                   (long long)mi.types[i].n_tensors, (double)mi.types[i].n_bytes / (1 << 20));
    printf("%-16s %.1f MiB at %lld tokens (KV cache %.1f MiB)\n", "memory", (double)mi.mem_bytes / (1 << 20),
           (long long)mi.n_ctx, (double)mi.kv_cache_bytes / (1 << 20));
    return EXIT_OK;
}

/* generate with images / recordings: the prompt (markers, or the images in front of the text) built and
 * decoded the mtmd way; *hist gets the prompt's text tokens (for the repeat penalty), the context
 * holds the whole prompt and *n_ctx = its positions + n_predict + 1. */
static mm_code generate_media_prefill(const cli *c, loaded *L, const char *text, int add_bos, int n_predict,
                                      mm_ctx **ctx, int32_t **hist, int *nh, int *n_ctx, mm_err *e) {
    mm_mmproj *proj = NULL;
    mmp_prompt pr = {0};
    char *withm = NULL;
    const int threads = c->threads > 0 ? c->threads : 1;
    mmp_input ins[sizeof c->media / sizeof c->media[0]];
    for (int i = 0; i < c->n_media; i++)
        ins[i] = (mmp_input){.path = c->media[i], .audio = c->media_audio[i], .min_tokens = c->img_min_tokens,
                             .max_tokens = c->img_max_tokens};
    mm_code rc = mm_mmproj_open(c->mmproj, &proj, e);
    if (!rc && !strstr(text, MMP_MEDIA_MARKER)) { /* no markers: the media first, then the text */
        size_t ml = strlen(MMP_MEDIA_MARKER), tl = strlen(text);
        withm = malloc(ml * (size_t)c->n_media + tl + 1);
        if (!withm) rc = mm_err_set(e, MM_ENOMEM, "out of memory");
        for (int i = 0; withm && i < c->n_media; i++) memcpy(withm + ml * (size_t)i, MMP_MEDIA_MARKER, ml);
        if (withm) memcpy(withm + ml * (size_t)c->n_media, text, tl + 1);
        /* a chat prompt keeps its leading <bos> text first */
        if (withm && !add_bos && !strncmp(text, "<bos>", 5)) {
            memcpy(withm, "<bos>", 5);
            for (int i = 0; i < c->n_media; i++) memcpy(withm + 5 + ml * (size_t)i, MMP_MEDIA_MARKER, ml);
        }
        text = withm;
    }
    if (!rc) rc = mmp_prompt_build(L->tok, proj, text, add_bos, 1, ins, c->n_media, threads, &pr, e);
    if (!rc) mmp_prompt_notes(&pr, stderr);
    if (!rc) {
        *n_ctx = (int)pr.n_pos + n_predict + 1;
        mm_ctx_params cp = {*n_ctx, mmp_prompt_max_run(&pr), 1, threads, !c->kv_f32};
        if (!(*hist = malloc((size_t)*n_ctx * sizeof **hist))) rc = mm_err_set(e, MM_ENOMEM, "out of memory");
        if (!rc) rc = mm_ctx_open(L->m, &cp, ctx, e);
        if (!rc) rc = mmp_prompt_decode(*ctx, L->m, proj, &pr, NULL, e);
        *nh = 0;
        for (size_t i = 0; !rc && i < pr.n; i++)
            if (pr.items[i].media < 0) (*hist)[(*nh)++] = pr.items[i].token;
    }
    mmp_prompt_free(&pr);
    mm_mmproj_close(proj);
    free(withm);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "generate", GENERATE_OPTS, argc, argv);
    if (rc) return rc < 0 ? (fputs(model_help, stdout), EXIT_OK) : rc;
    if ((rc = need(&c, "-m MODEL", c.model)) || (rc = need(&c, "-p TEXT", c.prompt))) return rc;
    loaded L;
    if ((rc = load(&c, &L))) return rc;
    mm_err e;
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    mm_ctx *ctx = NULL;
    mm_sampler *smp = NULL;
    int32_t *hist = NULL;
    rc = EXIT_FATAL;
    int add_bos = 1;
    if (c.chat) {
        mm_chat_msg msg = {"user", c.prompt};
        if (mm_chat_format(L.m, &msg, 1, 1, 0, &text, &e) != MM_OK) {
            cli_error("%s", e.msg);
            goto out;
        }
        add_bos = 0; /* the formatted text starts with <bos> */
    }
    const char *p = text ? text : c.prompt;
    int n_predict = c.n_predict >= 0 ? c.n_predict : 256, n_ctx, nh = 0;
    if (c.n_media) {
        if (!c.mmproj) {
            cli_error("generate: --image / --audio need --mmproj");
            rc = EXIT_USAGE;
            goto out;
        }
        if (generate_media_prefill(&c, &L, p, add_bos, n_predict, &ctx, &hist, &nh, &n_ctx, &e) != MM_OK) {
            cli_error("%s", e.msg);
            goto out;
        }
    } else {
        if (mm_tokenize(L.tok, p, strlen(p), add_bos, 1, &ids, &n, &e) != MM_OK) {
            cli_error("%s", e.msg);
            goto out;
        }
        n_ctx = (int)n + n_predict + 1;
        mm_ctx_params cp = {n_ctx, (int)n > 0 ? (int)n : 1, 1, c.threads > 0 ? c.threads : 1, !c.kv_f32};
        if (n == 0 || mm_ctx_open(L.m, &cp, &ctx, &e) != MM_OK) {
            cli_error("%s", n == 0 ? "generate: empty prompt" : e.msg);
            goto out;
        }
        hist = malloc((size_t)n_ctx * sizeof *hist);
        int32_t *pos = malloc(n * sizeof *pos), *seq = calloc(n, sizeof *seq);
        int8_t *want = calloc(n, 1);
        if (!hist || !pos || !seq || !want) {
            free(pos); free(seq); free(want);
            cli_error("out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            pos[i] = (int32_t)i;
            hist[i] = ids[i];
        }
        want[n - 1] = 1;
        mm_batch b = {(int)n, ids, NULL, pos, seq, want};
        mm_code code = mm_decode(ctx, &b, &e);
        free(pos); free(seq); free(want);
        if (code != MM_OK) {
            cli_error("%s", e.msg);
            goto out;
        }
        nh = (int)n;
    }
    mm_sampler_params sp;
    mm_sampler_params_default(&sp);
    if (c.temp_set) sp.temp = c.temp;
    if (c.top_k >= 0) sp.top_k = c.top_k;
    if (c.top_p >= 0) sp.top_p = c.top_p;
    if (c.min_p >= 0) sp.min_p = c.min_p;
    if (c.repeat_penalty > 0) sp.repeat_penalty = c.repeat_penalty;
    if (c.seed_set) sp.seed = (uint64_t)c.seed;
    if (!(smp = mm_sampler_open(&sp, mm_model_n_vocab(L.m)))) {
        cli_error("out of memory");
        goto out;
    }
    int32_t next_pos = nh; /* text path: positions = tokens; media path: set below */
    if (c.n_media) next_pos = n_ctx - n_predict - 1;
    for (int i = 0; i < n_predict; i++) {
        int32_t t = mm_sample(smp, mm_ctx_logits(ctx, 0), hist, nh);
        if (mm_token_is_eog(L.tok, t)) break;
        mm_str piece = mm_token_piece(L.tok, t, 0);
        fwrite(piece.p, 1, piece.n, stdout);
        fflush(stdout);
        hist[nh++] = t;
        int32_t ps = next_pos++, sq = 0;
        int8_t one = 1;
        mm_batch b1 = {1, &t, NULL, &ps, &sq, &one};
        if (i + 1 < n_predict && mm_decode(ctx, &b1, &e) != MM_OK) {
            cli_error("%s", e.msg);
            goto out;
        }
    }
    putchar('\n');
    rc = EXIT_OK;
out:
    free(hist);
    mm_sampler_close(smp);
    mm_ctx_close(ctx);
    free(ids);
    free(text);
    unload(&L);
    return rc;
}

int cmd_embed(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "embed", MODEL_OPTS, argc, argv);
    if (rc) return rc < 0 ? (fputs(model_help, stdout), EXIT_OK) : rc;
    if ((rc = need(&c, "-m MODEL", c.model)) || (rc = need(&c, "-p TEXT", c.prompt))) return rc;
    loaded L;
    if ((rc = load(&c, &L))) return rc;
    mm_err e;
    int32_t *ids = NULL;
    size_t n = 0;
    mm_ctx *ctx = NULL;
    float *v = NULL;
    rc = EXIT_FATAL;
    int D = mm_model_embd_dim(L.m);
    if (mm_tokenize(L.tok, c.prompt, strlen(c.prompt), 1, 1, &ids, &n, &e) != MM_OK) {
        cli_error("%s", e.msg);
        goto out;
    }
    mm_ctx_params cp = {(int)n + 1, (int)n + 1, 1, c.threads > 0 ? c.threads : 1, 0};
    if (!(v = malloc((size_t)D * sizeof *v)) || mm_ctx_open(L.m, &cp, &ctx, &e) != MM_OK ||
        mm_embed(ctx, ids, (int)n, v, &e) != MM_OK) {
        cli_error("%s", v ? e.msg : "out of memory");
        goto out;
    }
    if (c.json) putchar('[');
    for (int i = 0; i < D; i++) printf(c.json ? "%s%.9g" : "%s%.9g", i ? (c.json ? ", " : " ") : "", v[i]);
    puts(c.json ? "]" : "");
    rc = EXIT_OK;
out:
    free(v);
    free(ids);
    mm_ctx_close(ctx);
    unload(&L);
    return rc;
}
