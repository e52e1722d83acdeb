/* aud-dictate.h: live dictation, the streaming engine behind `hark dictate`
 * and the window's microphone button.
 *
 * Audio arrives from the microphone (aud-capture.h) or from the caller
 * (aud_dictate_push), at any rate and channel count, through a lock-free
 * single-producer ring into a worker thread that resamples to 16 kHz mono,
 * reports the input level, runs voice activity detection (aud-vad.h) on
 * 32 ms chunks and decodes speech with Whisper:
 *   - silence is never decoded; an utterance starts when the VAD hears
 *     speech and ends after `pause_s` of silence;
 *   - during an utterance the window (from the last cut to now) is
 *     re-decoded every `step_s` of new audio, greedily, with the committed
 *     text as the prompt; the prefix two consecutive hypotheses agree on is
 *     committed (LocalAgreement-2) and reported as final text, the rest as
 *     partial text;
 *   - the window is cut after a committed Whisper segment, and at the end of
 *     each utterance, whose last decode commits everything; it never exceeds
 *     30 s (before that, the agreed text or, failing that, the whole
 *     hypothesis is committed and the window cut);
 *   - live, a worker that falls behind skips steps: it always decodes the
 *     newest audio.
 *
 * Threads: every callback (on_partial, on_final, on_level, on_end) is called
 * on the worker thread, never on the caller's; they must not call back into
 * this API except aud_dictate_push. A GUI posts them to its main loop.
 * The Whisper context and tokenizer belong to the worker between start and
 * stop: do not use them from another thread meanwhile.
 * Errors: 0 or a negative kern_status, with a malloc'd message through err.
 */
#pragma once

#include <stddef.h>

#include "aud-tokenizer.h"
#include "aud-whisper.h"
#include "kern-error.h"

typedef struct aud_dictate aud_dictate;

typedef struct {
  const char *language;   /* "en", ...; NULL or "auto": detected on each window (multilingual models) */
  const char *vad_model;  /* whisper.cpp Silero VAD file; NULL: the energy detector */
  float vad_threshold;    /* speech when the VAD says >= this (0.5); silence below threshold - 0.15 */
  double step_s;          /* re-decode after this much new audio (0.5) */
  double pause_s;         /* silence that ends an utterance (0.8) */
  double max_window_s;    /* longest window decoded, <= 30 (30) */
  double ring_s;          /* input the ring holds, seconds (60) */
  int realtime;           /* 1 (live): skip steps when behind; 0: decode at every step of stream time
                             however fast audio is pushed (tests, files; deterministic) */
  int no_vad;             /* 1: treat all audio as speech (benchmarks of the decoder alone) */
  float encode_pad_s;     /* > 0: each window is encoded at its length plus this much of the
                             padding instead of as 30 s (aud_transcribe_params.short_window_pad_s):
                             steps 2-4x faster on short windows, a little less accurate (10 s:
                             1-3 more words in 41 wrong through PulseAudio; below 8 s Whisper
                             invents words). 0 (default): the full 30-s encoding */
  /* All called on the worker thread. Times are seconds of stream time from the start. */
  void (*on_partial)(const char *text, void *user_data);  /* the uncommitted tail; "" clears it */
  /* Committed text, to append to the finals before it as it is: it starts
   * with a space where a new word starts (not the first, not a word going
   * on), so the transcript is the concatenation of all finals. */
  void (*on_final)(const char *text, double start, double end, void *user_data);
  void (*on_level)(float dbfs, void *user_data);          /* input RMS level, every 50 ms of audio */
  /* The session is over: status 0 after stop or the end of pushed input,
   * KERN_E_IO when the input device was lost (text so far was finalized
   * first), another code on a decoding failure; message says what happened. */
  void (*on_end)(int status, const char *message, void *user_data);
  void *user_data;
} aud_dictate_params;

aud_dictate_params aud_dictate_default_params(void);

/* A session over an open model. The VAD model is loaded here: NULL with *err
 * when vad_model is given but unreadable. w and tok must outlive the session. */
aud_dictate *aud_dictate_new(aud_whisper *w, const aud_tokenizer *tok, const aud_dictate_params *p, char **err);
/* Stops a running session (as aud_dictate_stop) and frees it; NULL is a no-op. */
void aud_dictate_free(aud_dictate *d);

/* "silero" or "energy". */
const char *aud_dictate_vad_kind(const aud_dictate *d);

/* Starts capturing from `device` (see aud_capture_open; NULL = default) and
 * the worker. KERN_E_IO with *err when the device cannot be opened. */
int aud_dictate_start(aud_dictate *d, const char *device, char **err);
/* Starts the worker for audio the caller pushes: `rate` Hz, `channels`
 * interleaved. */
int aud_dictate_start_push(aud_dictate *d, double rate, int channels, char **err);

/* Producer side (one thread, e.g. an audio callback; lock-free and
 * wait-free): queues up to `frames` frames, returns how many fit. Frames that
 * do not fit are counted as dropped (aud_dictate_dropped), even when the
 * caller pushes them again later. */
size_t aud_dictate_push(aud_dictate *d, const float *interleaved, size_t frames);
/* No more input: the worker finishes the last utterance, calls on_end(0)
 * and exits. */
void aud_dictate_end_input(aud_dictate *d);
size_t aud_dictate_dropped(const aud_dictate *d);

/* Stops capture, lets the worker decode what it has (the utterance in
 * progress is finalized), waits for it and returns the session's status.
 * Returns at once when the session already ended. */
int aud_dictate_stop(aud_dictate *d, char **err);
/* 1 while the worker runs (not yet ended by stop, end of input, a lost
 * device or an error). */
int aud_dictate_running(const aud_dictate *d);
