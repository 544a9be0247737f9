/*
 * pipeline/cmd_misc.c — `mmpipe worker`, `mmpipe status`, `mmpipe results`, and
 * `mmpipe hash` (enqueue + run + show: the model-free demo job).
 */
#include "cli.h"

#include <math.h>
#include "model_cache.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DB_OPTS "db,config,sync,busy-timeout,quiet"
#define WORKER_OPTS "workers,follow,lease,heartbeat,backoff,backoff-cap,throttle-ms"

static const char *const worker_help =
    "usage: mmpipe worker [-j N] [--follow] [-m MODEL.gguf --mmproj MMPROJ.gguf [-t THREADS]]\n"
    "Runs queued jobs until none is left that it can run, then exits: 0, or 3 if any job\n"
    "failed (errors stay in the database and are listed at the end).  Any number of workers\n"
    "may share one database; a killed worker's jobs return to the queue.\n"
    "\n"
    "  -j, --workers N    jobs in flight in this process (default 1)\n"
    "  --follow           keep waiting for new jobs (stop with Ctrl-C / SIGTERM)\n"
    "  -m, --mmproj, -t   the model for caption / transcribe / summarize jobs (loaded once;\n"
    "                     without -m those jobs are left for a worker that has it)\n"
    "  --embed-model E    also run ingest jobs, embedding with E (a gemma-embedding GGUF)\n"
    "  --lease S          lease per job, renewed by heartbeats (default 30)\n"
    "  --heartbeat S      heartbeat interval (default 10)\n"
    "  --backoff S        retry n waits S * 2^n seconds, +-25%% jitter (default 1)\n"
    "  --backoff-cap S    longest backoff (default 600)\n"
    "  --db PATH, --config FILE, --sync FULL|NORMAL, --quiet\n"
    "  --throttle-ms MS   sleep MS after each job (testing aid)\n";

int cmd_worker(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "worker", DB_OPTS "," WORKER_OPTS ",model,mmproj,threads,embed-model,parallel", argc, argv);
    if (rc) return rc < 0 ? (printf(worker_help), EXIT_OK) : rc;
    if (c.nargs) {
        cli_error("worker: unexpected argument '%s'", c.args[0]);
        return EXIT_USAGE;
    }
    mm_err e;
    const char *id;
    if (c.model && (model_cache_config(c.model, c.mmproj, c.threads, &e) != MM_OK ||
                    model_cache_identity(&id, &e) != MM_OK)) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    model_cache_set_parallel(c.parallel > 0 ? c.parallel : MODEL_CACHE_PARALLEL);
    if (c.embed_model && ingest_configure(&c)) { /* runs ingest jobs too */
        model_cache_free();
        return EXIT_FATAL;
    }
    rc = worker_run(&c, NULL);
    model_cache_free();
    return rc;
}

static const char *const status_help =
    "usage: mmpipe status [--json] [--db PATH]\n"
    "Counts of jobs by kind and state.  --json prints\n"
    "{\"jobs\": {KIND: {\"queued\", \"running\", \"done\", \"failed\", \"cancelled\"}}}.\n";

int cmd_status(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "status", DB_OPTS ",json", argc, argv);
    if (rc) return rc < 0 ? (fputs(status_help, stdout), EXIT_OK) : rc;
    if (c.nargs) {
        cli_error("status: unexpected argument '%s'", c.args[0]);
        return EXIT_USAGE;
    }
    jobs_db *db = cli_open_db(&c, 1);
    if (!db) return EXIT_FATAL;
    jobs_status_row *rows;
    size_t n;
    mm_err e;
    mm_code code = jobs_status(db, &rows, &n, &e);
    jobs_close(db);
    if (code != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    if (c.json) {
        cJSON *root = cJSON_CreateObject(), *jobs = cJSON_AddObjectToObject(root, "jobs");
        for (size_t i = 0; i < n; i++) {
            cJSON *k = cJSON_AddObjectToObject(jobs, rows[i].kind);
            for (int s = 0; s < JOB_NSTATES; s++)
                cJSON_AddNumberToObject(k, job_state_name((job_state)s), (double)rows[i].n[s]);
        }
        char *s = cJSON_Print(root);
        if (s) puts(s);
        free(s);
        cJSON_Delete(root);
    } else {
        printf("%-12s %8s %8s %8s %8s %10s %10s %10s\n", "kind", "queued", "running", "done", "failed", "cancelled",
               "per hour", "ETA");
        for (size_t i = 0; i < n; i++) {
            char eta[32] = "-";
            const double t = rows[i].eta_s;
            if (t == 0) snprintf(eta, sizeof eta, "done");
            else if (t > 0 && t < 3600) snprintf(eta, sizeof eta, "%dm%02ds", (int)t / 60, (int)t % 60);
            else if (t >= 3600) snprintf(eta, sizeof eta, "%dh%02dm", (int)(t / 3600), (int)t % 3600 / 60);
            char rate[32] = "-";
            if (rows[i].recent) snprintf(rate, sizeof rate, "%.1f", rows[i].per_hour);
            printf("%-12s %8lld %8lld %8lld %8lld %10lld %10s %10s\n", rows[i].kind, (long long)rows[i].n[0],
                   (long long)rows[i].n[1], (long long)rows[i].n[2], (long long)rows[i].n[3],
                   (long long)rows[i].n[4], rate, eta);
        }
        printf("(per hour: jobs finished in the last %d minutes; ETA: queued and running ones at that rate)\n",
               JOBS_RATE_WINDOW_S / 60);
        if (n == 0) printf("(no jobs)\n");
    }
    free(rows);
    return EXIT_OK;
}

static const char *const results_help =
    "usage: mmpipe results export --kind KIND --format jsonl|csv [--out FILE]\n"
    "       mmpipe results list [--kind KIND]\n"
    "One record per path of each done job: path, sha256, kind, model, text, finished_at\n"
    "(ISO 8601 UTC), job_id; a path that is not UTF-8 gets U+FFFD plus path_b64 (exact bytes).\n"
    "--out writes FILE atomically (temporary file, then rename).\n";

static int print_result(void *arg, const jobs_result *r) {
    (void)arg;
    char *path = mm_utf8_sanitize(r->path, r->path_len);
    printf("%s  %s\n", r->text, path ? path : "?");
    free(path);
    return 0;
}

int cmd_results(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(results_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    int export = !strcmp(argv[1], "export");
    if (!export && strcmp(argv[1], "list") != 0) {
        cli_error("results: unknown subcommand '%s' (export, list)", argv[1]);
        return EXIT_USAGE;
    }
    cli c;
    int rc = cli_parse(&c, export ? "results export" : "results list",
                       export ? DB_OPTS ",kind,format,out" : DB_OPTS ",kind", argc - 1, argv + 1);
    if (rc) return rc < 0 ? (fputs(results_help, stdout), EXIT_OK) : rc;
    if (c.nargs) {
        cli_error("results: unexpected argument '%s'", c.args[0]);
        return EXIT_USAGE;
    }
    if (export && (!c.format || (strcmp(c.format, "jsonl") && strcmp(c.format, "csv")))) {
        cli_error("results export: --format jsonl or --format csv is required");
        return EXIT_USAGE;
    }
    jobs_db *db = cli_open_db(&c, 1);
    if (!db) return EXIT_FATAL;
    mm_err e;
    mm_code code;
    if (!export) {
        code = jobs_results(db, c.kind, print_result, NULL, &e);
        jobs_close(db);
        if (code) cli_error("%s", e.msg);
        return code ? EXIT_FATAL : EXIT_OK;
    }
    FILE *f = stdout;
    char *tmp = NULL;
    if (c.out) {
        tmp = mm_asprintf("%s.tmp.%ld", c.out, (long)getpid());
        if (!tmp || !(f = fopen(tmp, "wbx"))) {
            cli_error("%s: cannot write: %m", tmp ? tmp : c.out);
            free(tmp);
            jobs_close(db);
            return EXIT_FATAL;
        }
    }
    int64_t n = 0;
    code = export_results(db, c.kind, c.format, f, &n, &e);
    jobs_close(db);
    int werr = ferror(f) || fflush(f) != 0;
    if (c.out) {
        werr |= fsync(fileno(f)) != 0;
        werr |= fclose(f) != 0;
        if (code == MM_OK && !werr && rename(tmp, c.out) != 0) werr = 1;
        if (code != MM_OK || werr) unlink(tmp);
    }
    if (code != MM_OK) cli_error("%s", e.msg);
    else if (werr) cli_error("%s: write failed: %m", c.out ? c.out : "stdout");
    else if (!c.quiet && c.out) fprintf(stderr, "mmpipe: %lld records written to %s\n", (long long)n, c.out);
    free(tmp);
    return code != MM_OK || werr ? EXIT_FATAL : EXIT_OK;
}

static const char *const hash_help =
    "usage: mmpipe hash PATH... [-j N] [--force]\n"
    "The model-free job: queues a 'hash' job per file (folders recursively), runs them,\n"
    "and prints 'sha256  path' per file.  A re-run does no work for what is done.\n"
    "Exit 0 when every file is hashed, 3 when some could not be read.\n";

typedef struct path_set { const char **v; size_t n; } path_set;

static int cmp_cstr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Prints the result of each path this run scanned. */
static int show_hash(void *arg, const jobs_result *r) {
    const path_set *ps = arg;
    char *key = malloc(r->path_len + 1);
    if (!key) return 1;
    memcpy(key, r->path, r->path_len);
    key[r->path_len] = 0;
    const char *k = key;
    if (strlen(key) == r->path_len && bsearch(&k, ps->v, ps->n, sizeof *ps->v, cmp_cstr))
        print_result(NULL, r);
    free(key);
    return 0;
}

int cmd_hash(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "hash", DB_OPTS ",force,workers,lease,heartbeat,backoff,max-attempts", argc, argv);
    if (rc) return rc < 0 ? (fputs(hash_help, stdout), EXIT_OK) : rc;
    if (c.nargs < 1) {
        cli_error("hash: needs at least one PATH");
        return EXIT_USAGE;
    }
    jobs_enqueue_stats st;
    scan_list in;
    int enq = cli_enqueue(&c, "hash", c.args, c.nargs, &st, &in);
    if (enq == EXIT_FATAL) return enq;
    int run = worker_run(&c, NULL);
    path_set ps = {calloc(in.n + 1, sizeof(char *)), in.n};
    jobs_db *db = run != EXIT_FATAL && ps.v ? cli_open_db(&c, 1) : NULL;
    mm_err e;
    mm_code code = MM_EIO;
    if (db) {
        for (size_t i = 0; i < in.n; i++) ps.v[i] = in.v[i].path;
        qsort(ps.v, ps.n, sizeof *ps.v, cmp_cstr);
        if ((code = jobs_results(db, "hash", show_hash, &ps, &e)) != MM_OK) cli_error("%s", e.msg);
        jobs_close(db);
    }
    free(ps.v);
    scan_free(&in);
    if (code != MM_OK) return EXIT_FATAL;
    return run == EXIT_SOME_FAILED || enq == EXIT_SOME_FAILED ? EXIT_SOME_FAILED : EXIT_OK;
}
