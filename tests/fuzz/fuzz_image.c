/*
 * tests/fuzz/fuzz_image.c — libFuzzer target over the image entry point from memory
 * (mm_image_decode_mem: PNG, JPEG, WebP, GIF, BMP, TIFF by magic bytes) and the vision
 * preprocessing of whatever decodes, with a 4 MP pixel limit so that no input can exhaust memory.
 * Options vary with the input's length (EXIF on/off, alpha white/drop, JPEG DCT scaling).
 * Every failure must carry a message; every success must satisfy the mm_image invariants.
 * Seeds: tests/fuzz/corpus_image/.  Crashes found are kept in tests/data/image/regress/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decoders.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mm_image_opts o = {.max_pixels = 4u << 20};
    o.no_exif = size & 1;
    o.alpha = (size >> 1) & 1 ? MM_ALPHA_DROP : MM_ALPHA_WHITE;
    if ((size >> 2) & 1) o.min_w = 7, o.min_h = 5;
    mm_image im;
    mm_err e;
    e.msg[0] = 0;
    if (mm_image_decode_mem(data, size, "fuzz", &o, &im, &e) != MM_OK) {
        if (!e.msg[0] || im.rgb) abort(); /* every failure says why and leaves nothing behind */
        return 0;
    }
    if (im.w <= 0 || im.h <= 0 || (uint64_t)im.w * im.h > o.max_pixels || !im.rgb) abort();
    volatile uint8_t sink = im.rgb[(size_t)im.w * im.h * 3 - 1]; /* the whole buffer is there */
    (void)sink;
    mm_vision_params p;
    mm_vision_input v;
    if ((size >> 3) & 1) mm_vision_params_gemma3(&p, 64, 8, 2);
    else {
        mm_vision_params_gemma4v(&p, 4, 3);
        p.max_tokens = 280;
    }
    if (mm_vision_preprocess(&im, &p, &v, &e) != MM_OK) abort(); /* a decoded picture always preprocesses */
    if (v.content_x < 0 || v.content_y < 0 || v.content_x + v.content_w > v.w || v.content_y + v.content_h > v.h)
        abort();
    mm_vision_input_free(&v);
    mm_image_free(&im);
    o.allow_dct_scaling = 1;
    o.min_w = o.min_h = 0;
    if (mm_vision_decode_mem(data, size, "fuzz", &o, &p, &v, &e) == MM_OK) mm_vision_input_free(&v);
    return 0;
}
