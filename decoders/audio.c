/*
 * decoders/audio.c — the streaming audio decoder of decoders.h (mm_audio_*): FFmpeg's
 * libavformat demuxes, libavcodec decodes the best audio stream, libswresample converts to mono
 * float at the output rate with a custom mean-of-channels matrix (as llama.cpp's miniaudio
 * downmixes; swresample's own float default would be 0.707·(L+R)).
 *
 * Data flow (one handle, single-threaded):
 *   file/buffer --custom AVIOContext--> demuxer --packets--> decoder --AVFrame--> swresample
 *   --> staging buffer (STAGE floats) --> caller's buffer (mm_audio_read)
 * A decoded frame is converted in slices small enough that their output fits the staging
 * buffer, so memory is one frame plus STAGE floats whatever the rates are.  Only our own
 * AVIOContext reads the input (FFmpeg never opens a path or URL: protocol whitelist "none"), so
 * playlists (HLS, concat) cannot make it read other files.
 *
 * Limits: the interrupt callback, the byte source and every read check a wall-clock deadline; header duration and
 * decoded length are checked against max_seconds; STALL_PACKETS packets in a row without output
 * is "no progress"; data that ends well before a stored (non-estimated) header duration is
 * "truncated".  The first error is sticky: later reads return it again.
 */
#include "decoders.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#define STAGE 8192                /* floats in the staging buffer */
#define AVIO_BUF 65536
#define MAX_CHANNELS 64
#define STALL_PACKETS 4096        /* packets in a row that give no sample: "no progress" */
#define DEF_MAX_SECONDS (12.0 * 3600)
#define DEF_MAX_WALL 1800.0
#define DEF_MAX_FILE (8ull << 30)
#define DEF_PROBE (1 << 20)
#define MIN_RATE 1000             /* input rates outside [MIN_RATE, MAX_RATE] are refused */
#define MAX_RATE 768000

enum { ST_DECODE, ST_FLUSH, ST_DONE };

/* Where the bytes come from: a file descriptor or a caller's buffer. */
typedef struct src {
    int fd;                 /* -1 for memory */
    const uint8_t *mem;
    size_t len, pos;        /* memory: size and position; file: size from fstat */
} src;

struct mm_audio {
    mm_audio_info info;
    mm_audio_opts o;
    char name[300];         /* the path or name, for messages (cut) */
    src in;
    AVFormatContext *fmt;
    AVIOContext *avio;
    AVCodecContext *dec;
    int stream;
    SwrContext *swr;
    int swr_fmt, swr_rate, swr_nch;
    AVPacket *pkt;
    AVFrame *frame;
    int frame_pending, frame_off;   /* input samples of *frame already converted */
    float stage[STAGE];
    size_t stage_len, stage_pos;
    int state;
    int64_t deadline_ns;
    uint64_t max_samples, produced, stall;
    mm_code sticky;
    char sticky_msg[1024];
};

/* ---- options and small helpers ---- */

static mm_audio_opts opts_resolve(const mm_audio_opts *in) {
    mm_audio_opts o = in ? *in : (mm_audio_opts){0};
    if (o.sample_rate <= 0) o.sample_rate = MM_AUDIO_RATE;
    if (!(o.max_seconds > 0)) o.max_seconds = DEF_MAX_SECONDS;
    if (!(o.max_wall_seconds > 0)) o.max_wall_seconds = DEF_MAX_WALL;
    if (!o.max_file_bytes) o.max_file_bytes = DEF_MAX_FILE;
    if (o.probe_bytes <= 0) o.probe_bytes = DEF_PROBE;
    return o;
}

static void quiet_ffmpeg(void) { av_log_set_level(AV_LOG_QUIET); } /* library code never prints */
static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

static const char *averr(int r, char *buf, size_t n) {
    if (av_strerror(r, buf, n) < 0) snprintf(buf, n, "FFmpeg error %d", r);
    return buf;
}

/* Records the first error (sticky) and returns it. */
static mm_code fail(mm_audio *a, mm_err *e, mm_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static mm_code fail(mm_audio *a, mm_err *e, mm_code code, const char *fmt, ...) {
    char why[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    a->sticky = code;
    snprintf(a->sticky_msg, sizeof a->sticky_msg, "%s: %s", a->name, why);
    return mm_err_set(e, code, "%s", a->sticky_msg);
}

static int past_deadline(const mm_audio *a) { return mm_mono_ns() > a->deadline_ns; }

static int interrupt_cb(void *opaque) { return past_deadline(opaque); }

/* ---- AVIOContext over the source ---- */

/* opaque is the handle: a read past the deadline fails, so no demuxer loop outlives it. */
static int src_read(void *opaque, uint8_t *buf, int size) {
    mm_audio *a = opaque;
    src *s = &a->in;
    if (past_deadline(a)) return AVERROR_EXIT;
    if (s->fd < 0) {
        size_t n = s->len - s->pos < (size_t)size ? s->len - s->pos : (size_t)size;
        if (!n) return AVERROR_EOF;
        memcpy(buf, s->mem + s->pos, n);
        s->pos += n;
        return (int)n;
    }
    for (;;) {
        ssize_t n = read(s->fd, buf, (size_t)size);
        if (n > 0) return (int)n;
        if (n == 0) return AVERROR_EOF;
        if (errno != EINTR) return AVERROR(errno);
    }
}

static int64_t src_seek(void *opaque, int64_t off, int whence) {
    src *s = &((mm_audio *)opaque)->in;
    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE) return (int64_t)s->len;
    if (s->fd >= 0) {
        off_t r = lseek(s->fd, (off_t)off, whence);
        return r < 0 ? AVERROR(errno) : (int64_t)r;
    }
    int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (int64_t)s->pos
                 : whence == SEEK_END ? (int64_t)s->len : -1;
    if (base < 0 || off > (int64_t)s->len || base + off < 0 || base + off > (int64_t)s->len)
        return AVERROR(EINVAL);
    s->pos = (size_t)(base + off);
    return (int64_t)s->pos;
}

/* ---- opening ---- */

static mm_code open_demuxer(mm_audio *a, mm_err *e) {
    char eb[256];
    uint8_t *buf = av_malloc(AVIO_BUF);
    a->avio = buf ? avio_alloc_context(buf, AVIO_BUF, 0, a, src_read, NULL, src_seek) : NULL;
    a->fmt = a->avio ? avformat_alloc_context() : NULL;
    if (!a->avio) av_free(buf);
    if (!a->fmt) return fail(a, e, MM_ENOMEM, "out of memory opening the demuxer");
    a->fmt->pb = a->avio;
    a->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    a->fmt->interrupt_callback = (AVIOInterruptCB){interrupt_cb, a};
    a->fmt->probesize = a->o.probe_bytes;
    a->fmt->format_probesize = (int)(a->o.probe_bytes < (1 << 20) ? a->o.probe_bytes : (1 << 20));
    a->fmt->max_analyze_duration = 5 * (int64_t)AV_TIME_BASE;
    AVDictionary *d = NULL;
    av_dict_set(&d, "protocol_whitelist", "none", 0); /* nested opens (playlists) refused */
    int r = avformat_open_input(&a->fmt, a->name, NULL, &d);
    av_dict_free(&d);
    if (r < 0) {
        a->fmt = NULL; /* freed by FFmpeg on failure */
        if (past_deadline(a)) return fail(a, e, MM_ELIMIT, "time limit of %g s reached while probing", a->o.max_wall_seconds);
        return fail(a, e, MM_ECORRUPT, "not an audio or video file FFmpeg can read (%s)", averr(r, eb, sizeof eb));
    }
    if ((r = avformat_find_stream_info(a->fmt, NULL)) < 0) {
        if (past_deadline(a)) return fail(a, e, MM_ELIMIT, "time limit of %g s reached while probing", a->o.max_wall_seconds);
        return fail(a, e, MM_ECORRUPT, "cannot read the stream parameters (%s)", averr(r, eb, sizeof eb));
    }
    return MM_OK;
}

/* Picks the best audio stream, discards the others, notes whether there is real video. */
static mm_code pick_stream(mm_audio *a, const AVCodec **codec, mm_err *e) {
    int r = av_find_best_stream(a->fmt, AVMEDIA_TYPE_AUDIO, -1, -1, codec, 0);
    if (r == AVERROR_DECODER_NOT_FOUND) {
        int i = av_find_best_stream(a->fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
        const char *cn = i >= 0 ? avcodec_get_name(a->fmt->streams[i]->codecpar->codec_id) : "?";
        return fail(a, e, MM_EUNSUPPORTED, "no decoder for its audio codec (%s)", cn);
    }
    for (unsigned i = 0; r < 0 && i < a->fmt->nb_streams; i++) {
        const AVCodecParameters *cp = a->fmt->streams[i]->codecpar;
        if (cp->codec_type == AVMEDIA_TYPE_AUDIO)
            return fail(a, e, MM_ECORRUPT, "its audio stream is unusable (%s, %d channels, %d Hz)",
                        avcodec_get_name(cp->codec_id), cp->ch_layout.nb_channels, cp->sample_rate);
    }
    if (r < 0)
        return fail(a, e, MM_EUNSUPPORTED, "no audio stream (the %s container has %u stream%s, none of them audio)",
                    a->fmt->iformat->name, a->fmt->nb_streams, a->fmt->nb_streams == 1 ? "" : "s");
    a->stream = r;
    for (unsigned i = 0; i < a->fmt->nb_streams; i++) {
        AVStream *st = a->fmt->streams[i];
        if ((int)i != r) st->discard = AVDISCARD_ALL;
        if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(st->disposition & AV_DISPOSITION_ATTACHED_PIC))
            a->info.flags |= MM_AUDIO_HAS_VIDEO;
    }
    return MM_OK;
}

static mm_code open_decoder(mm_audio *a, const AVCodec *codec, mm_err *e) {
    char eb[256];
    AVStream *st = a->fmt->streams[a->stream];
    a->dec = avcodec_alloc_context3(codec);
    if (!a->dec) return fail(a, e, MM_ENOMEM, "out of memory for the decoder");
    int r = avcodec_parameters_to_context(a->dec, st->codecpar);
    if (r >= 0) {
        a->dec->thread_count = 1;
        a->dec->pkt_timebase = st->time_base;
        r = avcodec_open2(a->dec, codec, NULL);
    }
    if (r < 0) return fail(a, e, MM_ECORRUPT, "cannot open the %s decoder (%s)", codec->name, averr(r, eb, sizeof eb));
    a->pkt = av_packet_alloc();
    a->frame = av_frame_alloc();
    if (!a->pkt || !a->frame) return fail(a, e, MM_ENOMEM, "out of memory for the decoder");
    return MM_OK;
}

/* info: names, rates, header duration (checked against the limit unless it is a guess). */
static mm_code fill_info(mm_audio *a, mm_err *e) {
    AVStream *st = a->fmt->streams[a->stream];
    mm_audio_info *in = &a->info;
    snprintf(in->container, sizeof in->container, "%s", a->fmt->iformat->name);
    snprintf(in->codec, sizeof in->codec, "%s", a->dec->codec->name);
    in->in_rate = a->dec->sample_rate;
    in->in_channels = a->dec->ch_layout.nb_channels;
    in->out_rate = a->o.sample_rate;
    in->duration_s = -1;
    if (a->fmt->duration != AV_NOPTS_VALUE && a->fmt->duration > 0)
        in->duration_s = (double)a->fmt->duration / AV_TIME_BASE;
    else if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
        in->duration_s = (double)st->duration * av_q2d(st->time_base);
    if (a->fmt->duration_estimation_method == AVFMT_DURATION_FROM_BITRATE)
        in->flags |= MM_AUDIO_DURATION_ESTIMATED;
    if (in->duration_s > a->o.max_seconds && !(in->flags & MM_AUDIO_DURATION_ESTIMATED))
        return fail(a, e, MM_ELIMIT, "the header says %g s of audio, over the limit of %g s",
                    in->duration_s, a->o.max_seconds);
    return MM_OK;
}

static mm_code open_common(mm_audio *a, mm_err *e) {
    pthread_once(&quiet_once, quiet_ffmpeg);
    a->stream = -1;
    a->deadline_ns = mm_mono_ns() + (int64_t)(a->o.max_wall_seconds * 1e9);
    a->max_samples = (uint64_t)(a->o.max_seconds * a->o.sample_rate);
    const AVCodec *codec = NULL;
    mm_code rc = open_demuxer(a, e);
    if (!rc) rc = pick_stream(a, &codec, e);
    if (!rc) rc = open_decoder(a, codec, e);
    if (!rc) rc = fill_info(a, e);
    return rc;
}

static mm_audio *handle_new(const char *name, const mm_audio_opts *opts) {
    mm_audio *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->o = opts_resolve(opts);
    a->in.fd = -1;
    snprintf(a->name, sizeof a->name, "%s", name && *name ? name : "(memory)");
    return a;
}

static mm_code finish_open(mm_audio *a, mm_code rc, mm_audio **out) {
    if (rc) {
        mm_audio_close(a);
        return rc;
    }
    *out = a;
    return MM_OK;
}

mm_code mm_audio_open(const char *path, const mm_audio_opts *opts, mm_audio **out, mm_err *e) {
    *out = NULL;
    mm_audio *a = handle_new(path, opts);
    if (!a) return mm_err_set(e, MM_ENOMEM, "%s: out of memory", path);
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int er = errno;
        mm_code c = mm_code_from_errno(er);
        return finish_open(a, fail(a, e, c, "cannot open: %s", strerror(er)), out);
    }
    a->in.fd = fd;
    if (fstat(fd, &sb) < 0) return finish_open(a, fail(a, e, MM_EIO, "cannot stat: %s", strerror(errno)), out);
    if (S_ISDIR(sb.st_mode)) return finish_open(a, fail(a, e, MM_EINVAL, "is a directory"), out);
    if (S_ISREG(sb.st_mode) && sb.st_size == 0)
        return finish_open(a, fail(a, e, MM_ECORRUPT, "empty file (0 bytes)"), out);
    if ((uint64_t)sb.st_size > a->o.max_file_bytes)
        return finish_open(a, fail(a, e, MM_ELIMIT, "file of %lld bytes is over the limit of %llu bytes",
                                   (long long)sb.st_size, (unsigned long long)a->o.max_file_bytes), out);
    a->in.len = (size_t)sb.st_size;
    return finish_open(a, open_common(a, e), out);
}

mm_code mm_audio_open_mem(const void *buf, size_t len, const char *name, const mm_audio_opts *opts,
                          mm_audio **out, mm_err *e) {
    *out = NULL;
    mm_audio *a = handle_new(name, opts);
    if (!a) return mm_err_set(e, MM_ENOMEM, "%s: out of memory", name ? name : "(memory)");
    a->in.mem = buf;
    a->in.len = len;
    if (!len) return finish_open(a, fail(a, e, MM_ECORRUPT, "empty input (0 bytes)"), out);
    if (len > a->o.max_file_bytes)
        return finish_open(a, fail(a, e, MM_ELIMIT, "input of %zu bytes is over the limit", len), out);
    return finish_open(a, open_common(a, e), out);
}

void mm_audio_close(mm_audio *a) {
    if (!a) return;
    swr_free(&a->swr);
    av_frame_free(&a->frame);
    av_packet_free(&a->pkt);
    avcodec_free_context(&a->dec);
    if (a->fmt) avformat_close_input(&a->fmt);
    if (a->avio) av_freep(&a->avio->buffer);
    avio_context_free(&a->avio);
    if (a->in.fd >= 0) close(a->in.fd);
    free(a);
}

const mm_audio_info *mm_audio_get_info(const mm_audio *a) { return &a->info; }

/* ---- resampler ---- */

/* (Re)configures swresample for this frame's format, rate and layout: mono float at the output
 * rate, matrix row = 1/nch for every input channel (mono = mean of channels). */
static mm_code setup_swr(mm_audio *a, const AVFrame *f, mm_err *e) {
    char eb[256];
    AVChannelLayout in_l = {0};
    int nch = f->ch_layout.nb_channels;
    if (nch < 1 || nch > MAX_CHANNELS)
        return fail(a, e, MM_EUNSUPPORTED, "%d audio channels (1..%d supported)", nch, MAX_CHANNELS);
    if (f->sample_rate < MIN_RATE || f->sample_rate > MAX_RATE)
        return fail(a, e, MM_EUNSUPPORTED, "sample rate %d Hz (%d..%d supported)", f->sample_rate, MIN_RATE, MAX_RATE);
    if (f->ch_layout.order == AV_CHANNEL_ORDER_NATIVE) {
        if (av_channel_layout_copy(&in_l, &f->ch_layout) < 0) return fail(a, e, MM_ENOMEM, "out of memory");
    } else {
        av_channel_layout_default(&in_l, nch);
    }
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    swr_free(&a->swr);
    int r = swr_alloc_set_opts2(&a->swr, &mono, AV_SAMPLE_FMT_FLT, a->o.sample_rate, &in_l,
                                (enum AVSampleFormat)f->format, f->sample_rate, 0, NULL);
    av_channel_layout_uninit(&in_l);
    double mat[MAX_CHANNELS];
    for (int c = 0; c < nch; c++) mat[c] = 1.0 / nch;
    if (r >= 0 && nch > 1) r = swr_set_matrix(a->swr, mat, nch);
    if (r >= 0) r = swr_init(a->swr);
    if (r < 0) return fail(a, e, MM_EUNSUPPORTED, "cannot convert %d ch %s at %d Hz (%s)", nch,
                           av_get_sample_fmt_name((enum AVSampleFormat)f->format) ? av_get_sample_fmt_name((enum AVSampleFormat)f->format) : "?",
                           f->sample_rate, averr(r, eb, sizeof eb));
    a->swr_fmt = f->format;
    a->swr_rate = f->sample_rate;
    a->swr_nch = nch;
    return MM_OK;
}

/* Converts the next slice of the pending frame into the staging buffer. */
static mm_code convert_slice(mm_audio *a, mm_err *e) {
    const AVFrame *f = a->frame;
    const int bps = av_get_bytes_per_sample((enum AVSampleFormat)f->format);
    const int planar = av_sample_fmt_is_planar((enum AVSampleFormat)f->format);
    int left = f->nb_samples - a->frame_off;
    /* output of k inputs <= k*out/in + delay; keep it under half the staging buffer */
    int64_t k = (int64_t)(STAGE / 2) * a->swr_rate / a->o.sample_rate;
    if (k < 1) k = 1;
    int chunk = left < k ? left : (int)k;
    while (chunk > 1 && swr_get_out_samples(a->swr, chunk) > STAGE) chunk /= 2;
    if (swr_get_out_samples(a->swr, chunk) > STAGE)
        return fail(a, e, MM_ECORRUPT, "resampler backlog too large");
    const uint8_t *in[MAX_CHANNELS];
    for (int c = 0; c < (planar ? a->swr_nch : 1); c++)
        in[c] = f->extended_data[c] + (size_t)a->frame_off * bps * (planar ? 1 : a->swr_nch);
    uint8_t *outp = (uint8_t *)a->stage;
    int n = swr_convert(a->swr, &outp, STAGE, in, chunk);
    if (n < 0) return fail(a, e, MM_ECORRUPT, "resampling failed");
    a->stage_len = (size_t)n;
    a->frame_off += chunk;
    if (a->frame_off >= f->nb_samples) {
        a->frame_pending = 0;
        av_frame_unref(a->frame);
    }
    return MM_OK;
}

/* A fresh frame from the decoder: check it, reconfigure swresample if its parameters changed. */
static mm_code start_frame(mm_audio *a, mm_err *e) {
    AVFrame *f = a->frame;
    if (f->nb_samples <= 0 || av_get_bytes_per_sample((enum AVSampleFormat)f->format) <= 0) {
        av_frame_unref(f);
        return MM_OK;
    }
    if (!a->swr || f->format != a->swr_fmt || f->sample_rate != a->swr_rate ||
        f->ch_layout.nb_channels != a->swr_nch) {
        mm_code rc = setup_swr(a, f, e);
        if (rc) return rc;
    }
    a->frame_pending = 1;
    a->frame_off = 0;
    return MM_OK;
}

/* ---- the decode loop ---- */

/* Feeds the decoder one packet of our stream (or the end-of-stream NULL packet). */
static mm_code feed_packet(mm_audio *a, mm_err *e) {
    char eb[256];
    int r = av_read_frame(a->fmt, a->pkt);
    if (r == AVERROR_EOF || (r < 0 && avio_feof(a->fmt->pb) && !past_deadline(a))) {
        avcodec_send_packet(a->dec, NULL);
        return MM_OK;
    }
    if (r < 0) {
        if (past_deadline(a)) return fail(a, e, MM_ELIMIT, "time limit of %g s reached", a->o.max_wall_seconds);
        return fail(a, e, MM_ECORRUPT, "reading failed after %.2f s of audio (%s)",
                    (double)a->produced / a->o.sample_rate, averr(r, eb, sizeof eb));
    }
    if (a->pkt->stream_index == a->stream) {
        r = avcodec_send_packet(a->dec, a->pkt);
        if (r < 0 && r != AVERROR(EAGAIN)) a->info.decode_errors++;
    }
    av_packet_unref(a->pkt);
    if (++a->stall > STALL_PACKETS)
        return fail(a, e, MM_ECORRUPT, "no progress: %d packets in a row gave no audio (%llu decode errors)",
                    STALL_PACKETS, (unsigned long long)a->info.decode_errors);
    return MM_OK;
}

/* One step while decoding: take a frame if the decoder has one, else feed it a packet. */
static mm_code decode_step(mm_audio *a, mm_err *e) {
    int r = avcodec_receive_frame(a->dec, a->frame);
    if (r == 0) return start_frame(a, e);
    if (r == AVERROR(EAGAIN)) return feed_packet(a, e);
    if (r == AVERROR_EOF) {
        a->state = ST_FLUSH;
        return MM_OK;
    }
    a->info.decode_errors++; /* a bad packet: skipped */
    if (++a->stall > STALL_PACKETS)
        return fail(a, e, MM_ECORRUPT, "no progress: %d decode errors in a row", STALL_PACKETS);
    return MM_OK;
}

/* The end: drain swresample, then check that the data was all there. */
static mm_code flush_step(mm_audio *a, mm_err *e) {
    if (a->swr) {
        uint8_t *outp = (uint8_t *)a->stage;
        int n = swr_convert(a->swr, &outp, STAGE, NULL, 0);
        if (n > 0) {
            a->stage_len = (size_t)n;
            return MM_OK;
        }
    }
    a->state = ST_DONE;
    const double got = (double)a->produced / a->o.sample_rate, want = a->info.duration_s;
    if (!a->produced)
        return fail(a, e, MM_ECORRUPT, "no audio could be decoded (%llu decode errors)",
                    (unsigned long long)a->info.decode_errors);
    if (!a->o.accept_truncated && want > 0 && !(a->info.flags & MM_AUDIO_DURATION_ESTIMATED) &&
        got + fmax(0.5, 0.05 * want) < want)
        return fail(a, e, MM_ECORRUPT, "truncated: the header says %.2f s but the data ends at %.2f s", want, got);
    return MM_OK;
}

/* Makes the staging buffer non-empty, or reaches ST_DONE. */
static mm_code fill_stage(mm_audio *a, mm_err *e) {
    while (a->stage_pos == a->stage_len && a->state != ST_DONE) {
        a->stage_pos = a->stage_len = 0;
        if (past_deadline(a)) return fail(a, e, MM_ELIMIT, "time limit of %g s reached", a->o.max_wall_seconds);
        mm_code rc = a->frame_pending ? convert_slice(a, e)
                   : a->state == ST_DECODE ? decode_step(a, e) : flush_step(a, e);
        if (rc) return rc;
        if (a->stage_len) {
            a->stall = 0;
            a->produced += a->stage_len;
            if (a->produced > a->max_samples)
                return fail(a, e, MM_ELIMIT, "longer than the limit of %g s", a->o.max_seconds);
        }
    }
    return MM_OK;
}

mm_code mm_audio_read(mm_audio *a, float *buf, size_t max, size_t *got, mm_err *e) {
    *got = 0;
    if (a->sticky) return mm_err_set(e, a->sticky, "%s", a->sticky_msg);
    while (*got < max) {
        mm_code rc = fill_stage(a, e);
        if (rc) return rc;
        if (a->stage_pos == a->stage_len) break; /* the end */
        size_t n = a->stage_len - a->stage_pos;
        if (n > max - *got) n = max - *got;
        memcpy(buf + *got, a->stage + a->stage_pos, n * sizeof(float));
        a->stage_pos += n;
        *got += n;
        a->info.samples_read += n;
    }
    return MM_OK;
}

mm_code mm_audio_read_piece(mm_audio *a, float *buf, size_t max, size_t *got, mm_err *e) {
    mm_code rc = mm_audio_read(a, buf, max, got, e);
    if (!rc && *got == 1 && max > 1) { /* a last piece of 1 sample has no frame: dropped */
        a->info.dropped_samples += 1;
        *got = 0;
    }
    return rc;
}

mm_code mm_audio_load(const char *path, const mm_audio_opts *opts, float **pcm, size_t *n, mm_err *e) {
    *pcm = NULL;
    *n = 0;
    mm_audio *a;
    mm_code rc = mm_audio_open(path, opts, &a, e);
    if (rc) return rc;
    size_t cap = 0, len = 0, got;
    float *buf = NULL;
    do {
        if (cap - len < 65536) {
            size_t nc = cap ? cap * 2 : 262144;
            float *nb = realloc(buf, nc * sizeof(float));
            if (!nb) {
                rc = mm_err_set(e, MM_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
            cap = nc;
        }
        rc = mm_audio_read(a, buf + len, cap - len, &got, e);
        len += got;
    } while (!rc && got);
    mm_audio_close(a);
    if (rc) {
        free(buf);
        return rc;
    }
    *pcm = buf;
    *n = len;
    return MM_OK;
}
