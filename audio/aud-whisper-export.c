/* aud-whisper-export.c: writes a loaded Whisper model as whisper.cpp ggml or GGUF.
 *
 * The model is read back from its backend tensors (whatever format it came
 * from: Hugging Face, CTranslate2, ggml, GGUF), so one walker
 * (_aud_whisper_for_each_param) names every parameter the way whisper.cpp
 * does, and each is converted row by row to the type asked for. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aud-mel.h"
#include "aud-whisper-private.h"
#include "kern-type.h"
#include "kern-weights.h"

#define GGML_MAGIC 0x67676d6cu
#define GGML_QNT_VERSION 2

__attribute__((format(printf, 2, 3))) static int
set_err(char **err, const char *fmt, ...)
{
  if (err && !*err) {
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(err, fmt, ap) < 0)
      *err = NULL;
    va_end(ap);
  }
  return KERN_E_IO;
}

/* whisper.cpp's ftype for the matrices' type (quantized: + 1000 x version). */
static int
ggml_ftype(int type)
{
  switch (type) {
  case KERN_TYPE_F32: return 0;
  case KERN_TYPE_F16: return 1;
  case KERN_TYPE_Q4_0: return 2 + 1000 * GGML_QNT_VERSION;
  case KERN_TYPE_Q4_1: return 3 + 1000 * GGML_QNT_VERSION;
  case KERN_TYPE_Q8_0: return 7 + 1000 * GGML_QNT_VERSION;
  case KERN_TYPE_Q5_0: return 8 + 1000 * GGML_QNT_VERSION;
  case KERN_TYPE_Q5_1: return 9 + 1000 * GGML_QNT_VERSION;
  case KERN_TYPE_Q2_K: return 10 + 1000 * GGML_QNT_VERSION;
  case KERN_TYPE_Q3_K: return 12 + 1000 * GGML_QNT_VERSION;
  case KERN_TYPE_Q4_K: return 15 + 1000 * GGML_QNT_VERSION;
  case KERN_TYPE_Q5_K: return 17 + 1000 * GGML_QNT_VERSION;
  case KERN_TYPE_Q6_K: return 18 + 1000 * GGML_QNT_VERSION;
  }
  return 1;
}

typedef struct {
  aud_whisper_file_format fmt;
  int type;             /* asked for the matrices */
  FILE *f;              /* ggml */
  kern_gguf_writer *g;  /* GGUF */
  char **err;
  int rc;
} export_state;

/* The type a parameter is written as. */
static int
out_type(const export_state *st, const kern_tensor *t, aud_param_kind kind)
{
  switch (kind) {
  case AUD_PARAM_MATRIX: /* the export checked that st->type can be written */
    return t->ne[0] % kern_type_get_traits(st->type)->block_size == 0 ? st->type : KERN_TYPE_F16;
  case AUD_PARAM_CONV: return st->type == KERN_TYPE_F32 ? KERN_TYPE_F32 : KERN_TYPE_F16;
  default: return KERN_TYPE_F32;
  }
}

/* t's values as `type`, rows of ne[0]: malloc'd, *nbytes set. */
static void *
convert(const kern_tensor *t, int type, size_t *nbytes)
{
  int64_t ne0 = t->ne[0], rows = kern_tensor_nrows(t);
  void *src = malloc(t->nbytes);
  if (!src || kern_tensor_get(t, src, 0, t->nbytes) != 0) {
    free(src);
    return NULL;
  }
  if (t->type == type) {
    *nbytes = t->nbytes;
    return src;
  }
  size_t in_row = kern_type_row_size(t->type, ne0), out_row = kern_type_row_size(type, ne0);
  float *f = malloc((size_t)ne0 * sizeof *f);
  uint8_t *dst = malloc(out_row * (size_t)rows);
  int ok = f && dst;
  for (int64_t r = 0; ok && r < rows; r++) {
    ok = kern_dequantize_row(t->type, (const uint8_t *)src + (size_t)r * in_row, f, ne0) == 0;
    uint8_t *o = dst + (size_t)r * out_row;
    ok = ok && kern_quantize_row(type, f, o, ne0) == 0; /* F32 and F16 too */
  }
  free(f);
  free(src);
  if (!ok) {
    free(dst);
    return NULL;
  }
  *nbytes = out_row * (size_t)rows;
  return dst;
}

static int
put_i32(FILE *f, int32_t v)
{
  return fwrite(&v, 4, 1, f) == 1 ? 0 : -1;
}

static int
write_param(const char *name, const kern_tensor *t, aud_param_kind kind, void *user_data)
{
  export_state *st = user_data;
  int type = out_type(st, t, kind);
  size_t nbytes = 0;
  void *data = convert(t, type, &nbytes);
  if (!data)
    return st->rc = set_err(st->err, "cannot convert tensor %s to %s", name, kern_type_get_traits(type)->name);
  int n_dims = t->n_dims;
  int64_t ne[KERN_MAX_DIMS];
  memcpy(ne, t->ne, sizeof ne);
  while (n_dims > 1 && ne[n_dims - 1] == 1)
    n_dims--;
  if (st->fmt == AUD_WHISPER_FILE_GGML) {
    if (kind == AUD_PARAM_CONV_BIAS) { /* whisper.cpp stores these as (n_state, 1) */
      ne[1] = ne[0], ne[0] = 1, n_dims = 2;
    }
    size_t nl = strlen(name);
    int bad = put_i32(st->f, n_dims) || put_i32(st->f, (int32_t)nl) || put_i32(st->f, type);
    for (int d = 0; d < n_dims && !bad; d++)
      bad = put_i32(st->f, (int32_t)ne[d]);
    bad = bad || fwrite(name, 1, nl, st->f) != nl || fwrite(data, 1, nbytes, st->f) != nbytes;
    free(data);
    if (bad)
      return st->rc = set_err(st->err, "write error: %s", strerror(errno));
    return 0;
  }
  int rc = kern_gguf_add_tensor(st->g, name, type, n_dims, ne, data);
  free(data);
  if (rc)
    return st->rc = set_err(st->err, "cannot add tensor %s", name);
  return 0;
}

/* The model's own alignment heads (not the default), as (layer, head) pairs. */
static int
own_alignment_heads(aud_whisper *w, int *heads, int cap)
{
  const kern_weights *kw = aud_whisper_get_weights(w);
  if (!kern_weights_get_meta(kw, "config.alignment_heads") &&
      !kern_weights_get_meta(kw, "generation_config.alignment_heads") &&
      !kern_weights_get_meta(kw, "whisper.alignment_heads"))
    return 0;
  return aud_whisper_alignment_heads(w, heads, cap);
}

int
aud_whisper_export(aud_whisper *w, const aud_tokenizer *tok, const char *path, aud_whisper_file_format fmt,
                   int type, char **err)
{
  if (err)
    *err = NULL;
  const kern_type_traits *tr = kern_type_get_traits(type);
  if (!tr || !kern_type_can_quantize(type)) {
    set_err(err, "cannot write Whisper matrices as %s", tr ? tr->name : "an unknown type");
    return KERN_E_INVAL;
  }
  const aud_whisper_hparams *hp = aud_whisper_get_hparams(w);
  int n_words = tok ? aud_tokenizer_get_specials(tok)->eot : 0;
  if (tok && (n_words <= 0 || n_words > hp->n_vocab || aud_tokenizer_n_vocab(tok) != hp->n_vocab)) {
    set_err(err, "the tokenizer (%d tokens, text tokens below %d) does not match the model's %d", aud_tokenizer_n_vocab(tok),
            n_words, hp->n_vocab);
    return KERN_E_INVAL;
  }
  float *filters = malloc((size_t)hp->n_mels * AUD_MEL_N_BINS * sizeof *filters);
  if (!filters)
    return KERN_E_NOMEM;
  if (aud_whisper_mel_filters(w))
    memcpy(filters, aud_whisper_mel_filters(w), (size_t)hp->n_mels * AUD_MEL_N_BINS * sizeof *filters);
  else
    aud_mel_filters_compute(hp->n_mels, filters);

  size_t plen = strlen(path);
  char *tmp = malloc(plen + 16);
  if (!tmp) {
    free(filters);
    return KERN_E_NOMEM;
  }
  snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd >= 0) { /* mkstemp makes it 0600; give it the mode a new file gets */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
  }
  if (fd < 0) {
    set_err(err, "%s: %s", path, strerror(errno));
    free(tmp), free(filters);
    return KERN_E_IO;
  }
  export_state st = { fmt, type, NULL, NULL, err, 0 };
  int rc = 0;
  const int32_t hpv[11] = { hp->n_vocab, hp->n_audio_ctx, hp->n_audio_state, hp->n_audio_head, hp->n_audio_layer,
                            hp->n_text_ctx, hp->n_text_state, hp->n_text_head, hp->n_text_layer, hp->n_mels,
                            ggml_ftype(type) };
  if (fmt == AUD_WHISPER_FILE_GGML) {
    st.f = fdopen(fd, "wb");
    if (!st.f) {
      close(fd);
      rc = set_err(err, "%s: %s", path, strerror(errno));
      goto out;
    }
    int bad = fwrite(&(uint32_t){ GGML_MAGIC }, 4, 1, st.f) != 1 || fwrite(hpv, 4, 11, st.f) != 11 ||
              put_i32(st.f, hp->n_mels) || put_i32(st.f, AUD_MEL_N_BINS) ||
              fwrite(filters, sizeof *filters, (size_t)hp->n_mels * AUD_MEL_N_BINS, st.f) !=
                  (size_t)hp->n_mels * AUD_MEL_N_BINS ||
              put_i32(st.f, n_words);
    for (int32_t id = 0; id < n_words && !bad; id++) {
      size_t len = 0;
      const char *b = aud_tokenizer_token_bytes(tok, id, &len);
      bad = put_i32(st.f, (int32_t)len) || (len && fwrite(b, 1, len, st.f) != len);
    }
    if (bad) {
      rc = set_err(err, "%s: write error: %s", path, strerror(errno));
      goto out;
    }
    rc = _aud_whisper_for_each_param(w, write_param, &st);
    if (fflush(st.f) != 0 || fsync(fileno(st.f)) != 0)
      rc = rc ? rc : set_err(err, "%s: write error: %s", path, strerror(errno));
  } else {
    close(fd);
    st.g = kern_gguf_writer_new();
    if (!st.g) {
      rc = KERN_E_NOMEM;
      goto out;
    }
    static const char *const keys[10] = { "whisper.n_vocab", "whisper.n_audio_ctx", "whisper.n_audio_state",
                                           "whisper.n_audio_head", "whisper.n_audio_layer", "whisper.n_text_ctx",
                                           "whisper.n_text_state", "whisper.n_text_head", "whisper.n_text_layer",
                                           "whisper.n_mels" };
    kern_gguf_set_string(st.g, "general.architecture", "whisper");
    kern_gguf_set_string(st.g, "general.file_type", tr->name);
    for (int i = 0; i < 10; i++)
      kern_gguf_set_u32(st.g, keys[i], (uint32_t)hpv[i]);
    /* The regular tokens' bytes, as arrays of U8 (they need not be UTF-8). */
    kern_meta *items = calloc((size_t)n_words + 1, sizeof *items);
    if (!items) {
      rc = KERN_E_NOMEM;
      goto out;
    }
    for (int32_t id = 0; id < n_words; id++) {
      size_t len = 0;
      const char *b = aud_tokenizer_token_bytes(tok, id, &len);
      items[id] = (kern_meta){ .type = KERN_META_ARRAY, .elem_type = KERN_META_U8, .n = len, .v.raw = b };
    }
    kern_meta top = { .type = KERN_META_ARRAY, .elem_type = KERN_META_ARRAY, .n = (uint64_t)n_words, .v.items = items };
    if (n_words > 0)
      rc = kern_gguf_set_meta(st.g, "tokenizer.token_bytes", &top);
    free(items);
    int heads[2 * 256];
    int n_heads = own_alignment_heads(w, heads, 256);
    if (rc == 0 && n_heads > 0) {
      kern_meta pairs[256];
      for (int i = 0; i < n_heads; i++)
        pairs[i] = (kern_meta){ .type = KERN_META_ARRAY, .elem_type = KERN_META_I32, .n = 2, .v.raw = &heads[2 * i] };
      kern_meta all = { .type = KERN_META_ARRAY, .elem_type = KERN_META_ARRAY, .n = (uint64_t)n_heads, .v.items = pairs };
      rc = kern_gguf_set_meta(st.g, "whisper.alignment_heads", &all);
    }
    const int64_t fne[2] = { AUD_MEL_N_BINS, hp->n_mels };
    if (rc == 0)
      rc = kern_gguf_add_tensor(st.g, "mel_filters", KERN_TYPE_F32, 2, fne, filters);
    if (rc != 0) {
      set_err(err, "%s: cannot build the GGUF metadata", path);
      goto out;
    }
    rc = _aud_whisper_for_each_param(w, write_param, &st);
    if (rc == 0)
      rc = kern_gguf_write(st.g, tmp, err);
  }
out:
  if (st.f && fclose(st.f) != 0 && rc == 0)
    rc = set_err(err, "%s: write error: %s", path, strerror(errno));
  kern_gguf_writer_free(st.g);
  if (rc == 0 && rename(tmp, path) != 0)
    rc = set_err(err, "%s: %s", path, strerror(errno));
  if (rc != 0)
    unlink(tmp);
  free(tmp);
  free(filters);
  return rc;
}
