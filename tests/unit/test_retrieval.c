/*
 * tests/unit/test_retrieval.c — the retrieval store of jobs/ (retrieval.c) through its API:
 * jobs_doc_put replaces a document's chunks, vectors and FTS rows in one go; jobs_docs_sync
 * renames, copies and deletes; jobs_search's vector side on its own (a query vector equal to
 * one chunk's vector, cosine 1, and words that match nothing: that chunk comes first with
 * score 1/61) and its BM25 side on its own (no query vector), and their fusion.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs.h"
#include "test.h"

enum { DIM = 16 };
static char path[96];

static long long sql_int(const char *sql) {
    sqlite3 *h;
    long long v = -1;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
    return v;
}

/* A unit vector from a seed (deterministic). */
static void vec(float *v, unsigned seed) {
    double n = 0;
    for (int i = 0; i < DIM; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 8) % 2001) / 1000.f - 1.f;
        n += (double)v[i] * v[i];
    }
    for (int i = 0; i < DIM; i++) v[i] /= (float)__builtin_sqrt(n);
}

static mm_code put(jobs_db *db, const char *p, const char *sha, const char *const *texts, int n, unsigned seed) {
    float v[8][DIM];
    jobs_chunk ch[8];
    for (int i = 0; i < n; i++) {
        vec(v[i], seed + (unsigned)i);
        ch[i] = (jobs_chunk){texts[i], "Head", 0, i * 10, i * 10 + 9, 5, v[i], 0, 0, 0};
    }
    jobs_doc d = {"c", p, sha, "text", "model-1", 100, 0, 0, DIM};
    mm_err e;
    mm_code c = jobs_doc_put(db, &d, ch, (size_t)n, &e);
    CHECK(c == MM_OK, "put %s: %s", p, e.msg);
    return c;
}

typedef struct got { int n; char path[8][32]; double score[8]; int vr[8], fr[8]; } got;

static int collect(void *arg, const jobs_hit *h) {
    got *g = arg;
    if (g->n < 8) {
        snprintf(g->path[g->n], sizeof g->path[0], "%.*s", (int)h->path_len, h->path);
        g->score[g->n] = h->score;
        g->vr[g->n] = h->vec_rank;
        g->fr[g->n] = h->fts_rank;
        g->n++;
    }
    return 0;
}

int main(void) {
    snprintf(path, sizeof path, "/tmp/mmpipe-test-retrieval-%d.db", (int)getpid());
    jobs_db *db = NULL;
    mm_err e;
    CHECK(jobs_open(path, NULL, &db, &e) == MM_OK, "open: %s", e.msg);
    if (!db) return test_done("test_retrieval");

    const char *a[] = {"alpha apples in the orchard", "beta bananas on the boat", "gamma grapes"};
    const char *b[] = {"delta dates", "epsilon elderberries"};
    const char *c2[] = {"zeta zucchini"};
    put(db, "a.txt", "sha-a", a, 3, 100);
    put(db, "b.txt", "sha-b", b, 2, 200);
    put(db, "c.txt", "sha-c", c2, 1, 300);
    CHECK(sql_int("SELECT count(*) FROM chunks") == 6, "chunks");
    CHECK(sql_int("SELECT count(*) FROM vectors") == 6, "vectors");
    CHECK(sql_int("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'bananas'") == 1, "fts row");

    /* replace a.txt by one chunk: old chunks, vectors and FTS rows gone */
    const char *a2[] = {"omega oranges"};
    put(db, "a.txt", "sha-a2", a2, 1, 400);
    CHECK(sql_int("SELECT count(*) FROM chunks") == 4, "chunks after replace");
    CHECK(sql_int("SELECT count(*) FROM vectors") == 4, "vectors after replace");
    CHECK(sql_int("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'bananas'") == 0, "old FTS row gone");
    CHECK(sql_int("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'oranges'") == 1, "new FTS row");
    int cur = 0;
    CHECK(jobs_doc_current(db, "c", "a.txt", "sha-a2", "model-1", &cur, &e) == MM_OK && cur == 1, "current");
    CHECK(jobs_doc_current(db, "c", "a.txt", "sha-a", "model-1", &cur, &e) == MM_OK && cur == 0, "old content not current");
    CHECK(jobs_doc_current(db, "c", "a.txt", "sha-a2", "model-2", &cur, &e) == MM_OK && cur == 0, "other model not current");

    /* vector side alone: the query vector is b.txt's second chunk; the words match nothing */
    float q[DIM];
    vec(q, 201);
    got g = {0};
    CHECK(jobs_search(db, "c", "model-1", q, DIM, "nomatchword", 3, collect, &g, &e) == MM_OK, "search: %s", e.msg);
    CHECK(g.n == 3 && !strcmp(g.path[0], "b.txt") && g.vr[0] == 1 && g.fr[0] == 0, "vector hit first (%s)", g.path[0]);
    CHECK(g.n == 3 && g.score[0] == 1.0 / 61 && g.score[1] == 1.0 / 62, "RRF scores %g %g", g.score[0], g.score[1]);
    /* another model's vectors are not compared */
    memset(&g, 0, sizeof g);
    CHECK(jobs_search(db, "c", "model-2", q, DIM, "nomatchword", 3, collect, &g, &e) == MM_OK && g.n == 0, "other model");
    /* BM25 side alone */
    memset(&g, 0, sizeof g);
    CHECK(jobs_search(db, "c", "model-1", NULL, DIM, "zucchini", 3, collect, &g, &e) == MM_OK, "fts search");
    CHECK(g.n == 1 && !strcmp(g.path[0], "c.txt") && g.fr[0] == 1, "fts hit (%d)", g.n);
    /* fusion: a chunk in both lists beats the vector-only best */
    memset(&g, 0, sizeof g);
    CHECK(jobs_search(db, "c", "model-1", q, DIM, "\"zucchini\" OR", 4, collect, &g, &e) == MM_OK, "fused");
    CHECK(g.n == 4 && !strcmp(g.path[0], "c.txt") && g.vr[0] > 0 && g.fr[0] == 1, "fused first: %s", g.path[0]);
    CHECK(jobs_search(db, "nosuch", "model-1", q, DIM, "x", 3, collect, &g, &e) == MM_ENOTFOUND, "missing collection");

    /* sync: b.txt renamed to b2.txt, c.txt copied to c-copy.txt, a.txt deleted */
    jobs_input in[] = {{"b2.txt", "sha-b", 1, NULL, 0}, {"c.txt", "sha-c", 1, NULL, 0}, {"c-copy.txt", "sha-c", 1, NULL, 0}};
    char *r1[] = {"a.txt", "b.txt", "c.txt", "b2.txt", "c-copy.txt"};
    long long bid = sql_int("SELECT min(c.id) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE CAST(d.path AS TEXT) = 'b.txt'");
    jobs_sync_stats st;
    CHECK(jobs_docs_sync(db, "c", r1, 5, in, 3, &st, &e) == MM_OK, "sync: %s", e.msg);
    CHECK(st.renamed == 1 && st.copied == 1 && st.deleted == 1, "sync stats %lld %lld %lld", (long long)st.renamed,
          (long long)st.copied, (long long)st.deleted);
    CHECK(sql_int("SELECT min(c.id) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE CAST(d.path AS TEXT) = 'b2.txt'") == bid,
          "rename keeps chunk ids");
    CHECK(sql_int("SELECT count(*) FROM documents") == 3, "documents after sync");
    CHECK(sql_int("SELECT count(*) FROM chunks") == 4, "chunks after sync (b: 2, c: 1, copy: 1)");
    CHECK(sql_int("SELECT count(*) FROM vectors") == 4, "vectors after sync");
    CHECK(sql_int("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'zucchini'") == 2, "copy indexed");
    CHECK(sql_int("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'oranges'") == 0, "deleted doc unindexed");
    CHECK(sql_int("SELECT count(*) FROM vectors v JOIN chunks c ON c.id = v.chunk_id JOIN documents d ON d.id = c.document_id "
                  "WHERE CAST(d.path AS TEXT) = 'c-copy.txt' AND v.vec = (SELECT v2.vec FROM vectors v2 JOIN chunks c2 ON "
                  "c2.id = v2.chunk_id JOIN documents d2 ON d2.id = c2.document_id WHERE CAST(d2.path AS TEXT) = 'c.txt')") == 1,
          "copy has the same vector");
    /* a document outside the scanned roots is left alone */
    jobs_input none[] = {{"x", NULL, 0, NULL, 1}};
    char *other[] = {"elsewhere"};
    CHECK(jobs_docs_sync(db, "c", other, 1, none, 1, &st, &e) == MM_OK && st.deleted == 0, "other roots untouched");
    CHECK(jobs_doc_delete(db, "c", "c-copy.txt", &e) == MM_OK && sql_int("SELECT count(*) FROM chunks") == 3, "delete");
    jobs_close(db);
    unlink(path);
    char side[128];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-lock", path);
    unlink(side);
    return test_done("test_retrieval");
}
