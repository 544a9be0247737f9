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

/* ==== end images ========================================================================== */

/* ==== audio =============================================================================== */

/* ==== end audio =========================================================================== */

/* ==== documents =========================================================================== */

/* ==== end documents ======================================================================= */

#ifdef __cplusplus
}
#endif
#endif
