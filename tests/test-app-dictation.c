/* test-app-dictation.c: HarkDictationController without GTK (the `models`
 * suite): real speech (Debian's asterisk prompts, written as a WAV file)
 * played into a session with $HARK_TEST_MODELS_DIR/whisper-base-ct2; the
 * committed text has the prompts' words, partials and levels come on the
 * main thread, a second session reuses the loaded model. Errors end a
 * session with a GError and leave the controller usable: a catalog model
 * not installed, an unreadable file, a microphone that is not there. */
#include <glib/gstdio.h>
#include <string.h>

#include "app-dictation.h"
#include "app-models.h"
#include "dictate-fixture.h"
#include "test-util.h"

static char *tmp_home, *model_dir, *vad_path;

typedef struct {
  GThread *main_thread;
  GString *finals;
  char *partial;
  int n_partials, n_nonempty_partials, n_levels, n_ended, n_loaded;
  GError *error;
} events;

static void
partial_cb(HarkDictationController *c, const char *text, events *e)
{
  g_assert_true(g_thread_self() == e->main_thread);
  g_assert_true(hark_dictation_controller_get_active(c));
  e->n_partials++;
  e->n_nonempty_partials += text[0] != '\0';
  g_free(e->partial);
  e->partial = g_strdup(text);
}

static void
final_cb(HarkDictationController *c, const char *text, events *e)
{
  g_assert_true(g_thread_self() == e->main_thread);
  g_string_append(e->finals, text);
}

static void
level_cb(HarkDictationController *c, double dbfs, events *e)
{
  g_assert_cmpfloat(dbfs, <=, 0.5);
  e->n_levels++;
}

static void
ended_cb(HarkDictationController *c, const GError *error, events *e)
{
  g_assert_true(g_thread_self() == e->main_thread);
  g_assert_false(hark_dictation_controller_get_active(c));
  e->n_ended++;
  g_clear_error(&e->error);
  e->error = error ? g_error_copy(error) : NULL;
}

static void
loaded_cb(HarkDictationController *c, const char *description, events *e)
{
  e->n_loaded++;
}

static HarkDictationController *
new_controller(events *e)
{
  GError *error = NULL;
  HarkDictationController *c = hark_dictation_controller_new(&error);
  g_assert_no_error(error);
  g_object_set(c, "model", model_dir, "device", "cpu", "language", "en", "vad-model", vad_path, NULL);
  memset(e, 0, sizeof *e);
  e->main_thread = g_thread_self();
  e->finals = g_string_new("");
  g_signal_connect(c, "partial", G_CALLBACK(partial_cb), e);
  g_signal_connect(c, "final", G_CALLBACK(final_cb), e);
  g_signal_connect(c, "level", G_CALLBACK(level_cb), e);
  g_signal_connect(c, "ended", G_CALLBACK(ended_cb), e);
  g_signal_connect(c, "model-loaded", G_CALLBACK(loaded_cb), e);
  return c;
}

static void
clear_events(events *e)
{
  g_string_free(e->finals, TRUE);
  g_free(e->partial);
  g_clear_error(&e->error);
}

static void
wait_ended(events *e, int n)
{
  while (e->n_ended < n)
    g_main_context_iteration(NULL, TRUE);
}

static gboolean
need_model(void)
{
  if (!model_dir) {
    g_test_skip("set HARK_TEST_MODELS_DIR to a folder with whisper-base-ct2 (tools/test does)");
    return FALSE;
  }
  return TRUE;
}

/* Two prompts after a second of silence, as a WAV file; NULL (skipped) without the sounds. */
static char *
speech_wav(fixture *f)
{
  static const char *const prompts[] = { "tt-weasels", "vm-nobodyavail" };
  const char *why = NULL;
  if (fixture_build(f, prompts, G_N_ELEMENTS(prompts), 16000, 1.0, 1.5, &why)) {
    g_test_skip(why);
    return NULL;
  }
  char *wav = g_build_filename(tmp_home, "speech.wav", NULL);
  g_assert_cmpint(fixture_write_wav(f, wav), ==, 0);
  return wav;
}

static void
test_file(void)
{
  if (!need_model())
    return;
  fixture f;
  char *wav = speech_wav(&f);
  if (!wav)
    return;
  events e;
  HarkDictationController *c = new_controller(&e);
  hark_dictation_controller_start_file(c, wav);
  g_assert_true(hark_dictation_controller_get_active(c));
  hark_dictation_controller_start_file(c, wav); /* ignored while active */
  wait_ended(&e, 1);
  g_assert_no_error(e.error);
  double wer = fixture_wer(f.reference, e.finals->str);
  g_test_message("reference: %s", f.reference);
  g_test_message("dictated:  %s (WER %.1f%%, %d partials, %d levels, VAD %s)", e.finals->str, wer, e.n_partials,
                 e.n_levels, vad_path ? "silero" : "energy");
  g_assert_cmpfloat(wer, <=, 25.0);
  g_assert_cmpint(e.n_nonempty_partials, >, 0);
  g_assert_cmpstr(e.partial, ==, ""); /* everything was committed at the end */
  /* One level report per 50 ms of audio. */
  g_assert_cmpint(ABS(e.n_levels - (int)((double)f.n / f.rate * 20)), <=, 2);
  g_assert_cmpint(e.n_loaded, ==, 1);

  /* Again: the model stays loaded; the same audio gives the same text. */
  char *first = g_strdup(e.finals->str);
  g_string_truncate(e.finals, 0);
  hark_dictation_controller_start_file(c, wav);
  wait_ended(&e, 2);
  g_assert_no_error(e.error);
  g_assert_cmpint(e.n_loaded, ==, 1);
  g_assert_cmpstr(e.finals->str, ==, first);

  /* Stopped at once: the session ends cleanly, whatever it heard by then. */
  hark_dictation_controller_start_file(c, wav);
  hark_dictation_controller_stop(c);
  hark_dictation_controller_stop(c); /* once is enough */
  wait_ended(&e, 3);
  g_assert_no_error(e.error);
  g_assert_false(hark_dictation_controller_get_active(c));

  g_object_unref(c);
  clear_events(&e);
  g_free(first);
  g_unlink(wav);
  g_free(wav);
  fixture_clear(&f);
}

static void
test_errors(void)
{
  events e;
  HarkDictationController *c = new_controller(&e);
  /* A catalog model that is not installed (this test's data folder has none). */
  g_object_set(c, "model", "whisper-base", NULL);
  hark_dictation_controller_start(c);
  wait_ended(&e, 1);
  g_assert_error(e.error, APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED);
  g_object_set(c, "model", "no/such/model", NULL);
  hark_dictation_controller_start(c);
  wait_ended(&e, 2);
  g_assert_error(e.error, APP_MODELS_ERROR, APP_MODELS_ERROR_UNKNOWN);
  if (!model_dir) {
    g_object_unref(c);
    clear_events(&e);
    return;
  }
  g_object_set(c, "model", model_dir, NULL);
  /* Not audio: a clear error, no text. */
  char *not_audio = g_test_build_filename(G_TEST_DIST, "data", "audio", "text.wav", NULL);
  hark_dictation_controller_start_file(c, not_audio);
  wait_ended(&e, 3);
  g_assert_error(e.error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_test_message("not audio: %s", e.error->message);
  g_assert_cmpstr(e.finals->str, ==, "");
  /* A microphone that is not there (on a machine with no sound at all, none is). */
  g_object_set(c, "input", "no such microphone 4711", NULL);
  hark_dictation_controller_start(c);
  wait_ended(&e, 4);
  g_assert_error(e.error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_test_message("no microphone: %s", e.error->message);
  g_assert_false(hark_dictation_controller_get_active(c));
  g_object_unref(c);
  clear_events(&e);
  g_free(not_audio);
}

static void
test_vad_lookup(void)
{
  char *given = app_dictation_find_vad_model("/x/vad.bin");
  g_assert_cmpstr(given, ==, "/x/vad.bin");
  char *saved = g_strdup(g_getenv("HARK_VAD_MODEL"));
  g_unsetenv("HARK_VAD_MODEL");
  g_assert_null(app_dictation_find_vad_model(""));
  /* One in the models folder is found. */
  char *root = app_models_root();
  g_assert_cmpint(g_mkdir_with_parents(root, 0700), ==, 0);
  char *vad = g_build_filename(root, "ggml-silero-vad.bin", NULL);
  g_assert_true(g_file_set_contents(vad, "x", 1, NULL));
  char *found = app_dictation_find_vad_model(NULL);
  g_assert_cmpstr(found, ==, vad);
  g_unlink(vad);
  g_setenv("HARK_VAD_MODEL", "/env/vad.bin", TRUE);
  char *env = app_dictation_find_vad_model(NULL);
  g_assert_cmpstr(env, ==, "/env/vad.bin");
  if (saved)
    g_setenv("HARK_VAD_MODEL", saved, TRUE);
  else
    g_unsetenv("HARK_VAD_MODEL");
  g_free(env), g_free(found), g_free(given), g_free(vad), g_free(root), g_free(saved);
}

int
main(int argc, char **argv)
{
  tmp_home = g_dir_make_tmp("hark-dictation-XXXXXX", NULL);
  g_setenv("XDG_DATA_HOME", tmp_home, TRUE);
  g_test_init(&argc, &argv, NULL);
  model_dir = fixture_whisper_dir();
  vad_path = fixture_vad_path();

  g_test_add_func("/app/dictation/vad-lookup", test_vad_lookup);
  g_test_add_func("/app/dictation/errors", test_errors);
  g_test_add_func("/app/dictation/file", test_file);
  int rc = g_test_run();
  test_remove_tree(tmp_home);
  g_free(model_dir), g_free(vad_path);
  return rc;
}
