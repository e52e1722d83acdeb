/* hark-welcome-page.h: the first-run page: with no chat model and no speech
 * model there, it offers to install the default ones (with progress and
 * Cancel) or to open the preferences. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define HARK_TYPE_WELCOME_PAGE (hark_welcome_page_get_type())
G_DECLARE_FINAL_TYPE(HarkWelcomePage, hark_welcome_page, HARK, WELCOME_PAGE, AdwBin)

/* "needed" (read-only, notified): neither the chat model (the chat-model
 * setting, or $HARK_CHAT_MODEL) nor the speech model (speech-model) is
 * installed or found as a path. It follows installs and removals through
 * hark_model_manager_get_default() and changes of those settings. */
gboolean hark_welcome_page_get_needed(HarkWelcomePage *self);

/* Installs the default models that are catalog models and not installed
 * (the "Install Default Models" button); install errors are toasts in the
 * nearest AdwToastOverlay above the page. */
void hark_welcome_page_install(HarkWelcomePage *self);
/* Stops those installs (the Cancel button). */
void hark_welcome_page_cancel(HarkWelcomePage *self);
/* TRUE while they run; *fraction (may be NULL): their progress, 0 to 1. */
gboolean hark_welcome_page_get_installing(HarkWelcomePage *self, double *fraction);

G_END_DECLS
