/* test-kernels-whisper-ggml.c: the reader for whisper.cpp's legacy ggml
 * model files (kern-whisper-ggml.c).
 *
 * Inputs: a small file built here byte by byte (every field's offset is kept
 * so malformed variants patch one field), and the vocabulary-only Whisper
 * base files in shared/data/ggml-format (real header, mel filters and
 * vocabulary, no tensors; the tests skip when they are absent).
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern-type.h"
#include "kern-weights.h"

/* ---- building files ------------------------------------------------------ */

static void
put_i32(GByteArray *b, int32_t v)
{
  g_byte_array_append(b, (const guint8 *)&v, 4);
}

static void
put_f32(GByteArray *b, float v)
{
  g_byte_array_append(b, (const guint8 *)&v, 4);
}

static void
put_bytes(GByteArray *b, const void *p, size_t n)
{
  g_byte_array_append(b, p, (guint)n);
}

static void
patch_i32(GByteArray *b, size_t off, int32_t v)
{
  g_assert_cmpuint(off + 4, <=, b->len);
  memcpy(b->data + off, &v, 4);
}

enum { HP_COUNT = 11 };

/* Offsets of the fields of the small file. */
typedef struct {
  size_t hp;          /* first hparam */
  size_t mel;         /* n_mel, then n_fft */
  size_t n_words;
  size_t tok1_len;    /* the second token's length */
  size_t tensors;     /* the end of the vocabulary */
  size_t t_ndims[3], t_name_len[3], t_type[3], t_ne0[3], t_name[3];
  size_t t_end[3];    /* the end of each tensor's data */
} layout;

static const int32_t small_hp[HP_COUNT] = { 8, 4, 8, 2, 1, 4, 8, 2, 1, 3, 1 + 2 * 1000 };

static void
put_tensor(GByteArray *b, layout *l, int i, const char *name, int32_t type, int n_dims, const int32_t *ne,
           size_t nbytes)
{
  l->t_ndims[i] = b->len;
  put_i32(b, n_dims);
  l->t_name_len[i] = b->len;
  put_i32(b, (int32_t)strlen(name));
  l->t_type[i] = b->len;
  put_i32(b, type);
  l->t_ne0[i] = b->len;
  for (int d = 0; d < n_dims; d++)
    put_i32(b, ne[d]);
  l->t_name[i] = b->len;
  put_bytes(b, name, strlen(name));
  for (size_t k = 0; k < nbytes; k++) {
    guint8 v = (guint8)(k * 13 + i);
    g_byte_array_append(b, &v, 1);
  }
  l->t_end[i] = b->len;
}

/* hparams (ftype 1, quantization version 2); a 3 x 5 mel filterbank;
 * 4 tokens, one not UTF-8, one empty, one with a NUL; an F16 [4, 2] tensor,
 * an F32 [3] one named so that its data is unaligned, and a Q8_0 [32, 2] one. */
static GByteArray *
small_file(layout *l)
{
  GByteArray *b = g_byte_array_new();
  put_i32(b, 0x67676d6c);
  l->hp = b->len;
  for (int i = 0; i < HP_COUNT; i++)
    put_i32(b, small_hp[i]);
  l->mel = b->len;
  put_i32(b, 3);
  put_i32(b, 5);
  for (int i = 0; i < 15; i++)
    put_f32(b, (float)i * 0.25f);
  l->n_words = b->len;
  put_i32(b, 4);
  put_i32(b, 1);
  put_bytes(b, "a", 1);
  l->tok1_len = b->len;
  put_i32(b, 2);
  put_bytes(b, "\xff\xfe", 2);
  put_i32(b, 0);
  put_i32(b, 2);
  put_bytes(b, "\0x", 2);
  l->tensors = b->len;
  put_tensor(b, l, 0, "encoder.w", KERN_TYPE_F16, 2, (const int32_t[]){ 4, 2 }, 16);
  put_tensor(b, l, 1, "odd", KERN_TYPE_F32, 1, (const int32_t[]){ 3 }, 12);
  put_tensor(b, l, 2, "q8", KERN_TYPE_Q8_0, 2, (const int32_t[]){ 32, 2 }, 68);
  return b;
}

typedef struct {
  char *dir, *path;
} tmpfile_t;

static void
tmp_make(tmpfile_t *t)
{
  GError *error = NULL;
  t->dir = g_dir_make_tmp("hark-ggml-XXXXXX", &error);
  g_assert_no_error(error);
  t->path = g_build_filename(t->dir, "model.ggml.bin", NULL);
}

static void
tmp_write(tmpfile_t *t, const void *data, size_t len)
{
  /* Plain stdio: g_file_set_contents syncs to disk, too slow for the truncation loop. */
  FILE *f = fopen(t->path, "wb");
  g_assert_nonnull(f);
  if (len > 0)
    g_assert_cmpuint(fwrite(data, 1, len, f), ==, len);
  g_assert_cmpint(fclose(f), ==, 0);
}

static void
tmp_clean(tmpfile_t *t)
{
  g_unlink(t->path);
  g_rmdir(t->dir);
  g_free(t->path);
  g_free(t->dir);
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

/* Writes b and expects opening it to fail with a message (naming the file) that contains want. */
static void
expect_error(GByteArray *b, const char *want)
{
  tmpfile_t t;
  tmp_make(&t);
  tmp_write(&t, b->data, b->len);
  char *err = NULL;
  kern_weights *w = kern_weights_open(t.path, &err);
  if (w)
    g_error("the file opened, expected an error containing '%s'", want);
  g_assert_true(g_str_has_prefix(err, t.path));
  if (!strstr(err, want))
    g_error("error '%s' does not contain '%s'", err, want);
  free(err);
  tmp_clean(&t);
}

/* The small file with the i32 at off replaced by v. */
static void
expect_patched_error(size_t layout_field_offset, int32_t v, const char *want)
{
  layout l;
  GByteArray *b = small_file(&l);
  patch_i32(b, *(const size_t *)((const char *)&l + layout_field_offset), v);
  expect_error(b, want);
  g_byte_array_unref(b);
}

#define AT(field) offsetof(layout, field)

/* ---- tests --------------------------------------------------------------- */

static void
test_small(void)
{
  layout l;
  GByteArray *b = small_file(&l);
  tmpfile_t t;
  tmp_make(&t);
  tmp_write(&t, b->data, b->len);
  kern_weights *w = open_ok(t.path);
  g_assert_cmpint(kern_weights_format(w), ==, KERN_FORMAT_WHISPER_GGML);
  static const char *const names[HP_COUNT] = { "whisper.n_vocab",      "whisper.n_audio_ctx",  "whisper.n_audio_state",
                                               "whisper.n_audio_head", "whisper.n_audio_layer", "whisper.n_text_ctx",
                                               "whisper.n_text_state", "whisper.n_text_head",  "whisper.n_text_layer",
                                               "whisper.n_mels",       "whisper.ftype" };
  for (int i = 0; i < HP_COUNT - 1; i++)
    g_assert_cmpint(kern_weights_get_int(w, names[i], -1), ==, small_hp[i]);
  g_assert_cmpint(kern_weights_get_int(w, "whisper.ftype", -1), ==, 1);
  g_assert_cmpint(kern_weights_get_int(w, "whisper.qnt_version", -1), ==, 2);

  const kern_tensor_info *mel = kern_weights_find(w, "mel_filters");
  g_assert_nonnull(mel);
  g_assert_cmpint(mel->type, ==, KERN_TYPE_F32);
  g_assert_cmpint(mel->n_dims, ==, 2);
  g_assert_cmpint(mel->ne[0], ==, 5);
  g_assert_cmpint(mel->ne[1], ==, 3);
  float f;
  memcpy(&f, (const uint8_t *)mel->data + 4 * 7, 4);
  g_assert_cmpfloat(f, ==, 1.75f);

  /* Tokens are bytes (arrays of U8, not strings): they may hold NUL or non-UTF-8. */
  const kern_meta *tok = kern_weights_get_meta(w, "tokenizer.token_bytes");
  g_assert_nonnull(tok);
  g_assert_null(kern_weights_get_meta(w, "tokenizer.tokens"));
  g_assert_cmpint(tok->type, ==, KERN_META_ARRAY);
  g_assert_cmpint(tok->elem_type, ==, KERN_META_ARRAY);
  g_assert_cmpuint(tok->n, ==, 4);
  g_assert_null(kern_meta_array_string(tok, 0));
  const kern_meta *t0 = kern_meta_array_item(tok, 0);
  g_assert_cmpint(t0->elem_type, ==, KERN_META_U8);
  g_assert_cmpmem(t0->v.raw, t0->n, "a", 1);
  const kern_meta *t1 = kern_meta_array_item(tok, 1);
  g_assert_cmpmem(t1->v.raw, t1->n, "\xff\xfe", 2);
  g_assert_cmpuint(kern_meta_array_item(tok, 2)->n, ==, 0);
  const kern_meta *t3 = kern_meta_array_item(tok, 3);
  g_assert_cmpmem(t3->v.raw, t3->n, "\0x", 2);

  g_assert_cmpint(kern_weights_n_tensors(w), ==, 4);
  g_assert_cmpstr(kern_weights_tensor_at(w, 0)->name, ==, "mel_filters");
  const kern_tensor_info *e = kern_weights_tensor_at(w, 1);
  g_assert_cmpstr(e->name, ==, "encoder.w");
  g_assert_cmpint(e->type, ==, KERN_TYPE_F16);
  g_assert_cmpint(e->ne[0], ==, 4);
  g_assert_cmpint(e->ne[1], ==, 2);
  g_assert_cmpuint(e->nbytes, ==, 16);
  g_assert_cmpuint((size_t)((const uint8_t *)e->data - (const uint8_t *)mel->data), ==,
                   l.t_end[0] - 16 - (l.mel + 8));
  const kern_tensor_info *odd = kern_weights_find(w, "odd");
  g_assert_cmpint(odd->n_dims, ==, 1);
  g_assert_cmpint(odd->ne[1], ==, 1);
  g_assert_cmpuint(odd->nbytes, ==, 12);
  g_assert_cmpint(((const uint8_t *)odd->data)[1], ==, 13 + 1);
  const kern_tensor_info *q = kern_weights_find(w, "q8");
  g_assert_cmpint(q->type, ==, KERN_TYPE_Q8_0);
  g_assert_cmpuint(q->nbytes, ==, 68);
  g_assert_true((const uint8_t *)q->data + q->nbytes == (const uint8_t *)mel->data + (b->len - (l.mel + 8)));
  kern_weights_close(w);
  tmp_clean(&t);
  g_byte_array_unref(b);
}

/* Every prefix of the small file: an error, except where it ends exactly after
 * the vocabulary or a tensor, which is a valid file with fewer tensors (the
 * format has no tensor count; whisper.cpp reads tensors until the end). */
static void
test_truncated(void)
{
  layout l;
  GByteArray *b = small_file(&l);
  tmpfile_t t;
  tmp_make(&t);
  for (size_t n = 0; n < b->len; n++) {
    tmp_write(&t, b->data, n);
    int complete = n == l.tensors ? 0 : n == l.t_end[0] ? 1 : n == l.t_end[1] ? 2 : -1;
    char *err = NULL;
    kern_weights *w = kern_weights_open(t.path, &err);
    if (complete >= 0) {
      if (!w)
        g_error("cut at the tensor boundary %zu: %s", n, err);
      g_assert_cmpint(kern_weights_n_tensors(w), ==, 1 + complete);
      kern_weights_close(w);
    } else {
      if (w)
        g_error("the file cut to %zu of %u bytes opened", n, b->len);
      g_assert_nonnull(err);
      free(err);
    }
  }
  tmp_clean(&t);
  g_byte_array_unref(b);
}

/* The small file cut at the offset that field_offset names, plus `extra` bytes. */
static void
expect_cut_error(size_t field_offset, ptrdiff_t extra, const char *want)
{
  layout l;
  GByteArray *b = small_file(&l);
  g_byte_array_set_size(b, (guint)((ptrdiff_t) * (const size_t *)((const char *)&l + field_offset) + extra));
  expect_error(b, want);
  g_byte_array_unref(b);
}

static void
test_truncated_messages(void)
{
  expect_cut_error(AT(hp), 20, "truncated: the hyperparameters");
  expect_cut_error(AT(mel), 30, "truncated: the 3 x 5 mel filterbank runs past the end");
  expect_cut_error(AT(tok1_len), 5, "truncated: a vocabulary of 4 tokens cannot fit in the 10 bytes left");
  expect_cut_error(AT(t_ne0[1]), 2, "truncated: a tensor dimension");
  expect_cut_error(AT(t_end[2]), -1, "truncated: tensor 'q8' (68 bytes at offset");
  expect_cut_error(AT(t_end[2]), 5, "truncated: a tensor's name length"); /* a partial header after the last tensor */
}

static void
test_magic(void)
{
  GByteArray *b = g_byte_array_new();
  put_bytes(b, "tjgg", 4); /* llama.cpp's old ggjt */
  for (int i = 0; i < 20; i++)
    put_i32(b, 1);
  expect_error(b, "not a model file this version understands");
  g_byte_array_set_size(b, 0);
  put_i32(b, 0x67676d6c);
  expect_error(b, "truncated: the hyperparameters");
  g_byte_array_unref(b);
}

/* whisper.cpp's VAD files share the magic; the reader takes their own header. */
static void
test_vad(void)
{
  const char *root = g_getenv("HARK_SOURCE_ROOT");
  char *vad = g_build_filename(root ? root : ".", "..", "shared", "data", "ggml-format",
                               "for-tests-silero-v6.2.0-ggml.bin", NULL);
  if (!g_file_test(vad, G_FILE_TEST_EXISTS)) {
    g_test_skip("no Silero VAD test file (../shared/data/ggml-format)");
    g_free(vad);
    return;
  }
  char *err = NULL;
  kern_weights *w = kern_weights_open(vad, &err);
  if (!w)
    g_error("%s", err);
  g_assert_cmpstr(kern_weights_get_string(w, "silero.model_type", ""), ==, "silero-16k");
  g_assert_cmpint(kern_weights_get_int(w, "silero.version_major", -1), ==, 6);
  g_assert_cmpint(kern_weights_get_int(w, "silero.window_size", -1), ==, 512);
  g_assert_cmpint(kern_weights_get_int(w, "silero.context_size", -1), ==, 64);
  g_assert_cmpint(kern_weights_get_int(w, "silero.n_encoder_layers", -1), ==, 4);
  g_assert_cmpint(kern_weights_get_int(w, "silero.encoder.0.in_channels", -1), ==, 129);
  g_assert_cmpint(kern_weights_get_int(w, "silero.encoder.3.out_channels", -1), ==, 128);
  g_assert_cmpint(kern_weights_get_int(w, "silero.final_conv_out", -1), ==, 1);
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 15);
  const kern_tensor_info *t = kern_weights_find(w, "_model.encoder.0.reparam_conv.weight");
  g_assert_nonnull(t);
  g_assert_cmpint(t->type, ==, KERN_TYPE_F16);
  g_assert_cmpint(t->ne[0], ==, 3);
  g_assert_cmpint(t->ne[1], ==, 129);
  g_assert_cmpint(t->ne[2], ==, 128);
  t = kern_weights_find(w, "_model.decoder.decoder.2.bias"); /* a scalar in the file */
  g_assert_nonnull(t);
  g_assert_cmpint(t->n_dims, ==, 1);
  g_assert_cmpint(t->ne[0], ==, 1);
  t = kern_weights_find(w, "_model.stft.forward_basis_buffer");
  g_assert_nonnull(t);
  g_assert_cmpint(t->ne[0], ==, 256);
  g_assert_cmpint(t->ne[2], ==, 258);
  kern_weights_close(w);

  /* Every cut inside the header or the first tensor is an error, never a
   * crash (a cut between two tensor records is a smaller valid file). */
  gchar *data;
  gsize size;
  g_assert_true(g_file_get_contents(vad, &data, &size, NULL));
  GByteArray *b = g_byte_array_new();
  for (gsize cut = 4; cut < 99000 && cut < size; cut += cut < 256 ? 1 : 4093) {
    g_byte_array_set_size(b, 0);
    g_byte_array_append(b, (const guint8 *)data, (guint)cut);
    expect_error(b, "truncated");
  }
  /* A negative layer count and a dimension of zero are refused by name. */
  g_byte_array_set_size(b, 0);
  g_byte_array_append(b, (const guint8 *)data, (guint)size);
  size_t layers_at = 4 + 4 + 10 + 5 * 4;
  patch_i32(b, layers_at, -3);
  expect_error(b, "the VAD encoder has -3 layers");
  patch_i32(b, layers_at, 4);
  patch_i32(b, layers_at + 4, 0);
  expect_error(b, "VAD header value encoder.0.in_channels is 0");
  g_byte_array_unref(b);
  g_free(data);
  g_free(vad);
}

static void
test_hparams(void)
{
  static const char *const names[HP_COUNT - 1] = { "n_vocab",      "n_audio_ctx", "n_audio_state", "n_audio_head",
                                                   "n_audio_layer", "n_text_ctx",  "n_text_state",  "n_text_head",
                                                   "n_text_layer", "n_mels" };
  for (int i = 0; i < HP_COUNT - 1; i++) {
    char want[64];
    g_snprintf(want, sizeof want, "hyperparameter %s is 0, outside 1..", names[i]);
    layout l;
    GByteArray *b = small_file(&l);
    patch_i32(b, l.hp + 4 * (size_t)i, 0);
    expect_error(b, want);
    g_byte_array_unref(b);
    g_snprintf(want, sizeof want, "hyperparameter %s is -2147483648", names[i]);
    b = small_file(&l);
    patch_i32(b, l.hp + 4 * (size_t)i, INT32_MIN);
    expect_error(b, want);
    g_byte_array_unref(b);
  }
  expect_patched_error(AT(hp), 0x7fffffff, "hyperparameter n_vocab is 2147483647, outside 1..16777216");
  layout l;
  GByteArray *b = small_file(&l);
  patch_i32(b, l.hp + 4 * 3, 3);
  expect_error(b, "n_audio_state 8 is not a multiple of n_audio_head 3");
  g_byte_array_unref(b);
  b = small_file(&l);
  patch_i32(b, l.hp + 4 * 8, 5000);
  expect_error(b, "5000 text layers is more than the 1024 allowed");
  g_byte_array_unref(b);
  b = small_file(&l);
  patch_i32(b, l.hp + 4 * 9, 4096);
  expect_error(b, "n_mels is 4096, more than 1024");
  g_byte_array_unref(b);
  b = small_file(&l);
  patch_i32(b, l.hp + 4 * 10, -1);
  expect_error(b, "ftype is negative (-1)");
  g_byte_array_unref(b);
}

static void
test_mel(void)
{
  expect_patched_error(AT(mel), 0, "the mel filterbank is 0 x 5");
  layout l;
  GByteArray *b = small_file(&l);
  patch_i32(b, l.mel + 4, -5);
  expect_error(b, "the mel filterbank is 3 x -5");
  g_byte_array_unref(b);
  b = small_file(&l);
  patch_i32(b, l.mel, 0x7fffffff);
  patch_i32(b, l.mel + 4, 0x7fffffff);
  expect_error(b, "truncated: the 2147483647 x 2147483647 mel filterbank runs past the end of the file");
  g_byte_array_unref(b);
  b = small_file(&l);
  patch_i32(b, l.mel, 0x40000000); /* 4 * n_mel * n_fft overflows 32 bits */
  patch_i32(b, l.mel + 4, 1);
  expect_error(b, "truncated: the 1073741824 x 1 mel filterbank");
  g_byte_array_unref(b);
}

static void
test_vocab(void)
{
  expect_patched_error(AT(n_words), -1, "the vocabulary size is negative (-1)");
  expect_patched_error(AT(n_words), 0x7fffffff, "truncated: a vocabulary of 2147483647 tokens cannot fit");
  expect_patched_error(AT(n_words), 40, "truncated: token ");
  expect_patched_error(AT(tok1_len), -1, "token 1 has negative length -1");
  expect_patched_error(AT(tok1_len), 0x7fffffff, "truncated: token 1 (2147483647 bytes at offset");
  expect_patched_error(AT(tok1_len), 300, "truncated: token 1 (300 bytes at offset");
}

static void
test_tensors(void)
{
  expect_patched_error(AT(t_ndims[0]), 0, "tensor 0 has 0 dimensions (1 to 4 supported)");
  expect_patched_error(AT(t_ndims[1]), 5, "tensor 1 has 5 dimensions");
  expect_patched_error(AT(t_ndims[2]), -1, "tensor 2 has -1 dimensions");
  expect_patched_error(AT(t_name_len[0]), 0, "tensor 0 has a name of 0 bytes (1 to 4096 allowed)");
  expect_patched_error(AT(t_name_len[0]), -3, "tensor 0 has a name of -3 bytes");
  expect_patched_error(AT(t_name_len[0]), 4097, "tensor 0 has a name of 4097 bytes");
  expect_patched_error(AT(t_name_len[2]), 4096, "truncated: a tensor name");
  expect_patched_error(AT(t_type[0]), 4, "tensor 'encoder.w' has type 4, which this version does not support");
  expect_patched_error(AT(t_type[0]), 99, "has type 99");
  expect_patched_error(AT(t_type[0]), -1, "has type -1");
  expect_patched_error(AT(t_type[2]), KERN_TYPE_Q4_K, "tensor 'q8': row length 32 is not a multiple of q4_K's block");
  expect_patched_error(AT(t_ne0[0]), 0, "tensor 0 has dimension 0 of size 0");
  expect_patched_error(AT(t_ne0[0]), -4, "tensor 0 has dimension 0 of size -4");
  expect_patched_error(AT(t_ne0[2]), 64, "truncated: tensor 'q8' (136 bytes at offset");
  expect_patched_error(AT(t_ne0[1]), 0x7fffffff, "truncated: tensor 'odd' (8589934588 bytes");
  expect_patched_error(AT(t_ne0[2]), 31, "tensor 'q8': row length 31 is not a multiple of q8_0's block of 32");

  /* Dimensions whose product overflows. */
  layout l;
  GByteArray *b = small_file(&l);
  g_byte_array_set_size(b, (guint)l.tensors);
  put_i32(b, 4);
  put_i32(b, 1);
  put_i32(b, KERN_TYPE_F32);
  for (int i = 0; i < 4; i++)
    put_i32(b, 0x7fffffff);
  put_bytes(b, "x", 1);
  expect_error(b, "tensor 'x' has more elements than can be addressed");
  g_byte_array_unref(b);
  b = small_file(&l);
  g_byte_array_set_size(b, (guint)l.tensors);
  put_i32(b, 3);
  put_i32(b, 1);
  put_i32(b, KERN_TYPE_F32);
  for (int i = 0; i < 3; i++)
    put_i32(b, 0x7fffffff);
  put_bytes(b, "y", 1);
  expect_error(b, "tensor 'y'");
  g_byte_array_unref(b);

  /* Names: invalid UTF-8, duplicates, and the name the reader gives the filterbank. */
  b = small_file(&l);
  b->data[l.t_name[1]] = 0xff;
  expect_error(b, "tensor 1 has a name that is not valid UTF-8");
  g_byte_array_unref(b);
  b = small_file(&l);
  g_byte_array_set_size(b, (guint)l.tensors);
  put_tensor(b, &l, 0, "same", KERN_TYPE_F32, 1, (const int32_t[]){ 1 }, 4);
  put_tensor(b, &l, 1, "same", KERN_TYPE_F32, 1, (const int32_t[]){ 1 }, 4);
  expect_error(b, "tensor 'same' appears twice");
  g_byte_array_unref(b);
  b = small_file(&l);
  g_byte_array_set_size(b, (guint)l.tensors);
  put_tensor(b, &l, 0, "mel_filters", KERN_TYPE_F32, 1, (const int32_t[]){ 1 }, 4);
  expect_error(b, "tensor 'mel_filters' appears twice");
  g_byte_array_unref(b);
}

/* Random corruption of the small file never crashes (ASan/UBSan watch). */
static void
test_mutations(void)
{
  layout l;
  GByteArray *b = small_file(&l);
  tmpfile_t t;
  tmp_make(&t);
  GRand *rng = g_rand_new_with_seed(77);
  for (int it = 0; it < 3000; it++) {
    guint8 *copy = g_memdup2(b->data, b->len);
    int edits = g_rand_int_range(rng, 1, 4);
    for (int e = 0; e < edits; e++) {
      guint pos = (guint)g_rand_int_range(rng, 4, (gint32)b->len); /* keep the magic */
      copy[pos] = g_rand_boolean(rng) ? (guint8)g_rand_int_range(rng, 0, 256) : 0xff;
    }
    tmp_write(&t, copy, b->len);
    char *err = NULL;
    kern_weights *w = kern_weights_open(t.path, &err);
    g_assert_true((w == NULL) != (err == NULL));
    kern_weights_close(w);
    free(err);
    g_free(copy);
  }
  g_rand_free(rng);
  tmp_clean(&t);
  g_byte_array_unref(b);
}

/* ---- the real vocabulary-only base files --------------------------------- */

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

static void
check_real_base(const char *file, int english)
{
  char *path = shared_file(file);
  if (!path)
    return;
  gint64 t0 = g_get_monotonic_time();
  kern_weights *w = open_ok(path);
  g_test_message("opened %s in %.1f ms", file, (g_get_monotonic_time() - t0) / 1000.0);
  g_assert_cmpint(kern_weights_get_int(w, "whisper.n_vocab", -1), ==, english ? 51864 : 51865);
  g_assert_cmpint(kern_weights_get_int(w, "whisper.n_audio_ctx", -1), ==, 1500);
  g_assert_cmpint(kern_weights_get_int(w, "whisper.n_audio_state", -1), ==, 512);
  g_assert_cmpint(kern_weights_get_int(w, "whisper.n_audio_head", -1), ==, 8);
  g_assert_cmpint(kern_weights_get_int(w, "whisper.n_audio_layer", -1), ==, 6);
  g_assert_cmpint(kern_weights_get_int(w, "whisper.n_text_ctx", -1), ==, 448);
  g_assert_cmpint(kern_weights_get_int(w, "whisper.n_text_state", -1), ==, 512);
  g_assert_cmpint(kern_weights_get_int(w, "whisper.n_text_head", -1), ==, 8);
  g_assert_cmpint(kern_weights_get_int(w, "whisper.n_text_layer", -1), ==, 6);
  g_assert_cmpint(kern_weights_get_int(w, "whisper.n_mels", -1), ==, 80);
  g_assert_cmpint(kern_weights_get_int(w, "whisper.ftype", -1), ==, 1);
  g_assert_cmpint(kern_weights_get_int(w, "whisper.qnt_version", -1), ==, 0);

  /* The Slaney mel filterbank, 80 x 201 float32: non-negative, every filter non-empty. */
  g_assert_cmpint(kern_weights_n_tensors(w), ==, 1);
  const kern_tensor_info *mel = kern_weights_find(w, "mel_filters");
  g_assert_nonnull(mel);
  g_assert_cmpint(mel->ne[0], ==, 201);
  g_assert_cmpint(mel->ne[1], ==, 80);
  for (int m = 0; m < 80; m++) {
    double sum = 0;
    for (int k = 0; k < 201; k++) {
      float v;
      memcpy(&v, (const uint8_t *)mel->data + 4 * ((size_t)m * 201 + (size_t)k), 4);
      g_assert_true(isfinite(v) && v >= 0);
      sum += v;
    }
    g_assert_cmpfloat(sum, >, 0);
  }

  /* The file lists the 50257 text tokens; whisper.cpp adds the special ones after them. */
  const kern_meta *tok = kern_weights_get_meta(w, "tokenizer.token_bytes");
  g_assert_nonnull(tok);
  g_assert_cmpuint(tok->n, ==, 50257);
#define TOKEQ(i, s) g_assert_cmpmem(kern_meta_array_item(tok, i)->v.raw, kern_meta_array_item(tok, i)->n, s, strlen(s))
  TOKEQ(0, "!");
  TOKEQ(220, " ");
  const kern_meta *nul = kern_meta_array_item(tok, 188); /* the byte 0x00 */
  g_assert_cmpuint(nul->n, ==, 1);
  g_assert_cmpint(((const char *)nul->v.raw)[0], ==, 0);
  if (english) {
    TOKEQ(50256, "<|endoftext|>");
    TOKEQ(50255, " gazed");
  } else {
    g_assert_cmpuint(kern_meta_array_item(tok, 50256)->n, ==, 0); /* an empty token in the multilingual list */
  }
  kern_weights_close(w);
  g_free(path);
}

static void
test_real_base(void)
{
  check_real_base("for-tests-ggml-base.bin", 0);
}

static void
test_real_base_en(void)
{
  check_real_base("for-tests-ggml-base.en.bin", 1);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/kernels/whisper-ggml/small", test_small);
  g_test_add_func("/kernels/whisper-ggml/real-base", test_real_base);
  g_test_add_func("/kernels/whisper-ggml/real-base-en", test_real_base_en);
  g_test_add_func("/kernels/whisper-ggml/malformed/truncated", test_truncated);
  g_test_add_func("/kernels/whisper-ggml/malformed/truncated-messages", test_truncated_messages);
  g_test_add_func("/kernels/whisper-ggml/malformed/magic", test_magic);
  g_test_add_func("/kernels/whisper-ggml/vad", test_vad);
  g_test_add_func("/kernels/whisper-ggml/malformed/hparams", test_hparams);
  g_test_add_func("/kernels/whisper-ggml/malformed/mel", test_mel);
  g_test_add_func("/kernels/whisper-ggml/malformed/vocab", test_vocab);
  g_test_add_func("/kernels/whisper-ggml/malformed/tensors", test_tensors);
  g_test_add_func("/kernels/whisper-ggml/malformed/mutations", test_mutations);
  return g_test_run();
}
