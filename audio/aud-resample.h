/* aud-resample.h: streaming band-limited resampler with channel mixdown.
 *
 * A windowed-sinc polyphase filter (Kaiser window designed for 95 dB; the
 * tests measure >= 99 dB stopband and < 0.0002 dB passband ripple) that
 * changes the rate of float audio by any ratio from 1/64 to 64. Ratios of
 * integer rates are exact (the output clock never drifts); other ratios
 * are replaced by the nearest fraction with a denominator below 2^30
 * (off by < 1e-9). The passband reaches 0.9 x the Nyquist frequency of the
 * lower of the two rates and the stopband starts at that Nyquist frequency,
 * so nothing aliases into the output.
 *
 * Timing: the filter is zero-phase. Output frame k is the input signal at
 * input time k * in_rate / out_rate, so a click at input frame n lands at
 * output frame n * out_rate / in_rate; no delay needs compensating. After
 * aud_resampler_flush() has drained, exactly ceil(n_in * out_rate / in_rate)
 * frames have come out for n_in frames in. Live, output trails input by
 * the filter's look-ahead, aud_resampler_taps() / 2 input frames (3.8 ms
 * from 44.1 or 48 kHz to 16 kHz), until flush.
 *
 * Equal rates are a pass-through (a copy, or the mixdown alone).
 *
 * Memory is allocated by aud_resampler_new() only; process and flush never
 * allocate. One resampler serves one thread at a time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kern-error.h"

typedef struct aud_resampler aud_resampler;

/* Make a resampler from in_rate to out_rate (Hz, finite, > 0, ratio within
 * [1/64, 64]) for interleaved input of `channels` channels (1..64). With
 * mixdown the output is mono, the mean of the channels; without, it keeps the
 * channels, interleaved. Returns NULL on failure and, when err is not NULL,
 * sets *err to a malloc'd message (the caller frees it). */
aud_resampler *aud_resampler_new(double in_rate, double out_rate, int channels,
                                 bool mixdown, char **err);

/* Free the resampler; NULL is a no-op. */
void aud_resampler_free(aud_resampler *r);

/* Consume up to in_frames interleaved frames from `in` and write up to
 * out_frames frames to `out` (1 channel with mixdown, else `channels`).
 * *in_used and *out_made say how many frames were taken and written; the
 * rest of the input is for the next call. Every call with in_frames > 0 and
 * out_frames > 0 makes progress (takes or writes at least one frame).
 * Returns 0, or KERN_E_INVAL for NULL pointers or a call after flush began. */
int aud_resampler_process(aud_resampler *r, const float *in, size_t in_frames,
                          size_t *in_used, float *out, size_t out_frames,
                          size_t *out_made);

/* End of input: write the frames still held (the filter's look-ahead).
 * Call until *out_made is 0; after that, only aud_resampler_reset() makes the
 * resampler take input again. Returns 0 or KERN_E_INVAL. */
int aud_resampler_flush(aud_resampler *r, float *out, size_t out_frames,
                        size_t *out_made);

/* Forget all input and output so far, as if newly made. */
void aud_resampler_reset(aud_resampler *r);

/* Channels in each output frame: 1 with mixdown, else the input's. */
int aud_resampler_out_channels(const aud_resampler *r);

/* Filter taps applied per output sample (0 for a pass-through) and the number
 * of stored filter phases; for reports and tests. */
int aud_resampler_taps(const aud_resampler *r);
int aud_resampler_phases(const aud_resampler *r);

/* The reduced ratio out/in = up/down the resampler steps by (up == down for
 * a pass-through). */
void aud_resampler_ratio(const aud_resampler *r, long long *up, long long *down);
