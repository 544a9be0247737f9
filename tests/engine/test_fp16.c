/*
 * tests/engine/test_fp16.c — FP16 / BF16 conversions: fixed known values and
 * identities (always), then every one of the 65536 halves to float, and
 * ~1.6M floats (every half, every midpoint between neighbouring halves and its
 * neighbours, every bf16 pattern with 5 low halves, random patterns) to half
 * and to bf16, compared with numpy (round to nearest even) bit for bit.
 * NaN inputs follow ggml instead: fp32->fp16 gives sign|0x7E00.
 *
 * usage: test_fp16 HELPER.py WORK_DIR
 */
#include <math.h>

#include "engine.h"
#include "test_util.h"

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float fl(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void fixed(void) {
    CHECK(mm_fp32_to_fp16(1.0f) == 0x3C00, "1.0");
    CHECK(mm_fp32_to_fp16(-2.0f) == 0xC000, "-2.0");
    CHECK(mm_fp32_to_fp16(65504.0f) == 0x7BFF, "max half");
    CHECK(mm_fp32_to_fp16(65519.99f) == 0x7BFF, "below overflow midpoint");
    CHECK(mm_fp32_to_fp16(65520.0f) == 0x7C00, "overflow midpoint rounds to inf");
    CHECK(mm_fp32_to_fp16(1e10f) == 0x7C00 && mm_fp32_to_fp16(-INFINITY) == 0xFC00, "inf");
    CHECK(mm_fp32_to_fp16(0x1.0p-24f) == 0x0001, "smallest subnormal");
    CHECK(mm_fp32_to_fp16(0x1.0p-25f) == 0x0000, "half of smallest subnormal ties to even 0");
    CHECK(mm_fp32_to_fp16(0x1.8p-24f) == 0x0002, "1.5 * 2^-24 ties to even 2");
    CHECK(mm_fp32_to_fp16(-0.0f) == 0x8000, "-0");
    CHECK(mm_fp32_to_fp16(1.0f + 0x1.0p-11f) == 0x3C00, "tie to even (down)");
    CHECK(mm_fp32_to_fp16(1.0f + 3 * 0x1.0p-11f) == 0x3C02, "tie to even (up)");
    CHECK(mm_fp32_to_fp16(NAN) == 0x7E00 && mm_fp32_to_fp16(-NAN) == 0xFE00, "NaN");
    CHECK(mm_fp16_to_fp32(0x0001) == 0x1.0p-24f && mm_fp16_to_fp32(0x03FF) == 1023 * 0x1.0p-24f, "subnormals");
    CHECK(bits(mm_fp16_to_fp32(0x7C00)) == 0x7F800000 && bits(mm_fp16_to_fp32(0x7C01)) == 0x7FC02000, "inf/NaN");
    for (uint32_t h = 0; h < 65536; h++) {
        float f = mm_fp16_to_fp32((uint16_t)h);
        if (isnan(f)) continue;
        CHECK(mm_fp32_to_fp16(f) == h, "round trip 0x%04x", h);
    }
    CHECK(mm_fp32_to_bf16(1.0f) == 0x3F80 && mm_bf16_to_fp32(0x3F80) == 1.0f, "bf16 1");
    CHECK(mm_fp32_to_bf16(fl(0x3F808000)) == 0x3F80 && mm_fp32_to_bf16(fl(0x3F818000)) == 0x3F82, "bf16 ties");
    CHECK(mm_fp32_to_bf16(fl(0x7F800001)) == 0x7FC0 && mm_fp32_to_bf16(fl(0x7F7FFFFF)) == 0x7F80, "bf16 NaN / overflow");
    for (uint32_t b = 0; b < 65536; b++) {
        float f = mm_bf16_to_fp32((uint16_t)b);
        CHECK(bits(f) == b << 16, "bf16 -> f32 0x%04x", b);
        if (!isnan(f)) CHECK(mm_fp32_to_bf16(f) == b, "bf16 round trip 0x%04x", b);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s HELPER WORK_DIR\n", argv[0]); return 2; }
    fixed();
    need_python();
    char dir[4096], p[8192];
    snprintf(dir, sizeof dir, "%s/fp16_ref", argv[2]);
    const char *args[] = {"fp16", dir};
    CHECK(helper_ok(argv[1], args, 2), "helper fp16");
    size_t n1 = 0, n2 = 0, n3 = 0, n4 = 0;
    snprintf(p, sizeof p, "%s/f16_to_f32.bin", dir);
    uint32_t *t16 = read_file(p, &n1);
    snprintf(p, sizeof p, "%s/f32_in.bin", dir);
    uint32_t *in = read_file(p, &n2);
    snprintf(p, sizeof p, "%s/f32_to_f16.bin", dir);
    uint16_t *o16 = read_file(p, &n3);
    snprintf(p, sizeof p, "%s/f32_to_bf16.bin", dir);
    uint16_t *ob = read_file(p, &n4);
    CHECK(t16 && in && o16 && ob && n1 == 65536 * 4 && n3 == n2 / 2 && n4 == n2 / 2, "reference files");
    if (!(t16 && in && o16 && ob)) return test_done("test_fp16");
    int64_t bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint32_t got = bits(mm_fp16_to_fp32((uint16_t)h)), want = t16[h];
        int ok = got == want;
        if (((h >> 10) & 0x1F) == 0x1F && (h & 0x3FF)) /* NaN: same sign and payload, quiet */
            ok = (got | 0x400000u) == (want | 0x400000u) && (got & 0x400000u);
        if (!ok && bad++ < 5) fprintf(stderr, "f16 0x%04x: got 0x%08x want 0x%08x\n", h, got, want);
    }
    CHECK(bad == 0, "%lld halves convert differently", (long long)bad);
    size_t n = n2 / 4;
    int64_t bad16 = 0, badb = 0;
    for (size_t i = 0; i < n; i++) {
        float x = fl(in[i]);
        uint16_t h = mm_fp32_to_fp16(x), want = o16[i];
        if (isnan(x)) want = (uint16_t)((in[i] >> 16 & 0x8000) | 0x7E00);
        if (h != want && bad16++ < 5) fprintf(stderr, "f32 0x%08x -> f16: got 0x%04x want 0x%04x\n", in[i], h, want);
        uint16_t b = mm_fp32_to_bf16(x);
        if (b != ob[i] && badb++ < 5) fprintf(stderr, "f32 0x%08x -> bf16: got 0x%04x want 0x%04x\n", in[i], b, ob[i]);
    }
    CHECK(bad16 == 0, "%lld of %zu floats round to a different half", (long long)bad16, n);
    CHECK(badb == 0, "%lld of %zu floats round to a different bf16", (long long)badb, n);
    printf("compared 65536 halves and %zu floats\n", n);
    free(t16); free(in); free(o16); free(ob);
    return test_done("test_fp16");
}
