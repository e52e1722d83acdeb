/* test-ui-window.c: the window under a real display (Xvfb in the test run):
 * screenshot, the empty chat, and posting a message from the composer. */
#include "hark-config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "hark-application.h"
#include "hark-window.h"

static gboolean have_display;

static gboolean
quit_loop(gpointer loop)
{
  g_main_loop_quit(loop);
  return G_SOURCE_REMOVE;
}

static HarkWindow *
shown_window(void)
{
  HarkWindow *win = hark_window_new(NULL);
  gtk_window_present(GTK_WINDOW(win));
  GMainLoop *loop = g_main_loop_new(NULL, FALSE);
  hark_window_when_drawn(win, quit_loop, loop);
  g_main_loop_run(loop);
  g_main_loop_unref(loop);
  return win;
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
  g_assert_cmpstr(gtk_window_get_title(GTK_WINDOW(win)), ==, "Hark");
  gtk_window_destroy(GTK_WINDOW(win));
}

static GtkWidget *
find_widget(GtkWidget *root, GType type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE(root, type))
    return root;
  for (GtkWidget *c = gtk_widget_get_first_child(root); c; c = gtk_widget_get_next_sibling(c)) {
    GtkWidget *found = find_widget(c, type);
    if (found)
      return found;
  }
  return NULL;
}

static void
test_send_message(void)
{
  if (!have_display) {
    g_test_skip("no display (run under xvfb-run)");
    return;
  }
  HarkWindow *win = shown_window();
  GtkTextView *view = GTK_TEXT_VIEW(find_widget(GTK_WIDGET(win), GTK_TYPE_TEXT_VIEW));
  g_assert_nonnull(view);
  GtkTextBuffer *buf = gtk_text_view_get_buffer(view);

  GtkWidget *send = gtk_widget_get_next_sibling(gtk_widget_get_parent(GTK_WIDGET(view)));
  g_assert_true(GTK_IS_BUTTON(send));

  /* Whitespace alone is not a message. */
  gtk_text_buffer_set_text(buf, "   \n ", -1);
  g_assert_false(gtk_widget_get_sensitive(send));
  g_signal_emit_by_name(send, "clicked");
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 0);

  gtk_text_buffer_set_text(buf, "  Hello, Hark  ", -1);
  g_assert_true(gtk_widget_get_sensitive(send));
  g_signal_emit_by_name(send, "clicked");
  g_assert_cmpuint(hark_window_get_n_messages(win), ==, 1);

  GtkTextIter s, e;
  gtk_text_buffer_get_bounds(buf, &s, &e);
  char *left = gtk_text_buffer_get_text(buf, &s, &e, FALSE);
  g_assert_cmpstr(left, ==, "");
  g_free(left);
  g_assert_false(gtk_widget_get_sensitive(send));
  gtk_window_destroy(GTK_WINDOW(win));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  have_display = gtk_init_check();
  if (have_display)
    adw_init();
  g_test_add_func("/ui/window/screenshot", test_screenshot);
  g_test_add_func("/ui/window/empty-chat", test_empty_chat);
  g_test_add_func("/ui/window/send-message", test_send_message);
  return g_test_run();
}
