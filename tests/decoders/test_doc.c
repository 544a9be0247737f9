/*
 * tests/decoders/test_doc.c — the document decoders (decoders.h, "documents") on the real files in
 * tests/data/document/ (made by scripts/gen_testdata_document.sh): every encoding of plain text,
 * binary data named .txt, Markdown and HTML structure with exact block texts, types, levels and
 * source offsets, PDFs (pages, truncated, encrypted both ways, page-tree bombs, a text bomb), the
 * size / text / page / block limits, detection, and every fuzz reproducer in regress/.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../unit/test.h"
#include "decoders.h"

#define DATA MMPIPE_TEST_DATA "/document/"

typedef struct want {
    mm_block_type type;
    int level, page;
    long offset; /* -1: not checked */
    long length;
    const char *text;
} want;

static mm_doc *load(const char *file, const mm_doc_opts *o) {
    mm_doc *d = NULL;
    mm_err e;
    mm_code c = mm_doc_load(file, o, &d, &e);
    CHECK(c == MM_OK, "%s: %s", file, e.msg);
    return c ? NULL : d;
}

static void check_blocks(const char *what, const mm_doc *d, const want *w, size_t n) {
    if (!d) return;
    CHECK(d->n_blocks == n, "%s: %zu blocks, want %zu", what, d->n_blocks, n);
    for (size_t i = 0; i < n && i < d->n_blocks; i++) {
        const mm_doc_block *b = &d->blocks[i];
        CHECK(b->type == w[i].type, "%s[%zu]: type %s, want %s", what, i, mm_block_type_name(b->type),
              mm_block_type_name(w[i].type));
        CHECK(b->level == w[i].level, "%s[%zu]: level %d, want %d", what, i, b->level, w[i].level);
        CHECK(b->page == w[i].page, "%s[%zu]: page %d, want %d", what, i, b->page, w[i].page);
        CHECK(!strcmp(b->text, w[i].text), "%s[%zu]: text \"%s\", want \"%s\"", what, i, b->text, w[i].text);
        CHECK(strlen(b->text) == b->text_len, "%s[%zu]: text_len", what, i);
        if (w[i].offset >= 0)
            CHECK((long)b->offset == w[i].offset && (long)b->length == w[i].length,
                  "%s[%zu]: span %llu+%llu, want %ld+%ld", what, i, (unsigned long long)b->offset,
                  (unsigned long long)b->length, w[i].offset, w[i].length);
    }
}

static void expect_error(const char *file, const mm_doc_opts *o, mm_code code, const char *needle) {
    mm_doc *d = NULL;
    mm_err e = {0};
    mm_code c = mm_doc_load(file, o, &d, &e);
    CHECK(c == code, "%s: code %s, want %s (%s)", file, mm_code_name(c), mm_code_name(code), e.msg);
    CHECK(d == NULL, "%s: doc on error", file);
    CHECK(strstr(e.msg, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", file, e.msg, needle);
    CHECK(strstr(e.msg, file) != NULL, "%s: message does not name the file: %s", file, e.msg);
    mm_doc_free(d);
}

/* The bytes of file at a span, to check offsets point where they should. */
static int span_starts(const char *file, const mm_doc_block *b, const char *prefix) {
    FILE *f = fopen(file, "rb");
    if (!f) return 0;
    char buf[256] = {0};
    size_t k = strlen(prefix) < sizeof buf - 1 ? strlen(prefix) : sizeof buf - 1;
    int ok = fseek(f, (long)b->offset, SEEK_SET) == 0 && fread(buf, 1, k, f) == k && !memcmp(buf, prefix, k);
    fclose(f);
    return ok;
}

/* ---- plain text ----------------------------------------------------------------------------- */

static void test_text_encodings(void) {
    static const want utf8[] = {
        {MM_BLOCK_PARAGRAPH, 0, 0, 0, 46, "Caf\u00e9 cr\u00e8me \u2014 na\u00efve r\u00e9sum\u00e9.\nSecond line."},
        {MM_BLOCK_PARAGRAPH, 0, 0, 48, 21, "Third paragraph \u20ac5."}};
    mm_doc *d = load(DATA "utf8.txt", NULL);
    check_blocks("utf8", d, utf8, 2);
    if (d) CHECK(!strcmp(d->encoding, "utf-8") && d->flags == 0 && d->format == MM_DOC_TEXT, "utf8 meta");
    mm_doc_free(d);

    want bom[2] = {utf8[0], utf8[1]};
    bom[0].offset = 3, bom[1].offset = 51;
    d = load(DATA "utf8_bom.txt", NULL);
    check_blocks("utf8_bom", d, bom, 2);
    mm_doc_free(d);

    /* UTF-16LE with CRLF: 39 code units + \r = 80 bytes after the 2-byte BOM. */
    want le[2] = {utf8[0], utf8[1]};
    le[0].offset = 2, le[0].length = 80, le[1].offset = 90, le[1].length = 38;
    d = load(DATA "utf16le.txt", NULL);
    check_blocks("utf16le", d, le, 2);
    if (d) CHECK(!strcmp(d->encoding, "utf-16le") && (d->flags & MM_DOC_CONVERTED), "utf16le meta");
    mm_doc_free(d);

    /* UTF-16BE with a surrogate pair (4 bytes) in the second paragraph. */
    static const want be[] = {
        {MM_BLOCK_PARAGRAPH, 0, 0, 2, 78, "Caf\u00e9 cr\u00e8me \u2014 na\u00efve r\u00e9sum\u00e9.\nSecond line."},
        {MM_BLOCK_PARAGRAPH, 0, 0, 84, 66, "Third paragraph \u20ac5.\nEmoji \U0001F600 end."}};
    d = load(DATA "utf16be.txt", NULL);
    check_blocks("utf16be", d, be, 2);
    if (d) CHECK(!strcmp(d->encoding, "utf-16be"), "utf16be encoding %s", d->encoding);
    mm_doc_free(d);

    /* Windows-1252: 0x93/0x94 quotes and 0x80 euro are outside Latin-1 proper. */
    static const want lat[] = {{MM_BLOCK_PARAGRAPH, 0, 0, 0, 27,
                                "Caf\u00e9 na\u00efve \u00bfqu\u00e9? \u201cquoted\u201d \u20ac"}};
    d = load(DATA "latin1.txt", NULL);
    check_blocks("latin1", d, lat, 1);
    if (d) CHECK(!strcmp(d->encoding, "windows-1252") && (d->flags & MM_DOC_CONVERTED), "latin1 meta");
    mm_doc_free(d);
    mm_doc_opts strict = {.reject_legacy = 1};
    expect_error(DATA "latin1.txt", &strict, MM_EUNSUPPORTED, "not UTF-8");

    expect_error(DATA "binary.txt", NULL, MM_EINVAL, "binary data, not text");
    expect_error(DATA "binary.txt", &strict, MM_EINVAL, "binary data, not text");
    d = load(DATA "empty.txt", NULL);
    if (d) CHECK(d->n_blocks == 0, "empty: %zu blocks", d->n_blocks);
    mm_doc_free(d);
}

static mm_doc *parse(const char *s, size_t n, const char *name, mm_doc_format hint, const mm_doc_opts *o) {
    mm_doc *d = NULL;
    mm_err e;
    mm_code c = mm_doc_parse_mem(s, n, name, hint, o, &d, &e);
    CHECK(c == MM_OK, "%s: %s", name, e.msg);
    return d;
}

static void test_text_memory(void) {
    /* UTF-16LE without a BOM is recognised by its NUL pattern. */
    const char le[] = "H\0e\0l\0l\0o\0 \0w\0o\0r\0l\0d\0\n\0";
    mm_doc *d = parse(le, sizeof le - 1, "nobom.txt", MM_DOC_AUTO, NULL);
    static const want w1[] = {{MM_BLOCK_PARAGRAPH, 0, 0, 0, 22, "Hello world"}};
    check_blocks("utf16 no bom", d, w1, 1);
    mm_doc_free(d);

    /* Mostly UTF-8 with one stray byte: U+FFFD for it, offsets still exact. */
    const char fix[] = "\xc3\xa9t\xc3\xa9 \xc3\xa0 \xc3\xa7" "a \xc3\xb4 \xff" " bad\n\nnext \xc3\xa9";
    d = parse(fix, sizeof fix - 1, "fix.txt", MM_DOC_AUTO, NULL);
    static const want w2[] = {{MM_BLOCK_PARAGRAPH, 0, 0, 0, 21, "\u00e9t\u00e9 \u00e0 \u00e7a \u00f4 \uFFFD bad"},
                              {MM_BLOCK_PARAGRAPH, 0, 0, 23, 7, "next \u00e9"}};
    check_blocks("utf8 fixed", d, w2, 2);
    if (d) CHECK(!strcmp(d->encoding, "utf-8") && (d->flags & MM_DOC_CONVERTED), "fixed meta");
    mm_doc_free(d);

    /* Control-heavy data without NULs is binary too. */
    char ctl[200];
    for (int i = 0; i < 200; i++) ctl[i] = (char)(i % 3 ? 'a' : 0x01);
    mm_err e;
    CHECK(mm_doc_parse_mem(ctl, sizeof ctl, "ctl.txt", MM_DOC_TEXT, NULL, &d, &e) == MM_EINVAL &&
              strstr(e.msg, "binary data, not text (control characters)"), "control chars: %s", e.msg);

    /* CR-only and CRLF line ends; blank lines of spaces and form feeds split paragraphs. */
    const char cr[] = "one\rtwo  \r\n \f \r\nthree";
    d = parse(cr, sizeof cr - 1, "cr.txt", MM_DOC_TEXT, NULL);
    static const want w3[] = {{MM_BLOCK_PARAGRAPH, 0, 0, 0, 7, "one\ntwo"},
                              {MM_BLOCK_PARAGRAPH, 0, 0, 16, 5, "three"}};
    check_blocks("cr", d, w3, 2);
    mm_doc_free(d);
}

/* ---- Markdown and HTML ---------------------------------------------------------------------- */

static void test_markdown(void) {
    static const want w[] = {
        {MM_BLOCK_HEADING, 1, 0, 39, 19, "Getting started"},
        {MM_BLOCK_PARAGRAPH, 0, 0, 60, 119,
         "Intro paragraph with a link and bold, emphasis, inline *code* and snake_case_name."},
        {MM_BLOCK_HEADING, 1, 0, 181, 25, "Setext Title"},
        {MM_BLOCK_LIST_ITEM, 1, 0, 208, 12, "first item"},
        {MM_BLOCK_LIST_ITEM, 1, 0, 221, 32, "second item continued lazily"},
        {MM_BLOCK_LIST_ITEM, 2, 0, 254, 39, "nested item with an image"},
        {MM_BLOCK_LIST_ITEM, 1, 0, 294, 14, "ordered one"},
        {MM_BLOCK_LIST_ITEM, 1, 0, 309, 14, "ordered two"},
        {MM_BLOCK_CODE, 0, 0, 325, 62, "int main(void) {\n    return 0; /* *not* emphasis */\n}"},
        {MM_BLOCK_CODE, 0, 0, 389, 22, "indented code line"},
        {MM_BLOCK_PARAGRAPH, 0, 0, 413, 37, "A quoted paragraph & an entity."},
        {MM_BLOCK_TABLE_ROW, 0, 0, 452, 16, "Name | Value"},
        {MM_BLOCK_TABLE_ROW, 0, 0, 486, 16, "a | 1"},
        {MM_BLOCK_PARAGRAPH, 0, 0, 531, 56, "Final *unclosed emphasis and 2 * 3 = 6. ## not a heading"},
        {MM_BLOCK_HEADING, 2, 0, 622, 21, "Closing heading"}};
    mm_doc *d = load(DATA "sample.md", NULL);
    check_blocks("sample.md", d, w, sizeof w / sizeof *w);
    if (d && d->n_blocks >= 15) {
        CHECK(d->format == MM_DOC_MARKDOWN, "md format");
        CHECK(span_starts(DATA "sample.md", &d->blocks[0], "# Getting *started*"), "md span 0");
        CHECK(span_starts(DATA "sample.md", &d->blocks[8], "```c"), "md span 8");
        CHECK(span_starts(DATA "sample.md", &d->blocks[14], "## Closing heading ##"), "md span 14");
    }
    mm_doc_free(d);

    /* Inline details: escapes, nested emphasis, reference links, autolinks, inline HTML. */
    const char md[] = "\\*not em\\* ***both*** ~~gone~~ ~kept [a [b]](u) [r][x] <https://x.y/z> "
                      "<span class=\"c\">in</span> a_b_c __u__ `` a ` b `` &#x41;&unknown;";
    mm_doc *m = parse(md, sizeof md - 1, "inline.md", MM_DOC_AUTO, NULL);
    static const want wi[] = {{MM_BLOCK_PARAGRAPH, 0, 0, 0, sizeof md - 1,
                               "*not em* both gone ~kept a [b] r https://x.y/z in a_b_c u a ` b A&unknown;"}};
    check_blocks("inline", m, wi, 1);
    mm_doc_free(m);

    /* List continuation paragraphs and the end of a list. */
    const char ls[] = "- a\n\n  more of a\n\nplain\n";
    m = parse(ls, sizeof ls - 1, "list.md", MM_DOC_MARKDOWN, NULL);
    static const want wl[] = {{MM_BLOCK_LIST_ITEM, 1, 0, 0, 3, "a"},
                              {MM_BLOCK_LIST_ITEM, 1, 0, 5, 11, "more of a"},
                              {MM_BLOCK_PARAGRAPH, 0, 0, 18, 5, "plain"}};
    check_blocks("list", m, wl, 3);
    mm_doc_free(m);
}

static void test_html(void) {
    static const want w[] = {
        {MM_BLOCK_HEADING, 1, 0, 191, 20, "Main <Heading>"},
        {MM_BLOCK_PARAGRAPH, 0, 0, 220, 102, "First paragraph with bold and a link. Caf\u00e9 \u00e9\u20ac \u00a9"},
        {MM_BLOCK_PARAGRAPH, 0, 0, 446, 23, "Div text\nafter break"},
        {MM_BLOCK_LIST_ITEM, 1, 0, 484, 3, "one"},
        {MM_BLOCK_LIST_ITEM, 1, 0, 496, 3, "two"},
        {MM_BLOCK_LIST_ITEM, 2, 0, 507, 6, "nested"},
        {MM_BLOCK_HEADING, 2, 0, 538, 11, "Sub heading"},
        {MM_BLOCK_CODE, 0, 0, 561, 25, "  code  keeps\n    spaces"},
        {MM_BLOCK_TABLE_ROW, 0, 0, 608, 11, "A | B"},
        {MM_BLOCK_TABLE_ROW, 0, 0, 637, 11, "1 | 2"},
        {MM_BLOCK_PARAGRAPH, 0, 0, 670, 16, "unclosed tags"},
        {MM_BLOCK_PARAGRAPH, 0, 0, 690, 30, "soup 3 < 4 and custom"},
        {MM_BLOCK_HEADING, 3, 0, 735, 29, "Broken quote"},
        {MM_BLOCK_PARAGRAPH, 0, 0, 773, 8, "trailing"}};
    mm_doc *d = load(DATA "sample.html", NULL);
    check_blocks("sample.html", d, w, sizeof w / sizeof *w);
    if (d) {
        CHECK(d->format == MM_DOC_HTML, "html format");
        CHECK(d->title && !strcmp(d->title, "The Title & More"), "title %s", d->title ? d->title : "(none)");
        if (d->n_blocks) CHECK(span_starts(DATA "sample.html", &d->blocks[0], "Main &lt;"), "html span");
    }
    mm_doc_free(d);

    /* Windows-1252 HTML, an unterminated comment, numeric edge cases, a stray '>' in attributes. */
    const char h[] = "<p>na\xef" "ve &#0;&#x110000;&#150;</p><p title='>'>ok</p><!-- open <p>gone";
    d = parse(h, sizeof h - 1, "w.html", MM_DOC_AUTO, NULL);
    static const want w2[] = {{MM_BLOCK_PARAGRAPH, 0, 0, 3, 26, "na\u00efve \uFFFD\uFFFD\u2013"},
                              {MM_BLOCK_PARAGRAPH, 0, 0, 46, 2, "ok"}};
    check_blocks("w.html", d, w2, 2);
    if (d) CHECK(!strcmp(d->encoding, "windows-1252"), "w.html encoding %s", d->encoding);
    mm_doc_free(d);

    /* Unterminated script swallows the rest; '<' that is not a tag is text. */
    const char s[] = "<p>a<b</p><p><3 x</p><script>never";
    d = parse(s, sizeof s - 1, "s.html", MM_DOC_HTML, NULL);
    static const want w3[] = {{MM_BLOCK_PARAGRAPH, 0, 0, 3, 1, "a"}, {MM_BLOCK_PARAGRAPH, 0, 0, 13, 4, "<3 x"}};
    check_blocks("s.html", d, w3, 2);
    mm_doc_free(d);
}

/* ---- PDF ------------------------------------------------------------------------------------ */

static void test_pdf(void) {
    static const want w[] = {
        {MM_BLOCK_PARAGRAPH, 0, 1, 0, 0,
         "Page one title\nFirst paragraph line one,\nand line two of it.\nA second paragraph far below."},
        {MM_BLOCK_PAGE_BREAK, 0, 2, 0, 0, ""},
        {MM_BLOCK_PARAGRAPH, 0, 2, 0, 0, "Page two says caf\u00e9."},
        {MM_BLOCK_PAGE_BREAK, 0, 3, 0, 0, ""},
        {MM_BLOCK_PAGE_BREAK, 0, 4, 0, 0, ""},
        {MM_BLOCK_PARAGRAPH, 0, 4, 0, 0, "Last page."}};
    mm_doc *d = load(DATA "pages.pdf", NULL);
    check_blocks("pages.pdf", d, w, sizeof w / sizeof *w);
    if (d) CHECK(d->format == MM_DOC_PDF && d->n_pages == 4 && d->flags == 0, "pdf meta");
    mm_doc_free(d);

    d = load(DATA "encrypted_owner.pdf", NULL);
    check_blocks("encrypted_owner.pdf", d, w, sizeof w / sizeof *w);
    if (d) CHECK(d->flags & MM_DOC_ENCRYPTED, "owner-only encryption flagged");
    mm_doc_free(d);

    expect_error(DATA "encrypted.pdf", NULL, MM_EUNSUPPORTED, "encrypted");
    expect_error(DATA "truncated.pdf", NULL, MM_ECORRUPT, "not a readable PDF");
    expect_error(DATA "nopages.pdf", NULL, MM_ECORRUPT, "no pages");
    expect_error(DATA "bomb_count.pdf", NULL, MM_ECORRUPT, "no pages");
    expect_error(DATA "bomb_tree.pdf", NULL, MM_ECORRUPT, "no pages");
    mm_doc_opts small = {.max_text_bytes = 10000};
    expect_error(DATA "bomb_flate.pdf", &small, MM_ELIMIT, "text longer than the output limit");
    mm_doc_opts pages = {.max_pages = 3};
    expect_error(DATA "pages.pdf", &pages, MM_ELIMIT, "4 pages (limit 3)");
    mm_doc_opts fast = {.max_seconds = 1e-9};
    expect_error(DATA "pages.pdf", &fast, MM_ELIMIT, "took over");

    /* A .pdf name without the magic, and the magic with garbage after it. */
    mm_err e;
    CHECK(mm_doc_parse_mem("hello", 5, "x.pdf", MM_DOC_AUTO, NULL, &d, &e) == MM_ECORRUPT &&
              strstr(e.msg, "no %PDF- header"), "fake pdf: %s", e.msg);
    CHECK(mm_doc_parse_mem("%PDF-1.4\ngarbage", 16, "g.pdf", MM_DOC_AUTO, NULL, &d, &e) == MM_ECORRUPT,
          "garbage pdf: %s", e.msg);
}

/* ---- limits, detection, regressions --------------------------------------------------------- */

static void test_limits(void) {
    mm_doc_opts tiny = {.max_file_bytes = 10};
    expect_error(DATA "utf8.txt", &tiny, MM_ELIMIT, "too large");
    /* A sparse 2 GB file: refused from stat, before any memory is used. */
    char path[] = "/tmp/mm_doc_bigXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) {
        CHECK(ftruncate(fd, 2LL << 30) == 0, "ftruncate");
        close(fd);
        expect_error(path, NULL, MM_ELIMIT, "too large (2147483648 bytes");
        unlink(path);
    }
    expect_error(DATA "does-not-exist.txt", NULL, MM_ENOTFOUND, "cannot open");
    expect_error(DATA, NULL, MM_EINVAL, "not a regular file");
    mm_doc_opts blocks = {.max_blocks = 1};
    expect_error(DATA "utf8.txt", &blocks, MM_ELIMIT, "more blocks than the limit");
    mm_doc_opts text = {.max_text_bytes = 20};
    expect_error(DATA "sample.html", &text, MM_ELIMIT, "text longer than the output limit");
}

static void test_detect(void) {
    CHECK(mm_doc_detect("%PDF-1.7", 8, "a.txt") == MM_DOC_PDF, "pdf magic");
    CHECK(mm_doc_detect("junk\n%PDF-1.7", 13, NULL) == MM_DOC_PDF, "pdf magic after junk");
    CHECK(mm_doc_detect("\xEF\xBB\xBF  <!DOCTYPE html>", 21, "a.txt") == MM_DOC_HTML, "doctype");
    CHECK(mm_doc_detect("<HTML><body>", 12, NULL) == MM_DOC_HTML, "html tag");
    CHECK(mm_doc_detect("<p>x</p>", 8, "page.HTM") == MM_DOC_HTML, "htm ext");
    CHECK(mm_doc_detect("# x", 3, "dir.v2/README.md") == MM_DOC_MARKDOWN, "md ext");
    CHECK(mm_doc_detect("# x", 3, "notes.markdown") == MM_DOC_MARKDOWN, "markdown ext");
    CHECK(mm_doc_detect("# x", 3, "dir.md/notes") == MM_DOC_TEXT, "dot in dir");
    CHECK(mm_doc_detect("", 0, NULL) == MM_DOC_TEXT, "empty");
    CHECK(!strcmp(mm_doc_format_name(MM_DOC_PDF), "pdf") && !strcmp(mm_block_type_name(MM_BLOCK_CODE), "code"),
          "names");
}

/* Every fuzz reproducer parses to a result or an error with a message, under every hint. */
static void test_regressions(void) {
    DIR *dir = opendir(DATA "regress");
    if (!dir) return;
    struct dirent *de;
    int files = 0;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, DATA "regress/%s", de->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        static char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        files++;
        for (int h = MM_DOC_AUTO; h <= MM_DOC_PDF; h++) {
            mm_doc *d = NULL;
            mm_err e = {0};
            mm_doc_opts o = {.max_text_bytes = 1 << 16, .max_pages = 16};
            mm_code c = mm_doc_parse_mem(buf, n, path, (mm_doc_format)h, &o, &d, &e);
            CHECK(c == MM_OK ? d != NULL : (d == NULL && e.msg[0]), "%s hint %d: %s", path, h, e.msg);
            for (size_t i = 0; d && i < d->n_blocks; i++)
                CHECK(strlen(d->blocks[i].text) == d->blocks[i].text_len, "%s: block %zu", path, i);
            mm_doc_free(d);
        }
    }
    closedir(dir);
    fprintf(stderr, "regressions: %d files\n", files);
}

int main(void) {
    test_text_encodings();
    test_text_memory();
    test_markdown();
    test_html();
    test_pdf();
    test_limits();
    test_detect();
    test_regressions();
    return test_done("test_doc");
}
