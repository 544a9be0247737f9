/*
 * pipeline/cmd_media.c — `mmpipe caption` and `mmpipe transcribe [--summarize]`: scan the
 * paths, keep the images (by magic bytes) or the recordings (files FFmpeg opens with an
 * audio stream), enqueue one job per content with the model identity in its key, run the
 * workers until the queue is drained (as `mmpipe hash` does), then write what the user asked
 * for from the database: captions on stdout, .txt sidecars and a JSONL file; transcripts as
 * SRT / WebVTT / JSON / text files named as whisper.cpp names them (call.mp3 -> call.mp3.srt)
 * beside the input or under --out-dir, and summaries (call.mp3.summary.txt).
 * Outputs are written from the stored results, so a re-run rewrites them without model work.
 * --json replaces what is printed on stdout by one summary line (progress stays on stderr).
 * The params of both kinds (media_caption_params / media_transcribe_params) are shared with
 * `mmpipe ingest -m`, which queues the same jobs for the images and recordings it finds.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decoders.h"
#include "model_cache.h"

#define MEDIA_OPTS "db,config,sync,busy-timeout,quiet,force,workers,lease,heartbeat,backoff,backoff-cap," \
                   "max-attempts,max-crashes,throttle-ms,model,mmproj,threads,n-predict,prompt,parallel,json"

static const char *const caption_help =
    "usage: mmpipe caption PATH... -m MODEL.gguf --mmproj MMPROJ.gguf [--prompt TEXT] [-n N]\n"
    "                      [--sidecar] [--out FILE.jsonl] [--no-exif] [--alpha white|drop] [-j N] [--force] [--json]\n"
    "Queues one 'caption' job per image (folders recursively; images found by their magic bytes,\n"
    "one job per content), runs them with the model loaded once, and prints 'path: caption'.\n"
    "A re-run does no model work for what is done; a failed image stays failed (exit 3) until\n"
    "'mmpipe jobs retry' or --force.  Generation is greedy, -n tokens at most (default 64).\n"
    "  --sidecar          also write PATH.txt next to each image (the caption)\n"
    "  --out FILE.jsonl   records {path, sha256, caption, model, finished_at} for these images\n"
    "  --no-exif          ignore EXIF orientation (applied by default)\n"
    "  --alpha drop       drop alpha as llama.cpp does (default: composite over white)\n"
    "  --json             stdout: one summary line instead of the captions, {\"done\", \"failed\",\n"
    "                     \"skipped\", \"seconds\", \"images\", \"ignored\", \"captions\"}: jobs done / failed\n"
    "                     by this run (failed: also inputs still failed or unreadable), inputs already\n"
    "                     done, files that are not images, captions of these images\n"
    "Model paths may come from mmpipe.json (\"model\", \"mmproj\").  Exit 0 all done, 3 some failed,\n"
    "1 fatal (model unreadable, missing path), 2 usage.\n";

static const char *const transcribe_help =
    "usage: mmpipe transcribe PATH... -m MODEL.gguf --mmproj MMPROJ.gguf [--summarize [--summary-budget N]]\n"
    "                         [--format srt,vtt,json,txt] [--out-dir DIR] [--prompt TEXT] [-n N] [-j N] [--json]\n"
    "Queues one 'transcribe' job per recording (audio files and the audio track of videos, found\n"
    "by opening them; other files are skipped), cuts each into voice-activity segments (at most\n"
    "30 s) and transcribes each segment (-n tokens at most, default 128).  Writes, for call.mp3,\n"
    "call.mp3.srt / .vtt / .json / .txt (--format: a comma list, default all four) beside it, or\n"
    "under --out-dir with the input's subfolders; a recording without speech gets files without\n"
    "cues.  --summarize then queues one 'summarize' job per transcript (map-reduce over pieces\n"
    "when it is long: --summary-budget TOKENS, default 2048) and writes call.mp3.summary.txt.\n"
    "--json: stdout is one summary line, {\"done\", \"failed\", \"skipped\", \"seconds\", \"recordings\",\n"
    "\"ignored\", \"transcripts\"[, \"summaries\"]} (as for 'mmpipe caption --json'); files are still written.\n"
    "Exit codes as for 'mmpipe caption'.\n";

/* ---- shared ---- */

/* What a run did, for --json: {"done", "failed", "skipped", "seconds", ...}. */
typedef struct run_summary {
    int64_t done, failed, skipped;   /* jobs done / failed by this run (failed: also inputs still failed
                                        or unreadable); inputs already done (no model work) */
    int64_t inputs, ignored, outputs; /* files of the kind, files of another kind, results written */
    int64_t t0;                      /* mm_mono_ns at the start */
} run_summary;

static void summary_enqueued(run_summary *s, const jobs_enqueue_stats *st) {
    s->failed += st->failed_already + st->unreadable;
    s->skipped += st->done_already;
}

static void summary_ran(run_summary *s, const worker_stats *w) {
    s->done += w->done;
    s->failed += w->failed;
}

/* Prints the summary as one compact JSON line on stdout: the counts, then s->inputs and s->outputs
 * under the command's names for them, and one extra count when extra_name is not NULL. */
static void summary_print(const run_summary *s, const char *inputs, const char *outputs, int64_t extra,
                          const char *extra_name) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "done", (double)s->done);
    cJSON_AddNumberToObject(o, "failed", (double)s->failed);
    cJSON_AddNumberToObject(o, "skipped", (double)s->skipped);
    cJSON_AddNumberToObject(o, "seconds", (double)llround((double)(mm_mono_ns() - s->t0) / 1e6) / 1000);
    cJSON_AddNumberToObject(o, inputs, (double)s->inputs);
    cJSON_AddNumberToObject(o, "ignored", (double)s->ignored);
    cJSON_AddNumberToObject(o, outputs, (double)s->outputs);
    if (extra_name) cJSON_AddNumberToObject(o, extra_name, (double)extra);
    char *line = cJSON_PrintUnformatted(o);
    if (line) puts(line);
    free(line);
    cJSON_Delete(o);
}

cJSON *media_caption_params(const cli *c) {
    /* canonical (sorted keys), part of the idempotency key */
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "alpha", c->alpha ? c->alpha : "white");
    cJSON_AddNumberToObject(p, "exif", !c->no_exif);
    /* a token budget other than the default is part of the key; the default adds no key */
    if (c->img_max_tokens) cJSON_AddNumberToObject(p, "max_tokens", c->img_max_tokens);
    if (c->img_min_tokens) cJSON_AddNumberToObject(p, "min_tokens", c->img_min_tokens);
    cJSON_AddNumberToObject(p, "n_predict", c->n_predict > 0 ? c->n_predict : MEDIA_CAPTION_N_PREDICT);
    cJSON_AddStringToObject(p, "prompt", c->prompt ? c->prompt : MEDIA_CAPTION_PROMPT);
    return p;
}

cJSON *media_transcribe_params(const cli *c) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "n_predict", c->n_predict > 0 ? c->n_predict : MEDIA_TRANSCRIBE_N_PREDICT);
    cJSON_AddStringToObject(p, "prompt", c->prompt ? c->prompt : MEDIA_TRANSCRIBE_PROMPT);
    return p;
}

static int setup_model(const cli *c, const char **identity) {
    mm_err e;
    if (!c->model || !c->mmproj) {
        cli_error("%s: -m MODEL.gguf and --mmproj MMPROJ.gguf are required (or \"model\" and \"mmproj\" in "
                  "mmpipe.json)", c->cmd);
        return EXIT_USAGE;
    }
    if (model_cache_config(c->model, c->mmproj, c->threads, &e) != MM_OK || model_cache_identity(identity, &e) != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    model_cache_set_parallel(c->parallel > 0 ? c->parallel : MODEL_CACHE_PARALLEL);
    return 0;
}

static int is_image(const char *path) {
    unsigned char b[64];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    return mm_image_detect(b, n) != MM_IMAGE_UNKNOWN;
}

/* A recording: not a picture, and FFmpeg opens it with an audio stream.  Outputs we write
 * ourselves (.srt, .vtt, .json, .txt) are never recordings. */
static int is_recording(const char *path) {
    static const char *const ours[] = {".srt", ".vtt", ".json", ".txt", ".jsonl", ".csv"};
    size_t pl = strlen(path);
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
        size_t l = strlen(ours[i]);
        if (pl > l && !strcmp(path + pl - l, ours[i])) return 0;
    }
    if (is_image(path)) return 0;
    mm_audio *a;
    mm_err e;
    if (mm_audio_open(path, NULL, &a, &e) != MM_OK) return e.code == MM_ECORRUPT && strstr(e.msg, "truncat");
    mm_audio_close(a);
    return 1;
}

/* Keeps unreadable entries (they become failed jobs), folder markers, and files keep() accepts;
 * returns how many files it dropped. */
static size_t filter(scan_list *in, int (*keep)(const char *), const cli *c, const char *what) {
    size_t w = 0, dropped = 0;
    for (size_t i = 0; i < in->n; i++) {
        jobs_input *x = &in->v[i];
        if (x->error || x->clear_only || keep(x->path)) {
            in->v[w++] = *x;
            continue;
        }
        for (int k = 0; k < c->nargs; k++)
            if (!strcmp(c->args[k], x->path) && !c->quiet) cli_error("%s: skipped: not %s", x->path, what);
        free((char *)x->path);
        free((char *)x->sha256);
        free((char *)x->error);
        dropped++;
    }
    in->n = w;
    return dropped;
}

/* The front half of caption and transcribe: scan the command line's paths, keep the inputs of
 * the kind (keep / what for the skip message), enqueue one job per content with params (consumed:
 * a canonical JSON object, part of the idempotency key) for the model identity, then run the
 * worker until the queue is drained.  *in keeps the inputs for the outputs written after, *sum
 * what was queued and run (for --json).  *enq gets the enqueue's exit code (EXIT_SOME_FAILED for
 * unreadable inputs); returns worker_run's, or EXIT_FATAL. */
static int scan_enqueue_run(cli *c, const char *kind, int (*keep)(const char *), const char *what,
                            const char *label, cJSON *p, const char *identity, scan_list *in, int *enq,
                            run_summary *sum) {
    mm_err e;
    char *params = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    *enq = EXIT_FATAL;
    if (scan_paths(c->args, c->nargs, c->db, in, &e) != MM_OK) {
        cli_error("%s", e.msg);
        free(params);
        return EXIT_FATAL;
    }
    sum->ignored += filter(in, keep, c, what);
    for (size_t i = 0; i < in->n; i++) sum->inputs += !in->v[i].clear_only;
    jobs_spec sp;
    jobs_spec_default(&sp, kind);
    sp.params_json = params;
    sp.model = identity;
    jobs_enqueue_stats st = {0};
    *enq = params ? cli_enqueue_list(c, &sp, in, label, &st) : EXIT_FATAL;
    free(params);
    summary_enqueued(sum, &st);
    if (*enq == EXIT_FATAL) return EXIT_FATAL;
    worker_stats ws = {0};
    int run = worker_run(c, &ws);
    summary_ran(sum, &ws);
    return run;
}

typedef struct path_set { const char **v; size_t n; } path_set;

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int path_set_make(path_set *ps, const scan_list *in) {
    ps->v = calloc(in->n + 1, sizeof *ps->v);
    ps->n = 0;
    if (!ps->v) return -1;
    for (size_t i = 0; i < in->n; i++)
        if (!in->v[i].clear_only && !in->v[i].error) ps->v[ps->n++] = in->v[i].path;
    qsort(ps->v, ps->n, sizeof *ps->v, cmp_cstr);
    return 0;
}

/* Results of kind for the paths of this run, in job order. */
typedef struct collect_ctx {
    const path_set *ps;
    int (*fn)(void *, const jobs_result *);
    void *ud;
} collect_ctx;

static int collect_one(void *arg, const jobs_result *r) {
    collect_ctx *x = arg;
    if (memchr(r->path, 0, r->path_len)) return 0;
    char *key = malloc(r->path_len + 1);
    if (!key) return 1;
    memcpy(key, r->path, r->path_len);
    key[r->path_len] = 0;
    const char *k = key;
    int rc = 0;
    if (bsearch(&k, x->ps->v, x->ps->n, sizeof *x->ps->v, cmp_cstr)) rc = x->fn(x->ud, r);
    free(key);
    return rc;
}

static mm_code collect(const cli *c, const char *kind, const path_set *ps, int (*fn)(void *, const jobs_result *),
                       void *ud) {
    jobs_db *db = cli_open_db(c, 1);
    if (!db) return MM_EIO;
    collect_ctx x = {ps, fn, ud};
    mm_err e;
    mm_code code = jobs_results(db, kind, collect_one, &x, &e);
    if (code != MM_OK) cli_error("%s", e.msg);
    jobs_close(db);
    return code;
}

/* Writes text to path atomically (temporary file + rename); 0 or -1 after printing why. */
static int write_atomic(const char *path, const char *text, size_t n) {
    char *tmp = mm_asprintf("%s.tmp.%ld", path, (long)getpid());
    FILE *f = tmp ? fopen(tmp, "wb") : NULL;
    if (!f) {
        cli_error("%s: cannot write: %s", tmp ? tmp : path, strerror(errno));
        free(tmp);
        return -1;
    }
    int bad = fwrite(text, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (!bad && rename(tmp, path) != 0) bad = 1;
    if (bad) {
        cli_error("%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return bad ? -1 : 0;
}

/* mkdir -p of the folder part of path. */
static int make_parents(const char *path) {
    char *p = mm_strdup(path);
    if (!p) return -1;
    for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            cli_error("%s: cannot create folder: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    free(p);
    return 0;
}

static int run_status(int enq, int run) {
    if (run == EXIT_FATAL) return EXIT_FATAL;
    return run == EXIT_SOME_FAILED || enq == EXIT_SOME_FAILED ? EXIT_SOME_FAILED : EXIT_OK;
}

/* ---- caption ---- */

typedef struct caption_out {
    const cli *c;
    FILE *jsonl;
    int errors;
    int64_t n;
} caption_out;

static int caption_one(void *arg, const jobs_result *r) {
    caption_out *o = arg;
    char *path = mm_utf8_sanitize(r->path, r->path_len);
    if (!path) return 1;
    if (!o->c->json) printf("%s: %s\n", path, r->text);
    if (o->c->sidecar) {
        char *side = mm_asprintf("%.*s.txt", (int)r->path_len, r->path), *t = mm_asprintf("%s\n", r->text);
        if (!side || !t || write_atomic(side, t, strlen(t)) != 0) o->errors++;
        free(side);
        free(t);
    }
    if (o->jsonl) {
        cJSON *j = cJSON_CreateObject();
        char when[32];
        mm_iso8601_ms(r->finished_at, when);
        cJSON_AddStringToObject(j, "path", path);
        if (!mm_utf8_valid(r->path, r->path_len)) {
            char *b = mm_base64(r->path, r->path_len);
            cJSON_AddStringToObject(j, "path_b64", b ? b : "");
            free(b);
        }
        cJSON_AddStringToObject(j, "sha256", r->sha256);
        cJSON_AddStringToObject(j, "caption", r->text);
        cJSON_AddStringToObject(j, "model", r->model);
        cJSON_AddStringToObject(j, "finished_at", when);
        char *line = cJSON_PrintUnformatted(j);
        if (line) fprintf(o->jsonl, "%s\n", line);
        else o->errors++;
        free(line);
        cJSON_Delete(j);
    }
    free(path);
    o->n++;
    return 0;
}

int cmd_caption(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "caption", MEDIA_OPTS ",sidecar,out,no-exif,alpha,image-min-tokens,image-max-tokens", argc, argv);
    if (rc) return rc < 0 ? (fputs(caption_help, stdout), EXIT_OK) : rc;
    if (c.nargs < 1) {
        cli_error("caption: needs at least one PATH (see 'mmpipe caption --help')");
        return EXIT_USAGE;
    }
    const char *identity;
    if ((rc = setup_model(&c, &identity))) return rc;
    cJSON *p = media_caption_params(&c);
    scan_list in = {0};
    run_summary sum = {0};
    sum.t0 = mm_mono_ns();
    int enq, run = scan_enqueue_run(&c, "caption", is_image, "an image", "images", p, identity, &in, &enq, &sum);
    path_set ps = {0};
    caption_out o = {&c, NULL, 0, 0};
    char *tmp = NULL;
    if (run != EXIT_FATAL && c.out) {
        tmp = mm_asprintf("%s.tmp.%ld", c.out, (long)getpid());
        if (!tmp || !(o.jsonl = fopen(tmp, "wb"))) {
            cli_error("%s: cannot write: %s", tmp ? tmp : c.out, strerror(errno));
            run = EXIT_FATAL;
        }
    }
    if (run != EXIT_FATAL && (path_set_make(&ps, &in) != 0 || collect(&c, "caption", &ps, caption_one, &o) != MM_OK))
        run = EXIT_FATAL;
    if (o.jsonl) {
        int bad = ferror(o.jsonl) | (fclose(o.jsonl) != 0);
        if (!bad && run != EXIT_FATAL && rename(tmp, c.out) == 0) {
            if (!c.quiet) fprintf(stderr, "mmpipe: %lld captions written to %s\n", (long long)o.n, c.out);
        } else {
            if (run != EXIT_FATAL) cli_error("%s: write failed: %s", c.out, strerror(errno));
            unlink(tmp);
            run = EXIT_FATAL;
        }
    }
    free(tmp);
    free(ps.v);
    scan_free(&in);
    model_cache_free();
    if (o.errors && run != EXIT_FATAL) run = EXIT_FATAL;
    sum.outputs = o.n;
    if (c.json && run != EXIT_FATAL) summary_print(&sum, "images", "captions", 0, NULL);
    return run_status(enq, run);
}

/* ---- transcribe ---- */

static void stamp(double t, char sep, char out[32]) {
    long long ms = llround(t * 1000);
    if (ms < 0) ms = 0;
    snprintf(out, 32, "%02lld:%02lld:%02lld%c%03lld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, sep, ms % 1000);
}

typedef struct buf { char *p; size_t n, cap; int oom; } buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) { b->oom = 1; return; }
    if (b->n + (size_t)n + 1 > b->cap) {
        size_t nc = (b->n + (size_t)n + 1) * 2;
        char *np = realloc(b->p, nc);
        if (!np) { b->oom = 1; free(s); return; }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, (size_t)n + 1);
    b->n += (size_t)n;
    free(s);
}

typedef struct transcribe_out {
    const cli *c;
    int want[4]; /* srt, vtt, json, txt */
    int errors;
    int summaries; /* 1: writing summaries (kind summarize) */
    int64_t written; /* recordings whose outputs were written */
} transcribe_out;

/* Where the outputs of an input go: beside it, or under --out-dir keeping the subfolders below
 * the command-line argument it was found in. */
static char *out_base(const cli *c, const char *path) {
    if (!c->out_dir) return mm_strdup(path);
    const char *rel = NULL;
    for (int k = 0; k < c->nargs && !rel; k++) {
        size_t al = strlen(c->args[k]);
        while (al > 1 && c->args[k][al - 1] == '/') al--;
        if (!strcmp(c->args[k], path)) {
            const char *s = strrchr(path, '/');
            rel = s ? s + 1 : path;
        } else if (!strncmp(c->args[k], path, al) && path[al] == '/') {
            rel = path + al + 1;
        }
    }
    if (!rel) rel = path[0] == '/' ? path + 1 : path;
    size_t dl = strlen(c->out_dir);
    return mm_asprintf("%s%s%s", c->out_dir, dl && c->out_dir[dl - 1] == '/' ? "" : "/", rel);
}

static int write_output(transcribe_out *o, const char *base, const char *ext, const buf *b) {
    char *p = mm_asprintf("%s.%s", base, ext);
    int rc = !p || b->oom || make_parents(p) != 0 || write_atomic(p, b->p ? b->p : "", b->n) != 0;
    free(p);
    o->errors += rc;
    return rc;
}

static int transcript_one(void *arg, const jobs_result *r) {
    transcribe_out *o = arg;
    const int show = !o->c->json; /* --json: stdout is the summary only */
    char *path = mm_asprintf("%.*s", (int)r->path_len, r->path), *shown = mm_utf8_sanitize(r->path, r->path_len);
    char *base = path ? out_base(o->c, path) : NULL;
    if (!path || !shown || !base) {
        free(path); free(shown); free(base);
        return 1;
    }
    if (o->summaries) {
        buf b = {0};
        put(&b, "%s%s", r->text, *r->text ? "\n" : "");
        write_output(o, base, "summary.txt", &b);
        if (show) printf("%s: summary: %s\n", shown, r->text);
        o->written++;
        free(b.p);
        free(path); free(shown); free(base);
        return 0;
    }
    cJSON *d = r->data ? cJSON_Parse(r->data) : NULL;
    const cJSON *segs = cJSON_GetObjectItemCaseSensitive(d, "segments"), *s;
    buf srt = {0}, vtt = {0}, txt = {0};
    put(&vtt, "WEBVTT\n\n");
    int n = 0;
    if (show) printf("%s:\n", shown);
    o->written++;
    cJSON *jsegs = cJSON_CreateArray();
    cJSON_ArrayForEach(s, segs) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "text");
        double a = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(s, "start"));
        double z = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(s, "end"));
        const char *text = cJSON_IsString(t) ? t->valuestring : "";
        cJSON *js = cJSON_CreateObject();
        cJSON_AddNumberToObject(js, "start", a);
        cJSON_AddNumberToObject(js, "end", z);
        cJSON_AddStringToObject(js, "text", text);
        cJSON_AddItemToArray(jsegs, js);
        if (!*text) continue; /* a segment the model said nothing for gets no cue */
        char *cue = mm_strdup(text); /* "-->" would end a cue's text in SRT and WebVTT */
        for (char *q = cue ? strstr(cue, "-->") : NULL; q; q = strstr(q, "-->")) q[1] = ' ';
        text = cue ? cue : "";
        char sa[32], sz[32], va[32], vz[32];
        stamp(a, ',', sa);
        stamp(z, ',', sz);
        stamp(a, '.', va);
        stamp(z, '.', vz);
        put(&srt, "%d\n%s --> %s\n%s\n\n", ++n, sa, sz, text);
        put(&vtt, "%s --> %s\n%s\n\n", va, vz, text);
        put(&txt, "%s\n", text);
        if (show) printf("  [%s --> %s] %s\n", va, vz, text);
        free(cue);
    }
    if (!n && show) printf("  (no speech)\n");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "path", shown);
    cJSON_AddStringToObject(j, "sha256", r->sha256);
    cJSON_AddStringToObject(j, "model", r->model);
    cJSON_AddNumberToObject(j, "duration", cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(d, "duration")));
    cJSON_AddItemToObject(j, "segments", jsegs);
    cJSON_AddStringToObject(j, "text", r->text);
    char *js = cJSON_Print(j);
    buf jb = {js, js ? strlen(js) : 0, 0, !js};
    if (js) put(&jb, "\n");
    if (o->want[0]) write_output(o, base, "srt", &srt);
    if (o->want[1]) write_output(o, base, "vtt", &vtt);
    if (o->want[2]) write_output(o, base, "json", &jb);
    if (o->want[3]) write_output(o, base, "txt", &txt);
    free(jb.p);
    free(srt.p); free(vtt.p); free(txt.p);
    cJSON_Delete(j);
    cJSON_Delete(d);
    free(path); free(shown); free(base);
    return 0;
}

/* --summarize: one summarize job per done transcript of this run, its transcript in its params. */
typedef struct sum_enq {
    const cli *c;
    const scan_list *in;
    const char *identity;
    int64_t last_job;
    int rc;
    jobs_enqueue_stats total;
} sum_enq;

static int enqueue_summary(void *arg, const jobs_result *r) {
    sum_enq *x = arg;
    if (r->job_id == x->last_job) return 0; /* one job per content, whatever its paths */
    x->last_job = r->job_id;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "chunk_tokens", x->c->summary_budget ? x->c->summary_budget : MEDIA_SUMMARY_CHUNK_TOKENS);
    cJSON_AddNumberToObject(p, "n_predict", MEDIA_SUMMARY_N_PREDICT);
    cJSON_AddStringToObject(p, "prompt", MEDIA_SUMMARY_PROMPT);
    cJSON_AddStringToObject(p, "transcript", r->text);
    char *params = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    scan_list sub = {0};
    sub.v = calloc(x->in->n + 1, sizeof *sub.v);
    for (size_t i = 0; sub.v && i < x->in->n; i++)
        if (x->in->v[i].sha256 && !strcmp(x->in->v[i].sha256, r->sha256)) sub.v[sub.n++] = x->in->v[i];
    if (!params || !sub.v) {
        x->rc = EXIT_FATAL;
    } else if (sub.n) {
        jobs_spec sp;
        jobs_spec_default(&sp, "summarize");
        sp.params_json = params;
        sp.model = x->identity;
        jobs_enqueue_stats st;
        cli q = *x->c;
        q.quiet = 1;
        int rc = cli_enqueue_list(&q, &sp, &sub, "transcripts", &st);
        if (rc == EXIT_FATAL) x->rc = rc;
        x->total.added += st.added;
        x->total.existing += st.existing;
        x->total.failed_already += st.failed_already;
        x->total.done_already += st.done_already;
        x->total.unreadable += st.unreadable;
    }
    free(sub.v);
    free(params);
    return x->rc == EXIT_FATAL;
}

int cmd_transcribe(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "transcribe", MEDIA_OPTS ",summarize,summary-budget,format,out-dir", argc, argv);
    if (rc) return rc < 0 ? (fputs(transcribe_help, stdout), EXIT_OK) : rc;
    if (c.nargs < 1) {
        cli_error("transcribe: needs at least one PATH (see 'mmpipe transcribe --help')");
        return EXIT_USAGE;
    }
    transcribe_out o = {&c, {1, 1, 1, 1}, 0, 0, 0};
    if (c.format) {
        static const char *const names[4] = {"srt", "vtt", "json", "txt"};
        memset(o.want, 0, sizeof o.want);
        for (const char *s = c.format; *s;) {
            size_t l = strcspn(s, ",");
            int k = 0;
            while (k < 4 && !(strlen(names[k]) == l && !strncmp(names[k], s, l))) k++;
            if (k == 4) {
                cli_error("transcribe: --format wants srt, vtt, json or txt (or a comma list), not '%s'", c.format);
                return EXIT_USAGE;
            }
            o.want[k] = 1;
            s += l + (s[l] == ',');
        }
    }
    const char *identity;
    if ((rc = setup_model(&c, &identity))) return rc;
    cJSON *p = media_transcribe_params(&c);
    scan_list in = {0};
    run_summary sum = {0};
    sum.t0 = mm_mono_ns();
    int enq, run = scan_enqueue_run(&c, "transcribe", is_recording, "a recording (no audio stream FFmpeg can open)",
                                    "recordings", p, identity, &in, &enq, &sum);
    int64_t transcripts = 0;
    path_set ps = {0};
    if (run != EXIT_FATAL && (path_set_make(&ps, &in) != 0 || collect(&c, "transcribe", &ps, transcript_one, &o) != MM_OK))
        run = EXIT_FATAL;
    transcripts = o.written;
    o.written = 0;
    if (run != EXIT_FATAL && c.summarize) {
        sum_enq x = {&c, &in, identity, -1, 0, {0}};
        if (collect(&c, "transcribe", &ps, enqueue_summary, &x) != MM_OK || x.rc == EXIT_FATAL) {
            run = EXIT_FATAL;
        } else {
            if (!c.quiet)
                fprintf(stderr, "mmpipe: %lld transcripts to summarise: %lld new jobs, %lld already queued or done\n",
                        (long long)(x.total.added + x.total.existing), (long long)x.total.added,
                        (long long)(x.total.existing - x.total.failed_already));
            worker_stats ws = {0};
            int run2 = worker_run(&c, &ws);
            summary_ran(&sum, &ws);
            summary_enqueued(&sum, &x.total);
            if (run2 == EXIT_FATAL || (run2 == EXIT_SOME_FAILED && run == EXIT_OK)) run = run2;
            if (x.total.failed_already && run == EXIT_OK) run = EXIT_SOME_FAILED;
            o.summaries = 1;
            if (run != EXIT_FATAL && collect(&c, "summarize", &ps, transcript_one, &o) != MM_OK) run = EXIT_FATAL;
        }
    }
    free(ps.v);
    scan_free(&in);
    model_cache_free();
    if (o.errors && run != EXIT_FATAL) run = EXIT_FATAL;
    sum.outputs = transcripts;
    if (c.json && run != EXIT_FATAL) summary_print(&sum, "recordings", "transcripts", o.written, c.summarize ? "summaries" : NULL);
    return run_status(enq, run);
}
