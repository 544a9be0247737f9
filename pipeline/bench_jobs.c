/*
 * pipeline/bench_jobs.c — `mmpipe bench caption|transcribe|ingest`: the three jobs end to end,
 * with batching off (--parallel 1: one job per context, one sequence per decode step) and on
 * (--parallel P: the scheduler of batch_gen.c decodes P jobs' steps in one pass), in one command
 * so the two figures come from the same machine state.
 *
 * Each run is the real command (`mmpipe caption ...`, this binary, as a child process) over a
 * scratch folder of inputs made here, with its own database: the seconds are what a user waits,
 * model loading included.  The outputs of the two runs are compared: batching must not change
 * a single caption, transcript or search result ("same_output").
 *
 *   caption:    N pictures (BMP, 640x480, drawn here, each different);  items_per_hour = images/h
 *   transcribe: N recordings (WAV, 16 kHz, voiced bursts with pauses);   items_per_hour = audio h/h
 *   ingest:     N one-page Markdown documents (about 3,000 characters); items_per_hour = pages/h,
 *               and pages_per_minute
 * JSON: {"kind", "items", "seconds", "items_per_hour" (batching on), "batching_off": {...},
 *        "batching_on": {"seconds", "items_per_hour", "parallel", "peak_rss_bytes"}, "speedup",
 *        "same_output"}.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- inputs ---- */

static int write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void le16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8); }
static void le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* A 24-bit BMP: a gradient sky, a sun, a few boxes; picture k differs from every other. */
static int write_picture(const char *path, int k) {
    enum { W = 640, H = 480, ROW = W * 3 };
    size_t n = 54 + (size_t)ROW * H;
    unsigned char *b = calloc(1, n);
    if (!b) return -1;
    b[0] = 'B', b[1] = 'M';
    le32(b + 2, (uint32_t)n), le32(b + 10, 54), le32(b + 14, 40), le32(b + 18, W), le32(b + 22, H);
    le16(b + 26, 1), le16(b + 28, 24), le32(b + 34, (uint32_t)(ROW * H));
    unsigned x = 2654435761u * (unsigned)(k + 1);
    const int sx = 80 + (int)(x % 480), sy = 60 + (int)((x >> 9) % 200), sr = 30 + (int)((x >> 17) % 40);
    for (int y = 0; y < H; y++) {
        unsigned char *row = b + 54 + (size_t)(H - 1 - y) * ROW; /* bottom-up */
        for (int i = 0; i < W; i++) {
            int r = 40 + y * 150 / H, g = 90 + y * 100 / H, bl = 200 - y * 80 / H;
            if (y > H * 2 / 3) r = 60 + (k * 37) % 100, g = 120 + (i * 3 + k) % 80, bl = 40;
            if ((i - sx) * (i - sx) + (y - sy) * (y - sy) < sr * sr) r = 250, g = 220, bl = 60;
            for (int q = 0; q < 3; q++) {
                unsigned h = 2246822519u * (unsigned)(k * 7 + q + 1);
                int bx = (int)(h % 560), by = 200 + (int)((h >> 11) % 200), bw = 30 + (int)((h >> 5) % 50);
                if (i >= bx && i < bx + bw && y >= by && y < by + bw) r = (int)(h >> 3) & 255, g = (int)(h >> 13) & 255, bl = (int)(h >> 23) & 255;
            }
            row[i * 3] = (unsigned char)bl, row[i * 3 + 1] = (unsigned char)g, row[i * 3 + 2] = (unsigned char)r;
        }
    }
    int rc = write_file(path, b, n);
    free(b);
    return rc;
}

/* A 16 kHz mono WAV of `secs` seconds: voiced bursts (a pitch with harmonics, syllable-rate
 * envelope) of 1.5..3 s separated by pauses, so voice-activity segmentation finds segments. */
static int write_recording(const char *path, int k, double secs) {
    const int rate = 16000;
    size_t n = (size_t)(secs * rate), bytes = 44 + n * 2;
    unsigned char *b = calloc(1, bytes);
    if (!b) return -1;
    memcpy(b, "RIFF", 4), le32(b + 4, (uint32_t)(bytes - 8)), memcpy(b + 8, "WAVEfmt ", 8);
    le32(b + 16, 16), le16(b + 20, 1), le16(b + 22, 1), le32(b + 24, (uint32_t)rate), le32(b + 28, (uint32_t)rate * 2);
    le16(b + 32, 2), le16(b + 34, 16), memcpy(b + 36, "data", 4), le32(b + 40, (uint32_t)(n * 2));
    unsigned x = 977u * (unsigned)(k + 3);
    double t_next = 0.3, burst_end = 0, f0 = 120;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / rate, v = 0;
        if (t >= t_next) { /* a new burst */
            x = x * 1103515245u + 12345u;
            double len = 1.5 + (double)(x >> 16 & 1023) / 1023 * 1.5;
            burst_end = t + len;
            t_next = burst_end + 0.6 + (double)(x >> 8 & 255) / 255 * 0.6;
            f0 = 100 + (double)(x >> 4 & 127);
        }
        if (t < burst_end) {
            double env = 0.5 - 0.5 * cos(2 * M_PI * 4.0 * t);
            for (int h = 1; h <= 6; h++) v += sin(2 * M_PI * f0 * h * t) / h;
            v *= 0.25 * env;
        }
        int s = (int)lrint(v * 32767);
        if (s > 32767) s = 32767;
        if (s < -32768) s = -32768;
        le16(b + 44 + i * 2, (unsigned)(s & 0xffff));
    }
    int rc = write_file(path, b, bytes);
    free(b);
    return rc;
}

/* About one page of Markdown: a heading, sections, paragraphs of words drawn per document. */
static int write_document(const char *path, int k) {
    static const char *const words[] = {"river", "ledger", "invoice", "harbour", "turbine", "quarterly",
                                        "meeting", "budget", "sensor", "archive", "contract", "schedule",
                                        "network", "policy", "shipment", "forecast", "museum", "garden"};
    const int nw = (int)(sizeof words / sizeof words[0]);
    char *s = malloc(8192);
    if (!s) return -1;
    size_t n = (size_t)snprintf(s, 8192, "# Report %d\n\n", k);
    unsigned x = 40503u * (unsigned)(k + 11);
    for (int sec = 0; sec < 3 && n < 7000; sec++) {
        n += (size_t)snprintf(s + n, 8192 - n, "## Section %d.%d\n\n", k, sec + 1);
        for (int para = 0; para < 2; para++) {
            for (int w = 0; w < 80 && n < 7900; w++) {
                x = x * 1103515245u + 12345u;
                n += (size_t)snprintf(s + n, 8192 - n, "%s%s", w ? " " : "", words[(x >> 16) % (unsigned)nw]);
            }
            n += (size_t)snprintf(s + n, 8192 - n, ".\n\n");
        }
    }
    int rc = write_file(path, s, n);
    free(s);
    return rc;
}

/* ---- runs ---- */

/* Runs this binary with argv (stdout to out_path or /dev/null); wall seconds, or -1. */
static double run_child(char **argv, const char *out_path, long *maxrss_kb) {
    int64_t t0 = mm_mono_ns();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 1);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0) return -1;
    *maxrss_kb = ru.ru_maxrss;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { /* every item must succeed for a figure to mean anything */
        cli_error("bench: '%s %s' failed (%s %d)", argv[0], argv[1], WIFEXITED(st) ? "exit" : "signal",
                  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        return -1;
    }
    return (double)(mm_mono_ns() - t0) / 1e9;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    for (size_t got; b && (got = fread(b + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n < 2) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) { free(b); b = NULL; }
            else b = nb;
        }
    }
    fclose(f);
    if (b) b[n] = 0;
    return b;
}

/* The outputs that must not change with batching: the text of every record, in order. */
static char *result_texts(const char *self, const char *dbp, const char *kind, const char *dir) {
    char *out = mm_asprintf("%s/%s.export.jsonl", dir, kind);
    char *argv[] = {(char *)self, "results", "export", "--db", (char *)dbp, "--kind", (char *)kind, "--format", "jsonl", NULL};
    long rss;
    char *texts = NULL;
    if (out && run_child(argv, out, &rss) >= 0) {
        char *all = slurp(out);
        size_t cap = all ? strlen(all) + 1 : 1, n = 0;
        texts = calloc(1, cap);
        for (char *line = all, *nl; texts && line && *line; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            if (nl) *nl = 0;
            cJSON *o = cJSON_Parse(line);
            const cJSON *p = cJSON_GetObjectItem(o, "path"), *t = cJSON_GetObjectItem(o, "text");
            if (cJSON_IsString(p) && cJSON_IsString(t))
                n += (size_t)snprintf(texts + n, cap - n, "%s\t%s\n", strrchr(p->valuestring, '/'), t->valuestring);
            cJSON_Delete(o);
        }
        free(all);
    }
    free(out);
    return texts;
}

typedef struct bench_run {
    double seconds;
    long rss_kb;
    char *output;
} bench_run;

/* One run of the job command over dir with --parallel p; its own database in scratch. */
static int one_run(const cli *c, const char *kind, const char *scratch, const char *dir, int p, bench_run *r) {
    char dbp[4200], par[16], thr[16], np[16], imax[16], outdir[4200];
    snprintf(dbp, sizeof dbp, "%s/p%d.db", scratch, p);
    snprintf(outdir, sizeof outdir, "%s/out-p%d", scratch, p);
    snprintf(par, sizeof par, "%d", p);
    snprintf(thr, sizeof thr, "%d", c->threads > 0 ? c->threads : 1);
    snprintf(np, sizeof np, "%d", c->n_predict);
    snprintf(imax, sizeof imax, "%d", c->img_max_tokens);
    const char *self = "/proc/self/exe";
    char *argv[40];
    int a = 0;
    argv[a++] = (char *)"mmpipe";
    argv[a++] = (char *)kind;
    argv[a++] = "--db", argv[a++] = dbp, argv[a++] = "--quiet", argv[a++] = "-t", argv[a++] = thr;
    if (!strcmp(kind, "ingest")) {
        argv[a++] = "--embed-model", argv[a++] = (char *)c->embed_model;
    } else {
        argv[a++] = "-m", argv[a++] = (char *)c->model, argv[a++] = "--mmproj", argv[a++] = (char *)c->mmproj;
        argv[a++] = "--parallel", argv[a++] = par;
        if (c->n_predict > 0) argv[a++] = "-n", argv[a++] = np;
    }
    if (!strcmp(kind, "ingest")) argv[a++] = "--parallel", argv[a++] = par;
    if (!strcmp(kind, "caption") && c->img_max_tokens > 0) argv[a++] = "--image-max-tokens", argv[a++] = imax;
    if (!strcmp(kind, "transcribe")) argv[a++] = "--format", argv[a++] = "json", argv[a++] = "--out-dir", argv[a++] = outdir;
    argv[a++] = (char *)dir;
    argv[a] = NULL;
    if (!c->quiet) fprintf(stderr, "bench %s: --parallel %d ...\n", kind, p);
    r->seconds = run_child(argv, NULL, &r->rss_kb);
    if (r->seconds < 0) return -1;
    if (!strcmp(kind, "ingest")) { /* the search results stand for the stored vectors */
        char *out = mm_asprintf("%s/search-p%d.json", scratch, p);
        char *sv[] = {"mmpipe", "search", "--db", dbp, "--embed-model", (char *)c->embed_model, "--json", "-k", "20",
                      "quarterly budget forecast", NULL};
        long rss;
        r->output = out && run_child(sv, out, &rss) >= 0 ? slurp(out) : NULL;
        free(out);
    } else {
        r->output = result_texts(self, dbp, kind, scratch);
    }
    return r->output ? 0 : -1;
}

static cJSON *run_json(const bench_run *r, double items, int p) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seconds", round(r->seconds * 1000) / 1000);
    cJSON_AddNumberToObject(o, "items_per_hour", round(items / r->seconds * 3600 * 100) / 100);
    cJSON_AddNumberToObject(o, "parallel", p);
    cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)r->rss_kb * 1024);
    return o;
}

int bench_jobs(const cli *c, const char *kind) {
    const int is_cap = !strcmp(kind, "caption"), is_tr = !strcmp(kind, "transcribe");
    const int n = c->bench_items > 0 ? c->bench_items : is_cap ? 8 : is_tr ? 4 : 20;
    const int par = c->parallel > 1 ? c->parallel : 4;
    const double rec_secs = 20;
    char scratch[4096], dir[4200];
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/mmpipe-bench-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", kind);
    if (!mkdtemp(scratch)) {
        cli_error("bench %s: cannot create a scratch folder: %s", kind, strerror(errno));
        return EXIT_FATAL;
    }
    snprintf(dir, sizeof dir, "%s/inputs", scratch);
    int rc = mkdir(dir, 0777);
    for (int k = 0; k < n && !rc; k++) {
        char path[4300];
        snprintf(path, sizeof path, "%s/%s%03d.%s", dir, is_cap ? "picture" : is_tr ? "recording" : "report", k,
                 is_cap ? "bmp" : is_tr ? "wav" : "md");
        rc = is_cap ? write_picture(path, k) : is_tr ? write_recording(path, k, rec_secs) : write_document(path, k);
    }
    if (rc) {
        cli_error("bench %s: cannot write inputs in %s: %s", kind, dir, strerror(errno));
        cli_rm_rf(scratch);
        return EXIT_FATAL;
    }
    /* items: images; audio hours; pages (a page = one document here) */
    const double items = is_tr ? n * rec_secs / 3600 : n;
    bench_run off = {0}, on = {0};
    if (one_run(c, kind, scratch, dir, 1, &off) || one_run(c, kind, scratch, dir, par, &on)) {
        free(off.output);
        free(on.output);
        cli_rm_rf(scratch);
        return EXIT_FATAL;
    }
    const int same = !strcmp(off.output, on.output);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "kind", kind);
    cJSON_AddNumberToObject(root, "items", is_tr ? round(items * 10000) / 10000 : items);
    if (is_tr) cJSON_AddNumberToObject(root, "recordings", n);
    cJSON_AddNumberToObject(root, "seconds", round(on.seconds * 1000) / 1000);
    cJSON_AddNumberToObject(root, "items_per_hour", round(items / on.seconds * 3600 * 100) / 100);
    if (!is_cap && !is_tr) cJSON_AddNumberToObject(root, "pages_per_minute", round(items / on.seconds * 60 * 100) / 100);
    cJSON_AddItemToObject(root, "batching_off", run_json(&off, items, 1));
    cJSON_AddItemToObject(root, "batching_on", run_json(&on, items, par));
    cJSON_AddNumberToObject(root, "speedup", round(off.seconds / on.seconds * 100) / 100);
    cJSON_AddBoolToObject(root, "same_output", same);
    cJSON_AddNumberToObject(root, "threads", c->threads > 0 ? c->threads : 1);
    if (c->json) {
        char *s = cJSON_PrintUnformatted(root);
        if (s) puts(s);
        free(s);
    } else {
        const char *unit = is_cap ? "images/h" : is_tr ? "audio h/h" : "pages/h";
        printf("bench %s: %d %s, %d thread(s)\n", kind, n, is_cap ? "pictures" : is_tr ? "recordings of 20 s" : "one-page documents",
               c->threads > 0 ? c->threads : 1);
        printf("  batching off (--parallel 1): %8.2f s  %10.2f %s\n", off.seconds, items / off.seconds * 3600, unit);
        printf("  batching on  (--parallel %d): %8.2f s  %10.2f %s  (x%.2f)\n", par, on.seconds,
               items / on.seconds * 3600, unit, off.seconds / on.seconds);
        printf("  outputs %s\n", same ? "identical" : "DIFFER");
    }
    cJSON_Delete(root);
    free(off.output);
    free(on.output);
    if (getenv("MMPIPE_BENCH_KEEP")) fprintf(stderr, "bench %s: kept %s\n", kind, scratch); /* for a look at the runs */
    else cli_rm_rf(scratch);
    return same ? EXIT_OK : EXIT_FATAL;
}
