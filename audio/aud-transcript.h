/* aud-transcript.h: a transcript (segments with timestamps, optional words)
 * and its writers: plain text, SubRip (SRT), WebVTT and JSON. */
#pragma once

#include <stdint.h>
#include <stdio.h>

typedef struct {
  double start, end;  /* seconds */
  char *word;         /* with its leading space, as the tokenizer produced it */
  float probability;
} aud_word;

typedef struct {
  double start, end;  /* seconds from the start of the file */
  char *text;         /* UTF-8 */
  int32_t *tokens;    /* the text tokens (timestamps and specials removed) */
  int n_tokens;
  float avg_logprob, no_speech_prob, temperature, compression_ratio;
  aud_word *words;    /* NULL unless word timestamps were asked for */
  int n_words;
} aud_segment;

typedef struct {
  aud_segment *segments;
  int n_segments, cap_segments;
  char language[16];  /* "en", or "" when not known */
  double duration;    /* seconds of audio */
} aud_transcript;

typedef enum {
  AUD_FORMAT_TXT,
  AUD_FORMAT_SRT,
  AUD_FORMAT_VTT,
  AUD_FORMAT_JSON,
} aud_transcript_format;

void aud_transcript_init(aud_transcript *t);
void aud_transcript_clear(aud_transcript *t);
/* Appends a copy of seg (text, tokens and words are copied). 0 or KERN_E_NOMEM. */
int aud_transcript_add(aud_transcript *t, const aud_segment *seg);

/* "txt", "srt", "vtt", "json" -> format; -1 for anything else. */
int aud_transcript_format_from_name(const char *name);
const char *aud_transcript_format_ext(aud_transcript_format f);

/* Writes the transcript to an open stream. 0, or KERN_E_IO when writing fails. */
int aud_transcript_write(const aud_transcript *t, aud_transcript_format f, FILE *out);
/* Writes to `path` through a temporary file renamed into place, so a failure
 * never leaves a partial file. On error *err (malloc'd) names the path. */
int aud_transcript_save(const aud_transcript *t, aud_transcript_format f, const char *path, char **err);

/* "00:01:02,345" (SRT, comma) or "00:01:02.345" (VTT, dot) into buf (>= 16 bytes). */
char *aud_format_timestamp(double seconds, char decimal_sep, char *buf);
