/*
 * tests/tokenizer/test_tokenizer_cases.c — the tokenizers against llama.cpp's own outputs in
 * ../shared/fixtures: every item of cases/tokenize-*-real.json (real Gemma 4 BPE and Llama SPM
 * vocabularies) and the prompt_tokens of every cases/text-*.json (the tiny models' own
 * vocabularies) must match id for id.  Also checks detokenize(tokenize(x)) == x on the corpus
 * where llama.cpp guarantees it, and times vocabulary loading and the corpus.
 *   usage: test_tokenizer_cases SHARED_DIR
 */
#include <dirent.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "tok_test.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static cJSON *read_json(const char *path) {
    char *s = tok_read_file(path, NULL);
    if (!s) return NULL;
    cJSON *j = cJSON_Parse(s);
    free(s);
    return j;
}

/* Compares ids with the JSON array want; prints the first mismatch.  Returns 1 if equal. */
static int same_ids(const char *label, const char *text, const int32_t *ids, size_t n, const cJSON *want) {
    size_t nw = (size_t)cJSON_GetArraySize(want);
    size_t i = 0;
    const cJSON *w = want ? want->child : NULL;
    for (; i < n && w; i++, w = w->next)
        if (!cJSON_IsNumber(w) || (int32_t)w->valuedouble != ids[i]) break;
    if (i == n && i == nw) return 1;
    fprintf(stderr, "MISMATCH %s at index %zu (got %zu ids, want %zu): got %d, want %d; text ", label, i, n, nw,
            i < n ? ids[i] : -1, w && cJSON_IsNumber(w) ? (int)w->valuedouble : -1);
    tok_print_bytes(stderr, text, strlen(text), 200);
    fputc('\n', stderr);
    return 0;
}

/* detokenize(tokenize(x, no BOS), remove_special, unparse_special) == x holds in llama.cpp
 * when x is valid UTF-8 (gemma4 replaces invalid bytes), no special token was split out (SPM adds
 * a space prefix after one) and, for gemma4, no clean_spaces pattern occurs. */
static int roundtrip_expected(const mm_tokenizer *t, const char *x, const int32_t *ids, size_t n) {
    if (!mm_utf8_valid(x, strlen(x))) return 0;
    for (size_t i = 0; i < n; i++) {
        if (mm_token_attr(t, ids[i]) & (MM_TOKEN_ATTR_CONTROL | MM_TOKEN_ATTR_UNKNOWN | MM_TOKEN_ATTR_USER_DEFINED)) return 0;
    }
    if (mm_tokenizer_kind(t) == MM_TOK_BPE_GEMMA4) {
        for (const char *p = x; *p; p++)
            if (p[0] == ' ' && (p[1] == '?' || p[1] == '!' || p[1] == '.' || p[1] == ',' || p[1] == '\'')) return 0;
    }
    return 1;
}

static void run_tokenize_case(const char *fixtures, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cases/%s", fixtures, name);
    cJSON *j = read_json(path);
    CHECK(j != NULL, "cannot read %s", path);
    if (!j) return;
    const cJSON *model = cJSON_GetObjectItem(j, "model");
    const cJSON *items = cJSON_GetObjectItem(j, "tokenize");
    CHECK(cJSON_IsString(model) && cJSON_IsArray(items), "%s: no model / tokenize", name);
    if (!cJSON_IsString(model) || !cJSON_IsArray(items)) goto out;
    snprintf(path, sizeof path, "%s/%s", fixtures, model->valuestring);
    mm_gguf *g;
    double t0 = now_s();
    mm_tokenizer *t = tok_open_path(path, &g);
    double t_load = now_s() - t0;
    CHECK(t != NULL, "cannot open the tokenizer of %s", path);
    if (!t) goto out;
    int n_items = 0, n_pass = 0, n_rt = 0, n_rt_ok = 0;
    double t_tok = 0;
    for (const cJSON *it = items->child; it; it = it->next, n_items++) {
        const cJSON *text = cJSON_GetObjectItem(it, "text");
        int special = cJSON_IsTrue(cJSON_GetObjectItem(it, "special"));
        int add_bos = cJSON_IsTrue(cJSON_GetObjectItem(it, "add_bos"));
        const char *x = cJSON_IsString(text) ? text->valuestring : "";
        int32_t *ids = NULL;
        size_t n = 0;
        mm_err e = {0};
        double t1 = now_s();
        mm_code rc = mm_tokenize(t, x, strlen(x), add_bos, special, &ids, &n, &e);
        t_tok += now_s() - t1;
        CHECK(rc == MM_OK, "%s item %d: %s", name, n_items, e.msg);
        char label[128];
        snprintf(label, sizeof label, "%s item %d (special=%d add_bos=%d)", name, n_items, special, add_bos);
        if (rc == MM_OK && same_ids(label, x, ids, n, cJSON_GetObjectItem(it, "ids"))) n_pass++;
        /* round trip without BOS: llama_detokenize keeps SPM's prefix space when it removes a BOS */
        int32_t *ids2 = NULL;
        size_t n2 = 0;
        if (rc == MM_OK && mm_tokenize(t, x, strlen(x), 0, special, &ids2, &n2, &e) == MM_OK &&
            roundtrip_expected(t, x, ids2, n2)) {
            char *back = NULL;
            size_t nb = 0;
            n_rt++;
            if (mm_detokenize(t, ids2, n2, 1, 1, &back, &nb, &e) == MM_OK && nb == strlen(x) && memcmp(back, x, nb) == 0) {
                n_rt_ok++;
            } else {
                fprintf(stderr, "ROUNDTRIP %s: ", label);
                tok_print_bytes(stderr, x, strlen(x), 120);
                fputs(" -> ", stderr);
                tok_print_bytes(stderr, back ? back : "", nb, 120);
                fputc('\n', stderr);
            }
            free(back);
        }
        free(ids2);
        free(ids);
    }
    printf("%s: %d/%d items identical; round trip %d/%d; vocab %d tokens loaded in %.3f s; corpus in %.3f s\n",
           name, n_pass, n_items, n_rt_ok, n_rt, mm_tokenizer_n_vocab(t), t_load, t_tok);
    CHECK(n_pass == n_items, "%s: %d of %d items differ", name, n_items - n_pass, n_items);
    CHECK(n_rt_ok == n_rt && n_rt > n_items / 4, "%s: round trip %d/%d", name, n_rt_ok, n_rt);
    mm_tokenizer_close(t);
    mm_gguf_close(g);
out:
    cJSON_Delete(j);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void run_text_cases(const char *fixtures) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cases", fixtures);
    DIR *d = opendir(path);
    CHECK(d != NULL, "cannot list %s", path);
    if (!d) return;
    char *names[1024];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(d)) && nn < 1024) {
        size_t l = strlen(de->d_name);
        if (strncmp(de->d_name, "text-", 5) == 0 && l > 5 && strcmp(de->d_name + l - 5, ".json") == 0)
            names[nn++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof names[0], cmp_str);
    int pass = 0;
    for (size_t i = 0; i < nn; i++) {
        snprintf(path, sizeof path, "%s/cases/%s", fixtures, names[i]);
        cJSON *j = read_json(path);
        const cJSON *model = j ? cJSON_GetObjectItem(j, "model") : NULL;
        const cJSON *prompt = j ? cJSON_GetObjectItem(j, "prompt") : NULL;
        const cJSON *want = j ? cJSON_GetObjectItem(j, "prompt_tokens") : NULL;
        CHECK(cJSON_IsString(model) && cJSON_IsString(prompt) && cJSON_IsArray(want), "%s: bad case", names[i]);
        if (cJSON_IsString(model) && cJSON_IsString(prompt) && cJSON_IsArray(want)) {
            snprintf(path, sizeof path, "%s/%s", fixtures, model->valuestring);
            mm_gguf *g;
            mm_tokenizer *t = tok_open_path(path, &g);
            CHECK(t != NULL, "%s: cannot open the tokenizer of %s", names[i], path);
            if (t) {
                int32_t *ids = NULL;
                size_t n = 0;
                mm_err e = {0};
                const char *x = prompt->valuestring;
                mm_code rc = mm_tokenize(t, x, strlen(x), cJSON_IsTrue(cJSON_GetObjectItem(j, "add_bos")),
                                         cJSON_IsTrue(cJSON_GetObjectItem(j, "special")), &ids, &n, &e);
                CHECK(rc == MM_OK, "%s: %s", names[i], e.msg);
                if (rc == MM_OK && same_ids(names[i], x, ids, n, want)) pass++;
                else g_fail++;
                free(ids);
                mm_tokenizer_close(t);
                mm_gguf_close(g);
            }
        }
        cJSON_Delete(j);
        free(names[i]);
    }
    printf("text cases: %d/%zu prompt_tokens identical\n", pass, nn);
    CHECK(nn > 0, "no text-*.json cases found");
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : "../shared";
    char fixtures[2048];
    snprintf(fixtures, sizeof fixtures, "%s/fixtures", shared);
    if (!tok_is_dir(fixtures)) {
        printf("SKIP: %s not found (the fixtures live in ../shared beside the checkout)\n", fixtures);
        return 77;
    }
    run_tokenize_case(fixtures, "tokenize-gemma4-real.json");
    run_tokenize_case(fixtures, "tokenize-llama-spm-real.json");
    run_text_cases(fixtures);
    if (g_fail) fprintf(stderr, "test_tokenizer_cases: %d check(s) FAILED\n", g_fail);
    else printf("test_tokenizer_cases: all checks passed\n");
    return g_fail ? 1 : 0;
}
