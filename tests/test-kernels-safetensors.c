/* test-kernels-safetensors.c: the safetensors reader.
 *
 * Files made by the reference `safetensors` package
 * (tests/reference/make-safetensors-golden.py: a single file, a Hugging Face
 * directory, a sharded directory) read back value by value; malformed files
 * and directories, each of which must fail with a message that names the path
 * and the problem; every truncation of a valid file. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern-type.h"
#include "kern-weights.h"

static char *tmp_dir;

static char *
data_path(const char *name)
{
  return g_test_build_filename(G_TEST_DIST, "data", "safetensors", name, NULL);
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

/* A safetensors file: u64 header length, header, data. */
static GByteArray *
st_bytes(const char *header, const void *data, gsize n)
{
  GByteArray *b = g_byte_array_new();
  guint64 len = strlen(header);
  g_byte_array_append(b, (const guint8 *)&len, 8);
  g_byte_array_append(b, (const guint8 *)header, (guint)len);
  if (n)
    g_byte_array_append(b, data, (guint)n);
  return b;
}

static void
write_st(const char *path, const char *header, gsize data_len)
{
  guint8 *data = g_malloc0(data_len + 1);
  for (gsize i = 0; i < data_len; i++)
    data[i] = (guint8)(i * 3 + 1);
  GByteArray *b = st_bytes(header, data, data_len);
  write_file(path, b->data, b->len);
  g_byte_array_unref(b);
  g_free(data);
}

static gfloat
f32_at(const kern_tensor_info *t, int i)
{
  gfloat v;
  memcpy(&v, (const guint8 *)t->data + 4 * i, 4);
  return v;
}

static void
check_shape(const kern_tensor_info *t, int type, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3)
{
  g_assert_cmpint(t->type, ==, type);
  g_assert_cmpint(t->n_dims, ==, n_dims);
  g_assert_cmpint(t->ne[0], ==, ne0);
  g_assert_cmpint(t->ne[1], ==, ne1);
  g_assert_cmpint(t->ne[2], ==, ne2);
  g_assert_cmpint(t->ne[3], ==, ne3);
  g_assert_cmpuint(t->nbytes, ==, kern_type_row_size(type, ne0) * (gsize)(ne1 * ne2 * ne3));
}

/* ---- valid files --------------------------------------------------------- */

static void
test_single(void)
{
  char *path = data_path("single.safetensors");
  kern_weights *w = open_ok(path);
  g_assert_cmpint(kern_weights_format(w), ==, KERN_FORMAT_SAFETENSORS);
  g_assert_cmpstr(kern_weights_format_name(KERN_FORMAT_SAFETENSORS), ==, "safetensors");
  g_assert_cmpint(kern_weights_n_meta(w), ==, 2);
  g_assert_cmpstr(kern_weights_get_string(w, "safetensors.format", NULL), ==, "pt");
  g_assert_cmpstr(kern_weights_get_string(w, "safetensors.note", NULL), ==, "hark \xe2\x9c\x93");
  g_assert_cmpuint(kern_weights_get_meta(w, "safetensors.note")->n, ==, strlen("hark \xe2\x9c\x93"));

  /* Tensors come in file (data offset) order. */
  static const char *const order[] = { "w.i64", "w.f64", "w.4d", "w.f32", "w.scalar",
                                       "w.i32", "w.bf16", "w.f16", "w.i16", "w.i8" };
  g_assert_cmpint(kern_weights_n_tensors(w), ==, G_N_ELEMENTS(order));
  for (gsize i = 0; i < G_N_ELEMENTS(order); i++) {
    const kern_tensor_info *t = kern_weights_tensor_at(w, (int64_t)i);
    g_assert_cmpstr(t->name, ==, order[i]);
    g_assert_true(kern_weights_find(w, order[i]) == t);
  }

  const kern_tensor_info *t = kern_weights_find(w, "w.f32");
  check_shape(t, KERN_TYPE_F32, 2, 3, 2, 1, 1);
  for (int i = 0; i < 6; i++)
    g_assert_cmpfloat(f32_at(t, i), ==, i * 0.5f - 1.0f);

  t = kern_weights_find(w, "w.f16");
  check_shape(t, KERN_TYPE_F16, 1, 4, 1, 1, 1);
  for (int i = 0; i < 4; i++) {
    guint16 h;
    memcpy(&h, (const guint8 *)t->data + 2 * i, 2);
    g_assert_cmpfloat(kern_f16_to_f32(h), ==, i * 0.25f - 0.5f);
  }

  t = kern_weights_find(w, "w.bf16");
  check_shape(t, KERN_TYPE_BF16, 1, 4, 1, 1, 1);
  static const float bf[] = { 1, -2, 3, 0.5f };
  for (int i = 0; i < 4; i++) {
    guint16 h;
    memcpy(&h, (const guint8 *)t->data + 2 * i, 2);
    g_assert_cmpfloat(kern_bf16_to_f32(h), ==, bf[i]);
  }

  t = kern_weights_find(w, "w.f64");
  check_shape(t, KERN_TYPE_F64, 3, 1, 2, 2, 1);
  for (int i = 0; i < 4; i++) {
    double d;
    memcpy(&d, (const guint8 *)t->data + 8 * i, 8);
    g_assert_cmpfloat(d, ==, i * (1.0 / 3.0));
  }

  t = kern_weights_find(w, "w.i8");
  check_shape(t, KERN_TYPE_I8, 1, 5, 1, 1, 1);
  for (int i = 0; i < 5; i++)
    g_assert_cmpint(((const int8_t *)t->data)[i], ==, i - 2);

  t = kern_weights_find(w, "w.i16");
  check_shape(t, KERN_TYPE_I16, 2, 2, 2, 1, 1);
  static const int16_t i16[] = { -32768, -1, 1, 32767 };
  g_assert_cmpmem(t->data, t->nbytes, i16, sizeof i16);

  t = kern_weights_find(w, "w.i32");
  check_shape(t, KERN_TYPE_I32, 1, 3, 1, 1, 1);
  static const int32_t i32[] = { INT32_MIN, 0, INT32_MAX };
  g_assert_cmpmem(t->data, t->nbytes, i32, sizeof i32);

  t = kern_weights_find(w, "w.i64");
  check_shape(t, KERN_TYPE_I64, 1, 2, 1, 1, 1);
  static const int64_t i64[] = { -(INT64_C(1) << 62), INT64_C(1) << 40 };
  g_assert_cmpmem(t->data, t->nbytes, i64, sizeof i64);

  /* A scalar (shape []) is one element in one dimension. */
  t = kern_weights_find(w, "w.scalar");
  check_shape(t, KERN_TYPE_F32, 1, 1, 1, 1, 1);
  g_assert_cmpfloat(f32_at(t, 0), ==, 2.5f);

  /* Row-major shape [1, 2, 3, 2] is ne [2, 3, 2, 1]. */
  t = kern_weights_find(w, "w.4d");
  check_shape(t, KERN_TYPE_F32, 4, 2, 3, 2, 1);
  g_assert_cmpint(kern_tensor_nelements(t), ==, 12);
  for (int i = 0; i < 12; i++)
    g_assert_cmpfloat(f32_at(t, i), ==, 100.0f + i);

  kern_weights_close(w);
  g_free(path);
}

static void
check_config(const kern_weights *w)
{
  g_assert_cmpstr(kern_weights_get_string(w, "config.model_type", NULL), ==, "hark-test");
  g_assert_cmpint(kern_weights_get_int(w, "config.hidden_size", 0), ==, 8);
  g_assert_cmpfloat(kern_weights_get_float(w, "config.layer_norm_eps", 0), ==, 1e-5);
  g_assert_cmpint(kern_weights_get_int(w, "config.tie_word_embeddings", 0), ==, 1);
  g_assert_cmpint(kern_weights_get_meta(w, "config.pad_token_id")->type, ==, KERN_META_NULL);
  g_assert_cmpint(kern_weights_get_int(w, "config.text_config.vocab_size", 0), ==, 10);
  g_assert_cmpstr(kern_weights_get_string(w, "config.text_config.name", NULL), ==, "gr\xc3\xbc\xc3\x9f");
  g_assert_cmpstr(kern_meta_array_string(kern_weights_get_meta(w, "config.architectures"), 0), ==, "HarkModel");
}

static void
test_hf_single(void)
{
  char *dir = data_path("hf-single");
  kern_weights *w = open_ok(dir);
  g_assert_cmpint(kern_weights_format(w), ==, KERN_FORMAT_SAFETENSORS);
  check_config(w);
  g_assert_cmpstr(kern_weights_get_string(w, "safetensors.format", NULL), ==, "pt");
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 1);
  const kern_tensor_info *t = kern_weights_find(w, "embed.weight");
  check_shape(t, KERN_TYPE_F32, 2, 2, 3, 1, 1);
  for (int i = 0; i < 6; i++)
    g_assert_cmpfloat(f32_at(t, i), ==, (float)i);
  kern_weights_close(w);

  /* The file inside opens on its own too (without the config). */
  char *file = g_build_filename(dir, "model.safetensors", NULL);
  w = open_ok(file);
  g_assert_null(kern_weights_get_meta(w, "config.model_type"));
  g_assert_nonnull(kern_weights_find(w, "embed.weight"));
  kern_weights_close(w);
  g_free(file);
  g_free(dir);
}

static void
test_sharded(void)
{
  char *dir = data_path("sharded");
  kern_weights *w = open_ok(dir);
  check_config(w);
  /* Every shard says format=pt; it is one entry. */
  g_assert_cmpstr(kern_weights_get_string(w, "safetensors.format", NULL), ==, "pt");
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 3);
  const kern_tensor_info *t = kern_weights_tensor_at(w, 0);
  g_assert_cmpstr(t->name, ==, "layers.0.weight"); /* shard 1 (first named by the index), data order */
  check_shape(t, KERN_TYPE_F32, 2, 4, 2, 1, 1);
  for (int i = 0; i < 8; i++)
    g_assert_cmpfloat(f32_at(t, i), ==, i * 0.125f);
  t = kern_weights_tensor_at(w, 1);
  g_assert_cmpstr(t->name, ==, "layers.0.bias");
  check_shape(t, KERN_TYPE_F16, 1, 2, 1, 1, 1);
  for (int i = 0; i < 2; i++) {
    guint16 h;
    memcpy(&h, (const guint8 *)t->data + 2 * i, 2);
    g_assert_cmpfloat(kern_f16_to_f32(h), ==, 1.0f + i);
  }
  t = kern_weights_tensor_at(w, 2);
  g_assert_cmpstr(t->name, ==, "layers.1.weight");
  check_shape(t, KERN_TYPE_BF16, 1, 2, 1, 1, 1);
  guint16 h[2];
  memcpy(h, t->data, 4);
  g_assert_cmpfloat(kern_bf16_to_f32(h[0]), ==, 2.0f);
  g_assert_cmpfloat(kern_bf16_to_f32(h[1]), ==, -1.0f);
  kern_weights_close(w);
  g_free(dir);
}

/* Variations the specification allows. */
static void
test_valid_variants(void)
{
  char *path = g_build_filename(tmp_dir, "variant.safetensors", NULL);
  /* No tensors at all (only metadata), and nothing at all. */
  write_st(path, "{\"__metadata__\":{\"a\":\"b\"}}", 0);
  kern_weights *w = open_ok(path);
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 0);
  g_assert_cmpstr(kern_weights_get_string(w, "safetensors.a", NULL), ==, "b");
  kern_weights_close(w);
  write_st(path, "{}", 0);
  w = open_ok(path);
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 0);
  g_assert_cmpint(kern_weights_n_meta(w), ==, 0);
  kern_weights_close(w);
  /* Header padding, members in any order, extra members ignored, UTF-8 names. */
  write_st(path,
           "{ \"b\" : {\"data_offsets\":[4,12],\"shape\":[2],\"dtype\":\"F32\",\"extra\":[1,{}]},\n"
           "\"\xc3\xa4\":{\"dtype\":\"I8\",\"shape\":[2,2],\"data_offsets\":[0,4]}}        ",
           12);
  w = open_ok(path);
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 2);
  g_assert_cmpstr(kern_weights_tensor_at(w, 0)->name, ==, "\xc3\xa4");
  g_assert_cmpstr(kern_weights_tensor_at(w, 1)->name, ==, "b");
  g_assert_cmpuint(((const guint8 *)kern_weights_tensor_at(w, 1)->data)[0], ==, 4 * 3 + 1);
  kern_weights_close(w);
  g_unlink(path);
  g_free(path);
}

/* ---- malformed single files ---------------------------------------------- */

typedef struct {
  const char *name;
  const char *header;
  gsize data_len;
  const char *phrase;
} bad_case;

static const bad_case bad_cases[] = {
  { "not-json", "{\"a\": }", 0, "the header is not valid JSON: line 1, column 7" },
  { "json-trailing", "{} []", 0, "the header is not valid JSON" },
  { "json-bad-utf8", "{\"a\xff\": 1}", 0, "the header is not valid JSON" },
  { "json-duplicate", "{\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                      "\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
    2, "duplicate member name" },
  { "entry-not-object", "{\"a\": 1}", 0, "tensor 'a': the entry is not a JSON object" },
  { "dtype-missing", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "tensor 'a': \"dtype\" is missing" },
  { "dtype-not-string", "{\"a\":{\"dtype\":1,\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
    "tensor 'a': \"dtype\" is missing or not a string" },
  { "shape-missing", "{\"a\":{\"dtype\":\"I8\",\"data_offsets\":[0,1]}}", 1, "tensor 'a': \"shape\" is missing" },
  { "shape-not-array", "{\"a\":{\"dtype\":\"I8\",\"shape\":1,\"data_offsets\":[0,1]}}", 1,
    "tensor 'a': \"shape\" is missing or not an array" },
  { "shape-negative", "{\"a\":{\"dtype\":\"I8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1,
    "tensor 'a': \"shape\" holds something other than sizes" },
  { "shape-float", "{\"a\":{\"dtype\":\"I8\",\"shape\":[1.0],\"data_offsets\":[0,1]}}", 1,
    "tensor 'a': \"shape\" holds something other than sizes" },
  { "shape-string", "{\"a\":{\"dtype\":\"I8\",\"shape\":[\"1\"],\"data_offsets\":[0,1]}}", 1,
    "tensor 'a': \"shape\" holds something other than sizes" },
  { "offsets-missing", "{\"a\":{\"dtype\":\"I8\",\"shape\":[1]}}", 1, "tensor 'a': \"data_offsets\" is missing" },
  { "offsets-one", "{\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0]}}", 1,
    "\"data_offsets\" is missing or not [begin, end]" },
  { "offsets-three", "{\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1,
    "\"data_offsets\" is missing or not [begin, end]" },
  { "offsets-negative", "{\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1,
    "\"data_offsets\" is missing or not [begin, end]" },
  { "offsets-huge", "{\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]}}", 1,
    "\"data_offsets\" is missing or not [begin, end]" },
  { "offsets-reversed", "{\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[1,0]}}", 1,
    "tensor 'a': data_offsets end 0 is before begin 1" },
  { "offsets-past-data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12,
    "truncated: tensor 'a' at data offsets [0, 16) runs past the end of the data (12 bytes)" },
  { "offsets-past-data-huge",
    "{\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[9223372036854775806,9223372036854775807]}}", 1,
    "runs past the end of the data" },
  { "size-mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 12,
    "tensor 'a': F32 with 4 elements does not fit data_offsets [0, 12) (12 bytes)" },
  { "size-mismatch-dtype", "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
    "tensor 'a': F16 with 4 elements does not fit data_offsets [0, 16)" },
  { "elements-overflow",
    "{\"a\":{\"dtype\":\"I8\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,1]}}", 1,
    "tensor 'a' has more elements than can be addressed" },
  { "bytes-overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,2],\"data_offsets\":[0,0]}}", 0,
    "tensor 'a': F32 with 9223372036854775808 elements does not fit" },
  { "overlap", "{\"a\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
    6, "tensor 'b' at data offsets [2, 6) overlaps tensor 'a', which ends at 4" },
  { "same-offsets", "{\"a\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                    "\"b\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
    4, "overlaps tensor" },
  { "hole", "{\"a\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]},"
            "\"b\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[6,10]}}",
    10, "data bytes [4, 6) belong to no tensor (a hole before 'b')" },
  { "hole-at-start", "{\"a\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 6,
    "data bytes [0, 2) belong to no tensor (a hole before 'a')" },
  { "trailing-bytes", "{\"a\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 7,
    "data bytes [4, 7) after the last tensor belong to no tensor" },
  { "trailing-bytes-no-tensors", "{}", 3, "data bytes [0, 3) after the last tensor belong to no tensor" },
  { "dtype-u8", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
    "tensor 'a' has dtype U8, which this version does not support" },
  { "dtype-bool", "{\"a\":{\"dtype\":\"BOOL\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
    "tensor 'a' has dtype BOOL, which this version does not support" },
  { "dtype-f8", "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
    "tensor 'a' has dtype F8_E4M3, which this version does not support" },
  { "dtype-unknown", "{\"a\":{\"dtype\":\"Q4_0\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
    "tensor 'a' has unknown dtype 'Q4_0'" },
  { "dtype-lowercase", "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
    "tensor 'a' has unknown dtype 'f32'" },
  { "rank-5", "{\"a\":{\"dtype\":\"I8\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
    "tensor 'a' has 5 dimensions (at most 4 supported)" },
  { "dim-0", "{\"a\":{\"dtype\":\"I8\",\"shape\":[2,0],\"data_offsets\":[0,0]}}", 0,
    "tensor 'a' is empty (a dimension of 0)" },
  { "metadata-not-object", "{\"__metadata__\":[\"a\"]}", 0, "\"__metadata__\" is not a JSON object" },
  { "metadata-not-string", "{\"__metadata__\":{\"n\":1}}", 0, "\"__metadata__\" member 'n' is not a string" },
  { "metadata-null", "{\"__metadata__\":{\"n\":null}}", 0, "\"__metadata__\" member 'n' is not a string" },
  { "empty-name", "{\"\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "has an empty name" },
};

static void
test_bad_case(gconstpointer p)
{
  const bad_case *c = p;
  char *path = g_build_filename(tmp_dir, "bad.safetensors", NULL);
  write_st(path, c->header, c->data_len);
  assert_open_fails(path, c->phrase);
  g_unlink(path);
  g_free(path);
}

static void
test_bad_header_length(void)
{
  char *path = g_build_filename(tmp_dir, "bad-length.safetensors", NULL);
  /* Past the end of the file. */
  GByteArray *b = st_bytes("{}", NULL, 0);
  guint64 n = 3;
  memcpy(b->data, &n, 8);
  write_file(path, b->data, b->len);
  assert_open_fails(path, "truncated: the header of 3 bytes runs past the end of the file (10 bytes)");
  /* Absurd. */
  n = UINT64_C(1) << 40;
  memcpy(b->data, &n, 8);
  write_file(path, b->data, b->len);
  assert_open_fails(path, "the header length 1099511627776 is more than the 100000000 bytes allowed");
  n = UINT64_MAX;
  memcpy(b->data, &n, 8);
  write_file(path, b->data, b->len);
  assert_open_fails(path, "the header length 18446744073709551615 is more than");
  /* Just over the limit, in a file that would hold it. */
  n = 100000001;
  memcpy(b->data, &n, 8);
  write_file(path, b->data, b->len);
  assert_open_fails(path, "is more than the 100000000 bytes allowed");
  g_byte_array_unref(b);
  g_unlink(path);
  g_free(path);
}

/* Every proper prefix of a valid file fails cleanly. */
static void
test_truncation(void)
{
  char *golden = data_path("single.safetensors");
  char *contents;
  gsize len;
  g_assert_true(g_file_get_contents(golden, &contents, &len, NULL));
  char *path = g_build_filename(tmp_dir, "prefix.safetensors", NULL);
  for (gsize n = 0; n < len; n++) {
    write_file(path, contents, n);
    assert_open_fails(path, n == 0 ? "the file is empty" : n < 9 ? "not a model file" : "truncated");
  }
  write_file(path, contents, len);
  kern_weights_close(open_ok(path));
  g_unlink(path);
  g_free(path);
  g_free(contents);
  g_free(golden);
}

/* ---- directories ---------------------------------------------------------- */

/* A fresh model directory under tmp_dir; remove it with rm_dir. */
static char *
make_dir(const char *name)
{
  char *dir = g_build_filename(tmp_dir, name, NULL);
  g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
  return dir;
}

static void
put(const char *dir, const char *name, const char *text)
{
  char *path = g_build_filename(dir, name, NULL);
  write_file(path, text, strlen(text));
  g_free(path);
}

static void
put_st(const char *dir, const char *name, const char *header, gsize data_len)
{
  char *path = g_build_filename(dir, name, NULL);
  write_st(path, header, data_len);
  g_free(path);
}

static void
rm_dir(char *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name(d))) {
    char *p = g_build_filename(dir, name, NULL);
    g_unlink(p);
    g_free(p);
  }
  if (d)
    g_dir_close(d);
  g_rmdir(dir);
  g_free(dir);
}

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"
#define ST_A "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"
#define ST_B "{\"b\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[0,3]}}"

/* A sharded directory with the given index text (shards a -> 1, b -> 2 exist). */
static char *
sharded_dir(const char *index)
{
  char *dir = make_dir("sharded");
  put_st(dir, SHARD1, ST_A, 8);
  put_st(dir, SHARD2, ST_B, 3);
  put(dir, "model.safetensors.index.json", index);
  return dir;
}

static void
test_dir_valid_minimal(void)
{
  /* Without config.json, and without the index's "metadata". */
  char *dir = sharded_dir("{\"weight_map\":{\"b\":\"" SHARD2 "\",\"a\":\"" SHARD1 "\"}}");
  kern_weights *w = open_ok(dir);
  g_assert_cmpint(kern_weights_n_meta(w), ==, 0);
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 2);
  g_assert_cmpstr(kern_weights_tensor_at(w, 0)->name, ==, "b"); /* its shard is named first */
  g_assert_nonnull(kern_weights_find(w, "a"));
  kern_weights_close(w);
  rm_dir(dir);

  /* A shard may hold tensors the index does not list; they are read too. */
  dir = sharded_dir("{\"weight_map\":{\"a\":\"" SHARD1 "\"}}");
  put_st(dir, SHARD1,
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"extra\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[8,9]}}",
         9);
  w = open_ok(dir);
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 2);
  g_assert_nonnull(kern_weights_find(w, "extra"));
  g_assert_null(kern_weights_find(w, "b")); /* shard 2 is not named */
  kern_weights_close(w);
  rm_dir(dir);

  /* model.safetensors wins over an index beside it. */
  dir = sharded_dir("not even JSON");
  put_st(dir, "model.safetensors", ST_B, 3);
  w = open_ok(dir);
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 1);
  g_assert_nonnull(kern_weights_find(w, "b"));
  kern_weights_close(w);
  rm_dir(dir);
}

typedef struct {
  const char *name;
  const char *index;  /* NULL: no index */
  const char *config; /* NULL: no config.json */
  const char *single; /* header of a model.safetensors, NULL: none */
  const char *phrase;
} dir_case;

static const dir_case dir_cases[] = {
  { "empty", NULL, NULL, NULL, "no model.safetensors or model.safetensors.index.json in this directory" },
  { "config-only", NULL, "{\"a\": 1}", NULL, "no model.safetensors or model.safetensors.index.json" },
  { "config-not-json", NULL, "{\"a\": 1,}", "{}", "config.json is not valid JSON: line 1, column 9" },
  { "config-empty", NULL, "", "{}", "config.json is not valid JSON" },
  { "config-not-object", NULL, "[1, 2]", "{}", "config.json is not a JSON object" },
  { "single-bad-start", NULL, NULL, "[]", "model.safetensors: the header does not begin with '{'" },
  { "single-bad-entry", NULL, NULL, "{\"x\": 1}", "model.safetensors: tensor 'x': the entry is not a JSON object" },
  { "index-not-json", "{\"weight_map\": {", NULL, NULL, "model.safetensors.index.json is not valid JSON" },
  { "index-not-object", "[]", NULL, NULL, "model.safetensors.index.json is not a JSON object" },
  { "index-no-weight-map", "{\"metadata\": {}}", NULL, NULL,
    "model.safetensors.index.json has no \"weight_map\" object" },
  { "index-weight-map-array", "{\"weight_map\": []}", NULL, NULL, "has no \"weight_map\" object" },
  { "index-shard-not-string", "{\"weight_map\": {\"a\": 1}}", NULL, NULL,
    "the shard of tensor 'a' is not a string" },
  { "shard-missing", "{\"weight_map\": {\"a\": \"" SHARD1 "\", \"c\": \"model-00003-of-00003.safetensors\"}}", NULL,
    NULL, "shard 'model-00003-of-00003.safetensors' named in model.safetensors.index.json is missing" },
  { "traversal-dotdot", "{\"weight_map\": {\"a\": \"../" SHARD1 "\"}}", NULL, NULL,
    "shard '../" SHARD1 "' is not a file name in the model directory" },
  { "traversal-absolute", "{\"weight_map\": {\"a\": \"/etc/passwd\"}}", NULL, NULL,
    "shard '/etc/passwd' is not a file name in the model directory" },
  { "traversal-subdir", "{\"weight_map\": {\"a\": \"sub/x.safetensors\"}}", NULL, NULL,
    "is not a file name in the model directory" },
  { "traversal-dotdot-only", "{\"weight_map\": {\"a\": \"..\"}}", NULL, NULL,
    "shard '..' is not a file name in the model directory" },
  { "traversal-dot", "{\"weight_map\": {\"a\": \".\"}}", NULL, NULL, "shard '.' is not a file name" },
  { "traversal-backslash", "{\"weight_map\": {\"a\": \"..\\\\x\"}}", NULL, NULL, "is not a file name" },
  { "shard-empty-name", "{\"weight_map\": {\"a\": \"\"}}", NULL, NULL, "shard '' is not a file name" },
  { "tensor-absent", "{\"weight_map\": {\"a\": \"" SHARD1 "\", \"zz\": \"" SHARD1 "\"}}", NULL, NULL,
    "tensor 'zz' is listed in model.safetensors.index.json under shard '" SHARD1 "', which does not contain it" },
  { "tensor-wrong-shard", "{\"weight_map\": {\"a\": \"" SHARD2 "\", \"b\": \"" SHARD1 "\"}}", NULL, NULL,
    "tensor 'a' is listed in model.safetensors.index.json under shard '" SHARD2 "', which does not contain it" },
  { "shard-is-directory", "{\"weight_map\": {\"a\": \"subdir\"}}", NULL, NULL,
    "shard 'subdir' named in model.safetensors.index.json is not a regular file" },
};

static void
test_dir_case(gconstpointer p)
{
  const dir_case *c = p;
  char *dir = c->index ? sharded_dir(c->index) : make_dir("sharded");
  char *sub = g_build_filename(dir, "subdir", NULL);
  if (g_str_equal(c->name, "shard-is-directory"))
    g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
  if (c->config)
    put(dir, "config.json", c->config);
  if (c->single)
    put_st(dir, "model.safetensors", c->single, 0);
  assert_open_fails(dir, c->phrase);
  g_rmdir(sub);
  g_free(sub);
  rm_dir(dir);
}

static void
test_dir_duplicate_across_shards(void)
{
  char *dir = sharded_dir("{\"weight_map\":{\"a\":\"" SHARD1 "\",\"b\":\"" SHARD2 "\"}}");
  put_st(dir, SHARD2,
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[8,11]}}",
         11);
  assert_open_fails(dir, SHARD2 ": tensor 'a' is also in an earlier shard");
  rm_dir(dir);
}

/* A broken shard is named in the message. */
static void
test_dir_bad_shard(void)
{
  char *dir = sharded_dir("{\"weight_map\":{\"a\":\"" SHARD1 "\",\"b\":\"" SHARD2 "\"}}");
  put_st(dir, SHARD2, ST_B, 2);
  assert_open_fails(dir, SHARD2 ": truncated: tensor 'b' at data offsets [0, 3) runs past the end of the data");
  put(dir, SHARD2, "short");
  assert_open_fails(dir, SHARD2 ": truncated: 5 bytes cannot hold the header length");
  put(dir, SHARD2, "");
  assert_open_fails(dir, SHARD2 ": truncated: 0 bytes cannot hold the header length");
  rm_dir(dir);
}

/* Every truncation of the sharded golden's second shard, inside the directory. */
static void
test_dir_truncation(void)
{
  char *golden = data_path("sharded");
  char *dir = make_dir("sharded-trunc");
  static const char *const names[] = { "config.json", "model.safetensors.index.json", SHARD1, SHARD2 };
  char *contents = NULL;
  gsize len = 0;
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    char *src = g_build_filename(golden, names[i], NULL);
    g_free(contents);
    g_assert_true(g_file_get_contents(src, &contents, &len, NULL));
    char *dst = g_build_filename(dir, names[i], NULL);
    write_file(dst, contents, len);
    g_free(dst);
    g_free(src);
  }
  kern_weights_close(open_ok(dir));
  char *shard = g_build_filename(dir, SHARD2, NULL);
  for (gsize n = 0; n < len; n++) {
    write_file(shard, contents, n);
    assert_open_fails(dir, SHARD2 ": truncated");
  }
  g_free(shard);
  g_free(contents);
  rm_dir(dir);
  g_free(golden);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  GError *error = NULL;
  tmp_dir = g_dir_make_tmp("hark-test-safetensors-XXXXXX", &error);
  g_assert_no_error(error);

  g_test_add_func("/kernels/safetensors/single", test_single);
  g_test_add_func("/kernels/safetensors/hf-single", test_hf_single);
  g_test_add_func("/kernels/safetensors/sharded", test_sharded);
  g_test_add_func("/kernels/safetensors/valid-variants", test_valid_variants);
  g_test_add_func("/kernels/safetensors/malformed/header-length", test_bad_header_length);
  for (gsize k = 0; k < G_N_ELEMENTS(bad_cases); k++) {
    char *name = g_strconcat("/kernels/safetensors/malformed/", bad_cases[k].name, NULL);
    g_test_add_data_func(name, &bad_cases[k], test_bad_case);
    g_free(name);
  }
  g_test_add_func("/kernels/safetensors/truncation", test_truncation);
  g_test_add_func("/kernels/safetensors/dir/valid-minimal", test_dir_valid_minimal);
  for (gsize k = 0; k < G_N_ELEMENTS(dir_cases); k++) {
    char *name = g_strconcat("/kernels/safetensors/dir/", dir_cases[k].name, NULL);
    g_test_add_data_func(name, &dir_cases[k], test_dir_case);
    g_free(name);
  }
  g_test_add_func("/kernels/safetensors/dir/duplicate-across-shards", test_dir_duplicate_across_shards);
  g_test_add_func("/kernels/safetensors/dir/bad-shard", test_dir_bad_shard);
  g_test_add_func("/kernels/safetensors/dir/truncation", test_dir_truncation);

  int rc = g_test_run();
  g_rmdir(tmp_dir);
  g_free(tmp_dir);
  return rc;
}
