/* hark-preferences.c: the preferences window. The model rows show
 * HarkModelManager's state and forward Install, Cancel and Remove to it;
 * every other row is bound to a GSettings key. */
#include "hark-config.h"

#include "hark-preferences.h"

#include <glib/gi18n.h>

#include "app-dictation.h"
#include "app-model-manager.h"
#include "app-settings.h"

/* One catalog model's row and the widgets of its suffix. */
typedef struct {
  char *name;
  AdwActionRow *row;
  GtkStack *state; /* "available", "installing", "installed" */
  GtkProgressBar *progress;
  GtkButton *install, *cancel, *remove;
} model_row;

struct _HarkPreferencesWindow {
  AdwPreferencesWindow parent_instance;

  AdwPreferencesGroup *whisper_group;
  AdwPreferencesGroup *llm_group;
  AdwPreferencesGroup *vision_group;
  AdwComboRow *speech_row;
  AdwComboRow *chat_row;
  AdwComboRow *vision_row;
  AdwComboRow *device_row;
  GtkSpinButton *gpu_layers_spin;
  AdwComboRow *input_row;
  AdwEntryRow *language_row;
  GtkSpinButton *pause_spin;
  AdwEntryRow *vad_row;

  HarkModelManager *models;
  GSettings *settings; /* NULL without the schema */
  GHashTable *rows;    /* name -> model_row* */
  gboolean disposed;   /* installs that end later find no widgets */
  struct choice_map *input_choice; /* the microphones (owned by its settings binding) */
};

G_DEFINE_FINAL_TYPE(HarkPreferencesWindow, hark_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static void
toast(HarkPreferencesWindow *self, const char *text)
{
  AdwToast *t = adw_toast_new(text);
  adw_toast_set_timeout(t, 6);
  adw_preferences_window_add_toast(ADW_PREFERENCES_WINDOW(self), t);
}

/* ---- the model rows ---- */

static void
model_row_free(gpointer data)
{
  model_row *r = data;
  g_free(r->name);
  g_free(r);
}

static void
show_state(HarkPreferencesWindow *self, model_row *r)
{
  double fraction = 0;
  const char *state = hark_model_manager_is_installing(self->models, r->name, &fraction) ? "installing"
                      : hark_model_manager_is_installed(self->models, r->name)        ? "installed"
                                                                                        : "available";
  gtk_stack_set_visible_child_name(r->state, state);
  gtk_progress_bar_set_fraction(r->progress, fraction);
}

static void
changed_cb(HarkModelManager *models, const char *name, HarkPreferencesWindow *self)
{
  model_row *r = g_hash_table_lookup(self->rows, name);
  if (r)
    show_state(self, r);
}

static void
progress_cb(HarkModelManager *models, const char *name, double fraction, const char *file,
            HarkPreferencesWindow *self)
{
  model_row *r = g_hash_table_lookup(self->rows, name);
  if (r)
    gtk_progress_bar_set_fraction(r->progress, fraction);
}

static void
install_done_cb(GObject *source, GAsyncResult *result, gpointer data)
{
  HarkPreferencesWindow *self = data;
  GError *error = NULL;
  if (!hark_model_manager_install_finish(HARK_MODEL_MANAGER(source), result, &error) &&
      !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && !self->disposed) {
    char *msg = g_strdup_printf(_("The model could not be installed: %s"), error->message);
    toast(self, msg);
    g_free(msg);
  }
  g_clear_error(&error);
  g_object_unref(self);
}

static void
install_clicked_cb(GtkButton *button, HarkPreferencesWindow *self)
{
  const char *name = g_object_get_data(G_OBJECT(button), "model");
  hark_model_manager_install_async(self->models, name, NULL, install_done_cb, g_object_ref(self));
}

static void
cancel_clicked_cb(GtkButton *button, HarkPreferencesWindow *self)
{
  hark_model_manager_cancel(self->models, g_object_get_data(G_OBJECT(button), "model"));
}

static void
remove_response_cb(AdwMessageDialog *dialog, const char *response, HarkPreferencesWindow *self)
{
  const char *name = g_object_get_data(G_OBJECT(dialog), "model");
  GError *error = NULL;
  if (!g_strcmp0(response, "remove") && !hark_model_manager_remove(self->models, name, &error)) {
    toast(self, error->message);
    g_error_free(error);
  }
}

/* Asks before deleting the model's files. */
static void
remove_clicked_cb(GtkButton *button, HarkPreferencesWindow *self)
{
  const char *name = g_object_get_data(G_OBJECT(button), "model");
  char *heading = g_strdup_printf(_("Remove %s?"), name);
  GtkWidget *dialog = adw_message_dialog_new(GTK_WINDOW(self), heading,
                                             _("Its files are deleted from this computer; it can be installed "
                                               "again later."));
  g_free(heading);
  adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog), "cancel", _("_Cancel"), "remove", _("_Remove"), NULL);
  adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "remove", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
  g_object_set_data_full(G_OBJECT(dialog), "model", g_strdup(name), g_free);
  g_signal_connect_object(dialog, "response", G_CALLBACK(remove_response_cb), self, 0);
  gtk_window_present(GTK_WINDOW(dialog));
}

static GtkButton *
row_button(const char *name, const char *label, const char *icon, const char *tooltip, GCallback cb,
           HarkPreferencesWindow *self)
{
  GtkWidget *b = label ? gtk_button_new_with_mnemonic(label) : gtk_button_new_from_icon_name(icon);
  gtk_widget_set_valign(b, GTK_ALIGN_CENTER);
  if (tooltip) {
    gtk_widget_set_tooltip_text(b, tooltip);
    gtk_accessible_update_property(GTK_ACCESSIBLE(b), GTK_ACCESSIBLE_PROPERTY_LABEL, tooltip, -1);
  }
  if (!label)
    gtk_widget_add_css_class(b, "flat");
  g_object_set_data_full(G_OBJECT(b), "model", g_strdup(name), g_free);
  g_signal_connect(b, "clicked", cb, self);
  return GTK_BUTTON(b);
}

static void
add_model_row(HarkPreferencesWindow *self, const app_model_info *m)
{
  AdwPreferencesGroup *group = !g_strcmp0(m->kind, "whisper") ? self->whisper_group
                               : !g_strcmp0(m->kind, "llm")   ? self->llm_group
                                                              : self->vision_group;
  model_row *r = g_new0(model_row, 1);
  r->name = g_strdup(m->name);
  r->row = ADW_ACTION_ROW(adw_action_row_new());
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(r->row), m->name);
  char *size = g_format_size(m->size);
  char *sub = g_strdup_printf("%s · %s · %s", m->description, size, m->license);
  adw_action_row_set_subtitle(r->row, sub);
  g_free(sub), g_free(size);

  r->state = GTK_STACK(gtk_stack_new());
  gtk_stack_set_hhomogeneous(r->state, FALSE);
  r->install = row_button(m->name, _("_Install"), NULL, NULL, G_CALLBACK(install_clicked_cb), self);
  gtk_stack_add_named(r->state, GTK_WIDGET(r->install), "available");

  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
  r->progress = GTK_PROGRESS_BAR(gtk_progress_bar_new());
  gtk_widget_set_valign(GTK_WIDGET(r->progress), GTK_ALIGN_CENTER);
  gtk_widget_set_size_request(GTK_WIDGET(r->progress), 96, -1);
  gtk_accessible_update_property(GTK_ACCESSIBLE(r->progress), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Installing"), -1);
  gtk_box_append(GTK_BOX(box), GTK_WIDGET(r->progress));
  r->cancel = row_button(m->name, NULL, "process-stop-symbolic", _("Cancel Install"), G_CALLBACK(cancel_clicked_cb),
                         self);
  gtk_box_append(GTK_BOX(box), GTK_WIDGET(r->cancel));
  gtk_stack_add_named(r->state, box, "installing");

  box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *label = gtk_label_new(_("Installed"));
  gtk_widget_add_css_class(label, "dim-label");
  gtk_box_append(GTK_BOX(box), label);
  r->remove = row_button(m->name, NULL, "user-trash-symbolic", _("Remove"), G_CALLBACK(remove_clicked_cb), self);
  gtk_box_append(GTK_BOX(box), GTK_WIDGET(r->remove));
  gtk_stack_add_named(r->state, box, "installed");

  adw_action_row_add_suffix(r->row, GTK_WIDGET(r->state));
  adw_preferences_group_add(group, GTK_WIDGET(r->row));
  g_hash_table_insert(self->rows, r->name, r);
  show_state(self, r);
}

/* ---- rows bound to settings ---- */

/* A combo row bound to a string key: the row shows labels[i] and the key
 * takes values[i]; a value the list lacks (a model path typed in a
 * terminal, a microphone now unplugged) is added, so that it shows and is kept. */
typedef struct choice_map {
  GPtrArray *values; /* char* */
  GtkStringList *labels;
} choice_map;

static void
choice_map_free(gpointer data)
{
  choice_map *c = data;
  g_ptr_array_unref(c->values);
  g_object_unref(c->labels);
  g_free(c);
}

static gboolean
choice_get(GValue *value, GVariant *variant, gpointer data)
{
  choice_map *c = data;
  const char *s = g_variant_get_string(variant, NULL);
  guint i = 0;
  while (i < c->values->len && g_strcmp0(c->values->pdata[i], s))
    i++;
  if (i == c->values->len) {
    g_ptr_array_add(c->values, g_strdup(s));
    gtk_string_list_append(c->labels, s);
  }
  g_value_set_uint(value, i);
  return TRUE;
}

static GVariant *
choice_set(const GValue *value, const GVariantType *type, gpointer data)
{
  choice_map *c = data;
  guint i = g_value_get_uint(value);
  return i < c->values->len ? g_variant_new_string(c->values->pdata[i]) : NULL;
}

/* labels: as many as values; NULL: the values themselves. Returns the map,
 * owned by the binding (NULL without settings). */
static choice_map *
bind_choice(HarkPreferencesWindow *self, AdwComboRow *row, const char *key, GPtrArray *values /* taken */,
            GPtrArray *labels /* taken, may be NULL */)
{
  choice_map *c = g_new0(choice_map, 1);
  c->values = values;
  c->labels = gtk_string_list_new(NULL);
  GPtrArray *shown = labels ? labels : values;
  for (guint i = 0; i < shown->len; i++)
    gtk_string_list_append(c->labels, shown->pdata[i]);
  if (labels)
    g_ptr_array_unref(labels);
  adw_combo_row_set_model(row, G_LIST_MODEL(c->labels));
  if (self->settings) {
    g_settings_bind_with_mapping(self->settings, key, row, "selected", G_SETTINGS_BIND_DEFAULT, choice_get,
                                 choice_set, c, choice_map_free);
    return c;
  }
  choice_map_free(c);
  return NULL;
}

/* The microphones PortAudio lists, asked on a thread of their own: probing
 * the devices can take seconds (or hang in a sound server), and the window
 * must not wait for it. They are added to the input row when they come. */
static void
list_inputs_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;
  GPtrArray *inputs = app_dictation_list_inputs(&error);
  if (inputs)
    g_task_return_pointer(task, inputs, (GDestroyNotify)g_ptr_array_unref);
  else
    g_task_return_error(task, error);
}

static void
inputs_listed_cb(GObject *source, GAsyncResult *result, gpointer data)
{
  HarkPreferencesWindow *self = HARK_PREFERENCES_WINDOW(source);
  GError *error = NULL;
  GPtrArray *inputs = g_task_propagate_pointer(G_TASK(result), &error);
  if (!self->disposed) {
    adw_action_row_set_subtitle(ADW_ACTION_ROW(self->input_row), error ? error->message : "");
    for (guint i = 0; inputs && self->input_choice && i < inputs->len; i++) {
      const char *name = inputs->pdata[i];
      gboolean known = FALSE;
      for (guint k = 0; k < self->input_choice->values->len && !known; k++)
        known = !g_strcmp0(self->input_choice->values->pdata[k], name);
      if (!known) {
        g_ptr_array_add(self->input_choice->values, g_strdup(name));
        gtk_string_list_append(self->input_choice->labels, name);
      }
    }
  }
  g_clear_error(&error);
  if (inputs)
    g_ptr_array_unref(inputs);
}

static GPtrArray *
model_names(HarkPreferencesWindow *self, const char *kind)
{
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  const app_catalog *cat = hark_model_manager_get_catalog(self->models, NULL);
  for (guint i = 0; cat && i < app_catalog_n_models(cat); i++)
    if (!g_strcmp0(app_catalog_model(cat, i)->kind, kind))
      g_ptr_array_add(names, g_strdup(app_catalog_model(cat, i)->name));
  return names;
}

static GPtrArray *
strings(const char *first, ...)
{
  GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
  va_list ap;
  va_start(ap, first);
  for (const char *s = first; s; s = va_arg(ap, const char *))
    g_ptr_array_add(a, g_strdup(s));
  va_end(ap);
  return a;
}

/* An integer key shown in a spin button (whose value is a double). */
static gboolean
int_get(GValue *value, GVariant *variant, gpointer data)
{
  g_value_set_double(value, g_variant_get_int32(variant));
  return TRUE;
}

static GVariant *
int_set(const GValue *value, const GVariantType *type, gpointer data)
{
  return g_variant_new_int32((gint32)g_value_get_double(value));
}

static void
bind_settings(HarkPreferencesWindow *self)
{
  bind_choice(self, self->speech_row, "speech-model", model_names(self, "whisper"), NULL);
  bind_choice(self, self->chat_row, "chat-model", model_names(self, "llm"), NULL);
  bind_choice(self, self->vision_row, "vision-model", model_names(self, "vision"), NULL);
  bind_choice(self, self->device_row, "device", strings("auto", "cpu", "cuda", NULL),
              strings(_("Automatic (the GPU when there is one)"), _("CPU"), _("NVIDIA GPU (CUDA)"), NULL));

  /* "" is the default input; the microphones PortAudio lists follow when found. */
  self->input_choice =
    bind_choice(self, self->input_row, "dictation-input", strings("", NULL), strings(_("Default"), NULL));
  adw_action_row_set_subtitle(ADW_ACTION_ROW(self->input_row), _("Looking for microphones…"));
  GTask *task = g_task_new(self, NULL, inputs_listed_cb, NULL);
  g_task_run_in_thread(task, list_inputs_thread);
  g_object_unref(task);

  if (!self->settings)
    return;
  g_settings_bind_with_mapping(self->settings, "gpu-layers", self->gpu_layers_spin, "value",
                               G_SETTINGS_BIND_DEFAULT, int_get, int_set, NULL, NULL);
  g_settings_bind(self->settings, "dictation-pause", self->pause_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind(self->settings, "language", self->language_row, "text", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind(self->settings, "dictation-vad-model", self->vad_row, "text", G_SETTINGS_BIND_DEFAULT);
}

/* ---- public ---- */

AdwActionRow *
hark_preferences_window_get_model_row(HarkPreferencesWindow *self, const char *name)
{
  g_return_val_if_fail(HARK_IS_PREFERENCES_WINDOW(self), NULL);
  model_row *r = g_hash_table_lookup(self->rows, name);
  return r ? r->row : NULL;
}

const char *
hark_preferences_window_get_model_state(HarkPreferencesWindow *self, const char *name)
{
  g_return_val_if_fail(HARK_IS_PREFERENCES_WINDOW(self), NULL);
  model_row *r = g_hash_table_lookup(self->rows, name);
  return r ? gtk_stack_get_visible_child_name(r->state) : NULL;
}

double
hark_preferences_window_get_model_progress(HarkPreferencesWindow *self, const char *name)
{
  g_return_val_if_fail(HARK_IS_PREFERENCES_WINDOW(self), 0);
  model_row *r = g_hash_table_lookup(self->rows, name);
  return r ? gtk_progress_bar_get_fraction(r->progress) : 0;
}

GtkButton *
hark_preferences_window_get_model_button(HarkPreferencesWindow *self, const char *name, const char *which)
{
  g_return_val_if_fail(HARK_IS_PREFERENCES_WINDOW(self), NULL);
  model_row *r = g_hash_table_lookup(self->rows, name);
  if (!r)
    return NULL;
  return !g_strcmp0(which, "install") ? r->install : !g_strcmp0(which, "cancel") ? r->cancel
                                                   : !g_strcmp0(which, "remove") ? r->remove
                                                                                 : NULL;
}

HarkPreferencesWindow *
hark_preferences_window_new(GtkWindow *parent)
{
  return g_object_new(HARK_TYPE_PREFERENCES_WINDOW, "transient-for", parent, NULL);
}

/* ---- GObject ---- */

static void
hark_preferences_window_dispose(GObject *object)
{
  HarkPreferencesWindow *self = HARK_PREFERENCES_WINDOW(object);
  self->disposed = TRUE;
  if (self->models)
    g_signal_handlers_disconnect_by_data(self->models, self);
  g_clear_object(&self->settings);
  gtk_widget_dispose_template(GTK_WIDGET(self), HARK_TYPE_PREFERENCES_WINDOW);
  G_OBJECT_CLASS(hark_preferences_window_parent_class)->dispose(object);
}

static void
hark_preferences_window_finalize(GObject *object)
{
  HarkPreferencesWindow *self = HARK_PREFERENCES_WINDOW(object);
  g_hash_table_unref(self->rows);
  G_OBJECT_CLASS(hark_preferences_window_parent_class)->finalize(object);
}

static void
hark_preferences_window_class_init(HarkPreferencesWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  G_OBJECT_CLASS(klass)->dispose = hark_preferences_window_dispose;
  G_OBJECT_CLASS(klass)->finalize = hark_preferences_window_finalize;
  gtk_widget_class_set_template_from_resource(widget_class, "/io/github/hark/Hark/hark-preferences.ui");
  gtk_widget_class_bind_template_child(widget_class, HarkPreferencesWindow, whisper_group);
  gtk_widget_class_bind_template_child(widget_class, HarkPreferencesWindow, llm_group);
  gtk_widget_class_bind_template_child(widget_class, HarkPreferencesWindow, vision_group);
  gtk_widget_class_bind_template_child(widget_class, HarkPreferencesWindow, speech_row);
  gtk_widget_class_bind_template_child(widget_class, HarkPreferencesWindow, chat_row);
  gtk_widget_class_bind_template_child(widget_class, HarkPreferencesWindow, vision_row);
  gtk_widget_class_bind_template_child(widget_class, HarkPreferencesWindow, device_row);
  gtk_widget_class_bind_template_child(widget_class, HarkPreferencesWindow, gpu_layers_spin);
  gtk_widget_class_bind_template_child(widget_class, HarkPreferencesWindow, input_row);
  gtk_widget_class_bind_template_child(widget_class, HarkPreferencesWindow, language_row);
  gtk_widget_class_bind_template_child(widget_class, HarkPreferencesWindow, pause_spin);
  gtk_widget_class_bind_template_child(widget_class, HarkPreferencesWindow, vad_row);
}

static void
hark_preferences_window_init(HarkPreferencesWindow *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  self->rows = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, model_row_free);
  self->models = hark_model_manager_get_default();
  self->settings = app_settings_new();
  g_signal_connect(self->models, "changed", G_CALLBACK(changed_cb), self);
  g_signal_connect(self->models, "progress", G_CALLBACK(progress_cb), self);

  GError *error = NULL;
  const app_catalog *cat = hark_model_manager_get_catalog(self->models, &error);
  for (guint i = 0; cat && i < app_catalog_n_models(cat); i++)
    add_model_row(self, app_catalog_model(cat, i));
  if (error) {
    adw_preferences_group_set_description(self->whisper_group, error->message);
    g_error_free(error);
  }
  bind_settings(self);
}
