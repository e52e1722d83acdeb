/* hark-window.h: the main window: conversations, the chat view, the composer. */
#pragma once

#include <adwaita.h>

#include "app-chat.h"
#include "app-jobs.h"
#include "hark-job-row.h"
#include "hark-message-row.h"

G_BEGIN_DECLS

#define HARK_TYPE_WINDOW (hark_window_get_type())
G_DECLARE_FINAL_TYPE(HarkWindow, hark_window, HARK, WINDOW, AdwApplicationWindow)

/* app may be NULL (the tests). The window opens the history
 * ($XDG_DATA_HOME/hark/history.sqlite3) and starts a chat controller; the chat
 * model is $HARK_CHAT_MODEL when set, else the chat-model setting; the model
 * for conversations with images $HARK_VISION_MODEL, else vision-model. */
HarkWindow *hark_window_new(GtkApplication *app);

/* Shows conversation `id` from the history; 0: a new, empty chat. */
void hark_window_open_conversation(HarkWindow *self, gint64 id);
gint64 hark_window_get_conversation(HarkWindow *self);
/* Deletes a conversation (stopping its reply if one is written). */
gboolean hark_window_delete_conversation(HarkWindow *self, gint64 id, GError **error);

/* Adds an image to the next message (as the attach button and a drop do);
 * FALSE, with a toast, for a file that is not an image. */
gboolean hark_window_add_attachment(HarkWindow *self, const char *path);

/* What dropping a file or folder does: a folder asks for the caption format
 * and captions its photos; an audio or video file (by its content type) is
 * transcribed into the chat shown; an image is attached to the next message.
 * FALSE, with a toast, for anything else. The speech model is
 * $HARK_SPEECH_MODEL when set, else the speech-model setting. */
gboolean hark_window_open_file(HarkWindow *self, const char *path);
/* Starts a transcription or a caption job shown in the chat view; its row. */
HarkJobRow *hark_window_transcribe(HarkWindow *self, const char *path);
HarkJobRow *hark_window_caption_folder(HarkWindow *self, const char *folder, app_caption_format format);
HarkJobController *hark_window_get_jobs(HarkWindow *self);

/* Messages shown in the chat view, the one being written included (job
 * rows too: hark_window_get_message is NULL for them, get_job_row for the others). */
guint hark_window_get_n_messages(HarkWindow *self);
HarkMessageRow *hark_window_get_message(HarkWindow *self, guint i);
HarkJobRow *hark_window_get_job_row(HarkWindow *self, guint i);
HarkChatController *hark_window_get_chat(HarkWindow *self);

/* "welcome" (no chat and no speech model yet: hark-welcome-page.h) or "chat". */
const char *hark_window_get_page(HarkWindow *self);
/* Starts dictation into the composer (the microphone button, `hark --dictate`). */
void hark_window_start_dictation(HarkWindow *self);

/* Calls `done` (once, from an idle) after the window has drawn a few frames. */
void hark_window_when_drawn(HarkWindow *self, GSourceFunc done, gpointer user_data);

/* Renders the window as it is now into a PNG file. */
gboolean hark_window_save_png(HarkWindow *self, const char *path, GError **error);
/* The same for any shown window (a GtkNative: dialogs, preferences). */
gboolean hark_native_save_png(GtkWidget *native, const char *path, GError **error);

G_END_DECLS
