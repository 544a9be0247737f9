/*
 * tests/engine/test_gguf_fixtures.c — opens every GGUF file of
 * ../shared/fixtures/models (and one generated with every metadata type) and
 * compares what mm_gguf reads with gguf_writer.py's reader: version,
 * alignment, key count, each key's type / element type / length / value
 * (SHA-256 of a canonical encoding), tensor count and each tensor's
 * name / type / shape / offset / size, in file order; plus model_info totals.
 *
 * usage: test_gguf_fixtures SHARED_DIR HELPER.py WORK_DIR
 */
#include <dirent.h>

#include "engine.h"
#include "test_util.h"

static int unhex(const char *h, char *out, size_t cap) {
    size_t n = strlen(h);
    if (n % 2 || n / 2 >= cap) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(h + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (char)v;
    }
    out[n / 2] = 0;
    return (int)(n / 2);
}

static const uint32_t k_es[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* SHA-256 of the canonical encoding (see gguf_ref.py canon()). */
static void kv_hash(const mm_gguf *g, int64_t i, char hex[65]) {
    mm_sha256 s;
    mm_sha256_init(&s);
    uint64_t n = mm_gguf_arr_len(g, i);
    uint32_t t = mm_gguf_arr_type(g, i);
    if (t == MM_GGUF_STRING) {
        for (uint64_t j = 0; j < n; j++) {
            mm_str str;
            mm_err e;
            if (mm_gguf_arr_str(g, i, j, &str, &e)) { CHECK(0, "%s", e.msg); break; }
            uint8_t len[8];
            for (int b = 0; b < 8; b++) len[b] = (uint8_t)((uint64_t)str.n >> (8 * b));
            mm_sha256_update(&s, len, 8);
            mm_sha256_update(&s, str.p, str.n);
        }
    } else {
        mm_sha256_update(&s, mm_gguf_arr_data(g, i), n * k_es[t]);
    }
    uint8_t d[32];
    mm_sha256_final(&s, d);
    mm_sha256_hex(d, hex);
}

static void compare(const char *path, const char *helper, const char *tools) {
    mm_gguf *g = NULL;
    mm_err e;
    mm_err_clear(&e);
    mm_code c = mm_gguf_open(path, &g, &e);
    CHECK(c == MM_OK, "open %s: %s", path, e.msg);
    if (c) return;
    const char *args[] = {"dump", tools, path};
    FILE *f = run_helper(helper, args, 3);
    CHECK(f != NULL, "popen helper");
    if (!f) { mm_gguf_close(g); return; }
    char line[1 << 16];
    int64_t kv_i = 0, t_i = 0, n_params = 0;
    uint64_t bytes = 0;
    int fails0 = g_fail;
    while (fgets(line, sizeof line, f)) {
        char w[64], hx[4096], name[2048], hash[80];
        unsigned long long a, b2, n, ne[4], off, nb;
        unsigned vt, sub, ty, nd;
        if (sscanf(line, "version %llu", &a) == 1) CHECK(mm_gguf_version(g) == a, "%s version", path);
        else if (sscanf(line, "alignment %llu", &a) == 1) CHECK(mm_gguf_alignment(g) == a, "%s alignment", path);
        else if (sscanf(line, "n_kv %llu", &a) == 1) CHECK(mm_gguf_n_kv(g) == (int64_t)a, "%s n_kv %lld vs %llu", path, (long long)mm_gguf_n_kv(g), a);
        else if (sscanf(line, "n_tensors %llu", &a) == 1) CHECK(mm_gguf_n_tensors(g) == (int64_t)a, "%s n_tensors", path);
        else if (sscanf(line, "kv %4095s %u %u %llu %79s", hx, &vt, &sub, &n, hash) == 5) {
            unhex(hx, name, sizeof name);
            int64_t i = mm_gguf_find_key(g, name);
            CHECK(i == kv_i, "%s key '%s' at index %lld, expected %lld", path, name, (long long)i, (long long)kv_i);
            kv_i++;
            if (i < 0) continue;
            CHECK(strcmp(mm_gguf_key(g, i), name) == 0, "%s key name", path);
            CHECK(mm_gguf_kv_type(g, i) == vt, "%s key '%s' type %u vs %u", path, name, mm_gguf_kv_type(g, i), vt);
            CHECK(mm_gguf_arr_type(g, i) == sub, "%s key '%s' elem type", path, name);
            CHECK(mm_gguf_arr_len(g, i) == n, "%s key '%s' length %llu vs %llu", path, name,
                  (unsigned long long)mm_gguf_arr_len(g, i), n);
            char h[65];
            kv_hash(g, i, h);
            CHECK(strcmp(h, hash) == 0, "%s key '%s' value differs", path, name);
        } else if (sscanf(line, "tensor %4095s %u %u %llu %llu %llu %llu %llu %llu", hx, &ty, &nd, &ne[0], &ne[1],
                          &ne[2], &ne[3], &off, &nb) == 9) {
            unhex(hx, name, sizeof name);
            const mm_tensor *t = mm_gguf_find_tensor(g, name);
            CHECK(t == mm_gguf_tensor(g, t_i), "%s tensor '%s' not found at index %lld", path, name, (long long)t_i);
            t_i++;
            if (!t) continue;
            CHECK(t->type == ty && t->n_dims == nd, "%s tensor '%s' type/ndims", path, name);
            for (int d = 0; d < 4; d++) CHECK(t->ne[d] == (int64_t)ne[d], "%s tensor '%s' ne[%d]", path, name, d);
            CHECK(t->file_offset == off, "%s tensor '%s' offset %llu vs %llu", path, name,
                  (unsigned long long)t->file_offset, off);
            CHECK(t->nbytes == nb, "%s tensor '%s' nbytes", path, name);
            CHECK((const char *)t->data == (const char *)mm_gguf_base(g) + off, "%s tensor '%s' data", path, name);
            CHECK((uintptr_t)t->data % mm_gguf_alignment(g) == 0, "%s tensor '%s' data not aligned", path, name);
            n_params += (int64_t)(ne[0] * ne[1] * ne[2] * ne[3]);
            bytes += nb;
        } else {
            CHECK(0, "%s: unexpected helper line: %.200s", path, line);
        }
        (void)w;
        (void)b2;
    }
    int rc = pclose(f);
    CHECK(rc == 0, "%s: helper exited with %d", path, rc);
    CHECK(kv_i == mm_gguf_n_kv(g) && t_i == mm_gguf_n_tensors(g), "%s: helper listed %lld keys / %lld tensors", path,
          (long long)kv_i, (long long)t_i);
    mm_model_info mi;
    c = mm_model_info_get(g, 0, &mi, &e);
    CHECK(c == MM_OK, "%s model_info: %s", path, e.msg);
    CHECK(mi.n_params == n_params && mi.tensor_bytes == bytes, "%s model_info totals", path);
    CHECK(mi.n_tensors == t_i && mi.n_kv == kv_i, "%s model_info counts", path);
    printf("%s %s: %lld keys, %lld tensors\n", g_fail == fails0 ? "ok  " : "FAIL", path, (long long)kv_i,
           (long long)t_i);
    mm_gguf_close(g);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s SHARED_DIR HELPER WORK_DIR\n", argv[0]); return 2; }
    char models[4096], tools[4096], gen[4096];
    snprintf(models, sizeof models, "%s/fixtures/models", argv[1]);
    snprintf(tools, sizeof tools, "%s/tools", argv[1]);
    if (!is_dir(models) || !is_dir(tools)) {
        char why[8400];
        snprintf(why, sizeof why, "%s or %s not found (../shared is absent)", models, tools);
        test_skip(why);
    }
    need_python();
    /* a generated file with every metadata type */
    snprintf(gen, sizeof gen, "%s/fixtures_alltypes.gguf", argv[3]);
    const char *args[] = {"gen", tools, gen};
    CHECK(helper_ok(argv[2], args, 3), "generating %s", gen);
    compare(gen, argv[2], tools);

    DIR *d = opendir(models);
    CHECK(d != NULL, "opendir %s", models);
    if (!d) return test_done("test_gguf_fixtures");
    char *names[512];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 512) {
        size_t l = strlen(de->d_name);
        if (l > 5 && strcmp(de->d_name + l - 5, ".gguf") == 0) names[n++] = mm_strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    CHECK(n >= 20, "only %d fixture models", n);
    for (int i = 0; i < n; i++) {
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", models, names[i]);
        compare(p, argv[2], tools);
        free(names[i]);
    }
    return test_done("test_gguf_fixtures");
}
