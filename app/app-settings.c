/* app-settings.c: Hark's GSettings, looked up so that a missing schema is not fatal. */
#include "hark-config.h"

#include "app-settings.h"

GSettings *
app_settings_new(void)
{
  GSettingsSchemaSource *src = g_settings_schema_source_get_default();
  GSettingsSchema *schema = src ? g_settings_schema_source_lookup(src, HARK_APP_ID, TRUE) : NULL;
  if (!schema)
    return NULL;
  GSettings *s = g_settings_new_full(schema, NULL, NULL);
  g_settings_schema_unref(schema);
  return s;
}
