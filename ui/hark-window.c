/* hark-window.c: the main window. Shows state and forwards intents; it never
 * calls an engine itself (that goes through app/ controllers). */
#include "hark-config.h"

#include "hark-window.h"

#include <glib/gi18n.h>

struct _HarkWindow {
  AdwApplicationWindow parent_instance;

  AdwToastOverlay *toast_overlay;
  GtkStack *chat_stack;
  GtkListBox *message_list;
  GtkTextView *composer_view;
  GtkButton *send_button;

  GSettings *settings; /* NULL when the schema is not installed */
  guint n_messages;

  GSourceFunc drawn_cb;
  gpointer drawn_data;
  int frames_left;
};

G_DEFINE_FINAL_TYPE(HarkWindow, hark_window, ADW_TYPE_APPLICATION_WINDOW)

static char *
composer_text(HarkWindow *self)
{
  GtkTextBuffer *buf = gtk_text_view_get_buffer(self->composer_view);
  GtkTextIter start, end;
  gtk_text_buffer_get_bounds(buf, &start, &end);
  char *text = gtk_text_buffer_get_text(buf, &start, &end, FALSE);
  return g_strstrip(text);
}

void
hark_window_add_user_message(HarkWindow *self, const char *text)
{
  g_return_if_fail(HARK_IS_WINDOW(self));
  GtkWidget *label = gtk_label_new(text);
  gtk_label_set_wrap(GTK_LABEL(label), TRUE);
  gtk_label_set_wrap_mode(GTK_LABEL(label), PANGO_WRAP_WORD_CHAR);
  gtk_label_set_selectable(GTK_LABEL(label), TRUE);
  gtk_label_set_xalign(GTK_LABEL(label), 0);
  gtk_widget_set_halign(label, GTK_ALIGN_END);
  gtk_widget_add_css_class(label, "user-message");
  gtk_list_box_append(self->message_list, label);
  gtk_list_box_row_set_activatable(gtk_list_box_get_row_at_index(self->message_list, (int)self->n_messages), FALSE);
  self->n_messages++;
  gtk_stack_set_visible_child_name(self->chat_stack, "messages");
}

guint
hark_window_get_n_messages(HarkWindow *self)
{
  g_return_val_if_fail(HARK_IS_WINDOW(self), 0);
  return self->n_messages;
}

static void
send_clicked_cb(HarkWindow *self)
{
  char *text = composer_text(self);
  if (text[0]) {
    hark_window_add_user_message(self, text);
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(self->composer_view), "", 0);
    adw_toast_overlay_add_toast(self->toast_overlay,
                                adw_toast_new(_("Replies need a language model, which this build does not include")));
  }
  g_free(text);
}

static void
composer_changed_cb(GtkTextBuffer *buf, HarkWindow *self)
{
  char *text = composer_text(self);
  gtk_widget_set_sensitive(GTK_WIDGET(self->send_button), text[0] != '\0');
  g_free(text);
}

/* Enter sends; Shift+Enter (or Ctrl+Enter) inserts a newline. */
static gboolean
composer_key_cb(GtkEventControllerKey *ctl, guint keyval, guint keycode, GdkModifierType state, HarkWindow *self)
{
  if ((keyval == GDK_KEY_Return || keyval == GDK_KEY_KP_Enter) &&
      !(state & (GDK_SHIFT_MASK | GDK_CONTROL_MASK))) {
    send_clicked_cb(self);
    return TRUE;
  }
  return FALSE;
}

static gboolean
frame_tick_cb(GtkWidget *widget, GdkFrameClock *clock, gpointer user_data)
{
  HarkWindow *self = HARK_WINDOW(widget);
  if (--self->frames_left > 0)
    return G_SOURCE_CONTINUE;
  GSourceFunc cb = self->drawn_cb;
  self->drawn_cb = NULL;
  if (cb)
    g_idle_add_full(G_PRIORITY_DEFAULT, cb, self->drawn_data, NULL);
  return G_SOURCE_REMOVE;
}

void
hark_window_when_drawn(HarkWindow *self, GSourceFunc done, gpointer user_data)
{
  g_return_if_fail(HARK_IS_WINDOW(self));
  self->drawn_cb = done;
  self->drawn_data = user_data;
  self->frames_left = 3;
  gtk_widget_add_tick_callback(GTK_WIDGET(self), frame_tick_cb, NULL, NULL);
}

gboolean
hark_window_save_png(HarkWindow *self, const char *path, GError **error)
{
  g_return_val_if_fail(HARK_IS_WINDOW(self), FALSE);
  GtkWidget *w = GTK_WIDGET(self);
  int width = gtk_widget_get_width(w), height = gtk_widget_get_height(w);
  GskRenderer *renderer = gtk_native_get_renderer(GTK_NATIVE(self));
  if (width <= 0 || height <= 0 || !renderer) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the window is not shown yet");
    return FALSE;
  }
  GdkPaintable *paintable = gtk_widget_paintable_new(w);
  GtkSnapshot *snapshot = gtk_snapshot_new();
  gdk_paintable_snapshot(paintable, snapshot, width, height);
  GskRenderNode *node = gtk_snapshot_free_to_node(snapshot);
  g_object_unref(paintable);
  if (!node) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the window drew nothing");
    return FALSE;
  }
  graphene_rect_t bounds = GRAPHENE_RECT_INIT(0, 0, (float)width, (float)height);
  GdkTexture *texture = gsk_renderer_render_texture(renderer, node, &bounds);
  gsk_render_node_unref(node);
  gboolean ok = gdk_texture_save_to_png(texture, path);
  g_object_unref(texture);
  if (!ok)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot write %s", path);
  return ok;
}

/* The schema is only there once hark is installed (or GSETTINGS_SCHEMA_DIR points
 * at the build tree); without it the window simply does not remember its size. */
static GSettings *
lookup_settings(void)
{
  GSettingsSchemaSource *src = g_settings_schema_source_get_default();
  GSettingsSchema *schema = src ? g_settings_schema_source_lookup(src, HARK_APP_ID, TRUE) : NULL;
  if (!schema)
    return NULL;
  GSettings *s = g_settings_new_full(schema, NULL, NULL);
  g_settings_schema_unref(schema);
  return s;
}

static void
hark_window_dispose(GObject *object)
{
  HarkWindow *self = HARK_WINDOW(object);
  g_clear_object(&self->settings);
  gtk_widget_dispose_template(GTK_WIDGET(self), HARK_TYPE_WINDOW);
  G_OBJECT_CLASS(hark_window_parent_class)->dispose(object);
}

static void
hark_window_class_init(HarkWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  G_OBJECT_CLASS(klass)->dispose = hark_window_dispose;
  gtk_widget_class_set_template_from_resource(widget_class, "/io/github/hark/Hark/hark-window.ui");
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, toast_overlay);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, chat_stack);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, message_list);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, composer_view);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, send_button);
  gtk_widget_class_bind_template_callback(widget_class, send_clicked_cb);
}

static void
hark_window_init(HarkWindow *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));

  GtkTextBuffer *buf = gtk_text_view_get_buffer(self->composer_view);
  g_signal_connect(buf, "changed", G_CALLBACK(composer_changed_cb), self);
  GtkEventController *keys = gtk_event_controller_key_new();
  g_signal_connect(keys, "key-pressed", G_CALLBACK(composer_key_cb), self);
  gtk_widget_add_controller(GTK_WIDGET(self->composer_view), keys);

  self->settings = lookup_settings();
  if (self->settings) {
    g_settings_bind(self->settings, "window-width", self, "default-width", G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "window-height", self, "default-height", G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "window-maximized", self, "maximized", G_SETTINGS_BIND_DEFAULT);
  }
  gtk_widget_grab_focus(GTK_WIDGET(self->composer_view));
}

HarkWindow *
hark_window_new(GtkApplication *app)
{
  return g_object_new(HARK_TYPE_WINDOW, "application", app, NULL);
}
