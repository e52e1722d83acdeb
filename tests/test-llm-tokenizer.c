/* test-llm-tokenizer.c: the GGUF tokenizers (llm-tokenizer.c) on committed data.
 *
 * Golden ids: tests/data/llm/tokenizer-golden-{llama3,qwen2,spm}.txt, llama.cpp's
 * ids and pieces (tests/reference/make-llm-tokenizer-golden.py) for the
 * synthetic vocabularies tests/data/llm/vocab-*.gguf (make-llm-vocabs.py) over
 * tests/data/llm/tokenizer-corpus.txt. Broken metadata: small GGUFs written
 * here with kern_gguf_writer, each of which must fail with a message naming
 * the problem. Also pieces, special ids and the streaming UTF-8 decoder.
 * The real vocabularies (SmolLM2, Gemma 3) are in test-llm-tokenizer-models.c.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern-weights.h"
#include "llm-tokenizer-golden.h"
#include "llm-tokenizer.h"

static char *tmp_dir;

static char *
data_path(const char *name)
{
  const char *src = g_getenv("G_TEST_SRCDIR");
  return g_build_filename(src ? src : "tests", "data", "llm", name, NULL);
}

static llm_tokenizer *
open_vocab(const char *name)
{
  char *path = data_path(name);
  char *err = NULL;
  kern_weights *w = kern_weights_open(path, &err);
  if (!w)
    g_error("%s", err);
  llm_tokenizer *t = llm_tokenizer_new(w, &err);
  if (!t)
    g_error("%s", err);
  kern_weights_close(w);
  g_free(path);
  return t;
}

/* ---- golden ids --------------------------------------------------------------- */

static void
test_golden(gconstpointer data)
{
  const char *name = data;
  char *vocab = g_strdup_printf("vocab-%s.gguf", name);
  char *golden_name = g_strdup_printf("tokenizer-golden-%s.txt", name);
  char *golden = data_path(golden_name);
  llm_tokenizer *t = open_vocab(vocab);
  size_t eq, total;
  int bad = golden_check(t, golden, &eq, &total);
  g_test_message("%s: %zu/%zu ids equal to llama.cpp's, %d case(s) differ", name, eq, total, bad);
  g_assert_cmpint(bad, ==, 0);
  g_assert_cmpuint(eq, ==, total);
  g_assert_cmpuint(total, >, 500);
  llm_tokenizer_free(t);
  g_free(golden);
  g_free(golden_name);
  g_free(vocab);
}

/* ---- round trips and arbitrary bytes ------------------------------------------ */

/* Joined pieces (special = 0) of the ids. */
static GString *
join_pieces(const llm_tokenizer *t, const int32_t *ids, size_t n)
{
  GString *out = g_string_new(NULL);
  for (size_t i = 0; i < n; i++) {
    char buf[256];
    size_t k = llm_tokenizer_piece(t, ids[i], 0, buf, sizeof buf);
    g_assert_cmpuint(k, <=, sizeof buf);
    g_string_append_len(out, buf, (gssize)k);
  }
  return out;
}

static void
test_roundtrip(gconstpointer data)
{
  const char *name = data;
  char *vocab = g_strdup_printf("vocab-%s.gguf", name);
  llm_tokenizer *t = open_vocab(vocab);
  int spm = strcmp(llm_tokenizer_model(t), "spm") == 0;
  /* valid text: pieces give the text back (SPM: after the leading space it adds) */
  static const char *const pool[] = { "a", "b", "the", " ", "  ", "\n", "\r\n", "\t", "\xc3\xa9", "\xe4\xb8\xad",
                                      "\xf0\x9f\x98\x80", "1", "23", "4567", "'s", "'LL", "!", "?!", ".", "\xc2\xa0",
                                      "\xe3\x80\x80", "<|eot_id|>", "<tool_call>", "<0x41>", "Hello", "\xcc\x81" };
  GRand *r = g_rand_new_with_seed(3);
  int32_t *ids = NULL;
  size_t n, cap = 0;
  for (int iter = 0; iter < 400; iter++) {
    GString *text = g_string_new(NULL);
    int parts = g_rand_int_range(r, 0, 24);
    for (int k = 0; k < parts; k++)
      g_string_append(text, pool[g_rand_int_range(r, 0, G_N_ELEMENTS(pool))]);
    n = 0;
    g_assert_cmpint(llm_tokenizer_encode(t, text->str, text->len, 0, 0, &ids, &n, &cap), ==, 0);
    GString *back = join_pieces(t, ids, n);
    const char *want = text->str;
    char *with_space = NULL;
    if (spm && text->len)
      want = with_space = g_strconcat(" ", text->str, NULL);
    if (strcmp(back->str, want) != 0)
      g_error("%s: \"%s\" came back as \"%s\"", name, want, back->str);
    g_free(with_space);
    g_string_free(back, TRUE);
    g_string_free(text, TRUE);
  }
  /* arbitrary bytes: encoding succeeds, ids in range; SPM keeps every byte */
  for (int iter = 0; iter < 400; iter++) {
    char bytes[64];
    size_t len = (size_t)g_rand_int_range(r, 0, sizeof bytes);
    for (size_t k = 0; k < len; k++)
      bytes[k] = (char)g_rand_int_range(r, 0, 256);
    n = 0;
    g_assert_cmpint(llm_tokenizer_encode(t, bytes, len, 1, 1, &ids, &n, &cap), ==, 0);
    for (size_t k = 0; k < n; k++)
      g_assert_cmpint(ids[k], <, llm_tokenizer_n_vocab(t));
    for (size_t k = 0; k < n; k++)
      g_assert_cmpint(ids[k], >=, 0);
    if (spm) {
      n = 0;
      g_assert_cmpint(llm_tokenizer_encode(t, bytes, len, 0, 0, &ids, &n, &cap), ==, 0);
      GString *back = join_pieces(t, ids, n);
      /* every byte comes back after the added space (spaces are left out: a
       * lead byte of a broken sequence may swallow part of their U+2581) */
      if (len && !memchr(bytes, ' ', len)) {
        g_assert_cmpuint(back->len, ==, len + 1);
        g_assert_true(memcmp(back->str + 1, bytes, len) == 0);
      }
      g_string_free(back, TRUE);
    }
  }
  free(ids);
  g_rand_free(r);
  llm_tokenizer_free(t);
  g_free(vocab);
}

/* ---- special ids and pieces --------------------------------------------------- */

static void
test_specials(void)
{
  llm_tokenizer *t = open_vocab("vocab-llama3.gguf");
  g_assert_cmpstr(llm_tokenizer_model(t), ==, "bpe");
  g_assert_cmpstr(llm_tokenizer_pre(t), ==, "llama3");
  int32_t bot = llm_tokenizer_find(t, "<|begin_of_text|>"), eot = llm_tokenizer_find(t, "<|eot_id|>");
  int32_t eos = llm_tokenizer_find(t, "<|end_of_text|>");
  g_assert_cmpint(bot, >=, 0);
  g_assert_cmpint(llm_tokenizer_bos(t), ==, bot);
  g_assert_cmpint(llm_tokenizer_eos(t), ==, eos);
  g_assert_cmpint(llm_tokenizer_eot(t), ==, eot);
  g_assert_true(llm_tokenizer_add_bos(t));
  g_assert_false(llm_tokenizer_add_eos(t));
  g_assert_true(llm_tokenizer_is_eog(t, eot));
  g_assert_true(llm_tokenizer_is_eog(t, eos));
  g_assert_false(llm_tokenizer_is_eog(t, bot));
  g_assert_false(llm_tokenizer_is_eog(t, -1));
  g_assert_false(llm_tokenizer_is_eog(t, llm_tokenizer_n_vocab(t)));
  g_assert_cmpint(llm_tokenizer_find(t, "no such token text"), ==, -1);
  g_assert_cmpint(llm_tokenizer_find(t, ""), ==, -1);

  /* control pieces: "" unless special */
  char buf[64];
  g_assert_cmpuint(llm_tokenizer_piece(t, eot, 0, buf, sizeof buf), ==, 0);
  g_assert_cmpuint(llm_tokenizer_piece(t, eot, 1, buf, sizeof buf), ==, strlen("<|eot_id|>"));
  g_assert_true(memcmp(buf, "<|eot_id|>", 10) == 0);
  /* a piece longer than the buffer: full length returned, buffer filled */
  memset(buf, 'x', sizeof buf);
  g_assert_cmpuint(llm_tokenizer_piece(t, eot, 1, buf, 4), ==, 10);
  g_assert_true(memcmp(buf, "<|eo", 4) == 0 && buf[4] == 'x');
  g_assert_cmpuint(llm_tokenizer_piece(t, -1, 1, buf, sizeof buf), ==, 0);
  /* byte-level: "Ġ" is a space, "Ċ" a newline */
  int32_t sp = llm_tokenizer_find(t, "\xc4\xa0"), nl = llm_tokenizer_find(t, "\xc4\x8a");
  g_assert_cmpint(sp, >=, 0);
  g_assert_cmpuint(llm_tokenizer_piece(t, sp, 0, buf, sizeof buf), ==, 1);
  g_assert_cmpint(buf[0], ==, ' ');
  g_assert_cmpuint(llm_tokenizer_piece(t, nl, 0, buf, sizeof buf), ==, 1);
  g_assert_cmpint(buf[0], ==, '\n');

  /* encode: BOS only for empty text with add_special; bad arguments */
  int32_t *ids = NULL;
  size_t n = 0, cap = 0;
  g_assert_cmpint(llm_tokenizer_encode(t, "", 0, 1, 1, &ids, &n, &cap), ==, 0);
  g_assert_cmpuint(n, ==, 1);
  g_assert_cmpint(ids[0], ==, bot);
  g_assert_cmpint(llm_tokenizer_encode(t, NULL, 3, 1, 1, &ids, &n, &cap), ==, KERN_E_INVAL);
  /* appends */
  g_assert_cmpint(llm_tokenizer_encode(t, "<|eot_id|>", 10, 0, 1, &ids, &n, &cap), ==, 0);
  g_assert_cmpuint(n, ==, 2);
  g_assert_cmpint(ids[1], ==, eot);
  /* without parse_special the text is text */
  g_assert_cmpint(llm_tokenizer_encode(t, "<|eot_id|>", 10, 0, 0, &ids, &n, &cap), ==, 0);
  g_assert_cmpuint(n, >, 3);
  for (size_t i = 2; i < n; i++)
    g_assert_cmpint(ids[i], !=, eot);
  free(ids);
  llm_tokenizer_free(t);

  /* SPM: byte tokens and U+2581 */
  t = open_vocab("vocab-spm.gguf");
  g_assert_cmpstr(llm_tokenizer_model(t), ==, "spm");
  g_assert_cmpint(llm_tokenizer_unk(t), ==, 0);
  g_assert_cmpint(llm_tokenizer_bos(t), ==, 1);
  g_assert_cmpint(llm_tokenizer_eos(t), ==, 2);
  int32_t b41 = llm_tokenizer_find(t, "<0x41>");
  g_assert_cmpint(b41, >, 2);
  g_assert_cmpuint(llm_tokenizer_attr(t, b41), ==, LLM_TOKEN_BYTE);
  g_assert_cmpuint(llm_tokenizer_piece(t, b41, 0, buf, sizeof buf), ==, 1);
  g_assert_cmpint(buf[0], ==, 'A');
  int32_t m = llm_tokenizer_find(t, "\xe2\x96\x81the");
  g_assert_cmpint(m, >, 0);
  g_assert_cmpuint(llm_tokenizer_piece(t, m, 0, buf, sizeof buf), ==, 4);
  g_assert_true(memcmp(buf, " the", 4) == 0);
  /* a character outside the vocabulary falls back to its UTF-8 bytes */
  ids = NULL, n = 0, cap = 0;
  g_assert_cmpint(llm_tokenizer_encode(t, "\xe4\xb8\x80", 3, 0, 0, &ids, &n, &cap), ==, 0);
  g_assert_cmpint(ids[n - 1], ==, llm_tokenizer_find(t, "<0x80>"));
  g_assert_cmpint(ids[n - 2], ==, llm_tokenizer_find(t, "<0xB8>"));
  g_assert_cmpint(ids[n - 3], ==, llm_tokenizer_find(t, "<0xE4>"));
  free(ids);
  llm_tokenizer_free(t);
}

/* ---- broken metadata ---------------------------------------------------------- */

enum {
  BROKEN_NONE,
  BROKEN_NO_MODEL,
  BROKEN_MODEL_BERT,
  BROKEN_EMPTY,
  BROKEN_TOKENS_INTS,
  BROKEN_SCORES_SHORT,
  BROKEN_SCORES_STRINGS,
  BROKEN_TYPES_SHORT,
  BROKEN_TYPES_FLOATS,
  BROKEN_TYPE_VALUE,
  BROKEN_BOS_RANGE,
  BROKEN_EOS_STRING,
  BROKEN_BYTE_TOKEN,
  BROKEN_PRE_UNKNOWN,
  BROKEN_NO_MERGES,
  BROKEN_MERGE_UNKNOWN,
  BROKEN_MERGE_NO_SPACE,
  BROKEN_MERGE_RESULT,
};

static const struct {
  const char *name;
  int bpe;
  const char *msg; /* part of the expected message */
} broken_cases[] = {
  [BROKEN_NONE] = { "spm-ok", 0, NULL },
  [BROKEN_NO_MODEL] = { "no-model", 0, "tokenizer.ggml.model is missing" },
  [BROKEN_MODEL_BERT] = { "model-bert", 0, "\"bert\" is not supported" },
  [BROKEN_EMPTY] = { "empty", 0, "tokenizer.ggml.tokens is empty" },
  [BROKEN_TOKENS_INTS] = { "tokens-ints", 0, "tokenizer.ggml.tokens is not an array of strings" },
  [BROKEN_SCORES_SHORT] = { "scores-short", 0, "tokenizer.ggml.scores has 3 entries, tokenizer.ggml.tokens 5" },
  [BROKEN_SCORES_STRINGS] = { "scores-strings", 0, "tokenizer.ggml.scores is not an array of numbers" },
  [BROKEN_TYPES_SHORT] = { "types-short", 0, "tokenizer.ggml.token_type has 4 entries" },
  [BROKEN_TYPES_FLOATS] = { "types-floats", 0, "tokenizer.ggml.token_type is not an array of integers" },
  [BROKEN_TYPE_VALUE] = { "type-value", 0, "token_type[4] = 9 is not a token type" },
  [BROKEN_BOS_RANGE] = { "bos-range", 0, "tokenizer.ggml.bos_token_id = 5 is outside the vocabulary (5 tokens)" },
  [BROKEN_EOS_STRING] = { "eos-string", 0, "tokenizer.ggml.eos_token_id is not an integer" },
  [BROKEN_BYTE_TOKEN] = { "byte-token", 0, "byte token 3 is \"<0xZZ>\", not <0xXX>" },
  [BROKEN_PRE_UNKNOWN] = { "pre-unknown", 1, "tokenizer.ggml.pre \"no-such-pre\" is not a pre-tokenizer" },
  [BROKEN_NO_MERGES] = { "no-merges", 1, "tokenizer.ggml.merges is missing" },
  [BROKEN_MERGE_UNKNOWN] = { "merge-unknown", 1, "merges[1] \"a q\" names a token not in the vocabulary" },
  [BROKEN_MERGE_NO_SPACE] = { "merge-no-space", 1, "merges[0] \"ab\" is not two tokens separated by a space" },
  [BROKEN_MERGE_RESULT] = { "merge-result", 1, "merges[1] \"b c\" makes a token not in the vocabulary" },
};

static char *
write_broken(int which)
{
  kern_gguf_writer *g = kern_gguf_writer_new();
  kern_gguf_set_string(g, "general.architecture", "llama");
  if (!broken_cases[which].bpe) {
    const char *tok[] = { "<unk>", "<s>", "</s>", which == BROKEN_BYTE_TOKEN ? "<0xZZ>" : "<0x41>", "\xe2\x96\x81" "a" };
    int32_t types[] = { 2, 3, 3, 6, which == BROKEN_TYPE_VALUE ? 9 : 1 };
    float scores[] = { 0, 0, 0, 0, -1 };
    if (which != BROKEN_NO_MODEL)
      kern_gguf_set_string(g, "tokenizer.ggml.model", which == BROKEN_MODEL_BERT ? "bert" : "llama");
    if (which == BROKEN_TOKENS_INTS)
      kern_gguf_set_array(g, "tokenizer.ggml.tokens", KERN_META_I32, types, 5);
    else
      kern_gguf_set_string_array(g, "tokenizer.ggml.tokens", tok, which == BROKEN_EMPTY ? 0 : 5);
    if (which == BROKEN_SCORES_STRINGS)
      kern_gguf_set_string_array(g, "tokenizer.ggml.scores", tok, 5);
    else if (which != BROKEN_EMPTY)
      kern_gguf_set_array(g, "tokenizer.ggml.scores", KERN_META_F32, scores, which == BROKEN_SCORES_SHORT ? 3 : 5);
    if (which == BROKEN_TYPES_FLOATS)
      kern_gguf_set_array(g, "tokenizer.ggml.token_type", KERN_META_F32, scores, 5);
    else if (which != BROKEN_EMPTY)
      kern_gguf_set_array(g, "tokenizer.ggml.token_type", KERN_META_I32, types, which == BROKEN_TYPES_SHORT ? 4 : 5);
    kern_gguf_set_u32(g, "tokenizer.ggml.bos_token_id", which == BROKEN_BOS_RANGE ? 5 : 1);
    if (which == BROKEN_EOS_STRING)
      kern_gguf_set_string(g, "tokenizer.ggml.eos_token_id", "2");
    else
      kern_gguf_set_u32(g, "tokenizer.ggml.eos_token_id", 2);
  } else {
    const char *tok[] = { "a", "b", "c", "ab", "abc", "<|endoftext|>" };
    const char *merges_ok[] = { "a b", "ab c" };
    const char *merges_unknown[] = { "a b", "a q" };
    const char *merges_nospace[] = { "ab" };
    const char *merges_result[] = { "a b", "b c" };
    kern_gguf_set_string(g, "tokenizer.ggml.model", "gpt2");
    kern_gguf_set_string(g, "tokenizer.ggml.pre", which == BROKEN_PRE_UNKNOWN ? "no-such-pre" : "gpt-2");
    kern_gguf_set_string_array(g, "tokenizer.ggml.tokens", tok, 6);
    if (which == BROKEN_MERGE_UNKNOWN)
      kern_gguf_set_string_array(g, "tokenizer.ggml.merges", merges_unknown, 2);
    else if (which == BROKEN_MERGE_NO_SPACE)
      kern_gguf_set_string_array(g, "tokenizer.ggml.merges", merges_nospace, 1);
    else if (which == BROKEN_MERGE_RESULT)
      kern_gguf_set_string_array(g, "tokenizer.ggml.merges", merges_result, 2);
    else if (which != BROKEN_NO_MERGES)
      kern_gguf_set_string_array(g, "tokenizer.ggml.merges", merges_ok, 2);
  }
  char *name = g_strdup_printf("%s.gguf", broken_cases[which].name);
  char *path = g_build_filename(tmp_dir, name, NULL);
  g_free(name);
  char *err = NULL;
  if (kern_gguf_write(g, path, &err) != 0)
    g_error("%s", err);
  kern_gguf_writer_free(g);
  return path;
}

static void
test_broken(void)
{
  for (size_t i = 0; i < G_N_ELEMENTS(broken_cases); i++) {
    char *path = write_broken((int)i);
    char *err = NULL;
    kern_weights *w = kern_weights_open(path, &err);
    if (!w)
      g_error("%s", err);
    llm_tokenizer *t = llm_tokenizer_new(w, &err);
    if (!broken_cases[i].msg) {
      if (!t)
        g_error("%s: %s", broken_cases[i].name, err);
      g_assert_cmpint(llm_tokenizer_n_vocab(t), ==, 5);
      llm_tokenizer_free(t);
    } else {
      if (t)
        g_error("%s: accepted", broken_cases[i].name);
      g_assert_nonnull(err);
      g_test_message("%s: %s", broken_cases[i].name, err);
      if (!strstr(err, broken_cases[i].msg))
        g_error("%s: message \"%s\" lacks \"%s\"", broken_cases[i].name, err, broken_cases[i].msg);
      g_assert_true(g_str_has_prefix(err, path));
      free(err);
    }
    kern_weights_close(w);
    g_unlink(path);
    g_free(path);
  }
}

/* A BPE vocabulary where the order of merges decides: "abc" from a+b, then ab+c. */
static void
test_bpe_merge_order(void)
{
  char *path = write_broken(BROKEN_NO_MERGES);
  g_unlink(path);
  g_free(path);
  kern_gguf_writer *g = kern_gguf_writer_new();
  const char *tok[] = { "a", "b", "c", "ab", "bc", "abc", "\xc4\xa0" };
  const char *merges[] = { "b c", "a b", "ab c" };
  kern_gguf_set_string(g, "tokenizer.ggml.model", "gpt2");
  kern_gguf_set_string(g, "tokenizer.ggml.pre", "gpt-2");
  kern_gguf_set_string_array(g, "tokenizer.ggml.tokens", tok, 7);
  kern_gguf_set_string_array(g, "tokenizer.ggml.merges", merges, 3);
  path = g_build_filename(tmp_dir, "order.gguf", NULL);
  g_assert_cmpint(kern_gguf_write(g, path, NULL), ==, 0);
  kern_gguf_writer_free(g);
  kern_weights *w = kern_weights_open(path, NULL);
  llm_tokenizer *t = llm_tokenizer_new(w, NULL);
  g_assert_nonnull(t);
  int32_t *ids = NULL;
  size_t n = 0, cap = 0;
  /* "b c" ranks first: a + bc, and "abc" is never reached */
  g_assert_cmpint(llm_tokenizer_encode(t, "abc", 3, 1, 1, &ids, &n, &cap), ==, 0);
  g_assert_cmpuint(n, ==, 2);
  g_assert_cmpint(ids[0], ==, 0);
  g_assert_cmpint(ids[1], ==, 4);
  /* "ab" then " " (no merge), and bytes the vocabulary lacks are dropped */
  n = 0;
  g_assert_cmpint(llm_tokenizer_encode(t, "ab zz", 5, 0, 0, &ids, &n, &cap), ==, 0);
  g_assert_cmpuint(n, ==, 2);
  g_assert_cmpint(ids[0], ==, 3);
  g_assert_cmpint(ids[1], ==, 6);
  g_assert_cmpint(llm_tokenizer_bos(t), ==, -1);
  free(ids);
  llm_tokenizer_free(t);
  kern_weights_close(w);
  g_unlink(path);
  g_free(path);
}

/* Structured fuzzing: a real vocabulary's metadata with random damage
 * (tokens replaced, merges rewritten, types and special ids out of range).
 * Each file must give a tokenizer that encodes to in-range ids, or an error. */
static void
test_mutations(gconstpointer data)
{
  const char *name = data;
  char *src_name = g_strdup_printf("vocab-%s.gguf", name);
  char *src = data_path(src_name);
  kern_weights *w = kern_weights_open(src, NULL);
  g_assert_nonnull(w);
  GRand *r = g_rand_new_with_seed(17);
  char *path = g_build_filename(tmp_dir, "mutated.gguf", NULL);
  int accepted = 0, refused = 0;
  for (int iter = 0; iter < 150; iter++) {
    kern_gguf_writer *g = kern_gguf_writer_new();
    for (int64_t i = 0; i < kern_weights_n_meta(w); i++) {
      const char *key;
      const kern_meta *m = kern_weights_meta_at(w, i, &key);
      int mutate = g_rand_int_range(r, 0, 3) == 0;
      if (mutate && m->type == KERN_META_ARRAY && m->elem_type == KERN_META_STRING) {
        const char **v = g_new(const char *, m->n + 1);
        char **owned = g_new0(char *, m->n + 1);
        for (uint64_t k = 0; k < m->n; k++)
          v[k] = m->v.items[k].v.str;
        for (int k = 0; k < 5 && m->n; k++) {
          uint64_t at = (uint64_t)g_rand_int_range(r, 0, (gint32)m->n);
          if (!owned[at]) {
            static const char *const junk[] = { "", " ", "a", "<0xZZ>", "<0x4", "x y z", "\xc4\xa0 ", "<|eot_id|>", "  " };
            owned[at] = g_strdup(junk[g_rand_int_range(r, 0, G_N_ELEMENTS(junk))]);
            v[at] = owned[at];
          }
        }
        uint64_t n = m->n;
        if (g_rand_int_range(r, 0, 4) == 0)
          n = (uint64_t)g_rand_int_range(r, 0, (gint32)m->n + 1); /* truncated */
        kern_gguf_set_string_array(g, key, v, n);
        for (uint64_t k = 0; k < m->n; k++)
          g_free(owned[k]);
        g_free(owned);
        g_free(v);
      } else if (mutate && m->type == KERN_META_ARRAY && m->elem_type != KERN_META_STRING) {
        int32_t *v = g_new(int32_t, m->n + 1);
        for (uint64_t k = 0; k < m->n; k++) {
          int64_t x = 0;
          double d = 0;
          if (kern_meta_array_int(m, k, &x) != 0 && kern_meta_array_float(m, k, &d) == 0)
            x = (int64_t)d;
          v[k] = (int32_t)x;
        }
        for (int k = 0; k < 5 && m->n; k++)
          v[g_rand_int_range(r, 0, (gint32)m->n)] = g_rand_int_range(r, -2, 9);
        kern_gguf_set_array(g, key, KERN_META_I32, v, m->n - (g_rand_boolean(r) ? 0 : 1));
        g_free(v);
      } else if (mutate && g_str_has_suffix(key, "_token_id")) {
        kern_gguf_set_i32(g, key, g_rand_int_range(r, -2, 1300));
      } else if (mutate && g_rand_boolean(r)) {
        continue; /* dropped */
      } else {
        kern_gguf_set_meta(g, key, m);
      }
    }
    char *err = NULL;
    if (kern_gguf_write(g, path, &err) != 0)
      g_error("%s", err);
    kern_gguf_writer_free(g);
    kern_weights *mw = kern_weights_open(path, &err);
    if (!mw) {
      free(err);
      continue;
    }
    llm_tokenizer *t = llm_tokenizer_new(mw, &err);
    if (t) {
      accepted++;
      static const char text[] = "Hello world, it's 2024! <|eot_id|> caf\xc3\xa9 \xe4\xb8\xad\n\n  x";
      int32_t *ids = NULL;
      size_t n = 0, cap = 0;
      g_assert_cmpint(llm_tokenizer_encode(t, text, sizeof text - 1, 1, 1, &ids, &n, &cap), ==, 0);
      for (size_t k = 0; k < n; k++) {
        g_assert_cmpint(ids[k], >=, 0);
        g_assert_cmpint(ids[k], <, llm_tokenizer_n_vocab(t));
        char buf[64];
        llm_tokenizer_piece(t, ids[k], 1, buf, sizeof buf);
      }
      free(ids);
      llm_tokenizer_free(t);
    } else {
      refused++;
      g_assert_nonnull(err);
      if (refused <= 4)
        g_test_message("refused: %s", err);
      free(err);
    }
    kern_weights_close(mw);
  }
  g_test_message("%s: %d mutated files accepted, %d refused with a message", name, accepted, refused);
  g_assert_cmpint(refused, >, 0);
  g_unlink(path);
  g_free(path);
  g_rand_free(r);
  kern_weights_close(w);
  g_free(src);
  g_free(src_name);
}

/* Every tokenizer.ggml.pre name llama.cpp knows, on vocab-xbpe.gguf's
 * tokens and merges (which cross word boundaries, so every cut shows): where this tokenizer takes the name, the hash of all its
 * ids over the corpus must equal llama.cpp's (tokenizer-golden-pre.txt). */
static void
test_pre_names(void)
{
  char *path = data_path("tokenizer-golden-pre.txt"), *data;
  g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
  char **lines = g_strsplit(data, "\n", -1);
  g_free(data);
  g_assert_cmpstr(lines[0], ==, "HARK-LLM-TOKENIZER-PRE-GOLDEN 1");
  char *corpus_path = data_path("tokenizer-corpus.txt"), *corpus;
  gsize corpus_len;
  g_assert_true(g_file_get_contents(corpus_path, &corpus, &corpus_len, NULL));
  /* the cases, as the golden script cuts them, then the whole file */
  GPtrArray *cases = g_ptr_array_new_with_free_func(g_free);
  GArray *lens = g_array_new(FALSE, FALSE, sizeof(gsize));
  for (const char *p = corpus;;) {
    const char *sep = strstr(p, "\n=====\n");
    gsize n = sep ? (gsize)(sep - p) : (gsize)(corpus + corpus_len - p);
    g_ptr_array_add(cases, g_memdup2(p, n + 1));
    g_array_append_val(lens, n);
    if (!sep)
      break;
    p = sep + 7;
  }
  g_ptr_array_add(cases, g_memdup2(corpus, corpus_len + 1));
  g_array_append_val(lens, corpus_len);

  char *src = data_path("vocab-xbpe.gguf");
  kern_weights *w = kern_weights_open(src, NULL);
  g_assert_nonnull(w);
  char *out = g_build_filename(tmp_dir, "pre.gguf", NULL);
  int checked = 0, unsupported = 0;
  GString *skipped = g_string_new(NULL), *wrong = g_string_new(NULL);
  for (int li = 3; lines[li] && lines[li][0]; li++) {
    char name[64], hash[65];
    unsigned long n_ids;
    g_assert_cmpint(sscanf(lines[li], "%63s %lu %64s", name, &n_ids, hash), ==, 3);
    kern_gguf_writer *g = kern_gguf_writer_new();
    for (int64_t i = 0; i < kern_weights_n_meta(w); i++) {
      const char *key;
      const kern_meta *m = kern_weights_meta_at(w, i, &key);
      if (strcmp(key, "tokenizer.ggml.pre") != 0)
        kern_gguf_set_meta(g, key, m);
    }
    kern_gguf_set_string(g, "tokenizer.ggml.pre", name);
    g_assert_cmpint(kern_gguf_write(g, out, NULL), ==, 0);
    kern_gguf_writer_free(g);
    kern_weights *pw = kern_weights_open(out, NULL);
    char *err = NULL;
    llm_tokenizer *t = llm_tokenizer_new(pw, &err);
    kern_weights_close(pw);
    if (!t) {
      g_assert_nonnull(strstr(err, "is not a pre-tokenizer this build knows"));
      g_string_append_printf(skipped, " %s", name);
      unsupported++;
      free(err);
      continue;
    }
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    unsigned long total = 0;
    int32_t *ids = NULL;
    size_t cap = 0;
    for (guint c = 0; c < cases->len; c++) {
      for (int mode = 1; mode >= 0; mode--) {
        size_t n = 0;
        g_assert_cmpint(llm_tokenizer_encode(t, cases->pdata[c], g_array_index(lens, gsize, c), mode, mode, &ids, &n,
                                             &cap),
                        ==, 0);
        char *line = golden_ids_str(ids, n);
        g_checksum_update(sum, (const guchar *)line, (gssize)strlen(line));
        g_checksum_update(sum, (const guchar *)"\n", 1);
        g_free(line);
        total += n;
      }
    }
    if (strcmp(g_checksum_get_string(sum), hash) != 0)
      g_string_append_printf(wrong, "\n  %s (as %s): %lu ids, llama.cpp %lu", name, llm_tokenizer_pre(t), total,
                             n_ids);
    else
      checked++;
    g_checksum_free(sum);
    free(ids);
    llm_tokenizer_free(t);
  }
  g_test_message("%d pre-tokenizer names give llama.cpp's ids; %d not supported:%s", checked, unsupported,
                 skipped->str);
  if (wrong->len)
    g_error("ids differ from llama.cpp's for:%s", wrong->str);
  g_assert_cmpint(checked, >=, 30);
  g_string_free(skipped, TRUE);
  g_string_free(wrong, TRUE);
  g_unlink(out);
  g_free(out);
  kern_weights_close(w);
  g_free(src);
  g_array_unref(lens);
  g_ptr_array_unref(cases);
  g_free(corpus);
  g_free(corpus_path);
  g_strfreev(lines);
  g_free(path);
}

/* ---- streaming UTF-8 ---------------------------------------------------------- */

static char *
feed_all(const char *in, size_t n, const size_t *cuts, size_t n_cuts)
{
  llm_utf8_stream s = { 0 };
  GString *out = g_string_new(NULL);
  size_t at = 0;
  for (size_t c = 0; c <= n_cuts; c++) {
    size_t end = c < n_cuts ? cuts[c] : n;
    char buf[LLM_UTF8_STREAM_CAP(64)];
    g_assert_cmpuint(end - at, <=, 64);
    size_t k = llm_utf8_stream_feed(&s, in + at, end - at, buf, sizeof buf);
    g_assert_cmpuint(k, !=, SIZE_MAX);
    g_assert_true(k == 0 || g_utf8_validate(buf, (gssize)k, NULL));
    g_string_append_len(out, buf, (gssize)k);
    at = end;
  }
  char buf[8];
  g_string_append_len(out, buf, (gssize)llm_utf8_stream_flush(&s, buf, sizeof buf));
  return g_string_free(out, FALSE);
}

static void
test_utf8_stream(void)
{
  static const struct {
    const char *in;
    size_t n;
    const char *want;
  } cases[] = {
    { "\xe2\x82\xac", 3, "\xe2\x82\xac" },
    { "a\xe2\x28" "b", 4, "a\xef\xbf\xbd(b" },
    { "\xf0\x9f\x98", 3, "\xef\xbf\xbd" },                            /* cut short: one U+FFFD at the end */
    { "\xc0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd" },                    /* C0 never leads */
    { "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },    /* surrogate */
    { "\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* past U+10FFFF */
    { "\xe0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd" },                    /* overlong */
    { "\xf0\x9f\x98\x80\xf0\x9f", 6, "\xf0\x9f\x98\x80\xef\xbf\xbd" },
    { "x\xff", 2, "x\xef\xbf\xbd" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    /* whole, and cut at every place */
    char *got = feed_all(cases[i].in, cases[i].n, NULL, 0);
    g_assert_cmpstr(got, ==, cases[i].want);
    g_free(got);
    for (size_t c = 0; c <= cases[i].n; c++) {
      got = feed_all(cases[i].in, cases[i].n, &c, 1);
      g_assert_cmpstr(got, ==, cases[i].want);
      g_free(got);
    }
  }
  /* a held-back prefix is not output until complete */
  llm_utf8_stream s = { 0 };
  char buf[LLM_UTF8_STREAM_CAP(4)];
  g_assert_cmpuint(llm_utf8_stream_feed(&s, "\xf0\x9f", 2, buf, sizeof buf), ==, 0);
  g_assert_cmpuint(llm_utf8_stream_feed(&s, "\x8e", 1, buf, sizeof buf), ==, 0);
  g_assert_cmpuint(llm_utf8_stream_feed(&s, "\x89!", 2, buf, sizeof buf), ==, 5);
  g_assert_cmpstr(buf, ==, "\xf0\x9f\x8e\x89!");
  g_assert_cmpuint(llm_utf8_stream_feed(&s, "abc", 3, buf, 8), ==, SIZE_MAX); /* too small */

  /* random bytes cut anywhere give what one feed gives, always valid */
  GRand *r = g_rand_new_with_seed(5);
  for (int iter = 0; iter < 2000; iter++) {
    char in[32];
    size_t n = (size_t)g_rand_int_range(r, 0, 32);
    static const guint8 pool[] = { 'a', 0x80, 0xBF, 0xC2, 0xDF, 0xE0, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xA0, 0x9F, 0x90 };
    for (size_t k = 0; k < n; k++)
      in[k] = (char)pool[g_rand_int_range(r, 0, G_N_ELEMENTS(pool))];
    size_t cuts[3];
    size_t n_cuts = n ? 3 : 0;
    for (size_t k = 0; k < n_cuts; k++)
      cuts[k] = (size_t)g_rand_int_range(r, 0, (gint32)n + 1);
    if (n_cuts) {
      for (size_t a = 0; a < n_cuts; a++)
        for (size_t b = a + 1; b < n_cuts; b++)
          if (cuts[b] < cuts[a]) {
            size_t tmp = cuts[a];
            cuts[a] = cuts[b];
            cuts[b] = tmp;
          }
    }
    char *whole = feed_all(in, n, NULL, 0);
    char *cut = feed_all(in, n, cuts, n_cuts);
    g_assert_cmpstr(whole, ==, cut);
    g_assert_true(g_utf8_validate(whole, -1, NULL));
    g_free(whole);
    g_free(cut);
  }
  g_rand_free(r);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  tmp_dir = g_dir_make_tmp("hark-llm-tok-XXXXXX", NULL);
  g_test_add_data_func("/llm/tokenizer/golden/llama3", "llama3", test_golden);
  g_test_add_data_func("/llm/tokenizer/golden/qwen2", "qwen2", test_golden);
  g_test_add_data_func("/llm/tokenizer/golden/gpt2", "gpt2", test_golden);
  g_test_add_data_func("/llm/tokenizer/golden/default", "default", test_golden);
  g_test_add_data_func("/llm/tokenizer/golden/spm", "spm", test_golden);
  g_test_add_func("/llm/tokenizer/specials", test_specials);
  static const char *const roundtrip_vocabs[] = { "llama3", "qwen2", "gpt2", "default", "spm" };
  for (size_t i = 0; i < G_N_ELEMENTS(roundtrip_vocabs); i++) {
    char *p = g_strdup_printf("/llm/tokenizer/roundtrip/%s", roundtrip_vocabs[i]);
    g_test_add_data_func(p, roundtrip_vocabs[i], test_roundtrip);
    g_free(p);
  }
  g_test_add_func("/llm/tokenizer/broken", test_broken);
  g_test_add_func("/llm/tokenizer/bpe-merge-order", test_bpe_merge_order);
  g_test_add_func("/llm/tokenizer/utf8-stream", test_utf8_stream);
  g_test_add_func("/llm/tokenizer/pre-names", test_pre_names);
  g_test_add_data_func("/llm/tokenizer/mutations/llama3", "llama3", test_mutations);
  g_test_add_data_func("/llm/tokenizer/mutations/spm", "spm", test_mutations);
  int rc = g_test_run();
  g_rmdir(tmp_dir);
  g_free(tmp_dir);
  return rc;
}
