/* llm-model.h: decoder-only language models from GGUF files on Hark's backends.
 *
 * Architectures (general.architecture): llama (Llama 2 / 3.x, TinyLlama,
 * SmolLM, Vicuna), mistral, qwen2 (q/k/v biases) and gemma3 (embedding scale,
 * q/k norms, post-norms, GELU-tanh FFN, sliding-window layers). Weights of any
 * type the compute core reads (F32, F16, BF16, Q4_0 ... Q8_0, K-quants), used
 * in place. This is the network only: tokens in, logits out; tokenizer,
 * templates and sampling live beside it.
 *
 * A model file is untrusted: hyperparameters are checked against each other
 * and against every tensor's shape before anything is allocated, so a
 * malformed file is an error naming the file and the problem.
 *
 * Threads: a context serves one thread at a time; on_warning is called on
 * the thread that calls llm_model_open, before it returns; should_abort on the
 * thread that calls llm_model_decode*. Errors: functions
 * return 0 or a negative kern_status; llm_model_errmsg() says what went wrong.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kern-error.h"
#include "kern-type.h"
#include "kern-weights.h"

typedef struct llm_model llm_model;

typedef struct {
  const char *device; /* "auto" (CUDA when usable, else "cpu") | "cpu" | "cpu-ref" | "cuda" | "cuda:N" */
  int n_threads;      /* CPU threads, 0 = physical cores */
  int n_ctx;          /* positions kept in the KV cache; 0 = the file's context length. Either is
                         capped to the file's length and to what memory allows, with a notice. */
  int kv_type;        /* KV cache element type: KERN_TYPE_F16 (default), KERN_TYPE_F32 or KERN_TYPE_Q8_0 */
  int gpu_layers;     /* -1 = all (auto), 0 = none (CPU). Partial offload is not implemented:
                         any other value means all. */
  size_t max_kv_bytes; /* KV cache budget; 0 = half the host memory available now (host
                          backends; on a GPU the context halves until the cache fits) */
  void (*on_warning)(const char *msg, void *user_data); /* notices (capped context, ...); may be NULL */
  /* Checked between layers of a decode, on the decoding thread; returning
   * nonzero stops it with KERN_E_ABORTED (positions of whole batches already
   * done stay cached, see llm_model_kv_count). May be NULL. */
  int (*should_abort)(void *user_data);
  void *user_data;                                      /* for on_warning and should_abort */
} llm_model_params;

typedef struct {
  const char *arch;  /* "llama", "mistral", "qwen2", "gemma3" */
  int n_vocab;       /* rows of the token embedding */
  int n_embd;
  int n_layer;
  int n_head;
  int n_head_kv;
  int head_dim;
  int n_ff;
  int n_ctx_train;   /* {arch}.context_length */
  int n_ctx;         /* positions this context holds */
} llm_hparams;

llm_model_params llm_model_default_params(void);

/* Opens a GGUF model. NULL with *err (malloc'd "PATH: problem") on failure:
 * a missing or malformed file, an unknown architecture, hyperparameters that
 * contradict the tensors, no backend, no memory for the smallest context. */
llm_model *llm_model_open(const char *path, const llm_model_params *p, char **err);
void llm_model_free(llm_model *m);

const char *llm_model_errmsg(const llm_model *m);
/* The open GGUF (the tokenizer reads its metadata); valid until llm_model_free. */
const kern_weights *llm_model_weights(const llm_model *m);
const llm_hparams *llm_model_hparams(const llm_model *m);
/* The backend's name ("cpu", "cuda:0", ...). */
const char *llm_model_backend_name(const llm_model *m);

/* Runs tokens[0..n) at positions n_past .. n_past+n-1 through the model,
 * appending their keys and values to the KV cache (which must hold exactly
 * n_past positions' worth of history: 0 <= n_past <= the cached count, and
 * n_past + n <= n_ctx; positions >= n_past are overwritten). Token ids must be
 * in [0, n_vocab). logits: NULL, or [n_vocab] floats of the last token, or
 * [n, n_vocab] (row-major, token-major) when all_logits. n may exceed the
 * internal batch; it is processed in chunks. */
int llm_model_decode(llm_model *m, const int32_t *tokens, int n, int n_past, float *logits, int all_logits);
/* Same with input embeddings [n, n_embd] (row-major, one row per position)
 * instead of token ids, e.g. image embeddings from the vision tower. They are
 * used as given (gemma3's embedding scale applies to token ids only). */
int llm_model_decode_embd(llm_model *m, const float *embd, int n, int n_past, float *logits, int all_logits);
/* Forgets positions >= n_keep (0 <= n_keep <= cached count). */
int llm_model_kv_truncate(llm_model *m, int n_keep);
/* Positions currently in the KV cache. */
int llm_model_kv_count(const llm_model *m);
