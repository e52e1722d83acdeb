/* hark-application.h: the AdwApplication behind the window (io.github.hark.Hark). */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define HARK_TYPE_APPLICATION (hark_application_get_type())
G_DECLARE_FINAL_TYPE(HarkApplication, hark_application, HARK, APPLICATION, AdwApplication)

/* screenshot: NULL for a normal run; else the app runs as a separate instance,
 * saves a PNG of its first drawn window to this path and quits. */
HarkApplication *hark_application_new(const char *screenshot);

/* Opens a display, runs the application and returns the process exit code
 * (1 with a message on stderr when no display can be opened). Main thread only. */
int hark_application_run(const char *screenshot);
/* The same; dictate: the window opens with dictation started (in the Hark
 * already running, if one is). */
int hark_application_run_with(const char *screenshot, gboolean dictate);

G_END_DECLS
