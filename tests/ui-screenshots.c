/* ui-screenshots.c: drives the real window through its main states and saves
 * a PNG of each, in the light and the dark style (tools/screenshots runs it
 * under Xvfb; the pictures go to data/screenshots/ and the metainfo).
 *
 *   ui-screenshots OUTDIR
 *
 * States: empty (a new chat), chatting (a question and its streamed reply),
 * transcribing (a dropped audio file's job row while it runs, then its
 * transcript), captioning (a folder of photos: results as they come) and
 * preferences. The models are the window's own settings, overridden by
 * HARK_CHAT_MODEL, HARK_SPEECH_MODEL and HARK_VISION_MODEL as usual; the
 * history lives in a temporary XDG_DATA_HOME. Exits 1 when a state cannot be
 * reached (a model missing, a job that fails). */
#include <adwaita.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aud-decode.h"
#include "hark-preferences.h"
#include "hark-window.h"
#include "test-ui-util.h"
#include "test-util.h"

#define CHAT_QUESTION "What can you help me with today? Answer in three short points."

static const char *out_dir;
static int failures;

static gboolean
quit_loop(gpointer loop)
{
  g_main_loop_quit(loop);
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until *flag is set or `seconds` pass; whether it was set. */
static gboolean
wait_for(const gboolean *flag, double seconds)
{
  gint64 end = g_get_monotonic_time() + (gint64)(seconds * 1e6);
  while (!*flag && g_get_monotonic_time() < end)
    g_main_context_iteration(NULL, TRUE);
  return *flag;
}

static gboolean
frame_cb(GtkWidget *w, GdkFrameClock *clock, gpointer data)
{
  int *left = data;
  return --*left > 0 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Lets any window draw a few frames. */
static void
settle(GtkWidget *w)
{
  int left = 4;
  gtk_widget_add_tick_callback(w, frame_cb, &left, NULL);
  gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  while (left > 0 && g_get_monotonic_time() < end)
    g_main_context_iteration(NULL, TRUE);
}

static void
save(GtkWidget *native, const char *state, const char *scheme)
{
  char *name = g_strdup_printf("%s-%s.png", state, scheme), *path = g_build_filename(out_dir, name, NULL);
  GError *error = NULL;
  if (hark_native_save_png(native, path, &error)) {
    printf("%s\n", path);
  } else {
    fprintf(stderr, "ui-screenshots: %s: %s\n", path, error->message);
    g_error_free(error);
    failures++;
  }
  g_free(name), g_free(path);
}

static void
shoot(GtkWidget *native, const char *state, const char *scheme)
{
  settle(native);
  save(native, state, scheme);
}

static void
fail_state(const char *state, const char *why)
{
  fprintf(stderr, "ui-screenshots: %s: %s\n", state, why);
  failures++;
}

static void
busy_changed(GObject *chat, GParamSpec *pspec, gboolean *done)
{
  gboolean busy;
  g_object_get(chat, "busy", &busy, NULL);
  if (!busy)
    *done = TRUE;
}

static void
new_chat(HarkWindow *win)
{
  gtk_widget_activate_action(GTK_WIDGET(win), "win.new-chat", NULL);
  settle(GTK_WIDGET(win));
}

static void
chatting(HarkWindow *win, const char *scheme)
{
  new_chat(win);
  GtkTextView *view = GTK_TEXT_VIEW(test_ui_window_child(win, "composer_view"));
  gtk_text_buffer_set_text(gtk_text_view_get_buffer(view), CHAT_QUESTION, -1);
  gboolean done = FALSE;
  HarkChatController *chat = hark_window_get_chat(win);
  gulong id = g_signal_connect(chat, "notify::busy", G_CALLBACK(busy_changed), &done);
  g_signal_emit_by_name(test_ui_window_child(win, "send_button"), "clicked");
  if (!wait_for(&done, 600))
    fail_state("chatting", "no reply within 10 minutes");
  g_signal_handler_disconnect(chat, id);
  shoot(GTK_WIDGET(win), "chatting", scheme);
}

static void
job_progress(HarkJob *job, gboolean *seen)
{
  if (hark_job_get_fraction(job) > 0.05)
    *seen = TRUE;
}

static void
job_caption(HarkJob *job, const char *image, const char *caption, const char *error, gboolean *seen)
{
  *seen = TRUE;
}

static void
job_finished(HarkJob *job, gboolean *done)
{
  *done = TRUE;
}

/* A job row's job: a picture while it runs (once `mid` is set), one when done. */
static void
follow_job(HarkWindow *win, HarkJobRow *row, const char *state, const char *scheme, gboolean is_caption)
{
  if (!row) {
    fail_state(state, "the job did not start");
    return;
  }
  HarkJob *job = hark_job_row_get_job(row);
  gboolean mid = FALSE, done = hark_job_get_finished(job);
  gulong a = is_caption ? g_signal_connect(job, "caption", G_CALLBACK(job_caption), &mid)
                        : g_signal_connect(job, "progress", G_CALLBACK(job_progress), &mid);
  gulong b = g_signal_connect(job, "finished", G_CALLBACK(job_finished), &done);
  wait_for(&mid, 600);
  settle(GTK_WIDGET(win));
  if (!hark_job_get_finished(job)) /* a picture of it running, when it still is */
    save(GTK_WIDGET(win), state, scheme);
  wait_for(&done, 900);
  g_signal_handler_disconnect(job, a);
  g_signal_handler_disconnect(job, b);
  if (!done || hark_job_get_error(job)) {
    fail_state(state, done ? hark_job_get_error(job)->message : "the job did not end");
    return;
  }
  char *after = g_strconcat(state, "-done", NULL);
  shoot(GTK_WIDGET(win), after, scheme);
  g_free(after);
}

static void
transcribing(HarkWindow *win, const char *audio, const char *scheme)
{
  new_chat(win);
  follow_job(win, hark_window_transcribe(win, audio), "transcribing", scheme, FALSE);
}

static void
captioning(HarkWindow *win, const char *folder, const char *scheme)
{
  new_chat(win);
  follow_job(win, hark_window_caption_folder(win, folder, APP_CAPTION_TXT), "captioning", scheme, TRUE);
}

static void
preferences(HarkWindow *win, const char *scheme)
{
  HarkPreferencesWindow *prefs = hark_preferences_window_new(GTK_WINDOW(win));
  gtk_window_present(GTK_WINDOW(prefs));
  settle(GTK_WIDGET(prefs));
  shoot(GTK_WIDGET(prefs), "preferences", scheme);
  gtk_window_destroy(GTK_WINDOW(prefs));
}

/* The sample said `times` times with `gap_s` seconds of silence after each,
 * as a 16-bit WAV at `path`: long enough to show the job row while it runs. */
static gboolean
long_audio(const char *sample, int times, int gap_s, const char *path)
{
  char *err = NULL;
  aud_decoder *d = aud_decoder_open(sample, NULL, &err);
  if (!d) {
    fprintf(stderr, "ui-screenshots: %s\n", err);
    free(err);
    return FALSE;
  }
  GArray *pcm = g_array_new(FALSE, FALSE, sizeof(gint16));
  float buf[4096];
  size_t got;
  while (aud_decoder_read(d, buf, G_N_ELEMENTS(buf), &got) == 0 && got > 0)
    for (size_t i = 0; i < got; i++) {
      gint16 v = (gint16)CLAMP(buf[i] * 32767.0f, -32768.0f, 32767.0f);
      g_array_append_val(pcm, v);
    }
  aud_decoder_close(d);
  guint n1 = pcm->len;
  GString *wav = g_string_new(NULL);
  guint gap = 16000u * (guint)gap_s;
  guint32 data = (guint32)((n1 + gap) * (guint)times * 2);
  guint32 hdr[] = { 0x46464952, 36 + data, 0x45564157, 0x20746d66, 16, 0x00010001, 16000, 32000, 0x00100002,
                    0x61746164, data }; /* RIFF, WAVE, fmt: PCM mono 16 kHz 16-bit, data */
  g_string_append_len(wav, (const char *)hdr, sizeof hdr);
  for (int t = 0; t < times; t++) {
    g_string_append_len(wav, (const char *)pcm->data, (gssize)n1 * 2);
    for (guint k = 0; k < gap; k++)
      g_string_append_len(wav, "\0\0", 2);
  }
  gboolean ok = g_file_set_contents(path, wav->str, (gssize)wav->len, NULL);
  g_string_free(wav, TRUE);
  g_array_free(pcm, TRUE);
  return ok;
}

/* A folder of photos (fresh for each run: captions are resumed otherwise). */
static char *
photo_folder(const char *src_dir)
{
  static const char *const photos[] = { "pre-hopper.png", "pre-chelsea.png", "pre-coffee.png", "dec-rgb.jpg",
                                        "orient-6.jpg", "dec-rgb.png" };
  char *dir = g_dir_make_tmp("hark-photos-XXXXXX", NULL);
  for (size_t i = 0; i < 4 * G_N_ELEMENTS(photos); i++) { /* four of each: time to see the job run */
    char *name = g_strdup_printf("%zu-%s", i / G_N_ELEMENTS(photos), photos[i % G_N_ELEMENTS(photos)]);
    char *from = g_build_filename(src_dir, photos[i % G_N_ELEMENTS(photos)], NULL), *to = g_build_filename(dir, name, NULL),
         *blob;
    g_free(name);
    gsize n;
    if (g_file_get_contents(from, &blob, &n, NULL)) {
      g_file_set_contents(to, blob, (gssize)n, NULL);
      g_free(blob);
    }
    g_free(from), g_free(to);
  }
  return dir;
}

int
main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: ui-screenshots OUTDIR\n");
    return 2;
  }
  out_dir = argv[1];
  g_mkdir_with_parents(out_dir, 0755);
  char *home = g_dir_make_tmp("hark-shots-XXXXXX", NULL);
  g_setenv("XDG_DATA_HOME", home, TRUE);
  if (!gtk_init_check()) {
    fprintf(stderr, "ui-screenshots: no display\n");
    return 1;
  }
  adw_init();
  const char *src = g_getenv("HARK_SOURCE_ROOT") ? g_getenv("HARK_SOURCE_ROOT") : ".";
  char *sample = g_build_filename(src, "data", "samples", "hark-intro.flac", NULL);
  char *audio = g_build_filename(home, "hark-intro-x3.wav", NULL);
  if (!long_audio(sample, 3, 8, audio))
    return 1;
  char *images = g_build_filename(src, "tests", "data", "vision", NULL);
  static const struct {
    AdwColorScheme scheme;
    const char *name;
  } schemes[] = { { ADW_COLOR_SCHEME_FORCE_LIGHT, "light" }, { ADW_COLOR_SCHEME_FORCE_DARK, "dark" } };
  for (size_t i = 0; i < G_N_ELEMENTS(schemes); i++) {
    adw_style_manager_set_color_scheme(adw_style_manager_get_default(), schemes[i].scheme);
    HarkWindow *win = hark_window_new(NULL);
    g_object_set(hark_window_get_chat(win), "temperature", 0.0, NULL);
    gtk_window_set_default_size(GTK_WINDOW(win), 1100, 760);
    gtk_window_present(GTK_WINDOW(win));
    test_ui_wait_drawn(win);
    new_chat(win);
    shoot(GTK_WIDGET(win), "empty", schemes[i].name);
    chatting(win, schemes[i].name);
    transcribing(win, audio, schemes[i].name);
    char *folder = photo_folder(images);
    captioning(win, folder, schemes[i].name);
    test_remove_tree(folder);
    g_free(folder);
    preferences(win, schemes[i].name);
    gtk_window_destroy(GTK_WINDOW(win));
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    g_timeout_add(200, quit_loop, loop);
    g_main_loop_run(loop);
    g_main_loop_unref(loop);
  }
  test_remove_tree(home);
  g_free(home), g_free(audio), g_free(sample), g_free(images);
  return failures ? 1 : 0;
}
