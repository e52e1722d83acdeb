/* test-ui-util.h: helpers shared by the GTK tests. */
#pragma once

#include "hark-window.h"

/* Returns once `win` has drawn a few frames (present it first). */
void test_ui_wait_drawn(HarkWindow *win);
/* The template child `name` of the window (asserted to be there). */
GtkWidget *test_ui_window_child(HarkWindow *win, const char *name);
