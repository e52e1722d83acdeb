/* hark-application.c: application actions, single-instance activation, the
 * --dictate flag (forwarded to the running instance as app.dictate) and the
 * --screenshot mode used by the README's quick start and the tests. */
#include "hark-config.h"

#include "hark-application.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "hark-preferences.h"
#include "hark-window.h"

struct _HarkApplication {
  AdwApplication parent_instance;
  char *screenshot;
  int exit_status;
};

G_DEFINE_FINAL_TYPE(HarkApplication, hark_application, ADW_TYPE_APPLICATION)

static gboolean
take_screenshot(gpointer user_data)
{
  HarkApplication *self = HARK_APPLICATION(user_data);
  GtkWindow *win = gtk_application_get_active_window(GTK_APPLICATION(self));
  GError *error = NULL;
  if (!win || !hark_window_save_png(HARK_WINDOW(win), self->screenshot, &error)) {
    fprintf(stderr, "hark: cannot save the screenshot: %s\n", error ? error->message : "no window");
    g_clear_error(&error);
    self->exit_status = 1;
  }
  g_application_quit(G_APPLICATION(self));
  return G_SOURCE_REMOVE;
}

static GtkWindow *
present_window(GApplication *app)
{
  GtkWindow *win = gtk_application_get_active_window(GTK_APPLICATION(app));
  if (!win)
    win = GTK_WINDOW(hark_window_new(GTK_APPLICATION(app)));
  gtk_window_present(win);
  return win;
}

static void
hark_application_activate(GApplication *app)
{
  HarkApplication *self = HARK_APPLICATION(app);
  GtkWindow *win = present_window(app);
  if (self->screenshot)
    hark_window_when_drawn(HARK_WINDOW(win), take_screenshot, self);
}

static void
about_action(GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GtkApplication *app = GTK_APPLICATION(user_data);
  const char *developers[] = { "The Hark developers", NULL };
  GtkWidget *about = adw_about_window_new();
  g_object_set(about,
               "transient-for", gtk_application_get_active_window(app),
               "application-name", "Hark",
               "application-icon", HARK_APP_ID,
               "version", HARK_VERSION,
               "developer-name", "The Hark developers",
               "developers", developers,
               "license-type", GTK_LICENSE_MIT_X11,
               "comments", _("Local dictation, transcription, image questions and chat, on your own GPU or CPU."),
               NULL);
  gtk_window_present(GTK_WINDOW(about));
}

static void
preferences_action(GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GtkWindow *parent = gtk_application_get_active_window(GTK_APPLICATION(user_data));
  gtk_window_present(GTK_WINDOW(hark_preferences_window_new(parent)));
}

/* The window with dictation started: `hark --dictate`, a desktop shortcut. */
static void
dictate_action(GSimpleAction *action, GVariant *param, gpointer user_data)
{
  hark_window_start_dictation(HARK_WINDOW(present_window(G_APPLICATION(user_data))));
}

static void
quit_action(GSimpleAction *action, GVariant *param, gpointer user_data)
{
  g_application_quit(G_APPLICATION(user_data));
}

static const GActionEntry app_actions[] = {
  { "about", about_action, NULL, NULL, NULL, { 0 } },
  { "preferences", preferences_action, NULL, NULL, NULL, { 0 } },
  { "dictate", dictate_action, NULL, NULL, NULL, { 0 } },
  { "quit", quit_action, NULL, NULL, NULL, { 0 } },
};

static void
hark_application_startup(GApplication *app)
{
  G_APPLICATION_CLASS(hark_application_parent_class)->startup(app);
  g_action_map_add_action_entries(G_ACTION_MAP(app), app_actions, G_N_ELEMENTS(app_actions), app);
  const char *quit[] = { "<Control>q", NULL };
  const char *close[] = { "<Control>w", NULL };
  const char *preferences[] = { "<Control>comma", NULL };
  gtk_application_set_accels_for_action(GTK_APPLICATION(app), "app.preferences", preferences);
  gtk_application_set_accels_for_action(GTK_APPLICATION(app), "app.quit", quit);
  gtk_application_set_accels_for_action(GTK_APPLICATION(app), "window.close", close);
}

static void
hark_application_finalize(GObject *object)
{
  HarkApplication *self = HARK_APPLICATION(object);
  g_free(self->screenshot);
  G_OBJECT_CLASS(hark_application_parent_class)->finalize(object);
}

static void
hark_application_class_init(HarkApplicationClass *klass)
{
  G_OBJECT_CLASS(klass)->finalize = hark_application_finalize;
  G_APPLICATION_CLASS(klass)->activate = hark_application_activate;
  G_APPLICATION_CLASS(klass)->startup = hark_application_startup;
}

static void
hark_application_init(HarkApplication *self)
{
}

HarkApplication *
hark_application_new(const char *screenshot)
{
  GApplicationFlags flags = G_APPLICATION_DEFAULT_FLAGS;
  if (screenshot)
    flags |= G_APPLICATION_NON_UNIQUE;
  HarkApplication *self = g_object_new(HARK_TYPE_APPLICATION,
                                       "application-id", HARK_APP_ID,
                                       "flags", flags,
                                       "resource-base-path", "/io/github/hark/Hark",
                                       NULL);
  self->screenshot = g_strdup(screenshot);
  return self;
}

int
hark_application_run(const char *screenshot)
{
  return hark_application_run_with(screenshot, FALSE);
}

int
hark_application_run_with(const char *screenshot, gboolean dictate)
{
  if (!gtk_init_check()) {
    fprintf(stderr, "hark: cannot open a display (neither DISPLAY nor WAYLAND_DISPLAY works).\n"
                    "Run a command instead, e.g. 'hark devices', or see 'hark --help'.\n");
    return 1;
  }
  HarkApplication *app = hark_application_new(screenshot);
  GError *error = NULL;
  if (dictate) {
    /* Registered first, so that a running Hark gets the action and this
     * process only asks it to (g_application_run then ends at once). */
    if (!g_application_register(G_APPLICATION(app), NULL, &error)) {
      fprintf(stderr, "hark: %s\n", error->message);
      g_error_free(error);
      g_object_unref(app);
      return 1;
    }
    g_action_group_activate_action(G_ACTION_GROUP(app), "dictate", NULL);
  }
  int status = g_application_run(G_APPLICATION(app), 0, NULL);
  if (status == 0)
    status = app->exit_status;
  g_object_unref(app);
  return status;
}
