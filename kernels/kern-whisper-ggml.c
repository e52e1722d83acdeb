/* kern-whisper-ggml.c: reader for whisper.cpp's legacy ggml model files
 * (ggml-base.en.bin, ggml-large-v3-q5_0.bin, ...).
 *
 * Layout (whisper.cpp's whisper_model_load; all little-endian int32 unless
 * said otherwise):
 *   u32 magic 0x67676d6c ("ggml")
 *   hparams: n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
 *            n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype
 *            (ftype = ggml ftype + 1000 * quantization version)
 *   mel filters: n_mel, n_fft, then n_mel * n_fft float32
 *   vocabulary: n_words, then per token: len, len raw bytes
 *   tensors until the end of the file: n_dims, name_len, ggml type,
 *            ne[n_dims] (ne[0] fastest), name bytes, then the data
 *            (ggml's size for type and shape) with no padding at all.
 *
 * What the reader exposes:
 *   - "whisper.n_vocab" ... "whisper.n_mels" (I32), "whisper.ftype" (the
 *     ggml ftype, I32) and "whisper.qnt_version" (I32).
 *   - the mel filterbank as tensor "mel_filters" (F32, ne = {n_fft, n_mel}).
 *   - the vocabulary as "tokenizer.token_bytes": an ARRAY with elem_type ARRAY
 *     of n_words items, each an array of U8 (v.raw points into the mapping,
 *     n is the byte length). Whisper's tokens are byte sequences that need
 *     not be valid UTF-8 and may contain NUL (token 188 of the official files
 *     is the single byte 0x00), so they are not STRING metadata, whose
 *     contract is valid UTF-8. Only ids below n_words have bytes; whisper.cpp
 *     synthesises the special tokens past them (n_vocab > n_words).
 *   - every tensor under its file name, data pointing into the mapping.
 *     There is no alignment in this format, so tensor data may be unaligned.
 *
 * whisper.cpp's VAD files (Silero, models/convert-silero-vad-to-ggml.py)
 * share the magic and the tensor records but not the header:
 *   u32 magic, i32 len + model type bytes ("silero-16k"),
 *   version major, minor, patch, window size (512), context size (64),
 *   n_encoder_layers, then per layer in channels, out channels, kernel size,
 *   LSTM input and hidden size, final conv in and out channels
 * then tensor records as above, where a squeezed scalar has n_dims 0.
 * Exposed as "silero.model_type" (STRING), "silero.version_major" ..
 * "silero.final_conv_out" (I32; per layer "silero.encoder.N.in_channels",
 * ".out_channels", ".kernel_size") and the tensors by their file names (a
 * scalar as one element of one dimension).
 */
#include "kern-weights-private.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define WHISPER_MAGIC 0x67676d6cu
#define WHISPER_QNT_VERSION_FACTOR 1000
#define WHISPER_MAX_HPARAM (1 << 24)
#define WHISPER_MAX_LAYERS 1024
#define WHISPER_MAX_MELS 1024
#define VAD_MAX_LAYERS 64
#define VAD_MAX_DIM (1 << 16)

enum {
  HP_N_VOCAB,
  HP_N_AUDIO_CTX,
  HP_N_AUDIO_STATE,
  HP_N_AUDIO_HEAD,
  HP_N_AUDIO_LAYER,
  HP_N_TEXT_CTX,
  HP_N_TEXT_STATE,
  HP_N_TEXT_HEAD,
  HP_N_TEXT_LAYER,
  HP_N_MELS,
  HP_FTYPE,
  HP_COUNT
};

static const char *const hparam_names[HP_COUNT] = {
  "n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer", "n_text_ctx",
  "n_text_state", "n_text_head", "n_text_layer", "n_mels", "ftype",
};

static int
add_i32_meta(kern_weights *w, const char *name, int32_t v)
{
  char key[64];
  int n = snprintf(key, sizeof key, "whisper.%s", name);
  kern_meta m = { .type = KERN_META_I32, .v.i64 = v };
  return _kern_weights_add_meta(w, key, (size_t)n, &m);
}

static int
check_hparams(kern_weights *w, const int32_t *hp)
{
  for (int i = 0; i < HP_FTYPE; i++)
    if (hp[i] <= 0 || hp[i] > WHISPER_MAX_HPARAM)
      return _kern_weights_fail(w, "hyperparameter %s is %" PRId32 ", outside 1..%d", hparam_names[i], hp[i],
                                WHISPER_MAX_HPARAM);
  if (hp[HP_N_AUDIO_LAYER] > WHISPER_MAX_LAYERS || hp[HP_N_TEXT_LAYER] > WHISPER_MAX_LAYERS)
    return _kern_weights_fail(w, "%" PRId32 " audio / %" PRId32 " text layers is more than the %d allowed",
                              hp[HP_N_AUDIO_LAYER], hp[HP_N_TEXT_LAYER], WHISPER_MAX_LAYERS);
  if (hp[HP_N_MELS] > WHISPER_MAX_MELS)
    return _kern_weights_fail(w, "n_mels is %" PRId32 ", more than %d", hp[HP_N_MELS], WHISPER_MAX_MELS);
  if (hp[HP_N_AUDIO_STATE] % hp[HP_N_AUDIO_HEAD] != 0)
    return _kern_weights_fail(w, "n_audio_state %" PRId32 " is not a multiple of n_audio_head %" PRId32,
                              hp[HP_N_AUDIO_STATE], hp[HP_N_AUDIO_HEAD]);
  if (hp[HP_N_TEXT_STATE] % hp[HP_N_TEXT_HEAD] != 0)
    return _kern_weights_fail(w, "n_text_state %" PRId32 " is not a multiple of n_text_head %" PRId32,
                              hp[HP_N_TEXT_STATE], hp[HP_N_TEXT_HEAD]);
  if (hp[HP_FTYPE] < 0)
    return _kern_weights_fail(w, "ftype is negative (%" PRId32 ")", hp[HP_FTYPE]);
  return 0;
}

/* The vocabulary: validated in one pass, copied in a second into one block
 * (each token NUL-terminated) so a hostile count cannot make us allocate
 * more than the file's size. */
static int
read_vocab(kern_reader *r, kern_weights *w)
{
  int32_t n_words;
  int rc = _kern_read_i32(r, &n_words, "the vocabulary size");
  if (rc)
    return rc;
  size_t left = (size_t)(r->end - r->p);
  if (n_words < 0)
    return _kern_weights_fail(w, "the vocabulary size is negative (%" PRId32 ")", n_words);
  if ((size_t)n_words > left / 4)
    return _kern_weights_fail(w, "truncated: a vocabulary of %" PRId32 " tokens cannot fit in the %zu bytes left",
                              n_words, left);
  kern_meta *items = _kern_weights_alloc(w, (size_t)n_words * sizeof *items);
  if (!items)
    return KERN_E_NOMEM;
  for (int32_t i = 0; i < n_words; i++) {
    int32_t len;
    const uint8_t *p;
    if ((rc = _kern_read_i32(r, &len, "a token length")))
      return rc;
    if (len < 0)
      return _kern_weights_fail(w, "token %" PRId32 " has negative length %" PRId32, i, len);
    if ((size_t)len > (size_t)(r->end - r->p))
      return _kern_weights_fail(w, "truncated: token %" PRId32 " (%" PRId32 " bytes at offset %zu) runs past the "
                                   "end of the file",
                                i, len, (size_t)(r->p - r->start));
    if ((rc = _kern_read_bytes(r, (size_t)len, &p, "a token")))
      return rc;
    items[i] = (kern_meta){ .type = KERN_META_ARRAY, .elem_type = KERN_META_U8, .n = (uint64_t)len, .v.raw = p };
  }
  kern_meta m = { .type = KERN_META_ARRAY, .elem_type = KERN_META_ARRAY, .n = (uint64_t)n_words,
                  .v.items = items };
  return _kern_weights_add_meta(w, "tokenizer.token_bytes", strlen("tokenizer.token_bytes"), &m);
}

static int
read_tensor(kern_reader *r, kern_weights *w, int64_t index, int allow_scalar)
{
  int32_t n_dims, name_len, ttype;
  int rc;
  if ((rc = _kern_read_i32(r, &n_dims, "a tensor's dimension count")) ||
      (rc = _kern_read_i32(r, &name_len, "a tensor's name length")) ||
      (rc = _kern_read_i32(r, &ttype, "a tensor's type")))
    return rc;
  int scalar = allow_scalar && n_dims == 0;
  if (!scalar && (n_dims < 1 || n_dims > KERN_MAX_DIMS))
    return _kern_weights_fail(w, "tensor %" PRId64 " has %" PRId32 " dimensions (1 to %d supported)", index,
                              n_dims, KERN_MAX_DIMS);
  if (name_len <= 0 || name_len > KERN_MAX_NAME_LEN)
    return _kern_weights_fail(w, "tensor %" PRId64 " has a name of %" PRId32 " bytes (1 to %d allowed)", index,
                              name_len, KERN_MAX_NAME_LEN);
  int64_t ne[KERN_MAX_DIMS] = { 1, 1, 1, 1 };
  for (int d = 0; d < n_dims; d++) {
    int32_t v;
    if ((rc = _kern_read_i32(r, &v, "a tensor dimension")))
      return rc;
    if (v <= 0)
      return _kern_weights_fail(w, "tensor %" PRId64 " has dimension %d of size %" PRId32, index, d, v);
    ne[d] = v;
  }
  const uint8_t *name;
  if ((rc = _kern_read_bytes(r, (size_t)name_len, &name, "a tensor name")))
    return rc;
  if (memchr(name, '\0', (size_t)name_len) || !kern_utf8_valid((const char *)name, (size_t)name_len))
    return _kern_weights_fail(w, "tensor %" PRId64 " has a name that is not valid UTF-8", index);

  const kern_type_traits *tr = kern_type_get_traits(ttype);
  if (!tr)
    return _kern_weights_fail(w, "tensor '%.*s' has type %" PRId32 ", which this version does not support",
                              (int)name_len, (const char *)name, ttype);
  if (ne[0] % tr->block_size != 0)
    return _kern_weights_fail(w, "tensor '%.*s': row length %" PRId64 " is not a multiple of %s's block of %d",
                              (int)name_len, (const char *)name, ne[0], tr->name, tr->block_size);
  /* Three dimensions below 2^31 can still overflow 64 bits. */
  uint64_t rows = 1;
  for (int d = 1; d < n_dims; d++) {
    if (rows > UINT64_MAX / (uint64_t)ne[d])
      return _kern_weights_fail(w, "tensor '%.*s' has more elements than can be addressed", (int)name_len,
                                (const char *)name);
    rows *= (uint64_t)ne[d];
  }
  size_t row = kern_type_row_size(ttype, ne[0]);
  if (row == 0 || rows > SIZE_MAX / row)
    return _kern_weights_fail(w, "tensor '%.*s' is too large", (int)name_len, (const char *)name);
  size_t nbytes = row * (size_t)rows;
  if (nbytes > (size_t)(r->end - r->p))
    return _kern_weights_fail(w, "truncated: tensor '%.*s' (%zu bytes at offset %zu) runs past the end of the file",
                              (int)name_len, (const char *)name, nbytes, (size_t)(r->p - r->start));
  const uint8_t *data;
  if ((rc = _kern_read_bytes(r, nbytes, &data, "tensor data")))
    return rc;
  return _kern_weights_add_tensor(w, (const char *)name, (size_t)name_len, ttype, scalar ? 1 : n_dims, ne, data,
                                  nbytes, r->start, (size_t)(r->end - r->start));
}

static int
add_named_i32(kern_weights *w, const char *key, int32_t v)
{
  kern_meta m = { .type = KERN_META_I32, .v.i64 = v };
  return _kern_weights_add_meta(w, key, strlen(key), &m);
}

/* One positive header number of a VAD file, read and kept as "silero.NAME". */
static int
read_vad_dim(kern_reader *r, kern_weights *w, const char *name, int32_t max)
{
  int32_t v;
  int rc = _kern_read_i32(r, &v, "the VAD header");
  if (rc)
    return rc;
  if (v <= 0 || v > max)
    return _kern_weights_fail(w, "VAD header value %s is %" PRId32 ", outside 1..%" PRId32, name, v, max);
  char key[96];
  snprintf(key, sizeof key, "silero.%s", name);
  return add_named_i32(w, key, v);
}

/* whisper.cpp's Silero VAD layout (see the top of the file); r is past the magic. */
static int
parse_vad(kern_reader *r, kern_weights *w)
{
  int32_t len;
  const uint8_t *type;
  int rc;
  if ((rc = _kern_read_i32(r, &len, "the VAD model type")))
    return rc;
  if (len <= 0 || len > 64)
    return _kern_weights_fail(w, "the VAD model type is %" PRId32 " bytes long (1 to 64 allowed)", len);
  if ((rc = _kern_read_bytes(r, (size_t)len, &type, "the VAD model type")))
    return rc;
  char *str = _kern_weights_strdup(w, (const char *)type, (size_t)len, "the VAD model type");
  if (!str)
    return KERN_E_FORMAT;
  kern_meta m = { .type = KERN_META_STRING, .n = (uint64_t)len, .v.str = str };
  if ((rc = _kern_weights_add_meta(w, "silero.model_type", strlen("silero.model_type"), &m)))
    return rc;
  static const char *const version[3] = { "version_major", "version_minor", "version_patch" };
  for (int i = 0; i < 3; i++) {
    int32_t v;
    char key[64];
    if ((rc = _kern_read_i32(r, &v, "the VAD version")))
      return rc;
    if (v < 0)
      return _kern_weights_fail(w, "the VAD version number %s is negative (%" PRId32 ")", version[i], v);
    snprintf(key, sizeof key, "silero.%s", version[i]);
    if ((rc = add_named_i32(w, key, v)))
      return rc;
  }
  if ((rc = read_vad_dim(r, w, "window_size", VAD_MAX_DIM)) || (rc = read_vad_dim(r, w, "context_size", VAD_MAX_DIM)))
    return rc;
  int32_t n_layers;
  if ((rc = _kern_read_i32(r, &n_layers, "the VAD encoder layer count")))
    return rc;
  if (n_layers <= 0 || n_layers > VAD_MAX_LAYERS)
    return _kern_weights_fail(w, "the VAD encoder has %" PRId32 " layers (1 to %d allowed)", n_layers, VAD_MAX_LAYERS);
  if ((rc = add_named_i32(w, "silero.n_encoder_layers", n_layers)))
    return rc;
  for (int32_t i = 0; i < n_layers; i++) {
    static const char *const dims[3] = { "in_channels", "out_channels", "kernel_size" };
    for (int k = 0; k < 3; k++) {
      char name[64];
      snprintf(name, sizeof name, "encoder.%" PRId32 ".%s", i, dims[k]);
      if ((rc = read_vad_dim(r, w, name, VAD_MAX_DIM)))
        return rc;
    }
  }
  static const char *const tail[4] = { "lstm_input_size", "lstm_hidden_size", "final_conv_in", "final_conv_out" };
  for (int i = 0; i < 4; i++)
    if ((rc = read_vad_dim(r, w, tail[i], VAD_MAX_DIM)))
      return rc;
  if (r->p == r->end)
    return _kern_weights_fail(w, "truncated: the VAD file ends after its header, without tensors");
  for (int64_t i = 0; r->p < r->end; i++)
    if ((rc = read_tensor(r, w, i, 1)))
      return rc;
  return 0;
}

int
_kern_whisper_ggml_parse(kern_weights *w, const char *path)
{
  const uint8_t *base;
  size_t size;
  int rc = _kern_weights_map(w, path, &base, &size);
  if (rc)
    return rc;
  kern_reader r = { base, base, base + size, w };
  uint32_t magic;
  if ((rc = _kern_read_u32(&r, &magic, "the magic")))
    return rc;
  if (magic != WHISPER_MAGIC)
    return _kern_weights_fail(w, "not a whisper.cpp ggml file (bad magic %08x)", magic);
  if (size >= 14 && memcmp(base + 8, "silero", 6) == 0)
    return parse_vad(&r, w);

  int32_t hp[HP_COUNT];
  for (int i = 0; i < HP_COUNT; i++)
    if ((rc = _kern_read_i32(&r, &hp[i], "the hyperparameters")))
      return rc;
  if ((rc = check_hparams(w, hp)))
    return rc;
  int32_t qnt_version = hp[HP_FTYPE] / WHISPER_QNT_VERSION_FACTOR;
  hp[HP_FTYPE] %= WHISPER_QNT_VERSION_FACTOR;
  for (int i = 0; i < HP_COUNT; i++)
    if ((rc = add_i32_meta(w, hparam_names[i], hp[i])))
      return rc;
  if ((rc = add_i32_meta(w, "qnt_version", qnt_version)))
    return rc;

  /* Mel filterbank. */
  int32_t n_mel, n_fft;
  if ((rc = _kern_read_i32(&r, &n_mel, "the filterbank's mel count")) ||
      (rc = _kern_read_i32(&r, &n_fft, "the filterbank's FFT size")))
    return rc;
  if (n_mel <= 0 || n_fft <= 0)
    return _kern_weights_fail(w, "the mel filterbank is %" PRId32 " x %" PRId32, n_mel, n_fft);
  size_t left = (size_t)(r.end - r.p);
  if ((uint64_t)n_mel * (uint64_t)n_fft > left / 4)
    return _kern_weights_fail(w, "truncated: the %" PRId32 " x %" PRId32 " mel filterbank runs past the end of the "
                                 "file",
                              n_mel, n_fft);
  size_t mel_bytes = (size_t)n_mel * (size_t)n_fft * 4;
  const uint8_t *mel;
  if ((rc = _kern_read_bytes(&r, mel_bytes, &mel, "the mel filterbank")))
    return rc;
  int64_t mel_ne[2] = { n_fft, n_mel };
  if ((rc = _kern_weights_add_tensor(w, "mel_filters", strlen("mel_filters"), KERN_TYPE_F32, 2, mel_ne, mel,
                                     mel_bytes, base, size)))
    return rc;

  if ((rc = read_vocab(&r, w)))
    return rc;

  for (int64_t i = 0; r.p < r.end; i++)
    if ((rc = read_tensor(&r, w, i, 0)))
      return rc;
  return 0;
}
