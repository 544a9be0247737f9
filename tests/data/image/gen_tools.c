/*
 * tests/data/image/gen_tools.c — helper of scripts/gen_testdata_image.sh (built in a temporary
 * folder there, not part of the build): the reference pixels and the JPEG kinds cjpeg cannot make.
 *
 *   gen_tools stb IN OUT CH      stb_image's stbi_load(IN, ..., CH) as raw bytes (h*w*CH) — the
 *                                decoder llama.cpp uses, from Debian's libstb-dev
 *   gen_tools cmyk IN.ppm OUT.jpg YCCK   a 4-component Adobe JPEG (inverted CMYK, as Photoshop
 *                                writes it; YCCK = 1 stores it as YCCK) whose stb_image / mmpipe
 *                                decoding R = C*K/255 gives back the picture of IN.ppm
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

static int do_stb(const char *in, const char *out, int ch) {
    int w, h, n;
    unsigned char *p = stbi_load(in, &w, &h, &n, ch);
    if (!p) {
        fprintf(stderr, "stb: %s: %s\n", in, stbi_failure_reason());
        return 1;
    }
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(p, 1, (size_t)w * h * ch, f) != (size_t)w * h * ch) return 1;
    fclose(f);
    stbi_image_free(p);
    return 0;
}

static int do_cmyk(const char *in, const char *out, int ycck) {
    int w, h, n;
    unsigned char *rgb = stbi_load(in, &w, &h, &n, 3);
    if (!rgb) return 1;
    unsigned char *cmyk = malloc((size_t)w * h * 4);
    for (int i = 0; i < w * h; i++) {
        const unsigned char *s = rgb + 3 * i;
        int k = s[0] > s[1] ? s[0] : s[1];
        k = k > s[2] ? k : s[2];
        if (k < 1) k = 1;
        for (int c = 0; c < 3; c++) cmyk[4 * i + c] = (unsigned char)((s[c] * 255 + k / 2) / k);
        cmyk[4 * i + 3] = (unsigned char)k; /* inverted: stored K' = 255 - K */
    }
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    FILE *f = fopen(out, "wb");
    if (!f) return 1;
    jpeg_stdio_dest(&ci, f);
    ci.image_width = w, ci.image_height = h, ci.input_components = 4, ci.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&ci);
    jpeg_set_colorspace(&ci, ycck ? JCS_YCCK : JCS_CMYK);
    jpeg_set_quality(&ci, 95, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = cmyk + (size_t)ci.next_scanline * w * 4;
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(f);
    free(cmyk);
    stbi_image_free(rgb);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "stb")) return do_stb(argv[2], argv[3], atoi(argv[4]));
    if (argc == 5 && !strcmp(argv[1], "cmyk")) return do_cmyk(argv[2], argv[3], atoi(argv[4]));
    fprintf(stderr, "usage: gen_tools stb IN OUT CH | cmyk IN.ppm OUT.jpg YCCK\n");
    return 2;
}
