/* hark-welcome-page.c: the first-run page. Asks HarkModelManager whether
 * the default models are there and has it install them. */
#include "hark-config.h"

#include "hark-welcome-page.h"

#include <glib/gi18n.h>

#include "app-chat.h"
#include "app-dictation.h"
#include "app-model-manager.h"
#include "app-settings.h"
#include "app-transcribe.h"

struct _HarkWelcomePage {
  AdwBin parent_instance;

  AdwStatusPage *status_page;
  GtkButton *install_button;
  GtkBox *progress_box;
  GtkProgressBar *progress_bar;

  HarkModelManager *models;
  GSettings *settings;     /* NULL without the schema */
  GPtrArray *installing;   /* names of the models this page installs */
  GCancellable *cancellable; /* theirs; NULL when none runs */
  gboolean needed;
};

G_DEFINE_FINAL_TYPE(HarkWelcomePage, hark_welcome_page, ADW_TYPE_BIN)

enum { PROP_0, PROP_NEEDED, N_PROPS };
static GParamSpec *props[N_PROPS];

/* The model setting `key`: its value, else the built-in default. g_free. */
static char *
model_setting(HarkWelcomePage *self, const char *key, const char *fallback)
{
  char *v = self->settings ? g_settings_get_string(self->settings, key) : NULL;
  if (v && v[0])
    return v;
  g_free(v);
  return g_strdup(fallback);
}

static char *
chat_model(HarkWelcomePage *self)
{
  const char *env = g_getenv("HARK_CHAT_MODEL");
  return env && env[0] ? g_strdup(env) : model_setting(self, "chat-model", HARK_CHAT_DEFAULT_MODEL);
}

static char *
speech_model(HarkWelcomePage *self)
{
  return model_setting(self, "speech-model", APP_SPEECH_DEFAULT_MODEL);
}

/* The default models install would fetch: catalog models not installed. */
static GPtrArray *
missing_defaults(HarkWelcomePage *self, guint64 *size)
{
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  const app_catalog *cat = hark_model_manager_get_catalog(self->models, NULL);
  char *wanted[] = { speech_model(self), chat_model(self) };
  *size = 0;
  for (guint i = 0; i < G_N_ELEMENTS(wanted); i++) {
    const app_model_info *m = cat ? app_catalog_find(cat, wanted[i]) : NULL;
    if (m && !hark_model_manager_is_installed(self->models, m->name)) {
      g_ptr_array_add(names, g_strdup(m->name));
      *size += m->size;
    }
    g_free(wanted[i]);
  }
  return names;
}

static void
update(HarkWelcomePage *self)
{
  char *chat = chat_model(self), *speech = speech_model(self);
  gboolean needed = !hark_model_manager_is_available(self->models, chat) &&
                    !hark_model_manager_is_available(self->models, speech);
  g_free(chat), g_free(speech);

  guint64 size = 0;
  GPtrArray *missing = missing_defaults(self, &size);
  char *description;
  if (missing->len) {
    g_ptr_array_add(missing, NULL);
    char *names = g_strjoinv(", ", (char **)missing->pdata);
    char *total = g_format_size(size);
    description = g_strdup_printf(_("Hark runs speech and language models on this computer. Install the "
                                    "default models (%s, %s in all), or choose others in the preferences."),
                                  names, total);
    g_free(names), g_free(total);
  } else {
    description = g_strdup(_("Hark runs speech and language models on this computer. Choose the models "
                             "to use in the preferences."));
  }
  adw_status_page_set_description(self->status_page, description);
  g_free(description);
  gboolean running = self->cancellable != NULL;
  gtk_widget_set_visible(GTK_WIDGET(self->install_button), !running && missing->len > 0);
  gtk_widget_set_visible(GTK_WIDGET(self->progress_box), running);
  g_ptr_array_unref(missing);

  if (needed != self->needed) {
    self->needed = needed;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_NEEDED]);
  }
}

gboolean
hark_welcome_page_get_installing(HarkWelcomePage *self, double *fraction)
{
  g_return_val_if_fail(HARK_IS_WELCOME_PAGE(self), FALSE);
  double sum = 0;
  for (guint i = 0; i < self->installing->len; i++) {
    double f = 0;
    if (hark_model_manager_is_installing(self->models, self->installing->pdata[i], &f))
      sum += f;
    else if (hark_model_manager_is_installed(self->models, self->installing->pdata[i]))
      sum += 1.0;
  }
  if (fraction)
    *fraction = self->installing->len ? sum / self->installing->len : 0.0;
  return self->cancellable != NULL;
}

static void
changed_cb(HarkModelManager *models, const char *name, HarkWelcomePage *self)
{
  update(self);
}

static void
progress_cb(HarkModelManager *models, const char *name, double fraction, const char *file, HarkWelcomePage *self)
{
  double f = 0;
  if (hark_welcome_page_get_installing(self, &f))
    gtk_progress_bar_set_fraction(self->progress_bar, f);
}

static void
toast(HarkWelcomePage *self, const char *text)
{
  GtkWidget *overlay = gtk_widget_get_ancestor(GTK_WIDGET(self), ADW_TYPE_TOAST_OVERLAY);
  AdwToast *t = adw_toast_new(text);
  adw_toast_set_timeout(t, 0);
  if (overlay)
    adw_toast_overlay_add_toast(ADW_TOAST_OVERLAY(overlay), t);
  else
    g_object_unref(g_object_ref_sink(t));
}

static void
install_done_cb(GObject *source, GAsyncResult *result, gpointer data)
{
  HarkWelcomePage *self = data;
  GError *error = NULL;
  if (!hark_model_manager_install_finish(HARK_MODEL_MANAGER(source), result, &error) &&
      !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && self->cancellable) {
    char *msg = g_strdup_printf(_("The model could not be installed: %s"), error->message);
    toast(self, msg);
    g_free(msg);
  }
  g_clear_error(&error);
  /* The last one ends this page's install. */
  gboolean any = FALSE;
  for (guint i = 0; i < self->installing->len; i++)
    any = any || hark_model_manager_is_installing(self->models, self->installing->pdata[i], NULL);
  if (!any) {
    g_clear_object(&self->cancellable);
    g_ptr_array_set_size(self->installing, 0);
    update(self);
  }
  g_object_unref(self);
}

void
hark_welcome_page_install(HarkWelcomePage *self)
{
  g_return_if_fail(HARK_IS_WELCOME_PAGE(self));
  if (self->cancellable)
    return;
  guint64 size = 0;
  GPtrArray *missing = missing_defaults(self, &size);
  if (!missing->len) {
    g_ptr_array_unref(missing);
    return;
  }
  g_ptr_array_unref(self->installing);
  self->installing = missing;
  self->cancellable = g_cancellable_new();
  gtk_progress_bar_set_fraction(self->progress_bar, 0);
  update(self);
  for (guint i = 0; i < missing->len; i++)
    hark_model_manager_install_async(self->models, missing->pdata[i], self->cancellable, install_done_cb,
                                     g_object_ref(self));
}

void
hark_welcome_page_cancel(HarkWelcomePage *self)
{
  g_return_if_fail(HARK_IS_WELCOME_PAGE(self));
  if (self->cancellable)
    g_cancellable_cancel(self->cancellable);
}

gboolean
hark_welcome_page_get_needed(HarkWelcomePage *self)
{
  g_return_val_if_fail(HARK_IS_WELCOME_PAGE(self), FALSE);
  return self->needed;
}

/* ---- GObject ---- */

static void
hark_welcome_page_dispose(GObject *object)
{
  HarkWelcomePage *self = HARK_WELCOME_PAGE(object);
  if (self->models)
    g_signal_handlers_disconnect_by_data(self->models, self);
  g_clear_object(&self->settings);
  gtk_widget_dispose_template(GTK_WIDGET(self), HARK_TYPE_WELCOME_PAGE);
  G_OBJECT_CLASS(hark_welcome_page_parent_class)->dispose(object);
}

static void
hark_welcome_page_finalize(GObject *object)
{
  HarkWelcomePage *self = HARK_WELCOME_PAGE(object);
  /* Installs under way hold a reference: none is left. */
  g_ptr_array_unref(self->installing);
  G_OBJECT_CLASS(hark_welcome_page_parent_class)->finalize(object);
}

static void
hark_welcome_page_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  if (id == PROP_NEEDED)
    g_value_set_boolean(value, HARK_WELCOME_PAGE(object)->needed);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
}

static void
hark_welcome_page_class_init(HarkWelcomePageClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  oc->dispose = hark_welcome_page_dispose;
  oc->finalize = hark_welcome_page_finalize;
  oc->get_property = hark_welcome_page_get_property;
  props[PROP_NEEDED] = g_param_spec_boolean("needed", NULL, NULL, FALSE,
                                            G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties(oc, N_PROPS, props);
  gtk_widget_class_set_template_from_resource(widget_class, "/io/github/hark/Hark/hark-welcome-page.ui");
  gtk_widget_class_bind_template_child(widget_class, HarkWelcomePage, status_page);
  gtk_widget_class_bind_template_child(widget_class, HarkWelcomePage, install_button);
  gtk_widget_class_bind_template_child(widget_class, HarkWelcomePage, progress_box);
  gtk_widget_class_bind_template_child(widget_class, HarkWelcomePage, progress_bar);
  gtk_widget_class_bind_template_callback(widget_class, hark_welcome_page_install);
  gtk_widget_class_bind_template_callback(widget_class, hark_welcome_page_cancel);
}

static void
hark_welcome_page_init(HarkWelcomePage *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  self->installing = g_ptr_array_new_with_free_func(g_free);
  self->models = hark_model_manager_get_default();
  self->settings = app_settings_new();
  g_signal_connect(self->models, "changed", G_CALLBACK(changed_cb), self);
  g_signal_connect(self->models, "progress", G_CALLBACK(progress_cb), self);
  if (self->settings) {
    g_signal_connect_swapped(self->settings, "changed::chat-model", G_CALLBACK(update), self);
    g_signal_connect_swapped(self->settings, "changed::speech-model", G_CALLBACK(update), self);
  }
  update(self);
}
