/*
 * decoders/audio_internal.h — pieces of the audio path shared between its files (and their
 * tests) but not part of decoders.h: the radix-2 FFT that mel.c runs per frame.
 *
 * fft.c:  mm_fft_plan for a power-of-two n; mm_fft_complex (in place, interleaved re/im, forward
 *         sign e^{-2πi kn/N}, unscaled) and mm_fft_real (n real inputs -> bins 0..n/2 as
 *         interleaved re/im, via one complex FFT of n/2 points plus the split step).
 */
#ifndef MM_AUDIO_INTERNAL_H
#define MM_AUDIO_INTERNAL_H

#include <stddef.h>

typedef struct mm_fft mm_fft;

/* n must be a power of two, 4 <= n <= 2^20; NULL otherwise or on OOM. */
mm_fft *mm_fft_plan(int n);
void mm_fft_free(mm_fft *f);
int mm_fft_size(const mm_fft *f);
/* x: n complex values (2n floats, re/im interleaved), transformed in place.  Uses the plan's
 * n (a plan for n real points runs its complex FFT on n/2: pass complex_n = n/2 then). */
void mm_fft_complex_n(const mm_fft *f, float *x, int complex_n);
/* in: n reals; out: n/2+1 bins, 2*(n/2+1) floats; scratch: n floats (may not alias in/out). */
void mm_fft_real(const mm_fft *f, const float *in, float *out, float *scratch);

#endif
