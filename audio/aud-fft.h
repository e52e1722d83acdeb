/* aud-fft.h: Hark's own FFT, for the log-mel front end (and anything else in audio/).
 *
 * A mixed-radix Stockham (self-sorting) FFT with precomputed twiddles, in
 * single precision like the reference front ends (torch.stft). Sizes factor
 * into radices 4, 2, 3 and 5, which have hand-written butterflies; any other
 * prime factor takes a plain O(p^2) butterfly, so every size works.
 *
 * The transforms run AUD_FFT_LANES independent signals at once, one per SIMD
 * lane ("lane-interleaved": element t of signal l is at [t * AUD_FFT_LANES + l]),
 * so the short butterflies of the first stages still fill the vector units.
 * The single-signal entry points wrap them.
 *
 * Plans are immutable after creation and may be used from several threads at
 * once; each call needs its own scratch (aud_fft_scratch_floats()).
 */
#pragma once

#include <stddef.h>

#define AUD_FFT_LANES 4

typedef struct aud_fft aud_fft;

/* A plan for the complex forward DFT of size n >= 1:
 *   X[k] = sum_j x[j] exp(-2 pi i j k / n).
 * Returns NULL when n < 1 or memory runs out. */
aud_fft *aud_fft_new(int n);
void aud_fft_free(aud_fft *p);
int aud_fft_size(const aud_fft *p);
/* Floats of scratch one call needs (for any entry point of this plan). */
size_t aud_fft_scratch_floats(const aud_fft *p);

/* Complex forward DFT of AUD_FFT_LANES signals.
 * re, im: (n, AUD_FFT_LANES) lane-interleaved, in place; scratch: aud_fft_scratch_floats(). */
void aud_fft_lanes(const aud_fft *p, float *re, float *im, float *scratch);

/* Complex forward DFT of one signal. in, out: (n, 2) interleaved re/im; may alias. */
void aud_fft_complex(const aud_fft *p, const float *in, float *out, float *scratch);

/* Real-input DFTs of even size n = 2 * aud_fft_size(p), through one complex
 * DFT of half the size. */
typedef struct aud_rfft aud_rfft;

/* n must be even and >= 2. NULL on a bad size or no memory. */
aud_rfft *aud_rfft_new(int n);
void aud_rfft_free(aud_rfft *p);
int aud_rfft_size(const aud_rfft *p);
size_t aud_rfft_scratch_floats(const aud_rfft *p);

/* Forward real DFT of AUD_FFT_LANES signals: x (n, AUD_FFT_LANES) in; bins
 * k = 0 .. n/2 out as re, im (n/2 + 1, AUD_FFT_LANES). x may not alias re/im. */
void aud_rfft_lanes(const aud_rfft *p, const float *x, float *re, float *im, float *scratch);

/* Same, but writes |X[k]|^2 (power) instead: pow (n/2 + 1, AUD_FFT_LANES). */
void aud_rfft_power_lanes(const aud_rfft *p, const float *x, float *pow, float *scratch);

/* Forward real DFT of one signal: x (n) in, out (n/2 + 1, 2) interleaved re/im. */
void aud_rfft_forward(const aud_rfft *p, const float *x, float *out, float *scratch);
