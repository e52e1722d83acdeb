/* aud-mel.h: Whisper's log-mel spectrogram, computed as OpenAI's reference
 * (whisper/audio.py, log_mel_spectrogram) computes it:
 *
 *   16 kHz mono float samples; STFT with n_fft 400, hop 160, a periodic Hann
 *   window, center=True with reflect padding of 200 samples at both ends;
 *   power |X|^2 of bins 0..200; the last STFT frame dropped (n / 160 frames
 *   remain for n samples); the mel filterbank (n_mels, 201) applied;
 *   log10(max(x, 1e-10)); clamped below at (max - 8) where max is over the
 *   whole computed spectrogram; then (x + 4) / 4.
 *
 * Non-finite input is not the reference's concern: here a NaN mel power is
 * taken as 1e-10 and an infinite one as FLT_MAX, so the output stays finite.
 *
 * Output layout: (n_frames, n_mels), frame-major: each frame's n_mels values
 * are contiguous (the channels-last [T, C_in = n_mels] layout conv1d takes).
 *
 * Filterbank: taken from the model file when it carries one (whisper.cpp ggml
 * files: tensor "mel_filters"), otherwise computed exactly like
 * librosa.filters.mel(sr=16000, n_fft=400, n_mels, htk=False, norm="slaney"),
 * which is what openai-whisper's assets/mel_filters.npz holds (bit-exact for
 * 80 and 128 bins).
 *
 * An aud_mel context owns the window, the FFT plan, the filterbank and the
 * scratch buffers: create it once per model; one thread at a time per context.
 * Functions return 0 or a negative kern_status; aud_mel_errmsg() says why.
 */
#pragma once

#include <stddef.h>

#include "kern-error.h"
#include "kern-weights.h"

#define AUD_MEL_SAMPLE_RATE 16000
#define AUD_MEL_N_FFT 400
#define AUD_MEL_HOP 160
#define AUD_MEL_N_BINS 201         /* AUD_MEL_N_FFT / 2 + 1 */
#define AUD_MEL_CHUNK_SAMPLES 480000 /* 30 s: one encoder window */
#define AUD_MEL_CHUNK_FRAMES 3000  /* AUD_MEL_CHUNK_SAMPLES / AUD_MEL_HOP */

typedef struct aud_mel aud_mel;

/* Computes librosa's Slaney-normalised mel filterbank for Whisper (sr 16000,
 * n_fft 400, fmin 0, fmax 8000) in float64 the way librosa rounds it, into
 * out (n_mels, AUD_MEL_N_BINS). Returns 0, or KERN_E_INVAL when n_mels < 1 or
 * out is NULL. Thread-safe. */
int aud_mel_filters_compute(int n_mels, float *out);

/* Creates a context for n_mels bins (1 .. 1024). filters: (n_mels,
 * AUD_MEL_N_BINS), copied; NULL computes them. NULL on failure with *err
 * (malloc'd, when err is not NULL). */
aud_mel *aud_mel_new(int n_mels, const float *filters, char **err);

/* Same, for a model: the filterbank from the file's "mel_filters" tensor when
 * it has one of the right shape, computed otherwise. n_mels 0 takes the
 * count from the model (whisper.n_mels, config.num_mel_bins,
 * preprocessor_config.feature_size, or the first conv's input channels),
 * else 80. The context does not keep w. */
aud_mel *aud_mel_new_from_weights(const kern_weights *w, int n_mels, char **err);

void aud_mel_free(aud_mel *m);

int aud_mel_n_mels(const aud_mel *m);
/* The filterbank in use, (n_mels, AUD_MEL_N_BINS); owned by m. */
const float *aud_mel_filters(const aud_mel *m);
/* 1 when the filterbank came from the model file, 0 when computed. */
int aud_mel_filters_from_file(const aud_mel *m);
/* The last error message; never NULL. */
const char *aud_mel_errmsg(const aud_mel *m);

/* Frames the reference produces for n samples: n / AUD_MEL_HOP. */
size_t aud_mel_n_frames(size_t n_samples);

/* The reference log_mel_spectrogram(samples) exactly (padding=0): writes
 * aud_mel_n_frames(n) frames to out (cap_frames, n_mels) and their count to
 * *n_frames. KERN_E_INVAL when out is too small (*n_frames still says how
 * many were needed) or samples is NULL with n > 0. Inputs shorter than the
 * reflect padding (n <= 200), which torch refuses, are mirrored repeatedly. */
int aud_mel_compute(aud_mel *m, const float *samples, size_t n, float *out, size_t cap_frames, size_t *n_frames);

/* How the frames of a window past the end of the audio are filled. */
typedef enum {
  /* As openai-whisper's transcribe() does: the mel of the whole file with
   * 30 s of zeros appended (log_mel_spectrogram(audio, padding=N_SAMPLES)),
   * sliced at the window's frames up to the end of the audio, then
   * pad_or_trim() to 3000 frames, which pads with 0.0 (after normalisation). */
  AUD_MEL_PAD_REFERENCE = 0,
  /* Frames past the end of the audio are computed from the appended zero
   * samples (log mel of silence, i.e. clamped to max - 8), as whisper.cpp and
   * log_mel_spectrogram(pad_or_trim(audio)) do. */
  AUD_MEL_PAD_SILENCE = 1,
} aud_mel_pad;

/* One 30-s encoder window of a long recording: frames [frame_offset,
 * frame_offset + AUD_MEL_CHUNK_FRAMES) of the mel of samples[0..n) followed
 * by AUD_MEL_CHUNK_SAMPLES zeros, STFT context from the neighbouring samples
 * (so window edges match the whole-file spectrogram), into out
 * (AUD_MEL_CHUNK_FRAMES, n_mels). *n_content (may be NULL) gets the frames
 * that hold audio: min(3000, n / 160 - frame_offset), 0 past the end.
 *
 * The one departure from the reference: the reference clamps at (max - 8)
 * with max over the whole file's spectrogram; here max is over this window
 * (its content frames for AUD_MEL_PAD_REFERENCE, all 3000 for
 * AUD_MEL_PAD_SILENCE). For audio of at most 30 s at frame_offset 0 the two
 * agree. */
int aud_mel_compute_window(aud_mel *m, const float *samples, size_t n, size_t frame_offset, aud_mel_pad pad,
                           float *out, size_t *n_content);

/* Lower level: log10(max(mel, 1e-10)) before clamping and scaling, for
 * frames [frame_begin, frame_begin + count) of the reference spectrogram of
 * samples[0..n) followed by n_zero_pad zero samples (reflect padding at both
 * ends of that signal). frame_begin + count must be at most
 * aud_mel_n_frames(n + n_zero_pad), else KERN_E_INVAL. out: (count, n_mels).
 * *max_out (may be NULL) gets the largest value written (-INFINITY when
 * count is 0). */
int aud_mel_compute_log(aud_mel *m, const float *samples, size_t n, size_t n_zero_pad, size_t frame_begin,
                        size_t count, float *out, float *max_out);

/* In place: x = (max(x, max - 8) + 4) / 4 for n values. */
void aud_mel_normalize(float *mel, size_t n, float max);
