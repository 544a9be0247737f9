/*
 * decoders/doc_internal.h — private glue between the document decoders: doc.c (API, detection,
 * limits, the block builder), text.c (encodings and plain text), markdown.c, html.c (+ entities)
 * and pdf.c.  Parsers read a decoded UTF-8 buffer and append blocks through doc_builder; offsets
 * they give are positions in that decoded buffer, which doc.c maps back to source-file bytes at
 * the end (the decoded text may differ from the file: BOM, UTF-16, Windows-1252).
 */
#ifndef MM_DOC_INTERNAL_H
#define MM_DOC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "decoders.h"

/* The source encoding.  DOC_ENC_UTF8_FIXED: mostly UTF-8 with a few invalid bytes, each of
 * which became U+FFFD (one per byte, so positions can be mapped back). */
typedef enum doc_enc {
    DOC_ENC_UTF8, DOC_ENC_UTF8_FIXED, DOC_ENC_UTF16LE, DOC_ENC_UTF16BE, DOC_ENC_CP1252
} doc_enc;

/* A file's text as UTF-8: text points into the caller's buffer (valid UTF-8) or into owned. */
typedef struct doc_text {
    const char *text;
    size_t len;
    char *owned;      /* malloc'd conversion, or NULL */
    doc_enc enc;
    size_t skip;      /* BOM bytes before the first decoded byte */
    const unsigned char *src; /* the file's bytes after the BOM, for doc_map_pos */
    size_t src_len;
} doc_text;

/* Collects blocks and their text in one arena; enforces max_text_bytes and max_blocks. */
typedef struct doc_builder {
    char *arena;
    size_t len, cap;       /* arena bytes used / allocated */
    size_t open;           /* arena offset where the block being written started */
    mm_doc_block *blocks;
    size_t *text_off;      /* arena offset of each block's text (pointers fixed at the end) */
    size_t n, bcap;
    size_t max_text, max_blocks;
    const char *name;      /* for messages */
    mm_err *e;
    mm_code failed;        /* sticky: once a limit is hit every append fails */
    char *title;           /* malloc'd, or NULL */
} doc_builder;

/* Appends n bytes to the open block's text. */
mm_code db_append(doc_builder *b, const char *s, size_t n);
static inline mm_code db_putc(doc_builder *b, char c) { return db_append(b, &c, 1); }
/* Size of the open block's text so far, and its last byte (0 when empty). */
size_t db_open_len(const doc_builder *b);
char db_last(const doc_builder *b);
/* Drops trailing ASCII whitespace of the open block. */
void db_rtrim(doc_builder *b);
/* Closes the open block: kept (MM_OK) unless its text is empty and type is not PAGE_BREAK.
 * off/len are positions in the decoded text (or 0, 0). */
mm_code db_end(doc_builder *b, mm_block_type type, int level, int page, uint64_t off, uint64_t len);
/* Discards the open block's text. */
void db_discard(doc_builder *b);

/* text.c: decodes buf into UTF-8 (see decoders.h for the rules); MM_EINVAL for binary data. */
mm_code doc_decode_text(const char *buf, size_t len, const char *name, int reject_legacy,
                        doc_text *out, mm_err *e);
void doc_text_free(doc_text *t);
/* Maps a position in the decoded text back to a byte offset in the file (see doc.c). */
typedef struct doc_map {
    const doc_text *t;
    size_t u;   /* decoded position reached */
    uint64_t s; /* file offset of u */
} doc_map;
uint64_t doc_map_pos(doc_map *m, size_t u);

/* The parsers.  Each reads t and appends to b. */
mm_code doc_parse_plain(const doc_text *t, doc_builder *b);
mm_code doc_parse_markdown(const doc_text *t, doc_builder *b);
mm_code doc_parse_html(const doc_text *t, doc_builder *b);
mm_code doc_parse_pdf(const void *buf, size_t len, const mm_doc_opts *o, doc_builder *b,
                      mm_doc *doc);

/* html_entities.c: decodes the character reference at s[0..n) (s[0] == '&'); returns bytes
 * consumed (0: not a reference, emit '&' literally) and writes its UTF-8 to out (<= 8 bytes). */
size_t doc_entity_decode(const char *s, size_t n, char out[8], size_t *out_len);
/* Writes code point cp as UTF-8 (U+FFFD for surrogates / out of range); returns bytes. */
size_t doc_utf8_put(uint32_t cp, char out[4]);

#endif
