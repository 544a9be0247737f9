/*
 * pipeline/model_cache.c — one loaded text model + mmproj per worker process (see
 * model_cache.h): paths from the command line or mmpipe.json, loaded lazily under a mutex
 * on the first model job, shared read-only by the runner threads.
 */
#include "model_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char *cfg_model, *cfg_mmproj, *cfg_identity;
static int cfg_threads = 1, cfg_parallel = MODEL_CACHE_PARALLEL;
static model_set set;
static int loaded, load_failed;
static mm_err load_err;

static void unload_locked(void) {
    mm_mmproj_close(set.proj);
    mm_tokenizer_close(set.tok);
    mm_model_close(set.model);
    memset(&set, 0, sizeof set);
    loaded = load_failed = 0;
}

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

mm_code model_cache_config(const char *model, const char *mmproj, int threads, mm_err *e) {
    pthread_mutex_lock(&mu);
    if (!same(model, cfg_model) || !same(mmproj, cfg_mmproj)) {
        unload_locked();
        free(cfg_model);
        free(cfg_mmproj);
        free(cfg_identity);
        cfg_identity = NULL;
        cfg_model = model ? mm_strdup(model) : NULL;
        cfg_mmproj = mmproj ? mm_strdup(mmproj) : NULL;
        if ((model && !cfg_model) || (mmproj && !cfg_mmproj)) {
            pthread_mutex_unlock(&mu);
            return mm_err_set(e, MM_ENOMEM, "out of memory");
        }
    }
    cfg_threads = threads > 0 ? threads : 1;
    set.threads = cfg_threads;
    pthread_mutex_unlock(&mu);
    return MM_OK;
}

void model_cache_set_parallel(int n) {
    pthread_mutex_lock(&mu);
    cfg_parallel = n > 0 ? n : 1;
    set.parallel = cfg_parallel;
    pthread_mutex_unlock(&mu);
}

int model_cache_parallel(void) {
    pthread_mutex_lock(&mu);
    int n = cfg_parallel;
    pthread_mutex_unlock(&mu);
    return n;
}

int model_cache_configured(void) {
    pthread_mutex_lock(&mu);
    int r = cfg_model != NULL;
    pthread_mutex_unlock(&mu);
    return r;
}

static mm_code file_identity(const char *path, char out[96], mm_err *e) {
    mm_gguf *g;
    mm_code rc = mm_gguf_open(path, &g, e);
    if (rc) return rc;
    mm_model_identity(g, out);
    mm_gguf_close(g);
    return MM_OK;
}

mm_code model_cache_identity(const char **out, mm_err *e) {
    pthread_mutex_lock(&mu);
    mm_code rc = MM_OK;
    if (!cfg_model) {
        rc = mm_err_set(e, MM_EINVAL, "no model: give -m MODEL.gguf (and --mmproj MMPROJ.gguf) or set them in mmpipe.json");
    } else if (!cfg_identity) {
        char a[96], b[96] = "";
        rc = file_identity(cfg_model, a, e);
        if (!rc && cfg_mmproj) rc = file_identity(cfg_mmproj, b, e);
        if (!rc && !(cfg_identity = mm_asprintf("text=%s;mmproj=%s", a, b)))
            rc = mm_err_set(e, MM_ENOMEM, "out of memory");
    }
    *out = rc ? NULL : cfg_identity;
    pthread_mutex_unlock(&mu);
    return rc;
}

mm_code model_cache_get(const model_set **out, mm_err *e) {
    const char *id;
    mm_code rc = model_cache_identity(&id, e);
    if (rc) return rc;
    pthread_mutex_lock(&mu);
    if (!loaded && !load_failed) {
        rc = mm_model_open(cfg_model, &set.model, &load_err);
        if (!rc) rc = mm_tokenizer_open(mm_model_gguf(set.model), &set.tok, &load_err);
        if (!rc && cfg_mmproj) rc = mm_mmproj_open(cfg_mmproj, &set.proj, &load_err);
        if (rc) {
            unload_locked();
            load_failed = 1;
        } else {
            loaded = 1;
            set.identity = cfg_identity;
            set.threads = cfg_threads;
            set.parallel = cfg_parallel;
        }
    }
    if (load_failed) rc = mm_err_set(e, load_err.code, "%s", load_err.msg);
    *out = loaded ? &set : NULL;
    pthread_mutex_unlock(&mu);
    return rc;
}

void model_cache_free(void) {
    pthread_mutex_lock(&mu);
    unload_locked();
    free(cfg_model);
    free(cfg_mmproj);
    free(cfg_identity);
    cfg_model = cfg_mmproj = cfg_identity = NULL;
    pthread_mutex_unlock(&mu);
}
