/*
 * engine/chat.c — the chat formats of the Gemma families built in C from a
 * message list (spec §3.1; thinking off by default), so a prompt needs no Jinja:
 *   Gemma 4: <bos><|turn>system\n...<turn|>\n<|turn>user\n...<turn|>\n<|turn>model\n
 *            (+ "<|channel>thought\n<channel|>" when thinking is off)
 *   Gemma 3: <bos><start_of_turn>user\n{system\n\n}{text}<end_of_turn>\n<start_of_turn>model\n
 * The text returned starts with "<bos>"; tokenize it with special parsing on and
 * without adding BOS (or strip it and let the tokenizer add it).
 */
#include "engine_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef struct sbuf { char *p; size_t n, cap; int oom; } sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* content | trim */
static void put_trim(sbuf *b, const char *s) {
    size_t n = strlen(s);
    while (n && isspace((unsigned char)*s)) { s++; n--; }
    while (n && isspace((unsigned char)s[n - 1])) n--;
    put(b, s, n);
}

mm_code mm_chat_format(const mm_model *m, const mm_chat_msg *msgs, int n, int add_generation_prompt,
                       int thinking, char **out, mm_err *e) {
    *out = NULL;
    sbuf b = {0};
    int first = 0;
    const char *system = n > 0 && !strcmp(msgs[0].role, "system") ? msgs[0].content : NULL;
    if (system) first = 1;
    if (m->arch == MM_ARCH_GEMMA4) {
        puts_(&b, "<bos>");
        if (thinking || system) {
            puts_(&b, "<|turn>system\n");
            if (thinking) puts_(&b, "<|think|>\n");
            if (system) put_trim(&b, system);
            puts_(&b, "<turn|>\n");
        }
        for (int i = first; i < n; i++) {
            const char *role = !strcmp(msgs[i].role, "assistant") ? "model" : msgs[i].role;
            puts_(&b, "<|turn>");
            puts_(&b, role);
            puts_(&b, "\n");
            put_trim(&b, msgs[i].content);
            puts_(&b, "<turn|>\n");
        }
        if (add_generation_prompt) {
            puts_(&b, "<|turn>model\n");
            if (!thinking) puts_(&b, "<|channel>thought\n<channel|>");
        }
    } else if (m->arch == MM_ARCH_GEMMA3 || m->arch == MM_ARCH_GEMMA_EMBED) {
        puts_(&b, "<bos>");
        for (int i = first; i < n; i++) {
            const char *role = !strcmp(msgs[i].role, "assistant") ? "model" : msgs[i].role;
            puts_(&b, "<start_of_turn>");
            puts_(&b, role);
            puts_(&b, "\n");
            if (i == first && system) {
                put_trim(&b, system);
                puts_(&b, "\n\n");
            }
            put_trim(&b, msgs[i].content);
            puts_(&b, "<end_of_turn>\n");
        }
        if (add_generation_prompt) puts_(&b, "<start_of_turn>model\n");
    } else {
        return mm_err_set(e, MM_EUNSUPPORTED, "chat: no built-in chat format for architecture %s", m->arch_name);
    }
    if (b.oom) {
        free(b.p);
        return mm_err_set(e, MM_ENOMEM, "out of memory");
    }
    *out = b.p ? b.p : mm_strdup("");
    return *out ? MM_OK : mm_err_set(e, MM_ENOMEM, "out of memory");
}
