/* aud-whisper-private.h: what aud-whisper.c shares with its exporter. */
#pragma once

#include "aud-whisper.h"
#include "kern-backend.h"

typedef enum {
  AUD_PARAM_MATRIX,  /* a linear layer's weight or the token embedding: may be quantized */
  AUD_PARAM_CONV,    /* convolution weight [3, C_in, C_out]: F16 or F32 */
  AUD_PARAM_CONV_BIAS,
  AUD_PARAM_VECTOR,  /* biases and norms: F32 */
  AUD_PARAM_POSITIONS, /* positional embeddings: F32 */
} aud_param_kind;

/* Calls fn for every parameter of the loaded model, under whisper.cpp's
 * (OpenAI's) tensor names, in the order whisper.cpp writes them; stops at the
 * first non-zero return and returns it. */
typedef int (*aud_whisper_param_fn)(const char *name, const kern_tensor *t, aud_param_kind kind, void *user_data);
int _aud_whisper_for_each_param(const aud_whisper *w, aud_whisper_param_fn fn, void *user_data);
