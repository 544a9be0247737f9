/*
 * decoders/pdf.c — PDF text per page through poppler's C (GLib) API, into doc blocks: for each
 * page its text split into paragraphs at blank lines, every block tagged with its 1-based page,
 * and a MM_BLOCK_PAGE_BREAK block before pages 2..n (so empty pages stay visible to a chunker).
 * Why poppler (not MuPDF): README "PDF library"; in short GPL-2+ rather than AGPL-3, a shared
 * library found by pkg-config on Debian 12, and the text extraction pdftotext uses.
 *
 * Hostile files: poppler checks the page tree itself (a /Count of a million over one page, or a
 * tree of shared nodes, reads as 0 pages -> "no pages"); the page count is checked against
 * max_pages before any page is read; output text is capped by the builder (max_text_bytes) and
 * wall time by max_seconds, both checked after every page.  Not bounded in process: the memory
 * poppler uses while laying out one single page (a page's content stream can inflate far past the
 * file size); the worker's crash and lease accounting is the backstop there.
 * Encryption: a file that opens with the empty user password (owner-password "protection" only)
 * is read — it is the user's own document being indexed — and flagged MM_DOC_ENCRYPTED; one that
 * needs a password is refused as "encrypted".
 * Poppler reports syntax errors through g_log at INFO level, which GLib does not print by default.
 */
#include "doc_internal.h"

#include <poppler.h>
#include <stdlib.h>
#include <string.h>

static int has_bytes(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (s[i] == needle[0] && !memcmp(s + i, needle, k)) return 1;
    return 0;
}

static mm_code open_error(doc_builder *b, GError *ge) {
    const char *why = ge && ge->message ? ge->message : "unknown error";
    mm_code c;
    if (ge && ge->domain == POPPLER_ERROR && ge->code == POPPLER_ERROR_ENCRYPTED)
        c = mm_err_set(b->e, MM_EUNSUPPORTED, "%s: PDF is encrypted (a password is needed)", b->name);
    else c = mm_err_set(b->e, MM_ECORRUPT, "%s: not a readable PDF (%s)", b->name, why);
    if (ge) g_error_free(ge);
    return c;
}

/* Appends one page's text: paragraphs at blank lines, trailing blanks of each line dropped. */
static mm_code add_page_text(doc_builder *b, const char *t, int page) {
    size_t n = strlen(t), i = 0;
    int open = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && t[e] != '\n') e++;
        size_t z = e;
        while (z > i && (t[z - 1] == ' ' || t[z - 1] == '\t' || t[z - 1] == '\r' || t[z - 1] == '\f')) z--;
        size_t a = i;
        while (a < z && (t[a] == ' ' || t[a] == '\f')) a++;
        if (a == z) {
            if (open && db_end(b, MM_BLOCK_PARAGRAPH, 0, page, 0, 0)) return b->failed;
            open = 0;
        } else {
            if (open && db_putc(b, '\n')) return b->failed;
            if (db_append(b, t + i, z - i)) return b->failed;
            open = 1;
        }
        i = e + 1;
    }
    if (open && db_end(b, MM_BLOCK_PARAGRAPH, 0, page, 0, 0)) return b->failed;
    return MM_OK;
}

static mm_code read_page(PopplerDocument *d, int i, doc_builder *b) {
    PopplerPage *p = poppler_document_get_page(d, i);
    if (!p) return mm_err_set(b->e, MM_ECORRUPT, "%s: page %d cannot be read", b->name, i + 1);
    char *t = poppler_page_get_text(p);
    g_object_unref(p);
    if (!t) return MM_OK; /* no text layer */
    mm_code c;
    if (mm_utf8_valid(t, strlen(t))) c = add_page_text(b, t, i + 1);
    else {
        char *fixed = mm_utf8_sanitize(t, strlen(t));
        c = fixed ? add_page_text(b, fixed, i + 1)
                  : mm_err_set(b->e, MM_ENOMEM, "%s: out of memory", b->name);
        free(fixed);
    }
    g_free(t);
    return c;
}

static void take_title(PopplerDocument *d, doc_builder *b) {
    char *t = poppler_document_get_title(d);
    if (t && *t && mm_utf8_valid(t, strlen(t))) b->title = mm_strdup(t);
    g_free(t);
}

mm_code doc_parse_pdf(const void *buf, size_t len, const mm_doc_opts *o, doc_builder *b,
                      mm_doc *doc) {
    if (len < 8 || !has_bytes(buf, len < 1024 ? len : 1024, "%PDF-"))
        return mm_err_set(b->e, MM_ECORRUPT, "%s: not a PDF (no %%PDF- header)", b->name);
    if (len > INT32_MAX)
        return mm_err_set(b->e, MM_ELIMIT, "%s: PDF larger than 2 GiB", b->name);
    GBytes *bytes = g_bytes_new_static(buf, len); /* buf outlives the document */
    GError *ge = NULL;
    PopplerDocument *d = poppler_document_new_from_bytes(bytes, NULL, &ge);
    g_bytes_unref(bytes);
    if (!d) return open_error(b, ge);
    int64_t t0 = mm_mono_ns();
    int n = poppler_document_get_n_pages(d);
    mm_code c = MM_OK;
    if (n <= 0) c = mm_err_set(b->e, MM_ECORRUPT, "%s: PDF has no pages (page tree empty or invalid)", b->name);
    else if (n > o->max_pages)
        c = mm_err_set(b->e, MM_ELIMIT, "%s: PDF has %d pages (limit %d)", b->name, n, o->max_pages);
    for (int i = 0; !c && i < n; i++) {
        if (i && db_end(b, MM_BLOCK_PAGE_BREAK, 0, i + 1, 0, 0)) c = b->failed;
        if (!c) c = read_page(d, i, b);
        double secs = (double)(mm_mono_ns() - t0) / 1e9;
        if (!c && secs > o->max_seconds)
            c = mm_err_set(b->e, MM_ELIMIT, "%s: PDF text took over %g s (stopped after page %d of %d)",
                           b->name, o->max_seconds, i + 1, n);
    }
    if (!c) {
        take_title(d, b);
        doc->encoding = "pdf";
        doc->n_pages = n;
        doc->flags = has_bytes(buf, len, "/Encrypt") ? MM_DOC_ENCRYPTED : 0;
    }
    g_object_unref(d);
    return c;
}
