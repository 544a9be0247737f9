/*
 * pipeline/bench_queue.c — `mmpipe bench queue`: queue throughput on disk.
 *
 * Measures, in a scratch folder under the current directory (on disk, not tmpfs):
 *   enqueue_per_s          a folder of N small files scanned, hashed and enqueued in one transaction;
 *   claim_complete_per_s   N jobs claimed and completed by 1 and 4 worker processes, at
 *                          synchronous FULL and NORMAL (each job: result row + done + next claim
 *                          in one transaction);
 *   python_baseline_per_s  ../shared/tools/queue_baseline.py run in the same command, with its
 *                          temporary folder on the same disk (TMPDIR = the scratch folder).
 * Prints a table, or one JSON object with --json.  Not run by the test suite.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const bench_help =
    "usage: mmpipe bench -m MODEL.gguf [-t N] [-p|--pp P] [-n|--tg N] [--json]\n"
    "       decoder speed as llama-bench measures it (pp512 / tg128 by default)\n"
    "       mmpipe bench decode [--audio FILE] [--json]\n"
    "       12 MP JPEG / PNG decode + preprocess ms, one hour of MP3 to log-mel: real-time factor, peak RSS\n"
    "       mmpipe bench towers -m MODEL.gguf --mmproj MMPROJ.gguf [-t N] [--json]\n"
    "       vision tower ms per picture at the default token budget, audio tower real-time factor,\n"
    "       decoder prefill of the soft tokens\n"
    "       mmpipe bench caption -m M --mmproj P [--items N] [--parallel P] [-n N] [--image-max-tokens K] [--json]\n"
    "       mmpipe bench transcribe -m M --mmproj P [--items N] [--parallel P] [-n N] [--json]\n"
    "       mmpipe bench ingest --embed-model E [--items N] [--parallel P] [--json]\n"
    "The job commands end to end on inputs made in a scratch folder (pictures, 20 s recordings,\n"
    "one-page documents), with batching off (--parallel 1) and on (--parallel P, default 4):\n"
    "items, seconds, items per hour (images; audio hours; pages) and whether the outputs are equal.\n"
    "       mmpipe bench queue [--jobs N] [--json] [--baseline FILE | --no-baseline]\n"
    "Queue throughput in a scratch folder under the current directory: enqueue jobs/s, and\n"
    "claim+complete jobs/s with 1 and 4 worker processes at synchronous FULL and NORMAL,\n"
    "beside the Python sqlite3 baseline (../shared/tools/queue_baseline.py) run alike.\n";

int cli_rm_rf(const char *path) {
    char *cmd = mm_asprintf("rm -rf -- '%s'", path);
    int rc = cmd ? system(cmd) : -1;
    free(cmd);
    return rc;
}

/* enqueue_per_s: scan + hash + one-transaction enqueue of a folder of n files. */
static double bench_enqueue(const char *dir, int n, mm_err *e) {
    char *files = mm_asprintf("%s/files", dir), *dbp = mm_asprintf("%s/enqueue.db", dir);
    double rate = -1;
    if (!files || !dbp || mkdir(files, 0777) != 0) goto out;
    for (int i = 0; i < n; i++) {
        char path[4096], body[64];
        snprintf(path, sizeof path, "%s/f%06d.txt", files, i);
        int len = snprintf(body, sizeof body, "file %d of the queue benchmark\n", i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, body, (size_t)len) != len) {
            mm_err_set(e, MM_EIO, "%s: %s", path, strerror(errno));
            if (fd >= 0) close(fd);
            goto out;
        }
        close(fd);
    }
    int64_t t0 = mm_mono_ns();
    scan_list in;
    jobs_db *db;
    if (scan_paths(&files, 1, NULL, &in, e) != MM_OK) goto out;
    if (jobs_open(dbp, NULL, &db, e) != MM_OK) {
        scan_free(&in);
        goto out;
    }
    jobs_spec sp;
    jobs_spec_default(&sp, "hash");
    mm_code c = jobs_enqueue(db, &sp, in.v, in.n, NULL, e);
    jobs_close(db);
    scan_free(&in);
    if (c == MM_OK) rate = n / ((double)(mm_mono_ns() - t0) / 1e9);
out:
    free(files);
    free(dbp);
    return rate;
}

/* One benchmark worker process: claim, complete + claim next, until empty. */
static int bench_child(const char *dbp, jobs_sync sync) {
    jobs_options o;
    jobs_options_default(&o);
    o.sync = sync;
    jobs_db *db;
    mm_err e;
    if (jobs_open(dbp, &o, &db, &e) != MM_OK) {
        cli_error("%s", e.msg);
        return 1;
    }
    char owner[320];
    jobs_owner_make(owner, sizeof owner);
    jobs_lease l = {owner, 30000, 1000, 600000, NULL, NULL, NULL};
    job j, next;
    int have = 0;
    if (jobs_claim(db, &l, &j, &have, &e) != MM_OK) goto fail;
    while (have) {
        char text[128];
        snprintf(text, sizeof text, "ok:%s", j.npaths ? j.paths[0] : "");
        mm_code c = jobs_complete(db, &l, &j, text, NULL, &next, &have, &e);
        job_free(&j);
        if (c != MM_OK) goto fail;
        if (have) j = next;
    }
    jobs_close(db);
    return 0;
fail:
    cli_error("%s", e.msg);
    jobs_close(db);
    return 1;
}

/* claim+complete jobs/s for nproc processes on a fresh queue of n jobs. */
static double bench_claim(const char *dir, jobs_sync sync, int nproc, int n, mm_err *e) {
    char *dbp = mm_asprintf("%s/claim-%d-%d.db", dir, (int)sync, nproc);
    if (!dbp) return -1;
    jobs_options o;
    jobs_options_default(&o);
    o.sync = sync;
    jobs_db *db;
    double rate = -1;
    if (jobs_open(dbp, &o, &db, e) != MM_OK) goto out;
    jobs_input *in = calloc((size_t)n, sizeof *in);
    char (*paths)[24] = calloc((size_t)n, sizeof *paths), (*shas)[65] = calloc((size_t)n, sizeof *shas);
    if (!in || !paths || !shas) {
        mm_err_set(e, MM_ENOMEM, "out of memory");
    } else {
        for (int i = 0; i < n; i++) {
            uint8_t d[32];
            mm_sha256 s;
            snprintf(paths[i], sizeof paths[i], "f%d", i);
            mm_sha256_init(&s);
            mm_sha256_update(&s, paths[i], strlen(paths[i]));
            mm_sha256_final(&s, d);
            mm_sha256_hex(d, shas[i]);
            in[i].path = paths[i];
            in[i].sha256 = shas[i];
        }
        jobs_spec sp;
        jobs_spec_default(&sp, "hash");
        if (jobs_enqueue(db, &sp, in, (size_t)n, NULL, e) == MM_OK) {
            int64_t t0 = mm_mono_ns();
            pid_t pids[64];
            int started = 0, bad = 0;
            for (; started < nproc; started++) {
                pids[started] = fork();
                if (pids[started] == 0) _exit(bench_child(dbp, sync));
                if (pids[started] < 0) break;
            }
            for (int i = 0; i < started; i++) {
                int st;
                if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) bad = 1;
            }
            double secs = (double)(mm_mono_ns() - t0) / 1e9;
            jobs_status_row *rows;
            size_t nr;
            if (!bad && started == nproc && jobs_status(db, &rows, &nr, e) == MM_OK) {
                if (nr == 1 && rows[0].n[JOB_DONE] == n) rate = n / secs;
                else mm_err_set(e, MM_ESTATE, "benchmark queue not drained");
                free(rows);
            } else if (bad) {
                mm_err_set(e, MM_EIO, "a benchmark worker failed");
            }
        }
    }
    free(in);
    free(paths);
    free(shas);
    jobs_close(db);
out:
    free(dbp);
    return rate;
}

/* Runs the Python baseline with its temp folder in dir; NULL when unavailable. */
static cJSON *python_baseline(const char *script, const char *dir, int n) {
    if (access(script, R_OK) != 0) {
        cli_error("bench queue: %s not found; python_baseline_per_s is null", script);
        return NULL;
    }
    char *cmd = mm_asprintf("TMPDIR='%s' /usr/bin/python3 '%s' %d", dir, script, n);
    FILE *p = cmd ? popen(cmd, "r") : NULL;
    free(cmd);
    if (!p) return NULL;
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf - 1, p);
    buf[len] = 0;
    int st = pclose(p);
    cJSON *doc = st == 0 ? cJSON_Parse(buf) : NULL;
    cJSON *cc = doc ? cJSON_DetachItemFromObject(doc, "claim_complete_per_s") : NULL;
    cJSON_Delete(doc);
    if (!cc) cli_error("bench queue: the Python baseline failed (exit %d)", st);
    return cc;
}

int cmd_bench(int argc, char **argv) {
    cli c;
    int rc;
    if (argc >= 2 && !strcmp(argv[1], "decode")) {
        rc = cli_parse(&c, "bench decode", "audio,json,quiet", argc - 1, argv + 1);
        if (rc) return rc < 0 ? (fputs(bench_help, stdout), EXIT_OK) : rc;
        if (c.nargs) {
            cli_error("bench decode: takes no arguments (--audio FILE measures a recording)");
            return EXIT_USAGE;
        }
        return bench_decode(&c);
    }
    if (argc >= 2 && !strcmp(argv[1], "towers")) {
        rc = cli_parse(&c, "bench towers", "model,mmproj,threads,json,quiet", argc - 1, argv + 1);
        if (rc) return rc < 0 ? (fputs(bench_help, stdout), EXIT_OK) : rc;
        if (c.nargs || !c.model || !c.mmproj) {
            cli_error("bench towers: -m MODEL.gguf --mmproj MMPROJ.gguf (see --help)");
            return EXIT_USAGE;
        }
        return bench_towers(&c);
    }
    if (argc >= 2 && (!strcmp(argv[1], "caption") || !strcmp(argv[1], "transcribe") || !strcmp(argv[1], "ingest"))) {
        char name[32];
        snprintf(name, sizeof name, "bench %s", argv[1]);
        const int ing = !strcmp(argv[1], "ingest");
        rc = cli_parse(&c, name, ing ? "embed-model,items,parallel,threads,json,quiet"
                                     : "model,mmproj,items,parallel,threads,n-predict,image-max-tokens,json,quiet",
                       argc - 1, argv + 1);
        if (rc) return rc < 0 ? (fputs(bench_help, stdout), EXIT_OK) : rc;
        if (c.nargs || (ing ? !c.embed_model : !c.model || !c.mmproj)) {
            cli_error("%s: %s (see --help)", name, ing ? "--embed-model E.gguf" : "-m MODEL.gguf --mmproj MMPROJ.gguf");
            return EXIT_USAGE;
        }
        return bench_jobs(&c, argv[1]);
    }
    if (argc < 2 || strcmp(argv[1], "queue") != 0) {
        rc = cli_parse(&c, "bench", "model,threads,pp,tg,prompt,n-predict,json,quiet,kv-type", argc, argv);
        if (rc) return rc < 0 ? (fputs(bench_help, stdout), EXIT_OK) : rc;
        /* llama-bench spelling: -p P (prompt tokens) and -n N (generated tokens) */
        if (c.prompt) {
            char *end;
            long v = strtol(c.prompt, &end, 10);
            if (*end || v < 1 || v > 65536) {
                cli_error("bench: -p wants a number of prompt tokens, not '%s'", c.prompt);
                return EXIT_USAGE;
            }
            c.bench_pp = (int)v;
        }
        if (c.n_predict > 0) c.bench_tg = c.n_predict;
        if (!c.model || c.nargs) {
            cli_error("bench: 'mmpipe bench queue' or 'mmpipe bench -m MODEL.gguf' (see --help)");
            return EXIT_USAGE;
        }
        return bench_model(&c);
    }
    rc = cli_parse(&c, "bench queue", "jobs,json,baseline,no-baseline,quiet", argc - 1, argv + 1);
    if (rc) return rc < 0 ? (fputs(bench_help, stdout), EXIT_OK) : rc;
    int n = c.bench_jobs;
    char dir[64];
    snprintf(dir, sizeof dir, "mmpipe-bench-%ld", (long)getpid());
    if (mkdir(dir, 0777) != 0) {
        cli_error("%s: cannot create scratch folder: %m", dir);
        return EXIT_FATAL;
    }
    mm_err e = {0};
    cJSON *root = cJSON_CreateObject();
    double enq = bench_enqueue(dir, n, &e);
    if (enq < 0) {
        cli_error("bench queue: enqueue: %s", e.msg);
        cli_rm_rf(dir);
        cJSON_Delete(root);
        return EXIT_FATAL;
    }
    cJSON_AddNumberToObject(root, "enqueue_per_s", (double)(long long)enq);
    cJSON *cc = cJSON_AddObjectToObject(root, "claim_complete_per_s");
    static const char *const names[] = {"FULL", "NORMAL"};
    static const int procs[] = {1, 4};
    for (int s = 0; s < 2; s++) {
        cJSON *m = cJSON_AddObjectToObject(cc, names[s]);
        for (int k = 0; k < 2; k++) {
            if (!c.quiet) fprintf(stderr, "bench queue: %s, %d worker(s), %d jobs...\n", names[s], procs[k], n);
            double r = bench_claim(dir, s == 0 ? JOBS_SYNC_FULL : JOBS_SYNC_NORMAL, procs[k], n, &e);
            if (r < 0) {
                cli_error("bench queue: %s", e.msg);
                cli_rm_rf(dir);
                cJSON_Delete(root);
                return EXIT_FATAL;
            }
            char key[8];
            snprintf(key, sizeof key, "%d", procs[k]);
            cJSON_AddNumberToObject(m, key, (double)(long long)r);
        }
    }
    cJSON_AddNumberToObject(root, "jobs", n);
    cJSON *py = NULL;
    if (!c.no_baseline) {
        if (!c.quiet) fprintf(stderr, "bench queue: Python baseline...\n");
        py = python_baseline(c.baseline ? c.baseline : MMPIPE_SHARED_DIR "/tools/queue_baseline.py", dir, n);
    }
    if (py) {
        cJSON_AddItemToObject(root, "python_baseline_per_s", py);
        cJSON *sp = cJSON_AddObjectToObject(root, "speedup");
        for (int s = 0; s < 2; s++) {
            cJSON *m = cJSON_AddObjectToObject(sp, names[s]);
            for (int k = 0; k < 2; k++) {
                char key[8];
                snprintf(key, sizeof key, "%d", procs[k]);
                cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(cc, names[s]), key);
                cJSON *b = cJSON_GetObjectItem(cJSON_GetObjectItem(py, names[s]), key);
                if (cJSON_IsNumber(a) && cJSON_IsNumber(b) && b->valuedouble > 0)
                    cJSON_AddNumberToObject(m, key, (double)(long long)(a->valuedouble / b->valuedouble * 100) / 100);
            }
        }
    } else {
        cJSON_AddNullToObject(root, "python_baseline_per_s");
    }
    cli_rm_rf(dir);
    if (c.json) {
        char *s = cJSON_PrintUnformatted(root);
        if (s) puts(s);
        free(s);
    } else {
        printf("queue benchmark, %d jobs, database on disk in ./%s\n", n, dir);
        printf("  enqueue (folder, one transaction): %10.0f jobs/s\n", enq);
        printf("  %-8s %-9s %12s %12s %8s\n", "sync", "workers", "mmpipe/s", "python/s", "speedup");
        for (int s = 0; s < 2; s++)
            for (int k = 0; k < 2; k++) {
                char key[8];
                snprintf(key, sizeof key, "%d", procs[k]);
                cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(cc, names[s]), key);
                cJSON *b = py ? cJSON_GetObjectItem(cJSON_GetObjectItem(py, names[s]), key) : NULL;
                double bv = cJSON_IsNumber(b) ? b->valuedouble : 0;
                printf("  %-8s %-9d %12.0f %12.0f %7.2fx\n", names[s], procs[k], a->valuedouble, bv,
                       bv > 0 ? a->valuedouble / bv : 0);
            }
    }
    cJSON_Delete(root);
    return EXIT_OK;
}
