/* test-audio-tokenizer.c: the Whisper tokenizer (aud-tokenizer.c) against
 * openai-whisper's own (tiktoken).
 *
 * Inputs: tests/data/tokenizer-golden.txt, written by
 * tests/reference/make-tokenizer-golden.py from tests/data/tokenizer-corpus.txt;
 * the real vocabularies: whisper.cpp's base and base.en files in
 * shared/data/ggml-format (skipped when absent) and, when
 * $HARK_TEST_MODELS_DIR/whisper-base-ct2 exists, faster-whisper's base model
 * directory (vocabulary.json; tokenizer.json too when present). A small
 * synthetic vocabulary covers the API without any of them.
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aud-tokenizer.h"
#include "kern-json.h"
#include "kern-weights.h"

/* ---- helpers ----------------------------------------------------------------- */

static char *
shared_file(const char *name)
{
  const char *root = g_getenv("HARK_SOURCE_ROOT");
  char *p = g_build_filename(root ? root : ".", "..", "shared", "data", "ggml-format", name, NULL);
  if (!g_file_test(p, G_FILE_TEST_EXISTS)) {
    char *msg = g_strdup_printf("%s is absent (shared test data)", p);
    g_test_skip(msg);
    g_free(msg);
    g_free(p);
    return NULL;
  }
  return p;
}

/* $HARK_TEST_MODELS_DIR/whisper-base-ct2, or NULL (and a skip). */
static char *
ct2_dir(void)
{
  const char *models = g_getenv("HARK_TEST_MODELS_DIR");
  char *dir = models ? g_build_filename(models, "whisper-base-ct2", NULL) : NULL;
  if (!dir || !g_file_test(dir, G_FILE_TEST_IS_DIR)) {
    g_test_skip("set HARK_TEST_MODELS_DIR to a folder with whisper-base-ct2/ (faster-whisper base) to run this");
    g_free(dir);
    return NULL;
  }
  return dir;
}

static aud_tokenizer *
open_ggml(const char *name, int n_vocab_override)
{
  char *path = shared_file(name);
  if (!path)
    return NULL;
  char *err = NULL;
  kern_weights *w = kern_weights_open(path, &err);
  if (!w)
    g_error("%s", err);
  aud_tokenizer *t;
  if (n_vocab_override) {
    /* the same tokens laid out for another n_vocab (large-v3: 51866) */
    const kern_meta *m = kern_weights_get_meta(w, "tokenizer.token_bytes");
    g_assert_nonnull(m);
    const char **tok = g_new(const char *, m->n);
    size_t *len = g_new(size_t, m->n);
    for (uint64_t i = 0; i < m->n; i++) {
      tok[i] = m->v.items[i].v.raw;
      len[i] = (size_t)m->v.items[i].n;
    }
    t = aud_tokenizer_new(tok, len, (size_t)m->n, n_vocab_override, 0, &err);
    g_free(tok);
    g_free(len);
  } else {
    t = aud_tokenizer_from_weights(w, &err);
  }
  if (!t)
    g_error("%s: %s", path, err);
  kern_weights_close(w);
  g_free(path);
  return t;
}

static GByteArray *
unhex(const char *s)
{
  GByteArray *b = g_byte_array_new();
  size_t n = strlen(s);
  g_assert_true(n % 2 == 0);
  for (size_t i = 0; i < n; i += 2) {
    guint8 v = (guint8)(g_ascii_xdigit_value(s[i]) * 16 + g_ascii_xdigit_value(s[i + 1]));
    g_byte_array_append(b, &v, 1);
  }
  return b;
}

static GArray *
parse_ids(char **tok)
{
  GArray *a = g_array_new(FALSE, FALSE, sizeof(int32_t));
  for (; *tok; tok++) {
    if (!**tok)
      continue;
    int32_t v = (int32_t)g_ascii_strtoll(*tok, NULL, 10);
    g_array_append_val(a, v);
  }
  return a;
}

static char *
ids_str(const int32_t *v, size_t n)
{
  GString *s = g_string_new(NULL);
  for (size_t i = 0; i < n; i++)
    g_string_append_printf(s, "%s%d", i ? " " : "", v[i]);
  return g_string_free(s, FALSE);
}

/* ---- golden file --------------------------------------------------------------- */

typedef struct {
  char **lines;
  int n_vocab;
} golden_section;

static char **golden_lines;

/* The lines of the index-th section (0: gpt2, 1: multilingual, 2: large-v3), up to "end". */
static golden_section
golden_get(int index)
{
  if (!golden_lines) {
    char *path = g_test_build_filename(G_TEST_DIST, "data", "tokenizer-golden.txt", NULL);
    char *text = NULL;
    GError *error = NULL;
    g_file_get_contents(path, &text, NULL, &error);
    g_assert_no_error(error);
    golden_lines = g_strsplit(text, "\n", -1);
    g_free(text);
    g_free(path);
  }
  golden_section s = { NULL, 0 };
  int k = -1;
  for (char **l = golden_lines; *l; l++)
    if (g_str_has_prefix(*l, "section ") && ++k == index) {
      s.lines = l;
      char **f = g_strsplit(*l, " ", -1);
      s.n_vocab = atoi(f[2]);
      g_strfreev(f);
      break;
    }
  g_assert_nonnull(s.lines);
  return s;
}

static int32_t
special_by_name(const aud_tokenizer_specials *sp, const char *name)
{
  static const struct {
    const char *name;
    size_t off;
  } fields[] = {
    { "eot", offsetof(aud_tokenizer_specials, eot) },
    { "sot", offsetof(aud_tokenizer_specials, sot) },
    { "translate", offsetof(aud_tokenizer_specials, translate) },
    { "transcribe", offsetof(aud_tokenizer_specials, transcribe) },
    { "sot_lm", offsetof(aud_tokenizer_specials, sot_lm) },
    { "sot_prev", offsetof(aud_tokenizer_specials, sot_prev) },
    { "no_speech", offsetof(aud_tokenizer_specials, no_speech) },
    { "no_timestamps", offsetof(aud_tokenizer_specials, no_timestamps) },
    { "timestamp_begin", offsetof(aud_tokenizer_specials, timestamp_begin) },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(fields); i++)
    if (strcmp(fields[i].name, name) == 0)
      return *(const int32_t *)((const char *)sp + fields[i].off);
  g_error("unknown special %s", name);
  return -1;
}

static int
check_list(const char *what, const int32_t *got, size_t n, GArray *want)
{
  if (n == want->len && (n == 0 || memcmp(got, want->data, n * sizeof(int32_t)) == 0))
    return 0;
  char *a = ids_str(got, n), *b = ids_str((const int32_t *)(void *)want->data, want->len);
  g_test_message("%s differs:\n  got  %s\n  want %s", what, a, b);
  g_free(a);
  g_free(b);
  return 1;
}

/* Checks a tokenizer against one golden section; every mismatch is reported. */
static void
check_golden(const aud_tokenizer *t, int section, const char *label)
{
  golden_section gs = golden_get(section);
  const aud_tokenizer_specials *sp = aud_tokenizer_get_specials(t);
  int bad = 0, n_enc = 0, n_dec = 0, n_lang = 0;
  for (char **l = gs.lines; *l && strcmp(*l, "end") != 0; l++) {
    char **f = g_strsplit(*l, " ", -1);
    if (strcmp(f[0], "section") == 0) {
      g_assert_cmpint(aud_tokenizer_n_vocab(t), ==, atoi(f[2]));
      g_assert_cmpint(aud_tokenizer_n_languages(t), ==, atoi(f[3]));
      g_assert_cmpint(aud_tokenizer_is_multilingual(t), ==, strcmp(f[1], "gpt2") != 0);
    } else if (strcmp(f[0], "special") == 0) {
      g_assert_cmpint(special_by_name(sp, f[1]), ==, atoi(f[2]));
    } else if (strcmp(f[0], "lang") == 0) {
      g_assert_cmpint(aud_tokenizer_language_id(t, f[1]), ==, atoi(f[2]));
      g_assert_cmpstr(aud_tokenizer_language_code(t, atoi(f[2])), ==, f[1]);
      n_lang++;
    } else if (strcmp(f[0], "non_speech") == 0 || strcmp(f[0], "suppress") == 0) {
      GArray *want = parse_ids(f + 1);
      size_t n;
      const int32_t *got = f[0][0] == 'n' ? aud_tokenizer_non_speech_tokens(t, &n) : aud_tokenizer_suppress_tokens(t, &n);
      bad += check_list(f[0], got, n, want);
      g_array_unref(want);
    } else if (strcmp(f[0], "sot_sequence") == 0) {
      GArray *want = parse_ids(f + 3);
      int32_t got[3];
      int n = aud_tokenizer_sot_sequence(t, strcmp(f[1], "-") ? f[1] : NULL, strcmp(f[2], "translate") == 0, got);
      g_assert_cmpint(n, >, 0);
      bad += check_list("sot_sequence", got, (size_t)n, want);
      g_array_unref(want);
    } else if (strcmp(f[0], "encode") == 0) {
      GByteArray *text = unhex(f[1]);
      GArray *want = parse_ids(f + 3);
      size_t cap = text->len * 2 + 8, n = 0;
      int32_t *got = g_new(int32_t, cap);
      g_assert_cmpint(aud_tokenizer_encode_n(t, (const char *)text->data, text->len, got, cap, &n), ==, 0);
      if (check_list("encode", got, n, want)) {
        g_test_message("  text: \"%.*s\"", (int)text->len, (const char *)text->data);
        bad++;
      }
      /* round trip: the bytes back exactly */
      size_t len = 0;
      char *back = g_malloc(text->len + 1);
      g_assert_cmpint(aud_tokenizer_decode(t, got, n, 0, back, text->len + 1, &len), ==, 0);
      g_assert_cmpmem(back, len, text->data, text->len);
      g_free(back);
      g_free(got);
      g_array_unref(want);
      g_byte_array_unref(text);
      n_enc++;
    } else if (strcmp(f[0], "decode") == 0) {
      unsigned flags = (unsigned)atoi(f[1]);
      int colon = 2;
      while (f[colon] && strcmp(f[colon], ":") != 0)
        colon++;
      g_assert_nonnull(f[colon]);
      GByteArray *want = unhex(f[colon + 1] ? f[colon + 1] : "");
      g_free(f[colon]);
      f[colon] = g_strdup("");
      char *tail = f[colon + 1];
      f[colon + 1] = NULL;
      GArray *ids = parse_ids(f + 2);
      f[colon + 1] = tail;
      size_t len = 0;
      g_assert_cmpint(aud_tokenizer_decode(t, (const int32_t *)(void *)ids->data, ids->len, flags, NULL, 0, &len),
                      ==, KERN_E_INVAL);
      char *got = g_malloc(len + 1);
      g_assert_cmpint(aud_tokenizer_decode(t, (const int32_t *)(void *)ids->data, ids->len, flags, got, len + 1, &len),
                      ==, 0);
      if (len != want->len || memcmp(got, want->data, len) != 0) {
        g_test_message("decode %s: got \"%s\", want \"%.*s\"", *l, got, (int)want->len, (const char *)want->data);
        bad++;
      }
      g_free(got);
      g_array_unref(ids);
      g_byte_array_unref(want);
      n_dec++;
    }
    g_strfreev(f);
  }
  g_test_message("%s: %d encodings, %d decodings, %d languages, specials and suppress lists checked; %d mismatches",
                 label, n_enc, n_dec, n_lang, bad);
  g_assert_cmpint(bad, ==, 0);
}

/* ---- the real vocabularies ------------------------------------------------------ */

static void
test_ggml_en(void)
{
  aud_tokenizer *t = open_ggml("for-tests-ggml-base.en.bin", 0);
  if (!t)
    return;
  check_golden(t, 0, "ggml base.en (gpt2)");
  /* the file holds these as U+FFFD text; the exact bytes are restored */
  size_t n;
  const char *b = aud_tokenizer_token_bytes(t, 447, &n);
  g_assert_cmpmem(b, n, "\342\200", 2);
  b = aud_tokenizer_token_bytes(t, 100, &n);
  g_assert_cmpmem(b, n, "\247", 1);
  aud_tokenizer_free(t);
}

static void
test_ggml_multilingual(void)
{
  aud_tokenizer *t = open_ggml("for-tests-ggml-base.bin", 0);
  if (!t)
    return;
  check_golden(t, 1, "ggml base (multilingual)");
  aud_tokenizer_free(t);
}

static void
test_ggml_v3_layout(void)
{
  aud_tokenizer *t = open_ggml("for-tests-ggml-base.bin", 51866);
  if (!t)
    return;
  check_golden(t, 2, "ggml base vocabulary laid out as large-v3 (51866)");
  g_assert_cmpstr(aud_tokenizer_language_code(t, 50358), ==, "yue");
  g_assert_cmpint(aud_tokenizer_language_id(t, "Cantonese"), ==, 50358);
  aud_tokenizer_free(t);
}

/* config.json's suppress_ids (CTranslate2's converter writes the reference's list). */
static void
check_ct2_suppress(const aud_tokenizer *t, const char *dir)
{
  char *path = g_build_filename(dir, "config.json", NULL);
  char *text = NULL;
  gsize n = 0;
  if (g_file_get_contents(path, &text, &n, NULL)) {
    char msg[128];
    kern_json *j = kern_json_parse(text, n, msg, sizeof msg);
    g_assert_nonnull(j);
    const kern_json_value *ids = kern_json_get(kern_json_root(j), "suppress_ids");
    if (ids && ids->type == KERN_JSON_ARRAY) {
      size_t ns;
      const int32_t *sup = aud_tokenizer_suppress_tokens(t, &ns);
      g_assert_cmpuint(ns, ==, ids->n);
      for (size_t i = 0; i < ns; i++)
        g_assert_cmpint(sup[i], ==, ids->items[i].integer);
      g_test_message("config.json suppress_ids: %zu ids, equal", ns);
    }
    const kern_json_value *langs = kern_json_get(kern_json_root(j), "lang_ids");
    if (langs && langs->type == KERN_JSON_ARRAY) {
      g_assert_cmpuint(langs->n, ==, (size_t)aud_tokenizer_n_languages(t));
      for (size_t i = 0; i < langs->n; i++)
        g_assert_nonnull(aud_tokenizer_language_code(t, (int32_t)langs->items[i].integer));
    }
    kern_json_free(j);
  }
  g_free(text);
  g_free(path);
}

static void
test_ct2_vocabulary(void)
{
  char *dir = ct2_dir();
  if (!dir)
    return;
  char *err = NULL;
  aud_tokenizer *t = NULL;
  kern_weights *w = kern_weights_open(dir, NULL);
  if (w) {
    t = aud_tokenizer_from_weights(w, &err);
    kern_weights_close(w);
    g_test_message("%s: vocabulary through kern_weights (CTranslate2 reader)", dir);
  } else {
    /* a directory with the vocabulary but no model.bin */
    t = aud_tokenizer_from_path(dir, &err);
    g_test_message("%s: vocabulary.json read directly (no complete model.bin)", dir);
  }
  if (!t)
    g_error("%s", err);
  check_golden(t, 1, "CTranslate2 vocabulary.json (multilingual)");
  check_ct2_suppress(t, dir);
  aud_tokenizer_free(t);
  g_free(dir);
}

static void
test_hf_tokenizer_json(void)
{
  char *dir = ct2_dir();
  if (!dir)
    return;
  char *path = g_build_filename(dir, "tokenizer.json", NULL);
  if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
    g_test_skip("no tokenizer.json beside the CTranslate2 model");
  } else {
    char *err = NULL;
    aud_tokenizer *t = aud_tokenizer_from_path(path, &err);
    if (!t)
      g_error("%s", err);
    check_golden(t, 1, "Hugging Face tokenizer.json (multilingual)");
    aud_tokenizer_free(t);
  }
  g_free(path);
  g_free(dir);
}

/* ---- a synthetic vocabulary: the API without real data ------------------------- */

/* GPT-2's byte-level form of byte b, as UTF-8. */
static int
byte_level(int b, char *out)
{
  int cp = b, next = 256;
  int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  if (!printable) {
    for (int k = 0; k < b; k++)
      if (!((k >= 33 && k <= 126) || (k >= 161 && k <= 172) || (k >= 174 && k <= 255)))
        next++;
    cp = next;
  }
  return g_unichar_to_utf8((gunichar)cp, out);
}

/* 256 byte tokens, a few merges, then Whisper's specials for `n_lang` languages. */
static GPtrArray *
synthetic_vocab(int n_lang, const char *no_speech_name, int with_timestamps)
{
  static const char *const codes[] = { "en", "zh", "de" };
  GPtrArray *v = g_ptr_array_new_with_free_func(g_free);
  for (int b = 0; b < 256; b++) {
    char s[8] = { 0 };
    byte_level(b, s);
    g_ptr_array_add(v, g_strdup(s));
  }
  /* merges, by rank: "he", "ll", "hell", "hello", " w" ("\xc4\xa0" is the space), " wor", "ld", " world" */
  static const char *const merges[] = { "he", "ll", "hell", "hello", "\xc4\xa0w", "\xc4\xa0wor", "ld", "\xc4\xa0world",
                                        "or", "\xc4\xa0wo" };
  for (size_t i = 0; i < G_N_ELEMENTS(merges); i++)
    g_ptr_array_add(v, g_strdup(merges[i]));
  g_ptr_array_add(v, g_strdup("<|endoftext|>"));
  g_ptr_array_add(v, g_strdup("<|startoftranscript|>"));
  for (int k = 0; k < n_lang; k++)
    g_ptr_array_add(v, g_strdup_printf("<|%s|>", codes[k]));
  static const char *const rest[] = { "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>" };
  for (size_t i = 0; i < G_N_ELEMENTS(rest); i++)
    g_ptr_array_add(v, g_strdup(rest[i]));
  g_ptr_array_add(v, g_strdup(no_speech_name));
  g_ptr_array_add(v, g_strdup("<|notimestamps|>"));
  for (int i = 0; with_timestamps && i < 1501; i++)
    g_ptr_array_add(v, g_strdup_printf("<|%.2f|>", i * 0.02));
  return v;
}

static aud_tokenizer *
synthetic_new(GPtrArray *v, char **err)
{
  size_t *len = g_new(size_t, v->len);
  for (guint i = 0; i < v->len; i++)
    len[i] = strlen(g_ptr_array_index(v, i));
  aud_tokenizer *t = aud_tokenizer_new((const char *const *)v->pdata, len, v->len, 0, 1, err);
  g_free(len);
  return t;
}

static void
expect_encode(const aud_tokenizer *t, const char *text, const char *want)
{
  int32_t ids[64];
  size_t n;
  g_assert_cmpint(aud_tokenizer_encode(t, text, ids, 64, &n), ==, 0);
  char *got = ids_str(ids, n);
  g_assert_cmpstr(got, ==, want);
  g_free(got);
}

static void
test_synthetic(void)
{
  GPtrArray *v = synthetic_vocab(3, "<|nocaptions|>", 1);
  char *err = NULL;
  aud_tokenizer *t = synthetic_new(v, &err);
  if (!t)
    g_error("%s", err);
  const aud_tokenizer_specials *sp = aud_tokenizer_get_specials(t);
  g_assert_cmpint(sp->eot, ==, 266);
  g_assert_cmpint(sp->sot, ==, 267);
  g_assert_cmpint(sp->lang_begin, ==, 268);
  g_assert_cmpint(sp->n_languages, ==, 3);
  g_assert_cmpint(sp->translate, ==, 271);
  g_assert_cmpint(sp->no_speech, ==, 275);
  g_assert_cmpint(sp->timestamp_begin, ==, 277);
  g_assert_cmpint(aud_tokenizer_n_vocab(t), ==, 277 + 1501);
  g_assert_false(aud_tokenizer_is_multilingual(t));
  g_assert_cmpint(aud_tokenizer_language_id(t, "German"), ==, 270);
  g_assert_cmpint(aud_tokenizer_language_id(t, "mandarin"), ==, 269);
  g_assert_cmpint(aud_tokenizer_language_id(t, "fr"), ==, -1);
  g_assert_null(aud_tokenizer_language_code(t, 271));
  g_assert_cmpstr(aud_language_name("de"), ==, "german");
  g_assert_null(aud_language_name("xx"));
  g_assert_true(aud_tokenizer_is_special(t, 266));
  g_assert_false(aud_tokenizer_is_special(t, 265));
  g_assert_true(aud_tokenizer_is_timestamp(t, 277));
  g_assert_false(aud_tokenizer_is_timestamp(t, 276));

  /* merges by rank: "hello" is one token; " world" merges " w"+"or"... by lowest rank first */
  expect_encode(t, "hello", "259");
  expect_encode(t, "hello world", "259 263");
  expect_encode(t, "helloworld", "259 119 264 262"); /* he ll hell hello ld or */
  expect_encode(t, "", "");
  /* contractions, spaces, numbers and others split as GPT-2's regex does */
  expect_encode(t, "it's", "105 116 39 115");
  expect_encode(t, "a  b", "97 32 32 98");
  expect_encode(t, "x\n\n", "120 10 10");
  /* invalid UTF-8 goes through byte by byte */
  expect_encode(t, "\xff\xfe", "255 254");

  /* capacity: the count is still reported */
  int32_t ids[2];
  size_t n;
  g_assert_cmpint(aud_tokenizer_encode(t, "abc def", ids, 2, &n), ==, KERN_E_INVAL);
  g_assert_cmpuint(n, ==, 7);
  g_assert_cmpint(ids[0], ==, 97);

  /* decode: specials and timestamps on request; the vocabulary's own names */
  int32_t seq[] = { 267, 268, 272, 277, 259, 277 + 50, 275, 266 };
  char out[128];
  size_t len;
  g_assert_cmpint(aud_tokenizer_decode(t, seq, G_N_ELEMENTS(seq), 0, out, sizeof out, &len), ==, 0);
  g_assert_cmpstr(out, ==, "hello");
  g_assert_cmpint(aud_tokenizer_decode(t, seq, G_N_ELEMENTS(seq), AUD_TOK_DECODE_SPECIALS, out, sizeof out, &len),
                  ==, 0);
  g_assert_cmpstr(out, ==, "<|startoftranscript|><|en|><|transcribe|>hello<|nocaptions|><|endoftext|>");
  g_assert_cmpint(aud_tokenizer_decode(t, seq, G_N_ELEMENTS(seq), AUD_TOK_DECODE_TIMESTAMPS, out, sizeof out, &len),
                  ==, 0);
  g_assert_cmpstr(out, ==, "<|0.00|>hello<|1.00|>");
  /* too small: cut, NUL-terminated, full length reported */
  g_assert_cmpint(aud_tokenizer_decode(t, seq, G_N_ELEMENTS(seq), AUD_TOK_DECODE_TIMESTAMPS, out, 5, &len), ==,
                  KERN_E_INVAL);
  g_assert_cmpstr(out, ==, "<|0.");
  g_assert_cmpuint(len, ==, strlen("<|0.00|>hello<|1.00|>"));
  int32_t bad[] = { 5, 99999 };
  g_assert_cmpint(aud_tokenizer_decode(t, bad, 2, 0, out, sizeof out, &len), ==, KERN_E_INVAL);
  int32_t neg[] = { -1 };
  g_assert_cmpint(aud_tokenizer_decode(t, neg, 1, 0, out, sizeof out, &len), ==, KERN_E_INVAL);
  /* U+FFFD for broken UTF-8, one per maximal ill-formed subpart */
  int32_t broken[] = { 0xe2, 0x82, 'a', 0xf0, 0x80, 0xff };
  g_assert_cmpint(aud_tokenizer_decode(t, broken, 6, AUD_TOK_DECODE_UTF8, out, sizeof out, &len), ==, 0);
  g_assert_cmpstr(out, ==, "\xef\xbf\xbd" "a" "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  size_t bl;
  const char *tb = aud_tokenizer_token_bytes(t, 277 + 1500, &bl);
  g_assert_cmpmem(tb, bl, "<|30.00|>", 9);
  tb = aud_tokenizer_token_bytes(t, 259, &bl);
  g_assert_cmpmem(tb, bl, "hello", 5);
  g_assert_null(aud_tokenizer_token_bytes(t, -3, &bl));

  int32_t sot[3];
  g_assert_cmpint(aud_tokenizer_sot_sequence(t, "de", 1, sot), ==, 1); /* not multilingual: sot alone */
  aud_tokenizer_free(t);
  g_ptr_array_unref(v);

  /* no timestamps in the vocabulary (old Hugging Face files): added */
  v = synthetic_vocab(2, "<|nospeech|>", 0);
  t = synthetic_new(v, &err);
  g_assert_nonnull(t);
  g_assert_cmpint(aud_tokenizer_n_vocab(t), ==, 276 + 1501);
  tb = aud_tokenizer_token_bytes(t, 276, &bl);
  g_assert_cmpmem(tb, bl, "<|0.00|>", 8);
  aud_tokenizer_free(t);
  g_ptr_array_unref(v);

  /* broken layouts: messages, no crash */
  v = synthetic_vocab(2, "<|nospeech|>", 1);
  g_free(g_ptr_array_index(v, 266 + 1));
  g_ptr_array_index(v, 266 + 1) = g_strdup("<|startoflm|>");
  g_assert_null(synthetic_new(v, &err));
  g_assert_nonnull(strstr(err, "<|startoftranscript|>"));
  free(err);
  g_ptr_array_unref(v);
  v = synthetic_vocab(2, "<|nospeech|>", 1);
  g_ptr_array_remove_index(v, 266);
  g_assert_null(synthetic_new(v, &err));
  g_assert_nonnull(strstr(err, "no <|endoftext|>"));
  free(err);
  g_free(g_ptr_array_index(v, 3));
  g_ptr_array_index(v, 3) = g_strdup("\xe2\x82\xac"); /* not byte-level form */
  g_ptr_array_add(v, g_strdup("<|endoftext|>"));
  g_assert_null(synthetic_new(v, &err));
  free(err);
  g_ptr_array_unref(v);
  /* raw bytes with an n_vocab that fits no layout */
  const char *raw[] = { "a", "b" };
  size_t rl[] = { 1, 1 };
  g_assert_null(aud_tokenizer_new(raw, rl, 2, 51865, 0, &err));
  g_assert_nonnull(strstr(err, "layout"));
  free(err);
  g_assert_null(aud_tokenizer_from_path("/nonexistent/dir/vocabulary.json", &err));
  free(err);
  aud_tokenizer_free(NULL);
}

/* The small test models of other tests carry made-up vocabularies: refused cleanly. */
static void
test_not_whisper(void)
{
  char *dir = g_test_build_filename(G_TEST_DIST, "data", "whisper", "tiny128", "ct2", NULL);
  if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
    g_test_skip("no tests/data/whisper/tiny128");
    g_free(dir);
    return;
  }
  char *err = NULL;
  g_assert_null(aud_tokenizer_from_path(dir, &err));
  g_assert_nonnull(err);
  g_test_message("%s", err);
  free(err);
  g_free(dir);
  /* through the weight readers too */
  static const char *const models[] = { "ct2", "hf", "model.ggml.bin" };
  for (size_t i = 0; i < G_N_ELEMENTS(models); i++) {
    char *path = g_test_build_filename(G_TEST_DIST, "data", "whisper", "tiny128", models[i], NULL);
    kern_weights *w = kern_weights_open(path, NULL);
    if (w) {
      g_assert_null(aud_tokenizer_from_weights(w, &err));
      g_assert_nonnull(err);
      g_test_message("%s: %s", models[i], err);
      free(err);
      kern_weights_close(w);
    }
    g_free(path);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/audio/tokenizer/synthetic", test_synthetic);
  g_test_add_func("/audio/tokenizer/not-whisper", test_not_whisper);
  g_test_add_func("/audio/tokenizer/ggml/base-en", test_ggml_en);
  g_test_add_func("/audio/tokenizer/ggml/base", test_ggml_multilingual);
  g_test_add_func("/audio/tokenizer/ggml/large-v3-layout", test_ggml_v3_layout);
  g_test_add_func("/audio/tokenizer/ct2/vocabulary", test_ct2_vocabulary);
  g_test_add_func("/audio/tokenizer/hf/tokenizer-json", test_hf_tokenizer_json);
  int rc = g_test_run();
  g_strfreev(golden_lines);
  return rc;
}
