/*
 * decoders/markdown.c — Markdown (CommonMark plus the GFM tables people write) into blocks, with
 * the markup stripped: what ingestion needs is the text and its structure, not HTML.
 *
 * Blocks, line by line: ATX (# ...) and setext (=== / ---) headings with their level; paragraphs
 * (lines joined by one space); list items (-, *, +, 1., 1)) with their nesting depth, continued by
 * lazy lines and, after a blank line, by lines indented to the item's content; fenced (``` / ~~~)
 * and indented code kept verbatim; GFM table rows with cells joined by " | " (the delimiter row is
 * dropped); thematic breaks, link reference definitions, HTML comments and YAML front matter are
 * dropped; '>' quote markers are stripped and the quoted lines parsed as usual.
 * Inline: [text](url) and [text][ref] become text, ![alt](src) its alt text, <autolinks> their
 * URL, inline HTML tags vanish, `code` keeps its content, emphasis markers (* _ ~~) that pair up
 * are removed (unpaired ones stay), backslash escapes and &entities; are decoded.
 * Every scan is bounded or memoised, so the parser stays linear on hostile input.
 * Spans: whole source lines, markup included (a fenced block's span includes its fences).
 */
#include "doc_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LIST_DEPTH 16
#define MAX_BRACKETS 64
#define MAX_CODE_RUN 32

typedef enum leaf { L_NONE, L_PARA, L_ITEM, L_FENCE, L_ICODE, L_COMMENT } leaf;

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

typedef struct md {
    const char *s;
    size_t n;
    doc_builder *b;
    leaf leaf;
    size_t span0, span1;  /* decoded span of the open block */
    buf text;             /* the open block's raw lines ('\n'-joined), inline markup still in */
    int item_level;
    char fch;             /* fence character and length, indentation of the opening fence */
    size_t flen, findent;
    size_t icode_end;     /* end of the last non-blank line of an indented code block */
    struct { size_t mind, cind; } st[MAX_LIST_DEPTH]; /* open list items: marker, content cols */
    int depth;
    buf out;              /* inline output scratch */
    mm_code failed;
} md;

static int sp(char c) { return c == ' ' || c == '\t'; }

static mm_code buf_add(md *m, buf *b, const char *s, size_t n) {
    if (!n && b->p) return MM_OK;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) return m->failed = mm_err_set(m->b->e, MM_ENOMEM, "%s: out of memory", m->b->name);
        b->p = np;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    return MM_OK;
}

/* ---- inline --------------------------------------------------------------------------------- */

typedef struct delim {
    size_t pos, len; /* in out */
    char ch;
    int open, close;
} delim;

static int is_punct(unsigned char c) {
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}
static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

/* CommonMark flanking rules for a delimiter run s[i, i+k). */
static void flanking(const char *s, size_t n, size_t i, size_t k, char ch, int *open, int *close) {
    unsigned char prev = i ? (unsigned char)s[i - 1] : ' ', next = i + k < n ? (unsigned char)s[i + k] : ' ';
    int left = !is_ws(next) && (!is_punct(next) || is_ws(prev) || is_punct(prev));
    int right = !is_ws(prev) && (!is_punct(prev) || is_ws(next) || is_punct(next));
    if (ch == '_') {
        *open = left && (!right || is_punct(prev));
        *close = right && (!left || is_punct(next));
    } else {
        *open = left;
        *close = right;
    }
}

/* Pairs delimiter runs (a bounded look down the opener stack) and blanks the matched markers with
 * NUL bytes, which the copy out skips (NUL never occurs in decoded text: it is refused as binary). */
static void match_delims(char *out, delim *d, size_t nd) {
    size_t *stack = malloc((nd ? nd : 1) * sizeof *stack), top = 0;
    if (!stack) return; /* markers then stay: harmless */
    for (size_t i = 0; i < nd; i++) {
        int matched = 0;
        if (d[i].close) {
            for (size_t k = top, steps = 0; k > 0 && steps < 32; k--, steps++) {
                delim *o = &d[stack[k - 1]];
                if (o->ch != d[i].ch || (o->ch == '~' && o->len != d[i].len)) continue;
                size_t m = o->len < d[i].len ? o->len : d[i].len;
                memset(out + o->pos + o->len - m, 0, m);
                memset(out + d[i].pos, 0, m);
                top = k - 1;
                matched = 1;
                break;
            }
        }
        if (!matched && d[i].open) stack[top++] = i;
    }
    free(stack);
}

typedef struct inl {
    md *m;
    const char *s;
    size_t n;
    delim *d;
    size_t nd, dcap;
    struct { size_t out; int image; } br[MAX_BRACKETS]; /* open '[' in out */
    int nbr;
    size_t code_fail[MAX_CODE_RUN + 1]; /* no closing run of this length at or after here */
} inl;

static mm_code emit(inl *x, const char *p, size_t k) { return buf_add(x->m, &x->m->out, p, k); }

static mm_code add_delim(inl *x, size_t i, size_t k, char ch) {
    if (x->nd == x->dcap) {
        size_t nc = x->dcap ? x->dcap * 2 : 32;
        delim *nd = realloc(x->d, nc * sizeof *nd);
        if (!nd) return x->m->failed = mm_err_set(x->m->b->e, MM_ENOMEM, "%s: out of memory", x->m->b->name);
        x->d = nd;
        x->dcap = nc;
    }
    delim *d = &x->d[x->nd++];
    d->pos = x->m->out.n;
    d->len = k;
    d->ch = ch;
    flanking(x->s, x->n, i, k, ch, &d->open, &d->close);
    return emit(x, x->s + i, k);
}

/* A code span opening with k backticks at i; returns the index after it, or 0 if unmatched. */
static size_t code_span(inl *x, size_t i, size_t k) {
    const char *s = x->s;
    size_t n = x->n;
    if (k > MAX_CODE_RUN || x->code_fail[k] <= i) return 0;
    for (size_t j = i + k; j < n;) {
        if (s[j] != '`') {
            j++;
            continue;
        }
        size_t r = j;
        while (r < n && s[r] == '`') r++;
        if (r - j == k) {
            size_t a = i + k, z = j;
            int all_sp = 1;
            for (size_t t = a; t < z; t++) all_sp &= s[t] == ' ' || s[t] == '\n';
            if (!all_sp && z - a >= 2 && (s[a] == ' ' || s[a] == '\n') && (s[z - 1] == ' ' || s[z - 1] == '\n')) a++, z--;
            for (size_t t = a; t < z; t++)
                if (emit(x, s[t] == '\n' ? " " : s + t, 1)) return 0;
            return r;
        }
        j = r;
    }
    x->code_fail[k] = i;
    return 0;
}

/* "(...)" at i (s[i] == '(') for a link destination; returns the index after ')' or 0.  The scan
 * stops at brackets and newlines, so scans from different links never overlap. */
static size_t link_dest(const char *s, size_t n, size_t i, char open, char close) {
    int depth = 0;
    for (size_t j = i; j < n && j - i < 2048; j++) {
        char c = s[j];
        if (c == '\n' || (j > i && (c == '[' || c == ']') && open == '(')) return 0;
        if (open == '[' && j > i && c == '[') return 0;
        if (c == '\\' && j + 1 < n) {
            j++;
            continue;
        }
        if (c == open) depth++;
        else if (c == close && --depth == 0) return j + 1;
    }
    return 0;
}

/* '<' at i: an autolink (its URL is kept) or an inline tag (dropped); returns the index after
 * '>' or 0 when the '<' is text. */
static size_t angle(inl *x, size_t i) {
    const char *s = x->s;
    size_t n = x->n, j = i + 1;
    if (j >= n) return 0;
    char c = s[j];
    int tagish = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '/' || c == '!' || c == '?';
    if (!tagish) return 0;
    size_t e = j;
    while (e < n && e - i < 512 && s[e] != '>' && s[e] != '<') e++;
    if (e >= n || s[e] != '>') return 0;
    size_t colon = j;
    while (colon < e && s[colon] != ':' && s[colon] != ' ' && s[colon] != '@') colon++;
    int autolink = colon < e && (s[colon] == ':' || s[colon] == '@') && !memchr(s + j, ' ', e - j);
    if (autolink && emit(x, s + j, e - j)) return 0;
    return e + 1;
}

/* ']' at i: closes the innermost '[' as a link when a destination or reference follows. */
static size_t close_bracket(inl *x, size_t i) {
    if (!x->nbr) return 0;
    x->nbr--;
    size_t after = 0;
    if (i + 1 < x->n && x->s[i + 1] == '(') after = link_dest(x->s, x->n, i + 1, '(', ')');
    else if (i + 1 < x->n && x->s[i + 1] == '[') after = link_dest(x->s, x->n, i + 1, '[', ']');
    if (!after) return 0;
    size_t o = x->br[x->nbr].out;
    x->m->out.p[o] = 0; /* the '[' */
    if (x->br[x->nbr].image) x->m->out.p[o - 1] = 0;
    return after;
}

static mm_code inline_step(inl *x, size_t *ip) {
    const char *s = x->s;
    size_t n = x->n, i = *ip;
    char c = s[i];
    size_t k = 1, next;
    switch (c) {
    case '\\':
        if (i + 1 < n && is_punct((unsigned char)s[i + 1])) {
            *ip = i + 2;
            return emit(x, s + i + 1, 1);
        }
        break;
    case '`':
        while (i + k < n && s[i + k] == '`') k++;
        if ((next = code_span(x, i, k))) return *ip = next, x->m->failed;
        *ip = i + k;
        return emit(x, s + i, k);
    case '*': case '_': case '~':
        while (i + k < n && s[i + k] == c) k++;
        *ip = i + k;
        if (c == '~' && k == 1) return emit(x, s + i, 1);
        return add_delim(x, i, k, c);
    case '!':
        if (i + 1 < n && s[i + 1] == '[' && x->nbr < MAX_BRACKETS) {
            x->br[x->nbr].out = x->m->out.n + 1;
            x->br[x->nbr++].image = 1;
            *ip = i + 2;
            return emit(x, "![", 2);
        }
        break;
    case '[':
        if (x->nbr < MAX_BRACKETS) {
            x->br[x->nbr].out = x->m->out.n;
            x->br[x->nbr++].image = 0;
        }
        break;
    case ']':
        if ((next = close_bracket(x, i))) return *ip = next, MM_OK;
        break;
    case '<':
        if ((next = angle(x, i))) return *ip = next, x->m->failed;
        break;
    case '&': {
        char rep[8];
        size_t rl = 0, used = doc_entity_decode(s + i, n - i, rep, &rl);
        if (used) return *ip = i + used, emit(x, rep, rl);
        break;
    }
    case '\n':
        *ip = i + 1;
        return emit(x, " ", 1);
    default: break;
    }
    *ip = i + 1;
    return emit(x, s + i, 1);
}

/* Inline-processes s[0..n) and appends the plain text to the open block. */
static mm_code md_inline(md *m, const char *s, size_t n) {
    inl x = {.m = m, .s = s, .n = n};
    for (int k = 0; k <= MAX_CODE_RUN; k++) x.code_fail[k] = SIZE_MAX;
    m->out.n = 0;
    size_t i = 0;
    mm_code c = MM_OK;
    while (i < n && !c) {
        size_t j = i;
        while (j < n && !strchr("\\`*_~![]<&\n", s[j])) j++; /* plain run */
        if (j > i) {
            c = emit(&x, s + i, j - i);
            i = j;
        } else c = inline_step(&x, &i);
    }
    if (!c) match_delims(m->out.p, x.d, x.nd);
    free(x.d);
    if (c) return c;
    for (size_t a = 0; a < m->out.n;) {
        size_t z = a;
        while (z < m->out.n && m->out.p[z]) z++;
        if (z > a && db_append(m->b, m->out.p + a, z - a)) return m->b->failed;
        a = z + 1;
    }
    return MM_OK;
}

/* ---- blocks --------------------------------------------------------------------------------- */

static mm_code end_block(md *m, mm_block_type t, int level) {
    db_rtrim(m->b);
    /* leading spaces of a paragraph come from inline output; drop them */
    return db_end(m->b, t, level, 0, m->span0, m->span1 - m->span0);
}

static mm_code flush(md *m) {
    leaf l = m->leaf;
    m->leaf = L_NONE;
    switch (l) {
    case L_PARA:
    case L_ITEM:
        if (md_inline(m, m->text.p, m->text.n)) return m->failed ? m->failed : m->b->failed;
        return end_block(m, l == L_PARA ? MM_BLOCK_PARAGRAPH : MM_BLOCK_LIST_ITEM,
                         l == L_ITEM ? m->item_level : 0);
    case L_FENCE:
    case L_ICODE:
        while (m->text.n && m->text.p[m->text.n - 1] == '\n') m->text.n--;
        if (l == L_ICODE) m->span1 = m->icode_end;
        if (db_append(m->b, m->text.p, m->text.n)) return m->b->failed;
        return db_end(m->b, MM_BLOCK_CODE, 0, 0, m->span0, m->span1 - m->span0);
    default: return MM_OK;
    }
}

/* Columns of leading whitespace (tabs to the next multiple of 4); *p gets the first other byte. */
static size_t indent(const char *s, size_t a, size_t z, size_t *p) {
    size_t col = 0, i = a;
    for (; i < z && sp(s[i]); i++) col = s[i] == '\t' ? (col / 4 + 1) * 4 : col + 1;
    *p = i;
    return col;
}

/* Skips up to `cols` columns of indentation from a. */
static size_t strip_cols(const char *s, size_t a, size_t z, size_t cols) {
    size_t col = 0;
    while (a < z && sp(s[a]) && col < cols) col = s[a++] == '\t' ? (col / 4 + 1) * 4 : col + 1;
    return a;
}

static size_t rtrim_pos(const char *s, size_t a, size_t z) {
    while (z > a && (sp(s[z - 1]) || s[z - 1] == '\r')) z--;
    return z;
}

static int thematic(const char *s, size_t p, size_t z) {
    char c = s[p];
    if (c != '*' && c != '-' && c != '_') return 0;
    size_t k = 0;
    for (size_t i = p; i < z; i++) {
        if (s[i] == c) k++;
        else if (!sp(s[i])) return 0;
    }
    return k >= 3;
}

static int setext(const char *s, size_t p, size_t z) {
    char c = s[p];
    if (c != '=' && c != '-') return 0;
    size_t i = p;
    while (i < z && s[i] == c) i++;
    while (i < z && sp(s[i])) i++;
    return i == z ? (c == '=' ? 1 : 2) : 0;
}

/* A list marker at p: returns the index after it and the spaces that follow (content start). */
static size_t list_marker(const char *s, size_t p, size_t z) {
    size_t i = p;
    if (s[i] == '-' || s[i] == '*' || s[i] == '+') i++;
    else {
        while (i < z && i - p < 9 && s[i] >= '0' && s[i] <= '9') i++;
        if (i == p || i >= z || (s[i] != '.' && s[i] != ')')) return 0;
        i++;
    }
    if (i < z && !sp(s[i])) return 0;
    return i;
}

static int delimiter_row(const char *s, size_t p, size_t z) {
    int pipe = 0, dash = 0;
    for (size_t i = p; i < z; i++) {
        if (s[i] == '|') pipe = 1;
        else if (s[i] == '-') dash = 1;
        else if (s[i] != ':' && !sp(s[i])) return 0;
    }
    return pipe && dash;
}

static mm_code start_text(md *m, leaf l, size_t ls, const char *p, size_t k, size_t le) {
    m->leaf = l;
    m->span0 = ls;
    m->span1 = le;
    m->text.n = 0;
    return buf_add(m, &m->text, p, k);
}

static mm_code atx(md *m, size_t ls, size_t p, size_t le) {
    const char *s = m->s;
    size_t i = p;
    while (i < le && s[i] == '#') i++;
    int level = (int)(i - p);
    size_t a = i, z = le;
    while (a < z && sp(s[a])) a++;
    size_t t = z;
    while (t > a && s[t - 1] == '#') t--;
    if (t == a || sp(s[t - 1])) z = t; /* a closing ### sequence */
    z = rtrim_pos(s, a, z);
    m->span0 = ls;
    m->span1 = le;
    if (md_inline(m, s + a, z - a)) return m->failed ? m->failed : m->b->failed;
    return end_block(m, MM_BLOCK_HEADING, level);
}

static mm_code table_row(md *m, size_t ls, size_t p, size_t le) {
    const char *s = m->s;
    size_t a = p + 1, z = le;
    if (z > a && s[z - 1] == '|' && (z < 2 || s[z - 2] != '\\')) z--;
    m->span0 = ls;
    m->span1 = le;
    int first = 1;
    while (a <= z) {
        size_t e = a;
        while (e < z && !(s[e] == '|' && s[e - 1] != '\\')) e++;
        size_t ca = a, ce = e;
        while (ca < ce && sp(s[ca])) ca++;
        ce = rtrim_pos(s, ca, ce);
        if (!first && db_append(m->b, " | ", 3)) return m->b->failed;
        if (md_inline(m, s + ca, ce - ca)) return m->failed ? m->failed : m->b->failed;
        first = 0;
        a = e + 1;
    }
    return end_block(m, MM_BLOCK_TABLE_ROW, 0);
}

/* Lines inside a fenced code block: a closing fence ends it, anything else is content. */
static mm_code fence_line(md *m, size_t ls, size_t le) {
    const char *s = m->s;
    size_t p, ind = indent(s, ls, le, &p);
    size_t k = 0;
    while (p + k < le && s[p + k] == m->fch) k++;
    if (ind <= m->findent + 3 && k >= m->flen && rtrim_pos(s, p + k, le) == p + k) {
        m->span1 = le;
        return flush(m);
    }
    size_t a = strip_cols(s, ls, le, m->findent);
    m->span1 = le;
    if (buf_add(m, &m->text, s + a, le - a)) return m->failed;
    return buf_add(m, &m->text, "\n", 1);
}

static mm_code open_fence(md *m, size_t ls, size_t p, size_t le, size_t ind, int *done) {
    const char *s = m->s;
    char c = s[p];
    size_t k = 0;
    *done = 0;
    if (c != '`' && c != '~') return MM_OK;
    while (p + k < le && s[p + k] == c) k++;
    if (k < 3 || (c == '`' && memchr(s + p + k, '`', le - p - k))) return MM_OK;
    if (flush(m)) return m->failed ? m->failed : m->b->failed;
    m->leaf = L_FENCE;
    m->fch = c;
    m->flen = k;
    m->findent = ind;
    m->span0 = ls;
    m->span1 = le;
    m->text.n = 0;
    *done = 1;
    return MM_OK;
}

static mm_code list_item(md *m, size_t ls, size_t p, size_t mk, size_t le, size_t ind) {
    const char *s = m->s;
    if (flush(m)) return m->failed ? m->failed : m->b->failed;
    size_t c0 = mk;
    while (c0 < le && sp(s[c0])) c0++;
    /* content column: marker width plus 1-4 following spaces (more means indented code: 1) */
    size_t gap = c0 - mk >= 1 && c0 - mk <= 4 ? c0 - mk : 1;
    size_t cind = ind + (mk - p) + gap;
    while (m->depth > 0 && ind < m->st[m->depth - 1].cind) m->depth--;
    if (m->depth < MAX_LIST_DEPTH) {
        m->st[m->depth].mind = ind;
        m->st[m->depth].cind = cind;
        m->depth++;
    }
    m->item_level = m->depth;
    return start_text(m, L_ITEM, ls, s + c0, rtrim_pos(s, c0, le) - c0, rtrim_pos(s, c0, le));
}

static int ref_definition(const char *s, size_t p, size_t le) {
    if (s[p] != '[') return 0;
    size_t i = p + 1;
    while (i < le && s[i] != ']' && s[i] != '[') i++;
    return i > p + 1 && i + 1 < le && s[i] == ']' && s[i + 1] == ':';
}

/* One line [ls, le) (le excludes the line break). */
static mm_code line(md *m, size_t ls, size_t le) {
    const char *s = m->s;
    if (m->leaf == L_FENCE) return fence_line(m, ls, le);
    if (m->leaf == L_COMMENT) {
        for (size_t i = ls; i + 3 <= le; i++)
            if (!memcmp(s + i, "-->", 3)) return m->leaf = L_NONE, MM_OK;
        return MM_OK;
    }
    size_t p, ind = indent(s, ls, le, &p);
    while (ind <= 3 && p < le && s[p] == '>') { /* quote markers */
        p++;
        if (p < le && sp(s[p])) p++;
        ind = indent(s, p, le, &p);
    }
    size_t te = rtrim_pos(s, p, le);
    if (p >= te) { /* blank */
        if (m->leaf == L_ICODE) return buf_add(m, &m->text, "\n", 1);
        return flush(m);
    }
    if (m->leaf == L_ICODE) {
        if (ind >= 4) {
            size_t a = strip_cols(s, ls, le, 4);
            m->icode_end = te;
            if (buf_add(m, &m->text, s + a, te - a)) return m->failed;
            return buf_add(m, &m->text, "\n", 1);
        }
        if (flush(m)) return m->failed ? m->failed : m->b->failed;
    }
    int lst = m->depth > 0;
    size_t base = lst ? m->st[m->depth - 1].cind : 0;
    if (m->leaf == L_NONE && lst && ind < m->st[0].cind && list_marker(s, p, te) == 0)
        m->depth = 0, lst = 0, base = 0; /* the list ended */
    size_t rel = ind >= base ? ind - base : 0;
    if (m->leaf == L_PARA && rel <= 3) {
        int lv = setext(s, p, te);
        if (lv) {
            m->span1 = te;
            if (md_inline(m, m->text.p, m->text.n)) return m->failed ? m->failed : m->b->failed;
            m->leaf = L_NONE;
            return end_block(m, MM_BLOCK_HEADING, lv);
        }
    }
    if (rel <= 3 && thematic(s, p, te)) {
        if (flush(m)) return m->failed ? m->failed : m->b->failed;
        m->depth = 0;
        return MM_OK;
    }
    if (rel <= 3 && s[p] == '#') {
        size_t k = 0;
        while (p + k < te && s[p + k] == '#') k++;
        if (k <= 6 && (p + k == te || sp(s[p + k]))) {
            if (flush(m)) return m->failed ? m->failed : m->b->failed;
            if (!lst) m->depth = 0;
            return atx(m, ls, p, te);
        }
    }
    if (rel <= 3) {
        int done;
        if (open_fence(m, ls, p, te, ind, &done)) return m->failed ? m->failed : m->b->failed;
        if (done) return MM_OK;
    }
    size_t mk = list_marker(s, p, te);
    if (mk && (ind <= 3 || lst)) return list_item(m, ls, p, mk, le, ind);
    if (m->leaf != L_PARA && ind <= 3 && ref_definition(s, p, te)) return flush(m);
    if (s[p] == '|' || (delimiter_row(s, p, te) && m->leaf != L_ITEM)) {
        if (flush(m)) return m->failed ? m->failed : m->b->failed;
        if (delimiter_row(s, p, te)) return MM_OK;
        return table_row(m, ls, p, te);
    }
    if (ind <= 3 && te - p >= 4 && !memcmp(s + p, "<!--", 4)) { /* may interrupt a paragraph */
        if (flush(m)) return m->failed ? m->failed : m->b->failed;
        for (size_t i = p + 4; i + 3 <= te; i++)
            if (!memcmp(s + i, "-->", 3)) return MM_OK;
        m->leaf = L_COMMENT;
        return MM_OK;
    }
    if (m->leaf == L_PARA || m->leaf == L_ITEM) { /* continuation (lazy or indented) */
        m->span1 = te;
        if (buf_add(m, &m->text, "\n", 1)) return m->failed;
        return buf_add(m, &m->text, s + p, te - p);
    }
    if (lst && ind >= base) { /* a later paragraph of the open item */
        m->item_level = m->depth;
        return start_text(m, L_ITEM, ls, s + p, te - p, te);
    }
    if (ind >= 4) {
        size_t a = strip_cols(s, ls, le, 4);
        m->icode_end = te;
        if (start_text(m, L_ICODE, ls, s + a, te - a, te)) return m->failed;
        return buf_add(m, &m->text, "\n", 1);
    }
    return start_text(m, L_PARA, ls, s + p, te - p, te);
}

/* YAML front matter: "---" on the first line and a closing "---" or "..." line; returns where
 * the document proper starts (0 when there is none). */
static size_t front_matter(const char *s, size_t n) {
    if (n < 3 || memcmp(s, "---", 3)) return 0;
    size_t i = 3;
    while (i < n && sp(s[i])) i++;
    if (i < n && s[i] == '\r') i++;
    if (i >= n || s[i] != '\n') return 0;
    for (i++; i < n && i < (1u << 16);) {
        size_t e = i;
        while (e < n && s[e] != '\n') e++;
        size_t t = rtrim_pos(s, i, e);
        if (t - i == 3 && (!memcmp(s + i, "---", 3) || !memcmp(s + i, "...", 3))) return e < n ? e + 1 : e;
        i = e + 1;
    }
    return 0;
}

mm_code doc_parse_markdown(const doc_text *t, doc_builder *b) {
    md m = {.s = t->text, .n = t->len, .b = b};
    size_t i = front_matter(m.s, m.n);
    mm_code c = MM_OK;
    while (i < m.n && !c) {
        size_t e = i;
        while (e < m.n && m.s[e] != '\n' && m.s[e] != '\r') e++;
        c = line(&m, i, e);
        if (e < m.n && m.s[e] == '\r' && e + 1 < m.n && m.s[e + 1] == '\n') e++;
        i = e + 1;
    }
    if (!c) c = flush(&m);
    if (!c) c = m.failed ? m.failed : b->failed;
    free(m.text.p);
    free(m.out.p);
    return c;
}
