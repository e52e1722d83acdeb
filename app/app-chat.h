/* app-chat.h: the chat controller behind the window's conversations.
 *
 * HarkChatController sends a user message of a conversation in the history
 * to the chat model and streams the reply back: the user message is written
 * to the history when sent, the reply when it completes (or is stopped), so a
 * crash loses at most the reply being generated. The model runs on its own
 * worker thread (app-worker.h); it is loaded on first use, stays loaded while
 * the same model is asked, and is unloaded when another model is set. Before
 * each reply the session is brought in line with the conversation as stored
 * (history restored through llm_session_add_turn; the KV cache keeps what is
 * common), so switching conversations, regenerating and restarting the app
 * all read the conversation the user sees.
 *
 * Errors (GError): a model that is a catalog name but not installed is
 * APP_MODELS_ERROR_NOT_INSTALLED (the window offers to install it); other
 * model problems are G_IO_ERROR_FAILED with the engine's message; a stopped
 * reply is G_IO_ERROR_CANCELLED (what was generated is kept in the history,
 * marked stopped); a message while a reply is being generated is
 * G_IO_ERROR_BUSY; history failures are APP_HISTORY_ERROR.
 *
 * Threads: main thread only (the thread whose default main context was
 * current at construction); signals are emitted there.
 */
#pragma once

#include <gio/gio.h>

#include "app-history.h"
#include "llm-session.h"

G_BEGIN_DECLS

#define HARK_TYPE_CHAT_CONTROLLER (hark_chat_controller_get_type())
G_DECLARE_FINAL_TYPE(HarkChatController, hark_chat_controller, HARK, CHAT_CONTROLLER, GObject)

/* The models when neither the caller nor the settings name one. */
#define HARK_CHAT_DEFAULT_MODEL "smollm2-135m-instruct"
#define HARK_VISION_DEFAULT_MODEL "llava-1.5-7b"

/* history: borrowed; it must outlive the controller. NULL with an error when
 * the worker thread cannot be started. */
HarkChatController *hark_chat_controller_new(app_history *history, GError **error);
app_history *hark_chat_controller_get_history(HarkChatController *self);

/* Properties (all take effect with the next reply):
 *   "model"          catalog name, GGUF file or model directory
 *   "vision-model"   the same for conversations with images (a LLaVA-style
 *                    model with its mmproj beside it, see app-vision.h)
 *   "system-prompt"  NULL or "": the model's own
 *   "temperature"    0: greedy (the same reply every time)
 *   "n-predict"      most tokens per reply; 0: until the turn ends
 *   "device"         where models are loaded: auto, cpu or cuda (a change
 *                    loads the model again)
 *   "gpu-layers"     the chat model's layers on the GPU: -1 all, 0 none
 *   "busy"           (read-only) a reply is being generated
 * Signals:
 *   "reply-text" (gint64 conversation_id, const char *piece): the reply as it comes
 *   "history-changed" (gint64 conversation_id): a message or title was written
 *   "notice" (const char *message): something the user may want to know
 *     (the engine's warnings, e.g. a context capped to fit memory)
 *   "model-loaded" (const char *description): a model was loaded */
void hark_chat_controller_set_model(HarkChatController *self, const char *model);
const char *hark_chat_controller_get_model(HarkChatController *self);
void hark_chat_controller_set_vision_model(HarkChatController *self, const char *model);
const char *hark_chat_controller_get_vision_model(HarkChatController *self);
/* Counts and times of the last reply (zeros where it did not get that far):
 * prompt tokens read and reused from the KV cache, tokens generated. */
const llm_session_stats *hark_chat_controller_get_last_stats(HarkChatController *self);
/* The model the last reply found not installed (for an install offer), or NULL. */
const char *hark_chat_controller_get_missing_model(HarkChatController *self);
gboolean hark_chat_controller_get_busy(HarkChatController *self);

/* Writes `text` as a user message of `conversation_id` (titling an untitled
 * conversation after it), with `images` (file paths, NULL-terminated; may be
 * NULL) as its attachments, and generates the reply. The reply's pieces come
 * through "reply-text"; cancelling `cancellable` stops it.
 *
 * A conversation with images anywhere in it is answered by the vision model
 * (app_vision): the images are read once and later questions follow up on
 * them. When its session does not hold this conversation (another one was
 * asked in between, the app restarted, a reply is regenerated) the
 * conversation is read again first: each user turn with its images (encoded
 * again), each answer as text. */
void hark_chat_controller_send_async(HarkChatController *self, gint64 conversation_id, const char *text,
                                     const char *const *images, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
/* The history id of the stored reply, or 0 with an error (with
 * G_IO_ERROR_CANCELLED, a reply stopped after it began is stored anyway:
 * *stopped_id, optional, gets its id, else 0). */
gint64 hark_chat_controller_send_finish(HarkChatController *self, GAsyncResult *result, gint64 *stopped_id,
                                        GError **error);

/* Generates the last reply of the conversation again; it replaces the old one
 * in the history when the new one is done (or stopped after it began; before
 * that the old one stays). When the conversation ends with a user message
 * that has no reply (a failed one), generates that reply. */
void hark_chat_controller_regenerate_async(HarkChatController *self, gint64 conversation_id,
                                           GCancellable *cancellable, GAsyncReadyCallback callback,
                                           gpointer user_data);
gint64 hark_chat_controller_regenerate_finish(HarkChatController *self, GAsyncResult *result, gint64 *stopped_id,
                                              GError **error);

/* Installs `model` (a catalog name; NULL: the chat model) with app_models_install on a
 * thread of its own; "install-progress" (double fraction, const char *file)
 * reports it. Cancelling stops it (the partial download is kept for next
 * time). APP_MODELS_ERROR_UNKNOWN when the model is not a catalog name. */
void hark_chat_controller_install_model_async(HarkChatController *self, const char *model,
                                              GCancellable *cancellable, GAsyncReadyCallback callback,
                                              gpointer user_data);
gboolean hark_chat_controller_install_model_finish(HarkChatController *self, GAsyncResult *result, GError **error);

/* A title for a conversation from its first message: the first line, cut at
 * a word near 48 characters. g_free. */
char *hark_chat_controller_title_for(const char *text);

G_END_DECLS
