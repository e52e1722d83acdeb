/* test-llm-session.c: the chat session's mechanics on a small random model.
 *
 * The model is written by the test: a 2-layer llama with seeded random
 * weights and the byte-level BPE vocabulary of tests/data/llm/vocab-llama3.gguf,
 * with a ChatML template. Its replies are arbitrary text (byte tokens
 * included), which is what the streaming, stop-string and context code must
 * survive. Runs on "cpu-ref", whose results do not depend on how tokens are
 * batched, so a conversation read from the KV cache and one read afresh must
 * give the same greedy reply. */
#include "hark-config.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm-model.h"
#include "llm-test-model.h"
#include "llm-session.h"

static char *model_path;

static llm_model *
open_model(int n_ctx)
{
  llm_model_params mp = llm_model_default_params();
  mp.device = "cpu-ref";
  mp.n_ctx = n_ctx;
  mp.kv_type = KERN_TYPE_F32;
  char *err = NULL;
  llm_model *m = llm_model_open(model_path, &mp, &err);
  if (!m)
    g_error("%s", err);
  return m;
}

typedef struct {
  GString *text;
  int pieces, bad_utf8, abort_after, calls;
} sink;

static void
on_text(const char *text, size_t len, void *user_data)
{
  sink *k = user_data;
  g_assert_cmpuint(len, >, 0);
  if (!g_utf8_validate(text, (gssize)len, NULL))
    k->bad_utf8++;
  g_string_append_len(k->text, text, (gssize)len);
  k->pieces++;
}

static int
should_abort(void *user_data)
{
  sink *k = user_data;
  return k->abort_after > 0 && ++k->calls > k->abort_after;
}

static llm_session *
new_session(llm_model *m, sink *k, int n_predict, const char *const *stop)
{
  llm_session_params sp = llm_session_default_params();
  sp.sampling.temperature = 0;
  sp.n_predict = n_predict;
  sp.stop = stop;
  sp.on_text = on_text;
  sp.should_abort = should_abort;
  sp.user_data = k;
  char *err = NULL;
  llm_session *s = llm_session_new(m, &sp, &err);
  if (!s)
    g_error("%s", err);
  g_assert_cmpint(llm_session_template(s), ==, LLM_TEMPLATE_CHATML);
  return s;
}

static char *
chat(llm_session *s, sink *k, const char *msg, llm_session_stats *st)
{
  char *reply = NULL;
  g_string_truncate(k->text, 0);
  if (llm_session_chat(s, msg, &reply, st) != 0)
    g_error("chat: %s", llm_session_errmsg(s));
  /* What streamed is exactly the reply, in valid UTF-8 pieces. */
  g_assert_cmpstr(k->text->str, ==, reply);
  g_assert_cmpint(k->bad_utf8, ==, 0);
  g_assert_true(g_utf8_validate(reply, -1, NULL));
  return reply;
}

/* Turn two read through the KV cache equals turn two read afresh. */
static void
test_kv_reuse(void)
{
  sink k = { g_string_new(NULL) };
  llm_model *m = open_model(256);
  llm_session *s = new_session(m, &k, 12, NULL);
  llm_session_stats st;
  char *r1 = chat(s, &k, "Hello there, how are you?", &st);
  g_assert_cmpint(st.n_reused, ==, 0);
  g_assert_cmpint(st.n_prompt, >, 5);
  char *r2 = chat(s, &k, "And what comes next?", &st);
  g_assert_cmpint(st.n_reused, >, 10);
  g_assert_cmpint(llm_session_n_turns(s), ==, 4);
  llm_session_free(s);
  llm_model_free(m);

  m = open_model(256);
  s = new_session(m, &k, 12, NULL);
  g_assert_cmpint(llm_session_add_turn(s, "user", "Hello there, how are you?"), ==, 0);
  g_assert_cmpint(llm_session_add_turn(s, "assistant", r1), ==, 0);
  g_assert_cmpint(llm_session_add_turn(s, "tool", "x"), ==, KERN_E_INVAL);
  char *r2b = chat(s, &k, "And what comes next?", &st);
  g_assert_cmpint(st.n_reused, ==, 0);
  g_assert_cmpstr(r2b, ==, r2);
  g_test_message("reply 1 %s, reply 2 %s", r1, r2);

  /* Reset forgets the conversation: the first reply comes again. */
  llm_session_reset(s);
  g_assert_cmpint(llm_session_n_turns(s), ==, 0);
  g_assert_cmpint(llm_session_n_cached(s), ==, 0);
  char *r1b = chat(s, &k, "Hello there, how are you?", &st);
  g_assert_cmpstr(r1b, ==, r1);
  free(r1), free(r2), free(r2b), free(r1b);
  llm_session_free(s);
  llm_model_free(m);
  g_string_free(k.text, TRUE);
}

/* A stop string ends the reply just before it, and none of it is streamed. */
static void
test_stop_string(void)
{
  sink k = { g_string_new(NULL) };
  llm_model *m = open_model(256);
  llm_session *s = new_session(m, &k, 24, NULL);
  llm_session_stats st;
  char *full = chat(s, &k, "Tell me a story.", &st);
  llm_session_free(s);
  g_assert_cmpint(g_utf8_strlen(full, -1), >=, 6);
  /* A stop string from the middle of the greedy reply: two characters. */
  const char *mid = g_utf8_offset_to_pointer(full, g_utf8_strlen(full, -1) / 2);
  char *stop = g_strndup(mid, (gsize)(g_utf8_offset_to_pointer(mid, 2) - mid));
  size_t expect = (size_t)(strstr(full, stop) - full);
  const char *stops[] = { stop, NULL };
  llm_model_kv_truncate(m, 0);
  s = new_session(m, &k, 24, stops);
  char *cut = chat(s, &k, "Tell me a story.", &st);
  g_assert_cmpint(st.stop, ==, LLM_STOP_STRING);
  g_assert_cmpuint(strlen(cut), ==, expect);
  g_assert_true(strncmp(cut, full, expect) == 0);
  g_test_message("stop '%s' cut '%s' to '%s'", stop, full, cut);
  free(full), free(cut), g_free(stop);
  llm_session_free(s);
  llm_model_free(m);
  g_string_free(k.text, TRUE);
}

/* n_predict and the abort callback end the reply; it stays in the conversation. */
static void
test_limit_and_abort(void)
{
  sink k = { g_string_new(NULL) };
  llm_model *m = open_model(256);
  llm_session *s = new_session(m, &k, 5, NULL);
  llm_session_stats st;
  char *r = chat(s, &k, "Count with me.", &st);
  g_assert_cmpint(st.n_gen, <=, 5);
  g_assert_true(st.stop == LLM_STOP_LIMIT || st.stop == LLM_STOP_EOG);
  if (st.stop == LLM_STOP_LIMIT)
    g_assert_cmpint(st.n_gen, ==, 5);
  free(r);
  llm_session_free(s);

  k.abort_after = 3;
  s = new_session(m, &k, 50, NULL);
  r = chat(s, &k, "Go on and on.", &st);
  if (st.stop != LLM_STOP_EOG) {
    g_assert_cmpint(st.stop, ==, LLM_STOP_ABORTED);
    g_assert_cmpint(st.n_gen, ==, 3);
  }
  g_assert_cmpint(llm_session_n_turns(s), ==, 2);
  free(r);
  llm_session_free(s);
  llm_model_free(m);
  g_string_free(k.text, TRUE);
}

static int
always(void *user_data)
{
  (void)user_data;
  return 1;
}

/* The model's own abort (checked between layers) stops a prompt being read:
 * KERN_E_ABORTED, and the conversation is as before. */
static void
test_prompt_abort(void)
{
  sink k = { g_string_new(NULL) };
  llm_model_params mp = llm_model_default_params();
  mp.device = "cpu-ref";
  mp.should_abort = always;
  char *err = NULL;
  llm_model *m = llm_model_open(model_path, &mp, &err);
  g_assert_nonnull(m);
  llm_session *s = new_session(m, &k, 8, NULL);
  char *reply = NULL;
  llm_session_stats st;
  g_assert_cmpint(llm_session_chat(s, "Hello", &reply, &st), ==, KERN_E_ABORTED);
  g_assert_null(reply);
  g_assert_cmpint(llm_session_n_turns(s), ==, 0);
  g_assert_nonnull(strstr(llm_session_errmsg(s), "stopped"));
  g_assert_cmpstr(k.text->str, ==, "");
  llm_session_free(s);
  llm_model_free(m);
  g_string_free(k.text, TRUE);
}

/* Sampling: the same seed gives the same reply; another seed another one. */
static void
test_seed(void)
{
  sink k = { g_string_new(NULL) };
  llm_model *m = open_model(256);
  char *r[3];
  const uint64_t seeds[3] = { 42, 42, 43 };
  for (int i = 0; i < 3; i++) {
    llm_session_params sp = llm_session_default_params();
    sp.sampling.temperature = 1.5f;
    sp.sampling.top_k = 0;
    sp.sampling.top_p = 1;
    sp.sampling.min_p = 0;
    sp.sampling.seed = seeds[i];
    sp.n_predict = 16;
    sp.on_text = on_text;
    sp.user_data = &k;
    llm_session *s = llm_session_new(m, &sp, NULL);
    g_assert_nonnull(s);
    llm_session_stats st;
    r[i] = chat(s, &k, "Surprise me.", &st);
    llm_session_free(s);
  }
  g_assert_cmpstr(r[0], ==, r[1]);
  g_assert_cmpstr(r[0], !=, r[2]);
  for (int i = 0; i < 3; i++)
    free(r[i]);
  llm_model_free(m);
  g_string_free(k.text, TRUE);
}

/* A small context: old turns are dropped, replies continue past a full cache,
 * and a message that cannot fit is an error that leaves the conversation as it was. */
static void
test_context(void)
{
  sink k = { g_string_new(NULL) };
  llm_model *m = open_model(64);
  g_assert_cmpint(llm_model_hparams(m)->n_ctx, ==, 64);
  llm_session *s = new_session(m, &k, 12, NULL);
  llm_session_stats st;
  int dropped = 0;
  for (int i = 0; i < 8; i++) {
    char *r = chat(s, &k, "One more line of conversation, please.", &st);
    dropped += st.n_dropped_turns;
    g_assert_cmpint(llm_session_n_cached(s), <=, 64);
    free(r);
  }
  g_assert_cmpint(dropped, >, 0);
  llm_session_free(s);

  /* A reply longer than what is left: it goes on after dropping old turns. */
  s = new_session(m, &k, 60, NULL);
  char *r = chat(s, &k, "A first question.", &st);
  free(r);
  r = chat(s, &k, "A second question that asks for a long answer.", &st);
  g_assert_true(st.stop != LLM_STOP_NONE);
  free(r);
  int turns = llm_session_n_turns(s);
  GString *huge = g_string_new(NULL);
  for (int i = 0; i < 100; i++)
    g_string_append(huge, "many words that will not fit ");
  char *reply = NULL;
  g_assert_cmpint(llm_session_chat(s, huge->str, &reply, &st), <, 0);
  g_assert_null(reply);
  g_assert_nonnull(strstr(llm_session_errmsg(s), "context"));
  g_test_message("%s", llm_session_errmsg(s));
  g_assert_cmpint(llm_session_n_turns(s), <=, turns);
  g_string_free(huge, TRUE);
  llm_session_free(s);
  llm_model_free(m);
  g_string_free(k.text, TRUE);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  char *vocab = g_test_build_filename(G_TEST_DIST, "data", "llm", "vocab-llama3.gguf", NULL);
  model_path = g_build_filename(g_get_tmp_dir(), "hark-test-llm-session.gguf", NULL);
  llm_test_make_model(vocab, model_path);
  g_free(vocab);
  g_test_add_func("/llm/session/kv-reuse", test_kv_reuse);
  g_test_add_func("/llm/session/stop-string", test_stop_string);
  g_test_add_func("/llm/session/limit-abort", test_limit_and_abort);
  g_test_add_func("/llm/session/prompt-abort", test_prompt_abort);
  g_test_add_func("/llm/session/seed", test_seed);
  g_test_add_func("/llm/session/context", test_context);
  int rc = g_test_run();
  g_unlink(model_path);
  g_free(model_path);
  return rc;
}
