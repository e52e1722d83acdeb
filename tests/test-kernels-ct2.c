/* test-kernels-ct2.c: the JSON parser (kern-json.c), config.json metadata
 * (kern-json-meta.c) and the CTranslate2 model reader (kern-ct2.c).
 *
 * CT2 inputs: tests/data/ct2-tiny (written by CTranslate2's own spec writer,
 * tests/reference/make-ct2-tiny.py), model.bin files built here byte by byte
 * for the malformed cases and the old binary versions, and the real
 * faster-whisper base model when $HARK_TEST_MODELS_DIR/whisper-base-ct2 exists.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern-json.h"
#include "kern-type.h"
#include "kern-weights.h"

/* ---- helpers ------------------------------------------------------------- */

static kern_json *
parse(const char *text, char *err, size_t errsz)
{
  return kern_json_parse(text, strlen(text), err, errsz);
}

/* Parses text (a NUL-free C string or explicit bytes) expecting failure with
 * a message containing `want`. */
static void
expect_json_error_n(const char *text, size_t len, const char *want)
{
  char err[256];
  kern_json *j = kern_json_parse(text, len, err, sizeof err);
  if (j)
    g_error("JSON %.*s parsed, expected an error containing '%s'", (int)len, text, want);
  g_assert_true(g_str_has_prefix(err, "line "));
  if (!strstr(err, want))
    g_error("JSON %.*s: error '%s' does not contain '%s'", (int)len, text, err, want);
}

static void
expect_json_error(const char *text, const char *want)
{
  expect_json_error_n(text, strlen(text), want);
}

typedef struct {
  char *dir;
} tmpdir;

static void
tmpdir_make(tmpdir *t)
{
  GError *error = NULL;
  t->dir = g_dir_make_tmp("hark-ct2-XXXXXX", &error);
  g_assert_no_error(error);
}

static void
tmpdir_clean(tmpdir *t)
{
  GDir *d = g_dir_open(t->dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name(d))) {
    char *p = g_build_filename(t->dir, name, NULL);
    g_unlink(p);
    g_free(p);
  }
  if (d)
    g_dir_close(d);
  g_rmdir(t->dir);
  g_free(t->dir);
}

static void
put_file(const char *dir, const char *name, const void *data, size_t len)
{
  /* Plain stdio: g_file_set_contents syncs to disk, too slow for the truncation loops. */
  char *p = g_build_filename(dir, name, NULL);
  FILE *f = fopen(p, "wb");
  g_assert_nonnull(f);
  if (len > 0)
    g_assert_cmpuint(fwrite(data, 1, len, f), ==, len);
  g_assert_cmpint(fclose(f), ==, 0);
  g_free(p);
}

static void
put_text(const char *dir, const char *name, const char *text)
{
  put_file(dir, name, text, strlen(text));
}

static void
del_file(const char *dir, const char *name)
{
  char *p = g_build_filename(dir, name, NULL);
  g_unlink(p);
  g_free(p);
}

/* Opens path expecting failure; the message names the path and contains want. */
static void
expect_open_error(const char *path, const char *want)
{
  char *err = NULL;
  kern_weights *w = kern_weights_open(path, &err);
  if (w)
    g_error("%s opened, expected an error containing '%s'", path, want);
  g_assert_nonnull(err);
  g_assert_true(g_str_has_prefix(err, path));
  if (want && !strstr(err, want))
    g_error("error '%s' does not contain '%s'", err, want);
  free(err);
}

static kern_weights *
open_ok(const char *path)
{
  char *err = NULL;
  kern_weights *w = kern_weights_open(path, &err);
  if (!w)
    g_error("cannot open %s: %s", path, err);
  return w;
}

/* ---- JSON ---------------------------------------------------------------- */

static void
test_json_values(void)
{
  char err[256];
  const char *text = " {\"a\": [1, -2.5, true, false, null, \"x\"],\n \"b\": {\"c\": {}}, \"d\": [], \"\": 0}\r\n";
  kern_json *j = parse(text, err, sizeof err);
  g_assert_nonnull(j);
  const kern_json_value *root = kern_json_root(j);
  g_assert_cmpint(root->type, ==, KERN_JSON_OBJECT);
  g_assert_cmpuint(root->n, ==, 4);
  g_assert_cmpstr(root->keys[0], ==, "a");
  g_assert_cmpstr(root->keys[3], ==, "");
  const kern_json_value *a = kern_json_get(root, "a");
  g_assert_nonnull(a);
  g_assert_cmpint(a->type, ==, KERN_JSON_ARRAY);
  g_assert_cmpuint(a->n, ==, 6);
  g_assert_true(a->items[0].is_int);
  g_assert_cmpint(a->items[0].integer, ==, 1);
  g_assert_cmpfloat(a->items[0].number, ==, 1.0);
  g_assert_false(a->items[1].is_int);
  g_assert_cmpfloat(a->items[1].number, ==, -2.5);
  g_assert_cmpint(a->items[2].type, ==, KERN_JSON_BOOL);
  g_assert_true(a->items[2].boolean);
  g_assert_false(a->items[3].boolean);
  g_assert_cmpint(a->items[4].type, ==, KERN_JSON_NULL);
  g_assert_cmpstr(a->items[5].str, ==, "x");
  g_assert_cmpuint(a->items[5].str_len, ==, 1);
  const kern_json_value *c = kern_json_get(kern_json_get(root, "b"), "c");
  g_assert_nonnull(c);
  g_assert_cmpint(c->type, ==, KERN_JSON_OBJECT);
  g_assert_cmpuint(c->n, ==, 0);
  g_assert_cmpuint(kern_json_get(root, "d")->n, ==, 0);
  g_assert_null(kern_json_get(root, "zz"));
  g_assert_null(kern_json_get(a, "a")); /* not an object */
  g_assert_null(kern_json_get(NULL, "a"));
  kern_json_free(j);

  /* Scalars at the top level (RFC 8259 allows them). */
  j = parse("\"only\"", err, sizeof err);
  g_assert_nonnull(j);
  g_assert_cmpstr(kern_json_root(j)->str, ==, "only");
  kern_json_free(j);
  kern_json_free(NULL);
}

static void
test_json_numbers(void)
{
  static const struct {
    const char *text;
    int is_int;
    int64_t integer;
    double number;
  } ok[] = {
    { "0", 1, 0, 0 },
    { "-0", 1, 0, -0.0 },
    { "42", 1, 42, 42 },
    { "9223372036854775807", 1, INT64_MAX, 9223372036854775807.0 },
    { "-9223372036854775808", 1, INT64_MIN, -9223372036854775808.0 },
    { "9223372036854775808", 0, 0, 9223372036854775808.0 },
    { "-9223372036854775809", 0, 0, -9223372036854775809.0 },
    { "1.0", 0, 0, 1.0 },
    { "1e2", 0, 0, 100.0 },
    { "1E+2", 0, 0, 100.0 },
    { "2.5e-3", 0, 0, 0.0025 },
    { "-0.125", 0, 0, -0.125 },
    { "1e-400", 0, 0, 0.0 }, /* underflow is fine */
    { "123456789012345678901234567890", 0, 0, 1.2345678901234568e29 },
  };
  char err[256];
  for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
    kern_json *j = parse(ok[i].text, err, sizeof err);
    if (!j)
      g_error("%s: %s", ok[i].text, err);
    const kern_json_value *v = kern_json_root(j);
    g_assert_cmpint(v->type, ==, KERN_JSON_NUMBER);
    g_assert_cmpint(v->is_int, ==, ok[i].is_int);
    if (ok[i].is_int)
      g_assert_cmpint(v->integer, ==, ok[i].integer);
    g_assert_cmpfloat_with_epsilon(v->number, ok[i].number, fabs(ok[i].number) * 1e-15 + 1e-300);
    kern_json_free(j);
  }
  static const char *const bad[] = { "01", "-01", "+1", ".5", "1.", "1.e3", "1e", "1e+", "-", "0x10", "NaN",
                                     "Infinity", "-Infinity", "1e999", "-1e999", "1_000", "1 2" };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
    expect_json_error(bad[i], "line 1, column ");
  expect_json_error("1e999", "out of range");
  expect_json_error("01", "leading zeros");
}

/* Numbers parse the same in a locale with a decimal comma. */
static void
test_json_locale(void)
{
  const char *loc = NULL;
  static const char *const candidates[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8" };
  char *saved = g_strdup(setlocale(LC_NUMERIC, NULL));
  for (size_t i = 0; i < G_N_ELEMENTS(candidates) && !loc; i++)
    loc = setlocale(LC_NUMERIC, candidates[i]);
  if (!loc) {
    g_free(saved);
    g_test_skip("no locale with a decimal comma is installed");
    return;
  }
  char err[256];
  kern_json *j = parse("[1.5, 2e-1]", err, sizeof err);
  setlocale(LC_NUMERIC, saved);
  g_free(saved);
  g_assert_nonnull(j);
  g_assert_cmpfloat(kern_json_root(j)->items[0].number, ==, 1.5);
  g_assert_cmpfloat(kern_json_root(j)->items[1].number, ==, 0.2);
  kern_json_free(j);
}

static void
test_json_strings(void)
{
  char err[256];
  kern_json *j = parse("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u65E5\", \"\\ud83d\\ude00\", \"é日😀\"]", err,
                       sizeof err);
  g_assert_nonnull(j);
  const kern_json_value *a = kern_json_root(j);
  g_assert_cmpstr(a->items[0].str, ==, "\"\\/\b\f\n\r\t");
  g_assert_cmpuint(a->items[0].str_len, ==, 8);
  g_assert_cmpstr(a->items[1].str, ==, "é日");
  g_assert_cmpuint(a->items[1].str_len, ==, 5);
  g_assert_cmpstr(a->items[2].str, ==, "\xf0\x9f\x98\x80");
  g_assert_cmpstr(a->items[3].str, ==, "é日😀");
  kern_json_free(j);

  /* Escapes and surrogates. */
  expect_json_error("\"\\ud83d\"", "high surrogate");
  expect_json_error("\"\\ud83dx\"", "high surrogate");
  expect_json_error("\"\\ud83d\\u0041\"", "high surrogate");
  expect_json_error("\"\\ude00\"", "lone low surrogate");
  expect_json_error("\"\\ude00\\ud83d\"", "lone low surrogate");
  expect_json_error("\"\\u12\"", "four hex digits");
  expect_json_error("\"\\u12G4\"", "four hex digits");
  expect_json_error("\"\\x41\"", "invalid escape");
  expect_json_error("\"\\'\"", "invalid escape");
  expect_json_error("\"\\u0000\"", "NUL");
  expect_json_error("\"tab\there\"", "control character 0x09");
  expect_json_error("\"a\nb\"", "control character 0x0a");
  expect_json_error("\"open", "unterminated string");
  expect_json_error("\"open\\\"", "unterminated string");
  expect_json_error("'single'", "expected a value");

  /* Invalid UTF-8: overlong, surrogate, past U+10FFFF, truncated, stray continuation, bad lead bytes. */
  static const char *const bad_utf8[] = {
    "\"\xc0\x80\"", "\"\xc1\xbf\"", "\"\xe0\x80\x80\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
    "\"\xf0\x80\x80\x80\"", "\"\xe6\x97\"", "\"\x80\"", "\"\xff\"", "\"\xf8\x88\x80\x80\x80\"", "\"\xe6\x97\xa5\xa5\"",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad_utf8); i++)
    expect_json_error(bad_utf8[i], "invalid UTF-8");
  /* In a member name too. */
  expect_json_error("{\"\xff\": 1}", "invalid UTF-8");
}

static void
test_json_errors(void)
{
  expect_json_error("", "line 1, column 1: expected a value, found the end of the text");
  expect_json_error("   \n  ", "line 2, column 3: expected a value");
  expect_json_error("[1, 2,]", "line 1, column 7: expected a value, found ']'");
  expect_json_error("[1 2]", "line 1, column 4: expected ',' or ']'");
  expect_json_error("{\"a\" 1}", "expected ':'");
  expect_json_error("{\"a\": 1,}", "line 1, column 9: expected a member name");
  expect_json_error("{a: 1}", "expected a member name");
  expect_json_error("{\"a\": 1", "expected ',' or '}'");
  expect_json_error("[", "expected a value, found the end of the text");
  expect_json_error("tru", "invalid literal (expected true)");
  expect_json_error("nul", "invalid literal (expected null)");
  expect_json_error("True", "expected a value");
  expect_json_error("{} {}", "line 1, column 4: expected the end of the text after the value");
  expect_json_error("[1]\n\n  x", "line 3, column 3:");
  expect_json_error("[1]\x0c", "found byte 0x0c"); /* form feed is not JSON whitespace */
  expect_json_error("\xef\xbb\xbf", "expected a value");
  expect_json_error_n("[1,\0 2]", 7, "found byte 0x00");
  expect_json_error("{\"k\": 1, \"k\": 2}", "line 1, column 10: duplicate member name \"k\"");
  expect_json_error("{\"k\": {\"a\":1, \"a\":1}}", "duplicate member name \"a\"");
  /* Same name in different objects is fine. */
  char err[256];
  kern_json *j = parse("[{\"k\": 1}, {\"k\": 2}, {\"a\": {\"k\": 3}, \"k\": 4}]", err, sizeof err);
  g_assert_nonnull(j);
  kern_json_free(j);
  /* A leading BOM is ignored (RFC 8259 8.1). */
  j = parse("\xef\xbb\xbf[1]", err, sizeof err);
  g_assert_nonnull(j);
  kern_json_free(j);
  /* err may be NULL or tiny. */
  g_assert_null(kern_json_parse("[", 1, NULL, 0));
  char tiny[8];
  g_assert_null(kern_json_parse("[", 1, tiny, sizeof tiny));
  g_assert_cmpuint(strlen(tiny), <, sizeof tiny);
}

/* Large objects check duplicates through a hash; make sure it finds them. */
static void
test_json_duplicates_large(void)
{
  for (int dup_at = 0; dup_at < 3; dup_at++) {
    GString *s = g_string_new("{");
    for (int i = 0; i < 5000; i++)
      g_string_append_printf(s, "%s\"key%d\": %d", i ? ", " : "", i, i);
    if (dup_at < 2)
      g_string_append_printf(s, ", \"key%d\": 0", dup_at == 0 ? 0 : 4999);
    g_string_append(s, "}");
    char err[256];
    kern_json *j = kern_json_parse(s->str, s->len, err, sizeof err);
    if (dup_at < 2) {
      g_assert_null(j);
      g_assert_nonnull(strstr(err, "duplicate member name"));
    } else {
      g_assert_nonnull(j);
      g_assert_cmpuint(kern_json_root(j)->n, ==, 5000);
      g_assert_cmpint(kern_json_get(kern_json_root(j), "key4321")->integer, ==, 4321);
      kern_json_free(j);
    }
    g_string_free(s, TRUE);
  }
}

static void
test_json_depth(void)
{
  char err[256];
  for (int depth = KERN_JSON_MAX_DEPTH - 1; depth <= KERN_JSON_MAX_DEPTH + 1; depth++) {
    GString *s = g_string_new(NULL);
    for (int i = 0; i < depth; i++)
      g_string_append(s, i % 2 ? "{\"k\":" : "[");
    g_string_append(s, "0");
    for (int i = depth - 1; i >= 0; i--)
      g_string_append(s, i % 2 ? "}" : "]");
    kern_json *j = kern_json_parse(s->str, s->len, err, sizeof err);
    if (depth <= KERN_JSON_MAX_DEPTH) {
      g_assert_nonnull(j);
      kern_json_free(j);
    } else {
      g_assert_null(j);
      g_assert_nonnull(strstr(err, "nesting deeper than"));
    }
    g_string_free(s, TRUE);
  }
  /* Far deeper than the limit: an error, not a stack overflow. */
  GString *s = g_string_new(NULL);
  for (int i = 0; i < 100000; i++)
    g_string_append_c(s, '[');
  g_assert_null(kern_json_parse(s->str, s->len, err, sizeof err));
  g_string_free(s, TRUE);
}

/* Every strict prefix of a document is an error (the text below has no
 * trailing whitespace), and random byte mutations never crash. */
static void
test_json_prefixes_and_mutations(void)
{
  const char *doc = "{\"alignment_heads\": [[3, 1], [4, 2]], \"x\": -1.5e-3, \"s\": \"\\u00e9\\ud83d\\ude00 é\", "
                    "\"t\": true, \"f\": false, \"n\": null, \"o\": {\"p\": []}}";
  size_t len = strlen(doc);
  char err[256];
  kern_json *j = kern_json_parse(doc, len, err, sizeof err);
  g_assert_nonnull(j);
  kern_json_free(j);
  for (size_t n = 0; n < len; n++) {
    char *copy = g_memdup2(doc, n ? n : 1); /* a separate allocation so ASan sees over-reads */
    j = kern_json_parse(copy, n, err, sizeof err);
    if (j)
      g_error("prefix of %zu bytes parsed", n);
    g_free(copy);
  }
  GRand *rng = g_rand_new_with_seed(1234);
  for (int it = 0; it < 20000; it++) {
    char *copy = g_memdup2(doc, len);
    int edits = g_rand_int_range(rng, 1, 4);
    for (int e = 0; e < edits; e++)
      copy[g_rand_int_range(rng, 0, (gint32)len)] = (char)g_rand_int_range(rng, 0, 256);
    j = kern_json_parse(copy, len, err, sizeof err);
    kern_json_free(j);
    g_free(copy);
  }
  g_rand_free(rng);
}

/* ---- CT2: building model.bin files -------------------------------------- */

static void
put_u8(GByteArray *b, uint8_t v)
{
  g_byte_array_append(b, &v, 1);
}

static void
put_u16(GByteArray *b, uint16_t v)
{
  g_byte_array_append(b, (const guint8 *)&v, 2);
}

static void
put_u32(GByteArray *b, uint32_t v)
{
  g_byte_array_append(b, (const guint8 *)&v, 4);
}

/* A CT2 string: u16 length with the NUL, bytes, NUL. */
static void
put_str(GByteArray *b, const char *s)
{
  put_u16(b, (uint16_t)(strlen(s) + 1));
  g_byte_array_append(b, (const guint8 *)s, (guint)strlen(s) + 1);
}

/* A version >= 4 variable with `nbytes` bytes of pattern data. */
static void
put_var(GByteArray *b, const char *name, int rank, const uint32_t *dims, uint8_t dtype, uint32_t nbytes)
{
  put_str(b, name);
  put_u8(b, (uint8_t)rank);
  for (int i = 0; i < rank; i++)
    put_u32(b, dims[i]);
  put_u8(b, dtype);
  put_u32(b, nbytes);
  for (uint32_t i = 0; i < nbytes; i++)
    put_u8(b, (uint8_t)(i * 7 + 1));
}

/* A small valid version-6 model.bin: a float32 [2, 3] matrix, an int8 [4]
 * vector with its float32 scale, a float16 scalar, an int16/int32/bfloat16
 * vector, and one alias. */
static GByteArray *
small_model(void)
{
  GByteArray *b = g_byte_array_new();
  put_u32(b, 6);
  put_str(b, "TestSpec");
  put_u32(b, 2);
  put_u32(b, 7);
  put_var(b, "dense/weight", 2, (const uint32_t[]){ 2, 3 }, 0, 24);
  put_var(b, "q/weight", 1, (const uint32_t[]){ 4 }, 1, 4);
  put_var(b, "q/weight_scale", 0, NULL, 0, 4);
  put_var(b, "half", 0, NULL, 4, 2);
  put_var(b, "i16", 1, (const uint32_t[]){ 3 }, 2, 6);
  put_var(b, "i32", 3, (const uint32_t[]){ 1, 2, 1 }, 3, 8);
  put_var(b, "bf16", 4, (const uint32_t[]){ 1, 1, 2, 1 }, 5, 4);
  put_u32(b, 1);
  put_str(b, "tied/weight");
  put_str(b, "dense/weight");
  return b;
}

static void
test_ct2_small(void)
{
  tmpdir t;
  tmpdir_make(&t);
  GByteArray *b = small_model();
  put_file(t.dir, "model.bin", b->data, b->len);
  put_text(t.dir, "vocabulary.txt", "a\r\nb\n\n日本\nlast");
  kern_weights *w = open_ok(t.dir);
  g_assert_cmpint(kern_weights_format(w), ==, KERN_FORMAT_CT2);
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 8);
  g_assert_cmpint(kern_weights_get_int(w, "ct2.binary_version", -1), ==, 6);
  g_assert_cmpint(kern_weights_get_int(w, "ct2.spec_revision", -1), ==, 2);
  g_assert_cmpstr(kern_weights_get_string(w, "ct2.spec", NULL), ==, "TestSpec");
  g_assert_cmpstr(kern_weights_get_string(w, "ct2.alias.tied/weight", NULL), ==, "dense/weight");

  const kern_tensor_info *d = kern_weights_find(w, "dense/weight");
  g_assert_nonnull(d);
  g_assert_cmpint(d->type, ==, KERN_TYPE_F32);
  g_assert_cmpint(d->n_dims, ==, 2);
  g_assert_cmpint(d->ne[0], ==, 3);
  g_assert_cmpint(d->ne[1], ==, 2);
  g_assert_cmpuint(d->nbytes, ==, 24);
  g_assert_cmpint(((const uint8_t *)d->data)[1], ==, 8);
  const kern_tensor_info *tied = kern_weights_find(w, "tied/weight");
  g_assert_nonnull(tied);
  g_assert_true(tied->data == d->data);
  g_assert_cmpint(tied->ne[0], ==, 3);
  g_assert_cmpint(kern_weights_find(w, "q/weight")->type, ==, KERN_TYPE_I8);
  const kern_tensor_info *scale = kern_weights_find(w, "q/weight_scale");
  g_assert_cmpint(scale->type, ==, KERN_TYPE_F32);
  g_assert_cmpint(scale->n_dims, ==, 1);
  g_assert_cmpint(scale->ne[0], ==, 1);
  g_assert_cmpint(kern_weights_find(w, "half")->type, ==, KERN_TYPE_F16);
  g_assert_cmpint(kern_weights_find(w, "i16")->type, ==, KERN_TYPE_I16);
  const kern_tensor_info *i32 = kern_weights_find(w, "i32");
  g_assert_cmpint(i32->type, ==, KERN_TYPE_I32);
  g_assert_cmpint(i32->n_dims, ==, 3);
  g_assert_cmpint(i32->ne[0], ==, 1);
  g_assert_cmpint(i32->ne[1], ==, 2);
  g_assert_cmpint(i32->ne[2], ==, 1);
  const kern_tensor_info *bf = kern_weights_find(w, "bf16");
  g_assert_cmpint(bf->type, ==, KERN_TYPE_BF16);
  g_assert_cmpint(bf->n_dims, ==, 4);
  g_assert_cmpint(bf->ne[1], ==, 2);

  /* vocabulary.txt: CRLF dropped, empty lines kept, last line without newline. */
  const kern_meta *tok = kern_weights_get_meta(w, "tokenizer.tokens");
  g_assert_nonnull(tok);
  g_assert_cmpuint(tok->n, ==, 5);
  g_assert_cmpstr(kern_meta_array_string(tok, 0), ==, "a");
  g_assert_cmpstr(kern_meta_array_string(tok, 1), ==, "b");
  g_assert_cmpstr(kern_meta_array_string(tok, 2), ==, "");
  g_assert_cmpstr(kern_meta_array_string(tok, 3), ==, "日本");
  g_assert_cmpstr(kern_meta_array_string(tok, 4), ==, "last");
  kern_weights_close(w);

  /* The same directory through its model.bin. */
  char *mb = g_build_filename(t.dir, "model.bin", NULL);
  w = open_ok(mb);
  g_assert_cmpint(kern_weights_format(w), ==, KERN_FORMAT_CT2);
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 8);
  kern_weights_close(w);
  g_free(mb);

  /* Seq2seq vocabularies: shared -> tokenizer.tokens; source/target separately. */
  del_file(t.dir, "vocabulary.txt");
  put_text(t.dir, "source_vocabulary.json", "[\"s1\", \"s2\"]");
  put_text(t.dir, "target_vocabulary.txt", "t1\nt2\nt3\n");
  w = open_ok(t.dir);
  g_assert_cmpuint(kern_weights_get_meta(w, "tokenizer.source_tokens")->n, ==, 2);
  g_assert_cmpuint(kern_weights_get_meta(w, "tokenizer.target_tokens")->n, ==, 3);
  g_assert_cmpstr(kern_meta_array_string(kern_weights_get_meta(w, "tokenizer.tokens"), 2), ==, "t3");
  kern_weights_close(w);
  put_text(t.dir, "shared_vocabulary.json", "[\"x\"]");
  w = open_ok(t.dir);
  g_assert_cmpuint(kern_weights_get_meta(w, "tokenizer.tokens")->n, ==, 1);
  kern_weights_close(w);

  g_byte_array_unref(b);
  tmpdir_clean(&t);
}

/* Binary versions 1 to 3: item sizes instead of dtypes, no spec (1), no aliases (1, 2). */
static void
test_ct2_old_versions(void)
{
  tmpdir t;
  tmpdir_make(&t);
  for (uint32_t version = 1; version <= 5; version++) {
    GByteArray *b = g_byte_array_new();
    put_u32(b, version);
    if (version >= 2) {
      put_str(b, "OldSpec");
      put_u32(b, 1);
    }
    put_u32(b, 3);
    size_t last_item_off = 0;
    const struct {
      const char *name;
      uint8_t item, dtype;
      uint32_t n;
      int type;
    } vars[] = {
      { "f", 4, 0, 3, KERN_TYPE_F32 },
      { "s", 2, 2, 2, KERN_TYPE_I16 },
      { "c", 1, 1, 5, KERN_TYPE_I8 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(vars); i++) {
      put_str(b, vars[i].name);
      put_u8(b, 1);
      put_u32(b, vars[i].n);
      last_item_off = b->len;
      if (version >= 4) {
        put_u8(b, vars[i].dtype);
        put_u32(b, vars[i].n * vars[i].item);
      } else {
        put_u8(b, vars[i].item);
        put_u32(b, vars[i].n); /* an item count */
      }
      for (uint32_t k = 0; k < vars[i].n * vars[i].item; k++)
        put_u8(b, 0);
    }
    if (version >= 3)
      put_u32(b, 0);
    put_file(t.dir, "model.bin", b->data, b->len);
    kern_weights *w = open_ok(t.dir);
    g_assert_cmpint(kern_weights_get_int(w, "ct2.binary_version", -1), ==, version);
    g_assert_cmpint(kern_weights_get_int(w, "ct2.spec_revision", -1), ==, 1);
    if (version >= 2)
      g_assert_cmpstr(kern_weights_get_string(w, "ct2.spec", NULL), ==, "OldSpec");
    else
      g_assert_null(kern_weights_get_meta(w, "ct2.spec"));
    for (size_t i = 0; i < G_N_ELEMENTS(vars); i++) {
      const kern_tensor_info *ti = kern_weights_find(w, vars[i].name);
      g_assert_nonnull(ti);
      g_assert_cmpint(ti->type, ==, vars[i].type);
      g_assert_cmpint(ti->ne[0], ==, vars[i].n);
    }
    kern_weights_close(w);

    /* An old file with an item size CTranslate2 never wrote. */
    if (version < 4) {
      b->data[last_item_off] = 3;
      put_file(t.dir, "model.bin", b->data, b->len);
      char *err = NULL;
      g_assert_null(kern_weights_open(t.dir, &err));
      g_assert_nonnull(strstr(err, "unknown item size 3"));
      free(err);
    }
    g_byte_array_unref(b);
  }
  tmpdir_clean(&t);
}

/* Writes b as model.bin into a fresh directory and expects an error containing want. */
static void
expect_model_error(GByteArray *b, const char *want)
{
  tmpdir t;
  tmpdir_make(&t);
  put_file(t.dir, "model.bin", b->data, b->len);
  expect_open_error(t.dir, want);
  tmpdir_clean(&t);
  g_byte_array_unref(b);
}

static GByteArray *
header(uint32_t n_vars)
{
  GByteArray *b = g_byte_array_new();
  put_u32(b, 6);
  put_str(b, "S");
  put_u32(b, 1);
  put_u32(b, n_vars);
  return b;
}

static void
test_ct2_malformed(void)
{
  GByteArray *b;

  /* Versions. */
  b = g_byte_array_new();
  put_u32(b, 0);
  put_u32(b, 0);
  expect_model_error(b, "binary version 0");
  b = g_byte_array_new();
  put_u32(b, 7);
  put_u32(b, 0);
  expect_model_error(b, "binary version 7 (this reader knows 1 to 6); convert it");
  b = g_byte_array_new();
  put_u32(b, 0x67676d6c + 1); /* some other binary file named model.bin */
  put_u32(b, 0);
  expect_model_error(b, "not a CTranslate2 model");
  b = g_byte_array_new();
  expect_model_error(b, "truncated: the binary version");

  /* Strings. */
  b = g_byte_array_new();
  put_u32(b, 6);
  put_u16(b, 0);
  expect_model_error(b, "the spec name at offset 4 has length 0");
  b = g_byte_array_new();
  put_u32(b, 6);
  put_u16(b, 3);
  g_byte_array_append(b, (const guint8 *)"abc", 3);
  put_u32(b, 1);
  put_u32(b, 0);
  expect_model_error(b, "not a NUL-terminated string");
  b = g_byte_array_new();
  put_u32(b, 6);
  put_u16(b, 4);
  g_byte_array_append(b, (const guint8 *)"a\0b\0", 4);
  put_u32(b, 1);
  put_u32(b, 0);
  expect_model_error(b, "not a NUL-terminated string");
  b = g_byte_array_new();
  put_u32(b, 6);
  put_u16(b, 60000);
  expect_model_error(b, "truncated: the spec name (60000 bytes");
  b = header(1);
  put_str(b, "bad\xff");
  g_byte_array_append(b, (const guint8 *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
  expect_model_error(b, "a variable name at offset 18 is not valid UTF-8");
  b = header(1);
  put_str(b, "over\xc0\xaflong");
  g_byte_array_append(b, (const guint8 *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
  expect_model_error(b, "not valid UTF-8");

  /* Counts. */
  b = header(0xffffffffu);
  expect_model_error(b, "claims 4294967295 variables");
  b = header(1000);
  put_var(b, "x", 0, NULL, 0, 4);
  expect_model_error(b, "claims 1000 variables");

  /* Variables. */
  b = header(1);
  put_var(b, "r", 5, (const uint32_t[]){ 1, 1, 1, 1, 1 }, 0, 4);
  put_u32(b, 0);
  expect_model_error(b, "variable 'r' has rank 5");
  b = header(1);
  put_var(b, "z", 2, (const uint32_t[]){ 4, 0 }, 0, 0);
  put_u32(b, 0);
  expect_model_error(b, "variable 'z' has dimension 1 of size 0");
  b = header(1);
  put_var(b, "u", 1, (const uint32_t[]){ 1 }, 6, 4);
  put_u32(b, 0);
  expect_model_error(b, "variable 'u' has unknown dtype 6");
  b = header(1);
  put_var(b, "u", 1, (const uint32_t[]){ 1 }, 255, 4);
  put_u32(b, 0);
  expect_model_error(b, "unknown dtype 255");
  b = header(1);
  put_var(b, "m", 2, (const uint32_t[]){ 2, 3 }, 0, 20);
  put_u32(b, 0);
  expect_model_error(b, "variable 'm': 6 float32 values need 24 bytes, the file gives 20");
  b = header(1);
  put_var(b, "h", 1, (const uint32_t[]){ 3 }, 4, 8);
  put_u32(b, 0);
  expect_model_error(b, "3 float16 values need 6 bytes");
  /* Dimensions whose product overflows 64 bits. */
  b = header(1);
  put_str(b, "big");
  put_u8(b, 4);
  for (int i = 0; i < 4; i++)
    put_u32(b, 0xffffffffu);
  put_u8(b, 0);
  put_u32(b, 16);
  expect_model_error(b, "variable 'big' has more elements than can be addressed");
  /* A size that fits the header but not the file. */
  b = header(1);
  put_str(b, "past");
  put_u8(b, 1);
  put_u32(b, 0x10000000u);
  put_u8(b, 1);
  put_u32(b, 0x10000000u);
  put_u32(b, 0);
  expect_model_error(b, "truncated: variable 'past' (268435456 bytes at offset");
  /* Two variables with one name. */
  b = header(2);
  put_var(b, "dup", 0, NULL, 1, 1);
  put_var(b, "dup", 0, NULL, 1, 1);
  put_u32(b, 0);
  expect_model_error(b, "tensor 'dup' appears twice");
  b = header(1);
  put_var(b, "", 0, NULL, 1, 1);
  put_u32(b, 0);
  expect_model_error(b, "empty name");

  /* Aliases. */
  b = header(1);
  put_var(b, "a", 0, NULL, 1, 1);
  put_u32(b, 1);
  put_str(b, "b");
  put_str(b, "nope");
  expect_model_error(b, "alias 'b' names 'nope', which is not a variable");
  b = header(1);
  put_var(b, "a", 0, NULL, 1, 1);
  put_u32(b, 1);
  put_str(b, "a");
  put_str(b, "a");
  expect_model_error(b, "tensor 'a' appears twice");
  b = header(1);
  put_var(b, "a", 0, NULL, 1, 1);
  put_u32(b, 0x7fffffff);
  expect_model_error(b, "2147483647 aliases cannot fit");
  b = header(1);
  put_var(b, "a", 0, NULL, 1, 1);
  expect_model_error(b, "truncated: the alias count");
  b = header(1);
  put_var(b, "a", 0, NULL, 1, 1);
  put_u32(b, 0);
  put_u8(b, 0);
  expect_model_error(b, "1 unexpected bytes after its last alias");
}

/* Every strict prefix of a valid model.bin is an error, never a crash. */
static void
truncate_all(const char *dir, const guint8 *data, size_t len)
{
  for (size_t n = 0; n < len; n++) {
    put_file(dir, "model.bin", data, n);
    char *err = NULL;
    kern_weights *w = kern_weights_open(dir, &err);
    if (w)
      g_error("model.bin cut to %zu of %zu bytes opened", n, len);
    g_assert_nonnull(err);
    free(err);
  }
}

static void
test_ct2_truncated(void)
{
  tmpdir t;
  tmpdir_make(&t);
  GByteArray *b = small_model();
  truncate_all(t.dir, b->data, b->len);
  g_byte_array_unref(b);

  char *tiny = g_test_build_filename(G_TEST_DIST, "data", "ct2-tiny", "model.bin", NULL);
  gchar *data;
  gsize len;
  if (g_file_get_contents(tiny, &data, &len, NULL)) {
    truncate_all(t.dir, (const guint8 *)data, len);
    g_free(data);
  }
  g_free(tiny);
  tmpdir_clean(&t);
}

/* Random corruption of the small model never crashes (ASan/UBSan watch). */
static void
test_ct2_mutations(void)
{
  tmpdir t;
  tmpdir_make(&t);
  GByteArray *b = small_model();
  GRand *rng = g_rand_new_with_seed(99);
  for (int it = 0; it < 3000; it++) {
    guint8 *copy = g_memdup2(b->data, b->len);
    int edits = g_rand_int_range(rng, 1, 4);
    for (int e = 0; e < edits; e++) {
      guint pos = (guint)g_rand_int_range(rng, 0, (gint32)b->len);
      copy[pos] = g_rand_boolean(rng) ? (guint8)g_rand_int_range(rng, 0, 256) : 0xff;
    }
    put_file(t.dir, "model.bin", copy, b->len);
    char *err = NULL;
    kern_weights *w = kern_weights_open(t.dir, &err);
    g_assert_true((w == NULL) != (err == NULL));
    kern_weights_close(w);
    free(err);
    g_free(copy);
  }
  g_rand_free(rng);
  g_byte_array_unref(b);
  tmpdir_clean(&t);
}

/* config.json and vocabulary files: errors name the file and the place. */
static void
test_ct2_side_files(void)
{
  tmpdir t;
  tmpdir_make(&t);
  GByteArray *b = header(1);
  put_var(b, "a", 0, NULL, 1, 1);
  put_u32(b, 0);
  put_file(t.dir, "model.bin", b->data, b->len);
  g_byte_array_unref(b);

  put_text(t.dir, "config.json", "{\n  \"a\": 1,\n  \"a\": 2\n}");
  expect_open_error(t.dir, "config.json: line 3, column 3: duplicate member name \"a\"");
  put_text(t.dir, "config.json", "{\"a\": \"\xff\"}");
  expect_open_error(t.dir, "config.json: line 1, column 8: invalid UTF-8");
  put_text(t.dir, "config.json", "[1, 2]");
  expect_open_error(t.dir, "config.json is not a JSON object");
  put_text(t.dir, "config.json", "");
  expect_open_error(t.dir, "config.json: line 1, column 1: expected a value");
  put_text(t.dir, "config.json", "{\"a.b\": 1, \"a\": {\"b\": 2}}");
  expect_open_error(t.dir, "metadata key 'config.a.b' appears twice");
  put_text(t.dir, "config.json", "{\"deep\": [[[[[[[[[1]]]]]]]]]}");
  expect_open_error(t.dir, "arrays nested deeper than 8");
  put_text(t.dir, "config.json", "{}");

  put_text(t.dir, "preprocessor_config.json", "{\"feature_size\": 128,}");
  expect_open_error(t.dir, "preprocessor_config.json: line 1, column 22: expected a member name");
  put_text(t.dir, "preprocessor_config.json", "{\"feature_size\": 128}");
  kern_weights *w = open_ok(t.dir);
  g_assert_cmpint(kern_weights_get_int(w, "preprocessor_config.feature_size", 0), ==, 128);
  kern_weights_close(w);

  put_text(t.dir, "vocabulary.json", "{\"a\": 0}");
  expect_open_error(t.dir, "vocabulary.json is not a JSON array of strings");
  put_text(t.dir, "vocabulary.json", "[\"a\", 1]");
  expect_open_error(t.dir, "vocabulary.json: token 1 is not a string");
  put_text(t.dir, "vocabulary.json", "[\"a\", \"\\udc00\"]");
  expect_open_error(t.dir, "vocabulary.json: line 1, column 8: lone low surrogate");
  del_file(t.dir, "vocabulary.json");
  put_text(t.dir, "vocabulary.txt", "ok\nbad\xe6\x97\n");
  expect_open_error(t.dir, "vocabulary.txt: line 2 is not valid UTF-8");
  put_file(t.dir, "vocabulary.txt", "ok\n\0\n", 5);
  expect_open_error(t.dir, "vocabulary.txt: line 2 is not valid UTF-8");
  put_text(t.dir, "vocabulary.txt", "");
  w = open_ok(t.dir);
  g_assert_cmpuint(kern_weights_get_meta(w, "tokenizer.tokens")->n, ==, 0);
  kern_weights_close(w);
  tmpdir_clean(&t);
}

/* config.json becomes "config.*" metadata with the types kern-json-meta.c documents. */
static void
test_ct2_config_meta(void)
{
  tmpdir t;
  tmpdir_make(&t);
  GByteArray *b = header(0);
  put_u32(b, 0);
  put_file(t.dir, "model.bin", b->data, b->len);
  g_byte_array_unref(b);
  put_text(t.dir, "config.json",
           "{\"i\": 3, \"f\": 0.5, \"big\": 1e300, \"s\": \"日本\", \"t\": true, \"n\": null,"
           " \"ints\": [1, -2, 9223372036854775807], \"nums\": [1, 2.5], \"strs\": [\"a\", \"é\"],"
           " \"empty\": [], \"mixed\": [1, \"x\", null, [2, 3], {\"o\": 1}, false],"
           " \"nested\": {\"deeper\": {\"k\": \"v\"}, \"e\": {}}, \"pairs\": [[3, 1], [4, 2]]}");
  kern_weights *w = open_ok(t.dir);
  const kern_meta *m;
  g_assert_cmpint(kern_weights_get_int(w, "config.i", 0), ==, 3);
  g_assert_cmpint(kern_weights_get_meta(w, "config.i")->type, ==, KERN_META_I64);
  g_assert_cmpint(kern_weights_get_meta(w, "config.f")->type, ==, KERN_META_F64);
  g_assert_cmpfloat(kern_weights_get_float(w, "config.f", 0), ==, 0.5);
  g_assert_cmpfloat(kern_weights_get_float(w, "config.big", 0), ==, 1e300);
  m = kern_weights_get_meta(w, "config.s");
  g_assert_cmpint(m->type, ==, KERN_META_STRING);
  g_assert_cmpuint(m->n, ==, 6);
  g_assert_cmpstr(m->v.str, ==, "日本");
  m = kern_weights_get_meta(w, "config.t");
  g_assert_cmpint(m->type, ==, KERN_META_BOOL);
  g_assert_cmpint(m->v.i64, ==, 1);
  g_assert_cmpint(kern_weights_get_meta(w, "config.n")->type, ==, KERN_META_NULL);

  int64_t iv;
  double fv;
  m = kern_weights_get_meta(w, "config.ints");
  g_assert_cmpint(m->type, ==, KERN_META_ARRAY);
  g_assert_cmpint(m->elem_type, ==, KERN_META_I64);
  g_assert_cmpuint(m->n, ==, 3);
  g_assert_cmpint(kern_meta_array_int(m, 1, &iv), ==, 0);
  g_assert_cmpint(iv, ==, -2);
  g_assert_cmpint(kern_meta_array_int(m, 2, &iv), ==, 0);
  g_assert_cmpint(iv, ==, INT64_MAX);
  m = kern_weights_get_meta(w, "config.nums");
  g_assert_cmpint(m->elem_type, ==, KERN_META_F64);
  g_assert_cmpint(kern_meta_array_float(m, 0, &fv), ==, 0);
  g_assert_cmpfloat(fv, ==, 1.0);
  g_assert_cmpint(kern_meta_array_float(m, 1, &fv), ==, 0);
  g_assert_cmpfloat(fv, ==, 2.5);
  m = kern_weights_get_meta(w, "config.strs");
  g_assert_cmpint(m->elem_type, ==, KERN_META_STRING);
  g_assert_cmpstr(kern_meta_array_string(m, 1), ==, "é");
  m = kern_weights_get_meta(w, "config.empty");
  g_assert_cmpint(m->type, ==, KERN_META_ARRAY);
  g_assert_cmpuint(m->n, ==, 0);
  m = kern_weights_get_meta(w, "config.mixed");
  g_assert_cmpint(m->elem_type, ==, KERN_META_NULL);
  g_assert_cmpuint(m->n, ==, 6);
  g_assert_cmpint(kern_meta_array_item(m, 0)->type, ==, KERN_META_I64);
  g_assert_cmpstr(kern_meta_array_item(m, 1)->v.str, ==, "x");
  g_assert_cmpint(kern_meta_array_item(m, 2)->type, ==, KERN_META_NULL);
  const kern_meta *inner = kern_meta_array_item(m, 3);
  g_assert_cmpint(inner->type, ==, KERN_META_ARRAY);
  g_assert_cmpint(inner->elem_type, ==, KERN_META_I64);
  g_assert_cmpint(kern_meta_array_int(inner, 1, &iv), ==, 0);
  g_assert_cmpint(iv, ==, 3);
  g_assert_cmpint(kern_meta_array_item(m, 4)->type, ==, KERN_META_NULL); /* an object in an array */
  g_assert_cmpint(kern_meta_array_item(m, 5)->type, ==, KERN_META_BOOL);
  g_assert_cmpstr(kern_weights_get_string(w, "config.nested.deeper.k", NULL), ==, "v");
  g_assert_null(kern_weights_get_meta(w, "config.nested.e")); /* empty objects add nothing */
  g_assert_null(kern_weights_get_meta(w, "config.nested"));
  m = kern_weights_get_meta(w, "config.pairs");
  g_assert_cmpuint(m->n, ==, 2);
  g_assert_cmpint(kern_meta_array_int(kern_meta_array_item(m, 1), 0, &iv), ==, 0);
  g_assert_cmpint(iv, ==, 4);
  kern_weights_close(w);
  tmpdir_clean(&t);
}

/* ---- CT2: the model CTranslate2 itself wrote ------------------------------ */

static float
f16_at(const kern_tensor_info *t, int64_t i)
{
  uint16_t h;
  memcpy(&h, (const uint8_t *)t->data + 2 * i, 2); /* CT2 data is not aligned */
  return kern_f16_to_f32(h);
}

static float
f32_at(const kern_tensor_info *t, int64_t i)
{
  float f;
  memcpy(&f, (const uint8_t *)t->data + 4 * i, 4);
  return f;
}

static void
test_ct2_tiny(void)
{
  char *dir = g_test_build_filename(G_TEST_DIST, "data", "ct2-tiny", NULL);
  kern_weights *w = open_ok(dir);
  /* 58 variables and the alias decoder/projection/weight. */
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 59);
  g_assert_cmpint(kern_weights_get_int(w, "ct2.binary_version", -1), ==, 6);
  g_assert_cmpstr(kern_weights_get_string(w, "ct2.spec", NULL), ==, "WhisperSpec");
  g_assert_cmpint(kern_weights_get_int(w, "ct2.spec_revision", -1), ==, 3);
  g_assert_cmpstr(kern_weights_get_string(w, "ct2.alias.decoder/projection/weight", NULL), ==,
                  "decoder/embeddings/weight");

  const kern_tensor_info *conv1 = kern_weights_find(w, "encoder/conv1/weight");
  g_assert_nonnull(conv1);
  g_assert_cmpint(conv1->type, ==, KERN_TYPE_I8);
  g_assert_cmpint(conv1->n_dims, ==, 3);
  g_assert_cmpint(conv1->ne[0], ==, 3); /* kernel width */
  g_assert_cmpint(conv1->ne[1], ==, 4); /* mel bins */
  g_assert_cmpint(conv1->ne[2], ==, 8); /* d_model */
  const kern_tensor_info *conv1_scale = kern_weights_find(w, "encoder/conv1/weight_scale");
  g_assert_cmpint(conv1_scale->type, ==, KERN_TYPE_F32);
  g_assert_cmpint(conv1_scale->ne[0], ==, 8);

  /* float16 bias: sin(i * 0.37 + 50), as make-ct2-tiny.py wrote it. */
  const kern_tensor_info *bias = kern_weights_find(w, "encoder/conv1/bias");
  g_assert_cmpint(bias->type, ==, KERN_TYPE_F16);
  for (int i = 0; i < 8; i++)
    g_assert_cmpfloat_with_epsilon(f16_at(bias, i), sin(i * 0.37 + 50), 1e-3);

  /* int8 embeddings [6, 8] with per-row scales: q / scale ~ sin(k * 0.37 + 1000), row-major. */
  const kern_tensor_info *emb = kern_weights_find(w, "decoder/embeddings/weight");
  const kern_tensor_info *emb_scale = kern_weights_find(w, "decoder/embeddings/weight_scale");
  g_assert_cmpint(emb->ne[0], ==, 8);
  g_assert_cmpint(emb->ne[1], ==, 6);
  g_assert_cmpint(emb_scale->ne[0], ==, 6);
  for (int r = 0; r < 6; r++) {
    float scale = f32_at(emb_scale, r);
    g_assert_cmpfloat(scale, >, 0);
    for (int c = 0; c < 8; c++) {
      int8_t q = ((const int8_t *)emb->data)[r * 8 + c];
      g_assert_cmpfloat_with_epsilon(q / scale, sin((r * 8 + c) * 0.37 + 1000), 1.0 / scale);
    }
  }
  const kern_tensor_info *proj = kern_weights_find(w, "decoder/projection/weight");
  g_assert_nonnull(proj);
  g_assert_true(proj->data == emb->data);
  g_assert_cmpint(kern_weights_find(w, "decoder/num_heads")->type, ==, KERN_TYPE_I16);
  int16_t heads;
  memcpy(&heads, kern_weights_find(w, "encoder/num_heads")->data, 2);
  g_assert_cmpint(heads, ==, 2);
  g_assert_cmpint(kern_weights_find(w, "decoder/position_encodings/encodings")->ne[1], ==, 4);

  const kern_meta *m = kern_weights_get_meta(w, "config.suppress_ids");
  int64_t v;
  g_assert_nonnull(m);
  g_assert_cmpuint(m->n, ==, 2);
  g_assert_cmpint(kern_meta_array_int(m, 1, &v), ==, 0);
  g_assert_cmpint(v, ==, 2);
  m = kern_weights_get_meta(w, "config.alignment_heads");
  g_assert_cmpuint(m->n, ==, 1);
  g_assert_cmpint(kern_meta_array_int(kern_meta_array_item(m, 0), 1, &v), ==, 0);
  g_assert_cmpint(v, ==, 1);
  m = kern_weights_get_meta(w, "tokenizer.tokens");
  g_assert_cmpuint(m->n, ==, 6);
  g_assert_cmpstr(kern_meta_array_string(m, 2), ==, "é");
  g_assert_cmpstr(kern_meta_array_string(m, 3), ==, "日本");
  g_assert_cmpstr(kern_meta_array_string(m, 4), ==, "\xc4\xa0hello");
  g_assert_cmpstr(kern_meta_array_string(m, 5), ==, "<|endoftext|>");
  kern_weights_close(w);
  g_free(dir);
}

/* Prefixes of the tiny model's JSON files are errors that name the file. */
static void
test_ct2_truncated_json(void)
{
  char *src = g_test_build_filename(G_TEST_DIST, "data", "ct2-tiny", NULL);
  tmpdir t;
  tmpdir_make(&t);
  static const char *const names[] = { "model.bin", "config.json", "vocabulary.json" };
  gchar *data[3];
  gsize len[3];
  for (int i = 0; i < 3; i++) {
    char *p = g_build_filename(src, names[i], NULL);
    g_assert_true(g_file_get_contents(p, &data[i], &len[i], NULL));
    put_file(t.dir, names[i], data[i], len[i]);
    g_free(p);
  }
  for (int i = 1; i < 3; i++) {
    gsize full = len[i];
    while (full > 0 && g_ascii_isspace(data[i][full - 1]))
      full--; /* cutting only trailing whitespace leaves valid JSON */
    for (gsize n = 0; n < full; n++) {
      put_file(t.dir, names[i], data[i], n);
      char *err = NULL;
      kern_weights *w = kern_weights_open(t.dir, &err);
      if (w)
        g_error("%s cut to %zu bytes opened", names[i], (size_t)n);
      g_assert_nonnull(strstr(err, names[i]));
      free(err);
    }
    put_file(t.dir, names[i], data[i], len[i]);
  }
  for (int i = 0; i < 3; i++)
    g_free(data[i]);
  tmpdir_clean(&t);
  g_free(src);
}

/* ---- CT2: the real faster-whisper base model ----------------------------- */

static void
test_ct2_real_base(void)
{
  const char *models = g_getenv("HARK_TEST_MODELS_DIR");
  char *dir = models ? g_build_filename(models, "whisper-base-ct2", NULL) : NULL;
  if (!dir || !g_file_test(dir, G_FILE_TEST_IS_DIR)) {
    g_test_skip("set HARK_TEST_MODELS_DIR to a folder with whisper-base-ct2/ (faster-whisper base) to run this");
    g_free(dir);
    return;
  }
  gint64 t0 = g_get_monotonic_time();
  kern_weights *w = open_ok(dir);
  gint64 t1 = g_get_monotonic_time();
  g_test_message("opened %s in %.1f ms", dir, (t1 - t0) / 1000.0);
  g_assert_cmpint(kern_weights_get_int(w, "ct2.binary_version", -1), ==, 6);
  g_assert_cmpstr(kern_weights_get_string(w, "ct2.spec", NULL), ==, "WhisperSpec");
  g_assert_cmpint(kern_weights_get_int(w, "ct2.spec_revision", -1), ==, 3);
  /* 214 variables and one alias. */
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 215);
  g_assert_cmpstr(kern_weights_get_string(w, "ct2.alias.decoder/projection/weight", NULL), ==,
                  "decoder/embeddings/weight");
  size_t total = 0;
  int n_f16 = 0;
  for (int64_t i = 0; i < kern_weights_n_tensors(w); i++) {
    const kern_tensor_info *t = kern_weights_tensor_at(w, i);
    char key[4200];
    g_snprintf(key, sizeof key, "ct2.alias.%s", t->name);
    if (kern_weights_get_meta(w, key))
      continue;
    total += t->nbytes;
    n_f16 += t->type == KERN_TYPE_F16;
  }
  g_test_message("%zu bytes of tensor data, %d float16 tensors", total, n_f16);
  g_assert_cmpuint(total, ==, 145206287);
  g_assert_cmpint(n_f16, ==, 203);

  const kern_tensor_info *conv1 = kern_weights_find(w, "encoder/conv1/weight");
  g_assert_nonnull(conv1);
  g_assert_cmpint(conv1->type, ==, KERN_TYPE_F16);
  g_assert_cmpint(conv1->n_dims, ==, 3);
  g_assert_cmpint(conv1->ne[0], ==, 3);
  g_assert_cmpint(conv1->ne[1], ==, 80);
  g_assert_cmpint(conv1->ne[2], ==, 512);
  const kern_tensor_info *conv2 = kern_weights_find(w, "encoder/conv2/weight");
  g_assert_cmpint(conv2->ne[1], ==, 512);
  const kern_tensor_info *emb = kern_weights_find(w, "decoder/embeddings/weight");
  g_assert_cmpint(emb->ne[0], ==, 512);
  g_assert_cmpint(emb->ne[1], ==, 51865);
  g_assert_true(kern_weights_find(w, "decoder/projection/weight")->data == emb->data);
  g_assert_cmpint(kern_weights_find(w, "encoder/position_encodings/encodings")->ne[1], ==, 1500);
  g_assert_nonnull(kern_weights_find(w, "encoder/layer_5/self_attention/linear_0/weight"));
  g_assert_null(kern_weights_find(w, "encoder/layer_6/self_attention/linear_0/weight"));
  for (int i = 0; i < 512; i++)
    g_assert_true(isfinite(f16_at(conv1, i)));

  const kern_meta *m = kern_weights_get_meta(w, "config.suppress_ids_begin");
  int64_t v;
  g_assert_nonnull(m);
  g_assert_cmpuint(m->n, ==, 2);
  g_assert_cmpint(kern_meta_array_int(m, 0, &v), ==, 0);
  g_assert_cmpint(v, ==, 220);
  g_assert_cmpint(kern_meta_array_int(m, 1, &v), ==, 0);
  g_assert_cmpint(v, ==, 50257);
  g_assert_cmpuint(kern_weights_get_meta(w, "config.lang_ids")->n, ==, 99);
  g_assert_cmpuint(kern_weights_get_meta(w, "config.alignment_heads")->n, ==, 8);
  m = kern_weights_get_meta(w, "tokenizer.tokens");
  g_assert_cmpuint(m->n, ==, 51865);
  g_assert_cmpstr(kern_meta_array_string(m, 0), ==, "!");
  g_assert_cmpstr(kern_meta_array_string(m, 220), ==, "\xc4\xa0"); /* "Ġ", GPT-2's byte-level space */
  g_assert_cmpstr(kern_meta_array_string(m, 50257), ==, "<|endoftext|>");
  g_assert_cmpstr(kern_meta_array_string(m, 50258), ==, "<|startoftranscript|>");
  kern_weights_close(w);
  g_free(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/kernels/json/values", test_json_values);
  g_test_add_func("/kernels/json/numbers", test_json_numbers);
  g_test_add_func("/kernels/json/locale", test_json_locale);
  g_test_add_func("/kernels/json/strings", test_json_strings);
  g_test_add_func("/kernels/json/errors", test_json_errors);
  g_test_add_func("/kernels/json/duplicates-large", test_json_duplicates_large);
  g_test_add_func("/kernels/json/depth", test_json_depth);
  g_test_add_func("/kernels/json/prefixes-and-mutations", test_json_prefixes_and_mutations);
  g_test_add_func("/kernels/ct2/small", test_ct2_small);
  g_test_add_func("/kernels/ct2/old-versions", test_ct2_old_versions);
  g_test_add_func("/kernels/ct2/malformed/model-bin", test_ct2_malformed);
  g_test_add_func("/kernels/ct2/malformed/truncated", test_ct2_truncated);
  g_test_add_func("/kernels/ct2/malformed/side-files", test_ct2_side_files);
  g_test_add_func("/kernels/ct2/malformed/mutations", test_ct2_mutations);
  g_test_add_func("/kernels/ct2/malformed/truncated-json", test_ct2_truncated_json);
  g_test_add_func("/kernels/ct2/config-meta", test_ct2_config_meta);
  g_test_add_func("/kernels/ct2/real-tiny", test_ct2_tiny);
  g_test_add_func("/kernels/ct2/real-base", test_ct2_real_base);
  return g_test_run();
}
