/* aud-tokenizer.h: the Whisper tokenizer, as openai-whisper's tokenizer.py
 * (tiktoken) defines it.
 *
 * Byte-level BPE with GPT-2's pre-tokenizer regex
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * and merge priority = token id ("rank"), like tiktoken's "gpt2" (.en models)
 * and "multilingual" encodings. The special tokens follow the regular ones:
 *   <|endoftext|> (eot), <|startoftranscript|> (sot), one token per language
 *   (99, or 100 with "yue" for large-v3), <|translate|>, <|transcribe|>,
 *   <|startoflm|>, <|startofprev|>, <|nospeech|> (<|nocaptions|> in older
 *   vocabularies), <|notimestamps|>, then 1501 timestamps <|0.00|> .. <|30.00|>.
 * The layout follows from n_vocab as in openai-whisper: multilingual when
 * n_vocab >= 51865, languages = n_vocab - 51765 - multilingual.
 *
 * Sources: a whisper.cpp ggml file's vocabulary (raw token bytes; special
 * ids from n_vocab), a CTranslate2 directory's vocabulary.json or a Hugging
 * Face tokenizer.json / vocab.json + added_tokens.json (tokens in GPT-2's
 * byte-to-unicode form, specials by name, which are checked).
 *
 * Unicode classes for the regex come from kern-unicode.h (Python's
 * unicodedata; see the version there). Text that is not valid UTF-8 is
 * encoded byte for byte: each invalid byte is a character of its own in the
 * "other" class (tiktoken only ever sees valid text).
 *
 * A tokenizer is immutable once made: any number of threads may use it at once.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kern-error.h"
#include "kern-weights.h"

typedef struct aud_tokenizer aud_tokenizer;

/* Special token ids; -1 where the vocabulary lacks one. */
typedef struct {
  int32_t eot;             /* <|endoftext|>; also the number of regular (text) tokens */
  int32_t sot;             /* <|startoftranscript|> */
  int32_t lang_begin;      /* first language token (sot + 1); languages are consecutive */
  int n_languages;
  int32_t translate;
  int32_t transcribe;
  int32_t sot_lm;          /* <|startoflm|> */
  int32_t sot_prev;        /* <|startofprev|> */
  int32_t no_speech;       /* <|nospeech|> / <|nocaptions|> */
  int32_t no_timestamps;   /* <|notimestamps|> */
  int32_t timestamp_begin; /* <|0.00|>; timestamp i (i * 0.02 s) is timestamp_begin + i */
  int32_t n_timestamps;    /* 1501 */
} aud_tokenizer_specials;

/* From an open model: whisper.cpp ggml: "tokenizer.token_bytes" (raw bytes)
 * laid out by "whisper.n_vocab"; CTranslate2: "tokenizer.tokens" (byte-level
 * strings, specials by name);
 * for a Hugging Face directory (or a format without "tokenizer.tokens"), the
 * tokenizer.json / vocab.json beside the model. NULL on failure with *err
 * (malloc'd) when err is not NULL. The tokenizer does not keep w. */
aud_tokenizer *aud_tokenizer_from_weights(const kern_weights *w, char **err);

/* From a directory holding vocabulary.json (CTranslate2), tokenizer.json or
 * vocab.json (+ added_tokens.json) (Hugging Face), tried in that order, or
 * from one of those files named directly. */
aud_tokenizer *aud_tokenizer_from_path(const char *path, char **err);

/* From token strings in id order: raw bytes (byte_level 0; ids at and past
 * the regular vocabulary may be absent, i.e. n_tokens < n_vocab, and are
 * then laid out from n_vocab) or GPT-2 byte-to-unicode strings with the
 * specials by name (byte_level 1). tok[i] has len[i] bytes. n_vocab 0 means
 * n_tokens. */
aud_tokenizer *aud_tokenizer_new(const char *const *tok, const size_t *len, size_t n_tokens, int n_vocab,
                                 int byte_level, char **err);

void aud_tokenizer_free(aud_tokenizer *t);

int aud_tokenizer_n_vocab(const aud_tokenizer *t);
int aud_tokenizer_is_multilingual(const aud_tokenizer *t);
int aud_tokenizer_n_languages(const aud_tokenizer *t);
const aud_tokenizer_specials *aud_tokenizer_get_specials(const aud_tokenizer *t);

/* Language token for a code ("en", "yue") or an English name or alias
 * ("German", "castilian"), case-insensitive; -1 when unknown to this vocabulary. */
int32_t aud_tokenizer_language_id(const aud_tokenizer *t, const char *code_or_name);
/* The code of a language token ("en"), or NULL when id is not one. Static storage. */
const char *aud_tokenizer_language_code(const aud_tokenizer *t, int32_t id);
/* The English name of a language code ("english"), or NULL. Static storage. */
const char *aud_language_name(const char *code);

/* 1 for ids at and past eot (specials and timestamps). */
int aud_tokenizer_is_special(const aud_tokenizer *t, int32_t id);
int aud_tokenizer_is_timestamp(const aud_tokenizer *t, int32_t id);

/* The start-of-transcript prompt as the reference builds it: sot, then the
 * language token (lang not NULL, multilingual only), then translate or
 * transcribe (multilingual only). out holds 3; returns the count, or a
 * negative kern_status for an unknown language. */
int aud_tokenizer_sot_sequence(const aud_tokenizer *t, const char *lang, int translate, int32_t *out);

/* Encodes UTF-8 text as ordinary text (special token names are not
 * recognised, they are text). Writes at most cap ids and sets *n to the full
 * count; returns 0, or KERN_E_INVAL when cap was too small (ids holds the
 * first cap), KERN_E_NOMEM. */
int aud_tokenizer_encode(const aud_tokenizer *t, const char *text, int32_t *ids, size_t cap, size_t *n);
int aud_tokenizer_encode_n(const aud_tokenizer *t, const char *text, size_t len, int32_t *ids, size_t cap,
                           size_t *n);

/* The bytes of one token (specials and timestamps: their names, "<|en|>",
 * "<|1.08|>"); *len gets the length. NULL for an id out of range. Owned by t. */
const char *aud_tokenizer_token_bytes(const aud_tokenizer *t, int32_t id, size_t *len);

enum {
  AUD_TOK_DECODE_SPECIALS = 1 << 0,   /* render specials other than timestamps by name */
  AUD_TOK_DECODE_TIMESTAMPS = 1 << 1, /* render timestamps, "<|1.08|>" */
  AUD_TOK_DECODE_UTF8 = 1 << 2,       /* replace invalid UTF-8 by U+FFFD as Python's errors="replace" does */
};
/* The reference's Tokenizer.decode() is SPECIALS | UTF8 (timestamps dropped),
 * decode_with_timestamps() SPECIALS | TIMESTAMPS | UTF8. */

/* Joins the tokens' bytes (specials skipped unless flags ask for them) into
 * out (cap bytes, always NUL-terminated when cap > 0, cut short when too
 * small); *len gets the full length. Returns 0, KERN_E_INVAL for an id out of
 * range (nothing written), or KERN_E_INVAL when cap was too small. */
int aud_tokenizer_decode(const aud_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, char *out, size_t cap,
                         size_t *len);

/* The tokens the reference suppresses for suppress_tokens="-1":
 * Tokenizer.non_speech_tokens (symbols that mark speaker tags, music and
 * captions, encoded as the reference encodes them), sorted. Owned by t. */
const int32_t *aud_tokenizer_non_speech_tokens(const aud_tokenizer *t, size_t *n);
/* The reference decoder's full default suppress list: non_speech_tokens plus
 * transcribe, translate, sot, sot_prev, sot_lm and no_speech, sorted, unique. */
const int32_t *aud_tokenizer_suppress_tokens(const aud_tokenizer *t, size_t *n);
