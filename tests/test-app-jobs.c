/* test-app-jobs.c: the job controller (no GTK) with the tests' tiny models:
 * a transcription equal to the engine's own, stored with its file and
 * segments and exported; the model kept loaded between jobs; bad files and
 * a missing model; cancelling; captioning a folder, resuming it, bad images,
 * an empty folder, cancelling midway with what was written kept. With
 * $HARK_TEST_MODELS_DIR/whisper-base-ct2, the real words of the bundled sample. */
#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app-jobs.h"
#include "app-models.h"
#include "app-transcribe.h"
#include "aud-transcribe.h"
#include "test-util.h"

static char *tmp_home, *whisper_tiny, *llava;

typedef struct {
  GPtrArray *segments; /* "start end text" */
  GPtrArray *captions; /* image paths captioned */
  guint n_failed_signals;
  int n_progress;
  int n_loaded;
  int n_history;
  HarkJob *cancel_at_first; /* cancelled at the first segment, caption or progress */
} watch;

static void
on_segment(HarkJob *job, double start, double end, const char *text, watch *w)
{
  g_assert_true(g_utf8_validate(text, -1, NULL));
  g_ptr_array_add(w->segments, g_strdup_printf("%.2f %.2f %s", start, end, text));
  if (w->cancel_at_first)
    hark_job_cancel(w->cancel_at_first);
}

static void
on_caption(HarkJob *job, const char *image, const char *caption, const char *error, watch *w)
{
  g_assert_true(g_path_is_absolute(image) || g_str_has_prefix(image, tmp_home));
  g_assert_true((caption == NULL) != (error == NULL));
  if (caption)
    g_ptr_array_add(w->captions, g_strdup(image));
  else
    w->n_failed_signals++;
  if (w->cancel_at_first)
    hark_job_cancel(w->cancel_at_first);
}

static void
on_progress(HarkJob *job, watch *w)
{
  w->n_progress++;
  double f = hark_job_get_fraction(job);
  g_assert_true(f < 0 || (f >= 0 && f <= 1));
  if (w->cancel_at_first && hark_job_get_kind(job) == HARK_JOB_TRANSCRIBE)
    hark_job_cancel(w->cancel_at_first);
}

static void
on_loaded(HarkJobController *c, const char *desc, watch *w)
{
  g_test_message("loaded %s", desc);
  w->n_loaded++;
}

static void
on_history(HarkJobController *c, gint64 conv, watch *w)
{
  w->n_history++;
}

static void
watch_job(HarkJob *job, watch *w)
{
  g_signal_connect(job, "segment", G_CALLBACK(on_segment), w);
  g_signal_connect(job, "caption", G_CALLBACK(on_caption), w);
  g_signal_connect(job, "progress", G_CALLBACK(on_progress), w);
}

/* Runs the main loop until the job finishes. */
static void
wait_job(HarkJob *job)
{
  while (!hark_job_get_finished(job))
    g_main_context_iteration(NULL, TRUE);
}

static void
watch_reset(watch *w)
{
  g_ptr_array_set_size(w->segments, 0);
  g_ptr_array_set_size(w->captions, 0);
  w->n_failed_signals = 0;
  w->n_progress = 0;
  w->cancel_at_first = NULL;
}

/* Each test: a history of its own and a controller on the tiny models. */
typedef struct {
  app_history *h;
  HarkJobController *c;
  watch w;
} fixture;

static void
fixture_setup(fixture *f, gconstpointer data)
{
  static int n;
  char *name = g_strdup_printf("history-%d.sqlite3", ++n);
  char *path = g_build_filename(tmp_home, name, NULL);
  GError *error = NULL;
  f->h = app_history_open(path, NULL, &error);
  g_assert_no_error(error);
  g_free(path), g_free(name);
  f->c = hark_job_controller_new(f->h, &error);
  g_assert_no_error(error);
  hark_job_controller_set_speech_model(f->c, whisper_tiny);
  hark_job_controller_set_vision_model(f->c, llava);
  g_object_set(f->c, "caption-max-tokens", 6, NULL);
  watch *w = &f->w;
  memset(w, 0, sizeof *w);
  w->segments = g_ptr_array_new_with_free_func(g_free);
  w->captions = g_ptr_array_new_with_free_func(g_free);
  g_signal_connect(f->c, "model-loaded", G_CALLBACK(on_loaded), w);
  g_signal_connect(f->c, "history-changed", G_CALLBACK(on_history), w);
}

static void
fixture_teardown(fixture *f, gconstpointer data)
{
  g_object_unref(f->c);
  app_history_free(f->h);
  g_ptr_array_unref(f->w.segments);
  g_ptr_array_unref(f->w.captions);
}

static char *
read_text(const char *path)
{
  char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  return text;
}

/* The engine's own transcript of `path` with `model`, as "start end text" lines. */
static GPtrArray *
engine_segments(const char *model, const char *path)
{
  aud_whisper *wh;
  aud_tokenizer *tok;
  aud_whisper_params wp = aud_whisper_default_params();
  wp.n_seq = 10;
  GError *error = NULL;
  g_assert_true(app_whisper_open(model, &wp, &wh, &tok, &error));
  aud_transcribe_params tp = aud_transcribe_default_params();
  aud_transcript tr;
  aud_transcript_init(&tr);
  char *err = NULL;
  g_assert_cmpint(aud_transcribe_file(wh, tok, path, &tp, &tr, &err), ==, 0);
  GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
  for (int i = 0; i < tr.n_segments; i++)
    g_ptr_array_add(out, g_strdup_printf("%.2f %.2f %s", tr.segments[i].start, tr.segments[i].end,
                                         tr.segments[i].text));
  aud_transcript_clear(&tr);
  aud_tokenizer_free(tok);
  aud_whisper_free(wh);
  return out;
}

static void
test_transcribe(fixture *f, gconstpointer data)
{
  app_history *h = f->h;
  HarkJobController *c = f->c;
  watch *w = &f->w;
  char *audio = g_test_build_filename(G_TEST_DIST, "..", "data", "samples", "hark-intro.flac", NULL);
  GError *error = NULL;

  HarkJob *job = hark_job_controller_transcribe(c, 0, audio);
  watch_job(job, w);
  g_assert_cmpuint(hark_job_controller_get_n_running(c), ==, 1);
  g_assert_false(hark_job_get_finished(job));
  wait_job(job);
  g_assert_null(hark_job_get_error(job));
  g_assert_cmpuint(hark_job_controller_get_n_running(c), ==, 0);
  g_assert_cmpint(w->n_progress, >, 0);
  g_assert_cmpfloat(hark_job_get_fraction(job), ==, 1.0);
  g_assert_cmpint(w->n_loaded, ==, 1);
  g_assert_cmpint(w->n_history, ==, 1);

  /* What the engine itself makes of the file, segment by segment. */
  GPtrArray *want = engine_segments(whisper_tiny, audio);
  g_assert_cmpuint(want->len, >, 0);
  g_assert_cmpuint(w->segments->len, ==, want->len);
  for (guint i = 0; i < want->len; i++)
    g_assert_cmpstr(w->segments->pdata[i], ==, want->pdata[i]);

  /* Stored: a new conversation named after the file, the text, the file, the segments. */
  gint64 conv = hark_job_get_conversation(job);
  g_assert_cmpint(conv, >, 0);
  app_conversation *cv = app_history_get_conversation(h, conv, &error);
  g_assert_cmpstr(cv->title, ==, "hark-intro.flac");
  app_conversation_free(cv);
  GPtrArray *msgs = app_history_messages(h, conv, &error);
  g_assert_cmpuint(msgs->len, ==, 1);
  app_message *m = msgs->pdata[0];
  g_assert_true(app_message_is_transcript(m));
  g_assert_cmpint(m->id, ==, hark_job_get_message_id(job));
  g_assert_cmpstr(m->text, ==, hark_job_get_text(job));
  g_assert_cmpstr(((app_attachment *)m->attachments->pdata[0])->path, ==, audio);
  g_assert_cmpuint(strlen(((app_attachment *)m->attachments->pdata[0])->sha256), ==, 64);
  GPtrArray *segs = app_history_segments(h, m->id, &error);
  g_assert_cmpuint(segs->len, ==, want->len);
  for (guint i = 0; i < segs->len; i++) {
    app_segment *s = segs->pdata[i];
    char *line = g_strdup_printf("%.2f %.2f %s", s->start, s->end, s->text);
    g_assert_cmpstr(line, ==, want->pdata[i]);
    g_free(line);
  }

  /* Exported as SRT: one numbered cue per segment. */
  char *srt = g_build_filename(tmp_home, "out.srt", NULL);
  g_assert_true(hark_job_controller_save_transcript(c, m->id, AUD_FORMAT_SRT, srt, &error));
  g_assert_no_error(error);
  char *text = read_text(srt);
  g_assert_true(g_str_has_prefix(text, "1\n00:00:"));
  g_assert_nonnull(strstr(text, " --> "));
  char *cue = g_strdup_printf("\n%u\n", segs->len);
  g_assert_true(segs->len == 1 || strstr(text, cue));
  g_free(cue), g_free(text);
  /* An unknown message has no transcript to export; a folder that is not there, no file. */
  char *json = g_build_filename(tmp_home, "no-such-dir", "out.json", NULL);
  g_assert_false(hark_job_controller_save_transcript(c, m->id, AUD_FORMAT_JSON, json, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  g_free(json);
  g_ptr_array_unref(segs);
  g_ptr_array_unref(msgs);

  /* Again into the same conversation: the model is still loaded. */
  watch_reset(w);
  HarkJob *again = hark_job_controller_transcribe(c, conv, audio);
  watch_job(again, w);
  wait_job(again);
  g_assert_null(hark_job_get_error(again));
  g_assert_cmpint(w->n_loaded, ==, 1);
  g_assert_cmpint(hark_job_get_conversation(again), ==, conv);
  msgs = app_history_messages(h, conv, &error);
  g_assert_cmpuint(msgs->len, ==, 2);
  g_ptr_array_unref(msgs);

  g_ptr_array_unref(want);
  g_object_unref(again);
  g_object_unref(job);
  g_free(srt), g_free(audio);
}

/* Writes `seconds` of a quiet 16 kHz tone as a WAV file. */
static char *
long_wav(double seconds)
{
  guint n = (guint)(seconds * 16000);
  GByteArray *b = g_byte_array_new();
  guint32 data_len = n * 2, riff_len = 36 + data_len, rate = 16000, byte_rate = 32000, fmt_len = 16;
  guint16 pcm = 1, mono = 1, align = 2, bits = 16;
  g_byte_array_append(b, (const guint8 *)"RIFF", 4);
  g_byte_array_append(b, (const guint8 *)&riff_len, 4);
  g_byte_array_append(b, (const guint8 *)"WAVEfmt ", 8);
  g_byte_array_append(b, (const guint8 *)&fmt_len, 4);
  g_byte_array_append(b, (const guint8 *)&pcm, 2);
  g_byte_array_append(b, (const guint8 *)&mono, 2);
  g_byte_array_append(b, (const guint8 *)&rate, 4);
  g_byte_array_append(b, (const guint8 *)&byte_rate, 4);
  g_byte_array_append(b, (const guint8 *)&align, 2);
  g_byte_array_append(b, (const guint8 *)&bits, 2);
  g_byte_array_append(b, (const guint8 *)"data", 4);
  g_byte_array_append(b, (const guint8 *)&data_len, 4);
  for (guint i = 0; i < n; i++) {
    gint16 v = (gint16)(3000 * sin(2 * G_PI * 440 * i / 16000.0) * (1 + (i / 8000) % 3));
    g_byte_array_append(b, (const guint8 *)&v, 2);
  }
  char *path = g_build_filename(tmp_home, "long.wav", NULL);
  g_assert_true(g_file_set_contents(path, (const char *)b->data, b->len, NULL));
  g_byte_array_unref(b);
  return path;
}

static void
test_transcribe_errors_and_cancel(fixture *f, gconstpointer data)
{
  app_history *h = f->h;
  HarkJobController *c = f->c;
  watch *w = &f->w;
  GError *error = NULL;
  gint64 conv = app_history_new_conversation(h, "errors", &error);

  /* Files that are not audio, empty, cut in the header, or not there: the
   * engine's message naming the file, nothing stored. */
  const char *bad[] = { "text.wav", "header-only.wav", "image.png", "video-noaudio.mp4", "no-such-file.wav" };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    char *path = g_test_build_filename(G_TEST_DIST, "data", "audio", bad[i], NULL);
    HarkJob *job = hark_job_controller_transcribe(c, conv, path);
    wait_job(job);
    const GError *e = hark_job_get_error(job);
    g_assert_nonnull(e);
    g_test_message("%s: %s", bad[i], e->message);
    g_assert_true(g_error_matches(e, G_IO_ERROR, G_IO_ERROR_FAILED));
    g_assert_nonnull(strstr(e->message, bad[i]));
    g_object_unref(job);
    g_free(path);
  }
  GPtrArray *msgs = app_history_messages(h, conv, &error);
  g_assert_cmpuint(msgs->len, ==, 0);
  g_ptr_array_unref(msgs);

  /* A catalog model that is not installed (this test's XDG_DATA_HOME has none). */
  char *audio = g_test_build_filename(G_TEST_DIST, "data", "audio", "sig-16k-mono-s16.wav", NULL);
  hark_job_controller_set_speech_model(c, "whisper-tiny");
  HarkJob *job = hark_job_controller_transcribe(c, conv, audio);
  wait_job(job);
  g_assert_true(g_error_matches(hark_job_get_error(job), APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED));
  g_assert_cmpstr(hark_job_get_model(job), ==, "whisper-tiny");
  g_object_unref(job);
  hark_job_controller_set_speech_model(c, whisper_tiny);

  /* Cancelled before it starts, and midway through ten minutes of audio. */
  job = hark_job_controller_transcribe(c, conv, audio);
  hark_job_cancel(job);
  wait_job(job);
  g_assert_true(g_error_matches(hark_job_get_error(job), G_IO_ERROR, G_IO_ERROR_CANCELLED));
  g_object_unref(job);
  char *wav = long_wav(600);
  job = hark_job_controller_transcribe(c, conv, wav);
  watch_reset(w);
  w->cancel_at_first = job;
  watch_job(job, w);
  wait_job(job);
  g_assert_true(g_error_matches(hark_job_get_error(job), G_IO_ERROR, G_IO_ERROR_CANCELLED));
  g_assert_cmpfloat(hark_job_get_fraction(job), <, 1.0); /* stopped before the end */
  g_object_unref(job);
  msgs = app_history_messages(h, conv, &error);
  g_assert_cmpuint(msgs->len, ==, 0);
  g_ptr_array_unref(msgs);

  /* The controller still works after all that. */
  job = hark_job_controller_transcribe(c, conv, audio);
  wait_job(job);
  g_assert_null(hark_job_get_error(job));
  g_assert_cmpint(hark_job_get_message_id(job), >, 0);
  g_object_unref(job);

  /* Shut down: a job started now ends at once, cancelled, and writes nothing. */
  hark_job_controller_shutdown(c);
  job = hark_job_controller_transcribe(c, conv, audio);
  wait_job(job);
  g_assert_true(g_error_matches(hark_job_get_error(job), G_IO_ERROR, G_IO_ERROR_CANCELLED));
  g_object_unref(job);

  g_unlink(wav);
  g_free(wav), g_free(audio);
}

/* A fresh folder with copies of the test images (and anything else given). */
static char *
image_folder(const char *name, guint n_images)
{
  static const char *const sources[] = { "pre-hopper.png", "pre-chelsea.png", "pre-coffee.png", "dec-rgb.jpg" };
  char *dir = g_build_filename(tmp_home, name, NULL);
  test_remove_tree(dir);
  g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
  for (guint i = 0; i < n_images; i++) {
    const char *src = sources[i % G_N_ELEMENTS(sources)];
    char *from = g_test_build_filename(G_TEST_DIST, "data", "vision", src, NULL);
    char *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(from, &data, &len, NULL));
    char *to_name = g_strdup_printf("img%02u%s", i, strrchr(src, '.'));
    char *to = g_build_filename(dir, to_name, NULL);
    g_assert_true(g_file_set_contents(to, data, (gssize)len, NULL));
    g_free(from), g_free(data), g_free(to_name), g_free(to);
  }
  return dir;
}

static guint
count_files(const char *dir, const char *suffix)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  g_assert_nonnull(d);
  guint n = 0;
  const char *name;
  while ((name = g_dir_read_name(d)))
    n += g_str_has_suffix(name, suffix);
  g_dir_close(d);
  return n;
}

static void
test_caption(fixture *f, gconstpointer data)
{
  HarkJobController *c = f->c;
  watch *w = &f->w;
  char *dir = image_folder("three", 3);

  HarkJob *job = hark_job_controller_caption(c, dir, APP_CAPTION_TXT);
  watch_job(job, w);
  wait_job(job);
  g_assert_null(hark_job_get_error(job));
  g_assert_cmpuint(w->captions->len, ==, 3);
  g_assert_cmpuint(hark_job_get_n_total(job), ==, 3);
  g_assert_cmpuint(hark_job_get_n_done(job), ==, 3);
  g_assert_cmpuint(hark_job_get_n_captioned(job), ==, 3);
  g_assert_null(hark_job_get_output(job));
  g_assert_cmpuint(count_files(dir, ".txt"), ==, 3);
  g_assert_cmpint(w->n_loaded, ==, 1);
  /* Each sidecar holds its caption. */
  char *side = g_build_filename(dir, "img00.txt", NULL);
  char *text = read_text(side);
  g_assert_cmpuint(strlen(text), >, 1);
  g_assert_true(g_str_has_suffix(text, "\n"));
  g_free(text), g_free(side);
  g_object_unref(job);

  /* Again: everything is captioned already (the model stays loaded). */
  watch_reset(w);
  job = hark_job_controller_caption(c, dir, APP_CAPTION_TXT);
  watch_job(job, w);
  wait_job(job);
  g_assert_null(hark_job_get_error(job));
  g_assert_cmpuint(hark_job_get_n_skipped(job), ==, 3);
  g_assert_cmpuint(w->captions->len, ==, 0);
  g_assert_cmpint(w->n_loaded, ==, 1);
  g_object_unref(job);

  /* JSONL, with a file that is not an image under an image's name: reported, the rest go on. */
  char *broken = g_build_filename(dir, "broken.png", NULL);
  g_assert_true(g_file_set_contents(broken, "not a png", -1, NULL));
  watch_reset(w);
  job = hark_job_controller_caption(c, dir, APP_CAPTION_JSONL);
  watch_job(job, w);
  wait_job(job);
  g_assert_null(hark_job_get_error(job));
  g_assert_cmpuint(hark_job_get_n_captioned(job), ==, 3);
  g_assert_cmpuint(hark_job_get_n_failed(job), ==, 1);
  g_assert_cmpuint(w->n_failed_signals, ==, 1);
  char *jsonl = g_build_filename(dir, "captions.jsonl", NULL);
  g_assert_cmpstr(hark_job_get_output(job), ==, jsonl);
  text = read_text(jsonl);
  char **lines = g_strsplit(g_strstrip(text), "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), ==, 3);
  g_assert_true(g_str_has_prefix(lines[0], "{\"file\": \"img00.png\", \"caption\": "));
  g_strfreev(lines);
  g_free(text), g_free(jsonl), g_free(broken);
  g_object_unref(job);

  /* A folder with no images, and a path that is not a folder. */
  char *empty = g_build_filename(tmp_home, "no-images", NULL);
  g_mkdir_with_parents(empty, 0700);
  char *note = g_build_filename(empty, "notes.txt", NULL);
  g_file_set_contents(note, "hello", -1, NULL);
  job = hark_job_controller_caption(c, empty, APP_CAPTION_TXT);
  wait_job(job);
  g_assert_true(g_error_matches(hark_job_get_error(job), G_IO_ERROR, G_IO_ERROR_NOT_FOUND));
  g_object_unref(job);
  job = hark_job_controller_caption(c, note, APP_CAPTION_TXT);
  wait_job(job);
  g_assert_true(g_error_matches(hark_job_get_error(job), G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY));
  g_object_unref(job);
  g_free(note), g_free(empty);

  test_remove_tree(dir);
  g_free(dir);
}

static void
test_caption_cancel(fixture *f, gconstpointer data)
{
  HarkJobController *c = f->c;
  watch *w = &f->w;
  char *dir = image_folder("many", 16);
  HarkJob *job = hark_job_controller_caption(c, dir, APP_CAPTION_TXT);
  w->cancel_at_first = job;
  watch_job(job, w);
  wait_job(job);
  g_assert_true(g_error_matches(hark_job_get_error(job), G_IO_ERROR, G_IO_ERROR_CANCELLED));
  guint n = hark_job_get_n_captioned(job);
  g_test_message("stopped after %u of 16", n);
  g_assert_cmpuint(n, >=, 1);
  g_assert_cmpuint(n, <, 16);
  /* What was written is kept, and a new job goes on from there. */
  g_assert_cmpuint(count_files(dir, ".txt"), ==, n);
  g_object_unref(job);
  watch_reset(w);
  job = hark_job_controller_caption(c, dir, APP_CAPTION_TXT);
  watch_job(job, w);
  wait_job(job);
  g_assert_null(hark_job_get_error(job));
  g_assert_cmpuint(hark_job_get_n_skipped(job), ==, n);
  g_assert_cmpuint(hark_job_get_n_captioned(job), ==, 16 - n);
  g_assert_cmpuint(count_files(dir, ".txt"), ==, 16);
  g_object_unref(job);
  test_remove_tree(dir);
  g_free(dir);
}

/* The real whisper-base on the bundled sample (espeak-ng reading a known sentence). */
static void
test_real_words(fixture *f, gconstpointer data)
{
  const char *root = g_getenv("HARK_TEST_MODELS_DIR");
  char *model = root ? g_build_filename(root, "whisper-base-ct2", NULL) : NULL;
  if (!model || !g_file_test(model, G_FILE_TEST_IS_DIR)) {
    g_test_skip("no real model: set HARK_TEST_MODELS_DIR (tools/test installs whisper-base there)");
    g_free(model);
    return;
  }
  HarkJobController *c = f->c;
  hark_job_controller_set_speech_model(c, model);
  char *audio = g_test_build_filename(G_TEST_DIST, "..", "data", "samples", "hark-intro.flac", NULL);
  HarkJob *job = hark_job_controller_transcribe(c, 0, audio);
  wait_job(job);
  g_assert_null(hark_job_get_error(job));
  g_test_message("%s", hark_job_get_text(job));
  char *lower = g_utf8_strdown(hark_job_get_text(job), -1);
  g_assert_nonnull(strstr(lower, "vision assistant"));
  g_assert_nonnull(strstr(lower, "transcribes audio and video files"));
  g_free(lower);
  g_object_unref(job);
  g_free(audio), g_free(model);
}

int
main(int argc, char **argv)
{
  tmp_home = g_dir_make_tmp("hark-jobs-XXXXXX", NULL);
  g_setenv("XDG_DATA_HOME", tmp_home, TRUE); /* no installed models */
  g_test_init(&argc, &argv, NULL);
  whisper_tiny = g_test_build_filename(G_TEST_DIST, "data", "whisper", "tiny-en", NULL);
  llava = g_test_build_filename(G_TEST_DIST, "data", "vision", "llm-f32.gguf", NULL);
  g_test_add("/app/jobs/transcribe", fixture, NULL, fixture_setup, test_transcribe, fixture_teardown);
  g_test_add("/app/jobs/transcribe-errors-and-cancel", fixture, NULL, fixture_setup, test_transcribe_errors_and_cancel,
             fixture_teardown);
  g_test_add("/app/jobs/caption", fixture, NULL, fixture_setup, test_caption, fixture_teardown);
  g_test_add("/app/jobs/caption-cancel", fixture, NULL, fixture_setup, test_caption_cancel, fixture_teardown);
  g_test_add("/app/jobs/real-words", fixture, NULL, fixture_setup, test_real_words, fixture_teardown);
  int rc = g_test_run();
  test_remove_tree(tmp_home);
  g_free(whisper_tiny), g_free(llava), g_free(tmp_home);
  return rc;
}
