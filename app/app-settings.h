/* app-settings.h: Hark's GSettings (schema io.github.hark.Hark, data/). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The settings, or NULL when the schema is not installed (an uninstalled
 * build without GSETTINGS_SCHEMA_DIR pointing at the build tree): callers
 * then use the defaults. Main thread. */
GSettings *app_settings_new(void);

G_END_DECLS
