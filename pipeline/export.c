/*
 * pipeline/export.c — results as JSONL or CSV, one record per path of a done job.
 *
 * JSONL: one UTF-8 JSON object per line.  A path that is not valid UTF-8 is
 * written with U+FFFD replacements, and its exact bytes as base64 in path_b64.
 * CSV: RFC 4180 — header row, CRLF line ends, fields with a comma, quote, CR or
 * LF quoted, quotes doubled; path_b64 is a column (empty when the path is UTF-8).
 * finished_at is ISO 8601 UTC with milliseconds.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

typedef struct export_ctx {
    FILE *f;
    int csv;
    int64_t n;
    int oom;
} export_ctx;

static void csv_field(FILE *f, const char *s, int last) {
    if (strpbrk(s, ",\"\r\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"') fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputs(last ? "\r\n" : ",", f);
}

static int export_one(void *arg, const jobs_result *r) {
    export_ctx *x = arg;
    int valid = mm_utf8_valid(r->path, r->path_len);
    char *path = mm_utf8_sanitize(r->path, r->path_len);
    char *b64 = valid ? mm_strdup("") : mm_base64(r->path, r->path_len);
    char *text = mm_utf8_sanitize(r->text, strlen(r->text));
    char when[32], id[24];
    mm_iso8601_ms(r->finished_at, when);
    snprintf(id, sizeof id, "%lld", (long long)r->job_id);
    if (!path || !b64 || !text) {
        x->oom = 1;
    } else if (x->csv) {
        csv_field(x->f, path, 0);
        csv_field(x->f, b64, 0);
        csv_field(x->f, r->sha256, 0);
        csv_field(x->f, r->kind, 0);
        csv_field(x->f, r->model, 0);
        csv_field(x->f, text, 0);
        csv_field(x->f, when, 0);
        csv_field(x->f, id, 1);
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", path);
        if (!valid) cJSON_AddStringToObject(o, "path_b64", b64);
        cJSON_AddStringToObject(o, "sha256", r->sha256);
        cJSON_AddStringToObject(o, "kind", r->kind);
        cJSON_AddStringToObject(o, "model", r->model);
        cJSON_AddStringToObject(o, "text", text);
        cJSON_AddStringToObject(o, "finished_at", when);
        cJSON_AddNumberToObject(o, "job_id", (double)r->job_id);
        if (r->data) {
            cJSON *d = cJSON_Parse(r->data);
            if (d) cJSON_AddItemToObject(o, "data", d);
        }
        char *line = cJSON_PrintUnformatted(o);
        if (line) {
            fputs(line, x->f);
            fputc('\n', x->f);
            free(line);
        } else {
            x->oom = 1;
        }
        cJSON_Delete(o);
    }
    free(path);
    free(b64);
    free(text);
    x->n++;
    return x->oom;
}

mm_code export_results(jobs_db *db, const char *kind, const char *format, FILE *f, int64_t *n, mm_err *e) {
    export_ctx x = {f, 0, 0, 0};
    if (!strcmp(format, "csv")) x.csv = 1;
    else if (strcmp(format, "jsonl") != 0)
        return mm_err_set(e, MM_EINVAL, "unknown export format '%s' (jsonl or csv)", format);
    if (x.csv) fputs("path,path_b64,sha256,kind,model,text,finished_at,job_id\r\n", f);
    mm_code c = jobs_results(db, kind, export_one, &x, e);
    if (c == MM_OK && x.oom) c = mm_err_set(e, MM_ENOMEM, "out of memory while exporting");
    if (n) *n = x.n;
    return c;
}
