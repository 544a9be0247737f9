/*
 * jobs/retrieval.c — the retrieval store behind `mmpipe ingest` and `mmpipe search`:
 * collections of documents, their chunks with source spans, one L2-normalised float32
 * vector per chunk, and the FTS5 index over chunk text (kept in step by the triggers of
 * schema.c).  Every change to a document is one transaction (invariant R1 in jobs.h).
 */
#include "jobs_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A statement the caller finalises; NULL with e set on error. */
static sqlite3_stmt *prep(jobs_db *d, const char *sql, mm_err *e) {
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(d->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        jobs_sqlerr(d, rc, "preparing a retrieval query", e);
        return NULL;
    }
    return s;
}

/* Runs a statement to completion and finalises it. */
static mm_code done(jobs_db *d, sqlite3_stmt *s, const char *what, mm_err *e) {
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return jobs_sqlerr(d, rc, what, e);
    return MM_OK;
}

/* The id of collection name (0 when absent and !create). */
static mm_code collection_id(jobs_db *d, const char *name, const char *model, int dim, int create,
                             int64_t *id, mm_err *e) {
    *id = 0;
    sqlite3_stmt *s = prep(d, "SELECT id FROM collections WHERE name = ?", e);
    if (!s) return e->code;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return jobs_sqlerr(d, rc, "reading collections", e);
    if (*id) {
        if (create && model) { /* the collection remembers the model it was last filled with */
            if (!(s = prep(d, "UPDATE collections SET embed_model = ?, dim = ? WHERE id = ?", e))) return e->code;
            sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
            sqlite3_bind_int(s, 2, dim);
            sqlite3_bind_int64(s, 3, *id);
            return done(d, s, "updating a collection", e);
        }
        return MM_OK;
    }
    if (!create) return MM_OK;
    if (!(s = prep(d, "INSERT INTO collections(name, embed_model, dim, created_at) VALUES (?, ?, ?, ?)", e)))
        return e->code;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    if (model) sqlite3_bind_text(s, 2, model, -1, SQLITE_STATIC);
    if (dim) sqlite3_bind_int(s, 3, dim);
    sqlite3_bind_int64(s, 4, mm_now_ms());
    mm_code c = done(d, s, "creating a collection", e);
    if (c == MM_OK) *id = sqlite3_last_insert_rowid(d->db);
    return c;
}

mm_code jobs_doc_current(jobs_db *d, const char *collection, const char *path, const char *sha256,
                         const char *model, int *current, mm_err *e) {
    *current = 0;
    sqlite3_stmt *s = prep(d, "SELECT 1 FROM documents d JOIN collections c ON c.id = d.collection_id "
                              "WHERE c.name = ? AND d.path = ? AND d.sha256 = ? AND d.embed_model = ?", e);
    if (!s) return e->code;
    sqlite3_bind_text(s, 1, collection, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, path, (int)strlen(path), SQLITE_STATIC);
    sqlite3_bind_text(s, 3, sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, model, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW) *current = 1;
    else if (rc != SQLITE_DONE) return jobs_sqlerr(d, rc, "reading documents", e);
    return MM_OK;
}

/* Deletes the document row; its chunks, vectors and FTS rows go with it (cascade + triggers). */
static mm_code delete_doc(jobs_db *d, int64_t cid, const char *path, size_t len, mm_err *e) {
    sqlite3_stmt *s = prep(d, "DELETE FROM documents WHERE collection_id = ? AND path = ?", e);
    if (!s) return e->code;
    sqlite3_bind_int64(s, 1, cid);
    sqlite3_bind_blob(s, 2, path, (int)len, SQLITE_STATIC);
    return done(d, s, "deleting a document", e);
}

mm_code jobs_doc_put(jobs_db *d, const jobs_doc *doc, const jobs_chunk *ch, size_t n, mm_err *e) {
    mm_code c = jobs_begin(d, e);
    if (c) return c;
    int64_t cid, did;
    sqlite3_stmt *s = NULL;
    if ((c = collection_id(d, doc->collection, doc->model, doc->dim, 1, &cid, e))) goto fail;
    /* R1: the old version goes in the same transaction that adds the new one. */
    if ((c = delete_doc(d, cid, doc->path, strlen(doc->path), e))) goto fail;
    if (!(s = prep(d, "INSERT INTO documents(collection_id, path, sha256, size, mtime_ns, media, job_id, "
                      "ingested_at, embed_model) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", e))) { c = e->code; goto fail; }
    sqlite3_bind_int64(s, 1, cid);
    sqlite3_bind_blob(s, 2, doc->path, (int)strlen(doc->path), SQLITE_STATIC);
    sqlite3_bind_text(s, 3, doc->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, (int64_t)doc->size);
    sqlite3_bind_int64(s, 5, doc->mtime_ns);
    sqlite3_bind_text(s, 6, doc->media, -1, SQLITE_STATIC);
    if (doc->job_id > 0) sqlite3_bind_int64(s, 7, doc->job_id);
    sqlite3_bind_int64(s, 8, mm_now_ms());
    sqlite3_bind_text(s, 9, doc->model, -1, SQLITE_STATIC);
    if ((c = done(d, s, "adding a document", e))) goto fail;
    did = sqlite3_last_insert_rowid(d->db);
    sqlite3_stmt *ins = prep(d, "INSERT INTO chunks(document_id, seq, text, heading, page, byte_start, byte_end, "
                                "n_tokens, start_ms, end_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", e);
    sqlite3_stmt *vec = ins ? prep(d, "INSERT INTO vectors(chunk_id, model, dim, vec) VALUES (?, ?, ?, ?)", e) : NULL;
    if (!vec) {
        sqlite3_finalize(ins);
        c = e->code;
        goto fail;
    }
    for (size_t i = 0; i < n && c == MM_OK; i++) {
        sqlite3_reset(ins);
        sqlite3_clear_bindings(ins);
        sqlite3_bind_int64(ins, 1, did);
        sqlite3_bind_int64(ins, 2, (int64_t)i);
        sqlite3_bind_text(ins, 3, ch[i].text, -1, SQLITE_STATIC);
        if (ch[i].heading && *ch[i].heading) sqlite3_bind_text(ins, 4, ch[i].heading, -1, SQLITE_STATIC);
        if (ch[i].page > 0) sqlite3_bind_int(ins, 5, ch[i].page);
        if (ch[i].byte_start >= 0) {
            sqlite3_bind_int64(ins, 6, ch[i].byte_start);
            sqlite3_bind_int64(ins, 7, ch[i].byte_end);
        }
        sqlite3_bind_int(ins, 8, ch[i].n_tokens);
        if (ch[i].has_time) {
            sqlite3_bind_int64(ins, 9, ch[i].start_ms);
            sqlite3_bind_int64(ins, 10, ch[i].end_ms);
        }
        int rc = sqlite3_step(ins);
        if (rc != SQLITE_DONE) {
            c = jobs_sqlerr(d, rc, "adding a chunk", e);
            break;
        }
        sqlite3_reset(vec);
        sqlite3_bind_int64(vec, 1, sqlite3_last_insert_rowid(d->db));
        sqlite3_bind_text(vec, 2, doc->model, -1, SQLITE_STATIC);
        sqlite3_bind_int(vec, 3, doc->dim);
        sqlite3_bind_blob(vec, 4, ch[i].vec, doc->dim * (int)sizeof(float), SQLITE_STATIC);
        if ((rc = sqlite3_step(vec)) != SQLITE_DONE) c = jobs_sqlerr(d, rc, "adding a vector", e);
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(vec);
    if (c) goto fail;
    return jobs_commit(d, e);
fail:
    jobs_rollback(d);
    mm_err_prefix(e, "%s", doc->path);
    return c;
}

mm_code jobs_doc_of_job(jobs_db *d, const char *collection, const char *path, int64_t job_id, int *current,
                        mm_err *e) {
    *current = 0;
    sqlite3_stmt *s = prep(d, "SELECT 1 FROM documents d JOIN collections c ON c.id = d.collection_id "
                              "WHERE c.name = ? AND d.path = ? AND d.job_id = ?", e);
    if (!s) return e->code;
    sqlite3_bind_text(s, 1, collection, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, path, (int)strlen(path), SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, job_id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW) *current = 1;
    else if (rc != SQLITE_DONE) return jobs_sqlerr(d, rc, "reading documents", e);
    return MM_OK;
}

mm_code jobs_doc_delete(jobs_db *d, const char *collection, const char *path, mm_err *e) {
    mm_code c = jobs_begin(d, e);
    if (c) return c;
    int64_t cid;
    if ((c = collection_id(d, collection, NULL, 0, 0, &cid, e)) == MM_OK && cid)
        c = delete_doc(d, cid, path, strlen(path), e);
    if (c) {
        jobs_rollback(d);
        return c;
    }
    return jobs_commit(d, e);
}

/* ---- sync with a scan ---- */

typedef struct docrow { int64_t id; char *path; size_t len; char sha[65]; int gone; } docrow;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int under_root(const char *p, size_t len, char **roots, int nroots) {
    for (int i = 0; i < nroots; i++) {
        size_t r = strlen(roots[i]);
        while (r > 1 && roots[i][r - 1] == '/') r--;
        if (len == r && !memcmp(p, roots[i], r)) return 1;
        if (len > r && !memcmp(p, roots[i], r) && (p[r] == '/' || roots[i][r - 1] == '/')) return 1;
    }
    return 0;
}

static mm_code copy_doc(jobs_db *d, int64_t src, const char *path, mm_err *e) {
    sqlite3_stmt *s = prep(d, "INSERT INTO documents(collection_id, path, sha256, size, mtime_ns, media, job_id, "
                              "ingested_at, embed_model) SELECT collection_id, ?, sha256, size, mtime_ns, media, "
                              "job_id, ?, embed_model FROM documents WHERE id = ?", e);
    if (!s) return e->code;
    sqlite3_bind_blob(s, 1, path, (int)strlen(path), SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, mm_now_ms());
    sqlite3_bind_int64(s, 3, src);
    mm_code c = done(d, s, "copying a document", e);
    if (c) return c;
    int64_t dst = sqlite3_last_insert_rowid(d->db);
    if (!(s = prep(d, "INSERT INTO chunks(document_id, seq, text, heading, page, start_ms, end_ms, byte_start, "
                      "byte_end, n_tokens) SELECT ?, seq, text, heading, page, start_ms, end_ms, byte_start, "
                      "byte_end, n_tokens FROM chunks WHERE document_id = ? ORDER BY seq", e)))
        return e->code;
    sqlite3_bind_int64(s, 1, dst);
    sqlite3_bind_int64(s, 2, src);
    if ((c = done(d, s, "copying chunks", e))) return c;
    if (!(s = prep(d, "INSERT INTO vectors(chunk_id, model, dim, vec) SELECT n.id, v.model, v.dim, v.vec "
                      "FROM chunks o JOIN vectors v ON v.chunk_id = o.id "
                      "JOIN chunks n ON n.document_id = ? AND n.seq = o.seq WHERE o.document_id = ?", e)))
        return e->code;
    sqlite3_bind_int64(s, 1, dst);
    sqlite3_bind_int64(s, 2, src);
    return done(d, s, "copying vectors", e);
}

mm_code jobs_docs_sync(jobs_db *d, const char *collection, char **roots, int nroots,
                       const jobs_input *in, size_t n, jobs_sync_stats *st, mm_err *e) {
    memset(st, 0, sizeof *st);
    const char **scanned = calloc(n + 1, sizeof *scanned);
    if (!scanned) return mm_err_set(e, MM_ENOMEM, "out of memory");
    size_t ns = 0;
    for (size_t i = 0; i < n; i++)
        if (!in[i].clear_only && in[i].sha256) scanned[ns++] = in[i].path;
    qsort(scanned, ns, sizeof *scanned, cmp_str);

    docrow *docs = NULL;
    size_t nd = 0, capd = 0;
    int64_t cid = 0;
    sqlite3_stmt *s = NULL;
    mm_code c = jobs_begin(d, e);
    if (c) {
        free(scanned);
        return c;
    }
    if ((c = collection_id(d, collection, NULL, 0, 0, &cid, e)) || !cid) goto out;
    if (!(s = prep(d, "SELECT id, path, sha256 FROM documents WHERE collection_id = ?", e))) { c = e->code; goto out; }
    sqlite3_bind_int64(s, 1, cid);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (nd == capd) {
            docrow *nv = realloc(docs, (capd = capd ? capd * 2 : 64) * sizeof *nv);
            if (!nv) { c = mm_err_set(e, MM_ENOMEM, "out of memory"); break; }
            docs = nv;
        }
        docrow *r = &docs[nd];
        r->id = sqlite3_column_int64(s, 0);
        r->len = (size_t)sqlite3_column_bytes(s, 1);
        if (!(r->path = malloc(r->len + 1))) { c = mm_err_set(e, MM_ENOMEM, "out of memory"); break; }
        memcpy(r->path, sqlite3_column_blob(s, 1), r->len);
        r->path[r->len] = 0;
        snprintf(r->sha, sizeof r->sha, "%s", (const char *)sqlite3_column_text(s, 2));
        const char *k = r->path;
        r->gone = strlen(r->path) == r->len && under_root(r->path, r->len, roots, nroots) &&
                  !bsearch(&k, scanned, ns, sizeof *scanned, cmp_str);
        nd++;
    }
    sqlite3_finalize(s);
    if (c) goto out;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) { c = jobs_sqlerr(d, rc, "reading documents", e); goto out; }

    /* New paths: take a gone document with the same content (rename), else copy a present one. */
    for (size_t i = 0; i < n && c == MM_OK; i++) {
        if (in[i].clear_only || !in[i].sha256) continue;
        size_t len = strlen(in[i].path);
        int have = 0;
        for (size_t j = 0; j < nd && !have; j++)
            have = docs[j].len == len && !memcmp(docs[j].path, in[i].path, len);
        if (have) continue;
        docrow *from = NULL, *copy = NULL;
        for (size_t j = 0; j < nd; j++) {
            if (strcmp(docs[j].sha, in[i].sha256)) continue;
            if (docs[j].gone && !from) from = &docs[j];
            if (!docs[j].gone && docs[j].id > 0 && !copy) copy = &docs[j];
        }
        if (from) {
            if (!(s = prep(d, "UPDATE documents SET path = ? WHERE id = ?", e))) { c = e->code; break; }
            sqlite3_bind_blob(s, 1, in[i].path, (int)len, SQLITE_STATIC);
            sqlite3_bind_int64(s, 2, from->id);
            if ((c = done(d, s, "renaming a document", e))) break;
            from->gone = 0;
            free(from->path);
            from->path = mm_strdup(in[i].path);
            from->len = from->path ? len : 0;
            st->renamed++;
        } else if (copy) {
            if ((c = copy_doc(d, copy->id, in[i].path, e))) break;
            st->copied++;
        }
    }
    for (size_t j = 0; j < nd && c == MM_OK; j++)
        if (docs[j].gone) {
            if ((c = delete_doc(d, cid, docs[j].path, docs[j].len, e)) == MM_OK) st->deleted++;
        }
out:
    for (size_t j = 0; j < nd; j++) free(docs[j].path);
    free(docs);
    free(scanned);
    if (c) {
        jobs_rollback(d);
        return c;
    }
    return jobs_commit(d, e);
}

/* ---- search ---- */

typedef struct cand { int64_t id; double score; int vr, fr; } cand;

/* Dot product of two float32 vectors (both L2-normalised: the cosine).  Eight independent
 * sums so the compiler can keep them in one SIMD register without reassociating. */
static float dot(const float *a, const float *b, int n) {
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) s[l] += a[i + l] * b[i + l];
    float t = 0;
    for (; i < n; i++) t += a[i] * b[i];
    return t + ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* FTS5 query text from free text: every word quoted (no operators), joined by OR. */
static char *fts_query(const char *q) {
    size_t n = strlen(q);
    char *out = malloc(n * 6 + 8), *o = out;
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)q;
    while (*p) {
        while (*p && !(*p >= 0x80 || (*p >= '0' && *p <= '9') || ((*p | 32) >= 'a' && (*p | 32) <= 'z'))) p++;
        if (!*p) break;
        if (o != out) o += sprintf(o, " OR ");
        *o++ = '"';
        while (*p >= 0x80 || (*p >= '0' && *p <= '9') || ((*p | 32) >= 'a' && (*p | 32) <= 'z')) *o++ = (char)*p++;
        *o++ = '"';
    }
    *o = 0;
    return out;
}

static int cmp_cand(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

mm_code jobs_search(jobs_db *d, const char *collection, const char *model, const float *qvec, int dim,
                    const char *query, int k, int (*fn)(void *, const jobs_hit *), void *ctx, mm_err *e) {
    enum { RRF_K = 60 };
    int ncand = k * 5 > 100 ? k * 5 : 100; /* candidates taken from each list */
    cand *vc = calloc((size_t)ncand, sizeof *vc), *all = calloc((size_t)ncand * 2, sizeof *all);
    char *fq = fts_query(query);
    int nv = 0, na = 0;
    mm_code c = MM_OK;
    sqlite3_stmt *s = NULL;
    if (!vc || !all || !fq) { c = mm_err_set(e, MM_ENOMEM, "out of memory"); goto out; }
    int64_t cid;
    if ((c = collection_id(d, collection, NULL, 0, 0, &cid, e))) goto out;
    if (!cid) { c = mm_err_set(e, MM_ENOTFOUND, "%s: no collection '%s' (nothing ingested into it)", d->path, collection); goto out; }

    /* Vector list: the ncand best cosines, kept sorted (insertion; ncand is small). */
    if (qvec) {
        if (!(s = prep(d, "SELECT v.chunk_id, v.vec FROM vectors v JOIN chunks c ON c.id = v.chunk_id "
                          "JOIN documents d ON d.id = c.document_id WHERE d.collection_id = ? AND v.model = ? "
                          "AND v.dim = ?", e))) { c = e->code; goto out; }
        sqlite3_bind_int64(s, 1, cid);
        sqlite3_bind_text(s, 2, model, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 3, dim);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            if (sqlite3_column_bytes(s, 1) != dim * (int)sizeof(float)) continue;
            const float *v = sqlite3_column_blob(s, 1);
            double sc = dot(qvec, v, dim);
            if (nv == ncand && sc <= vc[nv - 1].score) continue;
            int at = nv < ncand ? nv++ : nv - 1;
            while (at > 0 && vc[at - 1].score < sc) { vc[at] = vc[at - 1]; at--; }
            vc[at].id = sqlite3_column_int64(s, 0);
            vc[at].score = sc;
        }
        sqlite3_finalize(s);
        s = NULL;
        if (rc != SQLITE_DONE) { c = jobs_sqlerr(d, rc, "reading vectors", e); goto out; }
    }
    for (int i = 0; i < nv; i++) all[na++] = (cand){vc[i].id, 1.0 / (RRF_K + i + 1), i + 1, 0};

    /* BM25 list (FTS5's bm25() is lower-is-better). */
    if (*fq) {
        if (!(s = prep(d, "SELECT f.rowid FROM chunks_fts f JOIN chunks c ON c.id = f.rowid "
                          "JOIN documents d ON d.id = c.document_id WHERE chunks_fts MATCH ? "
                          "AND d.collection_id = ? ORDER BY bm25(chunks_fts), f.rowid LIMIT ?", e))) { c = e->code; goto out; }
        sqlite3_bind_text(s, 1, fq, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, cid);
        sqlite3_bind_int(s, 3, ncand);
        int rc, r = 0;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(s, 0);
            r++;
            int j = 0;
            while (j < na && all[j].id != id) j++;
            if (j == na) all[na++] = (cand){id, 0, 0, 0};
            all[j].score += 1.0 / (RRF_K + r);
            all[j].fr = r;
        }
        sqlite3_finalize(s);
        s = NULL;
        if (rc != SQLITE_DONE) { c = jobs_sqlerr(d, rc, "full-text search", e); goto out; }
    }
    qsort(all, (size_t)na, sizeof *all, cmp_cand);

    if (!(s = prep(d, "SELECT d.path, c.text, c.heading, c.page, c.byte_start, c.byte_end, c.start_ms, c.end_ms "
                      "FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ?", e))) { c = e->code; goto out; }
    for (int i = 0; i < na && i < k; i++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, all[i].id);
        int rc = sqlite3_step(s);
        if (rc != SQLITE_ROW) { c = jobs_sqlerr(d, rc, "reading a chunk", e); break; }
        jobs_hit h = {all[i].id, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0),
                      (const char *)sqlite3_column_text(s, 1), (const char *)sqlite3_column_text(s, 2),
                      sqlite3_column_int(s, 3),
                      sqlite3_column_type(s, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 4),
                      sqlite3_column_type(s, 5) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 5),
                      all[i].score, all[i].vr, all[i].fr,
                      sqlite3_column_type(s, 6) != SQLITE_NULL,
                      sqlite3_column_int64(s, 6), sqlite3_column_int64(s, 7)};
        if (!h.path) h.path = "";
        if (fn(ctx, &h)) break;
    }
out:
    sqlite3_finalize(s);
    free(vc);
    free(all);
    free(fq);
    return c;
}
