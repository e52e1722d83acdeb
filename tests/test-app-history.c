/* test-app-history.c: the chat history in SQLite: conversations and messages
 * round trip, deletion, search, what survives reopening, a corrupt file moved
 * aside, and a file from a newer schema left alone. */
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>

#include "app-history.h"
#include "test-util.h"

static char *
temp_dir(void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp("hark-history-XXXXXX", &error);
  g_assert_no_error(error);
  return dir;
}

static app_history *
open_ok(const char *path)
{
  GError *error = NULL;
  char *notice = NULL;
  app_history *h = app_history_open(path, &notice, &error);
  g_assert_no_error(error);
  g_assert_nonnull(h);
  g_assert_null(notice);
  return h;
}

static void
test_round_trip(void)
{
  char *dir = temp_dir();
  char *path = g_build_filename(dir, "sub", "history.sqlite3", NULL);
  char *att = g_build_filename(dir, "photo.jpg", NULL);
  g_assert_true(g_file_set_contents(att, "not really a jpeg", -1, NULL));
  GError *error = NULL;

  app_history *h = open_ok(path);
  gint64 a = app_history_new_conversation(h, "First", &error);
  g_assert_no_error(error);
  gint64 b = app_history_new_conversation(h, "Second", &error);
  g_assert_no_error(error);
  g_assert_cmpint(a, >, 0);
  g_assert_cmpint(b, !=, a);

  const char *const atts[] = { att, NULL };
  gint64 m1 = app_history_add_message(h, a, "user", "What is in this picture? ünïcödé", FALSE, atts, &error);
  g_assert_no_error(error);
  gint64 m2 = app_history_add_message(h, a, "assistant", "A **cat**.", TRUE, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpint(m2, >, m1);

  /* Bad input: an unknown role or conversation is an error and writes nothing. */
  g_assert_cmpint(app_history_add_message(h, a, "system", "x", FALSE, NULL, &error), ==, 0);
  g_assert_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_cmpint(app_history_add_message(h, 9999, "user", "x", FALSE, NULL, &error), ==, 0);
  g_assert_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_NOT_FOUND);
  g_clear_error(&error);
  app_history_free(h);

  /* Everything is there after reopening. */
  h = open_ok(path);
  GPtrArray *convs = app_history_list_conversations(h, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(convs->len, ==, 2);
  /* The one with the latest message comes first. */
  app_conversation *c0 = convs->pdata[0];
  g_assert_cmpint(c0->id, ==, a);
  g_assert_cmpstr(c0->title, ==, "First");
  g_assert_cmpint(c0->updated, >=, c0->created);
  g_ptr_array_unref(convs);

  GPtrArray *msgs = app_history_messages(h, a, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(msgs->len, ==, 2);
  app_message *u = msgs->pdata[0], *r = msgs->pdata[1];
  g_assert_cmpstr(u->role, ==, "user");
  g_assert_cmpstr(u->text, ==, "What is in this picture? ünïcödé");
  g_assert_false(u->stopped);
  g_assert_cmpuint(u->attachments->len, ==, 1);
  app_attachment *at = u->attachments->pdata[0];
  g_assert_cmpstr(at->path, ==, att);
  char *want = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "not really a jpeg", -1);
  g_assert_cmpstr(at->sha256, ==, want);
  g_free(want);
  g_assert_cmpstr(r->role, ==, "assistant");
  g_assert_cmpstr(r->text, ==, "A **cat**.");
  g_assert_true(r->stopped);
  g_assert_cmpuint(r->attachments->len, ==, 0);
  g_ptr_array_unref(msgs);

  /* A regenerated reply replaces the text in place. */
  g_assert_true(app_history_replace_message(h, m2, "A dog.", FALSE, &error));
  g_assert_no_error(error);
  msgs = app_history_messages(h, a, &error);
  g_assert_cmpstr(((app_message *)msgs->pdata[1])->text, ==, "A dog.");
  g_assert_false(((app_message *)msgs->pdata[1])->stopped);
  g_ptr_array_unref(msgs);

  g_assert_true(app_history_set_title(h, b, "Renamed", &error));
  app_conversation *cb = app_history_get_conversation(h, b, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(cb->title, ==, "Renamed");
  app_conversation_free(cb);
  g_assert_null(app_history_get_conversation(h, 4242, &error));
  g_assert_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_NOT_FOUND);
  g_clear_error(&error);

  app_history_free(h);
  g_free(att), g_free(path);
  test_remove_tree(dir);
  g_free(dir);
}

static guint
count_rows(const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  g_assert_cmpint(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  sqlite3_stmt *st = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  guint n = (guint)sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

static void
test_delete_and_search(void)
{
  char *dir = temp_dir();
  char *path = g_build_filename(dir, "history.sqlite3", NULL);
  GError *error = NULL;
  app_history *h = open_ok(path);
  gint64 a = app_history_new_conversation(h, "Cooking", &error);
  gint64 b = app_history_new_conversation(h, "Travel", &error);
  const char *att[] = { path, NULL };
  app_history_add_message(h, a, "user", "How long do I boil an egg?", FALSE, att, &error);
  app_history_add_message(h, a, "assistant", "Boil it for nine minutes.", FALSE, NULL, &error);
  gint64 tm = app_history_add_message(h, b, "user", "Trains from Lyon to Turin?", FALSE, NULL, &error);
  app_history_add_message(h, b, "assistant", "Several trains a day; book early (\"TGV\").", FALSE, NULL, &error);
  g_assert_no_error(error);

  GPtrArray *hits = app_history_search(h, "boil", 0, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(hits->len, ==, 2);
  for (guint i = 0; i < hits->len; i++) {
    app_search_hit *hit = hits->pdata[i];
    g_assert_cmpint(hit->conversation_id, ==, a);
    g_assert_cmpstr(hit->title, ==, "Cooking");
    g_assert_nonnull(strstr(hit->snippet, "[boil]") ? hit->snippet : strstr(hit->snippet, "[Boil]"));
  }
  g_ptr_array_unref(hits);

  /* Prefixes, several words (all required), any case. */
  hits = app_history_search(h, "TRAIN lyo", 0, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(hits->len, ==, 1);
  g_assert_cmpint(((app_search_hit *)hits->pdata[0])->message_id, ==, tm);
  g_ptr_array_unref(hits);

  /* Search syntax and quotes in the query are literal, not errors. */
  const char *odd[] = { "\"TGV\"", "NEAR(", "a OR", "*", "\"", "-" };
  for (guint i = 0; i < G_N_ELEMENTS(odd); i++) {
    hits = app_history_search(h, odd[i], 0, &error);
    g_assert_no_error(error);
    g_ptr_array_unref(hits);
  }
  hits = app_history_search(h, "(\"tgv\")", 0, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(hits->len, ==, 1);
  g_ptr_array_unref(hits);
  hits = app_history_search(h, "  ", 0, &error);
  g_assert_cmpuint(hits->len, ==, 0);
  g_ptr_array_unref(hits);

  /* Deleting a conversation deletes its rows, index entries included. */
  g_assert_true(app_history_delete_conversation(h, a, &error));
  g_assert_no_error(error);
  g_assert_false(app_history_delete_conversation(h, a, &error));
  g_assert_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_NOT_FOUND);
  g_clear_error(&error);
  hits = app_history_search(h, "boil", 0, &error);
  g_assert_cmpuint(hits->len, ==, 0);
  g_ptr_array_unref(hits);
  GPtrArray *msgs = app_history_messages(h, a, &error);
  g_assert_cmpuint(msgs->len, ==, 0);
  g_ptr_array_unref(msgs);
  app_history_free(h);
  g_assert_cmpuint(count_rows(path, "SELECT count(*) FROM messages"), ==, 2);
  g_assert_cmpuint(count_rows(path, "SELECT count(*) FROM attachments"), ==, 0);
  g_assert_cmpuint(count_rows(path, "SELECT count(*) FROM conversations"), ==, 1);
  g_assert_cmpuint(count_rows(path, "PRAGMA user_version"), ==, APP_HISTORY_SCHEMA_VERSION);
  g_free(path);
  test_remove_tree(dir);
  g_free(dir);
}

static void
test_corrupt_file(void)
{
  char *dir = temp_dir();
  char *path = g_build_filename(dir, "history.sqlite3", NULL);
  /* Not a database at all: 8 KiB of text. */
  GString *junk = g_string_new(NULL);
  while (junk->len < 8192)
    g_string_append(junk, "this is not an SQLite file; ");
  g_assert_true(g_file_set_contents(path, junk->str, (gssize)junk->len, NULL));

  GError *error = NULL;
  char *notice = NULL;
  app_history *h = app_history_open(path, &notice, &error);
  g_assert_no_error(error);
  g_assert_nonnull(h);
  g_assert_nonnull(notice);
  g_test_message("%s", notice);
  g_assert_nonnull(strstr(notice, ".corrupt-"));

  /* The old bytes are kept, unchanged, beside the new file. */
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *name;
  char *aside = NULL;
  while ((name = g_dir_read_name(d)))
    if (g_str_has_prefix(name, "history.sqlite3.corrupt-") && !g_str_has_suffix(name, "-wal") &&
        !g_str_has_suffix(name, "-shm"))
      aside = g_build_filename(dir, name, NULL);
  g_dir_close(d);
  g_assert_nonnull(aside);
  g_assert_nonnull(strstr(notice, aside));
  char *kept = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(aside, &kept, &len, NULL));
  g_assert_cmpmem(kept, len, junk->str, junk->len);

  /* And the new history works. */
  gint64 c = app_history_new_conversation(h, "Fresh", &error);
  g_assert_no_error(error);
  g_assert_cmpint(app_history_add_message(h, c, "user", "hello", FALSE, NULL, &error), >, 0);
  app_history_free(h);
  h = open_ok(path);
  GPtrArray *convs = app_history_list_conversations(h, &error);
  g_assert_cmpuint(convs->len, ==, 1);
  g_ptr_array_unref(convs);
  app_history_free(h);

  /* A real database whose pages were damaged is caught by the check too. */
  g_remove(path);
  h = open_ok(path);
  c = app_history_new_conversation(h, "Doomed", &error);
  for (int i = 0; i < 200; i++)
    app_history_add_message(h, c, "user", "some text to fill pages with, over and over again", FALSE, NULL, &error);
  g_assert_no_error(error);
  app_history_free(h);
  char *db = NULL;
  g_assert_true(g_file_get_contents(path, &db, &len, NULL));
  g_assert_cmpuint(len, >, 8192);
  for (gsize i = 4096; i < len; i++)
    db[i] = (char)(i * 131);
  g_assert_true(g_file_set_contents(path, db, (gssize)len, NULL));
  g_free(notice);
  notice = NULL;
  h = app_history_open(path, &notice, &error);
  g_assert_no_error(error);
  g_assert_nonnull(notice);
  app_history_free(h);

  g_free(db), g_free(kept), g_free(aside), g_free(notice), g_free(path);
  g_string_free(junk, TRUE);
  test_remove_tree(dir);
  g_free(dir);
}

static void
test_segments(void)
{
  char *dir = temp_dir();
  char *path = g_build_filename(dir, "history.sqlite3", NULL);
  GError *error = NULL;
  app_history *h = open_ok(path);
  gint64 c = app_history_new_conversation(h, "Meeting", &error);
  gint64 m = app_history_add_message(h, c, "user", "Transcribe meeting.ogg", FALSE, NULL, &error);
  gint64 t = app_history_add_message(h, c, "assistant", "Hello everyone. Let us start.", FALSE, NULL, &error);
  g_assert_no_error(error);
  app_segment segs[] = { { 2.5, 4.0, " Let us start." }, { 0.0, 2.5, " Hello everyone." } };
  g_assert_true(app_history_set_segments(h, t, segs, 2, &error));
  g_assert_no_error(error);

  /* A bad interval is refused and changes nothing; an unknown message too. */
  app_segment bad[] = { { 1.0, 3.0, "fine" }, { 5.0, 4.0, "backwards" } };
  g_assert_false(app_history_set_segments(h, t, bad, 2, &error));
  g_assert_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(app_history_set_segments(h, 999, segs, 2, &error));
  g_assert_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_NOT_FOUND);
  g_clear_error(&error);
  app_history_free(h);

  h = open_ok(path);
  GPtrArray *got = app_history_segments(h, t, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(got->len, ==, 2);
  app_segment *s0 = got->pdata[0], *s1 = got->pdata[1];
  g_assert_cmpfloat(s0->start, ==, 0.0);
  g_assert_cmpfloat(s0->end, ==, 2.5);
  g_assert_cmpstr(s0->text, ==, " Hello everyone.");
  g_assert_cmpstr(s1->text, ==, " Let us start.");
  g_ptr_array_unref(got);
  got = app_history_segments(h, m, &error);
  g_assert_cmpuint(got->len, ==, 0);
  g_ptr_array_unref(got);

  /* Set again: replaced, not added to. */
  g_assert_true(app_history_set_segments(h, t, segs, 1, &error));
  got = app_history_segments(h, t, &error);
  g_assert_cmpuint(got->len, ==, 1);
  g_ptr_array_unref(got);

  /* They go with their message, and with their conversation. */
  g_assert_true(app_history_delete_conversation(h, c, &error));
  app_history_free(h);
  g_assert_cmpuint(count_rows(path, "SELECT count(*) FROM segments"), ==, 0);
  g_free(path);
  test_remove_tree(dir);
  g_free(dir);
}

/* A transcript: text, the audio file by path and hash, and its segments, in
 * one write; a bad segment writes nothing. */
static void
test_transcript(void)
{
  char *dir = temp_dir();
  char *path = g_build_filename(dir, "history.sqlite3", NULL);
  char *audio = g_build_filename(dir, "talk.wav", NULL);
  GError *error = NULL;
  g_assert_true(g_file_set_contents(audio, "RIFF not really audio", -1, &error));
  app_history *h = open_ok(path);
  gint64 c = app_history_new_conversation(h, "talk.wav", &error);
  app_segment bad[] = { { 1.0, 3.0, " fine" }, { 5.0, 4.0, " backwards" } };
  g_assert_cmpint(app_history_add_transcript(h, c, audio, "fine backwards", bad, 2, &error), ==, 0);
  g_assert_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_INVALID);
  g_clear_error(&error);
  GPtrArray *msgs = app_history_messages(h, c, &error);
  g_assert_cmpuint(msgs->len, ==, 0);
  g_ptr_array_unref(msgs);

  gint64 q = app_history_add_message(h, c, "user", "What is this?", FALSE, NULL, &error);
  app_segment segs[] = { { 0.0, 1.5, " Hello" }, { 1.5, 2.0, " there." } };
  gint64 t = app_history_add_transcript(h, c, audio, "Hello there.", segs, 2, &error);
  g_assert_no_error(error);
  g_assert_cmpint(t, >, q);
  app_history_free(h);

  h = open_ok(path);
  msgs = app_history_messages(h, c, &error);
  g_assert_cmpuint(msgs->len, ==, 2);
  app_message *m = msgs->pdata[1];
  g_assert_false(app_message_is_transcript(msgs->pdata[0]));
  g_assert_true(app_message_is_transcript(m));
  g_assert_cmpstr(m->role, ==, "assistant");
  g_assert_cmpstr(m->text, ==, "Hello there.");
  g_assert_cmpuint(m->attachments->len, ==, 1);
  app_attachment *a = m->attachments->pdata[0];
  g_assert_cmpstr(a->path, ==, audio);
  char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "RIFF not really audio", -1);
  g_assert_cmpstr(a->sha256, ==, sum);
  g_free(sum);
  GPtrArray *got = app_history_segments(h, m->id, &error);
  g_assert_cmpuint(got->len, ==, 2);
  g_assert_cmpfloat(((app_segment *)got->pdata[1])->start, ==, 1.5);
  g_assert_cmpstr(((app_segment *)got->pdata[1])->text, ==, " there.");
  g_ptr_array_unref(got);
  g_ptr_array_unref(msgs);
  app_history_free(h);
  g_free(audio), g_free(path);
  test_remove_tree(dir);
  g_free(dir);
}

static void
test_newer_schema(void)
{
  char *dir = temp_dir();
  char *path = g_build_filename(dir, "history.sqlite3", NULL);
  app_history *h = open_ok(path);
  app_history_free(h);
  sqlite3 *db = NULL;
  g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close(db);

  GError *error = NULL;
  char *notice = NULL;
  g_assert_null(app_history_open(path, &notice, &error));
  g_assert_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_VERSION);
  g_assert_nonnull(strstr(error->message, "newer"));
  g_assert_null(notice);
  g_clear_error(&error);
  g_assert_cmpuint(count_rows(path, "PRAGMA user_version"), ==, 99);

  /* A folder that cannot be created is a clear error too. */
  char *blocker = g_build_filename(dir, "file", NULL);
  g_assert_true(g_file_set_contents(blocker, "", 0, NULL));
  char *under = g_build_filename(blocker, "history.sqlite3", NULL);
  g_assert_null(app_history_open(under, NULL, &error));
  g_assert_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_OPEN);
  g_clear_error(&error);
  g_free(under), g_free(blocker), g_free(path);
  test_remove_tree(dir);
  g_free(dir);
}

static void
test_default_path(void)
{
  char *p = app_history_default_path();
  char *want = g_build_filename(g_get_user_data_dir(), "hark", "history.sqlite3", NULL);
  g_assert_cmpstr(p, ==, want);
  g_free(p), g_free(want);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/app/history/round-trip", test_round_trip);
  g_test_add_func("/app/history/delete-and-search", test_delete_and_search);
  g_test_add_func("/app/history/corrupt-file", test_corrupt_file);
  g_test_add_func("/app/history/segments", test_segments);
  g_test_add_func("/app/history/transcript", test_transcript);
  g_test_add_func("/app/history/newer-schema", test_newer_schema);
  g_test_add_func("/app/history/default-path", test_default_path);
  return g_test_run();
}
