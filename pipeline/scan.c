/*
 * pipeline/scan.c — turning the paths a user gives into queue inputs.
 *
 * Folders are walked recursively in byte order of names (so job ids are
 * deterministic); every regular file is hashed (SHA-256, streamed).  Symlinks to
 * files are followed, symlinks to folders are not (no loops).  A path named on the
 * command line that does not exist is fatal; a file or folder inside that cannot
 * be read becomes an input with an error, which the queue records as a failed job
 * keyed by its path.  The database itself (and its -wal/-shm/-lock) is skipped.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct skip_set { dev_t dev[4]; ino_t ino[4]; int n; } skip_set;

static int skipped(const skip_set *s, const struct stat *st) {
    for (int i = 0; i < s->n; i++)
        if (s->dev[i] == st->st_dev && s->ino[i] == st->st_ino) return 1;
    return 0;
}

static mm_code push(scan_list *l, const char *path, const char *sha, uint64_t size,
                    const char *error, mm_err *e);

/* A folder that could be read: tells the queue to forget an old "cannot open folder". */
static mm_code push_readable_dir(scan_list *l, const char *path, mm_err *e) {
    mm_code c = push(l, path, NULL, 0, NULL, e);
    if (c == MM_OK) l->v[l->n - 1].clear_only = 1;
    return c;
}

static mm_code push(scan_list *l, const char *path, const char *sha, uint64_t size,
                    const char *error, mm_err *e) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        jobs_input *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) return mm_err_set(e, MM_ENOMEM, "out of memory");
        l->v = nv;
        l->cap = cap;
    }
    jobs_input *in = &l->v[l->n];
    memset(in, 0, sizeof *in);
    in->path = mm_strdup(path);
    in->sha256 = sha ? mm_strdup(sha) : NULL;
    in->error = error ? mm_strdup(error) : NULL;
    in->size = size;
    if (!in->path || (sha && !in->sha256) || (error && !in->error)) {
        free((char *)in->path);
        free((char *)in->sha256);
        free((char *)in->error);
        return mm_err_set(e, MM_ENOMEM, "out of memory");
    }
    l->n++;
    return MM_OK;
}

static mm_code add_file(scan_list *l, const char *path, mm_err *e) {
    char hex[65];
    uint64_t size = 0;
    mm_err fe;
    if (mm_sha256_file(path, hex, &size, &fe) != MM_OK) {
        /* the message starts with "path: "; the path is reported beside it */
        size_t pl = strlen(path);
        const char *why = !strncmp(fe.msg, path, pl) && !strncmp(fe.msg + pl, ": ", 2) ? fe.msg + pl + 2 : fe.msg;
        return push(l, path, NULL, 0, why, e);
    }
    return push(l, path, hex, size, NULL, e);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static mm_code walk(scan_list *l, const char *dir, const skip_set *skip, int depth, mm_err *e);

static mm_code visit(scan_list *l, const char *path, const skip_set *skip, int depth, int top, mm_err *e) {
    struct stat lst, st;
    if (lstat(path, &lst) != 0) {
        int er = errno;
        if (top) return mm_err_set(e, mm_code_from_errno(er), "%s: %s", path, strerror(er));
        return push(l, path, NULL, 0, strerror(er), e);
    }
    int is_link = S_ISLNK(lst.st_mode);
    if (stat(path, &st) != 0) {
        int er = errno;
        if (top) return mm_err_set(e, mm_code_from_errno(er), "%s: %s", path, strerror(er));
        return push(l, path, NULL, 0, is_link ? "broken symbolic link" : strerror(er), e);
    }
    if (skipped(skip, &st)) return MM_OK;
    if (S_ISDIR(st.st_mode)) {
        if (is_link && !top) return MM_OK; /* do not follow folder links inside a walk */
        if (depth > 256) return push(l, path, NULL, 0, "folders nested too deep", e);
        return walk(l, path, skip, depth + 1, e);
    }
    if (S_ISREG(st.st_mode)) return add_file(l, path, e);
    if (top) return mm_err_set(e, MM_EINVAL, "%s: not a regular file or folder", path);
    return MM_OK; /* fifos, sockets, devices inside folders are not inputs */
}

static mm_code walk(scan_list *l, const char *dir, const skip_set *skip, int depth, mm_err *e) {
    DIR *d = opendir(dir);
    if (!d) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot open folder: %s", strerror(errno));
        return push(l, dir, NULL, 0, msg, e);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    mm_code c = push_readable_dir(l, dir, e);
    while (c == MM_OK && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) { c = mm_err_set(e, MM_ENOMEM, "out of memory"); break; }
            names = nn;
        }
        if (!(names[n] = mm_strdup(de->d_name))) { c = mm_err_set(e, MM_ENOMEM, "out of memory"); break; }
        n++;
    }
    closedir(d);
    if (c == MM_OK) qsort(names, n, sizeof *names, cmp_names);
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] == '/';
    for (size_t i = 0; i < n && c == MM_OK; i++) {
        char *p = mm_asprintf("%s%s%s", dir, slash ? "" : "/", names[i]);
        if (!p) c = mm_err_set(e, MM_ENOMEM, "out of memory");
        else c = visit(l, p, skip, depth, 0, e);
        free(p);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return c;
}

mm_code scan_paths(char **paths, int n, const char *skip_path, scan_list *out, mm_err *e) {
    memset(out, 0, sizeof *out);
    skip_set skip = {0};
    if (skip_path) {
        const char *suffix[4] = {"", "-wal", "-shm", "-lock"};
        for (int i = 0; i < 4; i++) {
            char *p = mm_asprintf("%s%s", skip_path, suffix[i]);
            struct stat st;
            if (p && stat(p, &st) == 0) {
                skip.dev[skip.n] = st.st_dev;
                skip.ino[skip.n++] = st.st_ino;
            }
            free(p);
        }
    }
    for (int i = 0; i < n; i++) {
        mm_code c = visit(out, paths[i], &skip, 0, 1, e);
        if (c) {
            scan_free(out);
            return c;
        }
    }
    return MM_OK;
}

void scan_free(scan_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->v[i].path);
        free((char *)l->v[i].sha256);
        free((char *)l->v[i].error);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}
