/* test-ui-preferences.c: setting Hark up, under a real display (Xvfb in the
 * test run), with models installed from tests/fake-pip's wheels into a
 * temporary data folder. The preferences: the catalog's rows, Install with
 * its progress, Remove after the confirmation, a failing install, the rows
 * bound to the settings. The welcome page: shown with no model, installs
 * the defaults, gone once they are there. Dictation into the composer: real
 * speech played into the microphone's session with whisper-base-ct2
 * ($HARK_TEST_MODELS_DIR; skipped without it), partial text dimmed, final
 * text kept; a speech model not installed leaves the window usable. */
#include "hark-config.h"

#include <string.h>

#include "app-model-manager.h"
#include "dictate-fixture.h"
#include "hark-mic-button.h"
#include "hark-preferences.h"
#include "hark-welcome-page.h"
#include "hark-window.h"
#include "test-ui-util.h"
#include "test-util.h"

static gboolean have_display;
static char *tmp_home, *whisper_dir, *vad_path;

#define NEED_DISPLAY()                                                                                               \
  if (!have_display) {                                                                                               \
    g_test_skip("no display (run under xvfb-run)");                                                                  \
    return;                                                                                                          \
  }

static void
iterate_until_state(HarkPreferencesWindow *prefs, const char *name, const char *state)
{
  gint64 until = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  while (g_strcmp0(hark_preferences_window_get_model_state(prefs, name), state)) {
    g_assert_cmpint(g_get_monotonic_time(), <, until);
    g_main_context_iteration(NULL, TRUE);
  }
}

/* The dialog that asks before a removal. */
static AdwMessageDialog *
find_dialog(void)
{
  GListModel *tops = gtk_window_get_toplevels();
  AdwMessageDialog *found = NULL;
  for (guint i = 0; i < g_list_model_get_n_items(tops); i++) {
    GObject *w = g_list_model_get_item(tops, i);
    if (ADW_IS_MESSAGE_DIALOG(w) && gtk_widget_get_visible(GTK_WIDGET(w)))
      found = ADW_MESSAGE_DIALOG(w);
    g_object_unref(w);
  }
  return found;
}

typedef struct {
  HarkPreferencesWindow *prefs;
  int n;
  double max_shown; /* the most the row's bar showed */
} progress_watch;

/* Runs after the window's handler: the row shows the progress already. */
static void
progress_after(HarkModelManager *mm, const char *name, double fraction, const char *file, progress_watch *w)
{
  g_assert_cmpstr(hark_preferences_window_get_model_state(w->prefs, name), ==, "installing");
  double shown = hark_preferences_window_get_model_progress(w->prefs, name);
  g_assert_cmpfloat(shown, ==, fraction);
  w->max_shown = MAX(w->max_shown, shown);
  w->n++;
}

static void
test_models(void)
{
  NEED_DISPLAY();
  HarkPreferencesWindow *prefs = hark_preferences_window_new(NULL);
  gtk_window_present(GTK_WINDOW(prefs));
  /* Every catalog model has a row, with its size and description. */
  AdwActionRow *row = hark_preferences_window_get_model_row(prefs, "test-speech");
  g_assert_nonnull(row);
  g_assert_nonnull(strstr(adw_action_row_get_subtitle(row), "model.bin split"));
  g_test_message("%s", adw_action_row_get_subtitle(row));
  g_assert_nonnull(strstr(adw_action_row_get_subtitle(row), "8.0\xc2\xa0kB"));
  g_assert_nonnull(hark_preferences_window_get_model_row(prefs, "test-chat"));
  g_assert_nonnull(hark_preferences_window_get_model_row(prefs, "test-missing"));
  g_assert_null(hark_preferences_window_get_model_row(prefs, "whisper-base")); /* not in this catalog */
  g_assert_cmpstr(hark_preferences_window_get_model_state(prefs, "test-speech"), ==, "available");

  /* Install: progress, then installed. */
  HarkModelManager *mm = hark_model_manager_get_default();
  progress_watch w = { prefs, 0, 0 };
  gulong id = g_signal_connect_after(mm, "progress", G_CALLBACK(progress_after), &w);
  g_signal_emit_by_name(hark_preferences_window_get_model_button(prefs, "test-speech", "install"), "clicked");
  g_assert_cmpstr(hark_preferences_window_get_model_state(prefs, "test-speech"), ==, "installing");
  iterate_until_state(prefs, "test-speech", "installed");
  g_assert_cmpint(w.n, >=, 2);
  g_assert_cmpfloat(w.max_shown, ==, 1.0);
  g_assert_true(hark_model_manager_is_installed(mm, "test-speech"));

  /* Remove asks first; Cancel keeps the model. */
  GtkButton *remove = hark_preferences_window_get_model_button(prefs, "test-speech", "remove");
  g_signal_emit_by_name(remove, "clicked");
  AdwMessageDialog *dialog = find_dialog();
  g_assert_nonnull(dialog);
  adw_message_dialog_response(dialog, "cancel");
  gtk_window_destroy(GTK_WINDOW(dialog));
  g_assert_true(hark_model_manager_is_installed(mm, "test-speech"));
  g_signal_emit_by_name(remove, "clicked");
  dialog = find_dialog();
  g_assert_nonnull(dialog);
  adw_message_dialog_response(dialog, "remove");
  gtk_window_destroy(GTK_WINDOW(dialog));
  g_assert_false(hark_model_manager_is_installed(mm, "test-speech"));
  g_assert_cmpstr(hark_preferences_window_get_model_state(prefs, "test-speech"), ==, "available");

  /* A model no source has: the row goes back to Install, nothing is left installed. */
  g_signal_emit_by_name(hark_preferences_window_get_model_button(prefs, "test-missing", "install"), "clicked");
  g_assert_cmpstr(hark_preferences_window_get_model_state(prefs, "test-missing"), ==, "installing");
  iterate_until_state(prefs, "test-missing", "available");
  g_assert_false(hark_model_manager_is_installed(mm, "test-missing"));
  g_signal_handler_disconnect(mm, id);
  gtk_window_destroy(GTK_WINDOW(prefs));
}

static GtkWidget *
child(HarkPreferencesWindow *prefs, const char *name)
{
  GtkWidget *w = GTK_WIDGET(gtk_widget_get_template_child(GTK_WIDGET(prefs), HARK_TYPE_PREFERENCES_WINDOW, name));
  g_assert_nonnull(w);
  return w;
}

static void
test_settings(void)
{
  NEED_DISPLAY();
  GSettings *s = g_settings_new(HARK_APP_ID);
  g_settings_set_string(s, "speech-model", "test-speech");
  g_settings_set_string(s, "chat-model", "/some/model.gguf"); /* a path: shown and kept */
  HarkPreferencesWindow *prefs = hark_preferences_window_new(NULL);
  gtk_window_present(GTK_WINDOW(prefs));

  AdwComboRow *speech = ADW_COMBO_ROW(child(prefs, "speech_row"));
  GtkStringObject *item = adw_combo_row_get_selected_item(speech);
  g_assert_cmpstr(gtk_string_object_get_string(item), ==, "test-speech");
  AdwComboRow *chat = ADW_COMBO_ROW(child(prefs, "chat_row"));
  g_assert_cmpuint(g_list_model_get_n_items(adw_combo_row_get_model(chat)), ==, 2); /* test-chat and the path */
  g_assert_cmpstr(gtk_string_object_get_string(adw_combo_row_get_selected_item(chat)), ==, "/some/model.gguf");
  adw_combo_row_set_selected(chat, 0);
  char *v = g_settings_get_string(s, "chat-model");
  g_assert_cmpstr(v, ==, "test-chat");
  g_free(v);

  /* Device: the row shows words, the key takes auto, cpu or cuda. */
  AdwComboRow *device = ADW_COMBO_ROW(child(prefs, "device_row"));
  g_assert_cmpuint(adw_combo_row_get_selected(device), ==, 0);
  adw_combo_row_set_selected(device, 2);
  v = g_settings_get_string(s, "device");
  g_assert_cmpstr(v, ==, "cuda");
  g_free(v);
  g_settings_set_string(s, "device", "cpu");
  g_assert_cmpuint(adw_combo_row_get_selected(device), ==, 1);

  gtk_spin_button_set_value(GTK_SPIN_BUTTON(child(prefs, "gpu_layers_spin")), 0);
  g_assert_cmpint(g_settings_get_int(s, "gpu-layers"), ==, 0);
  gtk_spin_button_set_value(GTK_SPIN_BUTTON(child(prefs, "pause_spin")), 1.5);
  g_assert_cmpfloat(g_settings_get_double(s, "dictation-pause"), ==, 1.5);
  gtk_editable_set_text(GTK_EDITABLE(child(prefs, "language_row")), "de");
  v = g_settings_get_string(s, "language");
  g_assert_cmpstr(v, ==, "de");
  g_free(v);
  /* The microphone list starts with the default input. */
  AdwComboRow *input = ADW_COMBO_ROW(child(prefs, "input_row"));
  g_assert_cmpuint(g_list_model_get_n_items(adw_combo_row_get_model(input)), >=, 1);
  g_assert_cmpuint(adw_combo_row_get_selected(input), ==, 0);

  gtk_window_destroy(GTK_WINDOW(prefs));
  const char *keys[] = { "speech-model", "chat-model", "device", "gpu-layers", "dictation-pause", "language" };
  for (guint i = 0; i < G_N_ELEMENTS(keys); i++)
    g_settings_reset(s, keys[i]);
  g_object_unref(s);
}

static HarkWindow *
shown_window(void)
{
  HarkWindow *win = hark_window_new(NULL);
  gtk_window_present(GTK_WINDOW(win));
  test_ui_wait_drawn(win);
  return win;
}

typedef struct {
  HarkWelcomePage *page;
  double max_fraction;
} welcome_watch;

static void
welcome_progress_after(HarkModelManager *mm, const char *name, double fraction, const char *file, welcome_watch *w)
{
  double f = 0;
  g_assert_true(hark_welcome_page_get_installing(w->page, &f));
  w->max_fraction = MAX(w->max_fraction, f);
}

static void
test_welcome(void)
{
  NEED_DISPLAY();
  GSettings *s = g_settings_new(HARK_APP_ID);
  g_settings_set_string(s, "chat-model", "test-chat");
  g_settings_set_string(s, "speech-model", "test-speech");
  HarkModelManager *mm = hark_model_manager_get_default();
  g_assert_false(hark_model_manager_is_installed(mm, "test-chat"));

  /* No model: the welcome page, which offers both. */
  HarkWindow *win = shown_window();
  g_assert_cmpstr(hark_window_get_page(win), ==, "welcome");
  HarkWelcomePage *page = HARK_WELCOME_PAGE(test_ui_window_child(win, "welcome_page"));
  g_assert_true(hark_welcome_page_get_needed(page));
  GtkWidget *install = GTK_WIDGET(gtk_widget_get_template_child(GTK_WIDGET(page), HARK_TYPE_WELCOME_PAGE,
                                                                "install_button"));
  AdwStatusPage *status = ADW_STATUS_PAGE(gtk_widget_get_template_child(GTK_WIDGET(page), HARK_TYPE_WELCOME_PAGE,
                                                                          "status_page"));
  g_assert_nonnull(strstr(adw_status_page_get_description(status), "test-speech, test-chat"));
  g_assert_true(gtk_widget_get_visible(install));

  welcome_watch w = { page, 0 };
  gulong id = g_signal_connect_after(mm, "progress", G_CALLBACK(welcome_progress_after), &w);
  g_signal_emit_by_name(install, "clicked");
  g_assert_true(hark_welcome_page_get_installing(page, NULL));
  g_assert_false(gtk_widget_get_visible(install));
  gint64 until = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  while (hark_welcome_page_get_installing(page, NULL)) {
    g_assert_cmpint(g_get_monotonic_time(), <, until);
    g_main_context_iteration(NULL, TRUE);
  }
  g_signal_handler_disconnect(mm, id);
  g_assert_cmpfloat(w.max_fraction, ==, 1.0);
  /* Both are there: the chat shows. */
  g_assert_true(hark_model_manager_is_installed(mm, "test-chat"));
  g_assert_true(hark_model_manager_is_installed(mm, "test-speech"));
  g_assert_cmpstr(hark_window_get_page(win), ==, "chat");

  /* One model is enough to chat or dictate; with none the page is back. */
  g_assert_true(hark_model_manager_remove(mm, "test-speech", NULL));
  g_assert_cmpstr(hark_window_get_page(win), ==, "chat");
  g_assert_true(hark_model_manager_remove(mm, "test-chat", NULL));
  g_assert_cmpstr(hark_window_get_page(win), ==, "welcome");
  /* A chat model given as a file that is there counts too. */
  g_settings_set_string(s, "chat-model", g_getenv("HARK_CATALOG"));
  g_assert_cmpstr(hark_window_get_page(win), ==, "chat");
  gtk_window_destroy(GTK_WINDOW(win));
  g_settings_reset(s, "chat-model");
  g_settings_reset(s, "speech-model");
  g_object_unref(s);
}

typedef struct {
  HarkMicButton *mic;
  GtkTextBuffer *buf;
  GString *finals;
  int n_partials_shown; /* partials with text that the view showed dimmed */
  gboolean level_visible, toggle_active;
  int ended;
  GError *error;
} dictation_watch;

static char *
buffer_text(GtkTextBuffer *buf)
{
  GtkTextIter a, b;
  gtk_text_buffer_get_bounds(buf, &a, &b);
  return gtk_text_buffer_get_text(buf, &a, &b, FALSE);
}

/* These run after the button's handlers: the view shows the text already. */
static void
partial_after(HarkDictationController *d, const char *text, dictation_watch *w)
{
  char *shown = hark_mic_button_get_partial(w->mic);
  if (text[0]) {
    /* The partial follows the final text, dimmed, with the space it needs. */
    char *want = g_strstrip(g_strdup(text));
    g_assert_nonnull(strstr(shown, want));
    char *all = buffer_text(w->buf);
    const char *pos = g_strrstr(all, shown);
    g_assert_nonnull(pos);
    GtkTextIter at;
    gtk_text_buffer_get_iter_at_offset(w->buf, &at, (int)g_utf8_pointer_to_offset(all, pos));
    GtkTextTag *tag = gtk_text_tag_table_lookup(gtk_text_buffer_get_tag_table(w->buf), "dictation-partial");
    g_assert_true(gtk_text_iter_has_tag(&at, tag));
    w->n_partials_shown++;
    g_free(all), g_free(want);
  } else {
    g_assert_cmpstr(shown, ==, "");
  }
  g_free(shown);
}

static void
final_after(HarkDictationController *d, const char *text, dictation_watch *w)
{
  g_string_append(w->finals, text);
  char *all = buffer_text(w->buf), *want = g_strstrip(g_strdup(text));
  g_assert_nonnull(strstr(all, want));
  g_free(all), g_free(want);
}

static void
level_after(HarkDictationController *d, double dbfs, dictation_watch *w)
{
  w->level_visible = w->level_visible ||
                     gtk_widget_get_visible(GTK_WIDGET(gtk_widget_get_template_child(
                       GTK_WIDGET(w->mic), HARK_TYPE_MIC_BUTTON, "level_bar")));
  w->toggle_active = w->toggle_active ||
                     gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(gtk_widget_get_template_child(
                       GTK_WIDGET(w->mic), HARK_TYPE_MIC_BUTTON, "toggle")));
}

static void
ended_after(HarkDictationController *d, const GError *error, dictation_watch *w)
{
  w->ended++;
  g_clear_error(&w->error);
  w->error = error ? g_error_copy(error) : NULL;
}

static void
wait_ended(dictation_watch *w, int n)
{
  gint64 until = g_get_monotonic_time() + 100 * G_USEC_PER_SEC;
  while (w->ended < n) {
    g_assert_cmpint(g_get_monotonic_time(), <, until);
    g_main_context_iteration(NULL, TRUE);
  }
}

/* Sends F9 to the window's hold-to-talk key controller, as a key held down
 * (press, auto-repeat press) or let go. */
static void
send_f9(HarkWindow *win, gboolean press)
{
  GListModel *ctls = gtk_widget_observe_controllers(GTK_WIDGET(win));
  int n = 0;
  for (guint i = 0; i < g_list_model_get_n_items(ctls); i++) {
    GtkEventController *c = g_list_model_get_item(ctls, i);
    if (GTK_IS_EVENT_CONTROLLER_KEY(c) && !g_strcmp0(gtk_event_controller_get_name(c), "hark-hold-to-talk")) {
      gboolean handled = FALSE;
      if (press)
        g_signal_emit_by_name(c, "key-pressed", GDK_KEY_F9, 0, 0, &handled);
      else
        g_signal_emit_by_name(c, "key-released", GDK_KEY_F9, 0, 0);
      n++;
    }
    g_object_unref(c);
  }
  g_object_unref(ctls);
  g_assert_cmpint(n, ==, 1);
}

static void
test_dictation(void)
{
  NEED_DISPLAY();
  GSettings *s = g_settings_new(HARK_APP_ID);
  g_settings_set_string(s, "speech-model", "test-speech"); /* a catalog model not installed */
  g_settings_set_string(s, "chat-model", g_getenv("HARK_CATALOG")); /* a file: no welcome page */
  g_settings_set_string(s, "device", "cpu");
  g_settings_set_string(s, "language", "en");
  g_settings_set_string(s, "dictation-vad-model", vad_path ? vad_path : "");
  HarkWindow *win = shown_window();
  g_assert_cmpstr(hark_window_get_page(win), ==, "chat");
  HarkMicButton *mic = HARK_MIC_BUTTON(test_ui_window_child(win, "mic_button"));
  GtkTextBuffer *buf = gtk_text_view_get_buffer(GTK_TEXT_VIEW(test_ui_window_child(win, "composer_view")));
  HarkDictationController *d = hark_mic_button_get_controller(mic);
  dictation_watch w = { mic, buf, g_string_new(""), 0, FALSE, FALSE, 0, NULL };
  g_signal_connect_after(d, "partial", G_CALLBACK(partial_after), &w);
  g_signal_connect_after(d, "final", G_CALLBACK(final_after), &w);
  g_signal_connect_after(d, "level", G_CALLBACK(level_after), &w);
  g_signal_connect_after(d, "ended", G_CALLBACK(ended_after), &w);

  /* The model is not installed: an error, the composer as it was, usable. */
  gtk_text_buffer_set_text(buf, "Note:", -1);
  hark_window_start_dictation(win);
  GtkToggleButton *toggle = GTK_TOGGLE_BUTTON(gtk_widget_get_template_child(GTK_WIDGET(mic), HARK_TYPE_MIC_BUTTON,
                                                                          "toggle"));
  g_assert_true(gtk_toggle_button_get_active(toggle));
  wait_ended(&w, 1);
  g_assert_error(w.error, APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED);
  g_assert_false(gtk_toggle_button_get_active(toggle));
  char *text = buffer_text(buf);
  g_assert_cmpstr(text, ==, "Note:");
  g_free(text);
  g_assert_true(gtk_widget_is_sensitive(test_ui_window_child(win, "composer_view")));

  /* Hold-to-talk: F9 down starts (its auto-repeat starts nothing more), up stops. */
  send_f9(win, TRUE);
  g_assert_true(hark_dictation_controller_get_active(d));
  send_f9(win, TRUE);
  send_f9(win, FALSE);
  wait_ended(&w, 2);
  g_assert_error(w.error, APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED);
  g_assert_false(hark_dictation_controller_get_active(d));
  while (g_main_context_pending(NULL))
    g_main_context_iteration(NULL, FALSE);
  g_assert_cmpint(w.ended, ==, 2); /* one session, one end */

  if (!whisper_dir) {
    g_test_message("no $HARK_TEST_MODELS_DIR/whisper-base-ct2: real speech not dictated");
  } else {
    fixture f;
    static const char *const prompts[] = { "tt-weasels", "vm-nobodyavail" };
    const char *why = NULL;
    if (fixture_build(&f, prompts, G_N_ELEMENTS(prompts), 16000, 1.0, 1.5, &why)) {
      g_test_message("no speech: %s", why);
    } else {
      char *wav = g_build_filename(tmp_home, "speech.wav", NULL);
      g_assert_cmpint(fixture_write_wav(&f, wav), ==, 0);
      g_settings_set_string(s, "speech-model", whisper_dir);
      /* The cursor at the end of "Note:": the words go there, after a space. */
      GtkTextIter end;
      gtk_text_buffer_get_end_iter(buf, &end);
      gtk_text_buffer_place_cursor(buf, &end);
      hark_mic_button_start_file(mic, wav);
      wait_ended(&w, 3);
      g_assert_no_error(w.error);
      text = buffer_text(buf);
      g_test_message("composer: %s (%d partials shown)", text, w.n_partials_shown);
      g_assert_true(g_str_has_prefix(text, "Note: "));
      double wer = fixture_wer(f.reference, text + strlen("Note: "));
      g_assert_cmpfloat(wer, <=, 25.0);
      g_assert_cmpint(w.n_partials_shown, >, 0);
      g_assert_true(w.level_visible && w.toggle_active);
      char *partial = hark_mic_button_get_partial(mic);
      g_assert_cmpstr(partial, ==, "");
      g_assert_false(gtk_widget_get_visible(GTK_WIDGET(gtk_widget_get_template_child(
        GTK_WIDGET(mic), HARK_TYPE_MIC_BUTTON, "level_bar"))));
      /* What was dictated can be sent. */
      g_assert_true(gtk_widget_get_sensitive(test_ui_window_child(win, "send_button")));
      g_free(partial), g_free(text);
      g_free(wav);
      fixture_clear(&f);
    }
  }
  g_string_free(w.finals, TRUE);
  g_clear_error(&w.error);
  gtk_window_destroy(GTK_WINDOW(win));
  const char *keys[] = { "speech-model", "chat-model", "device", "language", "dictation-vad-model" };
  for (guint i = 0; i < G_N_ELEMENTS(keys); i++)
    g_settings_reset(s, keys[i]);
  g_object_unref(s);
}

int
main(int argc, char **argv)
{
  /* Before anything asks GLib for the user data dir (it caches it). */
  tmp_home = g_dir_make_tmp("hark-ui-prefs-XXXXXX", NULL);
  g_setenv("XDG_DATA_HOME", tmp_home, TRUE);
  g_unsetenv("HARK_CHAT_MODEL");
  g_unsetenv("HARK_VISION_MODEL");
  g_test_init(&argc, &argv, NULL);
  test_use_fake_pip("catalog-defaults.json");
  whisper_dir = fixture_whisper_dir();
  vad_path = fixture_vad_path();
  have_display = gtk_init_check();
  if (have_display)
    adw_init();
  g_test_add_func("/ui/preferences/models", test_models);
  g_test_add_func("/ui/preferences/settings", test_settings);
  g_test_add_func("/ui/welcome", test_welcome);
  g_test_add_func("/ui/dictation", test_dictation);
  int rc = g_test_run();
  test_remove_tree(tmp_home);
  g_free(whisper_dir), g_free(vad_path);
  return rc;
}
