/* llm-hf.c: a Hugging Face causal language model directory as a GGUF-layout view. */
#include "llm-hf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kern-error.h"
#include "kern-json.h"
#include "kern-type.h"

#define MAX_LAYERS 512
#define MAX_SIDE_FILE (64u << 20) /* tokenizer.model, tokenizer_config.json, ... */
#define MAX_VOCAB (1 << 22)

/* GGUF's token types (the same numbers as SentencePiece's piece types). */
enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER_DEFINED = 4, TOK_UNUSED = 5, TOK_BYTE = 6 };

typedef struct {
  kern_weights *src, *view;
  char cfg[32];    /* "config." or "config.text_config." */
  char dir[4096];  /* the directory holding the tokenizer files */
  char base[32];   /* prefix of the decoder's tensors */
  char *err;
  int failed;
} hf;

static int fail(hf *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(hf *h, const char *fmt, ...)
{
  if (h->failed)
    return -1;
  h->failed = 1;
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *p = kern_weights_path(h->src);
  size_t n = strlen(p) + strlen(msg) + 3;
  h->err = malloc(n);
  if (h->err)
    snprintf(h->err, n, "%s: %s", p, msg);
  return -1;
}

/* A view call's failure (its own message, which names the path). */
static int
fail_view(hf *h)
{
  if (h->failed)
    return -1;
  const char *e = kern_weights_view_error(h->view);
  h->failed = 1;
  h->err = strdup(e ? e : "out of memory");
  return -1;
}

/* ---- config --------------------------------------------------------------- */

static const kern_meta *
cfg(hf *h, const char *name)
{
  char k[160];
  snprintf(k, sizeof k, "%s%s", h->cfg, name);
  return kern_weights_get_meta(h->src, k);
}

/* config value `name` as an integer: `fallback` when absent or null; -1 with
 * an error when present but not an integer in lo..hi. */
static int
cfg_int(hf *h, const char *name, int64_t fallback, int64_t lo, int64_t hi, int64_t *out)
{
  const kern_meta *m = cfg(h, name);
  if (!m || m->type == KERN_META_NULL) {
    *out = fallback;
    return 0;
  }
  if (kern_meta_get_int(m, out) != 0 || *out < lo || *out > hi)
    return fail(h, "config.json: %s is not an integer in %" PRId64 "..%" PRId64, name, lo, hi);
  return 0;
}

static int
cfg_float(hf *h, const char *name, double fallback, double lo, double hi, double *out)
{
  const kern_meta *m = cfg(h, name);
  if (!m || m->type == KERN_META_NULL) {
    *out = fallback;
    return 0;
  }
  if (kern_meta_get_float(m, out) != 0 || !(*out >= lo && *out <= hi))
    return fail(h, "config.json: %s is not a number in %g..%g", name, lo, hi);
  return 0;
}

static const char *
cfg_string(hf *h, const char *name)
{
  const kern_meta *m = cfg(h, name);
  return m ? kern_meta_get_string(m) : NULL;
}

static int top_true(hf *h, const char *key);

static int
cfg_true(hf *h, const char *name)
{
  char k[160];
  snprintf(k, sizeof k, "%s%s", h->cfg, name);
  return top_true(h, k);
}

/* A flag of the outer config (a LLaVA directory's, around text_config). */
static int
top_true(hf *h, const char *key)
{
  int64_t v = 0;
  const kern_meta *m = kern_weights_get_meta(h->src, key);
  return m && m->type == KERN_META_BOOL && kern_meta_get_int(m, &v) == 0 && v;
}

/* ---- metadata of the view --------------------------------------------------- */

static void
put(hf *h, const char *key, kern_meta m)
{
  if (!h->failed && kern_weights_view_add_meta(h->view, key, &m) != 0)
    fail_view(h);
}

static void
put_u32(hf *h, const char *key, int64_t v)
{
  put(h, key, (kern_meta){ .type = KERN_META_U32, .v.u64 = (uint64_t)v });
}

static void
put_f32(hf *h, const char *key, double v)
{
  put(h, key, (kern_meta){ .type = KERN_META_F32, .v.f64 = (float)v });
}

static void
put_bool(hf *h, const char *key, int v)
{
  put(h, key, (kern_meta){ .type = KERN_META_BOOL, .v.i64 = !!v });
}

static void
put_str(hf *h, const char *key, const char *s)
{
  char *c = h->failed ? NULL : kern_weights_view_strdup(h->view, s);
  if (!c) {
    fail_view(h);
    return;
  }
  put(h, key, (kern_meta){ .type = KERN_META_STRING, .n = strlen(c), .v.str = c });
}

/* "llama.block_count" etc. */
static void
put_arch_u32(hf *h, const char *arch, const char *suffix, int64_t v)
{
  char k[160];
  snprintf(k, sizeof k, "%s.%s", arch, suffix);
  put_u32(h, k, v);
}

static void
put_arch_f32(hf *h, const char *arch, const char *suffix, double v)
{
  char k[160];
  snprintf(k, sizeof k, "%s.%s", arch, suffix);
  put_f32(h, k, v);
}

/* ---- tensors -------------------------------------------------------------- */

/* The decoder's tensor `suffix` (of layer li, or outside the layers when -1). */
static const kern_tensor_info *
src_tensor(hf *h, int li, const char *suffix)
{
  char name[256];
  if (li >= 0)
    snprintf(name, sizeof name, "%slayers.%d.%s", h->base, li, suffix);
  else
    snprintf(name, sizeof name, "%s%s", h->base, suffix);
  return kern_weights_find(h->src, name);
}

static void
add(hf *h, const char *name, const kern_tensor_info *t, const void *data)
{
  if (!h->failed && kern_weights_view_add_tensor(h->view, name, t->type, t->n_dims, t->ne, data, t->nbytes) != 0)
    fail_view(h);
}

/* Hugging Face keeps each head's rotated pairs as halves (i, i + d/2); GGUF
 * models interleave them (2i, 2i + 1). Rows (or single values, for a bias) of
 * head h: out[h*d + 2i + s] = in[h*d + s*d/2 + i]. */
static void
add_rotary(hf *h, const char *name, const kern_tensor_info *t, int64_t n_head, int64_t head_dim)
{
  if (h->failed)
    return;
  int64_t rows = t->n_dims == 1 ? t->ne[0] : kern_tensor_nelements(t) / t->ne[0];
  if (rows != n_head * head_dim) {
    fail(h, "tensor '%s' has %" PRId64 " rows, %" PRId64 " heads of %" PRId64 " need %" PRId64, t->name, rows,
         n_head, head_dim, n_head * head_dim);
    return;
  }
  size_t row = t->nbytes / (size_t)rows;
  uint8_t *out = kern_weights_view_alloc(h->view, t->nbytes);
  if (!out) {
    fail_view(h);
    return;
  }
  const uint8_t *in = t->data;
  int64_t half = head_dim / 2;
  for (int64_t hd = 0; hd < n_head; hd++)
    for (int64_t i = 0; i < half; i++)
      for (int s = 0; s < 2; s++)
        memcpy(out + (size_t)(hd * head_dim + 2 * i + s) * row, in + (size_t)(hd * head_dim + s * half + i) * row,
               row);
  add(h, name, t, out);
}

static const char *const bases[] = { "model.language_model.", "language_model.model.", "model.", "" };
static const char *const heads[] = { "lm_head.weight", "language_model.lm_head.weight" };

/* The prefix of the decoder's tensors in a Hugging Face file, or NULL. */
static const char *
decoder_base(const kern_weights *w)
{
  for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
    char name[96];
    snprintf(name, sizeof name, "%sembed_tokens.weight", bases[i]);
    if (kern_weights_find(w, name))
      return bases[i];
  }
  return NULL;
}

static int
find_base(hf *h)
{
  const char *b = decoder_base(h->src);
  if (!b)
    return fail(h, "no 'embed_tokens.weight' tensor: not the weights of a causal language model");
  snprintf(h->base, sizeof h->base, "%s", b);
  return 0;
}

/* ---- side files ----------------------------------------------------------- */

/* The whole of DIR/name (malloc'd, NUL-terminated), NULL when absent; an
 * error when unreadable or larger than MAX_SIDE_FILE. */
static char *
read_side(hf *h, const char *name, size_t *len)
{
  char path[4352], *err = NULL;
  snprintf(path, sizeof path, "%s/%s", h->dir, name);
  struct stat st;
  if (stat(path, &st) != 0)
    return NULL;
  char *text = kern_read_file(path, MAX_SIDE_FILE, len, &err);
  if (!text)
    fail(h, "%s", err ? err : name);
  free(err);
  return text;
}

static kern_json *
read_json(hf *h, const char *name)
{
  char path[4352], *err = NULL;
  snprintf(path, sizeof path, "%s/%s", h->dir, name);
  struct stat st;
  if (stat(path, &st) != 0)
    return NULL; /* absent */
  kern_json *j = kern_json_parse_file(path, MAX_SIDE_FILE, &err);
  if (!j)
    fail(h, "%s", err ? err : name);
  else if (kern_json_root(j)->type != KERN_JSON_OBJECT) {
    kern_json_free(j);
    j = NULL;
    fail(h, "%s is not a JSON object", name);
  }
  free(err);
  return j;
}

/* ---- SentencePiece model (tokenizer.model, a protobuf message) ------------- */

typedef struct {
  const uint8_t *p, *end;
} pb;

static int
pb_varint(pb *r, uint64_t *out)
{
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (r->p >= r->end)
      return -1;
    uint8_t b = *r->p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

/* The next field: its number, wire type, and for length-delimited fields the
 * bytes; varints in *v; 32-bit values in *v (raw bits). -1 at a malformed
 * field, 1 at the end. */
static int
pb_next(pb *r, uint32_t *field, int *wire, pb *sub, uint64_t *v)
{
  if (r->p == r->end)
    return 1;
  uint64_t key;
  if (pb_varint(r, &key) != 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
    return -1;
  *field = (uint32_t)(key >> 3);
  *wire = (int)(key & 7);
  switch (*wire) {
  case 0: return pb_varint(r, v);
  case 1:
    if (r->end - r->p < 8)
      return -1;
    memcpy(v, r->p, 8);
    r->p += 8;
    return 0;
  case 2: {
    uint64_t n;
    if (pb_varint(r, &n) != 0 || n > (uint64_t)(r->end - r->p))
      return -1;
    sub->p = r->p;
    sub->end = r->p + n;
    r->p += n;
    return 0;
  }
  case 5: {
    if (r->end - r->p < 4)
      return -1;
    uint32_t x;
    memcpy(&x, r->p, 4);
    *v = x;
    r->p += 4;
    return 0;
  }
  default: return -1; /* groups are not used by this message */
  }
}

typedef struct {
  int64_t n, cap;
  kern_meta *tokens; /* STRING values owned by the view */
  float *scores;
  int32_t *types;
  int64_t unk, bos, eos, pad;
  int bpe, add_dummy_prefix;
} vocab;

static int
vocab_push(hf *h, vocab *V, const char *piece, size_t len, float score, int32_t type)
{
  if (V->n == V->cap) {
    int64_t cap = V->cap ? 2 * V->cap : 1024;
    if (cap > MAX_VOCAB)
      return fail(h, "the vocabulary has more than %d tokens", MAX_VOCAB);
    kern_meta *t = realloc(V->tokens, (size_t)cap * sizeof *t);
    if (t)
      V->tokens = t;
    float *s = t ? realloc(V->scores, (size_t)cap * sizeof *s) : NULL;
    if (s)
      V->scores = s;
    int32_t *y = s ? realloc(V->types, (size_t)cap * sizeof *y) : NULL;
    if (!y)
      return fail(h, "out of memory");
    V->types = y;
    V->cap = cap;
  }
  char *c = kern_weights_view_alloc(h->view, len + 1);
  if (!c)
    return fail_view(h);
  memcpy(c, piece, len);
  if (memchr(c, 0, len) || !kern_utf8_valid(c, len))
    return fail(h, "tokenizer.model: token %" PRId64 " is not valid UTF-8", V->n);
  V->tokens[V->n] = (kern_meta){ .type = KERN_META_STRING, .n = len, .v.str = c };
  V->scores[V->n] = score;
  V->types[V->n] = type;
  V->n++;
  return 0;
}

static int
read_piece(hf *h, vocab *V, pb m)
{
  const uint8_t *piece = NULL;
  size_t len = 0;
  float score = 0;
  uint64_t type = TOK_NORMAL, v = 0;
  uint32_t field;
  int wire, rc;
  pb sub;
  while ((rc = pb_next(&m, &field, &wire, &sub, &v)) == 0) {
    if (field == 1 && wire == 2) {
      piece = sub.p;
      len = (size_t)(sub.end - sub.p);
    } else if (field == 2 && wire == 5) {
      uint32_t bits = (uint32_t)v;
      memcpy(&score, &bits, 4);
    } else if (field == 3 && wire == 0) {
      type = v;
    }
  }
  if (rc < 0 || !piece)
    return fail(h, "tokenizer.model: piece %" PRId64 " is malformed", V->n);
  if (type < TOK_NORMAL || type > TOK_BYTE)
    return fail(h, "tokenizer.model: piece %" PRId64 " has type %" PRIu64, V->n, type);
  return vocab_push(h, V, (const char *)piece, len, score, (int32_t)type);
}

static int
read_spm(hf *h, vocab *V)
{
  size_t len = 0;
  char *buf = read_side(h, "tokenizer.model", &len);
  if (!buf)
    return h->failed ? -1
                     : fail(h, "no tokenizer.model beside the weights (a tokenizer.json-only tokenizer is not "
                               "read; use the model's GGUF)");
  pb r = { (const uint8_t *)buf, (const uint8_t *)buf + len }, sub;
  uint32_t field;
  int wire, rc;
  uint64_t v;
  V->unk = 0, V->bos = 1, V->eos = 2, V->pad = -1; /* the message's defaults */
  V->bpe = 0;
  V->add_dummy_prefix = 1;
  while ((rc = pb_next(&r, &field, &wire, &sub, &v)) == 0 && !h->failed) {
    if (field == 1 && wire == 2) {
      read_piece(h, V, sub);
    } else if (field == 2 && wire == 2) { /* trainer_spec */
      pb t = sub, s2;
      int64_t model_type = 1; /* UNIGRAM */
      while ((rc = pb_next(&t, &field, &wire, &s2, &v)) == 0) {
        if (wire != 0)
          continue;
        int64_t sv = (int64_t)(int32_t)(uint32_t)v; /* int32 fields; -1 is sign-extended */
        if (field == 3) model_type = sv;
        else if (field == 40) V->unk = sv;
        else if (field == 41) V->bos = sv;
        else if (field == 42) V->eos = sv;
        else if (field == 43) V->pad = sv;
      }
      V->bpe = model_type == 2;
    } else if (field == 3 && wire == 2) { /* normalizer_spec */
      pb t = sub, s2;
      while ((rc = pb_next(&t, &field, &wire, &s2, &v)) == 0)
        if (field == 3 && wire == 0)
          V->add_dummy_prefix = v != 0;
    }
    if (rc < 0)
      break;
  }
  free(buf);
  if (h->failed)
    return -1;
  if (rc < 0)
    return fail(h, "tokenizer.model is malformed (not a SentencePiece model)");
  if (V->n == 0)
    return fail(h, "tokenizer.model has no pieces");
  if (!V->bpe)
    return fail(h, "tokenizer.model is a SentencePiece unigram model; only BPE models (Llama, Mistral) are read");
  return 0;
}

/* Added tokens (<image>, <pad>, ...): tokenizer_config.json's
 * added_tokens_decoder {"ID": {"content": ..., "special": bool}}, then
 * added_tokens.json {"CONTENT": ID}. Ids past the SentencePiece pieces extend
 * the vocabulary (gaps get [PAD] tokens); ids inside it keep their piece. */
static int
set_added(hf *h, vocab *V, int64_t id, const char *content, int special, int64_t n_vocab)
{
  if (id < 0 || id >= n_vocab)
    return fail(h, "added token '%.40s' has id %" PRId64 ", outside the embedding's %" PRId64 " rows", content, id,
                n_vocab);
  if (id < V->n)
    return 0;
  while (V->n < id) {
    char pad[32];
    snprintf(pad, sizeof pad, "[PAD%" PRId64 "]", V->n);
    if (vocab_push(h, V, pad, strlen(pad), 0, TOK_UNUSED) != 0)
      return -1;
  }
  return vocab_push(h, V, content, strlen(content), 0, special ? TOK_CONTROL : TOK_USER_DEFINED);
}

/* Applies added tokens in id order (they may come in any order). */
typedef struct {
  int64_t id;
  const char *content;
  int special;
} added;

static int
cmp_added(const void *a, const void *b)
{
  int64_t x = ((const added *)a)->id, y = ((const added *)b)->id;
  return (x > y) - (x < y);
}

static int
read_added(hf *h, vocab *V, const kern_json_value *tcfg, int64_t n_vocab)
{
  kern_json *aj = read_json(h, "added_tokens.json");
  if (h->failed)
    return -1;
  const kern_json_value *dec = tcfg ? kern_json_get(tcfg, "added_tokens_decoder") : NULL;
  size_t n = (dec && dec->type == KERN_JSON_OBJECT ? dec->n : 0) + (aj ? kern_json_root(aj)->n : 0);
  added *list = calloc(n ? n : 1, sizeof *list);
  size_t k = 0;
  int rc = list ? 0 : fail(h, "out of memory");
  for (size_t i = 0; !rc && dec && dec->type == KERN_JSON_OBJECT && i < dec->n; i++) {
    const kern_json_value *c = kern_json_get(&dec->items[i], "content"), *s = kern_json_get(&dec->items[i], "special");
    char *end;
    long long id = strtoll(dec->keys[i], &end, 10);
    if (!c || c->type != KERN_JSON_STRING || *end || end == dec->keys[i])
      rc = fail(h, "tokenizer_config.json: added_tokens_decoder entry '%.20s' is malformed", dec->keys[i]);
    else
      list[k++] = (added){ id, c->str, s && s->type == KERN_JSON_BOOL && s->boolean };
  }
  const kern_json_value *root = aj ? kern_json_root(aj) : NULL;
  for (size_t i = 0; !rc && root && i < root->n; i++) {
    const kern_json_value *id = &root->items[i];
    if (id->type != KERN_JSON_NUMBER || !id->is_int)
      rc = fail(h, "added_tokens.json: '%.40s' has no integer id", root->keys[i]);
    else
      list[k++] = (added){ id->integer, root->keys[i], 0 };
  }
  if (!rc) {
    qsort(list, k, sizeof *list, cmp_added);
    for (size_t i = 0; !rc && i < k; i++)
      if (i == 0 || list[i].id != list[i - 1].id)
        rc = set_added(h, V, list[i].id, list[i].content, list[i].special, n_vocab);
  }
  free(list);
  kern_json_free(aj);
  return rc;
}

/* The chat template: chat_template.jinja, chat_template.json's
 * "chat_template", or tokenizer_config.json's (a string, or a list of
 * {name, template} where "default" is taken). NULL when none. */
static char *
read_template(hf *h, const kern_json_value *tcfg)
{
  size_t len;
  char *t = read_side(h, "chat_template.jinja", &len);
  if (t || h->failed)
    return t;
  kern_json *cj = read_json(h, "chat_template.json");
  const kern_json_value *v = cj ? kern_json_get(kern_json_root(cj), "chat_template") : NULL;
  if (!v && tcfg)
    v = kern_json_get(tcfg, "chat_template");
  if (v && v->type == KERN_JSON_ARRAY) {
    const kern_json_value *pick = NULL;
    for (size_t i = 0; i < v->n; i++) {
      const kern_json_value *name = kern_json_get(&v->items[i], "name");
      if (name && name->type == KERN_JSON_STRING && strcmp(name->str, "default") == 0)
        pick = kern_json_get(&v->items[i], "template");
    }
    v = pick;
  }
  t = v && v->type == KERN_JSON_STRING ? strdup(v->str) : NULL;
  kern_json_free(cj);
  return t;
}

static int
json_flag(const kern_json_value *obj, const char *key, int fallback)
{
  const kern_json_value *v = obj ? kern_json_get(obj, key) : NULL;
  return v && v->type == KERN_JSON_BOOL ? v->boolean : fallback;
}

static int
add_tokenizer(hf *h, int64_t n_vocab)
{
  vocab V = { 0 };
  kern_json *tj = NULL;
  char *tmpl = NULL;
  int rc = read_spm(h, &V);
  if (!rc) {
    tj = read_json(h, "tokenizer_config.json");
    rc = h->failed ? -1 : read_added(h, &V, tj ? kern_json_root(tj) : NULL, n_vocab);
  }
  if (!rc && V.n > n_vocab)
    rc = fail(h, "the tokenizer has %" PRId64 " tokens, the embedding %" PRId64 " rows", V.n, n_vocab);
  while (!rc && V.n < n_vocab) { /* rows past the tokenizer (padding to a multiple) */
    char pad[32];
    snprintf(pad, sizeof pad, "[PAD%" PRId64 "]", V.n);
    rc = vocab_push(h, &V, pad, strlen(pad), 0, TOK_UNUSED);
  }
  if (!rc) {
    kern_meta *items = kern_weights_view_alloc(h->view, (size_t)V.n * sizeof *items);
    float *scores = kern_weights_view_alloc(h->view, (size_t)V.n * sizeof *scores);
    int32_t *types = kern_weights_view_alloc(h->view, (size_t)V.n * sizeof *types);
    if (!items || !scores || !types) {
      rc = fail_view(h);
    } else {
      memcpy(items, V.tokens, (size_t)V.n * sizeof *items);
      memcpy(scores, V.scores, (size_t)V.n * sizeof *scores);
      memcpy(types, V.types, (size_t)V.n * sizeof *types);
      put_str(h, "tokenizer.ggml.model", "llama");
      put_str(h, "tokenizer.ggml.pre", "default");
      put(h, "tokenizer.ggml.tokens",
          (kern_meta){ .type = KERN_META_ARRAY, .elem_type = KERN_META_STRING, .n = (uint64_t)V.n, .v.items = items });
      put(h, "tokenizer.ggml.scores",
          (kern_meta){ .type = KERN_META_ARRAY, .elem_type = KERN_META_F32, .n = (uint64_t)V.n, .v.raw = scores });
      put(h, "tokenizer.ggml.token_type",
          (kern_meta){ .type = KERN_META_ARRAY, .elem_type = KERN_META_I32, .n = (uint64_t)V.n, .v.raw = types });
      /* Special ids: the text config's where it names them, else the tokenizer's. */
      int64_t bos, eos, pad;
      if (!cfg_int(h, "bos_token_id", V.bos, -1, n_vocab - 1, &bos) &&
          !cfg_int(h, "eos_token_id", V.eos, -1, n_vocab - 1, &eos) &&
          !cfg_int(h, "pad_token_id", V.pad, -1, n_vocab - 1, &pad)) {
        if (bos >= 0) put_u32(h, "tokenizer.ggml.bos_token_id", bos);
        if (eos >= 0) put_u32(h, "tokenizer.ggml.eos_token_id", eos);
        if (V.unk >= 0 && V.unk < n_vocab) put_u32(h, "tokenizer.ggml.unknown_token_id", V.unk);
        if (pad >= 0) put_u32(h, "tokenizer.ggml.padding_token_id", pad);
      }
      const kern_json_value *root = tj ? kern_json_root(tj) : NULL;
      put_bool(h, "tokenizer.ggml.add_bos_token", json_flag(root, "add_bos_token", 1));
      put_bool(h, "tokenizer.ggml.add_eos_token", json_flag(root, "add_eos_token", 0));
      put_bool(h, "tokenizer.ggml.add_space_prefix", V.add_dummy_prefix);
      tmpl = h->failed ? NULL : read_template(h, root);
      if (tmpl)
        put_str(h, "tokenizer.chat_template", tmpl);
      rc = h->failed ? -1 : 0;
    }
  }
  free(tmpl);
  kern_json_free(tj);
  free(V.tokens);
  free(V.scores);
  free(V.types);
  return rc;
}

/* ---- the model ------------------------------------------------------------ */

static int
build(hf *h)
{
  /* A LLaVA directory's language model is described by its text_config. */
  snprintf(h->cfg, sizeof h->cfg, "%s",
           kern_weights_get_meta(h->src, "config.text_config.model_type") ? "config.text_config." : "config.");
  const char *type = cfg_string(h, "model_type");
  if (!type)
    return fail(h, "config.json names no model_type: not a Hugging Face model directory");
  int mistral = strcmp(type, "mistral") == 0;
  if (strcmp(type, "llama") != 0 && !mistral)
    return fail(h, "a '%.40s' language model is not read from a Hugging Face directory (llama and mistral are; "
                   "use its GGUF)",
                type);
  const char *act = cfg_string(h, "hidden_act");
  if (act && strcmp(act, "silu") != 0)
    return fail(h, "hidden_act '%.32s' is not read (silu is)", act);
  if (cfg_true(h, "mlp_bias"))
    return fail(h, "biases in the MLP are not read");
  if (find_base(h))
    return -1;

  /* Shapes from the tensors, checked against the config where it says them
   * (configs leave out what equals the class defaults: 32 heads, eps 1e-6). */
  const kern_tensor_info *emb = src_tensor(h, -1, "embed_tokens.weight");
  if (emb->n_dims != 2)
    return fail(h, "tensor '%s' is not a matrix", emb->name);
  int64_t d = emb->ne[0], V = emb->ne[1], L = 0;
  while (L < MAX_LAYERS && src_tensor(h, (int)L, "self_attn.q_proj.weight"))
    L++;
  int64_t nh, nkv, hd, ff, L_cfg, d_cfg, V_cfg, ctx;
  double eps, theta;
  if (cfg_int(h, "hidden_size", d, 1, 1 << 16, &d_cfg) || cfg_int(h, "vocab_size", V, 1, INT32_MAX, &V_cfg) ||
      cfg_int(h, "num_hidden_layers", L, 1, MAX_LAYERS, &L_cfg) ||
      cfg_int(h, "num_attention_heads", 32, 1, 4096, &nh) || cfg_int(h, "num_key_value_heads", nh, 1, 4096, &nkv) ||
      cfg_int(h, "head_dim", d / nh, 2, 1024, &hd) ||
      cfg_int(h, "max_position_embeddings", mistral ? 4096 * 32 : 2048, 1, INT32_MAX, &ctx) ||
      cfg_float(h, "rms_norm_eps", 1e-6, 0, 1, &eps))
    return -1;
  if (d_cfg != d || V_cfg != V)
    return fail(h, "config.json says hidden_size %" PRId64 " and vocab_size %" PRId64
                   ", the embedding is [%" PRId64 ", %" PRId64 "]",
                d_cfg, V_cfg, d, V);
  if (L == 0 || L_cfg != L)
    return fail(h, "config.json says %" PRId64 " layers, the weights hold %" PRId64, L_cfg, L);
  const kern_tensor_info *gate0 = src_tensor(h, 0, "mlp.gate_proj.weight");
  if (!gate0)
    return fail(h, "tensor '%slayers.0.mlp.gate_proj.weight' is missing", h->base);
  if (cfg_int(h, "intermediate_size", gate0->ne[1], 1, 1 << 20, &ff))
    return -1;
  if (hd % 2 || nh % nkv)
    return fail(h, "%" PRId64 " heads of %" PRId64 " with %" PRId64 " key/value heads cannot be rotated", nh, hd, nkv);

  /* RoPE: rope_theta (transformers 4) or rope_parameters.rope_theta (5); scaling linear only. */
  if (cfg_float(h, "rope_theta", 10000.0, 1e-3, 1e12, &theta) ||
      (!cfg(h, "rope_theta") && cfg_float(h, "rope_parameters.rope_theta", 10000.0, 1e-3, 1e12, &theta)))
    return -1;
  const char *rtype = cfg_string(h, "rope_scaling.rope_type");
  if (!rtype) rtype = cfg_string(h, "rope_scaling.type");
  if (!rtype) rtype = cfg_string(h, "rope_parameters.rope_type");
  double factor = 1.0;
  if (rtype && strcmp(rtype, "default") != 0) {
    if (strcmp(rtype, "linear") != 0)
      return fail(h, "RoPE scaling '%.32s' is not read (linear is)", rtype);
    if (cfg_float(h, "rope_scaling.factor", 0, 1e-6, 1e6, &factor) ||
        (!cfg(h, "rope_scaling.factor") && cfg_float(h, "rope_parameters.factor", 1.0, 1e-6, 1e6, &factor)))
      return -1;
  }
  int64_t window = 0;
  if (mistral && cfg_int(h, "sliding_window", 0, 0, INT32_MAX, &window))
    return -1;
  /* llama.cpp's llama layout, the sliding window kept (as Hark's "mistral") only where one is set. */
  const char *arch = window > 0 ? "mistral" : "llama";
  put_str(h, "general.architecture", arch);
  put_str(h, "general.name", cfg_string(h, "_name_or_path") ? cfg_string(h, "_name_or_path") : h->dir);
  put_arch_u32(h, arch, "context_length", ctx);
  put_arch_u32(h, arch, "embedding_length", d);
  put_arch_u32(h, arch, "block_count", L);
  put_arch_u32(h, arch, "feed_forward_length", ff);
  put_arch_u32(h, arch, "attention.head_count", nh);
  put_arch_u32(h, arch, "attention.head_count_kv", nkv);
  if (hd != d / nh) {
    put_arch_u32(h, arch, "attention.key_length", hd);
    put_arch_u32(h, arch, "attention.value_length", hd);
  }
  put_arch_u32(h, arch, "rope.dimension_count", hd);
  put_arch_f32(h, arch, "rope.freq_base", theta);
  put_arch_f32(h, arch, "attention.layer_norm_rms_epsilon", eps);
  put_arch_u32(h, arch, "vocab_size", V);
  if (factor != 1.0) {
    char k[96];
    snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
    put_str(h, k, "linear");
    put_arch_f32(h, arch, "rope.scaling.factor", factor);
  }
  if (window > 0)
    put_arch_u32(h, arch, "attention.sliding_window", window);
  put_u32(h, "general.file_type", emb->type == KERN_TYPE_F32 ? 0 : emb->type == KERN_TYPE_BF16 ? 32 : 1);

  add(h, "token_embd.weight", emb, emb->data);
  const kern_tensor_info *norm = src_tensor(h, -1, "norm.weight");
  if (!norm)
    return fail(h, "tensor '%snorm.weight' is missing", h->base);
  add(h, "output_norm.weight", norm, norm->data);
  const kern_tensor_info *head = NULL;
  for (size_t i = 0; i < sizeof heads / sizeof heads[0] && !head; i++)
    head = kern_weights_find(h->src, heads[i]);
  if (head)
    add(h, "output.weight", head, head->data);
  else if (!cfg_true(h, "tie_word_embeddings") && !top_true(h, "config.tie_word_embeddings"))
    return fail(h, "tensor 'lm_head.weight' is missing (and the embeddings are not tied)");

  static const struct {
    const char *hf, *gg;
    int rotary; /* 1: query rows, 2: key rows */
  } map[] = {
    { "input_layernorm.weight", "attn_norm.weight", 0 },
    { "self_attn.q_proj.weight", "attn_q.weight", 1 },
    { "self_attn.k_proj.weight", "attn_k.weight", 2 },
    { "self_attn.v_proj.weight", "attn_v.weight", 0 },
    { "self_attn.o_proj.weight", "attn_output.weight", 0 },
    { "self_attn.q_proj.bias", "attn_q.bias", 1 },
    { "self_attn.k_proj.bias", "attn_k.bias", 2 },
    { "self_attn.v_proj.bias", "attn_v.bias", 0 },
    { "post_attention_layernorm.weight", "ffn_norm.weight", 0 },
    { "mlp.gate_proj.weight", "ffn_gate.weight", 0 },
    { "mlp.up_proj.weight", "ffn_up.weight", 0 },
    { "mlp.down_proj.weight", "ffn_down.weight", 0 },
  };
  for (int li = 0; li < L && !h->failed; li++)
    for (size_t e = 0; e < sizeof map / sizeof map[0] && !h->failed; e++) {
      const kern_tensor_info *t = src_tensor(h, li, map[e].hf);
      if (!t)
        continue; /* llm_model names what is missing; biases are optional */
      char name[96];
      snprintf(name, sizeof name, "blk.%d.%s", li, map[e].gg);
      if (map[e].rotary)
        add_rotary(h, name, t, map[e].rotary == 1 ? nh : nkv, hd);
      else
        add(h, name, t, t->data);
    }
  return h->failed ? -1 : add_tokenizer(h, V);
}

kern_weights *
llm_hf_view(kern_weights *src, char **err)
{
  if (err)
    *err = NULL;
  hf h = { .src = src };
  const char *path = kern_weights_path(src);
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(h.dir, sizeof h.dir, "%s", path);
  } else {
    const char *slash = strrchr(path, '/');
    snprintf(h.dir, sizeof h.dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
  }
  h.view = kern_weights_view_new(path, KERN_FORMAT_GGUF);
  if (!h.view) {
    kern_weights_close(src);
    if (err)
      *err = strdup("out of memory");
    return NULL;
  }
  if (kern_weights_view_adopt(h.view, src) != 0) {
    kern_weights_close(src);
    fail_view(&h);
  } else {
    build(&h);
  }
  if (h.failed) {
    kern_weights_close(h.view);
    if (err)
      *err = h.err ? h.err : strdup("out of memory");
    else
      free(h.err);
    return NULL;
  }
  return h.view;
}

/* llama.cpp's general.file_type for files whose matrices are all `type`; -1 when it has none. */
static int
file_type(int type)
{
  static const struct {
    int type, ftype;
  } map[] = { { KERN_TYPE_F32, 0 },  { KERN_TYPE_F16, 1 },  { KERN_TYPE_Q4_0, 2 },  { KERN_TYPE_Q4_1, 3 },
              { KERN_TYPE_Q8_0, 7 }, { KERN_TYPE_Q5_0, 8 }, { KERN_TYPE_Q5_1, 9 }, { KERN_TYPE_Q6_K, 18 },
              { KERN_TYPE_BF16, 32 } };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (map[i].type == type)
      return map[i].ftype;
  return -1;
}

int
llm_convert_gguf(const char *in, const char *out, int type, char **err)
{
  if (err)
    *err = NULL;
  char *e = NULL;
  kern_weights *w = kern_weights_open(in, &e);
  int rc = 0;
  if (w && (kern_weights_format(w) == KERN_FORMAT_SAFETENSORS ? !decoder_base(w)
                                                             : kern_weights_format(w) != KERN_FORMAT_GGUF ||
                                                                   !kern_weights_find(w, "token_embd.weight"))) {
    if (asprintf(&e, "%s: not a language model (no token embedding)", in) < 0)
      e = NULL;
    rc = KERN_E_INVAL;
  }
  if (w && !rc && kern_weights_format(w) == KERN_FORMAT_SAFETENSORS) {
    w = llm_hf_view(w, &e);
    rc = w ? 0 : KERN_E_FORMAT;
  }
  const kern_type_traits *tr = kern_type_get_traits(type);
  if (w && !rc && (!tr || (type != KERN_TYPE_F32 && type != KERN_TYPE_F16 && !kern_type_can_quantize(type)))) {
    if (asprintf(&e, "matrices cannot be written as %s (f32, f16, bf16 or a quantized type)",
                 tr ? tr->name : "?") < 0)
      e = NULL;
    rc = KERN_E_UNSUPPORTED;
  }
  kern_gguf_writer *g = w && !rc ? kern_gguf_writer_new() : NULL;
  if (w && !rc && !g)
    rc = KERN_E_NOMEM;
  for (int64_t i = 0; g && !rc && i < kern_weights_n_meta(w); i++) {
    const char *key;
    const kern_meta *m = kern_weights_meta_at(w, i, &key);
    if (strcmp(key, "general.file_type") != 0 && strcmp(key, "general.alignment") != 0)
      rc = kern_gguf_set_meta(g, key, m);
  }
  if (g && !rc && file_type(type) >= 0)
    rc = kern_gguf_set_u32(g, "general.file_type", (uint32_t)file_type(type));
  if (g && rc && !e && asprintf(&e, "%s: cannot copy the metadata", in) < 0)
    e = NULL;
  for (int64_t i = 0; g && !rc && i < kern_weights_n_tensors(w); i++) {
    const kern_tensor_info *t = kern_weights_tensor_at(w, i);
    rc = kern_gguf_add_converted(g, t->name, t, t->n_dims >= 2 && t->ne[1] > 1 ? type : KERN_TYPE_F32);
    if (rc && asprintf(&e, "%s: tensor '%s': %s", in, t->name, kern_strerror(rc)) < 0)
      e = NULL;
  }
  if (g && !rc)
    rc = kern_gguf_write(g, out, &e);
  if (!w && !rc)
    rc = KERN_E_FORMAT;
  kern_gguf_writer_free(g);
  kern_weights_close(w);
  if (rc && err)
    *err = e ? e : strdup("out of memory");
  else
    free(e);
  return rc;
}
