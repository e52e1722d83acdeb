/* test-kernels-gguf.c: the GGUF reader and writer.
 *
 * Round trips of every metadata type and of tensors through kern_gguf_write and
 * kern_weights_open; interop with gguf-py in both directions (a committed file
 * from tests/reference/make-gguf-golden.py, and a file of ours checked by that
 * script); malformed files, each of which must fail with a message that names
 * the file and the specific problem; every truncation of valid files. Also
 * kern_utf8_valid and the typed metadata getters. */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "kern-error.h"
#include "kern-type.h"
#include "kern-weights-private.h"
#include "kern-weights.h"

static char *tmp_dir; /* this process's scratch directory */

static char *
tmp_path(const char *name)
{
  return g_build_filename(tmp_dir, name, NULL);
}

/* ---- building GGUF bytes by hand (for files the writer refuses to make) ---- */

static void
b_bytes(GByteArray *b, const void *p, gsize n)
{
  g_byte_array_append(b, p, (guint)n);
}

static void
b_u8(GByteArray *b, guint8 v)
{
  b_bytes(b, &v, 1);
}

static void
b_u32(GByteArray *b, guint32 v)
{
  b_bytes(b, &v, 4);
}

static void
b_u64(GByteArray *b, guint64 v)
{
  b_bytes(b, &v, 8);
}

static void
b_strn(GByteArray *b, const char *s, gsize n)
{
  b_u64(b, n);
  b_bytes(b, s, n);
}

static void
b_str(GByteArray *b, const char *s)
{
  b_strn(b, s, strlen(s));
}

static void
b_pad(GByteArray *b, gsize align)
{
  while (b->len % align)
    b_u8(b, 0);
}

static void
b_header(GByteArray *b, guint32 version, guint64 n_tensors, guint64 n_kv)
{
  b_bytes(b, "GGUF", 4);
  b_u32(b, version);
  b_u64(b, n_tensors);
  b_u64(b, n_kv);
}

static void
b_kv_u32(GByteArray *b, const char *key, guint32 v)
{
  b_str(b, key);
  b_u32(b, KERN_META_U32);
  b_u32(b, v);
}

static void
b_kv_str(GByteArray *b, const char *key, const char *v)
{
  b_str(b, key);
  b_u32(b, KERN_META_STRING);
  b_str(b, v);
}

/* A tensor info with n_dims dimensions from ne. */
static void
b_tinfo(GByteArray *b, const char *name, guint32 n_dims, const guint64 *ne, guint32 type, guint64 offset)
{
  b_str(b, name);
  b_u32(b, n_dims);
  for (guint32 i = 0; i < n_dims; i++)
    b_u64(b, ne[i]);
  b_u32(b, type);
  b_u64(b, offset);
}

/* Data bytes 0, 1, 2, ... */
static void
b_data(GByteArray *b, gsize n)
{
  for (gsize i = 0; i < n; i++)
    b_u8(b, (guint8)(i * 7 + 1));
}

/* A small valid file: three metadata entries (a string array among them) and
 * two tensors whose data ends exactly at the end of the file, so that every
 * proper prefix is invalid. */
static void
b_small_valid(GByteArray *b)
{
  b_header(b, 3, 2, 3);
  b_kv_str(b, "general.architecture", "test");
  b_kv_u32(b, "test.n", 7);
  b_str(b, "test.words");
  b_u32(b, KERN_META_ARRAY);
  b_u32(b, KERN_META_STRING);
  b_u64(b, 2);
  b_str(b, "one");
  b_str(b, "two");
  b_tinfo(b, "a", 1, (guint64[]){ 8 }, KERN_TYPE_F32, 0);
  b_tinfo(b, "b", 2, (guint64[]){ 4, 4 }, KERN_TYPE_F16, 32);
  b_pad(b, 32);
  b_data(b, 64);
}

/* Plain stdio: g_file_set_contents syncs to disk, too slow for thousands of prefixes. */
static void
write_file(const char *path, const void *data, gsize len)
{
  g_unlink(path); /* a new file: ext4 flushes a truncated one on close (auto_da_alloc) */
  FILE *f = fopen(path, "wb");
  g_assert_nonnull(f);
  g_assert_cmpuint(fwrite(data, 1, len, f), ==, len);
  g_assert_cmpint(fclose(f), ==, 0);
}

/* Opening must fail with "PATH: ..." containing `phrase`. */
static void
assert_open_fails(const char *path, const char *phrase)
{
  char *err = NULL;
  kern_weights *w = kern_weights_open(path, &err);
  if (w)
    g_test_message("%s opened, expected failure with '%s'", path, phrase);
  g_assert_null(w);
  g_assert_nonnull(err);
  if (!g_str_has_prefix(err, path) || !strstr(err, phrase))
    g_test_message("message: %s\nwanted: %s: ...%s...", err, path, phrase);
  g_assert_true(g_str_has_prefix(err, path));
  g_assert_nonnull(strstr(err, phrase));
  free(err);
}

static void
assert_bytes_fail(const GByteArray *b, const char *phrase)
{
  char *path = tmp_path("bad.gguf");
  write_file(path, b->data, b->len);
  assert_open_fails(path, phrase);
  g_unlink(path);
  g_free(path);
}

static kern_weights *
open_ok(const char *path)
{
  char *err = NULL;
  kern_weights *w = kern_weights_open(path, &err);
  if (!w)
    g_test_message("cannot open %s: %s", path, err);
  g_assert_null(err);
  g_assert_nonnull(w);
  return w;
}

/* ---- UTF-8 ---------------------------------------------------------------- */

static void
test_utf8(void)
{
  static const char *const good[] = {
    "", "abc", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf" /* U+D7FF */,
    "\xee\x80\x80" /* U+E000 */, "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf" /* U+10FFFF */,
    "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80",
  };
  static const char *const bad[] = {
    "\x80", "\xbf", "a\x80z",                              /* lone continuation bytes */
    "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", /* overlongs */
    "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf",
    "\xed\xa0\x80", "\xed\xbf\xbf", "\xed\xb0\x80",         /* surrogates */
    "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf7\xbf\xbf\xbf", /* past U+10FFFF */
    "\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80", "\xfe", "\xff",
    "\xc2", "\xe0\xa0", "\xf0\x90\x80", "a\xe2\x82",         /* truncated */
    "\xe2\x82" "a", "\xc2\xc2", "\xf0\x90\x80" "a",          /* bad continuations */
  };
  for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
    g_test_message("good %zu", i);
    g_assert_true(kern_utf8_valid(good[i], strlen(good[i])));
  }
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_test_message("bad %zu", i);
    g_assert_false(kern_utf8_valid(bad[i], strlen(bad[i])));
  }
  /* The length is respected: a sequence cut by len is truncated. */
  g_assert_false(kern_utf8_valid("\xc2\x80", 1));
  g_assert_false(kern_utf8_valid("\xf0\x90\x80\x80", 3));
  g_assert_true(kern_utf8_valid("ab\xc2\x80", 2));
  /* NUL is valid UTF-8 (names reject it separately). */
  g_assert_true(kern_utf8_valid("a\0b", 3));
}

/* ---- typed getters ------------------------------------------------------- */

static void
test_meta_getters(void)
{
  int64_t i;
  double f;
  static const struct {
    kern_meta_type type;
    int is_signed;
    int64_t value;
  } ints[] = {
    { KERN_META_U8, 0, 255 },         { KERN_META_I8, 1, -128 },
    { KERN_META_U16, 0, 65535 },      { KERN_META_I16, 1, -32768 },
    { KERN_META_U32, 0, 4294967295 }, { KERN_META_I32, 1, INT32_MIN },
    { KERN_META_U64, 0, INT64_MAX },  { KERN_META_I64, 1, INT64_MIN },
    { KERN_META_BOOL, 1, 1 },
  };
  for (gsize k = 0; k < G_N_ELEMENTS(ints); k++) {
    kern_meta m = { .type = ints[k].type };
    if (ints[k].is_signed)
      m.v.i64 = ints[k].value;
    else
      m.v.u64 = (uint64_t)ints[k].value;
    i = 0;
    g_assert_cmpint(kern_meta_get_int(&m, &i), ==, 0);
    g_assert_cmpint(i, ==, ints[k].value);
    if (ints[k].type != KERN_META_BOOL) {
      g_assert_cmpint(kern_meta_get_float(&m, &f), ==, 0);
      g_assert_cmpfloat(f, ==, (double)ints[k].value);
    } else {
      g_assert_cmpint(kern_meta_get_float(&m, &f), ==, KERN_E_INVAL);
    }
    g_assert_null(kern_meta_get_string(&m));
    g_assert_cmpint(kern_meta_array_int(&m, 0, &i), ==, KERN_E_INVAL);
    g_assert_null(kern_meta_array_item(&m, 0));
  }
  /* u64 above INT64_MAX does not fit an int64, but is a float. */
  kern_meta big = { .type = KERN_META_U64, .v.u64 = (uint64_t)INT64_MAX + 1 };
  g_assert_cmpint(kern_meta_get_int(&big, &i), ==, KERN_E_INVAL);
  big.v.u64 = UINT64_MAX;
  g_assert_cmpint(kern_meta_get_int(&big, &i), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_meta_get_float(&big, &f), ==, 0);
  g_assert_cmpfloat(f, ==, 18446744073709551616.0);

  kern_meta fl = { .type = KERN_META_F32, .v.f64 = 0.25 };
  g_assert_cmpint(kern_meta_get_float(&fl, &f), ==, 0);
  g_assert_cmpfloat(f, ==, 0.25);
  g_assert_cmpint(kern_meta_get_int(&fl, &i), ==, KERN_E_INVAL);
  fl.type = KERN_META_F64;
  g_assert_cmpint(kern_meta_get_float(&fl, &f), ==, 0);
  g_assert_null(kern_meta_get_string(&fl));

  kern_meta s = { .type = KERN_META_STRING, .n = 3, .v.str = "abc" };
  g_assert_cmpstr(kern_meta_get_string(&s), ==, "abc");
  g_assert_cmpint(kern_meta_get_int(&s, &i), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_meta_get_float(&s, &f), ==, KERN_E_INVAL);
  g_assert_null(kern_meta_array_string(&s, 0));

  kern_meta null = { .type = KERN_META_NULL };
  g_assert_cmpint(kern_meta_get_int(&null, &i), ==, KERN_E_INVAL);
  g_assert_null(kern_meta_get_string(&null));
  g_assert_cmpint(kern_meta_get_int(NULL, &i), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_meta_get_float(NULL, &f), ==, KERN_E_INVAL);
  g_assert_null(kern_meta_get_string(NULL));
  g_assert_cmpint(kern_meta_array_int(NULL, 0, &i), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_meta_array_float(NULL, 0, &f), ==, KERN_E_INVAL);
  g_assert_null(kern_meta_array_string(NULL, 0));
  g_assert_null(kern_meta_array_item(NULL, 0));

  /* Numeric arrays: packed, maybe unaligned. */
  uint8_t raw[1 + 3 * 2];
  int16_t vals[3] = { 1, -2, 32767 };
  memcpy(raw + 1, vals, sizeof vals);
  kern_meta a16 = { .type = KERN_META_ARRAY, .elem_type = KERN_META_I16, .n = 3, .v.raw = raw + 1 };
  for (uint64_t k = 0; k < 3; k++) {
    g_assert_cmpint(kern_meta_array_int(&a16, k, &i), ==, 0);
    g_assert_cmpint(i, ==, vals[k]);
    g_assert_cmpint(kern_meta_array_float(&a16, k, &f), ==, 0);
    g_assert_cmpfloat(f, ==, vals[k]);
  }
  g_assert_cmpint(kern_meta_array_int(&a16, 3, &i), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_meta_array_int(&a16, UINT64_MAX, &i), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_meta_array_float(&a16, 3, &f), ==, KERN_E_INVAL);
  g_assert_null(kern_meta_array_string(&a16, 0));
  g_assert_null(kern_meta_array_item(&a16, 0));
  g_assert_null(kern_meta_get_string(&a16));
  g_assert_cmpint(kern_meta_get_int(&a16, &i), ==, KERN_E_INVAL);

  float fv[2] = { 1.5f, -0.75f };
  kern_meta af = { .type = KERN_META_ARRAY, .elem_type = KERN_META_F32, .n = 2, .v.raw = fv };
  g_assert_cmpint(kern_meta_array_int(&af, 0, &i), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_meta_array_float(&af, 1, &f), ==, 0);
  g_assert_cmpfloat(f, ==, -0.75);
  g_assert_cmpint(kern_meta_array_float(&af, 2, &f), ==, KERN_E_INVAL);
  double dv[1] = { -1e300 };
  kern_meta ad = { .type = KERN_META_ARRAY, .elem_type = KERN_META_F64, .n = 1, .v.raw = dv };
  g_assert_cmpint(kern_meta_array_float(&ad, 0, &f), ==, 0);
  g_assert_cmpfloat(f, ==, -1e300);
  g_assert_cmpint(kern_meta_array_float(&ad, 1, &f), ==, KERN_E_INVAL);

  uint64_t uv[2] = { 5, (uint64_t)INT64_MAX + 1 };
  kern_meta au = { .type = KERN_META_ARRAY, .elem_type = KERN_META_U64, .n = 2, .v.raw = uv };
  g_assert_cmpint(kern_meta_array_int(&au, 0, &i), ==, 0);
  g_assert_cmpint(i, ==, 5);
  g_assert_cmpint(kern_meta_array_int(&au, 1, &i), ==, KERN_E_INVAL);

  uint8_t bv[2] = { 1, 0 };
  kern_meta ab = { .type = KERN_META_ARRAY, .elem_type = KERN_META_BOOL, .n = 2, .v.raw = bv };
  g_assert_cmpint(kern_meta_array_int(&ab, 0, &i), ==, 0);
  g_assert_cmpint(i, ==, 1);
  g_assert_cmpint(kern_meta_array_int(&ab, 1, &i), ==, 0);
  g_assert_cmpint(i, ==, 0);
  g_assert_cmpint(kern_meta_array_float(&ab, 0, &f), ==, KERN_E_INVAL);

  kern_meta strs[2] = { { .type = KERN_META_STRING, .n = 1, .v.str = "x" },
                        { .type = KERN_META_STRING, .n = 0, .v.str = "" } };
  kern_meta as = { .type = KERN_META_ARRAY, .elem_type = KERN_META_STRING, .n = 2, .v.items = strs };
  g_assert_cmpstr(kern_meta_array_string(&as, 0), ==, "x");
  g_assert_cmpstr(kern_meta_array_string(&as, 1), ==, "");
  g_assert_null(kern_meta_array_string(&as, 2));
  g_assert_true(kern_meta_array_item(&as, 1) == &strs[1]);
  g_assert_null(kern_meta_array_item(&as, 2));
  g_assert_cmpint(kern_meta_array_int(&as, 0, &i), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_meta_array_float(&as, 0, &f), ==, KERN_E_INVAL);

  kern_meta nested = { .type = KERN_META_ARRAY, .elem_type = KERN_META_ARRAY, .n = 1, .v.items = &as };
  g_assert_true(kern_meta_array_item(&nested, 0) == &as);
  g_assert_null(kern_meta_array_item(&nested, 1));
  g_assert_null(kern_meta_array_string(&nested, 0));
  g_assert_cmpint(kern_meta_array_int(&nested, 0, &i), ==, KERN_E_INVAL);
}

/* ---- writer -> reader round trips --------------------------------------- */

typedef struct {
  const char *name;
  int type, n_dims;
  int64_t ne[KERN_MAX_DIMS];
} tensor_spec;

static const tensor_spec rt_tensors[] = {
  { "t.f32", KERN_TYPE_F32, 1, { 7 } },
  { "t.f16", KERN_TYPE_F16, 2, { 5, 3 } },
  { "t.bf16", KERN_TYPE_BF16, 2, { 4, 2 } },
  { "t.q8_0", KERN_TYPE_Q8_0, 2, { 64, 3 } },
  { "t.q4_0", KERN_TYPE_Q4_0, 1, { 32 } },
  { "t.q4_k", KERN_TYPE_Q4_K, 2, { 256, 2 } },
  { "t.i8", KERN_TYPE_I8, 4, { 3, 2, 2, 2 } },
  { "t.i32", KERN_TYPE_I32, 1, { 1 } },
  { "t.f64", KERN_TYPE_F64, 3, { 2, 3, 1 } },
  { "t.\xc3\xbc.name with spaces", KERN_TYPE_I16, 1, { 9 } },
};

static gsize
spec_nbytes(const tensor_spec *s)
{
  int64_t rows = 1;
  for (int d = 1; d < s->n_dims; d++)
    rows *= s->ne[d];
  return kern_type_row_size(s->type, s->ne[0]) * (gsize)rows;
}

/* Deterministic, tensor-specific bytes (any bytes are valid data). */
static guint8 *
spec_data(const tensor_spec *s, gsize salt)
{
  gsize n = spec_nbytes(s);
  guint8 *p = g_malloc(n ? n : 1);
  for (gsize i = 0; i < n; i++)
    p[i] = (guint8)(i * 13 + salt * 31 + 5);
  return p;
}

static void
add_spec_tensors(kern_gguf_writer *g)
{
  for (gsize k = 0; k < G_N_ELEMENTS(rt_tensors); k++) {
    const tensor_spec *s = &rt_tensors[k];
    guint8 *data = spec_data(s, k);
    g_assert_cmpint(kern_gguf_add_tensor(g, s->name, s->type, s->n_dims, s->ne, data), ==, 0);
    g_free(data);
  }
}

static void
check_spec_tensors(const kern_weights *w, gsize alignment)
{
  g_assert_cmpint(kern_weights_n_tensors(w), ==, G_N_ELEMENTS(rt_tensors));
  for (gsize k = 0; k < G_N_ELEMENTS(rt_tensors); k++) {
    const tensor_spec *s = &rt_tensors[k];
    const kern_tensor_info *t = kern_weights_tensor_at(w, (int64_t)k);
    g_assert_nonnull(t);
    g_assert_true(kern_weights_find(w, s->name) == t);
    g_assert_cmpstr(t->name, ==, s->name);
    g_assert_cmpint(t->type, ==, s->type);
    g_assert_cmpint(t->n_dims, ==, s->n_dims);
    int64_t n = 1;
    for (int d = 0; d < KERN_MAX_DIMS; d++) {
      g_assert_cmpint(t->ne[d], ==, d < s->n_dims ? s->ne[d] : 1);
      n *= t->ne[d];
    }
    g_assert_cmpint(kern_tensor_nelements(t), ==, n);
    g_assert_cmpuint(t->nbytes, ==, spec_nbytes(s));
    g_assert_cmpuint((guintptr)t->data % alignment, ==, 0);
    guint8 *want = spec_data(s, k);
    g_assert_cmpmem(t->data, t->nbytes, want, spec_nbytes(s));
    g_free(want);
  }
  g_assert_null(kern_weights_tensor_at(w, -1));
  g_assert_null(kern_weights_tensor_at(w, (int64_t)G_N_ELEMENTS(rt_tensors)));
  g_assert_null(kern_weights_find(w, "t.missing"));
}

static void
set_scalar(kern_gguf_writer *g, const char *key, kern_meta_type type, int64_t i, uint64_t u, double f)
{
  kern_meta m = { .type = type };
  if (type == KERN_META_F32 || type == KERN_META_F64)
    m.v.f64 = f;
  else if (type == KERN_META_U8 || type == KERN_META_U16 || type == KERN_META_U32 || type == KERN_META_U64)
    m.v.u64 = u;
  else
    m.v.i64 = i;
  g_assert_cmpint(kern_gguf_set_meta(g, key, &m), ==, 0);
}

/* Arrays of each numeric type, as packed little-endian bytes. */
static const uint8_t arr_u8[] = { 0, 1, 255 };
static const int8_t arr_i8[] = { -128, 0, 127 };
static const uint16_t arr_u16[] = { 0, 65535, 1234 };
static const int16_t arr_i16[] = { -32768, 32767 };
static const uint32_t arr_u32[] = { 0, 4294967295u };
static const int32_t arr_i32[] = { INT32_MIN, -1, INT32_MAX };
static const uint64_t arr_u64[] = { 0, UINT64_MAX, 42 };
static const int64_t arr_i64[] = { INT64_MIN, INT64_MAX };
static const float arr_f32[] = { 1.5f, -0.0f, 3.4e38f, 1e-45f };
static const double arr_f64[] = { 1.0 / 3.0, -1e308, 5e-324 };
static const uint8_t arr_bool[] = { 1, 0, 1 };

static const struct {
  const char *key;
  kern_meta_type type;
  const void *data;
  uint64_t n;
  size_t size;
} rt_arrays[] = {
  { "arr.u8", KERN_META_U8, arr_u8, G_N_ELEMENTS(arr_u8), sizeof arr_u8 },
  { "arr.i8", KERN_META_I8, arr_i8, G_N_ELEMENTS(arr_i8), sizeof arr_i8 },
  { "arr.u16", KERN_META_U16, arr_u16, G_N_ELEMENTS(arr_u16), sizeof arr_u16 },
  { "arr.i16", KERN_META_I16, arr_i16, G_N_ELEMENTS(arr_i16), sizeof arr_i16 },
  { "arr.u32", KERN_META_U32, arr_u32, G_N_ELEMENTS(arr_u32), sizeof arr_u32 },
  { "arr.i32", KERN_META_I32, arr_i32, G_N_ELEMENTS(arr_i32), sizeof arr_i32 },
  { "arr.u64", KERN_META_U64, arr_u64, G_N_ELEMENTS(arr_u64), sizeof arr_u64 },
  { "arr.i64", KERN_META_I64, arr_i64, G_N_ELEMENTS(arr_i64), sizeof arr_i64 },
  { "arr.f32", KERN_META_F32, arr_f32, G_N_ELEMENTS(arr_f32), sizeof arr_f32 },
  { "arr.f64", KERN_META_F64, arr_f64, G_N_ELEMENTS(arr_f64), sizeof arr_f64 },
  { "arr.bool", KERN_META_BOOL, arr_bool, G_N_ELEMENTS(arr_bool), sizeof arr_bool },
  { "arr.empty", KERN_META_I32, NULL, 0, 0 },
};

static const char *const rt_strings[] = { "alpha", "", "\xc3\xbcn\xc3\xaf \xf0\x9f\x98\x80" };
static const char *const rt_long_key =
  "a.key.that.is.rather.long.but.well.within.the.limit.of.four.thousand.and.ninety.six.bytes";

/* Nested arrays: [[1, 2], [3, 4, 5]] of i32, and [["a", "b"], [], [7u8]] mixing element types. */
static const int32_t nest_a[] = { 1, 2 }, nest_b[] = { 3, 4, 5 };
static const uint8_t nest_c[] = { 7 };

/* An array nested `levels` deep; the innermost holds one i32 42. */
static kern_meta *
deep_array(int levels, kern_meta *store)
{
  static const int32_t answer = 42;
  for (int l = levels - 1; l >= 0; l--) {
    kern_meta *m = &store[l];
    *m = (kern_meta){ .type = KERN_META_ARRAY, .n = 1 };
    if (l == levels - 1) {
      m->elem_type = KERN_META_I32;
      m->v.raw = &answer;
    } else {
      m->elem_type = KERN_META_ARRAY;
      m->v.items = &store[l + 1];
    }
  }
  return &store[0];
}

static void
write_roundtrip_meta(kern_gguf_writer *g, const char *long_string)
{
  set_scalar(g, "s.u8", KERN_META_U8, 0, 250, 0);
  set_scalar(g, "s.i8", KERN_META_I8, -128, 0, 0);
  set_scalar(g, "s.u16", KERN_META_U16, 0, 65535, 0);
  set_scalar(g, "s.i16", KERN_META_I16, -32768, 0, 0);
  g_assert_cmpint(kern_gguf_set_u32(g, "s.u32", 4294967295u), ==, 0);
  g_assert_cmpint(kern_gguf_set_i32(g, "s.i32", INT32_MIN), ==, 0);
  g_assert_cmpint(kern_gguf_set_u64(g, "s.u64", UINT64_MAX), ==, 0);
  set_scalar(g, "s.i64", KERN_META_I64, INT64_MIN, 0, 0);
  g_assert_cmpint(kern_gguf_set_f32(g, "s.f32", 3.14159f), ==, 0);
  set_scalar(g, "s.f64", KERN_META_F64, 0, 0, 1.0 / 3.0);
  set_scalar(g, "s.f32.meta", KERN_META_F32, 0, 0, -2.5);
  g_assert_cmpint(kern_gguf_set_bool(g, "s.true", 1), ==, 0);
  g_assert_cmpint(kern_gguf_set_bool(g, "s.false", 0), ==, 0);
  set_scalar(g, "s.bool.meta", KERN_META_BOOL, 1, 0, 0);
  g_assert_cmpint(kern_gguf_set_string(g, "s.str", "h\xc3\xa9llo \xe2\x9c\x93"), ==, 0);
  g_assert_cmpint(kern_gguf_set_string(g, "s.empty", ""), ==, 0);
  g_assert_cmpint(kern_gguf_set_string(g, "s.long", long_string), ==, 0);
  g_assert_cmpint(kern_gguf_set_string(g, rt_long_key, "v"), ==, 0);
  for (gsize k = 0; k < G_N_ELEMENTS(rt_arrays); k++)
    g_assert_cmpint(kern_gguf_set_array(g, rt_arrays[k].key, rt_arrays[k].type, rt_arrays[k].data, rt_arrays[k].n),
                    ==, 0);
  g_assert_cmpint(kern_gguf_set_string_array(g, "arr.str", rt_strings, G_N_ELEMENTS(rt_strings)), ==, 0);
  g_assert_cmpint(kern_gguf_set_string_array(g, "arr.str.empty", NULL, 0), ==, 0);

  kern_meta inner[2] = {
    { .type = KERN_META_ARRAY, .elem_type = KERN_META_I32, .n = 2, .v.raw = nest_a },
    { .type = KERN_META_ARRAY, .elem_type = KERN_META_I32, .n = 3, .v.raw = nest_b },
  };
  kern_meta outer = { .type = KERN_META_ARRAY, .elem_type = KERN_META_ARRAY, .n = 2, .v.items = inner };
  g_assert_cmpint(kern_gguf_set_meta(g, "nest.i32", &outer), ==, 0);

  kern_meta ab[2] = { { .type = KERN_META_STRING, .n = 1, .v.str = "a" },
                      { .type = KERN_META_STRING, .n = 1, .v.str = "b" } };
  kern_meta mixed_inner[3] = {
    { .type = KERN_META_ARRAY, .elem_type = KERN_META_STRING, .n = 2, .v.items = ab },
    { .type = KERN_META_ARRAY, .elem_type = KERN_META_STRING, .n = 0 },
    { .type = KERN_META_ARRAY, .elem_type = KERN_META_U8, .n = 1, .v.raw = nest_c },
  };
  kern_meta mixed = { .type = KERN_META_ARRAY, .elem_type = KERN_META_ARRAY, .n = 3, .v.items = mixed_inner };
  g_assert_cmpint(kern_gguf_set_meta(g, "nest.mixed", &mixed), ==, 0);

  kern_meta store[KERN_MAX_ARRAY_DEPTH + 1];
  g_assert_cmpint(kern_gguf_set_meta(g, "nest.deep", deep_array(KERN_MAX_ARRAY_DEPTH, store)), ==, 0);
}

static void
check_roundtrip_meta(const kern_weights *w, const char *long_string)
{
  const kern_meta *m;
  int64_t i;
  double f;
#define SCALAR(key, t, field, want)              \
  m = kern_weights_get_meta(w, key);             \
  g_assert_nonnull(m);                           \
  g_assert_cmpint(m->type, ==, t);               \
  g_assert_true(m->v.field == (want));
  SCALAR("s.u8", KERN_META_U8, u64, 250);
  SCALAR("s.i8", KERN_META_I8, i64, -128);
  SCALAR("s.u16", KERN_META_U16, u64, 65535);
  SCALAR("s.i16", KERN_META_I16, i64, -32768);
  SCALAR("s.u32", KERN_META_U32, u64, 4294967295u);
  SCALAR("s.i32", KERN_META_I32, i64, INT32_MIN);
  SCALAR("s.u64", KERN_META_U64, u64, UINT64_MAX);
  SCALAR("s.i64", KERN_META_I64, i64, INT64_MIN);
  SCALAR("s.f32", KERN_META_F32, f64, (double)3.14159f);
  SCALAR("s.f64", KERN_META_F64, f64, 1.0 / 3.0);
  SCALAR("s.f32.meta", KERN_META_F32, f64, -2.5);
  SCALAR("s.true", KERN_META_BOOL, i64, 1);
  SCALAR("s.false", KERN_META_BOOL, i64, 0);
  SCALAR("s.bool.meta", KERN_META_BOOL, i64, 1);
#undef SCALAR
  g_assert_cmpint(kern_weights_get_int(w, "s.i8", 0), ==, -128);
  g_assert_cmpint(kern_weights_get_int(w, "s.u64", 77), ==, 77); /* does not fit */
  g_assert_cmpint(kern_weights_get_int(w, "s.str", 77), ==, 77);
  g_assert_cmpint(kern_weights_get_int(w, "no.such.key", -3), ==, -3);
  g_assert_cmpfloat(kern_weights_get_float(w, "s.f64", 0), ==, 1.0 / 3.0);
  g_assert_cmpfloat(kern_weights_get_float(w, "s.u16", 0), ==, 65535.0);
  g_assert_cmpfloat(kern_weights_get_float(w, "s.str", 0.5), ==, 0.5);
  g_assert_cmpstr(kern_weights_get_string(w, "s.str", NULL), ==, "h\xc3\xa9llo \xe2\x9c\x93");
  g_assert_cmpstr(kern_weights_get_string(w, "s.empty", NULL), ==, "");
  g_assert_cmpstr(kern_weights_get_string(w, "s.u8", "fb"), ==, "fb");
  g_assert_cmpstr(kern_weights_get_string(w, "no.such.key", "fb"), ==, "fb");
  m = kern_weights_get_meta(w, "s.str");
  g_assert_cmpuint(m->n, ==, strlen("h\xc3\xa9llo \xe2\x9c\x93"));
  m = kern_weights_get_meta(w, "s.long");
  g_assert_cmpuint(m->n, ==, strlen(long_string));
  g_assert_cmpstr(m->v.str, ==, long_string);
  g_assert_cmpstr(kern_weights_get_string(w, rt_long_key, NULL), ==, "v");

  for (gsize k = 0; k < G_N_ELEMENTS(rt_arrays); k++) {
    m = kern_weights_get_meta(w, rt_arrays[k].key);
    g_assert_nonnull(m);
    g_assert_cmpint(m->type, ==, KERN_META_ARRAY);
    g_assert_cmpint(m->elem_type, ==, rt_arrays[k].type);
    g_assert_cmpuint(m->n, ==, rt_arrays[k].n);
    if (m->n)
      g_assert_cmpmem(m->v.raw, rt_arrays[k].size, rt_arrays[k].data, rt_arrays[k].size);
    g_assert_cmpint(kern_meta_array_int(m, m->n, &i), ==, KERN_E_INVAL);
  }
  m = kern_weights_get_meta(w, "arr.i8");
  g_assert_cmpint(kern_meta_array_int(m, 0, &i), ==, 0);
  g_assert_cmpint(i, ==, -128);
  m = kern_weights_get_meta(w, "arr.u64");
  g_assert_cmpint(kern_meta_array_int(m, 1, &i), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_meta_array_int(m, 2, &i), ==, 0);
  g_assert_cmpint(i, ==, 42);
  m = kern_weights_get_meta(w, "arr.f32");
  g_assert_cmpint(kern_meta_array_float(m, 2, &f), ==, 0);
  g_assert_cmpfloat(f, ==, (double)3.4e38f);
  g_assert_cmpint(kern_meta_array_float(m, 1, &f), ==, 0);
  g_assert_true(f == 0 && signbit(f));
  m = kern_weights_get_meta(w, "arr.f64");
  g_assert_cmpint(kern_meta_array_float(m, 2, &f), ==, 0);
  g_assert_cmpfloat(f, ==, 5e-324);
  m = kern_weights_get_meta(w, "arr.bool");
  g_assert_cmpint(kern_meta_array_int(m, 1, &i), ==, 0);
  g_assert_cmpint(i, ==, 0);

  m = kern_weights_get_meta(w, "arr.str");
  g_assert_cmpint(m->type, ==, KERN_META_ARRAY);
  g_assert_cmpint(m->elem_type, ==, KERN_META_STRING);
  g_assert_cmpuint(m->n, ==, G_N_ELEMENTS(rt_strings));
  for (gsize k = 0; k < G_N_ELEMENTS(rt_strings); k++) {
    g_assert_cmpstr(kern_meta_array_string(m, k), ==, rt_strings[k]);
    g_assert_cmpuint(kern_meta_array_item(m, k)->n, ==, strlen(rt_strings[k]));
  }
  g_assert_null(kern_meta_array_string(m, G_N_ELEMENTS(rt_strings)));
  m = kern_weights_get_meta(w, "arr.str.empty");
  g_assert_cmpint(m->elem_type, ==, KERN_META_STRING);
  g_assert_cmpuint(m->n, ==, 0);
  g_assert_null(kern_meta_array_string(m, 0));

  m = kern_weights_get_meta(w, "nest.i32");
  g_assert_cmpint(m->elem_type, ==, KERN_META_ARRAY);
  g_assert_cmpuint(m->n, ==, 2);
  const kern_meta *a = kern_meta_array_item(m, 0), *b = kern_meta_array_item(m, 1);
  g_assert_cmpint(a->type, ==, KERN_META_ARRAY);
  g_assert_cmpint(a->elem_type, ==, KERN_META_I32);
  g_assert_cmpuint(a->n, ==, 2);
  g_assert_cmpmem(a->v.raw, 8, nest_a, sizeof nest_a);
  g_assert_cmpuint(b->n, ==, 3);
  g_assert_cmpint(kern_meta_array_int(b, 2, &i), ==, 0);
  g_assert_cmpint(i, ==, 5);
  g_assert_null(kern_meta_array_item(m, 2));

  m = kern_weights_get_meta(w, "nest.mixed");
  g_assert_cmpuint(m->n, ==, 3);
  a = kern_meta_array_item(m, 0);
  g_assert_cmpint(a->elem_type, ==, KERN_META_STRING);
  g_assert_cmpstr(kern_meta_array_string(a, 1), ==, "b");
  g_assert_cmpuint(kern_meta_array_item(m, 1)->n, ==, 0);
  g_assert_cmpint(kern_meta_array_item(m, 1)->elem_type, ==, KERN_META_STRING);
  b = kern_meta_array_item(m, 2);
  g_assert_cmpint(b->elem_type, ==, KERN_META_U8);
  g_assert_cmpint(kern_meta_array_int(b, 0, &i), ==, 0);
  g_assert_cmpint(i, ==, 7);

  m = kern_weights_get_meta(w, "nest.deep");
  for (int l = 0; l < KERN_MAX_ARRAY_DEPTH - 1; l++) {
    g_assert_cmpint(m->elem_type, ==, KERN_META_ARRAY);
    g_assert_cmpuint(m->n, ==, 1);
    m = kern_meta_array_item(m, 0);
  }
  g_assert_cmpint(kern_meta_array_int(m, 0, &i), ==, 0);
  g_assert_cmpint(i, ==, 42);
}

static char *
make_long_string(void)
{
  GString *s = g_string_new(NULL);
  for (int k = 0; s->len < 100000; k++)
    g_string_append_printf(s, "%d \xe2\x82\xac ", k);
  return g_string_free(s, FALSE);
}

static void
test_roundtrip(void)
{
  char *long_string = make_long_string();
  kern_gguf_writer *g = kern_gguf_writer_new();
  write_roundtrip_meta(g, long_string);
  add_spec_tensors(g);
  char *path = tmp_path("roundtrip.gguf");
  char *err = NULL;
  g_assert_cmpint(kern_gguf_write(g, path, &err), ==, 0);
  g_assert_null(err);
  kern_gguf_writer_free(g);

  kern_weights *w = open_ok(path);
  g_assert_cmpint(kern_weights_format(w), ==, KERN_FORMAT_GGUF);
  g_assert_cmpstr(kern_weights_format_name(kern_weights_format(w)), ==, "GGUF");
  g_assert_cmpstr(kern_weights_path(w), ==, path);
  check_roundtrip_meta(w, long_string);
  check_spec_tensors(w, 32);

  /* Metadata in file order; meta_at agrees with get_meta. */
  g_assert_cmpint(kern_weights_n_meta(w), ==, 18 + G_N_ELEMENTS(rt_arrays) + 2 + 3);
  const char *key = NULL;
  g_assert_true(kern_weights_meta_at(w, 0, &key) == kern_weights_get_meta(w, "s.u8"));
  g_assert_cmpstr(key, ==, "s.u8");
  g_assert_true(kern_weights_meta_at(w, kern_weights_n_meta(w) - 1, &key) == kern_weights_get_meta(w, "nest.deep"));
  g_assert_cmpstr(key, ==, "nest.deep");
  g_assert_null(kern_weights_meta_at(w, -1, &key));
  g_assert_null(kern_weights_meta_at(w, kern_weights_n_meta(w), &key));
  for (int64_t k = 0; k < kern_weights_n_meta(w); k++)
    g_assert_true(kern_weights_meta_at(w, k, &key) == kern_weights_get_meta(w, key));
  kern_weights_close(w);

  /* The writer copied its inputs; no .tmp file is left behind. */
  char *tmp = g_strconcat(path, ".tmp", NULL);
  g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));
  g_free(tmp);
  g_unlink(path);
  g_free(path);
  g_free(long_string);
}

/* Data pointers honour general.alignment, small and large. */
static void
test_alignment(void)
{
  static const guint32 aligns[] = { 1, 8, 32, 64, 4096 };
  for (gsize k = 0; k < G_N_ELEMENTS(aligns); k++) {
    kern_gguf_writer *g = kern_gguf_writer_new();
    g_assert_cmpint(kern_gguf_set_string(g, "general.architecture", "test"), ==, 0);
    g_assert_cmpint(kern_gguf_set_u32(g, "general.alignment", aligns[k]), ==, 0);
    add_spec_tensors(g);
    char *path = tmp_path("aligned.gguf");
    g_assert_cmpint(kern_gguf_write(g, path, NULL), ==, 0);
    kern_gguf_writer_free(g);
    kern_weights *w = open_ok(path);
    g_assert_cmpint(kern_weights_get_int(w, "general.alignment", 0), ==, aligns[k]);
    check_spec_tensors(w, aligns[k]);
    kern_weights_close(w);
    g_unlink(path);
    g_free(path);
  }
}

/* A file of metadata only, and a file with nothing at all. */
static void
test_empty_model(void)
{
  char *path = tmp_path("empty-model.gguf");
  kern_gguf_writer *g = kern_gguf_writer_new();
  g_assert_cmpint(kern_gguf_write(g, path, NULL), ==, 0);
  kern_gguf_writer_free(g);
  kern_weights *w = open_ok(path);
  g_assert_cmpint(kern_weights_n_meta(w), ==, 0);
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 0);
  g_assert_null(kern_weights_get_meta(w, "x"));
  g_assert_null(kern_weights_find(w, "x"));
  kern_weights_close(w);

  g = kern_gguf_writer_new();
  g_assert_cmpint(kern_gguf_set_u32(g, "only.key", 1), ==, 0);
  g_assert_cmpint(kern_gguf_write(g, path, NULL), ==, 0);
  kern_gguf_writer_free(g);
  w = open_ok(path);
  g_assert_cmpint(kern_weights_n_meta(w), ==, 1);
  g_assert_cmpint(kern_weights_get_int(w, "only.key", 0), ==, 1);
  kern_weights_close(w);
  g_unlink(path);
  g_free(path);
}

/* What the writer refuses. */
static void
test_writer_rejects(void)
{
  kern_gguf_writer *g = kern_gguf_writer_new();
  const int64_t ne[2] = { 32, 2 };
  float data[64] = { 0 };
  g_assert_cmpint(kern_gguf_set_u32(g, "k", 1), ==, 0);
  g_assert_cmpint(kern_gguf_set_u32(g, "k", 2), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_set_string(g, "k", "x"), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_set_u32(g, "", 1), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_set_u32(g, "bad\xff", 1), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_set_string(g, "s", "bad\xc0\x80"), ==, KERN_E_INVAL);
  const char *bad_strs[] = { "ok", "\xed\xa0\x80" };
  g_assert_cmpint(kern_gguf_set_string_array(g, "sa", bad_strs, 2), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_set_array(g, "a", KERN_META_STRING, data, 1), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_set_array(g, "a", KERN_META_I32, NULL, 1), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_set_u32(g, "general.alignment", 48), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_set_u32(g, "general.alignment", 0), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_set_u32(g, "general.alignment", 1u << 21), ==, KERN_E_INVAL); /* the reader's limit */
  kern_meta align64 = { .type = KERN_META_U64, .v.u64 = 64 };
  g_assert_cmpint(kern_gguf_set_meta(g, "general.alignment", &align64), ==, KERN_E_INVAL); /* must be a u32 */
  kern_meta null = { .type = KERN_META_NULL };
  g_assert_cmpint(kern_gguf_set_meta(g, "n", &null), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_set_meta(g, "n", NULL), ==, KERN_E_INVAL);
  /* What readers refuse is not written: bools other than 0/1, strings that are not UTF-8. */
  kern_meta bool2 = { .type = KERN_META_BOOL, .v.i64 = 2 };
  g_assert_cmpint(kern_gguf_set_meta(g, "b2", &bool2), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_set_array(g, "ab", KERN_META_BOOL, (uint8_t[]){ 1, 0, 2 }, 3), ==, KERN_E_INVAL);
  kern_meta bools = { .type = KERN_META_ARRAY, .elem_type = KERN_META_BOOL, .n = 2, .v.raw = "\1\3" };
  g_assert_cmpint(kern_gguf_set_meta(g, "ab", &bools), ==, KERN_E_INVAL);
  kern_meta badstr = { .type = KERN_META_STRING, .n = 2, .v.str = "\xc3(" };
  g_assert_cmpint(kern_gguf_set_meta(g, "bs", &badstr), ==, KERN_E_INVAL);
  kern_meta nulstr = { .type = KERN_META_STRING, .n = 3, .v.str = "a\0b" };
  g_assert_cmpint(kern_gguf_set_meta(g, "bs", &nulstr), ==, KERN_E_INVAL);
  kern_meta badstrs = { .type = KERN_META_ARRAY, .elem_type = KERN_META_STRING, .n = 1, .v.items = &badstr };
  g_assert_cmpint(kern_gguf_set_meta(g, "bs", &badstrs), ==, KERN_E_INVAL);
  /* Items of a nested array must have the element type. */
  kern_meta items[1] = { { .type = KERN_META_STRING, .n = 1, .v.str = "x" } };
  kern_meta wrong = { .type = KERN_META_ARRAY, .elem_type = KERN_META_ARRAY, .n = 1, .v.items = items };
  g_assert_cmpint(kern_gguf_set_meta(g, "wrong", &wrong), ==, KERN_E_INVAL);
  /* Arrays nested deeper than readers accept are refused, not written. */
  kern_meta store[KERN_MAX_ARRAY_DEPTH + 1];
  g_assert_cmpint(kern_gguf_set_meta(g, "deep", deep_array(KERN_MAX_ARRAY_DEPTH + 1, store)), ==, KERN_E_INVAL);

  g_assert_cmpint(kern_gguf_add_tensor(g, "t", KERN_TYPE_F32, 2, ne, data), ==, 0);
  g_assert_cmpint(kern_gguf_add_tensor(g, "t", KERN_TYPE_F32, 2, ne, data), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_add_tensor(g, "", KERN_TYPE_F32, 2, ne, data), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_add_tensor(g, "u", 99, 2, ne, data), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_add_tensor(g, "u", 4, 2, ne, data), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_add_tensor(g, "u", KERN_TYPE_F32, 0, ne, data), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_add_tensor(g, "u", KERN_TYPE_F32, 5, ne, data), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_add_tensor(g, "u", KERN_TYPE_Q8_0, 1, (int64_t[]){ 33 }, data), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_add_tensor(g, "u", KERN_TYPE_F32, 2, (int64_t[]){ 4, 0 }, data), ==, KERN_E_INVAL);
  g_assert_cmpint(kern_gguf_add_tensor(g, "u", KERN_TYPE_F32, 1, (int64_t[]){ -4 }, data), ==, KERN_E_INVAL);

  /* A write that cannot happen reports the path. */
  char *path = g_build_filename(tmp_dir, "no-such-dir", "x.gguf", NULL);
  char *err = NULL;
  g_assert_cmpint(kern_gguf_write(g, path, &err), ==, KERN_E_IO);
  g_assert_nonnull(err);
  g_assert_true(g_str_has_prefix(err, path));
  free(err);
  g_free(path);
  kern_gguf_writer_free(g);
}

/* A refused duplicate general.alignment must not change the layout: the file
 * records the first value, so the data must be laid out for it. The filler
 * moves the header end through every position modulo the alignments. */
static void
test_writer_alignment_duplicate(void)
{
  for (int fill = 0; fill < 128; fill += 4) {
    kern_gguf_writer *g = kern_gguf_writer_new();
    char *filler = g_strnfill((gsize)fill, 'x');
    g_assert_cmpint(kern_gguf_set_string(g, "filler", filler), ==, 0);
    g_assert_cmpint(kern_gguf_set_u32(g, "general.alignment", 64), ==, 0);
    g_assert_cmpint(kern_gguf_set_u32(g, "general.alignment", 128), ==, KERN_E_INVAL);
    g_assert_cmpint(kern_gguf_set_u32(g, "general.alignment", 48), ==, KERN_E_INVAL);
    add_spec_tensors(g);
    char *path = tmp_path("align-dup.gguf");
    g_assert_cmpint(kern_gguf_write(g, path, NULL), ==, 0);
    kern_gguf_writer_free(g);
    kern_weights *w = open_ok(path);
    g_assert_cmpint(kern_weights_get_int(w, "general.alignment", 0), ==, 64);
    check_spec_tensors(w, 64);
    kern_weights_close(w);
    g_unlink(path);
    g_free(path);
    g_free(filler);
  }
}

/* ---- gguf-py interop ---------------------------------------------------- */

static void
test_gguf_py_small(void)
{
  char *path = g_test_build_filename(G_TEST_DIST, "data", "gguf-py-small.gguf", NULL);
  kern_weights *w = open_ok(path);
  const kern_meta *m;
  int64_t i;
  double f;
  g_assert_cmpint(kern_weights_n_meta(w), ==, 22);
  g_assert_cmpstr(kern_weights_get_string(w, "general.architecture", NULL), ==, "hark-test");
#define SCALAR(key, t, field, want)              \
  m = kern_weights_get_meta(w, key);             \
  g_assert_nonnull(m);                           \
  g_assert_cmpint(m->type, ==, t);               \
  g_assert_true(m->v.field == (want));
  SCALAR("test.u8", KERN_META_U8, u64, 200);
  SCALAR("test.i8", KERN_META_I8, i64, -100);
  SCALAR("test.u16", KERN_META_U16, u64, 60000);
  SCALAR("test.i16", KERN_META_I16, i64, -30000);
  SCALAR("test.u32", KERN_META_U32, u64, 4000000000u);
  SCALAR("test.i32", KERN_META_I32, i64, -2000000000);
  SCALAR("test.u64", KERN_META_U64, u64, 18000000000000000000ull);
  SCALAR("test.i64", KERN_META_I64, i64, -9000000000000000000ll);
  SCALAR("test.f32", KERN_META_F32, f64, 0.15625);
  SCALAR("test.f64", KERN_META_F64, f64, -1.0e300);
  SCALAR("test.bool_true", KERN_META_BOOL, i64, 1);
  SCALAR("test.bool_false", KERN_META_BOOL, i64, 0);
#undef SCALAR
  g_assert_cmpstr(kern_weights_get_string(w, "test.string", NULL), ==, "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80");

  static const struct {
    const char *key;
    kern_meta_type type;
    int n;
    double v[3];
  } arrays[] = {
    { "test.arr_i32", KERN_META_I32, 3, { 1, -2, 3 } },
    { "test.arr_f32", KERN_META_F32, 2, { 0.5, -1.25 } },
    { "test.arr_u8", KERN_META_U8, 2, { 1, 255 } },
    { "test.arr_i64", KERN_META_I64, 2, { -4611686018427387904.0, 5 } },
    { "test.arr_f64", KERN_META_F64, 2, { 2.5, -0.125 } },
  };
  for (gsize k = 0; k < G_N_ELEMENTS(arrays); k++) {
    m = kern_weights_get_meta(w, arrays[k].key);
    g_assert_nonnull(m);
    g_assert_cmpint(m->type, ==, KERN_META_ARRAY);
    g_assert_cmpint(m->elem_type, ==, arrays[k].type);
    g_assert_cmpuint(m->n, ==, (guint64)arrays[k].n);
    for (int j = 0; j < arrays[k].n; j++) {
      g_assert_cmpint(kern_meta_array_float(m, (uint64_t)j, &f), ==, 0);
      g_assert_cmpfloat(f, ==, arrays[k].v[j]);
    }
  }
  m = kern_weights_get_meta(w, "test.arr_i64");
  g_assert_cmpint(kern_meta_array_int(m, 0, &i), ==, 0);
  g_assert_cmpint(i, ==, -(INT64_C(1) << 62));
  m = kern_weights_get_meta(w, "test.arr_bool");
  g_assert_cmpint(m->elem_type, ==, KERN_META_BOOL);
  g_assert_cmpuint(m->n, ==, 3);
  g_assert_cmpmem(m->v.raw, 3, "\1\0\1", 3);
  m = kern_weights_get_meta(w, "test.arr_str");
  g_assert_cmpint(m->elem_type, ==, KERN_META_STRING);
  g_assert_cmpuint(m->n, ==, 3);
  g_assert_cmpstr(kern_meta_array_string(m, 0), ==, "a");
  g_assert_cmpstr(kern_meta_array_string(m, 1), ==, "");
  g_assert_cmpstr(kern_meta_array_string(m, 2), ==, "z\xc3\xbc");
  m = kern_weights_get_meta(w, "test.nested");
  g_assert_cmpint(m->elem_type, ==, KERN_META_ARRAY);
  g_assert_cmpuint(m->n, ==, 2);
  for (int j = 0; j < 5; j++) {
    const kern_meta *in = kern_meta_array_item(m, j < 2 ? 0 : 1);
    g_assert_cmpint(in->elem_type, ==, KERN_META_I32);
    g_assert_cmpuint(in->n, ==, j < 2 ? 2 : 3);
    g_assert_cmpint(kern_meta_array_int(in, (uint64_t)(j < 2 ? j : j - 2), &i), ==, 0);
    g_assert_cmpint(i, ==, j + 1);
  }

  g_assert_cmpint(kern_weights_n_tensors(w), ==, 3);
  const kern_tensor_info *t = kern_weights_tensor_at(w, 0);
  g_assert_cmpstr(t->name, ==, "t.f32");
  g_assert_cmpint(t->type, ==, KERN_TYPE_F32);
  g_assert_cmpint(t->n_dims, ==, 2);
  g_assert_cmpint(t->ne[0], ==, 3);
  g_assert_cmpint(t->ne[1], ==, 2);
  g_assert_cmpuint(t->nbytes, ==, 24);
  for (int j = 0; j < 6; j++) {
    float v;
    memcpy(&v, (const char *)t->data + 4 * j, 4);
    g_assert_cmpfloat(v, ==, j * 0.25f - 1.0f);
  }
  t = kern_weights_tensor_at(w, 1);
  g_assert_cmpstr(t->name, ==, "t.f16");
  g_assert_cmpint(t->type, ==, KERN_TYPE_F16);
  g_assert_cmpint(t->ne[0], ==, 8);
  g_assert_cmpint(t->ne[1], ==, 4);
  g_assert_cmpuint(t->nbytes, ==, 64);
  for (int j = 0; j < 32; j++) {
    uint16_t h;
    memcpy(&h, (const char *)t->data + 2 * j, 2);
    g_assert_cmpfloat(kern_f16_to_f32(h), ==, j / 8.0f - 2.0f);
  }
  t = kern_weights_tensor_at(w, 2);
  g_assert_cmpstr(t->name, ==, "t.q8_0");
  g_assert_cmpint(t->type, ==, KERN_TYPE_Q8_0);
  g_assert_cmpint(t->ne[0], ==, 64);
  g_assert_cmpint(t->ne[1], ==, 2);
  g_assert_cmpuint(t->nbytes, ==, 136);
  const guint8 *q = t->data;
  for (int r = 0; r < 2; r++)
    for (int b = 0; b < 2; b++) {
      const guint8 *blk = q + (r * 2 + b) * 34;
      uint16_t d;
      memcpy(&d, blk, 2);
      g_assert_cmpfloat(kern_f16_to_f32(d), ==, 0.5f + r + b / 4.0f);
      for (int j = 0; j < 32; j++)
        g_assert_cmpint((int8_t)blk[2 + j], ==, (r * 7 + b * 3 + j * 5) % 256 - 128);
    }
  for (int j = 0; j < 3; j++)
    g_assert_cmpuint((guintptr)kern_weights_tensor_at(w, j)->data % 32, ==, 0);
  kern_weights_close(w);
  g_free(path);
}

/* A file of ours, read by gguf-py (skipped without python3 and gguf-py). */
static void
test_gguf_py_reverse(void)
{
  char *script = g_test_build_filename(G_TEST_DIST, "reference", "make-gguf-golden.py", NULL);
  char *path = tmp_path("for-gguf-py.gguf");
  kern_gguf_writer *g = kern_gguf_writer_new();
  kern_meta u8 = { .type = KERN_META_U8, .v.u64 = 7 };
  g_assert_cmpint(kern_gguf_set_meta(g, "hark.u8", &u8), ==, 0);
  g_assert_cmpint(kern_gguf_set_i32(g, "hark.i32", -5), ==, 0);
  g_assert_cmpint(kern_gguf_set_u64(g, "hark.u64", UINT64_C(1) << 40), ==, 0);
  g_assert_cmpint(kern_gguf_set_f32(g, "hark.f32", 1.5f), ==, 0);
  g_assert_cmpint(kern_gguf_set_bool(g, "hark.bool", 1), ==, 0);
  g_assert_cmpint(kern_gguf_set_string(g, "hark.string", "w\xc3\xb6rld"), ==, 0);
  g_assert_cmpint(kern_gguf_set_array(g, "hark.arr_i16", KERN_META_I16, (int16_t[]){ -1, 2, -3 }, 3), ==, 0);
  g_assert_cmpint(kern_gguf_set_string_array(g, "hark.arr_str", (const char *[]){ "x", "yy", "" }, 3), ==, 0);
  g_assert_cmpint(kern_gguf_set_u32(g, "general.alignment", 64), ==, 0);
  float f32[6];
  for (int j = 0; j < 6; j++)
    f32[j] = j * 0.5f;
  g_assert_cmpint(kern_gguf_add_tensor(g, "w.f32", KERN_TYPE_F32, 2, (int64_t[]){ 3, 2 }, f32), ==, 0);
  g_assert_cmpint(kern_gguf_add_tensor(g, "w.i8", KERN_TYPE_I8, 1, (int64_t[]){ 5 }, (int8_t[]){ -2, -1, 0, 1, 2 }),
                  ==, 0);
  g_assert_cmpint(kern_gguf_write(g, path, NULL), ==, 0);
  kern_gguf_writer_free(g);

  const char *argv[] = { "python3", script, "--check", path, NULL };
  char *out = NULL, *errout = NULL;
  int status = 0;
  GError *error = NULL;
  if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &errout, &status, &error)) {
    g_test_message("cannot run python3: %s", error->message);
    g_test_skip("python3 is not available");
    g_clear_error(&error);
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    g_test_skip("gguf-py is not installed");
  } else {
    if (!g_spawn_check_wait_status(status, NULL))
      g_test_message("gguf-py says:\n%s%s", out, errout);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
  }
  g_free(out);
  g_free(errout);
  g_unlink(path);
  g_free(path);
  g_free(script);
}

/* ---- malformed files ----------------------------------------------------- */

typedef struct {
  const char *name;
  void (*build)(GByteArray *b);
  const char *phrase;
} bad_case;

static void
bad_version1(GByteArray *b)
{
  b_header(b, 1, 0, 0);
}

static void
bad_big_endian(GByteArray *b)
{
  b_header(b, 0x03000000u, 0, 0);
}

static void
bad_big_endian2(GByteArray *b)
{
  b_header(b, 0x02000000u, 0, 0);
}

static void
bad_version4(GByteArray *b)
{
  b_header(b, 4, 0, 0);
}

static void
bad_version_max(GByteArray *b)
{
  b_header(b, 0xffffffffu, 0, 0);
}

static void
bad_n_tensors(GByteArray *b)
{
  b_header(b, 3, UINT64_C(1) << 60, 0);
}

static void
bad_n_kv(GByteArray *b)
{
  b_header(b, 3, 0, UINT64_C(1) << 60);
}

static void
bad_n_tensors_unfit(GByteArray *b)
{
  b_header(b, 3, 1000, 0);
  b_data(b, 100);
}

static void
bad_key_len(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_u64(b, UINT64_C(1) << 63);
  b_bytes(b, "key", 3);
}

static void
bad_key_len_short(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_u64(b, 10);
  b_bytes(b, "key", 3);
}

static void
bad_string_len(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_str(b, "k");
  b_u32(b, KERN_META_STRING);
  b_u64(b, 1000);
  b_bytes(b, "abc", 3);
}

static void
bad_string_len_huge(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_str(b, "k");
  b_u32(b, KERN_META_STRING);
  b_u64(b, UINT64_MAX);
  b_bytes(b, "abc", 3);
}

static void
bad_array_len(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_str(b, "k");
  b_u32(b, KERN_META_ARRAY);
  b_u32(b, KERN_META_I32);
  b_u64(b, UINT64_C(1) << 62);
  b_u32(b, 1);
}

static void
bad_array_len_u64(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_str(b, "k");
  b_u32(b, KERN_META_ARRAY);
  b_u32(b, KERN_META_U64);
  b_u64(b, 3);
  b_u64(b, 1);
  b_u64(b, 2);
}

static void
bad_string_array_len(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_str(b, "k");
  b_u32(b, KERN_META_ARRAY);
  b_u32(b, KERN_META_STRING);
  b_u64(b, UINT64_C(1) << 40);
  b_str(b, "x");
}

static void
bad_string_array_item(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_str(b, "k");
  b_u32(b, KERN_META_ARRAY);
  b_u32(b, KERN_META_STRING);
  b_u64(b, 2);
  b_str(b, "x");
  b_u64(b, 100);
  b_bytes(b, "yyyyyyyy", 8);
}

static void
bad_nested_array_len(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_str(b, "k");
  b_u32(b, KERN_META_ARRAY);
  b_u32(b, KERN_META_ARRAY);
  b_u64(b, UINT64_C(1) << 50);
  b_u32(b, KERN_META_I32);
  b_u64(b, 0);
}

static void
b_deep(GByteArray *b, int levels)
{
  b_header(b, 3, 0, 1);
  b_str(b, "deep");
  b_u32(b, KERN_META_ARRAY);
  for (int l = 0; l < levels; l++) {
    b_u32(b, l < levels - 1 ? KERN_META_ARRAY : KERN_META_I32);
    b_u64(b, l < levels - 1 ? 1 : 0);
  }
}

static void
bad_depth(GByteArray *b)
{
  b_deep(b, KERN_MAX_ARRAY_DEPTH + 1);
}

static void
bad_depth_huge(GByteArray *b)
{
  b_deep(b, 10000);
}

static void
bad_meta_type(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_str(b, "k");
  b_u32(b, 13);
  b_u64(b, 0);
}

static void
bad_meta_type_big(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_str(b, "k");
  b_u32(b, 0xffffffffu);
  b_u64(b, 0);
}

static void
bad_array_type(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_str(b, "k");
  b_u32(b, KERN_META_ARRAY);
  b_u32(b, 13);
  b_u64(b, 1);
  b_u64(b, 0);
}

static void
bad_bool(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_str(b, "k");
  b_u32(b, KERN_META_BOOL);
  b_u8(b, 2);
}

static void
bad_bool_array(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_str(b, "k");
  b_u32(b, KERN_META_ARRAY);
  b_u32(b, KERN_META_BOOL);
  b_u64(b, 3);
  b_bytes(b, "\1\377\0", 3);
}

/* One tensor info (after an architecture entry), then data of `data` bytes. */
static void
b_one_tensor(GByteArray *b, const char *name, guint32 n_dims, const guint64 *ne, guint32 type, guint64 offset,
             gsize data)
{
  b_header(b, 3, 1, 1);
  b_kv_str(b, "general.architecture", "test");
  b_tinfo(b, name, n_dims, ne, type, offset);
  b_pad(b, 32);
  b_data(b, data);
}

static void
bad_ndims0(GByteArray *b)
{
  b_one_tensor(b, "t", 0, NULL, KERN_TYPE_F32, 0, 32);
}

static void
bad_ndims5(GByteArray *b)
{
  b_one_tensor(b, "t", 5, (guint64[]){ 1, 1, 1, 1, 1 }, KERN_TYPE_F32, 0, 32);
}

static void
bad_ndims_huge(GByteArray *b)
{
  b_header(b, 3, 1, 0);
  b_str(b, "t");
  b_u32(b, 0xffffffffu); /* followed by far fewer dimensions */
  for (int i = 0; i < 4; i++)
    b_u64(b, 1);
  b_u32(b, KERN_TYPE_F32);
  b_u64(b, 0);
  b_pad(b, 32);
  b_data(b, 32);
}

static void
bad_dim0(GByteArray *b)
{
  b_one_tensor(b, "t", 2, (guint64[]){ 4, 0 }, KERN_TYPE_F32, 0, 32);
}

static void
bad_dim_negative(GByteArray *b)
{
  b_one_tensor(b, "t", 1, (guint64[]){ (guint64)-8 }, KERN_TYPE_F32, 0, 32);
}

static void
bad_dims_overflow(GByteArray *b)
{
  guint64 d = UINT64_C(1) << 32;
  b_one_tensor(b, "t", 3, (guint64[]){ d, d, d }, KERN_TYPE_F32, 0, 32);
}

static void
bad_row_overflow(GByteArray *b)
{
  b_one_tensor(b, "t", 2, (guint64[]){ UINT64_C(1) << 61, 4 }, KERN_TYPE_F32, 0, 32);
}

/* Elements past INT64_MAX whose bytes (q4_K: 144 per 256) still fit a size_t. */
static void
bad_elements_overflow(GByteArray *b)
{
  b_one_tensor(b, "t", 2, (guint64[]){ UINT64_C(1) << 48, UINT64_C(1) << 16 }, KERN_TYPE_Q4_K, 0, 32);
}

static void
bad_tensor_type(GByteArray *b)
{
  b_one_tensor(b, "t", 1, (guint64[]){ 8 }, 99, 0, 32);
}

static void
bad_tensor_type_gap(GByteArray *b)
{
  b_one_tensor(b, "t", 1, (guint64[]){ 32 }, 4 /* Q4_2, removed */, 0, 32);
}

static void
bad_row_block(GByteArray *b)
{
  b_one_tensor(b, "t", 2, (guint64[]){ 33, 1 }, KERN_TYPE_Q8_0, 0, 64);
}

static void
bad_unaligned(GByteArray *b)
{
  b_one_tensor(b, "t", 1, (guint64[]){ 4 }, KERN_TYPE_F32, 4, 64);
}

static void
bad_offset_past_end(GByteArray *b)
{
  b_one_tensor(b, "t", 1, (guint64[]){ 4 }, KERN_TYPE_F32, 1024, 64);
}

static void
bad_offset_huge(GByteArray *b)
{
  b_one_tensor(b, "t", 1, (guint64[]){ 4 }, KERN_TYPE_F32, UINT64_MAX - 31, 64);
}

static void
bad_data_past_end(GByteArray *b)
{
  b_one_tensor(b, "t", 1, (guint64[]){ 16 }, KERN_TYPE_F32, 0, 63);
}

static void
bad_data_missing(GByteArray *b)
{
  b_header(b, 3, 1, 0);
  b_tinfo(b, "t", 1, (guint64[]){ 1 }, KERN_TYPE_F32, 0);
  b_u8(b, 0); /* the header ends unaligned; padding would follow */
  g_assert_cmpuint(b->len % 32, !=, 0);
}

static void
bad_dup_tensor(GByteArray *b)
{
  b_header(b, 3, 2, 0);
  b_tinfo(b, "same", 1, (guint64[]){ 8 }, KERN_TYPE_F32, 0);
  b_tinfo(b, "same", 1, (guint64[]){ 8 }, KERN_TYPE_F32, 32);
  b_pad(b, 32);
  b_data(b, 64);
}

static void
bad_dup_key(GByteArray *b)
{
  b_header(b, 3, 0, 2);
  b_kv_u32(b, "k.dup", 1);
  b_kv_str(b, "k.dup", "x");
}

static void
bad_utf8_key(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_kv_u32(b, "k\xc0\xafk", 1);
}

static void
bad_nul_key(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_strn(b, "k\0k", 3);
  b_u32(b, KERN_META_U32);
  b_u32(b, 1);
}

static void
bad_empty_key(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_kv_u32(b, "", 1);
}

static void
bad_utf8_string(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_kv_str(b, "k", "surrogate \xed\xa0\x80");
}

static void
bad_utf8_string_item(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_str(b, "k");
  b_u32(b, KERN_META_ARRAY);
  b_u32(b, KERN_META_STRING);
  b_u64(b, 2);
  b_str(b, "fine");
  b_str(b, "\xf4\x90\x80\x80");
}

static void
bad_utf8_tensor(GByteArray *b)
{
  b_one_tensor(b, "bad\xff", 1, (guint64[]){ 8 }, KERN_TYPE_F32, 0, 32);
}

static void
bad_empty_tensor_name(GByteArray *b)
{
  b_one_tensor(b, "", 1, (guint64[]){ 8 }, KERN_TYPE_F32, 0, 32);
}

static void
bad_long_tensor_name(GByteArray *b)
{
  char *name = g_strnfill(KERN_MAX_NAME_LEN + 1, 'n');
  b_one_tensor(b, name, 1, (guint64[]){ 8 }, KERN_TYPE_F32, 0, 32);
  g_free(name);
}

static void
bad_alignment_npot(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_kv_u32(b, "general.alignment", 48);
}

static void
bad_alignment_zero(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_kv_u32(b, "general.alignment", 0);
}

static void
bad_alignment_huge(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_kv_u32(b, "general.alignment", 1u << 31);
}

static void
bad_alignment_type(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_str(b, "general.alignment");
  b_u32(b, KERN_META_U64);
  b_u64(b, 32);
}

static void
bad_alignment_string(GByteArray *b)
{
  b_header(b, 3, 0, 1);
  b_kv_str(b, "general.alignment", "32");
}

static const bad_case bad_cases[] = {
  { "version-1", bad_version1, "GGUF version 1 is obsolete" },
  { "big-endian-v3", bad_big_endian, "big-endian GGUF files are not supported" },
  { "big-endian-v2", bad_big_endian2, "big-endian GGUF files are not supported" },
  { "version-4", bad_version4, "unsupported GGUF version 4" },
  { "version-max", bad_version_max, "unsupported GGUF version 4294967295" },
  { "n-tensors-absurd", bad_n_tensors, "the header claims 1152921504606846976 tensors" },
  { "n-kv-absurd", bad_n_kv, "the header claims 1152921504606846976 metadata entries" },
  { "n-tensors-unfit", bad_n_tensors_unfit, "1000 tensor infos cannot fit in the file" },
  { "key-length", bad_key_len, "truncated: a metadata key says 9223372036854775808 bytes" },
  { "key-length-short", bad_key_len_short, "truncated: a metadata key says 10 bytes" },
  { "string-length", bad_string_len, "truncated: a metadata string says 1000 bytes" },
  { "string-length-huge", bad_string_len_huge, "truncated: a metadata string says 18446744073709551615 bytes" },
  { "array-length", bad_array_len, "metadata 'k' is an array of 4611686018427387904 values, past the end" },
  { "array-length-u64", bad_array_len_u64, "metadata 'k' is an array of 3 values, past the end" },
  { "string-array-length", bad_string_array_len, "metadata 'k' is an array of 1099511627776 values, past the end" },
  { "string-array-item", bad_string_array_item, "truncated: a metadata string says 100 bytes" },
  { "nested-array-length", bad_nested_array_len, "is an array of 1125899906842624 values, past the end" },
  { "array-depth", bad_depth, "metadata 'deep': arrays nested deeper than 8" },
  { "array-depth-huge", bad_depth_huge, "metadata 'deep': arrays nested deeper than 8" },
  { "meta-type", bad_meta_type, "metadata 'k' has unknown type 13" },
  { "meta-type-big", bad_meta_type_big, "metadata 'k' has unknown type 4294967295" },
  { "array-type", bad_array_type, "metadata 'k': unknown array element type 13" },
  { "bool", bad_bool, "metadata 'k': bool value 2" },
  { "bool-array", bad_bool_array, "metadata 'k': bool element 1 is 255" },
  { "n-dims-0", bad_ndims0, "tensor 't' has 0 dimensions (1 to 4 supported)" },
  { "n-dims-5", bad_ndims5, "tensor 't' has 5 dimensions (1 to 4 supported)" },
  { "n-dims-huge", bad_ndims_huge, "tensor 't' has 4294967295 dimensions" },
  { "dim-0", bad_dim0, "tensor 't' has dimension 1 of size 0" },
  { "dim-negative", bad_dim_negative, "tensor 't' has dimension 0 of size 18446744073709551608" },
  { "dims-overflow", bad_dims_overflow, "tensor 't' has more elements than can be addressed" },
  { "row-overflow", bad_row_overflow, "tensor 't' is too large" },
  { "elements-overflow", bad_elements_overflow, "tensor 't'" },
  { "tensor-type", bad_tensor_type, "tensor 't' has type 99, which this version does not support" },
  { "tensor-type-gap", bad_tensor_type_gap, "tensor 't' has type 4, which this version does not support" },
  { "row-block", bad_row_block, "tensor 't': row length 33 is not a multiple of q8_0's block of 32" },
  { "unaligned-offset", bad_unaligned, "tensor 't' at offset 4 is not aligned to 32" },
  { "offset-past-end", bad_offset_past_end, "truncated: tensor 't' (16 bytes at data offset 1024) runs past the end" },
  { "offset-huge", bad_offset_huge, "runs past the end of the file" },
  { "data-past-end", bad_data_past_end, "truncated: tensor 't' (64 bytes at data offset 0) runs past the end" },
  { "data-missing", bad_data_missing, "truncated: the tensor data section is missing" },
  { "duplicate-tensor", bad_dup_tensor, "tensor 'same' appears twice" },
  { "duplicate-key", bad_dup_key, "metadata key 'k.dup' appears twice" },
  { "utf8-key", bad_utf8_key, "a metadata key is not valid UTF-8" },
  { "nul-in-key", bad_nul_key, "a metadata key is not valid UTF-8" },
  { "empty-key", bad_empty_key, "metadata key 0 has length 0" },
  { "utf8-string", bad_utf8_string, "a metadata string is not valid UTF-8" },
  { "utf8-string-item", bad_utf8_string_item, "a metadata string is not valid UTF-8" },
  { "utf8-tensor-name", bad_utf8_tensor, "a tensor name is not valid UTF-8" },
  { "empty-tensor-name", bad_empty_tensor_name, "tensor 0 has an empty name" },
  { "long-tensor-name", bad_long_tensor_name, "tensor 0 has a 4097-byte name" },
  { "alignment-npot", bad_alignment_npot, "general.alignment must be a power of two" },
  { "alignment-zero", bad_alignment_zero, "general.alignment must be a power of two" },
  { "alignment-huge", bad_alignment_huge, "general.alignment must be a power of two" },
  { "alignment-u64", bad_alignment_type, "general.alignment must be a power of two (u32)" },
  { "alignment-string", bad_alignment_string, "general.alignment must be a power of two (u32)" },
};

static void
test_bad_case(gconstpointer data)
{
  const bad_case *c = data;
  GByteArray *b = g_byte_array_new();
  c->build(b);
  assert_bytes_fail(b, c->phrase);
  g_byte_array_unref(b);
}

static void
test_bad_magic(void)
{
  GByteArray *b = g_byte_array_new();
  b_small_valid(b);
  memcpy(b->data, "GGUX", 4);
  /* Detection sends it nowhere ... */
  assert_bytes_fail(b, "not a model file this version understands");
  /* ... and the GGUF parser itself refuses it. */
  char *path = tmp_path("bad-magic.gguf");
  write_file(path, b->data, b->len);
  kern_weights *w = calloc(1, sizeof *w);
  w->path = strdup(path);
  g_assert_cmpint(_kern_gguf_parse(w, path), ==, KERN_E_FORMAT);
  g_assert_nonnull(w->error);
  g_assert_true(g_str_has_prefix(w->error, path));
  g_assert_nonnull(strstr(w->error, "not a GGUF file (bad magic)"));
  kern_weights_close(w);
  g_unlink(path);
  g_free(path);
  g_byte_array_unref(b);
}

static void
test_empty_file(void)
{
  char *path = tmp_path("empty.gguf");
  write_file(path, "", 0);
  assert_open_fails(path, "the file is empty");
  g_unlink(path);
  g_free(path);
}

static void
test_directory(void)
{
  char *dir = tmp_path("a-directory.gguf");
  g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
  assert_open_fails(dir, "model.safetensors");
  g_rmdir(dir);
  g_free(dir);

  char *missing = tmp_path("no-such-file.gguf");
  assert_open_fails(missing, "No such file or directory");
  g_free(missing);
  char *err = NULL;
  g_assert_null(kern_weights_open(NULL, &err));
  g_assert_nonnull(err);
  free(err);
  g_assert_null(kern_weights_open("/dev/null", NULL));
}

/* Every proper prefix of a file must fail cleanly: prefixes that end before
 * the last tensor's data are errors, prefixes that only cut trailing padding
 * are complete files. */
static void
check_prefixes(const guint8 *data, gsize len, gsize data_end)
{
  char *path = tmp_path("prefix.gguf");
  for (gsize n = 0; n < len; n++) {
    write_file(path, data, n);
    if (n >= data_end) {
      kern_weights *w = open_ok(path);
      kern_weights_close(w);
      continue;
    }
    assert_open_fails(path, n == 0 ? "the file is empty" : n < 4 ? "not a model file" : "truncated");
  }
  g_unlink(path);
  g_free(path);
}

/* The end of the last tensor's data in the file at path. */
static gsize
data_end_of(const char *path)
{
  kern_weights *w = open_ok(path);
  gsize end = 0;
  for (int64_t i = 0; i < kern_weights_n_tensors(w); i++) {
    const kern_tensor_info *t = kern_weights_tensor_at(w, i);
    gsize e = (gsize)((const guint8 *)t->data - w->maps[0].base) + t->nbytes;
    end = MAX(end, e);
  }
  kern_weights_close(w);
  return end;
}

static void
test_truncation_small(void)
{
  GByteArray *b = g_byte_array_new();
  b_small_valid(b);
  char *path = tmp_path("small.gguf");
  write_file(path, b->data, b->len);
  kern_weights *w = open_ok(path);
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 2);
  g_assert_cmpstr(kern_meta_array_string(kern_weights_get_meta(w, "test.words"), 1), ==, "two");
  kern_weights_close(w);
  g_assert_cmpuint(data_end_of(path), ==, b->len);
  check_prefixes(b->data, b->len, b->len);
  g_unlink(path);
  g_free(path);
  g_byte_array_unref(b);
}

static void
test_truncation_files(void)
{
  /* The gguf-py file and a writer file with every metadata type. */
  char *golden = g_test_build_filename(G_TEST_DIST, "data", "gguf-py-small.gguf", NULL);
  char *contents;
  gsize len;
  g_assert_true(g_file_get_contents(golden, &contents, &len, NULL));
  check_prefixes((const guint8 *)contents, len, data_end_of(golden));
  g_free(contents);
  g_free(golden);

  kern_gguf_writer *g = kern_gguf_writer_new();
  write_roundtrip_meta(g, "short");
  add_spec_tensors(g);
  char *path = tmp_path("all-types.gguf");
  g_assert_cmpint(kern_gguf_write(g, path, NULL), ==, 0);
  kern_gguf_writer_free(g);
  g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
  check_prefixes((const guint8 *)contents, len, data_end_of(path));
  g_free(contents);
  g_unlink(path);
  g_free(path);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  GError *error = NULL;
  tmp_dir = g_dir_make_tmp("hark-test-gguf-XXXXXX", &error);
  g_assert_no_error(error);

  g_test_add_func("/kernels/weights/utf8", test_utf8);
  g_test_add_func("/kernels/weights/meta-getters", test_meta_getters);
  g_test_add_func("/kernels/gguf/roundtrip", test_roundtrip);
  g_test_add_func("/kernels/gguf/alignment", test_alignment);
  g_test_add_func("/kernels/gguf/empty-model", test_empty_model);
  g_test_add_func("/kernels/gguf/writer-rejects", test_writer_rejects);
  g_test_add_func("/kernels/gguf/writer-alignment-duplicate", test_writer_alignment_duplicate);
  g_test_add_func("/kernels/gguf/gguf-py-small", test_gguf_py_small);
  g_test_add_func("/kernels/gguf/gguf-py-reverse", test_gguf_py_reverse);
  g_test_add_func("/kernels/gguf/malformed/magic", test_bad_magic);
  g_test_add_func("/kernels/gguf/malformed/empty-file", test_empty_file);
  g_test_add_func("/kernels/gguf/malformed/directory", test_directory);
  for (gsize k = 0; k < G_N_ELEMENTS(bad_cases); k++) {
    char *name = g_strconcat("/kernels/gguf/malformed/", bad_cases[k].name, NULL);
    g_test_add_data_func(name, &bad_cases[k], test_bad_case);
    g_free(name);
  }
  g_test_add_func("/kernels/gguf/truncation/small", test_truncation_small);
  g_test_add_func("/kernels/gguf/truncation/files", test_truncation_files);

  int rc = g_test_run();
  g_rmdir(tmp_dir); /* empty unless a test failed half way */
  g_free(tmp_dir);
  return rc;
}
