/* hark-window.c: the main window: conversations in a sidebar, the chat view
 * and the composer. Shows state and forwards intents; the history and the
 * model are behind app/'s HarkChatController, never called from here. */
#include "hark-config.h"

#include "hark-window.h"

#include <glib/gi18n.h>

#include "app-chat.h"
#include "app-jobs.h"
#include "app-models.h"
#include "app-settings.h"
#include "hark-job-row.h"
#include "hark-message-row.h"
#include "hark-mic-button.h"
#include "hark-welcome-page.h"

struct _HarkWindow {
  AdwApplicationWindow parent_instance;

  AdwToastOverlay *toast_overlay;
  AdwLeaflet *leaflet;
  GtkSearchBar *search_bar;
  GtkSearchEntry *search_entry;
  GtkStack *sidebar_stack;
  GtkListBox *conversation_list;
  AdwWindowTitle *window_title;
  GtkStack *chat_stack;
  GtkScrolledWindow *message_scroll;
  GtkListBox *message_list;
  GtkTextView *composer_view;
  GtkButton *send_button;
  GtkButton *stop_button;
  GtkBox *attachment_box;
  GtkStack *main_stack;
  HarkWelcomePage *welcome_page;
  HarkMicButton *mic_button;

  GPtrArray *attachments; /* image paths for the next message */

  GSettings *settings; /* NULL when the schema is not installed */
  app_history *history;
  HarkChatController *chat;
  gint64 conversation; /* shown; 0: a new chat not yet written */
  guint n_messages;
  gboolean listing; /* rebuilding the sidebar: selections are not the user's */
  gboolean disposed; /* replies that end later find no widgets */

  /* The reply being generated, if any. */
  GCancellable *cancel;
  gint64 streaming_conversation;
  GString *streaming_text;
  HarkMessageRow *streaming_row; /* NULL while another conversation is shown */
  gboolean regenerating;

  GCancellable *install_cancel;
  AdwToast *install_toast;
  char *installing; /* the model being installed */

  HarkJobController *jobs;
  GPtrArray *job_rows; /* HarkJobRow* (refs) of jobs started here and not in the history */

  GSourceFunc drawn_cb;
  gpointer drawn_data;
  int frames_left;
};

G_DEFINE_FINAL_TYPE(HarkWindow, hark_window, ADW_TYPE_APPLICATION_WINDOW)

static void
toast(HarkWindow *self, const char *text)
{
  AdwToast *t = adw_toast_new(text);
  adw_toast_set_timeout(t, 6);
  adw_toast_overlay_add_toast(self->toast_overlay, t);
}

static char *
composer_text(HarkWindow *self)
{
  GtkTextBuffer *buf = gtk_text_view_get_buffer(self->composer_view);
  GtkTextIter start, end;
  gtk_text_buffer_get_bounds(buf, &start, &end);
  char *text = gtk_text_buffer_get_text(buf, &start, &end, FALSE);
  return g_strstrip(text);
}

static void
update_buttons(HarkWindow *self)
{
  gboolean busy = self->cancel != NULL;
  char *text = composer_text(self);
  gtk_widget_set_visible(GTK_WIDGET(self->stop_button), busy);
  gtk_widget_set_visible(GTK_WIDGET(self->send_button), !busy);
  gtk_widget_set_sensitive(GTK_WIDGET(self->send_button), !busy && text[0] != '\0');
  g_free(text);
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.delete-chat", self->conversation != 0);
}

static void
scroll_to_end(HarkWindow *self)
{
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment(self->message_scroll);
  gtk_adjustment_set_value(adj, gtk_adjustment_get_upper(adj));
}

/* Only the last message offers a new reply (a reply again, or the reply a
 * message never got), and not while one is written. */
static void
update_regenerate(HarkWindow *self)
{
  HarkMessageRow *last = NULL;
  for (GtkWidget *c = gtk_widget_get_first_child(GTK_WIDGET(self->message_list)); c;
       c = gtk_widget_get_next_sibling(c)) {
    if (!HARK_IS_MESSAGE_ROW(c))
      continue;
    hark_message_row_set_can_regenerate(HARK_MESSAGE_ROW(c), FALSE);
    last = HARK_MESSAGE_ROW(c);
  }
  /* A transcript (a job row) after it is not a reply to replace. */
  if (last && GTK_WIDGET(last) == gtk_widget_get_last_child(GTK_WIDGET(self->message_list)) && !self->cancel)
    hark_message_row_set_can_regenerate(last, TRUE);
}

static void regenerate_cb(HarkWindow *self);
static void show_attachments(HarkWindow *self);
static void add_job_row(HarkWindow *self, HarkJobRow *row);
static void show_job_rows(HarkWindow *self, gint64 conversation);

static HarkMessageRow *
add_row(HarkWindow *self, const char *role, const char *text)
{
  HarkMessageRow *row = hark_message_row_new(role, text);
  g_signal_connect_swapped(row, "regenerate", G_CALLBACK(regenerate_cb), self);
  gtk_list_box_append(self->message_list, GTK_WIDGET(row));
  self->n_messages++;
  gtk_stack_set_visible_child_name(self->chat_stack, "messages");
  return row;
}

static void
remove_row(HarkWindow *self, gpointer row /* a message or a job row */)
{
  gtk_list_box_remove(self->message_list, GTK_WIDGET(row));
  self->n_messages--;
  if (!self->n_messages)
    gtk_stack_set_visible_child_name(self->chat_stack, "empty");
}

static void
clear_messages(HarkWindow *self)
{
  GtkWidget *c;
  while ((c = gtk_widget_get_first_child(GTK_WIDGET(self->message_list))))
    gtk_list_box_remove(self->message_list, c);
  self->n_messages = 0;
  self->streaming_row = NULL;
  gtk_stack_set_visible_child_name(self->chat_stack, "empty");
}

/* ---- the sidebar ---- */

/* A row's menu is made for one click; it goes once closed (its action has run by then). */
static gboolean
unparent_idle(gpointer popover)
{
  gtk_widget_unparent(popover);
  return G_SOURCE_REMOVE;
}

static void
popover_closed_cb(GtkPopover *popover)
{
  g_idle_add_full(G_PRIORITY_DEFAULT_IDLE, unparent_idle, popover, NULL);
}

/* A right click (or a long press) on a sidebar row offers to delete it. */
static void
row_menu_cb(GtkGesture *gesture, int n_press, double x, double y, GtkWidget *row)
{
  gint64 *id = g_object_get_data(G_OBJECT(row), "conversation");
  GMenu *menu = g_menu_new();
  GMenuItem *item = g_menu_item_new(_("_Delete Chat…"), NULL);
  g_menu_item_set_action_and_target_value(item, "win.delete-conversation", g_variant_new_int64(*id));
  g_menu_append_item(menu, item);
  g_object_unref(item);
  GtkWidget *popover = gtk_popover_menu_new_from_model(G_MENU_MODEL(menu));
  g_object_unref(menu);
  gtk_widget_set_parent(popover, row);
  gtk_popover_set_pointing_to(GTK_POPOVER(popover), &(GdkRectangle){ (int)x, (int)y, 1, 1 });
  gtk_popover_set_has_arrow(GTK_POPOVER(popover), FALSE);
  g_signal_connect(popover, "closed", G_CALLBACK(popover_closed_cb), NULL);
  gtk_popover_popup(GTK_POPOVER(popover));
  gtk_gesture_set_state(gesture, GTK_EVENT_SEQUENCE_CLAIMED);
}

static void
row_long_press_cb(GtkGesture *gesture, double x, double y, GtkWidget *row)
{
  row_menu_cb(gesture, 1, x, y, row);
}

static GtkWidget *
conversation_row(gint64 id, const char *title, const char *subtitle)
{
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *t = gtk_label_new(title && title[0] ? title : _("Untitled Chat"));
  gtk_label_set_xalign(GTK_LABEL(t), 0);
  gtk_label_set_ellipsize(GTK_LABEL(t), PANGO_ELLIPSIZE_END);
  gtk_box_append(GTK_BOX(box), t);
  if (subtitle) {
    GtkWidget *s = gtk_label_new(NULL);
    gtk_label_set_markup(GTK_LABEL(s), subtitle);
    gtk_label_set_xalign(GTK_LABEL(s), 0);
    gtk_label_set_ellipsize(GTK_LABEL(s), PANGO_ELLIPSIZE_END);
    gtk_widget_add_css_class(s, "dim-label");
    gtk_widget_add_css_class(s, "caption");
    gtk_box_append(GTK_BOX(box), s);
  }
  gtk_widget_set_margin_top(box, 6);
  gtk_widget_set_margin_bottom(box, 6);
  GtkWidget *row = gtk_list_box_row_new();
  gtk_list_box_row_set_child(GTK_LIST_BOX_ROW(row), box);
  gint64 *idp = g_new(gint64, 1);
  *idp = id;
  g_object_set_data_full(G_OBJECT(row), "conversation", idp, g_free);
  GtkGesture *click = gtk_gesture_click_new();
  gtk_gesture_single_set_button(GTK_GESTURE_SINGLE(click), GDK_BUTTON_SECONDARY);
  g_signal_connect(click, "pressed", G_CALLBACK(row_menu_cb), row);
  gtk_widget_add_controller(row, GTK_EVENT_CONTROLLER(click));
  GtkGesture *press = gtk_gesture_long_press_new();
  gtk_gesture_single_set_touch_only(GTK_GESTURE_SINGLE(press), TRUE);
  g_signal_connect(press, "pressed", G_CALLBACK(row_long_press_cb), row);
  gtk_widget_add_controller(row, GTK_EVENT_CONTROLLER(press));
  return row;
}

static gint64
row_conversation(GtkListBoxRow *row)
{
  gint64 *id = row ? g_object_get_data(G_OBJECT(row), "conversation") : NULL;
  return id ? *id : 0;
}

/* A search snippet ("[word]" marks a match) as markup with the match bold. */
static char *
snippet_markup(const char *snippet)
{
  char *esc = g_markup_escape_text(snippet, -1);
  GString *s = g_string_new(NULL);
  for (const char *p = esc; *p; p++) {
    if (*p == '[')
      g_string_append(s, "<b>");
    else if (*p == ']')
      g_string_append(s, "</b>");
    else if (*p != '\n')
      g_string_append_c(s, *p);
    else
      g_string_append_c(s, ' ');
  }
  g_free(esc);
  return g_string_free(s, FALSE);
}

/* The sidebar highlights the conversation shown (none for a new chat). */
static void
select_current(HarkWindow *self)
{
  self->listing = TRUE;
  gtk_list_box_unselect_all(self->conversation_list);
  for (GtkWidget *r = gtk_widget_get_first_child(GTK_WIDGET(self->conversation_list)); r;
       r = gtk_widget_get_next_sibling(r))
    if (self->conversation && row_conversation(GTK_LIST_BOX_ROW(r)) == self->conversation)
      gtk_list_box_select_row(self->conversation_list, GTK_LIST_BOX_ROW(r));
  self->listing = FALSE;
}

static void
list_conversations(HarkWindow *self)
{
  self->listing = TRUE;
  GtkWidget *c;
  while ((c = gtk_widget_get_first_child(GTK_WIDGET(self->conversation_list))))
    gtk_list_box_remove(self->conversation_list, c);
  const char *query = gtk_editable_get_text(GTK_EDITABLE(self->search_entry));
  gboolean searching = gtk_search_bar_get_search_mode(self->search_bar) && query[0];
  GError *error = NULL;
  guint n = 0;
  if (searching) {
    GPtrArray *hits = app_history_search(self->history, query, 200, &error);
    GHashTable *seen = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, NULL);
    for (guint i = 0; hits && i < hits->len; i++) {
      app_search_hit *h = hits->pdata[i];
      if (g_hash_table_contains(seen, &h->conversation_id))
        continue;
      g_hash_table_add(seen, &h->conversation_id);
      char *sub = snippet_markup(h->snippet);
      gtk_list_box_append(self->conversation_list, conversation_row(h->conversation_id, h->title, sub));
      g_free(sub);
      n++;
    }
    g_hash_table_unref(seen);
    if (hits)
      g_ptr_array_unref(hits);
  } else {
    GPtrArray *convs = app_history_list_conversations(self->history, &error);
    for (guint i = 0; convs && i < convs->len; i++) {
      app_conversation *cv = convs->pdata[i];
      gtk_list_box_append(self->conversation_list, conversation_row(cv->id, cv->title, NULL));
      n++;
    }
    if (convs)
      g_ptr_array_unref(convs);
  }
  if (error) {
    toast(self, error->message);
    g_error_free(error);
  }
  AdwStatusPage *none = ADW_STATUS_PAGE(gtk_stack_get_child_by_name(self->sidebar_stack, "none"));
  adw_status_page_set_title(none, searching ? _("No Chats Found") : _("No Chats Yet"));
  adw_status_page_set_icon_name(none, searching ? "system-search-symbolic" : "io.github.hark.Hark-symbolic");
  gtk_stack_set_visible_child_name(self->sidebar_stack, n ? "list" : "none");
  self->listing = FALSE;
  select_current(self);
}

static void
search_changed_cb(HarkWindow *self)
{
  list_conversations(self);
}

static void
update_title(HarkWindow *self)
{
  app_conversation *c = self->conversation ? app_history_get_conversation(self->history, self->conversation, NULL)
                                           : NULL;
  adw_window_title_set_subtitle(self->window_title, c && c->title[0] ? c->title : _("New Chat"));
  app_conversation_free(c);
}

void
hark_window_open_conversation(HarkWindow *self, gint64 id)
{
  g_return_if_fail(HARK_IS_WINDOW(self));
  GError *error = NULL;
  GPtrArray *msgs = id ? app_history_messages(self->history, id, &error) : NULL;
  if (error) {
    toast(self, error->message);
    g_error_free(error);
    return;
  }
  self->conversation = id;
  clear_messages(self);
  for (guint i = 0; msgs && i < msgs->len; i++) {
    app_message *m = msgs->pdata[i];
    /* A reply being generated again is shown as it is being written. */
    if (i + 1 == msgs->len && id == self->streaming_conversation && self->regenerating &&
        !g_strcmp0(m->role, "assistant"))
      break;
    if (app_message_is_transcript(m)) {
      add_job_row(self, hark_job_row_new_transcript(self->jobs, m));
      continue;
    }
    HarkMessageRow *row = add_row(self, m->role, m->text);
    hark_message_row_set_stopped(row, m->stopped);
    if (m->attachments->len) {
      const char **paths = g_new0(const char *, m->attachments->len + 1);
      for (guint k = 0; k < m->attachments->len; k++)
        paths[k] = ((app_attachment *)m->attachments->pdata[k])->path;
      hark_message_row_set_images(row, paths);
      g_free(paths);
    }
  }
  if (msgs)
    g_ptr_array_unref(msgs);
  if (id && id == self->streaming_conversation) {
    self->streaming_row = add_row(self, "assistant", self->streaming_text->str);
    hark_message_row_set_streaming(self->streaming_row, TRUE);
  }
  show_job_rows(self, id);
  update_regenerate(self);
  update_title(self);
  update_buttons(self);
  select_current(self);
  scroll_to_end(self);
}

gint64
hark_window_get_conversation(HarkWindow *self)
{
  g_return_val_if_fail(HARK_IS_WINDOW(self), 0);
  return self->conversation;
}

static void
conversation_selected_cb(HarkWindow *self, GtkListBoxRow *row)
{
  if (self->listing || !row)
    return;
  gint64 id = row_conversation(row);
  if (id != self->conversation)
    hark_window_open_conversation(self, id);
  adw_leaflet_navigate(self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
  gtk_widget_grab_focus(GTK_WIDGET(self->composer_view));
}

static void
back_clicked_cb(HarkWindow *self)
{
  adw_leaflet_navigate(self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

/* ---- replies ---- */

static void
reply_text_cb(HarkChatController *chat, gint64 conversation, const char *piece, HarkWindow *self)
{
  if (conversation != self->streaming_conversation)
    return;
  g_string_append(self->streaming_text, piece);
  if (self->streaming_row) {
    hark_message_row_append(self->streaming_row, piece);
    scroll_to_end(self);
  }
}

static void
history_changed_cb(HarkChatController *chat, gint64 conversation, HarkWindow *self)
{
  list_conversations(self);
  if (conversation == self->conversation)
    update_title(self);
}

static void
notice_cb(HarkChatController *chat, const char *message, HarkWindow *self)
{
  toast(self, message);
}

static void
show_reply_error(HarkWindow *self, const GError *error)
{
  if (g_error_matches(error, APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED)) {
    char *title = g_strdup_printf(_("The model %s is not installed"),
                                  hark_chat_controller_get_missing_model(self->chat));
    AdwToast *t = adw_toast_new(title);
    adw_toast_set_button_label(t, _("_Install Model"));
    adw_toast_set_action_name(t, "win.install-model");
    adw_toast_set_timeout(t, 0);
    adw_toast_overlay_add_toast(self->toast_overlay, t);
    g_free(title);
    return;
  }
  char *msg = g_strdup_printf(_("No reply: %s"), error->message);
  toast(self, msg);
  g_free(msg);
}

static void
reply_done_cb(GObject *source, GAsyncResult *result, gpointer data)
{
  HarkWindow *self = data;
  GError *error = NULL;
  gint64 stopped_id = 0;
  gboolean regen = self->regenerating;
  gint64 conv = self->streaming_conversation;
  if (regen)
    hark_chat_controller_regenerate_finish(self->chat, result, &stopped_id, &error);
  else
    hark_chat_controller_send_finish(self->chat, result, &stopped_id, &error);
  if (self->disposed) {
    g_clear_error(&error);
    g_object_unref(self);
    return;
  }

  HarkMessageRow *row = self->streaming_row;
  self->streaming_row = NULL;
  self->streaming_conversation = 0;
  self->regenerating = FALSE;
  g_clear_object(&self->cancel);
  gboolean stopped = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  app_conversation *still = conv ? app_history_get_conversation(self->history, conv, NULL) : NULL;
  gboolean deleted = conv && !still;
  app_conversation_free(still);
  if (row) {
    if (!error || (stopped && stopped_id)) {
      hark_message_row_set_stopped(row, stopped);
      hark_message_row_set_streaming(row, FALSE);
      const llm_session_stats *st = hark_chat_controller_get_last_stats(self->chat);
      if (st->n_gen > 0 && st->gen_s > 0) {
        char *tip = g_strdup_printf(g_dngettext(HARK_GETTEXT_PACKAGE, "%d token, %.1f per second",
                                                "%d tokens, %.1f per second", (gulong)st->n_gen),
                                    st->n_gen, st->n_gen / st->gen_s);
        gtk_widget_set_tooltip_text(GTK_WIDGET(row), tip);
        g_free(tip);
      }
    } else {
      remove_row(self, row);
    }
  }
  if (error && !stopped && !deleted)
    show_reply_error(self, error);
  /* A failed or stopped regeneration leaves the old reply in place: show it. */
  if (regen && conv == self->conversation && error && !(stopped && stopped_id))
    hark_window_open_conversation(self, conv);
  g_clear_error(&error);
  update_regenerate(self);
  update_buttons(self);
  g_object_unref(self);
}

static void
begin_reply(HarkWindow *self)
{
  self->cancel = g_cancellable_new();
  self->streaming_conversation = self->conversation;
  g_string_truncate(self->streaming_text, 0);
  self->streaming_row = add_row(self, "assistant", "");
  hark_message_row_set_streaming(self->streaming_row, TRUE);
  update_regenerate(self);
  update_buttons(self);
  scroll_to_end(self);
}

/* ---- images for the next message ---- */

static void
remove_attachment_cb(GtkButton *button, HarkWindow *self)
{
  const char *path = g_object_get_data(G_OBJECT(button), "path");
  for (guint i = 0; i < self->attachments->len; i++) {
    if (!g_strcmp0(self->attachments->pdata[i], path)) {
      g_ptr_array_remove_index(self->attachments, i);
      break;
    }
  }
  show_attachments(self);
}

static void
show_attachments(HarkWindow *self)
{
  GtkWidget *c;
  while ((c = gtk_widget_get_first_child(GTK_WIDGET(self->attachment_box))))
    gtk_box_remove(self->attachment_box, c);
  for (guint i = 0; i < self->attachments->len; i++) {
    const char *path = self->attachments->pdata[i];
    GtkWidget *chip = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 4);
    gtk_widget_add_css_class(chip, "attachment-chip");
    gtk_widget_set_tooltip_text(chip, path);
    gtk_box_append(GTK_BOX(chip), gtk_image_new_from_icon_name("image-x-generic-symbolic"));
    char *base = g_path_get_basename(path);
    GtkWidget *label = gtk_label_new(base);
    gtk_label_set_ellipsize(GTK_LABEL(label), PANGO_ELLIPSIZE_MIDDLE);
    gtk_label_set_max_width_chars(GTK_LABEL(label), 24);
    gtk_box_append(GTK_BOX(chip), label);
    g_free(base);
    GtkWidget *remove = gtk_button_new_from_icon_name("window-close-symbolic");
    gtk_widget_add_css_class(remove, "flat");
    gtk_widget_add_css_class(remove, "circular");
    gtk_widget_set_tooltip_text(remove, _("Remove"));
    g_object_set_data_full(G_OBJECT(remove), "path", g_strdup(path), g_free);
    g_signal_connect(remove, "clicked", G_CALLBACK(remove_attachment_cb), self);
    gtk_box_append(GTK_BOX(chip), remove);
    gtk_box_append(self->attachment_box, chip);
  }
  gtk_widget_set_visible(GTK_WIDGET(self->attachment_box), self->attachments->len > 0);
}

gboolean
hark_window_add_attachment(HarkWindow *self, const char *path)
{
  g_return_val_if_fail(HARK_IS_WINDOW(self), FALSE);
  char *type = g_content_type_guess(path, NULL, 0, NULL);
  gboolean image = g_content_type_is_mime_type(type, "image/*");
  g_free(type);
  if (!image) {
    char *base = g_path_get_basename(path);
    char *msg = g_strdup_printf(_("%s is not an image; only images can be asked about for now"), base);
    toast(self, msg);
    g_free(msg), g_free(base);
    return FALSE;
  }
  for (guint i = 0; i < self->attachments->len; i++)
    if (!g_strcmp0(self->attachments->pdata[i], path))
      return TRUE;
  g_ptr_array_add(self->attachments, g_strdup(path));
  show_attachments(self);
  return TRUE;
}

/* ---- pasting an image ---- */

/* A pasted image is written under $XDG_CACHE_HOME/hark/pasted/ (named by its
 * content, so pasting it again attaches the same file) and attached. */
static void
pasted_texture_cb(GObject *source, GAsyncResult *result, gpointer data)
{
  HarkWindow *self = HARK_WINDOW(data);
  GError *error = NULL;
  GdkTexture *texture = gdk_clipboard_read_texture_finish(GDK_CLIPBOARD(source), result, &error);
  char *dir = g_build_filename(g_get_user_cache_dir(), "hark", "pasted", NULL), *path = NULL;
  GBytes *png = texture ? gdk_texture_save_to_png_bytes(texture) : NULL;
  if (png && g_mkdir_with_parents(dir, 0700) == 0) {
    char *sum = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, png);
    char *name = g_strdup_printf("pasted-%.16s.png", sum);
    path = g_build_filename(dir, name, NULL);
    if (!g_file_set_contents(path, g_bytes_get_data(png, NULL), (gssize)g_bytes_get_size(png), &error))
      g_clear_pointer(&path, g_free);
    g_free(sum), g_free(name);
  }
  if (path)
    hark_window_add_attachment(self, path);
  else
    toast(self, _("The pasted image could not be kept"));
  if (error)
    g_debug("paste: %s", error->message);
  g_clear_error(&error);
  g_clear_pointer(&png, g_bytes_unref);
  g_clear_object(&texture);
  g_free(path), g_free(dir);
  g_object_unref(self);
}

/* Ctrl+V in the composer: an image on the clipboard (and no text) is
 * attached instead of pasted as text. */
static void
composer_paste_cb(GtkTextView *view, HarkWindow *self)
{
  GdkClipboard *cb = gtk_widget_get_clipboard(GTK_WIDGET(view));
  GdkContentFormats *formats = gdk_clipboard_get_formats(cb);
  if (!gdk_content_formats_contain_gtype(formats, GDK_TYPE_TEXTURE) ||
      gdk_content_formats_contain_gtype(formats, G_TYPE_STRING))
    return; /* text: the text view pastes it */
  g_signal_stop_emission_by_name(view, "paste-clipboard");
  gdk_clipboard_read_texture_async(cb, NULL, pasted_texture_cb, g_object_ref(self));
}

static void
add_files(HarkWindow *self, GListModel *files)
{
  for (guint i = 0; i < g_list_model_get_n_items(files); i++) {
    GFile *f = g_list_model_get_item(files, i);
    char *path = g_file_get_path(f);
    if (path)
      hark_window_open_file(self, path);
    g_free(path);
    g_object_unref(f);
  }
}

static void
chooser_response_cb(GtkNativeDialog *dialog, int response, HarkWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    GListModel *files = gtk_file_chooser_get_files(GTK_FILE_CHOOSER(dialog));
    add_files(self, files);
    g_object_unref(files);
  }
  g_object_unref(dialog);
}

static void
attach_clicked_cb(HarkWindow *self)
{
  GtkFileChooserNative *dialog = gtk_file_chooser_native_new(_("Attach Files"), GTK_WINDOW(self),
                                                             GTK_FILE_CHOOSER_ACTION_OPEN, _("_Attach"), _("_Cancel"));
  gtk_file_chooser_set_select_multiple(GTK_FILE_CHOOSER(dialog), TRUE);
  /* Audio and video files are transcribed (hark_window_open_file). */
  GtkFileFilter *media = gtk_file_filter_new();
  gtk_file_filter_set_name(media, _("Images, Audio and Video"));
  gtk_file_filter_add_mime_type(media, "image/*");
  gtk_file_filter_add_mime_type(media, "audio/*");
  gtk_file_filter_add_mime_type(media, "video/*");
  gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(dialog), media);
  g_object_unref(media);
  GtkFileFilter *filter = gtk_file_filter_new();
  gtk_file_filter_set_name(filter, _("Images"));
  gtk_file_filter_add_mime_type(filter, "image/*");
  gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(dialog), filter);
  g_object_unref(filter);
  g_signal_connect(dialog, "response", G_CALLBACK(chooser_response_cb), self);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(dialog));
}

static gboolean
drop_cb(GtkDropTarget *target, const GValue *value, double x, double y, HarkWindow *self)
{
  if (!G_VALUE_HOLDS(value, GDK_TYPE_FILE_LIST))
    return FALSE;
  GListStore *files = g_list_store_new(G_TYPE_FILE);
  for (GSList *l = g_value_get_boxed(value); l; l = l->next)
    g_list_store_append(files, l->data);
  add_files(self, G_LIST_MODEL(files));
  g_object_unref(files);
  gtk_widget_grab_focus(GTK_WIDGET(self->composer_view));
  return TRUE;
}

static void
send_clicked_cb(HarkWindow *self)
{
  if (self->cancel)
    return; /* one reply at a time; the stop button is showing */
  char *text = composer_text(self);
  if (!text[0]) {
    g_free(text);
    return;
  }
  GError *error = NULL;
  if (!self->conversation) {
    gint64 id = app_history_new_conversation(self->history, "", &error);
    if (!id) {
      toast(self, error->message);
      g_error_free(error);
      g_free(text);
      return;
    }
    self->conversation = id;
  }
  g_ptr_array_add(self->attachments, NULL);
  const char *const *images = (const char *const *)self->attachments->pdata;
  HarkMessageRow *row = add_row(self, "user", text);
  hark_message_row_set_images(row, images);
  gtk_text_buffer_set_text(gtk_text_view_get_buffer(self->composer_view), "", 0);
  begin_reply(self);
  hark_chat_controller_send_async(self->chat, self->conversation, text, images, self->cancel, reply_done_cb,
                                  g_object_ref(self));
  g_ptr_array_set_size(self->attachments, 0);
  show_attachments(self);
  g_free(text);
}

static void
regenerate_cb(HarkWindow *self)
{
  if (self->cancel || !self->conversation)
    return;
  GtkWidget *last = gtk_widget_get_last_child(GTK_WIDGET(self->message_list));
  if (last && HARK_IS_MESSAGE_ROW(last) && !g_strcmp0(hark_message_row_get_role(HARK_MESSAGE_ROW(last)), "assistant"))
    remove_row(self, HARK_MESSAGE_ROW(last));
  self->regenerating = TRUE;
  begin_reply(self);
  hark_chat_controller_regenerate_async(self->chat, self->conversation, self->cancel, reply_done_cb,
                                        g_object_ref(self));
}

static void
stop_clicked_cb(HarkWindow *self)
{
  if (self->cancel)
    g_cancellable_cancel(self->cancel);
}

static void
composer_changed_cb(GtkTextBuffer *buf, HarkWindow *self)
{
  update_buttons(self);
}

/* Enter sends; Shift+Enter (or Ctrl+Enter) inserts a newline; Escape stops a reply. */
static gboolean
composer_key_cb(GtkEventControllerKey *ctl, guint keyval, guint keycode, GdkModifierType state, HarkWindow *self)
{
  if ((keyval == GDK_KEY_Return || keyval == GDK_KEY_KP_Enter) &&
      !(state & (GDK_SHIFT_MASK | GDK_CONTROL_MASK))) {
    send_clicked_cb(self);
    return TRUE;
  }
  if (keyval == GDK_KEY_Escape && self->cancel) {
    stop_clicked_cb(self);
    return TRUE;
  }
  return FALSE;
}

/* ---- jobs: audio and video files, photo folders ---- */

/* The conversation a job row belongs to (0: the new chat it was started in). */
static gint64
job_row_conversation(HarkJobRow *row)
{
  gint64 *id = g_object_get_data(G_OBJECT(row), "conversation");
  return id ? *id : 0;
}

static void
set_job_row_conversation(HarkJobRow *row, gint64 conversation)
{
  g_object_set_data_full(G_OBJECT(row), "conversation", g_memdup2(&conversation, sizeof conversation), g_free);
}

static void
add_job_row(HarkWindow *self, HarkJobRow *row)
{
  gtk_list_box_append(self->message_list, GTK_WIDGET(row));
  self->n_messages++;
  gtk_stack_set_visible_child_name(self->chat_stack, "messages");
}

/* The rows of the jobs started in `conversation`, after its messages. */
static void
show_job_rows(HarkWindow *self, gint64 conversation)
{
  for (guint i = 0; i < self->job_rows->len; i++) {
    HarkJobRow *row = self->job_rows->pdata[i];
    if (job_row_conversation(row) == conversation && !gtk_widget_get_parent(GTK_WIDGET(row)))
      add_job_row(self, row);
  }
}

static void
drop_job_row(HarkWindow *self, HarkJobRow *row)
{
  if (gtk_widget_get_parent(GTK_WIDGET(row)) == GTK_WIDGET(self->message_list))
    remove_row(self, row);
  g_ptr_array_remove(self->job_rows, row);
}

static void
job_error_toast(HarkWindow *self, HarkJob *job)
{
  const GError *error = hark_job_get_error(job);
  char *base = g_path_get_basename(hark_job_get_path(job));
  if (g_error_matches(error, APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED)) {
    char *title = g_strdup_printf(_("The model %s is not installed"), hark_job_get_model(job));
    AdwToast *t = adw_toast_new(title);
    adw_toast_set_button_label(t, _("_Install Model"));
    adw_toast_set_action_name(t, "win.install-named-model");
    adw_toast_set_action_target_value(t, g_variant_new_string(hark_job_get_model(job)));
    adw_toast_set_timeout(t, 0);
    adw_toast_overlay_add_toast(self->toast_overlay, t);
    g_free(title);
  } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    char *msg = hark_job_get_kind(job) == HARK_JOB_TRANSCRIBE ? g_strdup_printf(_("Stopped transcribing %s"), base)
                                                              : g_strdup_printf(_("Stopped captioning %s"), base);
    toast(self, msg);
    g_free(msg);
  } else {
    char *msg = hark_job_get_kind(job) == HARK_JOB_TRANSCRIBE
                  ? g_strdup_printf(_("%s could not be transcribed: %s"), base, error->message)
                  : g_strdup_printf(_("The photos in %s could not be captioned: %s"), base, error->message);
    toast(self, msg);
    g_free(msg);
  }
  g_free(base);
}

static void
job_finished_cb(HarkJob *job, HarkWindow *self)
{
  if (self->disposed)
    return;
  HarkJobRow *row = NULL;
  for (guint i = 0; i < self->job_rows->len && !row; i++)
    if (hark_job_row_get_job(self->job_rows->pdata[i]) == job)
      row = self->job_rows->pdata[i];
  if (!row)
    return;
  const GError *error = hark_job_get_error(job);
  gboolean shown = gtk_widget_get_parent(GTK_WIDGET(row)) == GTK_WIDGET(self->message_list);
  if (hark_job_get_kind(job) == HARK_JOB_TRANSCRIBE && !error) {
    /* The new chat it was started in is now the transcript's conversation;
     * the history shows the transcript from now on. */
    if (shown && job_row_conversation(row) == 0 && self->conversation == 0) {
      self->conversation = hark_job_get_conversation(job);
      update_title(self);
      select_current(self);
    }
    g_ptr_array_remove(self->job_rows, row);
  } else if (error && (hark_job_get_kind(job) == HARK_JOB_TRANSCRIBE || !hark_job_row_get_n_results(row))) {
    /* Nothing to show: say why instead. */
    job_error_toast(self, job);
    drop_job_row(self, row);
  }
  update_regenerate(self);
  update_buttons(self);
}

static HarkJobRow *
track_job(HarkWindow *self, HarkJob *job /* taken */)
{
  HarkJobRow *row = g_object_ref_sink(hark_job_row_new(self->jobs, job));
  set_job_row_conversation(row, self->conversation);
  g_ptr_array_add(self->job_rows, row);
  g_signal_connect_object(job, "finished", G_CALLBACK(job_finished_cb), self, 0);
  add_job_row(self, row);
  update_regenerate(self);
  scroll_to_end(self);
  g_object_unref(job);
  return row;
}

HarkJobRow *
hark_window_transcribe(HarkWindow *self, const char *path)
{
  g_return_val_if_fail(HARK_IS_WINDOW(self), NULL);
  return track_job(self, hark_job_controller_transcribe(self->jobs, self->conversation, path));
}

HarkJobRow *
hark_window_caption_folder(HarkWindow *self, const char *folder, app_caption_format format)
{
  g_return_val_if_fail(HARK_IS_WINDOW(self), NULL);
  return track_job(self, hark_job_controller_caption(self->jobs, folder, format));
}

/* The output formats in app_caption_format's order. */
static const char *const caption_format_labels[] = {
  N_("Text files beside the photos"),
  N_("One JSON Lines file (captions.jsonl)"),
  N_("One CSV table (captions.csv)"),
  N_("XMP sidecars, for photo managers"),
};

static void
caption_response_cb(AdwMessageDialog *dialog, const char *response, HarkWindow *self)
{
  if (g_strcmp0(response, "caption"))
    return;
  guint f = gtk_drop_down_get_selected(g_object_get_data(G_OBJECT(dialog), "formats"));
  if (self->settings)
    g_settings_set_string(self->settings, "caption-format", app_caption_format_name(f));
  hark_window_caption_folder(self, g_object_get_data(G_OBJECT(dialog), "folder"), f);
}

/* Asks for the output format, then captions the folder. */
static void
ask_caption_format(HarkWindow *self, const char *folder)
{
  char *base = g_path_get_basename(folder);
  char *heading = g_strdup_printf(_("Caption the Photos in “%s”?"), base);
  GtkWidget *dialog = adw_message_dialog_new(GTK_WINDOW(self), heading,
                                             _("The image model describes each photo. Captions are saved as they "
                                               "are made; photos that have one already are skipped."));
  g_free(heading), g_free(base);
  adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog), "cancel", _("_Cancel"), "caption", _("C_aption"),
                                   NULL);
  adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "caption", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(dialog), "caption");
  adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
  GtkStringList *labels = gtk_string_list_new(NULL);
  for (guint i = 0; i < G_N_ELEMENTS(caption_format_labels); i++)
    gtk_string_list_append(labels, _(caption_format_labels[i]));
  GtkWidget *formats = gtk_drop_down_new(G_LIST_MODEL(labels), NULL);
  char *saved = self->settings ? g_settings_get_string(self->settings, "caption-format") : NULL;
  gtk_drop_down_set_selected(GTK_DROP_DOWN(formats), (guint)MAX(0, app_caption_format_from_name(saved)));
  g_free(saved);
  gtk_accessible_update_property(GTK_ACCESSIBLE(formats), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Save the captions as"),
                                 -1);
  adw_message_dialog_set_extra_child(ADW_MESSAGE_DIALOG(dialog), formats);
  g_object_set_data(G_OBJECT(dialog), "formats", formats);
  g_object_set_data_full(G_OBJECT(dialog), "folder", g_strdup(folder), g_free);
  g_signal_connect(dialog, "response", G_CALLBACK(caption_response_cb), self);
  gtk_window_present(GTK_WINDOW(dialog));
}

static void
folder_chosen_cb(GtkNativeDialog *dialog, int response, HarkWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    GFile *folder = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
    char *path = g_file_get_path(folder);
    if (path)
      ask_caption_format(self, path);
    g_free(path);
    g_object_unref(folder);
  }
  g_object_unref(dialog);
}

static void
caption_folder_action(GtkWidget *widget, const char *name, GVariant *param)
{
  GtkFileChooserNative *dialog = gtk_file_chooser_native_new(_("Caption Folder"), GTK_WINDOW(widget),
                                                             GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Select"),
                                                             _("_Cancel"));
  g_signal_connect(dialog, "response", G_CALLBACK(folder_chosen_cb), widget);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(dialog));
}

gboolean
hark_window_open_file(HarkWindow *self, const char *path)
{
  g_return_val_if_fail(HARK_IS_WINDOW(self), FALSE);
  if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
    ask_caption_format(self, path);
    return TRUE;
  }
  char *type = g_content_type_guess(path, NULL, 0, NULL);
  gboolean media = g_content_type_is_mime_type(type, "audio/*") || g_content_type_is_mime_type(type, "video/*");
  g_free(type);
  if (media) {
    hark_window_transcribe(self, path);
    return TRUE;
  }
  return hark_window_add_attachment(self, path);
}

/* ---- actions ---- */

static void
new_chat_action(GtkWidget *widget, const char *name, GVariant *param)
{
  HarkWindow *self = HARK_WINDOW(widget);
  hark_window_open_conversation(self, 0);
  adw_leaflet_navigate(self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
  gtk_widget_grab_focus(GTK_WIDGET(self->composer_view));
}

gboolean
hark_window_delete_conversation(HarkWindow *self, gint64 id, GError **error)
{
  g_return_val_if_fail(HARK_IS_WINDOW(self), FALSE);
  if (id == self->streaming_conversation && self->cancel)
    g_cancellable_cancel(self->cancel);
  for (guint i = 0; i < self->job_rows->len; i++) {
    HarkJob *job = hark_job_row_get_job(self->job_rows->pdata[i]);
    if (hark_job_get_kind(job) == HARK_JOB_TRANSCRIBE && hark_job_get_conversation(job) == id)
      hark_job_cancel(job); /* its transcript has nowhere to go */
  }
  if (!app_history_delete_conversation(self->history, id, error))
    return FALSE;
  if (id == self->conversation)
    hark_window_open_conversation(self, 0);
  list_conversations(self);
  return TRUE;
}

static void
delete_response_cb(AdwMessageDialog *dialog, const char *response, gpointer data)
{
  HarkWindow *self = g_object_get_data(G_OBJECT(dialog), "window");
  gint64 id = GPOINTER_TO_SIZE(data);
  GError *error = NULL;
  if (!g_strcmp0(response, "delete") && !hark_window_delete_conversation(self, id, &error)) {
    toast(self, error->message);
    g_error_free(error);
  }
}

/* Asks before deleting conversation `id`. */
static void
confirm_delete(HarkWindow *self, gint64 id)
{
  GtkWidget *dialog = adw_message_dialog_new(GTK_WINDOW(self), _("Delete Chat?"),
                                             _("Its messages are deleted from this computer; this cannot be undone."));
  adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog), "cancel", _("_Cancel"), "delete", _("_Delete"), NULL);
  adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "delete", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
  g_object_set_data(G_OBJECT(dialog), "window", self);
  g_signal_connect(dialog, "response", G_CALLBACK(delete_response_cb), GSIZE_TO_POINTER((gsize)id));
  gtk_window_present(GTK_WINDOW(dialog));
}

static void
delete_chat_action(GtkWidget *widget, const char *name, GVariant *param)
{
  HarkWindow *self = HARK_WINDOW(widget);
  if (param)
    confirm_delete(self, g_variant_get_int64(param)); /* a sidebar row's menu */
  else if (self->conversation)
    confirm_delete(self, self->conversation);
}

static void
search_action(GtkWidget *widget, const char *name, GVariant *param)
{
  HarkWindow *self = HARK_WINDOW(widget);
  adw_leaflet_navigate(self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
  gtk_search_bar_set_search_mode(self->search_bar, TRUE);
  gtk_widget_grab_focus(GTK_WIDGET(self->search_entry));
}

static void
install_progress_cb(HarkChatController *chat, double fraction, const char *file, HarkWindow *self)
{
  if (!self->install_toast)
    return;
  char *title = g_strdup_printf(_("Installing %s… %d%%"), self->installing, (int)(fraction * 100 + 0.5));
  adw_toast_set_title(self->install_toast, title);
  g_free(title);
}

static void
install_done_cb(GObject *source, GAsyncResult *result, gpointer data)
{
  HarkWindow *self = data;
  GError *error = NULL;
  gboolean ok = hark_chat_controller_install_model_finish(self->chat, result, &error);
  if (self->disposed) {
    g_clear_error(&error);
    g_object_unref(self);
    return;
  }
  if (self->install_toast) {
    adw_toast_dismiss(self->install_toast);
    g_clear_object(&self->install_toast);
  }
  g_clear_object(&self->install_cancel);
  GtkWidget *last = gtk_widget_get_last_child(GTK_WIDGET(self->message_list));
  if (ok && last && HARK_IS_MESSAGE_ROW(last) &&
      !g_strcmp0(hark_message_row_get_role(HARK_MESSAGE_ROW(last)), "user")) {
    /* The message that found no model gets its reply now. */
    toast(self, _("Model installed"));
    regenerate_cb(self);
  } else if (ok) {
    toast(self, _("Model installed"));
  } else if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    char *msg = g_strdup_printf(_("The model could not be installed: %s"), error->message);
    toast(self, msg);
    g_free(msg);
  }
  g_clear_error(&error);
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.install-model", TRUE);
  g_object_unref(self);
}

static void
install_toast_dismissed_cb(AdwToast *t, HarkWindow *self)
{
  /* Closing the progress toast cancels the download (it resumes next time). */
  if (self->install_toast == t && self->install_cancel)
    g_cancellable_cancel(self->install_cancel);
}

/* win.install-model: the model a reply found missing; win.install-named-model: the one named. */
static void
install_model_action(GtkWidget *widget, const char *name, GVariant *param)
{
  HarkWindow *self = HARK_WINDOW(widget);
  if (self->install_cancel)
    return;
  g_free(self->installing);
  self->installing = g_strdup(param ? g_variant_get_string(param, NULL)
                                    : hark_chat_controller_get_missing_model(self->chat));
  self->install_cancel = g_cancellable_new();
  self->install_toast = g_object_ref(adw_toast_new(_("Installing the model…")));
  adw_toast_set_timeout(self->install_toast, 0);
  adw_toast_set_priority(self->install_toast, ADW_TOAST_PRIORITY_HIGH);
  g_signal_connect(self->install_toast, "dismissed", G_CALLBACK(install_toast_dismissed_cb), self);
  adw_toast_overlay_add_toast(self->toast_overlay, g_object_ref(self->install_toast));
  gtk_widget_action_set_enabled(widget, "win.install-model", FALSE);
  hark_chat_controller_install_model_async(self->chat, self->installing, self->install_cancel, install_done_cb,
                                           g_object_ref(self));
}

/* ---- drawing (screenshots) ---- */

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
  return hark_native_save_png(GTK_WIDGET(self), path, error);
}

gboolean
hark_native_save_png(GtkWidget *w, const char *path, GError **error)
{
  g_return_val_if_fail(GTK_IS_NATIVE(w), FALSE);
  int width = gtk_widget_get_width(w), height = gtk_widget_get_height(w);
  GskRenderer *renderer = gtk_native_get_renderer(GTK_NATIVE(w));
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

/* ---- the welcome page and dictation (hark-welcome-page.c, hark-mic-button.c) ---- */

static void
show_page(HarkWindow *self)
{
  gtk_stack_set_visible_child_name(self->main_stack, hark_welcome_page_get_needed(self->welcome_page) ? "welcome"
                                                                                                     : "chat");
}

const char *
hark_window_get_page(HarkWindow *self)
{
  g_return_val_if_fail(HARK_IS_WINDOW(self), NULL);
  return gtk_stack_get_visible_child_name(self->main_stack);
}

void
hark_window_start_dictation(HarkWindow *self)
{
  g_return_if_fail(HARK_IS_WINDOW(self));
  gtk_widget_grab_focus(GTK_WIDGET(self->composer_view));
  hark_mic_button_start(self->mic_button);
}

/* ---- accessors for the tests and the application ---- */

guint
hark_window_get_n_messages(HarkWindow *self)
{
  g_return_val_if_fail(HARK_IS_WINDOW(self), 0);
  return self->n_messages;
}

HarkMessageRow *
hark_window_get_message(HarkWindow *self, guint i)
{
  g_return_val_if_fail(HARK_IS_WINDOW(self), NULL);
  GtkListBoxRow *row = gtk_list_box_get_row_at_index(self->message_list, (int)i);
  return row && HARK_IS_MESSAGE_ROW(row) ? HARK_MESSAGE_ROW(row) : NULL;
}

HarkJobRow *
hark_window_get_job_row(HarkWindow *self, guint i)
{
  g_return_val_if_fail(HARK_IS_WINDOW(self), NULL);
  GtkListBoxRow *row = gtk_list_box_get_row_at_index(self->message_list, (int)i);
  return row && HARK_IS_JOB_ROW(row) ? HARK_JOB_ROW(row) : NULL;
}

HarkJobController *
hark_window_get_jobs(HarkWindow *self)
{
  g_return_val_if_fail(HARK_IS_WINDOW(self), NULL);
  return self->jobs;
}

HarkChatController *
hark_window_get_chat(HarkWindow *self)
{
  g_return_val_if_fail(HARK_IS_WINDOW(self), NULL);
  return self->chat;
}

/* ---- construction ---- */

/* The history file; when it cannot be opened the chat still works, in memory,
 * and the user is told that nothing will be kept. */
static void
open_history(HarkWindow *self)
{
  GError *error = NULL;
  char *notice = NULL;
  self->history = app_history_open(NULL, &notice, &error);
  if (notice) {
    toast(self, notice);
    g_free(notice);
  }
  if (!self->history) {
    char *msg = g_strdup_printf(_("Chats will not be saved: %s"), error->message);
    AdwToast *t = adw_toast_new(msg);
    adw_toast_set_timeout(t, 0);
    adw_toast_overlay_add_toast(self->toast_overlay, t);
    g_free(msg);
    g_clear_error(&error);
    self->history = app_history_open(":memory:", NULL, &error);
    if (!self->history)
      g_error("no in-memory history: %s", error->message); /* SQLite itself is broken */
  }
}

static void
hark_window_dispose(GObject *object)
{
  HarkWindow *self = HARK_WINDOW(object);
  self->disposed = TRUE;
  if (self->cancel)
    g_cancellable_cancel(self->cancel);
  if (self->install_cancel)
    g_cancellable_cancel(self->install_cancel);
  if (self->chat)
    g_signal_handlers_disconnect_by_data(self->chat, self);
  if (self->jobs) {
    g_signal_handlers_disconnect_by_data(self->jobs, self);
    hark_job_controller_shutdown(self->jobs); /* cancels the jobs; nothing is written after */
  }
  g_clear_object(&self->settings);
  gtk_widget_dispose_template(GTK_WIDGET(self), HARK_TYPE_WINDOW);
  G_OBJECT_CLASS(hark_window_parent_class)->dispose(object);
}

static void
hark_window_finalize(GObject *object)
{
  HarkWindow *self = HARK_WINDOW(object);
  /* Pending replies hold a reference to the window, so none is running now. */
  g_clear_object(&self->chat);
  g_clear_object(&self->jobs);
  g_ptr_array_unref(self->job_rows);
  g_free(self->installing);
  g_clear_object(&self->install_toast);
  g_clear_pointer(&self->history, app_history_free);
  g_string_free(self->streaming_text, TRUE);
  g_ptr_array_unref(self->attachments);
  G_OBJECT_CLASS(hark_window_parent_class)->finalize(object);
}

static void
hark_window_class_init(HarkWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  G_OBJECT_CLASS(klass)->dispose = hark_window_dispose;
  G_OBJECT_CLASS(klass)->finalize = hark_window_finalize;
  gtk_widget_class_set_template_from_resource(widget_class, "/io/github/hark/Hark/hark-window.ui");
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, toast_overlay);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, leaflet);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, search_bar);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, search_entry);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, sidebar_stack);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, conversation_list);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, window_title);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, chat_stack);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, message_scroll);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, message_list);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, composer_view);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, send_button);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, stop_button);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, attachment_box);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, main_stack);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, welcome_page);
  gtk_widget_class_bind_template_child(widget_class, HarkWindow, mic_button);
  gtk_widget_class_bind_template_callback(widget_class, send_clicked_cb);
  gtk_widget_class_bind_template_callback(widget_class, stop_clicked_cb);
  gtk_widget_class_bind_template_callback(widget_class, attach_clicked_cb);
  gtk_widget_class_bind_template_callback(widget_class, back_clicked_cb);
  gtk_widget_class_bind_template_callback(widget_class, search_changed_cb);
  gtk_widget_class_bind_template_callback(widget_class, conversation_selected_cb);
  gtk_widget_class_install_action(widget_class, "win.new-chat", NULL, new_chat_action);
  gtk_widget_class_install_action(widget_class, "win.delete-chat", NULL, delete_chat_action);
  gtk_widget_class_install_action(widget_class, "win.delete-conversation", "x", delete_chat_action);
  gtk_widget_class_install_action(widget_class, "win.search", NULL, search_action);
  gtk_widget_class_install_action(widget_class, "win.install-model", NULL, install_model_action);
  gtk_widget_class_install_action(widget_class, "win.install-named-model", "s", install_model_action);
  gtk_widget_class_install_action(widget_class, "win.caption-folder", NULL, caption_folder_action);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_n, GDK_CONTROL_MASK, "win.new-chat", NULL);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_f, GDK_CONTROL_MASK, "win.search", NULL);
  g_type_ensure(HARK_TYPE_MESSAGE_ROW);
  g_type_ensure(HARK_TYPE_MIC_BUTTON);
  g_type_ensure(HARK_TYPE_WELCOME_PAGE);
  g_type_ensure(HARK_TYPE_JOB_ROW);
}

static void
hark_window_init(HarkWindow *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  self->streaming_text = g_string_new(NULL);
  self->attachments = g_ptr_array_new_with_free_func(g_free);
  self->job_rows = g_ptr_array_new_with_free_func(g_object_unref);
  GtkDropTarget *drop = gtk_drop_target_new(GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  g_signal_connect(drop, "drop", G_CALLBACK(drop_cb), self);
  gtk_widget_add_controller(GTK_WIDGET(self), GTK_EVENT_CONTROLLER(drop));

  GtkTextBuffer *buf = gtk_text_view_get_buffer(self->composer_view);
  g_signal_connect(buf, "changed", G_CALLBACK(composer_changed_cb), self);
  GtkEventController *keys = gtk_event_controller_key_new();
  g_signal_connect(keys, "key-pressed", G_CALLBACK(composer_key_cb), self);
  gtk_widget_add_controller(GTK_WIDGET(self->composer_view), keys);
  g_signal_connect(self->composer_view, "paste-clipboard", G_CALLBACK(composer_paste_cb), self);
  gtk_search_bar_connect_entry(self->search_bar, GTK_EDITABLE(self->search_entry));
  g_signal_connect_swapped(self->search_bar, "notify::search-mode-enabled", G_CALLBACK(list_conversations), self);

  open_history(self);
  GError *error = NULL;
  self->chat = hark_chat_controller_new(self->history, &error);
  if (!self->chat)
    g_error("cannot start the chat worker: %s", error->message); /* no threads: nothing works */
  g_signal_connect(self->chat, "reply-text", G_CALLBACK(reply_text_cb), self);
  g_signal_connect(self->chat, "history-changed", G_CALLBACK(history_changed_cb), self);
  g_signal_connect(self->chat, "notice", G_CALLBACK(notice_cb), self);
  g_signal_connect(self->chat, "install-progress", G_CALLBACK(install_progress_cb), self);
  self->jobs = hark_job_controller_new(self->history, &error);
  g_signal_connect(self->jobs, "history-changed", G_CALLBACK(history_changed_cb), self);

  self->settings = app_settings_new();
  if (self->settings) {
    g_settings_bind(self->settings, "window-width", self, "default-width", G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "window-height", self, "default-height", G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "window-maximized", self, "maximized", G_SETTINGS_BIND_DEFAULT);
    if (!g_getenv("HARK_CHAT_MODEL"))
      g_settings_bind(self->settings, "chat-model", self->chat, "model", G_SETTINGS_BIND_GET);
    if (!g_getenv("HARK_VISION_MODEL")) {
      g_settings_bind(self->settings, "vision-model", self->chat, "vision-model", G_SETTINGS_BIND_GET);
      g_settings_bind(self->settings, "vision-model", self->jobs, "vision-model", G_SETTINGS_BIND_GET);
    }
    if (!g_getenv("HARK_SPEECH_MODEL"))
      g_settings_bind(self->settings, "speech-model", self->jobs, "speech-model", G_SETTINGS_BIND_GET);
    g_settings_bind(self->settings, "chat-system-prompt", self->chat, "system-prompt", G_SETTINGS_BIND_GET);
    g_settings_bind(self->settings, "chat-temperature", self->chat, "temperature", G_SETTINGS_BIND_GET);
    g_settings_bind(self->settings, "chat-max-tokens", self->chat, "n-predict", G_SETTINGS_BIND_GET);
    g_settings_bind(self->settings, "device", self->chat, "device", G_SETTINGS_BIND_GET);
    g_settings_bind(self->settings, "gpu-layers", self->chat, "gpu-layers", G_SETTINGS_BIND_GET);
  }
  /* Tests and people trying a model point the window at it without settings. */
  if (g_getenv("HARK_CHAT_MODEL"))
    hark_chat_controller_set_model(self->chat, g_getenv("HARK_CHAT_MODEL"));
  if (g_getenv("HARK_VISION_MODEL")) {
    hark_chat_controller_set_vision_model(self->chat, g_getenv("HARK_VISION_MODEL"));
    hark_job_controller_set_vision_model(self->jobs, g_getenv("HARK_VISION_MODEL"));
  }
  if (g_getenv("HARK_SPEECH_MODEL"))
    hark_job_controller_set_speech_model(self->jobs, g_getenv("HARK_SPEECH_MODEL"));

  hark_mic_button_add_shortcuts(self->mic_button, GTK_WIDGET(self));
  g_signal_connect_swapped(self->welcome_page, "notify::needed", G_CALLBACK(show_page), self);
  show_page(self);

  list_conversations(self);
  hark_window_open_conversation(self, 0);
  /* Narrow (folded), the window opens on the chat; Back shows the list. */
  adw_leaflet_set_visible_child_name(self->leaflet, "chat");
  gtk_widget_grab_focus(GTK_WIDGET(self->composer_view));
}

HarkWindow *
hark_window_new(GtkApplication *app)
{
  return g_object_new(HARK_TYPE_WINDOW, "application", app, NULL);
}
