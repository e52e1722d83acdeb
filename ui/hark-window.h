/* hark-window.h: the main window: header bar, chat view and composer. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define HARK_TYPE_WINDOW (hark_window_get_type())
G_DECLARE_FINAL_TYPE(HarkWindow, hark_window, HARK, WINDOW, AdwApplicationWindow)

HarkWindow *hark_window_new(GtkApplication *app);

/* Renders the window as it is drawn now into a PNG file. Main thread only;
 * the window must be mapped. Returns FALSE with `error` set on failure. */
gboolean hark_window_save_png(HarkWindow *self, const char *path, GError **error);

/* Calls `done` once the window has been mapped and drawn a few frames, so a
 * screenshot shows it settled. */
void hark_window_when_drawn(HarkWindow *self, GSourceFunc done, gpointer user_data);

/* Posts a user message into the chat view (the window's only chat for now). */
void hark_window_add_user_message(HarkWindow *self, const char *text);

/* How many messages the chat view shows. */
guint hark_window_get_n_messages(HarkWindow *self);

G_END_DECLS
