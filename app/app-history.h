/* app-history.h: the conversations the window keeps, in SQLite.
 *
 * One file, $XDG_DATA_HOME/hark/history.sqlite3, in WAL mode: conversations
 * and their messages (role, text, attachments by path and content hash,
 * created time, a transcript's timed segments), written one message per transaction as each message
 * completes, so a crash or a kill loses at most the reply being generated.
 * Deleting a conversation deletes its messages and attachments. Messages are
 * indexed for full-text search (FTS5).
 *
 * The schema is versioned (PRAGMA user_version); an older file is migrated
 * when opened, a newer one is refused untouched. A file SQLite cannot read
 * (not a database, or failing its integrity check) is renamed aside, never
 * deleted, and a new history is started; app_history_open says so.
 *
 * Threads: an app_history serves one thread at a time (the window's main
 * thread); calls are short and blocking.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define APP_HISTORY_ERROR (app_history_error_quark())
GQuark app_history_error_quark(void);

typedef enum {
  APP_HISTORY_ERROR_OPEN,      /* the file or its folder cannot be opened or created */
  APP_HISTORY_ERROR_VERSION,   /* written by a newer Hark: left as it is */
  APP_HISTORY_ERROR_CORRUPT,   /* unreadable and could not be moved aside */
  APP_HISTORY_ERROR_SQL,       /* a statement failed (disk full, locked, ...) */
  APP_HISTORY_ERROR_NOT_FOUND, /* no conversation or message with that id */
  APP_HISTORY_ERROR_INVALID,   /* bad argument (unknown role, ...) */
} app_history_error;

#define APP_HISTORY_SCHEMA_VERSION 1

typedef struct app_history app_history;

typedef struct {
  gint64 id;
  char *title;
  gint64 created; /* microseconds since the epoch (g_get_real_time) */
  gint64 updated; /* the last message's time, or created */
} app_conversation;

typedef struct {
  char *path;
  char *sha256; /* of the content when it was attached; "" when it could not be read */
} app_attachment;

typedef struct {
  gint64 id;
  gint64 conversation_id;
  char *role;             /* "user" or "assistant" */
  char *text;
  gboolean stopped;       /* an assistant reply the user stopped before its end */
  gint64 created;         /* microseconds since the epoch */
  GPtrArray *attachments; /* app_attachment*, never NULL */
} app_message;

/* A stretch of a transcript: seconds from the start of the file. */
typedef struct {
  double start, end;
  char *text;
} app_segment;

typedef struct {
  gint64 conversation_id;
  gint64 message_id;
  char *title;   /* the conversation's */
  char *snippet; /* the matching text with the matched words between [ and ] */
} app_search_hit;

void app_conversation_free(app_conversation *c);
void app_message_free(app_message *m);
void app_search_hit_free(app_search_hit *h);
void app_segment_free(app_segment *seg);

/* $XDG_DATA_HOME/hark/history.sqlite3; g_free. */
char *app_history_default_path(void);

/* Opens (creating it and its folder if needed) the history at `path`, or the
 * default path when NULL. When the file was unreadable it is renamed to
 * PATH.corrupt-YYYYMMDD-HHMMSS (with its -wal and -shm), a new one is
 * started and *notice (optional) gets a sentence for the user (g_free);
 * otherwise *notice is NULL. NULL with an error on failure. */
app_history *app_history_open(const char *path, char **notice, GError **error);
void app_history_free(app_history *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(app_history, app_history_free)
const char *app_history_path(const app_history *h);

/* A new, empty conversation; its id, or 0 with an error. */
gint64 app_history_new_conversation(app_history *h, const char *title, GError **error);
gboolean app_history_set_title(app_history *h, gint64 conversation_id, const char *title, GError **error);
gboolean app_history_delete_conversation(app_history *h, gint64 conversation_id, GError **error);
/* All conversations, most recently updated first: app_conversation*. */
GPtrArray *app_history_list_conversations(app_history *h, GError **error);
app_conversation *app_history_get_conversation(app_history *h, gint64 conversation_id, GError **error);

/* Appends a completed message (role "user" or "assistant") in one
 * transaction; attachments (NULL-terminated file paths, may be NULL) are
 * recorded with the sha256 of their content now. Returns the message id, or 0. */
gint64 app_history_add_message(app_history *h, gint64 conversation_id, const char *role, const char *text,
                               gboolean stopped, const char *const *attachments, GError **error);
/* Replaces the text of a message (a regenerated reply), in one transaction. */
gboolean app_history_replace_message(app_history *h, gint64 message_id, const char *text, gboolean stopped,
                                     GError **error);
gboolean app_history_delete_message(app_history *h, gint64 message_id, GError **error);
/* The conversation's messages in order: app_message*. */
GPtrArray *app_history_messages(app_history *h, gint64 conversation_id, GError **error);

/* A message's transcript segments (a transcribed file's message): replaces
 * the ones it had, in one transaction. APP_HISTORY_ERROR_INVALID for a
 * segment that ends before it starts (nothing is written then). */
gboolean app_history_set_segments(app_history *h, gint64 message_id, const app_segment *segments, guint n,
                                  GError **error);
/* A file's transcript as an assistant message: its text, the file as the
 * attachment (path and sha256 now) and its timed segments (may be 0), in one
 * transaction. The message id, or 0 (APP_HISTORY_ERROR_INVALID for a segment
 * that ends before it starts: nothing is written then). */
gint64 app_history_add_transcript(app_history *h, gint64 conversation_id, const char *file, const char *text,
                                  const app_segment *segments, guint n, GError **error);
/* Whether m is a file's transcript: an assistant message with an attachment
 * (replies have none; images are the user's). */
gboolean app_message_is_transcript(const app_message *m);
/* Its segments by start time: app_segment*; deleted with the message. */
GPtrArray *app_history_segments(app_history *h, gint64 message_id, GError **error);

/* Messages matching the words of `query` (each word a prefix, all required),
 * best first, at most `limit`: app_search_hit*. Punctuation in the query is
 * taken literally, never as search syntax. */
GPtrArray *app_history_search(app_history *h, const char *query, guint limit, GError **error);

G_END_DECLS
