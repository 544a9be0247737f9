/*
 * decoders.h — the public API of decoders/: files people have into the arrays the model
 * front-ends expect.  Images become RGB8 and then the exact float tensor a vision tower is fed;
 * audio becomes 16 kHz mono float PCM and log-mel frames, streamed in bounded pieces; documents
 * become text with structure (headings, paragraphs, pages, source offsets) kept for chunking.
 *
 * Every call that can fail returns an mm_code and fills an mm_err whose message names the file
 * and the reason.  Nothing here prints, exits or knows about jobs or model internals beyond the
 * preprocessing parameters it is handed.
 */
#ifndef MMPIPE_DECODERS_H
#define MMPIPE_DECODERS_H

#include <stddef.h>
#include <stdint.h>

#include "mm_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== images ============================================================================== */
/*
 * Images: a file (PNG via libpng, JPEG via libjpeg-turbo, WebP / GIF first frame / BMP / TIFF via
 * FFmpeg's decoders; format found by magic bytes) -> mm_image (RGB8) -> mm_vision_input (the float
 * tensor a vision tower is fed, exactly as llama.cpp's mtmd builds it).
 *
 * Pixel policy (llama.cpp decodes with stb_image, stbi_load_from_memory(..., 3)):
 *   - 16-bit samples keep their high byte (stb_image's (v >> 8)); 1/2/4-bit grey is scaled by
 *     0xFF/0x55/0x11; palettes are expanded; grey is replicated to R=G=B.
 *   - alpha: MM_ALPHA_WHITE (default) composites over white; MM_ALPHA_DROP discards it, which is
 *     what stb_image does with 3 requested channels (palette tRNS included).
 *   - EXIF orientation (JPEG APP1, PNG eXIf) is applied unless no_exif; llama.cpp ignores it.
 *   - A PNG with a bad CRC in any chunk (critical or ancillary) is an error (stb_image skips CRCs).
 *   - A JPEG that ends early or has corrupt entropy data is an error (libjpeg only warns).
 * mm_image_opts_llama() gives the llama.cpp-exact settings (no EXIF, alpha dropped, no DCT scaling).
 */
typedef enum mm_image_format {
    MM_IMAGE_UNKNOWN = 0,
    MM_IMAGE_PNG,
    MM_IMAGE_JPEG,
    MM_IMAGE_WEBP,
    MM_IMAGE_GIF,
    MM_IMAGE_BMP,
    MM_IMAGE_TIFF
} mm_image_format;

typedef enum mm_alpha_mode {
    MM_ALPHA_WHITE = 0, /* composite over white: c' = (c*a + 255*(255-a) + 127) / 255 */
    MM_ALPHA_DROP       /* discard alpha (stb_image with req_comp = 3) */
} mm_alpha_mode;

/* All-zero (or a NULL pointer) means the defaults. */
typedef struct mm_image_opts {
    uint64_t max_pixels;     /* 0: 100 MP.  Checked from the header, before any pixel allocation */
    uint64_t max_file_bytes; /* 0: 256 MiB (mm_image_load only) */
    int no_exif;             /* 1: ignore EXIF orientation */
    mm_alpha_mode alpha;
    /* JPEG DCT-scaling hint, in displayed (post-EXIF) orientation: when > 0 the JPEG is decoded at
     * the smallest libjpeg scale M/8 (M = 1..8) whose output is still >= min_w x min_h.  Changes
     * pixels, so 0 (full size) for the llama.cpp-exact path. */
    int min_w, min_h;
    /* mm_vision_* only: 1 lets them set min_w/min_h from the target size (fast path). */
    int allow_dct_scaling;
} mm_image_opts;

typedef struct mm_image {
    int w, h;               /* as delivered (after DCT scaling and orientation) */
    uint8_t *rgb;           /* RGB8 interleaved, rgb[(y*w + x)*3 + c], h rows of w pixels, no padding */
    int full_w, full_h;     /* size at full resolution in displayed orientation (== w, h unless a
                               DCT scale was used); the vision size formulas use these */
    mm_image_format format;
    int orientation;        /* EXIF orientation found and applied (1..8; 1 when none or no_exif) */
    int had_alpha;          /* the file had an alpha channel or tRNS */
} mm_image;

void mm_image_opts_llama(mm_image_opts *o); /* zeroes o, then no_exif = 1, alpha = MM_ALPHA_DROP */
mm_image_format mm_image_detect(const void *data, size_t n); /* by magic bytes */
const char *mm_image_format_name(mm_image_format f);         /* "png", "jpeg", ... "unknown" */
/* Decodes a file / a buffer.  name is used in error messages only.  On failure *out is zeroed. */
mm_code mm_image_load(const char *path, const mm_image_opts *o, mm_image *out, mm_err *e);
mm_code mm_image_decode_mem(const void *data, size_t n, const char *name, const mm_image_opts *o,
                            mm_image *out, mm_err *e);
void mm_image_free(mm_image *im); /* frees rgb and zeroes *im; NULL-safe */

/* ---- vision preprocessing (what llama.cpp's mtmd does between the decoder and the encoder) ---- */
typedef enum mm_vision_mode {
    MM_VISION_DYN = 0, /* gemma4v: aspect-preserving size aligned to patch*merge within a token budget */
    MM_VISION_FIXED    /* gemma3 / SigLIP: a fixed image_size x image_size square, letterboxed */
} mm_vision_mode;

typedef enum mm_resample_filter {
    MM_RESAMPLE_BILINEAR = 1, /* Pillow's triangle filter, support 1 */
    MM_RESAMPLE_BICUBIC = 2   /* Pillow's bicubic (Keys, a = -0.5), support 2 */
} mm_resample_filter;

typedef struct mm_vision_params {
    mm_vision_mode mode;
    int patch_size;               /* clip.vision.patch_size */
    int n_merge;                  /* pooling / merge factor (gemma4v 3; gemma3 scale_factor, 4) */
    int min_tokens, max_tokens;   /* DYN: token budget (llama.cpp de3ff81: 70, 1120) */
    int image_size;               /* FIXED: side of the square (clip.vision.image_size, 896) */
    mm_resample_filter filter;    /* gemma4v: BICUBIC; gemma3: BILINEAR */
    float mean[3], std[3];        /* clip.vision.image_mean / image_std */
    uint8_t pad_rgb[3];           /* letterbox colour before normalisation (llama.cpp: black) */
} mm_vision_params;

/* Fills p as llama.cpp de3ff81 does for the projector type; then copy mean/std from the mmproj. */
void mm_vision_params_gemma4v(mm_vision_params *p, int patch_size, int n_merge);
void mm_vision_params_gemma3(mm_vision_params *p, int image_size, int patch_size, int n_merge);

/*
 * The tensor llama.cpp's clip_image_batch_encode hands the graph: planar, ggml ne = [w, h, 3]:
 * data[c*h*w + y*w + x] = (u8/255.0f - mean[c]) / std[c] (f32), c = R, G, B.
 * (mtmd's clip_image_f32 is interleaved; clip.cpp transposes it to this layout before the graph.)
 */
typedef struct mm_vision_input {
    int w, h;               /* tensor size: multiples of patch*merge (DYN) or image_size (FIXED) */
    float *data;            /* 3*w*h floats, planar as above */
    int n_tokens;           /* (w/(patch*merge)) * (h/(patch*merge)) soft tokens */
    int content_x, content_y, content_w, content_h; /* where the resampled picture sits; the rest is pad */
} mm_vision_input;

/* The size formulas alone.  Target tensor size for a w x h picture (displayed orientation). */
mm_code mm_vision_target_size(int w, int h, const mm_vision_params *p, int *tw, int *th, mm_err *e);
/* llama.cpp's letterbox fit (PAD_CEIL): size of the picture inside a tw x th canvas. */
void mm_vision_fit(int w, int h, int tw, int th, int *nw, int *nh);
/* Pillow ImagingResample (22-bit fixed point, u8 between passes), RGB8 -> RGB8; no allocation in
 * dst (3*dw*dh bytes).  Same pixels as llama.cpp's resize (and Pillow's Image.resize). */
mm_code mm_resample_rgb8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh,
                         mm_resample_filter f, mm_err *e);
/* RGB8 image -> tensor.  Uses im->full_w/full_h (if set) for the size formulas. */
mm_code mm_vision_preprocess(const mm_image *im, const mm_vision_params *p, mm_vision_input *out,
                             mm_err *e);
/* Decode + preprocess in one call (the benchmark's unit of work).  With o->allow_dct_scaling a JPEG is
 * decoded at the smallest DCT scale that still covers the target picture size. */
mm_code mm_vision_load(const char *path, const mm_image_opts *o, const mm_vision_params *p,
                       mm_vision_input *out, mm_err *e);
mm_code mm_vision_decode_mem(const void *data, size_t n, const char *name, const mm_image_opts *o,
                             const mm_vision_params *p, mm_vision_input *out, mm_err *e);
void mm_vision_input_free(mm_vision_input *v);

/* `mmpipe bench decode`: a synthetic 4000x3000 picture written to dir as JPEG (q90) and PNG, then
 * mm_vision_load with Gemma 4 parameters (patch 16, merge 3, 70..1120 tokens), best of reps, ms. */
typedef struct mm_image_bench {
    double jpeg_ms;       /* JPEG decode + preprocess, DCT scaling allowed (the job default) */
    double jpeg_exact_ms; /* JPEG, full-size decode (llama.cpp-exact pixels) */
    double png_ms;        /* PNG decode + preprocess */
    int w, h, n_tokens;   /* 4000, 3000, soft tokens of the result (1064) */
} mm_image_bench;
mm_code mm_image_bench_12mp(const char *dir, int reps, mm_image_bench *out, mm_err *e);


/* ==== end images ========================================================================== */

/* ==== audio =============================================================================== */
/*
 * Audio: any container/codec FFmpeg's libraries read (WAV, MP3, FLAC, Ogg/Opus/Vorbis, M4A/AAC,
 * the audio track of MP4/MKV/WebM) becomes mono float PCM at the model's rate (16 kHz for
 * Gemma 4) through libswresample.  Several channels are averaged (mono = mean of all channels,
 * as llama.cpp's miniaudio does: (L+R)/2 for stereo), never swresample's 0.707·(L+R) default.
 * Decoding is streamed: memory is bounded by the caller's buffer plus one decoded frame, never
 * by the file length.  Integer PCM maps as x / 2^(bits-1) (s16: x/32768, exactly like llama.cpp).
 *
 * Gemma 4 takes 30-second pieces (MM_AUDIO_PIECE_SAMPLES at 16 kHz), each its own media chunk;
 * mm_audio_read_piece() fills one.  A last piece of exactly one sample has no log-mel frame
 * (llama.cpp refuses the whole file); mmpipe drops that sample and sets info.dropped_samples.
 *
 * Log-mel features (mm_mel_*) are those of llama.cpp's mtmd_audio_preprocessor_gemma4a
 * (gemma4-spec §5.3): per piece of N samples, 160 zeros prepended, T = (N - 161) / 160 + 1
 * frames (C division; 1 for 2 <= N <= 160, none for N = 1), each a 320-sample periodic Hann
 * window zero-padded to a 512-point FFT, magnitude, 128 HTK triangles 0–8000 Hz without area
 * normalisation, ln(max(mel, 1e-3)).  Output layout [n_mel][T], row-major (= llama.cpp's
 * mtmd_audio_mel.data[m*T + t], ggml ne = [T, n_mel]).
 *
 * Limits guard against hostile files: a header duration, decoded length or wall-clock time past
 * a limit is MM_ELIMIT; a stream that stops producing samples, or data that ends well before a
 * (non-estimated) header duration, is MM_ECORRUPT.
 */
#define MM_AUDIO_RATE 16000                      /* Gemma 4's audio tower */
#define MM_AUDIO_PIECE_SAMPLES 480000            /* 30 s at 16 kHz: one media chunk */

typedef struct mm_audio_opts {
    int sample_rate;           /* output rate, default MM_AUDIO_RATE */
    double max_seconds;        /* longest recording accepted (header and decoded), default 12 h */
    double max_wall_seconds;   /* wall-clock budget for open + all reads, default 1800 s */
    uint64_t max_file_bytes;   /* default 8 GiB (file), checked before opening */
    int accept_truncated;      /* 1: data ending before the header's duration is not an error */
    int64_t probe_bytes;       /* FFmpeg probesize, default 1 MiB */
} mm_audio_opts;

enum {
    MM_AUDIO_DURATION_ESTIMATED = 1u << 0, /* duration_s guessed from the bitrate, not stored */
    MM_AUDIO_HAS_VIDEO = 1u << 1           /* the container also holds video (ignored) */
};

typedef struct mm_audio_info {
    char container[32];        /* FFmpeg demuxer name, e.g. "wav", "mp3", "mov,mp4,m4a,..." (cut) */
    char codec[32];            /* FFmpeg decoder name, e.g. "pcm_s16le", "mp3float", "opus" */
    int in_rate;               /* source sample rate */
    int in_channels;
    int out_rate;              /* rate of the samples mm_audio_read returns */
    double duration_s;         /* header's duration; < 0 when unknown (see flags) */
    uint32_t flags;            /* MM_AUDIO_* */
    uint64_t samples_read;     /* output samples returned so far */
    uint64_t dropped_samples;  /* samples mm_audio_read_piece dropped (a 1-sample last piece) */
    uint64_t decode_errors;    /* packets the decoder rejected and skipped */
} mm_audio_info;

typedef struct mm_audio mm_audio;

/* Opens a recording; opts may be NULL (defaults).  Errors: MM_ENOTFOUND, MM_EIO, MM_ECORRUPT
 * (not a container FFmpeg reads, zero-length file), MM_EUNSUPPORTED (no audio stream, no
 * decoder), MM_ELIMIT. */
mm_code mm_audio_open(const char *path, const mm_audio_opts *opts, mm_audio **out, mm_err *e);
/* The same over a caller-owned buffer (must outlive the handle); name is used in messages. */
mm_code mm_audio_open_mem(const void *buf, size_t len, const char *name,
                          const mm_audio_opts *opts, mm_audio **out, mm_err *e);
/* Up to max mono samples at info.out_rate into buf; *got == 0 (MM_OK) means the end. */
mm_code mm_audio_read(mm_audio *a, float *buf, size_t max, size_t *got, mm_err *e);
/* Fills buf with the next piece of up to max samples (max = MM_AUDIO_PIECE_SAMPLES for Gemma 4):
 * *got < max only for the last piece, 0 at the end.  A last piece of 1 sample is dropped
 * (*got = 0, info.dropped_samples = 1) because it has no log-mel frame. */
mm_code mm_audio_read_piece(mm_audio *a, float *buf, size_t max, size_t *got, mm_err *e);
const mm_audio_info *mm_audio_get_info(const mm_audio *a);
void mm_audio_close(mm_audio *a);
/* Decodes a whole file into a malloc'd buffer (*pcm, *n samples); for tests and short clips. */
mm_code mm_audio_load(const char *path, const mm_audio_opts *opts, float **pcm, size_t *n,
                      mm_err *e);

/* Log-mel feature extractor.  Parameters come from the mmproj (n_mel) and llama.cpp's
 * hard-coded gemma4a values (the rest); mm_mel_params_gemma4a() gives them. */
typedef struct mm_mel_params {
    int sample_rate;   /* 16000 */
    int n_fft;         /* 512, a power of two */
    int win_len;       /* 320 (periodic Hann, zero-padded to n_fft) */
    int hop;           /* 160 */
    int pad_left;      /* 160 = win_len / 2 (semicausal) */
    int n_mel;         /* 128 */
    double fmin, fmax; /* 0, 8000 Hz (HTK mel) */
    double floor;      /* 1e-3: out = ln(max(mel, floor)) */
} mm_mel_params;

typedef struct mm_mel mm_mel; /* read-only after creation: share it between threads */

mm_mel_params mm_mel_params_gemma4a(void);
mm_code mm_mel_create(const mm_mel_params *p, mm_mel **out, mm_err *e); /* p NULL: gemma4a */
void mm_mel_free(mm_mel *m);
const mm_mel_params *mm_mel_get_params(const mm_mel *m);
/* Frames of a piece of n samples (0 when n < 2: no frame exists). */
size_t mm_mel_n_frames(const mm_mel *m, size_t n);
/* out[m * T + t], T = mm_mel_n_frames(n); cap = floats available at out.  MM_EINVAL for n < 2
 * or cap < n_mel * T.  Thread-safe: scratch is on the stack. */
mm_code mm_mel_compute(const mm_mel *m, const float *pcm, size_t n, float *out, size_t cap,
                       size_t *n_frames, mm_err *e);
/* Audio-tower tokens for T frames (two stride-2 convs): ((T-1)/2+1 - 1)/2 + 1; 0 for T = 0. */
size_t mm_mel_n_tokens(size_t n_frames);

/* Voice-activity segmentation: an energy detector over 10 ms frames with an adaptive noise
 * floor, hysteresis, gap merging and padding.  Fed in any slices (streaming, bounded state);
 * segments are in seconds from the first sample fed. */
typedef struct mm_vad_opts {    /* a field left 0 takes its default */
    int sample_rate;          /* default MM_AUDIO_RATE */
    double abs_threshold_db;  /* frames quieter than this (dBFS RMS) are never speech, default -45 */
    double snr_db;            /* speech = this much above the tracked noise floor, default 12 */
    double min_speech_s;      /* shorter bursts are dropped, default 0.15 */
    double min_silence_s;     /* shorter gaps are merged, default 0.5 */
    double pad_s;             /* added before and after each segment, default 0.2 (< 0: none) */
    double max_segment_s;     /* longer segments are split, default 30 */
} mm_vad_opts;

typedef struct mm_segment {
    double start_s, end_s;
} mm_segment;

typedef struct mm_vad mm_vad;

mm_code mm_vad_create(const mm_vad_opts *opts, mm_vad **out, mm_err *e); /* opts may be NULL */
mm_code mm_vad_feed(mm_vad *v, const float *pcm, size_t n, mm_err *e);
mm_code mm_vad_finish(mm_vad *v, mm_err *e);   /* closes an open segment; feed no more */
/* Segments found so far (complete ones; all of them after finish).  Valid until the next call. */
const mm_segment *mm_vad_segments(const mm_vad *v, size_t *n);
void mm_vad_free(mm_vad *v);
/* Streams a file through mm_audio + VAD: *segs malloc'd (free()), *n of them. */
mm_code mm_audio_segments(const char *path, const mm_audio_opts *aopts, const mm_vad_opts *vopts,
                          mm_segment **segs, size_t *n, double *duration_s, mm_err *e);

/* `mmpipe bench decode`: decodes a file and computes the log-mel of every 30 s piece. */
typedef struct mm_audio_bench {
    double audio_seconds;      /* decoded audio */
    double cpu_seconds;        /* process CPU time spent (user + system) */
    double wall_seconds;
    double realtime_factor;    /* audio_seconds / cpu_seconds */
    uint64_t peak_rss_bytes;   /* the process's peak RSS after the run (getrusage) */
    size_t n_pieces, n_frames;
} mm_audio_bench;

mm_code mm_audio_bench_file(const char *path, mm_audio_bench *out, mm_err *e);

/* ==== end audio =========================================================================== */

/* ==== documents =========================================================================== */
/*
 * Documents (text, Markdown, HTML, PDF) become a flat sequence of blocks that a chunker can cut
 * along structure: headings with their level, paragraphs, list items with their nesting depth,
 * code blocks, table rows, and page breaks with 1-based page numbers for PDF.  Every block's text
 * is NUL-terminated valid UTF-8 without markup.  For text, Markdown and HTML a block also names
 * the bytes of the original file it came from (offset + length, markup included for Markdown
 * lines; first to last text byte for HTML); for PDF the page number is the locator.
 *
 * Plain-text encodings: UTF-8 (a BOM is stripped), UTF-16LE/BE (with a BOM, or without one when
 * the NUL pattern is unmistakable); anything else that is not valid UTF-8 is read as
 * Windows-1252 (a superset of Latin-1) and doc->encoding says so, unless reject_legacy is set.
 * Data with NUL bytes or many control characters is refused as "binary data, not text".
 */
typedef enum mm_doc_format {
    MM_DOC_AUTO = 0, /* detect: %PDF- magic, <!doctype html / <html, then the extension */
    MM_DOC_TEXT,
    MM_DOC_MARKDOWN,
    MM_DOC_HTML,
    MM_DOC_PDF
} mm_doc_format;

typedef enum mm_block_type {
    MM_BLOCK_HEADING,    /* level 1..6 */
    MM_BLOCK_PARAGRAPH,
    MM_BLOCK_LIST_ITEM,  /* level = nesting depth, 1 for a top-level item */
    MM_BLOCK_CODE,       /* text kept verbatim, newlines included */
    MM_BLOCK_TABLE_ROW,  /* cells joined by " | " */
    MM_BLOCK_PAGE_BREAK  /* PDF: starts page `page` (2..n); text "" */
} mm_block_type;

typedef struct mm_doc_block {
    mm_block_type type;
    int level;           /* headings 1..6, list items depth >= 1; 0 otherwise */
    int page;            /* PDF: 1-based page; 0 for other formats */
    uint64_t offset;     /* source span in the original file (0, 0 for PDF) */
    uint64_t length;
    const char *text;    /* UTF-8, NUL-terminated, owned by the mm_doc */
    size_t text_len;
} mm_doc_block;

enum {
    MM_DOC_CONVERTED = 1u << 0, /* text was converted from UTF-16 or Windows-1252 */
    MM_DOC_ENCRYPTED = 1u << 1  /* PDF was encrypted but opened with the empty user password */
};

typedef struct mm_doc {
    mm_doc_format format;
    const char *encoding; /* "utf-8", "utf-16le", "utf-16be", "windows-1252"; "pdf" for PDF */
    uint32_t flags;       /* MM_DOC_* */
    int n_pages;          /* PDF: pages in the file; 0 otherwise */
    const char *title;    /* HTML <title> or PDF Info /Title; NULL when absent */
    size_t n_blocks;
    mm_doc_block *blocks;
    size_t text_bytes;    /* sum of text_len over all blocks */
} mm_doc;

/* Limits: a field left 0 takes its default.  Exceeding one is MM_ELIMIT naming the limit. */
typedef struct mm_doc_opts {
    uint64_t max_file_bytes; /* default 256 MiB, checked from stat before reading */
    size_t max_text_bytes;   /* default 256 MiB of output text */
    size_t max_blocks;       /* default 2,000,000 */
    int max_pages;           /* PDF, default 10,000 (checked before any page is read) */
    double max_seconds;      /* PDF wall-clock, default 300, checked after every page */
    int reject_legacy;       /* 1: invalid UTF-8 without a BOM is an error, not Windows-1252 */
} mm_doc_opts;

/* Reads and parses one file.  opts may be NULL (defaults). */
mm_code mm_doc_load(const char *path, const mm_doc_opts *opts, mm_doc **out, mm_err *e);
/* Parses a buffer; name is used in messages and for extension-based detection (may be NULL). */
mm_code mm_doc_parse_mem(const void *buf, size_t len, const char *name, mm_doc_format hint,
                         const mm_doc_opts *opts, mm_doc **out, mm_err *e);
void mm_doc_free(mm_doc *doc);
/* The format AUTO would pick for these leading bytes and this name. */
mm_doc_format mm_doc_detect(const void *buf, size_t len, const char *name);
const char *mm_doc_format_name(mm_doc_format f);   /* "text", "markdown", "html", "pdf" */
const char *mm_block_type_name(mm_block_type t);   /* "heading", "paragraph", "list_item", ... */

/* ==== end documents ======================================================================= */

#ifdef __cplusplus
}
#endif
#endif
