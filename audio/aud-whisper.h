/* aud-whisper.h: the Whisper encoder-decoder on Hark's compute backends.
 *
 * Loads Whisper from a whisper.cpp ggml .bin file, a CTranslate2 (faster-
 * whisper) directory or a Hugging Face directory (safetensors), any size from
 * tiny to large-v3(-turbo), 80 or 128 mel bins. This is the network only:
 * mel in, logits out. Decoding strategies live in aud-transcribe.c.
 *
 * A context serves one thread at a time. Errors: functions return 0 or a
 * negative kern_status; aud_whisper_errmsg() says what went wrong.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "aud-tokenizer.h"
#include "kern-error.h"
#include "kern-weights.h"

typedef struct aud_whisper aud_whisper;

typedef struct {
  const char *backend; /* "auto" (CUDA when usable, else CPU), "cpu", "cpu-ref", "cuda", "cuda:N" */
  int n_threads;       /* CPU threads, 0 = physical cores */
  int n_seq;           /* decoder sequences kept at once (beam size), >= 1 */
  int q8_weights;      /* 1: the linear layers and the token embedding are requantized
                          to Q8_0 at load (8-bit weights; on the CPU 8-bit activations too):
                          about twice the encoder's speed there, at int8 precision; -1: so
                          on the CPU backends only (a GPU keeps the stored weights). Default
                          0: the weights as stored */
} aud_whisper_params;

typedef struct {
  int n_vocab;
  int n_mels;
  int n_audio_ctx;   /* encoder positions (1500) */
  int n_audio_state; /* d_model */
  int n_audio_head;
  int n_audio_layer;
  int n_text_ctx;    /* decoder positions (448) */
  int n_text_state;
  int n_text_head;
  int n_text_layer;
} aud_whisper_hparams;

aud_whisper_params aud_whisper_default_params(void);

/* Opens a model file or directory. NULL with *err (malloc'd) on failure: a
 * missing or malformed file, tensors that contradict each other, no backend. */
aud_whisper *aud_whisper_open(const char *path, const aud_whisper_params *p, char **err);
/* Same, from weights the caller opened (and keeps open until aud_whisper_free). */
aud_whisper *aud_whisper_open_weights(const kern_weights *w, const aud_whisper_params *p, char **err);
void aud_whisper_free(aud_whisper *w);

const aud_whisper_hparams *aud_whisper_get_hparams(const aud_whisper *w);
const kern_weights *aud_whisper_get_weights(const aud_whisper *w);
const char *aud_whisper_errmsg(const aud_whisper *w);
const char *aud_whisper_backend_name(const aud_whisper *w);
/* Waits for the work queued on the backend (a GPU runs ops asynchronously);
 * for benchmarks, which time whole calls. */
int aud_whisper_sync(aud_whisper *w);
/* Decoder sequences (KV caches) this context keeps: aud_whisper_params.n_seq. */
int aud_whisper_get_n_seq(const aud_whisper *w);
/* Mel filterbank stored in the model file, (n_mels, 201), or NULL when the
 * format does not carry one (compute it then). */
const float *aud_whisper_mel_filters(const aud_whisper *w);

/* Runs the encoder on one window of log-mel frames, (n_frames, n_mels)
 * frame-major, and computes every decoder layer's cross-attention keys and
 * values for it. n_frames is 2 * n_audio_ctx (3000: 30 s, the window the
 * model was trained on) or, to encode less (short audio, where the padding
 * would cost most of the time), any even number below: the decoder then
 * attends to n_frames / 2 positions. */
int aud_whisper_encode(aud_whisper *w, const float *mel, int n_frames);
/* Copies the encoder output, (n_frames / 2, n_audio_state) of the last
 * encode, for tests. */
int aud_whisper_get_encoder_output(aud_whisper *w, float *out);

/* Decoder: appends n tokens to sequence `seq` (0 .. n_seq-1) at positions
 * n_past .. n_past+n-1 and writes the logits (n_logit_rows, n_vocab) of the
 * rows listed in logit_rows (indices into tokens), or of the last row only
 * when logit_rows is NULL. */
int aud_whisper_decode(aud_whisper *w, int seq, const int32_t *tokens, int n, int n_past, const int *logit_rows,
                       int n_logit_rows, float *logits);
/* One step for several sequences at once (beams, at most 64): token[i] goes
 * to sequence seqs[i] at position n_past[i]; logits (n, n_vocab). Weights are read once
 * for all of them. */
int aud_whisper_decode_batch(aud_whisper *w, int n, const int *seqs, const int32_t *tokens, const int *n_past,
                             float *logits);
/* Word alignment: runs the decoder over tokens (positions 0..n-1 of sequence
 * `seq`) and writes the cross-attention scores q.k/sqrt(hd) (before softmax)
 * of the given heads (n_heads pairs: layer, head) to qk, (n_heads, n,
 * n_audio_ctx) (-inf past the positions the last encode gave), and, when
 * logits is not NULL, all rows' logits (n, n_vocab). */
int aud_whisper_cross_qk(aud_whisper *w, int seq, const int32_t *tokens, int n, const int *heads, int n_heads,
                         float *qk, float *logits);
/* The model's alignment heads as (layer, head) pairs into heads (room for cap
 * pairs); returns the count. From its config when it has them (CTranslate2,
 * Hugging Face generation_config.json, Hark's GGUF); else, for a released
 * model recognised by its shape (aud-alignment-heads.h), the reference's heads
 * for it; else every head of the second half of the decoder layers. */
int aud_whisper_alignment_heads(const aud_whisper *w, int *heads, int cap);

/* ---- conversion ------------------------------------------------------ */

typedef enum {
  AUD_WHISPER_FILE_GGML, /* whisper.cpp's ggml .bin */
  AUD_WHISPER_FILE_GGUF, /* GGUF, general.architecture "whisper" (Hark's layout, below) */
} aud_whisper_file_format;

/* Writes the open model (any format it was read from) to `path`.
 * ggml: whisper.cpp's layout (header, mel filters, the regular tokens' bytes,
 * tensors under OpenAI's names). GGUF: the same header numbers as whisper.*
 * keys (plus whisper.alignment_heads when the model has them), the regular
 * tokens as tokenizer.token_bytes (arrays of bytes), the mel filterbank as
 * tensor "mel_filters" [201, n_mels], and the same tensors by the same names.
 * Matrices (linear weights, token embedding) are written as `type`: F32, F16,
 * or a quantized type whose block divides their rows (else F16); convolutions
 * F16 (F32 when type is F32); biases, norms and positional embeddings F32.
 * Filters missing from the source are computed (librosa's Slaney filterbank).
 * tok: the model's tokenizer, whose regular tokens are written; NULL writes no
 * vocabulary (the network only). Written to PATH.tmp-XXXXXX and renamed; 0,
 * or a negative code with *err (malloc'd). */
int aud_whisper_export(aud_whisper *w, const aud_tokenizer *tok, const char *path, aud_whisper_file_format fmt,
                       int type, char **err);

/* Makes sequence dst's first n_past cached positions a copy of src's (beam reorder). */
int aud_whisper_seq_copy(aud_whisper *w, int dst, int src, int n_past);
