/* aud-transcribe.c: long-form Whisper transcription, decoding as OpenAI's
 * reference does (whisper/transcribe.py and decoding.py are the
 * specification: window seeking, prompts, logit filters, greedy/beam search,
 * temperature fallback, no-speech skipping).
 *
 * Names follow the reference: sample_begin is the index of the first sampled
 * token, "tokens" of a sequence are those after it. Time is in mel frames
 * (10 ms) while seeking; timestamp tokens count 20 ms (2 frames).
 */
#include "aud-transcribe.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "aud-align.h"
#include "aud-decode.h"
#include "aud-mel.h"

#define N_FRAMES AUD_MEL_CHUNK_FRAMES    /* 3000 frames per window */
#define N_SAMPLES AUD_MEL_CHUNK_SAMPLES  /* 480000 samples per window */
#define HOP AUD_MEL_HOP                  /* 160 samples per frame */
#define SAMPLE_RATE AUD_MEL_SAMPLE_RATE
#define INPUT_STRIDE 2                   /* mel frames per encoder position / timestamp step */
#define TIME_PRECISION 0.02              /* seconds per timestamp token */
#define MAX_BEAMS 16

aud_transcribe_params
aud_transcribe_default_params(void)
{
  aud_transcribe_params p = {
    .language = NULL,
    .beam_size = 5,
    .patience = 1.0f,
    .best_of = 5,
    .n_temperatures = 6,
    .compression_ratio_threshold = 2.4f,
    .logprob_threshold = -1.0f,
    .no_speech_threshold = 0.6f,
    .condition_on_previous_text = 1,
    .suppress_blank = 1,
    .max_initial_timestamp = 1.0f,
    .seed = 0x5eed,
  };
  for (int i = 0; i < 6; i++)
    p.temperatures[i] = 0.2f * (float)i;
  return p;
}

float
aud_compression_ratio(const char *text)
{
  uLong n = (uLong)strlen(text);
  if (n == 0)
    return 0;
  uLongf cap = compressBound(n);
  Bytef *buf = malloc(cap);
  if (!buf)
    return 0;
  /* The reference uses zlib.compress at its default level. */
  float r = compress2(buf, &cap, (const Bytef *)text, n, Z_DEFAULT_COMPRESSION) == Z_OK ? (float)n / (float)cap : 0;
  free(buf);
  return r;
}

/* ---- context ------------------------------------------------------------- */

typedef struct {
  int32_t *tokens; /* sampled tokens (after sample_begin), eot included when finished */
  int n, cap;
  double sum_logprob;
  int seq;         /* the model's decoder sequence (KV cache slot) holding it */
} hyp;

typedef struct {
  aud_whisper *w;
  const aud_tokenizer *tok;
  const aud_tokenizer_specials *sp;
  const aud_transcribe_params *p;
  int V, n_text_ctx, n_seq;
  float *logits;     /* (MAX_BEAMS, V) */
  double *lp;        /* (V) log-probabilities of one row */
  int32_t *blank;    /* encode(" ") + eot */
  size_t n_blank;
  const int32_t *suppress;
  size_t n_suppress;
  uint64_t rng;
  char err[1024];
} ctx;

static int fail(ctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(ctx *c, int code, const char *fmt, ...)
{
  if (c->err[0])
    return code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err, sizeof c->err, fmt, ap);
  va_end(ap);
  return code;
}

static int
hyp_push(hyp *h, int32_t t)
{
  if (h->n == h->cap) {
    int cap = h->cap ? h->cap * 2 : 64;
    int32_t *p = realloc(h->tokens, (size_t)cap * sizeof *p);
    if (!p)
      return KERN_E_NOMEM;
    h->tokens = p;
    h->cap = cap;
  }
  h->tokens[h->n++] = t;
  return 0;
}

static int
hyp_copy(hyp *dst, const hyp *src)
{
  dst->n = 0;
  for (int i = 0; i < src->n; i++)
    if (hyp_push(dst, src->tokens[i]))
      return KERN_E_NOMEM;
  dst->sum_logprob = src->sum_logprob;
  return 0;
}

/* ---- logit filters (SuppressBlank, SuppressTokens, ApplyTimestampRules) ---- */

static void
apply_filters(ctx *c, float *logits, const hyp *h)
{
  const aud_tokenizer_specials *sp = c->sp;
  const float ninf = -INFINITY;
  if (c->p->suppress_blank && h->n == 0)
    for (size_t i = 0; i < c->n_blank; i++)
      logits[c->blank[i]] = ninf;
  for (size_t i = 0; i < c->n_suppress; i++)
    logits[c->suppress[i]] = ninf;
  if (c->p->without_timestamps)
    return;

  int32_t tb = sp->timestamp_begin;
  if (sp->no_timestamps >= 0)
    logits[sp->no_timestamps] = ninf;
  int last_ts = h->n >= 1 && h->tokens[h->n - 1] >= tb;
  int penult_ts = h->n < 2 || h->tokens[h->n - 2] >= tb;
  if (last_ts) {
    if (penult_ts) /* two timestamps in a row: text must follow */
      for (int i = tb; i < c->V; i++)
        logits[i] = ninf;
    else /* a timestamp closing a segment: another timestamp or end must follow */
      for (int i = 0; i < sp->eot; i++)
        logits[i] = ninf;
  }
  /* Timestamps never decrease. */
  int32_t last = -1;
  for (int i = h->n - 1; i >= 0 && last < 0; i--)
    if (h->tokens[i] >= tb)
      last = h->tokens[i];
  if (last >= 0) {
    int32_t limit = last_ts && !penult_ts ? last : last + 1;
    for (int32_t i = tb; i < limit && i < c->V; i++)
      logits[i] = ninf;
  }
  if (h->n == 0) {
    /* The first token is a timestamp, at most max_initial_timestamp in. */
    for (int i = 0; i < tb; i++)
      logits[i] = ninf;
    if (c->p->max_initial_timestamp > 0) {
      int last_allowed = tb + (int)lround(c->p->max_initial_timestamp / TIME_PRECISION);
      for (int i = last_allowed + 1; i < c->V; i++)
        logits[i] = ninf;
    }
  }
  /* If the timestamps together are likelier than any text token, take one. */
  double mx = -INFINITY;
  for (int i = 0; i < c->V; i++)
    if (logits[i] > mx)
      mx = logits[i];
  if (!isfinite(mx))
    return;
  double sum = 0, ts_sum = 0, text_max = -INFINITY;
  for (int i = 0; i < c->V; i++) {
    double e = exp((double)logits[i] - mx);
    sum += e;
    if (i >= tb)
      ts_sum += e;
    else if (logits[i] > text_max)
      text_max = logits[i];
  }
  double ts_logprob = log(ts_sum) - log(sum);
  double text_logprob = text_max - mx - log(sum);
  if (ts_logprob > text_logprob)
    for (int i = 0; i < tb; i++)
      logits[i] = ninf;
}

/* log_softmax of a filtered row into c->lp. */
static void
log_softmax(ctx *c, const float *logits)
{
  double mx = -INFINITY, sum = 0;
  for (int i = 0; i < c->V; i++)
    if (logits[i] > mx)
      mx = logits[i];
  for (int i = 0; i < c->V; i++)
    sum += exp((double)logits[i] - mx);
  double lse = mx + log(sum);
  for (int i = 0; i < c->V; i++)
    c->lp[i] = (double)logits[i] - lse;
}

static int32_t
argmax_f(const float *v, int n)
{
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best])
      best = i;
  return best;
}

static double
rng_uniform(ctx *c)
{
  c->rng ^= c->rng >> 12;
  c->rng ^= c->rng << 25;
  c->rng ^= c->rng >> 27;
  return (double)((c->rng * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

/* Samples from softmax(logits / t). */
static int32_t
sample(ctx *c, const float *logits, float t)
{
  double mx = -INFINITY, sum = 0;
  for (int i = 0; i < c->V; i++)
    if (logits[i] > mx)
      mx = logits[i];
  for (int i = 0; i < c->V; i++)
    sum += exp(((double)logits[i] - mx) / t);
  double u = rng_uniform(c) * sum, acc = 0;
  int32_t last_ok = 0;
  for (int i = 0; i < c->V; i++) {
    double e = exp(((double)logits[i] - mx) / t);
    if (e > 0)
      last_ok = i;
    acc += e;
    if (acc >= u && e > 0)
      return i;
  }
  return last_ok;
}

/* ---- one decode of a window at one temperature ---------------------------- */

typedef struct {
  int32_t *tokens; /* text and timestamp tokens, no eot */
  int n;
  double sum_logprob;
  float avg_logprob, no_speech_prob, temperature, compression_ratio;
  char *text;
} decode_result;

static void
decode_result_clear(decode_result *r)
{
  free(r->tokens);
  free(r->text);
  memset(r, 0, sizeof *r);
}

static int
aborted(ctx *c)
{
  return c->p->should_abort && c->p->should_abort(c->p->user_data);
}

/* Decodes the current window (already encoded) from `init` (n_init tokens,
 * sot at sot_index) at temperature t. */
static int
decode_window(ctx *c, const int32_t *init, int n_init, int sot_index, float t, decode_result *out)
{
  memset(out, 0, sizeof *out);
  const aud_tokenizer_specials *sp = c->sp;
  int eot = sp->eot;
  int beam = t == 0 ? (c->p->beam_size > 1 ? c->p->beam_size : 1) : 1;
  int groups = t == 0 ? beam : (c->p->best_of > 1 ? c->p->best_of : 1);
  if (groups > c->n_seq / 2 && beam > 1) /* what fits the model's slots; greedy with one */
    groups = beam = c->n_seq / 2 > 1 ? c->n_seq / 2 : 1;
  if (groups > c->n_seq)
    groups = c->n_seq;
  if (groups > MAX_BEAMS)
    groups = MAX_BEAMS;
  if (beam > MAX_BEAMS)
    beam = MAX_BEAMS;
  int max_candidates = beam > 1 ? (int)lround(beam * (c->p->patience > 0 ? c->p->patience : 1.0f)) : 0;
  if (max_candidates < 1)
    max_candidates = 1;
  if (max_candidates > 3 * MAX_BEAMS)
    max_candidates = 3 * MAX_BEAMS; /* fin[] also takes the live beams at the end */
  int sample_len = c->n_text_ctx / 2;

  /* Prefill: logits at the sot position (no-speech probability) and at the last. */
  int rows[2] = { sot_index, n_init - 1 };
  int n_rows = sot_index == n_init - 1 ? 1 : 2;
  if (aud_whisper_decode(c->w, 0, init, n_init, 0, rows, n_rows, c->logits) != 0)
    return fail(c, KERN_E_DEVICE, "%s", aud_whisper_errmsg(c->w));
  if (sp->no_speech >= 0) {
    const float *l = c->logits;
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < c->V; i++)
      mx = fmax(mx, l[i]);
    for (int i = 0; i < c->V; i++)
      sum += exp((double)l[i] - mx);
    out->no_speech_prob = (float)(exp((double)l[sp->no_speech] - mx) / sum);
  }
  float *first = c->logits + (size_t)(n_rows - 1) * (size_t)c->V;

  hyp live[2 * MAX_BEAMS], fin[4 * MAX_BEAMS];
  memset(live, 0, sizeof live);
  memset(fin, 0, sizeof fin);
  int n_live = groups, n_fin = 0, rc = 0;
  /* Every hypothesis starts from the prefill; beams live in slots [0, n_seq/2)
   * and [n_seq/2, n_seq) alternately so reordering never overwrites a source. */
  for (int g = 0; g < n_live; g++) {
    live[g].seq = g;
    if (g > 0 && aud_whisper_seq_copy(c->w, g, 0, n_init) != 0)
      return fail(c, KERN_E_DEVICE, "%s", aud_whisper_errmsg(c->w));
  }
  for (int step = 0; step < sample_len && n_init + step < c->n_text_ctx; step++) {
    if (aborted(c)) {
      rc = KERN_E_ABORTED;
      break;
    }
    if (step > 0) {
      /* Run the decoder on each unfinished hypothesis's last token. */
      int seqs[2 * MAX_BEAMS], past[2 * MAX_BEAMS], idx[2 * MAX_BEAMS], n = 0;
      int32_t toks[2 * MAX_BEAMS];
      for (int k = 0; k < n_live; k++) {
        if (live[k].n > 0 && live[k].tokens[live[k].n - 1] == eot)
          continue;
        seqs[n] = live[k].seq, past[n] = n_init + live[k].n - 1, toks[n] = live[k].tokens[live[k].n - 1], idx[n] = k;
        n++;
      }
      if (n == 0)
        break;
      if (aud_whisper_decode_batch(c->w, n, seqs, toks, past, c->logits) != 0) {
        rc = fail(c, KERN_E_DEVICE, "%s", aud_whisper_errmsg(c->w));
        break;
      }
      /* Spread rows back by hypothesis index (finished ones keep stale rows, unused). */
      for (int i = n - 1; i >= 0; i--)
        if (idx[i] != i)
          memcpy(c->logits + (size_t)idx[i] * c->V, c->logits + (size_t)i * c->V, (size_t)c->V * sizeof(float));
    } else {
      for (int k = 0; k < n_live; k++)
        memcpy(c->logits + (size_t)k * c->V, first, (size_t)c->V * sizeof(float));
    }

    if (beam <= 1) {
      /* Greedy (t == 0) or sampling (t > 0), each hypothesis on its own. */
      int done = 1;
      for (int k = 0; k < n_live; k++) {
        hyp *h = &live[k];
        if (h->n > 0 && h->tokens[h->n - 1] == eot)
          continue;
        float *l = c->logits + (size_t)k * c->V;
        apply_filters(c, l, h);
        log_softmax(c, l);
        int32_t next = t == 0 ? argmax_f(l, c->V) : sample(c, l, t);
        h->sum_logprob += c->lp[next];
        if ((rc = hyp_push(h, next)))
          break;
        if (next != eot)
          done = 0;
      }
      if (rc || done)
        break;
      continue;
    }

    /* Beam search: the beam+1 best continuations of each beam, ranked together. */
    typedef struct {
      double score;
      int src;
      int32_t token;
    } cand;
    cand cands[MAX_BEAMS * (MAX_BEAMS + 1)];
    int n_cand = 0;
    for (int k = 0; k < (step == 0 ? 1 : n_live); k++) { /* at step 0 every beam is the same */
      float *l = c->logits + (size_t)k * c->V;
      apply_filters(c, l, &live[k]);
      log_softmax(c, l);
      /* The beam+1 likeliest tokens, in one pass (ties: lower id first). */
      int32_t top[MAX_BEAMS + 1];
      int n_top = 0;
      for (int32_t i = 0; i < c->V; i++) {
        if (!isfinite(c->lp[i]) || (n_top == beam + 1 && c->lp[i] <= c->lp[top[n_top - 1]]))
          continue;
        int at = n_top < beam + 1 ? n_top++ : beam;
        while (at > 0 && c->lp[top[at - 1]] < c->lp[i]) {
          top[at] = top[at - 1];
          at--;
        }
        top[at] = i;
      }
      for (int j = 0; j < n_top; j++)
        cands[n_cand++] = (cand){ live[k].sum_logprob + c->lp[top[j]], k, top[j] };
    }
    /* Stable sort by score, descending (candidates from earlier beams first on ties). */
    for (int i = 1; i < n_cand; i++)
      for (int j = i; j > 0 && cands[j].score > cands[j - 1].score; j--) {
        cand tmp = cands[j];
        cands[j] = cands[j - 1];
        cands[j - 1] = tmp;
      }
    hyp next[2 * MAX_BEAMS];
    memset(next, 0, sizeof next);
    int n_next = 0;
    int base = (step % 2 == 0) ? c->n_seq / 2 : 0; /* the other half of the slots */
    for (int i = 0; i < n_cand && n_next < beam && !rc; i++) {
      const hyp *src = &live[cands[i].src];
      if (cands[i].token == eot) {
        if (n_fin < max_candidates) {
          if (!(rc = hyp_copy(&fin[n_fin], src)) && !(rc = hyp_push(&fin[n_fin], eot)))
            fin[n_fin++].sum_logprob = cands[i].score;
        }
        continue;
      }
      hyp *h = &next[n_next];
      if ((rc = hyp_copy(h, src)) || (rc = hyp_push(h, cands[i].token)))
        break;
      h->sum_logprob = cands[i].score;
      h->seq = base + n_next;
      if (aud_whisper_seq_copy(c->w, h->seq, src->seq, n_init + src->n) != 0)
        rc = fail(c, KERN_E_DEVICE, "%s", aud_whisper_errmsg(c->w));
      n_next++;
    }
    for (int k = 0; k < n_live; k++)
      free(live[k].tokens);
    memcpy(live, next, sizeof next);
    n_live = n_next;
    if (rc || n_fin >= max_candidates || n_live == 0)
      break;
  }

  if (!rc && beam > 1) {
    /* Not enough finished: the live beams count too, best first. */
    for (int k = 0; k < n_live && n_fin < beam; k++) {
      if ((rc = hyp_copy(&fin[n_fin], &live[k])))
        break;
      n_fin++;
    }
  } else if (!rc) {
    for (int k = 0; k < n_live; k++)
      if ((rc = hyp_copy(&fin[n_fin++], &live[k])))
        break;
  }
  /* Rank by sum of log-probabilities over length (no length penalty). */
  int best = -1;
  double best_score = -INFINITY;
  for (int i = 0; i < n_fin && !rc; i++) {
    int len = fin[i].n;
    while (len > 0 && fin[i].tokens[len - 1] == eot)
      len--;
    double score = fin[i].sum_logprob / (len > 0 ? len : 1);
    if (best < 0 || score > best_score)
      best = i, best_score = score;
  }
  if (!rc && best >= 0) {
    hyp *h = &fin[best];
    int len = 0;
    while (len < h->n && h->tokens[len] != eot)
      len++;
    out->tokens = malloc((size_t)(len > 0 ? len : 1) * sizeof *out->tokens);
    out->text = malloc((size_t)len * 8 + 64);
    if (!out->tokens || !out->text)
      rc = fail(c, KERN_E_NOMEM, "out of memory");
    else {
      memcpy(out->tokens, h->tokens, (size_t)len * sizeof *out->tokens);
      out->n = len;
      out->sum_logprob = h->sum_logprob;
      out->avg_logprob = (float)(h->sum_logprob / (len + 1));
      out->temperature = t;
      size_t tl = 0;
      int32_t *text_tokens = malloc((size_t)(len > 0 ? len : 1) * sizeof *text_tokens);
      int nt = 0;
      for (int i = 0; text_tokens && i < len; i++)
        if (h->tokens[i] < eot)
          text_tokens[nt++] = h->tokens[i];
      aud_tokenizer_decode(c->tok, text_tokens, (size_t)nt, AUD_TOK_DECODE_UTF8, out->text, (size_t)len * 8 + 64, &tl);
      free(text_tokens);
      out->compression_ratio = aud_compression_ratio(out->text);
    }
  }
  for (int k = 0; k < n_live; k++)
    free(live[k].tokens);
  for (int k = 0; k < 4 * MAX_BEAMS; k++)
    free(fin[k].tokens);
  if (rc)
    decode_result_clear(out);
  return rc;
}

/* decode_with_fallback: temperature 0, then higher until the result passes. */
static int
decode_with_fallback(ctx *c, const int32_t *init, int n_init, int sot_index, decode_result *out)
{
  const aud_transcribe_params *p = c->p;
  int n_t = p->n_temperatures > 0 ? p->n_temperatures : 1;
  memset(out, 0, sizeof *out);
  for (int i = 0; i < n_t; i++) {
    float t = p->n_temperatures > 0 ? p->temperatures[i] : 0.0f;
    decode_result_clear(out);
    int rc = decode_window(c, init, n_init, sot_index, t, out);
    if (rc)
      return rc;
    int needs_fallback = 0;
    if (p->compression_ratio_threshold > 0 && out->compression_ratio > p->compression_ratio_threshold)
      needs_fallback = 1; /* too repetitive */
    if (p->logprob_threshold > -1e9f && out->avg_logprob < p->logprob_threshold)
      needs_fallback = 1; /* too unlikely */
    if (p->no_speech_threshold < 1 && out->no_speech_prob > p->no_speech_threshold &&
        p->logprob_threshold > -1e9f && out->avg_logprob < p->logprob_threshold)
      needs_fallback = 0; /* silence: no point retrying (it will be skipped) */
    if (!needs_fallback)
      break;
  }
  return 0;
}

/* ---- audio source: a streaming decoder or memory ------------------------ */

typedef struct {
  aud_decoder *dec;
  const float *mem;
  size_t mem_n, mem_pos;
  float *buf;          /* samples [buf_start, buf_start + buf_len) */
  size_t buf_start, buf_len, buf_cap;
  int eof;
} source;

/* Makes the buffer hold [from, to) or up to the end of the audio. */
static int
source_fill(ctx *c, source *s, size_t from, size_t to)
{
  if (from > s->buf_start) { /* drop what is no longer needed */
    size_t drop = from - s->buf_start;
    if (drop > s->buf_len)
      drop = s->buf_len;
    memmove(s->buf, s->buf + drop, (s->buf_len - drop) * sizeof *s->buf);
    s->buf_len -= drop;
    s->buf_start += drop;
  }
  while (!s->eof && s->buf_start + s->buf_len < to) {
    size_t want = to - (s->buf_start + s->buf_len);
    if (s->buf_len + want > s->buf_cap) {
      size_t cap = s->buf_len + want + SAMPLE_RATE;
      float *b = realloc(s->buf, cap * sizeof *b);
      if (!b)
        return fail(c, KERN_E_NOMEM, "out of memory");
      s->buf = b;
      s->buf_cap = cap;
    }
    size_t got = 0;
    if (s->dec) {
      if (aud_decoder_read(s->dec, s->buf + s->buf_len, want, &got) != 0)
        return fail(c, KERN_E_IO, "%s", aud_decoder_errmsg(s->dec));
    } else {
      got = s->mem_n - s->mem_pos < want ? s->mem_n - s->mem_pos : want;
      memcpy(s->buf + s->buf_len, s->mem + s->mem_pos, got * sizeof *s->buf);
      s->mem_pos += got;
    }
    if (got == 0)
      s->eof = 1;
    s->buf_len += got;
  }
  return 0;
}

/* ---- the long-form loop ------------------------------------------------- */

/* A segment of the window, its times clamped to the audio the window holds
 * (`limit`): timestamps the model puts in the padding past the end of the
 * file describe nothing, and such a segment is dropped. */
static int
emit_segment(ctx *c, aud_transcript *out, double start, double end, double limit, const int32_t *tokens, int n,
             const decode_result *r)
{
  if (start >= limit)
    return 0;
  if (end > limit)
    end = limit;
  int32_t *text_tokens = malloc((size_t)(n > 0 ? n : 1) * sizeof *text_tokens);
  char *text = malloc((size_t)n * 8 + 64);
  if (!text_tokens || !text) {
    free(text_tokens), free(text);
    return fail(c, KERN_E_NOMEM, "out of memory");
  }
  int nt = 0;
  for (int i = 0; i < n; i++)
    if (tokens[i] < c->sp->eot)
      text_tokens[nt++] = tokens[i];
  size_t len = 0;
  aud_tokenizer_decode(c->tok, text_tokens, (size_t)nt, AUD_TOK_DECODE_UTF8, text, (size_t)n * 8 + 64, &len);
  int blank = 1;
  for (const char *q = text; *q && blank; q++)
    blank = *q == ' ' || *q == '\t' || *q == '\n';
  int rc = 0;
  /* Instantaneous or empty segments carry nothing (the reference blanks them). */
  if (!(start == end || blank)) {
    aud_segment seg = {
      .start = start, .end = end, .text = text, .tokens = text_tokens, .n_tokens = nt,
      .avg_logprob = r->avg_logprob, .no_speech_prob = r->no_speech_prob, .temperature = r->temperature,
      .compression_ratio = r->compression_ratio,
    };
    rc = aud_transcript_add(out, &seg);
    if (rc)
      fail(c, rc, "out of memory");
  }
  free(text_tokens), free(text);
  return rc;
}

static int
run(aud_whisper *w, const aud_tokenizer *tok, source *src, double duration, const aud_transcribe_params *p,
    aud_transcript *out, char *errbuf, size_t errsz)
{
  ctx c = { .w = w, .tok = tok, .p = p };
  c.sp = aud_tokenizer_get_specials(tok);
  const aud_whisper_hparams *hp = aud_whisper_get_hparams(w);
  c.V = hp->n_vocab;
  c.n_text_ctx = hp->n_text_ctx;
  c.n_seq = aud_whisper_get_n_seq(w);
  c.rng = p->seed ? p->seed : 0x5eed;
  int rc = 0;
  aud_mel *mel_ctx = NULL;
  float *mel = NULL;
  int32_t *all_tokens = NULL, *init = NULL;
  int n_all = 0, cap_all = 0;
  char *merr = NULL;

  if (aud_tokenizer_n_vocab(tok) != c.V) {
    rc = fail(&c, KERN_E_FORMAT, "the tokenizer has %d tokens, the model %d", aud_tokenizer_n_vocab(tok), c.V);
    goto out;
  }
  c.logits = malloc((size_t)MAX_BEAMS * 2 * (size_t)c.V * sizeof *c.logits);
  c.lp = malloc((size_t)c.V * sizeof *c.lp);
  mel = malloc((size_t)N_FRAMES * (size_t)hp->n_mels * sizeof *mel);
  init = malloc((size_t)c.n_text_ctx * sizeof *init);
  c.blank = malloc(16 * sizeof *c.blank);
  if (!c.logits || !c.lp || !mel || !init || !c.blank) {
    rc = fail(&c, KERN_E_NOMEM, "out of memory");
    goto out;
  }
  if (aud_tokenizer_encode(tok, " ", c.blank, 15, &c.n_blank) != 0)
    c.n_blank = 0;
  c.blank[c.n_blank++] = c.sp->eot;
  c.suppress = aud_tokenizer_suppress_tokens(tok, &c.n_suppress);
  const float *filters = aud_whisper_mel_filters(w);
  mel_ctx = aud_mel_new(hp->n_mels, filters, &merr);
  if (!mel_ctx) {
    rc = fail(&c, KERN_E_INVAL, "%s", merr ? merr : "mel");
    goto out;
  }

  /* Language and task. */
  char lang[16] = "en";
  int detect = aud_tokenizer_is_multilingual(tok) && (!p->language || !strcmp(p->language, "auto"));
  if (aud_tokenizer_is_multilingual(tok) && !detect) {
    int32_t id = aud_tokenizer_language_id(tok, p->language);
    const char *code = id >= 0 ? aud_tokenizer_language_code(tok, id) : NULL;
    if (!code) {
      rc = fail(&c, KERN_E_INVAL, "unknown language '%s'", p->language);
      goto out;
    }
    snprintf(lang, sizeof lang, "%s", code);
  }

  /* The initial prompt joins the token history. */
  if (p->initial_prompt && p->initial_prompt[0]) {
    size_t need = 0;
    char *text = malloc(strlen(p->initial_prompt) + 2);
    if (!text) {
      rc = fail(&c, KERN_E_NOMEM, "out of memory");
      goto out;
    }
    /* " " + prompt.strip(), as the reference encodes it */
    const char *s = p->initial_prompt;
    while (*s == ' ' || *s == '\n' || *s == '\t')
      s++;
    snprintf(text, strlen(p->initial_prompt) + 2, " %s", s);
    for (size_t l = strlen(text); l > 1 && (text[l - 1] == ' ' || text[l - 1] == '\n' || text[l - 1] == '\t'); l--)
      text[l - 1] = '\0';
    aud_tokenizer_encode(tok, text, NULL, 0, &need);
    all_tokens = malloc((need + 1) * sizeof *all_tokens);
    if (!all_tokens || aud_tokenizer_encode(tok, text, all_tokens, need, &need) != 0) {
      free(text);
      rc = fail(&c, KERN_E_NOMEM, "out of memory");
      goto out;
    }
    n_all = cap_all = (int)need;
    free(text);
  }
  int prompt_reset_since = 0;
  double last_speech = 0; /* end of the last word spoken, for the word heuristics */

  size_t seek = 0; /* in frames */
  int n_windows = 0;
  for (;;) {
    if (p->max_windows > 0 && n_windows >= p->max_windows)
      break;
    if (aborted(&c)) {
      rc = KERN_E_ABORTED;
      break;
    }
    size_t seek_sample = seek * HOP;
    size_t keep_from = seek_sample > 400 ? (seek_sample - 400) / HOP * HOP : 0;
    if ((rc = source_fill(&c, src, keep_from < src->buf_start ? src->buf_start : keep_from,
                          seek_sample + N_SAMPLES + 800)))
      break;
    size_t buf_end = src->buf_start + src->buf_len;
    if (seek_sample + HOP > buf_end && src->eof)
      break; /* no whole frame of audio left */
    size_t n_content = 0;
    size_t frame_in_buf = (seek_sample - src->buf_start) / HOP;
    /* The buffer starts at a frame boundary at or before seek minus context. */
    if (aud_mel_compute_window(mel_ctx, src->buf, src->buf_len, frame_in_buf, AUD_MEL_PAD_REFERENCE, mel,
                               &n_content) != 0) {
      rc = fail(&c, KERN_E_INVAL, "%s", aud_mel_errmsg(mel_ctx));
      break;
    }
    if (!src->eof && n_content > N_FRAMES)
      n_content = N_FRAMES;
    if (n_content == 0)
      break;
    size_t segment_size = n_content;
    double time_offset = (double)seek * HOP / SAMPLE_RATE;
    double segment_duration = (double)segment_size * HOP / SAMPLE_RATE;

    int n_encode = N_FRAMES;
    if (p->short_window_pad_s > 0 && src->eof && n_content < N_FRAMES) {
      double want = (double)n_content + (double)p->short_window_pad_s * SAMPLE_RATE / HOP;
      n_encode = want >= N_FRAMES ? N_FRAMES : ((int)ceil(want) + 1) / 2 * 2;
    }
    if (aud_whisper_encode(w, mel, n_encode) != 0) {
      rc = fail(&c, KERN_E_DEVICE, "%s", aud_whisper_errmsg(w));
      break;
    }
    n_windows++;
    if (detect) {
      /* Language detection on the first window: the likeliest language token after sot. */
      int32_t sot = c.sp->sot;
      if (aud_whisper_decode(w, 0, &sot, 1, 0, NULL, 0, c.logits) != 0) {
        rc = fail(&c, KERN_E_DEVICE, "%s", aud_whisper_errmsg(w));
        break;
      }
      int32_t best = c.sp->lang_begin;
      for (int32_t i = c.sp->lang_begin; i < c.sp->lang_begin + c.sp->n_languages; i++)
        if (c.logits[i] > c.logits[best])
          best = i;
      const char *code = aud_tokenizer_language_code(tok, best);
      snprintf(lang, sizeof lang, "%s", code ? code : "en");
      detect = 0;
    }
    snprintf(out->language, sizeof out->language, "%s", lang);

    /* Initial tokens: [sot_prev, prompt...] + sot sequence (+ no_timestamps). */
    int n_init = 0, sot_index = 0;
    int max_prompt = c.n_text_ctx / 2 - 1;
    int prompt_n = n_all - prompt_reset_since;
    if (prompt_n > max_prompt)
      prompt_n = max_prompt;
    if (prompt_n > 0 && c.sp->sot_prev >= 0) {
      init[n_init++] = c.sp->sot_prev;
      memcpy(init + n_init, all_tokens + n_all - prompt_n, (size_t)prompt_n * sizeof *init);
      n_init += prompt_n;
    }
    sot_index = n_init;
    int32_t sotseq[3];
    int ns = aud_tokenizer_sot_sequence(tok, aud_tokenizer_is_multilingual(tok) ? lang : NULL, p->translate, sotseq);
    if (ns < 0) {
      rc = fail(&c, KERN_E_INVAL, "cannot build the start of transcript for '%s'", lang);
      break;
    }
    memcpy(init + n_init, sotseq, (size_t)ns * sizeof *init);
    n_init += ns;
    if (p->without_timestamps && c.sp->no_timestamps >= 0)
      init[n_init++] = c.sp->no_timestamps;

    decode_result r;
    if ((rc = decode_with_fallback(&c, init, n_init, sot_index, &r)))
      break;

    int skip = p->no_speech_threshold < 1 && r.no_speech_prob > p->no_speech_threshold;
    if (skip && p->logprob_threshold > -1e9f && r.avg_logprob > p->logprob_threshold)
      skip = 0; /* confident text despite the no-speech probability */
    if (skip) {
      decode_result_clear(&r);
      seek += segment_size;
      goto progress;
    }

    int tb = c.sp->timestamp_begin;
    const int32_t *tk = r.tokens;
    int n = r.n;
    int single_ending = n >= 2 && tk[n - 2] < tb && tk[n - 1] >= tb;
    int n_before = out->n_segments;
    /* Slices between consecutive timestamp pairs. */
    int slices[512], n_slices = 0;
    for (int i = 1; i < n && n_slices < 511; i++)
      if (tk[i - 1] >= tb && tk[i] >= tb)
        slices[n_slices++] = i;
    if (n_slices > 0) {
      if (single_ending)
        slices[n_slices++] = n;
      int last = 0;
      for (int s = 0; s < n_slices && !rc; s++) {
        const int32_t *st = tk + last;
        int sn = slices[s] - last;
        double start = time_offset + (st[0] - tb) * TIME_PRECISION;
        double end = time_offset + (st[sn - 1] - tb) * TIME_PRECISION;
        rc = emit_segment(&c, out, start, end, time_offset + segment_duration, st, sn, &r);
        last = slices[s];
      }
      if (single_ending)
        seek += segment_size;
      else
        seek += (size_t)(tk[last - 1] - tb) * INPUT_STRIDE;
    } else {
      double dur = segment_duration;
      int32_t last_ts = -1;
      for (int i = 0; i < n; i++)
        if (tk[i] >= tb)
          last_ts = tk[i];
      if (last_ts >= 0 && last_ts != tb)
        dur = (last_ts - tb) * TIME_PRECISION;
      rc = emit_segment(&c, out, time_offset, time_offset + dur, time_offset + segment_duration, tk, n, &r);
      seek += segment_size;
    }
    /* The window's tokens become the next prompt (all of them, timestamps included). */
    if (!rc && out->n_segments > n_before) {
      if (n_all + n > cap_all) {
        int cap = (n_all + n) * 2 + 64;
        int32_t *a = realloc(all_tokens, (size_t)cap * sizeof *a);
        if (!a)
          rc = fail(&c, KERN_E_NOMEM, "out of memory");
        else
          all_tokens = a, cap_all = cap;
      }
      if (!rc) {
        memcpy(all_tokens + n_all, tk, (size_t)n * sizeof *tk);
        n_all += n;
      }
    }
    if (!rc && p->word_timestamps && out->n_segments > n_before) {
      char aerr[512] = "";
      rc = _aud_align_words(w, tok, sotseq, ns, lang, out->segments + n_before, out->n_segments - n_before,
                            time_offset, (int)segment_size, &last_speech, aerr, sizeof aerr);
      if (rc)
        fail(&c, rc, "%s", aerr);
      /* Resume after the last word rather than the last timestamp token. */
      double last_word_end = -1;
      for (int i = out->n_segments - 1; i >= n_before && last_word_end < 0; i--)
        if (out->segments[i].n_words > 0)
          last_word_end = out->segments[i].words[out->segments[i].n_words - 1].end;
      if (!rc && !single_ending && last_word_end > time_offset)
        seek = (size_t)llround(last_word_end * SAMPLE_RATE / HOP);
    }
    for (int i = n_before; !rc && p->on_segment && i < out->n_segments; i++)
      p->on_segment(&out->segments[i], p->user_data);
    if (!p->condition_on_previous_text || r.temperature > 0.5f)
      prompt_reset_since = n_all;
    decode_result_clear(&r);
    if (rc)
      break;
  progress:
    if (p->on_progress)
      p->on_progress((double)seek * HOP / SAMPLE_RATE, duration, p->user_data);
  }
  out->duration = src->eof ? (double)(src->buf_start + src->buf_len) / SAMPLE_RATE : duration;

out:
  if (rc && errbuf)
    snprintf(errbuf, errsz, "%s", c.err[0] ? c.err : kern_strerror(rc));
  free(merr);
  aud_mel_free(mel_ctx);
  free(mel), free(init), free(all_tokens), free(c.logits), free(c.lp), free(c.blank);
  return rc;
}

static char *
make_err(const char *path, const char *msg)
{
  size_t n = strlen(path) + strlen(msg) + 4;
  char *e = malloc(n);
  if (e)
    snprintf(e, n, "%s: %s", path, msg);
  return e;
}

int
aud_transcribe_samples(aud_whisper *w, const aud_tokenizer *tok, const float *samples, size_t n,
                       const aud_transcribe_params *p, aud_transcript *out, char **err)
{
  aud_transcribe_params def = aud_transcribe_default_params();
  source s = { .mem = samples, .mem_n = n };
  char msg[1024] = "";
  int rc = run(w, tok, &s, (double)n / SAMPLE_RATE, p ? p : &def, out, msg, sizeof msg);
  free(s.buf);
  if (rc && err)
    *err = make_err("audio", msg);
  return rc;
}

int
aud_transcribe_file(aud_whisper *w, const aud_tokenizer *tok, const char *path, const aud_transcribe_params *p,
                    aud_transcript *out, char **err)
{
  aud_transcribe_params def = aud_transcribe_default_params();
  aud_decode_params dp = aud_decode_default_params();
  char *derr = NULL;
  aud_decoder *d = aud_decoder_open(path, &dp, &derr);
  if (!d) {
    if (err)
      *err = derr;
    else
      free(derr);
    return KERN_E_IO;
  }
  source s = { .dec = d };
  char msg[1024] = "";
  const aud_transcribe_params *pp = p ? p : &def;
  int rc = run(w, tok, &s, aud_decoder_duration(d), pp, out, msg, sizeof msg);
  const char *warning = aud_decoder_warning(d);
  if (warning && pp->on_warning)
    pp->on_warning(warning, pp->user_data);
  free(s.buf);
  aud_decoder_close(d);
  if (rc && err)
    *err = make_err(path, msg);
  return rc;
}

int
aud_detect_language(aud_whisper *w, const aud_tokenizer *tok, const float *mel, char *code, float *prob, char **err)
{
  const aud_tokenizer_specials *sp = aud_tokenizer_get_specials(tok);
  int V = aud_whisper_get_hparams(w)->n_vocab;
  if (!aud_tokenizer_is_multilingual(tok)) {
    if (err)
      *err = strdup("an English-only model has no language to detect");
    return KERN_E_INVAL;
  }
  float *logits = malloc((size_t)V * sizeof *logits);
  int32_t sot = sp->sot;
  if (!logits || aud_whisper_encode(w, mel, N_FRAMES) != 0 || aud_whisper_decode(w, 0, &sot, 1, 0, NULL, 0, logits) != 0) {
    if (err)
      *err = strdup(logits ? aud_whisper_errmsg(w) : "out of memory");
    free(logits);
    return KERN_E_DEVICE;
  }
  double mx = -INFINITY, sum = 0;
  int32_t best = sp->lang_begin;
  for (int32_t i = sp->lang_begin; i < sp->lang_begin + sp->n_languages; i++) {
    mx = fmax(mx, logits[i]);
    if (logits[i] > logits[best])
      best = i;
  }
  for (int32_t i = sp->lang_begin; i < sp->lang_begin + sp->n_languages; i++)
    sum += exp((double)logits[i] - mx);
  if (prob)
    *prob = (float)(exp((double)logits[best] - mx) / sum);
  const char *c = aud_tokenizer_language_code(tok, best);
  snprintf(code, 8, "%s", c ? c : "");
  free(logits);
  return 0;
}
