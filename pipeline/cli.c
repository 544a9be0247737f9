/*
 * pipeline/cli.c — command-line and config parsing shared by every command.
 *
 * Defaults come from mmpipe.json in the working directory (or --config FILE),
 * then flags override them.  Each command passes the list of long options it
 * accepts; anything else is a usage error (exit 2).
 */
#include "cli.h"
#include "model_cache.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("mmpipe: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

enum {
    O_DB = 1000, O_CONFIG, O_SYNC, O_LEASE, O_HEARTBEAT, O_BACKOFF, O_BACKOFF_CAP, O_MAX_ATTEMPTS,
    O_MAX_CRASHES, O_PRIORITY, O_FOLLOW, O_FORCE, O_QUIET, O_JSON, O_FAILED, O_THROTTLE, O_STATE,
    O_KIND, O_FORMAT, O_OUT, O_BASELINE, O_NO_BASELINE, O_MMPROJ, O_JOBS, O_BUSY, O_CASE, O_HIDDEN, O_CHAT, O_TEMP, O_TOPK, O_TOPP, O_MINP, O_REPEAT, O_SEED, O_NOBOS, O_NOSPECIAL, O_PP, O_TG, O_KVTYPE, O_AUDIO, O_IMGMIN, O_IMGMAX, O_IMAGE,
    O_SIDECAR, O_SUMMARIZE, O_NO_EXIF, O_ALPHA, O_OUT_DIR, O_SUMMARY_BUDGET, O_PARALLEL, O_ITEMS
};

enum { O_EMBED_MODEL = 2000, O_COLLECTION }; /* ingest / search */

static const struct option all_opts[] = {
    {"embed-model", required_argument, 0, O_EMBED_MODEL},
    {"collection", required_argument, 0, O_COLLECTION},
    {"results", required_argument, 0, 'k'},
    {"db", required_argument, 0, O_DB},
    {"config", required_argument, 0, O_CONFIG},
    {"sync", required_argument, 0, O_SYNC},
    {"busy-timeout", required_argument, 0, O_BUSY},
    {"lease", required_argument, 0, O_LEASE},
    {"heartbeat", required_argument, 0, O_HEARTBEAT},
    {"backoff", required_argument, 0, O_BACKOFF},
    {"backoff-cap", required_argument, 0, O_BACKOFF_CAP},
    {"max-attempts", required_argument, 0, O_MAX_ATTEMPTS},
    {"max-crashes", required_argument, 0, O_MAX_CRASHES},
    {"priority", required_argument, 0, O_PRIORITY},
    {"workers", required_argument, 0, 'j'},
    {"follow", no_argument, 0, O_FOLLOW},
    {"force", no_argument, 0, O_FORCE},
    {"quiet", no_argument, 0, O_QUIET},
    {"json", no_argument, 0, O_JSON},
    {"failed", no_argument, 0, O_FAILED},
    {"throttle-ms", required_argument, 0, O_THROTTLE},
    {"state", required_argument, 0, O_STATE},
    {"kind", required_argument, 0, O_KIND},
    {"format", required_argument, 0, O_FORMAT},
    {"out", required_argument, 0, O_OUT},
    {"baseline", required_argument, 0, O_BASELINE},
    {"no-baseline", no_argument, 0, O_NO_BASELINE},
    {"model", required_argument, 0, 'm'},
    {"mmproj", required_argument, 0, O_MMPROJ},
    {"threads", required_argument, 0, 't'},
    {"n-predict", required_argument, 0, 'n'},
    {"jobs", required_argument, 0, O_JOBS},
    {"case", required_argument, 0, O_CASE},
    {"hidden", no_argument, 0, O_HIDDEN},
    {"prompt", required_argument, 0, 'p'},
    {"chat", no_argument, 0, O_CHAT},
    {"temp", required_argument, 0, O_TEMP},
    {"top-k", required_argument, 0, O_TOPK},
    {"top-p", required_argument, 0, O_TOPP},
    {"min-p", required_argument, 0, O_MINP},
    {"repeat-penalty", required_argument, 0, O_REPEAT},
    {"seed", required_argument, 0, O_SEED},
    {"no-bos", no_argument, 0, O_NOBOS},
    {"no-special", no_argument, 0, O_NOSPECIAL},
    {"pp", required_argument, 0, O_PP},
    {"tg", required_argument, 0, O_TG},
    {"kv-type", required_argument, 0, O_KVTYPE},
    {"audio", required_argument, 0, O_AUDIO},
    {"image-min-tokens", required_argument, 0, O_IMGMIN},
    {"image-max-tokens", required_argument, 0, O_IMGMAX},
    {"image", required_argument, 0, O_IMAGE},
    {"sidecar", no_argument, 0, O_SIDECAR},
    {"summarize", no_argument, 0, O_SUMMARIZE},
    {"no-exif", no_argument, 0, O_NO_EXIF},
    {"alpha", required_argument, 0, O_ALPHA},
    {"out-dir", required_argument, 0, O_OUT_DIR},
    {"summary-budget", required_argument, 0, O_SUMMARY_BUDGET},
    {"parallel", required_argument, 0, O_PARALLEL},
    {"items", required_argument, 0, O_ITEMS},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};

static int allowed_opt(const char *allowed, const char *name) {
    size_t n = strlen(name);
    for (const char *p = allowed; p && *p;) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        p = q ? q + 1 : p + len;
    }
    return 0;
}

static int parse_int(const char *cmd, const char *opt, const char *v, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        cli_error("%s: --%s wants a whole number from %d to %d, not '%s'", cmd, opt, lo, hi, v);
        return EXIT_USAGE;
    }
    *out = (int)x;
    return 0;
}

static int parse_secs(const char *cmd, const char *opt, const char *v, double *out) {
    double s = mm_parse_seconds(v);
    if (s < 0) {
        cli_error("%s: --%s wants seconds (e.g. 30 or 0.5), not '%s'", cmd, opt, v);
        return EXIT_USAGE;
    }
    *out = s;
    return 0;
}

/* Applies one option (from a flag or from the config file, as text). */
static int apply(cli *c, int id, const char *name, const char *v) {
    switch (id) {
    case O_DB: c->db = v; return 0;
    case O_CONFIG: c->config = v; return 0;
    case O_SYNC:
        if (jobs_sync_parse(v, &c->jopt.sync)) {
            cli_error("%s: --sync wants FULL, NORMAL or OFF, not '%s'", c->cmd, v);
            return EXIT_USAGE;
        }
        return 0;
    case O_BUSY: {
        double s;
        if (parse_secs(c->cmd, name, v, &s)) return EXIT_USAGE;
        c->jopt.busy_timeout_ms = (int)(s * 1000);
        return 0;
    }
    case O_LEASE: return parse_secs(c->cmd, name, v, &c->lease_s);
    case O_HEARTBEAT: return parse_secs(c->cmd, name, v, &c->heartbeat_s);
    case O_BACKOFF: return parse_secs(c->cmd, name, v, &c->backoff_s);
    case O_BACKOFF_CAP: return parse_secs(c->cmd, name, v, &c->backoff_cap_s);
    case O_MAX_ATTEMPTS: return parse_int(c->cmd, name, v, 1, 1000, &c->max_attempts);
    case O_MAX_CRASHES: return parse_int(c->cmd, name, v, 1, 1000, &c->max_crashes);
    case O_PRIORITY: return parse_int(c->cmd, name, v, -1000000, 1000000, &c->priority);
    case 'j': return parse_int(c->cmd, name, v, 1, 256, &c->workers);
    case O_THROTTLE: {
        double s;
        if (parse_secs(c->cmd, name, v, &s)) return EXIT_USAGE;
        c->throttle_ms = s;
        return 0;
    }
    case O_STATE:
        if (job_state_parse(v) < 0) {
            cli_error("%s: --state wants queued, running, done, failed or cancelled, not '%s'", c->cmd, v);
            return EXIT_USAGE;
        }
        c->state = v;
        return 0;
    case O_KIND: c->kind = v; return 0;
    case O_FORMAT: c->format = v; return 0;
    case O_OUT: c->out = v; return 0;
    case O_BASELINE: c->baseline = v; return 0;
    case 'm': c->model = v; return 0;
    case O_EMBED_MODEL: c->embed_model = v; return 0;
    case O_COLLECTION:
        if (!*v) {
            cli_error("%s: --collection wants a name", c->cmd);
            return EXIT_USAGE;
        }
        c->collection = v;
        return 0;
    case 'k': return parse_int(c->cmd, name, v, 1, 10000, &c->top_n);
    case O_MMPROJ: c->mmproj = v; return 0;
    case O_IMAGE:
        if (c->n_images == (int)(sizeof c->images / sizeof c->images[0])) {
            cli_error("%s: at most %d --image files", c->cmd, c->n_images);
            return EXIT_USAGE;
        }
        if (c->n_media == (int)(sizeof c->media / sizeof c->media[0])) {
            cli_error("%s: at most %d --image/--audio files", c->cmd, c->n_media);
            return EXIT_USAGE;
        }
        c->images[c->n_images++] = v;
        c->media_audio[c->n_media] = 0;
        c->media[c->n_media++] = v;
        return 0;
    case 't': return parse_int(c->cmd, name, v, 1, 1024, &c->threads);
    case 'n': return parse_int(c->cmd, name, v, -1, 1 << 24, &c->n_predict);
    case O_JOBS: return parse_int(c->cmd, name, v, 1, 10000000, &c->bench_jobs);
    case O_CASE: c->case_path = v; return 0;
    case O_HIDDEN: c->hidden = 1; return 0;
    case 'p': c->prompt = v; return 0;
    case O_CHAT: c->chat = 1; return 0;
    case O_NOBOS: c->no_bos = 1; return 0;
    case O_KVTYPE:
        if (strcmp(v, "f16") && strcmp(v, "f32")) {
            cli_error("%s: --kv-type wants f16 or f32, not '%s'", c->cmd, v);
            return EXIT_USAGE;
        }
        c->kv_f32 = !strcmp(v, "f32");
        return 0;
    case O_PP: return parse_int(c->cmd, name, v, 1, 1 << 16, &c->bench_pp);
    case O_TG: return parse_int(c->cmd, name, v, 1, 1 << 16, &c->bench_tg);
    case O_NOSPECIAL: c->no_special = 1; return 0;
    case O_IMGMIN: return parse_int(c->cmd, name, v, 1, 1 << 16, &c->img_min_tokens);
    case O_IMGMAX: return parse_int(c->cmd, name, v, 1, 1 << 16, &c->img_max_tokens);
    case O_AUDIO:
        if (c->n_media == (int)(sizeof c->media / sizeof c->media[0])) {
            cli_error("%s: at most %d --image/--audio files", c->cmd, c->n_media);
            return EXIT_USAGE;
        }
        c->audio = v;
        c->media_audio[c->n_media] = 1;
        c->media[c->n_media++] = v;
        return 0;
    case O_TOPK: return parse_int(c->cmd, name, v, 0, 1 << 30, &c->top_k);
    case O_SEED: {
        int s;
        if (parse_int(c->cmd, name, v, 0, 2147483647, &s)) return EXIT_USAGE;
        c->seed = s;
        c->seed_set = 1;
        return 0;
    }
    case O_TEMP: case O_TOPP: case O_MINP: case O_REPEAT: {
        char *end;
        double x = strtod(v, &end);
        if (*end || end == v || !(x >= 0) || x > 100) {
            cli_error("%s: --%s wants a number >= 0, not '%s'", c->cmd, name, v);
            return EXIT_USAGE;
        }
        if (id == O_TEMP) { c->temp = (float)x; c->temp_set = 1; }
        else if (id == O_TOPP) c->top_p = (float)x;
        else if (id == O_MINP) c->min_p = (float)x;
        else c->repeat_penalty = (float)x;
        return 0;
    }
    case O_FOLLOW: c->follow = 1; return 0;
    case O_FORCE: c->force = 1; return 0;
    case O_QUIET: c->quiet = 1; return 0;
    case O_JSON: c->json = 1; return 0;
    case O_FAILED: c->failed = 1; return 0;
    case O_NO_BASELINE: c->no_baseline = 1; return 0;
    case O_SIDECAR: c->sidecar = 1; return 0;
    case O_SUMMARIZE: c->summarize = 1; return 0;
    case O_NO_EXIF: c->no_exif = 1; return 0;
    case O_OUT_DIR: c->out_dir = v; return 0;
    case O_SUMMARY_BUDGET: return parse_int(c->cmd, name, v, 64, 1 << 20, &c->summary_budget);
    case O_PARALLEL: return parse_int(c->cmd, name, v, 1, 64, &c->parallel);
    case O_ITEMS: return parse_int(c->cmd, name, v, 1, 100000, &c->bench_items);
    case O_ALPHA:
        if (strcmp(v, "white") && strcmp(v, "drop")) {
            cli_error("%s: --alpha wants white or drop, not '%s'", c->cmd, v);
            return EXIT_USAGE;
        }
        c->alpha = v;
        return 0;
    }
    return 0;
}

/* Strings from the config file live as long as the process (config_doc, cfg_strings). */
static cJSON *config_doc;
static char *cfg_strings[64];
static size_t n_cfg_strings;

/* Reads defaults from path (explicit: must exist) or ./mmpipe.json (optional). */
static int load_config(cli *c, const char *path, int explicit_path) {
    char *buf;
    size_t n;
    mm_err e;
    mm_code code = mm_read_file(path, 1u << 20, &buf, &n, &e);
    if (code == MM_ENOTFOUND && !explicit_path) return 0;
    if (code != MM_OK) {
        cli_error("%s (config)", e.msg);
        return EXIT_FATAL;
    }
    char errbuf[256];
    int rc = cli_config_apply(c, buf, n, errbuf, sizeof errbuf);
    free(buf);
    if (rc) cli_error("%s: %s", path, errbuf);
    return rc ? EXIT_FATAL : 0;
}

/* A new config replaces the previous one: option strings point into config_doc and
 * cfg_strings, which therefore live until the next call (one config per process). */
int cli_config_apply(cli *c, const char *text, size_t n, char *err, size_t errn) {
    cJSON_Delete(config_doc);
    for (size_t i = 0; i < n_cfg_strings; i++) free(cfg_strings[i]);
    n_cfg_strings = 0;
    cJSON *doc = config_doc = cJSON_ParseWithLength(text, n);
    if (!doc || !cJSON_IsObject(doc)) {
        snprintf(err, errn, "not a JSON object%s", doc ? "" : " (JSON syntax error)");
        return EXIT_FATAL;
    }
    cJSON *it;
    cJSON_ArrayForEach(it, doc) {
        const char *key = it->string;
        int id = 0;
        for (const struct option *o = all_opts; o->name; o++)
            if (!strcmp(o->name, key)) id = o->val;
        if (!id || id == O_CONFIG || id == 'h') {
            snprintf(err, errn, "unknown setting \"%.64s\"", key);
            return EXIT_FATAL;
        }
        char num[64];
        const char *v = num;
        if (cJSON_IsString(it)) v = it->valuestring;
        else if (cJSON_IsNumber(it) && it->valuedouble == (double)(long long)it->valuedouble)
            snprintf(num, sizeof num, "%lld", (long long)it->valuedouble);
        else if (cJSON_IsNumber(it)) snprintf(num, sizeof num, "%.17g", it->valuedouble);
        else if (cJSON_IsTrue(it)) snprintf(num, sizeof num, "1");
        else if (cJSON_IsFalse(it)) continue;
        else {
            snprintf(err, errn, "setting \"%.64s\" wants a string, number or boolean", key);
            return EXIT_FATAL;
        }
        if (v == num) { /* options keep pointers: numbers need a lasting copy */
            if (n_cfg_strings == sizeof cfg_strings / sizeof cfg_strings[0] ||
                !(cfg_strings[n_cfg_strings] = mm_strdup(num))) {
                snprintf(err, errn, "too many settings");
                return EXIT_FATAL;
            }
            v = cfg_strings[n_cfg_strings++];
        }
        if (apply(c, id, key, v)) {
            snprintf(err, errn, "bad value for \"%.64s\"", key);
            return EXIT_FATAL;
        }
    }
    return 0;
}

static void defaults(cli *c, const char *cmd) {
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    c->db = "mmpipe.db";
    jobs_options_default(&c->jopt);
    c->lease_s = 30;
    c->heartbeat_s = 10;
    c->backoff_s = 1;
    c->backoff_cap_s = 600;
    c->max_attempts = 3;
    c->max_crashes = 10;
    c->workers = 1;
    c->n_predict = -1;
    c->bench_jobs = 4000;
    c->top_k = -1;
    c->collection = "default";
    c->top_n = 10;
    c->top_p = c->min_p = c->repeat_penalty = -1;
}

int cli_parse(cli *c, const char *cmd, const char *allowed, int argc, char **argv) {
    defaults(c, cmd);
    /* --config first, so flags override what it sets */
    const char *cfg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--config") && i + 1 < argc) cfg = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9)) cfg = argv[i] + 9;
    }
    int rc = load_config(c, cfg ? cfg : "mmpipe.json", cfg != NULL);
    if (rc) return rc;
    c->cmd = cmd;
    optind = 1;
    opterr = 0;
    int idx, ch;
    while ((ch = getopt_long(argc, argv, ":j:m:t:n:p:k:h", all_opts, &idx)) != -1) {
        if (ch == '?' || ch == ':') {
            const char *bad = argv[optind - 1];
            cli_error("%s: %s '%s' (see 'mmpipe %s --help')", cmd,
                      ch == ':' ? "option needs a value:" : "unknown option", bad, cmd);
            return EXIT_USAGE;
        }
        const char *name = NULL;
        for (const struct option *o = all_opts; o->name; o++)
            if (o->val == ch) name = o->name;
        if (ch == 'h') return -1; /* caller prints help */
        if (!allowed_opt(allowed, name) && ch != O_CONFIG) {
            cli_error("%s: option --%s does not apply here (see 'mmpipe %s --help')", cmd, name, cmd);
            return EXIT_USAGE;
        }
        if ((rc = apply(c, ch, name, optarg))) return rc;
    }
    c->args = argv + optind;
    c->nargs = argc - optind;
    return 0;
}

void cli_free(cli *c) { (void)c; }

jobs_db *cli_open_db(const cli *c, int read_only) {
    jobs_options o = c->jopt;
    o.read_only = read_only;
    if (read_only) {
        struct stat st;
        if (stat(c->db, &st) != 0) {
            cli_error("%s: no database here (nothing has been queued yet?)", c->db);
            return NULL;
        }
    }
    jobs_db *db;
    mm_err e;
    if (jobs_open(c->db, &o, &db, &e) != MM_OK) {
        cli_error("%s", e.msg);
        return NULL;
    }
    return db;
}

void cli_lease(const cli *c, jobs_lease *l, const char *owner, const char *kinds) {
    memset(l, 0, sizeof *l);
    l->owner = owner;
    l->lease_ms = (int64_t)(c->lease_s * 1000);
    l->backoff_base_ms = (int64_t)(c->backoff_s * 1000);
    l->backoff_cap_ms = (int64_t)(c->backoff_cap_s * 1000);
    l->kinds = kinds;
    const char *id = NULL;
    mm_err e;
    if (model_cache_configured() && model_cache_identity(&id, &e) == MM_OK) {
        l->model = id;
        l->model2 = ingest_identity(); /* a worker with both models runs the ingest jobs too */
    }
    if (l->lease_ms < 100) l->lease_ms = 100;
}
