/*
 * pipeline/cmd_ask.c — `mmpipe ask "QUESTION"`: retrieval-augmented answering over what
 * `mmpipe ingest` stored.  It retrieves the best -k chunks exactly as `mmpipe search` does
 * (ingest_retrieve in ingest.c: the query embedded with --embed-model, cosine fused with BM25),
 * builds one user turn holding the chunks numbered [1]..[k] with their path and page / time /
 * byte span, then the question and the instruction to answer from them citing by number, and
 * generates greedily with the generation model (-m, from the process's model cache as caption
 * does it, through media_generate).  Prints the answer, then "Sources:" ([n] path span); --json
 * one line {"answer", "sources": [{"n", "path", "score", "page" | "start"/"end"}], "prompt"}.
 * Nothing found (an empty or absent collection) is an answer saying so, with no model work.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "model_cache.h"

#define ASK_N_PREDICT 256

static const char *const ask_help =
    "usage: mmpipe ask \"QUESTION\" --embed-model E.gguf -m MODEL.gguf [--mmproj P.gguf] [--collection NAME]\n"
    "                  [-k N] [-n N] [-t N] [--json]\n"
    "Answers QUESTION from the documents 'mmpipe ingest' stored: retrieves the best N chunks\n"
    "(default 10) as 'mmpipe search' does, gives them to the model numbered [1]..[N] with their\n"
    "path and page or span, asks it to answer from them and cite them by number, and prints the\n"
    "answer (greedy, -n tokens at most, default 256) and the list of sources.\n"
    "--json: {\"answer\", \"sources\": [{\"n\", \"path\", \"score\", \"page\" | \"start\"/\"end\"}], \"prompt\"}.\n"
    "Nothing found in the collection: the answer says so (exit 0).  Exit 1 when a model or the\n"
    "database cannot be read, 2 on a usage error.\n";

typedef struct source {
    char *path, *path_b64, *text;
    double score;
    int page, timed;
    int64_t start, end; /* bytes, or ms when timed; -1 = none */
} source;

typedef struct sources {
    source *v;
    size_t n;
    int oom;
} sources;

static int keep_hit(void *arg, const jobs_hit *h) {
    sources *s = arg;
    source *nv = realloc(s->v, (s->n + 1) * sizeof *nv);
    if (!nv) {
        s->oom = 1;
        return 1;
    }
    s->v = nv;
    source *x = &s->v[s->n++];
    memset(x, 0, sizeof *x);
    x->path = mm_utf8_sanitize(h->path, h->path_len);
    if (!mm_utf8_valid(h->path, h->path_len)) x->path_b64 = mm_base64(h->path, h->path_len);
    x->text = mm_strdup(h->text ? h->text : "");
    x->score = h->score;
    x->page = h->page;
    x->timed = h->has_time;
    x->start = h->has_time ? h->start_ms : h->byte_start;
    x->end = h->has_time ? h->end_ms : h->byte_end;
    if (!x->path || !x->text) s->oom = 1;
    return s->oom;
}

static void sources_free(sources *s) {
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].path);
        free(s->v[i].path_b64);
        free(s->v[i].text);
    }
    free(s->v);
}

/* "page 2", "12.00-17.25 s", "bytes 10-90" or "" (malloc'd). */
static char *span_text(const source *x) {
    if (x->page > 0) return mm_asprintf("page %d", x->page);
    if (x->timed) return mm_asprintf("%.2f-%.2f s", (double)x->start / 1000, (double)x->end / 1000);
    if (x->start >= 0) return mm_asprintf("bytes %lld-%lld", (long long)x->start, (long long)x->end);
    return mm_strdup("");
}

/* The user turn: the sources, numbered, then the question. */
static char *build_prompt(const sources *s, const char *question) {
    char *p = mm_strdup("Answer the question below using only the numbered sources. Cite the sources you use "
                        "by their number in brackets, like [1]. If the sources do not contain the answer, say so.\n\n"
                        "Sources:\n");
    for (size_t i = 0; p && i < s->n; i++) {
        char *span = span_text(&s->v[i]);
        char *np = span ? mm_asprintf("%s\n[%zu] %s%s%s\n%s\n", p, i + 1, s->v[i].path, *span ? ", " : "", span,
                                      s->v[i].text)
                        : NULL;
        free(span);
        free(p);
        p = np;
    }
    if (!p) return NULL;
    char *np = mm_asprintf("%s\nQuestion: %s\n", p, question);
    free(p);
    return np;
}

/* Valid UTF-8 with leading and trailing white space removed (malloc'd). */
static char *clean(const char *s, size_t n) {
    char *u = mm_utf8_sanitize(s, n);
    if (!u) return NULL;
    size_t a = 0, z = strlen(u);
    while (a < z && (u[a] == ' ' || u[a] == '\n' || u[a] == '\t' || u[a] == '\r')) a++;
    while (z > a && (u[z - 1] == ' ' || u[z - 1] == '\n' || u[z - 1] == '\t' || u[z - 1] == '\r')) z--;
    memmove(u, u + a, z - a);
    u[z - a] = 0;
    return u;
}

static int print_json(const sources *s, const char *answer, const char *prompt) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "answer", answer);
    cJSON *arr = cJSON_AddArrayToObject(o, "sources");
    for (size_t i = 0; i < s->n; i++) {
        const source *x = &s->v[i];
        cJSON *h = cJSON_CreateObject();
        cJSON_AddNumberToObject(h, "n", (double)(i + 1));
        cJSON_AddStringToObject(h, "path", x->path);
        if (x->path_b64) cJSON_AddStringToObject(h, "path_b64", x->path_b64);
        cJSON_AddNumberToObject(h, "score", x->score);
        if (x->page > 0) {
            cJSON_AddNumberToObject(h, "page", x->page);
        } else if (x->start >= 0) { /* seconds for a transcript, bytes for a text (as search --json) */
            cJSON_AddNumberToObject(h, "start", x->timed ? (double)x->start / 1000 : (double)x->start);
            cJSON_AddNumberToObject(h, "end", x->timed ? (double)x->end / 1000 : (double)x->end);
        }
        cJSON_AddItemToArray(arr, h);
    }
    if (prompt) cJSON_AddStringToObject(o, "prompt", prompt);
    else cJSON_AddNullToObject(o, "prompt");
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) return -1;
    puts(line);
    free(line);
    return 0;
}

int cmd_ask(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "ask", "db,config,busy-timeout,quiet,embed-model,collection,results,json,threads,"
                       "model,mmproj,n-predict", argc, argv);
    if (rc) return rc < 0 ? (fputs(ask_help, stdout), EXIT_OK) : rc;
    if (c.nargs != 1 || !*c.args[0]) {
        cli_error("ask: needs one QUESTION (quote it; see 'mmpipe ask --help')");
        return EXIT_USAGE;
    }
    if (!c.embed_model) {
        cli_error("ask: --embed-model E.gguf is required (the model the documents were ingested with)");
        return EXIT_USAGE;
    }
    if (!c.model) {
        cli_error("ask: -m MODEL.gguf is required (the model that writes the answer; or \"model\" in mmpipe.json)");
        return EXIT_USAGE;
    }
    /* The generation model is checked (headers) before any retrieval: an unreadable one is fatal
     * even when nothing would be found. */
    mm_err e;
    const char *identity;
    if (model_cache_config(c.model, c.mmproj, c.threads, &e) != MM_OK || model_cache_identity(&identity, &e) != MM_OK) {
        cli_error("%s", e.msg);
        model_cache_free();
        return EXIT_FATAL;
    }
    sources s = {0};
    char *prompt = NULL, *answer = NULL;
    rc = ingest_retrieve(&c, c.args[0], 1, keep_hit, &s);
    if (rc == EXIT_OK && s.oom) {
        cli_error("out of memory");
        rc = EXIT_FATAL;
    }
    if (rc == EXIT_OK && !s.n) {
        answer = mm_asprintf("Nothing found in collection '%s' to answer from.", c.collection);
    } else if (rc == EXIT_OK) {
        const model_set *ms;
        char *raw = NULL;
        size_t n = 0;
        int n_predict = c.n_predict > 0 ? c.n_predict : ASK_N_PREDICT;
        if (!(prompt = build_prompt(&s, c.args[0]))) {
            cli_error("out of memory");
            rc = EXIT_FATAL;
        } else if (model_cache_get(&ms, &e) != MM_OK ||
                   media_generate(ms, prompt, NULL, 0, n_predict, &raw, &n, &e) != MM_OK) {
            cli_error("ask: %s", e.msg);
            rc = EXIT_FATAL;
        } else if (!(answer = clean(raw, n))) {
            cli_error("out of memory");
            rc = EXIT_FATAL;
        }
        free(raw);
    }
    if (rc == EXIT_OK && !answer) {
        cli_error("out of memory");
        rc = EXIT_FATAL;
    }
    if (rc == EXIT_OK && c.json) {
        if (print_json(&s, answer, prompt)) {
            cli_error("out of memory");
            rc = EXIT_FATAL;
        }
    } else if (rc == EXIT_OK) {
        printf("%s\n", answer);
        if (s.n) printf("\nSources:\n");
        for (size_t i = 0; i < s.n; i++) {
            char *span = span_text(&s.v[i]);
            printf("[%zu] %s%s%s\n", i + 1, s.v[i].path, span && *span ? "  " : "", span ? span : "");
            free(span);
        }
    }
    free(answer);
    free(prompt);
    sources_free(&s);
    model_cache_free();
    return rc;
}
