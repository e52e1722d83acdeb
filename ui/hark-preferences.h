/* hark-preferences.h: the preferences: the model manager (install with
 * progress and Cancel, remove), the default models, the device and the
 * dictation options, all stored in GSettings. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define HARK_TYPE_PREFERENCES_WINDOW (hark_preferences_window_get_type())
G_DECLARE_FINAL_TYPE(HarkPreferencesWindow, hark_preferences_window, HARK, PREFERENCES_WINDOW, AdwPreferencesWindow)

/* parent may be NULL. The models are those of hark_model_manager_get_default();
 * without the settings schema the settings rows are left at their defaults. */
HarkPreferencesWindow *hark_preferences_window_new(GtkWindow *parent);

/* For the tests: the catalog model `name`'s row, or NULL; its state
 * ("available", "installing" or "installed"); its progress bar's fraction;
 * one of its buttons ("install", "cancel" or "remove"). */
AdwActionRow *hark_preferences_window_get_model_row(HarkPreferencesWindow *self, const char *name);
const char *hark_preferences_window_get_model_state(HarkPreferencesWindow *self, const char *name);
double hark_preferences_window_get_model_progress(HarkPreferencesWindow *self, const char *name);
GtkButton *hark_preferences_window_get_model_button(HarkPreferencesWindow *self, const char *name,
                                                    const char *which);

G_END_DECLS
