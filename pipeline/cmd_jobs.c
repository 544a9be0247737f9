/*
 * pipeline/cmd_jobs.c — `mmpipe jobs add|list|cancel|retry|purge`.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DB_OPTS "db,config,sync,busy-timeout,quiet"

static const char *const jobs_help =
    "usage: mmpipe jobs add KIND PATH...   enqueue one job per file (folders recursively)\n"
    "       mmpipe jobs list [--state S] [--kind K] [--json]\n"
    "       mmpipe jobs cancel ID...\n"
    "       mmpipe jobs retry ID... | --failed\n"
    "       mmpipe jobs purge --state done|failed|cancelled\n"
    "\n"
    "Jobs are keyed by kind + file content (SHA-256) + params + model: several paths with\n"
    "the same content share one job, and adding what is already queued or done does nothing.\n"
    "A failed job stays failed until 'retry' (or 'add --force').  Kinds: hash; ingest with\n"
    "--embed-model E.gguf [--collection NAME] (the documents among the paths, keyed as 'mmpipe ingest'\n"
    "keys them; run by 'mmpipe worker --embed-model E.gguf').  caption / transcribe: their commands.\n"
    "\n"
    "options:\n"
    "  --db PATH          database file (default ./mmpipe.db)\n"
    "  --config FILE      defaults (default ./mmpipe.json when present)\n"
    "  --sync MODE        FULL (default: survives power loss) or NORMAL (survives kill -9)\n"
    "  --force            add: re-run jobs that are done, failed or cancelled\n"
    "  --priority N       add: higher runs first (default 0)\n"
    "  --max-attempts N   add: error attempts before a job fails (default 3)\n"
    "  --max-crashes N    add: worker crashes before a job fails (default 10)\n"
    "  --state S, --kind K, --json   list: filter, machine-readable output\n"
    "  --quiet            no summary on stderr\n";

/* Parses a job id argument; 0 on error. */
static int64_t parse_id(const char *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return (errno || *end || end == s || v <= 0) ? 0 : v;
}

int cli_enqueue_list(const cli *c, jobs_spec *sp, const scan_list *in, const char *label, jobs_enqueue_stats *st) {
    mm_err e;
    jobs_db *db = cli_open_db(c, 0);
    if (!db) return EXIT_FATAL;
    sp->force = c->force;
    sp->priority = c->priority;
    sp->max_attempts = c->max_attempts;
    sp->max_crashes = c->max_crashes;
    mm_code code = jobs_enqueue(db, sp, in->v, in->n, st, &e);
    jobs_close(db);
    if (code != MM_OK) {
        cli_error("%s (nothing was queued)", e.msg);
        return EXIT_FATAL;
    }
    size_t files = 0;
    for (size_t i = 0; i < in->n; i++) {
        if (in->v[i].error) cli_error("%s: %s", in->v[i].path, in->v[i].error);
        files += !in->v[i].clear_only;
    }
    if (!c->quiet)
        fprintf(stderr, "mmpipe: %zu %s: %lld new jobs, %lld already queued or done, "
                "%lld re-queued, %lld still failed, %lld unreadable\n", files, label, (long long)st->added,
                (long long)(st->existing - st->failed_already - st->requeued), (long long)st->requeued,
                (long long)st->failed_already, (long long)st->unreadable);
    return st->unreadable || st->failed_already ? EXIT_SOME_FAILED : EXIT_OK;
}

int cli_enqueue(const cli *c, const char *kind, char **paths, int n, jobs_enqueue_stats *st,
                scan_list *keep) {
    scan_list in;
    mm_err e;
    if (scan_paths(paths, n, c->db, &in, &e) != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    jobs_spec sp;
    jobs_spec_default(&sp, kind);
    int rc = cli_enqueue_list(c, &sp, &in, "inputs", st);
    if (keep && rc != EXIT_FATAL) *keep = in;
    else scan_free(&in);
    return rc;
}

/* `jobs add ingest`: the documents among the paths (and unreadable entries, which become failed
 * jobs), queued with the key `mmpipe ingest` gives them: content + ingest_params(collection) + the
 * embedding model's identity.  Enqueue only: the collection is not synced (renames and deletions
 * are `mmpipe ingest`'s), and `mmpipe worker --embed-model E.gguf` runs the jobs. */
static int jobs_add_ingest(const cli *c) {
    if (!c->embed_model) {
        cli_error("jobs add: 'ingest' jobs need the embedding model in their key: give --embed-model E.gguf "
                  "(the one 'mmpipe ingest' and 'mmpipe worker' use)");
        return EXIT_USAGE;
    }
    if (ingest_configure(c)) return EXIT_FATAL;
    scan_list in, docs = {0};
    mm_err e;
    if (scan_paths(c->args + 1, c->nargs - 1, c->db, &in, &e) != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    size_t skipped = 0;
    docs.v = calloc(in.n + 1, sizeof *docs.v); /* shallow copies: `in` owns the strings */
    char *params = ingest_params(c->collection);
    if (!docs.v || !params) {
        cli_error("out of memory");
        free(docs.v);
        free(params);
        scan_free(&in);
        return EXIT_FATAL;
    }
    for (size_t i = 0; i < in.n; i++) {
        if (in.v[i].error || in.v[i].clear_only || ingest_is_document(in.v[i].path)) docs.v[docs.n++] = in.v[i];
        else skipped++;
    }
    jobs_spec sp;
    jobs_spec_default(&sp, "ingest");
    sp.params_json = params;
    sp.model = ingest_identity();
    jobs_enqueue_stats st;
    int rc = cli_enqueue_list(c, &sp, &docs, "documents", &st);
    if (skipped && !c->quiet && rc != EXIT_FATAL)
        fprintf(stderr, "mmpipe: %zu files skipped (not text, Markdown, HTML or PDF; images and recordings are "
                "indexed by 'mmpipe ingest -m MODEL --mmproj MMPROJ')\n", skipped);
    free(docs.v);
    free(params);
    scan_free(&in);
    return rc;
}

static int jobs_add(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "jobs add", DB_OPTS ",force,priority,max-attempts,max-crashes,embed-model,collection,threads",
                       argc, argv);
    if (rc) return rc < 0 ? (fputs(jobs_help, stdout), EXIT_OK) : rc;
    if (c.nargs < 2) {
        cli_error("jobs add: needs a KIND and at least one PATH (see 'mmpipe jobs --help')");
        return EXIT_USAGE;
    }
    if (!kind_find(c.args[0])) {
        cli_error("jobs add: unknown job kind '%s' (this build runs: %s)", c.args[0], kind_names());
        return EXIT_USAGE;
    }
    if (!strcmp(c.args[0], "caption") || !strcmp(c.args[0], "transcribe") || !strcmp(c.args[0], "summarize")) {
        cli_error("jobs add: '%s' jobs need a model in their key: use 'mmpipe %s -m MODEL --mmproj MMPROJ PATH...'",
                  c.args[0], strcmp(c.args[0], "caption") ? "transcribe" : "caption");
        return EXIT_USAGE;
    }
    if (!strcmp(c.args[0], "ingest")) return jobs_add_ingest(&c);
    if (c.embed_model) {
        cli_error("jobs add: --embed-model is for 'ingest' jobs only");
        return EXIT_USAGE;
    }
    jobs_enqueue_stats st;
    return cli_enqueue(&c, c.args[0], c.args + 1, c.nargs - 1, &st, NULL);
}

static int print_job(void *arg, const jobs_info *in) {
    cJSON *arr = arg;
    char *path = mm_utf8_sanitize(in->path, in->path_len);
    if (arr) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)in->id);
        cJSON_AddStringToObject(o, "kind", in->kind);
        cJSON_AddStringToObject(o, "state", job_state_name(in->state));
        cJSON_AddStringToObject(o, "path", path ? path : "");
        if (!mm_utf8_valid(in->path, in->path_len)) {
            char *b = mm_base64(in->path, in->path_len);
            cJSON_AddStringToObject(o, "path_b64", b ? b : "");
            free(b);
        }
        cJSON_AddNumberToObject(o, "paths", (double)in->npaths);
        cJSON_AddStringToObject(o, "sha256", in->sha256);
        cJSON_AddNumberToObject(o, "attempts", in->attempts);
        cJSON_AddNumberToObject(o, "max_attempts", in->max_attempts);
        cJSON_AddNumberToObject(o, "crashes", in->crashes);
        cJSON_AddNumberToObject(o, "priority", in->priority);
        char t[32];
        mm_iso8601_ms(in->updated_at, t);
        cJSON_AddStringToObject(o, "updated_at", t);
        if (in->last_error) {
            char *err = mm_utf8_sanitize(in->last_error, strlen(in->last_error));
            cJSON_AddStringToObject(o, "error", err ? err : "");
            free(err);
        } else {
            cJSON_AddNullToObject(o, "error");
        }
        cJSON_AddItemToArray(arr, o);
    } else {
        printf("%8lld  %-8s %-9s %d/%d %2d  %s%s%s\n", (long long)in->id, in->kind,
               job_state_name(in->state), in->attempts, in->max_attempts, in->crashes, path ? path : "",
               in->last_error ? "  -- " : "", in->last_error ? in->last_error : "");
    }
    free(path);
    return 0;
}

static int jobs_list_cmd(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "jobs list", DB_OPTS ",state,kind,json", argc, argv);
    if (rc) return rc < 0 ? (fputs(jobs_help, stdout), EXIT_OK) : rc;
    if (c.nargs) {
        cli_error("jobs list: unexpected argument '%s'", c.args[0]);
        return EXIT_USAGE;
    }
    jobs_db *db = cli_open_db(&c, 1);
    if (!db) return EXIT_FATAL;
    jobs_filter f = {c.state ? job_state_parse(c.state) : -1, c.kind};
    cJSON *arr = c.json ? cJSON_CreateArray() : NULL;
    if (!c.json) printf("%8s  %-8s %-9s %-3s %2s  %s\n", "id", "kind", "state", "try", "cr", "path");
    mm_err e;
    mm_code code = jobs_list(db, &f, print_job, arr, &e);
    jobs_close(db);
    if (code == MM_OK && arr) {
        char *s = cJSON_Print(arr);
        if (s) puts(s);
        free(s);
    }
    cJSON_Delete(arr);
    if (code != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    return EXIT_OK;
}

/* cancel / retry by id: each id reported; exit 1 if any could not be changed. */
static int jobs_by_id(int argc, char **argv, const char *name,
                      mm_code (*op)(jobs_db *, int64_t, mm_err *)) {
    cli c;
    int is_retry = !strcmp(name, "jobs retry");
    int rc = cli_parse(&c, name, is_retry ? DB_OPTS ",failed" : DB_OPTS, argc, argv);
    if (rc) return rc < 0 ? (fputs(jobs_help, stdout), EXIT_OK) : rc;
    if ((c.nargs == 0) == !(is_retry && c.failed) || (c.failed && c.nargs)) {
        cli_error("%s: give job ids%s", name, is_retry ? " or --failed" : "");
        return EXIT_USAGE;
    }
    for (int i = 0; i < c.nargs; i++)
        if (!parse_id(c.args[i])) {
            cli_error("%s: '%s' is not a job id", name, c.args[i]);
            return EXIT_USAGE;
        }
    jobs_db *db = cli_open_db(&c, 0);
    if (!db) return EXIT_FATAL;
    int status = EXIT_OK;
    mm_err e;
    if (c.failed) {
        int64_t n = 0;
        if (jobs_retry_failed(db, &n, &e) != MM_OK) {
            cli_error("%s", e.msg);
            status = EXIT_FATAL;
        } else if (!c.quiet) {
            fprintf(stderr, "mmpipe: %lld failed jobs queued again\n", (long long)n);
        }
    }
    for (int i = 0; i < c.nargs; i++) {
        if (op(db, parse_id(c.args[i]), &e) != MM_OK) {
            cli_error("%s", e.msg);
            status = EXIT_FATAL;
        } else if (!c.quiet) {
            fprintf(stderr, "mmpipe: job %s %s\n", c.args[i], is_retry ? "queued again" : "cancelled");
        }
    }
    jobs_close(db);
    return status;
}

static int jobs_purge_cmd(int argc, char **argv) {
    cli c;
    int rc = cli_parse(&c, "jobs purge", DB_OPTS ",state", argc, argv);
    if (rc) return rc < 0 ? (fputs(jobs_help, stdout), EXIT_OK) : rc;
    int st = c.state ? job_state_parse(c.state) : -1;
    if (c.nargs || (st != JOB_DONE && st != JOB_FAILED && st != JOB_CANCELLED)) {
        cli_error("jobs purge: needs --state done|failed|cancelled and nothing else");
        return EXIT_USAGE;
    }
    jobs_db *db = cli_open_db(&c, 0);
    if (!db) return EXIT_FATAL;
    int64_t n = 0;
    mm_err e;
    mm_code code = jobs_purge(db, (job_state)st, &n, &e);
    jobs_close(db);
    if (code != MM_OK) {
        cli_error("%s", e.msg);
        return EXIT_FATAL;
    }
    if (!c.quiet) fprintf(stderr, "mmpipe: %lld %s jobs purged\n", (long long)n, c.state);
    return EXIT_OK;
}

int cmd_jobs(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(jobs_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "add")) return jobs_add(argc - 1, argv + 1);
    if (!strcmp(sub, "list")) return jobs_list_cmd(argc - 1, argv + 1);
    if (!strcmp(sub, "cancel")) return jobs_by_id(argc - 1, argv + 1, "jobs cancel", jobs_cancel);
    if (!strcmp(sub, "retry")) return jobs_by_id(argc - 1, argv + 1, "jobs retry", jobs_retry);
    if (!strcmp(sub, "purge")) return jobs_purge_cmd(argc - 1, argv + 1);
    cli_error("jobs: unknown subcommand '%s' (add, list, cancel, retry, purge)", sub);
    return EXIT_USAGE;
}
