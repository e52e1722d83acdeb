/* llm-session.c: the conversation, its rendering, KV reuse, and the reply loop.
 *
 * The conversation is kept as text turns and rendered whole with the chat
 * template on each turn; the rendered tokens are compared with the tokens in
 * the KV cache (`cached`) and only the part after the common prefix is
 * decoded. Stop strings are matched on the reply's bytes; the longest tail
 * that could still become a stop string is held back from on_text until it
 * cannot. */
#include "llm-session.h"

#include "kern-cpu.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STOPS 32

/* Where a user turn's images sit in its content: the rendered conversation is
 * split at these and each image's embeddings are read in their place. A byte
 * no template emits and no tokenizer sees. */
#define IMAGE_MARK "\x01<image>\x01"

typedef struct {
  float *embd;  /* [n_tokens][n_embd] */
  int n_tokens;
  int32_t id;   /* < 0: the id its positions carry in `cached` (unique per image) */
} image;

typedef struct {
  char *role;
  char *content; /* with one IMAGE_MARK per image */
  image *imgs;
  int n_imgs;
} turn;

struct llm_session {
  llm_model *m;
  llm_tokenizer *tok;
  int tmpl;
  char *system;           /* NULL: none */
  llm_session_params p;
  llm_sampler *sampler;
  const char *stops[MAX_STOPS];
  char owned[MAX_STOPS];  /* stops[i] is our copy of a caller's string */
  int n_stops;

  turn *turns;            /* (n_turns) user/assistant turns, oldest first */
  int n_turns, cap_turns;

  int32_t *cached;        /* (n_cached) tokens whose keys/values are in the KV cache */
  size_t n_cached, cap_cached;
  float *logits;          /* (n_vocab) after the last decode */
  int32_t next_image_id;  /* counts down from -1 */
  char errmsg[512];
};

static void
free_turn(turn *t)
{
  free(t->role), free(t->content);
  for (int i = 0; i < t->n_imgs; i++)
    free(t->imgs[i].embd);
  free(t->imgs);
}

__attribute__((format(printf, 3, 4))) static int
fail(llm_session *s, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
  va_end(ap);
  return code;
}

llm_session_params
llm_session_default_params(void)
{
  llm_session_params p = { 0 };
  p.chat_template = LLM_TEMPLATE_UNKNOWN;
  p.sampling = llm_sampler_default_params();
  return p;
}

const char *
llm_stop_reason_name(llm_stop_reason r)
{
  switch (r) {
  case LLM_STOP_NONE: return "none";
  case LLM_STOP_EOG: return "end of turn";
  case LLM_STOP_STRING: return "stop string";
  case LLM_STOP_LIMIT: return "token limit";
  case LLM_STOP_ABORTED: return "stopped";
  case LLM_STOP_CONTEXT: return "context full";
  }
  return "?";
}

/* Adds a stop string (not copied); 0 when it is empty, known or there is no room. */
static int
add_stop(llm_session *s, const char *stop)
{
  if (!stop || !*stop || s->n_stops >= MAX_STOPS)
    return 0;
  for (int i = 0; i < s->n_stops; i++)
    if (!strcmp(s->stops[i], stop))
      return 0;
  s->stops[s->n_stops++] = stop;
  return 1;
}

llm_session *
llm_session_new(llm_model *m, const llm_session_params *p, char **err)
{
  llm_session_params defaults = llm_session_default_params();
  if (!p)
    p = &defaults;
  char *tok_err = NULL;
  llm_tokenizer *tok = llm_tokenizer_new(llm_model_weights(m), &tok_err);
  if (!tok) {
    if (err)
      *err = tok_err;
    else
      free(tok_err);
    return NULL;
  }
  const char *jinja = kern_weights_get_string(llm_model_weights(m), "tokenizer.chat_template", NULL);
  int tmpl = p->chat_template != LLM_TEMPLATE_UNKNOWN ? p->chat_template : llm_template_detect(jinja);
  if (tmpl == LLM_TEMPLATE_UNKNOWN) {
    if (err) {
      const char *why = jinja ? "its chat template is not one Hark knows" : "it has no chat template";
      size_t n = strlen(why) + 96;
      *err = malloc(n);
      if (*err)
        snprintf(*err, n, "%s; choose one with --chat-template (chatml, llama2, llama3, mistral, vicuna, gemma, phi3)",
                 why);
    }
    llm_tokenizer_free(tok);
    return NULL;
  }
  llm_session *s = calloc(1, sizeof *s);
  int n_vocab = llm_model_hparams(m)->n_vocab;
  if (s)
    s->logits = malloc((size_t)n_vocab * sizeof *s->logits);
  if (s)
    s->sampler = llm_sampler_new(p->sampling);
  if (!s || !s->logits || !s->sampler) {
    if (err)
      *err = strdup("out of memory");
    if (s) {
      free(s->logits);
      llm_sampler_free(s->sampler);
    }
    free(s);
    llm_tokenizer_free(tok);
    return NULL;
  }
  s->m = m;
  s->tok = tok;
  s->next_image_id = -1;
  s->tmpl = tmpl;
  s->p = *p;
  s->p.stop = NULL; /* the strings are copied below */
  if (p->system)
    s->system = strdup(p->system);
  else if (jinja && p->chat_template == LLM_TEMPLATE_UNKNOWN)
    s->system = llm_template_default_system(jinja);
  for (const char *const *st = llm_template_stops(tmpl); st && *st; st++)
    add_stop(s, *st); /* static strings */
  for (const char *const *st = p->stop; st && *st; st++) {
    char *copy = strdup(*st);
    if (copy && add_stop(s, copy))
      s->owned[s->n_stops - 1] = 1;
    else
      free(copy);
  }
  return s;
}

void
llm_session_free(llm_session *s)
{
  if (!s)
    return;
  for (int i = 0; i < s->n_stops; i++)
    if (s->owned[i])
      free((char *)s->stops[i]);
  for (int i = 0; i < s->n_turns; i++)
    free_turn(&s->turns[i]);
  free(s->turns);
  free(s->cached);
  free(s->logits);
  free(s->system);
  llm_sampler_free(s->sampler);
  llm_tokenizer_free(s->tok);
  free(s);
}

const char *
llm_session_errmsg(const llm_session *s)
{
  return s->errmsg;
}

const llm_tokenizer *
llm_session_tokenizer(const llm_session *s)
{
  return s->tok;
}

int
llm_session_template(const llm_session *s)
{
  return s->tmpl;
}

int
llm_session_n_turns(const llm_session *s)
{
  return s->n_turns;
}

int
llm_session_n_cached(const llm_session *s)
{
  return (int)s->n_cached;
}

void
llm_session_reset(llm_session *s)
{
  for (int i = 0; i < s->n_turns; i++)
    free_turn(&s->turns[i]);
  s->n_turns = 0;
  s->n_cached = 0;
  llm_model_kv_truncate(s->m, 0);
  llm_sampler_reset(s->sampler);
}

void
llm_session_clear_turns(llm_session *s)
{
  for (int i = 0; i < s->n_turns; i++)
    free_turn(&s->turns[i]);
  s->n_turns = 0;
  llm_sampler_reset(s->sampler);
}

/* content with a mark per image before it (as LLaVA places "<image>\n"), and
 * any mark the text itself holds made harmless. malloc'd. */
static char *
content_with_marks(const char *content, int n_imgs)
{
  size_t ml = strlen(IMAGE_MARK), n = strlen(content);
  char *out = malloc((size_t)n_imgs * (ml + 1) + n + 1), *o = out;
  if (!out)
    return NULL;
  for (int i = 0; i < n_imgs; i++) {
    memcpy(o, IMAGE_MARK, ml), o += ml;
    *o++ = '\n';
  }
  for (size_t i = 0; i < n; i++)
    *o++ = content[i] == '\x01' ? ' ' : content[i];
  *o = 0;
  return out;
}

static int
push_turn_images(llm_session *s, const char *role, const char *content, const llm_image *imgs, int n_imgs)
{
  if (s->n_turns == s->cap_turns) {
    int cap = s->cap_turns ? 2 * s->cap_turns : 16;
    turn *t = realloc(s->turns, (size_t)cap * sizeof *t);
    if (!t)
      return fail(s, KERN_E_NOMEM, "out of memory");
    s->turns = t, s->cap_turns = cap;
  }
  turn *t = &s->turns[s->n_turns];
  memset(t, 0, sizeof *t);
  t->role = strdup(role);
  t->content = content_with_marks(content, n_imgs);
  int ok = t->role && t->content;
  if (ok && n_imgs > 0)
    ok = (t->imgs = calloc((size_t)n_imgs, sizeof *t->imgs)) != NULL;
  int d = llm_model_hparams(s->m)->n_embd;
  for (int i = 0; ok && i < n_imgs; i++) {
    size_t bytes = (size_t)imgs[i].n_tokens * (size_t)d * sizeof(float);
    ok = (t->imgs[i].embd = malloc(bytes)) != NULL;
    if (ok) {
      memcpy(t->imgs[i].embd, imgs[i].embd, bytes);
      t->imgs[i].n_tokens = imgs[i].n_tokens;
      t->imgs[i].id = s->next_image_id;
      s->next_image_id = s->next_image_id == INT32_MIN ? -1 : s->next_image_id - 1;
      t->n_imgs = i + 1;
    }
  }
  if (!ok) {
    free_turn(t);
    return fail(s, KERN_E_NOMEM, "out of memory");
  }
  s->n_turns++;
  return 0;
}

static int
push_turn(llm_session *s, const char *role, const char *content)
{
  return push_turn_images(s, role, content, NULL, 0);
}

int
llm_session_add_turn(llm_session *s, const char *role, const char *content)
{
  if (!role || !content || (strcmp(role, "user") && strcmp(role, "assistant")))
    return fail(s, KERN_E_INVAL, "a turn's role is user or assistant, and it needs content");
  return push_turn(s, role, content);
}

static void
drop_oldest_turns(llm_session *s, int n)
{
  for (int i = 0; i < n; i++)
    free_turn(&s->turns[i]);
  memmove(s->turns, s->turns + n, (size_t)(s->n_turns - n) * sizeof *s->turns);
  s->n_turns -= n;
}

/* The conversation from turn `first` on (and the system prompt) as the
 * template renders it, ready for the assistant's turn, followed by `partial`
 * (a reply in progress) when not NULL. */
static char *
render(llm_session *s, int first, const char *partial)
{
  int n = s->n_turns - first + (s->system ? 1 : 0);
  llm_chat_msg *msgs = malloc((size_t)(n ? n : 1) * sizeof *msgs);
  if (!msgs)
    return NULL;
  int k = 0;
  if (s->system)
    msgs[k++] = (llm_chat_msg){ "system", s->system };
  for (int i = first; i < s->n_turns; i++)
    msgs[k++] = (llm_chat_msg){ s->turns[i].role, s->turns[i].content };
  char *text = llm_template_apply(s->tmpl, msgs, (size_t)k, 1);
  free(msgs);
  if (text && partial && *partial) {
    size_t a = strlen(text), b = strlen(partial);
    char *t = realloc(text, a + b + 1);
    if (!t) {
      free(text);
      return NULL;
    }
    memcpy(t + a, partial, b + 1);
    text = t;
  }
  return text;
}

/* Tokens of a rendered conversation: control-token text becomes the control
 * token; BOS is added as the file says unless the rendering starts with it.
 * The conversation from turn `first` on holds image marks: the text between
 * them is tokenized piece by piece (as LLaVA does: BOS on the first piece
 * only) and each image's positions get its id (< 0) in ids. */
static int
tokenize(llm_session *s, const char *text, int first, int32_t **ids, size_t *n)
{
  size_t cap = 0;
  *ids = NULL, *n = 0;
  int add_special = llm_template_bos_text(s->tmpl) == NULL;
  int ti = first, ii = 0; /* the next image: turn ti, image ii */
  const size_t ml = strlen(IMAGE_MARK);
  const char *p = text;
  int rc = 0;
  for (int piece = 0;; piece++) {
    const char *mark = strstr(p, IMAGE_MARK);
    size_t len = mark ? (size_t)(mark - p) : strlen(p);
    if (len > 0 || (piece == 0 && add_special))
      rc = llm_tokenizer_encode(s->tok, p, len, piece == 0 && add_special, 1, ids, n, &cap);
    if (rc != 0)
      break;
    /* A file that asks for EOS after every text: not after a prompt or before an image. */
    int32_t eos = llm_tokenizer_eos(s->tok);
    if (piece == 0 && add_special && llm_tokenizer_add_eos(s->tok) && *n > 0 && (*ids)[*n - 1] == eos)
      (*n)--;
    if (!mark)
      break;
    while (ti < s->n_turns && ii >= s->turns[ti].n_imgs)
      ti++, ii = 0;
    if (ti >= s->n_turns) {
      rc = fail(s, KERN_E_INVAL, "the rendered conversation holds more images than its turns");
      break;
    }
    const image *im = &s->turns[ti].imgs[ii++];
    if (*n + (size_t)im->n_tokens > cap) {
      size_t nc = *n + (size_t)im->n_tokens + 256;
      int32_t *g = realloc(*ids, nc * sizeof *g);
      if (!g) {
        rc = KERN_E_NOMEM;
        break;
      }
      *ids = g, cap = nc;
    }
    for (int i = 0; i < im->n_tokens; i++)
      (*ids)[(*n)++] = im->id;
    p = mark + ml;
  }
  if (rc != 0) {
    free(*ids);
    *ids = NULL;
    *n = 0;
    return s->errmsg[0] && rc == KERN_E_INVAL ? rc : fail(s, rc, "cannot tokenize the conversation");
  }
  return 0;
}

/* The image whose positions carry id (< 0). */
static const image *
image_of(const llm_session *s, int32_t id)
{
  for (int t = 0; t < s->n_turns; t++)
    for (int i = 0; i < s->turns[t].n_imgs; i++)
      if (s->turns[t].imgs[i].id == id)
        return &s->turns[t].imgs[i];
  return NULL;
}

/* Decodes ids[from..n) at positions from.., text runs as tokens and image
 * runs as their embeddings; logits of the last position into s->logits. */
static int
decode_span(llm_session *s, const int32_t *ids, size_t from, size_t n)
{
  int d = llm_model_hparams(s->m)->n_embd;
  size_t i = from;
  while (i < n) {
    size_t j = i;
    if (ids[i] >= 0) {
      while (j < n && ids[j] >= 0)
        j++;
      int rc = llm_model_decode(s->m, ids + i, (int)(j - i), (int)i, j == n ? s->logits : NULL, 0);
      if (rc != 0)
        return rc;
    } else {
      const image *im = image_of(s, ids[i]);
      size_t start = i; /* where this image's run began: the run may be entered midway */
      while (start > 0 && ids[start - 1] == ids[i])
        start--;
      while (j < n && ids[j] == ids[i])
        j++;
      if (!im || j - start > (size_t)im->n_tokens)
        return fail(s, KERN_E_INVAL, "an image of the conversation is missing");
      int rc = llm_model_decode_embd(s->m, im->embd + (i - start) * (size_t)d, (int)(j - i), (int)i,
                                     j == n ? s->logits : NULL, 0);
      if (rc != 0)
        return rc;
    }
    i = j;
  }
  return 0;
}

/* Brings the KV cache to ids[0..n): keeps the common prefix, decodes the rest
 * (at least the last position, for its logits). */
static int
sync_cache(llm_session *s, const int32_t *ids, size_t n, llm_session_stats *st)
{
  if (n == 0)
    return fail(s, KERN_E_INVAL, "the conversation renders to no tokens");
  size_t common = 0;
  while (common < n && common < s->n_cached && s->cached[common] == ids[common])
    common++;
  if (common == n)
    common = n - 1;
  if (n > s->cap_cached) {
    size_t cap = n + 256;
    int32_t *c = realloc(s->cached, cap * sizeof *c);
    if (!c)
      return fail(s, KERN_E_NOMEM, "out of memory");
    s->cached = c, s->cap_cached = cap;
  }
  s->errmsg[0] = 0;
  int rc = llm_model_kv_truncate(s->m, (int)common);
  s->n_cached = common;
  if (rc == 0)
    rc = decode_span(s, ids, common, n);
  if (rc != 0) {
    /* What was decoded before the failure stays valid. */
    int kept = llm_model_kv_count(s->m);
    if (kept >= 0 && (size_t)kept <= n) {
      memcpy(s->cached + common, ids + common, ((size_t)kept > common ? (size_t)kept - common : 0) * sizeof *ids);
      s->n_cached = (size_t)kept;
    }
    return s->errmsg[0] ? rc : fail(s, rc, "%s", llm_model_errmsg(s->m));
  }
  memcpy(s->cached + common, ids + common, (n - common) * sizeof *ids);
  s->n_cached = n;
  for (size_t i = common; i < n; i++)
    if (ids[i] >= 0)
      llm_sampler_accept(s->sampler, ids[i]);
  if (st) {
    st->n_prompt += (int)(n - common);
    st->n_reused += (int)common;
  }
  return 0;
}

/* Renders and tokenizes the conversation (+ partial reply), dropping the
 * oldest turns until it leaves `reserve` positions free. The newest turn is
 * never dropped. */
static int
render_fitting(llm_session *s, const char *partial, int reserve, int32_t **ids, size_t *n, llm_session_stats *st)
{
  int n_ctx = llm_model_hparams(s->m)->n_ctx;
  for (int pass = 0;; pass++) {
    char *text = render(s, 0, partial);
    if (!text)
      return fail(s, KERN_E_NOMEM, "cannot render the conversation");
    int rc = tokenize(s, text, 0, ids, n);
    free(text);
    if (rc != 0)
      return rc;
    if ((long)*n + reserve <= n_ctx)
      return 0;
    if (pass == 0 && s->n_turns > 1) {
      /* Before dropping anything: does the newest turn fit on its own? */
      int32_t *one = NULL;
      size_t n_one = 0;
      text = render(s, s->n_turns - 1, partial);
      rc = text ? tokenize(s, text, s->n_turns - 1, &one, &n_one) : fail(s, KERN_E_NOMEM, "cannot render the conversation");
      free(text);
      free(one);
      if (rc == 0 && (long)n_one >= n_ctx)
        rc = fail(s, KERN_E_INVAL, "the message needs %zu tokens; the context holds %d (raise --ctx)", n_one,
                  n_ctx);
      if (rc != 0) {
        free(*ids);
        *ids = NULL;
        return rc;
      }
    }
    /* Drop the oldest user turn and everything up to the next user turn. */
    int drop = 1;
    while (drop < s->n_turns && strcmp(s->turns[drop].role, "user") != 0)
      drop++;
    if (drop >= s->n_turns) {
      if ((long)*n < n_ctx)
        return 0; /* the newest turn alone: let the reply use what is left */
      rc = fail(s, KERN_E_INVAL, "the conversation needs %zu tokens; the context holds %d (raise --ctx)", *n,
                n_ctx);
      free(*ids);
      *ids = NULL;
      return rc;
    }
    free(*ids);
    *ids = NULL;
    drop_oldest_turns(s, drop);
    if (st)
      st->n_dropped_turns += drop;
  }
}

/* Bytes at the end of text[0..len) that begin some stop string (held back). */
static size_t
stop_holdback(const llm_session *s, const char *text, size_t len)
{
  size_t best = 0;
  for (int i = 0; i < s->n_stops; i++) {
    size_t sl = strlen(s->stops[i]);
    for (size_t k = sl - 1 < len ? sl - 1 : len; k > best; k--)
      if (!memcmp(text + len - k, s->stops[i], k)) {
        best = k;
        break;
      }
  }
  return best;
}

typedef struct {
  char *buf;
  size_t len, cap;
} strbuf;

static int
sb_append(strbuf *b, const char *t, size_t n)
{
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->len + n + 1) * 2;
    char *p = realloc(b->buf, cap);
    if (!p)
      return -1;
    b->buf = p, b->cap = cap;
  }
  memcpy(b->buf + b->len, t, n);
  b->len += n;
  b->buf[b->len] = 0;
  return 0;
}

static int
check_images(llm_session *s, const llm_image *images, int n_images)
{
  if (n_images < 0 || (n_images > 0 && !images))
    return fail(s, KERN_E_INVAL, "%d images", n_images);
  int d = llm_model_hparams(s->m)->n_embd;
  for (int i = 0; i < n_images; i++) {
    if (!images[i].embd || images[i].n_tokens < 1)
      return fail(s, KERN_E_INVAL, "image %d has no embeddings", i + 1);
    if (images[i].n_embd != d)
      return fail(s, KERN_E_INVAL, "image %d has embeddings of %d values; the language model's are %d wide "
                  "(is the projector made for this model?)", i + 1, images[i].n_embd, d);
  }
  return 0;
}

int
llm_session_add_turn_images(llm_session *s, const char *user_text, const llm_image *images, int n_images)
{
  if (!user_text)
    return fail(s, KERN_E_INVAL, "a turn needs content");
  int rc = check_images(s, images, n_images);
  return rc ? rc : push_turn_images(s, "user", user_text, images, n_images);
}

int
llm_session_chat(llm_session *s, const char *user_text, char **reply, llm_session_stats *stats)
{
  return llm_session_chat_images(s, user_text, NULL, 0, reply, stats);
}

int
llm_session_chat_images(llm_session *s, const char *user_text, const llm_image *images, int n_images, char **reply,
                        llm_session_stats *stats)
{
  llm_session_stats st = { 0 };
  if (reply)
    *reply = NULL;
  if (!user_text)
    return fail(s, KERN_E_INVAL, "no message");
  int rc = check_images(s, images, n_images);
  if (rc == 0)
    rc = push_turn_images(s, "user", user_text, images, n_images);
  if (rc != 0)
    return rc;
  int n_ctx = llm_model_hparams(s->m)->n_ctx;
  int reserve = s->p.n_predict > 0 ? s->p.n_predict : 256;
  if (reserve > n_ctx / 4)
    reserve = n_ctx / 4;

  int32_t *ids = NULL;
  size_t n_ids = 0;
  double t0 = kern_clock_s();
  rc = render_fitting(s, NULL, reserve, &ids, &n_ids, &st);
  if (rc == 0)
    rc = sync_cache(s, ids, n_ids, &st);
  free(ids);
  st.prompt_s = kern_clock_s() - t0;
  if (rc == KERN_E_ABORTED)
    fail(s, rc, "stopped before the reply began");
  if (rc != 0) {
    s->n_turns--; /* the user turn that could not be read */
    free_turn(&s->turns[s->n_turns]);
    if (stats)
      *stats = st;
    return rc;
  }

  strbuf out = { 0 };     /* the reply's valid UTF-8 so far */
  size_t emitted = 0;     /* bytes of out given to on_text */
  size_t stop_at = (size_t)-1;
  llm_utf8_stream u8 = { 0 };
  char piece[256], valid[LLM_UTF8_STREAM_CAP(256)];
  const int n_vocab = llm_model_hparams(s->m)->n_vocab;
  double g0 = kern_clock_s();
  st.stop = LLM_STOP_NONE;
  while (st.stop == LLM_STOP_NONE) {
    if (s->p.should_abort && s->p.should_abort(s->p.user_data)) {
      st.stop = LLM_STOP_ABORTED;
      break;
    }
    int32_t id = llm_sampler_sample(s->sampler, s->logits, n_vocab);
    if (id < 0) {
      rc = fail(s, KERN_E_INVAL, "sampling failed");
      break;
    }
    if (llm_tokenizer_is_eog(s->tok, id)) {
      st.stop = LLM_STOP_EOG;
      break;
    }
    llm_sampler_accept(s->sampler, id);
    st.n_gen++;
    size_t pn = llm_tokenizer_piece(s->tok, id, 0, piece, sizeof piece);
    size_t vn = llm_utf8_stream_feed(&u8, piece, pn < sizeof piece ? pn : sizeof piece, valid, sizeof valid);
    if (vn && sb_append(&out, valid, vn) != 0) {
      rc = fail(s, KERN_E_NOMEM, "out of memory");
      break;
    }
    /* Stop strings: search the part that could hold a new match. */
    size_t from = emitted;
    for (int i = 0; i < s->n_stops && out.buf; i++) {
      const char *hit = strstr(out.buf + from, s->stops[i]);
      if (hit && (size_t)(hit - out.buf) < stop_at)
        stop_at = (size_t)(hit - out.buf);
    }
    if (stop_at != (size_t)-1) {
      st.stop = LLM_STOP_STRING;
      break;
    }
    size_t safe = out.len - stop_holdback(s, out.buf ? out.buf : "", out.len);
    if (safe > emitted && s->p.on_text)
      s->p.on_text(out.buf + emitted, safe - emitted, s->p.user_data);
    if (safe > emitted)
      emitted = safe;
    if (s->p.n_predict > 0 && st.n_gen >= s->p.n_predict) {
      st.stop = LLM_STOP_LIMIT;
      break;
    }
    if ((int)s->n_cached + 1 > n_ctx) {
      /* Full: drop old turns and re-read the conversation with the reply so far. */
      int before = st.n_dropped_turns;
      rc = render_fitting(s, out.buf ? out.buf : "", n_ctx / 4, &ids, &n_ids, &st);
      if (rc != 0 || st.n_dropped_turns == before) {
        free(ids);
        ids = NULL;
        rc = 0;
        s->errmsg[0] = 0;
        st.stop = LLM_STOP_CONTEXT;
        break;
      }
      rc = sync_cache(s, ids, n_ids, NULL);
      free(ids);
      ids = NULL;
      if (rc != 0)
        break;
      continue;
    }
    if (s->n_cached + 1 > s->cap_cached) {
      size_t cap = s->cap_cached * 2 + 256;
      int32_t *c = realloc(s->cached, cap * sizeof *c);
      if (!c) {
        rc = fail(s, KERN_E_NOMEM, "out of memory");
        break;
      }
      s->cached = c, s->cap_cached = cap;
    }
    rc = llm_model_decode(s->m, &id, 1, (int)s->n_cached, s->logits, 0);
    if (rc == KERN_E_ABORTED) { /* the model's own abort check (between layers) */
      rc = 0;
      st.stop = LLM_STOP_ABORTED;
      break;
    }
    if (rc != 0) {
      fail(s, rc, "%s", llm_model_errmsg(s->m));
      break;
    }
    s->cached[s->n_cached++] = id;
  }
  st.gen_s = kern_clock_s() - g0;

  /* The rest: bytes still held by the UTF-8 stream, then what the stop-string
   * hold-back kept, up to a stop string. */
  size_t vn = llm_utf8_stream_flush(&u8, valid, sizeof valid);
  if (vn && st.stop != LLM_STOP_STRING)
    sb_append(&out, valid, vn);
  size_t end = stop_at != (size_t)-1 ? stop_at : out.len;
  if (end > emitted && s->p.on_text)
    s->p.on_text(out.buf + emitted, end - emitted, s->p.user_data);
  if (out.buf)
    out.buf[end] = 0;
  int keep = push_turn(s, "assistant", out.buf ? out.buf : "");
  if (rc == 0)
    rc = keep;
  if (reply)
    *reply = out.buf ? out.buf : strdup("");
  else
    free(out.buf);
  if (stats)
    *stats = st;
  return rc;
}
