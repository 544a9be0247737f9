/*
 * decoders/doc.c — the documents API of decoders.h: options and limits, format detection (magic
 * first, then extension), bounded file reading, the block builder every parser writes through,
 * and the map from decoded-text positions back to file offsets.  The parsers themselves live in
 * text_decode.c (encodings, plain text), markdown.c, html.c and pdf.c.
 */
#include "doc_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEF_MAX_FILE (256ull << 20)
#define DEF_MAX_TEXT ((size_t)256 << 20)
#define DEF_MAX_BLOCKS ((size_t)2000000)
#define DEF_MAX_PAGES 10000
#define DEF_MAX_SECONDS 300.0

/* The public mm_doc plus what it owns; mm_doc is first so the pointers convert. */
typedef struct doc_impl {
    mm_doc pub;
    char *arena;
    char *title;
} doc_impl;

static mm_doc_opts opts_resolve(const mm_doc_opts *in) {
    mm_doc_opts o = in ? *in : (mm_doc_opts){0};
    if (!o.max_file_bytes) o.max_file_bytes = DEF_MAX_FILE;
    if (!o.max_text_bytes) o.max_text_bytes = DEF_MAX_TEXT;
    if (!o.max_blocks) o.max_blocks = DEF_MAX_BLOCKS;
    if (o.max_pages <= 0) o.max_pages = DEF_MAX_PAGES;
    if (!(o.max_seconds > 0)) o.max_seconds = DEF_MAX_SECONDS;
    return o;
}

const char *mm_doc_format_name(mm_doc_format f) {
    switch (f) {
    case MM_DOC_TEXT: return "text";
    case MM_DOC_MARKDOWN: return "markdown";
    case MM_DOC_HTML: return "html";
    case MM_DOC_PDF: return "pdf";
    default: return "auto";
    }
}

const char *mm_block_type_name(mm_block_type t) {
    switch (t) {
    case MM_BLOCK_HEADING: return "heading";
    case MM_BLOCK_PARAGRAPH: return "paragraph";
    case MM_BLOCK_LIST_ITEM: return "list_item";
    case MM_BLOCK_CODE: return "code";
    case MM_BLOCK_TABLE_ROW: return "table_row";
    case MM_BLOCK_PAGE_BREAK: return "page_break";
    }
    return "?";
}

/* ---- detection ------------------------------------------------------------------------------ */

static const char *extension(const char *name) {
    if (!name) return "";
    const char *slash = strrchr(name, '/'), *dot = strrchr(name, '.');
    if (!dot || (slash && dot < slash)) return "";
    return dot + 1;
}

/* Case-insensitive search for a short ASCII needle in s[0..n). */
static int has_ci(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!strncasecmp(s + i, needle, k)) return 1;
    return 0;
}

mm_doc_format mm_doc_detect(const void *buf, size_t len, const char *name) {
    const char *s = buf;
    size_t head = len < 1024 ? len : 1024;
    /* PDF readers accept junk before the header within the first kilobyte. */
    for (size_t i = 0; i + 5 <= head; i++)
        if (!memcmp(s + i, "%PDF-", 5)) return MM_DOC_PDF;
    size_t i = 0;
    if (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) i = 3;
    while (i < head && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) i++;
    if (i < head && s[i] == '<' &&
        (has_ci(s + i, head - i, "<!doctype html") || has_ci(s + i, head - i, "<html") ||
         has_ci(s + i, head - i, "<head") || has_ci(s + i, head - i, "<body")))
        return MM_DOC_HTML;
    const char *x = extension(name);
    if (!strcasecmp(x, "pdf")) return MM_DOC_PDF;
    if (!strcasecmp(x, "html") || !strcasecmp(x, "htm") || !strcasecmp(x, "xhtml")) return MM_DOC_HTML;
    if (!strcasecmp(x, "md") || !strcasecmp(x, "markdown") || !strcasecmp(x, "mdown") ||
        !strcasecmp(x, "mkd"))
        return MM_DOC_MARKDOWN;
    return MM_DOC_TEXT;
}

/* ---- the block builder ---------------------------------------------------------------------- */

static mm_code db_fail(doc_builder *b, mm_code c, const char *what, size_t limit) {
    if (!b->failed)
        b->failed = mm_err_set(b->e, c, "%s: %s (limit %zu)", b->name, what, limit);
    return b->failed;
}

mm_code db_append(doc_builder *b, const char *s, size_t n) {
    if (b->failed) return b->failed;
    if (!n) return MM_OK; /* s may be NULL then (an empty scratch buffer) */
    if (n > b->max_text - b->len || b->len > b->max_text)
        return db_fail(b, MM_ELIMIT, "text longer than the output limit", b->max_text);
    /* Invariant: cap > len, so every block's text can be NUL-terminated in place. */
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n + 1) nc *= 2;
        char *na = realloc(b->arena, nc);
        if (!na) return db_fail(b, MM_ENOMEM, "out of memory for text", b->len + n);
        b->arena = na;
        b->cap = nc;
    }
    memcpy(b->arena + b->len, s, n);
    b->len += n;
    return MM_OK;
}

size_t db_open_len(const doc_builder *b) { return b->len - b->open; }

char db_last(const doc_builder *b) { return b->len > b->open ? b->arena[b->len - 1] : 0; }

void db_rtrim(doc_builder *b) {
    while (b->len > b->open) {
        char c = b->arena[b->len - 1];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') break;
        b->len--;
    }
}

void db_discard(doc_builder *b) { b->len = b->open; }

static mm_code db_grow_blocks(doc_builder *b) {
    size_t nc = b->bcap ? b->bcap * 2 : 64;
    mm_doc_block *nb = realloc(b->blocks, nc * sizeof *nb);
    if (!nb) return db_fail(b, MM_ENOMEM, "out of memory for blocks", nc);
    b->blocks = nb;
    size_t *no = realloc(b->text_off, nc * sizeof *no);
    if (!no) return db_fail(b, MM_ENOMEM, "out of memory for blocks", nc);
    b->text_off = no;
    b->bcap = nc;
    return MM_OK;
}

mm_code db_end(doc_builder *b, mm_block_type type, int level, int page, uint64_t off, uint64_t len) {
    if (b->failed) return b->failed;
    if (b->len == b->open && type != MM_BLOCK_PAGE_BREAK) return MM_OK;
    if (b->n >= b->max_blocks) return db_fail(b, MM_ELIMIT, "more blocks than the limit", b->max_blocks);
    if (b->n == b->bcap && db_grow_blocks(b)) return b->failed;
    mm_code c = db_append(b, "", 1); /* the NUL, counted in the arena, not in text_len */
    if (c) return c;
    b->text_off[b->n] = b->open;
    b->blocks[b->n] = (mm_doc_block){type, level, page, off, len, NULL, b->len - 1 - b->open};
    b->n++;
    b->open = b->len;
    return MM_OK;
}

static void db_free(doc_builder *b) {
    free(b->arena);
    free(b->blocks);
    free(b->text_off);
    free(b->title);
}

/* ---- decoded position -> file offset -------------------------------------------------------- */

static void map_offsets(doc_builder *b, const doc_text *t) {
    doc_map m = {t, 0, 0};
    for (size_t i = 0; i < b->n; i++) {
        mm_doc_block *k = &b->blocks[i];
        if (k->type == MM_BLOCK_PAGE_BREAK) continue;
        uint64_t s = doc_map_pos(&m, (size_t)k->offset);
        uint64_t end = doc_map_pos(&m, (size_t)(k->offset + k->length));
        k->offset = s;
        k->length = end - s;
    }
}

/* ---- entry points --------------------------------------------------------------------------- */

static mm_code finish(doc_builder *b, mm_doc_format f, mm_doc **out) {
    doc_impl *d = calloc(1, sizeof *d);
    if (!d) return mm_err_set(b->e, MM_ENOMEM, "%s: out of memory", b->name);
    for (size_t i = 0; i < b->n; i++) {
        b->blocks[i].text = b->arena + b->text_off[i];
        d->pub.text_bytes += b->blocks[i].text_len;
    }
    d->pub.format = f;
    d->pub.n_blocks = b->n;
    d->pub.blocks = b->blocks;
    d->pub.title = b->title;
    d->arena = b->arena;
    d->title = b->title;
    free(b->text_off);
    *out = &d->pub;
    return MM_OK;
}

static const char *enc_name(doc_enc enc) {
    switch (enc) {
    case DOC_ENC_UTF16LE: return "utf-16le";
    case DOC_ENC_UTF16BE: return "utf-16be";
    case DOC_ENC_CP1252: return "windows-1252";
    default: return "utf-8"; /* also DOC_ENC_UTF8_FIXED */
    }
}

static mm_code parse_textual(const char *buf, size_t len, mm_doc_format f, const mm_doc_opts *o,
                             doc_builder *b, mm_doc *hdr) {
    doc_text t;
    mm_code c = doc_decode_text(buf, len, b->name, o->reject_legacy, &t, b->e);
    if (c) return c;
    c = f == MM_DOC_MARKDOWN ? doc_parse_markdown(&t, b)
        : f == MM_DOC_HTML   ? doc_parse_html(&t, b)
                             : doc_parse_plain(&t, b);
    if (!c) c = b->failed;
    if (!c) map_offsets(b, &t);
    hdr->encoding = enc_name(t.enc);
    /* A UTF-8 file with stray invalid bytes is still "utf-8", but it was changed. */
    hdr->flags = t.enc == DOC_ENC_UTF8 ? 0 : MM_DOC_CONVERTED;
    doc_text_free(&t);
    return c;
}

mm_code mm_doc_parse_mem(const void *buf, size_t len, const char *name, mm_doc_format hint,
                         const mm_doc_opts *opts, mm_doc **out, mm_err *e) {
    *out = NULL;
    if (!name) name = "(memory)";
    if (!buf && len) return mm_err_set(e, MM_EINVAL, "%s: no buffer", name);
    mm_doc_opts o = opts_resolve(opts);
    if (len > o.max_file_bytes)
        return mm_err_set(e, MM_ELIMIT, "%s: too large (%zu bytes, limit %llu)", name, len,
                          (unsigned long long)o.max_file_bytes);
    mm_doc_format f = hint == MM_DOC_AUTO ? mm_doc_detect(buf, len, name) : hint;
    doc_builder b = {.max_text = o.max_text_bytes, .max_blocks = o.max_blocks, .name = name, .e = e};
    mm_doc hdr = {0};
    mm_code c = f == MM_DOC_PDF ? doc_parse_pdf(buf, len, &o, &b, &hdr)
                                : parse_textual(buf ? buf : "", len, f, &o, &b, &hdr);
    if (!c) c = b.failed;
    if (!c) c = finish(&b, f, out);
    if (c) {
        db_free(&b);
        return c;
    }
    (*out)->encoding = hdr.encoding;
    (*out)->flags = hdr.flags;
    (*out)->n_pages = hdr.n_pages;
    return MM_OK;
}

mm_code mm_doc_load(const char *path, const mm_doc_opts *opts, mm_doc **out, mm_err *e) {
    *out = NULL;
    mm_doc_opts o = opts_resolve(opts);
    char *buf = NULL;
    size_t n = 0;
    mm_code c = mm_read_file(path, (size_t)o.max_file_bytes, &buf, &n, e);
    if (c) return c;
    c = mm_doc_parse_mem(buf, n, path, MM_DOC_AUTO, &o, out, e);
    free(buf);
    return c;
}

void mm_doc_free(mm_doc *doc) {
    if (!doc) return;
    doc_impl *d = (doc_impl *)doc;
    free(d->arena);
    free(d->title);
    free(d->pub.blocks);
    free(d);
}
