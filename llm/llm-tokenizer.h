/* llm-tokenizer.h: the tokenizers of GGUF language models, built from the
 * file's tokenizer.ggml.* metadata, giving the same ids as llama.cpp.
 *
 * Two models, as tokenizer.ggml.model names them:
 *   "llama"  SentencePiece-style: the text (spaces as U+2581, a leading space
 *            when add_space_prefix) is split into characters, then adjacent
 *            pieces are merged, highest tokenizer.ggml.scores first; what no
 *            token covers falls back to byte tokens <0xXX>.
 *   "gpt2"   byte-level BPE: the pre-tokenizer named by tokenizer.ggml.pre
 *            (llama3 / llama-bpe, qwen2, gpt-2, smollm, falcon, bloom,
 *            tekken, gpt-4o, deepseek-llm, deepseek-coder, deepseek-v3,
 *            seed-coder, viking, default: 63 names llama.cpp knows)
 *            splits the text; each piece's bytes (in GPT-2's byte-to-unicode
 *            form) are merged by tokenizer.ggml.merges, lowest rank first.
 * Before either, control, user-defined and unknown tokens found verbatim in
 * the text become their ids (longest first; control and unknown tokens only
 * with parse_special, user-defined ones always), as llama.cpp does.
 *
 * The metadata is untrusted: arrays of different lengths or element types,
 * special ids out of range, byte tokens that do not parse, merges naming
 * unknown tokens, an empty vocabulary each give NULL and a message.
 *
 * A tokenizer is immutable once made: any number of threads may use it at once.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kern-error.h"
#include "kern-weights.h"

typedef struct llm_tokenizer llm_tokenizer;

/* Token attributes, from tokenizer.ggml.token_type (1 normal, 2 unknown,
 * 3 control, 4 user-defined, 5 unused, 6 byte; 0 undefined). End-of-turn
 * texts (<|im_end|>, <end_of_turn>, <|eot_id|> ...) are made control tokens
 * as llama.cpp does. */
enum {
  LLM_TOKEN_NORMAL = 1 << 0,
  LLM_TOKEN_UNKNOWN = 1 << 1,
  LLM_TOKEN_CONTROL = 1 << 2,
  LLM_TOKEN_USER_DEFINED = 1 << 3,
  LLM_TOKEN_UNUSED = 1 << 4,
  LLM_TOKEN_BYTE = 1 << 5,
};

/* From an open GGUF's metadata. NULL on failure, with *err (malloc'd,
 * "PATH: problem") when err is not NULL. The tokenizer does not keep w. */
llm_tokenizer *llm_tokenizer_new(const kern_weights *w, char **err);
void llm_tokenizer_free(llm_tokenizer *t);

int llm_tokenizer_n_vocab(const llm_tokenizer *t);
/* "spm" or "bpe". */
const char *llm_tokenizer_model(const llm_tokenizer *t);
/* The pre-tokenizer in use ("llama3", "qwen2", "gpt2", "smollm", "falcon",
 * "bloom", "tekken", "gpt-4o", "deepseek-llm", "deepseek-coder", "deepseek-v3",
 * "seed-coder", "viking", "default"; "" for SPM). */
const char *llm_tokenizer_pre(const llm_tokenizer *t);

/* Special ids; -1 when the vocabulary has none. */
int32_t llm_tokenizer_bos(const llm_tokenizer *t);
int32_t llm_tokenizer_eos(const llm_tokenizer *t);
int32_t llm_tokenizer_eot(const llm_tokenizer *t);
int32_t llm_tokenizer_unk(const llm_tokenizer *t);
int32_t llm_tokenizer_pad(const llm_tokenizer *t);
/* Whether encode(add_special = 1) adds BOS / EOS. */
int llm_tokenizer_add_bos(const llm_tokenizer *t);
int llm_tokenizer_add_eos(const llm_tokenizer *t);

/* 1 for ids that end generation: eos, eot, eom and the end-of-turn control
 * tokens the vocabulary has; 0 otherwise (ids out of range included). */
int llm_tokenizer_is_eog(const llm_tokenizer *t, int32_t id);
/* LLM_TOKEN_* bits of id; 0 for ids out of range. */
unsigned llm_tokenizer_attr(const llm_tokenizer *t, int32_t id);
/* The id of the token whose text is exactly `piece` (NUL-terminated), -1 if none. */
int32_t llm_tokenizer_find(const llm_tokenizer *t, const char *piece);
/* A token's text as stored (SentencePiece's U+2581, GPT-2's byte-to-unicode
 * form); *len gets its length. NULL for ids out of range. Owned by t. */
const char *llm_tokenizer_text(const llm_tokenizer *t, int32_t id, size_t *len);

/* Appends the ids of text[0 .. len) to *ids, a growable array of *n_ids
 * used and *cap allocated elements (realloc'd as needed; start with NULL, 0,
 * 0; free() it). add_special: BOS / EOS as the file says (add_bos_token,
 * add_eos_token). parse_special: text of control tokens becomes the token.
 * Text that is not valid UTF-8 is tokenized as llama.cpp does (SPM: bytes;
 * BPE: a bad lead or missing continuation byte as U+FFFD, overlong forms
 * and surrogates as they stand, code points past U+10FFFF as U+FFFD). Returns 0, KERN_E_INVAL (bad arguments) or
 * KERN_E_NOMEM (the ids appended so far stay). */
int llm_tokenizer_encode(const llm_tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                         int32_t **ids, size_t *n_ids, size_t *cap);

/* The bytes one token stands for: byte tokens their byte, SentencePiece's
 * U+2581 a space, byte-level BPE's characters their bytes; control and
 * unknown tokens give "" unless `special`, then their text; unused tokens "". Writes at most
 * cap bytes to buf (no NUL) and returns the piece's full length: call again
 * with a larger buffer when it exceeds cap. 0 for ids out of range. A piece
 * may be part of a UTF-8 sequence: see llm_utf8_stream. */
size_t llm_tokenizer_piece(const llm_tokenizer *t, int32_t id, int special, char *buf, size_t cap);

/* Streaming detokenizer: feed pieces as they come, get out only complete,
 * valid UTF-8. A byte sequence is held back while it may still complete a
 * character; once proven ill-formed, each maximal ill-formed part becomes one
 * U+FFFD (as Python's errors="replace"). Zero-initialise the struct to start. */
typedef struct {
  char pending[8];
  int n_pending;
} llm_utf8_stream;

/* Room feed() needs in `out` for n input bytes (NUL included). */
#define LLM_UTF8_STREAM_CAP(n) (3 * (size_t)(n) + 16)

/* Writes the complete characters of pending + in[0 .. n) to out and a NUL.
 * Returns the bytes written (NUL excluded), or SIZE_MAX with nothing
 * consumed when cap < LLM_UTF8_STREAM_CAP(n). */
size_t llm_utf8_stream_feed(llm_utf8_stream *s, const char *in, size_t n, char *out, size_t cap);
/* At the end: a held-back incomplete sequence becomes U+FFFD. Needs cap >= 4;
 * returns the bytes written (NUL excluded) and resets the stream. */
size_t llm_utf8_stream_flush(llm_utf8_stream *s, char *out, size_t cap);
