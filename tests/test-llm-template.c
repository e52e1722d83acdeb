/* test-llm-template.c: chat templates (llm-template.c) against transformers'
 * renderer: tests/data/llm/template-golden.txt, written by
 * tests/reference/make-llm-template-golden.py from the template texts in
 * tests/data/llm/templates/ (SmolLM2's from its GGUF, the other families'
 * reference templates). For every case the family must be detected from the
 * template text and the rendering must be byte-for-byte equal. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "llm-template.h"

static char *
data_path(const char *a, const char *b)
{
  const char *src = g_getenv("G_TEST_SRCDIR");
  return g_build_filename(src ? src : "tests", "data", "llm", a, b, NULL);
}

static char *
unhex(const char *s)
{
  size_t n = strlen(s);
  g_assert_true(n % 2 == 0);
  char *out = g_malloc(n / 2 + 1);
  for (size_t i = 0; i < n; i += 2)
    out[i / 2] = (char)(g_ascii_xdigit_value(s[i]) * 16 + g_ascii_xdigit_value(s[i + 1]));
  out[n / 2] = '\0';
  return out;
}

static void
test_golden(void)
{
  char *path = data_path("template-golden.txt", NULL);
  char *data;
  GError *error = NULL;
  if (!g_file_get_contents(path, &data, NULL, &error))
    g_error("%s", error->message);
  char **lines = g_strsplit(data, "\n", -1);
  g_free(data);
  g_assert_cmpstr(lines[0], ==, "HARK-LLM-TEMPLATE-GOLDEN 1");
  int n_cases = atoi(lines[2] + strlen("cases "));
  int seen = 0, bad = 0;
  GHashTable *families = g_hash_table_new(g_str_hash, g_str_equal);
  for (int li = 3; lines[li] && lines[li][0]; li++, seen++) {
    char **f = g_strsplit(lines[li], " ", -1);
    g_assert_cmpuint(g_strv_length(f), ==, 5);
    char *tpath = data_path("templates", f[0]), *jinja;
    if (!g_file_get_contents(tpath, &jinja, NULL, &error))
      g_error("%s", error->message);
    int fam = llm_template_detect(jinja);
    if (fam != llm_template_from_name(f[1]))
      g_error("%s: detected as %s, is %s", f[0], llm_template_name(fam), f[1]);
    g_hash_table_add(families, (gpointer)llm_template_name(fam));

    char **m = g_strsplit(f[3], ";", -1);
    guint n = g_strv_length(m);
    llm_chat_msg *msgs = g_new0(llm_chat_msg, n + 1);
    char *def_system = llm_template_default_system(jinja);
    size_t k = 0, first_owned = 0;
    if (def_system && !g_str_has_prefix(m[0], "system:"))
      msgs[k++] = (llm_chat_msg){ "system", def_system }, first_owned = 1;
    for (guint i = 0; i < n; i++) {
      char *colon = strchr(m[i], ':');
      g_assert_nonnull(colon);
      *colon = '\0';
      msgs[k++] = (llm_chat_msg){ m[i], unhex(colon + 1) };
    }
    char *want = unhex(f[4]);
    char *got = llm_template_apply(fam, msgs, k, atoi(f[2]));
    g_assert_nonnull(got);
    if (strcmp(got, want) != 0) {
      char *eg = g_strescape(got, NULL), *ew = g_strescape(want, NULL);
      g_test_message("%s add_generation_prompt %s:\n  got  \"%s\"\n  want \"%s\"", f[0], f[2], eg, ew);
      g_free(eg);
      g_free(ew);
      bad++;
    }
    free(got);
    g_free(want);
    for (size_t i = first_owned; i < k; i++)
      g_free((char *)msgs[i].content);
    free(def_system);
    g_free(msgs);
    g_strfreev(m);
    g_free(jinja);
    g_free(tpath);
    g_strfreev(f);
  }
  g_test_message("%d/%d renderings equal to transformers', %u families", seen - bad, seen,
                 g_hash_table_size(families));
  g_assert_cmpint(seen, ==, n_cases);
  g_assert_cmpint(bad, ==, 0);
  /* every family but llava, which no chat_template names (LLaVA-1.5 files carry none) */
  g_assert_cmpuint(g_hash_table_size(families), ==, LLM_TEMPLATE_COUNT_ - 2);
  g_hash_table_unref(families);
  g_strfreev(lines);
  g_free(path);
}

/* LLaVA v1's conversation (sep " ", sep2 "</s>"): system + " ", then per
 * message "ROLE: MESSAGE" + (" " after the user, "</s>" after the assistant),
 * and "ASSISTANT:" for the reply to come. */
static void
test_llava(void)
{
  llm_chat_msg m[4] = {
    { "system", "Be brief." }, { "user", "\x01<image>\x01\nWhat is this?" },
    { "assistant", "A cat." }, { "user", "What colour?" },
  };
  char *got = llm_template_apply(LLM_TEMPLATE_LLAVA, m, 4, 1);
  g_assert_cmpstr(got, ==,
                  "Be brief. USER: \x01<image>\x01\nWhat is this? ASSISTANT: A cat.</s>USER: What colour? ASSISTANT:");
  free(got);
  got = llm_template_apply(LLM_TEMPLATE_LLAVA, m + 1, 1, 0);
  g_assert_cmpstr(got, ==, "USER: \x01<image>\x01\nWhat is this? ");
  free(got);
  g_assert_cmpint(llm_template_from_name("LLaVA"), ==, LLM_TEMPLATE_LLAVA);
  g_assert_null(llm_template_bos_text(LLM_TEMPLATE_LLAVA));
}

static void
test_names(void)
{
  for (int t = 1; t < LLM_TEMPLATE_COUNT_; t++) {
    g_assert_cmpint(llm_template_from_name(llm_template_name(t)), ==, t);
    const char *const *stops = llm_template_stops(t);
    g_assert_nonnull(stops[0]);
    /* the rendering of an empty reply ends with one of the stops or none at all */
    llm_chat_msg m[2] = { { "user", "hi" }, { "assistant", "" } };
    char *s = llm_template_apply(t, m, 2, 0);
    g_assert_nonnull(s);
    int found = 0;
    for (size_t i = 0; stops[i]; i++)
      found |= strstr(s, stops[i]) != NULL;
    g_assert_true(found);
    const char *bos = llm_template_bos_text(t);
    if (bos)
      g_assert_true(g_str_has_prefix(s, bos));
    free(s);
  }
  g_assert_cmpint(llm_template_from_name("ChatML"), ==, LLM_TEMPLATE_CHATML);
  g_assert_cmpint(llm_template_from_name("nope"), ==, LLM_TEMPLATE_UNKNOWN);
  g_assert_cmpint(llm_template_from_name(NULL), ==, LLM_TEMPLATE_UNKNOWN);
  g_assert_cmpstr(llm_template_name(99), ==, "unknown");
  g_assert_null(llm_template_stops(LLM_TEMPLATE_UNKNOWN)[0]);
  g_assert_cmpint(llm_template_detect(NULL), ==, LLM_TEMPLATE_UNKNOWN);
  g_assert_cmpint(llm_template_detect("{{ messages }}"), ==, LLM_TEMPLATE_UNKNOWN);
  llm_chat_msg m = { "user", "x" };
  g_assert_null(llm_template_apply(LLM_TEMPLATE_UNKNOWN, &m, 1, 1));
  g_assert_null(llm_template_apply(LLM_TEMPLATE_CHATML, NULL, 1, 1));
  char *empty = llm_template_apply(LLM_TEMPLATE_CHATML, NULL, 0, 0);
  g_assert_cmpstr(empty, ==, "");
  free(empty);
  /* no default system prompt in a plain ChatML template */
  char *path = data_path("templates", "chatml.jinja"), *jinja;
  g_assert_true(g_file_get_contents(path, &jinja, NULL, NULL));
  g_assert_null(llm_template_default_system(jinja));
  g_free(jinja);
  g_free(path);
}

/* Mistral's template refuses a system role: it goes before the first user message. */
static void
test_mistral_system(void)
{
  llm_chat_msg m[3] = { { "system", "Be brief." }, { "user", "Hi" }, { "assistant", "Hello" } };
  char *s = llm_template_apply(LLM_TEMPLATE_MISTRAL, m, 3, 1);
  g_assert_cmpstr(s, ==, "<s>[INST] Be brief.\n\nHi [/INST]Hello</s>");
  free(s);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/llm/template/golden", test_golden);
  g_test_add_func("/llm/template/names", test_names);
  g_test_add_func("/llm/template/llava", test_llava);
  g_test_add_func("/llm/template/mistral-system", test_mistral_system);
  return g_test_run();
}
