/* hark-mic-button.h: the composer's microphone: a toggle that dictates into
 * a text view (partial text dimmed, final text kept), a level meter while
 * it listens, and hold-to-talk on F9. */
#pragma once

#include <adwaita.h>

#include "app-dictation.h"

G_BEGIN_DECLS

#define HARK_TYPE_MIC_BUTTON (hark_mic_button_get_type())
G_DECLARE_FINAL_TYPE(HarkMicButton, hark_mic_button, HARK, MIC_BUTTON, GtkWidget)

/* Property "text-view" (GtkTextView): where the text goes: at the cursor
 * as it was when dictation started. The speech model, device, language,
 * microphone, pause and VAD file follow the settings. Errors (no speech
 * model, no microphone) are toasts in the nearest AdwToastOverlay above the
 * button; a missing catalog model offers "Install Model". */
void hark_mic_button_set_text_view(HarkMicButton *self, GtkTextView *view);

/* Starts or stops dictation (as the toggle does). */
void hark_mic_button_start(HarkMicButton *self);
void hark_mic_button_stop(HarkMicButton *self);
/* Dictates the audio file `path` into the view as if it were spoken
 * (hark_dictation_controller_start_file): a recording; the tests. */
void hark_mic_button_start_file(HarkMicButton *self, const char *path);
HarkDictationController *hark_mic_button_get_controller(HarkMicButton *self);

/* Hold-to-talk on `window`: F9 pressed starts dictation, released stops it
 * (a capture-phase key controller named "hark-hold-to-talk"); Ctrl+Shift+D
 * toggles it. Both only while the button is on screen. */
void hark_mic_button_add_shortcuts(HarkMicButton *self, GtkWidget *window);

/* The dimmed partial text now in the view ("" when none); g_free. */
char *hark_mic_button_get_partial(HarkMicButton *self);

G_END_DECLS
