/* hark-message-row.c: a message: markdown via app-markdown, a streaming
 * cursor, copy and regenerate. */
#include "hark-config.h"

#include "hark-message-row.h"

#include <glib/gi18n.h>

#include "app-markdown.h"

struct _HarkMessageRow {
  GtkListBoxRow parent_instance;

  GtkBox *images;
  GtkLabel *label;
  GtkBox *actions;
  GtkLabel *stopped_label;
  GtkButton *copy_button;
  GtkButton *regenerate_button;

  char *role;
  GString *text;
  char *markup;
  gboolean streaming, stopped, can_regenerate;
};

G_DEFINE_FINAL_TYPE(HarkMessageRow, hark_message_row, GTK_TYPE_LIST_BOX_ROW)

enum { SIG_REGENERATE, N_SIGNALS };
static guint signals[N_SIGNALS];

#define CURSOR "\xe2\x96\x8d" /* U+258D, a left five-eighths block */

static void
update(HarkMessageRow *self)
{
  g_free(self->markup);
  if (!g_strcmp0(self->role, "user")) {
    self->markup = g_markup_escape_text(self->text->str, -1);
  } else {
    char *md = app_markdown_to_pango(self->text->str);
    self->markup = self->streaming ? g_strconcat(md, "<span alpha=\"70%\">" CURSOR "</span>", NULL) : g_strdup(md);
    g_free(md);
  }
  gtk_label_set_markup(self->label, self->markup);
  gtk_widget_set_visible(GTK_WIDGET(self->actions), !self->streaming);
  gtk_widget_set_visible(GTK_WIDGET(self->stopped_label), self->stopped && !self->streaming);
  gtk_widget_set_visible(GTK_WIDGET(self->regenerate_button), self->can_regenerate && !self->streaming);
  gtk_widget_set_tooltip_text(GTK_WIDGET(self->regenerate_button),
                              !g_strcmp0(self->role, "user") ? _("Get a Reply") : _("Regenerate"));
}

HarkMessageRow *
hark_message_row_new(const char *role, const char *text)
{
  HarkMessageRow *self = g_object_new(HARK_TYPE_MESSAGE_ROW, NULL);
  self->role = g_strdup(role);
  g_string_assign(self->text, text ? text : "");
  gboolean user = !g_strcmp0(role, "user");
  /* The row's child is the bubble (not a template child: the row's own
   * dispose unparents it). */
  GtkWidget *bubble = gtk_list_box_row_get_child(GTK_LIST_BOX_ROW(self));
  gtk_widget_add_css_class(bubble, user ? "user-message" : "assistant-message");
  gtk_widget_set_halign(bubble, user ? GTK_ALIGN_END : GTK_ALIGN_FILL);
  gtk_widget_set_halign(GTK_WIDGET(self->actions), user ? GTK_ALIGN_END : GTK_ALIGN_START);
  gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                 user ? _("Your message") : _("Reply"), -1);
  update(self);
  return self;
}

const char *
hark_message_row_get_role(HarkMessageRow *self)
{
  g_return_val_if_fail(HARK_IS_MESSAGE_ROW(self), NULL);
  return self->role;
}

const char *
hark_message_row_get_text(HarkMessageRow *self)
{
  g_return_val_if_fail(HARK_IS_MESSAGE_ROW(self), NULL);
  return self->text->str;
}

const char *
hark_message_row_get_markup(HarkMessageRow *self)
{
  g_return_val_if_fail(HARK_IS_MESSAGE_ROW(self), NULL);
  return self->markup;
}

void
hark_message_row_append(HarkMessageRow *self, const char *piece)
{
  g_return_if_fail(HARK_IS_MESSAGE_ROW(self));
  g_string_append(self->text, piece);
  update(self);
}

void
hark_message_row_set_text(HarkMessageRow *self, const char *text)
{
  g_return_if_fail(HARK_IS_MESSAGE_ROW(self));
  g_string_assign(self->text, text ? text : "");
  update(self);
}

void
hark_message_row_set_images(HarkMessageRow *self, const char *const *paths)
{
  g_return_if_fail(HARK_IS_MESSAGE_ROW(self));
  GtkWidget *c;
  while ((c = gtk_widget_get_first_child(GTK_WIDGET(self->images))))
    gtk_box_remove(self->images, c);
  guint n = 0;
  for (; paths && paths[n]; n++) {
    GtkWidget *w;
    if (g_file_test(paths[n], G_FILE_TEST_IS_REGULAR)) {
      w = gtk_picture_new_for_filename(paths[n]);
      gtk_picture_set_can_shrink(GTK_PICTURE(w), TRUE);
      gtk_picture_set_content_fit(GTK_PICTURE(w), GTK_CONTENT_FIT_COVER);
      gtk_widget_set_size_request(w, 160, 120);
      gtk_widget_add_css_class(w, "attachment");
    } else {
      /* The file was moved or deleted since: say which it was. */
      char *base = g_path_get_basename(paths[n]);
      char *text = g_strdup_printf(_("%s (missing)"), base);
      w = gtk_label_new(text);
      gtk_widget_add_css_class(w, "dim-label");
      g_free(text), g_free(base);
    }
    gtk_widget_set_tooltip_text(w, paths[n]);
    gtk_box_append(self->images, w);
  }
  gtk_widget_set_visible(GTK_WIDGET(self->images), n > 0);
}

guint
hark_message_row_get_n_images(HarkMessageRow *self)
{
  g_return_val_if_fail(HARK_IS_MESSAGE_ROW(self), 0);
  guint n = 0;
  for (GtkWidget *c = gtk_widget_get_first_child(GTK_WIDGET(self->images)); c; c = gtk_widget_get_next_sibling(c))
    n += GTK_IS_PICTURE(c);
  return n;
}

void
hark_message_row_set_streaming(HarkMessageRow *self, gboolean streaming)
{
  g_return_if_fail(HARK_IS_MESSAGE_ROW(self));
  self->streaming = streaming;
  update(self);
}

gboolean
hark_message_row_get_streaming(HarkMessageRow *self)
{
  g_return_val_if_fail(HARK_IS_MESSAGE_ROW(self), FALSE);
  return self->streaming;
}

void
hark_message_row_set_stopped(HarkMessageRow *self, gboolean stopped)
{
  g_return_if_fail(HARK_IS_MESSAGE_ROW(self));
  self->stopped = stopped;
  update(self);
}

gboolean
hark_message_row_get_stopped(HarkMessageRow *self)
{
  g_return_val_if_fail(HARK_IS_MESSAGE_ROW(self), FALSE);
  return self->stopped;
}

void
hark_message_row_set_can_regenerate(HarkMessageRow *self, gboolean can)
{
  g_return_if_fail(HARK_IS_MESSAGE_ROW(self));
  self->can_regenerate = can;
  update(self);
}

static void
copy_clicked_cb(HarkMessageRow *self)
{
  gdk_clipboard_set_text(gtk_widget_get_clipboard(GTK_WIDGET(self)), self->text->str);
}

static void
regenerate_clicked_cb(HarkMessageRow *self)
{
  g_signal_emit(self, signals[SIG_REGENERATE], 0);
}

static void
hark_message_row_dispose(GObject *object)
{
  gtk_widget_dispose_template(GTK_WIDGET(object), HARK_TYPE_MESSAGE_ROW);
  G_OBJECT_CLASS(hark_message_row_parent_class)->dispose(object);
}

static void
hark_message_row_finalize(GObject *object)
{
  HarkMessageRow *self = HARK_MESSAGE_ROW(object);
  g_free(self->role);
  g_free(self->markup);
  g_string_free(self->text, TRUE);
  G_OBJECT_CLASS(hark_message_row_parent_class)->finalize(object);
}

static void
hark_message_row_class_init(HarkMessageRowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  G_OBJECT_CLASS(klass)->dispose = hark_message_row_dispose;
  G_OBJECT_CLASS(klass)->finalize = hark_message_row_finalize;
  gtk_widget_class_set_template_from_resource(widget_class, "/io/github/hark/Hark/hark-message-row.ui");
  gtk_widget_class_bind_template_child(widget_class, HarkMessageRow, images);
  gtk_widget_class_bind_template_child(widget_class, HarkMessageRow, label);
  gtk_widget_class_bind_template_child(widget_class, HarkMessageRow, actions);
  gtk_widget_class_bind_template_child(widget_class, HarkMessageRow, stopped_label);
  gtk_widget_class_bind_template_child(widget_class, HarkMessageRow, copy_button);
  gtk_widget_class_bind_template_child(widget_class, HarkMessageRow, regenerate_button);
  gtk_widget_class_bind_template_callback(widget_class, copy_clicked_cb);
  gtk_widget_class_bind_template_callback(widget_class, regenerate_clicked_cb);
  signals[SIG_REGENERATE] = g_signal_new("regenerate", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                         NULL, G_TYPE_NONE, 0);
}

static void
hark_message_row_init(HarkMessageRow *self)
{
  self->text = g_string_new(NULL);
  gtk_widget_init_template(GTK_WIDGET(self));
}
