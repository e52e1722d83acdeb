/* aud-align.h: word timestamps from cross-attention, as the reference's
 * whisper/timing.py computes them (alignment heads, normalization, median
 * filter, dynamic time warping, punctuation merging, duration heuristics).
 * Private to audio/ (used by aud-transcribe.c). */
#pragma once

#include "aud-tokenizer.h"
#include "aud-transcript.h"
#include "aud-whisper.h"

/* Adds words to segs[0..n_segs) (one 30-s window, already encoded in w):
 * sot_seq/n_sot is the start-of-transcript sequence the window was decoded
 * with, lang its language code, time_offset the window start in seconds,
 * num_frames the mel frames of audio in the window. *last_speech carries the
 * end of the previous speech across windows. May move segment starts and
 * ends to the words, as the reference does. 0 or a negative code; *err set. */
int _aud_align_words(aud_whisper *w, const aud_tokenizer *tok, const int32_t *sot_seq, int n_sot, const char *lang,
                     aud_segment *segs, int n_segs, double time_offset, int num_frames, double *last_speech,
                     char *err, size_t errsz);
