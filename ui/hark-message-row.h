/* hark-message-row.h: one message of the chat view: the user's text or the
 * assistant's reply (markdown, a cursor while it streams), with copy and
 * regenerate buttons. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define HARK_TYPE_MESSAGE_ROW (hark_message_row_get_type())
G_DECLARE_FINAL_TYPE(HarkMessageRow, hark_message_row, HARK, MESSAGE_ROW, GtkListBoxRow)

/* role: "user" or "assistant". Signals: "regenerate" (the button was clicked). */
HarkMessageRow *hark_message_row_new(const char *role, const char *text);

const char *hark_message_row_get_role(HarkMessageRow *self);
const char *hark_message_row_get_text(HarkMessageRow *self);
/* Images of a user message (file paths, NULL-terminated), shown above its
 * text; a file no longer there is named instead. */
void hark_message_row_set_images(HarkMessageRow *self, const char *const *paths);
/* How many of them are shown as pictures. */
guint hark_message_row_get_n_images(HarkMessageRow *self);
/* Adds a piece to a streaming reply. */
void hark_message_row_append(HarkMessageRow *self, const char *piece);
void hark_message_row_set_text(HarkMessageRow *self, const char *text);
/* While streaming a cursor follows the text and the buttons are hidden. */
void hark_message_row_set_streaming(HarkMessageRow *self, gboolean streaming);
gboolean hark_message_row_get_streaming(HarkMessageRow *self);
/* A reply the user stopped: says so under the text. */
void hark_message_row_set_stopped(HarkMessageRow *self, gboolean stopped);
gboolean hark_message_row_get_stopped(HarkMessageRow *self);
/* Whether the regenerate button is offered (the last reply only). */
void hark_message_row_set_can_regenerate(HarkMessageRow *self, gboolean can);
/* The label's current Pango markup (what is drawn). */
const char *hark_message_row_get_markup(HarkMessageRow *self);

G_END_DECLS
