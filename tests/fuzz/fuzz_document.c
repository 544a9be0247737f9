/*
 * tests/fuzz/fuzz_document.c — libFuzzer target over the documents entry point mm_doc_parse_mem:
 * the first byte picks the format hint (auto, text, Markdown, HTML, PDF), the rest is the file.
 * Limits are small so a hostile input cannot spend the run.  Every result is checked for the
 * invariants of decoders.h (NUL-terminated valid UTF-8 texts whose length matches, spans inside
 * the input, page numbers only for PDF); every failure must carry a message.
 * Seeds: tests/fuzz/corpus_document/; reproducers: tests/data/document/regress/ (test_doc.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decoders.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    mm_doc_format hint = (mm_doc_format)(data[0] % 5);
    const char *names[] = {"fuzz", "fuzz.txt", "fuzz.md", "fuzz.html", "fuzz.pdf"};
    mm_doc_opts o = {.max_text_bytes = 1 << 18, .max_blocks = 1 << 14, .max_pages = 64, .max_seconds = 5};
    mm_doc *d = NULL;
    mm_err e;
    e.msg[0] = 0;
    mm_code c = mm_doc_parse_mem(data + 1, size - 1, names[data[0] % 5], hint, &o, &d, &e);
    if (c != MM_OK) {
        if (d || !e.msg[0]) abort();
        return 0;
    }
    size_t total = 0;
    uint64_t prev_end = 0;
    for (size_t i = 0; i < d->n_blocks; i++) {
        const mm_doc_block *b = &d->blocks[i];
        if (strlen(b->text) != b->text_len || !mm_utf8_valid(b->text, b->text_len)) abort();
        if (b->offset + b->length > size - 1 || b->offset + b->length < b->offset) abort();
        if (d->format != MM_DOC_PDF && b->page != 0) abort();
        /* spans come in file order (doc_map_pos relies on it to stay linear) */
        if (d->format != MM_DOC_PDF && b->offset < prev_end) abort();
        if (d->format != MM_DOC_PDF) prev_end = b->offset + b->length;
        if (d->format == MM_DOC_PDF && (b->page < 1 || b->page > d->n_pages)) abort();
        if (b->type == MM_BLOCK_HEADING && (b->level < 1 || b->level > 6)) abort();
        total += b->text_len;
    }
    if (total != d->text_bytes) abort();
    mm_doc_free(d);
    return 0;
}
