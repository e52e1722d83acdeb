/* dictate-fixture.h: real speech for the dictation tests and benchmark.
 *
 * Asterisk prompts (Debian's asterisk-core-sounds-en-wav) joined with
 * silences, their transcripts from asterisk-core-sounds-en, and a word error
 * rate (word-level Levenshtein after lowercasing and dropping punctuation). */
#pragma once

#include <stddef.h>

#define FIXTURE_SOUNDS "/usr/share/asterisk/sounds/en"
#define FIXTURE_TRANSCRIPTS "/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
#define FIXTURE_MAX_PROMPTS 16

typedef struct {
  char name[64];
  char *text;         /* the transcript */
  double start, end;  /* where the prompt lies in the joined audio, seconds */
} fixture_prompt;

typedef struct {
  float *samples;     /* mono at `rate` */
  size_t n;
  int rate;
  fixture_prompt prompts[FIXTURE_MAX_PROMPTS];
  int n_prompts;
  char *reference;    /* all transcripts, space-joined */
} fixture;

/* The prompts `names` at `rate` Hz after lead_s of silence, each followed by
 * gap_s of silence. 0, or -1 with *why (static) when a package is missing
 * or a file unreadable. */
int fixture_build(fixture *f, const char *const *names, int n, int rate, double lead_s, double gap_s,
                  const char **why);
void fixture_clear(fixture *f);
/* Writes f as a 16-bit mono WAV. 0 or -1. */
int fixture_write_wav(const fixture *f, const char *path);

/* Lowercase letters and digits, single spaces; g_free() it. */
char *fixture_normalize(const char *s);
/* Word error rate of hyp against ref, in percent (after normalizing both). */
double fixture_wer(const char *ref, const char *hyp);

/* $HARK_TEST_MODELS_DIR/whisper-base-ct2, or NULL when it is not there; g_free. */
char *fixture_whisper_dir(void);
/* The Silero VAD file of ../shared/data/ggml-format (beside $HARK_SOURCE_ROOT),
 * or NULL when it is not there; g_free. */
char *fixture_vad_path(void);
