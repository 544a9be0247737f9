/*
 * decoders/html.c — visible text of an HTML page as blocks, through a small tolerant tokenizer
 * (no DOM, no libxml2: the text and the block structure are all ingestion needs, and tag soup
 * must never fail).
 *
 * What it does, following the HTML tokenizer where it matters:
 *   - comments (<!-- ... -->, unterminated ones run to the end), <!DOCTYPE>, <?...?> and other
 *     bogus comments are dropped; a '<' that cannot start a tag is text;
 *   - the contents of script, style, noscript, template, textarea, iframe, noembed, noframes,
 *     xmp and title are skipped up to their end tag (title becomes doc->title);
 *   - block elements end the current block; h1-h6 make headings with their level, li/dt/dd list
 *     items with the ul/ol nesting depth, pre code blocks (whitespace kept), tr table rows with
 *     cells joined by " | ", everything else paragraphs;
 *   - outside pre, whitespace runs collapse to one space; &entities; are decoded (html_entities.c);
 *   - attribute values are skipped with their quotes, so a '>' inside one does not end the tag.
 * A block's source span runs from its first text byte to the end of its last one (inline tags in
 * between included).  Nesting errors cost nothing: the state is counters, clamped at zero.
 */
#include "doc_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TITLE_MAX 4096

typedef struct html {
    const char *s;
    size_t n;
    doc_builder *b;
    int heading;    /* 1..6 inside <hN>, else 0 */
    int pre;        /* <pre> depth */
    int pre_start;  /* just after <pre>: one leading newline is dropped */
    int lists;      /* ul/ol nesting depth */
    int items;      /* open li/dt/dd */
    int row;        /* inside <tr> */
    int space;      /* a collapsed space is pending before the next text */
    int has_src;
    size_t src0, src1; /* decoded span of the open block's text */
} html;

typedef enum tag_kind {
    T_INLINE, T_BLOCK, T_HEADING, T_PRE, T_LIST, T_ITEM, T_ROW, T_CELL, T_BR, T_SKIP, T_TITLE
} tag_kind;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static int name_is(const char *nm, size_t k, const char *const *list) {
    for (; *list; list++)
        if (strlen(*list) == k && !strncasecmp(nm, *list, k)) return 1;
    return 0;
}

static tag_kind classify(const char *nm, size_t k, int *level) {
    static const char *const skip[] = {"script", "style", "noscript", "template", "textarea",
                                       "iframe", "noembed", "noframes", "xmp", NULL};
    static const char *const block[] = {
        "p", "div", "section", "article", "aside", "header", "footer", "nav", "main", "figure",
        "figcaption", "blockquote", "address", "form", "fieldset", "legend", "details", "summary",
        "body", "html", "head", "center", "dialog", "table", "thead", "tbody", "tfoot", "caption",
        "hr", "option", "hgroup", "search", "menuitem", "frameset", "object", "video", "audio", NULL};
    static const char *const list[] = {"ul", "ol", "menu", "dl", "dir", NULL};
    static const char *const item[] = {"li", "dt", "dd", NULL};
    if (k == 2 && (nm[0] == 'h' || nm[0] == 'H') && nm[1] >= '1' && nm[1] <= '6') {
        *level = nm[1] - '0';
        return T_HEADING;
    }
    if (name_is(nm, k, skip)) return T_SKIP;
    if (k == 5 && !strncasecmp(nm, "title", 5)) return T_TITLE;
    if ((k == 3 && !strncasecmp(nm, "pre", 3)) || (k == 7 && !strncasecmp(nm, "listing", 7))) return T_PRE;
    if (name_is(nm, k, list)) return T_LIST;
    if (name_is(nm, k, item)) return T_ITEM;
    if (k == 2 && !strncasecmp(nm, "tr", 2)) return T_ROW;
    if (k == 2 && (!strncasecmp(nm, "td", 2) || !strncasecmp(nm, "th", 2))) return T_CELL;
    if (k == 2 && !strncasecmp(nm, "br", 2)) return T_BR;
    if (name_is(nm, k, block)) return T_BLOCK;
    return T_INLINE;
}

/* ---- blocks --------------------------------------------------------------------------------- */

static mm_code flush(html *h) {
    doc_builder *b = h->b;
    db_rtrim(b); /* code keeps its leading indentation; trailing newlines go */
    mm_block_type t = MM_BLOCK_PARAGRAPH;
    int level = 0;
    if (h->heading) t = MM_BLOCK_HEADING, level = h->heading;
    else if (h->pre) t = MM_BLOCK_CODE;
    else if (h->row) t = MM_BLOCK_TABLE_ROW;
    else if (h->items) t = MM_BLOCK_LIST_ITEM, level = h->lists > 0 ? h->lists : 1;
    size_t a = h->has_src ? h->src0 : 0, z = h->has_src ? h->src1 : 0;
    mm_code c = db_end(b, t, level, 0, a, z - a);
    h->space = 0;
    h->has_src = 0;
    return c;
}

static void mark_src(html *h, size_t a, size_t z) {
    if (!h->has_src) h->src0 = a, h->has_src = 1;
    h->src1 = z;
}

/* Appends visible bytes [a, z) of the source (or the decoded entity in rep). */
static mm_code put_text(html *h, const char *p, size_t k, size_t a, size_t z) {
    doc_builder *b = h->b;
    if (h->space && db_open_len(b) && db_last(b) != '\n' && db_putc(b, ' ')) return b->failed;
    h->space = 0;
    h->pre_start = 0;
    mark_src(h, a, z);
    return db_append(b, p, k);
}

/* Text between tags, [i, end). */
static mm_code text_run(html *h, size_t i, size_t end) {
    const char *s = h->s;
    while (i < end) {
        char c = s[i];
        if (c == '&') {
            char rep[8];
            size_t rl = 0, k = doc_entity_decode(s + i, end - i, rep, &rl);
            if (!k) k = 1, rep[0] = '&', rl = 1;
            if (!h->pre && rl == 2 && (unsigned char)rep[0] == 0xC2 && (unsigned char)rep[1] == 0xA0) {
                h->space = 1; /* &nbsp; reads as a space in extracted text */
            } else if (put_text(h, rep, rl, i, i + k)) return h->b->failed;
            i += k;
            continue;
        }
        if (h->pre) {
            size_t j = i;
            while (j < end && s[j] != '&' && s[j] != '\r') j++;
            size_t a = i;
            if (h->pre_start && s[a] == '\n') a++;
            h->pre_start = 0;
            if (a < j && put_text(h, s + a, j - a, a, j)) return h->b->failed;
            i = j < end && s[j] == '\r' ? j + 1 : j; /* \r\n -> \n, a lone \r dropped */
            continue;
        }
        if (is_space(c)) {
            while (i < end && is_space(s[i])) i++;
            h->space = 1;
            continue;
        }
        size_t j = i;
        while (j < end && s[j] != '&' && !is_space(s[j])) j++;
        if (put_text(h, s + i, j - i, i, j)) return h->b->failed;
        i = j;
    }
    return MM_OK;
}

/* ---- tokenizer ------------------------------------------------------------------------------ */

static size_t find(const char *s, size_t n, size_t i, const char *needle) {
    size_t k = strlen(needle);
    for (; i + k <= n; i++)
        if (s[i] == needle[0] && !memcmp(s + i, needle, k)) return i;
    return n;
}

/* Skips a tag's attributes from i; returns the index after '>' (n at the end of input).
 * *self gets 1 for "/>". */
static size_t skip_attrs(const char *s, size_t n, size_t i, int *self) {
    *self = 0;
    while (i < n) {
        char c = s[i];
        if (c == '>') return i + 1;
        if (c == '/') {
            *self = i + 1 < n && s[i + 1] == '>';
            i++;
            continue;
        }
        if (is_space(c)) {
            i++;
            continue;
        }
        while (i < n && !is_space(s[i]) && s[i] != '>' && s[i] != '/' && s[i] != '=') i++;
        size_t j = i;
        while (j < n && is_space(s[j])) j++;
        if (j < n && s[j] == '=') {
            j++;
            while (j < n && is_space(s[j])) j++;
            if (j < n && (s[j] == '"' || s[j] == '\'')) {
                char q = s[j];
                j++;
                while (j < n && s[j] != q) j++;
                j = j < n ? j + 1 : n;
            } else {
                while (j < n && !is_space(s[j]) && s[j] != '>') j++;
            }
            i = j;
        } else if (i < n && s[i] == '=') {
            i++; /* "=" with no name: skip it */
        }
    }
    return n;
}

/* Index of "</name" (followed by space, '/' or '>') at or after i, or n. */
static size_t find_end_tag(const char *s, size_t n, size_t i, const char *nm, size_t k) {
    for (; i + 2 + k <= n; i++) {
        if (s[i] != '<' || s[i + 1] != '/' || strncasecmp(s + i + 2, nm, k)) continue;
        if (i + 2 + k == n || is_space(s[i + 2 + k]) || s[i + 2 + k] == '/' || s[i + 2 + k] == '>')
            return i;
    }
    return n;
}

static void set_title(html *h, size_t a, size_t z) {
    doc_builder *b = h->b;
    if (b->title) return;
    char *t = malloc(TITLE_MAX + 8);
    if (!t) return; /* the title is optional */
    size_t w = 0;
    int sp = 0;
    for (size_t i = a; i < z && w < TITLE_MAX;) {
        char rep[8];
        size_t rl = 0, k = h->s[i] == '&' ? doc_entity_decode(h->s + i, z - i, rep, &rl) : 0;
        if (!k) k = 1, rep[0] = h->s[i], rl = 1;
        i += k;
        if (rl == 1 && is_space(rep[0])) {
            sp = w > 0;
            continue;
        }
        if (sp) t[w++] = ' ';
        sp = 0;
        memcpy(t + w, rep, rl);
        w += rl;
    }
    t[w] = 0;
    if (w && mm_utf8_valid(t, w)) b->title = t;
    else free(t);
}

/* Applies a start (end == 0) or end tag to the block state. */
static mm_code apply_tag(html *h, tag_kind kind, int level, int end) {
    doc_builder *b = h->b;
    switch (kind) {
    case T_INLINE: return MM_OK;
    case T_BR:
        h->space = 0;
        if (h->pre) return db_putc(b, '\n');
        if (db_open_len(b) && db_last(b) != '\n') return db_putc(b, '\n');
        return MM_OK;
    case T_CELL:
        if (!h->row) return flush(h);
        if (!end && db_open_len(b)) {
            db_rtrim(b);
            h->space = 0;
            return db_append(b, " | ", 3);
        }
        return MM_OK;
    default: break;
    }
    mm_code c = flush(h);
    if (c) return c;
    switch (kind) {
    case T_HEADING: h->heading = end ? 0 : level; break;
    case T_PRE:
        h->pre = end ? (h->pre > 0 ? h->pre - 1 : 0) : h->pre + 1;
        h->pre_start = !end;
        break;
    case T_LIST:
        h->lists = end ? (h->lists > 0 ? h->lists - 1 : 0) : h->lists + 1;
        if (end && h->items > h->lists) h->items = h->lists;
        break;
    case T_ITEM: h->items = end ? (h->items > 0 ? h->items - 1 : 0) : h->items + 1; break;
    case T_ROW: h->row = !end; break;
    default: break;
    }
    return MM_OK;
}

/* A tag at s[i] == '<'; returns the index after it (i + 1 when '<' is just text, *text = 1). */
static size_t tag(html *h, size_t i, int *text, mm_code *c) {
    const char *s = h->s;
    size_t n = h->n;
    *text = 0;
    if (i + 1 >= n) return *text = 1, i + 1;
    char c1 = s[i + 1];
    if (c1 == '!' && i + 3 < n && s[i + 2] == '-' && s[i + 3] == '-') {
        size_t e = find(s, n, i + 2, "-->");
        return e < n ? e + 3 : n;
    }
    if (c1 == '!' || c1 == '?' || (c1 == '/' && i + 2 < n && !is_alpha(s[i + 2]))) {
        size_t e = find(s, n, i + 2, ">");
        return e < n ? e + 1 : n;
    }
    int end = c1 == '/';
    size_t a = i + 1 + end, z = a;
    if (z >= n || !is_alpha(s[z])) return *text = 1, i + 1;
    while (z < n && !is_space(s[z]) && s[z] != '/' && s[z] != '>') z++;
    int self, level = 0;
    size_t after = skip_attrs(s, n, z, &self);
    tag_kind k = classify(s + a, z - a, &level);
    if (!end && (k == T_SKIP || k == T_TITLE) && !self) {
        size_t e = find_end_tag(s, n, after, s + a, z - a);
        if (k == T_TITLE) set_title(h, after, e);
        if (e >= n) return n;
        return skip_attrs(s, n, e + 2 + (z - a), &self);
    }
    if (k == T_SKIP || k == T_TITLE) return after;
    *c = apply_tag(h, k, level, end);
    if (!*c && self && !end && k != T_BR && k != T_CELL && k != T_INLINE) *c = apply_tag(h, k, level, 1);
    return after;
}

mm_code doc_parse_html(const doc_text *t, doc_builder *b) {
    html h = {.s = t->text, .n = t->len, .b = b};
    size_t i = 0;
    while (i < h.n) {
        size_t j = i;
        while (j < h.n && h.s[j] != '<') j++;
        if (j > i && text_run(&h, i, j)) return b->failed;
        if (j >= h.n) break;
        int text;
        mm_code c = MM_OK;
        size_t next = tag(&h, j, &text, &c);
        if (c) return c;
        if (text && put_text(&h, "<", 1, j, j + 1)) return b->failed;
        i = next;
    }
    return flush(&h);
}
