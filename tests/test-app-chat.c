/* test-app-chat.c: the chat controller (no GTK) with the tests' small random
 * chat model: replies streamed from the worker thread equal the engine's own
 * reply to the same conversation, history restored across controllers,
 * stopping, regenerating, busy, and model errors. */
#include <glib/gstdio.h>
#include <string.h>

#include "app-chat.h"
#include "app-models.h"
#include "app-vision.h"
#include "llm-session.h"
#include "llm-test-model.h"
#include "test-util.h"

static char *model_path, *tmp_home;

typedef struct {
  GMainLoop *loop;
  GAsyncResult *result;
  GString *streamed;
  GCancellable *stop_at_first; /* cancelled when the first piece arrives */
  int n_pieces;
  int n_loaded;
} ctx;

static void
on_reply_text(HarkChatController *c, gint64 conv, const char *piece, ctx *x)
{
  g_assert_true(g_utf8_validate(piece, -1, NULL));
  g_string_append(x->streamed, piece);
  x->n_pieces++;
  if (x->stop_at_first)
    g_cancellable_cancel(x->stop_at_first);
}

static void
on_notice(HarkChatController *c, const char *msg, ctx *x)
{
  /* The controller asks for the model's own context: no notice about capping it. */
  g_error("unexpected notice: %s", msg);
}

static void
on_loaded(HarkChatController *c, const char *desc, ctx *x)
{
  g_test_message("loaded %s", desc);
  x->n_loaded++;
}

static void
got_result(GObject *src, GAsyncResult *res, gpointer data)
{
  ctx *x = data;
  x->result = g_object_ref(res);
  g_main_loop_quit(x->loop);
}

static void
ctx_init(ctx *x, HarkChatController *c)
{
  memset(x, 0, sizeof *x);
  x->loop = g_main_loop_new(NULL, FALSE);
  x->streamed = g_string_new(NULL);
  g_signal_connect(c, "reply-text", G_CALLBACK(on_reply_text), x);
  g_signal_connect(c, "model-loaded", G_CALLBACK(on_loaded), x);
  g_signal_connect(c, "notice", G_CALLBACK(on_notice), x);
}

static void
ctx_clear(ctx *x, HarkChatController *c)
{
  g_signal_handlers_disconnect_by_data(c, x);
  g_main_loop_unref(x->loop);
  g_string_free(x->streamed, TRUE);
  g_clear_object(&x->result);
}

/* Sends (with images, may be NULL) and waits; returns the finish value. */
static gint64
send_images(HarkChatController *c, ctx *x, gint64 conv, const char *text, const char *const *images,
            GCancellable *cancel, gint64 *stopped, GError **error)
{
  g_string_truncate(x->streamed, 0);
  x->n_pieces = 0;
  g_clear_object(&x->result);
  hark_chat_controller_send_async(c, conv, text, images, cancel, got_result, x);
  if (!x->result)
    g_main_loop_run(x->loop);
  return hark_chat_controller_send_finish(c, x->result, stopped, error);
}

static gint64
send(HarkChatController *c, ctx *x, gint64 conv, const char *text, GCancellable *cancel, gint64 *stopped,
     GError **error)
{
  return send_images(c, x, conv, text, NULL, cancel, stopped, error);
}

/* The engine's own greedy reply to `text` after `history` (role, text pairs). */
static char *
engine_reply(const char *const *history, const char *text)
{
  char *err = NULL;
  llm_model_params mp = llm_model_default_params();
  mp.n_ctx = 8192;
  llm_model *m = llm_model_open(model_path, &mp, &err);
  g_assert_nonnull(m);
  llm_session_params sp = llm_session_default_params();
  sp.sampling.temperature = 0;
  llm_session *s = llm_session_new(m, &sp, &err);
  g_assert_nonnull(s);
  for (int i = 0; history && history[i]; i += 2)
    g_assert_cmpint(llm_session_add_turn(s, history[i], history[i + 1]), ==, 0);
  char *reply = NULL;
  g_assert_cmpint(llm_session_chat(s, text, &reply, NULL), ==, 0);
  char *out = g_strdup(reply);
  free(reply);
  llm_session_free(s);
  llm_model_free(m);
  return out;
}

static app_history *
temp_history(char **path)
{
  *path = g_build_filename(tmp_home, "chat-history.sqlite3", NULL);
  g_unlink(*path);
  GError *error = NULL;
  app_history *h = app_history_open(*path, NULL, &error);
  g_assert_no_error(error);
  return h;
}

static HarkChatController *
greedy_controller(app_history *h)
{
  GError *error = NULL;
  HarkChatController *c = hark_chat_controller_new(h, &error);
  g_assert_no_error(error);
  hark_chat_controller_set_model(c, model_path);
  g_object_set(c, "temperature", 0.0, NULL);
  return c;
}

/* A new history with one empty conversation (returned) and a greedy controller on the test model. */
static gint64
setup(char **path, app_history **h, HarkChatController **c, ctx *x)
{
  *h = temp_history(path);
  *c = greedy_controller(*h);
  ctx_init(x, *c);
  GError *error = NULL;
  gint64 conv = app_history_new_conversation(*h, "", &error);
  g_assert_no_error(error);
  return conv;
}

static void
teardown(char *path, app_history *h, HarkChatController *c, ctx *x)
{
  ctx_clear(x, c);
  g_object_unref(c);
  app_history_free(h);
  g_unlink(path);
  g_free(path);
}

static void
test_stream_and_restore(void)
{
  char *path;
  app_history *h;
  HarkChatController *c;
  ctx x;
  gint64 conv = setup(&path, &h, &c, &x);
  GError *error = NULL;

  gint64 id = send(c, &x, conv, "Hello there, how are you today?", NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpint(id, >, 0);
  g_assert_cmpint(x.n_loaded, ==, 1);
  g_assert_false(hark_chat_controller_get_busy(c));
  char *want1 = engine_reply(NULL, "Hello there, how are you today?");
  g_assert_cmpstr(x.streamed->str, ==, want1);
  g_test_message("%d pieces: %s", x.n_pieces, x.streamed->str);

  GPtrArray *msgs = app_history_messages(h, conv, &error);
  g_assert_cmpuint(msgs->len, ==, 2);
  g_assert_cmpstr(((app_message *)msgs->pdata[0])->role, ==, "user");
  g_assert_cmpstr(((app_message *)msgs->pdata[1])->text, ==, want1);
  g_assert_cmpint(((app_message *)msgs->pdata[1])->id, ==, id);
  g_assert_false(((app_message *)msgs->pdata[1])->stopped);
  g_ptr_array_unref(msgs);
  /* The conversation was titled after its first message. */
  app_conversation *cv = app_history_get_conversation(h, conv, &error);
  g_assert_cmpstr(cv->title, ==, "Hello there, how are you today?");
  app_conversation_free(cv);

  /* A second turn (model stays loaded) answers the whole conversation. */
  send(c, &x, conv, "Tell me more.", NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpint(x.n_loaded, ==, 1);
  const char *hist[] = { "user", "Hello there, how are you today?", "assistant", want1, NULL };
  char *want2 = engine_reply(hist, "Tell me more.");
  g_assert_cmpstr(x.streamed->str, ==, want2);

  /* Another conversation in between does not leak into this one. */
  gint64 other = app_history_new_conversation(h, "", &error);
  send(c, &x, other, "Something else entirely", NULL, NULL, &error);
  g_assert_no_error(error);
  ctx_clear(&x, c);
  g_object_unref(c);

  /* A new controller (the app restarted) reads the conversation from the history. */
  c = greedy_controller(h);
  ctx_init(&x, c);
  send(c, &x, conv, "And then?", NULL, NULL, &error);
  g_assert_no_error(error);
  const char *hist3[] = { "user", "Hello there, how are you today?", "assistant", want1,
                          "user", "Tell me more.", "assistant", want2, NULL };
  char *want3 = engine_reply(hist3, "And then?");
  g_assert_cmpstr(x.streamed->str, ==, want3);
  g_assert_cmpint(x.n_loaded, ==, 1);

  /* Regenerating at temperature 0 gives the same reply, in place. */
  msgs = app_history_messages(h, conv, &error);
  guint n = msgs->len;
  gint64 last = ((app_message *)msgs->pdata[n - 1])->id;
  g_ptr_array_unref(msgs);
  g_clear_object(&x.result);
  g_string_truncate(x.streamed, 0);
  hark_chat_controller_regenerate_async(c, conv, NULL, got_result, &x);
  g_main_loop_run(x.loop);
  g_assert_cmpint(hark_chat_controller_regenerate_finish(c, x.result, NULL, &error), ==, last);
  g_assert_no_error(error);
  g_assert_cmpstr(x.streamed->str, ==, want3);
  msgs = app_history_messages(h, conv, &error);
  g_assert_cmpuint(msgs->len, ==, n);
  g_ptr_array_unref(msgs);

  teardown(path, h, c, &x);
  g_free(want1), g_free(want2), g_free(want3);
}

/* The conversation is given to the session again before each reply; what
 * the KV cache holds of it is not read again. */
static void
test_kv_reuse(void)
{
  char *path;
  app_history *h;
  HarkChatController *c;
  ctx x;
  gint64 conv = setup(&path, &h, &c, &x);
  GError *error = NULL;
  g_object_set(c, "n-predict", 12, NULL); /* the test model's context is short: keep it from filling */
  send(c, &x, conv, "Hello there, how are you today?", NULL, NULL, &error);
  g_assert_no_error(error);
  const llm_session_stats *st = hark_chat_controller_get_last_stats(c);
  g_assert_cmpint(st->n_gen, ==, 12);
  int first_prompt = st->n_prompt + st->n_reused;
  send(c, &x, conv, "Tell me more.", NULL, NULL, &error);
  g_assert_no_error(error);
  g_test_message("second turn: %d prompt tokens read, %d reused (the first prompt had %d)", st->n_prompt,
                 st->n_reused, first_prompt);
  g_assert_cmpint(st->n_dropped_turns, ==, 0);
  g_assert_cmpint(st->n_reused, >=, first_prompt);
  teardown(path, h, c, &x);
}

/* The device and GPU layers (the settings of the same names): a change loads
 * the model again; no change keeps it. A device that does not exist is an
 * error, and the next reply works again. */
static void
test_device(void)
{
  char *path;
  app_history *h;
  HarkChatController *c;
  ctx x;
  gint64 conv = setup(&path, &h, &c, &x);
  GError *error = NULL;
  g_object_set(c, "n-predict", 4, "device", "cpu", NULL);
  send(c, &x, conv, "Hello", NULL, NULL, &error);
  g_assert_no_error(error);
  send(c, &x, conv, "Again", NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpint(x.n_loaded, ==, 1);
  g_object_set(c, "gpu-layers", 0, NULL);
  send(c, &x, conv, "Once more", NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpint(x.n_loaded, ==, 2);
  g_object_set(c, "device", "no-such-device", NULL);
  send(c, &x, conv, "And now?", NULL, NULL, &error);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_test_message("bad device: %s", error->message);
  g_clear_error(&error);
  g_object_set(c, "device", "auto", NULL);
  send(c, &x, conv, "And now?", NULL, NULL, &error);
  g_assert_no_error(error);
  teardown(path, h, c, &x);
}

/* A prompt whose greedy reply is long, so a stop lands in the middle of it. */
#define LONG_PROMPT "Write a long story about a lighthouse keeper and the sea."

static void
test_stop(void)
{
  char *path;
  app_history *h;
  HarkChatController *c;
  ctx x;
  gint64 conv = setup(&path, &h, &c, &x);
  GError *error = NULL;
  char *full = engine_reply(NULL, LONG_PROMPT);
  g_test_message("the full reply has %ld characters", (long)strlen(full));

  /* Stopped at the first piece. The model goes on while the main loop takes
   * the piece, so on a very busy machine the reply may be done first; a few
   * tries (each in a new conversation) make that unlikely to matter. */
  GCancellable *cancel = NULL;
  gint64 stopped = 0;
  for (int attempt = 0; attempt < 4 && !stopped; attempt++) {
    if (attempt)
      conv = app_history_new_conversation(h, "", &error);
    g_clear_object(&cancel);
    cancel = g_cancellable_new();
    x.stop_at_first = cancel;
    gint64 id = send(c, &x, conv, LONG_PROMPT, cancel, &stopped, &error);
    if (!error) {
      g_test_message("attempt %d: the reply was done before the stop", attempt + 1);
      continue;
    }
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error(&error);
    g_assert_cmpint(id, ==, 0);
  }
  g_assert_false(hark_chat_controller_get_busy(c));
  g_test_message("stopped after %d pieces: %s", x.n_pieces, x.streamed->str);
  g_assert_cmpint(stopped, >, 0);
  g_assert_cmpuint(x.streamed->len, <, strlen(full));
  g_assert_true(g_str_has_prefix(full, x.streamed->str));
  /* What was shown is what was kept, marked as stopped. */
  GPtrArray *msgs = app_history_messages(h, conv, &error);
  g_assert_cmpuint(msgs->len, ==, 2);
  app_message *r = msgs->pdata[1];
  g_assert_cmpint(r->id, ==, stopped);
  g_assert_true(r->stopped);
  g_assert_cmpstr(r->text, ==, x.streamed->str);
  g_ptr_array_unref(msgs);
  g_object_unref(cancel);

  /* Cancelled before it starts: nothing is generated or stored. */
  x.stop_at_first = NULL;
  cancel = g_cancellable_new();
  g_cancellable_cancel(cancel);
  g_assert_cmpint(send(c, &x, conv, "Never answered", cancel, &stopped, &error), ==, 0);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error(&error);
  g_assert_cmpint(stopped, ==, 0);
  g_assert_cmpint(x.n_pieces, ==, 0);
  msgs = app_history_messages(h, conv, &error);
  g_assert_cmpuint(msgs->len, ==, 3); /* the user message is kept */
  g_ptr_array_unref(msgs);
  g_object_unref(cancel);

  /* Regenerating now answers that unanswered message. */
  g_clear_object(&x.result);
  hark_chat_controller_regenerate_async(c, conv, NULL, got_result, &x);
  g_main_loop_run(x.loop);
  g_assert_cmpint(hark_chat_controller_regenerate_finish(c, x.result, NULL, &error), >, 0);
  g_assert_no_error(error);
  msgs = app_history_messages(h, conv, &error);
  g_assert_cmpuint(msgs->len, ==, 4);
  g_assert_cmpstr(((app_message *)msgs->pdata[3])->role, ==, "assistant");
  g_ptr_array_unref(msgs);

  /* One reply at a time. */
  g_clear_object(&x.result);
  hark_chat_controller_send_async(c, conv, LONG_PROMPT, NULL, NULL, got_result, &x);
  g_assert_true(hark_chat_controller_get_busy(c));
  GAsyncResult *first = NULL;
  ctx y;
  ctx_init(&y, c);
  hark_chat_controller_send_async(c, conv, "me too", NULL, NULL, got_result, &y);
  if (!y.result)
    g_main_loop_run(y.loop);
  g_assert_cmpint(hark_chat_controller_send_finish(c, y.result, NULL, &error), ==, 0);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_clear_error(&error);
  ctx_clear(&y, c);
  if (!x.result)
    g_main_loop_run(x.loop);
  first = x.result;
  g_assert_cmpint(hark_chat_controller_send_finish(c, first, NULL, &error), >, 0);
  g_assert_no_error(error);

  teardown(path, h, c, &x);
  g_free(full);
}

static void
test_model_errors(void)
{
  char *path;
  app_history *h;
  HarkChatController *c;
  ctx x;
  gint64 conv = setup(&path, &h, &c, &x);
  GError *error = NULL;

  /* A catalog model that is not installed (XDG_DATA_HOME is empty here). */
  hark_chat_controller_set_model(c, HARK_CHAT_DEFAULT_MODEL);
  g_assert_cmpint(send(c, &x, conv, "hi", NULL, NULL, &error), ==, 0);
  g_assert_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_NOT_INSTALLED);
  g_test_message("%s", error->message);
  g_clear_error(&error);

  /* Neither a catalog name nor a file. */
  hark_chat_controller_set_model(c, "/no/such/model.gguf");
  send(c, &x, conv, "hi", NULL, NULL, &error);
  g_assert_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_UNKNOWN);
  g_clear_error(&error);

  /* A file that is not a model: the engine's message. */
  char *junk = g_build_filename(tmp_home, "junk.gguf", NULL);
  g_assert_true(g_file_set_contents(junk, "GGUF but not really", -1, NULL));
  hark_chat_controller_set_model(c, junk);
  send(c, &x, conv, "hi", NULL, NULL, &error);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, "junk.gguf"));
  g_clear_error(&error);

  /* Nothing was stored for the failures but the user messages; a model that
   * works then answers (loaded once; switching to a copy loads again). */
  hark_chat_controller_set_model(c, model_path);
  g_assert_cmpint(send(c, &x, conv, "hi", NULL, NULL, &error), >, 0);
  g_assert_no_error(error);
  char *copy = g_build_filename(tmp_home, "copy.gguf", NULL);
  char *bytes = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(model_path, &bytes, &len, NULL));
  g_assert_true(g_file_set_contents(copy, bytes, (gssize)len, NULL));
  hark_chat_controller_set_model(c, copy);
  g_assert_cmpint(send(c, &x, conv, "hi again", NULL, NULL, &error), >, 0);
  g_assert_cmpint(x.n_loaded, ==, 2);
  GPtrArray *msgs = app_history_messages(h, conv, &error);
  g_assert_cmpuint(msgs->len, ==, 7); /* 3 unanswered, 2 answered */
  g_ptr_array_unref(msgs);

  /* A conversation that does not exist. */
  send(c, &x, 12345, "hi", NULL, NULL, &error);
  g_assert_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_NOT_FOUND);
  g_clear_error(&error);

  teardown(path, h, c, &x);
  g_unlink(junk), g_unlink(copy);
  g_free(junk), g_free(copy), g_free(bytes);
}

/* app_vision as the controller opens it (8 tokens, greedy). */
static app_vision *
open_vision(const char *model)
{
  GError *error = NULL;
  app_vision_params vp = app_vision_default_params();
  vp.model = model;
  vp.n_predict = 8;
  vp.sampling.temperature = 0;
  app_vision *v = app_vision_open(&vp, &error);
  g_assert_no_error(error);
  return v;
}

/* What app_vision itself answers: `q1` about `images`, then (if q2) a follow-up. */
static char *
vision_reply(const char *model, const char *const *images, const char *q1, const char *q2)
{
  GError *error = NULL;
  app_vision *v = open_vision(model);
  char *a = NULL;
  g_assert_true(app_vision_ask(v, images, (int)g_strv_length((char **)images), q1, &a, NULL, &error));
  if (q2) {
    g_free(a);
    g_assert_true(app_vision_ask(v, NULL, 0, q2, &a, NULL, &error));
  }
  g_assert_no_error(error);
  app_vision_free(v);
  return a;
}

/* The same after a restored conversation: `q1` with images and the answer
 * `a1` added as finished turns, then `q2` asked. */
static char *
vision_reply_restored(const char *model, const char *const *images, const char *q1, const char *a1, const char *q2)
{
  GError *error = NULL;
  app_vision *v = open_vision(model);
  g_assert_true(app_vision_add_turn(v, "user", q1, images, (int)g_strv_length((char **)images), &error));
  g_assert_true(app_vision_add_turn(v, "assistant", a1, NULL, 0, &error));
  g_assert_false(app_vision_add_turn(v, "assistant", a1, images, 1, NULL)); /* images are a user's */
  char *a = NULL;
  g_assert_true(app_vision_ask(v, NULL, 0, q2, &a, NULL, &error));
  g_assert_no_error(error);
  app_vision_free(v);
  return a;
}

static void
test_images(void)
{
  char *path;
  app_history *h;
  HarkChatController *c;
  ctx x;
  gint64 conv = setup(&path, &h, &c, &x);
  GError *error = NULL;
  char *llava = g_test_build_filename(G_TEST_DIST, "data", "vision", "llm-f32.gguf", NULL);
  char *img = g_test_build_filename(G_TEST_DIST, "data", "vision", "pre-hopper.png", NULL);
  hark_chat_controller_set_vision_model(c, llava);
  g_object_set(c, "n-predict", 8, NULL);
  const char *const imgs[] = { img, NULL };

  /* A message with an image goes to the vision model, read as app_vision reads it. */
  g_assert_cmpint(send_images(c, &x, conv, "What is this?", imgs, NULL, NULL, &error), >, 0);
  g_assert_no_error(error);
  char *want = vision_reply(llava, imgs, "What is this?", NULL);
  g_assert_cmpstr(x.streamed->str, ==, want);
  g_test_message("image reply: %s", x.streamed->str);
  char *first_answer = g_strdup(x.streamed->str);
  g_free(want);
  GPtrArray *msgs = app_history_messages(h, conv, &error);
  app_message *u = msgs->pdata[0];
  g_assert_cmpuint(u->attachments->len, ==, 1);
  g_assert_cmpstr(((app_attachment *)u->attachments->pdata[0])->path, ==, img);
  g_assert_cmpuint(strlen(((app_attachment *)u->attachments->pdata[0])->sha256), ==, 64);
  g_ptr_array_unref(msgs);

  /* A text-only chat elsewhere uses the chat model and leaves the image session alone. */
  gint64 other = app_history_new_conversation(h, "", &error);
  g_assert_cmpint(send(c, &x, other, "Hello", NULL, NULL, &error), >, 0);
  char *chat_want = engine_reply(NULL, "Hello"); /* (the controller stops after 8 tokens) */
  g_assert_cmpuint(x.streamed->len, >, 0);
  g_assert_true(g_str_has_prefix(chat_want, x.streamed->str));
  g_free(chat_want);

  /* A follow-up without images is still about the image (read once). */
  send(c, &x, conv, "And the colours?", NULL, NULL, &error);
  g_assert_no_error(error);
  want = vision_reply(llava, imgs, "What is this?", "And the colours?");
  g_assert_cmpstr(x.streamed->str, ==, want);
  g_free(want);

  /* Regenerated, the session no longer matches: the conversation is read
   * again (the first question with its image, the first answer), then the
   * question. */
  g_clear_object(&x.result);
  g_string_truncate(x.streamed, 0);
  hark_chat_controller_regenerate_async(c, conv, NULL, got_result, &x);
  g_main_loop_run(x.loop);
  g_assert_cmpint(hark_chat_controller_regenerate_finish(c, x.result, NULL, &error), >, 0);
  g_assert_no_error(error);
  want = vision_reply_restored(llava, imgs, "What is this?", first_answer, "And the colours?");
  g_assert_cmpstr(x.streamed->str, ==, want);
  g_free(want);
  g_free(first_answer);

  /* An image that cannot be read is an error naming it; nothing is answered. */
  gint64 bad = app_history_new_conversation(h, "", &error);
  const char *const missing[] = { "/nonexistent/picture.png", NULL };
  g_assert_cmpint(send_images(c, &x, bad, "What?", missing, NULL, NULL, &error), ==, 0);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull(strstr(error->message, "picture.png"));
  g_clear_error(&error);
  msgs = app_history_messages(h, bad, &error);
  g_assert_cmpuint(msgs->len, ==, 1);
  g_assert_cmpstr(((app_attachment *)((app_message *)msgs->pdata[0])->attachments->pdata[0])->sha256, ==, "");
  g_ptr_array_unref(msgs);

  teardown(path, h, c, &x);
  g_free(llava), g_free(img);
}

static void
on_install_progress(HarkChatController *c, double fraction, const char *file, double *last)
{
  g_assert_cmpfloat(fraction, >=, *last); /* never goes back */
  g_assert_cmpfloat(fraction, <=, 1.0);
  *last = fraction;
}

static gboolean
install(HarkChatController *c, const char *model, GCancellable *cancel, double *last, GError **error)
{
  ctx x;
  ctx_init(&x, c);
  g_signal_connect(c, "install-progress", G_CALLBACK(on_install_progress), last);
  hark_chat_controller_install_model_async(c, model, cancel, got_result, &x);
  g_main_loop_run(x.loop);
  gboolean ok = hark_chat_controller_install_model_finish(c, x.result, error);
  g_signal_handlers_disconnect_by_func(c, on_install_progress, last);
  ctx_clear(&x, c);
  return ok;
}

/* The install the window offers, with the fake catalog and pip of test-app-models. */
static void
test_install(void)
{
  char *catalog = g_test_build_filename(G_TEST_DIST, "data", "models", "catalog.json", NULL);
  char *pip = g_test_build_filename(G_TEST_DIST, "fake-pip", NULL);
  char *quoted = g_shell_quote(pip);
  char *pip_cmd = g_strdup_printf("sh %s", quoted);
  char *wheels = g_test_build_filename(G_TEST_DIST, "data", "models", NULL);
  char *log = g_build_filename(tmp_home, "pip.log", NULL);
  g_setenv("HARK_CATALOG", catalog, TRUE);
  g_setenv("HARK_PIP", pip_cmd, TRUE);
  g_setenv("HARK_FAKE_WHEELS", wheels, TRUE);
  g_setenv("HARK_FAKE_PIP_LOG", log, TRUE);

  char *path;
  app_history *h = temp_history(&path);
  HarkChatController *c = greedy_controller(h);
  GError *error = NULL;
  double last = 0;
  g_assert_null(app_models_installed_dir("test-split"));
  g_assert_true(install(c, "test-split", NULL, &last, &error));
  g_assert_no_error(error);
  g_assert_cmpfloat(last, ==, 1.0);
  char *dir = app_models_installed_dir("test-split");
  g_assert_nonnull(dir);

  /* A file no source has: a clear error. Not in the catalog: said so. */
  last = 0;
  g_assert_false(install(c, "test-missing", NULL, &last, &error));
  g_assert_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_FETCH);
  g_clear_error(&error);
  g_assert_false(install(c, "no-such-model", NULL, &last, &error));
  g_assert_error(error, APP_MODELS_ERROR, APP_MODELS_ERROR_UNKNOWN);
  g_clear_error(&error);
  /* Cancelled: stops. */
  GCancellable *cancel = g_cancellable_new();
  g_cancellable_cancel(cancel);
  g_assert_true(app_models_remove("test-split", &error));
  g_assert_false(install(c, "test-split", cancel, &last, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error(&error);
  g_object_unref(cancel);

  g_object_unref(c);
  app_history_free(h);
  g_unlink(path);
  g_unsetenv("HARK_CATALOG");
  g_unsetenv("HARK_PIP");
  g_free(path), g_free(dir), g_free(catalog), g_free(pip), g_free(quoted), g_free(pip_cmd), g_free(wheels), g_free(log);
}

/* A transcript (an assistant message with its audio file attached) is text
 * to the chat model, not an image; and it is never generated again. */
static void
test_transcript(void)
{
  char *path;
  app_history *h;
  HarkChatController *c;
  ctx x;
  gint64 conv = setup(&path, &h, &c, &x);
  GError *error = NULL;
  char *audio = g_test_build_filename(G_TEST_DIST, "data", "audio", "sig-16k-mono-s16.wav", NULL);
  app_segment seg = { 0.0, 1.0, " Hello from the meeting." };
  g_assert_cmpint(app_history_add_transcript(h, conv, audio, "Hello from the meeting.", &seg, 1, &error), >, 0);
  g_assert_no_error(error);

  /* Nothing to regenerate: the transcript is not a reply. */
  g_clear_object(&x.result);
  hark_chat_controller_regenerate_async(c, conv, NULL, got_result, &x);
  if (!x.result)
    g_main_loop_run(x.loop);
  g_assert_cmpint(hark_chat_controller_regenerate_finish(c, x.result, NULL, &error), ==, 0);
  g_assert_error(error, APP_HISTORY_ERROR, APP_HISTORY_ERROR_INVALID);
  g_clear_error(&error);

  send(c, &x, conv, "Summarize it.", NULL, NULL, &error);
  g_assert_no_error(error);
  const char *hist[] = { "assistant", "Hello from the meeting.", NULL };
  char *want = engine_reply(hist, "Summarize it.");
  /* The chat model's greedy reply (the vision model, not installed here, would
   * have failed), up to where the shorter of the two contexts ends. */
  g_assert_cmpuint(x.streamed->len, >, 0);
  gsize n = MIN(x.streamed->len, strlen(want));
  g_assert_cmpint(strncmp(x.streamed->str, want, n), ==, 0);
  g_free(want), g_free(audio);
  teardown(path, h, c, &x);
}

static void
test_title(void)
{
  char *t = hark_chat_controller_title_for("  Short question\nsecond line");
  g_assert_cmpstr(t, ==, "Short question");
  g_free(t);
  t = hark_chat_controller_title_for("Please explain in detail how the KV cache of a transformer works");
  g_assert_true(g_str_has_suffix(t, "…"));
  g_assert_cmpint(g_utf8_strlen(t, -1), <=, 49);
  g_assert_true(g_str_has_prefix(t, "Please explain in detail how the KV cache"));
  g_free(t);
}

int
main(int argc, char **argv)
{
  tmp_home = g_dir_make_tmp("hark-chat-XXXXXX", NULL);
  g_setenv("XDG_DATA_HOME", tmp_home, TRUE); /* no installed models */
  g_test_init(&argc, &argv, NULL);
  char *vocab = g_test_build_filename(G_TEST_DIST, "data", "llm", "vocab-llama3.gguf", NULL);
  model_path = g_build_filename(tmp_home, "tiny-chat.gguf", NULL);
  llm_test_make_model(vocab, model_path);
  g_free(vocab);
  g_test_add_func("/app/chat/stream-and-restore", test_stream_and_restore);
  g_test_add_func("/app/chat/kv-reuse", test_kv_reuse);
  g_test_add_func("/app/chat/stop", test_stop);
  g_test_add_func("/app/chat/device", test_device);
  g_test_add_func("/app/chat/model-errors", test_model_errors);
  g_test_add_func("/app/chat/images", test_images);
  g_test_add_func("/app/chat/install", test_install);
  g_test_add_func("/app/chat/transcript", test_transcript);
  g_test_add_func("/app/chat/title", test_title);
  int rc = g_test_run();
  test_remove_tree(tmp_home);
  g_free(model_path);
  g_free(tmp_home);
  return rc;
}
