/* llm-tokenizer.c: GGUF tokenizers (see llm-tokenizer.h).
 *
 * The behaviour to match is llama.cpp's (llama-vocab.cpp), observed through
 * llama-cpp-python over tests/data/llm/tokenizer-corpus.txt:
 *   1. special-token partition: the text is cut at every verbatim occurrence
 *      of a control / user-defined / unknown token, longest tokens first;
 *   2. SPM on each remaining fragment: characters merged pairwise, highest
 *      score first (leftmost on ties), only into pieces that are tokens;
 *      leftover characters become byte tokens;
 *   3. BPE on each fragment: the pre-tokenizer's regexes (hand-written below
 *      as matchers with ECMAScript's leftmost-first, backtracking semantics,
 *      applied one after the other, unmatched text kept as pieces), then
 *      merges by rank (lowest first, leftmost on ties) over the piece's bytes.
 */
#include "llm-tokenizer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern-unicode.h"
#include "llm-unicode-tables.h"

#define NO_ID (-1)

enum { MODEL_SPM, MODEL_BPE };

enum {
  PRE_NONE,    /* SPM */
  PRE_DEFAULT, /* llama.cpp's fallback list of four regexes */
  PRE_GPT2,
  PRE_SMOLLM,  /* \p{N} first, then GPT-2's */
  PRE_LLAMA3,
  PRE_QWEN2,
  PRE_FALCON,  /* punctuation runs (with `), GPT-2's, groups of three ASCII digits */
  PRE_BLOOM,   /* one regex: ' ?' and a run up to whitespace or sentence punctuation */
  PRE_TEKKEN,  /* Mistral's tekken: words split at lower->upper case changes */
  PRE_GPT4O,   /* o200k: as tekken, with contractions and digit triples */
  PRE_SEED,    /* seed-coder: qwen2's without the line-break tail */
  PRE_VIKING,  /* bloom's, then single digits */
  PRE_DEEPSEEK_CODER,
  PRE_DEEPSEEK3,
  PRE_DEEPSEEK_LLM,
};

/* Regexes the pre-tokenizers are made of. */
enum {
  RX_GPT2,     /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
  RX_LLAMA3,   /* (?:'[sS]|...|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
  RX_QWEN2,    /* as RX_LLAMA3 with \p{N} (one digit) */
  RX_DIGIT,    /* \p{N} */
  RX_DIGITS,   /* \p{N}+ */
  RX_PUNCT,    /* [\p{P}\$\+<=>\^~\|]+ */
  RX_3DIGITS,  /* [0-9][0-9][0-9] */
  RX_FALCON_PUNCT, /* [\p{P}\$\+<=>\^~\|`]+ */
  RX_BLOOM,    /*  ?[^(\s|.,!?…。，、।۔،)]+ */
  RX_GPT4O,    /* [^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|...)?
                  |[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|...)?
                  |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
  RX_SEED,     /* (?:'[sS]|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+ */
  RX_CRLF,     /* [\r\n] */
  RX_WS_LETTERS, /* \s?\p{L}+ */
  RX_WS_PUNCT, /* \s?\p{P}+ */
  RX_CJK_HANGUL, /* [一-龥ࠀ-一가-퟿]+ */
  RX_DIGITS13, /* \p{N}{1,3} */
  RX_CJK_KANA, /* [一-龥぀-ゟ゠-ヿ]+ */
  RX_DEEPSEEK3, /* [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
                   | ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
  RX_DS_LETTERS, /* \s?[A-Za-zµÀ-ÖØ-öø-ƺ...𞤀-𞥃]+ (llm_deepseek_letters) */
  RX_DS_PUNCT, /* \s?[!-/:-~！-／：-～‘-‟　-。]+ */
  RX_WS_END,   /* \s+$ */
  RX_TEKKEN,   /* [^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+
                  |[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*
                  |\p{N}|[^\r\n\p{L}\p{N}]?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
};

static const struct {
  const char *name; /* tokenizer.ggml.pre */
  int pre;
  const char *canon;
  int add_bos;       /* default for add_bos_token */
  int ignore_merges; /* a piece that is a token as a whole is that token */
} pre_names[] = {
  { "default", PRE_DEFAULT, "default", 0, 0 },
  { "llama3", PRE_LLAMA3, "llama3", 1, 1 },
  { "llama-v3", PRE_LLAMA3, "llama3", 1, 1 },
  { "llama-bpe", PRE_LLAMA3, "llama3", 1, 1 },
  { "falcon3", PRE_LLAMA3, "llama3", 1, 1 },
  { "falcon-h1", PRE_LLAMA3, "llama3", 1, 1 },
  { "pixtral", PRE_LLAMA3, "llama3", 1, 1 },
  { "dbrx", PRE_LLAMA3, "llama3", 0, 0 },
  { "smaug-bpe", PRE_LLAMA3, "llama3", 0, 0 },
  { "qwen2", PRE_QWEN2, "qwen2", 0, 0 },
  { "deepseek-r1-qwen", PRE_QWEN2, "qwen2", 0, 0 },
  { "megrez", PRE_QWEN2, "qwen2", 0, 0 },
  { "stablelm2", PRE_QWEN2, "qwen2", 0, 0 },
  { "gpt-2", PRE_GPT2, "gpt2", 0, 0 },
  { "phi-2", PRE_GPT2, "gpt2", 0, 0 },
  { "mpt", PRE_GPT2, "gpt2", 0, 0 },
  { "olmo", PRE_GPT2, "gpt2", 0, 0 },
  { "jais", PRE_GPT2, "gpt2", 0, 0 },
  { "roberta-bpe", PRE_GPT2, "gpt2", 0, 0 },
  { "gigachat", PRE_GPT2, "gpt2", 0, 0 },
  { "trillion", PRE_GPT2, "gpt2", 0, 0 },
  { "jina-es", PRE_GPT2, "gpt2", 0, 0 },
  { "jina-de", PRE_GPT2, "gpt2", 0, 0 },
  { "jina-v2-es", PRE_GPT2, "gpt2", 0, 0 },
  { "jina-v2-de", PRE_GPT2, "gpt2", 0, 0 },
  { "jina-v2-code", PRE_GPT2, "gpt2", 0, 0 },
  { "smollm", PRE_SMOLLM, "smollm", 0, 0 },
  { "starcoder", PRE_SMOLLM, "smollm", 0, 0 },
  { "refact", PRE_SMOLLM, "smollm", 0, 0 },
  { "command-r", PRE_SMOLLM, "smollm", 0, 0 },
  { "codeshell", PRE_SMOLLM, "smollm", 0, 0 },
  { "exaone", PRE_SMOLLM, "smollm", 0, 0 },
  { "minerva-7b", PRE_SMOLLM, "smollm", 0, 0 },
  { "falcon", PRE_FALCON, "falcon", 0, 0 },
  { "poro-chat", PRE_BLOOM, "bloom", 0, 0 },
  { "bloom", PRE_BLOOM, "bloom", 0, 0 },
  { "gpt3-finnish", PRE_BLOOM, "bloom", 0, 0 },
  { "tekken", PRE_TEKKEN, "tekken", 0, 1 },
  { "chatglm-bpe", PRE_LLAMA3, "llama3", 0, 0 },
  { "bailingmoe", PRE_QWEN2, "qwen2", 0, 0 },
  { "grok-2", PRE_QWEN2, "qwen2", 0, 0 },
  { "hunyuan", PRE_QWEN2, "qwen2", 0, 0 },
  { "seed-coder", PRE_SEED, "seed-coder", 0, 0 },
  { "viking", PRE_VIKING, "viking", 0, 0 },
  { "deepseek-coder", PRE_DEEPSEEK_CODER, "deepseek-coder", 0, 0 },
  { "gpt-4o", PRE_GPT4O, "gpt-4o", 0, 0 },
  { "minimax-m2", PRE_GPT4O, "gpt-4o", 0, 0 },
  { "llama4", PRE_GPT4O, "gpt-4o", 0, 0 },
  { "glm4", PRE_LLAMA3, "llama3", 1, 1 },
  { "midm-2.0", PRE_LLAMA3, "llama3", 1, 1 },
  { "lfm2", PRE_LLAMA3, "llama3", 1, 1 },
  { "a.x-4.0", PRE_GPT2, "gpt2", 0, 0 },
  { "exaone4", PRE_GPT2, "gpt2", 0, 0 },
  { "mellum", PRE_GPT2, "gpt2", 0, 0 },
  { "jina-v1-en", PRE_GPT2, "gpt2", 0, 0 },
  { "granite-docling", PRE_GPT2, "gpt2", 0, 0 },
  { "kormo", PRE_QWEN2, "qwen2", 0, 0 },
  { "bailingmoe2", PRE_QWEN2, "qwen2", 0, 0 },
  { "llada-moe", PRE_QWEN2, "qwen2", 0, 0 },
  { "kanana2", PRE_GPT4O, "gpt-4o", 0, 0 },
  { "deepseek-v3", PRE_DEEPSEEK3, "deepseek-v3", 0, 0 },
  { "hunyuan-dense", PRE_DEEPSEEK3, "deepseek-v3", 0, 0 },
  { "deepseek-llm", PRE_DEEPSEEK_LLM, "deepseek-llm", 0, 0 },
};

/* Token texts llama.cpp treats as end of turn / generation (made control tokens). */
static const char *const eot_texts[] = {
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "_<EOT>",
  "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "<|end_of_text|>",
};
static const char *const eom_texts[] = { "<|eom_id|>" };
/* Further texts that end generation: "</s>" where it is not the EOS (Gemma 3),
 * and the fill-in-the-middle repo / file-separator / pad tokens. */
static const char *const eog_extra_texts[] = {
  "</s>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>",
  "<|fim_pad|>", "<fim-pad>", "<PAD>",
};

struct merge_slot {
  int32_t a, b; /* pair of token ids; a == NO_ID: empty slot */
  int32_t rank;
  int32_t out;  /* token of the concatenation */
};

struct llm_tokenizer {
  int model;            /* MODEL_* */
  int pre;              /* PRE_* */
  const char *pre_name;
  int n_vocab;
  char *blob;           /* every token's text, back to back */
  size_t *off;          /* (n_vocab + 1): token i is blob[off[i] .. off[i+1]) */
  float *score;         /* (n_vocab) SPM merge priority */
  uint8_t *attr;        /* (n_vocab) LLM_TOKEN_* */
  uint8_t *eog;         /* (n_vocab) 1 for end-of-generation ids */
  int32_t *table;       /* open addressing over token texts: id or NO_ID; later ids win */
  uint32_t mask;
  struct merge_slot *merges; /* BPE: open addressing over (a, b) */
  uint32_t merge_mask;
  int32_t byte_tok[256];     /* SPM: <0xXX>; BPE: the byte's byte-to-unicode character; NO_ID if absent */
  uint8_t byte_of[512];      /* BPE: inverse of byte-to-unicode for code points < 512 (valid where mapped) */
  uint8_t byte_mapped[512];
  int32_t *special;     /* ids matched verbatim in text, longest text first */
  size_t n_special;
  int32_t bos, eos, eot, eom, unk, pad;
  int add_bos, add_eos, add_space_prefix, ignore_merges;
};

static void set_err(char **err, const kern_weights *w, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
set_err(char **err, const kern_weights *w, const char *fmt, ...)
{
  if (!err)
    return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *path = w ? kern_weights_path(w) : NULL;
  size_t n = strlen(msg) + (path ? strlen(path) : 0) + 4;
  *err = malloc(n);
  if (*err)
    snprintf(*err, n, "%s: %s", path ? path : "tokenizer", msg);
}

/* --- Unicode ------------------------------------------------------------------- */

#define N_RANGES(a) (sizeof(a) / sizeof(a)[0])

/* [^\s\p{L}\p{N}] */
static int
is_other(uint32_t cp)
{
  return !kern_unicode_is_space(cp) && !kern_unicode_is_letter(cp) && !kern_unicode_is_number(cp);
}

/* Decodes one code point at s[0 .. n) (n >= 1); *len gets the bytes used.
 * As llama.cpp's decoder: a bad lead byte, a missing continuation byte or a
 * sequence cut short gives U+FFFD for one byte; overlong forms and
 * surrogates are decoded as they stand (it does not check them); past
 * U+10FFFF (where llama.cpp aborts) gives U+FFFD for one byte. */
static uint32_t
utf8_decode(const unsigned char *s, size_t n, size_t *len)
{
  uint32_t c = s[0];
  *len = 1;
  if (c < 0x80)
    return c;
  size_t need;
  if ((c & 0xE0) == 0xC0) {
    need = 2, c &= 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    need = 3, c &= 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    need = 4, c &= 0x07;
  } else {
    return 0xFFFD;
  }
  if (need > n)
    return 0xFFFD;
  for (size_t i = 1; i < need; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0xFFFD;
    c = (c << 6) | (s[i] & 0x3F);
  }
  if (c > 0x10FFFF)
    return 0xFFFD;
  *len = need;
  return c;
}

static size_t
utf8_encode(uint32_t c, char *out)
{
  if (c < 0x80) {
    out[0] = (char)c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (char)(0xC0 | (c >> 6));
    out[1] = (char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | (c >> 12));
    out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (c >> 18));
  out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
  out[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}

/* GPT-2's byte-to-unicode: printable Latin-1 bytes stand for themselves,
 * the others for U+0100 and up, in byte order. */
static uint32_t
byte_to_cp(unsigned b)
{
  if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
    return b;
  unsigned n = 0;
  for (unsigned i = 0; i < b; i++)
    if (!((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF)))
      n++;
  return 256 + n;
}

/* --- token lookup ---------------------------------------------------------------- */

static uint32_t
hash_bytes(const char *s, size_t n)
{
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static int32_t
lookup(const llm_tokenizer *t, const char *s, size_t n)
{
  for (uint32_t i = hash_bytes(s, n) & t->mask;; i = (i + 1) & t->mask) {
    int32_t id = t->table[i];
    if (id == NO_ID)
      return NO_ID;
    if (t->off[id + 1] - t->off[id] == n && memcmp(t->blob + t->off[id], s, n) == 0)
      return id;
  }
}

static uint32_t
hash_pair(int32_t a, int32_t b)
{
  uint64_t h = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) * 0x9E3779B97F4A7C15ull;
  return (uint32_t)(h >> 32);
}

static const struct merge_slot *
find_merge(const llm_tokenizer *t, int32_t a, int32_t b)
{
  if (!t->merges || a < 0 || b < 0)
    return NULL;
  for (uint32_t i = hash_pair(a, b) & t->merge_mask;; i = (i + 1) & t->merge_mask) {
    const struct merge_slot *m = &t->merges[i];
    if (m->a == NO_ID)
      return NULL;
    if (m->a == a && m->b == b)
      return m;
  }
}

/* --- loading --------------------------------------------------------------------- */

void
llm_tokenizer_free(llm_tokenizer *t)
{
  if (!t)
    return;
  free(t->blob);
  free(t->off);
  free(t->score);
  free(t->attr);
  free(t->eog);
  free(t->table);
  free(t->merges);
  free(t->special);
  free(t);
}

/* An optional special id: absent keeps *id; present must be in range. */
static int
read_special(llm_tokenizer *t, const kern_weights *w, const char *key, int32_t *id, char **err)
{
  const kern_meta *m = kern_weights_get_meta(w, key);
  if (!m)
    return 0;
  int64_t v;
  if (kern_meta_get_int(m, &v) != 0) {
    set_err(err, w, "%s is not an integer", key);
    return -1;
  }
  if (v < 0 || v >= t->n_vocab) {
    set_err(err, w, "%s = %lld is outside the vocabulary (%d tokens)", key, (long long)v, t->n_vocab);
    return -1;
  }
  *id = (int32_t)v;
  return 0;
}

static void
read_flag(const kern_weights *w, const char *key, int *flag)
{
  const kern_meta *m = kern_weights_get_meta(w, key);
  int64_t v;
  if (m && kern_meta_get_int(m, &v) == 0)
    *flag = v != 0;
}

static int
cmp_special(const void *pa, const void *pb, void *ctx)
{
  const llm_tokenizer *t = ctx;
  int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
  size_t la = t->off[a + 1] - t->off[a], lb = t->off[b + 1] - t->off[b];
  if (la != lb)
    return la > lb ? -1 : 1;
  return a < b ? -1 : a > b;
}

static int
load_merges(llm_tokenizer *t, const kern_weights *w, char **err)
{
  const kern_meta *m = kern_weights_get_meta(w, "tokenizer.ggml.merges");
  if (!m) {
    set_err(err, w, "tokenizer.ggml.merges is missing (a gpt2 tokenizer needs it)");
    return -1;
  }
  if (m->type != KERN_META_ARRAY || m->elem_type != KERN_META_STRING) {
    set_err(err, w, "tokenizer.ggml.merges is not an array of strings");
    return -1;
  }
  if (m->n > (1u << 24)) {
    set_err(err, w, "tokenizer.ggml.merges has %llu entries, too many", (unsigned long long)m->n);
    return -1;
  }
  uint32_t size = 16;
  while (size < 2 * m->n + 16)
    size <<= 1;
  t->merges = malloc(size * sizeof *t->merges);
  if (!t->merges) {
    set_err(err, w, "out of memory for %llu merges", (unsigned long long)m->n);
    return -1;
  }
  for (uint32_t i = 0; i < size; i++)
    t->merges[i].a = NO_ID;
  t->merge_mask = size - 1;
  char *buf = NULL;
  size_t buf_cap = 0;
  for (uint64_t r = 0; r < m->n; r++) {
    const char *s = m->v.items[r].v.str;
    size_t n = (size_t)m->v.items[r].n;
    /* "A B": split at the first space after the first byte */
    const char *sp = n > 1 ? memchr(s + 1, ' ', n - 1) : NULL;
    if (!sp) {
      set_err(err, w, "tokenizer.ggml.merges[%llu] \"%.40s\" is not two tokens separated by a space",
              (unsigned long long)r, s);
      free(buf);
      return -1;
    }
    size_t na = (size_t)(sp - s), nb = n - na - 1;
    int32_t a = lookup(t, s, na), b = lookup(t, sp + 1, nb);
    if (a == NO_ID || b == NO_ID) {
      set_err(err, w, "tokenizer.ggml.merges[%llu] \"%.40s\" names a token not in the vocabulary",
              (unsigned long long)r, s);
      free(buf);
      return -1;
    }
    if (na + nb > buf_cap) {
      buf_cap = 2 * (na + nb) + 64;
      char *nbuf = realloc(buf, buf_cap);
      if (!nbuf) {
        free(buf);
        set_err(err, w, "out of memory");
        return -1;
      }
      buf = nbuf;
    }
    memcpy(buf, s, na);
    memcpy(buf + na, sp + 1, nb);
    int32_t out = lookup(t, buf, na + nb);
    if (out == NO_ID) {
      set_err(err, w, "tokenizer.ggml.merges[%llu] \"%.40s\" makes a token not in the vocabulary",
              (unsigned long long)r, s);
      free(buf);
      return -1;
    }
    uint32_t i = hash_pair(a, b) & t->merge_mask;
    while (t->merges[i].a != NO_ID && !(t->merges[i].a == a && t->merges[i].b == b))
      i = (i + 1) & t->merge_mask;
    if (t->merges[i].a == NO_ID) /* the first rank of a repeated pair counts */
      t->merges[i] = (struct merge_slot){ a, b, (int32_t)r, out };
  }
  free(buf);
  return 0;
}

static int
hex_digit(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
    return (c | 0x20) - 'a' + 10;
  return -1;
}

/* The byte of a "<0xXX>" token, or -1. */
static int
byte_token_value(const llm_tokenizer *t, int32_t id)
{
  const char *s = t->blob + t->off[id];
  if (t->off[id + 1] - t->off[id] != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
    return -1;
  int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static int
text_in(const llm_tokenizer *t, int32_t id, const char *const *list, size_t n)
{
  size_t len = t->off[id + 1] - t->off[id];
  for (size_t i = 0; i < n; i++)
    if (strlen(list[i]) == len && memcmp(t->blob + t->off[id], list[i], len) == 0)
      return 1;
  return 0;
}

llm_tokenizer *
llm_tokenizer_new(const kern_weights *w, char **err)
{
  if (err)
    *err = NULL;
  if (!w) {
    set_err(err, NULL, "no weights");
    return NULL;
  }
  const char *model = kern_weights_get_string(w, "tokenizer.ggml.model", NULL);
  if (!model) {
    set_err(err, w, "tokenizer.ggml.model is missing or not a string");
    return NULL;
  }
  llm_tokenizer *t = calloc(1, sizeof *t);
  if (!t) {
    set_err(err, w, "out of memory");
    return NULL;
  }
  t->bos = t->eos = t->eot = t->eom = t->unk = t->pad = NO_ID;
  t->pre_name = "";
  if (strcmp(model, "llama") == 0) {
    t->model = MODEL_SPM;
    t->pre = PRE_NONE;
    t->add_bos = 1;
    t->add_space_prefix = 1;
  } else if (strcmp(model, "gpt2") == 0) {
    t->model = MODEL_BPE;
    const char *pre = kern_weights_get_string(w, "tokenizer.ggml.pre", "default");
    size_t i;
    for (i = 0; i < N_RANGES(pre_names); i++)
      if (strcmp(pre, pre_names[i].name) == 0)
        break;
    if (i == N_RANGES(pre_names)) {
      set_err(err, w, "tokenizer.ggml.pre \"%.60s\" is not a pre-tokenizer this build knows", pre);
      goto fail;
    }
    t->pre = pre_names[i].pre;
    t->pre_name = pre_names[i].canon;
    t->add_bos = pre_names[i].add_bos;
    t->ignore_merges = pre_names[i].ignore_merges;
  } else {
    set_err(err, w, "tokenizer.ggml.model \"%.60s\" is not supported (llama and gpt2 are)", model);
    goto fail;
  }

  /* tokens */
  const kern_meta *tokens = kern_weights_get_meta(w, "tokenizer.ggml.tokens");
  if (!tokens) {
    set_err(err, w, "tokenizer.ggml.tokens is missing");
    goto fail;
  }
  if (tokens->type != KERN_META_ARRAY || tokens->elem_type != KERN_META_STRING) {
    set_err(err, w, "tokenizer.ggml.tokens is not an array of strings");
    goto fail;
  }
  if (tokens->n == 0) {
    set_err(err, w, "tokenizer.ggml.tokens is empty");
    goto fail;
  }
  if (tokens->n > (1u << 24)) {
    set_err(err, w, "tokenizer.ggml.tokens has %llu entries, too many", (unsigned long long)tokens->n);
    goto fail;
  }
  t->n_vocab = (int)tokens->n;
  size_t total = 0;
  for (int i = 0; i < t->n_vocab; i++)
    total += (size_t)tokens->v.items[i].n;
  t->blob = malloc(total + 1);
  t->off = malloc(((size_t)t->n_vocab + 1) * sizeof *t->off);
  t->score = calloc((size_t)t->n_vocab, sizeof *t->score);
  t->attr = malloc((size_t)t->n_vocab);
  t->eog = calloc((size_t)t->n_vocab, 1);
  uint32_t size = 16;
  while (size < 2u * (uint32_t)t->n_vocab)
    size <<= 1;
  t->table = malloc(size * sizeof *t->table);
  if (!t->blob || !t->off || !t->score || !t->attr || !t->eog || !t->table) {
    set_err(err, w, "out of memory for %d tokens", t->n_vocab);
    goto fail;
  }
  t->mask = size - 1;
  for (uint32_t i = 0; i < size; i++)
    t->table[i] = NO_ID;
  size_t pos = 0;
  for (int i = 0; i < t->n_vocab; i++) {
    size_t n = (size_t)tokens->v.items[i].n;
    memcpy(t->blob + pos, tokens->v.items[i].v.str, n);
    t->off[i] = pos;
    pos += n;
  }
  t->off[t->n_vocab] = pos;
  t->blob[pos] = '\0';
  for (int32_t i = 0; i < t->n_vocab; i++) {
    size_t n = t->off[i + 1] - t->off[i];
    if (n == 0) /* llama.cpp renames empty tokens; they match no text */
      continue;
    const char *s = t->blob + t->off[i];
    uint32_t h = hash_bytes(s, n) & t->mask;
    while (t->table[h] != NO_ID) {
      int32_t o = t->table[h];
      if (t->off[o + 1] - t->off[o] == n && memcmp(t->blob + t->off[o], s, n) == 0)
        break; /* a repeated text: the later id wins, as in llama.cpp */
      h = (h + 1) & t->mask;
    }
    t->table[h] = i;
  }

  /* scores */
  const kern_meta *scores = kern_weights_get_meta(w, "tokenizer.ggml.scores");
  if (scores) {
    if (scores->type != KERN_META_ARRAY || scores->n != tokens->n) {
      set_err(err, w, "tokenizer.ggml.scores has %llu entries, tokenizer.ggml.tokens %llu",
              scores->type == KERN_META_ARRAY ? (unsigned long long)scores->n : 0ull,
              (unsigned long long)tokens->n);
      goto fail;
    }
    for (int i = 0; i < t->n_vocab; i++) {
      double v;
      if (kern_meta_array_float(scores, (uint64_t)i, &v) != 0) {
        set_err(err, w, "tokenizer.ggml.scores is not an array of numbers");
        goto fail;
      }
      t->score[i] = (float)v;
    }
  }

  /* token types */
  const kern_meta *types = kern_weights_get_meta(w, "tokenizer.ggml.token_type");
  if (types && (types->type != KERN_META_ARRAY || types->n != tokens->n)) {
    set_err(err, w, "tokenizer.ggml.token_type has %llu entries, tokenizer.ggml.tokens %llu",
            types->type == KERN_META_ARRAY ? (unsigned long long)types->n : 0ull, (unsigned long long)tokens->n);
    goto fail;
  }
  static const uint8_t type_attr[7] = { 0, LLM_TOKEN_NORMAL, LLM_TOKEN_UNKNOWN, LLM_TOKEN_CONTROL,
                                        LLM_TOKEN_USER_DEFINED, LLM_TOKEN_UNUSED, LLM_TOKEN_BYTE };
  for (int i = 0; i < t->n_vocab; i++) {
    int64_t v = 1;
    if (types && kern_meta_array_int(types, (uint64_t)i, &v) != 0) {
      set_err(err, w, "tokenizer.ggml.token_type is not an array of integers");
      goto fail;
    }
    if (v < 0 || v > 6) {
      set_err(err, w, "tokenizer.ggml.token_type[%d] = %lld is not a token type (0..6)", i, (long long)v);
      goto fail;
    }
    t->attr[i] = type_attr[v];
    if (t->model == MODEL_SPM && v == 6 && byte_token_value(t, i) < 0) {
      size_t n = t->off[i + 1] - t->off[i];
      set_err(err, w, "byte token %d is \"%.*s\", not <0xXX>", i, (int)(n < 20 ? n : 20), t->blob + t->off[i]);
      goto fail;
    }
  }

  /* byte tokens */
  for (unsigned b = 0; b < 256; b++) {
    char s[8];
    if (t->model == MODEL_SPM) {
      snprintf(s, sizeof s, "<0x%02X>", b);
      t->byte_tok[b] = lookup(t, s, 6);
      if (t->byte_tok[b] == NO_ID) /* a vocabulary without byte tokens may hold the byte itself */
        t->byte_tok[b] = lookup(t, (const char[]){ (char)b }, 1);
    } else {
      uint32_t cp = byte_to_cp(b);
      t->byte_of[cp] = (uint8_t)b;
      t->byte_mapped[cp] = 1;
      t->byte_tok[b] = lookup(t, s, utf8_encode(cp, s));
    }
  }

  /* special ids */
  if (t->model == MODEL_SPM) {
    t->unk = t->n_vocab > 0 ? 0 : NO_ID;
    t->bos = t->n_vocab > 1 ? 1 : NO_ID;
    t->eos = t->n_vocab > 2 ? 2 : NO_ID;
  }
  if (read_special(t, w, "tokenizer.ggml.bos_token_id", &t->bos, err) ||
      read_special(t, w, "tokenizer.ggml.eos_token_id", &t->eos, err) ||
      read_special(t, w, "tokenizer.ggml.eot_token_id", &t->eot, err) ||
      read_special(t, w, "tokenizer.ggml.eom_token_id", &t->eom, err) ||
      read_special(t, w, "tokenizer.ggml.unknown_token_id", &t->unk, err) ||
      read_special(t, w, "tokenizer.ggml.padding_token_id", &t->pad, err))
    goto fail;
  int32_t unused_sep = NO_ID;
  if (read_special(t, w, "tokenizer.ggml.seperator_token_id", &unused_sep, err) ||
      read_special(t, w, "tokenizer.ggml.separator_token_id", &unused_sep, err))
    goto fail;
  read_flag(w, "tokenizer.ggml.add_bos_token", &t->add_bos);
  read_flag(w, "tokenizer.ggml.add_eos_token", &t->add_eos);
  read_flag(w, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);

  /* end of turn / generation: by id, and by the texts llama.cpp knows */
  for (int32_t i = 0; i < t->n_vocab; i++) {
    int is_eot = text_in(t, i, eot_texts, N_RANGES(eot_texts));
    int is_eom = text_in(t, i, eom_texts, N_RANGES(eom_texts));
    int is_extra = text_in(t, i, eog_extra_texts, N_RANGES(eog_extra_texts));
    if (!is_eot && !is_eom && !is_extra)
      continue;
    if (lookup(t, t->blob + t->off[i], t->off[i + 1] - t->off[i]) != i)
      continue; /* a repeated text: only the id the text maps to */
    t->attr[i] |= LLM_TOKEN_CONTROL;
    t->eog[i] = 1;
    if (is_eom && t->eom == NO_ID)
      t->eom = i;
  }
  /* eot: the first end-of-turn text in eot_texts' order that the vocabulary has */
  for (size_t k = 0; t->eot == NO_ID && k < N_RANGES(eot_texts); k++)
    t->eot = lookup(t, eot_texts[k], strlen(eot_texts[k]));
  if (t->eos != NO_ID)
    t->eog[t->eos] = 1;
  if (t->eot != NO_ID)
    t->eog[t->eot] = 1;
  if (t->eom != NO_ID)
    t->eog[t->eom] = 1;

  if (t->model == MODEL_BPE && load_merges(t, w, err) != 0)
    goto fail;

  /* tokens matched verbatim in text */
  t->special = malloc((size_t)t->n_vocab * sizeof *t->special);
  if (!t->special) {
    set_err(err, w, "out of memory");
    goto fail;
  }
  for (int32_t i = 0; i < t->n_vocab; i++)
    if ((t->attr[i] & (LLM_TOKEN_CONTROL | LLM_TOKEN_USER_DEFINED | LLM_TOKEN_UNKNOWN)) && t->off[i + 1] > t->off[i])
      t->special[t->n_special++] = i;
  qsort_r(t->special, t->n_special, sizeof *t->special, cmp_special, t);
  return t;

fail:
  llm_tokenizer_free(t);
  return NULL;
}

/* --- accessors ------------------------------------------------------------------- */

int
llm_tokenizer_n_vocab(const llm_tokenizer *t)
{
  return t->n_vocab;
}

const char *
llm_tokenizer_model(const llm_tokenizer *t)
{
  return t->model == MODEL_SPM ? "spm" : "bpe";
}

const char *
llm_tokenizer_pre(const llm_tokenizer *t)
{
  return t->pre_name;
}

int32_t
llm_tokenizer_bos(const llm_tokenizer *t)
{
  return t->bos;
}

int32_t
llm_tokenizer_eos(const llm_tokenizer *t)
{
  return t->eos;
}

int32_t
llm_tokenizer_eot(const llm_tokenizer *t)
{
  return t->eot;
}

int32_t
llm_tokenizer_unk(const llm_tokenizer *t)
{
  return t->unk;
}

int32_t
llm_tokenizer_pad(const llm_tokenizer *t)
{
  return t->pad;
}

int
llm_tokenizer_add_bos(const llm_tokenizer *t)
{
  return t->add_bos && t->bos != NO_ID;
}

int
llm_tokenizer_add_eos(const llm_tokenizer *t)
{
  return t->add_eos && t->eos != NO_ID;
}

int
llm_tokenizer_is_eog(const llm_tokenizer *t, int32_t id)
{
  return id >= 0 && id < t->n_vocab && t->eog[id];
}

unsigned
llm_tokenizer_attr(const llm_tokenizer *t, int32_t id)
{
  return id >= 0 && id < t->n_vocab ? t->attr[id] : 0;
}

int32_t
llm_tokenizer_find(const llm_tokenizer *t, const char *piece)
{
  size_t n = piece ? strlen(piece) : 0;
  return n ? lookup(t, piece, n) : NO_ID;
}

const char *
llm_tokenizer_text(const llm_tokenizer *t, int32_t id, size_t *len)
{
  if (id < 0 || id >= t->n_vocab)
    return NULL;
  if (len)
    *len = t->off[id + 1] - t->off[id];
  return t->blob + t->off[id];
}

/* --- output ---------------------------------------------------------------------- */

typedef struct {
  int32_t **ids;
  size_t *n, *cap;
  int failed;
} sink;

static void
emit(sink *o, int32_t id)
{
  if (o->failed)
    return;
  if (*o->n == *o->cap) {
    size_t nc = *o->cap ? *o->cap * 2 : 64;
    int32_t *p = realloc(*o->ids, nc * sizeof *p);
    if (!p) {
      o->failed = 1;
      return;
    }
    *o->ids = p;
    *o->cap = nc;
  }
  (*o->ids)[(*o->n)++] = id;
}

/* --- SPM ------------------------------------------------------------------------- */

typedef struct {
  int prev, next;
  size_t start, n; /* bytes of the (escaped) text; n == 0 once merged away */
} spm_sym;

/* A candidate merge of symbols left and right. Heap order: lower key first
 * (BPE's merge rank; SentencePiece's score negated), then lower left. */
typedef struct {
  double key;
  int left, right;
  size_t size;  /* SentencePiece: bytes of the pair when pushed */
  int32_t a, b; /* BPE: the pair's ids when pushed */
} merge_cand;

typedef struct {
  merge_cand *v;
  size_t n, cap;
} merge_heap;

static int
cand_before(const merge_cand *x, const merge_cand *y)
{
  return x->key < y->key || (x->key == y->key && x->left < y->left);
}

static int
heap_push(merge_heap *h, merge_cand c)
{
  if (h->n == h->cap) {
    size_t nc = h->cap ? h->cap * 2 : 64;
    merge_cand *p = realloc(h->v, nc * sizeof *p);
    if (!p)
      return -1;
    h->v = p;
    h->cap = nc;
  }
  size_t i = h->n++;
  while (i > 0 && cand_before(&c, &h->v[(i - 1) / 2])) {
    h->v[i] = h->v[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h->v[i] = c;
  return 0;
}

static merge_cand
heap_pop(merge_heap *h)
{
  merge_cand top = h->v[0], last = h->v[--h->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && cand_before(&h->v[c + 1], &h->v[c]))
      c++;
    if (!cand_before(&h->v[c], &last))
      break;
    h->v[i] = h->v[c];
    i = c;
  }
  if (h->n)
    h->v[i] = last;
  return top;
}

static int
spm_try_pair(const llm_tokenizer *t, const char *text, const spm_sym *sym, int left, int right, merge_heap *h)
{
  if (left < 0 || right < 0)
    return 0;
  size_t n = sym[left].n + sym[right].n;
  int32_t id = lookup(t, text + sym[left].start, n);
  if (id == NO_ID)
    return 0;
  return heap_push(h, (merge_cand){ .key = -(double)t->score[id], .left = left, .right = right, .size = n });
}

/* leading byte -> sequence length, as llama.cpp's SPM splits characters */
static size_t
spm_char_len(unsigned char c)
{
  static const uint8_t len[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
  return len[c >> 4];
}

static int
spm_encode(const llm_tokenizer *t, const char *in, size_t len, int space_prefix, sink *o)
{
  /* escape: ' ' -> U+2581 (3 bytes) */
  size_t n_sp = space_prefix;
  for (size_t i = 0; i < len; i++)
    n_sp += in[i] == ' ';
  size_t tn = len + space_prefix + 2 * n_sp;
  char *text = malloc(tn + 1);
  spm_sym *sym = malloc((tn + 1) * sizeof *sym);
  merge_heap h = { 0 };
  int rc = 0;
  if (!text || !sym) {
    rc = -1;
    goto out;
  }
  size_t p = 0;
  for (size_t i = 0; i < len + (size_t)space_prefix; i++) {
    char c = i < (size_t)space_prefix ? ' ' : in[i - (size_t)space_prefix];
    if (c == ' ') {
      memcpy(text + p, "\xe2\x96\x81", 3);
      p += 3;
    } else {
      text[p++] = c;
    }
  }
  int n_sym = 0;
  for (size_t i = 0; i < tn;) {
    size_t cl = spm_char_len((unsigned char)text[i]);
    if (cl > tn - i)
      cl = tn - i;
    sym[n_sym] = (spm_sym){ n_sym - 1, i + cl < tn ? n_sym + 1 : -1, i, cl };
    n_sym++;
    i += cl;
  }
  for (int i = 1; i < n_sym; i++)
    if (spm_try_pair(t, text, sym, i - 1, i, &h) != 0) {
      rc = -1;
      goto out;
    }
  while (h.n) {
    merge_cand b = heap_pop(&h);
    spm_sym *l = &sym[b.left], *r = &sym[b.right];
    if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
      continue; /* outdated */
    l->n += r->n;
    r->n = 0;
    l->next = r->next;
    if (r->next >= 0)
      sym[r->next].prev = b.left;
    if (spm_try_pair(t, text, sym, l->prev, b.left, &h) != 0 || spm_try_pair(t, text, sym, b.left, l->next, &h) != 0) {
      rc = -1;
      goto out;
    }
  }
  for (int i = n_sym ? 0 : -1; i >= 0; i = sym[i].next) {
    int32_t id = lookup(t, text + sym[i].start, sym[i].n);
    if (id != NO_ID) {
      emit(o, id);
      continue;
    }
    for (size_t k = 0; k < sym[i].n; k++) {
      int32_t bid = t->byte_tok[(unsigned char)text[sym[i].start + k]];
      if (bid == NO_ID)
        bid = t->unk;
      if (bid != NO_ID)
        emit(o, bid);
    }
  }
out:
  free(text);
  free(sym);
  free(h.v);
  return rc;
}

/* --- BPE pre-tokenizers ----------------------------------------------------------- */

/* Each matcher returns the length (in code points) of its regex's match at
 * cp[pos], within cp[.. end), or 0 for none; none of the regexes matches "". */

static size_t
run(const uint32_t *cp, size_t pos, size_t end, int (*cls)(uint32_t), size_t max)
{
  size_t n = 0;
  while (pos + n < end && n < max && cls(cp[pos + n]))
    n++;
  return n;
}

#define UNBOUNDED ((size_t)-1)

/* \s+(?!\S) then \s+: a whitespace run, less its last character when a
 * non-space follows and the run is longer than one. */
static size_t
match_spaces(const uint32_t *cp, size_t pos, size_t end)
{
  size_t n = run(cp, pos, end, kern_unicode_is_space, UNBOUNDED);
  if (n > 1 && pos + n < end)
    return n - 1;
  return n;
}

static int
lower_ascii(uint32_t c)
{
  return c < 0x80 ? (int)(c | 0x20) : -1;
}

/* 's|'t|'re|'ve|'m|'ll|'d, case-insensitive when ci */
static size_t
match_contraction(const uint32_t *cp, size_t pos, size_t end, int ci)
{
  if (cp[pos] != '\'' || pos + 1 >= end)
    return 0;
  int a = ci ? lower_ascii(cp[pos + 1]) : (int)cp[pos + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd')
    return 2;
  if (pos + 2 >= end)
    return 0;
  int b = ci ? lower_ascii(cp[pos + 2]) : (int)cp[pos + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
    return 3;
  return 0;
}

/* ' ?' followed by a run of cls */
static size_t
match_opt_space_run(const uint32_t *cp, size_t pos, size_t end, int (*cls)(uint32_t))
{
  /* without the space the run would have to start at cp[pos] == ' ', which no class here holds */
  size_t sp = cp[pos] == ' ' ? 1 : 0;
  size_t n = run(cp, pos + sp, end, cls, UNBOUNDED);
  return n ? sp + n : 0;
}

static size_t
match_gpt2(const uint32_t *cp, size_t pos, size_t end)
{
  size_t n;
  if ((n = match_contraction(cp, pos, end, 0)))
    return n;
  if ((n = match_opt_space_run(cp, pos, end, kern_unicode_is_letter)))
    return n;
  if ((n = match_opt_space_run(cp, pos, end, kern_unicode_is_number)))
    return n;
  if ((n = match_opt_space_run(cp, pos, end, is_other)))
    return n;
  return match_spaces(cp, pos, end);
}

static int
is_cr_lf(uint32_t c)
{
  return c == '\r' || c == '\n';
}

/* \s*[\r\n]+ (up to the last CR/LF of the whitespace run), else \s+(?!\S) | \s+ */
static size_t
match_spaces_to_newline(const uint32_t *cp, size_t pos, size_t end)
{
  size_t ws = run(cp, pos, end, kern_unicode_is_space, UNBOUNDED);
  for (size_t k = ws; k > 0; k--)
    if (is_cr_lf(cp[pos + k - 1]))
      return k;
  return match_spaces(cp, pos, end);
}

static size_t
match_llama3(const uint32_t *cp, size_t pos, size_t end, size_t max_digits, int crlf_tail)
{
  size_t n;
  uint32_t c = cp[pos];
  if ((n = match_contraction(cp, pos, end, 1)))
    return n;
  /* [^\r\n\p{L}\p{N}]?\p{L}+ */
  if (kern_unicode_is_letter(c))
    return run(cp, pos, end, kern_unicode_is_letter, UNBOUNDED);
  if (!is_cr_lf(c) && !kern_unicode_is_number(c) && (n = run(cp, pos + 1, end, kern_unicode_is_letter, UNBOUNDED)))
    return 1 + n;
  /* \p{N}{1,max} */
  if ((n = run(cp, pos, end, kern_unicode_is_number, max_digits)))
    return n;
  /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
  size_t sp = c == ' ' ? 1 : 0;
  if ((n = run(cp, pos + sp, end, is_other, UNBOUNDED))) {
    n += sp;
    return crlf_tail ? n + run(cp, pos + n, end, is_cr_lf, UNBOUNDED) : n;
  }
  /* \s*[\r\n]+: up to the last \r or \n of the whitespace run */
  return match_spaces_to_newline(cp, pos, end);
}

/* [^\r\n\p{L}\p{N}] */
static int
is_not_crlf_letter_number(uint32_t c)
{
  return !is_cr_lf(c) && !kern_unicode_is_letter(c) && !kern_unicode_is_number(c);
}

/* letters but ASCII lower case ("upper") and letters but ASCII upper case ("lower") */
static int
is_tk_upper(uint32_t c)
{
  return kern_unicode_is_letter(c) && !(c >= 'a' && c <= 'z');
}

static int
is_tk_lower(uint32_t c)
{
  return kern_unicode_is_letter(c) && !(c >= 'A' && c <= 'Z');
}

/* U* L+ (first) or U+ L* (second) from pos, with the regex's backtracking; 0 if none */
static size_t
tekken_word(const uint32_t *cp, size_t pos, size_t end, int second)
{
  size_t nu = run(cp, pos, end, is_tk_upper, UNBOUNDED);
  if (!second) {
    for (size_t k = nu + 1; k-- > 0;) {
      size_t nl = run(cp, pos + k, end, is_tk_lower, UNBOUNDED);
      if (nl)
        return k + nl;
    }
    return 0;
  }
  return nu ? nu + run(cp, pos + nu, end, is_tk_lower, UNBOUNDED) : 0;
}

static int
is_tk_tail(uint32_t c)
{
  return c == '\r' || c == '\n' || c == '/';
}

static size_t
match_tekken(const uint32_t *cp, size_t pos, size_t end)
{
  size_t n;
  uint32_t c = cp[pos];
  int x = is_not_crlf_letter_number(c); /* the optional leading character can be taken */
  for (int alt = 0; alt < 2; alt++) {
    if (x && (n = tekken_word(cp, pos + 1, end, alt)))
      return 1 + n;
    if (!x && (n = tekken_word(cp, pos, end, alt)))
      return n;
  }
  if (kern_unicode_is_number(c))
    return 1;
  /* [^\r\n\p{L}\p{N}]?[^\s\p{L}\p{N}]+[\r\n/]* */
  if (x && (n = run(cp, pos + 1, end, is_other, UNBOUNDED)))
    return 1 + n + run(cp, pos + 1 + n, end, is_tk_tail, UNBOUNDED);
  if ((n = run(cp, pos, end, is_other, UNBOUNDED)))
    return n + run(cp, pos + n, end, is_tk_tail, UNBOUNDED);
  return match_spaces_to_newline(cp, pos, end);
}

/* the o200k regex: tekken's words with an optional contraction, digit triples,
 * ' ?' before punctuation runs */
static size_t
match_gpt4o(const uint32_t *cp, size_t pos, size_t end)
{
  size_t n;
  uint32_t c = cp[pos];
  int x = is_not_crlf_letter_number(c);
  for (int alt = 0; alt < 2; alt++) {
    size_t w = x ? tekken_word(cp, pos + 1, end, alt) : 0;
    size_t at = w ? 1 + w : (x ? 0 : tekken_word(cp, pos, end, alt));
    if (at)
      return at + match_contraction(cp, pos + at, end, 1);
  }
  if ((n = run(cp, pos, end, kern_unicode_is_number, 3)))
    return n;
  size_t sp = c == ' ' ? 1 : 0;
  if ((n = run(cp, pos + sp, end, is_other, UNBOUNDED)))
    return sp + n + run(cp, pos + sp + n, end, is_tk_tail, UNBOUNDED);
  return match_spaces_to_newline(cp, pos, end);
}

/* [一-龥ࠀ-一가-퟿] and [一-龥぀-ゟ゠-ヿ]. llama.cpp matches such literal
 * classes with non-ASCII whitespace replaced by U+000B, so U+3000 and the
 * like never fall in them. */
static int
is_cjk_hangul(uint32_t c)
{
  return ((c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x0800 && c <= 0x4E00) || (c >= 0xAC00 && c <= 0xD7FF)) &&
         !kern_unicode_is_space(c);
}

static int
is_cjk_kana(uint32_t c)
{
  return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x3040 && c <= 0x309F) || (c >= 0x30A0 && c <= 0x30FF);
}

static int
is_ds_letter(uint32_t c)
{
  return kern_unicode_in_ranges(llm_deepseek_letters, N_RANGES(llm_deepseek_letters), c) && !kern_unicode_is_space(c);
}

/* [!-/:-~！-／：-～‘-‟　-。] */
static int
is_ds_punct(uint32_t c)
{
  return ((c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x7E) || (c >= 0xFF01 && c <= 0xFF0F) ||
          (c >= 0xFF1A && c <= 0xFF5E) || (c >= 0x2018 && c <= 0x201F) || (c >= 0x3000 && c <= 0x3002)) &&
         !kern_unicode_is_space(c);
}

static int
is_ascii_letter(uint32_t c)
{
  return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static int
is_letter_or_mark(uint32_t c)
{
  return kern_unicode_is_letter(c) || kern_unicode_is_mark(c);
}

static int
is_punct_or_symbol(uint32_t c)
{
  return kern_unicode_is_punct(c) || kern_unicode_is_symbol(c);
}

static size_t
match_deepseek3(const uint32_t *cp, size_t pos, size_t end)
{
  size_t n;
  uint32_t c = cp[pos];
  /* [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+ : ASCII punctuation and symbols */
  if (c >= 0x21 && c <= 0x7E && !is_ascii_letter(c) && !(c >= '0' && c <= '9') &&
      (n = run(cp, pos + 1, end, is_ascii_letter, UNBOUNDED)))
    return 1 + n;
  /* [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+ */
  if (!is_cr_lf(c) && !kern_unicode_is_letter(c) && !kern_unicode_is_punct(c) && !kern_unicode_is_symbol(c) &&
      (n = run(cp, pos + 1, end, is_letter_or_mark, UNBOUNDED)))
    return 1 + n;
  if ((n = run(cp, pos, end, is_letter_or_mark, UNBOUNDED)))
    return n;
  /* ' ?[\p{P}\p{S}]+[\r\n]*' */
  size_t sp = c == ' ' ? 1 : 0;
  if ((n = run(cp, pos + sp, end, is_punct_or_symbol, UNBOUNDED)))
    return sp + n + run(cp, pos + sp + n, end, is_cr_lf, UNBOUNDED);
  return match_spaces_to_newline(cp, pos, end);
}

/* [^(\s|.,!?…。，、।۔،)] */
static int
is_bloom_word(uint32_t c)
{
  switch (c) {
  case '(': case '|': case ')': case '.': case ',': case '!': case '?':
  case 0x2026: case 0x3002: case 0xFF0C: case 0x3001: case 0x0964: case 0x06D4: case 0x060C:
    return 0;
  default:
    return !kern_unicode_is_space(c);
  }
}

static size_t
match_rx(int rx, const uint32_t *cp, size_t pos, size_t end)
{
  switch (rx) {
  case RX_GPT2:
    return match_gpt2(cp, pos, end);
  case RX_LLAMA3:
    return match_llama3(cp, pos, end, 3, 1);
  case RX_QWEN2:
    return match_llama3(cp, pos, end, 1, 1);
  case RX_SEED:
    return match_llama3(cp, pos, end, 1, 0);
  case RX_GPT4O:
    return match_gpt4o(cp, pos, end);
  case RX_CRLF:
    return is_cr_lf(cp[pos]) ? 1 : 0;
  case RX_WS_LETTERS:
  case RX_WS_PUNCT: {
    int (*cls)(uint32_t) = rx == RX_WS_LETTERS ? kern_unicode_is_letter : kern_unicode_is_punct;
    size_t n = kern_unicode_is_space(cp[pos]) ? run(cp, pos + 1, end, cls, UNBOUNDED) : 0;
    return n ? 1 + n : run(cp, pos, end, cls, UNBOUNDED);
  }
  case RX_CJK_HANGUL:
    return run(cp, pos, end, is_cjk_hangul, UNBOUNDED);
  case RX_DS_LETTERS:
  case RX_DS_PUNCT: {
    int (*cls)(uint32_t) = rx == RX_DS_LETTERS ? is_ds_letter : is_ds_punct;
    size_t n = kern_unicode_is_space(cp[pos]) ? run(cp, pos + 1, end, cls, UNBOUNDED) : 0;
    return n ? 1 + n : run(cp, pos, end, cls, UNBOUNDED);
  }
  case RX_WS_END: {
    size_t n = run(cp, pos, end, kern_unicode_is_space, UNBOUNDED);
    return pos + n == end ? n : 0;
  }
  case RX_CJK_KANA:
    return run(cp, pos, end, is_cjk_kana, UNBOUNDED);
  case RX_DIGITS13:
    return run(cp, pos, end, kern_unicode_is_number, 3);
  case RX_DEEPSEEK3:
    return match_deepseek3(cp, pos, end);
  case RX_DIGIT:
    return kern_unicode_is_number(cp[pos]) ? 1 : 0;
  case RX_DIGITS:
    return run(cp, pos, end, kern_unicode_is_number, UNBOUNDED);
  case RX_PUNCT: {
    size_t n = 0;
    while (pos + n < end) {
      uint32_t c = cp[pos + n];
      if (!(kern_unicode_is_punct(c) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' || c == '~' ||
            c == '|'))
        break;
      n++;
    }
    return n;
  }
  case RX_FALCON_PUNCT: {
    size_t n = 0;
    while (pos + n < end) {
      uint32_t c = cp[pos + n];
      if (!(kern_unicode_is_punct(c) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' || c == '~' ||
            c == '|' || c == '`'))
        break;
      n++;
    }
    return n;
  }
  case RX_BLOOM: {
    size_t sp = cp[pos] == ' ' ? 1 : 0;
    size_t n = run(cp, pos + sp, end, is_bloom_word, UNBOUNDED);
    return n ? sp + n : 0;
  }
  case RX_TEKKEN:
    return match_tekken(cp, pos, end);
  case RX_3DIGITS:
    return pos + 3 <= end && cp[pos] >= '0' && cp[pos] <= '9' && cp[pos + 1] >= '0' && cp[pos + 1] <= '9' &&
               cp[pos + 2] >= '0' && cp[pos + 2] <= '9'
             ? 3
             : 0;
  }
  return 0;
}

typedef struct {
  size_t *v; /* boundaries (code point offsets), ascending; pieces are [v[i], v[i+1]) */
  size_t n, cap;
} bounds;

static int
bounds_add(bounds *b, size_t x)
{
  if (b->n && b->v[b->n - 1] == x)
    return 0;
  if (b->n == b->cap) {
    size_t nc = b->cap ? b->cap * 2 : 64;
    size_t *p = realloc(b->v, nc * sizeof *p);
    if (!p)
      return -1;
    b->v = p;
    b->cap = nc;
  }
  b->v[b->n++] = x;
  return 0;
}

/* Splits every piece of `in` by one regex, as a regex split that keeps the
 * unmatched text between matches as pieces of its own. */
static int
split_by(int rx, const uint32_t *cp, const bounds *in, bounds *out)
{
  out->n = 0;
  if (bounds_add(out, in->v[0]) != 0)
    return -1;
  for (size_t k = 0; k + 1 < in->n; k++) {
    size_t a = in->v[k], b = in->v[k + 1];
    size_t i = a;
    while (i < b) {
      size_t m = match_rx(rx, cp, i, b);
      if (!m) {
        i++;
        continue;
      }
      if (bounds_add(out, i) != 0 || bounds_add(out, i + m) != 0)
        return -1;
      i += m;
    }
    if (bounds_add(out, b) != 0)
      return -1;
  }
  return 0;
}

static int
pre_regexes(int pre, int *rx)
{
  switch (pre) {
  case PRE_GPT2:
    rx[0] = RX_GPT2;
    return 1;
  case PRE_SMOLLM:
    rx[0] = RX_DIGIT, rx[1] = RX_GPT2;
    return 2;
  case PRE_LLAMA3:
    rx[0] = RX_LLAMA3;
    return 1;
  case PRE_QWEN2:
    rx[0] = RX_QWEN2;
    return 1;
  case PRE_FALCON:
    rx[0] = RX_FALCON_PUNCT, rx[1] = RX_GPT2, rx[2] = RX_3DIGITS;
    return 3;
  case PRE_BLOOM:
    rx[0] = RX_BLOOM;
    return 1;
  case PRE_TEKKEN:
    rx[0] = RX_TEKKEN;
    return 1;
  case PRE_GPT4O:
    rx[0] = RX_GPT4O;
    return 1;
  case PRE_SEED:
    rx[0] = RX_SEED;
    return 1;
  case PRE_VIKING:
    rx[0] = RX_BLOOM, rx[1] = RX_DIGIT;
    return 2;
  case PRE_DEEPSEEK_CODER:
    rx[0] = RX_CRLF, rx[1] = RX_WS_LETTERS, rx[2] = RX_WS_PUNCT, rx[3] = RX_CJK_HANGUL, rx[4] = RX_DIGIT;
    return 5;
  case PRE_DEEPSEEK3:
    rx[0] = RX_DIGITS13, rx[1] = RX_CJK_KANA, rx[2] = RX_DEEPSEEK3;
    return 3;
  case PRE_DEEPSEEK_LLM:
    rx[0] = RX_CRLF, rx[1] = RX_DS_LETTERS, rx[2] = RX_DS_PUNCT, rx[3] = RX_WS_END, rx[4] = RX_CJK_HANGUL;
    rx[5] = RX_DIGITS;
    return 6;
  default:
    rx[0] = RX_PUNCT, rx[1] = RX_GPT2, rx[2] = RX_DIGITS, rx[3] = RX_3DIGITS;
    return 4;
  }
}

/* --- BPE merges ------------------------------------------------------------------ */

typedef struct {
  int32_t id;
  int prev, next;
} bpe_sym;

static int
bpe_try_pair(const llm_tokenizer *t, const bpe_sym *sym, int left, int right, merge_heap *h)
{
  if (left < 0 || right < 0)
    return 0;
  const struct merge_slot *m = find_merge(t, sym[left].id, sym[right].id);
  if (!m)
    return 0;
  return heap_push(h, (merge_cand){ .key = m->rank, .left = left, .right = right, .a = m->a, .b = m->b });
}

typedef struct {
  bpe_sym *sym;
  size_t cap;
  merge_heap heap;
  char *enc; /* the piece in byte-to-unicode form */
  size_t enc_cap;
} bpe_work;

/* Merges one piece (raw bytes, valid UTF-8 after the caller's cleanup). */
static int
bpe_piece(const llm_tokenizer *t, const unsigned char *s, size_t n, bpe_work *wk, sink *o)
{
  if (n == 0)
    return 0;
  if (t->ignore_merges) {
    if (2 * n > wk->enc_cap) {
      size_t nc = 2 * n + 64;
      char *p = realloc(wk->enc, nc);
      if (!p)
        return -1;
      wk->enc = p;
      wk->enc_cap = nc;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
      m += utf8_encode(byte_to_cp(s[i]), wk->enc + m);
    int32_t id = lookup(t, wk->enc, m);
    if (id != NO_ID) {
      emit(o, id);
      return 0;
    }
  }
  if (n > wk->cap) {
    size_t nc = 2 * n + 64;
    bpe_sym *p = realloc(wk->sym, nc * sizeof *p);
    if (!p)
      return -1;
    wk->sym = p;
    wk->cap = nc;
  }
  bpe_sym *sym = wk->sym;
  for (size_t i = 0; i < n; i++)
    sym[i] = (bpe_sym){ t->byte_tok[s[i]], (int)i - 1, i + 1 < n ? (int)i + 1 : -1 };
  wk->heap.n = 0;
  for (size_t i = 1; i < n; i++)
    if (bpe_try_pair(t, sym, (int)i - 1, (int)i, &wk->heap) != 0)
      return -1;
  while (wk->heap.n) {
    merge_cand b = heap_pop(&wk->heap);
    bpe_sym *l = &sym[b.left], *r = &sym[b.right];
    if (l->id != b.a || r->id != b.b || l->next != b.right)
      continue; /* outdated */
    const struct merge_slot *m = find_merge(t, b.a, b.b);
    l->id = m->out;
    r->id = NO_ID;
    l->next = r->next;
    r->prev = r->next = -1;
    if (l->next >= 0)
      sym[l->next].prev = b.left;
    if (bpe_try_pair(t, sym, l->prev, b.left, &wk->heap) != 0 || bpe_try_pair(t, sym, b.left, l->next, &wk->heap) != 0)
      return -1;
  }
  for (int i = 0; i >= 0; i = sym[i].next)
    if (sym[i].id != NO_ID) /* a byte the vocabulary lacks is dropped, as in llama.cpp */
      emit(o, sym[i].id);
  return 0;
}

static int
bpe_encode(const llm_tokenizer *t, const char *in, size_t len, sink *o)
{
  /* code points (bad bytes as U+FFFD) and their UTF-8 re-encoding */
  uint32_t *cp = malloc((len + 1) * sizeof *cp);
  char *utf = malloc(3 * len + 1);
  size_t *coff = malloc((len + 1) * sizeof *coff); /* byte offset in utf of code point i */
  bounds b1 = { 0 }, b2 = { 0 };
  bpe_work wk = { 0 };
  int rc = -1;
  if (!cp || !utf || !coff)
    goto out;
  size_t ncp = 0, nb = 0;
  for (size_t i = 0; i < len;) {
    size_t l;
    uint32_t c = utf8_decode((const unsigned char *)in + i, len - i, &l);
    coff[ncp] = nb;
    cp[ncp++] = c;
    nb += utf8_encode(c, utf + nb);
    i += l;
  }
  coff[ncp] = nb;
  if (bounds_add(&b1, 0) != 0 || bounds_add(&b1, ncp) != 0)
    goto out;
  int rx[8];
  int n_rx = pre_regexes(t->pre, rx);
  bounds *cur = &b1, *nxt = &b2;
  for (int r = 0; r < n_rx; r++) {
    if (split_by(rx[r], cp, cur, nxt) != 0)
      goto out;
    bounds *tmp = cur;
    cur = nxt;
    nxt = tmp;
  }
  for (size_t k = 0; k + 1 < cur->n; k++) {
    size_t a = coff[cur->v[k]], z = coff[cur->v[k + 1]];
    if (bpe_piece(t, (const unsigned char *)utf + a, z - a, &wk, o) != 0)
      goto out;
  }
  rc = 0;
out:
  free(cp);
  free(utf);
  free(coff);
  free(b1.v);
  free(b2.v);
  free(wk.sym);
  free(wk.heap.v);
  free(wk.enc);
  return rc;
}

/* --- encode ---------------------------------------------------------------------- */

typedef struct {
  size_t start, len; /* raw text; len == 0 with id >= 0: a token */
  int32_t id;
} fragment;

int
llm_tokenizer_encode(const llm_tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                     int32_t **ids, size_t *n_ids, size_t *cap)
{
  if (!t || (!text && len) || !ids || !n_ids || !cap)
    return KERN_E_INVAL;
  sink o = { ids, n_ids, cap, 0 };
  if (add_special && llm_tokenizer_add_bos(t))
    emit(&o, t->bos);

  /* partition at special tokens, longest first */
  size_t n_frag = len ? 1 : 0, frag_cap = 16;
  fragment *frag = malloc(frag_cap * sizeof *frag);
  if (!frag)
    return KERN_E_NOMEM;
  if (len)
    frag[0] = (fragment){ 0, len, NO_ID };
  for (size_t s = 0; s < t->n_special && n_frag; s++) {
    int32_t id = t->special[s];
    if (!parse_special && (t->attr[id] & (LLM_TOKEN_CONTROL | LLM_TOKEN_UNKNOWN)))
      continue;
    const char *tok = t->blob + t->off[id];
    size_t tl = t->off[id + 1] - t->off[id];
    if (!memmem(text, len, tok, tl))
      continue; /* one scan of the text instead of one per fragment */
    for (size_t f = 0; f < n_frag; f++) {
      if (frag[f].id != NO_ID || frag[f].len < tl)
        continue;
      const char *base = text + frag[f].start;
      const char *hit = memmem(base, frag[f].len, tok, tl);
      if (!hit)
        continue;
      /* split: [before] [token] [after]; the after part is searched next */
      size_t before = (size_t)(hit - base), after_start = frag[f].start + before + tl;
      size_t after_len = frag[f].len - before - tl;
      size_t add = (before ? 1 : 0) + (after_len ? 1 : 0);
      if (n_frag + add + 1 > frag_cap) {
        frag_cap = 2 * (n_frag + add + 1);
        fragment *p = realloc(frag, frag_cap * sizeof *p);
        if (!p) {
          free(frag);
          return KERN_E_NOMEM;
        }
        frag = p;
      }
      fragment parts[3];
      size_t np = 0;
      if (before)
        parts[np++] = (fragment){ frag[f].start, before, NO_ID };
      parts[np++] = (fragment){ 0, 0, id };
      if (after_len)
        parts[np++] = (fragment){ after_start, after_len, NO_ID };
      memmove(&frag[f + np], &frag[f + 1], (n_frag - f - 1) * sizeof *frag);
      memcpy(&frag[f], parts, np * sizeof *parts);
      n_frag += np - 1;
      f += before ? 1 : 0; /* now at the token; the loop moves on to the after part */
    }
  }

  int rc = 0;
  int prev_special = 1;
  for (size_t f = 0; f < n_frag && rc == 0; f++) {
    if (frag[f].id != NO_ID) {
      emit(&o, frag[f].id);
      prev_special = 1;
      continue;
    }
    if (t->model == MODEL_SPM)
      rc = spm_encode(t, text + frag[f].start, frag[f].len, t->add_space_prefix && prev_special, &o);
    else
      rc = bpe_encode(t, text + frag[f].start, frag[f].len, &o);
    prev_special = 0;
  }
  free(frag);
  if (rc == 0 && add_special && llm_tokenizer_add_eos(t))
    emit(&o, t->eos);
  return rc != 0 || o.failed ? KERN_E_NOMEM : 0;
}

/* --- pieces ---------------------------------------------------------------------- */

static size_t
put(char *buf, size_t cap, size_t at, const char *s, size_t n)
{
  if (at < cap)
    memcpy(buf + at, s, at + n <= cap ? n : cap - at);
  return at + n;
}

size_t
llm_tokenizer_piece(const llm_tokenizer *t, int32_t id, int special, char *buf, size_t cap)
{
  if (!t || id < 0 || id >= t->n_vocab)
    return 0;
  unsigned a = t->attr[id];
  const char *s = t->blob + t->off[id];
  size_t n = t->off[id + 1] - t->off[id];
  if (a & (LLM_TOKEN_CONTROL | LLM_TOKEN_UNKNOWN))
    return special ? put(buf, cap, 0, s, n) : 0;
  if (a & LLM_TOKEN_UNUSED)
    return 0;
  if (a & LLM_TOKEN_USER_DEFINED)
    return put(buf, cap, 0, s, n);
  if (t->model == MODEL_SPM) {
    if (a & LLM_TOKEN_BYTE) {
      char c = (char)byte_token_value(t, id); /* checked at load */
      return put(buf, cap, 0, &c, 1);
    }
    size_t at = 0;
    for (size_t i = 0; i < n;) {
      if (i + 3 <= n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
        at = put(buf, cap, at, " ", 1);
        i += 3;
      } else {
        at = put(buf, cap, at, s + i, 1);
        i++;
      }
    }
    return at;
  }
  /* byte-level BPE: each character stands for a byte */
  size_t at = 0;
  for (size_t i = 0; i < n;) {
    size_t l;
    uint32_t c = utf8_decode((const unsigned char *)s + i, n - i, &l);
    if (c < 512 && t->byte_mapped[c]) {
      char b = (char)t->byte_of[c];
      at = put(buf, cap, at, &b, 1);
    } else {
      at = put(buf, cap, at, s + i, l);
    }
    i += l;
  }
  return at;
}

/* --- streaming UTF-8 ------------------------------------------------------------- */

/* Length of the sequence a lead byte starts and the range its second byte must lie in; 0 if not a lead. */
static int
utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
  *lo = 0x80, *hi = 0xBF;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return 2;
  if (c == 0xE0)
    *lo = 0xA0;
  if (c == 0xED)
    *hi = 0x9F;
  if (c >= 0xE0 && c <= 0xEF)
    return 3;
  if (c == 0xF0)
    *lo = 0x90;
  if (c == 0xF4)
    *hi = 0x8F;
  if (c >= 0xF0 && c <= 0xF4)
    return 4;
  return 0;
}

static const char replacement[] = "\xef\xbf\xbd";

size_t
llm_utf8_stream_feed(llm_utf8_stream *s, const char *in, size_t n, char *out, size_t cap)
{
  if (!s || (!in && n) || !out || cap < LLM_UTF8_STREAM_CAP(n) || s->n_pending < 0 || s->n_pending > 3)
    return SIZE_MAX;
  size_t o = 0;
  unsigned char seq[4];
  int ns = s->n_pending;
  memcpy(seq, s->pending, (size_t)ns);
  size_t i = 0;
  /* seq holds a valid, incomplete prefix (maybe empty); extend it byte by byte */
  for (;;) {
    if (ns == 0) {
      /* fast path: copy ASCII */
      while (i < n && (unsigned char)in[i] < 0x80)
        out[o++] = in[i++];
      if (i == n)
        break;
      unsigned char lo, hi;
      unsigned char c = (unsigned char)in[i++];
      if (!utf8_lead(c, &lo, &hi)) {
        memcpy(out + o, replacement, 3);
        o += 3;
        continue;
      }
      seq[ns++] = c;
      continue;
    }
    if (i == n)
      break;
    unsigned char lo, hi;
    int need = utf8_lead(seq[0], &lo, &hi);
    unsigned char c = (unsigned char)in[i];
    if (ns > 1)
      lo = 0x80, hi = 0xBF;
    if (c < lo || c > hi) {
      /* the prefix is a maximal ill-formed part; c starts afresh */
      memcpy(out + o, replacement, 3);
      o += 3;
      ns = 0;
      continue;
    }
    seq[ns++] = c;
    i++;
    if (ns == need) {
      memcpy(out + o, seq, (size_t)ns);
      o += (size_t)ns;
      ns = 0;
    }
  }
  memcpy(s->pending, seq, (size_t)ns);
  s->n_pending = ns;
  out[o] = '\0';
  return o;
}

size_t
llm_utf8_stream_flush(llm_utf8_stream *s, char *out, size_t cap)
{
  if (!s || !out || cap < 4)
    return 0;
  size_t o = 0;
  if (s->n_pending > 0) {
    memcpy(out, replacement, 3);
    o = 3;
  }
  s->n_pending = 0;
  out[o] = '\0';
  return o;
}
