/*
 * decoders/vad.c — energy-based voice-activity segmentation (mm_vad_* of decoders.h), so
 * transcripts get segment timestamps and long silences are never sent to the model.
 *
 * Per 10 ms frame: level = 10·log10(mean x² + 1e-12) dBFS.  Noise floor = the minimum level of
 * the last NF_BLOCKS blocks of NF_BLOCK_S seconds (minimum statistics; seeded with -90 dB so the
 * first seconds rely on the absolute threshold).  A frame is speech when its level is above
 * max(abs_threshold_db, floor + snr_db).  Speech frames open a segment; it closes after
 * min_silence_s without speech (gaps shorter than that are merged), is dropped when shorter than
 * min_speech_s, is split at max_segment_s, and gets pad_s added on both ends (clamped to the
 * audio, overlapping neighbours merged).  State is O(1) plus the segment list.
 */
#include "decoders.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NF_BLOCKS 10
#define NF_BLOCK_S 0.5
#define NF_SEED_DB (-90.0)

struct mm_vad {
    mm_vad_opts o;
    int flen;                 /* samples per frame (rate / 100) */
    double acc;               /* Σx² of the partial frame */
    int acc_n;                /* samples in the partial frame */
    uint64_t frame;           /* frames completed */
    double blk_min[NF_BLOCKS];/* per-block minimum level (ring) */
    int blk_frames, blk_i;    /* frames in the current block, its ring slot */
    int frames_per_blk;
    int open;                 /* a segment is open */
    int cont;                 /* the open segment continues a split one (no leading pad) */
    uint64_t seg_start, last_speech; /* frames; last_speech = one past the last speech frame */
    uint64_t min_speech, min_silence, max_seg; /* in frames */
    int finished;
    mm_segment *segs;
    size_t n, cap;
};

static mm_vad_opts vad_opts_resolve(const mm_vad_opts *in) {
    mm_vad_opts o = in ? *in : (mm_vad_opts){0};
    if (o.sample_rate <= 0) o.sample_rate = MM_AUDIO_RATE;
    if (o.abs_threshold_db == 0) o.abs_threshold_db = -45;
    if (!(o.snr_db > 0)) o.snr_db = 12;
    if (!(o.min_speech_s > 0)) o.min_speech_s = 0.15;
    if (!(o.min_silence_s > 0)) o.min_silence_s = 0.5;
    if (o.pad_s == 0) o.pad_s = 0.2;
    if (!(o.pad_s > 0)) o.pad_s = 0; /* negative: no padding */
    if (!(o.max_segment_s > 0)) o.max_segment_s = 30;
    return o;
}

mm_code mm_vad_create(const mm_vad_opts *opts, mm_vad **out, mm_err *e) {
    *out = NULL;
    mm_vad *v = calloc(1, sizeof *v);
    if (!v) return mm_err_set(e, MM_ENOMEM, "vad: out of memory");
    v->o = vad_opts_resolve(opts);
    v->flen = v->o.sample_rate / 100 > 0 ? v->o.sample_rate / 100 : 1;
    v->frames_per_blk = (int)(NF_BLOCK_S * 100);
    for (int i = 0; i < NF_BLOCKS; i++) v->blk_min[i] = NF_SEED_DB;
    v->blk_min[0] = INFINITY;
    v->min_speech = (uint64_t)ceil(v->o.min_speech_s * 100);
    v->min_silence = (uint64_t)ceil(v->o.min_silence_s * 100);
    v->max_seg = (uint64_t)ceil(v->o.max_segment_s * 100);
    if (v->max_seg < 1) v->max_seg = 1;
    *out = v;
    return MM_OK;
}

void mm_vad_free(mm_vad *v) {
    if (!v) return;
    free(v->segs);
    free(v);
}

static double vad_floor(const mm_vad *v) {
    double m = INFINITY;
    for (int i = 0; i < NF_BLOCKS; i++) m = fmin(m, v->blk_min[i]);
    return m;
}

/* Tracks the noise floor with this frame's level. */
static void floor_update(mm_vad *v, double db) {
    v->blk_min[v->blk_i] = fmin(v->blk_min[v->blk_i], db);
    if (++v->blk_frames == v->frames_per_blk) {
        v->blk_frames = 0;
        v->blk_i = (v->blk_i + 1) % NF_BLOCKS;
        v->blk_min[v->blk_i] = INFINITY;
    }
}

/* Appends [s, e) seconds, merging with the previous segment when they touch. */
static mm_code seg_push(mm_vad *v, double s, double en, int merge, mm_err *e) {
    if (merge && v->n && s <= v->segs[v->n - 1].end_s) {
        if (en > v->segs[v->n - 1].end_s) v->segs[v->n - 1].end_s = en;
        return MM_OK;
    }
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 16;
        mm_segment *ns = realloc(v->segs, nc * sizeof *ns);
        if (!ns) return mm_err_set(e, MM_ENOMEM, "vad: out of memory");
        v->segs = ns;
        v->cap = nc;
    }
    v->segs[v->n++] = (mm_segment){s, en};
    return MM_OK;
}

/* Closes the open segment at frame `end` (exclusive); split: the next one continues it. */
static mm_code seg_close(mm_vad *v, uint64_t end, int split, mm_err *e) {
    v->open = 0;
    if (end - v->seg_start < v->min_speech && !v->cont && !split) return MM_OK;
    const double fs = 0.01, total = (double)v->frame * fs;
    double s = (double)v->seg_start * fs, en = (double)end * fs;
    if (!v->cont) s = fmax(0.0, s - v->o.pad_s);
    if (!split) en = fmin(total + v->o.pad_s, en + v->o.pad_s); /* clamped at finish */
    return seg_push(v, s, en, !v->cont, e);
}

/* One frame's speech decision into the segment state machine. */
static mm_code frame_decide(mm_vad *v, int speech, mm_err *e) {
    const uint64_t t = v->frame;
    mm_code rc = MM_OK;
    if (speech) {
        if (!v->open) {
            v->open = 1;
            v->cont = 0;
            v->seg_start = t;
        }
        v->last_speech = t + 1;
    } else if (v->open && t + 1 - v->last_speech >= v->min_silence) {
        rc = seg_close(v, v->last_speech, 0, e);
    }
    if (!rc && v->open && t + 1 - v->seg_start >= v->max_seg) { /* split long speech */
        rc = seg_close(v, t + 1, 1, e);
        v->open = 1;
        v->cont = 1;
        v->seg_start = t + 1;
        v->last_speech = t + 1;
    }
    return rc;
}

static mm_code frame_done(mm_vad *v, mm_err *e) {
    const double db = 10.0 * log10(v->acc / v->acc_n + 1e-12);
    const double thr = fmax(v->o.abs_threshold_db, vad_floor(v) + v->o.snr_db);
    floor_update(v, db);
    mm_code rc = frame_decide(v, db > thr, e);
    v->frame++;
    v->acc = 0;
    v->acc_n = 0;
    return rc;
}

mm_code mm_vad_feed(mm_vad *v, const float *pcm, size_t n, mm_err *e) {
    if (v->finished) return mm_err_set(e, MM_ESTATE, "vad: fed after finish");
    for (size_t i = 0; i < n; i++) {
        v->acc += (double)pcm[i] * pcm[i];
        if (++v->acc_n == v->flen) {
            mm_code rc = frame_done(v, e);
            if (rc) return rc;
        }
    }
    return MM_OK;
}

mm_code mm_vad_finish(mm_vad *v, mm_err *e) {
    if (v->finished) return MM_OK;
    mm_code rc = v->acc_n ? frame_done(v, e) : MM_OK;
    if (!rc && v->open) rc = seg_close(v, v->last_speech > v->seg_start ? v->last_speech : v->frame, 0, e);
    v->finished = 1;
    const double total = (double)v->frame * 0.01;
    /* drop a trailing empty continuation and clamp to the audio */
    while (v->n && v->segs[v->n - 1].end_s <= v->segs[v->n - 1].start_s) v->n--;
    for (size_t i = 0; i < v->n; i++)
        if (v->segs[i].end_s > total) v->segs[i].end_s = total;
    return rc;
}

const mm_segment *mm_vad_segments(const mm_vad *v, size_t *n) {
    *n = v->n;
    return v->segs;
}

mm_code mm_audio_segments(const char *path, const mm_audio_opts *aopts, const mm_vad_opts *vopts,
                          mm_segment **segs, size_t *n, double *duration_s, mm_err *e) {
    *segs = NULL;
    *n = 0;
    mm_audio *a;
    mm_vad *v;
    mm_code rc = mm_audio_open(path, aopts, &a, e);
    if (rc) return rc;
    mm_vad_opts vo = vopts ? *vopts : (mm_vad_opts){0};
    vo.sample_rate = mm_audio_get_info(a)->out_rate;
    if ((rc = mm_vad_create(&vo, &v, e))) {
        mm_audio_close(a);
        return rc;
    }
    float buf[4096];
    size_t got;
    while (!(rc = mm_audio_read(a, buf, 4096, &got, e)) && got)
        if ((rc = mm_vad_feed(v, buf, got, e))) break;
    if (!rc) rc = mm_vad_finish(v, e);
    if (!rc && duration_s) *duration_s = (double)mm_audio_get_info(a)->samples_read / vo.sample_rate;
    if (!rc && v->n) {
        *segs = malloc(v->n * sizeof **segs);
        if (!*segs) rc = mm_err_set(e, MM_ENOMEM, "%s: out of memory", path);
        else {
            memcpy(*segs, v->segs, v->n * sizeof **segs);
            *n = v->n;
        }
    }
    mm_vad_free(v);
    mm_audio_close(a);
    return rc;
}
