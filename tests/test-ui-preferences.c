/* test-ui-preferences.c: the preferences window under a real display (Xvfb
 * in the test run), with models installed from tests/fake-pip's wheels into
 * a temporary data folder: the catalog's rows, Install with its progress,
 * Remove after the confirmation, a failing install, the rows bound to the
 * settings. */
#include "hark-config.h"

#include <string.h>

#include "app-model-manager.h"
#include "hark-preferences.h"
#include "test-util.h"

static gboolean have_display;
static char *tmp_home;

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
  have_display = gtk_init_check();
  if (have_display)
    adw_init();
  g_test_add_func("/ui/preferences/models", test_models);
  g_test_add_func("/ui/preferences/settings", test_settings);
  int rc = g_test_run();
  test_remove_tree(tmp_home);
  return rc;
}
