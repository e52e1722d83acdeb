/* aud-tokenizer.c: Whisper's byte-level BPE tokenizer (see aud-tokenizer.h).
 *
 * Encoding is tiktoken's: the text is split by GPT-2's pre-tokenizer regex
 * (hand-written here as a scanner with the regex's leftmost-first,
 * backtracking semantics), then each piece is a single token if the
 * vocabulary has it, else its bytes are merged pairwise, always the adjacent
 * pair whose concatenation has the lowest rank (= id) first, leftmost on ties.
 */
#include "aud-tokenizer.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "aud-tokenizer-repair.h"
#include "kern-unicode.h"
#include "kern-json.h"

#define N_TIMESTAMPS 1501
#define MAX_LANGUAGES 100
#define MAX_FILE_BYTES (256u << 20)
#define RANK_NONE INT32_MAX

/* openai-whisper's LANGUAGES, in token order. */
static const char *const lang_codes[MAX_LANGUAGES] = {
  "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id",
  "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg",
  "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br",
  "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so",
  "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt",
  "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue",
};

static const char *const lang_names[MAX_LANGUAGES] = {
  "english", "chinese", "german", "spanish", "russian", "korean", "french", "japanese", "portuguese",
  "turkish", "polish", "catalan", "dutch", "arabic", "swedish", "italian", "indonesian", "hindi",
  "finnish", "vietnamese", "hebrew", "ukrainian", "greek", "malay", "czech", "romanian", "danish",
  "hungarian", "tamil", "norwegian", "thai", "urdu", "croatian", "bulgarian", "lithuanian", "latin",
  "maori", "malayalam", "welsh", "slovak", "telugu", "persian", "latvian", "bengali", "serbian",
  "azerbaijani", "slovenian", "kannada", "estonian", "macedonian", "breton", "basque", "icelandic",
  "armenian", "nepali", "mongolian", "bosnian", "kazakh", "albanian", "swahili", "galician", "marathi",
  "punjabi", "sinhala", "khmer", "shona", "yoruba", "somali", "afrikaans", "occitan", "georgian",
  "belarusian", "tajik", "sindhi", "gujarati", "amharic", "yiddish", "lao", "uzbek", "faroese",
  "haitian creole", "pashto", "turkmen", "nynorsk", "maltese", "sanskrit", "luxembourgish", "myanmar",
  "tibetan", "tagalog", "malagasy", "assamese", "tatar", "hawaiian", "lingala", "hausa", "bashkir",
  "javanese", "sundanese", "cantonese",
};

/* openai-whisper's TO_LANGUAGE_CODE aliases. */
static const char *const lang_aliases[][2] = {
  { "burmese", "my" },   { "valencian", "ca" }, { "flemish", "nl" },  { "haitian", "ht" },
  { "letzeburgesch", "lb" }, { "pushto", "ps" }, { "panjabi", "pa" }, { "moldavian", "ro" },
  { "moldovan", "ro" },  { "sinhalese", "si" }, { "castilian", "es" }, { "mandarin", "zh" },
};

struct aud_tokenizer {
  int n_vocab;
  int multilingual;
  aud_tokenizer_specials sp;
  char *blob;          /* every token's bytes (specials: their names), back to back */
  size_t *off;         /* (n_vocab + 1): token i is blob[off[i] .. off[i+1]) */
  int32_t *table;      /* open addressing over regular tokens' bytes: id or -1 */
  uint32_t mask;       /* table size - 1 */
  char (*codes)[8];    /* (n_languages): language codes, from the vocabulary's names */
  int32_t *non_speech;
  size_t n_non_speech;
  int32_t *suppress;
  size_t n_suppress;
};

static void
set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_err(char **err, const char *fmt, ...)
{
  if (!err)
    return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  *err = strdup(msg);
}

/* --- Unicode ------------------------------------------------------------------- */

enum { CL_LETTER, CL_NUMBER, CL_SPACE, CL_OTHER };


#define INVALID_CP 0xFFFFFFFFu

static int
classify(uint32_t cp)
{
  if (cp < 0x80) {
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
      return CL_LETTER;
    if (cp >= '0' && cp <= '9')
      return CL_NUMBER;
    return kern_unicode_is_space(cp) ? CL_SPACE : CL_OTHER;
  }
  if (cp == INVALID_CP)
    return CL_OTHER;
  if (kern_unicode_is_space(cp))
    return CL_SPACE;
  if (kern_unicode_is_letter(cp))
    return CL_LETTER;
  if (kern_unicode_is_number(cp))
    return CL_NUMBER;
  return CL_OTHER;
}

/* Length of the well-formed UTF-8 sequence at s[0..n), or the length of its
 * maximal ill-formed subpart as a negative number (Unicode's "maximal
 * subpart" rule, which Python's errors="replace" follows). */
static int
utf8_seq(const uint8_t *s, size_t n, uint32_t *cp)
{
  uint8_t b0 = s[0];
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  int need;
  uint8_t lo = 0x80, hi = 0xBF;
  uint32_t v;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    v = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    v = b0 & 0x0F;
    if (b0 == 0xE0)
      lo = 0xA0;
    else if (b0 == 0xED)
      hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    v = b0 & 0x07;
    if (b0 == 0xF0)
      lo = 0x90;
    else if (b0 == 0xF4)
      hi = 0x8F;
  } else {
    return -1;
  }
  for (int k = 1; k <= need; k++) {
    if ((size_t)k >= n || s[k] < lo || s[k] > hi)
      return -k;
    v = (v << 6) | (s[k] & 0x3F);
    lo = 0x80;
    hi = 0xBF;
  }
  *cp = v;
  return need + 1;
}

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the other
 * 68 (0-32, 127-160, 173) for U+0100 onwards in byte order. */
static int
byte_is_printable(int b)
{
  return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

static void
byte_level_map(uint32_t byte_to_cp[256])
{
  uint32_t next = 256;
  for (int b = 0; b < 256; b++)
    byte_to_cp[b] = byte_is_printable(b) ? (uint32_t)b : next++;
}

/* --- the vocabulary ------------------------------------------------------------ */

static uint32_t
hash_bytes(const uint8_t *p, size_t n)
{
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

static int32_t
lookup(const aud_tokenizer *t, const uint8_t *p, size_t n)
{
  for (uint32_t i = hash_bytes(p, n) & t->mask;; i = (i + 1) & t->mask) {
    int32_t id = t->table[i];
    if (id < 0)
      return -1;
    size_t len = t->off[id + 1] - t->off[id];
    if (len == n && memcmp(t->blob + t->off[id], p, n) == 0)
      return id;
  }
}

static int
build_table(aud_tokenizer *t)
{
  uint32_t size = 1024;
  while (size < 2u * (uint32_t)t->sp.eot)
    size *= 2;
  t->table = malloc(size * sizeof *t->table);
  if (!t->table)
    return KERN_E_NOMEM;
  memset(t->table, 0xff, size * sizeof *t->table);
  t->mask = size - 1;
  for (int32_t id = 0; id < t->sp.eot; id++) {
    const uint8_t *p = (const uint8_t *)t->blob + t->off[id];
    size_t n = t->off[id + 1] - t->off[id];
    if (n == 0) /* the multilingual vocabulary's id 50256 is empty */
      continue;
    uint32_t i = hash_bytes(p, n) & t->mask;
    while (t->table[i] >= 0) {
      int32_t o = t->table[i];
      if (t->off[o + 1] - t->off[o] == n && memcmp(t->blob + t->off[o], p, n) == 0)
        break; /* a duplicate: the lower id keeps it */
      i = (i + 1) & t->mask;
    }
    if (t->table[i] < 0)
      t->table[i] = id;
  }
  return 0;
}

/* Appends to a growing byte buffer. */
typedef struct {
  char *p;
  size_t n, cap;
} buf;

static int
buf_put(buf *b, const void *s, size_t n)
{
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
      return KERN_E_NOMEM;
    b->p = p;
    b->cap = cap;
  }
  if (n)
    memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
  return 0;
}

void
aud_tokenizer_free(aud_tokenizer *t)
{
  if (!t)
    return;
  free(t->blob);
  free(t->off);
  free(t->table);
  free(t->codes);
  free(t->non_speech);
  free(t->suppress);
  free(t);
}

/* How a vocabulary names (or, for raw ones, leaves out) its specials. */
typedef struct {
  const char *const *tok;
  const size_t *len;
  size_t n_tokens;
} token_list;

static int
tok_is(const token_list *l, int64_t i, const char *name)
{
  size_t n = strlen(name);
  return i >= 0 && (size_t)i < l->n_tokens && l->len[i] == n && memcmp(l->tok[i], name, n) == 0;
}

/* "<|xx|>" with a lowercase code of 2 or 3 letters: the code, else NULL. */
static int
tok_lang(const token_list *l, int64_t i, char code[8])
{
  if (i < 0 || (size_t)i >= l->n_tokens)
    return 0;
  const char *s = l->tok[i];
  size_t n = l->len[i];
  if (n < 6 || n > 7 || memcmp(s, "<|", 2) != 0 || memcmp(s + n - 2, "|>", 2) != 0)
    return 0;
  for (size_t k = 2; k < n - 2; k++)
    if (s[k] < 'a' || s[k] > 'z')
      return 0;
  memcpy(code, s + 2, n - 4);
  code[n - 4] = '\0';
  return 1;
}

static int
timestamp_name(int i, char *out, size_t cap)
{
  return snprintf(out, cap, "<|%.2f|>", (double)i * 0.02);
}

/* Lays out the specials: from the names (named != 0: each is checked, the
 * language codes are read, missing timestamps are added), or from n_vocab
 * as openai-whisper does. Fills t->sp, t->n_vocab, t->codes. */
static int
layout_specials(aud_tokenizer *t, const token_list *l, int named, int n_vocab, char **err)
{
  aud_tokenizer_specials *sp = &t->sp;
  if (named) {
    int64_t eot = -1;
    for (size_t i = 0; i < l->n_tokens && eot < 0; i++)
      if (tok_is(l, (int64_t)i, "<|endoftext|>"))
        eot = (int64_t)i;
    if (eot < 0) {
      set_err(err, "the vocabulary has no <|endoftext|> token: not a Whisper vocabulary");
      return KERN_E_FORMAT;
    }
    int64_t i = eot + 1;
    if (!tok_is(l, i, "<|startoftranscript|>")) {
      set_err(err, "token %" PRId64 " should be <|startoftranscript|> (after <|endoftext|>)", i);
      return KERN_E_FORMAT;
    }
    sp->eot = (int32_t)eot;
    sp->sot = (int32_t)i++;
    sp->lang_begin = (int32_t)i;
    char code[8];
    int nl = 0;
    while (tok_lang(l, i + nl, code) && nl < MAX_LANGUAGES)
      nl++;
    t->codes = calloc(nl ? (size_t)nl : 1, sizeof *t->codes);
    if (!t->codes)
      return KERN_E_NOMEM;
    for (int k = 0; k < nl; k++)
      tok_lang(l, i + k, t->codes[k]);
    sp->n_languages = nl;
    i += nl;
    static const char *const order[] = { "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
                                         "<|nospeech|>", "<|notimestamps|>" };
    int32_t *ids[] = { &sp->translate, &sp->transcribe, &sp->sot_lm, &sp->sot_prev, &sp->no_speech,
                       &sp->no_timestamps };
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++, i++) {
      if (!tok_is(l, i, order[k]) && !(k == 4 && tok_is(l, i, "<|nocaptions|>"))) {
        set_err(err, "token %" PRId64 " should be %s", i, order[k]);
        return KERN_E_FORMAT;
      }
      *ids[k] = (int32_t)i;
    }
    sp->timestamp_begin = (int32_t)i;
    sp->n_timestamps = N_TIMESTAMPS;
    for (int k = 0; k < N_TIMESTAMPS && (size_t)(i + k) < l->n_tokens; k++) {
      char name[16];
      timestamp_name(k, name, sizeof name);
      if (!tok_is(l, i + k, name)) {
        set_err(err, "token %" PRId64 " should be %s", i + k, name);
        return KERN_E_FORMAT;
      }
    }
    t->n_vocab = sp->timestamp_begin + N_TIMESTAMPS;
    if ((size_t)t->n_vocab < l->n_tokens) {
      set_err(err, "the vocabulary has %zu tokens, %d more than Whisper's layout", l->n_tokens,
              (int)(l->n_tokens - (size_t)t->n_vocab));
      return KERN_E_FORMAT;
    }
    return 0;
  }

  /* openai-whisper: multilingual when n_vocab >= 51865, and
   * num_languages = n_vocab - 51765 - multilingual. */
  int multi = n_vocab >= 51865;
  int nl = n_vocab - 51765 - multi;
  int64_t eot = (int64_t)n_vocab - (2 + nl + 6 + N_TIMESTAMPS);
  if (nl < 1 || nl > MAX_LANGUAGES || eot < 256 || (size_t)eot > l->n_tokens) {
    set_err(err, "a vocabulary of %d tokens (%zu with text) does not have Whisper's layout", n_vocab,
            l->n_tokens);
    return KERN_E_FORMAT;
  }
  t->codes = calloc((size_t)nl, sizeof *t->codes);
  if (!t->codes)
    return KERN_E_NOMEM;
  for (int k = 0; k < nl; k++)
    snprintf(t->codes[k], sizeof t->codes[k], "%s", lang_codes[k]);
  sp->eot = (int32_t)eot;
  sp->sot = sp->eot + 1;
  sp->lang_begin = sp->sot + 1;
  sp->n_languages = nl;
  sp->translate = sp->lang_begin + nl;
  sp->transcribe = sp->translate + 1;
  sp->sot_lm = sp->translate + 2;
  sp->sot_prev = sp->translate + 3;
  sp->no_speech = sp->translate + 4;
  sp->no_timestamps = sp->translate + 5;
  sp->timestamp_begin = sp->translate + 6;
  sp->n_timestamps = N_TIMESTAMPS;
  t->n_vocab = n_vocab;
  return 0;
}

/* The name of special id (>= eot) into out. */
static int
special_name(const aud_tokenizer *t, int32_t id, char *out, size_t cap)
{
  const aud_tokenizer_specials *sp = &t->sp;
  if (id >= sp->timestamp_begin)
    return timestamp_name(id - sp->timestamp_begin, out, cap);
  if (id >= sp->lang_begin && id < sp->lang_begin + sp->n_languages)
    return snprintf(out, cap, "<|%s|>", t->codes[id - sp->lang_begin]);
  const char *name = id == sp->eot             ? "<|endoftext|>"
                     : id == sp->sot           ? "<|startoftranscript|>"
                     : id == sp->translate     ? "<|translate|>"
                     : id == sp->transcribe    ? "<|transcribe|>"
                     : id == sp->sot_lm        ? "<|startoflm|>"
                     : id == sp->sot_prev      ? "<|startofprev|>"
                     : id == sp->no_speech     ? "<|nospeech|>"
                                               : "<|notimestamps|>";
  return snprintf(out, cap, "%s", name);
}

static int compute_non_speech(aud_tokenizer *t);
static int utf8_replace(const char *in, size_t n, buf *out);

/* The byte of single-byte token `rank` (< 256): GPT-2 ranks the printable
 * bytes first, then the others, each group in byte order. */
static char
rank_byte(int rank)
{
  int k = 0;
  for (int pass = 0; pass < 2; pass++)
    for (int b = 0; b < 256; b++)
      if (byte_is_printable(b) == !pass && k++ == rank)
        return (char)b;
  return 0;
}

/* whisper.cpp's ggml files hold tokens that are not valid UTF-8 by themselves
 * only as their errors="replace" text (every ill-formed part became U+FFFD).
 * Returns the exact bytes of raw token id where the file holds exactly that
 * lossy form of the token in openai-whisper's vocabulary, else the file's. */
static const char *
repair_token(int32_t eot, int32_t id, const char *s, size_t *n, char *byte)
{
  const char *exact = NULL;
  size_t exact_len = 0;
  const aud_tok_repair *tab = NULL;
  size_t n_tab = 0;
  if (eot == AUD_TOK_REPAIR_GPT2_N_TEXT) {
    tab = aud_tok_repair_gpt2;
    n_tab = sizeof aud_tok_repair_gpt2 / sizeof aud_tok_repair_gpt2[0];
  } else if (eot == AUD_TOK_REPAIR_MULTILINGUAL_N_TEXT) {
    tab = aud_tok_repair_multilingual;
    n_tab = sizeof aud_tok_repair_multilingual / sizeof aud_tok_repair_multilingual[0];
  } else {
    return s; /* not one of openai-whisper's vocabularies */
  }
  if (id < 256) {
    *byte = rank_byte(id);
    exact = byte;
    exact_len = 1;
  } else {
    size_t lo = 0, hi = n_tab;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (tab[mid].id < id)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo < n_tab && tab[lo].id == id) {
      exact = tab[lo].bytes;
      exact_len = tab[lo].len;
    }
  }
  if (!exact || (*n == exact_len && memcmp(s, exact, exact_len) == 0))
    return s;
  buf lossy = { 0 };
  int same = utf8_replace(exact, exact_len, &lossy) == 0 && lossy.n == *n && memcmp(lossy.p, s, *n) == 0;
  free(lossy.p);
  if (!same)
    return s;
  *n = exact_len;
  return exact;
}

/* Builds the tokenizer from a token list (raw bytes or byte-level strings). */
static aud_tokenizer *
build(const token_list *l, int n_vocab, int byte_level, char **err)
{
  aud_tokenizer *t = calloc(1, sizeof *t);
  if (!t) {
    set_err(err, "out of memory");
    return NULL;
  }
  int rc = layout_specials(t, l, byte_level, n_vocab, err);
  if (rc)
    goto fail;
  t->multilingual = t->n_vocab >= 51865;

  uint32_t b2c[256];
  int16_t c2b[512];
  byte_level_map(b2c);
  memset(c2b, 0xff, sizeof c2b);
  for (int b = 0; b < 256; b++)
    c2b[b2c[b]] = (int16_t)b;

  buf blob = { 0 };
  t->off = malloc(((size_t)t->n_vocab + 1) * sizeof *t->off);
  if (!t->off) {
    rc = KERN_E_NOMEM;
    goto fail;
  }
  for (int32_t id = 0; id < t->n_vocab; id++) {
    t->off[id] = blob.n;
    if (id >= t->sp.eot) {
      /* specials: the vocabulary's own name (<|nocaptions|> stays), else Whisper's */
      char name[32];
      int named = byte_level && (size_t)id < l->n_tokens;
      int n = named ? 0 : special_name(t, id, name, sizeof name);
      if ((rc = named ? buf_put(&blob, l->tok[id], l->len[id]) : buf_put(&blob, name, (size_t)n)))
        goto fail_blob;
      continue;
    }
    const uint8_t *s = (const uint8_t *)l->tok[id];
    size_t n = l->len[id];
    if (!byte_level) {
      char byte;
      const char *r = repair_token(t->sp.eot, id, (const char *)s, &n, &byte);
      if ((rc = buf_put(&blob, r, n)))
        goto fail_blob;
      continue;
    }
    for (size_t k = 0; k < n;) {
      uint32_t cp = 0;
      int len = utf8_seq(s + k, n - k, &cp);
      if (len < 0 || cp >= 512 || c2b[cp] < 0) {
        set_err(err, "token %" PRId32 " is not in GPT-2's byte-level form", id);
        rc = KERN_E_FORMAT;
        goto fail_blob;
      }
      uint8_t byte = (uint8_t)c2b[cp];
      if ((rc = buf_put(&blob, &byte, 1)))
        goto fail_blob;
      k += (size_t)len;
    }
  }
  t->off[t->n_vocab] = blob.n;
  t->blob = blob.p ? blob.p : strdup("");
  if (!t->blob || (rc = build_table(t)) || (rc = compute_non_speech(t))) {
    if (rc == 0)
      rc = KERN_E_NOMEM;
    goto fail;
  }
  return t;

fail_blob:
  free(blob.p);
fail:
  if (rc == KERN_E_NOMEM && err && !*err)
    set_err(err, "out of memory");
  aud_tokenizer_free(t);
  return NULL;
}

aud_tokenizer *
aud_tokenizer_new(const char *const *tok, const size_t *len, size_t n_tokens, int n_vocab, int byte_level,
                  char **err)
{
  if (err)
    *err = NULL;
  if ((!tok || !len) && n_tokens > 0) {
    set_err(err, "no tokens given");
    return NULL;
  }
  if (n_vocab <= 0)
    n_vocab = n_tokens > INT32_MAX ? INT32_MAX : (int)n_tokens;
  if ((size_t)n_vocab < n_tokens && !byte_level) {
    set_err(err, "%zu tokens given for a vocabulary of %d", n_tokens, n_vocab);
    return NULL;
  }
  token_list l = { tok, len, n_tokens };
  return build(&l, n_vocab, byte_level, err);
}

/* --- loading ------------------------------------------------------------------- */

/* A vocabulary in metadata: an array of strings, or of byte arrays (U8). */
static aud_tokenizer *
from_meta(const kern_meta *m, int n_vocab, int byte_level, char **err)
{
  if (m->type != KERN_META_ARRAY || (m->elem_type != KERN_META_STRING && m->elem_type != KERN_META_ARRAY)) {
    set_err(err, "the vocabulary is not an array of strings or byte arrays");
    return NULL;
  }
  size_t n = (size_t)m->n;
  const char **tok = malloc((n ? n : 1) * sizeof *tok);
  size_t *len = malloc((n ? n : 1) * sizeof *len);
  aud_tokenizer *t = NULL;
  if (!tok || !len) {
    set_err(err, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    const kern_meta *it = &m->v.items[i];
    if (it->type == KERN_META_STRING) {
      tok[i] = it->v.str;
    } else if (it->type == KERN_META_ARRAY && (it->elem_type == KERN_META_U8 || it->elem_type == KERN_META_I8)) {
      tok[i] = it->v.raw;
    } else {
      set_err(err, "vocabulary item %zu is neither a string nor bytes", i);
      goto out;
    }
    len[i] = (size_t)it->n;
  }
  t = aud_tokenizer_new(tok, len, n, n_vocab, byte_level, err);
out:
  free(tok);
  free(len);
  return t;
}

/* An id -> string table being filled from JSON objects. */
typedef struct {
  const char **tok;
  size_t *len;
  size_t n;
} id_table;

static int
id_table_set(id_table *tb, int64_t id, const char *s, size_t len, const char *path, char **err)
{
  if (id < 0 || id > 10000000) {
    set_err(err, "%s: token id %" PRId64 " is out of range", path, id);
    return KERN_E_FORMAT;
  }
  if ((size_t)id >= tb->n) {
    size_t n = (size_t)id + 1;
    const char **tok = realloc(tb->tok, n * sizeof *tok);
    if (tok)
      tb->tok = tok;
    size_t *ln = realloc(tb->len, n * sizeof *ln);
    if (ln)
      tb->len = ln;
    if (!tok || !ln) {
      set_err(err, "out of memory");
      return KERN_E_NOMEM;
    }
    for (size_t i = tb->n; i < n; i++)
      tb->tok[i] = NULL;
    tb->n = n;
  }
  tb->tok[id] = s;
  tb->len[id] = len;
  return 0;
}

/* Members of a JSON object {"token": id, ...} into tb. */
static int
id_table_add_object(id_table *tb, const kern_json_value *obj, const char *path, char **err)
{
  if (!obj || obj->type != KERN_JSON_OBJECT) {
    set_err(err, "%s: the vocabulary is not a JSON object", path);
    return KERN_E_FORMAT;
  }
  for (size_t i = 0; i < obj->n; i++) {
    const kern_json_value *v = &obj->items[i];
    if (v->type != KERN_JSON_NUMBER || !v->is_int) {
      set_err(err, "%s: the id of token \"%s\" is not an integer", path, obj->keys[i]);
      return KERN_E_FORMAT;
    }
    int rc = id_table_set(tb, v->integer, obj->keys[i], strlen(obj->keys[i]), path, err);
    if (rc)
      return rc;
  }
  return 0;
}

static aud_tokenizer *
id_table_build(id_table *tb, const char *path, char **err)
{
  for (size_t i = 0; i < tb->n; i++)
    if (!tb->tok[i]) {
      set_err(err, "%s: no token has id %zu", path, i);
      return NULL;
    }
  return aud_tokenizer_new(tb->tok, tb->len, tb->n, 0, 1, err);
}

/* CTranslate2's vocabulary.json: ["!", "\"", ...]. */
static aud_tokenizer *
from_vocabulary_json(const char *path, const kern_json_value *root, char **err)
{
  if (root->type != KERN_JSON_ARRAY) {
    set_err(err, "%s: not a JSON array of tokens", path);
    return NULL;
  }
  id_table tb = { 0 };
  aud_tokenizer *t = NULL;
  for (size_t i = 0; i < root->n; i++) {
    if (root->items[i].type != KERN_JSON_STRING) {
      set_err(err, "%s: token %zu is not a string", path, i);
      goto out;
    }
    if (id_table_set(&tb, (int64_t)i, root->items[i].str, root->items[i].str_len, path, err))
      goto out;
  }
  t = id_table_build(&tb, path, err);
out:
  free(tb.tok);
  free(tb.len);
  return t;
}

/* Hugging Face tokenizer.json: model.vocab {token: id} + added_tokens [{id, content}]. */
static aud_tokenizer *
from_tokenizer_json(const char *path, const kern_json_value *root, char **err)
{
  const kern_json_value *model = kern_json_get(root, "model");
  const kern_json_value *type = kern_json_get(model, "type");
  if (type && (type->type != KERN_JSON_STRING || strcmp(type->str, "BPE") != 0)) {
    set_err(err, "%s: a %s tokenizer, not byte-level BPE", path, type->type == KERN_JSON_STRING ? type->str : "?");
    return NULL;
  }
  id_table tb = { 0 };
  aud_tokenizer *t = NULL;
  if (id_table_add_object(&tb, kern_json_get(model, "vocab"), path, err))
    goto out;
  const kern_json_value *added = kern_json_get(root, "added_tokens");
  for (size_t i = 0; added && added->type == KERN_JSON_ARRAY && i < added->n; i++) {
    const kern_json_value *id = kern_json_get(&added->items[i], "id");
    const kern_json_value *content = kern_json_get(&added->items[i], "content");
    if (!id || id->type != KERN_JSON_NUMBER || !id->is_int || !content || content->type != KERN_JSON_STRING) {
      set_err(err, "%s: added token %zu has no id or content", path, i);
      goto out;
    }
    if (id_table_set(&tb, id->integer, content->str, content->str_len, path, err))
      goto out;
  }
  t = id_table_build(&tb, path, err);
out:
  free(tb.tok);
  free(tb.len);
  return t;
}

static int
is_dir(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
exists(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0;
}

static char *
join(const char *dir, const char *name)
{
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s/%s", dir, name);
  return p;
}

/* Hugging Face's slow-tokenizer files: vocab.json {token: id} + added_tokens.json {token: id}. */
static aud_tokenizer *
from_vocab_json(const char *path, const kern_json_value *root, char **err)
{
  id_table tb = { 0 };
  aud_tokenizer *t = NULL;
  kern_json *added = NULL;
  char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
  char *added_path = NULL;
  if (!dir) {
    set_err(err, "out of memory");
    goto out;
  }
  if (slash)
    *slash = '\0';
  added_path = join(slash ? dir : ".", "added_tokens.json");
  if (id_table_add_object(&tb, root, path, err))
    goto out;
  if (added_path && exists(added_path)) {
    if (!(added = kern_json_parse_file(added_path, MAX_FILE_BYTES, err)) ||
        id_table_add_object(&tb, kern_json_root(added), added_path, err))
      goto out;
  }
  t = id_table_build(&tb, path, err);
out:
  free(tb.tok);
  free(tb.len);
  kern_json_free(added);
  free(added_path);
  free(dir);
  return t;
}

static aud_tokenizer *
from_json_file(const char *path, char **err)
{
  kern_json *j = kern_json_parse_file(path, MAX_FILE_BYTES, err);
  if (!j)
    return NULL;
  const kern_json_value *root = kern_json_root(j);
  aud_tokenizer *t;
  if (root->type == KERN_JSON_ARRAY)
    t = from_vocabulary_json(path, root, err);
  else if (kern_json_get(root, "model"))
    t = from_tokenizer_json(path, root, err);
  else
    t = from_vocab_json(path, root, err);
  kern_json_free(j);
  return t;
}

/* CTranslate2's vocabulary.txt: one token per line. */
static aud_tokenizer *
from_vocabulary_txt(const char *path, char **err)
{
  size_t n;
  char *text = kern_read_file(path, MAX_FILE_BYTES, &n, err);
  if (!text)
    return NULL;
  id_table tb = { 0 };
  aud_tokenizer *t = NULL;
  size_t count = 0;
  for (char *p = text; p < text + n;) {
    char *nl = memchr(p, '\n', (size_t)(text + n - p));
    char *end = nl ? nl : text + n;
    size_t len = (size_t)(end - p);
    if (len && p[len - 1] == '\r')
      len--;
    p[len] = '\0';
    if (id_table_set(&tb, (int64_t)count++, p, len, path, err))
      goto out;
    p = end + 1;
  }
  t = id_table_build(&tb, path, err);
out:
  free(tb.tok);
  free(tb.len);
  free(text);
  return t;
}

aud_tokenizer *
aud_tokenizer_from_path(const char *path, char **err)
{
  if (err)
    *err = NULL;
  if (!path) {
    set_err(err, "no path given");
    return NULL;
  }
  if (!is_dir(path)) {
    size_t n = strlen(path);
    if (n >= 4 && strcmp(path + n - 4, ".txt") == 0)
      return from_vocabulary_txt(path, err);
    return from_json_file(path, err);
  }
  static const char *const names[] = { "vocabulary.json", "vocabulary.txt", "tokenizer.json", "vocab.json" };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char *p = join(path, names[i]);
    if (!p) {
      set_err(err, "out of memory");
      return NULL;
    }
    if (exists(p)) {
      aud_tokenizer *t = aud_tokenizer_from_path(p, err);
      free(p);
      return t;
    }
    free(p);
  }
  set_err(err, "%s: no vocabulary.json, tokenizer.json or vocab.json", path);
  return NULL;
}

aud_tokenizer *
aud_tokenizer_from_weights(const kern_weights *w, char **err)
{
  if (err)
    *err = NULL;
  if (!w) {
    set_err(err, "no model given");
    return NULL;
  }
  /* whisper.cpp ggml: raw token bytes (as byte arrays, or strings in older
   * readers), specials laid out from whisper.n_vocab; others: GPT-2
   * byte-level strings with the specials by name. */
  int ggml = kern_weights_format(w) == KERN_FORMAT_WHISPER_GGML ||
             (kern_weights_format(w) == KERN_FORMAT_GGUF &&
              !strcmp(kern_weights_get_string(w, "general.architecture", ""), "whisper")); /* Hark's Whisper GGUF */
  const kern_meta *m = kern_weights_get_meta(w, "tokenizer.token_bytes");
  if (!m)
    m = kern_weights_get_meta(w, "tokenizer.tokens");
  if (m) {
    aud_tokenizer *t;
    if (ggml)
      t = from_meta(m, (int)kern_weights_get_int(w, "whisper.n_vocab", 0), 0, err);
    else
      t = from_meta(m, 0, 1, err);
    if (!t && err && *err) {
      char *inner = *err;
      *err = NULL;
      set_err(err, "%s: %s", kern_weights_path(w), inner);
      free(inner);
    }
    return t;
  }
  /* Hugging Face directories: the tokenizer files beside the weights. */
  const char *path = kern_weights_path(w);
  if (!path) {
    set_err(err, "the model has no vocabulary");
    return NULL;
  }
  if (is_dir(path))
    return aud_tokenizer_from_path(path, err);
  char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
  if (!dir) {
    set_err(err, "out of memory");
    return NULL;
  }
  if (slash)
    *slash = '\0';
  aud_tokenizer *t = aud_tokenizer_from_path(slash ? dir : ".", err);
  free(dir);
  return t;
}

/* --- queries -------------------------------------------------------------------- */

int
aud_tokenizer_n_vocab(const aud_tokenizer *t)
{
  return t->n_vocab;
}

int
aud_tokenizer_is_multilingual(const aud_tokenizer *t)
{
  return t->multilingual;
}

int
aud_tokenizer_n_languages(const aud_tokenizer *t)
{
  return t->sp.n_languages;
}

const aud_tokenizer_specials *
aud_tokenizer_get_specials(const aud_tokenizer *t)
{
  return &t->sp;
}

int32_t
aud_tokenizer_language_id(const aud_tokenizer *t, const char *code_or_name)
{
  if (!code_or_name)
    return -1;
  const char *code = code_or_name;
  for (int k = 0; k < MAX_LANGUAGES; k++)
    if (strcasecmp(code_or_name, lang_names[k]) == 0)
      code = lang_codes[k];
  for (size_t k = 0; k < sizeof lang_aliases / sizeof lang_aliases[0]; k++)
    if (strcasecmp(code_or_name, lang_aliases[k][0]) == 0)
      code = lang_aliases[k][1];
  for (int k = 0; k < t->sp.n_languages; k++)
    if (strcasecmp(code, t->codes[k]) == 0)
      return t->sp.lang_begin + k;
  return -1;
}

const char *
aud_tokenizer_language_code(const aud_tokenizer *t, int32_t id)
{
  if (id < t->sp.lang_begin || id >= t->sp.lang_begin + t->sp.n_languages)
    return NULL;
  return t->codes[id - t->sp.lang_begin];
}

const char *
aud_language_name(const char *code)
{
  for (int k = 0; code && k < MAX_LANGUAGES; k++)
    if (strcasecmp(code, lang_codes[k]) == 0)
      return lang_names[k];
  return NULL;
}

int
aud_tokenizer_is_special(const aud_tokenizer *t, int32_t id)
{
  return id >= t->sp.eot && id < t->n_vocab;
}

int
aud_tokenizer_is_timestamp(const aud_tokenizer *t, int32_t id)
{
  return id >= t->sp.timestamp_begin && id < t->n_vocab;
}

int
aud_tokenizer_sot_sequence(const aud_tokenizer *t, const char *lang, int translate, int32_t *out)
{
  int n = 0;
  out[n++] = t->sp.sot;
  if (!t->multilingual)
    return n;
  if (lang) {
    int32_t id = aud_tokenizer_language_id(t, lang);
    if (id < 0)
      return KERN_E_INVAL;
    out[n++] = id;
  }
  out[n++] = translate ? t->sp.translate : t->sp.transcribe;
  return n;
}

const char *
aud_tokenizer_token_bytes(const aud_tokenizer *t, int32_t id, size_t *len)
{
  if (id < 0 || id >= t->n_vocab) {
    if (len)
      *len = 0;
    return NULL;
  }
  if (len)
    *len = t->off[id + 1] - t->off[id];
  return t->blob + t->off[id];
}

/* --- encoding ------------------------------------------------------------------- */

typedef struct {
  int32_t *ids;
  size_t cap, n;
  size_t *bounds; /* BPE scratch: part boundaries */
  int32_t *ranks; /* BPE scratch: rank of each adjacent pair */
  size_t scratch_cap;
} enc_state;

static void
emit(enc_state *st, int32_t id)
{
  if (st->n < st->cap)
    st->ids[st->n] = id;
  st->n++;
}

static int32_t
pair_rank(const aud_tokenizer *t, const uint8_t *p, const size_t *b, size_t m, size_t j)
{
  if (j + 2 > m)
    return RANK_NONE;
  int32_t id = lookup(t, p + b[j], b[j + 2] - b[j]);
  return id < 0 ? RANK_NONE : id;
}

/* Merges for long pieces in O(n log n): the same choice as the scan in
 * encode_piece (the live pair of lowest (rank, position)) from a min-heap of
 * pairs with lazy deletion. Parts form a linked list over the bytes. */
typedef struct {
  int32_t rank;
  uint32_t pos; /* start byte of the pair's left part: unique among live parts */
  uint32_t ver; /* the left part's version when pushed */
} heap_item;

static int
heap_less(const heap_item *a, const heap_item *b)
{
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void
heap_push(heap_item *h, size_t *n, heap_item it)
{
  size_t i = (*n)++;
  while (i > 0 && heap_less(&it, &h[(i - 1) / 2])) {
    h[i] = h[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h[i] = it;
}

static heap_item
heap_pop(heap_item *h, size_t *n)
{
  heap_item top = h[0], last = h[--*n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n)
      break;
    if (c + 1 < *n && heap_less(&h[c + 1], &h[c]))
      c++;
    if (!heap_less(&h[c], &last))
      break;
    h[i] = h[c];
    i = c;
  }
  if (*n > 0)
    h[i] = last;
  return top;
}

static int
merge_long(const aud_tokenizer *t, enc_state *st, const uint8_t *p, size_t n)
{
  /* part i starts at byte i (the position is its index); next/prev link live parts */
  uint32_t *next = malloc((n + 1) * sizeof *next), *prev = malloc((n + 1) * sizeof *prev);
  uint32_t *ver = calloc(n + 1, sizeof *ver);
  heap_item *heap = malloc(3 * n * sizeof *heap);
  size_t nh = 0;
  int rc = 0;
  if (!next || !prev || !ver || !heap) {
    rc = KERN_E_NOMEM;
    goto out;
  }
  for (uint32_t i = 0; i <= n; i++) {
    next[i] = i + 1;
    prev[i] = i ? i - 1 : UINT32_MAX;
  }
  for (uint32_t i = 0; i + 1 < n; i++) {
    int32_t r = lookup(t, p + i, 2);
    if (r >= 0)
      heap_push(heap, &nh, (heap_item){ r, i, 0 });
  }
  while (nh > 0) {
    heap_item it = heap_pop(heap, &nh);
    uint32_t i = it.pos;
    if (it.ver != ver[i] || next[i] >= n)
      continue; /* stale: the part changed or died since */
    uint32_t j = next[i];
    next[i] = next[j];
    if (next[j] <= n)
      prev[next[j]] = i;
    ver[i]++;
    ver[j]++;
    /* the merged part with its right neighbour, and its left neighbour with it */
    if (next[i] < n) {
      int32_t r = lookup(t, p + i, next[next[i]] - i);
      if (r >= 0)
        heap_push(heap, &nh, (heap_item){ r, i, ver[i] });
    }
    if (prev[i] != UINT32_MAX) {
      uint32_t k = prev[i];
      ver[k]++;
      int32_t r = lookup(t, p + k, next[i] - k);
      if (r >= 0)
        heap_push(heap, &nh, (heap_item){ r, k, ver[k] });
    }
  }
  for (uint32_t i = 0; i < n; i = next[i]) {
    int32_t id = lookup(t, p + i, next[i] - i);
    if (id < 0) {
      rc = KERN_E_FORMAT;
      goto out;
    }
    emit(st, id);
  }
out:
  free(next);
  free(prev);
  free(ver);
  free(heap);
  return rc;
}

#define SHORT_PIECE 256

/* One pre-tokenized piece: a token when the vocabulary has it, else merged
 * from single bytes, lowest-ranked adjacent pair first (leftmost on ties). */
static int
encode_piece(const aud_tokenizer *t, enc_state *st, const uint8_t *p, size_t n)
{
  int32_t whole = lookup(t, p, n);
  if (whole >= 0) {
    emit(st, whole);
    return 0;
  }
  if (n > SHORT_PIECE)
    return n < UINT32_MAX / 4 ? merge_long(t, st, p, n) : KERN_E_INVAL;
  if (n + 1 > st->scratch_cap) {
    size_t cap = n + 1 > 64 ? n + 1 : 64;
    size_t *b = realloc(st->bounds, cap * sizeof *b);
    if (b)
      st->bounds = b;
    int32_t *r = realloc(st->ranks, cap * sizeof *r);
    if (r)
      st->ranks = r;
    if (!b || !r)
      return KERN_E_NOMEM;
    st->scratch_cap = cap;
  }
  size_t *b = st->bounds;
  int32_t *r = st->ranks;
  size_t m = n; /* parts; b[0..m] are their boundaries, r[j] the rank of parts j and j+1 merged */
  for (size_t i = 0; i <= n; i++)
    b[i] = i;
  for (size_t j = 0; j + 1 < m; j++)
    r[j] = pair_rank(t, p, b, m, j);
  while (m > 1) {
    size_t best = 0;
    int32_t best_rank = RANK_NONE;
    for (size_t j = 0; j + 1 < m; j++)
      if (r[j] < best_rank) {
        best_rank = r[j];
        best = j;
      }
    if (best_rank == RANK_NONE)
      break;
    /* merge parts best and best+1: drop boundary best+1 and pair rank best+1 */
    memmove(b + best + 1, b + best + 2, (m - best - 1) * sizeof *b);
    if (best + 3 <= m)
      memmove(r + best + 1, r + best + 2, (m - best - 3) * sizeof *r);
    m--;
    r[best] = pair_rank(t, p, b, m, best);
    if (best > 0)
      r[best - 1] = pair_rank(t, p, b, m, best - 1);
  }
  for (size_t j = 0; j < m; j++) {
    int32_t id = lookup(t, p + b[j], b[j + 1] - b[j]);
    if (id < 0) /* a byte missing from the vocabulary: cannot happen with Whisper's */
      return KERN_E_FORMAT;
    emit(st, id);
  }
  return 0;
}

int
aud_tokenizer_encode_n(const aud_tokenizer *t, const char *text, size_t len, int32_t *ids, size_t cap, size_t *n)
{
  if (n)
    *n = 0;
  if (!text && len > 0)
    return KERN_E_INVAL;
  const uint8_t *s = (const uint8_t *)text;
  /* code points: class and byte offset; pos[nc] = len */
  uint8_t *cls = malloc(len + 1);
  uint32_t *cps = malloc((len + 1) * sizeof *cps);
  size_t *pos = malloc((len + 1) * sizeof *pos);
  enc_state st = { ids, ids ? cap : 0, 0, NULL, NULL, 0 };
  int rc = 0;
  if (!cls || !cps || !pos) {
    rc = KERN_E_NOMEM;
    goto out;
  }
  size_t nc = 0;
  for (size_t i = 0; i < len;) {
    uint32_t cp = INVALID_CP;
    int l = utf8_seq(s + i, len - i, &cp);
    pos[nc] = i;
    if (l < 0) {
      cp = INVALID_CP;
      l = 1; /* each byte of an ill-formed sequence stands alone */
    }
    cps[nc] = cp;
    cls[nc] = (uint8_t)classify(cp);
    nc++;
    i += (size_t)l;
  }
  pos[nc] = len;

  for (size_t i = 0; i < nc;) {
    uint32_t c = cps[i];
    size_t j = i + 1;
    int space_then = c == ' ' && i + 1 < nc; /* " ?" can take this space */
    if (c == '\'' && i + 1 < nc &&
        (cps[i + 1] == 's' || cps[i + 1] == 't' || cps[i + 1] == 'm' || cps[i + 1] == 'd')) {
      j = i + 2; /* 's 't 'm 'd */
    } else if (c == '\'' && i + 2 < nc &&
               ((cps[i + 1] == 'r' && cps[i + 2] == 'e') || (cps[i + 1] == 'v' && cps[i + 2] == 'e') ||
                (cps[i + 1] == 'l' && cps[i + 2] == 'l'))) {
      j = i + 3; /* 're 've 'll */
    } else if (cls[i] == CL_LETTER || (space_then && cls[i + 1] == CL_LETTER)) {
      j = cls[i] == CL_LETTER ? i + 1 : i + 2; /* " ?\p{L}+" */
      while (j < nc && cls[j] == CL_LETTER)
        j++;
    } else if (cls[i] == CL_NUMBER || (space_then && cls[i + 1] == CL_NUMBER)) {
      j = cls[i] == CL_NUMBER ? i + 1 : i + 2; /* " ?\p{N}+" */
      while (j < nc && cls[j] == CL_NUMBER)
        j++;
    } else if (cls[i] == CL_OTHER || (space_then && cls[i + 1] == CL_OTHER)) {
      j = cls[i] == CL_OTHER ? i + 1 : i + 2; /* " ?[^\s\p{L}\p{N}]+" */
      while (j < nc && cls[j] == CL_OTHER)
        j++;
    } else {
      /* whitespace: "\s+(?!\S)" keeps the last space for the next word when
       * the run is followed by one and has more than one character; else "\s+" */
      size_t e = i + 1;
      while (e < nc && cls[e] == CL_SPACE)
        e++;
      j = (e < nc && e - i >= 2) ? e - 1 : e;
    }
    if ((rc = encode_piece(t, &st, s + pos[i], pos[j] - pos[i])))
      goto out;
    i = j;
  }
out:
  free(cls);
  free(cps);
  free(pos);
  free(st.bounds);
  free(st.ranks);
  if (n)
    *n = st.n;
  if (rc)
    return rc;
  return st.n > st.cap ? KERN_E_INVAL : 0;
}

int
aud_tokenizer_encode(const aud_tokenizer *t, const char *text, int32_t *ids, size_t cap, size_t *n)
{
  return aud_tokenizer_encode_n(t, text, text ? strlen(text) : 0, ids, cap, n);
}

/* --- decoding ------------------------------------------------------------------- */

static int
utf8_replace(const char *in, size_t n, buf *out)
{
  static const char fffd[] = "\xEF\xBF\xBD";
  const uint8_t *s = (const uint8_t *)in;
  int rc = 0;
  for (size_t i = 0; i < n && !rc;) {
    uint32_t cp;
    int l = utf8_seq(s + i, n - i, &cp);
    if (l > 0) {
      rc = buf_put(out, s + i, (size_t)l);
      i += (size_t)l;
    } else {
      rc = buf_put(out, fffd, 3);
      i += (size_t)-l;
    }
  }
  return rc;
}

int
aud_tokenizer_decode(const aud_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, char *out, size_t cap,
                     size_t *len)
{
  if (len)
    *len = 0;
  if (cap > 0 && out)
    out[0] = '\0';
  if (!ids && n > 0)
    return KERN_E_INVAL;
  for (size_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= t->n_vocab)
      return KERN_E_INVAL;
  buf b = { 0 };
  int rc = buf_put(&b, "", 0);
  for (size_t i = 0; i < n && !rc; i++) {
    int32_t id = ids[i];
    if (id >= t->sp.timestamp_begin ? !(flags & AUD_TOK_DECODE_TIMESTAMPS)
                                    : id >= t->sp.eot && !(flags & AUD_TOK_DECODE_SPECIALS))
      continue;
    rc = buf_put(&b, t->blob + t->off[id], t->off[id + 1] - t->off[id]);
  }
  if (!rc && (flags & AUD_TOK_DECODE_UTF8)) {
    buf r = { 0 };
    rc = buf_put(&r, "", 0);
    if (!rc)
      rc = utf8_replace(b.p, b.n, &r);
    free(b.p);
    b = r;
  }
  if (rc) {
    free(b.p);
    return rc;
  }
  if (len)
    *len = b.n;
  if (out && cap > 0) {
    size_t k = b.n < cap - 1 ? b.n : cap - 1;
    memcpy(out, b.p, k);
    out[k] = '\0';
  }
  free(b.p);
  return b.n + 1 > cap ? KERN_E_INVAL : 0;
}

/* --- suppressed tokens ------------------------------------------------------------- */

static int
cmp_i32(const void *a, const void *b)
{
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* Sorts and removes duplicates; returns the new count. */
static size_t
sort_unique(int32_t *v, size_t n)
{
  qsort(v, n, sizeof *v, cmp_i32);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (k == 0 || v[i] != v[k - 1])
      v[k++] = v[i];
  return k;
}

/* Tokenizer.non_speech_tokens of openai-whisper, computed the same way: each
 * symbol encoded alone and after a space, kept when it is a single token (the
 * musical symbols U+2640-267F: their first token always), plus the first
 * tokens of " -" and " '". */
static int
compute_non_speech(aud_tokenizer *t)
{
  static const char *const symbols[] = {
    "\"", "#", "(", ")", "*", "+", "/", ":", ";", "<", "=", ">", "@", "[", "\\", "]", "^", "_", "`", "{", "|",
    "}", "~", "\xe3\x80\x8c", "\xe3\x80\x8d", "\xe3\x80\x8e", "\xe3\x80\x8f", /* 「 」 『 』 */
    "<<", ">>", "<<<", ">>>", "--", "---", "-(", "-[", "('", "(\"", "((", "))", "(((", ")))", "[[", "]]", "{{",
    "}}", "\xe2\x99\xaa\xe2\x99\xaa", "\xe2\x99\xaa\xe2\x99\xaa\xe2\x99\xaa", /* ♪♪ ♪♪♪ */
  };
  static const char *const misc[] = { /* ♩ ♪ ♫ ♬ ♭ ♮ ♯ */
    "\xe2\x99\xa9", "\xe2\x99\xaa", "\xe2\x99\xab", "\xe2\x99\xac", "\xe2\x99\xad", "\xe2\x99\xae", "\xe2\x99\xaf",
  };
  const size_t n_sym = sizeof symbols / sizeof symbols[0], n_misc = sizeof misc / sizeof misc[0];
  size_t cap = 2 + 2 * (n_sym + n_misc);
  int32_t *v = malloc(cap * sizeof *v);
  int32_t *sup = malloc((cap + 6) * sizeof *sup);
  if (!v || !sup) {
    free(v);
    free(sup);
    return KERN_E_NOMEM;
  }
  size_t k = 0;
  int32_t ids[16];
  size_t n;
  static const char *const firsts[] = { " -", " '" };
  for (size_t i = 0; i < 2; i++) {
    aud_tokenizer_encode(t, firsts[i], ids, 16, &n);
    if (n > 0 && n <= 16)
      v[k++] = ids[0];
  }
  for (size_t i = 0; i < n_sym + n_misc; i++) {
    const char *sym = i < n_sym ? symbols[i] : misc[i - n_sym];
    int is_misc = i >= n_sym;
    char spaced[32];
    snprintf(spaced, sizeof spaced, " %s", sym);
    const char *forms[] = { sym, spaced };
    for (size_t f = 0; f < 2; f++) {
      aud_tokenizer_encode(t, forms[f], ids, 16, &n);
      if (n > 0 && n <= 16 && (n == 1 || is_misc))
        v[k++] = ids[0];
    }
  }
  k = sort_unique(v, k);
  memcpy(sup, v, k * sizeof *v);
  const aud_tokenizer_specials *sp = &t->sp;
  size_t ks = k;
  int32_t extra[] = { sp->transcribe, sp->translate, sp->sot, sp->sot_prev, sp->sot_lm, sp->no_speech };
  for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
    if (extra[i] >= 0)
      sup[ks++] = extra[i];
  t->non_speech = v;
  t->n_non_speech = k;
  t->suppress = sup;
  t->n_suppress = sort_unique(sup, ks);
  return 0;
}

const int32_t *
aud_tokenizer_non_speech_tokens(const aud_tokenizer *t, size_t *n)
{
  if (n)
    *n = t->n_non_speech;
  return t->non_speech;
}

const int32_t *
aud_tokenizer_suppress_tokens(const aud_tokenizer *t, size_t *n)
{
  if (n)
    *n = t->n_suppress;
  return t->suppress;
}
