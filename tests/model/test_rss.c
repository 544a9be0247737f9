/*
 * tests/model/test_rss.c — what a model costs in resident memory: after mm_model_open
 * repacks the Q4_0 / Q8_0 matrices, and after a prompt and some decode steps, none of
 * the repacked matrices' original file pages is mapped in this process (a read of a
 * norm beside one used to map them back: the kernel's fault-around maps the neighbouring
 * pages, on 6.18 a whole large folio), the model file's resident pages are at most its
 * unrepacked tensors plus the pages they share with neighbours (the header and metadata
 * are dropped after the open), and the open adds no anonymous memory beyond the packed
 * copy.  Pages are looked at in /proc/self/pagemap (present bit) and /proc/self/smaps.
 * On fresh copies (in the working directory) of the fixture pack's gemma3 Q4_0 and Q8_0
 * models; skips (77) without ../shared, on a CPU without the repacking kernel, or without
 * /proc.  With the fix nothing here depends on the kernel (the released pages are not in
 * the file's mapping any more); whether the old code fails depends on how far a fault maps
 * around (it does on 6.18 with ext4's large folios).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_int.h"

static int fails;

/* kB value of a /proc/self/status line ("RssAnon:"), -1 when there is none */
static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char l[256];
    long v = -1;
    size_t n = strlen(key);
    while (fgets(l, sizeof l, f))
        if (!strncmp(l, key, n)) v = atol(l + n);
    fclose(f);
    return v;
}

/* Resident bytes of every mapping of the file `path` (smaps "Rss:" of its VMAs). */
static long long file_rss(const char *path) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char l[4096];
    int in = 0;
    long long sum = 0;
    size_t pn = strlen(path);
    while (fgets(l, sizeof l, f)) {
        unsigned long a, b;
        char *nl = strchr(l, '\n');
        if (nl) *nl = 0;
        if (sscanf(l, "%lx-%lx ", &a, &b) == 2 && strchr(l, ' ')) {
            size_t n = strlen(l);
            in = n >= pn && !strcmp(l + n - pn, path);
        } else if (in && !strncmp(l, "Rss:", 4)) {
            sum += atoll(l + 4) * 1024;
        }
    }
    fclose(f);
    return sum;
}

/* Pages wholly inside [p, p + n) that are present in this process. */
static long present_pages(int pm, const void *p, size_t n) {
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + pg - 1) / pg, b = ((uintptr_t)p + n) / pg;
    long c = 0;
    for (uintptr_t i = a; i < b; i++) {
        uint64_t e = 0;
        if (pread(pm, &e, 8, (off_t)(i * 8)) == 8 && (e >> 63)) c++;
    }
    return c;
}

/* src copied to dst with one write. */
static int copy_file(const char *src, const char *dst) {
    FILE *f = fopen(src, "rb");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n > 0 ? malloc((size_t)n) : NULL;
    int bad = !buf || fread(buf, 1, (size_t)n, f) != (size_t)n;
    fclose(f);
    int fd = bad ? -1 : open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    bad = fd < 0 || write(fd, buf, (size_t)n) != (ssize_t)n;
    if (fd >= 0) close(fd);
    free(buf);
    return bad;
}

static void check(int pm, const char *path, const mm_model *m, const char *when, long anon0_kb) {
    const mm_gguf *g = mm_model_gguf(m);
    const long pg = sysconf(_SC_PAGESIZE);
    long long unpacked = 0, packed = 0;
    long stray = 0;
    for (int64_t i = 0; i < mm_gguf_n_tensors(g); i++) {
        const mm_tensor *t = mm_gguf_tensor(g, i);
        if (t->packed) {
            packed += (long long)((mm_packed_bytes(t) + 63) & ~(size_t)63);
            long n = present_pages(pm, t->data, (size_t)t->nbytes);
            if (n) printf("  %s: %s: %ld original pages of repacked %s mapped\n", path, when, n, t->name);
            stray += n;
        } else {
            unpacked += (long long)t->nbytes + 2 * pg; /* + the pages shared with its neighbours */
        }
    }
    long long rss = file_rss(path);
    long anon_kb = status_kb("RssAnon:");
    printf("%s %s: file pages %lld KiB (unrepacked tensors %lld KiB), packed %lld KiB, anon +%ld KiB\n", path, when,
           rss / 1024, unpacked / 1024, packed / 1024, anon_kb - anon0_kb);
    if (stray) {
        printf("FAIL %s %s: %ld pages of repacked matrices' file bytes are resident\n", path, when, stray);
        fails++;
    }
    if (rss < 0 || rss > unpacked) {
        printf("FAIL %s %s: %lld bytes of the model file resident, more than its unrepacked tensors (%lld)\n", path,
               when, rss, unpacked);
        fails++;
    }
    if (anon0_kb >= 0 && (long long)(anon_kb - anon0_kb) * 1024 > packed + (1 << 20)) {
        printf("FAIL %s %s: the open added %ld KiB of anonymous memory, the packed copy is %lld KiB\n", path, when,
               anon_kb - anon0_kb, packed / 1024);
        fails++;
    }
}

static int run(int pm, const char *path) {
    mm_err e;
    mm_model *m;
    long anon0 = status_kb("RssAnon:");
    if (mm_model_open(path, &m, &e) != MM_OK) {
        printf("FAIL open %s: %s\n", path, e.msg);
        return 1;
    }
    char real[4096];
    if (!realpath(path, real)) snprintf(real, sizeof real, "%s", path);
    int any = 0;
    for (int64_t i = 0; i < mm_gguf_n_tensors(mm_model_gguf(m)); i++) any |= mm_gguf_tensor(mm_model_gguf(m), i)->packed != NULL;
    if (!any) {
        mm_model_close(m);
        return 77;
    }
    check(pm, real, m, "after open", anon0);
    mm_ctx_params cp = {64, 16, 1, 1, 1};
    mm_ctx *c;
    if (mm_ctx_open(m, &cp, &c, &e) != MM_OK) {
        printf("FAIL ctx %s: %s\n", path, e.msg);
        mm_model_close(m);
        return 1;
    }
    const int V = mm_model_n_vocab(m);
    int32_t tok[24], pos[24], seq[24] = {0};
    int8_t want[24] = {0};
    for (int i = 0; i < 24; i++) tok[i] = (int32_t)((i * 7919 + 13) % V), pos[i] = i;
    want[15] = 1;
    mm_batch b = {16, tok, NULL, pos, seq, want};
    int rc = mm_decode(c, &b, &e) != MM_OK;
    for (int i = 16; i < 24 && !rc; i++) {
        int8_t one = 1;
        mm_batch b1 = {1, &tok[i], NULL, &pos[i], seq, &one};
        rc = mm_decode(c, &b1, &e) != MM_OK;
    }
    if (rc) {
        printf("FAIL decode %s: %s\n", path, e.msg);
        fails++;
    } else {
        /* the context's own buffers are anonymous too: only the file pages are judged here */
        check(pm, real, m, "after decoding", -1);
    }
    mm_ctx_close(c);
    mm_model_close(m);
    return 0;
}

int main(void) {
    const char *pack = getenv("MMPIPE_FIXTURES") ? getenv("MMPIPE_FIXTURES") : MMPIPE_SHARED_DIR "/fixtures";
    int pm = open("/proc/self/pagemap", O_RDONLY);
    if (pm < 0 || status_kb("RssAnon:") < 0) {
        printf("SKIP: no /proc/self/pagemap or RssAnon\n");
        return 77;
    }
    static const char *const names[] = {"gemma3-q4_0.gguf", "gemma3-q8_0.gguf"};
    int ran = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/models/%s", pack, names[i]);
        if (access(path, R_OK)) continue;
        /* a fresh copy written in one go: its page cache is in large folios where the
         * kernel has them (the ones a fault maps whole), as a downloaded model's is */
        char copy[64];
        snprintf(copy, sizeof copy, "test_rss.%ld.gguf", (long)getpid());
        if (copy_file(path, copy)) {
            printf("FAIL cannot copy %s to %s\n", path, copy);
            fails++;
            continue;
        }
        int r = run(pm, copy);
        remove(copy);
        if (r == 77) {
            printf("SKIP: this CPU has no repacking kernel\n");
            close(pm);
            return 77;
        }
        ran++;
    }
    close(pm);
    if (!ran) {
        printf("SKIP: no fixture models under %s\n", pack);
        return 77;
    }
    if (fails) return 1;
    printf("ok\n");
    return 0;
}
