/* app-history.c: conversations and messages in SQLite (WAL, FTS5), schema
 * migrations, and moving an unreadable file aside instead of losing it. */
#include "app-history.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>

G_DEFINE_QUARK(app-history-error-quark, app_history_error)

struct app_history {
  sqlite3 *db;
  char *path;
};

/* Each entry takes the schema from version i to i + 1. */
static const char *const migrations[] = {
  /* 0 -> 1 */
  "CREATE TABLE conversations ("
  "  id INTEGER PRIMARY KEY,"
  "  title TEXT NOT NULL,"
  "  created INTEGER NOT NULL,"
  "  updated INTEGER NOT NULL);"
  "CREATE TABLE messages ("
  "  id INTEGER PRIMARY KEY,"
  "  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
  "  role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),"
  "  text TEXT NOT NULL,"
  "  stopped INTEGER NOT NULL DEFAULT 0,"
  "  created INTEGER NOT NULL);"
  "CREATE INDEX messages_by_conversation ON messages(conversation_id, id);"
  "CREATE TABLE attachments ("
  "  id INTEGER PRIMARY KEY,"
  "  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
  "  path TEXT NOT NULL,"
  "  sha256 TEXT NOT NULL);"
  "CREATE INDEX attachments_by_message ON attachments(message_id);"
  "CREATE TABLE segments ("
  "  id INTEGER PRIMARY KEY,"
  "  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
  "  start_s REAL NOT NULL,"
  "  end_s REAL NOT NULL,"
  "  text TEXT NOT NULL);"
  "CREATE INDEX segments_by_message ON segments(message_id, start_s);"
  "CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', content_rowid='id');"
  "CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN"
  "  INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END;"
  "CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN"
  "  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END;"
  "CREATE TRIGGER messages_au AFTER UPDATE OF text ON messages BEGIN"
  "  INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);"
  "  INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END;",
};

static gboolean
sql_error(app_history *h, GError **error, const char *what)
{
  g_set_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_SQL, "%s: %s: %s", h->path, what, sqlite3_errmsg(h->db));
  return FALSE;
}

static gboolean
exec(app_history *h, const char *sql, GError **error)
{
  char *msg = NULL;
  if (sqlite3_exec(h->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    g_set_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_SQL, "%s: %s", h->path, msg ? msg : "error");
    sqlite3_free(msg);
    return FALSE;
  }
  return TRUE;
}

static sqlite3_stmt *
prepare(app_history *h, const char *sql, GError **error)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK) {
    sql_error(h, error, "prepare");
    return NULL;
  }
  return st;
}

/* Runs a statement that returns no rows; finalizes it. */
static gboolean
step_done(app_history *h, sqlite3_stmt *st, GError **error)
{
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return sql_error(h, error, "write");
  return TRUE;
}

char *
app_history_default_path(void)
{
  return g_build_filename(g_get_user_data_dir(), "hark", "history.sqlite3", NULL);
}

static int
user_version(sqlite3 *db)
{
  sqlite3_stmt *st = NULL;
  int v = -1;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* Whether SQLite can read the file at all: a header it knows and a clean
 * quick_check. *why gets SQLite's words when not. */
static gboolean
readable(sqlite3 *db, char **why)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  gboolean ok = rc == SQLITE_ROW && !g_strcmp0((const char *)sqlite3_column_text(st, 0), "ok");
  if (!ok)
    *why = g_strdup(rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return ok;
}

static gboolean
move_aside(const char *path, char **moved_to, GError **error)
{
  GDateTime *now = g_date_time_new_now_local();
  char *stamp = g_date_time_format(now, "%Y%m%d-%H%M%S");
  g_date_time_unref(now);
  char *dest = g_strdup_printf("%s.corrupt-%s", path, stamp);
  for (int i = 2; g_file_test(dest, G_FILE_TEST_EXISTS); i++) {
    g_free(dest);
    dest = g_strdup_printf("%s.corrupt-%s-%d", path, stamp, i);
  }
  g_free(stamp);
  if (g_rename(path, dest) != 0) {
    int e = errno;
    g_set_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_CORRUPT,
                "%s cannot be read as a history and cannot be moved aside: %s", path, g_strerror(e));
    g_free(dest);
    return FALSE;
  }
  /* The journal files belong to the old file: keep them beside it. */
  const char *suffix[] = { "-wal", "-shm" };
  for (guint i = 0; i < G_N_ELEMENTS(suffix); i++) {
    char *from = g_strconcat(path, suffix[i], NULL), *to = g_strconcat(dest, suffix[i], NULL);
    if (g_file_test(from, G_FILE_TEST_EXISTS))
      g_rename(from, to);
    g_free(from), g_free(to);
  }
  *moved_to = dest;
  return TRUE;
}

static sqlite3 *
open_db(const char *path, GError **error)
{
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    g_set_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_OPEN, "%s: %s", path,
                db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 2000);
  return db;
}

static gboolean
migrate(app_history *h, GError **error)
{
  int v = user_version(h->db);
  if (v < 0)
    return sql_error(h, error, "reading the schema version");
  if (v > APP_HISTORY_SCHEMA_VERSION) {
    g_set_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_VERSION,
                "%s was written by a newer Hark (history version %d, this one reads up to %d); it is left as it is",
                h->path, v, APP_HISTORY_SCHEMA_VERSION);
    return FALSE;
  }
  for (; v < APP_HISTORY_SCHEMA_VERSION; v++) {
    char *bump = g_strdup_printf("PRAGMA user_version = %d", v + 1);
    gboolean ok = exec(h, "BEGIN IMMEDIATE", error) && exec(h, migrations[v], error) && exec(h, bump, error) &&
                  exec(h, "COMMIT", error);
    g_free(bump);
    if (!ok) {
      sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }
  }
  return TRUE;
}

app_history *
app_history_open(const char *path, char **notice, GError **error)
{
  if (notice)
    *notice = NULL;
  app_history *h = g_new0(app_history, 1);
  h->path = path ? g_strdup(path) : app_history_default_path();
  char *dir = g_path_get_dirname(h->path);
  if (g_mkdir_with_parents(dir, 0700) != 0) {
    int e = errno;
    g_set_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_OPEN, "cannot create %s: %s", dir, g_strerror(e));
    g_free(dir);
    app_history_free(h);
    return NULL;
  }
  g_free(dir);

  if (!(h->db = open_db(h->path, error))) {
    app_history_free(h);
    return NULL;
  }
  char *why = NULL;
  if (!readable(h->db, &why)) {
    sqlite3_close(h->db);
    h->db = NULL;
    char *moved = NULL;
    gboolean ok = move_aside(h->path, &moved, error);
    if (ok && notice)
      *notice = g_strdup_printf("The chat history could not be read (%s). It was moved to %s and a new history "
                                "was started.",
                                why, moved);
    g_free(why), g_free(moved);
    if (!ok || !(h->db = open_db(h->path, error))) {
      app_history_free(h);
      return NULL;
    }
  }
  if (!exec(h, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", error) ||
      !migrate(h, error)) {
    app_history_free(h);
    return NULL;
  }
  return h;
}

void
app_history_free(app_history *h)
{
  if (!h)
    return;
  sqlite3_close(h->db);
  g_free(h->path);
  g_free(h);
}

const char *
app_history_path(const app_history *h)
{
  return h->path;
}

void
app_conversation_free(app_conversation *c)
{
  if (!c)
    return;
  g_free(c->title);
  g_free(c);
}

static void
attachment_free(app_attachment *a)
{
  g_free(a->path);
  g_free(a->sha256);
  g_free(a);
}

void
app_message_free(app_message *m)
{
  if (!m)
    return;
  g_free(m->role);
  g_free(m->text);
  g_ptr_array_unref(m->attachments);
  g_free(m);
}

void
app_segment_free(app_segment *seg)
{
  if (!seg)
    return;
  g_free(seg->text);
  g_free(seg);
}

void
app_search_hit_free(app_search_hit *hit)
{
  if (!hit)
    return;
  g_free(hit->title);
  g_free(hit->snippet);
  g_free(hit);
}

static gboolean
not_found(GError **error, const char *what, gint64 id)
{
  g_set_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_NOT_FOUND, "no %s with id %" G_GINT64_FORMAT, what, id);
  return FALSE;
}

gint64
app_history_new_conversation(app_history *h, const char *title, GError **error)
{
  sqlite3_stmt *st = prepare(h, "INSERT INTO conversations (title, created, updated) VALUES (?, ?, ?)", error);
  if (!st)
    return 0;
  gint64 now = g_get_real_time();
  sqlite3_bind_text(st, 1, title ? title : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, now);
  sqlite3_bind_int64(st, 3, now);
  if (!step_done(h, st, error))
    return 0;
  return sqlite3_last_insert_rowid(h->db);
}

gboolean
app_history_set_title(app_history *h, gint64 conversation_id, const char *title, GError **error)
{
  sqlite3_stmt *st = prepare(h, "UPDATE conversations SET title = ? WHERE id = ?", error);
  if (!st)
    return FALSE;
  sqlite3_bind_text(st, 1, title ? title : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, conversation_id);
  if (!step_done(h, st, error))
    return FALSE;
  return sqlite3_changes(h->db) ? TRUE : not_found(error, "conversation", conversation_id);
}

gboolean
app_history_delete_conversation(app_history *h, gint64 conversation_id, GError **error)
{
  /* Messages and attachments go with it (ON DELETE CASCADE; the FTS rows
   * through the messages' delete trigger). */
  sqlite3_stmt *st = prepare(h, "DELETE FROM conversations WHERE id = ?", error);
  if (!st)
    return FALSE;
  sqlite3_bind_int64(st, 1, conversation_id);
  if (!step_done(h, st, error))
    return FALSE;
  return sqlite3_changes(h->db) ? TRUE : not_found(error, "conversation", conversation_id);
}

static app_conversation *
conversation_from_row(sqlite3_stmt *st)
{
  app_conversation *c = g_new0(app_conversation, 1);
  c->id = sqlite3_column_int64(st, 0);
  c->title = g_strdup((const char *)sqlite3_column_text(st, 1));
  c->created = sqlite3_column_int64(st, 2);
  c->updated = sqlite3_column_int64(st, 3);
  return c;
}

GPtrArray *
app_history_list_conversations(app_history *h, GError **error)
{
  sqlite3_stmt *st =
    prepare(h, "SELECT id, title, created, updated FROM conversations ORDER BY updated DESC, id DESC", error);
  if (!st)
    return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)app_conversation_free);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    g_ptr_array_add(out, conversation_from_row(st));
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    g_ptr_array_unref(out);
    sql_error(h, error, "reading conversations");
    return NULL;
  }
  return out;
}

app_conversation *
app_history_get_conversation(app_history *h, gint64 conversation_id, GError **error)
{
  sqlite3_stmt *st = prepare(h, "SELECT id, title, created, updated FROM conversations WHERE id = ?", error);
  if (!st)
    return NULL;
  sqlite3_bind_int64(st, 1, conversation_id);
  app_conversation *c = NULL;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    c = conversation_from_row(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE)
    not_found(error, "conversation", conversation_id);
  else if (rc != SQLITE_ROW)
    sql_error(h, error, "reading a conversation");
  return c;
}

/* sha256 of a file's content, "" when it cannot be read. */
static char *
file_sha256(const char *path)
{
  GMappedFile *mf = g_mapped_file_new(path, FALSE, NULL);
  if (!mf)
    return g_strdup("");
  char *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)g_mapped_file_get_contents(mf),
                                          g_mapped_file_get_length(mf));
  g_mapped_file_unref(mf);
  return sum;
}

static gboolean
touch_conversation(app_history *h, gint64 conversation_id, gint64 now, GError **error)
{
  sqlite3_stmt *st = prepare(h, "UPDATE conversations SET updated = ? WHERE id = ?", error);
  if (!st)
    return FALSE;
  sqlite3_bind_int64(st, 1, now);
  sqlite3_bind_int64(st, 2, conversation_id);
  if (!step_done(h, st, error))
    return FALSE;
  return sqlite3_changes(h->db) ? TRUE : not_found(error, "conversation", conversation_id);
}

/* Segments must be intervals; APP_HISTORY_ERROR_INVALID names the first that is not. */
static gboolean
check_segments(const app_segment *segments, guint n, GError **error)
{
  for (guint i = 0; i < n; i++) {
    if (!(segments[i].start >= 0 && segments[i].end >= segments[i].start)) {
      g_set_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_INVALID,
                  "segment %u: times %.3f to %.3f s are not an interval", i, segments[i].start, segments[i].end);
      return FALSE;
    }
  }
  return TRUE;
}

/* Inside a transaction. */
static gboolean
insert_segments(app_history *h, gint64 message_id, const app_segment *segments, guint n, GError **error)
{
  for (guint i = 0; i < n; i++) {
    sqlite3_stmt *st = prepare(h, "INSERT INTO segments (message_id, start_s, end_s, text) VALUES (?, ?, ?, ?)",
                               error);
    if (!st)
      return FALSE;
    sqlite3_bind_int64(st, 1, message_id);
    sqlite3_bind_double(st, 2, segments[i].start);
    sqlite3_bind_double(st, 3, segments[i].end);
    sqlite3_bind_text(st, 4, segments[i].text ? segments[i].text : "", -1, SQLITE_TRANSIENT);
    if (!step_done(h, st, error))
      return FALSE;
  }
  return TRUE;
}

/* A message with its attachments and segments, in one transaction. */
static gint64
insert_message(app_history *h, gint64 conversation_id, const char *role, const char *text, gboolean stopped,
               const char *const *attachments, const app_segment *segments, guint n_segments, GError **error)
{
  if (g_strcmp0(role, "user") && g_strcmp0(role, "assistant")) {
    g_set_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_INVALID, "unknown message role '%s'",
                role ? role : "(null)");
    return 0;
  }
  if (!check_segments(segments, n_segments, error))
    return 0;
  gint64 now = g_get_real_time();
  if (!exec(h, "BEGIN IMMEDIATE", error))
    return 0;
  gint64 id = 0;
  if (!touch_conversation(h, conversation_id, now, error))
    goto fail;
  sqlite3_stmt *st = prepare(h, "INSERT INTO messages (conversation_id, role, text, stopped, created) "
                                "VALUES (?, ?, ?, ?, ?)", error);
  if (!st)
    goto fail;
  sqlite3_bind_int64(st, 1, conversation_id);
  sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, text ? text : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 4, stopped != 0);
  sqlite3_bind_int64(st, 5, now);
  if (!step_done(h, st, error))
    goto fail;
  id = sqlite3_last_insert_rowid(h->db);
  for (int i = 0; attachments && attachments[i]; i++) {
    st = prepare(h, "INSERT INTO attachments (message_id, path, sha256) VALUES (?, ?, ?)", error);
    if (!st)
      goto fail;
    char *sum = file_sha256(attachments[i]);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, attachments[i], -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, sum, -1, SQLITE_TRANSIENT);
    g_free(sum);
    if (!step_done(h, st, error))
      goto fail;
  }
  if (!insert_segments(h, id, segments, n_segments, error))
    goto fail;
  if (!exec(h, "COMMIT", error))
    goto fail;
  return id;
fail:
  sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
  return 0;
}

gint64
app_history_add_message(app_history *h, gint64 conversation_id, const char *role, const char *text,
                        gboolean stopped, const char *const *attachments, GError **error)
{
  return insert_message(h, conversation_id, role, text, stopped, attachments, NULL, 0, error);
}

gint64
app_history_add_transcript(app_history *h, gint64 conversation_id, const char *file, const char *text,
                           const app_segment *segments, guint n, GError **error)
{
  g_return_val_if_fail(file != NULL, 0);
  const char *attachments[] = { file, NULL };
  return insert_message(h, conversation_id, "assistant", text, FALSE, attachments, segments, n, error);
}

gboolean
app_message_is_transcript(const app_message *m)
{
  return !g_strcmp0(m->role, "assistant") && m->attachments->len > 0;
}

gboolean
app_history_replace_message(app_history *h, gint64 message_id, const char *text, gboolean stopped,
                            GError **error)
{
  sqlite3_stmt *st = prepare(h, "UPDATE messages SET text = ?, stopped = ?, created = ? WHERE id = ?", error);
  if (!st)
    return FALSE;
  sqlite3_bind_text(st, 1, text ? text : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 2, stopped != 0);
  sqlite3_bind_int64(st, 3, g_get_real_time());
  sqlite3_bind_int64(st, 4, message_id);
  if (!step_done(h, st, error))
    return FALSE;
  return sqlite3_changes(h->db) ? TRUE : not_found(error, "message", message_id);
}

gboolean
app_history_delete_message(app_history *h, gint64 message_id, GError **error)
{
  sqlite3_stmt *st = prepare(h, "DELETE FROM messages WHERE id = ?", error);
  if (!st)
    return FALSE;
  sqlite3_bind_int64(st, 1, message_id);
  if (!step_done(h, st, error))
    return FALSE;
  return sqlite3_changes(h->db) ? TRUE : not_found(error, "message", message_id);
}

static gboolean
load_attachments(app_history *h, app_message *m, GError **error)
{
  sqlite3_stmt *st = prepare(h, "SELECT path, sha256 FROM attachments WHERE message_id = ? ORDER BY id", error);
  if (!st)
    return FALSE;
  sqlite3_bind_int64(st, 1, m->id);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    app_attachment *a = g_new0(app_attachment, 1);
    a->path = g_strdup((const char *)sqlite3_column_text(st, 0));
    a->sha256 = g_strdup((const char *)sqlite3_column_text(st, 1));
    g_ptr_array_add(m->attachments, a);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? TRUE : sql_error(h, error, "reading attachments");
}

GPtrArray *
app_history_messages(app_history *h, gint64 conversation_id, GError **error)
{
  sqlite3_stmt *st = prepare(h, "SELECT id, conversation_id, role, text, stopped, created FROM messages "
                                "WHERE conversation_id = ? ORDER BY id", error);
  if (!st)
    return NULL;
  sqlite3_bind_int64(st, 1, conversation_id);
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)app_message_free);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    app_message *m = g_new0(app_message, 1);
    m->id = sqlite3_column_int64(st, 0);
    m->conversation_id = sqlite3_column_int64(st, 1);
    m->role = g_strdup((const char *)sqlite3_column_text(st, 2));
    m->text = g_strdup((const char *)sqlite3_column_text(st, 3));
    m->stopped = sqlite3_column_int(st, 4) != 0;
    m->created = sqlite3_column_int64(st, 5);
    m->attachments = g_ptr_array_new_with_free_func((GDestroyNotify)attachment_free);
    g_ptr_array_add(out, m);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    g_ptr_array_unref(out);
    sql_error(h, error, "reading messages");
    return NULL;
  }
  for (guint i = 0; i < out->len; i++) {
    if (!load_attachments(h, out->pdata[i], error)) {
      g_ptr_array_unref(out);
      return NULL;
    }
  }
  return out;
}

/* The user's words as an FTS5 query: each word quoted (so punctuation and
 * operators are literal) and matched as a prefix; all words required. NULL
 * when there is no word. */
static char *
fts_query(const char *query)
{
  GString *q = g_string_new(NULL);
  char **words = g_strsplit_set(query, " \t\n\r", -1);
  for (int i = 0; words[i]; i++) {
    if (!words[i][0])
      continue;
    if (q->len)
      g_string_append_c(q, ' ');
    g_string_append_c(q, '"');
    for (const char *p = words[i]; *p; p++) {
      if (*p == '"')
        g_string_append_c(q, '"');
      g_string_append_c(q, *p);
    }
    g_string_append(q, "\"*");
  }
  g_strfreev(words);
  if (!q->len) {
    g_string_free(q, TRUE);
    return NULL;
  }
  return g_string_free(q, FALSE);
}

GPtrArray *
app_history_search(app_history *h, const char *query, guint limit, GError **error)
{
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)app_search_hit_free);
  char *q = fts_query(query ? query : "");
  if (!q)
    return out;
  sqlite3_stmt *st = prepare(h,
                             "SELECT m.conversation_id, m.id, c.title, "
                             "       snippet(messages_fts, 0, '[', ']', '…', 12) "
                             "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
                             "JOIN conversations c ON c.id = m.conversation_id "
                             "WHERE messages_fts MATCH ? ORDER BY rank LIMIT ?",
                             error);
  if (!st) {
    g_free(q);
    g_ptr_array_unref(out);
    return NULL;
  }
  sqlite3_bind_text(st, 1, q, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, limit ? limit : G_MAXINT);
  g_free(q);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    app_search_hit *hit = g_new0(app_search_hit, 1);
    hit->conversation_id = sqlite3_column_int64(st, 0);
    hit->message_id = sqlite3_column_int64(st, 1);
    hit->title = g_strdup((const char *)sqlite3_column_text(st, 2));
    hit->snippet = g_strdup((const char *)sqlite3_column_text(st, 3));
    g_ptr_array_add(out, hit);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    g_ptr_array_unref(out);
    sql_error(h, error, "searching");
    return NULL;
  }
  return out;
}

gboolean
app_history_set_segments(app_history *h, gint64 message_id, const app_segment *segments, guint n, GError **error)
{
  if (!check_segments(segments, n, error))
    return FALSE;
  if (!exec(h, "BEGIN IMMEDIATE", error))
    return FALSE;
  sqlite3_stmt *st = prepare(h, "SELECT 1 FROM messages WHERE id = ?", error);
  if (!st)
    goto fail;
  sqlite3_bind_int64(st, 1, message_id);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW) {
    if (rc == SQLITE_DONE)
      not_found(error, "message", message_id);
    else
      sql_error(h, error, "reading a message");
    goto fail;
  }
  if (!(st = prepare(h, "DELETE FROM segments WHERE message_id = ?", error)))
    goto fail;
  sqlite3_bind_int64(st, 1, message_id);
  if (!step_done(h, st, error) || !insert_segments(h, message_id, segments, n, error))
    goto fail;
  if (exec(h, "COMMIT", error))
    return TRUE;
fail:
  sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
  return FALSE;
}

GPtrArray *
app_history_segments(app_history *h, gint64 message_id, GError **error)
{
  sqlite3_stmt *st = prepare(h, "SELECT start_s, end_s, text FROM segments WHERE message_id = ? ORDER BY start_s, id",
                             error);
  if (!st)
    return NULL;
  sqlite3_bind_int64(st, 1, message_id);
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)app_segment_free);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    app_segment *seg = g_new0(app_segment, 1);
    seg->start = sqlite3_column_double(st, 0);
    seg->end = sqlite3_column_double(st, 1);
    seg->text = g_strdup((const char *)sqlite3_column_text(st, 2));
    g_ptr_array_add(out, seg);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    g_ptr_array_unref(out);
    sql_error(h, error, "reading segments");
    return NULL;
  }
  return out;
}
