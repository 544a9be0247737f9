/*
 * decoders/image_jpeg.c — JPEG through libjpeg-turbo into an img_raw (RGB8): baseline,
 * progressive, arithmetic, grey, RGB, CMYK / YCCK, restart markers; EXIF orientation from APP1;
 * optional DCT scaling (scale_num/8) when the caller says how small the picture may get.
 *
 * Colour: grey and YCbCr are converted to RGB by libjpeg (JCS_RGB).  CMYK and YCCK are read as
 * JCS_CMYK (libjpeg turns YCCK into CMYK) and then R = C*K/255 etc. with stb_image's rounding
 * (stbi__blinn_8x8), treating the stored values as Adobe-inverted CMYK as Photoshop writes it —
 * the same as stb_image, so llama.cpp and mmpipe agree on such files.
 *
 * Damage policy: libjpeg only *warns* about a file that ends early ("Premature end of JPEG file")
 * or corrupt entropy data and pads with grey; here every warning is an error naming the file,
 * except the harmless metadata ones (unknown JFIF revision, unknown Adobe transform, bad ICC
 * marker, extraneous bytes before a marker).  A progressive file with more than MAX_SCANS scans is
 * refused (decoding time bomb), and libjpeg's working memory is capped from the pixel limit.
 *
 * Error handling: error_exit / emit_message longjmp to jpeg_run's setjmp.  All state that changes
 * after setjmp is in the jpeg_job owned by the caller's frame, so it is defined after the jump.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "image_internal.h"

#define MAX_SCANS 256

typedef struct jpeg_job {
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr jerr;
    struct jpeg_progress_mgr prog;
    jmp_buf jb;
    const img_cfg *cfg;
    size_t n;
    int created;       /* jpeg_create_decompress done */
    uint8_t *px;       /* h*w*3 output */
    uint8_t *cmyk;     /* one CMYK row */
    int w, h, full_w, full_h, orientation;
    mm_code code;
    char why[JMSG_LENGTH_MAX + 64];
} jpeg_job;

static void fail_msg(j_common_ptr ci) {
    jpeg_job *j = ci->client_data;
    char msg[JMSG_LENGTH_MAX];
    ci->err->format_message(ci, msg);
    snprintf(j->why, sizeof j->why, "%s", msg);
    longjmp(j->jb, 1);
}

static void on_error_exit(j_common_ptr ci) { fail_msg(ci); }

/* Warnings (level -1) are errors except the harmless metadata ones; traces (>= 0) are ignored. */
static void on_emit(j_common_ptr ci, int level) {
    if (level >= 0) return;
    switch (ci->err->msg_code) {
    case JWRN_ADOBE_XFORM:
    case JWRN_JFIF_MAJOR:
    case JWRN_BOGUS_ICC:
    case JWRN_EXTRANEOUS_DATA: return;
    default: fail_msg(ci);
    }
}

static void on_progress(j_common_ptr ci) {
    jpeg_job *j = ci->client_data;
    if (((j_decompress_ptr)ci)->input_scan_number > MAX_SCANS) {
        j->code = MM_ELIMIT;
        snprintf(j->why, sizeof j->why, "more than %d scans", MAX_SCANS);
        longjmp(j->jb, 1);
    }
}

static int find_orientation(j_decompress_ptr ci) {
    for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next) {
        if (m->marker != JPEG_APP0 + 1) continue;
        int o = mm__exif_orientation_app1(m->data, m->data_length);
        if (o != 1) return o;
    }
    return 1;
}

static void job_fail(jpeg_job *j, mm_code code, const char *why) {
    j->code = code;
    snprintf(j->why, sizeof j->why, "%s", why);
    longjmp(j->jb, 1);
}

/* Header, orientation and the limits.  Huffman-coded data needs >= 1 bit per luma 8x8 block
 * (DC code), so w*h <= 512 * bytes; twice that is the "header over a tiny file" bound.
 * Arithmetic coding has no such floor and is held by the pixel limit alone. */
static void read_header(jpeg_job *j) {
    j_decompress_ptr ci = &j->ci;
    jpeg_save_markers(ci, JPEG_APP0 + 1, 0xFFFF);
    if (jpeg_read_header(ci, TRUE) != JPEG_HEADER_OK) job_fail(j, MM_ECORRUPT, "no image in the file");
    j->full_w = (int)ci->image_width, j->full_h = (int)ci->image_height;
    j->orientation = find_orientation(ci);
    uint64_t px = (uint64_t)ci->image_width * ci->image_height;
    if (!mm__pixels_ok(ci->image_width, ci->image_height, j->cfg->max_pixels)) {
        j->code = MM_ELIMIT;
        snprintf(j->why, sizeof j->why, "%ux%u pixels exceed the limit of %llu", ci->image_width,
                 ci->image_height, (unsigned long long)j->cfg->max_pixels);
        longjmp(j->jb, 1);
    }
    if (!ci->arith_code && px > 1024 * (uint64_t)j->n + (1u << 22)) {
        snprintf(j->why, sizeof j->why, "header says %ux%u but a %zu-byte file cannot hold it",
                 ci->image_width, ci->image_height, j->n);
        longjmp(j->jb, 1); /* j->code is MM_ECORRUPT */
    }
}

/* Smallest M/8 scale whose output still covers the hint (hint in stored orientation here). */
static void choose_scale(jpeg_job *j, int mw, int mh) {
    j_decompress_ptr ci = &j->ci;
    if (mw <= 0 && mh <= 0) return;
    for (unsigned m = 1; m <= 8; m++) {
        ci->scale_num = m, ci->scale_denom = 8;
        jpeg_calc_output_dimensions(ci);
        if ((int)ci->output_width >= mw && (int)ci->output_height >= mh) return;
    }
    ci->scale_num = ci->scale_denom = 1;
}

static inline uint8_t blinn(unsigned x, unsigned y) {
    unsigned t = x * y + 128;
    return (uint8_t)((t + (t >> 8)) >> 8);
}

static void read_pixels(jpeg_job *j) {
    j_decompress_ptr ci = &j->ci;
    const int cmyk = ci->out_color_space == JCS_CMYK;
    const size_t w = ci->output_width;
    j->px = malloc(w * ci->output_height * 3);
    if (cmyk) j->cmyk = malloc(w * 4);
    if (!j->px || (cmyk && !j->cmyk)) job_fail(j, MM_ENOMEM, "out of memory");
    while (ci->output_scanline < ci->output_height) {
        uint8_t *dst = j->px + (size_t)ci->output_scanline * w * 3;
        JSAMPROW row = cmyk ? j->cmyk : dst;
        if (jpeg_read_scanlines(ci, &row, 1) != 1) job_fail(j, MM_ECORRUPT, "no scanline decoded");
        if (!cmyk) continue;
        for (size_t x = 0; x < w; x++) {
            const uint8_t *s = j->cmyk + 4 * x;
            dst[3 * x] = blinn(s[0], s[3]);
            dst[3 * x + 1] = blinn(s[1], s[3]);
            dst[3 * x + 2] = blinn(s[2], s[3]);
        }
    }
}

/* Everything that can longjmp.  probe_only: stop after the header.  Returns 0 / 1 (error). */
static int jpeg_run(jpeg_job *j, const uint8_t *d, int probe_only) {
    if (setjmp(j->jb)) return 1;
    j_decompress_ptr ci = &j->ci;
    ci->err = jpeg_std_error(&j->jerr);
    j->jerr.error_exit = on_error_exit;
    j->jerr.emit_message = on_emit;
    jpeg_create_decompress(ci);
    j->created = 1;
    ci->client_data = j;
    /* libjpeg's working memory (progressive coefficient buffers: 2 bytes per sample) */
    uint64_t mem = j->cfg->max_pixels < (1ull << 36) ? j->cfg->max_pixels * 8 + (64u << 20) : (1ull << 40);
    ci->mem->max_memory_to_use = (long)mem;
    j->prog.progress_monitor = on_progress;
    ci->progress = &j->prog;
    jpeg_mem_src(ci, d, (unsigned long)j->n);
    read_header(j);
    if (probe_only) return 0;
    int swap = j->cfg->want_exif && j->orientation >= 5;
    choose_scale(j, swap ? j->cfg->min_h : j->cfg->min_w, swap ? j->cfg->min_w : j->cfg->min_h);
    ci->out_color_space = (ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK)
                              ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(ci);
    if (ci->output_width == 0 || ci->output_height == 0) job_fail(j, MM_ECORRUPT, "zero-size image");
    j->w = (int)ci->output_width, j->h = (int)ci->output_height;
    read_pixels(j);
    jpeg_finish_decompress(ci); /* reads to EOI: a missing tail is reported here */
    return 0;
}

static mm_code jpeg_go(const uint8_t *d, size_t n, const char *name, const img_cfg *c, jpeg_job *j,
                       int probe_only, mm_err *e) {
    j->cfg = c, j->n = n, j->code = MM_ECORRUPT;
    int failed = n > 0xFFFFFFFFu ? (snprintf(j->why, sizeof j->why, "file too large"), 1)
                                 : jpeg_run(j, d, probe_only);
    if (j->created) jpeg_destroy_decompress(&j->ci);
    free(j->cmyk);
    if (!failed) return MM_OK;
    free(j->px);
    j->px = NULL;
    return mm_err_set(e, j->code, "%s: bad JPEG: %s", name, j->why);
}

mm_code mm__jpeg_decode(const uint8_t *d, size_t n, const char *name, const img_cfg *c, img_raw *out,
                        mm_err *e) {
    jpeg_job *j = calloc(1, sizeof *j);
    if (!j) return mm_err_set(e, MM_ENOMEM, "%s: out of memory", name);
    mm_code rc = jpeg_go(d, n, name, c, j, 0, e);
    if (rc == MM_OK)
        *out = (img_raw){.w = j->w, .h = j->h, .channels = 3, .px = j->px,
                         .orientation = c->want_exif ? j->orientation : 1,
                         .full_w = j->full_w, .full_h = j->full_h};
    free(j);
    return rc;
}

mm_code mm__jpeg_probe(const uint8_t *d, size_t n, const char *name, int *w, int *h, int *orientation,
                       mm_err *e) {
    img_cfg c = {.max_pixels = UINT64_MAX / 16, .want_exif = 1};
    jpeg_job *j = calloc(1, sizeof *j);
    if (!j) return mm_err_set(e, MM_ENOMEM, "%s: out of memory", name);
    mm_code rc = jpeg_go(d, n, name, &c, j, 1, e);
    if (rc == MM_OK) *w = j->full_w, *h = j->full_h, *orientation = j->orientation;
    free(j);
    return rc;
}
