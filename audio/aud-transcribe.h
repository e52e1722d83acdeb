/* aud-transcribe.h: long-form transcription with Whisper, decoding as
 * OpenAI's reference implementation does (whisper/transcribe.py, decoding.py).
 *
 * 30-second windows over the audio, the previous text as prompt, timestamp
 * tokens that cut segments and move the window; greedy or beam search at
 * temperature 0 with fallback to sampling at 0.2 .. 1.0 when the text is too
 * repetitive (compression ratio) or unlikely (average log-probability); a
 * no-speech probability that skips silent windows; suppression of blank and
 * non-speech tokens; language detection on the first window.
 *
 * Audio streams from the file: only a window and its margins are held, so
 * memory stays flat however long the recording.
 *
 * Threads: everything runs on the calling thread, callbacks included. One
 * model context per thread at a time.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "aud-tokenizer.h"
#include "aud-transcript.h"
#include "aud-whisper.h"

#define AUD_MAX_TEMPERATURES 16

typedef struct {
  const char *language;          /* "en", "German"; NULL or "auto": detect (multilingual models) */
  int translate;                 /* translate into English instead of transcribing */
  int beam_size;                 /* 1 = greedy; default 5 */
  float patience;                /* beam search: finish after beam_size * patience candidates (1.0) */
  int best_of;                   /* candidates when sampling at temperature > 0 (5) */
  float temperatures[AUD_MAX_TEMPERATURES]; /* fallback schedule: 0, 0.2, ..., 1.0 */
  int n_temperatures;
  float compression_ratio_threshold; /* 2.4; <= 0 disables */
  float logprob_threshold;       /* -1.0; <= -1e9 disables */
  float no_speech_threshold;     /* 0.6; >= 1 disables */
  int condition_on_previous_text;/* previous text as the next window's prompt (1) */
  const char *initial_prompt;    /* NULL or text to prime the first window */
  int suppress_blank;            /* 1 */
  float max_initial_timestamp;   /* 1.0 s */
  int without_timestamps;        /* 0: timestamp tokens decide segments */
  int word_timestamps;           /* words with times and probabilities, from cross-attention + DTW */
  uint64_t seed;                 /* for sampling */
  int max_windows;               /* stop after this many 30-s windows; 0: the whole input (live dictation
                                    decodes one window per step) */
  float short_window_pad_s;      /* 0: every window is encoded as 30 s (the audio padded), as the model was
                                    trained and the reference decodes. > 0: a last window holding less
                                    audio is encoded at its length plus this much of the padding: a few
                                    seconds of speech (live dictation) encode several times faster, a
                                    little less accurately (aud_whisper_encode) */

  /* Called on the calling thread. */
  void (*on_segment)(const aud_segment *seg, void *user_data);    /* each segment as soon as decoded */
  void (*on_progress)(double done_s, double total_s, void *user_data); /* total_s < 0: unknown */
  int (*should_abort)(void *user_data);                           /* non-zero: stop (KERN_E_ABORTED) */
  void (*on_warning)(const char *message, void *user_data);       /* damaged input, decoded as far as possible */
  void *user_data;
} aud_transcribe_params;

aud_transcribe_params aud_transcribe_default_params(void);

/* Transcribes an audio or video file into *out (initialized by the caller
 * with aud_transcript_init). On failure returns a negative code and sets *err
 * (malloc'd) naming the file; segments decoded before the failure stay in *out. */
int aud_transcribe_file(aud_whisper *w, const aud_tokenizer *tok, const char *path, const aud_transcribe_params *p,
                        aud_transcript *out, char **err);

/* The same over 16 kHz mono samples in memory. */
int aud_transcribe_samples(aud_whisper *w, const aud_tokenizer *tok, const float *samples, size_t n,
                           const aud_transcribe_params *p, aud_transcript *out, char **err);

/* Detects the spoken language of a 30-s log-mel window (3000 frames, already
 * encoded or not: this encodes it). Writes the code ("en") to code (>= 8
 * bytes) and its probability to *prob. Multilingual models only. */
int aud_detect_language(aud_whisper *w, const aud_tokenizer *tok, const float *mel, char *code, float *prob,
                        char **err);

/* zlib compression ratio of text, as the reference's fallback rule uses it. */
float aud_compression_ratio(const char *text);
