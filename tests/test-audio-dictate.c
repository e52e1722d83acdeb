/* test-audio-dictate.c: the dictation engine on real speech with real
 * Whisper weights (the `models` suite), fed through its push API.
 *
 * Needs $HARK_TEST_MODELS_DIR/whisper-base-ct2, Debian's asterisk sounds and
 * the Silero VAD file (../shared/data/ggml-format; the energy detector is
 * tested where it is missing); skips with a message without them.
 * Checks: the committed text's WER against the prompts' transcripts is at
 * most 5 points above transcribing the same audio as a file; no text in the
 * silences between prompts (final events lie inside the prompts); silence
 * and noise alone give no events at all; input that ends mid-sentence keeps
 * what was said; bad arguments are errors. */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "aud-dictate.h"
#include "aud-resample.h"
#include "aud-transcribe.h"
#include "dictate-fixture.h"

static aud_whisper *model;
static aud_tokenizer *tok;
static char *skip_reason;
static char *vad_path;

/* With Silero: short prompts and a 25-s one (a long utterance: window cuts).
 * The energy detector: the short ones (the test takes minutes per prompt set). */
static const char *const prompts[] = { "tt-weasels", "vm-nobodyavail", "agent-pass", "conf-onlyperson",
                                       "demo-congrats" };
#define N_SHORT 4

typedef struct {
  GMutex lock;
  GString *text;      /* finals, space-joined */
  GArray *finals;     /* (start, end) pairs */
  int n_partials, n_nonempty_partials, n_levels, ended, end_status;
  GString *partials;  /* every non-empty partial, for messages */
  double max_lag;     /* the most stream time between a final's start and its emission */
} events;

static void
on_partial(const char *text, void *ud)
{
  events *e = ud;
  g_mutex_lock(&e->lock);
  e->n_partials++;
  if (text[0]) {
    e->n_nonempty_partials++;
    g_string_append_printf(e->partials, "[%s] ", text);
  }
  g_mutex_unlock(&e->lock);
}

static void
on_final(const char *text, double start, double end, void *ud)
{
  events *e = ud;
  g_mutex_lock(&e->lock);
  g_string_append(e->text, text);
  double se[2] = { start, end };
  g_array_append_vals(e->finals, se, 2);
  double now = e->n_levels * 0.05; /* stream time: one level report per 50 ms */
  if (now - start > e->max_lag)
    e->max_lag = now - start;
  g_test_message("final %.2f-%.2f: %s", start, end, text);
  g_mutex_unlock(&e->lock);
}

static void
on_level(float db, void *ud)
{
  events *e = ud;
  g_assert_true(db <= 0.5f && db >= -120.0f);
  e->n_levels++;
}

static void
on_end(int status, const char *message, void *ud)
{
  events *e = ud;
  e->ended++;
  e->end_status = status;
}

static void
events_init(events *e)
{
  memset(e, 0, sizeof *e);
  g_mutex_init(&e->lock);
  e->text = g_string_new("");
  e->partials = g_string_new("");
  e->finals = g_array_new(FALSE, FALSE, sizeof(double));
}

static void
events_clear(events *e)
{
  g_string_free(e->text, TRUE);
  g_string_free(e->partials, TRUE);
  g_array_free(e->finals, TRUE);
  g_mutex_clear(&e->lock);
}

/* Feeds samples in 20 ms blocks as fast as the ring takes them, then ends the input. */
static int
run_session_params(const float *x, size_t n, int rate, const char *vad, events *e, const aud_dictate_params *base)
{
  aud_dictate_params p = *base;
  p.language = "en";
  p.vad_model = vad;
  p.realtime = 0;
  p.on_partial = on_partial;
  p.on_final = on_final;
  p.on_level = on_level;
  p.on_end = on_end;
  p.user_data = e;
  char *err = NULL;
  aud_dictate *d = aud_dictate_new(model, tok, &p, &err);
  if (!d)
    g_error("%s", err);
  g_assert_cmpstr(aud_dictate_vad_kind(d), ==, vad ? "silero" : "energy");
  g_assert_cmpint(aud_dictate_start_push(d, rate, 1, &err), ==, 0);
  size_t block = (size_t)rate / 50;
  for (size_t off = 0; off < n;) {
    size_t k = n - off < block ? n - off : block;
    size_t took = aud_dictate_push(d, x + off, k);
    off += took;
    if (took < k)
      g_usleep(2000);
  }
  aud_dictate_end_input(d);
  while (aud_dictate_running(d))
    g_usleep(5000);
  int rc = aud_dictate_stop(d, &err);
  if (rc)
    g_error("%s", err);
  if (p.ring_s * rate >= (double)n) /* else the feeder's retries count as drops */
    g_assert_cmpuint(aud_dictate_dropped(d), ==, 0);
  aud_dictate_free(d);
  g_assert_cmpint(e->ended, ==, 1);
  return rc;
}

static int
run_session(const float *x, size_t n, int rate, const char *vad, events *e)
{
  aud_dictate_params p = aud_dictate_default_params();
  return run_session_params(x, n, rate, vad, e, &p);
}

/* Transcribes 16 kHz samples as `hark transcribe` would (beam 5). */
static GString *
file_transcription(const float *x, size_t n)
{
  aud_transcribe_params tp = aud_transcribe_default_params();
  tp.language = "en";
  aud_transcript tr;
  aud_transcript_init(&tr);
  char *err = NULL;
  if (aud_transcribe_samples(model, tok, x, n, &tp, &tr, &err))
    g_error("%s", err);
  GString *text = g_string_new("");
  for (int i = 0; i < tr.n_segments; i++)
    g_string_append(text, tr.segments[i].text);
  aud_transcript_clear(&tr);
  return text;
}

static gboolean
need_model(void)
{
  if (skip_reason) {
    g_test_skip(skip_reason);
    return FALSE;
  }
  return TRUE;
}

/* The model, and the Silero file when want_vad. */
static gboolean
need_model_vad(gboolean want_vad)
{
  if (!need_model())
    return FALSE;
  if (want_vad && !vad_path) {
    g_test_skip("no Silero VAD file at ../shared/data/ggml-format");
    return FALSE;
  }
  return TRUE;
}

static void
test_wer(gconstpointer data)
{
  const char *vad = data ? vad_path : NULL;
  if (!need_model_vad(data != NULL))
    return;
  fixture f;
  const char *why;
  /* At 8 kHz, the prompts' own rate: the engine resamples. */
  if (fixture_build(&f, prompts, vad ? (int)G_N_ELEMENTS(prompts) : N_SHORT, 8000, 2.0, 2.5, &why)) {
    g_test_skip(why);
    return;
  }
  events e;
  events_init(&e);
  gint64 t0 = g_get_monotonic_time();
  run_session(f.samples, f.n, f.rate, vad, &e);
  double el = (double)(g_get_monotonic_time() - t0) * 1e-6;

  /* The same audio as a file (16 kHz, the defaults of `hark transcribe`). */
  char *rerr = NULL;
  aud_resampler *rs = aud_resampler_new(8000, 16000, 1, true, &rerr);
  g_assert_nonnull(rs);
  float *x16 = g_new(float, f.n * 2 + 64);
  size_t used = 0, made = 0, total = 0;
  g_assert_cmpint(aud_resampler_process(rs, f.samples, f.n, &used, x16, f.n * 2 + 64, &made), ==, 0);
  total = made;
  do {
    aud_resampler_flush(rs, x16 + total, f.n * 2 + 64 - total, &made);
    total += made;
  } while (made);
  aud_resampler_free(rs);
  GString *file_text = file_transcription(x16, total);
  g_free(x16);

  double wer_live = fixture_wer(f.reference, e.text->str), wer_file = fixture_wer(f.reference, file_text->str);
  g_test_message("%.1f s of audio in %.1f s (VAD %s); WER live %.1f%%, file %.1f%%; %d partials (%d with text), "
                 "%d level reports",
                 (double)f.n / f.rate, el, vad ? "silero" : "energy", wer_live, wer_file, e.n_partials,
                 e.n_nonempty_partials, e.n_levels);
  g_test_message("live: %s", e.text->str);
  g_test_message("file: %s", file_text->str);
  g_assert_cmpfloat(wer_live, <=, wer_file + 5.0);
  g_assert_cmpint(e.n_nonempty_partials, >, 0);
  /* One level report per 50 ms of audio. */
  g_assert_cmpint(abs(e.n_levels - (int)((double)f.n / f.rate * 20)), <=, 2);
  /* No text in the silences: each final event lies within a prompt (times
   * come from Whisper's word alignment: allow 0.5 s around it). */
  for (guint i = 0; i < e.finals->len; i += 2) {
    double s = g_array_index(e.finals, double, i), en = g_array_index(e.finals, double, i + 1);
    int inside = 0;
    for (int k = 0; k < f.n_prompts; k++)
      inside |= s >= f.prompts[k].start - 0.5 && en <= f.prompts[k].end + 0.5;
    if (!inside)
      g_error("a final event at %.2f-%.2f s lies outside every prompt", s, en);
  }
  /* Whisper's silence phrases never appear (the reference has neither). */
  char *norm = fixture_normalize(e.text->str);
  g_assert_null(strstr(norm, "thank you"));
  g_free(norm);
  g_string_free(file_text, TRUE);
  events_clear(&e);
  fixture_clear(&f);
}

/* 45 s of speech in one utterance (the pause that ends one is set to 10 s):
 * the window must be cut at committed segments and text committed while it
 * is still inside a 30-s window. A ring of 1 s keeps the worker's intake
 * within about a second of what it has processed, so the level reports
 * (one per 50 ms taken in) tell the stream time of each final. Step 1 s to
 * keep the test's time in bounds. */
static void
test_long_window(void)
{
  if (!need_model_vad(TRUE))
    return;
  static const char *const two[] = { "demo-congrats", "demo-moreinfo" };
  fixture f;
  const char *why;
  if (fixture_build(&f, two, 2, 16000, 0.5, 0.0, &why)) {
    g_test_skip(why);
    return;
  }
  events e;
  events_init(&e);
  aud_dictate_params p = aud_dictate_default_params();
  p.pause_s = 10.0;
  p.step_s = 1.0;
  p.ring_s = 1.0;
  run_session_params(f.samples, f.n, f.rate, vad_path, &e, &p);
  GString *file_text = file_transcription(f.samples, f.n);
  double wer_live = fixture_wer(f.reference, e.text->str), wer_file = fixture_wer(f.reference, file_text->str);
  g_test_message("%.1f s in one utterance: %u finals, longest lag from a final's start to its commit %.1f s; WER live "
                 "%.1f%%, file %.1f%%",
                 (double)f.n / f.rate, e.finals->len / 2, e.max_lag, wer_live, wer_file);
  g_test_message("live: %s", e.text->str);
  g_test_message("file: %s", file_text->str);
  g_assert_cmpfloat(e.max_lag, <=, 30.0 + p.step_s + p.ring_s);
  g_assert_cmpfloat(wer_live, <=, wer_file + 5.0);
  g_string_free(file_text, TRUE);
  events_clear(&e);
  fixture_clear(&f);
}

/* Silence, then quiet noise: no events but level reports. */
static void
test_silence(gconstpointer data)
{
  const char *vad = data ? vad_path : NULL;
  if (!need_model_vad(data != NULL))
    return;
  size_t n = 48000 * 20;
  float *x = g_new0(float, n);
  GRand *r = g_rand_new_with_seed(11);
  for (size_t i = n / 2; i < n; i++)
    x[i] = (float)g_rand_double_range(r, -0.003, 0.003);
  g_rand_free(r);
  events e;
  events_init(&e);
  run_session(x, n, 48000, vad, &e);
  g_assert_cmpint(e.n_nonempty_partials, ==, 0);
  g_assert_cmpuint(e.finals->len, ==, 0);
  g_assert_cmpint(e.n_levels, >=, 399);
  events_clear(&e);
  g_free(x);
}

/* Input that stops in the middle of a sentence (a device lost, Ctrl-C)
 * keeps what was said. */
static void
test_cut_short(void)
{
  if (!need_model())
    return;
  static const char *const one[] = { "demo-congrats" };
  fixture f;
  const char *why;
  if (fixture_build(&f, one, 1, 16000, 0.5, 0.0, &why)) {
    g_test_skip(why);
    return;
  }
  events e;
  events_init(&e);
  size_t n = (size_t)(5.0 * f.rate); /* "Congratulations. You have successfully installed ..." */
  run_session(f.samples, n, f.rate, vad_path, &e);
  char *norm = fixture_normalize(e.text->str);
  g_test_message("cut after 5 s: %s", norm);
  g_assert_nonnull(strstr(norm, "congratulations"));
  g_assert_nonnull(strstr(norm, "you have successfully"));
  g_free(norm);
  events_clear(&e);
  fixture_clear(&f);
}

static void
test_errors(void)
{
  char *err = NULL;
  aud_dictate_params p = aud_dictate_default_params();
  g_assert_null(aud_dictate_new(NULL, NULL, &p, &err));
  g_assert_nonnull(err);
  g_free(err);
  if (!need_model())
    return;
  err = NULL;
  p.step_s = 0;
  g_assert_null(aud_dictate_new(model, tok, &p, &err));
  g_assert_nonnull(strstr(err, "out of range"));
  g_free(err);
  p = aud_dictate_default_params();
  p.vad_model = "/nonexistent/vad.bin";
  err = NULL;
  g_assert_null(aud_dictate_new(model, tok, &p, &err));
  g_assert_nonnull(strstr(err, "/nonexistent/vad.bin"));
  g_free(err);
  p = aud_dictate_default_params();
  aud_dictate *d = aud_dictate_new(model, tok, &p, &err);
  g_assert_nonnull(d);
  float x[16] = { 0 };
  g_assert_cmpuint(aud_dictate_push(d, x, 16), ==, 0); /* not started */
  err = NULL;
  g_assert_cmpint(aud_dictate_start_push(d, 0, 1, &err), ==, KERN_E_INVAL);
  g_free(err);
  err = NULL;
  g_assert_cmpint(aud_dictate_start_push(d, 16000, 1, &err), ==, 0);
  err = NULL;
  g_assert_cmpint(aud_dictate_start_push(d, 16000, 1, &err), ==, KERN_E_INVAL);
  g_free(err);
  g_assert_true(aud_dictate_running(d));
  g_assert_cmpint(aud_dictate_stop(d, NULL), ==, 0);
  g_assert_false(aud_dictate_running(d));
  g_assert_cmpint(aud_dictate_stop(d, NULL), ==, 0); /* twice is fine */
  aud_dictate_free(d);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  const char *dir = g_getenv("HARK_TEST_MODELS_DIR");
  char *path = dir ? g_build_filename(dir, "whisper-base-ct2", NULL) : NULL;
  if (!path || !g_file_test(path, G_FILE_TEST_IS_DIR)) {
    skip_reason = g_strdup("set HARK_TEST_MODELS_DIR to a folder with whisper-base-ct2 (tools/test does)");
  } else {
    aud_whisper_params wp = aud_whisper_default_params();
    wp.backend = "cpu";
    wp.n_seq = 10; /* the file transcription it is compared with uses beam 5 */
    char *err = NULL;
    model = aud_whisper_open(path, &wp, &err);
    if (!model)
      g_error("%s", err);
    tok = aud_tokenizer_from_weights(aud_whisper_get_weights(model), &err);
    if (!tok)
      g_error("%s", err);
  }
  g_free(path);
  vad_path = fixture_vad_path();

  g_test_add_data_func("/audio/dictate/wer/silero", "silero", test_wer);
  g_test_add_data_func("/audio/dictate/wer/energy", NULL, test_wer);
  g_test_add_data_func("/audio/dictate/silence/silero", "silero", test_silence);
  g_test_add_data_func("/audio/dictate/silence/energy", NULL, test_silence);
  g_test_add_func("/audio/dictate/cut-short", test_cut_short);
  g_test_add_func("/audio/dictate/long-window", test_long_window);
  g_test_add_func("/audio/dictate/errors", test_errors);
  int rc = g_test_run();
  aud_tokenizer_free(tok);
  aud_whisper_free(model);
  g_free(skip_reason);
  g_free(vad_path);
  return rc;
}
