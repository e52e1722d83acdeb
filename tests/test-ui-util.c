/* test-ui-util.c: helpers shared by the GTK tests. */
#include "test-ui-util.h"

static gboolean
quit_loop(gpointer loop)
{
  g_main_loop_quit(loop);
  return G_SOURCE_REMOVE;
}

void
test_ui_wait_drawn(HarkWindow *win)
{
  GMainLoop *loop = g_main_loop_new(NULL, FALSE);
  hark_window_when_drawn(win, quit_loop, loop);
  g_main_loop_run(loop);
  g_main_loop_unref(loop);
}

GtkWidget *
test_ui_window_child(HarkWindow *win, const char *name)
{
  GtkWidget *w = GTK_WIDGET(gtk_widget_get_template_child(GTK_WIDGET(win), HARK_TYPE_WINDOW, name));
  g_assert_nonnull(w);
  return w;
}
