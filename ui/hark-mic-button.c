/* hark-mic-button.c: the composer's microphone. Shows what
 * HarkDictationController hears: partial text dimmed at a mark in the text
 * view, replaced by each new partial; final text inserted there for good. */
#include "hark-config.h"

#include "hark-mic-button.h"

#include <glib/gi18n.h>
#include <string.h>

#include "app-model-manager.h"
#include "app-settings.h"

#define PARTIAL_TAG "dictation-partial"

struct _HarkMicButton {
  GtkWidget parent_instance;

  GtkLevelBar *level_bar;
  GtkToggleButton *toggle;

  HarkDictationController *dictation;
  GSettings *settings; /* NULL without the schema */
  GtkTextView *view;   /* weak */
  GtkTextMark *mark;   /* where dictated text goes, in view's buffer; NULL when idle */
  gboolean first_final; /* no final text yet in this session */
  gboolean key_held;    /* F9 is down */
  char *missing_model;  /* the speech model the last session found not installed */
};

G_DEFINE_FINAL_TYPE(HarkMicButton, hark_mic_button, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_TEXT_VIEW, N_PROPS };
static GParamSpec *props[N_PROPS];

static void
toast(HarkMicButton *self, AdwToast *t /* taken */)
{
  GtkWidget *overlay = gtk_widget_get_ancestor(GTK_WIDGET(self), ADW_TYPE_TOAST_OVERLAY);
  if (overlay)
    adw_toast_overlay_add_toast(ADW_TOAST_OVERLAY(overlay), t);
  else
    g_object_unref(g_object_ref_sink(t));
}

static void
toast_text(HarkMicButton *self, const char *text)
{
  AdwToast *t = adw_toast_new(text);
  adw_toast_set_timeout(t, 6);
  toast(self, t);
}

/* ---- the text ---- */

static GtkTextBuffer *
buffer(HarkMicButton *self)
{
  return self->view ? gtk_text_view_get_buffer(self->view) : NULL;
}

/* Removes the partial text, which starts at the mark. */
static void
clear_partial(HarkMicButton *self)
{
  GtkTextBuffer *buf = buffer(self);
  if (!buf || !self->mark)
    return;
  GtkTextTag *tag = gtk_text_tag_table_lookup(gtk_text_buffer_get_tag_table(buf), PARTIAL_TAG);
  GtkTextIter start, end;
  gtk_text_buffer_get_iter_at_mark(buf, &start, self->mark);
  end = start;
  if (gtk_text_iter_has_tag(&end, tag)) {
    gtk_text_iter_forward_to_tag_toggle(&end, tag);
    gtk_text_buffer_delete(buf, &start, &end);
  }
}

/* The text as inserted at the mark: a space before it when it would run
 * into a word already there. */
static char *
spaced(HarkMicButton *self, const char *text)
{
  GtkTextIter at;
  gtk_text_buffer_get_iter_at_mark(buffer(self), &at, self->mark);
  gboolean space = FALSE;
  if (self->first_final && text[0] && !g_unichar_isspace(g_utf8_get_char(text)) &&
      gtk_text_iter_backward_char(&at))
    space = !g_unichar_isspace(gtk_text_iter_get_char(&at));
  return g_strconcat(space ? " " : "", self->first_final ? text + strspn(text, " ") : text, NULL);
}

static void
partial_cb(HarkDictationController *d, const char *text, HarkMicButton *self)
{
  GtkTextBuffer *buf = buffer(self);
  if (!buf || !self->mark)
    return;
  clear_partial(self);
  if (!text[0])
    return;
  char *s = spaced(self, text);
  GtkTextIter at;
  gtk_text_buffer_get_iter_at_mark(buf, &at, self->mark);
  gtk_text_buffer_insert_with_tags_by_name(buf, &at, s, -1, PARTIAL_TAG, NULL);
  g_free(s);
}

static void
final_cb(HarkDictationController *d, const char *text, HarkMicButton *self)
{
  GtkTextBuffer *buf = buffer(self);
  if (!buf || !self->mark || !text[0])
    return;
  clear_partial(self);
  char *s = spaced(self, text);
  self->first_final = FALSE;
  GtkTextIter at;
  gtk_text_buffer_get_iter_at_mark(buf, &at, self->mark);
  gtk_text_buffer_insert(buf, &at, s, -1);
  gtk_text_buffer_move_mark(buf, self->mark, &at); /* after it: the next text follows */
  gtk_text_buffer_place_cursor(buf, &at);
  g_free(s);
}

static void
level_cb(HarkDictationController *d, double dbfs, HarkMicButton *self)
{
  gtk_level_bar_set_value(self->level_bar, CLAMP((dbfs + 60.0) / 60.0, 0.0, 1.0));
}

/* ---- errors ---- */

static void
install_done_cb(GObject *source, GAsyncResult *result, gpointer data)
{
  HarkMicButton *self = data;
  GError *error = NULL;
  if (hark_model_manager_install_finish(HARK_MODEL_MANAGER(source), result, &error)) {
    toast_text(self, _("Speech model installed; press the microphone to dictate"));
  } else if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    char *msg = g_strdup_printf(_("The model could not be installed: %s"), error->message);
    toast_text(self, msg);
    g_free(msg);
  }
  g_clear_error(&error);
  g_object_unref(self);
}

static void
install_clicked_cb(HarkMicButton *self)
{
  if (!self->missing_model)
    return;
  char *title = g_strdup_printf(_("Installing %s…"), self->missing_model);
  toast_text(self, title);
  g_free(title);
  hark_model_manager_install_async(hark_model_manager_get_default(), self->missing_model, NULL, install_done_cb,
                                   g_object_ref(self));
}

static void
ended_cb(HarkDictationController *d, const GError *error, HarkMicButton *self)
{
  clear_partial(self);
  if (self->mark) {
    gtk_text_buffer_delete_mark(buffer(self), self->mark);
    g_clear_object(&self->mark);
  }
  if (!error)
    return;
  g_clear_pointer(&self->missing_model, g_free);
  if (g_error_matches(error, APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED)) {
    char *model = NULL;
    g_object_get(d, "model", &model, NULL);
    char *title = g_strdup_printf(_("The speech model %s is not installed"), model);
    AdwToast *t = adw_toast_new(title);
    adw_toast_set_button_label(t, _("_Install Model"));
    g_signal_connect_object(t, "button-clicked", G_CALLBACK(install_clicked_cb), self, G_CONNECT_SWAPPED);
    adw_toast_set_timeout(t, 0);
    self->missing_model = model;
    toast(self, t);
    g_free(title);
    return;
  }
  char *msg = g_strdup_printf(_("Dictation stopped: %s"), error->message);
  toast_text(self, msg);
  g_free(msg);
}

/* The toggle and the level meter follow the controller. */
static void
active_cb(HarkDictationController *d, GParamSpec *pspec, HarkMicButton *self)
{
  gboolean active = hark_dictation_controller_get_active(d);
  g_signal_handlers_block_matched(self->toggle, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, self);
  gtk_toggle_button_set_active(self->toggle, active);
  g_signal_handlers_unblock_matched(self->toggle, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, self);
  gtk_level_bar_set_value(self->level_bar, 0);
  gtk_widget_set_visible(GTK_WIDGET(self->level_bar), active);
  gtk_widget_set_tooltip_text(GTK_WIDGET(self->toggle), active ? _("Stop Dictation (release F9, or Ctrl+Shift+D)")
                                                               : _("Dictate (hold F9, or Ctrl+Shift+D)"));
}

/* ---- starting and stopping ---- */

/* Dictated text goes where the cursor is now. */
static void
begin_text(HarkMicButton *self)
{
  GtkTextBuffer *buf = buffer(self);
  if (self->mark)
    gtk_text_buffer_delete_mark(buf, self->mark);
  g_clear_object(&self->mark);
  GtkTextIter at;
  gtk_text_buffer_get_iter_at_mark(buf, &at, gtk_text_buffer_get_insert(buf));
  /* Left gravity: text inserted at the mark goes after it. */
  self->mark = g_object_ref(gtk_text_buffer_create_mark(buf, NULL, &at, TRUE));
  self->first_final = TRUE;
}

/* path: an audio file to play in; NULL: the microphone. */
static void
begin(HarkMicButton *self, const char *path)
{
  if (!self->view || hark_dictation_controller_get_active(self->dictation))
    return;
  begin_text(self);
  if (path)
    hark_dictation_controller_start_file(self->dictation, path);
  else
    hark_dictation_controller_start(self->dictation);
}

void
hark_mic_button_start(HarkMicButton *self)
{
  g_return_if_fail(HARK_IS_MIC_BUTTON(self));
  begin(self, NULL);
}

void
hark_mic_button_start_file(HarkMicButton *self, const char *path)
{
  g_return_if_fail(HARK_IS_MIC_BUTTON(self));
  g_return_if_fail(path != NULL);
  begin(self, path);
}

void
hark_mic_button_stop(HarkMicButton *self)
{
  g_return_if_fail(HARK_IS_MIC_BUTTON(self));
  if (self->dictation) /* NULL once disposed */
    hark_dictation_controller_stop(self->dictation);
}

HarkDictationController *
hark_mic_button_get_controller(HarkMicButton *self)
{
  g_return_val_if_fail(HARK_IS_MIC_BUTTON(self), NULL);
  return self->dictation;
}

char *
hark_mic_button_get_partial(HarkMicButton *self)
{
  g_return_val_if_fail(HARK_IS_MIC_BUTTON(self), NULL);
  GtkTextBuffer *buf = buffer(self);
  if (!buf || !self->mark)
    return g_strdup("");
  GtkTextTag *tag = gtk_text_tag_table_lookup(gtk_text_buffer_get_tag_table(buf), PARTIAL_TAG);
  GtkTextIter start, end;
  gtk_text_buffer_get_iter_at_mark(buf, &start, self->mark);
  end = start;
  if (!gtk_text_iter_has_tag(&start, tag))
    return g_strdup("");
  gtk_text_iter_forward_to_tag_toggle(&end, tag);
  return gtk_text_buffer_get_text(buf, &start, &end, FALSE);
}

static void
toggled_cb(HarkMicButton *self)
{
  if (gtk_toggle_button_get_active(self->toggle))
    hark_mic_button_start(self);
  else
    hark_mic_button_stop(self);
  /* Without a view nothing started: the toggle shows that. */
  active_cb(self->dictation, NULL, self);
}

void
hark_mic_button_set_text_view(HarkMicButton *self, GtkTextView *view)
{
  g_return_if_fail(HARK_IS_MIC_BUTTON(self));
  if (self->view == view)
    return;
  hark_mic_button_stop(self);
  if (self->view)
    g_object_remove_weak_pointer(G_OBJECT(self->view), (gpointer *)&self->view);
  self->view = view;
  if (view) {
    g_object_add_weak_pointer(G_OBJECT(view), (gpointer *)&self->view);
    GtkTextBuffer *buf = gtk_text_view_get_buffer(view);
    if (!gtk_text_tag_table_lookup(gtk_text_buffer_get_tag_table(buf), PARTIAL_TAG))
      gtk_text_buffer_create_tag(buf, PARTIAL_TAG, "foreground", "gray", "style", PANGO_STYLE_ITALIC, NULL);
  }
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_TEXT_VIEW]);
}

/* ---- hold-to-talk ---- */

static gboolean
key_pressed_cb(GtkEventControllerKey *keys, guint keyval, guint keycode, GdkModifierType state, HarkMicButton *self)
{
  /* Not while the window shows another page (the welcome page). */
  if (keyval != GDK_KEY_F9 || !gtk_widget_get_mapped(GTK_WIDGET(self)))
    return FALSE;
  if (!self->key_held) { /* not the key's auto-repeat */
    self->key_held = TRUE;
    hark_mic_button_start(self);
  }
  return TRUE;
}

static void
key_released_cb(GtkEventControllerKey *keys, guint keyval, guint keycode, GdkModifierType state, HarkMicButton *self)
{
  if (keyval != GDK_KEY_F9 || !self->key_held)
    return;
  self->key_held = FALSE;
  hark_mic_button_stop(self);
}

static gboolean
toggle_shortcut_cb(GtkWidget *widget, GVariant *args, gpointer data)
{
  HarkMicButton *self = data;
  if (!gtk_widget_get_mapped(GTK_WIDGET(self)))
    return FALSE;
  if (hark_dictation_controller_get_active(self->dictation))
    hark_mic_button_stop(self);
  else
    hark_mic_button_start(self);
  return TRUE;
}

void
hark_mic_button_add_shortcuts(HarkMicButton *self, GtkWidget *window)
{
  g_return_if_fail(HARK_IS_MIC_BUTTON(self));
  GtkEventController *keys = gtk_event_controller_key_new();
  gtk_event_controller_set_name(keys, "hark-hold-to-talk");
  gtk_event_controller_set_propagation_phase(keys, GTK_PHASE_CAPTURE);
  g_signal_connect_object(keys, "key-pressed", G_CALLBACK(key_pressed_cb), self, 0);
  g_signal_connect_object(keys, "key-released", G_CALLBACK(key_released_cb), self, 0);
  gtk_widget_add_controller(window, keys);
  GtkEventController *shortcuts = gtk_shortcut_controller_new();
  gtk_event_controller_set_propagation_phase(shortcuts, GTK_PHASE_CAPTURE);
  GtkShortcut *s = gtk_shortcut_new(gtk_keyval_trigger_new(GDK_KEY_d, GDK_CONTROL_MASK | GDK_SHIFT_MASK),
                                    gtk_callback_action_new(toggle_shortcut_cb, self, NULL));
  gtk_shortcut_controller_add_shortcut(GTK_SHORTCUT_CONTROLLER(shortcuts), s);
  gtk_widget_add_controller(window, shortcuts);
}

/* ---- GObject ---- */

static void
hark_mic_button_dispose(GObject *object)
{
  HarkMicButton *self = HARK_MIC_BUTTON(object);
  if (self->dictation) {
    /* The session ends on its own thread; nothing here hears it. */
    g_signal_handlers_disconnect_by_data(self->dictation, self);
    hark_dictation_controller_stop(self->dictation);
    g_clear_object(&self->dictation);
  }
  hark_mic_button_set_text_view(self, NULL);
  g_clear_object(&self->mark);
  g_clear_object(&self->settings);
  gtk_widget_dispose_template(GTK_WIDGET(self), HARK_TYPE_MIC_BUTTON);
  G_OBJECT_CLASS(hark_mic_button_parent_class)->dispose(object);
}

static void
hark_mic_button_finalize(GObject *object)
{
  HarkMicButton *self = HARK_MIC_BUTTON(object);
  g_free(self->missing_model);
  G_OBJECT_CLASS(hark_mic_button_parent_class)->finalize(object);
}

static void
hark_mic_button_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  HarkMicButton *self = HARK_MIC_BUTTON(object);
  if (id == PROP_TEXT_VIEW)
    g_value_set_object(value, self->view);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
}

static void
hark_mic_button_set_property(GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  HarkMicButton *self = HARK_MIC_BUTTON(object);
  if (id == PROP_TEXT_VIEW)
    hark_mic_button_set_text_view(self, g_value_get_object(value));
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
}

static void
hark_mic_button_class_init(HarkMicButtonClass *klass)
{
  GObjectClass *oc = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  oc->dispose = hark_mic_button_dispose;
  oc->finalize = hark_mic_button_finalize;
  oc->get_property = hark_mic_button_get_property;
  oc->set_property = hark_mic_button_set_property;
  props[PROP_TEXT_VIEW] = g_param_spec_object("text-view", NULL, NULL, GTK_TYPE_TEXT_VIEW,
                                              G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties(oc, N_PROPS, props);
  gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_template_from_resource(widget_class, "/io/github/hark/Hark/hark-mic-button.ui");
  gtk_widget_class_bind_template_child(widget_class, HarkMicButton, level_bar);
  gtk_widget_class_bind_template_child(widget_class, HarkMicButton, toggle);
  gtk_widget_class_bind_template_callback(widget_class, toggled_cb);
}

static void
hark_mic_button_init(HarkMicButton *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  gtk_box_layout_set_spacing(GTK_BOX_LAYOUT(gtk_widget_get_layout_manager(GTK_WIDGET(self))), 6);
  GError *error = NULL;
  self->dictation = hark_dictation_controller_new(&error);
  if (!self->dictation)
    g_error("cannot start the dictation worker: %s", error->message); /* no threads: nothing works */
  g_signal_connect(self->dictation, "partial", G_CALLBACK(partial_cb), self);
  g_signal_connect(self->dictation, "final", G_CALLBACK(final_cb), self);
  g_signal_connect(self->dictation, "level", G_CALLBACK(level_cb), self);
  g_signal_connect(self->dictation, "ended", G_CALLBACK(ended_cb), self);
  g_signal_connect(self->dictation, "notify::active", G_CALLBACK(active_cb), self);
  self->settings = app_settings_new();
  if (self->settings) {
    static const char *const binds[][2] = { { "speech-model", "model" },   { "device", "device" },
                                            { "language", "language" },    { "dictation-input", "input" },
                                            { "dictation-pause", "pause" }, { "dictation-vad-model", "vad-model" } };
    for (guint i = 0; i < G_N_ELEMENTS(binds); i++)
      g_settings_bind(self->settings, binds[i][0], self->dictation, binds[i][1], G_SETTINGS_BIND_GET);
  }
}
