/* test-ui-window.c: the window under a real display (Xvfb in the test run)
 * with the tests' small random chat model: screenshot, the empty chat, a
 * message and its streamed reply, Stop, search and delete, a process killed
 * while it writes a reply whose history is intact when it starts again; and
 * the jobs: a dropped audio file transcribed, exported and restored, bad
 * files, a folder of photos captioned, a caption job cancelled midway. */
#include "hark-config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app-history.h"
#include "hark-application.h"
#include "hark-window.h"
#include "llm-test-model.h"
#include "test-ui-util.h"
#include "test-util.h"

/* A prompt whose greedy reply from the test model is long (about 200 tokens). */
#define LONG_PROMPT "Write a long story about a lighthouse keeper and the sea."

static gboolean have_display;
static char *tmp_home, *model_path;

static HarkWindow *
shown_window(void)
{
  HarkWindow *win = hark_window_new(NULL);
  /* Greedy, so a reply can be compared with the same reply again. */
  g_object_set(hark_window_get_chat(win), "temperature", 0.0, NULL);
  gtk_window_present(GTK_WINDOW(win));
  test_ui_wait_drawn(win);
  return win;
}

static GtkWidget *
child(HarkWindow *win, const char *name)
{
  return test_ui_window_child(win, name);
}

/* A picture of the window in the build folder, for people to look at (not compared). */
static void
save_picture(HarkWindow *win, const char *name)
{
  char *png = g_test_build_filename(G_TEST_BUILT, name, NULL);
  test_ui_wait_drawn(win);
  g_assert_true(hark_window_save_png(win, png, NULL));
  g_free(png);
}

static void
type_and_send(HarkWindow *win, const char *text)
{
  GtkTextBuffer *buf = gtk_text_view_get_buffer(GTK_TEXT_VIEW(child(win, "composer_view")));
  gtk_text_buffer_set_text(buf, text, -1);
  GtkWidget *send = child(win, "send_button");
  g_assert_true(gtk_widget_get_sensitive(send));
  g_signal_emit_by_name(send, "clicked");
}

static void
wait_idle(HarkWindow *win)
{
  HarkChatController *chat = hark_window_get_chat(win);
  gint64 until = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  while (hark_chat_controller_get_busy(chat)) {
    g_assert_cmpint(g_get_monotonic_time(), <, until);
    g_main_context_iteration(NULL, TRUE);
  }
  /* Let the finishing callbacks run. */
  while (g_main_context_pending(NULL))
    g_main_context_iteration(NULL, FALSE);
}

static guint
n_rows(GtkWidget *list)
{
  guint n = 0;
  for (GtkWidget *c = gtk_widget_get_first_child(list); c; c = gtk_widget_get_next_sibling(c))
    n++;
  return n;
}

static GPtrArray *
stored_messages(HarkWindow *win)
{
  GError *error = NULL;
  GPtrArray *m = app_history_messages(hark_chat_controller_get_history(hark_window_get_chat(win)),
                                      hark_window_get_conversation(win), &error);
  g_assert_no_error(error);
  return m;
}

static void
test_screenshot(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  char *path = g_test_build_filename(G_TEST_BUILT, "hark-window.png", NULL);
  g_unlink(path);
  /* The same path `hark --screenshot FILE` takes: a real application run. */
  g_assert_cmpint(hark_application_run(path), ==, 0);

  GError *error = NULL;
  GdkTexture *tex = gdk_texture_new_from_filename(path, &error);
  g_assert_no_error(error);
  int w = gdk_texture_get_width(tex), h = gdk_texture_get_height(tex);
  g_assert_cmpint(w, >=, 360);
  g_assert_cmpint(h, >=, 300);
  /* It drew something: many distinct pixel values, not a blank surface. */
  guchar *px = g_malloc((gsize)w * h * 4);
  gdk_texture_download(tex, px, (gsize)w * 4);
  GHashTable *seen = g_hash_table_new(g_direct_hash, g_direct_equal);
  for (int i = 0; i < w * h; i += 7) {
    guint32 v;
    memcpy(&v, px + (gsize)i * 4, 4);
    g_hash_table_add(seen, GUINT_TO_POINTER(v));
  }
  g_assert_cmpuint(g_hash_table_size(seen), >, 20);
  g_test_message("screenshot %dx%d with %u colours: %s", w, h, g_hash_table_size(seen), path);
  g_hash_table_unref(seen);
  g_free(px);
  g_object_unref(tex);
  g_free(path);
}

static void
test_empty_chat(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  HarkWindow *win = shown_window();
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 0);
  g_assert_cmpint(hark_window_get_conversation(win), ==, 0);
  g_assert_cmpstr(gtk_window_get_title(GTK_WINDOW(win)), ==, "Hark");
  g_assert_cmpstr(gtk_stack_get_visible_child_name(GTK_STACK(child(win, "chat_stack"))), ==, "empty");
  gtk_window_destroy(GTK_WINDOW(win));
}

typedef struct {
  HarkWindow *win;
  int pieces;
  gboolean cursor_seen;    /* the row showed the cursor while streaming */
  gboolean text_matched;   /* the row showed exactly the text streamed so far */
  GString *streamed;
  gboolean stop_at_first;
} watch;

/* Runs after the window's own handler: the row already shows the piece. */
static void
reply_text_after(HarkChatController *chat, gint64 conv, const char *piece, watch *w)
{
  g_string_append(w->streamed, piece);
  w->pieces++;
  guint n = hark_window_get_n_messages(w->win);
  HarkMessageRow *row = hark_window_get_message(w->win, n - 1);
  g_assert_nonnull(row);
  if (hark_message_row_get_streaming(row) && strstr(hark_message_row_get_markup(row), "\xe2\x96\x8d"))
    w->cursor_seen = TRUE;
  w->text_matched = !strcmp(hark_message_row_get_text(row), w->streamed->str);
  if (w->stop_at_first && w->pieces == 1) {
    GtkWidget *stop = child(w->win, "stop_button");
    g_assert_true(gtk_widget_get_visible(stop));
    g_signal_emit_by_name(stop, "clicked");
  }
}

static void
test_send_message(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  HarkWindow *win = shown_window();
  GtkTextView *view = GTK_TEXT_VIEW(child(win, "composer_view"));
  GtkTextBuffer *buf = gtk_text_view_get_buffer(view);
  GtkWidget *send = child(win, "send_button");

  /* Whitespace alone is not a message. */
  gtk_text_buffer_set_text(buf, "   \n ", -1);
  g_assert_false(gtk_widget_get_sensitive(send));
  g_signal_emit_by_name(send, "clicked");
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 0);

  watch w = { win, 0, FALSE, FALSE, g_string_new(NULL), FALSE };
  g_signal_connect_after(hark_window_get_chat(win), "reply-text", G_CALLBACK(reply_text_after), &w);
  gtk_text_buffer_set_text(buf, "  Hello, Hark  ", -1);
  g_assert_true(gtk_widget_get_sensitive(send));
  g_signal_emit_by_name(send, "clicked");
  /* The message and a reply being written show at once; Stop replaces Send. */
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 2);
  g_assert_cmpstr(hark_message_row_get_text(hark_window_get_message(win, 0)), ==, "Hello, Hark");
  g_assert_true(hark_message_row_get_streaming(hark_window_get_message(win, 1)));
  g_assert_true(gtk_widget_get_visible(child(win, "stop_button")));
  g_assert_false(gtk_widget_get_visible(send));
  GtkTextIter s, e;
  gtk_text_buffer_get_bounds(buf, &s, &e);
  char *left = gtk_text_buffer_get_text(buf, &s, &e, FALSE);
  g_assert_cmpstr(left, ==, "");
  g_free(left);

  wait_idle(win);
  g_test_message("%d pieces: %s", w.pieces, w.streamed->str);
  g_assert_cmpint(w.pieces, >, 1);
  g_assert_true(w.cursor_seen);
  g_assert_true(w.text_matched);
  HarkMessageRow *reply = hark_window_get_message(win, 1);
  g_assert_false(hark_message_row_get_streaming(reply));
  g_assert_false(hark_message_row_get_stopped(reply));
  g_assert_null(strstr(hark_message_row_get_markup(reply), "\xe2\x96\x8d"));
  g_assert_cmpstr(hark_message_row_get_text(reply), ==, w.streamed->str);
  g_assert_true(gtk_widget_get_visible(send));
  g_assert_false(gtk_widget_get_visible(child(win, "stop_button")));
  save_picture(win, "hark-chat.png");
  /* The label's markup is valid Pango markup. */
  g_assert_true(pango_parse_markup(hark_message_row_get_markup(reply), -1, 0, NULL, NULL, NULL, NULL));

  /* It is in the history, and the conversation in the sidebar, titled. */
  GPtrArray *msgs = stored_messages(win);
  g_assert_cmpuint(msgs->len, ==, 2);
  g_assert_cmpstr(((app_message *)msgs->pdata[0])->text, ==, "Hello, Hark");
  g_assert_cmpstr(((app_message *)msgs->pdata[1])->text, ==, w.streamed->str);
  g_ptr_array_unref(msgs);
  g_assert_cmpuint(n_rows(child(win, "conversation_list")), >=, 1);
  g_assert_cmpstr(adw_window_title_get_subtitle(ADW_WINDOW_TITLE(child(win, "window_title"))), ==, "Hello, Hark");

  /* Regenerate (greedy: the same reply) replaces the last reply in place. */
  char *first = g_strdup(w.streamed->str);
  g_string_truncate(w.streamed, 0);
  g_signal_emit_by_name(reply, "regenerate");
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 2);
  wait_idle(win);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 2);
  g_assert_cmpstr(hark_message_row_get_text(hark_window_get_message(win, 1)), ==, first);
  g_free(first);

  /* A new chat is empty; the old one opens again from the history. */
  gint64 conv = hark_window_get_conversation(win);
  gtk_widget_activate_action(GTK_WIDGET(win), "win.new-chat", NULL);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 0);
  g_assert_null(gtk_list_box_get_selected_row(GTK_LIST_BOX(child(win, "conversation_list"))));
  hark_window_open_conversation(win, conv);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 2);
  /* The sidebar shows which one it is. */
  GtkListBoxRow *sel = gtk_list_box_get_selected_row(GTK_LIST_BOX(child(win, "conversation_list")));
  g_assert_nonnull(sel);
  g_assert_cmpint(*(gint64 *)g_object_get_data(G_OBJECT(sel), "conversation"), ==, conv);
  msgs = stored_messages(win);
  for (guint i = 0; i < 2; i++) {
    app_message *m = msgs->pdata[i];
    g_assert_cmpstr(hark_message_row_get_role(hark_window_get_message(win, i)), ==, m->role);
    g_assert_cmpstr(hark_message_row_get_text(hark_window_get_message(win, i)), ==, m->text);
  }
  g_ptr_array_unref(msgs);

  g_signal_handlers_disconnect_by_data(hark_window_get_chat(win), &w);
  g_string_free(w.streamed, TRUE);
  gtk_window_destroy(GTK_WINDOW(win));
}

static void
test_stop(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  HarkWindow *win = shown_window();
  watch w = { win, 0, FALSE, FALSE, g_string_new(NULL), FALSE };
  g_signal_connect_after(hark_window_get_chat(win), "reply-text", G_CALLBACK(reply_text_after), &w);
  /* The whole reply first, to know its length. */
  type_and_send(win, LONG_PROMPT);
  wait_idle(win);
  char *full = g_strdup(hark_message_row_get_text(hark_window_get_message(win, 1)));

  /* Stop at the first piece. The model goes on while the window takes the
   * piece, so on a very busy machine the reply may be done before Stop
   * lands; a few tries make that unlikely to matter. */
  HarkMessageRow *reply = NULL;
  for (int attempt = 0; attempt < 4; attempt++) {
    gtk_widget_activate_action(GTK_WIDGET(win), "win.new-chat", NULL);
    w.stop_at_first = TRUE;
    w.pieces = 0;
    g_string_truncate(w.streamed, 0);
    type_and_send(win, LONG_PROMPT);
    wait_idle(win);
    reply = hark_window_get_message(win, 1);
    g_assert_nonnull(reply);
    if (hark_message_row_get_stopped(reply))
      break;
    g_test_message("attempt %d: the reply was done before Stop landed", attempt + 1);
  }
  g_test_message("stopped after %d pieces: %s", w.pieces, w.streamed->str);
  g_assert_false(hark_message_row_get_streaming(reply));
  g_assert_true(hark_message_row_get_stopped(reply));
  g_assert_cmpstr(hark_message_row_get_text(reply), ==, w.streamed->str);
  g_assert_cmpuint(strlen(w.streamed->str), <, strlen(full));
  g_assert_true(g_str_has_prefix(full, w.streamed->str));
  g_assert_true(gtk_widget_get_visible(child(win, "send_button")));
  g_assert_false(gtk_widget_get_visible(child(win, "stop_button")));
  GPtrArray *msgs = stored_messages(win);
  g_assert_cmpuint(msgs->len, ==, 2);
  app_message *m = msgs->pdata[1];
  g_assert_true(m->stopped);
  g_assert_cmpstr(m->text, ==, w.streamed->str);
  g_ptr_array_unref(msgs);

  g_free(full);
  g_signal_handlers_disconnect_by_data(hark_window_get_chat(win), &w);
  g_string_free(w.streamed, TRUE);
  gtk_window_destroy(GTK_WINDOW(win));
}

static void
test_search_and_delete(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  HarkWindow *win = shown_window();
  type_and_send(win, "Zanzibar spice markets");
  wait_idle(win);
  gint64 conv = hark_window_get_conversation(win);
  GtkWidget *list = child(win, "conversation_list");
  guint all = n_rows(list);
  g_assert_cmpuint(all, >=, 1);

  gtk_search_bar_set_search_mode(GTK_SEARCH_BAR(child(win, "search_bar")), TRUE);
  gtk_editable_set_text(GTK_EDITABLE(child(win, "search_entry")), "zanzi");
  g_signal_emit_by_name(child(win, "search_entry"), "search-changed");
  g_assert_cmpuint(n_rows(list), ==, 1);
  gtk_editable_set_text(GTK_EDITABLE(child(win, "search_entry")), "qqqnothing");
  g_signal_emit_by_name(child(win, "search_entry"), "search-changed");
  g_assert_cmpuint(n_rows(list), ==, 0);
  g_assert_cmpstr(gtk_stack_get_visible_child_name(GTK_STACK(child(win, "sidebar_stack"))), ==, "none");
  gtk_search_bar_set_search_mode(GTK_SEARCH_BAR(child(win, "search_bar")), FALSE);
  g_assert_cmpuint(n_rows(list), ==, all);

  GError *error = NULL;
  g_assert_true(hark_window_delete_conversation(win, conv, &error));
  g_assert_no_error(error);
  g_assert_cmpint(hark_window_get_conversation(win), ==, 0);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 0);
  g_assert_cmpuint(n_rows(list), ==, all - 1);

  /* A sidebar row's menu asks first; Cancel keeps the chat, Delete deletes it. */
  type_and_send(win, "Another chat to delete");
  wait_idle(win);
  conv = hark_window_get_conversation(win);
  const char *answers[] = { "cancel", "delete" };
  for (guint k = 0; k < 2; k++) {
    gtk_widget_activate_action(GTK_WIDGET(win), "win.delete-conversation", "x", conv);
    AdwMessageDialog *dialog = NULL;
    GListModel *tops = gtk_window_get_toplevels();
    for (guint i = 0; i < g_list_model_get_n_items(tops); i++) {
      GObject *w = g_list_model_get_item(tops, i);
      if (ADW_IS_MESSAGE_DIALOG(w))
        dialog = ADW_MESSAGE_DIALOG(w);
      g_object_unref(w);
    }
    g_assert_nonnull(dialog);
    g_assert_true(gtk_window_get_transient_for(GTK_WINDOW(dialog)) == GTK_WINDOW(win));
    adw_message_dialog_response(dialog, answers[k]);
    gtk_window_destroy(GTK_WINDOW(dialog));
    g_assert_cmpint(hark_window_get_conversation(win), ==, k == 0 ? conv : 0);
  }
  g_assert_cmpuint(n_rows(list), ==, all - 1);
  gtk_window_destroy(GTK_WINDOW(win));
}

static gboolean
offers_reply(HarkMessageRow *row)
{
  GtkWidget *b = GTK_WIDGET(gtk_widget_get_template_child(GTK_WIDGET(row), HARK_TYPE_MESSAGE_ROW, "regenerate_button"));
  return gtk_widget_get_visible(b);
}

static void
test_model_missing(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  HarkWindow *win = shown_window();
  HarkChatController *chat = hark_window_get_chat(win);
  /* A catalog model that is not installed (this test's XDG_DATA_HOME has none). */
  hark_chat_controller_set_model(chat, "smollm2-135m-instruct");
  type_and_send(win, "Is anyone there?");
  wait_idle(win);
  /* No reply row is left behind, nothing crashed, the message is kept and offers a reply. */
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 1);
  HarkMessageRow *msg = hark_window_get_message(win, 0);
  g_assert_cmpstr(hark_message_row_get_role(msg), ==, "user");
  g_assert_true(offers_reply(msg));
  g_assert_true(gtk_widget_is_sensitive(child(win, "composer_view")));
  GPtrArray *msgs = stored_messages(win);
  g_assert_cmpuint(msgs->len, ==, 1);
  g_ptr_array_unref(msgs);

  /* With a model there, the same message gets its reply. */
  hark_chat_controller_set_model(chat, model_path);
  g_signal_emit_by_name(msg, "regenerate");
  wait_idle(win);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 2);
  HarkMessageRow *reply = hark_window_get_message(win, 1);
  g_assert_cmpstr(hark_message_row_get_role(reply), ==, "assistant");
  g_assert_true(offers_reply(reply));
  g_assert_false(offers_reply(hark_window_get_message(win, 0)));
  msgs = stored_messages(win);
  g_assert_cmpuint(msgs->len, ==, 2);
  g_assert_cmpstr(((app_message *)msgs->pdata[1])->text, ==, hark_message_row_get_text(reply));
  g_ptr_array_unref(msgs);
  gtk_window_destroy(GTK_WINDOW(win));
}

static void
test_image_message(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  HarkWindow *win = shown_window();
  g_object_set(hark_window_get_chat(win), "n-predict", 8, NULL);
  GtkWidget *box = child(win, "attachment_box");
  char *not_image = g_test_build_filename(G_TEST_DIST, "meson.build", NULL);
  char *img = g_test_build_filename(G_TEST_DIST, "data", "vision", "pre-hopper.png", NULL);

  /* Only images are taken. */
  g_assert_false(hark_window_add_attachment(win, not_image));
  g_assert_false(gtk_widget_get_visible(box));
  g_assert_true(hark_window_add_attachment(win, img));
  g_assert_true(hark_window_add_attachment(win, img)); /* once is enough */
  g_assert_true(gtk_widget_get_visible(box));
  g_assert_cmpuint(n_rows(box), ==, 1);

  type_and_send(win, "What is in this picture?");
  g_assert_false(gtk_widget_get_visible(box));
  HarkMessageRow *msg = hark_window_get_message(win, 0);
  g_assert_cmpuint(hark_message_row_get_n_images(msg), ==, 1);
  wait_idle(win);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 2);
  HarkMessageRow *reply = hark_window_get_message(win, 1);
  g_assert_false(hark_message_row_get_streaming(reply));
  g_assert_cmpuint(strlen(hark_message_row_get_text(reply)), >, 0);
  GPtrArray *msgs = stored_messages(win);
  g_assert_cmpuint(((app_message *)msgs->pdata[0])->attachments->len, ==, 1);
  g_assert_cmpstr(((app_message *)msgs->pdata[1])->text, ==, hark_message_row_get_text(reply));
  g_ptr_array_unref(msgs);

  /* Opened again from the history, the picture is there. */
  gint64 conv = hark_window_get_conversation(win);
  hark_window_open_conversation(win, 0);
  hark_window_open_conversation(win, conv);
  g_assert_cmpuint(hark_message_row_get_n_images(hark_window_get_message(win, 0)), ==, 1);
  save_picture(win, "hark-image-chat.png");
  g_free(img), g_free(not_image);
  gtk_window_destroy(GTK_WINDOW(win));
}

/* An image pasted into the composer (Ctrl+V) is attached, kept as a PNG in
 * the cache; text on the clipboard is pasted as text. */
static void
test_paste_image(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  HarkWindow *win = shown_window();
  GtkWidget *box = child(win, "attachment_box"), *view = child(win, "composer_view");
  char *img = g_test_build_filename(G_TEST_DIST, "data", "vision", "pre-hopper.png", NULL);
  GError *error = NULL;
  GdkTexture *texture = gdk_texture_new_from_filename(img, &error);
  g_assert_no_error(error);
  GdkClipboard *cb = gtk_widget_get_clipboard(view);
  gdk_clipboard_set_texture(cb, texture);
  g_signal_emit_by_name(view, "paste-clipboard");
  for (int i = 0; i < 500 && !gtk_widget_get_visible(box); i++)
    g_main_context_iteration(NULL, TRUE);
  g_assert_true(gtk_widget_get_visible(box));
  g_assert_cmpuint(n_rows(box), ==, 1);
  GtkTextBuffer *buf = gtk_text_view_get_buffer(GTK_TEXT_VIEW(view));
  g_assert_cmpint(gtk_text_buffer_get_char_count(buf), ==, 0); /* nothing pasted as text */
  /* the file kept is that picture */
  char *dir = g_build_filename(g_get_user_cache_dir(), "hark", "pasted", NULL);
  GDir *d = g_dir_open(dir, 0, NULL);
  g_assert_nonnull(d);
  const char *name = g_dir_read_name(d);
  g_assert_nonnull(name);
  char *kept = g_build_filename(dir, name, NULL);
  GdkTexture *back = gdk_texture_new_from_filename(kept, &error);
  g_assert_no_error(error);
  g_assert_cmpint(gdk_texture_get_width(back), ==, gdk_texture_get_width(texture));
  g_assert_cmpint(gdk_texture_get_height(back), ==, gdk_texture_get_height(texture));
  g_dir_close(d);
  /* Text is pasted as text. */
  gdk_clipboard_set_text(cb, "pasted words");
  g_signal_emit_by_name(view, "paste-clipboard");
  for (int i = 0; i < 500 && gtk_text_buffer_get_char_count(buf) == 0; i++)
    g_main_context_iteration(NULL, TRUE);
  GtkTextIter a, b;
  gtk_text_buffer_get_bounds(buf, &a, &b);
  char *text = gtk_text_buffer_get_text(buf, &a, &b, FALSE);
  g_assert_cmpstr(text, ==, "pasted words");
  g_assert_cmpuint(n_rows(box), ==, 1);
  g_free(text), g_free(kept), g_free(dir), g_free(img);
  g_object_unref(back);
  g_object_unref(texture);
  gtk_window_destroy(GTK_WINDOW(win));
}

static void
delete_at_first_piece(HarkChatController *chat, gint64 conv, const char *piece, HarkWindow *win)
{
  GError *error = NULL;
  g_signal_handlers_disconnect_by_func(chat, delete_at_first_piece, win);
  g_assert_true(hark_window_delete_conversation(win, conv, &error));
  g_assert_no_error(error);
}

static void
destroy_at_first_piece(HarkChatController *chat, gint64 conv, const char *piece, HarkWindow *win)
{
  g_signal_handlers_disconnect_by_func(chat, destroy_at_first_piece, win);
  gtk_window_destroy(GTK_WINDOW(win));
}

/* Deleting the chat a reply is written for, or closing the window, stops
 * the reply; nothing is written for it and nothing breaks. */
static void
test_gone_while_writing(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  HarkWindow *win = shown_window();
  HarkChatController *chat = g_object_ref(hark_window_get_chat(win));
  app_history *h = hark_chat_controller_get_history(chat);
  g_signal_connect_after(chat, "reply-text", G_CALLBACK(delete_at_first_piece), win);
  type_and_send(win, LONG_PROMPT);
  gint64 conv = hark_window_get_conversation(win);
  wait_idle(win);
  g_assert_cmpint(hark_window_get_conversation(win), ==, 0);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 0);
  GError *error = NULL;
  g_assert_null(app_history_get_conversation(h, conv, &error));
  g_assert_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_NOT_FOUND);
  g_clear_error(&error);
  /* The window still chats. */
  type_and_send(win, "still there?");
  wait_idle(win);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 2);
  g_assert_false(hark_message_row_get_streaming(hark_window_get_message(win, 1)));

  g_signal_connect_after(chat, "reply-text", G_CALLBACK(destroy_at_first_piece), win);
  type_and_send(win, LONG_PROMPT);
  gint64 until = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  while (hark_chat_controller_get_busy(chat)) {
    g_assert_cmpint(g_get_monotonic_time(), <, until);
    g_main_context_iteration(NULL, TRUE);
  }
  g_object_unref(chat);
}

/* ---- jobs: a dropped audio file, a folder of photos ---- */

/* Drops `path` on the window through its GtkDropTarget, as a file manager does. */
static void
drop_file(HarkWindow *win, const char *path)
{
  GListModel *controllers = gtk_widget_observe_controllers(GTK_WIDGET(win));
  GtkDropTarget *target = NULL;
  for (guint i = 0; i < g_list_model_get_n_items(controllers) && !target; i++) {
    GObject *c = g_list_model_get_item(controllers, i);
    if (GTK_IS_DROP_TARGET(c))
      target = GTK_DROP_TARGET(c);
    g_object_unref(c);
  }
  g_object_unref(controllers);
  g_assert_nonnull(target);
  GSList *files = g_slist_append(NULL, g_file_new_for_path(path));
  GValue value = G_VALUE_INIT;
  g_value_init(&value, GDK_TYPE_FILE_LIST);
  g_value_take_boxed(&value, files);
  gboolean done = FALSE;
  g_signal_emit_by_name(target, "drop", &value, 10.0, 10.0, &done);
  g_assert_true(done);
  g_value_unset(&value);
}

static void
wait_jobs(HarkWindow *win)
{
  HarkJobController *jobs = hark_window_get_jobs(win);
  gint64 until = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
  while (hark_job_controller_get_n_running(jobs)) {
    g_assert_cmpint(g_get_monotonic_time(), <, until);
    g_main_context_iteration(NULL, TRUE);
  }
  while (g_main_context_pending(NULL))
    g_main_context_iteration(NULL, FALSE);
}

static GtkWidget *
row_child(HarkJobRow *row, const char *name)
{
  GtkWidget *w = GTK_WIDGET(gtk_widget_get_template_child(GTK_WIDGET(row), HARK_TYPE_JOB_ROW, name));
  g_assert_nonnull(w);
  return w;
}

static char *
sample_audio(void)
{
  return g_test_build_filename(G_TEST_DIST, "..", "data", "samples", "hark-intro.flac", NULL);
}

static void
test_transcribe_file(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  HarkWindow *win = shown_window();
  app_history *h = hark_chat_controller_get_history(hark_window_get_chat(win));
  char *audio = sample_audio();
  drop_file(win, audio);
  /* A job row at once, with its progress and Cancel. */
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 1);
  HarkJobRow *row = hark_window_get_job_row(win, 0);
  g_assert_nonnull(row);
  g_assert_true(gtk_widget_get_visible(row_child(row, "cancel_button")));
  g_assert_false(gtk_widget_get_visible(row_child(row, "export_box")));
  wait_jobs(win);

  /* Done: the transcript with its export buttons, in a conversation named after the file. */
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 1);
  g_assert_false(gtk_widget_get_visible(row_child(row, "cancel_button")));
  g_assert_true(gtk_widget_get_visible(row_child(row, "export_box")));
  gint64 conv = hark_window_get_conversation(win);
  g_assert_cmpint(conv, >, 0);
  g_assert_cmpstr(adw_window_title_get_subtitle(ADW_WINDOW_TITLE(child(win, "window_title"))), ==,
                  "hark-intro.flac");
  GPtrArray *msgs = stored_messages(win);
  g_assert_cmpuint(msgs->len, ==, 1);
  app_message *m = msgs->pdata[0];
  g_assert_true(app_message_is_transcript(m));
  g_assert_cmpint(m->id, ==, hark_job_row_get_message_id(row));
  g_assert_cmpstr(m->text, ==, hark_job_row_get_text(row));
  GError *error = NULL;
  GPtrArray *segs = app_history_segments(h, m->id, &error);
  g_assert_cmpuint(segs->len, >, 0);
  save_picture(win, "hark-transcript.png");

  /* Export as SRT (what the save dialog does with the chosen file). */
  char *srt = g_build_filename(tmp_home, "intro.srt", NULL);
  g_assert_true(hark_job_row_export(row, AUD_FORMAT_SRT, srt, &error));
  g_assert_no_error(error);
  char *text = NULL;
  g_assert_true(g_file_get_contents(srt, &text, NULL, NULL));
  g_assert_true(g_str_has_prefix(text, "1\n00:00:"));
  app_segment *last = segs->pdata[segs->len - 1];
  char *trimmed = g_strstrip(g_strdup(last->text));
  g_assert_nonnull(strstr(text, trimmed));
  g_free(trimmed), g_free(text), g_free(srt);
  g_ptr_array_unref(segs);
  g_ptr_array_unref(msgs);

  /* Opened again from the history: the same transcript, exportable. */
  gint64 id = hark_job_row_get_message_id(row);
  char *shown = g_strdup(hark_job_row_get_text(row));
  hark_window_open_conversation(win, 0);
  hark_window_open_conversation(win, conv);
  HarkJobRow *again = hark_window_get_job_row(win, 0);
  g_assert_nonnull(again);
  g_assert_cmpint(hark_job_row_get_message_id(again), ==, id);
  g_assert_cmpstr(hark_job_row_get_text(again), ==, shown);
  g_free(shown);
  g_assert_true(gtk_widget_get_visible(row_child(again, "export_box")));

  /* A question about it goes to the chat model, whose reply is the one offered again. */
  type_and_send(win, "Summarize this.");
  wait_idle(win);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 3);
  g_assert_true(offers_reply(hark_window_get_message(win, 2)));

  /* Deleting the chat a transcription is for stops it; nothing is left of either. */
  GPtrArray *convs = app_history_list_conversations(h, &error);
  guint n_convs = convs->len;
  g_ptr_array_unref(convs);
  HarkJob *job = g_object_ref(hark_job_row_get_job(hark_window_transcribe(win, audio)));
  g_assert_true(hark_window_delete_conversation(win, conv, &error));
  wait_jobs(win);
  g_assert_true(g_error_matches(hark_job_get_error(job), G_IO_ERROR, G_IO_ERROR_CANCELLED));
  g_object_unref(job);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 0);
  convs = app_history_list_conversations(h, &error);
  g_assert_cmpuint(convs->len, ==, n_convs - 1);
  g_ptr_array_unref(convs);

  /* The real words, with the real model when there is one. */
  const char *root = g_getenv("HARK_TEST_MODELS_DIR");
  char *base = root ? g_build_filename(root, "whisper-base-ct2", NULL) : NULL;
  if (base && g_file_test(base, G_FILE_TEST_IS_DIR)) {
    hark_job_controller_set_speech_model(hark_window_get_jobs(win), base);
    HarkJobRow *real = hark_window_transcribe(win, audio);
    wait_jobs(win);
    g_test_message("whisper-base: %s", hark_job_row_get_text(real));
    char *lower = g_utf8_strdown(hark_job_row_get_text(real), -1);
    g_assert_nonnull(strstr(lower, "transcribes audio and video files"));
    g_free(lower);
  } else {
    g_test_message("no whisper-base in HARK_TEST_MODELS_DIR: the real words are not checked");
  }
  g_free(base), g_free(audio);
  gtk_window_destroy(GTK_WINDOW(win));
}

/* Unreadable files and a missing model: a toast, no row left, nothing written. */
static void
test_transcribe_errors(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  HarkWindow *win = shown_window();
  app_history *h = hark_chat_controller_get_history(hark_window_get_chat(win));
  GError *error = NULL;
  GPtrArray *before = app_history_list_conversations(h, &error);
  char *bad = g_test_build_filename(G_TEST_DIST, "data", "audio", "text.wav", NULL);
  drop_file(win, bad);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 1);
  wait_jobs(win);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 0);
  hark_job_controller_set_speech_model(hark_window_get_jobs(win), "whisper-tiny"); /* not installed here */
  char *audio = sample_audio();
  g_assert_true(hark_window_open_file(win, audio));
  wait_jobs(win);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 0);
  g_assert_cmpint(hark_window_get_conversation(win), ==, 0);
  GPtrArray *after = app_history_list_conversations(h, &error);
  g_assert_cmpuint(after->len, ==, before->len);
  /* Neither audio, video nor an image: refused. */
  char *not_media = g_test_build_filename(G_TEST_DIST, "meson.build", NULL);
  g_assert_false(hark_window_open_file(win, not_media));
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 0);
  g_ptr_array_unref(before);
  g_ptr_array_unref(after);
  g_free(bad), g_free(audio), g_free(not_media);
  gtk_window_destroy(GTK_WINDOW(win));
}

/* A fresh folder of `n` copies of the test photos. */
static char *
photo_folder(const char *name, guint n)
{
  static const char *const sources[] = { "pre-hopper.png", "pre-chelsea.png", "pre-coffee.png" };
  char *dir = g_build_filename(tmp_home, name, NULL);
  g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
  for (guint i = 0; i < n; i++) {
    char *from = g_test_build_filename(G_TEST_DIST, "data", "vision", sources[i % 3], NULL);
    char *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(from, &data, &len, NULL));
    char *to_name = g_strdup_printf("photo%02u.png", i);
    char *to = g_build_filename(dir, to_name, NULL);
    g_assert_true(g_file_set_contents(to, data, (gssize)len, NULL));
    g_free(from), g_free(data), g_free(to_name), g_free(to);
  }
  return dir;
}

static guint
n_sidecars(const char *dir)
{
  guint n = 0;
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name(d)))
    n += g_str_has_suffix(name, ".txt");
  g_dir_close(d);
  return n;
}

/* The dialog that asks for the caption format: answers it with format f. */
static void
answer_caption_dialog(HarkWindow *win, guint f)
{
  AdwMessageDialog *dialog = NULL;
  GListModel *tops = gtk_window_get_toplevels();
  for (guint i = 0; i < g_list_model_get_n_items(tops); i++) {
    GObject *w = g_list_model_get_item(tops, i);
    if (ADW_IS_MESSAGE_DIALOG(w) && gtk_widget_get_visible(GTK_WIDGET(w)))
      dialog = ADW_MESSAGE_DIALOG(w);
    g_object_unref(w);
  }
  g_assert_nonnull(dialog);
  g_assert_true(gtk_window_get_transient_for(GTK_WINDOW(dialog)) == GTK_WINDOW(win));
  GtkDropDown *formats = GTK_DROP_DOWN(adw_message_dialog_get_extra_child(dialog));
  g_assert_cmpuint(g_list_model_get_n_items(gtk_drop_down_get_model(formats)), ==, 4);
  gtk_drop_down_set_selected(formats, f);
  adw_message_dialog_response(dialog, "caption");
  gtk_window_destroy(GTK_WINDOW(dialog));
}

static void
test_caption_folder(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  HarkWindow *win = shown_window();
  g_object_set(hark_window_get_jobs(win), "caption-max-tokens", 8, NULL);
  char *dir = photo_folder("three-photos", 3);
  drop_file(win, dir);
  answer_caption_dialog(win, APP_CAPTION_TXT);
  HarkJobRow *row = hark_window_get_job_row(win, 0);
  g_assert_nonnull(row);
  wait_jobs(win);
  g_assert_cmpuint(hark_job_row_get_n_results(row), ==, 3);
  g_assert_cmpuint(n_sidecars(dir), ==, 3);
  g_assert_nonnull(strstr(hark_job_row_get_status(row), "3 captioned"));
  GtkListBox *results = GTK_LIST_BOX(row_child(row, "results"));
  g_assert_cmpuint(n_rows(GTK_WIDGET(results)), ==, 3);
  /* Each result's caption is what its sidecar holds. */
  for (guint i = 0; i < 3; i++) {
    char *stem = g_strndup(hark_job_row_get_result_image(row, i),
                           strlen(hark_job_row_get_result_image(row, i)) - strlen(".png"));
    char *side = g_strconcat(stem, ".txt", NULL), *text = NULL;
    g_assert_true(g_file_get_contents(side, &text, NULL, NULL));
    g_assert_cmpstr(g_strstrip(text), ==, hark_job_row_get_result_caption(row, i));
    g_free(stem), g_free(side), g_free(text);
  }
  save_picture(win, "hark-captions.png");
  /* Clicking a result shows its image with its caption. */
  g_signal_emit_by_name(results, "row-activated", gtk_list_box_get_row_at_index(results, 1));
  GtkWindow *viewer = NULL;
  GListModel *tops = gtk_window_get_toplevels();
  for (guint i = 0; i < g_list_model_get_n_items(tops); i++) {
    GObject *w = g_list_model_get_item(tops, i);
    if (ADW_IS_WINDOW(w) && gtk_window_get_transient_for(GTK_WINDOW(w)) == GTK_WINDOW(win))
      viewer = GTK_WINDOW(w);
    g_object_unref(w);
  }
  g_assert_nonnull(viewer);
  char *base = g_path_get_basename(hark_job_row_get_result_image(row, 1));
  g_assert_cmpstr(gtk_window_get_title(viewer), ==, base);
  g_free(base);
  gtk_window_destroy(viewer);
  /* The menu's Caption Folder… asks for a folder (GTK's own chooser without a portal). */
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(win), "win.caption-folder", NULL));
  GtkWidget *chooser = NULL;
  for (guint i = 0; i < g_list_model_get_n_items(tops); i++) {
    GObject *w = g_list_model_get_item(tops, i);
    if (GTK_IS_FILE_CHOOSER_DIALOG(w))
      chooser = GTK_WIDGET(w);
    g_object_unref(w);
  }
  g_assert_nonnull(chooser);
  g_assert_cmpint(gtk_file_chooser_get_action(GTK_FILE_CHOOSER(chooser)), ==, GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER);
  gtk_dialog_response(GTK_DIALOG(chooser), GTK_RESPONSE_CANCEL);

  /* A folder of anything but photos: said so, nothing left behind. */
  char *empty = g_build_filename(tmp_home, "no-photos", NULL);
  g_mkdir_with_parents(empty, 0700);
  guint n = hark_window_get_n_messages(win);
  hark_window_caption_folder(win, empty, APP_CAPTION_JSONL);
  wait_jobs(win);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, n);
  g_free(empty);
  test_remove_tree(dir);
  g_free(dir);
  gtk_window_destroy(GTK_WINDOW(win));
}

static void
cancel_at_first_caption(HarkJob *job, const char *image, const char *caption, const char *error, HarkJobRow *row)
{
  g_signal_handlers_disconnect_by_func(job, cancel_at_first_caption, row);
  GtkWidget *cancel = row_child(row, "cancel_button");
  g_assert_true(gtk_widget_get_visible(cancel));
  g_signal_emit_by_name(cancel, "clicked");
}

/* Cancel midway: the job stops, what was written stays, the window goes on. */
static void
test_cancel_job(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  HarkWindow *win = shown_window();
  g_object_set(hark_window_get_jobs(win), "caption-max-tokens", 8, NULL);
  char *dir = photo_folder("many-photos", 16);
  HarkJobRow *row = hark_window_caption_folder(win, dir, APP_CAPTION_TXT);
  g_signal_connect(hark_job_row_get_job(row), "caption", G_CALLBACK(cancel_at_first_caption), row);
  wait_jobs(win);
  guint n = hark_job_row_get_n_results(row);
  g_test_message("stopped after %u of 16: %s", n, hark_job_row_get_status(row));
  g_assert_cmpuint(n, >=, 1);
  g_assert_cmpuint(n, <, 16);
  g_assert_cmpuint(n_sidecars(dir), ==, n);
  g_assert_true(g_str_has_prefix(hark_job_row_get_status(row), "Stopped"));
  g_assert_false(gtk_widget_get_visible(row_child(row, "cancel_button")));
  g_assert_true(hark_window_get_job_row(win, 0) == row);
  /* The window still chats. */
  type_and_send(win, "still there?");
  wait_idle(win);
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 3);
  g_assert_false(hark_message_row_get_streaming(hark_window_get_message(win, 2)));
  test_remove_tree(dir);
  g_free(dir);
  gtk_window_destroy(GTK_WINDOW(win));
}

/* ---- a process killed while it writes a reply ---- */

/* The reply streams: say so and hold the main thread, where replies are
 * written to the history, until the parent kills the process. The worker
 * goes on generating meanwhile, so the kill lands while a reply is being
 * generated however fast the machine is. */
G_GNUC_NORETURN static void
child_first_piece(HarkChatController *chat, gint64 conv, const char *piece, gpointer data)
{
  printf("streaming\n");
  fflush(stdout);
  for (;;)
    g_usleep(G_USEC_PER_SEC);
}

/* Sends a message, waits for its reply, sends a long one and says when its
 * reply streams; the parent kills it then. */
G_GNUC_NORETURN static int
child_generate(void)
{
  HarkWindow *win = shown_window();
  type_and_send(win, "first message");
  wait_idle(win);
  g_signal_connect_after(hark_window_get_chat(win), "reply-text", G_CALLBACK(child_first_piece), NULL);
  type_and_send(win, LONG_PROMPT);
  for (;;)
    g_main_context_iteration(NULL, TRUE);
}

/* The restarted app: prints the conversations and the first one's messages as the window shows them. */
static int
child_verify(void)
{
  HarkWindow *win = shown_window();
  GtkWidget *list = child(win, "conversation_list");
  printf("conversations %u\n", n_rows(list));
  GtkListBoxRow *row = gtk_list_box_get_row_at_index(GTK_LIST_BOX(list), 0);
  if (row)
    gtk_list_box_select_row(GTK_LIST_BOX(list), row);
  for (guint i = 0; i < hark_window_get_n_messages(win); i++) {
    HarkMessageRow *m = hark_window_get_message(win, i);
    printf("%s %s %zu\n", hark_message_row_get_role(m), hark_message_row_get_stopped(m) ? "stopped" : "done",
           strlen(hark_message_row_get_text(m)));
  }
  gtk_window_destroy(GTK_WINDOW(win));
  return 0;
}

static GPid
spawn_child(const char *mode, const char *home, int *out_fd)
{
  char *self = g_test_build_filename(G_TEST_BUILT, "test-ui-window", NULL);
  char *argv[] = { self, NULL };
  char **env = g_get_environ();
  env = g_environ_setenv(env, "HARK_TEST_UI_CHILD", mode, TRUE);
  env = g_environ_setenv(env, "XDG_DATA_HOME", home, TRUE);
  env = g_environ_setenv(env, "HARK_CHAT_MODEL", model_path, TRUE);
  GPid pid = 0;
  GError *error = NULL;
  g_spawn_async_with_pipes(NULL, argv, env, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, NULL, out_fd, NULL,
                           &error);
  g_assert_no_error(error);
  g_strfreev(env);
  g_free(self);
  return pid;
}

static char *
read_all(int fd)
{
  GString *s = g_string_new(NULL);
  char buf[512];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    g_string_append_len(s, buf, n);
  close(fd);
  return g_string_free(s, FALSE);
}

static void
test_kill_restart(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  char *home = g_build_filename(tmp_home, "killed", NULL);
  int fd = -1;
  GPid pid = spawn_child("generate", home, &fd);
  /* Wait for the second reply to stream, then kill -9. */
  GString *line = g_string_new(NULL);
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n')
    g_string_append_c(line, c);
  g_assert_cmpstr(line->str, ==, "streaming");
  g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
  int status = 0;
  g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
  g_assert_true(WIFSIGNALED(status));
  close(fd);
  g_spawn_close_pid(pid);

  /* The file is a sound history with the completed messages. */
  char *path = g_build_filename(home, "hark", "history.sqlite3", NULL);
  GError *error = NULL;
  char *notice = NULL;
  app_history *h = app_history_open(path, &notice, &error);
  g_assert_no_error(error);
  g_assert_null(notice);
  GPtrArray *convs = app_history_list_conversations(h, &error);
  g_assert_cmpuint(convs->len, ==, 1);
  GPtrArray *msgs = app_history_messages(h, ((app_conversation *)convs->pdata[0])->id, &error);
  g_assert_no_error(error);
  /* first message, its reply, the long prompt; its reply was never finished. */
  g_assert_cmpuint(msgs->len, ==, 3);
  g_assert_cmpstr(((app_message *)msgs->pdata[0])->text, ==, "first message");
  g_assert_cmpstr(((app_message *)msgs->pdata[1])->role, ==, "assistant");
  g_assert_cmpstr(((app_message *)msgs->pdata[2])->text, ==, LONG_PROMPT);
  GString *want = g_string_new("conversations 1\n");
  for (guint i = 0; i < msgs->len; i++) {
    app_message *m = msgs->pdata[i];
    g_string_append_printf(want, "%s done %zu\n", m->role, strlen(m->text));
  }
  g_ptr_array_unref(msgs);
  g_ptr_array_unref(convs);
  app_history_free(h);

  /* The app started again shows them. */
  pid = spawn_child("verify", home, &fd);
  char *out = read_all(fd);
  g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
  g_spawn_close_pid(pid);
  g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  g_assert_cmpstr(out, ==, want->str);

  g_free(out), g_free(notice), g_free(path), g_free(home);
  g_string_free(want, TRUE);
  g_string_free(line, TRUE);
}

int
main(int argc, char **argv)
{
  const char *mode = g_getenv("HARK_TEST_UI_CHILD");
  if (mode) {
    if (!gtk_init_check())
      return 2;
    adw_init();
    return !strcmp(mode, "generate") ? child_generate() : child_verify();
  }

  /* A history and settings of its own, and the test model as the chat model. */
  tmp_home = g_dir_make_tmp("hark-ui-XXXXXX", NULL);
  g_setenv("XDG_DATA_HOME", tmp_home, TRUE);
  char *cache = g_build_filename(tmp_home, "cache", NULL);
  g_setenv("XDG_CACHE_HOME", cache, TRUE);
  g_free(cache);
  g_test_init(&argc, &argv, NULL);
  char *vocab = g_test_build_filename(G_TEST_DIST, "data", "llm", "vocab-llama3.gguf", NULL);
  model_path = g_build_filename(tmp_home, "tiny-chat.gguf", NULL);
  llm_test_make_model(vocab, model_path);
  g_free(vocab);
  g_setenv("HARK_CHAT_MODEL", model_path, TRUE);
  /* The tiny random LLaVA (language model + mmproj) of tests/data/vision. */
  char *llava = g_test_build_filename(G_TEST_DIST, "data", "vision", "llm-f32.gguf", NULL);
  g_setenv("HARK_VISION_MODEL", llava, TRUE);
  g_free(llava);
  /* The tiny random English Whisper of tests/data/whisper. */
  char *whisper = g_test_build_filename(G_TEST_DIST, "data", "whisper", "tiny-en", NULL);
  g_setenv("HARK_SPEECH_MODEL", whisper, TRUE);
  g_free(whisper);

  have_display = gtk_init_check();
  if (have_display)
    adw_init();
  g_test_add_func("/ui/window/screenshot", test_screenshot);
  g_test_add_func("/ui/window/empty-chat", test_empty_chat);
  g_test_add_func("/ui/window/send-message", test_send_message);
  g_test_add_func("/ui/window/stop", test_stop);
  g_test_add_func("/ui/window/search-and-delete", test_search_and_delete);
  g_test_add_func("/ui/window/model-missing", test_model_missing);
  g_test_add_func("/ui/window/gone-while-writing", test_gone_while_writing);
  g_test_add_func("/ui/window/image-message", test_image_message);
  g_test_add_func("/ui/window/paste-image", test_paste_image);
  g_test_add_func("/ui/window/transcribe-file", test_transcribe_file);
  g_test_add_func("/ui/window/transcribe-errors", test_transcribe_errors);
  g_test_add_func("/ui/window/caption-folder", test_caption_folder);
  g_test_add_func("/ui/window/cancel-job", test_cancel_job);
  g_test_add_func("/ui/window/kill-restart", test_kill_restart);
  int rc = g_test_run();
  test_remove_tree(tmp_home);
  return rc;
}
