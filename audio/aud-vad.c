/* aud-vad.c: Silero VAD (16 kHz, v5/v6 layout) forward pass in plain C, and
 * an energy fallback. The network, per 512-sample chunk:
 *   x (576) = 64 samples of context + the chunk; reflect-pad 64 on the right (640)
 *   STFT: conv1d with the stored basis (258, 256), stride 128 -> (258, 4);
 *         magnitude of (real 0..128, imag 129..257)        -> (129, 4)
 *   encoder: conv1d k=3 pad=1 + ReLU, strides 1, 2, 2, 1
 *         (129,4) -> (128,4) -> (64,2) -> (64,1) -> (128,1)
 *   LSTM cell 128 -> 128 (gates i, f, g, o), state kept across chunks
 *   ReLU, conv1d 1x1 128 -> 1, sigmoid -> probability
 * The strides and the padding are the architecture's, not in the file.
 */
#include "aud-vad.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aud-private.h"
#include "kern-type.h"
#include "kern-weights.h"

#define N_CTX 64      /* context samples carried over from the previous chunk */
#define N_IN (N_CTX + AUD_VAD_CHUNK) /* 576 */
#define N_PAD 64      /* reflected samples on the right */
#define N_FFT 256     /* basis length (filter_length) */
#define HOP 128
#define N_BINS (N_FFT / 2 + 1) /* 129 */
#define N_FRAMES ((N_IN + N_PAD - N_FFT) / HOP + 1) /* 4 */
#define N_LAYERS 4
#define N_HIDDEN 128
#define MAX_CH 129

static const int layer_in[N_LAYERS] = { 129, 128, 64, 64 };
static const int layer_out[N_LAYERS] = { 128, 64, 64, 128 };
static const int layer_stride[N_LAYERS] = { 1, 2, 2, 1 };

typedef enum { VAD_SILERO, VAD_ENERGY } vad_kind;

struct aud_vad {
  vad_kind kind;
  /* Silero weights, float copies of the file's. */
  float *basis;                /* (2 * N_BINS, N_FFT) */
  float *enc_w[N_LAYERS];      /* (out, in, 3) */
  float *enc_b[N_LAYERS];      /* (out) */
  float *w_ih, *w_hh;          /* (4 * N_HIDDEN, N_HIDDEN), gates i, f, g, o */
  float *b_ih, *b_hh;          /* (4 * N_HIDDEN) */
  float *out_w;                /* (N_HIDDEN) */
  float out_b;
  /* Silero state. */
  float context[N_CTX];
  float h[N_HIDDEN], c[N_HIDDEN];
  /* Energy state. */
  float noise_db;
  int n_chunks;
};

void
aud_vad_free(aud_vad *v)
{
  if (!v)
    return;
  free(v->basis);
  for (int i = 0; i < N_LAYERS; i++)
    free(v->enc_w[i]), free(v->enc_b[i]);
  free(v->w_ih), free(v->w_hh), free(v->b_ih), free(v->b_hh), free(v->out_w);
  free(v);
}

/* Copies tensor `name` as floats after checking its shape (ne0 fastest; the
 * product of the trailing ones may be spread over more dimensions). */
static float *
load(const kern_weights *w, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, const char *path, char **err)
{
  const kern_tensor_info *t = kern_weights_find(w, name);
  if (!t) {
    *err = _aud_strdup_printf("%s: tensor '%s' is missing (not a Silero VAD 16 kHz model?)", path, name);
    return NULL;
  }
  if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] * t->ne[3] != ne2) {
    *err = _aud_strdup_printf("%s: tensor '%s' is %lld x %lld x %lld, expected %lld x %lld x %lld", path, name,
                              (long long)t->ne[0], (long long)t->ne[1], (long long)(t->ne[2] * t->ne[3]),
                              (long long)ne0, (long long)ne1, (long long)ne2);
    return NULL;
  }
  size_t n = (size_t)(ne0 * ne1 * ne2);
  float *out = malloc(n * sizeof *out);
  if (!out) {
    *err = _aud_strdup_printf("%s: out of memory", path);
    return NULL;
  }
  size_t row = kern_type_row_size(t->type, ne0);
  const char *src = t->data;
  for (int64_t r = 0; r < ne1 * ne2; r++)
    if (kern_dequantize_row(t->type, src + (size_t)r * row, out + r * ne0, ne0) != 0) {
      *err = _aud_strdup_printf("%s: tensor '%s' has type %d, which cannot be read as floats", path, name, t->type);
      free(out);
      return NULL;
    }
  return out;
}

static int
check_int(const kern_weights *w, const char *key, int64_t want, const char *path, char **err)
{
  int64_t v = kern_weights_get_int(w, key, -1);
  if (v != want) {
    *err = _aud_strdup_printf("%s: %s is %lld, Silero's 16 kHz model has %lld", path, key, (long long)v,
                              (long long)want);
    return -1;
  }
  return 0;
}

aud_vad *
aud_vad_open(const char *path, char **err)
{
  char *dummy = NULL;
  if (!err)
    err = &dummy;
  *err = NULL;
  if (!path) {
    *err = strdup("no VAD model path");
    return NULL;
  }
  kern_weights *w = kern_weights_open(path, err);
  if (!w)
    return NULL;
  aud_vad *v = NULL;
  const char *type = kern_weights_get_string(w, "silero.model_type", NULL);
  if (kern_weights_format(w) != KERN_FORMAT_WHISPER_GGML || !type) {
    *err = _aud_strdup_printf("%s: not a whisper.cpp Silero VAD file", path);
    goto fail;
  }
  if (strcmp(type, "silero-16k") != 0) {
    *err = _aud_strdup_printf("%s: VAD model type '%s'; only 'silero-16k' is supported", path, type);
    goto fail;
  }
  if (check_int(w, "silero.window_size", AUD_VAD_CHUNK, path, err) ||
      check_int(w, "silero.context_size", N_CTX, path, err) ||
      check_int(w, "silero.n_encoder_layers", N_LAYERS, path, err) ||
      check_int(w, "silero.lstm_input_size", N_HIDDEN, path, err) ||
      check_int(w, "silero.lstm_hidden_size", N_HIDDEN, path, err) ||
      check_int(w, "silero.final_conv_in", N_HIDDEN, path, err) || check_int(w, "silero.final_conv_out", 1, path, err))
    goto fail;
  for (int i = 0; i < N_LAYERS; i++) {
    char key[64];
    snprintf(key, sizeof key, "silero.encoder.%d.in_channels", i);
    if (check_int(w, key, layer_in[i], path, err))
      goto fail;
    snprintf(key, sizeof key, "silero.encoder.%d.out_channels", i);
    if (check_int(w, key, layer_out[i], path, err))
      goto fail;
    snprintf(key, sizeof key, "silero.encoder.%d.kernel_size", i);
    if (check_int(w, key, 3, path, err))
      goto fail;
  }
  v = calloc(1, sizeof *v);
  if (!v) {
    *err = _aud_strdup_printf("%s: out of memory", path);
    goto fail;
  }
  v->kind = VAD_SILERO;
  if (!(v->basis = load(w, "_model.stft.forward_basis_buffer", N_FFT, 1, 2 * N_BINS, path, err)))
    goto fail;
  for (int i = 0; i < N_LAYERS; i++) {
    char name[96];
    snprintf(name, sizeof name, "_model.encoder.%d.reparam_conv.weight", i);
    if (!(v->enc_w[i] = load(w, name, 3, layer_in[i], layer_out[i], path, err)))
      goto fail;
    snprintf(name, sizeof name, "_model.encoder.%d.reparam_conv.bias", i);
    if (!(v->enc_b[i] = load(w, name, layer_out[i], 1, 1, path, err)))
      goto fail;
  }
  if (!(v->w_ih = load(w, "_model.decoder.rnn.weight_ih", N_HIDDEN, 4 * N_HIDDEN, 1, path, err)) ||
      !(v->w_hh = load(w, "_model.decoder.rnn.weight_hh", N_HIDDEN, 4 * N_HIDDEN, 1, path, err)) ||
      !(v->b_ih = load(w, "_model.decoder.rnn.bias_ih", 4 * N_HIDDEN, 1, 1, path, err)) ||
      !(v->b_hh = load(w, "_model.decoder.rnn.bias_hh", 4 * N_HIDDEN, 1, 1, path, err)) ||
      !(v->out_w = load(w, "_model.decoder.decoder.2.weight", N_HIDDEN, 1, 1, path, err)))
    goto fail;
  float *b = load(w, "_model.decoder.decoder.2.bias", 1, 1, 1, path, err);
  if (!b)
    goto fail;
  v->out_b = b[0];
  free(b);
  kern_weights_close(w);
  aud_vad_reset(v);
  free(dummy);
  return v;

fail:
  aud_vad_free(v);
  kern_weights_close(w);
  free(dummy);
  return NULL;
}

aud_vad *
aud_vad_new_energy(void)
{
  aud_vad *v = calloc(1, sizeof *v);
  if (!v)
    return NULL;
  v->kind = VAD_ENERGY;
  aud_vad_reset(v);
  return v;
}

const char *
aud_vad_kind(const aud_vad *v)
{
  return v && v->kind == VAD_SILERO ? "silero" : "energy";
}

void
aud_vad_reset(aud_vad *v)
{
  if (!v)
    return;
  memset(v->context, 0, sizeof v->context);
  memset(v->h, 0, sizeof v->h);
  memset(v->c, 0, sizeof v->c);
  v->noise_db = -60.0f;
  v->n_chunks = 0;
}

float
aud_level_dbfs(const float *x, size_t n)
{
  if (!x || n == 0)
    return -120.0f;
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += (double)x[i] * x[i];
  double rms = sqrt(s / (double)n);
  if (rms < 1e-6)
    return -120.0f;
  return (float)(20.0 * log10(rms));
}

static float
sigmoidf(float x)
{
  return 1.0f / (1.0f + expf(-x));
}

/* conv1d, kernel 3, padding 1: in (cin, L) -> out (cout, Lout), then ReLU. */
static void
conv3_relu(const float *w, const float *b, int cin, int cout, int stride, const float *in, int L, float *out, int Lout)
{
  for (int o = 0; o < cout; o++)
    for (int t = 0; t < Lout; t++) {
      float acc = b[o];
      for (int ci = 0; ci < cin; ci++) {
        const float *wk = w + ((size_t)o * cin + ci) * 3; /* (3) */
        const float *x = in + (size_t)ci * L;
        for (int k = 0; k < 3; k++) {
          int pos = t * stride + k - 1;
          if (pos >= 0 && pos < L)
            acc += wk[k] * x[pos];
        }
      }
      out[(size_t)o * Lout + t] = acc > 0 ? acc : 0;
    }
}

static float
silero_step(aud_vad *v, const float *chunk)
{
  float x[N_IN + N_PAD]; /* (640) */
  memcpy(x, v->context, sizeof v->context);
  memcpy(x + N_CTX, chunk, AUD_VAD_CHUNK * sizeof *x);
  for (int i = 0; i < N_PAD; i++) /* reflect: x[N_IN + i] = x[N_IN - 2 - i] */
    x[N_IN + i] = x[N_IN - 2 - i];
  memcpy(v->context, x + N_IN - N_CTX, sizeof v->context);

  float mag[N_BINS * N_FRAMES]; /* (129, 4) */
  for (int f = 0; f < N_BINS; f++)
    for (int t = 0; t < N_FRAMES; t++) {
      const float *re_b = v->basis + (size_t)f * N_FFT, *im_b = v->basis + (size_t)(N_BINS + f) * N_FFT;
      const float *xs = x + t * HOP;
      float re = 0, im = 0;
      for (int k = 0; k < N_FFT; k++) {
        re += re_b[k] * xs[k];
        im += im_b[k] * xs[k];
      }
      mag[f * N_FRAMES + t] = sqrtf(re * re + im * im);
    }

  float a[MAX_CH * N_FRAMES], b[MAX_CH * N_FRAMES]; /* (channels, L) ping-pong */
  const float *in = mag;
  int L = N_FRAMES;
  float *bufs[2] = { a, b };
  for (int i = 0; i < N_LAYERS; i++) {
    int Lout = (L + 2 - 3) / layer_stride[i] + 1;
    float *out = bufs[i & 1];
    conv3_relu(v->enc_w[i], v->enc_b[i], layer_in[i], layer_out[i], layer_stride[i], in, L, out, Lout);
    in = out;
    L = Lout;
  }
  /* in: (128, 1) */

  float gates[4 * N_HIDDEN];
  for (int r = 0; r < 4 * N_HIDDEN; r++) {
    float acc = v->b_ih[r] + v->b_hh[r];
    const float *wi = v->w_ih + (size_t)r * N_HIDDEN, *wh = v->w_hh + (size_t)r * N_HIDDEN;
    for (int k = 0; k < N_HIDDEN; k++)
      acc += wi[k] * in[k] + wh[k] * v->h[k];
    gates[r] = acc;
  }
  float y = v->out_b;
  for (int k = 0; k < N_HIDDEN; k++) {
    float ig = sigmoidf(gates[k]), fg = sigmoidf(gates[N_HIDDEN + k]);
    float gg = tanhf(gates[2 * N_HIDDEN + k]), og = sigmoidf(gates[3 * N_HIDDEN + k]);
    v->c[k] = fg * v->c[k] + ig * gg;
    v->h[k] = og * tanhf(v->c[k]);
    y += v->out_w[k] * (v->h[k] > 0 ? v->h[k] : 0);
  }
  return sigmoidf(y);
}

/* Energy: the level against a noise floor that falls at once to quieter
 * chunks and creeps up towards louder ones (1% of the gap per chunk, a time
 * constant of about 3 s), so the dips between syllables hold it down during
 * speech while a steady new noise is learnt within seconds. 12 dB over the
 * floor reads 0.5; the floor is never taken below -60 dBFS, so speech must
 * reach -48 dBFS. (Chosen on the VAD test audio: 88% agreement with Silero.) */
static float
energy_step(aud_vad *v, const float *chunk)
{
  float db = aud_level_dbfs(chunk, AUD_VAD_CHUNK);
  if (db < -90.0f) /* digital silence */
    return 0.0f;
  if (v->n_chunks++ == 0 || db < v->noise_db)
    v->noise_db = db;
  else
    v->noise_db += 0.01f * (db - v->noise_db);
  if (v->noise_db < -60.0f)
    v->noise_db = -60.0f;
  return sigmoidf((db - v->noise_db - 12.0f) / 2.0f);
}

int
aud_vad_process(aud_vad *v, const float *chunk, float *prob)
{
  if (!v || !chunk || !prob)
    return KERN_E_INVAL;
  *prob = v->kind == VAD_SILERO ? silero_step(v, chunk) : energy_step(v, chunk);
  return 0;
}
